"""Regenerate the hashed install locks: `make lock` (needs PyPI; a minute or two).

- requirements.lock: one pip resolve of requirements.in (`pip install --dry-run --report`), every
  package pinned with the sha256 of the file pip picks for this platform, installed with
  `pip install --require-hashes`. Every version the current lock pins stays as it is (they are
  passed as constraints), so adding a package to requirements.in adds it and its new dependencies
  without moving anything else; to move a version, edit or delete its line in requirements.lock first.
- requirements-nodeps.lock: the packages of requirements-nodeps.in, whose declared dependencies
  conflict with the lock but which work without them (tflite-support 0.4.4 declares protobuf<4 and
  works with protobuf 5 when its submodules are imported directly); installed with `--no-deps
  --require-hashes`.

The hashes are those of PyPI's files for the platform that runs this (Linux x86-64, CPython 3.11:
the project's machine and CI); PyPI only, whatever mirrors pip is configured with here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
PYPI = {"PIP_INDEX_URL": "https://pypi.org/simple", "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": ""}
HEADER = (
    "# Written by `make lock` (tools/lock.py) from {source}; do not edit by hand.\n"
    "# Installed with `pip install {flags}-r {target}`.\n"
)


def current_pins(lock: Path) -> list[str]:
    pins = [f"{m[1]}=={m[2]}" for line in lock.read_text().splitlines() if (m := PIN.match(line))]
    known = {pin.split("==")[0].lower() for pin in pins}  # setuptools stays the venv's
    return pins + [f"setuptools=={metadata.version('setuptools')}"] * ("setuptools" not in known)


def resolve(requirements: Path, folder: Path, *extra: str) -> list[dict]:
    """What pip would install from `requirements` into an empty environment, with the files' hashes."""
    report = folder / f"{requirements.name}.report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--report",
            str(report),
            *extra,
            "-r",
            str(requirements),
        ],
        cwd=ROOT,
        check=True,
        env={**os.environ, **PYPI},
    )
    return json.loads(report.read_text())["install"]


def lock_lines(installed: list[dict]) -> list[str]:
    lines = []
    for item in sorted(installed, key=lambda i: i["metadata"]["name"].lower()):
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            sys.exit(f"pip reported no sha256 for {item['metadata']['name']} ({item['download_info']['url']})")
        lines.append(
            f"{item['metadata']['name']}=={item['metadata']['version']} \\\n    --hash=sha256:{hashes['sha256']}"
        )
    return lines


def write(target: str, source: str, flags: str, lines: list[str]) -> None:
    text = HEADER.format(source=source, flags=flags, target=target) + "\n".join(lines) + "\n"
    (ROOT / target).write_text(text)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lock-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(current_pins(ROOT / "requirements.lock")) + "\n")
        main_lock = lock_lines(resolve(ROOT / "requirements.in", Path(tmp), "-c", str(constraints)))
        nodeps = lock_lines(resolve(ROOT / "requirements-nodeps.in", Path(tmp), "--no-deps"))
    write("requirements.lock", "requirements.in", "--require-hashes ", main_lock)
    write("requirements-nodeps.lock", "requirements-nodeps.in", "--no-deps --require-hashes ", nodeps)
    print(f"Wrote requirements.lock ({len(main_lock)} packages) and requirements-nodeps.lock ({len(nodeps)}).")


if __name__ == "__main__":
    main()
