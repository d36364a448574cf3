"""Run the chosen benchmark sections and write BENCHMARKS.md and benchmarks.json."""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

from pipeline import REPO_ROOT
from pipeline.bench import inference, machine, report, signing, training
from pipeline.bench.stats import run_process
from pipeline.events import read_events
from pipeline.manifest import load_manifest, read_index

SECTIONS = (
    "training",
    "cnn",
    "inference",
    "signing",
    "browser",
    "offline",
    "load",
    "sizes",
    "end-to-end",
    "personal",
    "reading",
    "own",
)
LOAD_SESSIONS = (10, 20)
LOAD_DIGITS_EACH = 5
GPU_FIGURES = REPO_ROOT / "benchmarks-gpu.json"  # written by tools/gpu_benchmark.py on a GPU machine


def artifact_sizes(models_dir: Path) -> dict:
    names, _ = read_index(models_dir)
    return {name: {a["id"]: a["bytes"] for a in load_manifest(models_dir / name)["artifacts"]} for name in names}


def end_to_end() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        seconds, _ = run_process(
            [
                "-m",
                "pipeline",
                "run",
                "--out",
                f"{tmp}/exported",
                "--build-dir",
                f"{tmp}/build",
                "--events",
                f"{tmp}/events.jsonl",
            ]
        )
        summary = next(e for e in read_events(f"{tmp}/events.jsonl") if e["event"] == "summary")
    stages = [
        {
            "model": row["model"],
            "train": round(row["train_seconds"], 1),
            "evaluate": round(row["evaluate_seconds"], 1),
            "export": round(row["export_seconds"], 1),
        }
        for row in summary["models"]
    ]
    return {"total_seconds": seconds, "stages": stages}


def main(args) -> int:
    chosen = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = chosen - set(SECTIONS)
    if unknown:
        from pipeline.errors import PipelineError

        raise PipelineError(
            f"Unknown benchmark section(s) {', '.join(sorted(unknown))}; choose from: {', '.join(SECTIONS)}."
        )
    models_dir = Path(args.models_dir).resolve()
    out = Path(args.out)
    previous = out.with_name("benchmarks.json")
    # --merge: keep the other sections' figures from the last full run, replace only the chosen ones
    figures = json.loads(previous.read_text()) if args.merge and previous.is_file() else {}
    figures.update(
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine=machine.describe(),
        updated=sorted(chosen) if args.merge else None,
    )
    if ("training" in chosen or "cnn" in chosen) and not figures.get("training"):
        figures["training"] = {}
    if "training" in chosen:
        print("Training: the article's model, pipeline against plain program", flush=True)
        figures["training"]["article_vs_plain"] = training.article_against_plain_program(args.repeats)
        print("Training: what each speed-up gives", flush=True)
        figures["training"]["ablation"] = training.speedup_ablation()
    if "cnn" in chosen:
        print("Training: the CNN recipes side by side, to the target accuracy and beyond MNIST", flush=True)
        figures["training"]["cnn_recipes"] = training.cnn_recipes_side_by_side()
    if "inference" in chosen:
        print("Inference: every artifact in its runtime", flush=True)
        figures["inference"] = inference.all_artifacts(models_dir)
    if "signing" in chosen:
        print("Signing: sign and verify each model folder", flush=True)
        figures["signing"] = signing.sign_and_verify(models_dir)
    if chosen & {"browser", "offline", "load"}:  # they drive Chromium (browser.py)
        from pipeline.bench import browsers, load
    if "browser" in chosen:
        print("Browser: TF.js in Chromium, the Streamlit app", flush=True)
        page = browsers.page_backends(models_dir)
        figures["browser"] = {"page": page, "streamlit": browsers.streamlit_stroke_to_answer(models_dir)}
    if "offline" in chosen:
        print("Offline app: first, repeat and offline visits; WASM with and without COOP/COEP", flush=True)
        figures["offline"] = {
            "measured": figures["date"],
            "visits": browsers.page_visits(models_dir),
            "wasm_isolation": browsers.wasm_isolation(models_dir, rounds=5),
        }
    if "load" in chosen:
        print("The Streamlit app under load", flush=True)
        figures["load"] = [
            load.app_under_load(models_dir, sessions, LOAD_DIGITS_EACH) for sessions in LOAD_SESSIONS
        ]
    if "sizes" in chosen:
        figures["sizes"] = {
            "artifacts": artifact_sizes(models_dir),
            "site_bytes": figures.get("browser", {}).get("page", {}).get("site_bytes"),
        }
    if "end-to-end" in chosen:
        print("End to end: python -m pipeline run", flush=True)
        figures["end_to_end"] = end_to_end()
    if "personal" in chosen:
        from pipeline.bench import personal

        print("Personalisation: a handwriting style taught k examples per digit", flush=True)
        figures["personal"] = {
            "accuracy": personal.accuracy_by_examples(models_dir),
            "teaching_step": personal.teaching_step_in_chromium(models_dir),
            "app_teaching_step": personal.teaching_step_in_app(models_dir),
        }
    if "reading" in chosen:
        from pipeline.bench import reading

        print("Reading: photos, not one digit, pad sizes, low resolution, MNIST; before and today", flush=True)
        figures["reading"] = reading.side_by_side(models_dir)
    if "own" in chosen:
        from pipeline.bench import own

        print("Models of one's own: five exported and verified; the page's first answer for one", flush=True)
        figures["own"] = own.side_by_side()
    if GPU_FIGURES.is_file():
        figures["gpu"] = json.loads(GPU_FIGURES.read_text())

    out.write_text(report.write(figures))
    out.with_name("benchmarks.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"Wrote {out} and {out.with_name('benchmarks.json')}.")
    return 0
