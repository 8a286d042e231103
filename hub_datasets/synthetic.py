"""The synthetic EHPS dataset: random SMPL-X people rendered over procedural backgrounds, with exact ground truth.

The offline stand-in for real EHPS data in tests, examples and demo training: random but plausible SMPL-X
bodies (``synthetic_poses``: poses within joint limits, shapes, expressions, finger curls, an open jaw) on a
body model — by default the synthetic SMPL-X-format one from ``smplest_hf.synthetic``, or real SMPL-X files —
placed in front of a random pinhole camera so they are mostly in view, rendered as shaded meshes in random
colours (``smplest_hf.export.rasterizer``) over procedural backgrounds (``synthetic_backgrounds``), and written in the
EHPS schema like any converted dataset (sharded Parquet in the Hub layout, resumable, ``num_proc`` workers).

Ground truth is exact: the stored (float32) SMPL-X parameters are the ones the body model was run on, so
re-running it and projecting with the stored intrinsics gives the stored keypoints (up to float32 rounding).

* **Camera** — OpenCV pinhole, camera frame = world frame (x right, y down, z forward): ``focal_length`` fx = fy
  in 0.8-1.8 x the longer image side, ``principal_point`` within 3 % of the image centre; the extrinsics are
  the identity (``camera_extrinsics_valid`` true: the parameters are already in the camera frame).
* **People** — one image holds 1 to ``max_people`` people (uniform), one row each; rows of one image share its
  bytes and ``image_path``. Gender is uniform over the body models the directory has; hand poses are stored
  relative to the model's mean hand (``smplx_flat_hand_mean`` false, as SMPLest-X trains), eyes unposed (zero).
  A single person is 50-92 % of the image height (groups: 35-80 %, side by side in equal slots), and at most
  8 % of their box on each side may leave the image.
* **Boxes** — the person box is the box of *all* projected mesh vertices (occluded parts included) clipped to
  the image ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (pixel centres at integers, as in ``smplest_hf.export.rasterizer``);
  hand and face boxes likewise from the body model's MANO and FLAME vertex sets, valid when their clipped box
  has positive area (zeros and false otherwise).
* **Keypoints** — ``smplx_144``: 2D = the projected joints with confidence 1 inside the image and 0 outside
  (occlusion is not marked, as in datasets of fitted SMPL-X); 3D = camera-frame joints, validity 1.
* **Images** — JPEG, quality 90 (``JPEG_QUALITY``): about 10x faster to encode than PNG and 3x smaller, and the
  compression real datasets have; the ground truth does not depend on the pixels.

**Determinism.** Everything about image ``i`` is drawn from ``numpy.random.default_rng([seed, 0, i])``; people
counts from per-block streams ``[seed, 1, block]``; the body model runs in fixed batches and every worker
computes with one torch thread (thread counts change float rounding). So the same ``seed``,
``num_samples``, ``image_size``, ``max_people``, ``shard_size`` and body model give identical Parquet content
whatever ``num_proc``; use processes, not threads, to go faster.

Example::

    >>> from hub_datasets.synthetic import synthesize_dataset
    >>> report = synthesize_dataset("hub/synthetic", num_samples=1000, seed=0, num_proc=8)   # doctest: +SKIP
    >>> from hub_datasets import load_ehps_dataset
    >>> dataset = load_ehps_dataset("hub/synthetic", split="train")                          # doctest: +SKIP

CLI: ``python -m hub_datasets synthesize OUT_DIR --num-samples N --seed S [--max-people K] [--num-proc N]``.
"""

import contextlib
import functools
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.body_model import BodyModelFileError, SmplxBodyModel, resolve_smplx_directory
from smplest_hf.models.smplest_x.geometry import matrix_to_axis_angle, project_points
from smplest_hf.models.smplest_x.smplx_layout import GENDERS, PARAMETER_NAMES
from smplest_hf.export.rasterizer import render_meshes

