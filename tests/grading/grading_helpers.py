"""Building submissions for nbgrader tests: a chapter's release filled in like a learner would."""
from __future__ import annotations

import nbformat

from notebooks import as_submitted, grading, release_notebook, solution_cells, solution_notebook


def submit(course_dir, student: str, chapter: str, nb) -> None:
    """Hand a notebook in, as nbgrader expects it: submitted/<student>/<chapter>/<chapter>.ipynb."""
    folder = course_dir / "submitted" / student / chapter
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{chapter}.ipynb")


def filled_in(chapter: str, course_dir, replace: dict[str, str] | None = None):
    """The release with every answer (code and written) filled in from the model solution,
    or from `replace` for the grade ids it names."""
    nb = release_notebook(chapter, root=course_dir)
    answers = {grading(c)["grade_id"]: as_submitted(c.source) for c in solution_cells(solution_notebook(chapter))}
    answers.update(replace or {})
    for cell in solution_cells(nb):
        cell.source = answers[grading(cell)["grade_id"]]
    return nb


def require_sandbox() -> None:
    """Autograding runs submissions in autograder's sandbox, which refuses to run without
    bubblewrap: skip (with how to install it) where it cannot run, but fail on CI."""
    import os

    import pytest

    from autograder.mounts import check_sandbox

    problem = check_sandbox()
    if problem:
        message = f"nbgrader autograde's sandbox cannot run here: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def make_course(folder, chapter: str):
    """A course with the real nbgrader_config.py and `chapter` released (nbgrader generate_assignment)."""
    import shutil

    from conftest import ROOT, nbgrader

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / chapter, folder / "solutions" / chapter)
    nbgrader("generate_assignment", chapter, "--log-level=WARN", cwd=folder)
    return folder


def submit_files(course_dir, student: str, chapter: str, files) -> None:
    """Hand in the files of the folder `files` byte for byte, under their own names:
    submitted/<student>/<chapter>/ (for submissions kept as files, e.g. tests/grading/submissions/<case>/)."""
    import shutil

    folder = course_dir / "submitted" / student / chapter
    folder.mkdir(parents=True)
    for path in sorted(files.iterdir()):
        shutil.copyfile(path, folder / path.name)


# What nbgrader itself writes while autograding, exporting and giving feedback; nothing else in
# a course directory may change when a class is graded.
NBGRADER_OUTPUTS = {"autograded", "gradebook.db", "gradebook.db-journal", ".nbgrader.log", "grades.csv", "feedback"}


def course_tree(folder, skip=NBGRADER_OUTPUTS) -> dict[str, str]:
    """Every path under folder (top-level names in skip left out) with its kind and content hash."""
    import hashlib
    import os

    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in skip:
            continue
        if path.is_symlink():
            found[str(relative)] = "link " + os.readlink(path)
        elif path.is_dir():
            found[str(relative)] = "dir"
        else:
            found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
