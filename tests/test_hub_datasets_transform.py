"""Training transform: crops and labels against independent computations, flips, masks, determinism, datasets.

Samples are made here in the EHPS schema from the synthetic body model with exact ground truth: a posed body
far in front of a camera whose intrinsics equal the model's crop camera for that sample's box (focal
5000 / 256 x box height, principal point at the box centre), rendered over noise. So without augmentation the
crop-camera projection of the 3D joints *is* the 2D keypoint label, and with augmentation it must stay so after
the scale (focal / scale), rotation (about the optical axis) and flip (mirror + left/right swap).
"""

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from hub_datasets.augmentation import AugmentationParameters
from hub_datasets.schema import EHPS_FEATURES, to_supervision_keypoints
from hub_datasets.transform import (
    TrainingTransform,
    collate_training_batch,
    has_valid_person_box,
)
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.models.smplest_x.smplx_layout import (
    POSE_FLIP_PAIRS,
    POSE_JOINT_NAMES,
    SMPLX_BODY_PARENTS,
    SMPLX_JOINT_NAMES,
    SMPLX_OUTPUT_JOINT_NAMES,
    SUPERVISION_FLIP_PAIRS,
    SUPERVISION_JOINT_NAMES,
)
from smplest_hf.models.smplest_x.losses import LABEL_SHAPES, check_labels
from smplest_hf.export.rasterizer import render_meshes


IMAGE_SIZE = (240, 320)  # height, width
BBOX_RATIO = TrainingTransform().bbox_ratio  # the original's training ratio for padded boxes, 1.2 * 0.833
FOCAL, PRINCIPAL = 5000.0, np.array([96.0, 128.0])  # the crop camera in body-input pixels
LABEL_TOLERANCE = {"keypoints_2d": 2e-3, "pose": 1e-5, "hand_root_pose": 1e-5}  # others: float32 exact-ish (1e-6)


# ------------------------------------------------------------------------------------------------ test data
def _pair_swap(count, pairs):
    """Index list swapping each pair, built with a plain loop (independent of hub_datasets.flip)."""
    order = list(range(count))
    for left, right in pairs:
        order[left], order[right] = right, left
    return order


def _smplx_joint_mirror():
    names = list(SMPLX_JOINT_NAMES)
    other = {"left": "right", "right": "left"}
    return [names.index(other[n.split("_")[0]] + n[n.index("_") :]) if n.split("_")[0] in other else i for i, n in enumerate(names)]


def make_rows(body_model, count, seed):
    """`count` EHPS rows with exact ground truth (see the module docstring)."""
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SIZE
    pose = rng.normal(scale=0.2, size=(count, 53, 3))
    pose[:, 22:52] = rng.normal(scale=0.3, size=(count, 30, 3))
    pose[:, 0] = (np.pi, 0.0, 0.0) + rng.normal(scale=0.15, size=(count, 3))  # upright in OpenCV axes
    betas = np.clip(rng.normal(size=(count, 10)), -2.5, 2.5)
    expression = rng.normal(scale=0.5, size=(count, 10))
    p = torch.tensor(pose)
    output = body_model(p[:, 0], p[:, 1:22], p[:, 22:37], p[:, 37:52], p[:, 52], torch.tensor(betas), torch.tensor(expression))
    rows = []
    for i in range(count):
        stored_height = rng.uniform(150, 190)
        stored_width = 1 + 0.75 * (stored_height - 1)  # clipping removes one pixel: then exactly 3:4
        center = np.array([rng.uniform(0.4, 0.6) * width, rng.uniform(0.45, 0.55) * height])
        corner = center - (np.array([stored_width, stored_height]) - 1) / 2
        focal = FOCAL * (stored_height - 1) * BBOX_RATIO / 256  # crop camera scaled to image pixels
        joints = output.smplx_joints[i].numpy()
        translation = np.array([0.0, 0.0, 42.0]) - joints[0] + rng.normal(scale=(0.05, 0.05, 1.0))
        vertices, joints = output.vertices[i].numpy() + translation, joints + translation
        background = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = render_meshes(vertices[None], body_model.faces.numpy(), (focal, focal), center, background=background).image
        encoded = io.BytesIO()
        Image.fromarray(image).save(encoded, format="PNG")
        keypoints_2d = joints[:, :2] / joints[:, 2:] * focal + center
        rows.append({
            "sample_id": f"synthetic/train/{seed:03d}{i:05d}", "dataset_name": "synthetic", "source_index": i,
            "image": {"bytes": encoded.getvalue(), "path": None}, "image_path": f"{i}.png",
            "image_height": height, "image_width": width, "bbox_xywh": [*corner, stored_width, stored_height],
            "lhand_bbox_xywh": [0.0] * 4, "lhand_bbox_valid": False, "rhand_bbox_xywh": [0.0] * 4,
            "rhand_bbox_valid": False, "face_bbox_xywh": [0.0] * 4, "face_bbox_valid": False, "gender": "neutral",
            "smplx_valid": True, "smplx_body_valid": True, "smplx_lhand_valid": True, "smplx_rhand_valid": True,
            "smplx_face_valid": True, "smplx_eyes_valid": False, "smplx_betas_valid": True, "smplx_transl_valid": True,
            "smplx_global_orient": pose[i, 0], "smplx_body_pose": pose[i, 1:22], "smplx_left_hand_pose": pose[i, 22:37],
            "smplx_right_hand_pose": pose[i, 37:52], "smplx_flat_hand_mean": False, "smplx_jaw_pose": pose[i, 52],
            "smplx_lhand_root_valid": False, "smplx_lhand_root": [0.0] * 3,  # MANO roots: hand-only sets
            "smplx_rhand_root_valid": False, "smplx_rhand_root": [0.0] * 3,
            "smplx_leye_pose": [0.0] * 3, "smplx_reye_pose": [0.0] * 3, "smplx_betas": betas[i], "smplx_num_betas": 10,
            "smplx_betas_neutral": [], "smplx_expression": expression[i], "smplx_num_expression": 10,
            "smplx_transl": translation, "keypoints_2d": np.concatenate((keypoints_2d, np.ones((144, 1))), 1),
            "keypoints_2d_valid": True, "keypoints_3d": np.concatenate((joints, np.ones((144, 1))), 1),
            "keypoints_3d_valid": True, "camera_intrinsics_valid": True, "focal_length": [focal, focal],
            "principal_point": center, "camera_extrinsics_valid": False, "camera_rotation": np.zeros((3, 3)),
            "camera_translation": [0.0] * 3,
        })  # fmt: skip
    return rows


