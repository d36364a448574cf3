"""The Streamlit app serves any published image classifier (issue 21): the five models of one's own that
`own_exports` trains and exports (tests/own_models.py), beside a digit model (the committed cnn).

A model of one's own gets an upload tab and a camera tab, and its labels; the drawing canvas, teaching and
MNIST's test digits stay with the digit models. AppTest (no browser) checks the wiring; a real
`streamlit run` in headless Chromium picks each model in the sidebar and uploads its sample image.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from pipeline import publish
from pipeline.manifest import load_manifest, read_index
from pipeline.runtime import MODELS_ENV, RUNTIMES, Classifier
from tests.conftest import BROWSER_TESTS, EXPORTED_MODELS, REPO_ROOT
from web import serving

pytestmark = pytest.mark.slow  # own_exports trains and exports five models (minutes, once per run)

APP = REPO_ROOT / "web" / "app.py"
NAMES = ("mnist_convnet", "mobilenet", "rescaling", "logits", "article")
DIGIT_MODEL = "cnn"
DIGIT_TABS = ["Draw", "Upload", "Camera", "Random test digit"]
IMAGE_TABS = ["Upload", "Camera"]
TIMEOUT = 90  # seconds for one script run


@pytest.fixture(scope="module")
def models(own_exports, tmp_path_factory) -> Path:
    """own_exports' folder with the committed digit model beside the five, and its index.json redone."""
    folder = shutil.copytree(own_exports.out, tmp_path_factory.mktemp("models") / "exported_models")
    shutil.copytree(EXPORTED_MODELS / DIGIT_MODEL, folder / DIGIT_MODEL)
    publish.update_index(folder)
    return folder


@pytest.fixture(scope="module")
def samples(own_exports, tmp_path_factory) -> dict[str, Path]:
    """Each model's sample image under a name of its own (several samples are called 0000.png)."""
    folder = tmp_path_factory.mktemp("samples")
    return {
        name: Path(shutil.copy(own_exports.models[name].sample, folder / f"{name}-sample.png")) for name in NAMES
    }


def start_app(monkeypatch, models: Path, model: str | None = None) -> AppTest:
    monkeypatch.setenv(MODELS_ENV, str(models))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if model is not None:
        app.selectbox(key="model").set_value(model).run()
    assert not app.exception, app.exception
    return app


def predictions(app: AppTest) -> list[str]:
    assert not app.exception, app.exception
    return [metric.value for metric in app.metric]


def errors(app: AppTest) -> list[str]:
    assert not app.exception, app.exception
    return [error.value for error in app.error]


def jpeg(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "GIF")
    return buffer.getvalue()


# --- AppTest: the wiring ---


def test_the_model_menu_lists_every_published_model(monkeypatch, models):
    app = start_app(monkeypatch, models)
    names, default = read_index(models)
    assert sorted(names) == sorted([*NAMES, DIGIT_MODEL])
    assert app.selectbox(key="model").options == names
    assert app.selectbox(key="model").value == default == DIGIT_MODEL


@pytest.mark.parametrize("name", NAMES)
def test_an_uploaded_sample_is_read_with_the_models_label(monkeypatch, models, own_exports, samples, name):
    model = own_exports.models[name]
    app = start_app(monkeypatch, models, name)
    assert [tab.label for tab in app.tabs] == IMAGE_TABS
    assert not [button for button in app.button if button.label == "Clear"]  # no canvas, no teaching
    assert app.title[0].value == f"Image classifier: {name}"
    app.file_uploader(key="upload").upload(samples[name].name, samples[name].read_bytes(), "image/png").run()
    assert predictions(app) == [model.sample_label]
    assert len(app.get("vega_lite_chart")) == 1  # the probability of every label
    height, width = (load_manifest(models / name)["input"]["image"][k] for k in ("height", "width"))
    seen = [image for image in app.image if f"What the model saw ({height}×{width})" in image.captions]
    assert len(seen) == 1
    assert "LiteRT float32 · " in "\n".join(caption.value for caption in app.caption)


def test_the_bar_chart_is_over_the_models_labels(monkeypatch, models, own_exports, samples):
    app = start_app(monkeypatch, models, "mobilenet")
    app.file_uploader(key="upload").upload("red.png", samples["mobilenet"].read_bytes(), "image/png").run()
    spec = app.get("vega_lite_chart")[0].proto.spec
    assert '"label"' in spec and '"digit"' not in spec
    data = app.get("vega_lite_chart")[0].proto.datasets[0].data.data
    table = pa.ipc.open_stream(data).read_all().to_pandas()
    assert list(table["label"]) == list(own_exports.models["mobilenet"].labels)


