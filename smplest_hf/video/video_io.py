"""Reading and writing videos with PyAV (FFmpeg libraries bundled in its wheels: no system ffmpeg needed).

Reading. `VideoReader` decodes frames lazily and hands them out one by one or in batches of a chosen size, so
memory stays at one batch of frames whatever the video's length. Frames come out as (H, W, 3) uint8 RGB, turned
upright when the stream carries a display rotation (phones record portrait videos as rotated landscape frames;
`VideoInfo.rotation` says by how much). `read_video_info` checks a file cheaply before any work starts: it opens
the container, decodes the first frame and checks the frame count against `max_frames`, so a missing, empty,
not-a-video, corrupt or too long file fails before a model is loaded.

Too long: videos with more than `max_frames` frames (default `DEFAULT_MAX_FRAMES`, 10 minutes at 30 fps) are
refused, because the per-track parameter sequences are kept in memory until the end; raise the limit
(`max_frames=` / `--max-frames`) or trim the video. When the container does not store its frame count it is
estimated from the duration, and the limit is enforced again while decoding.

Writing. `VideoWriter` encodes RGB frames to H.264 (libx264, in PyAV's wheels) or, when that encoder is
missing, MPEG-4 part 2, in an MP4/MOV/MKV/AVI container at a constant frame rate. It writes to a temporary file
beside the target and moves it into place only when closed successfully (no half-written videos). H.264 and
MPEG-4 in 4:2:0 need even widths and heights: odd-sized frames are padded by one row/column (edge pixels repeated).

```python
>>> import numpy as np, tempfile, os
>>> from smplest_hf.video.video_io import VideoReader, VideoWriter
>>> path = os.path.join(tempfile.mkdtemp(), "clip.mp4")
>>> with VideoWriter(path, fps=25) as writer:
...     for value in range(0, 250, 50):
...         writer.write(np.full((48, 64, 3), value, dtype=np.uint8))
>>> with VideoReader(path) as video:
...     info = video.info
...     sizes = [len(batch) for batch in video.batches(2)]
>>> info.frame_count, info.fps, (info.height, info.width), sizes
(5, Fraction(25, 1), (48, 64), [2, 2, 1])

```
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..export.atomic import PendingFile

# 10 minutes at 30 fps. The per-track parameter sequences of a video stay in memory until it ends (about 1 KB
# per person and frame), and a CPU needs hours for this many frames; longer videos are refused unless the limit
# is raised explicitly.
DEFAULT_MAX_FRAMES = 18_000
# Used when a stream does not state its frame rate (rare: raw elementary streams).
FALLBACK_FPS = Fraction(30)
VIDEO_FILE_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".ogv"}
)
# Containers we write, by file extension.
_OUTPUT_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


class VideoReadError(ValueError):
    """A video file is missing, empty, not a video, corrupt, without frames or too long; the message names it."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as shown (after the display rotation).

    Attributes:
        name: the file path.
        height, width: frame size in pixels, upright.
        fps: average frame rate (frames per second) as a fraction, e.g. 30000/1001.
        frame_count: number of frames, from the container or estimated from the duration (see
            `frame_count_is_exact`).
        frame_count_is_exact: False when the container does not store the count and it was estimated.
        rotation: degrees (counter-clockwise) the stored frames are rotated by to show them upright.
        codec: the video codec's name, e.g. "h264".
    """

    name: str
    height: int
    width: int
    fps: Fraction
    frame_count: int
    frame_count_is_exact: bool
    rotation: int
    codec: str


def is_video_path(path) -> bool:
    """Whether `path` has a video file extension (`VIDEO_FILE_EXTENSIONS`); the file need not exist."""
    return Path(path).suffix.lower() in VIDEO_FILE_EXTENSIONS


def default_video_codec() -> str:
    """"libx264" (H.264) when PyAV's FFmpeg has the encoder, else "mpeg4" (always built into FFmpeg)."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def read_video_info(path, max_frames: int | None = DEFAULT_MAX_FRAMES) -> VideoInfo:
    """Open `path`, decode its first frame and return its `VideoInfo`, without decoding the rest.

    Raises:
        VideoReadError: missing file, a folder, 0 bytes, not a video, corrupt, no video stream, no frames, or more
            than `max_frames` frames (None = no limit).
    """
    with VideoReader(path, max_frames=max_frames) as video:
        return video.info


