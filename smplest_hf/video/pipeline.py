"""Videos through an `SmplestXPipeline`, in two passes over the frames.

    pass 1, `track_video`: decode (video_io, a batch of frames) -> SmplestXPipeline.run on the batch (all its
        people together) -> PersonTracker: stable `track_id`s -> TrackSmoother: parameters smoothed along each
        track (default on) -> per-track body shape (`track_shape`). Only parameters are kept: memory grows with
        people x frames x ~1 KB, never with pixels.
    pass 2, `tracked_frames`: decode again (cheap) -> meshes and keypoints from the final parameters
        (`SmplestXPipeline.add_geometry`) -> one `VideoFrameResult` per frame.

`process_video` runs both. Two passes because one person has one body shape: by default (`track_shape="mean"`)
every frame of a track gets the same betas, the mean of the model's per-frame betas over the whole track, which is
known only once the last frame has gone through the model.

```python
>>> from smplest_hf.inference.pipeline import SmplestXPipeline
>>> from smplest_hf.video.pipeline import process_video
>>> pipe = SmplestXPipeline("path/to/model", detector="none")               # doctest: +SKIP
>>> for frame in process_video(pipe, "clip.mp4"):                            # doctest: +SKIP
...     print(frame.index, [person["track_id"] for person in frame.people])
```
"""

import contextlib
import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ..inference.image_io import LoadedImage, load_image
from .video_io import DEFAULT_MAX_FRAMES

# The image pipeline's stages plus tracking and smoothing; "postprocess" then includes computing meshes from the
# final parameters, "decode" both passes' decoding.
VIDEO_STAGES = ("decode", "detect", "crop", "model", "track", "smooth", "postprocess")
# Body shape per track: "mean" (default) = one shape per person, the mean over the whole track of the model's
# per-frame betas, in every frame; "per-frame" = the model's betas of each frame (then `SmoothingSettings.betas`).
TRACK_SHAPES = ("mean", "per-frame")


def check_track_shape(track_shape: str) -> None:
    """ValueError unless `track_shape` is one of `TRACK_SHAPES`."""
    if track_shape not in TRACK_SHAPES:
        raise ValueError(f"track_shape must be one of {', '.join(TRACK_SHAPES)}; got {track_shape!r}.")


@dataclass
class VideoFrameResult:
    """One frame of `process_video`.

    Attributes:
        index: frame number, from 0.
        time: seconds from the start (index / fps).
        image: the decoded frame (`pixels` possibly shrunk, see `LoadedImage.scale`).
        people: the frame's people (the fields of `SmplestXPipeline.__call__` plus `track_id`).
    """

    index: int
    time: float
    image: LoadedImage
    people: list[dict]


@dataclass
class TrackedVideo:
    """Pass 1 of a video (`track_video`): every frame's people, parameters only.

    Attributes:
        fps: frames per second.
        people: per frame, its people: the fields of `SmplestXPipeline.__call__` without the geometry (`vertices`,
            `joints`, `keypoints_2d`), plus `track_id`; parameters final (smoothed, per-track shape).
        track_shape: one of `TRACK_SHAPES`.
        smoothing: the `SmoothingSettings` applied (with `betas=None` under `track_shape="mean"`), or None.
    """

    fps: float
    people: list[list[dict]]
    track_shape: str
    smoothing: object = None

    @property
    def frame_count(self) -> int:
        return len(self.people)

    def tracks(self) -> dict[int, list[tuple[int, dict]]]:
        """{track id: [(frame index, person), ...] in frame order}, track ids ascending."""
        tracks: dict[int, list] = {}
        for index, people in enumerate(self.people):
            for person in people:
                tracks.setdefault(person["track_id"], []).append((index, person))
        return dict(sorted(tracks.items()))


