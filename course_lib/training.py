"""Chapter 9 — the small pieces of training craft, in numpy and plain Python.

Three ideas that every real Transformer training run uses, each short enough to write
by hand and check against the big libraries:

* the warm-up then inverse-square-root learning-rate schedule of "Attention Is All You
  Need" (section 5.3);
* label smoothing (section 5.4), with the convention of
  ``torch.nn.CrossEntropyLoss(label_smoothing=...)``;
* one step of attention with a key/value cache, the trick that makes generation fast.

The torch side of the chapter (the GPT model, the training loop, devices, checkpoints)
is in :mod:`course_lib.gpt` and :mod:`course_lib.training_torch`; both use these functions.
"""
from __future__ import annotations

import numpy as np

from .softmax import softmax


def warmup_inverse_sqrt_lr(step: int, d_model: int, warmup_steps: int) -> float:
    """The learning rate at ``step`` (counted from 1)::

        d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)

    It rises linearly for ``warmup_steps`` steps, peaks at
    ``(d_model * warmup_steps)**-0.5``, then decays as ``1 / sqrt(step)``. Wider models get
    smaller steps. The two branches meet at ``step == warmup_steps``.
    """
    if step < 1:
        raise ValueError(f"steps are counted from 1, got step = {step}")
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be at least 1, got {warmup_steps}")
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def label_smoothed_targets(targets, num_classes: int, smoothing: float) -> np.ndarray:
    """Target distributions for label smoothing: ``(N,)`` class ids → ``(N, C)`` rows.

    Each row is ``(1 - smoothing) * one_hot(target) + smoothing / C``: the smoothing mass is
    spread uniformly over **all** ``C`` classes, the true one included, exactly as
    ``torch.nn.CrossEntropyLoss(label_smoothing=smoothing)`` does. (Some papers and
    tutorials spread it over the ``C - 1`` wrong classes instead; that is a different loss.)
    The true class gets ``1 - smoothing + smoothing / C``; every row sums to 1.
    """
    targets = np.asarray(targets)
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be integer class ids, got dtype {targets.dtype}")
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"class ids must be in [0, {num_classes}), got {targets.min()}…{targets.max()}")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    distributions = np.full(targets.shape + (num_classes,), smoothing / num_classes)
    np.put_along_axis(distributions, targets[..., None], 1.0 - smoothing + smoothing / num_classes, axis=-1)
    return distributions


def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):
    """One step of causal self-attention for a newly generated token, with a key/value cache.

    x_new: ``(..., d_model)``, the new token's vector (one per sequence of the batch).
    k_cache, v_cache: ``(..., t, d_k)`` and ``(..., t, d_v)``: the keys and values of the
    ``t`` earlier tokens (``t`` may be 0). w_q, w_k: ``(d_model, d_k)``; w_v: ``(d_model, d_v)``.

    The new token's key and value are appended to the caches *before* attending, so the
    token sees itself and every earlier token: the last row of causal self-attention over
    the whole sequence, at the cost of one row. Scores are scaled by ``sqrt(d_k)``.
    Returns ``(output (..., d_v), k_cache (..., t+1, d_k), v_cache (..., t+1, d_v))``.
    """
    x_new = np.asarray(x_new, dtype=float)
    q = x_new @ w_q  # (..., d_k): only the new token asks a question
    k_cache = np.concatenate([k_cache, (x_new @ w_k)[..., None, :]], axis=-2)  # (..., t+1, d_k)
    v_cache = np.concatenate([v_cache, (x_new @ w_v)[..., None, :]], axis=-2)  # (..., t+1, d_v)
    scores = (k_cache @ q[..., None])[..., 0] / np.sqrt(q.shape[-1])  # (..., t+1)
    weights = softmax(scores)  # no mask needed: the cache holds only the past and the present
    output = (weights[..., None, :] @ v_cache)[..., 0, :]  # (..., d_v)
    return output, k_cache, v_cache
