"""Conversion of original SMPLest-X checkpoints.

The original forward pass is re-implemented here, functionally and directly on the original key names (facts from
`../shared/reference/original_model.md` and the original `models/module.py`), with its own 6D-rotation and
axis-angle maths, so the exactness test shares no code with the converter, the model or `smplest_hf.models.smplest_x.geometry`.
Value checks use the tiny preset; the published B and H sizes are checked on the meta device only.
"""

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch.nn import functional as F

import smplest_hf
from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.models.smplest_x import convert_original_checkpoint as converter
from smplest_hf.cli import main as cli_main
from smplest_hf.models.smplest_x.convert_original_checkpoint import (
    convert_original_checkpoint,
    convert_original_state_dict,
    main,
    map_original_key,
)

# Key names and shapes of the official B/H checkpoints (copied from ../shared/reference/ so CI has them).
REFERENCE_DIR = Path(__file__).resolve().parent / "data"
TINY = SmplestXConfig.from_preset("tiny")

# Readout layers of the original TransformerDecoderHead: name -> (outputs, task tokens read), in token order.
READOUTS = {
    "dec_body_root_pose": (6, 1), "dec_body_pose": (126, 21), "dec_body_shape": (10, 10), "dec_body_cam": (3, 1),
    "dec_hand_root_pose": (12, 2), "dec_hand_pose": (180, 30), "dec_hand_cam": (6, 2),
    "dec_face_root_pose": (6, 1), "dec_face_expression": (10, 10), "dec_face_jaw_pose": (6, 1), "dec_face_cam": (3, 1),
}  # fmt: skip


def _original_network(config=TINY, seed=0, meta=False) -> dict[str, torch.Tensor]:
    """Weights under the official key names for the sizes of `config`, with the DataParallel prefix and the unused
    `to_token_embedding` layer, as `Trainer.save_model` writes them. Random values, or shapes only with `meta`."""
    generator = torch.Generator().manual_seed(seed)
    width, inner = config.hidden_size, config.decoder_num_attention_heads * config.decoder_attention_head_dim
    projection = config.token_projection_dim

    def random(*shape, scale=0.1):
        if meta:
            return torch.empty(shape, device="meta")
        return torch.randn(*shape, generator=generator) * scale

    def norm(prefix):
        return {f"{prefix}.weight": 1 + random(width), f"{prefix}.bias": random(width)}

    def linear(prefix, out_features, in_features, bias=True):
        weights = {f"{prefix}.weight": random(out_features, in_features, scale=in_features**-0.5)}
        return {**weights, f"{prefix}.bias": random(out_features)} if bias else weights

    network = {
        "encoder.task_tokens": random(1, 80, width, scale=1.0),
        "encoder.pos_embed": random(1, 193, width, scale=0.5),
        "encoder.patch_embed.proj.weight": random(width, 3, 16, 16, scale=0.05),
        "encoder.patch_embed.proj.bias": random(width),
        **norm("encoder.last_norm"),
        "decoder.transformer.pos_embedding": random(1, 1, width, scale=0.5),
        **linear("decoder.transformer.to_token_embedding", width, 80),  # never used by the original forward
        **linear("decoder.token_conv", projection, width),
    }
    for i in range(config.num_hidden_layers):
        block = f"encoder.blocks.{i}"
        network.update(norm(f"{block}.norm1") | norm(f"{block}.norm2"))
        network.update(linear(f"{block}.attn.qkv", 3 * width, width) | linear(f"{block}.attn.proj", width, width))
        network.update(linear(f"{block}.mlp.fc1", 4 * width, width) | linear(f"{block}.mlp.fc2", width, 4 * width))
    for i in range(config.decoder_num_layers):
        layer = f"decoder.transformer.transformer.layers.{i}"
        network.update(norm(f"{layer}.0.norm") | norm(f"{layer}.1.norm") | norm(f"{layer}.2.norm"))
        network.update(linear(f"{layer}.0.fn.to_qkv", 3 * inner, width, bias=False))
        network.update(linear(f"{layer}.0.fn.to_out.0", width, inner))
        network.update(linear(f"{layer}.1.fn.to_kv", 2 * inner, width, bias=False))
        network.update(linear(f"{layer}.1.fn.to_q", inner, width, bias=False))
        network.update(linear(f"{layer}.1.fn.to_out.0", width, inner))
        network.update(linear(f"{layer}.2.fn.net.0", width, width) | linear(f"{layer}.2.fn.net.3", width, width))
    for name, (outputs, tokens) in READOUTS.items():
        network.update(linear(f"decoder.{name}", outputs, tokens * projection))
    return {f"module.{key}": value for key, value in network.items()}


