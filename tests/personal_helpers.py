"""Shared by the personalisation browser tests: a models folder whose cnn has the adaptation kit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def models_with_kit(out: Path, cnn_dir: Path) -> Path:
    """Copy the published cnn to `out`; add the adaptation kit if its export predates it."""
    shutil.copytree(cnn_dir, out / "cnn")
    manifest = json.loads((out / "cnn" / "manifest.json").read_text())
    if "adaptation" not in manifest:  # as `export` adds it since personalisation exists
        from pipeline.adaptation import export_adaptation
        from pipeline.evaluate import mnist_test_set
        from pipeline.formats.keras_format import load as load_keras_model
        from pipeline.publish import write_json_atomic

        base = load_keras_model(out / "cnn" / "model.keras")
        manifest["adaptation"] = export_adaptation(base, "cnn", out / "cnn", mnist_test_set()[0], verbose=False)
        write_json_atomic(out / "cnn" / "manifest.json", manifest)
    (out / "index.json").write_text(json.dumps({"schema_version": 1, "default": "cnn", "models": ["cnn"]}))
    return out
