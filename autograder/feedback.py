"""Feedback for students without the hidden tests (``nbgrader generate_feedback``).

nbgrader 0.9.6 turns the autograded notebook into HTML as it is: the test cells keep their
``### BEGIN HIDDEN TESTS`` region, so every student would read the hidden tests, and the
page loads MathJax from a CDN. The course's ``nbgrader_config.py`` adds
:class:`HideHiddenTests` to the feedback's preprocessors and a template folder whose
``mathjax`` macro loads nothing. A student still gets each part's score and the failure
message (``AssertionError: expected (3, 2, 5), got (3, 5)``), never the test's code: a
traceback would quote the failing line, so a test cell's errors keep their message only.
"""
from __future__ import annotations

from pathlib import Path

from nbgrader import utils
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool, List, Unicode

__all__ = ["HideHiddenTests", "TEMPLATE_DIR"]

# The template folder (its feedback/mathjax.html.j2 replaces nbconvert's CDN macro).
TEMPLATE_DIR = str(Path(__file__).with_name("feedback_template"))


class HideHiddenTests(ClearHiddenTests):
    """Remove the hidden tests' source from the feedback, and the tracebacks of test cells."""

    enforce_metadata = Bool(False, help="A learner's cell may contain the markers as text: not an error here.")
    # nbconvert's HTML exporter configures this for every NbConvertBase; unused here, but
    # without a configurable trait of that name traitlets warns on every run.
    display_data_priority = List([]).tag(config=True)
    note = Unicode("# (hidden tests: their result is above, their code is not shown)",
                   help="Put where a hidden test region was removed.").tag(config=True)

    def __init__(self, **kw):
        # Checked here, where only feedback runs (nbgrader_config.py imports this module for every
        # command): without the template nbconvert would silently load MathJax from a CDN.
        if not (Path(TEMPLATE_DIR) / "feedback" / "mathjax.html.j2").is_file():
            raise RuntimeError(f"the feedback template is missing from {TEMPLATE_DIR}: "
                               "reinstall the course (pip install -e .)")
        super().__init__(**kw)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        test_cell = utils.is_grade(cell) and not utils.is_solution(cell)
        try:
            removed = self._remove_hidden_test_region(cell)
        except RuntimeError:  # unbalanced markers: only a learner's own cell can have them
            removed = False
        if removed:
            cell.source = cell.source.rstrip("\n") + "\n" + self.note
        if removed or test_cell:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


class SanitizeOutputs(SanitizeHTML):
    """Outputs a submission produced, made safe to show in a browser: HTML and Markdown outputs
    cleaned by bleach (a ``<script>`` is escaped, shown as text), JavaScript and any other mimetype
    not known to be inert dropped; text, PNG and JPEG kept as they are.

    Run in autograde, after the notebook is executed (nbgrader_config.py): the graded notebook
    that the formgrader shows the instructor, and that feedback is made from, holds no active
    content. Markdown cells (the written answers) are left to the HTML exporter's own
    ``sanitize_html``, which nbgrader_config.py turns on for the feedback pages. The grade is
    untouched: nbgrader scores errors, stderr and plain-text results, which this keeps."""

    enabled = Bool(True, help="nbconvert's preprocessors are off unless enabled; this one is on.").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            cell.outputs = self.sanitize_code_outputs(cell.outputs)
        return cell, resources
