"""Handwriting styles as stroke paths, drawn with jitter: a personal style without a dataset download.

A style is ten digits, each a few strokes of control points in a unit square (x right, y down).
`strokes(style, digit, seed)` returns one jittered drawing as canvas-pixel polylines: the same paths
render to 28x28 inputs here (`style_set`) and drive the mouse in browser tests, so the page sees the
drawing the Python side measured. Everything is seeded: the same (style, digit, seed) is the same drawing.

Styles:
- "eastern-arabic": the Eastern Arabic numerals (٠١٢٣٤٥٦٧٨٩), as written in much of the Arab world.
  The published `cnn` reads only a few of them right (١ looks like 1, ٩ like 9); ٥ looks like a 0,
  ٦ like a 7, ٧ and ٨ like nothing in MNIST. This is the style personalisation is measured on.
- "standard": plain Western digits, to check that standard digits are still read after teaching.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.errors import PipelineError

CANVAS = 280  # the page's canvas is 280x280
STROKE_WIDTH = 22  # the page's pen (web/static/ui.js STROKE_WIDTH)
STEPS_PER_SEGMENT = 6

# A repeated point makes a sharp corner (the spline stops there); otherwise strokes are smooth.
STYLES: dict[str, dict[int, list[list[tuple[float, float]]]]] = {
    "eastern-arabic": {
        0: [[(0.50, 0.40), (0.58, 0.50), (0.50, 0.60), (0.42, 0.50), (0.50, 0.40)]],
        1: [[(0.53, 0.15), (0.50, 0.50), (0.48, 0.85)]],
        2: [[(0.38, 0.15), (0.41, 0.50), (0.44, 0.85)], [(0.38, 0.17), (0.48, 0.30), (0.60, 0.26), (0.67, 0.12)]],
        3: [
            [(0.36, 0.15), (0.39, 0.50), (0.42, 0.85)],
            [(0.36, 0.17), (0.44, 0.30), (0.52, 0.18), (0.52, 0.18), (0.60, 0.30), (0.70, 0.12)],
        ],
        4: [[(0.66, 0.16), (0.44, 0.18), (0.40, 0.32), (0.58, 0.44), (0.38, 0.56), (0.40, 0.78), (0.68, 0.84)]],
        5: [
            [
                (0.50, 0.28),
                (0.50, 0.28),
                (0.66, 0.56),
                (0.60, 0.76),
                (0.40, 0.76),
                (0.34, 0.56),
                (0.50, 0.28),
                (0.50, 0.28),
            ]
        ],
        6: [[(0.34, 0.18), (0.46, 0.24), (0.62, 0.20), (0.62, 0.20), (0.60, 0.85)]],
        7: [[(0.30, 0.15), (0.30, 0.15), (0.50, 0.85), (0.50, 0.85), (0.70, 0.15), (0.70, 0.15)]],
        8: [[(0.30, 0.85), (0.30, 0.85), (0.50, 0.15), (0.50, 0.15), (0.70, 0.85), (0.70, 0.85)]],
        9: [
            [
                (0.62, 0.22),
                (0.50, 0.12),
                (0.38, 0.22),
                (0.42, 0.38),
                (0.60, 0.34),
                (0.62, 0.22),
                (0.61, 0.55),
                (0.60, 0.86),
            ]
        ],
    },
    "standard": {
        0: [[(0.50, 0.15), (0.34, 0.30), (0.32, 0.60), (0.50, 0.85), (0.66, 0.62), (0.66, 0.32), (0.50, 0.15)]],
        1: [[(0.44, 0.24), (0.54, 0.15), (0.54, 0.15), (0.52, 0.50), (0.50, 0.86)]],
        2: [[(0.32, 0.30), (0.45, 0.16), (0.62, 0.20), (0.64, 0.38), (0.32, 0.84), (0.32, 0.84), (0.70, 0.84)]],
        3: [
            [
                (0.34, 0.20),
                (0.60, 0.17),
                (0.62, 0.34),
                (0.46, 0.48),
                (0.46, 0.48),
                (0.64, 0.60),
                (0.60, 0.80),
                (0.34, 0.82),
            ]
        ],
        4: [[(0.56, 0.15), (0.56, 0.15), (0.30, 0.60), (0.30, 0.60), (0.72, 0.60)], [(0.60, 0.34), (0.60, 0.86)]],
        5: [
            [
                (0.66, 0.16),
                (0.66, 0.16),
                (0.38, 0.16),
                (0.38, 0.16),
                (0.36, 0.45),
                (0.58, 0.43),
                (0.66, 0.64),
                (0.56, 0.84),
                (0.34, 0.80),
            ]
        ],
        6: [[(0.62, 0.15), (0.42, 0.38), (0.36, 0.66), (0.50, 0.84), (0.64, 0.70), (0.58, 0.54), (0.38, 0.60)]],
        7: [[(0.30, 0.18), (0.30, 0.18), (0.70, 0.18), (0.70, 0.18), (0.46, 0.86)]],
        8: [
            [
                (0.50, 0.48),
                (0.64, 0.34),
                (0.58, 0.17),
                (0.42, 0.17),
                (0.36, 0.34),
                (0.50, 0.48),
                (0.66, 0.66),
                (0.58, 0.84),
                (0.42, 0.84),
                (0.34, 0.66),
                (0.50, 0.48),
            ]
        ],
        9: [
            [
                (0.62, 0.28),
                (0.52, 0.15),
                (0.38, 0.24),
                (0.40, 0.42),
                (0.62, 0.34),
                (0.62, 0.34),
                (0.62, 0.22),
                (0.62, 0.22),
                (0.60, 0.86),
            ]
        ],
    },
}


def check_style(style: str) -> None:
    if style not in STYLES:
        raise PipelineError(f"Unknown handwriting style '{style}'; choose one of: {', '.join(STYLES)}.")


def catmull_rom(points: np.ndarray) -> np.ndarray:
    """A smooth curve through `points` (repeated points make corners)."""
    padded = np.vstack([points[0], points, points[-1]])
    curve = [points[0]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for t in np.linspace(0, 1, STEPS_PER_SEGMENT + 1)[1:]:
            curve.append(
                0.5
                * (
                    2 * p1
                    + (p2 - p0) * t
                    + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                    + (3 * p1 - p0 - 3 * p2 + p3) * t**3
                )
            )
    return np.array(curve)


def strokes(style: str, digit: int, seed: int) -> list[np.ndarray]:
    """One jittered drawing of `digit`: a list of (n, 2) polylines in 280x280 canvas pixels.

    The jitter is a person's variation, not noise: a slight slant, size, aspect and position, and a
    wobble of each control point, all from `seed`.
    """
    check_style(style)
    rng = np.random.default_rng([seed, digit, sum(map(ord, style))])
    angle = math.radians(rng.uniform(-10, 10))
    shear = rng.uniform(-0.15, 0.15)
    scale = rng.uniform(0.85, 1.1, size=2)
    shift = rng.uniform(-0.06, 0.06, size=2)
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    transform = rotate @ np.array([[1, shear], [0, 1]]) @ np.diag(scale)
    drawn = []
    for stroke in STYLES[style][digit]:
        points = np.array(stroke, dtype=np.float64)
        points = points + rng.normal(0, 0.018, size=points.shape)
        points = (points - 0.5) @ transform.T + 0.5 + shift
        drawn.append(np.clip(catmull_rom(points), 0.04, 0.96) * CANVAS)
    return drawn


def render(drawing: list[np.ndarray], width: float = STROKE_WIDTH) -> np.ndarray:
    """Polylines -> a 280x280 uint8 image, white round-capped ink on black, as the page's canvas."""
    from pipeline.strokes import render as render_strokes

    return render_strokes(drawing, width, CANVAS)


def style_set(style: str, per_digit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`per_digit` drawings of each digit -> (float32 [10*per_digit, 28, 28] model inputs, int labels).

    Drawing i of digit d uses seed `seed + i`, so two sets with seeds far apart never share a drawing.
    """
    from pipeline.preprocess import preprocess

    images, labels = [], []
    for index in range(per_digit):
        for digit in range(10):
            drawing = strokes(style, digit, seed + index)
            width = STROKE_WIDTH * np.random.default_rng([seed + index, digit, 7]).uniform(0.8, 1.2)
            images.append(preprocess(render(drawing, width)))
            labels.append(digit)
    return np.stack(images).astype(np.float32), np.array(labels, dtype=np.int64)
