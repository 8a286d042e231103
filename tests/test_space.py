"""The Gradio Space (space/app.py), driven end to end: a real server, `gradio_client`, and headless Chromium.

The model is the bundled demo model when this checkout has it, else the tiny preset with random weights (the
Space's wiring does not depend on what the model predicts); the body model is the synthetic one; no detector
(whole images), so nothing touches the network. Every downloaded file is opened and checked against an
independent computation: the SMPL-X parameters against the pipeline run directly, the meshes against the body
model run on the downloaded parameters, the smoothed video tracks against `smooth_sequence` on the unsmoothed
ones.
"""

import importlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio", reason="the Space needs gradio: pip install -e '.[space]'")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from script_modules import load_script

from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

SPACE_DIR = Path(__file__).resolve().parents[1] / "space"
EXAMPLES = SPACE_DIR / "examples"
IMAGE_EXAMPLE, VIDEO_EXAMPLE = EXAMPLES / "person_standing.jpg", EXAMPLES / "person_moving.mp4"
ARTIFACTS_DIR = Path(os.environ.get("SMPLEST_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "outputs" / "test_artifacts"))
OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0])
SMPLX_SHAPES = {"global_orient": (3,), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (15, 3),
                "jaw_pose": (3,), "leye_pose": (3,), "reye_pose": (3,), "betas": (10,), "expression": (10,),
                "transl": (3,)}  # fmt: skip
"""Per person (image files: a leading axis of 1) or per frame (track files: T)."""
ROTATIONS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")


