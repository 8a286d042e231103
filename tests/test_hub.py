"""Hub integration: Auto classes, exact save/load round trips, remote code without the package, offline repo ids."""

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from transformers import AutoConfig, AutoImageProcessor, AutoModel

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery, SmplestXImageProcessor

from script_modules import load_script

# The code a saved model carries for `trust_remote_code=True`: the three auto_map files, the pipeline named in
# `custom_pipelines`, and what they import.
REMOTE_CODE_FILES = {
    "configuration_smplest_x.py", "modeling_smplest_x.py", "image_processing_smplest_x.py", "pipeline_smplest_x.py",
    "body_model.py", "cropping.py", "geometry.py", "losses.py", "model_card.py", "smplx_layout.py", "smpl_layout.py",
}  # fmt: skip
PIPELINE_TASK = {"human-mesh-recovery": {"impl": "pipeline_smplest_x.HumanMeshRecoveryPipeline", "pt": ["AutoModel"], "type": "image"}}


@pytest.fixture(scope="module")
def saved_tiny_model(tmp_path_factory):
    """A saved tiny model + processor directory, and the outputs it must reproduce on fixed inputs."""
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval()
    directory = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(directory)
    SmplestXImageProcessor().save_pretrained(directory)
    pixel_values = torch.rand(2, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(pixel_values)
    return directory, model, pixel_values, expected


def test_auto_classes_resolve_and_round_trip_exactly(saved_tiny_model):
    directory, model, pixel_values, expected = saved_tiny_model
    assert isinstance(AutoConfig.from_pretrained(directory), SmplestXConfig)
    loaded = AutoModel.from_pretrained(directory, dtype=torch.float32).eval()
    assert type(loaded) is SmplestXForHumanMeshRecovery
    assert isinstance(AutoImageProcessor.from_pretrained(directory), SmplestXImageProcessor)
    assert loaded.config.to_dict() | {"_name_or_path": None} == model.config.to_dict() | {"_name_or_path": None}
    for (name, saved), (_, reloaded) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(saved, reloaded), name
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values).body_pose, expected.body_pose)


def test_saved_directory_carries_auto_map_code_and_card(saved_tiny_model):
    directory = saved_tiny_model[0]
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "smplest_x"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_smplest_x.SmplestXConfig",
        "AutoModel": "modeling_smplest_x.SmplestXForHumanMeshRecovery",
    }
    assert config["custom_pipelines"] == PIPELINE_TASK
    processor_config = json.loads((directory / "preprocessor_config.json").read_text())
    assert processor_config["auto_map"]["AutoImageProcessor"].startswith("image_processing_smplest_x.")
    assert {path.name for path in directory.glob("*.py")} == REMOTE_CODE_FILES
    card = ModelCard.load(directory / "README.md")
    assert card.data.library_name == "transformers"  # the Hub knows it (the package is unknown to it)
    assert card.data.pipeline_tag == "image-to-3d"
    assert {"smplx", "human-mesh-recovery"} <= set(card.data.tags)
    assert "SMPL-X body model files are licensed separately" in card.text


