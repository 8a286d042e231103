"""One pose layout, `smplx_layout.PARAMETER_SHAPES`, wherever SMPL-X parameters are held: the model's outputs,
the pipeline's people, the image and per-track parameter files, and the datasets. A drift in any of them fails
here; the files also load straight into `smplx.SMPLX` and give the pipeline's own meshes."""

import numpy as np
import pytest
import torch

from hub_datasets.schema import EHPS_FEATURES, SMPLX_PARAMETER_SHAPES
from hub_datasets.synthetic import pose_people, sample_scene
from smplest_hf.export.results import save_smplx_npz
from smplest_hf.inference.pipeline import SmplestXPipeline
from smplest_hf.models.smplest_x.smplx_layout import (
    NUM_BODY_POSE_JOINTS,
    NUM_HAND_POSE_JOINTS,
    PARAMETER_NAMES,
    PARAMETER_SHAPES,
    PREDICTION_MODEL_SETTINGS,
)
from smplest_hf.video.video_file import save_track_npz, stack_track

BOXES = [[20, 10, 110, 220], [170, 40, 100, 190], [60, 30, 150, 200]]


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir, synthetic_body_model_dir):
    return SmplestXPipeline(tiny_model_dir, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=4, dtype="float32")


@pytest.fixture(scope="module")
def people(pipeline):
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    return pipeline(image, boxes=BOXES)


def load_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:  # nothing pickled, the gender string included
        return {name: saved[name] for name in saved.files}


def smplx_layer(body_model_dir, gender, batch_size):
    smplx = pytest.importorskip("smplx")
    settings = {name: value for name, value in PREDICTION_MODEL_SETTINGS.items() if name != "gender"}
    return smplx.SMPLX(str(body_model_dir / "smplx"), ext="npz", gender=gender, batch_size=batch_size, **settings)


def test_the_layout_is_per_joint():
    assert PARAMETER_SHAPES["body_pose"] == (NUM_BODY_POSE_JOINTS, 3) == (21, 3)
    assert PARAMETER_SHAPES["left_hand_pose"] == PARAMETER_SHAPES["right_hand_pose"] == (NUM_HAND_POSE_JOINTS, 3) == (15, 3)
    assert all(PARAMETER_SHAPES[name] == (3,) for name in ("global_orient", "jaw_pose", "leye_pose", "reye_pose", "transl"))
    assert set(PARAMETER_NAMES) < set(PARAMETER_SHAPES)


def test_model_pipeline_files_and_datasets_agree(pipeline, people, synthetic_body_model_dir, tmp_path):
    """Per joint group the same shape, with only the leading (people / frames) axes differing."""
    predicted = [name for name in PARAMETER_SHAPES if name in PARAMETER_NAMES]
    # Model outputs: (N, ...).
    with torch.no_grad():
        outputs = pipeline.model(torch.rand(2, 3, 256, 192), return_geometry=False)
    for name in predicted:
        assert tuple(getattr(outputs, name).shape) == (2, *PARAMETER_SHAPES[name]), name
    # Pipeline people: (...), `camera_translation` for `transl`.
    for person in people:
        assert {name: person[name].shape for name in predicted} == {name: PARAMETER_SHAPES[name] for name in predicted}
        assert person["camera_translation"].shape == PARAMETER_SHAPES["transl"]
    # Image parameter file: (1, ...); per-track file: (T, ...).
    image_file = load_npz(save_smplx_npz(tmp_path / "person.npz", people[0]))
    track_file = load_npz(save_track_npz(tmp_path / "track.npz", stack_track(list(enumerate(people))), fps=25.0))
    for name, shape in PARAMETER_SHAPES.items():
        assert image_file[name].shape == (1, *shape), name
        assert track_file[name].shape == (len(people), *shape), name
    # Datasets: the fixed-size `smplx_<name>` columns (betas / expression are variable-length there) and the
    # synthetic people they are made from.
    for name, shape in PARAMETER_SHAPES.items():
        if name in ("betas", "expression"):
            continue
        feature = EHPS_FEATURES[f"smplx_{name}"]
        assert SMPLX_PARAMETER_SHAPES[f"smplx_{name}"] == shape
        assert (feature.shape if hasattr(feature, "shape") else (feature.length,)) == shape, name
    synthetic = pose_people([sample_scene(0, 0, 2, (128, 96), genders=("neutral",))], synthetic_body_model_dir)
    for name in predicted:
        assert synthetic[name].shape == (2, *PARAMETER_SHAPES[name]), name


def test_image_and_track_files_carry_the_gender_and_load_into_smplx(people, synthetic_body_model_dir, tmp_path):
    """`torch.from_numpy` of each array, as the files are, into `smplx.SMPLX` gives the pipeline's vertices."""
    track = load_npz(save_track_npz(tmp_path / "track.npz", stack_track(list(enumerate(people))), fps=25.0))
    files = [load_npz(save_smplx_npz(tmp_path / f"person_{index}.npz", person)) for index, person in enumerate(people)]
    expected = np.stack([person["vertices"] for person in people])
    for arrays, rows in [(track, slice(None))] + [(file, slice(index, index + 1)) for index, file in enumerate(files)]:
        gender = arrays["gender"]
        assert gender.dtype.kind == "U" and gender.shape == () and str(gender) == PREDICTION_MODEL_SETTINGS["gender"]
        layer = smplx_layer(synthetic_body_model_dir, str(gender), len(arrays["betas"]))
        with torch.no_grad():
            vertices = layer(**{name: torch.from_numpy(arrays[name]) for name in PARAMETER_SHAPES}).vertices.numpy()
        np.testing.assert_allclose(vertices, expected[rows], atol=1e-5)
