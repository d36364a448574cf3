"""manifest.json: the one contract between the pipeline, the apps and the page. Built, validated and read here.

A published model folder holds manifest.json, which says what exists (every artifact with its files'
sizes and sha256), how it was verified, where it came from and what the model expects (`input`) and
returns (`output`, `labels`). `index.json` beside the folders names the published models and the
default. Every consumer (predict, the app, the page, the site builder, the benchmark) reads these
instead of assuming a model's name, files or figures.

Errors: every reader raises PipelineError with one sentence that names the file and the fix (FIX).
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.blend import FEATURE_LAYER, REPLAY_PER_CLASS, Method
from pipeline.errors import PipelineError
from pipeline.files import inside_folder, sha256_bytes, sha256_file
from pipeline.provenance import git_commit, package_versions

SCHEMA_VERSION = 1
FILE_NAME = "manifest.json"
INDEX = "index.json"
FIX = "run `make run` (or `python -m pipeline run`) to rebuild it"

# What the built-in digit models expect: the web page and the app apply exactly this recipe.
MNIST_INPUT = {
    "name": "image",
    "dtype": "float32",
    "range": [0, 1],
    "ink": "white on black",
    "preprocessing": "MNIST: crop to the ink, fit in 20x20 keeping the aspect ratio, "
    "centre of mass at the centre of 28x28",
}


# -- building ---------------------------------------------------------------------------------------


def parse_labels(text: str) -> list[str]:
    """labels.txt's labels: one a line, blank lines ignored (a class name is one word)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def describe_files(root: Path, paths: list[Path]) -> dict:
    """{"files": [{path (relative to root, posix), bytes, sha256}], "bytes": their sum}, sorted by path."""
    files = [
        {"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(paths)
    ]
    return {"files": files, "bytes": sum(f["bytes"] for f in files)}


def artifact_entry(
    root: Path,
    artifact_id: str,
    format_name: str,
    entry: Path,
    whole_folder: bool,
    verification: dict,
    variant: str | None = None,
) -> dict:
    """One artifact of `artifacts` (or of the adaptation kit's): its entry file, every file it consists
    of (the entry's whole folder for multi-file formats such as TF.js, else the entry alone), their
    sizes and sha256, and the verification figures."""
    paths = [p for p in entry.parent.rglob("*") if p.is_file()] if whole_folder else [entry]
    return {
        "id": artifact_id,
        "format": format_name,
        **({"variant": variant} if variant is not None else {}),
        "path": entry.relative_to(root).as_posix(),
        "sha256": sha256_file(entry),
        **describe_files(root, paths),
        "verification": verification,
    }


def recommended_variants(artifacts: list[dict]) -> dict:
    """Per format with variants, the smallest one that met every tolerance (what apps start on)."""
    passed: dict[str, list[dict]] = {}
    for artifact in artifacts:
        if artifact["verification"]["passed"]:
            passed.setdefault(artifact["format"], []).append(artifact)
    return {
        fmt: min(group, key=lambda a: a["bytes"])["variant"] for fmt, group in passed.items() if len(group) > 1
    }


def build_manifest(
    model_name: str,
    description: str,
    input_shape: tuple[int, ...],
    labels_path: Path,
    training: dict,
    evaluation: dict,
    data: dict,
    plots: dict,
    artifacts: list[dict],
    adaptation: dict | None = None,
    extra: dict | None = None,
    input_record: dict | None = None,
) -> dict:
    """The manifest of a published model folder (schema SCHEMA_VERSION).

    input_shape: one image's shape, e.g. (28, 28); labels_path: labels.txt inside the folder (one
    label per line, as many as the model's outputs); training: history.json without its history;
    evaluation: evaluation.json (accuracy, loss, images); data: the data set's source and checksums;
    plots: {key: path inside the folder}; artifacts: artifact_entry()s; adaptation: adaptation_section();
    extra: more top-level keys (a personalised model's `personalisation`); input_record: the `input` of a
    model of one's own (own_model.input_record), default MNIST_INPUT with `input_shape`.
    """
    labels = parse_labels(labels_path.read_text())
    mnist_input = {
        "name": MNIST_INPUT["name"],
        "shape": [None, *input_shape],
        **{k: v for k, v in MNIST_INPUT.items() if k != "name"},
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model_name,
        "description": description,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "input": input_record or mnist_input,
        "output": {"name": "probabilities", "shape": [None, len(labels)], "dtype": "float32"},
        "labels": labels_path.name,
        "labels_sha256": sha256_file(labels_path),
        "training": training,
        "evaluation": {
            "test_accuracy": evaluation["accuracy"],
            "test_loss": evaluation["loss"],
            "test_images": evaluation["images"],
            "details": "evaluation.json",
        },
        "data": data,
        "versions": package_versions(),
        "plots": plots,
        "model_card": "MODEL_CARD.md",
        "recommended": recommended_variants(artifacts),
        "artifacts": artifacts,
        **({"adaptation": adaptation} if adaptation else {}),
        **(extra or {}),
    }


def method_record(method: Method | None = None) -> dict:
    """The blend's constants (default: blend.py's) as the manifests record them (`adaptation.method`,
    `personalisation.method`); read_method reads them back."""
    method = method or Method()
    return {
        "name": "gated nearest-prototype blend",
        "feature_layer": FEATURE_LAYER,
        "temperature": method.temperature,
        "gate_sharpness": method.gate_sharpness,
        "gate_margin": method.gate_margin,
        "replay_per_class": REPLAY_PER_CLASS,
        "shifts": [list(shift) for shift in method.shifts],
    }


def adaptation_section(
    output_name: str, feature_count: int, num_classes: int, artifacts: list[dict], replay: dict
) -> dict:
    """The manifest's `adaptation` section (pipeline/adaptation.py's kit).

    artifacts: artifact_entry()s of the kit (TF.js, LiteRT); replay: describe_files() of replay.f32 with
    its `path`, `shape` [R, feature_count] and `labels` (R ints) added.
    """
    return {
        "input": MNIST_INPUT["name"],
        "output": {
            "name": output_name,
            "shape": [None, feature_count + num_classes],
            "layout": f"L2-normalised features of layer '{FEATURE_LAYER}' "
            f"({feature_count} numbers), then the {num_classes} probabilities",
        },
        "method": method_record(),
        "artifacts": artifacts,
        "replay": {"dtype": "float32", "byte_order": "little", **replay},
    }


def write_manifest(folder: Path, manifest: dict) -> Path:
    """folder/manifest.json, written atomically (a reader never sees half a manifest)."""
    from pipeline.files import write_json_atomic

    write_json_atomic(folder / FILE_NAME, manifest)
    return folder / FILE_NAME


def index_document(models: list[str], default: str) -> dict:
    """index.json: the published models' folder names and the default one (`default` if published,
    else the first); read back by read_index."""
    return {
        "schema_version": SCHEMA_VERSION,
        "default": default if default in models else (models[0] if models else None),
        "models": models,
    }


# -- validating and reading -------------------------------------------------------------------------


ARTIFACT_KEYS = (
    ("id", str),
    ("format", str),
    ("variant", str),
    ("path", str),
    ("bytes", int),
    ("sha256", str),
    ("files", list),
    ("verification", dict),
)
KIT_KEYS = (("id", str), ("format", str), ("path", str), ("files", list))
REPLAY_KEYS = (("path", str), ("shape", list), ("files", list))


def artifact_problems(artifact, kind: str, index: int | None, keys) -> list[str]:
    """What is wrong with one artifact entry (or the replay record): its `keys` of the right types, every
    file a {path, sha256} inside the folder, and the entry file (`path`) among the files checked. It is
    named by `kind` and its `index` until its id is known ("artifact 5"), then by its id ("artifact
    tflite-float32"); the replay record, which has neither, by `kind` alone."""
    name = kind if index is None else f"{kind} {index}"
    for key, expected in keys:
        if not isinstance(artifact, dict) or not isinstance(artifact.get(key), expected):
            return [f"{name} has no valid '{key}'"]
    if isinstance(artifact.get("id"), str):
        name = f"{kind} {artifact['id']}"
    for file in artifact["files"]:
        if not (
            isinstance(file, dict)
            and isinstance(file.get("path"), str)
            and isinstance(file.get("sha256"), str)
            and inside_folder(file["path"])
        ):
            return [f"{name} lists an invalid file entry"]
    if artifact["path"] not in [file["path"] for file in artifact["files"]]:
        # the entry file is opened by a runtime: it must be one of the checked files
        return [f"{name}'s path {artifact['path']!r} is not among its listed files"]
    return []


def adaptation_problems(section, classes: int) -> list[str]:
    """What is wrong with the `adaptation` section (the kit): its artifacts and replay as above, and a
    replay shape [R, D] whose D plus the `classes` outputs is the kit's output width."""
    if not isinstance(section, dict):
        return ["'adaptation' is not an object"]
    artifacts = section.get("artifacts")
    if not isinstance(artifacts, list):
        return ["'adaptation' has no list of artifacts"]
    problems = [
        p for i, a in enumerate(artifacts) for p in artifact_problems(a, "adaptation artifact", i, KIT_KEYS)
    ]
    problems += artifact_problems(section.get("replay"), "the adaptation replay", None, REPLAY_KEYS)
    output = section.get("output")
    if not (
        isinstance(output, dict) and isinstance(output.get("name"), str) and isinstance(output.get("shape"), list)
    ):
        return [*problems, "'adaptation' has no valid 'output' (a name and a shape)"]
    width = output["shape"][-1] if output["shape"] else None
    replay_shape = section["replay"]["shape"] if not problems else None
    if replay_shape is not None and not (
        len(replay_shape) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in replay_shape)
        and width == replay_shape[1] + classes
    ):
        problems.append(
            f"the adaptation replay's shape {replay_shape} does not fit the kit's output width {width} "
            f"({classes} probabilities after the features)"
        )
    return problems


