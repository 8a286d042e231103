"""UBody intra-scene test, from UBody's own files, as SMPLer-X's ``data/UBody/UBody.py`` evaluates it.

Official layout (the ``UBody`` folder; frames extracted from ``videos/`` with OSX's ``video2image.py``)::

    images/<scene>/<video>/<NNNNNN>.png             frames (6-digit, 1-based)
    annotations/<scene>/keypoint_annotation.json    COCO-WholeBody: images {id, file_name, height, width},
                                                    annotations {id, image_id, bbox, iscrowd, num_keypoints,
                                                    valid_label, keypoints, foot_kpts, face_kpts, lefthand_kpts,
                                                    righthand_kpts, lefthand_valid, righthand_valid, face_valid,
                                                    lefthand_box, righthand_box, face_box}
    annotations/<scene>/smplx_annotation.json       {str(annotation id): {smplx_param: {root_pose, body_pose, shape,
                                                    trans, lhand_pose, rhand_pose, jaw_pose, expr[, lhand_valid,
                                                    rhand_valid, face_valid]}, cam_param: {focal, princpt}}}
    splits/intra_scene_test_list.npy                names of the intra-scene test videos

**Which rows.** Scene by scene (the scenes are the folders of ``images/``), in annotation order, an annotation is
evaluated when all of these hold — the original's test selection:

1. it is the ``TEST_SAMPLE_INTERVAL``-th (100th), 200th, ... annotation of its scene, counted over *all* the scene's
   annotations before any other rule;
2. its video (``file_name``'s folder, cut at ``_Trim``) is in ``splits/intra_scene_test_list.npy``;
3. its frame exists (the original skips missing frames);
4. not ``iscrowd``, ``num_keypoints`` > 0, ``valid_label`` != 0, and it has an entry in ``smplx_annotation.json``;
5. its box survives clipping to the image (``cropping.clip_boxes_xywh``; the original's ``process_bbox`` is None).

**Ground truth.** The neutral SMPL-X fit: ``root_pose``, ``body_pose``, hands (mean-hand relative), ``jaw_pose``,
``expr``, ``shape`` and ``trans`` as the ``smplx_*`` columns. A hand or the face is valid by its flag
(``smplx_param``'s own, else the annotation's ``lefthand_valid`` / ``righthand_valid`` / ``face_valid``); the
evaluator gives an invalid hand the mean pose and an invalid face zero jaw and expression, clamps the betas, and
scores only the points that project into the image (registry entry ``ubody``: everything it needs — translation,
person box, image size — is in the EHPS columns, so no extra column is written).

Keypoints: the 133 COCO-WholeBody points become the ``smplx_144`` joints of the same names (``UBODY_JOINT_NAMES``),
their scores as confidences. ``focal_length`` / ``principal_point`` are UBody's own camera (``cam_param``).
"""

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.configuration_smplest_x import SmplestXConfig
from smplest_hf.models.smplest_x.cropping import BODY_INPUT_SIZE, clip_boxes_xywh, expand_boxes_to_aspect
from smplest_hf.models.smplest_x.smplx_layout import SMPLX_OUTPUT_JOINT_NAMES

from ..schema import NUM_KEYPOINTS
from .conversion import ehps_row_defaults
from .format import BenchmarkFormat
from .stand_in_people import pose_stand_in_people

TEST_SAMPLE_INTERVAL = 100
"""SMPLer-X's ``test_sample_interval``: every 100th annotation of a scene is a test candidate."""
TEST_BBOX_RATIO = 1.25  # the person crop's enlargement (the registry entry's bbox_ratio)
SPLIT_FILE = "splits/intra_scene_test_list.npy"
KEYPOINT_FILE = "keypoint_annotation.json"
SMPLX_FILE = "smplx_annotation.json"
SPLIT = "test"

_HAND_NAMES = ("wrist", "thumb1", "thumb2", "thumb3", "thumb", "index1", "index2", "index3", "index", "middle1",
               "middle2", "middle3", "middle", "ring1", "ring2", "ring3", "ring", "pinky1", "pinky2", "pinky3", "pinky")  # fmt: skip
