"""Find the ink: which pixels of a drawing or a photo of paper are the digit's strokes.

A photo is not a drawing: the paper is lit unevenly (shadow, vignette), the sensor adds noise, ruled or
squared lines cross the page and the desk shows around the sheet. The recipe is the classic document
one, in whole numbers so that `web/static/ink.js` gives exactly the same mask:

1. grey levels 0..255 (`to_levels`), shrunk by a whole factor to at most WORK_SIDE pixels a side by
   block means (`shrink`): a 12-megapixel photo costs what a 400-pixel one does, and noise averages out;
2. ink made bright (dark ink on light paper, the majority, is inverted) and the paper's background
   estimated by a grey opening, a square BACKGROUND_WINDOW of the shorter side wide, wider than any
   stroke; subtracting it (the white top-hat) flattens uneven light (`remove_background`);
3. hysteresis between a low threshold above the sensor noise (`noise_level`) and Otsu's threshold
   (Otsu 1979, "A threshold selection method from gray-level histograms") (`ink_mask`);
4. ruled and squared lines dropped: two or more horizontal or vertical runs of ink longer than
   LINE_SPAN of the image (`remove_lines`); the desk around the sheet and page edges: components that
   touch the border and span LINE_SPAN of it, when something else is left (`digit_mask`);
5. components (8-connected): the digit is the ones holding MIN_SHARE of the ink and whatever lies
   within their box; "not one digit" when those fall into several groups side by side or when only
   specks are left (`digit_mask`).

Every constant here was chosen by measurement on the generated photo, drawing and not-a-digit sets
of `pipeline bench` (pipeline/bench/reading.py), which prints the figures.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import PipelineError

WORK_SIDE = 512  # the longer side is shrunk by a whole factor to at most this many pixels
BACKGROUND_WINDOW = 0.25  # the opening's square, as a share of the shorter side (made odd, at least 3)
NOISE_SIGMAS = 4.0  # ink is at least this many noise deviations above the paper
LOW_FLOOR = 8  # grey levels (of 255): and at least this, on a clean drawing
LINE_SPAN = 0.75  # a run of ink this share of the image's width (height) long is a ruled line, not a stroke

# "Not one digit" (constants measured, see pipeline bench): components holding at least MIN_SHARE of the
# ink are what was drawn; grouped by their columns, groups further apart than DIGIT_GAP x the drawing's
# height are separate digits or marks. More than SPECKS components, none holding SPECK_SHARE of the ink,
# are noise, not strokes.
MIN_SHARE = 0.1
DIGIT_GAP = 0.25
SPECKS = 20
SPECK_SHARE = 0.3


class BlankImageError(PipelineError):
    """The image has no ink: nothing to predict."""


class NotOneDigitError(PipelineError):
    """The image holds something other than one digit: several side by side, or only specks of noise."""


def to_levels(gray: np.ndarray) -> np.ndarray:
    """HxW float 0..1 -> HxW int64 grey levels 0..255 (rounded half up, as Math.round in JS)."""
    return np.floor(gray * 255 + 0.5).astype(np.int64)


def shrink(levels: np.ndarray) -> tuple[np.ndarray, int]:
    """Block means over factor x factor pixels, the smallest whole factor that brings the longer side to
    at most WORK_SIDE; rows and columns left over at the bottom and right are dropped.

    Returns (levels HxW int64 0..255, factor). The means are rounded half up in whole numbers.
    """
    factor = -(-max(levels.shape) // WORK_SIDE)
    if factor == 1:
        return levels, 1
    height, width = levels.shape[0] // factor, levels.shape[1] // factor
    if height == 0 or width == 0:  # a sliver: keep it whole
        return levels, 1
    blocks = levels[: height * factor, : width * factor].reshape(height, factor, width, factor)
    area = factor * factor
    return (blocks.sum(axis=(1, 3)) * 2 + area) // (2 * area), factor


def window_size(shape: tuple[int, int]) -> int:
    """The background opening's square side in pixels: odd, at least 3."""
    side = int(min(shape) * BACKGROUND_WINDOW)
    return max(3, side | 1)


