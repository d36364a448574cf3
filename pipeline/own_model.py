"""Export a Keras image classifier of one's own, verify every artifact on its labelled data, publish it.

`export_model("model.keras", "data/", "flowers")` (or `python -m pipeline export --keras-model ...`)
takes any Keras 3 `.keras` file with one image input ([H, W], [H, W, C] with C 1 or 3, or a flat
[H*W] of a square image) and one output [K], and a labelled data set (image_input.load_labelled). It
splits the data once (seeded): CALIBRATION_SHARE of it, at most MAX_CALIBRATION images, calibrates the
int8 variants and is never scored; the rest is what every artifact is verified on, against the Keras
model, with verify.py's tolerances. Logits or probabilities are detected; what every artifact serves is
probabilities (a Softmax appended to a logits model). The manifest's `input` is the contract every
consumer reads: shape, image size and channels, value range, resize, labels, and `recipe` "resize"
(MNIST's digit models have "mnist").

Every refusal is a PipelineError with one sentence; nothing is published then, and an earlier export
of the same name stays as it was.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import image_input, metrics, signing
from pipeline.errors import PipelineError
from pipeline.events import EventLog
from pipeline.files import sha256_file

SPLIT_SEED = 1234
CALIBRATION_SHARE = 0.2  # of the labelled images; the rest is verified
MAX_CALIBRATION = 200  # what the digit models calibrate on too (Recipe.calibration_count's order)
MIN_CALIBRATION = 10
MIN_VERIFICATION = 30  # below this, one image is over 3 % of the accuracy: too few to prove anything
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PROBABILITY_SUM_TOLERANCE = 1e-3  # rows summing to 1 within this, all in 0..1: already probabilities


@dataclass(frozen=True)
class ModelContract:
    """What a Keras model takes and gives, read from the model itself."""

    input_shape: tuple[int, ...]  # one input without the batch axis: (H, W), (H, W, C) or (H*W,)
    image: image_input.ImageSpec  # the image that input is made from
    value_range: tuple[float, float]
    range_source: str  # why that range: "Rescaling layer", "--input-range", "default"
    classes: int

    def as_model_takes(self, pixels: np.ndarray) -> np.ndarray:
        """[N, H, W, C] pixels 0..255 -> float32 [N, *input_shape] in the model's range."""
        return image_input.scale(pixels, self.value_range).reshape(len(pixels), *self.input_shape)


# -- the model ---------------------------------------------------------------------------------------


def keras_config(path: Path) -> dict:
    """config.json of a .keras file, refusing a Keras 2 .h5 file and anything not a .keras archive."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise PipelineError(f"Cannot read {path} ({exc.strerror}).") from exc
    if head == HDF5_SIGNATURE:
        raise PipelineError(
            f"{path} is a Keras 2 HDF5 (.h5) file; this exporter takes Keras 3 `.keras` files: load it where it "
            "was made (tf.keras) and save it again with `model.save('model.keras')`."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(
            f"{path} is not a Keras 3 `.keras` file (a zip with config.json); "
            "save one with `model.save('x.keras')`."
        ) from exc


def unsafe_parts(config) -> tuple[list[str], list[str]]:
    """(names of Lambda layers, registered names of custom objects) anywhere in a model's config:
    what safe_mode refuses, found first so the error can name them."""
    lambdas, custom = [], []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                lambdas.append(str((node.get("config") or {}).get("name", "?")))
            registered = node.get("registered_name")
            if isinstance(registered, str) and ">" in registered:  # "package>Name": not Keras's own
                custom.append(registered)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(set(lambdas)), sorted(set(custom))


def load_model(path: str | Path):
    """The Keras model of a `.keras` file, loaded with safe_mode (no Python code ever runs)."""
    from pipeline.formats import keras_format

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"No Keras model at {path}.")
    lambdas, custom = unsafe_parts(keras_config(path))
    if lambdas:
        raise PipelineError(
            f"{path} has Lambda layers ({', '.join(lambdas)}), whose Python code is never loaded: "
            "rebuild them from Keras's own layers."
        )
    if custom:
        raise PipelineError(
            f"{path} uses custom objects Keras does not ship ({', '.join(custom)}); their code is never "
            "loaded: rebuild them from Keras's own layers."
        )
    return keras_format.load(path)


def leading_rescaling(model) -> bool:
    """Whether the first layer after the input is a Rescaling layer (then the model takes 0..255)."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    return bool(layers) and isinstance(layers[0], keras.layers.Rescaling)


