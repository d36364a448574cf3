"""Score a trained Keras model on the 10k MNIST test set; write evaluation.json and the plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline import metrics, plots
from pipeline.data import load_mnist, scale_pixels
from pipeline.formats import keras_format
from pipeline.plots import PLOTS


def mnist_test_set(data_dir=None):
    """The MNIST test set as the models take it: float32 [N, 28, 28] in 0..1, and uint8 labels."""
    _, (x_test, y_test) = load_mnist(data_dir)
    return scale_pixels(x_test), y_test


def evaluate(
    model_name: str, build_dir: str | Path = "build", verbose: bool = True, data_dir: str | Path | None = None
) -> dict:
    folder = Path(build_dir) / model_name
    model = keras_format.load(folder / "model.keras")
    images, labels = mnist_test_set(data_dir)
    probabilities = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    report = {"model": model_name, **metrics.summarise(labels, probabilities)}
    (folder / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")

    history_path = folder / "history.json"
    if history_path.is_file():
        plots.training_curves(
            json.loads(history_path.read_text())["history"],
            folder / PLOTS["training_curves"],
            f"{model_name}: training",
        )
    plots.confusion_matrix(
        np.array(report["confusion_matrix"]),
        folder / PLOTS["confusion_matrix"],
        f"{model_name}: confusion matrix (test set)",
    )
    plots.misclassified_grid(images, labels, probabilities, folder / PLOTS["misclassified"], model_name)
    if verbose:
        print(format_report(report))
    return report


def format_report(report: dict) -> str:
    lines = [
        f"{report['model']}: test accuracy {report['accuracy']:.4f}, loss {report['loss']:.4f} "
        f"({report['errors']} errors in {report['images']} images)",
        "digit  precision  recall",
    ]
    for digit, figures in report["per_class"].items():
        lines.append(f"  {digit}      {figures['precision']:.4f}   {figures['recall']:.4f}")
    return "\n".join(lines)
