"""Training: config files, schedule, freezing, the model's float32 body model, the sampler, logging, and `examples/train.py`
end to end on a small synthetic dataset — the loss falls, two CPU processes hold identical weights, and a run
resumed from a mid-run checkpoint reproduces the uninterrupted run's next losses exactly."""

import hashlib
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from distributed_runs import run_with_deadline
from script_modules import load_script

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.training import (
    EpochShuffleSampler,
    JsonlTracker,
    TrainingConfig,
    TrainingConfigError,
    build_optimizer,
    freeze_layers,
    read_metrics,
    select_trackers,
    warmup_cosine_schedule,
)

REPOSITORY = Path(__file__).resolve().parents[1]
CONFIGS = REPOSITORY / "examples" / "configs"
TRAIN_SCRIPT = REPOSITORY / "examples" / "train.py"
MINIMAL = {"output_dir": "out", "data": {"train": [{"path": "data/synthetic"}]}}
NORMALISATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


# ============================================================================================== config
def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "optimization": {"learning_rate": "1e-5", "batch_size": 4}}))
    config = TrainingConfig.from_yaml(path, ["--optimization.batch_size=8", "--model.config_overrides={drop_path_rate: 0.2}",
                                             "--data.train=[{path: a}, {path: b, split: val, sample_interval: 5}]"])  # fmt: skip
    assert config.optimization.learning_rate == 1e-5  # YAML reads 1e-5 as a string: converted
    assert config.optimization.batch_size == 8
    assert config.model.config_overrides == {"drop_path_rate": 0.2}
    assert [(s.path, s.split, s.sample_interval) for s in config.data.train] == [("a", "train", 1), ("b", "val", 5)]
    assert TrainingConfig.from_dict(config.to_dict()) == config  # round trip (what checkpoints store)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--optimization.learning_rat=1"], r"unknown key\(s\) \['optimization.learning_rat'\].*learning_rate"),
        (["--optimization.batch_size=eight"], r"optimization.batch_size must be an integer, got 'eight'"),
        (["--optimization.min_learning_rate=1"], r"min_learning_rate must be in \[0, learning_rate"),
        (["--optimization.mixed_precision=fp8"], r"mixed_precision must be no, fp16, bf16"),
        (["--data.train=[]"], r"data.train is empty"),
        (["--model.vitpose_checkpoint=v.pth", "--model.from_pretrained=m"], r"cannot be combined"),
        (["--data.train=data/x"], r"data.train must be a list of datasets"),
        (["--optimization=8"], r"optimization must be a mapping"),
        (["--model.image_mean=[0.5, 0.5, 0.5]"], r"model.image_mean and model.image_std go together"),
        (["--model.init_layers_for_width=true", "--model.from_pretrained=m"], r"init_layers_for_width is for new models"),
        (["--model.init_layers_for_width=true", "--model.vitpose_checkpoint=v.pth"], r"would re-draw the ViTPose encoder"),
        (["--model.image_mean=[0.5, 0.5]", "--model.image_std=[1, 1]"], r"model.image_mean must be 3 numbers"),
        (["--model.image_mean=[0.5, 0.5, 0.5]", "--model.image_std=[1, 0, 1]"], r"model.image_std must be positive"),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(TrainingConfigError, match=message):
        TrainingConfig.from_dict(MINIMAL, overrides)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingConfigError, match="does not exist"):
        TrainingConfig.from_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["tiny_synthetic_encoder_2d", "tiny_synthetic", "tiny_synthetic_continue", "s", "b", "l", "h"])
