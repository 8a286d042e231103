"""A shuffling sampler whose order depends only on (seed, epoch): the same on every process and after a resume.

>>> sampler = EpochShuffleSampler(5, seed=0)
>>> first = list(sampler); sampler.set_epoch(1); second = list(sampler)
>>> sorted(first) == sorted(second) == [0, 1, 2, 3, 4], first == list(EpochShuffleSampler(5, seed=0))
(True, True)
"""

import numpy as np
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler):
    """Indices `0 .. length - 1` in the order `numpy.random.default_rng([seed, epoch]).permutation(length)`.

    Every process draws the same permutation, so Accelerate's batch sharding gives each a disjoint share; a
    resumed run sets the same epoch and gets the same order (then skips the batches already seen). It keeps
    no generator of its own, so Accelerate has nothing to re-synchronise between processes.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True):
        if length < 1:
            raise ValueError(f"EpochShuffleSampler needs a non-empty dataset, got length {length}.")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}.")
        self.length, self.seed, self.shuffle, self.epoch = int(length), int(seed), bool(shuffle), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.length))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.length).tolist())

    def __len__(self) -> int:
        return self.length


__all__ = ["EpochShuffleSampler"]
