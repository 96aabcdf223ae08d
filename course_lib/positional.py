"""Chapter 7 — positional encoding: telling attention where each token is.

Attention compares every query with every key as a set: shuffle the tokens and the
outputs shuffle the same way (it is permutation-equivariant). Word order must therefore be
put into the vectors: by adding a position code (sinusoidal, or a learned table) or by
rotating queries and keys by an angle that grows with the position (RoPE).
"""
from __future__ import annotations

import numpy as np


def _frequencies(d_model: int, base: float = 10_000.0) -> np.ndarray:
    """``base ** (-2i / d_model)`` for ``i = 0 … ceil(d_model / 2) - 1``: one per sin/cos pair."""
    return base ** (-np.arange(0, d_model, 2) / d_model)


def sinusoidal_positional_encoding(max_len: int, d_model: int, base: float = 10_000.0) -> np.ndarray:
    """The original Transformer's position codes, ``(max_len, d_model)``.

    ``PE[p, 2i] = sin(p / base^(2i/d))`` and ``PE[p, 2i+1] = cos(p / base^(2i/d))``: sines in
    the even columns, cosines in the odd ones, interleaved, each pair at its own frequency,
    from one turn per ``2π`` positions down to one per ``2π · base``.
    """
    angles = np.arange(max_len)[:, None] * _frequencies(d_model, base)[None, :]  # (max_len, ceil(d/2))
    encoding = np.zeros((max_len, d_model))
    encoding[:, 0::2] = np.sin(angles)
    encoding[:, 1::2] = np.cos(angles[:, : d_model // 2])  # an odd d_model has one sine more
    return encoding


def shift_matrix(offset: int, d_model: int, base: float = 10_000.0) -> np.ndarray:
    """The ``(d_model, d_model)`` matrix ``M`` with ``PE[p + offset] = PE[p] @ M`` for every ``p``.

    Moving ``offset`` positions on turns each (sin, cos) pair by the angle
    ``offset · frequency``: a 2×2 rotation per pair, the same for every position. So a
    relative offset is a *linear* function of the encoding, which attention can learn.
    """
    if d_model % 2:
        raise ValueError("shift_matrix needs an even d_model (complete sin/cos pairs)")
    matrix = np.zeros((d_model, d_model))
    for pair, angle in enumerate(offset * _frequencies(d_model, base)):
        c, s = np.cos(angle), np.sin(angle)
        # Row vector (sin a, cos a) times [[c, -s], [s, c]] = (sin(a + angle), cos(a + angle)).
        matrix[2 * pair : 2 * pair + 2, 2 * pair : 2 * pair + 2] = [[c, -s], [s, c]]
    return matrix


def apply_rope(x, positions=None, base: float = 10_000.0) -> np.ndarray:
    """Rotary position embedding (RoPE) of queries or keys ``x`` ``(..., L, d)``, ``d`` even.

    Features ``(2i, 2i+1)`` form a pair that is rotated by the angle
    ``position · base^(-2i/d)``. After rotating both queries and keys, ``q_m · k_n``
    depends on the positions only through ``m - n``. ``positions`` defaults to ``0 … L-1``.
    """
    x = np.asarray(x, dtype=float)
    length, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"RoPE rotates pairs of features: d = {d} must be even")
    positions = np.arange(length) if positions is None else np.asarray(positions)
    if positions.shape != (length,):
        raise ValueError(f"expected one position per row, shape ({length},), got {positions.shape}")
    angles = positions[:, None] * _frequencies(d, base)[None, :]  # (L, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., L, d/2) each: the two halves of every pair
    rotated = np.empty_like(x)
    rotated[..., 0::2] = even * cos - odd * sin
    rotated[..., 1::2] = even * sin + odd * cos
    return rotated
