"""Draw book/figures/span_search.svg (chapter 13): how extractive question answering picks its
answer. Left, one window as MiniLM's tokenizer cuts it ("Where was Ama born?" with a two-sentence
context), and the grid of every (start, end) token pair: only pairs inside the context, with the end
not before the start and at most max_answer_len tokens long, can be the answer; the pair ([CLS],
[CLS]) is "no answer". Right, a long context: every window proposes its best span, the highest
score wins, and the tokenizer's character offsets turn it into text.

The tokens are those of all-MiniLM-L6-v2's tokenizer for this question and context (checked by
tests/test_extractive_qa.py); the figure draws no probabilities, only which pairs are allowed.

    python book/figures/span_search.py

tests/test_book.py checks that the committed SVG is what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _style import ACCENT, ALLOWED, BLOCKED, INK, KEY, MUTED, QUERY, VALUE, figure, svg, tint, write  # noqa: E402

from matplotlib.patches import Rectangle  # noqa: E402

QUESTION = "Where was Ama born?"
CONTEXT = "Tam was born in Tordale. Ama was born in Belford."
TOKENS = ["[CLS]", "where", "was", "ama", "born", "?", "[SEP]", "tam", "was", "born", "in", "tor", "##dale", ".",
          "ama", "was", "born", "in", "bel", "##ford", ".", "[SEP]"]
CONTEXT_TOKENS = range(7, 21)  # sequence id 1: the context (no [SEP])
MAX_ANSWER_LEN = 4  # small, so that the band is visible (answer_question's default is 30)
BEST = (18, 19)  # bel ##ford
DISTRACTOR = (11, 12)  # tor ##dale: a town, but Tam's

CELL = 0.158
WIDTH, HEIGHT = 10.6, 5.75
GRID_X, GRID_TOP = 1.25, 4.75
SPECIAL, QUESTION_INK = "#777777", "#999999"


def allowed(i: int, j: int) -> bool:
    return i in CONTEXT_TOKENS and j in CONTEXT_TOKENS and i <= j < i + MAX_ANSWER_LEN


def _cell(ax, i: int, j: int, **style) -> None:
    ax.add_patch(Rectangle((GRID_X + j * CELL, GRID_TOP - (i + 1) * CELL), CELL, CELL, **style))


def _label_ink(t: int) -> str:
    if TOKENS[t] in ("[CLS]", "[SEP]"):
        return SPECIAL
    return INK if t in CONTEXT_TOKENS else QUESTION_INK


def _grid(ax) -> None:
    n = len(TOKENS)
    for i in range(n):
        for j in range(n):
            if (i, j) == (0, 0):
                fill = tint(ACCENT, 0.45)
            elif allowed(i, j):
                fill = tint(ALLOWED, 0.55)
            else:
                fill = BLOCKED
            _cell(ax, i, j, facecolor=fill, edgecolor="white", lw=0.4)
    _cell(ax, *BEST, fill=False, edgecolor=VALUE, lw=2.2)
    _cell(ax, *DISTRACTOR, fill=False, edgecolor=INK, lw=1.0, ls=(0, (2, 1.5)))
    for t, token in enumerate(TOKENS):
        weight = "bold" if t in BEST else "normal"
        ax.text(GRID_X - 0.05, GRID_TOP - (t + 0.5) * CELL, token, ha="right", va="center", fontsize=6.5,
                family="DejaVu Sans Mono", color=_label_ink(t), weight=weight)
        ax.text(GRID_X + (t + 0.5) * CELL, GRID_TOP + 0.05, token, ha="center", va="bottom", rotation=90,
                fontsize=6.5, family="DejaVu Sans Mono", color=_label_ink(t), weight=weight)
    side = n * CELL
    ax.text(GRID_X - 0.62, GRID_TOP - side / 2, "start token i", rotation=90, ha="center", va="center", fontsize=9.5,
            color=QUERY)
    ax.text(GRID_X + side / 2, GRID_TOP + 0.6, "end token j", ha="center", va="bottom", fontsize=9.5, color=KEY)
    ax.text(GRID_X + side / 2, GRID_TOP - side - 0.12,
            f"one window: Q = “{QUESTION}”\ncontext = “{CONTEXT}”", ha="center", va="top", fontsize=8.5)


def _legend(ax, x: float, top: float) -> float:
    rows = [
        (dict(facecolor=tint(ALLOWED, 0.55)), "may be the answer: start and end in the context,\n"
                                              f"end ≥ start, at most max_answer_len tokens ({MAX_ANSWER_LEN} "
                                              "here, 30 by default)"),
        (dict(facecolor=BLOCKED), "never the answer: a question token or [SEP],\nan end before its start, too long"),
        (dict(facecolor=tint(ACCENT, 0.45)), "([CLS], [CLS]): “no answer”, a rival only\nwith handle_impossible_answer=True"),
        (dict(fill=False, edgecolor=VALUE, lw=2.2), "the window's best pair: bel … ##ford"),
        (dict(fill=False, edgecolor=INK, lw=1.0, ls=(0, (2, 1.5))), "tor … ##dale: a town too, but Tam's"),
    ]
    y = top
    for style, text in rows:
        ax.add_patch(Rectangle((x, y - 0.17), 0.17, 0.17, **style))
        ax.text(x + 0.3, y + 0.01, text, va="top", fontsize=8.5, linespacing=1.25)
        y -= 0.5 if "\n" in text else 0.33
    ax.text(x, y - 0.02, "score(i, j) = p_start(i) · p_end(j), each a softmax over\nthe window's context tokens and [CLS]",
            va="top", fontsize=9, linespacing=1.3, weight="bold")
    return y - 0.62


def _windows(ax, x: float, top: float) -> None:
    ax.text(x, top, "A longer context: several windows, one answer", fontsize=9.5, weight="bold", va="top")
    question_w, piece_w, step = 0.5, 1.7, 0.62  # inches; each window's piece starts `step` further on
    y = top - 0.38
    whole = 2 * step + piece_w
    ax.add_patch(Rectangle((x + question_w, y - 0.16), whole, 0.16, facecolor=tint(ALLOWED, 0.3), edgecolor=INK,
                           lw=0.6))
    ax.text(x + question_w + whole + 0.08, y - 0.08, "the whole context", va="center", fontsize=8)
    y -= 0.3
    for w in range(3):
        left = x + w * step
        ax.add_patch(Rectangle((left, y - 0.2), question_w, 0.2, facecolor=tint(MUTED, 0.6), edgecolor="none"))
        ax.text(left + question_w / 2, y - 0.1, "[CLS] Q", ha="center", va="center", fontsize=6.5, color=SPECIAL)
        ax.add_patch(Rectangle((left + question_w, y - 0.2), piece_w, 0.2, facecolor=tint(ALLOWED, 0.55 + 0.15 * w),
                               edgecolor="none"))
        ax.text(left + question_w + piece_w / 2, y - 0.1, f"window {w}", ha="center", va="center", fontsize=7)
        ax.text(x + question_w + whole + 0.08, y - 0.1, f"best span, score s{w}", va="center", fontsize=8)
        y -= 0.3
    ax.text(x + question_w + whole, y - 0.06, "the highest of s0, s1, s2 wins", ha="right", va="center",
            fontsize=8.5, weight="bold", color=VALUE)
    ax.text(x, y - 0.3, "Pieces overlap by `stride` tokens: an answer of up to stride + 1 tokens\n"
            "cut by one window's edge is whole in the next. The winning tokens become\n"
            "characters through offset_mapping: context[start:end] = “Belford”.", va="top", fontsize=8,
            linespacing=1.3)


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    _grid(ax)
    right = GRID_X + len(TOKENS) * CELL + 0.45
    below = _legend(ax, right, GRID_TOP + 0.55)
    _windows(ax, right, below)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
