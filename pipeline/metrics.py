"""Classification figures from predicted probabilities: plain numpy, usable by every runtime."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """matrix[true, predicted] = count."""
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def summarise(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, cross-entropy loss, per-class precision and recall, confusion matrix."""
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, probabilities.shape[1])
    true_positives = np.diag(matrix).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(true_positives / matrix.sum(axis=0))
        recall = np.nan_to_num(true_positives / matrix.sum(axis=1))
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return {
        "images": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)),
        "loss": loss,
        "errors": int(np.sum(predicted != labels)),
        "per_class": {
            str(c): {"precision": float(precision[c]), "recall": float(recall[c]), "support": int(matrix[c].sum())}
            for c in range(len(matrix))
        },
        "confusion_matrix": matrix.tolist(),
    }


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """How closely `candidate` probabilities follow `reference` (the Keras model's)."""
    return {
        "agreement": float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1))),
        "max_abs_diff": float(np.max(np.abs(reference.astype(np.float64) - candidate))),
    }