def test_a_camera_photo_is_read(monkeypatch, models, samples):
    app = start_app(monkeypatch, models, "mobilenet")
    assert len(app.camera_input) == 0  # the camera is off while its tab is hidden
    app.session_state["image-tabs"] = "Camera"
    app.run()
    assert len(app.camera_input) == 1
    photo = jpeg(samples["mobilenet"])
    app.camera_input[0].upload("photo.jpg", photo).run()
    expected = Classifier(models / "mobilenet").classify(photo).label
    assert predictions(app) == [expected]


@pytest.mark.parametrize(
    "content, message",
    [(b"just some text", "not a readable PNG or JPEG"), (gif(), "GIF file; use a PNG or JPEG")],
)
def test_an_unreadable_upload_is_one_sentence(monkeypatch, models, content, message):
    app = start_app(monkeypatch, models, "mobilenet")
    app.file_uploader(key="upload").upload("picture.png", content, "image/png").run()
    [error] = errors(app)
    assert message in error and error.count(". ") == 0 and "Traceback" not in error
    assert predictions(app) == []


def test_the_runtime_menu_offers_what_the_export_published(monkeypatch, models, samples, own_exports):
    """Every runtime the manifest lists answers; what an export left out is not offered but named."""
    for name in NAMES:
        manifest = load_manifest(models / name)
        app = start_app(monkeypatch, models, name)
        options = serving.runtime_options(manifest)
        assert app.selectbox(key="runtime").options == [option.label for option in options]
        offered = {(RUNTIMES[option.runtime][0], option.variant) for option in options}
        left_out = {(entry["format"], entry.get("variant")) for entry in manifest["left_out"]}
        assert not offered & left_out, name
        for format_name, variant in offered:
            artifact = next(
                a for a in manifest["artifacts"] if (a["format"], a["variant"]) == (format_name, variant)
            )
            assert (models / name / artifact["path"]).exists(), artifact["id"]
        expanders = [expander.label for expander in app.sidebar.expander]
        assert (f"Not published ({len(manifest['left_out'])})" in expanders) == bool(manifest["left_out"])
        assert any("held-out labelled images" in caption.value for caption in app.sidebar.caption)
    app = start_app(monkeypatch, models, "mobilenet")
    png = samples["mobilenet"].read_bytes()
    app.file_uploader(key="upload").upload("red.png", png, "image/png").run()
    for option in serving.runtime_options(load_manifest(models / "mobilenet")):
        if option.runtime == "keras":  # TensorFlow in this process: the browser test is enough for it
            continue
        app.selectbox(key="runtime").set_value(option.label).run()
        assert predictions(app) == [own_exports.models["mobilenet"].sample_label], option.label


def test_what_an_export_left_out_is_named_in_the_sidebar(monkeypatch, models, tmp_path):
    folder = tmp_path / "exported_models"
    shutil.copytree(models / "mobilenet", folder / "mobilenet")
    publish.update_index(folder)
    manifest = json.loads((folder / "mobilenet" / "manifest.json").read_text())
    manifest["left_out"] = [
        {"id": "tfjs", "format": "tfjs", "stage": "convert", "reason": "ValueError: no such op"}
    ]
    (folder / "mobilenet" / "manifest.json").write_text(json.dumps(manifest))
    app = start_app(monkeypatch, folder)
    [expander] = [e for e in app.sidebar.expander if e.label.startswith("Not published")]
    assert expander.label == "Not published (1)"
    assert [text.value for text in expander.text] == ["tfjs: ValueError: no such op"]


def test_the_digit_model_keeps_its_canvas_and_gains_a_camera(monkeypatch, models):
    app = start_app(monkeypatch, models, DIGIT_MODEL)
    assert [tab.label for tab in app.tabs] == DIGIT_TABS
    assert app.title[0].value == "Handwritten digits"
    assert [button for button in app.button if button.label == "Clear"]  # the canvas's own button
    assert [button for button in app.button if button.key == "random"]
    app.session_state["digit-tabs"] = "Camera"
    app.run()
    assert len(app.camera_input) == 1


def test_switching_from_a_digit_model_to_an_own_model_and_back(monkeypatch, models, samples, own_exports):
    app = start_app(monkeypatch, models, DIGIT_MODEL)
    app.selectbox(key="model").set_value("logits").run()
    assert [tab.label for tab in app.tabs] == IMAGE_TABS
    app.file_uploader(key="upload").upload("x.png", samples["logits"].read_bytes(), "image/png").run()
    assert predictions(app) == [own_exports.models["logits"].sample_label]
    app.selectbox(key="model").set_value(DIGIT_MODEL).run()
    assert [tab.label for tab in app.tabs] == DIGIT_TABS and not app.exception


