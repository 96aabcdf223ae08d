"""The instructor's cycle with nbgrader, end to end, in a temporary course directory: release
(generate_assignment), then one class graded as an instructor grades a term: every chapter's
submissions autograded by one `nbgrader autograde "*"`, then feedback and the grades as CSV. Before it
grades anyone, autograde's preflight puts each chapter's reference solution through the same sandboxed
steps and must find every automatic point; then, per chapter, a student who filled in the release
with the model answers but the last part wrong must lose exactly that part's points (so every other
part of the release, filled in, earns its points). The scores are read back from the gradebook, the
feedback and the export. That the untouched release earns nothing is nbgrader's Validate --invert
below (the same grade-cell rule, in one kernel instead of the sandbox).

A correct answer never loses points to a warning. nbgrader gives 0 to a test cell that writes anything
to stderr, and a warning is written there. Another student hands in answers that are correct but warn
while a hidden test runs them: numpy about log(0) (chapter 4's entropy with 0 log 0 taken as 0, on rows
that hold zeros; chapter 10's additive mask as the log of the 0/1 mask), PyTorch about copy-constructing
a tensor (chapter 8's greedy_decode ending in torch.tensor(...)). Graded in the course's trusted kernel,
the warning is shown as a note on stdout and the answer earns every point."""
from __future__ import annotations

import csv
import json

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import CHAPTERS, ROOT, nbgrader
from grading_helpers import filled_in as _filled_in, require_sandbox, submit as _submit
from notebooks import (
    HIDDEN_REGION,
    SOLUTION_REGION,
    as_submitted,
    cells_by_id,
    grading,
    hidden_part,
    release_notebook,
    solution_notebook,
    graded_test_cells,
)
from wrong_answers import WRONG_ANSWERS


def test_every_chapter_has_a_release_and_at_least_three_graded_parts():
    assert CHAPTERS == sorted(WRONG_ANSWERS)
    assert CHAPTERS == sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    for chapter in CHAPTERS:
        nb = solution_notebook(chapter)
        graded_tests = graded_test_cells(nb)
        assert len(graded_tests) >= 3, f"{chapter}: fewer than three autograded parts"
        assert all("### BEGIN HIDDEN TESTS" in c.source for c in graded_tests), f"{chapter}: a test cell has no hidden tests"
        assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code"), f"{chapter}: commit without outputs"


def test_graded_functions_are_importable_from_course_lib():
    import course_lib

    for chapter, functions in WRONG_ANSWERS.items():
        for name in functions:
            assert callable(getattr(course_lib, name)), f"course_lib.{name} is missing"
            assert f"def {name}(" in cells_by_id(solution_notebook(chapter))[name].source


@pytest.mark.slow
def test_exercises_are_exactly_what_nbgrader_generates(course_dir):
    """exercises/ is never edited by hand: regenerating it from solutions/ changes no byte."""

    def files(folder):
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    generated, committed = files(course_dir / "exercises"), files(ROOT / "exercises")
    stale = sorted(str(p) for p in generated.keys() | committed.keys() if generated.get(p) != committed.get(p))
    assert not stale, f"exercises/ is out of date with solutions/, run `make exercises`: {stale}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_contains_no_solution_and_no_hidden_test(course_dir, chapter):
    release = (course_dir / "exercises" / chapter / f"{chapter}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Marking guide", "Model answer"):
        assert marker not in release, f"the release of {chapter} contains {marker!r}"
    for cell in solution_notebook(chapter).cells:
        if grading(cell).get("solution") and cell.cell_type == "code":
            for line in SOLUTION_REGION.search(cell.source).group(1).splitlines():
                if line.strip():
                    assert line not in release, f"solution code leaked into the release: {line!r}"
        if "### BEGIN HIDDEN TESTS" in cell.source:
            visible = set(HIDDEN_REGION.sub("", cell.source).splitlines())
            for line in hidden_part(cell.source).splitlines():
                if line.strip() and not line.lstrip().startswith("#") and line not in visible:
                    assert line not in release, f"a hidden test leaked into the release: {line!r}"


def _greedy_decode_that_copies() -> str:
    source = as_submitted(cells_by_id(solution_notebook("08_transformer"))["greedy_decode"].source)
    assert "return generated[:, 1:]" in source
    return source.replace("return generated[:, 1:]", "return torch.tensor(generated[:, 1:])  # copies, and warns")


# chapter: (graded function, a correct answer that warns (None: built above), the warning's category)
WARNS = {
    "04_softmax": ("entropy", """def entropy(p, axis=-1):
    p = np.asarray(p, dtype=float)
    return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=axis)
""", "RuntimeWarning"),
    "10_pretrained": ("additive_attention_mask", """def additive_attention_mask(attention_mask):
    return np.log(np.asarray(attention_mask, dtype=float))[:, None, None, :]  # log 1 = 0, log 0 = -inf
""", "RuntimeWarning"),
    "08_transformer": ("greedy_decode", None, "UserWarning"),
}


