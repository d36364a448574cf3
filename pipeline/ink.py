"""Find the ink: which pixels of a drawing or a photo of paper are the digit's strokes (`find_digit`).

A photo is not a drawing: the paper is lit unevenly (shadow, vignette), the sensor adds noise, ruled or
squared lines cross the page and the desk shows around the sheet. The recipe is the classic document
one, in whole numbers so that `web/static/ink.js` gives exactly the same mask:

1. grey levels 0..255 (`to_levels`), a large image shrunk by a whole factor to between WORK_SIDE and
   twice that a side by block means (`shrink`): a 12-megapixel photo costs what a 700-pixel one does; a photo's
   sensor noise is smoothed by a 3x3 mean (`noisy`, `smooth`);
2. ink made bright (dark ink on light paper, the majority, is inverted) and the paper's background
   estimated by a grey opening, a square BACKGROUND_WINDOW of the shorter side wide, wider than any
   stroke; subtracting it (the white top-hat) flattens uneven light (`remove_background`);
3. the desk around the sheet left out, then hysteresis from a floor above the noise to Otsu's threshold
   among what stands out (Otsu 1979, "A threshold selection method from gray-level histograms"), kept
   local so that faint ruled lines are not followed away from the ink (`ink_mask`);
4. the page's ruled rows and squared columns dropped where the pen is as faint as they are
   (pipeline/ruled_lines.py);
5. components (8-connected): the digit is the ones holding MIN_SHARE of the ink and whatever lies
   within their box; "not one digit" when those fall into several groups side by side, when they are
   scribbled, looped (more closed loops than an 8's two) or crossed (zig-zags) or when only specks are
   left (`digit_mask`).

Every constant was chosen by measurement on the generated photo, pad, low-resolution and not-a-digit
sets (pipeline/bench/reading_sets.py); `pipeline bench --only reading` prints the figures.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import PipelineError
from pipeline.ruled_lines import drop_ruled_lines

WORK_SIDE = 512  # the longer side is shrunk by a whole factor to between this and twice this
BACKGROUND_WINDOW = 0.25  # the opening's square, as a share of the shorter side (made odd, at least 3)
NOISE_SIGMAS = 3.0  # ink stands at least this many of the paper's deviations above it
LOW_FLOOR = 8  # grey levels (of 255): and at least this, on a clean drawing
NEAR = 2  # pixels: how far a faint pixel may be from strong ink and still count...
NEAR_SMALL = 4  # ...in an image of at most SMALL_SIDE pixels a side (a thumbnail, a scan at MNIST's
SMALL_SIDE = 64  # size), where a blurred stroke's edge is wider than 2 of its few pixels
DESK_CORE = 3  # pixels: the desk is wider than twice this; ruled lines and most strokes are not
DESK_FRINGE = 3  # pixels: the desk's faint edge left out with it
FRAME_SPAN = 0.7  # a piece of ink touching the image's edge, this share of its width (height) long...
FRAME_DEPTH = 0.15  # ...and reaching no further in than this share of its shorter side is a frame

# "Not one digit" (constants measured, see pipeline bench): components holding at least MIN_SHARE of the
# ink are what was drawn; grouped by their columns, groups further apart than DIGIT_GAP x the drawing's
# height are separate digits or marks. More than SPECKS components, none holding SPECK_SHARE of the ink,
# are noise, not strokes. Within the digit's box, pieces under PIECE_SHARE of the ink are specks (a
# squared page's crossings), left out: they would count as strokes for `scribbled`.
MIN_SHARE = 0.1
PIECE_SHARE = 0.02
DIGIT_GAP = 0.03
SPECKS = 20
SPECK_SHARE = 0.3
SCRIBBLE = 4.2  # see scribbled
LOOPS = 2  # a digit closes at most two loops (an 8); see looped
LOOP_SIDE = 0.1  # a loop is at least this share of the box's longer side across: MNIST's pen at its scale
CROSSINGS = (3, 4)  # a digit's strokes cross a row of its box at most 3 times, a column at most 4 (an 8)...
CROSSED = 0.3  # ...save in up to this share of its rows (columns); see crossed
SMALLEST = 0.06  # a digit's box is at least this share of the image's shorter side (a pad's 40 px: 0.14)


class BlankImageError(PipelineError):
    """The image has no ink: nothing to predict."""


class NotOneDigitError(PipelineError):
    """The image holds something other than one digit: several side by side, a scribble, only specks."""


SPECKS_ONLY = "That is not one digit: the image holds only specks (blank or noisy paper)."
TOO_SMALL = (
    "That is not one digit: the marks are too small to read (a speck, or a digit drawn tiny: draw it larger)."
)


def to_levels(gray: np.ndarray) -> np.ndarray:
    """HxW float 0..1 -> HxW int64 grey levels 0..255 (rounded half up, as Math.round in JS)."""
    return np.floor(gray * 255 + 0.5).astype(np.int64)


def shrink(levels: np.ndarray) -> np.ndarray:
    """Block means over factor x factor pixels, the largest whole factor that keeps the longer side at
    least WORK_SIDE (so below 2 x WORK_SIDE: a thin pen keeps its contrast); rows and columns left over
    at the bottom and right are dropped.

    Returns levels HxW int64 0..255, the means rounded half up in whole numbers.
    """
    factor = max(1, max(levels.shape) // WORK_SIDE)
    if factor == 1:
        return levels
    height, width = levels.shape[0] // factor, levels.shape[1] // factor
    if height == 0 or width == 0:  # a sliver: keep it whole
        return levels
    blocks = levels[: height * factor, : width * factor].reshape(height, factor, width, factor)
    area = factor * factor
    return (blocks.sum(axis=(1, 3)) * 2 + area) // (2 * area)


def window_size(shape: tuple[int, int]) -> int:
    """The background opening's square side in pixels: odd, at least 3; as wide as a small image (at
    most SMALL_SIDE a side: a thumbnail, a scan at MNIST's size), where a thick stroke can be wider than
    a quarter of it and the light cannot change much across so few pixels."""
    side = max(shape) if max(shape) <= SMALL_SIDE else int(min(shape) * BACKGROUND_WINDOW)
    return max(3, side | 1)


def remove_background(levels: np.ndarray) -> np.ndarray:
    """HxW levels 0..255 of either polarity -> HxW int64 ink strength 0..255 over a flat background at 0.

    Dark ink (dark_ink) is inverted. The background is the grey
    opening (a min then a max filter over a square window_size wide): it keeps what is wider than the
    window (paper, light falling off, the desk) and removes the strokes; the top-hat is what is left.
    """
    from scipy import ndimage

    bright = 255 - levels if dark_ink(levels) else levels
    size = window_size(bright.shape)
    background = ndimage.maximum_filter(ndimage.minimum_filter(bright, size, mode="nearest"), size, mode="nearest")
    return bright - background


def dark_ink(levels: np.ndarray) -> bool:
    """True when the ink is darker than the paper: the darkest level lies further below the median
    (the paper, whatever its brightness: an underexposed photo's paper can be darker than mid-grey)
    than the brightest lies above it."""
    middle = float(np.median(levels))
    return middle - float(levels.min()) > float(levels.max()) - middle


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


def noisy(levels: np.ndarray) -> bool:
    """True for a photo's sensor noise, to be smoothed: most horizontal neighbours differ (the median
    absolute difference is not 0) in an image larger than SMALL_SIDE. A drawing's flat background and
    a small image's few pixels are left sharp."""
    if levels.shape[1] < 2 or max(levels.shape) <= SMALL_SIDE:
        return False
    differences = np.sort(np.abs(np.diff(levels, axis=1)).ravel())
    return bool(differences[len(differences) // 2] > 0)


def smooth(levels: np.ndarray) -> np.ndarray:
    """3x3 box mean (edges repeated), rounded half up in whole numbers: sensor noise down by 3."""
    padded = np.pad(levels, 1, mode="edge")
    height, width = levels.shape
    total = np.zeros(levels.shape, np.int64)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + height, dx : dx + width]
    return (total * 2 + 9) // 18


def ink_mask(strength: np.ndarray) -> np.ndarray:
    """HxW ink strength (remove_background's) -> HxW bool: hysteresis (Canny 1986) kept local.

    The mask is the pixels of strength >= low within NEAR (NEAR_SMALL in a small image) pixels of a
    strong one (>= high). Low is max(the paper's median strength + NOISE_SIGMAS x its spread,
    LOW_FLOOR), the paper being the pixels below Otsu's threshold (a tight crop can be half ink): the
    opening settles on the noise's troughs, so in a photo the paper's strength is not 0; the spread is
    1.4826 x the median absolute deviation, the standard deviation of Gaussian noise, whatever its
    grain. High is Otsu's threshold among the pixels above low (what stands out from the paper splits
    into the ink and the fainter ruled lines, squares and shadows), at least low. A stroke's faint edge
    is kept; a faint line running away from the ink is not (nor a stroke much fainter than the rest of
    the digit). The desk around the sheet (desk_pixels) is left out first: its strength is not the
    ink's. BlankImageError when nothing reaches low.
    """
    from pipeline.pen import squared_distances

    paper = strength[strength < otsu_threshold(strength)]  # Otsu's lower class: the paper
    paper = paper if paper.size else strength.ravel()
    middle = float(np.median(paper))
    spread = 1.4826 * float(np.median(np.abs(paper - middle)))
    low = max(middle + NOISE_SIGMAS * spread, LOW_FLOOR)
    desk = desk_pixels(strength, low)
    if desk.any():
        strength = np.where(desk, 0, strength)
    strong = strength >= upper_threshold(strength, low)
    near = NEAR_SMALL if max(strength.shape) <= SMALL_SIDE else NEAR
    return (strength >= low) & (squared_distances(strong) <= near * near)


def upper_threshold(strength: np.ndarray, low: float) -> float:
    """Otsu's threshold among the pixels at or above low, at least low. BlankImageError if none are."""
    above = strength[strength >= low]
    if above.size == 0:
        raise BlankImageError("The image is blank: there is no digit to read.")
    return max(otsu_threshold(above), low)


def components(mask: np.ndarray) -> tuple[np.ndarray, int, list[tuple[slice, slice]], np.ndarray]:
    """HxW bool -> (labels HxW int, count, each one's (rows, cols) box, whether each is a frame), for
    the 8-connected pieces numbered 1..count. A frame touches the image's edge, spans FRAME_SPAN of its
    width or height and reaches no further in than FRAME_DEPTH of it: the desk around the sheet, a
    page's edge (a tightly cropped digit's strokes reach the image's middle)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    boxes = ndimage.find_objects(labels)
    height, width = mask.shape
    rows, cols = np.indices(mask.shape)
    inward = np.minimum(np.minimum(rows, height - 1 - rows), np.minimum(cols, width - 1 - cols))
    depth = np.zeros(count + 1, np.int64)  # how far in from the image's edge each piece reaches
    np.maximum.at(depth, labels.ravel(), inward.ravel())
    frame = np.array(
        [
            (rows.start == 0 or cols.start == 0 or rows.stop == height or cols.stop == width)
            and (cols.stop - cols.start >= FRAME_SPAN * width or rows.stop - rows.start >= FRAME_SPAN * height)
            and depth[index] <= FRAME_DEPTH * min(height, width)
            for index, (rows, cols) in enumerate(boxes, start=1)
        ],
        bool,
    )
    return labels, count, boxes, frame


def desk_pixels(strength: np.ndarray, low: float) -> np.ndarray:
    """HxW bool: the desk around the sheet or a page's dark edge, with its fringe.

    The desk is wide: the frames (components) among the cores of the ink (pixels >= low more than
    DESK_CORE pixels from any below it), grown back by DESK_CORE + DESK_FRINGE over what is above low.
    Cores leave out the thin ruled lines that may join the desk to the digit. (Cores above Otsu's
    threshold instead of low missed a wooden desk whose grain runs across a side band: its rows are
    alternately stronger and weaker than the ink.) Nothing is
    left out unless a digit-sized mark (above low) remains: a tightly cropped thick digit that
    touches the edges is not a desk."""
    from pipeline.pen import squared_distances

    core = squared_distances(strength < low) > DESK_CORE * DESK_CORE
    labels, _, _, frame = components(core)
    if not frame.any():
        return np.zeros(strength.shape, bool)
    reach = DESK_CORE + DESK_FRINGE
    desk = (strength >= low) & (squared_distances(np.concatenate([[False], frame])[labels]) <= reach * reach)
    return desk if digit_sized((strength >= low) & ~desk) else np.zeros(strength.shape, bool)


def digit_sized(mask: np.ndarray) -> bool:
    """True when `mask`'s pixels span a box at least SMALLEST of the image's shorter side."""
    box = ink_box(mask)
    if box is None:
        return False
    rows, cols = box
    return max(rows.stop - rows.start, cols.stop - cols.start) >= SMALLEST * min(mask.shape)


def ink_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """HxW bool -> (rows, cols) slices of the smallest box holding its True pixels; None when none is."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return None if rows.size == 0 else (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))


def digit_mask(mask: np.ndarray) -> np.ndarray:
    """HxW bool ink -> HxW bool, the one digit's pixels; areas are whole pixel counts.

    Frames are dropped (unless they are all there is). The digit is the components holding MIN_SHARE
    of the ink and the pieces within their box holding PIECE_SHARE of it. NotOneDigitError when only
    specks are left (more than SPECKS pieces, none with SPECK_SHARE of the ink, or all within SMALLEST
    of the image), when the strokes fall into groups side by side (a gap wider than DIGIT_GAP x their
    height between their columns), when they are scribbled, close more than LOOPS loops (`looped`) or
    zig-zag (`crossed`); BlankImageError when nothing is left.
    """
    labels, count, boxes, frame = components(mask)
    if count == 0:
        raise BlankImageError("The image is blank: there is no digit to read.")
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rest = np.concatenate([[False], ~frame])[labels]
    keep = ~frame if digit_sized(rest) else np.ones(count, bool)  # a tight crop's 1 and a speck: keep both
    total = int(areas[keep].sum())
    if count > SPECKS and int(areas[keep].max()) < SPECK_SHARE * total:
        raise NotOneDigitError(SPECKS_ONLY)
    strokes = [i for i in range(count) if keep[i] and areas[i] >= MIN_SHARE * total]
    if not strokes:  # many pieces, none standing out
        raise NotOneDigitError(SPECKS_ONLY)
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
    left = spans[0][0]
    inside = [
        index + 1
        for index, (rows, cols) in enumerate(boxes)
        if keep[index]
        and areas[index] >= PIECE_SHARE * total
        and rows.start >= top
        and rows.stop <= bottom
        and cols.start >= left
        and cols.stop <= right
    ]
    if max(bottom - top, right - left) < SMALLEST * min(mask.shape):  # a speck, a tap, a digit drawn tiny
        raise NotOneDigitError(TOO_SMALL)
    digit = np.isin(labels, inside)
    if scribbled(digit, max(bottom - top, right - left)):
        raise NotOneDigitError("That is not one digit: it has more strokes than a digit has (a scribble?).")
    if looped(digit):
        raise NotOneDigitError("That is not one digit: it closes more loops than a digit has (a scribble?).")
    if crossed(digit):
        raise NotOneDigitError("That is not one digit: its strokes zig-zag more than a digit's (a scribble?).")
    return digit


def scribbled(digit: np.ndarray, side: int) -> bool:
    """True when the strokes' length (area / stroke_width) exceeds SCRIBBLE x the longer side of their
    box: a digit's measure up to about 3.6 (95th percentile of the photo set), a zig-zag's mostly more."""
    from pipeline.pen import stroke_width

    return int(digit.sum()) / stroke_width(digit) > SCRIBBLE * side


def loops(digit: np.ndarray) -> int:
    """HxW bool digit -> how many loops its strokes close: the holes, pieces of paper (4-connected,
    the dual of the ink's 8) that do not reach the box's edge, each at least as many pixels as the
    square of the widest of the stroke width, 1 px and LOOP_SIDE of the box's longer side (pen.py's
    TARGET_WIDTH in MNIST's 20 px box), so that a pen's gaps, JPEG pinholes and the small lens
    between an 8's two overlapping circles drawn with a fine pen do not count."""
    from scipy import ndimage

    from pipeline.pen import stroke_width

    box = ink_box(digit)
    if box is None:
        return 0
    crop = digit[box]
    paper, count = ndimage.label(np.pad(~crop, 1, constant_values=True))  # 1 is the paper outside
    areas = np.bincount(paper.ravel(), minlength=count + 1)[2:]
    least = max(stroke_width(crop), 1.0, LOOP_SIDE * max(crop.shape))
    return int((areas >= least * least).sum())


def looped(digit: np.ndarray) -> bool:
    """True when the strokes close more than LOOPS loops (`loops`). Measured on not_a_digit_set's seed
    11 (500 images, not the bench's seed 1): 2 of the 38 scribbles that pass `scribbled` close three or
    more; no generated photo, pad, coarse or elastic digit (3,300) does, one MNIST test digit of 10,000
    does (#4629, an 8 whose stroke starts with a small loop of its own)."""
    return loops(digit) > LOOPS


def crossings(digit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HxW bool digit -> (rows, columns): int arrays, how many runs of ink each row and each column of
    the ink's box crosses; both empty for an empty mask. The crossing count is a classic feature of
    character recognition (Trier, Jain and Taxt 1996, "Feature extraction methods for character
    recognition - a survey", Pattern Recognition 29(4))."""
    box = ink_box(digit)
    if box is None:
        return np.zeros(0, int), np.zeros(0, int)
    crop = digit[box].astype(bool).astype(np.int8)
    rows = (np.diff(crop, axis=1, prepend=0) == 1).sum(axis=1)
    columns = (np.diff(crop, axis=0, prepend=0) == 1).sum(axis=0)
    return rows, columns


def crossed(digit: np.ndarray) -> bool:
    """True when more than CROSSED of the box's rows cross more than CROSSINGS[0] runs of ink, or more
    than CROSSED of its columns more than CROSSINGS[1]. A digit crosses a row once or twice (the two
    sides of a 0) and a column up to four times (an 8's two loops); a zig-zag or a W crosses many of
    its rows four times or more.

    Measured on the digit masks that reach this rule: of not_a_digit_set's scribbles at seeds 1, 11
    and 21 (85), it refuses 18. It refuses none of the photo set's 495 digits, the pad's and the drawn
    set's 397, the 2,000 coarse and elastic digits, MNIST's 9,987 test and 60,000 training digits, or
    style_set's 2,999 digits (both styles, 30 seeds, pens 2 to 8 px). The most crossed of those exceed
    CROSSINGS in 25 % of their rows (a fine-pen 9 whose retraced stem leaves a sliver beside the
    bowl, and the Eastern Arabic three's three-toothed top: 0.2 refused 12 of them) and 21 % of their
    columns."""
    rows, columns = crossings(digit)
    if rows.size == 0:
        return False
    return bool(np.mean(rows > CROSSINGS[0]) > CROSSED or np.mean(columns > CROSSINGS[1]) > CROSSED)


def find_digit(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HxW float 0..1 (preprocess.to_grayscale's) -> (digit, shade) at the working resolution (shrink's):
    the digit's pixels (bool) and the ink's strength scaled so its strongest pixel in the digit is 1
    (float64). BlankImageError, NotOneDigitError as above."""
    levels = shrink(to_levels(gray))
    if noisy(levels):
        levels = smooth(levels)
    strength = remove_background(levels)
    digit = digit_mask(drop_ruled_lines(ink_mask(strength)))
    return digit, strength / strength[digit].max()
