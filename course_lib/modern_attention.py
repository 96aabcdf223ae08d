"""Chapter 12 — attention at scale: what modern models changed in the attention itself.

* fewer keys and values than queries (grouped-query and multi-query attention), which
  shrinks the KV cache that generation keeps: :func:`grouped_query_attention`,
  :func:`kv_cache_bytes_per_token`, :func:`kv_cache_table`;
* attention to a window of recent tokens only: :func:`sliding_window_mask`, and
  :func:`sliding_window_attention`, which computes only that band, O(n·w) instead of O(n²);
* the online softmax behind FlashAttention, which never forms the ``(n, m)`` matrix:
  :func:`tiled_attention`;
* positions for longer contexts than the training one: ALiBi's linear biases
  (:func:`alibi_slopes`, :func:`alibi_bias`) and RoPE position interpolation
  (:func:`rope_angles`, :func:`apply_rope_scaled`).

Everything here is numpy except :func:`grouped_query_attention`, which takes torch tensors
(torch is imported when it is first called, so ``import course_lib`` stays torch-free).
Masks follow the course's convention: boolean, ``True`` = may attend.
"""
from __future__ import annotations

import math

import numpy as np

from .positional import _frequencies, apply_rope


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# --- grouped-query attention and the size of the KV cache -----------------------------------

def grouped_query_attention(q, k, v, mask=None):
    """Attention in which groups of query heads share one key/value head (torch).

    q: ``(B, H, T, d)``; k: ``(B, H_kv, S, d)``; v: ``(B, H_kv, S, d_v)``; ``H`` a multiple of
    ``H_kv``. Query head ``h`` reads key/value head ``h // (H // H_kv)``: heads ``0 … G-1``
    share kv head 0, and so on (``G = H // H_kv``). ``H_kv == H`` is ordinary multi-head
    attention (MHA), ``H_kv == 1`` multi-query attention (MQA). mask: boolean, broadcastable
    to ``(B, H, T, S)``, ``True`` = may attend; a query that may attend to nothing gets a
    zero output (as ``F.scaled_dot_product_attention`` does). Returns ``(B, H, T, d_v)``,
    equal to ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)``.

    The keys and values are never copied ``G`` times: the query heads are viewed as
    ``(B, H_kv, G, T, d)`` and each group is multiplied by its one kv head (broadcast).
    """
    import torch

    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q, k and v must be (B, H, T, d): got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    batch, heads, length, d = q.shape  # (B, H, T, d)
    kv_heads, source = k.shape[1], k.shape[2]  # (B, H_kv, S, d)
    if k.shape[0] != batch or k.shape[3] != d:
        raise ValueError(f"k {tuple(k.shape)} does not fit q {tuple(q.shape)}: need (B, H_kv, S, d) with the same B and d")
    if v.shape[:3] != k.shape[:3]:
        raise ValueError(f"v {tuple(v.shape)} does not fit k {tuple(k.shape)}: need (B, H_kv, S, d_v)")
    if kv_heads == 0 or heads % kv_heads:
        raise ValueError(f"the number of query heads H = {heads} (q) must be a multiple of the kv heads H_kv = {kv_heads} (k, v)")
    group = heads // kv_heads
    scores = q.view(batch, kv_heads, group, length, d) @ k.unsqueeze(2).transpose(-2, -1) / math.sqrt(d)  # (B, H_kv, G, T, S)
    if mask is not None:
        try:
            mask = torch.broadcast_to(torch.as_tensor(mask, dtype=torch.bool, device=q.device), (batch, heads, length, source))
        except RuntimeError as error:
            raise ValueError(f"mask {tuple(mask.shape)} does not broadcast to (B, H, T, S) = {(batch, heads, length, source)}") from error
        mask = mask.reshape(batch, kv_heads, group, length, source)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # no key at all: output 0, not NaN
    out = weights @ v.unsqueeze(2)  # (B, H_kv, G, T, d_v)
    return out.reshape(batch, heads, length, v.shape[-1])  # (B, H, T, d_v)


