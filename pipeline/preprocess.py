"""MNIST's own preprocessing, so a drawing or a photo looks like the digits the model learned from.

The ink is found first (pipeline/ink.py: paper, light, noise and desk left out; "not one digit"
refused) and given MNIST's pen width (pipeline/pen.py). Then MNIST's recipe (LeCun et al.): white ink
on black; crop to the ink; scale the crop to fit a 20x20 box, keeping its aspect ratio, with
anti-aliasing; paste it into a 28x28 field so that its centre of mass sits at the centre; values 0..1.

`web/static/preprocess.js` (with ink.js and pen.js) implements the same steps in the same order with
the same constants, and a test holds the two to the same output: change one, change the other. Only
numpy and SciPy here (and Pillow to decode files), so the LiteRT path of the apps never imports
TensorFlow.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.ink import BlankImageError, NotOneDigitError, find_digit, ink_box  # noqa: F401 (errors: re-exported)
from pipeline.pen import normalise_pen

SIZE = 28  # the model's input is SIZE x SIZE
BOX = 20  # the digit is fitted in BOX x BOX
EPSILON = 1e-9  # see centre_in_field
MAX_PIXELS = 40_000_000  # larger images are refused before they are decoded (JPEGs: after a reduced decode)
# A JPEG whose longer side is above JPEG_DECODE_SIDE decodes at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
# scaling, through Pillow's Image.draft), the smallest scale that keeps the longer side at least that:
# a 48-megapixel phone photo (8000x6000) decodes as 2000x1500 instead of being refused, a 12-megapixel
# one too. The digit is fitted into 20x20 pixels afterwards, so nothing it needs is lost.
JPEG_DECODE_SIDE = 2000
MAX_BYTES = 20 * 1024 * 1024
ORIENTATION_TAG = 0x0112  # EXIF: how a camera held sideways stored the picture


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 numbers -> HxW float64 in 0..1.

    Integers are read as 8-bit (0..255) unless they exceed 255 (then 16-bit); floats must already
    be 0..1. Transparent pixels are background: they take the colour opposite to the ink, which is
    the most opaque pixels (alpha above half the image's largest: ink drawn at 40 % opacity counts).
    """
    try:
        array = np.asarray(image)
    except ValueError as exc:  # ragged nested lists
        raise PipelineError(f"An image must be a rectangular array of numbers ({exc}).") from exc
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise PipelineError(f"An image must hold numbers, not {array.dtype}.")
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        pass
    elif array.ndim != 2:
        raise PipelineError(f"An image must be HxW, HxWx1, HxWx3 or HxWx4; got shape {tuple(array.shape)}.")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise PipelineError(f"The image is empty (shape {tuple(array.shape)}).")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise PipelineError("The image holds NaN or infinite values.")
        if array.min() < 0 or array.max() > 1:
            raise PipelineError("A float image must hold values in 0..1.")
        pixels = array.astype(np.float64)
    else:
        if array.min() < 0:
            raise PipelineError("An integer image cannot hold negative values.")
        wide = array.dtype == np.uint16 or array.max() > 255
        scale = 65535.0 if wide else 255.0
        if array.max() > 65535:
            raise PipelineError("An integer image must hold 8- or 16-bit values.")
        pixels = array.astype(np.float64) / scale
    if pixels.ndim == 2:
        return pixels
    alpha = pixels[..., 3] if pixels.shape[2] == 4 else None
    if pixels.shape[2] >= 3:
        gray = 0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2]
    else:
        gray = pixels[..., 0]
    if alpha is not None and alpha.min() < 1:
        opaque = alpha > 0.5 * alpha.max()
        ink_is_light = opaque.any() and gray[opaque].mean() > 0.5
        background = 0.0 if ink_is_light else 1.0
        gray = gray * alpha + background * (1 - alpha)
    return gray


def resample_weights(source: int, target: int) -> np.ndarray:
    """target x source matrix of area weights: output cell i averages the input it covers.

    Exact anti-aliasing for shrinking, a blocky but faithful copy for enlarging.
    """
    scale = source / target
    weights = np.zeros((target, source))
    for i in range(target):
        start, end = i * scale, (i + 1) * scale
        for j in range(math.floor(start), min(math.ceil(end), source)):
            weights[i, j] = (min(end, j + 1) - max(start, j)) / scale
    return weights


def resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    return resample_weights(image.shape[0], height) @ image @ resample_weights(image.shape[1], width).T


