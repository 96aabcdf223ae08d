"""Chapter 4 — softmax: from scores to a probability distribution.

Each row of attention scores becomes a row of weights: positive, summing to 1, larger
scores getting larger shares. The formula is one line; writing it so that it never
overflows is the point of the chapter.
"""
from __future__ import annotations

import numpy as np


def softmax(x, axis: int = -1):
    """Numerically stable softmax along ``axis`` (the keys axis, by default).

    ``exp(x - max)`` equals ``exp(x)`` up to a factor that cancels in the ratio, and
    never overflows: the largest exponent is ``exp(0) = 1``, so the sum is at least 1.
    Finite input of any size gives finite output whose slices along ``axis`` sum to 1.
    """
    x = np.asarray(x, dtype=float)
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def naive_softmax(x, axis: int = -1):
    """The textbook formula ``exp(x) / sum(exp(x))``, as many tutorials write it.

    Kept to show what goes wrong: ``exp(1000)`` overflows to ``inf`` and ``inf / inf`` is
    ``nan``. Use :func:`softmax`.
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        exp = np.exp(x)
        return exp / exp.sum(axis=axis, keepdims=True)


def softmax_with_temperature(x, temperature: float, axis: int = -1):
    """``softmax(x / temperature)``: below 1 sharpens the distribution, above 1 flattens it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(np.asarray(x, dtype=float) / temperature, axis=axis)


def entropy(p, axis: int = -1):
    """Shannon entropy in nats of the distributions along ``axis``: ``-sum p log p``.

    ``0 log 0`` counts as 0 (the limit), so one-hot rows have entropy 0 and a uniform row
    over ``n`` entries has ``log n``, the largest possible.
    """
    p = np.asarray(p, dtype=float)
    safe = np.where(p > 0, p, 1.0)  # log(1) = 0 where p is 0: those terms vanish
    return -np.sum(p * np.log(safe), axis=axis)
