"""Draw book/figures/flows.svg: the repository's three flows (book build, exercise release, grading).

Plain string templating, no plotting library and no network, so the drawing is the same on every
machine. Run it after changing the boxes below, and commit both files:

    python book/figures/flows.py

tests/test_book.py checks that the committed SVG is exactly what this script draws.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

SVG = Path(__file__).with_suffix(".svg")

# Each flow is a column of boxes, read top to bottom. A box is (title, detail lines); a title in
# backquotes is a path or a command and is set in a monospace font.
FLOWS = [
    (
        "Book build",
        "make book",
        [
            ("`book/NN_topic.ipynb`", ["prose, maths and plots that call", "course_lib, the reference code"]),
            ("`jupyter-book build`", ["executes every notebook (cached);", "show_source reads course_lib"]),
            ("`_build/html/`", ["the book, with figures and", "MathJax served from the book"]),
            ("`tests/test_book.py`", ["and test_browser.py: no warning,", "every page in Chromium"]),
        ],
    ),
    (
        "Exercise release",
        "make exercises",
        [
            ("`solutions/NN_topic/`", ["answers, visible tests", "and hidden tests"]),
            ("`nbgrader generate_assignment`", ["answers become stubs,", "hidden tests are removed"]),
            ("`exercises/NN_topic/`", ["the release, committed; a test", "checks it matches solutions/"]),
            ("`make lab` → `my_work/`", ["learners answer and Validate;", "or via nbgrader's exchange"]),
        ],
    ),
    (
        "Grading",
        "nbgrader autograde",
        [
            ("Students' notebooks", ["LMS export: autograder.collection;", "exchange: nbgrader collect"]),
            ("`submitted/<student>/`", ["untrusted code, never run", "outside the sandbox"]),
            ("Preflight", ["the reference solution must earn", "every automatic point first"]),
            ("Sandboxed autograde", ["intake and repair; bubblewrap;", "tests in a kernel of their own"]),
            ("`gradebook.db`, `autograded/`", ["scores; Formgrader for the", "written answers"]),
            ("`feedback/`, `grades.csv`", ["generate_feedback without hidden", "tests; nbgrader export"]),
        ],
    ),
]
# Dashed links between flows: (flow, box) -> (flow, box), with a label.
LINKS = [((1, 0), (2, 2), "reference solution")]

MARGIN, COLUMN, GAP = 8, 236, 36
TOP, HEADER = 16, 46
TITLE_SIZE, DETAIL_SIZE, LINE = 12.5, 11.5, 15
BOX_HEIGHT, ROW_GAP = 28 + 2 * LINE, 26
COLOURS = ["#2f6f9f", "#3f8f4f", "#a0522d"]
FILLS = ["#eef4fa", "#eef7f0", "#fbf1ea"]
SANS = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def _title(text: str, x: float, y: float) -> str:
    """A box title, centred: spans in backquotes monospace, the rest bold sans-serif."""
    spans = []
    for index, part in enumerate(text.split("`")):
        if part:
            family, weight = (MONO, "normal") if index % 2 else (SANS, "bold")
            spans.append(f'<tspan font-family="{family}" font-weight="{weight}">{escape(part)}</tspan>')
    return f'<text x="{x:g}" y="{y:g}" text-anchor="middle" font-size="{TITLE_SIZE}">{"".join(spans)}</text>'


def _box_y(row: int) -> float:
    return TOP + HEADER + row * (BOX_HEIGHT + ROW_GAP)


def draw() -> str:
    rows = max(len(boxes) for _, _, boxes in FLOWS)
    width = 2 * MARGIN + len(FLOWS) * COLUMN + (len(FLOWS) - 1) * GAP
    height = _box_y(rows) - ROW_GAP + MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:g}" '
        f'viewBox="0 0 {width} {height:g}" font-family="{SANS}" role="img" aria-labelledby="title desc">',
        '<title id="title">The three flows of the repository</title>',
        '<desc id="desc">Book build: the book notebooks and course_lib are executed by jupyter-book build into '
        "_build/html, which the book and browser tests check. Exercise release: nbgrader generate_assignment "
        "turns solutions/ into the committed exercises/, which learners copy to my_work/ with make lab. Grading: "
        "students' notebooks are collected into submitted/, the reference solution passes a preflight, each "
        "submission is autograded in a sandbox into the gradebook and autograded/, then feedback and grades.csv "
        "are produced.</desc>",
        "<defs>",
        *(
            f'<marker id="arrow{i}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for i, colour in enumerate(COLOURS + ["#555555"])
        ),
        "</defs>",
        f'<rect width="{width}" height="{height:g}" fill="#ffffff"/>',
    ]
    for f, (name, command, boxes) in enumerate(FLOWS):
        x = MARGIN + f * (COLUMN + GAP)
        centre = x + COLUMN / 2
        out.append(f'<g id="flow{f + 1}">')
        out.append(
            f'<text x="{centre:g}" y="{TOP + 16:g}" text-anchor="middle" font-size="16" font-weight="bold" '
            f'fill="{COLOURS[f]}">{escape(name)}</text>'
        )
        out.append(
            f'<text x="{centre:g}" y="{TOP + 34:g}" text-anchor="middle" font-size="12.5" font-family="{MONO}" '
            f'fill="{COLOURS[f]}">{escape(command)}</text>'
        )
        for row, (title, details) in enumerate(boxes):
            y = _box_y(row)
            out.append(
                f'<rect x="{x}" y="{y:g}" width="{COLUMN}" height="{BOX_HEIGHT}" rx="7" '
                f'fill="{FILLS[f]}" stroke="{COLOURS[f]}" stroke-width="1.5"/>'
            )
            out.append(_title(title, centre, y + 21))
            for line, detail in enumerate(details):
                out.append(
                    f'<text x="{centre:g}" y="{y + 21 + LINE * (line + 1):g}" text-anchor="middle" '
                    f'font-size="{DETAIL_SIZE}" fill="#333333">{escape(detail)}</text>'
                )
            if row:
                out.append(
                    f'<line x1="{centre:g}" y1="{y - ROW_GAP + 1:g}" x2="{centre:g}" y2="{y - 2:g}" '
                    f'stroke="{COLOURS[f]}" stroke-width="2" marker-end="url(#arrow{f})"/>'
                )
        out.append("</g>")
    for (f1, r1), (f2, r2), label in LINKS:
        # out of the right side of one box, down the gap between the columns, into the left side of the other
        x1 = MARGIN + f1 * (COLUMN + GAP) + COLUMN
        x2 = MARGIN + f2 * (COLUMN + GAP)
        y1, y2 = _box_y(r1) + BOX_HEIGHT / 2, _box_y(r2) + BOX_HEIGHT / 2
        middle = (x1 + x2) / 2
        out.append(
            f'<path d="M{x1 + 1},{y1:g} H{middle:g} V{y2:g} H{x2 - 2}" fill="none" stroke="#555555" '
            f'stroke-width="1.5" stroke-dasharray="5 4" marker-end="url(#arrow{len(COLOURS)})"/>'
        )
        out.append(
            f'<text x="{middle + 5:g}" y="{(y1 + y2) / 2:g}" font-size="{DETAIL_SIZE}" fill="#555555" '
            f'transform="rotate(90 {middle + 5:g} {(y1 + y2) / 2:g})" text-anchor="middle">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    SVG.write_text(draw(), encoding="utf-8")
    print(f"wrote {SVG}")
