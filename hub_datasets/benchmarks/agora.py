"""AGORA validation set, from AGORA's files as prepared for SMPLer-X, as its ``data/AGORA/AGORA.py`` evaluates it.

Official layout (AGORA's ``data`` folder after OSX's ``tool/AGORA`` preparation: ``agora2coco.py`` writes the
annotation JSON and the per-person ground-truth files from AGORA's camera dataframes, ``affine_transform.py`` the
person crops of the 3840x2160 images)::

    AGORA_validation.json                              COCO style: images {id, file_name_3840x2160,
                                                       file_name_1280x720}, annotations {id, image_id, is_valid,
                                                       kid, gender, bbox, lhand_bbox, rhand_bbox, face_bbox,
                                                       smplx_verts_path, smplx_param_path, ...} (4K pixels)
    3840x2160/validation_crop/<stem>_ann_id_<id>.png   384x512 person crop (<stem>: the 4K image's file stem)
    3840x2160/validation_crop/<stem>_ann_id_<id>.json  {bbox (the expanded 4K box), img2bb_trans (2x3, 4K ->
                                                       crop), resized_height 512, resized_width 384}
    gt_verts/smplx/<id>.json                           AGORA's own mesh of the person: (10475, 3), camera frame,
                                                       metres (gendered model; the kid model for kids)

**Which rows.** Every annotation with ``is_valid``, in file order, kids included; an annotation without its crop's
side JSON is skipped, as the original skips it. SMPLer-X evaluates the 4K crops (its resolution is fixed to
3840x2160), so the row's image is the crop and its box the whole crop ``[0, 0, 384, 512]`` — the registry entry
``agora_val`` crops it with ratio 1.0. The 1280x720 frames (``file_name_1280x720``) are not read.

**Ground truth.** AGORA's mesh, stored as the ``smplx_vertices`` column (10475, 3) float32; a file with another
vertex count is refused, naming it. No body model runs, so gender and kid shapes are as AGORA made them. The SMPL-X
parameters (``smplx_param_path``, in AGORA's world frame) are not converted: ``smplx_valid`` is false. Hand and
face boxes are the annotation's, mapped into the crop by ``img2bb_trans``.
"""

import io
import json
import pickle
from pathlib import Path

import numpy as np
from datasets import Array2D
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.smplx_layout import NUM_SMPLX_VERTICES
from smplest_hf.models.smplest_x.cropping import (
    apply_affine,
    clip_boxes_xywh,
    crop_affine_matrices,
    expand_boxes_to_aspect,
)
from smplest_hf.models.smplest_x.smplx_layout import SMPLX_OUTPUT_JOINT_NAMES

from ..synthetic import available_genders
from .coco import read_coco_annotations
from .conversion import ehps_row_defaults
from .format import BenchmarkFormat
from .stand_in_people import pose_stand_in_people

ANNOTATION_FILE = "AGORA_validation.json"
CROP_FOLDER = "3840x2160/validation_crop"
FRAME_SIZE = (2160, 3840)  # (height, width) of the images the annotation's pixels refer to
CROP_SIZE = (512, 384)  # (height, width) of OSX's person crops
CROP_BOX_RATIO = 1.25  # OSX affine_transform.py: the box, at aspect 0.75, enlarged 1.25x
SPLIT = "validation"

EXTRA_FEATURES = {"smplx_vertices": Array2D((NUM_SMPLX_VERTICES, 3), "float32")}


def crop_name(annotation_image: dict, annotation_id: int) -> str:
    """Path (relative to the data folder) of an annotation's 4K crop PNG."""
    stem = Path(annotation_image["file_name_3840x2160"]).stem
    return f"{CROP_FOLDER}/{stem}_ann_id_{annotation_id}.png"


def required_files(source_dir: Path) -> list:
    return [ANNOTATION_FILE, CROP_FOLDER, "gt_verts/smplx"]


def read_vertices(path: Path) -> np.ndarray:
    """(10475, 3) float32 from one of AGORA's ``gt_verts`` JSON files; ``ValueError`` naming the file otherwise."""
    try:
        vertices = np.asarray(json.loads(path.read_text()), np.float32)
    except (OSError, ValueError) as error:
        raise ValueError(f"AGORA: ground-truth mesh {str(path)!r} is not a readable JSON list ({error}).") from error
    if vertices.shape != (NUM_SMPLX_VERTICES, 3):
        raise ValueError(
            f"AGORA: ground-truth mesh {str(path)!r} has shape {vertices.shape}; an SMPL-X mesh is "
            f"({NUM_SMPLX_VERTICES}, 3) vertices."
        )
    return vertices


