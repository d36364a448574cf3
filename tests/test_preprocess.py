"""MNIST's preprocessing recipe on drawings, photos and odd inputs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import PipelineError
from pipeline.preprocess import BlankImageError, NotOneDigitError, preprocess, read_image


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def big_drawing(digit: np.ndarray, scale: int = 10) -> np.ndarray:
    """An MNIST digit blown up like a canvas drawing: 280x280, with a margin it sits off-centre in."""
    canvas = np.zeros((28 * scale + 60, 28 * scale + 60), dtype=np.uint8)
    canvas[10 : 10 + 28 * scale, 40 : 40 + 28 * scale] = np.kron(digit, np.ones((scale, scale), np.uint8))
    return canvas


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / total, (cols * image).sum() / total


def test_output_contract(mnist):
    result = preprocess(mnist[1][0][0])
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert result.min() >= 0 and result.max() == pytest.approx(1.0)


def test_digit_is_fitted_in_20x20_and_centred(mnist):
    result = preprocess(big_drawing(mnist[1][0][3]))
    rows, cols = np.nonzero(result > 0)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == 20
    row, col = centre_of_mass(result)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_mnist_digits_survive_the_recipe_nearly_unchanged(mnist):
    """Test digits were made with this recipe: redoing it on them changes little."""
    images = mnist[1][0][:50].astype(np.float32) / 255
    differences = [np.abs(preprocess(image) - image).mean() for image in images]
    assert np.median(differences) < 0.05


def test_either_polarity_gives_the_same_input(mnist):
    drawing = big_drawing(mnist[1][0][7])
    np.testing.assert_allclose(preprocess(255 - drawing), preprocess(drawing), atol=1e-6)


def test_blank_and_uniform_images_are_refused():
    for image in (
        np.zeros((280, 280), np.uint8),
        np.full((50, 80), 255, np.uint8),
        np.full((28, 28), 0.5, np.float32),
    ):
        with pytest.raises(BlankImageError, match="blank"):
            preprocess(image)


def test_a_single_dot_is_refused_and_ink_on_the_border_still_gives_an_input():
    dot = np.zeros((280, 280), np.uint8)
    dot[140, 140] = 255
    with pytest.raises(NotOneDigitError, match="too small to read"):  # a tap on the pad is not a digit
        preprocess(dot)
    border = np.zeros((100, 100), np.uint8)
    border[:, :8] = 255  # a stroke touching the edge
    result = preprocess(border)
    assert np.isfinite(result).all() and result.max() > 0


def test_loops_count_closed_paper_wider_than_the_pen():
    """An 8's two loops are a digit's; three are a scribble's. A pinhole in a blob (JPEG, a pen's
    gap) is not a loop, nor is the lens where an 8's two circles overlap, drawn with a fine pen: a loop
    is at least the pen and a tenth of the digit across."""
    from pipeline.ink import loops
    from tests.preprocess_cases import rings

    assert loops(np.zeros((9, 9), bool)) == 0
    assert [loops(rings(centres, 16) > 0.5) for centres in ([(60, 60)], [(40, 60), (80, 60)])] == [1, 2]
    assert loops(rings([(60, 26), (60, 60), (60, 94)], 16) > 0.5) == 3
    blob = np.zeros((40, 40), bool)
    blob[5:35, 5:35] = True
    blob[20, 20] = blob[10, 11] = False
    assert loops(blob) == 0
    snowman = rings([(36, 60), (78, 60)], 24, pen=0.5) > 0.5  # two circles overlapping by 6 of 90 px
    assert loops(snowman) == 2
    assert loops(rings([(36, 60), (70, 60)], 24, pen=0.5) > 0.5) == 3  # by 14 of 82 px: chain links
    with pytest.raises(NotOneDigitError, match="more loops than a digit has"):
        preprocess((rings([(60, 26), (60, 60), (60, 94)], 16) * 255).astype(np.uint8))
    assert preprocess((rings([(40, 60), (80, 60)], 20) * 255).astype(np.uint8)).max() > 0  # an 8 is read


def test_crossings_count_the_strokes_each_row_and_column_meets():
    """A W's rows meet four strokes, a 0's two, an 8's columns four: a digit is read, a zig-zag refused."""
    from pipeline.ink import crossed, crossings
    from tests.preprocess_cases import W_POINTS, rings, stroke

    rows, columns = crossings(np.zeros((5, 5), bool))
    assert rows.size == columns.size == 0 and not crossed(np.zeros((5, 5), bool))
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6], ring[2:5, 2:5] = True, False
    rows, columns = crossings(ring)  # the box is the ring's 5x5
    assert rows.tolist() == columns.tolist() == [1, 2, 2, 2, 1]
    eight = rings([(38, 60), (82, 60)], 20) > 0.5
    assert max(crossings(eight)[0]) == 2 and max(crossings(eight)[1]) == 4 and not crossed(eight)
    w = stroke(120, 140, W_POINTS, 3) > 0.5
    assert np.mean(crossings(w)[0] == 4) > 0.5 and crossed(w) and not crossed(w.T[::-1])  # lying down: an E
    with pytest.raises(NotOneDigitError, match="zig-zag more than a digit"):
        preprocess((w * 255).astype(np.uint8))
    dashes = np.zeros((3, 12), np.uint8)
    dashes[1, ::2] = 255  # 0/255, not bool: still six runs
    assert crossings(dashes)[0].tolist() == [6]


