"""Export a small trained model to every format, verify each in its runtime (Node too), publish."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.manifest import load_manifest, manifest_problems
from pipeline.runtime import Classifier
from tests.conftest import REPO_ROOT, raw_interpreter_predict, tflite_paths, tree_digest

EXPECTED_IDS = [
    "keras",
    "savedmodel",
    "tfjs-float32",
    "tfjs-float16",
    "tfjs-uint8",
    "tflite-float32",
    "tflite-float16",
    "tflite-dynamic",
    "tflite-int8",
    "onnx-float32",
    "onnx-int8",
]


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    from pipeline.evaluate import evaluate
    from pipeline.train import train

    build = tmp_path_factory.mktemp("build")
    train("article", out_dir=build, epochs=2, train_subset=6000, verbose=0)
    evaluate("article", build_dir=build, verbose=False)
    return build


@pytest.fixture(scope="module")
def published(small_build, tmp_path_factory, signing_keys):
    """The export, signed with a throw-away key as `export --signing-key` does."""
    from pipeline.export import export

    out = tmp_path_factory.mktemp("exported")
    export("article", build_dir=small_build, out_dir=out, verbose=False, signing_key=signing_keys[0][0])
    return out


def test_every_format_is_exported_and_verified(published):
    manifest = load_manifest(published / "article")
    assert manifest_problems(manifest) == []
    assert [a["id"] for a in manifest["artifacts"]] == EXPECTED_IDS
    for artifact in manifest["artifacts"]:
        figures = artifact["verification"]
        assert figures["passed"] and figures["images"] == 10000, artifact["id"]
        assert figures["accuracy"] > 0.8
        if artifact["variant"] == "float32":
            assert figures["agreement"] == 1.0 and figures["max_abs_diff"] <= 1e-4
    runtimes = {a["format"]: a["verification"]["runtime"] for a in manifest["artifacts"]}
    assert "Node" in runtimes["tfjs"] and "LiteRT" in runtimes["tflite"]
    assert "ONNX Runtime" in runtimes["onnx"]
    recipe = manifest["training"]["recipe"]  # how it was trained, every setting
    assert recipe["epochs"] == 2 and recipe["batch_size"] == 32 and recipe["calibration_count"] == 500


def test_the_export_is_signed_and_the_upstream_verifier_accepts_it(published, signing_keys):
    import model_signing

    folder = published / "article"
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=signing_keys[0][1]).verify(
        folder, folder / "model.sig"
    )
    assert Classifier(folder, "onnx", public_key=signing_keys[0][1]).signature.startswith("signed and verified")


def test_onnx_graph_has_the_named_contract(published):
    import onnx

    for variant in ("float32", "int8"):
        model = onnx.load(str(published / "article" / "onnx" / f"article-{variant}.onnx"))
        shapes = {
            value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in (*model.graph.input, *model.graph.output)
        }
        assert shapes == {"image": ["batch", 28, 28], "probabilities": ["batch", 10]}, variant
        assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17


def test_onnx_runtime_agrees_with_keras_on_all_test_images(published, small_build, mnist):
    """Checked here with onnxruntime and keras directly, not through the pipeline's own figures."""
    import keras
    import onnxruntime

    images, labels = mnist[1][0].astype(np.float32) / 255, mnist[1][1]
    reference = keras.saving.load_model(small_build / "article" / "model.keras").predict(
        images, batch_size=1000, verbose=0
    )
    results = {}
    for variant in ("float32", "int8"):
        session = onnxruntime.InferenceSession(
            str(published / "article" / "onnx" / f"article-{variant}.onnx"), providers=["CPUExecutionProvider"]
        )
        results[variant] = session.run(["probabilities"], {"image": images})[0]
    assert results["float32"].shape == (10000, 10)
    assert np.max(np.abs(results["float32"] - reference)) <= 1e-4
    assert np.array_equal(results["float32"].argmax(axis=1), reference.argmax(axis=1))
    keras_accuracy = np.mean(reference.argmax(axis=1) == labels)
    assert keras_accuracy - np.mean(results["int8"].argmax(axis=1) == labels) <= 0.002


