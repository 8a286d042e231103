"""The SMPL body model (3DPW's ground truth): the synthetic SMPL-format files (what they hold, that `smplx.SMPL`
reads them, that they look like the synthetic SMPL-X body), and `SmplBodyModel`'s reading of files as the official
release ships them (chumpy arrays, a scipy sparse regressor) or broken ones."""

import doctest
import pickle
import shutil
import sys
import types

import numpy as np
import pytest
import torch

from smplest_hf import cli
from smplest_hf.models.smplest_x.body_model import (
    BodyModelFileError,
    SmplBodyModel,
    SmplxBodyModel,
    clear_body_model_cache,
)
from smplest_hf.synthetic import __main__ as synthetic_main
from smplest_hf.synthetic import smpl_model, write_synthetic_body_model
from smplest_hf.synthetic.skeleton import rest_joints

GENDERS = ("neutral", "male", "female")
NUM_VERTICES, NUM_FACES = 6890, 13776
# SMPL's kinematic tree and the LSP-14 rows (3DPW's evaluation), as the official files and evaluators have them.
OFFICIAL_PARENTS = [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
LSP14_ROWS = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
SMPLX_KNUCKLES = {"left": [25, 28, 31, 34], "right": [40, 43, 46, 49]}  # index1, middle1, pinky1, ring1


@pytest.fixture(scope="module")
def smpl_files(synthetic_body_model_dir):
    """{gender: the arrays of smpl/SMPL_{GENDER}.pkl}, read with plain pickle (the synthetic files hold only numpy)."""
    files = {}
    for gender in GENDERS:
        with open(synthetic_body_model_dir / "smpl" / f"SMPL_{gender.upper()}.pkl", "rb") as file:
            files[gender] = pickle.load(file)
    return files


def random_pose(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "global_orient": torch.randn(count, 3, generator=generator) * 0.5,
        "body_pose": torch.randn(count, 21, 3, generator=generator) * 0.4,
        "betas": torch.randn(count, 10, generator=generator),
        "transl": torch.randn(count, 3, generator=generator),
    }


def smpl_pose(pose):
    """The SMPL-X body pose with SMPL's two hand joints at rest."""
    return torch.cat((pose["body_pose"], torch.zeros(len(pose["body_pose"]), 2, 3)), dim=1)


# ================================================================================== the synthetic files
def test_files_have_smpls_arrays_and_a_closed_surface(synthetic_body_model_dir, smpl_files):
    names = sorted(path.name for path in (synthetic_body_model_dir / "smpl").iterdir())
    assert names == ["SMPL_FEMALE.pkl", "SMPL_MALE.pkl", "SMPL_NEUTRAL.pkl"]
    for gender, arrays in smpl_files.items():
        assert arrays["v_template"].shape == (NUM_VERTICES, 3)
        assert arrays["f"].shape == (NUM_FACES, 3) and arrays["f"].max() == NUM_VERTICES - 1
        assert arrays["J_regressor"].shape == (24, NUM_VERTICES) and arrays["J_regressor"].min() >= 0
        np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-12)
        assert arrays["weights"].shape == (NUM_VERTICES, 24) and arrays["weights"].min() >= 0
        np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0, atol=1e-12)
        assert arrays["shapedirs"].shape == (NUM_VERTICES, 3, 10)
        assert arrays["posedirs"].shape == (NUM_VERTICES, 3, 207)
        np.testing.assert_array_equal(arrays["kintree_table"][0, 1:], OFFICIAL_PARENTS[1:])
        np.testing.assert_array_equal(arrays["kintree_table"][1], np.arange(24))
        assert all(isinstance(value, np.ndarray) for value in arrays.values()), gender  # no chumpy, no scipy
    # One closed, consistently oriented surface of sphere topology: every directed edge once, its reverse too.
    faces = smpl_files["neutral"]["f"].astype(np.int64)
    edges = np.concatenate((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]))
    directed = set(map(tuple, edges.tolist()))
    assert len(directed) == len(edges) and all((b, a) in directed for a, b in directed)
    assert NUM_VERTICES - len(edges) // 2 + NUM_FACES == 2  # Euler characteristic of a sphere
    assert len(np.unique(faces)) == NUM_VERTICES


