"""Draw book/figures/classifier_pipeline.svg (chapter 11): the two classifiers the chapter builds.

Top: the attention classifier trained from scratch (word ids → embeddings and positions → pre-norm
encoder layers → one of three poolings → dropout and a linear head → label), every weight trained.
Bottom: chapter 10's pretrained MiniLM with its masked mean and a new linear head; the encoder is
either frozen or fine-tuned, the head is always trained. The sizes come from course_lib's settings
and from the model's config.json. Run it and commit both files:

    python book/figures/classifier_pipeline.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.patches import FancyBboxPatch

sys.path.insert(0, str(Path(__file__).parent))
from _style import ACCENT, INK, KEY, MUTED, QUERY, VALUE, figure, svg, write  # noqa: E402
from minilm_pipeline import config  # noqa: E402

BOX, GAP, LEFT = 1.78, 0.36, 0.15
WIDTH, HEIGHT = 2 * LEFT + 6 * BOX + 5 * GAP, 6.2
FILLS = {QUERY: "#E6F0F8", VALUE: "#E5F5EF", KEY: "#FBF0DC", ACCENT: "#F7E6EF", INK: "white"}


def _x(column: int) -> float:
    return LEFT + column * (BOX + GAP)


def _box(ax, column, y, h, colour, lines, frozen=False, sizes=(10, 8.8)):
    """A box in one column, centred on y: a bold first line, then smaller ones."""
    x = _x(column)
    ax.add_patch(FancyBboxPatch((x, y - h / 2), BOX, h, boxstyle="round,pad=0,rounding_size=0.07",
                                facecolor=FILLS[colour], edgecolor=colour, linewidth=1.8,
                                linestyle=(0, (4, 2.5)) if frozen else "-", hatch="//" if frozen else None))
    step = 0.2
    top = y + step * (len(lines) - 1) / 2
    for k, text in enumerate(lines):
        ax.text(x + BOX / 2, top - k * step, text, ha="center", va="center", fontsize=sizes[0] if k == 0 else sizes[1],
                fontweight="bold" if k == 0 else "normal", color=INK if k == 0 else "#333333",
                bbox=dict(facecolor=FILLS[colour], edgecolor="none", pad=0.6) if frozen else None)


def _tag(ax, column, y, text, colour=INK):
    ax.text(_x(column) + BOX / 2, y, text, ha="center", va="center", fontsize=8.8, fontstyle="italic", color=colour)


def _arrow(ax, column, y, to_y=None):
    """From the right side of one column to the left side of the next."""
    ax.annotate("", xy=(_x(column + 1) - 0.03, y if to_y is None else to_y), xytext=(_x(column) + BOX + 0.03, y),
                arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.2, shrinkA=0, shrinkB=0))


def scratch_parameters() -> int:
    """Parameters of the chapter's attention classifier (attention pooling), built from course_lib's settings."""
    from course_lib.classifier_torch import SCRATCH_MODEL, AttentionClassifier
    from course_lib.sentiment import VOCAB

    return sum(p.numel() for p in AttentionClassifier(len(VOCAB), pooling="attention", **SCRATCH_MODEL).parameters())


def draw() -> str:
    from course_lib.classifier_torch import FINE_TUNING, SCRATCH_MODEL

    d, heads, layers = SCRATCH_MODEL["d_model"], SCRATCH_MODEL["num_heads"], SCRATCH_MODEL["num_layers"]
    c = config()
    fig, ax = figure(WIDTH, HEIGHT)

    # Top: from scratch.
    ax.text(LEFT, 5.9, "Trained from scratch", ha="left", va="center", fontsize=13, fontweight="bold")
    about = f"{round(scratch_parameters(), -3):,}".replace(",", " ")
    ax.text(LEFT + 2.2, 5.9, f"every weight starts random and is trained (about {about} parameters)", ha="left", va="center", fontsize=10, color="#555555")
    y = 4.2
    _box(ax, 0, y, 1.3, INK, ["word ids", "one id per word,", "padded; mask", "True = real word"])
    _box(ax, 1, y, 1.3, QUERY, ["embeddings", f"word vectors · √{d}", "+ sinusoidal", "positions"])
    _box(ax, 2, y, 1.3, QUERY, [f"encoder × {layers}", "pre-norm layers,", f"{heads} heads, d = {d},",
                                "then LayerNorm"])
    options = [["[CLS] token", "learned vector c in", "front; z = its state"],
               ["masked mean", "z = mean of the", "real tokens' h_t"],
               ["attention pooling", "learned query q;", "w = softmax(h·q/√D)"]]
    pool_h, pool_gap = 0.7, 0.12
    centres = [y + (pool_h + pool_gap) * (1 - k) for k in range(3)]
    for k, (centre, lines) in enumerate(zip(centres, options)):
        _box(ax, 3, centre, pool_h, VALUE, lines, sizes=(9.5, 8.5))
        _arrow(ax, 2, y, centre)
    ax.text(_x(3) + BOX / 2, centres[0] + pool_h / 2 + 0.17, "pooling: one of three", ha="center", va="center",
            fontsize=9.5, fontweight="bold", color=VALUE)
    _box(ax, 4, y, 1.3, KEY, ["head", "dropout, then", f"linear {d} → 2:", "two logits"])
    for centre in centres:
        ax.annotate("", xy=(_x(4) - 0.03, y), xytext=(_x(3) + BOX + 0.03, centre),
                    arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.2, shrinkA=0, shrinkB=0))
    _box(ax, 5, y, 1.3, ACCENT, ["label", "softmax over the", "two classes:", "negative / positive"])
    for column in (0, 1, 4):
        _arrow(ax, column, y)
    for column in (1, 2, 4):
        _tag(ax, column, y - 0.85, "trained", QUERY if column < 3 else KEY)

    # Bottom: the pretrained encoder.
    ax.plot([LEFT, WIDTH - LEFT], [2.78, 2.78], color=MUTED, lw=1)
    ax.text(LEFT, 2.4, "Pretrained (chapter 10's MiniLM)", ha="left", va="center", fontsize=13, fontweight="bold")
    ax.text(LEFT + 3.85, 2.4, "the encoder is frozen, or fine-tuned with a small learning rate", ha="left",
            va="center", fontsize=10, color="#555555")
    y = 1.35
    _box(ax, 0, y, 1.3, INK, ["WordPiece ids", "[CLS] words [SEP],", "padded; the", "attention_mask"])
    encoder = ax.add_patch(FancyBboxPatch((_x(1), y - 0.65), 2 * BOX + GAP, 1.3, boxstyle="round,pad=0,rounding_size=0.07",
                                          facecolor=FILLS[QUERY], edgecolor=QUERY, linewidth=1.8,
                                          linestyle=(0, (4, 2.5)), hatch="//"))
    centre = _x(1) + BOX + GAP / 2
    lines = [("all-MiniLM-L6-v2 encoder", 10, "bold"),
             (f"embeddings + {c['num_hidden_layers']} post-norm layers,", 8.8, "normal"),
             (f"{c['num_attention_heads']} heads, d = {c['hidden_size']}, pretrained", 8.8, "normal")]
    for k, (text, size, weight) in enumerate(lines):
        ax.text(centre, y + 0.2 - 0.2 * k, text, ha="center", va="center", fontsize=size, fontweight=weight,
                bbox=dict(facecolor=FILLS[QUERY], edgecolor="none", pad=3))
    _ = encoder
    _box(ax, 3, y, 1.3, VALUE, ["masked mean", "as in chapter 10;", "no parameters"])
    _box(ax, 4, y, 1.3, KEY, ["head", "dropout, then", f"linear {c['hidden_size']} → 2"])
    _box(ax, 5, y, 1.3, ACCENT, ["label", "softmax over the", "two classes"])
    ax.annotate("", xy=(_x(1) - 0.03, y), xytext=(_x(0) + BOX + 0.03, y),
                arrowprops=dict(arrowstyle="-|>", color=INK, lw=1.2, shrinkA=0, shrinkB=0))
    for column in (2, 3, 4):
        _arrow(ax, column, y)
    full = FINE_TUNING["full"]["lr"]
    _tag(ax, 1.5, y - 0.85, f"frozen (left as it is), or fine-tuned at learning rate {full:g}", QUERY)
    _tag(ax, 4, y - 0.85, "always trained", KEY)

    # Legend.
    ax.text(LEFT, 0.2, "solid border: trained      hatched, dashed border: frozen in one of the two variants",
            ha="left", va="center", fontsize=9, color="#555555")
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
