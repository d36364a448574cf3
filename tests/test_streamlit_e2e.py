"""The Streamlit app end to end: a real `streamlit run web/app.py` on 127.0.0.1, started from another
working directory, digits drawn with the mouse in headless Chromium, the Prediction metric read back.

The canvas (streamlit-drawable-canvas 0.13) lives in a shadow root, not an iframe; Playwright's
locators pierce it. The models come from exported_models/ ($MNIST_MODELS_DIR points elsewhere).
"""

from __future__ import annotations

import pytest

from pipeline.runtime import MODELS_ENV
from tests.conftest import BROWSER_TESTS, models_dir_under_test
from tools.browser import launch, streamlit_clear, streamlit_read_digit, streamlit_server

pytestmark = BROWSER_TESTS

MODELS_DIR = models_dir_under_test(MODELS_ENV)
DIGITS = (0, 1, 2, 3, 7)         # single strokes in tools/browser.py: one rerun per digit


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Started from an unrelated directory, as a user might; stopped with SIGTERM."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    log_path = cwd / "streamlit.log"
    with streamlit_server(MODELS_DIR, cwd, log_path) as url:
        yield url
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert url.rstrip("/") in log   # web/.streamlit/config.toml: listening on 127.0.0.1 only


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server)
        yield page
        browser.close()


def test_digits_drawn_with_the_mouse_are_predicted(page):
    timings = {}
    for digit in DIGITS:
        answer, timings[digit] = streamlit_read_digit(page, digit)
        assert answer == str(digit)
        assert "LiteRT float32" in page.get_by_text(" ms (preprocessing").text_content()
        streamlit_clear(page)
    assert page.get_by_test_id("stException").count() == 0
    print("stroke to prediction, s:", {d: round(t, 2) for d, t in timings.items()})


def test_a_stroke_that_starts_at_the_very_top_edge_draws(page):
    """The canvas's floating toolbar used to lie over the top band and swallow such a stroke.

    A canvas that Clear has just mounted can show before it takes strokes (the load benchmark
    counts those): the page is loaded afresh and left to finish its run, and the stroke is tried
    a few times; under the toolbar every try drew nothing."""
    from pipeline.bench.load import INK
    from tools.browser import densify, fresh_streamlit_canvas

    page.reload()
    fresh_streamlit_canvas(page)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=30_000)
    for _ in range(5):
        canvas = fresh_streamlit_canvas(page)
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 1)   # no hover first: straight from outside
        page.mouse.down()
        for x, y in densify([(140, 1), (138, 140), (136, 275)]):
            page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.up()
        if canvas.evaluate(INK):
            break
        page.wait_for_timeout(500)
    prediction = page.get_by_test_id("stMetricValue")
    prediction.wait_for(timeout=20_000)
    assert prediction.text_content() == "1"
    top_pixel = canvas.evaluate(
        "upper => Array.from(upper.parentElement.querySelector('canvas.dc-canvas.lower-canvas')"
        ".getContext('2d').getImageData(140, 3, 1, 1).data)")
    assert top_pixel[:3] == [255, 255, 255], top_pixel   # ink from the very first pixel row on
    streamlit_clear(page)
