"""Inference speed of every published artifact in its own runtime, batch 1 and batch 1000."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.bench.stats import summary
from pipeline.formats import format_module, timed_calls
from pipeline.manifest import check_files, load_manifest, read_index

BATCH = 1000


def python_runtime(module, loaded, images: np.ndarray, repeats: int) -> dict:
    """What the apps get: the format module's predict (Keras: its traced call for one image)."""
    one = images[:1]
    single = lambda: module.predict(loaded, one)  # noqa: E731
    batch = lambda: module.predict(loaded, images)  # noqa: E731
    latency = summary(timed_calls(single, repeats))
    batch_ms = summary(timed_calls(batch, 5, warmup=1))["median"]
    return {
        "latency_ms": latency["median"],
        "latency_p99_ms": latency["p99"],
        "throughput_per_s": len(images) / (batch_ms / 1000),
    }


def all_artifacts(models_dir: Path, repeats: int = 300) -> list[dict]:
    from pipeline.evaluate import mnist_test_set
    from pipeline.formats import tfjs

    images = np.ascontiguousarray(mnist_test_set()[0][:BATCH])
    rows = []
    names, _ = read_index(models_dir)
    for name in names:
        folder = Path(models_dir) / name
        for artifact in load_manifest(folder)["artifacts"]:
            path = check_files(folder, artifact)
            module = format_module(artifact["format"])
            if module.NAME == "tfjs":
                _, figures = tfjs.run_node(path, images, latency_repeats=repeats)
                figures = {k: figures[k] for k in ("latency_ms", "latency_p99_ms", "throughput_per_s")}
            else:
                figures = python_runtime(module, module.load(path, artifact["variant"]), images, repeats)
            rows.append(
                {
                    "model": name,
                    "artifact": artifact["id"],
                    "runtime": module.RUNTIME,
                    "bytes": artifact["bytes"],
                    **figures,
                }
            )
            print(
                f"  {name} {artifact['id']:<15} p50 {figures['latency_ms']:.3f} ms, "
                f"{figures['throughput_per_s']:.0f} img/s",
                flush=True,
            )
    return rows
