"""Shared by the diagram scripts in book/figures/: one look, and SVG that is byte-for-byte the same on
every run (no date, a fixed id salt, text kept as text), so that tests/test_book.py can check that a
committed diagram is what its script draws.

A diagram script `book/figures/<name>.py` defines `draw() -> str` (the SVG text) and ends with

    if __name__ == "__main__":
        write(__file__, draw())

A chapter shows it with a MyST figure whose `:alt:` describes it in words (at least 40 characters):

    ```{figure} figures/<name>.svg
    :alt: ...
    ```
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

# The course's colours: queries, keys, values and the rest (colour-blind safe, Okabe–Ito).
QUERY, KEY, VALUE = "#0072B2", "#E69F00", "#009E73"
ACCENT, MUTED, INK = "#CC79A7", "#BBBBBB", "#222222"
ALLOWED, BLOCKED = "#56B4E9", "#EEEEEE"  # mask cells: may attend / may not

RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, read by screen readers
    "svg.hashsalt": "attention-from-scratch",
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.edgecolor": INK,
    "text.color": INK,
}


def figure(width: float, height: float):
    """A blank figure and axes in data units of inches (0..width, 0..height), no frame or ticks."""
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.axis("off")
    return fig, ax


def arrow(ax, start, end, colour=INK, lw=1.3, style="-|>"):
    """An arrow from `start` to `end` (data coordinates), its head exactly at `end`."""
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=colour, lw=lw, shrinkA=0, shrinkB=0, mutation_scale=11))


def tint(colour: str, amount: float) -> tuple:
    """`colour` mixed with white: amount 0 is white, 1 the colour itself."""
    return tuple(1 - amount * (1 - c) for c in to_rgb(colour))


def svg(fig) -> str:
    """The figure as deterministic SVG text (and the figure closed)."""
    buffer = io.StringIO()
    with plt.rc_context(RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return buffer.getvalue()


def write(script: str, text: str) -> Path:
    """Save `text` beside `script` as <name>.svg."""
    path = Path(script).with_suffix(".svg")
    path.write_text(text, encoding="utf-8")
    return path