def kv_cache_bytes_per_token(num_layers: int, num_kv_heads: int, head_dim: int, bytes_per_value: int = 2) -> int:
    """Bytes the KV cache holds for each token of context: ``2 · layers · kv_heads · head_dim · bytes``.

    The 2 is one key and one value; ``bytes_per_value = 2`` is float16/bfloat16. Grouped-query
    attention divides this by ``H / H_kv``; multi-query attention (one kv head) by ``H``.
    """
    for name, value in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads), ("head_dim", head_dim),
                        ("bytes_per_value", bytes_per_value)):
        _positive_int(name, value)
    return 2 * num_layers * num_kv_heads * head_dim * bytes_per_value


# Published shapes. Llama 2 (Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat
# Models", table 1, and the models' config.json on the Hugging Face Hub): 7B has 32 layers,
# 32 heads of 128 (MHA); 70B has 80 layers, 64 query heads of 128 and 8 key/value heads (GQA).
LLAMA2_SHAPES = {
    "Llama-2-7B": dict(num_layers=32, num_heads=32, num_kv_heads=32, head_dim=128),
    "Llama-2-70B": dict(num_layers=80, num_heads=64, num_kv_heads=8, head_dim=128),
}


def kv_cache_table(context: int = 4096, bytes_per_value: int = 2) -> list[dict]:
    """KV-cache size per token and per ``context`` tokens, MHA / GQA / MQA, at Llama 2's shapes.

    Shapes from the Llama 2 paper (Touvron et al. 2023, table 1) and the models' configs
    (:data:`LLAMA2_SHAPES`): Llama-2-7B (32 layers, 32 heads, head_dim 128, MHA as published)
    and Llama-2-70B (80 layers, 64 query heads, 8 kv heads, head_dim 128, GQA as published).
    For each model the three variants keep its layers and heads and change only ``H_kv``:
    ``H`` (MHA), 8 (GQA, as 70B; for 7B a hypothetical 4 groups of 8) and 1 (MQA).
    Rows: ``model, attention, kv_heads, bytes_per_token, bytes_per_context, published``.
    """
    rows = []
    for model, shape in LLAMA2_SHAPES.items():
        for attention, kv_heads in (("MHA", shape["num_heads"]), ("GQA", 8), ("MQA", 1)):
            per_token = kv_cache_bytes_per_token(shape["num_layers"], kv_heads, shape["head_dim"], bytes_per_value)
            rows.append(dict(model=model, attention=attention, kv_heads=kv_heads, bytes_per_token=per_token,
                             bytes_per_context=per_token * context, published=kv_heads == shape["num_kv_heads"]))
    return rows


# --- sliding-window attention ------------------------------------------------------------------

def sliding_window_mask(n: int, window: int) -> np.ndarray:
    """``(n, n)`` boolean: query ``i`` may attend to key ``j`` iff ``0 <= i - j < window``.

    Causal, and only the last ``window`` tokens (itself included): ``window >= n`` is the
    causal mask, ``window == 1`` lets each token see only itself (Mistral 7B uses 4096).
    """
    n, window = _positive_int("n", n), _positive_int("window", window)
    offset = np.arange(n)[:, None] - np.arange(n)[None, :]  # i - j
    return (offset >= 0) & (offset < window)


