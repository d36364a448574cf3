"""The field cases: one small input per kind that people give a digit reader, with the right answer
(tests/fixtures/field-cases/README.md). `refuse` means a one-sentence refusal, never a digit.

Photos of paper are read by pipeline/ink.py's recipe (background removal, hysteresis with Otsu's
threshold, lines and desk dropped) and pipeline/pen.py's pen. A digit drawn small with the pad's thick
pen fills its own gaps: the page and the app read the pad's strokes redrawn with a pen in proportion
(pipeline/strokes.py; tested below and, with the mouse, in test_web_page.py and test_streamlit_e2e.py).
A picture of such a drawing has no strokes to redraw: the CNN reads it because it is trained with
round pens up to half the digit's height (pipeline/augment.py; the kind is tested below).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.preprocess import BlankImageError, NotOneDigitError, read_image
from pipeline.runtime import Classifier
from tests.conftest import REPO_ROOT

FIELD_CASES = REPO_ROOT / "tests" / "fixtures" / "field-cases"

CASES = [
    ("min_lined_5.png", 5),
    ("alpha_white_ink_40pct.png", 5),
    ("min_noise6_7_600.png", 7),
    ("min_vignette20_7_600.png", 7),
    ("min_desk_frame_3.png", 3),
    ("min_noise8_blank.png", "refuse"),
    ("min_multi_11.png", "refuse"),
    ("min_thinpen_7_600.png", 7),
    ("page_pen_small_5_44px.png", 5),
]


@pytest.fixture(scope="module")
def classifier(committed_models):
    """The committed cnn: what each case reads does not move when `make run` retrains locally."""
    return Classifier(committed_models / "cnn", "litert")


@pytest.mark.parametrize(("file_name", "answer"), CASES)
def test_each_field_case_gets_its_right_answer(classifier, file_name, answer):
    image = read_image(FIELD_CASES / file_name)
    if answer == "refuse":
        with pytest.raises(NotOneDigitError) as refusal:
            classifier.classify(image)
        assert str(refusal.value).startswith("That is not one digit: ") and "\n" not in str(refusal.value)
    else:
        assert classifier.classify(image).digit == answer


def test_faint_white_ink_on_a_transparent_canvas_is_ink_not_blank():
    """40 % opacity white ink: the ink is the most opaque pixels, whatever their opacity."""
    from pipeline.preprocess import preprocess

    try:
        seen = preprocess(read_image(FIELD_CASES / "alpha_white_ink_40pct.png"))
    except BlankImageError:
        pytest.fail("faint ink was taken for a blank canvas")
    assert seen.max() == pytest.approx(1.0) and seen[0].max() == 0  # white on black, MNIST-placed


def test_an_examples_file_in_the_wrong_polarity_is_refused(cnn_dir):
    """Black-on-white examples (the format holds white on black) were accepted, and their held-out
    accuracy recorded as 1.000. The file was made for an earlier export of cnn: pointed at today's,
    it is refused for its polarity alone."""
    from pipeline.examples_file import parse_examples
    from pipeline.files import sha256_file

    document = json.loads((FIELD_CASES / "examples-black-on-white.json").read_text())
    manifest_sha256 = sha256_file(cnn_dir / "manifest.json")
    document["manifest_sha256"] = manifest_sha256
    with pytest.raises(PipelineError) as refusal:
        parse_examples(json.dumps(document).encode(), "cnn", manifest_sha256)
    assert str(refusal.value) == (
        "The examples file, example 1: the image is dark ink on a light background; examples are white "
        "ink on black (0 = background), as the page and the app export them."
    )
    for example in document["examples"]:  # the same drawings in the right polarity are taken
        example["image"] = [[1 - value for value in row] for row in example["image"]]
    images, labels = parse_examples(json.dumps(document).encode(), "cnn", manifest_sha256)
    assert len(images) == len(document["examples"])


def refused(images) -> int:
    from pipeline.preprocess import preprocess

    count = 0
    for image in images:
        try:
            preprocess(image)
        except (NotOneDigitError, BlankImageError):
            count += 1
    return count


def test_not_one_digit_refuses_pairs_and_noise_and_keeps_real_digits(mnist):
    """The issue's bounds: at most 1 % of the MNIST test set refused; two digits side by side and blank
    noisy paper refused at least 95 % of the time (generated here: MNIST pairs 4 px apart, paper at
    grey 220 with sensor noise of sigma 3 to 12)."""
    (_, _), (images, _) = mnist
    rng = np.random.default_rng(0)
    pairs = [
        np.hstack(
            [images[rng.integers(len(images))], np.zeros((28, 4), np.uint8), images[rng.integers(len(images))]]
        )
        for _ in range(200)
    ]
    papers = [
        np.clip(220 + rng.normal(0, rng.uniform(3, 12), (280, 280)), 0, 255).astype(np.uint8) for _ in range(100)
    ]
    assert refused(images) <= 0.01 * len(images)
    assert refused(pairs) >= 0.95 * len(pairs)
    assert refused(papers) >= 0.95 * len(papers)


def test_a_five_drawn_44_px_tall_on_the_pad_is_read_from_its_strokes(classifier):
    """The kind of page_pen_small_5_44px.png: a 5 drawn about 44 px tall with the pad's 22 px pen. The
    canvas as drawn is a blob (the pictures are tested below); the strokes the pad keeps, redrawn as the
    page and the app read them, are a 5 all ten times."""
    from pipeline import strokes
    from pipeline.style_set import strokes as drawing

    pad = strokes.pad_settings()
    read = []
    for seed in range(10):
        paths = drawing("standard", 5, seed)
        low, size = np.concatenate(paths).min(axis=0), np.ptp(np.concatenate(paths), axis=0)
        placed = [(path - low) * (44 - pad["stroke_width"]) / size[1] + 120 for path in paths]
        read.append(classifier.classify(strokes.redraw(placed, pad)).digit)
    assert read == [5] * 10, read


def test_pictures_of_small_digits_drawn_with_the_pads_pen_are_mostly_read(read_digit):
    """The kind of page_pen_small_5_44px.png as a picture: style_set's digits drawn 40 to 70 px tall
    with the pad's 22 px pen and saved as PNGs, their loops and gaps filled. Measured: the CNN trained
    with square pens up to 6 px read these 60 at 0.53 (the bench's 200, pipeline/bench/reading_sets.
    small_pad_pictures: 0.59), the served one, with round pens up to 10 px, at 0.93 (0.83)."""
    from pipeline.bench.reading import png_bytes
    from pipeline.bench.reading_sets import small_pad_pictures
    from pipeline.preprocess import read_image

    samples = small_pad_pictures(count=60, seed=17)
    read = [read_digit(read_image(png_bytes(sample.image))) for sample in samples]  # None: refused, a miss
    assert np.mean([answer == sample.label for answer, sample in zip(read, samples)]) >= 0.75, read
