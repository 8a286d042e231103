"""The synthetic body's skeleton: a rest pose of SMPL-X's joints with human proportions.

Coordinates are SMPL-X's: metres, y up, the person faces +z, their left is +x, rest pose a T-pose with the
palms down. The origin sits in the chest as in SMPL-X, so the pelvis is about 0.35 m below it, the soles about
1.27 m below it and the top of the head about 0.45 m above it (a 1.72 m adult).

Only the left side is written down; the right side is its mirror image (x -> -x).

>>> joints = rest_joints()
>>> joints.shape
(55, 3)
>>> bool(joints[SMPLX_JOINT_NAMES.index("left_wrist"), 0] > 0.6)
True
"""

import numpy as np

from ..models.smplest_x.smplx_layout import SMPLX_FINGER_NAMES, SMPLX_JOINT_NAMES, mirror_name


ROOT_PARENT_IN_FILE = 4294967295  # how the official files store the root's missing parent (uint32 max)

FLOOR_HEIGHT = -1.272  # y of the soles

# Left-side and mid-line joints of the body, head and eyes (x >= 0).
_BODY_JOINTS = {
    "pelvis": (0.0, -0.350, 0.005),
    "left_hip": (0.083, -0.440, -0.005),
    "spine1": (0.0, -0.230, -0.022),
    "left_knee": (0.103, -0.825, 0.002),
    "spine2": (0.0, -0.100, -0.025),
    "left_ankle": (0.090, -1.192, -0.045),
    "spine3": (0.0, -0.045, -0.022),
    "left_foot": (0.112, -1.252, 0.082),
    "neck": (0.0, 0.160, -0.030),
    "left_collar": (0.070, 0.085, -0.022),
    "head": (0.0, 0.245, -0.012),
    "left_shoulder": (0.178, 0.095, -0.028),
    "left_elbow": (0.440, 0.078, -0.040),
    "left_wrist": (0.690, 0.072, -0.032),
    "jaw": (0.0, 0.284, 0.008),
    "left_eye_smplhf": (0.032, 0.336, 0.066),
}

# Hand geometry in hand coordinates (metres from the wrist joint): u along the hand (away from the body),
# v towards the back of the hand (up, the palm faces down), w towards the thumb (forwards, +z).
# finger -> (knuckle position, direction, phalanx lengths (the last one ends at the finger tip), radius)
HAND_FINGERS = {
    "index": ((0.089, -0.002, 0.024), (1.0, -0.03, 0.06), (0.040, 0.024, 0.022), 0.0090),
    "middle": ((0.093, -0.002, 0.003), (1.0, -0.03, 0.0), (0.045, 0.028, 0.024), 0.0093),
    "ring": ((0.088, -0.002, -0.017), (1.0, -0.03, -0.06), (0.042, 0.027, 0.023), 0.0086),
    "pinky": ((0.080, -0.003, -0.035), (1.0, -0.03, -0.13), (0.033, 0.020, 0.021), 0.0076),
}
# The thumb: its first joint (carpometacarpal) sits inside the ball of the thumb.
HAND_THUMB_JOINTS = ((0.024, -0.012, 0.020), (0.054, -0.018, 0.047), (0.083, -0.021, 0.063))
HAND_THUMB_TIP = (0.108, -0.022, 0.073)
HAND_THUMB_RADIUS = 0.0105


def joint_index(name: str) -> int:
    return SMPLX_JOINT_NAMES.index(name)


MIRRORED_JOINT = np.array([joint_index(mirror_name(name)) for name in SMPLX_JOINT_NAMES], dtype=np.int64)
"""(55,) the index of each joint's mirror image (itself on the mid-line)."""


def hand_to_world(points, side: float = 1.0) -> np.ndarray:
    """Hand coordinates (u, v, w) of the left hand -> world coordinates (the right hand with ``side=-1``)."""
    points = np.asarray(points, dtype=np.float64)
    wrist = np.array(_BODY_JOINTS["left_wrist"])
    world = wrist + points
    world[..., 0] *= side
    return world


def finger_joint_positions(finger: str) -> np.ndarray:
    """(4, 3) hand coordinates of a finger's three joints and its tip (left hand)."""
    if finger == "thumb":
        return np.array(HAND_THUMB_JOINTS + (HAND_THUMB_TIP,))
    knuckle, direction, lengths, _ = HAND_FINGERS[finger]
    direction = np.asarray(direction) / np.linalg.norm(direction)
    distances = np.concatenate(([0.0], np.cumsum(lengths)))
    return np.asarray(knuckle) + distances[:, None] * direction


def rest_joints() -> np.ndarray:
    """(55, 3) float64 rest-pose joint positions in SMPL-X order."""
    joints = np.zeros((len(SMPLX_JOINT_NAMES), 3))
    for name, position in _BODY_JOINTS.items():
        joints[joint_index(name)] = position
        joints[joint_index(mirror_name(name))] = (-position[0], position[1], position[2])
    for finger in SMPLX_FINGER_NAMES:
        positions = hand_to_world(finger_joint_positions(finger)[:3])
        for k in range(3):
            name = f"left_{finger}{k + 1}"
            joints[joint_index(name)] = positions[k]
            joints[joint_index(mirror_name(name))] = positions[k] * (-1.0, 1.0, 1.0)
    return joints