def _relative_imports(path) -> set[str]:
    """File names `path` imports from its own folder (`from .name import ...`), anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{node.module}.py" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


def test_saved_code_is_exactly_what_its_entry_files_import(saved_tiny_model):
    """Nothing missing (a remote-code load would fail on it) and nothing extra (code nobody runs, shipped)."""
    directory = saved_tiny_model[0]
    config = json.loads((directory / "config.json").read_text())
    entry_files = {
        value.split(".")[0] + ".py"
        for value in [
            *config["auto_map"].values(),
            *json.loads((directory / "preprocessor_config.json").read_text())["auto_map"].values(),
            *(task["impl"] for task in config["custom_pipelines"].values()),
        ]
    }
    needed, pending = set(), set(entry_files)
    while pending:
        name = pending.pop()
        needed.add(name)
        assert (directory / name).is_file(), f"{name} is imported by the saved code but was not saved"
        pending |= _relative_imports(directory / name) - needed
    assert {path.name for path in directory.glob("*.py")} == needed


def test_weights_never_contain_body_model_arrays(tmp_path, synthetic_body_model_dir):
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval()
    model.attach_body_model(synthetic_body_model_dir)
    assert sum(b.numel() for b in model.body_model.buffers()) > 10475 * 3  # the arrays are there, in memory
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", framework="pt") as weights:
        keys = list(weights.keys())
        shapes = [tuple(weights.get_slice(key).get_shape()) for key in keys]
    parameter_names = {name for name, _ in model.named_parameters()}
    assert set(keys) == parameter_names
    assert not any(10475 in shape or 20908 in shape for shape in shapes)
    assert all(key.startswith(("encoder.", "decoder.")) for key in keys)


def _run_python(code: str, env_overrides: dict) -> str:
    env = {**os.environ, **env_overrides}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_trust_remote_code_loads_without_the_package(saved_tiny_model, tmp_path):
    directory, _, pixel_values, expected = saved_tiny_model
    torch.save(pixel_values, tmp_path / "pixel_values.pt")
    code = f"""
        import sys
        sys.modules["smplest_hf"] = None  # the package is not installed on this machine
        import torch
        from transformers import AutoImageProcessor, AutoModel
        model = AutoModel.from_pretrained({str(directory)!r}, trust_remote_code=True, dtype=torch.float32).eval()
        processor = AutoImageProcessor.from_pretrained({str(directory)!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
        with torch.no_grad():
            outputs = model(torch.load({str(tmp_path / "pixel_values.pt")!r}))
        torch.save(outputs.body_pose, {str(tmp_path / "remote_body_pose.pt")!r})
    """
    _run_python(code, {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"})
    assert torch.equal(torch.load(tmp_path / "remote_body_pose.pt"), expected.body_pose)


def _mesh_recovery_by_hand(model, processor, image_path, boxes) -> list[dict]:
    """What the `human-mesh-recovery` task must return, computed from the model and processor directly."""
    from transformers.image_utils import load_image

    image = load_image(str(image_path))
    inputs = processor(image, boxes=[boxes], return_tensors="pt")
    with torch.no_grad():
        outputs = model(inputs["pixel_values"])
    people = processor.post_process_mesh_recovery(
        outputs, processed_boxes=inputs["processed_boxes"], image_indices=inputs["image_indices"],
        target_sizes=[(image.height, image.width)],
    )[0]  # fmt: skip
    return [{name: value.numpy() for name, value in person.items()} for person in people]


def _run_pipeline_without_the_package(directory, image_path, boxes, body_model_dir, tmp_path) -> list[dict]:
    """`pipeline("human-mesh-recovery", model=directory, trust_remote_code=True)` in a process where smplest_hf
    cannot be imported; its per-person results."""
    code = f"""
        import sys
        sys.modules["smplest_hf"] = None  # the package is not installed on this machine
        import numpy as np, torch
        from transformers import pipeline
        recover = pipeline("human-mesh-recovery", model={str(directory)!r}, trust_remote_code=True, device="cpu",
                           dtype=torch.float32, model_kwargs={{"body_model_dir": {body_model_dir!r}}})
        assert type(recover).__module__.startswith("transformers_modules."), type(recover).__module__
        assert type(recover.model).__module__.startswith("transformers_modules."), type(recover.model).__module__
        people = recover({str(image_path)!r}, boxes={boxes!r})
        np.savez({str(tmp_path / "people.npz")!r}, **{{f"{{i}}/{{k}}": v for i, p in enumerate(people) for k, v in p.items()}})
    """
    _run_python(code, {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"})
    with np.load(tmp_path / "people.npz") as saved:
        people = [{} for _ in boxes]
        for key in saved.files:
            index, name = key.split("/")
            people[int(index)][name] = saved[key]
    return people


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("with_body_model", [False, True], ids=["parameters_only", "with_body_model"])
def test_pipeline_task_runs_from_saved_code_without_the_package(
    saved_tiny_model, photo_file, synthetic_body_model_dir, tmp_path, with_body_model
):
    directory, model = saved_tiny_model[:2]
    boxes = [[10, 20, 100, 200], [150, 30, 80, 180]]
    body_model_dir = str(synthetic_body_model_dir) if with_body_model else None
    reference = SmplestXForHumanMeshRecovery.from_pretrained(directory, dtype=torch.float32, body_model_dir=body_model_dir)
    expected = _mesh_recovery_by_hand(reference.eval(), SmplestXImageProcessor.from_pretrained(directory), photo_file, boxes)
    remote = _run_pipeline_without_the_package(directory, photo_file, boxes, body_model_dir, tmp_path)
    geometry = {"vertices", "joints", "keypoints_2d"}
    assert geometry <= set(remote[0]) if with_body_model else not geometry & set(remote[0])
    for theirs, ours in zip(remote, expected, strict=True):
        assert set(theirs) == set(ours)
        for name in ours:
            np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-5, atol=1e-4, err_msg=name)


def test_pipeline_task_with_a_bfloat16_model(saved_tiny_model, photo_file):
    """The pipeline casts the processor's float32 crops to the model's dtype; results come back float32."""
    from transformers import pipeline

    directory = saved_tiny_model[0]
    recover = pipeline("human-mesh-recovery", model=str(directory), trust_remote_code=True, device="cpu", dtype=torch.bfloat16)
    assert recover.model.dtype == torch.bfloat16
    people = recover(str(photo_file), boxes=[[10, 20, 100, 200]])
    reference = SmplestXForHumanMeshRecovery.from_pretrained(directory, dtype=torch.float32).eval()
    (expected,) = _mesh_recovery_by_hand(reference, SmplestXImageProcessor.from_pretrained(directory), photo_file, [[10, 20, 100, 200]])
    assert people[0]["body_pose"].dtype == np.float32
    np.testing.assert_allclose(people[0]["body_pose"], expected["body_pose"], atol=0.05)
    np.testing.assert_allclose(people[0]["camera_translation"], expected["camera_translation"], rtol=0.02, atol=0.02)


def test_repo_id_resolves_from_a_prefilled_offline_cache(saved_tiny_model, tmp_path):
    directory, _, pixel_values, expected = saved_tiny_model
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--smplest-test--tiny"
    shutil.copytree(directory, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    torch.save(pixel_values, tmp_path / "pixel_values.pt")
    code = f"""
        import torch, smplest_hf
        from transformers import AutoImageProcessor, AutoModel
        model = AutoModel.from_pretrained("smplest-test/tiny", dtype=torch.float32).eval()
        processor = AutoImageProcessor.from_pretrained("smplest-test/tiny")
        assert type(model).__name__ == "SmplestXForHumanMeshRecovery" and type(processor).__name__ == "SmplestXImageProcessor"
        with torch.no_grad():
            torch.save(model(torch.load({str(tmp_path / "pixel_values.pt")!r})).body_pose, {str(tmp_path / "cached.pt")!r})
        try:
            AutoModel.from_pretrained("smplest-test/not-in-cache")
        except OSError as error:
            print("missing repo:", type(error).__name__)
    """
    stdout = _run_python(code, {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")})
    assert torch.equal(torch.load(tmp_path / "cached.pt"), expected.body_pose)
    assert "missing repo: OSError" in stdout


def test_from_pretrained_attaches_a_body_model(saved_tiny_model, synthetic_body_model_dir):
    directory, _, pixel_values, expected = saved_tiny_model
    model = AutoModel.from_pretrained(directory, dtype=torch.float32, body_model_dir=synthetic_body_model_dir).eval()
    with torch.no_grad():
        outputs = model(pixel_values)
    assert outputs.vertices.shape == (2, 10475, 3) and outputs.joints.shape == (2, 137, 3)
    assert torch.equal(outputs.body_pose, expected.body_pose)
    # Vertices are the body model evaluated at the predicted parameters, translated by the camera translation.
    body = model.body_model(
        global_orient=outputs.global_orient, body_pose=outputs.body_pose, left_hand_pose=outputs.left_hand_pose,
        right_hand_pose=outputs.right_hand_pose, jaw_pose=outputs.jaw_pose, betas=outputs.betas,
        expression=outputs.expression, transl=None,
    )  # fmt: skip
    torch.testing.assert_close(outputs.vertices, body.vertices + outputs.camera_translation[:, None])
    # keypoints_2d is the crop-camera projection of the joints, in body-input pixels.
    joints = outputs.joints.double().numpy()
    x = joints[..., 0] / (joints[..., 2] + 1e-4) * 5000 + 96
    y = joints[..., 1] / (joints[..., 2] + 1e-4) * 5000 + 128
    np.testing.assert_allclose(outputs.keypoints_2d.numpy(), np.stack((x, y), -1), rtol=1e-5, atol=1e-3)


@pytest.fixture(scope="module")
def pushed_tiny_model(local_hub, tmp_path_factory):
    """The tiny model pushed with its own ``push_to_hub`` (its own ``HfApi()``) to the local Hub endpoint, and the
    directory ``save_pretrained`` writes for the same model."""
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval()
    with local_hub.active():
        commit = model.push_to_hub("org/tiny")
    saved = tmp_path_factory.mktemp("tiny_saved")
    model.save_pretrained(saved)
    return model, commit, saved


def test_push_to_hub_uploads_weights_config_code_and_card_in_one_commit(pushed_tiny_model, local_hub):
    model, commit, saved = pushed_tiny_model
    repo = local_hub.repo_dir("org/tiny")
    (entry,) = [entry for entry in local_hub.commits if entry["oid"] == commit.oid]
    assert entry["repo_id"] == "org/tiny" and entry["repo_type"] == "model"
    assert entry["summary"] == "Upload SMPLest-X model" == commit.commit_message
    assert commit.commit_url == f"{local_hub.endpoint}/org/tiny/commit/{commit.oid}"
    saved_files = sorted(path.name for path in saved.iterdir() if path.is_file())
    assert entry["added"] == saved_files  # everything save_pretrained writes, in this one commit
    model_code = {"configuration_smplest_x.py", "modeling_smplest_x.py", "body_model.py", "geometry.py", "model_card.py"}
    assert {"config.json", "model.safetensors", "README.md", *model_code} <= set(saved_files)
    assert local_hub.files("org/tiny") == sorted([".gitattributes", *saved_files])
    assert json.loads((repo / "config.json").read_text())["auto_map"]["AutoModel"].endswith("SmplestXForHumanMeshRecovery")
    # Our card (not transformers' generic one), naming the repo it was pushed to.
    card = ModelCard.load(repo / "README.md")
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "image-to-3d"
    assert 'AutoModel.from_pretrained("org/tiny")' in card.text
    loaded = SmplestXForHumanMeshRecovery.from_pretrained(repo).eval()
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_pushing_the_same_model_again_makes_no_commit(pushed_tiny_model, local_hub):
    model, first = pushed_tiny_model[:2]
    commits_before = len(local_hub.commits)
    with local_hub.active():
        commit = model.push_to_hub("org/tiny")  # the repo exists (exist_ok) and every file is byte-identical
    assert len(local_hub.commits) == commits_before
    assert commit.oid == first.oid


def test_update_model_card_pushes_the_results_to_a_hub_repo(tiny_model_dir, local_hub):
    from smplest_hf.evaluation.run import (
        BenchmarkResult,
        EvaluationReport,
        update_model_card,
    )

    api = local_hub.api()
    with local_hub.active():
        api.create_repo("org/tiny-card")
        api.upload_file(path_or_fileobj=tiny_model_dir / "README.md", path_in_repo="README.md", repo_id="org/tiny-card")
        result = BenchmarkResult(
            name="synthetic_sx", title="Synthetic (SX rules)", dataset="org/synthetic-benchmark", split="test",
            primary_metric="pve_all", metrics={"pve_all": 123.456, "pa_pve_all": 45.678}, counts={"pve_all": 2},
            num_samples=2,
        )  # fmt: skip
        where = update_model_card(EvaluationReport(model="org/tiny-card", benchmarks=[result]), "org/tiny-card")
    assert where == "org/tiny-card"
    last = local_hub.commits[-1]
    assert (last["repo_id"], last["summary"]) == ("org/tiny-card", "Update evaluation results (model-index)")
    assert last["added"] == ["README.md"] and last["deleted"] == []
    card = ModelCard.load(local_hub.repo_dir("org/tiny-card") / "README.md")
    entries = {(entry.dataset_type, entry.metric_type): entry.metric_value for entry in card.data.eval_results}
    assert entries == {("org/synthetic-benchmark", "pve_all"): 123.46, ("org/synthetic-benchmark", "pa_pve_all"): 45.68,
                       ("mpe-custom-data", "mpe"): 123.46}  # not a benchmark test split: custom data  # fmt: skip
    assert card.data.library_name == "transformers"  # the rest of the card is kept
    assert "SMPL-X body model files are licensed separately" in card.text


def test_local_hub_refuses_pushes_without_the_token_and_flags_unimplemented_endpoints(local_hub):
    from huggingface_hub.errors import HfHubHTTPError

    with local_hub.active(), pytest.raises(HfHubHTTPError, match="401"):
        local_hub.api().create_repo("org/anonymous", token=False)
    assert not local_hub.repo_dir("org/anonymous").exists()
    # A request the local Hub does not implement fails active() on exit, even when the caller swallows the 404.
    with (
        pytest.raises(AssertionError, match="does not implement.*GET /api/models/org/tiny/commits/main"),
        local_hub.active(),
        pytest.raises(HfHubHTTPError, match="the local Hub does not implement GET"),
    ):
        local_hub.api().list_repo_commits("org/tiny")


def test_dataset_card_is_portable_and_has_hub_task_and_size_metadata(synthetic_data, synthetic_body_model_dir):
    from huggingface_hub import DatasetCard

    from hub_datasets.card import size_category

    card = DatasetCard.load(synthetic_data / "README.md")
    body_model_dir = synthetic_body_model_dir.resolve()
    assert str(body_model_dir) not in card.content and str(body_model_dir.parent) not in card.content
    assert f"local folder `{body_model_dir.name}`" in card.text  # what was used, without where it was
    assert card.data.task_categories == ["image-to-3d", "keypoint-detection"]
    assert card.data.size_categories == ["n<1K"]  # 64 + 16 rows
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 999_999, 1_000_000, 5 * 10**9)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "1B<n<10B"
    ]  # fmt: skip


def test_model_card_records_hub_origins_only_and_the_registered_task(saved_tiny_model, tmp_path):
    from smplest_hf.models.smplest_x.model_card import build_model_card

    model = saved_tiny_model[1]
    card = build_model_card(model, repo_id="org/tiny-finetuned", base_model="org/tiny",
                            datasets=["org/agora", str(tmp_path), "org/ubody", "org/agora"])  # fmt: skip
    assert card.data.base_model == "org/tiny" and card.data.datasets == ["org/agora", "org/ubody"]
    assert str(tmp_path) not in card.content  # a local folder is nobody else's data
    local = build_model_card(model, base_model=str(tmp_path), datasets=[str(tmp_path)])
    assert local.data.base_model is None and local.data.datasets is None
    # Usage through transformers alone, with the task the saved config registers.
    task = next(iter(PIPELINE_TASK))
    assert f'pipeline("{task}", model="org/tiny-finetuned", trust_remote_code=True)' in card.text
    assert card.data.pipeline_tag == "image-to-3d" and card.data.tags[0] == task


# ------------------------------------------------------------------------------------------ bundled demo model
REFRESH_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "refresh_demo_model.py"
MODEL_SOURCES = Path(__file__).resolve().parents[1] / "smplest_hf" / "models" / "smplest_x"


def test_bundled_demo_model_is_a_saved_model_with_the_current_code():
    """Its code files are copies of the sources: after changing them, run `python examples/refresh_demo_model.py`."""
    from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

    assert {path.name for path in BUNDLED_MODEL_DIR.glob("*.py")} == REMOTE_CODE_FILES
    stale = [name for name in sorted(REMOTE_CODE_FILES) if (BUNDLED_MODEL_DIR / name).read_bytes() != (MODEL_SOURCES / name).read_bytes()]
    assert stale == [], f"{stale} differ from smplest_hf/models/smplest_x: run `python examples/refresh_demo_model.py`"
    config = json.loads((BUNDLED_MODEL_DIR / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_smplest_x.SmplestXForHumanMeshRecovery"
    assert config["custom_pipelines"] == PIPELINE_TASK
    processor_config = json.loads((BUNDLED_MODEL_DIR / "preprocessor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoImageProcessor": "image_processing_smplest_x.SmplestXImageProcessor"}
    card = ModelCard.load(BUNDLED_MODEL_DIR / "README.md")
    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"


def test_refreshing_the_demo_model_keeps_its_weights_and_card_text(tmp_path):
    from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

    copy = tmp_path / "demo_model"
    shutil.copytree(BUNDLED_MODEL_DIR, copy)
    (copy / "stale_module.py").write_text("# code a refresh must remove\n")
    (copy / "geometry.py").write_text("# stale copy\n")
    weights_digest = hashlib.sha256((BUNDLED_MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()
    load_script(REFRESH_SCRIPT, "refresh_demo_model").refresh_demo_model(copy)
    assert hashlib.sha256((copy / "model.safetensors").read_bytes()).hexdigest() == weights_digest
    assert sorted(path.name for path in copy.iterdir()) == sorted(path.name for path in BUNDLED_MODEL_DIR.iterdir())
    for name in [*REMOTE_CODE_FILES, "README.md", "preprocessor_config.json"]:
        assert (copy / name).read_bytes() == (BUNDLED_MODEL_DIR / name).read_bytes(), name
    refreshed, bundled = (json.loads((d / "config.json").read_text()) for d in (copy, BUNDLED_MODEL_DIR))
    assert refreshed | {"transformers_version": None} == bundled | {"transformers_version": None}


def test_bundled_demo_model_runs_from_its_own_code_without_the_package(synthetic_body_model_dir, tmp_path):
    from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

    image = BUNDLED_MODEL_DIR.parent / "demo_data" / "sample_0.jpg"
    boxes = json.loads((BUNDLED_MODEL_DIR.parent / "demo_data" / "boxes.json").read_text())["sample_0.jpg"]
    reference = SmplestXForHumanMeshRecovery.from_pretrained(BUNDLED_MODEL_DIR, dtype=torch.float32, body_model_dir=synthetic_body_model_dir)
    expected = _mesh_recovery_by_hand(reference.eval(), SmplestXImageProcessor.from_pretrained(BUNDLED_MODEL_DIR), image, boxes)
    remote = _run_pipeline_without_the_package(BUNDLED_MODEL_DIR, image, boxes, str(synthetic_body_model_dir), tmp_path)
    for theirs, ours in zip(remote, expected, strict=True):
        assert set(theirs) == set(ours) and "vertices" in ours
        for name in ours:
            np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-5, atol=1e-4, err_msg=name)
