"""PNG plots for the model card: training curves, confusion matrix, misclassified digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLOTS = {
    "training_curves": "training_curves.png",
    "confusion_matrix": "confusion_matrix.png",
    "misclassified": "misclassified.png",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: dict, path: Path, title: str) -> None:
    plt = _pyplot()
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        if key in history:
            loss_axis.plot(epochs, history[key], marker=".", label=label)
    for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
        if key in history:
            accuracy_axis.plot(epochs, history[key], marker=".", label=label)
    loss_axis.set(title="loss", xlabel="epoch")
    accuracy_axis.set(title="accuracy", xlabel="epoch")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def confusion_matrix(matrix: np.ndarray, path: Path, title: str, labels: list[str] | None = None) -> None:
    """matrix[true, predicted] counts as a heat map; `labels` name the classes (default: their index)."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    classes = len(matrix)
    figure, axis = plt.subplots(figsize=(max(5.6, 0.45 * classes + 1.5), max(5, 0.45 * classes + 1)))
    # log scale so the few errors show beside the thousand correct answers on the diagonal
    image = axis.imshow(np.log1p(matrix), cmap="Blues")
    for true in range(classes):
        for guess in range(classes):
            if matrix[true, guess]:
                light = np.log1p(matrix[true, guess]) > np.log1p(matrix.max()) / 2
                axis.text(
                    guess,
                    true,
                    str(matrix[true, guess]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if light else "black",
                )
    axis.set(xticks=range(classes), yticks=range(classes), xlabel="predicted", ylabel="true", title=title)
    if labels is not None:
        axis.set_xticklabels(labels, rotation=45, ha="right")
        axis.set_yticklabels(labels)
    figure.colorbar(image, ax=axis, label="log(1 + count)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def misclassified_grid(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: Path, title: str, limit: int = 40
) -> None:
    plt = _pyplot()
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    # the most confident mistakes first: the ones worth looking at
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:limit]
    columns = 10
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3 + 0.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, wrong):
        axis.imshow(images[index], cmap="gray")
        axis.set_title(
            f"{labels[index]}→{predicted[index]} ({probabilities[index, predicted[index]]:.2f})", fontsize=7
        )
    figure.suptitle(
        f"{title}: {len(wrong)} most confident errors (true→predicted)" if len(wrong) else f"{title}: no errors",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
