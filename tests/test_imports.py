"""The shape of the package: no import circle inside `pipeline/`, and nothing in it imports the workshop
(`tools/`). Read with the standard library's `ast`, lazy imports inside functions included: an import
circle through a function body is still a circle a reader has to hold in their head. Modules loaded by
name at run time (the format registry's importlib.import_module) are not import statements and are not
seen; a format module's import of its package is a package's own structure, not a circle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """Every module `path` imports (absolute names), at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            # `from pipeline import blend` imports the module pipeline.blend
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    return {name: imports_of(path, name, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles among the graph's own modules (one path through each, by depth-first search)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node] & graph.keys()):
            if target == node:
                continue
            if state.get(target) == 1:
                found.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_pipeline_has_no_import_circle():
    graph = import_graph(REPO_ROOT, "pipeline")
    assert "pipeline.export" in graph and "pipeline.manifest" in graph  # the walk found the package
    assert cycles(graph) == []


def test_pipeline_never_imports_the_workshop():
    graph = import_graph(REPO_ROOT, "pipeline")
    upward = {
        module: sorted(i for i in imported if i == "tools" or i.startswith("tools."))
        for module, imported in graph.items()
    }
    assert {m: i for m, i in upward.items() if i} == {}


def test_the_checks_catch_a_circle_and_an_upward_import(tmp_path):
    """The two checks above on a small package that has both faults (so they can fail)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .c import g\n")
    (package / "c.py").write_text("import pkg.a\nfrom tools.browser import launch\n")
    graph = import_graph(tmp_path, "pkg")
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert "tools.browser" in graph["pkg.c"]
