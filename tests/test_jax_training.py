"""`train` under KERAS_BACKEND=jax on a machine without TensorFlow, and the export of what it wrote.

The subprocess hides TensorFlow (an import hook refuses it), as on a GPU machine that has JAX only;
the export then runs here, under TensorFlow, like any other export.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.manifest import load_manifest
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # a training run and a whole export: ~3 min

WITHOUT_TENSORFLOW = """
import sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "tensorflowjs"):
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, NoTensorFlow())
from pipeline.cli import main
status = main(sys.argv[1:])
assert "tensorflow" not in sys.modules
sys.exit(status)
"""


def test_cnn_trains_under_jax_without_tensorflow_and_exports(tmp_path, mnist):
    from pipeline.export import export

    build = tmp_path / "build"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_TENSORFLOW,
            "train",
            "--model",
            "cnn",
            "--epochs",
            "3",  # after 2 the served recipe's thick pens leave it at 0.87, where uint8 loses 0.22 pp
            "--train-subset",
            "12000",
            "--out",
            str(build),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "JAX" in result.stdout and "Epoch 3/3" in result.stdout
    assert "\x1b" not in result.stdout and "\r" not in result.stdout  # not a terminal: plain lines
    record = json.loads((build / "cnn" / "history.json").read_text())
    assert record["backend"] == "jax" and record["recipe"]["augmentation"] is not None
    loss = record["history"]["loss"]
    assert loss[-1] < loss[0] and record["history"]["accuracy"][-1] > 0.3  # it learns

    manifest = export("cnn", build_dir=build, out_dir=tmp_path / "exported", verbose=False)
    assert manifest["training"]["backend"] == "jax"
    # every format gives the JAX-trained model's answers (a few steps: batch norm's running
    # statistics are still young, so its test accuracy means little here)
    assert all(a["verification"]["passed"] for a in manifest["artifacts"])
    assert load_manifest(tmp_path / "exported" / "cnn")["artifacts"][0]["id"] == "keras"