class VideoReader:
    """Frames of a video file, decoded lazily (see the module docstring).

    Args:
        path: the video file.
        max_frames: refuse videos with more frames than this (None = no limit); see `DEFAULT_MAX_FRAMES`.
        apply_rotation: turn frames upright according to the stream's display rotation.

    The file is opened, and its first frame decoded, in the constructor; use it as a context manager (or call
    `close`). Iterating yields (H, W, 3) uint8 RGB frames; `batches(n)` yields lists of at most n frames.
    """

    def __init__(self, path, max_frames: int | None = DEFAULT_MAX_FRAMES, apply_rotation: bool = True):
        import av

        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
            raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}.")
        self.path = Path(path).expanduser()
        self.max_frames = max_frames
        self.apply_rotation = apply_rotation
        _check_file(self.path)
        self._container = None
        try:
            self._container = av.open(str(self.path), mode="r")
            if not self._container.streams.video:
                kinds = ", ".join(sorted({stream.type for stream in self._container.streams})) or "none"
                raise VideoReadError(f"{str(self.path)!r} has no video stream (its streams: {kinds}).")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"  # frame- and slice-threaded decoding: several times faster
            self._frames = self._container.decode(self._stream)
            self._pending = self._next_decoded()  # the first frame: proves the stream decodes, gives the rotation
            if self._pending is None:
                raise VideoReadError(f"Video file {str(self.path)!r} contains no video frames.")
            self.info = self._describe(self._pending)
        except BaseException as error:
            self.close()
            if isinstance(error, av.error.FFmpegError):
                raise _read_error(self.path, error) from None
            raise
        if max_frames is not None and self.info.frame_count > max_frames:
            self.close()
            raise VideoReadError(self._too_long_message(self.info.frame_count, exact=self.info.frame_count_is_exact))
        self._decoded = 0

    # ------------------------------------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        if self._container is None:
            raise ValueError(f"VideoReader for {str(self.path)!r} is closed.")
        while True:
            try:
                frame = self._pending if self._pending is not None else self._next_decoded()
            except av.error.FFmpegError as error:
                raise _read_error(self.path, error, frame_index=self._decoded) from None
            self._pending = None
            if frame is None:
                return
            if self.max_frames is not None and self._decoded >= self.max_frames:
                raise VideoReadError(self._too_long_message(self._decoded + 1, exact=False))
            self._decoded += 1
            yield self._to_rgb(frame)

    def batches(self, size: int) -> Iterator[list[np.ndarray]]:
        """Lists of at most `size` consecutive frames (the last one may be shorter)."""
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"Batch size must be a positive integer, got {size!r}.")
        batch = []
        for frame in self:
            batch.append(frame)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    @property
    def frames_read(self) -> int:
        return self._decoded

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ helpers
    def _next_decoded(self):
        return next(self._frames, None)

    def _rotation(self, frame) -> int:
        # `VideoFrame.rotation` (PyAV >= 13): counter-clockwise degrees from the display matrix.
        rotation = round(getattr(frame, "rotation", 0) or 0)
        return rotation % 360 if self.apply_rotation else 0

    def _to_rgb(self, frame) -> np.ndarray:
        pixels = frame.to_ndarray(format="rgb24")
        quarter_turns = self._rotation(frame) // 90
        if quarter_turns:
            # np.rot90 turns counter-clockwise as displayed (row 0 at the top), like the display matrix.
            pixels = np.ascontiguousarray(np.rot90(pixels, k=quarter_turns))
        return pixels

    def _describe(self, first_frame) -> VideoInfo:
        stream = self._stream
        fps = next((Fraction(rate) for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate) if rate), FALLBACK_FPS)
        frame_count, exact = stream.frames or 0, True
        if frame_count <= 0:  # not stored (e.g. Matroska/WebM): estimate from the duration
            exact = False
            if stream.duration is not None and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif self._container.duration is not None:
                seconds = self._container.duration / 1_000_000  # AV_TIME_BASE
            else:
                seconds = 0.0
            frame_count = max(1, round(seconds * float(fps)))
        rotation = self._rotation(first_frame)
        height, width = first_frame.height, first_frame.width
        if rotation in (90, 270):
            height, width = width, height
        return VideoInfo(
            name=str(self.path), height=height, width=width, fps=fps, frame_count=frame_count,
            frame_count_is_exact=exact, rotation=rotation, codec=stream.codec_context.name,
        )  # fmt: skip

    def _too_long_message(self, frames: int, exact: bool) -> str:
        count = f"{frames} frames" if exact else f"at least {frames} frames"
        return (
            f"Video file {str(self.path)!r} has {count}, more than the limit of {self.max_frames} "
            "(max_frames / --max-frames); raise the limit or trim the video."
        )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(f"Video file {str(path)!r} does not exist.")
    if path.is_dir():
        raise VideoReadError(f"{str(path)!r} is a folder, not a video file.")
    if path.stat().st_size == 0:
        raise VideoReadError(f"Video file {str(path)!r} is empty (0 bytes).")


