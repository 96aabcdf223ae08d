"""Draw book/figures/kv_cache.svg: one generation step with a key/value cache (chapter 9).

The keys and values of the tokens already processed are kept; for the new token only its query,
key and value are computed, its key and value are appended, and its query attends to everything
in the cache.

    python book/figures/kv_cache.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.patches import FancyBboxPatch, Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests load this file from elsewhere
from _style import INK, KEY, MUTED, QUERY, VALUE, arrow, figure, svg, write  # noqa: E402

WIDTH, HEIGHT = 9.9, 5.1
CELL, GAP = 0.8, 0.15
K_ROW, V_ROW = 2.0, 1.35  # bottoms of the two cache rows
ROW_H = 0.45
WORDS = ["the", "dog", "that", "the"]  # tokens 1-4; token 5 is new


def cell(ax, x, y, text, colour, new=False, w=CELL, h=ROW_H):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=colour if not new else "white", edgecolor=colour if new else INK,
                           lw=1.6 if new else 0.8, ls="--" if new else "-", alpha=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=10,
            color=INK if new else "white", weight="bold")


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    sub = "₁₂₃₄₅"
    ax.text(0.15, HEIGHT - 0.3, "One generation step with a key/value cache: token 5 is new (one head of one layer)",
            ha="left", va="center", fontsize=12, weight="bold")

    x0 = 1.25
    ax.text(x0 - 0.15, K_ROW + ROW_H / 2, "K cache", ha="right", va="center", fontsize=10, color=KEY, weight="bold")
    ax.text(x0 - 0.15, V_ROW + ROW_H / 2, "V cache", ha="right", va="center", fontsize=10, color=VALUE,
            weight="bold")
    for j in range(5):
        x = x0 + j * (CELL + GAP)
        new = j == 4
        cell(ax, x, K_ROW, f"k{sub[j]}", KEY, new)
        cell(ax, x, V_ROW, f"v{sub[j]}", VALUE, new)
        word = "dog" if new else WORDS[j]
        ax.text(x + CELL / 2, 0.95, f"{j + 1}", ha="center", va="center", fontsize=8.5, color="#666666")
        ax.add_patch(FancyBboxPatch((x + 0.05, 0.35), CELL - 0.1, 0.38, boxstyle="round,pad=0,rounding_size=0.05",
                                    facecolor="white" if new else "#F2F2F2", edgecolor=INK if new else MUTED,
                                    lw=1.5 if new else 0.8))
        ax.text(x + CELL / 2, 0.54, word, ha="center", va="center", fontsize=9.5,
                color=INK if new else "#666666", weight="bold" if new else "normal")
    cache_right = x0 + 4 * (CELL + GAP) - GAP
    ax.text((x0 + cache_right) / 2, 0.15, "tokens 1–4: processed in earlier steps, their k and v kept",
            ha="center", va="center", fontsize=8.5, color="#555555")
    ax.add_patch(FancyBboxPatch((x0 - 0.08, V_ROW - 0.08), cache_right + CELL + GAP - x0 + 0.16, K_ROW + ROW_H - V_ROW + 0.16,
                                boxstyle="round,pad=0,rounding_size=0.06", facecolor="none", edgecolor=MUTED,
                                lw=1, ls=":"))

    # the new token: its query, key and value, the only projections of this step
    new_x = x0 + 4 * (CELL + GAP)
    px = 7.2
    arrow(ax, (new_x + CELL - 0.05, 0.54), (px - 0.1, 0.54), INK)
    cell(ax, px, K_ROW, "k₅", KEY)
    cell(ax, px, V_ROW, "v₅", VALUE)
    cell(ax, px + CELL + 0.45, (K_ROW + V_ROW) / 2, "q₅", QUERY)
    ax.add_patch(FancyBboxPatch((px - 0.1, 0.3), 2 * CELL + 0.65, 0.5, boxstyle="round,pad=0,rounding_size=0.06",
                                facecolor="white", edgecolor=INK, lw=1.2))
    ax.text(px + CELL + 0.225, 0.55, "x₅ W_K,  x₅ W_V,  x₅ W_Q", ha="center", va="center", fontsize=9)
    for x_to, y_to, colour in [(px + CELL / 2, V_ROW, VALUE), (px + 1.5 * CELL + 0.45, (K_ROW + V_ROW) / 2, QUERY)]:
        arrow(ax, (x_to, 0.8), (x_to, y_to), colour)
    k_line = px + CELL + 0.14  # up between v5 and q5, then into k5 from the right
    ax.plot([k_line, k_line], [0.8, K_ROW + ROW_H / 2], color=KEY, lw=1.3)
    arrow(ax, (k_line, K_ROW + ROW_H / 2), (px + CELL, K_ROW + ROW_H / 2), KEY)
    ax.text(px + CELL + 0.225, 0.15, "only q₅, k₅ and v₅ are computed this step", ha="center", va="center",
            fontsize=8.5, color="#555555")
    for y, colour in [(K_ROW + ROW_H / 2, KEY), (V_ROW + ROW_H / 2, VALUE)]:
        arrow(ax, (px, y), (new_x + CELL + 0.03, y), colour, lw=1.6)
    ax.text((new_x + CELL + px) / 2, K_ROW + ROW_H + 0.13, "append", ha="center", va="center", fontsize=8.5)

    # attention of the new query over the whole cache
    att_y = 3.3
    ax.add_patch(FancyBboxPatch((x0 - 0.08, att_y), 9.35 - x0, 0.62, boxstyle="round,pad=0,rounding_size=0.07",
                                facecolor="#E8F1F8", edgecolor=INK, lw=1.2))
    ax.text((x0 + 9.27) / 2, att_y + 0.31, "weights aⱼ = softmax over j = 1…5 of q₅·kⱼ / √d_k;   output = Σⱼ aⱼ vⱼ",
            ha="center", va="center", fontsize=10)
    arrow(ax, ((x0 + cache_right + CELL + GAP) / 2, K_ROW + ROW_H + 0.08), ((x0 + cache_right + CELL + GAP) / 2,
                                                                           att_y), INK)
    ax.text((x0 + cache_right + CELL + GAP) / 2 + 0.1, K_ROW + ROW_H + 0.4, "k₁…k₅, v₁…v₅", ha="left",
            va="center", fontsize=9)
    q_x = px + 1.5 * CELL + 0.45
    arrow(ax, (q_x, (K_ROW + V_ROW) / 2 + ROW_H), (q_x, att_y), QUERY, lw=1.6)
    ax.text(q_x + 0.08, att_y - 0.2, "query", ha="left", va="center", fontsize=8.5, color=QUERY)
    arrow(ax, (q_x, att_y + 0.62), (q_x, att_y + 0.95), INK)
    ax.text(q_x + 0.45, att_y + 1.1, "one output row → the next word", ha="right", va="center", fontsize=9)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