def read_rows(source_dir: Path):
    """EHPS rows (plus ``smplx_vertices``) of the valid annotations whose crops exist (module docstring)."""
    root = Path(source_dir)
    annotations, images = read_coco_annotations(root / ANNOTATION_FILE, "AGORA")
    for annotation in annotations:
        if not annotation["is_valid"]:
            continue
        crop_path = crop_name(images[annotation["image_id"]], annotation["id"])
        side_file = root / Path(crop_path).with_suffix(".json")
        if not side_file.is_file():
            continue
        side = json.loads(side_file.read_text())
        vertices = read_vertices(root / annotation["smplx_verts_path"])
        yield _row(crop_path, (root / crop_path).read_bytes(), annotation, np.asarray(side["img2bb_trans"]), vertices)


def _crop_box(box, image_to_crop: np.ndarray, crop_size) -> tuple:
    """A 4K xywh box mapped into the crop (an axis-aligned scale and shift) and clipped to it, and its validity."""
    corners = apply_affine(image_to_crop, np.array([box[:2], np.add(box[:2], box[2:])], np.float64))
    clipped, valid = clip_boxes_xywh([[*corners[0], *(corners[1] - corners[0])]], crop_size)
    return clipped[0].astype(np.float32), bool(valid[0])


def _row(image_path: str, image_bytes: bytes, annotation: dict, image_to_crop: np.ndarray, vertices) -> dict:
    with PILImage.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
    boxes = {
        part: _crop_box(annotation[f"{part}_bbox"], image_to_crop, (height, width)) for part in ("lhand", "rhand", "face")
    }
    row = ehps_row_defaults()  # no SMPL-X parameters, keypoints or camera: the ground truth is the mesh
    row.update(
        image={"bytes": image_bytes, "path": image_path},
        image_path=image_path,
        image_height=height,
        image_width=width,
        bbox_xywh=np.array([0, 0, width, height], np.float32),  # the whole crop, as the original
        gender=annotation["gender"],
        smplx_vertices=vertices,
    )
    for part, (box, valid) in boxes.items():
        row[f"{part}_bbox_xywh"], row[f"{part}_bbox_valid"] = box, valid
    return row


# ============================================================================================ stand-in
NUM_AGORA_JOINTS = 127  # AGORA's joints: SMPL-X's output joints without the face contour
_HAND_JOINTS = {
    side: [SMPLX_OUTPUT_JOINT_NAMES.index(f"{side}_{finger}{number}")
           for finger in ("index", "middle", "pinky", "ring", "thumb") for number in (1, 2, 3)]
    + [SMPLX_OUTPUT_JOINT_NAMES.index(f"{side}_{finger}") for finger in ("thumb", "index", "middle", "ring", "pinky")]
    for side in ("left", "right")
}  # fmt: skip
"""The 20 joints of each hand AGORA's hand boxes span: 3 per finger and the 5 tips, no wrist."""
_FACE_JOINTS = list(range(76, 127))  # the 51 face landmarks (AGORA's Face_5 .. Face_55)
BOX_SCALE = 1.2  # agora2coco: every box is its joints' extent, 1.2x about the centre


