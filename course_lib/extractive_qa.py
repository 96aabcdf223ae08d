"""Chapter 13 — extractive question answering: the answer is a span of the context.

A span head reads the encoder's output for every token of ``[CLS] question [SEP] context [SEP]``
and gives two logits per token: how likely the answer *starts* there, and how likely it
*ends* there. Decoding a window picks the pair ``start <= end`` that maximises
``p_start[start] · p_end[end]`` among the context tokens (:func:`best_span`).

* :func:`answer_question`: what transformers 4's ``pipeline("question-answering")`` did (the
  task is gone from transformers 5): windows over a long context, the model, the best span of
  all windows mapped back to characters, optionally "no answer";
* :func:`exact_match` and :func:`f1`: SQuAD's two scores (:func:`evaluate_answers` applies them).

The data and the fine-tuning are in :mod:`course_lib.qa_training`. torch is imported inside the
functions that need it, so ``best_span`` and the metrics load with numpy alone.
"""
from __future__ import annotations

import re
import string
from collections import Counter

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


# --------------------------------------------------------------------------- answering


def no_answer_score(start_logits, end_logits, context_mask) -> float:
    """A window's score for "no answer here": ``p_start[0] · p_end[0]``, the first token's (``[CLS]``).

    start_logits, end_logits: ``(n,)``; context_mask: ``(n,)`` booleans, True on the context's
    tokens. The softmax runs over the context tokens and the first token only (question,
    ``[SEP]`` and padding are left out), as when the window's spans are scored.
    """
    start_logits, end_logits = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)
    softmax_over = np.asarray(context_mask, dtype=bool).copy()
    if start_logits.ndim != 1 or start_logits.shape != end_logits.shape or softmax_over.shape != start_logits.shape:
        raise ValueError(f"start_logits, end_logits and context_mask must be 1-D and of one length, got shapes "
                         f"{start_logits.shape}, {end_logits.shape} and {softmax_over.shape}")
    softmax_over[0] = True  # [CLS] is the "no answer" token
    p_start = softmax(np.where(softmax_over, start_logits, -np.inf))
    p_end = softmax(np.where(softmax_over, end_logits, -np.inf))
    return float(p_start[0] * p_end[0])


def context_windows(num_tokens: int, room: int, stride: int) -> list[tuple[int, int]]:
    """Which of a context's ``num_tokens`` tokens each window holds: ``[(first, stop), ...]``.

    A window holds at most ``room`` context tokens (``max_length`` minus the question and the
    special tokens); each next window starts ``stride`` tokens before the previous one stopped
    (``stride`` is the *overlap*, as in the tokenizer's ``stride`` with
    ``return_overflowing_tokens=True``), and the last one stops at ``num_tokens``. An answer
    of at most ``stride + 1`` tokens cut by one window's edge lies whole in the next window.
    """
    _check_positive_int(num_tokens, "num_tokens")
    _check_positive_int(room, "room")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 0 <= stride < room:
        raise ValueError(f"stride must be an integer with 0 <= stride < room = {room}, got {stride!r}")
    windows, first = [], 0
    while True:
        stop = min(first + room, num_tokens)
        windows.append((first, stop))
        if stop == num_tokens:
            return windows
        first = stop - stride


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def encode_windows(tokenizer, question: str, context: str, max_length: int = 384, stride: int = 128):
    """``[CLS] question [SEP] context-piece [SEP]`` windows over a long context (a ``BatchEncoding``).

    The question is repeated in every window; the context is cut into pieces of at most
    ``max_length`` minus the question's and the special tokens (3 for BERT), consecutive
    pieces sharing ``stride`` tokens (the tokenizer's meaning of ``stride``: the overlap, so
    an answer cut by one window's edge lies whole in the next; :func:`context_windows`). Windows are padded to one length; besides the
    model's inputs the encoding holds ``offset_mapping`` (each token's characters in its
    text) and ``sequence_ids(w)`` (0 for question tokens, 1 for context tokens, None for
    special and padding tokens).
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    if not isinstance(context, str):
        raise ValueError(f"context must be a string, got {type(context).__name__}")
    _check_positive_int(max_length, "max_length")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
        raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
    if stride >= max_length:
        raise ValueError(f"stride ({stride}) must be smaller than max_length ({max_length})")
    question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    room = max_length - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)  # context tokens per window
    if room <= 0:
        raise ValueError(f"question is {question_tokens} tokens long: with max_length={max_length} no context fits")
    if stride >= room:  # checked here: the tokenizer would panic (an error that is not an Exception)
        raise ValueError(f"stride ({stride}) must be smaller than the {room} context tokens a window holds "
                         f"(max_length={max_length} minus the question and special tokens)")
    windows = tokenizer(question, context, truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True, padding=True,
                        return_tensors="pt")
    if 1 not in windows.sequence_ids(0):  # e.g. "" or only spaces
        raise ValueError(f"context has no tokens, got {context!r}")
    return windows


def window_logits(model, windows) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` on every window at once: ``(start_logits, end_logits)``, each ``(W, L)`` floats.

    Dropout is switched off for the call (``model.eval()``) and the model's mode restored after.
    """
    import torch

    inputs = {key: windows[key] for key in ("input_ids", "token_type_ids", "attention_mask") if key in windows}
    parameter = next(model.parameters(), None) if hasattr(model, "parameters") else None
    if parameter is not None:
        inputs = {key: value.to(parameter.device) for key, value in inputs.items()}
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            output = model(**inputs)
    finally:
        if was_training:
            model.train()
    return (output.start_logits.detach().float().cpu().numpy(), output.end_logits.detach().float().cpu().numpy())


