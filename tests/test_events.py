"""The event stream of `run --events`: one JSON object per line, readable while it is written."""

from __future__ import annotations

import json

import pytest

from pipeline.events import EventLog, read_events


def test_stages_are_logged_with_their_time_and_a_reader_skips_a_half_written_line(tmp_path):
    path = tmp_path / "events.jsonl"
    events = EventLog(path)
    with events.stage("article", "train") as timing:
        assert [e["event"] for e in read_events(path)] == ["start"]  # flushed at once
    events.emit("summary", models=[{"model": "article"}])
    events.close()
    logged = read_events(path)
    assert [(e["event"], e.get("stage")) for e in logged] == [
        ("start", "train"),
        ("end", "train"),
        ("summary", None),
    ]
    assert logged[1]["seconds"] == round(timing["seconds"], 3) >= 0
    assert all(isinstance(e["time"], float) for e in logged)
    with open(path, "a") as handle:
        handle.write('{"event": "sta')  # a writer caught mid-line
    assert read_events(path) == logged


def test_a_stage_that_fails_logs_no_end(tmp_path):
    path = tmp_path / "events.jsonl"
    events = EventLog(path)
    with pytest.raises(RuntimeError), events.stage("cnn", "export"):
        raise RuntimeError("verification failed")
    events.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["start"]


def test_without_a_file_nothing_is_written_and_a_missing_file_reads_empty(tmp_path):
    EventLog(None).emit("start", model="cnn")
    assert read_events(tmp_path / "none.jsonl") == []
