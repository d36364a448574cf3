"""Ruled and squared paper, a wooden desk and a squared page's dots: what pipeline/ruled_lines.py and
pipeline/ink.py leave out of a photo's ink, and what they must leave alone (the JS twin is held to the
same pixels by tests/preprocess.test.mjs, on the pages of tests/preprocess_cases.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pipeline.errors import PipelineError
from pipeline.ink import find_digit, ink_mask, remove_background, shrink, to_levels
from pipeline.preprocess import preprocess, to_grayscale
from pipeline.ruled_lines import LINES, drop_ruled_lines, page_lines
from pipeline.runtime import Classifier
from tests.preprocess_cases import SEVEN_POINTS, in_pencil, pencil_on_page, ruled_page, stroke

SEVEN = stroke(300, 300, SEVEN_POINTS, 2)


def mask_of(image: np.ndarray) -> np.ndarray:
    """The ink mask pipeline/ink.py finds in a noise-free grey image, before lines are dropped."""
    return ink_mask(remove_background(shrink(to_levels(to_grayscale(image)))))


@pytest.fixture(scope="module")
def classifier(committed_models):
    return Classifier(committed_models / "cnn", "litert")


def reads_as_on_blank_paper(classifier, ink: np.ndarray, lines: np.ndarray, digit: int) -> None:
    """Pencil strokes `ink` on the page `lines` keep their pixels and are read as on blank paper."""
    mask = mask_of(in_pencil(np.maximum(ink, lines)))
    strokes = mask & (ink > 0.5)
    assert (drop_ruled_lines(mask) & strokes).sum() >= 0.97 * strokes.sum()
    assert classifier.classify(in_pencil(ink)).digit == digit
    assert classifier.classify(in_pencil(np.maximum(ink, lines))).digit == digit


@pytest.mark.parametrize("squared", [False, True], ids=["ruled", "squared"])
def test_a_pencil_digit_on_a_page_loses_the_lines_and_keeps_its_strokes(squared):
    mask = mask_of(pencil_on_page(squared))
    kept = drop_ruled_lines(mask)
    away = ~ndimage.binary_dilation(SEVEN > 0.5, iterations=8)  # stubs of a line's width may stay
    seven = mask & (SEVEN > 0.5)
    # the page's lines are gone (but for a line in a corner, across less than LINE_ROOM of the image)
    assert (kept & away).sum() <= 0.01 * (mask & away).sum()
    assert (kept & seven).sum() >= 0.97 * seven.sum()  # the strokes crossing them stay
    # and the reader sees about what it sees on blank paper: the lines' stubs at the crossings and a
    # stroke's gap where it passes through a square's corner cost a few grey levels on average
    assert np.abs(preprocess(pencil_on_page(squared)) - preprocess(in_pencil(SEVEN))).mean() < 0.025


@pytest.mark.parametrize("digit", [7, 2])
def test_a_bar_written_on_a_ruled_line_stays(classifier, digit):
    """Writing on the line is what ruled paper is for: the bar is thicker than the line there."""
    if digit == 7:
        ink, lines = SEVEN, ruled_page(300, 300, 40, 0.0, False, offset=79)  # the bar on rows 78..82
    else:
        ink = stroke(300, 300, [(100, 100), (75, 150), (100, 195), (230, 90), (230, 215)], 2)
        lines = ruled_page(300, 300, 40, 0.0, False, offset=229)  # the base on rows 228..232
    reads_as_on_blank_paper(classifier, ink, lines, digit)


def test_a_tight_crop_keeps_bars_that_lie_between_the_lines():
    """A 7 and a 2 cropped to 160 px, their bars across 85 % of it and 5 px from the nearest lines: the
    bars are long and thin, but not at the page's spacing."""
    lines = ruled_page(160, 160, 16, 0.0, False, offset=6)
    seven = stroke(160, 160, [(14, 12), (14, 148), (145, 60)], 1.0)
    two = stroke(160, 160, [(40, 20), (15, 80), (40, 140), (143, 15), (143, 148)], 1.5)
    for ink in (seven, two):
        mask = mask_of(in_pencil(np.maximum(ink, lines)))
        strokes = mask & (ink > 0.5) & ~(lines > 0)
        assert (drop_ruled_lines(mask) & strokes).sum() == strokes.sum()


def test_a_page_turned_so_its_lines_run_into_the_corners_loses_their_pieces_there(classifier):
    one = stroke(240, 240, [(55, 125), (190, 120)], 1.5)
    reads_as_on_blank_paper(classifier, one, ruled_page(240, 240, 24, 0.14, False, offset=7), 1)


def test_squared_paper_at_a_fine_spacing_loses_its_columns_near_the_digit(classifier):
    """Squares every 9 % of a 400 px page, upright, blurred as a camera does: each column also holds
    the rows it crosses, which must be counted out, or the columns near the digit stay whole (a 7 was
    read 1)."""
    rows, cols = np.mgrid[0:400, 0:400]
    lines = ((((rows + 7) % 36) < 2) | (((cols + 7) % 36) < 2)).astype(float)
    seven = stroke(400, 400, [(110, 140), (110, 260), (300, 180)], 2)
    blurred = ndimage.gaussian_filter(225 - 80 * np.maximum(seven, lines), 0.6)
    assert classifier.classify(np.round(blurred).astype(np.uint8)).digit == 7