def as_batch(rows):
    return {name: [row[name] for row in rows] for name in rows[0]}


def decoded(row):
    return np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))


def mirror_row(row):
    """The row of the horizontally mirrored image, every annotation mirrored with it (independent of the package)."""
    width = row["image_width"]
    mirrored = dict(row)
    encoded = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(decoded(row)[:, ::-1])).save(encoded, format="PNG")
    mirrored["image"] = {"bytes": encoded.getvalue(), "path": None}
    x, y, w, h = row["bbox_xywh"]
    mirrored["bbox_xywh"] = [width - x - w, y, w, h]  # pixels [x, x + w - 1] -> [W - x - w, W - 1 - x]
    # smplx_144 left/right partners by name: kinematic joints via their names, the rest (eyes, toes, fingertips,
    # face landmarks and contour) by swapping "left" and "right" in theirs.
    names = list(SMPLX_OUTPUT_JOINT_NAMES)
    swap = _smplx_joint_mirror()
    for name in names[len(swap) :]:
        partner = name.replace("left", "\0").replace("right", "left").replace("\0", "right")
        swap.append(names.index(partner) if partner in names else names.index(name))
    keypoints_2d = np.asarray(row["keypoints_2d"], dtype=np.float64)[swap]
    keypoints_2d[:, 0] = width - 1 - keypoints_2d[:, 0]
    keypoints_3d = np.asarray(row["keypoints_3d"], dtype=np.float64)[swap]
    keypoints_3d[:, 0] *= -1
    mirrored.update(keypoints_2d=keypoints_2d, keypoints_3d=keypoints_3d)
    mirrored["principal_point"] = [width - 1 - row["principal_point"][0], row["principal_point"][1]]
    mirror = np.array([1.0, -1.0, -1.0])
    body = np.asarray(row["smplx_body_pose"])
    partner = {name: name.replace("L_", "\0").replace("R_", "L_").replace("\0", "R_") for name in POSE_JOINT_NAMES}
    body_order = [POSE_JOINT_NAMES.index(partner[name]) - 1 for name in POSE_JOINT_NAMES[1:22]]
    mirrored["smplx_body_pose"] = body[body_order] * mirror
    mirrored["smplx_global_orient"] = np.asarray(row["smplx_global_orient"]) * mirror
    mirrored["smplx_jaw_pose"] = np.asarray(row["smplx_jaw_pose"]) * mirror
    mirrored["smplx_left_hand_pose"] = np.asarray(row["smplx_right_hand_pose"]) * mirror
    mirrored["smplx_right_hand_pose"] = np.asarray(row["smplx_left_hand_pose"]) * mirror
    mirrored["smplx_lhand_valid"], mirrored["smplx_rhand_valid"] = row["smplx_rhand_valid"], row["smplx_lhand_valid"]
    mirrored["smplx_transl"] = np.asarray(row["smplx_transl"]) * (-1.0, 1.0, 1.0)
    return mirrored


