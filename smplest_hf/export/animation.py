"""Animated glTF 2.0 (.glb) of tracked people: a skinned SMPL-X skeleton per track, keyframed per video frame.

Opens in Blender (File > Import > glTF 2.0), three.js (`GLTFLoader` + `AnimationMixer`), Godot, Unity or any
glTF viewer. Written with `gltf`'s binary writer; no dependency beyond NumPy.

Per track (one person across the video):

- a skeleton of the 55 SMPL-X joints as glTF nodes (`<track>_pelvis`, `<track>_left_hip`, ..., SMPL-X's
  kinematic tree), in the bind pose of the track's body shape: the rest pose (all rotations zero) of the mean
  betas, expression zero, pelvis at its rest position;
- a skinned mesh: the rest-pose SMPL-X mesh of the mean betas, with per-vertex `JOINTS_0` / `WEIGHTS_0` holding
  the four largest SMPL-X blend weights renormalised to sum to 1 (glTF's four influences per vertex; real SMPL-X
  vertices have at most four non-zero weights in most places, so little is lost), `inverseBindMatrices`
  undoing the bind pose, and the 10 expression blend shapes as morph targets (`expression_0..9`);
- animation channels, one keyframe per frame the track was seen (time = frame index / fps, linear
  interpolation over frames it was missed): each joint's rotation (the SMPL-X local rotation; the hand rotations
  include the model's mean hand pose; eyes stay at rest), the pelvis translation (its rest position + the
  predicted `camera_translation`), the translation of any joint whose offset from its parent moves with the
  per-frame betas or expression (the skeleton then follows the per-frame shape exactly), and the expression
  morph weights. A track that starts after the first frame or ends before the last video frame is hidden
  outside its frames by a STEP-interpolated scale of 0 on its pelvis.

Axes: positions are in the camera frame converted to glTF axes by `OPENCV_TO_GLTF` (180 degrees about x), as in
`gltf`: each local rotation R becomes C R C^T and each offset C t, which makes the whole posed skeleton the
SMPL-X one rotated by C. The camera (optional) sits at the origin looking down -z, so the scene matches the video.

What glTF skinning cannot express, so the animated mesh differs from the SMPL-X mesh by it:

- pose-corrective blend shapes (SMPL-X's `posedirs`, which bulge muscles and fix elbow/knee creases as joints
  bend): linear blend skinning only, typically a few millimetres to 2 cm near strongly bent joints;
- body shape changing from frame to frame (video runs with `track_shape="per-frame"`; the default gives a track
  one shape): the mesh keeps the track's mean shape (the joints still follow the per-frame shape through their
  translation channels).

The skeleton's joints are exact: at every keyframe they reproduce SMPL-X's 55 kinematic joints of that frame.

```python
>>> from smplest_hf.export.animation import save_animated_glb
>>> track = {"frame_indices": frames, "global_orient": ..., "body_pose": ..., "left_hand_pose": ...,
...          "right_hand_pose": ..., "jaw_pose": ..., "betas": ..., "expression": ...,
...          "camera_translation": ...}                                                   # doctest: +SKIP
>>> save_animated_glb("people.glb", [track], body_model, fps=30, names=["track_0"])  # doctest: +SKIP
```
"""

from pathlib import Path

import numpy as np

from .gltf import (
    OPENCV_TO_GLTF,
    _BinaryBuffer,
    _pack_glb,
    camera_from_intrinsics,
    vertex_normals,
)
from ..models.smplest_x.geometry import axis_angle_to_quaternion, continuous_quaternions
from ..models.smplest_x.smplx_layout import NUM_SMPLX_JOINTS, SMPLX_JOINT_NAMES

_FLOAT, _UNSIGNED_BYTE, _UNSIGNED_INT = 5126, 5121, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TRIANGLES = 4
MAX_INFLUENCES = 4  # glTF's JOINTS_0 / WEIGHTS_0 hold four joints per vertex
# A joint gets a translation channel when its offset from its parent moves by more than this (metres) from the
# bind pose in some frame (per-frame betas or expression); below it the difference is invisible.
TRANSLATION_TOLERANCE = 1e-5
# (field, joints per frame) of the per-frame pose, in SMPL-X joint order (eyes are inserted after the jaw).
_POSE_FIELDS = (("global_orient", 1), ("body_pose", 21), ("jaw_pose", 1), ("left_hand_pose", 15), ("right_hand_pose", 15))
_REQUIRED_FIELDS = ("frame_indices", *(name for name, _ in _POSE_FIELDS), "betas", "expression")


