"""Labelled test images that imitate what people give a handwritten-digit reader, made from MNIST's test
digits, the same images from the same seed every time.

- `photo_set`: phone photos of one ink digit on paper. The digit is redrawn along its centre line
  with a round pen 1 to 12 % of its height wide, 25 to 70 % of the photo tall, in black ink, blue
  ink or pencil (low contrast) on grey-white paper; each photo adds some of: sensor noise, uneven
  light (vignette or shadow), ruled or squared lines, the desk around the sheet, a slight rotation,
  JPEG compression.
- `not_a_digit_set`: what must be refused, in the same paper, light, noise and JPEG: two or three
  digits in a row, a scribble, blank paper, noisy blank paper (label None).
- `size_sweep_set`: drawings from the web page's pad (280x280, white on black, its 22 px pen),
  40 to 250 px tall: a small digit with the pad's pen is nearly a blob, as on the real pad; or the
  same paths redrawn as the pad reads them (pipeline/strokes.py).
- `drawn_sweep_set`: the drawn set (pipeline/style_set.py's standard digits, the strokes the browser
  tests draw with the mouse) on the pad at the same sizes, as drawn or as the pad reads them.
- `small_pad_pictures`: the drawn set 40 to 70 px tall as drawn with the pad's pen, a picture with its
  loops filled (the field case page_pen_small_5_44px.png).
- `low_resolution_set`: MNIST digits shrunk to 8x8 at 16 grey levels and blown up again to 28x28,
  as scikit-learn's 8x8 `digits` would come to a reader.
- `elastic_set`: MNIST digits under an elastic distortion (Simard, Steinkraus and Platt 2003), an
  imitation of other writers' wobbles that no training recipe here draws.

    python -m pipeline.bench.reading_sets OUTDIR   # a few PNGs of each set, and the time each took
"""

from __future__ import annotations

import functools
import io
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pipeline import strokes
from pipeline.data import load_mnist


@dataclass(frozen=True, eq=False)  # arrays: compared by identity, not element by element
class Sample:
    """One test image: HxW or HxWx3 uint8, its digit (None: not one digit, to be refused), what it shows."""

    image: np.ndarray
    label: int | None
    kind: str


@functools.cache
def _mnist_test() -> tuple[np.ndarray, np.ndarray]:
    _, (x_test, y_test) = load_mnist()
    return x_test, y_test


def _test_digits(rng: np.random.Generator) -> Iterator[tuple[np.ndarray, int]]:
    """MNIST test digits in a seeded order (starting over after all 10,000)."""
    x_test, y_test = _mnist_test()
    while True:
        for i in rng.permutation(len(x_test)):
            yield x_test[i], int(y_test[i])


# Zhang and Suen (1984) thinning: a pixel's 8 neighbours, clockwise from north, are bits 0..7 of its
# code, and a table per sub-iteration says which codes may be peeled off without breaking a stroke.
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
_BITS = np.arange(8)


def _peel_tables() -> tuple[np.ndarray, np.ndarray]:
    n = (np.arange(256)[:, None] >> _BITS) & 1
    count = n.sum(1)
    one_run = ((n == 0) & (np.roll(n, -1, axis=1) == 1)).sum(1) == 1
    simple = (count >= 2) & (count <= 6) & one_run
    north, east, south, west = n[:, 0], n[:, 2], n[:, 4], n[:, 6]
    first = simple & (north * east * south == 0) & (east * south * west == 0)
    second = simple & (north * east * west == 0) & (north * south * west == 0)
    return first, second


_PEEL = _peel_tables()


