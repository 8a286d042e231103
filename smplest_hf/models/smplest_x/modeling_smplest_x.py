"""SMPLest-X as a transformers model: ViT encoder with task tokens -> cross-attention decoder -> SMPL-X parameters.

Faithful to the original SMPLest-X forward pass (SMPLCap/SMPLest-X, `models/SMPLest_X.py`, `models/module.py`)
so converted checkpoints reproduce its outputs; see `../shared/reference/original_model.md` for the facts.

Data flow for a batch of N person crops `pixel_values` (N, 3, 256, 192) in [0, 1]:

    patch conv (padding 2) -> 192 patch tokens + position embedding; prepend 80 task tokens (no position)
    -> ViT blocks -> LayerNorm -> task tokens (N, 80, D), patch tokens (N, 192, D)
    -> decoder over [task tokens, patch tokens] with one shared position vector, cross-attending the patch tokens
    -> project every token to 512 -> read the first 80 out into 6D rotations, betas, expression and cameras
    -> 6D -> axis-angle; camera (tx, ty, s) -> translation (tx, ty, k * sigmoid(s))
    -> [if a body model is attached and `return_geometry`] SMPL-X vertices / 137 joints in the crop camera and
       their 2D projections.
"""

import copy
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_smplest_x import SmplestXConfig
from .geometry import KEYPOINT_DEPTH_EPSILON, project_points, rotation_6d_to_axis_angle
from .losses import SmplestXLoss

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}  # fmt: skip
"""The dtypes the network may run in, by the names users give them (the body model skins in float32 regardless)."""

FLOAT32_PARAMETERS = ("encoder.embeddings", "norm", "decoder.position_embedding", "decoder.token_projection", "decoder.readouts")
"""Parameter-name patterns that stay float32 when the model is cast to, or loaded in, bfloat16 / float16: the patch
embedding, every LayerNorm, the decoder's position vector, token projection and readouts. With them the residual
streams of encoder and decoder stay float32 and only the attention / MLP branches run in reduced precision (their
outputs are added to the float32 stream). Root-relative vertex error against float32 on the demo's crops: bundled
demo model 0.49 mm mean / 2.5 mm max (all-bf16: 3.4 / 15); random B converted from an original-format checkpoint
2.8 / 19 (all-bf16: 4.8 / 38), where rounding the weights alone costs 4.7 / 22. See benchmarks/dtype.py."""
_FLOAT32_PARAMETER = re.compile("|".join(re.escape(pattern) for pattern in FLOAT32_PARAMETERS))


