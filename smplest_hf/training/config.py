"""The training configuration: one YAML file, plain dataclasses, `--section.key=value` overrides on the command line.

A config file has the sections below (every key optional except `output_dir` and `data.train`); unknown keys
and wrongly typed values are errors that name the key, the file and what was expected. Relative paths are
relative to the working directory the script runs in.

```yaml
output_dir: outputs/tiny_synthetic
seed: 0
model: {preset: tiny, body_model_dir: synthetic}
data:
  train: [{path: data/synthetic, split: train}]
  bbox_ratio: 1.2                    # tight boxes (synthetic, detector boxes); null: HumanData's padded boxes
optimization: {batch_size: 16, epochs: 4, learning_rate: 5.0e-4, min_learning_rate: 1.0e-5}
evaluation: {dataset: data/synthetic, split: test, every_steps: 200}
checkpointing: {every_steps: 500, total_limit: 2}
logging: {every_steps: 10, log_with: [jsonl, tensorboard]}
```

>>> from smplest_hf.training import TrainingConfig
>>> config = TrainingConfig.from_dict({"output_dir": "out", "data": {"train": [{"path": "data/synthetic"}]}},
...                                   overrides=["--optimization.learning_rate=3e-4", "--seed=1"])
>>> config.optimization.learning_rate, config.seed, config.data.train[0].split
(0.0003, 1, 'train')
"""

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from ..models.smplest_x.attention_implementation import ATTENTION_IMPLEMENTATIONS


class TrainingConfigError(ValueError):
    """A training config (file or override) is invalid; the message names the key and what is expected."""


# ---------------------------------------------------------------------------------------------- sections
@dataclass
class ModelOptions:
    """What to train.

    Attributes:
        preset: `SmplestXConfig.from_preset` name (tiny, s, b, l, h) for a new model; ignored with `from_pretrained`.
        config_overrides: `SmplestXConfig` fields replacing the preset's (e.g. `{drop_path_rate: 0.1}`).
        loss_weights: loss-term weights replacing the original defaults (`SmplestXConfig.loss_weights`).
        from_pretrained: an SmplestX model directory or Hub id to start from (weights + config + processor).
        vitpose_checkpoint: a ViTPose backbone file (`vitpose_{small,base,large,huge}.pth`) copied into the
            encoder of a new model, as the original initialises training.
        trust_pickle: allow full unpickling of `vitpose_checkpoint` if `torch.load(weights_only=True)` refuses it.
        body_model_dir: the folder holding `smplx/SMPLX_NEUTRAL.npz` (the joint losses need it); `synthetic`: the
            synthetic body model (cached in the user cache); null: `$SMPLX_MODEL_DIR`.
        init_readouts_at_rest_pose: start a new model's rotation readouts at the rest pose, upright and facing
            the camera, instead of random rotations (see `smplest_hf.training.initialization`; not in the original).
        init_layers_for_width: re-draw a new model's encoder/decoder linear weights with a std scaled to its width
            (`0.02 * sqrt(768 / hidden_size)`), so a narrow model's attention starts as sharp as ViT-B's (see
            `smplest_hf.training.initialization`; not in the original).
        gradient_checkpointing: recompute encoder/decoder layers in backward (less memory, ~30 % slower).
        attn_implementation: `auto` (default: `eager` for bf16 / fp16 mixed precision on CPU, where the sdpa
            flash-attention backward is slow, else `sdpa`; see `smplest_hf.models.smplest_x.attention_implementation`), `sdpa` or `eager`.
        image_mean / image_std: per-channel normalisation of the [0, 1] crops, `(x - mean) / std`, for a new model
            (null: none, as the original); saved in its image processor, so inference normalises the same way.
    """

    preset: str | None = "tiny"
    config_overrides: dict = field(default_factory=dict)
    loss_weights: dict = field(default_factory=dict)
    from_pretrained: str | None = None
    vitpose_checkpoint: str | None = None
    trust_pickle: bool = False
    body_model_dir: str | None = None
    init_readouts_at_rest_pose: bool = False
    init_layers_for_width: bool = False
    gradient_checkpointing: bool = False
    attn_implementation: str = "auto"
    image_mean: list | None = None
    image_std: list | None = None


