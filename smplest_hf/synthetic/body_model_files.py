"""Write the synthetic body models in SMPL-X's and SMPL's official file layouts and formats.

::

    DIRECTORY/smplx/SMPLX_NEUTRAL.npz  SMPLX_MALE.npz  SMPLX_FEMALE.npz
    DIRECTORY/smplx/SMPLX_to_J14.pkl                  (14, 10475) float64 array, pickled
    DIRECTORY/smplx/MANO_SMPLX_vertex_ids.pkl         {'left_hand': (778,), 'right_hand': (778,)}, pickled
    DIRECTORY/smplx/SMPL-X__FLAME_vertex_ids.npy      (5023,) int64
    DIRECTORY/smpl/SMPL_NEUTRAL.pkl  SMPL_MALE.pkl  SMPL_FEMALE.pkl   (dicts of numpy arrays, pickled)

The ``.npz`` files hold the arrays (names, shapes) of the official ones that the ``smplx`` package and
``smplest_hf.models.smplest_x.body_model`` read, and nothing pickled (``np.load(..., allow_pickle=False)`` reads them). The SMPL
files are pickles as the official ones are (``smplx.SMPL`` reads nothing else), of plain numpy arrays only (no
chumpy, no scipy); ``smpl_model`` says how they derive from the SMPL-X model. Large blend-shape arrays are
float32, the rest float64. Files are written atomically (``export.atomic``), so a reader never sees half a
file; zip entries carry a fixed date, so the same seed gives
byte-identical files.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     directory = write_synthetic_body_model(folder, seed=0)
...     print(sorted(path.name for path in (directory / "smplx").iterdir()))  # doctest: +NORMALIZE_WHITESPACE
['MANO_SMPLX_vertex_ids.pkl', 'SMPL-X__FLAME_vertex_ids.npy', 'SMPLX_FEMALE.npz', 'SMPLX_MALE.npz',
 'SMPLX_NEUTRAL.npz', 'SMPLX_to_J14.pkl']
...     print(sorted(path.name for path in (directory / "smpl").iterdir()))
['SMPL_FEMALE.pkl', 'SMPL_MALE.pkl', 'SMPL_NEUTRAL.pkl']
"""

import functools
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np

