"""Mixing several EHPS datasets into one training stream: the original "balance" strategy and weighted mixing.

**Balance** (SMPLest-X's ``data_strategy = "balance"``, ``MultipleDatasets(make_same_len=True, total_len=...)``):
an epoch has a fixed length ``total_length`` (``None`` = the sum of the source lengths, the original's
``"auto"``) and every one of the ``k`` sources fills the same number of positions, ``per = total_length // k``.
Before that, each source keeps only the rows whose ``source_index`` is a multiple of its sample interval (the
original's ``train_sample_interval``) and is shuffled once with a fixed seed (the original shuffles each
datalist with ``random.seed(2023)``). Position ``p`` then reads, exactly as the original's ``__getitem__``:

* source ``s = p // per``; the last ``total_length % k`` positions (``s >= k``) take a random source;
* row ``j = p % per`` of that source's order, wrapped (``j % n``) while the source is shorter than ``per`` and
  whole repetitions remain, and a random row once ``j >= n * (per // n)``; a source longer than ``per`` only
  ever contributes its first ``per`` (shuffled) rows.

The original draws those random choices anew at every ``__getitem__``; here they are reproducible: the order
of source ``i`` is ``default_rng([seed, 0, i]).permutation(n_i)`` (identity with ``shuffle=False``) and the
random choices are ``floor(u * count)`` with ``u`` drawn from ``default_rng([seed, 1, epoch]).random()`` — first one
per remainder position, then one per random-row position, both in position order. A new ``epoch`` redraws
the random choices and keeps the orders, like the original.

**Weighted**: each of ``total_length`` positions draws its source with probabilities ``weights`` (normalised):
source ``i`` where ``u`` from ``default_rng([seed, 2, epoch]).random()`` falls in ``[cdf[i-1], cdf[i])``; each
source hands out its rows in ``default_rng([seed, 3, i, epoch]).permutation(n_i)`` order, a fresh permutation
per pass over the source (no repeats before the source is exhausted).

Both work on map-style ``datasets.Dataset`` (the result is one ``Dataset`` with the planned rows, in plan order
— shuffle it with the DataLoader's sampler as the original did) and on streaming ``IterableDataset`` (each
source is filtered by interval, optionally buffer-shuffled and repeated endlessly; balance takes the sources
round-robin, so position ``p`` is source ``p % k``; weighted uses ``datasets.interleave_datasets`` with the
probabilities; both stop after ``total_length``). For distributed streaming, split every source with
``load_ehps_dataset(..., rank=, world_size=)`` first and give each rank its share of ``total_length``.

Example::

    >>> source, row = balanced_index_plan([3, 10], total_length=9, seed=0, shuffle=False)
    >>> source.tolist(), row.tolist()  # doctest: +SKIP
    ([0, 0, 0, 0, 1, 1, 1, 1, <random source>], [0, 1, 2, <random row>, 0, 1, 2, 3, 0])
    >>> mixed = balanced_mix([agora, ubody], total_length=100_000, sample_intervals=[1, 10])  # doctest: +SKIP
"""

from typing import Optional, Sequence

import numpy as np
from datasets import Dataset, IterableDataset, concatenate_datasets, interleave_datasets


_PERMUTATION, _BALANCE_DRAWS, _WEIGHTED_SOURCE, _WEIGHTED_ORDER = 0, 1, 2, 3  # rng stream tags (see docstring)


def _check_lengths(lengths) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if lengths.size == 0:
        raise ValueError("need at least one dataset to mix.")
    if np.any(lengths < 1):
        raise ValueError(
            f"every dataset must keep at least one sample after its sample interval; lengths are {lengths.tolist()}."
        )
    return lengths


def _check_seed(seed: int, epoch: int = 0) -> None:
    if int(seed) < 0 or int(epoch) < 0:
        raise ValueError(f"seed and epoch must be non-negative integers, got seed={seed}, epoch={epoch}.")


