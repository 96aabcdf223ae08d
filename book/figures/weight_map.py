"""Draw book/figures/weight_map.svg: which tensor of the course's GPT becomes which tensor of
transformers' GPT2LMHeadModel (chapter 13), and which of them are transposed on the way
(GPT-2's Conv1D layers store their weight as (in, out), torch.nn.Linear as (out, in)).

    python book/figures/weight_map.py

tests/test_book.py checks that the committed SVG is what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _style import ACCENT, INK, KEY, MUTED, QUERY, arrow, figure, svg, tint, write  # noqa: E402

# (course GPT, GPT2LMHeadModel, transposed, shape in the course -> shape in transformers); one block shown.
ROWS = [
    ("token_embedding", "transformer.wte", False, "(V, D)"),
    ("position_embedding", "transformer.wpe", False, "(T, D)"),
    ("blocks[i].norm1", "transformer.h[i].ln_1", False, "weight, bias: (D,)"),
    ("blocks[i].attention.qkv", "transformer.h[i].attn.c_attn", True, "(3D, D) → (D, 3D)"),
    ("blocks[i].attention.out_proj", "transformer.h[i].attn.c_proj", True, "(D, D) → (D, D)"),
    ("blocks[i].norm2", "transformer.h[i].ln_2", False, "weight, bias: (D,)"),
    ("blocks[i].feed_forward.linear1", "transformer.h[i].mlp.c_fc", True, "(F, D) → (D, F)"),
    ("blocks[i].feed_forward.linear2", "transformer.h[i].mlp.c_proj", True, "(D, F) → (F, D)"),
    ("norm", "transformer.ln_f", False, "weight, bias: (D,)"),
    ("lm_head (tied to token_embedding)", "lm_head (tied to wte)", False, "(V, D)"),
]
WIDTH, ROW = 10.0, 0.56
HEIGHT = ROW * len(ROWS) + 1.45
LEFT_X, RIGHT_X, BOX_W = 0.15, 6.35, 3.5


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    top = HEIGHT - 0.5
    for x, title, note, colour in [(LEFT_X, "course GPT", "nn.Linear keeps W as (out, in)", QUERY),
                                   (RIGHT_X, "GPT2LMHeadModel", "Conv1D keeps W as (in, out)", KEY)]:
        ax.text(x + BOX_W / 2, top + 0.12, title, ha="center", va="bottom", fontsize=11, fontweight="bold", color=colour)
        ax.text(x + BOX_W / 2, top + 0.08, note, ha="center", va="top", fontsize=9, color=INK)
    for r, (ours, theirs, transposed, shapes) in enumerate(ROWS):
        y = top - 0.55 - r * ROW
        ax.add_patch(_box(LEFT_X, y, tint(QUERY, 0.18)))
        ax.add_patch(_box(RIGHT_X, y, tint(KEY, 0.22)))
        ax.text(LEFT_X + 0.1, y, ours, va="center", fontsize=9, family="DejaVu Sans Mono")
        ax.text(RIGHT_X + 0.1, y, theirs, va="center", fontsize=9, family="DejaVu Sans Mono")
        colour = ACCENT if transposed else MUTED
        arrow(ax, (LEFT_X + BOX_W + 0.08, y), (RIGHT_X - 0.08, y), colour=colour, lw=2.0 if transposed else 1.3)
        middle = (LEFT_X + BOX_W + RIGHT_X) / 2
        label = "weight.T, bias as is" if transposed else "copy"
        ax.text(middle, y + 0.05, label, ha="center", va="bottom", fontsize=8.5,
                color=ACCENT if transposed else INK, fontweight="bold" if transposed else "normal")
        ax.text(middle, y - 0.06, shapes, ha="center", va="top", fontsize=7.5, color=INK)
    ax.text(WIDTH / 2, 0.2, "every tensor of both models is in exactly one pair; shapes are checked on each copy",
            ha="center", va="center", fontsize=9, color=INK, style="italic")
    return svg(fig)


def _box(x: float, y: float, colour):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y - ROW * 0.36), BOX_W, ROW * 0.72, boxstyle="round,pad=0.02",
                          facecolor=colour, edgecolor=INK, lw=0.6, zorder=1)


if __name__ == "__main__":
    write(__file__, draw())
