"""Draw book/figures/data_parallel.svg: one optimizer step of data-parallel training (chapter 9).

Every rank holds the same model; each takes its share of the global batch, computes the gradient
of its share, the ranks all-reduce (average) the gradients, and every rank takes the same step.

    python book/figures/data_parallel.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.patches import FancyBboxPatch, Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests load this file from elsewhere
from _style import ACCENT, ALLOWED, INK, arrow, figure, svg, write  # noqa: E402

WIDTH, HEIGHT = 9.6, 6.1
RANKS = [(2.55, ALLOWED, "0"), (7.05, ACCENT, "1")]  # column centre, colour, rank
HALF = 1.85


def box(ax, cx, y, h, text, edge=INK, fill="white", half=HALF, size=9.5):
    ax.add_patch(FancyBboxPatch((cx - half, y), 2 * half, h, boxstyle="round,pad=0,rounding_size=0.07",
                                facecolor=fill, edgecolor=edge, lw=1.4))
    ax.text(cx, y + h / 2, text, ha="center", va="center", fontsize=size, linespacing=1.3)


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    ax.text(0.15, HEIGHT - 0.3, "Data parallelism: one optimizer step on two devices (ranks)", ha="left",
            va="center", fontsize=12, weight="bold")

    # the global batch, split between the ranks
    n, w, left, y_batch = 8, 0.5, 2.8, 5.0
    for i in range(n):
        colour = RANKS[0][1] if i < n // 2 else RANKS[1][1]
        ax.add_patch(Rectangle((left + i * w, y_batch), w, 0.35, facecolor=colour, edgecolor=INK, lw=0.8))
    ax.text(left + n * w / 2, y_batch + 0.55, "global batch of B windows, drawn alike on every rank",
            ha="center", va="center", fontsize=9.5)
    ax.text(left - 0.1, y_batch + 0.17, "rank 0's share", ha="right", va="center", fontsize=9)
    ax.text(left + n * w + 0.1, y_batch + 0.17, "rank 1's share", ha="left", va="center", fontsize=9)

    y_model, y_grad, y_reduce, y_step = 3.85, 2.95, 1.85, 0.95
    for cx, colour, rank in RANKS:
        share_x = left + (n // 4 if rank == "0" else 3 * n // 4) * w
        arrow(ax, (share_x, y_batch), (cx, y_model + 0.6), colour, lw=1.8)
        box(ax, cx, y_model, 0.6, f"rank {rank}: a full replica of the model\nweights θ, the same on every rank",
            edge=colour)
        arrow(ax, (cx, y_model), (cx, y_grad + 0.6))
        box(ax, cx, y_grad, 0.6, f"forward + backward on its B/2 windows\n→ gradient g{'₀₁'[int(rank)]} of its "
            "share's mean loss", edge=colour)
        arrow(ax, (cx, y_grad), (cx, y_reduce + 0.62))
        arrow(ax, (cx, y_reduce), (cx, y_step + 0.55))
        box(ax, cx, y_step, 0.55, "optimizer step with ḡ  (AdamW, schedule, clipping)", edge=colour)
        arrow(ax, (cx, y_step), (cx, 0.6))
        ax.text(cx, 0.42, "new weights θ′", ha="center", va="center", fontsize=9.5, weight="bold")
    ax.text((RANKS[0][0] + RANKS[1][0]) / 2, 0.42, "=", ha="center", va="center", fontsize=16)
    ax.text((RANKS[0][0] + RANKS[1][0]) / 2, 0.12, "identical on every rank: the replicas never drift apart",
            ha="center", va="center", fontsize=9)

    ax.add_patch(FancyBboxPatch((0.5, y_reduce), WIDTH - 1.0, 0.62, boxstyle="round,pad=0,rounding_size=0.07",
                                facecolor="#F2F2F2", edgecolor=INK, lw=1.4))
    ax.text(WIDTH / 2, y_reduce + 0.31, "all-reduce:  every rank receives  ḡ = (g₀ + g₁) / 2,  the gradient of "
            "the whole batch", ha="center", va="center", fontsize=10.5)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
