"""The Streamlit app: its wiring (AppTest), its non-UI functions, thread safety, import hygiene and
security defaults.

AppTest runs web/app.py in this process without a browser. The canvas is driven by putting what the
browser would send, a PNG data URL, under the canvas's session_state key; the "drawings" are real
MNIST test digits enlarged to 280x280, white on black like the canvas. The models come from
exported_models/ ($MNIST_MODELS_DIR points elsewhere); tests that damage models work on a copy.
tests/test_streamlit_e2e.py drives the same app in a real browser.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from pipeline.data import load_mnist
from pipeline.errors import PipelineError
from pipeline.manifest import load_manifest, read_index
from pipeline.preprocess import MAX_BYTES, read_image
from pipeline.runtime import MODELS_ENV, Classifier, default_models_dir
from tests.conftest import REPO_ROOT, models_dir_under_test
from web import serving

CANVAS_KEY = "canvas"  # web/app.py's key of the drawing canvas

APP = REPO_ROOT / "web" / "app.py"
MODELS_DIR = models_dir_under_test(MODELS_ENV)
TIMEOUT = 90  # seconds for one script run; the first Keras load imports TensorFlow


@pytest.fixture(scope="module")
def models_dir() -> Path:
    if not (MODELS_DIR / "index.json").is_file():
        pytest.fail(f"{MODELS_DIR / 'index.json'} is missing: run `make run` to publish models.")
    return MODELS_DIR


@pytest.fixture(scope="module")
def default_model(models_dir) -> Path:
    return models_dir / read_index(models_dir)[1]


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    _, (images, labels) = load_mnist()
    return images, labels


@pytest.fixture(scope="module")
def digits(mnist_test) -> dict[int, np.ndarray]:
    """The first test image of each class, 28x28 uint8."""
    images, labels = mnist_test
    return {d: images[int(np.flatnonzero(labels == d)[0])] for d in range(10)}


@pytest.fixture(scope="module")
def reference(default_model) -> Classifier:
    """What `python -m pipeline predict` uses: the app must show exactly its answers."""
    return Classifier(default_model, runtime="litert", variant="float32")


def enlarged(image: np.ndarray, size: int = 280, fmt: str = "PNG", dark_on_light=False) -> bytes:
    """A 28x28 digit as a canvas would send it: size x size, opaque RGBA (RGB for JPEG)."""
    pixels = 255 - image if dark_on_light else image
    picture = Image.fromarray(pixels).resize((size, size), Image.BILINEAR)
    buffer = io.BytesIO()
    picture.convert("RGBA" if fmt == "PNG" else "RGB").save(buffer, fmt)
    return buffer.getvalue()


def start_app(monkeypatch, models_dir: Path) -> AppTest:
    monkeypatch.setenv(MODELS_ENV, str(models_dir))
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def draw(app: AppTest, png: bytes) -> AppTest:
    """Send `png` as the canvas's drawing, the way the component's frontend does."""
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    app.session_state[CANVAS_KEY] = {"drawing": {"raw": {"objects": []}, "data": url}}
    return app.run()


def predictions(app: AppTest) -> list[str]:
    assert not app.exception, app.exception
    return [metric.value for metric in app.metric]


def captions(app: AppTest) -> str:
    return "\n".join(caption.value for caption in app.caption)


def errors(app: AppTest) -> str:
    assert not app.exception, app.exception
    return "\n".join(error.value for error in app.error)


# --- drawing ---


def test_drawings_of_every_digit_are_predicted_as_the_cli_would(monkeypatch, models_dir, digits, reference):
    app = start_app(monkeypatch, models_dir)
    shown, truth = [], []
    for digit, image in digits.items():
        png = enlarged(image)
        draw(app, png)
        expected = reference.classify(read_image(png)).label
        assert predictions(app) == [expected]
        shown.append(expected)
        truth.append(str(digit))
        assert len(app.get("vega_lite_chart")) == 1  # the ten probabilities
        seen = [image for image in app.image if "What the model saw (28×28)" in image.captions]
        assert len(seen) == 1
        assert "LiteRT float32 · " in captions(app) and " ms " in captions(app)
    correct = sum(s == t for s, t in zip(shown, truth))
    assert correct >= 9, f"only {correct}/10 enlarged test digits read right: {shown}"


def test_a_blank_canvas_asks_for_a_drawing(monkeypatch, models_dir):
    app = start_app(monkeypatch, models_dir)
    assert predictions(app) == []
    assert "Draw a digit" in app.info[0].value
    draw(app, enlarged(np.zeros((28, 28), np.uint8)))  # strokes undone: an all-black canvas
    assert predictions(app) == []
    assert "Draw a digit" in app.info[0].value


def test_clear_empties_the_canvas(monkeypatch, models_dir, digits):
    app = draw(start_app(monkeypatch, models_dir), enlarged(digits[3]))
    assert len(predictions(app)) == 1
    next(button for button in app.button if button.label == "Clear").click().run()
    assert app.session_state["canvas_clears"] == 1  # the canvas is told to empty itself
    # until the component sends its empty drawing, the widget still holds the cleared one: not shown
    assert predictions(app) == []
    assert "Draw a digit" in app.info[0].value
    draw(app, enlarged(np.zeros((28, 28), np.uint8)))  # the emptied canvas, as the component sends it
    assert predictions(app) == []
    draw(app, enlarged(digits[3]))  # drawn again, after the Clear: read again
    assert len(predictions(app)) == 1


# --- uploads ---


def test_uploads_png_and_dark_on_light_jpeg(monkeypatch, models_dir, digits, reference):
    app = start_app(monkeypatch, models_dir)
    png = enlarged(digits[2])
    app.file_uploader(key="upload").upload("two.png", png, "image/png").run()
    assert predictions(app) == [reference.classify(read_image(png)).label] == ["2"]
    jpeg = enlarged(digits[4], size=400, fmt="JPEG", dark_on_light=True)  # a photo of paper
    app.file_uploader(key="upload").set_value(("four.jpg", jpeg, "image/jpeg")).run()
    assert predictions(app) == [reference.classify(read_image(jpeg)).label] == ["4"]


def bomb_png() -> bytes:
    """48 million pixels in a few KB: more than pipeline.preprocess.MAX_PIXELS allows."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, "PNG")
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"just some text", "not a readable PNG or JPEG"),
        (bomb_png(), "million allowed"),
        (gif(), "GIF file; use a PNG or JPEG"),
    ],
)
def test_bad_uploads_get_a_clear_error(monkeypatch, models_dir, content, message):
    app = start_app(monkeypatch, models_dir)
    app.file_uploader(key="upload").upload("digit.png", content, "image/png").run()
    assert message in errors(app)
    assert predictions(app) == []


