"""HumanData ``.npz`` + image folder -> an EHPS dataset (sharded Parquet in the Hub layout).

HumanData is mmhuman3d's annotation format, the one SMPLest-X and SMPLer-X train from: one ``.npz`` per dataset
whose per-sample arrays share a first dimension N (one row per person)::

    image_path (N,) str                   relative to the image root
    bbox_xywh (N, 5)                      person box + confidence (required)
    lhand_bbox_xywh / rhand_bbox_xywh / face_bbox_xywh (N, 5)   optional; confidence > 0 means annotated
    keypoints2d (N, 190, 3), keypoints3d (N, 190, 4)            `human_data` convention (+ `_mask` (190,))
    smplx {global_orient (N,3), body_pose (N,21,3), left/right_hand_pose (N,15,3), jaw_pose, leye_pose,
           reye_pose (N,3), betas (N,B), expression (N,E), transl (N,3), betas_neutral (N,B),
           gender (N,) str, betas_extra (N,1), lhand_root / rhand_root (N,3)}      -- or, without smplx,
    smpl {global_orient, body_pose (N,23,3), betas, transl}  /  smplh {... body_pose (N,21,3), left/right_hand_pose}
    meta {gender (N,) or str, focal_length, principal_point, height, width, R, T, ...}
    misc {flat_hand_mean, ...}, config str, __data_len__ / __key_strict__ / __keypoints_compressed__ ...

``smplx``, ``meta`` and ``misc`` are Python dicts stored as pickled object arrays. **Trust model:** a pickle can
run arbitrary code when loaded, so by default those entries are read with an unpickler that rebuilds only
numpy arrays, numpy scalars and plain containers and refuses anything else (the file is then reported, not
run). ``trust_pickle=True`` (CLI ``--trust-pickle``) loads with ``numpy.load(allow_pickle=True)`` instead —
only for files you would run as code.

Keypoints: keys are picked in the original loaders' priority order (2D: ``keypoints2d``, ``keypoints2d_smplx``,
``keypoints2d_smpl``, ``keypoints2d_original``; 3D: ``keypoints3d_cam``, ``keypoints3d``, ``keypoints3d_smplx``,
``keypoints3d_smpl``, ``keypoints3d_original``), masks compressed files are decompressed with, and the first 144
joints of ``human_data`` — SMPL-X's output joints, in order — become the ``smplx_144`` keypoints. A joint whose
mask is 0 gets confidence / validity 0; coordinates are kept as stored.

Body-model parameters are read as SMPLest-X's HumanData loader reads them:

* from ``smplx``, else ``smpl``, else ``smplh``. SMPL and SMPL-H parameters are carried onto SMPL-X as that
  loader does: the body pose's first 21 joints (SMPL's 22nd and 23rd, its hand joints, have no SMPL-X
  counterpart), SMPL-H's hand poses, root orientation and translation as stored; their betas do not transfer
  (the loader zeroes them, which it treats as "no shape"), so ``smplx_betas_valid`` is false;
* ``gender`` per person from the parameter dict (``smplx['gender']``), else from ``meta['gender']``, else neutral;
* rows whose ``betas_extra`` is non-zero (AGORA's kid blend weight) are left out, as the loader skips kids; the
  count is in the report and the dataset card;
* ``lhand_root`` / ``rhand_root`` (MANO global orientations of the hand-only sets) become ``smplx_lhand_root`` /
  ``smplx_rhand_root``.

NaN or infinite parameters or boxes stop the run before anything is written, naming the key and the first row.

Image paths are untrusted too: every ``image_path`` must resolve (symlinks included) to a regular file inside the
image root. One that leads out of it (``../``, a symlink) or names a FIFO, device or folder stops the run before
anything is written, naming the row and the path, whatever ``on_bad_sample`` says: such a file would be read
and embedded in the Parquet (and uploaded by ``push``), or read forever (``/dev/zero``).

Per-sample problems (missing, unreadable or corrupt image; image size differing from ``meta``) stop the run
with a message naming the sample, or, with ``on_bad_sample="skip"``, leave the sample out and record it in the
dataset card. File-level problems (missing or unknown keys, inconsistent lengths, malformed shapes) always stop
before anything is written.

Example::

    >>> report = convert_humandata("annot/ubody_train.npz", "images/", "hub/ubody", num_proc=8)  # doctest: +SKIP
    >>> report.num_rows, report.num_skipped                                                       # doctest: +SKIP
    (683456, 0)
"""

import importlib
import io
import os
import pickle
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.smpl_layout import NUM_SMPL_BODY_POSE_JOINTS
from smplest_hf.models.smplest_x.smplx_layout import GENDERS

from .card import write_dataset_card
from .schema import EHPS_FEATURES, NUM_KEYPOINTS, SMPLX_PARAMETER_SHAPES
from .sharding import ShardRows, check_split_name, number_of_shards, shard_bounds, write_shards


class HumanDataError(ValueError):
    """A HumanData file, or one of its samples, cannot be converted; the message names the file, key or sample."""


# ------------------------------------------------------------------------------------------- known keys
KEYPOINTS_2D_KEYS = ("keypoints2d", "keypoints2d_smplx", "keypoints2d_smpl", "keypoints2d_original")
KEYPOINTS_3D_KEYS = ("keypoints3d_cam", "keypoints3d", "keypoints3d_smplx", "keypoints3d_smpl", "keypoints3d_original")
_KEYPOINT_KEY = re.compile(r"^keypoints[23]d(_[a-z0-9]+)*$")
_BOOKKEEPING_KEY = re.compile(r"^__\w+__$")  # __data_len__, __key_strict__, __keypoints_compressed__, ...

