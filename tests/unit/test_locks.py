"""The locks of locks/ agree with the requirement files they were made from, and every install reads a lock.

A requirement file states ranges; its lock (``make lock``) states the exact versions and hashes that every install
takes. These tests fail when the two disagree (a range the locked version no longer satisfies, a requirement added
without a new lock, one removed while its lock still installs it), when a shipped environment (the worker image, the
Lambda layer) holds another version than the dev venv the tests ran in, or when an install reads anything but a lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "locks"
X86 = {"python_version": "3.11", "python_full_version": "3.11.0", "platform_machine": "x86_64",
       "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
       "platform_python_implementation": "CPython"}
ARM312 = {**X86, "python_version": "3.12", "python_full_version": "3.12.0", "platform_machine": "aarch64"}


@dataclass(frozen=True)
class Lock:
    """One lock of locks/: what it is made from and for which platform."""

    name: str
    inputs: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=lambda: X86)


LOCK_FILES = [
    Lock("dev", ("functions/requirements.txt", "infrastructure/local/requirements.txt", "requirements-dev.txt",
                 "inference_container/requirements.txt")),
    Lock("worker", ("inference_container/requirements.txt",)),
    Lock("layer", ("functions/requirements.txt",), ARM312),
    Lock("build", ("locks/build.in",)),
    Lock("sam", ("locks/sam.in",)),
    Lock("checkov", ("locks/checkov.in",)),
]


@dataclass
class Pin:
    """A locked package: its version, hashes and what the lock says requires it (``# via``)."""

    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """The pins of a lock written by ``uv pip compile --generate-hashes`` (annotated)."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^ ;\\]+)", line):
            current = pins[canonicalize_name(match[1])] = Pin(match[3])
        elif current and (hashed := re.match(r"^\s+--hash=sha256:([0-9a-f]{64})", line)):
            current.hashes.append(hashed[1])
        elif current and (via := re.match(r"^\s+#\s+(?:via\s+)?(-[rc] \S+|[A-Za-z0-9_.-]+)\s*$", line)) and (
                via[1] != "via"):
            current.via.append(via[1])
    return pins


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirement file (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@pytest.mark.parametrize("lock", LOCK_FILES, ids=lambda lock: lock.name)
def test_every_requirement_is_locked_at_a_version_its_range_admits(lock: Lock):
    pins = read_lock(LOCKS / f"{lock.name}.txt")
    environment = {**default_environment(), **lock.environment}
    for source in lock.inputs:
        for requirement in read_requirements(ROOT / source):
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{source} asks for {requirement} but locks/{lock.name}.txt has no {name}: make lock"
            assert requirement.specifier.contains(pins[name].version, prereleases=True), (
                f"{source} asks for {requirement}, locks/{lock.name}.txt has {pins[name].version}: make lock")


@pytest.mark.parametrize("lock", LOCK_FILES, ids=lambda lock: lock.name)
def test_nothing_is_locked_that_no_requirement_file_still_asks_for(lock: Lock):
    pins = read_lock(LOCKS / f"{lock.name}.txt")
    asked = {source: {canonicalize_name(r.name) for r in read_requirements(ROOT / source)} for source in lock.inputs}
    for name, pin in pins.items():
        assert pin.via, f"locks/{lock.name}.txt: {name} says nothing of what requires it"
        for reason in pin.via:
            if reason.startswith("-r "):
                source = reason[3:]
                assert source in asked, f"locks/{lock.name}.txt: {name} comes from {source}, not one of its inputs"
                assert name in asked[source], f"locks/{lock.name}.txt still installs {name} for {source}: make lock"
            elif not reason.startswith("-c "):
                assert canonicalize_name(reason) in pins, f"locks/{lock.name}.txt: {name} is for {reason}, not locked"


@pytest.mark.parametrize("lock", LOCK_FILES, ids=lambda lock: lock.name)
def test_every_pin_is_exact_and_hashed(lock: Lock):
    pins = read_lock(LOCKS / f"{lock.name}.txt")
    assert pins
    lines = [line for line in (LOCKS / f"{lock.name}.txt").read_text().splitlines()
             if line and not line.startswith((" ", "#"))]
    assert len(lines) == len(pins), f"locks/{lock.name}.txt has an entry that is not name==version"
    assert all(pin.hashes for pin in pins.values())


@pytest.mark.parametrize("shipped", ["worker", "layer"])
def test_what_ships_has_the_versions_the_tests_ran(shipped: str):
    dev, pins = read_lock(LOCKS / "dev.txt"), read_lock(LOCKS / f"{shipped}.txt")
    differ = {name: (pin.version, dev[name].version) for name, pin in pins.items()
              if name in dev and pin.version != dev[name].version}
    missing = set(pins) - set(dev)
    assert not differ and not missing, f"locks/{shipped}.txt against locks/dev.txt: {differ or missing}: make lock"


def test_torch_torchaudio_and_torchvision_are_pinned_exactly_and_together():
    pinned = {canonicalize_name(r.name): r for r in read_requirements(ROOT / "inference_container/requirements.txt")}
    trio = [pinned[name] for name in ("torch", "torchaudio", "torchvision")]
    assert all(str(r.specifier).startswith("==") and "*" not in str(r.specifier) for r in trio), trio
    for lock in ("dev", "worker"):
        pins = read_lock(LOCKS / f"{lock}.txt")
        torch, torchaudio = pins["torch"].version, pins["torchaudio"].version
        assert torchaudio.split(".")[:2] == torch.split(".")[:2], (lock, torch, torchaudio)


def test_every_install_reads_a_lock_with_hashes_and_resolves_nothing():
    installer = (ROOT / "scripts" / "install-locked.sh").read_text()
    assert "--require-hashes --no-deps --no-build-isolation" in installer and "pip\" check" in installer
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "inference_container" / "Dockerfile").read_text()
    for text, where in ((makefile, "Makefile"), (dockerfile, "Dockerfile")):
        for command in re.findall(r"pip install[^\n]*", text.replace("\\\n", " ")):
            locked = "--require-hashes" in command and "-r locks/" in command
            project_only = "--no-deps" in command and command.rstrip().endswith("-e .")
            uv_tool = '"uv==' in command
            assert locked or project_only or uv_tool, f"{where} installs without a lock: {command}"
    assert "install-locked.sh" in dockerfile and "locks/worker.txt" in dockerfile
    assert makefile.count("install-locked.sh $(VENV) locks/dev.txt") == 1
