"""TFLite flatbuffers for phones, run by LiteRT (`ai-edge-litert`), the runtime Android and iOS ship.

Four variants: float32; float16 weights; dynamic-range int8 weights; full-integer int8 calibrated
on training images. Every variant keeps float32 input and output, so one preprocessing feeds all.
Every file carries TFLite metadata (labels.txt, the input contract, a description; see
tflite_metadata.py) and the signature `serving_default` (`image` -> `probabilities`), through which
it is run, so the names a phone app uses are the ones verified here.
Loading and predicting need only numpy and LiteRT, never TensorFlow.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.formats import latency_of, predict_with

NAME = "tflite"
VARIANTS = ("float32", "float16", "dynamic", "int8")
RUNTIME = "LiteRT (ai-edge-litert), 1 thread"
MULTI_FILE = False  # the artifact is one file
SERVING_RUNTIME = "litert"
SERVING_LABEL = "LiteRT"
IN_BROWSER = False
FIX = "run `make run` to export it again"
SIGNATURE, INPUT_NAME, OUTPUT_NAME = "serving_default", "image", "probabilities"


def export(source, variant: str, out_dir: Path) -> Path:
    from pipeline.tf_setup import import_tensorflow, silenced

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source.saved_model_dir))
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        calibration = source.calibration_images  # the recipe's calibration_count images
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif variant != "float32":
        raise PipelineError(f"Unknown TFLite variant {variant!r}; choose one of: {', '.join(VARIANTS)}.")
    target = out_dir / "tflite" / f"{source.model_name}-{variant}.tflite"
    target.parent.mkdir(parents=True, exist_ok=True)
    with silenced(1, 2):  # the converter's C++ notices
        flatbuffer = converter.convert()
    from pipeline.formats import tflite_metadata
    from pipeline.provenance import git_commit

    contract = (
        tflite_metadata.Contract()
        if source.contract is None
        else tflite_metadata.contract_for(source.contract, len(source.labels))
    )
    target.write_bytes(
        tflite_metadata.embed(
            flatbuffer,
            name=f"{source.model_name}-{variant}",
            labels="".join(f"{label}\n" for label in source.labels),
            description=f"{source.description} TFLite {variant} variant: {VARIANT_NOTES[variant]}",
            version=f"git {git_commit()}",
            contract=contract,
        )
    )
    return target


VARIANT_NOTES = {
    "float32": "float32 weights and arithmetic.",
    "float16": "float16 weights, float32 arithmetic.",
    "dynamic": "int8 weights, activations quantised on the fly.",
    "int8": "full-integer int8 inside, float32 input and output.",
}


XNNPACK_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def without_start_up_notice():
    """LiteRT's C++ side prints XNNPACK_NOTICE once per process, at the first allocation, where the
    CLI hides start-up noise: it is dropped, while anything else LiteRT prints (an error) still shows."""
    from pipeline.tf_setup import native_notices_dropped

    return native_notices_dropped(XNNPACK_NOTICE)


class LiteRTModel:
    """One LiteRT interpreter behind a lock: interpreters are not thread-safe, apps share this one.

    The input and output are found through the `serving_default` signature by name, as Android's
    and iOS's signature runners find them, so a file whose signature was lost or renamed fails
    verification. Tensors are then set directly, resized only when the batch size changes (the
    runner's own call resizes and reallocates on every call: +0.1 ms on the CNN); a test holds the
    runner's call and this path to the same answers.
    """

    def __init__(self, path: Path, num_threads: int = 1, output: str = OUTPUT_NAME):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        with without_start_up_notice():
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        signatures = self._interpreter.get_signature_list()
        if signatures.get(SIGNATURE) != {"inputs": [INPUT_NAME], "outputs": [output]}:
            raise PipelineError(
                f"{path} has no signature {SIGNATURE!r} taking {INPUT_NAME!r} and giving "
                f"{output!r} (it has {signatures}); {FIX}."
            )
        runner = self._interpreter.get_signature_runner(SIGNATURE)
        self._input = runner.get_input_details()[INPUT_NAME]["index"]
        self._output = runner.get_output_details()[output]["index"]
        self._batch: int | None = None
        self._lock = threading.Lock()

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        with self._lock:
            if self._batch != len(images):
                self._interpreter.resize_tensor_input(self._input, list(images.shape))
                with without_start_up_notice():  # the XNNPACK delegate is applied here
                    self._interpreter.allocate_tensors()
                self._batch = len(images)
            self._interpreter.set_tensor(self._input, images)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()


def load(path: Path, variant: str | None = None) -> LiteRTModel:
    return LiteRTModel(path)


predict, latency_ms = predict_with, latency_of
