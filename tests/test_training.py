"""The model registry and training: shapes, parameter counts, learning, repeatability."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.models import MODELS, get_recipe


def test_article_model_is_the_seed_articles():
    recipe = get_recipe("article")
    model = recipe.build()
    assert model.count_params() == 7850  # Dense(10, input_dim=784): 784*10 + 10
    assert [layer.name for layer in model.layers] == ["flatten", "dense", "probabilities"]
    assert (recipe.epochs, recipe.batch_size, recipe.augmentation) == (20, 32, None)
    optimizer = recipe.optimizer(100)
    assert type(optimizer).__name__ == "SGD"
    assert float(optimizer.learning_rate) == pytest.approx(0.01)  # Keras's default, as the article


@pytest.mark.parametrize("name", list(MODELS))
def test_models_map_28x28_images_to_ten_probabilities(name):
    model = get_recipe(name).build()
    probabilities = np.asarray(model(np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_is_refused():
    with pytest.raises(PipelineError, match="Unknown model 'resnet'; choose one of: article, cnn"):
        get_recipe("resnet")


def weights(path):
    from pipeline.formats.keras_format import load as load_keras_model

    return [np.asarray(w) for w in load_keras_model(path).weights]


@pytest.mark.slow
def test_short_training_learns_and_is_repeatable(tmp_path, mnist):
    from pipeline.formats.keras_format import load as load_keras_model
    from pipeline.train import train

    first = train("article", out_dir=tmp_path / "a", epochs=2, train_subset=5000, verbose=0)
    second = train("article", out_dir=tmp_path / "b", epochs=2, train_subset=5000, verbose=0)
    other_seed = train("article", out_dir=tmp_path / "c", epochs=2, train_subset=5000, seed=1, verbose=0)

    (x_test, y_test) = mnist[1]
    model = load_keras_model(first.model_path)
    accuracy = np.mean(np.asarray(model(x_test[:2000] / 255.0)).argmax(axis=1) == y_test[:2000])
    assert accuracy > 0.7, "2 epochs on 4,500 images should be far above chance (0.1)"

    for a, b in zip(weights(first.model_path), weights(second.model_path)):
        np.testing.assert_array_equal(a, b)  # same seed, same weights
    assert any(not np.array_equal(a, c) for a, c in zip(weights(first.model_path), weights(other_seed.model_path)))

    record = json.loads((tmp_path / "a" / "article" / "history.json").read_text())
    assert record["validation_images"] == 500 and record["train_images"] == 4500
    assert len(record["history"]["val_accuracy"]) == 2
    recipe = record["recipe"]  # every setting, with the run's own overrides
    assert recipe["epochs"] == 2 and recipe["optimizer"] == "sgd" and recipe["augmentation"] is None
    assert recipe["learning_rate"] == {
        "peak": 0.01,
        "schedule": "constant",
        "initial": 0.0,
        "warmup_fraction": 0.0,
        "final_fraction": 0.0,
    }
    assert recipe["validation_fraction"] == 0.1 and recipe["calibration_count"] == 500


@pytest.mark.slow
def test_cnn_training_with_augmentation_is_repeatable(tmp_path):
    from pipeline.train import train

    runs = [train("cnn", out_dir=tmp_path / name, epochs=1, train_subset=640, verbose=0) for name in ("a", "b")]
    for a, b in zip(weights(runs[0].model_path), weights(runs[1].model_path)):
        np.testing.assert_array_equal(a, b)


def test_augmentation_keeps_digits_recognisable(mnist):
    """Warped digits stay in range, keep ink (thinning and shrinking take some), and differ."""
    from pipeline.augment import augment

    images = mnist[0][0][:64].astype(np.float32) / 255.0
    warped = augment(images, np.random.default_rng([0, 1]))
    np.testing.assert_array_equal(warped, augment(images, np.random.default_rng([0, 1])))
    assert warped.shape == images.shape and warped.min() >= 0 and warped.max() <= 1
    ink_ratio = warped.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert np.all(ink_ratio > 0.2) and np.all(ink_ratio < 2.5)
    assert 0.8 < np.mean(ink_ratio) < 1.25
    assert np.mean(np.abs(warped - images)) > 0.02

    from pipeline.augment import Augmentation

    np.testing.assert_array_equal(augment(images, np.random.default_rng(0), Augmentation(share=0.0)), images)
    half = augment(images, np.random.default_rng(0), Augmentation(share=0.5))
    untouched = np.all(half == images, axis=(1, 2)).mean()
    assert 0.3 < untouched < 0.7  # about half the images are left as they are


def test_a_thick_pen_keeps_the_digits_size_and_widens_its_strokes(mnist):
    """A thick pen shrinks the digit by what the pen adds, so its box stays about MNIST's 20 px (as
    the reading recipe fits any drawing; within 3 px for the served recipe's 10 px pen), while its
    strokes get wider with the pen."""
    from pipeline.augment import KEEP, THICKEST_PEN, Augmentation, apply, draw
    from pipeline.pen import stroke_width

    images = mnist[0][0][:300].astype(np.float32) / 255.0
    still = dict(max_rotation_degrees=0, max_shear=0, max_shift_pixels=0, scale_range=(1, 1), stroke_change=0)
    warps = draw(np.random.default_rng(0), len(images), Augmentation(thick_pen=1.0, **still))
    drawn = apply(images, *warps) > 0.5
    plain = apply(images, *draw(np.random.default_rng(0), len(images), Augmentation(**still))) > 0.5

    def box(digit):
        return max(np.ptp(np.flatnonzero(digit.any(1))), np.ptp(np.flatnonzero(digit.any(0)))) + 1

    assert set(np.unique(warps.pens)) == set(range(3, THICKEST_PEN + 1)) and KEEP not in warps.pens
    widest = warps.pens == THICKEST_PEN
    assert abs(np.median([box(d) for d in drawn[widest]]) - np.median([box(d) for d in plain])) <= 1
    thick_width = np.median([stroke_width(d) for d in drawn[widest]])
    assert thick_width > 2 * np.median([stroke_width(d) for d in plain])
    served = draw(np.random.default_rng(0), len(images), Augmentation(thick_pen=1.0, thickest_pen=10, **still))
    drawn = apply(images, *served) > 0.5
    assert np.median([box(d) for d in drawn[served.pens == 10]]) - np.median([box(d) for d in plain]) <= 3


def test_a_thick_pen_is_round_like_a_pens_tip():
    """A thick pen stamps a disc its width across, as the pad's pen and a real nib do, not a square;
    the older recipes' thicker stroke (2 px) stays the 2x2 square it was."""
    from pipeline.augment import max_filter

    dot = np.zeros((1, 25, 25), np.float32)
    dot[0, 12, 12] = 1.0
    for side in (4, 6, 9, 10):
        stamp = max_filter(dot, side)[0] > 0
        assert np.flatnonzero(stamp.any(axis=0)).size == np.flatnonzero(stamp.any(axis=1)).size == side
        assert abs(stamp.sum() - np.pi * side * side / 4) < side, side  # a disc's area (a square: side**2)
        rows, cols = np.flatnonzero(stamp.any(axis=1)), np.flatnonzero(stamp.any(axis=0))
        assert not stamp[np.ix_(rows[[0, -1]], cols[[0, -1]])].any(), side  # no corners
        np.testing.assert_array_equal(stamp, stamp.T)
    assert (max_filter(dot, 2)[0] > 0).sum() == 4 and (max_filter(dot, 3)[0] > 0).sum() == 9  # as before


