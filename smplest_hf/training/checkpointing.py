"""Training checkpoints: an HF model directory with the full Accelerate training state inside.

Layout of `output_dir/checkpoint-<step>/` (step zero-padded to 8 digits so names sort):

    config.json, model.safetensors, preprocessor_config.json, README.md, code files   <- from_pretrained() loads it
    trainer_state.json     step, epoch and batches consumed in it, the config, the latest evaluation
    training_state/        `save_training_state`: optimizer, scheduler, RNG states of every process (the weights
                           are the checkpoint's `model.safetensors`, stored once)

The training state holds no pickle, so resuming from a downloaded checkpoint runs no code from it: tensors go to
`.safetensors` files, everything else to JSON (`<name>.safetensors` + `<name>.json` per state; see
`save_training_state`). FSDP and DeepSpeed runs shard their states in their own formats and keep Accelerate's
`save_state` (which pickles optimizer and RNG states).

A checkpoint is written into `checkpoint-<step>.tmp/` and renamed when complete, so a directory without `.tmp`
is always whole; `latest_checkpoint` only considers complete ones.

>>> from pathlib import Path
>>> checkpoint_path("outputs/run", 1200).name
'checkpoint-00001200'
>>> latest_checkpoint(Path("does/not/exist")) is None
True
"""

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from ..export.atomic import write_json_atomic

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


# ------------------------------------------------------------------------------------------- training state
OPTIMIZER_STATE = "optimizer"
SCHEDULER_STATE = "scheduler"
SCALER_STATE = "scaler"
RNG_STATE = "random_states_{process_index}"
_SHARDED = ("FSDP", "DEEPSPEED")  # DistributedType names whose states are sharded in their own formats


