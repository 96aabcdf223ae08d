"""The README's set-up, as a learner without make would type it, and on the Pythons we support.

The plain commands are read from README.md (the block after its `tests/test_setup.py` marker),
never copied here: `make` must run exactly them, the book's set-up page shows the same, and the
install resolves the whole lock on Python 3.12 and 3.13 (pip's dry run, in a fresh virtual
environment each)."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, plain_commands
from test_environment import locked_versions, normalise


def _require_make() -> None:
    if not shutil.which("make"):
        pytest.skip("make is not installed (apt-get install make; macOS: xcode-select --install)")


def _make_commands() -> list[str]:
    """What `make book test` runs in a fresh clone (no .venv), one command per line, with the venv's
    bin/ prefix, --quiet and the Makefile's own environment tweaks taken out."""
    _require_make()
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "book", "test", "VENV=/nonexistent/.venv", "PYTHON=python"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    commands = []
    for line in dry_run.replace("\\\n", " ").splitlines():
        line = re.sub(r"^.*?;\s*set -x;\s*", "", line)  # the book recipe's cache check before its command
        line = line.replace("/nonexistent/.venv/bin/", "").replace("env -u MPLBACKEND ", "").replace(" --quiet", "")
        commands.append(" ".join(line.split()))
    return commands


def test_make_runs_the_readmes_plain_commands():
    readme = plain_commands()
    assert readme[0] == "python -m venv .venv" and readme[1] == "source .venv/bin/activate", readme
    made = _make_commands()
    assert "python -m venv /nonexistent/.venv" in made, made
    for command in readme[2:]:
        assert any(line == command or line.startswith(command + " ") for line in made), (
            f"README's {command!r} is not what make runs:\n" + "\n".join(made)
        )


def test_the_setup_page_shows_the_readmes_plain_commands():
    """book/setup.md repeats the README's plain commands for readers of the book (the test above checks them against make)."""
    page = (ROOT / "book" / "setup.md").read_text()
    blocks = [[line.strip() for line in block.splitlines() if line.strip()]
              for block in re.findall(r"```bash\n(.*?)\n```", page, re.S)]
    assert plain_commands() in blocks


def test_make_refuses_an_unsupported_python_in_one_line(tmp_path):
    """Python 3.10 (or a missing one): one line naming the supported versions, no pip traceback, no venv."""
    _require_make()
    old = _interpreter("3.10") or str(tmp_path / "python3.10-missing")
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "--no-print-directory", "setup", f"VENV={venv}", f"PYTHON={old}"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]  # make's own "*** Error 1"
    assert len(ours) == 1 and "Python 3.11, 3.12 or 3.13" in ours[0] and old in ours[0], result.stderr
    assert not venv.exists() and "Traceback" not in result.stdout + result.stderr


def test_make_uses_the_newest_supported_python_and_says_which(tmp_path):
    _require_make()
    newest = next((python for python in ("3.13", "3.12", "3.11") if shutil.which(f"python{python}") and _interpreter(python) == shutil.which(f"python{python}")), None)
    if newest is None:
        pytest.skip("no python3.11, python3.12 or python3.13 on PATH (make then tries python3)")
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "setup", f"VENV={tmp_path / 'venv'}"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"{shutil.which(f'python{newest}')} -m venv {tmp_path / 'venv'}" in dry_run, dry_run
    assert "Creating .venv with" in dry_run


def _interpreter(python: str) -> str | None:
    """A working Python `python` (e.g. "3.12"): python3.12 on PATH, else pyenv's, else None."""
    candidates = [shutil.which(f"python{python}")] + sorted(map(str, Path.home().glob(f".pyenv/versions/{python}.*/bin/python")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == python:
            return candidate
    return None


NEWER_PYTHONS = ("3.12", "3.13")


def _resolve_the_readmes_install(interpreter: str, folder: Path) -> tuple[dict[str, str], str]:
    """The README's venv and pip commands, run by `interpreter` in `folder`, with the course's install as
    pip's dry run: the versions it would install (by normalised name) and what the index publishes of torch."""
    venv_python = str(folder / ".venv" / "bin" / "python")
    report = folder / "report.json"
    for command in plain_commands():
        words = shlex.split(command)
        if words[0] == "source":  # activation: the commands below name the venv's python instead
            continue
        if words[:3] == ["python", "-m", "venv"]:
            subprocess.run([interpreter, *words[1:]], cwd=folder, check=True)
        elif words[:4] == ["python", "-m", "pip", "install"] and "-e" in words:
            # from the repository root, as the README says (its paths are relative to it)
            words = [venv_python, *words[1:4], "--dry-run", "--ignore-installed", "--report", str(report), *words[4:]]
            resolved = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=600)
            assert resolved.returncode == 0, resolved.stderr[-4000:]
        elif words[:2] == ["python", "-m"] and words[2] == "pip":
            subprocess.run([venv_python, *words[1:]], cwd=folder, check=True, capture_output=True)
        # the book build and pytest are what `make book` and `make test` run (test above)
    chosen = {normalise(item["metadata"]["name"]): item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    index = subprocess.run([venv_python, "-m", "pip", "index", "versions", "torch"], capture_output=True, text=True)
    return chosen, index.stdout + index.stderr


@pytest.fixture(scope="module")
def newer_python_resolutions(tmp_path_factory):
    """Both Pythons' resolutions, started together: each waits mostly on the package index, so side by
    side they take the time of one. A Python that is not installed here maps to None."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(NEWER_PYTHONS)) as pool:
        futures = {}
        for python in NEWER_PYTHONS:
            interpreter = _interpreter(python)
            futures[python] = interpreter and pool.submit(_resolve_the_readmes_install, interpreter, tmp_path_factory.mktemp(f"python{python}"))
        yield futures


@pytest.mark.slow
@pytest.mark.parametrize("python", NEWER_PYTHONS)
def test_the_readmes_install_resolves_on_newer_pythons(python, newer_python_resolutions):
    """The README's venv and pip commands, run by Python 3.12 and 3.13 in a fresh folder; the course's
    install with pip's --dry-run: it must resolve every locked package at its locked version, and the
    index must publish the locked torch for this Python. (A real install is not attempted: this image's
    package mirror holds only stubs of the CUDA libraries that PyPI's Linux torch wheel needs, a fact
    about this machine, not about the course.)"""
    resolution = newer_python_resolutions[python]
    if resolution is None:
        pytest.skip(f"Python {python} is not installed here (neither python{python} on PATH nor pyenv's)")
    chosen, index = resolution.result()
    assert "course-lib" in chosen
    locked = locked_versions()
    wrong = {name: (chosen[name], pinned) for name, pinned in locked.items() if name in chosen and chosen[name] != pinned}
    assert not wrong, f"Python {python} would install other versions than the lock's: {wrong}"
    assert chosen["torch"] == locked["torch"]
    published = re.search(r"Available versions: (.*)", index)
    assert published and locked["torch"] in published.group(1).split(", "), index