def test_an_upload_of_two_digits_gets_the_reason_not_a_digit(monkeypatch, models_dir):
    app = start_app(monkeypatch, models_dir)
    two_ones = (REPO_ROOT / "tests" / "fixtures" / "field-cases" / "min_multi_11.png").read_bytes()
    app.file_uploader(key="upload").upload("eleven.png", two_ones, "image/png").run()
    assert predictions(app) == []
    assert [w.value for w in app.warning] == [
        "That is not one digit: the image holds 2 marks side by side; give one digit at a time."
    ]


def test_upload_limit_is_the_pipelines(monkeypatch, models_dir):
    app = start_app(monkeypatch, models_dir)
    assert app.file_uploader(key="upload").proto.max_upload_size_mb * 2**20 == MAX_BYTES


# --- MNIST test digits ---


def test_random_test_digit_shows_true_label_and_prediction(monkeypatch, models_dir, mnist_test, reference):
    images, labels = mnist_test
    app = start_app(monkeypatch, models_dir)
    for _ in range(2):
        app.button(key="random").click().run()
        index = app.session_state["test_index"]
        assert any(f"true label **{labels[index]}**" in m.value for m in app.markdown)
        assert predictions(app) == [reference.classify(images[index]).label]


# --- choices ---


@pytest.mark.slow  # loads every runtime, Keras included: ~30 s
def test_every_runtime_of_every_model_can_be_chosen(monkeypatch, models_dir, digits):
    app = draw(start_app(monkeypatch, models_dir), enlarged(digits[7]))
    names, _ = read_index(models_dir)
    assert app.selectbox(key="model").options == names
    for name in names:
        app.selectbox(key="model").set_value(name).run()
        manifest = load_manifest(models_dir / name)
        options = serving.runtime_options(manifest)
        assert app.selectbox(key="runtime").options == [option.label for option in options]
        table = app.sidebar.table[0].value
        assert list(table["Runtime"]) == [option.label for option in options]
        assert list(table["Accuracy"]) == [f"{o.accuracy:.2%}" for o in options]
        for option in options:
            app.selectbox(key="runtime").set_value(option.label).run()
            assert f"{option.label} · " in captions(app)
            assert predictions(app) == ["7"], (name, option.label)


