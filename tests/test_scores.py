import numpy as np
import pytest

from course_lib import (additive_attention_scores, attention_scores, scaled_attention_scores, score_statistics,
                        self_attention_scores)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_attention_scores_are_all_pairwise_dot_products(rng):
    q, k = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    expected = np.array([[qi @ kj for kj in k] for qi in q])
    np.testing.assert_allclose(attention_scores(q, k), expected)


def test_attention_scores_batched_over_leading_axes(rng):
    q, k = rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 6, 8))
    out = attention_scores(q, k)
    assert out.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(out[1, 2], q[1, 2] @ k[1, 2].T)


def test_attention_scores_rejects_different_sizes(rng):
    with pytest.raises(ValueError, match="same size d_k"):
        attention_scores(rng.standard_normal((3, 4)), rng.standard_normal((3, 5)))


def test_scaled_scores_divide_by_sqrt_of_key_size(rng):
    q, k = rng.standard_normal((2, 3, 16)), rng.standard_normal((2, 7, 16))
    np.testing.assert_allclose(scaled_attention_scores(q, k), attention_scores(q, k) / 4.0)


def test_self_attention_scores_scale_by_key_size_not_model_size(rng):
    # The popular pitfall: 5-dimensional embeddings, 3-dimensional keys, scaled by sqrt(5).
    x = rng.standard_normal((2, 4, 5))
    w_q, w_k = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    out = self_attention_scores(x, w_q, w_k)
    np.testing.assert_allclose(out, (x @ w_q) @ np.swapaxes(x @ w_k, -1, -2) / np.sqrt(3))
    assert out.shape == (2, 4, 4)


def test_score_variance_grows_with_key_size_and_scaling_removes_it():
    for d_k in (4, 64, 256):
        raw, scaled = score_statistics(d_k, n_samples=20_000, seed=1)
        assert raw == pytest.approx(d_k, rel=0.08)
        assert scaled == pytest.approx(1.0, rel=0.08)


def additive_scores_loop(q, k, w_q, w_k, v):
    # Bahdanau's score written out pair by pair, for one sentence: v · tanh(W_q q_i + W_k k_j).
    return np.array([[v @ np.tanh(qi @ w_q + kj @ w_k) for kj in k] for qi in q])


def test_additive_scores_match_a_loop_over_pairs(rng):
    # Queries and keys of different sizes (d_q = 3, d_k = 5), hidden size d_a = 4, n_q != n_k.
    q, k = rng.standard_normal((2, 3)), rng.standard_normal((6, 5))
    w_q, w_k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    out = additive_attention_scores(q, k, w_q, w_k, v)
    assert out.shape == (2, 6)
    np.testing.assert_allclose(out, additive_scores_loop(q, k, w_q, w_k, v))


def test_additive_scores_batched_over_leading_axes(rng):
    q, k = rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 5, 6))
    w_q, w_k, v = rng.standard_normal((8, 7)), rng.standard_normal((6, 7)), rng.standard_normal(7)
    out = additive_attention_scores(q, k, w_q, w_k, v)
    assert out.shape == (2, 3, 4, 5)
    for b, h in [(0, 0), (1, 2)]:
        np.testing.assert_allclose(out[b, h], additive_scores_loop(q[b, h], k[b, h], w_q, w_k, v))


def test_additive_scores_are_not_symmetric_in_queries_and_keys(rng):
    # Different matrices for queries and keys: score(a, b) != score(b, a) in general.
    x = rng.standard_normal((4, 3))
    w_q, w_k, v = rng.standard_normal((3, 5)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    out = additive_attention_scores(x, x, w_q, w_k, v)
    assert not np.allclose(out, out.T)


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((2, 3), (4, 5), (4, 6), (5, 6), (6,)), "w_q must have d_q = 3 rows"),
        (((2, 3), (4, 5), (3, 6), (3, 6), (6,)), "w_k must have d_k = 5 rows"),
        (((2, 3), (4, 5), (3, 6), (5, 7), (6,)), "same hidden size d_a"),
        (((2, 3), (4, 5), (3, 6), (5, 6), (7,)), "same hidden size d_a"),
        (((2, 3), (4, 5), (3, 6), (5, 6), (6, 1)), "v 1-D"),
        (((3,), (4, 5), (3, 6), (5, 6), (6,)), r"shapes \(\.\.\., n, d\)"),
    ],
)
def test_additive_scores_reject_sizes_that_do_not_fit(rng, shapes, message):
    arrays = [rng.standard_normal(shape) for shape in shapes]
    with pytest.raises(ValueError, match=message):
        additive_attention_scores(*arrays)
