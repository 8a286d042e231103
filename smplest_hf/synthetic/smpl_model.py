"""The synthetic body model in SMPL's format, derived from the synthetic SMPL-X one so that the two look alike.

An SMPL person and an SMPL-X person with the same body pose and shape coincide, up to the hands (SMPL has one
joint per hand instead of fingers) and millimetre-sized pose correctives:

* **Vertices** are a fixed subset of the SMPL-X body's (eyeballs dropped, the mouth closed, then shortest edges
  collapsed onto one of their ends until 6890 remain): SMPL's rest mesh *is* SMPL-X's at those vertices, for
  every shape, and its 13776 faces close the surface (``F = 2 V - 4``). Vertices no collapse may remove: those
  SMPL-X's body-joint regressor reads and those smplx reads extra joints from (nose, ears, toes, heels, tips);
  the latter are renumbered to SMPL's ids for them (``smpl_layout.SMPL_VERTEX_JOINT_VERTEX_IDS``).
* **Joints** 0-21 are SMPL-X's, regressed by SMPL-X's own regressor rows (their vertices are kept), so they
  are equal for every shape and gender; the hand joints (22, 23) sit at the mean of the four finger knuckles,
  regressed from the palm by convex weights that are exact on the neutral rest mesh.
* **Skinning weights** are SMPL-X's with the finger columns summed into the hand joint and the jaw and eyes
  into the head; **shape directions** are SMPL-X's first 10; **pose correctives** SMPL-X's for joints 1-21 and
  none for the hands.

>>> from smplest_hf.synthetic.body_model_files import build_synthetic_body_model
>>> smpl = build_synthetic_body_model(seed=0, genders=("neutral",))["smpl_models"]["neutral"]
>>> smpl["v_template"].shape, smpl["f"].shape, smpl["J_regressor"].shape, smpl["posedirs"].shape
((6890, 3), (13776, 3), (24, 6890), (6890, 3, 207))
"""

import heapq
from typing import Dict

import numpy as np

from ..models.smplest_x.smpl_layout import (
    NUM_SMPL_BODY_JOINTS,
    NUM_SMPL_FACES,
    NUM_SMPL_JOINTS,
    NUM_SMPL_POSE_FEATURES,
    NUM_SMPL_VERTICES,
    SMPL_PARENTS,
    SMPL_VERTEX_JOINT_VERTEX_IDS,
)
from ..models.smplest_x.smplx_layout import SMPLX_FINGER_NAMES, SMPLX_JOINT_NAMES, SMPLX_VERTEX_JOINT_NAMES
from .body_mesh import NUM_BODY_VERTICES, BodyMesh
from .rigging import convex_weights_with_mean
from .skeleton import ROOT_PARENT_IN_FILE, joint_index


NUM_SHAPE_DIRECTIONS = 10
LEFT_HAND_JOINT, RIGHT_HAND_JOINT = NUM_SMPL_BODY_JOINTS, NUM_SMPL_BODY_JOINTS + 1


def finger_joints(side: str) -> list:
    """The 15 SMPL-X finger joints of the `side` ('left' or 'right') hand."""
    return [joint_index(f"{side}_{finger}{k}") for finger in SMPLX_FINGER_NAMES for k in (1, 2, 3)]


def smpl_joint_of_smplx_joints() -> np.ndarray:
    """(55,) the SMPL joint each SMPL-X joint's skinning weight goes to: the same body joint, the head for the
    jaw and eyes, the hand joint for the fingers."""
    mapping = np.arange(len(SMPLX_JOINT_NAMES))
    mapping[NUM_SMPL_BODY_JOINTS:] = joint_index("head")
    mapping[finger_joints("left")], mapping[finger_joints("right")] = LEFT_HAND_JOINT, RIGHT_HAND_JOINT
    return mapping


_KNUCKLES = ("index1", "middle1", "ring1", "pinky1")
_SMALLEST_FACE_COSINE = 0.3  # a collapse may tilt no face it keeps by more than ~73 degrees


def hand_joint_positions(joints: np.ndarray) -> np.ndarray:
    """(2, 3) SMPL's left and right hand joints on the SMPL-X skeleton `joints` (55, 3): the knuckles' mean."""
    return np.stack(
        [joints[[joint_index(f"{side}_{knuckle}") for knuckle in _KNUCKLES]].mean(axis=0) for side in ("left", "right")]
    )


