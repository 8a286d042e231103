"""Optimiser, learning-rate schedule and layer-wise freezing for training SmplestXForHumanMeshRecovery.

The original SMPLest-X (`main/base.py`) optimises encoder and decoder with Adam at lr 1e-5 and anneals it with
`CosineAnnealingLR(T_max = epochs x iterations per epoch, eta_min = min_lr)`, stepped every iteration, without
warm-up or weight decay. `build_optimizer(..., weight_decay=0)` is that Adam (AdamW without decay is Adam), and
`warmup_cosine_schedule(..., warmup_steps=0)` gives the same learning rates as `CosineAnnealingLR`.

>>> import torch
>>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
>>> model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny"))
>>> frozen = freeze_layers(model, encoder_layers=2)          # patch embedding + first 2 blocks
>>> optimizer = build_optimizer(model, learning_rate=1e-5)
>>> scheduler = warmup_cosine_schedule(optimizer, total_steps=100, min_learning_rate=1e-6)
>>> round(scheduler.get_last_lr()[0], 12)
1e-05
"""

import math

import torch
from torch import nn


# --------------------------------------------------------------------------------------------- freezing
def freeze_layers(
    model: nn.Module, *, encoder: bool = False, encoder_layers: int = 0, patch_embedding: bool = False
) -> list:
    """Set `requires_grad=False` on parts of the encoder; returns the names of the frozen parameters.

    Args:
        encoder: the whole encoder (patch and position embeddings, task tokens, every block, final norm).
        encoder_layers: the patch embedding, position embeddings and the first K blocks; -1: every block and the
            final norm too. The task tokens stay trainable (ViTPose has none: they are always new).
        patch_embedding: the patch convolution and position embeddings only.

    Raises ValueError when `encoder_layers` exceeds the encoder's depth.
    """
    depth = len(model.encoder.layers)
    if encoder_layers > depth or encoder_layers < -1:
        raise ValueError(f"encoder_layers must be in [-1, {depth}] for this {depth}-block encoder, got {encoder_layers}.")
    prefixes = []
    if encoder:
        prefixes.append("encoder.")
    if patch_embedding or encoder_layers:
        prefixes += ["encoder.embeddings.patch_embedding.", "encoder.embeddings.position_embeddings"]
    blocks = depth if encoder_layers == -1 else encoder_layers
    prefixes += [f"encoder.layers.{index}." for index in range(blocks)]
    if encoder_layers == -1:
        prefixes.append("encoder.final_norm.")
    frozen = []
    for name, parameter in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            parameter.requires_grad_(False)
            frozen.append(name)
    return frozen


# -------------------------------------------------------------------------------------------- optimiser
def _decays(name: str, parameter: nn.Parameter) -> bool:
    """Weight matrices and convolution kernels decay; biases, norms, embeddings and tokens do not."""
    if parameter.ndim < 2:
        return False
    return not any(word in name for word in ("position_embedding", "task_tokens"))


def build_optimizer(
    model: nn.Module,
    learning_rate: float,
    *,
    weight_decay: float = 0.0,
    betas=(0.9, 0.999),
    epsilon: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, in two groups: with and without weight decay.

    Raises ValueError when nothing is trainable (everything frozen).
    """
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if _decays(name, parameter) else no_decay).append(parameter)
    if not decay and not no_decay:
        raise ValueError("Every parameter is frozen: nothing to optimise (check the freeze_* options).")
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([group for group in groups if group["params"]], lr=learning_rate, betas=tuple(betas), eps=epsilon)


# --------------------------------------------------------------------------------------------- schedule
class WarmupCosineFactor:
    """Multiplier of the base learning rate at a step: linear warm-up from 0, then cosine down to `min_ratio`.

    After warm-up, `min_ratio + (1 - min_ratio) * (1 + cos(pi * t / T)) / 2` with `t` steps since warm-up and
    `T = total_steps - warmup_steps` — `CosineAnnealingLR`'s closed form; it stays at `min_ratio` after `T`.
    A class (not a lambda) so `LambdaLR.state_dict()` saves it with a checkpoint.
    """

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float):
        if total_steps < 1 or not 0 <= warmup_steps < max(total_steps, 1) or not 0 <= min_ratio <= 1:
            raise ValueError(
                f"Need total_steps >= 1, 0 <= warmup_steps < total_steps and min_ratio in [0, 1]; got "
                f"total_steps={total_steps}, warmup_steps={warmup_steps}, min_ratio={min_ratio}."
            )
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        progress = min((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, *, min_learning_rate: float = 0.0, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A `LambdaLR` annealing every group from its lr to `min_learning_rate` over `total_steps` optimizer steps.

    Call `scheduler.step()` once per optimizer step.
    """
    base = optimizer.param_groups[0]["lr"]
    if any(group["lr"] != base for group in optimizer.param_groups):
        raise ValueError("warmup_cosine_schedule expects one learning rate for every parameter group.")
    factor = WarmupCosineFactor(total_steps, warmup_steps, min_learning_rate / base)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


__all__ = ["WarmupCosineFactor", "build_optimizer", "freeze_layers", "warmup_cosine_schedule"]