def manifest_problems(manifest) -> list[str]:
    """What is wrong with a manifest's structure; an empty list if nothing."""
    if not isinstance(manifest, dict):
        return ["it is not a JSON object"]
    problems = []
    if manifest.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    for key, kind in (
        ("model", str),
        ("artifacts", list),
        ("input", dict),
        ("output", dict),
        ("labels", str),
        ("evaluation", dict),
    ):
        if not isinstance(manifest.get(key), kind):
            problems.append(f"'{key}' is missing or not a {kind.__name__}")
    if isinstance(manifest.get("labels"), str) and not inside_folder(manifest["labels"]):
        problems.append(f"'labels' names {manifest['labels']!r}, outside the model folder")
    if not isinstance(manifest.get("labels_sha256"), str):
        problems.append("'labels_sha256' is missing or not a string")
    shape = manifest["output"].get("shape") if isinstance(manifest.get("output"), dict) else None
    if not (isinstance(shape, list) and shape and isinstance(shape[-1], int) and shape[-1] > 0):
        problems.append("'output' has no valid 'shape' (a list ending in the number of classes)")
    if isinstance(manifest.get("input"), dict) and not uses_mnist_recipe(manifest):
        problems += input_problems(manifest["input"])
    for index, artifact in enumerate(manifest.get("artifacts") or []):
        problems += artifact_problems(artifact, "artifact", index, ARTIFACT_KEYS)
    return problems


