"""End-to-end evaluation on a synthetic benchmark registered like a real one, checked against an independent
per-sample computation (own parquet reading, own ground-truth rules, own in-image projection, one sample at a
time); bad input reported before any model pass; the CLI's exit codes and files."""

import io
import json
import os
import shutil

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from hub_datasets.schema import EHPS_FEATURES
from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery, SmplestXImageProcessor
from smplest_hf.evaluation.benchmarks import (
    SMPLEST_X_METRICS,
    UBODY_METRICS,
    Benchmark,
    get_benchmark,
    register_benchmark,
    unregister_benchmark,
)
from smplest_hf.models.smplest_x.body_model import BodyModelFileError, SmplxBodyModel
from smplest_hf.cli import main
from smplest_hf.evaluation.run import EvaluationReport, evaluate
from smplest_hf.evaluation.metrics import SMPLX_TARGET_METRICS, EvaluationMasks, MeshMetrics

from dataset_rows import empty_value

IMAGE_HEIGHT, IMAGE_WIDTH = 120, 160
NUM_VERTICES = 10475
SPLIT_FILE = "data/test-00000-of-00001.parquet"


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """Keep the datasets cache of these tests out of the user's (one folder per session: each dataset is prepared
    once)."""
    cache = tmp_path_factory.getbasetemp() / "datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))  # for subprocesses
    return cache


