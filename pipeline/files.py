"""File helpers used across the pipeline: sha256 digests, atomic JSON writes, paths that must stay
inside a folder. Standard library only, so every path (LiteRT serving included) can import it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipeline.errors import PipelineError


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data) -> None:
    """Write beside `path` under a pid-named temporary name, then rename: readers never see half a
    file, and publish.clean_debris recognises the leftovers of a killed writer by that name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(json.dumps(data, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())  # a power cut after the rename must not leave an empty file
    os.replace(tmp, path)


def inside_folder(relative: str) -> bool:
    """A manifest path must stay inside the model folder: relative, no '..' (the manifest is data)."""
    path = Path(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts


def resolve_inside(folder: Path, relative: str) -> Path:
    """folder/relative resolved, refusing paths that climb out of folder (links included)."""
    path = (Path(folder) / str(relative)).resolve()
    if not path.is_relative_to(Path(folder).resolve()):
        raise PipelineError(f"Path {relative!r} in {folder} points outside it.")
    return path
