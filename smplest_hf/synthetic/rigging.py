"""Rigging of the synthetic body: skinning weights, the joint regressors and the vertex-id sets.

* Skinning weights start as "each vertex follows its segment's joint" and are blended across joints by
  diffusing them a few steps over the mesh's edges (so they blend where segments meet, never between parts
  that only touch in space), then tiny weights are dropped so each joint moves only what is near it.
* Each joint-regressor row is a convex combination of the vertices around the joint (those of the segments
  meeting there, within a little more than the limb's radius), weighted so that their mean is exactly the
  joint: the rest-pose mesh regresses exactly the designed skeleton.

>>> from smplest_hf.synthetic.body_mesh import build_body_mesh
>>> mesh = build_body_mesh()
>>> weights = skinning_weights(mesh)
>>> bool(np.allclose(weights.sum(axis=1), 1.0))
True
"""

import numpy as np

from ..models.smplest_x.smplx_layout import (
    J14_JOINT_NAMES,
    NUM_FLAME_VERTICES,
    NUM_HAND_POSE_JOINTS,
    NUM_MANO_VERTICES,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
)
from .body_mesh import BodyMesh
from .skeleton import joint_index


NUM_JOINTS = len(SMPLX_JOINT_NAMES)
_DIFFUSION_STEPS = 6
_SMALLEST_WEIGHT = 0.01


def mesh_neighbours(faces: np.ndarray, count: int):
    """(source, target) arrays of directed edges, each undirected edge both ways, sorted by source."""
    edges = np.concatenate((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]))
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    source = np.concatenate((edges[:, 0], edges[:, 1]))
    target = np.concatenate((edges[:, 1], edges[:, 0]))
    order = np.argsort(source, kind="stable")
    return source[order], target[order]


def neighbour_mean(values: np.ndarray, source: np.ndarray, target: np.ndarray, count: int) -> np.ndarray:
    """Mean over each vertex's neighbours of (count, k) values; vertices without neighbours keep theirs.
    `source` must be sorted (as `mesh_neighbours` returns it)."""
    degree = np.bincount(source, minlength=count)
    starts = np.concatenate(([0], np.cumsum(degree)[:-1]))
    sums = np.add.reduceat(values[target], np.minimum(starts, len(target) - 1), axis=0)
    means = values.copy()
    has = degree > 0
    means[has] = sums[has] / degree[has, None]
    return means


def skinning_weights(mesh: BodyMesh) -> np.ndarray:
    """(V, 55) float64 skinning weights; every row sums to 1."""
    count = len(mesh.vertices)
    weights = np.zeros((count, NUM_JOINTS))
    weights[np.arange(count), mesh.segments] = 1.0
    source, target = mesh_neighbours(mesh.faces, count)
    for _ in range(_DIFFUSION_STEPS):
        weights = 0.5 * weights + 0.5 * neighbour_mean(weights, source, target, count)
    weights[weights < _SMALLEST_WEIGHT] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def _children(joint: int):
    return [child for child, parent in enumerate(SMPLX_PARENTS) if parent == joint]


def convex_weights_with_mean(points: np.ndarray, target: np.ndarray, base: np.ndarray, steps: int = 50):
    """Positive weights summing to 1 whose weighted mean of `points` is exactly `target`, as close to the
    `base` weights as possible: the exponential tilt w_i ~ b_i exp(lambda . (p_i - target)), with lambda
    found by Newton's method (the mean is the gradient of a convex function of lambda). None if `target`
    is not inside the points' convex hull (no such weights exist)."""
    offsets = points - target
    base = base / base.sum()
    tilt = np.zeros(3)
    for _ in range(steps):
        exponent = offsets @ tilt
        weights = base * np.exp(exponent - exponent.max())
        weights /= weights.sum()
        mean = weights @ offsets  # the weighted mean minus the target
        if np.abs(mean).max() < 1e-13:
            break
        centred = offsets - mean
        covariance = (weights[:, None] * centred).T @ centred
        step = np.linalg.solve(covariance + 1e-12 * np.eye(3), mean)
        scale = 1.0
        while scale > 1e-4:  # damped: accept the step only if it brings the mean closer
            trial = tilt - scale * step
            exponent = offsets @ trial
            trial_weights = base * np.exp(exponent - exponent.max())
            if np.abs(trial_weights @ offsets / trial_weights.sum()).max() < np.abs(mean).max():
                break
            scale *= 0.5
        tilt = trial
    else:
        return None
    # one last exact fix of the tiny remaining offset, within the same vertices
    correction = np.linalg.lstsq(
        np.vstack((offsets.T, np.ones(len(offsets)))), np.concatenate((-mean, [0.0])), rcond=None
    )[0]
    weights = weights + correction
    return weights if weights.min() >= 0 else None


