"""Blend shapes of the synthetic body: 300 shape and 100 expression directions, and pose correctives.

* Shape: the first ten directions are hand-made and mean something — overall size, girth, leg length,
  shoulder width, hip width, belly, chest, head size, arm length, neck length — and the other 290 are
  random smooth, left-right symmetric fields of decaying size (like the tail of a PCA basis).
* Expression: the first ten are hand-made face movements — mouth open, smile, brows up, frown, pucker,
  mouth stretch, cheeks puffed, squint, nose wrinkle, lips pressed — and the other 90 random smooth fields;
  all move only the face (never the eyeballs).
* Pose correctives: for each of the 54 posed joints and each of the 9 entries of its rotation matrix, a
  small random smooth field, non-zero only where that joint's skinning weight blends with another's.

All directions are in metres per unit coefficient. Random fields are seeded: the same seed gives the same
arrays.
"""

import numpy as np

from ..models.smplest_x.smplx_layout import FILE_EXPRESSION_SPACE, FILE_SHAPE_SPACE, SMPLX_PARENTS
from .body_mesh import BodyMesh
from .head import MOUTH_CORNER
from .rigging import height_above_neck_cut
from .skeleton import FLOOR_HEIGHT, joint_index


NUM_POSE_FEATURES = 9 * (len(SMPLX_PARENTS) - 1)


def _gaussian(points, centre, width):
    return np.exp(-(((points - np.asarray(centre)) ** 2).sum(-1)) / (2 * width**2))


def smooth_symmetric_fields(
    points: np.ndarray, count: int, wavelength: float, rng: np.random.Generator, features: int = 48
) -> np.ndarray:
    """(V, 3, count) random smooth displacement fields, mirror-symmetric about x = 0, each scaled to a
    largest displacement of 1. Sums of random cosines of (|x|, y, z) with wavelengths around `wavelength`;
    the x component changes sign with x, so the left and right sides move as mirror images."""
    basis, coefficients = _random_cosines(points, count, wavelength, rng, features)
    return _fields(points, basis, coefficients)


def _random_cosines(points, count, wavelength, rng, features):
    """Random cosine features of (|x|, y, z) (V, features) and coefficients (features, 3 * count)."""
    mirrored = points.copy()
    mirrored[:, 0] = np.abs(points[:, 0])
    frequencies = rng.normal(0.0, 2 * np.pi / wavelength, (3, features))
    phases = rng.uniform(0.0, 2 * np.pi, features)
    coefficients = rng.normal(0.0, 1.0, (features, 3 * count)) / np.sqrt(features)
    return np.cos(mirrored @ frequencies + phases), coefficients


def _fields(points, basis, coefficients):
    fields = (basis @ coefficients).reshape(len(points), 3, -1)
    fields[:, 0] *= np.sign(points[:, 0])[:, None]
    return fields / np.maximum(np.abs(fields).max(axis=(0, 1)), 1e-12)


def _radial_offsets(mesh: BodyMesh, joints: np.ndarray) -> np.ndarray:
    """Each vertex's offset from the nearest bone next to its segment's joint: its "flesh" direction."""
    offsets = np.zeros_like(mesh.vertices)
    best = np.full(len(mesh.vertices), np.inf)
    for joint in range(len(SMPLX_PARENTS)):
        mine = mesh.segments == joint
        if not mine.any():
            continue
        bones = [(SMPLX_PARENTS[joint], joint)] if SMPLX_PARENTS[joint] >= 0 else []
        bones += [(joint, child) for child, parent in enumerate(SMPLX_PARENTS) if parent == joint]
        points = mesh.vertices[mine]
        for start, end in bones:
            a, b = joints[start], joints[end]
            t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0.0, 1.0)
            offset = points - (a + t[:, None] * (b - a))
            distance = np.linalg.norm(offset, axis=1)
            closer = distance < best[mine]
            rows = np.flatnonzero(mine)[closer]
            offsets[rows], best[rows] = offset[closer], distance[closer]
    return offsets


