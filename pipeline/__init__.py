"""Train MNIST models with Keras, export them to every runtime, prove each export agrees."""

from pathlib import Path

__version__ = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent  # where exported_models/ and node_modules/ live


def export_model(keras_model, data, name: str, **options) -> dict:
    """Export, verify and publish your own Keras image classifier, for notebooks: `pipeline.own_model.
    export_model` (its docstring lists the options and errors), loaded on first call so that `import
    pipeline` stays light; by name, as the format registry loads its modules, so that this package's
    `__init__` imports none of its modules."""
    import importlib

    return importlib.import_module("pipeline.own_model").export_model(keras_model, data, name, **options)
