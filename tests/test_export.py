"""Export a small trained model to every format, verify each in its runtime (Node too), publish."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.runtime import Classifier, load_manifest, manifest_problems

EXPECTED_IDS = ["keras", "savedmodel", "tfjs-float32", "tfjs-float16", "tfjs-uint8",
                "tflite-float32", "tflite-float16", "tflite-dynamic", "tflite-int8"]


def tree_digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    from pipeline.evaluate import evaluate
    from pipeline.train import train

    build = tmp_path_factory.mktemp("build")
    train("article", out_dir=build, epochs=2, train_subset=6000, verbose=0)
    evaluate("article", build_dir=build, verbose=False)
    return build


@pytest.fixture(scope="module")
def published(small_build, tmp_path_factory):
    from pipeline.export import export

    out = tmp_path_factory.mktemp("exported")
    export("article", build_dir=small_build, out_dir=out, verbose=False)
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
    recipe = manifest["training"]["recipe"]   # how it was trained, every setting
    assert recipe["epochs"] == 2 and recipe["batch_size"] == 32 and recipe["calibration_count"] == 500


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
    assert set(manifest["versions"]) >= {"tensorflow", "keras", "tensorflowjs", "ai-edge-litert",
                                         "@tensorflow/tfjs"}
    for plot in manifest["plots"].values():
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "tflite-int8" in card and "Intended use and limits" in card
    assert json.loads((published / "index.json").read_text())["models"] == ["article"]
    assert not [p for p in published.iterdir() if p.name.startswith(".")]  # no staging debris


def test_litert_and_keras_runtimes_agree_on_real_digits(published, mnist):
    images = mnist[1][0][:200].astype(np.float32) / 255
    litert = Classifier(published / "article", "litert").predict(images)
    keras = Classifier(published / "article", "keras").predict(images)
    assert np.max(np.abs(litert - keras)) < 1e-4


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
        published, small_build, tmp_path, monkeypatch):
    from pipeline import verify
    from pipeline.export import export

    out = tmp_path / "exported"
    shutil.copytree(published, out)
    before = tree_digest(out)
    monkeypatch.setattr(verify, "FLOAT32_MAX_DIFF", -1.0)  # no float32 artifact can pass now
    with pytest.raises(PipelineError, match=r"verification failed, nothing was published:(.|\n)*"
                                            r"tflite-float32 .* FAIL: max diff"):
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

    def recording_run_node(*args, **kwargs):   # where TF.js verification writes its arrays
        scratch_folders.append(Path(tempfile.gettempdir()))
        return run_node(*args, **kwargs)

    monkeypatch.setattr(tfjs, "run_node", recording_run_node)
    export("article", build_dir=small_build, out_dir=out, verbose=False)
    assert not (out / "article" / "stray-file.txt").exists()
    assert load_manifest(out / "article")["artifacts"][0]["verification"]["passed"]
    # scratch lived inside the staging folder (a kill leaves it there, not in /tmp), and is gone
    assert scratch_folders and all(folder.parent.parent == out and folder.parent.name.startswith(
        ".article.staging-") for folder in scratch_folders), scratch_folders
    assert Path(tempfile.gettempdir()) != scratch_folders[0]
    assert not list(out.rglob(".scratch"))
