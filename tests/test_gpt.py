"""Chapter 9's GPT: fused and explicit attention agree, nothing peeks ahead, and the KV
cache changes the speed of generation but never its tokens."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.gpt import GPT, GPTConfig, KVCache, generate, sample_next
from course_lib.multi_head_torch import explicit_attention
from course_lib.training_torch import saved_activation_bytes


def model(fused=True, block_size=24, seed=0, **settings):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=30, block_size=block_size, d_model=32, num_heads=4, num_layers=2, fused=fused, **settings)
    return GPT(config).double().eval()


def test_explicit_attention_is_sdpa_with_the_course_mask_convention():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    out, weights = explicit_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(weights[..., ~mask] == 0)


def test_fused_and_explicit_paths_compute_the_same_logits():
    ids = torch.randint(30, (3, 24))
    fused, explicit = model(fused=True), model(fused=False)
    torch.testing.assert_close(fused(ids), explicit(ids), rtol=1e-10, atol=1e-10)


def test_no_position_sees_the_future():
    gpt = model()
    ids = torch.randint(30, (1, 20))
    changed = ids.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 30
    torch.testing.assert_close(gpt(ids)[:, :12], gpt(changed)[:, :12])
    assert not torch.allclose(gpt(ids)[:, 12:], gpt(changed)[:, 12:])


@pytest.mark.parametrize("fused", [True, False])
def test_the_cache_gives_the_logits_of_a_full_forward_pass(fused):
    gpt = model(fused=fused)
    ids = torch.randint(30, (2, 20))
    full = gpt(ids)
    cache = gpt.new_cache()
    pieces = [gpt(ids[:, :7], cache), gpt(ids[:, 7:8], cache), gpt(ids[:, 8:15], cache)]  # prompt, 1, several
    pieces += [gpt(ids[:, t : t + 1], cache) for t in range(15, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-10)
    assert len(cache) == 20 and cache.keys[1].shape == (2, 4, 20, 8)  # (B, H, t, d_head)


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.0, None), (0.8, 5)])
def test_cached_and_uncached_generation_give_identical_tokens(temperature, top_k):
    gpt = model(block_size=40)
    prompt = torch.randint(30, (3, 5))
    runs = [
        generate(gpt, prompt, 30, temperature, top_k, use_cache=use_cache, generator=torch.Generator().manual_seed(1))
        for use_cache in (True, False)
    ]
    assert runs[0].shape == (3, 35) and torch.equal(runs[0][:, :5], prompt)
    assert torch.equal(runs[0], runs[1])


def test_generation_past_block_size_crops_without_cache_and_refuses_with_it():
    gpt = model(block_size=16)
    prompt = torch.randint(30, (1, 10))
    assert generate(gpt, prompt, 20, temperature=0.0, use_cache=False).shape == (1, 30)
    with pytest.raises(ValueError, match="block_size = 16"):
        generate(gpt, prompt, 20, use_cache=True)
    with pytest.raises(ValueError, match="block_size = 16"):
        gpt(torch.zeros(1, 17, dtype=torch.long))


def test_sampling_respects_temperature_and_top_k():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]]).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    assert torch.all(sample_next(logits, 0.0) == 0)
    top2 = sample_next(logits, 1.0, top_k=2, generator=generator)
    assert set(top2.tolist()) == {0, 1}
    assert (top2 == 0).float().mean().item() == pytest.approx(torch.softmax(torch.tensor([2.0, 1.0]), 0)[0].item(), abs=0.03)
    cold = sample_next(logits, 0.25, generator=generator)
    hot = sample_next(logits, 4.0, generator=generator)
    assert (cold == 0).float().mean() > 0.95 > (hot == 0).float().mean() > 0.25


def test_tied_embeddings_and_flop_count():
    gpt = model()
    assert gpt.lm_head.weight is gpt.token_embedding.weight
    d, layers, length, vocab = 32, 2, 24, 30
    per_layer = 4 * d * d + 4 * d + 2 * 4 * d * d + 4 * d + d + 4 * d  # attention, feed-forward, 2 norms
    assert gpt.num_parameters() == layers * per_layer + vocab * d + 2 * d
    assert gpt.flops_per_token() == 6 * gpt.num_parameters() + 12 * layers * d * length


def test_explicit_attention_keeps_a_quadratic_matrix_for_backward_and_fused_does_not():
    ids = {length: torch.randint(30, (2, length)) for length in (64, 128)}
    sizes = {
        fused: [saved_activation_bytes(model(fused, block_size=128).float(), ids[n]) for n in (64, 128)]
        for fused in (True, False)
    }
    fused_growth, explicit_growth = sizes[True][1] / sizes[True][0], sizes[False][1] / sizes[False][0]
    assert fused_growth < 2.2  # linear in the length
    assert explicit_growth > 2.5  # the (B, H, L, L) weights dominate
    assert sizes[False][1] - sizes[True][1] >= 2 * 2 * 4 * 128 * 128 * 4  # at least one L×L matrix per layer


def test_kv_cache_length():
    cache = KVCache(2)
    assert len(cache) == 0
    cache.append(0, torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    k, _ = cache.append(0, torch.ones(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
    assert len(cache) == 4 and k[0, 0, :, 0].tolist() == [0, 0, 0, 1]


def test_the_cache_is_preallocated_and_written_in_place_without_torch_cat(monkeypatch):
    gpt = model(block_size=40)
    prompt = torch.randint(30, (2, 5))
    expected = generate(gpt, prompt, 20, temperature=0.0, use_cache=False)
    cache = gpt.new_cache(25)
    gpt(prompt, cache)
    buffer = cache._keys[0]
    assert buffer.shape == (2, 4, 25, 8) and cache.keys[0].shape == (2, 4, 5, 8)

    def no_cat(*args, **kwargs):
        raise AssertionError("torch.cat called during cached generation")

    monkeypatch.setattr(torch, "cat", no_cat)
    gpt(prompt[:, :1], cache)
    assert cache._keys[0] is buffer and len(cache) == 6  # the same buffer, one more row filled
    assert torch.equal(generate(gpt, prompt, 20, temperature=0.0, use_cache=True), expected)  # greedy: same tokens
    with pytest.raises(ValueError, match="max_length = 25"):
        cache.append(0, torch.zeros(2, 4, 20, 8, dtype=torch.float64), torch.zeros(2, 4, 20, 8, dtype=torch.float64))


def test_top_p_generation_is_the_same_with_and_without_the_cache():
    gpt = model(block_size=40)
    prompt = torch.randint(30, (2, 4))
    runs = [generate(gpt, prompt, 25, temperature=1.2, top_k=20, top_p=0.9, use_cache=use_cache,
                     generator=torch.Generator().manual_seed(7)) for use_cache in (True, False)]
    assert torch.equal(runs[0], runs[1])
