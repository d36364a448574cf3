"""The static page serving models of one's own (manifest input recipe "resize", pipeline/own_model.py):
web/static/resize.js against pipeline/image_input.py (in Node, from tests/fixtures/resize-cases.json),
and in headless Chromium the five models of the own_exports fixture (pipeline/bench/own_models.py),
each reading its sample picture with the label and the probabilities Python's Classifier gives, the
page switching between a digit model and a model of one's own, and offline use.

One site (the five exports of the `own_exports` fixture, plus exported_models/cnn as the digit model
and the index's default), one server and one browser serve the browser tests. Set
WEB_OWN_SCREENSHOT=docs/own-model.png to refresh the screenshot of the colour model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.bench.browser import DIGIT_STROKES, Watch, draw, serve, stop, wait_for_prediction, wait_for_status
from tests.conftest import BROWSER_TESTS

OWN_MODELS = ("mnist_convnet", "mobilenet", "rescaling", "logits", "article")
TOLERANCE = 1e-3  # the page's probabilities (TF.js float32) against LiteRT float32's


def browser_test(test):
    """Marked `browser` (skipped without Chromium) and `slow` (it waits on own_exports' training run)."""
    for mark in [*BROWSER_TESTS, pytest.mark.slow]:
        test = mark(test)
    return test


# --- resize.js against pipeline/image_input.py, without a browser -------------------------------------


def test_the_resize_fixture_is_what_python_gives_today():
    """tests/resize.test.mjs holds resize.js to these values: they must be the current Python recipe's
    (rewrite them with `python -m tests.resize_cases`)."""
    from tests.resize_cases import FIXTURE, make_cases

    assert json.loads(FIXTURE.read_text()) == json.loads(json.dumps(make_cases()))
    assert FIXTURE.stat().st_size < 200_000


# --- the page ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(own_exports, cnn_dir, tmp_path_factory) -> Path:
    """The five exports of one's own and the digit model cnn (the default) in one export folder."""
    from pipeline.publish import update_index

    folder = tmp_path_factory.mktemp("own-web") / "models"
    shutil.copytree(own_exports.out, folder)
    shutil.copytree(cnn_dir, folder / "cnn")
    update_index(folder, default="cnn")
    return folder


@pytest.fixture(scope="module")
def site(models, tmp_path_factory):
    from pipeline.site import build_site

    return build_site(tmp_path_factory.mktemp("own-web") / "site", models)


@pytest.fixture(scope="module")
def server(site):
    url, httpd = serve(site)
    yield url
    stop(httpd)


@pytest.fixture
def open_page(browser, server):
    """open_page("?backend=cpu") -> (page, watch), in a fresh context."""
    contexts = []

    def open_(query: str = "", url: str | None = None):
        context = browser.new_context(viewport={"width": 1000, "height": 720})
        contexts.append(context)
        page = context.new_page()
        watch = Watch(page)
        page.goto((url or server) + query)
        return page, watch

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def samples(own_exports, tmp_path) -> dict[str, Path]:
    """Each model's sample picture under a name of its own (two samples are both 0000.png)."""
    samples = {name: own_exports.models[name].sample for name in OWN_MODELS}
    return {name: Path(shutil.copy(path, tmp_path / f"{name}-{path.name}")) for name, path in samples.items()}


def choose_model(page, key: str) -> None:
    page.get_by_test_id("model").select_option(key)
    assert f"ready: {key} on" in wait_for_status(page, "ready")


def read_picture(page, path: Path, key: str) -> dict:
    """Choose `path` with the picture button; wait for model `key`'s answer about it -> what the page shows."""
    page.get_by_test_id("picture").set_input_files(str(path))
    page.wait_for_function(
        "([name, key]) => { const p = document.querySelector('[data-testid=prediction]');"
        " return p.dataset.picture === name && p.dataset.model === key; }",
        arg=[path.name, key],
        timeout=30_000,
    )
    return page.evaluate(
        """() => ({
        prediction: document.querySelector('[data-testid=prediction]').textContent,
        probabilities: Array.from(window.__lastProbabilities),
        input: Array.from(window.__lastInput),
        bars: Array.from(document.querySelectorAll('[data-testid=probabilities] .bar-label'),
                         (e) => e.textContent),
        hint: document.querySelector('[data-testid=picture-hint]').textContent,
    })"""
    )


def visible(page, test_id: str) -> bool:
    return page.get_by_test_id(test_id).is_visible()


@browser_test
def test_each_model_of_ones_own_reads_its_sample_as_python_does(open_page, server, own_exports, samples):
    """For each of the five models, picked in the selector (its float32 TF.js artifact): the picture
    button, the sample's label as the answer, the model's labels on the bars, the input the model saw
    equal to Classifier.prepare's, and the probabilities equal to LiteRT float32's within 1e-3."""
    from pipeline.runtime import Classifier
    from tests.test_web_page import check_clean

    page, watch = open_page("?backend=wasm")
    wait_for_status(page, "ready")
    largest = {}
    for name in OWN_MODELS:
        key = f"{name}-float32"
        choose_model(page, key)
        assert not visible(page, "pad") and visible(page, "picture-panel"), name
        picture = page.get_by_test_id("picture")
        assert picture.get_attribute("accept") == "image/*" and picture.get_attribute("capture") == "environment"
        shown = read_picture(page, samples[name], key)
        python = Classifier(own_exports.out / name, runtime="litert").classify(samples[name])
        labels = list(own_exports.models[name].labels)
        assert shown["prediction"] == own_exports.models[name].sample_label == python.label, name
        assert shown["bars"] == labels, name
        assert shown["hint"].startswith(f"Read {samples[name].name} "), shown["hint"]
        np.testing.assert_allclose(shown["input"], python.image.ravel(), rtol=0, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(
            shown["probabilities"], python.probabilities, rtol=0, atol=TOLERANCE, err_msg=name
        )
        largest[name] = float(np.max(np.abs(np.array(shown["probabilities"]) - python.probabilities)))
    print("largest |page - LiteRT| per model:", {k: f"{v:.2e}" for k, v in largest.items()})
    check_clean(watch, server)


@browser_test
def test_switching_between_a_digit_model_and_one_of_ones_own(open_page, server, own_exports, samples, tmp_path):
    """cnn (the default): the pad; mobilenet: the picture panel, no pad and no teaching, its words as
    labels; back to cnn: the pad reads a drawn digit with ten bars; mobilenet again reads its picture.
    A file that is not an image is refused in one sentence. Writes the screenshot of the colour model
    to $WEB_OWN_SCREENSHOT (docs/own-model.png) when set."""
    from tests.test_web_page import check_clean, save_screenshot

    page, watch = open_page()
    assert "ready: cnn-" in wait_for_status(page, "ready")
    assert visible(page, "pad") and not visible(page, "picture-panel")
    assert page.get_by_test_id("title").text_content() == "Draw a digit"
    digit_key = page.get_by_test_id("model").input_value()
    page.get_by_test_id("clear").click()
    draw(page, DIGIT_STROKES[7])
    assert wait_for_prediction(page) == "7"

    colour = own_exports.models["mobilenet"]
    choose_model(page, "mobilenet-float32")
    assert not visible(page, "pad") and visible(page, "picture-panel") and not visible(page, "teach")
    assert page.get_by_test_id("title").text_content() == "Show it a picture"
    assert "32×32 RGB" in page.get_by_test_id("input-caption").text_content()
    assert page.get_by_test_id("prediction").text_content() == ""  # nothing read yet
    assert page.locator("[data-testid=probabilities] .bar-label").all_text_contents() == list(colour.labels)
    shown = read_picture(page, samples["mobilenet"], "mobilenet-float32")
    assert shown["prediction"] == colour.sample_label
    assert visible(page, "picture-preview")
    save_screenshot(page, Path(os.environ.get("WEB_OWN_SCREENSHOT") or tmp_path / "own-model.png"))

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    page.get_by_test_id("picture").set_input_files(str(not_an_image))
    banner = page.get_by_test_id("error")
    banner.wait_for(state="visible")
    assert "notes.png is not an image this browser can read" in banner.text_content()

    choose_model(page, digit_key)
    assert visible(page, "pad") and not visible(page, "picture-panel")
    assert page.get_by_test_id("title").text_content() == "Draw a digit"
    assert "28×28" in page.get_by_test_id("input-caption").text_content()
    page.get_by_test_id("clear").click()
    draw(page, DIGIT_STROKES[3])
    assert wait_for_prediction(page) == "3"
    bars = page.locator("[data-testid=probabilities] .bar-label").all_text_contents()
    assert bars == [str(d) for d in range(10)]
    assert len(page.evaluate("window.__lastInput")) == 28 * 28

    choose_model(page, "mobilenet-float32")  # the picture is kept and read by the model again
    page.wait_for_function(
        "() => document.querySelector('[data-testid=prediction]').dataset.model === 'mobilenet-float32'"
    )
    assert page.get_by_test_id("prediction").text_content() == colour.sample_label
    check_clean(watch, server)


@browser_test
def test_the_page_and_a_model_of_ones_own_work_offline(browser, site, own_exports, samples):
    """resize.js is precached with the page and every model's manifest and labels; a model of one's
    own used once online reads pictures once the server is gone."""
    from pipeline.site import precache_list
    from tests.test_phone import wait_for_offline_state

    precached = precache_list(site)
    assert "resize.js" in precached
    for name in (*OWN_MODELS, "cnn"):
        assert f"models/{name}/manifest.json" in precached and f"models/{name}/labels.txt" in precached
    url, httpd = serve(site)
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    try:
        page = context.new_page()
        page.goto(url)
        wait_for_status(page, "ready")
        wait_for_offline_state(page, "ready")
        choose_model(page, "rescaling-float32")  # used once online: cached then
        label = own_exports.models["rescaling"].sample_label
        assert read_picture(page, samples["rescaling"], "rescaling-float32")["prediction"] == label
        stop(httpd)
        httpd = None
        page.goto(url + "?model=rescaling-float32")
        assert "ready: rescaling-float32" in wait_for_status(page, "ready")
        wait_for_offline_state(page, "offline")
        assert read_picture(page, samples["rescaling"], "rescaling-float32")["prediction"] == label
    finally:
        context.close()
        if httpd is not None:
            stop(httpd)
