"""Draw book/figures/heads.svg (chapter 6): how multi-head attention splits the features into heads
and merges them back, with the shape after every step.

(B, L, d_model) -> view (B, L, H, d_head) -> transpose (B, H, L, d_head) -> attention in every head
-> transpose back (B, L, H, d_head) -> reshape (B, L, d_model) -> output projection W_O. Drawn for
one sentence of L = 3 tokens with d_model = 8 and H = 2 heads of d_head = 4; each cell carries its
feature's index, so the reader can follow it:

    python book/figures/heads.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.patches import FancyArrowPatch, Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _style.py, beside this script
from _style import INK, QUERY, figure, svg, write  # noqa: E402

T, D, H = 3, 8, 2
DH = D // H
CELL = 0.28
HEAD_EDGE = ["#0072B2", "#D55E00"]   # head 0, head 1 (Okabe-Ito blue and vermillion)
HEAD_FILL = ["#D6E6F2", "#F9DCC8"]   # their inputs
HEAD_DONE = ["#8DBBDD", "#EFA97C"]   # their attention outputs
MIXED = "#CDEBDF"                    # after W_O: every feature mixes both heads
GREY = "#444444"


def _cell(ax, x, y, f, fill, edge):
    ax.add_patch(Rectangle((x, y - CELL), CELL, CELL, facecolor=fill, edgecolor=edge, linewidth=0.9))
    ax.text(x + CELL / 2, y - CELL / 2, str(f), ha="center", va="center", fontsize=8)


def _tokens(ax, x, top):
    for t in range(T):
        ax.text(x - 0.06, top - (t + 0.5) * CELL, f"t{t}", ha="right", va="center", fontsize=8.5, color=QUERY)


def _full(ax, x, top, fill=None, done=False):
    """(T, d_model): one row per token, features 0..7; coloured by the head that owns them."""
    for t in range(T):
        for f in range(D):
            h = f // DH
            face = fill or (HEAD_DONE if done else HEAD_FILL)[h]
            _cell(ax, x + f * CELL, top - t * CELL, f, face, INK if fill else HEAD_EDGE[h])
    _tokens(ax, x, top)
    return x + D * CELL


def _blocks(ax, x, top, done=False):
    """(T, H, d_head): each token's row cut into H blocks, drawn with a gap between the blocks."""
    gap = 0.12
    for t in range(T):
        for f in range(D):
            h = f // DH
            _cell(ax, x + f * CELL + h * gap, top - t * CELL, f, (HEAD_DONE if done else HEAD_FILL)[h], HEAD_EDGE[h])
    _tokens(ax, x, top)
    return x + D * CELL + (H - 1) * gap


def _heads(ax, x, top, done=False):
    """(H, T, d_head): one (T, d_head) grid per head, stacked."""
    step = T * CELL + 0.42
    for h in range(H):
        y = top - h * step
        for t in range(T):
            for j in range(DH):
                _cell(ax, x + j * CELL, y - t * CELL, h * DH + j, (HEAD_DONE if done else HEAD_FILL)[h], HEAD_EDGE[h])
        _tokens(ax, x, y)
        ax.text(x + DH * CELL / 2, y + 0.05, f"head {h}", ha="center", va="bottom", fontsize=9,
                color=HEAD_EDGE[h], fontweight="bold")
    return x + DH * CELL, top - step - T * CELL


def _titles(ax, centre, top, title, shape):
    ax.text(centre, top + 0.42, title, ha="center", va="bottom", fontsize=10.5, fontweight="bold")
    ax.text(centre, top + 0.12, shape, ha="center", va="bottom", fontsize=9.5, color=GREY, family="DejaVu Sans Mono")


def _arrow(ax, start, end, label, side="above"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=INK, linewidth=1.4))
    (x1, y1), (x2, y2) = start, end
    if side == "above":
        ax.text((x1 + x2) / 2, y1 + 0.1, label, ha="center", va="bottom", fontsize=9, linespacing=1.3)
    else:  # beside a vertical arrow, on its left
        ax.text(x1 - 0.12, (y1 + y2) / 2, label, ha="right", va="center", fontsize=9, linespacing=1.3)


