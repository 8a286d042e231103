"""Encoder initialisation from ViTPose backbones (mmpose files, transformers folders and models)."""

import pytest
import torch

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.training.vitpose_initialization import convert_vitpose_backbone, load_vitpose_into_encoder

TINY = SmplestXConfig.from_preset("tiny")


def _random_vitpose(num_experts=1):
    """A tiny transformers VitPoseForPoseEstimation with the tiny preset's encoder sizes."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    backbone_config = VitPoseBackboneConfig(
        hidden_size=TINY.hidden_size, num_hidden_layers=TINY.num_hidden_layers,
        num_attention_heads=TINY.num_attention_heads, layer_norm_eps=1e-6, num_experts=num_experts, part_features=16,
        out_indices=[TINY.num_hidden_layers],
    )  # fmt: skip
    torch.manual_seed(0)
    model = VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone_config)).eval()
    with torch.no_grad():  # weights far from their initialisation, so a wrong mapping cannot go unnoticed
        for name, parameter in model.named_parameters():
            parameter.add_(torch.randn_like(parameter) * (0.2 if "layernorm" in name else 0.05))
    return model


def _our_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny", **overrides)).eval()


def _encode_patches_only(model, images):
    """Our encoder on the 192 patch tokens alone (no task tokens), as a ViTPose backbone runs."""
    embeddings = model.encoder.embeddings
    positions = embeddings.position_embeddings
    hidden = embeddings.patch_embedding(images).flatten(2).transpose(1, 2) + positions[:, 1:] + positions[:, :1]
    for layer in model.encoder.layers:
        hidden = layer(hidden)
    return model.encoder.final_norm(hidden)


def _mmpose_state_dict(vitpose, prefix="backbone.") -> dict[str, torch.Tensor]:
    """The same weights under the original ViTPose (mmpose) names: fused qkv, `patch_embed`, `last_norm`."""
    hf = {k.removeprefix("backbone."): v for k, v in vitpose.state_dict().items() if k.startswith("backbone.")}
    state_dict = {
        "patch_embed.proj.weight": hf["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf["embeddings.patch_embeddings.projection.bias"],
        "pos_embed": hf["embeddings.position_embeddings"],
        "last_norm.weight": hf["layernorm.weight"],
        "last_norm.bias": hf["layernorm.bias"],
    }
    for i in range(TINY.num_hidden_layers):
        ours, theirs = f"blocks.{i}", f"encoder.layer.{i}"
        for kind in ("weight", "bias"):
            state_dict[f"{ours}.attn.qkv.{kind}"] = torch.cat(
                [hf[f"{theirs}.attention.attention.{part}.{kind}"] for part in ("query", "key", "value")]
            )
            state_dict[f"{ours}.attn.proj.{kind}"] = hf[f"{theirs}.attention.output.dense.{kind}"]
            state_dict[f"{ours}.norm1.{kind}"] = hf[f"{theirs}.layernorm_before.{kind}"]
            state_dict[f"{ours}.norm2.{kind}"] = hf[f"{theirs}.layernorm_after.{kind}"]
            state_dict[f"{ours}.mlp.fc1.{kind}"] = hf[f"{theirs}.mlp.fc1.{kind}"]
            state_dict[f"{ours}.mlp.fc2.{kind}"] = hf[f"{theirs}.mlp.fc2.{kind}"]
    return {prefix + key: value for key, value in state_dict.items()}


def test_vitpose_backbone_initialises_our_encoder(tmp_path):
    vitpose = _random_vitpose()
    vitpose.save_pretrained(tmp_path / "vitpose")
    # mmpose TopDown file (backbone + keypoint head), and the extracted backbone SMPLest-X's training loads.
    head = {"keypoint_head.final_layer.weight": torch.zeros(17, TINY.hidden_size, 1, 1), "keypoint_head.final_layer.bias": torch.zeros(17)}  # fmt: skip
    torch.save({"meta": {"epoch": 210}, "state_dict": _mmpose_state_dict(vitpose) | head}, tmp_path / "vitpose.pth")
    torch.save({"state_dict": _mmpose_state_dict(vitpose, prefix="")}, tmp_path / "vitpose_backbone.pth")

    images = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        reference = vitpose.backbone(images).feature_maps[-1]  # (2, 192, D), after the final LayerNorm
    assert reference.shape == (2, 192, TINY.hidden_size)

    expected = None
    for seed, source in enumerate((tmp_path / "vitpose", tmp_path / "vitpose.pth", tmp_path / "vitpose_backbone.pth")):
        model = _our_model(seed=seed)
        task_tokens = model.encoder.embeddings.task_tokens.detach().clone()
        assert load_vitpose_into_encoder(model, source) == ["encoder.embeddings.task_tokens"]
        assert model.encoder.embeddings.task_tokens.equal(task_tokens)  # keeps its initialisation
        with torch.no_grad():
            torch.testing.assert_close(_encode_patches_only(model, images), reference, atol=1e-5, rtol=1e-5, msg=str(source))
        encoder = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.") and "task_tokens" not in k}
        expected = expected or encoder
        assert all(encoder[k].equal(v) for k, v in expected.items())  # the three layouts give identical weights

    for source in (tmp_path / "vitpose.pth", vitpose.backbone):  # sized from the weights alone; bare VitPoseBackbone
        converted = convert_vitpose_backbone(source)
        assert converted.keys() == expected.keys() and all(converted[k].equal(v) for k, v in expected.items())


def test_vitpose_mismatches_are_rejected(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="mixture-of-experts"):
        convert_vitpose_backbone(_random_vitpose(num_experts=2))
    with pytest.raises(ValueError, match="mixture-of-experts"):  # ViTPose+ in the mmpose layout
        convert_vitpose_backbone({"state_dict": {"backbone.blocks.0.mlp.experts.0.weight": torch.zeros(16, 256)}})
    vitpose = _random_vitpose()
    with pytest.raises(ValueError, match="attention heads"):
        convert_vitpose_backbone(vitpose, config=SmplestXConfig.from_preset("tiny", num_attention_heads=8))
    deeper = _our_model(num_hidden_layers=TINY.num_hidden_layers + 1)
    with pytest.raises(ValueError, match=r"missing 12 key\(s\): 'encoder.layers.4.attention.proj.bias'"):
        load_vitpose_into_encoder(deeper, vitpose)
    with pytest.raises(ValueError, match="no counterpart in our encoder: 'cls_token'"):
        convert_vitpose_backbone({"state_dict": _mmpose_state_dict(vitpose) | {"backbone.cls_token": torch.zeros(1, 1, 64)}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):  # "dir/file.pth" is a path, not a Hub repo id
        convert_vitpose_backbone("weights/vitpose.pth")
