"""Export a trained model to every format, verify each in its own runtime, publish atomically.

`export("cnn")` reads build/cnn/ (model.keras, history.json, evaluation.json and plots), writes every
artifact into a staging folder beside exported_models/cnn, verifies them all on the 10k test set,
writes manifest.json and MODEL_CARD.md, and only then swaps the folder in. If any artifact breaks a
tolerance, the table says which, nothing is published and the previous export stays as it was.
"""

from __future__ import annotations

import datetime
import json
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

from pipeline import REPO_ROOT, publish, signing
from pipeline.data import MNIST_FILES, NPM_PACKAGE, load_mnist, scale_pixels
from pipeline.errors import PipelineError
from pipeline.evaluate import PLOTS, evaluate, mnist_test_set
from pipeline.events import EventLog
from pipeline.files import sha256_file, write_json_atomic
from pipeline.formats import FORMATS, ExportSource, format_module, keras_format
from pipeline.model_card import write_model_card
from pipeline.models import INPUT_SHAPE, MODELS, NUM_CLASSES, Recipe, get_recipe, labels_text
from pipeline.runtime import SCHEMA_VERSION
from pipeline.verify import format_table, verify_artifact

CALIBRATION_SEED = 1234
SCRATCH = ".scratch"  # temporary files of the export, inside its staging folder


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "tensorflowjs", "ai-edge-litert", "tf2onnx", "onnxruntime",
                    "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    tfjs_package = REPO_ROOT / "node_modules" / "@tensorflow" / "tfjs" / "package.json"
    if tfjs_package.is_file():
        versions["@tensorflow/tfjs"] = json.loads(tfjs_package.read_text())["version"]
    return versions


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipeline", "web"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe_files(root: Path, entry: Path, whole_folder: bool) -> tuple[list[dict], int]:
    """Every file of the artifact: the entry's whole folder for multi-file formats, else the entry."""
    paths = sorted(p for p in entry.parent.rglob("*") if p.is_file()) if whole_folder else [entry]
    files = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in paths]
    return files, sum(f["bytes"] for f in files)


def recommended_variants(artifacts: list[dict]) -> dict:
    """Per format with variants, the smallest one that met every tolerance (what apps start on)."""
    passed = {}
    for artifact in artifacts:
        if artifact["verification"]["passed"]:
            passed.setdefault(artifact["format"], []).append(artifact)
    return {fmt: min(group, key=lambda a: a["bytes"])["variant"]
            for fmt, group in passed.items() if len(group) > 1}


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
    from pipeline.personalize import FEATURE_LAYER, SUFFIX

    return not model_name.endswith(SUFFIX) and FEATURE_LAYER in {layer.name for layer in model.layers}


