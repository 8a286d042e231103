"""The SMPL-X (and SMPL) body models: pose and shape parameters in, mesh vertices and joints out.

SMPL-X model files are licensed (https://smpl-x.is.tue.mpg.de) and never shipped or saved with model weights:
every array read from them lives in a *non-persistent* buffer, so ``state_dict()`` of this module is empty and
``save_pretrained`` of a model holding it writes none of it. The files are read from a directory in the
official layout::

    DIR/smplx/SMPLX_NEUTRAL.npz  SMPLX_MALE.npz  SMPLX_FEMALE.npz    (the body models; one gender is enough)
    DIR/smplx/SMPLX_to_J14.pkl                                       (14-joint evaluation regressor)
    DIR/smplx/MANO_SMPLX_vertex_ids.pkl  SMPL-X__FLAME_vertex_ids.npy (hand / face vertex ids, evaluation)

``DIR`` itself may also be the ``smplx/`` folder. The three evaluation files are read only when first used.
A synthetic stand-in in the same format is written by ``smplest-x make-synthetic-body-model DIR``; it goes
through exactly the same code.

The computation is the original SMPLest-X's: ``smplx.SMPLX(use_pca=False, flat_hand_mean=False,
use_face_contour=True)`` with eye poses zero — so hand poses are offsets from the model file's mean hand pose
— written with smplx's own LBS functions (``smplx.lbs``). We do not instantiate ``smplx.SMPLXLayer`` because its
constructor re-reads the ``.npz`` with ``allow_pickle=True`` (a tampered file could run code) and registers
every array as a persistent buffer. Files here are read with pickling disabled, or, for the two small
``.pkl`` files, with an unpickler that only rebuilds numpy arrays.

``SmplBodyModel`` is SMPL (6890 vertices, 24 joints), which builds 3DPW's ground truth; its licensed files sit
beside SMPL-X's, as ``DIR/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (see the SMPL section below).

```python
>>> body_model = SmplxBodyModel.from_directory("human_model_files")  # or None with SMPLX_MODEL_DIR set
>>> output = body_model(global_orient, body_pose, left_hand_pose, right_hand_pose, jaw_pose, betas, expression)
>>> output.vertices.shape, output.joints.shape, output.smplx_joints.shape
((N, 10475, 3), (N, 137, 3), (N, 144, 3))
```
"""

import functools
import importlib
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from .smpl_layout import (
    NUM_SMPL_BODY_POSE_JOINTS,
    NUM_SMPL_FACES,
    NUM_SMPL_JOINTS,
    NUM_SMPL_POSE_FEATURES,
    NUM_SMPL_VERTICES,
)
from .smplx_layout import (
    FILE_EXPRESSION_SPACE,
    FILE_SHAPE_SPACE,
    GENDERS,
    J14_JOINT_NAMES,
    NUM_BETAS,
    NUM_EXPRESSION_COEFFS,
    NUM_FLAME_VERTICES,
    NUM_HAND_POSE_JOINTS,
    NUM_MANO_VERTICES,
    NUM_SMPLX_FACES,
    NUM_SMPLX_JOINTS,
    NUM_SMPLX_OUTPUT_JOINTS,
    NUM_SMPLX_VERTICES,
    NUM_SUPERVISION_JOINTS,
    POSE_PARAMETER_JOINTS,
    SMPLX_FACE_CONTOUR_NAMES,
    SMPLX_FACE_LANDMARK_NAMES,
    SMPLX_JOINT_NAMES,
    SMPLX_VERTEX_JOINT_VERTEX_IDS,
    SUPERVISION_JOINT_INDICES,
)


try:
    from smplx.lbs import batch_rodrigues, find_dynamic_lmk_idx_and_bcoords, lbs, vertices2landmarks
except ImportError:  # optional for the model itself; needed only to run the body model
    batch_rodrigues = find_dynamic_lmk_idx_and_bcoords = lbs = vertices2landmarks = None


NUM_STATIC_LANDMARKS = len(SMPLX_FACE_LANDMARK_NAMES)
NUM_CONTOUR_LANDMARKS = len(SMPLX_FACE_CONTOUR_NAMES)
NUM_CONTOUR_ANGLES = 79  # contour look-up table rows: head turn -39..39 degrees
NUM_J14_JOINTS = len(J14_JOINT_NAMES)

SMPLX_MODEL_DIR_ENV = "SMPLX_MODEL_DIR"
J14_REGRESSOR_FILE = "SMPLX_to_J14.pkl"
HAND_VERTEX_IDS_FILE = "MANO_SMPLX_vertex_ids.pkl"
FACE_VERTEX_IDS_FILE = "SMPL-X__FLAME_vertex_ids.npy"

_SMPLX_WEBSITE = "https://smpl-x.is.tue.mpg.de"
_HOW_TO_GET_THE_MODEL = (
    f"SMPL-X model files are licensed and not bundled: register at {_SMPLX_WEBSITE} and download the SMPL-X "
    "model (npz), then pass the folder that contains `smplx/` (as `body_model_dir=` / `--body-model`) or set "
    f"{SMPLX_MODEL_DIR_ENV}. For a synthetic stand-in in the same format (tests, demos; not a real body) run "
    "`smplest-x make-synthetic-body-model DIR`."
)
_WHERE_AUXILIARY_FILES_COME_FROM = {
    J14_REGRESSOR_FILE: "it ships with the ExPose data (https://expose.is.tue.mpg.de, registration required)",
    HAND_VERTEX_IDS_FILE: f"it is the 'MANO and FLAME vertex indices' download at {_SMPLX_WEBSITE}",
    FACE_VERTEX_IDS_FILE: f"it is the 'MANO and FLAME vertex indices' download at {_SMPLX_WEBSITE}",
}


class BodyModelFileError(ValueError):
    """A SMPL-X body-model file is missing or malformed. The message names the file and how to obtain it."""


