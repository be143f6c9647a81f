"""Permutation inference with exchangeability blocks (FSL randomise -e, PALM -within/-whole) and
GLM designs: the rearrangement sets are valid and complete, small cases are enumerated exactly
and match a brute-force Freedman-Lane loop written here with numpy and scipy, bad
configurations are refused, and family-wise error is held on repeated-measures null maps."""

import itertools
import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import linalg, ndimage, stats

from painmarkers.exceptions import DesignError
from painmarkers.inference import permutation_cluster_correct, voxelwise_glm
from painmarkers.inference._blocks import Rearrangements, block_codes

from .conftest import smooth_fields

SHAPE = (7, 7, 5)
AFFINE = np.eye(4)


def _mask():
    return nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)


def _imgs(data):
    return [nib.Nifti1Image(d, AFFINE) for d in data]


# --- the rearrangement groups ---------------------------------------------------------------
BLOCKS = np.array([0, 0, 1, 1, 1, 2, 2, 0])  # sizes 3, 3, 2 (block 0 rows not contiguous)
EQUAL = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])  # three blocks of 3, interleaved


def _group(kind, scheme, blocks):
    """The allowed rearrangements, built independently of painmarkers (sets of tuples)."""
    n = blocks.size
    members = [np.flatnonzero(blocks == b) for b in range(blocks.max() + 1)]
    out = set()
    if scheme == "sign_flip":
        if kind == "whole":
            for signs in itertools.product((1, -1), repeat=len(members)):
                row = np.empty(n, int)
                for m, s in zip(members, signs):
                    row[m] = s
                out.add(tuple(row))
        else:
            out = set(itertools.product((1, -1), repeat=n))
        return out
    if kind == "within":
        for perms in itertools.product(*(itertools.permutations(m) for m in members)):
            row = np.empty(n, int)
            for m, p in zip(members, perms):
                row[m] = p
            out.add(tuple(row))
        return out
    for order in itertools.permutations(range(len(members))):
        row = np.empty(n, int)
        for b, target in enumerate(order):
            row[members[b]] = members[target]
        out.add(tuple(row))
    return out


@pytest.mark.parametrize("kind, scheme, blocks", [
    ("within", "permute", BLOCKS), ("within", "sign_flip", BLOCKS),
    ("whole", "permute", EQUAL), ("whole", "sign_flip", EQUAL)])
def test_enumeration_is_the_whole_group_and_draws_stay_in_it(kind, scheme, blocks):
    rearr = Rearrangements(scheme, blocks.size, blocks, kind)
    group = _group(kind, scheme, blocks)
    assert rearr.size() == len(group)
    ops = rearr.enumerate(10 ** 6)
    rows = {tuple(int(v) for v in o) for o in ops}
    identity = (tuple([1] * blocks.size) if scheme == "sign_flip"
                else tuple(range(blocks.size)))
    assert len(rows) == ops.shape[0] == len(group) - 1 and identity not in rows
    assert rows | {identity} == group and rearr.respects(ops)
    rng = np.random.default_rng(0)
    draws = rearr.draw(6000, rng)
    assert rearr.respects(draws)
    # uniform over the group (chi-square goodness of fit)
    counts = pd.Series([tuple(int(v) for v in d) for d in draws]).value_counts()
    assert set(counts.index) <= group
    full = np.array([counts.get(g, 0) for g in group])
    assert stats.chisquare(full).pvalue > 1e-3
    assert rearr.enumerate(len(group) - 2) is None


def test_respects_rejects_rearrangements_that_cross_blocks():
    within = Rearrangements("permute", 8, BLOCKS, "within")
    assert not within.respects(np.array([[2, 1, 0, 3, 4, 5, 6, 7]]))  # rows 0 and 2 swapped
    whole = Rearrangements("permute", 9, EQUAL, "whole")
    # blocks 0 and 1 swapped but the positions inside them scrambled
    assert not whole.respects(np.array([[4, 0, 2, 7, 3, 5, 1, 6, 8]]))
    assert whole.respects(np.array([[1, 0, 2, 4, 3, 5, 7, 6, 8]]))
    flips = Rearrangements("sign_flip", 9, EQUAL, "whole")
    assert not flips.respects(np.array([[1, -1, 1, 1, 1, 1, 1, 1, 1]]))
    assert flips.respects(np.array([[1, -1, 1, 1, -1, 1, 1, -1, 1]]))


