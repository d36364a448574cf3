"""Synthetic canvas drawings, the field cases (photos of paper among them) and what
pipeline/preprocess.py makes of them, for the Node test of web/static/preprocess.js
(tests/preprocess.test.mjs), which must give the same Float32 values.

    python -m tests.preprocess_cases     # rewrites tests/fixtures/preprocess-cases.json

test_preprocess.py checks that the committed file is what the Python recipe gives today.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "preprocess-cases.json"


def stroke(height: int, width: int, points, radius: float) -> np.ndarray:
    """0..1 coverage of a thick polyline, anti-aliased over one pixel like a canvas brush."""
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    distance = np.full((height, width), np.inf)
    for (y0, x0), (y1, x1) in zip(points, points[1:]):
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((rows - y0) * dy + (cols - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0, 1)
        distance = np.minimum(distance, np.hypot(rows - (y0 + t * dy), cols - (x0 + t * dx)))
    return np.clip(radius + 0.5 - distance, 0, 1)


def rgba(ink: np.ndarray, ink_colour=(255, 255, 255), paper=(0, 0, 0), alpha=None) -> np.ndarray:
    """An ImageData-like RGBA uint8 image: `ink` coverage blended from paper to ink colour."""
    colour = np.asarray(paper, float) + ink[..., None] * (np.asarray(ink_colour, float) - paper)
    opacity = np.full(ink.shape, 255.0) if alpha is None else alpha
    return np.dstack([colour, opacity]).round().astype(np.uint8)


def ruled_page(
    height: int, width: int, step: float, slope: float, squared: bool, offset: float = 0.0
) -> np.ndarray:
    """0..1 coverage of a page's lines, 2 px thick every `step` px from row `offset`, rising `slope` px
    per px (a photo turned a little); squared paper has columns too, leaning the other way."""
    rows, cols = np.mgrid[0:height, 0:width]
    lines = ((rows - slope * cols - offset) % step) < 2
    if squared:
        lines |= ((cols + slope * rows - offset) % step) < 2
    return lines.astype(float)


def in_pencil(coverage: np.ndarray) -> np.ndarray:
    """0..1 coverage of a pencil's strokes and a page's lines -> grey uint8: both 80 levels darker
    than the paper (225), as faint as each other."""
    return np.round(225 - 80 * coverage).astype(np.uint8)


SEVEN_POINTS = [(80, 90), (80, 200), (230, 130)]  # a 7 on a 300x300 page, its bar on row 80
W_POINTS = [(20, 15), (100, 40), (30, 70), (100, 100), (20, 125)]  # a W in a 120x140 image


def pencil_on_page(squared: bool) -> np.ndarray:
    """A pencil 7 on ruled or squared paper turned a little, 300x300 grey."""
    seven = stroke(300, 300, SEVEN_POINTS, 2)
    return in_pencil(np.maximum(ruled_page(300, 300, 28, 0.06, squared), seven))


def rings(centres, radius: float, size: int = 120, pen: float = 3) -> np.ndarray:
    """Rings of `radius` px at `centres` ((row, col) each) drawn with `stroke`'s pen of radius `pen` px,
    size x size coverage."""
    angles = np.linspace(0, 2 * np.pi, 48)
    return np.max(
        [
            stroke(size, size, [(y + radius * np.sin(a), x + radius * np.cos(a)) for a in angles], pen)
            for y, x in centres
        ],
        axis=0,
    )


def drawings() -> dict[str, np.ndarray]:
    seven = stroke(60, 48, [(8, 6), (8, 40), (52, 18)], 3)
    one = stroke(40, 40, [(4, 22), (36, 18)], 2)
    zero = stroke(50, 70, [(25 + 18 * np.sin(a), 35 + 26 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 40)], 4)
    return {
        "white seven on black": rgba(seven),
        "thin one, off-centre": rgba(one),
        "wide zero": rgba(zero),
        "dark ink on light paper": rgba(seven, ink_colour=(20, 30, 200), paper=(250, 248, 240)),
        "transparent background": rgba(one, ink_colour=(0, 0, 0), paper=(0, 0, 0), alpha=one * 255),
        "faint white ink (40 % opacity) on transparent": rgba(seven, alpha=seven * 102),
        "two ones side by side (not one digit)": rgba(np.hstack([one, one])),
        "an eight (two loops)": rgba(rings([(38, 60), (82, 60)], 20)),
        "three loops in a row (not one digit)": rgba(rings([(60, 26), (60, 60), (60, 94)], 16)),
        "a thin-pen eight, its loops overlapping a little": rgba(rings([(36, 60), (78, 60)], 24, pen=0.5)),
        "a W zig-zag (not one digit)": rgba(stroke(120, 140, W_POINTS, 3)),
        "noisy blank paper (not one digit)": rgba(
            np.clip(np.random.default_rng(0).normal(0.12, 0.05, (120, 120)), 0, 1),
            ink_colour=(0, 0, 0),
            paper=(230, 230, 230),
        ),
        "a single dot": rgba(stroke(28, 28, [(27, 1), (27, 1)], 0.4)),
        "pencil seven on ruled paper, turned a little": pencil_on_page(squared=False),
        "pencil seven on squared paper, turned a little": pencil_on_page(squared=True),
        "pencil seven, its bar written on a ruled line": in_pencil(
            np.maximum(ruled_page(300, 300, 40, 0.0, False, offset=79), stroke(300, 300, SEVEN_POINTS, 2))
        ),
        "pencil one on a page turned 8 degrees, lines into the corners": in_pencil(
            np.maximum(
                ruled_page(240, 240, 24, 0.14, False, offset=7), stroke(240, 240, [(55, 125), (190, 120)], 1.5)
            )
        ),
        "blank squared page, turned (blank)": in_pencil(ruled_page(240, 240, 24, -0.1, True)),
        "blank": rgba(np.zeros((30, 30))),
    }


def field_cases() -> dict[str, np.ndarray]:
    """tests/fixtures/field-cases/*.png as the page would see them: greyscale files stay one channel
    (the fixture stores them so, a quarter of the size), the rest RGBA."""
    from PIL import Image

    folder = Path(__file__).resolve().parent / "fixtures" / "field-cases"
    images = {}
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            images[f"field case {path.name}"] = np.asarray(image.convert("L" if image.mode == "L" else "RGBA"))
    return images


def generated_photos() -> dict[str, np.ndarray]:
    """A few of pipeline/bench/reading_sets.py's photos and not-a-digit images, small and grey (R = G =
    B), so the fixture stays small: one of each condition at least."""
    from PIL import Image

    from pipeline.bench.reading_sets import not_a_digit_set, photo_set

    samples = photo_set(count=8, seed=5, side=200) + not_a_digit_set(count=10, seed=5, side=200)[::2]
    return {
        f"generated {sample.kind} ({'not one digit' if sample.label is None else sample.label})": np.asarray(
            Image.fromarray(sample.image).convert("L")
        )
        for sample in samples
    }


def packed(data: bytes) -> str:
    """zlib then base64: Node unpacks it with zlib.inflateSync, and the file stays small."""
    return base64.b64encode(zlib.compress(data, 9)).decode()


def unpacked(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


def make_cases() -> list[dict]:
    from pipeline.preprocess import BlankImageError, NotOneDigitError, preprocess

    cases = []
    for name, image in {**drawings(), **field_cases(), **generated_photos()}.items():
        refusal = reason = None
        try:
            expected = packed(preprocess(image).astype("<f4").tobytes())
        except (BlankImageError, NotOneDigitError) as exc:
            expected, refusal, reason = None, type(exc).__name__, str(exc)
        cases.append(
            {
                "name": name,
                "width": image.shape[1],
                "height": image.shape[0],
                "channels": 1 if image.ndim == 2 else 4,  # 1: grey, each level stands for R = G = B, A = 255
                "pixels": packed(image.tobytes()),
                "float32_le": expected,
                "refusal": refusal,
                "reason": reason,
            }
        )  # None: the recipe refuses it (refusal: BlankImageError or NotOneDigitError, reason: its sentence)
    return cases


if __name__ == "__main__":
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(make_cases(), indent=1) + "\n")
    print(f"Wrote {FIXTURE}.")