# --------------------------------------------------------------------------------------------- file reading
def resolve_smplx_directory(directory: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The folder holding ``SMPLX_*.npz``: ``directory/smplx`` (official layout) or ``directory`` itself.

    ``directory=None`` reads the ``SMPLX_MODEL_DIR`` environment variable. Raises ``BodyModelFileError``
    saying where it looked.
    """
    if directory is None:
        directory = os.environ.get(SMPLX_MODEL_DIR_ENV) or None
        if directory is None:
            raise BodyModelFileError(f"No SMPL-X body model directory given and {SMPLX_MODEL_DIR_ENV} is not set. {_HOW_TO_GET_THE_MODEL}")
    return _model_folder(directory, "smplx", "SMPLX_NEUTRAL.npz", ("SMPLX_*.npz",), _HOW_TO_GET_THE_MODEL)


def _model_folder(directory, folder: str, neutral_file: str, patterns: Tuple[str, ...], how_to_get: str) -> Path:
    """``directory/folder`` (the official layout: ``smplx/`` or ``smpl/`` beside each other) or, forgivingly,
    ``directory`` itself when it holds files matching `patterns` (the folder itself was given); otherwise
    ``BodyModelFileError`` naming where it looked (``folder/neutral_file``) and `how_to_get` the files."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise BodyModelFileError(
            f"Body model directory {str(directory)!r} does not exist or is not a directory; expected the folder "
            f"that contains `{folder}/{neutral_file}`. {how_to_get}"
        )
    official = directory / folder
    if official.is_dir():
        return official
    if any(any(directory.glob(pattern)) for pattern in patterns):
        return directory
    raise BodyModelFileError(f"No `{folder}/` folder in {str(directory)!r} (looked for {str(official / neutral_file)!r}). {how_to_get}")


def _stat_key(path: Path):
    # The cache is keyed on modification time and size, so a replaced file is read again.
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


_SMPLX_SIZES = (
    f"An SMPL-X file has {NUM_SMPLX_VERTICES} vertices, {NUM_SMPLX_FACES} faces and {NUM_SMPLX_JOINTS} joints; is this an "
    "SMPL-X model?"
)


def _check_array(path: Path, key: str, array: np.ndarray, shape, kind: str, model_sizes: str = _SMPLX_SIZES) -> None:
    """Raise BodyModelFileError unless `array` has `shape` (None = any size) and dtype kind in `kind`;
    `model_sizes` says what the file's model should look like."""
    shape_ok = array.ndim == len(shape) and all(want is None or want == got for want, got in zip(shape, array.shape))
    if not shape_ok:
        expected = "(" + ", ".join("any" if size is None else str(size) for size in shape) + ")"
        raise BodyModelFileError(f"{str(path)!r}: `{key}` has shape {array.shape}, expected {expected}. {model_sizes}")
    if array.dtype.kind not in kind:
        wanted = "integers" if kind == "iu" else "floating-point numbers"
        raise BodyModelFileError(f"{str(path)!r}: `{key}` holds {array.dtype}, expected {wanted}.")
    if kind == "f" and not np.isfinite(array).all():
        raise BodyModelFileError(f"{str(path)!r}: `{key}` contains NaN or infinite values.")


def _check_index_range(path: Path, key: str, array: np.ndarray, upper: int, what: str) -> None:
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise BodyModelFileError(
            f"{str(path)!r}: `{key}` holds values in [{array.min()}, {array.max()}], expected {what} in [0, {upper})."
        )


# key -> (shape, dtype kind); None in a shape means any size there. Hand PCA components are not needed.
_MODEL_ARRAYS = {
    "v_template": ((NUM_SMPLX_VERTICES, 3), "f"),
    "f": ((NUM_SMPLX_FACES, 3), "iu"),
    "J_regressor": ((NUM_SMPLX_JOINTS, NUM_SMPLX_VERTICES), "f"),
    "kintree_table": ((2, NUM_SMPLX_JOINTS), "iu"),
    "weights": ((NUM_SMPLX_VERTICES, NUM_SMPLX_JOINTS), "f"),
    "posedirs": ((NUM_SMPLX_VERTICES, 3, 9 * (NUM_SMPLX_JOINTS - 1)), "f"),
    "shapedirs": ((NUM_SMPLX_VERTICES, 3, None), "f"),
    "lmk_faces_idx": ((NUM_STATIC_LANDMARKS,), "iu"),
    "lmk_bary_coords": ((NUM_STATIC_LANDMARKS, 3), "f"),
    "dynamic_lmk_faces_idx": ((NUM_CONTOUR_ANGLES, NUM_CONTOUR_LANDMARKS), "iu"),
    "dynamic_lmk_bary_coords": ((NUM_CONTOUR_ANGLES, NUM_CONTOUR_LANDMARKS, 3), "f"),
    "hands_meanl": ((3 * NUM_HAND_POSE_JOINTS,), "f"),
    "hands_meanr": ((3 * NUM_HAND_POSE_JOINTS,), "f"),
}


@functools.lru_cache(maxsize=3)
def _read_model_file_cached(path: str, mtime_ns: int, size: int) -> Dict[str, np.ndarray]:
    return _read_model_file(Path(path))


def _read_model_file(path: Path) -> Dict[str, np.ndarray]:
    """Read and validate an ``SMPLX_*.npz`` without unpickling anything; returns read-only arrays."""
    # The file is opened here, not by np.load: np.load leaks its own handle when the zip directory is damaged.
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise BodyModelFileError(f"{str(path)!r} is not a readable .npz archive ({error}). {_HOW_TO_GET_THE_MODEL}") from error
    with handle:
        arrays = _read_model_arrays(path, handle)

    _check_index_range(path, "f", arrays["f"], NUM_SMPLX_VERTICES, "vertex indices")
    _check_index_range(path, "lmk_faces_idx", arrays["lmk_faces_idx"], NUM_SMPLX_FACES, "face indices")
    _check_index_range(path, "dynamic_lmk_faces_idx", arrays["dynamic_lmk_faces_idx"], NUM_SMPLX_FACES, "face indices")
    parents = arrays["kintree_table"][0, 1:].astype(np.int64)
    if not (parents < np.arange(1, NUM_SMPLX_JOINTS)).all() or parents.min() < 0:
        raise BodyModelFileError(f"{str(path)!r}: `kintree_table` is not a tree whose parents precede their children.")
    num_components = arrays["shapedirs"].shape[2]
    needed = NUM_BETAS + NUM_EXPRESSION_COEFFS
    if num_components < needed:
        raise BodyModelFileError(
            f"{str(path)!r}: `shapedirs` has {num_components} components, expected at least {needed} "
            f"({NUM_BETAS} shape + {NUM_EXPRESSION_COEFFS} expression)."
        )
    for array in arrays.values():
        array.setflags(write=False)  # shared through the cache
    return arrays