@pytest.mark.parametrize("style, digit, seed, pen", [("standard", 9, 10, 2), ("eastern-arabic", 3, 8, 4)])
def test_digits_that_cross_a_row_four_times_are_still_read(style, digit, seed, pen):
    """A fine-pen 9 whose retraced stem leaves a sliver beside its bowl, and the Eastern Arabic three's
    three-toothed top, cross some rows four times (25 % and 23 % of them): a digit, not a zig-zag."""
    from pipeline.style_set import render, strokes

    assert preprocess(render(strokes(style, digit, seed), pen)).max() > 0


def test_the_js_twins_count_the_same_crossings_and_loops():
    """ink.js's `crossings` and `loops` against Python's on random masks, from specks to blobs with holes."""
    import subprocess

    from scipy import ndimage

    from pipeline.ink import crossings, loops
    from tests.conftest import REPO_ROOT

    rng = np.random.default_rng(0)
    masks = [np.zeros((4, 6), bool)]
    for _ in range(60):
        noise = rng.random((int(rng.integers(3, 70)), int(rng.integers(3, 70))))
        masks.append(ndimage.uniform_filter(noise, int(rng.integers(1, 6))) < rng.uniform(0.2, 0.6))
    script = (
        "import { readFileSync } from 'node:fs'; import { crossings, loops } from './web/static/ink.js';"
        "const masks = JSON.parse(readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(masks.map(({ width, height, bits }) => {"
        "  const mask = Uint8Array.from(bits); const { rows, columns } = crossings(mask, width, height);"
        "  return [Array.from(rows), Array.from(columns), loops(mask, width, height)]; })));"
    )
    cases = [{"width": m.shape[1], "height": m.shape[0], "bits": m.astype(int).ravel().tolist()} for m in masks]
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(cases),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    python = [[*(c.tolist() for c in crossings(m)), loops(m)] for m in masks]
    assert json.loads(out.stdout) == python
    assert len({counts for _, _, counts in python}) > 3  # the masks hold several numbers of loops


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((28, 28), np.nan, np.float32), "NaN or infinite"),
        (np.full((28, 28), np.inf), "NaN or infinite"),
        (np.zeros((2, 28, 28, 3)), "must be HxW"),
        (np.zeros((28, 28, 2)), "must be HxW"),
        (np.zeros((0, 28)), "empty"),
        (np.full((28, 28), 2.0), "values in 0..1"),
        (np.array([["a"]]), "must hold numbers"),
        (np.full((4, 4), -1, np.int32), "negative"),
    ],
)
def test_bad_arrays_get_a_clear_refusal(bad, message):
    with pytest.raises(PipelineError, match=message):
        preprocess(bad)


def test_png_flavours_decode_to_the_same_digit(mnist):
    drawing = big_drawing(mnist[1][0][0])
    reference = preprocess(drawing)
    rgba = np.dstack([drawing] * 3 + [np.full_like(drawing, 255)])
    transparent_ink = np.dstack([np.zeros_like(drawing)] * 3 + [drawing])  # black ink, alpha only
    sixteen_bit = drawing.astype(np.uint16) * 257
    flavours = {
        "grey": png_bytes(drawing),
        "rgba": png_bytes(rgba),
        "alpha-only ink": png_bytes(transparent_ink),
        "16-bit": png_bytes(sixteen_bit),
        "palette": (
            lambda b: (Image.open(io.BytesIO(b)).convert("P").save(buf := io.BytesIO(), "PNG"), buf.getvalue())[1]
        )(png_bytes(drawing)),
    }
    for name, blob in flavours.items():
        np.testing.assert_allclose(preprocess(read_image(blob)), reference, atol=0.02, err_msg=name)


def test_jpeg_photo_of_dark_ink_on_paper(mnist):
    paper = 230 - (big_drawing(mnist[1][0][1]).astype(np.int16) * 200 // 255)
    buffer = io.BytesIO()
    Image.fromarray(paper.astype(np.uint8)).convert("RGB").save(buffer, "JPEG", quality=90)
    result = preprocess(read_image(buffer.getvalue()))
    # measured 0.031 (JPEG's ringing shades the edges a little differently from the clean drawing)
    assert np.abs(result - preprocess(big_drawing(mnist[1][0][1]))).mean() < 0.04


def test_non_images_and_bombs_are_refused(tmp_path):
    with pytest.raises(PipelineError, match="not a readable PNG or JPEG"):
        read_image(b"definitely not an image")
    gif = io.BytesIO()
    Image.new("L", (10, 10)).save(gif, "GIF")
    with pytest.raises(PipelineError, match="GIF file; use a PNG or JPEG"):
        read_image(gif.getvalue())
    bomb = io.BytesIO()
    Image.new("1", (10000, 10000)).save(bomb, "PNG")  # 100 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(PipelineError, match="more than the 40 million allowed"):
        read_image(bomb.getvalue())
    with pytest.raises(PipelineError, match="does not exist"):
        read_image(tmp_path / "nope.png")


def test_the_node_test_fixture_is_what_python_computes_today():
    """tests/preprocess.test.mjs holds preprocess.js to these values: they must be the current
    Python recipe's (rewrite them with `python -m tests.preprocess_cases`)."""
    from tests.preprocess_cases import FIXTURE, make_cases, unpacked

    def contents(cases):  # compare the bytes, not their zlib encoding (zlib builds may differ)
        return [
            {
                key: unpacked(value) if key in ("rgba", "float32_le") and value else value
                for key, value in case.items()
            }
            for case in cases
        ]

    assert contents(json.loads(FIXTURE.read_text())) == contents(make_cases())
