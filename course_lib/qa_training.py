"""Chapter 13 — data and fine-tuning for extractive question answering.

* :func:`make_qa_examples`: questions about invented people, from :data:`TRAIN_TEMPLATES` or
  :data:`HELD_OUT_TEMPLATES` (no sentence or question in common), some unanswerable;
* :func:`load_qa_model`: all-MiniLM-L6-v2 with a new span head (``AutoModelForQuestionAnswering``);
* :func:`label_windows` and :func:`train_span_head`: start/end labels from character offsets, and
  chapter 11's full fine-tuning recipe (:data:`QA_TRAINING`).

torch and transformers are imported inside the functions that need them.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .extractive_qa import _check_positive_int

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
QA_TRAINING = dict(batch_size=8, lr=1e-4, head_lr=3e-3, max_length=128, stride=32)


@contextmanager
def quiet_transformers():
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
    with quiet_transformers():
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


def train_span_head(model, tokenizer, examples, steps: int, *, batch_size: int = 8, lr: float = 1e-4,
                    head_lr: float | None = None, weight_decay: float = 0.01, warmup: float = 0.1,
                    max_length: int = 384, stride: int = 128, seed: int = 0, device=None) -> list[float]:
    """Fine-tune a question-answering model (every weight) for ``steps`` batches; the losses.

    Chapter 11's full fine-tuning recipe: AdamW with a small learning rate and a one-cycle
    schedule (``warmup`` share of the steps rising, then falling); ``head_lr`` (default ``lr``)
    for the new ``qa_outputs`` head, which starts from random weights. The loss is the model's
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
    # fused: one kernel per step for the whole update (a loop over the tensors was a third of a step on the CPU)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=weight_decay, fused=True)
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
