"""Hostile-input battery for the dataset tool (`python -m hub_datasets convert-humandata` / `synthesize`), the
checkpoint converter (`convert-original`) and training (`examples/train.py`).

Every case is a broken, hostile or unlucky input built in its own folder. For each one the command must end with
the documented exit status (`smplest_hf.exit_codes`: 2 for bad input), print exactly one error line that names
the problem (no traceback, no progress bar), and leave the case's folder byte-identical: the same names, sizes,
modes, symlink targets and SHA-256 of every file (nothing written, nothing half-written, nothing removed).
"""

import hashlib
import io
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from script_modules import load_script
from test_hub_datasets_humandata import _image_bytes, write_official_humandata

from hub_datasets.__main__ import main as datasets_main
from smplest_hf.exit_codes import BAD_INPUT, INTERRUPTED, TERMINATED
from smplest_hf.models.smplest_x.convert_original_checkpoint import main as convert_original_main

REPOSITORY = Path(__file__).resolve().parents[1]


# ============================================================================================ snapshot
def snapshot(root: Path) -> dict:
    """{relative path: (kind, size, mode, sha256 or link target)} of everything under `root` (symlinks not followed)."""
    entries = {}
    for folder, folders, files in os.walk(root, followlinks=False):
        for name in folders + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = None  # folders, FIFOs: never read
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
            entries[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), size, stat.S_IMODE(info.st_mode), content)
    return entries


def error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if "error" in line.lower()]


# ================================================================================== convert-humandata
def _humandata(case: Path, **changes):
    npz, image_root, source = write_official_humandata(case, num_samples=3, **changes)
    return npz, image_root, source


def _with_image_paths(case: Path, paths: list):
    """A valid 3-sample file whose image_path entries are `paths` (the images of the valid file stay in place)."""
    return _humandata(case, image_path=np.array(paths))


def _convert(npz, image_root, case, *extra):
    return ["convert-humandata", str(npz), str(image_root), str(case / "out"), *extra]


def _secret(case: Path) -> Path:
    secret = case / "outside" / "secret.jpg"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(_image_bytes(99))  # a valid image: only the path check may stop it
    return secret


def case_missing_npz(case):
    return ["convert-humandata", str(case / "nope.npz"), str(case), str(case / "out")], "no such HumanData file"


def case_npz_is_a_folder(case):
    (case / "annot.npz").mkdir()
    return ["convert-humandata", str(case / "annot.npz"), str(case), str(case / "out")], "no such HumanData file"


def case_npz_is_garbage(case):
    (case / "annot.npz").write_bytes(b"\x00garbage" * 50)
    return ["convert-humandata", str(case / "annot.npz"), str(case), str(case / "out")], "not a readable .npz archive"


def case_npz_is_empty(case):
    (case / "annot.npz").write_bytes(b"")
    return ["convert-humandata", str(case / "annot.npz"), str(case), str(case / "out")], "not a readable .npz archive"


def case_npz_truncated(case):
    npz, image_root, _ = _humandata(case)
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    return _convert(npz, image_root, case), "not a readable .npz archive"


def case_npz_member_corrupt(case):
    """A zip whose `.npy` member is not an array (a valid archive with broken content)."""
    npz, image_root, _ = _humandata(case)
    _replace_member(npz, "bbox_xywh.npy", b"\x93NUMPY broken header")
    return _convert(npz, image_root, case), "(entry 'bbox_xywh')"


def _replace_member(npz: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(npz) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name != member}
    with zipfile.ZipFile(npz, "w") as archive:
        for name, content in {**members, member: data}.items():
            archive.writestr(name, content)


def case_missing_box_key(case):
    npz, image_root, _ = _humandata(case)
    with np.load(npz, allow_pickle=True) as archive:
        content = {key: archive[key] for key in archive.files if key != "bbox_xywh"}
    np.savez(npz, **content)
    return _convert(npz, image_root, case), "required key 'bbox_xywh' is missing"


def case_nan_box(case):
    box = np.tile(np.array([[1, 2, 10, 12, 1]], np.float32), (3, 1))
    box[1, 2] = np.nan
    npz, image_root, _ = _humandata(case, bbox_xywh=box)
    return _convert(npz, image_root, case), "bbox_xywh"


