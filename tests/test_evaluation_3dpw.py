"""3DPW in the evaluator: a tiny SMPL-ground-truth dataset in the EHPS layout, the bundled demo model evaluated on
it with the synthetic body models, checked against an independent computation (smplx's own SMPL class for the
ground truth, numpy for the joints, alignment and errors); and what is refused before any model pass."""

import io
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from hub_datasets.schema import EHPS_FEATURES
from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor
from smplest_hf.evaluation.benchmarks import get_benchmark
from smplest_hf.evaluation.run import evaluate
from smplest_hf.models.smplest_x.body_model import BodyModelFileError

from dataset_rows import empty_value

DEMO_MODEL = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_model"
IMAGE_HEIGHT, IMAGE_WIDTH = 200, 160
SPLIT_FILE = "data/test-00000-of-00001.parquet"
LSP14_ROWS = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]  # the original's SMPL (= SMPL-X) joint rows
SMPL_FEATURES = datasets.Features(
    {
        **EHPS_FEATURES,
        "smpl_global_orient": datasets.List(datasets.Value("float32"), length=3),
        "smpl_body_pose": datasets.Array2D((23, 3), "float32"),
        "smpl_betas": datasets.List(datasets.Value("float32"), length=10),
        "smpl_transl": datasets.List(datasets.Value("float32"), length=3),
    }
)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "datasets_cache_3dpw"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def pw3d_rows(seed=0):
    """Five people as a 3DPW converter writes them: SMPL parameters in the camera frame, male and female (and one
    neutral), one with a |beta| > 3 (3DPW keeps betas as annotated); SMPL-X columns unused (zeros)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(5):
        row = {name: empty_value(feature) for name, feature in SMPL_FEATURES.items() if name != "image"}
        image = rng.integers(0, 256, (IMAGE_HEIGHT, IMAGE_WIDTH, 3), dtype=np.uint8)
        image[40:160, 60:100] = (200, 150, 120)  # a person-sized blob, so crops differ from noise
        betas = rng.normal(size=10) * 0.8
        betas[0] += 3.5 * (index == 2)
        row.update(
            sample_id=f"3dpw/test/{index:08d}",
            dataset_name="3dpw",
            source_index=index,
            image=Image.fromarray(image),
            image_height=IMAGE_HEIGHT,
            image_width=IMAGE_WIDTH,
            bbox_xywh=[40.0 + 5 * index, 30.0 + 2 * index, 80.0, 140.0],
            gender=("male", "female", "male", "female", "neutral")[index],
            smpl_global_orient=(np.array([np.pi, 0.0, 0.0]) + rng.normal(size=3) * 0.2).tolist(),
            smpl_body_pose=(rng.normal(size=(23, 3)) * 0.25).astype(np.float32),
            smpl_betas=betas.tolist(),
            smpl_transl=[0.1 * index, 0.2, 4.0 + index],
        )
        rows.append(row)
    return rows


def write_dataset(directory, rows, drop=()):
    columns = {name: [row[name] for row in rows] for name in SMPL_FEATURES}
    dataset = datasets.Dataset.from_dict(columns, features=SMPL_FEATURES).remove_columns(list(drop))
    (directory / "data").mkdir(parents=True)
    dataset.to_parquet(str(directory / SPLIT_FILE))
    return directory


@pytest.fixture(scope="module")
def pw3d_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("pw3d") / "3dpw_ehps", pw3d_rows())


# ============================================================================ independent reference
def umeyama_align(source, target):
    """(P, 3) source moved onto target by the least-squares similarity (rotation without reflection, scale)."""
    source_mean, target_mean = source.mean(0), target.mean(0)
    centred_source, centred_target = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(centred_source.T @ centred_target / len(source))
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    rotation = vt.T @ fix @ u.T
    scale = (singular * np.diag(fix)).sum() / centred_source.var(0).sum()
    return scale * centred_source @ rotation.T + target_mean


def reference_errors(dataset_dir, body_model_dir, gender_of=None):
    """Per person: (MPJPE, PA-MPJPE) in mm, as SMPLer-X's PW3D.evaluate defines them, one sample at a time."""
    import smplx

    model = SmplestXForHumanMeshRecovery.from_pretrained(DEMO_MODEL, body_model_dir=body_model_dir).eval()
    processor = SmplestXImageProcessor.from_pretrained(DEMO_MODEL)  # the demo model normalises its input
    smplx_regressor = np.load(body_model_dir / "smplx" / "SMPLX_NEUTRAL.npz")["J_regressor"].astype(np.float64)
    smpl_models = {gender: smplx.create(str(body_model_dir), model_type="smpl", gender=gender)
                   for gender in ("neutral", "male", "female")}  # fmt: skip
    smpl_regressor = smpl_models["neutral"].J_regressor.double().numpy()  # the neutral one for every gender
    errors = []
    for row in pq.read_table(dataset_dir / SPLIT_FILE).to_pylist():
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        inputs = processor([image], boxes=[[row["bbox_xywh"]]], bbox_ratio=1.2, return_tensors="pt")
        with torch.no_grad():
            predicted = model(inputs["pixel_values"]).vertices[0].double().numpy()
        smpl = smpl_models[(gender_of or row["gender"])]
        tensor = lambda values: torch.tensor(np.asarray(values, np.float32).reshape(1, -1))  # noqa: E731
        with torch.no_grad():
            target = smpl(global_orient=tensor(row["smpl_global_orient"]), body_pose=tensor(row["smpl_body_pose"]),
                          betas=tensor(row["smpl_betas"]), transl=tensor(row["smpl_transl"])).vertices[0]  # fmt: skip
        target = target.double().numpy()
        shifted = predicted - smplx_regressor[0] @ predicted + smpl_regressor[0] @ target  # pelvis onto pelvis
        predicted_joints = (smplx_regressor @ shifted)[LSP14_ROWS]
        target_joints = (smpl_regressor @ target)[LSP14_ROWS]
        mpjpe = np.linalg.norm(predicted_joints - target_joints, axis=1).mean() * 1000
        aligned = umeyama_align((smplx_regressor @ predicted)[LSP14_ROWS], target_joints)
        pa_mpjpe = np.linalg.norm(aligned - target_joints, axis=1).mean() * 1000
        errors.append((mpjpe, pa_mpjpe))
    return np.array(errors)


