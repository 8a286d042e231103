"""Convert original SMPLest-X checkpoints into `smplest_hf` model directories.

* `convert_original_checkpoint(ckpt, out_dir)`: an official SMPLest-X training snapshot
  (`torch.save({'epoch', 'network', 'optimizer'})`, `network` keys prefixed `module.`) becomes a Hugging Face model
  directory (`config.json`, `model.safetensors` in float32 or bfloat16, `preprocessor_config.json`, model card),
  written to a staging folder, reloaded and compared, then moved into place. The sizes are read off the weight
  shapes; attention-head counts, invisible in weights, come from the preset with the same sizes, else the
  published size of the same width (or `--num-attention-heads` / `--decoder-num-attention-heads`). Body-model
  buffers, the unused decoder token embedding and the optimizer state are dropped; SMPLer-X checkpoints (a
  different head) are refused.

The encoder rows of the key table also serve ViTPose backbones (`smplest_hf.training.vitpose_initialization`).
Nothing is guessed silently: an unknown source key, a missing target key or a wrong shape raises a `ValueError`
that names them.

Command line (both take the same options; exit 0, or 2 with a one-line error and no output folder, the numbers of
`smplest_hf/exit_codes.py`)::

    smplest-x convert-original smplest_x_h.pth.tar ./smplest-x-h [--dtype bf16] [--overwrite]
    python -m smplest_hf.models.smplest_x.convert_original_checkpoint smplest_x_h.pth.tar ./smplest-x-h
"""

import argparse
import os
import pickle
import re
import shutil
import sys
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .configuration_smplest_x import PRESET_NAMES, SmplestXConfig
from .image_processing_smplest_x import SmplestXImageProcessor
from .modeling_smplest_x import DTYPES, SmplestXForHumanMeshRecovery

