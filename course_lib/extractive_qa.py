"""Chapter 13 — extractive question answering: the answer is a span of the context.

A span head reads the encoder's output for every token of ``[CLS] question [SEP] context [SEP]``
and gives two logits per token: how likely the answer *starts* there, and how likely it
*ends* there. Decoding a window picks the pair ``start <= end`` that maximises
``p_start[start] · p_end[end]`` among the context tokens (:func:`best_span`).
"""
from __future__ import annotations

import numpy as np

from .softmax import softmax


def best_span(start_logits, end_logits, allowed, max_answer_len: int = 30) -> tuple[int, int, float]:
    """The best answer span of one window: ``(start, end, score)``, ``end`` inclusive.

    start_logits, end_logits: ``(n,)``, one logit per token of the window.
    allowed: ``(n,)`` booleans, ``True`` where a token may start or end an answer (the
    context's tokens). The probabilities are the softmax of each logit vector over the whole
    window (a logit of ``-inf`` leaves a token out of it); a span's score is
    ``p_start[start] * p_end[end]``. Candidates: ``allowed[start]`` and ``allowed[end]``,
    ``start <= end`` and ``end - start + 1 <= max_answer_len`` tokens. Ties go to the earliest
    start, then the earliest end.
    """
    start_logits = np.asarray(start_logits, dtype=float)
    end_logits = np.asarray(end_logits, dtype=float)
    allowed = np.asarray(allowed, dtype=bool)
    if start_logits.ndim != 1 or start_logits.shape != end_logits.shape or allowed.shape != start_logits.shape:
        raise ValueError(
            f"start_logits, end_logits and allowed must be 1-D and of one length, got shapes "
            f"{start_logits.shape}, {end_logits.shape} and {allowed.shape}"
        )
    if isinstance(max_answer_len, bool) or not isinstance(max_answer_len, (int, np.integer)) or max_answer_len <= 0:
        raise ValueError(f"max_answer_len must be a positive integer, got {max_answer_len!r}")
    if not allowed.any():
        raise ValueError("allowed has no True entry: no token may start or end an answer")
    p_start, p_end = softmax(start_logits), softmax(end_logits)  # (n,) each
    scores = np.outer(p_start, p_end)  # (n, n): row = start, column = end
    n = len(allowed)
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]  # end - start
    valid = (offset >= 0) & (offset < max_answer_len) & allowed[:, None] & allowed[None, :]
    scores = np.where(valid, scores, -1.0)  # below any probability product
    start, end = divmod(int(np.argmax(scores)), n)  # argmax: the first maximum in row-major order
    return start, end, float(scores[start, end])
