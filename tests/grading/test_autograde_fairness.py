"""A correct answer never loses points to a warning.

nbgrader gives 0 to a test cell that writes anything to stderr, and a warning is written there.
Each answer below is correct, but warns while a hidden test runs it: numpy about log(0) (chapter 4's
entropy with 0 log 0 taken as 0, on rows that hold zeros; chapter 10's additive mask as the log of
the 0/1 mask), PyTorch about copy-constructing a tensor (chapter 8's greedy_decode ending in
torch.tensor(...)). Graded in the course's trusted kernel, the warning is shown as a note on stdout
and the answer earns every point, as the reference graded beside it does."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT, nbgrader
from grading_helpers import filled_in, make_course, require_sandbox, submit
from notebooks import as_submitted, cells_by_id, graded_test_cells, grading, solution_notebook


def _greedy_decode_that_copies() -> str:
    source = as_submitted(cells_by_id(solution_notebook("08_transformer"))["greedy_decode"].source)
    assert "return generated[:, 1:]" in source
    return source.replace("return generated[:, 1:]", "return torch.tensor(generated[:, 1:])  # copies, and warns")


# chapter, graded function, a correct answer that warns, the warning's category
CASES = {
    "04_softmax": ("entropy", '''def entropy(p, axis=-1):
    p = np.asarray(p, dtype=float)
    return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=axis)
''', "RuntimeWarning"),
    "10_pretrained": ("additive_attention_mask", '''def additive_attention_mask(attention_mask):
    return np.log(np.asarray(attention_mask, dtype=float))[:, None, None, :]  # log 1 = 0, log 0 = -inf
''', "RuntimeWarning"),
    "08_transformer": ("greedy_decode", None, "UserWarning"),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def graded(request, tmp_path_factory):
    require_sandbox()
    chapter = request.param
    function, answer, category = CASES[chapter]
    course = make_course(tmp_path_factory.mktemp("fairness") / "course", chapter)
    submit(course, "a_reference", chapter, filled_in(chapter, course))
    submit(course, "b_warns", chapter, filled_in(chapter, course, {function: answer or _greedy_decode_that_copies()}))
    result = nbgrader("autograde", chapter, "--log-level=WARN", cwd=course)
    return chapter, function, category, course, result.stdout + result.stderr


@pytest.mark.slow
def test_an_answer_that_warns_earns_every_point(graded):
    chapter, function, category, course, log = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission_notebook(chapter, chapter, s).code_score for s in ("a_reference", "b_warns")}
    release = nbformat.read(course / "exercises" / chapter / f"{chapter}.ipynb", as_version=4)
    full = sum(grading(c)["points"] for c in graded_test_cells(release))
    assert scores == {"a_reference": full, "b_warns": full}, log[-3000:]
    nb = nbformat.read(course / "autograded" / "b_warns" / chapter / f"{chapter}.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if grading(c).get("grade_id") == f"test_{function}")
    streams = [o for o in test_cell.outputs if o.output_type == "stream"]
    assert not [o for o in streams if o.name == "stderr"], streams
    note = "".join(o.text for o in streams if o.name == "stdout")
    assert f"Note (no points lost): your code warned: {category}" in note, note
    assert str(ROOT) not in note, "the note shows a path of the grader's machine"
