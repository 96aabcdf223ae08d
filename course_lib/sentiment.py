"""Chapter 11 — a small review language whose sentiment depends on word order and scope.

Short film reviews, made up here from a grammar (no download), each labelled positive or
negative by rules stated below. The rules are chosen so that *which* words a review
contains does not decide its label; *where* they stand does::

    the plot was not bad                                    positive  (negation flips a clause)
    a clever script but the acting was really dull          negative  (after "but" decides)
    the music was great although the ending was weak        positive  (before "although" decides)
    the cast was not only funny but also clever             positive  ("not only" negates nothing)

The rules, applied by :func:`label_of` to any sentence of the language:

1. A **clause** is ``the NOUN was|is [not] [very|really] ADJ`` or ``a|an [very|really] ADJ NOUN``.
   Its polarity is the adjective's (positive or negative), flipped by ``not``.
2. ``C1 but C2``: the clause after "but" decides (the two clauses disagree).
3. ``C1 although C2``: the clause before "although" decides (they disagree).
4. ``C1 and C2``: both clauses agree, and that is the label.
5. ``the NOUN was not only ADJ1 but also ADJ2``: the two adjectives agree, and that is the
   label; this "not" negates nothing.
6. Otherwise, a single clause: its polarity.

A contrast (rules 2 and 3) is generated **with its mirror image**: ``C1 but C2`` and
``C2 but C1`` hold the same words and have opposite labels. The two stay in the same
split, so every split contains pairs that no bag-of-words model can both get right
(:func:`bag_of_words_ceiling` computes the best such a model could possibly do). The test
split uses **held-out combinations**: (noun, adjective) pairs that never occur in the
training or validation sentences, and every test sentence has one.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from .translation import Vocabulary, pad_batch

POSITIVE = ("good", "great", "funny", "clever", "brilliant", "charming", "moving", "lovely")
NEGATIVE = ("bad", "dull", "boring", "awful", "weak", "silly", "slow", "messy")
NOUNS = ("plot", "story", "acting", "script", "ending", "music", "cast", "dialogue", "pacing", "film")
INTENSIFIERS = ("very", "really")
LABELS = ("negative", "positive")  # label 0 and label 1
NEGATIVE_LABEL, POSITIVE_LABEL = 0, 1

# How often each kind of review is drawn (rules 2 and 3 come in mirrored pairs). Duplicate sentences
# are redrawn, and short kinds repeat more often, so a split holds more contrasts than this says:
# 55 to 64 % "but" or "although" reviews in the chapter's splits (seed 0).
KINDS = {"single": 0.25, "and": 0.1, "but": 0.25, "although": 0.25, "not only": 0.15}
MIRRORED = ("but", "although")
P_NOT = 0.4  # a full clause is negated this often
P_INTENSIFIER = 0.3
P_NOUN_PHRASE = 0.3  # "a dull plot" instead of "the plot was dull", where the rules allow it

WORDS = sorted(set(POSITIVE + NEGATIVE + NOUNS + INTENSIFIERS + (
    "the", "a", "an", "was", "is", "not", "but", "although", "and", "only", "also")))
VOCAB = Vocabulary(WORDS)  # chapter 8's vocabulary: <pad> = 0 (<bos>, <eos> are never used here)


def adjective_polarity(adjective: str) -> int:
    """+1 for a positive adjective, -1 for a negative one."""
    if adjective in POSITIVE:
        return 1
    if adjective in NEGATIVE:
        return -1
    raise ValueError(f"{adjective!r} is not an adjective of the language")


def parse_clause(words: list[str]) -> tuple[str, str, bool]:
    """``(noun, adjective, negated)`` of one clause (rule 1); ValueError if it is not one."""
    if len(words) >= 4 and words[0] == "the" and words[2] in ("was", "is"):
        noun, rest = words[1], words[3:]
        negated = rest[0] == "not"
        rest = rest[1:] if negated else rest
        if len(rest) == 2 and rest[0] in INTENSIFIERS:
            rest = rest[1:]
        if len(rest) == 1 and noun in NOUNS:
            return noun, rest[0], negated
    if len(words) in (3, 4) and words[0] in ("a", "an"):
        middle = words[1:-1]
        if (len(middle) == 1 or middle[0] in INTENSIFIERS) and words[-1] in NOUNS:
            return words[-1], middle[-1], False
    raise ValueError(f"not a clause of the language: {' '.join(words)!r}")


def clause_polarity(words: list[str]) -> int:
    """+1 or -1: the adjective's polarity, flipped by "not"."""
    _, adjective, negated = parse_clause(words)
    return -adjective_polarity(adjective) if negated else adjective_polarity(adjective)


