"""EgoBody-EgoSet test (egocentric HoloLens frames), from the HumanData file SMPLer-X evaluates, as its
``EgoBody_Egocentric`` + ``HumanDataset.evaluate`` do.

Official layout (SMPLer-X's ``data`` folder: the preprocessed HumanData file from its download table, the frames
from the EgoBody release)::

    preprocessed_datasets/egobody_egocentric_test_230425_043_fix_betas.npz   HumanData (mmhuman3d): image_path,
                                        bbox_xywh (N, 5), keypoints2d_smplx / keypoints3d_smplx (N, 190, 3|4) + masks,
                                        smplx {global_orient, body_pose, betas, betas_neutral, transl, hands, jaw,
                                        eyes, expression}, meta {gender, focal_length, principal_point}, misc, config
    EgoBody/<image_path>                egocentric_color/<recording>/<date>/PV/<timestamp>_frame_<NNNNN>.jpg

The file is read by ``hub_datasets.humandata`` (``read_humandata`` / ``parse_humandata``: the same columns as
``python -m hub_datasets convert-humandata``). **Which rows:** every row, in file order (test interval 1), except
those whose 3D keypoints hold a NaN among the 137 joints SMPLest-X supervises — the one row filter of the original
loader. **Ground truth** (registry entry ``egobody_egoset``): ``betas_neutral`` with the neutral model, betas
clamped, from the ``smplx_*`` columns; boxes are stored padded, so the crop ratio is ``1.2 * 0.833``.
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.smplx_layout import SMPLX_OUTPUT_JOINT_NAMES, SUPERVISION_JOINT_INDICES

from ..humandata import parse_humandata, read_humandata
from ..schema import NUM_KEYPOINTS
from .format import BenchmarkFormat
from .stand_in_people import pose_stand_in_people

HUMANDATA_FILE = "preprocessed_datasets/egobody_egocentric_test_230425_043_fix_betas.npz"
IMAGE_FOLDER = "EgoBody"
SPLIT = "test"


def required_files(source_dir: Path) -> list:
    return [HUMANDATA_FILE, IMAGE_FOLDER]


def read_rows(source_dir: Path):
    """EHPS rows of the test file's rows the original evaluates (module docstring), in file order."""
    root = Path(source_dir)
    source = root / HUMANDATA_FILE
    parsed = parse_humandata(read_humandata(source), str(source))
    keypoints_3d = parsed.columns["keypoints_3d"][:, SUPERVISION_JOINT_INDICES]
    has_nan = np.isnan(keypoints_3d).any(axis=(1, 2)) & parsed.columns["keypoints_3d_valid"]
    for row in np.flatnonzero(~has_nan):
        image_path = str(parsed.image_paths[row]).lstrip("/")
        image_file = root / IMAGE_FOLDER / image_path
        if not image_file.is_file():
            raise ValueError(f"EgoBody: row {row} of {str(source)!r}: its image {str(image_file)!r} does not exist.")
        image_bytes = image_file.read_bytes()
        with PILImage.open(io.BytesIO(image_bytes)) as image:
            width, height = image.size
        yield {
            **{name: values[row] for name, values in parsed.columns.items()},
            "image": {"bytes": image_bytes, "path": image_path},
            "image_path": image_path,
            "image_height": height,
            "image_width": width,
        }


# ============================================================================================ stand-in
STAND_IN_IMAGE_SIZE = (240, 320)  # (height, width); the real PV frames are 1080x1920
HUMAN_DATA_JOINTS = 190  # the `human_data` keypoint convention: SMPL-X's 144 output joints first
_RECORDING = "egocentric_color/recording_20220415_S36_S35_01/2022-04-15-161202/PV"
_HAND_JOINTS = {side: [i for i, name in enumerate(SMPLX_OUTPUT_JOINT_NAMES) if name.startswith(f"{side}_")
                       and any(finger in name for finger in ("wrist", "thumb", "index", "middle", "ring", "pinky"))]
                for side in ("left", "right")}  # fmt: skip
_FACE_JOINTS = list(range(76, NUM_KEYPOINTS))  # face landmarks and contour