def load_space_module(name: str):
    """Import space/<name>.py (the Space's modules import each other as top-level modules, as on a Space)."""
    if str(SPACE_DIR) not in sys.path:
        sys.path.insert(0, str(SPACE_DIR))
    if name == "app":  # under a unique name: "app" is too generic for sys.modules
        return load_script(SPACE_DIR / "app.py", "smplest_space_app")
    return importlib.import_module(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(demo, **options):
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **options)
    return Client(demo.local_url, verbose=False)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    if (BUNDLED_MODEL_DIR / "config.json").is_file():
        return BUNDLED_MODEL_DIR
    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_model")
    SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def space_settings(model_dir, synthetic_body_model_dir, tmp_path_factory):
    settings = load_space_module("demo_settings")
    return settings.SpaceSettings(
        model=str(model_dir), body_model_dir=str(synthetic_body_model_dir), detector="none", max_upload_mb=2.0,
        output_dir=str(tmp_path_factory.mktemp("space_outputs")),
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo_pipeline(space_settings):
    return load_space_module("demo_reconstruct").load_demo_pipeline(space_settings)


@pytest.fixture(scope="module")
def space(demo_pipeline):
    """The app as `python space/app.py` serves it (with the launch options that enforce its limits)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = load_space_module("app")
    demo = app.build_demo(demo_pipeline)
    client = launch(demo, **app.launch_options(demo))
    yield demo, client
    demo.close()


@pytest.fixture(scope="module")
def body_model(synthetic_body_model_dir):
    return SmplxBodyModel.from_directory(synthetic_body_model_dir)


def body_model_vertices(body_model, parameters: dict) -> np.ndarray:
    """(N, 10475, 3) vertices of `.npz`-layout parameters (per-joint or flat poses, `transl`), computed here."""
    shapes = {"global_orient": (-1, 3), "body_pose": (-1, 21, 3), "left_hand_pose": (-1, 15, 3),
              "right_hand_pose": (-1, 15, 3), "jaw_pose": (-1, 3), "betas": (-1, 10), "expression": (-1, 10)}  # fmt: skip
    inputs = {name: torch.from_numpy(np.asarray(parameters[name], np.float32).reshape(shape)) for name, shape in shapes.items()}
    with torch.no_grad():
        output = body_model(**inputs, transl=torch.from_numpy(np.asarray(parameters["transl"], np.float32).reshape(-1, 3)))
    return output.vertices.numpy()


def glb_positions(path) -> list[np.ndarray]:
    """Vertex positions of every mesh of a .glb, read with pygltflib, back in the OpenCV camera frame."""
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    blob = gltf.binary_blob()
    meshes = []
    for mesh in gltf.meshes:
        accessor = gltf.accessors[mesh.primitives[0].attributes.POSITION]
        view = gltf.bufferViews[accessor.bufferView]
        start = view.byteOffset + (accessor.byteOffset or 0)
        positions = np.frombuffer(blob, dtype="<f4", count=accessor.count * 3, offset=start).reshape(-1, 3)
        meshes.append(positions.astype(np.float64) @ OPENCV_TO_GLTF)  # the axis change is its own inverse
    return meshes


def obj_vertices(path) -> np.ndarray:
    lines = Path(path).read_text().splitlines()
    return np.array([[float(v) for v in line.split()[1:]] for line in lines if line.startswith("v ")])


# ------------------------------------------------------------------------------------------------ image
def test_image_round_trip_files_are_valid_and_match(space, demo_pipeline, body_model):
    import trimesh

    _, client = space
    overlay, scene, parameters, meshes, archive, summary = client.predict(
        handle_file(str(IMAGE_EXAMPLE)), 0.5, "Multiple people", api_name="/reconstruct_image"
    )
    names = {Path(path).name: path for path in [*parameters, *meshes]}
    assert set(names) == {"image_0.npz", "image_0.json", "image.json", "image_0.obj", "image_0.ply", "image.glb"}
    assert "1 person" in summary and IMAGE_EXAMPLE.name in summary

    # Overlay: a PNG of the input's size, equal to the meshes of the downloaded parameters drawn over the input.
    with Image.open(IMAGE_EXAMPLE) as original:
        input_pixels = np.asarray(original.convert("RGB"))
    with Image.open(overlay) as image:
        assert image.format == "PNG" and image.size == (input_pixels.shape[1], input_pixels.shape[0])
        overlay_pixels = np.asarray(image.convert("RGB"))

    # Parameters: SMPL-X layout, equal to the pipeline run directly on the same file.
    with np.load(names["image_0.npz"], allow_pickle=False) as npz:
        downloaded = {name: npz[name] for name in npz.files}
    assert str(downloaded.pop("gender")) == "neutral"
    assert {name: value.shape for name, value in downloaded.items()} == {name: (1, *shape) for name, shape in SMPLX_SHAPES.items()}
    direct = demo_pipeline.pipeline(str(IMAGE_EXAMPLE))[0]
    for name in ROTATIONS + ("betas", "expression"):
        np.testing.assert_allclose(downloaded[name].reshape(-1), direct[name].reshape(-1), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(downloaded["transl"][0], direct["camera_translation"], atol=1e-5)
    camera = json.loads(Path(names["image_0.json"]).read_text())
    assert camera["image_size"] == list(input_pixels.shape[:2])
    np.testing.assert_allclose(camera["focal_length"], direct["focal_length"], rtol=1e-6)
    keypoints = json.loads(Path(names["image.json"]).read_text())
    assert np.asarray(keypoints["people"][0]["keypoints_2d"]).shape == (137, 2)

    # Meshes: the body model run here on the downloaded parameters gives the .obj, .ply and .glb vertices.
    expected = body_model_vertices(body_model, downloaded)[0]
    np.testing.assert_allclose(obj_vertices(names["image_0.obj"]), expected, atol=2e-6)
    ply = trimesh.load(names["image_0.ply"], process=False)
    assert ply.faces.shape == (20908, 3)
    np.testing.assert_allclose(ply.vertices, expected, atol=1e-5)
    assert Path(scene).read_bytes() == Path(names["image.glb"]).read_bytes()
    (positions,) = glb_positions(scene)
    np.testing.assert_allclose(positions, expected, atol=1e-5)
    loaded = trimesh.load(scene, force="scene")
    assert len(loaded.geometry) == 1 and next(iter(loaded.geometry.values())).vertices.shape == (10475, 3)

    from smplest_hf.export.results import render_overlay

    focal, centre = np.asarray(camera["focal_length"]), np.asarray(camera["principal_point"])
    redrawn = render_overlay(input_pixels, [{"vertices": expected, "focal_length": focal, "principal_point": centre}],
                             body_model.faces.numpy())  # fmt: skip
    assert np.mean(np.abs(redrawn.astype(int) - overlay_pixels.astype(int)) > 2) < 0.002  # same picture

    with zipfile.ZipFile(archive) as bundle:
        assert bundle.testzip() is None
        assert {Path(name).name for name in bundle.namelist()} == set(names) | {"image.png"}


def test_image_camera_choices_reach_the_pipeline(space, demo_pipeline, tmp_path):
    """The image tab's camera choice: a field of view places the person in that camera; EXIF needs the tag."""
    from smplest_hf.inference.camera_placement import CameraSpec

    _, client = space
    *_, parameters, _, _, summary = client.predict(
        handle_file(str(IMAGE_EXAMPLE)), 0.5, "Multiple people", "Field of view", 50, api_name="/reconstruct_image"
    )
    camera = json.loads(next(Path(path) for path in parameters if Path(path).name == "image_0.json").read_text())
    fx, fy, cx, cy = CameraSpec.parse("fov:50").intrinsics(camera["image_size"])
    np.testing.assert_allclose(camera["focal_length"] + camera["principal_point"], [fx, fy, cx, cy], rtol=1e-5)
    assert "Everyone is placed in one camera (fov:50" in summary

    reconstruct = load_space_module("demo_reconstruct")
    with pytest.raises(reconstruct.DemoInputError, match="has no EXIF focal length"):
        reconstruct.reconstruct_image(demo_pipeline, IMAGE_EXAMPLE, tmp_path / "exif", camera="exif")
    tagged = tmp_path / "tagged.jpg"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28  # FocalLengthIn35mmFilm
    with Image.open(IMAGE_EXAMPLE) as original:
        original.save(tagged, exif=exif)
    result = reconstruct.reconstruct_image(demo_pipeline, tagged, tmp_path / "tagged", camera="exif")
    camera = json.loads(next(path for path in result.parameter_files if path.name == "image_0.json").read_text())
    expected = CameraSpec.parse("exif").intrinsics(camera["image_size"], focal_length_35mm=28)
    np.testing.assert_allclose(camera["focal_length"], expected[:2], rtol=1e-5)
    # The next request without a camera choice is back in the per-person crop cameras.
    plain = reconstruct.reconstruct_image(demo_pipeline, tagged, tmp_path / "plain")
    camera = json.loads(next(path for path in plain.parameter_files if path.name == "image_0.json").read_text())
    assert camera["focal_length"][0] > 3 * expected[0]


def test_header_names_the_model_not_its_folder(space_settings, tmp_path):
    """The page's first note names the model (a Space's local path is only the container's), never a full path."""
    settings_module = load_space_module("demo_settings")
    reconstruct = load_space_module("demo_reconstruct")
    demo = reconstruct.load_demo_pipeline(replace(space_settings, detector="none"))
    assert demo.notes[0].startswith("Model: the bundled demo model (smplest_hf/demo_model) on cpu")
    assert str(BUNDLED_MODEL_DIR) not in " ".join(demo.notes)
    saved = tmp_path / "checkpoints" / "smplest-x-tiny"
    shutil.copytree(BUNDLED_MODEL_DIR, saved)
    assert settings_module.model_display_name(saved) == "smplest-x-tiny"
    assert settings_module.model_display_name("org/smplest-x-h") == "org/smplest-x-h"


def test_detector_threshold_and_people_mode(space_settings, tmp_path):
    """With a (tiny, random) transformers detector: the threshold and single/multi-person choices reach it."""
    from test_pipeline import write_tiny_detector

    reconstruct = load_space_module("demo_reconstruct")
    settings = replace(space_settings, detector=str(write_tiny_detector(tmp_path / "detector")), max_people=3)
    demo = reconstruct.load_demo_pipeline(settings)
    assert demo.has_detector and any("Person detector" in note for note in demo.notes)
    many = reconstruct.reconstruct_image(demo, IMAGE_EXAMPLE, tmp_path / "many", threshold=0.05, multi_person=True)
    one = reconstruct.reconstruct_image(demo, IMAGE_EXAMPLE, tmp_path / "one", threshold=0.05, multi_person=False)
    assert many.people == 3 and one.people == 1  # random boxes, all scoring above 0.05: capped at max_people / 1
    with np.load(one.parameter_files[0]) as single, np.load(many.parameter_files[0]) as first:
        np.testing.assert_allclose(single["body_pose"], first["body_pose"], atol=1e-5)  # the best-scoring box both times
    nobody = reconstruct.reconstruct_image(demo, IMAGE_EXAMPLE, tmp_path / "none", threshold=0.95, multi_person=True)
    assert nobody.people == 0 and nobody.scene_glb is None and "Nobody found" in nobody.summary
    with Image.open(nobody.overlay) as overlay, Image.open(IMAGE_EXAMPLE) as original:
        np.testing.assert_array_equal(np.asarray(overlay), np.asarray(original.convert("RGB")))


# ------------------------------------------------------------------------------------------------ video
def read_track(files) -> tuple[dict, dict]:
    by_name = {Path(path).name: path for path in files}
    with np.load(by_name["person_moving_track_0.npz"], allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return arrays, json.loads(Path(by_name["person_moving_track_0.json"]).read_text())


def test_video_round_trip_and_smoothing(space):
    import av
    import pygltflib
    import trimesh

    _, client = space
    with av.open(str(VIDEO_EXAMPLE)) as container:
        stream = container.streams.video[0]
        frames, size, fps = stream.frames, (stream.codec_context.height, stream.codec_context.width), float(stream.average_rate)
    results = {
        smoothing: client.predict(handle_file(str(VIDEO_EXAMPLE)), 0.5, "Multiple people", smoothing, api_name="/reconstruct_video")
        for smoothing in (False, True)
    }
    overlay, scene, files, archive, summary = results[True]
    assert f"1 track** over {frames} frames" in summary and "smoothing on" in summary
    assert {Path(path).name for path in files} == {"person_moving_track_0.npz", "person_moving_track_0.json", "person_moving.glb"}

    # Overlay: browser-playable H.264 MP4 with every frame, at the input's size.
    with av.open(overlay) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == frames and decoded[0].shape[:2] == size

    # Track files: every SMPL-X parameter stacked over the frames, with frame indices, times and rate.
    smoothed, record = read_track(files)
    raw, _ = read_track(results[False][2])
    for name, shape in SMPLX_SHAPES.items():
        assert smoothed[name].shape == raw[name].shape == (frames, *shape), name
    np.testing.assert_array_equal(smoothed["frame_indices"], np.arange(frames))
    np.testing.assert_allclose(smoothed["times"], np.arange(frames) / fps)
    assert float(smoothed["fps"]) == pytest.approx(fps) and record["frames"] == frames and record["smoothed"] is True

    # Smoothing: the downloaded smoothed track equals the library's One-Euro smoother run here over the raw one.
    from smplest_hf.video.smoothing import smooth_sequence

    sequence = {name: raw[name] for name in ROTATIONS + ("betas", "expression")}  # the pipeline's layout, per joint
    expected = smooth_sequence({**sequence, "camera_translation": raw["transl"]}, np.arange(frames) / fps)
    for name in ROTATIONS + ("betas", "expression"):
        np.testing.assert_allclose(smoothed[name], expected[name], atol=2e-5, err_msg=name)
    np.testing.assert_allclose(smoothed["transl"], expected["camera_translation"], atol=1e-6)
    jitter = {key: np.abs(np.diff(track["body_pose"], n=2, axis=0)).mean() for key, track in (("raw", raw), ("smoothed", smoothed))}
    assert jitter["smoothed"] < jitter["raw"]

    # 3D view: the animated glTF, one skinned skeleton keyed at every frame's time.
    assert Path(scene).read_bytes() == Path(next(path for path in files if path.endswith(".glb"))).read_bytes()
    gltf = pygltflib.GLTF2().load(scene)
    assert len(gltf.skins) == 1 and len(gltf.animations) == 1
    sampler = gltf.animations[0].samplers[0]
    times = gltf.accessors[sampler.input]
    assert times.count == frames and times.min[0] == pytest.approx(0.0) and times.max[0] == pytest.approx((frames - 1) / fps)
    assert len(trimesh.load(scene, force="scene").geometry) == 1
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.testzip() is None
        names = set(bundle.namelist())
    assert {"overlays/person_moving.mp4", "anim/person_moving.glb", "params/person_moving_track_0.npz", "results.json"} <= names
    assert sum(name.startswith("keypoints/person_moving/") for name in names) == frames


# ------------------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def strict_space(demo_pipeline):
    """The same pipeline with tiny limits and no server-side upload cap, so the app's own checks answer."""
    app = load_space_module("app")
    limits = replace(demo_pipeline.settings, max_upload_mb=0.1, max_megapixels=0.1, max_video_seconds=1.0)
    demo = app.build_demo(replace(demo_pipeline, settings=limits))
    client = launch(demo)
    yield client
    demo.close()


def expect_message(client, api_name: str, path, *arguments) -> str:
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(path)), 0.5, "Multiple people", *arguments, api_name=api_name)
    message = str(caught.value)
    assert "Traceback" not in message and "File \"" not in message
    return message