def test_block_ids_and_sizes_are_checked():
    assert block_codes(["b", "a", "b", "c"], 4).tolist() == [0, 1, 0, 2]
    with pytest.raises(DesignError, match="has 3 entries for 4 images"):
        block_codes([1, 2, 3], 4)
    with pytest.raises(DesignError, match="missing block id at image"):
        block_codes([1, None, 2, 2], 4)
    with pytest.raises(DesignError, match=r"equal size.*\{0: 3, 1: 3, 2: 2\}"):
        Rearrangements("permute", 8, BLOCKS, "whole")
    assert Rearrangements("permute", 8, BLOCKS, "within").size() == 6 * 6 * 2
    assert Rearrangements("permute", 9, EQUAL, "whole").size() == math.factorial(3)


# --- exact small cases against a brute-force Freedman-Lane loop --------------------------------
def _brute_force(data, x, c, group, scheme, threshold, two_tailed=True):
    """Max |t| (max F) and max cluster size over ``group``, by Freedman-Lane with numpy.

    ``c`` is a t contrast (vector) or an F contrast (matrix, one-tailed)."""
    n = data.shape[0]
    y = data.reshape(n, -1)
    xm = np.asarray(x, float)
    cm = np.atleast_2d(c)
    z = xm @ linalg.null_space(cm)                      # the model under H0: Cβ = 0
    e = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]    # residuals of the reduced model
    pinv = np.linalg.pinv(xm)
    df = n - np.linalg.matrix_rank(xm)
    inv = np.linalg.inv(cm @ pinv @ pinv.T @ cm.T)
    structure = ndimage.generate_binary_structure(3, 3)
    max_t, max_size = [], []
    for g in group:
        g = np.asarray(g)
        ystar = e * g[:, None] if scheme == "sign_flip" else e[g]
        beta = pinv @ ystar
        resid = ystar - xm @ beta
        sigma2 = (resid ** 2).sum(0) / df
        eff = cm @ beta
        if cm.shape[0] == 1:
            t = eff[0] * np.sqrt(inv[0, 0] / sigma2)
        else:  # F = (Cβ)' [C (X'X)^+ C']^-1 (Cβ) / (k σ²)
            t = np.einsum("iv,ij,jv->v", eff, inv, eff) / (cm.shape[0] * sigma2)
            two_tailed = False
        tv = t.reshape(data.shape[1:])
        max_t.append(np.abs(t).max() if two_tailed else t.max())
        best = 0
        for sign in ((1, -1) if two_tailed else (1,)):
            lab, k = ndimage.label(sign * tv > threshold, structure)
            if k:
                best = max(best, np.bincount(lab.ravel())[1:].max())
        max_size.append(best)
    return np.array(max_t), np.array(max_size)


def _compare(res, data, x, c, group, scheme):
    thr = res.height_threshold
    max_t, max_size = _brute_force(data, x, c, group, scheme, thr)
    assert res.parameters["exhaustive"] and res.parameters["n_permutations"] == len(group) - 1
    np.testing.assert_allclose(np.sort(res.null_distribution["max_t"]), np.sort(max_t),
                               rtol=1e-10)
    np.testing.assert_array_equal(np.sort(res.null_distribution["max_size"]),
                                  np.sort(max_size))
    # exact p values: the share of the group whose maximum reaches the observed one
    obs = res.clusters
    for size, p in zip(obs["size_voxels"], obs["p_cluster"]):
        assert p == pytest.approx(np.mean(max_size >= size), abs=1e-12)


def test_within_block_permutation_is_exact_for_sessions_within_subjects():
    rng = np.random.default_rng(4)
    n_sub, visits = 4, ["pre", "post", "fu"]
    table = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(n_sub)], 3),
                          "session": pd.Categorical(visits * n_sub, visits)})
    data = (ndimage.gaussian_filter(rng.normal(size=(12, *SHAPE)), (0, 1, 1, 1))
            + np.repeat(rng.normal(size=(n_sub, *SHAPE)) * 2, 3, axis=0))
    data[table["session"] == "post", 1:4, 1:4, 1:3] += 1.2
    res = permutation_cluster_correct(
        _imgs(data), "~ session", contrast="session[T.post]", data=table,
        subject="subject_id", mask_img=_mask(), voxel_p=0.05, n_permutations=2000,
        atlas=False)
    assert res.parameters["exchangeability"] == ("permutation within blocks (4 blocks) "
                                                 "(Freedman-Lane)")
    assert res.parameters["blocks_from"] == "subjects" and res.df == 6.0
    glm = voxelwise_glm(_imgs(data), "~ session", "session[T.post]", data=table,
                        subject="subject_id", mask_img=_mask(), estimate_smoothness=False)
    np.testing.assert_allclose(res.t_img.get_fdata(),
                               glm["session[T.post]"].stat_img.get_fdata(), rtol=1e-6)
    blocks = block_codes(table["subject_id"], 12)
    group = sorted(_group("within", "permute", blocks))
    x = glm.design_matrix.to_numpy()
    c = glm["session[T.post]"].contrast.to_numpy()[0]
    _compare(res, data, x, c, group, "permute")
    # the GLM result (or its design) is the design: the same test
    for design in (glm, glm.design):
        again = permutation_cluster_correct(_imgs(data), design, contrast="session[T.post]",
                                            mask_img=_mask(), voxel_p=0.05,
                                            n_permutations=2000, atlas=False)
        np.testing.assert_array_equal(again.null_distribution, res.null_distribution)