from .card import write_dataset_card
from .schema import EHPS_FEATURES, NUM_KEYPOINTS
from .sharding import ShardRows, check_split_name, number_of_shards, shard_bounds, write_shards
from .synthetic_backgrounds import random_background
from .synthetic_poses import orientation_matrices, sample_people


GENERATOR_VERSION = 1  # bump when the same seed would give other data; recorded in the dataset card
DEFAULT_DATASET_NAME = "synthetic"
DEFAULT_IMAGE_SIZE = (512, 384)  # (height, width): SMPLest-X's input aspect ratio
DEFAULT_SHARD_SIZE = 500  # images per shard
IMAGE_SIDE_LIMITS = (64, 4096)
MAX_PEOPLE_LIMIT = 8
JPEG_QUALITY = 90

FOCAL_RANGE = (0.8, 1.8)  # focal length in units of the longer image side (~30-65 degrees field of view)
PRINCIPAL_POINT_OFFSET = 0.03  # most offset from the image centre, in units of the image size
HEIGHT_FRACTION_SINGLE = (0.5, 0.92)  # of the image height, for one person
HEIGHT_FRACTION_GROUP = (0.35, 0.8)  # for each of several people
WIDTH_FILL = 0.95  # a person is at most this share of their slot's width
OVERFLOW = 0.08  # share of a person's box that may leave the image on each side

_SCENE_STREAM, _PEOPLE_COUNT_STREAM = 0, 1
_PEOPLE_COUNT_BLOCK = 4096  # people counts are drawn per block of images, vectorised and prefix-stable
_IMAGES_PER_CHUNK = 64  # images posed together: bounds memory (~10 MB of vertices)
_PEOPLE_PER_FORWARD = 64  # body-model batch
_DATASET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_STAGES = ("sampling", "body_model", "background", "rendering", "encoding", "annotation")


# ------------------------------------------------------------------------------------------- random scenes
@dataclass
class SyntheticScene:
    """Everything random about one image, drawn by ``sample_scene`` (the people are not posed yet)."""

    index: int
    focal_length: np.ndarray  # (2,) fx, fy pixels
    principal_point: np.ndarray  # (2,) cx, cy pixels
    people: dict  # `synthetic_poses.sample_people` output, P people
    placement: np.ndarray  # (P, 3): height fraction of the image, horizontal and vertical position in [0, 1]
    colors: np.ndarray  # (P, 3) RGB in [0, 1]
    light_direction: np.ndarray  # (3,) towards the light, camera frame
    ambient: float
    background_seed: int

    @property
    def num_people(self) -> int:
        return len(self.placement)


def people_counts(seed: int, start: int, stop: int, max_people: int) -> np.ndarray:
    """(stop - start,) people in images ``start .. stop - 1``: uniform in ``1 .. max_people``, fixed per image."""
    if max_people == 1:
        return np.ones(stop - start, np.int64)
    first, last = start // _PEOPLE_COUNT_BLOCK, max(start, stop - 1) // _PEOPLE_COUNT_BLOCK
    draws = np.concatenate([
        np.random.default_rng([seed, _PEOPLE_COUNT_STREAM, block]).integers(1, max_people + 1, _PEOPLE_COUNT_BLOCK)
        for block in range(first, last + 1)
    ])  # fmt: skip
    offset = first * _PEOPLE_COUNT_BLOCK
    return draws[start - offset : stop - offset]


def sample_scene(seed: int, index: int, num_people: int, image_size: Sequence[int], genders=GENDERS) -> SyntheticScene:
    """The random camera, people and look of image ``index``, from its own generator ``[seed, 0, index]``."""
    rng = np.random.default_rng([seed, _SCENE_STREAM, index])
    height, width = image_size
    focal = rng.uniform(*FOCAL_RANGE) * max(height, width)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    principal = centre + rng.uniform(-1.0, 1.0, 2) * PRINCIPAL_POINT_OFFSET * np.array([width, height])
    people = sample_people(rng, num_people, genders)
    fractions = HEIGHT_FRACTION_SINGLE if num_people == 1 else HEIGHT_FRACTION_GROUP
    placement = np.column_stack((rng.uniform(*fractions, num_people), rng.uniform(size=(num_people, 2))))
    return SyntheticScene(
        index=index,
        focal_length=np.array([focal, focal]),
        principal_point=principal,
        people=people,
        placement=placement,
        colors=rng.uniform(0.3, 0.95, (num_people, 3)),
        light_direction=np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.1), -1.0]),
        ambient=float(rng.uniform(0.3, 0.55)),
        background_seed=int(rng.integers(0, 2**63 - 1)),
    )


