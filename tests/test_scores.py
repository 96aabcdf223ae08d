import numpy as np
import pytest

from course_lib import attention_scores, scaled_attention_scores, score_statistics, self_attention_scores


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
