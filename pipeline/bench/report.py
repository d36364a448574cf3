"""BENCHMARKS.md from the benchmark's figures (the same figures go to benchmarks.json)."""

from __future__ import annotations

from pathlib import Path

from pipeline.bench.training import MNIST_ONLY_RECIPE, SERVED_RECIPE
from pipeline.verify import human_bytes

# How the served CNN recipe was chosen: written by hand from the side-by-side ablation runs it
# describes (candidate recipes are not part of the bench), kept with the figures it explains.
CNN_ABLATION = Path(__file__).with_name("cnn_ablation.md")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(machine: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return (
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; memory {machine['memory_gib']} GiB; "
        f"{machine['os']}\n- Training device: {machine['training_device']}\n- Software: {versions}"
    )


def training_section(figures: dict) -> str:
    parts = []
    pairs = figures.get("article_vs_plain")
    if pairs:
        parts.append(
            "### The article's model: the pipeline against the article's own program\n\n"
            "Whole process against whole process (Python start-up, imports, data loading, 20 epochs "
            "at batch 32 on all 60,000 images, SGD 0.01), alternating which runs first.\n\n"
            + table(
                ["", "median wall time", "runs", "test accuracy"],
                [
                    [
                        "`python -m pipeline train --model article --validation-fraction 0`",
                        f"{pairs['pipeline_seconds']['median']:.1f} s",
                        pairs["pipeline_seconds"]["n"],
                        ", ".join(f"{a:.4f}" for a in pairs["pipeline_accuracy"]),
                    ],
                    [
                        "`python -m pipeline.bench.article_program` (plain `fit`)",
                        f"{pairs['plain_seconds']['median']:.1f} s",
                        pairs["plain_seconds"]["n"],
                        ", ".join(f"{a:.4f}" for a in pairs["plain_accuracy"]),
                    ],
                ],
            )
            + f"\n\n**Speed-up: {pairs['speedup']:.1f}×** (per pair: "
            f"{', '.join(f'{r}×' for r in pairs['speedup_per_pair'])})."
        )
    ablation = figures.get("ablation")
    if ablation:
        base = next(iter(ablation["seconds_per_epoch"].values()))
        parts.append(
            f"### What each speed-up gives (article model, seconds per epoch, median of "
            f"{ablation['epochs_timed']} epochs after a warm-up one)\n\n"
            + table(
                ["setting", "s / epoch", "vs plain fit"],
                [
                    [name, f"{seconds:.3f}", f"{base / seconds:.1f}×"]
                    for name, seconds in ablation["seconds_per_epoch"].items()
                ],
            )
        )
    recipes = figures.get("cnn_recipes")
    if recipes:
        parts.append(cnn_recipes_section(recipes))
    parts.append(CNN_ABLATION.read_text().strip())
    return "\n\n".join(parts)


def describe_recipe(recipe: dict) -> str:
    rate = recipe["learning_rate"]
    schedule = (
        f"{rate['schedule']} {rate['initial']:g} → {rate['peak']:g} → {rate['peak'] * rate['final_fraction']:.2g}"
        if rate["schedule"] == "one-cycle"
        else f"constant {rate['peak']:g}"
    )
    return (
        f"`{recipe['architecture']}`, {recipe['epochs']} epochs, batch {recipe['batch_size']}, "
        f"{recipe['optimizer']} ({schedule})"
    )


def cnn_recipes_section(figures: dict) -> str:
    """The CNN's recipes, trained in the same run, epochs alternating: time, MNIST and, where measured,
    what each final model reads beyond MNIST."""
    names = list(figures["recipes"])
    rows = []
    for name, run in figures["recipes"].items():
        reached = (
            f"{run['seconds_to_target']:.0f} s (epoch {run['epoch_reaching_target']})"
            if run["seconds_to_target"] is not None
            else "not reached"
        )
        rows.append(
            [
                name,
                describe_recipe(run["recipe"]),
                f"{run['parameters']:,}",
                reached,
                f"{run['total_seconds']:.0f} s",
                f"{run['final_accuracy']:.4f}",
            ]
        )
    first = figures["recipes"][names[0]]
    ratio = ""
    for name in names[1:]:
        other = figures["recipes"][name]
        if first["seconds_to_target"] and other["seconds_to_target"]:
            ratio += (
                f"\n\n{name[0].upper() + name[1:]} against {names[0]}: time to {figures['target']} **"
                f"{first['seconds_to_target'] / other['seconds_to_target']:.1f}× faster**; whole run "
                f"{first['total_seconds'] / other['total_seconds']:.1f}× faster."
            )
    served = figures["recipes"].get(SERVED_RECIPE)
    replaced = figures["recipes"].get(MNIST_ONLY_RECIPE)
    if served and replaced:
        seconds, before = served["total_seconds"], replaced["total_seconds"]
        ratio += (
            f"\n\n{SERVED_RECIPE.capitalize()} against {MNIST_ONLY_RECIPE}: "
            f"**{seconds / before:.2f}× the training time** ({seconds:.0f} s against {before:.0f} s)."
        )
    beyond = {
        name: run["out_of_distribution"]
        for name, run in figures["recipes"].items()
        if "out_of_distribution" in run
    }
    if beyond:
        set_names = list(next(iter(beyond.values())))
        ratio += (
            "\n\nWhat each final model reads beyond MNIST, through today's reading recipe "
            "(pipeline/bench/reading_sets.py; a refused digit counts as wrong):\n\n"
            + table(
                ["recipe", "MNIST test", *set_names],
                [
                    [name, f"{figures['recipes'][name]['final_accuracy']:.4f}"]
                    + [f"{shares[k]:.3f}" for k in set_names]
                    for name, shares in beyond.items()
                ],
            )
        )
    epochs = max(len(run["epochs"]) for run in figures["recipes"].values())
    per_epoch = [
        [e + 1]
        + [
            (
                f"{run['epochs'][e]['seconds']:.0f} s, {run['epochs'][e]['test_accuracy']:.4f}"
                if e < len(run["epochs"])
                else ""
            )
            for run in figures["recipes"].values()
        ]
        for e in range(epochs)
    ]
    return (
        f"### The CNN on {figures['device']}: its recipes side by side\n\n"
        "All trained in the same process, one epoch of each in turn (the order alternating), "
        "so all see the same machine load; training time only (test scoring excluded).\n\n"
        + table(
            [
                "recipe",
                "settings",
                "parameters",
                f"time to test accuracy ≥ {figures['target']}",
                "all epochs",
                "final test accuracy",
            ],
            rows,
        )
        + ratio
        + "\n\n"
        + table(["epoch"] + [f"{name}: time so far, test accuracy" for name in names], per_epoch)
    )


def load_section(runs: list[dict]) -> str:
    rows = [
        [
            r["sessions"],
            r["answers"],
            f"{r['correct']}/{r['answers']}",
            f"{r['answers_per_second']:.2f}",
            f"{r['stroke_to_answer_p50_s']:.2f} s",
            f"{r['stroke_to_answer_p95_s']:.2f} s",
            r.get("drawings_redrawn", 0),
            len(r["errors"]),
            human_bytes(r["server_rss_start_bytes"] or 0),
            human_bytes(r["server_rss_peak_bytes"] or 0),
        ]
        for r in runs
    ]
    return (
        "One `streamlit run web/app.py` on 127.0.0.1; N headless Chromium pages (one browser, "
        "a context each: N Streamlit sessions) draw digits with the mouse at the same time, each "
        "waiting for its answer, clearing and drawing the next. Stroke-to-answer runs from "
        "mouse-up to the Prediction metric on screen. The browsers run on the same cores as the "
        "server, so this measures the whole set-up on this machine, not the server alone.\n\n"
        + table(
            [
                "sessions",
                "answers",
                "right",
                "answers / s",
                "stroke → answer p50",
                "p95",
                "drawings redrawn",
                "errors",
                "server RSS at start",
                "server RSS peak",
            ],
            rows,
        )
        + "\n\nA drawing is redrawn when it left no ink on the canvas (a real user would see the "
        "stroke vanish and draw again). When Clear mounted a new canvas, that canvas could show "
        "before it took strokes: 16 of 50 drawings (10 sessions) and 33 of 100 (20 sessions) "
        "were redrawn; Clear now empties the same canvas. Errors: a page that did not load, no "
        "answer within 90 s, a wrong answer, an exception box, a traceback in the server log."
    )


def inference_section(rows: list[dict]) -> str:
    return (
        "Batch 1: median and 99th percentile of single-image calls (Keras: the model's call "
        "traced once as a tf.function; one LiteRT thread; one ONNX Runtime thread). "
        "Batch 1000: images per second.\n\n"
        + table(
            ["model", "artifact", "runtime", "size", "batch 1 p50", "batch 1 p99", "batch 1000"],
            [
                [
                    r["model"],
                    r["artifact"],
                    r["runtime"],
                    human_bytes(r["bytes"]),
                    f"{r['latency_ms']:.3f} ms",
                    f"{r['latency_p99_ms']:.3f} ms",
                    f"{r['throughput_per_s']:,.0f}/s",
                ]
                for r in rows
            ],
        )
    )


def signing_section(figures: dict) -> str:
    rows = [
        [r["model"], r["files"], human_bytes(r["bytes"]), f"{r['sign_ms']:.1f} ms", f"{r['verify_ms']:.1f} ms"]
        for r in figures["folders"]
    ]
    return (
        "OpenSSF model signing (`model-signing`, elliptic-curve P-256 key, offline): the whole "
        "published folder, every file hashed, in one process after a warm-up; median of 10.\n\n"
        + table(["model", "files", "folder size", "sign", "verify"], rows)
        + f"\n\nImporting the library costs **{figures['import_seconds']:.1f} s** once per process "
        "(a `predict --public-key` command pays it; a running app pays it once)."
    )


def browser_section(figures: dict) -> str:
    parts = []
    page = figures.get("page")
    if page:
        rows = [
            [
                backend,
                r["key"],
                f"{r['latency_ms']:.2f} ms",
                f"{r['latency_p99_ms']:.2f} ms",
                f"{r['throughput_per_s']:,.0f}/s",
            ]
            for backend, results in page["backends"].items()
            for r in results
        ]
        parts.append(
            "TF.js in headless Chromium (Debian's chromium, no GPU: WebGL runs on "
            "SwiftShader, a software rasteriser), the page's own loading code:\n\n"
            + table(["backend", "model", "batch 1 p50", "batch 1 p99", "batch 1000"], rows)
        )
    app = figures.get("streamlit")
    if app:
        seconds = sorted(app["seconds"])
        parts.append(
            f"Streamlit app, mouse-up to the Prediction metric in Chromium: median "
            f"**{seconds[len(seconds) // 2]:.2f} s** (min {seconds[0]:.2f}, max {seconds[-1]:.2f}; "
            f"{app['correct']}/{app['drawn']} drawn digits read right)."
        )
    return "\n\n".join(parts)


def offline_section(figures: dict) -> str:
    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    rounds = figures["visits"]["rounds"]
    pick = lambda key: median(r[key] for r in rounds)  # noqa: E731
    parts = [
        f"Measured on {figures.get('measured', 'the date above')}. "
        f"The page as an installed app ({figures['visits']['profile']}; the page's own clock from "
        f"navigation start to `ready`, median of {len(rounds)} fresh profiles; bytes are what the "
        "local server sent):\n\n"
        + table(
            ["visit", "time to ready", "downloaded"],
            [
                [
                    "first (nothing cached)",
                    f"{pick('first_ready_ms'):.0f} ms",
                    f"{human_bytes(pick('first_bytes_to_ready'))} to ready; "
                    f"{human_bytes(pick('first_bytes_installed'))} once the service worker has "
                    "saved everything for offline use",
                ],
                [
                    "repeat (from the service worker's cache)",
                    f"{pick('repeat_ready_ms'):.0f} ms",
                    human_bytes(pick("repeat_bytes")),
                ],
                ["offline (server stopped)", f"{pick('offline_ready_ms'):.0f} ms", "0 B"],
            ],
        )
        + "\n\nA repeat visit's only download is the page's network probe (the offline line); the "
        "service worker starts saving files once the page is ready, revalidating what the page "
        "has just downloaded rather than fetching it twice."
    ]
    isolation = figures.get("wasm_isolation")
    if isolation:
        rows = []
        for name, label in (
            ("plain", "as served by `make serve`"),
            ("coop_coep", "with COOP/COEP (cross-origin isolated)"),
        ):
            runs = isolation[name]
            rows.append(
                [
                    label,
                    ", ".join(runs[0]["wasm"]) or "?",
                    runs[0]["threads"],
                    f"{median(r['batch1_ms'] for r in runs):.2f} ms",
                    f"{median(r['batch100_ms'] for r in runs):.1f} ms",
                ]
            )
        parts.append(
            "TF.js's WASM backend with and without cross-origin isolation (the default "
            "model, medians of alternating runs). TF.js gives the threaded binary half "
            "the cores: with one thread, as on this 2-core machine, both rows do the same "
            "work and differ by the shared machine's noise; more threads help batches, "
            "not the page's one drawing at a time. The threaded binary also needs `blob:` "
            "scripts and workers in the page's CSP. So the page keeps the SIMD binary and "
            "`make serve` sends no COOP/COEP headers:\n\n"
            + table(["page", "binary loaded", "threads", "batch 1", "batch 100"], rows)
        )
    return "\n\n".join(parts)


def sizes_section(sizes: dict) -> str:
    rows = [
        [model, artifact, human_bytes(size)]
        for model, artifacts in sizes["artifacts"].items()
        for artifact, size in artifacts.items()
    ]
    text = table(["model", "artifact", "size"], rows)
    if sizes.get("site_bytes"):
        text += (
            f"\n\nThe static site (`python -m pipeline site`), everything a host serves: "
            f"**{human_bytes(sizes['site_bytes'])}**."
        )
    return text


def end_to_end_section(e2e: dict) -> str:
    rows = [
        [r["model"], f"{r['train']:.0f} s", f"{r['evaluate']:.0f} s", f"{r['export']:.0f} s"]
        for r in e2e["stages"]
    ]
    return (
        f"`python -m pipeline run` (the README's main command, after setup): "
        f"**{e2e['total_seconds'] / 60:.1f} minutes** in all.\n\n"
        + table(["model", "train", "evaluate", "export + verify + publish"], rows)
    )


def gpu_section(figures: dict) -> str:
    """benchmarks-gpu.json, written by tools/gpu_benchmark.py on a GPU machine."""
    rows = [
        "| model | precision | epochs | batch | training time | later epochs | test accuracy | "
        "batch 1 p50 | batch 1000 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in figures["runs"]:
        later = f"{r['later_epoch_seconds']:.2f} s" if r["later_epoch_seconds"] is not None else "–"
        rows.append(
            f"| {r['model']} | {'mixed float16' if r['mixed_precision'] else 'float32'} | "
            f"{r['epochs']} | {r['batch_size']} | {r['train_seconds']:.1f} s | {later} | "
            f"{r['test_accuracy']:.4f} | {r['latency_ms']:.2f} ms | {r['throughput_per_s']:,.0f}/s |"
        )
    return (
        f"Measured on {figures['device']} ({figures['host']}), {figures['date']}, with "
        f"{figures['software']}: Keras 3 on JAX, because that machine has no TensorFlow. Same "
        "architectures, optimizers, batch sizes and epochs as the pipeline; plain `fit` on "
        "arrays and **no augmentation** (it is a tf.data stage), so the CNN's accuracy is not the "
        "published model's. Training time includes compilation (the first epoch).\n\n" + "\n".join(rows)
    )


def reading_section(figures: dict) -> str:
    recipes = [name for name in ("before", "today") if name in next(iter(figures["sets"].values()))]
    header = ["set", "images"] + [f"right, recipe {name}" for name in recipes]
    header += [f"real digits refused, {name}" for name in recipes]
    rows = []
    for set_name, by_recipe in figures["sets"].items():
        refused = [by_recipe[name]["digits_refused"] for name in recipes]
        rows.append(
            [set_name, by_recipe["today"]["count"]]
            + [f"{by_recipe[name]['right']:.4f}" for name in recipes]
            + ["" if value is None else f"{value:.4f}" for value in refused]
        )
    mnist = figures["mnist"]
    rows.append(
        ["MNIST test", mnist["today"]["count"]]
        + [f"{mnist[name]['right']:.4f}" for name in recipes]
        + [f"{mnist[name]['refused']:.4f}" for name in recipes]
    )
    baseline = figures["baseline"]
    before = f" and the recipe before it (pipeline/preprocess.py at {baseline})" if baseline else ""
    page, timing = figures["page_photos"], figures["twelve_megapixels"]
    return (
        f"Generated sets (pipeline/bench/reading_sets.py) read by today's recipe{before}, with the "
        f'published `{figures["model"]}` on LiteRT. "Right" for the not-one-digit set means refused. '
        "The pad sizes are MNIST test digits redrawn along their centre lines, the drawn set the standard "
        'digits the browser tests draw with the mouse, with the pad\'s 22 px pen; "as the pad reads them": '
        "their paths redrawn with a pen in proportion (pipeline/strokes.py), where the recipe before read "
        "the canvas as drawn.\n\n"
        + table(header, rows)
        + f"\n\nThe page's Photo recipe (photo.js, preprocess.js, TF.js) on the first {page['count']} photos "
        f"in Chromium: **{page['right']:.4f}** right, the same answer as Python for "
        f"**{page['same_as_python']:.4f}**. "
        f"Reading one 12-megapixel JPEG (decode + preprocess): **{timing['python_seconds']:.2f} s** in Python, "
        f"**{timing['chromium_seconds']:.2f} s** in Chromium."
        + mouse_sentence(figures.get("drawn_with_the_mouse"))
    )


def mouse_sentence(mouse: dict | None) -> str:
    """The drawn set drawn with the mouse on the page and in the app (absent from older figures)."""
    if not mouse:
        return ""
    return (
        f" The drawn set ({mouse['page']['count']} digits, 40 to 250 px tall) drawn with the mouse in Chromium: "
        f"**{mouse['page']['right']:.4f}** read right on the page, **{mouse['app']['right']:.4f}** in the "
        "Streamlit app."
    )


def own_section(figures: dict) -> str:
    rows = [
        [
            name,
            "×".join(str(n) for n in model["input"]),
            model["verification_images"],
            model["artifacts"],
            ", ".join(model["left_out"]) or "none",
            f"{model['float32_max_abs_diff']:.1e}",
            f"{model['seconds']:.1f}",
        ]
        for name, model in figures["exports"].items()
    ]
    header = [
        "model",
        "input",
        "images verified",
        "artifacts",
        "left out",
        "float32 max diff",
        "export + verify s",
    ]
    page = figures["page"]
    return (
        "The five models of pipeline/bench/own_models.py (not designed here: keras.io's MNIST convnet, "
        "MobileNetV3Small on colour images, a Rescaling model, a logits model, the article's flat model), "
        "each exported by `export --keras-model` to every format and verified in every runtime "
        "(TF.js in Node) on its held-out images.\n\n"
        + table(header, rows)
        + f"\n\nThe page serving `{page['model']}` in Chromium (fresh context, nothing cached): "
        f"**{page['first_answer_seconds']:.2f} s** from opening the page to its first answer to a picture "
        f'("{page["label"]}"), **{page["next_answer_seconds"] * 1000:.0f} ms** for the next picture.'
    )


def write(figures: dict) -> str:
    updated = (
        f" (sections {', '.join(figures['updated'])} on that date with `--merge`; the others "
        "in an earlier full run)"
        if figures.get("updated")
        else ""
    )
    sections = [
        f"# Benchmarks\n\nWritten by `python -m pipeline bench` on {figures['date']}{updated}. "
        "Timings are medians over repeated runs; ratios compare two sides measured "
        "alternately in the same run. The same figures are in `benchmarks.json`.",
        "## Machine\n\n" + machine_section(figures["machine"]),
    ]
    if figures.get("training"):
        sections.append("## Training\n\n" + training_section(figures["training"]))
    if figures.get("inference"):
        sections.append("## Inference\n\n" + inference_section(figures["inference"]))
    if figures.get("reading"):
        sections.append("## Reading photos, pens and sizes\n\n" + reading_section(figures["reading"]))
    if figures.get("own"):
        sections.append("## Your own model\n\n" + own_section(figures["own"]))
    if figures.get("signing"):
        sections.append("## Signing\n\n" + signing_section(figures["signing"]))
    if figures.get("browser"):
        sections.append("## In the browser\n\n" + browser_section(figures["browser"]))
    if figures.get("offline"):
        sections.append("## The page offline, on a phone\n\n" + offline_section(figures["offline"]))
    if figures.get("load"):
        sections.append("## The Streamlit app under load\n\n" + load_section(figures["load"]))
    if figures.get("sizes"):
        sections.append("## Sizes\n\n" + sizes_section(figures["sizes"]))
    if figures.get("end_to_end"):
        sections.append("## End to end\n\n" + end_to_end_section(figures["end_to_end"]))
    if figures.get("personal"):
        from pipeline.bench.personal import markdown

        sections.append("## Personalisation\n\n" + markdown(figures["personal"]))
    sections.append(
        "## GPU\n\n"
        + (
            gpu_section(figures["gpu"])
            if figures.get("gpu")
            else "GPU figures are not yet measured: no GPU was at hand."
        )
    )
    return "\n\n".join(sections) + "\n"