def test_bad_uploads_give_clear_messages(strict_space, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    assert "'notes.jpg' is not an image this demo can read" in expect_message(strict_space, "/reconstruct_image", text)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert "is empty (0 bytes)" in expect_message(strict_space, "/reconstruct_image", empty)
    small = io.BytesIO()  # 0.03 MP, so only its truncated pixel data is wrong
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (150, 200, 3), dtype=np.uint8)).save(small, format="JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(small.getvalue()[: len(small.getvalue()) // 2])
    assert "corrupt or truncated" in expect_message(strict_space, "/reconstruct_image", truncated)
    noise = tmp_path / "noise.png"  # 0.07 MP (allowed) but about 190 KB (over the 0.1 MB limit)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(noise)
    assert "this demo accepts up to 0.1 MB" in expect_message(strict_space, "/reconstruct_image", noise)
    assert "(0.2 MP); this demo accepts up to 0.1 MP. Downscale it first." in expect_message(
        strict_space, "/reconstruct_image", IMAGE_EXAMPLE
    )
    assert "'notes.jpg' is not a video this demo can read" in expect_message(strict_space, "/reconstruct_video", text, True)
    assert "The video is 2.0 s long; this demo processes videos up to 1 s" in expect_message(
        strict_space, "/reconstruct_video", VIDEO_EXAMPLE, True
    )


def test_upload_size_limit_is_enforced_by_the_server_options(space, tmp_path):
    _, client = space
    big = tmp_path / "big.png"
    big.write_bytes(IMAGE_EXAMPLE.read_bytes() + bytes(3 * 2**20))  # 3 MB, over the 2 MB limit
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), 0.5, "Multiple people", api_name="/reconstruct_image")


