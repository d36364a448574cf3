"""Personalisation figures: accuracy on a handwriting style after k examples per digit, MNIST kept,
and the time one teaching step takes in Chromium (wasm).

Accuracy uses pipeline/blend.py's blend on the published model (the personal Keras model computes
exactly this; tests/test_personalize.py holds the two equal). The browser figure teaches the real page
with the mouse, so it needs the model's adaptation kit in the published manifest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

STYLE = "eastern-arabic"
KS = (0, 1, 3, 5)


def accuracy_by_examples(models_dir: Path, model: str = "cnn") -> dict:
    from pipeline import blend
    from pipeline.evaluate import mnist_test_set
    from pipeline.formats import keras_format
    from pipeline.style_set import style_set

    base = keras_format.load(models_dir / model / "model.keras")
    extractor = blend.feature_model(base)
    taught_x, taught_y = style_set(STYLE, max(KS), seed=0)
    sets = {
        "style": style_set(STYLE, 30, seed=3000),
        "standard": style_set("standard", 30, seed=4000),
        "mnist": mnist_test_set(),
    }
    figures = {name: blend.features_and_probabilities(extractor, images) for name, (images, _) in sets.items()}
    replay, _ = blend.features_and_probabilities(extractor, blend.replay_images()[0])
    rows = []
    for k in KS:
        row: dict[str, float] = {"k": k}
        if k:
            images = np.concatenate([taught_x[taught_y == d][:k] for d in range(10)])
            labels = np.repeat(np.arange(10), k)
            features, _ = blend.features_and_probabilities(extractor, blend.shifted_copies(images))
            adapter = blend.fit_adapter(features, labels, replay)
        for name, (_, truth) in sets.items():
            features, published = figures[name]
            probabilities = blend.blend(features, published, adapter) if k else published
            row[name] = round(float(np.mean(probabilities.argmax(axis=1) == truth)), 4)
        rows.append(row)
        print(
            f"  k={k}: style {row['style']:.3f}, standard {row['standard']:.3f}, MNIST {row['mnist']:.4f}",
            flush=True,
        )
    return {
        "model": model,
        "style": STYLE,
        "style_images": len(sets["style"][1]),
        "standard_images": len(sets["standard"][1]),
        "rows": rows,
    }


def teaching_step_in_chromium(models_dir: Path, steps: int = 20) -> dict | None:
    """Median time of one teaching step (features of the example and its shifts, prototypes) on wasm."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import draw, launch, serve, wait_for_prediction, wait_for_status
    from pipeline.manifest import load_manifest
    from pipeline.site import build_site
    from pipeline.style_set import strokes

    manifest = load_manifest(models_dir / "cnn")
    if "adaptation" not in manifest:
        return None
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-teach-") as tmp:
        url, server = serve(build_site(Path(tmp) / "site", models_dir))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1000, "height": 900})
                page.goto(f"{url}?backend=wasm")
                wait_for_status(page, "ready", timeout_ms=90_000)
                for step in range(steps):
                    digit = step % 10
                    draw(page, [[tuple(p) for p in line] for line in strokes(STYLE, digit, step)])
                    wait_for_prediction(page)
                    page.get_by_test_id(f"teach-{digit}").click()
                    page.wait_for_function(
                        f"() => parseInt(document.querySelector('[data-testid=examples]').textContent) "
                        f"=== {step + 1}"
                    )
                    times.append(page.evaluate("window.__teachMs"))
                browser.close()
        finally:
            server.shutdown()
    print(f"  teaching step in Chromium (wasm): median {np.median(times):.1f} ms", flush=True)
    return {
        "backend": "wasm",
        "steps": steps,
        "median_ms": round(float(np.median(times)), 1),
        "max_ms": round(float(max(times)), 1),
    }


def teaching_step_in_app(models_dir: Path, steps: int = 30) -> dict | None:
    """What the app computes after each teach click: the kit's features of every example's shifts
    (LiteRT, as web/personal.py does) and the fit; the median over 1..`steps` examples."""
    import time

    from pipeline import blend
    from pipeline.runtime import AdaptationKit
    from pipeline.style_set import style_set

    kit = AdaptationKit.load(models_dir / "cnn")
    if kit is None:
        return None
    images, labels = style_set(STYLE, steps // 10 + 1, seed=0)
    times = []
    for n in range(1, steps + 1):
        started = time.perf_counter()
        features, _ = kit.features(blend.shifted_copies(images[:n]))
        blend.fit_adapter(features, labels[:n], kit.replay)
        times.append((time.perf_counter() - started) * 1000)
    print(f"  teaching step in the app (LiteRT): median {np.median(times):.1f} ms", flush=True)
    return {
        "runtime": "LiteRT",
        "steps": steps,
        "median_ms": round(float(np.median(times)), 1),
        "max_ms": round(float(max(times)), 1),
    }


def markdown(figures: dict) -> str:
    rows = figures["accuracy"]["rows"]
    lines = [
        f"`{figures['accuracy']['model']}` taught k drawings per digit of the "
        f"{figures['accuracy']['style']} style (pipeline/style_set.py); accuracy on "
        f"{figures['accuracy']['style_images']} new drawings of the style, "
        f"{figures['accuracy']['standard_images']} standard digits and the 10,000 MNIST test images.",
        "",
        "| k per digit | style | standard digits | MNIST test |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['k']} | {r['style']:.3f} | {r['standard']:.3f} | {r['mnist']:.4f} |" for r in rows]
    teach = figures.get("teaching_step")
    if teach:
        lines += [
            "",
            f"One teaching step in Chromium (wasm): median **{teach['median_ms']} ms**, max "
            f"{teach['max_ms']} ms over {teach['steps']} steps.",
        ]
    else:
        lines += [
            "",
            "The teaching step was not timed: the published manifest has no adaptation kit "
            "(republish with `make run`).",
        ]
    app = figures.get("app_teaching_step")
    if app:
        lines += [
            "",
            f"One teaching step's adaptation in the app (the kit's .tflite on LiteRT, every "
            f"example's shifts refitted, 1 to {app['steps']} examples): median "
            f"**{app['median_ms']} ms**, max {app['max_ms']} ms.",
        ]
    return "\n".join(lines) + "\n"
