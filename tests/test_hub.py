"""Hub integration: Auto classes, exact save/load round trips, remote code without the package, offline repo ids."""

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from transformers import AutoConfig, AutoImageProcessor, AutoModel

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery, SmplestXImageProcessor

# The code a saved model carries for `trust_remote_code=True`: the three auto_map files and what they import.
REMOTE_CODE_FILES = {
    "configuration_smplest_x.py", "modeling_smplest_x.py", "image_processing_smplest_x.py",
    "body_model.py", "cropping.py", "geometry.py", "losses.py", "model_card.py", "smplx_layout.py", "smpl_layout.py",
}  # fmt: skip


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
    processor_config = json.loads((directory / "preprocessor_config.json").read_text())
    assert processor_config["auto_map"]["AutoImageProcessor"].startswith("image_processing_smplest_x.")
    assert {path.name for path in directory.glob("*.py")} == REMOTE_CODE_FILES
    card = ModelCard.load(directory / "README.md")
    assert card.data.library_name == "smplest_hf"
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
    entry_files = {
        value.split(".")[0] + ".py"
        for name in ("config.json", "preprocessor_config.json")
        for value in json.loads((directory / name).read_text())["auto_map"].values()
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
    assert card.data.library_name == "smplest_hf" and card.data.pipeline_tag == "image-to-3d"
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
                       ("mpe", "mpe"): 123.46}  # fmt: skip
    assert card.data.library_name == "smplest_hf"  # the rest of the card is kept
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
