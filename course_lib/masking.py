"""Chapter 5 — masks: which keys each query may attend to.

One convention everywhere in the course: a boolean mask that is ``True`` where a query
**may** attend to a key, as in ``torch.nn.functional.scaled_dot_product_attention``.
(``torch.nn.MultiheadAttention``'s boolean ``attn_mask`` and ``key_padding_mask`` mean
the opposite: ``True`` there blocks. Pass ``~mask`` to it.)

Masks broadcast against scores of shape ``(..., n_q, n_k)``: a causal mask is
``(n, n)``, a padding mask ``(B, 1, n_k)``, and ``&`` combines them.
"""
from __future__ import annotations

import numpy as np


def causal_mask(n: int) -> np.ndarray:
    """``(n, n)`` boolean mask, ``True`` on and below the diagonal.

    Query ``i`` may attend to keys ``0 … i``: itself and the past, never the future.
    """
    return np.tril(np.ones((n, n), dtype=bool))


def padding_mask(ids, pad_id: int = 0) -> np.ndarray:
    """Mask out padding keys: ``(B, n)`` ids give a ``(B, 1, n)`` boolean mask.

    ``True`` where the *key* is a real token. The size-1 query axis broadcasts against
    scores ``(B, n_q, n_k)``: every query of a sentence ignores that sentence's padding.
    Queries at padded positions are not masked (their outputs are discarded later).
    """
    ids = np.asarray(ids)
    return (ids != pad_id)[..., None, :]  # (..., 1, n)


def masked_softmax(scores, mask) -> np.ndarray:
    """Softmax over the last axis that gives exactly 0 weight where ``mask`` is False.

    scores: ``(..., n_q, n_k)``; mask: boolean, broadcastable to ``scores``.
    Each row is renormalised over its allowed keys. A row with no allowed key gets all
    zero weights (not ``nan``): it attends to nothing, so its output is a zero vector.
    """
    scores = np.asarray(scores, dtype=float)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"the mask must be boolean (True = may attend), got dtype {mask.dtype}")
    mask = np.broadcast_to(mask, scores.shape)
    # Shift by the largest *allowed* score so exp never overflows; 0 for an all-masked row.
    row_max = np.where(mask, scores, -np.inf).max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exp = np.where(mask, np.exp(np.where(mask, scores, row_max) - row_max), 0.0)
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
