"""pipeline.site: what goes into the static site, and what a failed build leaves behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.site import MARKER, NODE_MODULES, VENDOR_FILES, build_site
from tests.conftest import models_dir_under_test

MODELS_DIR = models_dir_under_test("WEB_TEST_MODELS_DIR")
needs_node_modules = pytest.mark.skipif(not NODE_MODULES.is_dir(), reason="run `npm ci` first")


def write_model(folder: Path, name: str = "tiny") -> Path:
    """A fake published model: one tfjs artifact and one keras artifact that must not be copied."""
    model = folder / name
    (model / "tfjs" / "float32").mkdir(parents=True)
    (model / "keras").mkdir()
    (model / "tfjs" / "float32" / "model.json").write_text("{}")
    (model / "tfjs" / "float32" / "group1-shard1of1.bin").write_bytes(b"\0" * 8)
    (model / "keras" / "model.keras").write_bytes(b"big")
    (model / "labels.txt").write_text("".join(f"{i}\n" for i in range(10)))

    def artifact(artifact_id, fmt, paths):
        files = [
            {
                "path": p,
                "bytes": (model / p).stat().st_size,
                "sha256": hashlib.sha256((model / p).read_bytes()).hexdigest(),
            }
            for p in paths
        ]
        return {
            "id": artifact_id,
            "format": fmt,
            "variant": "float32",
            "path": paths[0],
            "bytes": sum(f["bytes"] for f in files),
            "sha256": files[0]["sha256"],
            "files": files,
            "verification": {"accuracy": 0.5},
        }

    manifest = {
        "schema_version": 1,
        "model": name,
        "labels": "labels.txt",
        "labels_sha256": hashlib.sha256((model / "labels.txt").read_bytes()).hexdigest(),
        "input": {"shape": [None, 28, 28]},
        "output": {"shape": [None, 10]},
        "evaluation": {},
        "artifacts": [
            artifact("tfjs-float32", "tfjs", ["tfjs/float32/model.json", "tfjs/float32/group1-shard1of1.bin"]),
            artifact("keras", "keras", ["keras/model.keras"]),
        ],
    }
    (model / "manifest.json").write_text(json.dumps(manifest))
    (folder / "index.json").write_text(json.dumps({"schema_version": 1, "default": name, "models": [name]}))
    return folder


@needs_node_modules
def test_site_holds_the_page_tfjs_and_only_tfjs_artifacts(tmp_path):
    out = build_site(tmp_path / "site", write_model(tmp_path / "models"))
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "index.js", "model.js", "ui.js", "preprocess.js", "style.css"} <= files
    assert {f"vendor/{name}" for name in VENDOR_FILES.values()} <= files
    assert {
        "models/index.json",
        "models/tiny/manifest.json",
        "models/tiny/labels.txt",
        "models/tiny/tfjs/float32/model.json",
        "models/tiny/tfjs/float32/group1-shard1of1.bin",
    } <= files
    assert not any("keras" in f for f in files)


@needs_node_modules
def test_repo_models_build(tmp_path):
    if not (MODELS_DIR / "index.json").is_file():
        pytest.skip(f"no exported models in {MODELS_DIR}")
    out = build_site(tmp_path / "site", MODELS_DIR)
    size = sum(p.stat().st_size for p in (out / "models").rglob("*") if p.is_file())
    assert size < 10_000_000, "only TF.js artifacts belong in the site"


def test_missing_node_modules_says_npm_ci(tmp_path):
    with pytest.raises(PipelineError, match="npm ci"):
        build_site(tmp_path / "site", write_model(tmp_path / "models"), node_modules=tmp_path / "nowhere")
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["models"], "no temporary folder left behind"


@needs_node_modules
def test_a_failed_rebuild_leaves_the_previous_site(tmp_path):
    models = write_model(tmp_path / "models")
    out = build_site(tmp_path / "site", models)
    (models / "tiny" / "tfjs" / "float32" / "group1-shard1of1.bin").write_bytes(b"\0" * 3)
    with pytest.raises(PipelineError, match="group1-shard1of1.bin is damaged"):
        build_site(out, models)
    assert (out / "models" / "tiny" / "tfjs" / "float32" / "group1-shard1of1.bin").stat().st_size == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "site"]


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(PipelineError, match="was not written by"):
        build_site(tmp_path, write_model(tmp_path / "models"))
    assert (tmp_path / "precious.txt").exists()


@needs_node_modules
def test_rebuild_replaces_its_own_site(tmp_path):
    models = write_model(tmp_path / "models")
    out = build_site(tmp_path / "site", models)
    (out / "stale.txt").write_text("from an older build")
    build_site(out, models)
    assert (out / MARKER).exists() and not (out / "stale.txt").exists()


def test_missing_models_index(tmp_path):
    with pytest.raises(PipelineError, match="index.json does not exist"):
        build_site(tmp_path / "site", tmp_path / "empty")
