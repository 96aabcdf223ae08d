"""Written answers (Markdown cells a learner edits) in the graded notebook, which the formgrader and
the feedback pages render: an ordinary answer is kept exactly as written; one whose rendering holds
active content is shown as text (autograder.feedback.SanitizeOutputs, issue 25)."""
from __future__ import annotations

import nbformat
import pytest

from autograder.feedback import SanitizeOutputs, unsafe_markup

ORDINARY = [
    "> a quoted line, then a < b & c, **bold**, <b>bold</b>, <kbd>Ctrl</kbd> and H<sub>2</sub>O",
    "| token | id |\n|:--|--:|\n| cat | 3 |",
    "Inline $q \\cdot k < \\sqrt{d_k}$ and display $$\\mathrm{softmax}(x)_i = e^{x_i} / \\sum_j e^{x_j}$$",
    "```python\nscores = q @ k.T / d_k ** 0.5  # <script> here is code\n```",
    "[the paper](https://arxiv.org/abs/1706.03762), <https://example.org>, [below](#masking), ![plot](attachment:p.png)",
    "<details><summary>Why?</summary>Because the rows sum to 1.</details>",
    "YOUR ANSWER HERE",
]
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    '<iframe src="https://example.org"></iframe>',
    "<style>body { display: none }</style>",
    '<svg onload="alert(1)"></svg>',
    "<div>\n\n[inside an HTML block](javascript:alert(1))\n\n</div>",
    "``` `` ```` <script>alert(1)</script>",  # backtick runs: the fence must be longer than any of them
]
ATTACHMENTS = {"p.png": {"image/png": "iVBORw0KGgo="}}


@pytest.mark.parametrize("answer", ORDINARY)
def test_an_ordinary_answer_is_kept_as_written(answer):
    assert not unsafe_markup(answer, ATTACHMENTS)
    assert SanitizeOutputs().sanitize_markdown(answer, ATTACHMENTS) == answer


@pytest.mark.parametrize("answer", HOSTILE)
def test_an_answer_with_active_content_is_shown_as_text(answer):
    assert unsafe_markup(answer)
    shown = SanitizeOutputs().sanitize_markdown(answer)
    assert answer in shown and "The grader shows this cell as text" in shown
    assert not unsafe_markup(shown), shown


def test_only_cells_the_learner_edits_are_touched():
    instructors = nbformat.v4.new_markdown_cell("<iframe src='https://example.org/video'></iframe>")
    instructors.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "intro"}
    written = nbformat.v4.new_markdown_cell("<script>alert(1)</script>")
    written.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "grade_id": "answer"}
    added = nbformat.v4.new_markdown_cell("<script>alert(2)</script>")
    nb = nbformat.v4.new_notebook(cells=[instructors, written, added])
    SanitizeOutputs().preprocess(nb, {})
    assert nb.cells[0].source == "<iframe src='https://example.org/video'></iframe>"
    assert all("The grader shows this cell as text" in cell.source for cell in nb.cells[1:])