def centre_line(mask: np.ndarray) -> np.ndarray:
    """HxW bool strokes -> their 1-pixel-wide, still connected centre lines (Zhang-Suen thinning).

    Eroding a thresholded MNIST digit to a thin pen cuts its strokes wherever they are thinner than
    elsewhere (most digits at a 1 % pen); thinning cannot. Only the pixels on the current edge are
    looked at, so a 280-pixel digit takes milliseconds, not a tenth of a second."""
    ink = np.pad(mask, 1).astype(np.uint8)
    flat = ink.ravel()
    offsets = np.array([di * ink.shape[1] + dj for di, dj in _NEIGHBOURS])
    edge = ink.astype(bool) & ~ndimage.binary_erosion(ink, np.ones((3, 3)))
    candidates = np.flatnonzero(edge)
    idle = 0
    while idle < 2:  # two sub-iterations in a row peeled nothing
        for table in _PEEL:
            peel = table[np.packbits(flat[candidates[:, None] + offsets], axis=1, bitorder="little")[:, 0]]
            if not peel.any():
                idle += 1
                continue
            idle = 0
            gone = candidates[peel]
            flat[gone] = 0
            near = (gone[:, None] + offsets).ravel()
            candidates = np.union1d(candidates[~peel], near[flat[near] == 1])
    return ink[1:-1, 1:-1].astype(bool)


def pen_coverage(line: np.ndarray, pen: float) -> np.ndarray:
    """HxW bool centre line -> float32 ink coverage 0..1 of a round pen `pen` px wide drawn along it,
    anti-aliased over one pixel, in a box cropped to the ink plus a 3-pixel margin."""
    margin = int(pen / 2) + 4
    distance = ndimage.distance_transform_edt(~np.pad(line, margin))
    coverage = np.clip(pen / 2 + 0.5 - distance, 0, 1).astype(np.float32)
    rows, cols = np.flatnonzero(coverage.any(1)), np.flatnonzero(coverage.any(0))
    return coverage[rows[0] - 3 : rows[-1] + 4, cols[0] - 3 : cols[-1] + 4]


def _upscale(digit: np.ndarray, height: float) -> np.ndarray:
    """28x28 uint8 digit -> bool mask of its ink about `height` px tall: bilinear, blurred by a third
    of an MNIST pixel, then half intensity. Without the blur the outline bends at every MNIST pixel,
    and a thick pen drawn along its centre line wobbles."""
    rows, cols = np.flatnonzero(digit.max(1) >= 128), np.flatnonzero(digit.max(0) >= 128)
    crop = np.pad(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 2).astype(np.float32)
    scale = max(height, 4) / len(rows)
    return ndimage.gaussian_filter(ndimage.zoom(crop, scale, order=1), 0.3 * scale) > 127.5


def pen_digit(digit: np.ndarray, height: float, pen: float) -> np.ndarray:
    """28x28 MNIST digit -> float32 coverage of it redrawn with a round pen `pen` px wide, its ink
    `height` px tall: MNIST's own stroke width, varying along each stroke, is replaced by the pen's."""
    # The pen adds half its width at each end, so the centre line must be `height - pen` tall; its
    # share of the upscaled digit's height hardly depends on the scale: measured at half, it is cheap.
    probe = max(height / 2, 28)
    span = int(np.ptp(np.flatnonzero(centre_line(_upscale(digit, probe)).any(1)))) + 1
    return pen_coverage(centre_line(_upscale(digit, max(height - pen, 1.0) * probe / span)), pen)


def _pen_width(rng: np.random.Generator, height: float) -> float:
    """1 to 12 % of the digit's height, spread evenly on a log scale (as many fine pens as markers);
    never under 1.5 px, so that the finest stroke still shows."""
    return max(1.5, height * float(np.exp(rng.uniform(np.log(0.01), np.log(0.12)))))


# --- photos -------------------------------------------------------------------------------------------


def _inks(rng: np.random.Generator, paper: float) -> tuple[str, np.ndarray]:
    """A pen: black ink, blue ink or pencil (grey, at least 70 levels darker than the paper)."""
    choice = ("black ink", "blue ink", "pencil")[int(rng.integers(3))]
    if choice == "black ink":
        return choice, np.full(3, rng.uniform(30, 60)) + rng.uniform(-5, 5, 3)
    if choice == "blue ink":
        return choice, np.array([30, 50, 150]) + rng.uniform(-15, 15, 3)
    return choice, np.full(3, rng.uniform(100, min(130, paper - 70)))