# ------------------------------------------------------------------------------------------------ settings
def test_settings_from_environment_and_defaults(monkeypatch, tmp_path, synthetic_body_model_dir):
    settings = load_space_module("demo_settings")
    loaded = settings.SpaceSettings.from_env(
        {"SMPLEST_X_MODEL": "org/model", "SMPLX_MODEL_DIR": "/smplx", "SMPLEST_SPACE_MAX_VIDEO_SECONDS": "4.5",
         "SMPLEST_SPACE_MAX_PEOPLE": "3", "SMPLEST_X_DETECTOR": ""},
        max_upload_mb=5,
    )  # fmt: skip
    assert (loaded.model, loaded.body_model_dir, loaded.max_video_seconds, loaded.max_people) == ("org/model", "/smplx", 4.5, 3)
    assert loaded.detector == "auto" and loaded.max_upload_bytes == 5 * 2**20
    assert settings.SpaceSettings.from_env({"SPACES_ZERO_GPU": "true"}).device == "cuda"  # ZeroGPU: cuda up front
    assert settings.SpaceSettings.from_env({"SPACES_ZERO_GPU": "true", "SMPLEST_X_DEVICE": "cpu"}).device == "cpu"
    with pytest.raises(ValueError, match="SMPLEST_SPACE_MAX_PEOPLE='many' is not a valid int"):
        settings.SpaceSettings.from_env({"SMPLEST_SPACE_MAX_PEOPLE": "many"})
    with pytest.raises(ValueError, match="max_video_seconds must be positive"):
        settings.SpaceSettings(max_video_seconds=0)

    # Default model: the bundled demo model when this installation has it, else a message naming the variable.
    if (BUNDLED_MODEL_DIR / "config.json").is_file():
        assert Path(settings.model_location(settings.SpaceSettings())) == BUNDLED_MODEL_DIR
    else:
        with pytest.raises(ValueError, match="set SMPLEST_X_MODEL"):
            settings.model_location(settings.SpaceSettings())

    # Default body model: the synthetic one in the cache, reused (not rewritten) when already there.
    cache = tmp_path / "cache"
    for folder in ("smplx", "smpl"):
        shutil.copytree(Path(synthetic_body_model_dir) / folder, cache / "synthetic_body_model" / folder)
    monkeypatch.setenv("SMPLEST_HF_CACHE", str(cache))
    neutral = cache / "synthetic_body_model" / "smplx" / "SMPLX_NEUTRAL.npz"
    before = neutral.stat().st_mtime_ns
    assert settings.synthetic_body_model_dir() == cache / "synthetic_body_model"
    assert neutral.stat().st_mtime_ns == before


