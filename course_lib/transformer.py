"""Chapter 8 — the parts of a Transformer layer, in numpy.

Around every attention block (chapters 4–7) a Transformer layer adds a position-wise
feed-forward network, residual connections and layer normalisation. These numpy
versions are the definitions; :mod:`course_lib.transformer_torch` builds the model.
"""
from __future__ import annotations

import numpy as np

from .masking import causal_mask, padding_mask


def layer_norm(x, gamma, beta, eps: float = 1e-5):
    """Normalise every vector along the last axis to mean 0 and variance 1, then scale and shift.

    x: ``(..., d)``; gamma, beta: ``(d,)``. The variance is the *biased* one (divide by
    ``d``), as in ``torch.nn.LayerNorm``; ``eps`` keeps a constant vector from dividing by 0.
    """
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    variance = x.var(axis=-1, keepdims=True)  # biased: mean of squared deviations
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def feed_forward(x, w1, b1, w2, b2):
    """The position-wise feed-forward network ``relu(x @ w1 + b1) @ w2 + b2``.

    x: ``(..., d_model)``; w1: ``(d_model, d_ff)``, b1: ``(d_ff,)``; w2: ``(d_ff, d_model)``,
    b2: ``(d_model,)``. Every position goes through the same two layers on its own.
    """
    hidden = np.maximum(np.asarray(x) @ w1 + b1, 0.0)  # (..., d_ff)
    return hidden @ w2 + b2  # (..., d_model)


def decoder_self_mask(tgt_ids, pad_id: int = 0) -> np.ndarray:
    """The decoder's self-attention mask: ``(B, T)`` ids give ``(B, T, T)`` booleans.

    ``True`` where target position ``t`` may attend to position ``s``: ``s <= t`` (no
    peeking, chapter 5's causal mask) and ``s`` is not padding.
    """
    tgt_ids = np.asarray(tgt_ids)
    return padding_mask(tgt_ids, pad_id) & causal_mask(tgt_ids.shape[-1])