def _paper(rng: np.random.Generator, side: int) -> tuple[np.ndarray, float]:
    """A sheet side x side, grey level 170..240 with a slight warm or cool cast."""
    level = rng.uniform(170, 240)
    colour = level * (1 + rng.uniform(-0.03, 0.03, 3))
    return np.broadcast_to(colour.astype(np.float32), (side, side, 3)).copy(), level


def _rule(rng: np.random.Generator, sheet: np.ndarray, squared: bool) -> None:
    """Light blue or grey lines every 8..12 % of the side, 1 or 2 px thick; across and down if squared."""
    side = sheet.shape[0]
    step = side * rng.uniform(0.08, 0.12)
    colour = np.array([120, 150, 210]) if rng.random() < 0.7 else np.array([140, 140, 140])
    strength = rng.uniform(0.25, 0.5)
    thick = int(rng.integers(1, 3))
    lines = np.zeros(side, bool)
    for start in np.arange(rng.uniform(0, step), side, step).astype(int):
        lines[start : start + thick] = True
    sheet[lines] = sheet[lines] * (1 - strength) + colour * strength
    if squared:
        sheet[:, lines] = sheet[:, lines] * (1 - strength) + colour * strength


SIDES = ("top", "bottom", "left", "right")


def _desk(rng: np.random.Generator, side: int) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """The desk on one to four sides, each band 5..12 % of the side, a dark or a wooden colour: the
    bands' widths by side, the desk's side x side x 3 picture and where it shows (side x side bool)."""
    bands = {
        str(name): int(side * rng.uniform(0.05, 0.12)) for name in rng.permutation(SIDES)[: rng.integers(1, 5)]
    }
    where = np.zeros((side, side), bool)
    where[: bands.get("top", 0)] = where[side - bands.get("bottom", 0) :] = True
    where[:, : bands.get("left", 0)] = where[:, side - bands.get("right", 0) :] = True
    if rng.random() < 0.5:
        colour = np.full(3, rng.uniform(20, 70)) + rng.uniform(-8, 8, 3)
    else:
        colour = np.array([150, 105, 60]) * rng.uniform(0.6, 1.1)
    # Grain: streaks along the desk, a few per cent brighter or darker.
    grain = 1 + ndimage.gaussian_filter1d(rng.normal(0, 0.15, side), 2)
    desk = (colour[None, :] * grain[:, None]).astype(np.float32)[:, None, :]
    return bands, np.broadcast_to(desk, (side, side, 3)), where


