import math

import pytest
import torch
from huggingface_hub.dataclasses import StrictDataclassClassValidationError

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

PARAMETER_FIELDS = (
    "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
    "camera_translation", "left_hand_root_pose", "right_hand_root_pose", "face_root_pose",
    "left_hand_camera_translation", "right_hand_camera_translation", "face_camera_translation",
)  # fmt: skip


def _tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny", **overrides)).eval()


# Original counts (../shared/reference/original_model.md) less the unused decoder to_token_embedding, Linear(80 -> D).
@pytest.mark.parametrize(
    "preset, original_count, width",
    [("s", 37_405_808, 384), ("b", 116_564_336, 768), ("l", 346_050_416, 1024), ("h", 687_223_152, 1280)],
)
def test_presets_have_the_original_parameter_counts(preset, original_count, width):
    with torch.device("meta"):
        model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(preset))
    unused_token_embedding = 80 * width + width
    assert sum(p.numel() for p in model.parameters()) == original_count - unused_token_embedding


def test_issue_quoted_counts():
    with torch.device("meta"):
        counts = {p: sum(x.numel() for x in SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(p)).parameters()) for p in "bh"}
    assert counts == {"b": 116_502_128, "h": 687_119_472}


def test_config_rejects_inconsistent_values():
    with pytest.raises(ValueError, match="Unknown SMPLest-X preset 'xl'"):
        SmplestXConfig.from_preset("xl")
    with pytest.raises(StrictDataclassClassValidationError, match="num_task_tokens"):
        SmplestXConfig(num_task_tokens=81)
    with pytest.raises(StrictDataclassClassValidationError, match="divisible"):
        SmplestXConfig(hidden_size=100, num_attention_heads=16)


def test_output_shapes_and_wrong_input_size():
    model = _tiny_model()
    outputs = model(torch.rand(2, 3, 256, 192))
    expected = {"global_orient": (2, 3), "body_pose": (2, 21, 3), "left_hand_pose": (2, 15, 3),
                "right_hand_pose": (2, 15, 3), "jaw_pose": (2, 3), "betas": (2, 10), "expression": (2, 10),
                "camera_translation": (2, 3)}  # fmt: skip
    assert {name: tuple(getattr(outputs, name).shape) for name in expected} == expected
    assert outputs.vertices is None  # no body model attached
    with pytest.raises(ValueError, match=r"\(N, 3, 256, 192\)"):
        model(torch.rand(2, 3, 512, 384))


def test_empty_batch_gives_empty_outputs():
    outputs = _tiny_model()(torch.rand(0, 3, 256, 192))
    assert tuple(outputs.body_pose.shape) == (0, 21, 3) and tuple(outputs.camera_translation.shape) == (0, 3)
    assert tuple(outputs.left_hand_pose.shape) == (0, 15, 3) and tuple(outputs.betas.shape) == (0, 10)


def test_camera_translation_and_readout_layout():
    """Drive the readouts through their biases and check the decoded values against the formulas."""
    model = _tiny_model()
    readouts = model.decoder.readouts
    for layer in readouts.values():
        torch.nn.init.zeros_(layer.weight)
    identity_6d = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # row-major 3x2: columns e_x, e_y
    quarter_turn_z_6d = torch.tensor([0.0, -1.0, 1.0, 0.0, 0.0, 0.0])  # columns e_y, -e_x: +90 deg about z
    with torch.no_grad():
        readouts["body_root_pose"].bias.copy_(quarter_turn_z_6d)
        readouts["body_pose"].bias.copy_(identity_6d.repeat(21))
        readouts["body_camera"].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        readouts["betas"].bias.copy_(torch.arange(10.0))
        readouts["hand_camera"].bias.copy_(torch.tensor([0.0, 0.0, -1.0, 0.5, 0.5, 2.0]))
    outputs = model(torch.rand(3, 3, 256, 192))
    k = math.sqrt(5000 * 5000 * 2.5**2 / (256 * 192))
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    torch.testing.assert_close(outputs.camera_translation, torch.tensor([[0.1, -0.2, k * sigmoid(0.3)]] * 3))
    torch.testing.assert_close(outputs.left_hand_camera_translation, torch.tensor([[0.0, 0.0, k * sigmoid(-1.0)]] * 3))
    torch.testing.assert_close(outputs.right_hand_camera_translation, torch.tensor([[0.5, 0.5, k * sigmoid(2.0)]] * 3))
    torch.testing.assert_close(outputs.global_orient, torch.tensor([[0.0, 0.0, math.pi / 2]] * 3))
    torch.testing.assert_close(outputs.body_pose, torch.zeros(3, 21, 3))
    torch.testing.assert_close(outputs.betas, torch.arange(10.0).expand(3, 10))