def uses_mnist_recipe(manifest: dict) -> bool:
    """Whether consumers prepare images the MNIST way (the digit models) or by the recorded resize and
    scaling (a model of one's own: `input.recipe` "resize", pipeline/own_model.py)."""
    return manifest["input"].get("recipe", "mnist") == "mnist"


def input_problems(record: dict) -> list[str]:
    """What is wrong with a "resize" recipe's `input`: the image size and channels, and the range."""
    image, value_range = record.get("image"), record.get("range")
    sizes = [image.get(k) for k in ("height", "width", "channels")] if isinstance(image, dict) else []
    if not (len(sizes) == 3 and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes)):
        return ["'input' has no valid 'image' (height, width, channels)"]
    if sizes[2] not in (1, 3):
        return [f"'input' has {sizes[2]} channels, expected 1 or 3"]
    numbers = value_range if isinstance(value_range, list) else []
    if not (
        len(numbers) == 2
        and all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers)
        and numbers[0] < numbers[1]
    ):
        return ["'input' has no valid 'range' ([low, high])"]
    return []


def load_manifest(model_dir: str | Path) -> dict:
    """Read and sanity-check `model_dir/manifest.json`; a clear PipelineError if it is unusable."""
    path = Path(model_dir) / FILE_NAME
    if not Path(model_dir).is_dir():
        raise PipelineError(
            f"Model folder {model_dir} does not exist; {FIX}, or publish a model of your own there with "
            "`python -m pipeline export --keras-model` (docs/own-model.md)."
        )
    if not path.is_file():
        raise PipelineError(f"{path} is missing; {FIX}.")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path} is damaged (not valid JSON: {exc}); {FIX}.") from exc
    problems = manifest_problems(manifest)
    if problems:
        raise PipelineError(f"{path} is not a valid manifest ({problems[0]}); {FIX}.")
    return manifest


def read_index(root: str | Path) -> tuple[list[str], str]:
    """The published models' names and the default one, from `root/index.json`."""
    path = Path(root) / INDEX
    if not path.is_file():
        raise PipelineError(f"{path} is missing: no models have been published; {FIX}.")
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path} is damaged ({exc}); {FIX}.") from exc
    names = index.get("models") if isinstance(index, dict) else None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise PipelineError(f"{path} lists no models; {FIX}.")
    for name in names:  # names become folder names: nothing that leaves `root`
        if name in ("", ".", "..") or Path(name).name != name:
            raise PipelineError(f"{path} lists an invalid model name {name!r}; {FIX}.")
    default = index.get("default")
    return names, default if default in names else names[0]


