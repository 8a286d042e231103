"""Neck, head and face, the eyeballs, and where the face landmarks sit.

The head is a surface found by casting rays from a point inside it onto a union of rounded shapes (cranium,
forehead, cheeks, jaw, chin, nose, lips, ears, neck) with the eye sockets carved out. Rays are arranged in
rings about the vertical: slanted rings around the neck, then evenly spaced rings over the face (denser
towards the front, where the features are) and sparser rings up to a last vertex on top of the head.

Two rings meet at the lips; the quads between them across the front are left open, so the mouth is a real
slit that the jaw opens (the only hole in the body; its boundary has 32 edges, which is what makes the
vertex and face counts come out as SMPL-X's). Each eye is a separate sphere in its socket.
"""

from dataclasses import dataclass

import numpy as np

from .mesh_parts import (
    Capsule,
    Ellipsoid,
    MeshPart,
    cast_rays,
    density_angles,
    normalize,
    smoothstep,
    star_patch,
    union_distance,
)
from .skeleton import joint_index, rest_joints


HEAD_ORIGIN = np.array((0.0, 0.300, -0.010))  # rays start here; every head point is visible from it
FACE_RING_SIZE = 82
MOUTH_HOLE_QUADS = 15  # open quads between the lips; the hole's boundary has 2 * 15 + 2 = 32 edges
_AZIMUTH_BOOST, _AZIMUTH_WIDTH = 2.6, 0.72  # vertices ~3.6 times denser at the front of the face than behind
_FACE_RING_STEP = np.radians(2.4)
_MOUTH_GAP = np.radians(0.55)  # half the angle between the lips at rest: a slit of about 2 mm
MOUTH_CENTRE = np.array((0.0, 0.2565, 0.097))
MOUTH_CORNER = np.array((0.025, 0.2570, 0.087))
EYEBALL_RADIUS = 0.0118
EYEBALL_RING_SIZE, EYEBALL_RING_COUNT = 32, 17  # 2 + 17 * 32 = 546 vertices per eye, as in SMPL-X


def _head_shapes():
    """(shape, fillet, carve) list of the head's building blocks, in the order they are combined."""
    shapes = [
        (Ellipsoid((0.0, 0.352, -0.012), (0.074, 0.098, 0.096)), 0.0, False),  # cranium
        (Ellipsoid((0.0, 0.368, 0.018), (0.063, 0.072, 0.068)), 0.03, False),  # forehead
        (Ellipsoid((0.0, 0.300, 0.028), (0.060, 0.064, 0.062)), 0.03, False),  # mid-face
        (Ellipsoid((0.0, 0.262, 0.036), (0.050, 0.044, 0.052)), 0.02, False),  # lower face
    ]
    for side in (1.0, -1.0):
        angle = (0.057 * side, 0.248, 0.004)
        shapes += [
            (Capsule((0.060 * side, 0.292, -0.006), angle, 0.011), 0.025, False),  # ramus of the jaw
            (Capsule(angle, (0.014 * side, 0.222, 0.070), 0.011, 0.013), 0.025, False),  # jaw line
            (Ellipsoid((0.044 * side, 0.300, 0.056), (0.026, 0.024, 0.026)), 0.03, False),  # cheek
        ]
    shapes += [
        (Ellipsoid((0.0, 0.230, 0.070), (0.022, 0.019, 0.018)), 0.018, False),  # chin
        (Capsule((0.0, 0.10, -0.028), (0.0, 0.30, -0.020), 0.056), 0.025, False),  # neck
        (Ellipsoid((0.0, 0.357, 0.068), (0.058, 0.014, 0.022)), 0.025, False),  # brow ridge
        (Capsule((0.0, 0.340, 0.083), (0.0, 0.304, 0.104), 0.0075, 0.0095), 0.01, False),  # nose bridge
        (Ellipsoid((0.0, 0.298, 0.105), (0.0125, 0.0125, 0.0125)), 0.008, False),  # nose tip
        (Ellipsoid((0.0135, 0.2905, 0.095), (0.0085, 0.0085, 0.0085)), 0.008, False),  # nostrils
        (Ellipsoid((-0.0135, 0.2905, 0.095), (0.0085, 0.0085, 0.0085)), 0.008, False),
        (Ellipsoid((0.0, 0.2625, 0.088), (0.024, 0.0075, 0.011)), 0.004, False),  # upper lip
        (Ellipsoid((0.0, 0.2505, 0.086), (0.022, 0.0075, 0.010)), 0.004, False),  # lower lip
    ]
    for side in (1.0, -1.0):
        shapes += [
            (Ellipsoid((0.076 * side, 0.322, -0.014), (0.013, 0.031, 0.019)), 0.008, False),  # ear
            (Ellipsoid((0.032 * side, 0.337, 0.087), (0.0165, 0.0150, 0.0165)), 0.009, True),  # eye socket
        ]
    return shapes


