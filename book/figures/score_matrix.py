"""Draw book/figures/score_matrix.svg (chapter 3): the score matrix S = Q K^T, an n_q x n_k grid in which
one cell is one dot product of a query row and a key column, and its scaling by sqrt(d_k). The sizes
are the chapter's first example: n_q = 4 queries, n_k = 6 keys, d_k = 8.

    python book/figures/score_matrix.py

tests/test_book.py checks that the committed SVG is exactly what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _style import ACCENT, INK, KEY, QUERY, figure, svg, tint, write  # noqa: E402

from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

N_Q, N_K, D_K = 4, 6, 8
I, J = 1, 3  # the cell that is worked out (0-based row and column; labelled i and j)
CELL = 0.22
SCORE = "#8F6BA8"  # the grid of scores: neither a query nor a key


def _matrix(ax, x, top, rows, cols, colour, strong=lambda r, c: False):
    for r in range(rows):
        for c in range(cols):
            fill = tint(colour, 0.8 if strong(r, c) else 0.15)
            ax.add_patch(Rectangle((x + c * CELL, top - (r + 1) * CELL), CELL, CELL, facecolor=fill,
                                   edgecolor=tint(colour, 0.55), lw=0.5))
    ax.add_patch(Rectangle((x, top - rows * CELL), cols * CELL, rows * CELL, fill=False, edgecolor=colour, lw=1.3))


def draw() -> str:
    fig, ax = figure(8.4, 3.95)
    s_x, s_top = 2.75, 1.6  # the score grid; K^T sits above it, Q to its left
    q_x = s_x - 0.2 - D_K * CELL
    kt_top = s_top + 0.2 + D_K * CELL

    _matrix(ax, q_x, s_top, N_Q, D_K, QUERY, strong=lambda r, c: r == I)
    ax.text(q_x + D_K * CELL / 2, s_top - N_Q * CELL - 0.1, "Q: one query per row\n(n_q, d_k) = (4, 8)",
            ha="center", va="top", fontsize=9, color=QUERY)
    ax.text(q_x - 0.08, s_top - (I + 0.5) * CELL, "$q_i$", ha="right", va="center", fontsize=10, color=QUERY)

    _matrix(ax, s_x, kt_top, D_K, N_K, KEY, strong=lambda r, c: c == J)
    ax.text(s_x - 0.12, kt_top - D_K * CELL / 2, "$K^\\top$: one key\nper column\n(d_k, n_k) = (8, 6)",
            ha="right", va="center", fontsize=9, color=KEY)
    ax.text(s_x + (J + 0.5) * CELL, kt_top + 0.06, "$k_j$", ha="center", va="bottom", fontsize=10, color=KEY)

    _matrix(ax, s_x, s_top, N_Q, N_K, SCORE, strong=lambda r, c: (r, c) == (I, J))
    cell_x, cell_y = s_x + (J + 0.5) * CELL, s_top - (I + 0.5) * CELL
    ax.add_patch(Rectangle((s_x + J * CELL, s_top - (I + 1) * CELL), CELL, CELL, fill=False, edgecolor=ACCENT,
                           lw=2.2))
    ax.text(s_x + N_K * CELL / 2, s_top - N_Q * CELL - 0.1, "$S = QK^\\top$\n(n_q, n_k) = (4, 6)", ha="center",
            va="top", fontsize=9.5)

    # The worked cell, explained to the right of K^T.
    note_x, note_y = s_x + N_K * CELL + 0.55, kt_top - 0.35
    ax.text(note_x, note_y, "one cell = one dot product:", fontsize=10, weight="bold", va="top")
    ax.text(note_x, note_y - 0.3, "$S_{ij} = q_i \\cdot k_j = \\sum_{t=1}^{d_k} q_{it}\\, k_{jt}$", fontsize=11,
            va="top")
    ax.text(note_x, note_y - 0.88, "d_k = 8 products, summed; all\nn_q \u00d7 n_k = 24 cells in one product",
            fontsize=9, va="top", color="#444444")
    ax.add_patch(FancyArrowPatch((note_x - 0.05, note_y - 0.5), (cell_x + 0.1, cell_y + 0.06), arrowstyle="-|>",
                                 mutation_scale=10, color=ACCENT, lw=1.2, connectionstyle="arc3,rad=0.25"))

    # Scaling: the same grid divided by sqrt(d_k).
    scaled_x = s_x + N_K * CELL + 1.75
    ax.add_patch(FancyArrowPatch((s_x + N_K * CELL + 0.12, s_top - N_Q * CELL / 2),
                                 (scaled_x - 0.12, s_top - N_Q * CELL / 2), arrowstyle="-|>", mutation_scale=12,
                                 color=INK, lw=1.4))
    ax.text((s_x + N_K * CELL + scaled_x) / 2, s_top - N_Q * CELL / 2 + 0.08, "$\\div \\sqrt{d_k}$", ha="center",
            va="bottom", fontsize=12)
    ax.text((s_x + N_K * CELL + scaled_x) / 2, s_top - N_Q * CELL / 2 - 0.1, "= \u00f7 \u221a8", ha="center",
            va="top", fontsize=9, color="#444444")
    _matrix(ax, scaled_x, s_top, N_Q, N_K, SCORE, strong=lambda r, c: (r, c) == (I, J))
    ax.text(scaled_x + N_K * CELL / 2, s_top - N_Q * CELL - 0.1,
            "$S / \\sqrt{d_k}$, same shape (4, 6)\nvariance d_k \u2192 1 (unit-variance q, k)", ha="center", va="top",
            fontsize=9.5)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
