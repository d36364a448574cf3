"""Regenerate the hashed install locks: `make lock` (needs PyPI; ~2 minutes).

- requirements.lock: one pip-tools resolve of requirements.in, every package pinned with the sha256
  of each of its release files, installed with `pip install --require-hashes`. Every version the
  current lock pins stays as it is (they are passed as constraints), so adding a package to
  requirements.in adds it and its new dependencies without moving anything else; to move a version,
  edit or delete its line in requirements.lock first.
- requirements-nodeps.lock: the packages of requirements-nodeps.in, whose declared dependencies
  conflict with the lock but which work without them (tflite-support 0.4.4 declares protobuf<4 and
  works with protobuf 5 when its submodules are imported directly); installed with `--no-deps
  --require-hashes`. Their hashes are those of the wheels pip picks on this platform.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def current_pins(lock: Path) -> list[str]:
    pins = [f"{m[1]}=={m[2]}" for line in lock.read_text().splitlines() if (m := PIN.match(line))]
    # pip itself (pip-tools depends on it) and setuptools stay those of the venv that ran `make setup`
    known = {pin.split("==")[0].lower() for pin in pins}
    pins += [f"{name}=={metadata.version(name)}" for name in ("pip", "setuptools") if name not in known]
    return pins


def compile_lock(constraints: Path) -> None:
    subprocess.run([sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes",
                    "--allow-unsafe", "--strip-extras", "--no-emit-index-url", "--no-emit-find-links",
                    "--no-emit-trusted-host", "--constraint", str(constraints),
                    "--output-file", "requirements.lock", "requirements.in"],
                   cwd=ROOT, check=True)


def nodeps_lock(folder: Path) -> None:
    lines = ["# Installed with `pip install --no-deps --require-hashes -r requirements-nodeps.lock`;",
             "# written by `make lock` (tools/lock.py) from requirements-nodeps.in.", ""]
    for requirement in (ROOT / "requirements-nodeps.in").read_text().splitlines():
        requirement = requirement.split("#")[0].strip()
        if not requirement:
            continue
        if not PIN.match(requirement):
            sys.exit(f"requirements-nodeps.in: pin an exact version ({requirement!r})")
        target = folder / requirement
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--dest", str(target), requirement], check=True)
        hashes = sorted(hashlib.sha256(path.read_bytes()).hexdigest() for path in target.iterdir())
        lines.append(requirement + "".join(f" \\\n    --hash=sha256:{sha}" for sha in hashes))
    (ROOT / "requirements-nodeps.lock").write_text("\n".join(lines) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lock-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(current_pins(ROOT / "requirements.lock")) + "\n")
        compile_lock(constraints)
        nodeps_lock(Path(tmp))
    print("Wrote requirements.lock and requirements-nodeps.lock.")


if __name__ == "__main__":
    main()
