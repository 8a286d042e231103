"""Training checkpoints: an HF model directory with the full Accelerate training state inside.

Layout of `output_dir/checkpoint-<step>/` (step zero-padded to 8 digits so names sort):

    config.json, model.safetensors, preprocessor_config.json, README.md, code files   <- from_pretrained() loads it
    trainer_state.json     step, epoch and batches consumed in it, the config, the latest evaluation
    training_state/        accelerator.save_state(): weights, optimizer, scheduler, RNG states of every process

A checkpoint is written into `checkpoint-<step>.tmp/` and renamed when complete, so a directory without `.tmp`
is always whole; `latest_checkpoint` only considers complete ones.

>>> from pathlib import Path
>>> checkpoint_path("outputs/run", 1200).name
'checkpoint-00001200'
>>> latest_checkpoint(Path("does/not/exist")) is None
True
"""

import json
import re
import shutil
from pathlib import Path

CHECKPOINT_PREFIX = "checkpoint-"
TRAINING_STATE_DIR = "training_state"
TRAINER_STATE_FILE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_path(output_dir, step: int) -> Path:
    """Where the checkpoint after optimizer step `step` lives."""
    return Path(output_dir) / f"{CHECKPOINT_PREFIX}{int(step):08d}"


def list_checkpoints(output_dir) -> list:
    """Complete checkpoints in `output_dir` as (step, path), oldest first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        if match and path.is_dir() and (path / TRAINER_STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir) -> Path | None:
    """The newest complete checkpoint in `output_dir`, or None."""
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1][1] if checkpoints else None


def resolve_resume_checkpoint(resume_from: str | None, output_dir) -> Path | None:
    """`checkpointing.resume_from` -> a checkpoint directory, or None to start fresh.

    `latest` picks the newest complete checkpoint in `output_dir` (None when there is none yet, so the same
    command starts a run and continues it after an interruption). A path must be a complete checkpoint.
    """
    if resume_from is None:
        return None
    if resume_from == "latest":
        return latest_checkpoint(output_dir)
    path = Path(resume_from)
    missing = [name for name in (TRAINER_STATE_FILE, TRAINING_STATE_DIR) if not (path / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"Cannot resume from {str(path)!r}: it lacks {missing}. Give a checkpoint directory written by "
            f"examples/train.py ({output_dir}/{CHECKPOINT_PREFIX}NNNNNNNN) or `latest`."
        )
    return path


def read_trainer_state(checkpoint_dir) -> dict:
    return json.loads((Path(checkpoint_dir) / TRAINER_STATE_FILE).read_text())


def prune_checkpoints(output_dir, total_limit: int | None) -> list:
    """Delete all but the newest `total_limit` complete checkpoints; returns the deleted paths."""
    if total_limit is None:
        return []
    checkpoints = list_checkpoints(output_dir)
    deleted = [path for _, path in checkpoints[: max(len(checkpoints) - total_limit, 0)]]
    for path in deleted:
        shutil.rmtree(path)
    return deleted


def save_model_directory(model, directory, processor=None, *, state_dict=None, is_main_process=True,
                         save_function=None, card_extra: str = "", base_model: str | None = None,
                         datasets: list[str] | None = None) -> None:  # fmt: skip
    """`save_pretrained` of the (unwrapped) model plus its image processor and a model card with `card_extra`,
    `base_model` (what training started from) and `datasets` (what it trained on; Hub repo ids reach the card).

    `state_dict`: the full weights when the model is sharded (`accelerator.get_state_dict(model)`); every
    process must call this then, only the main one writes.
    """
    kwargs = {"is_main_process": is_main_process}
    if state_dict is not None:
        kwargs["state_dict"] = state_dict
    if save_function is not None:
        kwargs["save_function"] = save_function
    model.save_pretrained(directory, **kwargs)
    if is_main_process:
        if processor is not None:
            processor.save_pretrained(directory)
        if card_extra:
            from ..models.smplest_x.model_card import build_model_card

            card = build_model_card(model, extra=card_extra, base_model=base_model, datasets=datasets)
            card.save(str(Path(directory) / "README.md"))


__all__ = [
    "CHECKPOINT_PREFIX",
    "TRAINER_STATE_FILE",
    "TRAINING_STATE_DIR",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "read_trainer_state",
    "resolve_resume_checkpoint",
    "save_model_directory",
]
