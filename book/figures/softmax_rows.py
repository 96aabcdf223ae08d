"""Draw book/figures/softmax_rows.svg (chapter 4): the softmax works on each row of the score matrix.

Scores S (one row per query, one column per key) -> exp -> each row divided by its own sum, so
that every row of weights P sums to 1 -> P @ V, one output row per query. The numbers are computed
here, so the picture is the arithmetic it shows:

    python book/figures/softmax_rows.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _style.py, beside this script
from _style import ACCENT, INK, KEY, QUERY, VALUE, figure, svg, write  # noqa: E402

SCORES = np.array([[2.0, 1.0, 0.1, -1.0],
                   [0.5, 0.5, 0.5, 0.5],
                   [-1.0, 3.0, 0.0, 1.0]])  # 3 queries, 4 keys
VALUES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])  # 4 keys, d_v = 2
CELL_W, CELL_H = 0.52, 0.36
ROW_TINTS = ["#D6E6F2", "#FFFFFF", "#D6E6F2"]  # alternate rows, so a row reads as one unit


def _matrix(ax, x, top, values, fmt, title, subtitle, row_labels=None, col_labels=None, col_colour=KEY,
            fill=None, edge=INK, cell_w=CELL_W):
    """A matrix of numbers with its top-left corner at (x, top); returns its right edge."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            face = fill if fill is not None else ROW_TINTS[i]
            ax.add_patch(Rectangle((x + j * cell_w, top - (i + 1) * CELL_H), cell_w, CELL_H,
                                   facecolor=face, edgecolor=edge, linewidth=0.8))
            ax.text(x + (j + 0.5) * cell_w, top - (i + 0.5) * CELL_H, format(values[i, j], fmt),
                    ha="center", va="center", fontsize=9.5)
    if row_labels:
        for i, label in enumerate(row_labels):
            ax.text(x - 0.08, top - (i + 0.5) * CELL_H, label, ha="right", va="center", fontsize=9.5, color=QUERY)
    if col_labels:
        for j, label in enumerate(col_labels):
            ax.text(x + (j + 0.5) * cell_w, top + 0.1, label, ha="center", va="bottom", fontsize=9.5, color=col_colour)
    centre = x + cols * cell_w / 2
    ax.text(centre, top + 0.62, title, ha="center", va="bottom", fontsize=11.5, fontweight="bold")
    ax.text(centre, top - rows * CELL_H - 0.12, subtitle, ha="center", va="top", fontsize=9.5, color="#444444")
    return x + cols * cell_w


def _column(ax, x, top, values, fmt, label, colour):
    """One extra column (the row sums) beside a matrix, in a colour of its own."""
    for i, value in enumerate(values):
        ax.add_patch(Rectangle((x, top - (i + 1) * CELL_H), CELL_W, CELL_H, facecolor="#FFFFFF",
                               edgecolor=colour, linewidth=1.4))
        ax.text(x + CELL_W / 2, top - (i + 0.5) * CELL_H, format(value, fmt), ha="center", va="center",
                fontsize=9.5, color=colour, fontweight="bold")
    ax.text(x + CELL_W / 2, top + 0.1, label, ha="center", va="bottom", fontsize=9.5, color=colour)
    return x + CELL_W


def _arrow(ax, x1, x2, y, label):
    ax.add_patch(FancyArrowPatch((x1, y), (x2, y), arrowstyle="-|>", mutation_scale=14, color=INK, linewidth=1.4))
    ax.text((x1 + x2) / 2, y + 0.1, label, ha="center", va="bottom", fontsize=10)


def draw() -> str:
    exp = np.exp(SCORES)
    sums = exp.sum(axis=-1)
    weights = exp / sums[:, None]
    output = weights @ VALUES

    fig, ax = figure(13.6, 3.3)
    top, middle = 2.35, 2.35 - 1.5 * CELL_H
    queries = ["q1", "q2", "q3"]
    keys = ["k1", "k2", "k3", "k4"]

    right = _matrix(ax, 0.45, top, SCORES, ".1f", "scores S", "any real numbers", queries, keys)
    _arrow(ax, right + 0.1, right + 0.75, middle, "exp")
    x = right + 0.85
    right = _matrix(ax, x, top, exp, ".2f", "exp(S)", "all positive", col_labels=keys)
    right = _column(ax, right + 0.12, top, sums, ".2f", "row sum", ACCENT)
    _arrow(ax, right + 0.1, right + 0.95, middle, "÷ row sum")
    x = right + 1.35
    right = _matrix(ax, x, top, weights, ".2f", "weights P = softmax(S)", "each row: one query's weights",
                    queries, keys)
    right = _column(ax, right + 0.12, top, weights.sum(axis=-1), ".2f", "row sum", ACCENT)
    _arrow(ax, right + 0.1, right + 0.95, middle, "P @ V")
    x = right + 1.35
    right = _matrix(ax, x, top, output, ".2f", "output", "row i = Σⱼ Pᵢⱼ vⱼ", queries, ["", ""],
                    fill="#DDF0E8", edge=VALUE, cell_w=0.6)
    # V itself, small, under the last arrow: 4 keys x d_v = 2
    ax.text(right - 1.85, 0.52, "V (one row per key):", ha="right", va="center", fontsize=9, color=VALUE)
    ax.text(right - 1.8, 0.52, "  ".join(f"[{a:g}, {b:g}]" for a, b in VALUES), ha="left", va="center",
            fontsize=9, color=VALUE)
    ax.text(0.45, 0.15, "The softmax runs along each row (axis=-1, over the keys): rows are normalised "
            "one by one and never mixed.", ha="left", va="center", fontsize=9.5, color="#444444")
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
