"""3DPW test (3D Poses in the Wild) in the files SMPLer-X's ``data/PW3D`` loader reads -> EHPS rows.

The folder is the loader's ``dataset/PW3D/data``::

    3DPW_test.json                         COCO-style, from Hand4Whole / I2L-MeshNet ("3DPW parsed data"):
        images [{id, file_name "image_XXXXX.jpg", sequence, width, height, cam_param {focal [2], princpt [2]}}]
        annotations [{id, image_id, bbox (xywh px), smpl_param {pose [72], shape [10], trans [3], gender}}]
    imageFiles/<sequence>/image_XXXXX.jpg  the official release's frames

One row per annotation (person-frame), in the file's order. The SMPL parameters — already in the camera frame in
this file — become the ground-truth columns the evaluator builds the gendered SMPL mesh from:
``smpl_global_orient`` = ``pose[0:3]``, ``smpl_body_pose`` = ``pose[3:72]`` as (23, 3) (joints 1-23, the hands
included), ``smpl_betas`` = ``shape`` (first 10), ``smpl_transl`` = ``trans``, and ``gender`` (``male`` /
``female``; the pickles' ``m`` / ``f`` are read too). Camera intrinsics from ``cam_param``; no extrinsics (the
parameters are camera-frame). No SMPL-X annotation (``smplx_*_valid`` false).

The stand-in renders one or two synthetic SMPL-X people per frame (``STAND_IN_IMAGE_SIZE``, portrait like 3DPW's
1080 x 1920 frames) in two sequences, and writes SMPL parameters of the same people. **Pose mapping** SMPL-X ->
SMPL: the root and the 21 body joints are the same joints in both models (SMPL-X joints 1-21 = SMPL joints 1-21),
so ``pose[3:66]`` is SMPL-X's ``body_pose``; SMPL's two hand joints (22, 23: children of the wrists, no fingers)
get zero rotation. Betas are SMPL-X's 10, ``trans`` its translation. With the synthetic body models (whose SMPL is
cut from SMPL-X) the SMPL mesh of these parameters is the rendered person without finger poses; with licensed
models the two differ as SMPL and SMPL-X do.
"""

import io
import json
from pathlib import Path

import numpy as np
from datasets import Array2D, List, Value
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.smpl_layout import NUM_SMPL_BODY_POSE_JOINTS
from smplest_hf.models.smplest_x.smplx_layout import NUM_BETAS, NUM_BODY_POSE_JOINTS

from ..synthetic import (
    clipped_boxes, encode_jpeg, people_counts, place_people, pose_people,
    preload_body_models, projected_boxes, render_scene, sample_scene, scene_background,
)  # fmt: skip
from .coco import read_coco_annotations
from .conversion import ehps_row_defaults
from .format import BenchmarkFormat


ANNOTATION_FILE = "3DPW_test.json"
IMAGE_DIR = "imageFiles"
NUM_SMPL_POSE_VALUES = 3 * (1 + NUM_SMPL_BODY_POSE_JOINTS)  # 72: root + 23 joints, axis-angle
SMPL_GENDERS = {"male": "male", "m": "male", "female": "female", "f": "female", "neutral": "neutral"}
STAND_IN_IMAGE_SIZE = (320, 240)  # (height, width)
STAND_IN_SEQUENCES = ("synthetic_seq_00", "synthetic_seq_01")
STAND_IN_MAX_PEOPLE = 2  # 3DPW tracks one or two people per sequence

RELEASE = (
    "the 3DPW release (https://virtualhumans.mpi-inf.mpg.de/3DPW, licence: imageFiles/<sequence>/image_XXXXX.jpg) "
    "and the parsed 3DPW_test.json of Hand4Whole / I2L-MeshNet (github.com/mks0601/I2L-MeshNet_RELEASE, '3DPW "
    "parsed data'), together in one folder."
)


def _floats(length):
    return List(Value("float32"), length=length)