_HEAD_SHAPES = _head_shapes()


def head_sdf(points: np.ndarray) -> np.ndarray:
    """Approximate signed distance to the head and neck (negative inside)."""
    return union_distance(points, _HEAD_SHAPES)


def _direction_angles(points):
    """(azimuth from +z towards +x, polar angle from +y) of points seen from the head origin."""
    offsets = np.asarray(points, dtype=np.float64) - HEAD_ORIGIN
    azimuth = np.arctan2(offsets[..., 0], offsets[..., 2])
    polar = np.arccos(offsets[..., 1] / np.linalg.norm(offsets, axis=-1))
    return azimuth, polar


def _signed(azimuths):
    return np.mod(azimuths + np.pi, 2 * np.pi) - np.pi


@dataclass
class HeadLayout:
    """The rings of the head in building order, as (azimuths, polar angles); which pair meets at the lips."""

    rings: list
    lower_lip_ring: int
    upper_lip_ring: int
    hole_quads: np.ndarray


def head_layout(extra_top_vertices: int = 0) -> HeadLayout:
    """Ring layout; `extra_top_vertices` are spread over the rings above the forehead (vertex budget)."""
    face_azimuths = density_angles(FACE_RING_SIZE, 0.0, _AZIMUTH_BOOST, _AZIMUTH_WIDTH)
    signed = _signed(face_azimuths)
    _, mouth_polar = _direction_angles(MOUTH_CENTRE)
    corner_azimuth, corner_polar = _direction_angles(MOUTH_CORNER)
    half = MOUTH_HOLE_QUADS // 2
    hole_quads = np.r_[FACE_RING_SIZE - half - 1 : FACE_RING_SIZE, 0:half]
    hole_edge = face_azimuths[half]  # the azimuth of the mouth's corners on the mesh
    if abs(hole_edge - corner_azimuth) > np.radians(2.5):
        raise AssertionError("the mouth hole does not match the lips' width")
    # the lips' meeting line, slightly lower towards the corners; lips close together across the mouth
    lip_line = mouth_polar + (corner_polar - mouth_polar) * np.minimum((signed / hole_edge) ** 2, 1.0)
    gap = _MOUTH_GAP + (0.5 * _FACE_RING_STEP - _MOUTH_GAP) * smoothstep(
        hole_edge, hole_edge + np.radians(14), np.abs(signed)
    )

    rings = []
    for count, front, back in ((40, 164.0, 150.0), (52, 158.0, 147.0), (64, 152.5, 144.5), (76, 147.5, 142.0)):
        azimuths = density_angles(count, 0.0, _AZIMUTH_BOOST, _AZIMUTH_WIDTH)
        blend = 0.5 * (1.0 + np.cos(azimuths))  # 1 at the front, 0 at the back
        rings.append((azimuths, np.radians(back + (front - back) * blend)))
    below = int(np.floor((np.radians(139.5) - mouth_polar) / _FACE_RING_STEP - 0.5))
    above = int(np.floor((mouth_polar - np.radians(36.0)) / _FACE_RING_STEP - 0.5))
    for k in range(below, 0, -1):
        rings.append((face_azimuths, np.full(FACE_RING_SIZE, mouth_polar + (k + 0.5) * _FACE_RING_STEP)))
    lower_lip = len(rings)
    rings.append((face_azimuths, lip_line + gap))
    rings.append((face_azimuths, lip_line - gap))
    for k in range(1, above + 1):
        rings.append((face_azimuths, np.full(FACE_RING_SIZE, mouth_polar - (k + 0.5) * _FACE_RING_STEP)))
    last_face_polar = mouth_polar - (above + 0.5) * _FACE_RING_STEP
    top_polar = np.linspace(last_face_polar, 0.0, 8)[1:-1]
    counts = np.maximum(6, np.round(FACE_RING_SIZE * np.sin(top_polar) / np.sin(last_face_polar))).astype(int)
    counts += extra_top_vertices // len(counts) + (np.arange(len(counts)) < extra_top_vertices % len(counts))
    for count, polar in zip(counts, top_polar):
        rings.append(
            (
                density_angles(int(count), 0.0, _AZIMUTH_BOOST * polar / last_face_polar, _AZIMUTH_WIDTH),
                np.full(int(count), polar),
            )
        )
    return HeadLayout(rings, lower_lip, lower_lip + 1, hole_quads)


