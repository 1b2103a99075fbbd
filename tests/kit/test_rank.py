"""Fractional ranks: a key between any two, before the first, after the last; spreads for a rebalance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.kit import rank

keys = st.text(alphabet=rank.DIGITS, min_size=1, max_size=12).filter(rank.is_key)


@given(keys, keys)
def test_a_key_between_any_two(first: str, second: str) -> None:
    if first == second:
        return
    low, high = sorted((first, second))
    made = rank.between(low, high)
    assert low < made < high
    assert rank.is_key(made)


@given(keys)
def test_a_key_before_and_after_any(key: str) -> None:
    before, after = rank.between(None, key), rank.between(key, None)
    assert before < key < after
    assert rank.is_key(before) and rank.is_key(after)


@given(st.lists(st.sampled_from(["front", "back", "middle"]), max_size=200), st.randoms())
def test_any_sequence_of_inserts_keeps_a_strict_order(moves: list[str], rng) -> None:
    order = [rank.between(None, None)]
    for move in moves:
        if move == "front":
            order.insert(0, rank.between(None, order[0]))
        elif move == "back":
            order.append(rank.between(order[-1], None))
        else:
            at = rng.randrange(1, len(order)) if len(order) > 1 else 1
            low = order[at - 1]
            high = order[at] if at < len(order) else None
            order.insert(at, rank.between(low, high))
    assert order == sorted(order) and len(set(order)) == len(order)
    assert all(rank.is_key(k) for k in order)


def test_inserting_always_at_the_same_place_grows_keys_slowly_until_a_rebalance() -> None:
    low = rank.between(None, None)
    high = rank.between(low, None)
    inserted = 0
    while not rank.needs_rebalance(high):
        high = rank.between(low, high)
        inserted += 1
        assert inserted < 1000, "keys never grew past the limit"
    assert inserted > 20  # a column takes many squeezed inserts before a rebalance


@given(st.integers(min_value=0, max_value=5000))
def test_a_spread_is_strictly_ascending_and_short(count: int) -> None:
    spread = rank.spread(count)
    assert len(spread) == count
    assert spread == sorted(set(spread))
    assert all(rank.is_key(k) and not rank.needs_rebalance(k) for k in spread)
    if count:
        assert max(len(k) for k in spread) <= 3


def test_no_key_between_a_key_and_itself_or_out_of_order() -> None:
    with pytest.raises(ValueError):
        rank.between("m", "m")
    with pytest.raises(ValueError):
        rank.between("n", "m")
