"""bfloat16 inference users can trust: loading and casting keep the precision-critical parts float32, inputs follow
the weights, geometry comes back float32, the demo model's bf16 mesh stays within millimetres of float32's, and
`auto` settles dtype and attention kernel by hardware and precision."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel

from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor
from smplest_hf.cli import main as cli_main
from smplest_hf.demo_data import __file__ as demo_data_init
from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR, SmplestXPipeline, choose_dtype, native_bfloat16
from smplest_hf.models.smplest_x.modeling_smplest_x import _FLOAT32_PARAMETER
from smplest_hf.models.smplest_x.attention_implementation import choose_attention_implementation
from smplest_hf.training import choose_attention_implementation as training_choice

DEMO_DATA = __import__("pathlib").Path(demo_data_init).parent
# Root-relative vertex error of the bundled demo model in bfloat16 against float32 on the demo's crops; measured
# 0.49 mm mean / 2.5 mm max on an AMX CPU (all-bf16 weights: 3.4 / 15 mm), 0.46 / 2.5 (sdpa) and 0.79 / 2.6
# (eager) on an AVX512-BF16 CPU without AMX.
VERTEX_MEAN_MM, VERTEX_MAX_MM = 1.0, 5.0


@pytest.fixture(scope="module")
def demo_crops():
    boxes = json.loads((DEMO_DATA / "boxes.json").read_text())
    processor = SmplestXImageProcessor.from_pretrained(BUNDLED_MODEL_DIR)
    crops = [processor(Image.open(DEMO_DATA / name).convert("RGB"), boxes=[box], return_tensors="pt")["pixel_values"]
             for name, box in boxes.items()]  # fmt: skip
    return torch.cat(crops)


@pytest.fixture(scope="module")
def float32_and_bfloat16(synthetic_body_model_dir):
    load = SmplestXForHumanMeshRecovery.from_pretrained
    float32 = load(BUNDLED_MODEL_DIR, body_model_dir=synthetic_body_model_dir).eval()
    bfloat16 = load(BUNDLED_MODEL_DIR, body_model_dir=synthetic_body_model_dir, dtype=torch.bfloat16).eval()
    return float32, bfloat16


def test_loading_in_bfloat16_keeps_the_precision_critical_parts_float32(float32_and_bfloat16):
    float32, bfloat16 = float32_and_bfloat16
    kept = {name for name, _ in bfloat16.named_parameters() if _FLOAT32_PARAMETER.search(name)}
    assert {"encoder.embeddings.patch_embedding.weight", "encoder.layers.0.norm1.weight", "encoder.final_norm.bias",
            "decoder.position_embedding", "decoder.token_projection.weight", "decoder.readouts.betas.weight",
            "decoder.layers.1.feed_forward_norm.weight"} <= kept  # fmt: skip
    reference = dict(float32.named_parameters())
    for name, parameter in bfloat16.named_parameters():
        if name in kept:  # loaded as saved, not rounded through bfloat16
            assert parameter.dtype == torch.float32 and torch.equal(parameter, reference[name]), name
        else:
            assert parameter.dtype == torch.bfloat16, name
            assert torch.equal(parameter, reference[name].to(torch.bfloat16)), name
    assert bfloat16.dtype == torch.bfloat16 and float32.dtype == torch.float32
    assert bfloat16.body_model.shapedirs.dtype == torch.float32


def test_casting_to_bfloat16_matches_loading_in_it(float32_and_bfloat16, synthetic_body_model_dir):
    _, loaded = float32_and_bfloat16
    cast = SmplestXForHumanMeshRecovery.from_pretrained(BUNDLED_MODEL_DIR).to(torch.bfloat16)
    for (name, a), (_, b) in zip(cast.named_parameters(), loaded.named_parameters()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    assert cast.half().dtype == torch.float16 and cast.decoder.readouts["betas"].weight.dtype == torch.float32
    assert cast.float().dtype == torch.float32  # and back: every parameter float32 again
    assert {p.dtype for p in cast.parameters()} == {torch.float32}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])  # eager: what `auto` picks for bfloat16 on CPU
def test_bfloat16_output_is_float32_geometry_within_millimetres_of_float32(float32_and_bfloat16, demo_crops, attention):
    float32, bfloat16 = float32_and_bfloat16
    bfloat16.set_attn_implementation(attention)
    with torch.no_grad():
        reference, output = float32(demo_crops), bfloat16(demo_crops)  # float32 crops into a bf16 model
    for name in ("vertices", "joints", "keypoints_2d", "camera_translation", "betas", "body_pose", "global_orient"):
        assert getattr(output, name).dtype == torch.float32, name
    error_mm = ((output.vertices - output.joints[:, :1]) - (reference.vertices - reference.joints[:, :1])).norm(dim=-1) * 1000
    assert error_mm.mean() < VERTEX_MEAN_MM and error_mm.max() < VERTEX_MAX_MM, (error_mm.mean(), error_mm.max())
    assert error_mm.max() > 0  # really ran in bfloat16
    # The box camera's long lens puts people ~40 m deep, so depth is checked relatively: 0.17 % (7 cm) was seen on
    # an AVX512-BF16 CPU without AMX, where the bf16 kernels accumulate differently from AMX's.
    translation_error = (output.camera_translation - reference.camera_translation).abs()
    assert translation_error[:, :2].max() < 0.005  # metres, across the image plane
    assert (translation_error[:, 2] / reference.camera_translation[:, 2]).max() < 0.005
    torch.testing.assert_close(output.keypoints_2d, reference.keypoints_2d, atol=2.0, rtol=0)  # body-input pixels


def test_auto_model_in_bfloat16_takes_the_processor_output(demo_crops):
    model = AutoModel.from_pretrained(BUNDLED_MODEL_DIR, dtype=torch.bfloat16).eval()
    processor = SmplestXImageProcessor.from_pretrained(BUNDLED_MODEL_DIR)
    pixel_values = processor(Image.open(DEMO_DATA / "sample_0.jpg").convert("RGB"), return_tensors="pt")["pixel_values"]
    assert pixel_values.dtype == torch.float32
    with torch.no_grad():
        outputs = model(pixel_values)
    assert outputs.body_pose.dtype == torch.float32 and torch.isfinite(outputs.body_pose).all()


def test_auto_dtype_follows_the_hardware_and_is_recorded(tiny_model_dir, synthetic_body_model_dir, tmp_path):
    cpu = torch.device("cpu")
    dtype, reason = choose_dtype("auto", cpu)
    assert dtype == (torch.bfloat16 if native_bfloat16(cpu) else torch.float32) and reason.startswith("auto: ")
    assert choose_dtype("float32", cpu) == (torch.float32, "requested")
    assert choose_dtype("bfloat16", cpu) == (torch.bfloat16, "requested")  # allowed on CPU, slow without AMX
    image = tmp_path / "photos" / "person.png"
    image.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 64, 3), dtype=np.uint8)).save(image)
    output = tmp_path / "out"
    code = cli_main(["infer", str(image.parent), str(output), "--model", str(tiny_model_dir), "--body-model",
                     str(synthetic_body_model_dir), "--detector", "none", "--outputs", "params"])  # fmt: skip
    assert code == 0
    summary = json.loads((output / "results.json").read_text())
    assert summary["dtype"] == str(dtype).removeprefix("torch.") and summary["dtype_reason"] == reason
    assert summary["attention"] == ("eager" if dtype == torch.bfloat16 else "sdpa")


@pytest.mark.parametrize("dtype, attention", [("bfloat16", "eager"), ("float32", "sdpa")])
def test_pipeline_picks_the_attention_kernel_with_the_dtype_on_cpu(tiny_model_dir, dtype, attention):
    pipeline = SmplestXPipeline(tiny_model_dir, detector="none", device="cpu", dtype=dtype)
    assert pipeline.model.config._attn_implementation == attention


def test_a_given_model_keeps_its_attention_kernel_under_auto(tiny_model_dir):
    model = SmplestXForHumanMeshRecovery.from_pretrained(tiny_model_dir, dtype=torch.bfloat16, attn_implementation="sdpa")
    assert SmplestXPipeline(model, detector="none", device="cpu").model.config._attn_implementation == "sdpa"
    assert SmplestXPipeline(model, detector="none", device="cpu", dtype="bfloat16").model.config._attn_implementation == "eager"


def test_auto_keeps_a_given_model_in_its_own_dtype(tiny_model_dir):
    model = SmplestXForHumanMeshRecovery.from_pretrained(tiny_model_dir).eval()
    pipeline = SmplestXPipeline(model, detector="none")
    assert pipeline.dtype == torch.float32 and model.dtype == torch.float32
    assert pipeline.dtype_reason == "auto: the given model's own dtype"


@pytest.mark.parametrize(
    "requested, device, precision, chosen",
    [("auto", "cpu", "bf16", "eager"), ("auto", "cpu", "fp16", "eager"), ("auto", "cpu", "no", "sdpa"),
     ("auto", "cpu", None, "sdpa"), ("auto", "cuda", "bf16", "sdpa"), ("sdpa", "cpu", "bf16", "sdpa"),
     ("eager", "cuda", "no", "eager"), ("auto", "cpu", torch.bfloat16, "eager"), ("auto", "cpu", torch.float32, "sdpa"),
     ("auto", "cuda", torch.bfloat16, "sdpa")],
)  # fmt: skip
def test_attention_is_chosen_per_device_and_precision(requested, device, precision, chosen):
    assert choose_attention_implementation(requested, device, precision) == chosen
    assert training_choice is choose_attention_implementation  # training and inference share one rule


def test_unknown_attention_implementation_is_rejected():
    with pytest.raises(ValueError, match="attn_implementation must be one of"):
        choose_attention_implementation("flash", "cpu", "bf16")