UBODY_KEYPOINT_PARTS = {
    "keypoints": ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle"),
    "foot_kpts": ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"),
    # 68 iBUG points: the 17 contour points (SMPL-X's contour joints, right to left), then the 51 inner ones.
    "face_kpts": SMPLX_OUTPUT_JOINT_NAMES[127:144] + SMPLX_OUTPUT_JOINT_NAMES[76:127],
    "lefthand_kpts": tuple(f"left_{name}" for name in _HAND_NAMES),
    "righthand_kpts": tuple(f"right_{name}" for name in _HAND_NAMES),
}  # fmt: skip
"""COCO-WholeBody keypoint fields of a UBody annotation -> the ``smplx_144`` joint name of each of their points."""
_KEYPOINT_INDICES = {
    part: np.array([SMPLX_OUTPUT_JOINT_NAMES.index(name) for name in names]) for part, names in UBODY_KEYPOINT_PARTS.items()
}


def video_of(file_name: str) -> str:
    """The video an annotation belongs to, as the split list names it: the frame's folder, cut at ``_Trim``."""
    return file_name.strip("/").split("/")[-2].split("_Trim")[0]


def required_files(source_dir: Path) -> list:
    """The split list, ``images/``, and both annotation files of every scene found in ``images/``."""
    files = [SPLIT_FILE, "images"]
    for scene in _scenes(Path(source_dir)):
        files += [f"annotations/{scene}/{KEYPOINT_FILE}", f"annotations/{scene}/{SMPLX_FILE}"]
    return files


def _scenes(root: Path) -> list:
    images = root / "images"
    return sorted(path.name for path in images.iterdir() if path.is_dir()) if images.is_dir() else []


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"UBody: {str(path)!r} is not a readable JSON file ({error}).") from error


def read_rows(source_dir: Path):
    """EHPS rows of the intra-scene test annotations the original evaluates (module docstring), scene by scene."""
    root = Path(source_dir)
    test_videos = {str(video) for video in np.load(root / SPLIT_FILE)}
    for scene in _scenes(root):
        keypoint_annotation = _load_json(root / "annotations" / scene / KEYPOINT_FILE)
        smplx_annotation = _load_json(root / "annotations" / scene / SMPLX_FILE)
        images = {image["id"]: image for image in keypoint_annotation["images"]}
        for position, annotation in enumerate(keypoint_annotation["annotations"], start=1):
            if position % TEST_SAMPLE_INTERVAL:
                continue
            image = images[annotation["image_id"]]
            file_name = image["file_name"].lstrip("/")
            frame = root / "images" / scene / file_name
            if video_of(file_name) not in test_videos or not frame.is_file():
                continue
            if annotation["iscrowd"] or annotation["num_keypoints"] == 0 or annotation["valid_label"] == 0:
                continue
            fit = smplx_annotation.get(str(annotation["id"]))
            _, box_valid = clip_boxes_xywh([annotation["bbox"]], (image["height"], image["width"]))
            if fit is None or not box_valid[0]:
                continue
            yield _row(scene, f"{scene}/{file_name}", frame.read_bytes(), annotation, fit)


def _box(values, valid: bool) -> tuple:
    return (np.asarray(values, np.float32) if valid else np.zeros(4, np.float32)), bool(valid)


def _keypoints(annotation: dict) -> np.ndarray:
    """(144, 3) ``smplx_144`` keypoints (x, y, score) from the annotation's 133 COCO-WholeBody points."""
    keypoints = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for part, indices in _KEYPOINT_INDICES.items():
        keypoints[indices] = np.asarray(annotation[part], np.float32).reshape(len(indices), 3)
    return keypoints


def _face_box(face_keypoints: np.ndarray, valid: bool) -> tuple:
    """The extent of the annotated face points (the loader rebuilds the face box from them)."""
    points = face_keypoints[face_keypoints[:, 2] > 0, :2]
    if not valid or len(points) == 0:
        return np.zeros(4, np.float32), False
    lower, upper = points.min(axis=0), points.max(axis=0)
    return np.concatenate((lower, upper - lower)).astype(np.float32), True


