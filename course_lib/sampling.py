"""Chapter 12 — choosing the next token (temperature, top-k, top-p) and perplexity.

Chapter 9's :func:`course_lib.gpt.generate` draws each token with :func:`sample_next`; this
module adds nucleus (top-p) sampling (Holtzman et al. 2020, "The Curious Case of Neural Text
Degeneration") and the perplexity of a language model, ``exp`` of chapter 9's loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def top_p_filter(logits, top_p: float):
    """Keep the smallest set of most likely tokens whose probability sums to ``>= top_p``.

    logits: ``(..., V)``; the others become ``-inf`` (returns a new tensor). The most likely
    token is always kept. Ties at the boundary are all kept (every token whose logit equals
    the last one kept), so the result does not depend on how the sort orders equal logits.
    ``top_p = 1`` keeps everything; ``top_p`` must be in ``(0, 1]``.
    """
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p == 1:
        return logits.clone()
    sorted_logits, _ = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability of the tokens strictly more likely (in sorted order)
    kept = (before < top_p).sum(dim=-1, keepdim=True)  # >= 1: before[..., 0] == 0
    threshold = sorted_logits.gather(-1, kept - 1)  # (..., 1): the smallest logit kept
    return logits.masked_fill(logits < threshold, float("-inf"))


def top_k_filter(logits, top_k: int):
    """Keep the ``top_k`` largest logits of each row (and any equal to the ``top_k``-th); ``-inf`` elsewhere."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    kth_largest = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None):
    """One token id per row of ``logits (..., V)``, shape ``(...)``.

    ``temperature == 0`` is greedy (argmax; top-k and top-p change nothing then); a negative
    temperature is a ValueError. Otherwise the logits are divided by the temperature (below 1:
    sharper, above 1: flatter), then cut to the ``top_k`` largest, then to the top-``top_p``
    nucleus of what is left, and a token is drawn from the softmax with ``generator``.
    """
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)  # (rows, 1)
    return flat.reshape(probs.shape[:-1])


def perplexity(logits, targets) -> float:
    """``exp`` of the mean next-token cross-entropy (chapter 9's loss, in nats): logits
    ``(..., V)``, targets ``(...)`` ids. A model that spreads its probability evenly over ``k``
    tokens has perplexity ``k``: "as unsure as a fair choice among k"."""
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"targets {tuple(targets.shape)} must have the shape of logits {tuple(logits.shape)} without V")
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
    return float(torch.exp(loss))