def _read_model_arrays(path: Path, handle) -> Dict[str, np.ndarray]:
    """The `_MODEL_ARRAYS` of the open `.npz` file `handle` (of `path`), each checked for shape and kind."""
    try:
        archive = np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise BodyModelFileError(f"{str(path)!r} is not a readable .npz archive ({error}). {_HOW_TO_GET_THE_MODEL}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BodyModelFileError(f"{str(path)!r} holds a single array, not an .npz archive of SMPL-X arrays. {_HOW_TO_GET_THE_MODEL}")
    with archive:
        missing = [key for key in _MODEL_ARRAYS if key not in archive.files]
        if missing:
            raise BodyModelFileError(
                f"{str(path)!r} lacks the SMPL-X arrays {missing} (it has {sorted(archive.files)}). {_HOW_TO_GET_THE_MODEL}"
            )
        arrays = {}
        for key, (shape, kind) in _MODEL_ARRAYS.items():
            try:
                arrays[key] = np.asarray(archive[key])
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise BodyModelFileError(f"{str(path)!r}: cannot read `{key}` as a numeric array ({error}).") from error
            _check_array(path, key, arrays[key], shape, kind)
    return arrays


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and dicts/lists of them) and refuses every other class, so a tampered
    ``.pkl`` cannot run code. Pickles from Python 2 / numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``)
    both load."""

    # (module, name) with numpy's private `core`/`_core` package left out of the module.
    # `_codecs.encode` rebuilds bytes in protocol-2 pickles written by Python 3; it only converts strings.
    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("multiarray", "_reconstruct"), ("multiarray", "scalar"),
        ("numeric", "_frombuffer"), ("_codecs", "encode"),
    }  # fmt: skip

    def find_class(self, module, name):
        parts = module.split(".")
        is_numpy_core = len(parts) == 3 and parts[:2] in (["numpy", "core"], ["numpy", "_core"])
        short_module = parts[2] if is_numpy_core else module
        if (short_module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load `{module}.{name}`: only numpy arrays are expected")
        if not is_numpy_core:
            return super().find_class(module, name)
        try:
            return getattr(importlib.import_module(f"numpy._core.{short_module}"), name)
        except ImportError:  # numpy < 2 has only `numpy.core`
            return getattr(importlib.import_module(f"numpy.core.{short_module}"), name)


def _read_pickle(path: Path):
    try:
        with open(path, "rb") as file:
            return _NumpyArrayUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as error:
        raise BodyModelFileError(f"{str(path)!r} is not a pickle of numpy arrays ({error}).") from error


@functools.lru_cache(maxsize=3)
def _read_auxiliary_file_cached(path: str, mtime_ns: int, size: int):
    path = Path(path)
    if path.name == J14_REGRESSOR_FILE:
        regressor = _read_pickle(path)
        if not isinstance(regressor, np.ndarray):
            raise BodyModelFileError(f"{str(path)!r} holds a {type(regressor).__name__}, expected a dense numpy array.")
        _check_array(path, "J14 regressor", regressor, (NUM_J14_JOINTS, NUM_SMPLX_VERTICES), "f")
        result = regressor
    elif path.name == HAND_VERTEX_IDS_FILE:
        ids = _read_pickle(path)
        if not isinstance(ids, dict) or not {"left_hand", "right_hand"} <= set(ids):
            raise BodyModelFileError(f"{str(path)!r} should hold a dict with `left_hand` and `right_hand` vertex ids.")
        result = {}
        for key in ("left_hand", "right_hand"):
            array = np.asarray(ids[key])
            _check_array(path, key, array, (NUM_MANO_VERTICES,), "iu")
            _check_index_range(path, key, array, NUM_SMPLX_VERTICES, "vertex indices")
            result[key] = array
    else:
        try:
            ids = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise BodyModelFileError(f"{str(path)!r} is not a readable .npy array ({error}).") from error
        if not isinstance(ids, np.ndarray):
            raise BodyModelFileError(f"{str(path)!r} should be a single .npy array of vertex ids, not an archive.")
        _check_array(path, "face vertex ids", ids, (NUM_FLAME_VERTICES,), "iu")
        _check_index_range(path, "face vertex ids", ids, NUM_SMPLX_VERTICES, "vertex indices")
        result = ids
    for array in result.values() if isinstance(result, dict) else (result,):
        array.setflags(write=False)
    return result


def clear_body_model_cache() -> None:
    """Forget the arrays kept from files read earlier (they are re-read when a file changes anyway)."""
    _read_model_file_cached.cache_clear()
    _read_auxiliary_file_cached.cache_clear()
    _read_smpl_model_file_cached.cache_clear()


# ------------------------------------------------------------------------------------------------ the model
@dataclass
class SmplxBodyModelOutput:
    """Output of ``SmplxBodyModel``; all in the body model's dtype and device, translated by ``transl``.

    Attributes:
        vertices: (N, 10475, 3) mesh vertices.
        joints: (N, 137, 3) the supervision joints of SMPLest-X (``smplx_layout.SUPERVISION_JOINT_NAMES``).
        smplx_joints: (N, 144, 3) every joint smplx returns with the face contour
            (``smplx_layout.SMPLX_OUTPUT_JOINT_NAMES``).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    smplx_joints: torch.Tensor


