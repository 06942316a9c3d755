"""Majority vote and Dawid–Skene on worked examples (groundwork for result exports)."""

from __future__ import annotations

import itertools

import pytest

from marketplace.aggregation import Aggregate, dawid_skene, majority_vote


def test_majority_vote_counts_shares_and_ties():
    labels = [
        (1, "w1", "cat"),
        (1, "w2", "cat"),
        (1, "w3", "dog"),
        (2, "w1", "dog"),
        (2, "w2", "cat"),
        (3, "w1", "bird"),
    ]
    result = majority_vote(labels)
    assert result[1] == Aggregate(answer="cat", confidence=2 / 3, votes=3, tied=False)
    # A tie is reported, and resolved the same way whatever the input order.
    assert result[2] == Aggregate(answer="cat", confidence=0.5, votes=2, tied=True)
    assert result[3] == Aggregate(answer="bird", confidence=1.0, votes=1, tied=False)
    for order in itertools.permutations(labels):
        assert majority_vote(order) == result


def test_empty_input():
    assert majority_vote([]) == {}
    assert dawid_skene([]) == {}


def _truth(n: int) -> dict[int, str]:
    return {t: ("cat" if t % 2 else "dog") for t in range(n)}


def test_dawid_skene_agrees_with_unanimous_workers():
    truth = _truth(10)
    labels = [(t, w, truth[t]) for t in truth for w in ("a", "b", "c")]
    result = dawid_skene(labels)
    for t, answer in truth.items():
        assert result[t].answer == answer
        assert result[t].confidence > 0.99
        assert result[t].votes == 3


def test_dawid_skene_discounts_a_spammer_where_majority_vote_ties():
    # Three careful workers label 20 items correctly; a spammer answers "cat" to all.
    truth = _truth(20)
    labels = [(t, w, truth[t]) for t in truth for w in ("r1", "r2", "r3")]
    labels += [(t, "spam", "cat") for t in truth]
    # One more item seen only by r1 ("dog") and the spammer ("cat").
    labels += [("x", "r1", "dog"), ("x", "spam", "cat")]
    assert majority_vote(labels)["x"].tied  # a coin toss for majority vote
    result = dawid_skene(labels)
    # The spammer says "cat" whatever the truth, so their vote carries no information;
    # r1 has been right every time, so "dog" wins with high confidence.
    assert result["x"].answer == "dog"
    assert result["x"].confidence > 0.9
    for t, answer in truth.items():
        assert result[t].answer == answer


def test_dawid_skene_learns_a_worker_who_always_flips():
    # "flip" is consistently wrong in a binary task: their answer is informative once
    # inverted. An item only they labelled "cat" is most likely a dog.
    truth = _truth(30)
    flipped = {"cat": "dog", "dog": "cat"}
    labels = [(t, w, truth[t]) for t in truth for w in ("r1", "r2")]
    labels += [(t, "flip", flipped[truth[t]]) for t in truth]
    labels += [("only-flip", "flip", "cat")]
    result = dawid_skene(labels)
    assert result["only-flip"].answer == "dog"
    assert result["only-flip"].confidence > 0.9


def test_dawid_skene_does_not_depend_on_input_order():
    truth = _truth(6)
    labels = [(t, w, truth[t]) for t in truth for w in ("a", "b")]
    labels += [(t, "c", "cat") for t in truth]
    expected = dawid_skene(labels)
    for seed in range(5):
        shuffled = labels[seed:] + labels[:seed]
        got = dawid_skene(list(reversed(shuffled)))
        assert got.keys() == expected.keys()
        for t in expected:
            assert got[t].answer == expected[t].answer
            assert got[t].confidence == pytest.approx(expected[t].confidence, abs=1e-9)


def test_confidences_are_probabilities():
    labels = [(t, w, a) for t, w, a in [(1, "a", "x"), (1, "b", "y"), (1, "c", "z")]]
    result = dawid_skene(labels)
    assert 0 < result[1].confidence <= 1
    assert result[1].votes == 3