EXTRA_FEATURES = {
    "smpl_global_orient": _floats(3),
    "smpl_body_pose": Array2D((NUM_SMPL_BODY_POSE_JOINTS, 3), "float32"),
    "smpl_betas": _floats(NUM_BETAS),
    "smpl_transl": _floats(3),
}
"""The SMPL ground truth, camera frame (metres, axis-angle), with the row's ``gender``."""


def image_file(image: dict) -> str:
    """``imageFiles/<sequence>/<file_name>`` of an image entry."""
    return f"{IMAGE_DIR}/{image['sequence']}/{image['file_name']}"


def required_files(source: Path) -> list:
    """``3DPW_test.json`` and, once it is there, every frame it names (a whole missing sequence by its folder)."""
    if not (source / ANNOTATION_FILE).is_file():
        return [ANNOTATION_FILE]
    _, images = read_coco_annotations(source / ANNOTATION_FILE, "3DPW", image_keys=("sequence", "file_name"))
    files, listed = [ANNOTATION_FILE], set()
    for image in images.values():
        folder = f"{IMAGE_DIR}/{image['sequence']}"
        name = image_file(image) if (source / folder).is_dir() else folder + "/"
        if name not in listed:
            listed.add(name)
            files.append(name)
    return files


def _smpl_columns(annotation: dict, path: Path) -> dict:
    """The ground-truth columns of one annotation; ``ValueError`` naming the annotation when malformed."""
    where = f"{str(path)!r}: annotation {annotation.get('id')!r}"
    try:
        params = annotation["smpl_param"]
        pose = np.asarray(params["pose"], np.float64).reshape(-1)
        shape = np.asarray(params["shape"], np.float64).reshape(-1)
        trans = np.asarray(params["trans"], np.float64).reshape(-1)
        gender = SMPL_GENDERS[str(params["gender"]).lower()]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where} has no readable smpl_param {{pose, shape, trans, gender}} ({error!r}).") from error
    if pose.shape != (NUM_SMPL_POSE_VALUES,) or shape.shape[0] < NUM_BETAS or trans.shape != (3,):
        raise ValueError(
            f"{where}: smpl_param has pose {pose.shape}, shape {shape.shape}, trans {trans.shape}; expected 72, at least "
            "10 and 3 values."
        )
    if not (np.isfinite(pose).all() and np.isfinite(shape).all() and np.isfinite(trans).all()):
        raise ValueError(f"{where}: smpl_param holds NaN or infinite values.")
    return {
        "gender": gender,
        "smpl_global_orient": pose[:3].astype(np.float32),
        "smpl_body_pose": pose[3:].reshape(NUM_SMPL_BODY_POSE_JOINTS, 3).astype(np.float32),
        "smpl_betas": shape[:NUM_BETAS].astype(np.float32),
        "smpl_transl": trans.astype(np.float32),
    }


def read_rows(source: Path):
    """One EHPS row per ``3DPW_test.json`` annotation, with the SMPL ground-truth columns."""
    annotations, images = read_coco_annotations(source / ANNOTATION_FILE, "3DPW", image_keys=("sequence", "file_name"))
    path = source / ANNOTATION_FILE
    loaded = (None, None, None)  # (image id, bytes, (height, width)): consecutive people of one frame share it
    for annotation in annotations:
        image = images[annotation["image_id"]]
        if loaded[0] != image["id"]:
            data = (source / image_file(image)).read_bytes()
            with PILImage.open(io.BytesIO(data)) as decoded:
                loaded = (image["id"], data, decoded.size[::-1])
        _, data, (height, width) = loaded
        try:
            focal = np.asarray(image["cam_param"]["focal"], np.float32).reshape(2)
            principal = np.asarray(image["cam_param"]["princpt"], np.float32).reshape(2)
            box = np.asarray(annotation["bbox"], np.float32).reshape(4)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{str(path)!r}: annotation {annotation.get('id')!r} or its image lacks a 4-number bbox or "
                f"cam_param {{focal [2], princpt [2]}} ({error!r})."
            ) from error
        row = ehps_row_defaults()
        row.update(_smpl_columns(annotation, path))
        row.update(
            image={"bytes": data, "path": image_file(image)},
            image_path=image_file(image),
            image_height=height,
            image_width=width,
            bbox_xywh=box,
            camera_intrinsics_valid=True,
            focal_length=focal,
            principal_point=principal,
        )
        yield row


