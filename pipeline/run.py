"""`python -m pipeline run`: train → evaluate → export → verify → publish, for one or more models."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.events import EventLog


def run(
    models: list[str],
    epochs: int | None = None,
    out_dir: str = "exported_models",
    build_dir: str = "build",
    seed: int = 0,
    events_path: str | Path | None = None,
    signing_key: Path | None = None,
    data_dir: str | None = None,
) -> int:
    """People read a progress line per stage and a summary table; scripts read `events_path`
    (JSON Lines, see pipeline/events.py). `signing_key`: sign each published folder with it."""
    from pipeline.evaluate import evaluate
    from pipeline.export import export
    from pipeline.train import train

    events = EventLog(events_path)
    rows = []
    try:
        for name in models:
            print(f"\n== {name}: train", flush=True)
            with events.stage(name, "train") as train_time:
                train(name, out_dir=build_dir, epochs=epochs, seed=seed, data_dir=data_dir)
            print(f"\n== {name}: evaluate", flush=True)
            with events.stage(name, "evaluate") as eval_time:
                report = evaluate(name, build_dir=build_dir, data_dir=data_dir)
            print(f"\n== {name}: export → verify → publish", flush=True)
            try:
                with events.stage(name, "export") as export_time:
                    manifest = export(
                        name,
                        build_dir=build_dir,
                        out_dir=out_dir,
                        events=events,
                        signing_key=signing_key,
                        data_dir=data_dir,
                    )
            except PipelineError as exc:
                raise PipelineError(f"'{name}': {exc}") from exc
            rows.append(
                {
                    "model": name,
                    "test_accuracy": report["accuracy"],
                    "worst_artifact_accuracy": min(a["verification"]["accuracy"] for a in manifest["artifacts"]),
                    "artifacts": len(manifest["artifacts"]),
                    "train_seconds": train_time["seconds"],
                    "evaluate_seconds": eval_time["seconds"],
                    "export_seconds": export_time["seconds"],
                }
            )
        events.emit("summary", models=rows, out_dir=str(out_dir))
    finally:
        events.close()

    print("\nSummary")
    print(
        f"{'model':<8} {'test acc':>9} {'worst artifact':>15} {'artifacts':>10} "
        f"{'train s':>8} {'eval s':>7} {'export s':>9}"
    )
    for row in rows:
        print(
            f"{row['model']:<8} {row['test_accuracy']:>9.4f} {row['worst_artifact_accuracy']:>15.4f} "
            f"{row['artifacts']:>10} {row['train_seconds']:>8.1f} {row['evaluate_seconds']:>7.1f} "
            f"{row['export_seconds']:>9.1f}"
        )
    print(f"All artifacts verified and published to {out_dir}/.")
    return 0