def test_thick_pens_and_low_resolution_leave_the_older_recipes_draws_as_they_were():
    """The new draws come after the old ones: an image that gets no thick pen gets the very warp the
    recipe without thick pens gives it, so CNN_FIRST and CNN_MNIST still train as they did."""
    from pipeline.augment import Augmentation, draw

    for seed in range(5):
        before = draw(np.random.default_rng(seed), 128, Augmentation(share=0.5))
        after = draw(np.random.default_rng(seed), 128, Augmentation(share=0.5, thick_pen=0.3, low_resolution=0.3))
        plain = after.pens < 3
        assert 0 < plain.sum() < 128 and after.low_resolution.any() and not before.low_resolution.any()
        np.testing.assert_array_equal(after.transforms[plain], before.transforms[plain])
        np.testing.assert_array_equal(after.pens[plain], before.pens[plain])


def test_low_resolution_averages_four_by_four_blocks_to_sixteen_levels(mnist):
    from pipeline.augment import low_resolution
    from pipeline.image_input import resize_bilinear

    flat = np.full((1, 28, 28), 0.52, np.float32)  # 7.8 of 15 levels: the nearest is 8
    np.testing.assert_allclose(low_resolution(flat), np.full((1, 28, 28), 8 / 15), atol=1e-6)
    images = mnist[0][0][:20].astype(np.float32) / 255.0
    levels = np.floor(images.reshape(20, 7, 4, 7, 4).mean(axis=(2, 4)) * 15 + 0.5 + 1 / 1024) / 15
    expected = resize_bilinear(levels.transpose(1, 2, 0), 28, 28).transpose(2, 0, 1)
    np.testing.assert_allclose(low_resolution(images), expected, atol=1e-6)
    assert np.mean(np.abs(expected - images)) > 0.05  # blurred