def test_f_contrast_within_subjects_is_exact(tmp_path):
    rng = np.random.default_rng(9)
    n_sub, visits = 4, ["pre", "post", "fu"]
    table = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(n_sub)], 3),
                          "session": pd.Categorical(visits * n_sub, visits)})
    data = (ndimage.gaussian_filter(rng.normal(size=(12, *SHAPE)), (0, 1, 1, 1))
            + np.repeat(rng.normal(size=(n_sub, *SHAPE)) * 2, 3, axis=0))
    data[table["session"] == "fu", 1:4, 1:4, 1:3] += 1.2
    kw = {"data": table, "subject": "subject_id", "mask_img": _mask()}
    res = permutation_cluster_correct(_imgs(data), "~ session", contrast="session",
                                      voxel_p=0.05, n_permutations=2000, two_tailed=False,
                                      atlas=False, **kw)
    glm = voxelwise_glm(_imgs(data), "~ session", "session", estimate_smoothness=False, **kw)
    assert res.stat == "F" and res.df == (2.0, 6.0) == glm["session"].df
    assert res.t_img.header.get_intent()[:2] == ("f test", (2.0, 6.0))
    assert res.height_threshold == pytest.approx(stats.f.isf(0.05, 2, 6))
    np.testing.assert_allclose(res.t_img.get_fdata(), glm["session"].stat_img.get_fdata(),
                               rtol=1e-6)
    group = sorted(_group("within", "permute", block_codes(table["subject_id"], 12)))
    _compare(res, data, glm.design_matrix.to_numpy(), glm["session"].contrast.to_numpy(),
             group, "permute")
    assert "df = (2, 6)" in res.summary()
    files = res.save(tmp_path)
    assert files["fmap"].name == "fmap.nii.gz" and "tmap" not in files
    tfce = permutation_cluster_correct(_imgs(data), "~ session", contrast="session",
                                       cluster_stat="tfce", n_permutations=200,
                                       two_tailed=False, atlas=False, **kw)
    p = tfce.p_img.get_fdata()
    assert tfce.stat == "tfce" and p.min() >= 1 / 201 and p.max() <= 1


def test_whole_block_permutation_is_exact_for_a_between_subject_effect():
    rng = np.random.default_rng(6)
    n_sub = 5
    table = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(n_sub)], 2),
                          "group": np.repeat(["a", "b", "a", "b", "b"], 2),
                          "session": ["pre", "post"] * n_sub})
    data = (ndimage.gaussian_filter(rng.normal(size=(10, *SHAPE)), (0, 1, 1, 1))
            + np.repeat(rng.normal(size=(n_sub, *SHAPE)), 2, axis=0))
    res = permutation_cluster_correct(
        _imgs(data), "~ group + session", contrast="group[T.b]", data=table,
        exchangeability_blocks=table["subject_id"], block_permutation="whole",
        mask_img=_mask(), voxel_p=0.05, n_permutations=500, atlas=False)
    assert res.parameters["exchangeability"].startswith("permutation of whole blocks (5")
    glm = voxelwise_glm(_imgs(data), "~ group + session", "group[T.b]", data=table,
                        estimate_smoothness=False)
    blocks = block_codes(table["subject_id"], 10)
    group = sorted(_group("whole", "permute", blocks))
    assert len(group) == 120
    _compare(res, data, glm.design_matrix.to_numpy(),
             glm["group[T.b]"].contrast.to_numpy()[0], group, "permute")


