"""Ruled and squared paper: drop the page's lines where the pen is as faint as they are (`drop_ruled_lines`).

pipeline/ink.py keeps what lies near strong ink. With pencil on a school notebook the page's lines are
as strong as the strokes, so they stay and join the digit, which is then refused as a scribble. A
page's lines are long, thin, straight and several; a digit's strokes are not all of those at once:

1. at each slope from -MAX_SLOPE to MAX_SLOPE in steps of 1/width (the photo may be turned a little),
   the ink pixels are counted along each digital line y = c + round(slope x) (a Hough transform
   restricted to near-horizontal lines: Duda and Hart 1972, "Use of the Hough transformation to detect
   lines and curves in pictures"); the page's slope is the one whose counts are the most concentrated
   (the largest sum of squares: the projection-profile criterion of document deskewing, Postl 1986);
2. at that slope, a line of the page is a run of neighbouring digital lines each holding at least
   LINE_SPAN / LINE_EDGE of the ink it could (its faint edges; "could": a line near a corner leaves
   the image early), one of them LINE_SPAN of it. It must be at most LINE_THICKNESS of the height
   thick (a band of noise along a vignette is not), and there must be at least LINES of them, or
   nothing is dropped (a digit has at most three long bars; MNIST-sized images have no line so thin);
The same is done down the image for squared paper's columns, from the same mask. Then

3. the lines' pixels go, and those of the digital lines just beside them (the slope found may be
   1/width off the page's, so a line can drift by a row across the image), except within half the
   widest line and a pixel of the ink that is left: where a stroke crosses a line (or touches it) it
   stays about whole, with a stub of the line about as long as the line is wide.

Whole numbers throughout, so that `web/static/lines.js` drops the same pixels.
"""

from __future__ import annotations

import numpy as np

MAX_SLOPE = 0.18  # tan 10 degrees: the photos of pipeline/bench/reading_sets.py turn by up to 8
LINE_SPAN = 0.6  # of the width: a page's line crosses the sheet; the desk may hide up to a quarter of it
LINE_EDGE = 4  # see step 2
LINE_THICKNESS = 0.03  # of the height: a page's line is thin (the photo set's: 1 or 2 px in 400)
LINES = 3  # a page shows several lines (every 8..12 % of it in the photo set)
LINE_ROOM = 0.25  # of the width: a line crossing less of the image (in a corner) is not looked for


def rounded_shift(xs: np.ndarray, step: int, width: int) -> np.ndarray:
    """round(step x / width) for int xs, halves up, in whole numbers: how far the digital line of slope
    step / width has risen at each x."""
    return (2 * step * xs + width) // (2 * width)


def page_lines(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """HxW bool ink -> (HxW bool: the pixels of the page's near-horizontal lines, none if there are
    fewer than LINES thin ones; the widest one's width in digital lines, 0 if none): steps 1 and 2."""
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    none = np.zeros(mask.shape, bool)
    steps = int(MAX_SLOPE * width)
    size = height + 2 * steps  # every offset below lies in 0..size - 1: a line rises at most `steps`
    best_score, best_step, counts = -1, 0, np.zeros(size, np.int64)
    for step in range(-steps, steps + 1):
        line_counts = np.bincount(rows - rounded_shift(cols, step, width) + steps, minlength=size)
        score = int(line_counts @ line_counts)
        if score > best_score:  # the first of equal scores, as the JS twin
            best_score, best_step, counts = score, step, line_counts
    # How many columns each line crosses inside the image: one near a corner leaves it early.
    entry = steps - rounded_shift(np.arange(width), best_step, width)  # each column's offset of row 0
    room = np.cumsum(np.bincount(entry, minlength=size + 1) - np.bincount(entry + height, minlength=size + 1))
    room = room[:size]
    # A line of the page: neighbouring digital lines each holding LINE_SPAN / LINE_EDGE of the ink they
    # could (its faint edges), one of them LINE_SPAN, thin, away from the corners.
    edge = (LINE_EDGE * counts >= LINE_SPAN * room) & (room >= LINE_ROOM * width)
    full = counts >= LINE_SPAN * room
    starts = np.flatnonzero(edge & ~np.concatenate([[False], edge[:-1]]))
    stops = np.flatnonzero(edge & ~np.concatenate([edge[1:], [False]])) + 1
    page = np.zeros(size, bool)
    found = widest = 0
    for start, stop in zip(starts, stops):
        if stop - start <= LINE_THICKNESS * height and full[start:stop].any():
            # and one digital line more on each side: the slope found may be 1/width off the page's,
            # so a line can drift by a row across the image
            page[max(start - 1, 0) : stop + 1] = True
            found, widest = found + 1, max(widest, int(stop - start) + 2)
    if found < LINES:
        return none, 0
    lines = none.copy()
    lines[rows, cols] = page[rows - rounded_shift(cols, best_step, width) + steps]
    return lines, widest


def drop_ruled_lines(mask: np.ndarray) -> np.ndarray:
    """HxW bool ink (ink_mask's) -> HxW bool, the same without the page's ruled rows and squared
    columns, but for where a stroke crosses or touches them (step 3). A mask without several long
    thin straight lines comes back as it was; one with nothing but them comes back empty."""
    from pipeline.pen import squared_distances

    rows, row_width = page_lines(mask)
    columns_turned, column_width = page_lines(mask.T)
    page = rows | columns_turned.T
    strokes = mask & ~page
    if not page.any() or not strokes.any():
        return strokes
    reach = max(row_width, column_width) // 2 + 1
    return strokes | (page & (squared_distances(strokes) <= reach * reach))