def _split_at(words: list[str], connective: str) -> tuple[list[str], list[str]] | None:
    return (words[: words.index(connective)], words[words.index(connective) + 1 :]) if connective in words else None


def analyse(sentence: str) -> tuple[str, int, list[tuple[str, str]]]:
    """``(kind, label, (noun, adjective) pairs)`` of a review, by the module's rules."""
    words = sentence.split()
    if "only" in words:  # rule 5: the NOUN was not only A1 but also A2
        if len(words) != 9 or words[3:5] != ["not", "only"] or words[6:8] != ["but", "also"]:
            raise ValueError(f"not a review of the language: {sentence!r}")
        noun, first, _ = parse_clause(words[:3] + words[5:6])
        polarity = adjective_polarity(first)
        if adjective_polarity(words[8]) != polarity or first == words[8]:
            raise ValueError(f"'not only ... but also' joins two different adjectives of one polarity: {sentence!r}")
        return "not only", _label(polarity), [(noun, first), (noun, words[8])]
    for connective, deciding in (("but", 1), ("although", 0), ("and", None)):
        parts = _split_at(words, connective)
        if parts:
            polarities = [clause_polarity(part) for part in parts]
            if (polarities[0] == polarities[1]) != (deciding is None):
                relation = "agree" if deciding is None else "disagree"
                raise ValueError(f"the clauses around {connective!r} must {relation}: {sentence!r}")
            polarity = polarities[0] if deciding is None else polarities[deciding]
            return connective, _label(polarity), [parse_clause(part)[:2] for part in parts]
    return "single", _label(clause_polarity(words)), [parse_clause(words)[:2]]


def _label(polarity: int) -> int:
    return POSITIVE_LABEL if polarity > 0 else NEGATIVE_LABEL


def label_of(sentence: str) -> int:
    """The label of a review: 1 = positive, 0 = negative (rules in the module's docstring)."""
    return analyse(sentence)[1]


class _Sampler:
    """Draws clauses and reviews of a given polarity from a set of allowed (noun, adjective) pairs."""

    def __init__(self, rng: np.random.Generator, pairs):
        self.rng = rng
        self.pairs = set(pairs)
        self.by_polarity = {p: [pair for pair in pairs if adjective_polarity(pair[1]) == p] for p in (1, -1)}

    def pair(self, polarity: int) -> tuple[str, str]:
        options = self.by_polarity[polarity]
        return options[self.rng.integers(len(options))]

    def clause(self, polarity: int, noun_phrase_allowed: bool) -> str:
        rng = self.rng
        intensifier = [INTENSIFIERS[rng.integers(2)]] if rng.random() < P_INTENSIFIER else []
        if noun_phrase_allowed and rng.random() < P_NOUN_PHRASE:
            noun, adjective = self.pair(polarity)
            first = (intensifier + [adjective])[0]
            return " ".join(["an" if first[0] in "aeiou" else "a"] + intensifier + [adjective, noun])
        negated = rng.random() < P_NOT
        noun, adjective = self.pair(-polarity if negated else polarity)
        verb = "was" if rng.random() < 0.7 else "is"
        return " ".join(["the", noun, verb] + (["not"] if negated else []) + intensifier + [adjective])


def _review_group(kind: str, rng: np.random.Generator, samplers: list[_Sampler]) -> list[str]:
    """One review, or a contrast and its mirror image. ``samplers``: one per clause (or adjective)."""
    polarity = 1 if rng.random() < 0.5 else -1
    if kind == "single":
        return [samplers[0].clause(polarity, True)]
    if kind == "and":
        return [f"{samplers[0].clause(polarity, True)} and {samplers[1].clause(polarity, True)}"]
    if kind == "not only":
        noun, first = samplers[0].pair(polarity)
        options = [a for a in (POSITIVE if polarity > 0 else NEGATIVE) if a != first and (noun, a) in samplers[1].pairs]
        second = options[rng.integers(len(options))]
        return [f"the {noun} {'was' if rng.random() < 0.7 else 'is'} not only {first} but also {second}"]
    allowed = kind == "but"  # "a dull plot although ..." is not English; "a dull plot but ..." is
    one, other = samplers[0].clause(polarity, allowed), samplers[1].clause(-polarity, allowed)
    return [f"{one} {kind} {other}", f"{other} {kind} {one}"]  # the same words, opposite labels


def _distinct_nouns(review: str) -> bool:
    """Two clauses speak of two different things ("the plot ... but the plot ..." is not generated)."""
    kind, _, pairs = analyse(review)
    return kind == "not only" or len({noun for noun, _ in pairs}) == len(pairs)


