"""A tracked person as an AMASS-style SMPL-X motion file, the `.npz` animation tools import (the SMPL-X Blender
add-on's "Add Animation" with format AMASS, AMASS loaders).

AMASS motions live in a Z-up world (the mocap room: z up, the floor the plane z = 0), while our parameters are in
OpenCV camera axes (x right, y down, z forward). The file is therefore written in a world made from the camera:

    world = CAMERA_TO_AMASS @ camera + (0, 0, floor_offset)

x stays the camera's right, y is the camera's viewing direction, z is up (the camera's -y), and the whole track is
lifted by `floor_offset` (how far below the camera the track's lowest vertex over all frames is) so that this
vertex touches z = 0: people stand on the floor, which with a level camera is the plane z = 0. The camera sits at
(0, 0, floor_offset) looking along +y.

Why this is what the SMPL-X Blender add-on expects: its importer (`smplx_add_animation`, anim_format "AMASS";
Perceiving Systems' smplx_blender_addon, `__init__.py`) sets the pelvis bone's location to `trans` and the joints'
rotations to `poses` in SMPL-X's own axes, then, for AMASS files only, rotates the root bone by -90 degrees about x,
because AMASS's floor is the XY plane while the add-on's rest SMPL-X model already stands Z-up. That rotation
undoes Blender's own Y-up-to-Z-up turn of the SMPL-X model, so the mesh lands in Blender at exactly the
coordinates `smplx.SMPLX` gives for the file: Z-up, as AMASS itself is. People in our files thus stand upright on Blender's floor grid, facing the front view (-y) when they
faced the camera.

Rotating the root: SMPL-X rotates the body about its rest pelvis J0 (which depends on betas and expression), then
adds `trans`: v = G (u - J0) + J0 + t. For R v + s (s = the floor lift) to be a SMPL-X body again, its root rotation
is R G and its translation t' = R (t + J0) - J0 + s; every other joint rotation is relative to its parent and stays.

Keys (T frames):

- `poses` (T, 165) float32: axis-angle rotations of SMPL-X's 55 joints in its joint order: the world root
  orientation (3), body (21 x 3 = 63), jaw (3), left eye, right eye (3 + 3, zeros: SMPLest-X does not pose the
  eyes), left hand, right hand (15 x 3 = 45 each). Hand poses are absolute (the model's mean hand pose added), as
  AMASS stores them: load with `smplx.SMPLX(flat_hand_mean=True, use_pca=False)`;
- `trans` (T, 3): the world translation (smplx's `transl`), `expression` (T, 10), `betas` (10,): one shape for the
  whole sequence, the mean of the track's per-frame betas (with the default `track_shape="mean"` exactly the betas
  of every frame of the other outputs; the animated `.glb` bakes the same), `num_betas`;
- `gender` ("neutral"), `surface_model_type` ("smplx"), `mocap_frame_rate` (the video's fps) and
  `mocap_time_length` (seconds), `frame_indices` (T,): the video frame of each row;
- `camera_to_world` (4, 4) float64: the map above from our camera frame to this file's world, and `floor_offset`;
- `coordinate_frame`: the world's axes and, as in every other output, which camera frame it was made from: with a
  known camera (`--camera`) the video's one camera, shared by every track and frame; otherwise each person's own
  box camera per frame (`video.video_file.coordinate_frame`, also in `results.json`).

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
# Camera axes (x right, y down, z forward) -> AMASS world axes (x right, y forward, z up): -90 degrees about x.
CAMERA_TO_AMASS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
AMASS_WORLD = "AMASS world: z up, x = the camera's right, y = its viewing direction, floor z = 0 (world = camera_to_world @ camera)"
_FRAMES_PER_CHUNK = 64  # frames skinned at once when looking for the track's lowest vertex


def amass_arrays(track: dict, fps: float, body_model, coordinate_frame: str) -> dict[str, np.ndarray]:
    """A stacked track (`video.video_file.stack_track`: (T, ...) arrays, camera frame) -> the AMASS-style arrays
    in the Z-up world (module docstring).

    `body_model` (an `SmplxBodyModel`) gives the mean hand pose that makes the hand poses absolute, the rest pelvis
    and the meshes whose lowest point sets the floor. `coordinate_frame`: the camera frame the track is in.
    """
    import torch

    from ..models.smplest_x.geometry import axis_angle_to_matrix, matrix_to_axis_angle

    count = len(track["frame_indices"])

    def rows(name, size):
        return np.asarray(track[name], np.float64).reshape(count, size)

    def buffer(name):
        return body_model.get_buffer(name).detach().cpu().double().numpy()

    betas = rows("betas", 10).mean(axis=0)
    expression, camera_translation = rows("expression", 10), rows("camera_translation", 3)
    pelvis_regressor = buffer("joint_regressor")[0]  # (V,): the root joint from the shaped rest mesh
    rest_pelvis = (pelvis_regressor @ (buffer("v_template") + buffer("shapedirs") @ betas)
                   + np.einsum("v,vce,te->tc", pelvis_regressor, buffer("expression_dirs"), expression))  # (T, 3) fmt: skip
    floor_offset = _lowest_point_below_camera(track, betas, body_model)  # world z = floor_offset - camera y
    lift = np.array([0.0, 0.0, floor_offset])
    root = torch.from_numpy(CAMERA_TO_AMASS) @ axis_angle_to_matrix(torch.from_numpy(rows("global_orient", 3)))
    hand_mean = buffer("hand_pose_mean").reshape(2, 3 * NUM_HAND_POSE_JOINTS)
    poses = np.concatenate([
        matrix_to_axis_angle(root).numpy(), rows("body_pose", 63), rows("jaw_pose", 3), np.zeros((count, 6)),
        rows("left_hand_pose", 45) + hand_mean[0], rows("right_hand_pose", 45) + hand_mean[1],
    ], axis=1).astype(np.float32)  # fmt: skip
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3], camera_to_world[:3, 3] = CAMERA_TO_AMASS, lift
    return {
        "poses": poses,
        "trans": ((camera_translation + rest_pelvis) @ CAMERA_TO_AMASS.T - rest_pelvis + lift).astype(np.float32),
        "expression": expression.astype(np.float32),
        "betas": betas.astype(np.float32),
        "num_betas": np.int64(PREDICTION_MODEL_SETTINGS["num_betas"]),
        "gender": np.str_(PREDICTION_MODEL_SETTINGS["gender"]),
        "surface_model_type": np.str_("smplx"),
        "mocap_frame_rate": np.float64(fps),
        "mocap_time_length": np.float64(count / float(fps)),
        "frame_indices": np.asarray(track["frame_indices"], np.int64),
        "camera_to_world": camera_to_world,
        "floor_offset": np.float64(floor_offset),
        "coordinate_frame": np.str_(f"{AMASS_WORLD}; camera frame: {coordinate_frame}"),
    }


def _lowest_point_below_camera(track: dict, betas: np.ndarray, body_model) -> float:
    """How far below the camera the track's lowest vertex is: the largest camera-frame y (y points down) of its
    meshes over all frames, with the file's `betas`."""
    import torch

    from ..models.smplest_x.modeling_smplest_x import run_body_model

    count = len(track["frame_indices"])
    device = body_model.get_buffer("v_template").device
    lowest = -np.inf
    with torch.no_grad():
        for first in range(0, count, _FRAMES_PER_CHUNK):
            rows = slice(first, first + _FRAMES_PER_CHUNK)
            chunk = {name: torch.as_tensor(np.asarray(track[name][rows], np.float32), device=device)
                     for name in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression",
                                  "camera_translation")}  # fmt: skip
            chunk["betas"] = torch.as_tensor(betas, dtype=torch.float32, device=device).expand(len(chunk["expression"]), -1)
            vertices = run_body_model(body_model, chunk).vertices
            lowest = max(lowest, float(vertices[..., 1].max()))
    return lowest


def save_amass_npz(path, track: dict, fps: float, body_model, coordinate_frame: str) -> Path:
    """Write `amass_arrays(...)` as an uncompressed `.npz` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **amass_arrays(track, fps, body_model, coordinate_frame))
    return write_bytes_atomic(path, buffer.getvalue())


__all__ = ["AMASS_POSE_SIZE", "AMASS_WORLD", "CAMERA_TO_AMASS", "amass_arrays", "save_amass_npz"]