def case_infinite_hand_box(case):
    box = np.tile(np.array([[1, 2, 10, 12, 1]], np.float32), (3, 1))
    box[2, 0] = np.inf
    npz, image_root, _ = _humandata(case, lhand_bbox_xywh=box)
    return _convert(npz, image_root, case), "lhand_bbox_xywh"


def case_image_path_not_strings(case):
    npz, image_root, _ = _humandata(case, image_path=np.arange(3))
    return _convert(npz, image_root, case), "'image_path' should hold strings"


def case_pickled_code_in_smplx(case):
    class RunsCode:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    npz, image_root, _ = _humandata(case)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(RunsCode(), dtype=object), allow_pickle=True)
    _replace_member(npz, "smplx.npy", buffer.getvalue())
    return _convert(npz, image_root, case), "refusing to load `posix.system`"


def case_traversal_path(case):
    _secret(case)
    npz, image_root, source = _humandata(case)
    paths = list(source["image_path"][:2]) + ["../outside/secret.jpg"]
    npz, image_root, _ = _with_image_paths(case, paths)
    return _convert(npz, image_root, case), "row 2 image_path '../outside/secret.jpg' leads outside the image root"


def case_deep_traversal_to_etc_passwd(case):
    npz, image_root, _ = _with_image_paths(case, ["seq_0/frame_0000.jpg", "../" * 40 + "etc/passwd", "x.jpg"])
    return _convert(npz, image_root, case), "row 1 image_path '" + "../" * 40 + "etc/passwd' leads outside"


def case_absolute_path_stays_in_the_root(case):
    """A leading slash is root-relative (stripped): /etc/passwd means IMAGE_ROOT/etc/passwd, which is missing."""
    npz, image_root, _ = _with_image_paths(case, ["/etc/passwd", "seq_1/frame_0001.jpg", "seq_0/frame_0002.jpg"])
    return _convert(npz, image_root, case), "does not exist"


def case_symlink_out_of_the_root(case):
    secret = _secret(case)
    npz, image_root, _ = _humandata(case)
    (image_root / "link.jpg").symlink_to(secret)
    npz, image_root, _ = _with_image_paths(case, ["seq_0/frame_0000.jpg", "link.jpg", "seq_0/frame_0002.jpg"])
    return _convert(npz, image_root, case), "row 1 image_path 'link.jpg' leads outside the image root"


def case_symlinked_folder_out_of_the_root(case):
    _secret(case)
    npz, image_root, _ = _humandata(case)
    (image_root / "shared").symlink_to(case / "outside", target_is_directory=True)
    npz, image_root, _ = _with_image_paths(case, ["shared/secret.jpg", "seq_1/frame_0001.jpg", "seq_0/frame_0002.jpg"])
    return _convert(npz, image_root, case), "row 0 image_path 'shared/secret.jpg' leads outside"


def case_symlink_to_dev_zero(case):
    npz, image_root, _ = _humandata(case)
    (image_root / "zero.jpg").symlink_to("/dev/zero")
    npz, image_root, _ = _with_image_paths(case, ["seq_0/frame_0000.jpg", "seq_1/frame_0001.jpg", "zero.jpg"])
    return _convert(npz, image_root, case), "row 2 image_path 'zero.jpg' leads outside the image root"


def case_fifo_in_the_root(case):
    npz, image_root, _ = _humandata(case)
    os.mkfifo(image_root / "pipe.jpg")
    npz, image_root, _ = _with_image_paths(case, ["seq_0/frame_0000.jpg", "pipe.jpg", "seq_0/frame_0002.jpg"])
    return _convert(npz, image_root, case), "row 1 image_path 'pipe.jpg' is not a regular file (a FIFO"


def case_folder_named_like_an_image(case):
    npz, image_root, _ = _humandata(case)
    (image_root / "folder.jpg").mkdir()
    npz, image_root, _ = _with_image_paths(case, ["folder.jpg", "seq_1/frame_0001.jpg", "seq_0/frame_0002.jpg"])
    return _convert(npz, image_root, case), "row 0 image_path 'folder.jpg' is not a regular file (a folder"


def case_missing_image(case):
    npz, image_root, source = _humandata(case)
    (image_root / source["image_path"][1]).unlink()
    return _convert(npz, image_root, case), "sample 1 (image_path 'seq_1/frame_0001.jpg'): image file"


