"""A model of one's own: its images as it takes them (resize, channels, scaling) and its labelled data.

The recipe is Keras's `image_dataset_from_directory` (keras.io/api/data_loading/image): class index =
the class folders in alphanumeric order; every image decoded to the model's channels (grayscale or
RGB, alpha dropped) and resized to the model's height and width with `tf.image.resize`'s default,
bilinear interpolation with half-pixel centres and no antialiasing, the aspect ratio not kept. The
resize here is that formula in numpy (tests hold it to TensorFlow's), and web/static/resize.js is its
twin for the page, so Python, the page and the apps feed a model exactly what it was verified on.

Pixels are 0..255; `scale` maps them linearly to the range the model takes (0..1, 0..255 or -1..1).
Errors: PipelineError with one sentence naming the file or folder at fault.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

# Keras's ALLOWLIST_FORMATS for image_dataset_from_directory
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
RANGES = {"0..1": (0.0, 1.0), "0..255": (0.0, 255.0), "-1..1": (-1.0, 1.0)}
RESIZE = "bilinear, half-pixel centres, no antialiasing, aspect ratio not kept (tf.image.resize's default)"
MAX_PIXELS = 40_000_000  # a larger image is refused rather than decoded (a decompression bomb)


@dataclass(frozen=True)
class ImageSpec:
    """The image a model reads: height and width in pixels, channels 1 (grayscale) or 3 (RGB)."""

    height: int
    width: int
    channels: int


@dataclass
class LabelledData:
    """Labelled images at the model's size, before scaling."""

    pixels: np.ndarray  # float32 [N, height, width, channels], 0..255
    labels: np.ndarray  # int64 [N], 0..K-1
    class_names: list[str]  # K names, label i is class_names[i]
    source: dict  # where the data came from, for the manifest: kind, path, images, sha256


