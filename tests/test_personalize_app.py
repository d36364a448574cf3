"""Teaching the Streamlit app with the mouse (real `streamlit run`, headless Chromium); two sessions at
once do not see each other's examples."""

from __future__ import annotations

import json

import pytest

from pipeline.bench.browser import (
    draw_in_streamlit,
    launch,
    streamlit_clear,
    streamlit_server,
)
from pipeline.style_set import strokes
from tests.conftest import BROWSER_TESTS
from tests.personal_helpers import models_with_kit

pytestmark = BROWSER_TESTS
STYLE = "eastern-arabic"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, cnn_dir):
    models = models_with_kit(tmp_path_factory.mktemp("models"), cnn_dir)
    work = tmp_path_factory.mktemp("app")
    with streamlit_server(models, work, work / "streamlit.log") as url:
        yield url


# The teaching buttons (and Forget, Export) whose label is wider than the room inside the button: in
# fixed columns, a window 769 to 1000 px wide with the sidebar open left each button 26 px, its digit hidden.
LABELS_CUT_OFF = """() => [...document.querySelectorAll('[class*=st-key-teach-] button, .st-key-forget button, '
                                                  + '.st-key-export-examples button')].filter(button => {
    const style = getComputedStyle(button), label = button.querySelector('p');
    const room = button.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return label.scrollWidth > room + 0.5 || label.getBoundingClientRect().width > room + 0.5;
}).map(button => button.textContent)"""


def read(page, digit: int, seed: int) -> str:
    draw_in_streamlit(page, [[tuple(p) for p in line] for line in strokes(STYLE, digit, seed)])
    metric = page.get_by_test_id("stMetricValue")
    metric.wait_for(timeout=30_000)
    return metric.text_content()


def taught(page) -> int:
    caption = page.get_by_text("examples taught").or_(page.get_by_text("example taught"))
    caption.first.wait_for(timeout=30_000)
    return int(caption.first.text_content().split()[0])


def teach(page, digit: int, seed: int) -> None:
    before = taught(page)
    read(page, digit, seed)
    streamlit_clear(page, page.locator(f".st-key-teach-{digit} button"))  # teaching clears the canvas
    page.wait_for_function(f"() => document.body.innerText.includes('{before + 1} example')", timeout=30_000)


def test_teaching_the_app_and_sessions_stay_apart(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    from pipeline.examples_file import parse_examples

    with sync_playwright() as playwright:
        browser = launch(playwright)
        alice = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True).new_page()
        bob = browser.new_context(viewport={"width": 880, "height": 1000}).new_page()  # the sidebar open, narrow
        alice.goto(app_url)
        before = read(alice, 7, 3005)  # ٧, a V
        streamlit_clear(alice)
        for seed in (0, 1, 2):
            teach(alice, 7, seed)
        assert taught(alice) == 3
        assert alice.evaluate(LABELS_CUT_OFF) == []
        after = read(alice, 7, 3005)
        assert alice.get_by_text("Personalised").first.is_visible()
        print(f"\napp: the same new ٧ read as {before!r} before teaching, {after!r} after 3 examples")
        assert before != "7" and after == "7"

        bob.goto(app_url)  # another session at the same time: none of Alice's examples
        assert taught(bob) == 0
        assert read(bob, 7, 3005) == before
        assert bob.get_by_text("Personalised").count() == 0
        assert bob.evaluate(LABELS_CUT_OFF) == [], "each teaching button shows its digit whole"
        metric = bob.get_by_test_id("stMetric").bounding_box()  # in fixed columns: 40 px, "Pre…"
        assert metric["width"] >= 150, metric

        with alice.expect_download() as download:
            alice.locator(".st-key-export-examples button").click()
        path = tmp_path / "examples.json"
        download.value.save_as(path)
        document = json.loads(path.read_text())
        images, labels = parse_examples(path.read_bytes(), "cnn", document["manifest_sha256"])
        assert labels.tolist() == [7, 7, 7] and images.shape == (3, 28, 28)

        streamlit_clear(alice)
        alice.locator(".st-key-forget button").click()
        alice.wait_for_function("() => document.body.innerText.includes('0 examples taught')", timeout=30_000)
        assert read(alice, 7, 3005) == before, "forget returns to the published model"
        browser.close()
