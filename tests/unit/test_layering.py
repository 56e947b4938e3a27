"""The layering of ``inference_container/``, read from the source (ast: nothing is imported, no subprocess).

- No import circle among its modules: every import counts, at module level, in a function, or under
  ``TYPE_CHECKING``. ``from package import name`` counts as importing ``package.name`` where that is a module, else
  ``package`` (its ``__init__``).
- The weights bundle (``diffrhythm/bundle/``) is two layers. The runtime reads a bundle: ``layout`` (the paths, a
  leaf: it imports nothing of the project) and ``reader`` (``Bundle``, ``verify``, ``BundleError``; of the project it
  imports only ``layout`` and the leaf ``inference_container.errors``). The build writes one: ``sources`` (the
  artifact table), ``fetch`` and ``download`` (downloads, manifest, licence gate), ``convert`` and ``check`` (the load
  check). Build-time code may import runtime code, never the reverse: only ``BUILD_IMPORTERS`` (the build-time modules
  themselves and the command-line entry ``cli.py``) import a build-time module.
- Test code is not the product: nothing in ``inference_container/`` imports ``testing`` (the TINY RANDOM test bundle
  and the golden check, which the worker image does not ship).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 300
PROJECT = ("inference_container", "shared", "functions", "infrastructure", "benchmarks", "tests", "testing")

BUNDLE = "inference_container.diffrhythm.bundle"
LAYOUT, READER = f"{BUNDLE}.layout", f"{BUNDLE}.reader"
ERRORS = "inference_container.errors"  # a leaf every layer may raise from (InputError, ModelError)
RUNTIME_BUNDLE = frozenset({BUNDLE, LAYOUT, READER})  # the package itself: its __init__ is empty
BUILD_TIME = frozenset(f"{BUNDLE}.{name}" for name in ("sources", "fetch", "download", "convert", "check"))
BUILD_IMPORTERS = BUILD_TIME | {"inference_container.cli"}


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a folder under ``root``): dotted name -> file (a package: its ``__init__.py``)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(path: Path, name: str, modules: Iterable[str]) -> set[str]:
    """Every dotted name ``path`` (the module ``name``) imports, anywhere in it: ``from a import b`` gives ``a.b``
    where that is one of ``modules``, else ``a``."""
    modules = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1], *([base] if base else [])])
            names |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports."""
    modules = module_names(root, package)
    return {name: {n for n in imported_names(path, name, modules) if n in modules and n != name}
            for name, path in modules.items()}


