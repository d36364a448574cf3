"""Personalisation: the style set, the examples file's checks, the method's accuracy, and `personalize`
publishing a verified `<model>-personal` folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.examples_file import MAX_EXAMPLES, examples_document, parse_examples
from pipeline.style_set import STYLES, strokes, style_set
from tests.conftest import cli

SHA = "a" * 64


def document(**changes) -> dict:
    images, labels = style_set("eastern-arabic", 1, seed=0)
    doc = examples_document(images, labels, "cnn", SHA)
    doc.update(changes)
    return doc


def refusal(doc_or_bytes) -> str:
    data = doc_or_bytes if isinstance(doc_or_bytes, bytes) else json.dumps(doc_or_bytes).encode()
    with pytest.raises(PipelineError) as caught:
        parse_examples(data, "cnn", SHA)
    message = str(caught.value)
    assert "\n" not in message and message.endswith((".", "…")), message
    return message


def test_style_set_is_deterministic_and_each_seed_is_a_new_drawing():
    a, labels = style_set("eastern-arabic", 2, seed=5)
    b, _ = style_set("eastern-arabic", 2, seed=5)
    c, _ = style_set("eastern-arabic", 2, seed=6)
    assert a.shape == (20, 28, 28) and a.dtype == np.float32 and list(labels[:10]) == list(range(10))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    for style in STYLES:  # the strokes stay on the 280x280 canvas, so the mouse can draw them
        for digit in range(10):
            for line in strokes(style, digit, seed=3):
                assert line.shape[1] == 2 and (line >= 0).all() and (line <= 280).all()


def test_the_published_cnn_misreads_the_style_and_reads_standard_digits(cnn_dir):
    from pipeline.formats import tflite

    model = tflite.load(cnn_dir / "tflite" / "cnn-float32.tflite")
    style, style_labels = style_set("eastern-arabic", 10, seed=1000)
    standard, standard_labels = style_set("standard", 10, seed=2000)
    style_accuracy = np.mean(tflite.predict(model, style).argmax(1) == style_labels)
    standard_accuracy = np.mean(tflite.predict(model, standard).argmax(1) == standard_labels)
    print(f"published cnn: eastern-arabic {style_accuracy:.3f}, standard {standard_accuracy:.3f}")
    assert style_accuracy < 0.5 and standard_accuracy >= 0.95


def test_a_valid_examples_file_round_trips():
    images, labels = parse_examples(json.dumps(document()).encode(), "cnn", SHA)
    expected, _ = style_set("eastern-arabic", 1, seed=0)
    assert images.shape == (10, 28, 28) and list(labels) == list(range(10))
    assert np.abs(images - expected).max() <= 1e-6


def bad_image(value):
    doc = document()
    doc["examples"][0]["image"][3][4] = value
    return doc


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: b"{not json", "not valid JSON"),
        (lambda: b"[" * 100_000, "not valid JSON"),
        (lambda: {"format": "something else"}, "not an examples file"),
        (lambda: document(extra=1), "unknown keys"),
        (lambda: document(version=2), "only 1 is read"),
        (lambda: document(model="article"), "taught on model 'article'"),
        (lambda: document(manifest_sha256="b" * 64), "another export of 'cnn'"),
        (lambda: document(examples=[]), "no examples"),
        (lambda: document(examples=[{"label": 1, "image": [[0] * 28]}] * (MAX_EXAMPLES + 1)), "more than the"),
        (lambda: b" " * (9 * 2**20), "larger than"),
        (lambda: json.dumps(document()).replace('"label": 3', '"label": 10').encode(), "from 0 to 9"),
        (lambda: json.dumps(document()).replace('"label": 3', '"label": -1').encode(), "from 0 to 9"),
        (lambda: json.dumps(document()).replace('"label": 3', '"label": true').encode(), "from 0 to 9"),
        (lambda: json.dumps(document()).replace('"label": 3', '"label": 3.5').encode(), "from 0 to 9"),
        (lambda: document(examples=[{"label": 1, "image": [[0.0] * 27] * 28}]), "28 rows of 28"),
        (lambda: document(examples=[{"label": 1, "image": [[0.0] * 28] * 29}]), "28 rows of 28"),
        (lambda: document(examples=[{"label": 1, "image": "pixels"}]), "28 rows of 28"),
        (lambda: document(examples=[{"label": 1}]), "each example must be"),
        (lambda: json.dumps(bad_image(0.123456789)).replace("0.123456789", "NaN").encode(), "outside 0..1"),
        (lambda: json.dumps(bad_image(0.123456789)).replace("0.123456789", "Infinity").encode(), "outside 0..1"),
        (lambda: bad_image(255), "outside 0..1"),
        (lambda: bad_image("x"), "not a number"),
        (lambda: document(examples=[{"label": 1, "image": [[0.0] * 28] * 28}]), "blank"),
    ],
)
def test_bad_examples_files_are_refused_in_one_sentence(make, words):
    assert words in refusal(make())


def test_a_million_entries_are_refused_before_they_are_parsed():
    # a million tiny entries fit in 8 MiB of JSON: the count check must still hold
    doc = document()
    doc["examples"] = [0] * 1_000_000
    data = json.dumps(doc, separators=(",", ":")).encode()
    assert len(data) < 8 * 2**20
    assert "more than the" in refusal(data)


@pytest.fixture(scope="module")
def adapted(cnn_dir):
    """The method on the published cnn, taught 3 drawings per digit of the style."""
    from pipeline import personalize
    from pipeline.formats.keras_format import load as load_keras_model

    base = load_keras_model(cnn_dir / "model.keras")
    images, labels = style_set("eastern-arabic", 3, seed=0)
    model, adapter, held_out = personalize.adapt(base, images, labels, "cnn-personal")
    return base, model, adapter, held_out


def test_the_keras_model_computes_the_blend_exactly(adapted):
    from pipeline import blend

    base, model, adapter, _ = adapted
    images = np.concatenate([style_set("eastern-arabic", 2, seed=50)[0], style_set("standard", 2, seed=60)[0]])
    features, published = blend.features_and_probabilities(blend.feature_model(base), images)
    expected = blend.blend(features, published, adapter)
    actual = np.asarray(model.predict(images, verbose=0))
    assert np.abs(actual - expected).max() < 1e-5
    assert np.allclose(actual.sum(axis=1), 1, atol=1e-5)


def test_the_blend_and_its_keras_model_follow_the_constants_they_are_given(adapted):
    """A gate margin far above any closeness keeps the published answer; far below, the examples decide."""
    from dataclasses import replace

    from pipeline import blend

    base, _, adapter, _ = adapted
    images, labels = style_set("eastern-arabic", 1, seed=80)
    features, published = blend.features_and_probabilities(blend.feature_model(base), images)
    shy = replace(adapter, constants=blend.Method(gate_margin=10.0))
    np.testing.assert_allclose(blend.blend(features, published, shy), published, atol=1e-9)
    shy_model = blend.personal_model(base, shy, "cnn-shy")
    assert np.abs(np.asarray(shy_model.predict(images, verbose=0)) - published).max() < 1e-5
    bold = replace(adapter, constants=blend.Method(gate_margin=-10.0))
    personal = blend.blend(features, published, bold)
    assert (personal.argmax(axis=1) == labels).mean() > (published.argmax(axis=1) == labels).mean()


def test_the_manifests_method_reads_back_and_a_bad_one_is_refused_in_one_sentence():
    from pipeline.blend import Method
    from pipeline.manifest import method_record, read_method

    constants = Method(temperature=0.05, gate_sharpness=12.0, gate_margin=-0.1, shifts=((0, 0), (2, -1)))
    record = json.loads(json.dumps(method_record(constants)))  # as a manifest holds it
    assert read_method(record, "m.json") == constants
    assert read_method(method_record(), "m.json") == Method()
    good = method_record()
    for bad in (
        None,
        [],
        {k: v for k, v in good.items() if k != "gate_sharpness"},
        {**good, "temperature": "warm"},
        {**good, "temperature": 0},
        {**good, "gate_margin": float("nan")},
        {**good, "shifts": []},
        {**good, "shifts": [[1]]},
    ):
        with pytest.raises(PipelineError) as caught:
            read_method(bad, "models/cnn/manifest.json")
        message = str(caught.value)
        assert message.startswith("models/cnn/manifest.json records") and "\n" not in message, message


def test_the_app_teaches_with_the_constants_its_manifest_records(cnn_dir, tmp_path):
    from pipeline.blend import Method
    from web import personal

    folder = tmp_path / "cnn"
    shutil.copytree(cnn_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert personal.cached_kit(str(folder), ("as published",)).constants == Method()
    manifest["adaptation"]["method"]["gate_margin"] = 0.5
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert personal.cached_kit(str(folder), ("margin changed",)).constants == Method(gate_margin=0.5)
    del manifest["adaptation"]["method"]["temperature"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineError, match="records no usable adaptation method"):
        personal.cached_kit(str(folder), ("temperature gone",))


def test_three_examples_per_digit_read_new_drawings_and_keep_mnist(adapted, mnist):
    base, model, _, held_out = adapted
    # 50 new drawings per digit: on 200 one misread is half a point, and two recipes of the published cnn
    # read 0.95 and 0.94 there. On these 500 the earlier cnn read 0.944, the served one 0.936 (margin 0.04)
    style, style_labels = style_set("eastern-arabic", 50, seed=3000)  # never seen by the tuning
    standard, standard_labels = style_set("standard", 50, seed=4000)
    (_, _), (x_test, y_test) = mnist
    x_test = x_test[:3000].astype(np.float32) / 255.0
    figures = {
        name: float(np.mean(np.asarray(m.predict(x, verbose=0)).argmax(1) == y))
        for name, x, y in (
            ("style", style, style_labels),
            ("standard", standard, standard_labels),
            ("mnist", x_test, y_test[:3000]),
        )
        for m in [model]
    }
    base_figures = {
        name: float(np.mean(np.asarray(base.predict(x, verbose=0)).argmax(1) == y))
        for name, x, y in (("style", style, style_labels), ("mnist", x_test, y_test[:3000]))
    }
    print(f"published {base_figures}, personal {figures}, held out {held_out}")
    assert base_figures["style"] < 0.5
    assert figures["style"] >= 0.93
    assert figures["standard"] >= 0.95
    assert figures["mnist"] >= base_figures["mnist"] - 0.01
    assert held_out["method"] == "leave-one-out" and held_out["examples"] == 30
    assert held_out["accuracy"] > held_out["published_accuracy"]


@pytest.fixture
def published(tmp_path, cnn_dir):
    """A models folder holding a copy of the published cnn (the committed one is never written)."""
    out = tmp_path / "models"
    out.mkdir()
    shutil.copytree(cnn_dir, out / "cnn")
    return out


def test_personalize_refuses_a_bad_file_and_publishes_nothing(published, tmp_path):
    bad = tmp_path / "examples.json"
    bad.write_text(json.dumps(document()))  # taught on another export: sha256 "aaaa…"
    result = cli("personalize", "--examples", bad, "--out", published, timeout=900)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "another export of 'cnn'" in result.stderr
    assert sorted(p.name for p in published.iterdir()) == ["cnn"]
    missing = cli("personalize", "--examples", tmp_path / "nope.json", "--out", published, timeout=900)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@pytest.mark.slow  # exports and verifies every format of the cnn: ~100 s
def test_personalize_publishes_a_verified_personal_model(published, tmp_path):
    """The examples file as the page writes it -> exported_models/cnn-personal, every artifact verified."""
    from pipeline.files import sha256_file
    from pipeline.formats import tflite

    images, labels = style_set("eastern-arabic", 3, seed=0)
    examples = tmp_path / "examples.json"
    examples.write_text(
        json.dumps(examples_document(images, labels, "cnn", sha256_file(published / "cnn" / "manifest.json")))
    )
    result = cli("personalize", "--examples", examples, "--out", published, timeout=900)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((published / "cnn-personal" / "manifest.json").read_text())
    index = json.loads((published / "index.json").read_text())
    assert "cnn-personal" in index["models"] and index["default"] == "cnn"
    assert manifest["model"] == "cnn-personal"
    ids = [a["id"] for a in manifest["artifacts"]]
    base_ids = [a["id"] for a in json.loads((published / "cnn" / "manifest.json").read_text())["artifacts"]]
    assert ids == base_ids and all(a["verification"]["passed"] for a in manifest["artifacts"])
    personal = manifest["personalisation"]
    assert personal["examples_sha256"] == sha256_file(examples)
    assert personal["examples_per_digit"] == {str(d): 3 for d in range(10)}
    assert personal["style_accuracy"]["examples"] == 30
    assert personal["test_accuracy"] == manifest["evaluation"]["test_accuracy"] >= 0.985
    assert "## Personalisation" in (published / "cnn-personal" / "MODEL_CARD.md").read_text()
    # the phone's runtime reads new drawings of the style (the published cnn reads ~0.30 of them;
    # 0.94 measured with the 0.9960 cnn; the browser test holds the mouse-drawn style to 0.95)
    model = tflite.load(published / "cnn-personal" / "tflite" / "cnn-personal-float32.tflite")
    style, style_labels = style_set("eastern-arabic", 10, seed=3000)
    assert np.mean(tflite.predict(model, style).argmax(1) == style_labels) >= 0.90
    # predict serves it like any model: a new drawing of the style's 7 (a V), which the published cnn misreads
    from PIL import Image

    from pipeline.style_set import render

    Image.fromarray(render(strokes("eastern-arabic", 7, seed=3001))).save(tmp_path / "seven.png")
    for folder, expected in (("cnn", False), ("cnn-personal", True)):
        shown = cli("predict", tmp_path / "seven.png", "--model-dir", published / folder, "--json", timeout=900)
        assert shown.returncode == 0, shown.stderr
        assert (json.loads(shown.stdout)["digit"] == 7) is expected, shown.stdout


def _kit_artifact(manifest):
    return next(a for a in manifest["adaptation"]["artifacts"] if a["format"] == "tflite")


DAMAGED_KITS = {
    "a file entry that is a string": lambda m: _kit_artifact(m).update(files=["x"]),
    "no file list": lambda m: _kit_artifact(m).pop("files"),
    "replay files not a list": lambda m: m["adaptation"]["replay"].update(files=5),
    "a negative replay shape": lambda m: m["adaptation"]["replay"].update(shape=[-300, -864]),
    "a replay shape of the right size but the wrong width": lambda m: m["adaptation"]["replay"].update(
        shape=[150, 1728]
    ),
    "an entry file not among the checked ones": lambda m: _kit_artifact(m).update(path="adaptation/replay.f32"),
    "a replay outside the folder": lambda m: m["adaptation"]["replay"].update(
        path="/etc/hostname", files=[{"path": "/etc/hostname", "sha256": "0" * 64}]
    ),
    "a kit outside the folder": lambda m: _kit_artifact(m).update(
        path="../../etc/passwd", files=[{"path": "../../etc/passwd", "sha256": "0" * 64}]
    ),
    "no output name": lambda m: m["adaptation"]["output"].pop("name"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_KITS))
def test_a_damaged_adaptation_section_is_one_sentence_and_the_model_still_answers(cnn_dir, tmp_path, damage):
    """Every damage to the kit's manifest section is refused by the manifest's checks in one sentence,
    before any file is opened (nothing outside the folder is read); the model itself still answers."""
    from pipeline.runtime import AdaptationKit, Classifier

    folder = tmp_path / "cnn"
    shutil.copytree(cnn_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    DAMAGED_KITS[damage](manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineError) as refusal:
        AdaptationKit.load(folder)
    message = str(refusal.value)
    assert "\n" not in message and "has an unusable adaptation section" in message, message
    assert Classifier(folder, "litert").predict(np.zeros((1, 28, 28), np.float32)).shape == (1, 10)
