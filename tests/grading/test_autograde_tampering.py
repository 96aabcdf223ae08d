"""Tampered and broken submissions: plain `nbgrader autograde` with the course's nbgrader_config.py
(autograder/intake.py plugged into nbgrader's pipeline) grades each as it deserves, says what happened
in its log, and goes on with the others.

The submissions are files kept in tests/grading/submissions/<student>/ (written by
tests/grading/submissions/make_submissions.py, which describes each case). One class of exercise 1 is graded
once: every case, handed in as it is, except ``renamed_dash``, which comes with the good student
``z_good`` (graded last) from an LMS export collected by ``python -m autograder.collection`` (the
hostile exports are in tests/grading/test_collection.py). Before autograder/intake.py, nbgrader 0.9.6 crashed
on five of these submissions (one crash stopped the grading of every later student), left three for
manual grading without a score, and skipped the missing notebook without a grade.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT, nbgrader, tool_env
from grading_helpers import course_tree, filled_in, make_course, require_sandbox, submit_files
from notebooks import grading

CHAPTER = "01_embeddings"
SUBMISSIONS = ROOT / "tests" / "grading" / "submissions"
CASES = sorted(p.name for p in SUBMISSIONS.iterdir() if p.is_dir() and not p.name.startswith("__"))
HANDED_IN = [case for case in CASES if case != "renamed_dash"]
BROKEN = {  # student: what the intake says about the file
    "invalid_json": "not valid JSON",
    "empty_file": "the file is empty (0 bytes)",
    "not_utf8": "not UTF-8 text (byte 0xe9",
}
TIMEOUT = 10  # seconds per cell (the course's default is 120)
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde the class once; returns (course, nbgrader's log, course tree before, collection's output)."""
    require_sandbox()
    folder = tmp_path_factory.mktemp("tampering")
    course = make_course(folder / "course", CHAPTER)
    for case in HANDED_IN:
        submit_files(course, case, CHAPTER, SUBMISSIONS / case)
    export = folder / "export"  # as an LMS gives it: <student>/<assignment>/<file>, zipped
    (export / "z_good" / CHAPTER).mkdir(parents=True)
    nbformat.write(filled_in(CHAPTER, course), export / "z_good" / CHAPTER / f"{CHAPTER}.ipynb")
    shutil.copytree(SUBMISSIONS / "renamed_dash", export / "renamed_dash" / CHAPTER)
    (export / "renamed_dash" / CHAPTER / "timestamp.txt").write_text("2026-01-10 12:00:00 UTC")
    archive = shutil.make_archive(str(folder / "export"), "zip", export)
    collected = subprocess.run([sys.executable, "-m", "autograder.collection", CHAPTER, archive], cwd=course,
                               env=tool_env(), capture_output=True, text=True, timeout=120)
    before = course_tree(course)
    result = nbgrader("autograde", CHAPTER, "--log-level=WARN", f"--ExecutePreprocessor.timeout={TIMEOUT}", cwd=course)
    return course, result.stdout + result.stderr, before, collected


def _parts(course: Path, student: str) -> dict[str, float | None]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(CHAPTER, CHAPTER, student)
        return {g.name: g.auto_score for g in notebook.grades}


def _assert_parts(graded, student: str, **points: float) -> None:
    """The student's automatic score on each test (test_<name>), as given."""
    course, log = graded[:2]
    scores = _parts(course, student)
    assert {f"test_{n}": scores[f"test_{n}"] for n in points} == {f"test_{n}": p for n, p in points.items()}, \
        _lines(log, student) or log[-3000:]


def _lines(log: str, student: str) -> str:
    return "\n".join(line for line in log.splitlines() if "[intake]" in line and f"'{student}'" in line)


def _graded_notebook(course: Path, student: str):
    return nbformat.read(course / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)


