"""Chapter 12's sampling: top-p keeps the smallest nucleus, the sampler combines temperature,
top-k and top-p, and perplexity is exp of chapter 9's loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.sampling import perplexity, sample_next, top_k_filter, top_p_filter
from course_lib.training_torch import lm_loss


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.05, 0.3, 0.15]))
    kept = lambda p: torch.isfinite(top_p_filter(logits, p)).tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]  # 0.5 alone reaches 0.5
    assert kept(0.51) == [True, False, True, False]
    assert kept(0.8) == [True, False, True, False]
    assert kept(0.81) == [True, False, True, True]
    assert kept(1e-6) == [True, False, False, False]  # always the most likely one
    assert kept(1.0) == [True] * 4
    torch.testing.assert_close(top_p_filter(logits, 0.9)[[0, 2, 3]], logits[[0, 2, 3]])  # kept logits unchanged


def test_top_p_keeps_ties_at_the_boundary_and_works_on_batches():
    logits = torch.tensor([[1.0, 1.0, 1.0, 0.0], [3.0, 0.0, 0.0, 0.0]])  # first row: a three-way tie
    kept = torch.isfinite(top_p_filter(logits, 0.3))
    assert kept[0].tolist() == [True, True, True, False] and kept[1].tolist() == [True, False, False, False]
    batched = torch.randn(2, 3, 11)
    filtered = top_p_filter(batched, 0.7)
    for i in range(2):
        for j in range(3):
            assert torch.equal(filtered[i, j], top_p_filter(batched[i, j], 0.7))
    probs = torch.softmax(batched, -1)
    kept_mass = (probs * torch.isfinite(filtered)).sum(-1)
    assert torch.all(kept_mass >= 0.7 - 1e-6)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_top_p_out_of_range_is_an_error(bad):
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(torch.zeros(3), bad)
    with pytest.raises(ValueError, match="top_p"):
        sample_next(torch.zeros(1, 3), top_p=bad)


def test_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.zeros(1, 3), temperature=-1.0)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="top_k"):
            sample_next(torch.zeros(1, 3), top_k=bad)
        with pytest.raises(ValueError, match="top_k"):
            top_k_filter(torch.zeros(1, 3), bad)


def test_sampler_draws_only_from_the_nucleus_with_the_right_frequencies():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    draws = sample_next(logits, top_p=0.8, generator=generator)
    assert set(draws.tolist()) == {0, 1}
    assert (draws == 0).float().mean().item() == pytest.approx(0.5 / 0.8, abs=0.03)
    assert set(sample_next(logits, top_k=3, top_p=0.99, generator=generator).tolist()) == {0, 1, 2}  # top-k first
    assert torch.all(sample_next(logits, temperature=0.0, top_p=0.1) == 0)  # greedy
    assert sample_next(torch.randn(2, 3, 7), generator=generator).shape == (2, 3)


def test_sampler_is_chapter_9s_for_temperature_and_top_k():
    logits = torch.randn(6, 10)
    a = sample_next(logits, 0.7, 4, generator=torch.Generator().manual_seed(3))
    scaled = top_k_filter(logits / 0.7, 4)
    b = torch.multinomial(torch.softmax(scaled, -1), 1, generator=torch.Generator().manual_seed(3))[:, 0]
    assert torch.equal(a, b)


def test_perplexity_is_exp_of_the_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 5, 11), torch.randint(11, (3, 5))
    assert perplexity(logits, targets) == pytest.approx(math.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item()), rel=1e-6)
    assert perplexity(logits, targets) == pytest.approx(math.exp(lm_loss(logits, targets).item()), rel=1e-6)
    assert perplexity(torch.zeros(4, 7), torch.arange(4)) == pytest.approx(7.0)  # uniform over 7: perplexity 7
    with pytest.raises(ValueError, match="targets"):
        perplexity(logits, targets[:, :4])
