"""Ruled and squared paper: drop the page's lines where the pen is as faint as they are (`drop_ruled_lines`).

pipeline/ink.py keeps what lies near strong ink. With pencil on a school notebook the page's lines are
as strong as the strokes, so they stay and join the digit, which is then refused as a scribble. A
page's lines are long, thin, straight, evenly spaced and many; a digit's bars are not all of those:

1. the slope: ink pixels are counted along each digital line y = c + round(s x), for slopes s from
   -MAX_SLOPE to MAX_SLOPE (the photo may be turned a little), every COARSE / width and then every
   1 / width around the best (a Hough transform restricted to near-horizontal lines: Duda and Hart
   1972, "Use of the Hough transformation to detect lines and curves in pictures"); the page's slope
   is the one whose counts are the most concentrated (the largest sum of squares: the
   projection-profile criterion of document deskewing, Postl 1986);
2. the lines: at that slope, what any digital line holds (the median count per width, among those
   crossing half the image: the other kind of line's crossings, much of a digit) is counted out. A
   line of the page is a run of neighbouring digital lines each holding LINE_SPAN / LINE_EDGE of the
   ink it could hold besides (its faint edges; "could": a line near a corner leaves the image early),
   one of them LINE_SPAN of it, at most LINE_THICKNESS of the height thick; it bounds a gap between
   lines within SPACING of a gap beside it (a page's spacing changes slowly, as in a photo taken at a
   slant; a digit's bar between two lines does not fit). At least LINES of them must cross LINE_ROOM
   of the width, or nothing is dropped: a digit's bars are three at most, and an image of MNIST's
   size has no line so thin. The others are pieces of lines in a turned page's corners;
3. their pixels go, and those of the digital lines just beside them (the slope found may be 1/width
   off the page's, so a line can drift by a row across the image), but for two kinds of pixels of
   a stroke: where the ink across the line is thicker than the line by STROKE_ON_LINE pixels or
   more (a digit's bar written on the line, a stroke crossing it), and within half the line's
   thickness and a pixel of the ink that is left (a stroke crossing at a slant keeps its pixels).

The rows are looked for, then the columns without them, then the rows again without the columns;
each kind's thickness across is measured without the other kind. Whole numbers wherever a result is
compared, so that `web/static/lines.js` drops the same pixels.
"""

from __future__ import annotations

import numpy as np

MAX_SLOPE = 0.18  # tan 10 degrees: the photos of pipeline/bench/reading_sets.py turn by up to 8
COARSE = 4  # the slope's first search, in steps of this / width
LINE_SPAN = 0.6  # of the width: a page's line crosses the sheet; the desk may hide up to a quarter of it
LINE_EDGE = 4  # see step 2
LINE_THICKNESS = 0.03  # of the height: a page's line is thin (the photo set's: 1 or 2 px in 400)
LINE_ROOM = 0.25  # of the width: a line crossing less of the image is a corner piece (step 2)
LINES = 4  # a page shows several lines (every 8..12 % of it in the photo set); a 3 has three bars
SPACING = 0.1  # see step 2: neighbouring gaps between a page's lines differ by at most this share
STROKE_ON_LINE = 2  # pixels: see step 3


def rounded_shift(xs: np.ndarray, step: int, width: int) -> np.ndarray:
    """round(step x / width) for int xs, halves up, in whole numbers: how far the digital line of slope
    step / width has risen at each x."""
    return (2 * step * xs + width) // (2 * width)


def runs_down(mask: np.ndarray) -> np.ndarray:
    """HxW bool -> HxW int64: for each True pixel, the length of the unbroken run of True down its
    column that it belongs to (0 elsewhere)."""
    ink = mask.astype(np.int64)
    above, below = np.zeros_like(ink), np.zeros_like(ink)
    above[0] = ink[0]
    for row in range(1, len(ink)):
        above[row] = (above[row - 1] + 1) * ink[row]
    below[-1] = ink[-1]
    for row in range(len(ink) - 2, -1, -1):
        below[row] = (below[row + 1] + 1) * ink[row]
    return np.where(mask, above + below - 1, 0)


def evenly_spaced(centres: list[int]) -> list[bool]:
    """Sorted centres of candidate lines (in half pixels) -> which are the page's: those bounding a gap
    within SPACING of a gap beside it (a page's spacing changes slowly, as in a photo taken at a slant;
    a digit's bar between two lines leaves two gaps that are not like their neighbours)."""
    gaps = [b - a for a, b in zip(centres, centres[1:])]
    lines = [False] * len(centres)
    for i, gap in enumerate(gaps):
        if any(abs(other - gap) <= SPACING * gap for other in gaps[max(i - 1, 0) : i] + gaps[i + 1 : i + 2]):
            lines[i] = lines[i + 1] = True
    return lines