class SmplxBodyModel(nn.Module):
    """SMPL-X as SMPLest-X uses it: axis-angle poses, 10 betas, 10 expression coefficients, eye poses zero,
    no hand PCA, hand poses relative to the file's mean hand pose, face contour on.

    Every array is a non-persistent buffer: ``state_dict()`` is empty and ``.to(device, dtype)`` moves them.

    Args:
        directory: the folder containing ``smplx/`` (or the ``smplx/`` folder itself); ``None`` reads the
            ``SMPLX_MODEL_DIR`` environment variable.
        gender: ``"neutral"`` (what SMPLest-X predicts), ``"male"`` or ``"female"``.
        flat_hand_mean: ``False`` (the original) adds the file's mean hand pose to the hand poses; ``True``
            uses them as they are.
        dtype: floating dtype of the buffers (``torch.float64`` keeps a float64 file's full precision).

    Attributes (besides the buffers): ``faces`` (20908, 3) int64, ``j14_regressor`` (14, 10475),
    ``hand_vertex_ids`` {"left", "right"} -> (778,) int64, ``face_vertex_ids`` (5023,) int64 — the last three
    are read from their files on first use.
    """

    def __init__(
        self,
        directory: Optional[Union[str, os.PathLike]] = None,
        gender: str = "neutral",
        *,
        flat_hand_mean: bool = False,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if not isinstance(gender, str) or gender.lower() not in GENDERS:
            raise ValueError(f"`gender` must be one of {GENDERS}, got {gender!r}.")
        if not dtype.is_floating_point:
            raise ValueError(f"`dtype` must be a floating-point dtype, got {dtype}.")
        self.gender = gender.lower()
        self.smplx_directory = resolve_smplx_directory(directory)
        self.model_file = self.smplx_directory / f"SMPLX_{self.gender.upper()}.npz"
        if not self.model_file.is_file():
            found_pickle = self.model_file.with_suffix(".pkl").is_file()
            hint = " Only the .npz version is read (a .pkl of the same model is there)." if found_pickle else ""
            raise BodyModelFileError(f"SMPL-X model file not found: {str(self.model_file)!r}.{hint} {_HOW_TO_GET_THE_MODEL}")
        arrays = _read_model_file_cached(*_stat_key(self.model_file))

        def as_float(array):
            return torch.tensor(array, dtype=dtype)

        def as_index(array):
            return torch.tensor(np.asarray(array, dtype=np.int64))

        shapedirs = arrays["shapedirs"]
        # smplx's rule for where expressions sit in `shapedirs`: after 300 shape components in full models,
        # after 10 in the small "10 shape + 10 expression" models.
        full_space = shapedirs.shape[2] >= FILE_SHAPE_SPACE + FILE_EXPRESSION_SPACE
        expression_start = FILE_SHAPE_SPACE if full_space else NUM_BETAS
        parents = np.array(arrays["kintree_table"][0], dtype=np.int64)  # a copy: cached arrays are read-only
        parents[0] = -1  # the file stores the root's parent as an arbitrary (often uint32-max) value
        neck_chain = [SMPLX_JOINT_NAMES.index("neck")]
        while parents[neck_chain[-1]] != -1:  # neck, spine3, spine2, spine1, pelvis
            neck_chain.append(int(parents[neck_chain[-1]]))
        hand_means = np.zeros((2, 3 * NUM_HAND_POSE_JOINTS)) if flat_hand_mean else np.stack((arrays["hands_meanl"], arrays["hands_meanr"]))

        buffers = {
            "v_template": as_float(arrays["v_template"]),  # (V, 3)
            "shapedirs": as_float(shapedirs[:, :, :NUM_BETAS]),  # (V, 3, 10)
            "expression_dirs": as_float(shapedirs[:, :, expression_start : expression_start + NUM_EXPRESSION_COEFFS]),
            # (486, V*3): pose-corrective blend shapes laid out as smplx's lbs expects them.
            "posedirs": as_float(arrays["posedirs"].reshape(-1, arrays["posedirs"].shape[2]).T),
            "joint_regressor": as_float(arrays["J_regressor"]),  # (55, V)
            "parents": torch.from_numpy(parents),  # (55,)
            "lbs_weights": as_float(arrays["weights"]),  # (V, 55)
            "faces": as_index(arrays["f"]),  # (F, 3)
            "hand_pose_mean": as_float(hand_means.reshape(2, NUM_HAND_POSE_JOINTS, 3)),  # (2, 15, 3) left, right
            "landmark_face_ids": as_index(arrays["lmk_faces_idx"]),  # (51,)
            "landmark_barycentric": as_float(arrays["lmk_bary_coords"]),  # (51, 3)
            "contour_face_ids": as_index(arrays["dynamic_lmk_faces_idx"]),  # (79, 17)
            "contour_barycentric": as_float(arrays["dynamic_lmk_bary_coords"]),  # (79, 17, 3)
            "neck_kinematic_chain": as_index(neck_chain),  # (5,)
            "vertex_joint_ids": as_index(SMPLX_VERTEX_JOINT_VERTEX_IDS),  # (21,)
            "supervision_joint_indices": as_index(SUPERVISION_JOINT_INDICES),  # (137,)
        }
        for name, tensor in buffers.items():
            # Non-persistent: licensed arrays must never end up in a checkpoint or `model.safetensors`.
            self.register_buffer(name, tensor, persistent=False)

    @classmethod
    def from_directory(
        cls, directory: Optional[Union[str, os.PathLike]] = None, gender: str = "neutral", **kwargs
    ) -> "SmplxBodyModel":
        """Load the body model of `gender` from `directory` (see the class docstring); ``None`` reads
        ``SMPLX_MODEL_DIR``. Missing or malformed files raise ``BodyModelFileError`` naming the file."""
        return cls(directory, gender, **kwargs)

    def extra_repr(self) -> str:
        return f"gender={self.gender!r}, model_file={str(self.model_file)!r}"

    # ----------------------------------------------------------------------------------- evaluation files
    def _auxiliary_buffer(self, buffer_name: str, file_name: str, key: Optional[str] = None) -> torch.Tensor:
        """A buffer read from an evaluation file on first use, then kept (non-persistent) like the others."""
        if buffer_name not in self._buffers:
            path = self.smplx_directory / file_name
            if not path.is_file():
                raise BodyModelFileError(
                    f"Body model file not found: {str(path)!r}; {_WHERE_AUXILIARY_FILES_COME_FROM[file_name]}. "
                    "It is needed for evaluation only, not for inference."
                )
            content = _read_auxiliary_file_cached(*_stat_key(path))
            array = content[key] if key is not None else content
            device = self.v_template.device
            if array.dtype.kind == "f":
                tensor = torch.tensor(array, dtype=self.v_template.dtype, device=device)
            else:
                tensor = torch.tensor(np.asarray(array, dtype=np.int64), device=device)
            self.register_buffer(buffer_name, tensor, persistent=False)
        return self._buffers[buffer_name]

    @property
    def j14_regressor(self) -> torch.Tensor:
        """(14, 10475) regressor of the 14 LSP joints (``smplx_layout.J14_JOINT_NAMES``) from mesh vertices."""
        return self._auxiliary_buffer("_j14_regressor", J14_REGRESSOR_FILE)

    @property
    def hand_vertex_ids(self) -> Dict[str, torch.Tensor]:
        """{"left", "right"}: (778,) int64 SMPL-X vertices of each MANO hand."""
        return {
            "left": self._auxiliary_buffer("_left_hand_vertex_ids", HAND_VERTEX_IDS_FILE, "left_hand"),
            "right": self._auxiliary_buffer("_right_hand_vertex_ids", HAND_VERTEX_IDS_FILE, "right_hand"),
        }

    @property
    def face_vertex_ids(self) -> torch.Tensor:
        """(5023,) int64 SMPL-X vertices of the FLAME face."""
        return self._auxiliary_buffer("_face_vertex_ids", FACE_VERTEX_IDS_FILE)

    def regress_j14(self, vertices: torch.Tensor) -> torch.Tensor:
        """(N, 10475, 3) vertices -> (N, 14, 3) LSP joints (the original's ``j14_regressor @ mesh``)."""
        _check_vertices(vertices)
        return torch.einsum("jv,nvc->njc", self.j14_regressor.to(vertices.dtype), vertices)

    def regress_smplx_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(N, 10475, 3) vertices -> (N, 55, 3) joints by the model's joint regressor (the original's
        ``J_regressor @ mesh``, used to align meshes at the pelvis, wrists or neck in evaluation)."""
        _check_vertices(vertices)
        return torch.einsum("jv,nvc->njc", self.joint_regressor.to(vertices.dtype), vertices)

    # ------------------------------------------------------------------------------------------ forward
    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        left_hand_pose: torch.Tensor,
        right_hand_pose: torch.Tensor,
        jaw_pose: torch.Tensor,
        betas: torch.Tensor,
        expression: torch.Tensor,
        transl: Optional[torch.Tensor] = None,
    ) -> SmplxBodyModelOutput:
        """Pose and shape the body.

        Args:
            global_orient: (N, 3) root rotation, axis-angle.
            body_pose: (N, 21, 3) or (N, 63) body joint rotations, axis-angle.
            left_hand_pose, right_hand_pose: (N, 15, 3) or (N, 45) finger rotations, axis-angle, relative to
                the mean hand pose unless the model was built with ``flat_hand_mean=True``.
            jaw_pose: (N, 3) axis-angle.
            betas: (N, 10) shape coefficients. expression: (N, 10) expression coefficients.
            transl: (N, 3) translation added to vertices and joints, or ``None``.

        Inputs are moved to the buffers' device and dtype. N may be 0 (empty outputs).
        """
        float_dtype, device = self.v_template.dtype, self.v_template.device
        poses = {}
        for name, tensor in zip(POSE_PARAMETER_JOINTS, (global_orient, body_pose, left_hand_pose, right_hand_pose, jaw_pose)):
            poses[name] = _as_joint_rotations(name, tensor, POSE_PARAMETER_JOINTS[name]).to(device=device, dtype=float_dtype)
        coefficients = {
            "betas": _as_vectors("betas", betas, NUM_BETAS).to(device=device, dtype=float_dtype),
            "expression": _as_vectors("expression", expression, NUM_EXPRESSION_COEFFS).to(device=device, dtype=float_dtype),
        }
        if transl is not None:
            coefficients["transl"] = _as_vectors("transl", transl, 3).to(device=device, dtype=float_dtype)
        batch_sizes = {name: tensor.shape[0] for name, tensor in {**poses, **coefficients}.items()}
        batch_size = batch_sizes["global_orient"]
        if any(size != batch_size for size in batch_sizes.values()):
            raise ValueError(f"All inputs must share the batch size N; got {batch_sizes}.")
        if batch_size == 0:
            return SmplxBodyModelOutput(
                vertices=self.v_template.new_zeros((0, NUM_SMPLX_VERTICES, 3)),
                joints=self.v_template.new_zeros((0, NUM_SUPERVISION_JOINTS, 3)),
                smplx_joints=self.v_template.new_zeros((0, NUM_SMPLX_OUTPUT_JOINTS, 3)),
            )
        if lbs is None:
            raise ImportError("Running the SMPL-X body model needs the `smplx` package: pip install smplx")

        eye_pose = poses["global_orient"].new_zeros((batch_size, 1, 3))  # eyes are never posed in SMPLest-X
        full_pose = torch.cat(  # (N, 55, 3) in SMPL-X joint order
            (
                poses["global_orient"],
                poses["body_pose"],
                poses["jaw_pose"],
                eye_pose,
                eye_pose,
                poses["left_hand_pose"] + self.hand_pose_mean[0],
                poses["right_hand_pose"] + self.hand_pose_mean[1],
            ),
            dim=1,
        )
        rotations = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(batch_size, NUM_SMPLX_JOINTS, 3, 3)
        vertices, kinematic_joints = lbs(
            torch.cat((coefficients["betas"], coefficients["expression"]), dim=1),
            rotations,
            self.v_template,
            torch.cat((self.shapedirs, self.expression_dirs), dim=2),
            self.posedirs,
            self.joint_regressor,
            self.parents,
            self.lbs_weights,
            pose2rot=False,
        )
        # Face contour points sit on faces chosen by how far the head is turned (smplx's look-up table).
        contour_face_ids, contour_barycentric = find_dynamic_lmk_idx_and_bcoords(
            vertices, rotations, self.contour_face_ids, self.contour_barycentric, self.neck_kinematic_chain, pose2rot=False
        )
        landmarks = vertices2landmarks(
            vertices,
            self.faces,
            torch.cat((self.landmark_face_ids.expand(batch_size, -1), contour_face_ids), dim=1),
            torch.cat((self.landmark_barycentric.expand(batch_size, -1, -1), contour_barycentric), dim=1),
        )
        smplx_joints = torch.cat((kinematic_joints, vertices[:, self.vertex_joint_ids], landmarks), dim=1)
        if transl is not None:
            vertices = vertices + coefficients["transl"][:, None]
            smplx_joints = smplx_joints + coefficients["transl"][:, None]
        return SmplxBodyModelOutput(
            vertices=vertices, joints=smplx_joints[:, self.supervision_joint_indices], smplx_joints=smplx_joints
        )


def _as_joint_rotations(name: str, tensor: torch.Tensor, num_joints: int) -> torch.Tensor:
    """(N, J, 3), (N, J*3) or, for a single joint, (N, 3) -> (N, J, 3)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(tensor).__name__}.")
    shape = tuple(tensor.shape)
    if shape[1:] in ((num_joints, 3), (num_joints * 3,)):
        return tensor.reshape(shape[0], num_joints, 3)
    expected = "(N, 3)" if num_joints == 1 else f"(N, {num_joints}, 3) or (N, {num_joints * 3})"
    raise ValueError(f"`{name}` must have shape {expected} (axis-angle), got {shape}.")


