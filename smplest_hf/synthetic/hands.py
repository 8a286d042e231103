"""The left hand (the right one is its mirror image): a flat palm with a thumb and four fingers.

The palm is a stack of flat rings in hand coordinates (u along the hand, v towards its back, w towards the
thumb; see `skeleton`). Each ring is a *top chain* across the back of the hand (w increasing), a side vertex
at the thumb's edge, a *bottom chain* across the palm (w decreasing) and a side vertex at the little finger's
edge. One ring near the wrist is split by a web vertex into the thumb's opening and the rest of the palm; the
last ring, at the knuckles, is split by three web vertices into one opening per finger. Every finger and the
thumb is then a tube swept along its joints and closed by a rounded tip.
"""

import numpy as np

from .limbs import elliptic_radius
from .mesh_parts import MeshPart, loop_normal, resample_path, round_cap, sweep
from .skeleton import HAND_FINGERS, HAND_THUMB_RADIUS, finger_joint_positions, hand_to_world, joint_index


FINGER_SPACING = 0.0075
# knuckle-ring chain: the four fingers' spans across the hand, from the little finger to the index
_FINGER_ORDER = ("pinky", "ring", "middle", "index")


def _finger_boundaries() -> np.ndarray:
    """w of the hand's edges and of the webs between fingers at the knuckles (little finger first)."""
    centres = np.array([HAND_FINGERS[name][0][2] for name in _FINGER_ORDER])
    radii = np.array([HAND_FINGERS[name][3] for name in _FINGER_ORDER])
    inner = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate(([centres[0] - radii[0] - 0.002], inner, [centres[-1] + radii[-1] + 0.002]))


def _palm_ring(u, top_w, half_thickness_top, half_thickness_bottom, centre_v=0.0, thenar=0.0):
    """Hand coordinates of one palm ring: top chain at `top_w` (increasing), thumb-side vertex, bottom chain
    (w decreasing), little-finger-side vertex. `thenar` thickens the palm under the thumb."""
    top_w = np.asarray(top_w, dtype=np.float64)
    middle, half_width = 0.5 * (top_w[0] + top_w[-1]), 0.5 * (top_w[-1] - top_w[0])
    q = (top_w - middle) / half_width
    crown = 1.0 - 0.45 * q**4  # rounded edges
    top_v = centre_v + half_thickness_top * crown
    ball = thenar * np.exp(-(((top_w - top_w[-1]) / (0.35 * half_width)) ** 2))
    bottom_v = centre_v - (half_thickness_bottom + ball) * crown
    edge = 0.55 * min(half_thickness_top, half_thickness_bottom)
    top = np.stack((np.full_like(top_w, u), top_v, top_w), axis=1)
    bottom = np.stack((np.full_like(top_w, u), bottom_v, top_w), axis=1)[::-1]
    thumb_side = np.array([[u, centre_v - 0.2 * edge, top_w[-1] + edge]])
    little_side = np.array([[u, centre_v, top_w[0] - edge]])
    return np.concatenate((top, thumb_side, bottom, little_side))


def _chain_labels(points, chain, labels, before_label):
    """For each point, the label of the chain segment it projects onto (points before the chain's start get
    `before_label`)."""
    chain = np.asarray(chain, dtype=np.float64)
    out = np.full(len(points), before_label)
    direction = chain[1] - chain[0]
    before = (points - chain[0]) @ direction < 0
    best = np.full(len(points), np.inf)
    for k in range(len(chain) - 1):
        segment = chain[k + 1] - chain[k]
        t = np.clip(((points - chain[k]) @ segment) / (segment @ segment), 0.0, 1.0)
        distance = np.linalg.norm(points - (chain[k] + t[:, None] * segment), axis=1)
        closer = distance < best
        out[closer], best[closer] = labels[k], distance[closer]
    out[before] = before_label
    return out