def decode_windows(start_logits, end_logits, context_masks, offsets, context: str, max_answer_len: int = 30,
                   handle_impossible_answer: bool = False) -> dict:
    """The answer from the logits of every window (no model, no tokenizer: plain arrays).

    start_logits, end_logits: ``(W, L)``; context_masks: ``(W, L)`` booleans, True on the
    context's tokens; offsets: ``(W, L, 2)``, each token's ``[first, last + 1)`` characters in
    ``context``. In each window the softmax runs over the context tokens and the first token
    (``[CLS]``); every other logit (question, ``[SEP]``, padding) is set to ``-inf`` first.
    Only context tokens may start or end a span (:func:`best_span`), so a span's score is
    ``p_start · p_end`` in its own window. The answer is the best span over all windows (ties:
    the earliest window); its characters are ``context[start:end]``.

    ``handle_impossible_answer``: a window's "no answer" score is ``p_start[CLS] · p_end[CLS]``.
    As in transformers 4's question-answering pipeline, the *smallest* over the windows is
    compared with the best span: a window that does not hold the answer is trained to point
    at ``[CLS]``, so in a long context most windows say "no answer" whatever the question, and
    the largest would call nearly every question unanswerable. The minimum listens to the
    window most convinced that it holds an answer. If that null score beats every span
    (strictly), the result is ``{"answer": "", "start": 0, "end": 0, "score": null score}``.
    """
    start_logits, end_logits = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)
    context_masks, offsets = np.asarray(context_masks, dtype=bool), np.asarray(offsets)
    _check_positive_int(max_answer_len, "max_answer_len")
    best, null_score = None, np.inf
    for w in range(len(start_logits)):
        allowed = context_masks[w]
        if not allowed.any():
            continue
        softmax_over = allowed.copy()
        softmax_over[0] = True  # [CLS] stays in the softmax: it is the "no answer" token
        starts = np.where(softmax_over, start_logits[w], -np.inf)  # (L,)
        ends = np.where(softmax_over, end_logits[w], -np.inf)  # (L,)
        start, end, score = best_span(starts, ends, allowed, max_answer_len)
        if best is None or score > best[2]:  # strictly greater: ties keep the earliest window
            best = (int(offsets[w, start, 0]), int(offsets[w, end, 1]), score)
        null_score = min(null_score, no_answer_score(start_logits[w], end_logits[w], allowed))
    if best is None:
        raise ValueError("context_masks has no True entry: the context has no tokens")
    if handle_impossible_answer and null_score > best[2]:
        return {"answer": "", "start": 0, "end": 0, "score": null_score}
    start, end, score = best
    return {"answer": context[start:end], "start": start, "end": end, "score": score}


def answer_question(model, tokenizer, question: str, context: str, *, max_answer_len: int = 30,
                    max_length: int = 384, stride: int = 128, handle_impossible_answer: bool = False) -> dict:
    """What ``pipeline("question-answering")`` did in transformers 4 (removed in 5), in three steps.

    1. :func:`encode_windows`: question + context, cut into windows of ``max_length`` tokens
       that overlap by ``stride`` tokens;
    2. :func:`window_logits`: ``model(**inputs)`` gives a start and an end logit per token
       (``model``: a transformers question-answering model, or anything returning an object
       with ``start_logits`` and ``end_logits``; ``tokenizer``: a fast tokenizer);
    3. :func:`decode_windows`: the best span of context tokens over all windows, mapped back to
       characters, so ``context[result["start"]:result["end"]] == result["answer"]``.

    Returns ``{"answer": str, "start": int, "end": int, "score": float}``.
    """
    _check_positive_int(max_answer_len, "max_answer_len")
    windows = encode_windows(tokenizer, question, context, max_length, stride)
    start_logits, end_logits = window_logits(model, windows)  # (W, L) each
    context_masks = np.array([[s == 1 for s in windows.sequence_ids(w)] for w in range(len(start_logits))])
    return decode_windows(start_logits, end_logits, context_masks, windows["offset_mapping"].numpy(), context,
                          max_answer_len, handle_impossible_answer)


# --------------------------------------------------------------------------- metrics


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1_one(prediction: str, reference: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not expected:  # "no answer" on either side: right only if both are empty
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())  # words in both, with multiplicity
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _pairs(predictions, references):
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"predictions and references must be non-empty and of one length, got "
                         f"{len(predictions)} and {len(references)}")
    return zip(predictions, references)


def exact_match(predictions, references) -> float:
    """The share of predictions equal to their reference answer after :func:`normalize_answer`."""
    return float(np.mean([normalize_answer(p) == normalize_answer(r) for p, r in _pairs(predictions, references)]))


def f1(predictions, references) -> float:
    """The mean word-overlap F1 of each prediction with its reference (SQuAD's partial credit).

    Both texts are normalised (:func:`normalize_answer`) and split into words; F1 is the
    harmonic mean of precision (shared words / predicted words) and recall (shared words /
    reference words). An empty answer scores 1 against an empty reference, else 0.
    """
    return float(np.mean([_f1_one(p, r) for p, r in _pairs(predictions, references)]))


def evaluate_answers(model, tokenizer, examples, **settings) -> dict:
    """``{"exact_match", "f1", "predictions"}`` of :func:`answer_question` on ``examples``.

    ``settings`` go to :func:`answer_question` (``max_length``, ``stride``,
    ``handle_impossible_answer``, ...).
    """
    predictions = [answer_question(model, tokenizer, e.question, e.context, **settings)["answer"] for e in examples]
    references = [e.answer_text for e in examples]
    return {"exact_match": exact_match(predictions, references), "f1": f1(predictions, references),
            "predictions": predictions}
