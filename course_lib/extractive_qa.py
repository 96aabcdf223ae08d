"""Chapter 13 — extractive question answering: the answer is a span of the context.

A span head reads the encoder's output for every token of ``[CLS] question [SEP] context [SEP]``
and gives two logits per token: how likely the answer *starts* there, and how likely it
*ends* there. Decoding a window picks the pair ``start <= end`` that maximises
``p_start[start] · p_end[end]`` among the context tokens (:func:`best_span`).

* :func:`answer_question`: what transformers 4's ``pipeline("question-answering")`` did (the
  task is gone from transformers 5): windows over a long context, the model, the best span of
  all windows mapped back to characters, optionally "no answer";
* :func:`make_qa_examples`: questions about invented people, from :data:`TRAIN_TEMPLATES` or
  :data:`HELD_OUT_TEMPLATES` (no sentence or question in common);
* :func:`load_qa_model`, :func:`label_windows`, :func:`train_span_head`: all-MiniLM-L6-v2 with a
  new span head, fine-tuned with chapter 11's recipe (:data:`QA_TRAINING`);
* :func:`exact_match` and :func:`f1`: SQuAD's two scores.

torch and transformers are imported inside the functions that need them.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from contextlib import contextmanager
from typing import NamedTuple

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


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def encode_windows(tokenizer, question: str, context: str, max_length: int = 384, stride: int = 128):
    """``[CLS] question [SEP] context-piece [SEP]`` windows over a long context (a ``BatchEncoding``).

    The question is repeated in every window; the context is cut into pieces of at most
    ``max_length - len(question tokens) - 3`` tokens, consecutive pieces sharing ``stride``
    tokens (the tokenizer's meaning of ``stride``: the overlap, so an answer cut by one
    window's edge lies whole in the next). Windows are padded to one length; besides the
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
        null_score = min(null_score, float(softmax(starts)[0] * softmax(ends)[0]))
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


# --------------------------------------------------------------------------- template data


class QAExample(NamedTuple):
    """One question: ``context[answer_start:answer_start + len(answer_text)] == answer_text``.

    An unanswerable question has ``answer_start == -1`` and ``answer_text == ""``.
    """

    question: str
    context: str
    answer_start: int
    answer_text: str


class Template(NamedTuple):
    """A fact sentence, a question about it, and which slot of the fact answers it."""

    fact: str
    question: str
    answer: str


# Train and held-out templates share the *kinds* of answer (places, years, colours, ...),
# never a sentence or a question: a held-out score measures reading, not memorised phrasing.
TRAIN_TEMPLATES = (
    Template("{name} was born in {city} in {year}.", "Where was {name} born?", "city"),
    Template("{name} was born in {city} in {year}.", "In which year was {name} born?", "year"),
    Template("{name}'s favourite colour is {colour}.", "What is {name}'s favourite colour?", "colour"),
    Template("{name} works as a {job}.", "What is {name}'s job?", "job"),
    Template("{name} owns a {animal}.", "What animal does {name} own?", "animal"),
    Template("{name} plays the {instrument}.", "Which instrument does {name} play?", "instrument"),
    Template("{name} moved to {home} in {moved}.", "Where did {name} move to?", "home"),
    Template("{name} moved to {home} in {moved}.", "When did {name} move to {home}?", "moved"),
)
HELD_OUT_TEMPLATES = (
    Template("{name} grew up in {city}.", "In which town did {name} grow up?", "city"),
    Template("{name} retired in {year}.", "When did {name} retire?", "year"),
    Template("{name} drives a {colour} car.", "What colour is {name}'s car?", "colour"),
    Template("{name} keeps a {animal} at home.", "Which pet does {name} keep?", "animal"),
    Template("{name} earns a living as a {job}.", "How does {name} earn a living?", "job"),
    Template("{name} teaches the {instrument} in {home}.", "What does {name} teach?", "instrument"),
)

_FIRST = ("Ama", "Bor", "Cel", "Dar", "Eli", "Fen", "Gor", "Hal", "Ina", "Jor", "Kel", "Lio", "Mar", "Nor", "Osk",
          "Pel", "Quin", "Ros", "Sal", "Tam", "Ulf", "Ves", "Wil", "Yan", "Zor")
_FIRST_END = ("a", "o", "in", "el", "ric", "ia", "us", "en")
_LAST = ("Ash", "Brem", "Cald", "Dorn", "Ester", "Fall", "Grim", "Hart", "Ives", "Karr", "Lock", "Moss", "Nash",
         "Orr", "Pike", "Rook", "Stave", "Thorn", "Vale", "Wren")
_LAST_END = ("ley", "wood", "ford", "son", "well", "by", "more", "ton")
_PLACE = ("Ash", "Bel", "Cor", "Dun", "Els", "Fair", "Glen", "Hol", "Ivy", "Kel", "Lan", "Mor", "Nor", "Ost", "Pen",
          "Riv", "Stan", "Tor", "Wes", "Yar")
_PLACE_END = ("ford", "mouth", "bury", "wick", "haven", "mere", "dale", "port", "ton", "stead")
_VALUES = {
    "colour": ("red", "blue", "green", "yellow", "purple", "orange", "grey", "black", "white", "pink", "brown", "teal"),
    "job": ("baker", "carpenter", "nurse", "pilot", "teacher", "plumber", "lawyer", "farmer", "chemist", "tailor",
            "painter", "librarian", "fisherman", "surgeon", "gardener"),
    "animal": ("cat", "dog", "parrot", "horse", "goat", "rabbit", "tortoise", "hamster", "donkey", "goldfish",
               "ferret", "snake"),
    "instrument": ("violin", "piano", "flute", "cello", "trumpet", "harp", "drums", "guitar", "clarinet", "oboe"),
}


def _person(rng) -> dict:
    """Invented names and places, so that no answer can come from what the model read in pretraining."""
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    place = lambda: pick(_PLACE) + pick(_PLACE_END)  # noqa: E731
    return {"name": f"{pick(_FIRST)}{pick(_FIRST_END)} {pick(_LAST)}{pick(_LAST_END)}", "city": place(),
            "home": place(), "year": str(rng.integers(1700, 2021)), "moved": str(rng.integers(1700, 2021)),
            **{slot: pick(values) for slot, values in _VALUES.items()}}


def make_qa_examples(n: int, seed: int = 0, templates=TRAIN_TEMPLATES, people: int = 2, facts_per_person: int = 2,
                     unanswerable: float = 0.0) -> list[QAExample]:
    """``n`` questions, each over a short made-up biography of ``people`` invented people.

    The context states ``facts_per_person`` facts (sentences of ``templates``) about every
    person, shuffled; the question asks about one fact of one person. Every other person
    is told the same kind of fact, so the context holds several spans of the answer's kind
    (other cities, other years): the model has to match the name, not the type. With
    probability ``unanswerable`` the question is about someone the context never mentions
    (``answer_start = -1``, ``answer_text = ""``). Seeded: the same arguments give the same list.
    """
    _check_positive_int(n, "n")
    _check_positive_int(people, "people")
    if not 1 <= facts_per_person <= len({t.fact for t in templates}):
        raise ValueError(f"facts_per_person must be between 1 and the number of distinct facts "
                         f"({len({t.fact for t in templates})}), got {facts_per_person}")
    rng = np.random.default_rng(seed)
    facts = sorted({t.fact for t in templates})
    examples = []
    while len(examples) < n:
        persons = [_person(rng) for _ in range(people + 1)]  # the last one is never mentioned
        if len({p["name"] for p in persons}) < len(persons):
            continue  # two people with one name would make the question ambiguous
        target = templates[rng.integers(len(templates))]
        sentences = []  # (person index, fact)
        for index in range(people):
            others = [f for f in facts if f != target.fact]
            chosen = [target.fact] + [others[i] for i in rng.permutation(len(others))[:facts_per_person - 1]]
            sentences += [(index, fact) for fact in chosen]
        sentences = [sentences[i] for i in rng.permutation(len(sentences))]
        texts = [fact.format(**persons[index]) for index, fact in sentences]
        context = " ".join(texts)
        asked = people if rng.random() < unanswerable else int(rng.integers(people))
        question = target.question.format(**persons[asked])
        if asked == people:
            examples.append(QAExample(question, context, -1, ""))
            continue
        position = sentences.index((asked, target.fact))
        prefix = target.fact.split("{" + target.answer + "}")[0].format(**persons[asked])
        answer_start = sum(len(t) + 1 for t in texts[:position]) + len(prefix)
        examples.append(QAExample(question, context, answer_start, persons[asked][target.answer]))
    return examples


# --------------------------------------------------------------------------- fine-tuning


# The chapter's settings (book/13 and benchmarks/extractive_qa.py): chapter 11's full fine-tuning
# learning rate for the pretrained encoder, a larger one for the new, randomly initialised head.
# Windows of 128 tokens hold a whole template context, so the stride only matters for long ones.
QA_TRAINING = dict(batch_size=16, lr=1e-4, head_lr=3e-3, max_length=128, stride=32)


@contextmanager
def _quiet_transformers():
    """transformers' warnings and progress bars off for a moment (and restored after)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_qa_model(path=None, seed: int = 0):
    """``AutoModelForQuestionAnswering`` from ``path`` (default: the shipped all-MiniLM-L6-v2).

    MiniLM was saved without a span head, so ``qa_outputs`` (a ``Linear(384, 2)``: start and
    end logit per token) starts random, from ``seed``, and its pooler (unused by the span
    head) is left out. transformers reports both in a long warning; it is silenced here and
    checked instead: any other missing weight raises.
    """
    import os

    import torch
    from transformers import AutoModelForQuestionAnswering

    from .pretrained import minilm_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(seed)  # the new head's initial weights
    with _quiet_transformers():
        model, info = AutoModelForQuestionAnswering.from_pretrained(path or minilm_path(), output_loading_info=True)
    unexpected_missing = [key for key in info["missing_keys"] if not key.startswith("qa_outputs.")]
    if unexpected_missing:
        raise ValueError(f"the checkpoint at {path} lacks encoder weights: {sorted(unexpected_missing)}")
    return model


def label_windows(tokenizer, examples, max_length: int = 384, stride: int = 128) -> dict:
    """Every example cut into windows, as training inputs with ``start_positions``/``end_positions``.

    The labels are token indices in the window: the context token whose characters hold the
    answer's first character, and the one that holds its last. A window that does not hold
    the whole answer, and an unanswerable question, are labelled ``(0, 0)``: the ``[CLS]``
    token, "no answer here".
    """
    import torch

    windows = tokenizer([e.question for e in examples], [e.context for e in examples], truncation="only_second",
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True, padding=True, return_tensors="pt")
    starts, ends = [], []
    for w, index in enumerate(windows["overflow_to_sample_mapping"].tolist()):
        example, sequence = examples[index], windows.sequence_ids(w)
        first, last = example.answer_start, example.answer_start + len(example.answer_text)  # [first, last)
        start = end = 0
        if example.answer_text:
            for t, (a, b) in enumerate(windows["offset_mapping"][w].tolist()):
                if sequence[t] == 1 and a <= first < b:
                    start = t
                if sequence[t] == 1 and a < last <= b:
                    end = t
            if start == 0 or end == 0:  # the answer is not whole in this window
                start = end = 0
        starts.append(start)
        ends.append(end)
    inputs = {key: windows[key] for key in ("input_ids", "token_type_ids", "attention_mask") if key in windows}
    return dict(inputs, start_positions=torch.tensor(starts), end_positions=torch.tensor(ends))


def train_span_head(model, tokenizer, examples, steps: int, *, batch_size: int = 16, lr: float = 1e-4,
                    head_lr: float | None = None, weight_decay: float = 0.01, warmup: float = 0.1, max_length: int = 384, stride: int = 128,
                    seed: int = 0, device=None) -> list[float]:
    """Fine-tune a question-answering model (every weight) for ``steps`` batches; the losses.

    Chapter 11's full fine-tuning recipe: AdamW with a small learning rate and a one-cycle
    schedule (``warmup`` share of the steps rising, then falling). The loss is the model's
    own: the mean of the cross-entropies of the start and end positions over each window's
    tokens (:func:`label_windows`). Batches are drawn in a seeded order, epoch after epoch.
    """
    import torch

    from .training_torch import pick_device, seed_everything

    _check_positive_int(steps, "steps")
    _check_positive_int(batch_size, "batch_size")
    seed_everything(seed)
    device = pick_device(device)
    model.to(device).train()
    data = label_windows(tokenizer, examples, max_length, stride)
    count = len(data["input_ids"])
    head = [p for name, p in model.named_parameters() if name.startswith("qa_outputs.")]
    body = [p for name, p in model.named_parameters() if not name.startswith("qa_outputs.")]
    groups = [{"params": body, "lr": lr}, {"params": head, "lr": head_lr or lr}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups if g["params"]],
                                                   total_steps=steps, pct_start=warmup)
    order, batches, losses = torch.Generator().manual_seed(seed), [], []
    while len(losses) < steps:
        if not batches:
            batches = list(torch.randperm(count, generator=order).split(batch_size))
        index = batches.pop(0)
        length = int(data["attention_mask"][index].sum(dim=1).max())  # drop columns that are padding in every row
        batch = {key: (value[index, :length] if value.dim() == 2 else value[index]).to(device)
                 for key, value in data.items()}
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses
