"""Where an export came from: the git commit of the checkout and the versions of the packages that made it.

Recorded in every manifest (`git_commit`, `versions`), in the TFLite metadata and in the benchmark's header.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata

from pipeline import REPO_ROOT

PACKAGES = ("tensorflow", "keras", "tensorflowjs", "ai-edge-litert", "tf2onnx", "onnxruntime", "numpy")


def package_versions() -> dict:
    """{package: version} for Python, PACKAGES ("not installed" where absent) and TF.js from node_modules."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    tfjs_package = REPO_ROOT / "node_modules" / "@tensorflow" / "tfjs" / "package.json"
    if tfjs_package.is_file():
        versions["@tensorflow/tfjs"] = json.loads(tfjs_package.read_text())["version"]
    return versions


def git_commit() -> str:
    """HEAD's 40-hex commit, with "-dirty" if pipeline/ or web/ has uncommitted changes; "unknown"
    outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "pipeline", "web"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