def sliding_window_attention(q, k, v, window: int) -> np.ndarray:
    """Causal attention to the last ``window`` keys, computing only that band: O(n·w·d).

    q, k: ``(n, d)``, v: ``(n, d_v)`` (self-attention, one head). Equal to masked attention with
    :func:`sliding_window_mask`, but it never builds the ``(n, n)`` scores: the keys are padded
    with ``window - 1`` rows in front and viewed (no copy) as ``(n, window, d)`` windows.
    """
    q, k, v = (np.asarray(a, dtype=float) for a in (q, k, v))
    window = _positive_int("window", window)
    if q.ndim != 2 or k.shape != q.shape or v.ndim != 2 or v.shape[0] != q.shape[0]:
        raise ValueError(f"q, k must be (n, d) and v (n, d_v): got q {q.shape}, k {k.shape}, v {v.shape}")
    n, d = q.shape
    pad = window - 1
    k_windows = np.lib.stride_tricks.sliding_window_view(np.pad(k, ((pad, 0), (0, 0))), window, axis=0)  # (n, d, w)
    v_windows = np.lib.stride_tricks.sliding_window_view(np.pad(v, ((pad, 0), (0, 0))), window, axis=0)  # (n, d_v, w)
    scores = np.einsum("nd,ndw->nw", q, k_windows) / np.sqrt(d)  # (n, w): key i - w + 1 + c for column c
    scores[np.arange(window)[None, :] < pad - np.arange(n)[:, None]] = -np.inf  # the padding before key 0
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return np.einsum("nw,ndw->nd", weights, v_windows)  # (n, d_v)


# --- tiled attention: the online softmax of FlashAttention -------------------------------------

def tiled_attention(q, k, v, block_size: int = 64, causal: bool = False) -> np.ndarray:
    """Scaled dot-product attention computed block by block, never forming the ``(n, m)`` scores.

    q: ``(..., n, d)``, k: ``(..., m, d)``, v: ``(..., m, d_v)`` → ``(..., n, d_v)``. For each
    block of ``block_size`` queries it walks over the key/value blocks keeping, per query, the
    running maximum of the scores, the running softmax denominator and the running (unnormalised)
    output; when a block raises the maximum, the old sums are rescaled by ``exp(old - new)``.
    Memory: O((n + m)·d + block_size²) per batch element, not O(n·m). Any ``block_size >= 1``
    gives the same result; it need not divide ``n`` or ``m``.

    ``causal``: query ``i`` is position ``m - n + i`` (the last ``n`` of ``m`` positions, as
    with a KV cache) and may attend to keys ``0 … m - n + i``; ``n == m`` is the ordinary causal
    mask. Needs ``n <= m`` (otherwise the first queries would see no key). Key blocks wholly in a
    query block's future are skipped: causal attention costs about half.
    """
    q, k, v = (np.asarray(a) for a in (q, k, v))
    block = _positive_int("block_size", block_size)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"q, k and v need a token and a feature axis: got q {q.shape}, k {k.shape}, v {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {q.shape} and k {k.shape} must have the same last axis d")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k {k.shape} and v {v.shape} must have the same number of tokens m")
    n, m, d = q.shape[-2], k.shape[-2], q.shape[-1]
    if causal and n > m:
        raise ValueError(f"causal needs n <= m (query i is position m - n + i): got n = {n} queries, m = {m} keys")
    dtype = np.result_type(q, k, v, np.float32)
    batch_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    out = np.empty((*batch_shape, n, v.shape[-1]), dtype=dtype)
    scale = 1.0 / np.sqrt(d)
    for q_start in range(0, n, block):
        q_block = q[..., q_start:q_start + block, :] * scale  # (..., bq, d)
        rows = q_block.shape[-2]
        running_max = np.full((*batch_shape, rows, 1), -np.inf, dtype=dtype)
        denominator = np.zeros((*batch_shape, rows, 1), dtype=dtype)
        acc = np.zeros((*batch_shape, rows, v.shape[-1]), dtype=dtype)
        last_key = m - n + q_start + rows if causal else m  # keys at or after this are in every row's future
        for k_start in range(0, last_key, block):
            scores = q_block @ np.swapaxes(k[..., k_start:k_start + block, :], -1, -2)  # (..., bq, bk)
            if causal and k_start + block > m - n + q_start:  # the block crosses the diagonal
                query_pos = m - n + q_start + np.arange(rows)[:, None]
                scores = np.where(k_start + np.arange(scores.shape[-1])[None, :] <= query_pos, scores, -np.inf)
            new_max = np.maximum(running_max, scores.max(axis=-1, keepdims=True))
            correction = np.exp(running_max - new_max)  # exp(-inf) = 0 the first time
            p = np.exp(scores - new_max)  # (..., bq, bk)
            denominator = denominator * correction + p.sum(axis=-1, keepdims=True)
            acc = acc * correction + p @ v[..., k_start:k_start + block, :]
            running_max = new_max
        out[..., q_start:q_start + rows, :] = acc / denominator
    return out