def crop_matrix_like_original(box, image_width, scale, rotation, flip, output_size=(512, 384)):
    """The original's crop: mirror the centre when flipping, rotate the box axes, cv2.getAffineTransform."""
    center_x, center_y = box[0] + box[2] / 2, box[1] + box[3] / 2
    if flip:
        center_x = image_width - 1 - center_x
    half_w, half_h = box[2] * scale / 2, box[3] * scale / 2
    t = np.deg2rad(rotation)
    down, right = (-np.sin(t) * half_h, np.cos(t) * half_h), (np.cos(t) * half_w, np.sin(t) * half_w)
    source = np.float32([[center_x, center_y], [center_x + down[0], center_y + down[1]], [center_x + right[0], center_y + right[1]]])
    out_h, out_w = output_size
    target = np.float32([[out_w / 2, out_h / 2], [out_w / 2, out_h], [out_w, out_h / 2]])
    return cv2.getAffineTransform(source, target)


def processed_box_like_original(row):
    """Clip (width and height lose a pixel), grow to 3:4, enlarge by the training ratio (boxes made 3:4 already)."""
    x, y, w, h = row["bbox_xywh"]
    w, h = w - 1, h - 1
    cx, cy = x + w / 2, y + h / 2
    return np.array([cx - w * BBOX_RATIO / 2, cy - h * BBOX_RATIO / 2, w * BBOX_RATIO, h * BBOX_RATIO])


def stored_pose(row):
    """(53, 3) root, body, left hand, right hand, jaw as the row stores them."""
    names = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")
    return np.concatenate([np.reshape(row[f"smplx_{name}"], (-1, 3)) for name in names])


def parameters(scale, rotation, flip, color=1.0, count=4):
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (count,))
    return AugmentationParameters(scale=scale, rotation=rotation, flip=flip, color_scale=color)


@pytest.fixture(scope="module")
def rows(symmetric_body_model):
    return make_rows(symmetric_body_model[0], 4, seed=0)


@pytest.fixture(scope="module")
def symmetric_body_model(synthetic_body_model_dir, tmp_path_factory):
    """A mirror-symmetric copy of the synthetic model, its (V,) mirror-vertex map and (V,) 'paired' mask.

    The synthetic model is only nearly symmetric: ~850 torso/head vertices have no exact mirror partner, skinning
    weights, shape directions and the random pose correctives are not mirrored, so a flipped pose gives a mesh
    up to ~3 cm away from the mirrored one. A flip can only reproduce a mirror image on a symmetric body, so
    here skinning weights, shape directions and joint regressor are symmetrised over the mirror-paired
    vertices, unpaired vertices are dropped from the regressor, and pose correctives are switched off.
    """
    source = synthetic_body_model_dir / "smplx" / "SMPLX_NEUTRAL.npz"
    with np.load(source, allow_pickle=False) as content:
        arrays = {key: content[key] for key in content.files}
    template = arrays["v_template"]
    distance, partner = cKDTree(template).query(template * (-1.0, 1.0, 1.0))
    paired = distance < 1e-9
    joint_partner = _smplx_joint_mirror()
    weights = arrays["weights"].copy()
    weights[paired] = 0.5 * (weights[paired] + weights[partner[paired]][:, joint_partner])
    regressor = np.where(paired[None], arrays["J_regressor"], 0.0)
    regressor = 0.5 * (regressor + regressor[joint_partner][:, partner] * paired[None])
    regressor /= regressor.sum(axis=1, keepdims=True)
    shapes = arrays["shapedirs"].copy()  # (V, 3, K): x components change sign under the mirror
    shapes[paired] = 0.5 * (shapes[paired] + shapes[partner[paired]] * np.array([-1.0, 1.0, 1.0])[:, None])
    arrays.update(weights=weights, J_regressor=regressor, shapedirs=shapes, posedirs=np.zeros_like(arrays["posedirs"]))
    directory = tmp_path_factory.mktemp("symmetric_body_model")
    (directory / "smplx").mkdir()
    np.savez(directory / "smplx" / "SMPLX_NEUTRAL.npz", **arrays)
    return SmplxBodyModel.from_directory(directory, dtype=torch.float64), partner, paired


def run_body_model(body_model, labels):
    pose = torch.tensor(labels["pose"], dtype=torch.float64)
    return body_model(
        pose[:, 0], pose[:, 1:22], pose[:, 22:37], pose[:, 37:52], pose[:, 52],
        torch.tensor(labels["betas"], dtype=torch.float64), torch.tensor(labels["expression"], dtype=torch.float64),
    )  # fmt: skip