def test_build_demo_rejects_unknown_pipeline_objects(space_settings):
    app = load_space_module("app")
    with pytest.raises(TypeError, match="pipeline must be None, a SmplestXPipeline"):
        app.build_demo("not a pipeline", space_settings)


def test_space_card_and_requirements():
    import gradio
    from huggingface_hub.repocard import metadata_load

    card = metadata_load(SPACE_DIR / "README.md")
    assert card["sdk"] == "gradio" and card["sdk_version"] == gradio.__version__
    assert str(card["python_version"]).startswith("3.") and int(str(card["python_version"]).split(".")[1]) >= 10
    assert (SPACE_DIR / card["app_file"]).is_file() and card["models"]
    requirements = [line for line in (SPACE_DIR / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert len(requirements) == 1 and requirements[0].startswith("smplest-hf[space] @ git+https://")


def test_examples_are_small_and_readable():
    from smplest_hf.video.video_io import read_video_info

    images = sorted(EXAMPLES.glob("*.jpg"))
    assert len(images) >= 2
    for path in images:
        assert path.stat().st_size < 200 * 1024, path
        with Image.open(path) as image:
            image.verify()
    assert VIDEO_EXAMPLE.stat().st_size < 1024 * 1024
    info = read_video_info(VIDEO_EXAMPLE)
    assert info.codec == "h264" and info.frame_count <= 30


# ------------------------------------------------------------------------------------------------ browser
class HeadlessChromium:
    """Chromium driven over the DevTools protocol on a pipe (no websocket or Python browser package needed).

    `--remote-debugging-pipe` makes Chromium read NUL-terminated JSON commands from file descriptor 3 and write
    replies and events to 4; a shell maps those onto our stdin/stdout pipes.
    """

    def __init__(self, executable: str, profile_dir: Path, width: int = 1280, height: int = 1900):
        arguments = [
            executable, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "--no-sandbox",
            "--no-first-run", "--disable-dev-shm-usage", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            f"--window-size={width},{height}", "about:blank",
        ]  # fmt: skip
        self.log = open(profile_dir / "chromium.log", "wb")  # noqa: SIM115 (open while Chromium runs; closed in close())
        self.process = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
        )  # fmt: skip
        self.last_id, self.pending, self.session = 0, b"", None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.enable")

    def call(self, method: str, **params) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        self.process.stdin.flush()
        while True:  # skip events until our reply
            reply = self._receive()
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})

    def _receive(self) -> dict:
        while b"\0" not in self.pending:
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (see chromium.log in the profile folder).")
            self.pending += chunk
        message, self.pending = self.pending.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"Timed out after {timeout} s waiting for {expression!r}.")

    def click(self, selector: str, timeout: float = 60.0) -> None:
        """Click the element once it exists (the page renders after load: never click what may not be there yet)."""
        self.wait_for(f"!!document.querySelector({selector!r})", timeout)
        self.evaluate(f"document.querySelector({selector!r}).click()")

    def screenshot(self, path: Path) -> Path:
        import base64

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=10)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.log.close()


