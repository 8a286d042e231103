import ast
import math
from pathlib import Path

import pytest
import torch
from huggingface_hub.dataclasses import StrictDataclassClassValidationError

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.models.smplest_x.modeling_smplest_x import run_body_model

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


# ======================================================================================= the body model it owns
def _body_arrays_dtypes(model):
    return {buffer.dtype for buffer in model.body_model.buffers()}


@pytest.mark.parametrize("cast", ["to_bfloat16", "bfloat16", "half", "to_float64"])
def test_dtype_casts_leave_the_body_model_float32(synthetic_body_model_dir, cast):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir)
    {"to_bfloat16": lambda: model.to(torch.bfloat16), "bfloat16": model.bfloat16, "half": model.half,
     "to_float64": lambda: model.to(torch.float64)}[cast]()  # fmt: skip
    network_dtype = model.dtype  # the attention / MLP weights' (FLOAT32_PARAMETERS stay float32 under bf16 / fp16)
    assert network_dtype != torch.float32
    assert _body_arrays_dtypes(model) == {torch.float32, torch.int64}
    if network_dtype == torch.float16:
        return  # no float16 convolutions on CPU
    outputs = model(torch.rand(2, 3, 256, 192, dtype=network_dtype))
    assert outputs.betas.dtype == torch.promote_types(network_dtype, torch.float32) and outputs.vertices.dtype == torch.float32
    reference = SmplxBodyModel.from_directory(synthetic_body_model_dir)
    assert torch.equal(outputs.vertices, run_body_model(reference, outputs).vertices)


def test_from_pretrained_with_dtype_and_device_map_keeps_the_body_model_float32(tiny_model_dir, synthetic_body_model_dir):
    model = SmplestXForHumanMeshRecovery.from_pretrained(
        tiny_model_dir, dtype=torch.bfloat16, device_map="cpu", body_model_dir=synthetic_body_model_dir
    )
    assert model.dtype == torch.bfloat16
    assert _body_arrays_dtypes(model) == {torch.float32, torch.int64}
    outputs = model.eval()(torch.rand(1, 3, 256, 192, dtype=torch.bfloat16))
    assert outputs.vertices.dtype == outputs.joints.dtype == torch.float32
    assert outputs.vertices.shape == (1, 10475, 3) and outputs.keypoints_2d.shape == (1, 137, 2)


def test_the_body_model_follows_the_models_device(synthetic_body_model_dir):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir)
    model.to("meta")  # every device move runs through the same path (`_apply`); meta is the one CPU CI has
    assert {buffer.device.type for buffer in model.body_model.buffers()} == {"meta"}
    assert _body_arrays_dtypes(model) == {torch.float32, torch.int64}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_body_model_moves_to_cuda_and_back_in_float32(synthetic_body_model_dir):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir).to("cuda", torch.bfloat16)
    assert {buffer.device.type for buffer in model.body_model.buffers()} == {"cuda"}
    assert _body_arrays_dtypes(model) == {torch.float32, torch.int64}
    outputs = model(torch.rand(1, 3, 256, 192, device="cuda", dtype=torch.bfloat16))
    assert outputs.vertices.device.type == "cuda" and outputs.vertices.dtype == torch.float32
    model.cpu()
    assert {buffer.device.type for buffer in model.body_model.buffers()} == {"cpu"}


def test_return_geometry_false_gives_parameters_and_leaves_the_body_model_alone(synthetic_body_model_dir):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir)
    body_model = model.body_model
    calls = []
    body_model.register_forward_hook(lambda module, args, kwargs_output: calls.append(1))
    pixel_values = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    parameters_only = model(pixel_values, return_geometry=False)
    assert calls == [] and model.body_model is body_model
    assert parameters_only.vertices is None and parameters_only.joints is None and parameters_only.keypoints_2d is None
    with_geometry = model(pixel_values)
    assert calls == [1] and with_geometry.vertices.shape == (2, 10475, 3)
    for name in PARAMETER_FIELDS:
        assert torch.equal(getattr(parameters_only, name), getattr(with_geometry, name)), name
    with pytest.raises(ValueError, match="return_geometry=True"):
        model(pixel_values, labels={}, return_geometry=False)


def test_the_body_model_is_outside_the_module_tree_and_the_saved_files(tmp_path, synthetic_body_model_dir):
    model = _tiny_model()
    keys_before, buffers_before = set(model.state_dict()), len(list(model.buffers()))
    model.attach_body_model(synthetic_body_model_dir)
    body_model = model.body_model
    assert set(model.state_dict()) == keys_before and len(list(model.buffers())) == buffers_before
    assert all(module is not body_model for module in model.modules())  # no wrapper broadcasts, shards or casts it
    model.save_pretrained(tmp_path)
    saved_bytes = sum(path.stat().st_size for path in tmp_path.rglob("*") if path.is_file())
    body_bytes = sum(buffer.numel() * buffer.element_size() for buffer in body_model.buffers())
    assert saved_bytes < body_bytes / 2  # the weights, config and code, none of the body model's arrays


def test_body_model_is_read_only(synthetic_body_model_dir):
    model = _tiny_model().attach_body_model(synthetic_body_model_dir)
    for value in (None, SmplxBodyModel.from_directory(synthetic_body_model_dir)):
        with pytest.raises(AttributeError, match="attach_body_model"):
            model.body_model = value
    assert model.body_model is not None and "body_model" not in dict(model.named_children())


def test_no_module_outside_the_model_assigns_or_reaches_its_body_model():
    """The model owns its body model: callers attach one (`attach_body_model`) or skip it (`return_geometry`)."""
    root = Path(__file__).resolve().parents[1]
    owner = root / "smplest_hf" / "models" / "smplest_x" / "modeling_smplest_x.py"
    copies = root / "smplest_hf" / "demo_model"  # the saved model's code: copies of models/smplest_x (test_hub.py)
    offenders = []
    for folder in ("smplest_hf", "hub_datasets", "examples", "space", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                targets = []
                if isinstance(node, (ast.Assign, ast.Delete)):
                    targets = node.targets
                elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                    targets = [node.target]
                assigned = any(isinstance(target, ast.Attribute) and target.attr == "body_model" for target in targets)
                set_by_name = (
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr")
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "body_model"
                )  # fmt: skip
                private = path not in (owner, copies / owner.name) and isinstance(node, ast.Attribute) and node.attr == "_body_model"
                if assigned or set_by_name or private:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