def _as_vectors(name: str, tensor: torch.Tensor, size: int) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.ndim != 2 or tensor.shape[1] != size:
        raise ValueError(f"`{name}` must have shape (N, {size}), got {tuple(tensor.shape)}.")
    return tensor


def _check_vertices(vertices: torch.Tensor) -> None:
    if vertices.ndim != 3 or tuple(vertices.shape[1:]) != (NUM_SMPLX_VERTICES, 3):
        raise ValueError(f"`vertices` must have shape (N, {NUM_SMPLX_VERTICES}, 3), got {tuple(vertices.shape)}.")


# ============================================================================================== SMPL
# SMPL (6890 vertices, 24 joints) builds the ground truth of 3DPW. Its files are licensed too; they sit beside
# SMPL-X's, in the layout `smplx.create(DIR, model_type="smpl", gender=...)` reads:
#
#     DIR/smpl/SMPL_NEUTRAL.pkl  SMPL_MALE.pkl  SMPL_FEMALE.pkl      (or .npz of the same arrays)
#
# The official .pkl files hold chumpy arrays and a scipy sparse `J_regressor`; they are rebuilt as numpy arrays
# by an unpickler that knows those two classes by name and imports neither (nor anything else).
SMPL_FILE_EXTENSIONS = (".npz", ".pkl")  # tried in this order: the pickle-free format first
_SMPL_WEBSITE = "https://smpl.is.tue.mpg.de"
_HOW_TO_GET_SMPL = (
    f"SMPL model files are licensed and not bundled: register at {_SMPL_WEBSITE}, download 'SMPL for Python' (male "
    "and female models) and the neutral model (SMPLify, https://smplify.is.tue.mpg.de), and save them as "
    "`smpl/SMPL_NEUTRAL.pkl`, `smpl/SMPL_MALE.pkl` and `smpl/SMPL_FEMALE.pkl` in the folder that holds `smplx/` "
    "(the one passed as `body_model_dir=` / `--body-model`); files with chumpy arrays are read as they are. For a "
    "synthetic stand-in in the same format (tests, demos; not a real body) run `smplest-x make-synthetic-body-model "
    "DIR`."
)
_SMPL_SIZES = (
    f"An SMPL file has {NUM_SMPL_VERTICES} vertices, {NUM_SMPL_FACES} faces and {NUM_SMPL_JOINTS} joints; is this an "
    "SMPL model?"
)
_SMPL_MODEL_ARRAYS = {
    "v_template": ((NUM_SMPL_VERTICES, 3), "f"),
    "f": ((NUM_SMPL_FACES, 3), "iu"),
    "J_regressor": ((NUM_SMPL_JOINTS, NUM_SMPL_VERTICES), "f"),
    "kintree_table": ((2, NUM_SMPL_JOINTS), "iu"),
    "weights": ((NUM_SMPL_VERTICES, NUM_SMPL_JOINTS), "f"),
    "posedirs": ((NUM_SMPL_VERTICES, 3, NUM_SMPL_POSE_FEATURES), "f"),
    "shapedirs": ((NUM_SMPL_VERTICES, 3, None), "f"),
}