def test_the_regressor_gives_the_skeleton_at_rest_and_genders_differ(smpl_files):
    joints = rest_joints()
    hands = [joints[SMPLX_KNUCKLES[side]].mean(axis=0) for side in ("left", "right")]
    expected = np.concatenate((joints[:22], hands))
    neutral = smpl_files["neutral"]
    np.testing.assert_allclose(neutral["J_regressor"] @ neutral["v_template"], expected, atol=1e-9)
    for gender in ("male", "female"):
        assert np.abs(smpl_files[gender]["v_template"] - neutral["v_template"]).max() > 0.02, gender
        rest = smpl_files[gender]["J_regressor"] @ smpl_files[gender]["v_template"]
        assert np.abs(rest - expected).max() > 0.01, gender
    assert np.abs(smpl_files["male"]["v_template"] - smpl_files["female"]["v_template"]).max() > 0.02


def test_smplx_reads_them_and_agrees_with_smpl_body_model(synthetic_body_model_dir):
    smplx = pytest.importorskip("smplx")
    pose = random_pose(3)
    for gender in GENDERS:
        reference = smplx.create(str(synthetic_body_model_dir), model_type="smpl", gender=gender)
        expected = reference(global_orient=pose["global_orient"], body_pose=smpl_pose(pose).reshape(3, -1),
                             betas=pose["betas"], transl=pose["transl"])  # fmt: skip
        ours = SmplBodyModel.from_directory(synthetic_body_model_dir, gender)(
            pose["global_orient"], smpl_pose(pose), pose["betas"], pose["transl"]
        )
        assert ours.vertices.shape == (3, NUM_VERTICES, 3) and ours.vertices.dtype == torch.float32
        torch.testing.assert_close(ours.vertices, expected.vertices, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours.joints, expected.joints[:, :24], atol=1e-6, rtol=0)
    assert SmplBodyModel.from_directory(synthetic_body_model_dir).state_dict() == {}  # licensed: never saved


def test_smpl_and_smplx_people_with_the_same_pose_and_shape_look_alike(synthetic_body_model_dir):
    pose = random_pose(4, seed=1)
    zeros = torch.zeros(4, 15, 3)
    smpl_neutral = SmplBodyModel.from_directory(synthetic_body_model_dir)
    smplx_neutral = SmplxBodyModel.from_directory(synthetic_body_model_dir)
    for gender in GENDERS:
        smpl = SmplBodyModel.from_directory(synthetic_body_model_dir, gender)(
            pose["global_orient"], smpl_pose(pose), pose["betas"]
        ).vertices
        smplx = SmplxBodyModel.from_directory(synthetic_body_model_dir, gender)(
            pose["global_orient"], pose["body_pose"], zeros, zeros, torch.zeros(4, 3), pose["betas"], torch.zeros(4, 10)
        ).vertices
        # 3DPW's joints: LSP-14 rows of each model's neutral J_regressor on its posed mesh.
        lsp_smpl = (smpl_neutral.joint_regressor @ smpl)[:, LSP14_ROWS]
        lsp_smplx = (smplx_neutral.joint_regressor @ smplx)[:, LSP14_ROWS]
        assert (lsp_smpl - lsp_smplx).norm(dim=-1).max() < 0.005, gender  # metres
        # Every SMPL vertex is an SMPL-X vertex: most coincide posed too; the fingers differ by up to ~3 cm (SMPL-X
        # curls them by its mean hand pose, SMPL has none) and pose correctives of fingers and jaw by millimetres.
        nearest = torch.cdist(smpl[0].double(), smplx[0].double()).min(dim=1).values
        assert (nearest < 1e-3).float().mean() > 0.85 and (nearest < 0.01).float().mean() > 0.97, gender
        assert nearest.max() < 0.04, gender
    rest = torch.cdist(smpl_neutral.v_template.double(), smplx_neutral.v_template.double()).min(dim=1).values
    assert rest.max() < 1e-6


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_correctives(tmp_path, synthetic_body_model_dir, capsys):
    assert cli.main(["make-synthetic-body-model", str(tmp_path / "cli")]) == 0
    assert f"{tmp_path / 'cli'}/smpl" in capsys.readouterr().out
    assert synthetic_main.main([str(tmp_path / "module")]) == 0
    for name in ("SMPL_NEUTRAL.pkl", "SMPL_MALE.pkl", "SMPL_FEMALE.pkl"):
        expected = (synthetic_body_model_dir / "smpl" / name).read_bytes()
        assert (tmp_path / "cli" / "smpl" / name).read_bytes() == expected, name
        assert (tmp_path / "module" / "smpl" / name).read_bytes() == expected, name
    assert not list((tmp_path / "cli" / "smpl").glob("*.tmp"))
    other = write_synthetic_body_model(tmp_path / "seed1", seed=1, genders=("neutral",))
    with open(other / "smpl" / "SMPL_NEUTRAL.pkl", "rb") as file:
        arrays = pickle.load(file)
    with open(synthetic_body_model_dir / "smpl" / "SMPL_NEUTRAL.pkl", "rb") as file:
        seed0 = pickle.load(file)
    np.testing.assert_array_equal(arrays["v_template"], seed0["v_template"])
    assert not np.allclose(arrays["posedirs"], seed0["posedirs"])


