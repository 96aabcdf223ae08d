"""What `nbgrader autograde` accepts as a submission: broken files, renamed or missing notebooks,
and notebooks whose nbgrader structure was tampered with.

Plain nbgrader 0.9.6 trusts the file it is given. A file that is not a notebook (invalid JSON, empty,
not UTF-8) stops that student's grading with a traceback and leaves grades that wait for a manual
grade; a notebook that is not named as released (``01_embeddings (1).ipynb``, as LMSs rename
downloads) is skipped the same way; a submission folder without a notebook is skipped without a
grade, so the student is missing from ``nbgrader export``. Some tampering with the nbgrader metadata
crashes the student's grading (an answer cell marked as a grade cell, a test cell no longer a grade
cell, another notebook's cells), a deleted test cell is left for manual grading, and one added cell
with old-style nbgrader metadata stops the grading of the whole class.

The course's ``nbgrader_config.py`` plugs two pieces into nbgrader's own pipeline:

* :class:`SubmissionExporter` (``Autograde.exporter_class``) reads each submitted notebook. A file it
  cannot read, a missing notebook, or one that is ambiguous, is replaced by a placeholder notebook:
  nbgrader then grades it like any other, so the course's tests fail and the student gets 0 for that
  notebook, with an autograded notebook (and feedback) that says why. A single notebook with another
  name (an LMS's ``01_embeddings (1).ipynb`` or ``01_embeddings-1.ipynb``) is graded as the expected
  notebook. The submitted file is never changed.
* :class:`autograder.repair.CheckSubmission` (in ``Autograde.sanitize_preprocessors``) compares the notebook with
  the assignment in the gradebook and the release, before nbgrader's own checks: nbgrader metadata
  that claims a grade id the notebook does not have (or repeats one) is removed, changed metadata
  (points, grade/solution/locked flags, cell type) is set back, deleted test, locked and written-answer
  cells are put back from the course's copy, and a changed kernelspec is noted (nbgrader's
  ``OverwriteKernelspec`` sets it back). nbgrader's ``OverwriteCells`` then restores the source of
  every locked cell as usual, so edited tests are graded in the course's version.

Each finding is one line in nbgrader's log naming the student and the notebook, e.g.::

    [AutogradeApp | WARNING] [intake] student 'bob', 01_embeddings/01_embeddings.ipynb: test cell
    'test_one_hot' was deleted: put back from the course's copy
    [AutogradeApp | ERROR] [intake] student 'eve', 01_embeddings/01_embeddings.ipynb: not a readable
    notebook (not valid JSON: ...): graded as an empty notebook (0 points)

A student's answers are never moved or rewritten: a deleted answer cell is not put back (its test
fails unless the function is defined elsewhere), and a notebook from another assignment keeps its
cells, which run as ordinary code before the course's tests fail.
"""
from __future__ import annotations

import datetime
import glob
import html
import json
import os
import re
import stat

import nbformat
from nbconvert.exporters import NotebookExporter
from traitlets import Bool, Integer

from autograder.names import lms_renamed  # the rule the LMS collection applies too

__all__ = [
    "SubmissionExporter",
    "UnreadableNotebook",
    "read_notebook",
]

SCHEMA_VERSION = 3  # nbgrader 0.9's cell metadata schema
FLAGS = ("grade", "solution", "locked", "task")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class UnreadableNotebook(ValueError):
    """The file is not a notebook nbgrader can grade; the message says why."""


# --------------------------------------------------------------------------------------
# Reading a submitted file
# --------------------------------------------------------------------------------------


def read_notebook(path: str, max_bytes: int = 50 * 1024**2) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook in `path` as nbformat 4.5 with only what grading needs (cell type, source,
    metadata, attachments; outputs dropped, cell ids made valid and unique), and notes on what
    was converted. Raises :class:`UnreadableNotebook` for anything that is not a notebook."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise UnreadableNotebook(f"cannot be opened ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnreadableNotebook("a symbolic link, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableNotebook("not a regular file")
    if info.st_size == 0:
        raise UnreadableNotebook("the file is empty (0 bytes)")
    if info.st_size > max_bytes:
        raise UnreadableNotebook(f"the file has {info.st_size} bytes, more than the limit of {max_bytes}")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    try:
        text = data.decode("utf-8-sig")  # a notebook is UTF-8 JSON (a byte order mark is tolerated)
    except UnicodeDecodeError as error:
        raise UnreadableNotebook(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}; saved in another encoding?)"
        ) from None
    try:
        content = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise UnreadableNotebook(f"not valid JSON ({str(error)[:200]})") from None
    if not isinstance(content, dict) or not isinstance(content.get("nbformat"), int):
        raise UnreadableNotebook("JSON, but not a Jupyter notebook (no nbformat version)")
    notes = []
    version = content["nbformat"]
    if version not in (1, 2, 3, 4):
        raise UnreadableNotebook(f"nbformat {version}, which this nbgrader cannot read")
    try:
        nb = nbformat.reader.reads(text)
        if version != 4:
            nb = nbformat.convert(nb, 4)
            notes.append(f"an nbformat {version} notebook, converted to nbformat 4")
        return _rebuilt(nb, notes), notes
    except UnreadableNotebook:
        raise
    except Exception as error:  # noqa: BLE001 (any malformed structure: the message says where)
        raise UnreadableNotebook(f"not a valid nbformat {version} notebook ({type(error).__name__}: {error})") from None