def test_shipped_configs_load(name):
    config = TrainingConfig.from_yaml(CONFIGS / f"{name}.yaml")
    if name == "tiny_synthetic_encoder_2d":  # stage 1 of the demo model: a new model
        assert config.model.preset == "tiny" and config.model.init_layers_for_width and config.model.image_mean
        return
    if name == "tiny_synthetic":  # stage 2 continues from stage 1's output folder, with the same data
        stage_1 = TrainingConfig.from_yaml(CONFIGS / "tiny_synthetic_encoder_2d.yaml")
        assert config.model.from_pretrained == stage_1.output_dir and config.data == stage_1.data
        return
    if name == "tiny_synthetic_continue":  # stage 3 continues from stage 2's final model, same data and losses
        stage_2 = TrainingConfig.from_yaml(CONFIGS / "tiny_synthetic.yaml")
        assert config.model.from_pretrained == f"{stage_2.output_dir}/model" and config.data == stage_2.data
        assert config.model.loss_weights == stage_2.model.loss_weights and config.seed != stage_2.seed
        assert config.optimization.learning_rate < stage_2.optimization.learning_rate
        return
    # The original recipes (SMPLer-X configs for S/B/L, SMPLest-X's for H): Adam = AdamW without decay,
    # lr 1e-5 cosine-annealed to 1e-6, no warm-up, no clipping, ViTPose-initialised encoder of the same size.
    o = config.optimization
    assert config.model.preset == name and config.model.vitpose_checkpoint.endswith(".pth")
    assert (o.learning_rate, o.min_learning_rate, o.warmup_steps, o.weight_decay, o.max_grad_norm) == (1e-5, 1e-6, 0, 0.0, None)
    assert (o.batch_size, o.epochs) == {"s": (32, 10), "b": (32, 10), "l": (32, 10), "h": (16, 20)}[name]
    assert config.data.bbox_ratio is None and config.data.mixing == "balance"


def test_distributed_config_files_parse():
    fsdp = yaml.safe_load((CONFIGS / "accelerate_fsdp_h.yaml").read_text())
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    deepspeed = yaml.safe_load((CONFIGS / "accelerate_deepspeed_zero2_h.yaml").read_text())
    assert deepspeed["distributed_type"] == "DEEPSPEED"
    zero = json.loads((CONFIGS / "deepspeed_zero2_h.json").read_text())
    assert zero["zero_optimization"]["stage"] == 2


# ============================================================================================ schedule
def test_schedule_without_warmup_is_the_originals_cosine_annealing():
    parameter = torch.nn.Parameter(torch.zeros(1))
    ours = warmup_cosine_schedule(torch.optim.AdamW([parameter], lr=1e-5), 50, min_learning_rate=1e-6)
    reference_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-5)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(reference_optimizer, T_max=50, eta_min=1e-6)
    for _ in range(50):
        assert ours.get_last_lr()[0] == pytest.approx(reference.get_last_lr()[0], rel=1e-9, abs=1e-15)
        ours.optimizer.step(), reference_optimizer.step(), ours.step(), reference.step()
    assert ours.get_last_lr()[0] == pytest.approx(1e-6)


def test_schedule_warmup_is_linear_then_cosine_from_the_peak():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    scheduler = warmup_cosine_schedule(optimizer, 110, min_learning_rate=0.0, warmup_steps=10)
    rates = []
    for _ in range(111):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step(), scheduler.step()
    assert rates[:11] == pytest.approx([2e-4 * k / 10 for k in range(11)])
    assert rates[60] == pytest.approx(1e-4)  # half way through the cosine: (1 + cos(pi / 2)) / 2
    assert rates[110] == pytest.approx(0.0, abs=1e-15)
    assert scheduler.state_dict()["lr_lambdas"][0]["warmup_steps"] == 10  # saved with checkpoints


# ===================================================================================== freezing, optim
@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny"))


