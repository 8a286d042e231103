"""A hostile-input battery for the `smplest-x` command line (issue 14): broken, hostile or unlucky inputs.

For every case: the exit status of `smplest_hf.exit_codes`, exactly one line on stderr naming the problem (no
traceback), and every folder of the case byte-identical before and after (names, sizes, modes, SHA-256), the
output folder included (absent stays absent). Valid but unusual inputs (16-bit, grayscale, RGBA, CMYK,
EXIF-rotated, ...) must succeed instead, and `--on-error skip` runs finish with status 3 and list what they left
out in results.json. The runs are in-process (`cli.main`, stderr captured at the file-descriptor level, so
warnings printed by C libraries count too); signals need a real process and use subprocesses.

Everything is tiny: the bundled demo model, the synthetic body model, `--detector none`, 32x24-pixel images.
"""

import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smplest_hf import exit_codes
from smplest_hf.cli import main as cli_main
from smplest_hf.export.atomic import PAUSE_BEFORE_COMMIT_VARIABLE, PAUSE_DURING_COMMIT_VARIABLE, STAGING_PREFIX
from smplest_hf.inference.pipeline import default_model_location

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = default_model_location()


# ------------------------------------------------------------------------------------------------ snapshots
def snapshot(*folders) -> dict:
    """{path: (kind, size, mode, sha256)} of every entry under `folders` (and the folders themselves); special
    files are recorded but never opened. A missing folder is recorded as missing."""
    entries = {}
    for folder in map(Path, folders):
        if not os.path.lexists(folder):
            entries[str(folder)] = "missing"
            continue
        for path in [folder, *sorted(folder.rglob("*"))]:
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
            entries[str(path)] = (stat.S_IFMT(info.st_mode), info.st_size if stat.S_ISREG(info.st_mode) else 0, stat.S_IMODE(info.st_mode), digest)
    return entries