def centre_in_field(digit: np.ndarray) -> np.ndarray:
    """Paste `digit` into SIZE x SIZE with its centre of mass at the centre (whole-pixel shift)."""
    height, width = digit.shape
    total = digit.sum()
    rows, cols = np.arange(height), np.arange(width)
    centre_row = (digit.sum(axis=1) @ rows) / total
    centre_col = (digit.sum(axis=0) @ cols) / total
    # MNIST's centres of mass sit at pixel index 14 (measured: mean 13.99 rows, 14.00 columns).
    # floor(x + 0.5) rounds halves up, as the JS twin does (Python's round() does not); EPSILON
    # keeps an exact half (a symmetric drawing) from falling either way by float noise.
    top = min(max(math.floor(SIZE / 2 - centre_row + 0.5 + EPSILON), 0), SIZE - height)
    left = min(max(math.floor(SIZE / 2 - centre_col + 0.5 + EPSILON), 0), SIZE - width)
    field = np.zeros((SIZE, SIZE))
    field[top : top + height, left : left + width] = digit
    return field


def preprocess(image) -> np.ndarray:
    """Any digit image (array of any size, either polarity; a drawing or a photo of paper) -> 28x28
    float32 in 0..1, MNIST-style. BlankImageError if there is no ink, NotOneDigitError if it is not one
    digit (pipeline/ink.py finds the ink and the digit, pipeline/pen.py gives it MNIST's pen)."""
    found, shade = find_digit(to_grayscale(image))
    mask = normalise_pen(found, BOX / max(crop_box(found).shape))
    # the ink as found keeps its shades (anti-aliased edges); what the pen added is full ink
    crop = crop_box(mask, np.where(mask, np.where(found, shade, 1.0), 0.0))
    scale = BOX / max(crop.shape)
    height = max(1, min(BOX, math.floor(crop.shape[0] * scale + 0.5)))
    width = max(1, min(BOX, math.floor(crop.shape[1] * scale + 0.5)))
    digit = np.clip(resize_area(crop, height, width), 0.0, 1.0)
    return centre_in_field(digit).astype(np.float32)


def crop_box(mask: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """HxW bool with some True -> the smallest rectangle holding all of it (of `image`, if given).
    ValueError when `mask` holds no True."""
    box = ink_box(mask)
    if box is None:
        raise ValueError("crop_box needs a mask with some True pixels.")
    return (mask if image is None else image)[box]


def read_image(source: str | Path | bytes, formats: tuple[str, ...] = ("PNG", "JPEG")) -> np.ndarray:
    """Decode a PNG or JPEG (path or bytes) into an array for `preprocess`, refusing bombs and non-images.

    Handles palette, 16-bit, greyscale+alpha and RGBA files. `formats`: Pillow's names of the formats
    read (a model of one's own also reads GIF and BMP, as its data did: image_input.IMAGE_SUFFIXES).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError  # Pillow only when a file is decoded

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise PipelineError(f"Image file {path} does not exist.")
        if not path.is_file():
            raise PipelineError(f"{path} is not a file; give a PNG or JPEG image.")
        if path.stat().st_size > MAX_BYTES:
            raise PipelineError(f"Image file {path} is larger than {MAX_BYTES // 2**20} MiB.")
        data, name = path.read_bytes(), str(path)
    else:
        data, name = bytes(source), "The uploaded image"
        if len(data) > MAX_BYTES:
            raise PipelineError(f"{name} is larger than {MAX_BYTES // 2**20} MiB.")
    try:
        # Pillow warns above 89 Mpx on stderr; MAX_PIXELS below refuses those with a sentence instead
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning):
            image: Image.Image = Image.open(io.BytesIO(data))
        with image:
            if image.format not in formats:
                raise PipelineError(f"{name} is a {image.format} file; use a {' or '.join(formats)}.")
            if image.format == "JPEG" and max(image.size) > JPEG_DECODE_SIDE:
                factor = JPEG_DECODE_SIDE / max(image.size)
                image.draft(image.mode, (math.ceil(image.width * factor), math.ceil(image.height * factor)))
            if image.width * image.height > MAX_PIXELS:
                raise PipelineError(
                    f"{name} is {image.width}x{image.height} pixels, more than the "
                    f"{MAX_PIXELS // 1_000_000} million allowed."
                )
            image.load()
            if image.getexif().get(ORIENTATION_TAG, 1) != 1:  # a phone photo: turn it upright
                image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I"):  # 16-bit greyscale PNGs decode as I or I;16
                return np.asarray(image.convert("I"), dtype=np.int64).clip(0, 65535).astype(np.uint16)
            return np.asarray(
                image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            )
    except PipelineError:
        raise
    except UnidentifiedImageError as exc:
        raise PipelineError(
            f"{name} is not a readable PNG or JPEG image: its bytes are not in any image format Pillow recognises."
        ) from exc
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # SyntaxError and EOFError: how Pillow reports some broken PNG chunks and cut-off files
        raise PipelineError(f"{name} is not a readable PNG or JPEG image ({exc}).") from exc
