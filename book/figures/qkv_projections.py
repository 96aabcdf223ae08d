"""Draw book/figures/qkv_projections.svg (chapter 2): the token vectors X times three learned matrices
W_Q, W_K, W_V give the queries Q, keys K and values V, with the chapter's sizes (n = 9 tokens,
d_model = 8, d_k = 4, d_v = 6). One token's row is marked through all of them.

    python book/figures/qkv_projections.py

tests/test_book.py checks that the committed SVG is exactly what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _style import INK, KEY, QUERY, VALUE, figure, svg, tint, write  # noqa: E402

from course_lib import WordTokenizer  # noqa: E402

from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

# The chapter's sentence: n tokens as its tokenizer cuts them; the sizes are the chapter's choices.
SENTENCE = "He took the hat and examined it carefully."
TOKENS = WordTokenizer.fit([SENTENCE]).decode(WordTokenizer.fit([SENTENCE]).encode(SENTENCE))
N, D_MODEL, D_K, D_V = len(TOKENS), 8, 4, 6
TOKEN = TOKENS.index("it")  # the row that is marked
CELL = 0.12
ROLES = [  # role, output, colour, output size
    ("query", "Q", QUERY, D_K),
    ("key", "K", KEY, D_K),
    ("value", "V", VALUE, D_V),
]


def _matrix(ax, x, centre_y, rows, cols, colour, marked=None):
    """A rows x cols matrix of cells, vertically centred on centre_y; returns its top edge."""
    top = centre_y + rows * CELL / 2
    for r in range(rows):
        fill = tint(colour, 0.75 if r == marked else 0.18)
        for c in range(cols):
            ax.add_patch(Rectangle((x + c * CELL, top - (r + 1) * CELL), CELL, CELL, facecolor=fill,
                                   edgecolor=tint(colour, 0.6), lw=0.5))
    ax.add_patch(Rectangle((x, top - rows * CELL), cols * CELL, rows * CELL, fill=False, edgecolor=colour, lw=1.2))
    return top


def draw() -> str:
    fig, ax = figure(7.6, 5.4)
    grey = "#555555"

    # X, in the middle of the left side.
    x_left, x_centre_y = 0.35, 2.82
    top = _matrix(ax, x_left, x_centre_y, N, D_MODEL, "#666666", marked=TOKEN)
    ax.text(x_left + D_MODEL * CELL / 2, top + 0.28, "X", ha="center", weight="bold", fontsize=13)
    ax.text(x_left + D_MODEL * CELL / 2, top + 0.08, "token vectors", ha="center", fontsize=9, color=grey)
    ax.text(x_left + D_MODEL * CELL / 2, x_centre_y - N * CELL / 2 - 0.2, f"(n, d_model)\n= ({N}, {D_MODEL})", ha="center",
            va="top", fontsize=9)
    ax.text(x_left - 0.06, top - (TOKEN + 0.5) * CELL, "it", ha="right", va="center", fontsize=8, color=grey)

    w_x, out_x = 2.9, 4.35
    for row, (role, out_name, colour, size) in enumerate(ROLES):
        centre_y = 4.5 - row * 1.68
        ax.add_patch(FancyArrowPatch((x_left + D_MODEL * CELL + 0.1, x_centre_y), (w_x - 0.45, centre_y),
                                     arrowstyle="-|>", mutation_scale=11, color=colour, lw=1.3,
                                     connectionstyle="arc3,rad=0"))
        ax.text(w_x - 0.25, centre_y, "@", ha="center", va="center", fontsize=13)
        w_top = _matrix(ax, w_x, centre_y, D_MODEL, size, colour)
        ax.text(w_x + size * CELL / 2, w_top + 0.08, f"$W_{out_name}$", ha="center", fontsize=12, color=colour)
        ax.text(w_x + size * CELL + 0.22, centre_y, "=", ha="center", va="center", fontsize=14)
        out_top = _matrix(ax, out_x, centre_y, N, size, colour, marked=TOKEN)
        ax.text(out_x + size * CELL / 2, out_top + 0.08, f"${out_name}$", ha="center", fontsize=12, color=colour,
                weight="bold")
        shape_w = f"(d_model, d_{'v' if out_name == 'V' else 'k'}) = ({D_MODEL}, {size})"
        shape_out = f"(n, d_{'v' if out_name == 'V' else 'k'}) = ({N}, {size})"
        ax.text(w_x + size * CELL / 2, centre_y - D_MODEL * CELL / 2 - 0.08, shape_w, ha="center", va="top",
                fontsize=8.5)
        ax.text(out_x + size * CELL / 2, centre_y - N * CELL / 2 - 0.08, shape_out, ha="center", va="top",
                fontsize=8.5)
        ax.text(out_x + size * CELL + 0.2, centre_y + 0.05, f"one {role} per token;",
                va="bottom", fontsize=9, color=colour)
        ax.text(out_x + size * CELL + 0.2, centre_y - 0.05, f"marked: the {role} of \u201cit\u201d",
                va="top", fontsize=9, color=grey)
    ax.text(3.8, 0.1, "Three learned matrices, one for each role; queries and keys share d_k, values have their own d_v.",
            ha="center", fontsize=9, color=INK)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
