"""`python -m pipeline run`: train → evaluate → export → verify → publish, for one or more models."""

from __future__ import annotations

import time

from pipeline.errors import PipelineError


def timed(label: str, action):
    """Print a progress line, run `action`, return (its result, seconds taken)."""
    print(f"\n== {label}", flush=True)
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def run(models: list[str], epochs: int | None = None, out_dir: str = "exported_models",
        build_dir: str = "build", seed: int = 0, data_dir: str | None = None) -> int:
    from pipeline.evaluate import evaluate
    from pipeline.export import export
    from pipeline.train import train

    rows = []
    for name in models:
        _, train_s = timed(f"{name}: train", lambda: train(name, out_dir=build_dir, epochs=epochs, seed=seed,
                                                                    data_dir=data_dir))
        report, eval_s = timed(f"{name}: evaluate", lambda: evaluate(name, build_dir=build_dir, data_dir=data_dir))
        try:
            manifest, export_s = timed(f"{name}: export → verify → publish",
                                       lambda: export(name, build_dir=build_dir, out_dir=out_dir,
                                                      data_dir=data_dir))
        except PipelineError as exc:
            raise PipelineError(f"'{name}': {exc}") from exc
        worst = min(a["verification"]["accuracy"] for a in manifest["artifacts"])
        rows.append((name, report["accuracy"], worst, len(manifest["artifacts"]), train_s, eval_s, export_s))

    print("\nSummary")
    print(f"{'model':<8} {'test acc':>9} {'worst artifact':>15} {'artifacts':>10} "
          f"{'train s':>8} {'eval s':>7} {'export s':>9}")
    for name, accuracy, worst, count, train_s, eval_s, export_s in rows:
        print(f"{name:<8} {accuracy:>9.4f} {worst:>15.4f} {count:>10} {train_s:>8.1f} "
              f"{eval_s:>7.1f} {export_s:>9.1f}")
    print(f"All artifacts verified and published to {out_dir}/.")
    return 0
