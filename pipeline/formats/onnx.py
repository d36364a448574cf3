"""ONNX for servers, phones and browsers, run by ONNX Runtime (Python, CPU).

The route is the SavedModel's `serving_default` signature -> tf2onnx, opset 17: it keeps the
signature's names, so the graph reads `image` [batch, 28, 28] float32 and writes `probabilities`
[batch, 10]. (Keras's own `export(format="onnx")` names the output `Identity:0`; both take ~2 s.)
Two variants: float32, and int8 (static QDQ quantisation by `onnxruntime.quantization`, weights per
channel, calibrated on the same training images as TFLite's int8). Loading and predicting import
only numpy and ONNX Runtime, never TensorFlow or LiteRT.

The int8 weights use 7 bits (`reduce_range`): with 8-bit weights, ONNX Runtime's u8s8 kernels on x86
CPUs without VNNI (AVX2, AVX-512F) saturate their 16-bit intermediate sums, so the same file gave other
answers there (the article model: 286 of the 10k test images changed, accuracy 0.9186 -> 0.9144 on an
AVX2 EPYC, measured against a VNNI Xeon). ONNX Runtime's quantisation docs give this remedy. The
export checks it: the int8 kernels must give the answers of the QDQ graph computed in float (ONNX
Runtime with graph optimisations off), which is what a CPU that does not saturate computes, on every
calibration image but exact ties (`TIE`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.formats import latency_of, predict_with

NAME = "onnx"
VARIANTS = ("float32", "int8")
RUNTIME = "ONNX Runtime (CPU), 1 thread"
MULTI_FILE = False  # the artifact is one file
SERVING_RUNTIME = "onnx"
SERVING_LABEL = "ONNX Runtime"
IN_BROWSER = False
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"


def export(source, variant: str, out_dir: Path) -> Path:
    if variant not in VARIANTS:
        raise PipelineError(f"Unknown ONNX variant {variant!r}; choose one of: {', '.join(VARIANTS)}.")
    target = out_dir / "onnx" / f"{source.model_name}-{variant}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    if variant == "float32":
        _convert(source.saved_model_dir, target)
    else:
        # the recipe's calibration_count images
        _quantize_int8(source.exported["onnx"], target, source.calibration_images)
    return target


def _convert(saved_model_dir: Path, target: Path) -> None:
    from pipeline.formats.savedmodel import SIGNATURE
    from pipeline.tf_setup import import_tensorflow, silenced

    import_tensorflow()
    import onnx
    from tf2onnx import convert, tf_loader

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with silenced(1, 2):  # TensorFlow's v1-API deprecation notices and grappler's C++ ones
        graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
            str(saved_model_dir), None, None, tag="serve", signatures=[SIGNATURE], return_tensors_to_rename=True
        )  # {'image:0': 'image', 'Identity:0': 'probabilities'}
        model, _ = convert.from_graph_def(
            graph_def, input_names=inputs, output_names=outputs, opset=OPSET, tensors_to_rename=renames
        )
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx names it unk__NN
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise PipelineError(f"tf2onnx wrote inputs/outputs {names}, not {INPUT_NAME} -> {OUTPUT_NAME}.")
    onnx.save(model, str(target))


def _quantize_int8(float_model: Path, target: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{INPUT_NAME: image[None]} for image in calibration])

        def get_next(self):
            return next(self._batches, None)

    # the quantiser writes scratch models to tempfile's folder: keep them in the staging folder,
    # so a killed run leaves nothing in /tmp (the staging folder goes with the next run)
    scratch = Path(tempfile.mkdtemp(prefix=".onnx-scratch-", dir=target.parent))
    previous, tempfile.tempdir = tempfile.tempdir, str(scratch)
    try:
        prepared = scratch / "prepared.onnx"
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            Calibration(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(scratch, ignore_errors=True)
    agreement = kernel_agreement(target, calibration)
    if agreement < 1.0:
        raise PipelineError(
            f"The int8 ONNX model's kernels disagree with its QDQ graph computed in float on "
            f"{1 - agreement:.1%} of the calibration images (8-bit saturation on this CPU)."
        )


# The int8 graph writes its probabilities as 8-bit steps of 1/256: two classes within two steps of
# each other in the float QDQ graph are a tie that the integer kernels' rounding may break either
# way (measured: a personalised cnn, 1 of 500 calibration images at 0.473 against 0.473, the kernels
# 1/256 apart), while saturation changes answers far from any tie (the article: 286 of 10k).
TIE = 2 / 256


def kernel_agreement(path: Path, images: np.ndarray) -> float:
    """Share of `images` ([N, 28, 28] float32) on which ONNX Runtime's int8 kernels (graph optimisations
    on, as served) pick the same class as the QDQ graph computed in float (optimisations off: each
    DequantizeLinear runs as written, no integer kernel, so no CPU-dependent saturation), or on which
    the float graph's two most likely classes are within TIE of each other."""
    import onnxruntime

    levels = onnxruntime.GraphOptimizationLevel
    kernels, graph = (
        OnnxModel(path, optimization_level=level).predict(images)
        for level in (levels.ORT_ENABLE_ALL, levels.ORT_DISABLE_ALL)
    )
    second, first = np.sort(graph, axis=1)[:, -2:].T
    return float(np.mean((kernels.argmax(axis=1) == graph.argmax(axis=1)) | (first - second <= TIE)))


class OnnxModel:
    """One ONNX Runtime session; `run` is thread-safe, so apps share it."""

    def __init__(self, path: Path, num_threads: int = 1, optimization_level=None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if optimization_level is not None:
            options.graph_optimization_level = optimization_level
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.path = Path(path)
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


def load(path: Path, variant: str | None = None) -> OnnxModel:
    return OnnxModel(path)


predict, latency_ms = predict_with, latency_of