# ================================================================================== synthetic benchmark
def synthetic_rows(seed=0):
    """Six people: genders, flat-hand and mean-hand poses, a missing hand and face, neutral-fit betas, a |beta| > 3,
    and one row without SMPL-X ground truth (skipped). Images are noise; GT poses are small random rotations."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(6):
        row = {name: empty_value(feature) for name, feature in EHPS_FEATURES.items() if name != "image"}
        image = rng.integers(0, 256, (IMAGE_HEIGHT, IMAGE_WIDTH, 3), dtype=np.uint8)
        betas = rng.normal(size=10) * 0.8
        row.update(
            sample_id=f"synthetic/test/{index:08d}",
            dataset_name="synthetic",
            source_index=index,
            image=Image.fromarray(image),
            image_height=IMAGE_HEIGHT,
            image_width=IMAGE_WIDTH,
            bbox_xywh=[30.0 + 15 * index, 15.0 + 3 * index, 45.0, 80.0],
            gender=("neutral", "male", "female", "male", "male", "neutral")[index],
            smplx_valid=index != 5,
            smplx_body_valid=True,
            smplx_lhand_valid=index != 2,
            smplx_rhand_valid=True,
            smplx_face_valid=index != 2,
            smplx_betas_valid=True,
            smplx_transl_valid=True,
            smplx_global_orient=(np.array([np.pi, 0.0, 0.0]) + rng.normal(size=3) * 0.2).tolist(),
            smplx_body_pose=(rng.normal(size=(21, 3)) * 0.2).astype(np.float32),
            smplx_left_hand_pose=(rng.normal(size=(15, 3)) * 0.3 * (index != 2)).astype(np.float32),
            smplx_right_hand_pose=(rng.normal(size=(15, 3)) * 0.3).astype(np.float32),
            smplx_flat_hand_mean=index == 1,
            smplx_jaw_pose=(rng.normal(size=3) * 0.1 * (index != 2)).tolist(),
            smplx_betas=(betas + np.eye(10)[2] * 3.6 * (index == 4)).tolist(),
            smplx_num_betas=10,
            smplx_betas_neutral=(rng.normal(size=10) * 0.5).tolist() if index == 3 else [],
            smplx_expression=[] if index == 2 else (rng.normal(size=10) * 0.5).tolist(),
            smplx_num_expression=0 if index == 2 else 10,
            # Placed so that, through the virtual crop camera, parts of most bodies (hands, face) fall outside the
            # image and parts inside: the in-image rule then drops some points and some whole hands or faces.
            smplx_transl=[0.1 * index - 0.2, -0.3 * (index % 2), 30.0 + index],
        )
        rows.append(row)
    return rows


def write_benchmark(directory, rows, features=EHPS_FEATURES, drop=()):
    columns = {name: [row[name] for row in rows] for name in features}
    dataset = datasets.Dataset.from_dict(columns, features=features).remove_columns(list(drop))
    (directory / "data").mkdir(parents=True)
    dataset.to_parquet(str(directory / SPLIT_FILE))
    return directory


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, synthetic_body_model_dir):
    root = tmp_path_factory.mktemp("evaluation")
    rows = synthetic_rows()
    params_dir = write_benchmark(root / "synthetic", rows)
    missing_dir = write_benchmark(root / "missing_hand", rows, drop=["smplx_left_hand_pose"])
    # The first two people again, their ground truth stored as vertices (as EHF / AGORA datasets carry it).
    vertex_features = datasets.Features(
        {**EHPS_FEATURES, "smplx_vertices": datasets.Array2D((NUM_VERTICES, 3), "float32")}
    )
    vertex_rows = []
    for row in rows[:2]:
        mesh = reference_ground_truth(row, synthetic_body_model_dir, "per_sample", "as_annotated", translated=False)
        vertex_rows.append(dict(row, smplx_vertices=mesh.numpy()[0]))
    vertices_dir = write_benchmark(root / "vertices", vertex_rows, features=vertex_features)
    torch.manual_seed(0)
    model_dir = root / "tiny_model"
    SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).save_pretrained(model_dir)
    benchmarks = {
        "synthetic_sx": Benchmark(name="synthetic_sx", title="Synthetic (SX rules)", dataset=str(params_dir),
                                  metrics=SMPLX_TARGET_METRICS, gender="per_sample", bbox_ratio=1.2),
        "synthetic_ubody": Benchmark(name="synthetic_ubody", title="Synthetic (UBody rules)", dataset=str(params_dir),
                                     metrics=UBODY_METRICS, betas="clamped", bbox_ratio=1.25, visibility="in_image"),
        "synthetic_vertices": Benchmark(name="synthetic_vertices", title="Synthetic (stored vertices)",
                                        dataset=str(vertices_dir), metrics=SMPLEST_X_METRICS, ground_truth="smplx_vertices"),
        "synthetic_missing": Benchmark(name="synthetic_missing", title="Synthetic, no left hand pose",
                                       dataset=str(missing_dir), gender="per_sample"),
    }  # fmt: skip
    for benchmark in benchmarks.values():
        register_benchmark(benchmark, overwrite=True)
    yield {"root": root, "model_dir": model_dir, "params_dir": params_dir, "missing_dir": missing_dir, "rows": rows}
    for name in benchmarks:
        unregister_benchmark(name)


# =================================================================================== independent reference
def reference_ground_truth(row, body_model_dir, gender_rule, betas_rule, translated):
    """(1, 10475, 3) ground-truth mesh of an EHPS row, by the rules of eval_protocol.md §1.5, written here anew."""
    if row["smplx_betas_neutral"]:
        gender, betas = "neutral", np.array(row["smplx_betas_neutral"][:10])
    else:
        gender = row["gender"] if gender_rule == "per_sample" else "neutral"
        betas = np.array(row["smplx_betas"][:10])
    if betas_rule == "clamped" and np.abs(betas).max() > 3:
        betas = np.zeros(10)
    body_model = SmplxBodyModel.from_directory(body_model_dir, gender)
    hands = {}
    for side, index in (("left", 0), ("right", 1)):
        pose = torch.tensor(np.asarray(row[f"smplx_{side}_hand_pose"]), dtype=torch.float32)
        if row["smplx_flat_hand_mean"]:
            pose = pose - body_model.hand_pose_mean[index]  # the model adds its mean hand back
        if not row[f"smplx_{side[0]}hand_valid"]:
            pose = torch.zeros_like(pose)
        hands[side] = pose[None]
    face = float(row["smplx_face_valid"])
    expression = np.zeros(10)
    expression[: len(row["smplx_expression"])] = row["smplx_expression"]

    def tensor(value):
        return torch.tensor(np.asarray(value, np.float64)[None], dtype=torch.float32)

    return body_model(
        global_orient=tensor(row["smplx_global_orient"]),
        body_pose=tensor(row["smplx_body_pose"]),
        left_hand_pose=hands["left"],
        right_hand_pose=hands["right"],
        jaw_pose=tensor(row["smplx_jaw_pose"]) * face,
        betas=tensor(betas),
        expression=tensor(expression) * face,
        transl=tensor(row["smplx_transl"]) if translated else None,
    ).vertices


def in_image(points, box, config):
    """Project (1, P, 3) points with the virtual crop camera and map crop pixels to the image through the box."""
    (fx, fy), (cx, cy) = config.focal_length, config.principal_point
    scale = config.input_image_size[1] / config.input_body_size[1]  # crop pixels per body-input pixel
    x = (points[..., 0] / (points[..., 2] + 1e-4) * fx + cx) * scale
    y = (points[..., 1] / (points[..., 2] + 1e-4) * fy + cy) * scale
    box_x, box_y, box_width, box_height = (float(value) for value in box)
    image_x = box_x + x * box_width / config.input_image_size[1]
    image_y = box_y + y * box_height / config.input_image_size[0]
    return (image_x > 0) & (image_x < IMAGE_WIDTH) & (image_y > 0) & (image_y < IMAGE_HEIGHT)


def reference_results(dataset_dir, benchmark, model_dir, body_model_dir, max_samples=None):
    """{metric: (mean, count)} computed one sample at a time from the parquet file."""
    model = SmplestXForHumanMeshRecovery.from_pretrained(model_dir, body_model_dir=body_model_dir).eval()
    neutral = SmplxBodyModel.from_directory(body_model_dir)
    metrics = MeshMetrics.from_body_model(neutral, benchmark.metrics)
    processor = SmplestXImageProcessor()
    rows = [row for row in pq.read_table(dataset_dir / SPLIT_FILE).to_pylist() if row["smplx_valid"]][:max_samples]
    per_metric = {name: [] for name in benchmark.metrics}
    for row in rows:
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        inputs = processor([image], boxes=[[row["bbox_xywh"]]], bbox_ratio=benchmark.bbox_ratio, return_tensors="pt")
        with torch.no_grad():
            predicted = model(inputs["pixel_values"]).vertices
        if benchmark.ground_truth == "smplx_vertices":
            target = torch.tensor(np.asarray(row["smplx_vertices"], np.float32))[None]
        else:
            target = reference_ground_truth(
                row, body_model_dir, benchmark.gender, benchmark.betas, benchmark.visibility == "in_image"
            )
        masks = None
        if benchmark.visibility == "in_image":
            box = inputs["processed_boxes"][0]
            hand = {side: reference_hand_regressor(metrics.sets.joint_regressor, side) for side in HAND_LAYOUT}
            masks = EvaluationMasks(
                vertex_valid=in_image(target, box, model.config),
                j14_valid=in_image(metrics.sets.j14_regressor @ target, box, model.config),
                left_hand_joint_valid=in_image(hand["left"] @ target, box, model.config),
                right_hand_joint_valid=in_image(hand["right"] @ target, box, model.config),
            )
        results = metrics(predicted, target, masks)
        for name in benchmark.metrics:
            if bool(results[name].valid[0]):
                per_metric[name].append(float(results[name].values[0]))
    return {name: (float(np.mean(values)) if values else None, len(values)) for name, values in per_metric.items()}


# The original hand regressor (eval_protocol.md §1.1): a J_regressor row, or ("v", id) for a fingertip vertex.
HAND_LAYOUT = {
    "left": [20, 37, 38, 39, ("v", 5361), 25, 26, 27, ("v", 4933), 28, 29, 30, ("v", 5058),
             34, 35, 36, ("v", 5169), 31, 32, 33, ("v", 5286)],
    "right": [21, 52, 53, 54, ("v", 8079), 40, 41, 42, ("v", 7669), 43, 44, 45, ("v", 7794),
              49, 50, 51, ("v", 7905), 46, 47, 48, ("v", 8022)],
}  # fmt: skip


def reference_hand_regressor(joint_regressor, side):
    rows = []
    for entry in HAND_LAYOUT[side]:
        if isinstance(entry, tuple):
            row = torch.zeros(NUM_VERTICES)
            row[entry[1]] = 1.0
        else:
            row = joint_regressor[entry]
        rows.append(row)
    return torch.stack(rows)


# ========================================================================================== the tests
def test_end_to_end_matches_an_independent_per_sample_computation(workspace, synthetic_body_model_dir):
    output_dir = workspace["root"] / "results"
    report = evaluate(
        str(workspace["model_dir"]),
        ["synthetic_sx", "synthetic_ubody", "synthetic_vertices"],
        body_model_dir=synthetic_body_model_dir,
        batch_size=2,  # 5 people: the last batch is short
        output_dir=output_dir,
        progress=False,
    )
    saved = json.loads((output_dir / "results.json").read_text())
    markdown = (output_dir / "results.md").read_text()
    for name in ("synthetic_sx", "synthetic_ubody", "synthetic_vertices"):
        benchmark = get_benchmark(name)
        dataset_dir = workspace["params_dir"] if name != "synthetic_vertices" else workspace["root"] / "vertices"
        expected = reference_results(dataset_dir, benchmark, workspace["model_dir"], synthetic_body_model_dir)
        entry = saved["benchmarks"][name]
        assert entry["num_samples"] == (5 if name != "synthetic_vertices" else 2)
        assert entry["num_skipped_without_ground_truth"] == (1 if name != "synthetic_vertices" else None)
        assert list(entry["metrics"]) == list(benchmark.metrics)
        for metric, (value, count) in expected.items():
            assert entry["samples_per_metric"][metric] == count, (name, metric)
            if value is None:
                assert entry["metrics"][metric] is None
            else:
                assert entry["metrics"][metric] == pytest.approx(value, rel=1e-4, abs=1e-3), (name, metric)
        assert entry["primary_error"] == entry["metrics"]["pve_all"]
        assert (
            f"| {benchmark.title} | {entry['num_samples']} | **{entry['primary_error']:.2f}** (PVE all) |" in markdown
        )

    # The in-image rule drops whole hands and faces in some samples (and keeps them in others).
    counts = saved["benchmarks"]["synthetic_ubody"]["samples_per_metric"]
    assert 0 < counts["pve_hands"] < 5 and 0 < counts["pve_face"] < 5 and counts["pve_all"] == 5
    sx = saved["benchmarks"]["synthetic_sx"]["metrics"]
    assert saved["benchmarks"]["synthetic_ubody"]["metrics"]["pve_hands"] != pytest.approx(sx["pve_hands"], rel=1e-3)
    # Stored vertices of the first two people give what their parameters give (same mesh either way).
    only_two = reference_results(workspace["params_dir"], get_benchmark("synthetic_sx"), workspace["model_dir"],
                                 synthetic_body_model_dir, max_samples=2)  # fmt: skip
    assert saved["benchmarks"]["synthetic_vertices"]["metrics"]["pve_all"] == pytest.approx(
        only_two["pve_all"][0], rel=1e-5
    )

    primaries = [saved["benchmarks"][name]["primary_error"] for name in saved["benchmarks"]]
    assert saved["mpe"]["value"] == pytest.approx(np.mean(primaries), rel=1e-12)
    assert saved["mpe"]["is_paper_benchmark_set"] is False
    assert report.mpe == pytest.approx(saved["mpe"]["value"])
    assert (
        markdown.rstrip().splitlines()[-3].startswith(f"| **MPE** | 3 benchmarks | **{saved['mpe']['value']:.2f}** |")
    )
    assert isinstance(report, EvaluationReport) and [b.name for b in report.benchmarks] == list(saved["benchmarks"])


def test_repeated_evaluation_in_a_training_accelerator_leaves_it_and_the_rng_untouched(workspace, synthetic_body_model_dir, tmp_path):
    """Periodic evaluation during training: the accelerator gains no registered loaders (they would pile up in its
    saved state), the global RNG stream is not advanced, and a given processor (here normalising) cuts the crops."""
    from accelerate import Accelerator

    from smplest_hf import SmplestXImageProcessor

    accelerator = Accelerator(cpu=True)
    model = SmplestXForHumanMeshRecovery.from_pretrained(workspace["model_dir"])
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    first, second = (
        evaluate(model, ["synthetic_sx"], body_model_dir=synthetic_body_model_dir, accelerator=accelerator, progress=False)
        for _ in range(2)
    )
    assert accelerator._dataloaders == []
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert first.benchmarks[0].metrics == second.benchmarks[0].metrics

    normalising = SmplestXImageProcessor(do_normalize=True, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3])
    given = evaluate(model, ["synthetic_sx"], body_model_dir=synthetic_body_model_dir, accelerator=accelerator,
                     progress=False, processor=normalising).benchmarks[0].metrics  # fmt: skip
    assert given["pve_all"] != pytest.approx(first.benchmarks[0].metrics["pve_all"], rel=1e-4)
    # ... and equals evaluating a directory that carries that processor.
    model.save_pretrained(tmp_path / "normalising")
    normalising.save_pretrained(tmp_path / "normalising")
    saved = evaluate(str(tmp_path / "normalising"), ["synthetic_sx"], body_model_dir=synthetic_body_model_dir, progress=False)
    assert saved.benchmarks[0].metrics == pytest.approx(given, rel=1e-5)


def test_missing_column_is_reported_by_name_before_any_model_pass(workspace, synthetic_body_model_dir):
    model = SmplestXForHumanMeshRecovery.from_pretrained(workspace["model_dir"])
    passes = []
    model.register_forward_pre_hook(lambda module, args: passes.append(1))
    with pytest.raises(ValueError, match=r"synthetic_missing.*'smplx_left_hand_pose'.*ground-truth mesh"):
        # The good benchmark comes first: it must not run before the bad one is found.
        evaluate(model, ["synthetic_sx", "synthetic_missing"], body_model_dir=synthetic_body_model_dir, progress=False)
    assert passes == []


def test_missing_body_model_is_a_clear_error(workspace, monkeypatch, tmp_path):
    monkeypatch.delenv("SMPLX_MODEL_DIR", raising=False)
    with pytest.raises(BodyModelFileError, match="SMPLX_MODEL_DIR"):
        evaluate(str(workspace["model_dir"]), ["synthetic_sx"], progress=False)
    with pytest.raises(BodyModelFileError, match="does not exist"):
        evaluate(str(workspace["model_dir"]), ["synthetic_sx"], body_model_dir=tmp_path / "absent", progress=False)


def test_cli_exit_codes_files_and_model_card(workspace, synthetic_body_model_dir, tmp_path, capsys):
    model_dir = tmp_path / "model"
    shutil.copytree(workspace["model_dir"], model_dir)
    output_dir = tmp_path / "out"
    common = ["--body-model", str(synthetic_body_model_dir), "--output-dir", str(output_dir)]
    code = main(["evaluate", str(model_dir), "--benchmarks", f"synthetic_sx={workspace['params_dir']}",
                 "--max-samples", "2", "--batch-size", "2", "--update-model-card", *common])  # fmt: skip
    assert code == 0
    saved = json.loads((output_dir / "results.json").read_text())
    assert saved["benchmarks"]["synthetic_sx"]["num_samples"] == 2
    assert "MPE" in capsys.readouterr().out
    from huggingface_hub import ModelCard

    card = ModelCard.load(model_dir / "README.md")
    entries = {(entry.dataset_type, entry.dataset_name, entry.metric_type): entry.metric_value for entry in card.data.eval_results}
    # Two samples of a dataset without benchmark provenance: filed as custom data, by path and sample count, never
    # under the benchmark's name.
    custom = f"{workspace['params_dir']} (2 samples; not the Synthetic (SX rules) test split)"
    assert entries[(str(workspace["params_dir"]), custom, "pve_all")] == round(
        saved["benchmarks"]["synthetic_sx"]["metrics"]["pve_all"], 2
    )
    assert ("mpe-custom-data", f"MPE over custom data: {custom}", "mpe") in entries
    assert not any(dataset_type == "synthetic_sx" for dataset_type, _, _ in entries)
    assert "model-index" in (model_dir / "README.md").read_text()

    bad_runs = {
        "Unknown benchmark 'nope'": ["--benchmarks", "nope"],
        "placeholder": ["--benchmarks", "ubody"],
        "'smplx_left_hand_pose'": ["--benchmarks", "synthetic_missing"],
        "'3dpw' ('/anywhere', split 'test') could not be loaded": ["--benchmarks", "3dpw=/anywhere"],  # SMPL GT: see test_evaluation_3dpw.py
        "batch_size must be a positive integer": ["--benchmarks", "synthetic_sx", "--batch-size", "0"],
    }
    for message, arguments in bad_runs.items():
        assert main(["evaluate", str(model_dir), *arguments, *common]) == 2, message
        assert message in capsys.readouterr().err
    assert (
        main(["evaluate", str(model_dir), "--benchmarks", "synthetic_sx", "--body-model", str(tmp_path / "none")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_registry_entries_follow_the_protocol():
    from smplest_hf.evaluation.benchmarks import PAPER_MPE_BENCHMARKS, list_benchmarks

    assert sorted(PAPER_MPE_BENCHMARKS) == ["3dpw", "agora_val", "egobody_egoset", "ehf", "ubody"]
    registry = list_benchmarks()
    assert registry["3dpw"].primary_metric == "mpjpe_lsp14"
    assert all(registry[name].primary_metric == "pve_all" for name in PAPER_MPE_BENCHMARKS if name != "3dpw")
    assert (registry["ubody"].bbox_ratio, registry["ehf"].bbox_ratio) == (1.25, 1.2)
    assert registry["egobody_egoset"].bbox_ratio == pytest.approx(0.9996)
    assert registry["synhand"].sample_interval == registry["arctic"].sample_interval == 10
    assert all(benchmark.placeholder for benchmark in registry.values() if not benchmark.name.startswith("synthetic"))
    with pytest.raises(ValueError, match="already registered"):
        register_benchmark(registry["ubody"])
    with pytest.raises(ValueError, match="primary_metric"):
        Benchmark(name="x", title="x", dataset="d", metrics=("pa_pve_all",))
    with pytest.raises(ValueError, match="ground_truth"):
        Benchmark(name="x", title="x", dataset="d", metrics=("mpjpe_lsp14",), primary_metric="mpjpe_lsp14")


_DISTRIBUTED_SCRIPT = """
import sys
from smplest_hf.evaluation.benchmarks import Benchmark, register_benchmark
from smplest_hf.cli import main