def write_stand_in(out_dir, num_samples: int, seed: int, body_model_dir) -> None:
    """A small synthetic AGORA validation set in the official layout (module docstring) with ``num_samples``
    evaluated people.

    ``num_samples + 2`` people of the male and female models in 4K frames of 2-3 people: the first is a kid
    (``kid`` true, an 11th beta in its parameter file; its mesh is an adult one), the second is not ``is_valid``,
    the last has no crop side JSON. Each gets a 384x512 crop rendered directly through the crop's camera (the 4K
    frame itself is not written), its mesh and joints, and a parameter pickle. Nothing else of AGORA is written.
    """
    out_dir = Path(out_dir)
    total = num_samples + 2
    counts = [len(group) for group in np.array_split(np.arange(total), -(-total // 3))]
    genders = [gender for gender in ("male", "female") if gender in available_genders(body_model_dir)] or ["neutral"]
    people = pose_stand_in_people(seed, counts, FRAME_SIZE, body_model_dir, genders)
    for folder in (CROP_FOLDER, "gt_verts/smplx", "gt_joints_2d/smplx", "gt_joints_3d/smplx", "smplx_gt/validation"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    images = [
        {"id": index, "file_name_3840x2160": f"3840x2160/validation/ag_validationset_synthetic_5_15_cam00_{index:05d}.png",
         "file_name_1280x720": f"1280x720/validation/ag_validationset_synthetic_5_15_cam00_{index:05d}_1280x720.png"}
        for index in range(len(counts))
    ]  # fmt: skip
    annotations = []
    for person in range(total):
        image = int(people.image_of_person[person])
        scene = people.scenes[image]
        joints_3d = people.joints[person, :NUM_AGORA_JOINTS].astype(np.float64)
        joints_2d = joints_3d[:, :2] / joints_3d[:, 2:] * scene.focal_length + scene.principal_point
        annotation = {
            "id": person, "image_id": image, "is_valid": person != 1, "kid": person == 0,
            "gender": str(people.gender[person]), "occlusion": 10.0 * person, "age": "31-50", "ethnicity": "asian",
            "bbox": _extent_box(joints_2d), "lhand_bbox": _extent_box(joints_2d[_HAND_JOINTS["left"]]),
            "rhand_bbox": _extent_box(joints_2d[_HAND_JOINTS["right"]]), "face_bbox": _extent_box(joints_2d[_FACE_JOINTS]),
            "smplx_joints_2d_path": f"./gt_joints_2d/smplx/{person}.json",
            "smplx_joints_3d_path": f"./gt_joints_3d/smplx/{person}.json",
            "smplx_verts_path": f"./gt_verts/smplx/{person}.json",
            "smplx_param_path": f"smplx_gt/validation/person_{person:05d}.pkl",
        }  # fmt: skip
        annotations.append(annotation)
        (out_dir / annotation["smplx_verts_path"]).write_text(json.dumps(people.vertices[person].tolist()))
        (out_dir / annotation["smplx_joints_2d_path"]).write_text(json.dumps(joints_2d.tolist()))
        (out_dir / annotation["smplx_joints_3d_path"]).write_text(json.dumps(joints_3d.tolist()))
        with open(out_dir / annotation["smplx_param_path"], "wb") as file:
            pickle.dump(_parameter_pickle(people, person, kid=annotation["kid"]), file)

        clipped, _ = clip_boxes_xywh([annotation["bbox"]], FRAME_SIZE)
        expanded = expand_boxes_to_aspect(clipped, ratio=CROP_BOX_RATIO)
        image_to_crop = crop_affine_matrices(expanded, output_size=CROP_SIZE)[0]
        crop = out_dir / crop_name(images[image], person)
        # The crop is a scaled and shifted view of the frame: the same pinhole camera with scaled intrinsics.
        scale = np.array([image_to_crop[0, 0], image_to_crop[1, 1]])
        principal_point = scale * scene.principal_point + image_to_crop[:, 2]
        pixels = people.render(image, scale * scene.focal_length, principal_point, CROP_SIZE)
        PILImage.fromarray(pixels).save(crop)
        if person != total - 1:
            side = {"bbox": expanded[0].tolist(), "img2bb_trans": image_to_crop.tolist(),
                    "resized_height": CROP_SIZE[0], "resized_width": CROP_SIZE[1]}  # fmt: skip
            crop.with_suffix(".json").write_text(json.dumps(side))
    (out_dir / ANNOTATION_FILE).write_text(json.dumps({"images": images, "annotations": annotations}))


def _extent_box(points: np.ndarray) -> list:
    """[x, y, w, h] of the points' extent, scaled by ``BOX_SCALE`` about its centre."""
    lower, upper = points.min(axis=0), points.max(axis=0)
    centre, size = (lower + upper) / 2, (upper - lower) * BOX_SCALE
    return [*(centre - size / 2).tolist(), *size.tolist()]


def _parameter_pickle(people, person: int, kid: bool) -> dict:
    """AGORA's per-person SMPL-X pickle: (1, k) arrays; a kid's betas carry the kid-template weight as an 11th."""
    parameters = {name: value[person].reshape(1, -1).astype(np.float32) for name, value in people.parameters.items()}
    if kid:
        parameters["betas"] = np.concatenate((parameters["betas"], np.full((1, 1), 0.6, np.float32)), axis=1)
    parameters.update(leye_pose=np.zeros((1, 3), np.float32), reye_pose=np.zeros((1, 3), np.float32))
    return parameters


FORMAT = BenchmarkFormat(
    name="agora_val",
    title="AGORA-val",
    split=SPLIT,
    release=(
        "AGORA validation (https://agora.is.tue.mpg.de: validation images 3840x2160, camera dataframes with "
        "ground truth), prepared with OSX's tool/AGORA (agora2coco.py, affine_transform.py)"
    ),
    required_files=required_files,
    read_rows=read_rows,
    write_stand_in=write_stand_in,
    extra_features=EXTRA_FEATURES,
)