# ------------------------------------------------------------------------------------------- body model
@functools.lru_cache(maxsize=4)
def _load_body_model(smplx_directory: str, gender: str) -> SmplxBodyModel:
    """One model per (directory, gender) and process: workers load it once, forked workers inherit it."""
    return SmplxBodyModel.from_directory(smplx_directory, gender)


def preload_body_models(body_model_dir) -> dict:
    """{gender: SmplxBodyModel} for every gender the directory has, with the hand and face vertex ids read:
    errors surface before any work, and forked workers inherit the models instead of reading them again."""
    smplx_directory = str(resolve_smplx_directory(body_model_dir))
    models = {gender: _load_body_model(smplx_directory, gender) for gender in available_genders(body_model_dir)}
    for model in models.values():
        model.hand_vertex_ids, model.face_vertex_ids  # noqa: B018 (read on first access)
    return models


def available_genders(body_model_dir) -> tuple:
    """The genders whose ``SMPLX_{GENDER}.npz`` the directory has, in ``GENDERS`` order (raises if none)."""
    smplx_directory = resolve_smplx_directory(body_model_dir)
    genders = tuple(g for g in GENDERS if (smplx_directory / f"SMPLX_{g.upper()}.npz").is_file())
    if not genders:
        raise BodyModelFileError(f"{str(smplx_directory)!r} holds no SMPLX_NEUTRAL/MALE/FEMALE.npz body model.")
    return genders


def default_body_model_dir() -> Path:
    """The synthetic body model (seed 0) in the user cache, written on first use (a few seconds); see
    ``smplest_hf.synthetic.cached_synthetic_body_model_dir``."""
    from smplest_hf.synthetic import cached_synthetic_body_model_dir

    return cached_synthetic_body_model_dir()