def _wrong_last_part(chapter: str) -> tuple[str, str]:
    """The last graded function and a plausible wrong answer to it. The last part: earlier parts
    may be used by later ones, so a wrong last part costs only its own points."""
    last_function, wrong_answers = list(WRONG_ANSWERS[chapter].items())[-1]
    return last_function, next(iter(wrong_answers.values()))


@pytest.fixture(scope="module")
def graded_class(course_dir):
    """Every chapter handed in by `one_wrong` (and by `warns` where WARNS has a case),
    graded by one `nbgrader autograde "*"`, then feedback for everyone and the grades as CSV.
    Returns the course and nbgrader's log."""
    require_sandbox()  # autograde runs every submission in autograder's sandbox
    for chapter in CHAPTERS:
        last_function, wrong_code = _wrong_last_part(chapter)
        _submit(course_dir, "one_wrong", chapter, _filled_in(chapter, course_dir, {last_function: wrong_code}))
        if chapter in WARNS:
            function, answer, _ = WARNS[chapter]
            _submit(course_dir, "warns", chapter,
                    _filled_in(chapter, course_dir, {function: answer or _greedy_decode_that_copies()}))
    result = nbgrader("autograde", "*", "--log-level=WARN", cwd=course_dir)
    nbgrader("generate_feedback", "*", "--log-level=WARN", cwd=course_dir)
    nbgrader("export", "--to", "grades.csv", "--log-level=WARN", cwd=course_dir)
    return course_dir, result.stdout + result.stderr


def _code_scores(course, chapter: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: s.code_score for s in gradebook.find_assignment(chapter).submissions}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_autograde_round_trip(graded_class, chapter):
    course, log = graded_class
    release = release_notebook(chapter, root=course)
    part_points = {grading(c)["grade_id"]: grading(c)["points"] for c in graded_test_cells(release)}
    total = sum(part_points.values())
    last_function, _ = _wrong_last_part(chapter)

    # The reference solution went through the sandbox first, and earned every automatic point.
    preflight = json.loads((course / "autograded" / ".preflight" / f"{chapter}.json").read_text())
    assert preflight["summary"] == f"preflight: the reference solution of {chapter} scores {total:g}/{total:g} in the sandbox"
    score = _code_scores(course, chapter)["one_wrong"]
    assert score == total - part_points[f"test_{last_function}"], log[-3000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        needs_manual = gradebook.find_submission_notebook(chapter, chapter, "one_wrong").needs_manual_grade
    assert needs_manual, "a written answer must wait for manual grading"

    # The rest of the instructor's cycle: HTML feedback per student, then the grades as CSV.
    feedback = (course / "feedback" / "one_wrong" / chapter / f"{chapter}.html").read_text()
    assert f"Score: {score:.1f} / " in feedback, "the feedback does not show the score"
    with open(course / "grades.csv", newline="") as table:
        exported = {
            row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(table) if row["assignment"] == chapter
        }
    assert exported["one_wrong"] == score


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(WARNS))
def test_an_answer_that_warns_earns_every_point(graded_class, chapter):
    course, log = graded_class
    function, _, category = WARNS[chapter]
    scores = _code_scores(course, chapter)
    assert scores["warns"] == sum(
        grading(c)["points"] for c in graded_test_cells(release_notebook(chapter, root=course))), log[-3000:]
    nb = nbformat.read(course / "autograded" / "warns" / chapter / f"{chapter}.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if grading(c).get("grade_id") == f"test_{function}")
    streams = [o for o in test_cell.outputs if o.output_type == "stream"]
    assert not [o for o in streams if o.name == "stderr"], streams
    note = "".join(o.text for o in streams if o.name == "stdout")
    assert f"Note (no points lost): your code warned: {category}" in note, note
    assert str(ROOT) not in note, "the note shows a path of the grader's machine"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_validate_fails_the_release_and_passes_a_finished_notebook(course_dir, chapter, tmp_path):
    """What nbgrader's Validate button reports to a learner. On the release, `nbgrader validate --invert`
    (which lists the graded cells that pass) must list none: the untouched notebook earns no point."""
    from nbgrader.validator import Validator

    release = course_dir / "exercises" / chapter / f"{chapter}.ipynb"
    passing = Validator(invert=True).validate(str(release))
    assert passing == {}, f"the release of {chapter} already passes: {passing}"
    finished = tmp_path / f"{chapter}.ipynb"
    nbformat.write(_filled_in(chapter, course_dir), finished)
    assert Validator().validate(str(finished)) == {}
