"""SmplestXConfig: every architecture, readout and camera constant of SMPLest-X in one place.

Sizes follow the published SMPLer-X / SMPLest-X encoders (ViT-S/B/L/H initialised from ViTPose). The decoder
head, the 80 task tokens, the crop shapes and the virtual camera are the same for every size.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Encoder sizes of the papers (embed dim, depth, heads, stochastic-depth rate of the shipped training configs).
# "tiny" is ours: small enough for CPU tests and the bundled demo model, same head layout as the real sizes.
_PRESETS = {
    "tiny": dict(
        hidden_size=64, num_hidden_layers=4, num_attention_heads=4, drop_path_rate=0.0,
        decoder_num_layers=2, decoder_num_attention_heads=4, decoder_attention_head_dim=16,
        token_projection_dim=64,
    ),
    "s": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, drop_path_rate=0.1),
    "b": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, drop_path_rate=0.3),
    "l": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, drop_path_rate=0.5),
    "h": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, drop_path_rate=0.55),
}  # fmt: skip

PRESET_NAMES = tuple(_PRESETS)

# Weights of the training objective (`smplest_hf.models.smplest_x.losses.SmplestXLoss`), the original SMPLest-X defaults
# (`configs/config_smplest_x_h.py` + the `getattr` defaults of `models/SMPLest_X.py`). The original names
# are in `losses.py`. Both hand-joint terms are off (0.0) because the original's `hand_loss` switch is off in
# its shipped config; 1.0 (its `smplx_hand_kps_3d_weight`) turns them on as `hand_loss=True` did.
DEFAULT_LOSS_WEIGHTS = {
    "pose": 10.0,
    "global_orient": 1.0,
    "betas": 1.0,
    "expression": 1.0,
    "joints_3d": 100.0,
    "joints_3d_part_relative": 100.0,
    "hand_joints_3d": 0.0,
    "hand_joints_3d_part_relative": 0.0,
    "keypoints_2d": 1.0,
    "hand_root": 1.0,
    "hand_root_chain": 1.0,
}


@strict
class SmplestXConfig(PreTrainedConfig):
    r"""
    Configuration of [`SmplestXForHumanMeshRecovery`].

    Args:
        hidden_size (`int`, defaults to 1280): encoder width D (also the decoder width).
        num_hidden_layers (`int`, defaults to 32): encoder depth.
        num_attention_heads (`int`, defaults to 16): encoder attention heads.
        mlp_ratio (`int`, defaults to 4): encoder MLP width = mlp_ratio * D.
        qkv_bias (`bool`, defaults to True): bias on the encoder's fused qkv projection.
        drop_path_rate (`float`, defaults to 0.55): stochastic depth, linearly increasing over encoder blocks.
        layer_norm_eps (`float`, defaults to 1e-6): encoder LayerNorm epsilon.
        patch_size (`int`, defaults to 16): patch size; the patch convolution pads by `patch_padding` (2, as ViTPose).
        num_task_tokens (`int`, defaults to 80): learnable tokens read out into SMPL-X parameters.
        decoder_num_layers (`int`, defaults to 6): self-attention + cross-attention + feed-forward layers.
        decoder_num_attention_heads (`int`, defaults to 8) / decoder_attention_head_dim (`int`, defaults to 64).
        decoder_layer_norm_eps (`float`, defaults to 1e-5).
        token_projection_dim (`int`, defaults to 512): width each task token is projected to before readout.
        num_body_joints / num_hand_joints / num_betas / num_expression: readout sizes (21, 15, 10, 10).
        input_image_size (`tuple`, defaults to (512, 384)): (height, width) of the affine crop around a person.
        input_body_size (`tuple`, defaults to (256, 192)): (height, width) the encoder sees (nearest-downsampled crop).
        focal_length (`tuple`, defaults to (5000.0, 5000.0)) / principal_point (`tuple`, defaults to (96.0, 128.0)):
            the virtual crop camera, in body-input pixels.
        camera_3d_size (`float`, defaults to 2.5): metres; sets the depth scale k = sqrt(fx*fy*size^2 / (H*W)).
        bbox_ratio (`float`, defaults to 1.2): box enlargement before cropping.
        initializer_range (`float`, defaults to 0.02).
        loss_weights (`dict[str, float]`, *optional*): weights of the training-loss terms; keys a subset of
            `DEFAULT_LOSS_WEIGHTS` (the original's defaults, filled in for the keys not given). 0 switches a term off.

    Example:

    ```python
    >>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    >>> config = SmplestXConfig.from_preset("tiny")
    >>> model = SmplestXForHumanMeshRecovery(config)
    ```
    """

    model_type = "smplest_x"

    hidden_size: int = 1280
    num_hidden_layers: int = 32
    num_attention_heads: int = 16
    mlp_ratio: int = 4
    qkv_bias: bool = True
    drop_path_rate: float = 0.55
    layer_norm_eps: float = 1e-6
    patch_size: int = 16
    patch_padding: int = 2
    num_channels: int = 3
    num_task_tokens: int = 80
    decoder_num_layers: int = 6
    decoder_num_attention_heads: int = 8
    decoder_attention_head_dim: int = 64
    decoder_layer_norm_eps: float = 1e-5
    token_projection_dim: int = 512
    num_body_joints: int = 21
    num_hand_joints: int = 15
    num_betas: int = 10
    num_expression: int = 10
    input_image_size: list[int] | tuple[int, ...] = (512, 384)
    input_body_size: list[int] | tuple[int, ...] = (256, 192)
    focal_length: list[float] | tuple[float, ...] = (5000.0, 5000.0)
    principal_point: list[float] | tuple[float, ...] = (96.0, 128.0)
    camera_3d_size: float = 2.5
    bbox_ratio: float = 1.2
    initializer_range: float = 0.02
    loss_weights: dict[str, float | int] | None = None

    def __post_init__(self, **kwargs):
        # JSON turns tuples into lists; keep one type so configs compare equal after a round trip.
        for name in ("input_image_size", "input_body_size", "focal_length", "principal_point"):
            setattr(self, name, tuple(getattr(self, name)))
        # Every weight is spelled out in the saved config.json, so a checkpoint records the objective it used.
        given = self.loss_weights or {}
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **{name: float(value) for name, value in given.items()}}
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Raises ValueError naming the inconsistent fields (called by @strict on construction)."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})."
            )
        if self.num_task_tokens != self.task_token_count:
            raise ValueError(
                f"num_task_tokens ({self.num_task_tokens}) must equal the readout layout's token count "
                f"({self.task_token_count} = 1 root + {self.num_body_joints} body + {self.num_betas} betas + 1 camera "
                f"+ 2 hand roots + {2 * self.num_hand_joints} hand joints + 2 hand cameras + 1 face root "
                f"+ {self.num_expression} expression + 1 jaw + 1 face camera)."
            )
        for name in ("input_image_size", "input_body_size", "focal_length", "principal_point"):
            if len(getattr(self, name)) != 2:
                raise ValueError(f"{name} must have 2 entries (height, width or x, y), got {getattr(self, name)}.")
        height, width = self.input_body_size
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"input_body_size {self.input_body_size} must be a multiple of patch_size {self.patch_size}.")

    def validate_loss_weights(self):
        """Raises ValueError for an unknown loss term or a negative / non-finite weight (called by @strict)."""
        unknown = sorted(set(self.loss_weights) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"loss_weights has unknown terms {unknown}; the terms are {sorted(DEFAULT_LOSS_WEIGHTS)}.")
        bad = {name: value for name, value in self.loss_weights.items() if not 0.0 <= value < float("inf")}
        if bad:
            raise ValueError(f"loss_weights must be finite and >= 0 (0 switches a term off), got {bad}.")

    @property
    def task_token_count(self) -> int:
        return 1 + self.num_body_joints + self.num_betas + 1 + 2 + 2 * self.num_hand_joints + 2 + 1 + self.num_expression + 1 + 1

    @property
    def patch_grid_size(self) -> tuple[int, int]:
        """(rows, columns) of encoder patches, e.g. (16, 12) for a 256x192 input."""
        return self.input_body_size[0] // self.patch_size, self.input_body_size[1] // self.patch_size

    @property
    def camera_depth_scale(self) -> float:
        """k in t_z = k * sigmoid(s): the depth at which a `camera_3d_size`-metre object fills the body input."""
        fx, fy = self.focal_length
        height, width = self.input_body_size
        return (fx * fy * self.camera_3d_size**2 / (height * width)) ** 0.5

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "SmplestXConfig":
        """Config of a published size ("s", "b", "l", "h") or the test/demo size "tiny"; `overrides` replace fields."""
        key = name.lower()
        if key not in _PRESETS:
            raise ValueError(f"Unknown SMPLest-X preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
        return cls(**{**_PRESETS[key], **overrides})


__all__ = ["DEFAULT_LOSS_WEIGHTS", "SmplestXConfig", "PRESET_NAMES"]