def _rebuilt(nb, notes: list[str]) -> nbformat.NotebookNode:
    """A fresh nbformat 4.5 notebook with the cells' type, source, metadata (and attachments)."""
    metadata = nb.get("metadata")
    new = nbformat.v4.new_notebook(metadata=dict(metadata) if isinstance(metadata, dict) else {})
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise UnreadableNotebook("the notebook has no list of cells")
    used: set[str] = set()
    dropped = 0
    for index, cell in enumerate(cells):
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if kind not in ("code", "markdown", "raw") or not isinstance(source, str):
            dropped += 1
            continue
        meta = cell.get("metadata")
        meta = dict(meta) if isinstance(meta, dict) else {}
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in used:
            cell_id = unique_id(f"cell-{index}", used)
        used.add(cell_id)
        if kind == "code":
            new_cell = nbformat.v4.new_code_cell(source, metadata=meta, id=cell_id)
        elif kind == "markdown":
            new_cell = nbformat.v4.new_markdown_cell(source, metadata=meta, id=cell_id)
        else:
            new_cell = nbformat.v4.new_raw_cell(source, metadata=meta, id=cell_id)
        if kind != "code" and isinstance(cell.get("attachments"), dict):
            new_cell["attachments"] = cell["attachments"]
        new.cells.append(new_cell)
    if dropped:
        notes.append(f"{dropped} malformed cell(s) dropped")
    return new


def unique_id(base: str, used: set[str]) -> str:
    base = re.sub(r"[^a-zA-Z0-9_-]", "-", base)[:56] or "cell"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# --------------------------------------------------------------------------------------
# nbgrader's exporter for `autograde`
# --------------------------------------------------------------------------------------


def _printable(name: str) -> str:
    """A file name as it can be logged (control and other unprintable characters escaped)."""
    return name if name.isprintable() else ascii(name)[1:-1]


def where_in_course(resources: dict) -> tuple[str, str]:
    info = resources.get("nbgrader", {})
    return info.get("student", "?"), f"{info.get('assignment', '?')}/{info.get('notebook', '?')}.ipynb"