_CONVERTED_KEYS = {"image_path", "bbox_xywh", "lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh", "meta", "misc",
                   "config"}  # fmt: skip
# Known HumanData keys this schema has no column for: accepted and listed in the card as not converted.
_KNOWN_UNCONVERTED_KEYS = {"image_id", "mano", "vertices", "vertices3d_path"}
# Body-model parameter dicts in the original loaders' order of preference: the first present is converted, the
# others are listed as not converted.
_PARAMETER_KEYS = ("smplx", "smpl", "smplh")

# HumanData keys -> per-sample shape, as the dataset columns hold them (`smplx_<key>`, per-joint pose layout).
_SMPLX_FIXED_SHAPES = {name.removeprefix("smplx_"): shape for name, shape in SMPLX_PARAMETER_SHAPES.items()}
_SMPLX_VARIABLE_KEYS = ("betas", "expression", "betas_neutral")
# Per-person entries of any parameter dict that are not parameters: the body model, and AGORA's kid blend weight.
_ROW_KEYS = ("gender", "betas_extra")
# Sub-keys the `smpl` / `smplh` dicts may hold (carried onto SMPL-X by `_as_smplx_parameters`).
_SMPL_KEYS = {"global_orient", "body_pose", "betas", "transl", *_ROW_KEYS}
_SMPLH_KEYS = _SMPL_KEYS | {"left_hand_pose", "right_hand_pose"}
_KNOWN_PARAMETER_KEYS = {
    "smplx": {*_SMPLX_FIXED_SHAPES, *_SMPLX_VARIABLE_KEYS, *_ROW_KEYS},
    "smpl": _SMPL_KEYS,
    "smplh": _SMPLH_KEYS,
}
_KID_ROWS = "kids (`betas_extra` != 0), skipped as SMPLest-X's HumanData loader skips them"

_GENDER_SPELLINGS = {spelling: gender for gender in GENDERS for spelling in (gender, gender[0])}  # "female" or "f"

_KEYPOINT_CONVENTION_SIZES = {"human_data": 190, "smplx": 144}
_META_CONVERTED_KEYS = {"gender", "focal_length", "focal", "principal_point", "princpt", "R", "T", "height", "width"}


