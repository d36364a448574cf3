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


ANSWERED = "name => document.querySelector('[data-testid=prediction]').dataset.picture === name"


def page_first_answer(models_dir: Path, picture: Path, name: str) -> dict:
    """Seconds from opening the page on `name` (a fresh browser context: nothing cached) to its first
    answer to `picture`, chosen with the picture input as soon as it shows; then to a second picture,
    the model loaded."""
    import shutil

    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import launch, serve, stop
    from pipeline.site import build_site

    with tempfile.TemporaryDirectory(prefix="bench-own-site-") as tmp, sync_playwright() as playwright:
        url, server = serve(build_site(Path(tmp) / "site", models_dir))
        first_picture, second_picture = (shutil.copy(picture, Path(tmp) / f"{n}{picture.suffix}") for n in "ab")
        browser = launch(playwright)
        page = browser.new_context().new_page()
        started = time.perf_counter()
        page.goto(f"{url}?model={name}&backend=wasm")
        page.get_by_test_id("picture").set_input_files(str(first_picture))  # waits until it is shown
        page.wait_for_function(ANSWERED, arg=Path(first_picture).name, timeout=120_000)
        first = time.perf_counter() - started
        label = page.get_by_test_id("prediction").inner_text()
        started = time.perf_counter()
        page.get_by_test_id("picture").set_input_files(str(second_picture))
        page.wait_for_function(ANSWERED, arg=Path(second_picture).name, timeout=60_000)
        again = time.perf_counter() - started
        stop(server)  # first: a request still in flight when the browser closes would break its pipe
        browser.close()
    return {
        "model": name,
        "first_answer_seconds": round(first, 2),
        "next_answer_seconds": round(again, 3),
        "label": label,
    }
