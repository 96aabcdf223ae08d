"""One student's rows of nbgrader's gradebook, and merging them into the course's gradebook.

Parallel grading (:mod:`autograder.parallel`) grades each student on a private copy of the
gradebook. :func:`student_rows` reads what grading one student wrote there, before and after;
:func:`merge` applies to the course's gradebook exactly the columns grading changed (a three-way
merge: a manual grade entered meanwhile in the formgrader is kept); :func:`others_fingerprint`
proves that nothing else changed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import sqlite3

__all__ = ["copy_database", "gradebook_rows", "merge", "others_fingerprint", "quiet_known_warnings", "student_rows"]


def quiet_known_warnings() -> None:
    """SQLAlchemy 2.1 warns "Object of type <SubmittedAssignment> not in session" whenever nbgrader
    creates a submission; the rows are right (the same warning comes from plain nbgrader autograde)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session", category=SAWarning)


def _encode(value):
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict) and "$datetime" in value:
        return _dt.datetime.fromisoformat(value["$datetime"])
    return value


def _columns(row) -> dict:
    """Every stored column of an nbgrader ORM row but its keys (ids and references), JSON-ready."""
    return {c.key: _encode(getattr(row, c.key)) for c in type(row).__table__.columns
            if not c.primary_key and not c.foreign_keys}


def student_rows(gb, assignment: str, student: str) -> dict:
    """What autograding `student` may write: the student, the submission, and per notebook its
    row, grades and comments (by cell name)."""
    from nbgrader.api import MissingEntry

    rows = {"student": None, "submission": None, "notebooks": {}}
    try:
        rows["student"] = _columns(gb.find_student(student))
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return rows
    rows["submission"] = _columns(submission)
    for notebook in submission.notebooks:
        rows["notebooks"][notebook.name] = {
            "row": _columns(notebook),
            "grades": {grade.name: _columns(grade) for grade in notebook.grades},
            "comments": {comment.name: _columns(comment) for comment in notebook.comments},
        }
    return rows


def gradebook_rows(db_url: str, assignment: str, course_id: str = "") -> dict[str, dict]:
    """Every submission of `assignment` in a gradebook, by student: each stored column of the
    student, submission, notebook, grade and comment rows (ids left out). Two gradebooks that
    graded the same class the same way give equal results."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return {s.student.id: student_rows(gb, assignment, s.student.id)
                for s in gb.find_assignment(assignment).submissions}


def _apply(row, before: dict | None, after: dict) -> None:
    """Set the columns that grading changed (after differs from before); with no before (a row
    this gradebook did not have), every column that differs from the row as it is."""
    for key, value in after.items():
        old = before[key] if before is not None else _encode(getattr(row, key))
        if value != old:
            setattr(row, key, _decode(value))


def merge(gb, assignment: str, student: str, before: dict, after: dict) -> None:
    """Apply one student's grading, read from a worker's gradebook, to `gb` (nbgrader's API)."""
    from nbgrader.api import MissingEntry

    if after["student"] is None:
        return  # nbgrader failed before writing anything
    try:
        row = gb.find_student(student)
        known = before["student"] is not None
    except MissingEntry:
        row, known = gb.update_or_create_student(student), False
    _apply(row, before["student"] if known else None, after["student"])
    if after["submission"] is not None:
        try:
            submission = gb.find_submission(assignment, student)
            known = known and before["submission"] is not None
        except MissingEntry:  # created with every notebook, grade and comment of the assignment
            submission, known = gb.update_or_create_submission(assignment, student), False
        _apply(submission, before["submission"] if known else None, after["submission"])
        for name, notebook in after["notebooks"].items():
            old = before["notebooks"].get(name) if known else None
            _apply(gb.find_submission_notebook(name, assignment, student), old and old["row"], notebook["row"])
            for cell, grade in notebook["grades"].items():
                _apply(gb.find_grade(cell, name, assignment, student), old and old["grades"].get(cell), grade)
            for cell, comment in notebook["comments"].items():
                _apply(gb.find_comment(cell, name, assignment, student), old and old["comments"].get(cell), comment)
    gb.db.commit()


# The tables of a student's rows; autograding one student must change nothing else.
_OWN_NOTEBOOKS = ("notebook_id IN (SELECT n.id FROM submitted_notebook n JOIN submitted_assignment a "
                  "ON n.assignment_id = a.id WHERE a.student_id = :s)")
_STUDENT_ROWS = {
    "student": "id = :s",
    "submitted_assignment": "student_id = :s",
    "submitted_notebook": "assignment_id IN (SELECT id FROM submitted_assignment WHERE student_id = :s)",
    "grade": _OWN_NOTEBOOKS,
    "comment": _OWN_NOTEBOOKS,
}


def others_fingerprint(db_path: str, student: str) -> dict[str, str]:
    """A digest of every table of the gradebook, the student's own rows left out: if grading a
    student changed anything else, the merge (which copies the student's rows) would lose it."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        digests = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            where = f" WHERE NOT ({_STUDENT_ROWS[table]})" if table in _STUDENT_ROWS else ""
            digest = hashlib.sha256()
            for row in db.execute(f'SELECT * FROM "{table}"{where} ORDER BY rowid', {"s": student}):
                digest.update(repr(row).encode())
            digests[table] = digest.hexdigest()
        return digests
    finally:
        db.close()


def copy_database(source: str, target: str) -> None:
    """A consistent copy of an SQLite database, even while it is being written (backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()
