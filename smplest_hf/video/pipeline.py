"""Videos through an `SmplestXPipeline`: frames decoded in batches, people tracked and their parameters smoothed.

    decode (video_io, a batch of frames) -> SmplestXPipeline.run on the batch (all its people together)
    -> PersonTracker: stable `track_id`s -> TrackSmoother: parameters smoothed along each track (default on)
    -> meshes and keypoints from the smoothed parameters (`SmplestXPipeline.add_geometry`)

```python
>>> from smplest_hf.inference.pipeline import SmplestXPipeline
>>> from smplest_hf.video.pipeline import process_video
>>> pipe = SmplestXPipeline("path/to/model", detector="none")               # doctest: +SKIP
>>> for frame in process_video(pipe, "clip.mp4"):                            # doctest: +SKIP
...     print(frame.index, [person["track_id"] for person in frame.people])
```
"""

import contextlib
import itertools
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ..inference.image_io import LoadedImage, load_image
from .video_io import DEFAULT_MAX_FRAMES

# The image pipeline's stages plus tracking and smoothing; "postprocess" then includes recomputing meshes from the
# smoothed parameters.
VIDEO_STAGES = ("decode", "detect", "crop", "model", "track", "smooth", "postprocess")


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


def process_video(
    pipeline,
    video,
    boxes=None,
    smoothing=True,
    tracker=None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    fps=None,
    frames_per_batch: int | None = None,
) -> Iterator[VideoFrameResult]:
    """Recover, track and smooth every person in every frame of a video; yields one `VideoFrameResult` per frame,
    in order, as soon as its batch of frames is done (memory stays at one batch of frames).

    Args:
        pipeline: the `SmplestXPipeline` that recovers the people of each batch of frames.
        video: a video file (decoded with PyAV, see `video_io`), or an iterable of frames (anything `load_image`
            takes) together with `fps`.
        boxes: None (the detector, or whole frames with `detector="none"`); a sequence with one entry per frame (a
            (K, 4) list/array of person boxes in the pipeline's `box_format`, or None for the whole frame); or a
            mapping {frame index: boxes} (frames missing from it have nobody).
        smoothing: True (default `SmoothingSettings`), a `SmoothingSettings`, or False/None (raw per-frame
            results).
        tracker: a `PersonTracker` (default: a new one with its default settings).
        max_frames: refuse files with more frames (default `video_io.DEFAULT_MAX_FRAMES`; None = no limit).
        fps: frame rate of an iterable of frames (files state their own).
        frames_per_batch: frames decoded and sent through detection and the model together (default the
            pipeline's `batch_size`); their people go through the model in chunks of `batch_size`.

    Each person additionally has `track_id` (int). With smoothing, the parameters, `camera_translation`, the
    camera and `box` are the smoothed ones and `vertices` / `joints` / `keypoints_2d` are computed from them;
    `detection_box` and `score` stay per frame. `pipeline.timings` holds the seconds of `VIDEO_STAGES`.

    Raises:
        video_io.VideoReadError: a missing, empty, corrupt, not-a-video or too long file (before the first frame
            is yielded, except for corruption found later while decoding).
    """
    from .smoothing import SmoothingSettings, TrackSmoother
    from .tracking import PersonTracker
    from .video_io import VideoReader

    if smoothing is True:
        smoothing = SmoothingSettings()
    smoother = TrackSmoother(smoothing) if smoothing else None
    tracker = tracker if tracker is not None else PersonTracker()
    frames_per_batch = frames_per_batch or pipeline.batch_size
    if not isinstance(frames_per_batch, int) or frames_per_batch < 1:
        raise ValueError(f"frames_per_batch must be a positive integer, got {frames_per_batch!r}.")
    # Meshes are computed once, after smoothing, unless the tracker needs keypoints or the camera placement needs
    # meshes before it (placed people are then smoothed in the shared camera).
    geometry_first = smoother is None or tracker.keypoint_weight > 0 or not pipeline.camera.is_box
    timings = pipeline.timings = dict.fromkeys(VIDEO_STAGES, 0.0)

    with contextlib.ExitStack() as stack:
        if isinstance(video, (str, os.PathLike)):
            reader = stack.enter_context(VideoReader(video, max_frames=max_frames))
            fps, name, frames = float(reader.info.fps), str(video), iter(reader)
        else:
            if fps is None or not float(fps) > 0:
                raise ValueError(f"Frames given as an iterable need their frame rate: pass fps= (got {fps!r}).")
            fps, name, frames = float(fps), "video", iter(video)
        first_index = 0
        while True:
            start = time.perf_counter()
            batch = list(itertools.islice(frames, frames_per_batch))
            loaded = [
                _loaded_frame(frame, f"{name} frame {first_index + offset}", pipeline.max_pixels)
                for offset, frame in enumerate(batch)
            ]
            timings["decode"] += time.perf_counter() - start
            if not loaded:
                return
            indices = range(first_index, first_index + len(loaded))
            frame_boxes = None if boxes is None else [_boxes_of_frame(boxes, index) for index in indices]
            results = pipeline.run(loaded, frame_boxes, geometry=geometry_first)
            for index, people in zip(indices, results):
                _track_and_smooth(people, index / fps, tracker, smoother, timings)
            if smoother is not None:  # the smoothed parameters need their own meshes
                start = time.perf_counter()
                pipeline.add_geometry([person for people in results for person in people])
                timings["postprocess"] += time.perf_counter() - start
            for index, image, people in zip(indices, loaded, results):
                yield VideoFrameResult(index=index, time=index / fps, image=image, people=people)
            first_index += len(loaded)


def _loaded_frame(frame, name: str, max_pixels: int | None) -> LoadedImage:
    """A decoded frame -> LoadedImage; RGB uint8 frames within `max_pixels` are used as they are (no copy)."""
    is_rgb = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    if is_rgb and (max_pixels is None or frame.shape[0] * frame.shape[1] <= max_pixels):
        return LoadedImage(pixels=frame, original_size=frame.shape[:2], scale=1.0, name=name)
    return load_image(frame, max_pixels, name=name)


def _track_and_smooth(people: list[dict], seconds: float, tracker, smoother, timings: dict) -> None:
    """Give one frame's people their track ids and (in place) their smoothed parameters; adds to `timings`."""
    start = time.perf_counter()
    boxes = np.stack([person["detection_box"] for person in people]) if people else np.zeros((0, 4))
    keypoints = None
    if tracker.keypoint_weight > 0:
        keypoints = np.stack([person["keypoints_2d"] for person in people]) if people else np.zeros((0, 1, 2))
    track_ids = tracker.update(boxes, keypoints)
    timings["track"] += time.perf_counter() - start
    start = time.perf_counter()
    for position, (person, track_id) in enumerate(zip(people, track_ids)):
        person["track_id"] = int(track_id)
        if smoother is not None:
            people[position] = smoother(int(track_id), person, seconds)
    if smoother is not None:
        smoother.keep_only(tracker.active_ids)
    timings["smooth"] += time.perf_counter() - start


def _boxes_of_frame(boxes, index: int):
    """The boxes given for frame `index`: from a mapping (missing = nobody) or a per-frame sequence."""
    if isinstance(boxes, Mapping):
        return boxes.get(index, [])
    if index >= len(boxes):
        raise ValueError(f"boxes has entries for {len(boxes)} frames, but the video has more; give one entry per frame.")
    return boxes[index]


__all__ = ["VIDEO_STAGES", "VideoFrameResult", "process_video"]
