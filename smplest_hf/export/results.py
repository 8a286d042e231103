"""Writing pipeline results to files: SMPL-X parameters, camera JSON, meshes, glTF scenes, keypoints, overlays.

Every file is written through `atomic.write_bytes_atomic`: it appears complete or not at all (no half-written
outputs after an error or a kill), with the user's usual permissions.

Formats (one person = one dict from `SmplestXPipeline`):

- `.npz` SMPL-X parameters, a batch of one in the pose layout of `smplx_layout.PARAMETER_SHAPES` (per joint;
  flat is a `.reshape(1, -1)`), which `smplx.SMPLX.forward` takes as is: `global_orient` (1, 3), `body_pose`
  (1, 21, 3), `left_hand_pose` / `right_hand_pose` (1, 15, 3) (full axis-angle, no PCA; relative to the model's
  mean hand pose, i.e. `smplx.SMPLX(use_pca=False, flat_hand_mean=False)`), `jaw_pose` (1, 3), `leye_pose` /
  `reye_pose` (1, 3) zeros, `betas` (1, 10), `expression` (1, 10), `transl` (1, 3), and `gender` ("neutral", a
  NumPy string: loads with `allow_pickle=False`, read it with `str(npz["gender"])`). Loading it into smplx with
  the same SMPL-X files reproduces our vertices in the camera frame;
- `.json` beside it: the camera (`focal_length`, `principal_point`, 3x3 `intrinsics`, OpenCV axes), the boxes,
  the detector score and the image size;
- `.obj` (text) / `.ply` (binary little-endian) meshes in the OpenCV camera frame (metres);
- `.glb` scene of all people of an image (axes converted to glTF, see `gltf`);
- keypoints `.json`: per person the 137 2D keypoints in original-image pixels with their names
  (`smplx_layout.SUPERVISION_JOINT_NAMES`);
- overlay `.png`: the shaded meshes over the image (`rasterizer.render_meshes`).

```python
>>> from smplest_hf.export.results import save_smplx_npz, save_obj
>>> save_smplx_npz("person_0.npz", person)                    # doctest: +SKIP
>>> save_obj("person_0.obj", person["vertices"], faces)        # doctest: +SKIP
```
"""

import functools
import io
from pathlib import Path

import numpy as np

from ..models.smplest_x.smplx_layout import PARAMETER_SHAPES, PREDICTION_MODEL_SETTINGS, SUPERVISION_JOINT_NAMES
from .atomic import write_bytes_atomic, write_json_atomic
from .timing import timed

OUTPUT_KINDS = ("params", "mesh", "glb", "overlay", "keypoints")
MESH_FORMATS = ("obj", "ply")
# The folder of each output kind inside an output directory.
OUTPUT_FOLDERS = {"params": "params", "mesh": "meshes", "glb": "glb", "overlay": "overlays", "keypoints": "keypoints",
                  "anim": "anim"}  # fmt: skip
# kind -> whether it needs vertices (a body model); "anim" (animated glTF) is for videos (`video.video_file`).
_NEEDS_BODY_MODEL = {"params": False, "mesh": True, "glb": True, "overlay": True, "keypoints": True, "anim": True}
CAMERA_CONVENTION = "OpenCV pinhole: x right, y down, z forward (metres); pixel (u, v) = (fx * X / Z + cx, fy * Y / Z + cy)"


# ---------------------------------------------------------------------------------------------- parameters
def smplx_parameters(person: dict) -> dict[str, np.ndarray]:
    """A pipeline person -> its SMPL-X parameters as `smplx.SMPLX.forward` takes them: a batch of 1, float32, in
    the layout of `smplx_layout.PARAMETER_SHAPES` (`body_pose` (1, 21, 3), ...)."""
    sources = {"transl": "camera_translation", "leye_pose": None, "reye_pose": None}  # SMPLest-X never poses the eyes
    parameters = {}
    for name, shape in PARAMETER_SHAPES.items():
        source = sources.get(name, name)
        value = np.zeros(shape, np.float32) if source is None else np.asarray(person[source], dtype=np.float32)
        parameters[name] = value.reshape(1, *shape)
    return parameters