def test_onnx_path_imports_neither_tensorflow_nor_litert(published, tmp_path, mnist):
    from PIL import Image

    path = tmp_path / "seven.png"
    Image.fromarray(mnist[1][0][0]).save(path)
    code = (
        "import sys; from pipeline.cli import main; "
        "main(['predict', sys.argv[1], '--json', '--runtime', 'onnx', '--variant', 'int8', "
        "'--model-dir', sys.argv[2]]); "
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'tensorflow', 'keras', 'ai_edge_litert'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(published / "article")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[0])
    assert answer["digit"] == 7 and answer["runtime"] == "onnx" and answer["variant"] == "int8"
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_manifest_describes_every_file_truthfully(published):
    folder = published / "article"
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = set()
    for artifact in manifest["artifacts"]:
        assert (folder / artifact["path"]).is_file()
        assert artifact["bytes"] == sum(f["bytes"] for f in artifact["files"])
        for file in artifact["files"]:
            data = (folder / file["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == file["sha256"] and len(data) == file["bytes"]
            listed.add(file["path"])
        assert artifact["path"] in listed
    assert (folder / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    assert manifest["input"]["shape"] == [None, 28, 28] and manifest["output"]["shape"] == [None, 10]
    assert set(manifest["versions"]) >= {
        "tensorflow",
        "keras",
        "tensorflowjs",
        "ai-edge-litert",
        "@tensorflow/tfjs",
    }
    for plot in manifest["plots"].values():
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "tflite-int8" in card and "Intended use and limits" in card
    assert json.loads((published / "index.json").read_text())["models"] == ["article"]
    assert not [p for p in published.iterdir() if p.name.startswith(".")]  # no staging debris


def test_litert_and_keras_runtimes_agree_on_real_digits(published, mnist):
    images = mnist[1][0][:200].astype(np.float32) / 255
    keras = Classifier(published / "article", "keras").predict(images)
    for runtime in ("litert", "onnx"):
        answers = Classifier(published / "article", runtime).predict(images)
        assert np.max(np.abs(answers - keras)) < 1e-4, runtime


def test_damaged_or_missing_files_are_refused(published, tmp_path):
    copy = tmp_path / "article"
    shutil.copytree(published / "article", copy)
    tflite = copy / "tflite" / "article-float32.tflite"
    blob = bytearray(tflite.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    tflite.write_bytes(bytes(blob))
    with pytest.raises(PipelineError, match=r"article-float32.tflite is damaged: its sha256"):
        Classifier(copy, "litert")
    (copy / "model.keras").unlink()
    with pytest.raises(PipelineError, match=r"model.keras is missing; run `make run`"):
        Classifier(copy, "keras")
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(PipelineError, match="manifest.json is damaged"):
        load_manifest(copy)
    (copy / "manifest.json").write_text(json.dumps({"schema_version": 1, "model": "x"}))
    with pytest.raises(PipelineError, match="not a valid manifest"):
        load_manifest(copy)


def test_failed_verification_publishes_nothing_and_keeps_the_old_export(
    published, small_build, tmp_path, monkeypatch
):
    from pipeline import verify
    from pipeline.export import export

    out = tmp_path / "exported"
    shutil.copytree(published, out)
    before = tree_digest(out)
    monkeypatch.setattr(verify, "FLOAT32_MAX_DIFF", -1.0)  # no float32 artifact can pass now
    with pytest.raises(
        PipelineError,
        match=r"verification failed, nothing was published:(.|\n)*"
        r"tflite-float32 .* FAIL: max diff",
    ):
        export("article", build_dir=small_build, out_dir=out, verbose=False)
    assert tree_digest(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_republishing_replaces_the_export_whole(published, small_build, tmp_path, monkeypatch):
    import tempfile

    from pipeline.export import export
    from pipeline.formats import tfjs

    out = tmp_path / "exported"
    shutil.copytree(published, out)
    (out / "article" / "stray-file.txt").write_text("left by hand")
    scratch_folders = []
    run_node = tfjs.run_node

    def recording_run_node(*args, **kwargs):  # where TF.js verification writes its arrays
        scratch_folders.append(Path(tempfile.gettempdir()))
        return run_node(*args, **kwargs)

    monkeypatch.setattr(tfjs, "run_node", recording_run_node)
    export("article", build_dir=small_build, out_dir=out, verbose=False)
    assert not (out / "article" / "stray-file.txt").exists()
    assert load_manifest(out / "article")["artifacts"][0]["verification"]["passed"]
    # scratch lived inside the staging folder (a kill leaves it there, not in /tmp), and is gone
    assert scratch_folders and all(
        folder.parent.parent == out and folder.parent.name.startswith(".article.staging-")
        for folder in scratch_folders
    ), scratch_folders
    assert Path(tempfile.gettempdir()) != scratch_folders[0]
    assert not list(out.rglob(".scratch"))


def test_onnx_export_of_the_cnn_agrees_with_keras_on_all_test_images(tmp_path, mnist):
    """The BN CNN (the model the apps serve), from the committed model.keras through the format
    modules: SavedModel -> ONNX float32 within the float32 tolerance, int8 within 0.2 points."""
    from dataclasses import replace

    from pipeline.export import calibration_images
    from pipeline.formats import ExportSource, format_module
    from tests.conftest import EXPORTED_MODELS

    keras_module, saved, onnx_module = (format_module(n) for n in ("keras", "savedmodel", "onnx"))
    model = keras_module.load(EXPORTED_MODELS / "cnn" / "model.keras")
    source = ExportSource(
        model=model,
        model_name="cnn",
        keras_path=EXPORTED_MODELS / "cnn" / "model.keras",
        calibration_images=calibration_images(500),
    )
    source = replace(source, exported={"savedmodel": saved.export(source, "float32", tmp_path)})
    source = replace(source, exported={**source.exported, "onnx": onnx_module.export(source, "float32", tmp_path)})
    int8 = onnx_module.export(source, "int8", tmp_path)
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".")]  # no scratch left

    images, labels = mnist[1][0].astype(np.float32) / 255, mnist[1][1]
    reference = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    float32 = onnx_module.predict(onnx_module.load(source.exported["onnx"]), images)
    assert np.max(np.abs(float32 - reference)) <= 1e-4
    assert np.array_equal(float32.argmax(axis=1), reference.argmax(axis=1))
    quantized = onnx_module.predict(onnx_module.load(int8), images)
    assert (np.mean(reference.argmax(axis=1) == labels) - np.mean(quantized.argmax(axis=1) == labels)) <= 0.002


def test_every_tflite_runs_through_serving_default_like_the_raw_interpreter(published, mnist):
    from ai_edge_litert.interpreter import Interpreter

    images = mnist[1][0][:64].astype(np.float32) / 255
    paths = tflite_paths(published / "article")
    assert len(paths) == 4
    for path in paths:
        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        by_name = runner(image=images)["probabilities"]
        np.testing.assert_array_equal(by_name, raw_interpreter_predict(path, images), err_msg=path.name)


def test_every_tflite_carries_its_labels_and_input_contract(published):
    from pipeline.formats import tflite_metadata

    labels = (published / "article" / "labels.txt").read_text().splitlines()
    for path in tflite_paths(published / "article"):
        described = tflite_metadata.read(path.read_bytes())  # the file alone, nothing beside it
        assert described["labels"] == labels == [str(d) for d in range(10)], path.name
        assert described["name"] == path.stem and "softmax" in described["description"].lower()
        (image,), (probabilities,) = described["inputs"], described["outputs"]
        assert image["name"] == "image" and (image["min"], image["max"]) == ([0.0], [1.0])
        assert "[batch, 28, 28]" in image["description"] and "white ink on black" in image["description"]
        assert "centre of mass" in image["description"]
        assert probabilities["name"] == "probabilities"
        assert probabilities["associated_files"] == ["labels.txt"]


def test_manifest_recommends_the_smallest_variant_of_each_format(published):
    manifest = load_manifest(published / "article")
    for fmt in ("tfjs", "tflite", "onnx"):
        group = [a for a in manifest["artifacts"] if a["format"] == fmt]
        smallest = min(group, key=lambda a: a["bytes"])
        assert manifest["recommended"][fmt] == smallest["variant"]
    assert set(manifest["recommended"]) == {"tfjs", "tflite", "onnx"}  # the formats with variants


def test_tflite_support_reads_the_metadata_as_its_own_populator_would_write_it(published):
    """Cross-check with tflite-support's own reader and its native min-version rule, where its
    native helper loads (it links libusb: `apt-get install libusb-1.0-0`)."""
    try:
        from tensorflow_lite_support.metadata.cc.python import _pywrap_metadata_version
        from tensorflow_lite_support.metadata.python import metadata
    except ImportError as exc:
        pytest.skip(f"tflite-support's native metadata helper does not load here ({exc})")
    from pipeline.formats import tflite_metadata

    for path in tflite_paths(published / "article"):
        displayer = metadata.MetadataDisplayer.with_model_buffer(path.read_bytes())
        assert displayer.get_packed_associated_file_list() == ["labels.txt"]
        assert displayer.get_associated_file_buffer("labels.txt") == b"".join(f"{d}\n".encode() for d in range(10))
        described = json.loads(displayer.get_metadata_json())
        assert described["subgraph_metadata"][0]["input_tensor_metadata"][0]["name"] == "image"
        assert described["min_parser_version"] == _pywrap_metadata_version.GetMinimumMetadataParserVersion(
            tflite_metadata._metadata_buffer("a", "b", "c")
        )


def test_a_tflite_without_its_signature_is_refused(published, tmp_path):
    """Verification finds the tensors by the signature's names: a file without them fails."""
    from pipeline.formats import tflite
    from pipeline.formats.tflite_metadata import TFLITE_FILE_IDENTIFIER, _packed, _schemas

    _, schema = _schemas()
    source = tflite_paths(published / "article")[0]
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(source.read_bytes(), 0))
    model.signatureDefs = []
    unsigned = tmp_path / "unsigned.tflite"
    unsigned.write_bytes(_packed(model, TFLITE_FILE_IDENTIFIER))
    with pytest.raises(PipelineError, match="has no signature 'serving_default' taking 'image'"):
        tflite.load(unsigned)
    np.testing.assert_array_equal(  # the same graph still runs by index
        raw_interpreter_predict(unsigned, np.zeros((1, 28, 28), np.float32)),
        tflite.load(source).predict(np.zeros((1, 28, 28), np.float32)),
    )
