import numpy as np
import pytest

from course_lib import apply_rope, scaled_dot_product_attention, shift_matrix, sinusoidal_positional_encoding


def test_sinusoidal_encoding_follows_the_formula_with_interleaved_sin_and_cos():
    pe = sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16)
    for p in (0, 1, 17, 49):
        for i in range(8):
            angle = p / 10_000 ** (2 * i / 16)
            assert pe[p, 2 * i] == pytest.approx(np.sin(angle))
            assert pe[p, 2 * i + 1] == pytest.approx(np.cos(angle))


def test_sinusoidal_encoding_with_an_odd_size_ends_with_a_sine():
    pe = sinusoidal_positional_encoding(10, 7)
    angles = np.arange(10)[:, None] / 10_000 ** (np.arange(0, 7, 2) / 7)  # (10, 4): pairs 0..3
    np.testing.assert_allclose(pe[:, 0::2], np.sin(angles))
    np.testing.assert_allclose(pe[:, 1::2], np.cos(angles[:, :3]))


def test_a_shift_is_a_linear_map_of_the_encoding():
    pe = sinusoidal_positional_encoding(100, 32)
    for offset in (1, 5, 37):
        m = shift_matrix(offset, 32)
        np.testing.assert_allclose(pe[: 100 - offset] @ m, pe[offset:], atol=1e-10)
        np.testing.assert_allclose(m @ m.T, np.eye(32), atol=1e-12)  # a rotation


def test_attention_without_positions_is_permutation_equivariant():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8))
    w_q, w_k, w_v = (rng.standard_normal((8, 8)) for _ in range(3))

    def self_attention(x):
        return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)[0]

    order = rng.permutation(6)
    np.testing.assert_allclose(self_attention(x[order]), self_attention(x)[order])
    pe = sinusoidal_positional_encoding(6, 8)
    assert not np.allclose(self_attention(x[order] + pe), self_attention(x + pe)[order])


def test_rope_rotates_pairs_and_keeps_lengths():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 8))
    rotated = apply_rope(x)
    np.testing.assert_allclose(rotated[:, 0], x[:, 0])  # position 0: angle 0
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1))
    angle = 3 * 10_000 ** (-2 / 8)  # position 3, pair 1 (features 2 and 3)
    c, s = np.cos(angle), np.sin(angle)
    np.testing.assert_allclose(rotated[0, 3, 2:4], [c * x[0, 3, 2] - s * x[0, 3, 3], s * x[0, 3, 2] + c * x[0, 3, 3]])


def test_rope_scores_depend_only_on_the_relative_position():
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal(16), rng.standard_normal(16)

    def score(m, n):
        return apply_rope(q[None], positions=[m])[0] @ apply_rope(k[None], positions=[n])[0]

    assert score(7, 3) == pytest.approx(score(104, 100))
    assert score(7, 3) != pytest.approx(score(3, 7))


def test_rope_and_shift_matrix_reject_odd_sizes():
    with pytest.raises(ValueError, match="even"):
        apply_rope(np.ones((3, 5)))
    with pytest.raises(ValueError, match="even"):
        shift_matrix(1, 5)


def test_rope_wants_one_position_per_row():
    with pytest.raises(ValueError, match="one position per row"):
        apply_rope(np.ones((3, 4)), positions=[5])