def _row(scene: str, image_path: str, image_bytes: bytes, annotation: dict, fit: dict) -> dict:
    parameters, camera = fit["smplx_param"], fit["cam_param"]
    if "R" in camera or "t" in camera:
        raise ValueError(
            f"UBody: the fit of annotation {annotation['id']} in scene {scene!r} has a camera rotation/translation "
            "(cam_param R / t), which this converter does not merge into the root pose."
        )
    with PILImage.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
    lhand_valid = bool(parameters.get("lhand_valid", annotation["lefthand_valid"]))
    rhand_valid = bool(parameters.get("rhand_valid", annotation["righthand_valid"]))
    face_valid = bool(parameters.get("face_valid", annotation["face_valid"]))
    keypoints = _keypoints(annotation)
    betas = np.asarray(parameters["shape"], np.float32).reshape(-1)
    expression = np.asarray(parameters["expr"], np.float32).reshape(-1)
    lhand_box, lhand_box_valid = _box(annotation.get("lefthand_box"), annotation["lefthand_valid"])
    rhand_box, rhand_box_valid = _box(annotation.get("righthand_box"), annotation["righthand_valid"])
    face_box, face_box_valid = _face_box(keypoints[_KEYPOINT_INDICES["face_kpts"]], annotation["face_valid"])
    row = ehps_row_defaults()  # eyes, 3D keypoints and camera extrinsics are not annotated
    row.update(
        image={"bytes": image_bytes, "path": image_path}, image_path=image_path, image_height=height, image_width=width,
        bbox_xywh=np.asarray(annotation["bbox"], np.float32),
        lhand_bbox_xywh=lhand_box, lhand_bbox_valid=lhand_box_valid,
        rhand_bbox_xywh=rhand_box, rhand_bbox_valid=rhand_box_valid,
        face_bbox_xywh=face_box, face_bbox_valid=face_box_valid,
        gender="neutral",  # UBody's fits are neutral SMPL-X
        smplx_valid=True, smplx_body_valid=True, smplx_betas_valid=True, smplx_transl_valid=True,
        smplx_lhand_valid=lhand_valid, smplx_rhand_valid=rhand_valid, smplx_face_valid=face_valid,
        smplx_global_orient=np.asarray(parameters["root_pose"], np.float32).reshape(3),
        smplx_body_pose=np.asarray(parameters["body_pose"], np.float32).reshape(21, 3),
        smplx_left_hand_pose=np.asarray(parameters["lhand_pose"], np.float32).reshape(15, 3),
        smplx_right_hand_pose=np.asarray(parameters["rhand_pose"], np.float32).reshape(15, 3),
        smplx_jaw_pose=np.asarray(parameters["jaw_pose"], np.float32).reshape(3),
        smplx_betas=betas, smplx_num_betas=len(betas),
        smplx_expression=expression, smplx_num_expression=len(expression),
        smplx_transl=np.asarray(parameters["trans"], np.float32).reshape(3),
        keypoints_2d=keypoints, keypoints_2d_valid=True,
        camera_intrinsics_valid=True,
        focal_length=np.asarray(camera["focal"], np.float32).reshape(2),
        principal_point=np.asarray(camera["princpt"], np.float32).reshape(2),
    )  # fmt: skip
    return row


# ============================================================================================ stand-in
STAND_IN_SCENES = ("ConductMusic", "TalkShow")
STAND_IN_IMAGE_SIZE = (240, 320)  # (height, width)
# Test candidates (every 100th annotation) the selection drops, one each, by the rule that drops them.
STAND_IN_DROPPED = ("train_video", "iscrowd", "no_keypoints", "invalid_label", "no_fit", "box_outside", "no_frame")
_STAND_IN_TAIL = 37  # annotations after a scene's last candidate (never selected)