def read_contract(model, input_range: str | None = None) -> ModelContract:
    """The model's ModelContract; PipelineError for two inputs or outputs, a non-image input or an
    output that is not one vector of class scores."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise PipelineError(
            f"The model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "an image classifier here has one image input and one output."
        )
    shape = tuple(model.inputs[0].shape[1:])
    output = tuple(model.outputs[0].shape[1:])
    if len(output) != 1 or not output[0] or output[0] < 2:
        raise PipelineError(
            f"The model's output is {list(output)}; expected one score per class, [K] with K >= 2."
        )
    if any(n is None for n in shape):
        raise PipelineError(
            f"The model's input {list(shape)} has no fixed size; give it one (keras.Input(shape=...))."
        )
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        image = image_input.ImageSpec(side, side, 1)
    elif len(shape) == 2:
        image = image_input.ImageSpec(shape[0], shape[1], 1)
    elif len(shape) == 3 and shape[2] in (1, 3):
        image = image_input.ImageSpec(shape[0], shape[1], shape[2])
    else:
        raise PipelineError(
            f"The model's input {list(shape)} is not an image: expected [H, W], [H, W, C] with C 1 or 3, "
            "or a flat [H*W] of a square image."
        )
    rescales = leading_rescaling(model)
    if input_range is not None:
        if input_range not in image_input.RANGES:
            raise PipelineError(f"--input-range {input_range!r}: choose one of {', '.join(image_input.RANGES)}.")
        if rescales and input_range != "0..255":
            raise PipelineError(
                f"The model starts with a Rescaling layer, so it takes raw 0..255 pixels; "
                f"--input-range {input_range} contradicts that."
            )
        value_range, why = image_input.RANGES[input_range], "--input-range"
    elif rescales:
        value_range, why = image_input.RANGES["0..255"], "a leading Rescaling layer"
    else:
        value_range, why = image_input.RANGES["0..1"], "the default (no Rescaling layer, no --input-range)"
    return ModelContract(shape, image, value_range, why, int(output[0]))


def final_activation(model) -> str | None:
    """The name of the activation the model's last layer applies ("softmax", "sigmoid", ...), if any
    (a Dense layer's `activation` or an Activation layer's)."""
    activation = getattr(model.layers[-1], "activation", None) if model.layers else None
    name = getattr(activation, "__name__", None)
    return None if name in (None, "linear") else str(name)


def output_kind(outputs: np.ndarray, activation: str | None = None) -> str:
    """ "probabilities" if the last layer is a softmax or every row is in 0..1 and sums to 1, else
    "logits". PipelineError for a sigmoid output: independent scores (multi-label), not one class's."""
    if activation == "sigmoid":
        raise PipelineError(
            "The model ends in a sigmoid: independent scores in 0..1 (multi-label), not one class's logits "
            "or probabilities; this exporter serves single-label classifiers (softmax or logits)."
        )
    sums = outputs.sum(axis=1)
    in_range = outputs.min() >= 0 and outputs.max() <= 1
    if activation == "softmax" or (in_range and np.all(np.abs(sums - 1) < PROBABILITY_SUM_TOLERANCE)):
        return "probabilities"
    return "logits"


def with_softmax(model, path: Path):
    """The model with a Softmax appended, saved to `path` (.keras) and loaded back with safe_mode."""
    import keras

    from pipeline.formats import keras_format

    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="image")
    probabilities = keras.layers.Softmax(name="probabilities")(model(inputs))
    keras.Model(inputs, probabilities, name=f"{model.name}_probabilities").save(path)
    return keras_format.load(path)


# -- the data ----------------------------------------------------------------------------------------


@dataclass
class Split:
    calibration: np.ndarray  # indices into the labelled data
    verification: np.ndarray


def split(count: int) -> Split:
    """A seeded split: the calibration set (int8's representative dataset) and the verification set."""
    calibration = min(MAX_CALIBRATION, max(MIN_CALIBRATION, int(count * CALIBRATION_SHARE)))
    if count - calibration < MIN_VERIFICATION:
        raise PipelineError(
            f"{count} labelled images are too few: at least {MIN_CALIBRATION} calibrate the int8 variants and "
            f"{MIN_VERIFICATION} more verify every artifact ({MIN_CALIBRATION + MIN_VERIFICATION} in all)."
        )
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return Split(np.sort(order[:calibration]), np.sort(order[calibration:]))