def resolve_smpl_directory(directory: Union[str, os.PathLike]) -> Path:
    """The folder holding ``SMPL_*.pkl``: ``directory/smpl`` (the official layout, beside ``smplx/``) or
    ``directory`` itself. Raises ``BodyModelFileError`` saying where it looked and how to get the files."""
    if directory is None:
        raise BodyModelFileError(f"No SMPL body model directory given. {_HOW_TO_GET_SMPL}")
    return _model_folder(directory, "smpl", "SMPL_NEUTRAL.pkl", ("SMPL_*.pkl", "SMPL_*.npz"), _HOW_TO_GET_SMPL)


def smpl_model_file(smpl_directory: Union[str, os.PathLike], gender: str) -> Path:
    """``SMPL_{GENDER}.npz`` or, failing that, ``.pkl`` in `smpl_directory` (see `resolve_smpl_directory`);
    ``BodyModelFileError`` naming the file when neither exists."""
    if not isinstance(gender, str) or gender.lower() not in GENDERS:
        raise ValueError(f"`gender` must be one of {GENDERS}, got {gender!r}.")
    stem = Path(smpl_directory) / f"SMPL_{gender.upper()}"
    for extension in SMPL_FILE_EXTENSIONS:
        if stem.with_suffix(extension).is_file():
            return stem.with_suffix(extension)
    raise BodyModelFileError(
        f"SMPL model file not found: {str(stem.with_suffix('.pkl'))!r} (nor {stem.with_suffix('.npz').name}). "
        f"{_HOW_TO_GET_SMPL}"
    )


