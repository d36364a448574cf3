"""tf.distribute on this CPU: mirrored over two logical devices, and two workers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

TRAIN = ["-m", "pipeline", "train", "--model", "article", "--epochs", "2", "--train-subset", "6000"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accuracy_of(path, mnist) -> float:
    """Accuracy of a saved model on the first 3,000 test images."""
    from pipeline.formats.keras_format import load as load_keras_model

    images, labels = mnist[1]
    probabilities = np.asarray(load_keras_model(path)(images[:3000] / 255.0))
    return float(np.mean(probabilities.argmax(axis=1) == labels[:3000]))


@pytest.fixture(scope="module")
def single_device(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("single")
    subprocess.run(
        [sys.executable, *TRAIN, "--out", out], cwd=REPO_ROOT, check=True, capture_output=True, timeout=600
    )
    return accuracy_of(out / "article" / "model.keras", mnist)


def test_mirrored_over_two_cpu_devices_matches_one_device(tmp_path, mnist, single_device):
    result = subprocess.run(
        [sys.executable, *TRAIN, "--strategy", "mirrored", "--cpu-devices", "2", "--out", tmp_path],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mirrored over 2 replicas" in result.stdout
    accuracy = accuracy_of(tmp_path / "article" / "model.keras", mnist)
    assert abs(accuracy - single_device) < 0.03, (accuracy, single_device)


def test_two_workers_on_localhost_match_one_device(tmp_path, mnist, single_device):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, *TRAIN, "--strategy", "multi-worker", "--out", tmp_path / f"w{index}"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-2000:]
        assert "multi-worker over 2 replicas" in stdout
    assert (tmp_path / "w0" / "article" / "model.keras").is_file()  # the chief writes
    assert not (tmp_path / "w1" / "article").exists()  # the other does not
    accuracy = accuracy_of(tmp_path / "w0" / "article" / "model.keras", mnist)
    assert abs(accuracy - single_device) < 0.03, (accuracy, single_device)


def test_multi_worker_without_tf_config_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, *TRAIN, "--strategy", "multi-worker", "--out", tmp_path],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "needs TF_CONFIG" in result.stderr
