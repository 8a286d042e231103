"""EHF (Expressive Hands and Faces, the SMPL-X paper's test set) in its official files -> EHPS rows.

The folder is what SMPLer-X's ``data/EHF`` loader reads (its ``dataset/EHF/data``), one flat folder::

    EHF.json            COCO-style: images [{id, file_name "NN_img.jpg", height, width}],
                        annotations [{id, image_id, body_bbox, lefthand_bbox, righthand_bbox, face_bbox}] (xywh px)
    NN_img.jpg          the photos (official: 1600 x 1200; also NN_img.png)
    NN_align.ply        the SMPL-X mesh registered to the scan (10475 vertices, metres, scanner frame): the ground truth

One row per annotation, in the file's order. ``smplx_vertices`` is the registered mesh rotated into the camera's
orientation, ``R @ V``, exactly as the original evaluation builds its ground truth (without the translation
``t``: every EHF metric removes translation). The subject is male; no SMPL-X parameters are given (all
``smplx_*_valid`` false). The camera is a constant of the release (not in the json): intrinsics for the
official 1600 x 1200 photos, scaled to the size of the image actually read; extrinsics ``R``, ``t`` map the
scanner frame to the camera (``X_cam = R X + t``).

The stand-in renders synthetic SMPL-X people (male where the body model has a male model) with EHF's camera
scaled to ``STAND_IN_IMAGE_SIZE``, and writes their posed meshes in the scanner frame (``R^T (X_cam - t)``).
"""

import io
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from datasets import Array2D
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix
from smplest_hf.models.smplest_x.smplx_layout import NUM_SMPLX_VERTICES

from ..synthetic import (
    clipped_boxes, encode_jpeg, place_people, pose_people, preload_body_models,
    projected_boxes, render_scene, sample_scene, scene_background,
)  # fmt: skip
from .coco import read_coco_annotations
from .conversion import ehps_row_defaults
from .format import BenchmarkFormat
from .ply import read_ply_vertices, write_ply


ANNOTATION_FILE = "EHF.json"
BOX_KEYS = {"bbox_xywh": "body_bbox", "lhand_bbox_xywh": "lefthand_bbox", "rhand_bbox_xywh": "righthand_bbox",
            "face_bbox_xywh": "face_bbox"}  # fmt: skip
"""EHPS column -> EHF.json annotation key (xywh, full-image pixels)."""

# The EHF camera (the same for every frame): rotation as a Rodrigues vector, translation in metres, and the
# intrinsics of the official 1600 x 1200 photos.
CAMERA_ROTATION_VECTOR = (-2.98747896, 0.01172457, -0.05704687)
CAMERA_TRANSLATION = (-0.03609917, 0.43416458, 2.37101226)
FOCAL_LENGTH = (1498.22426237, 1498.22426237)
PRINCIPAL_POINT = (790.263706, 578.90334)
OFFICIAL_IMAGE_SIZE = (1200, 1600)  # (height, width)
STAND_IN_IMAGE_SIZE = (240, 320)  # the official aspect ratio, 1/5 of the size

RELEASE = (
    "the EHF release of the SMPL-X website (https://smpl-x.is.tue.mpg.de, registration and licence: NN_img.jpg and "
    "NN_align.ply) and Hand4Whole's parsed EHF.json (github.com/mks0601/Hand4Whole_RELEASE, 'EHF parsed data'), all "
    "in one folder."
)


@lru_cache(maxsize=1)
def camera_rotation() -> np.ndarray:
    """(3, 3) float64 scanner-to-camera rotation ``R``."""
    vector = torch.tensor(CAMERA_ROTATION_VECTOR, dtype=torch.float64)
    rotation = axis_angle_to_matrix(vector[None])[0].numpy()
    rotation.setflags(write=False)
    return rotation


def camera_intrinsics(image_size) -> tuple:
    """((fx, fy), (cx, cy)) float32 of the EHF camera for an image of ``image_size`` (height, width): the official
    intrinsics scaled from 1600 x 1200 (an image of the official size gets them unchanged)."""
    scale = np.array(image_size[::-1], np.float64) / np.array(OFFICIAL_IMAGE_SIZE[::-1], np.float64)
    return (np.array(FOCAL_LENGTH) * scale).astype(np.float32), (np.array(PRINCIPAL_POINT) * scale).astype(np.float32)


def mesh_file_name(image_file_name: str) -> str:
    """``NN_align.ply`` of the frame whose image is ``NN_img.jpg`` (the original splits the name at '_')."""
    return f"{Path(image_file_name).name.split('_')[0]}_align.ply"


def required_files(source: Path) -> list:
    """``EHF.json`` and, once it is there, every image and ground-truth mesh it names."""
    if not (source / ANNOTATION_FILE).is_file():
        return [ANNOTATION_FILE]
    annotations, images = read_coco_annotations(source / ANNOTATION_FILE, "EHF")
    files = [ANNOTATION_FILE]
    for annotation in annotations:
        file_name = images[annotation["image_id"]]["file_name"]
        files += [name for name in (file_name, mesh_file_name(file_name)) if name not in files]
    return files


