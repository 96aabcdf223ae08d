"""Shared fixtures: the repository layout, the built book and a temporary nbgrader course built from solutions/."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The grader's tests (tests/grading/) keep their helpers beside them; other suites use them too.
sys.path.insert(1, str(Path(__file__).resolve().parent / "grading"))


@pytest.hookimpl(optionalhook=True)  # only with pytest-xdist, for pyproject's `-n auto`
def pytest_xdist_auto_num_workers(config) -> int:
    """One worker more than the cores, at most 8. Much of the suite waits: on the package index
    (tests/test_setup.py), on sleeping or looping submissions until their time limits, on kernels
    starting and Chromium loading pages. With a worker per core, the 2 cores CI has were idle 9 % of
    the run (3 workers: under 2 %), and the run ended on one worker. The gain is small and this
    machine's speed drifts by more: pytest's own time, 2 then 3 workers from one clone, was 721 s
    then 709 s while a fixed CPU workload became 1.07 -> 1.21 s slower over the second run."""
    return max(2, min(8, (os.cpu_count() or 1) + 1))


# Parallel workers share the cores: each worker's processes (notebook kernels, the book build,
# graded kernels) get their share of threads. More OpenMP threads than cores make torch wait at
# every barrier for a descheduled thread: the book build took 3.5x longer that way.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "").isdigit():
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(_name, _share)
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
    assignment generated into exercises/ exactly as `make exercises` does. Generated once per
    run, then copied, so that each parallel worker (pytest-xdist) grades in a course of its own."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "released-course"
    with FileLock(f"{shared}.lock"):
        if not (shared / "exercises").is_dir():
            building = shared.with_name("released-course.partial")
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir()
            shutil.copy(ROOT / "nbgrader_config.py", building)
            shutil.copytree(ROOT / "solutions", building / "solutions")
            # `nbgrader generate_assignment <chapter>` for every chapter, as `make exercises` runs it,
            # in one process (nbgrader's start-up, a second each, paid once)
            generate = (
                "import sys\n"
                "from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp\n"
                "for chapter in sys.argv[1:]:\n"
                "    app = GenerateAssignmentApp()\n"
                "    app.initialize([chapter, '--log-level=WARN'])\n"
                "    app.start()\n"
            )
            result = subprocess.run([sys.executable, "-c", generate, *CHAPTERS], cwd=building, env=tool_env(),
                                    capture_output=True, text=True, timeout=600)
            if result.returncode != 0 or not all((building / "exercises" / c).is_dir() for c in CHAPTERS):
                pytest.fail(f"nbgrader generate_assignment failed:\n{result.stdout}\n{result.stderr}")
            building.rename(shared)
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(shared, course, dirs_exist_ok=True)
    return course


# Parallel runs (pytest-xdist, see pyproject.toml's addopts): a group of tests runs on one worker, in
# order. Tests of one file share its module-scoped fixtures, so a file is a group; the book's tests
# share one book build; the tests that read tests/grading/test_nbgrader.py's one graded class are a
# group, and that file's other tests a group per chapter. The longest groups start first, so that no
# worker is left with a long one at the end. (pytest-xdist's own `--dist loadgroup` does not work
# with pytest 9.2, which ignores the node ids it rewrites: this course's scheduler below is xdist's
# loadscope with these groups as its scopes.)
LONG_GROUPS_FIRST = [
    "book",
    "graded class",
    "tests/grading/test_autograde_sandbox.py",
    "tests/grading/test_autograde_tampering.py",
    "tests/grading/test_parallel_grading.py",
    "tests/test_benchmarks.py",
    "nbgrader 13_huggingface",
    "nbgrader 11_classification",
    "nbgrader 12_modern_attention",
    "nbgrader 10_pretrained",
    "tests/test_setup.py",
]
_CHAPTER_PARAMETER = re.compile(r"\[(\d\d_[a-z_]+)\]$")


def group_of(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    if path in ("tests/test_book.py", "tests/test_browser.py"):
        return "book"
    chapter = _CHAPTER_PARAMETER.search(nodeid)
    if path == "tests/grading/test_nbgrader.py" and chapter:
        # The tests that read the one graded class share its module-scoped fixture; the others
        # (Validate, the release's contents) are a group per chapter.
        if "::test_autograde_round_trip[" in nodeid or "::test_an_answer_that_warns" in nodeid:
            return "graded class"
        return f"nbgrader {chapter.group(1)}"
    return path


def pytest_collection_modifyitems(config, items):
    """Longest groups first; a stable sort, so each group's tests stay together and in order."""
    order = {name: rank for rank, name in enumerate(LONG_GROUPS_FIRST)}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(group_of(item.nodeid), index)
    items.sort(key=lambda item: (order.get(group_of(item.nodeid), len(order)), first_seen[group_of(item.nodeid)]))


@pytest.hookimpl(optionalhook=True)  # only with pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


README_MARKER = "<!-- tests/test_setup.py reads these commands: make runs exactly them, and the install resolves -->"


def plain_commands() -> list[str]:
    """The README's set-up without make, one command per line (the code block after its marker)."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(re.escape(README_MARKER) + r"\n```bash\n(.*?)\n```", readme, re.S)
    assert block, f"README.md has no code block after {README_MARKER}"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture(scope="session")
def book_build_log() -> str:
    """Build the book once per pytest run, exactly as the README's `make book` does (cached execution),
    or, where make is missing (Windows), with the README's plain build command; tests/test_book.py and
    tests/test_browser.py both read the result."""
    if shutil.which("make"):
        command = ["make", "--no-print-directory", "book"]
    else:
        command = shlex.split(next(c for c in plain_commands() if c.startswith("jupyter-book build")))
    result = subprocess.run(command, cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=1200)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"the book build failed:\n{log[-6000:]}"
    return log