# =================================================================================================== tests
def test_3dpw_mpjpe_of_the_demo_model_matches_an_independent_computation(pw3d_dir, synthetic_body_model_dir, tmp_path):
    report = evaluate(
        str(DEMO_MODEL), [f"3dpw={pw3d_dir}"], body_model_dir=synthetic_body_model_dir, batch_size=2,
        output_dir=tmp_path, progress=False,
    )  # fmt: skip
    result = report.benchmarks[0]
    expected = reference_errors(pw3d_dir, synthetic_body_model_dir)
    assert result.name == "3dpw" and result.primary_metric == "mpjpe_lsp14"
    assert result.num_samples == 5 and result.counts == {"mpjpe_lsp14": 5, "pa_mpjpe_lsp14": 5}
    assert result.metrics["mpjpe_lsp14"] == pytest.approx(expected[:, 0].mean(), rel=1e-4)
    assert result.metrics["pa_mpjpe_lsp14"] == pytest.approx(expected[:, 1].mean(), rel=1e-4)
    assert 10 < result.metrics["pa_mpjpe_lsp14"] < result.metrics["mpjpe_lsp14"] < 2000
    assert report.mpe == result.primary_error == result.metrics["mpjpe_lsp14"]
    assert f"| 3DPW-test | 5 | **{result.primary_error:.2f}** (MPJPE (LSP-14)) |" in (tmp_path / "results.md").read_text()
    # The ground truth is gendered: the neutral model everywhere would give other errors.
    neutral = reference_errors(pw3d_dir, synthetic_body_model_dir, gender_of="neutral")
    assert abs(neutral[:, 0].mean() - result.metrics["mpjpe_lsp14"]) > 0.05


def test_missing_smpl_files_are_named_before_the_model_is_loaded(pw3d_dir, synthetic_body_model_dir, tmp_path):
    only_smplx = tmp_path / "only_smplx"
    shutil.copytree(synthetic_body_model_dir / "smplx", only_smplx / "smplx")
    with pytest.raises(BodyModelFileError) as no_smpl:
        evaluate(str(tmp_path / "no_model_here"), [f"3dpw={pw3d_dir}"], body_model_dir=only_smplx, progress=False)
    assert str(only_smplx / "smpl" / "SMPL_NEUTRAL.pkl") in str(no_smpl.value)
    assert "https://smpl.is.tue.mpg.de" in str(no_smpl.value)

    (only_smplx / "smpl").mkdir()
    shutil.copy(synthetic_body_model_dir / "smpl" / "SMPL_NEUTRAL.pkl", only_smplx / "smpl")
    shutil.copy(synthetic_body_model_dir / "smpl" / "SMPL_FEMALE.pkl", only_smplx / "smpl")
    with pytest.raises(BodyModelFileError) as no_male:
        evaluate(str(tmp_path / "no_model_here"), [f"3dpw={pw3d_dir}"], body_model_dir=only_smplx, progress=False)
    assert "'3dpw'" in str(no_male.value) and "male ground truth" in str(no_male.value)
    assert str(only_smplx / "smpl" / "SMPL_MALE.pkl") in str(no_male.value)


def test_a_dataset_without_an_smpl_column_is_refused_naming_it(synthetic_body_model_dir, tmp_path):
    no_betas = write_dataset(tmp_path / "no_betas", pw3d_rows()[:2], drop=["smpl_betas"])
    with pytest.raises(ValueError, match=r"'smpl_betas' for the ground-truth SMPL mesh"):
        evaluate(str(tmp_path / "no_model_here"), [f"3dpw={no_betas}"], body_model_dir=synthetic_body_model_dir,
                 progress=False)  # fmt: skip


def test_the_registry_scores_3dpw_on_gendered_smpl_parameters():
    benchmark = get_benchmark("3dpw")
    assert benchmark.ground_truth == "smpl_params" and benchmark.gender == "per_sample"
    assert benchmark.betas == "as_annotated" and benchmark.bbox_ratio == 1.2
    assert benchmark.metrics == ("mpjpe_lsp14", "pa_mpjpe_lsp14")
    with pytest.raises(ValueError, match="in-image rule"):
        benchmark.__class__(name="x", title="x", dataset="d", metrics=benchmark.metrics, primary_metric="mpjpe_lsp14",
                            ground_truth="smpl_params", visibility="in_image")  # fmt: skip
    with pytest.raises(ValueError, match="does not fit its metrics"):
        benchmark.__class__(name="x", title="x", dataset="d", ground_truth="smpl_params")