def page_lines(mask: np.ndarray, search: np.ndarray | None = None) -> np.ndarray:
    """HxW bool ink -> HxW bool: its pixels on the page's near-horizontal lines, with a digital line
    more on each side (none if the page shows fewer than LINES): steps 1 and 2, the lines looked for
    in `search` (HxW bool, a part of mask; all of it if None)."""
    height, width = mask.shape
    rows, cols = np.nonzero(mask if search is None else search)
    none = np.zeros(mask.shape, bool)
    steps = int(MAX_SLOPE * width)
    size = height + 2 * steps  # every offset below lies in 0..size - 1: a line rises at most `steps`

    def counts_at(step: int) -> np.ndarray:
        return np.bincount(rows - rounded_shift(cols, step, width) + steps, minlength=size)

    def best(candidates: range) -> int:
        scores = [int(counts @ counts) for counts in map(counts_at, candidates)]
        return candidates[scores.index(max(scores))]  # the first of equal scores, as the JS twin

    coarse = best(range(-steps, steps + 1, COARSE))
    step = best(range(max(-steps, coarse - COARSE + 1), min(steps, coarse + COARSE - 1) + 1))
    counts = counts_at(step)
    # How many columns each line crosses inside the image: one near a corner leaves it early.
    entry = steps - rounded_shift(np.arange(width), step, width)  # each column's offset of row 0
    enter, leave = np.bincount(entry, minlength=size + 1), np.bincount(entry + height, minlength=size + 1)
    room = np.cumsum(enter - leave)[:size]
    # What any line holds (the other kind's crossings, the digit): the median count per width among
    # the lines crossing half the image at least, scaled to each one's room, is counted out.
    wide = room >= width // 2
    per_width = np.sort((counts * width // np.maximum(room, 1))[wide])
    base = int(per_width[len(per_width) // 2]) * room // width if per_width.size else np.zeros(size, np.int64)
    counts = counts - base
    edge = (LINE_EDGE * counts >= LINE_SPAN * room) & (room > 0)
    full = counts >= LINE_SPAN * room
    starts = np.flatnonzero(edge & ~np.concatenate([[False], edge[:-1]]))
    stops = np.flatnonzero(edge & ~np.concatenate([edge[1:], [False]])) + 1
    runs = [
        (int(start), int(stop))
        for start, stop in zip(starts, stops)
        if stop - start <= LINE_THICKNESS * height and full[start:stop].any()
    ]
    crossing = [room[start:stop].max() >= LINE_ROOM * width for start, stop in runs]
    lines = evenly_spaced([start + stop for start, stop in runs])
    if sum(line and across for line, across in zip(lines, crossing)) < LINES:
        return none
    page = np.zeros(size, bool)
    for (start, stop), line in zip(runs, lines):
        if line:
            page[max(start - 1, 0) : stop + 1] = True
    found = none.copy()
    rows, cols = np.nonzero(mask)
    found[rows, cols] = page[rows - rounded_shift(cols, step, width) + steps]
    return found


def thickness(across: np.ndarray, band: np.ndarray) -> int:
    """The band's usual thickness: the median (the lower middle) run of ink across it, in pixels."""
    values = np.sort(across[band])
    return int(values[(len(values) - 1) // 2]) if values.size else 0


def drop_ruled_lines(mask: np.ndarray) -> np.ndarray:
    """HxW bool ink (ink_mask's) -> HxW bool, the same without the page's ruled rows and squared
    columns, but for where a stroke lies on them or crosses them (step 3). A mask without many long,
    thin, straight and evenly spaced lines comes back as it was."""
    from pipeline.pen import squared_distances

    # Each kind is looked for without the other: the rows first, the columns without them, the rows
    # again without the columns (the same search as the first when there are none: not made twice).
    first_rows = page_lines(mask)
    columns = page_lines(mask.T, (mask & ~first_rows).T).T
    rows = page_lines(mask, mask & ~columns) if columns.any() else first_rows
    page = rows | columns
    if not page.any():
        return mask
    across_rows = runs_down(mask & ~columns)
    across_columns = runs_down((mask & ~rows).T).T
    row_thickness = thickness(across_rows, rows & ~columns)
    column_thickness = thickness(across_columns, columns & ~rows)
    on_line = (rows & (across_rows >= row_thickness + STROKE_ON_LINE)) | (
        columns & (across_columns >= column_thickness + STROKE_ON_LINE)
    )
    strokes = (mask & ~page) | on_line
    if not strokes.any():
        return strokes
    reach = max(row_thickness, column_thickness) // 2 + 1
    return strokes | (page & (squared_distances(strokes) <= reach * reach))