def track_video(
    pipeline,
    video,
    boxes=None,
    smoothing=True,
    tracker=None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    fps=None,
    frames_per_batch: int | None = None,
    track_shape: str = "mean",
    on_frames: Callable[[int], None] | None = None,
) -> TrackedVideo:
    """Pass 1: recover, track and smooth every person in every frame; returns their final parameters (no meshes).

    Args: as `process_video`; `on_frames(count)` is called after each batch with its number of frames (progress).

    Resets `pipeline.timings` to zero for `VIDEO_STAGES` and adds this pass's seconds to them.
    """
    from .smoothing import GEOMETRY_FIELDS, SmoothingSettings, TrackSmoother
    from .tracking import PersonTracker

    check_track_shape(track_shape)
    if smoothing is True:
        smoothing = SmoothingSettings()
    if smoothing and track_shape == "mean":  # the filter would only blur the per-frame betas the mean is taken of
        smoothing = dataclasses.replace(smoothing, betas=None)
    smoother = TrackSmoother(smoothing) if smoothing else None
    tracker = tracker if tracker is not None else PersonTracker()
    # Meshes in this pass only where something needs them before smoothing: keypoint-aided tracking, or placing
    # people in a given camera (they are then smoothed in the shared camera). Dropped after tracking.
    geometry = tracker.keypoint_weight > 0 or not pipeline.camera.is_box
    pipeline.timings = dict.fromkeys(VIDEO_STAGES, 0.0)
    timings = pipeline.timings
    frames_people = []
    with _decoded_batches(pipeline, video, fps, max_frames, frames_per_batch) as (fps, batches):
        for indices, loaded in batches:
            frame_boxes = None if boxes is None else [_boxes_of_frame(boxes, index) for index in indices]
            results = pipeline.run(loaded, frame_boxes, geometry=geometry)
            for index, people in zip(indices, results):
                people = _track_and_smooth(people, index / fps, tracker, smoother, timings)
                frames_people.append([{name: value for name, value in person.items() if name not in GEOMETRY_FIELDS} for person in people])
            if on_frames is not None:
                on_frames(len(indices))
    tracked = TrackedVideo(fps=fps, people=frames_people, track_shape=track_shape, smoothing=smoothing or None)
    if track_shape == "mean":
        start = time.perf_counter()
        for frames in tracked.tracks().values():
            betas = np.mean([person["betas"] for _, person in frames], axis=0, dtype=np.float64).astype(np.float32)
            for _, person in frames:
                person["betas"] = betas
        timings["smooth"] += time.perf_counter() - start
    return tracked


def tracked_frames(
    pipeline,
    video,
    tracked: TrackedVideo,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    frames_per_batch: int | None = None,
) -> Iterator[VideoFrameResult]:
    """Pass 2: decode `video` again and yield each frame with its people of `tracked` (copies), their `vertices`,
    `joints` and `keypoints_2d` computed from the final parameters. Adds to `pipeline.timings`.

    Raises:
        ValueError: the video now decodes to a different number of frames than in pass 1.
    """
    timings = pipeline.timings
    count = 0
    with _decoded_batches(pipeline, video, tracked.fps, max_frames, frames_per_batch) as (fps, batches):
        for indices, loaded in batches:
            if indices[-1] >= tracked.frame_count:
                break
            people = [[dict(person) for person in tracked.people[index]] for index in indices]
            start = time.perf_counter()
            pipeline.add_geometry([person for frame_people in people for person in frame_people])
            timings["postprocess"] += time.perf_counter() - start
            for index, image, frame_people in zip(indices, loaded, people):
                yield VideoFrameResult(index=index, time=index / fps, image=image, people=frame_people)
            count = indices[-1] + 1
    if count != tracked.frame_count:
        raise ValueError(f"The video gave {tracked.frame_count} frames when first read but not when read again; was it changed?")


def process_video(
    pipeline,
    video,
    boxes=None,
    smoothing=True,
    tracker=None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    fps=None,
    frames_per_batch: int | None = None,
    track_shape: str = "mean",
) -> Iterator[VideoFrameResult]:
    """Recover, track and smooth every person in every frame of a video; yields one `VideoFrameResult` per frame,
    in order. Two passes (module docstring): the first frame comes once the whole video has gone through the model,
    then frames are decoded again and yielded batch by batch (memory: the parameters plus one batch of frames).

    Args:
        pipeline: the `SmplestXPipeline` that recovers the people of each batch of frames.
        video: a video file (decoded with PyAV, see `video_io`), or frames (anything `load_image` takes) in a
            sequence that can be read twice (a list; not a one-shot iterator) together with `fps`.
        boxes: None (the detector, or whole frames with `detector="none"`); a sequence with one entry per frame (a
            (K, 4) list/array of person boxes in the pipeline's `box_format`, or None for the whole frame); or a
            mapping {frame index: boxes} (frames missing from it have nobody).
        smoothing: True (default `SmoothingSettings`), a `SmoothingSettings`, or False/None (raw per-frame
            results).
        tracker: a `PersonTracker` (default: a new one with its default settings).
        max_frames: refuse files with more frames (default `video_io.DEFAULT_MAX_FRAMES`; None = no limit).
        fps: frame rate of frames given as a sequence (files state their own).
        frames_per_batch: frames decoded and sent through detection and the model together (default the
            pipeline's `batch_size`); their people go through the model in chunks of `batch_size`.
        track_shape: "mean" (default): every frame of a track has the same betas, the mean over the whole track
            of the model's per-frame betas (`SmoothingSettings.betas` is not used); "per-frame": the model's betas
            of each frame, then smoothed as `SmoothingSettings.betas` says (default: the running mean).

    Each person additionally has `track_id` (int). The parameters, `camera_translation`, the camera and `box` are
    the smoothed ones (with smoothing) and `vertices` / `joints` / `keypoints_2d` are computed from them;
    `detection_box` and `score` stay per frame. `pipeline.timings` holds the seconds of `VIDEO_STAGES`.

    Raises:
        video_io.VideoReadError: a missing, empty, corrupt, not-a-video or too long file (before the first frame
            is yielded).
        ValueError: bad arguments, e.g. frames as a one-shot iterator.
    """
    if not isinstance(video, (str, os.PathLike)) and iter(video) is video:
        raise ValueError("process_video reads the frames twice: pass a video file or a list of frames, not an iterator.")
    tracked = track_video(pipeline, video, boxes, smoothing, tracker, max_frames, fps, frames_per_batch, track_shape)
    yield from tracked_frames(pipeline, video, tracked, max_frames, frames_per_batch)


