"""Initialise the encoder from a ViTPose backbone, as the original SMPLest-X training does.

`convert_vitpose_backbone(source)` reads an original mmpose ViTPose `.pth`, a transformers VitPose folder or Hub
repo, a model instance or a state dict, and returns our `encoder.*` weights; `load_vitpose_into_encoder(model,
source)` copies them into a model (the task tokens keep their fresh initialisation). The mmpose layout shares the
encoder rows of the official checkpoint key table (`convert_original_checkpoint.ORIGINAL_TO_HF_KEY_MAPPING`); the
transformers layout has its own table below. Every unknown key, missing key or wrong shape is a `ValueError` that
names them.
"""

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..models.smplest_x.configuration_smplest_x import SmplestXConfig
from ..models.smplest_x.convert_original_checkpoint import (
    CHECKPOINT_SUFFIXES,
    CheckpointConversionError,
    check_state_dict,
    describe_keys,
    expected_shapes,
    infer_encoder_config,
    is_tensor_dict,
    load_torch_file,
    map_original_key,
)
from ..models.smplest_x.modeling_smplest_x import SmplestXForHumanMeshRecovery

# transformers VitPose backbone key (without the `backbone.` prefix of VitPoseForPoseEstimation) -> our name.
# query/key/value are fused into one qkv matrix, in that order, as the original ViT's fused projection.
_HF_VITPOSE_LAYER = r"^encoder\.layer\.(\d+)"
HF_VITPOSE_TO_HF_KEY_MAPPING: dict[str, str] = {
    r"^embeddings\.patch_embeddings\.projection\.(weight|bias)$": r"encoder.embeddings.patch_embedding.\1",
    r"^embeddings\.position_embeddings$": r"encoder.embeddings.position_embeddings",
    _HF_VITPOSE_LAYER + r"\.layernorm_before\.(weight|bias)$": r"encoder.layers.\1.norm1.\2",
    _HF_VITPOSE_LAYER + r"\.attention\.attention\.(query|key|value)\.(weight|bias)$": r"encoder.layers.\1.attention.qkv.\3",
    _HF_VITPOSE_LAYER + r"\.attention\.output\.dense\.(weight|bias)$": r"encoder.layers.\1.attention.proj.\2",
    _HF_VITPOSE_LAYER + r"\.layernorm_after\.(weight|bias)$": r"encoder.layers.\1.norm2.\2",
    _HF_VITPOSE_LAYER + r"\.mlp\.fc1\.(weight|bias)$": r"encoder.layers.\1.mlp.fc1.\2",
    _HF_VITPOSE_LAYER + r"\.mlp\.fc2\.(weight|bias)$": r"encoder.layers.\1.mlp.fc2.\2",
    r"^layernorm\.(weight|bias)$": r"encoder.final_norm.\1",
}  # fmt: skip
_QKV_ORDER = ("query", "key", "value")
_QKV_PART = re.compile(r"\.attention\.attention\.(query|key|value)\.")


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _load_hf_directory(directory: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Weights (safetensors, sharded or not, or pytorch_model.bin) and config.json of a transformers model folder."""
    from safetensors.torch import load_file

    config = _read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
    if (directory / "model.safetensors").is_file():
        return load_file(directory / "model.safetensors"), config
    if (directory / "model.safetensors.index.json").is_file():
        shards = sorted(set(_read_json(directory / "model.safetensors.index.json")["weight_map"].values()))
        state_dict = {}
        for shard in shards:
            state_dict.update(load_file(directory / shard))
        return state_dict, config
    if (directory / "pytorch_model.bin").is_file():
        return torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True), config
    raise CheckpointConversionError(
        f"{directory} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin: "
        "expected a transformers VitPose model folder."
    )


def _resolve_vitpose_source(source, trust_pickle: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, transformers backbone config dict or {}) from a path, a Hub repo id, a model or a state dict."""
    if isinstance(source, torch.nn.Module):
        config = source.config.to_dict() if hasattr(source, "config") else {}
        return dict(source.state_dict()), config
    if isinstance(source, Mapping):
        state_dict = source.get("state_dict", source)
        return dict(state_dict), {}
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_hf_directory(path)
    if path.is_file():
        checkpoint = load_torch_file(path, trust_pickle)
        state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
        if not is_tensor_dict(state_dict):
            raise CheckpointConversionError(f"{path} holds no ViTPose state dict (expected {{'state_dict': {{...}}}}).")
        return dict(state_dict), {}
    # "owner/name" that is not a path on disk: a Hub repo (a missing "dir/file.pth" is reported as missing).
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)) and path.suffix not in CHECKPOINT_SUFFIXES:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(str(source), allow_patterns=["config.json", "*.safetensors", "*.safetensors.index.json"])
        return _load_hf_directory(Path(folder))
    raise FileNotFoundError(f"ViTPose source not found: {source} (expected a .pth file, a model folder or a Hub repo id).")


def _backbone_config(config: dict) -> dict:
    """The VitPoseBackbone part of a VitPose (model_type 'vitpose') or VitPoseBackbone config dict."""
    return config.get("backbone_config") or config


def _reject_moe(keys, config: dict) -> None:
    experts = _backbone_config(config).get("num_experts", 1)
    if experts > 1 or any(".mlp.experts." in key for key in keys):
        raise CheckpointConversionError(
            f"This is a ViTPose+ mixture-of-experts backbone (num_experts={experts if experts > 1 else '>1'}): its MLP "
            "is split into a shared part and per-dataset experts, which our encoder does not have. Use a "
            "single-expert ViTPose backbone (e.g. a 'vitpose-*-simple' model or the original vitpose_*.pth)."
        )


