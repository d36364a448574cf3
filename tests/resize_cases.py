"""Pictures and what pipeline/image_input.py makes of them for a model of one's own (recipe "resize":
channels, bilinear resize, scaling), for the Node test of web/static/resize.js (tests/resize.test.mjs),
which must give the same float32 values.

    python -m tests.resize_cases     # rewrites tests/fixtures/resize-cases.json

tests/test_web_own_model.py checks that the committed file is what the Python recipe gives today.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "resize-cases.json"


def picture(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """uint8 [height, width(, channels)]: smooth colour gradients, a disc and some noise (every value
    0..255 reachable, and small enough zlib-packed for the fixture)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:height, :width]
    layers = []
    for c in range(channels):
        gradient = 255 * (rows / max(height - 1, 1) * (c % 2) + cols / max(width - 1, 1) * (1 - c % 2))
        disc = ((rows - height / 2) ** 2 + (cols - width / 3) ** 2 < (min(height, width) / 4) ** 2) * (60 + 60 * c)
        layers.append(gradient * 0.7 + disc + rng.integers(-6, 7, (height, width)))
    image = np.clip(np.dstack(layers), 0, 255).round().astype(np.uint8)
    if channels == 4:
        image[..., 3] = np.where(cols < width // 2, 255, 128)  # half opaque: alpha is dropped
    return image[..., 0] if channels == 1 else image


def record(shape: list, channels: int, value_range: tuple[float, float]) -> dict:
    """A manifest `input` as pipeline/own_model.py writes it (the fields the page reads)."""
    side = shape[1:]
    height, width = (side[0], side[1]) if len(side) >= 2 else (int(side[0] ** 0.5),) * 2
    return {
        "name": "image",
        "shape": [None, *shape[1:]],
        "dtype": "float32",
        "range": list(value_range),
        "image": {"height": height, "width": width, "channels": channels},
        "recipe": "resize",
    }


# name -> (picture height, width, channels (1 grey, 3 RGB, 4 RGBA), seed; the model's input record)
CASES = {
    "RGB 40x40 to grey 28x28 (downscale), 0..1": ((40, 40, 3, 1), record([None, 28, 28, 1], 1, (0.0, 1.0))),
    "RGB 32x48 to RGB 32x32 (aspect ratio not kept), 0..255": (
        (32, 48, 3, 2),
        record([None, 32, 32, 3], 3, (0.0, 255.0)),
    ),
    "grey 7x5 to RGB 32x32 (upscale, odd sizes), -1..1": ((7, 5, 1, 3), record([None, 32, 32, 3], 3, (-1.0, 1.0))),
    "RGBA 13x9 to flat [784] (alpha dropped, grey), 0..1": ((13, 9, 4, 4), record([None, 784], 1, (0.0, 1.0))),
    "RGBA 61x47 to RGB 32x32 (odd downscale), -1..1": ((61, 47, 4, 5), record([None, 32, 32, 3], 3, (-1.0, 1.0))),
    "grey 28x28 to [28, 28] (same size), 0..255": ((28, 28, 1, 6), record([None, 28, 28], 1, (0.0, 255.0))),
    "RGB 1x1 to RGB 5x7 (one pixel), 0..1": ((1, 1, 3, 7), record([None, 5, 7, 3], 3, (0.0, 1.0))),
    "RGB 90x70 to grey 24x20 (large downscale, not square), 0..1": (
        (90, 70, 3, 8),
        record([None, 24, 20, 1], 1, (0.0, 1.0)),
    ),
}


def packed(data: bytes) -> str:
    """zlib then base64: Node unpacks it with zlib.inflateSync, and the file stays small."""
    return base64.b64encode(zlib.compress(data, 9)).decode()


def expected(image: np.ndarray, input_record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(the resized pixels 0..255 [H, W, C], the model's input [*shape]) as Classifier.prepare makes them."""
    from pipeline import image_input

    spec = image_input.ImageSpec(**input_record["image"])
    pixels = image_input.image_input(image.astype(np.float32), spec)
    return pixels, image_input.scale(pixels, input_record["range"]).reshape(input_record["shape"][1:])


def make_cases() -> list[dict]:
    cases = []
    for name, ((height, width, channels, seed), input_record) in CASES.items():
        image = picture(height, width, channels, seed)
        pixels, data = expected(image, input_record)
        cases.append(
            {
                "name": name,
                "width": width,
                "height": height,
                "channels": channels,
                "pixels": packed(image.tobytes()),
                "input": input_record,
                "resized_float32_le": packed(pixels.astype("<f4").tobytes()),
                "float32_le": packed(data.astype("<f4").tobytes()),
            }
        )
    return cases


if __name__ == "__main__":
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(make_cases(), indent=1) + "\n")
    print(f"Wrote {FIXTURE}.")
