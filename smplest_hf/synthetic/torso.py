"""The torso: a stack of rounded rings from the crotch to the shoulders, and the openings the legs, arms and
neck grow out of.

The bottom ring is split by a chain of vertices through the crotch into two openings, one per leg; the top
ring, which dips under the arms, is split by two chains over the shoulders into an opening per arm and one
for the neck. Each opening runs counter-clockwise around the direction its limb grows in.
"""

from dataclasses import dataclass

import numpy as np

from .mesh_parts import MeshPart, smoothstep
from .skeleton import joint_index, rest_joints


RING_SIZE = 40  # vertices per torso ring; vertex 0 is at the front, 10 at the left side, 20 at the back
RING_COUNT = 24
BOTTOM_Y, TOP_Y = -0.475, 0.125
ARMPIT_DIP = 0.095  # how far the top ring drops at the sides, where the arms leave the torso
SHOULDER_WEB = 4  # the shoulder chains start at ring vertex 4 (front) and end at 16 (back), and mirrored
WEB_VERTICES = 3  # interior vertices of each crotch or shoulder chain

# Cross-section keyframes by height: half width, front depth, back depth (from the centre), centre z,
# superellipse exponent (2 = ellipse; more = boxier).
_SECTION_KEYS = np.array([
    # y       width  front  back   centre  exponent
    [-0.475, 0.158, 0.080, 0.095, -0.005, 2.4],
    [-0.420, 0.170, 0.088, 0.108, -0.005, 2.5],
    [-0.350, 0.166, 0.090, 0.100, -0.008, 2.5],
    [-0.280, 0.152, 0.088, 0.082, -0.010, 2.4],
    [-0.200, 0.138, 0.086, 0.075, -0.012, 2.3],
    [-0.120, 0.144, 0.092, 0.078, -0.014, 2.3],
    [-0.040, 0.158, 0.101, 0.082, -0.016, 2.4],
    [0.030, 0.162, 0.100, 0.088, -0.018, 2.5],
    [0.080, 0.150, 0.090, 0.090, -0.020, 2.6],
    [0.125, 0.122, 0.076, 0.085, -0.022, 2.6],
])  # fmt: skip


@dataclass
class Torso:
    part: MeshPart
    left_leg_opening: np.ndarray  # counter-clockwise around -y (the legs grow downwards)
    right_leg_opening: np.ndarray
    left_arm_opening: np.ndarray  # counter-clockwise around the arm's outward direction
    right_arm_opening: np.ndarray
    neck_opening: np.ndarray  # counter-clockwise around +y


def smooth_interp(x, xp, fp) -> np.ndarray:
    """Monotone-free cubic (Catmull-Rom) interpolation of samples `fp` at increasing `xp`, clamped at the ends."""
    x = np.clip(np.asarray(x, dtype=np.float64), xp[0], xp[-1])
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    t = (x - xp[k]) / (xp[k + 1] - xp[k])
    fp = np.asarray(fp, dtype=np.float64)
    f0, f1, f2, f3 = fp[np.maximum(k - 1, 0)], fp[k], fp[k + 1], fp[np.minimum(k + 2, len(fp) - 1)]
    h = xp[k + 1] - xp[k]
    # tangents scaled to the local spacing so unequal keyframe gaps do not overshoot
    m1 = (f2 - f0) / (xp[k + 1] - xp[np.maximum(k - 1, 0)] + 1e-12) * h
    m2 = (f3 - f1) / (xp[np.minimum(k + 2, len(xp) - 1)] - xp[k] + 1e-12) * h
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * f1 + (t3 - 2 * t2 + t) * m1 + (-2 * t3 + 3 * t2) * f2 + (t3 - t2) * m2