NECK_BRIDGE_SIZE = 32  # vertices of the ring between the torso's neck opening and the first head ring


def head_vertex_count(extra_top_vertices: int = 0) -> int:
    """Vertices `build_head` adds (besides the opening it grows from)."""
    return sum(len(azimuths) for azimuths, _ in head_layout(extra_top_vertices).rings) + 1 + NECK_BRIDGE_SIZE


def _head_joints(points: np.ndarray, below_lips: np.ndarray) -> np.ndarray:
    """Jaw for the lower face and chin, neck below the head joint, head elsewhere."""
    joints = rest_joints()
    head_height = joints[joint_index("head"), 1]
    azimuth, _ = _direction_angles(points)
    y, z = points[:, 1], points[:, 2]
    lower_face = (
        below_lips & (np.abs(azimuth) < np.radians(100)) & (z > -0.004) & ((y > 0.212) | ((z > 0.036) & (y > 0.196)))
    )
    labels = np.where(y < head_height, joint_index("neck"), joint_index("head"))
    return np.where(lower_face, joint_index("jaw"), labels)


def build_head(neck_opening_points: np.ndarray, extra_top_vertices: int = 0):
    """Neck and head grown from the torso's neck opening (given as points, counter-clockwise around +y).

    Groups: ``opening``, ``head`` (all vertices above the opening). Marks: ``nose``, ``left_ear``,
    ``right_ear``, ``head_top``. Returns (part, layout, ring indices).
    """
    layout = head_layout(extra_top_vertices)
    part = MeshPart()
    opening = part.add(neck_opening_points, joint_index("spine3"))
    part.groups["opening"] = opening

    first = part.count
    # Up to the lower lip, then from the upper lip to the top; the band between the lips is joined with
    # the mouth left open.
    split = layout.upper_lip_ring
    indices = star_patch(
        part,
        head_sdf,
        HEAD_ORIGIN,
        (0, 1, 0),
        (0, 0, 1),
        layout.rings[:split],
        lambda p: _head_joints(p, np.ones(len(p), bool)),
        max_distance=0.22,
        min_distance=0.05,
        end_apex=False,
    )
    upper = star_patch(
        part,
        head_sdf,
        HEAD_ORIGIN,
        (0, 1, 0),
        (0, 0, 1),
        layout.rings[split:],
        lambda p: _head_joints(p, np.zeros(len(p), bool)),
        max_distance=0.22,
        min_distance=0.05,
    )
    part.strip(indices[-1], upper[0], (0, 1, 0), aligned=True, skip=layout.hole_quads)
    rings = indices + upper
    # Bridge: one ring halfway between the torso's neck opening and the first head ring.
    opening_points, head_points = part.positions(opening), part.positions(rings[0])
    bridge_points = _between_rings(opening_points, head_points, NECK_BRIDGE_SIZE)
    bridge = part.add(bridge_points, joint_index("neck"))
    part.strip(opening, bridge, (0, 1, 0))
    part.strip(bridge, rings[0], (0, 1, 0), center=HEAD_ORIGIN)
    part.groups["head"] = np.arange(first, part.count)

    head_vertices = part.groups["head"]
    points = part.positions(head_vertices)
    part.marks["nose"] = int(head_vertices[np.argmax(points[:, 2] - 10 * np.abs(points[:, 0]))])
    part.marks["head_top"] = int(rings[-1][0])
    for side_name, side in (("left", 1.0), ("right", -1.0)):
        ear = np.array((0.076 * side, 0.322, -0.014))
        near = np.linalg.norm(points - ear, axis=1) < 0.035
        part.marks[f"{side_name}_ear"] = int(head_vertices[np.flatnonzero(near)[np.argmax(side * points[near, 0])]])
    return part, layout, rings


