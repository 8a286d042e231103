"""Metrics against independent computations: closed forms, scipy, and a numpy transcription of the original
per-sample evaluation loops (SMPLer-X ``HumanDataset/EHF/AGORA/UBody/PW3D.evaluate``, SMPLest-X
``HumanDataset.evaluate``) written from the formulas in ``shared/reference/eval_protocol.md``."""

import math

import numpy as np
import pytest
import torch

from smplest_hf.evaluation.metrics import (
    METRICS,
    SMPL_TARGET_METRICS,
    SMPLX_TARGET_METRICS,
    EvaluationMasks,
    MeshMetrics,
    MetricAccumulator,
    PerSampleErrors,
    SmplxEvaluationSets,
    apply_sx_hand_outlier_rule,
    hand_joint_regressor,
    mean_primary_error,
    procrustes_align,
    similarity_transform,
)

NUM_VERTICES = 10475
PELVIS, NECK, LEFT_WRIST, RIGHT_WRIST = 0, 12, 20, 21
LSP14 = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
# Hand regressor layout of the original make_hand_regressor: joint-regressor rows, ("v", id) for fingertips.
HAND_LAYOUT = {
    "left": [20, 37, 38, 39, ("v", 5361), 25, 26, 27, ("v", 4933), 28, 29, 30, ("v", 5058),
             34, 35, 36, ("v", 5169), 31, 32, 33, ("v", 5286)],
    "right": [21, 52, 53, 54, ("v", 8079), 40, 41, 42, ("v", 7669), 43, 44, 45, ("v", 7794),
              49, 50, 51, ("v", 7905), 46, 47, 48, ("v", 8022)],
}  # fmt: skip