def find_chromium() -> str:
    """Debian's Chromium on PATH. CI installs it as an explicit step (.ci/run) before the suite; elsewhere the test
    skips with the command that installs it, and in CI (CI=true) a missing browser is a failure, not a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Chromium is not installed (apt-get install --no-install-recommends chromium; .ci/run does this)."
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{reason} CI must run the browser test.")
    pytest.skip(reason)


MODEL3D_BACKGROUND = np.array([0.93, 0.94, 0.96]) * 255  # the Model3D clear colour in app.py


def wait_until_drawn(browser: HeadlessChromium, selector: str, timeout: float = 45.0) -> float:
    """Poll screenshots of the element until at least 1 % of it differs from the 3D view's background (babylon.js
    has loaded the .glb and drawn it; an animated, skinned .glb takes several seconds on SwiftShader)."""
    import base64

    deadline = time.monotonic() + timeout
    while True:
        x, y, width, height = browser.evaluate(
            f"(({{x, y, width, height}}) => [x, y, width, height])(document.querySelector({selector!r}).getBoundingClientRect())"
        )
        shot = browser.call("Page.captureScreenshot", format="png", clip={"x": x, "y": y, "width": width, "height": height, "scale": 1})
        with Image.open(io.BytesIO(base64.b64decode(shot["data"]))) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)
        drawn = float((np.abs(pixels - MODEL3D_BACKGROUND).max(axis=2) > 30).mean())
        if drawn > 0.01 or time.monotonic() > deadline:
            return drawn
        time.sleep(0.5)


@pytest.mark.slow
def test_browser_runs_the_examples(space, tmp_path):
    """Load the page in headless Chromium, run the first image example and the video example, and save a
    screenshot of each tab (overlay + 3D view, WebGL through SwiftShader) to the artifacts folder."""
    chromium = find_chromium()
    demo, _ = space
    browser = HeadlessChromium(chromium, tmp_path)
    try:
        browser.call("Page.navigate", url=demo.local_url)
        browser.wait_for("!!document.querySelector('#image-run')")
        browser.click('#image-examples [data-testid="dataset-cell-0-0"]')
        browser.wait_for("!!document.querySelector('#image-input img')")
        browser.click("#image-run")
        assert browser.wait_for("document.querySelector('#image-overlay img')?.src").endswith("image.png")
        assert browser.wait_for("document.querySelector('#image-overlay img')?.naturalWidth") == 384
        assert "1 person" in browser.wait_for("document.querySelector('#image-summary')?.innerText")
        assert wait_until_drawn(browser, "#image-3d canvas") > 0.01, "the 3D view shows no mesh"
        browser.screenshot(ARTIFACTS_DIR / "space_image_example.png")

        video_tab = "[...document.querySelectorAll('button[role=tab]')].find(tab => tab.innerText.includes('Video'))"
        browser.wait_for(f"!!{video_tab}")
        browser.evaluate(f"{video_tab}.click()")
        browser.click("#video-examples button.gallery-item")
        browser.wait_for("!!document.querySelector('#video-input video')")
        browser.click("#video-run")
        assert browser.wait_for("document.querySelector('#video-overlay video')?.src").endswith("person_moving.mp4")
        assert "1 track" in browser.wait_for("document.querySelector('#video-summary')?.innerText")
        assert wait_until_drawn(browser, "#video-3d canvas") > 0.01, "the animated 3D view shows no mesh"
        browser.evaluate("document.querySelector('#video-overlay video').currentTime = 1.0")  # a frame mid-motion
        time.sleep(0.5)
        browser.screenshot(ARTIFACTS_DIR / "space_video_example.png")
    finally:
        browser.close()
