"""Per-track AMASS-style SMPL-X files beside the animated .glb: layout, metadata, the Z-up world, and a round trip
through smplx that reproduces the run's own per-frame meshes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from smplest_hf.export.amass import CAMERA_TO_AMASS
from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR, SmplestXPipeline
from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix
from smplest_hf.video.video_file import infer_video_file

VIDEO = Path(__file__).resolve().parents[1] / "space" / "examples" / "person_moving.mp4"


@pytest.fixture(scope="module")
def video_run(synthetic_body_model_dir, tmp_path_factory):
    pipeline = SmplestXPipeline(BUNDLED_MODEL_DIR, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=4)
    output = tmp_path_factory.mktemp("amass")
    summary = infer_video_file(pipeline, VIDEO, output, kinds=("params", "anim", "mesh"), progress=False)  # 20 frames
    [track] = summary["tracks"]
    amass = dict(np.load(output / "anim" / f"person_moving_track_{track['track_id']}_amass.npz"))  # no pickles needed
    params = dict(np.load(output / "params" / f"person_moving_track_{track['track_id']}.npz"))
    return output, summary, amass, params


def test_amass_file_layout_and_metadata(video_run):
    output, summary, amass, params = video_run
    [track] = summary["tracks"]
    count = track["frames"]
    assert amass["poses"].shape == (count, 165) and amass["trans"].shape == (count, 3) and amass["betas"].shape == (10,)
    assert str(amass["gender"]) == "neutral" == str(params["gender"]) and str(amass["surface_model_type"]) == "smplx"
    assert float(amass["mocap_frame_rate"]) == summary["fps"]
    # SMPL-X joint order: root, 21 body joints, jaw, eyes, left hand, right hand. Only the root is in world axes.
    np.testing.assert_array_equal(amass["poses"][:, 3:66], params["body_pose"].reshape(count, 63))
    np.testing.assert_array_equal(amass["poses"][:, 66:69], params["jaw_pose"])
    np.testing.assert_array_equal(amass["poses"][:, 69:75], 0.0)
    root = axis_angle_to_matrix(torch.from_numpy(amass["poses"][:, :3]).double())
    camera_root = axis_angle_to_matrix(torch.from_numpy(params["global_orient"]).double())
    np.testing.assert_allclose(root.numpy(), CAMERA_TO_AMASS @ camera_root.numpy(), atol=1e-6)
    # One shape for the person: the params file has it in every row (the default track shape), the AMASS file once.
    np.testing.assert_array_equal(params["betas"], np.repeat(amass["betas"][None], count, axis=0))
    assert summary["track_shape"] == "mean"
    # Which frame everything is in, stated in every output: without --camera each person's own box camera.
    track_json = json.loads((output / "params" / f"person_moving_track_{track['track_id']}.json").read_text())
    assert summary["coordinate_frame"] == track_json["coordinate_frame"]
    assert summary["coordinate_frame"].startswith("per person and frame: each person's own box camera")
    assert str(amass["coordinate_frame"]).startswith("AMASS world: z up")
    assert str(amass["coordinate_frame"]).endswith(f"camera frame: {summary['coordinate_frame']}")


def test_amass_camera_to_world_is_a_z_up_rotation():
    """Camera axes (x right, y down, z forward) -> AMASS (z up): a proper rotation taking down to -z, forward to +y."""
    np.testing.assert_array_equal(CAMERA_TO_AMASS @ CAMERA_TO_AMASS.T, np.eye(3))
    assert np.linalg.det(CAMERA_TO_AMASS) == 1.0
    np.testing.assert_array_equal(CAMERA_TO_AMASS @ [0, 1, 0], [0, 0, -1])  # camera down -> world down
    np.testing.assert_array_equal(CAMERA_TO_AMASS @ [0, 0, 1], [0, 1, 0])  # viewing direction -> +y
    np.testing.assert_array_equal(CAMERA_TO_AMASS @ [1, 0, 0], [1, 0, 0])


def test_amass_file_round_trips_through_smplx(video_run, synthetic_body_model_dir):
    """smplx.SMPLX(flat_hand_mean=True), as AMASS tools load it, gives the run's own per-frame meshes (`mesh`
    output, camera frame) turned into the file's Z-up world: world = camera_to_world @ camera. That checks the root
    rotation together with the translation's rest-pelvis correction, t' = R (t + J0) - J0 + lift, and the shape."""
    import trimesh

    smplx = pytest.importorskip("smplx")
    output, summary, amass, params = video_run
    track_id = summary["tracks"][0]["track_id"]
    count = len(amass["poses"])
    poses = torch.from_numpy(amass["poses"])
    layer = smplx.SMPLX(
        str(synthetic_body_model_dir / "smplx"), ext="npz", gender=str(amass["gender"]), use_pca=False,
        flat_hand_mean=True, num_betas=10, num_expression_coeffs=10, batch_size=count,
    )  # fmt: skip
    with torch.no_grad():
        world = layer(
            global_orient=poses[:, :3], body_pose=poses[:, 3:66], jaw_pose=poses[:, 66:69], leye_pose=poses[:, 69:72],
            reye_pose=poses[:, 72:75], left_hand_pose=poses[:, 75:120], right_hand_pose=poses[:, 120:165],
            betas=torch.from_numpy(amass["betas"]).expand(count, 10), expression=torch.from_numpy(amass["expression"]),
            transl=torch.from_numpy(amass["trans"]),
        ).vertices.double().numpy()  # fmt: skip
    assert world.shape == (count, 10475, 3)
    frames = params["frame_indices"]
    camera = np.stack([
        trimesh.load(output / "meshes" / "person_moving" / f"{frame:06d}_track_{track_id}.ply", process=False).vertices
        for frame in frames
    ])  # fmt: skip
    transform = amass["camera_to_world"]
    np.testing.assert_array_equal(transform[:3, :3], CAMERA_TO_AMASS)
    expected = camera @ transform[:3, :3].T + transform[:3, 3]
    # float32 tolerance at the box camera's depths (tens of metres: about 4e-6 m per float32 step).
    np.testing.assert_allclose(world, expected, atol=1e-4, rtol=0)
    # Standing on the floor: the lowest point of the track touches z = 0; z is up (the head above the feet).
    assert abs(world[..., 2].min()) < 1e-4
    assert transform[2, 3] == float(amass["floor_offset"])
    head, feet = world[:, :, 2].max(axis=1), world[:, :, 2].min(axis=1)
    assert (head - feet > 0.5).all()
