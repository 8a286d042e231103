"""Legs with feet, and arms up to the wrist, of the left side (the right side is their mirror image).

A leg is a tube swept from the crotch opening of the torso down to the ankle; the foot is a surface found by
casting rays from a point inside it onto a union of rounded shapes (heel, sole, instep, ball and five toes)
cut flat by the floor. An arm is a tube swept from the shoulder opening to the wrist.
"""

import numpy as np

from .mesh_parts import (
    Capsule,
    Ellipsoid,
    MeshPart,
    density_angles,
    loop_normal,
    resample_path,
    smooth_union,
    star_patch,
    sweep,
    union_distance,
)
from .skeleton import FLOOR_HEIGHT, joint_index, rest_joints
from .torso import smooth_interp


def elliptic_radius(directions, width_axis, depth_axis, width, depth_front, depth_back):
    """Radius of an ellipse-like section in unit `directions`: semi-axis `width` along `width_axis`, and a
    different depth in front of (`depth_front`) and behind (`depth_back`) the centre along `depth_axis`."""
    along_width = directions @ np.asarray(width_axis, dtype=np.float64)
    along_depth = directions @ np.asarray(depth_axis, dtype=np.float64)
    depth = np.where(along_depth > 0, depth_front, depth_back)
    return 1.0 / np.sqrt((along_width / width) ** 2 + (along_depth / depth) ** 2)


def _segment_by_position(values, boundaries, joints):
    """joints[i] for values beyond boundaries[i-1] (boundaries increasing)."""
    return np.asarray(joints)[np.searchsorted(boundaries, values)]


# ------------------------------------------------------------------------------------------------- legs
# Leg cross-section by height: half width (x), front depth, back depth (z).
_LEG_KEYS = np.array([
    # y      width  front  back
    [-1.130, 0.034, 0.034, 0.040],
    [-1.060, 0.038, 0.036, 0.047],
    [-0.960, 0.049, 0.045, 0.062],
    [-0.890, 0.050, 0.047, 0.055],
    [-0.830, 0.052, 0.054, 0.050],
    [-0.770, 0.057, 0.060, 0.054],
    [-0.680, 0.068, 0.068, 0.066],
    [-0.580, 0.080, 0.078, 0.078],
    [-0.500, 0.086, 0.084, 0.088],
])  # fmt: skip
LEG_SPACING = 0.030
ANKLE_RING_Y = -1.130


def _foot_shapes():
    """(shape, fillet, carve) list of the left foot's building blocks (and the bottom of the shin)."""
    floor = FLOOR_HEIGHT
    ankle = rest_joints()[joint_index("left_ankle")]
    shapes = [
        (Ellipsoid((0.088, floor + 0.036, -0.052), (0.032, 0.038, 0.042)), 0.0, False),  # heel
        (Ellipsoid((0.100, floor + 0.030, 0.035), (0.040, 0.032, 0.095)), 0.015, False),  # sole
        (Capsule(ankle, (0.104, floor + 0.028, 0.090), 0.036, 0.020), 0.02, False),  # instep
        (Ellipsoid((0.108, floor + 0.021, 0.092), (0.047, 0.021, 0.038)), 0.012, False),  # ball of the foot
        (Capsule(ankle + (0, -0.01, 0), ankle + (0, 0.13, 0.006), 0.035, 0.040), 0.02, False),  # shin
    ]
    toes = (  # base, tip, radius: big toe (inner side) to little toe
        ((0.083, floor + 0.019, 0.112), (0.081, floor + 0.015, 0.158), 0.0135),
        ((0.103, floor + 0.015, 0.116), (0.105, floor + 0.011, 0.151), 0.0098),
        ((0.118, floor + 0.014, 0.113), (0.121, floor + 0.010, 0.143), 0.0093),
        ((0.132, floor + 0.013, 0.108), (0.136, floor + 0.010, 0.135), 0.0088),
        ((0.145, floor + 0.012, 0.101), (0.149, floor + 0.009, 0.124), 0.0082),
    )
    shapes += [(Capsule(base, tip, radius, radius * 0.92), 0.005, False) for base, tip, radius in toes]
    return shapes


_FOOT_SHAPES = _foot_shapes()


def _foot_sdf(points: np.ndarray) -> np.ndarray:
    """Signed distance (approximate) to the left foot and the bottom of the shin, cut flat by the floor."""
    body = union_distance(points, _FOOT_SHAPES)
    below_floor = FLOOR_HEIGHT - points[..., 1]
    return -smooth_union(-body, -below_floor, 0.004)  # smooth maximum: intersect with the half-space above


FOOT_STRETCH = (0.05, 0.045, 0.12)  # rough half-size of the foot: spreads the foot's rings evenly
TOE_TIPS = {
    "big_toe": (0.081, FLOOR_HEIGHT + 0.015, 0.158 + 0.0135),
    "small_toe": (0.149, FLOOR_HEIGHT + 0.009, 0.124 + 0.0082),
}