def test_the_submission_files_are_what_the_script_writes():
    """tests/grading/submissions/ is never edited by hand (and follows the release of exercise 1)."""
    from submissions import make_submissions

    assert sorted(make_submissions.CASES) == CASES
    for student, (name, contents) in make_submissions.CASES.items():
        assert [p.name for p in (SUBMISSIONS / student).iterdir()] == [name], student
        assert (SUBMISSIONS / student / name).read_bytes() == contents(), \
            f"tests/grading/submissions/{student} is stale: run .venv/bin/python tests/grading/submissions/make_submissions.py"


def test_broken_files_are_recognised_without_grading():
    from autograder.intake import UnreadableNotebook, read_notebook

    for student, reason in BROKEN.items():
        with pytest.raises(UnreadableNotebook, match=re.escape(reason)):
            read_notebook(str(SUBMISSIONS / student / f"{CHAPTER}.ipynb"))
    nb, notes = read_notebook(str(SUBMISSIONS / "nbformat3" / f"{CHAPTER}.ipynb"))
    assert nb.nbformat == 4 and notes == ["an nbformat 3 notebook, converted to nbformat 4"]
    with pytest.raises(UnreadableNotebook, match="more than the limit"):
        read_notebook(str(SUBMISSIONS / "nbformat3" / f"{CHAPTER}.ipynb"), max_bytes=1000)