def save_smplx_npz(path, person: dict) -> Path:
    """Write `smplx_parameters(person)` and the model's `gender` as an uncompressed `.npz` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **smplx_parameters(person), gender=np.str_(PREDICTION_MODEL_SETTINGS["gender"]))
    return write_bytes_atomic(path, buffer.getvalue())


def camera_metadata(person: dict, image_size=None, image_name: str | None = None) -> dict:
    """Camera, boxes and score of one person, as saved beside its `.npz`."""
    (fx, fy), (cx, cy) = np.asarray(person["focal_length"], float), np.asarray(person["principal_point"], float)
    metadata = {
        "image": image_name,
        "image_size": None if image_size is None else [int(image_size[0]), int(image_size[1])],
        "focal_length": [fx, fy],
        "principal_point": [cx, cy],
        "intrinsics": [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]],
        "camera": CAMERA_CONVENTION,
        "box_xywh": np.asarray(person["box"], float).tolist(),
        "detection_box_xywh": np.asarray(person["detection_box"], float).tolist() if "detection_box" in person else None,
        "score": person.get("score"),
        "smplx": dict(PREDICTION_MODEL_SETTINGS),
    }
    return metadata


# ---------------------------------------------------------------------------------------------- meshes
def save_obj(path, vertices, faces) -> Path:
    """Wavefront OBJ: `v x y z` lines (6 decimals, i.e. micrometres) then 1-based `f a b c` triangles."""
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    text = ("v %.6f %.6f %.6f\n" * len(vertices)) % tuple(vertices.ravel())
    face_lines = _obj_face_lines(np.ascontiguousarray(faces, dtype=np.int64).reshape(-1, 3).tobytes())
    return write_bytes_atomic(path, text.encode("ascii") + face_lines)


@functools.lru_cache(maxsize=4)
def _obj_face_lines(faces_int64: bytes) -> bytes:
    """The OBJ face lines of (F, 3) int64 faces (as bytes): formatted once per face array, not once per mesh (every
    person of a run shares the SMPL-X faces; formatting them was half of writing an OBJ)."""
    faces = np.frombuffer(faces_int64, dtype=np.int64)
    return (("f %d %d %d\n" * (len(faces) // 3)) % tuple((faces + 1).tolist())).encode("ascii")


def save_ply(path, vertices, faces) -> Path:
    """Binary little-endian PLY: float32 x y z per vertex, uchar-counted int32 triangle index lists."""
    vertices = np.asarray(vertices, dtype="<f4").reshape(-1, 3)
    faces = np.asarray(faces).reshape(-1, 3)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment smplest_hf SMPL-X mesh, OpenCV camera frame, metres\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face_records = np.empty(len(faces), dtype=[("count", "u1"), ("indices", "<i4", (3,))])
    face_records["count"] = 3
    face_records["indices"] = faces
    return write_bytes_atomic(path, header.encode("ascii") + vertices.tobytes() + face_records.tobytes())


def save_scene_glb(path, people: list[dict], faces, image_size=None, colors=None) -> Path:
    """All people of one image in one `.glb` (camera frame converted to glTF axes, see `gltf`).

    A perspective camera at the origin is added when `image_size` is given. SMPLest-X gives each person its own
    full-image focal length (its crop camera scaled to its box); glTF has one camera, so it uses the median focal
    length of the people (and is centred: glTF cameras have no principal point). `colors`: (people, 3) RGB in
    [0, 1]; default: `people_colors`.
    """
    from .gltf import camera_from_intrinsics, glb_bytes
    from .rasterizer import DEFAULT_COLORS

    camera = None
    if image_size is not None and people:
        focal = np.median(np.stack([np.asarray(person["focal_length"], float) for person in people]), axis=0)
        camera = camera_from_intrinsics(focal, image_size)
    if colors is None:
        colors = people_colors(people)
    if colors is None:
        colors = DEFAULT_COLORS[np.arange(len(people)) % len(DEFAULT_COLORS)]
    data = glb_bytes(
        [person["vertices"] for person in people], faces, names=[f"person_{index}" for index in range(len(people))],
        colors=colors, camera=camera,
    )  # fmt: skip
    return write_bytes_atomic(path, data)


def track_colors(track_ids) -> np.ndarray:
    """(K, 3) RGB in [0, 1]: the same colour for a track in every frame (and in the animated glb)."""
    from .rasterizer import DEFAULT_COLORS

    return DEFAULT_COLORS[np.asarray(track_ids, dtype=np.int64).reshape(-1) % len(DEFAULT_COLORS)]


def people_colors(people: list[dict]) -> np.ndarray | None:
    """Tracked people (with `track_id`, from a video) -> `track_colors` of their ids; otherwise None: renderers
    then cycle `rasterizer.DEFAULT_COLORS` by position."""
    if not people or "track_id" not in people[0]:
        return None
    return track_colors([person["track_id"] for person in people])


# ---------------------------------------------------------------------------------------------- 2D outputs
def keypoints_record(people: list[dict], image_size=None, image_name: str | None = None, video_frame=None) -> dict:
    """The 2D keypoints of every person of one image, with the joint names, as saved to JSON.

    `video_frame`: (frame number, seconds) when the image is a video frame; the record then starts with `frame`
    and `time`. Tracked people also get their `track_id`.
    """
    record = {} if video_frame is None else {"frame": video_frame[0], "time": video_frame[1]}
    return record | {
        "image": image_name,
        "image_size": None if image_size is None else [int(image_size[0]), int(image_size[1])],
        "coordinates": "original-image pixels (x right, y down; pixel centres at integers)",
        "joint_names": list(SUPERVISION_JOINT_NAMES),
        "people": [
            {
                "person": index,
                "box_xywh": np.asarray(person["box"], float).tolist(),
                "score": person.get("score"),
                "keypoints_2d": np.round(np.asarray(person["keypoints_2d"], float), 3).tolist(),
                **({"track_id": person["track_id"]} if "track_id" in person else {}),
            }
            for index, person in enumerate(people)
        ],
    }


def render_overlay(pixels: np.ndarray, people: list[dict], faces, scale: float = 1.0, alpha: float = 0.9, colors=None) -> np.ndarray:
    """(H, W, 3) uint8 image with the people's shaded meshes drawn over it.

    `scale` is `LoadedImage.scale`: the people's cameras are in original-image pixels, `pixels` may be shrunk.
    `colors`: (people, 3) RGB in [0, 1] (default: `people_colors`).
    """
    from .rasterizer import render_meshes

    if not people:
        return np.array(pixels, copy=True)
    if colors is None:
        colors = people_colors(people)
    focal = np.stack([np.asarray(person["focal_length"], np.float64) for person in people]) / scale
    center = (np.stack([np.asarray(person["principal_point"], np.float64) for person in people]) + 0.5) / scale - 0.5
    vertices = np.stack([np.asarray(person["vertices"], np.float64) for person in people])
    return render_meshes(vertices, faces, focal_length=focal, principal_point=center, background=pixels, alpha=alpha, colors=colors).image


def save_image(path, pixels: np.ndarray) -> Path:
    """(H, W, 3) uint8 RGB -> PNG (lossless)."""
    from PIL import Image

    buffer = io.BytesIO()
    # zlib level 1 (OpenCV's PNG default), not Pillow's 6: the same pixels, a ~15 % larger file, a third of the
    # encoding time, which was twice the rendering's (benchmarks/exports.py).
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return write_bytes_atomic(path, buffer.getvalue())


_MESH_WRITERS = {"obj": save_obj, "ply": save_ply}


# ---------------------------------------------------------------------------------------------- one image
def parse_output_kinds(text_or_kinds, allowed=OUTPUT_KINDS) -> tuple[str, ...]:
    """"params,mesh" (or a list) -> ("params", "mesh"), validated against `allowed` (default `OUTPUT_KINDS`)."""
    kinds = text_or_kinds.split(",") if isinstance(text_or_kinds, str) else list(text_or_kinds)
    kinds = tuple(dict.fromkeys(kind.strip().lower() for kind in kinds if kind.strip()))
    unknown = [kind for kind in kinds if kind not in allowed]
    if unknown or not kinds:
        raise ValueError(f"Unknown output kind(s) {', '.join(map(repr, unknown)) or '(none given)'}; choose from {','.join(allowed)}.")
    return kinds


def kinds_needing_body_model(kinds) -> list[str]:
    return [kind for kind in kinds if _NEEDS_BODY_MODEL[kind]]


def export_image_results(
    directory, stem: str, image, people: list[dict], faces=None, kinds=OUTPUT_KINDS, *, video_frame=None,
    mesh_formats=MESH_FORMATS, timings: dict[str, float] | None = None,
) -> list[Path]:
    """Write the chosen outputs of one image (or video frame) under `directory` and return the written paths.

    Layout: `params/<stem>_<k>.npz` + `.json`, `meshes/<stem>_<k>.obj` + `.ply`, `glb/<stem>.glb`,
    `keypoints/<stem>.json`, `overlays/<stem>.png`; k is the person's index, or `track_<id>` for tracked people
    (with `track_id`). An image without people still gets its keypoints JSON (empty list), glb (empty scene) and
    overlay (the image itself).

    Args:
        image: the `LoadedImage` the people were recovered from (for its size, pixels and name).
        video_frame: (frame number, seconds) of a video frame, written in its keypoints record.
        mesh_formats: the mesh files per person, a subset of `MESH_FORMATS`.
        timings: when given, the seconds spent on each kind are added to `timings[kind]` (`timing.timed`;
            "overlay" = rendering + PNG encoding), for run summaries.
    """
    directory = Path(directory)
    kinds = parse_output_kinds(kinds)
    missing = [kind for kind in kinds_needing_body_model(kinds) if people and "vertices" not in people[0]]
    if missing:
        raise ValueError(f"Outputs {','.join(missing)} need meshes: give the pipeline an SMPL-X body model.")
    size, name = image.original_size, image.name
    folders = {kind: directory / OUTPUT_FOLDERS[kind] for kind in kinds}
    written = []
    for index, person in enumerate(people):
        base = f"{stem}_track_{person['track_id']}" if "track_id" in person else f"{stem}_{index}"
        if "params" in kinds:
            with timed(timings, "params"):
                written.append(save_smplx_npz(folders["params"] / f"{base}.npz", person))
                written.append(write_json_atomic(folders["params"] / f"{base}.json", camera_metadata(person, size, name)))
        if "mesh" in kinds:
            with timed(timings, "mesh"):
                for suffix in mesh_formats:
                    written.append(_MESH_WRITERS[suffix](folders["mesh"] / f"{base}.{suffix}", person["vertices"], faces))
    if "glb" in kinds:
        with timed(timings, "glb"):
            scene_faces = faces if faces is not None else np.zeros((0, 3), np.int64)
            written.append(save_scene_glb(folders["glb"] / f"{stem}.glb", people, scene_faces, size))
    if "keypoints" in kinds:
        with timed(timings, "keypoints"):
            record = keypoints_record(people, size, name, video_frame)
            written.append(write_json_atomic(folders["keypoints"] / f"{stem}.json", record))
    if "overlay" in kinds:
        with timed(timings, "overlay"):
            overlay = render_overlay(image.pixels, people, faces, image.scale)
            written.append(save_image(folders["overlay"] / f"{stem}.png", overlay))
    return written


__all__ = [
    "CAMERA_CONVENTION",
    "MESH_FORMATS",
    "OUTPUT_FOLDERS",
    "OUTPUT_KINDS",
    "camera_metadata",
    "export_image_results",
    "keypoints_record",
    "kinds_needing_body_model",
    "parse_output_kinds",
    "people_colors",
    "render_overlay",
    "save_image",
    "save_obj",
    "save_ply",
    "save_scene_glb",
    "save_smplx_npz",
    "smplx_parameters",
    "track_colors",
]
