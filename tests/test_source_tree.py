"""What the source files say about each other: no reference to a file the repository lacks, and the
page's modules share their helpers rather than copying them."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO_ROOT

STATIC = REPO_ROOT / "web" / "static"


def repository_files() -> list[str]:
    """Tracked files and new ones not ignored, as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (REPO_ROOT / name).is_file()]


def test_no_file_points_to_notes_outside_the_repository():
    """The stack notes live beside the repository, not in it: a reader of a clone cannot follow a
    reference to them, so the fact itself is written where it is needed."""
    outside = "STACK" + ".md"  # spelt in two halves: this file is in the repository too
    citing = [name for name in repository_files() if outside in (REPO_ROOT / name).read_text(errors="ignore")]
    assert citing == []


def module_exports(source: str) -> set[str]:
    names = set(re.findall(r"^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+(\w+)", source, re.M))
    for group in re.findall(r"^export\s*\{([^}]*)\}", source, re.M):
        names.update(part.split(" as ")[-1].strip() for part in group.split(",") if part.strip())
    return names


def top_level_definitions(source: str) -> set[str]:
    """Functions, constants and classes defined at the top level of an ES module (unindented)."""
    found = re.findall(
        r"^(?:export\s+)?(?:async\s+)?(?:function\*?\s+(\w+)|(?:const|let|var|class)\s+(\w+))", source, re.M
    )
    return {function or other for function, other in found}


def test_page_modules_import_the_dom_helpers_rather_than_redefine_them():
    ui = module_exports((STATIC / "ui.js").read_text())
    assert "byTestId" in ui
    for path in sorted(STATIC.glob("*.js")):
        if path.name in ("ui.js", "sw.js"):  # the service worker has no DOM
            continue
        copied = top_level_definitions(path.read_text()) & ui
        assert not copied, f"{path.name} redefines {sorted(copied)}, which ui.js exports: import them"
    personal = (STATIC / "personal.js").read_text()
    assert re.search(r"^import\s*\{[^}]*\bbyTestId\b[^}]*\}\s*from\s*'\./ui\.js';", personal, re.M)
