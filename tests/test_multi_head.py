import numpy as np
import pytest
import torch
from torch import nn

from course_lib import (
    MultiHeadAttention,
    causal_mask,
    flop_count,
    merge_heads,
    multi_head_attention,
    padding_mask,
    parameter_count,
    scaled_dot_product_attention,
    split_heads,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_split_heads_gives_each_head_a_contiguous_block_of_features():
    x = np.arange(2 * 3 * 8).reshape(2, 3, 8)  # (B, L, D)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 2)  # (B, H, L, D/H)
    for h in range(4):
        np.testing.assert_array_equal(heads[:, h], x[:, :, 2 * h : 2 * h + 2])


def test_merge_heads_inverts_split_heads(rng):
    x = rng.standard_normal((2, 5, 12))
    for num_heads in (1, 2, 3, 4, 6, 12):
        np.testing.assert_array_equal(merge_heads(split_heads(x, num_heads)), x)


def test_split_heads_rejects_an_indivisible_model_size(rng):
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(rng.standard_normal((1, 2, 10)), 4)


def _weights(rng, d):
    return [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(4)]


def test_multi_head_attention_is_heads_of_attention_on_feature_blocks(rng):
    d, h = 12, 3
    x_q, x_kv = rng.standard_normal((2, 4, d)), rng.standard_normal((2, 6, d))
    w_q, w_k, w_v, w_o = _weights(rng, d)
    out = multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, h)
    # the same thing written one head at a time
    block = d // h
    heads = []
    for i in range(h):
        cols = slice(i * block, (i + 1) * block)
        heads.append(scaled_dot_product_attention(x_q @ w_q[:, cols], x_kv @ w_k[:, cols], x_kv @ w_v[:, cols])[0])
    np.testing.assert_allclose(out, np.concatenate(heads, axis=-1) @ w_o)
    assert out.shape == (2, 4, d)


def test_one_head_is_plain_attention(rng):
    d = 6
    x = rng.standard_normal((1, 5, d))
    w_q, w_k, w_v, w_o = _weights(rng, d)
    expected = scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)[0] @ w_o
    np.testing.assert_allclose(multi_head_attention(x, x, w_q, w_k, w_v, w_o, 1), expected)


def test_masks_without_a_head_axis_apply_to_every_head(rng):
    d, h = 8, 2
    x = rng.standard_normal((2, 5, d))
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    mask = padding_mask(ids) & causal_mask(5)  # (2, 5, 5)
    out, weights = multi_head_attention(x, x, *_weights(rng, d), h, mask=mask, return_weights=True)
    assert weights.shape == (2, h, 5, 5)
    assert (weights[:, :, ~causal_mask(5)] == 0).all()
    assert (weights[0, :, :, 3:] == 0).all()


def test_parameter_and_flop_counts():
    assert parameter_count(512) == 4 * 512 * 512 + 4 * 512
    assert parameter_count(512, bias=False) == sum(p.numel() for p in MultiHeadAttention(512, 8, bias=False).parameters())
    assert parameter_count(64) == sum(p.numel() for p in nn.MultiheadAttention(64, 4).parameters())
    # doubling the sequence doubles the projections and quadruples the attention part
    assert flop_count(1, 10, 10, 64) == 2 * 64 * 64 * 40 + 4 * 100 * 64


def _torch_pair(d=16, h=4, bias=True, seed=0):
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(d, h, bias=bias, batch_first=True).eval()
    with torch.no_grad():  # fresh modules start with zero biases: perturb, or a missing copy would pass
        for p in reference.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return reference, MultiHeadAttention.from_torch(reference).eval()


@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_matches_nn_multihead_attention_with_different_lengths(bias):
    reference, ours = _torch_pair(bias=bias)
    torch.manual_seed(1)
    query, key = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    value = torch.randn(3, 7, 16)
    expected, expected_weights = reference(query, key, value, average_attn_weights=False)
    output, weights = ours(query, key, value)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=1e-5)


def test_from_torch_matches_with_masks_in_the_opposite_convention():
    reference, ours = _torch_pair()
    torch.manual_seed(2)
    x = torch.randn(2, 6, 16)
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [1, 2, 3, 4, 5, 6]])
    may_attend = torch.from_numpy(padding_mask(ids.numpy()) & causal_mask(6))  # (2, 6, 6), True = may attend
    # nn.MultiheadAttention: True = blocked, and a 3-D mask needs one copy per head.
    blocked = (~may_attend).repeat_interleave(4, dim=0)
    expected, _ = reference(x, x, x, attn_mask=blocked, average_attn_weights=False)
    output, weights = ours(x, x, x, mask=may_attend)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)
    # and with a key-padding mask plus a 2-D causal mask, cross-attention lengths
    query = torch.randn(2, 3, 16)
    keep = torch.tensor([[True, True, True, True, False, False], [True] * 6])
    expected, _ = reference(query, x, x, key_padding_mask=~keep)
    output, _ = ours(query, x, x, mask=keep[:, None, :])
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


def test_torch_module_agrees_with_the_numpy_function():
    _, ours = _torch_pair(d=8, h=2, bias=False)  # the numpy function has no biases
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    ours = ours.double()
    # nn.Linear computes x @ W.T; the numpy function takes the matrices used as x @ w
    w_q, w_k, w_v, w_o = (p.weight.detach().numpy().T for p in (ours.q_proj, ours.k_proj, ours.v_proj, ours.out_proj))
    expected = multi_head_attention(x.numpy(), x.numpy(), w_q, w_k, w_v, w_o, 2)
    np.testing.assert_allclose(ours(x, x, x)[0].detach().numpy(), expected, atol=1e-12)


def test_a_fully_masked_query_gives_zeros_not_nan():
    _, ours = _torch_pair()
    x = torch.randn(1, 3, 16)
    mask = torch.tensor([[[True, False, False], [False, False, False], [True, True, True]]])
    output, weights = ours(x, x, x, mask=mask)
    assert torch.isfinite(output).all()
    assert (weights[0, :, 1] == 0).all()


def test_from_torch_rejects_sequence_first_modules():
    with pytest.raises(ValueError, match="batch_first"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2))