class _PickledChumpyArray:
    """What a pickled ``chumpy.ch.Ch`` becomes: the array it holds (its state's ``x``), nothing else kept."""

    def __setstate__(self, state):
        self.array = state.get("x") if isinstance(state, dict) else None


class _PickledSparseMatrix:
    """What a pickled scipy ``csc_matrix`` / ``csr_matrix`` becomes: its compressed arrays, densified by `dense`."""

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}

    def dense(self) -> np.ndarray:
        state = self.state
        shape = tuple(state.get("_shape", state.get("shape", ())))
        data, indices, pointers = (np.asarray(state.get(key)) for key in ("data", "indices", "indptr"))
        if len(shape) != 2 or data.shape != indices.shape or pointers.ndim != 1:
            raise ValueError("a pickled sparse matrix without a 2-D shape and matching data/indices/indptr")
        compressed_axis = 1 if state.get("format", "csc") == "csc" else 0
        dense = np.zeros(shape, dtype=data.dtype)
        outer = np.repeat(np.arange(len(pointers) - 1), np.diff(pointers))
        rows, columns = (indices, outer) if compressed_axis == 1 else (outer, indices)
        np.add.at(dense, (rows, columns), data)
        return dense


def _reconstruct_stand_in(cls, base, state):
    # `copy_reg._reconstructor` of protocol-0/1 pickles, for the stand-in classes above only.
    if cls not in (_PickledChumpyArray, _PickledSparseMatrix) or base is not object or state is not None:
        raise pickle.UnpicklingError("refusing to reconstruct anything but a chumpy array or a sparse matrix")
    return object.__new__(cls)


class _SmplModelUnpickler(_NumpyArrayUnpickler):
    """``_NumpyArrayUnpickler`` that also reads the official SMPL files: chumpy arrays and scipy sparse matrices
    become stand-ins (neither package is imported), Python 2's ``copy_reg._reconstructor`` and ``set`` (in
    chumpy's state) are allowed. Everything else is refused, so a tampered file cannot run code."""

    _STAND_INS = {
        ("chumpy.ch", "Ch"): _PickledChumpyArray,
        **{(f"scipy.sparse.{private}{kind}", f"{kind}_matrix"): _PickledSparseMatrix
           for private in ("", "_") for kind in ("csc", "csr")},
        ("copy_reg", "_reconstructor"): _reconstruct_stand_in,
        ("copyreg", "_reconstructor"): _reconstruct_stand_in,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        ("__builtin__", "set"): set,
        ("builtins", "set"): set,
    }  # fmt: skip

    def find_class(self, module, name):
        if (module, name) in self._STAND_INS:
            return self._STAND_INS[(module, name)]
        return super().find_class(module, name)


def _plain_array(path: Path, key: str, value) -> np.ndarray:
    if isinstance(value, _PickledChumpyArray):
        value = value.array
    elif isinstance(value, _PickledSparseMatrix):
        try:
            value = value.dense()
        except (ValueError, IndexError, TypeError) as error:
            raise BodyModelFileError(f"{str(path)!r}: `{key}` is a malformed sparse matrix ({error}).") from error
    if not isinstance(value, np.ndarray):
        raise BodyModelFileError(f"{str(path)!r}: `{key}` holds a {type(value).__name__}, expected a numeric array.")
    return value


@functools.lru_cache(maxsize=3)
def _read_smpl_model_file_cached(path: str, mtime_ns: int, size: int) -> Dict[str, np.ndarray]:
    return _read_smpl_model_file(Path(path))


def _read_smpl_model_file(path: Path) -> Dict[str, np.ndarray]:
    """Read and validate an ``SMPL_*.npz`` (no pickle) or ``SMPL_*.pkl`` (restricted unpickler); returns
    read-only numpy arrays."""
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                content = {key: archive[key] for key in archive.files if key in _SMPL_MODEL_ARRAYS}
        except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile, zlib.error) as error:
            raise BodyModelFileError(f"{str(path)!r} is not a readable .npz archive ({error}). {_HOW_TO_GET_SMPL}") from error
    else:
        try:
            with open(path, "rb") as file:
                content = _SmplModelUnpickler(file, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError) as error:
            raise BodyModelFileError(f"{str(path)!r} is not an SMPL model pickle ({error}). {_HOW_TO_GET_SMPL}") from error
        if not isinstance(content, dict):
            raise BodyModelFileError(f"{str(path)!r} holds a {type(content).__name__}, expected a dict of SMPL arrays.")
    missing = [key for key in _SMPL_MODEL_ARRAYS if key not in content]
    if missing:
        raise BodyModelFileError(
            f"{str(path)!r} lacks the SMPL arrays {missing} (it has {sorted(map(str, content))}). {_HOW_TO_GET_SMPL}"
        )
    arrays = {}
    for key, (shape, kind) in _SMPL_MODEL_ARRAYS.items():
        arrays[key] = _plain_array(path, key, content[key])
        _check_array(path, key, arrays[key], shape, kind, _SMPL_SIZES)
    _check_index_range(path, "f", arrays["f"], NUM_SMPL_VERTICES, "vertex indices")
    parents = arrays["kintree_table"][0, 1:].astype(np.int64)
    if not (parents < np.arange(1, NUM_SMPL_JOINTS)).all() or parents.min() < 0:
        raise BodyModelFileError(f"{str(path)!r}: `kintree_table` is not a tree whose parents precede their children.")
    if arrays["shapedirs"].shape[2] < NUM_BETAS:
        raise BodyModelFileError(
            f"{str(path)!r}: `shapedirs` has {arrays['shapedirs'].shape[2]} components, expected at least {NUM_BETAS}."
        )
    for array in arrays.values():
        array.setflags(write=False)  # shared through the cache
    return arrays


