"""The set-up's files agree: pyproject.toml declares ranges, the lock (requirements/constraints.txt)
pins exact public versions inside them, environment.yml installs from the lock, and this machine has
the locked versions installed. (tests/test_setup.py resolves the lock on Python 3.12 and 3.13.)"""
from __future__ import annotations

import re
import tomllib
from importlib.metadata import version as installed_version

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import ROOT

LOCK = ROOT / "requirements" / "constraints.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")
SUPPORTED = ("3.11", "3.12", "3.13")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line.strip())
            assert match, f"the lock has a line that is not an exact pin: {line!r}"
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements() -> list[Requirement]:
    project = _project()
    return [Requirement(r) for r in project["dependencies"]] + [
        Requirement(r) for extra in project["optional-dependencies"].values() for r in extra
    ]


def test_the_library_declares_ranges_not_pins():
    for requirement in map(Requirement, _project()["dependencies"]):
        operators = {spec.operator for spec in requirement.specifier}
        assert operators and operators <= {">=", "<", "!="}, f"{requirement}: give a tested floor (>=), not a pin"


def test_every_supported_python_is_admitted():
    admitted = SpecifierSet(_project()["requires-python"])
    for python in SUPPORTED:
        assert Version(python) in admitted, f"requires-python {admitted} refuses Python {python}"


def test_the_lock_satisfies_every_requirement_and_has_no_local_label():
    locked = locked_versions()
    for name, pinned in locked.items():
        # a local label (torch's +cpu) is served by no public index: the set-up would fail elsewhere
        assert Version(pinned).local is None, f"{name}=={pinned}: drop the +label from the lock (`make lock` does)"
    for requirement in _requirements():
        name = normalise(requirement.name)
        assert name in locked, f"{requirement.name} is required but not locked: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"the lock pins {name}=={locked[name]}, outside pyproject.toml's {requirement}"
        )


def test_environment_yml_installs_the_course_from_the_lock():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-c requirements/constraints.txt", "-e .[course]"]
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python"))
    admitted = SpecifierSet(python.removeprefix("python"))
    assert all(Version(v) in admitted for v in SUPPORTED), f"environment.yml's {python} refuses a supported Python"


def test_installed_versions_are_the_locked_ones():
    locked = locked_versions()
    for requirement in _requirements():
        name = normalise(requirement.name)
        # this machine's torch is the local CPU build of the locked release (2.13.0+cpu is 2.13.0)
        assert Version(installed_version(requirement.name)).public == locked[name], (
            f"{requirement.name} {installed_version(requirement.name)} is installed, the lock has {locked[name]}"
        )