@dataclass
class DatasetSource:
    """One EHPS training dataset (`hub_datasets` layout): a local directory or Hub dataset repo id.

    `sample_interval` keeps every k-th row (the original's `*_train_sample_interval`); `weight` is used by
    `data.mixing: weighted`.
    """

    path: str
    split: str = "train"
    sample_interval: int = 1
    weight: float = 1.0


@dataclass
class DataOptions:
    """Training data.

    Attributes:
        train: the datasets; several are mixed by `mixing`.
        mixing: `balance` (the original: every dataset fills `total_length / k` positions), `weighted` (by
            `weight`), or `concat`.
        total_length: samples per epoch of a mix (null: the sum of the datasets' lengths; required for streaming).
        augment: the original's scale / rotation / flip / colour augmentation.
        augmentation: its ranges and probabilities, replacing the original's (`hub_datasets.augmentation.
            AugmentationConfig` fields: scale_factor, rotation_factor, rotation_probability, flip_probability,
            color_factor), e.g. `{rotation_probability: 0}`.
        bbox_ratio: box enlargement before cropping; null: `1.2 * 0.833` for HumanData boxes, which are stored
            already padded (the original's rule); use 1.2 for tight boxes (synthetic data, detector boxes).
        num_workers: DataLoader worker processes per training process.
        streaming: read the datasets lazily (`datasets.IterableDataset`), split across processes by shards.
        shuffle_buffer_size: the streaming shuffle buffer.
    """

    train: list = field(default_factory=list)
    mixing: str = "balance"
    total_length: int | None = None
    augment: bool = True
    augmentation: dict = field(default_factory=dict)
    bbox_ratio: float | None = None
    num_workers: int = 0
    streaming: bool = False
    shuffle_buffer_size: int = 1000


@dataclass
class OptimizationOptions:
    """Optimiser, schedule, precision and freezing.

    The original SMPLest-X trains with Adam (no weight decay, i.e. AdamW with `weight_decay: 0`), lr 1e-5
    cosine-annealed per iteration to 1e-6 over all iterations, no warm-up, no gradient clipping, fp32.

    Attributes:
        batch_size: samples per process per micro-step; the effective batch is
            `batch_size * gradient_accumulation_steps * num_processes`.
        epochs / max_steps: training length; `max_steps` (optimizer steps) wins when set.
        learning_rate / min_learning_rate: cosine annealing from one to the other over the run.
        warmup_steps: linear warm-up from 0 before the cosine (0 in the original).
        weight_decay: AdamW decoupled weight decay on weight matrices (not on biases, norms, embeddings, tokens).
        max_grad_norm: clip the global gradient norm (null: no clipping, as the original).
        mixed_precision: `no`, `fp16` or `bf16`; null: what `accelerate launch` was given (default `no`).
        freeze_encoder: freeze the whole encoder (embeddings, task tokens, blocks, final norm).
        freeze_encoder_layers: freeze the patch embedding and the first K encoder blocks (-1: all blocks and the
            final norm); the task tokens stay trainable.
        freeze_patch_embedding: freeze the patch convolution and position embeddings only.
    """

    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    epochs: int = 1
    max_steps: int | None = None
    learning_rate: float = 1e-5
    min_learning_rate: float = 1e-6
    warmup_steps: int = 0
    weight_decay: float = 0.0
    adam_betas: list = field(default_factory=lambda: [0.9, 0.999])
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = None
    mixed_precision: str | None = None
    freeze_encoder: bool = False
    freeze_encoder_layers: int = 0
    freeze_patch_embedding: bool = False