def _finger(part: MeshPart, opening, finger: str, radius: float) -> int:
    """Sweep one finger (or the thumb) from its opening; returns the tip vertex."""
    chain = hand_to_world(finger_joint_positions(finger))
    direction = chain[-1] - chain[-2]
    direction /= np.linalg.norm(direction)
    tip_radius = 0.82 * radius
    cap_centre = chain[-1] - tip_radius * direction
    opening_points = part.positions(opening)
    start = opening_points.mean(axis=0)
    control = (
        [start, *chain[1:-1], cap_centre]
        if finger == "thumb"
        else [start, chain[0] + 0.35 * (chain[1] - chain[0]), chain[1], chain[2], cap_centre]
    )
    centers, tangents = resample_path(
        control, FINGER_SPACING, start_tangent=loop_normal(opening_points), end_tangent=direction
    )
    lengths = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(centers, axis=0), axis=1))))
    total = lengths[-1]
    joints_along = np.array([np.linalg.norm(chain[k] - start) for k in (1, 2)])  # rough arc positions of joints 2, 3

    def ring_radius(k, directions):
        s = lengths[k] / total
        taper = 1.12 - 0.30 * s  # thicker at the base
        knuckles = 1.0 + 0.06 * np.exp(-(((lengths[k] - joints_along[:, None]) / 0.006) ** 2)).sum()
        r = radius * taper * knuckles
        return elliptic_radius(directions, (0, 0, 1), (0, 1, 0), 1.06 * r, 0.92 * r, 0.98 * r)

    names = [joint_index(f"left_{finger}{k}") for k in (1, 2, 3)]
    labels = _chain_labels(centers, chain, names, joint_index("left_wrist"))
    rings = sweep(part, opening, centers, tangents, ring_radius, lambda k: int(labels[k]), blend_rings=2)
    return round_cap(part, rings[-1], cap_centre, direction, tip_radius, names[-1])


def build_left_hand(part: MeshPart, wrist_ring: np.ndarray) -> None:
    """Add the left hand to `part` (the arm), growing from the arm's last ring at the wrist.

    Marks: ``{finger}_tip`` for thumb, index, middle, ring, pinky. Groups: ``hand`` (every hand vertex).
    """
    first_hand_vertex = part.count
    wrist = joint_index("left_wrist")
    boundaries = _finger_boundaries()
    split_w = 0.028  # where the thumb's opening starts, across the palm

    def add_ring(points):
        return part.add(hand_to_world(points), wrist)

    palm_base = add_ring(_palm_ring(0.008, np.linspace(-0.027, 0.030, 16), 0.0115, 0.0125))
    part.strip(wrist_ring, palm_base, (1, 0, 0))
    split_top_w = np.concatenate((np.linspace(-0.038, split_w, 13), np.linspace(split_w, 0.052, 4)[1:]))
    split_ring = add_ring(_palm_ring(0.028, split_top_w, 0.0125, 0.0135, thenar=0.004))
    part.strip(palm_base, split_ring, (1, 0, 0), aligned=True)

    # Thumb opening and the rest of the palm, separated by a web vertex between top and bottom at split_w.
    top, thumb_side, bottom, little_side = split_ring[:16], split_ring[16], split_ring[17:33], split_ring[33]
    web = add_ring([[0.036, -0.005, split_w]])[0]
    thumb_opening = np.concatenate((top[12:], [thumb_side], bottom[:4], [web]))
    palm_opening = np.concatenate((top[:13], [web], bottom[3:], [little_side]))

    previous = palm_opening
    for u, low, high in ((0.046, -0.042, 0.030), (0.064, -0.044, 0.033)):
        ring = add_ring(_palm_ring(u, np.linspace(low, high, 13), 0.0120, 0.0125, centre_v=-0.001))
        part.strip(previous, ring, (1, 0, 0), aligned=True)
        previous = ring
    knuckle_w = np.concatenate(
        [np.linspace(boundaries[k], boundaries[k + 1], 4)[:-1] for k in range(4)] + [boundaries[-1:]]
    )
    knuckles = add_ring(_palm_ring(0.080, knuckle_w, 0.0115, 0.0110, centre_v=-0.002))
    part.strip(previous, knuckles, (1, 0, 0), aligned=True)

    # Finger openings: webs between neighbouring fingers, a little beyond the knuckles on the palm side.
    top, thumb_side, bottom, little_side = knuckles[:13], knuckles[13], knuckles[14:27][::-1], knuckles[27]
    webs = add_ring([[0.093, -0.004, w] for w in boundaries[1:-1]])
    for k, finger in enumerate(_FINGER_ORDER):
        thumb_edge = thumb_side if k == 3 else webs[k]
        little_edge = little_side if k == 0 else webs[k - 1]
        # 10 vertices around a finger: 4 on top, the thumb-side edge, 4 below, the little-finger-side edge
        opening = np.concatenate(
            (top[3 * k : 3 * k + 4], [thumb_edge], bottom[3 * k : 3 * k + 4][::-1], [little_edge])
        )
        part.marks[f"{finger}_tip"] = _finger(part, opening, finger, HAND_FINGERS[finger][3])
    part.marks["thumb_tip"] = _finger(part, thumb_opening, "thumb", HAND_THUMB_RADIUS)
    part.groups["hand"] = np.arange(first_hand_vertex, part.count)
