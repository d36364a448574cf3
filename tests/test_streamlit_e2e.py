"""The Streamlit app end to end: a real `streamlit run web/app.py` on 127.0.0.1, started from another
working directory, digits drawn with the mouse in headless Chromium, the Prediction metric read back.

The canvas (streamlit-drawable-canvas 0.13) lives in a shadow root, not an iframe; Playwright's
locators pierce it. The models come from exported_models/ ($MNIST_MODELS_DIR points elsewhere).
"""

from __future__ import annotations

import pytest

from pipeline.bench.browser import (
    DIGIT_STROKES,
    draw_in_streamlit,
    launch,
    streamlit_clear,
    streamlit_idle,
    streamlit_read_digit,
    streamlit_server,
)
from pipeline.runtime import MODELS_ENV
from tests.conftest import BROWSER_TESTS, models_dir_under_test

pytestmark = BROWSER_TESTS

MODELS_DIR = models_dir_under_test(MODELS_ENV)
DIGITS = (0, 1, 2, 3, 7)  # single strokes in pipeline/bench/browser.py: one rerun per digit


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Started from an unrelated directory, as a user might; stopped with SIGTERM."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    log_path = cwd / "streamlit.log"
    with streamlit_server(MODELS_DIR, cwd, log_path) as url:
        yield url
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert url.rstrip("/") in log  # web/.streamlit/config.toml: listening on 127.0.0.1 only


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server)
        yield page
        streamlit_idle(page)
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
    """The canvas's floating toolbar used to lie over the top band and swallow such a stroke."""
    from pipeline.bench.browser import densify, streamlit_canvas, stroke_painted

    canvas = streamlit_canvas(page)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 1)  # no hover first: straight from outside
    page.mouse.down()
    for x, y in densify([(140, 1), (138, 140), (136, 275)]):
        page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.up()
    assert stroke_painted(page, canvas), "the stroke drew nothing"
    prediction = page.get_by_test_id("stMetricValue")
    prediction.wait_for(timeout=20_000)
    assert prediction.text_content() == "1"
    top_pixel = canvas.evaluate(
        "upper => Array.from(upper.parentElement.querySelector('canvas.dc-canvas.lower-canvas')"
        ".getContext('2d').getImageData(140, 3, 1, 1).data)"
    )
    assert top_pixel[:3] == [255, 255, 255], top_pixel  # ink from the very first pixel row on
    streamlit_clear(page)


def test_the_first_stroke_after_clear_draws(page):
    """Clear empties the canvas in place: a digit drawn as soon as the canvas shows empty is read,
    every time (a remounted canvas used to drop such strokes now and then)."""
    from pipeline.bench.browser import streamlit_canvas, stroke_painted

    for digit in (7, 1, 0, 7, 2, 3):
        canvas = streamlit_canvas(page)
        draw_in_streamlit(page, DIGIT_STROKES[digit])
        assert stroke_painted(page, canvas), f"the first stroke after Clear drew nothing (digit {digit})"
        prediction = page.get_by_test_id("stMetricValue")
        prediction.wait_for(timeout=20_000)
        assert prediction.text_content() == str(digit)
        streamlit_clear(page)


def test_small_digits_are_read_from_their_strokes(page):
    """The drawn set's ten digits drawn 45 to 70 px tall with the mouse: with the pad's 22 px pen their
    loops and gaps are covered (read as drawn, five of them come out 8, 6 or 3), so the app reads the
    canvas's paths redrawn with a pen in proportion (pipeline/strokes.py), as the page does."""
    from pipeline.bench.browser import streamlit_canvas, stroke_painted
    from pipeline.bench.reading_sets import drawn_strokes

    read = {}
    for paths, digit, _ in drawn_strokes(count=10, seed=700, heights=(45, 70)):
        canvas = streamlit_canvas(page)
        draw_in_streamlit(page, [path.tolist() for path in paths])
        assert stroke_painted(page, canvas), f"digit {digit} drew nothing"
        streamlit_idle(page)  # a digit of two strokes is read after each: wait for the last reading
        prediction = page.get_by_test_id("stMetricValue")
        prediction.wait_for(timeout=20_000)
        read[digit] = prediction.text_content()
        streamlit_clear(page)
    print("read:", read)
    assert sum(answer == str(digit) for digit, answer in read.items()) >= 9, read
    assert page.get_by_test_id("stException").count() == 0


def test_the_pads_column_holds_the_whole_pad(page):
    """A third of the main area beside the sidebar was 265 px at this 1280 px window: the answer's column
    covered the 280 px canvas's right edge, where strokes drew nothing. The pad's column now holds it."""
    from pipeline.bench.browser import streamlit_canvas

    canvas = streamlit_canvas(page).bounding_box()
    pad_column, answer_column = (page.get_by_test_id("stColumn").nth(i).bounding_box() for i in (0, 1))
    assert pad_column["width"] >= canvas["width"], (pad_column, canvas)
    assert answer_column["x"] >= canvas["x"] + canvas["width"], (answer_column, canvas)
