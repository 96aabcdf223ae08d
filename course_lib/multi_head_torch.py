"""Chapter 6 — multi-head attention as a ``torch.nn.Module``.

The numpy version in :mod:`course_lib.multi_head`, written for autograd, the GPU and
batches of real data. Kept in its own module so that the numpy chapters do not pay for
importing torch.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def explicit_attention(q, k, v, mask=None, dropout=None):
    """``softmax(q kᵀ / sqrt(d_k)) v`` written out, every weight materialised.

    q: ``(..., L_q, d_k)``, k: ``(..., L_k, d_k)``, v: ``(..., L_k, d_v)``; mask boolean,
    broadcastable to ``(..., L_q, L_k)``, ``True`` = may attend. Returns
    ``(output (..., L_q, d_v), weights (..., L_q, L_k))``. This is the computation that
    ``torch.nn.functional.scaled_dot_product_attention`` fuses into one kernel (chapter 9).
    """
    # Scale the queries, not the scores: the same result, but L_q·d numbers to touch
    # instead of L_q·L_k, which matters once sequences are long.
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # (..., L_q, L_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # A query with every key masked has a row of -inf, whose softmax is nan: it
        # attends to nothing, so give it zero weights, as course_lib's numpy attention
        # does (its output is then 0).
        weights = weights.masked_fill(~mask, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Batch-first multi-head attention with per-head weights, readable in one screen.

    ``forward(query, key, value, mask=None)`` takes ``(B, L_q, D)``, ``(B, L_k, D)``,
    ``(B, L_k, D)`` and a boolean mask broadcastable to ``(B, L_q, L_k)`` with
    ``True`` = may attend (the opposite of ``nn.MultiheadAttention``'s boolean masks).
    Returns ``(output (B, L_q, D), weights (B, H, L_q, L_k))``.
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}")
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        # Dropout on the attention weights. The 2017 paper applies dropout only to each
        # sublayer's output and to the embedding sums (section 5.4); dropout here comes
        # from the reference implementations (tensor2tensor, the Annotated Transformer)
        # and is what nn.MultiheadAttention's dropout does too.
        self.dropout = nn.Dropout(dropout)

    def _split(self, x):
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)  # (B, H, L, D/H)

    def forward(self, query, key, value, mask=None):
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key)), self._split(self.v_proj(value))
        if mask is not None and mask.dim() >= 3:
            mask = mask.unsqueeze(-3)  # (B, 1, L_q, L_k): one mask for every head
        heads, weights = explicit_attention(q, k, v, mask, self.dropout)  # (B, H, L_q, D/H), (B, H, L_q, L_k)
        batch, _, len_q, _ = heads.shape
        output = self.out_proj(heads.transpose(1, 2).reshape(batch, len_q, self.d_model))  # (B, L_q, D)
        return output, weights

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of a ``torch.nn.MultiheadAttention(batch_first=True)``'s weights.

        torch keeps the three input projections stacked in ``in_proj_weight`` (3D, D), rows
        ``0…D-1`` for queries, then keys, then values; ``nn.Linear`` computes ``x @ W.T + b``
        in both modules, so the blocks copy over as they are.
        """
        if not module.batch_first:
            raise ValueError("expected nn.MultiheadAttention(batch_first=True)")
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError("only the standard layout is supported (no kdim/vdim, add_bias_kv or add_zero_attn)")
        bias = module.in_proj_bias is not None
        copy = cls(module.embed_dim, module.num_heads, bias=bias, dropout=module.dropout)
        with torch.no_grad():
            for index, projection in enumerate((copy.q_proj, copy.k_proj, copy.v_proj)):
                rows = slice(index * module.embed_dim, (index + 1) * module.embed_dim)
                projection.weight.copy_(module.in_proj_weight[rows])
                if bias:
                    projection.bias.copy_(module.in_proj_bias[rows])
            copy.out_proj.weight.copy_(module.out_proj.weight)
            if bias:
                copy.out_proj.bias.copy_(module.out_proj.bias)
        return copy.to(module.in_proj_weight.device, module.in_proj_weight.dtype)
