"""BENCHMARKS.md from the benchmark's figures (the same figures go to benchmarks.json)."""

from __future__ import annotations

from pipeline.verify import human_bytes


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(machine: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return (f"- CPU: {machine['cpu']}, {machine['cores']} cores; memory {machine['memory_gib']} GiB; "
            f"{machine['os']}\n- Training device: {machine['training_device']}\n- Software: {versions}")


def training_section(figures: dict) -> str:
    parts = []
    pairs = figures.get("article_vs_plain")
    if pairs:
        parts.append(
            "### The article's model: the pipeline against the article's own program\n\n"
            "Whole process against whole process (Python start-up, imports, data loading, 20 epochs "
            "at batch 32 on all 60,000 images, SGD 0.01), alternating which runs first.\n\n" + table(
                ["", "median wall time", "runs", "test accuracy"],
                [["`python -m pipeline train --model article --validation-fraction 0`",
                  f"{pairs['pipeline_seconds']['median']:.1f} s", pairs["pipeline_seconds"]["n"],
                  ", ".join(f"{a:.4f}" for a in pairs["pipeline_accuracy"])],
                 ["`python -m pipeline.article_program` (plain `fit`)",
                  f"{pairs['plain_seconds']['median']:.1f} s", pairs["plain_seconds"]["n"],
                  ", ".join(f"{a:.4f}" for a in pairs["plain_accuracy"])]])
            + f"\n\n**Speed-up: {pairs['speedup']:.1f}×** (per pair: "
              f"{', '.join(f'{r}×' for r in pairs['speedup_per_pair'])}).")
    ablation = figures.get("ablation")
    if ablation:
        base = next(iter(ablation["seconds_per_epoch"].values()))
        parts.append(
            f"### What each speed-up gives (article model, seconds per epoch, median of "
            f"{ablation['epochs_timed']} epochs after a warm-up one)\n\n" + table(
                ["setting", "s / epoch", "vs plain fit"],
                [[name, f"{seconds:.3f}", f"{base / seconds:.1f}×"]
                 for name, seconds in ablation["seconds_per_epoch"].items()]))
    cnn = figures.get("cnn")
    if cnn:
        reached = (f"{cnn['seconds_to_target']:.0f} s (epoch {cnn['epoch_reaching_target']})"
                   if cnn["seconds_to_target"] is not None else "not reached")
        parts.append(
            f"### The CNN on {cnn['device']}\n\nTime to test accuracy ≥ {cnn['target']}: **{reached}**; "
            f"all {len(cnn['epochs'])} epochs: {cnn['total_seconds']:.0f} s (evaluation excluded).\n\n"
            + table(["epoch", "training time so far", "test accuracy"],
                    [[r["epoch"], f"{r['seconds']:.0f} s", f"{r['test_accuracy']:.4f}"]
                     for r in cnn["epochs"]]))
    return "\n\n".join(parts)


def inference_section(rows: list[dict]) -> str:
    return ("Batch 1: median and 99th percentile of single-image calls (the model called directly "
            "for Keras, one LiteRT thread). Batch 1000: images per second.\n\n" + table(
                ["model", "artifact", "runtime", "size", "batch 1 p50", "batch 1 p99", "batch 1000"],
                [[r["model"], r["artifact"], r["runtime"], human_bytes(r["bytes"]),
                  f"{r['latency_ms']:.3f} ms", f"{r['latency_p99_ms']:.3f} ms",
                  f"{r['throughput_per_s']:,.0f}/s"] for r in rows]))


def browser_section(figures: dict) -> str:
    parts = []
    page = figures.get("page")
    if page:
        rows = [[backend, r["key"], f"{r['latency_ms']:.2f} ms", f"{r['latency_p99_ms']:.2f} ms",
                 f"{r['throughput_per_s']:,.0f}/s"]
                for backend, results in page["backends"].items() for r in results]
        parts.append("TF.js in headless Chromium (Debian's chromium, no GPU: WebGL runs on "
                     "SwiftShader, a software rasteriser), the page's own loading code:\n\n"
                     + table(["backend", "model", "batch 1 p50", "batch 1 p99", "batch 1000"], rows))
    app = figures.get("streamlit")
    if app:
        seconds = sorted(app["seconds"])
        parts.append(f"Streamlit app, mouse-up to the Prediction metric in Chromium: median "
                     f"**{seconds[len(seconds) // 2]:.2f} s** (min {seconds[0]:.2f}, max {seconds[-1]:.2f}; "
                     f"{app['correct']}/{app['drawn']} drawn digits read right).")
    return "\n\n".join(parts)


def sizes_section(sizes: dict) -> str:
    rows = [[model, artifact, human_bytes(size)] for model, artifacts in sizes["artifacts"].items()
            for artifact, size in artifacts.items()]
    text = table(["model", "artifact", "size"], rows)
    if sizes.get("site_bytes"):
        text += (f"\n\nThe static site (`python -m pipeline site`), everything a host serves: "
                 f"**{human_bytes(sizes['site_bytes'])}**.")
    return text


def end_to_end_section(e2e: dict) -> str:
    rows = [[r["model"], f"{r['train']:.0f} s", f"{r['evaluate']:.0f} s", f"{r['export']:.0f} s"]
            for r in e2e["stages"]]
    return (f"`python -m pipeline run` (the README's main command, after setup): "
            f"**{e2e['total_seconds'] / 60:.1f} minutes** in all.\n\n"
            + table(["model", "train", "evaluate", "export + verify + publish"], rows))


def write(figures: dict) -> str:
    sections = [f"# Benchmarks\n\nWritten by `python -m pipeline bench` on {figures['date']}. "
                "Timings are medians over repeated runs; ratios compare two sides measured "
                "alternately in the same run. The same figures are in `benchmarks.json`.",
                "## Machine\n\n" + machine_section(figures["machine"])]
    if figures.get("training"):
        sections.append("## Training\n\n" + training_section(figures["training"]))
    if figures.get("inference"):
        sections.append("## Inference\n\n" + inference_section(figures["inference"]))
    if figures.get("browser"):
        sections.append("## In the browser\n\n" + browser_section(figures["browser"]))
    if figures.get("sizes"):
        sections.append("## Sizes\n\n" + sizes_section(figures["sizes"]))
    if figures.get("end_to_end"):
        sections.append("## End to end\n\n" + end_to_end_section(figures["end_to_end"]))
    if figures.get("personal"):
        from pipeline.bench.personal import markdown

        sections.append("## Personalisation\n\n" + markdown(figures["personal"]))
    sections.append("## GPU\n\n" + (figures.get("gpu_markdown") or
                                     "GPU figures are not yet measured: no GPU was at hand."))
    return "\n\n".join(sections) + "\n"
