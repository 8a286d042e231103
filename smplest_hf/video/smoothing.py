"""Temporal smoothing of per-person SMPL-X results along a track: One-Euro filters per parameter group.

Per-frame predictions jitter; a One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose
cutoff frequency rises with the signal's speed: at rest it removes jitter strongly, in fast motion it follows
with little lag. For a sample `x` at time `t` (seconds), with `dt` since the previous sample:

    alpha(cutoff) = 1 / (1 + 1 / (2 pi cutoff dt))
    derivative    = lowpass((x - previous_output) / dt, alpha(derivative_cutoff))
    cutoff        = min_cutoff + beta * |derivative|
    output        = previous_output + alpha(cutoff) * (x - previous_output)

Time is in seconds (frame index / fps), so the settings mean the same at any frame rate, and a frame without the
person simply makes `dt` longer. The filters are causal (each output depends only on earlier frames), so results
stream out frame by frame.

Parameter groups, each with its own settings (`SmoothingSettings`):

- rotation: every joint rotation (`global_orient`, `body_pose`, both hands, `jaw_pose`, 53 joints) is filtered as
  a unit quaternion, one cutoff per joint from that joint's own speed. Before filtering, a quaternion is negated
  when it points away from the previous output (q and -q are the same rotation), so an axis-angle that wraps
  around at 180 degrees is continuous for the filter; outputs are renormalised and returned as axis-angle with
  angles in [0, pi]. Averaging axis-angle vectors component-wise instead would mix a 179-degree turn with its
  -179-degree twin into no turn at all;
- translation: `camera_translation` (metres; speed in m/s);
- camera: `box`, `focal_length` and `principal_point` together, with one cutoff from the box's speed in box
  heights per second. The full-image camera is an affine function of the box, and the filter applies the same
  weights to all eight numbers, so the smoothed camera is exactly the camera of the smoothed box;
- expression: the 10 expression coefficients;
- betas: body shape does not change within a track, so by default the running mean of the track's betas
  ("mean"); a One-Euro setting or None (off) can be chosen instead. Video runs by default give each track one
  shape, the mean over the whole track (`video.pipeline.TRACK_SHAPES`, "mean"), and then leave this group out;
  it applies with `track_shape="per-frame"`, where frames are final one by one.

A constant input comes out unchanged (up to float rounding in the quaternion round trip).

```python
>>> import numpy as np
>>> from smplest_hf.video.smoothing import OneEuroFilter, OneEuroSettings
>>> smooth = OneEuroFilter(OneEuroSettings(min_cutoff=1.0, beta=0.0))
>>> [round(float(smooth(np.array([value]), time)[0]), 3) for time, value in enumerate([0.0, 1.0, 1.0, 1.0])]
[0.0, 0.863, 0.981, 0.997]

```
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..models.smplest_x.geometry import align_quaternion_signs, axis_angle_to_quaternion, quaternion_to_axis_angle
from ..models.smplest_x.smplx_layout import POSE_PARAMETER_JOINTS

# (field, joints) of the rotation group, in the order they are stacked for the filter.
ROTATION_FIELDS = tuple(POSE_PARAMETER_JOINTS.items())
CAMERA_FIELDS = (("box", 4), ("focal_length", 2), ("principal_point", 2))
# Results computed from the parameters: stale once the parameters are smoothed (the pipeline recomputes them).
GEOMETRY_FIELDS = ("vertices", "joints", "keypoints_2d")


@dataclass(frozen=True)
class OneEuroSettings:
    """Settings of one One-Euro filter.

    Attributes:
        min_cutoff: cutoff frequency (Hz) at rest; lower = smoother and more lag when still.
        beta: how fast the cutoff rises with speed (Hz per unit of speed); higher = less lag in fast motion.
        derivative_cutoff: cutoff (Hz) of the low-pass on the speed estimate itself.
    """

    min_cutoff: float
    beta: float
    derivative_cutoff: float = 1.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.derivative_cutoff > 0 and self.beta >= 0):
            raise ValueError(f"One-Euro settings need min_cutoff > 0, derivative_cutoff > 0 and beta >= 0, got {self}.")


@dataclass(frozen=True)
class SmoothingSettings:
    """Per-group filter settings for `PersonSmoother`; None turns a group's smoothing off.

    The defaults were chosen on synthetic sequences at 30 fps (joint rotations swinging up to 0.4 rad at up to
    1 Hz with 0.04 rad of noise; a person walking at 1 m/s with 1 cm of noise across and 8 cm in depth): they cut
    the frame-to-frame jitter (mean second difference) to 0.35-0.4 of the raw one and the error to about 0.8.
    Stronger smoothing (lower `min_cutoff` or `beta`) removes more jitter but lags behind fast motion.

    Attributes:
        rotation: joint rotations (speed in quaternion units per second, about half the angular speed in rad/s).
        translation: `camera_translation` (speed in m/s).
        camera: box and camera intrinsics (speed in box heights per second).
        expression: expression coefficients (speed in coefficient units per second).
        betas: "mean" (running mean over the track), a `OneEuroSettings`, or None. Used by video runs with
            `track_shape="per-frame"` only (the default "mean" sets every frame to the whole track's mean).
        reset_after: seconds; a track unseen for longer restarts its filters (a different motion segment).
    """

    rotation: OneEuroSettings | None = field(default_factory=lambda: OneEuroSettings(min_cutoff=1.5, beta=4.0))
    translation: OneEuroSettings | None = field(default_factory=lambda: OneEuroSettings(min_cutoff=1.0, beta=2.0))
    camera: OneEuroSettings | None = field(default_factory=lambda: OneEuroSettings(min_cutoff=1.0, beta=1.0))
    expression: OneEuroSettings | None = field(default_factory=lambda: OneEuroSettings(min_cutoff=2.0, beta=1.0))
    betas: str | OneEuroSettings | None = "mean"
    reset_after: float = 1.0

    def __post_init__(self):
        if not (self.betas is None or self.betas == "mean" or isinstance(self.betas, OneEuroSettings)):
            raise ValueError(f"betas smoothing must be 'mean', a OneEuroSettings or None, got {self.betas!r}.")
        if not self.reset_after > 0:
            raise ValueError(f"reset_after must be a positive number of seconds, got {self.reset_after}.")


# ---------------------------------------------------------------------------------------------- filters
def _alpha(cutoff, dt: float):
    """Smoothing factor of a first-order low-pass with `cutoff` Hz sampled every `dt` seconds."""
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))


class OneEuroFilter:
    """A One-Euro filter over arrays of shape (..., D) (see the module docstring).

    The cutoff is computed per row: from the norm over the last axis of the smoothed derivative, each component
    first multiplied by `speed_weights` (D,) (default all 1; zeros leave a component out of the speed).

    Args:
        settings: the `OneEuroSettings`.
        speed_weights: optional (D,) weights of the components in the speed.
    """

    def __init__(self, settings: OneEuroSettings, speed_weights=None):
        self.settings = settings
        self.speed_weights = None if speed_weights is None else np.asarray(speed_weights, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        self.state = None  # the last output
        self.derivative = None
        self.time = None

    def __call__(self, value, time: float) -> np.ndarray:
        """Filter `value` sampled at `time` seconds (strictly after the previous sample); returns float64."""
        value = np.asarray(value, dtype=np.float64)
        if self.state is None:
            self.state, self.derivative, self.time = value.copy(), np.zeros_like(value), float(time)
            return value.copy()
        if value.shape != self.state.shape:
            raise ValueError(f"The filter was started with shape {self.state.shape}, got {value.shape}.")
        dt = float(time) - self.time
        if not dt > 0:
            raise ValueError(f"Samples must come in increasing time order; got time {time} after {self.time}.")
        settings = self.settings
        derivative = (value - self.state) / dt
        self.derivative = self.derivative + _alpha(settings.derivative_cutoff, dt) * (derivative - self.derivative)
        weighted = self.derivative if self.speed_weights is None else self.derivative * self.speed_weights
        speed = np.linalg.norm(weighted, axis=-1, keepdims=True)
        alpha = _alpha(settings.min_cutoff + settings.beta * speed, dt)
        self.state = self.state + alpha * (value - self.state)
        self.time = float(time)
        return self.state.copy()


class RotationFilter:
    """One-Euro filtering of rotations as unit quaternions (..., 4) (w, x, y, z), sign-continuous, renormalised."""

    def __init__(self, settings: OneEuroSettings):
        self.filter = OneEuroFilter(settings)

    def reset(self) -> None:
        self.filter.reset()

    def __call__(self, quaternions, time: float) -> np.ndarray:
        quaternions = np.asarray(quaternions, dtype=np.float64)
        quaternions = quaternions / np.linalg.norm(quaternions, axis=-1, keepdims=True)
        if self.filter.state is not None:
            quaternions = align_quaternion_signs(quaternions, self.filter.state)
        output = self.filter(quaternions, time)
        output = output / np.linalg.norm(output, axis=-1, keepdims=True)
        self.filter.state = output.copy()  # the next sample is compared with (and blended into) a unit quaternion
        return output


class _RunningMean:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.mean, self.count = None, 0

    def __call__(self, value, time: float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        self.count += 1
        self.mean = value.copy() if self.mean is None else self.mean + (value - self.mean) / self.count
        return self.mean.copy()


# ---------------------------------------------------------------------------------------------- people
class PersonSmoother:
    """Smooths the results of one person (one track), frame after frame.

    `update(person, time)` takes a pipeline person dict and returns a new dict with the smoothed parameters
    (float32; groups whose fields are missing are skipped) and without the geometry fields (`vertices`,
    `joints`, `keypoints_2d`), which no longer match the parameters; other fields are copied as they are.
    """

    def __init__(self, settings: SmoothingSettings | None = None):
        self.settings = settings or SmoothingSettings()
        self.last_time = None
        self._filters = {}

    def reset(self) -> None:
        self.last_time = None
        self._filters = {}

    def _filter(self, group: str, make):
        if group not in self._filters:
            self._filters[group] = make()
        return self._filters[group]

    def update(self, person: dict, time: float) -> dict:
        settings = self.settings
        if self.last_time is not None and time - self.last_time > settings.reset_after:
            self.reset()
        self.last_time = float(time)
        smoothed = {name: value for name, value in person.items() if name not in GEOMETRY_FIELDS}

        if settings.rotation is not None and all(name in person for name, _ in ROTATION_FIELDS):
            axis_angles = np.concatenate([np.asarray(person[name], np.float64).reshape(joints, 3) for name, joints in ROTATION_FIELDS])
            rotations = self._filter("rotation", lambda: RotationFilter(settings.rotation))
            axis_angles = quaternion_to_axis_angle(rotations(axis_angle_to_quaternion(axis_angles), time))
            start = 0
            for name, joints in ROTATION_FIELDS:
                smoothed[name] = axis_angles[start : start + joints].reshape(np.shape(person[name])).astype(np.float32)
                start += joints
        if settings.translation is not None and "camera_translation" in person:
            translation = self._filter("translation", lambda: OneEuroFilter(settings.translation))
            smoothed["camera_translation"] = translation(person["camera_translation"], time).astype(np.float32)
        if settings.camera is not None and all(name in person for name, _ in CAMERA_FIELDS):
            values = np.concatenate([np.asarray(person[name], np.float64).reshape(size) for name, size in CAMERA_FIELDS])
            # Speed from the box alone, in box heights (of the track's first box) per second.
            weights = np.concatenate((np.full(4, 1.0 / max(float(values[3]), 1e-6)), np.zeros(4)))
            camera = self._filter("camera", lambda: OneEuroFilter(settings.camera, speed_weights=weights))
            values = camera(values, time)
            start = 0
            for name, size in CAMERA_FIELDS:
                smoothed[name] = values[start : start + size].astype(np.float32)
                start += size
        if settings.expression is not None and "expression" in person:
            expression = self._filter("expression", lambda: OneEuroFilter(settings.expression))
            smoothed["expression"] = expression(person["expression"], time).astype(np.float32)
        if settings.betas is not None and "betas" in person:
            betas = self._filter("betas", _RunningMean if settings.betas == "mean" else lambda: OneEuroFilter(settings.betas))
            smoothed["betas"] = betas(person["betas"], time).astype(np.float32)
        return smoothed


class TrackSmoother:
    """One `PersonSmoother` per track id.

    ```python
    >>> smoother = TrackSmoother()                               # doctest: +SKIP
    >>> person = smoother(track_id, person, frame_index / fps)   # doctest: +SKIP
    >>> smoother.keep_only(tracker.active_ids)                   # doctest: +SKIP
    ```
    """

    def __init__(self, settings: SmoothingSettings | None = None):
        self.settings = settings or SmoothingSettings()
        self._people = {}

    def __call__(self, track_id: int, person: dict, time: float) -> dict:
        if track_id not in self._people:
            self._people[track_id] = PersonSmoother(self.settings)
        return self._people[track_id].update(person, time)

    def keep_only(self, track_ids) -> None:
        """Forget the filters of tracks not in `track_ids` (tracks that ended)."""
        alive = {int(track_id) for track_id in track_ids}
        self._people = {track_id: smoother for track_id, smoother in self._people.items() if track_id in alive}


def smooth_sequence(sequence: dict, times, settings: SmoothingSettings | None = None) -> dict:
    """Smooth a whole track at once: `sequence` maps field names to (T, ...) arrays (the pipeline's per-person
    fields stacked over frames), `times` (T,) seconds. Returns the smoothed (T, ...) float32 arrays of the
    fields `PersonSmoother` smooths, other fields unchanged."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    lengths = {name: len(value) for name, value in sequence.items()}
    if any(length != len(times) for length in lengths.values()):
        raise ValueError(f"Every field needs one row per time ({len(times)}), got {lengths}.")
    smoother = PersonSmoother(settings)
    frames = [smoother.update({name: value[index] for name, value in sequence.items()}, time) for index, time in enumerate(times)]
    return {name: np.stack([frame[name] for frame in frames]) for name in frames[0]} if frames else dict(sequence)


__all__ = [
    "CAMERA_FIELDS",
    "GEOMETRY_FIELDS",
    "ROTATION_FIELDS",
    "OneEuroFilter",
    "OneEuroSettings",
    "PersonSmoother",
    "RotationFilter",
    "SmoothingSettings",
    "TrackSmoother",
    "smooth_sequence",
]
