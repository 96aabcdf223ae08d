"""Writes the hostile and broken submissions of exercise 1 kept in this folder.

Run once, from the repository root, whenever exercise 1 changes (tests/grading/test_autograde_tampering.py
checks that the files are still what this script writes):

    .venv/bin/python tests/grading/submissions/make_submissions.py

Each case is a folder named after the student who hands it in, holding the file(s) that student
submits, exactly as they will lie in ``submitted/<student>/01_embeddings/``. The notebooks start from
the committed release (exercises/) with the model answers (solutions/) filled in; each case then
tampers with two parts and leaves one part correct, or breaks the file itself:

================  ==========================================================================
tampering
deleted_cells     the imports cell, test_one_hot (stub answer) and both embed cells deleted;
                  cosine correct
edited_tests      test_one_hot replaced by ``pass``, test_embed weakened (wrong answers);
                  cosine correct
changed_metadata  test_one_hot worth 100 points (correct answer); test_embed made a markdown
                  cell (stub answer); the cosine_similarity answer cell made a grade cell worth
                  10 points (stub answer); a kernelspec that does not exist
changed_ids       test_one_hot's grade id renamed and its code replaced by ``pass``; test_embed
                  unlocked and no longer a grade cell, replaced by ``pass`` (stub answers);
                  cosine correct
added_cells       a new grade cell "bonus" worth 50 points; a copy of test_one_hot's cell
                  (metadata) running ``pass`` after the real one, whose metadata and code are
                  removed; a copy of test_embed's cell before the real one (stub answers);
                  cosine correct
renamed_copy      all correct, but named ``01_embeddings (1).ipynb`` and with a bash kernelspec
renamed_dash      all correct, but named ``01_embeddings-1.ipynb``
broken files
invalid_json      the first 3000 bytes of a notebook
empty_file        0 bytes
nbformat3         the correct notebook in nbformat 3 (worksheets, no cell ids)
other_assignment  exercise 2's notebook (answers filled in) handed in as 01_embeddings.ipynb
missing_notebook  no notebook, only the code saved as 01_embeddings.py
not_utf8          a correct notebook encoded in Latin-1 (with non-ASCII text)
================  ==========================================================================

The folder is a Python package only so that its conftest.py, which keeps pytest's nbval plugin from
collecting these files as notebooks to run, does not shadow tests/conftest.py.
"""
from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/

from notebooks import (  # noqa: E402
    as_submitted, cells_by_id, grading, release_notebook, solution_cells, solution_notebook)

CHAPTER = "01_embeddings"
WRONG_EMBED = "def embed(ids, table):\n    return np.zeros((len(ids), np.shape(table)[1]))\n"
WEAK_TEST = "result = embed(np.array([2, 0]), np.arange(12.0).reshape(4, 3))\nassert len(result) == 2\n"