def test_docstring_example_runs():
    result = doctest.testmod(smpl_model, verbose=False)
    assert result.failed == 0 and result.attempted > 0


# =============================================================================== reading official files
def _write_pickle(path, arrays, protocol=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A stand-in `chumpy.ch` module whose `Ch` pickles like chumpy's (its state: `x` and bookkeeping, a set
    among it), present only while pickling: reading must not need it."""
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, np.float64)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}
            self._make_dense = False

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    package = types.ModuleType("chumpy")
    package.ch = module
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


@pytest.mark.parametrize("protocol", [0, 2])
def test_official_format_with_chumpy_arrays_and_a_sparse_regressor_reads_without_chumpy(
    tmp_path, smpl_files, fake_chumpy, monkeypatch, protocol
):
    sparse = pytest.importorskip("scipy.sparse")
    neutral = smpl_files["neutral"]
    official = dict(neutral)
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        official[key] = fake_chumpy(neutral[key])
    official["J_regressor"] = sparse.csc_matrix(neutral["J_regressor"])
    official["bs_style"], official["bs_type"] = "lbs", "lrotmin"  # strings the official files carry too
    _write_pickle(tmp_path / "official" / "smpl" / "SMPL_NEUTRAL.pkl", official, protocol)
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    _write_pickle(tmp_path / "plain" / "smpl" / "SMPL_NEUTRAL.pkl", neutral)

    pose = random_pose(2)
    outputs = [
        SmplBodyModel.from_directory(tmp_path / name)(pose["global_orient"], smpl_pose(pose), pose["betas"])
        for name in ("official", "plain")
    ]
    assert "chumpy" not in sys.modules
    torch.testing.assert_close(outputs[0].vertices, outputs[1].vertices, atol=1e-6, rtol=0)
    torch.testing.assert_close(outputs[0].joints, outputs[1].joints, atol=1e-6, rtol=0)


def test_an_npz_of_the_same_arrays_is_read_first_and_gives_the_same_body(tmp_path, smpl_files, synthetic_body_model_dir):
    folder = tmp_path / "smpl"
    folder.mkdir()
    np.savez(folder / "SMPL_NEUTRAL.npz", **smpl_files["neutral"])
    (folder / "SMPL_NEUTRAL.pkl").write_bytes(b"not a pickle")  # never read: the .npz comes first
    pose = random_pose(2)
    from_npz = SmplBodyModel.from_directory(folder)  # the `smpl/` folder itself works too
    from_pkl = SmplBodyModel.from_directory(synthetic_body_model_dir)
    assert from_npz.model_file.name == "SMPL_NEUTRAL.npz"
    torch.testing.assert_close(
        from_npz(pose["global_orient"], smpl_pose(pose), pose["betas"]).vertices,
        from_pkl(pose["global_orient"], smpl_pose(pose), pose["betas"]).vertices,
    )


# ====================================================================================== errors, by name
def test_missing_folders_and_files_are_named_with_where_to_get_them(tmp_path, synthetic_body_model_dir):
    with pytest.raises(BodyModelFileError, match="does not exist") as missing:
        SmplBodyModel.from_directory(tmp_path / "nowhere")
    assert "https://smpl.is.tue.mpg.de" in str(missing.value) and "make-synthetic-body-model" in str(missing.value)

    only_smplx = tmp_path / "only_smplx"
    (only_smplx / "smplx").mkdir(parents=True)
    with pytest.raises(BodyModelFileError) as no_folder:
        SmplBodyModel.from_directory(only_smplx)
    assert str(only_smplx / "smpl" / "SMPL_NEUTRAL.pkl") in str(no_folder.value)
    assert "https://smpl.is.tue.mpg.de" in str(no_folder.value)

    neutral_only = tmp_path / "neutral_only"
    (neutral_only / "smpl").mkdir(parents=True)
    (neutral_only / "smpl" / "SMPL_NEUTRAL.pkl").symlink_to(synthetic_body_model_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    assert SmplBodyModel.from_directory(neutral_only).v_template.shape == (NUM_VERTICES, 3)
    with pytest.raises(BodyModelFileError) as no_male:
        SmplBodyModel.from_directory(neutral_only, "male")
    assert str(neutral_only / "smpl" / "SMPL_MALE.pkl") in str(no_male.value)
    assert issubclass(BodyModelFileError, ValueError)
    with pytest.raises(ValueError, match="gender"):
        SmplBodyModel.from_directory(neutral_only, "child")


def test_malformed_files_are_refused_naming_the_array(tmp_path, smpl_files):
    def refused(arrays, match):
        clear_body_model_cache()
        path = tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
        _write_pickle(path, arrays)
        with pytest.raises(BodyModelFileError, match=match) as error:
            SmplBodyModel.from_directory(tmp_path)
        assert str(path) in str(error.value)

    neutral = smpl_files["neutral"]
    refused({**neutral, "v_template": neutral["v_template"][:6000]}, r"`v_template` has shape \(6000, 3\).*6890")
    refused({key: value for key, value in neutral.items() if key != "weights"}, r"lacks the SMPL arrays \['weights'\]")
    refused({**neutral, "f": neutral["f"] + 10}, "`f` holds values")
    refused({**neutral, "posedirs": np.full_like(neutral["posedirs"], np.nan)}, "`posedirs` contains NaN")
    refused({**neutral, "J_regressor": "a string"}, "`J_regressor` holds a str")
    refused([neutral["v_template"]], "holds a list")


class _CreatesFile:
    """Unpickled by plain pickle, it creates `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
    _write_pickle(path, {"v_template": _CreatesFile(tmp_path / "created")})
    with pytest.raises(BodyModelFileError, match="refusing"):
        SmplBodyModel.from_directory(tmp_path)
    assert not (tmp_path / "created").exists()


def test_a_cache_from_before_the_smpl_files_is_completed(tmp_path, synthetic_body_model_dir, monkeypatch):
    from smplest_hf.synthetic import cached_synthetic_body_model_dir

    shutil.copytree(synthetic_body_model_dir / "smplx", tmp_path / "synthetic_body_model" / "smplx")
    monkeypatch.setenv("SMPLEST_HF_CACHE", str(tmp_path))
    directory = cached_synthetic_body_model_dir()
    for name in ("SMPL_NEUTRAL.pkl", "SMPL_MALE.pkl", "SMPL_FEMALE.pkl"):
        assert (directory / "smpl" / name).read_bytes() == (synthetic_body_model_dir / "smpl" / name).read_bytes()