@dataclass
class SmplBodyModelOutput:
    """Output of ``SmplBodyModel``, in its dtype and device, translated by ``transl``.

    Attributes:
        vertices: (N, 6890, 3) mesh vertices.
        joints: (N, 24, 3) the kinematic joints (``smpl_layout.SMPL_JOINT_NAMES``).
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class SmplBodyModel(nn.Module):
    """SMPL as 3DPW's ground truth uses it (``smplx.SMPL`` with 10 betas): axis-angle poses, 23 body joints
    (the hands included), no vertex joints. Every array is a non-persistent buffer, as in ``SmplxBodyModel``.

    Args:
        directory: the folder containing ``smpl/`` (the one that holds ``smplx/``), or ``smpl/`` itself.
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        dtype: floating dtype of the buffers.

    Attributes (besides the buffers): ``faces`` (13776, 3) int64; ``joint_regressor`` (24, 6890), the file's
    ``J_regressor`` (3DPW's joints come from the *neutral* one).

    ```python
    >>> smpl = SmplBodyModel.from_directory("human_model_files", "male")  # reads smpl/SMPL_MALE.pkl
    >>> smpl(global_orient, body_pose, betas, transl).vertices.shape     # (N, 3), (N, 23, 3), (N, 10), (N, 3)
    (N, 6890, 3)
    ```
    """

    def __init__(self, directory: Union[str, os.PathLike], gender: str = "neutral", *, dtype: torch.dtype = torch.float32):
        super().__init__()
        if not dtype.is_floating_point:
            raise ValueError(f"`dtype` must be a floating-point dtype, got {dtype}.")
        self.smpl_directory = resolve_smpl_directory(directory)
        self.model_file = smpl_model_file(self.smpl_directory, gender)
        self.gender = gender.lower()
        arrays = _read_smpl_model_file_cached(*_stat_key(self.model_file))
        parents = np.array(arrays["kintree_table"][0], dtype=np.int64)
        parents[0] = -1  # stored as uint32 max in the official files
        posedirs = arrays["posedirs"]
        buffers = {
            "v_template": torch.tensor(arrays["v_template"], dtype=dtype),  # (6890, 3)
            "shapedirs": torch.tensor(arrays["shapedirs"][:, :, :NUM_BETAS], dtype=dtype),  # (6890, 3, 10)
            "posedirs": torch.tensor(posedirs.reshape(-1, posedirs.shape[2]).T, dtype=dtype),  # (207, 6890*3)
            "joint_regressor": torch.tensor(arrays["J_regressor"], dtype=dtype),  # (24, 6890)
            "parents": torch.from_numpy(parents),  # (24,)
            "lbs_weights": torch.tensor(arrays["weights"], dtype=dtype),  # (6890, 24)
            "faces": torch.tensor(np.asarray(arrays["f"], dtype=np.int64)),  # (13776, 3)
        }
        for name, tensor in buffers.items():
            self.register_buffer(name, tensor, persistent=False)  # licensed: never in a checkpoint

    @classmethod
    def from_directory(cls, directory: Union[str, os.PathLike], gender: str = "neutral", **kwargs) -> "SmplBodyModel":
        """Load the SMPL model of `gender` from `directory` (see the class docstring); missing or malformed files
        raise ``BodyModelFileError`` naming the file."""
        return cls(directory, gender, **kwargs)

    def extra_repr(self) -> str:
        return f"gender={self.gender!r}, model_file={str(self.model_file)!r}"

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor,
        transl: Optional[torch.Tensor] = None,
    ) -> SmplBodyModelOutput:
        """Pose and shape the body.

        Args:
            global_orient: (N, 3) root rotation, axis-angle.
            body_pose: (N, 23, 3) or (N, 69) rotations of SMPL joints 1-23 (hands included), axis-angle.
            betas: (N, 10) shape coefficients. transl: (N, 3) added to vertices and joints, or ``None``.

        Inputs are moved to the buffers' device and dtype. N may be 0 (empty outputs).
        """
        float_dtype, device = self.v_template.dtype, self.v_template.device
        global_orient = _as_joint_rotations("global_orient", global_orient, 1).to(device=device, dtype=float_dtype)
        body_pose = _as_joint_rotations("body_pose", body_pose, NUM_SMPL_BODY_POSE_JOINTS).to(device=device, dtype=float_dtype)
        betas = _as_vectors("betas", betas, NUM_BETAS).to(device=device, dtype=float_dtype)
        inputs = {"global_orient": global_orient, "body_pose": body_pose, "betas": betas}
        if transl is not None:
            inputs["transl"] = _as_vectors("transl", transl, 3).to(device=device, dtype=float_dtype)
        batch_sizes = {name: tensor.shape[0] for name, tensor in inputs.items()}
        batch_size = batch_sizes["global_orient"]
        if any(size != batch_size for size in batch_sizes.values()):
            raise ValueError(f"All inputs must share the batch size N; got {batch_sizes}.")
        if batch_size == 0:
            return SmplBodyModelOutput(
                vertices=self.v_template.new_zeros((0, NUM_SMPL_VERTICES, 3)),
                joints=self.v_template.new_zeros((0, NUM_SMPL_JOINTS, 3)),
            )
        if lbs is None:
            raise ImportError("Running the SMPL body model needs the `smplx` package: pip install smplx")
        full_pose = torch.cat((global_orient, body_pose), dim=1)  # (N, 24, 3)
        rotations = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(batch_size, NUM_SMPL_JOINTS, 3, 3)
        vertices, joints = lbs(
            betas, rotations, self.v_template, self.shapedirs, self.posedirs, self.joint_regressor, self.parents,
            self.lbs_weights, pose2rot=False,
        )  # fmt: skip
        if transl is not None:
            vertices = vertices + inputs["transl"][:, None]
            joints = joints + inputs["transl"][:, None]
        return SmplBodyModelOutput(vertices=vertices, joints=joints)


__all__ = [
    "BodyModelFileError",
    "SmplBodyModel",
    "SmplBodyModelOutput",
    "SmplxBodyModel",
    "SmplxBodyModelOutput",
    "clear_body_model_cache",
    "resolve_smpl_directory",
    "resolve_smplx_directory",
    "smpl_model_file",
]
