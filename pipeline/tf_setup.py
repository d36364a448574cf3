"""Import TensorFlow quietly and say which device it will use.

TensorFlow prints a wall of CUDA/oneDNN notices at import; a user-facing CLI keeps its own output
readable, so they are hidden unless --verbose. Only modules that need TensorFlow call this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading

_verbose = False


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = verbose


def quiet_environment() -> None:
    """Environment variables that must be set before tensorflow / tensorflowjs are imported."""
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # TF-DF imports IPython otherwise
    if not _verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def silenced(*descriptors: int):
    """Point file descriptors (default: stderr) at /dev/null, unless --verbose.

    TensorFlow's C++ code (import, TFLite converter) writes straight to them, past Python's logging.
    """
    descriptors = descriptors or (2,)
    if _verbose:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in descriptors]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in descriptors:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip(descriptors, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


@contextlib.contextmanager
def native_output_silenced():
    """Drop what C++ code writes to stderr (XLA's start-up lines at the first compile) while
    Python's own sys.stderr (warnings, errors) still reaches the terminal; unless --verbose."""
    if _verbose:
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace")
    try:
        with silenced(2):
            yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr


_redirecting = threading.Lock()  # one redirection of a descriptor at a time, or one restores the other's


@contextlib.contextmanager
def native_notices_dropped(*notices: str, fd: int = 2):
    """Drop the lines C++ code writes to `fd` (default: stderr) that are exactly one of `notices`, and
    pass every other line on when the block ends (errors included); unless --verbose.

    For a library that announces itself on every start (LiteRT's XNNPACK line) but may also have
    something real to say: silenced() would hide both.
    """
    if _verbose:
        yield
        return
    stream = {1: sys.stdout, 2: sys.stderr}.get(fd)  # Python's buffer over the same descriptor
    with _redirecting, tempfile.TemporaryFile() as capture:
        if stream:
            stream.flush()
        saved = os.dup(fd)
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            try:
                if stream:
                    stream.flush()
            finally:
                os.dup2(saved, fd)
                os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().splitlines(keepends=True)
                if line.rstrip(b"\r\n").decode(errors="replace") not in notices
            ]
            if kept:
                os.write(fd, b"".join(kept))


def import_keras():
    """Keras, imported quietly: under the TensorFlow backend `import keras` imports TensorFlow."""
    quiet_environment()
    with silenced():
        import keras

    if keras.backend.backend() == "tensorflow":
        import_tensorflow()
    return keras


def import_tensorflow():
    quiet_environment()
    with silenced():
        import tensorflow as tf

    if not _verbose:
        tf.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:
            pass
    return tf


def describe_device() -> str:
    """'GPU: <name>' for the first visible GPU (Keras trains there without being told), else 'CPU'."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores)"
    details = tf.config.experimental.get_device_details(gpus[0])
    names = details.get("device_name", gpus[0].name)
    return f"GPU: {names}" + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
