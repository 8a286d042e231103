"""Stage 1 of training from scratch: teach a new model's encoder where the joints are (2D keypoints, ViTPose-style).

The original SMPLest-X never trains its ViT from scratch: it starts from ViTPose, a ViT trained to predict 2D
keypoint heatmaps from its patch tokens. A model trained from scratch on the SMPL-X losses alone gets one global
regression signal per image, and a small one (the tiny preset) settles on the mean pose. This script gives the
encoder the dense, spatial signal first: a linear head on each patch token predicts, for every joint, how likely
the joint lies in that patch (cross-entropy against a Gaussian over the 16x12 patch grid, joints outside the crop
ignored). It uses the training config's model (preset, normalisation, initialisations) and data (datasets, box
ratio, augmentation) exactly as `train.py` builds them, trains only the encoder, drops the head and saves the whole
model (encoder trained, decoder as initialised) with its image processor. Stage 2 starts from it:

    python examples/pretrain_encoder_2d.py --config examples/configs/tiny_synthetic_encoder_2d.yaml --steps 1500 \\
        --output outputs/tiny_encoder_2d
    python examples/train.py --config examples/configs/tiny_synthetic.yaml   # model.from_pretrained: that folder

Plain single-process PyTorch:
this is a CPU-sized warm-up for the demo model; for real sizes, start from ViTPose weights instead
(`model.vitpose_checkpoint`).
"""

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

from smplest_hf.models.smplest_x.smplx_layout import NUM_SUPERVISION_JOINTS
from smplest_hf.training import (
    TrainingConfig,
    build_optimizer,
    save_model_directory,
    warmup_cosine_schedule,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train as recipe  # the sibling script: the same model and data builders

logger = logging.getLogger("pretrain_encoder_2d")

HEATMAP_SIGMA_PATCHES = 1.0
"""Width of the target Gaussian, in patches (16 pixels): a joint spreads over its patch and the neighbours."""


class PatchKeypointHead(nn.Module):
    """Patch tokens (N, P, D) -> per-joint logits over the P patches (N, K, P)."""

    def __init__(self, hidden_size: int, num_joints: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.linear = nn.Linear(hidden_size, num_joints)

    def forward(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(patch_tokens)).transpose(1, 2)


def patch_centres(config) -> torch.Tensor:
    """(P, 2) body-input pixel (x, y) of each patch token's centre, in the encoder's token order (row-major).

    The patch convolution (kernel = stride = patch_size, padding `patch_padding`) reads input pixels
    `[k * stride - padding, k * stride - padding + kernel)` for output `k`."""
    rows, columns = config.patch_grid_size
    stride, padding = config.patch_size, config.patch_padding

    def centre(count):
        return torch.arange(count, dtype=torch.float32) * stride - padding + (stride - 1) / 2

    y, x = torch.meshgrid(centre(rows), centre(columns), indexing="ij")
    return torch.stack((x.reshape(-1), y.reshape(-1)), dim=-1)


def heatmap_targets(keypoints_2d: torch.Tensor, valid: torch.Tensor, centres: torch.Tensor, patch_size: int) -> tuple:
    """(N, K, 2) keypoints + (N, K) validity -> (N, K, P) target distributions over patches and (N, K) weights."""
    squared = ((keypoints_2d[:, :, None, :] - centres[None, None]) ** 2).sum(-1) / float(patch_size) ** 2
    target = torch.softmax(-squared / (2 * HEATMAP_SIGMA_PATCHES**2), dim=-1)
    return target, valid.float()


def keypoint_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between each joint's predicted and target distribution over patches, mean over valid joints."""
    per_joint = -(target * torch.log_softmax(logits, dim=-1)).sum(-1)
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def pretrain(config: TrainingConfig, steps: int, output: Path, learning_rate: float = 1e-3, log_every: int = 50) -> dict:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if config.model.from_pretrained is not None:
        raise ValueError("Stage 1 builds a new model: its config must not set model.from_pretrained.")
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    model, processor, _ = recipe.build_model(config)
    model.to(accelerator.device).train()
    loader, sampler, transform, _ = recipe.build_training_data(config, processor, accelerator)
    head = PatchKeypointHead(model.config.hidden_size, NUM_SUPERVISION_JOINTS).to(accelerator.device)
    parameters = list(model.encoder.parameters()) + list(head.parameters())
    optimizer = build_optimizer(nn.ModuleList([model.encoder, head]), learning_rate, weight_decay=config.optimization.weight_decay)
    scheduler = warmup_cosine_schedule(optimizer, steps, min_learning_rate=learning_rate / 50, warmup_steps=min(100, steps // 10))
    centres = patch_centres(model.config).to(accelerator.device)
    num_task_tokens = model.config.num_task_tokens

    history, step, epoch, started = [], 0, 0, time.perf_counter()
    while step < steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        transform.set_epoch(epoch)
        for batch in loader:
            pixel_values = batch["pixel_values"].to(accelerator.device)
            labels = {name: value.to(accelerator.device) for name, value in batch["labels"].items()}
            tokens = model.encoder(pixel_values)[:, num_task_tokens:]  # (N, 192, D) patch tokens
            target, weight = heatmap_targets(labels["keypoints_2d"], labels["joints_valid"], centres, model.config.patch_size)
            loss = keypoint_loss(head(tokens), target, weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.optimization.max_grad_norm or math.inf)
            optimizer.step()
            scheduler.step()
            step += 1
            history.append(loss.item())
            if step % log_every == 0 or step == steps:
                recent = history[-log_every:]
                logger.info("step %d/%d  keypoint loss %.4f  (%.2f s/step)", step, steps, sum(recent) / len(recent),
                            (time.perf_counter() - started) / step)  # fmt: skip
            if step >= steps:
                break
        epoch += 1

    model.eval()
    card = (f"Stage 1 of the from-scratch recipe: encoder trained {steps} steps on 2D keypoints by "
            f"`examples/pretrain_encoder_2d.py` (decoder as initialised); not a mesh-recovery model yet.")  # fmt: skip
    save_model_directory(model, output, processor, card_extra=card)
    summary = {"steps": steps, "seconds": time.perf_counter() - started, "keypoint_losses": history, "output": str(output)}
    (Path(output) / "pretraining_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the training config whose model and data to use")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--output", required=True, help="folder for the model directory")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = TrainingConfig.from_yaml(args.config, overrides)
    summary = pretrain(config, args.steps, Path(args.output), learning_rate=args.learning_rate)
    losses = summary["keypoint_losses"]
    window = min(50, len(losses))
    print(f"{summary['steps']} steps in {summary['seconds']:.0f} s; keypoint loss {sum(losses[:window]) / window:.3f} "
          f"(first {window} steps) -> {sum(losses[-window:]) / window:.3f} (last {window}); model: {summary['output']}")
    return summary


if __name__ == "__main__":
    main()
