"""Which cells of a notebook are tests, which define the learner's names, and which names a test uses.

Read from nbgrader's gradebook (the course's own copy of each cell, whatever a submission did to
its notebook) by :class:`autograder.split_execute.SplitExecute`, which runs the tests in a kernel
of their own and needs to know which learner functions each test calls.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

__all__ = ["CellPlan", "defined_names", "used_names"]

_BUILTINS = set(dir(builtins))


@dataclass
class CellPlan:
    """What the gradebook says about the notebook's cells."""

    tests: dict[str, str]  # grade id of a test cell -> its source
    locked_sources: set[str]  # sources of the locked cells that are not tests
    learner_names: list[str]  # top-level names the answer cells define

    @classmethod
    def from_gradebook(cls, resources: dict) -> "CellPlan":
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            graded = {cell.name for cell in notebook.grade_cells}
            answers = {cell.name for cell in notebook.solution_cells}
            tests, locked, names = {}, set(), []
            for cell in notebook.source_cells:
                if cell.cell_type != "code":
                    continue
                if cell.name in graded and cell.name not in answers:
                    tests[cell.name] = cell.source
                elif cell.name in answers:
                    names += [n for n in defined_names(cell.source) if n not in names]
                elif cell.locked:
                    locked.add(cell.source)
        return cls(tests, locked, names)


def _parse(source: str):
    # IPython magics and shell escapes are not Python: read them as comments.
    lines = ["# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def defined_names(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def used_names(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(found - _BUILTINS)