# ------------------------------------------------------------------------------------------- reading
class _HumanDataUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, numpy scalars and plain containers; refuses every other global (no code runs)."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("multiarray", "_reconstruct"), ("multiarray", "scalar"),
        ("numeric", "_frombuffer"), ("_codecs", "encode"), ("collections", "OrderedDict"),
        ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
        ("builtins", "range"), ("builtins", "bytearray"), ("__builtin__", "set"), ("copy_reg", "_reconstructor"),
        ("__builtin__", "object"),
    }  # fmt: skip

    def find_class(self, module, name):
        parts = module.split(".")
        # numpy 1 pickles name `numpy.core.multiarray`, numpy 2 `numpy._core.multiarray`: accept both.
        is_numpy_core = len(parts) == 3 and parts[0] == "numpy" and parts[1] in ("core", "_core")
        short = parts[2] if is_numpy_core else module
        if (short, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load `{module}.{name}` (only numpy arrays and plain data)")
        if is_numpy_core:
            for package in ("numpy._core", "numpy.core"):
                try:
                    return getattr(importlib.import_module(f"{package}.{short}"), name)
                except ImportError:
                    continue
        if module == "copy_reg":
            module = "copyreg"
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


def _read_npy_member(archive: zipfile.ZipFile, member: str, source: str):
    with archive.open(member) as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(file)
        if dtype.hasobject:
            try:
                return _HumanDataUnpickler(file, encoding="latin1").load()
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as error:
                raise HumanDataError(
                    f"{source}: entry {member[:-4]!r} holds pickled data that is not plain arrays ({error}). "
                    f"If you trust this file as you would trust code, rerun with --trust-pickle."
                ) from error
    with archive.open(member) as file:
        return np.lib.format.read_array(file, allow_pickle=False)


def read_humandata(path, *, trust_pickle: bool = False) -> dict:
    """The entries of a HumanData ``.npz`` as a dict; 0-d arrays unwrapped (``smplx``/``meta``/``misc`` dicts, ``config`` str).

    Pickled entries are read with a numpy-only unpickler unless ``trust_pickle`` (see the module docstring).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise HumanDataError(f"{source}: no such HumanData file.")
    content, member = {}, None  # member: the entry being read, named when it is the broken part
    try:
        if trust_pickle:
            with np.load(path, allow_pickle=True) as archive:
                content = {key: archive[key] for key in archive.files}
        else:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if member.endswith(".npy"):
                        content[member[:-4]] = _read_npy_member(archive, member, source)
    except HumanDataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        entry = f" (entry {member[:-4]!r})" if member else ""
        raise HumanDataError(f"{source} is not a readable .npz archive{entry}: {error}.") from error
    return {
        key: value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
        for key, value in content.items()
    }


# ------------------------------------------------------------------------------------------- parsing
def _per_sample(value, num_samples: int, where: str, row_shape: tuple, dtype=np.float32) -> np.ndarray:
    """``value`` as an (N, *row_shape) array; rows may be stored flat or with extra unit axes."""
    array = np.asarray(value)
    if array.ndim == 0 or array.shape[0] != num_samples:
        raise HumanDataError(
            f"{where} has {array.shape[0] if array.ndim else 'no'} rows, expected {num_samples} (one per sample)."
        )
    if int(np.prod(array.shape[1:], dtype=np.int64)) != int(np.prod(row_shape, dtype=np.int64)):
        raise HumanDataError(
            f"{where} has shape {array.shape}, expected ({num_samples}, {', '.join(map(str, row_shape))})."
        )
    try:
        return array.reshape((num_samples, *row_shape)).astype(dtype, copy=False)
    except (TypeError, ValueError) as error:
        raise HumanDataError(f"{where} is not numeric ({error}).") from error


def _per_sample_or_shared(value, num_samples: int, where: str, size: int) -> np.ndarray:
    """(N, size) from a per-sample array, one shared value, or (for size 2) one number meaning (v, v)."""
    array = np.asarray(value, dtype=np.float64)
    if array.size == 1 and size == 2:
        return np.full((num_samples, 2), array.reshape(()), dtype=np.float32)
    if array.shape == (size,) and size != num_samples:
        return np.broadcast_to(array.astype(np.float32), (num_samples, size)).copy()
    if array.ndim >= 1 and array.shape[0] == num_samples:
        rows = array.reshape(num_samples, -1)
        if rows.shape[1] == size:
            return rows.astype(np.float32)
        if rows.shape[1] == 1 and size == 2:
            return np.repeat(rows, 2, axis=1).astype(np.float32)
    raise HumanDataError(
        f"{where} has shape {array.shape}; expected one value per sample ({num_samples}, {size}) or a shared ({size},)"
        + (" (a (2,) array is ambiguous with 2 samples: store it as (2, 2))." if array.shape == (size,) else ".")
    )


def _read_keypoints(content: dict, keys: tuple, dims: int, num_samples: int, source: str):
    """(N, 144, dims + 1) keypoints with confidence in the last column, and a report, or (None, None)."""
    key = next((k for k in keys if k in content), None)
    if key is None:
        return None, None
    generic = f"keypoints{dims}d"
    array = np.asarray(content[key])
    if array.ndim != 3 or array.shape[0] != num_samples or array.shape[2] not in (dims, dims + 1):
        raise HumanDataError(
            f"{source}: {key!r} has shape {array.shape}, expected ({num_samples}, joints, {dims} or {dims + 1})."
        )
    # The mask spans the full convention; a compressed file stores only the masked-in joints.
    mask_key = (
        f"{key}_mask" if f"{key}_mask" in content else f"{generic}_mask" if f"{generic}_mask" in content else None
    )
    mask = np.asarray(content[mask_key]).reshape(-1) > 0 if mask_key else None
    if mask is not None and array.shape[1] != mask.shape[0]:
        if array.shape[1] != int(mask.sum()):
            raise HumanDataError(
                f"{source}: {key!r} has {array.shape[1]} joints but {mask_key!r} has {mask.shape[0]} entries "
                f"({int(mask.sum())} set): neither a full nor a mask-compressed keypoint array."
            )
        full = np.zeros((num_samples, mask.shape[0], array.shape[2]), dtype=array.dtype)
        full[:, mask] = array
        array = full
    convention = content.get(f"{key}_convention", content.get(f"{generic}_convention"))
    if convention is not None and str(convention) not in _KEYPOINT_CONVENTION_SIZES:
        raise HumanDataError(
            f"{source}: {key!r} is in the {str(convention)!r} keypoint convention; only "
            f"{sorted(_KEYPOINT_CONVENTION_SIZES)} (whose first 144 joints are SMPL-X's) can be converted."
        )
    expected = _KEYPOINT_CONVENTION_SIZES[str(convention)] if convention is not None else None
    if array.shape[1] not in _KEYPOINT_CONVENTION_SIZES.values() or (expected and array.shape[1] != expected):
        raise HumanDataError(
            f"{source}: {key!r} has {array.shape[1]} joints; expected 190 (`human_data`) or 144 (`smplx`)."
        )
    coordinates = array[:, :NUM_KEYPOINTS, :dims].astype(np.float32)
    confidence = (
        array[:, :NUM_KEYPOINTS, dims].astype(np.float32)
        if array.shape[2] > dims
        else np.ones(coordinates.shape[:2], np.float32)
    )
    if mask is not None:
        confidence = confidence * mask[:NUM_KEYPOINTS]
    return np.concatenate([coordinates, confidence[..., None]], axis=-1), {"key": key, "mask": mask_key}


def _genders(values, num_samples: int, where: str) -> np.ndarray:
    """(N,) "neutral" / "male" / "female" from one value or one per sample (``where`` names them in errors)."""
    array = np.asarray([values] if isinstance(values, (str, bytes)) else values, dtype=object).reshape(-1)
    if array.shape[0] not in (1, num_samples):
        raise HumanDataError(f"{where} has {array.shape[0]} entries, expected 1 or {num_samples}.")
    spelled = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in array], dtype=object)
    normalised = np.empty(spelled.shape, dtype=object)
    for value in np.unique(spelled):
        gender = _GENDER_SPELLINGS.get(value.strip().lower())
        if gender is None:
            first = int(np.flatnonzero(spelled == value)[0])
            raise HumanDataError(f"{where}[{first}] is {value!r}; expected one of {GENDERS} (or m/f/n).")
        normalised[spelled == value] = gender
    return np.broadcast_to(normalised, (num_samples,)).copy()


def _check_finite(value, where: str) -> None:
    """Raise naming ``where`` and the first row of ``value`` (N, ...) that holds a NaN or an infinity.

    The original loaders pass such values on to the loss and the metrics; here they stop the conversion."""
    array = np.asarray(value)
    if array.ndim == 0 or array.dtype.kind not in "fc":
        return  # integers cannot be NaN; other dtypes are refused where the values are read
    bad_rows = np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1))
    if bad_rows.size:
        raise HumanDataError(
            f"{where} holds NaN or infinite values in {bad_rows.size} rows, the first row {int(bad_rows[0])}: "
            f"fix or remove those rows before converting."
        )


def _box(content: dict, key: str, num_samples: int, source: str):
    """(N, 4) xywh and (N,) validity: confidence > 0 (5 columns) or positive size (4 columns)."""
    if key not in content:
        return np.zeros((num_samples, 4), np.float32), np.zeros(num_samples, bool)
    array = np.asarray(content[key], dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != num_samples or array.shape[1] not in (4, 5):
        raise HumanDataError(
            f"{source}: {key!r} has shape {array.shape}, expected ({num_samples}, 5) (xywh + confidence)."
        )
    _check_finite(array, f"{source}: {key!r}")
    valid = array[:, 4] > 0 if array.shape[1] == 5 else (array[:, 2] > 0) & (array[:, 3] > 0)
    return array[:, :4].astype(np.float32), valid


@dataclass
class ParsedHumanData:
    """A validated HumanData file, arrays already in schema form (everything but the images)."""

    source: str
    num_samples: int  # rows kept (the file's rows less those left out, see `report["dropped"]`)
    image_paths: np.ndarray  # (N,) str
    columns: dict  # schema column -> (N, ...) array, or list for variable-length columns
    image_sizes: Optional[np.ndarray]  # (N, 2) height, width from meta, or None
    source_indices: np.ndarray  # (N,) int64: the file row of each kept row
    report: dict = field(default_factory=dict)  # keys used / not converted, rows left out, for the dataset card

    def rows(self, start: int, stop: int) -> dict:
        return {name: values[start:stop] for name, values in self.columns.items()}


def _dict_entry(content: dict, key: str, source: str) -> dict:
    value = content.get(key)
    if value is not None and not isinstance(value, dict):
        raise HumanDataError(f"{source}: {key!r} should be a dict, found {type(value).__name__}.")
    return value or {}


def _as_smplx_parameters(name: str, parameters: dict, num_samples: int, where: str) -> dict:
    """The ``name`` (smplx / smpl / smplh) parameters in SMPL-X form, as SMPLest-X's HumanData loader carries them.

    SMPL-X parameters are returned as they are. SMPL and SMPL-H keep their root orientation, translation and
    (SMPL-H) hand poses; the body pose keeps its first 21 joints — SMPL's (N, 23, 3) ends with two hand joints
    SMPL-X does not have — and the betas are left out: they are another model's shape (the loader zeroes them,
    which it treats as "no shape annotation"). ``where`` is "<file>: <name>" for messages.
    """
    if name == "smplx" or not parameters:
        return parameters
    kept = ("global_orient", "transl", "left_hand_pose", "right_hand_pose", *_ROW_KEYS)
    mapped = {key: parameters[key] for key in kept if parameters.get(key) is not None}
    if parameters.get("body_pose") is not None:
        joints = NUM_SMPL_BODY_POSE_JOINTS if name == "smpl" else _SMPLX_FIXED_SHAPES["body_pose"][0]
        body_pose = _per_sample(parameters["body_pose"], num_samples, f"{where}['body_pose']", (joints, 3))
        mapped["body_pose"] = body_pose[:, : _SMPLX_FIXED_SHAPES["body_pose"][0]]
    return mapped


def _kid_rows(parameters: dict, num_samples: int, where: str) -> np.ndarray:
    """(N,) bool: rows whose ``betas_extra`` (AGORA's kid blend weight, (N,) or (N, 1)) is non-zero."""
    if parameters.get("betas_extra") is None:
        return np.zeros(num_samples, bool)
    betas_extra = np.asarray(parameters["betas_extra"])
    if betas_extra.ndim == 0 or betas_extra.shape[0] != num_samples or betas_extra.dtype.kind not in "biuf":
        raise HumanDataError(
            f"{where}['betas_extra'] has shape {betas_extra.shape} and dtype {betas_extra.dtype}; expected "
            f"({num_samples},) or ({num_samples}, 1) numbers."
        )
    return np.any(betas_extra.reshape(num_samples, -1) != 0, axis=1)


def _smplx_columns(smplx: dict, flat_hand_mean: bool, num_samples: int, where: str) -> dict:
    """SMPL-X parameters (``_as_smplx_parameters``) as stored, with the flags saying which are there.

    ``where`` is "<file>: <dict name>" for messages."""
    columns, present = {}, {}
    for key, shape in _SMPLX_FIXED_SHAPES.items():
        present[key] = smplx.get(key) is not None
        columns[f"smplx_{key}"] = (
            _per_sample(smplx[key], num_samples, f"{where}[{key!r}]", shape)
            if present[key]
            else np.zeros((num_samples, *shape), np.float32)
        )
    for key in _SMPLX_VARIABLE_KEYS:
        present[key] = smplx.get(key) is not None
        columns[f"smplx_{key}"] = [np.zeros(0, np.float32)] * num_samples
        if present[key]:
            array = np.asarray(smplx[key])
            count = int(np.prod(array.shape[1:])) if array.ndim else 0
            columns[f"smplx_{key}"] = list(_per_sample(array, num_samples, f"{where}[{key!r}]", (count,)))
    ones = np.ones(num_samples, bool)
    columns["smplx_flat_hand_mean"] = ones * flat_hand_mean
    columns["smplx_body_valid"] = ones * (present["global_orient"] and present["body_pose"])
    columns["smplx_valid"] = columns["smplx_body_valid"] & present["betas"]
    for part, key in (("lhand", "left_hand_pose"), ("rhand", "right_hand_pose")):
        # An all-zero hand pose is the placeholder for "no hand annotation" when poses are mean-relative (as in
        # the original loaders); relative to the flat hand, zeros are a real (flat) hand.
        annotated = np.any(columns[f"smplx_{key}"] != 0, axis=(1, 2)) | flat_hand_mean
        columns[f"smplx_{part}_valid"] = annotated & present[key]
    columns["smplx_face_valid"] = ones * (present["jaw_pose"] and present["expression"])
    columns["smplx_eyes_valid"] = ones * (present["leye_pose"] and present["reye_pose"])
    for part in ("lhand", "rhand"):
        # Hand-only sets store an all-zero root for an absent hand (SMPLest-X then scores that hand as invalid).
        root = columns[f"smplx_{part}_root"]
        columns[f"smplx_{part}_root_valid"] = np.any(root != 0, axis=1) & present[f"{part}_root"]
    columns["smplx_betas_valid"] = ones * present["betas"]
    columns["smplx_transl_valid"] = ones * present["transl"]
    columns["smplx_num_betas"] = np.array([len(b) for b in columns["smplx_betas"]], np.int32)
    columns["smplx_num_expression"] = np.array([len(e) for e in columns["smplx_expression"]], np.int32)
    return columns


def _parameter_columns(name, parameters: dict, meta: dict, flat_hand_mean: bool, num_samples: int, source: str):
    """The SMPL-X columns and ``gender`` from the ``name`` parameter dict (smplx / smpl / smplh, known keys only).

    Returns (columns, (N,) bool kid rows to leave out, where the gender came from or None). Raises on NaN or
    infinite values, naming the key and the first bad row."""
    where = f"{source}: {name}"
    for key, value in parameters.items():
        if key != "gender":
            _check_finite(value, f"{where}[{key!r}]")
    smplx = _as_smplx_parameters(name, parameters, num_samples, where)
    columns = _smplx_columns(smplx, flat_hand_mean, num_samples, where)
    # The original loaders pass the parameter dict's own gender to the body model; meta['gender'] is our fallback
    # for files that keep it there.
    if parameters.get("gender") is not None:
        gender_from, genders = f"{name}['gender']", parameters["gender"]
    elif meta.get("gender") is not None:
        gender_from, genders = "meta['gender']", meta["gender"]
    else:
        gender_from, genders = None, "neutral"
    columns["gender"] = _genders(genders, num_samples, f"{source}: {gender_from}")
    return columns, _kid_rows(parameters, num_samples, where), gender_from


def _camera_columns(meta: dict, misc: dict, num_samples: int, source: str) -> dict:
    """Intrinsics from meta (else misc, where some converters keep shared values) and extrinsics from meta."""

    def lookup(*names):
        for where, container in (("meta", meta), ("misc", misc)):
            for name in names:
                if container.get(name) is not None:
                    return container[name], f"{source}: {where}[{name!r}]"
        return None, None

    ones = np.ones(num_samples, bool)
    focal, focal_where = lookup("focal_length", "focal")
    principal, principal_where = lookup("principal_point", "princpt")
    has_intrinsics = focal is not None and principal is not None
    columns = {"camera_intrinsics_valid": ones * has_intrinsics}
    columns["focal_length"] = np.zeros((num_samples, 2), np.float32)
    columns["principal_point"] = np.zeros((num_samples, 2), np.float32)
    if has_intrinsics:
        columns["focal_length"] = _per_sample_or_shared(focal, num_samples, focal_where, 2)
        columns["principal_point"] = _per_sample_or_shared(principal, num_samples, principal_where, 2)

    rotation, translation = meta.get("R"), meta.get("T")
    has_extrinsics = rotation is not None and translation is not None
    columns["camera_extrinsics_valid"] = ones * has_extrinsics
    columns["camera_rotation"] = np.zeros((num_samples, 3, 3), np.float32)
    columns["camera_translation"] = np.zeros((num_samples, 3), np.float32)
    if has_extrinsics:
        # A single (3, 3) / (3,) value is shared by all samples; otherwise one per sample.
        rotation, translation = np.asarray(rotation, np.float32), np.asarray(translation, np.float32)
        if rotation.shape == (3, 3):
            rotation = np.broadcast_to(rotation, (num_samples, 3, 3))
        if translation.shape in ((3,), (3, 1)):
            translation = np.broadcast_to(translation.reshape(3), (num_samples, 3))
        columns["camera_rotation"] = _per_sample(rotation, num_samples, f"{source}: meta['R']", (3, 3))
        columns["camera_translation"] = _per_sample(translation, num_samples, f"{source}: meta['T']", (3,))
    return columns


def _image_sizes(meta: dict, num_samples: int, source: str) -> Optional[np.ndarray]:
    """(N, 2) height, width the annotations were made on, when meta says so (checked against each image)."""
    if meta.get("height") is None or meta.get("width") is None:
        return None
    sizes = []
    for name in ("height", "width"):
        values = np.asarray(meta[name]).reshape(-1)
        if values.shape[0] not in (1, num_samples) or values.dtype.kind not in "iuf":
            raise HumanDataError(
                f"{source}: meta[{name!r}] should hold 1 or {num_samples} numbers, "
                f"found {values.shape[0]} of dtype {values.dtype}."
            )
        sizes.append(np.broadcast_to(values, (num_samples,)))
    return np.stack(sizes, axis=1).astype(np.int64)


def parse_humandata(
    content: dict, source: str, *, allow_unknown_keys: bool = False, flat_hand_mean: Optional[bool] = None
) -> ParsedHumanData:
    """Check a HumanData dict (from ``read_humandata``) and turn it into schema columns (images excluded).

    ``flat_hand_mean`` overrides the file's ``misc['flat_hand_mean']`` (default False when absent).
    """
    for required in ("image_path", "bbox_xywh"):
        if required not in content:
            raise HumanDataError(f"{source}: required key {required!r} is missing (keys: {sorted(content)}).")
    image_paths = np.asarray(content["image_path"]).reshape(-1)
    if image_paths.dtype.kind not in "USO":
        raise HumanDataError(f"{source}: 'image_path' should hold strings, found dtype {image_paths.dtype}.")
    num_samples = image_paths.shape[0]
    declared = content.get("__data_len__", content.get("__temporal_len__"))
    if declared is not None and int(declared) not in (-1, num_samples):
        raise HumanDataError(
            f"{source}: '__data_len__' says {int(declared)} samples but 'image_path' has {num_samples}."
        )

    meta, misc = (_dict_entry(content, key, source) for key in ("meta", "misc"))
    parameters_from = next((key for key in _PARAMETER_KEYS if content.get(key) is not None), None)
    parameters = _dict_entry(content, parameters_from, source) if parameters_from else {}
    unknown = sorted(
        key for key in content
        if key not in _CONVERTED_KEYS and key not in _KNOWN_UNCONVERTED_KEYS and key not in _PARAMETER_KEYS
        and not _KEYPOINT_KEY.match(key) and not _BOOKKEEPING_KEY.match(key)
    ) + [
        f"{parameters_from}.{key}" for key in sorted(parameters) if key not in _KNOWN_PARAMETER_KEYS[parameters_from]
    ]  # fmt: skip
    if unknown and not allow_unknown_keys:
        raise HumanDataError(
            f"{source}: unknown keys {unknown}: this converter does not know what they hold. "
            f"Rerun with --allow-unknown-keys to drop them (they are listed in the dataset card)."
        )

    columns = {}
    columns["bbox_xywh"], _ = _box(content, "bbox_xywh", num_samples, source)
    for part in ("lhand", "rhand", "face"):
        box_key = f"{part}_bbox_xywh"
        columns[box_key], columns[f"{part}_bbox_valid"] = _box(content, box_key, num_samples, source)
    if flat_hand_mean is None:
        flat_hand_mean = bool(misc.get("flat_hand_mean", False))
    parameters = {key: value for key, value in parameters.items() if f"{parameters_from}.{key}" not in unknown}
    parameter_columns, kids, gender_from = _parameter_columns(
        parameters_from, parameters, meta, flat_hand_mean, num_samples, source
    )
    columns.update(parameter_columns)
    used_keys = {}
    for name, keys, dims in (("keypoints_2d", KEYPOINTS_2D_KEYS, 2), ("keypoints_3d", KEYPOINTS_3D_KEYS, 3)):
        keypoints, used_keys[name] = _read_keypoints(content, keys, dims, num_samples, source)
        missing = np.zeros((num_samples, NUM_KEYPOINTS, dims + 1), np.float32)
        columns[name] = keypoints if keypoints is not None else missing
        columns[f"{name}_valid"] = np.full(num_samples, keypoints is not None)
    columns.update(_camera_columns(meta, misc, num_samples, source))

    used = {key for entry in used_keys.values() if entry for key in entry.values() if key}
    dropped = []
    if kids.any():
        dropped.append({"reason": _KID_ROWS, "count": int(kids.sum()), "first_row": int(np.argmax(kids))})
    report = dict(
        used_keys,
        source_file=Path(source).name,
        config=str(content["config"]) if content.get("config") is not None else None,
        parameters_from=parameters_from,
        gender_from=gender_from,
        not_converted=sorted(
            key
            for key in content
            if key in _KNOWN_UNCONVERTED_KEYS
            or (key in _PARAMETER_KEYS and key != parameters_from)
            or (_KEYPOINT_KEY.match(key) and key not in used and not key.endswith("_convention"))
        )  # fmt: skip
        + ([f"{parameters_from}.betas"] if parameters_from != "smplx" and "betas" in parameters else []),
        dropped_unknown=unknown,
        dropped=dropped,
        meta_not_converted=sorted(key for key in meta if key not in _META_CONVERTED_KEYS),
        flat_hand_mean=flat_hand_mean,
    )
    image_sizes = _image_sizes(meta, num_samples, source)
    keep = np.flatnonzero(~kids)
    if keep.size == 0:
        raise HumanDataError(f"{source}: all {num_samples} rows are left out: {_KID_ROWS}.")
    columns = {
        name: values[keep] if isinstance(values, np.ndarray) else [values[i] for i in keep]
        for name, values in columns.items()
    }
    image_sizes = image_sizes[keep] if image_sizes is not None else None
    return ParsedHumanData(source, keep.size, image_paths[keep].astype(str), columns, image_sizes, keep, report)


# ------------------------------------------------------------------------------------------- image paths
def image_file(image_root: Path, relative_path: str, source: str, source_index: int) -> Path:
    """The file an ``image_path`` entry names, resolved (symlinks included), refused unless inside the image root.

    ``image_root`` must already be resolved. A leading slash is dropped (some files store root-relative paths as
    ``/images/...``), so ``/etc/passwd`` means ``IMAGE_ROOT/etc/passwd``; ``..`` or a symlink that leads out of the
    root, and an existing path that is not a regular file (a FIFO, a device such as ``/dev/zero``, a folder),
    raise ``HumanDataError`` naming the row: such a file would be read and embedded in the dataset (and uploaded
    by ``push``), or read forever. A missing file is returned as is (a per-sample problem, see the module doc).
    """
    resolved = Path(os.path.realpath(image_root / relative_path.lstrip("/\\")))
    where = f"{source}: row {source_index} image_path {relative_path!r}"
    if resolved != image_root and image_root not in resolved.parents:
        raise HumanDataError(
            f"{where} leads outside the image root {str(image_root)!r} (to {str(resolved)!r}): refused, image paths "
            f"must stay inside the image root."
        )
    try:
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        return resolved
    except OSError:  # unreadable folder on the way, loop: reported as unreadable when the image is read
        return resolved
    if not stat.S_ISREG(mode):
        raise HumanDataError(f"{where} is not a regular file ({_file_kind(mode)} {str(resolved)!r}): refused.")
    return resolved


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((kind for test, kind in kinds if test(mode)), "a special file")


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path`` (from ``image_file``): opened without following a symlink swapped in since and without
    blocking on a FIFO, and read only when the open file is a regular one."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{path} is {_file_kind(mode)}, not a regular file")
        return file.read()