def test_freezing_options(tiny_model):
    def frozen(**options):
        model = SmplestXForHumanMeshRecovery(tiny_model.config)
        names = freeze_layers(model, **options)
        assert names == [n for n, p in model.named_parameters() if not p.requires_grad]
        return {n.split(".")[1] + ("." + n.split(".")[2] if n.startswith("encoder.layers") else "") for n in names}, model

    names, model = frozen(encoder_layers=2)
    assert names == {"embeddings", "layers.0", "layers.1"}
    assert model.encoder.embeddings.task_tokens.requires_grad  # new, never pretrained: stays trainable
    assert frozen(encoder_layers=-1)[0] == {"embeddings", "final_norm"} | {f"layers.{i}" for i in range(4)}
    names, model = frozen(encoder=True)
    assert not model.encoder.embeddings.task_tokens.requires_grad and all(p.requires_grad for p in model.decoder.parameters())
    assert frozen(patch_embedding=True)[0] == {"embeddings"}
    with pytest.raises(ValueError, match=r"encoder_layers must be in \[-1, 4\]"):
        frozen(encoder_layers=5)


def test_optimizer_skips_frozen_parameters_and_decays_only_weight_matrices(tiny_model):
    model = SmplestXForHumanMeshRecovery(tiny_model.config)
    freeze_layers(model, encoder=True)
    optimizer = build_optimizer(model, 1e-4, weight_decay=0.05)
    decayed, plain = ({id(p) for p in group["params"]} for group in optimizer.param_groups)
    named = dict(model.named_parameters())
    assert optimizer.param_groups[0]["weight_decay"] == 0.05 and optimizer.param_groups[1]["weight_decay"] == 0.0
    assert decayed | plain == {id(p) for p in model.decoder.parameters()}
    assert id(named["decoder.readouts.betas.weight"]) in decayed and id(named["decoder.readouts.betas.bias"]) in plain
    assert id(named["decoder.position_embedding"]) in plain
    freeze_layers(model, encoder=True)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(ValueError, match="Every parameter is frozen"):
        build_optimizer(model, 1e-4)


def test_rest_pose_readout_init_starts_near_an_upright_rest_pose(tiny_model):
    from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix
    from smplest_hf.training import init_readouts_at_rest_pose

    def angles_degrees(axis_angle, reference):  # geodesic distance to the reference rotation
        relative = reference.transpose(-1, -2) @ axis_angle_to_matrix(axis_angle)
        return torch.rad2deg(torch.arccos(((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))

    pixels = torch.rand(4, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    model = SmplestXForHumanMeshRecovery(tiny_model.config).eval()
    with torch.no_grad():
        before = model(pixels)
        after = init_readouts_at_rest_pose(model)(pixels)
    upright = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # y-up body, facing -z of a y-down, z-forward camera
    assert angles_degrees(before.body_pose, torch.eye(3)).max() > 90  # random 6D: anywhere on SO(3)
    assert angles_degrees(after.body_pose, torch.eye(3)).max() < 30
    assert angles_degrees(after.left_hand_pose, torch.eye(3)).max() < 30
    assert angles_degrees(after.global_orient, upright).max() < 30
    assert torch.equal(after.betas, before.betas)  # only rotation readouts change


def test_width_scaled_init_sharpens_initial_attention_and_keeps_readouts(tiny_model):
    from smplest_hf.training import init_layers_for_width

    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny", attn_implementation="eager")).eval()
    readouts = {name: value.clone() for name, value in model.decoder.readouts.state_dict().items()}
    patch = model.encoder.embeddings.patch_embedding.weight.clone()
    pixels = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))

    def attention_spread(m):  # mean over heads/queries of the largest attention weight in the first layer
        with torch.no_grad():
            attention = m(pixels, output_attentions=True).attentions[0]
        return attention.max(dim=-1).values.mean().item()

    before = attention_spread(model)
    init_layers_for_width(model)
    after = attention_spread(model)
    expected_std = 0.02 * (768 / tiny_model.config.hidden_size) ** 0.5
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and "readouts" not in name:
            assert module.weight.std().item() == pytest.approx(expected_std, rel=0.15), name
    assert all(torch.equal(readouts[name], value) for name, value in model.decoder.readouts.state_dict().items())
    assert torch.equal(model.encoder.embeddings.patch_embedding.weight, patch)
    # 272 tokens: uniform attention has max weight 1/272; with the default init the largest weight is within 10 % of
    # that (the task tokens see the image's average), with the scaled init about twice it.
    assert before * 272 < 1.1 and after * 272 > 1.8  # measured 1.06 and 2.15


def test_docstring_examples_run(tmp_path, monkeypatch):
    import doctest

    import smplest_hf.training as package

    monkeypatch.chdir(tmp_path)
    for name in ("checkpointing", "config", "initialization", "optimization", "sampling", "loggers"):
        module = importlib.import_module(f"{package.__name__}.{name}")
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0 and result.attempted > 0, name


# ================================================================================= float32 body model
def test_the_models_body_model_ignores_autocast_and_dtype_casts_and_wrappers_do_not_see_it(synthetic_body_model_dir):
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    body = SmplxBodyModel.from_directory(synthetic_body_model_dir)
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).attach_body_model(synthetic_body_model_dir)
    model.to(dtype=torch.bfloat16)  # as DeepSpeed / FSDP cast the network
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as accelerate's mixed precision runs the forward
        outputs = model(torch.rand(3, 3, 256, 192, generator=torch.Generator().manual_seed(0)).bfloat16())
        parameters = {name: getattr(outputs, name).float() for name in ("global_orient", "body_pose", "left_hand_pose",
                      "right_hand_pose", "jaw_pose", "betas", "expression")}  # fmt: skip
        transl = outputs.camera_translation.float()
        plain = body(**parameters, transl=transl).vertices  # what a plain submodule would compute under autocast
    reference = body(**parameters, transl=transl).vertices
    assert (plain.float() - reference).abs().max() > 1e-4  # the problem the model's float32 guard exists for
    assert outputs.vertices.dtype == torch.float32 and torch.equal(outputs.vertices, reference)
    # Nothing for DDP to broadcast or FSDP / DeepSpeed to shard or cast, nothing in a checkpoint.
    body_buffers = {id(buffer) for buffer in model.body_model.buffers()}
    assert body_buffers and body_buffers.isdisjoint(id(tensor) for tensor in [*model.buffers(), *model.parameters()])
    assert not any(key.startswith("body_model") for key in model.state_dict())


