"""Draw book/figures/masks.svg (chapter 5): padding and causal masks as grids, and their combination.

The course's convention throughout: True (filled) = the query may attend to the key, as in
torch.nn.functional.scaled_dot_product_attention. The masks are computed here with numpy, the
same expressions as course_lib's padding_mask and causal_mask:

    python book/figures/masks.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _style.py, beside this script
from _style import ALLOWED, BLOCKED, INK, KEY, QUERY, figure, svg, write  # noqa: E402

BATCH = [["this", "is", "book", "<pad>", "<pad>", "<pad>"],
         ["the", "cat", "sat", "on", "the", "mat"]]
CELL = 0.34


def _cells(ax, x, top, mask, cell=CELL):
    """Boolean grid, top-left at (x, top): True filled in ALLOWED with a T, False in BLOCKED."""
    for (i, j), allowed in np.ndenumerate(mask):
        ax.add_patch(Rectangle((x + j * cell, top - (i + 1) * cell), cell, cell,
                               facecolor=ALLOWED if allowed else BLOCKED, edgecolor="#FFFFFF", linewidth=1.2))
        ax.text(x + (j + 0.5) * cell, top - (i + 0.5) * cell, "T" if allowed else "F", ha="center", va="center",
                fontsize=8, color=INK if allowed else "#999999")
    rows, cols = mask.shape
    ax.add_patch(Rectangle((x, top - rows * cell), cols * cell, rows * cell, fill=False, edgecolor=INK, linewidth=0.8))


def _grid(ax, x, top, mask, tokens, title, subtitle):
    """A (query, key) mask of one sentence with the tokens along both axes."""
    _cells(ax, x, top, mask)
    n = len(tokens)
    for j, token in enumerate(tokens):
        ax.text(x + (j + 0.5) * CELL, top + 0.06, token, ha="left", va="bottom", fontsize=8.5, color=KEY,
                rotation=50, rotation_mode="anchor")
    for i, token in enumerate(tokens):
        ax.text(x - 0.06, top - (i + 0.5) * CELL, token, ha="right", va="center", fontsize=8.5, color=QUERY)
    centre = x + n * CELL / 2
    ax.text(centre, top + 0.85, title, ha="center", va="bottom", fontsize=11, fontweight="bold")
    ax.text(centre, top - n * CELL - 0.12, subtitle, ha="center", va="top", fontsize=9, color="#444444")


def draw() -> str:
    ids_real = np.array([[t != "<pad>" for t in sentence] for sentence in BATCH])  # (B, n): ids != pad_id
    padding = ids_real[:, None, :]                                                # (B, 1, n)
    n = len(BATCH[0])
    causal = np.tril(np.ones((n, n), dtype=bool))                                 # (n, n)
    combined = padding & causal                                                   # (B, n, n)

    fig, ax = figure(13.3, 4.4)
    top = 3.1

    # 1. The batch and its padding mask, one row per sentence: (B, 1, n).
    x0, wide = 0.3, 0.5
    ax.text(x0, top + 0.85, "padding_mask(ids): (B, 1, n)", ha="left", va="bottom", fontsize=11, fontweight="bold")
    for b, sentence in enumerate(BATCH):
        y = top + 0.3 - b * 1.25
        ax.text(x0, y, f"sentence {b}", ha="left", va="bottom", fontsize=9, color="#444444")
        for j, token in enumerate(sentence):
            ax.text(x0 + (j + 0.5) * wide, y - 0.1, token, ha="center", va="top", fontsize=8.5,
                    color="#888888" if token == "<pad>" else INK)
        _cells(ax, x0, y - 0.42, padding[b], cell=wide)
    ax.text(x0, top - 2.0, "one row of keys per sentence,\nthe same for every query\n(broadcast along the size-1 axis)",
            ha="left", va="top", fontsize=9, color="#444444", linespacing=1.3)

    # 2.-4. Sentence 0 as (query, key) grids: padding broadcast, causal, both.
    x, step = 4.2, n * CELL + 1.31
    _grid(ax, x, top, np.broadcast_to(padding[0], (n, n)), BATCH[0], "padding, sentence 0",
          "<pad> keys blocked for every query")
    ax.text(x + n * CELL + 0.33, top - n * CELL / 2, "&", ha="center", va="center", fontsize=20)
    _grid(ax, x + step, top, causal, BATCH[0], "causal_mask(n): (n, n)", "key j ≤ query i: no future")
    ax.text(x + step + n * CELL + 0.33, top - n * CELL / 2, "=", ha="center", va="center", fontsize=20)
    _grid(ax, x + 2 * step, top, combined[0], BATCH[0], "padding & causal", "real keys, and not in the future")

    # Legend and the broadcasting rule.
    for k, (colour, label) in enumerate([(ALLOWED, "T = True: may attend"), (BLOCKED, "F = False: blocked")]):
        ax.add_patch(Rectangle((x0 + k * 1.9, 0.2), 0.28, 0.28, facecolor=colour, edgecolor=INK, linewidth=0.6))
        ax.text(x0 + k * 1.9 + 0.38, 0.34, label, ha="left", va="center", fontsize=9.5)
    ax.text(x, 0.5, "rows: queries (token attending), columns: keys (token attended to). Broadcasting "
            "(B, 1, n) & (n, n) gives (B, n, n).", ha="left", va="center", fontsize=9, color="#444444")
    ax.text(x, 0.22, "The <pad> rows still attend to the real tokens (only padding keys are hidden); "
            "the outputs at padded positions are ignored later.", ha="left", va="center", fontsize=9, color="#444444")
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
