"""The whole synthetic body mesh: torso, legs, arms with hands, head, eyeballs — stitched, smoothed where
parts meet, sized to exactly SMPL-X's 10475 vertices and 20908 faces, and renumbered so that the vertices
smplx reads joints from (nose, eyes, ears, toes, heels, finger tips) have SMPL-X's indices.

Why the counts come out right: the body is one closed surface with one hole (the mouth, 32 boundary
edges), so F = 2 V - 34 for its V = 9383 vertices; each eyeball is a closed sphere of 546 vertices with
2 * 546 - 4 faces. In all 10475 vertices and 20908 faces. The head's crown absorbs whatever vertices the
other parts leave of the 9383.

>>> mesh = build_body_mesh()
>>> mesh.vertices.shape, mesh.faces.shape
((10475, 3), (20908, 3))
"""

from dataclasses import dataclass, field
from typing import Dict

import numpy as np

from ..models.smplest_x.smplx_layout import (
    NUM_SMPLX_FACES,
    NUM_SMPLX_VERTICES,
    SMPLX_VERTEX_JOINT_NAMES,
    SMPLX_VERTEX_JOINT_VERTEX_IDS,
)
from .hands import build_left_hand
from .head import build_head, build_left_eyeball, contour_landmark_targets, head_vertex_count, static_landmark_targets
from .limbs import build_left_arm, build_left_leg
from .mesh_parts import MeshPart
from .skeleton import MIRRORED_JOINT
from .torso import build_torso


NUM_BODY_VERTICES = NUM_SMPLX_VERTICES - 2 * 546  # everything but the eyeballs

# smplx's names of the vertex joints (smplx_layout.SMPLX_VERTEX_JOINT_NAMES) -> our marks
_VERTEX_JOINT_MARKS = {
    "nose": "nose", "right_eye": "right_eye", "left_eye": "left_eye", "right_ear": "right_ear", "left_ear": "left_ear",
    "left_big_toe": "left_big_toe", "left_small_toe": "left_small_toe", "left_heel": "left_heel",
    "right_big_toe": "right_big_toe", "right_small_toe": "right_small_toe", "right_heel": "right_heel",
    **{f"{side}_{finger}": f"{side}_{finger}_tip"
       for side in ("left", "right") for finger in ("thumb", "index", "middle", "ring", "pinky")},
}  # fmt: skip


@dataclass
class BodyMesh:
    """The mesh with what the rigging needs to know about it (all indices are final vertex indices)."""

    vertices: np.ndarray  # (10475, 3) float64
    faces: np.ndarray  # (20908, 3) int64, outward-facing
    segments: np.ndarray  # (10475,) the SMPL-X joint that moves each vertex (before smoothing the weights)
    marks: Dict[str, int] = field(default_factory=dict)  # named single vertices
    groups: Dict[str, np.ndarray] = field(default_factory=dict)  # named vertex sets
    landmark_faces: np.ndarray = None  # (51,) faces of the static face landmarks
    landmark_barycentric: np.ndarray = None  # (51, 3)
    contour_faces: np.ndarray = None  # (79, 17)
    contour_barycentric: np.ndarray = None  # (79, 17, 3)


def _mirrored(part: MeshPart) -> MeshPart:
    """The part reflected through the mid-line plane x = 0: faces flipped so they still face outwards,
    left joints swapped for right ones."""
    mirror = MeshPart(capacity=part.count)
    mirror.add(part.vertices * (-1.0, 1.0, 1.0), MIRRORED_JOINT[part.joints])
    mirror.add_faces(part.faces()[:, [0, 2, 1]])
    mirror.groups = dict(part.groups)
    mirror.marks = dict(part.marks)
    return mirror


class _Assembly:
    """Concatenates parts; a part's ``opening`` ring is merged into vertices already placed."""

    def __init__(self):
        self.vertices, self.segments, self.faces = [], [], []
        self.count = 0
        self.marks: Dict[str, int] = {}
        self.groups: Dict[str, np.ndarray] = {}

    def add(self, part: MeshPart, prefix: str = "", opening_target=None) -> np.ndarray:
        """Append `part`; returns the global index of each of its vertices."""
        to_global = np.full(part.count, -1, dtype=np.int64)
        if opening_target is not None:
            opening = part.groups["opening"]
            target_points = np.concatenate(self.vertices)[opening_target]
            distances = np.linalg.norm(part.positions(opening)[:, None] - target_points[None], axis=2)
            match = np.argmin(distances, axis=1)
            if distances[np.arange(len(opening)), match].max() > 1e-9 or len(set(match.tolist())) != len(opening):
                raise AssertionError("a part's opening does not coincide with the ring it is stitched to")
            to_global[opening] = np.asarray(opening_target)[match]
        new = to_global < 0
        to_global[new] = self.count + np.arange(new.sum())
        self.vertices.append(part.vertices[new])
        self.segments.append(part.joints[new])
        self.faces.append(to_global[part.faces()])
        self.count += int(new.sum())
        for name, index in part.marks.items():
            self.marks[prefix + name] = int(to_global[index])
        for name, indices in part.groups.items():
            if name != "opening":
                self.groups[prefix + name] = to_global[indices]
        return to_global