def case_corrupt_image(case):
    npz, image_root, source = _humandata(case)
    (image_root / source["image_path"][2]).write_bytes(_image_bytes(5)[:150])
    return _convert(npz, image_root, case), "sample 2 (image_path 'seq_0/frame_0002.jpg'): image file"


def case_missing_image_root(case):
    npz, _, _ = _humandata(case)
    return _convert(npz, case / "no_images", case), "is not a directory"


def case_image_root_is_a_file(case):
    npz, _, _ = _humandata(case)
    (case / "images.txt").write_text("not a folder")
    return _convert(npz, case / "images.txt", case), "is not a directory"


def case_output_is_a_file(case):
    npz, image_root, _ = _humandata(case)
    (case / "out").write_text("a file where the dataset folder should go")
    return _convert(npz, image_root, case), "out"


def case_bad_split_name(case):
    npz, image_root, _ = _humandata(case)
    return _convert(npz, image_root, case, "--split", "../train"), "split name '../train'"


def case_zero_shards(case):
    npz, image_root, _ = _humandata(case)
    return _convert(npz, image_root, case, "--num-shards", "0"), "num_shards must be at least 1"


def case_zero_workers(case):
    npz, image_root, _ = _humandata(case)
    return _convert(npz, image_root, case, "--num-proc", "0"), "num_proc must be at least 1"


def case_unknown_keys(case):
    npz, image_root, _ = _humandata(case, vertices_world=np.zeros(3))
    return _convert(npz, image_root, case), "unknown keys ['vertices_world']"


# ========================================================================================== synthesize
def _synthesize(case, *extra):
    return ["synthesize", str(case / "out"), *extra]


def case_synthesize_zero_samples(case):
    return _synthesize(case, "--num-samples", "0", "--seed", "1"), "num_samples must be a positive integer"


def case_synthesize_negative_seed(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "-3"), "seed must be a non-negative integer"