# ------------------------------------------------------------------------------------- the vertex subset
def _close_mouth(faces: np.ndarray) -> np.ndarray:
    """The faces plus a fan over the one boundary loop (the mouth), oriented like its neighbours."""
    directed = {(int(a), int(b)) for face in faces for a, b in ((face[0], face[1]), (face[1], face[2]), (face[2], face[0]))}
    following = {a: b for a, b in directed if (b, a) not in directed}
    start = min(following)
    loop = [start]
    while following[loop[-1]] != start:
        loop.append(following[loop[-1]])
    if len(loop) != len(following):
        raise AssertionError("the synthetic body should have exactly one hole (the mouth)")
    fan = [(loop[0], loop[index + 1], loop[index]) for index in range(1, len(loop) - 1)]
    return np.concatenate((faces, np.array(fan, dtype=faces.dtype)))


def _unit_normal(points: np.ndarray) -> np.ndarray:
    normal = np.cross(points[1] - points[0], points[2] - points[0])
    return normal / max(np.linalg.norm(normal), 1e-15)


def _collapse_shortest_edges(vertices: np.ndarray, faces: np.ndarray, protected: np.ndarray, target: int) -> tuple:
    """Collapse edges (u, v) onto u, shortest first, until `target` vertices remain; a vertex in `protected`
    is never removed, and nothing moves. Only collapses that keep the closed surface a manifold (the edge's
    ends share exactly the two opposite vertices) and flip no face are made.

    Returns the kept vertex ids (sorted) and the faces (in the original ids)."""
    faces = [list(face) for face in faces.tolist()]
    alive = [True] * len(faces)
    faces_of = [set() for _ in range(len(vertices))]
    for face_id, face in enumerate(faces):
        for vertex in face:
            faces_of[vertex].add(face_id)

    def neighbours(vertex):
        return {other for face_id in faces_of[vertex] for other in faces[face_id]} - {vertex}

    heap = []

    def push_edges(vertex):
        for other in neighbours(vertex):
            length = float(np.linalg.norm(vertices[vertex] - vertices[other]))
            for kept, removed in ((vertex, other), (other, vertex)):
                if not protected[removed]:
                    heapq.heappush(heap, (length, removed, kept))

    for vertex in range(len(vertices)):
        push_edges(vertex)
    remaining = len(vertices)
    is_removed = np.zeros(len(vertices), dtype=bool)
    while remaining > target:
        if not heap:
            raise AssertionError(f"cannot collapse the synthetic body below {remaining} vertices")
        _, removed, kept = heapq.heappop(heap)
        if is_removed[removed] or is_removed[kept]:
            continue
        shared = faces_of[removed] & faces_of[kept]
        if len(shared) != 2 or len(neighbours(removed) & neighbours(kept)) != 2:
            continue  # not an edge any more, or the collapse would pinch the surface
        moved = faces_of[removed] - shared
        if any(
            _unit_normal(vertices[faces[face_id]]) @ _unit_normal(vertices[[kept if v == removed else v for v in faces[face_id]]])
            < _SMALLEST_FACE_COSINE
            for face_id in moved
        ):
            continue
        for face_id in shared:
            alive[face_id] = False
            for vertex in faces[face_id]:
                faces_of[vertex].discard(face_id)
        for face_id in moved:
            faces[face_id] = [kept if vertex == removed else vertex for vertex in faces[face_id]]
            faces_of[kept].add(face_id)
        faces_of[removed] = set()
        is_removed[removed] = True
        remaining -= 1
        push_edges(kept)
    kept_ids = np.flatnonzero(~is_removed)
    return kept_ids, np.array([face for face, keep in zip(faces, alive) if keep], dtype=np.int64)


def _nearest(vertices: np.ndarray, candidates: np.ndarray, point: np.ndarray) -> int:
    return int(candidates[np.argmin(np.linalg.norm(vertices[candidates] - point, axis=1))])


def _vertex_joint_marks(mesh: BodyMesh) -> Dict[str, int]:
    """SMPL-X body vertex of each of smplx's vertex joints; the eyes (on the eyeballs in SMPL-X, which SMPL has
    not) become the nearest vertex of the head surface."""
    marks = {}
    head = mesh.groups["head"]
    for name in SMPLX_VERTEX_JOINT_NAMES:
        mark = mesh.marks[name if name in mesh.marks else f"{name}_tip"]  # fingertips are marked '<finger>_tip'
        marks[name] = _nearest(mesh.vertices, head, mesh.vertices[mark]) if name.endswith("_eye") else mark
    return marks