# ------------------------------------------------------------------------------------------------ key mapping
# Original SMPLest-X `network` key (after the DataParallel `module.` prefix is removed) -> our parameter name.
# `None` marks keys that exist in the original but are dropped on purpose (reason beside each).
# The encoder rows also serve the mmpose ViTPose backbone, whose keys are the same with `backbone.` for `encoder.`.
_LAYER = r"decoder\.transformer\.transformer\.layers\.(\d+)"
ORIGINAL_TO_HF_KEY_MAPPING: dict[str, str | None] = {
    # encoder: ViTPose ViT + task tokens
    r"^encoder\.task_tokens$": r"encoder.embeddings.task_tokens",
    r"^encoder\.pos_embed$": r"encoder.embeddings.position_embeddings",
    r"^encoder\.patch_embed\.proj\.(weight|bias)$": r"encoder.embeddings.patch_embedding.\1",
    r"^encoder\.blocks\.(\d+)\.norm1\.(weight|bias)$": r"encoder.layers.\1.norm1.\2",
    r"^encoder\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$": r"encoder.layers.\1.attention.qkv.\2",
    r"^encoder\.blocks\.(\d+)\.attn\.proj\.(weight|bias)$": r"encoder.layers.\1.attention.proj.\2",
    r"^encoder\.blocks\.(\d+)\.norm2\.(weight|bias)$": r"encoder.layers.\1.norm2.\2",
    r"^encoder\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$": r"encoder.layers.\1.mlp.fc1.\2",
    r"^encoder\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$": r"encoder.layers.\1.mlp.fc2.\2",
    r"^encoder\.last_norm\.(weight|bias)$": r"encoder.final_norm.\1",
    # decoder: one position vector; per layer PreNorm(self-attn) = .0, PreNorm(cross-attn) = .1, PreNorm(ff) = .2
    r"^decoder\.transformer\.pos_embedding$": r"decoder.position_embedding",
    # Linear(80 -> D) built by the original TransformerDecoder but never called in its forward pass (the task
    # tokens enter the decoder as they are), so there is nothing to map it to.
    r"^decoder\.transformer\.to_token_embedding\.(weight|bias)$": None,
    _LAYER + r"\.0\.norm\.(weight|bias)$": r"decoder.layers.\1.self_attention_norm.\2",
    _LAYER + r"\.0\.fn\.to_qkv\.weight$": r"decoder.layers.\1.self_attention.to_qkv.weight",
    _LAYER + r"\.0\.fn\.to_out\.0\.(weight|bias)$": r"decoder.layers.\1.self_attention.to_out.\2",
    _LAYER + r"\.1\.norm\.(weight|bias)$": r"decoder.layers.\1.cross_attention_norm.\2",
    _LAYER + r"\.1\.fn\.to_q\.weight$": r"decoder.layers.\1.cross_attention.to_q.weight",
    _LAYER + r"\.1\.fn\.to_kv\.weight$": r"decoder.layers.\1.cross_attention.to_kv.weight",
    _LAYER + r"\.1\.fn\.to_out\.0\.(weight|bias)$": r"decoder.layers.\1.cross_attention.to_out.\2",
    _LAYER + r"\.2\.norm\.(weight|bias)$": r"decoder.layers.\1.feed_forward_norm.\2",
    _LAYER + r"\.2\.fn\.net\.0\.(weight|bias)$": r"decoder.layers.\1.feed_forward.fc1.\2",
    _LAYER + r"\.2\.fn\.net\.3\.(weight|bias)$": r"decoder.layers.\1.feed_forward.fc2.\2",
    r"^decoder\.token_conv\.(weight|bias)$": r"decoder.token_projection.\1",
    # readouts (token ranges are fixed by the config; see SmplestXDecoderHead.readout_layout)
    r"^decoder\.dec_body_root_pose\.(weight|bias)$": r"decoder.readouts.body_root_pose.\1",
    r"^decoder\.dec_body_pose\.(weight|bias)$": r"decoder.readouts.body_pose.\1",
    r"^decoder\.dec_body_shape\.(weight|bias)$": r"decoder.readouts.betas.\1",
    r"^decoder\.dec_body_cam\.(weight|bias)$": r"decoder.readouts.body_camera.\1",
    r"^decoder\.dec_hand_root_pose\.(weight|bias)$": r"decoder.readouts.hand_root_pose.\1",
    r"^decoder\.dec_hand_pose\.(weight|bias)$": r"decoder.readouts.hand_pose.\1",
    r"^decoder\.dec_hand_cam\.(weight|bias)$": r"decoder.readouts.hand_camera.\1",
    r"^decoder\.dec_face_root_pose\.(weight|bias)$": r"decoder.readouts.face_root_pose.\1",
    r"^decoder\.dec_face_expression\.(weight|bias)$": r"decoder.readouts.expression.\1",
    r"^decoder\.dec_face_jaw_pose\.(weight|bias)$": r"decoder.readouts.jaw_pose.\1",
    r"^decoder\.dec_face_cam\.(weight|bias)$": r"decoder.readouts.face_camera.\1",
    # SMPL-X body-model buffers: licensed data, never part of our weights (the original's save_model drops them
    # too; older snapshots may still carry them).
    r"^smplx_layer\.": None,
}  # fmt: skip
_COMPILED_MAPPING = [(re.compile(pattern), replacement) for pattern, replacement in ORIGINAL_TO_HF_KEY_MAPPING.items()]

# Module names of the SMPLer-X head (and their pre-rename spellings): a different architecture. SMPLer-X shares
# the ViT encoder, so only its head modules tell the two apart.
_SMPLER_X_MARKERS = (
    "body_rotation_net.", "hand_rotation_net.", "body_regressor.", "hand_regressor.",
    "body_position_net.", "hand_position_net.", "hand_roi_net.", "box_net.", "face_regressor.",
)  # fmt: skip

# Module names of older snapshots that the original's test-time loader renames before loading
# (`main/base.py`: 'backbone' -> 'encoder'); applied after the `module.` prefix is removed.
_LEGACY_PREFIXES = {"backbone.": "encoder."}

# Published encoder sizes: a width alone tells their head count (used when no whole preset matches).
_PUBLISHED_PRESETS = ("s", "b", "l", "h")
# Converted weights are float32 (exact) or bfloat16 (every weight its bf16 cast).
_DTYPES = {name: dtype for name, dtype in DTYPES.items() if dtype in (torch.float32, torch.bfloat16)}
_MAX_LISTED_KEYS = 12
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".bin", ".ckpt", ".safetensors")


class CheckpointConversionError(ValueError):
    """A checkpoint that cannot be converted as it is; the message says what and what to do (one line)."""


def describe_keys(keys) -> str:
    """Up to a dozen keys, quoted and sorted, for one-line error messages."""
    keys = sorted(keys)
    shown = ", ".join(repr(k) for k in keys[:_MAX_LISTED_KEYS])
    more = f" (and {len(keys) - _MAX_LISTED_KEYS} more)" if len(keys) > _MAX_LISTED_KEYS else ""
    return shown + more


