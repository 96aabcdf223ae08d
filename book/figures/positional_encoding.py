"""Draw book/figures/positional_encoding.svg: how a sinusoidal position vector is made and used
(chapter 7). Each pair of dimensions is a sine and a cosine of its own frequency; reading all the
waves at position p gives PE_p, which is added to the token's embedding. A schematic with
d_model = 8; the embedding's numbers are made up (seeded), the PE numbers are the formula's.

    python book/figures/positional_encoding.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests load this file from elsewhere
from _style import ACCENT, INK, figure, svg, write  # noqa: E402

D, P, POSITIONS = 8, 2, 10  # model width, the position shown, positions drawn
WIDTH, HEIGHT = 10.4, 5.4
ROW, CELL_W = 0.8, 0.62  # height of one pair of dimensions (two cells), width of a cell
TOP = 4.45  # top of the first row
X0, X1 = 1.55, 5.45  # the waves' position axis: position 0 .. POSITIONS - 1
SINE, COSINE = "#444444", ACCENT


def position_x(p):
    return X0 + (X1 - X0) * p / (POSITIONS - 1)


def column(ax, x, values, title, cmap):
    for j, value in enumerate(values):
        y = TOP - (j + 1) * ROW / 2
        ax.add_patch(Rectangle((x, y), CELL_W, ROW / 2, facecolor=cmap((value + 1.5) / 3), edgecolor=INK, lw=0.8))
        ax.text(x + CELL_W / 2, y + ROW / 4, f"{value:.2f}", ha="center", va="center", fontsize=8.5,
                color="white" if abs(value) > 1.0 else INK)
    ax.text(x + CELL_W / 2, TOP + 0.38, title, ha="center", va="center", fontsize=9.5, linespacing=1.2)


def draw() -> str:
    fig, ax = figure(WIDTH, HEIGHT)
    cmap = colormaps["RdBu_r"]
    omegas = 10_000 ** (-np.arange(0, D, 2) / D)
    pe = np.empty(D)
    pe[0::2], pe[1::2] = np.sin(P * omegas), np.cos(P * omegas)
    embedding = np.random.default_rng(0).normal(0, 0.5, D)  # stands in for a learned token vector

    ax.text(0.15, HEIGHT - 0.3, "PE(p, 2i) = sin(p·ωᵢ),   PE(p, 2i+1) = cos(p·ωᵢ),   ωᵢ = 10000^(−2i/d)"
            f"   (here d = {D})", ha="left", va="center", fontsize=11)

    fine = np.linspace(0, POSITIONS - 1, 300)
    for i, omega in enumerate(omegas):
        centre = TOP - (i + 0.5) * ROW
        ax.plot([X0, X1], [centre, centre], color="#DDDDDD", lw=0.8)
        for wave, colour, style in [(np.sin, SINE, "-"), (np.cos, COSINE, "--")]:
            ax.plot(position_x(fine), centre + 0.3 * wave(fine * omega), color=colour, lw=1.3, ls=style)
            ax.plot(position_x(np.arange(POSITIONS)), centre + 0.3 * wave(np.arange(POSITIONS) * omega), "o",
                    color=colour, ms=2.5)
            ax.plot([position_x(P)], [centre + 0.3 * wave(P * omega)], "o", color=colour, ms=6)
        label = "1" if i == 0 else f"1/{round(1 / omega):,}"
        ax.text(0.1, centre + 0.12, f"dims {2 * i}, {2 * i + 1}", ha="left", va="center", fontsize=9, weight="bold")
        ax.text(0.1, centre - 0.14, f"ω{'₀₁₂₃'[i]} = {label}", ha="left", va="center", fontsize=9)
    bottom = TOP - len(omegas) * ROW
    for p in range(POSITIONS):
        ax.text(position_x(p), bottom - 0.15, str(p), ha="center", va="center", fontsize=8.5)
    ax.text((X0 + X1) / 2, bottom - 0.45, "position p", ha="center", va="center", fontsize=9.5)
    ax.plot([position_x(P)] * 2, [bottom - 0.02, TOP + 0.05], color=INK, lw=1, ls=":")
    ax.text(position_x(P), TOP + 0.2, f"p = {P}", ha="center", va="center", fontsize=9.5, weight="bold")
    ax.plot([X1 - 1.55, X1 - 1.25], [TOP + 0.2, TOP + 0.2], color=SINE, lw=1.3)
    ax.text(X1 - 1.2, TOP + 0.2, "sine", ha="left", va="center", fontsize=9)
    ax.plot([X1 - 0.7, X1 - 0.4], [TOP + 0.2, TOP + 0.2], color=COSINE, lw=1.3, ls="--")
    ax.text(X1 - 0.35, TOP + 0.2, "cosine", ha="left", va="center", fontsize=9)

    x_pe = 6.3
    ax.annotate("", xy=(x_pe - 0.05, TOP - 2 * ROW), xytext=(X1 + 0.15, TOP - 2 * ROW),
                arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.3, mutation_scale=11))
    ax.text((X1 + x_pe) / 2, TOP - 2 * ROW + 0.2, "read at p", ha="center", va="center", fontsize=8.5)
    column(ax, x_pe, pe, f"position\nvector PE_{P}", cmap)
    x_emb = x_pe + CELL_W + 0.65
    ax.text(x_pe + CELL_W + 0.325, TOP - 2 * ROW, "+", ha="center", va="center", fontsize=18)
    column(ax, x_emb, embedding, "embedding\nof 'bit'", cmap)
    x_in = x_emb + CELL_W + 0.65
    ax.text(x_emb + CELL_W + 0.325, TOP - 2 * ROW, "=", ha="center", va="center", fontsize=18)
    column(ax, x_in, pe + embedding, f"input x_{P}\nto the layers", cmap)
    ax.text((x_pe + x_in + CELL_W) / 2, bottom - 0.3, "the dog bit the man: 'bit' is at position 2",
            ha="center", va="center", fontsize=9)
    ax.text((x_pe + x_in + CELL_W) / 2, bottom - 0.55, "(its embedding is the same at every position)",
            ha="center", va="center", fontsize=8.5, color="#555555")
    ax.text(0.15, 0.25, "Fast pairs (top) tell neighbouring positions apart; slow pairs (bottom) hardly move "
            "over a sentence and tell near from far.", ha="left", va="center", fontsize=9)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
