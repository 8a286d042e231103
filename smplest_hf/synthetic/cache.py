"""The synthetic body models (SMPL-X and SMPL format) kept in the user cache, for offline defaults (the demo, the
Space, data generation)."""

import os
from pathlib import Path

from .body_model_files import write_synthetic_body_model

CACHE_ENV = "SMPLEST_HF_CACHE"
_GENDER_FILES = ("SMPLX_NEUTRAL.npz", "SMPLX_MALE.npz", "SMPLX_FEMALE.npz")
_AUXILIARY_FILES = ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy")
_SMPL_FILES = ("SMPL_NEUTRAL.pkl", "SMPL_MALE.pkl", "SMPL_FEMALE.pkl")


def cache_root() -> Path:
    """``$SMPLEST_HF_CACHE``, else ``$XDG_CACHE_HOME/smplest_hf``, else ``~/.cache/smplest_hf``."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "smplest_hf"
    return Path(root).expanduser()


def cached_synthetic_body_model_dir() -> Path:
    """The synthetic body models (seed 0) under ``cache_root()/synthetic_body_model`` (``smplx/`` and ``smpl/``),
    written on first use (a few seconds; a cache from before the SMPL files is completed). Files are written
    atomically, so concurrent first uses are safe."""
    directory = cache_root() / "synthetic_body_model"
    expected = [directory / "smplx" / name for name in _GENDER_FILES + _AUXILIARY_FILES]
    if not all(path.is_file() for path in expected + [directory / "smpl" / name for name in _SMPL_FILES]):
        write_synthetic_body_model(directory, seed=0)
    return directory


__all__ = ["CACHE_ENV", "cache_root", "cached_synthetic_body_model_dir"]
