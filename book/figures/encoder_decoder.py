"""Draw book/figures/encoder_decoder.svg: the encoder–decoder Transformer of chapter 8, as
course_lib.Transformer builds it (pre-norm sublayers, a final LayerNorm on each stack, a linear
generator).

    python book/figures/encoder_decoder.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.patches import Circle, FancyBboxPatch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests load this file from elsewhere
from _style import ACCENT, INK, KEY, MUTED, QUERY, VALUE, arrow, figure, svg, write  # noqa: E402

WIDTH, HEIGHT = 9.6, 9.9
HALF = 1.5  # half the width of a sublayer box
NORM_FILL, ATTN_FILL, FFN_FILL = "#F2F2F2", "#E8F1F8", "#F7EEF3"


def box(ax, cx, y, height, text, fill="white", edge=INK, size=9.5, half=HALF, weight="normal"):
    ax.add_patch(FancyBboxPatch((cx - half, y), 2 * half, height, boxstyle="round,pad=0,rounding_size=0.07",
                                facecolor=fill, edgecolor=edge, lw=1.2))
    ax.text(cx, y + height / 2, text, ha="center", va="center", fontsize=size, weight=weight, linespacing=1.25)
    return y + height


def line(ax, xs, ys, colour=INK, lw=1.3):
    ax.plot(xs, ys, color=colour, lw=lw, solid_capstyle="butt")


def stack(ax, cx, y, sublayers):
    """Pre-norm residual sublayers, bottom to top: x + f(LayerNorm(x)). Returns the top and the boxes."""
    boxes = {}
    for name, text, height, fill in sublayers:
        branch = y + 0.1
        norm_bottom = y + 0.25
        arrow(ax, (cx, y), (cx, norm_bottom))
        norm_top = box(ax, cx, norm_bottom, 0.3, "LayerNorm", fill=NORM_FILL, size=8.5, half=0.8)
        f_bottom = norm_top + 0.28
        if name != "cross":
            arrow(ax, (cx, norm_top), (cx, f_bottom))
        f_top = box(ax, cx, f_bottom, height, text, fill=fill)
        boxes[name] = (f_bottom, f_top, norm_top)
        plus = f_top + 0.3
        arrow(ax, (cx, f_top), (cx, plus - 0.11))
        ax.add_patch(Circle((cx, plus), 0.11, facecolor="white", edgecolor=INK, lw=1.2))
        ax.text(cx, plus, "+", ha="center", va="center", fontsize=10)
        # the residual path: around the sublayer, added back in
        right = cx + HALF + 0.22
        ax.plot([cx], [branch], "o", color=INK, ms=3)
        line(ax, [cx, right, right], [branch, branch, plus])
        arrow(ax, (right, plus), (cx + 0.11, plus))
        y = plus + 0.11
    return y, boxes


def embedded_input(ax, x, tokens, frame_height):
    """The tokens at the bottom of a stack, their embedding box, and the dashed "× N" frame around the
    layers above it (frame_height tall); returns the top of the embedding box."""
    ax.text(x, 0.3, tokens, ha="center", va="center", fontsize=9.5, family="DejaVu Sans Mono")
    arrow(ax, (x, 0.45), (x, 0.7))
    top = box(ax, x, 0.7, 0.55, "token embedding × √d_model\n+ sinusoidal positional encoding")
    ax.add_patch(FancyBboxPatch((x - HALF - 0.35, top + 0.15), 2 * HALF + 0.75, frame_height,
                                boxstyle="round,pad=0,rounding_size=0.1", facecolor="none", edgecolor=MUTED,
                                lw=1.2, ls="--"))
    ax.text(x - HALF - 0.25, top + frame_height - 0.05, "× N", ha="left", va="center", fontsize=10, color="#666666")
    return top


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    ex, dx = 2.1, 7.15

    ax.text(ex, HEIGHT - 0.3, "Encoder", ha="center", va="center", fontsize=13, weight="bold")
    ax.text(dx, HEIGHT - 0.3, "Decoder", ha="center", va="center", fontsize=13, weight="bold")

    # encoder
    top = embedded_input(ax, ex, "source tokens: 2 0 0 1 9", 3.55)
    stream, _ = stack(ax, ex, top, [
        ("self", "multi-head self-attention\n(padding mask)", 0.55, ATTN_FILL),
        ("ffn", "feed-forward network", 0.4, FFN_FILL),
    ])
    arrow(ax, (ex, stream), (ex, stream + 0.3))
    memory_bottom = box(ax, ex, stream + 0.3, 0.3, "final LayerNorm", fill=NORM_FILL, size=8.5, half=0.8)
    memory_y = memory_bottom + 0.45
    ax.text(ex - 0.1, memory_y + 0.22, "memory: one vector per source token", ha="center", va="center",
            fontsize=9.5, weight="bold")

    # decoder
    top = embedded_input(ax, dx, "target so far: <bos> twenty thousand", 5.45)
    stream, boxes = stack(ax, dx, top, [
        ("self", "masked multi-head self-attention\n(causal + padding mask)", 0.55, ATTN_FILL),
        ("cross", "multi-head cross-attention\n(source padding mask)", 0.55, ATTN_FILL),
        ("ffn", "feed-forward network", 0.4, FFN_FILL),
    ])
    arrow(ax, (dx, stream), (dx, stream + 0.3))
    y = box(ax, dx, stream + 0.3, 0.3, "final LayerNorm", fill=NORM_FILL, size=8.5, half=0.8)
    arrow(ax, (dx, y), (dx, y + 0.25))
    y = box(ax, dx, y + 0.25, 0.4, "linear layer (generator): logits", fill="#FFF6E0")
    arrow(ax, (dx, y), (dx, y + 0.25))
    y = box(ax, dx, y + 0.25, 0.35, "softmax", fill="#FFF6E0", half=0.8)
    arrow(ax, (dx, y), (dx, y + 0.25))
    ax.text(dx, y + 0.42, "probabilities of the next word", ha="center", va="center", fontsize=9.5, weight="bold")

    # cross-attention: queries from the decoder, keys and values from the memory
    c_bottom, c_top, c_norm_top = boxes["cross"]
    arrow(ax, (dx, c_norm_top), (dx, c_bottom), QUERY, lw=1.8)
    ax.text(dx + 0.08, (c_norm_top + c_bottom) / 2, "queries", ha="left", va="center", fontsize=8.5, color=QUERY)
    entry = c_bottom + 0.55 / 2
    for offset, colour in [(0.06, KEY), (-0.06, VALUE)]:  # two lines side by side that never cross
        gap_x = 4.45 - offset
        line(ax, [ex + offset, ex + offset, gap_x], [memory_bottom, memory_y - offset, memory_y - offset],
             colour, lw=1.8)
        line(ax, [gap_x, gap_x], [memory_y - offset, entry + offset], colour, lw=1.8)
        arrow(ax, (gap_x, entry + offset), (dx - HALF, entry + offset), colour, lw=1.8)
    ax.text(4.6, memory_y - 0.35, "keys", ha="left", va="center", fontsize=9, color=KEY, weight="bold")
    ax.text(4.6, memory_y - 0.58, "values", ha="left", va="center", fontsize=9, color=VALUE, weight="bold")
    ax.text(4.6, memory_y - 0.81, "to every decoder", ha="left", va="center", fontsize=8.5)
    ax.text(4.6, memory_y - 1.0, "layer", ha="left", va="center", fontsize=8.5)

    # legend
    ax.text(0.25, 9.0, "pre-norm: each sublayer computes x + f(LayerNorm(x));", ha="left", va="center", fontsize=8.5)
    ax.text(0.25, 8.75, "the line around it is the residual connection", ha="left", va="center", fontsize=8.5)
    ax.text(0.25, 8.45, "N = 2 layers in the chapter's model", ha="left", va="center", fontsize=8.5, color=ACCENT)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
