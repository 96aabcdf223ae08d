"""Chapter 12 — a Llama-style block beside chapter 9's GPT-2-style one, and gradient checkpointing.

What changed from GPT-2 (:class:`course_lib.gpt.Block`) to Llama (Touvron et al. 2023):

* RMSNorm instead of LayerNorm: no mean subtracted, no bias (:func:`rms_norm`);
* a SwiGLU feed-forward, ``W2(silu(W1 x) * W3 x)``, instead of ``W2 gelu(W1 x)`` (:class:`SwiGLU`);
* rotary position embedding (RoPE) on queries and keys instead of learned position vectors;
* optionally fewer key/value heads than query heads (grouped-query attention);
* no biases in the linear layers.

:func:`run_blocks` runs a stack of blocks with or without gradient checkpointing: each block
keeps only its input for backward and recomputes its inside then, trading compute for memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .modern_attention import rope_angles


def rms_norm(x, weight=None, eps: float = 1e-6):
    """``x / sqrt(mean(x², last axis) + eps) · weight``: LayerNorm without the mean or the bias.

    x: ``(..., D)``; weight: ``(D,)`` or None. Equal to ``F.rms_norm(x, (D,), weight, eps)``.
    Computed in float32 at least, then cast back to ``x``'s dtype (half precision loses the
    small squares otherwise).
    """
    if weight is not None and tuple(weight.shape) != (x.shape[-1],):
        raise ValueError(f"weight must have shape ({x.shape[-1]},) to match x {tuple(x.shape)}, got {tuple(weight.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    compute = torch.promote_types(x.dtype, torch.float32)
    y = x.to(compute) * torch.rsqrt(x.to(compute).pow(2).mean(dim=-1, keepdim=True) + eps)  # (..., D)
    y = y.to(x.dtype)
    return y if weight is None else y * weight


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


def swiglu(x, w1, w3, w2):
    """The SwiGLU feed-forward as a function: ``(silu(x W1ᵀ) * x W3ᵀ) W2ᵀ``.

    x: ``(..., D)``; w1, w3: ``(F, D)`` (gate and up projections); w2: ``(D, F)`` (down).
    ``silu(a) = a · sigmoid(a)``; the gate decides, feature by feature, how much of ``x W3ᵀ`` passes.
    """
    if w1.shape != w3.shape or w1.shape[-1] != x.shape[-1] or tuple(w2.shape) != (w1.shape[1], w1.shape[0]):
        raise ValueError(f"need w1, w3 (F, D) and w2 (D, F) with D = {x.shape[-1]}: "
                         f"got w1 {tuple(w1.shape)}, w3 {tuple(w3.shape)}, w2 {tuple(w2.shape)}")
    return F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)


class SwiGLU(nn.Module):
    """``W2(silu(W1 x) * W3 x)``, no biases. ``d_ff`` defaults to Llama's ``2/3 · 4 · d_model``
    (rounded up to a multiple of 8), which keeps the parameters of a 4·d GELU network."""

    def __init__(self, d_model: int, d_ff: int | None = None):
        super().__init__()
        d_ff = d_ff or 8 * ((8 * d_model // 3 + 7) // 8)
        self.w1 = nn.Linear(d_model, d_ff, bias=False)  # gate
        self.w3 = nn.Linear(d_model, d_ff, bias=False)  # up
        self.w2 = nn.Linear(d_ff, d_model, bias=False)  # down

    def forward(self, x):
        return swiglu(x, self.w1.weight, self.w3.weight, self.w2.weight)


def rotate(x, cos, sin):
    """RoPE in torch, chapter 7's convention: features ``(2i, 2i+1)`` rotated by angle ``i``.

    x: ``(..., T, d)``; cos, sin: ``(T, d/2)``.
    """
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, d/2)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)  # (..., T, d)


class LlamaAttention(nn.Module):
    """Causal self-attention with RoPE on queries and keys and ``num_kv_heads`` key/value heads."""

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int | None = None,
                 rope_base: float = 10_000.0, rope_scale: float = 1.0):
        super().__init__()
        num_kv_heads = num_kv_heads or num_heads
        if num_heads <= 0 or d_model % num_heads:
            raise ValueError(f"num_heads = {num_heads} must be positive and divide d_model = {d_model}")
        if num_kv_heads <= 0 or num_heads % num_kv_heads:
            raise ValueError(f"num_kv_heads = {num_kv_heads} must be positive and divide num_heads = {num_heads}")
        if (d_model // num_heads) % 2:
            raise ValueError(f"RoPE needs an even head size: d_model / num_heads = {d_model // num_heads}")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, d_model // num_heads
        self.rope_base, self.rope_scale = rope_base, rope_scale
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.kv_proj = nn.Linear(d_model, 2 * num_kv_heads * self.head_dim, bias=False)  # fewer kv heads: smaller
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        batch, length, d_model = x.shape  # (B, T, D)
        q = self.q_proj(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)
        k, v = self.kv_proj(x).view(batch, length, 2 * self.num_kv_heads, self.head_dim).transpose(1, 2).chunk(2, dim=1)
        angles = torch.from_numpy(rope_angles(range(length), self.head_dim, self.rope_base, self.rope_scale))
        cos, sin = angles.cos().to(x), angles.sin().to(x)  # (T, d/2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)  # (B, H, T, d), (B, H_kv, T, d)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.num_kv_heads != self.num_heads)
        return self.out_proj(y.transpose(1, 2).reshape(batch, length, d_model))  # (B, T, D)


class LlamaBlock(nn.Module):
    """``x + attention(rms_norm(x))``, then ``x + swiglu(rms_norm(x))``: pre-norm, as GPT-2's block.

    ``forward(x (B, T, D)) -> (B, T, D)``, causal; positions come from RoPE inside attention.
    """

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int | None = None, d_ff: int | None = None,
                 eps: float = 1e-6, rope_scale: float = 1.0):
        super().__init__()
        self.norm1 = RMSNorm(d_model, eps)
        self.attention = LlamaAttention(d_model, num_heads, num_kv_heads, rope_scale=rope_scale)
        self.norm2 = RMSNorm(d_model, eps)
        self.feed_forward = SwiGLU(d_model, d_ff)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


def run_blocks(blocks, x, checkpointing: bool = False):
    """``x`` through each block in turn; with ``checkpointing`` each block is a checkpoint.

    A checkpointed block saves only its input for backward and runs its forward again during
    backward (``torch.utils.checkpoint``, ``use_reentrant=False``): the same gradients, the
    activations inside the blocks never all held at once, about one more forward of compute.
    Works for any blocks that take one tensor (:class:`LlamaBlock`; chapter 9's ``Block``).
    """
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False) if checkpointing and torch.is_grad_enabled() else block(x)
    return x
