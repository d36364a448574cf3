"""Hypothesis fuzzing of everything that reads untrusted bytes or arrays: the IDX parser, the
preprocessing recipe and the image decoder. Each either gives a correct result or a PipelineError
with a one-line sentence; any other exception, or a result of the wrong size, fails.

Example counts are in EXAMPLES; FUZZ_SCALE=10 (say) multiplies them for a longer hunt.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from pipeline.data import parse_idx
from pipeline.errors import PipelineError
from pipeline.preprocess import SIZE, preprocess, read_image
from tests.conftest import idx_bytes

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = {
    "idx bytes": 1000,
    "idx mutated": 1000,
    "preprocess arrays": 600,
    "preprocess sparse": 300,
    "preprocess lists": 200,
    "read_image bytes": 600,
    "read_image mutated": 1500,
}


def fuzz(name: str):
    # CI replays one fixed sequence (a red build must be reproducible); local runs explore anew
    return settings(
        max_examples=int(EXAMPLES[name] * SCALE),
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def one_sentence(exc: PipelineError) -> None:
    text = str(exc)
    assert text and "\n" not in text and text.endswith((".", ")")), text


# --- IDX ---------------------------------------------------------------------------------------------


def check_idx(blob: bytes) -> np.ndarray | None:
    """parse_idx gives exactly the array the header describes, or a PipelineError."""
    try:
        array = parse_idx(blob, "fuzzed.idx")
    except PipelineError as exc:
        assert str(exc).startswith("fuzzed.idx ")
        one_sentence(exc)
        return None
    ndim = blob[3]
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    assert blob[:3] == b"\x00\x00\x08" and 1 <= ndim <= 4
    assert array.dtype == np.uint8 and array.shape == shape
    assert array.tobytes() == blob[4 + 4 * ndim :]
    return array


@fuzz("idx bytes")
@given(
    st.one_of(
        st.binary(max_size=300),
        st.tuples(st.integers(0, 255), st.binary(max_size=300)).map(lambda t: bytes([0, 0, 8, t[0] % 6]) + t[1]),
    )
)
@example(b"\x00\x00\x08\x04" + (65536).to_bytes(4, "big") * 4)  # 2**64 elements: np.prod wrapped to 0
@example(b"\x00\x00\x08\x01" + bytes(4))  # an empty array is valid
def test_idx_parser_on_arbitrary_bytes(blob):
    check_idx(blob)


@st.composite
def mutated_idx(draw):
    array = draw(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
    blob = bytearray(idx_bytes(array))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "dimension", "truncate", "extend"]))
        if kind == "flip" and blob:
            position = draw(st.integers(0, len(blob) - 1))
            blob[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "dimension":
            index = draw(st.integers(0, array.ndim - 1))
            blob[4 + 4 * index : 8 + 4 * index] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
        elif kind == "truncate":
            del blob[draw(st.integers(0, len(blob))) :]
        elif kind == "extend":
            blob += draw(st.binary(min_size=1, max_size=20))
    return array, bytes(blob)


@fuzz("idx mutated")
@given(mutated_idx())
def test_idx_parser_on_mutated_valid_files(case):
    array, blob = case
    parsed = check_idx(blob)
    if blob == idx_bytes(array):
        np.testing.assert_array_equal(parsed, array)  # unmutated: read back exactly


# --- preprocess --------------------------------------------------------------------------------------


def check_preprocess(image) -> None:
    """A 28x28 float32 in 0..1 with some ink, or a PipelineError."""
    try:
        result = preprocess(image)
    except PipelineError as exc:
        one_sentence(exc)
        return
    assert result.shape == (SIZE, SIZE) and result.dtype == np.float32
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1 and result.sum() > 0


DTYPES = [
    np.uint8,
    np.uint16,
    np.int16,
    np.int32,
    np.int64,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.complex64,
]
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    st.tuples(st.integers(1, 60), st.integers(1, 60)),
    st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 3, 4, 5])),
)


@fuzz("preprocess arrays")
@given(st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, SHAPES)))
def test_preprocess_on_arbitrary_arrays(image):
    check_preprocess(image)


@fuzz("preprocess sparse")
@given(
    st.sampled_from([np.uint8, np.uint16, np.float32]).flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            st.tuples(st.integers(1, 120), st.integers(1, 120)),
            elements=(st.floats(0, 1, width=32) if dtype == np.float32 else st.integers(0, np.iinfo(dtype).max)),
            fill=st.just(dtype(0)),
        )
    )
)
def test_preprocess_on_sparse_drawings(image):
    """Mostly background with a few strokes of ink: what a canvas sends."""
    check_preprocess(image)


@fuzz("preprocess lists")
@given(
    st.lists(
        st.lists(st.one_of(st.integers(-5, 300), st.floats(allow_nan=True), st.none()), max_size=8), max_size=8
    )
)
def test_preprocess_on_nested_lists(image):
    check_preprocess(image)


# --- read_image --------------------------------------------------------------------------------------


def check_read_image(blob: bytes) -> None:
    try:
        array = read_image(blob)
    except PipelineError as exc:
        one_sentence(exc)
        return
    assert isinstance(array, np.ndarray)
    assert (array.ndim == 2 and array.dtype == np.uint16) or (
        array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8
    ), (array.shape, array.dtype)
    check_preprocess(array)  # whatever decodes goes on through the recipe


@fuzz("read_image bytes")
@given(
    st.one_of(
        st.binary(max_size=4000),
        st.binary(max_size=4000).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
        st.binary(max_size=4000).map(lambda b: b"\xff\xd8\xff\xe0" + b),
    )
)
def test_read_image_on_arbitrary_bytes(blob):
    check_read_image(blob)


def encoded(image: Image.Image, format_name: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def seed_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    digit = np.zeros((24, 20), np.uint8)
    digit[4:20, 8:12] = 255
    digit[4:8, 4:16] = 200
    noisy = (digit * 0.8 + rng.random(digit.shape) * 50).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    palette = Image.fromarray(noisy).convert("P")
    return [
        encoded(Image.fromarray(noisy)),
        encoded(Image.fromarray(np.dstack([noisy] * 3))),
        encoded(Image.fromarray(np.dstack([noisy] * 3 + [digit]))),
        encoded(Image.fromarray(np.dstack([255 - digit, digit]))),
        encoded(palette),
        encoded(palette, transparency=0),
        encoded(Image.fromarray(noisy.astype(np.uint16) * 257)),
        encoded(Image.fromarray(digit > 0)),
        encoded(Image.fromarray(noisy), "JPEG", quality=80),
        encoded(Image.fromarray(np.dstack([noisy] * 3)), "JPEG", quality=80, exif=exif),
        encoded(Image.fromarray(noisy), exif=exif),
    ]


SEEDS = seed_images()


def fix_png_crcs(blob: bytes) -> bytes:
    """Recompute every chunk's CRC, so a mutation reaches the decoder instead of the CRC check."""
    if not blob.startswith(b"\x89PNG\r\n\x1a\n"):
        return blob
    out, position = bytearray(blob[:8]), 8
    while position + 8 <= len(blob):
        length = struct.unpack(">I", blob[position : position + 4])[0]
        chunk = blob[position + 4 : position + 8 + length]
        out += blob[position : position + 8 + length] + struct.pack(">I", zlib.crc32(chunk))
        position += 12 + length
    return bytes(out)