def shape_directions(mesh: BodyMesh, joints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, 300) shape blend shapes."""
    v = mesh.vertices
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    side = np.sign(x)
    directions = np.zeros((len(v), 3, FILE_SHAPE_SPACE))
    eyes = np.zeros(len(v), dtype=bool)
    eyes[np.concatenate((mesh.groups["left_eyeball"], mesh.groups["right_eyeball"]))] = True
    head = np.zeros(len(v), dtype=bool)
    head[mesh.groups["head"]] = True
    pelvis, hip, neck = joints[joint_index("pelvis")], joints[joint_index("left_hip")], joints[joint_index("neck")]

    directions[:, :, 0] = 0.06 * (v - pelvis)  # 0: overall size (+6 % per unit)
    flesh = np.where(eyes | head, 0.25, 1.0) * np.where(np.isin(mesh.segments, _hand_and_foot_joints()), 0.3, 1.0)
    directions[:, :, 1] = 0.14 * flesh[:, None] * _radial_offsets(mesh, joints)  # 1: girth
    below_hips = np.clip((hip[1] - y) / (hip[1] - FLOOR_HEIGHT), 0.0, 1.0)
    directions[:, 1, 2] = -0.05 * below_hips  # 2: leg length
    upper = np.clip((y + 0.05) / 0.10, 0.0, 1.0) * np.clip((np.abs(x) - 0.04) / 0.12, 0.0, 1.0)
    directions[:, 0, 3] = 0.025 * side * upper  # 3: shoulder width (arms move out with the shoulders)
    hips = np.exp(-(((y + 0.45) / 0.14) ** 2)) * np.clip(np.abs(x) / 0.15, 0.0, 1.0)
    directions[:, 0, 4] = 0.02 * side * hips  # 4: hip width
    torso = mesh.segments <= joint_index("spine3")
    front = np.clip(z / 0.1, 0.0, 1.0) * torso
    directions[:, 2, 5] = 0.035 * front * np.exp(-(((y + 0.2) / 0.1) ** 2)) * np.exp(-((x / 0.13) ** 2))  # 5: belly
    bust = _gaussian(np.abs(v), (0.085, 0.0, 0.1), 0.05) * front
    directions[:, 2, 6] = 0.03 * bust  # 6: chest
    above_neck = np.clip((y - neck[1]) / 0.08, 0.0, 1.0) * (np.abs(x) < 0.12)
    head_centre = np.array((0.0, 0.33, 0.0))
    directions[:, :, 7] = 0.06 * above_neck[:, None] * (v - head_centre)  # 7: head size
    arms = np.clip((np.abs(x) - 0.18) / 0.5, 0.0, 1.0) * (y > -0.1)
    directions[:, 0, 8] = 0.04 * side * arms  # 8: arm length
    directions[:, 1, 9] = 0.02 * np.clip((y - 0.12) / 0.1, 0.0, 1.0) * (np.abs(x) < 0.12)  # 9: neck length

    random_count = FILE_SHAPE_SPACE - 10
    fields = smooth_symmetric_fields(v, random_count, wavelength=0.7, rng=rng)
    scale = 0.012 * (10.0 / np.arange(10, FILE_SHAPE_SPACE)) ** 1.2  # decaying, like a PCA basis' tail
    directions[:, :, 10:] = fields * scale
    return directions


def _hand_and_foot_joints():
    names = ["left_wrist", "right_wrist", "left_ankle", "right_ankle", "left_foot", "right_foot"]
    fingers = [
        f"{side}_{finger}{k}"
        for side in ("left", "right")
        for finger in ("index", "middle", "pinky", "ring", "thumb")
        for k in (1, 2, 3)
    ]
    return [joint_index(name) for name in names + fingers]


def face_mask(mesh: BodyMesh, face_ids: np.ndarray) -> np.ndarray:
    """(V,) 1 on the face, fading to 0 towards the ears, the crown and the face set's (FLAME's) lower edge,
    0 off the face set and on the eyeballs."""
    v = mesh.vertices
    mask = np.zeros(len(v))
    head = np.intersect1d(mesh.groups["head"], face_ids)
    y, z = v[head, 1], v[head, 2]
    above_edge = height_above_neck_cut(v[head]) - height_above_neck_cut(v[head]).min()
    front = np.clip((z + 0.005) / 0.04, 0.0, 1.0)
    mask[head] = front * np.clip(above_edge / 0.02, 0.0, 1.0) * np.clip((0.405 - y) / 0.025, 0.0, 1.0)
    return mask


def expression_directions(
    mesh: BodyMesh, joints: np.ndarray, weights: np.ndarray, face_ids: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(V, 3, 100) expression blend shapes, zero off the face (`face_ids`, the FLAME vertex set)."""
    v = mesh.vertices
    x = v[:, 0]
    side = np.sign(x)
    mask = face_mask(mesh, face_ids)
    directions = np.zeros((len(v), 3, FILE_EXPRESSION_SPACE))
    jaw = joints[joint_index("jaw")]
    jaw_weight = weights[:, joint_index("jaw")]
    directions[:, :, 0] = jaw_weight[:, None] * np.cross((0.12, 0.0, 0.0), v - jaw)  # 0: mouth opens (jaw drops)
    corners = _gaussian(np.abs(v), np.abs(MOUTH_CORNER), 0.012)
    directions[:, 0, 1], directions[:, 1, 1], directions[:, 2, 1] = (
        0.004 * side * corners,
        0.005 * corners,
        -0.003 * corners,
    )  # 1: smile
    brows = _gaussian(np.abs(v), (0.035, 0.357, 0.088), 0.016)
    directions[:, 1, 2] = 0.006 * brows  # 2: brows up
    inner_brows = _gaussian(np.abs(v), (0.018, 0.352, 0.092), 0.012)
    directions[:, 0, 3], directions[:, 1, 3] = -0.003 * side * inner_brows, -0.003 * inner_brows  # 3: frown
    lips = _gaussian(v, (0.0, 0.257, 0.095), 0.014)
    directions[:, 0, 4], directions[:, 2, 4] = -0.005 * side * lips * np.abs(x) / 0.02, 0.006 * lips  # 4: pucker
    directions[:, 0, 5] = 0.005 * side * corners  # 5: mouth stretch
    cheeks = _gaussian(np.abs(v), (0.048, 0.285, 0.06), 0.016)
    directions[:, 0, 6], directions[:, 2, 6] = 0.005 * side * cheeks, 0.004 * cheeks  # 6: cheeks puffed
    under_eyes = _gaussian(np.abs(v), (0.032, 0.322, 0.08), 0.01)
    directions[:, 1, 7] = 0.003 * under_eyes - 0.002 * brows  # 7: squint
    nose = _gaussian(v, (0.0, 0.305, 0.1), 0.012)
    directions[:, 1, 8] = 0.0025 * nose  # 8: nose wrinkle
    upper_lip, lower_lip = _gaussian(v, (0.0, 0.262, 0.097), 0.01), _gaussian(v, (0.0, 0.251, 0.095), 0.01)
    directions[:, 1, 9] = -0.0012 * upper_lip + 0.0012 * lower_lip  # 9: lips pressed
    fields = smooth_symmetric_fields(v, FILE_EXPRESSION_SPACE - 10, wavelength=0.06, rng=rng)
    directions[:, :, 10:] = fields * (0.0025 * (10.0 / np.arange(10, FILE_EXPRESSION_SPACE)) ** 0.8)
    return directions * mask[:, None, None]