def top_skin_weights(weights, influences: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) blend weights -> the `influences` largest per vertex: joint indices (V, k) uint8 (largest first,
    ties to the lower joint) and their weights (V, k) float32 renormalised to sum to 1."""
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :influences]
    kept = np.take_along_axis(weights, order, axis=1)
    total = kept.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError(f"Vertex {int(np.flatnonzero(total[:, 0] <= 0)[0])} has no positive skinning weight.")
    kept = kept / total
    return np.where(kept > 0, order, 0).astype(np.uint8), kept.astype(np.float32)


def _body_model_arrays(body_model) -> dict[str, np.ndarray]:
    """The SMPL-X arrays the skin needs, as float64/int64 NumPy arrays, from an `SmplxBodyModel`."""
    def array(name):
        tensor = body_model.get_buffer(name).detach().cpu()
        return tensor.double().numpy() if tensor.is_floating_point() else tensor.numpy()

    arrays = {name: array(name) for name in ("v_template", "shapedirs", "expression_dirs", "joint_regressor", "parents",
                                                "lbs_weights", "faces", "hand_pose_mean")}  # fmt: skip
    if arrays["joint_regressor"].shape[0] != NUM_SMPLX_JOINTS:
        raise ValueError(f"The body model has {arrays['joint_regressor'].shape[0]} joints, expected {NUM_SMPLX_JOINTS} (SMPL-X).")
    return arrays


def _check_track(track: dict, index: int) -> tuple[dict, np.ndarray]:
    """Validated (T, ...) float64 arrays of one track and its (T,) int64 frame indices."""
    track = dict(track)
    if "camera_translation" not in track and "transl" in track:  # the .npz layout
        track["camera_translation"] = track["transl"]
    missing = [name for name in (*_REQUIRED_FIELDS, "camera_translation") if name not in track]
    if missing:
        raise ValueError(f"Track {index} lacks the fields {missing}.")
    frames = np.asarray(track["frame_indices"]).reshape(-1)
    if frames.size == 0:
        raise ValueError(f"Track {index} has no frames.")
    if not np.issubdtype(frames.dtype, np.integer) or frames.min() < 0 or (np.diff(frames) <= 0).any():
        raise ValueError(f"Track {index}: frame_indices must be non-negative integers in increasing order.")
    count = len(frames)
    sizes = {name: joints * 3 for name, joints in _POSE_FIELDS} | {"betas": 10, "expression": 10, "camera_translation": 3}
    arrays = {}
    for name, size in sizes.items():
        value = np.asarray(track[name], dtype=np.float64)
        if value.shape[0] != count or value[0].size != size:
            raise ValueError(f"Track {index}: `{name}` must hold {count} frames of {size} numbers, got shape {value.shape}.")
        if not np.isfinite(value).all():
            raise ValueError(f"Track {index}: `{name}` contains NaN or infinite values.")
        arrays[name] = value.reshape(count, size)
    return arrays, frames.astype(np.int64)


def _local_rotations(arrays: dict, hand_pose_mean: np.ndarray) -> np.ndarray:
    """(T, 55, 3) SMPL-X local axis-angle rotations, as the body model builds them (mean hand pose added)."""
    count = len(arrays["betas"])
    pose = {name: arrays[name].reshape(count, joints, 3) for name, joints in _POSE_FIELDS}
    eyes = np.zeros((count, 2, 3))
    return np.concatenate((pose["global_orient"], pose["body_pose"], pose["jaw_pose"], eyes,
                           pose["left_hand_pose"] + hand_pose_mean[0], pose["right_hand_pose"] + hand_pose_mean[1]), axis=1)  # fmt: skip


def _to_gltf_quaternions(axis_angles: np.ndarray) -> np.ndarray:
    """(T, J, 3) OpenCV-frame local rotations -> (T, J, 4) glTF (x, y, z, w) quaternions of C R C^T,
    sign-continuous over T (so every interpolation, slerp or per-component, takes the short way)."""
    quaternion = axis_angle_to_quaternion(axis_angles)  # (w, x, y, z)
    # Conjugating by C = diag(1, -1, -1) (180 degrees about x) rotates the quaternion's vector part by C.
    quaternion = quaternion * np.array([1.0, 1.0, -1.0, -1.0])
    quaternion = continuous_quaternions(quaternion, axis=0)
    return np.concatenate((quaternion[..., 1:], quaternion[..., :1]), axis=-1)


def animated_glb_bytes(
    tracks: list[dict],
    body_model,
    fps: float,
    names: list[str] | None = None,
    colors=None,
    frame_count: int | None = None,
    camera: dict | None = None,
    expression_targets: bool = True,
) -> bytes:
    """Tracks -> the bytes of an animated .glb (see the module docstring).

    Args:
        tracks: per track a dict of (T, ...) arrays: `frame_indices` (T,) increasing ints, `global_orient` (T, 3),
            `body_pose` (T, 21, 3) or (T, 63), `left_hand_pose` / `right_hand_pose` (T, 15, 3) or (T, 45),
            `jaw_pose` (T, 3), `betas` (T, 10), `expression` (T, 10), `camera_translation` (or `transl`) (T, 3)
            — the pipeline's fields stacked over the frames the track was seen (axis-angle, metres, OpenCV
            camera frame; hand poses relative to the mean hand pose as the pipeline returns them).
        body_model: the `SmplxBodyModel` the parameters belong to (template, blend shapes, regressor, weights).
        fps: frames per second of the video (keyframe time = frame index / fps).
        names: node name prefix per track (default "track_<i>").
        colors: (tracks, 3) RGB in [0, 1] (default: `rasterizer.DEFAULT_COLORS` cycled).
        frame_count: frames in the whole video; tracks not covering all of them are hidden outside their frames.
            None: never hidden.
        camera: optional glTF perspective camera at the origin (see `gltf.camera_from_intrinsics`).
        expression_targets: write the expression blend shapes as morph targets (about 1.3 MB, shared by all
            tracks) and animate their weights.
    """
    from .rasterizer import DEFAULT_COLORS

    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    names = names or [f"track_{index}" for index in range(len(tracks))]
    if colors is None:
        colors = DEFAULT_COLORS[np.arange(len(tracks)) % len(DEFAULT_COLORS)]
    colors = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    if len(names) != len(tracks) or len(colors) != len(tracks):
        raise ValueError(f"Got {len(names)} names and {len(colors)} colours for {len(tracks)} tracks.")
    gltf = {"asset": {"version": "2.0", "generator": "smplest_hf"}, "scene": 0}
    if not tracks:  # nobody tracked: a valid glTF with an empty scene (and the camera, if given)
        if camera is not None:
            gltf["cameras"] = [_camera_json(camera)]
            gltf["nodes"] = [{"name": "camera", "camera": 0}]
        gltf["scenes"] = [{"name": "scene", "nodes": [0] if camera is not None else []}]
        return _pack_glb(gltf, b"")
    model = _body_model_arrays(body_model)
    parents = model["parents"]
    axes = OPENCV_TO_GLTF

    # Shared by every track: topology, skin weights, expression blend shapes, and the joint regressor applied to
    # the template and the blend shapes (joints are linear in betas and expression).
    binary = _BinaryBuffer()
    indices = binary.add(model["faces"].astype(np.uint32).reshape(-1), "SCALAR", _UNSIGNED_INT, _ELEMENT_ARRAY_BUFFER)
    skin_joints, skin_weights = top_skin_weights(model["lbs_weights"])
    joints_attribute = binary.add(skin_joints, "VEC4", _UNSIGNED_BYTE, _ARRAY_BUFFER)
    weights_attribute = binary.add(skin_weights, "VEC4", _FLOAT, _ARRAY_BUFFER)
    num_expressions = model["expression_dirs"].shape[2]
    targets = []
    if expression_targets:
        for component in range(num_expressions):
            displacement = (model["expression_dirs"][:, :, component] @ axes.T).astype(np.float32)
            targets.append({"POSITION": binary.add(displacement, "VEC3", _FLOAT, _ARRAY_BUFFER, with_bounds=True)})
    regressor = model["joint_regressor"]
    template_joints = regressor @ model["v_template"]  # (55, 3)
    shape_joint_dirs = np.einsum("jv,vcb->jcb", regressor, model["shapedirs"])  # (55, 3, 10)
    expression_joint_dirs = np.einsum("jv,vcb->jcb", regressor, model["expression_dirs"])

    nodes, meshes, skins, materials, scene_nodes = [], [], [], [], []
    samplers, channels = [], []

    def animate(node: int, path: str, times_accessor: int, values: np.ndarray, accessor_type: str, interpolation="LINEAR"):
        output = binary.add(values.astype(np.float32), accessor_type, _FLOAT, None)
        samplers.append({"input": times_accessor, "output": output, "interpolation": interpolation})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    for index, (track, name) in enumerate(zip(tracks, names)):
        arrays, frames = _check_track(track, index)
        # Rest skeleton of every frame's shape, and the bind pose of the mean shape (expression zero).
        frame_joints = (template_joints + np.einsum("jcb,tb->tjc", shape_joint_dirs, arrays["betas"])
                        + np.einsum("jcb,tb->tjc", expression_joint_dirs, arrays["expression"]))  # fmt: skip
        mean_betas = arrays["betas"].mean(axis=0)
        bind_vertices = model["v_template"] + model["shapedirs"] @ mean_betas
        bind_joints = regressor @ bind_vertices
        frame_offsets = frame_joints - np.where(parents[:, None] >= 0, frame_joints[:, np.maximum(parents, 0)], 0.0)
        frame_offsets[:, 0] += arrays["camera_translation"]  # the pelvis: its rest position + the translation
        bind_offsets = bind_joints - np.where(parents[:, None] >= 0, bind_joints[np.maximum(parents, 0)], 0.0)

        # Nodes: a group holding the skeleton and the skinned mesh node.
        group = len(nodes)
        first_joint = group + 1
        mesh_node = first_joint + NUM_SMPLX_JOINTS
        nodes.append({"name": name, "children": [first_joint, mesh_node]})
        for joint in range(NUM_SMPLX_JOINTS):
            children = [first_joint + int(child) for child in np.flatnonzero(parents == joint)]
            node = {"name": f"{name}_{SMPLX_JOINT_NAMES[joint]}", "translation": [float(v) for v in axes @ bind_offsets[joint]]}
            if children:
                node["children"] = children
            nodes.append(node)
        nodes.append({"name": f"{name}_mesh", "mesh": len(meshes), "skin": len(skins)})
        scene_nodes.append(group)

        # Skin: inverse bind matrices undo the bind pose (pure translations: every bind rotation is identity).
        inverse_bind = np.tile(np.eye(4), (NUM_SMPLX_JOINTS, 1, 1))
        inverse_bind[:, :3, 3] = -(bind_joints @ axes.T)
        inverse_bind_accessor = binary.add(inverse_bind.transpose(0, 2, 1).reshape(-1, 16).astype(np.float32), "MAT4", _FLOAT, None)
        skins.append({"name": f"{name}_skin", "joints": list(range(first_joint, first_joint + NUM_SMPLX_JOINTS)),
                      "inverseBindMatrices": inverse_bind_accessor, "skeleton": first_joint})  # fmt: skip

        # Mesh in the bind pose.
        positions = binary.add((bind_vertices @ axes.T).astype(np.float32), "VEC3", _FLOAT, _ARRAY_BUFFER, with_bounds=True)
        normals = binary.add((vertex_normals(bind_vertices, model["faces"]) @ axes.T).astype(np.float32), "VEC3", _FLOAT, _ARRAY_BUFFER)
        primitive = {"attributes": {"POSITION": positions, "NORMAL": normals, "JOINTS_0": joints_attribute, "WEIGHTS_0": weights_attribute},
                     "indices": indices, "material": len(materials), "mode": _TRIANGLES}  # fmt: skip
        mesh = {"name": f"{name}_body", "primitives": [primitive]}
        if targets:
            primitive["targets"] = targets
            mesh["weights"] = [0.0] * num_expressions
            mesh["extras"] = {"targetNames": [f"expression_{component}" for component in range(num_expressions)]}
        meshes.append(mesh)
        materials.append({
            "name": f"{name}_material",
            "pbrMetallicRoughness": {"baseColorFactor": [*map(float, colors[index]), 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8},
            "doubleSided": True,
        })  # fmt: skip

        # Animation: one keyframe per frame the track was seen.
        times = binary.add((frames / float(fps)).astype(np.float32), "SCALAR", _FLOAT, None, with_bounds=True)
        rotations = _to_gltf_quaternions(_local_rotations(arrays, model["hand_pose_mean"]))  # (T, 55, 4)
        for joint in range(NUM_SMPLX_JOINTS):
            animate(first_joint + joint, "rotation", times, rotations[:, joint], "VEC4")
        moving = np.abs(frame_offsets - bind_offsets).max(axis=(0, 2)) > TRANSLATION_TOLERANCE
        moving[0] = True
        for joint in np.flatnonzero(moving):
            animate(first_joint + int(joint), "translation", times, frame_offsets[:, joint] @ axes.T, "VEC3")
        if targets:
            animate(mesh_node, "weights", times, arrays["expression"].reshape(-1), "SCALAR")
        visibility = _visibility_keys(frames, frame_count)
        if visibility is not None:
            key_frames, scales = visibility
            key_times = binary.add((key_frames / float(fps)).astype(np.float32), "SCALAR", _FLOAT, None, with_bounds=True)
            animate(first_joint, "scale", key_times, np.repeat(scales[:, None], 3, axis=1), "VEC3", interpolation="STEP")

    if camera is not None:
        gltf["cameras"] = [_camera_json(camera)]
        scene_nodes.append(len(nodes))
        nodes.append({"name": "camera", "camera": 0})
    gltf.update(
        scenes=[{"name": "scene", "nodes": scene_nodes}], nodes=nodes, meshes=meshes, skins=skins, materials=materials,
        animations=[{"name": "smplest-x", "samplers": samplers, "channels": channels}],
        accessors=binary.accessors, bufferViews=binary.buffer_views, buffers=[{"byteLength": binary.length}],
    )  # fmt: skip
    return _pack_glb(gltf, b"".join(binary.parts))


def _camera_json(camera: dict) -> dict:
    perspective = {"yfov": float(camera["yfov"]), "znear": float(camera.get("znear", 0.01))}
    if camera.get("aspect_ratio"):
        perspective["aspectRatio"] = float(camera["aspect_ratio"])
    return {"name": "camera", "type": "perspective", "perspective": perspective}


def _visibility_keys(frames: np.ndarray, frame_count: int | None):
    """STEP keyframes (frame numbers, scales) hiding a track outside its first..last frame, or None when it spans
    the whole video."""
    if frame_count is None:
        return None
    first, last = int(frames[0]), int(frames[-1])
    keys, scales = [], []
    if first > 0:
        keys.append(0)
        scales.append(0.0)
    keys.append(first)
    scales.append(1.0)
    if last + 1 < frame_count:
        keys.append(last + 1)
        scales.append(0.0)
    if len(keys) == 1:
        return None
    return np.array(keys, dtype=np.float64), np.array(scales)


def save_animated_glb(path, tracks: list[dict], body_model, fps: float, **kwargs) -> Path:
    """`animated_glb_bytes(...)` written atomically to `path`."""
    from .atomic import write_bytes_atomic

    return write_bytes_atomic(path, animated_glb_bytes(tracks, body_model, fps, **kwargs))


def video_camera(focal_lengths, image_size) -> dict:
    """A glTF camera for a video: the median of the people's focal lengths (glTF has one camera, no principal
    point; see `gltf.camera_from_intrinsics`)."""
    return camera_from_intrinsics(np.median(np.asarray(focal_lengths, dtype=np.float64).reshape(-1, 2), axis=0), image_size)


__all__ = ["MAX_INFLUENCES", "TRANSLATION_TOLERANCE", "animated_glb_bytes", "save_animated_glb", "top_skin_weights", "video_camera"]
