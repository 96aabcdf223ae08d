"""Chapter 11: attention pooling and accuracy (numpy), the torch classifiers, the training step,
and MiniLM with a classification head."""
import contextlib
import copy
import json
import os
import re

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib.classification import accuracy, attention_pool
from course_lib.classifier_torch import (POOLINGS, AttentionClassifier, AttentionPooling, BagOfEmbeddings,
                                         MiniLMClassifier, as_tensors, classify, evaluate, fine_tune, fit,
                                         minilm_inputs, train_step)
from course_lib.sentiment import VOCAB, bag_of_words_ceiling, make_splits
from conftest import ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def direct_pool(h, query, mask):
    # One sentence at a time, the formula as written: softmax over its real tokens only.
    pooled, weights = np.zeros(h.shape[::2]), np.zeros(h.shape[:2])
    for b in range(len(h)):
        real = np.flatnonzero(mask[b])
        if len(real):
            scores = h[b, real] @ query / np.sqrt(h.shape[-1])
            w = np.exp(scores - scores.max())
            weights[b, real] = w / w.sum()
            pooled[b] = weights[b] @ h[b]
    return pooled, weights


def test_attention_pool_against_a_direct_computation():
    rng = np.random.default_rng(0)
    h, query = rng.normal(size=(4, 6, 8)), rng.normal(size=8)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 0]], dtype=bool)
    pooled, weights = attention_pool(h, query, mask)
    assert pooled.shape == (4, 8) and weights.shape == (4, 6)
    expected_pooled, expected_weights = direct_pool(h, query, mask)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-12)
    np.testing.assert_allclose(pooled, expected_pooled, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights[~mask] == 0).all()
    np.testing.assert_allclose(attention_pool(h, query)[1], direct_pool(h, query, np.ones((4, 6), bool))[1], atol=1e-12)


def test_attention_pool_ignores_what_padding_holds():
    rng = np.random.default_rng(1)
    h, query = rng.normal(size=(2, 5, 4)), rng.normal(size=4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    changed = h.copy()
    changed[~mask] = 1e6
    np.testing.assert_allclose(attention_pool(changed, query, mask)[0], attention_pool(h, query, mask)[0], atol=1e-12)
    # a sentence pooled alone or padded in a batch: the same vector
    np.testing.assert_allclose(attention_pool(h[:1, :3], query)[0][0], attention_pool(h, query, mask)[0][0], atol=1e-12)


def test_attention_pool_is_stable_with_large_scores():
    h = np.array([[[1000.0, 0.0], [999.0, 0.0], [0.0, 0.0]]])  # scores of about 1000 / sqrt(2): exp overflows
    with np.errstate(all="raise"):
        pooled, weights = attention_pool(h, np.array([1.0, 0.0]), np.array([[True, True, True]]))
    expected = np.exp([0.0, -1 / np.sqrt(2), -1000 / np.sqrt(2)])
    np.testing.assert_allclose(weights[0], expected / expected.sum())
    assert np.isfinite(pooled).all()


def test_a_row_without_real_tokens_pools_to_zero():
    h = np.ones((2, 3, 4))
    with np.errstate(all="raise"):
        pooled, weights = attention_pool(h, np.ones(4), np.array([[True, False, False], [False, False, False]]))
    np.testing.assert_array_equal(weights[1], 0.0)
    np.testing.assert_array_equal(pooled[1], 0.0)
    np.testing.assert_array_equal(weights[0], [1.0, 0.0, 0.0])


def test_torch_attention_pooling_agrees_with_numpy():
    torch.manual_seed(0)
    pooling = AttentionPooling(16)
    h = torch.randn(3, 7, 16)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [0] * 7], dtype=torch.bool)
    pooled, weights = pooling(h, mask)
    expected_pooled, expected_weights = attention_pool(h.numpy(), pooling.query.detach().numpy(), mask.numpy())
    np.testing.assert_allclose(weights.detach().numpy(), expected_weights, atol=1e-6)
    np.testing.assert_allclose(pooled.detach().numpy(), expected_pooled, atol=1e-6)


