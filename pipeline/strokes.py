"""The pad's strokes, redrawn for reading with a pen in proportion to the drawing.

The pad draws with one pen (drawing.json's `stroke_width`, 22 px on the 280 px canvas) so that a digit
drawn large has MNIST's stroke once fitted into the 20x20 box. Drawn small, the same pen covers the
digit's own loops and gaps: a 2 drawn 42 px tall is a blob, and no work on its pixels brings back what
the pen covered (pipeline/pen.py only grows thin strokes). The pad knows the paths its pen followed,
so the page (web/static/strokes.js) and the Streamlit app read a redrawing of them, made with a pen
`reading_stroke_share` of the redrawn ink's box: MNIST's proportion, a stroke about 2 px wide in the
20 px box. Never thicker than the pad's own pen: a large drawing is read as drawn.

Measured on the drawn set (style_set's standard digits, 40 to 250 px tall, the pad's 22 px pen; the
committed cnn): 0.935 read right as drawn, every miss under 70 px; 1.000 redrawn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from pipeline import REPO_ROOT
from pipeline.errors import PipelineError

DRAWING_SETTINGS = REPO_ROOT / "web" / "static" / "drawing.json"
SETTINGS = ("canvas_size", "stroke_width", "reading_stroke_share")
QUADRATIC_STEPS = 4  # points sampled along each of fabric.js's quadratic curves (they are a few px long)


def pad_settings() -> dict:
    """drawing.json: the pad's `canvas_size` and `stroke_width` (px), `reading_stroke_share` (0..1).
    PipelineError, in one sentence, when the file is missing, not JSON, or a value is missing or out of
    range (the page's ui.js checks the same)."""
    try:
        settings = json.loads(DRAWING_SETTINGS.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"The drawing pad's settings ({DRAWING_SETTINGS}) could not be read: {exc}") from None
    check_pad_settings(settings)
    return settings


def check_pad_settings(settings: dict) -> None:
    """PipelineError unless `settings` has a whole canvas_size >= 28 and a stroke_width of 1..canvas_size
    px, and a reading_stroke_share strictly between 0 and 1."""
    size, pen, share = (settings.get(key) if isinstance(settings, dict) else None for key in SETTINGS)
    number = (int, float)
    if not (
        isinstance(size, int)
        and size >= 28
        and isinstance(pen, number)
        and 1 <= pen <= size
        and isinstance(share, number)
        and 0 < share < 1
    ):
        raise PipelineError(
            "The drawing pad's settings need a whole canvas_size of at least 28 px, a stroke_width of 1 px "
            f"up to it and a reading_stroke_share between 0 and 1; got {size!r}, {pen!r} and {share!r}."
        )


def on_canvas(stroke: np.ndarray, size: float) -> list[tuple[float, float]]:
    """One stroke ((n, 2) x, y canvas pixels; points not finite skipped) -> the ends of the parts of its
    segments that lie on the `size` px canvas, [0, size] on both axes, clipped by Liang and Barsky's
    algorithm ("A new concept and method for line clipping", ACM TOG 3(1), 1984); a lone point if it
    lies on the canvas. Plain float arithmetic in a fixed order, as strokes.js's twin does."""
    array = np.asarray(stroke, np.float64).reshape(-1, 2)
    points = [(float(x), float(y)) for x, y in array[np.isfinite(array).all(axis=1)]]
    if len(points) == 1:
        return [p for p in points if 0.0 <= p[0] <= size and 0.0 <= p[1] <= size]
    ends = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx, dy = x1 - x0, y1 - y0
        first, last = 0.0, 1.0
        for p, q in ((-dx, x0), (dx, size - x0), (-dy, y0), (dy, size - y0)):
            if p == 0.0:
                if q < 0.0:  # parallel to this edge and beyond it
                    first, last = 1.0, 0.0
            elif p < 0.0:
                first = max(first, q / p)
            else:
                last = min(last, q / p)
        if first <= last:
            ends += [(x0 + first * dx, y0 + first * dy), (x0 + last * dx, y0 + last * dy)]
    return ends


def reading_pen(strokes: Sequence[np.ndarray], pad_pen: float, share: float, size: float | None = None) -> float:
    """The pen (px, at most `pad_pen`, at least 1) for redrawing `strokes` ((n, 2) float arrays of x, y
    canvas pixels) so that the ink's box, the pen included, is `share` pen: pen = share x (side + pen),
    `side` being the longer side of the box of the finite points or, when `size` is given, of what
    lies on the `size` px canvas (`on_canvas`; 0 when nothing does): the pad keeps a stroke that
    leaves it, but only what is on it is drawn and read. PipelineError when there are no finite points."""
    arrays = [np.asarray(stroke, np.float64).reshape(-1, 2) for stroke in strokes]
    points = np.concatenate(arrays) if arrays else np.zeros((0, 2))
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        raise PipelineError("There are no strokes to redraw.")
    if size is not None:
        points = np.array([end for stroke in arrays for end in on_canvas(stroke, size)]).reshape(-1, 2)
    side = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    return float(min(pad_pen, max(1.0, share * side / (1.0 - share))))


def render(strokes: Sequence[np.ndarray], width: float, size: int) -> np.ndarray:
    """Polylines ((n, 2) x, y canvas pixels) -> size x size uint8, white ink `width` px wide on black,
    with round caps and joins, as the page's canvas draws them (lineCap = lineJoin = 'round')."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    radius = width / 2
    for line in strokes:
        points = [(float(x), float(y)) for x, y in np.asarray(line, np.float64).reshape(-1, 2)]
        if len(points) > 1:
            pen.line(points, fill=255, width=int(round(width)), joint="curve")
        for x, y in points:
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image)


def redraw(strokes: Sequence[np.ndarray], settings: dict) -> np.ndarray:
    """The pad's strokes -> the canvas-sized uint8 image to read: drawn with `reading_pen`.
    PipelineError for settings out of range (check_pad_settings) or no strokes."""
    check_pad_settings(settings)
    pen = reading_pen(strokes, settings["stroke_width"], settings["reading_stroke_share"], settings["canvas_size"])
    return render(strokes, pen, settings["canvas_size"])


def fabric_strokes(json_data: dict | None) -> list[np.ndarray]:
    """streamlit-drawable-canvas's `json_data` (fabric.js objects) -> the free-drawn paths as polylines.

    A free-drawn path is commands in canvas pixels: ["M", x, y], then ["Q", cx, cy, x, y] (quadratic
    curves, sampled at QUADRATIC_STEPS points) and ["L", x, y]. Anything else (other objects, other
    commands, values that are not numbers) is skipped: [] means there is nothing to redraw."""
    strokes: list[np.ndarray] = []
    objects = json_data.get("objects") if isinstance(json_data, dict) else None
    for item in objects if isinstance(objects, list) else []:
        if not isinstance(item, dict) or str(item.get("type", "")).lower() != "path":
            continue
        commands = item.get("path")
        points: list[tuple[float, float]] = []
        for command in commands if isinstance(commands, list) else []:
            if not isinstance(command, list) or not command:
                continue
            try:
                name, values = command[0], [float(v) for v in command[1:]]
            except (TypeError, ValueError, OverflowError):
                continue
            if name in ("M", "L") and len(values) == 2:
                points.append((values[0], values[1]))
            elif name == "Q" and len(values) == 4 and points:
                (x0, y0), (cx, cy, x1, y1) = points[-1], values
                for t in np.arange(1, QUADRATIC_STEPS + 1) / QUADRATIC_STEPS:
                    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
                    points.append((a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1))
        finite = [p for p in points if np.isfinite(p).all()]
        if finite:
            strokes.append(np.array(finite, np.float64))
    return strokes