def assert_outputs_equal(actual, expected, pixel_tolerance=1e-6):
    np.testing.assert_allclose(actual["pixel_values"], expected["pixel_values"], atol=pixel_tolerance)
    for name in LABEL_SHAPES:
        if name in ("pose", "hand_root_pose"):  # compare rotations, not their axis-angle spelling
            actual_matrices = Rotation.from_rotvec(actual[name].reshape(-1, 3).astype(np.float64)).as_matrix()
            expected_matrices = Rotation.from_rotvec(expected[name].reshape(-1, 3).astype(np.float64)).as_matrix()
            np.testing.assert_allclose(actual_matrices, expected_matrices, atol=LABEL_TOLERANCE[name], err_msg=name)
        else:
            np.testing.assert_allclose(actual[name], expected[name], atol=LABEL_TOLERANCE.get(name, 1e-6), err_msg=name)


# ---------------------------------------------------------------------------------------------------- tests
def test_without_augmentation_crop_and_labels_match_independent_computation(rows):
    output = TrainingTransform(augment=False)(as_batch(rows))
    assert output["pixel_values"].shape == (4, 3, 256, 192) and output["pixel_values"].dtype == np.float32
    for name, shape in LABEL_SHAPES.items():
        assert output[name].shape == (4, *shape) and output[name].dtype == np.float32, name
    for i, row in enumerate(rows):
        box = processed_box_like_original(row)
        np.testing.assert_allclose(output["processed_box"][i], box, rtol=1e-6)
        matrix = crop_matrix_like_original(box, IMAGE_SIZE[1], 1.0, 0.0, False)
        gt_2d = to_supervision_keypoints(np.asarray(row["keypoints_2d"]))[:, :2]
        expected_2d = (gt_2d @ matrix[:, :2].T + matrix[:, 2]) / 2  # 512x384 crop pixels -> 256x192 input pixels
        np.testing.assert_allclose(output["keypoints_2d"][i], expected_2d, atol=1e-2)
        crop = cv2.warpAffine(decoded(row).astype(np.float32), matrix, (384, 512), flags=cv2.INTER_LINEAR)[::2, ::2] / 255
        difference = np.abs(output["pixel_values"][i].transpose(1, 2, 0) - crop)
        assert difference.mean() < 2e-3 and difference.max() < 0.05  # OpenCV quantises weights to 1/32 pixel

        gt_3d = to_supervision_keypoints(np.asarray(row["keypoints_3d"]))[:, :3]
        np.testing.assert_allclose(output["joints_3d"][i], gt_3d - gt_3d[0], atol=1e-6)
        # The crop camera sees the pelvis-relative joints, put back at the pelvis, where the 2D keypoints are.
        points = output["joints_3d"][i].astype(np.float64) + gt_3d[0]
        np.testing.assert_allclose(FOCAL * points[:, :2] / points[:, 2:] + PRINCIPAL, output["keypoints_2d"][i], atol=2e-3)
        np.testing.assert_allclose(output["pose"][i], stored_pose(row), atol=1e-6)
        np.testing.assert_allclose(output["betas"][i], row["smplx_betas"], atol=1e-6)
        np.testing.assert_allclose(output["expression"][i], row["smplx_expression"], atol=1e-6)
    inside = (output["keypoints_2d"] >= 0).all(-1) & (output["keypoints_2d"] < (192, 256)).all(-1)
    np.testing.assert_array_equal(output["joints_valid"], inside)
    assert 0.5 < inside.mean() < 1  # arms of a T-pose reach out of the crop: those joints are masked
    for name in ("pose_valid", "betas_valid", "expression_valid", "has_3d_joints", "hand_root_valid"):
        assert (output[name] == 1).all(), name


