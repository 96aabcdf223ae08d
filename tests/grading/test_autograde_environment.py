"""What a graded kernel imports and sees of the grader's environment.

Graded from a copy of the course in another folder, with the clone that the environment's
editable install points at hidden from the sandbox (as a clone under the grader's /tmp is): the
kernels must import the copy's own course_lib, so a correct answer earns every automatic point
(before, every test cell failed with ModuleNotFoundError and the whole class scored 0 without a
word). And the kernel's environment is an allowlist: a secret in the grader's environment, under
any name, never reaches a submission."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT, tool_env
from grading_helpers import filled_in, make_course, require_sandbox, submit
from notebooks import as_submitted, cells_by_id, graded_test_cells, grading, solution_notebook

CHAPTER = "01_embeddings"
SECRET = "hunter2-6f1c"  # a password no output may show
GRADER_SECRETS = {"COURSE_DB": f"postgresql://grader:{SECRET}@db/grades", "MYSQL_PWD": SECRET, "HARMLESS_NAME": SECRET}
SPY = "import os as _os, course_lib as _cl\nprint('COURSELIB', _cl.__file__)\nprint('ENVIRONMENT', sorted(_os.environ.items()))\n"


@pytest.fixture(scope="module")
def graded_copy(tmp_path_factory):
    require_sandbox()
    course = make_course(tmp_path_factory.mktemp("copy") / "course", CHAPTER)
    for package in ("course_lib", "autograder"):  # a copy of the course holds both
        shutil.copytree(ROOT / package, course / package, ignore=shutil.ignore_patterns("__pycache__"))
    submit(course, "a_correct", CHAPTER, filled_in(CHAPTER, course))
    one_hot = as_submitted(cells_by_id(solution_notebook(CHAPTER))["one_hot"].source)
    submit(course, "b_spy", CHAPTER, filled_in(CHAPTER, course, {"one_hot": SPY + one_hot}))
    env = {**tool_env(), **GRADER_SECRETS}
    # the clone the editable install points at, hidden from the kernels
    hidden = sorted({*installed_packages(env), str(ROOT / "course_lib"), str(ROOT / "autograder")})
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", CHAPTER, "--log-level=WARN",
         *(f"--SandboxedKernelManager.extra_private_paths={path}" for path in hidden)],
        cwd=course, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return course, result.stdout + result.stderr


def installed_packages(env) -> list[str]:
    """Where the environment's install of course_lib and autograder lies (the clone it points at)."""
    code = "import course_lib, autograder, os; print(*(os.path.dirname(m.__file__) for m in (course_lib, autograder)))"
    return subprocess.run([sys.executable, "-c", code], cwd="/", env={k: v for k, v in env.items() if k != "PYTHONPATH"},
                          capture_output=True, text=True, check=True).stdout.split()


def _score(course, student: str) -> float:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission_notebook(CHAPTER, CHAPTER, student).code_score


def _max_score(course) -> float:
    release = nbformat.read(course / "exercises" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    return sum(grading(c)["points"] for c in graded_test_cells(release))


@pytest.mark.slow
def test_a_copy_of_the_course_grades_with_its_own_course_lib(graded_copy):
    course, log = graded_copy
    assert _score(course, "a_correct") == _max_score(course) > 0, log[-3000:]
    graded = (course / "autograded" / "b_spy" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert f"COURSELIB {course / 'course_lib' / '__init__.py'}" in graded


@pytest.mark.slow
def test_no_variable_of_the_graders_environment_reaches_a_submission(graded_copy):
    course, log = graded_copy
    graded = (course / "autograded" / "b_spy" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert "ENVIRONMENT" in graded and "'HOME', '/tmp'" in graded, "the spy's print did not run"
    for name in GRADER_SECRETS:
        assert f"'{name}'" not in graded
    assert SECRET not in graded and SECRET not in log
    assert _score(course, "b_spy") == _max_score(course), log[-3000:]  # printing costs nothing