def test_links_folders_and_non_notebooks_are_not_read(tmp_path):
    from autograder.intake import UnreadableNotebook, read_notebook

    (tmp_path / "link.ipynb").symlink_to(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")
    (tmp_path / "folder.ipynb").mkdir()
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    (tmp_path / "deep.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "no_cells.ipynb").write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    for name, reason in [("link", "a symbolic link"), ("folder", "not a regular file"),
                         ("list", "not a Jupyter notebook"), ("deep", "not valid JSON"), ("no_cells", "missing an expected key: cells"),
                         ("absent", "cannot be opened")]:
        with pytest.raises(UnreadableNotebook, match=reason):
            read_notebook(str(tmp_path / f"{name}.ipynb"))


def test_lms_renamed_notebooks_are_recognised():
    from autograder.names import lms_renamed

    for name in ("01_embeddings (1)", "01_embeddings-1", "01_embeddings_2", "01_embeddings copy", "my work"):
        assert lms_renamed(["01_embeddings"], [name]) == ({"01_embeddings": name}, {})
    assert lms_renamed(["01_embeddings"], ["01_embeddings", "01_embeddings (1)"]) == ({}, {})
    assert lms_renamed(["01_embeddings"], ["01_embeddings (1)", "01_embeddings (2)"]) == \
        ({}, {"01_embeddings": ["01_embeddings (1)", "01_embeddings (2)"]})
    assert lms_renamed(["a", "b"], ["a", "b-1", "notes"]) == ({"b": "b-1"}, {})
    assert lms_renamed(["a", "b"], ["a", "notes"]) == ({}, {})  # no guess among several notebooks


@pytest.mark.slow
def test_grading_went_through_for_everyone(graded):
    """nbgrader exited 0 (the fixture checks), no student's grading failed, and the good student
    graded last has exactly full marks and no intake line."""
    course, log = graded[:2]
    assert "Traceback" not in log and "There was an error processing" not in log, log[-5000:]
    _assert_parts(graded, "z_good", one_hot=3, embed=3, cosine_similarity=3)
    assert not _lines(log, "z_good")


@pytest.mark.slow
def test_deleted_cells_are_put_back_and_the_rest_is_graded(graded):
    _assert_parts(graded, "deleted_cells", one_hot=0, embed=0, cosine_similarity=3)
    lines = _lines(graded[1], "deleted_cells")
    for what in ("locked cell 'imports' was deleted: put back", "test cell 'test_one_hot' was deleted: put back",
                 "test cell 'test_embed' was deleted: put back", "answer cell 'embed' was deleted"):
        assert what in lines, lines


@pytest.mark.slow
def test_edited_tests_are_graded_in_the_course_version(graded):
    _assert_parts(graded, "edited_tests", one_hot=0, embed=0, cosine_similarity=3)
    lines = _lines(graded[1], "edited_tests")
    assert "test cell 'test_one_hot' (cell 4) was edited" in lines and "'test_embed' (cell 8) was edited" in lines


@pytest.mark.slow
def test_changed_metadata_is_set_back(graded):
    course, log = graded[:2]
    _assert_parts(graded, "changed_metadata", one_hot=3, embed=0, cosine_similarity=0)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(CHAPTER, CHAPTER, "changed_metadata")
        assert (notebook.max_code_score, sorted(g.name for g in notebook.grades)) == \
            (9, ["explain_plot", "test_cosine_similarity", "test_embed", "test_one_hot"])
    lines = _lines(log, "changed_metadata")
    for what in ("'test_one_hot' (cell 4): nbgrader metadata changed (points 100 instead of 3)",
                 "'test_embed' (cell 8): nbgrader metadata changed (cell type markdown instead of code)",
                 "answer cell 'cosine_similarity' (cell 11): nbgrader metadata changed (grade True instead of "
                 "False; points 10 on a cell that is not graded)",
                 "kernelspec 'no-such-kernel' instead of 'python3'"):
        assert what in lines, lines


@pytest.mark.slow
def test_renamed_grade_ids_and_unlocked_tests_earn_nothing(graded):
    _assert_parts(graded, "changed_ids", one_hot=0, embed=0, cosine_similarity=3)
    lines = _lines(graded[1], "changed_ids")
    for what in ("cell 4 claims grade id 'test_one_hot_v2'", "test cell 'test_one_hot' was deleted: put back",
                 "test cell 'test_embed' (cell 8): nbgrader metadata changed (grade False instead of True; "
                 "locked False instead of True; points None instead of 3)", "'test_embed' (cell 8) was edited"):
        assert what in lines, lines


@pytest.mark.slow
def test_added_cells_with_grading_metadata_earn_nothing(graded):
    course, log = graded[:2]
    _assert_parts(graded, "added_cells", one_hot=0, embed=0, cosine_similarity=3)
    assert "bonus" not in _parts(course, "added_cells")
    lines = _lines(log, "added_cells")
    for what in ("cell 20 claims grade id 'bonus', which this notebook does not have",
                 "cell 9 repeats grade id 'test_embed' of cell 10",
                 "test cell 'test_one_hot' (cell 5) was edited"):
        assert what in lines, lines


@pytest.mark.slow
def test_a_renamed_notebook_is_graded_under_the_expected_name(graded):
    course, log = graded[:2]
    _assert_parts(graded, "renamed_copy", one_hot=3, embed=3, cosine_similarity=3)
    assert _graded_notebook(course, "renamed_copy").metadata.kernelspec.name == "python3"
    lines = _lines(log, "renamed_copy")
    assert "graded '01_embeddings (1).ipynb' in its place (a renamed notebook)" in lines, lines
    assert "kernelspec 'bash' instead of 'python3': graded with the course's kernel" in lines, lines


@pytest.mark.slow
def test_an_lms_export_is_collected_then_graded(graded):
    """The happy path of autograder.collection: the renamed notebook is saved under the expected name,
    then nbgrader grades both students with nothing to report."""
    course, log, _, collected = graded
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert collected.stdout.splitlines() == [
        f"took     renamed_dash/{CHAPTER}/{CHAPTER}-1.ipynb -> submitted/renamed_dash/{CHAPTER}/{CHAPTER}.ipynb "
        f"(renamed from {CHAPTER}-1.ipynb)",
        f"took     renamed_dash/{CHAPTER}/timestamp.txt -> submitted/renamed_dash/{CHAPTER}/timestamp.txt",
        f"took     z_good/{CHAPTER}/{CHAPTER}.ipynb -> submitted/z_good/{CHAPTER}/{CHAPTER}.ipynb",
        "3 file(s) taken for 2 student(s), 0 skipped",
    ]
    _assert_parts(graded, "renamed_dash", one_hot=3, embed=3, cosine_similarity=3)
    assert not _lines(log, "renamed_dash")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert str(gradebook.find_submission(CHAPTER, "renamed_dash").timestamp) == "2026-01-10 12:00:00"


@pytest.mark.slow
def test_an_nbformat_3_notebook_is_converted_and_graded(graded):
    _assert_parts(graded, "nbformat3", one_hot=3, embed=3, cosine_similarity=3)
    assert "an nbformat 3 notebook, converted to nbformat 4" in _lines(graded[1], "nbformat3")


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(BROKEN) + ["missing_notebook"])
def test_a_broken_or_missing_notebook_scores_zero_with_a_reason(graded, student):
    course, log = graded[:2]
    assert _parts(course, student) == {"test_one_hot": 0, "test_embed": 0, "test_cosine_similarity": 0,
                                       "explain_plot": 0}, _lines(log, student)
    reason = BROKEN.get(student, "no 01_embeddings.ipynb in the submission (it holds: 01_embeddings.py)")
    error = [line for line in log.splitlines() if "ERROR] [intake]" in line and f"'{student}'" in line]
    assert len(error) == 1 and reason in error[0] and "(0 points)" in error[0], _lines(log, student)
    # The graded notebook (and so the feedback) says why.
    assert "**Not graded: " in _graded_notebook(course, student).cells[0].source


