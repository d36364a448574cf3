"""The README and docs/ say only what is true of this checkout.

Short enough to read (README ≤ 250 lines); every relative link and anchor resolves; every `make`
target, `python -m` module and source path they name exists; the command line shown matches the real
parser; the artifact table, the input contract and the tolerances match the published manifests and
`pipeline/verify.py`; no accuracy figure is stated that the manifests do not hold; no sentences about
earlier runs or machines. Plain text and the real parser only: no TensorFlow, no network.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
EXPORTED = REPO_ROOT / "exported_models"
MAX_README_LINES = 250

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_LINK = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.I)
INLINE_CODE = re.compile(r"`[^`\n]+`")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fenced_blocks(markdown: str) -> list[str]:
    return FENCE.findall(markdown)


def prose(markdown: str) -> str:
    """The markdown without fenced blocks and inline code: what links and headings live in."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]|<[^>]+>", "", heading.strip()).lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", text(path)).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def committed(relative: str) -> dict:
    """A JSON file under exported_models/ as committed at HEAD: the README describes the committed
    defaults, not what a local `make run` or `personalize` has since published. Outside git: the file."""
    try:
        text = subprocess.run(
            ["git", "show", f"HEAD:exported_models/{relative}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        text = (EXPORTED / relative).read_text()
    return json.loads(text)


def manifests() -> dict[str, dict]:
    return {name: committed(f"{name}/manifest.json") for name in committed("index.json")["models"]}


def page_id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# --- size and links --------------------------------------------------------------------------------


def test_readme_is_at_most_250_lines():
    lines = text(README).splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; keep it to {MAX_README_LINES} and move detail to docs/"
    )


def test_docs_pages_exist_and_the_readme_links_each():
    assert DOCS, "docs/ holds no .md page"
    linked = {(README.parent / target.split("#")[0]).resolve() for target in MD_LINK.findall(prose(text(README)))}
    unlinked = [page_id(page) for page in DOCS if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README never links to: {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_anchor_resolves(page):
    body = prose(text(page))
    targets = MD_LINK.findall(body) + HTML_LINK.findall(body)
    assert targets or page != README, "no links found in README.md: is the link pattern broken?"
    broken = []
    for target in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading '#{anchor}' in {resolved.name})")
        elif REPO_ROOT not in resolved.parents and resolved != REPO_ROOT:
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{page_id(page)}: broken links: {broken}"


# --- commands, modules and paths named ---------------------------------------------------------------


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text(REPO_ROOT / "Makefile"), re.M))


def test_the_two_commands_are_the_first_block():
    first = fenced_blocks(text(README))[0].splitlines()
    assert [line.split("#")[0].strip() for line in first[:2]] == ["make run", "make test"]
    assert "make test" in text(REPO_ROOT / ".ci" / "run"), "CI no longer runs the README's test command"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_make_target_named_exists(page):
    body = text(page)
    code = "\n".join(fenced_blocks(body)) + "\n" + "\n".join(INLINE_CODE.findall(body))
    named = set(re.findall(r"(?:^|[\s`;(=])make\s+([a-z][\w-]*)", code, re.M))
    if page == README:
        assert {"run", "test"} <= named
    missing = sorted(named - makefile_targets())
    assert not missing, f"{page_id(page)} names make targets the Makefile lacks: {missing}"


def module_exists(module: str) -> bool:
    path = REPO_ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_python_dash_m_of_ours_exists(page):
    modules = set(re.findall(r"python3?\s+-m\s+((?:pipeline|tools|web)(?:\.\w+)*)", text(page)))
    missing = sorted(m for m in modules if not module_exists(m))
    assert not missing, f"{page_id(page)} runs modules that do not exist: {missing}"


# what a command writes, named as its output: not in a fresh checkout
WRITTEN_LATER = {"exported_models/cnn-personal"}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_source_path_named_exists(page):
    pattern = r"(?<![\w/.])((?:pipeline|tools|web|tests|docs|exported_models|\.ci)/[\w./<>-]*[\w>])"
    paths = {p for p in re.findall(pattern, text(page)) if "<" not in p}  # <model>: a pattern, not a path
    missing = sorted(p for p in paths if not exists(p) and p not in WRITTEN_LATER)
    assert not missing, f"{page_id(page)} names paths that do not exist: {missing}"


