"""course_lib's numpy attention against torch.nn.functional.scaled_dot_product_attention."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import causal_mask, masked_attention, padding_mask, scaled_dot_product_attention, softmax


@pytest.fixture
def qkv():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((2, 3, 7, 4))


def _torch_sdpa(q, k, v, mask=None):
    tensors = [torch.from_numpy(a) for a in (q, k, v)]
    attn_mask = None if mask is None else torch.from_numpy(np.array(np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],))))
    return F.scaled_dot_product_attention(*tensors, attn_mask=attn_mask).numpy()


def test_matches_the_formula(qkv):
    q, k, v = qkv
    output, weights = scaled_dot_product_attention(q, k, v)
    expected_weights = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(8))
    np.testing.assert_allclose(weights, expected_weights)
    np.testing.assert_allclose(output, expected_weights @ v)
    assert output.shape == (2, 3, 5, 4) and weights.shape == (2, 3, 5, 7)


def test_agrees_with_torch_without_a_mask(qkv):
    np.testing.assert_allclose(scaled_dot_product_attention(*qkv)[0], _torch_sdpa(*qkv), atol=1e-10)


def test_agrees_with_torch_with_padding_and_causal_masks():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 6, 8)) for _ in range(3))
    ids = np.array([[5, 3, 9, 2, 0, 0], [4, 4, 1, 7, 8, 2]])
    mask = padding_mask(ids) & causal_mask(6)  # (2, 1, 6) & (6, 6) -> (2, 6, 6)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, mask)[0], _torch_sdpa(q, k, v, mask), atol=1e-10)


def test_masked_weights_are_exactly_zero_and_rows_renormalised():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    mask = np.array([True, False, True, False, True])  # one row of allowed keys, broadcast to every query
    output, weights = masked_attention(q, k, v, mask)
    assert (weights[:, ~mask] == 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    np.testing.assert_allclose(output, scaled_dot_product_attention(q, k[mask], v[mask])[0])


def test_a_query_with_no_visible_key_attends_to_nothing_and_is_not_nan():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    mask = np.array([[True, True, False, False], [False, False, False, False]])
    output, weights = masked_attention(q, k, v, mask)
    assert np.isfinite(output).all()
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_array_equal(output[1], 0.0)
    # torch 2.13's fused function agrees (its nn.MultiheadAttention gives nan instead; see chapter 5).
    np.testing.assert_allclose(_torch_sdpa(q[None], k[None], v[None], mask[None])[0], output, atol=1e-10)


def test_huge_scores_stay_finite():
    q = np.array([[300.0, 300.0]])
    k = np.array([[300.0, 300.0], [299.0, 300.0]])
    output, weights = scaled_dot_product_attention(q, k, np.eye(2))
    assert np.isfinite(weights).all() and np.isclose(weights.sum(), 1.0)


def test_rejects_a_non_boolean_mask_and_missing_values():
    q = k = np.ones((2, 3))
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, np.ones((2, 3)), mask=np.array([1, 0]))
    with pytest.raises(ValueError, match="one value"):
        scaled_dot_product_attention(q, k, np.ones((3, 3)))
    with pytest.raises(ValueError, match="needs a boolean mask"):
        masked_attention(q, k, np.ones((2, 3)), None)