def _assemble():
    torso = build_torso()
    assembly = _Assembly()
    torso_global = assembly.add(torso.part)
    seams = [
        torso_global[opening]
        for opening in (
            torso.left_leg_opening,
            torso.right_leg_opening,
            torso.left_arm_opening,
            torso.right_arm_opening,
            torso.neck_opening,
        )
    ]
    leg = build_left_leg(torso.part.positions(torso.left_leg_opening))
    arm = build_left_arm(torso.part.positions(torso.left_arm_opening))
    build_left_hand(arm, arm.groups["wrist_ring"])
    for part, openings in (
        (leg, (torso.left_leg_opening, torso.right_leg_opening)),
        (arm, (torso.left_arm_opening, torso.right_arm_opening)),
    ):
        for side, piece, opening in (("left_", part, openings[0]), ("right_", _mirrored(part), openings[1])):
            to_global = assembly.add(piece, side, torso_global[opening])
            seams += [to_global[piece.groups[name]] for name in ("ankle_ring", "wrist_ring") if name in piece.groups]
    # The head's crown takes every vertex the other parts leave of SMPL-X's count.
    spare = NUM_BODY_VERTICES - assembly.count - head_vertex_count(0)
    if spare < 0:
        raise AssertionError(f"the body parts need {-spare} more vertices than SMPL-X has")
    head, _, _ = build_head(torso.part.positions(torso.neck_opening), spare)
    assembly.add(head, "", torso_global[torso.neck_opening])
    if assembly.count != NUM_BODY_VERTICES:
        raise AssertionError(f"the body has {assembly.count} vertices, expected {NUM_BODY_VERTICES}")
    eyeball = build_left_eyeball()
    for side, part in (("left_", eyeball), ("right_", _mirrored(eyeball))):
        assembly.groups[side + "eyeball"] = assembly.add(part, side)
        assembly.marks[side + "eye"] = assembly.marks.pop(side + "front")
    vertices = np.concatenate(assembly.vertices)
    faces = np.concatenate(assembly.faces)
    segments = np.concatenate(assembly.segments)
    return vertices, faces, segments, assembly.marks, assembly.groups, np.concatenate(seams)


def _id_permutation(marks: Dict[str, int], count: int) -> np.ndarray:
    """`order[new] = old`: the marked vertices go to SMPL-X's ids, the others keep their relative order."""
    order = np.full(count, -1, dtype=np.int64)
    fixed_old = [marks[_VERTEX_JOINT_MARKS[name]] for name in SMPLX_VERTEX_JOINT_NAMES]
    order[SMPLX_VERTEX_JOINT_VERTEX_IDS] = fixed_old
    remaining = np.setdiff1d(np.arange(count), fixed_old)
    order[order < 0] = remaining
    return order


def _closest_points_on_triangles(points, triangles):
    """Closest point on each triangle (..., 3, 3) to each point (..., 3), as barycentric coordinates
    (Ericson, Real-Time Collision Detection, 5.1.5), vectorised."""
    a, b, c = triangles[..., 0, :], triangles[..., 1, :], triangles[..., 2, :]
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = points - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = points - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denominator = np.where(va + vb + vc == 0, 1.0, va + vb + vc)
    v, w = vb / denominator, vc / denominator
    bary = np.stack((1 - v - w, v, w), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        regions = [
            ((d1 <= 0) & (d2 <= 0), np.stack((np.ones_like(d1), 0 * d1, 0 * d1), -1)),
            ((d3 >= 0) & (d4 <= d3), np.stack((0 * d1, np.ones_like(d1), 0 * d1), -1)),
            ((d6 >= 0) & (d5 <= d6), np.stack((0 * d1, 0 * d1, np.ones_like(d1)), -1)),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), _edge(d1 / (d1 - d3), 0, 1)),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), _edge(d2 / (d2 - d6), 0, 2)),
            ((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), _edge((d4 - d3) / ((d4 - d3) + (d5 - d6)), 1, 2)),
        ]
    for condition, value in reversed(regions):  # earlier regions take precedence, as in the reference
        bary = np.where(condition[..., None], value, bary)
    return bary