def test_sidebar_shows_the_model_cards_plots(monkeypatch, models_dir, default_model):
    app = start_app(monkeypatch, models_dir)
    expected = serving.plots(default_model, load_manifest(default_model))
    assert expected, "the published model has no plots"
    assert [e.label for e in app.sidebar.expander] == [title for title, _ in expected]
    assert len(app.sidebar.image) == len(expected)


# --- failures: a clear message with the fix, never a traceback ---


@pytest.fixture
def models_copy(tmp_path, models_dir) -> Path:
    copy = tmp_path / "exported_models"
    shutil.copytree(models_dir, copy)
    return copy


def default_artifact(models: Path, artifact_id: str) -> tuple[Path, dict, dict]:
    model_dir = models / read_index(models)[1]
    manifest = json.loads((model_dir / "manifest.json").read_text())
    artifact = next(a for a in manifest["artifacts"] if a["id"] == artifact_id)
    return model_dir, manifest, artifact


def test_damaged_tflite_is_refused_with_the_fix(monkeypatch, models_copy):
    model_dir, _, artifact = default_artifact(models_copy, "tflite-float32")
    path = model_dir / artifact["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    message = errors(start_app(monkeypatch, models_copy))
    assert "damaged" in message and artifact["path"] in message and "make run" in message


def test_tflite_that_matches_its_hash_but_will_not_load(monkeypatch, models_copy):
    model_dir, manifest, artifact = default_artifact(models_copy, "tflite-float32")
    garbage = b"not a flatbuffer" * 100
    (model_dir / artifact["path"]).write_bytes(garbage)
    from pipeline.files import sha256_file

    for entry in (artifact, *artifact["files"]):
        entry["sha256"], entry["bytes"] = sha256_file(model_dir / artifact["path"]), len(garbage)
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    message = errors(start_app(monkeypatch, models_copy))
    assert "could not be loaded" in message and "make run" in message


def test_missing_manifest_is_refused_with_the_fix(monkeypatch, models_copy):
    model_dir, _, _ = default_artifact(models_copy, "tflite-float32")
    (model_dir / "manifest.json").unlink()
    message = errors(start_app(monkeypatch, models_copy))
    assert "manifest.json is missing" in message and "make run" in message


def test_the_app_shows_whether_the_model_is_signed_and_verified(monkeypatch, models_copy, digits, signing_keys):
    from pipeline import signing

    (private, public), _ = signing_keys
    model_dir, _, artifact = default_artifact(models_copy, "tflite-float32")
    signing.sign_folder(model_dir, private)
    app = draw(start_app(monkeypatch, models_copy), enlarged(digits[7]))
    assert [m.value for m in app.sidebar.info] == [
        "Signature: signed, not verified (no public key: set $MNIST_PUBLIC_KEY)"
    ]
    monkeypatch.setenv(signing.PUBLIC_KEY_ENV, str(public))
    app = draw(start_app(monkeypatch, models_copy), enlarged(digits[7]))
    assert [m.value for m in app.sidebar.success] == ["Signature: signed and verified with signer.pub"]
    assert predictions(app) == ["7"]
    path = model_dir / artifact["path"]
    path.write_bytes(path.read_bytes() + b"\0")  # tampered after signing
    (model_dir / signing.SIGNATURE).touch()  # a new fingerprint, as a re-signed folder has
    message = errors(start_app(monkeypatch, models_copy))
    assert message.startswith(f"The signature {model_dir / signing.SIGNATURE} does not match")
    assert artifact["path"] in message and "the model was not loaded" in message


def test_no_published_models(monkeypatch, tmp_path):
    message = errors(start_app(monkeypatch, tmp_path))
    assert "index.json is missing" in message and "python -m pipeline run" in message


def test_unexpected_errors_are_shown_without_a_traceback(monkeypatch, models_dir, digits):
    def broken(classifier, image):
        raise RuntimeError("boom")

    app = start_app(monkeypatch, models_dir)
    monkeypatch.setattr(serving, "classify", broken)
    message = errors(draw(app, enlarged(digits[1])))
    assert "Something went wrong (RuntimeError: boom)" in message


# --- serving: one model per process, shared safely ---


def test_a_model_is_loaded_once_per_process(monkeypatch, models_copy, digits):
    loads = []
    original = serving.load_classifier
    monkeypatch.setattr(serving, "load_classifier", lambda *args: loads.append(args) or original(*args))
    for _ in range(2):  # two sessions, several reruns each
        app = draw(start_app(monkeypatch, models_copy), enlarged(digits[0]))
        draw(app, enlarged(digits[5]))
    assert len(loads) == 1


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_many_threads_share_one_litert_classifier(default_model, mnist_test, variant):
    """16 threads x 50 predictions with mixed batch sizes (the interpreter is resized between them)
    give exactly the answers of the same calls made one at a time."""
    images = mnist_test[0][:1000].astype(np.float32) / 255
    classifier = serving.load_classifier(default_model, "litert", variant)
    threads_count, calls = 16, 50

    def batch(thread: int, call: int) -> np.ndarray:
        start = (thread * calls + call) % (len(images) - 3)
        return images[start : start + 1 + (thread + call) % 3]  # batches of 1, 2 and 3

    expected = [[classifier.predict(batch(t, c)) for c in range(calls)] for t in range(threads_count)]
    results = [[None] * calls for _ in range(threads_count)]
    barrier = threading.Barrier(threads_count)

    def work(thread: int) -> None:
        barrier.wait()  # all start together, to collide in the interpreter
        for call in range(calls):
            results[thread][call] = classifier.predict(batch(thread, call))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for thread in range(threads_count):
        for call in range(calls):
            assert np.array_equal(results[thread][call], expected[thread][call]), (thread, call)


def test_litert_path_never_imports_tensorflow(tmp_path, default_model, models_dir, digits):
    """The serving module and the whole app, with a LiteRT runtime, in a fresh interpreter."""
    script = f"""
import base64, sys
import numpy as np
from web import serving
classifier = serving.load_classifier({str(default_model)!r}, "litert", "int8")
classifier.classify(np.load(sys.argv[1]))
from streamlit.testing.v1 import AppTest
app = AppTest.from_file({str(APP)!r}, default_timeout=60).run()
app.session_state[{CANVAS_KEY!r}] = {{"drawing": {{"raw": {{}}, "data":
    "data:image/png;base64," + base64.b64encode(open(sys.argv[2], "rb").read()).decode()}}}}
app.run()
assert not app.exception and [m.value for m in app.metric], "the app did not predict"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("HEAVY", heavy)
"""
    image_path, png_path = tmp_path / "digit.npy", tmp_path / "digit.png"
    np.save(image_path, digits[8])
    png_path.write_bytes(enlarged(digits[8]))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), MODELS_ENV: str(models_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(image_path), str(png_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "HEAVY []" in done.stdout, done.stdout


# --- non-UI helpers ---


def test_models_dir_defaults_to_the_repository(monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert default_models_dir() == REPO_ROOT / "exported_models"
    monkeypatch.setenv(MODELS_ENV, "/somewhere/else")
    assert default_models_dir() == Path("/somewhere/else")


@pytest.mark.parametrize(
    "index, message",
    [
        ({"models": []}, "lists no models"),
        ({"models": ["../../etc"]}, "invalid model name"),
        ([1, 2], "lists no models"),
    ],
)
def test_read_index_refuses_bad_indexes(tmp_path, index, message):
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(PipelineError, match=message):
        read_index(tmp_path)


def test_read_index_default_falls_back_to_the_first_model(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"default": "gone", "models": ["a", "b"]}))
    assert read_index(tmp_path) == (["a", "b"], "a")


def test_plots_stay_inside_the_model_folder(tmp_path):
    (tmp_path / "model" / "plots").mkdir(parents=True)
    (tmp_path / "model" / "plots" / "curves.png").write_bytes(b"png")
    (tmp_path / "secret.png").write_bytes(b"png")
    manifest = {
        "plots": {"training_curves": "plots/curves.png", "stolen": "../secret.png", "missing": "plots/none.png"}
    }
    assert serving.plots(tmp_path / "model", manifest) == [
        ("Training curves", (tmp_path / "model" / "plots" / "curves.png").resolve())
    ]


def test_runtime_options_follow_the_manifest(default_model):
    manifest = load_manifest(default_model)
    options = serving.runtime_options(manifest)
    assert options[0].label == "Keras"
    assert options[serving.default_option(options)].label == "LiteRT float32"
    for option in options:
        format_name = serving.RUNTIMES[option.runtime][0]
        artifact = next(
            a for a in manifest["artifacts"] if a["format"] == format_name and a["variant"] == option.variant
        )
        assert (option.accuracy, option.bytes) == (artifact["verification"]["accuracy"], artifact["bytes"])


def test_runtime_menu_labels_come_from_the_format_modules():
    def artifact(fmt, variant, accuracy):
        return {"format": fmt, "variant": variant, "bytes": 1000, "verification": {"accuracy": accuracy}}

    manifest = {
        "model": "m",
        "artifacts": [
            artifact("savedmodel", "float32", 0.99),
            artifact("onnx", "int8", 0.98),
            artifact("tflite", "int8", 0.97),
            artifact("onnx", "float32", 0.99),
            artifact("keras", "float32", 0.99),
        ],
    }
    options = serving.runtime_options(manifest)
    assert [(o.label, o.runtime, o.variant, o.accuracy) for o in options] == [
        ("Keras", "keras", "float32", 0.99),
        ("LiteRT int8", "litert", "int8", 0.97),
        ("ONNX Runtime float32", "onnx", "float32", 0.99),
        ("ONNX Runtime int8", "onnx", "int8", 0.98),
    ]
    with pytest.raises(PipelineError, match=r"no artifact that the app can run \(keras, litert, onnx\)"):
        serving.runtime_options({"model": "m", "artifacts": [artifact("tfjs", "uint8", 0.9)]})


def test_enlarge_keeps_whole_pixels():
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    big = serving.enlarge(image)
    assert big.shape == (140, 140) and np.array_equal(big[::5, ::5], image)


# --- security defaults ---


def test_streamlit_config_security_defaults():
    """web/.streamlit/config.toml: Streamlit reads it from next to the script, whatever the cwd."""
    config = tomllib.loads((REPO_ROOT / "web" / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert server["maxUploadSize"] * 2**20 == MAX_BYTES
    assert server["enableCORS"] is True and server["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"


def test_the_signature_line_has_a_material_icon_not_an_emoji(monkeypatch, models_copy, digits, signing_keys):
    """An emoji icon needs a colour-emoji font, which many machines (Debian's headless Chromium
    among them) lack: it showed as a missing-glyph box. Streamlit's Material icons need none."""
    from pipeline import signing

    (private, public), _ = signing_keys
    model_dir, _, _ = default_artifact(models_copy, "tflite-float32")
    signing.sign_folder(model_dir, private)
    app = start_app(monkeypatch, models_copy)
    assert [(m.value.split(":")[0], m.icon) for m in app.sidebar.info] == [("Signature", ":material/gpp_maybe:")]
    monkeypatch.setenv(signing.PUBLIC_KEY_ENV, str(public))
    app = start_app(monkeypatch, models_copy)
    assert [(m.value.split(":")[0], m.icon) for m in app.sidebar.success] == [
        ("Signature", ":material/verified_user:")
    ]


def test_the_sidebar_table_lists_every_runtime_with_its_accuracy_and_size(monkeypatch, models_dir, default_model):
    """A static table (tests/test_streamlit_sidebar_browser.py: every column in view); sizes do not wrap."""
    from pipeline.verify import human_bytes

    app = start_app(monkeypatch, models_dir)
    options = serving.runtime_options(load_manifest(default_model))
    table = app.sidebar.table[0].value
    assert list(table.columns) == ["Runtime", "Accuracy", "Size"]
    assert list(table["Runtime"]) == [option.label for option in options]
    assert list(table["Size"]) == [human_bytes(o.bytes).replace(" ", "\u00a0") for o in options]