def test_numpy_and_tensorflow_augmentation_give_the_same_batches(mnist):
    """JAX training warps in numpy, TensorFlow training with its image ops: the same pixels."""
    from pipeline.augment import Augmentation
    from pipeline.batches import EpochBatches, tf_dataset
    from pipeline.tf_setup import import_tensorflow

    tf = import_tensorflow()
    images = mnist[0][0][:600].astype(np.float32) / 255.0
    labels = np.eye(10, dtype=np.float32)[mnist[0][1][:600]]
    # every kind of change: warps, thinner and thicker strokes, round thick pens up to the served
    # recipe's widest (even and odd widths), low resolution
    ranges = Augmentation(thick_pen=0.5, thickest_pen=10, low_resolution=0.3)
    batches = EpochBatches(images, labels, 128, seed=3, augmentation=ranges)
    assert {-2, 1, 2, *range(3, 11)} <= set(np.unique(batches.unwarped(3)[2].pens))
    assert batches.unwarped(3)[2].low_resolution.mean() > 0.1
    stream = iter(tf_dataset(tf, batches, first_step=3))
    for step in range(3, 9):  # across the epoch boundary (5 batches an epoch)
        tf_images, tf_labels = next(stream)
        np_images, np_labels = batches.batch(step)
        np.testing.assert_allclose(tf_images.numpy(), np_images, atol=1e-5)
        np.testing.assert_array_equal(tf_labels.numpy(), np_labels)
    assert not np.array_equal(batches.batch(0)[0], batches.batch(5)[0][: len(batches.batch(0)[0])])


def test_tensorflow_augmentation_matches_numpy_when_a_batch_lacks_some_pens(mnist):
    """The served recipe draws a thick pen for a tenth of a batch, so most widths are absent from most
    batches: TensorFlow dilates an empty selection and must leave the batch as numpy does."""
    from pipeline.batches import EpochBatches, tf_dataset
    from pipeline.models import CNN
    from pipeline.tf_setup import import_tensorflow

    tf = import_tensorflow()
    images = mnist[0][0][:96].astype(np.float32) / 255.0
    labels = np.eye(10, dtype=np.float32)[mnist[0][1][:96]]
    batches = EpochBatches(images, labels, 32, seed=5, augmentation=CNN.augmentation)
    widths = set(range(3, CNN.augmentation.thickest_pen + 1))
    absent = [widths - set(np.unique(batches.unwarped(step)[2].pens)) for step in range(3)]
    assert all(absent) and any(len(missing) < len(widths) for missing in absent), absent
    stream = iter(tf_dataset(tf, batches))
    for step in range(3):
        np.testing.assert_allclose(next(stream)[0].numpy(), batches.batch(step)[0], atol=1e-5)


def test_recipes_are_checked_when_made():
    from dataclasses import replace

    from pipeline.augment import Augmentation
    from pipeline.models import ARTICLE, CNN, LearningRate

    with pytest.raises(PipelineError, match="compiled whole-epoch loop .* cannot augment"):
        replace(ARTICLE, augmentation=Augmentation())
    with pytest.raises(PipelineError, match="Label smoothing"):
        replace(CNN, label_smoothing=1.0)
    with pytest.raises(PipelineError, match="validation fraction"):
        CNN.with_overrides(validation_fraction=1.5)
    with pytest.raises(PipelineError, match="schedule 'linear'"):
        LearningRate(peak=0.1, schedule="linear")
    with pytest.raises(PipelineError, match="scale range"):
        Augmentation(scale_range=(1.2, 0.9))
    for side in (2, 13):
        with pytest.raises(PipelineError, match="thickest_pen must be 3 to 12 px"):
            Augmentation(thickest_pen=side)
    with pytest.raises(PipelineError, match="calibration"):
        replace(CNN, calibration_count=0)
    assert CNN.with_overrides(epochs=3, validation_fraction=None).epochs == 3