# --- positions beyond the training length: ALiBi and RoPE interpolation -------------------------

def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi's per-head slopes ``m_h`` (Press et al. 2022, "Train Short, Test Long").

    For ``H`` a power of two: ``2^(-8(h+1)/H)``, ``h = 0 … H-1`` (H = 8: 1/2, 1/4, …, 1/256).
    Otherwise (the paper's code): the slopes for the largest power of two ``2^k < H``, then the
    odd-indexed slopes (1st, 3rd, …) of the ``2^(k+1)`` sequence until there are ``H``.
    """
    heads = _positive_int("num_heads", num_heads)

    def power_of_two(count):
        return 2.0 ** (-8.0 * np.arange(1, count + 1) / count)

    if heads & (heads - 1) == 0:
        return power_of_two(heads)
    closest = 2 ** int(math.floor(math.log2(heads)))
    return np.concatenate([power_of_two(closest), power_of_two(2 * closest)[0::2][: heads - closest]])


def alibi_bias(num_heads: int, n: int) -> np.ndarray:
    """ALiBi's additive bias, numpy ``(num_heads, n, n)``, for causal self-attention.

    ``bias[h, i, j] = -m_h · (i - j)`` for ``j <= i``: each head penalises distance linearly, with
    its slope :func:`alibi_slopes`; ``-inf`` above the diagonal, so adding the bias to the scores
    also applies the causal mask. No position embedding is added to the tokens.
    """
    n = _positive_int("n", n)
    distance = (np.arange(n)[:, None] - np.arange(n)[None, :]).astype(float)  # i - j
    bias = -alibi_slopes(num_heads)[:, None, None] * distance  # (H, n, n)
    return np.where(distance >= 0, bias, -np.inf)


def rope_angles(positions, dim: int, base: float = 10_000.0, scale: float = 1.0) -> np.ndarray:
    """RoPE's rotation angles ``(L, dim / 2)``: ``(position · scale) · base^(-2i/dim)``.

    ``scale < 1`` is position interpolation (Chen et al. 2023, "Extending Context Window of Large
    Language Models via Positional Interpolation"): with ``scale = train_len / target_len`` a
    model trained on ``train_len`` positions reads ``target_len`` ones at angles it has seen
    (positions squeezed into ``[0, train_len)``). ``scale = 1`` is chapter 7's plain RoPE.
    """
    dim = _positive_int("dim", dim)
    if dim % 2:
        raise ValueError(f"RoPE rotates pairs of features: dim = {dim} must be even")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 1:
        raise ValueError(f"positions must be one-dimensional (L,), got shape {positions.shape}")
    return (positions * scale)[:, None] * _frequencies(dim, base)[None, :]  # (L, dim/2)


def apply_rope_scaled(x, positions=None, base: float = 10_000.0, scale: float = 1.0) -> np.ndarray:
    """Chapter 7's :func:`~course_lib.positional.apply_rope` at positions multiplied by ``scale``.

    ``apply_rope_scaled(x, p, scale=s) == apply_rope(x, p * s)``: with ``s = train_len /
    target_len`` every position of the longer context is rotated as a position inside the
    trained range (fractional ones in between).
    """
    x = np.asarray(x, dtype=float)
    positions = np.arange(x.shape[-2]) if positions is None else np.asarray(positions, dtype=float)
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return apply_rope(x, positions * scale, base)
