"""A correct answer never loses points to a warning.

nbgrader gives 0 to a test cell that writes anything to stderr, and a warning is written there.
The answer below is correct (it is the textbook formula with 0 log 0 taken as 0), but numpy warns
about log(0) on the hidden tests' rows that hold zeros: graded in the course's trusted kernel,
the warning is shown as a note on stdout and the answer earns every point."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT, nbgrader
from grading_helpers import filled_in, make_course, require_sandbox, submit
from notebooks import graded_test_cells, grading

CHAPTER = "04_softmax"
WARNING_ENTROPY = '''def entropy(p, axis=-1):
    p = np.asarray(p, dtype=float)
    return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=axis)
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_sandbox()
    course = make_course(tmp_path_factory.mktemp("fairness") / "course", CHAPTER)
    submit(course, "a_reference", CHAPTER, filled_in(CHAPTER, course))
    submit(course, "b_warns", CHAPTER, filled_in(CHAPTER, course, {"entropy": WARNING_ENTROPY}))
    result = nbgrader("autograde", CHAPTER, "--log-level=WARN", cwd=course)
    return course, result.stdout + result.stderr


@pytest.mark.slow
def test_an_answer_that_warns_earns_every_point(graded):
    course, log = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission_notebook(CHAPTER, CHAPTER, s).code_score for s in ("a_reference", "b_warns")}
    release = nbformat.read(course / "exercises" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    full = sum(grading(c)["points"] for c in graded_test_cells(release))
    assert scores == {"a_reference": full, "b_warns": full}, log[-3000:]
    nb = nbformat.read(course / "autograded" / "b_warns" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if grading(c).get("grade_id") == "test_entropy")
    streams = [o for o in test_cell.outputs if o.output_type == "stream"]
    assert not [o for o in streams if o.name == "stderr"], streams
    note = "".join(o.text for o in streams if o.name == "stdout")
    assert "Note (no points lost): your code warned: RuntimeWarning" in note, note
    assert str(ROOT) not in note, "the note shows a path of the grader's machine"
