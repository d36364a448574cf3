"""Signed model folders: every way of tampering with one is refused, in one sentence that names the
signature, before any file of the folder is read; an intact one predicts.

The folders are copies of the committed `article` export, signed here with throw-away P-256 keys
(tests/conftest.py); verification is the real `model_signing` library, the refusals go through the
real command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import cli, signing
from pipeline.errors import PipelineError
from pipeline.runtime import Classifier
from tests.conftest import EXPORTED_MODELS, REPO_ROOT

SOURCE = EXPORTED_MODELS / "article"


@pytest.fixture(scope="module")
def signed(tmp_path_factory, signing_keys):
    """A signed copy of the article export; tests copy it again before damaging it."""
    (private, _), _ = signing_keys
    folder = shutil.copytree(SOURCE, tmp_path_factory.mktemp("signed") / "article")
    (folder / signing.SIGNATURE).unlink(missing_ok=True)  # the committed one is the maintainer's
    signing.sign_folder(folder, private)
    return folder


@pytest.fixture
def copy(signed, tmp_path) -> Path:
    return shutil.copytree(signed, tmp_path / "article")


@pytest.fixture(scope="module")
def seven(tmp_path_factory, mnist) -> Path:
    path = tmp_path_factory.mktemp("digit") / "seven.png"
    Image.fromarray(mnist[1][0][0]).save(path)  # the first test digit is a 7
    return path


def flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))


def rewrite_hashes(folder: Path) -> None:
    """What someone who can write the folder does: change a model file and fix the manifest."""
    from pipeline.files import sha256_file

    tflite = folder / "tflite" / "article-float32.tflite"
    flip_byte(tflite)
    manifest = json.loads((folder / "manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        for file in artifact["files"]:
            if file["path"] == "tflite/article-float32.tflite":
                file["sha256"] = artifact["sha256"] = sha256_file(tflite)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def foreign_signature(folder: Path, keys) -> None:
    """A valid signature by the right key, but of another folder (the cnn export)."""
    (private, _), _ = keys
    other = shutil.copytree(
        EXPORTED_MODELS / "cnn", folder.parent / "cnn-copy", ignore=shutil.ignore_patterns(signing.SIGNATURE)
    )
    signing.sign_folder(other, private)
    shutil.copyfile(other / signing.SIGNATURE, folder / signing.SIGNATURE)


def resigned_by_stranger(folder: Path, keys) -> None:
    _, (stranger, _) = keys
    signing.sign_folder(folder, stranger)


TAMPERING = {  # name -> (damage, what the sentence says)
    "byte changed in a model file": (
        lambda f, k: flip_byte(f / "tflite" / "article-float32.tflite"),
        "does not match the folder's files (changed: tflite/article-float32.tflite)",
    ),
    "hashes rewritten in the manifest": (
        lambda f, k: rewrite_hashes(f),
        "does not match the folder's files (changed: manifest.json, tflite/article-float32.tflite)",
    ),
    "manifest replaced by garbage": (
        lambda f, k: (f / "manifest.json").write_text("{not json"),
        "does not match the folder's files (changed: manifest.json)",
    ),
    "file added": (
        lambda f, k: (f / "tflite" / "extra.tflite").write_bytes(b"TFL3"),
        "does not match the folder's files (added: tflite/extra.tflite)",
    ),
    "file removed": (
        lambda f, k: (f / "labels.txt").unlink(),
        "does not match the folder's files (removed: labels.txt)",
    ),
    "signature swapped for another folder's": (foreign_signature, "does not match the folder's files"),
    "signature truncated": (
        lambda f, k: (f / "model.sig").write_bytes((f / "model.sig").read_bytes()[:700]),
        "is damaged or not a signature bundle",
    ),
    "signature made with another key": (resigned_by_stranger, "was not made with the private key of"),
    "signature missing": (lambda f, k: (f / "model.sig").unlink(), "is missing and a public key"),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_tampering_is_refused_in_one_sentence_naming_the_signature(
    case, copy, seven, signing_keys, capfd, monkeypatch
):
    (_, public), _ = signing_keys
    damage, expected = TAMPERING[case]
    damage(copy, signing_keys)
    opened = []  # the runtimes must never be reached
    from pipeline.formats import keras_format, tflite

    for module in (keras_format, tflite):
        monkeypatch.setattr(module, "load", lambda *args: opened.append(args))
    capfd.readouterr()
    code = cli.main(["predict", str(seven), "--model-dir", str(copy), "--public-key", str(public)])
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: The signature {copy / 'model.sig'} {expected}"), err
    assert lines[0].endswith(": the model was not loaded."), err
    assert opened == []


def test_verification_runs_before_any_file_of_the_folder_is_read(copy, signing_keys, monkeypatch):
    """With a key, a manifest that would fail its own checks is refused by the signature first; and
    nothing of the folder is opened by our code before model_signing has hashed it."""
    (_, public), _ = signing_keys
    (copy / "manifest.json").write_text("{not json")
    reads = []
    real_verify = signing.verify_folder

    def recording_verify(folder, key):
        reads.append("verify")
        real_verify(folder, key)

    import pipeline.runtime as runtime

    real_load = runtime.load_manifest
    monkeypatch.setattr(signing, "verify_folder", recording_verify)
    monkeypatch.setattr(runtime, "load_manifest", lambda d: reads.append("manifest") or real_load(d))
    with pytest.raises(PipelineError, match=r"The signature .*model.sig does not match"):
        Classifier(copy, "litert", public_key=public)
    assert reads == ["verify"]


def test_hashes_rewritten_by_hand_fool_the_sha256_checks_but_not_the_signature(copy, signing_keys):
    (_, public), _ = signing_keys
    rewrite_hashes(copy)
    Classifier(copy, "litert")  # without a key: the manifest agrees with the changed file
    with pytest.raises(PipelineError, match="does not match the folder's files"):
        Classifier(copy, "litert", public_key=public)


@pytest.mark.parametrize("runtime", ["litert", "keras"])
def test_an_intact_signed_copy_predicts(signed, signing_keys, mnist, runtime):
    (_, public), _ = signing_keys
    classifier = Classifier(signed, runtime, public_key=public)
    assert classifier.signature == "signed and verified with signer.pub"
    images, labels = mnist[1][0][:100].astype(np.float32) / 255, mnist[1][1][:100]
    assert np.mean(classifier.predict(images).argmax(axis=1) == labels) > 0.9


def test_the_public_key_comes_from_the_environment_too(signed, copy, seven, signing_keys):
    """$MNIST_PUBLIC_KEY for the real command line; without any key, an unsigned folder still works."""
    (_, public), _ = signing_keys
    (copy / "model.sig").unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_SIGNING_KEY", "MNIST_PUBLIC_KEY")}

    def predict(folder, **extra):
        return subprocess.run(
            [sys.executable, "-m", "pipeline", "predict", str(seven), "--json", "--model-dir", str(folder)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, "PYTHONPATH": str(REPO_ROOT), **extra},
        )

    verified = predict(signed, MNIST_PUBLIC_KEY=str(public))
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["signature"] == "signed and verified with signer.pub"
    unsigned = predict(copy)
    assert unsigned.returncode == 0, unsigned.stderr
    assert json.loads(unsigned.stdout)["signature"] == "not signed"
    refused = predict(copy, MNIST_PUBLIC_KEY=str(public))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        f"error: The signature {copy / 'model.sig'} is missing and a "
        f"public key ({public}) is configured: the model was not loaded."
    )


def test_the_upstream_verifier_accepts_our_signature(signed, signing_keys):
    """model_signing's own verifier, with its own defaults, reads what `export` writes."""
    import model_signing

    (_, public), (_, stranger) = signing_keys
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        signed, signed / signing.SIGNATURE
    )
    with pytest.raises(ValueError):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=stranger).verify(
            signed, signed / signing.SIGNATURE
        )


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot be read"),
        ("public", "is not an unencrypted PEM private key"),
        ("rsa", "is not an elliptic-curve P-256, P-384 or P-521 key"),
    ],
)
def test_bad_signing_keys_are_refused_before_training(tmp_path, signing_keys, content, message):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = tmp_path / "key.pem"
    if content == "public":
        shutil.copyfile(signing_keys[0][1], key)
    elif content == "rsa":
        key.write_bytes(
            rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--model",
            "article",
            "--out",
            tmp_path / "out",
            "--signing-key",
            key,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: The signing key {key} ") and message in result.stderr
    assert "Training" not in result.stdout


@pytest.mark.parametrize("which", ["garbage", "private key", "missing"])
def test_a_bad_public_key_is_one_sentence(signed, signing_keys, tmp_path, which):
    (private, _), _ = signing_keys
    key = tmp_path / "key.pub"
    if which == "garbage":
        key.write_text("not a key\n")
    elif which == "private key":
        shutil.copyfile(private, key)
    expected = "does not exist" if which == "missing" else "is not a PEM elliptic-curve public key"
    with pytest.raises(PipelineError, match=f"^The public key {key} {expected}"):
        Classifier(signed, "litert", public_key=key)