def case_synthesize_zero_image_size(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--image-size", "0", "64"), "image_size must be"


def case_synthesize_too_many_people(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--max-people", "0"), "max_people must be an integer"


def case_synthesize_zero_shard_size(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--shard-size", "0"), "shard_size must be a positive"


def case_synthesize_bad_split(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--split", "a b"), "split name 'a b'"


def case_synthesize_bad_dataset_name(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--dataset-name", "../x"), "dataset_name"


def case_synthesize_missing_body_model(case):
    return _synthesize(case, "--num-samples", "2", "--seed", "1", "--body-model", str(case / "none")), "none"


DATASET_CASES = [
    case_missing_npz, case_npz_is_a_folder, case_npz_is_garbage, case_npz_is_empty, case_npz_truncated,
    case_npz_member_corrupt, case_missing_box_key, case_nan_box, case_infinite_hand_box, case_image_path_not_strings,
    case_pickled_code_in_smplx, case_traversal_path, case_deep_traversal_to_etc_passwd,
    case_absolute_path_stays_in_the_root, case_symlink_out_of_the_root, case_symlinked_folder_out_of_the_root,
    case_symlink_to_dev_zero, case_fifo_in_the_root, case_folder_named_like_an_image, case_missing_image,
    case_corrupt_image, case_missing_image_root, case_image_root_is_a_file, case_output_is_a_file,
    case_bad_split_name, case_zero_shards, case_zero_workers, case_unknown_keys,
    case_synthesize_zero_samples, case_synthesize_negative_seed, case_synthesize_zero_image_size,
    case_synthesize_too_many_people, case_synthesize_zero_shard_size, case_synthesize_bad_split,
    case_synthesize_bad_dataset_name, case_synthesize_missing_body_model,
]  # fmt: skip


@pytest.mark.parametrize("make_case", DATASET_CASES, ids=lambda make: make.__name__[len("case_"):])
def test_hub_datasets_refuses_hostile_input_in_one_line_and_writes_nothing(make_case, tmp_path, capsys):
    case = tmp_path / "case"
    case.mkdir()
    argv, message = make_case(case)
    before = snapshot(case)
    capsys.readouterr()
    status = datasets_main(argv)
    captured = capsys.readouterr()
    assert status == BAD_INPUT, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("error: "), captured.err
    assert message in captured.err, captured.err
    assert snapshot(case) == before
    assert "pwned" not in captured.out + captured.err


def test_image_path_checks_keep_symlinks_that_stay_inside_the_root(tmp_path, capsys):
    """The valid-but-unusual counterpart: a symlink to another image inside the root converts."""
    npz, image_root, _ = _humandata(tmp_path)
    (image_root / "alias.jpg").symlink_to(image_root / "seq_0" / "frame_0000.jpg")
    npz, image_root, _ = _with_image_paths(tmp_path, ["alias.jpg", "seq_1/frame_0001.jpg", "/seq_0/frame_0002.jpg"])
    assert datasets_main(_convert(npz, image_root, tmp_path)) == 0
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal


def test_a_failed_run_that_finished_shards_keeps_them_and_says_so(tmp_path, capsys):
    npz, image_root, source = _humandata(tmp_path)
    (image_root / source["image_path"][2]).unlink()  # shards [0] [1] [2]: the last one fails
    assert datasets_main(_convert(npz, image_root, tmp_path, "--shard-size", "1")) == BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "2 shard(s) finished by this run are kept" in err, err
    assert sorted(os.listdir(tmp_path / "out" / "data")) == ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet"]
    assert not os.listdir(tmp_path / "out" / ".conversion" / "tmp")


# ===================================================================================== convert-original
def _torch_file(path: Path, content, **options) -> Path:
    torch.save(content, path, **options)
    return path


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def original_blocked_global(case):
    return [str(_torch_file(case / "evil.pth", {"network": _RunsCode()}))], "asks the unpickler to call posix.system"


def original_blocked_global_trusted(case):
    path = _torch_file(case / "evil.pth", {"network": _RunsCode()})
    return [str(path), "--trust-pickle"], "refused, also with --trust-pickle"


def original_blocked_global_legacy_pickle(case):
    (case / "evil.pth").write_bytes(pickle.dumps({"network": _RunsCode()}, protocol=2))
    return [str(case / "evil.pth"), "--trust-pickle"], "posix.system"


def original_unknown_object(case):
    import argparse

    path = _torch_file(case / "snapshot.pth", {"network": {"w": torch.zeros(1)}, "args": argparse.Namespace(a=1)})
    return [str(path)], "holds a Python object (argparse.Namespace)"


def original_pickle_protocol_4(case):
    path = _torch_file(case / "snapshot.pth", {"network": {"w": torch.zeros(1)}}, pickle_protocol=4)
    return [str(path)], "saved with pickle protocol 4"


def original_truncated(case):
    path = _torch_file(case / "snapshot.pth", {"network": {"w": torch.zeros(100)}})
    path.write_bytes(path.read_bytes()[:300])
    return [str(path)], "not a readable torch checkpoint"


def original_empty(case):
    (case / "snapshot.pth").write_bytes(b"")
    return [str(case / "snapshot.pth")], "not a readable torch checkpoint"


def original_garbage(case):
    (case / "snapshot.pth").write_bytes(bytes(range(256)) * 4)
    return [str(case / "snapshot.pth")], "not a readable torch checkpoint"


def original_directory(case):
    (case / "snapshot.pth").mkdir()
    return [str(case / "snapshot.pth")], "is a directory"


def original_missing(case):
    return [str(case / "nope.pth.tar")], "not found"


def original_wrong_keys(case):
    path = _torch_file(case / "snapshot.pth", {"network": {"module.not_a_layer.weight": torch.zeros(2, 2)}})
    return [str(path)], "no counterpart in SmplestXForHumanMeshRecovery: 'not_a_layer.weight'"


def original_not_a_state_dict(case):
    return [str(_torch_file(case / "snapshot.pth", [1, 2, 3]))], "is not an SMPLest-X checkpoint"


ORIGINAL_CASES = [
    original_blocked_global, original_blocked_global_trusted, original_blocked_global_legacy_pickle,
    original_unknown_object, original_pickle_protocol_4, original_truncated, original_empty, original_garbage,
    original_directory, original_missing, original_wrong_keys, original_not_a_state_dict,
]  # fmt: skip


@pytest.mark.parametrize("make_case", ORIGINAL_CASES, ids=lambda make: make.__name__[len("original_"):])
def test_convert_original_refuses_hostile_checkpoints_in_one_line(make_case, tmp_path, capsys):
    case = tmp_path / "case"
    case.mkdir()
    arguments, message = make_case(case)
    before = snapshot(case)
    capsys.readouterr()
    status = convert_original_main([arguments[0], str(case / "converted"), *arguments[1:]])
    captured = capsys.readouterr()
    assert status == BAD_INPUT, captured.err
    assert "Traceback" not in captured.err and "pwned" not in captured.out + captured.err
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("error: "), captured.err
    assert message in captured.err, captured.err
    assert snapshot(case) == before


# ============================================================================================ training
@pytest.fixture(scope="module")
def train_script():
    return load_script(REPOSITORY / "examples" / "train.py", "smplest_train_script_hostile")


def _train(case, *overrides):
    config = REPOSITORY / "examples" / "configs" / "tiny_synthetic.yaml"
    # The recipe starts from stage 1's folder; these cases start from a new tiny model (as tests/test_training.py).
    return ["--config", str(config), f"--output_dir={case / 'run'}", "--model.from_pretrained=null", *overrides]


def training_missing_config(case):
    return ["--config", str(case / "nope.yaml")], "does not exist"


def training_config_not_a_mapping(case):
    (case / "config.yaml").write_text("- just\n- a list\n")
    return ["--config", str(case / "config.yaml")], "must be a mapping"


def training_config_not_yaml(case):
    (case / "config.yaml").write_text("optimization: {batch_size: [\n")
    return ["--config", str(case / "config.yaml")], "is not valid YAML"


def training_unknown_key(case):
    return _train(case, "--optimization.batch_sise=8"), "batch_sise"


def training_wrong_type(case):
    return _train(case, "--optimization.max_steps=many"), "optimization.max_steps"


def training_unknown_tracker(case):
    return _train(case, "--logging.log_with=[tensorbored]"), "unknown tracker(s) ['tensorbored']"


def training_resume_from_missing_folder(case):
    return _train(case, f"--checkpointing.resume_from={case / 'checkpoint-00000100'}"), "Cannot resume from"


def training_resume_from_a_model_folder(case):
    (case / "model").mkdir()
    (case / "model" / "config.json").write_text("{}")
    return _train(case, f"--checkpointing.resume_from={case / 'model'}"), "lacks ['trainer_state.json', 'training_state']"


TRAINING_CASES = [
    training_missing_config, training_config_not_a_mapping, training_config_not_yaml, training_unknown_key,
    training_wrong_type, training_unknown_tracker, training_resume_from_missing_folder,
    training_resume_from_a_model_folder,
]  # fmt: skip


@pytest.mark.parametrize("make_case", TRAINING_CASES, ids=lambda make: make.__name__[len("training_"):])
def test_training_refuses_config_and_resume_mistakes_in_one_line(make_case, train_script, tmp_path, capsys):
    from accelerate.state import AcceleratorState, GradientState

    case = tmp_path / "case"
    case.mkdir()
    argv, message = make_case(case)
    before = snapshot(case)
    capsys.readouterr()
    try:
        status = train_script.cli(argv)
    finally:  # accelerate keeps process-wide singletons
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    captured = capsys.readouterr()
    assert status == BAD_INPUT, captured.err
    assert "Traceback" not in captured.err
    assert len(error_lines(captured.err)) == 1 and captured.err.splitlines()[-1].startswith("error: "), captured.err
    assert message in captured.err, captured.err
    assert snapshot(case) == before


# ============================================================================================= signals
@pytest.mark.parametrize("signal_number, status", [(signal.SIGTERM, TERMINATED), (signal.SIGINT, INTERRUPTED)])
def test_a_signal_during_synthesis_ends_in_one_line_and_leaves_only_whole_shards(
    signal_number, status, synthetic_body_model_dir, tmp_path
):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "hub_datasets", "synthesize", str(out), "--num-samples", "400", "--seed", "0",
               "--shard-size", "2", "--image-size", "64", "64", "--body-model", str(synthetic_body_model_dir)]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    settings = out / ".conversion" / "train.json"  # written when the shards start
    while not settings.exists() and process.poll() is None:
        time.sleep(0.05)  # polling for the file, not timing the run
    process.send_signal(signal_number)
    _, err = process.communicate()
    assert process.returncode == status, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    if out.exists():  # shards finished before the signal are kept for resuming, and whole
        assert "finished by this run are kept" in err
        shards = sorted((out / "data").iterdir())
        assert shards and all(path.name.startswith("train-") for path in shards)
        assert all(pq.ParquetFile(path).metadata.num_rows == 2 for path in shards)
        assert not os.listdir(out / ".conversion" / "tmp")
