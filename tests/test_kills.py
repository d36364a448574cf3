"""Runs killed with SIGKILL at every stage of a real `python -m pipeline run`: the previous export
stays whole until the atomic swap, the new one is whole after it, the next run cleans up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from pipeline.events import read_events
from pipeline.runtime import Classifier
from tests.conftest import ENV, REPO_ROOT, RUN_ARGS, check_whole_export, debris, tree_digest

# --- Runs killed with SIGKILL ------------------------------------------------------------------


class WatchedRun:
    """`python -m pipeline run` whose event stream (`--events`) is followed as it comes, so the test
    can stop or kill it at a chosen moment. SIGSTOP freezes it where it is: what the test then sees
    on disk is exactly what a SIGKILL sent at that instant leaves behind."""

    def __init__(self, out: Path, build: Path, *extra):
        self.out = out
        self.events_path = build.parent / f"events-{time.monotonic_ns()}.jsonl"
        self.process = subprocess.Popen(
            [sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build, "--events", self.events_path, *extra],
            cwd=REPO_ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            self.chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def reached(self, event: str, **fields) -> bool:
        """Whether the run's event stream (`run --events`) holds such an event yet."""
        return any(
            e["event"] == event and all(e.get(k) == v for k, v in fields.items())
            for e in read_events(self.events_path)
        )

    def wait_for(self, condition, what: str, timeout: float = 600, poll: float = 0.005):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the run never reached {what}:\n{self.output[-3000:]}")
            time.sleep(poll)

    def stop(self):
        """SIGSTOP, and wait until the process really is stopped."""
        os.kill(self.process.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{self.process.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] not in "tT":
            time.sleep(0.0001)

    def step(self, seconds: float = 0.0003):
        """Let a stopped process run for about `seconds`, then stop it again."""
        os.kill(self.process.pid, signal.SIGCONT)
        time.sleep(seconds)
        self.stop()

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process dies once continued
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)

    def staging(self) -> list[Path]:
        return sorted(self.out.glob(".article.staging-*"))


def frozen_after_verification(out: Path, build: Path, *extra) -> WatchedRun:
    """A run stopped (SIGSTOP) as soon as every artifact is verified, near the swap."""
    run = WatchedRun(out, build, *extra)
    run.wait_for(lambda: run.reached("verified", passed=True), "the end of verification", poll=0.001)
    run.stop()
    return run


def child_processes(pid: int) -> list[tuple[int, str]]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            if int(fields[1].split()[1]) == pid:
                children.append((int(stat.parent.name), name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def test_runs_killed_at_every_stage_leave_a_whole_export(first_export, tmp_path, digits, signing_keys):
    """SIGKILL in training, in TF.js conversion while Node verifies, in TFLite conversion, just before
    the staging folder is signed, while it is being signed and just after the atomic exchange. After each
    kill the folder holds one whole export that loads; a last, signed run succeeds, leaves nothing
    behind, and its signature verifies."""
    out, build = tmp_path / "exported", tmp_path / "build"
    shutil.copytree(first_export.out, out)
    shutil.copytree(first_export.build, build)
    folder = out / "article"
    previous = tree_digest(folder)
    previous_answers = Classifier(folder, "litert").predict(digits.inputs)
    landed = []

    def assert_previous_export_intact():
        assert tree_digest(folder) == previous
        np.testing.assert_array_equal(check_whole_export(folder, digits.inputs), previous_answers)

    # 1. during training
    run = WatchedRun(out, build)
    run.wait_for(lambda: run.reached("start", stage="train"), "training")
    time.sleep(0.5)
    run.kill()
    assert not run.reached("start", stage="evaluate")
    landed.append("training")
    assert_previous_export_intact()

    # 2. while the TF.js verifier (a Node child of the run) predicts the test set
    run = WatchedRun(out, build)
    run.wait_for(lambda: run.reached("artifact", artifact="savedmodel"), "the TF.js export")
    run.wait_for(
        lambda: any(name == "node" for _, name in child_processes(run.process.pid)),
        "TF.js verification in Node",
        poll=0.01,
    )
    node = [pid for pid, name in child_processes(run.process.pid) if name == "node"]
    run.kill()
    assert not run.reached("artifact", artifact="tflite-float32") and run.staging()  # killed mid-export
    landed.append("TF.js conversion/verification (Node child running)")
    assert_previous_export_intact()
    deadline = time.monotonic() + 60
    while not all(gone(pid) for pid in node) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in node), "the orphaned Node verifier kept running"

    # 3. during a TFLite conversion
    run = WatchedRun(out, build)
    run.wait_for(lambda: run.reached("artifact", artifact="tflite-float32"), "the TFLite export", poll=0.001)
    run.kill()
    assert not run.reached("artifact", artifact="tflite-float16")
    landed.append("TFLite conversion (float16)")
    assert_previous_export_intact()

    # 4-6. one signed run, frozen after verification (SIGSTOP) and let on in small steps: what the
    #      folder holds at each moment is what a SIGKILL sent then would leave behind
    (private, public), _ = signing_keys
    run = frozen_after_verification(out, build, "--signing-key", private)
    try:
        # this run cleaned the staging folders of runs 2 and 3 when it made its own
        assert len(run.staging()) == 1, run.staging()
        staging = run.staging()[0]
        # 4. the staging copy is complete (manifest written), not yet signed
        while not (staging / "manifest.json").is_file():
            run.step()
        assert_previous_export_intact()
        landed.append("staging complete (manifest written), before signing")
        # 5. the signature is being written (or has just been) in the staging folder
        while not (staging / "model.sig").exists():
            run.step(0.001)  # signing starts ~2 s of CPU after verification (the library's import)
        assert_previous_export_intact()
        assert not (folder / "model.sig").exists()
        landed.append("signing the staging folder")
        # 6. just after the exchange: the new export is in place, the old one not yet deleted
        old_manifest = (folder / "manifest.json").read_bytes()
        while (folder / "manifest.json").read_bytes() == old_manifest:
            run.step()
        after_exchange = [p for p in run.staging() if p.exists()]
    finally:
        run.kill()
    landed.append(
        "swap: just after the exchange, "
        + ("old copy not yet deleted" if after_exchange else "old copy already deleted")
    )
    assert tree_digest(folder) != previous  # the killed run's export, whole and signed
    check_whole_export(folder, digits.inputs)
    assert Classifier(folder, "onnx", public_key=public).signature.startswith("signed and verified")

    # the next run, signed, succeeds and leaves nothing behind
    result = subprocess.run(
        [sys.executable, *RUN_ARGS, "--out", out, "--build-dir", build, "--signing-key", private],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert debris(out, build) == []
    assert sorted(p.name for p in out.iterdir()) == ["article", "index.json"]
    check_whole_export(folder, digits.inputs)
    assert Classifier(folder, "onnx", public_key=public).signature.startswith("signed and verified")
    print("\nkills survived:", *landed, sep="\n  ")