def draw() -> str:
    fig, ax = figure(12.9, 6.1)
    heads_top = 5.05
    row_top = heads_top - (2 * T * CELL + 0.42) / 2 + T * CELL / 2   # centres rows 1's grids on the heads
    mid = row_top - T * CELL / 2

    # Row 1, left to right: project, view, transpose, attend.
    x = 0.55
    right = _full(ax, x, row_top)
    _titles(ax, (x + right) / 2, row_top, "Q = x @ W_Q", "(B, L, d_model)")
    _arrow(ax, (right + 0.12, mid), (right + 1.12, mid), "view\n(reshape)")
    x = right + 1.35
    right = _blocks(ax, x, row_top)
    _titles(ax, (x + right) / 2, row_top, "heads cut out", "(B, L, H, d_head)")
    _arrow(ax, (right + 0.12, mid), (right + 1.22, mid), "transpose\n(1, 2)")
    x = right + 1.45
    right, bottom = _heads(ax, x, heads_top)
    _titles(ax, (x + right) / 2, heads_top + 0.22, "heads as a batch axis", "(B, H, L, d_head)")
    _arrow(ax, (right + 0.12, mid), (right + 1.95, mid), "attention in each head:\nsoftmax(QKᵀ/√d_head) V\n"
           "(K, V split the same way)")
    x = right + 2.2
    right_d, bottom = _heads(ax, x, heads_top, done=True)
    _titles(ax, (x + right_d) / 2, heads_top + 0.22, "each head's output", "(B, H, L, d_head)")

    # Row 2, right to left: transpose back, reshape (merge), output projection.
    row2 = 1.55
    centre_d = (x + right_d) / 2
    _arrow(ax, (centre_d, bottom - 0.12), (centre_d, row2 + 0.78), "transpose(1, 2)", side="left")
    width_blocks = D * CELL + (H - 1) * 0.12
    xe = right_d - width_blocks
    _blocks(ax, xe, row2, done=True)
    _titles(ax, xe + width_blocks / 2, row2, "back to tokens", "(B, L, H, d_head)")
    mid2 = row2 - T * CELL / 2
    xf = xe - 1.55 - D * CELL
    _arrow(ax, (xe - 0.25, mid2), (xf + D * CELL + 0.12, mid2), "reshape\n(merge)")
    _full(ax, xf, row2, done=True)
    _titles(ax, xf + D * CELL / 2, row2, "heads side by side", "(B, L, d_model)")
    xg = xf - 1.55 - D * CELL
    _arrow(ax, (xf - 0.25, mid2), (xg + D * CELL + 0.12, mid2), "@ W_O")
    _full(ax, xg, row2, fill=MIXED)
    _titles(ax, xg + D * CELL / 2, row2, "output", "(B, L, d_model)")

    # Legend.
    entries = [(HEAD_FILL[0], HEAD_EDGE[0], "head 0: features 0-3"), (HEAD_FILL[1], HEAD_EDGE[1], "head 1: features 4-7"),
               (HEAD_DONE[0], HEAD_EDGE[0], "attention output"), (MIXED, INK, "mixed by W_O")]
    for k, (fill, edge, label) in enumerate(entries):
        y = 1.55 - k * 0.32
        ax.add_patch(Rectangle((0.3, y - 0.22), 0.22, 0.22, facecolor=fill, edgecolor=edge, linewidth=0.9))
        ax.text(0.6, y - 0.11, label, ha="left", va="center", fontsize=9)
    ax.text(0.3, 0.2, "Drawn for one sentence (B = 1) of L = 3 tokens, d_model = 8, H = 2 heads of d_head = 4. "
            "A cell's number is its feature's index.", ha="left", va="center", fontsize=9, color=GREY)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