def test_a_normalising_processor_gives_the_pixels_inference_gives(rows):
    """Built from an image processor with mean/std normalisation, training crops are the processor's crops (the
    model sees at training what it sees at inference); colour augmentation applies before the normalisation."""
    from smplest_hf import SmplestXImageProcessor

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    processor = SmplestXImageProcessor(do_normalize=True, image_mean=mean, image_std=std)
    batch = as_batch(rows)
    plain = TrainingTransform(augment=False)(batch)["pixel_values"]
    unaugmented = TrainingTransform(image_processor=processor, augment=False)
    normalised = unaugmented(batch)
    expected = (plain - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    np.testing.assert_allclose(normalised["pixel_values"], expected, atol=1e-5)
    boxes = [np.asarray(row["bbox_xywh"], np.float64)[None] for row in rows]
    inference = processor([decoded(row) for row in rows], boxes=boxes, bbox_ratio=unaugmented.bbox_ratio,
                          return_tensors="np")["pixel_values"]  # fmt: skip
    np.testing.assert_allclose(normalised["pixel_values"], inference, atol=1e-4)
    augmentation = parameters([1.0] * 4, [0.0] * 4, [False] * 4, [[1.2, 0.8, 1.0]] * 4)
    coloured = TrainingTransform(image_processor=processor).transform_batch(batch, augmentation)["pixel_values"]
    scaled = np.clip(plain * np.reshape([1.2, 0.8, 1.0], (3, 1, 1)), 0, 1)
    np.testing.assert_allclose(coloured, (scaled - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1)), atol=1e-5)
    with pytest.raises(ValueError, match="image_mean"):
        TrainingTransform(image_processor=SmplestXImageProcessor(do_normalize=True))


def test_augmented_labels_stay_consistent_with_pixels_and_crop_camera(rows):
    augmentation = parameters([0.8, 1.2, 1.0, 1.1], [30.0, -45.0, 0.0, 60.0], [True, False, True, True], [[1.1, 0.9, 1.0]] * 4)
    output = TrainingTransform().transform_batch(as_batch(rows), augmentation)
    swap = _pair_swap(137, SUPERVISION_FLIP_PAIRS)
    for i, row in enumerate(rows):
        scale, rotation, flip = augmentation.scale[i], augmentation.rotation[i], augmentation.flip[i]
        matrix = crop_matrix_like_original(processed_box_like_original(row), IMAGE_SIZE[1], scale, rotation, flip)
        image = decoded(row).astype(np.float32)
        gt_2d = to_supervision_keypoints(np.asarray(row["keypoints_2d"]))[:, :2].copy()
        if flip:  # the original: mirror the image and the keypoints, then swap left and right
            image = cv2.flip(image, 1)
            gt_2d[:, 0] = IMAGE_SIZE[1] - 1 - gt_2d[:, 0]
        expected_2d = (gt_2d @ matrix[:, :2].T + matrix[:, 2]) / 2
        if flip:
            expected_2d = expected_2d[swap]
        np.testing.assert_allclose(output["keypoints_2d"][i], expected_2d, atol=2e-2)
        crop = cv2.warpAffine(image, matrix, (384, 512), flags=cv2.INTER_LINEAR)[::2, ::2]
        crop = np.clip(crop * (1.1, 0.9, 1.0), 0, 255) / 255
        difference = np.abs(output["pixel_values"][i].transpose(1, 2, 0) - crop)
        assert difference.mean() < 2e-3 and difference.max() < 0.05

        # 3D: mirrored, rotated about the optical axis; the crop camera (focal / scale) projects them onto the 2D labels.
        mirror = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
        turn = Rotation.from_euler("z", -rotation, degrees=True).as_matrix()
        pelvis = np.asarray(row["keypoints_3d"])[0, :3]
        points = output["joints_3d"][i].astype(np.float64) + turn @ mirror @ pelvis
        projected = FOCAL / scale * points[:, :2] / points[:, 2:] + PRINCIPAL
        np.testing.assert_allclose(projected, output["keypoints_2d"][i], atol=5e-3)
        # Root: R_z(-rotation) M R M; every other joint: its mirror partner's rotation, mirrored.
        root = Rotation.from_rotvec(np.asarray(row["smplx_global_orient"])).as_matrix()
        expected_root = turn @ mirror @ root @ mirror
        np.testing.assert_allclose(Rotation.from_rotvec(output["pose"][i, 0]).as_matrix(), expected_root, atol=1e-5)
        pose = stored_pose(row)
        if flip:
            pose = pose[_pair_swap(53, POSE_FLIP_PAIRS)] * (1.0, -1.0, -1.0)
        np.testing.assert_allclose(output["pose"][i, 1:], pose[1:], atol=1e-6)


def test_flip_twice_is_identity_and_flip_equals_mirrored_image(rows):
    mirrored = [mirror_row(row) for row in rows]
    for row, twice in zip(rows, (mirror_row(m) for m in mirrored)):  # the reference mirror is an involution
        assert decoded(twice).tobytes() == decoded(row).tobytes()
        for name in ("bbox_xywh", "keypoints_2d", "keypoints_3d", "principal_point", "smplx_body_pose", "smplx_left_hand_pose"):
            np.testing.assert_allclose(twice[name], row[name], atol=1e-9, err_msg=name)

    transform = TrainingTransform()
    scale, rotation = [1.0, 1.15, 0.85, 1.0], [0.0, 25.0, -40.0, 10.0]
    original = transform.transform_batch(as_batch(rows), parameters(scale, rotation, False))
    flipped_twice = transform.transform_batch(as_batch(mirrored), parameters(scale, rotation, True))
    assert_outputs_equal(flipped_twice, original, pixel_tolerance=1e-4)
    flipped = transform.transform_batch(as_batch(rows), parameters(scale, rotation, True))
    of_mirrored = transform.transform_batch(as_batch(mirrored), parameters(scale, rotation, False))
    assert_outputs_equal(flipped, of_mirrored, pixel_tolerance=1e-4)


