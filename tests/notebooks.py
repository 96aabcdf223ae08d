"""Reading nbgrader notebooks: cells by grade id, solution and hidden-test regions."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n?", re.S | re.M)
HIDDEN_REGION = re.compile(r"^### BEGIN HIDDEN TESTS\n(.*?)^### END HIDDEN TESTS\n?", re.S | re.M)


def solution_notebook(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)


def release_notebook(chapter: str, root: Path = ROOT) -> nbformat.NotebookNode:
    return nbformat.read(root / "exercises" / chapter / f"{chapter}.ipynb", as_version=4)


def grading(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cells_by_id(nb) -> dict:
    return {grading(c)["grade_id"]: c for c in nb.cells if "grade_id" in grading(c)}


def answer_cells(nb) -> list:
    """Code cells the learner fills in."""
    return [c for c in nb.cells if c.cell_type == "code" and grading(c).get("solution")]


def solution_cells(nb) -> list:
    """Every cell the learner writes in: code answers and written (markdown) answers."""
    return [c for c in nb.cells if grading(c).get("solution")]


def graded_test_cells(nb) -> list:
    """Autograded test cells."""
    return [c for c in nb.cells if c.cell_type == "code" and grading(c).get("grade") and not grading(c).get("solution")]


def as_submitted(source: str) -> str:
    """A solution cell as a learner would hand it in: the code without nbgrader's markers."""
    return SOLUTION_REGION.sub(lambda m: m.group(1), source)


def hidden_part(source: str) -> str:
    match = HIDDEN_REGION.search(source)
    assert match, "this test cell has no hidden tests"
    return match.group(1)