def _from_mmpose_layout(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mmpose TopDown (`backbone.*`, `keypoint_head.*`) or bare ViT keys -> our `encoder.*` keys."""
    if any(key.startswith("backbone.") for key in state_dict):
        # The pose heads (keypoint_head.*, ...) are not part of our model: only the backbone is used.
        backbone = {key.removeprefix("backbone."): value for key, value in state_dict.items() if key.startswith("backbone.")}
    else:  # an already-extracted backbone
        backbone = dict(state_dict)
    renamed, unmapped = {}, []
    for key, value in backbone.items():
        # The original SMPLest-X encoder is this backbone under `encoder.`: its rows of the key table apply.
        try:
            target = map_original_key("encoder." + key)
        except CheckpointConversionError:
            target = None
        if target is not None and target.startswith("encoder."):
            renamed[target] = value
        else:
            unmapped.append(key)
    if unmapped:
        raise CheckpointConversionError(
            f"{len(unmapped)} ViTPose backbone key(s) have no counterpart in our encoder: {describe_keys(unmapped)}."
        )
    return renamed


def _from_transformers_layout(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers VitPoseBackbone / VitPoseForPoseEstimation keys -> our `encoder.*` keys (q, k, v fused)."""
    if any(key.startswith("backbone.") for key in state_dict):
        # VitPoseForPoseEstimation: the heatmap head (head.*) is not part of our model.
        state_dict = {key.removeprefix("backbone."): value for key, value in state_dict.items() if key.startswith("backbone.")}
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in HF_VITPOSE_TO_HF_KEY_MAPPING.items()]
    renamed, qkv_parts, unmapped = {}, {}, []
    for key, value in state_dict.items():
        for pattern, replacement in compiled:
            if pattern.search(key):
                target = pattern.sub(replacement, key)
                part = _QKV_PART.search(key)
                if part:
                    qkv_parts.setdefault(target, {})[part.group(1)] = value
                else:
                    renamed[target] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise CheckpointConversionError(
            f"{len(unmapped)} VitPose backbone key(s) have no counterpart in our encoder: {describe_keys(unmapped)}."
        )
    for target, parts in qkv_parts.items():
        absent = [name for name in _QKV_ORDER if name not in parts]
        if absent:
            raise CheckpointConversionError(f"VitPose weights for {target} lack the {', '.join(absent)} part(s).")
        renamed[target] = torch.cat([parts[name] for name in _QKV_ORDER], dim=0)
    return renamed


def _expected_encoder_shapes(config: SmplestXConfig) -> dict[str, tuple[int, ...]]:
    return {
        key: shape
        for key, shape in expected_shapes(config).items()
        if key.startswith("encoder.") and key != "encoder.embeddings.task_tokens"
    }


def convert_vitpose_backbone(source, config: SmplestXConfig | None = None, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """ViTPose backbone weights -> state dict of our `encoder.*` parameters, task tokens left out.

    Args:
        source: an original mmpose ViTPose `.pth` (`{'state_dict': {'backbone.*', 'keypoint_head.*'}}`, or an
            extracted backbone), a transformers VitPose folder / Hub repo id (`VitPoseForPoseEstimation` or
            `VitPoseBackbone`), such a model instance, or a state dict in either layout.
        config: the `SmplestXConfig` to check against (keys, shapes, attention heads). Without it the encoder
            size is inferred from the weights.
        trust_pickle: allow full unpickling of a `.pth` that `torch.load(weights_only=True)` refuses.

    Mixture-of-experts (ViTPose+) backbones are rejected: their split MLP has no counterpart in our encoder.
    """
    state_dict, source_config = _resolve_vitpose_source(source, trust_pickle)
    _reject_moe(state_dict, source_config)
    is_transformers = any(key.endswith("embeddings.patch_embeddings.projection.weight") for key in state_dict)
    encoder = _from_transformers_layout(state_dict) if is_transformers else _from_mmpose_layout(state_dict)

    backbone_config = _backbone_config(source_config)
    if backbone_config.get("hidden_act", "gelu") != "gelu":
        raise CheckpointConversionError(f"VitPose backbone uses {backbone_config['hidden_act']!r}; our encoder uses exact GELU.")
    source_heads = backbone_config.get("num_attention_heads")
    if config is None:
        # Sized from the weights. Heads change no shape; any valid count serves the shape check below.
        config = infer_encoder_config(encoder, num_attention_heads=source_heads or 1)
    elif source_heads is not None and source_heads != config.num_attention_heads:
        raise CheckpointConversionError(
            f"The VitPose backbone has {source_heads} attention heads, the SMPLest-X config "
            f"{config.num_attention_heads}: its attention weights would be split into heads differently."
        )
    check_state_dict(encoder, _expected_encoder_shapes(config), "the ViTPose backbone")
    return encoder


def load_vitpose_into_encoder(model: SmplestXForHumanMeshRecovery, source, trust_pickle: bool = False) -> list[str]:
    """Copy a ViTPose backbone into `model.encoder` (as the original initialises training). Returns the encoder
    keys left as they were, which are exactly `['encoder.embeddings.task_tokens']`."""
    encoder = convert_vitpose_backbone(source, config=model.config, trust_pickle=trust_pickle)
    result = model.load_state_dict(encoder, strict=False)
    missing = [key for key in result.missing_keys if key.startswith("encoder.")]
    if result.unexpected_keys or missing != ["encoder.embeddings.task_tokens"]:
        raise CheckpointConversionError(
            f"Loading the ViTPose backbone left encoder keys {missing} untouched and found unexpected keys "
            f"{result.unexpected_keys}; expected only the task tokens to stay untouched."
        )
    return missing


__all__ = ["HF_VITPOSE_TO_HF_KEY_MAPPING", "convert_vitpose_backbone", "load_vitpose_into_encoder"]
