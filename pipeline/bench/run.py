"""Run the chosen benchmark sections and write BENCHMARKS.md and benchmarks.json."""

from __future__ import annotations

import datetime
import json
import re
import tempfile
from pathlib import Path

from pipeline.bench import browsers, inference, machine, report, training
from pipeline.bench.stats import run_process
from pipeline import REPO_ROOT
from pipeline.runtime import load_manifest, read_index

SECTIONS = ("training", "cnn", "inference", "browser", "sizes", "end-to-end", "personal")
GPU_FIGURES = REPO_ROOT / "benchmarks-gpu.json"   # written by pipeline/bench/gpu.py on a GPU machine


def artifact_sizes(models_dir: Path) -> dict:
    names, _ = read_index(models_dir)
    return {name: {a["id"]: a["bytes"] for a in load_manifest(models_dir / name)["artifacts"]}
            for name in names}


def end_to_end() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        seconds, stdout = run_process(["-m", "pipeline", "run", "--out", f"{tmp}/exported",
                                       "--build-dir", f"{tmp}/build"])
    stages = []
    for line in stdout.split("\nSummary\n", 1)[1].splitlines()[1:]:
        fields = line.split()
        if len(fields) == 7 and re.fullmatch(r"[0-9.]+", fields[4]):
            stages.append({"model": fields[0], "train": float(fields[4]), "evaluate": float(fields[5]),
                           "export": float(fields[6])})
    return {"total_seconds": seconds, "stages": stages}


def main(args) -> int:
    chosen = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = chosen - set(SECTIONS)
    if unknown:
        from pipeline.errors import PipelineError

        raise PipelineError(f"Unknown benchmark section(s) {', '.join(sorted(unknown))}; "
                            f"choose from: {', '.join(SECTIONS)}.")
    models_dir = Path(args.models_dir).resolve()
    figures = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine.describe()}
    if "training" in chosen or "cnn" in chosen:
        figures["training"] = {}
    if "training" in chosen:
        print("Training: the article's model, pipeline against plain program", flush=True)
        figures["training"]["article_vs_plain"] = training.article_against_plain_program(args.repeats)
        print("Training: what each speed-up gives", flush=True)
        figures["training"]["ablation"] = training.speedup_ablation()
    if "cnn" in chosen:
        print("Training: the CNN to its target accuracy", flush=True)
        figures["training"]["cnn"] = training.cnn_time_to_target()
    if "inference" in chosen:
        print("Inference: every artifact in its runtime", flush=True)
        figures["inference"] = inference.all_artifacts(models_dir)
    if "browser" in chosen:
        print("Browser: TF.js in Chromium, the Streamlit app", flush=True)
        page = browsers.page_backends(models_dir)
        figures["browser"] = {"page": page, "streamlit": browsers.streamlit_stroke_to_answer(models_dir)}
    if "sizes" in chosen:
        figures["sizes"] = {"artifacts": artifact_sizes(models_dir),
                            "site_bytes": figures.get("browser", {}).get("page", {}).get("site_bytes")}
    if "end-to-end" in chosen:
        print("End to end: python -m pipeline run", flush=True)
        figures["end_to_end"] = end_to_end()
    if "personal" in chosen:
        from pipeline.bench import personal

        print("Personalisation: a handwriting style taught k examples per digit", flush=True)
        figures["personal"] = {"accuracy": personal.accuracy_by_examples(models_dir),
                               "teaching_step": personal.teaching_step_in_chromium(models_dir),
                               "app_teaching_step": personal.teaching_step_in_app(models_dir)}
    if GPU_FIGURES.is_file():
        from pipeline.bench.gpu import markdown

        figures["gpu"] = json.loads(GPU_FIGURES.read_text())
        figures["gpu_markdown"] = markdown(figures["gpu"])

    out = Path(args.out)
    out.write_text(report.write(figures))
    out.with_name("benchmarks.json").write_text(json.dumps(
        {k: v for k, v in figures.items() if k != "gpu_markdown"}, indent=2) + "\n")
    print(f"Wrote {out} and {out.with_name('benchmarks.json')}.")
    return 0