def test_whole_block_sign_flips_are_exact_for_a_one_sample_glm():
    rng = np.random.default_rng(8)
    data = ndimage.gaussian_filter(rng.normal(size=(12, *SHAPE)), (0, 1, 1, 1)) + 0.3
    blocks = np.repeat(np.arange(6), 2)
    x = pd.DataFrame({"mean": np.ones(12), "visit": np.tile([-0.5, 0.5], 6)})
    res = permutation_cluster_correct(
        _imgs(data), x, contrast="mean", exchangeability_blocks=blocks,
        block_permutation="whole", mask_img=_mask(), voxel_p=0.05, n_permutations=100,
        atlas=False)
    assert res.parameters["scheme"] == "sign_flip"
    group = sorted(_group("whole", "sign_flip", blocks))
    _compare(res, data, x.to_numpy(), np.array([1.0, 0.0]), group, "sign_flip")


def test_paired_design_within_subjects_equals_sign_flipping_the_differences():
    rng = np.random.default_rng(1)
    data = ndimage.gaussian_filter(rng.normal(size=(14, *SHAPE)), (0, 1, 1, 1))
    data[::2, 2:5, 2:5, 1:4] += 1.5
    cond, subj = np.tile(["a", "b"], 7), np.repeat(np.arange(7), 2)
    kw = {"mask_img": _mask(), "voxel_p": 0.01, "n_permutations": 500, "atlas": False}
    legacy = permutation_cluster_correct(_imgs(data), "paired", labels=cond, subjects=subj,
                                         **kw)
    glm = permutation_cluster_correct(_imgs(data), pd.DataFrame({"c": np.where(
        cond == "a", 0.5, -0.5)}), contrast="c", subjects=subj, **kw)
    assert legacy.parameters["exhaustive"] and glm.parameters["exhaustive"]
    for col in ("max_t", "max_size"):
        np.testing.assert_allclose(np.sort(glm.null_distribution[col]),
                                   np.sort(legacy.null_distribution[col]), rtol=1e-10)
    np.testing.assert_allclose(glm.clusters["p_cluster"], legacy.clusters["p_cluster"])
    # the same blocks given to the paired design, by subject: the same test
    blocked = permutation_cluster_correct(_imgs(data), "paired", labels=cond,
                                          subjects=subj, exchangeability_blocks=subj, **kw)
    np.testing.assert_allclose(blocked.clusters["p_cluster"], legacy.clusters["p_cluster"])


def test_two_sample_labels_permuted_within_sites():
    rng = np.random.default_rng(2)
    data = ndimage.gaussian_filter(rng.normal(size=(12, *SHAPE)), (0, 1, 1, 1))
    labels = np.array(["p", "c"] * 6)
    site = np.repeat(["x", "y", "z"], 4)
    res = permutation_cluster_correct(_imgs(data), "two_sample", labels=labels,
                                      exchangeability_blocks=site, mask_img=_mask(),
                                      voxel_p=0.05, n_permutations=20000, atlas=False)
    assert res.parameters["exchangeability"] == "permutation within blocks (3 blocks)"
    assert res.parameters["n_permutations"] == 24 ** 3 - 1  # (4!)^3 row orders, enumerated
    group = _group("within", "permute", block_codes(site, 12))
    x = np.column_stack([labels == "p", labels == "c"]).astype(float)
    max_t, _ = _brute_force(data, x, np.array([1.0, -1.0]), sorted(group)[:50], "permute",
                            res.height_threshold)
    assert set(np.round(max_t, 8)) <= set(np.round(res.null_distribution["max_t"], 8))