def read_ground_truth_mesh(path: Path) -> np.ndarray:
    """(10475, 3) float32 camera-oriented ground truth ``R @ V`` of one ``NN_align.ply``; a mesh of another
    vertex count is refused naming the file."""
    vertices = read_ply_vertices(path)
    if vertices.shape[0] != NUM_SMPLX_VERTICES:
        raise ValueError(
            f"{str(path)!r} has {vertices.shape[0]} vertices; an EHF ground-truth mesh is registered to SMPL-X and has "
            f"{NUM_SMPLX_VERTICES}."
        )
    return (vertices.astype(np.float64) @ camera_rotation().T).astype(np.float32)


def _box(annotation: dict, key: str, path: Path) -> np.ndarray:
    box = np.asarray(annotation.get(key, np.zeros(4)), np.float64)
    if box.shape != (4,) or not np.isfinite(box).all():
        raise ValueError(f"{str(path)!r}: annotation {annotation.get('id')!r} has no finite 4-number {key!r} box.")
    return box.astype(np.float32)


def read_rows(source: Path):
    """One EHPS row per ``EHF.json`` annotation, with ``smplx_vertices``."""
    annotations, images = read_coco_annotations(source / ANNOTATION_FILE, "EHF")
    rotation = camera_rotation().astype(np.float32)
    for annotation in annotations:
        file_name = images[annotation["image_id"]]["file_name"]
        data = (source / file_name).read_bytes()
        with PILImage.open(io.BytesIO(data)) as image:
            width, height = image.size
        focal, principal = camera_intrinsics((height, width))
        row = ehps_row_defaults()
        boxes = {column: _box(annotation, key, source / ANNOTATION_FILE) for column, key in BOX_KEYS.items()}
        row.update(boxes)
        for part in ("lhand", "rhand", "face"):
            row[f"{part}_bbox_valid"] = bool((boxes[f"{part}_bbox_xywh"][2:] > 0).all())
        row.update(
            image={"bytes": data, "path": file_name},
            image_path=file_name,
            image_height=height,
            image_width=width,
            gender="male",
            camera_intrinsics_valid=True,
            focal_length=focal,
            principal_point=principal,
            camera_extrinsics_valid=True,
            camera_rotation=rotation,
            camera_translation=np.array(CAMERA_TRANSLATION, np.float32),
            smplx_vertices=read_ground_truth_mesh(source / mesh_file_name(file_name)),
        )
        yield row


def write_stand_in(out_dir: Path, num_samples: int, seed: int, body_model_dir: Path) -> None:
    """``num_samples`` frames ``01``, ``02``, ... of one synthetic person each, in EHF's layout and camera."""
    models = preload_body_models(body_model_dir)
    genders = ("male",) if "male" in models else tuple(models)
    focal, principal = (value.astype(np.float64) for value in camera_intrinsics(STAND_IN_IMAGE_SIZE))
    scenes = []
    for index in range(num_samples):
        scene = sample_scene(seed, index, 1, STAND_IN_IMAGE_SIZE, genders)
        scene.focal_length, scene.principal_point = focal, principal  # EHF's camera, not a random one
        scene.placement[:, 1:] = 0.5  # the subject stands whole in the middle of the picture, as in EHF
        scenes.append(scene)
    posed = pose_people(scenes, body_model_dir)
    vertices = posed["vertices"] + place_people(posed["vertices"], scenes, STAND_IN_IMAGE_SIZE)[:, None]
    model = models[genders[0]]
    parts = {"lefthand_bbox": model.hand_vertex_ids["left"].numpy(), "righthand_bbox": model.hand_vertex_ids["right"].numpy(),
             "face_bbox": model.face_vertex_ids.numpy(), "body_bbox": slice(None)}  # fmt: skip
    focal_rows, principal_rows = np.tile(focal, (num_samples, 1)), np.tile(principal, (num_samples, 1))
    boxes = {key: clipped_boxes(*projected_boxes(vertices[:, ids], focal_rows, principal_rows), STAND_IN_IMAGE_SIZE)[0]
             for key, ids in parts.items()}  # fmt: skip
    # The scanner frame: X = R^T (X_cam - t), so that the release's camera maps the mesh back to the picture.
    scanner_vertices = (vertices.astype(np.float64) - np.array(CAMERA_TRANSLATION)) @ camera_rotation()
    height, width = STAND_IN_IMAGE_SIZE
    images, annotations = [], []
    for index, scene in enumerate(scenes):
        frame = f"{index + 1:02d}"
        image = render_scene(scene, vertices[index : index + 1], model.faces.numpy(), STAND_IN_IMAGE_SIZE,
                             scene_background(scene, STAND_IN_IMAGE_SIZE)).image  # fmt: skip
        (out_dir / f"{frame}_img.jpg").write_bytes(encode_jpeg(image))
        write_ply(out_dir / f"{frame}_align.ply", scanner_vertices[index], model.faces.numpy())
        images.append({"id": index, "file_name": f"{frame}_img.jpg", "height": height, "width": width})
        annotations.append({"id": index, "image_id": index,
                            **{key: [float(value) for value in boxes[key][index]] for key in parts}})  # fmt: skip
    (out_dir / ANNOTATION_FILE).write_text(json.dumps({"images": images, "annotations": annotations}))


FORMAT = BenchmarkFormat(
    name="ehf",
    title="EHF",
    split="test",
    release=RELEASE,
    required_files=required_files,
    read_rows=read_rows,
    write_stand_in=write_stand_in,
    extra_features={"smplx_vertices": Array2D((NUM_SMPLX_VERTICES, 3), "float32")},
)
