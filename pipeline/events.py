"""A machine-readable account of a run: one JSON object per line, written as things happen.

`python -m pipeline run --events FILE` appends to FILE (JSON Lines), flushed line by line, so a
script, a test or the benchmark can follow a run without parsing the padded text meant for people:

    {"event": "start", "model": "cnn", "stage": "train", "time": 1764370000.1}
    {"event": "end", "model": "cnn", "stage": "train", "seconds": 401.2, "time": ...}
    {"event": "artifact", "model": "cnn", "artifact": "tflite-int8", "export_seconds": 3.1, "passed": true, ...}
    {"event": "verified", "model": "cnn", "passed": true, "time": ...}
    {"event": "summary", "models": [{"model": "cnn", "test_accuracy": 0.9957, ...}], "time": ...}

Stages are train, evaluate and export; "verified" comes once every artifact is verified, before
anything is published. Without a file nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path


class EventLog:
    def __init__(self, path: str | Path | None = None):
        self._handle = open(path, "a", buffering=1) if path else None  # closed by close()

    def emit(self, event: str, **fields) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps({"event": event, **fields, "time": time.time()}) + "\n")

    @contextlib.contextmanager
    def stage(self, model: str, stage: str):
        """Emit start, run the block, emit end with its wall time; yields a dict whose 'seconds' is
        filled in when the block ends."""
        timing: dict[str, float] = {}
        self.emit("start", model=model, stage=stage)
        started = time.perf_counter()
        yield timing
        timing["seconds"] = time.perf_counter() - started
        self.emit("end", model=model, stage=stage, seconds=round(timing["seconds"], 3))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_events(path: str | Path) -> list[dict]:
    """The complete lines of an event file so far (a line still being written is left out)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
