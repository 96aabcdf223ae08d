"""Chapter 3 — attention scores, and why they are scaled by √d_k.

A score says how well a query matches a key: their dot product. For vectors with
independent unit-variance entries the dot product has variance ``d_k``, so scores
grow with the key size and push the softmax into saturation; dividing by
``sqrt(d_k)`` brings the variance back to 1 whatever ``d_k`` is.
"""
from __future__ import annotations

import numpy as np


def attention_scores(q, k):
    """Raw dot-product scores of every query with every key.

    q: ``(..., n_q, d_k)``, k: ``(..., n_k, d_k)``. Returns ``(..., n_q, n_k)``,
    entry ``[i, j] = q_i · k_j``.
    """
    q, k = np.asarray(q), np.asarray(k)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    return q @ np.swapaxes(k, -1, -2)  # (..., n_q, d_k) @ (..., d_k, n_k)


def scaled_attention_scores(q, k):
    """Scores divided by ``sqrt(d_k)``, where ``d_k = q.shape[-1]`` is the query/key size.

    Not the model size and not the number of tokens: the variance of ``q · k`` grows with
    the number of terms in the dot product, which is ``d_k``.
    """
    d_k = np.shape(q)[-1]
    return attention_scores(q, k) / np.sqrt(d_k)


def self_attention_scores(x, w_q, w_k):
    """Scaled scores of a sequence attending to itself.

    x: ``(..., n, d_model)``; w_q, w_k: ``(d_model, d_k)``. Returns ``(..., n, n)``.
    The scale is ``sqrt(d_k)``, the size of the projected keys, not ``sqrt(d_model)``.
    """
    x = np.asarray(x)
    q, k = x @ np.asarray(w_q), x @ np.asarray(w_k)  # (..., n, d_k) each
    return scaled_attention_scores(q, k)


def additive_attention_scores(q, k, w_q, w_k, v):
    """Additive ("concat") scores of Bahdanau, Cho & Bengio (2015): ``v · tanh(q_i W_q + k_j W_k)``.

    The historical alternative to the dot product: a small one-hidden-layer network scores every
    (query, key) pair. Queries and keys may have different sizes, since each has its own matrix.

    q: ``(..., n_q, d_q)``, k: ``(..., n_k, d_k)``, w_q: ``(d_q, d_a)``, w_k: ``(d_k, d_a)``,
    v: ``(d_a,)``, where ``d_a`` is the size of the hidden layer. Returns ``(..., n_q, n_k)``,
    entry ``[i, j] = v · tanh(q_i @ w_q + k_j @ w_k)``. Leading batch axes broadcast as in ``@``.
    Raises ValueError when the sizes do not fit together.

    Unlike the dot product, every pair goes through the tanh, so the intermediate array has shape
    ``(..., n_q, n_k, d_a)``: memory and work grow with ``n_q * n_k * d_a``.
    """
    q, k = np.asarray(q), np.asarray(k)
    w_q, w_k, v = np.asarray(w_q), np.asarray(w_k), np.asarray(v)
    if q.ndim < 2 or k.ndim < 2:
        raise ValueError(f"q and k need shapes (..., n, d), got {q.shape} and {k.shape}")
    if w_q.ndim != 2 or w_k.ndim != 2 or v.ndim != 1:
        raise ValueError(f"w_q and w_k must be 2-D and v 1-D, got {w_q.shape}, {w_k.shape} and {v.shape}")
    if q.shape[-1] != w_q.shape[0]:
        raise ValueError(f"w_q must have d_q = {q.shape[-1]} rows (the query size), got shape {w_q.shape}")
    if k.shape[-1] != w_k.shape[0]:
        raise ValueError(f"w_k must have d_k = {k.shape[-1]} rows (the key size), got shape {w_k.shape}")
    if not w_q.shape[1] == w_k.shape[1] == v.shape[0]:
        raise ValueError(f"w_q, w_k and v need the same hidden size d_a, got {w_q.shape[1]}, {w_k.shape[1]} and {v.shape[0]}")
    hidden_q = (q @ w_q)[..., :, None, :]  # (..., n_q, 1, d_a)
    hidden_k = (k @ w_k)[..., None, :, :]  # (..., 1, n_k, d_a)
    return np.tanh(hidden_q + hidden_k) @ v  # (..., n_q, n_k, d_a) @ (d_a,) -> (..., n_q, n_k)


def score_statistics(d_k: int, n_samples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Empirical variance of ``q · k`` and of ``q · k / sqrt(d_k)``.

    q and k have ``d_k`` independent standard-normal entries. Theory: ``d_k`` and 1.
    """
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_samples, d_k))
    k = rng.standard_normal((n_samples, d_k))
    dots = np.einsum("nd,nd->n", q, k)  # (n_samples,) one dot product per pair
    return float(dots.var()), float((dots / np.sqrt(d_k)).var())
