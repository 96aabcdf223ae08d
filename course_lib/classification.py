"""Chapter 11 — attention for classification: the numpy parts that are graded.

A classifier reads a whole sentence and must give one answer, so somewhere the ``(B, L, D)``
vectors of the tokens become one ``(B, D)`` vector per sentence. :func:`attention_pool`
does it with attention: one learned query scores every token, and the softmax of the
scores weighs the tokens' vectors. :func:`accuracy` scores the resulting predictions.
"""
from __future__ import annotations

import numpy as np


def attention_pool(h, query, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Pool ``h (B, L, D)`` into ``(B, D)`` with one query ``(D,)``: attention over the tokens.

    ``weights[b] = softmax_t(h[b, t] · query / sqrt(D))``, over the real tokens only:
    ``mask (B, L)`` is True for a real token, False for padding (None: every token is
    real). Returns ``(pooled (B, D), weights (B, L))`` with ``pooled[b] = Σ_t weights[b, t]
    h[b, t]``; padding gets weight exactly 0. The softmax subtracts each row's largest
    score first, so large scores cannot overflow.

    A row without any real token attends to nothing: its weights are all 0 and its pooled
    vector is 0, as for a fully masked query in chapter 5's masked attention.
    """
    h = np.asarray(h, dtype=float)
    query = np.asarray(query, dtype=float)
    scores = h @ query / np.sqrt(h.shape[-1])  # (B, L)
    mask = np.ones(scores.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    scores = np.where(mask, scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)  # (B, 1); -inf for a row without real tokens
    exps = np.where(mask, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    weights = np.divide(exps, totals, out=np.zeros_like(exps), where=totals > 0)
    return (weights[..., None] * h).sum(axis=-2), weights


def accuracy(logits, labels) -> float:
    """The fraction of rows whose largest logit (over the last axis, the classes) is at the label.

    ``logits (..., C)``, ``labels (...)`` integers in ``0 … C-1``. Probabilities work as well
    as logits: softmax keeps the order within a row.
    """
    predictions = np.argmax(np.asarray(logits), axis=-1)
    return float(np.mean(predictions == np.asarray(labels)))