def remove_background(levels: np.ndarray) -> np.ndarray:
    """HxW levels 0..255 of either polarity -> HxW int64 ink strength 0..255 over a flat background at 0.

    Dark ink on light paper (the median above the middle grey) is inverted. The background is the grey
    opening (a min then a max filter over a square window_size wide): it keeps what is wider than the
    window (paper, light falling off, the desk) and removes the strokes; the top-hat is what is left.
    """
    from scipy import ndimage

    bright = 255 - levels if np.median(levels) > 127.5 else levels
    size = window_size(bright.shape)
    background = ndimage.maximum_filter(ndimage.minimum_filter(bright, size, mode="nearest"), size, mode="nearest")
    return bright - background


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of int levels 0..255: the t that maximises the between-class variance of
    (values < t) and (values >= t). Sums are whole numbers; the ratios are the same float operations
    in the JS twin, so both choose the same t (the first of equal maxima)."""
    counts = np.bincount(values.ravel(), minlength=256).astype(np.int64)
    total, weighted_total = int(counts.sum()), int(counts @ np.arange(256))
    best, best_score = 0, -1.0
    below = below_weighted = 0
    for t in range(1, 256):
        below += int(counts[t - 1])
        below_weighted += (t - 1) * int(counts[t - 1])
        above = total - below
        if below == 0 or above == 0:
            continue
        difference = below_weighted / below - (weighted_total - below_weighted) / above
        score = below * above * difference * difference
        if score > best_score:
            best, best_score = t, score
    return best


def noise_level(levels: np.ndarray) -> float:
    """The sensor noise's standard deviation in grey levels, from the median absolute difference of
    horizontal neighbours (for Gaussian noise of deviation s it is 0.6745 x sqrt(2) x s; strokes and
    uneven light are too few or too smooth to move it). 0.0 for a clean drawing."""
    if levels.shape[1] < 2:
        return 0.0
    differences = np.sort(np.abs(np.diff(levels, axis=1)).ravel())
    return float(differences[len(differences) // 2]) / 0.9539


def ink_mask(strength: np.ndarray, noise: float) -> tuple[np.ndarray, float]:
    """HxW ink strength (remove_background's) -> HxW bool, by hysteresis (Canny 1986): the connected
    pieces (8-neighbours) of strength >= low that hold a pixel >= high, where low = max(NOISE_SIGMAS x
    noise, LOW_FLOOR) and high = max(Otsu's threshold, low). A thin or faint stroke keeps its faint
    pixels as long as it is joined to strong ones; noise rarely reaches low. BlankImageError when
    nothing reaches high. Returns (mask, high)."""
    from scipy import ndimage

    low = max(NOISE_SIGMAS * noise, LOW_FLOOR)
    high = max(otsu_threshold(strength), low)
    candidates = strength >= low
    labels, count = ndimage.label(candidates, structure=np.ones((3, 3), bool))
    strong = np.zeros(count + 1, bool)
    strong[labels[strength >= high]] = True
    strong[0] = False
    if not strong.any():
        raise BlankImageError("The image is blank: there is no digit to read.")
    return strong[labels], high


def long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """HxW bool -> the pixels of `mask` in a horizontal run of at least `length` pixels."""
    runs = np.zeros(mask.shape, bool)
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    for row, start in zip(*np.nonzero(steps == 1)):
        stop = start + int(np.argmax(steps[row, start:] == -1))
        if stop - start >= length:
            runs[row, start:stop] = True
    return runs


def remove_lines(mask: np.ndarray) -> np.ndarray:
    """Drop ruled and squared paper's lines: runs of ink longer than LINE_SPAN of the width (rows) or
    the height (columns), when there are at least two of them apart (paper is ruled with several lines;
    a single long run is more likely a stroke: the bar of a tightly cropped 7, the stem of a 1)."""
    height, width = mask.shape
    rows = long_runs(mask, max(2, int(np.ceil(LINE_SPAN * width))))
    cols = long_runs(mask.T, max(2, int(np.ceil(LINE_SPAN * height)))).T
    lines = np.zeros(mask.shape, bool)
    if separate_lines(rows.any(axis=1)) >= 2:
        lines |= rows
    if separate_lines(cols.any(axis=0)) >= 2:
        lines |= cols
    return mask & ~lines


def separate_lines(present: np.ndarray) -> int:
    """1-D bool -> how many blocks of consecutive True it holds."""
    return int(present[0]) + int(np.count_nonzero(present[1:] & ~present[:-1])) if len(present) else 0


def digit_mask(mask: np.ndarray) -> np.ndarray:
    """HxW bool ink -> HxW bool, the one digit's pixels. NotOneDigitError for several marks side by side
    or only specks; BlankImageError when nothing is left. Areas are whole pixel counts."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        raise BlankImageError("The image is blank: there is no digit to read.")
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(labels)
    height, width = mask.shape
    frame = np.zeros(count, bool)  # the desk around the sheet, a page edge: dropped if anything else is there
    for index, (rows, cols) in enumerate(boxes):
        touches = rows.start == 0 or cols.start == 0 or rows.stop == height or cols.stop == width
        spans = cols.stop - cols.start >= LINE_SPAN * width or rows.stop - rows.start >= LINE_SPAN * height
        frame[index] = touches and spans
    keep = ~frame if not frame.all() else np.ones(count, bool)
    total = int(areas[keep].sum())
    if total == 0:
        raise BlankImageError("The image is blank: there is no digit to read.")
    if count > SPECKS and int(areas[keep].max()) < SPECK_SHARE * total:
        raise NotOneDigitError("That is not one digit: the image holds only specks (blank or noisy paper).")
    strokes = [i for i in range(count) if keep[i] and areas[i] >= MIN_SHARE * total]
    if not strokes:  # many pieces, none standing out
        raise NotOneDigitError("That is not one digit: the image holds only specks (blank or noisy paper).")
    spans = sorted((boxes[i][1].start, boxes[i][1].stop, boxes[i][0].start, boxes[i][0].stop) for i in strokes)
    top, bottom = min(s[2] for s in spans), max(s[3] for s in spans)
    groups, right = 1, spans[0][1]
    for left, stop, _, _ in spans[1:]:
        if left - right > DIGIT_GAP * (bottom - top):
            groups += 1
        right = max(right, stop)
    if groups > 1:
        raise NotOneDigitError(
            f"That is not one digit: the image holds {groups} marks side by side; give one digit at a time."
        )
    left, right = spans[0][0], max(s[1] for s in spans)
    inside = [
        i + 1
        for i in range(count)
        if keep[i]
        and boxes[i][0].start >= top
        and boxes[i][0].stop <= bottom
        and boxes[i][1].start >= left
        and boxes[i][1].stop <= right
    ]
    return np.isin(labels, inside)