def check_image_paths(image_root: Path, image_paths, source_indices, source: str) -> None:
    """Refuse the file before anything is written when one of its ``image_path`` entries leads outside
    ``image_root`` or names a special file (see ``image_file``): one path resolution and stat per image (rows
    of the same image share them)."""
    checked = set()
    for relative_path, source_index in zip(image_paths, source_indices):
        if relative_path not in checked:
            image_file(image_root, str(relative_path), source, int(source_index))
            checked.add(relative_path)


# ------------------------------------------------------------------------------------------- images (workers)
def _check_image(data: bytes, verify: bool):
    """(height, width) of an encoded image; with ``verify`` the whole image is decoded (at reduced size)."""
    with PILImage.open(io.BytesIO(data)) as image:
        width, height = image.size
        if verify:
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # JPEG: decode at 1/8 scale, still all data
            image.load()
    return height, width


def _build_humandata_rows(payload: dict) -> ShardRows:
    """One shard: read and check every image, attach it, drop (and record) bad samples or raise."""
    columns, indices = payload["columns"], payload["source_indices"]
    image_root, source = Path(payload["image_root"]), payload["source"]
    images, heights, widths, keep, skipped = [], [], [], [], []
    for row, (relative_path, source_index) in enumerate(zip(payload["image_paths"], indices)):
        path = image_file(image_root, relative_path, source, int(source_index))
        problem = None
        try:
            data = _read_regular_file(path)
            height, width = _check_image(data, payload["verify_images"])
            expected = payload["image_sizes"][row] if payload["image_sizes"] is not None else None
            if expected is not None and (int(expected[0]), int(expected[1])) != (height, width):
                problem = (
                    f"image is {height}x{width} (HxW) but meta height/width say {int(expected[0])}x{int(expected[1])}"
                )
        except FileNotFoundError:
            problem = f"image file {str(path)!r} does not exist"
        except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as error:
            problem = f"image file {str(path)!r} is unreadable or corrupt ({error})"
        if problem is not None:
            if payload["on_bad_sample"] == "stop":
                raise HumanDataError(
                    f"{source}: sample {int(source_index)} (image_path {relative_path!r}): {problem}. "
                    f"Fix it, or rerun with --on-bad-sample skip to leave such samples out."
                )
            skipped.append({"source_index": int(source_index), "image_path": relative_path, "reason": problem})
            continue
        keep.append(row)
        images.append({"bytes": data, "path": relative_path})
        heights.append(height)
        widths.append(width)

    keep = np.asarray(keep, dtype=np.int64)
    rows = {}
    for name, values in columns.items():
        rows[name] = values[keep] if isinstance(values, np.ndarray) else [values[i] for i in keep]
    dataset_name, split = payload["dataset_name"], payload["split"]
    kept_indices = np.asarray(indices)[keep]
    rows["sample_id"] = [f"{dataset_name}/{split}/{int(i):08d}" for i in kept_indices]
    rows["dataset_name"] = [dataset_name] * len(keep)
    rows["source_index"] = kept_indices
    rows["image"] = images
    rows["image_path"] = [payload["image_paths"][i] for i in keep]
    rows["image_height"] = np.asarray(heights, np.int32)
    rows["image_width"] = np.asarray(widths, np.int32)
    return ShardRows(columns={name: rows[name] for name in EHPS_FEATURES}, skipped=skipped)