@pytest.mark.slow
def test_another_assignments_notebook_scores_zero_in_one_line(graded):
    course, log = graded[:2]
    _assert_parts(graded, "other_assignment", one_hot=0, embed=0, cosine_similarity=0)
    lines = _lines(log, "other_assignment").splitlines()
    assert len(lines) == 1 and "ERROR" in lines[0] and "none of its answer or test cells belong" in lines[0], lines
    assert "'task_project_qkv'" in lines[0]


@pytest.mark.slow
def test_export_lists_every_student(graded):
    course, log = graded[:2]
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    nbgrader("export", "--to", "grades.csv", "--log-level=WARN", cwd=course)
    with open(course / "grades.csv", newline="") as table:
        exported = {row["student_id"]: (float(row["raw_score"]), float(row["max_score"]))
                    for row in csv.DictReader(table)}
    assert exported == {
        "added_cells": (3, 11), "changed_ids": (3, 11), "changed_metadata": (3, 11), "deleted_cells": (3, 11),
        "edited_tests": (3, 11), "empty_file": (0, 11), "invalid_json": (0, 11), "missing_notebook": (0, 11),
        "nbformat3": (9, 11), "not_utf8": (0, 11), "other_assignment": (0, 11), "renamed_copy": (9, 11),
        "renamed_dash": (9, 11), "z_good": (9, 11),
    }, log[-3000:]


@pytest.mark.slow
def test_the_course_directory_is_untouched(graded):
    course, _, before, _ = graded
    assert course_tree(course) == before
    for case in HANDED_IN:  # the submissions themselves, byte for byte
        for path in (SUBMISSIONS / case).iterdir():
            assert (course / "submitted" / case / CHAPTER / path.name).read_bytes() == path.read_bytes()
    assert not any(p.name.startswith(".") for p in (course / "submitted").rglob("*")), os.listdir(course)


@pytest.mark.slow
def test_no_graded_notebook_keeps_foreign_grading_metadata(graded):
    """Every cell the gradebook grades appears once in each graded notebook, with the course's points."""
    course = graded[0]
    for student in CASES + ["z_good"]:
        nb = _graded_notebook(course, student)
        ids = [grading(c)["grade_id"] for c in nb.cells if grading(c).get("grade")]
        assert sorted(ids) == ["explain_plot", "test_cosine_similarity", "test_embed", "test_one_hot"], student
        assert {grading(c)["grade_id"]: grading(c)["points"] for c in nb.cells if grading(c).get("grade")} == {
            "explain_plot": 2, "test_cosine_similarity": 3, "test_embed": 3, "test_one_hot": 3}, student
