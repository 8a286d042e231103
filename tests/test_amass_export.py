"""Per-track AMASS-style SMPL-X files beside the animated .glb: layout, metadata, and a round trip through smplx."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR, SmplestXPipeline
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.video.video_file import infer_video_file

VIDEO = Path(__file__).resolve().parents[1] / "space" / "examples" / "person_moving.mp4"


@pytest.fixture(scope="module")
def video_run(synthetic_body_model_dir, tmp_path_factory):
    pipeline = SmplestXPipeline(BUNDLED_MODEL_DIR, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=4)
    output = tmp_path_factory.mktemp("amass")
    summary = infer_video_file(pipeline, VIDEO, output, kinds=("params", "anim"), progress=False)  # 20 frames
    return output, summary


def test_amass_file_layout_and_metadata(video_run):
    output, summary = video_run
    [track] = summary["tracks"]
    amass = np.load(output / "anim" / f"person_moving_track_{track['track_id']}_amass.npz")  # no pickles needed
    params = np.load(output / "params" / f"person_moving_track_{track['track_id']}.npz")
    count = track["frames"]
    assert amass["poses"].shape == (count, 165) and amass["trans"].shape == (count, 3) and amass["betas"].shape == (10,)
    assert str(amass["gender"]) == "neutral" == str(params["gender"]) and str(amass["surface_model_type"]) == "smplx"
    assert float(amass["mocap_frame_rate"]) == summary["fps"]
    # SMPL-X joint order: root, 21 body joints, jaw, eyes, left hand, right hand.
    np.testing.assert_array_equal(amass["poses"][:, :3], params["global_orient"])
    np.testing.assert_array_equal(amass["poses"][:, 3:66], params["body_pose"].reshape(count, 63))
    np.testing.assert_array_equal(amass["poses"][:, 66:69], params["jaw_pose"])
    np.testing.assert_array_equal(amass["poses"][:, 69:75], 0.0)
    np.testing.assert_array_equal(amass["trans"], params["transl"])
    np.testing.assert_allclose(amass["betas"], params["betas"].mean(axis=0), rtol=1e-6)
    # Which frame everything is in, stated in every output: without --camera each person's own box camera.
    track_json = json.loads((output / "params" / f"person_moving_track_{track['track_id']}.json").read_text())
    assert str(amass["coordinate_frame"]) == summary["coordinate_frame"] == track_json["coordinate_frame"]
    assert summary["coordinate_frame"].startswith("per person and frame: each person's own box camera")


def test_amass_file_round_trips_through_smplx(video_run, synthetic_body_model_dir):
    """smplx.SMPLX(flat_hand_mean=True), as AMASS tools load it, gives the meshes of the track's own parameters
    (our body model, the original's mean-hand convention) with the file's one shape (the track's mean betas)."""
    smplx = pytest.importorskip("smplx")
    output, summary = video_run
    track_id = summary["tracks"][0]["track_id"]
    amass = np.load(output / "anim" / f"person_moving_track_{track_id}_amass.npz")
    params = np.load(output / "params" / f"person_moving_track_{track_id}.npz")
    count = len(amass["poses"])
    poses = torch.from_numpy(amass["poses"])
    layer = smplx.SMPLX(
        str(synthetic_body_model_dir / "smplx"), ext="npz", gender=str(amass["gender"]), use_pca=False,
        flat_hand_mean=True, num_betas=10, num_expression_coeffs=10, batch_size=count,
    )  # fmt: skip
    with torch.no_grad():
        loaded = layer(
            global_orient=poses[:, :3], body_pose=poses[:, 3:66], jaw_pose=poses[:, 66:69], leye_pose=poses[:, 69:72],
            reye_pose=poses[:, 72:75], left_hand_pose=poses[:, 75:120], right_hand_pose=poses[:, 120:165],
            betas=torch.from_numpy(amass["betas"]).expand(count, 10), expression=torch.from_numpy(amass["expression"]),
            transl=torch.from_numpy(amass["trans"]),
        ).vertices  # fmt: skip
        body_model = SmplxBodyModel.from_directory(synthetic_body_model_dir)
        own = body_model(
            **{name: torch.from_numpy(params[name]) for name in ("global_orient", "body_pose", "left_hand_pose",
                                                                  "right_hand_pose", "jaw_pose", "expression")},
            betas=torch.from_numpy(params["betas"].mean(axis=0, keepdims=True)).expand(count, 10),
            transl=torch.from_numpy(params["transl"]),
        ).vertices  # fmt: skip
    assert loaded.shape == (count, 10475, 3)
    np.testing.assert_allclose(loaded.numpy(), own.numpy(), atol=1e-5)