def joint_regressor(mesh: BodyMesh, joints: np.ndarray) -> np.ndarray:
    """(55, V) float64: row j regresses joint j from the vertices around it (convex, exact on the rest mesh)."""
    count = len(mesh.vertices)
    regressor = np.zeros((NUM_JOINTS, count))
    for joint in range(NUM_JOINTS):
        related = [joint] + _children(joint) + ([SMPLX_PARENTS[joint]] if SMPLX_PARENTS[joint] >= 0 else [])
        if SMPLX_JOINT_NAMES[joint].startswith(("left_eye", "right_eye")):
            related = [joint]  # an eyeball's centre is the mean of its own sphere
        candidates = np.flatnonzero(np.isin(mesh.segments, related))
        distances = np.linalg.norm(mesh.vertices[candidates] - joints[joint], axis=1)
        nearest = distances.min()
        for reach in (1.6, 2.2, 3.0, 4.0, 6.0):
            chosen = distances <= reach * nearest + 0.003
            base = np.exp(-((distances[chosen] / (reach * nearest + 0.003)) ** 2))
            weights = convex_weights_with_mean(mesh.vertices[candidates[chosen]], joints[joint], base)
            if weights is not None:
                regressor[joint, candidates[chosen]] = weights
                break
        else:
            raise AssertionError(f"no convex vertex combination found for joint {SMPLX_JOINT_NAMES[joint]}")
    return regressor


def j14_regressor(mesh: BodyMesh, regressor: np.ndarray) -> np.ndarray:
    """(14, V) float64 regressor of the LSP joints (``smplx_layout.J14_JOINT_NAMES``): the body joints' rows of
    the joint regressor, and the top of the head from the crown vertex and its neighbours."""
    rows = np.zeros((len(J14_JOINT_NAMES), regressor.shape[1]))
    names = {"Neck": "neck"}
    for row, name in enumerate(J14_JOINT_NAMES):
        if name == "Head_top":
            top = mesh.marks["head_top"]
            ring = np.unique(mesh.faces[(mesh.faces == top).any(axis=1)])
            ring = ring[ring != top]
            rows[row, top] = 0.6
            rows[row, ring] += 0.4 / len(ring)
            continue
        side, _, part = name.partition("_")
        smplx_name = names.get(name) or f"{'left' if side == 'L' else 'right'}_{part.lower()}"
        rows[row] = regressor[joint_index(smplx_name)]
    return rows


def hand_vertex_ids(mesh: BodyMesh, joints: np.ndarray) -> dict:
    """{'left_hand', 'right_hand'}: the 778 hand vertices furthest beyond each wrist (sorted)."""
    ids = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hand = mesh.groups[f"{side}_hand"]
        beyond_wrist = (mesh.vertices[hand, 0] - joints[joint_index(f"{side}_wrist"), 0]) * sign
        chosen = hand[np.argsort(-beyond_wrist, kind="stable")[:NUM_MANO_VERTICES]]
        ids[f"{side}_hand"] = np.sort(chosen)
    return ids


def height_above_neck_cut(points: np.ndarray) -> np.ndarray:
    """How high points are above a plane that runs lower under the chin than at the nape, as FLAME's neck
    boundary does (metres, up to a constant): the face set is the head's top 3931 by this measure."""
    return points[..., 1] + 0.5 * points[..., 2]


def face_vertex_ids(mesh: BodyMesh) -> np.ndarray:
    """(5023,) the eyeballs and the head down to the upper neck (the whole face, jaw line included), sorted."""
    eyes = np.concatenate((mesh.groups["left_eyeball"], mesh.groups["right_eyeball"]))
    head = mesh.groups["head"]
    order = np.argsort(-height_above_neck_cut(mesh.vertices[head]), kind="stable")
    return np.sort(np.concatenate((eyes, head[order[: NUM_FLAME_VERTICES - len(eyes)]])))


def mean_hand_poses() -> tuple:
    """(45,) left and right mean hand poses, axis-angle per finger joint: a relaxed, slightly curled hand.

    Fingers bend about the hand's z axis (towards the palm, which faces down): negative angles on the left
    hand, positive on the right. The thumb curls a little towards the palm.
    """
    bend = {1: 0.20, 2: 0.30, 3: 0.18}
    left = np.zeros((NUM_HAND_POSE_JOINTS, 3))
    for k, name in enumerate(SMPLX_JOINT_NAMES[joint_index("left_index1") : joint_index("left_thumb3") + 1]):
        finger, segment = name[len("left_") : -1], int(name[-1])
        if finger == "thumb":
            left[k] = (0.10, -0.05, -0.08 * segment)
        else:
            left[k] = (0.0, 0.0, -bend[segment] * (1.15 if finger == "pinky" else 1.0))
    right = left * (1.0, -1.0, -1.0)  # mirror image through the x = 0 plane
    return left.reshape(-1), right.reshape(-1)