def _between_rings(points_a, points_b, count, t=0.5):
    """`count` points around +y halfway (fraction `t`) between two loops that both circle the neck."""
    centre = 0.5 * (points_a.mean(axis=0) + points_b.mean(axis=0))
    angles = np.radians(0.0) + 2 * np.pi * (np.arange(count) + 0.5) / count

    def sample(points):
        offsets = points - centre
        theta = np.arctan2(offsets[:, 0], offsets[:, 2])
        order = np.argsort(theta)
        theta, offsets = theta[order], offsets[order]
        theta = np.concatenate((theta - 2 * np.pi, theta, theta + 2 * np.pi))
        offsets = np.concatenate((offsets, offsets, offsets))
        wanted = np.mod(angles + np.pi, 2 * np.pi) - np.pi
        return np.stack([np.interp(wanted, theta, offsets[:, c]) for c in range(3)], axis=1)

    return centre + (1 - t) * sample(points_a) + t * sample(points_b)


def build_left_eyeball() -> MeshPart:
    """A sphere in the left eye socket: a pole at the back, 17 rings of 32, a pole at the front (the pupil,
    marked ``front``); 546 vertices and 1088 faces, like an SMPL-X eyeball."""
    centre = rest_joints()[joint_index("left_eye_smplhf")]
    part = MeshPart()
    joint = joint_index("left_eye_smplhf")
    back = part.add(centre - (0, 0, EYEBALL_RADIUS), joint)[0]
    polar = np.linspace(np.pi, 0.0, EYEBALL_RING_COUNT + 2)[1:-1]  # from the back pole towards the front
    azimuths = 2 * np.pi * np.arange(EYEBALL_RING_SIZE) / EYEBALL_RING_SIZE
    e1, e2, axis = np.array((0.0, 1.0, 0.0)), np.array((-1.0, 0.0, 0.0)), np.array((0.0, 0.0, 1.0))  # e1 x e2 = axis
    rings = []
    for angle in polar:
        around = np.cos(azimuths)[:, None] * e1 + np.sin(azimuths)[:, None] * e2
        rings.append(part.add(centre + EYEBALL_RADIUS * (np.cos(angle) * axis + np.sin(angle) * around), joint))
        if len(rings) == 1:
            part.fan(rings[0], back, at_end=False)
        else:
            part.strip(rings[-2], rings[-1], axis, aligned=True)
    front = part.add(centre + (0, 0, EYEBALL_RADIUS), joint)[0]
    part.fan(rings[-1], front, at_end=True)
    part.marks["front"] = int(front)
    return part


# ---------------------------------------------------------------------------------------------- landmarks
def _project(points) -> np.ndarray:
    """Points moved along the ray from the head origin onto the head surface."""
    directions = normalize(np.asarray(points, dtype=np.float64) - HEAD_ORIGIN)
    return HEAD_ORIGIN + cast_rays(head_sdf, HEAD_ORIGIN, directions, 0.22, 0.05)[:, None] * directions


def _mirror(points):
    return np.asarray(points, dtype=np.float64) * (-1.0, 1.0, 1.0)


