"""Mixing: the "balance" plan equals a literal per-position transcription of the original MultipleDatasets rule,
the weighted plan an independent loop, and both mixes (map-style and streaming) deliver those sequences and
proportions reproducibly."""

import math
import random

import numpy as np
import pytest
from datasets import Dataset

from hub_datasets.mixing import balanced_index_plan, balanced_mix, weighted_index_plan, weighted_mix


def original_balance_rule(lengths, total_length, seed, epoch, shuffle):
    """SMPLest-X ``MultipleDatasets.__getitem__`` (make_same_len=True, fixed total_len), one position at a time,
    with its ``random.randint`` calls replaced by the documented reproducible draws and its per-dataset
    ``random.shuffle`` by the documented permutations."""
    db_num = len(lengths)
    per_db_len = total_length // db_num
    draws = np.random.default_rng([seed, 1, epoch])
    randint_source = {}  # the remainder positions' random sources are drawn first, in position order
    for index in range(total_length):
        if index // per_db_len > db_num - 1:
            randint_source[index] = math.floor(draws.random() * db_num)
    plan = []
    for index in range(total_length):
        db_idx = index // per_db_len
        data_idx = index % per_db_len
        if db_idx > db_num - 1:
            db_idx = randint_source[index]
        size = lengths[db_idx]
        if size < per_db_len and data_idx >= size * (per_db_len // size):
            data_idx = math.floor(draws.random() * size)
        else:
            data_idx = data_idx % size
        plan.append((db_idx, data_idx))
    if shuffle:
        orders = [np.random.default_rng([seed, 0, i]).permutation(n) for i, n in enumerate(lengths)]
        plan = [(source, int(orders[source][row])) for source, row in plan]
    return plan


def independent_weighted_plan(lengths, weights, total_length, seed, epoch):
    cumulative = np.cumsum(np.asarray(weights, float) / np.sum(weights))
    picks = np.random.default_rng([seed, 2, epoch])
    orders = [np.random.default_rng([seed, 3, i, epoch]) for i in range(len(lengths))]
    pending = [[] for _ in lengths]
    plan = []
    for _ in range(total_length):
        u = picks.random()
        source = next((i for i, c in enumerate(cumulative) if u < c), len(lengths) - 1)
        if not pending[source]:
            pending[source] = list(orders[source].permutation(lengths[source]))
        plan.append((source, int(pending[source].pop(0))))
    return plan


def as_pairs(plan):
    return list(zip(plan[0].tolist(), plan[1].tolist()))


@pytest.mark.parametrize(
    "lengths, total_length, shuffle",
    [
        ([4, 8], 16, False),
        ([3, 10, 7], 25, False),
        ([3, 10, 7], 25, True),
        ([5, 1, 2], None, True),
        ([2, 2, 50], 31, True),
    ],
)
@pytest.mark.parametrize("epoch", [0, 3])
def test_balanced_plan_equals_the_original_rule(lengths, total_length, shuffle, epoch):
    plan = balanced_index_plan(lengths, total_length, seed=7, epoch=epoch, shuffle=shuffle)
    total = sum(lengths) if total_length is None else total_length
    assert as_pairs(plan) == original_balance_rule(lengths, total, 7, epoch, shuffle)


def test_balanced_plan_without_randomness_is_the_literal_sequence():
    # per source 8: the 4-row source repeats twice, the 8-row source once, the 20-row source gives its first 8.
    source, row = balanced_index_plan([4, 8, 20], 24, shuffle=False)
    assert source.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert row.tolist() == [0, 1, 2, 3, 0, 1, 2, 3] + list(range(8)) * 2


def test_balanced_plan_gives_every_source_an_equal_share_and_is_seeded():
    lengths = [7, 1000, 40]
    source, row = balanced_index_plan(lengths, 3002, seed=1)
    counts = np.bincount(source, minlength=3)
    assert counts.min() >= 1000 and counts.sum() == 3002  # 1000 each + 2 remainder positions
    assert all(row[source == i].max() < n for i, n in enumerate(lengths))
    assert as_pairs(balanced_index_plan(lengths, 3002, seed=1)) == as_pairs((source, row))
    assert as_pairs(balanced_index_plan(lengths, 3002, seed=2)) != as_pairs((source, row))
    # Orders are fixed by the seed; a new epoch redraws only the random rows: the short source's last
    # 1000 - 7 * 142 = 6 positions (and the remainder positions).
    other_epoch = balanced_index_plan(lengths, 3002, seed=1, epoch=1)
    assert np.array_equal(other_epoch[1][:994], row[:994]) and np.array_equal(other_epoch[1][1000:3000], row[1000:3000])
    assert not np.array_equal(other_epoch[1][994:1000], row[994:1000])


def test_weighted_plan_equals_an_independent_loop_and_follows_the_weights():
    lengths, weights = [5, 50, 7], [0.2, 0.5, 0.3]
    plan = weighted_index_plan(lengths, weights, 300, seed=4, epoch=2)
    assert as_pairs(plan) == independent_weighted_plan(lengths, weights, 300, 4, 2)
    source, row = weighted_index_plan(lengths, [2, 5, 3], 20000, seed=0)  # weights need not sum to 1
    share = np.bincount(source, minlength=3) / 20000
    np.testing.assert_allclose(share, weights, atol=4 * math.sqrt(0.25 / 20000))
    first_pass = row[source == 0][:5]
    assert sorted(first_pass.tolist()) == list(range(5))  # no repeats before a source is exhausted


def _toy(name, n, skip=()):
    """A map-style dataset whose rows carry source_index values with gaps (skipped samples)."""
    indices = [i for i in range(n + len(skip)) if i not in skip]
    return Dataset.from_dict({"sample_id": [f"{name}{i}" for i in indices], "source_index": indices})


def test_balanced_mix_map_style_reads_the_planned_rows_with_sample_intervals():
    a, b = _toy("a", 9, skip=(2,)), _toy("b", 30)  # a: source_index 0 1 3 4 ... 9
    mixed = balanced_mix([a, b], 20, sample_intervals=[3, 2], seed=5)
    kept = [[0, 3, 6, 9], list(range(0, 30, 2))]  # source_index multiples of the interval
    source, row = balanced_index_plan([4, 15], 20, seed=5)
    expected = [f"{'ab'[s]}{kept[s][r]}" for s, r in zip(source.tolist(), row.tolist())]
    assert mixed["sample_id"][:] == expected


def test_weighted_mix_map_style_reads_the_planned_rows():
    a, b = _toy("a", 4), _toy("b", 6)
    mixed = weighted_mix([a, b], [1, 3], 40, seed=9, epoch=1)
    source, row = weighted_index_plan([4, 6], [1, 3], 40, seed=9, epoch=1)
    assert mixed["sample_id"][:] == [f"{'ab'[s]}{r}" for s, r in zip(source.tolist(), row.tolist())]


def test_streaming_balanced_mix_is_round_robin_over_repeated_sources():
    a, b, c = _toy("a", 3), _toy("b", 7), _toy("c", 10)
    streams = [
        a.to_iterable_dataset(num_shards=1),
        b.to_iterable_dataset(num_shards=1),
        c.to_iterable_dataset(num_shards=2),
    ]
    mixed = balanced_mix(streams, 14, sample_intervals=[1, 1, 2], shuffle=False)
    rows = {"a": [0, 1, 2], "b": list(range(7)), "c": [0, 2, 4, 6, 8]}
    expected = [f"{'abc'[p % 3]}{rows['abc'[p % 3]][(p // 3) % len(rows['abc'[p % 3]])]}" for p in range(14)]
    assert [row["sample_id"] for row in mixed] == expected


def test_streaming_mixes_are_reproducible_and_weighted():
    a, b = _toy("a", 20), _toy("b", 20)
    streams = [a.to_iterable_dataset(num_shards=2), b.to_iterable_dataset(num_shards=2)]

    def ids(seed):
        return [row["sample_id"] for row in weighted_mix(streams, [0.8, 0.2], 1000, seed=seed)]

    first = ids(0)
    assert first == ids(0) and first != ids(1)
    share_a = sum(sample_id.startswith("a") for sample_id in first) / len(first)
    assert abs(share_a - 0.8) < 4 * math.sqrt(0.16 / 1000)
    shuffled = [row["sample_id"] for row in balanced_mix(streams, 40, seed=3, buffer_size=8)]
    assert sorted(shuffled) == sorted([f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)])
    assert shuffled != [f"{'ab'[p % 2]}{p // 2}" for p in range(40)]


def test_bad_mixing_arguments_are_explained():
    a = _toy("a", 3)
    with pytest.raises(TypeError, match="either only map-style"):
        balanced_mix([a, a.to_iterable_dataset()], 4)
    with pytest.raises(ValueError, match=r"weights must be 2 non-negative"):
        weighted_mix([a, a], [1, -1], 4)
    with pytest.raises(ValueError, match=r"total_length \(1\) must be at least the number of datasets \(2\)"):
        balanced_mix([a, a], 1)
    with pytest.raises(ValueError, match="sample_intervals must be 2 integers"):
        balanced_mix([a, a], 4, sample_intervals=[1])
    with pytest.raises(ValueError, match="streaming mixing needs total_length"):
        balanced_mix([a.to_iterable_dataset()], None)
    with pytest.raises(ValueError, match="keep at least one sample"):
        balanced_index_plan([3, 0], 4)
    random.seed(0)  # the plans never touch Python's global random state
    state = random.getstate()
    balanced_index_plan([3, 4], 10)
    assert random.getstate() == state