from ..export.atomic import atomic_file, write_bytes_atomic
from ..models.smplest_x.smplx_layout import GENDERS, SMPLX_PARENTS
from .blend_shapes import expression_directions, gendered_template, pose_directions, shape_directions
from .body_mesh import build_body_mesh
from .rigging import (
    face_vertex_ids,
    hand_vertex_ids,
    j14_regressor,
    joint_regressor,
    mean_hand_poses,
    skinning_weights,
)
from .skeleton import ROOT_PARENT_IN_FILE, rest_joints
from .smpl_model import smpl_model_arrays, smpl_topology


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _write_npz(file, arrays: Dict[str, np.ndarray]) -> None:
    """An uncompressed .npz (what ``np.savez`` writes) with fixed zip dates, so equal arrays give equal bytes."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def build_synthetic_body_model(seed: int = 0, genders: Sequence[str] = GENDERS) -> dict:
    """Every array of the synthetic body models: ``{"models": {gender: {key: array}}, "j14_regressor",
    "hand_vertex_ids", "face_vertex_ids", "smpl_models": {gender: {key: array}}}`` — what
    `write_synthetic_body_model` writes (``models`` for SMPL-X, ``smpl_models`` for SMPL)."""
    unknown = [gender for gender in genders if gender not in GENDERS]
    if unknown or not genders:
        raise ValueError(f"genders must be a non-empty selection of {GENDERS}, got {tuple(genders)}")
    rng = np.random.default_rng(seed)
    rig = _rigged_mesh()
    mesh, joints, weights, regressor = rig["mesh"], rig["joints"], rig["weights"], rig["regressor"]
    shapes = shape_directions(mesh, joints, rng)
    expressions = expression_directions(mesh, joints, weights, rig["face_vertex_ids"], rng)
    posedirs = pose_directions(mesh, weights, rng).astype(np.float32)
    shapedirs = np.concatenate((shapes, expressions), axis=2).astype(np.float32)
    hands_mean_left, hands_mean_right = mean_hand_poses()
    # Hand PCA bases are read by smplx even without PCA poses: a seeded orthonormal basis stands in.
    components_left = np.linalg.qr(rng.normal(size=(45, 45)))[0].T
    components_right = components_left * np.tile((1.0, -1.0, -1.0), 15)  # mirror image of the left basis
    kintree = np.stack((np.array(SMPLX_PARENTS, dtype=np.int64), np.arange(len(SMPLX_PARENTS), dtype=np.int64)))
    kintree[0, 0] = ROOT_PARENT_IN_FILE
    common = {  # copies: the cached rig's arrays are read-only and shared
        "f": mesh.faces.astype(np.uint32),
        "J_regressor": regressor.copy(),
        "kintree_table": kintree,
        "weights": weights.copy(),
        "posedirs": posedirs,
        "shapedirs": shapedirs,
        "lmk_faces_idx": mesh.landmark_faces.astype(np.int64),
        "lmk_bary_coords": mesh.landmark_barycentric.copy(),
        "dynamic_lmk_faces_idx": mesh.contour_faces.astype(np.int64),
        "dynamic_lmk_bary_coords": mesh.contour_barycentric.copy(),
        "hands_meanl": hands_mean_left,
        "hands_meanr": hands_mean_right,
        "hands_componentsl": components_left,
        "hands_componentsr": components_right,
    }
    models = {gender: {"v_template": gendered_template(mesh, shapes, gender), **common} for gender in genders}
    return {
        "models": models,
        "j14_regressor": rig["j14_regressor"].copy(),
        "hand_vertex_ids": {key: ids.astype(np.int64) for key, ids in rig["hand_vertex_ids"].items()},
        "face_vertex_ids": rig["face_vertex_ids"].astype(np.int64),
        "smpl_models": {gender: smpl_model_arrays(model, rig["smpl_topology"]) for gender, model in models.items()},
    }


@functools.lru_cache(maxsize=1)
def _rigged_mesh() -> dict:
    """The mesh and everything derived from it without randomness, built once per process (writing several
    seeds or directories reuses it). Its arrays are read-only: callers copy what they change."""
    mesh = build_body_mesh()
    joints = rest_joints()
    regressor = joint_regressor(mesh, joints)
    rig = {
        "mesh": mesh,
        "joints": joints,
        "weights": skinning_weights(mesh),
        "regressor": regressor,
        "j14_regressor": j14_regressor(mesh, regressor),
        "hand_vertex_ids": hand_vertex_ids(mesh, joints),
        "face_vertex_ids": face_vertex_ids(mesh),
        "smpl_topology": smpl_topology(mesh, joints, regressor),
    }
    arrays = [mesh.vertices, mesh.faces, mesh.segments, mesh.landmark_faces, mesh.landmark_barycentric,
              mesh.contour_faces, mesh.contour_barycentric, *mesh.groups.values(), *rig["hand_vertex_ids"].values(),
              *rig["smpl_topology"].values(), *[value for value in rig.values() if isinstance(value, np.ndarray)]]  # fmt: skip
    for array in arrays:
        array.setflags(write=False)
    return rig


def write_synthetic_body_model(
    directory: Union[str, os.PathLike], seed: int = 0, genders: Sequence[str] = GENDERS
) -> Path:
    """Write a synthetic SMPL-X-format body model to ``directory/smplx/`` and its SMPL-format sibling to
    ``directory/smpl/``, and return ``directory``.

    The body looks like a person (T-pose, 1.72 m, five-fingered hands, a face) and goes through exactly the
    code that reads the real, licensed SMPL-X and SMPL files. It is neither: shapes, expressions and pose
    correctives are synthetic, so it serves tests, demos and training on synthetic data, not real fits.

    Args:
        directory: created if missing; existing files of the same names are replaced.
        seed: seeds the random parts of the blend shapes (the mesh and rig do not depend on it).
        genders: which ``SMPLX_{GENDER}.npz`` and ``SMPL_{GENDER}.pkl`` files to write.
    """
    directory = Path(directory)
    target, smpl_target = directory / "smplx", directory / "smpl"
    target.mkdir(parents=True, exist_ok=True)
    smpl_target.mkdir(exist_ok=True)
    arrays = build_synthetic_body_model(seed, genders)
    for gender, model in arrays["smpl_models"].items():
        write_bytes_atomic(smpl_target / f"SMPL_{gender.upper()}.pkl", pickle.dumps(model, protocol=2))
    for gender, model in arrays["models"].items():
        with atomic_file(target / f"SMPLX_{gender.upper()}.npz") as file:
            _write_npz(file, model)
    write_bytes_atomic(target / "SMPLX_to_J14.pkl", pickle.dumps(arrays["j14_regressor"], protocol=2))
    write_bytes_atomic(target / "MANO_SMPLX_vertex_ids.pkl", pickle.dumps(arrays["hand_vertex_ids"], protocol=2))
    write_bytes_atomic(target / "SMPL-X__FLAME_vertex_ids.npy", _npy_bytes(arrays["face_vertex_ids"]))
    return directory