model_dir, dataset_dir, body_model_dir, output_dir = sys.argv[1:5]
register_benchmark(Benchmark(name="synthetic_sx", title="Synthetic (SX rules)", dataset=dataset_dir,
                             metrics=%r, gender="per_sample"))
sys.exit(main(["evaluate", model_dir, "--benchmarks", "synthetic_sx", "--body-model", body_model_dir,
               "--batch-size", "2", "--output-dir", output_dir]))
"""


@pytest.mark.slow
def test_two_processes_count_every_sample_once(workspace, synthetic_body_model_dir, tmp_path):
    """5 people over 2 CPU processes with batches of 2: Accelerate pads the last batches with repeated samples,
    gather_for_metrics must drop them, so the figures equal the one-sample-at-a-time reference."""
    import os
    import sys

    from distributed_runs import run_with_deadline

    script = tmp_path / "evaluate_distributed.py"
    script.write_text(_DISTRIBUTED_SCRIPT % (SMPLX_TARGET_METRICS,))
    output_dir = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
               str(workspace["model_dir"]), str(workspace["params_dir"]), str(synthetic_body_model_dir), str(output_dir)]  # fmt: skip
    environment = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    finished = run_with_deadline(command, timeout=600, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    saved = json.loads((output_dir / "results.json").read_text())["benchmarks"]["synthetic_sx"]
    expected = reference_results(workspace["params_dir"], get_benchmark("synthetic_sx"), workspace["model_dir"],
                                 synthetic_body_model_dir)  # fmt: skip
    assert saved["num_samples"] == 5
    for metric, (value, count) in expected.items():
        assert saved["samples_per_metric"][metric] == count, metric
        assert saved["metrics"][metric] == pytest.approx(value, rel=1e-4, abs=1e-3), metric


def _with_provenance(dataset_dir, destination, **entry):
    """A copy of `dataset_dir` whose card records `entry` as the converter's provenance of its test split."""
    from huggingface_hub import DatasetCard

    from smplest_hf.evaluation.benchmarks import PROVENANCE_CARD_KEY

    shutil.copytree(dataset_dir, destination)
    readme = destination / "README.md"
    card = DatasetCard.load(readme) if readme.is_file() else DatasetCard("---\n---\n")
    card.data[PROVENANCE_CARD_KEY] = {"test": entry}
    card.save(destination / "README.md")
    return destination


