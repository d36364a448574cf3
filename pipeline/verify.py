"""Score every exported artifact in the runtime that will run it, against the Keras model.

Tolerances (from the product's promise):
- float32 artifacts agree with Keras on every test image, probabilities within 1e-4;
- float16 artifacts agree on at least 99.9 % of images;
- every reduced-precision artifact (float16, uint8, dynamic, int8) loses at most 0.2 points of accuracy.
"""

from __future__ import annotations

import numpy as np

from pipeline import metrics

FLOAT32_MAX_DIFF = 1e-4
FLOAT16_MIN_AGREEMENT = 0.999
MAX_ACCURACY_LOSS = 0.002


def tolerance_failures(variant: str, figures: dict, keras_accuracy: float) -> list[str]:
    failures = []
    if variant == "float32":
        if figures["agreement"] < 1.0:
            failures.append(f"agreement {figures['agreement']:.4f} < 1")
        if figures["max_abs_diff"] > FLOAT32_MAX_DIFF:
            failures.append(f"max diff {figures['max_abs_diff']:.2e} > {FLOAT32_MAX_DIFF:.0e}")
    else:
        if variant == "float16" and figures["agreement"] < FLOAT16_MIN_AGREEMENT:
            failures.append(f"agreement {figures['agreement']:.4f} < {FLOAT16_MIN_AGREEMENT}")
        loss = keras_accuracy - figures["accuracy"]
        if loss > MAX_ACCURACY_LOSS + 1e-12:
            failures.append(f"accuracy loss {loss * 100:.2f} pp > {MAX_ACCURACY_LOSS * 100:.1f} pp")
    return failures


def verify_artifact(
    module,
    path,
    variant: str,
    images: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    keras_accuracy: float,
) -> dict:
    """Load the artifact in its runtime, predict the whole test set, compare with the Keras model."""
    loaded = module.load(path, variant)
    probabilities = module.predict(loaded, images)
    figures = {
        "runtime": module.RUNTIME,
        "images": int(len(images)),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
        **metrics.compare(reference, probabilities),
        "latency_ms_batch1": round(module.latency_ms(loaded, images[0]), 4),
    }
    failures = tolerance_failures(variant, figures, keras_accuracy)
    figures["passed"] = not failures
    if failures:
        figures["failures"] = failures
    return figures


def format_table(
    model_name: str,
    rows: list[tuple[str, int, dict]],
    data_name: str = "the MNIST test set",
    left_out: list[dict] | None = None,
) -> str:
    """rows: (artifact id, bytes, verification figures); left_out: export.left_out_entry()s, one line
    each under the table (a variant dropped for its tolerance is also a row, marked FAIL)."""
    header = (
        f"{'artifact':<16} {'size':>10} {'accuracy':>9} {'agreement':>10} {'max diff':>9} {'ms/img':>7}  result"
    )
    lines = [f"Verification of '{model_name}' on {data_name}:", header, "-" * len(header)]
    for artifact_id, size, figures in rows:
        result = "ok" if figures["passed"] else "FAIL: " + "; ".join(figures["failures"])
        lines.append(
            f"{artifact_id:<16} {human_bytes(size):>10} {figures['accuracy']:>9.4f} "
            f"{figures['agreement']:>10.4f} {figures['max_abs_diff']:>9.2e} "
            f"{figures['latency_ms_batch1']:>7.3f}  {result}"
        )
    for entry in left_out or []:
        lines.append(f"{entry['id']:<16} not published ({entry['stage']}): {entry['reason']}")
    return "\n".join(lines)


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"
