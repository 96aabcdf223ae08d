"""Draw book/figures/embedding_lookup.svg (chapter 1): tokens -> ids -> vectors, an embedding lookup as
rows picked from the table. The sizes are the chapter's running example: "This is book" with the
vocabulary of its three-sentence corpus (V = 14) and d = 5.

    python book/figures/embedding_lookup.py

tests/test_book.py checks that the committed SVG is exactly what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _style import ACCENT, INK, figure, svg, write  # noqa: E402

from course_lib import WordTokenizer  # noqa: E402

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

# The chapter's corpus and running example; the ids are the ones its tokenizer gives.
CORPUS = ["This is book.", "The cat sat on the mat.", "A dog is not a cat."]
VOCAB = WordTokenizer.fit(CORPUS).id_to_token
WORDS = ["this", "is", "book"]
D = 5
LIGHT = "#F5DDEA"  # a light tint of ACCENT, for the rows that are picked


def _arrow(ax, start, end, colour=INK):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=colour, lw=1.2,
                                 shrinkA=2, shrinkB=2))


def _grid(ax, x, top, rows, cols, cell, fills):
    """A matrix drawn as cells, row 0 at the top; fills[r] colours row r."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((x + c * cell, top - (r + 1) * cell), cell, cell, facecolor=fills[r],
                                   edgecolor="#888888", lw=0.6))


def draw() -> str:
    fig, ax = figure(8.8, 3.9)
    cell = 0.2
    ids = [VOCAB.index(w) for w in WORDS]
    word_y = [2.75, 2.05, 1.35]

    ax.text(0.65, 3.55, "tokens", ha="center", weight="bold")
    ax.text(1.95, 3.55, "ids", ha="center", weight="bold")
    ax.text(1.95, 3.33, f"shape (n,) = ({len(WORDS)},)", ha="center", fontsize=9)
    for word, token_id, y in zip(WORDS, ids, word_y):
        ax.add_patch(FancyBboxPatch((0.25, y - 0.17), 0.8, 0.34, boxstyle="round,pad=0.02", facecolor="white",
                                    edgecolor=INK, lw=1))
        ax.text(0.65, y, f'"{word}"', ha="center", va="center", family="DejaVu Sans Mono", fontsize=10)
        _arrow(ax, (1.08, y), (1.72, y))
        ax.add_patch(FancyBboxPatch((1.75, y - 0.17), 0.4, 0.34, boxstyle="round,pad=0.02", facecolor=LIGHT,
                                    edgecolor=ACCENT, lw=1.2))
        ax.text(1.95, y, str(token_id), ha="center", va="center", weight="bold")

    # The table: V rows of d numbers, with each row's id and token on its left.
    table_x, table_top = 3.75, 3.2
    fills = [LIGHT if i in ids else "white" for i in range(len(VOCAB))]
    _grid(ax, table_x, table_top, len(VOCAB), D, cell, fills)
    ax.text(table_x + D * cell / 2, 3.55, "embedding table E", ha="center", weight="bold")
    ax.text(table_x + D * cell / 2, 3.33, f"shape (V, d) = ({len(VOCAB)}, {D})", ha="center", fontsize=9)
    for i, token in enumerate(VOCAB):
        y = table_top - (i + 0.5) * cell
        picked = i in ids
        style = dict(va="center", fontsize=8, family="DejaVu Sans Mono", color=INK if picked else "#777777",
                     weight="bold" if picked else "normal")
        ax.text(table_x - 0.62, y, str(i), ha="right", **style)
        ax.text(table_x - 0.54, y, token, ha="left", **style)
    for token_id, y in zip(ids, word_y):
        _arrow(ax, (2.18, y), (table_x - 0.85, table_top - (token_id + 0.5) * cell), colour=ACCENT)

    # The result: the picked rows, stacked in the order of the sentence.
    out_x, out_top = 6.35, 2.35
    _grid(ax, out_x, out_top, len(WORDS), D, cell, [LIGHT] * len(WORDS))
    ax.text(out_x + D * cell / 2, 3.55, "vectors X = E[ids]", ha="center", weight="bold")
    ax.text(out_x + D * cell / 2, 3.33, f"shape (n, d) = ({len(WORDS)}, {D})", ha="center", fontsize=9)
    for r, (word, token_id) in enumerate(zip(WORDS, ids)):
        y_out = out_top - (r + 0.5) * cell
        _arrow(ax, (table_x + D * cell + 0.05, table_top - (token_id + 0.5) * cell), (out_x - 0.05, y_out),
               colour=ACCENT)
        ax.text(out_x + D * cell + 0.1, y_out, f"row {token_id}: {word}", va="center", fontsize=9)
    ax.text(out_x + D * cell / 2, 1.45, f"d = {D} numbers\nper token", ha="center", va="top", fontsize=9,
            color="#555555")

    ax.text(4.4, 0.2, "A lookup copies row i of E for id i; the same rows as one_hot(ids) @ E, without the zeros.",
            ha="center", fontsize=9.5, color="#333333")
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
