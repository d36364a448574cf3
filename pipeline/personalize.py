"""`personalize`: teach a published model a person's handwriting from a few examples, then publish it
like any model (export → verify → publish to exported_models/<model>-personal).

The blend itself (features, prototypes, gate, the baked Keras model) is pipeline/blend.py's.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pipeline.blend import (
    SUFFIX,
    feature_model,
    features_and_probabilities,
    fit_adapter,
    held_out_accuracy,
    personal_model,
    replay_images,
    shifted_copies,
)
from pipeline.errors import PipelineError
from pipeline.manifest import FILE_NAME as MANIFEST
from pipeline.manifest import load_manifest, method_record


def adapt(base, images: np.ndarray, labels: np.ndarray, name: str):
    """(personal Keras model, its Adapter, the held-out figures) for `images` taught on `base`."""
    extractor = feature_model(base)
    copies = shifted_copies(np.asarray(images, np.float32))
    features, probabilities = features_and_probabilities(extractor, copies)
    replay, _ = features_and_probabilities(extractor, replay_images()[0])
    adapter = fit_adapter(features, labels, replay)
    held_out = held_out_accuracy(features, probabilities[: len(labels)], labels, replay)
    return personal_model(base, adapter, name), adapter, held_out


def personalize(
    examples_path: str | Path,
    model_name: str = "cnn",
    out_dir: str | Path = "exported_models",
    verbose: bool = True,
    signing_key: Path | None = None,
) -> dict:
    """Adapt out_dir/model_name on the examples file, then export → verify → publish out_dir/<model>-personal."""
    from pipeline.evaluate import evaluate
    from pipeline.examples_file import read_examples
    from pipeline.export import export
    from pipeline.files import sha256_file
    from pipeline.formats import keras_format

    if model_name.endswith(SUFFIX):
        raise PipelineError(f"'{model_name}' is already personalised; teach the published base model.")
    base_dir = Path(out_dir) / model_name
    base_manifest = load_manifest(base_dir)
    manifest_sha = sha256_file(base_dir / MANIFEST)
    images, labels, examples_sha = read_examples(examples_path, model_name, manifest_sha)
    base = keras_format.load(base_dir / "model.keras")
    name = model_name + SUFFIX
    model, _, held_out = adapt(base, images, labels, name)
    if verbose and held_out["accuracy"] is not None:
        print(
            f"Held-out accuracy on your examples (leave-one-out, {held_out['examples']} examples): "
            f"published {held_out['published_accuracy']:.3f} → personal {held_out['accuracy']:.3f}"
        )

    build = Path(tempfile.mkdtemp(prefix="personalize-"))
    try:
        (build / name).mkdir()
        model.save(build / name / "model.keras")
        report = evaluate(name, build_dir=build, verbose=False)
        personalisation = {
            "base_model": model_name,
            "base_manifest_sha256": manifest_sha,
            "base_test_accuracy": base_manifest["evaluation"]["test_accuracy"],
            "examples_sha256": examples_sha,
            "examples": int(len(labels)),
            "examples_per_digit": {str(d): int(n) for d, n in enumerate(np.bincount(labels, minlength=10))},
            "method": method_record(),
            "style_accuracy": held_out,
            "test_accuracy": report["accuracy"],
        }
        # the personal model was trained as the base was, plus the examples: the card says both
        (build / name / "history.json").write_text(json.dumps(base_manifest.get("training", {})) + "\n")
        description = (
            f"'{model_name}' taught {len(labels)} examples of one person's handwriting "
            "(gated nearest-prototype blend over its features; see `personalisation`)."
        )
        return export(
            name,
            build_dir=build,
            out_dir=out_dir,
            verbose=verbose,
            description=description,
            extra={"personalisation": personalisation},
            signing_key=signing_key,
        )
    finally:
        shutil.rmtree(build, ignore_errors=True)