@dataclass
class SmplestXMeshRecoveryOutput(ModelOutput):
    r"""
    SMPL-X parameters for each person crop, all rotations in axis-angle (radians), all lengths in metres, in the
    pose layout of `smplx_layout.PARAMETER_SHAPES` (per joint; flat is `body_pose.reshape(N, 63)`).

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): training objective, when `labels` are given.
        loss_terms (`dict[str, torch.FloatTensor]`, *optional*): its weighted terms (detached scalars, summing to
            `loss`), when `labels` are given; see `smplest_hf.models.smplest_x.losses`.
        global_orient (`torch.FloatTensor` of shape `(N, 3)`): body root orientation.
        body_pose (`torch.FloatTensor` of shape `(N, 21, 3)`): body joint rotations, SMPL-X order.
        left_hand_pose, right_hand_pose (`torch.FloatTensor` of shape `(N, 15, 3)`): finger joint rotations.
        jaw_pose (`torch.FloatTensor` of shape `(N, 3)`).
        betas (`torch.FloatTensor` of shape `(N, 10)`): shape coefficients.
        expression (`torch.FloatTensor` of shape `(N, 10)`): expression coefficients.
        camera_translation (`torch.FloatTensor` of shape `(N, 3)`): SMPL-X translation in the crop camera
            (focal `config.focal_length`, principal point `config.principal_point`, in body-input pixels).
        left_hand_root_pose, right_hand_root_pose, face_root_pose (`torch.FloatTensor` of shape `(N, 3)`): global
            orientations predicted by the part tokens (used by the training losses, not by the mesh).
        left_hand_camera_translation, right_hand_camera_translation, face_camera_translation
            (`torch.FloatTensor` of shape `(N, 3)`): part cameras, as `camera_translation`.
        vertices (`torch.FloatTensor` of shape `(N, 10475, 3)`, *optional*): SMPL-X mesh in the crop camera frame
            (translated by `camera_translation`), always float32; only when a body model is attached and the
            forward ran with `return_geometry=True` (the default).
        joints (`torch.FloatTensor` of shape `(N, 137, 3)`, *optional*): the 137 supervision joints, same frame.
        keypoints_2d (`torch.FloatTensor` of shape `(N, 137, 2)`, *optional*): `joints` projected with the crop camera,
            in body-input pixels (x in [0, 192), y in [0, 256) for the default input size).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): encoder input and per-layer outputs (N, 272, D).
        attentions (`tuple(torch.FloatTensor)`, *optional*): encoder attention maps (N, heads, 272, 272).
    """

    loss: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    global_orient: torch.FloatTensor | None = None
    body_pose: torch.FloatTensor | None = None
    left_hand_pose: torch.FloatTensor | None = None
    right_hand_pose: torch.FloatTensor | None = None
    jaw_pose: torch.FloatTensor | None = None
    betas: torch.FloatTensor | None = None
    expression: torch.FloatTensor | None = None
    camera_translation: torch.FloatTensor | None = None
    left_hand_root_pose: torch.FloatTensor | None = None
    right_hand_root_pose: torch.FloatTensor | None = None
    face_root_pose: torch.FloatTensor | None = None
    left_hand_camera_translation: torch.FloatTensor | None = None
    right_hand_camera_translation: torch.FloatTensor | None = None
    face_camera_translation: torch.FloatTensor | None = None
    vertices: torch.FloatTensor | None = None
    joints: torch.FloatTensor | None = None
    keypoints_2d: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention. query (N, heads, Lq, d), key/value (N, heads, Lk, d) -> (N, Lq, heads, d), weights."""
    attention_weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        attention_weights = attention_weights + attention_mask
    attention_weights = nn.functional.softmax(attention_weights, dim=-1)
    attention_weights = nn.functional.dropout(attention_weights, p=dropout, training=module.training)
    attention_output = torch.matmul(attention_weights, value).transpose(1, 2).contiguous()
    return attention_output, attention_weights


def _attend(module: nn.Module, query, key, value, num_heads: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split heads, run the configured attention implementation (sdpa by default), merge heads."""
    batch_size, query_length, _ = query.shape
    if batch_size == 0:  # attention kernels reshape with -1, which a zero-size batch makes ambiguous
        return query.new_zeros((0, query_length, value.shape[-1])), None
    query, key, value = (t.view(batch_size, t.shape[1], num_heads, -1).transpose(1, 2) for t in (query, key, value))
    attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
        module.config._attn_implementation, eager_attention_forward
    )
    output, weights = attention_interface(
        module, query, key, value, None, scaling=module.scaling, dropout=0.0, is_causal=False
    )
    return output.reshape(batch_size, query_length, -1), weights


class SmplestXDropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per sample while training (rate grows with depth)."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_state
        keep_prob = 1.0 - self.drop_prob
        mask_shape = (hidden_state.shape[0],) + (1,) * (hidden_state.ndim - 1)
        keep_mask = hidden_state.new_empty(mask_shape).bernoulli_(keep_prob)
        return hidden_state * keep_mask / keep_prob


class SmplestXEmbeddings(nn.Module):
    """Patch embedding + position embedding for the image; learnable task tokens prepended (without position)."""

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.input_body_size = tuple(config.input_body_size)
        # padding=2 as in ViTPose: the 256x192 input still gives a 16x12 grid, and pretrained weights expect it.
        self.patch_embedding = nn.Conv2d(
            config.num_channels, config.hidden_size, config.patch_size, stride=config.patch_size, padding=config.patch_padding
        )
        rows, columns = config.patch_grid_size
        # One extra row: the class-token slot of ViTPose pre-training, added to every patch position.
        self.position_embeddings = nn.Parameter(torch.zeros(1, rows * columns + 1, config.hidden_size))
        self.task_tokens = nn.Parameter(torch.zeros(1, config.num_task_tokens, config.hidden_size))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if tuple(pixel_values.shape[-2:]) != self.input_body_size or pixel_values.ndim != 4:
            raise ValueError(
                f"pixel_values must have shape (N, 3, {self.input_body_size[0]}, {self.input_body_size[1]}) "
                f"(person crops from SmplestXImageProcessor), got {tuple(pixel_values.shape)}."
            )
        # Inputs follow the weights (float32 crops from the processor into a model loaded in bfloat16, say).
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        patches = patches + self.position_embeddings[:, 1:] + self.position_embeddings[:, :1]
        task_tokens = self.task_tokens.expand(pixel_values.shape[0], -1, -1)
        return torch.cat((task_tokens, patches), dim=1)


