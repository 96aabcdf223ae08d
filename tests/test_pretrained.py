"""Chapter 10: the course's encoder with MiniLM's weights computes what transformers computes,
and the numpy helpers (additive mask, mean pooling, head matching) do what they say."""
import os

import numpy as np
import pytest
import torch

import course_lib
from course_lib.pretrained import additive_attention_mask, best_matching_head, load_minilm, mean_pool, minilm_path, pattern_score

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded, in tests or anywhere

SENTENCES = [
    "He took the hat and examined it carefully.",
    "A cat.",
    "Attention weighs every word by how relevant it is to the others.",
]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


@pytest.fixture(scope="module")
def reference():
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_path(), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def batch(minilm):
    tokenizer, _ = minilm
    return tokenizer(SENTENCES, padding=True, return_tensors="pt")


def test_the_batch_has_padding(batch):
    assert (batch["attention_mask"] == 0).any()


def test_hidden_states_match_transformers_padding_included(minilm, reference, batch):
    _, model = minilm
    with torch.no_grad():
        ours, our_attentions = model(batch["input_ids"], batch["attention_mask"], return_attentions=True)
        theirs = reference(**batch, output_attentions=True)
    assert ours.shape == (3, batch["input_ids"].shape[1], 384)
    torch.testing.assert_close(ours, theirs.last_hidden_state, rtol=0, atol=1e-4)
    for layer, (a, b) in enumerate(zip(our_attentions, theirs.attentions)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=lambda m: f"layer {layer}: {m}")


def test_every_weight_was_copied(minilm, reference):
    _, model = minilm
    ours = sum(p.numel() for p in model.parameters())
    theirs = sum(p.numel() for name, p in reference.named_parameters() if not name.startswith("pooler"))
    assert ours == theirs
    torch.testing.assert_close(model.layers[5].norm2.bias, reference.encoder.layer[5].output.LayerNorm.bias)


def test_sentence_embeddings_match_sentence_transformers(minilm, batch):
    from sentence_transformers import SentenceTransformer

    _, model = minilm
    with torch.no_grad():
        hidden = model(batch["input_ids"], batch["attention_mask"]).numpy()
    ours = mean_pool(hidden, batch["attention_mask"].numpy())
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = SentenceTransformer(str(minilm_path()), device="cpu").encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_padding_does_not_change_a_sentence_embedding(minilm):
    tokenizer, model = minilm
    alone = tokenizer(SENTENCES[1:2], return_tensors="pt")
    padded = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        a = mean_pool(model(**alone).numpy(), alone["attention_mask"].numpy())[0]
        b = mean_pool(model(**padded).numpy(), padded["attention_mask"].numpy())[1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_additive_mask_gives_the_boolean_masks_softmax():
    attention_mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]])
    additive = additive_attention_mask(attention_mask)
    assert additive.shape == (2, 1, 1, 4) and additive.dtype == float
    scores = np.random.default_rng(0).normal(size=(2, 3, 4, 4))  # (B, H, L_q, L_k)
    shifted = scores + additive
    weights = np.exp(shifted - shifted.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = course_lib.masked_softmax(scores, attention_mask.astype(bool)[:, None, None, :])
    np.testing.assert_allclose(weights, expected, atol=1e-12)


def test_mean_pool_ignores_padding():
    hidden = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(mean_pool(hidden, mask), [[1.0, 2.0], [6.0, 7.0]])
    np.testing.assert_allclose(mean_pool(hidden, np.zeros((2, 3))), 0.0)  # no token: zeros, not nan


def test_best_matching_head_finds_a_planted_previous_token_head():
    rng = np.random.default_rng(1)
    attentions = rng.dirichlet(np.ones(5), size=(3, 4, 5))  # (layers, heads, L, L), rows sum to 1
    previous = np.eye(5, k=-1)
    attentions[2, 1] = 0.9 * previous + 0.1 / 5
    attentions[2, 1, 0] = 1 / 5  # the first token has no previous token
    assert best_matching_head(attentions, previous) == (2, 1)
    scores = pattern_score(attentions, previous)
    assert scores.shape == (3, 4) and scores[2, 1] == pytest.approx(0.92)


def test_real_heads_with_recognisable_behaviour(minilm):
    # Measured over several sentences, not one anecdote: one head of the first layer puts
    # almost all of its attention on the previous token, and some heads park most of their
    # attention on [CLS], a "sink" for queries with nothing better to do.
    tokenizer, model = minilm
    previous_token_heads, cls_scores = set(), []
    for sentence in SENTENCES + ["The dog that the cats see runs quickly."]:
        ids = tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            _, attentions = model(**ids, return_attentions=True)
        stacked = torch.stack([a[0] for a in attentions]).numpy()  # (layers, heads, L, L)
        length = stacked.shape[-1]
        previous = np.eye(length, k=-1)
        previous_token_heads.add(best_matching_head(stacked, previous))
        assert pattern_score(stacked, previous).max() > 0.9
        cls_scores.append(pattern_score(stacked, np.eye(length)[[0] * length]).max())
    assert previous_token_heads == {(0, 2)}
    assert min(cls_scores) > 0.8


def test_the_chapter_diagram_shows_what_the_model_reads(minilm):
    # book/figures/minilm_pipeline.py draws its tokens and ids by hand; they must be the tokenizer's,
    # and its layer, head and width numbers the model's own.
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "book" / "figures" / "minilm_pipeline.py"
    spec = importlib.util.spec_from_file_location("minilm_pipeline", script)
    diagram = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagram)
    tokenizer, model = minilm
    padded = tokenizer([diagram.SENTENCE], padding="max_length", max_length=len(diagram.TOKENS))
    assert tokenizer.convert_ids_to_tokens(padded["input_ids"][0]) == diagram.TOKENS
    assert padded["input_ids"][0] == diagram.IDS and padded["attention_mask"][0] == diagram.MASK
    config = diagram.config()
    assert (config["num_hidden_layers"], config["num_attention_heads"], config["hidden_size"]) == (
        len(model.layers), model.config.num_attention_heads, model.config.hidden_size)