def exists(path: str) -> bool:
    """In the working tree; under exported_models/, as committed (a local `make run` publishes unsigned,
    without model.sig, and the pages describe the committed defaults)."""
    if (REPO_ROOT / path).exists():
        return True
    if not path.startswith("exported_models/"):
        return False
    found = subprocess.run(
        ["git", "cat-file", "-e", f"HEAD:{path.rstrip('/')}"], cwd=REPO_ROOT, capture_output=True
    )
    return found.returncode == 0


def layout_block() -> str:
    section = text(README).split("## Layout", 1)[1]
    return fenced_blocks(section)[0]


def test_layout_names_only_files_that_exist():
    """Each file named in the layout block exists in the folder its line is about (or at the root)."""
    top = base = ""
    missing = []
    for line in layout_block().splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name = line.split()[0].rstrip(",")
        if indent == 0:
            top = name if name.endswith("/") else str(Path(name).parent) + "/"
            base = top
        elif indent <= 4:
            base = top + name if name.endswith("/") else top
        for token in re.findall(
            r"(?<![\w/.-])([a-z0-9_.-]+\.(?:py|js|mjs|json|html|webmanifest|toml|lock))\b", line
        ):
            if not ((REPO_ROOT / base / token).exists() or (REPO_ROOT / token).exists()):
                missing.append(f"{base}{token}")
    assert not missing, f"the README's layout names files that do not exist: {missing}"


def test_layout_names_every_module_of_pipeline_and_tools():
    block = layout_block()
    modules = [
        p
        for folder in ("pipeline", "tools")
        for p in sorted((REPO_ROOT / folder).glob("*.py"))
        if not p.name.startswith("__")
    ]
    assert modules
    unnamed = [page_id(p) for p in modules if not re.search(rf"(?<![\w.]){re.escape(p.name)}\b", block)]
    assert not unnamed, f"modules the README's layout does not mention: {unnamed}"


# --- the command line ---------------------------------------------------------------------------------


def real_commands() -> dict[str, argparse.ArgumentParser]:
    from pipeline.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("pipeline.cli.build_parser() has no sub-commands")


def readme_synopsis() -> dict[str, str]:
    """command -> its lines in the README's command-line block (continuation lines included)."""
    section = text(README).split("## The command line", 1)[1]
    block = fenced_blocks(section)[0]
    commands: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        match = re.match(r"python -m pipeline (\w+)", line)
        if match:
            current = match.group(1)
            commands[current] = line
        elif line.startswith(" ") and current:
            commands[current] += "\n" + line
        else:
            current = None
    return commands


def test_the_command_line_block_lists_every_command_and_only_those():
    shown = set(readme_synopsis())
    real = set(real_commands())
    assert shown == real, f"README shows {sorted(shown - real)} that do not exist; lacks {sorted(real - shown)}"
    assert all(f"`{name}`" in text(README) for name in real), "a command is shown but never described"


def test_the_command_line_block_shows_each_commands_real_flags_and_choices():
    problems = []
    for name, synopsis in readme_synopsis().items():
        options = {opt: action for action in real_commands()[name]._actions for opt in action.option_strings}
        real = {opt for opt in options if opt.startswith("--") and opt not in ("--help", "--verbose")}
        shown = set(re.findall(r"(--[a-z][\w-]*)", synopsis))
        if shown - real - {"--verbose"}:
            problems.append(f"{name}: shown but not accepted {sorted(shown - real - {'--verbose'})}")
        if real - shown:
            problems.append(f"{name}: accepted but not shown {sorted(real - shown)}")
        for flag, choices in re.findall(r"(--[a-z][\w-]*) ([\w-]+(?:\|[\w-]+)+)", synopsis):
            if flag in options and options[flag].choices is not None:
                if set(choices.split("|")) != set(options[flag].choices):
                    problems.append(f"{name} {flag}: shows {choices}, accepts {sorted(options[flag].choices)}")
    assert not problems, "; ".join(problems)


# --- figures: checked against the manifests and the code ----------------------------------------------


def artifact_table() -> list[tuple[str, str, str]]:
    section = text(README).split("## What you get", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2]))
    return rows


def test_artifact_table_matches_every_published_manifest():
    table = artifact_table()
    assert table, "no artifact table under 'What you get'"
    for name, manifest in manifests().items():
        published = [(a["id"], a["path"], a["verification"]["runtime"]) for a in manifest["artifacts"]]
        shown = [(i, path.replace("<model>", name), runtime) for i, path, runtime in table]
        assert shown == published, (
            f"README's artifact table disagrees with exported_models/{name}/manifest.json "
            f"(id, path, runtime):\nREADME:   {shown}\nmanifest: {published}"
        )


