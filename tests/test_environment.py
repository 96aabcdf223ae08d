"""pyproject.toml, environment.yml and the constraints file pin the same versions."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = _pins(requirements)
    assert len(pins) == len(requirements), "every dependency in pyproject.toml is pinned with =="
    return pins


def test_environment_yml_pins_the_same_versions_as_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pyproject_pins()
    assert "python=3.11" in environment["dependencies"]


def test_constraints_file_agrees_with_pyproject_and_pins_cpu_torch():
    locked = _pins((ROOT / "requirements" / "constraints.txt").read_text().splitlines())
    for name, version in _pyproject_pins().items():
        # a local version label (+cpu) is the same release
        assert locked.get(name, "").split("+")[0] == version, f"{name}: pyproject {version}, constraints {locked.get(name)}"
    assert locked["torch"] == "2.13.0+cpu"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in _pyproject_pins().items():
        assert version(name).split("+")[0] == pinned, f"{name} {version(name)} is installed, {pinned} is pinned"
