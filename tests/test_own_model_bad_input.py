"""Bad input to `export --keras-model`: one sentence, exit status 1, nothing published, and an earlier
export of the same name left as it was (issue 21, item 4)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, one_error_line, png_file, tree_digest

SIDE, CLASSES, PER_CLASS = 8, 3, 20


@pytest.fixture(scope="module")
def keras():
    from pipeline.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def tiny(keras, head: str | None = "softmax", shape=(SIDE, SIDE, 1), classes: int = CLASSES):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes, activation=head)]
    )


def labelled_folder(root: Path, classes: int = CLASSES, per_class: int = PER_CLASS) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            png_file(root / f"class{c}" / f"{i}.png", rng.integers(0, 256, (SIDE + 2, SIDE), dtype=np.uint8))
    return root


@pytest.fixture
def setup(tmp_path, keras):
    """A good model and folder, and an earlier export of the name the bad ones try to publish."""
    good = tmp_path / "good.keras"
    tiny(keras).save(good)
    data = labelled_folder(tmp_path / "data")
    out = tmp_path / "exported"
    code, _, err = run_export(good, data, out, "--formats", "keras")
    assert code == 0, err
    return good, data, out, tree_digest(out)


def run_export(model, data, out, *more) -> tuple[int, str, str]:
    """The CLI in this process; a later --name overrides "mine"."""
    import contextlib
    import io

    from pipeline import cli

    err, printed = io.StringIO(), io.StringIO()
    args = ["export", "--keras-model", model, "--data", data, "--name", "mine", "--out", out, *more]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(printed):
        code = cli.main([str(a) for a in args])
    return code, printed.getvalue(), err.getvalue()


def refused(model, data, out, before, *more) -> str:
    """The one-sentence error, after checking nothing changed in the export folder."""
    code, _, err = run_export(model, data, out, *more)
    assert code == 1
    assert tree_digest(out) == before, "an earlier export changed or debris was left"
    return one_error_line(err)


def test_a_keras_2_h5_file_says_how_to_get_a_keras_file(setup, keras, tmp_path):
    good, data, out, before = setup
    h5 = tmp_path / "old.h5"
    tiny(keras).save(h5)
    assert "Keras 2 HDF5" in (message := refused(h5, data, out, before)) and "model.save('model.keras')" in message


def test_a_file_that_is_not_a_model_is_refused(setup, tmp_path):
    good, data, out, before = setup
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    assert "is not a Keras 3 `.keras` file" in refused(junk, data, out, before)
    assert "No Keras model at" in refused(tmp_path / "missing.keras", data, out, before)


def test_lambda_layers_and_custom_objects_are_named_and_never_loaded(setup, keras, tmp_path):
    good, data, out, before = setup
    lam = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 1)),
            keras.layers.Lambda(lambda x: x * 2, name="doubler"),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    lam.save(tmp_path / "lambda.keras")
    assert "Lambda layers (doubler)" in refused(tmp_path / "lambda.keras", data, out, before)

    @keras.saving.register_keras_serializable(package="someone")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2

    custom = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 1)),
            Twice(),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    custom.save(tmp_path / "custom.keras")
    assert "custom objects Keras does not ship (someone>Twice)" in refused(
        tmp_path / "custom.keras", data, out, before
    )


def test_two_inputs_or_two_outputs_are_refused(setup, keras, tmp_path):
    good, data, out, before = setup
    a, b = keras.Input((SIDE, SIDE, 1)), keras.Input((SIDE, SIDE, 1))
    both = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    keras.Model([a, b], keras.layers.Dense(CLASSES, activation="softmax")(both)).save(tmp_path / "two-in.keras")
    assert "2 inputs and 1 outputs" in refused(tmp_path / "two-in.keras", data, out, before)
    x = keras.Input((SIDE, SIDE, 1))
    flat = keras.layers.Flatten()(x)
    keras.Model(x, [keras.layers.Dense(CLASSES)(flat), keras.layers.Dense(2)(flat)]).save(
        tmp_path / "two-out.keras"
    )
    assert "1 inputs and 2 outputs" in refused(tmp_path / "two-out.keras", data, out, before)


@pytest.mark.parametrize("shape", [(10,), (SIDE, SIDE, 4), (4, SIDE, SIDE, 1)])
def test_an_input_that_is_not_an_image_is_refused(setup, keras, tmp_path, shape):
    good, data, out, before = setup
    tiny(keras, shape=shape).save(tmp_path / "odd.keras")
    assert "is not an image" in refused(tmp_path / "odd.keras", data, out, before)


def test_class_folders_must_match_the_outputs(setup, keras, tmp_path):
    good, _, out, before = setup
    four = labelled_folder(tmp_path / "four", classes=4)
    assert "has 4 classes (class0, class1, class2, class3), the model has 3 outputs" in refused(
        good, four, out, before
    )


def test_an_empty_class_folder_is_named(setup, tmp_path):
    good, data, out, before = setup
    (data / "class1").rename(tmp_path / "aside")
    (data / "class1").mkdir()
    assert f"Class folder {data / 'class1'} holds no image" in refused(good, data, out, before)


def test_an_unreadable_image_is_named(setup, tmp_path):
    good, data, out, before = setup
    (data / "class2" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert f"{data / 'class2' / '3.png'} is not a readable image" in refused(good, data, out, before)


def test_too_few_images_to_verify_and_calibrate(setup, tmp_path):
    good, _, out, before = setup
    few = labelled_folder(tmp_path / "few", per_class=10)
    assert "30 labelled images are too few" in refused(good, few, out, before)


def test_an_output_with_nan_is_refused(setup, keras, tmp_path):
    good, data, out, before = setup
    model = tiny(keras)
    weights = model.layers[-1].get_weights()
    weights[0][0, 0] = np.nan
    model.layers[-1].set_weights(weights)
    model.save(tmp_path / "nan.keras")
    assert "outputs NaN or infinity for 60 of the 60 images" in refused(tmp_path / "nan.keras", data, out, before)


def test_npz_mistakes_are_refused(setup, tmp_path):
    good, _, out, before = setup
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "nolabels.npz", x=rng.integers(0, 256, (60, SIDE, SIDE), dtype=np.uint8))
    assert "has no `x` and `y` arrays" in refused(good, tmp_path / "nolabels.npz", out, before)
    np.savez(tmp_path / "range.npz", x=rng.normal(size=(60, SIDE, SIDE)), y=np.arange(60) % 3)
    assert "float `x` must be in 0..1" in refused(good, tmp_path / "range.npz", out, before)
    with zipfile.ZipFile(tmp_path / "broken.npz", "w") as archive:
        archive.writestr("x.npy", b"garbage")
        archive.writestr("y.npy", b"garbage")
    assert "is not a readable .npz file" in refused(good, tmp_path / "broken.npz", out, before)


def test_a_contradicting_input_range_and_a_bad_name_are_refused(setup, keras, tmp_path):
    good, data, out, before = setup
    model = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.save(tmp_path / "rescaling.keras")
    assert "contradicts that" in refused(tmp_path / "rescaling.keras", data, out, before, "--input-range", "0..1")
    assert "Model name '../up'" in refused(good, data, out, before, "--name", "../up")


def test_a_sigmoid_output_is_refused_as_multi_label(setup, keras, tmp_path):
    good, data, out, before = setup
    tiny(keras, head="sigmoid").save(tmp_path / "sigmoid.keras")
    assert "ends in a sigmoid" in refused(tmp_path / "sigmoid.keras", data, out, before)


def test_names_that_are_taken_in_the_export_folder_are_refused(setup):
    good, data, out, before = setup
    assert "Model name 'index.json' is taken" in refused(good, data, out, before, "--name", "index.json")
    (out / "notes.txt").write_text("mine")
    assert "Model name 'notes.txt' is taken" in refused(good, data, out, tree_digest(out), "--name", "notes.txt")


# --- what the review of a newcomer found, as it should be ---------------------------------------------


def test_minus_one_to_one_is_accepted_as_documented(setup, keras, tmp_path):
    """`--input-range -1..1` (argparse would take -1..1 for an option)."""
    good, data, out, _ = setup
    code, _, err = run_export(good, data, out, "--input-range", "-1..1", "--formats", "keras", "--name", "pm1")
    assert code == 0, err
    from pipeline.manifest import load_manifest

    assert load_manifest(out / "pm1")["input"]["range"] == [-1.0, 1.0]


def test_sixteen_bit_pngs_are_read_as_tensorflow_reads_them(tmp_path):
    from pipeline import image_input
    from pipeline.tf_setup import import_tensorflow

    tf = import_tensorflow()
    pixels = np.random.default_rng(0).integers(0, 65536, (9, 7), dtype=np.uint16)
    data = png_file(tmp_path / "sixteen.png", pixels).read_bytes()
    for channels in (1, 3):
        theirs = tf.io.decode_image(data, channels=channels, expand_animations=False).numpy()
        assert np.array_equal(image_input.decode(data, channels, "sixteen.png"), theirs.astype(np.float32))


def test_class_names_with_spaces_gif_and_bmp_pictures_and_a_page_without_tfjs(setup, keras, tmp_path):
    """Class names as Keras allows them (spaces, unicode) become the labels; a model of one's own reads
    GIF and BMP in predict as its data was read; a model published without TF.js is left off the page."""
    import json

    from pipeline.manifest import read_index
    from pipeline.site import build_site
    from tests.conftest import cli

    good, data, out, _ = setup
    (data / "class1").rename(data / "red apple")
    (data / "class2").rename(data / "grün")
    code, _, err = run_export(good, data, out, "--formats", "keras,tflite", "--name", "words")
    assert code == 0, err
    assert (out / "words" / "labels.txt").read_text().splitlines() == ["class0", "grün", "red apple"]
    from PIL import Image

    Image.open(next((data / "red apple").iterdir())).save(tmp_path / "apple.gif")
    Image.open(next((data / "grün").iterdir())).convert("RGB").save(tmp_path / "gruen.bmp")
    result = cli("predict", tmp_path, "--model", "words", "--json", "--model-dir", out / "words")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["image"].rsplit("/", 1)[1] for a in answers] == ["apple.gif", "gruen.bmp"], result.stderr
    assert all(a["label"] in ("class0", "grün", "red apple") for a in answers)
    shutil.copytree(REPO_ROOT / "exported_models" / "cnn", out / "cnn")
    from pipeline.publish import update_index

    update_index(out)
    site = build_site(tmp_path / "site", out)
    assert read_index(site / "models")[0] == ["cnn"]  # mine and words have no TF.js artifact
