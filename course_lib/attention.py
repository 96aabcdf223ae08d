"""Chapter 4 (and 5) — scaled dot-product attention, the whole of it.

``softmax(Q Kᵀ / sqrt(d_k)) V``: scores (chapter 3), a softmax over the keys
(chapter 4), a weighted average of the values (chapter 2). Masks are chapter 5's.
"""
from __future__ import annotations

import numpy as np

from .masking import masked_softmax
from .scores import scaled_attention_scores
from .softmax import softmax


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention of every query over every key.

    q: ``(..., n_q, d_k)``, k: ``(..., n_k, d_k)``, v: ``(..., n_k, d_v)``.
    mask: optional boolean, broadcastable to ``(..., n_q, n_k)``, ``True`` = may attend.
    Returns ``(output, weights)``: ``(..., n_q, d_v)`` and ``(..., n_q, n_k)``, each row of
    weights summing to 1 (0 for a query whose keys are all masked).
    """
    v = np.asarray(v)
    if np.shape(k)[-2] != v.shape[-2]:
        raise ValueError(f"every key needs one value: {np.shape(k)[-2]} keys but {v.shape[-2]} values")
    scores = scaled_attention_scores(q, k)  # (..., n_q, n_k)
    weights = softmax(scores) if mask is None else masked_softmax(scores, mask)
    return weights @ v, weights  # (..., n_q, d_v), (..., n_q, n_k)


def masked_attention(q, k, v, mask):
    """:func:`scaled_dot_product_attention` with a mask that must be given.

    Weights are exactly 0 where ``mask`` is False and each row is renormalised over the
    keys it may see; a row with no visible key gives weights 0 and output 0.
    """
    if mask is None:
        raise ValueError("masked_attention needs a boolean mask (True = may attend)")
    return scaled_dot_product_attention(q, k, v, mask)
