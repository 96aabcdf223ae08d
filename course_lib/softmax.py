"""Softmax: turning scores into a probability distribution (chapter 4 studies it in depth).

Chapter 3 already needs it to show what large scores do to attention weights.
"""
from __future__ import annotations

import numpy as np


def softmax(x, axis: int = -1):
    """Numerically stable softmax along ``axis`` (the keys axis, by default).

    ``exp(x - max)`` equals ``exp(x)`` up to a factor that cancels in the ratio, and
    never overflows: the largest exponent is ``exp(0) = 1``.
    """
    x = np.asarray(x, dtype=float)
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)
