"""The command line as a user meets it: help, refusals, and `predict` on real digits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT, cli


def write_png(path, array):
    Image.fromarray(array).save(path)
    return path


def test_help_lists_every_command_without_loading_tensorflow():
    result = cli("--help")
    assert result.returncode == 0
    listed = [
        line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line[4] != " "
    ]  # not a wrapped help line
    assert listed == ["train", "evaluate", "export", "run", "predict", "site", "personalize", "bench"]
    code = (
        "import sys; from pipeline.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
        "print('tensorflow' in sys.modules)"
    )
    check = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert check.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "article", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
        (["train", "--model", "article", "--epochs", "0"], "must be at least 1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_options_are_refused(args, message):
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr


def test_errors_are_one_sentence_not_a_traceback(tmp_path):
    result = cli("predict", tmp_path / "missing.png")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: Image file {tmp_path / 'missing.png'} does not exist."
    result = cli("evaluate", "--model", "article", "--build-dir", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "No trained model at" in result.stderr and "python -m pipeline train" in result.stderr


@pytest.mark.slow  # ten `predict` processes: ~25 s
def test_predict_reads_real_test_digits(tmp_path, mnist, cnn_dir):
    images, labels = mnist[1]
    right = 0
    for index in range(12):
        digit = images[index]
        if index % 2:  # dark ink on light paper, enlarged: the polarity and size a photo has
            digit = 255 - np.kron(digit, np.ones((5, 5), np.uint8))
        path = write_png(tmp_path / f"digit{index}.png", digit)
        runtime = "keras" if index == 0 else "litert"
        result = cli("predict", path, "--json", "--runtime", runtime)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert len(answer["probabilities"]) == 10 and abs(sum(answer["probabilities"]) - 1) < 1e-3
        right += answer["digit"] == labels[index]
    assert right == 12


def test_predict_human_output_and_model_dir(tmp_path, mnist, cnn_dir):
    path = write_png(tmp_path / "seven.png", mnist[1][0][0])  # the first test digit is a 7
    copy = shutil.copytree(cnn_dir, tmp_path / "model-copy")
    result = cli("predict", path, "--model-dir", copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: 7 ")
    assert len(result.stdout.strip().splitlines()) == 11


def test_predict_refuses_a_damaged_model_with_a_reason(tmp_path, mnist, cnn_dir):
    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    copy = shutil.copytree(cnn_dir, tmp_path / "cnn")
    tflite = copy / "tflite" / "cnn-float32.tflite"
    tflite.write_bytes(tflite.read_bytes()[:1000])  # truncated, as by an interrupted copy
    result = cli("predict", path, "--model-dir", copy)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cnn-float32.tflite is damaged: its sha256 does not match the manifest" in result.stderr


def test_predict_blank_image_is_a_clear_answer(tmp_path):
    path = write_png(tmp_path / "blank.png", np.zeros((64, 64), np.uint8))
    result = cli("predict", path)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: The image is blank: there is no digit to read."


def test_predict_litert_path_does_not_import_tensorflow(tmp_path, mnist, cnn_dir):
    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    code = (
        "import sys; from pipeline.cli import main; main(['predict', sys.argv[1], '--json']); "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_predict_variant_chooses_the_artifact(tmp_path, mnist, cnn_dir):
    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    for variant in ("float16", "int8"):
        result = cli("predict", path, "--json", "--variant", variant)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert (answer["digit"], answer["runtime"], answer["variant"]) == (7, "litert", variant)
        assert answer["signature"] in ("not signed", "signed, not verified (no public key: set $MNIST_PUBLIC_KEY)")
    result = cli("predict", path, "--runtime", "keras", "--variant", "int8")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: The keras runtime has no 'int8' variant; choose one of: float32.")


@pytest.mark.slow  # trains and evaluates in subprocesses: ~35 s
def test_data_dir_on_every_command_quiet_training_and_verbose_after_the_command(tmp_path, mnist):
    """No cache and no npm: only --data-dir can feed train and evaluate. Off a terminal, training
    prints one plain line per epoch, and none of TensorFlow's or XLA's C++ start-up lines."""
    import os

    from tests.conftest import mnist_arrays, write_idx_folder

    data = tmp_path / "idx"
    data.mkdir()
    write_idx_folder(data, mnist_arrays(mnist))
    env = {**os.environ, "MNIST_CACHE_DIR": str(tmp_path / "empty-cache"), "PATH": "/nonexistent"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pipeline", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    trained = run(
        "train",
        "--model",
        "article",
        "--epochs",
        "2",
        "--train-subset",
        "3000",
        "--out",
        tmp_path / "build",
        "--data-dir",
        data,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    epoch_lines = [line for line in trained.stdout.splitlines() if "val_accuracy" in line]
    assert len(epoch_lines) == 2 and "\r" not in trained.stdout and "\x1b" not in trained.stdout
    for noise in ("absl::InitializeLog", "XLA service", "cuda_dnn", "computation_placer", "oneDNN"):
        assert noise not in trained.stderr, trained.stderr[-2000:]

    evaluated = run("evaluate", "--build-dir", tmp_path / "build", "--data-dir", data, "--verbose")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    without = run("evaluate", "--build-dir", tmp_path / "build")
    assert without.returncode == 1 and "npm" in without.stderr


def test_help_names_every_export_format():
    description = " ".join(cli("--help").stdout.split())  # argparse wraps the description
    assert "Keras, SavedModel, TF.js, TFLite and ONNX" in description


XNNPACK_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def test_predict_hides_litert_start_up_notice_unless_verbose(tmp_path, mnist, cnn_dir):
    """LiteRT's C++ side announces its XNNPACK delegate on stderr at the first allocation: hidden, as
    TensorFlow's start-up lines are, yet still there with --verbose (the delegate itself is kept)."""
    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    result = cli("predict", path, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["digit"] == 7, result.stderr
    assert result.stderr == ""
    verbose = cli("predict", path, "--json", "--verbose")
    assert verbose.returncode == 0 and XNNPACK_NOTICE in verbose.stderr


def test_quiet_native_output_drops_only_the_notices(capfd):
    """What C++ code writes to the descriptor passes on, all but the exact notices named."""
    import os

    from pipeline import tf_setup

    capfd.readouterr()
    with tf_setup.native_notices_dropped(XNNPACK_NOTICE):
        os.write(2, f"{XNNPACK_NOTICE}\nERROR: a real problem.\n".encode())
        print("python's own stderr", file=sys.stderr)
    assert sorted(capfd.readouterr().err.splitlines()) == ["ERROR: a real problem.", "python's own stderr"]


def test_predict_tflite_that_matches_its_hash_but_will_not_load(tmp_path, mnist, cnn_dir):
    """The quieting keeps LiteRT's own refusal: one sentence that names the file."""
    from pipeline.files import sha256_file
    from tests.conftest import artifact_entry, edit_manifest, one_error_line

    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    copy = shutil.copytree(cnn_dir, tmp_path / "cnn")
    tflite = copy / "tflite" / "cnn-float32.tflite"
    tflite.write_bytes(tflite.read_bytes()[:3000])

    def rehash(manifest):
        artifact = artifact_entry(manifest, "tflite-float32")
        for entry in (artifact, *artifact["files"]):
            entry["bytes"], entry["sha256"] = tflite.stat().st_size, sha256_file(tflite)

    edit_manifest(copy, rehash)
    (copy / "model.sig").unlink(missing_ok=True)  # the manifest changed: the old signature would not match
    result = cli("predict", path, "--model-dir", copy)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cnn-float32.tflite could not be loaded by litert" in one_error_line(result.stderr)
    assert "not a valid Flatbuffer" in result.stderr


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path, mnist, cnn_dir, unbuffered):
    """`predict x.png | head -c1`: the reader goes before the output is written. Not an error: exit
    status 0, nothing on stderr, whether the print or the flush at exit meets the closed pipe."""
    import os

    path = write_png(tmp_path / "seven.png", mnist[1][0][0])
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "predict", str(path)],
            cwd=REPO_ROOT,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_broken_pipe_other_than_stdout_is_an_error(monkeypatch, capfd, tmp_path):
    """Only a closed stdout is quiet: a child process's pipe breaking is reported."""
    from pipeline import cli as cli_module
    from tests.conftest import cli_main, one_error_line

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_module, "cmd_site", broken)
    code, _, err = cli_main(capfd, "site", "--out", tmp_path / "site")
    assert code == 1 and one_error_line(err) == "Broken pipe."