class SubmissionExporter(NotebookExporter):
    """nbgrader's notebook exporter for ``autograde``, reading submissions defensively.

    Set as ``c.Autograde.exporter_class``. nbgrader creates it once per run, after it has listed the
    submitted notebooks: then it adds, for each submission folder, the expected notebooks that are
    missing (graded as placeholders) or renamed (graded from the renamed file)."""

    max_notebook_bytes = Integer(
        50 * 1024**2, help="A submitted notebook larger than this (bytes) is not read and scores 0."
    ).tag(config=True)
    preflight = Bool(
        True, help="Before grading, put the reference solution through the same sandbox and refuse to grade "
        "unless it earns every automatic point (autograder.preflight)."
    ).tag(config=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        # expected path -> ("renamed", actual path) | ("missing", why)
        self._stand_ins: dict[str, tuple[str, str]] = {}
        converter = self.parent
        if getattr(converter, "coursedir", None) is not None and hasattr(converter, "assignments"):
            try:
                self._plan(converter)
            except Exception:  # noqa: BLE001 (never stop grading: nbgrader goes on as without this)
                self.log.exception("[intake] could not look for renamed or missing notebooks")
            if self.preflight:
                self._preflight(converter)

    def _preflight(self, converter) -> None:
        """Refuse to grade (before anything is written) unless the reference solution of every
        assignment about to be graded earns every automatic point in the sandbox."""
        from nbgrader.converters.base import NbGraderException

        from autograder.preflight import PreflightFailed, check_reference

        pattern = converter._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        matches = (re.match(pattern, folder) for folder in converter.assignments)
        assignments = sorted({m.group("assignment_id") for m in matches if m})
        for assignment in assignments:
            try:
                self.log.info(check_reference(assignment, converter.coursedir, self.config, self.log, parent=self))
            except PreflightFailed as error:
                self.log.error("%s", error)
                raise NbGraderException(str(error)) from None

    # -- before grading: renamed and missing notebooks ------------------------------------

    def _plan(self, converter) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        coursedir = converter.coursedir
        if coursedir.notebook_id != "*":
            return  # grading chosen notebooks only: nbgrader's own rules
        folders = glob.glob(converter._format_source(coursedir.assignment_id, coursedir.student_id))
        pattern = converter._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        expected: dict[str, list[str] | None] = {}
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for folder in sorted(f for f in folders if os.path.isdir(f) and not os.path.islink(f)):
                match = re.match(pattern, folder)
                if match is None:
                    continue
                assignment = match.group("assignment_id")
                if assignment not in expected:
                    try:
                        expected[assignment] = sorted(n.name for n in gb.find_assignment(assignment).notebooks)
                    except MissingEntry:
                        expected[assignment] = None  # nbgrader reports it
                if not expected[assignment]:
                    continue
                self._plan_folder(converter, folder, expected[assignment])

    def _plan_folder(self, converter, folder: str, expected: list[str]) -> None:
        listed = converter.assignments.get(folder, [])
        present = {os.path.splitext(os.path.basename(p))[0]: p for p in listed}
        found, ambiguous = lms_renamed(expected, sorted(present))
        notebooks = [p for p in listed if os.path.splitext(os.path.basename(p))[0] not in found.values()]
        for name in expected:
            if name in present:
                continue
            path = os.path.join(folder, f"{name}.ipynb")
            if name in found:
                self._stand_ins[path] = ("renamed", present[found[name]])
            elif name in ambiguous:
                self._stand_ins[path] = ("missing", f"several notebooks could be {name}.ipynb "
                                                    f"({', '.join(c + '.ipynb' for c in ambiguous[name])}); keep one")
            else:
                others = sorted(_printable(n) for n in os.listdir(folder))
                self._stand_ins[path] = ("missing", f"no {name}.ipynb in the submission (it holds: "
                                                    f"{', '.join(others[:10]) or 'nothing'}"
                                                    f"{', ...' if len(others) > 10 else ''})")
            notebooks.append(path)
        converter.assignments[folder] = sorted(notebooks)

    # -- reading --------------------------------------------------------------------------

    def from_filename(self, filename, resources=None, **kw):
        if not getattr(self.parent, "_sanitizing", True):
            return super().from_filename(filename, resources, **kw)  # nbgrader's own graded copy
        resources = resources if resources is not None else {}
        student, where = where_in_course(resources)
        kind, detail = self._stand_ins.get(filename, ("file", filename))
        source = detail if kind != "missing" else None
        problem = detail if kind == "missing" else None
        if kind == "renamed":
            self.log.warning("[intake] student %r, %s: graded %r in its place (a renamed notebook)",
                             student, where, os.path.basename(detail))
        nb = None
        if source is not None:
            try:
                nb, notes = read_notebook(source, self.max_notebook_bytes)
            except UnreadableNotebook as error:
                problem = f"not a readable notebook ({error})"
            else:
                for note in notes:
                    self.log.warning("[intake] student %r, %s: %s", student, where, note)
        if nb is None:
            self.log.error("[intake] student %r, %s: %s: graded as an empty notebook (0 points)",
                           student, where, problem)
            nb = nbformat.v4.new_notebook()
            nb.cells.append(nbformat.v4.new_markdown_cell(
                f"**Not graded: {html.escape(problem)}.** The course's tests below ran without any of the "
                "student's code, so every autograded part of this notebook scores 0.", id="intake-not-graded"))
            resources.setdefault("nbgrader", {})["intake_problem"] = problem
        metadata = resources.setdefault("metadata", {})
        metadata["name"] = os.path.splitext(os.path.basename(filename))[0]
        metadata["path"] = os.path.dirname(filename)
        when = os.path.getmtime(source) if source and os.path.exists(source) else None
        stamp = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc) if when else \
            datetime.datetime.now(tz=datetime.timezone.utc)
        metadata["modified_date"] = stamp.strftime("%B %-d, %Y")
        return self.from_notebook_node(nb, resources, **kw)
