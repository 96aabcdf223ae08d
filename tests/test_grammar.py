"""The toy language of chapter 9: a proper distribution, its exact entropy, the perfect model."""
import math

import numpy as np
import pytest

from course_lib.grammar import INTRANSITIVE, NOUNS, SENTENCE, TRANSITIVE, Grammar, _choices


def reachable_states():
    seen, todo = set(), [SENTENCE]
    while todo:
        stack = todo.pop()
        if stack in seen or not stack:
            continue
        seen.add(stack)
        todo += [after for _, after in _choices(stack).values()]
    return seen


def test_every_state_has_a_probability_distribution_over_the_next_word():
    grammar = Grammar()
    for stack in reachable_states():
        choices = _choices(stack)
        assert math.isclose(sum(p for p, _ in choices.values()), 1.0), stack
        assert all(p > 0 for p, _ in choices.values())
        assert set(choices) <= set(grammar.vocabulary)


def test_sentences_end_with_a_full_stop_and_verbs_agree_across_the_relative_clause():
    grammar, rng = Grammar(), np.random.default_rng(0)
    with_clause = 0
    for _ in range(2000):
        words = grammar.sample_sentence(rng)
        assert words[-1] == "." and "." not in words[:-1]
        if "that" in words:
            with_clause += 1
            # "<det> [adj] <noun> that <det> [adj] <noun> <verb> <main verb> ...": the main verb
            # agrees with the first noun (across the clause), the clause's verb with the second.
            noun_positions = [i for i, w in enumerate(words) if w in NOUNS["sg"] + NOUNS["pl"]]
            outer, inner = (words[i] for i in noun_positions[:2])
            clause_verb, main_verb = words[noun_positions[1] + 1], words[noun_positions[1] + 2]
            assert (clause_verb in TRANSITIVE["pl"]) == (inner in NOUNS["pl"]), words
            verbs_of_outer = INTRANSITIVE["pl"] + TRANSITIVE["pl"] if outer in NOUNS["pl"] else INTRANSITIVE["sg"] + TRANSITIVE["sg"]
            assert main_verb in verbs_of_outer, words
    assert with_clause > 400  # P_RELATIVE = 0.3 of 2000


def test_the_exact_entropy_matches_the_perfect_models_loss_on_a_long_text():
    grammar = Grammar()
    text = grammar.sample_text(100_000, seed=3)
    measured = -grammar.log_probs(text).mean()
    assert measured == pytest.approx(grammar.entropy_per_token(), abs=0.01)
    assert grammar.mean_sentence_length() == pytest.approx(len(text) / text.count("."), rel=0.01)


def test_log_probs_are_those_the_sampler_used():
    grammar, rng = Grammar(), np.random.default_rng(1)
    words = grammar.sample_sentence(rng)
    stack, expected = SENTENCE, 0.0
    for word in words:
        p, stack = _choices(stack)[word]
        expected += math.log(p)
    assert grammar.log_probs(words).sum() == pytest.approx(expected)


def test_an_ungrammatical_word_is_named():
    with pytest.raises(ValueError, match="'run'"):
        Grammar().log_probs("the dog run .".split())


def test_encode_decode_round_trip_and_seeded_text():
    grammar = Grammar()
    text = grammar.sample_text(500, seed=7)
    assert grammar.decode(grammar.encode(text)) == text
    assert grammar.sample_text(500, seed=7) == text != grammar.sample_text(500, seed=8)
