"""Video: decoding/encoding, tracking, smoothing, the animated glTF and `smplest-x infer VIDEO`.

The test video is rendered here: the synthetic SMPL-X-format body model, two people walking, drawn with
`smplest_hf.export.rasterizer` over a background and encoded with PyAV. The model is the tiny preset with random
weights. The animated glb is checked by a glTF evaluator written in this file (node hierarchy, samplers,
skinning), independent of the exporter.
"""

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.models.smplest_x.geometry import axis_angle_to_quaternion, quaternion_to_axis_angle
from smplest_hf.cli import main as cli_main
from smplest_hf.export.animation import save_animated_glb, top_skin_weights
from smplest_hf.export.gltf import OPENCV_TO_GLTF
from smplest_hf.inference.pipeline import SmplestXPipeline
from smplest_hf.export.rasterizer import render_meshes
from smplest_hf.export.results import render_overlay
from smplest_hf.video.smoothing import (
    OneEuroFilter,
    OneEuroSettings,
    RotationFilter,
    SmoothingSettings,
    smooth_sequence,
)
from smplest_hf.video.pipeline import process_video
from smplest_hf.video.tracking import PersonTracker
from smplest_hf.video.video_io import (
    VideoReader,
    VideoReadError,
    VideoWriter,
    read_video_info,
)

trimesh = pytest.importorskip("trimesh")
pygltflib = pytest.importorskip("pygltflib")

PARAMETERS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression")
FPS = Fraction(30000, 1001)  # NTSC: a rate that is not a whole number must survive the round trip
FRAMES, HEIGHT, WIDTH = 6, 120, 160
FOCAL, CENTER = 150.0, (80.0, 60.0)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def body_model(synthetic_body_model_dir):
    return SmplxBodyModel.from_directory(synthetic_body_model_dir)


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir, synthetic_body_model_dir):
    return SmplestXPipeline(tiny_model_dir, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=4, dtype="float32")


def project_box(vertices):
    """xywh box of vertices seen by the test camera."""
    pixels = vertices[:, :2] / vertices[:, 2:] * FOCAL + np.array(CENTER)
    low, high = pixels.min(0), pixels.max(0)
    return [*low.tolist(), *(high - low).tolist()]


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory, body_model):
    """Two people walking to the right in front of a gradient; returns (path, per-frame boxes in xywh)."""
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    zeros = torch.zeros
    arms_down = zeros(2, 21, 3)
    arms_down[:, 15, 2], arms_down[:, 16, 2] = -1.2, 1.2  # shoulders: T-pose -> arms lowered
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = np.stack((rows * 2, columns * 1.5, np.full_like(rows, 90)), axis=-1).astype(np.uint8)
    boxes = []
    with VideoWriter(path, fps=FPS) as writer:
        for frame in range(FRAMES):
            transl = torch.tensor([[-0.9 + 0.05 * frame, 0.1, 5.0], [0.5 + 0.04 * frame, 0.1, 6.0]])
            with torch.no_grad():
                vertices = body_model(zeros(2, 3), arms_down, zeros(2, 15, 3), zeros(2, 15, 3), zeros(2, 3), zeros(2, 10),
                                      zeros(2, 10), transl=transl).vertices.numpy()  # fmt: skip
            image = render_meshes(vertices, body_model.faces.numpy(), focal_length=(FOCAL, FOCAL), principal_point=CENTER,
                                  background=background).image  # fmt: skip
            writer.write(image)
            boxes.append([project_box(vertices[0].astype(np.float64)), project_box(vertices[1].astype(np.float64))])
    return path, boxes