def test_flipped_parameters_give_the_mirrored_mesh(rows, symmetric_body_model):
    model, partner, paired = symmetric_body_model
    transform = TrainingTransform()
    rotation = np.array([0.0, 35.0, -20.0, 50.0])
    plain = transform.transform_batch(as_batch(rows), parameters(1.0, 0.0, False))
    flipped = transform.transform_batch(as_batch(rows), parameters(1.0, rotation, True))
    plain_mesh, flipped_mesh = run_body_model(model, plain), run_body_model(model, flipped)
    turn = Rotation.from_euler("z", -rotation[:, None], degrees=True).as_matrix()  # (4, 3, 3)

    def expected_from_plain(points, correspondence):
        relative = points - plain_mesh.smplx_joints[:, :1].numpy()
        return np.einsum("nij,nvj->nvi", turn, relative[:, correspondence] * (-1.0, 1.0, 1.0))

    vertices = flipped_mesh.vertices.numpy() - flipped_mesh.smplx_joints[:, :1].numpy()
    error = np.linalg.norm(vertices - expected_from_plain(plain_mesh.vertices.numpy(), partner), axis=-1)[:, paired]
    assert error.max() < 1e-3, f"flipped mesh differs from the mirrored mesh by up to {error.max() * 1000:.3f} mm"
    joints = flipped_mesh.smplx_joints[:, :55].numpy() - flipped_mesh.smplx_joints[:, :1].numpy()
    np.testing.assert_allclose(joints, expected_from_plain(plain_mesh.smplx_joints[:, :55].numpy(), _smplx_joint_mirror()), atol=1e-5)
    # Keypoint flip (SUPERVISION_FLIP_PAIRS) and pose flip (POSE_FLIP_PAIRS) agree: the flipped pose's joints are
    # the flipped joint labels (the rows were made with this model). The nose vertex has no mirror partner in the
    # synthetic mesh and face landmarks sit on faces that are not exactly mirrored, hence the looser face check.
    supervision = flipped_mesh.joints.numpy() - flipped_mesh.joints[:, :1].numpy()
    body_and_hands = [i for i in range(65) if SUPERVISION_JOINT_NAMES[i] != "Nose"]
    np.testing.assert_allclose(supervision[:, body_and_hands], flipped["joints_3d"][:, body_and_hands], atol=1e-5)
    np.testing.assert_allclose(supervision[:, 65:], flipped["joints_3d"][:, 65:], atol=1.5e-3)