def find_artifact(manifest: dict, format_name: str, variant: str) -> dict:
    """The artifact of `format_name` and `variant`; PipelineError naming those the model has if none."""
    for artifact in manifest["artifacts"]:
        if artifact["format"] == format_name and artifact["variant"] == variant:
            return artifact
    available = ", ".join(a["id"] for a in manifest["artifacts"])
    raise PipelineError(
        f"Model '{manifest['model']}' has no {format_name} {variant} artifact (it has: {available})."
    )


def check_files(model_dir: str | Path, artifact: dict) -> Path:
    """sha256 every file of `artifact` against the manifest; returns the entry file's path."""
    model_dir = Path(model_dir)
    for file in artifact["files"]:
        path = model_dir / file["path"]
        if not path.is_file():
            raise PipelineError(f"{path} is missing; {FIX}.")
        if sha256_file(path) != file["sha256"]:
            raise PipelineError(f"{path} is damaged: its sha256 does not match the manifest; {FIX}.")
    return model_dir / artifact["path"]


def read_labels(model_dir: str | Path, manifest: dict) -> list[str]:
    """labels.txt, checked against `labels_sha256` and the number of outputs."""
    path = Path(model_dir) / manifest["labels"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"{path} cannot be read ({exc.strerror}); {FIX}.") from exc
    if sha256_bytes(data) != manifest["labels_sha256"]:  # a flipped byte would mislabel answers
        raise PipelineError(f"{path} is damaged: its sha256 does not match the manifest; {FIX}.")
    try:
        labels = parse_labels(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path} is damaged (not UTF-8 text); {FIX}.") from exc
    if len(labels) != manifest["output"]["shape"][-1]:
        raise PipelineError(
            f"{path} has {len(labels)} labels, the model has {manifest['output']['shape'][-1]} outputs; {FIX}."
        )
    return labels


def read_method(section, where: str) -> Method:
    """The blend constants a manifest records (method_record's form); `where` names the manifest in the
    error. PipelineError if a constant is missing, malformed or out of range."""
    try:
        method = Method(
            float(section["temperature"]),
            float(section["gate_sharpness"]),
            float(section["gate_margin"]),
            tuple((int(r), int(c)) for r, c in section["shifts"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PipelineError(
            f"{where} records no usable adaptation method ({type(exc).__name__}: {exc}); export the model again."
        ) from None
    numbers = (method.temperature, method.gate_sharpness, method.gate_margin)
    shifts_fit = all(abs(r) < 28 and abs(c) < 28 for r, c in method.shifts)  # a shift moves within 28x28
    if (
        not all(math.isfinite(n) for n in numbers)
        or method.temperature <= 0
        or not method.shifts
        or not shifts_fit
    ):
        raise PipelineError(
            f"{where} records an adaptation method out of range ({numbers}, "
            f"{len(method.shifts)} shifts); export the model again."
        )
    return method


@dataclass(frozen=True)
class KitFiles:
    """Where a published model's adaptation kit is, checked against its manifest."""

    litert: Path  # the kit's .tflite: image [N, 28, 28] -> output_name [N, D + classes]
    output_name: str
    replay: Path  # float32 little-endian [R, D]
    replay_shape: tuple[int, int]
    method: Method  # the blend's constants


def adaptation_kit_files(model_dir: str | Path, manifest: dict) -> KitFiles | None:
    """The adaptation kit of a published model (a manifest load_manifest has checked), its section
    validated and every file checked against it, or None if the model has none (a personalised model,
    or one without the feature layer). PipelineError if the section is malformed, a file is missing or
    damaged, or the method unusable: teaching is then off, the model itself still loads."""
    adaptation = manifest.get("adaptation")
    if adaptation is None:
        return None
    where = str(Path(model_dir) / FILE_NAME)
    problems = adaptation_problems(adaptation, manifest["output"]["shape"][-1])
    if problems:
        raise PipelineError(f"{where} has an unusable adaptation section ({problems[0]}); {FIX}.")
    artifact = next((a for a in adaptation["artifacts"] if a["format"] == "tflite"), None)
    if artifact is None:
        return None
    rows, columns = adaptation["replay"]["shape"]
    method = read_method(adaptation.get("method"), where)
    litert, replay = check_files(model_dir, artifact), check_files(model_dir, adaptation["replay"])
    return KitFiles(litert, adaptation["output"]["name"], replay, (rows, columns), method)
