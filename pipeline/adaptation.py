"""The on-device adaptation kit, exported next to each base model: what a page or a phone needs to teach it.

The blend (pipeline/blend.py) needs, for every drawing, the model's normalised features and its probabilities,
plus the MNIST replay features (the gate's "nearest MNIST digit"). The kit is:
- `adaptation/tfjs/model.json`: a TF.js graph model, image [N,28,28] -> adaptation [N, D+10]
  (the first D numbers: L2-normalised features of layer FEATURE_LAYER; the last 10: the probabilities);
- `adaptation/<model>-adaptation.tflite`: the same for LiteRT (phones);
- `adaptation/replay.f32`: the replay features, float32 little-endian [R, D], labels in the manifest.
Each is verified in its own runtime against Keras (float32: within 1e-4 on 1,000 test images) and listed
in the manifest's `adaptation` section (pipeline/manifest.py) with sha256 and sizes; a failure
publishes nothing.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from pipeline import blend
from pipeline.errors import PipelineError
from pipeline.files import sha256_file
from pipeline.manifest import adaptation_section, artifact_entry, describe_files
from pipeline.models import NUM_CLASSES

FOLDER = "adaptation"
OUTPUT_NAME = "adaptation"
VERIFY_IMAGES = 1000
MAX_DIFF = 1e-4


def adaptation_model(base):
    """The published model with one output: [normalised features, probabilities] side by side."""
    import keras
    from keras import layers

    image = keras.Input((28, 28), name="image")
    raw_features, probabilities = blend.feature_model(base)(image)
    features = layers.UnitNormalization(name="features")(layers.Flatten(name="features_flat")(raw_features))
    output = layers.Concatenate(name=OUTPUT_NAME, dtype="float32")([features, probabilities])
    return keras.Model(image, output, name="adaptation")


def saved_model(model, target: Path) -> None:
    from pipeline.formats.savedmodel import INPUT_NAME, SIGNATURE
    from pipeline.tf_setup import import_tensorflow

    tf = import_tensorflow()
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE,
        fn=lambda image: {OUTPUT_NAME: model(image, training=False)},
        input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name=INPUT_NAME)],
    )
    archive.write_out(str(target), verbose=False)


def verification(runtime: str, outputs: np.ndarray, reference: np.ndarray) -> dict:
    diff = float(np.abs(outputs - reference).max()) if outputs.shape == reference.shape else float("inf")
    figures = {"runtime": runtime, "images": int(len(reference)), "max_abs_diff": diff, "passed": diff <= MAX_DIFF}
    if not figures["passed"]:
        raise PipelineError(
            f"the adaptation kit in {runtime} differs from Keras by {diff:.2e} "
            f"(> {MAX_DIFF:.0e}); nothing was published."
        )
    return figures


def export_adaptation(base, model_name: str, staging: Path, images: np.ndarray, verbose: bool = True) -> dict:
    """Write and verify the kit under staging/adaptation; return the manifest's `adaptation` section."""
    from pipeline.formats import tfjs, tflite
    from pipeline.formats.savedmodel import SIGNATURE
    from pipeline.tf_setup import import_tensorflow, quiet_environment, silenced

    started = time.perf_counter()
    model = adaptation_model(base)
    folder = staging / FOLDER
    folder.mkdir()
    scratch = staging / ".adaptation-saved-model"  # converted from, not shipped
    sample = images[:VERIFY_IMAGES]
    reference = np.asarray(model.predict(sample, batch_size=500, verbose=0))
    try:
        saved_model(model, scratch)
        quiet_environment()
        tf = import_tensorflow()
        from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

        with silenced(1, 2):
            convert_tf_saved_model(str(scratch), str(folder / "tfjs"), signature_def=SIGNATURE)
            flatbuffer = tf.lite.TFLiteConverter.from_saved_model(str(scratch)).convert()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tflite_path = folder / f"{model_name}-adaptation.tflite"
    tflite_path.write_bytes(flatbuffer)

    replay_images, replay_labels = blend.replay_images()
    replay = np.asarray(model.predict(replay_images, batch_size=500, verbose=0))[:, :-NUM_CLASSES]
    replay_path = folder / "replay.f32"
    np.ascontiguousarray(replay, dtype="<f4").tofile(replay_path)

    tfjs_entry = folder / "tfjs" / "model.json"
    artifacts = [
        artifact_entry(
            staging,
            "adaptation-tfjs",
            "tfjs",
            tfjs_entry,
            whole_folder=True,
            verification=verification("TF.js (Node, wasm)", tfjs.predict(tfjs_entry, sample), reference),
        ),
        artifact_entry(
            staging,
            "adaptation-tflite",
            "tflite",
            tflite_path,
            whole_folder=False,
            verification=verification(
                "LiteRT", tflite.predict(tflite.LiteRTModel(tflite_path, output=OUTPUT_NAME), sample), reference
            ),
        ),
    ]
    if verbose:
        print(
            f"  adaptation kit     exported and verified in {time.perf_counter() - started:5.1f} s "
            f"(TF.js, LiteRT, {len(replay)} replay features)",
            flush=True,
        )
    replay_record = {
        "path": replay_path.relative_to(staging).as_posix(),
        "shape": list(replay.shape),
        "labels": [int(label) for label in replay_labels],
        "sha256": sha256_file(replay_path),
        **describe_files(staging, [replay_path]),
    }
    return adaptation_section(OUTPUT_NAME, replay.shape[1], NUM_CLASSES, artifacts, replay_record)