# ------------------------------------------------------------------------------------------------ video files
def test_video_round_trip_preserves_frames_fps_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (5, 3, 4, 3)).astype(np.uint8)
    frames = [np.kron(frame, np.ones((16, 16, 1), np.uint8))[:47, :63] for frame in coarse]  # odd size: padded
    with VideoWriter(tmp_path / "clip.mp4", fps=FPS) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.codec == ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left
    info = read_video_info(tmp_path / "clip.mp4")
    assert (info.frame_count, info.fps, info.frame_count_is_exact, info.rotation) == (5, FPS, True, 0)
    assert (info.height, info.width) == (48, 64)
    with VideoReader(tmp_path / "clip.mp4") as video:
        batches = list(video.batches(2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    decoded = [frame for batch in batches for frame in batch]
    errors = np.array([[np.abs(frame[:47, :63].astype(float) - original).mean() for original in frames] for frame in decoded])
    assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in decoded)
    # Lossy (4:2:0 colour), but each decoded frame is its own picture, in order (random colours differ by ~85).
    assert errors.diagonal().max() < 6 and np.all(errors.argmin(axis=1) == np.arange(5)), errors
    for frame in decoded:
        np.testing.assert_allclose(frame[47].astype(float), frame[46], atol=12)  # the padding repeats the edge


def test_display_rotation_is_applied(tmp_path):
    container = av.open(str(tmp_path / "phone.mp4"), "w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    if not hasattr(stream, "set_display_rotation"):
        container.close()
        pytest.skip("this PyAV cannot write display rotations")
    stream.set_display_rotation(90)  # stored landscape, shown turned 90 degrees counter-clockwise
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :16] = 255  # a white band on the left of the stored frame
    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with VideoReader(tmp_path / "phone.mp4") as video:
        assert video.info.rotation == 90 and (video.info.height, video.info.width) == (64, 32)
        (upright,) = list(video)
    # Turned counter-clockwise, the left band becomes the bottom band.
    assert upright.shape == (64, 32, 3)
    assert upright[-16:].mean() > 200 and upright[:40].mean() < 40
    with VideoReader(tmp_path / "phone.mp4", apply_rotation=False) as video:
        assert next(iter(video)).shape == (32, 64, 3)


def write_empty_video(path):
    """A container with a header and no frames (AVI keeps the empty video stream, MP4 drops it)."""
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    container.start_encoding()
    container.close()


@pytest.fixture(scope="module")
def broken_videos(tmp_path_factory, synthetic_video):
    folder = tmp_path_factory.mktemp("broken_videos")
    good = synthetic_video[0].read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("this is not a video")
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 2])  # the index (moov) is at the end: lost
    # Intact container and first frames, damaged data later (noise frames: no error concealment hides it).
    rng = np.random.default_rng(0)
    with VideoWriter(folder / "garbled.mp4", fps=25) as writer:
        for _ in range(12):
            writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    garbled = bytearray((folder / "garbled.mp4").read_bytes())
    damaged = slice(len(garbled) // 2, len(garbled) - 2000, 11)
    garbled[damaged] = bytes((37 * k + 11) % 256 for k in range(len(garbled[damaged])))
    (folder / "garbled.mp4").write_bytes(bytes(garbled))
    write_empty_video(folder / "no_frames.avi")
    write_empty_video(folder / "no_stream.mp4")
    return folder


def test_unreadable_videos_raise_clear_errors(broken_videos, synthetic_video, tmp_path):
    cases = {
        tmp_path / "missing.mp4": "does not exist",
        tmp_path: "is a folder",
        broken_videos / "empty.mp4": r"is empty \(0 bytes\)",
        broken_videos / "notes.mp4": "is not a video file FFmpeg can read, or it is corrupt or truncated",
        broken_videos / "truncated.mp4": "is not a video file FFmpeg can read, or it is corrupt or truncated",
        broken_videos / "no_frames.avi": "contains no video frames",
        broken_videos / "no_stream.mp4": r"has no video stream \(its streams: none\)",
    }
    for path, message in cases.items():
        with pytest.raises(VideoReadError, match=message) as error:
            read_video_info(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)
    with VideoReader(broken_videos / "garbled.mp4") as video, pytest.raises(VideoReadError, match=r"is corrupt or truncated: decoding failed at frame [1-9]"):
        list(video)  # it opens: the damage comes later
    with pytest.raises(VideoReadError, match=r"has 6 frames, more than the limit of 3 \(max_frames / --max-frames\)"):
        read_video_info(synthetic_video[0], max_frames=3)
    assert read_video_info(synthetic_video[0], max_frames=None).frame_count == FRAMES


def test_video_writer_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "out.mp4", fps=25) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError("renderer crashed")
    with pytest.raises(ValueError, match="has size"), VideoWriter(tmp_path / "out.mp4", fps=25) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.write(np.zeros((16, 18, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ tracking
def crossing_boxes(frames=40):
    """A near person walking right and a far (smaller) one walking left, crossing in the middle, the far one
    hidden for three frames while behind; plus a third person appearing at frame 30. Per frame: boxes and the
    true identity of each box."""
    rng = np.random.default_rng(0)
    per_frame = []
    for frame in range(frames):
        boxes, identities = [], []
        near = [40 + 6 * frame, 100, 80, 200]
        far = [280 - 5 * frame, 130, 50, 125]
        candidates = [(0, near)] + ([] if 18 <= frame <= 20 else [(1, far)]) + ([(2, [500, 50, 60, 150])] if frame >= 30 else [])
        for identity, box in candidates:
            boxes.append(np.array(box, float) + rng.normal(0, 1.0, 4) * [1, 1, 0.5, 0.5])
            identities.append(identity)
        order = rng.permutation(len(boxes))  # detectors list people in no particular order
        per_frame.append((np.array(boxes)[order], np.array(identities)[order]))
    return per_frame


def test_tracks_stay_stable_when_people_cross():
    runs = []
    for _ in range(2):
        tracker = PersonTracker(max_age=5)
        runs.append([tracker.update(boxes) for boxes, _ in crossing_boxes()])
    for first, second in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(first, second)  # deterministic
    identity_to_track = {}
    for (boxes, identities), ids in zip(crossing_boxes(), runs[0]):
        for identity, track_id in zip(identities, ids):
            assert identity_to_track.setdefault(int(identity), int(track_id)) == track_id, "a person changed id"
    assert sorted(identity_to_track.values()) == [0, 1, 2]  # the third person got a new id
    assert identity_to_track[2] == 2
    # The test is not trivial: the two boxes overlap heavily while the people cross.
    from smplest_hf.inference.detection import box_iou_xyxy

    overlaps = []
    for boxes, identities in crossing_boxes():
        if {0, 1} <= set(identities.tolist()):
            xyxy = np.concatenate((boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), axis=1)
            overlaps.append(box_iou_xyxy(xyxy[identities == 0], xyxy[identities == 1])[0, 0])
    assert max(overlaps) > 0.3


def test_tracks_end_after_max_age():
    tracker = PersonTracker(max_age=2)
    assert tracker.update([[0, 0, 10, 20]]).tolist() == [0]
    for _ in range(2):
        tracker.update(np.zeros((0, 4)))
    assert tracker.active_ids.tolist() == [0]
    tracker.update(np.zeros((0, 4)))  # third frame unseen: the track ends
    assert tracker.active_ids.tolist() == []
    assert tracker.update([[0, 0, 10, 20]]).tolist() == [1]  # ids are never reused


def test_keypoints_separate_people_with_the_same_box():
    box = [0, 0, 50, 100]
    left, right = np.full((5, 2), 10.0), np.full((5, 2), 40.0)
    tracker = PersonTracker(keypoint_weight=0.5)
    assert tracker.update([box, box], keypoints=np.stack((left, right))).tolist() == [0, 1]
    assert tracker.update([box, box], keypoints=np.stack((right + 1, left - 1))).tolist() == [1, 0]
    with pytest.raises(ValueError, match="pass each box's keypoints"):
        tracker.update([box])


# ------------------------------------------------------------------------------------------------ smoothing
def reference_one_euro(values, times, min_cutoff, beta, derivative_cutoff):
    """The One-Euro filter of Casiez et al. for one scalar signal, written out sample by sample."""
    def alpha(cutoff, dt):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    output, derivative = [values[0]], 0.0
    for k in range(1, len(values)):
        dt = times[k] - times[k - 1]
        raw_derivative = (values[k] - output[-1]) / dt
        derivative = derivative + alpha(derivative_cutoff, dt) * (raw_derivative - derivative)
        cutoff = min_cutoff + beta * abs(derivative)
        output.append(output[-1] + alpha(cutoff, dt) * (values[k] - output[-1]))
    return np.array(output)


def test_one_euro_matches_the_reference():
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.uniform(0.02, 0.1, 50))  # irregular sampling (missed frames)
    signals = np.cumsum(rng.normal(0, 1, (50, 3)), axis=0)
    settings = OneEuroSettings(min_cutoff=0.7, beta=0.3, derivative_cutoff=1.3)
    # Speed weights picking one component make each column an independent scalar filter.
    for column in range(3):
        weights = np.eye(3)[column]
        smooth = OneEuroFilter(settings, speed_weights=weights)
        ours = np.stack([smooth(signals[k], times[k]) for k in range(50)])[:, column]
        np.testing.assert_allclose(ours, reference_one_euro(signals[:, column], times, 0.7, 0.3, 1.3), rtol=1e-12)


def person_sequence(rng, count, noise=0.0):
    """Smooth synthetic parameters (walking-like sinusoids) of `count` frames at 30 fps, plus Gaussian noise."""
    times = np.arange(count) / 30
    phases = rng.uniform(0, 2 * np.pi, (53, 3))
    amplitudes = rng.uniform(0.05, 0.4, (53, 3))
    frequencies = rng.uniform(0.2, 1.0, (53, 1))
    rotations = amplitudes * np.sin(2 * np.pi * frequencies * times[:, None, None] + phases)  # (T, 53, 3)
    rotations += rng.normal(0, noise, rotations.shape)
    translation = np.stack((-1 + times, 0.2 + 0.03 * np.sin(4 * np.pi * times), 5 + 0.5 * np.sin(0.6 * np.pi * times)), 1)
    translation += rng.normal(0, 1, translation.shape) * np.array([0.01, 0.01, 0.08]) * (noise > 0)
    box = np.stack((100 + 40 * times, 50 + 0 * times, 80 + 0 * times, 200 + 10 * times), 1) + rng.normal(0, 3 * (noise > 0), (count, 4))
    sequence = {
        "global_orient": rotations[:, 0], "body_pose": rotations[:, 1:22], "left_hand_pose": rotations[:, 22:37],
        "right_hand_pose": rotations[:, 37:52], "jaw_pose": rotations[:, 52],
        "betas": np.tile(rng.normal(0, 1, 10), (count, 1)) + rng.normal(0, 0.3 * (noise > 0), (count, 10)),
        "expression": np.sin(times[:, None] + np.arange(10)) + rng.normal(0, 0.2 * (noise > 0), (count, 10)),
        "camera_translation": translation, "box": box,
        "focal_length": box[:, 2:] * [5000 / 192, 5000 / 256], "principal_point": box[:, 2:] * 0.5 + box[:, :2],
    }  # fmt: skip
    return {name: value.astype(np.float32) for name, value in sequence.items()}, times


def geodesic(axis_angle_a, axis_angle_b):
    dot = np.abs((axis_angle_to_quaternion(axis_angle_a) * axis_angle_to_quaternion(axis_angle_b)).sum(-1))
    return 2 * np.arccos(np.clip(dot, 0, 1))


def jitter(values):
    """Mean size of the second difference over time (acceleration per frame^2)."""
    return np.abs(np.diff(values.astype(np.float64), n=2, axis=0)).mean()


def test_constant_sequence_is_unchanged():
    sequence, _ = person_sequence(np.random.default_rng(2), 1)
    constant = {name: np.repeat(value, 20, axis=0) for name, value in sequence.items()}
    smoothed = smooth_sequence(constant, np.arange(20) / 30)
    for name, value in constant.items():
        np.testing.assert_allclose(smoothed[name], value, rtol=1e-6, atol=1e-6, err_msg=name)


def test_smoothing_reduces_jitter_and_error():
    rng = np.random.default_rng(3)
    truth, times = person_sequence(rng, 120)
    noisy, _ = person_sequence(np.random.default_rng(3), 120, noise=0.04)  # same motion, plus noise
    smoothed = smooth_sequence(noisy, times)
    for name in ("body_pose", "left_hand_pose", "camera_translation", "box", "expression"):
        raw_jitter, smooth_jitter = jitter(noisy[name]), jitter(smoothed[name])
        assert smooth_jitter < 0.5 * raw_jitter, (name, smooth_jitter, raw_jitter)
    raw_error = geodesic(noisy["body_pose"], truth["body_pose"]).mean()
    smooth_error = geodesic(smoothed["body_pose"], truth["body_pose"]).mean()
    assert smooth_error < 0.9 * raw_error, (smooth_error, raw_error)
    translation_error = np.linalg.norm(smoothed["camera_translation"] - truth["camera_translation"], axis=1).mean()
    assert translation_error < 0.9 * np.linalg.norm(noisy["camera_translation"] - truth["camera_translation"], axis=1).mean()
    # Betas: the running mean converges to the true shape.
    assert np.abs(smoothed["betas"][-1] - truth["betas"][-1]).max() < 0.1 < np.abs(noisy["betas"][-1] - truth["betas"][-1]).max()
    # The camera stays exactly the camera of the smoothed box (the filter is linear with shared weights).
    np.testing.assert_allclose(smoothed["focal_length"], smoothed["box"][:, 2:] * [5000 / 192, 5000 / 256], rtol=1e-5)
    np.testing.assert_allclose(smoothed["principal_point"], smoothed["box"][:, 2:] * 0.5 + smoothed["box"][:, :2], rtol=1e-5)
    # Groups can be turned off.
    unsmoothed = smooth_sequence(noisy, times, SmoothingSettings(rotation=None, translation=None, camera=None, expression=None, betas=None))
    for name, value in noisy.items():
        np.testing.assert_array_equal(unsmoothed[name], value)


def test_rotation_smoothing_handles_sign_flips():
    # A body turned about 180 degrees, wobbling across the point where axis-angle wraps around: the model's
    # axis-angle jumps between about +pi and -pi around the same axis (quaternions q and -q).
    rng = np.random.default_rng(4)
    angles = np.pi + 0.05 * np.sin(np.arange(60) / 3) + rng.normal(0, 0.02, 60)
    axis = np.array([0.0, 1.0, 0.0])
    truth = angles[:, None] * axis
    observed = quaternion_to_axis_angle(axis_angle_to_quaternion(truth))  # angles folded into [0, pi]
    assert (observed[:, 1] > 0).any() and (observed[:, 1] < 0).any()  # the representation flips
    rotations = RotationFilter(OneEuroSettings(min_cutoff=1.0, beta=0.5))
    smoothed = np.stack([quaternion_to_axis_angle(rotations(axis_angle_to_quaternion(observed[k]), k / 30)) for k in range(60)])
    assert geodesic(smoothed, truth).max() < 0.1  # radians; averaging axis-angles instead would be off by ~pi
    naive = smooth_sequence({"expression": observed}, np.arange(60) / 30)["expression"]  # component-wise filter
    assert geodesic(naive, truth).max() > 1.0
    # q and -q fed alternately are one constant rotation.
    quaternion = axis_angle_to_quaternion([0.3, -0.2, 0.5])
    rotations = RotationFilter(OneEuroSettings(min_cutoff=1.0, beta=0.5))
    outputs = [rotations(quaternion * (-1) ** k, k / 30) for k in range(10)]
    for output in outputs:
        np.testing.assert_allclose(np.abs(output @ quaternion), 1.0, atol=1e-12)


# ------------------------------------------------------------------------------------------------ animated glTF
COMPONENTS = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_accessor(gltf, blob, index):
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    width = WIDTHS[accessor.type]
    data = np.frombuffer(blob, COMPONENTS[accessor.componentType], accessor.count * width, view.byteOffset + (accessor.byteOffset or 0))
    return data.reshape(accessor.count, width).astype(np.float64)


def quaternion_xyzw_to_matrix(quaternion):
    x, y, z, w = quaternion / np.linalg.norm(quaternion)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def sample_channel(times, values, interpolation, path, time):
    """glTF sampler at `time`: clamped at the ends, STEP, or LINEAR (slerp for rotations)."""
    if time <= times[0]:
        return values[0]
    if time >= times[-1]:
        return values[-1]
    k = int(np.searchsorted(times, time, side="right")) - 1
    if interpolation == "STEP":
        return values[k]
    u = (time - times[k]) / (times[k + 1] - times[k])
    if path != "rotation":
        return (1 - u) * values[k] + u * values[k + 1]
    a, b = values[k], values[k + 1] * np.sign(values[k] @ values[k + 1] or 1)
    theta = np.arccos(np.clip(a @ b, -1, 1))
    return a if theta < 1e-9 else (np.sin((1 - u) * theta) * a + np.sin(u * theta) * b) / np.sin(theta)


def pose_gltf(gltf, blob, time):
    """Global 4x4 matrix of every node and the morph weights of every animated mesh node at `time` seconds."""
    local = {index: {"translation": np.array(node.translation or [0, 0, 0], float), "rotation": np.array(node.rotation or [0, 0, 0, 1], float),
                     "scale": np.array(node.scale or [1, 1, 1], float)} for index, node in enumerate(gltf.nodes)}  # fmt: skip
    morph = {}
    for animation in gltf.animations:
        for channel in animation.channels:
            sampler = animation.samplers[channel.sampler]
            times = read_accessor(gltf, blob, sampler.input)[:, 0]
            values = read_accessor(gltf, blob, sampler.output).reshape(len(times), -1)
            value = sample_channel(times, values, sampler.interpolation, channel.target.path, time)
            if channel.target.path == "weights":
                morph[channel.target.node] = value
            else:
                local[channel.target.node][channel.target.path] = value
    world = {}

    def visit(index, parent):
        matrix = np.eye(4)
        matrix[:3, :3] = quaternion_xyzw_to_matrix(local[index]["rotation"]) * local[index]["scale"]
        matrix[:3, 3] = local[index]["translation"]
        world[index] = parent @ matrix
        for child in gltf.nodes[index].children or []:
            visit(child, world[index])

    for root in gltf.scenes[gltf.scene].nodes:
        visit(root, np.eye(4))
    return world, morph


def skinned_vertices(gltf, blob, node_index, world, morph):
    """glTF skinning: morph targets, then sum_k weight_k * world(joint_k) @ inverse_bind(joint_k) @ position."""
    node = gltf.nodes[node_index]
    primitive, skin = gltf.meshes[node.mesh].primitives[0], gltf.skins[node.skin]
    positions = read_accessor(gltf, blob, primitive.attributes.POSITION)
    for weight, target in zip(morph.get(node_index, []), primitive.targets or []):
        positions = positions + weight * read_accessor(gltf, blob, target["POSITION"])
    joints = read_accessor(gltf, blob, primitive.attributes.JOINTS_0).astype(int)
    weights = read_accessor(gltf, blob, primitive.attributes.WEIGHTS_0)
    inverse_bind = read_accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    joint_matrices = np.stack([world[joint] for joint in skin.joints]) @ inverse_bind
    blended = np.einsum("vk,vkij->vij", weights, joint_matrices[joints])
    return np.einsum("vij,vj->vi", blended[:, :3, :3], positions) + blended[:, :3, 3]


def body_model_joints(body_model, track):
    """The body model's 55 kinematic joints (camera frame, translation included) for each frame of a track."""
    parameters = {name: torch.as_tensor(np.asarray(track[name]), dtype=torch.float32) for name in PARAMETERS}
    translation = torch.as_tensor(np.asarray(track.get("camera_translation", track.get("transl"))), dtype=torch.float32)
    with torch.no_grad():
        output = body_model(**parameters, transl=translation)
    return output.smplx_joints[:, :55].numpy().astype(np.float64), output.vertices.numpy().astype(np.float64)


def check_glb_joints(path, tracks, body_model, fps):
    """Every track's skeleton, posed by the glb's animation at each of its frames, against the body model's joints
    in glTF axes; returns the largest error in metres."""
    gltf = pygltflib.GLTF2().load(str(path))
    blob = gltf.binary_blob()
    largest = 0.0
    for skin_index, track in enumerate(tracks):
        expected, _ = body_model_joints(body_model, track)
        skin = gltf.skins[skin_index]
        for row, frame in enumerate(track["frame_indices"]):
            world, _ = pose_gltf(gltf, blob, float(np.float32(frame / fps)))  # keyframe times are float32
            joints = np.stack([world[joint][:3, 3] for joint in skin.joints])
            largest = max(largest, np.abs(joints - expected[row] @ OPENCV_TO_GLTF.T).max())
    return largest


def random_track(rng, frame_indices, betas_noise=0.0):
    count = len(frame_indices)
    return {
        "frame_indices": np.asarray(frame_indices), "global_orient": rng.normal(0, 0.6, (count, 3)),
        "body_pose": rng.normal(0, 0.3, (count, 21, 3)), "left_hand_pose": rng.normal(0, 0.3, (count, 15, 3)),
        "right_hand_pose": rng.normal(0, 0.3, (count, 15, 3)), "jaw_pose": rng.normal(0, 0.2, (count, 3)),
        "betas": np.tile(rng.normal(0, 1, 10), (count, 1)) + rng.normal(0, betas_noise, (count, 10)),
        "expression": rng.normal(0, 1, (count, 10)),
        "camera_translation": rng.normal(0, 0.3, (count, 3)) + [0, 0, 4],
    }  # fmt: skip


def test_animated_glb_reproduces_the_joints(body_model, tmp_path):
    from smplx.lbs import lbs

    rng = np.random.default_rng(5)
    tracks = [random_track(rng, [0, 1, 2, 4, 5, 6]), random_track(rng, [3, 4, 7], betas_noise=0.2)]  # gaps; shape varies
    path = save_animated_glb(tmp_path / "people.glb", tracks, body_model, fps=30, frame_count=8, names=["track_0", "track_1"])
    assert check_glb_joints(path, tracks, body_model, 30) < 1e-3  # metres: the required 1 mm
    assert check_glb_joints(path, tracks, body_model, 30) < 1e-5  # in fact float32 rounding only

    gltf = pygltflib.GLTF2().load(str(path))
    blob = gltf.binary_blob()
    assert len(gltf.skins) == 2 and all(len(skin.joints) == 55 for skin in gltf.skins)
    primitive = gltf.meshes[0].primitives[0]
    weights = read_accessor(gltf, blob, primitive.attributes.WEIGHTS_0)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    assert len(primitive.targets) == 10 and gltf.meshes[0].extras["targetNames"][0] == "expression_0"

    # The mesh: glTF skinning = SMPL-X linear blend skinning without pose correctives (track 0 keeps one shape).
    # The remaining difference: expression moves the jaw joint, which the bind pose cannot (about 1 mm).
    track = tracks[0]
    parameters = {name: torch.as_tensor(track[name], dtype=torch.float32) for name in (*PARAMETERS, "camera_translation")}
    count = len(track["frame_indices"])
    hands = [parameters[f"{side}_hand_pose"].reshape(count, 15, 3) + body_model.hand_pose_mean[k] for k, side in enumerate(("left", "right"))]
    full_pose = torch.cat((parameters["global_orient"][:, None], parameters["body_pose"], parameters["jaw_pose"][:, None],
                           torch.zeros(count, 2, 3), *hands), dim=1)  # fmt: skip
    skin_weights = np.zeros((10475, 55))
    top_joints, top_weights = top_skin_weights(body_model.lbs_weights.numpy())
    np.add.at(skin_weights, (np.arange(10475)[:, None], top_joints.astype(int)), top_weights)  # unused slots add 0
    with torch.no_grad():
        expected, _ = lbs(torch.cat((parameters["betas"], parameters["expression"]), 1), full_pose.reshape(count, -1),
                          body_model.v_template, torch.cat((body_model.shapedirs, body_model.expression_dirs), 2),
                          torch.zeros_like(body_model.posedirs), body_model.joint_regressor, body_model.parents,
                          torch.as_tensor(skin_weights, dtype=torch.float32))  # fmt: skip
    expected = (expected + parameters["camera_translation"][:, None]).numpy() @ OPENCV_TO_GLTF.T
    mesh_node = next(index for index, node in enumerate(gltf.nodes) if node.skin == 0)
    for row, frame in enumerate(track["frame_indices"]):
        world, morph = pose_gltf(gltf, blob, float(np.float32(frame / 30)))
        vertices = skinned_vertices(gltf, blob, mesh_node, world, morph)
        assert np.abs(vertices - expected[row]).max() < 3e-3

    # Hidden outside its frames: track 1 lives in frames 3-7 of 8, its pelvis is scaled to 0 before.
    world, _ = pose_gltf(gltf, blob, 0.0)
    np.testing.assert_array_equal(world[gltf.skins[1].joints[0]][:3, :3], 0)
    assert np.abs(world[gltf.skins[0].joints[0]][:3, :3]).max() > 0.5

    scene = trimesh.load(path)
    assert sorted(len(geometry.vertices) for geometry in scene.geometry.values()) == [10475, 10475]


# ------------------------------------------------------------------------------------------------ pipeline
def test_process_video_tracks_smooths_and_batches(pipeline, synthetic_video):
    path, boxes = synthetic_video
    flipped = [frame_boxes[::-1] if index % 2 else frame_boxes for index, frame_boxes in enumerate(boxes)]  # order changes
    raw = list(process_video(pipeline, path, boxes=flipped, smoothing=False, frames_per_batch=4, track_shape="per-frame"))
    assert [frame.index for frame in raw] == list(range(FRAMES))
    np.testing.assert_allclose([frame.time for frame in raw], np.arange(FRAMES) / float(FPS))
    # The left person keeps one id whatever the order of the boxes.
    left_ids = {frame.people[index % 2]["track_id"] for index, frame in enumerate(raw)}
    right_ids = {frame.people[1 - index % 2]["track_id"] for index, frame in enumerate(raw)}
    assert left_ids == {0} and right_ids == {1}
    assert set(pipeline.timings) == {"decode", "detect", "crop", "model", "track", "smooth", "postprocess"}

    # Unsmoothed with per-frame shapes, batched over frames = the image pipeline on the decoded frames (the first
    # three: 6 crops).
    with VideoReader(path) as video:
        frames = list(video)[:3]
    for frame, people in zip(raw, pipeline(frames, boxes=flipped[:3])):
        for person, alone in zip(frame.people, people):
            for name in ("body_pose", "camera_translation", "vertices", "keypoints_2d"):
                np.testing.assert_allclose(person[name], alone[name], rtol=1e-4, atol=1e-3 if name == "keypoints_2d" else 1e-5)

    smoothed = list(process_video(pipeline, path, boxes=flipped, frames_per_batch=4))
    by_track = {}
    for frame in smoothed:
        for person in frame.people:
            by_track.setdefault(person["track_id"], []).append(person)
    raw_by_track = {}
    for frame in raw:
        for person in frame.people:
            raw_by_track.setdefault(person["track_id"], []).append(person)
    for track_id, people in by_track.items():
        raw_people = raw_by_track[track_id]
        for name in PARAMETERS[:5]:  # the first frame passes through, later ones move less
            np.testing.assert_allclose(people[0][name], raw_people[0][name], atol=1e-5)
        smooth_pose = np.stack([person["body_pose"] for person in people])
        raw_pose = np.stack([person["body_pose"] for person in raw_people])
        assert jitter(smooth_pose) < jitter(raw_pose)
        # One person, one shape (the default): every frame has the mean of the model's per-frame betas.
        raw_betas = np.stack([p["betas"] for p in raw_people])
        assert np.abs(raw_betas - raw_betas[0]).max() > 1e-4  # the model's betas do vary from frame to frame
        for person in people:
            np.testing.assert_array_equal(person["betas"], people[0]["betas"])
        np.testing.assert_allclose(people[0]["betas"], raw_betas.mean(axis=0), atol=1e-6)
    # Meshes and keypoints follow the smoothed parameters, shape and camera, in every frame.
    for person in (person for frame in smoothed for person in frame.people):
        parameters = {name: torch.from_numpy(person[name])[None] for name in PARAMETERS}
        with torch.no_grad():
            body = pipeline.model.body_model(**parameters, transl=torch.from_numpy(person["camera_translation"])[None])
        np.testing.assert_allclose(person["vertices"], body.vertices[0].numpy(), atol=1e-5)
        joints = person["joints"].astype(np.float64)
        expected = joints[:, :2] / (joints[:, 2:] + 1e-4) * person["focal_length"] + person["principal_point"]
        np.testing.assert_allclose(person["keypoints_2d"], expected, rtol=1e-4, atol=1e-2)

    # Per-frame shapes with the default smoothing: each frame the running mean of the betas seen so far.
    per_frame = list(process_video(pipeline, path, boxes=flipped, frames_per_batch=4, track_shape="per-frame"))
    for track_id in by_track:
        betas = np.stack([person["betas"] for frame in per_frame for person in frame.people if person["track_id"] == track_id])
        raw_betas = np.stack([person["betas"] for person in raw_by_track[track_id]])
        np.testing.assert_allclose(betas, np.cumsum(raw_betas, axis=0) / np.arange(1, FRAMES + 1)[:, None], atol=1e-6)
    # Frames are read twice: a one-shot iterator is refused, a list is fine.
    with VideoReader(path) as video:
        decoded = list(video)
    with pytest.raises(ValueError, match="reads the frames twice"):
        next(process_video(pipeline, iter(decoded), boxes=flipped, fps=FPS))
    from_list = list(process_video(pipeline, decoded, boxes=flipped, fps=FPS, frames_per_batch=4))
    np.testing.assert_allclose(from_list[-1].people[0]["vertices"], smoothed[-1].people[0]["vertices"], atol=1e-6)


def test_keypoint_tracking_and_a_known_camera_keep_meshes_on_the_smoothed_parameters(pipeline, synthetic_video):
    """The two paths that compute meshes before smoothing (keypoint-aided tracking; placement in a given camera)
    still return meshes made from the smoothed parameters, and placed people keep the given camera in every frame."""
    path, boxes = synthetic_video
    placed = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector="none", camera=f"focal:{FOCAL}")
    frames = list(process_video(placed, path, boxes=boxes, tracker=PersonTracker(keypoint_weight=0.5), frames_per_batch=4))
    assert sum(len(frame.people) for frame in frames) == 2 * FRAMES
    centre = ((WIDTH - 1) / 2, (HEIGHT - 1) / 2)
    for frame in frames:
        for person in frame.people:
            np.testing.assert_allclose(person["focal_length"], [FOCAL, FOCAL], rtol=1e-6)
            np.testing.assert_allclose(person["principal_point"], centre, rtol=1e-6)
            parameters = {name: torch.from_numpy(person[name])[None] for name in PARAMETERS}
            with torch.no_grad():
                body = pipeline.model.body_model(**parameters, transl=torch.from_numpy(person["camera_translation"])[None])
            np.testing.assert_allclose(person["vertices"], body.vertices[0].numpy(), atol=1e-5)
    # The video was rendered with this camera, people 5-6 m away. Placed, the random-weight model's people stand at
    # 3.7-4.2 m (its bodies are not the rendered ones); the box cameras' ~10x longer focal lengths put them ~10x farther.
    depths = [person["camera_translation"][2] for frame in frames for person in frame.people]
    assert all(2.0 < depth < 8.0 for depth in depths), depths


# ------------------------------------------------------------------------------------------------ CLI
def run_cli(capsys, *arguments):
    code = cli_main(["infer", *map(str, arguments)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_video_outputs(synthetic_video, tiny_model_dir, synthetic_body_model_dir, body_model, tmp_path, capsys):
    import smplx

    path, _ = synthetic_video
    output = tmp_path / "out"
    code, out, err = run_cli(capsys, path, output, "--model", tiny_model_dir, "--body-model", synthetic_body_model_dir,
                             "--detector", "none", "--outputs", "params,overlay,keypoints,anim,mesh")  # fmt: skip
    assert code == 0, err
    assert f"{FRAMES} frame(s), 1 track(s)" in out
    summary = json.loads((output / "results.json").read_text())
    assert summary["tracks"] == [{"track_id": 0, "frames": FRAMES, "first_frame": 0, "last_frame": FRAMES - 1}]
    assert not [p for p in output.iterdir() if p.name.startswith(".")]  # staging folder gone
    # Where the time went: every written kind, adding up to the export stage (each rounded to milliseconds).
    split = summary["export_seconds"]
    assert sorted(split) == ["anim", "keypoints", "mesh", "overlay", "params"] and min(split.values()) >= 0
    assert sum(split.values()) == pytest.approx(summary["stage_seconds"]["export"], abs=0.0005 * (len(split) + 1))

    # Overlay: same frame count, frame rate and size; the mesh is drawn.
    info = read_video_info(output / "overlays/walk.mp4")
    assert (info.frame_count, info.fps, info.height, info.width) == (FRAMES, FPS, HEIGHT, WIDTH)
    with VideoReader(output / "overlays/walk.mp4") as overlay, VideoReader(path) as original:
        assert any(np.abs(a.astype(int) - b).mean() > 5 for a, b in zip(overlay, original))

    # Parameters: (T, ...) arrays that smplx evaluates in one batch, reproducing the per-frame meshes.
    with np.load(output / "params/walk_track_0.npz", allow_pickle=False) as saved:
        track = {name: saved[name] for name in saved.files}
    np.testing.assert_array_equal(track["frame_indices"], np.arange(FRAMES))
    np.testing.assert_allclose(track["times"], np.arange(FRAMES) / float(FPS))
    assert track["body_pose"].shape == (FRAMES, 21, 3) and track["left_hand_pose"].shape == (FRAMES, 15, 3)
    assert track["focal_length"].shape == (FRAMES, 2) and str(track["gender"]) == "neutral"
    layer = smplx.SMPLX(str(synthetic_body_model_dir / "smplx"), ext="npz", gender="neutral", use_pca=False, flat_hand_mean=False,
                        num_betas=10, num_expression_coeffs=10, batch_size=FRAMES)  # fmt: skip
    smplx_names = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose", "betas", "expression", "transl")
    with torch.no_grad():
        vertices = layer(**{name: torch.from_numpy(track[name]) for name in smplx_names}).vertices.numpy()
    # One person, one shape (the default): the same betas in every row, and every frame's mesh is the body model on
    # the file's parameters.
    np.testing.assert_array_equal(track["betas"], np.repeat(track["betas"][:1], FRAMES, axis=0))
    meshes = np.stack([trimesh.load(output / f"meshes/walk/{frame:06d}_track_0.ply", process=False).vertices for frame in range(FRAMES)])
    np.testing.assert_allclose(meshes, vertices, atol=1e-5)
    metadata = json.loads((output / "params/walk_track_0.json").read_text())
    assert metadata["frames"] == FRAMES and metadata["smoothed"] is True and metadata["track_shape"] == "mean"
    assert summary["track_shape"] == "mean" and summary["smoothing"]["betas"] is None  # not smoothed: one mean

    # Overlay frames are drawn from those meshes: up to the video codec's loss they match a drawing of the .ply mesh,
    # and far better than the same mesh drawn 3 pixels to the side.
    def difference(image, other):
        return np.abs(image.astype(int) - other).mean()

    with VideoReader(output / "overlays/walk.mp4") as overlay, VideoReader(path) as original:
        for frame, (drawn, background) in enumerate(zip(overlay, original)):
            person = {"vertices": meshes[frame], "focal_length": track["focal_length"][frame],
                      "principal_point": track["principal_point"][frame], "track_id": 0}  # fmt: skip
            expected = render_overlay(background, [person], body_model.faces.numpy())
            shifted = render_overlay(background, [{**person, "principal_point": person["principal_point"] + [3, 0]}], body_model.faces.numpy())
            assert difference(expected, background) > 5  # the mesh covers part of the frame
            assert difference(expected, drawn) < 0.5 * difference(shifted, drawn), frame

    # Keypoints: one file per frame, with the track id, the projected joints of the same bodies.
    keypoint_files = sorted((output / "keypoints/walk").iterdir())
    assert [file.name for file in keypoint_files] == [f"{frame:06d}.json" for frame in range(FRAMES)]
    with torch.no_grad():
        joints = body_model(**{name: torch.from_numpy(track[name]) for name in PARAMETERS}, transl=torch.from_numpy(track["transl"])).joints.numpy()
    for frame, file in enumerate(keypoint_files):
        record = json.loads(file.read_text())
        assert record["frame"] == frame and record["people"][0]["track_id"] == 0
        expected = joints[frame, :, :2] / (joints[frame, :, 2:] + 1e-4) * track["focal_length"][frame] + track["principal_point"][frame]
        np.testing.assert_allclose(record["people"][0]["keypoints_2d"], expected, atol=2e-3)

    # Animated glb: its skeleton reproduces the saved (predicted, smoothed) parameters' joints at every frame.
    track["camera_translation"] = track["transl"]
    assert check_glb_joints(output / "anim/walk.glb", [track], body_model, float(FPS)) < 1e-3


def test_cli_video_per_frame_shapes(synthetic_video, tiny_model_dir, synthetic_body_model_dir, body_model, tmp_path, capsys):
    """--track-shape per-frame keeps the model's (running-mean smoothed) betas of each frame, and the meshes follow
    them; a track shape that does not exist is a usage error (argparse, exit 2)."""
    path, _ = synthetic_video
    common = ("--model", tiny_model_dir, "--body-model", synthetic_body_model_dir, "--detector", "none")
    code, out, err = run_cli(capsys, path, tmp_path / "out", *common, "--outputs", "params,mesh", "--track-shape", "per-frame")
    assert code == 0, err
    assert "body shape per-frame" in out
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["track_shape"] == "per-frame" and summary["smoothing"]["betas"] == "mean"
    with np.load(tmp_path / "out" / "params/walk_track_0.npz") as saved:
        track = {name: saved[name] for name in saved.files}
    assert np.abs(np.diff(track["betas"], axis=0)).max() > 1e-6  # the shape changes from frame to frame
    with torch.no_grad():
        vertices = body_model(**{name: torch.from_numpy(track[name]) for name in PARAMETERS}, transl=torch.from_numpy(track["transl"])).vertices.numpy()
    for frame in range(FRAMES):
        mesh = trimesh.load(tmp_path / "out" / f"meshes/walk/{frame:06d}_track_0.ply", process=False)
        np.testing.assert_allclose(mesh.vertices, vertices[frame], atol=1e-5)

    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, path, tmp_path / "bad", *common, "--track-shape", "median")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'median'" in err and not (tmp_path / "bad").exists()


def test_cli_video_in_a_given_camera(synthetic_video, tiny_model_dir, synthetic_body_model_dir, tmp_path, capsys):
    path, _ = synthetic_video
    common = ("--model", tiny_model_dir, "--body-model", synthetic_body_model_dir, "--detector", "none", "--outputs", "params")
    code, _, err = run_cli(capsys, path, tmp_path / "out", *common, "--camera", f"focal:{FOCAL}")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["camera"] == f"focal:{FOCAL:g}"
    with np.load(tmp_path / "out" / "params/walk_track_0.npz") as saved:
        np.testing.assert_allclose(saved["focal_length"], np.full((FRAMES, 2), FOCAL), rtol=1e-6)
    # Videos carry no EXIF: refused in one line before anything is written.
    code, _, err = run_cli(capsys, path, tmp_path / "exif", *common, "--camera", "exif")
    assert code == 2 and "videos have none" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "exif").exists()


def test_cli_video_errors_are_one_line_and_leave_no_files(broken_videos, synthetic_video, tiny_model_dir, synthetic_body_model_dir, tmp_path, capsys):
    common = ["--model", tiny_model_dir, "--body-model", synthetic_body_model_dir, "--detector", "none"]
    cases = {
        "missing": ([tmp_path / "missing.mp4", *common], "does not exist"),
        "empty": ([broken_videos / "empty.mp4", *common], "is empty (0 bytes)"),
        "not a video": ([broken_videos / "notes.mp4", *common], "is not a video file FFmpeg can read"),
        "corrupt": ([broken_videos / "truncated.mp4", *common], "corrupt or truncated"),
        "garbled frames": ([broken_videos / "garbled.mp4", *common, "--batch-size", "2"], "decoding failed at frame"),
        "no frames": ([broken_videos / "no_frames.avi", *common], "contains no video frames"),
        "too long": ([synthetic_video[0], *common, "--max-frames", "3"], "more than the limit of 3"),
        "unknown output kind": ([synthetic_video[0], *common, "--outputs", "params,movie"], "Unknown output kind(s) 'movie'; choose from params,mesh,glb,overlay,keypoints,anim"),
    }
    for case, (arguments, message) in cases.items():
        output = tmp_path / f"out_{case.replace(' ', '_')}"
        input_path, *options = arguments
        code, _, err = run_cli(capsys, input_path, output, *options)
        assert code == 2, case
        assert err.startswith("smplest-x infer: error:") and err.count("\n") == 1, (case, err)
        assert message in err, (case, err)
        assert not output.exists(), case


def test_video_boxes_file_forms_and_errors(tmp_path):
    from smplest_hf.video.video_file import read_video_boxes_file

    path = tmp_path / "boxes.json"
    path.write_text(json.dumps([[[1, 2, 30, 40]], [], [[5, 6, 7, 8], [0, 0, 9, 9.5]]]))
    assert read_video_boxes_file(path) == {0: [[1, 2, 30, 40]], 1: [], 2: [[5, 6, 7, 8], [0, 0, 9, 9.5]]}
    path.write_text(json.dumps({"3": [[1, 2, 3, 4]], "0": []}))
    assert read_video_boxes_file(path) == {3: [[1, 2, 3, 4]], 0: []}
    for content, message in [
        ("{not json", "is not valid JSON"),
        (json.dumps({"first": []}), "frame number"),
        (json.dumps([[[1, 2, 3]]]), r"Boxes for frame 0 in .* must be a list of \[x, y, w, h\]"),
        (json.dumps({"2": [[1, 2, 3, "4"]]}), r"Boxes for frame 2 in"),
    ]:
        path.write_text(content)
        with pytest.raises(ValueError, match=message):
            read_video_boxes_file(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_video_boxes_file(tmp_path / "absent.json")
