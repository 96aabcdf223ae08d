"""A notebook's time budget (SandboxedExecute.max_notebook_seconds, issue 25), graded end to end: a
student whose cell sleeps far past the budget (each cell under the per-cell limit) holds the class
no longer than the budget; the rest of that notebook is not run and scores 0, the feedback and the
log say why, and the control student graded after them keeps every point."""
from __future__ import annotations

import time

import nbformat
import pytest
from nbgrader.api import Gradebook

import hostile_submissions as hostile
from conftest import nbgrader
from grading_helpers import filled_in, make_course, require_sandbox, submit
from notebooks import grading

CHAPTER = "01_embeddings"
BUDGET = 20  # seconds per notebook in this test (the default is 600)


@pytest.mark.slow
def test_a_notebook_past_its_time_budget_is_stopped_and_the_next_student_starts_on_time(tmp_path):
    require_sandbox()
    course = make_course(tmp_path / "course", CHAPTER)
    sleeper = filled_in(CHAPTER, course)
    free_cells = [c for c in sleeper.cells if c.cell_type == "code" and not grading(c)]
    free_cells[0].source = hostile.SLEEPS_PAST_THE_BUDGET  # after test_one_hot: 100 s, under the 120 s cell limit
    submit(course, "a_sleeper", CHAPTER, sleeper)  # graded first
    submit(course, "b_control", CHAPTER, filled_in(CHAPTER, course))

    start = time.monotonic()
    result = nbgrader("autograde", CHAPTER, "--log-level=WARN", f"--SandboxedExecute.max_notebook_seconds={BUDGET}",
                      cwd=course)
    seconds = time.monotonic() - start
    log = result.stdout + result.stderr
    # The budget, two students' kernels and nbgrader's start: far less than the 100 s sleep.
    assert seconds < BUDGET + 50, f"autograde took {seconds:.0f} s"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        parts = {s: {g.name: g.score for g in gradebook.find_submission_notebook(CHAPTER, CHAPTER, s).grades
                     if g.cell_type == "code"} for s in ("a_sleeper", "b_control")}
    assert parts["b_control"] == {"test_one_hot": 3, "test_embed": 3, "test_cosine_similarity": 3}, log[-3000:]
    assert parts["a_sleeper"] == {"test_one_hot": 3, "test_embed": 0, "test_cosine_similarity": 0}, log[-3000:]
    said = f"the notebook used up its time budget of {BUDGET} s"
    assert "'a_sleeper'" in log and said in log, log[-3000:]
    graded = nbformat.read(course / "autograded" / "a_sleeper" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    not_run = {grading(c).get("grade_id") for c in graded.cells if c.cell_type == "code" and any(
        said in o.get("evalue", "") for o in c.get("outputs", []))}
    assert {"test_embed", "test_cosine_similarity"} <= not_run, not_run  # in the tests' output: the feedback
