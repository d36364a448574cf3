"""`bench --only own`: exporting models of one's own (pipeline/own_model.py), and the page serving one.

The five models of pipeline/bench/own_models.py are trained briefly, then each is exported and verified
by `export_model` (every format, every runtime, on its held-out images); the page is then timed from
opening to its first answer for the colour MobileNetV3Small, a picture chosen with its picture input.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pipeline.bench.own_models import BUILDERS, build_all


def export_times(folder: Path) -> dict:
    """name -> seconds to export and verify, artifacts published, left out, images verified."""
    from pipeline.own_model import export_model

    models = build_all(folder / "models")
    figures = {}
    for name in BUILDERS:
        model = models[name]
        started = time.perf_counter()
        manifest = export_model(model.keras, model.data, name, out_dir=folder / "exported", verbose=False)
        figures[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "artifacts": len(manifest["artifacts"]),
            "left_out": [entry["id"] for entry in manifest["left_out"]],
            "verification_images": manifest["data"]["verification"]["images"],
            "input": manifest["input"]["shape"][1:],
            "float32_max_abs_diff": max(
                a["verification"]["max_abs_diff"] for a in manifest["artifacts"] if a["variant"] == "float32"
            ),
        }
    return {"models": figures, "samples": {name: str(models[name].sample) for name in BUILDERS}}


def side_by_side() -> dict:
    """The section's figures: export times, and the page's first answer for a model of one's own."""
    with tempfile.TemporaryDirectory(prefix="bench-own-") as tmp:
        exports = export_times(Path(tmp))
        page = page_first_answer(Path(tmp) / "exported", Path(exports["samples"]["mobilenet"]), "mobilenet")
    return {"exports": exports["models"], "page": page}


def page_first_answer(models_dir: Path, picture: Path, name: str) -> dict:
    """Seconds from opening the page on `name` to its first answer to `picture` (cold: a fresh browser
    context, nothing cached), and to a second picture once the model is loaded."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import launch, serve, stop
    from pipeline.site import build_site

    with tempfile.TemporaryDirectory(prefix="bench-own-site-") as tmp, sync_playwright() as playwright:
        url, server = serve(build_site(Path(tmp) / "site", models_dir))
        browser = launch(playwright)
        context = browser.new_context()
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{url}?model={name}")
        page.get_by_test_id("picture").set_input_files(str(picture))
        answer = page.get_by_test_id("prediction")
        answer.filter(has_text=r"\S").wait_for(timeout=60_000)
        first = time.perf_counter() - started
        label = answer.inner_text()
        started = time.perf_counter()
        page.evaluate("document.querySelector('[data-testid=prediction]').textContent = ''")
        page.get_by_test_id("picture").set_input_files(str(picture))
        answer.filter(has_text=r"\S").wait_for(timeout=60_000)
        again = time.perf_counter() - started
        browser.close()
        stop(server)
    return {
        "model": name,
        "first_answer_seconds": round(first, 2),
        "next_answer_seconds": round(again, 3),
        "label": label,
    }