def verify_constants() -> dict[str, float]:
    tree = ast.parse(text(REPO_ROOT / "pipeline" / "verify.py"))
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
    }


def test_tolerances_stated_are_the_ones_enforced():
    constants = verify_constants()
    body = " ".join(text(README).split())
    sentence = re.search(r"Tolerances, enforced on every run:(.*?)\. ", body)
    assert sentence, "the README no longer states the tolerances (update this test if moved)"
    stated = sentence.group(1)
    within = re.search(r"within ([\d.]+e-?\d+)", stated)
    agrees = re.search(r"at least ([\d.]+) ?%", stated)
    loses = re.search(r"more than ([\d.]+) points", stated)
    assert within and agrees and loses, f"tolerance sentence not understood: {stated}"
    assert float(within.group(1)) == constants["FLOAT32_MAX_DIFF"]
    assert float(agrees.group(1)) / 100 == pytest.approx(constants["FLOAT16_MIN_AGREEMENT"])
    assert float(loses.group(1)) / 100 == pytest.approx(constants["MAX_ACCURACY_LOSS"])


def test_input_contract_matches_the_manifests():
    section = " ".join(text(README).split("## The input contract", 1)[1].split("\n## ", 1)[0].split())
    for name, manifest in manifests().items():
        given, returned = manifest["input"], manifest["output"]
        assert given["shape"][1:] == [28, 28] and f"`[N, {', '.join(map(str, given['shape'][1:]))}]`" in section
        assert f"`{given['name']}`, {given['dtype']}" in section, f"{name}: input name/dtype"
        low, high = given["range"]
        assert f"{low}..{high}" in section, f"{name}: input range {given['range']}"
        assert given["ink"] in section, f"{name}: ink '{given['ink']}'"
        assert f"`{returned['name']}`, {returned['dtype']} `[N, {returned['shape'][1]}]`" in section
        assert manifest["labels"] in section


def test_no_accuracy_figure_is_stated_that_the_manifests_do_not_hold():
    """The README links to the manifests and BENCHMARKS.md for figures; any it states must be there."""
    held = {
        round(a["verification"][key], 4)
        for m in manifests().values()
        for a in m["artifacts"]
        for key in ("accuracy", "agreement")
    }
    held |= {round(m["evaluation"]["test_accuracy"], 4) for m in manifests().values()}
    body = FENCE.sub("", text(README))
    stray = [
        figure
        for figure in re.findall(r"(?<![\d.])0\.\d{2,}(?!\d|\.\d)", body)
        if round(float(figure), 4) not in held
    ]
    percentages = {float(p) for p in re.findall(r"(\d+(?:\.\d+)?) ?%", body)}
    allowed = {round(verify_constants()["FLOAT16_MIN_AGREEMENT"] * 100, 4)}
    stray += [f"{p} %" for p in percentages if round(p, 4) not in allowed]
    assert not stray, f"README states figures no manifest holds: {stray}"


HISTORY = re.compile(
    r"\b(this|that|the previous|an earlier|earlier) (session|machine|run)s?\b|"
    r"\bon this (CPU|host|laptop)\b|\bin (stop|session) \d+|\b(six|nine|\d+) runs were\b",
    re.I,
)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_sentences_about_earlier_runs_or_machines(page):
    found = sorted({match.group(0) for match in HISTORY.finditer(text(page))})
    assert not found, f"{page_id(page)} talks about particular runs or machines: {found}"


def test_the_article_recipe_in_docs_is_the_one_trained():
    """docs/models.md states the seed article's recipe; the published `article` must be trained with it."""
    body = " ".join(text(REPO_ROOT / "docs" / "models.md").split())
    stated = re.search(r"SGD at Keras's default learning rate ([\d.]+), (\d+) epochs, batch (\d+)", body)
    assert stated, "docs/models.md no longer states the article's recipe (update this test if reworded)"
    recipe = manifests()["article"]["training"]["recipe"]
    assert recipe["optimizer"] == "sgd"
    assert float(stated.group(1)) == recipe["learning_rate"]["peak"]
    assert (int(stated.group(2)), int(stated.group(3))) == (recipe["epochs"], recipe["batch_size"])


def test_the_models_named_are_the_published_ones():
    listed = re.search(r"lists the published models \(([^)]*)\)", " ".join(text(README).split()))
    assert listed, "the README no longer names the published models (update this test if reworded)"
    assert set(re.findall(r"`([\w-]+)`", listed.group(1))) == set(manifests())
