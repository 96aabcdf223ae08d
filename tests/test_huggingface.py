"""Chapter 13's bridge: the course GPT as a transformers GPT2LMHeadModel and back, on perturbed
weights (fresh modules have zero biases and unit LayerNorms, which would hide an uncopied one);
generate() and pipeline("text-generation") against the course's generation code."""
import os

import pytest
import torch

from course_lib.gpt import GPT, GPTConfig, generate
from course_lib.huggingface import copy_weights, from_transformers, generate_text, to_transformers, weight_map
from course_lib.sampling import top_p_filter
from course_lib.subword import grammar_sentences, to_fast_tokenizer, train_bpe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
transformers.logging.disable_progress_bar()


def perturb(model, seed=0, scale=0.1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():  # tied weights are one parameter: perturbed once
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return to_fast_tokenizer(train_bpe(grammar_sentences(300, seed=0), vocab_size=300), model_max_length=24)


@pytest.fixture(scope="module")
def gpt(tokenizer):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=len(tokenizer), block_size=24, d_model=16, num_heads=2, num_layers=2, d_ff=40)
    return perturb(GPT(config))


@pytest.fixture(scope="module")
def hf(gpt, tokenizer):
    return to_transformers(gpt, tokenizer)


@pytest.fixture(scope="module")
def ids(gpt):
    return torch.randint(1, gpt.config.vocab_size, (3, gpt.config.block_size), generator=torch.Generator().manual_seed(1))


def test_course_to_transformers_gives_the_same_logits(gpt, hf, ids):
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids).logits, gpt(ids), atol=1e-5, rtol=0)
    assert hf.config.eos_token_id == hf.config.bos_token_id == hf.generation_config.pad_token_id == 0
    assert hf.config.activation_function == "gelu" and hf.config.pad_token_id is None
    assert hf.lm_head.weight is hf.transformer.wte.weight  # still tied after the copy


def test_transformers_to_course_gives_the_same_logits(ids):
    config = transformers.GPT2Config(vocab_size=300, n_positions=24, n_embd=16, n_layer=2, n_head=4, n_inner=None,
                                     activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    model = perturb(transformers.GPT2LMHeadModel(config), seed=2)
    gpt = from_transformers(model)
    assert gpt.config.d_ff == 64  # n_inner=None means 4 * n_embd
    with torch.no_grad():
        torch.testing.assert_close(gpt(ids), model(input_ids=ids).logits, atol=1e-5, rtol=0)


def test_round_trip_gives_identical_state_dicts(gpt, hf):
    back = from_transformers(hf)
    assert back.config == gpt.config
    ours, theirs = gpt.state_dict(), back.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)


def test_every_tensor_of_both_models_is_mapped(gpt, hf):
    pairs = weight_map(gpt.config.num_layers)
    assert {a for a, _, _ in pairs} == set(gpt.state_dict())
    assert {b for _, b, _ in pairs} == set(hf.state_dict())


def test_a_parameter_left_out_of_the_map_is_an_error(gpt, hf):
    pairs = [pair for pair in weight_map(gpt.config.num_layers) if pair[0] != "blocks.1.feed_forward.linear2.bias"]
    with pytest.raises(ValueError, match="linear2.bias"):
        copy_weights(gpt, hf, pairs)


def test_a_transpose_left_out_is_an_error(gpt, hf):
    pairs = [(a, b, False) for a, b, _ in weight_map(gpt.config.num_layers)]
    with pytest.raises(ValueError, match="does not fit"):
        copy_weights(gpt, to_transformers(gpt), pairs)


def test_the_logit_check_can_fail_on_one_uncopied_bias(gpt, ids):
    # Proves the parity test above can fail: one bias off (as if never copied) moves the logits.
    # (Random, not a constant: a constant added to every feature vanishes in the next LayerNorm.)
    model = to_transformers(gpt)
    with torch.no_grad():
        bias = model.transformer.h[1].mlp.c_proj.bias
        bias.add_(0.1 * torch.randn(bias.shape, generator=torch.Generator().manual_seed(0)))
        assert (model(input_ids=ids).logits - gpt(ids)).abs().max() > 1e-3


REFUSED = {
    "activation_function": "gelu_new",  # GPT-2's own tanh approximation
    "layer_norm_epsilon": 1e-6,
    "scale_attn_weights": False,
    "scale_attn_by_inverse_layer_idx": True,
    "add_cross_attention": True,
    "tie_word_embeddings": False,
    "embd_pdrop": 0.1,
    "attn_pdrop": 0.2,  # resid_pdrop stays 0
}


@pytest.mark.parametrize("setting", REFUSED)
def test_settings_the_course_gpt_cannot_express_are_refused(setting):
    values = dict(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2, activation_function="gelu",
                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**{**values, setting: REFUSED[setting]}))
    with pytest.raises(ValueError, match=setting):
        from_transformers(model)


