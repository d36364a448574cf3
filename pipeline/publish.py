"""Atomic publishing: build in a staging folder beside the target, then swap it in whole.

A run that fails or is killed at any moment leaves the previous export as it was: until the swap,
nothing under the target changes; the swap itself is one atomic rename (Linux: renameat2 with
RENAME_EXCHANGE; elsewhere two renames, with the old copy restored by the next run if a kill lands
between them). Staging folders of killed runs are removed by the next run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.files import write_json_atomic

STAGING = ".staging-"
OLD = ".old-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_writable(out_dir: Path) -> None:
    """Fail at once, not after training, if `out_dir` cannot be created or written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as exc:
        raise PipelineError(f"Cannot write to {out_dir} ({exc.strerror}).") from exc


def staging_dir(out_dir: Path, name: str) -> Path:
    """A fresh folder beside `out_dir/name`, on the same file system so the final rename is atomic."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        clean_debris(out_dir, name)
        # the owner's pid is in the name, so no other run can take the folder for a dead one's
        staging = Path(tempfile.mkdtemp(prefix=f".{name}{STAGING}{os.getpid()}-", dir=out_dir))
        staging.chmod(0o755)  # mkdtemp makes it private; the published folder must be readable
        return staging
    except OSError as exc:
        raise PipelineError(f"Cannot write to {out_dir} ({exc.strerror}).") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(out_dir: Path, name: str) -> None:
    """Restore a previous export a kill left aside, and drop staging folders of dead runs."""
    target = out_dir / name
    for path in sorted(out_dir.glob(f".{name}{OLD}*")):
        if not target.exists():
            os.rename(path, target)  # killed between the two renames of the fallback swap
        else:
            shutil.rmtree(path, ignore_errors=True)
    for path in out_dir.glob(f".{name}{STAGING}*"):
        owner = path.name[len(f".{name}{STAGING}") :].split("-")[0]
        if not owner.isdigit() or not _pid_alive(int(owner)) or int(owner) == os.getpid():
            shutil.rmtree(path, ignore_errors=True)
    for path in out_dir.glob(".index.json.*.tmp"):  # write_json_atomic killed before its rename
        pid = path.name.split(".")[3]
        if not pid.isdigit() or not _pid_alive(int(pid)) or int(pid) == os.getpid():
            path.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where that is not available.

    Any other failure (no space, read-only file system...) raises OSError: a fallback would fail too.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None or not hasattr(ctypes.CDLL(libc_name), "renameat2"):
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    result = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # kernel or file system lacks it
        return False
    raise OSError(code, os.strerror(code), str(b))


def fsync_tree(folder: Path) -> None:
    """Flush every file of `folder` to disk before it becomes the published copy."""
    for path in sorted(folder.rglob("*"), reverse=True):
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        descriptor = os.open(path, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def swap_in(staging: Path, target: Path) -> None:
    """Make `staging` the new `target`; the previous `target` is removed only afterwards.

    A failure (disk full, read-only...) raises PipelineError with the previous `target` in place.
    """
    try:
        fsync_tree(staging)
        if not target.exists():
            os.rename(staging, target)
            return
        if _exchange(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # holds the previous export; else the next run
            return
        aside = target.with_name(f".{target.name}{OLD}{os.getpid()}")
        os.rename(target, aside)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(aside, target)  # put the previous export back at once
            raise
        shutil.rmtree(aside, ignore_errors=True)
    except OSError as exc:
        raise PipelineError(
            f"Could not publish {target} ({exc.strerror or exc}); the previous export is unchanged."
        ) from exc


def update_index(out_dir: Path, default: str = "cnn") -> None:
    """index.json lists the published models, so pages and apps need no hard-coded names."""
    from pipeline.manifest import FILE_NAME, INDEX, index_document

    models = sorted(
        p.name
        for p in Path(out_dir).iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / FILE_NAME).is_file()
    )
    try:
        write_json_atomic(Path(out_dir) / INDEX, index_document(models, default))
    except OSError as exc:
        raise PipelineError(
            f"The models were published, but {Path(out_dir) / INDEX} could not be updated ({exc.strerror or exc})."
        ) from exc