@pytest.mark.parametrize(
    "entry, max_samples, filed_as_benchmark",
    [
        ({"source": "official release"}, None, True),
        ({"source": "official release"}, 2, False),  # part of the split only
        ({"source": "synthetic stand-in"}, None, False),
        ({"source": "official release", "num_rows": 3}, None, False),  # rows added or removed since conversion
        ({"source": "official release", "name": "ubody"}, None, False),  # another benchmark's data
    ],
)
def test_model_index_names_a_benchmark_only_for_its_whole_official_test_split(
    workspace, synthetic_body_model_dir, tmp_path, entry, max_samples, filed_as_benchmark
):
    num_rows = len(datasets.load_dataset(str(workspace["params_dir"]), split="test"))
    recorded = {"name": "synthetic_sx", "split": "test", "num_rows": num_rows, **entry}
    dataset_dir = _with_provenance(workspace["params_dir"], tmp_path / "converted", **recorded)
    report = evaluate(
        str(workspace["model_dir"]), [f"synthetic_sx={dataset_dir}"], body_model_dir=synthetic_body_model_dir,
        max_samples=max_samples, batch_size=4, progress=False,
    )  # fmt: skip
    (result,) = report.benchmarks
    assert result.is_benchmark_test_split is filed_as_benchmark
    dataset_types = {entry.dataset_type for entry in report.eval_results()}
    if filed_as_benchmark:
        assert dataset_types == {"synthetic_sx", "mpe"}
        assert {entry.dataset_name for entry in report.eval_results()} == {"Synthetic (SX rules)", "MPE: Synthetic (SX rules)"}
    else:
        assert dataset_types == {str(dataset_dir), "mpe-custom-data"}


