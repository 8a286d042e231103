"""A tracked person as an AMASS-style SMPL-X motion file, the `.npz` animation tools import (the SMPL-X Blender
add-on's "Add Animation", AMASS loaders).

Keys (T frames):

- `poses` (T, 165) float32: axis-angle rotations of SMPL-X's 55 joints in its joint order: `global_orient` (3),
  body (21 x 3 = 63), jaw (3), left eye, right eye (3 + 3, zeros: SMPLest-X does not pose the eyes), left hand,
  right hand (15 x 3 = 45 each). Hand poses are absolute (the model's mean hand pose added), as AMASS stores them:
  load with `smplx.SMPLX(flat_hand_mean=True, use_pca=False)`;
- `trans` (T, 3): the translation (smplx's `transl`), `expression` (T, 10), `betas` (10,): one shape for the whole sequence, the mean
  of the track's per-frame betas (as the animated `.glb` bakes it), `num_betas`;
- `gender` ("neutral"), `surface_model_type` ("smplx"), `mocap_frame_rate` (the video's fps) and
  `mocap_time_length` (seconds), `frame_indices` (T,): the video frame of each row;
- `coordinate_frame`: which frame `trans` and the root orientation are in (OpenCV axes: x right, y down, z
  forward, metres): with a known camera (`--camera`) the video's one camera, shared by every track and frame;
  otherwise each person's own box camera per frame (`video.video_file.coordinate_frame`, also in `results.json`).

Strings are stored as NumPy unicode scalars (no pickled objects): `str(data["gender"])` reads them.

>>> from smplest_hf.export.amass import save_amass_npz
>>> save_amass_npz("clip_track_0_amass.npz", track, 30.0, pipeline.model.body_model, "...")  # doctest: +SKIP
"""

import io
from pathlib import Path

import numpy as np

from ..models.smplest_x.smplx_layout import NUM_HAND_POSE_JOINTS, PREDICTION_MODEL_SETTINGS
from .atomic import write_bytes_atomic

AMASS_POSE_SIZE = 165  # 55 joints x 3


def amass_arrays(track: dict, fps: float, body_model, coordinate_frame: str) -> dict[str, np.ndarray]:
    """A stacked track (`video.video_file.stack_track`: (T, ...) arrays) -> the AMASS-style arrays (module docstring).

    `body_model` (an `SmplxBodyModel`) gives the mean hand pose that makes the hand poses absolute.
    """
    count = len(track["frame_indices"])
    hand_mean = body_model.get_buffer("hand_pose_mean").detach().cpu().double().numpy().reshape(2, 3 * NUM_HAND_POSE_JOINTS)

    def rows(name, size):
        return np.asarray(track[name], np.float64).reshape(count, size)

    poses = np.concatenate([
        rows("global_orient", 3), rows("body_pose", 63), rows("jaw_pose", 3), np.zeros((count, 6)),
        rows("left_hand_pose", 45) + hand_mean[0], rows("right_hand_pose", 45) + hand_mean[1],
    ], axis=1).astype(np.float32)  # fmt: skip
    return {
        "poses": poses,
        "trans": rows("camera_translation", 3).astype(np.float32),
        "expression": rows("expression", 10).astype(np.float32),
        "betas": rows("betas", 10).mean(axis=0).astype(np.float32),
        "num_betas": np.int64(PREDICTION_MODEL_SETTINGS["num_betas"]),
        "gender": np.str_(PREDICTION_MODEL_SETTINGS["gender"]),
        "surface_model_type": np.str_("smplx"),
        "mocap_frame_rate": np.float64(fps),
        "mocap_time_length": np.float64(count / float(fps)),
        "frame_indices": np.asarray(track["frame_indices"], np.int64),
        "coordinate_frame": np.str_(coordinate_frame),
    }


def save_amass_npz(path, track: dict, fps: float, body_model, coordinate_frame: str) -> Path:
    """Write `amass_arrays(...)` as an uncompressed `.npz` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **amass_arrays(track, fps, body_model, coordinate_frame))
    return write_bytes_atomic(path, buffer.getvalue())


__all__ = ["AMASS_POSE_SIZE", "amass_arrays", "save_amass_npz"]