def test_masks_follow_missing_annotations(rows, synthetic_body_model_dir):
    edited = [dict(row) for row in rows]
    edited[0]["keypoints_3d_valid"] = False
    edited[1]["smplx_lhand_valid"] = False  # flipped below: the right side must go
    keypoints = np.array(edited[2]["keypoints_2d"], dtype=np.float64)
    keypoints[1, 2] = 0.0  # left hip unannotated
    keypoints[4, :2] = (-500.0, -500.0)  # left knee far outside the crop
    edited[2].update(keypoints_2d=keypoints, smplx_face_valid=False, smplx_betas=np.full(10, 3.5))
    edited[3].update(keypoints_2d_valid=False, keypoints_2d=np.zeros((144, 3)), smplx_body_valid=False)
    augmentation = parameters(1.0, 0.0, [False, True, False, False])
    reference = TrainingTransform().transform_batch(as_batch(rows), augmentation)
    output = TrainingTransform().transform_batch(as_batch(edited), augmentation)
    names = SUPERVISION_JOINT_NAMES

    assert output["has_3d_joints"].tolist() == [0, 1, 1, 1]
    assert (output["joints_3d"][0] == 0).all()
    np.testing.assert_array_equal(output["joints_valid"][0], reference["joints_valid"][0])  # 2D still supervised
    fingers = ("Thumb", "Index", "Middle", "Ring", "Pinky")
    right_hand = [names.index("R_Wrist")] + [i for i, n in enumerate(names) if n.startswith("R_") and n.split("_")[1] in fingers]
    assert (output["joints_valid"][1, right_hand] == 0).all() and output["joints_valid"][1, right_hand].size == 21
    others = np.setdiff1d(np.arange(137), right_hand)
    np.testing.assert_array_equal(output["joints_valid"][1, others], reference["joints_valid"][1, others])
    assert (output["pose_valid"][1, 37:52] == 0).all() and (output["pose_valid"][1, :37] == 1).all()
    assert output["joints_valid"][2, names.index("L_Hip")] == 0 and output["joints_valid"][2, names.index("L_Knee")] == 0
    assert output["expression_valid"][2] == 0 and output["pose_valid"][2, 52] == 0
    assert output["betas_valid"][2] == 0 and (output["betas"][2] == 0).all()  # |beta| > 3: reset to the mean shape
    # No 2D keypoints: projected from the 3D ones with the camera, equal to the stored projections.
    np.testing.assert_allclose(output["keypoints_2d"][3], reference["keypoints_2d"][3], atol=1e-3)
    assert output["pose_valid"][3, :22].sum() == 0 and output["hand_root_valid"][3].tolist() == [0, 0]
    assert (output["hand_root_pose"][3] == 0).all()

    # Hand roots: the label pose composed down each wrist's chain (scipy, a loop over the chain).
    for i in range(3):
        for side, wrist in enumerate(("L_Wrist", "R_Wrist")):
            chain, joint = [], POSE_JOINT_NAMES.index(wrist)
            while joint != -1:
                chain.append(joint)
                joint = SMPLX_BODY_PARENTS[joint]
            rotation = np.eye(3)
            for joint in reversed(chain):
                rotation = rotation @ Rotation.from_rotvec(output["pose"][i, joint].astype(np.float64)).as_matrix()
            np.testing.assert_allclose(Rotation.from_rotvec(output["hand_root_pose"][i, side]).as_matrix(), rotation, atol=1e-5)

    # Flat-hand rows: the mean hand pose is subtracted (it is read from the body model folder).
    mean = {}
    with np.load(synthetic_body_model_dir / "smplx" / "SMPLX_NEUTRAL.npz") as content:
        mean["left"], mean["right"] = content["hands_meanl"].reshape(15, 3), content["hands_meanr"].reshape(15, 3)
    flat = [dict(row) for row in rows[:2]]
    for row in flat:
        row.update(
            smplx_flat_hand_mean=True,
            smplx_left_hand_pose=np.asarray(row["smplx_left_hand_pose"]) + mean["left"],
            smplx_right_hand_pose=np.asarray(row["smplx_right_hand_pose"]) + mean["right"],
        )
    with pytest.raises(ValueError, match="flat hand.*body_model_dir"):
        TrainingTransform().transform_batch(as_batch(flat), parameters(1.0, 0.0, False, count=2))
    transform = TrainingTransform(body_model_dir=synthetic_body_model_dir)
    converted = transform.transform_batch(as_batch(flat), parameters(1.0, 0.0, [False, True], count=2))
    np.testing.assert_allclose(converted["pose"], reference["pose"][:2], atol=1e-6)


def test_batched_equals_per_sample_and_augmentation_is_seeded(rows):
    batch = as_batch(rows)
    transform = TrainingTransform(seed=3)
    together = transform(batch)
    for i, row in enumerate(rows):
        alone = transform(as_batch([row]))
        for name in ("pixel_values", *LABEL_SHAPES):
            np.testing.assert_array_equal(alone[name][0], together[name][i], err_msg=name)
    reversed_output = transform(as_batch(rows[::-1]))
    np.testing.assert_array_equal(reversed_output["pixel_values"][::-1], together["pixel_values"])
    np.testing.assert_array_equal(TrainingTransform(seed=3)(batch)["keypoints_2d"], together["keypoints_2d"])

    draws = transform.sample_parameters(batch)
    transform.set_epoch(1)
    assert not np.allclose(transform.sample_parameters(batch).scale, draws.scale)
    assert not np.allclose(TrainingTransform(seed=4).sample_parameters(batch).scale, draws.scale)

    # The distribution of the original: scale in [0.75, 1.25], 40 % unrotated, |rotation| <= 60, half flipped.
    many = AugmentationParameters.sample([f"id/{k}" for k in range(4000)], seed=0)
    assert many.scale.min() >= 0.75 and many.scale.max() <= 1.25 and abs(many.scale.mean() - 1) < 0.01
    assert abs((many.rotation == 0).mean() - 0.4) < 0.03 and np.abs(many.rotation).max() <= 60
    assert abs(many.flip.mean() - 0.5) < 0.03
    assert many.color_scale.min() >= 0.8 and many.color_scale.max() <= 1.2