def balanced_index_plan(
    lengths, total_length: Optional[int] = None, *, seed: int = 0, epoch: int = 0, shuffle: bool = True
):
    """The "balance" plan: (source, row) int64 arrays of length ``total_length`` (see the module docstring).

    ``lengths`` are the rows each source keeps (after its sample interval); ``row`` indexes those.
    """
    lengths = _check_lengths(lengths)
    _check_seed(seed, epoch)
    num_sources = lengths.size
    total_length = int(lengths.sum()) if total_length is None else int(total_length)
    if total_length < num_sources:
        raise ValueError(f"total_length ({total_length}) must be at least the number of datasets ({num_sources}).")
    per_source = total_length // num_sources
    draws = np.random.default_rng([seed, _BALANCE_DRAWS, epoch])

    position = np.arange(total_length, dtype=np.int64)
    source = position // per_source
    row = position % per_source
    remainder = source >= num_sources
    source[remainder] = np.floor(draws.random(int(remainder.sum())) * num_sources).astype(np.int64)

    size = lengths[source]
    whole_repeats_end = size * (per_source // size)
    random_row = (size < per_source) & (row >= whole_repeats_end)
    row[random_row] = np.floor(draws.random(int(random_row.sum())) * size[random_row]).astype(np.int64)
    row[~random_row] %= size[~random_row]

    if shuffle:
        for index, count in enumerate(lengths):
            order = np.random.default_rng([seed, _PERMUTATION, index]).permutation(count)
            chosen = source == index
            row[chosen] = order[row[chosen]]
    return source, row


def weighted_index_plan(lengths, weights, total_length: int, *, seed: int = 0, epoch: int = 0):
    """The weighted plan: (source, row) int64 arrays; sources drawn with ``weights``, rows without repeats per pass."""
    lengths = _check_lengths(lengths)
    _check_seed(seed, epoch)
    probabilities = _normalised_weights(weights, lengths.size)
    total_length = int(total_length)
    if total_length < 1:
        raise ValueError(f"total_length must be positive, got {total_length}.")
    cumulative = np.cumsum(probabilities)
    cumulative[-1] = 1.0  # so rounding can never leave a draw past the last source
    uniforms = np.random.default_rng([seed, _WEIGHTED_SOURCE, epoch]).random(total_length)
    source = np.searchsorted(cumulative, uniforms, side="right").astype(np.int64)
    row = np.empty(total_length, dtype=np.int64)
    for index, count in enumerate(lengths):
        chosen = np.flatnonzero(source == index)
        passes = -(-chosen.size // count)
        rng = np.random.default_rng([seed, _WEIGHTED_ORDER, index, epoch])
        order = np.concatenate([rng.permutation(count) for _ in range(passes)]) if passes else np.zeros(0, np.int64)
        row[chosen] = order[: chosen.size]
    return source, row


def _normalised_weights(weights, num_sources: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if weights.size != num_sources or not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(
            f"weights must be {num_sources} non-negative finite numbers with a positive sum, got {weights.tolist()}."
        )
    return weights / weights.sum()


def _intervals(sample_intervals, num_sources: int) -> list:
    intervals = [1] * num_sources if sample_intervals is None else [int(k) for k in sample_intervals]
    if len(intervals) != num_sources or any(k < 1 for k in intervals):
        raise ValueError(f"sample_intervals must be {num_sources} integers >= 1, got {sample_intervals}.")
    return intervals


def _kind(datasets_: Sequence) -> str:
    if all(isinstance(d, Dataset) for d in datasets_):
        return "map"
    if all(isinstance(d, IterableDataset) for d in datasets_):
        return "streaming"
    raise TypeError(
        "mix either only map-style datasets.Dataset or only streaming datasets.IterableDataset, got "
        f"{[type(d).__name__ for d in datasets_]}."
    )


def _kept_rows(dataset: Dataset, interval: int) -> np.ndarray:
    """Row numbers whose ``source_index`` is a multiple of ``interval`` (row numbers without that column)."""
    if interval == 1:
        return np.arange(len(dataset), dtype=np.int64)
    if "source_index" in dataset.column_names:
        source_index = np.asarray(dataset.with_format("numpy", columns=["source_index"])["source_index"], np.int64)
    else:
        source_index = np.arange(len(dataset), dtype=np.int64)
    return np.flatnonzero(source_index % interval == 0)


def _select_plan(datasets_: Sequence[Dataset], kept: list, source: np.ndarray, row: np.ndarray) -> Dataset:
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in datasets_])[:-1]]).astype(np.int64)
    global_rows = np.empty(source.size, dtype=np.int64)
    for index, rows in enumerate(kept):
        chosen = source == index
        global_rows[chosen] = offsets[index] + rows[row[chosen]]
    return concatenate_datasets(list(datasets_)).select(global_rows)