def static_landmark_targets() -> np.ndarray:
    """(51, 3) points on the face for ``smplx_layout.SMPLX_FACE_LANDMARK_NAMES`` (the 68-point iBUG layout
    without its jaw contour): brows, nose ridge, nostrils, eye outlines, outer and inner lips."""
    right_brow = [
        (-0.056, 0.349, 0.072),
        (-0.047, 0.356, 0.082),
        (-0.037, 0.359, 0.088),
        (-0.026, 0.358, 0.092),
        (-0.014, 0.355, 0.094),
    ]
    nose_ridge = [(0.0, 0.338, 0.088), (0.0, 0.325, 0.097), (0.0, 0.312, 0.106), (0.0, 0.300, 0.116)]
    nostrils = [
        (-0.017, 0.288, 0.093),
        (-0.009, 0.285, 0.099),
        (0.0, 0.284, 0.103),
        (0.009, 0.285, 0.099),
        (0.017, 0.288, 0.093),
    ]
    right_eye = [
        (-0.046, 0.336, 0.074),
        (-0.038, 0.341, 0.081),
        (-0.026, 0.341, 0.083),
        (-0.018, 0.335, 0.083),
        (-0.026, 0.331, 0.082),
        (-0.038, 0.331, 0.080),
    ]
    left_eye_order = (3, 2, 1, 0, 5, 4)  # left_eye4 ... left_eye5: the right eye's points mirrored, iBUG order
    outer_mouth_right = [(-0.025, 0.2570, 0.087), (-0.017, 0.2620, 0.095), (-0.007, 0.2660, 0.098)]
    mouth_top = [(0.0, 0.2655, 0.099)]
    outer_mouth_lower = [
        (0.017, 0.2500, 0.093),
        (0.007, 0.2470, 0.096),
        (0.0, 0.2465, 0.096),
        (-0.007, 0.2470, 0.096),
        (-0.017, 0.2500, 0.093),
    ]
    inner = [(-0.020, 0.2575, 0.091), (-0.008, 0.2585, 0.097), (0.0, 0.2585, 0.098), (0.008, 0.2585, 0.097),
             (0.020, 0.2575, 0.091), (0.008, 0.2548, 0.096), (0.0, 0.2548, 0.097),
             (-0.008, 0.2548, 0.096)]  # fmt: skip
    points = (
        right_brow
        + list(_mirror(right_brow)[::-1])
        + nose_ridge
        + nostrils
        + right_eye
        + [tuple(_mirror(right_eye)[k]) for k in left_eye_order]
        + outer_mouth_right
        + mouth_top
        + list(_mirror(outer_mouth_right)[::-1])
        + outer_mouth_lower
        + inner
    )
    return _project(points)


_JAW_LINE_LEFT = np.array([
    (0.067, 0.292, -0.012), (0.064, 0.266, -0.004), (0.058, 0.244, 0.010), (0.045, 0.228, 0.038),
    (0.026, 0.217, 0.062), (0.0, 0.213, 0.074),
])  # fmt: skip


def contour_landmark_targets() -> np.ndarray:
    """(79, 17, 3) jaw-line points for each row of SMPL-X's head-turn look-up table.

    Row r <= 39 is the head turned r degrees to its right, rows 40..78 turned 1..39 degrees to its left
    (smplx's indexing). Turning away hides part of that side's jaw, so the contour's points on that side
    slide towards the chin, by 1/60 of the jaw line's half length per degree.
    """
    curve = np.concatenate((_mirror(_JAW_LINE_LEFT)[:-1], _JAW_LINE_LEFT[::-1]))  # right ear -> chin -> left ear
    lengths = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))))
    parameter = 2.0 * lengths / lengths[-1] - 1.0  # -1 right end, 0 chin, 1 left end
    rows = []
    for row in range(79):
        turn_right = row if row <= 39 else -(row - 39)
        start = -1.0 + max(turn_right, 0) / 60.0
        stop = 1.0 - max(-turn_right, 0) / 60.0
        wanted = np.linspace(start, stop, 17)
        rows.append(np.stack([np.interp(wanted, parameter, curve[:, c]) for c in range(3)], axis=1))
    targets = np.stack(rows)
    return _project(targets.reshape(-1, 3)).reshape(79, 17, 3)