def export(model_name: str, build_dir: str | Path = "build", out_dir: str | Path = "exported_models",
           verbose: bool = True, events: EventLog | None = None, signing_key: Path | None = None,
           data_dir: str | Path | None = None, description: str | None = None,
           extra: dict | None = None) -> dict:
    """`signing_key` (a checked path, see pipeline.signing.signing_key): sign the folder with it.
    `description` and `extra` (more manifest keys) serve models not in the registry (personalize.py)."""
    description = description or get_recipe(model_name).description
    events = events or EventLog()
    build = Path(build_dir) / model_name
    out_dir = Path(out_dir)
    keras_path = build / "model.keras"
    model = keras_format.load(keras_path)
    if not (build / "evaluation.json").is_file():
        evaluate(model_name, build_dir=build_dir, verbose=verbose, data_dir=data_dir)
    evaluation = json.loads((build / "evaluation.json").read_text())
    training = json.loads((build / "history.json").read_text()) if (build / "history.json").is_file() else {}

    images, labels = mnist_test_set(data_dir)
    reference = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    keras_accuracy = float(np.mean(reference.argmax(axis=1) == labels))
    source = ExportSource(model=model, model_name=model_name, keras_path=keras_path, description=description,
                          calibration_images=calibration_images(calibration_count(model_name, training),
                                                                data_dir))

    staging = publish.staging_dir(out_dir, model_name)
    saved_tempdir = start_scratch(staging)
    try:
        artifacts, rows = [], []
        for format_name in FORMATS:
            module = format_module(format_name)
            for variant in module.VARIANTS:
                artifact_id = format_name if len(module.VARIANTS) == 1 else f"{format_name}-{variant}"
                started = time.perf_counter()
                entry = module.export(source, variant, staging)
                exported = time.perf_counter() - started
                if format_name not in source.exported:   # later formats convert from this one
                    source = replace(source, exported={**source.exported, format_name: entry})
                figures = verify_artifact(module, entry, variant, images, labels, reference, keras_accuracy)
                figures["export_seconds"] = round(exported, 2)
                files, size = describe_files(staging, entry, module.MULTI_FILE)
                artifacts.append({
                    "id": artifact_id, "format": format_name, "variant": variant,
                    "path": entry.relative_to(staging).as_posix(), "bytes": size,
                    "sha256": sha256_file(entry), "files": files, "verification": figures})
                rows.append((artifact_id, size, figures))
                events.emit("artifact", model=model_name, artifact=artifact_id, bytes=size, **figures)
                if verbose:
                    print(f"  {artifact_id:<16} exported in {exported:5.1f} s, verified: "
                          f"{'ok' if figures['passed'] else 'FAIL'}", flush=True)
        table = format_table(model_name, rows)
        passed = all(figures["passed"] for _, _, figures in rows)
        events.emit("verified", model=model_name, passed=passed)
        if not passed:
            raise PipelineError(f"verification failed, nothing was published:\n{table}")
        if verbose:
            print(table)

        adaptation = None
        if can_adapt(model_name, model):
            from pipeline.adaptation import export_adaptation

            adaptation = export_adaptation(model, model_name, staging, images, verbose=verbose)
        (staging / "labels.txt").write_text(labels_text())
        (staging / "plots").mkdir()
        plots = {}
        for key, file_name in PLOTS.items():
            if (build / file_name).is_file():
                shutil.copyfile(build / file_name, staging / "plots" / file_name)
                plots[key] = f"plots/{file_name}"
        shutil.copyfile(build / "evaluation.json", staging / "evaluation.json")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "model": model_name,
            "description": description,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "input": {"name": "image", "shape": [None, *INPUT_SHAPE], "dtype": "float32",
                      "range": [0, 1], "ink": "white on black",
                      "preprocessing": "MNIST: crop to the ink, fit in 20x20 keeping the aspect ratio, "
                                       "centre of mass at the centre of 28x28"},
            "output": {"name": "probabilities", "shape": [None, NUM_CLASSES], "dtype": "float32"},
            "labels": "labels.txt",
            "labels_sha256": sha256_file(staging / "labels.txt"),
            "training": {k: v for k, v in training.items() if k != "history"},
            "evaluation": {"test_accuracy": evaluation["accuracy"], "test_loss": evaluation["loss"],
                           "test_images": evaluation["images"], "details": "evaluation.json"},
            "data": {"source": f"npm {NPM_PACKAGE}",
                     "sha256": {name: sha for name, sha, _, _ in MNIST_FILES.values()}},
            "versions": package_versions(),
            "plots": plots,
            "model_card": "MODEL_CARD.md",
            "recommended": recommended_variants(artifacts),
            "artifacts": artifacts,
            **({"adaptation": adaptation} if adaptation else {}),
            **(extra or {}),
        }
        write_model_card(staging, manifest, evaluation)
        write_json_atomic(staging / "manifest.json", manifest)
        end_scratch(staging, saved_tempdir)   # not part of the export
        if signing_key is not None:   # last: the signature covers every file, the manifest too
            with events.stage(model_name, "sign") as sign_time:
                signing.sign_folder(staging, signing_key)
            if verbose:
                print(f"  signed with {signing_key} in {sign_time['seconds']:.1f} s "
                      f"({signing.SIGNATURE})", flush=True)
        publish.swap_in(staging, out_dir / model_name)
    except OSError as exc:  # disk full or gone read-only while writing the staging copy
        shutil.rmtree(staging, ignore_errors=True)
        raise PipelineError(f"Could not write the export to {out_dir} ({exc.strerror or exc}); "
                            "nothing was published, the previous export is unchanged.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        end_scratch(staging, saved_tempdir)
    publish.update_index(out_dir)
    if verbose:
        print(f"Published {out_dir / model_name} ({len(artifacts)} artifacts), "
              + ("signed." if signing_key is not None else signing.NO_KEY + "."))
    return manifest