@st.composite
def mutated_images(draw):
    blob = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete"]))
        position = draw(st.integers(0, len(blob) - 1))
        if kind == "set":
            blob[position] = draw(st.integers(0, 255))
        elif kind == "flip":
            blob[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            blob[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif len(blob) > 1:
            del blob[position : position + draw(st.integers(1, 8))]
    if draw(st.booleans()):
        del blob[draw(st.integers(0, len(blob))) :]
    return fix_png_crcs(bytes(blob)) if draw(st.booleans()) else bytes(blob)


@fuzz("read_image mutated")
@given(mutated_images())
@example(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x14\x00\x00\x00\x18\x08\x04\x00\x00\x00PB\x15"
    b"\xfd\x00\x00\x007IDATx\x9cc\xfc\xcf@\x1c`\"R\x1d\r\x14\xb2\xc0\x18\x16'\xb0+8aA+\xab\x89V\xc8"
    b"\x88\x1e\x8e0\x81\xff\x8c\xb4\x00\x10\xb6zT!\x9d\x15b\xc45\xfd\xac&Z!\x00\x98Q\x07-?\x90\xca"
    b"\x08\x00\x00\x00\x00IEND\xaeB`\x82"
)  # found by this test: Pillow raised SyntaxError
def test_read_image_on_mutated_real_images(blob):
    check_read_image(blob)


def test_the_seed_images_themselves_decode():
    """The fuzzer starts from files that are valid: each decodes and preprocesses."""
    for blob in SEEDS:
        check_read_image(blob)
        assert preprocess(read_image(blob)).sum() > 0