def filled(chapter: str = CHAPTER, stubs: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """The release with the model answers, except the answers in `stubs` (left as released)."""
    nb = release_notebook(chapter)
    answers = {grading(c)["grade_id"]: as_submitted(c.source) for c in solution_cells(solution_notebook(chapter))}
    for cell in solution_cells(nb):
        if grading(cell)["grade_id"] not in stubs:
            cell.source = answers[grading(cell)["grade_id"]]
    return nb


def _index(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grading(c).get("grade_id") == grade_id)


def _delete(nb, *grade_ids: str) -> None:
    nb.cells = [c for c in nb.cells if grading(c).get("grade_id") not in grade_ids]


def _unlock(cell) -> None:
    cell.metadata.nbgrader.update(locked=False, grade=False)
    cell.metadata.nbgrader.pop("points", None)
    cell.metadata.pop("editable", None)
    cell.metadata.pop("deletable", None)


def deleted_cells():
    nb = filled(stubs=("one_hot",))
    _delete(nb, "imports", "test_one_hot", "embed", "test_embed")
    return nb


def edited_tests():
    nb = filled(stubs=("one_hot",))
    cells = cells_by_id(nb)
    cells["embed"].source = WRONG_EMBED
    cells["test_one_hot"].source = "pass"
    cells["test_embed"].source = WEAK_TEST
    return nb


def changed_metadata():
    nb = filled(stubs=("embed", "cosine_similarity"))
    cells = cells_by_id(nb)
    cells["test_one_hot"].metadata.nbgrader["points"] = 100
    test_embed = cells["test_embed"]
    test_embed.cell_type = "markdown"
    test_embed.metadata.nbgrader["cell_type"] = "markdown"
    del test_embed["outputs"], test_embed["execution_count"]
    cells["cosine_similarity"].metadata.nbgrader.update(grade=True, points=10)
    return _kernelspec(nb, "no-such-kernel", "python")


def changed_ids():
    nb = filled(stubs=("one_hot", "embed"))
    cells = cells_by_id(nb)
    cells["test_one_hot"].metadata.nbgrader["grade_id"] = "test_one_hot_v2"
    cells["test_one_hot"].source = "pass"
    _unlock(cells["test_embed"])
    cells["test_embed"].source = "pass"
    return nb


def added_cells():
    nb = filled(stubs=("one_hot", "embed"))
    bonus = nbformat.v4.new_code_cell("print('bonus')", id="bonus")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "locked": False, "points": 50,
                                  "schema_version": 3, "solution": False, "task": False, "cell_type": "code"}
    nb.cells.append(bonus)
    at = _index(nb, "test_one_hot")
    real = nb.cells[at]
    fake = copy.deepcopy(real)
    fake.id, fake.source = "fake-test-one-hot", "pass"
    real.metadata.pop("nbgrader")  # the real test loses its metadata, and its code
    real.source = "# (the test was here)"
    nb.cells.insert(at + 1, fake)
    fake_embed = copy.deepcopy(nb.cells[_index(nb, "test_embed")])
    fake_embed.id, fake_embed.source = "fake-test-embed", "pass"
    nb.cells.insert(_index(nb, "test_embed"), fake_embed)
    return nb


def _kernelspec(nb, name: str, language: str):
    nb.metadata["kernelspec"] = {"display_name": name, "language": language, "name": name}
    return nb


def renamed_copy():
    return _kernelspec(filled(), "bash", "bash")


def renamed_dash():
    return filled()


def _json(nb) -> bytes:
    return nbformat.writes(nb).encode("utf-8") + b"\n"


def nbformat3() -> bytes:
    return nbformat.writes(nbformat.convert(filled(), 3), version=3).encode("utf-8") + b"\n"


def missing_notebook() -> bytes:
    """The notebook's code, saved as a script instead (no notebook at all)."""
    return "".join(as_submitted(c.source) + "\n\n" for c in filled().cells if c.cell_type == "code").encode()


def not_utf8() -> bytes:
    nb = filled()
    nb.cells[0].source = nb.cells[0].source.replace("Exercise 1", "Exercice 1, résumé")
    return nbformat.writes(nb).encode("latin-1", "replace") + b"\n"


CASES = {
    # student: (file name, contents)
    "deleted_cells": (f"{CHAPTER}.ipynb", lambda: _json(deleted_cells())),
    "edited_tests": (f"{CHAPTER}.ipynb", lambda: _json(edited_tests())),
    "changed_metadata": (f"{CHAPTER}.ipynb", lambda: _json(changed_metadata())),
    "changed_ids": (f"{CHAPTER}.ipynb", lambda: _json(changed_ids())),
    "added_cells": (f"{CHAPTER}.ipynb", lambda: _json(added_cells())),
    "renamed_copy": (f"{CHAPTER} (1).ipynb", lambda: _json(renamed_copy())),
    "renamed_dash": (f"{CHAPTER}-1.ipynb", lambda: _json(renamed_dash())),
    "invalid_json": (f"{CHAPTER}.ipynb", lambda: _json(filled())[:3000]),
    "empty_file": (f"{CHAPTER}.ipynb", lambda: b""),
    "nbformat3": (f"{CHAPTER}.ipynb", nbformat3),
    "other_assignment": (f"{CHAPTER}.ipynb", lambda: _json(filled("02_qkv"))),
    "missing_notebook": (f"{CHAPTER}.py", missing_notebook),
    "not_utf8": (f"{CHAPTER}.ipynb", not_utf8),
}


def main() -> None:
    for student, (name, contents) in CASES.items():
        folder = HERE / student
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / name).write_bytes(contents())
        print(f"{student}/{name}")


if __name__ == "__main__":
    main()
