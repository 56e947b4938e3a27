"""The Lambda side as ``sam build`` leaves it in build/sam: what would break the first cold start fails here.

scripts/test.sh runs ``sam build --no-cached --build-dir build/sam`` before the tests; the ``build`` fixture runs it
itself when build/sam is missing or older than what it is built from.

Proven: every function of template.yaml and of the local stacks it nests (infrastructure/gpu/compute.yaml) is in the
built templates with its folder, handler and layers; every wheel of each layer is pure or built for the layer's
runtimes (CPython 3.12 or abi3, manylinux aarch64 within Amazon Linux 2023's glibc 2.34, never x86_64) at the version
of locks/layer.txt; and each handler, every other module its folder ships (lazily imported ones included) and the
X-Ray tracer its first call builds import in an isolated interpreter (``-I -S``: no site-packages) whose path is only
the built folder, the layer's pure-Python part and, standing in for the layer's compiled distributions, the host's
wheels of the same versions, installed from the same lock lines (hashes checked).

Not proven: that the arm64 binaries load (their tags are checked, but the host twins run here), nor that the pure part
behaves the same on the runtime's Python 3.12 as on this host's 3.11 (code that only 3.12 accepts fails here instead
of passing); no handler is invoked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from infrastructure.local.template import TEMPLATE, load_template

pytestmark = pytest.mark.slow

ROOT = TEMPLATE.parent
BUILD = ROOT / "build" / "sam"
LOCK = ROOT / "locks" / "layer.txt"
SOURCES = ("template.yaml", "infrastructure/gpu", "Makefile", "locks/layer.txt", "shared", "functions")
GLIBC_MINOR = 34  # Amazon Linux 2023, the OS of the python3.12 runtime
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
FUNCTION, LAYER = "AWS::Serverless::Function", "AWS::Serverless::LayerVersion"


@dataclass(frozen=True)
class Layer:
    name: str
    folder: Path  # its python/ folder: /opt/python in Lambda
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]


@dataclass(frozen=True)
class Function:
    name: str
    folder: Path  # /var/task in Lambda
    handler: str
    runtime: str
    architecture: str
    layers: tuple[Layer, ...]


Artifacts = tuple[dict[str, Function], dict[str, Layer]]  # by name, "Stack/Name" in a nested stack


def _resources(template: Path, prefix: str = "") -> dict[str, tuple[str, dict[str, Any], Path]]:
    """Functions and layers of ``template`` and of the local templates it nests, as "Stack/Name": (type, properties
    with the template's Globals applied, the folder their paths are relative to)."""
    document = load_template(template)
    defaults = document.get("Globals", {}).get("Function", {})
    found: dict[str, tuple[str, dict[str, Any], Path]] = {}
    for name, resource in document["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        location = properties.get("Location")
        if kind == "AWS::Serverless::Application" and isinstance(location, str) and "://" not in location:
            found |= _resources(template.parent / location, f"{prefix}{name}/")
        elif kind == FUNCTION:  # SAM appends a function's lists to Globals' lists
            layers = [*defaults.get("Layers", []), *properties.get("Layers", [])]
            found[prefix + name] = (kind, {**defaults, **properties, "Layers": layers}, template.parent)
        elif kind == LAYER:
            found[prefix + name] = (kind, properties, template.parent)
    return found


FUNCTIONS = sorted(name for name, (kind, _, _) in _resources(TEMPLATE).items() if kind == FUNCTION)
LAYERS = sorted(name for name, (kind, _, _) in _resources(TEMPLATE).items() if kind == LAYER)


def artifacts(build: Path) -> Artifacts:
    """The functions and layers of the built templates, with their built folders."""
    resources = _resources(build / "template.yaml")
    layers = {name: Layer(name, base / properties["ContentUri"] / "python", tuple(properties["CompatibleRuntimes"]),
                          tuple(properties["CompatibleArchitectures"]))
              for name, (kind, properties, base) in resources.items() if kind == LAYER}
    functions: dict[str, Function] = {}
    for name, (kind, properties, base) in resources.items():
        if kind != FUNCTION:
            continue
        stack = name.rpartition("/")[0]
        refs = [layer.get("Ref") if isinstance(layer, dict) else layer for layer in properties["Layers"]]
        assert all(f"{stack}/{ref}".lstrip("/") in layers for ref in refs), f"{name}: a layer not built here: {refs}"
        functions[name] = Function(name, base / properties["CodeUri"], properties["Handler"], properties["Runtime"],
                                   properties["Architectures"][0],
                                   tuple(layers[f"{stack}/{ref}".lstrip("/")] for ref in refs))
    return functions, layers


def runtime_tags(runtime: str, architecture: str) -> set[Tag]:
    """The wheel tags a Lambda runtime ("python3.12", "arm64") loads."""
    major, minor = (int(part) for part in runtime.removeprefix("python").split("."))
    machine = MACHINES[architecture]
    platforms = [f"manylinux_2_{glibc}_{machine}" for glibc in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{machine}")
    return {*cpython_tags((major, minor), platforms=platforms),
            *compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=platforms)}


def distributions(layer: Path) -> dict[str, tuple[Version, set[Tag]]]:
    """The layer's distributions: canonical name -> (version, wheel tags)."""
    found: dict[str, tuple[Version, set[Tag]]] = {}
    for dist_info in layer.glob("*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        tags = {tag for line in (dist_info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")
                for tag in parse_tag(line.removeprefix("Tag:").strip())}
        found[canonicalize_name(name)] = (Version(version), tags)
    return found


def compiled(layer: Path) -> dict[str, Version]:
    """The layer's distributions that are not pure Python (a tag other than *-none-any)."""
    return {name: version for name, (version, tags) in distributions(layer).items()
            if any((tag.abi, tag.platform) != ("none", "any") for tag in tags)}


def lock_pins() -> dict[str, tuple[Version, str]]:
    """locks/layer.txt: canonical name -> (version, its requirement lines, hashes included)."""
    pin = re.compile(r"^([A-Za-z0-9][\w.-]*)==(\S+)(?: \\\n\s+--hash=\S+)+", re.M)
    return {canonicalize_name(match[1]): (Version(match[2]), match[0]) for match in pin.finditer(LOCK.read_text())}


def pure_part(layer: Path, dest: Path, drop: frozenset[str] = frozenset()) -> Path:
    """``dest``: links to the layer's top level without its compiled distributions (and the distributions ``drop``)."""
    owners: dict[str, set[str]] = {}
    for record in layer.glob("*.dist-info/RECORD"):
        owner = canonicalize_name(record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for line in record.read_text().splitlines():
            owners.setdefault(line.split(",", 1)[0].split("/", 1)[0], set()).add(owner)
    left_out = compiled(layer).keys() | drop
    dest.mkdir(parents=True)
    for entry in layer.iterdir():
        if not (entry.name in owners and owners[entry.name] <= left_out):
            (dest / entry.name).symlink_to(entry)
    return dest


def host_twins(names: dict[str, Version], dest: Path) -> Path:
    """``dest``: the host's wheels of ``names`` (this interpreter and machine), from locks/layer.txt's lines."""
    pins = lock_pins()
    assert {name: pins[name][0] for name in names} == names, "the layer holds other versions than locks/layer.txt"
    requirements = dest.parent / f"{dest.name}.txt"
    requirements.write_text("".join(pins[name][1] + "\n" for name in sorted(names)))
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "--require-hashes", "--no-deps", "--only-binary=:all:", "--target", str(dest),
                             "-r", str(requirements)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"installing the host twins of {sorted(names)} failed:\n{result.stderr}"
    return dest


_IMPORT = """
import importlib, json, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
module, _, name = spec["handler"].rpartition(".")
assert callable(getattr(importlib.import_module(module), name)), spec["handler"] + " is not callable"
for module in spec["modules"]:
    importlib.import_module(module)
from aws_lambda_powertools import Tracer  # what the first call builds (functions/observability.py)
Tracer(service="import-check")
"""


def import_check(path: list[Path], handler: str, modules: list[str]) -> subprocess.CompletedProcess[str]:
    """Import ``handler``, then ``modules``, in a fresh interpreter that sees the standard library and ``path`` only,
    in an environment like Lambda's (which enables the tracer)."""
    env = {"PATH": os.environ.get("PATH", ""), "LAMBDA_TASK_ROOT": str(path[0]), "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1"}
    spec = {"path": [str(folder) for folder in path], "handler": handler, "modules": modules}
    return subprocess.run([sys.executable, "-I", "-S", "-B", "-c", _IMPORT, json.dumps(spec)], env=env,
                          capture_output=True, text=True, timeout=300)


def shipped_modules(folder: Path) -> list[str]:
    """Every module of a built function folder, dotted."""
    return sorted(".".join(path.relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
                  for path in folder.rglob("*.py"))


def _newest_source() -> float:
    """When what build/sam is built from last changed (bytecode aside)."""
    paths = [path for source in map(ROOT.joinpath, SOURCES) for path in [source, *source.glob("**/*")]]
    return max(path.stat().st_mtime for path in paths if path.is_file() and "__pycache__" not in path.parts)


@pytest.fixture(scope="session")
def build() -> Path:
    """build/sam, built again when missing or older than what it is built from."""
    built = BUILD / "template.yaml"
    if built.is_file() and built.stat().st_mtime >= _newest_source():
        return BUILD
    local_sam = ROOT / ".venv-sam" / "bin" / "sam"  # make sam
    sam = str(local_sam) if local_sam.is_file() else shutil.which("sam")
    if sam is None:
        pytest.fail("build/sam is missing or older than its sources and SAM CLI is not installed: run `make sam`, "
                    "then `.venv-sam/bin/sam build --no-cached --build-dir build/sam` (scripts/test.sh does)")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0",  # the Makefile's pip is this venv's
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sam, "build", "--no-cached", "--build-dir", str(BUILD)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"sam build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return BUILD


@pytest.fixture(scope="session")
def built(build: Path) -> Artifacts:
    return artifacts(build)


@pytest.fixture(scope="session")
def import_paths(built: Artifacts, tmp_path_factory: pytest.TempPathFactory) -> dict[Layer, list[Path]]:
    """Each layer as this host can import it: its pure part, then the host twins of its compiled distributions."""
    twins: dict[frozenset[tuple[str, Version]], Path] = {}
    paths: dict[Layer, list[Path]] = {}
    for layer in built[1].values():
        binary = compiled(layer.folder)
        key = frozenset(binary.items())
        if key not in twins:
            twins[key] = host_twins(binary, tmp_path_factory.mktemp("host-twins") / "python")
        paths[layer] = [pure_part(layer.folder, tmp_path_factory.mktemp("pure") / "python"), twins[key]]
    return paths


@pytest.mark.parametrize("name", LAYERS)
def test_layer_wheels_are_for_its_runtimes_at_the_locked_versions(name: str, built: Artifacts) -> None:
    layer = built[1][name]
    held = distributions(layer.folder)
    assert {n: version for n, (version, _) in held.items()} == {n: pin[0] for n, pin in lock_pins().items()}, (
        f"{name} does not hold exactly the distributions of locks/layer.txt")
    for runtime in layer.runtimes:
        for architecture in layer.architectures:
            loadable = runtime_tags(runtime, architecture)
            wrong = {n: sorted(map(str, tags)) for n, (_, tags) in held.items() if not tags & loadable}
            assert not wrong, f"{name}: wheels that {runtime} on {architecture} cannot load: {wrong}"
    x86 = [n for n, (_, tags) in held.items() if any("x86_64" in tag.platform for tag in tags)]
    assert not x86, f"{name}: x86_64 wheels: {x86}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_handler_imports_from_its_built_folder_and_layers(name: str, built: Artifacts,
                                                          import_paths: dict[Layer, list[Path]]) -> None:
    function = built[0].get(name)
    assert function is not None, f"{name} is not in build/sam's templates"
    assert function.layers, f"{name} uses no layer"
    for layer in function.layers:
        assert function.runtime in layer.runtimes and function.architecture in layer.architectures, layer.name
    path = [function.folder, *(folder for layer in function.layers for folder in import_paths[layer])]
    result = import_check(path, function.handler, shipped_modules(function.folder))
    assert result.returncode == 0, f"{name} ({function.handler}) does not import from build/sam:\n{result.stderr}"


def test_the_import_check_names_a_module_missing_from_the_function_or_its_layer(
        built: Artifacts, import_paths: dict[Layer, list[Path]], tmp_path: Path) -> None:
    function = built[0]["ApiFunction"]
    layer = function.layers[0]
    folder = Path(shutil.copytree(function.folder, tmp_path / "ApiFunction"))
    (folder / "functions" / "observability.py").unlink()  # as if the Makefile's copy list missed it
    result = import_check([folder, *import_paths[layer]], function.handler, [])
    assert result.returncode != 0 and "No module named 'functions.observability'" in result.stderr, result.stderr

    without_mangum = pure_part(layer.folder, tmp_path / "mangum", drop=frozenset({"mangum"}))  # this venv has it
    result = import_check([function.folder, without_mangum, import_paths[layer][1]], function.handler, [])
    assert result.returncode != 0 and "No module named 'mangum'" in result.stderr, result.stderr

    without_jwt = pure_part(layer.folder, tmp_path / "jwt", drop=frozenset({"pyjwt"}))  # imported when users sign in
    result = import_check([function.folder, without_jwt, import_paths[layer][1]], function.handler,
                          shipped_modules(function.folder))
    assert result.returncode != 0 and "No module named 'jwt'" in result.stderr, result.stderr
