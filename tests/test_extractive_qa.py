"""Chapter 13's extractive question answering: best_span and answer_question against brute
force, long contexts cut into windows, "no answer", the argument checks, the template data,
the labels of training, saving and loading a question-answering model, and the SQuAD metrics.

Models here are tiny and random (a 2-layer BERT of width 32 with MiniLM's tokenizer) or fakes
that return chosen logits: the decoding is what is tested, not what a trained model knows."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers import (  # noqa: E402
    AutoModelForQuestionAnswering, AutoTokenizer, BertConfig, BertForQuestionAnswering,
)

from course_lib.extractive_qa import (  # noqa: E402
    context_windows, no_answer_score,
    answer_question, best_span, decode_windows, encode_windows, exact_match, f1, normalize_answer, window_logits,
)
from course_lib.qa_training import (  # noqa: E402
    HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, label_windows, make_qa_examples, train_span_head,
)
from course_lib.pretrained import minilm_path  # noqa: E402
from conftest import ROOT  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_path())


def tiny_qa_model(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return BertForQuestionAnswering(config).eval()


class FakeModel:
    """Called like a transformers QA model; start and end logits are ``high`` wherever the
    input holds one of ``start_ids`` / ``end_ids``, ``cls`` on the first token, 0 elsewhere."""

    def __init__(self, start_ids=(), end_ids=(), high=10.0, cls=0.0):
        self.start_ids, self.end_ids, self.high, self.cls = list(start_ids), list(end_ids), high, cls

    def __call__(self, input_ids, **_):
        def logits(ids):
            out = torch.where(torch.isin(input_ids, torch.tensor(ids or [-1])), self.high, 0.0)
            out[:, 0] = self.cls
            return out
        return SimpleNamespace(start_logits=logits(self.start_ids), end_logits=logits(self.end_ids))


# --- best_span -------------------------------------------------------------------------------

def brute_best_span(start_logits, end_logits, allowed, max_answer_len):
    p_start = np.exp(start_logits - start_logits.max()) / np.exp(start_logits - start_logits.max()).sum()
    p_end = np.exp(end_logits - end_logits.max()) / np.exp(end_logits - end_logits.max()).sum()
    best = None
    for s in range(len(allowed)):
        for e in range(s, min(len(allowed), s + max_answer_len)):
            if allowed[s] and allowed[e] and (best is None or p_start[s] * p_end[e] > best[2]):
                best = (s, e, p_start[s] * p_end[e])  # strictly greater: the first pair in (start, end) order wins
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_span_equals_brute_force_over_all_pairs(seed):
    rng = np.random.default_rng(seed)
    n = 12
    start, end, allowed = rng.normal(size=n) * 3, rng.normal(size=n) * 3, rng.random(n) < 0.6
    allowed[rng.integers(n)] = True
    for max_answer_len in (1, 3, n):
        s, e, score = best_span(start, end, allowed, max_answer_len)
        bs, be, bscore = brute_best_span(start, end, allowed, max_answer_len)
        assert (s, e) == (bs, be) and score == pytest.approx(bscore)


def test_best_span_ties_go_to_the_earliest_start_then_end():
    assert best_span(np.zeros(5), np.zeros(5), np.ones(5, bool))[:2] == (0, 0)
    start = np.array([0.0, 5.0, 5.0, 0.0])
    end = np.array([0.0, 0.0, 5.0, 5.0])
    assert best_span(start, end, np.ones(4, bool))[:2] == (1, 2)  # (1, 2), (1, 3), (2, 2), (2, 3) tie


def test_best_span_respects_max_answer_len_and_allowed():
    start, end = np.array([9.0, 0, 0, 0, 0]), np.array([0, 0, 0, 0, 9.0])
    assert best_span(start, end, np.ones(5, bool), max_answer_len=5)[:2] == (0, 4)  # exactly 5 tokens: allowed
    assert best_span(start, end, np.ones(5, bool), max_answer_len=4)[:2] != (0, 4)  # 5 tokens > 4
    allowed = np.array([False, True, True, True, True])
    s, e, _ = best_span(start, end, allowed)
    assert allowed[s] and allowed[e] and s >= 1


def test_best_span_rejects_bad_arguments():
    with pytest.raises(ValueError, match="start_logits"):
        best_span(np.zeros(3), np.zeros(4), np.ones(3, bool))
    with pytest.raises(ValueError, match="start_logits"):
        best_span(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="max_answer_len"):
        best_span(np.zeros(3), np.zeros(3), np.ones(3, bool), max_answer_len=0)
    with pytest.raises(ValueError, match="allowed"):
        best_span(np.zeros(3), np.zeros(3), np.zeros(3, bool))


# --- answer_question against brute force ---------------------------------------------------------

def brute_force_answer(start_logits, end_logits, context_masks, offsets, context, max_answer_len, impossible=False):
    """Every (window, start, end) scored on its own; the softmax over context tokens and [CLS]."""
    best, null = None, np.inf
    for w in range(len(start_logits)):
        keep = context_masks[w].copy()
        keep[0] = True
        p_start = np.where(keep, np.exp(start_logits[w] - start_logits[w][keep].max()), 0.0)
        p_end = np.where(keep, np.exp(end_logits[w] - end_logits[w][keep].max()), 0.0)
        p_start, p_end = p_start / p_start.sum(), p_end / p_end.sum()
        null = min(null, p_start[0] * p_end[0])
        for s in np.flatnonzero(context_masks[w]):
            for e in np.flatnonzero(context_masks[w]):
                if s <= e < s + max_answer_len and (best is None or p_start[s] * p_end[e] > best[2]):
                    best = (offsets[w][s][0], offsets[w][e][1], p_start[s] * p_end[e])
    if impossible and null > best[2]:
        return {"answer": "", "start": 0, "end": 0, "score": null}
    return {"answer": context[best[0]:best[1]], "start": int(best[0]), "end": int(best[1]), "score": best[2]}


@pytest.mark.parametrize("seed", range(3))
def test_answer_question_equals_brute_force_on_the_same_logits(tokenizer, seed):
    model = tiny_qa_model(seed)
    example = make_qa_examples(1, seed=seed, people=4)[0]
    for max_answer_len, impossible in ((30, False), (3, True)):
        windows = encode_windows(tokenizer, example.question, example.context, max_length=40, stride=10)
        assert len(windows["input_ids"]) >= 3  # a context several windows long
        start_logits, end_logits = window_logits(model, windows)
        masks = np.array([[s == 1 for s in windows.sequence_ids(w)] for w in range(len(start_logits))])
        expected = brute_force_answer(start_logits, end_logits, masks, windows["offset_mapping"].tolist(),
                                      example.context, max_answer_len, impossible)
        result = answer_question(model, tokenizer, example.question, example.context, max_answer_len=max_answer_len,
                                 max_length=40, stride=10, handle_impossible_answer=impossible)
        assert result["answer"] == expected["answer"] and result["start"] == expected["start"]
        assert result["score"] == pytest.approx(expected["score"], rel=1e-6)
        assert example.context[result["start"]:result["end"]] == result["answer"]


def test_an_answer_only_in_the_last_window_is_found(tokenizer):
    filler = " ".join(["the river ran past the old mill and the fields."] * 12)
    context = filler + " The treasure lies under the zebra statue."
    zebra = tokenizer.convert_tokens_to_ids("zebra")
    model = FakeModel(start_ids=[zebra], end_ids=[zebra])
    windows = encode_windows(tokenizer, "Where is the treasure?", context, max_length=48, stride=8)
    assert len(windows["input_ids"]) >= 4 and zebra not in windows["input_ids"][:-1]
    result = answer_question(model, tokenizer, "Where is the treasure?", context, max_length=48, stride=8)
    assert result["answer"] == "zebra" and context[result["start"]:result["end"]] == "zebra"
    assert result["start"] == context.index("zebra")


def test_no_answer_only_when_every_window_prefers_cls(tokenizer):
    context = "Ann was born in Paris. " * 8 + "Bob owns a zebra."
    zebra = tokenizer.convert_tokens_to_ids("zebra")
    question = "Who is Carl?"
    unsure = FakeModel(cls=10.0)  # every window: "no answer"
    result = answer_question(unsure, tokenizer, question, context, max_length=32, stride=4,
                             handle_impossible_answer=True)
    assert result["answer"] == "" and result["start"] == result["end"] == 0 and result["score"] > 0.9
    assert answer_question(unsure, tokenizer, question, context, max_length=32, stride=4)["answer"] != ""
    # one window sure of a span outweighs all the others saying "no answer": the null score is the minimum
    sure = FakeModel(start_ids=[zebra], end_ids=[zebra], high=20.0, cls=10.0)
    result = answer_question(sure, tokenizer, question, context, max_length=32, stride=4, handle_impossible_answer=True)
    assert result["answer"] == "zebra"


@pytest.mark.parametrize("kwargs, name", [
    (dict(stride=32, max_length=32), "stride"), (dict(max_length=0), "max_length"),
    (dict(max_answer_len=0), "max_answer_len"), (dict(stride=-1), "stride"),
    (dict(question="  "), "question"), (dict(question=""), "question"), (dict(context=None), "context"),
    (dict(context=["a list"]), "context"), (dict(question="why " * 40, max_length=32, stride=4), "question"),
    (dict(max_length=16, stride=10), "stride"), (dict(context="   "), "context"),
])
def test_answer_question_names_the_bad_argument(tokenizer, kwargs, name):
    arguments = dict(question="Where was Ann born?", context="Ann was born in Paris.") | kwargs
    question, context = arguments.pop("question"), arguments.pop("context")
    with pytest.raises(ValueError, match=name):
        answer_question(FakeModel(), tokenizer, question, context, **arguments)


def test_decode_windows_keeps_the_earliest_window_on_a_tie():
    logits = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    masks = np.array([[False, True, True]] * 2)
    offsets = np.array([[[0, 0], [0, 3], [4, 7]], [[0, 0], [4, 7], [8, 11]]])
    assert decode_windows(logits, logits, masks, offsets, "Ann was born")["answer"] == "Ann"


# --- data, labels, training, saving ---------------------------------------------------------------

def test_template_examples_locate_their_answers_and_split_by_template():
    examples = make_qa_examples(40, seed=3, unanswerable=0.25)
    assert examples == make_qa_examples(40, seed=3, unanswerable=0.25)
    assert any(e.answer_text == "" for e in examples) and any(e.answer_text for e in examples)
    for e in examples:
        if e.answer_text:
            assert e.context[e.answer_start:e.answer_start + len(e.answer_text)] == e.answer_text
            assert e.context.count(e.answer_text) >= 1 and len(e.context.split(". ")) >= 4
        else:
            assert e.answer_start == -1
    train_phrases = {t.fact for t in TRAIN_TEMPLATES} | {t.question for t in TRAIN_TEMPLATES}
    assert not train_phrases & ({t.fact for t in HELD_OUT_TEMPLATES} | {t.question for t in HELD_OUT_TEMPLATES})


def test_labels_point_at_the_answer_tokens_or_at_cls(tokenizer):
    examples = make_qa_examples(6, seed=0, people=4, unanswerable=0.3)
    data = label_windows(tokenizer, examples, max_length=40, stride=10)
    windows = tokenizer([e.question for e in examples], [e.context for e in examples], truncation="only_second",
                        max_length=40, stride=10, return_overflowing_tokens=True, padding=True)
    seen = set()
    for w, index in enumerate(windows["overflow_to_sample_mapping"]):
        start, end = int(data["start_positions"][w]), int(data["end_positions"][w])
        answer = examples[index].answer_text.lower()
        if start:
            assert tokenizer.decode(data["input_ids"][w][start:end + 1]).replace(" ", "") == answer.replace(" ", "")
            seen.add(index)
        else:
            assert end == 0
    assert seen == {i for i, e in enumerate(examples) if e.answer_text}  # every answer is labelled somewhere
    assert len(windows["input_ids"]) > len(examples)  # and some windows hold no answer


def test_training_is_seeded_and_saved_models_reload_with_the_same_logits(tokenizer, tmp_path):
    examples = make_qa_examples(8, seed=1)
    losses = [train_span_head(tiny_qa_model(), tokenizer, examples, steps=2, batch_size=4, max_length=64, stride=16,
                                     seed=5)
              for _ in range(2)]
    assert losses[0] == losses[1] and len(losses[0]) == 2
    model = tiny_qa_model()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    inputs = tokenizer(examples[0].question, examples[0].context, return_tensors="pt")
    with torch.no_grad():
        before, after = model(**inputs), reloaded(**inputs)
    torch.testing.assert_close(before.start_logits, after.start_logits, rtol=0, atol=0)
    torch.testing.assert_close(before.end_logits, after.end_logits, rtol=0, atol=0)


# --- metrics ---------------------------------------------------------------------------------------

def test_exact_match_and_f1_known_cases():
    assert normalize_answer("  The Red,  CAR! ") == "red car"
    assert exact_match(["The cat.", "dog"], ["cat", "a cat"]) == 0.5
    assert f1(["a red car"], ["red"]) == pytest.approx(2 / 3)  # precision 1/2, recall 1
    assert f1(["red red car"], ["red car"]) == pytest.approx(0.8)  # shared words counted with multiplicity
    assert f1(["", "x"], ["", ""]) == 0.5 and exact_match([""], [""]) == 1.0
    assert f1(["blue"], ["red"]) == 0.0
    with pytest.raises(ValueError, match="predictions"):
        f1(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="predictions"):
        exact_match([], [])


# -- context_windows and no_answer_score (graded in exercise 13) -------------------------------


def test_context_windows_are_the_tokenizers_windows(tokenizer):
    """The (first, stop) ranges of context tokens are exactly what the tokenizer's overflowing windows hold."""
    question = "Where was Ada born?"
    context = " ".join(f"Person{i} was born in Town{i} in {1800 + i}." for i in range(12))
    all_tokens = tokenizer(context, add_special_tokens=False)["input_ids"]
    for max_length, stride in [(32, 8), (40, 0), (48, 20), (512, 16)]:
        windows = encode_windows(tokenizer, question, context, max_length=max_length, stride=stride)
        room = max_length - len(tokenizer(question, add_special_tokens=False)["input_ids"]) - 3
        expected = context_windows(len(all_tokens), room, stride)
        assert len(expected) == len(windows["input_ids"])
        for w, (first, stop) in enumerate(expected):
            ids = [t for t, s in zip(windows["input_ids"][w].tolist(), windows.sequence_ids(w)) if s == 1]
            assert ids == all_tokens[first:stop], (max_length, stride, w)