def _hand_regressor_row(vertices: np.ndarray, candidates: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Convex weights over the `candidates` near `joint` whose weighted mean is exactly `joint`."""
    distances = np.linalg.norm(vertices[candidates] - joint, axis=1)
    nearest = distances.min()
    for reach in (1.6, 2.2, 3.0, 4.0, 6.0):
        chosen = distances <= reach * nearest + 0.003
        base = np.exp(-((distances[chosen] / (reach * nearest + 0.003)) ** 2))
        weights = convex_weights_with_mean(vertices[candidates[chosen]], joint, base)
        if weights is not None:
            row = np.zeros(len(vertices))
            row[candidates[chosen]] = weights
            return row
    raise AssertionError("no convex vertex combination found for a hand joint")


def smpl_topology(mesh: BodyMesh, joints: np.ndarray, regressor: np.ndarray) -> dict:
    """What the SMPL files take from the SMPL-X mesh, independent of gender and seed.

    Args:
        mesh: the synthetic SMPL-X body mesh; joints: (55, 3) its rest skeleton; regressor: (55, 10475) its
            joint regressor.

    Returns:
        ``{"vertex_ids": (6890,) the SMPL-X vertex of each SMPL vertex, "faces": (13776, 3) in SMPL ids,
        "hand_regressor": (2, 6890) rows of the hand joints}``.
    """
    body_faces = mesh.faces[(mesh.faces < NUM_BODY_VERTICES).all(axis=1)]  # the eyeballs are the last vertices
    closed = _close_mouth(body_faces)
    marks = _vertex_joint_marks(mesh)
    protected = np.zeros(NUM_BODY_VERTICES, dtype=bool)
    protected[np.flatnonzero((regressor[:NUM_SMPL_BODY_JOINTS, :NUM_BODY_VERTICES] != 0).any(axis=0))] = True
    protected[list(marks.values())] = True
    kept, faces = _collapse_shortest_edges(mesh.vertices[:NUM_BODY_VERTICES], closed, protected, NUM_SMPL_VERTICES)
    if len(faces) != NUM_SMPL_FACES:
        raise AssertionError(f"the SMPL mesh has {len(faces)} faces, expected {NUM_SMPL_FACES}")

    # SMPL order: smplx's vertex-joint vertices at SMPL's ids for them, the others in their SMPL-X order.
    order = np.full(NUM_SMPL_VERTICES, -1, dtype=np.int64)
    for name, smpl_id in SMPL_VERTEX_JOINT_VERTEX_IDS.items():
        order[smpl_id] = marks[name]
    order[order < 0] = np.setdiff1d(kept, list(marks.values()))
    smpl_index = np.full(NUM_BODY_VERTICES, -1, dtype=np.int64)
    smpl_index[order] = np.arange(NUM_SMPL_VERTICES)

    rest = mesh.vertices[order]
    hands = hand_joint_positions(joints)
    hand_rows = []
    for side, hand in zip(("left", "right"), hands):
        wrist_and_fingers = [joint_index(f"{side}_wrist")] + finger_joints(side)
        candidates = np.flatnonzero(np.isin(mesh.segments[order], wrist_and_fingers))
        hand_rows.append(_hand_regressor_row(rest, candidates, hand))
    return {"vertex_ids": order, "faces": smpl_index[faces], "hand_regressor": np.stack(hand_rows)}


def smpl_model_arrays(smplx_model: Dict[str, np.ndarray], topology: dict) -> Dict[str, np.ndarray]:
    """The arrays of an ``SMPL_{GENDER}.pkl`` (names and shapes of the official files, all numpy) from those of
    the same gender's synthetic ``SMPLX_{GENDER}.npz`` and `smpl_topology`'s result."""
    ids = topology["vertex_ids"]
    regressor = np.concatenate((smplx_model["J_regressor"][:NUM_SMPL_BODY_JOINTS][:, ids], topology["hand_regressor"]))
    weights = np.zeros((NUM_SMPL_VERTICES, NUM_SMPL_JOINTS))
    np.add.at(weights.T, smpl_joint_of_smplx_joints(), smplx_model["weights"][ids].T)
    posedirs = np.zeros((NUM_SMPL_VERTICES, 3, NUM_SMPL_POSE_FEATURES), dtype=np.float32)
    body_features = 9 * (NUM_SMPL_BODY_JOINTS - 1)  # joints 1-21: SMPL-X's correctives; the hands have none
    posedirs[:, :, :body_features] = smplx_model["posedirs"][ids, :, :body_features]
    kintree = np.stack((np.array(SMPL_PARENTS, dtype=np.int64), np.arange(NUM_SMPL_JOINTS, dtype=np.int64)))
    kintree[0, 0] = ROOT_PARENT_IN_FILE
    return {
        "v_template": np.asarray(smplx_model["v_template"][ids], dtype=np.float64),
        "f": topology["faces"].astype(np.uint32),
        "J_regressor": regressor,
        "kintree_table": kintree,
        "weights": weights,
        "posedirs": posedirs,
        "shapedirs": np.asarray(smplx_model["shapedirs"][ids, :, :NUM_SHAPE_DIRECTIONS], dtype=np.float32),
    }


__all__ = ["hand_joint_positions", "smpl_model_arrays", "smpl_topology"]