def _write_snapshot(path: Path, network: dict, optimizer=None) -> Path:
    """`torch.save({'epoch', 'network', 'optimizer'})` as the original trainer does (Adam state included)."""
    if optimizer is None:
        first = next(iter(network.values()))
        optimizer = {
            "state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(first), "exp_avg_sq": torch.ones_like(first)}},
            "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                              "params": list(range(len(network)))}],
        }  # fmt: skip
    torch.save({"epoch": 3, "network": network, "optimizer": optimizer}, path)
    return path


def _leftovers(directory: Path) -> list[str]:
    """Staging or retired folders the converter may have left behind (it must not)."""
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(original network, converted directory) for the tiny preset, converted once through the file path."""
    root = tmp_path_factory.mktemp("converted")
    network = _original_network(seed=1)
    checkpoint = _write_snapshot(root / "snapshot_3.pth.tar", network)
    return network, convert_original_checkpoint(checkpoint, root / "smplest-x-tiny")


# ------------------------------------------------------------------------------------- independent reference
def _layer_norm(x, weights, prefix, eps):
    return F.layer_norm(x, x.shape[-1:], weights[f"{prefix}.weight"], weights[f"{prefix}.bias"], eps=eps)


def _split_heads(x, heads):  # "b n (h d) -> b h n d"
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def _softmax_attention(query, key, value):  # (b, h, n, d) each -> (b, n, h * d)
    weights = (query @ key.transpose(-1, -2) * query.shape[-1] ** -0.5).softmax(dim=-1)
    output = weights @ value
    return output.transpose(1, 2).reshape(output.shape[0], output.shape[2], -1)


def _original_forward(network, body_images, heads, decoder_heads) -> dict[str, torch.Tensor]:
    """The SMPLest-X ViT + decoder head, written on the original key names; raw predictions (6D, cams)."""
    w = {key.removeprefix("module."): value for key, value in network.items()}
    batch = body_images.shape[0]
    # encoder: patch conv with padding 2, pos[1:] + pos[0], task tokens first, pre-norm blocks, last norm
    x = F.conv2d(body_images, w["encoder.patch_embed.proj.weight"], w["encoder.patch_embed.proj.bias"], stride=16, padding=2)
    grid_h, grid_w = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2) + w["encoder.pos_embed"][:, 1:] + w["encoder.pos_embed"][:, :1]
    x = torch.cat((w["encoder.task_tokens"].expand(batch, -1, -1), x), dim=1)
    tokens = x.shape[1]
    for i in range(sum(k.endswith("attn.qkv.weight") for k in w)):
        p = f"encoder.blocks.{i}"
        h = _layer_norm(x, w, f"{p}.norm1", 1e-6)
        qkv = F.linear(h, w[f"{p}.attn.qkv.weight"], w[f"{p}.attn.qkv.bias"])
        q, k, v = qkv.reshape(batch, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
        x = x + F.linear(_softmax_attention(q, k, v), w[f"{p}.attn.proj.weight"], w[f"{p}.attn.proj.bias"])
        h = _layer_norm(x, w, f"{p}.norm2", 1e-6)
        h = F.linear(F.gelu(F.linear(h, w[f"{p}.mlp.fc1.weight"], w[f"{p}.mlp.fc1.bias"])), w[f"{p}.mlp.fc2.weight"], w[f"{p}.mlp.fc2.bias"])
        x = x + h
    x = _layer_norm(x, w, "encoder.last_norm", 1e-6)
    task_tokens = x[:, :80]
    image_features = x[:, 80:].transpose(1, 2).reshape(batch, -1, grid_h, grid_w)  # (B, D, 16, 12) as returned

    # decoder head: [task tokens, patch tokens] + one position vector; cross-attention to the patch tokens as
    # the encoder returned them (no position, no norm); PreNorm residual blocks
    context = image_features.flatten(2).transpose(1, 2)
    t = torch.cat((task_tokens, context), dim=1) + w["decoder.transformer.pos_embedding"]
    for i in range(sum(k.endswith("0.fn.to_qkv.weight") for k in w)):
        p = f"decoder.transformer.transformer.layers.{i}"
        q, k, v = F.linear(_layer_norm(t, w, f"{p}.0.norm", 1e-5), w[f"{p}.0.fn.to_qkv.weight"]).chunk(3, dim=-1)
        attended = _softmax_attention(*(_split_heads(z, decoder_heads) for z in (q, k, v)))
        t = F.linear(attended, w[f"{p}.0.fn.to_out.0.weight"], w[f"{p}.0.fn.to_out.0.bias"]) + t
        k, v = F.linear(context, w[f"{p}.1.fn.to_kv.weight"]).chunk(2, dim=-1)
        q = F.linear(_layer_norm(t, w, f"{p}.1.norm", 1e-5), w[f"{p}.1.fn.to_q.weight"])
        attended = _softmax_attention(*(_split_heads(z, decoder_heads) for z in (q, k, v)))
        t = F.linear(attended, w[f"{p}.1.fn.to_out.0.weight"], w[f"{p}.1.fn.to_out.0.bias"]) + t
        h = _layer_norm(t, w, f"{p}.2.norm", 1e-5)
        t = F.linear(F.gelu(F.linear(h, w[f"{p}.2.fn.net.0.weight"], w[f"{p}.2.fn.net.0.bias"])), w[f"{p}.2.fn.net.3.weight"], w[f"{p}.2.fn.net.3.bias"]) + t
    t = F.linear(t, w["decoder.token_conv.weight"], w["decoder.token_conv.bias"])[:, :80]

    predictions, start = {}, 0
    for name, (_, num_tokens) in READOUTS.items():
        flat = t[:, start : start + num_tokens].reshape(batch, -1)
        predictions[name] = F.linear(flat, w[f"decoder.{name}.weight"], w[f"decoder.{name}.bias"])
        start += num_tokens
    return predictions


def _camera(camera):  # (tx, ty, s) -> (tx, ty, k * sigmoid(s)), k = sqrt(fx * fy * 2.5^2 / (256 * 192))
    k = math.sqrt(5000.0 * 5000.0 * 2.5 * 2.5 / (256 * 192))
    return torch.cat((camera[:, :2], k * torch.sigmoid(camera[:, 2:3])), dim=1)


def _rotation_6d_to_matrix(rotation_6d, batch):
    """(B, 6k) -> (B, k, 3, 3): the 6 numbers as a row-major 3x2 matrix; Gram-Schmidt on its two columns; the
    third column their cross product (per rotation: the intended maths, not the original's batch-3 defect)."""
    columns = rotation_6d.double().reshape(batch, -1, 3, 2)
    a1, a2 = columns[..., 0], columns[..., 1]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)
    b2 = a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True)
    return torch.stack((b1, b2, torch.linalg.cross(b1, b2, dim=-1)), dim=-1)


