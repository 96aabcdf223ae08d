import numpy as np
import pytest

from course_lib import hard_lookup, init_projection, mix_values, one_hot, project_qkv


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_init_projection_keeps_the_scale(rng):
    w = init_projection(256, 64, rng)
    x = rng.standard_normal((2000, 256))
    assert w.shape == (256, 64)
    assert abs((x @ w).var() - 1.0) < 0.1


def test_project_qkv_shapes_and_values_batched(rng):
    x = rng.standard_normal((2, 3, 5, 8))  # two leading batch axes
    w_q, w_k, w_v = rng.standard_normal((8, 4)), rng.standard_normal((8, 4)), rng.standard_normal((8, 6))
    q, k, v = project_qkv(x, w_q, w_k, w_v)
    assert q.shape == k.shape == (2, 3, 5, 4) and v.shape == (2, 3, 5, 6)
    np.testing.assert_allclose(k[1, 2, 3], x[1, 2, 3] @ w_k)
    np.testing.assert_allclose(v[0, 1], x[0, 1] @ w_v)


def test_project_qkv_rejects_transposed_weights(rng):
    x = rng.standard_normal((5, 8))
    with pytest.raises(ValueError, match="w_k must have shape"):
        project_qkv(x, rng.standard_normal((8, 4)), rng.standard_normal((4, 8)), rng.standard_normal((8, 4)))


def test_project_qkv_requires_same_query_and_key_size(rng):
    x = rng.standard_normal((5, 8))
    with pytest.raises(ValueError, match="same size d_k"):
        project_qkv(x, rng.standard_normal((8, 4)), rng.standard_normal((8, 3)), rng.standard_normal((8, 4)))


def test_hard_lookup_returns_value_of_best_key():
    keys = np.eye(3)
    values = np.array([[10.0], [20.0], [30.0]])
    queries = np.array([[0.0, 0.9, 0.1], [1.0, 0.0, 0.0], [0.0, 0.2, 5.0]])
    np.testing.assert_array_equal(hard_lookup(queries, keys, values), [[20.0], [10.0], [30.0]])


def test_hard_lookup_batched_matches_per_item(rng):
    q, k, v = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 6, 5)), rng.standard_normal((4, 6, 2))
    out = hard_lookup(q, k, v)
    assert out.shape == (4, 3, 2)
    for b in range(4):
        np.testing.assert_array_equal(out[b], hard_lookup(q[b], k[b], v[b]))


def test_mix_values_with_one_hot_weights_is_hard_lookup(rng):
    q, k, v = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 6, 5)), rng.standard_normal((2, 6, 4))
    weights = one_hot((q @ np.swapaxes(k, -1, -2)).argmax(-1), 6)  # (2, 3, 6)
    np.testing.assert_allclose(mix_values(weights, v), hard_lookup(q, k, v))


def test_mix_values_uniform_weights_average_the_values(rng):
    v = rng.standard_normal((6, 4))
    np.testing.assert_allclose(mix_values(np.full((2, 6), 1 / 6), v), np.tile(v.mean(0), (2, 1)))


def test_mix_values_rejects_mismatched_keys(rng):
    with pytest.raises(ValueError, match="keys per row"):
        mix_values(np.ones((2, 5)), np.ones((6, 3)))


def test_hard_lookup_broadcasts_batched_queries_over_one_dictionary(rng):
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 6))
    out = hard_lookup(q, k, v)
    assert out.shape == (2, 3, 6)
    np.testing.assert_array_equal(out[1], hard_lookup(q[1], k, v))


def test_hard_lookup_rejects_keys_without_values(rng):
    with pytest.raises(ValueError, match="one value"):
        hard_lookup(rng.standard_normal((2, 4)), rng.standard_normal((5, 4)), rng.standard_normal((7, 3)))