# ------------------------------------------------------------------------------------------- conversion
@dataclass
class ConversionReport:
    """What ``convert_humandata`` did."""

    out_dir: Path
    split: str
    dataset_name: str
    num_rows: int
    skipped: list
    num_shards: int
    shards_written: int
    shards_reused: int
    dropped: list = field(default_factory=list)  # [{reason, count, first_row}]: source rows left out beforehand

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def num_dropped(self) -> int:
        return sum(item["count"] for item in self.dropped)


def _dataset_name(npz_path: Path, content: dict) -> str:
    name = str(content["config"]) if content.get("config") else npz_path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def convert_humandata(
    npz_path,
    image_root,
    out_dir,
    *,
    split: str = "train",
    dataset_name: Optional[str] = None,
    num_proc: int = 1,
    shard_size: Optional[int] = None,
    num_shards: Optional[int] = None,
    on_bad_sample: str = "stop",
    verify_images: bool = True,
    trust_pickle: bool = False,
    allow_unknown_keys: bool = False,
    flat_hand_mean: Optional[bool] = None,
) -> ConversionReport:
    """Convert one HumanData file and its images into ``out_dir`` (Hub layout), resuming a previous run.

    Rows the original loader skips (AGORA kids) are left out before conversion and counted in
    ``ConversionReport.dropped`` and the dataset card; see the module docstring for how parameters are read.

    Args:
        npz_path: the HumanData ``.npz``.
        image_root: the folder ``image_path`` entries are relative to.
        out_dir: the dataset directory (``data/`` shards, ``README.md``); other splits already there are kept.
        split: split name of these samples.
        dataset_name: name stored in every row; default ``config`` from the file, else the file name.
        num_proc: worker processes (reading and checking images dominates the time).
        shard_size / num_shards: rows per shard (default 1000) or the number of shards; write at least
            ranks x dataloader workers shards so streaming can spread them.
        on_bad_sample: ``"stop"`` (raise, naming the sample) or ``"skip"`` (leave out, record in the card).
        verify_images: decode every image to catch corrupt files (JPEG at 1/8 scale); else read headers only.
        trust_pickle: load pickled entries with ``numpy.load(allow_pickle=True)`` (runs code; see module doc).
        allow_unknown_keys: drop keys this converter does not know instead of refusing the file.
        flat_hand_mean: whether the file's hand poses are relative to the flat hand; default: its
            ``misc['flat_hand_mean']``, else False. Some files leave it out although their hands are flat-relative
            (the original loaders hard-code a list: GTA-Human II, SynBody, CHI3D, FIT3D, HumanSC3D, MOYO, ARCTIC, ...).
    """
    npz_path, image_root, out_dir = Path(npz_path), Path(image_root), Path(out_dir)
    check_split_name(split)
    if on_bad_sample not in ("stop", "skip"):
        raise ValueError(f"on_bad_sample must be 'stop' or 'skip', got {on_bad_sample!r}.")
    if num_proc < 1:
        raise ValueError(f"num_proc must be at least 1, got {num_proc}.")
    if not image_root.is_dir():
        raise HumanDataError(f"image root {str(image_root)!r} is not a directory.")
    image_root = image_root.resolve()
    content = read_humandata(npz_path, trust_pickle=trust_pickle)
    parsed = parse_humandata(
        content, str(npz_path), allow_unknown_keys=allow_unknown_keys, flat_hand_mean=flat_hand_mean
    )
    del content
    check_image_paths(image_root, parsed.image_paths, parsed.source_indices, str(npz_path))
    dataset_name = dataset_name or _dataset_name(npz_path, {"config": parsed.report["config"]})
    if shard_size is None and num_shards is None:
        shard_size = 1000
    count = number_of_shards(parsed.num_samples, shard_size=shard_size, num_shards=num_shards)

    def make_payload(index):
        start, stop = shard_bounds(parsed.num_samples, count, index)
        return {
            "columns": parsed.rows(start, stop),
            "source_indices": parsed.source_indices[start:stop],
            "image_paths": [str(p) for p in parsed.image_paths[start:stop]],
            "image_sizes": parsed.image_sizes[start:stop] if parsed.image_sizes is not None else None,
            "image_root": str(image_root),
            "source": str(npz_path),
            "dataset_name": dataset_name,
            "split": split,
            "on_bad_sample": on_bad_sample,
            "verify_images": verify_images,
        }

    settings = {
        "kind": "humandata",
        "source_file": npz_path.name,
        "source_bytes": npz_path.stat().st_size,
        "dataset_name": dataset_name,
        "humandata": parsed.report,
    }
    summary = write_shards(
        out_dir, split, count, make_payload, _build_humandata_rows, EHPS_FEATURES,
        num_samples=parsed.num_samples, num_proc=num_proc, settings=settings,
        payload_size=lambda payload: len(payload["source_indices"]), description=f"Converting {dataset_name}",
    )  # fmt: skip
    write_dataset_card(out_dir)
    return ConversionReport(
        out_dir=out_dir, split=split, dataset_name=dataset_name, num_rows=summary.num_rows, skipped=summary.skipped,
        num_shards=count, shards_written=summary.shards_written, shards_reused=summary.shards_reused,
        dropped=parsed.report["dropped"],
    )  # fmt: skip


__all__ = [
    "ConversionReport",
    "HumanDataError",
    "KEYPOINTS_2D_KEYS",
    "KEYPOINTS_3D_KEYS",
    "ParsedHumanData",
    "convert_humandata",
    "parse_humandata",
    "read_humandata",
]
