"""Helpers of `examples/train.py`: the config file, optimiser and schedule, freezing, checkpoints, logging.

The training loop itself is `examples/train.py` (a plain Accelerate loop); the data side (EHPS datasets,
augmentation, mixing) is `hub_datasets`. Nothing here imports `hub_datasets`.

>>> from smplest_hf.training import TrainingConfig, build_optimizer, warmup_cosine_schedule
>>> config = TrainingConfig.from_yaml("examples/configs/tiny_synthetic.yaml")   # doctest: +SKIP
"""

from .checkpointing import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    read_trainer_state,
    resolve_resume_checkpoint,
    save_model_directory,
)
from .config import (
    CheckpointOptions,
    DataOptions,
    DatasetSource,
    EvaluationOptions,
    LoggingOptions,
    ModelOptions,
    OptimizationOptions,
    TrainingConfig,
    TrainingConfigError,
)
from ..models.smplest_x.attention_implementation import choose_attention_implementation
from .initialization import init_layers_for_width, init_readouts_at_rest_pose
from .optimization import (
    WarmupCosineFactor,
    build_optimizer,
    freeze_layers,
    warmup_cosine_schedule,
)
from .sampling import EpochShuffleSampler
from .loggers import JsonlTracker, read_metrics, select_trackers

__all__ = [
    "CheckpointOptions",
    "DataOptions",
    "DatasetSource",
    "EpochShuffleSampler",
    "EvaluationOptions",
    "JsonlTracker",
    "LoggingOptions",
    "ModelOptions",
    "OptimizationOptions",
    "TrainingConfig",
    "TrainingConfigError",
    "WarmupCosineFactor",
    "build_optimizer",
    "checkpoint_path",
    "choose_attention_implementation",
    "freeze_layers",
    "init_layers_for_width",
    "init_readouts_at_rest_pose",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "read_metrics",
    "read_trainer_state",
    "resolve_resume_checkpoint",
    "save_model_directory",
    "select_trackers",
    "warmup_cosine_schedule",
]