@contextlib.contextmanager
def _torch_threads(count: int):
    """Run torch with ``count`` intra-op threads: results are bit-identical only for a fixed thread count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _concatenate_people(scenes: Sequence[SyntheticScene]) -> dict:
    return {key: np.concatenate([scene.people[key] for scene in scenes]) for key in scenes[0].people}


def pose_people(scenes: Sequence[SyntheticScene], body_model_dir) -> dict:
    """Run the body model on every person of ``scenes`` (batched per gender), without translation.

    Returns the stored float32 SMPL-X parameters (``global_orient`` (N, 3), ``body_pose`` (N, 21, 3),
    ``left_hand_pose`` / ``right_hand_pose`` (N, 15, 3) relative to the mean hand, ``jaw_pose``, ``betas``,
    ``expression``), ``gender`` (N,), and the outputs ``vertices`` (N, 10475, 3) and ``smplx_joints``
    (N, 144, 3), float32 — computed from exactly those float32 parameters.
    """
    people = _concatenate_people(scenes)
    genders = people["gender"]
    smplx_directory = str(resolve_smplx_directory(body_model_dir))
    rotations = torch.from_numpy(orientation_matrices(people["orientation_angles"]))
    params = {
        "global_orient": matrix_to_axis_angle(rotations).numpy().astype(np.float32),
        "body_pose": people["body_pose"].astype(np.float32),
        "left_hand_pose": np.empty(people["left_hand_pose_flat"].shape, np.float32),
        "right_hand_pose": np.empty(people["right_hand_pose_flat"].shape, np.float32),
        "jaw_pose": people["jaw_pose"].astype(np.float32),
        "betas": people["betas"].astype(np.float32),
        "expression": people["expression"].astype(np.float32),
    }
    num_people = len(genders)
    vertices, joints = None, None
    for gender in GENDERS:
        rows = np.flatnonzero(genders == gender)
        if not len(rows):
            continue
        model = _load_body_model(smplx_directory, gender)
        mean_hands = model.hand_pose_mean.double().numpy()  # (2, 15, 3): SMPL-X hand poses are offsets from it
        for side, key in ((0, "left_hand_pose"), (1, "right_hand_pose")):
            params[key][rows] = people[f"{key}_flat"][rows] - mean_hands[side]
        if vertices is None:
            vertices = np.empty((num_people, *model.v_template.shape), np.float32)
            joints = np.empty((num_people, NUM_KEYPOINTS, 3), np.float32)
        for start in range(0, len(rows), _PEOPLE_PER_FORWARD):
            batch = rows[start : start + _PEOPLE_PER_FORWARD]
            with torch.no_grad():
                output = model(*(torch.from_numpy(params[name][batch]) for name in PARAMETER_NAMES))
            vertices[batch] = output.vertices.numpy()
            joints[batch] = output.smplx_joints.numpy()
    return {**params, "gender": genders, "vertices": vertices, "smplx_joints": joints}


# ------------------------------------------------------------------------------------------- placement
def place_people(vertices: np.ndarray, scenes: Sequence[SyntheticScene], image_size: Sequence[int]) -> np.ndarray:
    """(N, 3) float32 translations putting each posed person where its scene's placement draws say.

    A person's 3D bounding box is scaled (by depth) to its height fraction of the image — or less, to fit its
    slot's width — and moved so its projected box sits at the drawn position of the range where at most
    ``OVERFLOW`` of the box leaves the image on each side. Groups stand in equal side-by-side slots (person k
    of P in the k-th P-th of the width). The position is set twice: from the 3D box, then corrected with the
    projected box (perspective makes near parts larger and shifts the box), so the bound holds closely.
    """
    height, width = image_size
    lower, upper = vertices.min(axis=1).astype(np.float64), vertices.max(axis=1).astype(np.float64)
    extent, centre = upper - lower, (upper + lower) / 2
    focal = np.concatenate([np.repeat(s.focal_length[None], s.num_people, 0) for s in scenes])
    principal = np.concatenate([np.repeat(s.principal_point[None], s.num_people, 0) for s in scenes])
    placement = np.concatenate([s.placement for s in scenes])
    slot = np.concatenate([np.arange(s.num_people) for s in scenes])
    slot_width = width / np.concatenate([np.full(s.num_people, s.num_people) for s in scenes])
    room_low = np.stack((slot * slot_width - 0.5, np.full(len(slot), -0.5)), axis=1)
    room_high = np.stack(((slot + 1) * slot_width - 0.5, np.full(len(slot), height - 0.5)), axis=1)

    def box_centre_target(half_size):
        """Pixel where the box centre goes: the drawn point of the range keeping the overflow bound."""
        margin = half_size * (1 - 2 * OVERFLOW)
        low, high = room_low + margin, room_high - margin
        high = np.maximum(high, low)  # too big for the room: centre it
        return low + placement[:, 1:] * (high - low)

    depth = np.maximum(
        focal[:, 1] * extent[:, 1] / (placement[:, 0] * height), focal[:, 0] * extent[:, 0] / (WIDTH_FILL * slot_width)
    )
    depth = np.maximum(depth, extent[:, 2] + 0.5)  # keep the whole body well in front of the camera
    pixel = box_centre_target(focal * extent[:, :2] / (2 * depth[:, None]))
    translation = np.column_stack(((pixel - principal) * depth[:, None] / focal, depth)) - centre

    projected_lower, projected_upper = projected_boxes(vertices + translation[:, None].astype(np.float32), focal, principal)
    shift = box_centre_target((projected_upper - projected_lower) / 2) - (projected_upper + projected_lower) / 2
    translation[:, :2] += shift * depth[:, None] / focal  # pixels -> metres at the box centre's depth
    return translation.astype(np.float32)


# ------------------------------------------------------------------------------------------- annotation
def project(points: np.ndarray, focal_length: np.ndarray, principal_point: np.ndarray) -> np.ndarray:
    """(N, K, 3) camera-frame points, (N, 2) intrinsics -> (N, K, 2) pixels (float64), true depth."""
    return project_points(points.astype(np.float64), focal_length[:, None], principal_point[:, None])


def projected_boxes(points: np.ndarray, focal_length: np.ndarray, principal_point: np.ndarray) -> tuple:
    """(N, K, 3) camera-frame points (z > 0) -> (N, 2) lower and (N, 2) upper corners of their projections.

    The extremes are taken over ``X / Z`` and ``Y / Z`` (float32, no (N, K, 2) float64 copies) and then scaled:
    the projection is monotonic in them because the focal length is positive.
    """
    ratio = points[..., :2] / points[..., 2:3]
    lower, upper = ratio.min(axis=1).astype(np.float64), ratio.max(axis=1).astype(np.float64)
    return lower * focal_length + principal_point, upper * focal_length + principal_point


def clipped_boxes(lower: np.ndarray, upper: np.ndarray, image_size: Sequence[int]) -> tuple:
    """(N, 2) box corners -> (N, 4) float32 xywh clipped to the image, and (N,) positive-area flags (zeros where
    false). The image spans ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``: pixel centres sit at integer coordinates."""
    height, width = image_size
    limit = np.array([width - 0.5, height - 0.5])
    lower, upper = np.clip(lower, -0.5, limit), np.clip(upper, -0.5, limit)
    size = upper - lower
    valid = (size > 0).all(axis=1)
    return np.where(valid[:, None], np.concatenate((lower, size), axis=1), 0.0).astype(np.float32), valid


def _annotate(posed: dict, scenes: Sequence[SyntheticScene], image_size: Sequence[int], body_model_dir) -> dict:
    """Schema columns of every person except identity and image ones."""
    height, width = image_size
    model = _load_body_model(str(resolve_smplx_directory(body_model_dir)), posed["gender"][0])
    num_people = len(posed["gender"])
    focal = np.concatenate([np.repeat(s.focal_length[None], s.num_people, 0) for s in scenes])
    principal = np.concatenate([np.repeat(s.principal_point[None], s.num_people, 0) for s in scenes])
    vertices, joints = posed["vertices"], posed["smplx_joints"]

    columns = {}
    columns["bbox_xywh"], _ = clipped_boxes(*projected_boxes(vertices, focal, principal), image_size)
    parts = {
        "lhand": model.hand_vertex_ids["left"].numpy(),
        "rhand": model.hand_vertex_ids["right"].numpy(),
        "face": model.face_vertex_ids.numpy(),
    }
    for part, ids in parts.items():
        columns[f"{part}_bbox_xywh"], columns[f"{part}_bbox_valid"] = clipped_boxes(
            *projected_boxes(vertices[:, ids], focal, principal), image_size
        )

    keypoints_2d = project(joints, focal, principal)
    inside = (
        (keypoints_2d[..., 0] >= -0.5) & (keypoints_2d[..., 0] <= width - 0.5)
        & (keypoints_2d[..., 1] >= -0.5) & (keypoints_2d[..., 1] <= height - 0.5) & (joints[..., 2] > 0)
    )  # fmt: skip
    columns["keypoints_2d"] = np.concatenate((keypoints_2d, inside[..., None]), axis=-1).astype(np.float32)
    columns["keypoints_3d"] = np.concatenate((joints, np.ones((*joints.shape[:2], 1), np.float32)), axis=-1)

    true, false = np.ones(num_people, bool), np.zeros(num_people, bool)
    zeros3 = np.zeros((num_people, 3), np.float32)
    columns.update({
        "gender": [str(g) for g in posed["gender"]],
        "smplx_valid": true, "smplx_body_valid": true, "smplx_lhand_valid": true, "smplx_rhand_valid": true,
        "smplx_face_valid": true, "smplx_eyes_valid": true, "smplx_betas_valid": true, "smplx_transl_valid": true,
        "smplx_global_orient": posed["global_orient"], "smplx_body_pose": posed["body_pose"],
        "smplx_left_hand_pose": posed["left_hand_pose"], "smplx_right_hand_pose": posed["right_hand_pose"],
        "smplx_flat_hand_mean": false, "smplx_jaw_pose": posed["jaw_pose"],
        "smplx_lhand_root_valid": false, "smplx_lhand_root": zeros3,  # MANO roots: hand-only sets have them
        "smplx_rhand_root_valid": false, "smplx_rhand_root": zeros3,
        "smplx_leye_pose": zeros3, "smplx_reye_pose": zeros3,  # the body model never poses the eyes: exactly 0
        "smplx_betas": list(posed["betas"]), "smplx_num_betas": np.full(num_people, posed["betas"].shape[1], np.int32),
        "smplx_betas_neutral": [np.zeros(0, np.float32)] * num_people,
        "smplx_expression": list(posed["expression"]),
        "smplx_num_expression": np.full(num_people, posed["expression"].shape[1], np.int32),
        "smplx_transl": posed["transl"],
        "keypoints_2d_valid": true, "keypoints_3d_valid": true,
        "camera_intrinsics_valid": true,
        "focal_length": focal.astype(np.float32), "principal_point": principal.astype(np.float32),
        "camera_extrinsics_valid": true,  # the camera frame is the world frame
        "camera_rotation": np.broadcast_to(np.eye(3, dtype=np.float32), (num_people, 3, 3)).copy(),
        "camera_translation": zeros3,
    })  # fmt: skip
    return columns


# ------------------------------------------------------------------------------------------- images
def render_scene(scene: SyntheticScene, vertices: np.ndarray, faces: np.ndarray, image_size: Sequence[int], background: Optional[np.ndarray] = None):
    """``RenderResult`` of the scene's people (``vertices`` (P, V, 3), camera frame) over ``background``."""
    return render_meshes(
        vertices, faces, scene.focal_length, scene.principal_point, tuple(image_size), background=background,
        colors=scene.colors, light_direction=scene.light_direction, ambient=scene.ambient,
    )  # fmt: skip