def _split_tensors(value, tensors: dict):
    """A nested state (dicts, lists, tuples, tensors, NumPy arrays, plain values) -> a JSON-able tree in which each
    tensor or array is a reference `{"__tensor__": key}` into `tensors` (filled here)."""
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value))
        return {"__ndarray__": key}
    if isinstance(value, dict):
        if all(isinstance(name, str) for name in value):
            return {"__dict__": {name: _split_tensors(item, tensors) for name, item in value.items()}}
        # Optimizer states are keyed by parameter index: JSON object keys would turn them into strings.
        return {"__items__": [[_split_tensors(name, tensors), _split_tensors(item, tensors)] for name, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"__tuple__" if isinstance(value, tuple) else "__list__": [_split_tensors(item, tensors) for item in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot store a {type(value).__name__} in a training state (tensors, arrays and plain values only).")


def _join_tensors(tree, tensors: dict):
    """The inverse of `_split_tensors`."""
    if not isinstance(tree, dict):
        return tree
    (kind, content), = tree.items()
    if kind == "__tensor__":
        return tensors[content]
    if kind == "__ndarray__":
        return tensors[content].numpy()
    if kind == "__dict__":
        return {name: _join_tensors(item, tensors) for name, item in content.items()}
    if kind == "__items__":
        return {_join_tensors(name, tensors): _join_tensors(item, tensors) for name, item in content}
    items = [_join_tensors(item, tensors) for item in content]
    return tuple(items) if kind == "__tuple__" else items


def save_state_files(state, directory, name: str) -> None:
    """Write a nested state as `directory/name.safetensors` (its tensors) + `directory/name.json` (the rest)."""
    tensors = {}
    tree = _split_tensors(state, tensors)
    save_file(tensors, str(Path(directory) / f"{name}.safetensors"))
    write_json_atomic(Path(directory) / f"{name}.json", tree)


def load_state_files(directory, name: str):
    """Read back what `save_state_files` wrote (tensors on the CPU); unpickles nothing."""
    tensors = load_file(str(Path(directory) / f"{name}.safetensors"))
    return _join_tensors(json.loads((Path(directory) / f"{name}.json").read_text()), tensors)


def _rng_states(step: int) -> dict:
    states = {"step": step, "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _is_sharded(accelerator) -> bool:
    return accelerator.distributed_type.name in _SHARDED


def save_training_state(accelerator, directory, model, optimizer, scheduler) -> None:
    """Everything a resumed run needs to continue bit for bit, without pickles; every process must call it.

    The main process writes `optimizer`, `scheduler` (and `scaler` with fp16 loss scaling); each process writes
    its `random_states_<i>` (Python, NumPy, torch and CUDA generators, and the Accelerator's micro-batch counter,
    which decides where gradient accumulation syncs). The weights are not written here: the checkpoint folder
    `directory` lives in holds them (`save_model_directory`), and `load_training_state` reads them from there.
    Under FSDP / DeepSpeed the states are sharded: Accelerate's `save_state` writes them (weights included).
    """
    directory = Path(directory)
    if _is_sharded(accelerator):
        accelerator.save_state(str(directory), safe_serialization=True)
        return
    directory.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_state_files(optimizer.state_dict(), directory, OPTIMIZER_STATE)
        save_state_files(scheduler.state_dict(), directory, SCHEDULER_STATE)
        if accelerator.scaler is not None:
            save_state_files(accelerator.scaler.state_dict(), directory, SCALER_STATE)
    save_state_files(_rng_states(accelerator.step), directory, RNG_STATE.format(process_index=accelerator.process_index))
    accelerator.wait_for_everyone()


def load_training_state(accelerator, directory, model, optimizer, scheduler) -> None:
    """Restore what `save_training_state` wrote into the prepared `model`, `optimizer`, `scheduler`, the RNGs and
    the Accelerator's step counter. A process beyond the saved run's count keeps its own RNG states. The weights
    come from the checkpoint folder above `directory` (`model.safetensors`, or its shards).

    The learning-rate schedule is this run's: the scheduler's step count is restored, its shape (total and
    warm-up steps, floor) is the one `scheduler` was built with, so raising `max_steps` on resume stretches the
    cosine over the new length instead of keeping the old one (whose lr would stay at its floor); the current
    learning rate is recomputed from it.

    Raises:
        FileNotFoundError: `directory` holds no such state (e.g. a pickled one from an older version, which is
            not loaded because unpickling runs code from the file).
    """
    directory = Path(directory)
    if _is_sharded(accelerator):
        accelerator.load_state(str(directory))
        return
    if not (directory / f"{OPTIMIZER_STATE}.json").is_file():
        raise FileNotFoundError(
            f"{directory} holds no safetensors training state ({OPTIMIZER_STATE}.json, ...): it was written by another "
            "version, which pickled it; pickles are not loaded (they can run code). Start from its model instead "
            "(model.from_pretrained: the checkpoint folder)."
        )
    _load_weights(accelerator.unwrap_model(model), directory.parent)
    optimizer.load_state_dict(load_state_files(directory, OPTIMIZER_STATE))
    scheduler_state = load_state_files(directory, SCHEDULER_STATE)
    if "lr_lambdas" in scheduler_state:  # the schedule's shape: this run's (see the docstring)
        scheduler_state["lr_lambdas"] = scheduler.state_dict()["lr_lambdas"]
    scheduler.load_state_dict(scheduler_state)
    _apply_schedule(getattr(scheduler, "scheduler", scheduler))  # Accelerate wraps it
    if accelerator.scaler is not None:
        accelerator.scaler.load_state_dict(load_state_files(directory, SCALER_STATE))
    rng_name = RNG_STATE.format(process_index=accelerator.process_index)
    if (directory / f"{rng_name}.json").is_file():
        states = load_state_files(directory, rng_name)
        accelerator.step = states["step"]
        _restore_rng_states(states)


def _load_weights(model, checkpoint_dir: Path) -> None:
    """The weights `save_pretrained` wrote into `checkpoint_dir` (one safetensors file, or shards with an index)."""
    index = checkpoint_dir / SAFE_WEIGHTS_INDEX_NAME
    if (checkpoint_dir / SAFE_WEIGHTS_NAME).is_file():
        files = [SAFE_WEIGHTS_NAME]
    elif index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        raise FileNotFoundError(f"{checkpoint_dir} holds no {SAFE_WEIGHTS_NAME}: not a complete checkpoint.")
    weights = {}
    for name in files:
        weights.update(load_file(str(checkpoint_dir / name)))
    model.load_state_dict(weights)


def _apply_schedule(scheduler) -> None:
    """Set every group's learning rate to what the scheduler's own lambdas give at its restored step."""
    rates = [base * factor(scheduler.last_epoch) for base, factor in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, rate in zip(scheduler.optimizer.param_groups, rates):
        group["lr"] = rate
    scheduler._last_lr = rates


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
    "load_state_files",
    "load_training_state",
    "prune_checkpoints",
    "read_trainer_state",
    "resolve_resume_checkpoint",
    "save_model_directory",
    "save_state_files",
    "save_training_state",
]