@dataclass
class EvaluationOptions:
    """Periodic evaluation with `smplest_hf.evaluation.run.evaluate` (errors in mm, MPE over the benchmarks).

    Attributes:
        dataset: a held-out EHPS dataset evaluated as the benchmark `heldout` (with `split`, `bbox_ratio`,
            `gender`, `metrics`); primary metric: the first of `metrics`.
        benchmarks: registered benchmarks as `name` or `name=PATH` (see `smplest_hf.evaluation.benchmarks`).
        every_steps: evaluate every N optimizer steps (0: never during training); `at_end`: after the last step.
        batch_size: per process. max_samples: per benchmark (null: all).
    """

    dataset: str | None = None
    split: str = "test"
    bbox_ratio: float = 1.2
    gender: str = "per_sample"
    metrics: list = field(default_factory=lambda: ["pve_all", "pa_pve_all"])
    benchmarks: list = field(default_factory=list)
    every_steps: int = 0
    at_end: bool = True
    batch_size: int = 16
    max_samples: int | None = None


@dataclass
class CheckpointOptions:
    """Checkpoints: `output_dir/checkpoint-<step>/`, an HF model directory (`from_pretrained` loads it) with the
    full training state in `training_state/` (`checkpointing.save_training_state`: safetensors + JSON).

    Attributes:
        every_steps: save every N optimizer steps (0: only at the end when `save_final_state`).
        total_limit: keep the newest N checkpoints (null: all).
        resume_from: a checkpoint directory, or `latest` (the newest in `output_dir`; none yet: start fresh).
        save_final_state: save a checkpoint after the last step too.
    """

    every_steps: int = 0
    total_limit: int | None = 3
    resume_from: str | None = None
    save_final_state: bool = True


@dataclass
class LoggingOptions:
    """Loss and metric logging: always `output_dir/logs/metrics.jsonl` (tracker `jsonl`, the default), plus the
    Accelerate trackers named in `log_with` (e.g. tensorboard, wandb: not dependencies; one that is named but not
    installed is skipped with a warning naming the package to install).

    `every_steps`: log the losses (mean over processes and micro-steps) every N optimizer steps.
    """

    every_steps: int = 10
    log_with: list = field(default_factory=lambda: ["jsonl"])
    project_name: str = "smplest_x"
    progress_bar: bool = True


