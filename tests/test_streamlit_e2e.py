"""The Streamlit app end to end: a real `streamlit run web/app.py` on 127.0.0.1, started from another
working directory, digits drawn with the mouse in headless Chromium, the Prediction metric read back.

The canvas (streamlit-drawable-canvas 0.13) lives in a shadow root, not an iframe; Playwright's
locators pierce it. The models come from exported_models/ ($MNIST_MODELS_DIR points elsewhere).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, DIGIT_STROKES, densify, launch
from web import serving

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed "
                                "(apt-get install chromium); the browser tests need it")

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "web" / "app.py"
MODELS_DIR = Path(os.environ.get(serving.MODELS_ENV) or ROOT / "exported_models")
CANVAS = "canvas.upper-canvas"   # fabric.js's input layer, inside the component's shadow root
DIGITS = (0, 1, 2, 3, 7)         # single strokes in tests/browser.py: one rerun per digit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run` as a user would, from an unrelated directory; stopped with SIGTERM."""
    port, cwd = free_port(), tmp_path_factory.mktemp("elsewhere")
    log_path = cwd / "streamlit.log"
    env = {**os.environ, serving.MODELS_ENV: str(MODELS_DIR)}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
             "--server.headless", "true"], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "_stcore/health", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("streamlit did not stop within 15 s of SIGTERM")
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


def fresh_canvas(page):
    """The canvas the app shows now; Clear replaces it, and the old one is marked stale."""
    canvas = page.get_by_test_id("stBidiComponentIsolated").locator(f"{CANVAS}:not([data-stale])")
    canvas.wait_for(timeout=30_000)
    return canvas


def draw(page, strokes) -> float:
    """Drag the mouse along `strokes` (canvas pixels); returns the time of the last mouse-up."""
    canvas = fresh_canvas(page)
    canvas.hover()   # the toolbar appears on hover: measure the canvas after it has
    box = canvas.bounding_box()
    for stroke in strokes:
        points = densify(stroke)
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.up()
    return time.perf_counter()


def test_digits_drawn_with_the_mouse_are_predicted(page):
    prediction = page.get_by_test_id("stMetricValue")
    timings = {}
    for digit in DIGITS:
        released = draw(page, DIGIT_STROKES[digit])
        prediction.wait_for(timeout=20_000)
        timings[digit] = time.perf_counter() - released
        assert prediction.text_content() == str(digit)
        assert "LiteRT float32" in page.get_by_text(" ms (preprocessing").text_content()
        fresh_canvas(page).evaluate("canvas => { canvas.dataset.stale = '1'; }")
        page.get_by_role("button", name="Clear").click()
        prediction.wait_for(state="detached", timeout=10_000)
    assert page.get_by_test_id("stException").count() == 0
    print("stroke to prediction, s:", {d: round(t, 2) for d, t in timings.items()})