def torso_section(y, sin_theta, cos_theta) -> np.ndarray:
    """Points (n, 3) of the torso surface at heights `y` in the directions (sin, cos) = (x, z) around it."""
    keys = _SECTION_KEYS
    width, front, back, centre, exponent = (smooth_interp(y, keys[:, 0], keys[:, c]) for c in range(1, 6))
    power = 2.0 / exponent
    depth = np.where(cos_theta > 0, front, back)
    x = width * np.sign(sin_theta) * np.abs(sin_theta) ** power
    z = centre + depth * np.sign(cos_theta) * np.abs(cos_theta) ** power
    return np.stack((x, np.asarray(y, dtype=np.float64) * np.ones_like(x), z), axis=1)


def _ring_directions():
    """sin and cos of the ring angles, exactly mirror-symmetric (vertex j <-> RING_SIZE - j)."""
    half = np.arange(RING_SIZE // 2 + 1)
    theta = 2 * np.pi * half / RING_SIZE
    sin_half, cos_half = np.sin(theta), np.cos(theta)
    sin_half[-1] = 0.0
    sin_full = np.concatenate((sin_half, -sin_half[1:-1][::-1]))
    cos_full = np.concatenate((cos_half, cos_half[1:-1][::-1]))
    return sin_full, cos_full


def _segment_of_height(y) -> np.ndarray:
    """The spine joint that moves torso points at heights `y` (each joint moves what lies above it)."""
    joints = rest_joints()
    names = ("pelvis", "spine1", "spine2", "spine3")
    heights = np.array([joints[joint_index(name), 1] for name in names[1:]])
    return np.array([joint_index(name) for name in names])[np.searchsorted(heights, y)]


def build_torso() -> Torso:
    part = MeshPart()
    sin_theta, cos_theta = _ring_directions()
    side = sin_theta**2  # 1 at the sides, 0 at the front and back: where the armpits pull the top ring down
    rings = []
    for k, s in enumerate(np.linspace(0.0, 1.0, RING_COUNT)):
        y = BOTTOM_Y + s * (TOP_Y - BOTTOM_Y) - ARMPIT_DIP * smoothstep(0.55, 1.0, s) * side
        points = torso_section(y, sin_theta, cos_theta)
        rings.append(part.add(points, _segment_of_height(y)))
        if k:
            part.strip(rings[-2], rings[-1], (0, 1, 0))
    bottom, top = rings[0], rings[-1]
    n = RING_SIZE

    # Crotch: a chain from the front centre to the back centre, slightly below the bottom ring.
    t = np.arange(1, WEB_VERTICES + 1) / (WEB_VERTICES + 1)
    front, back = part.positions(bottom[0]), part.positions(bottom[n // 2])
    crotch_points = front + t[:, None] * (back - front) - np.outer(np.sin(np.pi * t), (0.0, 0.018, 0.0))
    crotch = part.add(crotch_points, joint_index("pelvis"))  # front to back
    left_leg = np.concatenate((bottom[n // 2 :: -1], crotch))
    right_leg = np.concatenate((bottom[[0, *range(n - 1, n // 2 - 1, -1)]], crotch[::-1]))

    # Shoulders: a chain from a front vertex to a back vertex over each shoulder, arched upwards.
    chains = {}
    for side_name, (front_index, back_index) in (
        ("left", (SHOULDER_WEB, n // 2 - SHOULDER_WEB)),
        ("right", (n - SHOULDER_WEB, n // 2 + SHOULDER_WEB)),
    ):
        front, back = part.positions(top[front_index]), part.positions(top[back_index])
        sign = 1.0 if side_name == "left" else -1.0
        arch = np.outer(np.sin(np.pi * t), (0.012 * sign, 0.055, 0.0))
        chains[side_name] = part.add(front + t[:, None] * (back - front) + arch, joint_index(f"{side_name}_collar"))
    w = SHOULDER_WEB
    left_arm = np.concatenate((top[w : n // 2 - w + 1], chains["left"][::-1]))
    right_arm = np.concatenate((top[n // 2 + w : n - w + 1], chains["right"]))
    neck = np.concatenate(
        (top[n // 2 - w : n // 2 + w + 1], chains["right"][::-1], top[np.r_[n - w : n, 0 : w + 1]], chains["left"])
    )
    return Torso(part, left_leg, right_leg, left_arm, right_arm, neck)