@dataclass
class TrainingConfig:
    """Everything `examples/train.py` needs; see the module docstring for the file format."""

    output_dir: str
    seed: int = 0
    model: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    optimization: OptimizationOptions = field(default_factory=OptimizationOptions)
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)
    checkpointing: CheckpointOptions = field(default_factory=CheckpointOptions)
    logging: LoggingOptions = field(default_factory=LoggingOptions)

    # ------------------------------------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, values: dict, overrides: list | None = None, source: str = "the config") -> "TrainingConfig":
        """Build from a nested dict (a parsed YAML file) with `--a.b=value` `overrides` applied on top."""
        if not isinstance(values, dict):
            raise TrainingConfigError(f"{source} must be a mapping of sections, got {type(values).__name__}.")
        merged = _apply_overrides(values, overrides or [])
        config = _build(cls, merged, source, prefix="")
        config.validate(source)
        return config

    @classmethod
    def from_yaml(cls, path, overrides: list | None = None) -> "TrainingConfig":
        """Read a YAML file (see the module docstring) and apply `overrides`."""
        path = Path(path)
        if not path.is_file():
            raise TrainingConfigError(f"Training config {str(path)!r} does not exist (give --config PATH of a YAML file).")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise TrainingConfigError(f"Training config {str(path)!r} is not valid YAML: {error}") from None
        return cls.from_dict(values, overrides, source=repr(str(path)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # --------------------------------------------------------------------------------------- validation
    def validate(self, source: str = "the config") -> None:
        """Raise TrainingConfigError for values that are well-typed but impossible."""
        o, d, e, c, g = self.optimization, self.data, self.evaluation, self.checkpointing, self.logging

        def fail(key, message):
            raise TrainingConfigError(f"{source}: {key} {message}")

        if not self.data.train:
            fail("data.train", "is empty: list at least one dataset, e.g. [{path: data/synthetic, split: train}].")
        positive = {
            "optimization.batch_size": o.batch_size, "optimization.gradient_accumulation_steps": o.gradient_accumulation_steps,
            "optimization.epochs": o.epochs, "evaluation.batch_size": e.batch_size, "logging.every_steps": g.every_steps,
        }  # fmt: skip
        for key, value in positive.items():
            if value < 1:
                fail(key, f"must be >= 1, got {value}.")
        for key, value in {"optimization.max_steps": o.max_steps, "evaluation.max_samples": e.max_samples,
                           "checkpointing.total_limit": c.total_limit, "data.total_length": d.total_length}.items():  # fmt: skip
            if value is not None and value < 1:
                fail(key, f"must be >= 1 or null, got {value}.")
        for key, value in {"optimization.warmup_steps": o.warmup_steps, "evaluation.every_steps": e.every_steps,
                           "checkpointing.every_steps": c.every_steps, "data.num_workers": d.num_workers}.items():  # fmt: skip
            if value < 0:
                fail(key, f"must be >= 0, got {value}.")
        if not 0 < o.learning_rate:
            fail("optimization.learning_rate", f"must be > 0, got {o.learning_rate}.")
        if not 0 <= o.min_learning_rate <= o.learning_rate:
            fail("optimization.min_learning_rate", f"must be in [0, learning_rate={o.learning_rate}], got {o.min_learning_rate}.")
        if o.weight_decay < 0 or o.adam_epsilon <= 0:
            fail("optimization.weight_decay / adam_epsilon", f"must be >= 0 / > 0, got {o.weight_decay} / {o.adam_epsilon}.")
        if len(o.adam_betas) != 2 or not all(0 <= beta < 1 for beta in o.adam_betas):
            fail("optimization.adam_betas", f"must be two numbers in [0, 1), got {o.adam_betas}.")
        if o.max_grad_norm is not None and o.max_grad_norm <= 0:
            fail("optimization.max_grad_norm", f"must be > 0 or null (no clipping), got {o.max_grad_norm}.")
        if o.mixed_precision not in (None, "no", "fp16", "bf16"):
            fail("optimization.mixed_precision", f"must be no, fp16, bf16 or null, got {o.mixed_precision!r}.")
        if o.freeze_encoder_layers < -1:
            fail("optimization.freeze_encoder_layers", f"must be >= 0, or -1 for all blocks, got {o.freeze_encoder_layers}.")
        if d.mixing not in ("balance", "weighted", "concat"):
            fail("data.mixing", f"must be balance, weighted or concat, got {d.mixing!r}.")
        if d.bbox_ratio is not None and not d.bbox_ratio > 0:
            fail("data.bbox_ratio", f"must be > 0 or null, got {d.bbox_ratio}.")
        if d.streaming and len(d.train) > 1 and d.total_length is None:
            fail("data.total_length", "is required to mix streaming datasets (an epoch has no natural length).")
        for index, source_entry in enumerate(d.train):
            if source_entry.sample_interval < 1 or not source_entry.weight > 0:
                fail(f"data.train[{index}]", f"needs sample_interval >= 1 and weight > 0, got {source_entry}.")
        if self.model.from_pretrained is None and self.model.preset is None:
            fail("model.preset", "is null and model.from_pretrained is not set: name a preset (tiny, s, b, l, h) or a model to start from.")
        if self.model.from_pretrained is not None and self.model.vitpose_checkpoint is not None:
            fail("model.vitpose_checkpoint", "cannot be combined with model.from_pretrained (which already has an encoder).")
        if self.model.from_pretrained is not None and self.model.init_readouts_at_rest_pose:
            fail("model.init_readouts_at_rest_pose", "is for new models; model.from_pretrained already has trained readouts.")
        if self.model.from_pretrained is not None and self.model.init_layers_for_width:
            fail("model.init_layers_for_width", "is for new models; model.from_pretrained already has trained layers.")
        if self.model.vitpose_checkpoint is not None and self.model.init_layers_for_width:
            fail("model.init_layers_for_width", "would re-draw the ViTPose encoder of model.vitpose_checkpoint; use one or the other.")
        m = self.model
        if (m.image_mean is None) != (m.image_std is None):
            fail("model.image_mean", "and model.image_std go together: set both (3 values each) or neither.")
        for name, values in (("image_mean", m.image_mean), ("image_std", m.image_std)):
            if values is not None and (len(values) != 3 or not all(isinstance(v, (int, float)) for v in values)):
                fail(f"model.{name}", f"must be 3 numbers (R, G, B), got {values!r}.")
        if m.image_std is not None and not all(v > 0 for v in m.image_std):
            fail("model.image_std", f"must be positive, got {m.image_std}.")
        if m.from_pretrained is not None and m.image_mean is not None:
            fail("model.image_mean", "is for new models; model.from_pretrained brings its own image processor.")
        if self.model.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            fail("model.attn_implementation", f"must be auto, sdpa or eager, got {self.model.attn_implementation!r}.")
        if e.gender not in ("neutral", "per_sample"):
            fail("evaluation.gender", f"must be neutral or per_sample, got {e.gender!r}.")
        if not e.metrics:
            fail("evaluation.metrics", "is empty: name at least one metric (e.g. pve_all).")


# ------------------------------------------------------------------------------------------ overrides
def _apply_overrides(values: dict, overrides: list) -> dict:
    """`--a.b=value` strings -> a deep copy of `values` with those keys set (values parsed as YAML scalars)."""
    import copy

    merged = copy.deepcopy(values)
    for item in overrides:
        text = item.removeprefix("--")
        key, separator, raw = text.partition("=")
        if not separator or not key:
            raise TrainingConfigError(f"Override {item!r} must look like --section.key=value (e.g. --optimization.batch_size=8).")
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as error:
            raise TrainingConfigError(f"Override {item!r}: the value is not valid YAML ({error}).") from None
        node = merged
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise TrainingConfigError(f"Override {item!r}: {part!r} is not a section.")
            node = child
        node[parts[-1]] = value
    return merged


# --------------------------------------------------------------------------------------------- typing
def _build(cls, values: dict, source: str, prefix: str):
    if not isinstance(values, dict):
        raise TrainingConfigError(f"{source}: {prefix.rstrip('.') or 'the top level'} must be a mapping, got {values!r}.")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TrainingConfigError(
            f"{source}: unknown key(s) {[prefix + key for key in unknown]}; the keys of "
            f"{prefix.rstrip('.') or 'the top level'} are {sorted(known)}."
        )
    kwargs = {}
    for name, value in values.items():
        key = prefix + name
        if name == "train" and cls is DataOptions:
            if not isinstance(value, list):
                raise TrainingConfigError(f"{source}: {key} must be a list of datasets ({{path: ..., split: ...}}), got {value!r}.")
            kwargs[name] = [
                _build(DatasetSource, {"path": entry} if isinstance(entry, str) else entry, source, f"{key}[{index}].")
                for index, entry in enumerate(value)
            ]
        elif dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], value if value is not None else {}, source, key + ".")
        else:
            kwargs[name] = _coerce(value, hints[name], source, key)
    missing = [name for name, f in known.items() if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise TrainingConfigError(f"{source}: missing required key(s) {[prefix + name for name in missing]}.")
    return cls(**kwargs)


def _coerce(value: Any, annotation, source: str, key: str):
    """Check `value` against a field annotation (int, float, bool, str, list, dict, Optional[...]); ints are
    accepted for floats and numeric strings (YAML reads `1e-5` as a string) are converted."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if value is None:
            return None
        annotation = options[0]
        origin = typing.get_origin(annotation)
    expected = origin or annotation
    if expected is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is str and isinstance(value, (str, os.PathLike)):
        return str(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected in (bool, float, list, dict) and isinstance(value, expected) and not (expected is float and isinstance(value, bool)):
        return value
    raise TrainingConfigError(f"{source}: {key} must be {_describe(annotation)}, got {value!r}.")


def _describe(annotation) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list", dict: "a mapping"}
    return names.get(typing.get_origin(annotation) or annotation, str(annotation))


__all__ = [
    "CheckpointOptions",
    "DataOptions",
    "DatasetSource",
    "EvaluationOptions",
    "LoggingOptions",
    "ModelOptions",
    "OptimizationOptions",
    "TrainingConfig",
    "TrainingConfigError",
]