def _light(rng: np.random.Generator, side: int) -> tuple[str, np.ndarray]:
    """Uneven light as a side x side gain: a vignette (corners 10..25 % darker) or a shadow (one
    edge 10..25 % darker than the opposite one, in any direction)."""
    centred = np.linspace(-1, 1, side, dtype=np.float32)
    y, x = centred[:, None], centred[None, :]
    darker = rng.uniform(0.10, 0.25)
    if rng.random() < 0.5:
        return "vignette", 1 - darker * (x**2 + y**2) / 2
    angle = rng.uniform(0, 2 * np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    return "shadow", 1 - darker * (along - along.min()) / np.ptp(along)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _composite(sheet: np.ndarray, coverage: np.ndarray, top: int, left: int, ink: np.ndarray) -> None:
    """Ink laid on the sheet in place, its edges softened a little as a phone camera's lens does."""
    alpha = ndimage.gaussian_filter(coverage, 0.7)[:, :, None]
    h, w = coverage.shape
    region = sheet[top : top + h, left : left + w]
    region[:] = region * (1 - alpha) + ink * alpha


def _photo(
    rng: np.random.Generator,
    side: int,
    conditions: set[str],
    draw: Callable[[float], np.ndarray] | None,
    height: float,
    noise: tuple[float, float] = (3.0, 10.0),
) -> tuple[np.ndarray, list[str]]:
    """A side x side RGB photo of the ink `draw(height)` gives (None: blank paper) under `conditions`
    (see CONDITIONS), and the words naming its pen and conditions. The ink is placed at random where
    it stays whole on the paper, rotated and inside the desk; where it cannot, it is drawn 10 % smaller
    until it can."""
    sheet, level = _paper(rng, side)
    paper = tuple(int(v) for v in sheet[0, 0])
    pen_name, ink = _inks(rng, level)
    words = [pen_name]
    if "lines" in conditions:
        squared = bool(rng.random() < 0.5)
        _rule(rng, sheet, squared)
        words.append("squares" if squared else "lines")
    bands, desk, where = _desk(rng, side) if "desk" in conditions else ({}, None, None)
    angle = rng.uniform(-8, 8) if "rotation" in conditions else 0.0
    if draw is not None:
        cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        while True:
            coverage = draw(height)
            h, w = coverage.shape
            # Half the rotated box, and 2 % of the side more: ink touching the paper's edge reads as the desk.
            half_w = (w * abs(cos) + h * abs(sin)) / 2 + 0.02 * side
            half_h = (w * abs(sin) + h * abs(cos)) / 2 + 0.02 * side
            x_range = (bands.get("left", 0) + half_w, side - bands.get("right", 0) - half_w)
            y_range = (bands.get("top", 0) + half_h, side - bands.get("bottom", 0) - half_h)
            if x_range[0] <= x_range[1] and y_range[0] <= y_range[1]:
                break
            height *= 0.9
        # The ink's centre in the photo, then on the sheet before PIL turns it counter-clockwise.
        x, y = rng.uniform(*x_range) - side / 2, rng.uniform(*y_range) - side / 2
        sheet_x, sheet_y = side / 2 + x * cos - y * sin, side / 2 + x * sin + y * cos
        top = int(np.clip(round(sheet_y - h / 2), 0, side - h))
        left = int(np.clip(round(sheet_x - w / 2), 0, side - w))
        _composite(sheet, coverage, top, left, ink)
    photo = np.clip(sheet, 0, 255).astype(np.uint8)
    if angle:
        words.append("rotated")
        photo = np.asarray(Image.fromarray(photo).rotate(angle, Image.Resampling.BILINEAR, fillcolor=paper))
    image = photo.astype(np.float32)
    if desk is not None:
        words.append("desk")
        image[where] = desk[where]
    if "light" in conditions:
        light, gain = _light(rng, side)
        words.append(light)
        image *= gain[:, :, None]
    if "noise" in conditions:
        words.append("noise")
        # Phones smooth colour noise away: one grey plane for the three channels.
        image += (rng.standard_normal((side, side), dtype=np.float32) * rng.uniform(*noise))[:, :, None]
    image += 0.5  # rounds, in astype below
    photo = np.clip(image, 0, 255, out=image).astype(np.uint8)
    if "jpeg" in conditions:
        words.append("jpeg")
        photo = _jpeg(photo, int(rng.integers(60, 91)))
    return photo, words


# Every photo gets the condition its turn names, and each of the others with probability 0.4.
CONDITIONS = ("noise", "light", "lines", "desk", "rotation", "jpeg")


def photo_set(count: int = 500, seed: int = 0, side: int = 400) -> list[Sample]:
    """Phone photos of one digit in ink on paper, side x side RGB. Kind joins with "+" the pen ("black
    ink", "blue ink", "pencil") and the conditions in the order they are applied: "lines" or "squares",
    "rotated", "desk", "vignette" or "shadow", "noise", "jpeg"; e.g. "pencil+lines+rotated+noise+jpeg"."""
    rng = np.random.default_rng(seed)
    digits = _test_digits(rng)
    samples = []
    for i in range(count):
        digit, label = next(digits)
        conditions = {CONDITIONS[i % len(CONDITIONS)]} | {c for c in CONDITIONS if rng.random() < 0.4}
        height = side * rng.uniform(0.25, 0.70)
        share = _pen_width(rng, height) / height
        image, words = _photo(rng, side, conditions, _row([digit], share, 0.0), height)
        samples.append(Sample(image, label, "+".join(words)))
    return samples


def _row(digits: list[np.ndarray], share: float, gap: float) -> Callable[[float], np.ndarray]:
    """Digits side by side, `gap` of their mean width apart (never under 4 px), as one coverage, drawn
    `height` px tall with a pen `share` of that wide."""

    def draw(height: float) -> np.ndarray:
        # Each coverage has a 3-pixel empty margin: margins may overlap, ink may not.
        parts = [pen_digit(d, height, max(1.5, share * height)) for d in digits]
        space = max(4, round(gap * np.mean([p.shape[1] - 6 for p in parts]))) - 6
        row = np.zeros((max(p.shape[0] for p in parts), sum(p.shape[1] + space for p in parts) - space))
        left = 0
        for part in parts:
            top = (row.shape[0] - part.shape[0]) // 2
            box = row[top : top + part.shape[0], left : left + part.shape[1]]
            np.maximum(box, part, out=box)
            left += part.shape[1] + space
        return row.astype(np.float32)

    return draw


def _scribble(rng: np.random.Generator, share: float) -> Callable[[float], np.ndarray]:
    """A zig-zag or a random walk of 6..15 strokes, as a coverage `height` px tall."""
    n = int(rng.integers(6, 16))
    if rng.random() < 0.5:
        x = np.linspace(0, 1, n + 1) + rng.uniform(-0.3, 0.3, n + 1) / n
        y = np.arange(n + 1) % 2 + rng.uniform(-0.25, 0.25, n + 1)
    else:
        # Sharp turns either way: a walk with gentle ones can pass for a 2 or a 7.
        heading = (rng.uniform(1.6, 2.9, n) * rng.choice([-1, 1], n)).cumsum()
        step = rng.uniform(0.5, 1.5, n)
        x, y = np.r_[0, (step * np.cos(heading)).cumsum()], np.r_[0, (step * np.sin(heading)).cumsum()]
    x, y = (x - x.min()) / np.ptp(x), (y - y.min()) / np.ptp(y)
    aspect = rng.uniform(0.6, 1.6)

    def draw(height: float) -> np.ndarray:
        width = height * aspect
        canvas = Image.new("1", (int(width) + 1, int(height) + 1))
        ImageDraw.Draw(canvas).line(list(zip(x * width, y * height)), fill=1)
        return pen_coverage(np.asarray(canvas), max(1.5, share * height))

    return draw


NOT_A_DIGIT = ("two digits", "three digits", "scribble", "blank paper", "noisy paper")


def not_a_digit_set(count: int = 200, seed: int = 1, side: int = 400) -> list[Sample]:
    """Photos that are not one digit (label None), in turn each of NOT_A_DIGIT, under a random subset
    of the photos' paper, light, noise and JPEG conditions (no lines, desk or rotation)."""
    rng = np.random.default_rng(seed)
    digits = _test_digits(rng)
    samples = []
    for i in range(count):
        kind = NOT_A_DIGIT[i % len(NOT_A_DIGIT)]
        conditions = {c for c in ("noise", "light", "jpeg") if rng.random() < 0.5}
        share = _pen_width(rng, 100) / 100
        draw: Callable[[float], np.ndarray] | None = None
        height, noise = 0.0, (3.0, 10.0)
        if kind.endswith("digits"):
            row = [next(digits)[0] for _ in range(2 if kind == "two digits" else 3)]
            draw, height = _row(row, share, rng.uniform(0.1, 0.4)), side * rng.uniform(0.25, 0.5)
        elif kind == "scribble":
            draw, height = _scribble(rng, share), side * rng.uniform(0.3, 0.7)
        elif kind == "blank paper":
            conditions.discard("noise")
        else:
            conditions.add("noise")
            noise = (5.0, 12.0)
        image, _ = _photo(rng, side, conditions, draw, height, noise)
        samples.append(Sample(image, None, kind))
    return samples


# --- the pad and small images -------------------------------------------------------------------------

PAD = strokes.pad_settings()
PAD_SIDE = PAD["canvas_size"]
PAD_PEN = float(PAD["stroke_width"])
PAD_HEIGHTS = (40, 250)  # px: from the smallest digit the issue asks for to nearly the full pad


def _pad_pen(height: float, redrawn: bool) -> tuple[float, float]:
    """(pen, ink height) for a path drawn to be `height` px tall with the pad's pen: as drawn, or
    redrawn as the pad reads it (the same path, strokes.reading_pen's pen)."""
    if not redrawn:
        return PAD_PEN, height
    side = max(height - PAD_PEN, 1.0)
    pen = strokes.reading_pen([np.array([[0.0, 0.0], [0.0, side]])], PAD_PEN, PAD["reading_stroke_share"])
    return pen, side + pen


def size_sweep_set(count: int = 200, seed: int = 2, redrawn: bool = False) -> list[Sample]:
    """The web page's pad: 280x280 greyscale, white ink on black, the pad's pen, digits 40..250 px tall
    (evenly spread; the ink comes within about 5 % of the height in kind), anywhere on the pad. A digit
    too wide for the pad at its height is passed over. `redrawn`: each path as the pad reads it; the
    kind still says the height drawn with the pad's pen."""
    rng = np.random.default_rng(seed)
    digits = _test_digits(rng)
    samples = []
    for height in np.linspace(*PAD_HEIGHTS, count).round().astype(int):
        while True:
            digit, label = next(digits)
            if max(pen_digit(digit, height, PAD_PEN)[3:-3, 3:-3].shape) <= PAD_SIDE:
                break
        ink = pen_digit(digit, *_pad_pen(height, redrawn)[::-1])[3:-3, 3:-3]
        pad = np.zeros((PAD_SIDE, PAD_SIDE), np.float32)
        top, left = (int(rng.integers(0, PAD_SIDE - n + 1)) for n in ink.shape)
        pad[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
        samples.append(Sample(np.round(pad * 255).astype(np.uint8), label, f"{height} px"))
    return samples


def drawn_strokes(
    count: int = 200, seed: int = 5, heights: tuple[float, float] = PAD_HEIGHTS
) -> list[tuple[list[np.ndarray], int, float]]:
    """style_set's standard digits (0..9 in turn, drawing `seed + i`) placed on the pad: (strokes in
    canvas pixels, digit, height), scaled so that drawn with the pad's pen they are `heights` tall
    (evenly spread; narrower when too wide for the pad), anywhere on it."""
    from pipeline.style_set import strokes as drawing

    rng = np.random.default_rng(seed)
    drawn = []
    for i, height in enumerate(np.linspace(*heights, count)):
        paths = drawing("standard", i % 10, seed + i)
        low = np.concatenate(paths).min(axis=0)
        size = np.ptp(np.concatenate(paths), axis=0)
        scale = min(max(height - PAD_PEN, 2.0) / size[1], (PAD_SIDE - 2 - PAD_PEN) / size[0])
        room = PAD_SIDE - 2 - PAD_PEN - size * scale
        shift = PAD_PEN / 2 + 1 + rng.uniform(0, 1, 2) * room
        drawn.append(([(path - low) * scale + shift for path in paths], i % 10, float(height)))
    return drawn


def drawn_sweep_set(
    count: int = 200, seed: int = 5, redrawn: bool = False, heights: tuple[float, float] = PAD_HEIGHTS
) -> list[Sample]:
    """drawn_strokes `heights` px tall (default 40..250), as drawn with the pad's pen or `redrawn` as the pad
    reads them."""
    return [
        Sample(
            strokes.redraw(paths, PAD) if redrawn else strokes.render(paths, PAD_PEN, PAD_SIDE),
            digit,
            f"{h:.0f} px",
        )
        for paths, digit, h in drawn_strokes(count, seed, heights)
    ]


SMALL_HEIGHTS = (40, 70)  # px: the pad's 22 px pen is a third to a half of the digit's height


def small_pad_pictures(count: int = 200, seed: int = 7) -> list[Sample]:
    """The kind of field case page_pen_small_5_44px.png: drawn_strokes 40..70 px tall as drawn with the
    pad's pen, a picture (no strokes to redraw) whose loops and gaps the pen has filled."""
    return drawn_sweep_set(count, seed, heights=SMALL_HEIGHTS)


def low_resolution_set(count: int = 1000, seed: int = 3) -> list[Sample]:
    """MNIST test digits averaged down to 8x8, quantised to 16 grey levels, bilinear back to 28x28."""
    rng = np.random.default_rng(seed)
    digits = _test_digits(rng)
    samples = []
    for _ in range(count):
        digit, label = next(digits)
        small = np.asarray(Image.fromarray(digit).resize((8, 8), Image.Resampling.BOX), np.float32)
        levels = (np.round(small / 255 * 15) * 17).astype(np.uint8)
        image = np.asarray(Image.fromarray(levels).resize((28, 28), Image.Resampling.BILINEAR))
        samples.append(Sample(image, label, "8x8 at 16 levels"))
    return samples


# Simard, Steinkraus and Platt (2003), "Best practices for convolutional neural networks applied to
# visual document analysis", section 2: a random displacement field smoothed by a Gaussian of deviation
# sigma, scaled by alpha; their MNIST values.
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0


def elastic_set(count: int = 1000, seed: int = 4) -> list[Sample]:
    """MNIST test digits under an elastic distortion (Simard et al. 2003: alpha 34, sigma 4), bilinear."""
    rng = np.random.default_rng(seed)
    digits = _test_digits(rng)
    rows, cols = np.indices((28, 28)).astype(np.float64)
    samples = []
    for _ in range(count):
        digit, label = next(digits)
        dy, dx = (
            ndimage.gaussian_filter(rng.uniform(-1, 1, (28, 28)), ELASTIC_SIGMA) * ELASTIC_ALPHA for _ in "yx"
        )
        moved = ndimage.map_coordinates(digit.astype(np.float64), [rows + dy, cols + dx], order=1)
        samples.append(Sample(np.clip(np.round(moved), 0, 255).astype(np.uint8), label, "elastic"))
    return samples


SETS: dict[str, Callable[[], list[Sample]]] = {
    "photo": photo_set,
    "not_a_digit": not_a_digit_set,
    "size_sweep": size_sweep_set,
    "drawn_sweep": drawn_sweep_set,
    "small_pad_pictures": small_pad_pictures,
    "low_resolution": low_resolution_set,
    "elastic": elastic_set,
}


def main(argv: list[str]) -> None:
    """Write 12 samples of each set, spread over it, as PNGs into argv[0]; print each set's time."""
    if len(argv) != 1:
        sys.exit("usage: python -m pipeline.bench.reading_sets OUTDIR")
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    _mnist_test()  # loading MNIST is not generating
    for name, make in SETS.items():
        started = time.perf_counter()
        samples = make()
        print(f"{name}: {len(samples)} images in {time.perf_counter() - started:.1f} s")
        for i in np.linspace(0, len(samples) - 1, 12).astype(int):
            sample = samples[i]
            kind = sample.kind.replace("+", "-").replace(" ", "_")
            Image.fromarray(sample.image).save(out / f"{name}_{i:04d}_{sample.label}_{kind}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
