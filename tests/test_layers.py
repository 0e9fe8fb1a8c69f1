"""The layers of the project, enforced: each rule of ARCHITECTURE.md's map is a test here.

* ``mock_server.core`` imports only the standard library (and itself);
* ``mock_server`` never imports ``pytest_windchill``;
* ``pytest_windchill.client`` (the reference client) imports nothing of the plugin: only the
  shared vocabulary (``pytest_windchill.outcomes``) and itself;
* the checker (``checks``, ``history``, ``rules``, ``report``) does not depend on the client's
  update algorithm it judges;
* importing ``mock_server.core`` loads no Flask, Werkzeug, waitress or click;
* no two modules import each other, directly or around a circle, not even for type hints
  (a module that only needs "something with an ``inject`` method" declares a protocol).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, *, type_only: bool = False) -> set[str]:
    """Every module ``path`` imports at run time; with ``type_only``, the imports under
    ``if TYPE_CHECKING:`` too."""
    tree = ast.parse(path.read_text())
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                if type_only:
                    visit(child)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_core_imports_only_the_standard_library() -> None:
    offenders = {
        (_module_name(path), name)
        for path in _files("mock_server.core")
        for name in _imports(path)
        if not name.startswith("mock_server.core")
        and _top(name) not in sys.stdlib_module_names
        and name != "__future__"
    }
    assert not offenders, offenders


def test_the_mock_never_imports_the_plugin() -> None:
    offenders = {
        (_module_name(path), name)
        for path in _files("mock_server")
        for name in _imports(path)
        if _top(name) == "pytest_windchill"
    }
    assert not offenders, offenders


def test_the_reference_client_imports_nothing_of_the_plugin() -> None:
    offenders = {
        (_module_name(path), name)
        for path in _files("pytest_windchill.client")
        for name in _imports(path)
        if _top(name) in ("pytest_windchill", "pytest", "hypothesis")
        and not name.startswith(("pytest_windchill.client", "pytest_windchill.outcomes"))
    }
    assert not offenders, offenders


@pytest.mark.parametrize("module", ["checks", "history", "rules", "report"])
def test_the_checker_does_not_depend_on_the_client_it_judges(module: str) -> None:
    imports = _imports(ROOT / "pytest_windchill" / f"{module}.py")

    assert not {name for name in imports if name.startswith("pytest_windchill.client.updater")}


def test_importing_the_core_loads_no_web_framework() -> None:
    code = (
        "import sys, mock_server.core, mock_server.core.repository\n"
        "print(sorted(m for m in ('flask', 'werkzeug', 'waitress', 'click') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )

    assert result.stdout.strip() == "[]"


def test_the_layer_rules_see_imports_at_all() -> None:
    # A guard for the guards: the parser finds the imports a module really has.
    imports = _imports(ROOT / "pytest_windchill" / "checks.py")

    assert "mock_server.core.journal" in imports
    assert "pytest_windchill.rules" in imports
    assert "pytest_windchill.report" in imports
    assert "pytest_windchill.schedules" not in imports, "a TYPE_CHECKING import is not run"


def _import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports, for type hints too (packages' ``__init__``
    left out: Python imports a parent package first anyway, so an edge to one is no circle)."""
    paths = [*_files("mock_server"), *_files("pytest_windchill")]
    modules = {_module_name(path): path for path in paths}
    packages = {_module_name(p) for p in paths if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path, type_only=True):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported not in packages:
                targets.add(imported)
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert _circles(_import_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _circles(graph) == [["a", "b", "c"]]
    assert "pytest_windchill.checks" in _import_graph()["pytest_windchill.handle"]
