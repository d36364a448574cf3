"""TF.js graph models for the browser, converted from the SavedModel, verified with TF.js in Node.

Keras 3 cannot go to a TF.js *layers* model that TF.js 4.22 loads: the converter writes Keras 3
config keys and the loader refuses them ("An InputLayer should be passed either a batchInputShape or
an inputShape"; tfjs issues 8229, 8266, 8328). So the route is SavedModel -> tensorflowjs_converter
-> graph model, in three variants: float32 and float16/uint8 quantised weights. `tfjs_predict.mjs`
beside this file runs a model in Node for `predict`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pipeline import REPO_ROOT
from pipeline.errors import PipelineError

NAME = "tfjs"
VARIANTS = ("float32", "float16", "uint8")
RUNTIME = "@tensorflow/tfjs in Node (wasm backend)"
MULTI_FILE = True  # the entry file's folder is the artifact
SERVING_RUNTIME = None  # served by the static page, in the browser
SERVING_LABEL = "TF.js"
IN_BROWSER = True
NODE_SCRIPT = Path(__file__).with_name("tfjs_predict.mjs")
QUANTIZATION = {"float32": None, "float16": {"float16": True}, "uint8": {"uint8": True}}  # True: all weights


def export(source, variant: str, out_dir: Path) -> Path:
    from pipeline.formats.savedmodel import SIGNATURE
    from pipeline.tf_setup import import_tensorflow, quiet_environment, silenced

    quiet_environment()
    import_tensorflow()
    # in-process rather than the tensorflowjs_converter CLI: saves ~8 s of imports per variant
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    target = out_dir / "tfjs" / variant
    with silenced(1, 2):  # grappler's C++ notices
        convert_tf_saved_model(
            str(source.saved_model_dir),
            str(target),
            signature_def=SIGNATURE,
            quantization_dtype_map=QUANTIZATION[variant],
        )
    return target / "model.json"


def node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise PipelineError("Node.js is not installed: TF.js models are verified with it.")
    if not (REPO_ROOT / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        raise PipelineError("TF.js is not installed for Node: run `npm ci` in the repository root.")
    return [node, str(NODE_SCRIPT)]


def load(path: Path, variant: str | None = None) -> Path:
    """Node loads the model in `predict`; here we only check it is there."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"TF.js model {path} is missing.")
    return path


def run_node(model_json: Path, images: np.ndarray, latency_repeats: int = 0) -> tuple[np.ndarray, dict]:
    """Predict `images` with TF.js in Node; returns (probabilities, report).

    With `latency_repeats`, the report holds latency_ms (median, batch 1), latency_p99_ms and
    throughput_per_s (all `images` in one batch).
    """
    with tempfile.TemporaryDirectory(prefix="tfjs-") as tmp:
        inputs, outputs = Path(tmp) / "images.f32", Path(tmp) / "probabilities.f32"
        np.ascontiguousarray(images, dtype="<f4").tofile(inputs)
        result = subprocess.run(
            [
                *node_command(),
                str(Path(model_json).resolve()),
                str(inputs),
                str(len(images)),
                str(outputs),
                str(latency_repeats),
                ",".join(str(n) for n in images.shape[1:]),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            # Node ends with its version ("Node.js v20.20.2"): the error is the last line naming one
            errors = [line for line in lines if "Error" in line] or lines or ["no output"]
            raise PipelineError(f"TF.js in Node could not run {model_json}: {errors[-1]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        probabilities = np.fromfile(outputs, dtype="<f4").reshape(len(images), -1)
    return probabilities, report


def predict(model_json: Path, images: np.ndarray) -> np.ndarray:
    return run_node(model_json, images)[0]


def latency_ms(model_json: Path, image: np.ndarray) -> float:
    return run_node(model_json, image[None], latency_repeats=200)[1]["latency_ms"]