def leftovers(folder: Path) -> list[str]:
    """Hidden staging folders or temporary files of smplest_hf anywhere under `folder`."""
    return sorted(
        str(path) for path in folder.rglob("*")
        if path.name.startswith(STAGING_PREFIX) or (path.name.startswith(".") and path.name.endswith(".tmp"))
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ the inputs
def _rgb(height=24, width=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png_with_bad_crc(path: Path, chunk: bytes) -> None:
    Image.fromarray(_rgb()).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(chunk)
    length = int.from_bytes(data[start - 4 : start], "big")
    data[start + 4 + length] ^= 0xFF  # first byte of the chunk's CRC
    path.write_bytes(bytes(data))


def _jpeg_with_exif(path: Path, orientation: int | None = None, focal_35mm: int | None = None, size=(24, 32)) -> None:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if focal_35mm is not None:
        exif.get_ifd(0x8769)[0xA405] = focal_35mm
    Image.fromarray(_rgb(*size)).save(path, exif=exif.tobytes(), quality=95)


def _video(path: Path, frames: int = 6, faststart: bool = False) -> None:
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for index in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(_rgb(seed=index), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass
class World:
    """Every input of the battery, under `root` (snapshotted around each case)."""

    root: Path
    body_model: Path
    paths: dict = field(default_factory=dict)

    def __getitem__(self, name) -> str:
        return str(self.paths[name])


@pytest.fixture(scope="module")
def world(tmp_path_factory, synthetic_body_model_dir) -> World:
    import torch
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("hostile")
    w = World(root, Path(synthetic_body_model_dir))
    p = w.paths

    def put(name, relative):
        p[name] = root / relative
        p[name].parent.mkdir(parents=True, exist_ok=True)
        return p[name]

    # images, valid and unusual
    Image.fromarray(_rgb()).save(put("ok", "images/ok.png"))
    Image.fromarray(np.random.default_rng(1).integers(0, 65536, (24, 32), dtype=np.uint16)).save(put("sixteen", "unusual/sixteen.png"))
    Image.fromarray(_rgb()[..., 0], mode="L").save(put("gray", "unusual/gray.png"))
    Image.fromarray(np.dstack([_rgb(), np.full((24, 32), 128, np.uint8)]), mode="RGBA").save(put("rgba", "unusual/rgba.png"))
    Image.fromarray(_rgb()).convert("CMYK").save(put("cmyk", "unusual/cmyk.jpg"))
    Image.fromarray(_rgb()).convert("P").save(put("palette", "unusual/palette.png"), transparency=0)
    _jpeg_with_exif(put("rotated", "unusual/rotated.jpg"), orientation=6)
    _jpeg_with_exif(put("exif", "photos/with_exif.jpg"), focal_35mm=26)
    Image.fromarray(_rgb()).save(put("two", "photos/without_exif.jpg"))
    # images, broken
    put("empty", "broken/empty.png").write_bytes(b"")
    put("text", "broken/notes.png").write_text("not an image")
    put("truncated", "broken/truncated.png").write_bytes(p["ok"].read_bytes()[:200])
    _png_with_bad_crc(put("crc_idat", "broken/crc_idat.png"), b"IDAT")
    _png_with_bad_crc(put("crc_ihdr", "broken/crc_ihdr.png"), b"IHDR")
    Image.new("RGB", (1, 1)).save(put("one_pixel", "broken/one_pixel.png"))
    os.mkfifo(put("fifo", "special/fifo.png"))
    put("no_images", "no_images/readme.txt").write_text("nothing here")
    p["no_images"] = p["no_images"].parent
    # a folder with one good and one bad image
    Image.fromarray(_rgb()).save(put("mixed_good", "mixed/a_good.png"))
    put("mixed_bad", "mixed/b_bad.png").write_bytes(p["ok"].read_bytes()[:200])
    p["mixed"] = root / "mixed"
    p["broken"] = root / "broken"
    p["photos"] = root / "photos"
    # boxes
    put("boxes_ok", "boxes/ok.json").write_text(json.dumps([[2, 2, 20, 20]]))
    put("boxes_not_json", "boxes/not_json.json").write_text("[[1, 2,")
    put("boxes_bad_shape", "boxes/bad_shape.json").write_text(json.dumps([[1, 2, 3]]))
    put("boxes_photos_partial", "boxes/photos_partial.json").write_text(json.dumps({"with_exif.jpg": [[2, 2, 20, 20]]}))
    put("boxes_list_for_folder", "boxes/list.json").write_text(json.dumps([[2, 2, 20, 20]]))
    os.mkfifo(put("boxes_fifo", "boxes/fifo.json"))
    # model folders
    for name, change in {
        "model_truncated": "truncate", "model_wrong_shapes": "shapes", "model_bad_config": "config",
        "model_no_weights": "no_weights", "model_no_config": "no_config", "model_config_not_json": "config_json",
        "model_other_kind": "kind",
    }.items():  # fmt: skip
        folder = root / "models" / name
        shutil.copytree(DEMO_MODEL, folder)
        p[name] = folder
        weights, config_file = folder / "model.safetensors", folder / "config.json"
        config = json.loads(config_file.read_text())
        if change == "truncate":
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        elif change == "shapes":
            tensors = load_file(weights)
            name0 = next(key for key, value in tensors.items() if value.ndim == 2)
            tensors[name0] = torch.zeros(tensors[name0].shape[0] + 3, tensors[name0].shape[1])
            save_file(tensors, weights, metadata={"format": "pt"})
        elif change == "config":
            config["num_hidden_layers"] = "many"
            config_file.write_text(json.dumps(config))
        elif change == "no_weights":
            weights.unlink()
        elif change == "no_config":
            config_file.unlink()
        elif change == "config_json":
            config_file.write_text("{not json")
        elif change == "kind":
            config_file.write_text(json.dumps({"model_type": "bert"}))
    # body-model folders
    for name in ("body_truncated", "body_wrong_content", "body_no_smplx"):
        folder = root / "body_models" / name
        shutil.copytree(w.body_model, folder)
        p[name] = folder
    neutral = p["body_truncated"] / "smplx" / "SMPLX_NEUTRAL.npz"
    neutral.write_bytes(neutral.read_bytes()[:1000])
    np.savez(p["body_wrong_content"] / "smplx" / "SMPLX_NEUTRAL.npz", v_template=np.zeros((3, 3)))
    shutil.rmtree(p["body_no_smplx"] / "smplx")
    # videos
    _video(put("video_ok", "videos/ok.mp4"))
    _video(put("video_full", "videos/full.mp4"), frames=30, faststart=True)
    data = p["video_full"].read_bytes()
    put("video_short", "videos/short.mp4").write_bytes(data[: len(data) // 2])  # states 30 frames, fewer decode
    p["video_full"].unlink()
    put("video_empty", "videos/empty.mp4").write_bytes(b"")
    put("video_text", "videos/text.mp4").write_text("not a video")
    # convert-original
    put("ckpt_garbage", "checkpoints/garbage.pth.tar").write_bytes(b"\x80\x04garbage")
    buffer = io.BytesIO()
    torch.save({"network": {"nothing": torch.zeros(1)}}, buffer)
    put("ckpt_wrong_keys", "checkpoints/wrong_keys.pth.tar").write_bytes(buffer.getvalue())
    # output-folder situations
    put("out_file", "outputs/a_file").write_text("mine")
    put("out_nonempty", "outputs/nonempty/keep.txt").write_text("mine")
    p["out_nonempty"] = p["out_nonempty"].parent
    put("out_params_file", "outputs/params_file/params").write_text("a file named like an output folder")
    p["out_params_file"] = p["out_params_file"].parent
    return w


# ------------------------------------------------------------------------------------------------ the cases
BAD, SKIPPED, OK = exit_codes.BAD_INPUT, exit_codes.SOME_SKIPPED, exit_codes.OK


@dataclass
class Case:
    """`args(world, output)` -> the command line after `smplest-x`; what it must end with."""

    name: str
    args: object
    status: int
    message: str = ""  # in the one stderr line (errors and skip warnings)
    check: object = None  # check(world, output) for runs that succeed or skip


def infer(input_name, *options, body=True):
    def build(w, out):
        extra = ["--body-model", str(w.body_model)] if body else []
        return ["infer", w[input_name] if input_name in w.paths else input_name, str(out), "--model", str(DEMO_MODEL),
                "--detector", "none", "--device", "cpu", "--outputs", "params", *extra,
                *[w[value[1:]] if value.startswith("@") else value for value in options]]  # fmt: skip

    return build


def results(out) -> dict:
    return json.loads((Path(out) / "results.json").read_text())


def _one_image(size):
    def check(w, out):
        summary = results(out)
        assert summary["images"] == 1 and summary["skipped"] == [] and summary["results"][0]["image_size"] == size
        assert len(list((Path(out) / "params").glob("*.npz"))) == 1

    return check


def _skipped(*names):
    def check(w, out):
        summary = results(out)
        assert [Path(entry["input"]).name for entry in summary["skipped"]] == list(names)
        assert all(entry["reason"] and "\n" not in entry["reason"] for entry in summary["skipped"])
        assert summary["images"] >= 1

    return check


def _camera(spec, fallback_used):
    def check(w, out):
        summary = results(out)
        assert summary["camera"] == spec and summary["images"] == 2 and summary["skipped"] == []
        no_exif, exif = (json.loads((Path(out) / "params" / f"{name}_0.json").read_text()) for name in ("without_exif", "with_exif"))
        # fov:60 across the 32-pixel side: 16 / tan(30 deg); EXIF 26 mm along the 40-pixel diagonal
        assert np.allclose(no_exif["focal_length"], 16 / np.tan(np.radians(30)))
        assert np.allclose(exif["focal_length"], 26 / np.hypot(36, 24) * np.hypot(32, 24))

    return check


def _video_check(stated, complete):
    def check(w, out):
        summary = results(out)
        assert summary["frames_stated"] == stated and summary["frames"] + summary["missing_frames"] == stated
        assert (summary["missing_frames"] == 0) == complete and summary["frames"] >= 1

    return check


def _replaced(w, out):
    assert sorted(path.name for path in Path(out).iterdir()) == ["params", "results.json"]  # keep.txt is gone


CASES = [
    # infer: image files
    Case("missing input", infer("/nonexistent/photo.png"), BAD, "does not exist"),
    Case("fifo as input", infer("fifo"), BAD, "not a regular file"),
    Case("empty image", infer("empty"), BAD, "empty (0 bytes)"),
    Case("text named png", infer("text"), BAD, "not an image file"),
    Case("truncated png", infer("truncated"), BAD, "corrupt or truncated"),
    Case("png with bad pixel-data crc", infer("crc_idat"), BAD, "'IDAT' fails its CRC check"),
    Case("png with bad header crc", infer("crc_ihdr"), BAD, "is corrupt: it starts as a PNG"),
    Case("1x1 image", infer("one_pixel"), BAD, "1x1 pixels: too small"),
    Case("folder without images", infer("no_images"), BAD, "contains no image files"),
    Case("one bad file stops the run", infer("mixed"), BAD, "b_bad.png"),
    Case("one bad file skipped", infer("mixed", "--on-error", "skip"), SKIPPED, "skipped 1 input", _skipped("b_bad.png")),
    Case("no exif under --camera exif", infer("photos", "--camera", "exif"), BAD, "without_exif.jpg' has no EXIF"),
    Case("no exif skipped", infer("photos", "--camera", "exif", "--on-error", "skip"), SKIPPED, "no EXIF", _skipped("without_exif.jpg")),
    Case("camera fallback exif,fov:60", infer("photos", "--camera", "exif,fov:60"), OK, "", _camera("exif,fov:60", True)),
    Case("bad camera fallback", infer("photos", "--camera", "exif,box"), BAD, "fallback after exif"),
    Case("unknown camera", infer("ok", "--camera", "fisheye"), BAD, "Unknown camera"),
    Case("every image skipped", infer("broken", "--on-error", "skip"), BAD, "No input image could be used"),
    # infer: valid but unusual images
    Case("16-bit png", infer("sixteen"), OK, "", _one_image([24, 32])),
    Case("grayscale png", infer("gray"), OK, "", _one_image([24, 32])),
    Case("rgba png", infer("rgba"), OK, "", _one_image([24, 32])),
    Case("cmyk jpeg", infer("cmyk"), OK, "", _one_image([24, 32])),
    Case("palette png with transparency", infer("palette"), OK, "", _one_image([24, 32])),
    Case("exif-rotated jpeg", infer("rotated"), OK, "", _one_image([32, 24])),  # shown upright: portrait
    # infer: boxes
    Case("boxes file missing", infer("ok", "--boxes", "/nonexistent/boxes.json"), BAD, "does not exist"),
    Case("boxes not json", infer("ok", "--boxes", "@boxes_not_json"), BAD, "is not valid JSON"),
    Case("boxes of the wrong shape", infer("ok", "--boxes", "@boxes_bad_shape"), BAD, "must be a list of [x, y, w, h]"),
    Case("boxes file is a fifo", infer("ok", "--boxes", "@boxes_fifo"), BAD, "is not a regular file"),
    Case("boxes list for a folder", infer("photos", "--boxes", "@boxes_list_for_folder"), BAD, "holds one list of boxes"),
    Case("image missing from boxes", infer("photos", "--boxes", "@boxes_photos_partial"), BAD, "no entry for 'without_exif.jpg'"),
    Case("image missing from boxes skipped", infer("photos", "--boxes", "@boxes_photos_partial", "--on-error", "skip"), SKIPPED,
         "no entry for 'without_exif.jpg'", _skipped("without_exif.jpg")),  # fmt: skip
    Case("given boxes", infer("ok", "--boxes", "@boxes_ok"), OK, "", _one_image([24, 32])),
    # model folders
    Case("model folder missing", infer("ok", "--model", "/nonexistent/model"), BAD, "does not exist"),
    Case("model truncated weights", infer("ok", "--model", "@model_truncated"), BAD, "could not be loaded"),
    Case("model weights of wrong shapes", infer("ok", "--model", "@model_wrong_shapes"), BAD, "could not be loaded"),
    Case("model bad config value", infer("ok", "--model", "@model_bad_config"), BAD, "could not be loaded"),
    Case("model without weights", infer("ok", "--model", "@model_no_weights"), BAD, "model_no_weights"),
    Case("model without config", infer("ok", "--model", "@model_no_config"), BAD, "has no config.json"),
    Case("model config not json", infer("ok", "--model", "@model_config_not_json"), BAD, "is not valid JSON"),
    Case("model of another kind", infer("ok", "--model", "@model_other_kind"), BAD, "not an SMPLest-X model"),
    # body-model folders
    Case("body model missing", infer("ok", "--outputs", "mesh", "--body-model", "/nonexistent/body"), BAD, "/nonexistent/body"),
    Case("body model without smplx/", infer("ok", "--outputs", "mesh", "--body-model", "@body_no_smplx"), BAD, "smplx"),
    Case("body model truncated npz", infer("ok", "--outputs", "mesh", "--body-model", "@body_truncated"), BAD, "SMPLX_NEUTRAL"),
    Case("body model with wrong arrays", infer("ok", "--outputs", "mesh", "--body-model", "@body_wrong_content"), BAD, "SMPLX_NEUTRAL"),
    # videos
    Case("video", infer("video_ok"), OK, "", _video_check(6, complete=True)),
    Case("video with fewer frames than stated", infer("video_short"), SKIPPED, "states 30 frames but only", _video_check(30, complete=False)),
    Case("empty video", infer("video_empty"), BAD, "empty.mp4"),
    Case("text named mp4", infer("video_text"), BAD, "text.mp4"),
    Case("exif camera on a video", infer("video_ok", "--camera", "exif"), BAD, "videos have none"),
    # output folders
    Case("output is a file", lambda w, out: infer("ok")(w, w["out_file"]), BAD, "exists and is not a folder"),
    Case("output not empty", lambda w, out: infer("ok")(w, w["out_nonempty"]), BAD, "is not empty"),
    Case("output holds a file named params", lambda w, out: infer("ok")(w, w["out_params_file"]), BAD, "is not empty"),
    Case("output under a file", lambda w, out: infer("ok")(w, Path(w["out_file"]) / "out"), BAD, "a_file"),
    Case("--overwrite of the input folder", lambda w, out: infer("mixed", "--overwrite")(w, w["mixed"]), BAD, "would delete the input"),
    # convert-original
    Case("checkpoint missing", lambda w, out: ["convert-original", "/nonexistent/x.pth.tar", str(out)], BAD, "not found"),
    Case("checkpoint garbage", lambda w, out: ["convert-original", w["ckpt_garbage"], str(out)], BAD, "garbage.pth.tar"),
    Case("checkpoint of other keys", lambda w, out: ["convert-original", w["ckpt_wrong_keys"], str(out)], BAD, "nothing"),
    Case("convert into a non-empty folder", lambda w, out: ["convert-original", w["ckpt_wrong_keys"], w["out_nonempty"]], BAD, ""),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case, world, tmp_path, capfd):
    output = tmp_path / "out"
    arguments = [str(argument) for argument in case.args(world, output)]
    before = snapshot(world.root, tmp_path)
    with warnings.catch_warnings(record=True) as warned:  # outside pytest a warning is more lines on stderr
        warnings.simplefilter("always")
        status = cli_main(arguments)
    captured = capfd.readouterr()
    # Python's default filters hide these four from users; every other warning would be printed.
    hidden = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning, ImportWarning)
    assert [str(warning.message) for warning in warned if not issubclass(warning.category, hidden)] == []
    lines = captured.err.splitlines()
    assert status == case.status, (status, captured.err)
    assert "Traceback" not in captured.err + captured.out
    if case.status == OK:
        assert lines == [], captured.err
    else:
        assert len(lines) == 1, captured.err
        assert lines[0].startswith(f"smplest-x {arguments[0]}: ") or arguments[0] == "convert-original", lines
        assert case.message in lines[0], lines
    assert snapshot(world.root) == {key: value for key, value in before.items() if key.startswith(str(world.root))}
    if case.status == BAD:
        assert snapshot(world.root, tmp_path) == before  # the output folder too: absent stays absent
    else:
        case.check(world, output)
        assert leftovers(tmp_path) == []


def test_the_exit_codes_are_documented_and_shared():
    from smplest_hf.cli import build_parser
    from smplest_hf.models.smplest_x import convert_original_checkpoint as converter

    assert (exit_codes.OK, exit_codes.INTERNAL_ERROR, exit_codes.BAD_INPUT, exit_codes.SOME_SKIPPED) == (0, 1, 2, 3)
    assert (exit_codes.INTERRUPTED, exit_codes.TERMINATED) == (128 + signal.SIGINT, 128 + signal.SIGTERM)
    assert (converter.BAD_INPUT_STATUS, converter.INTERRUPTED_STATUS) == (exit_codes.BAD_INPUT, exit_codes.INTERRUPTED)
    parser = build_parser()
    assert parser.epilog == exit_codes.EXIT_STATUS_HELP
    readme = (ROOT / "README.md").read_text()
    for status in ("0", "1", "2", "3", "130", "143"):
        assert f"`{status}`" in readme
    assert "--overwrite" in readme and "--on-error skip" in readme


def test_overwrite_replaces_the_whole_folder(world, tmp_path, capfd):
    output = tmp_path / "out"
    shutil.copytree(world.paths["out_nonempty"], output)
    (output / "params").mkdir()
    (output / "params" / "old_0.npz").write_bytes(b"an earlier run")
    status = cli_main([str(argument) for argument in infer("ok", "--overwrite")(world, output)])
    assert status == OK, capfd.readouterr().err
    assert sorted(str(path.relative_to(output)) for path in output.rglob("*")) == ["params", "params/ok_0.json", "params/ok_0.npz", "results.json"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


# ------------------------------------------------------------------------------------------------ signals
def _start(world, output, *options, environment=None):
    command = [sys.executable, "-m", "smplest_hf.cli", *map(str, infer("signal_images", *options)(world, output))]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(environment or {})}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for(predicate, process, seconds=240.0):
    """Poll `predicate` until it holds (the run reached a moment), while the process runs."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the moment"
        time.sleep(0.05)


def _staging(parent: Path, suffix: str = "") -> list[Path]:
    return [path for path in parent.iterdir() if path.name.startswith(STAGING_PREFIX) and path.name.endswith(suffix)]


@pytest.fixture(scope="module")
def signal_world(world):
    folder = world.root / "signal_images"
    folder.mkdir(exist_ok=True)
    for index in range(24):
        Image.fromarray(_rgb(seed=index)).save(folder / f"image_{index:02d}.png")
    world.paths["signal_images"] = folder
    return world


# moment -> (how to get there, what to send, options, environment, what the output folder must be afterwards)
SIGNAL_CASES = {
    "SIGINT at the start of the run": ("started", signal.SIGINT, (), {}, "unchanged"),
    "SIGTERM at the start of the run": ("started", signal.SIGTERM, (), {}, "unchanged"),
    "SIGTERM mid-run": ("staging", signal.SIGTERM, ("--batch-size", "1"), {}, "unchanged"),
    "SIGINT just before the final move": ("staging", signal.SIGINT, (), {PAUSE_BEFORE_COMMIT_VARIABLE: "30"}, "unchanged"),
    "SIGTERM just before the final move, --overwrite": ("staging", signal.SIGTERM, ("--overwrite",), {PAUSE_BEFORE_COMMIT_VARIABLE: "30"}, "unchanged"),
    "SIGTERM during the final move, --overwrite": ("moved_aside", signal.SIGTERM, ("--overwrite",), {PAUSE_DURING_COMMIT_VARIABLE: "3"}, "complete"),
    "SIGINT during the final move": ("moved_aside", signal.SIGINT, ("--overwrite",), {PAUSE_DURING_COMMIT_VARIABLE: "3"}, "complete"),
}


@pytest.mark.parametrize("moment", list(SIGNAL_CASES))
def test_a_signal_leaves_the_complete_result_or_nothing(moment, signal_world, tmp_path):
    how, sent, options, environment, outcome = SIGNAL_CASES[moment]
    output = tmp_path / "out"
    if "--overwrite" in options:
        output.mkdir()
        (output / "results.json").write_text("an earlier run's")
    before = snapshot(signal_world.root, tmp_path)
    process = _start(signal_world, output, *options, environment=environment)
    if how == "started":  # the model is loaded and the staging folder made
        _wait_for(lambda: bool(_staging(tmp_path)), process)
    elif how == "staging":  # the run writes into its staging folder (files appear there as images are done)
        _wait_for(lambda: any(path.is_file() for folder in _staging(tmp_path) for path in folder.rglob("*")), process)
        if PAUSE_BEFORE_COMMIT_VARIABLE in environment:  # all written, paused before the move
            _wait_for(lambda: any((folder / "results.json").exists() for folder in _staging(tmp_path)), process)
    else:  # the old folder is moved aside, the new one not yet in place
        _wait_for(lambda: bool(_staging(tmp_path)) and not output.exists(), process)
    process.send_signal(sent)
    stdout, stderr = process.communicate(timeout=240)
    expected = exit_codes.INTERRUPTED if sent == signal.SIGINT else exit_codes.TERMINATED
    assert process.returncode == expected, (process.returncode, stderr)
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    assert ("interrupted (SIGINT)" if sent == signal.SIGINT else "terminated (SIGTERM)") in stderr
    assert leftovers(tmp_path) == []
    if outcome == "unchanged":
        assert snapshot(signal_world.root, tmp_path) == before
    else:
        assert results(output)["images"] == 24 and len(list((output / "params").glob("*.npz"))) == 24
        assert snapshot(signal_world.root) == {key: value for key, value in before.items() if key.startswith(str(signal_world.root))}


@pytest.mark.parametrize(
    "raised, status, message",
    [(exit_codes.Terminated, exit_codes.TERMINATED, "terminated (SIGTERM)"),
     (KeyboardInterrupt, exit_codes.INTERRUPTED, "interrupted (SIGINT)")],
)  # fmt: skip
def test_convert_original_tells_sigterm_from_ctrl_c(raised, status, message, monkeypatch, tmp_path, capsys):
    """The converter's own Ctrl-C handler must let SIGTERM (a KeyboardInterrupt subclass) through to 143."""
    from smplest_hf.models.smplest_x import convert_original_checkpoint as converter

    def interrupted(*args, **kwargs):
        raise raised  # what `exit_codes.sigterm_raises` / Ctrl-C raise in the main thread mid-conversion

    monkeypatch.setattr(converter, "convert_original_checkpoint", interrupted)
    assert cli_main(["convert-original", str(tmp_path / "snapshot.pth.tar"), str(tmp_path / "out")]) == status
    assert message in capsys.readouterr().err


def test_sigterm_raises_terminated_once_and_restores_the_handler():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(exit_codes.Terminated):
        with exit_codes.sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) == previous
    assert issubclass(exit_codes.Terminated, KeyboardInterrupt)  # interruption handlers (shards kept) see it too
