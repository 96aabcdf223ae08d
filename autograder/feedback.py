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

import re
from html.parser import HTMLParser
from pathlib import Path

from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

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
    """What a submission shows, made safe for a browser: outputs and the learner's Markdown.

    - Outputs: HTML and Markdown outputs cleaned by bleach (a ``<script>`` is escaped, shown as
      text), JavaScript and any other mimetype not known to be inert dropped; text, PNG and JPEG
      kept as they are.
    - Markdown cells the learner may edit (written answers, cells they added): kept as written
      unless their rendering holds something Markdown does not make (a script, an event handler,
      a javascript: link; `unsafe_markup`); such a cell is shown as text, in a code block, under a
      note. The instructor's locked cells are nbgrader's own copies of the source: left alone.

    Run in autograde, after the notebook is executed (nbgrader_config.py): the graded notebook
    is what the formgrader shows the instructor (nbgrader's formgrade template renders Markdown
    cells without sanitising them, whatever ``HTMLExporter.sanitize_html`` says) and what feedback
    is made from, so neither holds active content. The grade is untouched: nbgrader scores errors,
    stderr and plain-text results, which this keeps, and a written answer is graded by hand."""

    enabled = Bool(True, help="nbconvert's preprocessors are off unless enabled; this one is on.").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            cell.outputs = self.sanitize_code_outputs(cell.outputs)
        elif cell.cell_type == "markdown" and not utils.is_locked(cell):
            cell.source = self.sanitize_markdown(cell.source, cell.get("attachments"))
        return cell, resources

    def sanitize_markdown(self, source: str, attachments: dict | None = None) -> str:
        """`source` as written if its rendering holds only what Markdown makes; else the source shown
        as text (a fenced code block, which Markdown renders escaped) under a note saying why.

        Cleaning the rendered HTML instead would not do: the cleaned HTML is Markdown again when
        the page is made, and ``[text](javascript:...)`` inside an HTML block comes back as a link."""
        found = unsafe_markup(source, attachments)
        if not found:
            return source
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", source)), default=0))
        return (f"*(The grader shows this cell as text: it held {', '.join(f'`{x}`' for x in sorted(set(found))[:5])}.)*\n\n"
                f"{fence}text\n{source}\n{fence}\n")


def unsafe_markup(source: str, attachments: dict | None = None) -> list[str]:
    """What in a Markdown cell's rendering (as nbconvert renders it, pasted images included) falls
    outside MARKDOWN_TAGS and `markdown_attribute_allowed`: empty for an ordinary answer."""
    try:
        rendered = MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments or {})).render(source)
    except Exception as error:  # noqa: BLE001 (e.g. a missing attachment: shown as text)
        return [f"what nbconvert cannot render ({type(error).__name__})"]
    finder = _UnsafeMarkup()
    finder.feed(rendered)
    finder.close()
    return finder.found


# What rendered Markdown may hold in a learner's cell: the tags Markdown itself makes, and the
# inert inline HTML people write in answers. Anything else (a script, an event handler, an iframe,
# a javascript: link) gets the cell shown as text.
MARKDOWN_TAGS = frozenset(
    "a abbr b blockquote br code dd del details div dl dt em h1 h2 h3 h4 h5 h6 hr i img kbd li ol p pre s "
    "span strong sub summary sup table tbody td th thead tr u ul".split()
)
_ATTRIBUTES = {
    "a": {"href", "title", "class"}, "img": {"src", "alt", "title", "width", "height"}, "abbr": {"title"},
    "code": {"class"}, "div": {"class"}, "span": {"class"}, "ol": {"start"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"attachment", "data"})  # an image pasted into an answer; inert in <img>
_TABLE_ALIGNMENT = {f"text-align:{side}" for side in ("left", "right", "center")}  # what Markdown tables make


def markdown_attribute_allowed(tag: str, name: str, value: str) -> bool:
    """Whether rendered Markdown may keep this attribute: no event handler, no inline style but a
    table's alignment, links only to LINK_SCHEMES (or relative), images also from IMAGE_SCHEMES."""
    if tag in ("th", "td") and name == "style":
        return value.replace(" ", "").rstrip(";") in _TABLE_ALIGNMENT
    if name not in _ATTRIBUTES.get(tag, ()):
        return False
    if name in ("href", "src") and ":" in value.split("/")[0]:
        scheme = value.split(":", 1)[0].strip().lower()
        return scheme in LINK_SCHEMES or (tag == "img" and scheme in IMAGE_SCHEMES)
    return True


class _UnsafeMarkup(HTMLParser):
    """Finds, in rendered HTML, a tag or attribute that rendered Markdown may not keep."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in MARKDOWN_TAGS:
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {name}>" for name, value in attrs
                       if not markdown_attribute_allowed(tag, name, value or "")]