def test_accuracy():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 2.0, 0.0]])
    assert accuracy(logits, [0, 1, 2, 0]) == 0.75
    assert isinstance(accuracy(logits, np.array([0, 1, 2, 1])), float)
    assert accuracy(logits[None].repeat(2, axis=0), np.array([[0, 1, 2, 0], [0, 0, 0, 0]])) == 0.5  # (..., C)
    assert accuracy(torch.softmax(torch.tensor(logits), -1).numpy(), [0, 1, 2, 1]) == 1.0


def test_graded_functions_are_exported():
    assert course_lib.attention_pool is attention_pool and course_lib.accuracy is accuracy
    assert course_lib.train_step is train_step and course_lib.AttentionClassifier is AttentionClassifier


def tiny_model(pooling="attention", dropout=0.3):
    torch.manual_seed(0)
    return AttentionClassifier(len(VOCAB), d_model=8, num_heads=2, num_layers=1, d_ff=16, dropout=dropout,
                               pooling=pooling)


def tiny_batch():
    split = make_splits(n_train=8, n_val=2, n_test=2, seed=0)["train"]
    return as_tensors(*split.encode(), split.labels)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_shapes_and_padding_invariance(pooling):
    model = tiny_model(pooling).eval()
    tokens, mask, _ = tiny_batch()
    logits, weights = model(tokens, mask, return_weights=True)
    assert logits.shape == (8, 2) and weights.shape == tokens.shape
    assert (weights[~mask] == 0).all()
    # extra padding columns change nothing
    padded = F.pad(tokens, (0, 3)), F.pad(mask, (0, 3))
    torch.testing.assert_close(model(*padded), logits, atol=1e-5, rtol=0)


def test_train_step_is_one_full_update():
    model, (tokens, mask, labels) = tiny_model(), tiny_batch()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    for m in (model, reference):  # stale gradients and evaluation mode, left by earlier code
        m.eval()
        F.cross_entropy(m(tokens, mask), labels).backward()
    torch.manual_seed(5)
    loss = train_step(model, optimizer, tokens, mask, labels)
    assert isinstance(loss, float) and model.training
    torch.manual_seed(5)  # the same dropout masks
    reference.train()
    reference_optimizer.zero_grad()
    expected = F.cross_entropy(reference(tokens, mask), labels)
    expected.backward()
    reference_optimizer.step()
    assert loss == pytest.approx(expected.item(), abs=1e-6)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=lambda m: f"{name}: {m}")


@contextlib.contextmanager
def one_thread():
    # Tiny models train faster on one thread than on two that wait for each other (and the CI
    # machine's two cores are shared with other test processes).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@one_thread()
def test_a_short_training_run_beats_chance_and_the_bag_of_words_ceiling():
    splits = make_splits(n_train=1500, n_val=200, n_test=300, seed=1)
    data = {name: (*split.encode(), split.labels) for name, split in splits.items()}
    torch.manual_seed(0)
    model = AttentionClassifier(len(VOCAB), d_model=32, num_heads=4, num_layers=2, d_ff=64, dropout=0.0)
    history = fit(model, data["train"], data["val"], epochs=12, batch_size=64, lr=3e-3, progress=False,
                  train_eval_size=0)
    assert len(history.loss) == 12 * 24 and len(history.val_accuracy) == 12 and history.train_accuracy == []
    assert np.mean(history.loss[-10:]) < 0.6 * np.mean(history.loss[:10])
    result = evaluate(model, data["test"])
    assert result["accuracy"] > 0.9 > bag_of_words_ceiling(splits["test"]) + 0.1
    assert result["logits"].shape == (300, 2)