def test_helpers_for_any_model(models, samples):
    assert serving.left_out({"left_out": [{"id": "tfjs", "format": "tfjs", "reason": "ValueError: no"}]}) == [
        "tfjs: ValueError: no"
    ]
    assert serving.left_out({}) == []
    assert serving.labels_hint(["red", "green"]) == "the model tells apart red, green"
    assert serving.labels_hint([str(n) for n in range(20)], most=3) == "the model tells apart 0, 1, 2 and 17 more"
    # what the model saw, as a picture in 0..1 enlarged by whole pixels: colour, a 0..255 range, a flat input
    for name, shape in (("mobilenet", (128, 128, 3)), ("rescaling", (140, 140)), ("article", (140, 140))):
        classifier = Classifier(models / name)
        view = serving.model_view(classifier, classifier.classify(samples[name]).image)
        assert view.shape == shape and 0 <= view.min() and view.max() <= 1 and view.max() > 0.5, name
    assert serving.input_size(Classifier(models / DIGIT_MODEL)) == (28, 28)


# --- a real server in headless Chromium ---


@pytest.fixture(scope="module")
def page(models, tmp_path_factory):
    """One `streamlit run` for the module, one page; the camera is Chromium's fake one."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_idle, streamlit_server

    cwd = tmp_path_factory.mktemp("elsewhere")
    log_path = cwd / "streamlit.log"
    fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with streamlit_server(models, cwd, log_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *fake_camera], headless=True
        )
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
        page = context.new_page()
        page.goto(url)
        page.get_by_text("Signature:").wait_for(timeout=60_000)
        yield page
        streamlit_idle(page)
        browser.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


VIDEO_PLAYS = "video => video.readyState >= 2 && video.videoWidth > 0 && video.currentTime > 0"


def browser_test(test):
    for mark in BROWSER_TESTS:
        test = mark(test)
    return test


def pick_model(page, name: str) -> None:
    from pipeline.bench.browser import streamlit_idle

    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name=name, exact=True).click()
    title = f"Image classifier: {name}" if name != DIGIT_MODEL else "Handwritten digits"
    page.get_by_role("heading", name=title).wait_for(timeout=60_000)
    streamlit_idle(page)


def read_upload(page, path: Path) -> str:
    from pipeline.bench.browser import streamlit_idle

    panel = page.get_by_role("tabpanel", name="Upload")
    panel.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    panel.get_by_test_id("stImage").filter(has_text=path.name).wait_for(timeout=60_000)
    streamlit_idle(page)
    return panel.get_by_test_id("stMetricValue").text_content()


@browser_test
def test_in_chromium_each_model_reads_its_uploaded_sample(page, own_exports, samples):
    from pipeline.bench.browser import streamlit_canvas

    streamlit_canvas(page)  # the default, the digit model: its canvas
    for name in NAMES:
        pick_model(page, name)
        tabs = [tab.text_content() for tab in page.get_by_role("tab").all()]
        assert tabs == IMAGE_TABS, (name, tabs)
        assert page.locator("canvas.dc-canvas").count() == 0, name  # no drawing canvas
        assert read_upload(page, samples[name]) == own_exports.models[name].sample_label, name
    assert page.get_by_test_id("stException").count() == 0


@browser_test
def test_in_chromium_the_camera_tab_takes_a_photo(page, own_exports):
    """Chromium's fake camera shows a test pattern, a light green disc on green: read as "green"."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from pipeline.bench.browser import streamlit_idle

    pick_model(page, "mobilenet")
    page.get_by_role("tab", name="Camera").click()
    panel = page.get_by_role("tabpanel", name="Camera")
    camera = panel.get_by_test_id("stCameraInput")
    camera.wait_for(timeout=30_000)
    streamlit_idle(page)
    # a photo taken before the video plays is no photo: wait for frames first
    page.wait_for_function(VIDEO_PLAYS, arg=camera.locator("video").element_handle(timeout=30_000), timeout=30_000)
    taken = camera.get_by_role("button", name="Clear photo")  # shows once the photo is taken
    for attempt in range(3):  # a click while a rerun redraws the widget can be lost: click again
        camera.get_by_role("button", name="Take Photo").click(timeout=30_000)
        try:
            taken.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    prediction = panel.get_by_test_id("stMetricValue")
    prediction.wait_for(timeout=60_000)
    streamlit_idle(page)
    assert prediction.text_content() == "green"
    assert panel.get_by_text("What the model saw (32×32)").count() == 1


@browser_test
def test_in_chromium_the_digit_model_keeps_its_canvas(page):
    from pipeline.bench.browser import DIGIT_STROKES, draw_in_streamlit, streamlit_canvas

    pick_model(page, DIGIT_MODEL)
    tabs = [tab.text_content() for tab in page.get_by_role("tab").all()]
    assert tabs == DIGIT_TABS
    page.get_by_role("tab", name="Draw").click()
    streamlit_canvas(page)
    draw_in_streamlit(page, DIGIT_STROKES[7])
    prediction = page.get_by_role("tabpanel", name="Draw").get_by_test_id("stMetricValue")
    prediction.wait_for(timeout=30_000)
    assert prediction.text_content() == "7"
