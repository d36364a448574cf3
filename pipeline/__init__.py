"""Train MNIST models with Keras, export them to every runtime, prove each export agrees."""

from pathlib import Path

__version__ = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent  # where exported_models/ and node_modules/ live
