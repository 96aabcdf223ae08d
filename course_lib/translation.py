"""Chapter 8 — a translation task made here: numbers in digits → English words.

``"142"`` → ``"one hundred forty two"``. It needs no download, has one right answer per
input, and is not trivial: the model must learn which digit says "hundred" or "thousand",
the irregular teens and tens, and that zeros are silent. The splits never share a number.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def number_to_words(n: int) -> str:
    """English words for ``0 <= n < 1 000 000``, without "and": 142 → "one hundred forty two"."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"expected 0 <= n < 1 000 000, got {n}")
    if n == 0:
        return "zero"

    def below_thousand(k: int) -> list[str]:
        words = []
        if k >= 100:
            words += [ONES[k // 100], "hundred"]
            k %= 100
        if k >= 20:
            words.append(TENS[k // 10])
            k %= 10
        if k:
            words.append(ONES[k])
        return words

    thousands, rest = divmod(n, 1000)
    words = (below_thousand(thousands) + ["thousand"] if thousands else []) + below_thousand(rest)
    return " ".join(words)


class Vocabulary:
    """Tokens ↔ ids, with ``<pad>`` = 0, ``<bos>`` = 1 and ``<eos>`` = 2 reserved."""

    def __init__(self, tokens):
        self.id_to_token = [PAD, BOS, EOS] + sorted(set(tokens) - {PAD, BOS, EOS})
        self.token_to_id = {t: i for i, t in enumerate(self.id_to_token)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.id_to_token)

    def encode(self, tokens, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self.token_to_id[t] for t in tokens]  # a KeyError names the unknown token
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids) -> list[str]:
        """Tokens up to (not including) the first ``<eos>``, padding and ``<bos>`` dropped."""
        tokens = []
        for i in ids:
            if int(i) == self.eos_id:
                break
            if int(i) not in (self.pad_id, self.bos_id):
                tokens.append(self.id_to_token[int(i)])
        return tokens


SOURCE_VOCAB = Vocabulary("0123456789")
TARGET_VOCAB = Vocabulary(ONES + TENS[2:] + ["hundred", "thousand"])


def pad_batch(rows, pad_id: int = 0) -> np.ndarray:
    """Right-pad lists of ids to one ``(N, max_len)`` integer array."""
    batch = np.full((len(rows), max(map(len, rows))), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
    return batch


@dataclass
class Split:
    """Numbers and their encodings: ``src`` ``(N, S)`` digit ids, ``tgt`` ``(N, T)`` = <bos> words <eos>."""

    numbers: np.ndarray
    src: np.ndarray = field(repr=False)
    tgt: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, numbers) -> "Split":
        numbers = np.asarray(numbers)
        src = pad_batch([SOURCE_VOCAB.encode(str(n)) for n in numbers])
        tgt = pad_batch([TARGET_VOCAB.encode(number_to_words(int(n)).split(), add_bos=True, add_eos=True) for n in numbers])
        return cls(numbers, src, tgt)

    def references(self) -> list[str]:
        return [number_to_words(int(n)) for n in self.numbers]


def make_splits(n_train=20_000, n_val=1_000, n_test=1_000, max_number=100_000, seed=0) -> dict[str, Split]:
    """Disjoint train / validation / test sets of numbers below ``max_number`` (seeded)."""
    if n_train + n_val + n_test > max_number:
        raise ValueError("not enough distinct numbers for splits that do not overlap")
    numbers = np.random.default_rng(seed).permutation(max_number)
    cuts = np.cumsum([n_train, n_val, n_test])
    parts = np.split(numbers[: cuts[-1]], cuts[:-1])
    return {name: Split.of(part) for name, part in zip(("train", "val", "test"), parts)}


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Share of predictions identical to their reference."""
    return float(np.mean([p == r for p, r in zip(predictions, references)]))


def corpus_bleu(hypotheses: list[list[str]], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU (Papineni et al., 2002) of token lists, one reference each; a score in [0, 100].

    Counts are pooled over the whole corpus before any division. For n = 1 … ``max_n``, the
    clipped (modified) precision p_n is the number of hypothesis n-grams that also occur in the
    reference, each n-gram counted at most as often as the reference has it, divided by the
    number of hypothesis n-grams. BLEU is their geometric mean times the brevity penalty,
    exp(1 - r / c) when the hypotheses' total length c is at most the references' r (1 when
    c > r). No smoothing: if some p_n is 0 the geometric mean, and the score, is 0.
    """
    from collections import Counter

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    for hypothesis, reference in zip(hypotheses, references):
        for n in range(1, max_n + 1):
            hyp = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
            ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
            matches[n - 1] += sum(min(count, ref[gram]) for gram, count in hyp.items())  # clipped
            totals[n - 1] += sum(hyp.values())
    if min(matches) == 0:  # a zero precision (or no n-grams of some order at all)
        return 0.0
    log_mean = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    c, r = sum(map(len, hypotheses)), sum(map(len, references))
    brevity_penalty = 1.0 if c > r else math.exp(1 - r / c)
    return 100 * brevity_penalty * math.exp(log_mean)


def bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU (0–100) from sacrebleu, the maintained reference implementation."""
    import sacrebleu

    return sacrebleu.corpus_bleu(predictions, [references]).score


def translate(model, split: Split, decode=None, batch_size: int = 500, max_len: int = 12, **decode_args) -> list[str]:
    """Decode every source of ``split`` (greedy by default) and return the sentences."""
    import torch

    from .transformer_torch import greedy_decode

    decode = decode or greedy_decode
    device = next(model.parameters()).device
    sentences = []
    for start in range(0, len(split.src), batch_size):
        src = torch.from_numpy(split.src[start : start + batch_size]).to(device)
        out = decode(model, src, TARGET_VOCAB.bos_id, TARGET_VOCAB.eos_id, max_len, **decode_args)
        sentences += [" ".join(TARGET_VOCAB.decode(row.tolist())) for row in out]
    return sentences


def train(model, train_split: Split, epochs: int = 4, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
          val_split: Split | None = None, progress: bool = True) -> dict:
    """Teacher-forced training with AdamW and a one-cycle learning rate; returns the history.

    The decoder reads ``<bos> w1 … wn`` and must predict ``w1 … wn <eos>`` at the same
    positions; padding positions are left out of the loss.
    """
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    device = next(model.parameters()).device
    src_all, tgt_all = torch.from_numpy(train_split.src), torch.from_numpy(train_split.tgt)
    steps_per_epoch = -(-len(src_all) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=TARGET_VOCAB.pad_id)
    history = {"loss": [], "val_exact_match": [], "seconds": 0.0, "target_tokens": 0}
    start, validation_seconds = time.perf_counter(), 0.0
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, desc="training", leave=False)
    for _ in range(epochs):
        model.train()
        for index in np.array_split(generator.permutation(len(src_all)), steps_per_epoch):
            src, tgt = src_all[index].to(device), tgt_all[index].to(device)
            src, tgt = src[:, : int((src != 0).sum(1).max())], tgt[:, : int((tgt != 0).sum(1).max())]  # trim padding
            logits = model(src, tgt[:, :-1])  # (B, T-1, V): teacher forcing
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            history["loss"].append(loss.item())
            history["target_tokens"] += int((tgt[:, 1:] != 0).sum())
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if val_split is not None:
            val_start = time.perf_counter()
            history["val_exact_match"].append(exact_match(translate(model, val_split), val_split.references()))
            validation_seconds += time.perf_counter() - val_start
    bar.close()
    history["seconds"] = time.perf_counter() - start - validation_seconds  # training only
    history["val_seconds"] = validation_seconds
    return history


SMALL_TRANSLATOR = dict(d_model=32, num_heads=2, num_layers=2, d_ff=64, dropout=0.0, max_len=16)


def train_small_translator(seed: int = 0):
    """The small, deliberately under-trained model that exercise 8 grades decoding on.

    Numbers below 1 000, 57 training steps. It has learned the shape of the answers
    ("X hundred Y Z", when to stop) but few of the digits, so its outputs vary and depend
    on every detail of the decoding loop. ``course_lib/data/small_translator.pt`` holds the
    weights this function produced (tests/test_translation.py checks they load and decode).
    """
    import torch

    from .transformer_torch import Transformer

    torch.manual_seed(seed)
    model = Transformer(len(SOURCE_VOCAB), len(TARGET_VOCAB), **SMALL_TRANSLATOR)
    splits = make_splits(n_train=600, n_val=100, n_test=100, max_number=1000, seed=seed)
    train(model, splits["train"], epochs=3, batch_size=32, lr=3e-3, seed=seed, progress=False)
    return model.eval()


def small_translator():
    """Load the fixed small model of exercise 8 (see :func:`train_small_translator`)."""
    import torch
    from importlib.resources import files

    from .transformer_torch import Transformer

    model = Transformer(len(SOURCE_VOCAB), len(TARGET_VOCAB), **SMALL_TRANSLATOR)
    with files("course_lib").joinpath("data", "small_translator.pt").open("rb") as weights:
        model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()
