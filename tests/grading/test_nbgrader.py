"""The instructor's cycle with nbgrader, end to end, in a temporary course directory:
release (generate_assignment), then autograde two submissions per chapter (every answer right;
one wrong) and read the scores back from the gradebook. That the untouched release earns nothing
is nbgrader's Validate --invert below (the same grade-cell rule, in one kernel instead of the sandbox)."""
from __future__ import annotations

import csv

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import CHAPTERS, ROOT, nbgrader
from grading_helpers import filled_in as _filled_in, require_sandbox, submit as _submit
from notebooks import (
    HIDDEN_REGION,
    SOLUTION_REGION,
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


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_autograde_round_trip(course_dir, chapter):
    require_sandbox()  # autograde runs every submission in autograder's sandbox
    release = release_notebook(chapter, root=course_dir)
    part_points = {grading(c)["grade_id"]: grading(c)["points"] for c in graded_test_cells(release)}
    total = sum(part_points.values())
    # The last part: earlier parts may be used by later ones, so a wrong last part costs only its own points.
    last_function, wrong_answers = list(WRONG_ANSWERS[chapter].items())[-1]
    wrong_code = next(iter(wrong_answers.values()))

    _submit(course_dir, "perfect", chapter, _filled_in(chapter, course_dir))
    _submit(course_dir, "one_wrong", chapter, _filled_in(chapter, course_dir, {last_function: wrong_code}))
    result = nbgrader("autograde", chapter, "--log-level=WARN", cwd=course_dir)

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        scores = {
            student: gradebook.find_submission_notebook(chapter, chapter, student).code_score
            for student in ("perfect", "one_wrong")
        }
        needs_manual = gradebook.find_submission_notebook(chapter, chapter, "perfect").needs_manual_grade
    assert scores == {
        "perfect": total,
        "one_wrong": total - part_points[f"test_{last_function}"],
    }, result.stderr
    assert needs_manual, "a written answer must wait for manual grading"

    # The rest of the instructor's cycle: HTML feedback per student, then the grades as CSV.
    nbgrader("generate_feedback", chapter, "--log-level=WARN", cwd=course_dir)
    for student in scores:
        feedback = (course_dir / "feedback" / student / chapter / f"{chapter}.html").read_text()
        assert f"Score: {scores[student]:.1f} / " in feedback, f"{student}'s feedback does not show the score"
    nbgrader("export", "--to", "grades.csv", "--log-level=WARN", cwd=course_dir)
    with open(course_dir / "grades.csv", newline="") as table:
        exported = {
            row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(table) if row["assignment"] == chapter
        }
    assert exported == scores


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
