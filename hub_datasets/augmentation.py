"""Training-time augmentation parameters: what the original SMPLest-X draws per sample, reproducible by seed.

The original (``utils/data_utils.py``, ``get_aug_config``) draws, per training sample:

* scale ``clip(n, -1, 1) * 0.25 + 1`` (box sides times 0.75 .. 1.25; > 1 zooms out), ``n ~ N(0, 1)``;
* in-plane rotation ``clip(n, -2, 2) * 30`` degrees with probability 0.6, else 0;
* colour ``uniform(0.8, 1.2)`` per RGB channel, multiplied into the crop before clipping to the 8-bit range;
* horizontal flip with probability 0.5.

Here every sample draws from its own generator, ``numpy.random.default_rng([seed, epoch, key])`` where ``key``
is a stable 64-bit hash of the sample id (plus its dataset index when one is given): the parameters of a sample
do not depend on batch composition, worker or order, and a new epoch redraws them.

>>> parameters = AugmentationParameters.sample(["agora/train/00000001"], seed=0, epoch=0)
>>> len(parameters), 0.75 <= float(parameters.scale[0]) <= 1.25
(1, True)
>>> AugmentationParameters.identity(2).flip.tolist()
[False, False]
"""

import hashlib
from dataclasses import dataclass, fields
from typing import Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class AugmentationConfig:
    """Ranges and probabilities of the augmentation (defaults: the original SMPLest-X's)."""

    scale_factor: float = 0.25
    rotation_factor: float = 30.0
    rotation_probability: float = 0.6
    flip_probability: float = 0.5
    color_factor: float = 0.2

    def __post_init__(self):
        for name in ("scale_factor", "rotation_factor", "color_factor"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"AugmentationConfig.{name} must be a finite number >= 0, got {getattr(self, name)!r}.")
        if not self.scale_factor < 1:
            raise ValueError(f"AugmentationConfig.scale_factor must be < 1 (scales stay positive), got {self.scale_factor}.")
        if not self.color_factor <= 1:
            raise ValueError(f"AugmentationConfig.color_factor must be <= 1 (colour scales stay >= 0), got {self.color_factor}.")
        for name in ("rotation_probability", "flip_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"AugmentationConfig.{name} must be in [0, 1], got {getattr(self, name)!r}.")


def sample_key(sample_id: str, index: Optional[int] = None) -> int:
    """Stable 64-bit key of a sample (not Python's ``hash``, which changes between processes)."""
    text = str(sample_id) if index is None else f"{sample_id}#{int(index)}"
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass
class AugmentationParameters:
    """Per-sample augmentation of a batch of N samples.

    Attributes:
        scale: (N,) factor on the processed box sides (> 1 shows more context).
        rotation: (N,) in-plane rotation in degrees (the crop content turns by ``-rotation``, as in
            ``smplest_hf.models.smplest_x.cropping.crop_affine_matrices``).
        flip: (N,) bool, mirror the image horizontally (before the rotation).
        color_scale: (N, 3) per-channel factors on the RGB crop.
    """

    scale: np.ndarray
    rotation: np.ndarray
    flip: np.ndarray
    color_scale: np.ndarray

    def __post_init__(self):
        self.scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        count = len(self.scale)
        self.rotation = np.broadcast_to(np.asarray(self.rotation, dtype=np.float64), (count,)).copy()
        self.flip = np.broadcast_to(np.asarray(self.flip, dtype=bool), (count,)).copy()
        self.color_scale = np.broadcast_to(np.asarray(self.color_scale, dtype=np.float64), (count, 3)).copy()
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all() and np.isfinite(self.rotation).all()):
            raise ValueError(
                f"augmentation scales must be finite and positive and rotations finite, got scale {self.scale.tolist()}, "
                f"rotation {self.rotation.tolist()}."
            )

    def __len__(self) -> int:
        return len(self.scale)

    @classmethod
    def identity(cls, count: int) -> "AugmentationParameters":
        """No augmentation for ``count`` samples (evaluation)."""
        return cls(scale=np.ones(count), rotation=0.0, flip=False, color_scale=1.0)

    @classmethod
    def sample(
        cls,
        sample_ids: Sequence[str],
        seed: int,
        epoch: int = 0,
        config: AugmentationConfig = AugmentationConfig(),
        indices: Optional[Sequence[int]] = None,
    ) -> "AugmentationParameters":
        """Draw the parameters of each sample from its own generator (see the module docstring)."""
        if int(seed) < 0 or int(epoch) < 0:
            raise ValueError(f"seed and epoch must be non-negative integers, got seed={seed}, epoch={epoch}.")
        if indices is not None and len(indices) != len(sample_ids):
            raise ValueError(f"got {len(indices)} indices for {len(sample_ids)} samples.")
        count = len(sample_ids)
        normals, uniforms, colors = np.empty((count, 2)), np.empty((count, 2)), np.empty((count, 3))
        for row, sample_id in enumerate(sample_ids):
            key = sample_key(sample_id, None if indices is None else indices[row])
            generator = np.random.default_rng([int(seed), int(epoch), key])
            normals[row] = generator.standard_normal(2)
            uniforms[row] = generator.random(2)
            colors[row] = generator.uniform(1.0 - config.color_factor, 1.0 + config.color_factor, 3)
        rotate = uniforms[:, 0] < config.rotation_probability
        return cls(
            scale=np.clip(normals[:, 0], -1.0, 1.0) * config.scale_factor + 1.0,
            rotation=np.where(rotate, np.clip(normals[:, 1], -2.0, 2.0) * config.rotation_factor, 0.0),
            flip=uniforms[:, 1] < config.flip_probability,
            color_scale=colors,
        )

    def select(self, rows) -> "AugmentationParameters":
        """The parameters of some samples (an index array or slice)."""
        return AugmentationParameters(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


__all__ = ["AugmentationConfig", "AugmentationParameters", "sample_key"]