class _EveryNthSource:
    """Streaming filter keeping rows whose ``source_index`` is a multiple of ``interval`` (picklable for workers)."""

    def __init__(self, interval: int):
        self.interval = interval

    def __call__(self, example) -> bool:
        return int(example["source_index"]) % self.interval == 0


def _endless_sources(datasets_, intervals, seed: int, shuffle: bool, buffer_size: int) -> list:
    sources = []
    for index, (dataset, interval) in enumerate(zip(datasets_, intervals)):
        if interval > 1:
            dataset = dataset.filter(_EveryNthSource(interval))
        if shuffle:
            dataset = dataset.shuffle(seed=seed + index, buffer_size=buffer_size)
        sources.append(dataset.repeat(None))
    return sources


def balanced_mix(
    datasets_: Sequence,
    total_length: Optional[int] = None,
    *,
    sample_intervals: Optional[Sequence[int]] = None,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    buffer_size: int = 1000,
):
    """Mix datasets with the "balance" strategy: each contributes ``total_length // k`` samples per epoch.

    Map-style sources give a ``Dataset`` whose row ``p`` is position ``p`` of ``balanced_index_plan``; streaming
    sources (``total_length`` required) give an ``IterableDataset`` taking them round-robin. ``shuffle`` orders
    each source with ``seed`` (streaming: a ``buffer_size`` shuffle buffer).
    """
    kind = _kind(datasets_)
    intervals = _intervals(sample_intervals, len(datasets_))
    if kind == "map":
        kept = [_kept_rows(dataset, interval) for dataset, interval in zip(datasets_, intervals)]
        source, row = balanced_index_plan(
            [rows.size for rows in kept], total_length, seed=seed, epoch=epoch, shuffle=shuffle
        )
        return _select_plan(datasets_, kept, source, row)
    if total_length is None or int(total_length) < len(datasets_):
        raise ValueError(
            f"streaming mixing needs total_length >= the number of datasets ({len(datasets_)}), got {total_length}."
        )
    _check_seed(seed, epoch)
    sources = _endless_sources(datasets_, intervals, seed, shuffle, buffer_size)
    mixed = interleave_datasets(sources, stopping_strategy="first_exhausted").take(int(total_length))
    mixed.set_epoch(epoch)
    return mixed


def weighted_mix(
    datasets_: Sequence,
    weights: Sequence[float],
    total_length: int,
    *,
    sample_intervals: Optional[Sequence[int]] = None,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    buffer_size: int = 1000,
):
    """Mix datasets by probability: each of ``total_length`` samples comes from source ``i`` with ``weights[i]``.

    Map-style: rows in ``weighted_index_plan(seed=seed, epoch=epoch)`` order. Streaming:
    ``interleave_datasets(probabilities=weights, seed=seed)`` over endlessly repeated sources.
    """
    kind = _kind(datasets_)
    intervals = _intervals(sample_intervals, len(datasets_))
    probabilities = _normalised_weights(weights, len(datasets_))
    _check_seed(seed, epoch)
    if kind == "map":
        kept = [_kept_rows(dataset, interval) for dataset, interval in zip(datasets_, intervals)]
        source, row = weighted_index_plan(
            [rows.size for rows in kept], probabilities, total_length, seed=seed, epoch=epoch
        )
        if not shuffle:  # rows in stored order within each source, still chosen with the weights
            for index, rows in enumerate(kept):
                chosen = source == index
                row[chosen] = np.arange(chosen.sum()) % rows.size
        return _select_plan(datasets_, kept, source, row)
    sources = _endless_sources(datasets_, intervals, seed, shuffle, buffer_size)
    mixed = interleave_datasets(
        sources, probabilities=probabilities.tolist(), seed=seed, stopping_strategy="first_exhausted"
    ).take(int(total_length))
    mixed.set_epoch(epoch)
    return mixed


__all__ = ["balanced_index_plan", "balanced_mix", "weighted_index_plan", "weighted_mix"]
