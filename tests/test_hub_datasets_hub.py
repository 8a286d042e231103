"""Push and load: a converted directory uploads as a Hub dataset repo (README + shards only) through the real
``HfApi`` to a local Hub endpoint (tests/local_hub.py), loads back from the pushed repo's files map-style and
streaming, and splits across 2 ranks x 2 dataloader workers without overlap."""

import shutil

import pytest
import torch
from datasets import Dataset
from test_hub_datasets_humandata import NUM_SAMPLES, write_official_humandata

from hub_datasets import (
    EHPS_FEATURES,
    convert_humandata,
    load_ehps_dataset,
    push_dataset,
)

STALE_SHARD = "data/train-00000-of-00009.parquet"


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, local_hub):
    """(converted directory, pushed repo's files on the local Hub, the push's CommitInfo)."""
    directory = tmp_path_factory.mktemp("hub")
    npz, image_root, _ = write_official_humandata(directory)
    convert_humandata(npz, image_root, directory / "out", num_shards=4)
    api = local_hub.api()
    with local_hub.active():  # the session is offline otherwise
        # An earlier push with another shard count left a shard that the new push must delete.
        api.create_repo("org/toyset", repo_type="dataset")
        api.upload_file(path_or_fileobj=b"old", path_in_repo=STALE_SHARD, repo_id="org/toyset", repo_type="dataset")
        commit = push_dataset(directory / "out", "org/toyset", api=api)
    return directory, local_hub.repo_dir("org/toyset", "dataset"), commit


def _ids(dataset) -> list:
    return [row["sample_id"] for row in dataset]


def test_push_uploads_the_card_and_shards_only(pushed, local_hub):
    directory, repo, commit = pushed
    shards = [f"data/train-0000{i}-of-00004.parquet" for i in range(4)]
    files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    assert files == [".gitattributes", "README.md"] + shards  # .gitattributes: made with the repo, never deleted
    (last,) = [entry for entry in local_hub.commits if entry["oid"] == commit.oid]
    assert last["repo_id"] == "org/toyset" and last["repo_type"] == "dataset"
    assert last["added"] == ["README.md"] + shards
    assert last["deleted"] == [STALE_SHARD]
    assert last["summary"] == commit.commit_message
    assert "train: 4 shards" in commit.commit_message
    assert commit.commit_url == f"{local_hub.endpoint}/datasets/org/toyset/commit/{commit.oid}"
    for name in ["README.md"] + shards:
        assert (repo / name).read_bytes() == (directory / "out" / name).read_bytes(), name


def test_pushed_repo_loads_like_the_local_directory(pushed, tmp_path):
    directory, repo, _ = pushed
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
    repo = pushed[1]
    seen = []
    for rank in range(2):
        dataset = load_ehps_dataset(repo, streaming=streaming, rank=rank, world_size=2, decode_images=False,
                                    cache_dir=str(tmp_path))  # fmt: skip
        by_worker = _ids_by_worker(dataset)
        assert sorted(by_worker) == [0, 1], "both workers of a rank get data"
        seen += [sample_id for ids in by_worker.values() for sample_id in ids]
    assert len(seen) == len(set(seen)) == NUM_SAMPLES
    assert sorted(seen) == [f"toyset/train/{i:08d}" for i in range(NUM_SAMPLES)]


def test_push_refuses_unfinished_directories(pushed, local_hub, tmp_path):
    directory = pushed[0]
    api = local_hub.api()
    requests_before = len(local_hub.requests)
    (tmp_path / "empty").mkdir()
    partial = tmp_path / "partial"
    shutil.copytree(directory / "out", partial)
    (partial / "data" / "train-00001-of-00004.parquet").unlink()
    with local_hub.active():
        with pytest.raises(ValueError, match="holds no complete split"):
            push_dataset(tmp_path / "empty", "org/empty", api=api)
        with pytest.raises(ValueError, match=r"unfinished or other run \(train-00000-of-00004.parquet"):
            push_dataset(partial, "org/partial", api=api)
    assert local_hub.requests[requests_before:] == [], "refused before any request: no repo is created"


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

    assert cli_main(["inspect", str(pushed[1])]) == 0
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