def test_lines_whose_spacing_grows_down_a_page_photographed_at_a_slant_are_all_found(classifier):
    """The spacing grows from 34 to 46 px down a 400 px page: each gap is like the ones beside it,
    though the first and the last differ by a third."""
    rows = np.mgrid[0:400, 0:400][0].astype(float)
    growth = 0.3 / 400
    gain = 1 - 0.15 + growth * rows
    along = np.log(gain) / growth  # rows, stretched so that the lines fall every 40 of it
    lines = np.clip(1.5 - np.abs((along - np.round(along / 40) * 40) * gain), 0, 1)
    one = stroke(400, 400, [(90, 205), (250, 195)], 2)
    seven = stroke(400, 400, [(90, 150), (90, 250), (250, 190)], 2)
    for ink, digit in ((one, 1), (seven, 7)):
        assert classifier.classify(in_pencil(np.maximum(ink, lines))).digit == digit


@pytest.mark.parametrize("squared", [False, True], ids=["ruled", "squared"])
def test_a_blank_page_is_refused(squared):
    for spacing in (20, 30):
        for slope in (0.0, 0.05, -0.1, 0.16):
            with pytest.raises(PipelineError):
                preprocess(in_pencil(ruled_page(300, 300, spacing, slope, squared, offset=5)))


def test_digits_and_drawings_without_a_page_are_left_as_they_are(mnist):
    (_, _), (x_test, _) = mnist
    for digit in x_test[:300]:
        mask = mask_of(digit)
        assert (drop_ruled_lines(mask) == mask).all()
    # the pad, white on black: a 7 with a bar across most of it, and an E-like 3 with three bars
    bars = stroke(280, 280, [(30, 20), (30, 260), (250, 120)], 9)
    three = stroke(280, 280, [(20, 30), (20, 250), (140, 250), (140, 60), (140, 250), (260, 250), (260, 30)], 9)
    # a flat-barred 3 filling a 1000 px canvas, a 6 px brush: three long thin bars, evenly spaced
    flat = 1 - stroke(
        1000, 1000, [(100, 150), (100, 850), (500, 850), (500, 200), (500, 850), (900, 850), (900, 150)], 3
    )
    for drawing in (bars, three, flat):
        mask = mask_of(np.round(drawing * 255).astype(np.uint8))
        assert (drop_ruled_lines(mask) == mask).all()


def test_fewer_lines_than_a_page_has_are_not_a_page():
    two = ruled_page(300, 300, 28, 0.06, squared=False)
    two[:100] = two[160:] = 0  # lines at about rows 112 and 140 only
    assert LINES > 2
    ink = np.maximum(two, SEVEN)
    mask = mask_of(in_pencil(ink))
    assert not page_lines(mask)[0].any()
    assert (drop_ruled_lines(mask) == mask).all()


def test_noise_along_the_edges_of_a_vignetted_photo_is_not_a_page():
    """Bands of speckle as wide as a tenth of the image (what a vignette leaves above the noise floor)
    hold rows as full as a page's line, but no thin one."""
    rng = np.random.default_rng(0)
    mask = np.zeros((400, 400), bool)
    mask[:40] = rng.random((40, 400)) < 0.7
    mask[360:] = rng.random((40, 400)) < 0.7
    assert not page_lines(mask)[0].any()


def test_a_wooden_desk_whose_grain_runs_across_a_side_band_is_left_out():
    """Grain that makes the desk's rows alternately stronger and weaker than a pencil's stroke: the
    desk is found by its width above the noise floor, not by the strongest pixels (reading_sets'
    wooden desk; photo 241 of its photo set was refused as two marks before)."""
    page = np.full((400, 400), 170.0)
    page -= 70 * stroke(400, 400, [(90, 60), (300, 90)], 6)  # a pencil 1
    grain = 1 + 0.25 * np.sin(np.arange(400) / 3.0)  # the desk's rows, lighter and darker
    page[:, 350:] = 112 * grain[:, None]
    digit, _ = find_digit(to_grayscale(np.round(page).astype(np.uint8)))
    rows, cols = np.nonzero(digit)
    assert cols.max() < 120 and rows.min() > 60 and rows.max() < 330  # the 1, and no desk


def test_a_squared_pages_dots_within_the_digit_are_specks_not_strokes():
    """Where a squared page's faint lines cross they are darker: the hysteresis leaves the lines out
    but can keep the crossings, as dots. Inside the digit's box they must neither count as strokes
    (a scribble) nor be drawn: the reader sees the digit as on blank paper."""
    thin_seven = stroke(300, 300, [(80, 90), (80, 200), (230, 130)], 1)
    away = ~ndimage.binary_dilation(thin_seven > 0, iterations=4)
    dots = np.zeros((300, 300))
    for row in range(10, 300, 25):
        for col in range(10, 300, 25):
            if away[row : row + 3, col : col + 3].all():
                dots[row : row + 3, col : col + 3] = 1.0
    assert np.array_equal(preprocess(in_pencil(np.maximum(dots, thin_seven))), preprocess(in_pencil(thin_seven)))