def _as_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise CheckpointConversionError(f"Unsupported dtype {dtype!r}; choose one of {', '.join(_DTYPES)}.")


# ------------------------------------------------------------------------------------------------ loading
def _first_sentence(error: BaseException) -> str:
    """'<ExceptionType>: <first sentence of its message>' on one line (torch's messages run to paragraphs)."""
    text = " ".join(str(error).split()).split(". ")[0][:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _torch_load_quietly(path: Path, *, weights_only: bool, mmap: bool):
    """`torch.load` to CPU without torch's "Detected pickle protocol N" warning (files pickled with another
    protocol than 2 load fine; the warning only added two lines around our one-line messages)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected pickle protocol")
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)


def _pickle_protocol(path: Path) -> int:
    """The pickle protocol of a torch.save file (its `data.pkl`, or the legacy format's first pickle); 0 if unknown."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next((name for name in archive.namelist() if name.endswith("/data.pkl")), None)
                head = archive.open(member).read(2) if member else b""
        else:
            with open(path, "rb") as file:
                head = file.read(2)
    except (OSError, zipfile.BadZipFile):
        return 0
    return head[1] if len(head) == 2 and head[0] == pickle.PROTO[0] else 0


def load_torch_file(path: Path, trust_pickle: bool):
    """`torch.load` to CPU, memory-mapped when the file allows it (the H snapshot is 8.2 GB, mostly Adam state
    we never touch), restricted unpickling unless the caller explicitly trusts the file.

    Every failure becomes a one-line `CheckpointConversionError`: a corrupt or foreign file makes the unpickler
    raise almost anything (KeyError, IndexError, struct.error, UnicodeDecodeError, ...).
    """
    mmap = zipfile.is_zipfile(path)  # only the zip format (torch >= 1.6 default) can be memory-mapped
    try:
        return _torch_load_quietly(path, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        # The restricted unpickler refuses a module it blocks outright (os, posix, sys, nt: they run commands or
        # change the process, no checkpoint needs them) as "unsupported GLOBAL x.y whose module m is blocked".
        # This is refused even with --trust-pickle: full unpickling would call it.
        blocked = re.search(r"unsupported GLOBAL ([\w.]+) whose module ([\w.]+) is blocked", str(error))
        if blocked is not None:
            raise CheckpointConversionError(
                f"{path} asks the unpickler to call {blocked.group(1)} (module {blocked.group(2)} can run commands or "
                "change this process; no checkpoint needs it): refused, also with --trust-pickle. Do not load this file."
            ) from None
        # What it will not build: an object ("Unsupported global: GLOBAL x.y"), or the instructions of a newer
        # pickle protocol in a valid file (torch.save(..., pickle_protocol=4): "Unsupported operand 149"); full
        # unpickling reads both. Any other report means the bytes are not a pickle at all, and full unpickling
        # would not help (and must not be suggested for a file we cannot even parse).
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        protocol = _pickle_protocol(path)
        if refused is not None:
            reason = f"holds a Python object ({refused.group(1)}) that torch.load(weights_only=True) refuses to build"
        elif "Unsupported operand" in str(error) and protocol > 2:
            reason = f"was saved with pickle protocol {protocol}, which torch.load(weights_only=True) cannot read"
        else:
            raise CheckpointConversionError(
                f"{path} is not a readable torch checkpoint (not a torch.save file, or corrupted)."
            ) from None
        if not trust_pickle:
            raise CheckpointConversionError(
                f"{path} {reason}. Full unpickling can run arbitrary code from the file: only if you trust where it "
                "came from, re-run with --trust-pickle (trust_pickle=True)."
            ) from None
        print(f"warning: unpickling {path} without restrictions (--trust-pickle)", file=sys.stderr)
        try:
            return _torch_load_quietly(path, weights_only=False, mmap=mmap)
        except Exception as full_error:  # noqa: BLE001 - see docstring
            raise CheckpointConversionError(
                f"{path} is not a readable torch checkpoint: {_first_sentence(full_error)}"
            ) from None
    except Exception as error:  # noqa: BLE001 - see docstring
        raise CheckpointConversionError(
            f"{path} is not a readable torch checkpoint (not a torch.save file, or corrupted): {_first_sentence(error)}"
        ) from None


def _check_file(path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointConversionError(
            f"{path} is a directory; expected the checkpoint file itself (e.g. smplest_x_h.pth.tar)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    return path


def is_tensor_dict(candidate) -> bool:
    """A non-empty mapping whose values are all tensors (a state dict)."""
    return isinstance(candidate, Mapping) and len(candidate) > 0 and all(isinstance(v, torch.Tensor) for v in candidate.values())


def load_original_checkpoint(checkpoint_path, trust_pickle: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """Read an original SMPLest-X snapshot. Returns (`network` state dict, info such as {"epoch": 7}).

    Accepts the training snapshot `{'epoch', 'network', 'optimizer'}` or a bare `network` dict.
    The optimizer state is never materialised (memory-mapped file, dropped here).
    """
    path = _check_file(checkpoint_path)
    checkpoint = load_torch_file(path, trust_pickle)
    if isinstance(checkpoint, Mapping) and "network" in checkpoint:
        network, info = checkpoint["network"], {k: checkpoint[k] for k in ("epoch",) if k in checkpoint}
    else:
        network, info = checkpoint, {}
    if not is_tensor_dict(network):
        top = sorted(map(str, checkpoint))[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        hint = ""
        if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
            hint = (
                " It has a 'state_dict' as mmpose checkpoints do: for a ViTPose backbone (training initialisation) "
                "use smplest_hf.training.vitpose_initialization.load_vitpose_into_encoder instead."
            )
        raise CheckpointConversionError(
            f"{path} is not an SMPLest-X checkpoint: expected {{'epoch', 'network', 'optimizer'}} with a dict of "
            f"tensors under 'network', found {top}.{hint}"
        )
    return dict(network), info


# ------------------------------------------------------------------------------------------------ SMPLest-X
def _normalise_original_keys(network: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the `module.` that DataParallel/DDP put on every key (older snapshots may lack it) and apply the
    original loader's legacy renames."""
    normalised = {}
    for key, value in network.items():
        key = key.removeprefix("module.")
        for old, new in _LEGACY_PREFIXES.items():
            if key.startswith(old):
                key = new + key.removeprefix(old)
        if key in normalised:
            raise CheckpointConversionError(
                f"The checkpoint holds {key!r} twice (with and without the 'module.' prefix or the legacy "
                "'backbone.' name): which one is meant is ambiguous."
            )
        normalised[key] = value
    return normalised


def _reject_smpler_x(keys) -> None:
    found = [key for key in keys if key.startswith(_SMPLER_X_MARKERS)]
    if found:
        raise CheckpointConversionError(
            f"This looks like a SMPLer-X checkpoint (keys such as {describe_keys(found[:3])}). SMPLer-X has a different "
            "head (position/rotation/box/RoI networks instead of the task-token decoder) and is not supported; "
            "convert an SMPLest-X checkpoint (keys 'module.encoder.*' and 'module.decoder.transformer.*')."
        )


def map_original_key(key: str) -> str | None:
    """Our parameter name for one original key (`module.` prefix optional), `None` for a key dropped on purpose
    (body-model buffers, the unused decoder token embedding). Raises `CheckpointConversionError` if unmapped.

    Example:

    ```python
    >>> from smplest_hf.models.smplest_x.convert_original_checkpoint import map_original_key
    >>> map_original_key("module.encoder.blocks.3.attn.qkv.weight")
    'encoder.layers.3.attention.qkv.weight'
    >>> map_original_key("module.decoder.transformer.to_token_embedding.weight") is None
    True
    ```
    """
    (normalised,) = _normalise_original_keys({key: None})
    for pattern, replacement in _COMPILED_MAPPING:
        if pattern.search(normalised):
            return None if replacement is None else pattern.sub(replacement, normalised)
    raise CheckpointConversionError(f"Original key {key!r} has no counterpart in SmplestXForHumanMeshRecovery.")


def rename_original_keys(network: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Apply `ORIGINAL_TO_HF_KEY_MAPPING` to every key (with or without `module.`). Raises on unmapped keys."""
    network = _normalise_original_keys(network)
    _reject_smpler_x(network)
    renamed, unmapped = {}, []
    for key, value in network.items():
        try:
            target = map_original_key(key)
        except CheckpointConversionError:
            unmapped.append(key)
            continue
        if target is not None:
            renamed[target] = value
    if unmapped:
        raise CheckpointConversionError(
            f"{len(unmapped)} key(s) of the checkpoint have no counterpart in SmplestXForHumanMeshRecovery: "
            f"{describe_keys(unmapped)}. Is this an SMPLest-X checkpoint of the public architecture?"
        )
    if not any(key.startswith("decoder.") for key in renamed):
        raise CheckpointConversionError(
            "The checkpoint has encoder weights only, no SMPLest-X decoder ('module.decoder.*'): for a ViTPose "
            "backbone (training initialisation) use load_vitpose_into_encoder / convert_vitpose_backbone."
        )
    return renamed


def _shape(state_dict: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state_dict:
        raise CheckpointConversionError(f"The checkpoint has no {key!r}; cannot infer the model size without it.")
    return tuple(state_dict[key].shape)


def _layer_count(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    indices = {int(m.group(1)) for key in state_dict if (m := re.match(re.escape(prefix) + r"(\d+)\.", key))}
    if indices != set(range(len(indices))):
        raise CheckpointConversionError(f"Layers under {prefix!r} are not numbered 0..N-1: found {sorted(indices)}.")
    return len(indices)


def _infer_encoder_fields(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """Encoder config fields visible in our-named `encoder.*` weights (everything but the head count)."""
    hidden_size = _shape(state_dict, "encoder.embeddings.position_embeddings")[-1]
    patch_weight = _shape(state_dict, "encoder.embeddings.patch_embedding.weight")  # (D, C, p, p)
    fc1 = _shape(state_dict, "encoder.layers.0.mlp.fc1.weight")
    if fc1[0] % hidden_size:
        raise CheckpointConversionError(f"Encoder MLP width {fc1[0]} is not a multiple of the hidden size {hidden_size}.")
    return dict(
        hidden_size=hidden_size,
        num_hidden_layers=_layer_count(state_dict, "encoder.layers."),
        mlp_ratio=fc1[0] // hidden_size,
        qkv_bias="encoder.layers.0.attention.qkv.bias" in state_dict,
        patch_size=patch_weight[-1],
        num_channels=patch_weight[1],
    )


def _make_config(fields: dict, state_dict: Mapping[str, torch.Tensor]) -> SmplestXConfig:
    """`SmplestXConfig(**fields)` with its validation as our error, and the position-embedding rows checked."""
    try:
        config = SmplestXConfig(**fields)
    except Exception as error:  # noqa: BLE001 - @strict wraps the ValueError of validate_architecture
        raise CheckpointConversionError(" ".join(f"The weights describe an inconsistent model: {error}".split())) from None
    position_rows = _shape(state_dict, "encoder.embeddings.position_embeddings")[1]
    rows, columns = config.patch_grid_size
    if position_rows != rows * columns + 1:
        raise CheckpointConversionError(
            f"Encoder position embeddings have {position_rows} rows, expected {rows * columns + 1} "
            f"({rows}x{columns} patches of a {tuple(config.input_body_size)} input + 1 class-token slot): "
            "other input sizes are not supported."
        )
    return config


def infer_encoder_config(encoder_state_dict: Mapping[str, torch.Tensor], num_attention_heads: int) -> SmplestXConfig:
    """A config whose encoder fits our-named `encoder.*` weights (everything else default); heads as given."""
    fields = _infer_encoder_fields(encoder_state_dict)
    return _make_config({**fields, "num_attention_heads": num_attention_heads}, encoder_state_dict)


def _matching_preset(fields: dict, decoder_attention_width: int) -> SmplestXConfig | None:
    """The preset whose every size visible in the weights equals `fields` (then its head counts are the ones
    the weights were trained with), else None."""
    for name in PRESET_NAMES:
        preset = SmplestXConfig.from_preset(name)
        preset_width = preset.decoder_num_attention_heads * preset.decoder_attention_head_dim
        if preset_width == decoder_attention_width and all(getattr(preset, k) == v for k, v in fields.items()):
            return preset
    return None


def _published_preset_of_width(hidden_size: int) -> SmplestXConfig | None:
    for name in _PUBLISHED_PRESETS:
        preset = SmplestXConfig.from_preset(name)
        if preset.hidden_size == hidden_size:
            return preset
    return None


def infer_config(
    state_dict: Mapping[str, torch.Tensor],
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
) -> SmplestXConfig:
    """Build the `SmplestXConfig` that fits our-named weights, reading only shapes (meta tensors work).

    Attention-head counts are invisible in weights. In order of precedence they come from the arguments, from
    the preset ("tiny", "s", "b", "l", "h") whose every size matches the weights, from the published size of the
    same width (encoder: 384 -> S, 768 -> B, 1024 -> L, 1280 -> H) and, for the decoder, the original's 8 heads.
    """
    fields = _infer_encoder_fields(state_dict)

    def readout(name: str) -> int:  # output size of a readout layer
        return _shape(state_dict, f"decoder.readouts.{name}.weight")[0]

    fields.update(
        num_task_tokens=_shape(state_dict, "encoder.embeddings.task_tokens")[1],
        decoder_num_layers=_layer_count(state_dict, "decoder.layers."),
        token_projection_dim=_shape(state_dict, "decoder.token_projection.weight")[0],
        num_body_joints=readout("body_pose") // 6,
        num_hand_joints=readout("hand_pose") // 12,
        num_betas=readout("betas"),
        num_expression=readout("expression"),
    )
    decoder_width = _shape(state_dict, "decoder.layers.0.cross_attention.to_q.weight")[0]  # heads * head_dim
    matching = _matching_preset(fields, decoder_width)
    preset = matching or _published_preset_of_width(fields["hidden_size"])
    if num_attention_heads is None:
        if preset is None:
            widths = ", ".join(f"{SmplestXConfig.from_preset(n).hidden_size} ({n.upper()})" for n in _PUBLISHED_PRESETS)
            raise CheckpointConversionError(
                f"Encoder width {fields['hidden_size']} matches no published SMPLest-X size ({widths}) nor a preset, "
                "and the number of attention heads cannot be read from the weights: pass --num-attention-heads "
                "(num_attention_heads=)."
            )
        num_attention_heads = preset.num_attention_heads
    if decoder_num_attention_heads is None:
        decoder_num_attention_heads = (matching or SmplestXConfig()).decoder_num_attention_heads
    if decoder_width % decoder_num_attention_heads:
        raise CheckpointConversionError(
            f"Decoder attention width {decoder_width} is not divisible by {decoder_num_attention_heads} heads; pass "
            "--decoder-num-attention-heads."
        )
    fields.update(
        num_attention_heads=num_attention_heads,
        # Only used when fine-tuning: the preset's rate, none for an unknown size.
        drop_path_rate=preset.drop_path_rate if preset else 0.0,
        decoder_num_attention_heads=decoder_num_attention_heads,
        decoder_attention_head_dim=decoder_width // decoder_num_attention_heads,
    )
    return _make_config(fields, state_dict)


def expected_shapes(config: SmplestXConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight of `SmplestXForHumanMeshRecovery(config)`, built on the meta device."""
    with torch.device("meta"):
        model = SmplestXForHumanMeshRecovery(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_state_dict(state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], source: str) -> None:
    """Raise one error listing missing keys, unexpected keys and shape mismatches (in that order)."""
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    mismatched = [
        f"{key} {tuple(state_dict[key].shape)} != {shape}"
        for key, shape in expected.items()
        if key in state_dict and tuple(state_dict[key].shape) != shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} key(s): {describe_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} key(s): {describe_keys(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es) (source != model): {'; '.join(mismatched[:_MAX_LISTED_KEYS])}")
    if problems:
        raise CheckpointConversionError(f"{source} does not fit the model: " + " | ".join(problems))


def convert_original_state_dict(
    network: Mapping[str, torch.Tensor],
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
) -> tuple[dict[str, torch.Tensor], SmplestXConfig]:
    """Original `network` dict -> (our state dict, inferred config), checked key by key and shape by shape.

    Works on meta tensors, so the key tables of the real checkpoints can be checked without their weights.
    """
    state_dict = rename_original_keys(network)
    not_floating = [f"{key} ({tensor.dtype})" for key, tensor in state_dict.items() if not tensor.is_floating_point()]
    if not_floating:
        raise CheckpointConversionError(f"Weights must be floating point, found {describe_keys(not_floating)}.")
    config = infer_config(state_dict, num_attention_heads, decoder_num_attention_heads)
    check_state_dict(state_dict, expected_shapes(config), "the SMPLest-X checkpoint")
    return state_dict, config


def _unshared(state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Cast to `dtype`; give any tensor that shares storage with another (or is a strided view) its own copy,
    as safetensors requires."""
    result, seen = {}, set()
    for key, tensor in state_dict.items():
        tensor = tensor.to(dtype)
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen or not tensor.is_contiguous():
            tensor = tensor.contiguous().clone()
        seen.add(tensor.untyped_storage().data_ptr())
        result[key] = tensor
    return result


def _build_model(config: SmplestXConfig, state_dict: Mapping[str, torch.Tensor]) -> SmplestXForHumanMeshRecovery:
    """Strict load without a random-initialised copy in memory: build on meta, then adopt the tensors."""
    with torch.device("meta"):
        model = SmplestXForHumanMeshRecovery(config)
    model.load_state_dict(state_dict, strict=True, assign=True)
    leftover = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if leftover:
        raise CheckpointConversionError(f"Weights left uninitialised after loading: {describe_keys(leftover)}")
    return model.eval()


def _save_image_processor(directory: Path) -> None:
    """The processor config beside the weights, so `AutoImageProcessor.from_pretrained(directory)` works.
    Its defaults are the original's preprocessing (512x384 crop, bbox ratio 1.2, no normalisation)."""
    SmplestXImageProcessor().save_pretrained(directory)


def _verify_saved(directory: Path, expected: Mapping[str, torch.Tensor], dtype: torch.dtype) -> None:
    """Reload the saved model and require every tensor to equal what we meant to save, bit for bit."""
    reloaded = SmplestXForHumanMeshRecovery.from_pretrained(directory, dtype=dtype).state_dict()
    check_state_dict(reloaded, {k: tuple(v.shape) for k, v in expected.items()}, f"the reloaded model in {directory}")
    # A bf16 model reloads its FLOAT32_PARAMETERS (LayerNorms, readouts, ...) as float32: exact upcasts of the file's values.
    differing = [
        key for key, tensor in expected.items()
        if reloaded[key].dtype not in (dtype, torch.float32) or not torch.equal(reloaded[key].to(dtype), tensor)
    ]  # fmt: skip
    if differing:
        raise CheckpointConversionError(f"Saved weights differ from the converted ones after reloading: {describe_keys(differing)}")


def _prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise CheckpointConversionError(f"Output path {output_dir} exists and is not a directory.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise CheckpointConversionError(
            f"Output directory {output_dir} is not empty; choose another one or pass --overwrite (overwrite=True)."
        )


def _move_into_place(staging: Path, output_dir: Path) -> None:
    """Rename the verified staging folder to `output_dir` (replacing what was there only once it is complete)."""
    if output_dir.is_dir() and any(output_dir.iterdir()):
        retired = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.old-"))
        os.replace(output_dir, retired / "previous")
        os.replace(staging, output_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        if output_dir.is_dir():
            output_dir.rmdir()
        os.replace(staging, output_dir)


def convert_original_checkpoint(
    checkpoint_path,
    output_dir,
    dtype="float32",
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    overwrite: bool = False,
    trust_pickle: bool = False,
) -> Path:
    """Convert an official SMPLest-X snapshot (`*.pth.tar`) into a Hugging Face model directory.

    Args:
        checkpoint_path: the original file (`{'epoch', 'network', 'optimizer'}`).
        output_dir: directory to create (`config.json`, `model.safetensors`, README.md, processor config).
        dtype: "float32" (exact) or "bfloat16" (half the size; every weight equals its bf16 cast).
        num_attention_heads: encoder heads, needed only when the width matches no published size.
        decoder_num_attention_heads: decoder heads (default 8, as the original).
        overwrite: replace a non-empty `output_dir`.
        trust_pickle: allow full unpickling when `torch.load(weights_only=True)` refuses the file.

    Returns:
        `output_dir` as a `Path`. The folder appears only after the saved weights were reloaded and compared.

    Example:

    ```python
    >>> from smplest_hf.models.smplest_x.convert_original_checkpoint import convert_original_checkpoint
    >>> path = convert_original_checkpoint("smplest_x_h.pth.tar", "smplest-x-h")  # doctest: +SKIP
    ```
    """
    target_dtype = _as_dtype(dtype)
    output_dir = Path(output_dir).expanduser().resolve()
    _prepare_output_dir(output_dir, overwrite)
    network, _ = load_original_checkpoint(checkpoint_path, trust_pickle=trust_pickle)
    state_dict, config = convert_original_state_dict(network, num_attention_heads, decoder_num_attention_heads)
    state_dict = _unshared(state_dict, target_dtype)
    del network

    model = _build_model(config, state_dict)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp, which makes the folder private: the umask applies, as to any folder the user creates.
    staging = output_dir.parent / f".{output_dir.name}.converting-{uuid.uuid4().hex[:12]}"
    staging.mkdir(mode=0o777)
    try:
        model.save_pretrained(staging)
        _save_image_processor(staging)
        del model
        _verify_saved(staging, state_dict, target_dtype)
        _move_into_place(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return output_dir


# ------------------------------------------------------------------------------------------------ command line
# The exit statuses of `smplest_hf/exit_codes.py` (this folder imports nothing outside itself: it is copied into
# model repositories); tests/test_hostile_inputs_cli.py checks they agree.
BAD_INPUT_STATUS = 2
INTERRUPTED_STATUS = 130


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The converter's arguments, shared by `python -m smplest_hf.models.smplest_x.convert_original_checkpoint` and
    `smplest-x convert-original`."""
    parser.add_argument("checkpoint", help="original snapshot, e.g. smplest_x_h.pth.tar")
    parser.add_argument("output_dir", help="directory to write (config.json, model.safetensors, ...)")
    parser.add_argument("--dtype", default="float32", choices=sorted(_DTYPES), help="weights dtype (default float32)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    parser.add_argument(
        "--num-attention-heads", type=int, default=None,
        help="encoder heads; needed only when the width matches no published size (384/768/1024/1280)",
    )  # fmt: skip
    parser.add_argument("--decoder-num-attention-heads", type=int, default=None, help="decoder heads (default 8)")
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="allow full unpickling if torch.load(weights_only=True) refuses the file (runs code from the file)",
    )  # fmt: skip
    return parser


_DESCRIPTION = "Convert an official SMPLest-X checkpoint (.pth.tar) into a Hugging Face model directory."


def build_parser(prog: str = "python -m smplest_hf.models.smplest_x.convert_original_checkpoint") -> argparse.ArgumentParser:
    epilog = "Exit status: 0 success; 2 bad input (one error line, nothing written); 130 interrupted (SIGINT)."
    return add_arguments(argparse.ArgumentParser(prog=prog, description=_DESCRIPTION, epilog=epilog))


def run(args: argparse.Namespace) -> int:
    """Convert as `args` (from `add_arguments`) say; returns the exit status. A user error (missing or unreadable
    file, wrong keys or shapes, non-empty output) prints one line on stderr and returns `BAD_INPUT_STATUS` (2),
    Ctrl-C one line and `INTERRUPTED_STATUS` (130), leaving no output."""
    try:
        output_dir = convert_original_checkpoint(
            args.checkpoint,
            args.output_dir,
            dtype=args.dtype,
            num_attention_heads=args.num_attention_heads,
            decoder_num_attention_heads=args.decoder_num_attention_heads,
            overwrite=args.overwrite,
            trust_pickle=args.trust_pickle,
        )
    except (ValueError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return BAD_INPUT_STATUS
    except KeyboardInterrupt as interruption:
        if type(interruption) is not KeyboardInterrupt:  # SIGTERM (`exit_codes.Terminated`): `smplest-x` reports it (143)
            raise
        print("interrupted (SIGINT); nothing written", file=sys.stderr)
        return INTERRUPTED_STATUS
    config = SmplestXConfig.from_pretrained(output_dir)
    print(
        f"Converted {args.checkpoint} -> {output_dir} ({args.dtype}; hidden size {config.hidden_size}, "
        f"{config.num_hidden_layers} encoder layers, {config.num_attention_heads} heads)."
    )
    return 0


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    return run(build_parser().parse_args(argv))


__all__ = [
    "CheckpointConversionError",
    "ORIGINAL_TO_HF_KEY_MAPPING",
    "add_arguments",
    "CHECKPOINT_SUFFIXES",
    "check_state_dict",
    "convert_original_checkpoint",
    "convert_original_state_dict",
    "describe_keys",
    "expected_shapes",
    "infer_config",
    "infer_encoder_config",
    "is_tensor_dict",
    "load_torch_file",
    "load_original_checkpoint",
    "main",
    "map_original_key",
    "rename_original_keys",
    "run",
]


if __name__ == "__main__":
    sys.exit(main())