class SmplestXSelfAttention(nn.Module):
    """Encoder multi-head self-attention with a fused qkv projection."""

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.scaling = (config.hidden_size // config.num_attention_heads) ** -0.5
        self.is_causal = False
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        query, key, value = self.qkv(hidden_state).chunk(3, dim=-1)
        output, weights = _attend(self, query, key, value, self.num_heads)
        return self.proj(output), weights


class SmplestXMLP(nn.Module):
    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.mlp_ratio * config.hidden_size)
        self.activation = nn.GELU()
        self.fc2 = nn.Linear(config.mlp_ratio * config.hidden_size, config.hidden_size)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_state)))


class SmplestXEncoderLayer(GradientCheckpointingLayer):
    """Pre-norm ViT block."""

    def __init__(self, config: SmplestXConfig, drop_path_rate: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SmplestXSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SmplestXMLP(config)
        self.drop_path = SmplestXDropPath(drop_path_rate)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        # Branches run in their weights' dtype; their outputs join the residual stream in its own (see FLOAT32_PARAMETERS).
        branch_dtype = self.attention.qkv.weight.dtype
        attention_output, _ = self.attention(self.norm1(hidden_state).to(branch_dtype))
        hidden_state = hidden_state + self.drop_path(attention_output)
        return hidden_state + self.drop_path(self.mlp(self.norm2(hidden_state).to(branch_dtype)))


class SmplestXEncoder(nn.Module):
    """ViT with task tokens. Returns the final-normed sequence (N, 80 + 192, D)."""

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.embeddings = SmplestXEmbeddings(config)
        depth = config.num_hidden_layers
        drop_path_rates = [config.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.layers = nn.ModuleList(SmplestXEncoderLayer(config, rate) for rate in drop_path_rates)
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_state = self.embeddings(pixel_values)
        for layer in self.layers:
            hidden_state = layer(hidden_state)
        return self.final_norm(hidden_state)


class SmplestXDecoderSelfAttention(nn.Module):
    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.config = config
        inner_dim = config.decoder_num_attention_heads * config.decoder_attention_head_dim
        self.num_heads = config.decoder_num_attention_heads
        self.scaling = config.decoder_attention_head_dim**-0.5
        self.is_causal = False
        self.to_qkv = nn.Linear(config.hidden_size, 3 * inner_dim, bias=False)
        self.to_out = nn.Linear(inner_dim, config.hidden_size)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        query, key, value = self.to_qkv(hidden_state).chunk(3, dim=-1)
        output, _ = _attend(self, query, key, value, self.num_heads)
        return self.to_out(output)


class SmplestXDecoderCrossAttention(nn.Module):
    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.config = config
        inner_dim = config.decoder_num_attention_heads * config.decoder_attention_head_dim
        self.num_heads = config.decoder_num_attention_heads
        self.scaling = config.decoder_attention_head_dim**-0.5
        self.is_causal = False
        self.to_q = nn.Linear(config.hidden_size, inner_dim, bias=False)
        self.to_kv = nn.Linear(config.hidden_size, 2 * inner_dim, bias=False)
        self.to_out = nn.Linear(inner_dim, config.hidden_size)

    def forward(self, hidden_state: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        key, value = self.to_kv(context).chunk(2, dim=-1)
        output, _ = _attend(self, self.to_q(hidden_state), key, value, self.num_heads)
        return self.to_out(output)


class SmplestXDecoderFeedForward(nn.Module):
    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.GELU()
        self.fc2 = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_state)))


class SmplestXDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm: self-attention over all tokens, cross-attention to the (un-normed) patch tokens, feed-forward."""

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        eps = config.decoder_layer_norm_eps
        self.self_attention_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.self_attention = SmplestXDecoderSelfAttention(config)
        self.cross_attention_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.cross_attention = SmplestXDecoderCrossAttention(config)
        self.feed_forward_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.feed_forward = SmplestXDecoderFeedForward(config)

    def forward(self, hidden_state: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        branch_dtype = self.self_attention.to_qkv.weight.dtype  # as in SmplestXEncoderLayer
        hidden_state = hidden_state + self.self_attention(self.self_attention_norm(hidden_state).to(branch_dtype))
        hidden_state = hidden_state + self.cross_attention(
            self.cross_attention_norm(hidden_state).to(branch_dtype), context.to(branch_dtype)
        )
        return hidden_state + self.feed_forward(self.feed_forward_norm(hidden_state).to(branch_dtype))


class SmplestXDecoderHead(nn.Module):
    """Transformer decoder over [task tokens, patch tokens] and the linear readouts of the 80 task tokens."""

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.num_task_tokens = config.num_task_tokens
        # A single position vector broadcast to every token (the original's pos_embedding has one row).
        self.position_embedding = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.layers = nn.ModuleList(SmplestXDecoderLayer(config) for _ in range(config.decoder_num_layers))
        self.token_projection = nn.Linear(config.hidden_size, config.token_projection_dim)

        width = config.token_projection_dim
        body, hand = config.num_body_joints, config.num_hand_joints
        # Token ranges of the readout, in order; each range is flattened into one linear layer.
        self.readout_layout = (
            ("body_root_pose", 1, 6),
            ("body_pose", body, 6 * body),
            ("betas", config.num_betas, config.num_betas),
            ("body_camera", 1, 3),
            ("hand_root_pose", 2, 12),
            ("hand_pose", 2 * hand, 12 * hand),
            ("hand_camera", 2, 6),
            ("face_root_pose", 1, 6),
            ("expression", config.num_expression, config.num_expression),
            ("jaw_pose", 1, 6),
            ("face_camera", 1, 3),
        )
        self.readouts = nn.ModuleDict(
            {name: nn.Linear(num_tokens * width, num_outputs) for name, num_tokens, num_outputs in self.readout_layout}
        )

    def forward(self, task_tokens: torch.Tensor, patch_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden_state = torch.cat((task_tokens, patch_tokens), dim=1) + self.position_embedding
        for layer in self.layers:
            hidden_state = layer(hidden_state, patch_tokens)
        task_features = self.token_projection(hidden_state[:, : self.num_task_tokens].to(self.token_projection.weight.dtype))

        batch_size = task_features.shape[0]
        predictions, start = {}, 0
        for name, num_tokens, _ in self.readout_layout:
            tokens = task_features[:, start : start + num_tokens].reshape(batch_size, num_tokens * task_features.shape[-1])
            readout = self.readouts[name]
            prediction = readout(tokens.to(readout.weight.dtype))
            predictions[name] = prediction.to(torch.promote_types(prediction.dtype, torch.float32))  # geometry: >= fp32
            start += num_tokens
        return predictions


class SmplestXPreTrainedModel(PreTrainedModel):
    config: SmplestXConfig
    config_class = SmplestXConfig
    base_model_prefix = "smplest_x"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["SmplestXEncoderLayer", "SmplestXDecoderLayer"]
    _supports_sdpa = True
    _keep_in_fp32_modules_strict = list(FLOAT32_PARAMETERS)  # `from_pretrained(..., dtype=torch.bfloat16)`
    _can_record_outputs = {"hidden_states": SmplestXEncoderLayer, "attentions": SmplestXSelfAttention}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SmplestXEmbeddings):
            init.trunc_normal_(module.position_embeddings, mean=0.0, std=std)
            init.trunc_normal_(module.task_tokens, mean=0.0, std=std)
        elif isinstance(module, SmplestXDecoderHead):
            init.trunc_normal_(module.position_embedding, mean=0.0, std=std)


def run_body_model(body_model: nn.Module, parameters):
    """Skin SMPL-X parameters with `body_model` in float32, autocast off (bf16 skinning is centimetres off at
    metre-scale depths, and the joint losses weigh those errors 100 times).

    Args:
        body_model: an `SmplxBodyModel` (float32 buffers).
        parameters: a mapping with `global_orient` (N, 3), `body_pose` (N, 21, 3), `left_hand_pose` /
            `right_hand_pose` (N, 15, 3), `jaw_pose` (N, 3), `betas` (N, 10), `expression` (N, 10) and
            `camera_translation` (N, 3) tensors in any float dtype, e.g. a `SmplestXMeshRecoveryOutput`.

    Returns:
        the body model's `SmplxBodyModelOutput`: float32 `vertices` (N, 10475, 3) and `joints` (N, 137, 3),
        translated by `camera_translation`.
    """
    with torch.autocast(device_type=parameters["global_orient"].device.type, enabled=False):
        return body_model(
            global_orient=parameters["global_orient"].float(),
            body_pose=parameters["body_pose"].float(),
            left_hand_pose=parameters["left_hand_pose"].float(),
            right_hand_pose=parameters["right_hand_pose"].float(),
            jaw_pose=parameters["jaw_pose"].float(),
            betas=parameters["betas"].float(),
            expression=parameters["expression"].float(),
            transl=parameters["camera_translation"].float(),
        )


class SmplestXForHumanMeshRecovery(SmplestXPreTrainedModel):
    """SMPLest-X: person crops in, SMPL-X parameters (and, with a body model attached, mesh and joints) out.

    Example:

    ```python
    >>> import torch
    >>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    >>> model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval()
    >>> outputs = model(torch.rand(2, 3, 256, 192))
    >>> outputs.body_pose.shape
    torch.Size([2, 21, 3])
    ```

    With `SmplestXForHumanMeshRecovery.from_pretrained(path, body_model_dir=DIR)` (or `model.attach_body_model(...)`)
    the outputs also carry `vertices`, `joints` and `keypoints_2d` (`model(pixel_values, return_geometry=False)`
    skips them). The model owns its body model: it is no submodule, so it is never saved with the weights, cast by
    `.to(dtype)` / `.half()` / `dtype=`, or seen by DDP, FSDP or DeepSpeed; it follows the model's device and stays
    float32.
    """

    def __init__(self, config: SmplestXConfig):
        super().__init__(config)
        self.encoder = SmplestXEncoder(config)
        self.decoder = SmplestXDecoderHead(config)
        # Through __dict__, not nn.Module.__setattr__: kept out of the module tree (see `body_model`).
        self.__dict__["_body_model"] = None
        self.post_init()

    # ----------------------------------------------------------------------------------------- body model
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, body_model_dir=None, body_model_gender="neutral", **kwargs):
        """`PreTrainedModel.from_pretrained`, plus an optional SMPL-X body model from `body_model_dir`
        (the folder that contains `smplx/`); `body_model_dir=None` attaches nothing."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        if body_model_dir is not None:
            model.attach_body_model(body_model_dir, gender=body_model_gender)
        return model

    def attach_body_model(self, body_model, gender: str = "neutral") -> "SmplestXForHumanMeshRecovery":
        """Attach an `SmplxBodyModel`, or load one from a directory, so forward also returns mesh and joints.
        It replaces any body model attached before; it is moved to the model's device and to float32."""
        if not isinstance(body_model, nn.Module):
            from .body_model import SmplxBodyModel

            body_model = SmplxBodyModel.from_directory(body_model, gender=gender)
        # Skinning runs in float32 whatever the network's dtype: bf16 vertices would be centimetres off.
        self.__dict__["_body_model"] = body_model.to(device=self.device, dtype=torch.float32)
        return self

    @property
    def body_model(self) -> nn.Module | None:
        """The attached SMPL-X body model (float32, on the model's device), or None. Read-only: attach one with
        `attach_body_model`, skip it for one call with `forward(..., return_geometry=False)`.

        It is not a submodule: `state_dict()`, `parameters()`, `buffers()` and `modules()` never show it, so no
        checkpoint holds its (licensed) arrays and no DDP / FSDP / DeepSpeed wrapper broadcasts, shards or casts it.
        """
        return self._body_model

    def __setattr__(self, name, value):
        # nn.Module.__setattr__ would register an assigned module as a submodule, past the read-only property.
        if name == "body_model":
            raise AttributeError(
                "`body_model` is read-only: use `model.attach_body_model(DIR_OR_MODULE)` to attach one and "
                "`model(pixel_values, return_geometry=False)` for parameters only."
            )
        super().__setattr__(name, value)

    def _apply(self, fn, recurse=True):
        """Every `.to()`, `.cuda()`, `.half()`, `.bfloat16()`, ... (and a wrapper's) runs through here: the
        network gets `fn`, except that a cast to bfloat16 / float16 only moves the `FLOAT32_PARAMETERS` (the
        precision-critical parts) to the new device; the body model only follows the network's device, staying
        float32."""
        target = fn(torch.zeros((), device=self.device))  # what `fn` does to a float32 tensor
        if recurse and target.dtype in (torch.bfloat16, torch.float16):
            def move_only(tensor):
                return tensor.to(device=target.device)

            for name, module in self.named_modules():
                keep = any(_FLOAT32_PARAMETER.search(f"{name}.{own}") for own, _ in module.named_parameters(recurse=False))
                nn.Module._apply(module, move_only if keep else fn, recurse=False)
        else:
            super()._apply(fn, recurse)
        if self._body_model is not None:
            self._body_model.to(device=self.device)
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in: its attention / MLP weights' (transformers' default, the first
        parameter's, would name the patch embedding's, float32 in a bf16 model; see FLOAT32_PARAMETERS)."""
        return self.encoder.layers[0].attention.qkv.weight.dtype if len(self.encoder.layers) else super().dtype

    def _get_camera_translation(self, camera: torch.Tensor) -> torch.Tensor:
        """(N, 3) predicted (tx, ty, s) -> (N, 3) translation (tx, ty, k * sigmoid(s))."""
        depth = self.config.camera_depth_scale * torch.sigmoid(camera[:, 2:])
        return torch.cat((camera[:, :2], depth), dim=1)

    def _project_to_body_input(self, points: torch.Tensor) -> torch.Tensor:
        """(N, K, 3) crop-camera points -> (N, K, 2) body-input pixels (the original's +1e-4 depth guard)."""
        focal_length, principal_point = (points.new_tensor(values) for values in (self.config.focal_length, self.config.principal_point))
        return project_points(points, focal_length, principal_point, depth_epsilon=KEYPOINT_DEPTH_EPSILON)

    # ------------------------------------------------------------------------------------------- hub i/o
    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained` that also writes our model card (README.md) beside the weights and
        names the `human-mesh-recovery` pipeline in the config (`custom_pipelines`; its file is saved with the code).

        Only network parameters are saved: the body model's arrays are non-persistent buffers (licensed data).
        """
        from .pipeline_smplest_x import CUSTOM_PIPELINES

        repo_id = kwargs.pop("repo_id", None)
        # As transformers' `Pipeline.save_pretrained` records a pipeline it saves, so that `pipeline(task,
        # model=..., trust_remote_code=True)` finds the class in the saved folder without this package.
        self.config.custom_pipelines = copy.deepcopy(CUSTOM_PIPELINES)
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            from .model_card import build_model_card

            build_model_card(self, repo_id=repo_id).save(f"{save_directory}/README.md")
        if push_to_hub:
            return self.push_to_hub(repo_id or str(save_directory), token=kwargs.get("token"))

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, private: bool | None = None,
                    token=None, revision: str | None = None, create_pr: bool = False, max_shard_size="50GB", **kwargs):
        """Upload weights, config, code and OUR model card in one commit.

        transformers' own push_to_hub replaces README.md with a generic card, so we save into a temporary
        folder (card included) and upload that folder as it is.
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, max_shard_size=max_shard_size, repo_id=repo_id)
            return api.upload_folder(
                repo_id=repo_id, folder_path=folder, revision=revision, create_pr=create_pr,
                commit_message=commit_message or "Upload SMPLest-X model",
            )

    # -------------------------------------------------------------------------------------------- forward
    @merge_with_config_defaults
    @capture_outputs(tie_last_hidden_states=False)
    def _forward_encoder(self, pixel_values: torch.Tensor, **kwargs) -> ModelOutput:
        return ModelOutput(last_hidden_state=self.encoder(pixel_values))

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: dict | None = None,
        return_geometry: bool = True,
        **kwargs,
    ) -> SmplestXMeshRecoveryOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(N, 3, 256, 192)`): RGB person crops in [0, 1], from
            [`SmplestXImageProcessor`] (already the nearest-downsampled 512x384 crop the original model sees).
        labels (`dict`, *optional*): training targets as described by `smplest_hf.models.smplest_x.losses.SmplestXLabels`; the
            outputs then carry `loss` and `loss_terms`. Needs an attached body model (the joint terms).
        return_geometry (`bool`, *optional*, defaults to `True`): run the attached body model (if any) for
            `vertices`, `joints` and `keypoints_2d`. `False` returns the parameters and cameras only and leaves the
            body model untouched (e.g. to smooth parameters before skinning them); it cannot be used with `labels`.
        """
        if labels is not None and (self._body_model is None or not return_geometry):
            raise ValueError(
                "Training with `labels` needs an SMPL-X body model for the joint losses; attach one with "
                "`model.attach_body_model(DIR)` or `from_pretrained(..., body_model_dir=DIR)` (DIR holds "
                "`smplx/SMPLX_NEUTRAL.npz`; `smplest-x make-synthetic-body-model DIR` writes a synthetic one), "
                f"and keep return_geometry=True (got {return_geometry})."
            )
        encoder_outputs = self._forward_encoder(pixel_values, **kwargs)
        sequence = encoder_outputs.last_hidden_state
        num_task_tokens = self.config.num_task_tokens
        predictions = self.decoder(sequence[:, :num_task_tokens], sequence[:, num_task_tokens:])

        batch_size = pixel_values.shape[0]
        hand_joints = self.config.num_hand_joints
        hand_pose = rotation_6d_to_axis_angle(predictions["hand_pose"].reshape(batch_size, 2 * hand_joints, 6))
        hand_root_pose = rotation_6d_to_axis_angle(predictions["hand_root_pose"].reshape(batch_size, 2, 6))
        hand_camera = predictions["hand_camera"].reshape(batch_size, 2, 3)
        outputs = SmplestXMeshRecoveryOutput(
            global_orient=rotation_6d_to_axis_angle(predictions["body_root_pose"]),
            body_pose=rotation_6d_to_axis_angle(predictions["body_pose"].reshape(batch_size, self.config.num_body_joints, 6)),
            left_hand_pose=hand_pose[:, :hand_joints],
            right_hand_pose=hand_pose[:, hand_joints:],
            jaw_pose=rotation_6d_to_axis_angle(predictions["jaw_pose"]),
            betas=predictions["betas"],
            expression=predictions["expression"],
            camera_translation=self._get_camera_translation(predictions["body_camera"]),
            left_hand_root_pose=hand_root_pose[:, 0],
            right_hand_root_pose=hand_root_pose[:, 1],
            face_root_pose=rotation_6d_to_axis_angle(predictions["face_root_pose"]),
            left_hand_camera_translation=self._get_camera_translation(hand_camera[:, 0]),
            right_hand_camera_translation=self._get_camera_translation(hand_camera[:, 1]),
            face_camera_translation=self._get_camera_translation(predictions["face_camera"]),
            hidden_states=encoder_outputs.get("hidden_states"),
            attentions=encoder_outputs.get("attentions"),
        )
        if return_geometry and self._body_model is not None:
            body = run_body_model(self._body_model, outputs)
            outputs.vertices = body.vertices
            outputs.joints = body.joints
            outputs.keypoints_2d = self._project_to_body_input(body.joints)
        if labels is not None:
            loss, loss_terms = SmplestXLoss(self.config)(outputs, labels)
            # Rebuilt so that `loss` comes first in `to_tuple()`, where transformers' Trainer looks for it.
            outputs = SmplestXMeshRecoveryOutput(loss=loss, loss_terms=loss_terms, **outputs)
        return outputs


__all__ = ["DTYPES", "SmplestXForHumanMeshRecovery", "SmplestXPreTrainedModel", "SmplestXMeshRecoveryOutput", "run_body_model"]
