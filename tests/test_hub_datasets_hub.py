"""Push and load: a converted directory uploads as a Hub dataset repo (README + shards only), loads back from
the repo layout map-style and streaming, and splits across 2 ranks x 2 dataloader workers without overlap."""

import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects
from test_hub_datasets_humandata import NUM_SAMPLES, write_official_humandata

from hub_datasets import EHPS_FEATURES, convert_humandata, load_ehps_dataset, push_dataset


class LocalDirectoryHubApi(HfApi):
    """The Hub's repo storage as a local folder (``root/datasets/<repo_id>``), for tests without network.

    Only the two calls ``push_dataset`` makes go here; file selection uses huggingface_hub's own
    ``filter_repo_objects`` with the arguments given, and ``delete_patterns`` removes remote files that the
    commit does not re-upload, as ``upload_folder`` documents.
    """

    def __init__(self, root: Path):
        super().__init__(endpoint="http://localhost.invalid", token=False)
        self.root = Path(root)
        self.commits = []

    def repo_dir(self, repo_id: str) -> Path:
        return self.root / "datasets" / repo_id

    def create_repo(self, repo_id, *, repo_type=None, exist_ok=False, **kwargs):
        assert repo_type == "dataset"
        path = self.repo_dir(repo_id)
        if path.exists() and not exist_ok:
            raise FileExistsError(repo_id)
        path.mkdir(parents=True, exist_ok=True)
        return f"local://{path}"

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, allow_patterns=None, ignore_patterns=None,
                      delete_patterns=None, commit_message=None, **kwargs):  # fmt: skip
        assert repo_type == "dataset"
        folder, repo = Path(folder_path), self.repo_dir(repo_id)
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        upload = list(filter_repo_objects(local, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))
        remote = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
        for name in filter_repo_objects(remote, allow_patterns=delete_patterns):
            if name not in upload:
                (repo / name).unlink()
        for name in upload:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / name, repo / name)
        self.commits.append({"message": commit_message, "files": upload})
        return f"local://{repo}"


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hub")
    npz, image_root, _ = write_official_humandata(directory)
    convert_humandata(npz, image_root, directory / "out", num_shards=4)
    api = LocalDirectoryHubApi(directory / "hub")
    stale = api.repo_dir("org/toyset") / "data" / "train-00000-of-00009.parquet"  # left by an earlier push
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    push_dataset(directory / "out", "org/toyset", api=api)
    return directory, api


def _ids(dataset) -> list:
    return [row["sample_id"] for row in dataset]


def test_push_uploads_the_card_and_shards_only(pushed):
    directory, api = pushed
    repo = api.repo_dir("org/toyset")
    files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    assert files == ["README.md"] + [f"data/train-0000{i}-of-00004.parquet" for i in range(4)]
    assert "train: 4 shards" in api.commits[0]["message"]


def test_pushed_repo_loads_like_the_local_directory(pushed, tmp_path):
    directory, api = pushed
    repo = api.repo_dir("org/toyset")
    local = load_ehps_dataset(directory / "out", decode_images=False, cache_dir=str(tmp_path / "a"))
    remote = load_ehps_dataset(repo, decode_images=False, cache_dir=str(tmp_path / "b"))
    assert list(remote.features) == list(EHPS_FEATURES)
    assert len(remote) == NUM_SAMPLES
    for name in ("sample_id", "smplx_body_pose", "keypoints_2d", "image"):
        assert remote[name][:] == local[name][:], name
    streamed = load_ehps_dataset(repo, streaming=True, decode_images=False)
    assert streamed.num_shards == 4
    assert _ids(streamed) == local["sample_id"][:]
    decoded = load_ehps_dataset(repo, cache_dir=str(tmp_path / "b"))[0]["image"]
    assert decoded.size == (32, 24)


def _ids_by_worker(dataset, num_workers=2) -> dict:
    """{worker id: sample ids} as a DataLoader with workers delivers them (the collate runs in the worker)."""

    def collate(rows):
        return torch.utils.data.get_worker_info().id, [row["sample_id"] for row in rows]

    by_worker = {}
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=num_workers, collate_fn=collate)
    for worker, ids in loader:
        by_worker.setdefault(worker, []).extend(ids)
    return by_worker


@pytest.mark.parametrize("streaming", [True, False])
def test_two_ranks_times_two_workers_see_disjoint_samples_covering_the_set(pushed, streaming, tmp_path):
    repo = pushed[1].repo_dir("org/toyset")
    seen = []
    for rank in range(2):
        dataset = load_ehps_dataset(repo, streaming=streaming, rank=rank, world_size=2, decode_images=False,
                                    cache_dir=str(tmp_path))  # fmt: skip
        by_worker = _ids_by_worker(dataset)
        assert sorted(by_worker) == [0, 1], "both workers of a rank get data"
        seen += [sample_id for ids in by_worker.values() for sample_id in ids]
    assert len(seen) == len(set(seen)) == NUM_SAMPLES
    assert sorted(seen) == [f"toyset/train/{i:08d}" for i in range(NUM_SAMPLES)]


def test_push_refuses_unfinished_directories(pushed, tmp_path):
    directory, api = pushed
    with pytest.raises(ValueError, match="holds no complete split"):
        push_dataset(tmp_path, "org/empty", api=api)
    partial = tmp_path / "partial"
    shutil.copytree(directory / "out", partial)
    (partial / "data" / "train-00001-of-00004.parquet").unlink()
    with pytest.raises(ValueError, match=r"unfinished or other run \(train-00000-of-00004.parquet"):
        push_dataset(partial, "org/partial", api=api)


def test_loading_a_non_ehps_dataset_names_the_differences(tmp_path):
    (tmp_path / "data").mkdir()
    Dataset.from_dict({"sample_id": ["a"], "keypoints": [[1.0]]}).to_parquet(
        str(tmp_path / "data" / "train-00000-of-00001.parquet")
    )
    with pytest.raises(
        ValueError, match=r"not an EHPS dataset.*missing columns \['dataset_name'.*unexpected columns \['keypoints'\]"
    ):
        load_ehps_dataset(tmp_path, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="give both rank and world_size"):
        load_ehps_dataset(tmp_path, rank=0)


def test_cli_inspect_reads_a_pushed_repo(pushed, capsys):
    from hub_datasets.__main__ import main as cli_main

    assert cli_main(["inspect", str(pushed[1].repo_dir("org/toyset"))]) == 0
    out = capsys.readouterr().out
    assert "EHPS schema; first row toyset/train/00000000 (32x24)" in out and "smplx_valid=True" in out

def test_regenerated_directory_of_the_same_name_is_not_read_from_a_stale_cache(tmp_path, synthetic_body_model_dir):
    """`load_dataset(dir)` alone caches by the folder's name; two datasets in same-named folders must differ."""
    from hub_datasets import load_ehps_dataset, synthesize_dataset

    first, second = tmp_path / "a" / "same_name", tmp_path / "b" / "same_name"
    synthesize_dataset(first, 2, seed=0, body_model_dir=synthetic_body_model_dir, image_size=(96, 64))
    synthesize_dataset(second, 2, seed=5, body_model_dir=synthetic_body_model_dir, image_size=(96, 64))
    cache = tmp_path / "cache"
    rows_first = load_ehps_dataset(first, cache_dir=str(cache))["smplx_global_orient"]
    rows_second = load_ehps_dataset(second, cache_dir=str(cache))["smplx_global_orient"]
    assert rows_first != rows_second