def test_works_with_datasets_set_transform_streaming_and_dataloader(rows):
    from datasets import Dataset
    from datasets import Image as Image_

    dataset = Dataset.from_dict(as_batch(rows), features=EHPS_FEATURES)  # images decode to PIL here
    transform = TrainingTransform(seed=1)
    stored = dataset.cast_column("image", Image_(decode=False))[:]  # float32 as stored, images as PNG bytes
    expected = transform(stored)
    dataset.set_transform(transform)
    row = dataset[2]
    assert row["pixel_values"].shape == (3, 256, 192)
    np.testing.assert_array_equal(row["pixel_values"], expected["pixel_values"][2])

    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate_training_batch)
    batches = list(loader)
    assert set(batches[0]) == {"pixel_values", "labels"}
    labels = check_labels(batches[1]["labels"], 2, torch.device("cpu"))
    np.testing.assert_array_equal(labels["joints_3d"].numpy(), expected["joints_3d"][2:])
    np.testing.assert_array_equal(batches[1]["pixel_values"].numpy(), expected["pixel_values"][2:])

    plain = Dataset.from_dict(as_batch(rows), features=EHPS_FEATURES)
    streamed = plain.to_iterable_dataset(num_shards=2).map(transform, batched=True, batch_size=3, remove_columns=list(plain.features))
    streamed_rows = list(streamed)
    assert len(streamed_rows) == 4
    for streamed_row in streamed_rows:
        index = [r["sample_id"] for r in rows].index(streamed_row["sample_id"])
        np.testing.assert_array_equal(np.asarray(streamed_row["pixel_values"]), expected["pixel_values"][index])
        np.testing.assert_array_equal(np.asarray(streamed_row["pose"]), expected["pose"][index])


def test_bad_input_is_reported_with_the_sample(rows):
    transform = TrainingTransform()
    outside = dict(rows[0], bbox_xywh=[1000.0, 10.0, 50.0, 80.0])
    with pytest.raises(ValueError, match=r"synthetic/train/00000000.*box.*has_valid_person_box"):
        transform(as_batch([outside]))
    assert has_valid_person_box(as_batch([outside, rows[1]])) == [False, True]
    wrong_size = dict(rows[1], image_height=100)
    with pytest.raises(ValueError, match=r"synthetic/train/00000001.*decoded image is \(240, 320\)"):
        transform(as_batch([wrong_size]))
    corrupt = dict(rows[1], image={"bytes": b"not an image", "path": None})
    with pytest.raises(ValueError, match=r"synthetic/train/00000001.*cannot decode"):
        transform(as_batch([corrupt]))
    without_pose = {name: value for name, value in as_batch(rows).items() if name != "smplx_body_pose"}
    with pytest.raises(ValueError, match="lacks the EHPS columns.*smplx_body_pose"):
        transform(without_pose)


def test_the_crop_geometry_comes_from_the_named_source(rows):
    from smplest_hf import SmplestXConfig, SmplestXImageProcessor

    config = SmplestXConfig(input_image_size=(256, 192), input_body_size=(128, 96), bbox_ratio=1.25)
    from_config = TrainingTransform(config=config, augment=False)
    assert (from_config.crop_size, from_config.input_body_size) == ((256, 192), (128, 96))
    assert from_config.bbox_ratio == pytest.approx(1.25 * 0.833) and from_config.normalization is None
    processor = SmplestXImageProcessor(crop_size={"height": 256, "width": 192}, size={"height": 128, "width": 96},
                                       bbox_ratio=1.25)  # fmt: skip
    from_processor = TrainingTransform(image_processor=processor, augment=False)
    assert (from_processor.crop_size, from_processor.input_body_size, from_processor.bbox_ratio) == (
        from_config.crop_size, from_config.input_body_size, from_config.bbox_ratio
    )
    # Same geometry, same crops and labels, whichever object described it.
    batch = as_batch(rows)
    assert_outputs_equal(from_processor(batch), from_config(batch), pixel_tolerance=0)
    assert from_config(batch)["pixel_values"].shape == (4, 3, 128, 96)
    default = TrainingTransform()
    assert (default.crop_size, default.input_body_size) == ((512, 384), (256, 192))
    with pytest.raises(ValueError, match="not both"):
        TrainingTransform(image_processor=processor, config=config)
    with pytest.raises(TypeError, match="image_processor must be a SmplestXImageProcessor, got SmplestXConfig"):
        TrainingTransform(image_processor=config)
    with pytest.raises(TypeError, match="config must be a SmplestXConfig, got SmplestXImageProcessor"):
        TrainingTransform(config=processor)
    with pytest.raises(TypeError):  # no positional source to guess from
        TrainingTransform(processor)