def pose_directions(mesh: BodyMesh, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, 486) float32 pose correctives: feature 9 (j - 1) + k (entry k of joint j's rotation minus the
    identity) moves vertices by at most 4 mm per unit, only where joint j's weight is strictly between 0
    and 1 (where it blends with a neighbour's)."""
    basis, coefficients = _random_cosines(mesh.vertices, NUM_POSE_FEATURES, 0.15, rng, 48)
    directions = np.zeros((len(mesh.vertices), 3, NUM_POSE_FEATURES), dtype=np.float32)
    for joint in range(1, len(SMPLX_PARENTS)):
        blend = 4.0 * weights[:, joint] * (1.0 - weights[:, joint])  # 1 where the weight is 1/2
        rows = np.flatnonzero(blend > 0)
        if len(rows) == 0:
            continue
        columns = np.arange(9 * (joint - 1), 9 * joint)
        picked = coefficients.reshape(-1, 3, NUM_POSE_FEATURES)[:, :, columns].reshape(len(coefficients), -1)
        fields = _fields(mesh.vertices[rows], basis[rows], picked)
        directions[np.ix_(rows, np.arange(3), columns)] = 0.004 * fields * blend[rows, None, None]
    return directions


def gendered_template(mesh: BodyMesh, shapes: np.ndarray, gender: str) -> np.ndarray:
    """The rest mesh of a gender: the neutral one moved along the hand-made shape directions."""
    coefficients = {
        "neutral": {},
        "male": {0: 0.5, 1: 0.2, 3: 0.9, 4: -0.6, 6: -0.3, 9: 0.3},
        "female": {0: -0.7, 1: -0.3, 3: -0.9, 4: 1.0, 6: 1.2, 7: -0.3},
    }[gender]
    template = mesh.vertices.copy()
    for component, value in coefficients.items():
        template = template + value * shapes[:, :, component]
    return template
