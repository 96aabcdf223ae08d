"""Chapter 12's attention pieces against PyTorch or a straightforward reference: grouped-query
attention, the KV-cache arithmetic, sliding windows, tiled (online-softmax) attention, ALiBi and
RoPE position interpolation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.masking import causal_mask
from course_lib.modern_attention import (
    LLAMA2_SHAPES, alibi_bias, alibi_slopes, apply_rope_scaled, grouped_query_attention, kv_cache_bytes_per_token,
    kv_cache_table, rope_angles, sliding_window_attention, sliding_window_mask, tiled_attention,
)
from course_lib.positional import apply_rope


def reference_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True) @ v


# --- grouped-query attention ---

@pytest.mark.parametrize("kv_heads", [8, 4, 2, 1])  # MHA, GQA, GQA, MQA
@pytest.mark.parametrize("mask_shape", [None, (5, 7), (2, 1, 5, 7), (2, 8, 5, 7)])
def test_gqa_equals_sdpa_with_enable_gqa(kv_heads, mask_shape):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 8, 5, 16), torch.randn(2, kv_heads, 7, 16), torch.randn(2, kv_heads, 7, 12)
    mask = None if mask_shape is None else torch.rand(mask_shape) > 0.4
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    torch.testing.assert_close(grouped_query_attention(q, k, v, mask), expected)


def test_gqa_query_head_h_reads_kv_head_h_over_group_size():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 6, 4, 8), torch.randn(1, 2, 4, 8), torch.randn(1, 2, 4, 8)
    out = grouped_query_attention(q, k, v)
    for h in range(6):  # group size 3: heads 0-2 read kv head 0, heads 3-5 kv head 1
        single = F.scaled_dot_product_attention(q[:, h], k[:, h // 3], v[:, h // 3])
        torch.testing.assert_close(out[:, h], single)


def test_gqa_fully_masked_row_gives_zeros_as_sdpa():
    q, k, v = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    out = grouped_query_attention(q, k, v, mask)
    assert torch.all(out[:, :, 1] == 0) and not torch.isnan(out).any()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True))


def test_gqa_rejects_what_does_not_fit():
    q = torch.randn(1, 6, 3, 8)
    with pytest.raises(ValueError, match="H_kv"):
        grouped_query_attention(q, torch.randn(1, 4, 5, 8), torch.randn(1, 4, 5, 8))
    with pytest.raises(ValueError, match="k"):
        grouped_query_attention(q, torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 8))
    with pytest.raises(ValueError, match="v"):
        grouped_query_attention(q, torch.randn(1, 2, 5, 8), torch.randn(1, 2, 6, 8))
    with pytest.raises(ValueError, match="mask"):
        grouped_query_attention(q, torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8), torch.ones(3, 4, dtype=torch.bool))


def test_kv_cache_bytes_at_llama2_shapes():
    assert kv_cache_bytes_per_token(32, 32, 128) == 2 * 32 * 32 * 128 * 2 == 512 * 1024  # Llama-2-7B: 0.5 MiB
    assert kv_cache_bytes_per_token(80, 8, 128) == 320 * 1024  # Llama-2-70B, 8 kv heads
    assert kv_cache_bytes_per_token(32, 32, 128, bytes_per_value=4) == 2 * kv_cache_bytes_per_token(32, 32, 128)
    rows = {(r["model"], r["attention"]): r for r in kv_cache_table(context=4096)}
    assert rows["Llama-2-7B", "MHA"]["published"] and rows["Llama-2-70B", "GQA"]["published"]
    assert rows["Llama-2-70B", "MHA"]["bytes_per_token"] == 8 * rows["Llama-2-70B", "GQA"]["bytes_per_token"]
    assert rows["Llama-2-7B", "MQA"]["bytes_per_context"] == 4096 * 2 * 32 * 128 * 2
    assert LLAMA2_SHAPES["Llama-2-70B"]["num_kv_heads"] == 8
    with pytest.raises(ValueError, match="num_kv_heads"):
        kv_cache_bytes_per_token(32, 0, 128)


# --- sliding windows ---

def test_sliding_window_mask():
    mask = sliding_window_mask(5, 2)
    expected = np.array([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], bool)
    assert mask.dtype == bool and np.array_equal(mask, expected)
    assert np.array_equal(sliding_window_mask(4, 4), causal_mask(4)) and np.array_equal(sliding_window_mask(4, 9), causal_mask(4))
    assert np.array_equal(sliding_window_mask(3, 1), np.eye(3, dtype=bool))
    for bad in (0, -1):
        with pytest.raises(ValueError, match="window"):
            sliding_window_mask(4, bad)


@pytest.mark.parametrize("window", [1, 3, 8, 40])
def test_banded_attention_equals_masked_attention(window):
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(20, 8)), rng.normal(size=(20, 8)), rng.normal(size=(20, 5))
    expected = reference_attention(q, k, v, sliding_window_mask(20, window))
    np.testing.assert_allclose(sliding_window_attention(q, k, v, window), expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        sliding_window_attention(q, k, v, 0)


# --- tiled attention (online softmax) ---

@pytest.mark.parametrize("block_size", [1, 7, 16, 64, 100])  # 100 > n and m
@pytest.mark.parametrize("n, m", [(33, 33), (10, 45), (45, 10)])
def test_tiled_attention_equals_attention_for_any_block_size(block_size, n, m):
    rng = np.random.default_rng(block_size + n)
    q, k, v = rng.normal(size=(2, n, 16)) * 3, rng.normal(size=(2, m, 16)) * 3, rng.normal(size=(2, m, 5))
    np.testing.assert_allclose(tiled_attention(q, k, v, block_size), reference_attention(q, k, v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("block_size", [1, 7, 64])
@pytest.mark.parametrize("n, m", [(30, 30), (12, 30), (1, 30)])
def test_causal_tiled_attention_is_bottom_right_aligned(block_size, n, m):
    rng = np.random.default_rng(n)
    q, k, v = rng.normal(size=(n, 8)), rng.normal(size=(m, 8)), rng.normal(size=(m, 4))
    mask = np.tril(np.ones((n, m), dtype=bool), k=m - n)  # query i is position m - n + i
    np.testing.assert_allclose(tiled_attention(q, k, v, block_size, causal=True), reference_attention(q, k, v, mask),
                               rtol=1e-10, atol=1e-12)
    if n == m:
        expected = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)), is_causal=True).numpy()
        np.testing.assert_allclose(tiled_attention(q, k, v, block_size, causal=True), expected, rtol=1e-10, atol=1e-12)


def test_tiled_attention_keeps_float32_and_rejects_bad_arguments():
    q = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    assert tiled_attention(q, q, q, 4).dtype == np.float32
    for bad in (0, -3):
        with pytest.raises(ValueError, match="block_size"):
            tiled_attention(q, q, q, bad)
    with pytest.raises(ValueError, match="causal"):
        tiled_attention(q, q[:3], q[:3], causal=True)
    with pytest.raises(ValueError, match="same last axis"):
        tiled_attention(q, q[:, :3], q)
    with pytest.raises(ValueError, match="number of tokens"):
        tiled_attention(q, q, q[:5])


# --- ALiBi and RoPE interpolation ---

def test_alibi_slopes_follow_the_paper():
    np.testing.assert_allclose(alibi_slopes(8), [1 / 2 ** i for i in range(1, 9)])
    np.testing.assert_allclose(alibi_slopes(1), [2 ** -8])
    # H = 6: the 4 slopes of H = 4 (2^-2, 2^-4, 2^-6, 2^-8), then the 1st and 3rd of H = 8 (2^-1, 2^-3)
    np.testing.assert_allclose(alibi_slopes(6), [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3])
    assert len(alibi_slopes(12)) == 12 and len(set(alibi_slopes(12))) == 12
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(0)


def test_alibi_bias_is_linear_in_distance_and_causal():
    bias = alibi_bias(4, 5)
    assert bias.shape == (4, 5, 5)
    slopes = alibi_slopes(4)
    assert bias[2, 4, 1] == -slopes[2] * 3 and np.all(np.diagonal(bias, axis1=1, axis2=2) == 0)
    assert np.all(np.isneginf(bias[:, np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]]))
    with pytest.raises(ValueError, match="n"):
        alibi_bias(4, 0)


def test_rope_interpolation_at_position_p_is_plain_rope_at_p_times_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 8))
    positions, scale = np.arange(0, 60, 10), 0.25  # e.g. trained on 512, read at 2048: scale 512 / 2048
    np.testing.assert_allclose(apply_rope_scaled(x, positions, scale=scale), apply_rope(x, positions * scale))
    np.testing.assert_allclose(apply_rope_scaled(x, scale=2.0), apply_rope(x, np.arange(6) * 2.0))
    np.testing.assert_allclose(apply_rope_scaled(x), apply_rope(x))
    angles = rope_angles(np.arange(6), 8, scale=scale)
    np.testing.assert_allclose(angles, rope_angles(np.arange(6) * scale, 8))
    assert angles.shape == (6, 4) and np.isclose(angles[4, 0], 4 * scale)
    for kwargs, name in ((dict(dim=7), "dim"), (dict(dim=8, scale=0.0), "scale"), (dict(dim=0), "dim")):
        with pytest.raises(ValueError, match=name):
            rope_angles(np.arange(3), **kwargs)