@dataclass
class Split:
    """Reviews, their labels (1 = positive) and kinds; ``groups`` ties a contrast to its mirror."""

    sentences: list[str]
    labels: np.ndarray
    kinds: list[str] = field(repr=False)
    groups: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.sentences)

    def encode(self, max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids ``(N, L)`` (``<pad>`` = 0) and the mask ``(N, L)``, True = a real token."""
        return encode(self.sentences, max_len)

    def subset(self, index) -> "Split":
        index = np.asarray(index)
        return Split([self.sentences[i] for i in index], self.labels[index], [self.kinds[i] for i in index],
                     self.groups[index])

    def fraction(self, share: float, seed: int = 0) -> "Split":
        """A random ``share`` of the reviews (at least 2), seeded; a mirror pair may be split up."""
        count = max(2, int(round(share * len(self))))
        return self.subset(np.sort(np.random.default_rng(seed).permutation(len(self))[:count]))


def encode(sentences, max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Word ids right-padded with 0 to the longest sentence (or ``max_len``), and the mask (True = real)."""
    rows = [VOCAB.encode(sentence.split()) for sentence in sentences]
    ids = pad_batch(rows, VOCAB.pad_id)
    if max_len is not None:
        if ids.shape[1] > max_len:
            raise ValueError(f"a sentence has {ids.shape[1]} words, more than max_len = {max_len}")
        ids = np.pad(ids, ((0, 0), (0, max_len - ids.shape[1])), constant_values=VOCAB.pad_id)
    return ids, ids != VOCAB.pad_id


def decode(ids) -> str:
    """The words of one row of ids, padding dropped."""
    return " ".join(VOCAB.decode(ids))


def held_out_pairs(seed: int = 0, fraction: float = 0.15) -> set[tuple[str, str]]:
    """(noun, adjective) pairs kept out of training: the same share of positive and negative adjectives."""
    rng = np.random.default_rng(seed)
    held = set()
    for adjectives in (POSITIVE, NEGATIVE):
        pairs = [(noun, adjective) for noun in NOUNS for adjective in adjectives]
        picked = rng.choice(len(pairs), size=round(fraction * len(pairs)), replace=False)
        held |= {pairs[i] for i in picked}
    return held


def make_splits(n_train: int = 4000, n_val: int = 500, n_test: int = 1000, seed: int = 0,
                held_out_fraction: float = 0.15) -> dict[str, Split]:
    """Train, validation and test reviews that share no sentence (seeded).

    Train and validation never use a held-out (noun, adjective) pair; each test review uses
    at least one. A contrast and its mirror image are always in the same split.
    """
    rng = np.random.default_rng(seed)
    held = held_out_pairs(seed, held_out_fraction)
    seen_pairs = [(n, a) for n in NOUNS for a in POSITIVE + NEGATIVE if (n, a) not in held]
    seen, unseen = _Sampler(rng, seen_pairs), _Sampler(rng, sorted(held))
    kinds = list(KINDS)
    weights = np.array([share / (2 if kind in MIRRORED else 1) for kind, share in KINDS.items()])  # per draw
    used: set[str] = set()
    splits = {}
    group = 0
    for name, size in (("train", n_train), ("val", n_val), ("test", n_test)):
        sentences, labels, kind_of, group_of = [], [], [], []
        while len(sentences) < size:
            kind = kinds[rng.choice(len(kinds), p=weights / weights.sum())]
            samplers = [seen, seen]
            if name == "test":  # one clause (or the adjective pair) from the held-out combinations
                samplers[rng.integers(2) if kind in ("and", "but", "although") else 0] = unseen
            reviews = _review_group(kind, rng, samplers)
            if any(r in used for r in reviews) or len(sentences) + len(reviews) > size or not all(map(_distinct_nouns, reviews)):
                continue
            for review in reviews:
                analysed_kind, label, _ = analyse(review)
                assert analysed_kind == kind
                used.add(review)
                sentences.append(review)
                labels.append(label)
                kind_of.append(kind)
                group_of.append(group)
            group += 1
        splits[name] = Split(sentences, np.array(labels), kind_of, np.array(group_of))
    return splits


def bag_of_words_ceiling(split: Split) -> float:
    """The best accuracy that *any* model seeing only the multiset of words can reach on ``split``.

    Sentences with the same words get the same prediction from such a model, so for each
    multiset at most the majority label can be right. A mean of word embeddings, followed
    by any classifier head, is such a model.
    """
    by_bag: dict[tuple, Counter] = defaultdict(Counter)
    for sentence, label in zip(split.sentences, split.labels):
        by_bag[tuple(sorted(sentence.split()))][int(label)] += 1
    return sum(max(counts.values()) for counts in by_bag.values()) / len(split)
