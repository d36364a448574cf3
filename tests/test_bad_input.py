"""Bad input to `predict` and to Classifier.predict, and threads sharing one Classifier."""

from __future__ import annotations

import io
import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import PipelineError
from pipeline.preprocess import MAX_BYTES
from pipeline.runtime import Classifier
from tests.conftest import cli_main, one_error_line, png_file

# --- Bad input to `predict` and to Classifier.predict ------------------------------------------


def tight_crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.max(axis=1)), np.flatnonzero(digit.max(axis=0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def image_flavours(digit: np.ndarray, folder: Path) -> dict[str, Path]:
    """One digit as the files people upload: every PNG mode, JPEG, a rotated phone photo."""
    big = np.kron(digit, np.ones((6, 6), np.uint8))
    paper = (255 - big).astype(np.uint8)
    files = {
        # at the digit's own size: an enlarged one whose thick strokes touch the edges can be misread
        # (docs/reading.md, limits)
        "ink touching every edge": png_file(folder / "tight.png", tight_crop(digit)),
        "16-bit": png_file(folder / "sixteen.png", big.astype(np.uint16) * 257),
        "palette": folder / "palette.png",
        "grey + alpha, ink only in alpha": folder / "la.png",
        "RGBA on a transparent background": folder / "rgba.png",
        "JPEG, dark ink on paper": folder / "paper.jpg",
        "JPEG from a phone held sideways (EXIF orientation 6)": folder / "rotated.jpg",
    }
    Image.fromarray(paper).convert("P").save(files["palette"])
    Image.fromarray(np.dstack([np.zeros_like(big), big])).save(files["grey + alpha, ink only in alpha"])
    Image.fromarray(np.dstack([np.full_like(big, 20)] * 3 + [big])).save(files["RGBA on a transparent background"])
    Image.fromarray(paper).convert("RGB").save(files["JPEG, dark ink on paper"], quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show": the sensor stored it turned left
    Image.fromarray(np.rot90(paper)).convert("RGB").save(
        files["JPEG from a phone held sideways (EXIF orientation 6)"], quality=92, exif=exif
    )
    return files


def test_every_kind_of_upload_gives_the_same_answer(first_export, tmp_path, capfd, digits):
    """Tight crops, 16-bit, palette, alpha, JPEG and rotated phone photos read as the plain PNG."""
    answered = 0
    for index in range(3):
        digit = digits.images[index]
        code, out, _ = cli_main(
            capfd,
            "predict",
            png_file(tmp_path / f"plain{index}.png", digit),
            "--model-dir",
            first_export.folder,
            "--json",
        )
        assert code == 0
        expected = json.loads(out)["digit"]
        for name, path in image_flavours(digit, tmp_path).items():
            code, out, err = cli_main(capfd, "predict", path, "--model-dir", first_export.folder, "--json")
            assert code == 0, err
            answer = json.loads(out)
            assert answer["digit"] == expected, f"{name}: read {answer['digit']}, plain PNG {expected}"
            assert abs(sum(answer["probabilities"]) - 1) < 1e-3
            answered += 1
    assert answered == 21


def test_a_single_dot_is_refused_and_a_huge_image_gets_an_answer(first_export, tmp_path, capfd):
    dot = np.zeros((280, 280), np.uint8)
    dot[100, 200] = 255
    big = np.zeros((3000, 3000), np.uint8)  # 9 Mpx, as a phone photo
    big[600:2400, 1400:1600] = 255  # a "1"
    common = ("--model-dir", str(first_export.folder), "--json")
    code, out, _ = cli_main(capfd, "predict", png_file(tmp_path / "dot.png", dot), *common)
    assert code == 1 and json.loads(out)["digit"] is None  # a tap on the pad is not a digit
    assert json.loads(out)["reason"].startswith("That is not one digit: the marks are too small to read")
    code, out, err = cli_main(capfd, "predict", png_file(tmp_path / "big.png", big), *common)
    assert code == 0, err
    assert json.loads(out)["digit"] == 1 and len(json.loads(out)["probabilities"]) == 10


def write_bytes(path: Path, blob: bytes) -> Path:
    path.write_bytes(blob)
    return path


def bad_upload(kind: str, folder: Path) -> tuple[Path, str]:
    """(file, the refusal's sentence) for each kind of file `predict` must refuse."""
    if kind == "empty file":
        return write_bytes(folder / "empty.png", b""), "is not a readable PNG or JPEG image"
    if kind == "text named .png":
        return write_bytes(folder / "notes.png", b"shopping list\n"), "is not a readable PNG or JPEG image"
    if kind == "truncated PNG":
        noise = (np.random.default_rng(0).random((200, 200)) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, "PNG")
        return (write_bytes(folder / "cut.png", buffer.getvalue()[:3000]), "is not a readable PNG or JPEG image")
    if kind == "GIF":
        Image.new("L", (28, 28)).save(folder / "digit.gif")
        return folder / "digit.gif", "is a GIF file; use a PNG or JPEG."
    if kind == "a folder":
        (folder / "dir.png").mkdir()
        return folder / "dir.png", "holds no PNG or JPEG image."  # a folder is read as its images
    if kind == "over the size limit":
        with open(folder / "huge.png", "wb") as handle:
            handle.truncate(MAX_BYTES + 1)
        return folder / "huge.png", f"is larger than {MAX_BYTES // 2**20} MiB."
    if kind == "decompression bomb (100 Mpx in a few KB)":
        Image.new("1", (10000, 10000)).save(folder / "bomb.png")
        assert (folder / "bomb.png").stat().st_size < 100_000
        return folder / "bomb.png", "is 10000x10000 pixels, more than the 40 million allowed."
    if kind == "blank photo of paper":
        return png_file(
            folder / "paper.png", np.full((400, 300), 231, np.uint8)
        ), "The image is blank: there is no digit to read."
    raise KeyError(kind)


BAD_UPLOADS = [
    "empty file",
    "text named .png",
    "truncated PNG",
    "GIF",
    "a folder",
    "over the size limit",
    "decompression bomb (100 Mpx in a few KB)",
    "blank photo of paper",
]


@pytest.mark.parametrize("kind", BAD_UPLOADS)
def test_bad_uploads_get_one_sentence(first_export, tmp_path, capfd, kind):
    path, expected = bad_upload(kind, tmp_path)
    code, out, err = cli_main(capfd, "predict", path, "--model-dir", first_export.folder)
    assert code == 1 and out == ""
    assert expected in one_error_line(err)  # one line: no Pillow warning, no traceback


@pytest.fixture(scope="module")
def classifiers(first_export):
    folder = first_export.folder
    return {
        "litert float32": Classifier(folder, "litert"),
        "litert int8": Classifier(folder, "litert", "int8"),
        "keras": Classifier(folder, "keras"),
    }


BAD_BATCHES = {
    "NaN": (np.full((2, 28, 28), np.nan, np.float32), "NaN or infinite"),
    "inf": (np.full((1, 28, 28), np.inf), "NaN or infinite"),
    "one image without the batch axis": (np.zeros((28, 28), np.float32), "shape [N, 28, 28], got [28, 28]"),
    "channel axis": (np.zeros((1, 28, 28, 1), np.float32), "got [1, 28, 28, 1]"),
    "27 rows": (np.zeros((1, 27, 28), np.float32), "got [1, 27, 28]"),
    "strings": (np.full((1, 28, 28), "0"), "real numbers, got <U1"),
    "objects": (np.full((1, 28, 28), None), "real numbers, got object"),
    "complex": (np.zeros((1, 28, 28), np.complex64), "real numbers, got complex64"),
    "ragged nested lists": ([[0.0] * 28] * 27 + [[0.0] * 27], "shape [N, 28, 28]"),
    "0..255 pixels": (np.full((1, 28, 28), 255.0, np.float32), "divide 8-bit pixels by 255"),
    "negative values": (np.full((1, 28, 28), -0.5), "Expected values in 0..1"),
}


@pytest.mark.parametrize("runtime", ["litert float32", "litert int8", "keras"])
@pytest.mark.parametrize("case", BAD_BATCHES)
def test_classifier_predict_refuses_bad_batches(classifiers, runtime, case):
    batch, expected = BAD_BATCHES[case]
    with pytest.raises(PipelineError, match=re.escape(expected)):
        classifiers[runtime].predict(batch)


@pytest.mark.parametrize("runtime", ["litert float32", "litert int8", "keras"])
def test_classifier_predict_edge_batches(classifiers, digits, runtime):
    classifier = classifiers[runtime]
    empty = classifier.predict(np.zeros((0, 28, 28), np.float32))
    assert empty.shape == (0, 10) and empty.dtype == np.float32
    reference = classifier.predict(digits.inputs[:8])
    for same in (digits.inputs[:8].astype(np.float64), digits.inputs[:8].tolist()):
        np.testing.assert_array_equal(classifier.predict(same), reference)
    binary = digits.images[:8] > 127
    np.testing.assert_array_equal(classifier.predict(binary), classifier.predict(binary.astype(np.float32)))


# --- Threads sharing one Classifier ------------------------------------------------------------


def test_threads_sharing_classifiers_get_single_thread_answers(classifiers, digits):
    """Keras, LiteRT float32 and int8 at once from 8 threads, batch sizes changing under LiteRT's
    lock, and classify() on raw images: every answer equals the one-thread answer, bit for bit."""
    sizes = [1, 3, 1, 16, 7, 1, 32, 2]
    jobs = [
        (name, start, sizes[(start + i) % len(sizes)])
        for i, name in enumerate(classifiers)
        for start in range(0, 160, 8)
    ]
    expected = {job: classifiers[job[0]].predict(digits.inputs[job[1] : job[1] + job[2]]) for job in jobs}
    raw = [(name, index) for name in classifiers for index in range(0, 40, 4)]
    expected_raw = {job: classifiers[job[0]].classify(digits.images[job[1]]).probabilities for job in raw}

    work = [("predict", job) for job in jobs] * 3 + [("classify", job) for job in raw] * 3
    random.Random(0).shuffle(work)

    def do(item):
        kind, job = item
        if kind == "predict":
            return classifiers[job[0]].predict(digits.inputs[job[1] : job[1] + job[2]])
        return classifiers[job[0]].classify(digits.images[job[1]]).probabilities

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(do, work))
    for (kind, job), result in zip(work, results):
        np.testing.assert_array_equal(
            result, (expected if kind == "predict" else expected_raw)[job], err_msg=f"{kind} {job}"
        )
    assert len(results) == 3 * (len(jobs) + len(raw)) == 270