def test_sdpa_equals_eager(tmp_path):
    model = _tiny_model()
    model.save_pretrained(tmp_path)
    sdpa = SmplestXForHumanMeshRecovery.from_pretrained(tmp_path, dtype=torch.float32).eval()
    eager = SmplestXForHumanMeshRecovery.from_pretrained(tmp_path, dtype=torch.float32, attn_implementation="eager").eval()
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    pixel_values = torch.rand(4, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    sdpa_outputs, eager_outputs = sdpa(pixel_values), eager(pixel_values, output_attentions=True)
    # Two float32 summation orders: ~1e-6 apart in the tokens, amplified up to ~1e-5 by the 6D -> axis-angle map.
    for name in PARAMETER_FIELDS:
        torch.testing.assert_close(getattr(sdpa_outputs, name), getattr(eager_outputs, name), atol=1e-4, rtol=1e-4)
    attentions = eager_outputs.attentions
    assert len(attentions) == 4 and attentions[0].shape == (4, 4, 272, 272)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(4, 4, 272))


def test_hidden_states_are_recorded():
    outputs = _tiny_model()(torch.rand(1, 3, 256, 192), output_hidden_states=True)
    assert len(outputs.hidden_states) == 5 and outputs.hidden_states[0].shape == (1, 272, 64)


def _loss(outputs):
    return sum(getattr(outputs, name).square().sum() for name in PARAMETER_FIELDS)


def test_gradient_checkpointing_matches_plain_forward_and_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    pixel_values = torch.rand(2, 3, 256, 192)
    plain, checkpointed = _tiny_model(seed=1).train(), _tiny_model(seed=1).train()
    checkpointed.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert all(layer.gradient_checkpointing for layer in checkpointed.encoder.layers)
    plain_outputs, checkpointed_outputs = plain(pixel_values), checkpointed(pixel_values)
    for name in PARAMETER_FIELDS:
        torch.testing.assert_close(getattr(plain_outputs, name), getattr(checkpointed_outputs, name))
    _loss(plain_outputs).backward()
    _loss(checkpointed_outputs).backward()
    missing = [name for name, p in plain.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"
    for (name, p), (_, q) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_batched_forward_equals_one_by_one():
    model = _tiny_model()
    pixel_values = torch.rand(5, 3, 256, 192)
    batched = model(pixel_values)
    for index in range(5):
        single = model(pixel_values[index : index + 1])
        for name in PARAMETER_FIELDS:
            torch.testing.assert_close(getattr(single, name)[0], getattr(batched, name)[index], atol=1e-5, rtol=1e-5)


def test_drop_path_only_acts_in_training():
    model = _tiny_model(drop_path_rate=0.9)
    pixel_values = torch.rand(2, 3, 256, 192)
    torch.testing.assert_close(model(pixel_values).betas, model(pixel_values).betas)
    model.train()
    torch.manual_seed(0)
    first = model(pixel_values).betas
    torch.manual_seed(1)
    assert not torch.allclose(first, model(pixel_values).betas)


def test_return_dict_false_gives_a_tuple():
    outputs = _tiny_model()(torch.rand(1, 3, 256, 192), return_dict=False)
    assert isinstance(outputs, tuple) and outputs[0].shape == (1, 3)  # global_orient first (loss is None)


def test_body_model_runs_in_float32_under_bfloat16_autocast(synthetic_body_model_dir):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir)
    pixel_values = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model(pixel_values)
    assert outputs.vertices.dtype == torch.float32
    reference = model.body_model(
        outputs.global_orient.float(), outputs.body_pose.float(), outputs.left_hand_pose.float(),
        outputs.right_hand_pose.float(), outputs.jaw_pose.float(), outputs.betas.float(), outputs.expression.float(),
        transl=outputs.camera_translation.float(),
    )
    torch.testing.assert_close(outputs.vertices, reference.vertices)  # same parameters -> same float32 mesh