def write_stand_in(out_dir, num_samples: int, seed: int, body_model_dir) -> None:
    """A small synthetic EgoBody-EgoSet test file and its frames in the official layout, ``num_samples`` evaluated
    rows.

    One person per frame (the interactee, seen by the wearer), ``num_samples + 1`` rows; the last row's 3D keypoints
    hold a NaN, so the original (and this converter) drops it. People are posed with the neutral model, so
    ``betas_neutral`` equals ``betas``; ``meta['gender']`` alternates male / female as the real file's gendered fits.
    Keys, shapes and dtypes as mmhuman3d's HumanData writes them (``image_path`` a plain unicode array, the dicts
    pickled object arrays, uncompressed keypoints with their masks).
    """
    out_dir = Path(out_dir)
    count = num_samples + 1
    people = pose_stand_in_people(seed, [1] * count, STAND_IN_IMAGE_SIZE, body_model_dir)
    height, width = STAND_IN_IMAGE_SIZE
    focal = np.stack([scene.focal_length for scene in people.scenes])
    principal = np.stack([scene.principal_point for scene in people.scenes])
    joints = people.joints.astype(np.float64)
    pixels = joints[..., :2] / joints[..., 2:] * focal[:, None] + principal[:, None]

    keypoints_2d = np.zeros((count, HUMAN_DATA_JOINTS, 3), np.float32)
    keypoints_2d[:, :NUM_KEYPOINTS] = np.concatenate((pixels, np.ones((count, NUM_KEYPOINTS, 1))), axis=-1)
    keypoints_3d = np.zeros((count, HUMAN_DATA_JOINTS, 4), np.float32)
    keypoints_3d[:, :NUM_KEYPOINTS] = np.concatenate((joints, np.ones((count, NUM_KEYPOINTS, 1))), axis=-1)
    keypoints_3d[-1, 0, :3] = np.nan  # the pelvis of the last row: dropped by the NaN rule
    mask = np.zeros(HUMAN_DATA_JOINTS, np.float32)
    mask[:NUM_KEYPOINTS] = 1

    image_paths = [f"{_RECORDING}/{132945540000000000 + 333333 * row}_frame_{row + 1:05d}.jpg" for row in range(count)]
    for row, image_path in enumerate(image_paths):
        frame = out_dir / IMAGE_FOLDER / image_path
        frame.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(people.render(row)).save(frame, quality=90)

    parameters = people.parameters
    smplx = {
        "global_orient": parameters["global_orient"], "body_pose": parameters["body_pose"],
        "betas": parameters["betas"], "betas_neutral": parameters["betas"].copy(), "transl": parameters["transl"],
        "left_hand_pose": parameters["left_hand_pose"], "right_hand_pose": parameters["right_hand_pose"],
        "jaw_pose": parameters["jaw_pose"], "leye_pose": np.zeros((count, 3), np.float32),
        "reye_pose": np.zeros((count, 3), np.float32), "expression": parameters["expression"],
    }  # fmt: skip
    (out_dir / HUMANDATA_FILE).parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out_dir / HUMANDATA_FILE,
        image_path=np.array(image_paths),
        bbox_xywh=_boxes(pixels, 1.2, (height, width)),
        face_bbox_xywh=_boxes(pixels[:, _FACE_JOINTS], 1.0, (height, width)),
        lhand_bbox_xywh=_boxes(pixels[:, _HAND_JOINTS["left"]], 1.0, (height, width)),
        rhand_bbox_xywh=_boxes(pixels[:, _HAND_JOINTS["right"]], 1.0, (height, width)),
        keypoints2d_smplx=keypoints_2d, keypoints2d_smplx_mask=mask,
        keypoints3d_smplx=keypoints_3d, keypoints3d_smplx_mask=mask,
        smplx=smplx,
        meta={"gender": np.array(["male", "female"] * count)[:count], "focal_length": focal.astype(np.float32),
              "principal_point": principal.astype(np.float32)},
        misc={"flat_hand_mean": False, "bbox_source": "keypoints2d_smplx", "bbox_body_scale": 1.2},
        config=np.array("egobody_egocentric_test"),
        __keypoints_compressed__=np.array(False), __data_len__=np.array(count), __key_strict__=np.array(False),
    )  # fmt: skip


def _boxes(points: np.ndarray, scale: float, image_size) -> np.ndarray:
    """(N, 5) xywh + confidence 1: the points' extent scaled about its centre, clipped to the image."""
    height, width = image_size
    lower, upper = points.min(axis=1), points.max(axis=1)
    centre, half = (lower + upper) / 2, (upper - lower) * scale / 2
    lower = np.clip(centre - half, 0, [width - 1, height - 1])
    upper = np.clip(centre + half, 0, [width - 1, height - 1])
    return np.concatenate((lower, upper - lower, np.ones((len(points), 1))), axis=1).astype(np.float32)


FORMAT = BenchmarkFormat(
    name="egobody_egoset",
    title="EgoBody-EgoSet",
    split=SPLIT,
    release=(
        "EgoBody (https://sanweiliti.github.io/egobody): egocentric_color frames; the test HumanData file "
        f"{Path(HUMANDATA_FILE).name} from SMPLer-X's preprocessed-datasets table"
    ),
    required_files=required_files,
    read_rows=read_rows,
    write_stand_in=write_stand_in,
)