def check_classes(data: image_input.LabelledData, contract: ModelContract, where: str) -> None:
    if len(data.class_names) != contract.classes:
        raise PipelineError(
            f"{where} has {len(data.class_names)} classes ({', '.join(data.class_names[:8])}"
            f"{', ...' if len(data.class_names) > 8 else ''}), the model has {contract.classes} outputs."
        )
    bad = [name for name in data.class_names if not name or name != name.strip() or "\n" in name or "\r" in name]
    if bad:
        raise PipelineError(
            f"{where}: class names become the lines of labels.txt: none empty or starting or ending with a "
            f"space, not {bad[0]!r}."
        )


# -- the export --------------------------------------------------------------------------------------


def input_record(contract: ModelContract) -> dict:
    """The manifest's `input`: everything a consumer needs to feed the model (recipe "resize")."""
    return {
        "name": "image",
        "shape": [None, *contract.input_shape],
        "dtype": "float32",
        "range": list(contract.value_range),
        "range_source": contract.range_source,
        "image": {
            "height": contract.image.height,
            "width": contract.image.width,
            "channels": contract.image.channels,
        },
        "resize": image_input.RESIZE,
        "recipe": "resize",
        "preprocessing": f"decode to {'grayscale' if contract.image.channels == 1 else 'RGB'}, resize to "
        f"{contract.image.height}x{contract.image.width} ({image_input.RESIZE}), scale 0..255 linearly to "
        f"{contract.value_range[0]:g}..{contract.value_range[1]:g}",
    }


def export_model(
    keras_model: str | Path,
    data: str | Path,
    name: str,
    out_dir: str | Path = "exported_models",
    input_range: str | None = None,
    formats: list[str] | None = None,
    signing_key: Path | None = None,
    description: str | None = None,
    verbose: bool = True,
    events: EventLog | None = None,
) -> dict:
    """Export, verify and publish `keras_model` as out_dir/name; returns its manifest.

    keras_model: a Keras 3 `.keras` file; data: a folder of class folders or an .npz (image_input);
    input_range: "0..1", "0..255" or "-1..1" (default: 0..255 after a leading Rescaling layer, else 0..1);
    formats: a subset of pipeline.formats.FORMATS (keras and, for the converted ones, savedmodel are
    always written: the others start from them); signing_key: sign the folder (pipeline.signing).
    Raises PipelineError (nothing published) for the bad inputs the module docstring lists, and when a
    float32 artifact disagrees with Keras; a converted format that cannot convert or run the model, and
    a reduced-precision variant that misses its tolerance, are left out and recorded (`left_out`).
    """
    from pipeline.export import CONVERTED, SCRATCH, Reference, Rules, export_and_verify, publish_staged
    from pipeline.formats import FORMATS, ExportSource

    events, out_dir, keras_model = events or EventLog(), Path(out_dir), Path(keras_model)
    check_name(name, out_dir)
    wanted = chosen_formats(formats, FORMATS, CONVERTED)
    model = load_model(keras_model)
    contract = read_contract(model, input_range)
    labelled = image_input.load_labelled(data, contract.image)
    check_classes(labelled, contract, str(data))
    parts = split(len(labelled.labels))
    images = contract.as_model_takes(labelled.pixels)
    raw = np.asarray(model.predict(images, batch_size=256, verbose=0), np.float64)
    if not np.all(np.isfinite(raw)):
        bad = int(np.sum(~np.all(np.isfinite(raw), axis=1)))
        raise PipelineError(
            f"The model outputs NaN or infinity for {bad} of the {len(raw)} images; nothing was published."
        )
    kind = output_kind(raw, final_activation(model))
    if verbose:
        print(
            f"{keras_model}: input {list(contract.input_shape)} in {contract.value_range[0]:g}.."
            f"{contract.value_range[1]:g} ({contract.range_source}), {contract.classes} classes, outputs {kind}; "
            f"{len(parts.verification)} images verify, {len(parts.calibration)} calibrate.",
            flush=True,
        )

    def fill(staging: Path) -> tuple[dict, int, int]:
        keras_path, served = keras_model, model
        if kind == "logits":
            keras_path = staging / SCRATCH / "model.keras"
            served = with_softmax(model, keras_path)
        verified = images[parts.verification]
        outputs = np.asarray(served.predict(verified, batch_size=256, verbose=0))
        answers = labelled.labels[parts.verification]
        reference = Reference(verified, answers, outputs, float(np.mean(outputs.argmax(axis=1) == answers)))
        source = ExportSource(
            model=served,
            model_name=name,
            keras_path=keras_path,
            description=description or f"{name}: an image classifier of {contract.classes} classes.",
            calibration_images=images[parts.calibration],
            input_shape=contract.input_shape,
            labels=tuple(labelled.class_names),
            contract=input_record(contract),
        )
        rules = Rules(wanted, lenient=True, data_name=f"{len(answers)} held-out labelled images")
        artifacts, left_out = export_and_verify(source, staging, reference, verbose, events, rules)
        manifest = write_own_folder(
            staging, source, reference, labelled, parts, kind, keras_model, artifacts, left_out
        )
        return manifest, len(artifacts), len(left_out)

    def sign(staging: Path) -> None:
        if signing_key is not None:
            signing.sign_folder(staging, signing_key)

    manifest, published, left = publish_staged(out_dir, name, fill, sign)
    if verbose:
        signed = "signed." if signing_key is not None else signing.NO_KEY + "."
        print(f"Published {out_dir / name} ({published} artifacts, {left} left out), {signed}")
    return manifest