def test_context_windows_by_hand_and_its_errors():
    assert context_windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert context_windows(3, 4, 2) == [(0, 3)]
    assert context_windows(9, 4, 0) == [(0, 4), (4, 8), (8, 9)]
    assert context_windows(5, 4, 3) == [(0, 4), (1, 5)]
    for args, name in [((0, 4, 1), "num_tokens"), ((5, 0, 0), "room"), ((5, 4, 4), "stride"), ((5, 4, -1), "stride")]:
        with pytest.raises(ValueError, match=name):
            context_windows(*args)


def test_no_answer_score_uses_the_context_and_cls_only():
    start, end = np.array([1.0, 9.0, 0.5, 2.0]), np.array([0.0, 9.0, 1.0, 0.5])
    mask = np.array([False, False, True, True])  # token 1 is the question: out of the softmax
    p = np.exp([1.0, 0.5, 2.0]) / np.exp([1.0, 0.5, 2.0]).sum()
    q = np.exp([0.0, 1.0, 0.5]) / np.exp([0.0, 1.0, 0.5]).sum()
    assert no_answer_score(start, end, mask) == pytest.approx(p[0] * q[0])
    with pytest.raises(ValueError, match="one length"):
        no_answer_score(start, end[:3], mask)


def test_the_span_search_diagram_shows_minilms_own_tokens(tokenizer):
    """book/figures/span_search.svg draws one window token by token: the tokens, which of them are
    context, and the two spans it marks are what MiniLM's tokenizer and the offsets give."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("span_search", ROOT / "book" / "figures" / "span_search.py")
    diagram = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagram)
    encoded = tokenizer(diagram.QUESTION, diagram.CONTEXT, return_offsets_mapping=True)
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"]) == diagram.TOKENS
    assert [t for t, s in enumerate(encoded.sequence_ids()) if s == 1] == list(diagram.CONTEXT_TOKENS)
    offsets = encoded["offset_mapping"]
    spans = {diagram.CONTEXT[offsets[i][0]:offsets[j][1]] for i, j in (diagram.BEST, diagram.DISTRACTOR)}
    assert spans == {"Belford", "Tordale"}
    assert all(diagram.allowed(*pair) for pair in (diagram.BEST, diagram.DISTRACTOR))