def scene_background(scene: SyntheticScene, image_size: Sequence[int]) -> np.ndarray:
    """(H, W, 3) uint8 procedural background of the scene."""
    return random_background(np.random.default_rng(scene.background_seed), *image_size)


def encode_jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- rows
def _check_options(num_samples, seed, image_size, max_people, dataset_name) -> tuple:
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer (images to generate), got {num_samples!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    size = tuple(image_size) if isinstance(image_size, (tuple, list)) else None
    low, high = IMAGE_SIDE_LIMITS
    if size is None or len(size) != 2 or not all(isinstance(s, (int, np.integer)) and low <= s <= high for s in size):
        raise ValueError(f"image_size must be (height, width), integers in [{low}, {high}], got {image_size!r}.")
    if isinstance(max_people, bool) or not isinstance(max_people, (int, np.integer)) or not 1 <= max_people <= MAX_PEOPLE_LIMIT:
        raise ValueError(f"max_people must be an integer in [1, {MAX_PEOPLE_LIMIT}], got {max_people!r}.")
    if not isinstance(dataset_name, str) or not _DATASET_NAME.match(dataset_name):
        raise ValueError(f"dataset_name must be letters, digits, '_', '.' or '-', got {dataset_name!r}.")
    return int(size[0]), int(size[1])


def synthesize_rows(
    seed: int,
    start: int,
    stop: int,
    body_model_dir=None,
    *,
    image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
    max_people: int = 1,
    split: str = "train",
    dataset_name: str = DEFAULT_DATASET_NAME,
    timings: Optional[dict] = None,
) -> dict:
    """Schema columns (``EHPS_FEATURES`` order) of images ``start .. stop - 1`` of the dataset ``seed`` names.

    One row per person. Row ``source_index`` counts people over the whole split (image 0's first person is 0),
    so the rows are the same whichever range or process makes them. ``timings``, when given, accumulates
    seconds per stage (``sampling``, ``body_model``, ``background``, ``rendering``, ``encoding``, ``annotation``).
    """
    if not 0 <= start < stop:
        raise ValueError(f"need 0 <= start < stop (a non-empty range of image indices), got start={start}, stop={stop}.")
    height, width = _check_options(stop - start, seed, image_size, max_people, dataset_name)
    check_split_name(split)
    body_model_dir = default_body_model_dir() if body_model_dir is None else body_model_dir
    genders = available_genders(body_model_dir)
    timings = timings if timings is not None else {}
    counts = people_counts(seed, 0, stop, max_people)
    first_row = int(counts[:start].sum())
    counts = counts[start:]

    chunks = []
    with _torch_threads(1):
        for chunk_start in range(start, stop, _IMAGES_PER_CHUNK):
            chunk_stop = min(stop, chunk_start + _IMAGES_PER_CHUNK)
            chunks.append(_synthesize_chunk(seed, range(chunk_start, chunk_stop), counts[chunk_start - start : chunk_stop - start],
                                            body_model_dir, (height, width), genders, timings))  # fmt: skip

    clock = time.perf_counter()
    columns = {name: [value for chunk in chunks for value in chunk[name]] if isinstance(chunks[0][name], list)
               else np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}  # fmt: skip
    num_rows = int(counts.sum())
    source_index = np.arange(first_row, first_row + num_rows, dtype=np.int64)
    columns["sample_id"] = [f"{dataset_name}/{split}/{i:08d}" for i in source_index]
    columns["dataset_name"] = [dataset_name] * num_rows
    columns["source_index"] = source_index
    columns["image_path"] = [f"{split}/{index:08d}.jpg" for index, count in zip(range(start, stop), counts) for _ in range(count)]
    columns["image"] = [{"bytes": data, "path": path} for data, path in zip(columns.pop("image_bytes"), columns["image_path"])]
    columns["image_height"] = np.full(num_rows, height, np.int32)
    columns["image_width"] = np.full(num_rows, width, np.int32)
    timings["annotation"] = timings.get("annotation", 0.0) + time.perf_counter() - clock
    return {name: columns[name] for name in EHPS_FEATURES}


def _synthesize_chunk(seed, indices, counts, body_model_dir, image_size, genders, timings) -> dict:
    def tick(stage, since):
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - since
        return now

    clock = time.perf_counter()
    scenes = [sample_scene(seed, index, int(count), image_size, genders) for index, count in zip(indices, counts)]
    clock = tick("sampling", clock)
    posed = pose_people(scenes, body_model_dir)
    posed["transl"] = place_people(posed["vertices"], scenes, image_size)
    posed["vertices"] += posed["transl"][:, None]  # what the body model does with `transl`, in float32
    posed["smplx_joints"] += posed["transl"][:, None]
    clock = tick("body_model", clock)

    faces = _load_body_model(str(resolve_smplx_directory(body_model_dir)), posed["gender"][0]).faces.numpy()
    image_bytes, first = [], 0
    for scene in scenes:
        people = slice(first, first + scene.num_people)
        first += scene.num_people
        background = scene_background(scene, image_size)
        clock = tick("background", clock)
        image = render_scene(scene, posed["vertices"][people], faces, image_size, background).image
        clock = tick("rendering", clock)
        data = encode_jpeg(image)
        image_bytes += [data] * scene.num_people  # one row per person, each with the whole image
        clock = tick("encoding", clock)
    columns = _annotate(posed, scenes, image_size, body_model_dir)
    columns["image_bytes"] = image_bytes
    tick("annotation", clock)
    return columns


def _build_synthetic_rows(payload: dict) -> ShardRows:
    """``write_shards`` worker: one shard's rows."""
    return ShardRows(columns=synthesize_rows(**payload))


# ------------------------------------------------------------------------------------------- dataset
@dataclass
class SynthesisReport:
    """What ``synthesize_dataset`` did."""

    out_dir: Path
    split: str
    dataset_name: str
    num_images: int
    num_rows: int
    num_shards: int
    shards_written: int
    shards_reused: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.num_images / self.seconds if self.seconds > 0 else float("inf")


def synthesize_dataset(
    out_dir,
    num_samples: int,
    seed: int = 0,
    *,
    body_model_dir=None,
    split: str = "train",
    image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
    max_people: int = 1,
    num_proc: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    dataset_name: str = DEFAULT_DATASET_NAME,
) -> SynthesisReport:
    """Generate ``num_samples`` synthetic images (1 to ``max_people`` rows each) into ``out_dir`` (Hub layout).

    Args:
        out_dir: dataset directory (``data/`` shards, ``README.md``); other splits there are kept, and a rerun
            with the same settings resumes (writes only missing shards).
        num_samples: images to generate; with ``max_people`` 1 (default) also the number of rows.
        seed: the dataset's seed (non-negative integer); see the module docstring on determinism.
        body_model_dir: a folder with ``smplx/SMPLX_*.npz`` and the MANO/FLAME vertex-id files; default: the
            synthetic body model, written once into the user cache (``default_body_model_dir``).
        image_size: ``(height, width)`` in pixels.
        num_proc: worker processes; each computes single-threaded, so this is the parallelism.
        shard_size: images per shard (part of what the content depends on; keep it to reproduce a dataset).
        dataset_name: stored in every row and in the sample ids.
    """
    height, width = _check_options(num_samples, seed, image_size, max_people, dataset_name)
    check_split_name(split)
    if isinstance(num_proc, bool) or not isinstance(num_proc, (int, np.integer)) or num_proc < 1:
        raise ValueError(f"num_proc must be a positive integer, got {num_proc!r}.")
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer (images per shard), got {shard_size!r}.")
    default_model = body_model_dir is None
    body_model_dir = default_body_model_dir() if default_model else Path(body_model_dir)
    genders = tuple(preload_body_models(body_model_dir))

    count = number_of_shards(num_samples, shard_size=shard_size)

    def make_payload(index):
        start, stop = shard_bounds(num_samples, count, index)
        return {
            "seed": int(seed), "start": start, "stop": stop, "body_model_dir": str(body_model_dir),
            "image_size": (height, width), "max_people": int(max_people), "split": split, "dataset_name": dataset_name,
        }  # fmt: skip

    settings = {
        "kind": "synthetic",
        "dataset_name": dataset_name,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "image_size": [height, width],
        "max_people": int(max_people),
        "genders": list(genders),
        "body_model": "synthetic (smplest_hf.synthetic, seed 0)" if default_model else str(body_model_dir.resolve()),
        "image_format": f"JPEG quality {JPEG_QUALITY}",
    }
    started = time.perf_counter()
    summary = write_shards(
        out_dir, split, count, make_payload, _build_synthetic_rows, EHPS_FEATURES,
        num_samples=num_samples, num_proc=num_proc, settings=settings,
        payload_size=lambda payload: payload["stop"] - payload["start"], description=f"Synthesizing {dataset_name}",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    write_dataset_card(out_dir)
    return SynthesisReport(
        out_dir=Path(out_dir), split=split, dataset_name=dataset_name, num_images=num_samples,
        num_rows=summary.num_rows, num_shards=count, shards_written=summary.shards_written,
        shards_reused=summary.shards_reused, seconds=seconds,
    )  # fmt: skip


__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SHARD_SIZE",
    "GENERATOR_VERSION",
    "JPEG_QUALITY",
    "SynthesisReport",
    "SyntheticScene",
    "available_genders",
    "clipped_boxes",
    "preload_body_models",
    "default_body_model_dir",
    "encode_jpeg",
    "people_counts",
    "place_people",
    "pose_people",
    "project",
    "projected_boxes",
    "render_scene",
    "sample_scene",
    "scene_background",
    "synthesize_dataset",
    "synthesize_rows",
]