# ============================================================================ numpy reference (independent)
def reference_rigid_align(a, b):
    """The original rigid_transform_3D + rigid_align, in numpy, from the protocol's formula."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    h = (a - mean_a).T @ (b - mean_b) / len(a)
    u, s, vt = np.linalg.svd(h)
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        s = s.copy()
        vt = vt.copy()
        s[2] = -s[2]
        vt[2] = -vt[2]
        r = vt.T @ u.T
    c = s.sum() / np.var(a, axis=0).sum()
    t = mean_b - c * r @ mean_a
    return c * a @ r.T + t


def err(x, y, valid=None):
    distances = np.sqrt(((x - y) ** 2).sum(-1)) * 1000
    return distances.mean() if valid is None else distances[valid].mean()


def reference_hand_regressor(joint_regressor, side):
    rows = []
    for entry in HAND_LAYOUT[side]:
        if isinstance(entry, tuple):  # a one-hot fingertip vertex (the original's np.eye(V)[id])
            one_hot = np.zeros(joint_regressor.shape[1])
            one_hot[entry[1]] = 1.0
            rows.append(one_hot)
        else:
            rows.append(joint_regressor[entry])
    return np.stack(rows)


def reference_sample(vp, vg, sets, vertex_valid=None, j14_valid=None, hand_joint_valid=None, hand_flags=(1, 1)):
    """One sample as the originals compute it; returns {metric: value or None (not appended)}.

    Without masks this is SMPLer-X HumanDataset/EHF/AGORA (+ SMPLest-X's mpjpe_j14 and flag-weighted hands);
    with masks it is SMPLer-X UBody.evaluate (alignment on all points, mean over the valid ones).
    """
    jr = sets["joint_regressor"]
    out = {}
    vv = np.ones(len(vg), bool) if vertex_valid is None else vertex_valid
    pelvis_p, pelvis_g = jr[PELVIS] @ vp, jr[PELVIS] @ vg
    out["pve_all"] = err(vp - pelvis_p + pelvis_g, vg, vv) if vv.any() else None
    out["pa_pve_all"] = err(reference_rigid_align(vp, vg), vg, vv) if vv.any() else None
    pve, pa = {}, {}
    for side, row, flag in (("left", LEFT_WRIST, hand_flags[0]), ("right", RIGHT_WRIST, hand_flags[1])):
        ids = sets[f"{side}_hand_vertex_ids"]
        valid = vv[ids]
        if flag and valid.any():
            pve[side] = err(vp[ids] - jr[row] @ vp + jr[row] @ vg, vg[ids], valid)
            pa[side] = err(reference_rigid_align(vp[ids], vg[ids]), vg[ids], valid)
        out[f"pve_{side}_hand"] = pve.get(side)
        out[f"pa_pve_{side}_hand"] = pa.get(side)
    out["pve_hands"] = np.mean(list(pve.values())) if pve else None
    out["pa_pve_hands"] = np.mean(list(pa.values())) if pa else None
    face = sets["face_vertex_ids"]
    if vv[face].any():
        out["pve_face"] = err(vp[face] - jr[NECK] @ vp + jr[NECK] @ vg, vg[face], vv[face])
        out["pa_pve_face"] = err(reference_rigid_align(vp[face], vg[face]), vg[face], vv[face])
    else:
        out["pve_face"] = out["pa_pve_face"] = None
    j14 = sets["j14_regressor"]
    jv = np.ones(j14.shape[0], bool) if j14_valid is None else j14_valid
    joints_g = j14 @ vg
    out["mpjpe_j14"] = err(j14 @ (vp - pelvis_p + pelvis_g), joints_g, jv) if jv.any() else None
    out["pa_mpjpe_j14"] = err(reference_rigid_align(j14 @ vp, joints_g), joints_g, jv) if jv.any() else None
    hand_pa = {}
    for side, flag in (("left", hand_flags[0]), ("right", hand_flags[1])):
        regressor = reference_hand_regressor(jr, side)
        hv = np.ones(21, bool) if hand_joint_valid is None else hand_joint_valid[side]
        if flag and hv.any():
            joints = regressor @ vg
            hand_pa[side] = err(reference_rigid_align(regressor @ vp, joints), joints, hv)
        out[f"pa_mpjpe_{side}_hand"] = hand_pa.get(side)
    out["pa_mpjpe_hands"] = np.mean(list(hand_pa.values())) if hand_pa else None
    return out


def reference_sx_hand_pa_mpjpe(vp, vg, sets, lv, rv):
    """SMPLest-X's hand PA-MPJPE block as it runs: 20 joints, wrist-relative prediction, outlier `continue`."""
    jr = sets["joint_regressor"]
    values = {}
    for side, row in (("left", LEFT_WRIST), ("right", RIGHT_WRIST)):
        regressor = reference_hand_regressor(jr, side)
        gt = (regressor @ vg)[1:]
        prediction = (regressor @ vp)[1:] - jr[row] @ vp
        values[side] = err(reference_rigid_align(prediction, gt), gt)
    kept = {"left": None, "right": None, "hands": None}
    if lv:
        if values["left"] < 100:
            kept["left"] = values["left"]
        if values["left"] > 100:
            return kept
    if rv:
        if values["right"] < 100:
            kept["right"] = values["right"]
        if values["right"] > 100:
            return kept
    if lv + rv:
        kept["hands"] = (values["left"] * lv + values["right"] * rv) / (lv + rv)
    return kept


# ================================================================================================ fixtures
def make_synthetic_sets(seed=0, num_vertices=NUM_VERTICES):
    """Index sets with the real sizes; regressor rows (convex combinations) only touch 'body' vertices,
    disjoint from the hand and face vertices, so moving a hand cannot move any root."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_vertices)
    left, right, face, body = order[:778], order[778:1556], order[1556:6579], order[6579:]

    def convex_rows(count):
        rows = np.zeros((count, num_vertices))
        for row in rows:
            support = rng.choice(body, 12, replace=False)
            weights = rng.random(12)
            row[support] = weights / weights.sum()
        return rows

    return {
        "joint_regressor": convex_rows(55),
        "j14_regressor": convex_rows(14),
        "left_hand_vertex_ids": left,
        "right_hand_vertex_ids": right,
        "face_vertex_ids": face,
    }


def to_sets(arrays, **extra):
    return SmplxEvaluationSets(**{key: torch.as_tensor(value) for key, value in {**arrays, **extra}.items()})


@pytest.fixture(scope="module")
def synthetic_sets():
    return make_synthetic_sets()


@pytest.fixture(scope="module")
def body_model_sets(synthetic_body_model_dir):
    """The index sets of the synthetic SMPL-X-format body model, as numpy arrays (float64 regressors)."""
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    body_model = SmplxBodyModel.from_directory(synthetic_body_model_dir, dtype=torch.float64)
    sets = SmplxEvaluationSets.from_body_model(body_model)
    return body_model, {
        "joint_regressor": sets.joint_regressor.numpy(),
        "j14_regressor": sets.j14_regressor.numpy(),
        "left_hand_vertex_ids": sets.left_hand_vertex_ids.numpy(),
        "right_hand_vertex_ids": sets.right_hand_vertex_ids.numpy(),
        "face_vertex_ids": sets.face_vertex_ids.numpy(),
    }


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def perturbed_pair(rng, num_samples, scale=0.01):
    """GT meshes (random clouds around a body-sized volume, metres) and noisy, moved predictions."""
    target = rng.normal(size=(num_samples, NUM_VERTICES, 3)) * np.array([0.25, 0.8, 0.15])
    predicted = np.stack(
        [(t + rng.normal(size=t.shape) * scale) @ random_rotation(rng).T * 1.05 + rng.normal(size=3) for t in target]
    )
    return predicted, target


def compare_with_reference(results, references, names):
    for name in names:
        expected = [ref[name] for ref in references]
        valid = results[name].valid.numpy()
        assert valid.tolist() == [value is not None for value in expected], name
        got = results[name].values.numpy()
        for index, value in enumerate(expected):
            if value is None:
                assert math.isnan(got[index]), name
            else:
                assert got[index] == pytest.approx(value, rel=1e-9, abs=1e-9), name


REFERENCE_NAMES = [name for name in SMPLX_TARGET_METRICS if not name.endswith("_sx")]


# ================================================================================================ Procrustes
def test_similarity_transform_matches_the_original_formula_including_reflections():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(6, 40, 3))
    target = source @ np.diag([1.0, 1.0, -1.0]) + rng.normal(size=(6, 40, 3)) * 0.3  # mirrored: det(R) < 0 in SVD
    target[:3] = rng.normal(size=(3, 40, 3))  # and a few unrelated clouds
    aligned = procrustes_align(torch.from_numpy(source), torch.from_numpy(target)).numpy()
    for index in range(len(source)):
        np.testing.assert_allclose(aligned[index], reference_rigid_align(source[index], target[index]), atol=1e-12)
    _, rotation, _ = similarity_transform(torch.from_numpy(source), torch.from_numpy(target))
    np.testing.assert_allclose(torch.linalg.det(rotation).numpy(), 1.0, atol=1e-12)  # never a reflection


def test_similarity_transform_recovers_an_exact_similarity():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(4, 100, 3))
    rotations = np.stack([random_rotation(rng) for _ in range(4)])
    scales = np.array([0.5, 1.0, 1.7, 3.0])
    shifts = rng.normal(size=(4, 3))
    target = scales[:, None, None] * np.einsum("nij,npj->npi", rotations, source) + shifts[:, None]
    scale, rotation, translation = similarity_transform(torch.from_numpy(source), torch.from_numpy(target))
    np.testing.assert_allclose(scale.numpy(), scales, rtol=1e-12)
    np.testing.assert_allclose(rotation.numpy(), rotations, atol=1e-12)
    np.testing.assert_allclose(translation.numpy(), shifts, atol=1e-12)
    rigid_scale, _, _ = similarity_transform(torch.from_numpy(source), torch.from_numpy(target), with_scale=False)
    np.testing.assert_array_equal(rigid_scale.numpy(), 1.0)


def test_similarity_transform_matches_scipy_orthogonal_procrustes():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    source = rng.normal(size=(50, 3))
    target = 1.3 * source @ random_rotation(rng).T + rng.normal(size=(50, 3)) * 0.05 + 2.0
    source_centred, target_centred = source - source.mean(0), target - target.mean(0)
    # scipy: R minimising ||A R - B||_F, and the sum of singular values of A^T B.
    scipy_rotation, singular_sum = scipy_linalg.orthogonal_procrustes(source_centred, target_centred)
    scale, rotation, _ = similarity_transform(torch.from_numpy(source), torch.from_numpy(target))
    np.testing.assert_allclose(rotation.numpy(), scipy_rotation.T, atol=1e-12)
    # Umeyama's scale: sum of singular values over the source's total squared spread.
    assert float(scale) == pytest.approx(singular_sum / (source_centred**2).sum(), rel=1e-12)


def test_procrustes_in_float32_is_accurate_to_micrometres():
    rng = np.random.default_rng(4)
    source = rng.normal(size=(2, 10475, 3)).astype(np.float32)
    target = (1.7 * source @ random_rotation(rng).T + 0.5).astype(np.float32)
    aligned = procrustes_align(torch.from_numpy(source), torch.from_numpy(target))
    assert aligned.dtype == torch.float32
    assert float((aligned - torch.from_numpy(target)).norm(dim=-1).max()) < 1e-5


# ============================================================================================ known values
@pytest.mark.parametrize("scale", [1.0, 1.1])
def test_similar_copy_has_zero_pa_errors_and_closed_form_non_pa_errors(synthetic_sets, scale):
    """Prediction = s R GT + t. Regressor rows sum to 1, so a root r of the prediction is s R r + t; after
    aligning at it the error of point x is ||(sR - I)(x - r)|| (t cancels); PA errors vanish."""
    rng = np.random.default_rng(5)
    target = rng.normal(size=(3, NUM_VERTICES, 3)) * 0.3
    rotations = np.stack([random_rotation(rng) for _ in range(3)])
    transform = scale * rotations
    shifts = rng.normal(size=(3, 1, 3))  # metres: far larger than any error measured below
    predicted = np.einsum("nij,npj->npi", transform, target) + shifts
    results = MeshMetrics(to_sets(synthetic_sets))(torch.from_numpy(predicted), torch.from_numpy(target))

    def expected(points, root):  # points (N, P, 3), root (N, 3)
        offsets = points - root[:, None]
        moved = np.einsum("nij,npj->npi", transform - np.eye(3), offsets)
        return np.linalg.norm(moved, axis=-1).mean(-1) * 1000

    jr = synthetic_sets["joint_regressor"]
    roots = {row: np.einsum("v,nvc->nc", jr[row], target) for row in (PELVIS, NECK, LEFT_WRIST, RIGHT_WRIST)}
    left, right = synthetic_sets["left_hand_vertex_ids"], synthetic_sets["right_hand_vertex_ids"]
    face = synthetic_sets["face_vertex_ids"]
    left_expected = expected(target[:, left], roots[LEFT_WRIST])
    right_expected = expected(target[:, right], roots[RIGHT_WRIST])
    j14 = np.einsum("jv,nvc->njc", synthetic_sets["j14_regressor"], target)
    want = {
        "pve_all": expected(target, roots[PELVIS]),
        "pve_left_hand": left_expected,
        "pve_right_hand": right_expected,
        "pve_hands": (left_expected + right_expected) / 2,
        "pve_face": expected(target[:, face], roots[NECK]),
        "mpjpe_j14": expected(j14, roots[PELVIS]),
    }
    for name, values in want.items():
        np.testing.assert_allclose(results[name].values.numpy(), values, rtol=1e-10, err_msg=name)
    # The roots matter: the same hand error measured at the pelvis (or the face at the pelvis) is another number.
    assert not np.allclose(expected(target[:, left], roots[PELVIS]), left_expected, rtol=1e-3)
    assert not np.allclose(expected(target[:, face], roots[PELVIS]), want["pve_face"], rtol=1e-3)
    for name in ("pa_pve_all", "pa_pve_left_hand", "pa_pve_right_hand", "pa_pve_hands", "pa_pve_face",
                 "pa_mpjpe_j14", "pa_mpjpe_left_hand", "pa_mpjpe_right_hand", "pa_mpjpe_hands"):  # fmt: skip
        np.testing.assert_allclose(results[name].values.numpy(), 0.0, atol=1e-9, err_msg=name)


def test_known_offsets_give_known_millimetres(synthetic_sets):
    rng = np.random.default_rng(6)
    target = rng.normal(size=(2, NUM_VERTICES, 3)) * 0.3
    direction = np.array([2.0, -1.0, 2.0]) / 3.0  # unit vector
    left = synthetic_sets["left_hand_vertex_ids"]
    predicted = target + 0.25  # a global shift: removed by every alignment
    predicted[:, left] += 0.005 * direction  # the left hand alone moves by 5 mm (no root depends on it)
    results = MeshMetrics(to_sets(synthetic_sets))(torch.from_numpy(predicted), torch.from_numpy(target))
    want = {
        "pve_left_hand": 5.0,
        "pve_right_hand": 0.0,
        "pve_hands": 2.5,
        "pve_all": 5.0 * 778 / NUM_VERTICES,
        "pve_face": 0.0,
        "mpjpe_j14": 0.0,
        "pa_pve_left_hand": 0.0,  # a translation of the part alone
        "pa_pve_face": 0.0,
        "pa_mpjpe_j14": 0.0,
    }
    for name, value in want.items():
        np.testing.assert_allclose(results[name].values.numpy(), value, atol=1e-9, err_msg=name)


def test_non_pa_face_error_is_measured_at_the_neck(synthetic_sets):
    """Moving the neck's support vertices by 3 mm shifts the face's root only: every face vertex is 3 mm off."""
    rng = np.random.default_rng(7)
    target = rng.normal(size=(1, NUM_VERTICES, 3)) * 0.3
    predicted = target.copy()
    neck_support = np.flatnonzero(synthetic_sets["joint_regressor"][NECK])
    predicted[:, neck_support] += np.array([0.0, 0.003, 0.0])
    results = MeshMetrics(to_sets(synthetic_sets), ["pve_face", "pa_pve_face"])(
        torch.from_numpy(predicted), torch.from_numpy(target)
    )
    assert float(results["pve_face"].values) == pytest.approx(3.0, abs=1e-9)
    assert float(results["pa_pve_face"].values) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "root_row, moved_metric, still_metrics",
    [
        (LEFT_WRIST, "pve_left_hand", ["pve_face"]),
        (RIGHT_WRIST, "pve_right_hand", ["pve_face"]),
        (NECK, "pve_face", ["pve_left_hand", "pve_right_hand"]),
    ],
)
def test_non_pa_part_errors_are_measured_at_their_roots(synthetic_sets, root_row, moved_metric, still_metrics):
    """Moving only the vertices a root is regressed from (by 4 mm) moves that root by 4 mm (its weights sum to 1);
    the part's own vertices stay put, so its root-aligned error is exactly 4 mm and its PA error 0; the other
    parts, aligned at other roots, are unaffected."""
    rng = np.random.default_rng(14)
    target = rng.normal(size=(2, NUM_VERTICES, 3)) * 0.3
    # The neck and wrist rows get disjoint supports of 12 body vertices each (outside the hands and the face).
    parts = np.concatenate([synthetic_sets[f"{part}_vertex_ids"] for part in ("left_hand", "right_hand", "face")])
    body = rng.permutation(np.setdiff1d(np.arange(NUM_VERTICES), parts))
    joint_regressor = synthetic_sets["joint_regressor"].copy()
    for index, row in enumerate((NECK, LEFT_WRIST, RIGHT_WRIST)):
        joint_regressor[row] = 0.0
        weights = rng.random(12)
        joint_regressor[row, body[12 * index : 12 * index + 12]] = weights / weights.sum()
    sets = to_sets({**synthetic_sets, "joint_regressor": joint_regressor})
    predicted = target.copy()
    predicted[:, np.flatnonzero(joint_regressor[root_row])] += 0.004 * np.array([0.6, 0.0, -0.8])
    results = MeshMetrics(sets)(torch.from_numpy(predicted), torch.from_numpy(target))
    np.testing.assert_allclose(results[moved_metric].values.numpy(), 4.0, atol=1e-9)
    np.testing.assert_allclose(results[f"pa_{moved_metric}"].values.numpy(), 0.0, atol=1e-9)
    for name in still_metrics:
        np.testing.assert_allclose(results[name].values.numpy(), 0.0, atol=1e-9, err_msg=name)


# ===================================================================== against the original loops (numpy)
def test_all_metrics_match_the_original_loops_on_the_body_model(body_model_sets):
    body_model, arrays = body_model_sets
    rng = np.random.default_rng(8)
    predicted, target = perturbed_pair(rng, 3)
    metrics = MeshMetrics.from_body_model(body_model)
    results = metrics(torch.from_numpy(predicted), torch.from_numpy(target))
    references = [reference_sample(p, t, arrays) for p, t in zip(predicted, target)]
    compare_with_reference(results, references, REFERENCE_NAMES)


def test_masks_match_the_ubody_and_hand_flag_rules(synthetic_sets):
    rng = np.random.default_rng(9)
    predicted, target = perturbed_pair(rng, 5, scale=0.02)
    vertex_valid = rng.random((5, NUM_VERTICES)) < 0.6
    vertex_valid[1, synthetic_sets["left_hand_vertex_ids"]] = False  # left hand outside the image
    vertex_valid[2] = False  # the whole person outside: the sample is skipped, not NaN-poisoning
    j14_valid = rng.random((5, 14)) < 0.7
    j14_valid[3] = False
    hand_joint_valid = {side: rng.random((5, 21)) < 0.7 for side in ("left", "right")}
    left_flag = np.array([True, True, True, False, False])
    right_flag = np.array([True, True, True, True, False])  # sample 4: no hand at all
    masks = EvaluationMasks(
        vertex_valid=torch.from_numpy(vertex_valid),
        j14_valid=torch.from_numpy(j14_valid),
        left_hand_joint_valid=torch.from_numpy(hand_joint_valid["left"]),
        right_hand_joint_valid=torch.from_numpy(hand_joint_valid["right"]),
        left_hand_valid=torch.from_numpy(left_flag),
        right_hand_valid=torch.from_numpy(right_flag),
    )
    results = MeshMetrics(to_sets(synthetic_sets))(torch.from_numpy(predicted), torch.from_numpy(target), masks)
    references = [
        reference_sample(
            predicted[n],
            target[n],
            synthetic_sets,
            vertex_valid=vertex_valid[n],
            j14_valid=j14_valid[n],
            hand_joint_valid={side: hand_joint_valid[side][n] for side in ("left", "right")},
            hand_flags=(left_flag[n], right_flag[n]),
        )
        for n in range(5)
    ]
    compare_with_reference(results, references, REFERENCE_NAMES)
    assert results["pve_left_hand"].count() == 1  # sample 0 only: 1 has no visible left hand, 2 none at all
    assert results["pve_hands"].valid.tolist() == [True, True, False, True, False]
    assert results["pve_all"].count() == 4


def test_sx_hand_pa_mpjpe_reproduces_the_outlier_rule(synthetic_sets):
    rng = np.random.default_rng(10)
    target = rng.normal(size=(8, NUM_VERTICES, 3)) * 0.3
    predicted = target + rng.normal(size=target.shape) * np.array([0.001, 0.001, 0.02, 0.3, 0.001, 0.3, 0.02, 0.3])[
        :, None, None
    ]
    left_flag = np.array([1, 1, 1, 1, 0, 1, 1, 0])
    right_flag = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    masks = EvaluationMasks(left_hand_valid=torch.from_numpy(left_flag), right_hand_valid=torch.from_numpy(right_flag))
    names = ["pa_mpjpe_left_hand_sx", "pa_mpjpe_right_hand_sx", "pa_mpjpe_hands_sx"]
    results = MeshMetrics(to_sets(synthetic_sets), names)(torch.from_numpy(predicted), torch.from_numpy(target), masks)
    references = []
    for n in range(8):
        kept = reference_sx_hand_pa_mpjpe(predicted[n], target[n], synthetic_sets, left_flag[n], right_flag[n])
        references.append({f"pa_mpjpe_{key}{'_hand' if key != 'hands' else ''}_sx": value for key, value in kept.items()})
    compare_with_reference(results, references, names)
    assert 0 < results["pa_mpjpe_hands_sx"].count() < 7  # both branches of the rule occur


def test_outlier_rule_edge_cases():
    def errors(values, valid):
        return PerSampleErrors(torch.tensor(values, dtype=torch.float64), torch.tensor(valid))

    left = errors([50.0, 150.0, 100.0, 50.0, 50.0], [True, True, True, True, False])
    right = errors([60.0, 10.0, 20.0, 120.0, 30.0], [True, True, True, True, True])
    kept_left, kept_right, kept_hands = apply_sx_hand_outlier_rule(left, right)
    assert kept_left.valid.tolist() == [True, False, False, True, False]
    assert kept_right.valid.tolist() == [True, False, True, False, True]  # a left outlier skips the right hand
    assert kept_hands.valid.tolist() == [True, False, True, False, True]
    assert kept_hands.values[2] == 60.0  # exactly 100 mm: in no hand list, but in the average
    assert kept_hands.values[4] == 30.0  # weighted by the flags


# ========================================================================================= batching
def test_batched_results_equal_per_sample_results_and_accumulate_exactly(synthetic_sets):
    rng = np.random.default_rng(11)
    predicted, target = perturbed_pair(rng, 6)
    vertex_valid = rng.random((6, NUM_VERTICES)) < 0.5
    metrics = MeshMetrics(to_sets(synthetic_sets))
    masks = EvaluationMasks(vertex_valid=torch.from_numpy(vertex_valid))
    batched = metrics(torch.from_numpy(predicted), torch.from_numpy(target), masks)
    accumulator = MetricAccumulator()
    for n in range(6):
        single = metrics(
            torch.from_numpy(predicted[n : n + 1]),
            torch.from_numpy(target[n : n + 1]),
            EvaluationMasks(vertex_valid=torch.from_numpy(vertex_valid[n : n + 1])),
        )
        accumulator.update(single)
        for name in metrics.metric_names:
            torch.testing.assert_close(single[name].values, batched[name].values[n : n + 1], rtol=1e-12, atol=1e-12, equal_nan=True)
    whole = MetricAccumulator()
    whole.update(batched)
    for name, value in whole.compute().items():
        assert accumulator.compute()[name] == pytest.approx(value, rel=1e-12)
        assert value == pytest.approx(float(batched[name].values[batched[name].valid].mean()), rel=1e-12)
    halves = MetricAccumulator()
    halves.update(metrics(torch.from_numpy(predicted[:4]), torch.from_numpy(target[:4]),
                          EvaluationMasks(vertex_valid=torch.from_numpy(vertex_valid[:4]))))  # fmt: skip
    other = MetricAccumulator()
    other.update(metrics(torch.from_numpy(predicted[4:]), torch.from_numpy(target[4:]),
                         EvaluationMasks(vertex_valid=torch.from_numpy(vertex_valid[4:]))))  # fmt: skip
    halves.merge(other)
    assert halves.counts == whole.counts
    for name, value in whole.compute().items():
        assert halves.compute()[name] == pytest.approx(value, rel=1e-12)


def test_float32_meshes_with_float64_sets_run_in_float32(synthetic_sets):
    rng = np.random.default_rng(12)
    predicted, target = perturbed_pair(rng, 2)
    metrics = MeshMetrics(to_sets(synthetic_sets))
    results32 = metrics(torch.from_numpy(predicted).float(), torch.from_numpy(target).float())
    results64 = metrics(torch.from_numpy(predicted), torch.from_numpy(target))
    for name in metrics.metric_names:
        assert results32[name].values.dtype == torch.float32
        torch.testing.assert_close(results32[name].values.double(), results64[name].values, rtol=1e-4, atol=1e-3)


# =============================================================================================== 3DPW
def test_3dpw_metrics_match_both_originals(synthetic_sets):
    rng = np.random.default_rng(13)
    smpl_regressor = rng.random((24, 6890)) * (rng.random((24, 6890)) < 0.002)
    smpl_regressor /= smpl_regressor.sum(1, keepdims=True)
    smplx_to_smpl = np.zeros((6890, NUM_VERTICES))
    smplx_to_smpl[np.arange(6890), rng.choice(NUM_VERTICES, 6890, replace=False)] = 1.0
    predicted = rng.normal(size=(3, NUM_VERTICES, 3)) * 0.3
    target = rng.normal(size=(3, 6890, 3)) * 0.3
    sets = to_sets(synthetic_sets, smpl_joint_regressor=smpl_regressor, smplx_to_smpl=smplx_to_smpl)
    names = list(SMPL_TARGET_METRICS)
    results = MeshMetrics(sets, names)(torch.from_numpy(predicted), torch.from_numpy(target))
    jx = synthetic_sets["joint_regressor"]
    for n in range(3):
        vp, vg = predicted[n], target[n]
        joints_g = (smpl_regressor @ vg)[LSP14]
        aligned = vp - jx[PELVIS] @ vp + smpl_regressor[0] @ vg
        as_smpl = smplx_to_smpl @ aligned
        smpl_joints = (smpl_regressor @ as_smpl)[LSP14]
        want = {
            # SMPLer-X PW3D.evaluate: SMPL-X joints of the mesh against SMPL joints.
            "mpjpe_lsp14": err((jx @ aligned)[LSP14], joints_g),
            "pa_mpjpe_lsp14": err(reference_rigid_align((jx @ vp)[LSP14], joints_g), joints_g),
            # SMPLest-X HumanDataset.evaluate, 6890-vertex branch.
            "pve_smpl": err(as_smpl, vg),
            "pa_pve_smpl": err(reference_rigid_align(as_smpl, vg), vg),
            "mpjpe_lsp14_sx": err(smpl_joints, joints_g),
            "pa_mpjpe_lsp14_sx": err(reference_rigid_align(smpl_joints, joints_g), joints_g),
        }
        for name, value in want.items():
            assert float(results[name].values[n]) == pytest.approx(value, rel=1e-10), name


# ====================================================================================== MPE and registry
def test_mean_primary_error_is_the_unweighted_mean():
    per_benchmark = {"agora_val": 70.0, "egobody_egoset": 60.0, "ubody": 50.0, "3dpw": 80.0, "ehf": 55.0}
    assert mean_primary_error(per_benchmark) == pytest.approx(63.0)
    assert mean_primary_error({"synthetic": np.float32(12.5)}) == pytest.approx(12.5)
    with pytest.raises(ValueError, match="at least one"):
        mean_primary_error({})
    with pytest.raises(ValueError, match="'ubody'"):
        mean_primary_error({"ehf": 50.0, "ubody": math.nan})


def test_registry_names_and_hand_regressor_layout(synthetic_sets):
    for name, metric in METRICS.items():
        assert metric.name == name and metric.title and metric.unit == "mm"
    for name in ("pve_all", "pa_pve_all", "pve_hands", "pa_pve_hands", "pve_face", "pa_pve_face", "mpjpe_j14",
                 "pa_mpjpe_j14", "mpjpe_lsp14"):  # fmt: skip
        assert callable(METRICS[name])
    assert set(SMPLX_TARGET_METRICS) | set(SMPL_TARGET_METRICS) == set(METRICS)
    assert not set(SMPLX_TARGET_METRICS) & set(SMPL_TARGET_METRICS)
    regressor = torch.from_numpy(synthetic_sets["joint_regressor"])
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            hand_joint_regressor(regressor, side).numpy(), reference_hand_regressor(synthetic_sets["joint_regressor"], side)
        )


def test_bad_inputs_raise_clear_errors(synthetic_sets):
    sets = to_sets(synthetic_sets)
    metrics = MeshMetrics(sets, ["pve_all", "pve_hands"])
    mesh = torch.zeros(2, NUM_VERTICES, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="6890"):
        metrics(mesh, torch.zeros(2, 6890, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="Batch sizes differ"):
        metrics(mesh, mesh[:1])
    with pytest.raises(ValueError, match="left_hand_valid"):
        metrics(mesh, mesh, EvaluationMasks(left_hand_valid=torch.ones(3, dtype=torch.bool)))
    with pytest.raises(ValueError, match="Unknown metric"):
        MeshMetrics(sets, ["pve_everything"])
    with pytest.raises(ValueError, match="smpl_joint_regressor"):
        MeshMetrics(sets, ["mpjpe_lsp14"])(mesh, torch.zeros(2, 6890, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="face_vertex_ids"):
        to_sets({**synthetic_sets, "face_vertex_ids": np.array([0, NUM_VERTICES])})
    with pytest.raises(ValueError, match="j14_regressor"):
        to_sets({**synthetic_sets, "j14_regressor": np.zeros((14, 100))})


def test_gendered_body_model_is_refused(synthetic_body_model_dir):
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    with pytest.raises(ValueError, match="neutral"):
        MeshMetrics.from_body_model(SmplxBodyModel.from_directory(synthetic_body_model_dir, gender="male"))


def test_one_registry_entry_holds_title_ground_truth_and_unit_of_each_metric():
    from smplest_hf.evaluation.metrics import Metric

    titles = {name: metric.title for name, metric in METRICS.items()}
    assert titles["pve_all"] == "PVE all" and titles["pa_pve_left_hand"] == "PA-PVE L-hand"
    assert titles["pa_mpjpe_hands_sx"] == "PA-MPJPE hands (SX)" and titles["pa_mpjpe_lsp14_sx"] == "PA-MPJPE (LSP-14, SX)"
    assert SMPL_TARGET_METRICS == ("mpjpe_lsp14", "pa_mpjpe_lsp14", "pve_smpl", "pa_pve_smpl", "mpjpe_lsp14_sx", "pa_mpjpe_lsp14_sx")
    assert len(SMPLX_TARGET_METRICS) == 18 and SMPLX_TARGET_METRICS[:3] == ("pve_all", "pa_pve_all", "pve_left_hand")
    with pytest.raises(TypeError):  # read-only: a metric is added by editing the registry, in one place
        METRICS["pve_everything"] = METRICS["pve_all"]
    with pytest.raises(ValueError, match="ground_truth"):
        Metric("pve_smplh", "PVE (SMPL-H)", "smplh", METRICS["pve_all"].compute)


def test_a_metric_names_the_smpl_set_it_lacks(synthetic_sets):
    rng = np.random.default_rng(0)
    sets = to_sets(synthetic_sets, smpl_joint_regressor=rng.random((24, 6890)))  # no SMPL-X -> SMPL matrix
    predicted = torch.from_numpy(rng.normal(size=(2, NUM_VERTICES, 3)))
    target = torch.from_numpy(rng.normal(size=(2, 6890, 3)))
    assert MeshMetrics(sets, ["mpjpe_lsp14"])(predicted, target)["mpjpe_lsp14"].values.shape == (2,)
    with pytest.raises(ValueError, match=r"'pve_smpl'.*SmplxEvaluationSets\.smplx_to_smpl"):
        MeshMetrics(sets, ["pve_smpl"])(predicted, target)