def test_gpt2s_own_dropout_rates_convert_when_one_rate_is_chosen():
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2, activation_function="gelu"))  # 0.1 everywhere
    with pytest.raises(ValueError, match="embd_pdrop"):
        from_transformers(model)
    assert from_transformers(model, dropout=0.1).config.dropout == 0.1


def test_other_position_encodings_and_token_ids_outside_the_vocabulary_are_refused(gpt):
    config = GPTConfig(vocab_size=20, block_size=8, d_model=8, num_heads=2, num_layers=1)
    assert to_transformers(GPT(config)).config.eos_token_id is None  # not GPT-2's 50256
    with pytest.raises(ValueError, match="eos_token_id"):
        to_transformers(GPT(config), eos_token_id=50256)
    for position in ("rope", "alibi"):  # chapter 12's alternatives, which GPT-2 cannot hold
        with pytest.raises(ValueError, match="position"):
            to_transformers(GPT(GPTConfig(vocab_size=20, block_size=8, d_model=8, num_heads=2, num_layers=1,
                                          position=position)))


# --- generation ---

def test_greedy_generate_matches_the_course(gpt, hf, ids):
    prompt = ids[:, :5]
    expected = generate(gpt, prompt, 12, temperature=0)
    got = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False,
                      eos_token_id=None)  # the course's generate() does not stop at the end of text
    assert torch.equal(got, expected)


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.8, 20, None), (1.0, None, 0.9), (1.3, 50, 0.8)])
def test_sampling_draws_the_same_tokens_from_the_same_global_seed(gpt, hf, ids, temperature, top_k, top_p):
    prompt = ids[:, :4]
    torch.manual_seed(3)
    expected = generate(gpt, prompt, 12, temperature=temperature, top_k=top_k, top_p=top_p)  # generator=None
    torch.manual_seed(3)
    got = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=True,
                      temperature=temperature, top_k=top_k or 0, top_p=top_p or 1.0,  # top_k=None: transformers' 50
                      eos_token_id=None)
    assert torch.equal(got, expected)


def test_generate_filters_to_the_top_50_when_top_k_is_left_out(hf):
    prompt = torch.ones(2000, 1, dtype=torch.long)  # 2000 draws of the first token, at a flattening temperature
    for settings, most in [({}, 50), ({"top_k": None}, 300), ({"top_k": 0}, 300)]:
        torch.manual_seed(0)
        first = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=1, do_sample=True,
                            temperature=10.0, **settings)[:, 1]
        assert 0.8 * most < first.unique().numel() <= most, settings


def test_top_p_differs_from_transformers_only_on_ties_at_the_boundary():
    from transformers.generation.logits_process import TopPLogitsWarper

    warper = TopPLogitsWarper(top_p=0.5)
    distinct = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    assert torch.equal(top_p_filter(distinct, 0.5).isfinite(), warper(None, distinct.clone()).isfinite())
    tied = torch.zeros(1, 4)  # four equal tokens, 0.25 each: the nucleus of 0.5 ends inside the tie
    assert top_p_filter(tied, 0.5).isfinite().sum() == 4  # the course keeps every tied token
    assert warper(None, tied.clone()).isfinite().sum() == 2  # transformers keeps two, chosen by sort order


def test_generate_text_matches_the_pipeline_from_a_saved_folder(gpt, hf, tokenizer, tmp_path):
    hf.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    pipe = transformers.pipeline("text-generation", model=str(tmp_path), tokenizer=str(tmp_path))
    for prompt in ["the old dog", "every teacher likes some"]:
        expected = pipe(prompt, max_new_tokens=10, do_sample=False)[0]["generated_text"]
        assert generate_text(gpt, tokenizer, prompt, 10) == expected
        assert generate_text(hf, tokenizer, prompt, 10) == expected
        assert expected.startswith(prompt)


def test_generation_stops_at_the_end_of_text_token(gpt, tokenizer, tmp_path):
    stopper = GPT(gpt.config)
    stopper.load_state_dict(gpt.state_dict())
    with torch.no_grad():  # every position's logits become E @ E[eos]: the largest is eos's own
        stopper.token_embedding.weight[0] *= 10
        stopper.norm.weight.zero_()
        stopper.norm.bias.copy_(stopper.token_embedding.weight[0])
    model = to_transformers(stopper.eval(), tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    pipe = transformers.pipeline("text-generation", model=str(tmp_path), tokenizer=str(tmp_path))
    assert pipe("the dog", max_new_tokens=5, do_sample=False)[0]["generated_text"] == "the dog"
    assert generate_text(stopper, tokenizer, "the dog", 5) == "the dog"
    assert generate_text(stopper, tokenizer, "the dog", 5, stop_at_eos=False) == "the dog"  # eos is not text
