"""One atomic writer and one run-staging helper (`smplest_hf.export.atomic`), and every writer that uses them.

Each file must get the permissions any new file of the user gets (0o666 & ~umask, not mkstemp's owner-only 0o600
nor a fixed 0o644), and a failure while writing must leave the previous file as it was and no temporary file.
umask 0o027 (-> 0o640) tells both wrong modes apart in one run.
"""

import json
import os
from fractions import Fraction

import numpy as np
import pytest

from smplest_hf.export.atomic import (
    STAGING_PREFIX,
    OutputFolderError,
    PendingFile,
    atomic_file,
    staged_run,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


@pytest.fixture(params=[0o022, 0o077, 0o027], ids=lambda umask: f"umask{umask:03o}")
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield 0o027
    os.umask(previous)


def file_modes(folder) -> dict:
    """{relative path: permission bits} of every file under `folder`."""
    return {str(path.relative_to(folder)): path.stat().st_mode & 0o777 for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_user_mode(folder, umask):
    modes = file_modes(folder)
    assert modes, "nothing was written"
    assert modes == dict.fromkeys(modes, 0o666 & ~umask), modes


# ------------------------------------------------------------------------------------------------ the writer
def test_every_helper_writes_its_content_with_the_users_mode(umask, tmp_path):
    write_bytes_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_text_atomic(tmp_path / "b.txt", "héllo\n")
    write_json_atomic(tmp_path / "nested" / "c.json", {"z": np.float32(0.5), "a": np.arange(2)}, sort_keys=True)
    with atomic_file(tmp_path / "d.bin") as handle:
        handle.write(b"abc")
    with PendingFile(tmp_path / "e.bin") as pending:
        pending.temporary.write_bytes(b"named")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_bytes() == "héllo\n".encode("utf-8")
    assert (tmp_path / "nested" / "c.json").read_text() == '{\n  "a": [\n    0,\n    1\n  ],\n  "z": 0.5\n}\n'
    assert (tmp_path / "d.bin").read_bytes() == b"abc" and (tmp_path / "e.bin").read_bytes() == b"named"
    assert_user_mode(tmp_path, umask)


def test_a_replaced_file_gets_the_users_mode_too(umask, tmp_path):
    path = tmp_path / "card.md"
    path.write_text("old")
    path.chmod(0o600)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failure_while_writing_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("previous")
    with pytest.raises(RuntimeError, match="disk full"), atomic_file(path) as handle:
        handle.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(TypeError, match="Cannot write object"):
        write_json_atomic(path, {"value": object()})
    with pytest.raises(ValueError), PendingFile(path) as pending:
        pending.temporary.write_bytes(b"half")
        raise ValueError("encoder failed")

    def no_space(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)  # the disk refuses the data: nothing may be renamed
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(path, b"new content")
    assert path.read_text() == "previous"
    assert sorted(child.name for child in tmp_path.iterdir()) == ["results.json"]


def test_pending_file_commits_only_once(tmp_path):
    pending = PendingFile(tmp_path / "video.mp4")
    assert pending.temporary.parent == tmp_path and pending.temporary.name.startswith(".video.mp4.")
    pending.temporary.write_bytes(b"frames")
    assert pending.commit() == tmp_path / "video.mp4"
    pending.discard()  # after commit: nothing left to discard, the file stays
    assert (tmp_path / "video.mp4").read_bytes() == b"frames" and len(list(tmp_path.iterdir())) == 1
    elsewhere = PendingFile(tmp_path / "data" / "shard.parquet", folder=tmp_path / "tmp")
    assert elsewhere.temporary.parent == tmp_path / "tmp" and (tmp_path / "data").is_dir()
    elsewhere.discard()
    assert list((tmp_path / "tmp").iterdir()) == []


# ------------------------------------------------------------------------------------------------ run staging
def test_staged_run_appears_at_once_and_replaces_a_folder_only_when_asked(umask, tmp_path):
    output = tmp_path / "out"
    with staged_run(output) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(STAGING_PREFIX)
        write_text_atomic(staging / "params" / "a.json", "first")
        write_text_atomic(staging / "results.json", "{}")
        assert not output.exists()  # nothing visible before the run ends
    assert sorted(file_modes(output)) == ["params/a.json", "results.json"] and sorted(os.listdir(tmp_path)) == ["out"]
    assert_user_mode(output, umask)
    assert output.stat().st_mode & 0o777 == (output / "params").stat().st_mode & 0o777 == 0o777 & ~umask
    # A second run into the non-empty folder is refused before anything is written ...
    write_text_atomic(output / "keep.txt", "the user's")
    with pytest.raises(OutputFolderError, match="not empty.*--overwrite"), staged_run(output):
        pytest.fail("the block must not run")
    # ... and with overwrite replaces the whole folder: no file of the earlier run stays beside the new ones.
    with staged_run(output, overwrite=True) as staging:
        write_text_atomic(staging / "params" / "b.json", "second")
        write_text_atomic(staging / "results.json", "{}")
    assert sorted(file_modes(output)) == ["params/b.json", "results.json"] and sorted(os.listdir(tmp_path)) == ["out"]
    # An empty folder is taken as it is.
    (tmp_path / "empty").mkdir()
    with staged_run(tmp_path / "empty") as staging:
        write_text_atomic(staging / "x.txt", "x")
    assert sorted(file_modes(tmp_path / "empty")) == ["x.txt"]


def test_a_failed_run_leaves_the_previous_outputs_and_nothing_else(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    write_text_atomic(output / "params" / "a.json", "previous run")
    with pytest.raises(KeyboardInterrupt), staged_run(output, overwrite=True) as staging:
        write_text_atomic(staging / "params" / "a.json", "this run")
        raise KeyboardInterrupt
    assert file_modes(output).keys() == {"params/a.json"} and (output / "params" / "a.json").read_text() == "previous run"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    # Folders this run created go too; an output path that is a file is refused before anything is written.
    with pytest.raises(RuntimeError), staged_run(tmp_path / "new" / "deeper" / "out") as staging:
        write_text_atomic(staging / "a.txt", "x")
        raise RuntimeError
    assert sorted(os.listdir(tmp_path)) == ["out"]
    with pytest.raises(ValueError, match="exists and is not a folder"), staged_run(output / "params" / "a.json"):
        pass


def test_the_old_folder_is_put_back_when_the_final_rename_fails(tmp_path, monkeypatch):
    """The rename of the new folder into place fails (here: a folder appears at the name in between): the old
    output folder is back where it was and no hidden folder is left."""
    output = tmp_path / "out"
    write_text_atomic(output / "old.txt", "old")
    real_rename = os.rename

    def rename_after_a_competitor(source, target):
        os.mkdir(target)
        write_text_atomic(os.path.join(target, "other.txt"), "x")  # a non-empty folder: the rename must fail
        try:
            return real_rename(source, target)
        finally:
            os.remove(os.path.join(target, "other.txt"))
            os.rmdir(target)

    monkeypatch.setattr(os, "rename", rename_after_a_competitor)
    with pytest.raises(OSError), staged_run(output, overwrite=True) as staging:
        write_text_atomic(staging / "new.txt", "new")
    monkeypatch.undo()
    assert file_modes(output).keys() == {"old.txt"} and sorted(os.listdir(tmp_path)) == ["out"]


# ------------------------------------------------------------------------------------------------ every writer
def test_image_and_video_runs_write_files_with_the_users_mode(umask_027, tiny_model_dir, synthetic_body_model_dir, tmp_path):
    from PIL import Image

    from smplest_hf.inference.image_files import infer_image_files
    from smplest_hf.inference.pipeline import SmplestXPipeline
    from smplest_hf.video.video_file import VIDEO_OUTPUT_KINDS, infer_video_file
    from smplest_hf.video.video_io import VideoWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    with VideoWriter(tmp_path / "inputs" / "clip.mp4", fps=Fraction(10)) as writer:
        for frame in frames:
            writer.write(frame)
    images = [tmp_path / f"frame_{index}.png" for index in range(len(frames))]
    for path, frame in zip(images, frames):
        Image.fromarray(frame).save(path)
    pipeline = SmplestXPipeline(tiny_model_dir, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=2, dtype="float32")
    infer_image_files(pipeline, images, tmp_path / "images", kinds=("params", "mesh", "glb", "overlay", "keypoints"), progress=False)
    infer_video_file(pipeline, tmp_path / "inputs" / "clip.mp4", tmp_path / "video", kinds=VIDEO_OUTPUT_KINDS, progress=False)
    assert {"results.json", "params/frame_0_0.npz", "meshes/frame_1_0.obj", "overlays/frame_1.png"} <= set(file_modes(tmp_path / "images"))
    assert {"results.json", "overlays/clip.mp4", "anim/clip.glb", "params/clip_track_0.npz", "meshes/clip/000001_track_0.ply",
            "glb/clip/000001.glb", "keypoints/clip/000000.json"} <= set(file_modes(tmp_path / "video"))  # fmt: skip
    assert_user_mode(tmp_path / "images", umask_027)
    assert_user_mode(tmp_path / "video", umask_027)
    assert_user_mode(tmp_path / "inputs", umask_027)  # the VideoWriter's file


def test_evaluation_report_dataset_shards_card_and_body_model_files_get_the_users_mode(umask_027, tmp_path):
    from datasets import Features, Value

    from hub_datasets.card import write_dataset_card
    from hub_datasets.sharding import ShardRows, write_shards
    from smplest_hf.evaluation.run import EvaluationReport
    from smplest_hf.synthetic import write_synthetic_body_model

    EvaluationReport(model="tiny").save(tmp_path / "evaluation")
    assert_user_mode(tmp_path / "evaluation", umask_027)

    summary = write_shards(tmp_path / "dataset", "train", 2, lambda index: [index, index + 10],
                           lambda payload: ShardRows(columns={"x": payload}), Features({"x": Value("int64")}),
                           num_samples=4)  # fmt: skip
    write_dataset_card(tmp_path / "dataset")
    assert summary.num_rows == 4
    assert {"README.md", "data/train-00000-of-00002.parquet", ".conversion/train-00001-of-00002.json", ".conversion/train.json"} <= set(
        file_modes(tmp_path / "dataset")
    )
    assert list((tmp_path / "dataset" / ".conversion" / "tmp").iterdir()) == []
    assert_user_mode(tmp_path / "dataset", umask_027)
    record = json.loads((tmp_path / "dataset" / ".conversion" / "train-00001-of-00002.json").read_text())
    assert record == {"num_rows": 2, "skipped": []}

    write_synthetic_body_model(tmp_path / "body_model", seed=0, genders=("neutral",))
    assert len(file_modes(tmp_path / "body_model")) == 5  # smplx/: the neutral model + 3 evaluation files; smpl/: 1
    assert_user_mode(tmp_path / "body_model", umask_027)
