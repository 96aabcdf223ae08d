"""Draw book/figures/gqa_heads.svg: which key/value head each query head reads, in multi-head,
grouped-query and multi-query attention (8 query heads; 8, 2 and 1 key/value heads).

    python book/figures/gqa_heads.py

tests/test_book.py checks that the committed SVG is what this script draws.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _style import INK, KEY, MUTED, QUERY, figure, svg, write  # noqa: E402

HEADS = 8
PANELS = [("Multi-head (MHA)", 8), ("Grouped-query (GQA)", 2), ("Multi-query (MQA)", 1)]
WIDTH, HEIGHT = 10.5, 3.3
PANEL = WIDTH / len(PANELS)
BOX, Q_Y, KV_Y = 0.26, 2.35, 0.75


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    for p, (title, kv_heads) in enumerate(PANELS):
        left = p * PANEL + 0.25
        span = PANEL - 0.5
        ax.text(left + span / 2, HEIGHT - 0.25, title, ha="center", va="center", fontsize=12, fontweight="bold")
        q_x = [left + span * (h + 0.5) / HEADS for h in range(HEADS)]
        kv_x = [left + span * (g + 0.5) / kv_heads for g in range(kv_heads)]
        group = HEADS // kv_heads
        for h, x in enumerate(q_x):
            target = kv_x[h // group]  # query head h reads key/value head h // (H / H_kv)
            ax.plot([x, target], [Q_Y - BOX / 2, KV_Y + BOX / 2], color=MUTED, lw=1.2, zorder=1)
            ax.add_patch(_box(x, Q_Y, QUERY))
        for g, x in enumerate(kv_x):
            ax.add_patch(_box(x, KV_Y, KEY, width=min(BOX * 1.6, 0.8 * span / kv_heads)))
        ax.text(left + span / 2, Q_Y + 0.32, f"{HEADS} query heads", ha="center", fontsize=10, color=QUERY)
        ax.text(left + span / 2, KV_Y - 0.45, f"{kv_heads} key/value head{'s' if kv_heads > 1 else ''}: "
                f"cache × {kv_heads}/{HEADS}", ha="center", fontsize=10, color=INK)
    return svg(fig)


def _box(x: float, y: float, colour: str, width: float = BOX):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x - width / 2, y - BOX / 2), width, BOX, boxstyle="round,pad=0.02",
                          facecolor=colour, edgecolor=INK, lw=0.8, zorder=2)


if __name__ == "__main__":
    write(__file__, draw())
