"""Train MNIST models with Keras, export them to every runtime, prove each export agrees."""

from pathlib import Path

__version__ = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent  # where exported_models/ and node_modules/ live


def __getattr__(name: str):
    """`pipeline.export_model(...)` for notebooks (pipeline/own_model.py), imported on first use so that
    `import pipeline` stays light."""
    if name == "export_model":
        from pipeline.own_model import export_model

        return export_model
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
