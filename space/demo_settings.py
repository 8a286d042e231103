"""What the Space runs with: model, body model, detector, device and the limits on what users may upload.

Every setting has an environment variable, so a Space is configured in its settings page without code:

| variable                         | default                                                   |
|----------------------------------|-----------------------------------------------------------|
| `SMPLEST_X_MODEL`                | the demo model bundled with smplest_hf (offline)          |
| `SMPLX_MODEL_DIR`                | the synthetic SMPL-X-format body model, written once to the cache |
| `SMPLEST_X_DETECTOR`             | `auto`: RT-DETR when it can be loaded, else whole images  |
| `SMPLEST_X_DEVICE` / `_DTYPE`    | cuda when available (always on ZeroGPU), else cpu / float32 |
| `SMPLEST_SPACE_MAX_UPLOAD_MB`    | 20                                                        |
| `SMPLEST_SPACE_MAX_MEGAPIXELS`   | 40 (larger images are refused)                            |
| `SMPLEST_SPACE_WORK_MEGAPIXELS`  | 4 (larger images are shrunk for processing)               |
| `SMPLEST_SPACE_MAX_VIDEO_SECONDS`| 10                                                        |
| `SMPLEST_SPACE_MAX_VIDEO_FRAMES` | 300                                                       |
| `SMPLEST_SPACE_MAX_PEOPLE`       | 8 (multi-person mode)                                     |

```python
>>> from demo_settings import SpaceSettings
>>> SpaceSettings.from_env({"SMPLEST_SPACE_MAX_VIDEO_SECONDS": "5"}).max_video_seconds
5.0
```
"""

import os
from dataclasses import dataclass, fields
from pathlib import Path

AUTO_DETECTOR = "auto"
NO_DETECTOR = "none"

# environment variable -> (field, type)
_ENVIRONMENT = {
    "SMPLEST_X_MODEL": ("model", str),
    "SMPLX_MODEL_DIR": ("body_model_dir", str),
    "SMPLEST_X_DETECTOR": ("detector", str),
    "SMPLEST_X_DEVICE": ("device", str),
    "SMPLEST_X_DTYPE": ("dtype", str),
    "SMPLEST_SPACE_MAX_UPLOAD_MB": ("max_upload_mb", float),
    "SMPLEST_SPACE_MAX_MEGAPIXELS": ("max_megapixels", float),
    "SMPLEST_SPACE_WORK_MEGAPIXELS": ("work_megapixels", float),
    "SMPLEST_SPACE_MAX_VIDEO_SECONDS": ("max_video_seconds", float),
    "SMPLEST_SPACE_MAX_VIDEO_FRAMES": ("max_video_frames", int),
    "SMPLEST_SPACE_MAX_PEOPLE": ("max_people", int),
}


@dataclass(frozen=True)
class SpaceSettings:
    """Settings of one running demo (see the module docstring for the environment variables).

    Attributes:
        model: SMPLest-X model folder or Hub id; None = the bundled demo model.
        body_model_dir: folder with `smplx/SMPLX_NEUTRAL.npz`; None = the synthetic body model (cached).
        detector: "auto", "none" (each image is one person) or a transformers object-detection Hub id/folder.
        device, dtype: as `SmplestXPipeline` takes them (None = cuda when available).
        batch_size: people per model pass (video frames are batched too).
        max_people: people kept per image in multi-person mode.
        max_upload_mb: largest accepted upload (images and videos).
        max_megapixels: images with more pixels are refused; work_megapixels: larger ones are shrunk to this
            many pixels for processing (results stay in original-image pixels; the overlay has the shrunk size).
        max_video_seconds, max_video_frames: longer videos are refused.
        output_dir: where each request's files go (a subfolder per request); None = a temporary folder.
        keep_outputs_seconds: request folders older than this are deleted when a new request starts.
    """

    model: str | None = None
    body_model_dir: str | None = None
    detector: str = AUTO_DETECTOR
    device: str | None = None
    dtype: str = "float32"
    batch_size: int = 8
    max_people: int = 8
    max_upload_mb: float = 20.0
    max_megapixels: float = 40.0
    work_megapixels: float = 4.0
    max_video_seconds: float = 10.0
    max_video_frames: int = 300
    output_dir: str | None = None
    keep_outputs_seconds: float = 3600.0

    def __post_init__(self):
        for name in ("batch_size", "max_people", "max_video_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("max_upload_mb", "max_megapixels", "work_megapixels", "max_video_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "SpaceSettings":
        """Settings from environment variables (unset or empty ones keep their defaults), then `overrides`."""
        environ = os.environ if environ is None else environ
        values = {}
        for variable, (name, kind) in _ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if text:
                try:
                    values[name] = kind(text)
                except ValueError:
                    raise ValueError(f"Environment variable {variable}={text!r} is not a valid {kind.__name__}.") from None
        if "device" not in values and environ.get("SPACES_ZERO_GPU"):
            # ZeroGPU: CUDA is only attached inside @spaces.GPU calls, so "is a GPU available?" cannot be asked at
            # start; the model is put on "cuda" up front, as ZeroGPU expects.
            values["device"] = "cuda"
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"Unknown setting(s) {unknown}; known: {sorted(known)}.")
        return cls(**{**values, **overrides})

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def synthetic_body_model_dir() -> Path:
    """The synthetic body model (seed 0) in the user cache (`$SMPLEST_HF_CACHE`, else `~/.cache/smplest_hf`),
    written on first use (a few seconds) and shared with the library's other offline defaults."""
    from smplest_hf.synthetic import cached_synthetic_body_model_dir

    return cached_synthetic_body_model_dir()


def model_location(settings: SpaceSettings):
    """The model to load: the configured one, else the bundled demo model (ValueError saying what to set)."""
    if settings.model:
        return settings.model
    from smplest_hf.inference.pipeline import default_model_location

    try:
        return default_model_location()
    except ValueError as error:
        raise ValueError(f"{error} For the Space, set SMPLEST_X_MODEL to a model folder or Hub id.") from None


def model_display_name(model) -> str:
    """How the page names the model: a Hub id as given, a local folder by its name (on a Space a full path is only
    the container's), the bundled demo model as such."""
    from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

    path = Path(model).expanduser()
    if not path.is_dir():
        return str(model)
    if path.resolve() == BUNDLED_MODEL_DIR.resolve():
        return "the bundled demo model (smplest_hf/demo_model)"
    return path.resolve().name


__all__ = [
    "AUTO_DETECTOR", "NO_DETECTOR", "SpaceSettings", "model_display_name", "model_location", "synthetic_body_model_dir",
]  # fmt: skip