def test_two_local_datasets_of_the_same_name_are_never_read_from_each_others_cache(workspace, synthetic_body_model_dir, tmp_path):
    """`datasets` caches a local folder under its name: `a/converted` and `b/converted` must still be read apart."""
    whole = shutil.copytree(workspace["params_dir"], tmp_path / "a" / "converted")
    part = tmp_path / "b" / "converted"
    (part / "data").mkdir(parents=True)
    for readme in whole.glob("README.md"):
        shutil.copy(readme, part / "README.md")
    shard = part / "data" / "test-00000-of-00001.parquet"
    datasets.load_dataset(str(workspace["params_dir"]), split="test").select(range(2)).to_parquet(str(shard))
    # Same modification time as the other folder's shard (as after a copy or an extraction): what `datasets` keys on.
    whole_shard = next((whole / "data").glob("test-*.parquet"))
    os.utime(shard, ns=(whole_shard.stat().st_atime_ns, whole_shard.stat().st_mtime_ns))
    if shard.name != whole_shard.name:
        shard.rename(part / "data" / whole_shard.name)
    counts = []
    for directory in (whole, part, whole):
        report = evaluate(str(workspace["model_dir"]), [f"synthetic_sx={directory}"], body_model_dir=synthetic_body_model_dir,
                          batch_size=4, progress=False)  # fmt: skip
        counts.append(report.benchmarks[0].num_samples)
    assert counts == [5, 2, 5]