def build_left_leg(opening_points: np.ndarray) -> MeshPart:
    """The left leg and foot grown from the torso's left crotch opening (given as points, in order).

    Groups: ``opening`` (the first ring, to be merged with the torso's). Marks: ``big_toe``, ``small_toe``,
    ``heel``.
    """
    joints = rest_joints()
    hip, knee, ankle, foot = (joints[joint_index(f"left_{name}")] for name in ("hip", "knee", "ankle", "foot"))
    part = MeshPart()
    opening = part.add(opening_points, joint_index("left_hip"))
    part.groups["opening"] = opening
    start = opening_points.mean(axis=0)
    control = [
        start,
        (0.093, -0.60, 0.002),
        (0.100, -0.72, 0.004),
        knee + (0, 0, 0.004),
        (0.098, -0.95, -0.014),
        (0.092, -1.06, -0.034),
        (ankle[0], ANKLE_RING_Y, ankle[2] + 0.002),
    ]
    centers, tangents = resample_path(
        control, LEG_SPACING, start_tangent=loop_normal(opening_points), end_tangent=(0, -1, 0)
    )
    keys = _LEG_KEYS

    def radius(k, directions):
        y = centers[k, 1]
        width, front, back = (smooth_interp(y, keys[:, 0], keys[:, c]) for c in (1, 2, 3))
        return elliptic_radius(directions, (1, 0, 0), (0, 0, 1), width, front, back)

    leg_joints = [joint_index(f"left_{name}") for name in ("ankle", "knee", "hip")]

    def joint(k):
        return int(_segment_by_position(centers[k, 1], [ankle[1], knee[1]], leg_joints))

    rings = sweep(part, opening, centers, tangents, radius, joint, blend_rings=4)

    # The foot: rays from a point inside it; the first ring wraps the shin just above the ankle.
    origin = np.array((0.104, FLOOR_HEIGHT + 0.040, 0.030))
    towards_shin = (ankle + (0, 0.10, 0)) - origin
    end_axis = -towards_shin / np.linalg.norm(towards_shin)  # the last vertex is in the sole
    ring_sizes = (24, 30, 34, 36, 36, 36, 36, 36, 32, 26, 20, 12, 6)
    polar = np.radians(np.linspace(150.0, 13.0, len(ring_sizes)))
    foot_rings = []
    for size, angle in zip(ring_sizes, polar):
        azimuths = density_angles(size, focus=0.0, boost=0.8, width=0.8)  # denser at the toes
        foot_rings.append((azimuths, np.full(size, angle)))

    def foot_joint(points):
        return np.where(points[:, 2] > foot[2] - 0.012, joint_index("left_foot"), joint_index("left_ankle"))

    indices = star_patch(
        part, _foot_sdf, origin, end_axis, (0, 0, 1), foot_rings, foot_joint, max_distance=0.3, stretch=FOOT_STRETCH
    )
    ankle_axis = part.positions(indices[0]).mean(axis=0) - part.positions(rings[-1]).mean(axis=0)
    part.strip(rings[-1], indices[0], ankle_axis)
    part.groups["ankle_ring"] = rings[-1]
    foot_vertices = np.concatenate(indices)
    points = part.positions(foot_vertices)
    for name, tip in TOE_TIPS.items():
        part.marks[name] = int(foot_vertices[np.argmin(np.linalg.norm(points - tip, axis=1))])
    low = np.flatnonzero(points[:, 1] < FLOOR_HEIGHT + 0.025)
    part.marks["heel"] = int(foot_vertices[low[np.argmin(points[low, 2])]])  # the back of the heel, near the floor
    return part


# ------------------------------------------------------------------------------------------------- arms
# Arm cross-section by distance from the body: half width (z), top and bottom thickness (y).
_ARM_KEYS = np.array([
    # x      width  top    bottom
    [0.170, 0.056, 0.058, 0.050],
    [0.240, 0.050, 0.050, 0.046],
    [0.330, 0.043, 0.043, 0.044],
    [0.410, 0.038, 0.037, 0.037],
    [0.450, 0.039, 0.036, 0.036],
    [0.510, 0.041, 0.037, 0.035],
    [0.600, 0.035, 0.029, 0.028],
    [0.675, 0.030, 0.021, 0.020],
    [0.690, 0.030, 0.020, 0.019],
])  # fmt: skip
ARM_SPACING = 0.024


def build_left_arm(opening_points: np.ndarray) -> MeshPart:
    """The left arm from the torso's shoulder opening (given as points, in order) to the wrist.

    Groups: ``opening`` (merged with the torso's), ``wrist_ring`` (the last ring, where the hand starts).
    """
    joints = rest_joints()
    shoulder, elbow, wrist = (joints[joint_index(f"left_{name}")] for name in ("shoulder", "elbow", "wrist"))
    part = MeshPart()
    opening = part.add(opening_points, joint_index("left_collar"))
    part.groups["opening"] = opening
    start = opening_points.mean(axis=0)
    control = [start, shoulder + (0.012, 0.004, 0.0), (0.31, 0.087, -0.035), elbow, (0.565, 0.074, -0.036), wrist]
    centers, tangents = resample_path(
        control, ARM_SPACING, start_tangent=loop_normal(opening_points), end_tangent=(1, 0, 0)
    )
    keys = _ARM_KEYS

    def radius(k, directions):
        x = centers[k, 0]
        width, top, bottom = (smooth_interp(x, keys[:, 0], keys[:, c]) for c in (1, 2, 3))
        return elliptic_radius(directions, (0, 0, 1), (0, 1, 0), width, top, bottom)

    arm_joints = [joint_index(f"left_{name}") for name in ("collar", "shoulder", "elbow")]

    def joint(k):
        return int(_segment_by_position(centers[k, 0], [shoulder[0] - 0.01, elbow[0]], arm_joints))

    rings = sweep(part, opening, centers, tangents, radius, joint, blend_rings=3)
    part.groups["wrist_ring"] = rings[-1]
    return part