@one_thread()
def test_bag_of_embeddings_cannot_beat_its_ceiling_even_on_its_training_data():
    split = make_splits(n_train=600, n_val=10, n_test=10, seed=2)["train"]
    data = (*split.encode(), split.labels)
    torch.manual_seed(0)
    model = BagOfEmbeddings(len(VOCAB), d_model=32)
    fit(model, data, epochs=30, batch_size=64, lr=1e-2, progress=False)
    result = evaluate(model, data)
    assert result["accuracy"] <= bag_of_words_ceiling(split) + 1e-9
    assert result["accuracy"] > 0.6  # it learned what a bag can hold
    # the two mirror images of a contrast hold the same words, so they get the same prediction
    for group in np.unique(split.groups[np.isin(split.kinds, ["but", "although"])]):
        first, second = np.flatnonzero(split.groups == group)
        assert result["predictions"][first] == result["predictions"][second]
        assert split.labels[first] != split.labels[second]


@pytest.fixture(scope="module")
def minilm():
    return course_lib.load_minilm()


def test_minilm_classifier_head_shapes_and_pipeline(minilm):
    tokenizer, encoder = minilm
    torch.manual_seed(0)
    classifier = MiniLMClassifier(encoder)
    input_ids, mask, labels = minilm_inputs(tokenizer, ["the plot was not bad", "a dull story"], [1, 0])
    assert mask.dtype == torch.bool and labels.tolist() == [1, 0]
    classifier.eval()
    with torch.no_grad():
        logits = classifier(input_ids, mask)
        features = classifier.features(input_ids, mask)
    assert logits.shape == (2, 2) and features.shape == (2, 384)
    results = classify(["the plot was not bad", "a dull story"], tokenizer, classifier)
    probabilities = torch.softmax(logits, dim=-1)
    assert [r["label"] for r in results] == [("negative", "positive")[i] for i in probabilities.argmax(-1).tolist()]
    np.testing.assert_allclose([r["score"] for r in results], probabilities.max(-1).values.numpy(), atol=1e-6)


def test_frozen_fine_tuning_trains_the_head_only(minilm):
    tokenizer, encoder = minilm
    split = make_splits(n_train=24, n_val=2, n_test=2, seed=3)["train"]
    torch.manual_seed(0)
    classifier = MiniLMClassifier(copy.deepcopy(encoder))
    before = {name: p.clone() for name, p in classifier.named_parameters()}
    history = fine_tune(classifier, minilm_inputs(tokenizer, split.sentences, split.labels), freeze=True, epochs=5,
                        batch_size=8, lr=1e-2, progress=False)
    assert len(history.loss) == 5 * 3
    changed = {name for name, p in classifier.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {"head.weight", "head.bias"}


def test_exercise_11_quotes_the_committed_learning_curve():
    """Exercise 11's written question quotes the benchmark's learning curve (a notebook cannot
    glue): a new `make benchmark` run that moves a number must update the exercise too."""
    saved = json.loads((ROOT / "benchmarks" / "classification.json").read_text())
    curve = {(row["model"], row["examples"]): row["test_accuracy"] for row in saved["learning_curve"]}
    notebook = nbformat.read(ROOT / "solutions" / "11_classification" / "11_classification.ipynb", as_version=4)
    question = next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "question_learning_curve")
    rows = re.findall(r"^\| ([\d ]+) \(\d+ %\) \| (\d+) % \| (\d+) % \| (\d+) % \|$", question, re.M)
    assert len(rows) == 3, question
    for examples, scratch, frozen, full in rows:
        n = int(examples.replace(" ", ""))
        quoted = {"attention": scratch, "MiniLM, frozen": frozen, "MiniLM, full": full}
        for model, percent in quoted.items():
            assert int(percent) == round(100 * curve[model, n]), (model, n, percent, curve[model, n])
    (ceiling,) = {row["bag_ceiling"] for row in saved["learning_curve"] if row.get("bag_ceiling") is not None}
    assert f"could score on this test set is {100 * ceiling:.1f} %" in question
    assert f"at {100 * curve['MiniLM, frozen', 4000]:.1f} % with all 4 000 reviews" in question