def resize_bilinear(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """[h, w, c] -> float32 [height, width, c], as tf.image.resize(method="bilinear") computes it:
    source coordinate (i + 0.5) * in / out - 0.5, its floor and ceiling clamped into the image."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.shape[:2] == (height, width):
        return pixels.copy()

    def weights(size_in: int, size_out: int):
        where = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
        below = np.floor(where)
        low = np.clip(below, 0, size_in - 1).astype(np.int64)
        high = np.clip(np.ceil(where), 0, size_in - 1).astype(np.int64)
        return low, high, (where - below).astype(np.float32)

    top, bottom, dy = weights(pixels.shape[0], height)
    left, right, dx = weights(pixels.shape[1], width)
    dx = dx[None, :, None]
    upper = pixels[top][:, left] + (pixels[top][:, right] - pixels[top][:, left]) * dx
    lower = pixels[bottom][:, left] + (pixels[bottom][:, right] - pixels[bottom][:, left]) * dx
    return (upper + (lower - upper) * dy[:, None, None]).astype(np.float32)


def scale(pixels: np.ndarray, value_range) -> np.ndarray:
    """Pixels 0..255 -> the model's range [low, high], linearly; float32."""
    low, high = (float(v) for v in value_range)
    return (np.asarray(pixels, np.float32) * np.float32((high - low) / 255.0) + np.float32(low)).astype(np.float32)


def decode(data: bytes, channels: int, name: str) -> np.ndarray:
    """A PNG, JPEG, GIF or BMP file's bytes -> float32 [h, w, channels] pixels 0..255 (alpha dropped,
    colour to grey by ITU-R 601 luma as PIL's "L" mode). PipelineError naming `name` if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PipelineError(f"{name} is too large ({image.width}x{image.height} pixels).")
            if image.mode.startswith("I"):  # 16-bit greyscale: Pillow's "L" would clip it to white
                grey = eight_bit(np.asarray(image.convert("I"), np.int64).clip(0, 65535).astype(np.uint16))
                return grey[..., None] if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
            converted = image.convert("L" if channels == 1 else "RGB")
            pixels = np.asarray(converted, np.float32)
    except PipelineError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PipelineError(f"{name} is not a readable image ({type(exc).__name__}: {exc}).") from exc
    return pixels[..., None] if channels == 1 else pixels


def eight_bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit pixels (uint16) -> float32 0..255 as TensorFlow's decoder gives them to Keras
    (tf.image.convert_image_dtype: the high byte, value >> 8); anything else as float32."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.float32)
    return pixels.astype(np.float32)


def image_input(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Any [h, w] or [h, w, c] pixel array 0..255 (c 1, 3 or 4) -> float32 [height, width, channels]
    0..255, converted to the spec's channels the way `decode` does and resized."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4) or min(pixels.shape[:2]) < 1:
        raise PipelineError(
            f"Expected an image [height, width] or [height, width, 1/3/4], got {list(pixels.shape)}."
        )
    pixels = pixels[..., :3]
    if spec.channels == 1 and pixels.shape[2] == 3:
        pixels = pixels @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    elif spec.channels == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return resize_bilinear(pixels, spec.height, spec.width)


def load_folder(folder: Path, spec: ImageSpec) -> LabelledData:
    """image_dataset_from_directory's layout: one sub-folder per class, its images (IMAGE_SUFFIXES, in
    sub-folders too) labelled with the folder's index in alphanumeric order. PipelineError for no class
    folder, an empty class folder or an unreadable image (named)."""
    from pipeline.files import sha256_file

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise PipelineError(f"{folder} has no class folders: put each class's images in a folder named after it.")
    pixels, labels, digest = [], [], []
    for index, name in enumerate(classes):
        files = sorted(p for p in (folder / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise PipelineError(
                f"Class folder {folder / name} holds no image ({', '.join(IMAGE_SUFFIXES)}): "
                "every class needs labelled images."
            )
        for path in files:
            pixels.append(
                resize_bilinear(decode(path.read_bytes(), spec.channels, str(path)), spec.height, spec.width)
            )
            labels.append(index)
            digest.append(f"{path.relative_to(folder).as_posix()} {sha256_file(path)}")
    from pipeline.files import sha256_bytes

    source = {
        "kind": "folder",
        "path": str(folder),
        "images": len(labels),
        "sha256": sha256_bytes("\n".join(digest).encode()),  # of every file's path and sha256
    }
    return LabelledData(np.stack(pixels), np.array(labels, np.int64), classes, source)


def load_npz(path: Path, spec: ImageSpec) -> LabelledData:
    """An .npz with `x` (pixels [N, h, w], [N, h, w, c] or flat [N, h*w]: uint8 0..255, or floats in
    0..1 read as pixel / 255), `y` (N class indices) and optionally `labels` (K class names)."""
    from pipeline.files import sha256_file

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise PipelineError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}).") from exc
    if not all(isinstance(array, np.ndarray) for array in arrays.values()):  # members that are not .npy
        raise PipelineError(f"{path} is not a readable .npz file (its members are not NumPy arrays).")
    if "x" not in arrays or "y" not in arrays:
        raise PipelineError(f"{path} has no `x` and `y` arrays (it has: {', '.join(arrays) or 'nothing'}).")
    x, y = arrays["x"], arrays["y"]
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != len(x) or (len(y) and y.min() < 0):
        raise PipelineError(f"{path}: `y` must hold one class index (0..K-1) per image of `x`.")
    if x.ndim == 2 and spec.height * spec.width == x.shape[1]:
        x = x.reshape(len(x), spec.height, spec.width)
    if x.ndim not in (3, 4) or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise PipelineError(f"{path}: `x` must be images [N, height, width(, channels)], got {list(x.shape)}.")
    if len(x) == 0:
        raise PipelineError(f"{path} holds no images: `x` and `y` are empty.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise PipelineError(f"{path}: `x` holds NaN or infinite values.")
    if arrays["x"].dtype.kind == "f":
        if len(x) and (x.min() < 0 or x.max() > 1):
            raise PipelineError(f"{path}: float `x` must be in 0..1 (pixel / 255), got {x.min():g}..{x.max():g}.")
        x = x * 255.0
    elif len(x) and (x.min() < 0 or x.max() > 255):
        raise PipelineError(f"{path}: integer `x` must be pixels 0..255, got {x.min():g}..{x.max():g}.")
    classes = int(y.max()) + 1 if len(y) else 0
    names = [str(n) for n in arrays["labels"].tolist()] if "labels" in arrays else [str(i) for i in range(classes)]
    if classes > len(names):
        raise PipelineError(f"{path}: `y` goes up to {classes - 1}, but `labels` names {len(names)} classes.")
    pixels = (
        np.stack([image_input(image, spec) for image in x])
        if len(x)
        else np.zeros((0, spec.height, spec.width, spec.channels), np.float32)
    )
    source = {"kind": "npz", "path": str(path), "images": int(len(y)), "sha256": sha256_file(path)}
    return LabelledData(pixels, y.astype(np.int64), names, source)


def load_labelled(data: str | Path, spec: ImageSpec) -> LabelledData:
    """A folder of class folders or an .npz (see load_folder, load_npz), at the spec's size."""
    data = Path(data)
    if data.is_dir():
        return load_folder(data, spec)
    if data.suffix == ".npz" and data.is_file():
        return load_npz(data, spec)
    raise PipelineError(f"{data} is neither a folder of class folders nor an .npz file with `x` and `y`.")