def _read_error(path: Path, error: Exception, frame_index: int | None = None) -> VideoReadError:
    """A PyAV/FFmpeg exception -> the one-line VideoReadError shown to the user."""
    reason = " ".join(str(getattr(error, "strerror", None) or error).split())
    if frame_index is None:  # opening the file or decoding its first frame
        return VideoReadError(f"{str(path)!r} is not a video file FFmpeg can read, or it is corrupt or truncated ({reason}).")
    return VideoReadError(f"Video file {str(path)!r} is corrupt or truncated: decoding failed at frame {frame_index} ({reason}).")


# ---------------------------------------------------------------------------------------------- writing
class VideoWriter:
    """Encode RGB frames into a video file, atomically (temporary file, moved into place on `close`).

    Args:
        path: target file; the extension picks the container (.mp4, .m4v, .mov, .mkv, .avi).
        fps: frame rate (a number or a `Fraction`, e.g. `VideoInfo.fps`); every frame lasts 1 / fps.
        codec: FFmpeg encoder name; default `default_video_codec()` (H.264 when available).
        quality: H.264 constant rate factor (lower = better and larger; 18 is visually near lossless).

    The first frame fixes the size; later frames must have it too. Use as a context manager: leaving the block
    normally finishes the file, an exception discards it.
    """

    def __init__(self, path, fps, codec: str | None = None, quality: int = 18):
        self.path = Path(path).expanduser()
        container_format = _OUTPUT_CONTAINERS.get(self.path.suffix.lower())
        if container_format is None:
            raise ValueError(f"Cannot write video {str(self.path)!r}: use one of the extensions {', '.join(sorted(_OUTPUT_CONTAINERS))}.")
        self.fps = Fraction(fps).limit_denominator(1001 * 1000) if not isinstance(fps, Fraction) else fps
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}.")
        self.codec = codec or default_video_codec()
        self.quality = int(quality)
        self.frames_written = 0
        self._format = container_format
        self._container = self._stream = None
        self._size = None
        self._pending = PendingFile(self.path)  # FFmpeg writes to its temporary file

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        import av

        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"Video frames must be (H, W, 3) uint8 RGB arrays, got shape {frame.shape} and dtype {frame.dtype}.")
        if self._size is None:
            self._open(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != self._size:
            raise ValueError(f"Frame {self.frames_written} has size {frame.shape[:2]}, but the video's frames are {self._size}.")
        padded = np.pad(frame, ((0, self._padding[0]), (0, self._padding[1]), (0, 0)), mode="edge") if any(self._padding) else frame
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
        video_frame.pts = self.frames_written  # time base 1/fps: one tick per frame, constant rate
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _open(self, height: int, width: int) -> None:
        import av

        self._size = (height, width)
        self._padding = (height % 2, width % 2)
        self._container = av.open(str(self._pending.temporary), mode="w", format=self._format)
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = width + self._padding[1], height + self._padding[0]
        stream.pix_fmt = "yuv420p"  # what every player decodes
        stream.time_base = 1 / self.fps
        if self.codec == "libx264":
            stream.options = {"crf": str(self.quality), "preset": "veryfast"}
        else:  # MPEG-4 part 2 has no CRF: a generous bit rate (about 0.25 bits per pixel)
            stream.bit_rate = int(max(1_000_000, 0.25 * stream.width * stream.height * float(self.fps)))
        self._stream = stream

    def close(self) -> Path:
        """Flush the encoder, finish the file and move it into place; returns the path."""
        if self._pending.temporary is None:  # already closed or aborted
            return self.path
        try:
            if self._container is None:
                raise ValueError(f"No frames were written to {str(self.path)!r}; a video needs at least one frame.")
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            self._pending.commit()
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (no file is left behind)."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._pending.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


__all__ = [
    "DEFAULT_MAX_FRAMES",
    "VIDEO_FILE_EXTENSIONS",
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
    "default_video_codec",
    "is_video_path",
    "read_video_info",
]