# ============================================================================================ sampler
def test_sampler_order_depends_on_seed_and_epoch_only_and_shards_disjointly():
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    sampler = EpochShuffleSampler(24, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert sorted(epoch0) == list(range(24)) and list(sampler) != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0 == np.random.default_rng([3, 0]).permutation(24).tolist()
    shards = [
        [i for batch in BatchSamplerShard(BatchSampler(sampler, 4, drop_last=True), num_processes=2, process_index=rank) for i in batch]
        for rank in range(2)
    ]  # fmt: skip
    assert not set(shards[0]) & set(shards[1]) and sorted(shards[0] + shards[1]) == list(range(24))
    assert shards[0][:4] == epoch0[:4] and shards[1][:4] == epoch0[4:8]  # batch k of the order -> process k % 2


# ============================================================================================ logging
def test_jsonl_tracker_and_tracker_selection(tmp_path):
    tracker = JsonlTracker(tmp_path)
    tracker.log({"train/loss": torch.tensor(2.0)}, step=1)
    tracker.log({"train/loss": 1.0, "eval/pve_all": float("nan")}, step=2)
    tracker.log({"train/loss": 0.5}, step=2)  # a resumed run repeating step 2
    assert read_metrics(tmp_path / "metrics.jsonl") == {1: {"train/loss": 2.0}, 2: {"train/loss": 0.5, "eval/pve_all": None}}
    selected = select_trackers(["tensorboard"], tmp_path)
    assert isinstance(selected[-1], JsonlTracker)
    has_tensorboard = importlib.util.find_spec("tensorboard") is not None
    assert ("tensorboard" in selected) == has_tensorboard  # missing: dropped with a warning, not an error
    with pytest.raises(ValueError, match="unknown tracker"):
        select_trackers(["tensorbored"], tmp_path)


# ======================================================================================= end to end
@pytest.fixture(scope="module")
def train_script():
    return load_script(TRAIN_SCRIPT, "smplest_train_script")


def _arguments(output_dir, data_dir, body_model_dir, *extra):
    return [
        "--config", str(CONFIGS / "tiny_synthetic.yaml"), f"--output_dir={output_dir}",
        "--model.from_pretrained=null",  # the recipe starts from stage 1's folder; tests start from a new tiny model
        f"--data.train=[{{path: {data_dir}}}]", f"--model.body_model_dir={body_model_dir}",
        "--data.num_workers=0", "--logging.every_steps=1", "--logging.progress_bar=false",
        "--evaluation.dataset=null", "--checkpointing.every_steps=0", "--checkpointing.save_final_state=false",
        "--optimization.batch_size=8", *extra,
    ]  # fmt: skip


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared CI machine two threads per process oversubscribe the cores and a step
    gets several times slower; the checks do not depend on it (both runs of a comparison use the same count)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _train_in_process(train_script, arguments):
    from accelerate.state import AcceleratorState, GradientState

    try:
        return train_script.main(arguments)
    finally:  # accelerate keeps process-wide singletons; each run starts clean (as accelerate's own tests do)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def _digest(model) -> str:
    """Independent of the script: SHA-256 over parameters in name order."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_loss_falls_and_the_saved_model_is_the_trained_one(train_script, synthetic_data, synthetic_body_model_dir, tmp_path, one_thread):
    summary = _train_in_process(train_script, _arguments(
        tmp_path, synthetic_data, synthetic_body_model_dir, "--optimization.max_steps=16",
        "--optimization.learning_rate=1e-3", "--optimization.warmup_steps=3",
        "--model.init_readouts_at_rest_pose=false",  # from random rotations the early fall is large and clear
        f"--model.image_mean={list(NORMALISATION[0])}", f"--model.image_std={list(NORMALISATION[1])}",
        f"--evaluation.dataset={synthetic_data}", "--evaluation.max_samples=8",
    ))  # fmt: skip
    losses = [summary["losses"][step] for step in range(1, 17)]
    assert all(math.isfinite(loss) for loss in losses)
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.8 * first, f"loss did not fall: first steps {losses[:5]}, last steps {losses[-5:]}"
    logged = read_metrics(tmp_path / "logs" / "metrics.jsonl")
    assert [logged[step]["train/loss"] for step in range(1, 17)] == pytest.approx(losses, rel=1e-6)
    assert logged[16]["eval/heldout/pve_all"] > 0 and logged[16]["eval/heldout/pa_pve_all"] > 0

    # The final directory is a model + processor directory that holds exactly the trained weights.
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(tmp_path / "model")
    assert isinstance(model, SmplestXForHumanMeshRecovery)
    processor = AutoImageProcessor.from_pretrained(tmp_path / "model")
    assert processor.bbox_ratio == 1.2
    # The crops were normalised as the config says, and inference will do the same.
    assert processor.do_normalize and [list(processor.image_mean), list(processor.image_std)] == [list(v) for v in NORMALISATION]
    assert [_digest(model)] == summary["parameter_sha256_per_process"]


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(train_script, synthetic_data, synthetic_body_model_dir, tmp_path, one_thread):
    # Accumulation, stochastic depth (RNG state) and an epoch boundary (8 steps per epoch) between checkpoint and end.
    common = ("--optimization.batch_size=4", "--optimization.gradient_accumulation_steps=2", "--optimization.max_steps=10",
              "--optimization.warmup_steps=2", "--model.config_overrides={drop_path_rate: 0.2}")  # fmt: skip
    full = _train_in_process(train_script, _arguments(
        tmp_path / "full", synthetic_data, synthetic_body_model_dir, *common, "--checkpointing.every_steps=6"))
    checkpoint = tmp_path / "full" / "checkpoint-00000006"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert (state["step"], state["epoch"], state["batches_in_epoch"]) == (6, 0, 12)
    resumed = _train_in_process(train_script, _arguments(
        tmp_path / "resumed", synthetic_data, synthetic_body_model_dir, *common, f"--checkpointing.resume_from={checkpoint}"))
    assert sorted(resumed["losses"]) == [7, 8, 9, 10]
    for step in (7, 8, 9, 10):
        assert resumed["losses"][step] == pytest.approx(full["losses"][step], rel=1e-6, abs=1e-6)
    assert resumed["parameter_sha256_per_process"] == full["parameter_sha256_per_process"]


def test_checkpoints_hold_no_pickle_and_resume_without_unpickling(train_script, synthetic_data, synthetic_body_model_dir,
                                                                   tmp_path, one_thread, monkeypatch):  # fmt: skip
    common = ("--optimization.batch_size=4", "--optimization.gradient_accumulation_steps=2", "--optimization.max_steps=4",
              "--optimization.warmup_steps=1", "--model.config_overrides={drop_path_rate: 0.2}")  # fmt: skip
    full = _train_in_process(train_script, _arguments(
        tmp_path / "full", synthetic_data, synthetic_body_model_dir, *common, "--checkpointing.every_steps=2"))
    checkpoint = tmp_path / "full" / "checkpoint-00000002"
    files = sorted(path.relative_to(checkpoint).as_posix() for path in checkpoint.rglob("*") if path.is_file())
    assert not [name for name in files if name.endswith((".bin", ".pkl", ".pt", ".pth"))], files
    card = (checkpoint / "README.md").read_text()  # the local data folder is no Hub dataset: not in the card
    assert "library_name: transformers" in card and str(synthetic_data) not in card and "datasets:" not in card
    state_files = {name.split("/")[1] for name in files if name.startswith("training_state/")}
    # The weights are stored once: the checkpoint's model.safetensors, which resuming reads.
    assert state_files == {f"{name}.{suffix}" for name in ("optimizer", "scheduler", "random_states_0") for suffix in ("json", "safetensors")}
    assert "model.safetensors" in files

    def refuse(*args, **kwargs):
        raise AssertionError("resuming must not unpickle anything")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr("pickle.load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    resumed = _train_in_process(train_script, _arguments(
        tmp_path / "resumed", synthetic_data, synthetic_body_model_dir, *common, f"--checkpointing.resume_from={checkpoint}"))
    assert sorted(resumed["losses"]) == [3, 4]
    assert [resumed["losses"][step] for step in (3, 4)] == [full["losses"][step] for step in (3, 4)]
    assert resumed["parameter_sha256_per_process"] == full["parameter_sha256_per_process"]


def test_resume_with_more_steps_stretches_the_schedule_and_restores_the_weights(tmp_path):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    from smplest_hf.training.checkpointing import load_training_state, save_training_state

    def setup(total_steps, seed):
        torch.manual_seed(seed)
        model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny"))
        optimizer = build_optimizer(model, 1e-3)
        return model, optimizer, warmup_cosine_schedule(optimizer, total_steps, min_learning_rate=1e-5, warmup_steps=2)

    accelerator = Accelerator(cpu=True)
    try:
        model, optimizer, scheduler = setup(10, seed=0)
        for _ in range(10):
            optimizer.step(), scheduler.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(1e-5)  # the 10-step run ends at its floor
        model.save_pretrained(tmp_path)
        save_training_state(accelerator, tmp_path / "training_state", model, optimizer, scheduler)
        assert not (tmp_path / "training_state" / "model.safetensors").exists()  # weights stored once

        resumed, optimizer, scheduler = setup(20, seed=1)  # max_steps raised to 20, other initial weights
        load_training_state(accelerator, tmp_path / "training_state", resumed, optimizer, scheduler)
        assert _digest(resumed) == _digest(model)
        # Step 10 of a 20-step cosine after 2 warm-up steps: progress 8/18.
        expected = [1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * (step - 2) / 18)) for step in (10, 11)]
        assert scheduler.get_last_lr()[0] == pytest.approx(expected[0], rel=1e-12)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected[0], rel=1e-12)  # the next step uses it
        optimizer.step(), scheduler.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(expected[1], rel=1e-12)
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def test_training_state_files_round_trip_nested_states(tmp_path):
    from smplest_hf.training.checkpointing import load_state_files, save_state_files

    state = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}, 7: {}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "foreach": None, "params": [0, 7], "amsgrad": False}],
        "rng": ("MT19937", np.arange(624, dtype=np.uint32), 5, 0, 0.0), "scale": float("inf"), "name": "x",
    }  # fmt: skip
    save_state_files(state, tmp_path, "state")
    loaded = load_state_files(tmp_path, "state")
    assert loaded["param_groups"] == state["param_groups"] and loaded["scale"] == math.inf and loaded["name"] == "x"
    assert list(loaded["state"]) == [0, 7] and loaded["state"][7] == {}
    assert torch.equal(loaded["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
    assert loaded["state"][0]["step"].dtype == torch.float32 and float(loaded["state"][0]["step"]) == 3.0
    assert loaded["rng"][1].dtype == np.uint32 and np.array_equal(loaded["rng"][1], state["rng"][1])
    assert loaded["rng"][0] == "MT19937" and isinstance(loaded["rng"], tuple)
    with pytest.raises(TypeError, match="set"):
        save_state_files({"bad": {1, 2}}, tmp_path, "bad")


@pytest.mark.slow
def test_two_cpu_processes_shard_the_data_and_end_with_identical_weights(synthetic_data, synthetic_body_model_dir, tmp_path):
    environment = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                   "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPOSITORY)}  # fmt: skip
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29400 + os.getpid() % 500),
        str(TRAIN_SCRIPT), *_arguments(tmp_path, synthetic_data, synthetic_body_model_dir, "--optimization.batch_size=4",
                                       "--optimization.max_steps=3", "--optimization.warmup_steps=1",
                                       "--checkpointing.save_final_state=true"),
    ]  # fmt: skip
    result = run_with_deadline(command, timeout=300, env=environment, cwd=REPOSITORY)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "training_summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["samples_per_step"] == 8
    digests = summary["parameter_sha256_per_process"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert digests[0] == _digest(SmplestXForHumanMeshRecovery.from_pretrained(tmp_path / "model"))
    assert (tmp_path / "checkpoint-00000003" / "training_state" / "random_states_1.safetensors").is_file()

    # Step 1 (before any update) on 2 x 4 crops must be the loss of the first 8 crops of the epoch's order, computed
    # here in one process: the processes read different samples (a duplicated shard would give another value).
    from accelerate.utils import set_seed

    from hub_datasets import load_ehps_dataset
    from hub_datasets.transform import TrainingTransform, collate_training_batch

    config = SmplestXConfig.from_preset("tiny")
    set_seed(0)
    model = SmplestXForHumanMeshRecovery(config).attach_body_model(synthetic_body_model_dir)
    # The model and crops train.py builds from this config: readout initialisation and augmentation settings.
    recipe = yaml.safe_load((CONFIGS / "tiny_synthetic.yaml").read_text())
    from smplest_hf.training.initialization import (
        init_layers_for_width,
        init_readouts_at_rest_pose,
    )

    if recipe["model"].get("init_layers_for_width"):
        init_layers_for_width(model)
    if recipe["model"].get("init_readouts_at_rest_pose"):
        init_readouts_at_rest_pose(model)
    from hub_datasets.augmentation import AugmentationConfig

    augmentation = AugmentationConfig(**recipe["data"].get("augmentation", {}))
    dataset = load_ehps_dataset(synthetic_data, "train", decode_images=False)
    from smplest_hf import SmplestXImageProcessor

    mean, std = recipe["model"].get("image_mean"), recipe["model"].get("image_std")
    crops = SmplestXImageProcessor(do_normalize=mean is not None, image_mean=mean, image_std=std)
    dataset.set_transform(TrainingTransform(image_processor=crops, seed=0, bbox_ratio=1.2, augmentation=augmentation))
    first = list(EpochShuffleSampler(len(dataset), seed=0))[:8]
    batch = collate_training_batch([dataset[i] for i in first])
    with torch.no_grad():
        expected = model(batch["pixel_values"], labels=batch["labels"]).loss.item()
    assert summary["losses"]["1"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_streaming_training_runs_from_the_parquet_shards(train_script, synthetic_data, synthetic_body_model_dir, tmp_path, one_thread):
    summary = _train_in_process(train_script, _arguments(
        tmp_path, synthetic_data, synthetic_body_model_dir, "--data.streaming=true", "--data.total_length=32",
        "--optimization.batch_size=4", "--optimization.max_steps=10", "--optimization.warmup_steps=1",
    ))  # fmt: skip
    # 32 samples per epoch / 4 per batch = 8 steps per epoch: the tenth step comes from a second pass.
    assert sorted(summary["losses"]) == list(range(1, 11)) and summary["epochs_completed"] == 1
    assert all(math.isfinite(loss) for loss in summary["losses"].values())


@pytest.mark.slow
def test_two_stage_recipe_encoder_learns_2d_keypoints_then_training_continues_from_it(
    train_script, synthetic_data, synthetic_body_model_dir, tmp_path, one_thread
):
    """Stage 1 (`examples/pretrain_encoder_2d.py`) trains only the encoder, on 2D keypoints, and saves a model
    directory with the normalising processor; stage 2 (`train.py` with `model.from_pretrained`) starts from it."""
    from accelerate.utils import set_seed

    stage_1 = load_script(REPOSITORY / "examples" / "pretrain_encoder_2d.py", "smplest_pretrain_script")
    overrides = [f"--data.train=[{{path: {synthetic_data}}}]", f"--model.body_model_dir={synthetic_body_model_dir}",
                 "--data.num_workers=0", "--optimization.batch_size=8"]  # fmt: skip
    summary = stage_1.main(["--config", str(CONFIGS / "tiny_synthetic_encoder_2d.yaml"), "--steps", "40",
                            "--learning-rate", "2e-3", "--output", str(tmp_path / "stage_1"), *overrides])  # fmt: skip
    losses = summary["keypoint_losses"]
    assert len(losses) == 40 and all(math.isfinite(loss) for loss in losses)
    assert losses[0] == pytest.approx(math.log(192), abs=0.3)  # ~uniform over the 16 x 12 patches at first
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1, losses

    # Only the encoder moved: the decoder is exactly the freshly initialised one (same seed, same initialisation).
    config = TrainingConfig.from_yaml(CONFIGS / "tiny_synthetic_encoder_2d.yaml", overrides)
    set_seed(config.seed)
    fresh, _, _ = train_script.build_model(config)
    trained = SmplestXForHumanMeshRecovery.from_pretrained(tmp_path / "stage_1")
    assert all(torch.equal(a, b) for a, b in zip(fresh.decoder.state_dict().values(), trained.decoder.state_dict().values()))
    assert not torch.equal(fresh.encoder.layers[0].attention.qkv.weight, trained.encoder.layers[0].attention.qkv.weight)
    from transformers import AutoImageProcessor

    stage_1_processor = AutoImageProcessor.from_pretrained(tmp_path / "stage_1")
    assert stage_1_processor.do_normalize and list(stage_1_processor.image_mean) == config.model.image_mean

    # Stage 2: the shipped recipe, from that folder; its checkpoints keep the normalising processor.
    result = _train_in_process(train_script, _arguments(
        tmp_path / "stage_2", synthetic_data, synthetic_body_model_dir, "--optimization.max_steps=2",
        "--optimization.warmup_steps=1", f"--model.from_pretrained={tmp_path / 'stage_1'}",
    ))  # fmt: skip
    assert all(math.isfinite(result["losses"][step]) for step in (1, 2))
    stage_2_processor = AutoImageProcessor.from_pretrained(tmp_path / "stage_2" / "model")
    assert stage_2_processor.to_dict() == stage_1_processor.to_dict()