def project_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> every name of the project (``PROJECT``'s top-level packages) it imports."""
    modules = module_names(root, package)
    return {name: {n for n in imported_names(path, name, modules) if n.split(".")[0] in PROJECT}
            for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Import circles of ``graph``, each as the path that closes it (``[a, b, a]``); empty where there is none."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def layering_violations(graph: Mapping[str, set[str]], imports: Mapping[str, set[str]]) -> list[str]:
    """What breaks the bundle's layering (see the module), one line each; empty where nothing does."""
    problems = []
    for name in sorted(imports):
        if name == LAYOUT and imports[name]:
            problems.append(f"{name} is a leaf but imports {', '.join(sorted(imports[name]))}")
        if name == READER and (extra := graph.get(name, set()) - {LAYOUT, ERRORS}):
            problems.append(f"{name} may import only {LAYOUT}, but imports {', '.join(sorted(extra))}")
        if name not in BUILD_IMPORTERS and (build := graph.get(name, set()) & BUILD_TIME):
            problems.append(f"{name} (runtime) imports build-time {', '.join(sorted(build))}")
    return problems


def test_inference_container_imports_no_test_code():
    test_code = {name: found for name, names in project_imports(ROOT, "inference_container").items()
                 if (found := sorted(n for n in names if n.split(".")[0] in ("testing", "tests")))}
    assert test_code == {}
    assert not list((ROOT / "inference_container").rglob("tiny*.py")) and not list(
        (ROOT / "inference_container").rglob("golden*.py"))
    # the rule is not vacuous: the test code imports the product
    assert "inference_container.diffrhythm.bundle.fetch" in project_imports(ROOT, "testing")["testing.tiny"]


def test_the_errors_module_is_a_leaf():
    assert project_imports(ROOT, "inference_container")[ERRORS] == set()


@pytest.mark.parametrize("package", ["inference_container", "shared", "functions", "testing"])
def test_no_package_has_an_import_circle(package):
    found = cycles(import_graph(ROOT, package))
    assert not found, "import circles: " + "; ".join(" -> ".join(cycle) for cycle in found)


@pytest.mark.parametrize("package", ["inference_container", "shared"])
def test_no_module_is_over_the_line_limit(package):
    """Small modules with one job each: a module that grows past ``MAX_LINES`` is split, not stretched."""
    long = {str(path.relative_to(ROOT)): lines for path in sorted((ROOT / package).rglob("*.py"))
            if (lines := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_bundle_module_is_either_runtime_or_build_time():
    bundle = {name for name in module_names(ROOT, "inference_container") if name.startswith(BUNDLE)}
    assert bundle == RUNTIME_BUNDLE | BUILD_TIME
    assert (ROOT / "inference_container/diffrhythm/bundle/__init__.py").read_text().strip() == ""


def test_runtime_code_imports_only_the_bundles_layout_and_reader():
    graph = import_graph(ROOT, "inference_container")
    assert layering_violations(graph, project_imports(ROOT, "inference_container")) == []
    # the rule is not vacuous: runtime modules do read bundles, and the build imports the runtime
    assert READER in graph["inference_container.diffrhythm.pipeline"]
    assert "inference_container.diffrhythm.pipeline" in graph[f"{BUNDLE}.check"]


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_finds_a_circle_through_a_function_level_import(tmp_path):
    root = _tree(tmp_path, {
        "inference_container/__init__.py": "",
        "inference_container/a.py": "from inference_container import b\n",
        "inference_container/b.py": "def f():\n    from .c import thing\n",
        "inference_container/c.py": "import inference_container.a\n",
        "inference_container/d.py": "from inference_container.b import f\n",
    })
    graph = import_graph(root, "inference_container")
    assert graph["inference_container.a"] == {"inference_container.b"}
    assert graph["inference_container.b"] == {"inference_container.c"}
    assert cycles(graph) == [["inference_container.a", "inference_container.b", "inference_container.c",
                              "inference_container.a"]]
    (root / "inference_container/c.py").write_text("import inference_container.d\n")  # d imports b
    assert cycles(import_graph(root, "inference_container")) == [
        ["inference_container.b", "inference_container.c", "inference_container.d", "inference_container.b"]]
    (root / "inference_container/c.py").write_text("import json\n")
    assert cycles(import_graph(root, "inference_container")) == []


def test_the_checker_reports_forbidden_bundle_imports(tmp_path):
    bundle = "inference_container/diffrhythm/bundle"
    root = _tree(tmp_path, {
        "inference_container/__init__.py": "",
        "inference_container/cli.py": "def fetch():\n    from inference_container.diffrhythm.bundle.fetch import f\n",
        "inference_container/diffrhythm/__init__.py": "",
        "inference_container/diffrhythm/pipeline.py": (
            "from inference_container.diffrhythm.bundle.reader import Bundle\n"
            "def load():\n    from inference_container.diffrhythm.bundle import convert\n"),
        f"{bundle}/__init__.py": "",
        f"{bundle}/layout.py": "from shared.timeline import VARIANTS\n",
        f"{bundle}/reader.py": "from .layout import MANIFEST\nfrom .sources import ARTIFACTS\n",
        f"{bundle}/sources.py": "",
        f"{bundle}/fetch.py": "from inference_container.diffrhythm import pipeline\nfrom . import sources\n",
        f"{bundle}/convert.py": "",
    })
    graph = import_graph(root, "inference_container")
    assert layering_violations(graph, project_imports(root, "inference_container")) == [
        f"{BUNDLE}.layout is a leaf but imports shared.timeline",
        f"{READER} may import only {LAYOUT}, but imports {BUNDLE}.sources",
        f"{READER} (runtime) imports build-time {BUNDLE}.sources",
        f"inference_container.diffrhythm.pipeline (runtime) imports build-time {BUNDLE}.convert",
    ]
