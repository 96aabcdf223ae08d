"""Chapter 2 — queries, keys and values.

Attention is a dictionary lookup made soft. A query is compared with every key;
the better a key matches, the more of its value ends up in the answer. The three
roles are played by three learned linear projections of the same token vectors.

Shapes follow the course convention: ``(..., n, d)`` with any leading batch axes.
"""
from __future__ import annotations

import numpy as np

from .embeddings import one_hot


def init_projection(d_in: int, d_out: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``(d_in, d_out)`` weight matrix with entries of variance ``1 / d_in``.

    That variance keeps ``x @ w`` at the scale of ``x`` (LeCun initialisation).
    """
    return rng.standard_normal((d_in, d_out)) / np.sqrt(d_in)


def project_qkv(x, w_q, w_k, w_v):
    """Project token vectors to queries, keys and values.

    x:   ``(..., n, d_model)``, one row per token.
    w_q: ``(d_model, d_k)``, w_k: ``(d_model, d_k)``, w_v: ``(d_model, d_v)``.
    Returns ``(q, k, v)`` of shapes ``(..., n, d_k)``, ``(..., n, d_k)``, ``(..., n, d_v)``.
    """
    x = np.asarray(x)
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        if np.ndim(w) != 2 or np.shape(w)[0] != x.shape[-1]:
            raise ValueError(
                f"{name} must have shape (d_model={x.shape[-1]}, d_out), got {np.shape(w)}"
            )
    if np.shape(w_q)[1] != np.shape(w_k)[1]:
        raise ValueError(
            f"queries and keys must have the same size d_k, got {np.shape(w_q)[1]} and {np.shape(w_k)[1]}"
        )
    return x @ w_q, x @ w_k, x @ w_v


def hard_lookup(q, k, v):
    """A Python-dict-style lookup: each query returns the value of its best-matching key.

    q: ``(..., n_q, d_k)``, k: ``(..., n_k, d_k)``, v: ``(..., n_k, d_v)``.
    Returns ``(..., n_q, d_v)``: for every query, the row of ``v`` whose key has the
    largest dot product with it (the first such key on a tie).
    """
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"every key needs one value: {k.shape[-2]} keys but {v.shape[-2]} values")
    scores = q @ np.swapaxes(k, -1, -2)  # (..., n_q, n_k)
    best = scores.argmax(axis=-1)  # (..., n_q)
    # The hard lookup is the soft one with one-hot weights; the matrix product also
    # broadcasts batched queries against an unbatched dictionary.
    return mix_values(one_hot(best, k.shape[-2]), v)  # (..., n_q, d_v)


def mix_values(weights, v):
    """A soft lookup's answer: for every query, the weighted average of the values.

    weights: ``(..., n_q, n_k)``, each row a distribution over the keys (non-negative,
             summing to 1). A one-hot row reproduces :func:`hard_lookup`.
    v:       ``(..., n_k, d_v)``.
    Returns ``(..., n_q, d_v)``, row i being ``sum_j weights[i, j] * v[j]``.
    """
    weights, v = np.asarray(weights), np.asarray(v)
    if weights.shape[-1] != v.shape[-2]:
        raise ValueError(
            f"weights have {weights.shape[-1]} keys per row but there are {v.shape[-2]} values"
        )
    return weights @ v  # (..., n_q, d_v)
