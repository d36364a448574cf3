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
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from pipeline import REPO_ROOT, publish
from pipeline.data import MNIST_FILES, NPM_PACKAGE, load_mnist
from pipeline.errors import PipelineError
from pipeline.evaluate import PLOTS, evaluate, load_keras_model, mnist_test_set
from pipeline.formats import FORMATS, ExportSource, format_module
from pipeline.model_card import write_model_card
from pipeline.models import INPUT_SHAPE, NUM_CLASSES, get_recipe
from pipeline.runtime import SCHEMA_VERSION, sha256_file
from pipeline.verify import format_table, verify_artifact

CALIBRATION_SEED = 1234


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "tensorflowjs", "ai-edge-litert", "numpy"):
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


def calibration_images(count: int = 500) -> np.ndarray:
    (x_train, _), _ = load_mnist()
    pick = np.random.default_rng(CALIBRATION_SEED).choice(len(x_train), count, replace=False)
    return x_train[pick].astype(np.float32) / 255.0


def can_adapt(model_name: str, model) -> bool:
    """Base models with the feature layer get the on-device adaptation kit (pipeline/adaptation.py)."""
    from pipeline.personalize import FEATURE_LAYER, SUFFIX

    return not model_name.endswith(SUFFIX) and FEATURE_LAYER in {layer.name for layer in model.layers}


def export(model_name: str, build_dir: str | Path = "build", out_dir: str | Path = "exported_models",
           verbose: bool = True, description: str | None = None, extra: dict | None = None) -> dict:
    """`description` and `extra` (more manifest keys) serve models not in the registry (personalize.py)."""
    description = description or get_recipe(model_name).description
    build = Path(build_dir) / model_name
    out_dir = Path(out_dir)
    keras_path = build / "model.keras"
    model = load_keras_model(keras_path)
    if not (build / "evaluation.json").is_file():
        evaluate(model_name, build_dir=build_dir, verbose=verbose)
    evaluation = json.loads((build / "evaluation.json").read_text())
    training = json.loads((build / "history.json").read_text()) if (build / "history.json").is_file() else {}

    images, labels = mnist_test_set()
    reference = np.asarray(model.predict(images, batch_size=1000, verbose=0))
    keras_accuracy = float(np.mean(reference.argmax(axis=1) == labels))
    source = ExportSource(model=model, model_name=model_name, keras_path=keras_path,
                          calibration_images=calibration_images())

    staging = publish.staging_dir(out_dir, model_name)
    try:
        artifacts, rows = [], []
        for format_name in FORMATS:
            module = format_module(format_name)
            for variant in module.VARIANTS:
                artifact_id = format_name if len(module.VARIANTS) == 1 else f"{format_name}-{variant}"
                started = time.perf_counter()
                entry = module.export(source, variant, staging)
                exported = time.perf_counter() - started
                figures = verify_artifact(module, entry, variant, images, labels, reference, keras_accuracy)
                figures["export_seconds"] = round(exported, 2)
                files, size = describe_files(staging, entry, module.MULTI_FILE)
                artifacts.append({
                    "id": artifact_id, "format": format_name, "variant": variant,
                    "path": entry.relative_to(staging).as_posix(), "bytes": size,
                    "sha256": sha256_file(entry), "files": files, "verification": figures})
                rows.append((artifact_id, size, figures))
                if verbose:
                    print(f"  {artifact_id:<16} exported in {exported:5.1f} s, verified: "
                          f"{'ok' if figures['passed'] else 'FAIL'}", flush=True)
        table = format_table(model_name, rows)
        if not all(figures["passed"] for _, _, figures in rows):
            raise PipelineError(f"verification failed, nothing was published:\n{table}")
        if verbose:
            print(table)

        adaptation = None
        if can_adapt(model_name, model):
            from pipeline.adaptation import export_adaptation

            adaptation = export_adaptation(model, model_name, staging, images, verbose=verbose)
        (staging / "labels.txt").write_text("".join(f"{digit}\n" for digit in range(NUM_CLASSES)))
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
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
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
            "artifacts": artifacts,
            **({"adaptation": adaptation} if adaptation else {}),
            **(extra or {}),
        }
        write_model_card(staging, manifest, evaluation)
        publish.write_json_atomic(staging / "manifest.json", manifest)
        publish.swap_in(staging, out_dir / model_name)
    except OSError as exc:  # disk full or gone read-only while writing the staging copy
        shutil.rmtree(staging, ignore_errors=True)
        raise PipelineError(f"Could not write the export to {out_dir} ({exc.strerror or exc}); "
                            "nothing was published, the previous export is unchanged.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish.update_index(out_dir)
    if verbose:
        print(f"Published {out_dir / model_name} ({len(artifacts)} artifacts).")
    return manifest
