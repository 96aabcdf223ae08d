"""Chapter 6 — multi-head attention, in numpy and as a ``torch.nn.Module``.

Several attention "heads" run side by side, each on its own slice of the projected
features, so each can learn to look for something different. Head ``h`` of a
``d_model``-wide projection holds features ``h * d_head … (h + 1) * d_head - 1``, with
``d_head = d_model / num_heads``; the heads' outputs are concatenated back and mixed by
an output projection ``W_O``.

This module is numpy; the same layer as a ``torch.nn.Module`` is
:class:`course_lib.multi_head_torch.MultiHeadAttention`.
"""
from __future__ import annotations

import numpy as np

from .attention import scaled_dot_product_attention


def split_heads(x, num_heads: int):
    """``(..., L, D)`` → ``(..., H, L, D/H)``: head ``h`` gets features ``h*D/H … (h+1)*D/H - 1``.

    The reshape cuts the feature axis into ``H`` contiguous blocks; the transpose then
    moves the head axis in front of the tokens, so each head is a batch of its own.
    """
    x = np.asarray(x)
    *lead, length, d_model = x.shape
    if d_model % num_heads:
        raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}")
    blocks = x.reshape(*lead, length, num_heads, d_model // num_heads)  # (..., L, H, D/H)
    return np.swapaxes(blocks, -2, -3)  # (..., H, L, D/H)


def merge_heads(x):
    """``(..., H, L, D/H)`` → ``(..., L, D)``: the inverse of :func:`split_heads`."""
    x = np.asarray(x)
    *lead, num_heads, length, d_head = x.shape
    return np.swapaxes(x, -2, -3).reshape(*lead, length, num_heads * d_head)  # (..., L, D)


def _per_head(mask):
    # Masks come without a head axis, e.g. (B, L_q, L_k) or (B, 1, L_k); every head uses
    # the same mask, so insert a size-1 head axis in front of the last two. A 2-D mask
    # (L_q, L_k) already broadcasts.
    if mask is not None and np.ndim(mask) >= 3:
        return np.expand_dims(mask, -3)
    return mask


def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None, return_weights=False):
    """Multi-head attention of ``x_q`` over ``x_kv`` (self-attention when they are the same).

    x_q: ``(B, L_q, D)``, x_kv: ``(B, L_k, D)``; w_q, w_k, w_v, w_o: ``(D, D)``, used as
    ``x @ w``; mask: boolean broadcastable to ``(B, L_q, L_k)`` (True = may attend), shared
    by all heads. Returns ``(B, L_q, D)``, and the per-head weights ``(B, H, L_q, L_k)``
    too if ``return_weights``.
    """
    q = split_heads(np.asarray(x_q) @ w_q, num_heads)  # (B, H, L_q, D/H)
    k = split_heads(np.asarray(x_kv) @ w_k, num_heads)  # (B, H, L_k, D/H)
    v = split_heads(np.asarray(x_kv) @ w_v, num_heads)  # (B, H, L_k, D/H)
    heads, weights = scaled_dot_product_attention(q, k, v, _per_head(mask))  # (B, H, L_q, D/H)
    output = merge_heads(heads) @ w_o  # (B, L_q, D)
    return (output, weights) if return_weights else output


def parameter_count(d_model: int, bias: bool = True) -> int:
    """Parameters of one multi-head attention layer: four ``(D, D)`` matrices (and biases).

    The number of heads does not appear: heads divide ``D`` among themselves.
    """
    return 4 * d_model * d_model + (4 * d_model if bias else 0)


def flop_count(batch: int, len_q: int, len_k: int, d_model: int) -> int:
    """Multiply-adds × 2 of a forward pass (biases and softmax left out, they are small).

    Projections: ``2·B·D²·(2·L_q + 2·L_k)`` (Q and the output from the queries' side, K and
    V from the keys'); scores ``QKᵀ`` and weights × ``V``: ``2·B·L_q·L_k·D`` each. The head
    count cancels: ``H`` heads of size ``D/H``.
    """
    projections = 2 * batch * d_model * d_model * (2 * len_q + 2 * len_k)
    attention = 2 * (2 * batch * len_q * len_k * d_model)
    return projections + attention
