"""Shared fixtures: the repository layout, the built book and a temporary nbgrader course built from solutions/."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name[:2].isdigit())


def tool_env() -> dict[str, str]:
    """Environment for nbgrader and Jupyter subprocesses: this interpreter's bin first on PATH
    (nbgrader runs `alembic` by name)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run an nbgrader command in a course directory; fail the test with its log on error."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def course_dir(tmp_path_factory) -> Path:
    """A fresh course directory with the real nbgrader_config.py and solutions/, every
    assignment generated into exercises/ exactly as `make exercises` does."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    for chapter in CHAPTERS:
        nbgrader("generate_assignment", chapter, "--log-level=WARN", cwd=course)
    return course


@pytest.fixture(scope="session")
def book_build_log() -> str:
    """Build the book once per pytest run, exactly as the README's `make book` does (cached execution);
    tests/test_book.py and tests/test_browser.py both read the result."""
    result = subprocess.run(
        ["make", "--no-print-directory", "book"], cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=1200
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"the book build failed:\n{log[-6000:]}"
    return log
