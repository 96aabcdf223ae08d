"""Before a class is graded: the reference solution must earn every automatic point in the sandbox.

A grader that cannot grade must refuse, not hand out zeros. When something about the grading
set-up is broken (``course_lib`` not importable in the sandboxed kernel, a data file the tests
read missing, a sandbox limit too tight for the chapter), every submission fails the same way,
and plain nbgrader writes those zeros to the gradebook and exits 0. So before ``nbgrader
autograde`` grades anyone, :func:`check_reference` puts the instructor's own notebooks
(``source/<assignment>/``, here ``solutions/``) through the same autograde steps (the sandbox,
the split into a learner and a trusted kernel, nbgrader's scoring), and grading goes on only if
they earn every automatic point. Otherwise autograde stops before it has written anything, with
one line naming the assignment and what failed, e.g.::

    preflight: the reference solution of 01_embeddings scores 0/9 in the sandbox, so no submission
    was graded: test_one_hot: ModuleNotFoundError: No module named 'course_lib'

The check costs what grading one submission costs (two kernels per notebook). A pass is
remembered in the autograded folder, keyed on everything that decides the result (the
reference notebooks, the code of ``course_lib`` and ``autograder``, the grading configuration,
the course folder, the Python environment); a failure is never remembered. ``nbgrader
autograde`` runs it from :class:`autograder.intake.SubmissionExporter` (whose ``preflight``
setting turns it off), ``python -m autograder.parallel`` once per run.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile

__all__ = ["PreflightFailed", "check_reference"]

# Settings that choose what is graded, or how much is logged, not how: left out of the cache key.
_NOT_IN_KEY = {
    "CourseDirectory": {"student_id", "assignment_id", "notebook_id"},
    "BaseConverter": {"force"},
    "Autograde": {"force", "create_student"},
    "Application": {"log_level"},
    "NbGrader": {"logfile"},
}
# Autograde steps that write to the gradebook: the reference is scored, never recorded.
_WRITES_GRADEBOOK = ("SaveAutoGrades", "AssignLatePenalties")


class PreflightFailed(RuntimeError):
    """The reference solution does not earn every automatic point; the message says why, in one line."""


def check_reference(assignment: str, coursedir, config, log, parent=None) -> str:
    """Grade the reference notebooks of ``assignment`` as autograde would grade a submission.

    Returns a one-line summary on success ("... 9/9 ..."); raises :class:`PreflightFailed` otherwise.
    ``parent``: the configurable the autograde steps hang under (nbgrader's exporter, when called
    from it), so that they find the course directory as they do when grading a student.
    """
    source = os.path.realpath(coursedir.format_path(coursedir.source_directory, ".", assignment))
    notebooks = sorted(glob.glob(os.path.join(glob.escape(source), "*.ipynb")))
    if not notebooks:
        raise PreflightFailed(
            f"preflight: no reference solution of {assignment} in {source}, so the grading cannot be checked "
            "and no submission was graded (restore it, or run with --SubmissionExporter.preflight=False)")
    key = _cache_key(assignment, source, coursedir, config)
    cache = os.path.join(os.path.realpath(coursedir.root), coursedir.autograded_directory, ".preflight",
                         f"{assignment}.json")
    try:
        with open(cache) as f:
            remembered = json.load(f)
        if remembered.get("key") == key:
            return remembered["summary"] + " (remembered)"
    except (OSError, ValueError, KeyError, AttributeError):
        pass

    scored, possible, failures = 0.0, 0.0, []
    with contextlib.chdir(coursedir.root):  # as nbgrader grades: the gradebook's URL may be relative to it
        for path in notebooks:
            earned, total, failed = _grade(path, assignment, coursedir, config, log, parent)
            scored, possible, failures = scored + earned, possible + total, failures + failed
    if scored < possible:
        why = "; ".join(failures[:3]) + ("; ..." if len(failures) > 3 else "")
        raise PreflightFailed(
            f"preflight: the reference solution of {assignment} scores {scored:g}/{possible:g} in the sandbox, "
            f"so no submission was graded: {why or 'see the log above'}")
    summary = f"preflight: the reference solution of {assignment} scores {scored:g}/{possible:g} in the sandbox"
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(cache), suffix=".partial", delete=False) as f:
        json.dump({"key": key, "summary": summary}, f)  # two graders at once never write one file
    os.replace(f.name, cache)
    return summary


def _grade(path: str, assignment: str, coursedir, config, log, parent) -> tuple[float, float, list[str]]:
    """(points, possible points, failures) of one reference notebook, run in a scratch copy of its
    folder (in the autograded folder, where the submissions run, so the sandbox treats it alike)."""
    from nbgrader import utils
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import ClearOutput
    from traitlets.utils.importstring import import_item

    from autograder.intake import read_notebook

    name = os.path.splitext(os.path.basename(path))[0]
    autograded = os.path.join(os.path.realpath(coursedir.root), coursedir.autograded_directory)
    os.makedirs(autograded, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".preflight-", dir=autograded)
    try:
        workdir = os.path.join(scratch, assignment)
        shutil.copytree(os.path.dirname(path), workdir, symlinks=True)
        nb, _ = read_notebook(path)
        resources = {
            "nbgrader": {"db_url": coursedir.db_url, "assignment": assignment, "notebook": name,
                         "student": "(reference solution)"},
            "metadata": {"name": name, "path": workdir},
        }
        steps = [ClearOutput(parent=parent, config=config)]
        for step in Autograde(coursedir=coursedir, config=config).autograde_preprocessors:
            cls = import_item(step) if isinstance(step, str) else step
            if cls.__name__ not in _WRITES_GRADEBOOK:
                steps.append(cls(parent=parent, config=config))
        with utils.setenv(NBGRADER_EXECUTION="autograde"):  # as nbgrader sets it while autograding
            for step in steps:
                nb, resources = step(nb, resources)  # a step that is not enabled passes the notebook on
    except Exception as error:  # noqa: BLE001 (whatever stops the reference stops the grading, with its reason)
        message = str(error).strip().splitlines()
        return 0.0, 1.0, [f"{name}.ipynb could not be graded: {type(error).__name__}: {message[0] if message else ''}"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    earned = possible = 0.0
    failures = []
    for index, cell in enumerate(nb.cells):
        if not utils.is_grade(cell):
            if not failures and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                failures.append(f"cell {index} of {name}.ipynb failed first, {_first_error(cell)}")  # the cause
            continue
        score, points = utils.determine_grade(cell, log)
        if score is None:
            continue  # graded by hand
        earned, possible = earned + score, possible + points
        if score < points:
            failures.append(f"{cell.metadata['nbgrader'].get('grade_id', '?')}: {_first_error(cell)}")
    return earned, possible, failures


def _first_error(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"[:300]
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return f"it wrote to stderr: {output.get('text', '').strip()[:200]}"
    return "partial credit only"


def _cache_key(assignment: str, source: str, coursedir, config) -> str:
    """A digest of everything that decides whether the reference passes."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    root = os.path.realpath(coursedir.root)
    add("course", root.encode())
    add("assignment", assignment.encode())
    add("python", sys.executable.encode())
    for folder, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                add(os.path.relpath(path, source), f.read())
    # The code the kernels import: the course folder's own packages (first on their path) and the installed ones.
    packages = {os.path.join(root, p) for p in ("course_lib", "autograder")}
    for package in ("course_lib", "autograder"):
        spec = importlib.util.find_spec(package)
        packages.update((spec.submodule_search_locations or []) if spec else [])
    for package in sorted(p for p in packages if os.path.isdir(p)):
        for folder, _, files in sorted(os.walk(package)):
            for name in sorted(f for f in files if not f.endswith(".pyc")):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    add(path, f.read())
    settings = {section: {k: v for k, v in values.items() if k not in _NOT_IN_KEY.get(section, ())}
                for section, values in config.items() if hasattr(values, "items")}
    add("config", json.dumps(settings, sort_keys=True, default=repr).encode())
    add("packages", "\n".join(sorted(f"{d.metadata.get('Name', '?')}=={d.version}"
                                     for d in importlib.metadata.distributions())).encode())
    return digest.hexdigest()
