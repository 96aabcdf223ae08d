"""The repository's two packages keep to their jobs: course_lib is the learners' reference library
(attention code only), autograder the instructor's grading machinery; each module is one concern."""
from __future__ import annotations

import ast

import pytest
from conftest import ROOT

GRADING_LIBRARIES = {"nbgrader", "jupyter_client", "traitlets", "nbclient", "nbconvert", "zmq"}
MAX_MODULE_LINES = 420  # "no module over ~400 lines" (the split's rule); more means two concerns


def imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((ROOT / "course_lib").rglob("*.py")), ids=lambda p: p.name)
def test_course_lib_holds_no_grading_machinery(path):
    roots = imported_roots(path)
    assert not roots & GRADING_LIBRARIES, f"{path.name} imports {sorted(roots & GRADING_LIBRARIES)}"
    assert "autograder" not in roots, f"{path.name} imports the grader"
    assert "bwrap" not in path.read_text(), f"{path.name} mentions bubblewrap"


@pytest.mark.parametrize("path", sorted([*(ROOT / "course_lib").rglob("*.py"), *(ROOT / "autograder").rglob("*.py")]),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_is_two_concerns(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concern"


def test_the_autograder_needs_only_the_grading_hook_of_course_lib():
    """The grader can be reused without the Transformer: of course_lib it imports only the hook that
    blocks the reference while a learner's function runs (course_lib.grading)."""
    for path in (ROOT / "autograder").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "course_lib":
                    assert name.startswith("course_lib.grading"), f"{path.name} imports {name}"


def test_nbgrader_config_points_at_the_autograder():
    config = (ROOT / "nbgrader_config.py").read_text()
    assert "autograder.split_execute.SplitExecute" in config and "autograder.intake.SubmissionExporter" in config
    assert "course_lib." not in config.replace("course_lib.grading", "")