def write_stand_in(out_dir, num_samples: int, seed: int, body_model_dir) -> None:
    """A small synthetic UBody in the official layout (module docstring) whose test selection keeps ``num_samples``
    annotations.

    Two scenes; in each, every 100th annotation is a candidate: ``num_samples`` kept ones (in a ``_Trim`` and a plain
    test video; the first with no left-hand annotation, the second with its right hand and face marked invalid by
    the fit, the third half out of the frame) and one per rule of ``STAND_IN_DROPPED``. A candidate's frame shows it
    and a second person, annotated just before it; the other annotations are placeholders (zero keypoints) whose
    frames are not written, as the selection never reaches them. Fits are neutral (``gender`` neutral), each with
    its frame's camera as ``cam_param``: the camera the evaluator's in-image test assumes (the model's virtual crop
    camera on the candidate's 1.25x box), so a fully visible candidate keeps its points in that test; the third,
    moved half out of the frame afterwards, loses them all there (its box no longer matches the camera), and the
    evaluator skips it for the vertex errors, as the original does.
    """
    out_dir = Path(out_dir)
    kinds = ["kept"] * num_samples + list(STAND_IN_DROPPED)
    # Image k shows candidate k (its second person) and a companion.
    people = pose_stand_in_people(seed, [2] * len(kinds), STAND_IN_IMAGE_SIZE, body_model_dir)
    for image in range(len(kinds)):
        # The model's virtual crop camera on the candidate's 1.25x box, as an image camera.
        box = _box_of(people, people.people_of_image(image)[1])
        crop = expand_boxes_to_aspect(clip_boxes_xywh([box], STAND_IN_IMAGE_SIZE)[0], ratio=TEST_BBOX_RATIO)[0]
        focal = np.asarray(SmplestXConfig.focal_length) * crop[2:] / np.asarray(BODY_INPUT_SIZE[::-1])
        people.set_camera(image, focal, crop[:2] + crop[2:] / 2)
    if num_samples >= 3:  # the third kept person's box centre moves onto the frame's left edge
        person = people.people_of_image(2)[1]
        pixels = _project(people, person)[:, 0]
        shift = -(pixels.min() + pixels.max()) / 2
        people.move(person, [shift * people.parameters["transl"][person, 2] / people.scenes[2].focal_length[0], 0, 0])

    test_videos = [f"{scene}_test_video{number}" for scene in STAND_IN_SCENES for number in (1, 2)]
    (out_dir / "splits").mkdir(parents=True, exist_ok=True)
    np.save(out_dir / SPLIT_FILE, np.array(test_videos))
    np.save(out_dir / "splits/inter_scene_test_list.npy", np.array([f"{STAND_IN_SCENES[0]}_inter_video1"]))
    for scene_index, scene in enumerate(STAND_IN_SCENES):
        videos = {"test_trim": f"{scene}_test_video1_Trim2", "test": f"{scene}_test_video2", "train": f"{scene}_train_video1"}
        annotation_file = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
        fits = {}

        def add_annotation(annotation: dict) -> int:
            annotation["id"] = scene_index * 10**6 + len(annotation_file["annotations"])
            annotation_file["annotations"].append(annotation)
            return annotation["id"]

        def add_frame(file_name: str) -> int:
            height, width = STAND_IN_IMAGE_SIZE
            annotation_file["images"].append({"id": len(annotation_file["images"]), "file_name": file_name,
                                              "height": height, "width": width})  # fmt: skip
            return annotation_file["images"][-1]["id"]

        for slot, candidate in enumerate(range(scene_index, len(kinds), len(STAND_IN_SCENES))):
            kind, kept_before = kinds[candidate], kinds[:candidate].count("kept")
            for _ in range(TEST_SAMPLE_INTERVAL - 2):
                add_annotation(_placeholder(add_frame(f"{videos['train']}/{len(annotation_file['images']) + 1:06d}.png")))
            video = videos["train"] if kind == "train_video" else videos["test_trim" if slot % 2 else "test"]
            file_name = f"{video}/{len(annotation_file['images']) + 1:06d}.png"
            image_id = add_frame("/" + file_name)  # some UBody file names start with '/'
            companion, person = people.people_of_image(candidate)
            fits[str(add_annotation(_annotation(people, companion, image_id)))] = _fit(people, companion)
            annotation = _annotation(people, person, image_id)
            _apply_kind(annotation, kind, kept_before, STAND_IN_IMAGE_SIZE[1])
            annotation_id = add_annotation(annotation)
            if kind != "no_fit":
                fits[str(annotation_id)] = _fit(people, person)
                if kind == "kept" and kept_before == 1:
                    fits[str(annotation_id)]["smplx_param"].update(rhand_valid=False, face_valid=False)
            if kind != "no_frame":
                frame = out_dir / "images" / scene / file_name
                frame.parent.mkdir(parents=True, exist_ok=True)
                PILImage.fromarray(people.render(candidate)).save(frame)
        for _ in range(_STAND_IN_TAIL):
            add_annotation(_placeholder(add_frame(f"{videos['test']}/{len(annotation_file['images']) + 1:06d}.png")))
        (out_dir / "annotations" / scene).mkdir(parents=True, exist_ok=True)
        (out_dir / "annotations" / scene / KEYPOINT_FILE).write_text(json.dumps(annotation_file))
        (out_dir / "annotations" / scene / SMPLX_FILE).write_text(json.dumps(fits))


def _project(people, person: int) -> np.ndarray:
    scene = people.scenes[people.image_of_person[person]]
    points = people.vertices[person].astype(np.float64)
    return points[:, :2] / points[:, 2:] * scene.focal_length + scene.principal_point


def _box_of(people, person: int) -> list:
    """xywh box of the person's projected mesh, clipped to the frame."""
    height, width = people.image_size
    vertices = _project(people, person)
    lower = np.clip(vertices.min(axis=0), 0, [width - 1, height - 1])
    upper = np.clip(vertices.max(axis=0), 0, [width - 1, height - 1])
    return [*lower.tolist(), *(upper - lower).tolist()]