def check_name(name: str, out_dir: Path) -> None:
    """A published model's name is a folder of `out_dir` that the page and the apps put in URLs: plain
    characters, not index.json, and not a file or folder there that is not a published model."""
    from pipeline.manifest import FILE_NAME, INDEX

    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise PipelineError(f"Model name {name!r}: use letters, digits, '-', '_' and '.', not starting with '.'.")
    existing = out_dir / name
    if name == INDEX or (existing.exists() and not (existing / FILE_NAME).is_file()):
        raise PipelineError(
            f"Model name {name!r} is taken in {out_dir} (the index of published models, or a file or folder "
            "that is not one); choose another name."
        )


def chosen_formats(formats, known, converted) -> tuple[str, ...]:
    """The formats to write, in FORMATS order: those asked for, plus keras (the source) and, when a
    converted format is asked for, savedmodel (what it converts from)."""
    if isinstance(formats, str):  # "tflite,onnx", as on the command line
        formats = formats.split(",")
    asked = set(formats or known)
    unknown = asked - set(known)
    if unknown:
        raise PipelineError(f"Unknown format(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}.")
    asked |= {"keras"} | ({"savedmodel"} if asked & set(converted) else set())
    return tuple(name for name in known if name in asked)


def write_own_folder(staging, source, reference, labelled, parts, kind, keras_model, artifacts, left_out) -> dict:
    """labels.txt, evaluation.json, the confusion-matrix plot, manifest.json and MODEL_CARD.md."""
    from pipeline import plots
    from pipeline.manifest import build_manifest, write_manifest
    from pipeline.model_card import write_own_model_card

    (staging / "labels.txt").write_text("".join(f"{label}\n" for label in source.labels))
    evaluation = {"model": source.model_name, **metrics.summarise(reference.labels, reference.outputs)}
    (staging / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    (staging / "plots").mkdir()
    plots.confusion_matrix(
        np.array(evaluation["confusion_matrix"]),
        staging / "plots" / plots.PLOTS["confusion_matrix"],
        f"{source.model_name}: confusion matrix (held-out images)",
        labels=list(source.labels),
    )
    data = {
        **labelled.source,
        "calibration": {"images": int(len(parts.calibration)), "seed": SPLIT_SEED, "scored": False},
        "verification": {"images": int(len(parts.verification)), "seed": SPLIT_SEED},
    }
    extra = {
        "source_model": {"file": Path(keras_model).name, "sha256": sha256_file(keras_model), "output": kind},
        "left_out": left_out,
    }
    manifest = build_manifest(
        source.model_name,
        source.description,
        source.input_shape,
        staging / "labels.txt",
        {},
        evaluation,
        data,
        {"confusion_matrix": f"plots/{plots.PLOTS['confusion_matrix']}"},
        artifacts,
        None,
        extra,
        input_record=source.contract,
    )
    write_own_model_card(staging, manifest, evaluation)
    write_manifest(staging, manifest)
    return manifest