def _edge(t, first, second):
    out = np.zeros(t.shape + (3,))
    out[..., first], out[..., second] = 1 - t, t
    return out


def locate_on_mesh(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, candidate_faces: np.ndarray):
    """The face (among `candidate_faces`) nearest to each point and the barycentric coordinates of the
    nearest point on it. Returns (face ids (n,), barycentric (n, 3))."""
    candidates = np.asarray(candidate_faces)
    centroids = vertices[faces[candidates]].mean(axis=1)
    margin = 0.02
    in_box = np.all((centroids > points.min(axis=0) - margin) & (centroids < points.max(axis=0) + margin), axis=1)
    candidates, centroids = candidates[in_box], centroids[in_box]
    squared = (points**2).sum(1)[:, None] - 2 * points @ centroids.T + (centroids**2).sum(1)[None]
    nearest = np.argpartition(squared, 12, axis=1)[:, :12]  # (n, 12) faces with the nearest centroids
    triangles = vertices[faces[candidates[nearest]]]  # (n, 12, 3, 3)
    bary = _closest_points_on_triangles(points[:, None], triangles)
    closest = np.einsum("nkc,nkcd->nkd", bary, triangles)
    best = np.argmin(np.linalg.norm(closest - points[:, None], axis=-1), axis=1)
    rows = np.arange(len(points))
    return candidates[nearest[rows, best]], bary[rows, best]


def _taubin_smooth(vertices, faces, movable, iterations=8, lam=0.5, mu=-0.53):
    """Taubin's shrink-free smoothing of the `movable` vertices (a bool mask); the others stay put."""
    edges = np.concatenate((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]))
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    source = np.concatenate((edges[:, 0], edges[:, 1]))
    target = np.concatenate((edges[:, 1], edges[:, 0]))
    degree = np.bincount(source, minlength=len(vertices)).astype(np.float64)
    points = vertices.copy()
    weight = movable.astype(np.float64)[:, None]
    for _ in range(iterations):
        for factor in (lam, mu):
            neighbour_sum = np.stack(
                [np.bincount(source, weights=points[target, c], minlength=len(points)) for c in range(3)], axis=1
            )
            laplacian = neighbour_sum / np.maximum(degree, 1)[:, None] - points
            points = points + factor * weight * laplacian
    return points


def _ring_neighbourhood(faces, seeds, count, steps):
    """Bool mask of the vertices within `steps` edges of `seeds`."""
    mask = np.zeros(count, dtype=bool)
    mask[seeds] = True
    for _ in range(steps):
        touched = mask[faces].any(axis=1)
        mask[faces[touched].ravel()] = True
    return mask


def build_body_mesh() -> BodyMesh:
    """Build the synthetic body mesh (deterministic: no randomness is involved)."""
    vertices, faces, segments, marks, groups, seams = _assemble()
    if (len(vertices), len(faces)) != (NUM_SMPLX_VERTICES, NUM_SMPLX_FACES):
        raise AssertionError(
            f"built {len(vertices)} vertices and {len(faces)} faces, expected {NUM_SMPLX_VERTICES} and {NUM_SMPLX_FACES}"
        )

    # Where parts meet (crotch, shoulders, neck, wrists, ankles) rings change shape abruptly: smooth a few
    # rings around each seam, but not the hands, feet or face, whose details would melt.
    near_seams = _ring_neighbourhood(faces, seams, len(vertices), steps=3)
    protected = np.zeros(len(vertices), dtype=bool)
    for name in ("left_hand", "right_hand", "head"):
        protected[groups[name]] = True
    protected &= ~_ring_neighbourhood(faces, seams, len(vertices), steps=1)  # but their seam rings may move
    feet = vertices[:, 1] < -1.19
    vertices = _taubin_smooth(vertices, faces, near_seams & ~protected & ~feet)

    order = _id_permutation(marks, len(vertices))
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    vertices, segments, faces = vertices[order], segments[order], new_index[faces]
    marks = {name: int(new_index[index]) for name, index in marks.items()}
    groups = {name: new_index[indices] for name, indices in groups.items()}
    mesh = BodyMesh(vertices=vertices, faces=faces, segments=segments, marks=marks, groups=groups)

    head_faces = np.flatnonzero(np.isin(faces, groups["head"]).all(axis=1))
    mesh.landmark_faces, mesh.landmark_barycentric = locate_on_mesh(
        static_landmark_targets(), vertices, faces, head_faces
    )
    contour = contour_landmark_targets()
    contour_faces, contour_bary = locate_on_mesh(contour.reshape(-1, 3), vertices, faces, head_faces)
    mesh.contour_faces, mesh.contour_barycentric = contour_faces.reshape(79, 17), contour_bary.reshape(79, 17, 3)
    return mesh