def _annotation(people, person: int, image_id: int) -> dict:
    """A COCO-WholeBody annotation of a stand-in person: keypoints projected from its joints (score 1 inside the
    frame, 0 outside), the box of its projected mesh clipped to the frame, hand boxes from the hand points."""
    scene = people.scenes[people.image_of_person[person]]
    height, width = people.image_size
    joints = people.joints[person].astype(np.float64)
    pixels = joints[:, :2] / joints[:, 2:] * scene.focal_length + scene.principal_point
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] <= width - 1) & (pixels[:, 1] >= 0) & (pixels[:, 1] <= height - 1)
    keypoints = np.concatenate((pixels, inside[:, None]), axis=1)
    annotation = {
        "image_id": image_id, "category_id": 1,
        "bbox": _box_of(people, person),
        "iscrowd": 0, "valid_label": 1,
        "num_keypoints": int(inside[_KEYPOINT_INDICES["keypoints"]].sum()),
    }  # fmt: skip
    for part, indices in _KEYPOINT_INDICES.items():
        annotation[part] = keypoints[indices].reshape(-1).round(3).tolist()
    for side, part in (("left", "lefthand"), ("right", "righthand")):
        points = keypoints[_KEYPOINT_INDICES[f"{part}_kpts"]]
        low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
        annotation[f"{part}_box"] = [*low.round(3).tolist(), *(high - low).round(3).tolist()]
        annotation[f"{part}_valid"] = bool(points[:, 2].all())
    face = keypoints[_KEYPOINT_INDICES["face_kpts"]]
    low, high = face[:, :2].min(axis=0), face[:, :2].max(axis=0)
    annotation["face_box"] = [*low.round(3).tolist(), *(high - low).round(3).tolist()]
    annotation["face_valid"] = bool(face[:, 2].all())
    return annotation


def _apply_kind(annotation: dict, kind: str, kept_before: int, width: int) -> None:
    """Make a candidate annotation one that the selection keeps, or drops by the rule ``kind`` names."""
    if kind == "kept" and kept_before == 0:
        annotation["lefthand_valid"] = False
    elif kind == "iscrowd":
        annotation["iscrowd"] = 1
    elif kind == "no_keypoints":
        annotation["num_keypoints"] = 0
    elif kind == "invalid_label":
        annotation["valid_label"] = 0
    elif kind == "box_outside":
        annotation["bbox"] = [width + 10.0, 5.0, 40.0, 60.0]


def _fit(people, person: int) -> dict:
    parameters = people.parameters
    scene = people.scenes[people.image_of_person[person]]
    return {
        "smplx_param": {
            "root_pose": parameters["global_orient"][person].tolist(),
            "body_pose": parameters["body_pose"][person].reshape(-1).tolist(),
            "shape": parameters["betas"][person].tolist(),
            "trans": parameters["transl"][person].tolist(),
            "lhand_pose": parameters["left_hand_pose"][person].reshape(-1).tolist(),
            "rhand_pose": parameters["right_hand_pose"][person].reshape(-1).tolist(),
            "jaw_pose": parameters["jaw_pose"][person].tolist(),
            "expr": parameters["expression"][person].tolist(),
        },
        "cam_param": {"focal": scene.focal_length.tolist(), "princpt": scene.principal_point.tolist()},
    }


def _placeholder(image_id: int) -> dict:
    """An annotation the test selection never reaches: zero keypoints, a plain box."""
    annotation = {"image_id": image_id, "category_id": 1, "bbox": [10.0, 10.0, 50.0, 100.0], "iscrowd": 0,
                  "valid_label": 1, "num_keypoints": 17, "lefthand_valid": False, "righthand_valid": False,
                  "face_valid": False, "lefthand_box": [0.0] * 4, "righthand_box": [0.0] * 4,
                  "face_box": [0.0] * 4}  # fmt: skip
    for part, indices in _KEYPOINT_INDICES.items():
        annotation[part] = [0] * (3 * len(indices))
    return annotation


FORMAT = BenchmarkFormat(
    name="ubody",
    title="UBody",
    split=SPLIT,
    release=(
        "UBody (https://github.com/IDEA-Research/OSX): videos -> images/ with its video2image.py, annotations/ and "
        "splits/ from the UBody download"
    ),
    required_files=required_files,
    read_rows=read_rows,
    write_stand_in=write_stand_in,
)