def _rodrigues(axis_angle):
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrix: I + sin(t) K + (1 - cos(t)) K^2."""
    axis_angle = axis_angle.double()
    angle = axis_angle.norm(dim=-1, keepdim=True)
    x, y, z = (axis_angle / angle.clamp_min(1e-12)).unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*x.shape, 3, 3)
    angle = angle[..., None]
    return torch.eye(3, dtype=torch.float64) + angle.sin() * skew + (1 - angle.cos()) * skew @ skew


# ------------------------------------------------------------------------------------------------ SMPLest-X
def test_converted_model_reproduces_the_original_forward(converted):
    network, output_dir = converted
    model = SmplestXForHumanMeshRecovery.from_pretrained(output_dir, dtype=torch.float32).eval()
    # Three crops: the batch size at which the original's dim-less torch.cross went wrong.
    images = torch.rand(3, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = model(images)
        raw = _original_forward(network, images, TINY.num_attention_heads, TINY.decoder_num_attention_heads)

    assert raw["dec_body_shape"].abs().max() > 0.1  # the comparison is not between near-zero numbers
    linear_outputs = {
        "betas": raw["dec_body_shape"],
        "expression": raw["dec_face_expression"],
        "camera_translation": _camera(raw["dec_body_cam"]),
        "left_hand_camera_translation": _camera(raw["dec_hand_cam"][:, :3]),
        "right_hand_camera_translation": _camera(raw["dec_hand_cam"][:, 3:]),
        "face_camera_translation": _camera(raw["dec_face_cam"]),
    }
    for name, value in linear_outputs.items():
        torch.testing.assert_close(getattr(outputs, name), value, atol=1e-5, rtol=1e-5, msg=name)

    hands = _rotation_6d_to_matrix(raw["dec_hand_pose"], 3)  # the first 90 values are the left hand
    hand_roots = _rotation_6d_to_matrix(raw["dec_hand_root_pose"], 3)
    rotations = {  # output name: (its axis-angle, the reference matrices)
        "global_orient": (outputs.global_orient[:, None], _rotation_6d_to_matrix(raw["dec_body_root_pose"], 3)),
        "body_pose": (outputs.body_pose, _rotation_6d_to_matrix(raw["dec_body_pose"], 3)),
        "left_hand_pose": (outputs.left_hand_pose, hands[:, :15]),
        "right_hand_pose": (outputs.right_hand_pose, hands[:, 15:]),
        "jaw_pose": (outputs.jaw_pose[:, None], _rotation_6d_to_matrix(raw["dec_face_jaw_pose"], 3)),
        "left_hand_root_pose": (outputs.left_hand_root_pose[:, None], hand_roots[:, :1]),
        "right_hand_root_pose": (outputs.right_hand_root_pose[:, None], hand_roots[:, 1:]),
        "face_root_pose": (outputs.face_root_pose[:, None], _rotation_6d_to_matrix(raw["dec_face_root_pose"], 3)),
    }
    for name, (axis_angle, expected) in rotations.items():
        torch.testing.assert_close(_rodrigues(axis_angle), expected, atol=1e-4, rtol=0, msg=name)


def test_converted_directory_loads_with_auto_classes(converted):
    from transformers import AutoImageProcessor, AutoModel

    network, output_dir = converted
    assert {"config.json", "model.safetensors", "README.md", "preprocessor_config.json"} <= {p.name for p in output_dir.iterdir()}
    assert _leftovers(output_dir.parent) == []  # the staging folder was moved, nothing else left beside it

    model = AutoModel.from_pretrained(output_dir)  # registered by `import smplest_hf`
    assert isinstance(model, smplest_hf.SmplestXForHumanMeshRecovery)
    # Sizes and head counts were inferred from the weight shapes alone: exactly the tiny preset.
    saved_only = ("architectures", "auto_map", "custom_pipelines", "_name_or_path", "dtype", "transformers_version")
    assert {k: v for k, v in model.config.to_dict().items() if k not in saved_only} == {
        k: v for k, v in TINY.to_dict().items() if k not in saved_only
    }
    state_dict = model.state_dict()
    assert state_dict["encoder.layers.1.attention.qkv.weight"].equal(network["module.encoder.blocks.1.attn.qkv.weight"])
    assert state_dict["decoder.readouts.betas.bias"].equal(network["module.decoder.dec_body_shape.bias"])
    assert state_dict["decoder.layers.1.feed_forward.fc2.weight"].equal(
        network["module.decoder.transformer.transformer.layers.1.2.fn.net.3.weight"]
    )
    with safe_open(output_dir / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.float32}
        assert not any("to_token_embedding" in key or "smplx" in key for key in weights.keys())
        assert len(list(weights.keys())) == len(network) - 2  # all but the token embedding's weight and bias
    assert type(AutoImageProcessor.from_pretrained(output_dir)).__name__ == "SmplestXImageProcessor"


def _key_table(path: Path) -> dict[str, torch.Tensor]:
    lines = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {key: torch.empty(ast.literal_eval(shape), dtype=getattr(torch, dtype), device="meta") for key, shape, dtype in lines}


@pytest.mark.parametrize(
    "size, values, ours", [("b", 116_564_336, 116_502_128), ("h", 687_223_152, 687_119_472)]
)  # fmt: skip
def test_official_key_tables_map_completely(size, values, ours):
    table, buffers = REFERENCE_DIR / f"official_checkpoint_keys_{size}.txt", REFERENCE_DIR / "official_model_buffers_smplx_layer.txt"
    if not (table.is_file() and buffers.is_file()):
        pytest.skip(f"{table.parent} (shared reference beside the project) is not available")
    network = _key_table(table)
    assert sum(t.numel() for t in network.values()) == values  # the whole table was read
    network |= _key_table(buffers)  # as in DataParallel(model).state_dict() before save_model drops them

    targets = {key: map_original_key(key) for key in network}  # raises on any unmapped key
    dropped = {key for key, target in targets.items() if target is None}
    assert dropped == {
        "module.decoder.transformer.to_token_embedding.weight", "module.decoder.transformer.to_token_embedding.bias",
    } | {key for key in network if key.startswith("module.smplx_layer.")}  # fmt: skip
    assert len(set(targets.values()) - {None}) == len(network) - len(dropped)  # one-to-one

    state_dict, config = convert_original_state_dict(network)
    assert config.to_dict() == SmplestXConfig.from_preset(size).to_dict()  # size inferred from the shapes
    with torch.device("meta"):
        model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(size))
    expected = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    assert {key: tuple(tensor.shape) for key, tensor in state_dict.items()} == expected
    assert {targets[key]: tuple(t.shape) for key, t in network.items() if targets[key]} == expected
    assert sum(t.numel() for t in state_dict.values()) == ours == values - (80 * config.hidden_size + config.hidden_size)


@pytest.mark.parametrize("preset", ["tiny", "s", "l"])
def test_size_is_inferred_from_weight_shapes(preset):
    _, config = convert_original_state_dict(_original_network(SmplestXConfig.from_preset(preset), meta=True))
    assert config.to_dict() == SmplestXConfig.from_preset(preset).to_dict()


def test_sizes_without_a_preset_need_the_head_count():
    custom = SmplestXConfig.from_preset("tiny", num_hidden_layers=3, decoder_attention_head_dim=8)
    network = _original_network(custom, meta=True)
    with pytest.raises(ValueError, match="--num-attention-heads"):
        convert_original_state_dict(network)
    _, config = convert_original_state_dict(network, num_attention_heads=2, decoder_num_attention_heads=2)
    assert (config.num_hidden_layers, config.num_attention_heads, config.decoder_attention_head_dim) == (3, 2, 16)
    _, config = convert_original_state_dict(network, num_attention_heads=2)  # the original decoder's 8 heads
    assert (config.decoder_num_attention_heads, config.decoder_attention_head_dim) == (8, 4)


def test_bare_legacy_and_buffer_carrying_networks_convert_the_same():
    network = _original_network()
    reference, _ = convert_original_state_dict(network)
    bare = {key.removeprefix("module."): value for key, value in network.items()}  # no DataParallel prefix
    legacy = {key.replace("module.encoder.", "module.backbone."): value for key, value in network.items()}
    with_buffers = network | {"module.smplx_layer.shapedirs": torch.zeros(4, 3, 10), "module.smplx_layer.parents": torch.zeros(55, dtype=torch.long)}  # fmt: skip
    for variant in (bare, legacy, with_buffers):
        state_dict, _ = convert_original_state_dict(variant)
        assert state_dict.keys() == reference.keys() and all(state_dict[k] is reference[k] for k in reference)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda n: n.update({"module.decoder.extra_head.weight": torch.zeros(2)}), "no counterpart.*'decoder.extra_head.weight'"),
        (lambda n: n.pop("module.decoder.dec_face_cam.bias"), r"missing 1 key\(s\): 'decoder.readouts.face_camera.bias'"),
        (lambda n: n.update({"module.decoder.dec_face_cam.weight": torch.zeros(4, TINY.token_projection_dim)}), r"decoder.readouts.face_camera.weight \(4, 64\) != \(3, 64\)"),
        (lambda n: n.update({"module.encoder.pos_embed": torch.zeros(1, 97, TINY.hidden_size)}), "97 rows, expected 193"),
        (lambda n: n.update({"module.body_position_net.conv.0.weight": torch.zeros(2)}), "SMPLer-X"),
        (lambda n: n.update({"module.decoder.token_conv.bias": torch.zeros(64, dtype=torch.long)}), r"floating point.*token_projection.bias \(torch.int64\)"),
        (lambda n: [n.pop(k) for k in list(n) if ".decoder." in k], "encoder weights only.*load_vitpose_into_encoder"),
        (lambda n: n.update({"encoder.task_tokens": n["module.encoder.task_tokens"]}), "twice"),
    ],
    ids=["unmapped", "missing", "wrong-shape", "wrong-input-size", "smpler-x", "integer", "encoder-only", "duplicate"],
)  # fmt: skip
def test_bad_checkpoints_are_rejected_naming_the_problem(edit, message):
    network = _original_network()
    edit(network)
    with pytest.raises(ValueError, match=message):
        convert_original_state_dict(network)


def test_bfloat16_output(tmp_path, converted):
    network, _ = converted
    checkpoint = _write_snapshot(tmp_path / "snapshot.pth.tar", network)
    output_dir = convert_original_checkpoint(checkpoint, tmp_path / "bf16", dtype="bf16")
    with safe_open(output_dir / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(key).dtype for key in weights.keys()} == {torch.bfloat16}
    model = SmplestXForHumanMeshRecovery.from_pretrained(output_dir, dtype=torch.bfloat16)
    expected = network["module.encoder.blocks.0.mlp.fc1.weight"].to(torch.bfloat16)
    assert model.encoder.layers[0].mlp.fc1.weight.equal(expected)
    assert not model.encoder.layers[0].mlp.fc1.weight.float().equal(network["module.encoder.blocks.0.mlp.fc1.weight"])


def test_output_is_written_atomically(tmp_path, converted, monkeypatch):
    network, _ = converted
    checkpoint = _write_snapshot(tmp_path / "snapshot.pth.tar", network)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("user data")
    with pytest.raises(ValueError, match="not empty.*--overwrite"):
        convert_original_checkpoint(checkpoint, output_dir)
    assert [p.name for p in output_dir.iterdir()] == ["keep.txt"]

    # A failure after the staging folder was written (here: the reload check) leaves the old folder as it was.
    def corrupted_reload(*args, **kwargs):
        raise converter.CheckpointConversionError("Saved weights differ from the converted ones after reloading")

    monkeypatch.setattr(converter, "_verify_saved", corrupted_reload)
    with pytest.raises(ValueError, match="differ"):
        convert_original_checkpoint(checkpoint, output_dir, overwrite=True)
    assert [p.name for p in output_dir.iterdir()] == ["keep.txt"] and _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="differ"):
        convert_original_checkpoint(checkpoint, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists() and _leftovers(tmp_path) == []
    monkeypatch.undo()

    convert_original_checkpoint(checkpoint, output_dir, overwrite=True)
    assert not (output_dir / "keep.txt").exists() and (output_dir / "model.safetensors").is_file()
    assert _leftovers(tmp_path) == []

    # The reload check itself catches a weight that is not what was meant to be written.
    from safetensors.torch import load_file

    written = load_file(output_dir / "model.safetensors")
    converter._verify_saved(output_dir, written, torch.float32)
    written["decoder.readouts.jaw_pose.bias"] = written["decoder.readouts.jaw_pose.bias"] + 1e-6
    with pytest.raises(ValueError, match="differ.*'decoder.readouts.jaw_pose.bias'"):
        converter._verify_saved(output_dir, written, torch.float32)


def test_unreadable_files_give_one_line_errors(tmp_path, converted, capsys):
    network, _ = converted
    (tmp_path / "notes.pth.tar").write_text("not a checkpoint\n")
    snapshot = _write_snapshot(tmp_path / "snapshot.pth.tar", network).read_bytes()
    (tmp_path / "truncated.pth.tar").write_bytes(snapshot[: len(snapshot) // 2])
    torch.save({"meta": {"epoch": 210}, "state_dict": {"backbone.pos_embed": torch.zeros(1, 193, 64)}}, tmp_path / "vitpose.pth")
    cases = {
        "missing.pth.tar": "not found",
        "notes.pth.tar": "not a readable torch checkpoint",
        "truncated.pth.tar": "not a readable torch checkpoint",
        "vitpose.pth": "not an SMPLest-X checkpoint.*load_vitpose_into_encoder",
        ".": "is a directory",
    }
    for name, message in cases.items():
        assert main([str(tmp_path / name), str(tmp_path / "out")]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith("error: ") and "Traceback" not in error, error
        assert re.search(message, error), (name, error)
        assert "--trust-pickle" not in error  # never suggested for a file that is not a valid pickle
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_pickled_objects_need_trust(tmp_path, converted):
    import argparse

    network, _ = converted
    checkpoint = _write_snapshot(tmp_path / "odd.pth.tar", network, optimizer=argparse.Namespace(lr=0.1))
    with pytest.raises(ValueError, match=r"argparse.Namespace.*--trust-pickle"):
        convert_original_checkpoint(checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert (convert_original_checkpoint(checkpoint, tmp_path / "out", trust_pickle=True) / "model.safetensors").is_file()


def test_smplest_x_cli_converts_with_options_in_any_position(tmp_path, converted, capsys):
    network, _ = converted
    checkpoint = _write_snapshot(tmp_path / "x.pth.tar", network)
    assert cli_main(["convert-original", "--dtype", "bf16", str(checkpoint), str(tmp_path / "out")]) == 0
    assert "hidden size 64" in capsys.readouterr().out
    assert SmplestXConfig.from_pretrained(tmp_path / "out").dtype in ("bfloat16", torch.bfloat16)

    # Width 64 with 3 layers is no preset: the head count must be given, and is accepted after the paths.
    custom = _original_network(SmplestXConfig.from_preset("tiny", num_hidden_layers=3))
    custom_checkpoint = _write_snapshot(tmp_path / "custom.pth.tar", custom)
    assert cli_main(["convert-original", str(custom_checkpoint), str(tmp_path / "custom")]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--num-attention-heads" in error and not (tmp_path / "custom").exists()
    arguments = [str(custom_checkpoint), str(tmp_path / "custom"), "--num-attention-heads", "4", "--decoder-num-attention-heads", "4"]  # fmt: skip
    assert cli_main(["convert-original", *arguments]) == 0
    assert SmplestXConfig.from_pretrained(tmp_path / "custom").num_hidden_layers == 3


def test_module_entry_point_fails_in_one_line_without_output(tmp_path):
    """`python -m` in a fresh interpreter: exit 1, one line on stderr, no traceback, no output folder.
    (The `smplest-x` script is `smplest_hf.cli:main`, exercised in-process above to keep this file fast.)"""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="console_scripts", name="smplest-x")] in ([], ["smplest_hf.cli:main"])
    bad = subprocess.run(
        [sys.executable, "-m", "smplest_hf.models.smplest_x.convert_original_checkpoint", str(tmp_path / "nope.pth.tar"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "not found" in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert not (tmp_path / "out").exists()
