"""The README, executed: every ```bash and ```python block of README.md and docs/*.md runs, in order, as written.

Placeholders become small local things in two ways, both visible here:

* the workspace (the blocks' working directory) holds files under the README's own names: `photo.jpg`,
  `photos/` + `boxes.json`, `clip.mp4`, a HumanData `agora_train.npz`, an original-format `smplest_x_h.pth.tar`,
  the stage-2 training data in `outputs/data/synthetic`;
* a local Hub endpoint (tests/local_hub.py) serves `org/smplest-x-h` (the bundled demo model) and the default
  person detector's id (a tiny random RT-DETR), and receives `push`es;
* what cannot be made under its own name (absolute paths, the body model's folder, sizes that take hours) goes
  through `SUBSTITUTIONS`, one explicit table.

A block preceded by `<!-- readme-test: skip (reason) -->` is not run (multi-GPU launches, installing packages); the
skips are counted and capped, so the test cannot pass by skipping.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
MAX_SKIPPED = 4
BODY_MODEL = "{body_model}"  # filled in per run: the synthetic body model's folder
# README text -> what runs here. Order matters only where one entry contains another.
SUBSTITUTIONS = {
    "path/to/smplx_files": BODY_MODEL,
    "path/to/body_models": BODY_MODEL,
    "human_model_files": BODY_MODEL,
    "path/or/org/repo": "org/smplest-x-h",
    "path/or/repo-of/model": "org/smplest-x-h",
    " smplest_hf/demo_model ": f" {REPO}/smplest_hf/demo_model ",
    "/data/": "{workspace}/external/",  # absolute dataset folders
    "examples/": f"{REPO}/examples/",  # the scripts, run from the workspace
    "--num-samples 4000": "--num-samples 8 --image-size 128 96",
    "--num-proc 8": "--num-proc 1",
    "total_length=100_000": "total_length=16",
    "--steps 1500": "--steps 2",
    "tiny_synthetic.yaml ": "tiny_synthetic.yaml {short_training} ",
    "tiny_synthetic_continue.yaml ": "tiny_synthetic_continue.yaml {short_training} ",
}
SHORT_TRAINING = (
    "--optimization.max_steps=2 --optimization.batch_size=4 --optimization.warmup_steps=1 --evaluation.every_steps=2 "
    "--evaluation.batch_size=4 --checkpointing.every_steps=2 --logging.every_steps=1 --data.num_workers=0"
)


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence
    language: str
    code: str
    skip_reason: str | None

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def extract_blocks(document: Path) -> list[Block]:
    """The ```bash and ```python blocks of a Markdown file, with the skip marker of the line before each."""
    lines = document.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = re.fullmatch(r"```(bash|python)\s*", lines[index])
        if opening is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        marker = SKIP_MARKER.search(lines[index - 1]) if index else None
        blocks.append(Block(document, index + 1, opening[1], "\n".join(lines[index + 1 : end]) + "\n",
                            marker["reason"].strip() if marker else None))  # fmt: skip
        index = end + 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in extract_blocks(document)]


def substitute(code: str, workspace: Path, body_model: Path) -> str:
    for text, replacement in SUBSTITUTIONS.items():
        code = code.replace(text, replacement)
    return (code.replace("{body_model}", str(body_model)).replace("{workspace}", str(workspace))
            .replace("{short_training}", SHORT_TRAINING))  # fmt: skip


def test_the_blocks_are_found_and_few_are_skipped():
    """Every document's blocks are collected (a renamed fence would drop them silently) and at most a few skip."""
    assert len(BLOCKS) >= 15 and {block.language for block in BLOCKS} == {"bash", "python"}
    skipped = [block for block in BLOCKS if block.skip_reason]
    assert len(skipped) <= MAX_SKIPPED, [f"{block.name}: {block.skip_reason}" for block in skipped]
    documents = REPO.joinpath("README.md").read_text() + "".join(path.read_text() for path in DOCUMENTS[1:])
    assert len(SKIP_MARKER.findall(documents)) == len(skipped), "a skip marker that is not right before a block"


