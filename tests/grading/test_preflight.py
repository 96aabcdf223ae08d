"""Before grading a class, autograde checks that the reference solution earns every automatic point in
the same sandbox (autograder/preflight.py), and refuses to grade, writing nothing, when it does not:
a grader that cannot grade must not hand out silent zeros."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import tool_env
from grading_helpers import course_tree, filled_in, make_course, require_sandbox, submit
from notebooks import cells_by_id
from test_autograde_environment import installed_packages

CHAPTER = "01_embeddings"
POINTS = 9  # the automatic points of exercise 1


def _autograde(course, *options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", "autograde", CHAPTER, "--force", *options],
                          cwd=course, env=tool_env(), capture_output=True, text=True, timeout=600)


def _state(course) -> dict:
    """What a refused run must leave as it was: the gradebook and every graded notebook."""
    return {"gradebook": (course / "gradebook.db").read_bytes(),
            "autograded": course_tree(course / "autograded", skip={".preflight"})}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    require_sandbox()
    course = make_course(tmp_path_factory.mktemp("preflight") / "course", CHAPTER)
    submit(course, "alice", CHAPTER, filled_in(CHAPTER, course))
    first = _autograde(course)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"preflight: the reference solution of {CHAPTER} scores {POINTS}/{POINTS} in the sandbox" in first.stderr
    return course


@pytest.mark.slow
def test_a_pass_is_remembered_until_what_decides_it_changes(course):
    again = _autograde(course)
    assert again.returncode == 0 and f"scores {POINTS}/{POINTS} in the sandbox (remembered)" in again.stderr
    # Another limit for the kernels is another sandbox: checked again, not remembered.
    other = _autograde(course, "--SandboxedKernelManager.max_processes=120")
    assert other.returncode == 0 and f"scores {POINTS}/{POINTS} in the sandbox\n" in other.stderr, other.stderr[-2000:]


@pytest.mark.slow
def test_no_importable_course_lib_in_the_kernel_stops_the_grading_and_changes_nothing(course):
    """The defect of issue 19: the kernels could not import course_lib, every test failed, every
    student scored 0 and autograde exited 0. Now: exit 1, one line naming the assignment and the cause."""
    before = _state(course)
    hidden = sorted({*installed_packages(tool_env())})
    refused = _autograde(course, *(f"--SandboxedKernelManager.extra_private_paths={path}" for path in hidden))
    assert refused.returncode == 1, refused.stderr[-3000:]
    errors = [line for line in refused.stderr.splitlines() if "| ERROR]" in line]
    assert errors[0].startswith(f"[AutogradeApp | ERROR] preflight: the reference solution of {CHAPTER} scores 0/{POINTS}"), errors
    assert "ModuleNotFoundError: No module named 'course_lib'" in errors[0]
    assert "Autograding" not in refused.stderr  # no student was started
    assert _state(course) == before


@pytest.mark.slow
def test_a_broken_reference_solution_stops_the_grading(course, tmp_path):
    source = course / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    kept = tmp_path / "kept.ipynb"
    shutil.copy(source, kept)
    nb = nbformat.read(source, as_version=4)
    cell = cells_by_id(nb)["embed"]
    cell.source = cell.source.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    return np.zeros((len(ids), np.shape(table)[1]))  # wrong\n")
    assert "# wrong" in cell.source
    nbformat.write(nb, source)
    before = _state(course)
    try:
        refused = _autograde(course)
    finally:
        shutil.copy(kept, source)
    assert refused.returncode == 1
    assert f"preflight: the reference solution of {CHAPTER} scores " in refused.stderr
    assert f"/{POINTS} in the sandbox, so no submission was graded: test_embed: AssertionError" in refused.stderr
    assert _state(course) == before


@pytest.mark.slow
def test_parallel_grading_checks_the_reference_once_and_refuses_too(course):
    before = _state(course)
    hidden = sorted({*installed_packages(tool_env())})
    refused = subprocess.run(
        [sys.executable, "-m", "autograder.parallel", CHAPTER, "--jobs", "1", "--force",
         *(f"--SandboxedKernelManager.extra_private_paths={path}" for path in hidden)],
        cwd=course, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert refused.returncode == 1
    assert f"error: preflight: the reference solution of {CHAPTER} scores 0/{POINTS}" in refused.stderr
    assert _state(course) == before
