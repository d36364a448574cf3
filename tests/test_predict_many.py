"""`predict` on several files and folders: one line each (JSON Lines with --json), refusals in their own
line, and exit status 1 when any input was refused."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.conftest import cli_main


def digits_folder(folder, mnist, count=4):
    """`count` MNIST test digits as PNGs (named so that sorting keeps their order), and their labels."""
    folder.mkdir()
    (_, _), (images, labels) = mnist
    for index in range(count):
        Image.fromarray(images[index]).save(folder / f"digit{index}.png")
    (folder / "notes.txt").write_text("not an image: left out of the folder's inputs")
    (folder / "nested").mkdir()  # sub-folders are not read
    return [int(label) for label in labels[:count]]


def test_a_folder_and_files_give_one_json_line_each_with_refusals(tmp_path, mnist, cnn_dir, capfd):
    labels = digits_folder(tmp_path / "photos", mnist)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(blank)
    (tmp_path / "empty").mkdir()
    code, out, err = cli_main(capfd, "predict", tmp_path / "photos", blank, tmp_path / "empty", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and err == ""
    assert [line["image"] for line in lines] == [
        *(str(tmp_path / "photos" / f"digit{i}.png") for i in range(4)),
        str(blank),
        str(tmp_path / "empty"),
    ]
    assert [line["digit"] for line in lines[:4]] == labels
    assert all(line["label"] == str(line["digit"]) and len(line["probabilities"]) == 10 for line in lines[:4])
    assert lines[4]["digit"] is None and lines[4]["reason"] == "The image is blank: there is no digit to read."
    assert lines[5]["digit"] is None and "holds no PNG or JPEG image" in lines[5]["reason"]


def test_several_images_read_one_line_each_and_exit_0_when_all_are_read(tmp_path, mnist, cnn_dir, capfd):
    labels = digits_folder(tmp_path / "photos", mnist, count=3)
    code, out, err = cli_main(capfd, "predict", tmp_path / "photos")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 3
    for index, (line, label) in enumerate(zip(lines, labels)):
        assert line.startswith(f"{tmp_path / 'photos' / f'digit{index}.png'}: {label}  (")


def test_one_refused_image_with_json_is_a_json_line_not_an_error(tmp_path, cnn_dir, capfd):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(blank)
    code, out, err = cli_main(capfd, "predict", blank, "--json")
    assert code == 1 and err == ""
    line = json.loads(out)
    assert line["digit"] is None and line["reason"].startswith("The image is blank")


def test_classify_takes_a_file_path_or_bytes_as_well_as_an_array(tmp_path, mnist, cnn_dir):
    from pipeline.preprocess import read_image
    from pipeline.runtime import Classifier

    path = tmp_path / "seven.png"
    Image.fromarray(mnist[1][0][0]).save(path)
    classifier = Classifier(cnn_dir, "litert")
    expected = classifier.classify(read_image(path)).probabilities
    for given in (path, str(path), path.read_bytes()):
        np.testing.assert_array_equal(classifier.classify(given).probabilities, expected)


def test_a_48_megapixel_phone_photo_is_read_at_a_reduced_scale(tmp_path, cnn_dir):
    """8000x6000, as phones take them now: decoded at 1/4 scale (JPEG DCT scaling), not refused."""
    from PIL import ImageDraw

    from pipeline.preprocess import JPEG_DECODE_SIDE, MAX_PIXELS, read_image
    from pipeline.runtime import Classifier

    photo = Image.new("L", (8000, 6000), 225)  # light paper
    ImageDraw.Draw(photo).line([(3000, 1500), (5000, 1500), (3600, 4500)], fill=40, width=160)  # a 7
    path = tmp_path / "phone.jpg"
    photo.save(path, quality=90)
    assert 8000 * 6000 > MAX_PIXELS  # a PNG this size is still refused before decoding
    decoded = read_image(path)
    assert decoded.shape[:2] == (1500, 2000) and max(decoded.shape[:2]) >= JPEG_DECODE_SIDE
    assert Classifier(cnn_dir, "litert").classify(decoded).digit == 7