def write_benchmark_dataset(synthetic: Path, directory: Path, benchmark) -> None:
    """The synthetic test people as `benchmark` reads them: in its split, with the ground-truth column it needs
    (stored vertices are random: the README test checks that the command runs, test_evaluation checks values)."""
    import datasets
    import numpy as np

    rows = datasets.load_dataset("parquet", data_files=str(synthetic / "data" / "test-*.parquet"), split="train")
    vertex_counts = {"smplx_vertices": 10475, "smpl_vertices": 6890}
    if benchmark.ground_truth in vertex_counts:
        count = vertex_counts[benchmark.ground_truth]
        vertices = np.random.default_rng(0).normal(size=(len(rows), count, 3)).astype(np.float32)
        features = rows.features.copy()
        features[benchmark.ground_truth] = datasets.Array2D((count, 3), "float32")
        rows = rows.map(lambda _, index: {benchmark.ground_truth: vertices[index]}, with_indices=True, features=features)
    if benchmark.ground_truth == "smpl_params":  # SMPL people in the camera frame, 4 m away
        features = rows.features.copy()
        features.update({"smpl_global_orient": datasets.List(datasets.Value("float32"), length=3),
                         "smpl_body_pose": datasets.Array2D((23, 3), "float32"),
                         "smpl_betas": datasets.List(datasets.Value("float32"), length=10),
                         "smpl_transl": datasets.List(datasets.Value("float32"), length=3)})  # fmt: skip
        rows = rows.map(lambda _: {"smpl_global_orient": [np.pi, 0.0, 0.0], "smpl_body_pose": np.zeros((23, 3), np.float32),
                                   "smpl_betas": [0.0] * 10, "smpl_transl": [0.0, 0.2, 4.0]}, features=features)  # fmt: skip
    (directory / "data").mkdir(parents=True)
    rows.to_parquet(str(directory / "data" / f"{benchmark.split}-00000-of-00001.parquet"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, synthetic_body_model_dir, local_hub):
    """The blocks' working directory with the README's inputs under their own names, and the local Hub's repos."""
    from test_convert_original_checkpoint import _original_network, _write_snapshot
    from test_hub_datasets_humandata import write_official_humandata
    from test_pipeline import write_tiny_detector

    from hub_datasets import convert_humandata
    from hub_datasets.benchmarks.conversion import synthesize_benchmark
    from hub_datasets.synthetic import synthesize_dataset
    from smplest_hf.demo_data import __file__ as demo_data_init
    from smplest_hf.evaluation.benchmarks import get_benchmark
    from smplest_hf.inference.detection import DEFAULT_DETECTOR
    from smplest_hf.inference.pipeline import BUNDLED_MODEL_DIR

    root = tmp_path_factory.mktemp("readme")
    demo_data = Path(demo_data_init).parent
    (root / "photos").mkdir()
    (root / "phone_photos").mkdir()
    for image in sorted(demo_data.glob("*.jpg")):
        shutil.copy(image, root / "photos" / image.name)
        with Image.open(image) as photo:  # as a phone stores it: the 35 mm-equivalent focal length in EXIF
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0xA405] = 26  # Exif sub-IFD, FocalLengthIn35mmFilm
            photo.save(root / "phone_photos" / image.name, exif=exif)
    shutil.copy(demo_data / "boxes.json", root / "boxes.json")
    shutil.copy(demo_data / "sample_2.jpg", root / "photo.jpg")
    shutil.copy(demo_data / "sample_2.jpg", root / "person.jpg")
    shutil.copy(REPO / "space" / "examples" / "person_moving.mp4", root / "clip.mp4")
    npz, image_root, _ = write_official_humandata(tmp_path_factory.mktemp("humandata"))
    shutil.copy(npz, root / "agora_train.npz")
    shutil.copytree(image_root, root / "external" / "agora" / "images")
    npz, image_root, _ = write_official_humandata(tmp_path_factory.mktemp("humandata"), seed=1)
    convert_humandata(npz, image_root, root / "data" / "ubody")  # the second dataset the mixing snippet reads
    _write_snapshot(root / "smplest_x_h.pth.tar", _original_network())
    synthetic = root / "outputs" / "data" / "synthetic"
    synthesize_dataset(synthetic, 16, seed=0, body_model_dir=synthetic_body_model_dir, image_size=(128, 96))
    synthesize_dataset(synthetic, 8, seed=1, body_model_dir=synthetic_body_model_dir, image_size=(128, 96), split="test")
    for name in ("ubody", "ehf", "agora_val", "egobody_egoset", "3dpw"):
        write_benchmark_dataset(synthetic, root / "external" / f"{name}_ehps", get_benchmark(name))
    # docs/results.md's recipe converts each benchmark from its official folder: stand-ins in those layouts.
    official = {"ehf": "EHF/data", "3dpw": "PW3D/data", "agora_val": "AGORA", "ubody": "UBody", "egobody_egoset": "EgoBody_root"}
    for name, folder in official.items():
        synthesize_benchmark(name, root / "external" / folder, 2, seed=0, body_model_dir=synthetic_body_model_dir)

    api = local_hub.api()
    with local_hub.active():
        for repo_id, folder in (("org/smplest-x-h", BUNDLED_MODEL_DIR),
                                (DEFAULT_DETECTOR, write_tiny_detector(tmp_path_factory.mktemp("detector")))):  # fmt: skip
            api.create_repo(repo_id)
            api.upload_folder(repo_id=repo_id, folder_path=folder)
    env = {
        **os.environ, "HF_ENDPOINT": local_hub.endpoint, "HF_TOKEN": local_hub.token, "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(root / ".hf_home"),
        "SMPLEST_HF_CACHE": str(root / ".smplest_hf_cache"), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]), "MPLBACKEND": "Agg",
    }  # fmt: skip
    return root, env, synthetic_body_model_dir, local_hub


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_runs(block, workspace):
    """The block, substituted, exits 0 (blocks of a document share the workspace, in document order)."""
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    root, env, body_model, local_hub = workspace
    code = substitute(block.code, root, body_model)
    command = ["bash", "-euo", "pipefail", "-c", code] if block.language == "bash" else [sys.executable, "-c", code]
    unhandled_before = len(local_hub.unhandled)  # the session's Hub: other tests' requests are not this block's
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{block.name} failed ({done.returncode}):\n{code}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}\n{local_hub.requests[-8:]}"
    assert not local_hub.unhandled[unhandled_before:], local_hub.unhandled[unhandled_before:]


def test_stage_two_without_stage_one_says_so_in_one_line(tmp_path):
    """examples/train.py on a config that starts from an earlier stage's missing output: one line naming it."""
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), "--config", str(REPO / "examples/configs/tiny_synthetic.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2  # bad input, by the CLI-wide convention (smplest_hf/exit_codes.py)
    assert done.stderr.strip().splitlines() == [
        "error: model.from_pretrained 'outputs/tiny_encoder_2d' does not exist yet: it is the output of an earlier "
        f"stage, {REPO / 'examples/configs/tiny_synthetic_encoder_2d.yaml'}; run that stage first (its command is "
        "at the top of that file)."
    ]