# --- bad configurations -----------------------------------------------------------------------
def _trial(n_sub=6):
    table = pd.DataFrame({"subject_id": np.repeat([f"s{i}" for i in range(n_sub)], 2),
                          "arm": np.repeat(["sham", "active"], n_sub),
                          "session": ["pre", "post"] * n_sub})
    data = np.random.default_rng(0).normal(size=(2 * n_sub, *SHAPE))
    return table, _imgs(data)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"design": "~ arm + session", "contrast": "arm[T.sham]",
      "exchangeability_blocks": "subjects"},
     DesignError, "constant within every block.*block_permutation='whole'"),
    ({"design": "~ session", "contrast": "session[T.pre]", "subject": "subject_id",
      "block_permutation": "whole"},
     DesignError, "same in every block.*block_permutation='within'"),
    ({"design": "~ arm * session", "contrast": "arm[T.sham]", "subject": "subject_id"},
     DesignError, "not estimable"),
    ({"design": "~ session", "subject": "subject_id"}, DesignError, "needs 'contrast'"),
    ({"design": "~ arm * session",
      "contrast": [["session[T.pre]", "arm[T.sham]:session[T.pre]"]]},
     ValueError, "An F contrast is one-tailed: pass two_tailed=False"),
    ({"design": "~ arm * session", "contrast": ["session[T.pre]", "arm[T.sham]"]},
     DesignError, r"tests one contrast \(t or F\); got 2"),
    ({"design": "~ session", "contrast": ["session[T.pre]"], "labels": ["a"] * 12},
     DesignError, "'labels' is used with the t-test designs"),
    ({"design": "one_sample", "contrast": "x"}, DesignError, "'contrast' is used with a GLM"),
    ({"design": "one_sample", "sign_flip": False}, DesignError, "leave sign_flip=None"),
    ({"design": "one_sample", "exchangeability_blocks": [1, 2]}, DesignError,
     "has 2 entries for 12 images"),
    ({"design": "paired", "labels": ["a", "b"] * 6, "subjects": np.repeat(range(6), 2),
      "exchangeability_blocks": [0, 1] * 6}, DesignError, "same exchangeability block"),
    ({"design": "one_sample", "block_permutation": "both"}, ValueError,
     "'block_permutation' parameter"),
    ({"design": "correlation"}, ValueError, "'design' parameter"),
])
def test_bad_configurations_are_refused(kwargs, error, message):
    table, imgs = _trial()
    kwargs = dict(kwargs)
    if kwargs.get("exchangeability_blocks") == "subjects":
        kwargs["exchangeability_blocks"] = table["subject_id"]
    glm = "~" in str(kwargs.get("design"))
    with pytest.raises(error, match=message):
        permutation_cluster_correct(imgs, data=table if glm else None, n_permutations=10,
                                    atlas=False, **kwargs)


# --- family-wise error on repeated-measures null maps -------------------------------------------
def _null_trial_fwe(reps, block_permutation, contrast, seed, n_sub=12,
                    shape=(12, 12, 10)):
    """FWE (cluster size, voxel max-T) of permutation inference on null trials.

    Each data set: 12 subjects (6 sham, 6 active) x 3 visits; maps = a subject effect
    (smooth field, SD 2, shared by the subject's visits) + visit noise (smooth field, FWHM
    2 voxels); no arm, session or interaction effect.
    """
    rng = np.random.default_rng(seed)
    visits = ["pre", "post", "fu"]
    table = pd.DataFrame({
        "subject_id": np.repeat([f"s{i:02d}" for i in range(n_sub)], 3),
        "arm": pd.Categorical(np.repeat(["sham", "active"], n_sub * 3 // 2),
                              ["sham", "active"]),
        "session": pd.Categorical(visits * n_sub, visits)})
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), AFFINE)
    kw = {"data": table, "mask_img": mask, "voxel_p": 0.01, "n_permutations": 99,
          "atlas": False}
    if block_permutation == "within":
        design, kw["subject"] = "~ arm * session", "subject_id"
    else:  # between-subject contrast, subjects swapped as units
        design = "~ arm * session"
        kw.update(exchangeability_blocks=table["subject_id"], block_permutation="whole")
    hits = np.zeros(2)
    for _ in range(reps):
        subject = np.repeat(smooth_fields(rng, n_sub, shape, 2.0) * 2.0, 3, axis=0)
        data = subject + smooth_fields(rng, 3 * n_sub, shape, 2.0)
        img = nib.Nifti1Image(np.moveaxis(data, 0, -1), AFFINE)
        res = permutation_cluster_correct(img, design, contrast=contrast,
                                          random_state=int(rng.integers(2 ** 31)), **kw)
        hits[0] += res.n_significant > 0
        hits[1] += res.voxel_fwe_p_img.get_fdata().min() < 0.05
    return hits / reps


@pytest.mark.fwe
@pytest.mark.parametrize("block_permutation, contrast", [
    ("within", "arm[T.active]:session[T.post]"),
    ("whole", "arm[T.active]"),
])
def test_fwe_held_on_repeated_measures_null_maps(block_permutation, contrast):
    # 300 null data sets: the Monte-Carlo SD of a 0.05 rate is 0.0126; both the cluster-size
    # and the voxel max-T family-wise error must lie within 0.05 +- 2.6 SD
    fwe = _null_trial_fwe(300, block_permutation, contrast, seed=2024)
    assert np.all(np.abs(fwe - 0.05) < 0.033), fwe