def write_stand_in(out_dir: Path, num_samples: int, seed: int, body_model_dir: Path) -> None:
    """``num_samples`` frames of one or two synthetic people each, over two sequences, in 3DPW's layout."""
    models = preload_body_models(body_model_dir)
    genders = tuple(g for g in ("male", "female") if g in models) or tuple(models)
    counts = people_counts(seed, 0, num_samples, STAND_IN_MAX_PEOPLE)
    scenes = [sample_scene(seed, index, int(count), STAND_IN_IMAGE_SIZE, genders) for index, count in enumerate(counts)]
    posed = pose_people(scenes, body_model_dir)
    transl = place_people(posed["vertices"], scenes, STAND_IN_IMAGE_SIZE)
    vertices = posed["vertices"] + transl[:, None]
    focal = np.concatenate([np.repeat(scene.focal_length[None], scene.num_people, 0) for scene in scenes])
    principal = np.concatenate([np.repeat(scene.principal_point[None], scene.num_people, 0) for scene in scenes])
    boxes, _ = clipped_boxes(*projected_boxes(vertices, focal, principal), STAND_IN_IMAGE_SIZE)
    num_people = len(vertices)
    hand_joints = np.zeros((num_people, 3 * (NUM_SMPL_BODY_POSE_JOINTS - NUM_BODY_POSE_JOINTS)), np.float32)
    pose = np.concatenate((posed["global_orient"], posed["body_pose"].reshape(num_people, -1), hand_joints), axis=1)
    # (N, 72): root, SMPL-X's 21 body joints, SMPL's two hand joints unrotated

    frames_per_sequence = -(-num_samples // len(STAND_IN_SEQUENCES))
    faces = next(iter(models.values())).faces.numpy()
    height, width = STAND_IN_IMAGE_SIZE
    images, annotations, person = [], [], 0
    for index, scene in enumerate(scenes):
        sequence = STAND_IN_SEQUENCES[index // frames_per_sequence]
        file_name = f"image_{index % frames_per_sequence:05d}.jpg"
        people = slice(person, person + scene.num_people)
        image = render_scene(scene, vertices[people], faces, STAND_IN_IMAGE_SIZE,
                             scene_background(scene, STAND_IN_IMAGE_SIZE)).image  # fmt: skip
        (out_dir / IMAGE_DIR / sequence).mkdir(parents=True, exist_ok=True)
        (out_dir / IMAGE_DIR / sequence / file_name).write_bytes(encode_jpeg(image))
        images.append({
            "id": index, "file_name": file_name, "sequence": sequence, "width": width, "height": height,
            "cam_param": {"focal": scene.focal_length.tolist(), "princpt": scene.principal_point.tolist()},
        })  # fmt: skip
        for row in range(people.start, people.stop):
            annotations.append({
                "id": row, "image_id": index, "bbox": boxes[row].tolist(),
                "smpl_param": {"pose": pose[row].tolist(), "shape": posed["betas"][row].tolist(),
                               "trans": transl[row].tolist(), "gender": str(posed["gender"][row])},
            })  # fmt: skip
        person = people.stop
    (out_dir / ANNOTATION_FILE).write_text(json.dumps({"images": images, "annotations": annotations}))


FORMAT = BenchmarkFormat(
    name="3dpw",
    title="3DPW-test",
    split="test",
    release=RELEASE,
    required_files=required_files,
    read_rows=read_rows,
    write_stand_in=write_stand_in,
    extra_features=EXTRA_FEATURES,
)