@contextlib.contextmanager
def _decoded_batches(pipeline, video, fps, max_frames, frames_per_batch):
    """(fps, iterator of (frame indices, [LoadedImage])) over `video` in batches of `frames_per_batch` frames;
    decoding seconds go to `pipeline.timings["decode"]`."""
    from .video_io import VideoReader

    frames_per_batch = frames_per_batch or pipeline.batch_size
    if not isinstance(frames_per_batch, int) or frames_per_batch < 1:
        raise ValueError(f"frames_per_batch must be a positive integer, got {frames_per_batch!r}.")
    with contextlib.ExitStack() as stack:
        if isinstance(video, (str, os.PathLike)):
            reader = stack.enter_context(VideoReader(video, max_frames=max_frames))
            fps, name, frames = float(reader.info.fps), str(video), iter(reader)
        else:
            if fps is None or not float(fps) > 0:
                raise ValueError(f"Frames given as a sequence need their frame rate: pass fps= (got {fps!r}).")
            fps, name, frames = float(fps), "video", iter(video)

        def batches():
            first_index = 0
            while True:
                start = time.perf_counter()
                batch = list(itertools.islice(frames, frames_per_batch))
                loaded = [
                    _loaded_frame(frame, f"{name} frame {first_index + offset}", pipeline.max_pixels)
                    for offset, frame in enumerate(batch)
                ]
                pipeline.timings["decode"] += time.perf_counter() - start
                if not loaded:
                    return
                yield range(first_index, first_index + len(loaded)), loaded
                first_index += len(loaded)

        yield fps, batches()


def _loaded_frame(frame, name: str, max_pixels: int | None) -> LoadedImage:
    """A decoded frame -> LoadedImage; RGB uint8 frames within `max_pixels` are used as they are (no copy)."""
    is_rgb = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    if is_rgb and (max_pixels is None or frame.shape[0] * frame.shape[1] <= max_pixels):
        return LoadedImage(pixels=frame, original_size=frame.shape[:2], scale=1.0, name=name)
    return load_image(frame, max_pixels, name=name)


def _track_and_smooth(people: list[dict], seconds: float, tracker, smoother, timings: dict) -> list[dict]:
    """One frame's people with their track ids and (with `smoother`) smoothed parameters; adds to `timings`."""
    start = time.perf_counter()
    boxes = np.stack([person["detection_box"] for person in people]) if people else np.zeros((0, 4))
    keypoints = None
    if tracker.keypoint_weight > 0:
        keypoints = np.stack([person["keypoints_2d"] for person in people]) if people else np.zeros((0, 1, 2))
    track_ids = tracker.update(boxes, keypoints)
    timings["track"] += time.perf_counter() - start
    start = time.perf_counter()
    people = [{**person, "track_id": int(track_id)} for person, track_id in zip(people, track_ids)]
    if smoother is not None:
        people = [smoother(person["track_id"], person, seconds) for person in people]
        smoother.keep_only(tracker.active_ids)
    timings["smooth"] += time.perf_counter() - start
    return people


def _boxes_of_frame(boxes, index: int):
    """The boxes given for frame `index`: from a mapping (missing = nobody) or a per-frame sequence."""
    if isinstance(boxes, Mapping):
        return boxes.get(index, [])
    if index >= len(boxes):
        raise ValueError(f"boxes has entries for {len(boxes)} frames, but the video has more; give one entry per frame.")
    return boxes[index]


__all__ = ["TRACK_SHAPES", "VIDEO_STAGES", "TrackedVideo", "VideoFrameResult", "check_track_shape", "process_video", "track_video", "tracked_frames"]
