"""The inference API: one vocabulary (old spellings warn), the result protocol, and one design
builder and one image loader behind voxelwise and permutation inference."""

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from painmarkers._results import Result
from painmarkers._versions import versions
from painmarkers.exceptions import DataError, DesignError, ImageError
from painmarkers.inference import (
    ClusterResult,
    PermutationClusterResult,
    Smoothness,
    VoxelwiseResult,
    cluster_table,
    estimate_smoothness,
    grf_cluster_correct,
    grf_cluster_pvalue,
    grf_min_cluster_size,
    label_clusters,
    permutation_cluster_correct,
    smoothness_from_fwhm,
    voxelwise_ttest,
)

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
SHAPE = (8, 8, 6)


def _imgs(n=12, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    data = [ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.0) + shift for _ in range(n)]
    return [nib.Nifti1Image(d.astype(np.float32), AFFINE) for d in data]


def _mask():
    return nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)


# --- old spellings keep working for one release, with a FutureWarning ------------------------
def test_voxelwise_groups_and_group_order_renamed():
    imgs = _imgs()
    lab = ["a", "b"] * 6
    new = voxelwise_ttest(imgs, "two_sample", labels=lab, levels=("b", "a"),
                          estimate_smoothness=False)
    with pytest.warns(FutureWarning, match="'groups' parameter of voxelwise_ttest.*'labels'"):
        old = voxelwise_ttest(imgs, "two_sample", groups=lab, levels=("b", "a"),
                              estimate_smoothness=False)
    np.testing.assert_array_equal(old.t_img.get_fdata(), new.t_img.get_fdata())
    with pytest.warns(FutureWarning, match="'group_order'.*renamed 'levels'"):
        old = voxelwise_ttest(imgs, "two_sample", labels=lab, group_order=("b", "a"),
                              estimate_smoothness=False)
    assert old.contrast == new.contrast == "b - a"


@pytest.mark.parametrize("old, new, value", [
    ("groups", "labels", ["a", "b"] * 6),
    ("group_order", "levels", ("b", "a")),
    ("statistic", "cluster_stat", "mass"),
])
def test_permutation_renamed_parameters(old, new, value):
    kw = {"labels": ["a", "b"] * 6, "mask_img": _mask(), "n_permutations": 20,
          "random_state": 0, "atlas": False, "voxel_p": 0.05}
    ref = permutation_cluster_correct(_imgs(), "two_sample", **{**kw, new: value})
    kw.pop(new, None)
    with pytest.warns(FutureWarning, match=f"'{old}' parameter of permutation_cluster_correct"
                                           f".*'{new}'"):
        got = permutation_cluster_correct(_imgs(), "two_sample", **{**kw, old: value})
    np.testing.assert_array_equal(got.null_distribution.to_numpy(),
                                  ref.null_distribution.to_numpy())


def test_cluster_table_alpha_renamed_cluster_p():
    z = np.zeros((6, 6, 6))
    z[1:3, 1:3, 1:3] = 4.0
    labels, signs = label_clusters(z, 3.0)
    img = nib.Nifti1Image(z, np.eye(4))
    with pytest.warns(FutureWarning, match="'alpha'.*renamed 'cluster_p'"):
        old = cluster_table(img, labels, signs, p_values=[0.03], alpha=0.01, atlas=False)
    new = cluster_table(img, labels, signs, p_values=[0.03], cluster_p=0.01, atlas=False)
    assert not old.significant.iloc[0] and old.equals(new)


@pytest.mark.parametrize("func, args", [
    (grf_cluster_pvalue, (50, 0.001)),
    (grf_min_cluster_size, (0.001, 0.05)),
])
def test_grf_formulas_two_tailed_default_changed_with_warning(func, args):
    s = smoothness_from_fwhm(8.0, 2.0, 60000)
    with pytest.warns(FutureWarning, match=r"default of 'two_tailed'.*from False to True"):
        got = func(*args, s)
    assert got == func(*args, s, two_tailed=True)
    assert got != func(*args, s, two_tailed=False)


def test_grf_cluster_correct_two_tailed_by_position_warns():
    z = np.zeros((10, 10, 10))
    z[2:5, 2:5, 2:5] = 6.0
    img = nib.Nifti1Image(z, np.eye(4))
    s = smoothness_from_fwhm(2.0, 1.0, 1000)
    kw = dict(stat="z", smoothness=s, mask_img=nib.Nifti1Image(np.ones(z.shape), np.eye(4)),
              atlas=False)
    with pytest.warns(FutureWarning, match="Passing two_tailed by position"):
        old = grf_cluster_correct(img, 0.001, 0.05, False, **kw)
    new = grf_cluster_correct(img, 0.001, 0.05, two_tailed=False, **kw)
    assert old.two_tailed is False and old.min_cluster_size == new.min_cluster_size


# --- the result protocol ------------------------------------------------------------------------
def test_every_result_follows_the_protocol(tmp_path):
    imgs = _imgs(shift=0.3)
    vr = voxelwise_ttest(imgs, mask_img=_mask())
    cr = grf_cluster_correct(vr, 0.001, 0.05, atlas=False)
    pr = permutation_cluster_correct(imgs, mask_img=_mask(), n_permutations=10,
                                     random_state=0, atlas=False)
    sm = vr.smoothness
    for i, res in enumerate((vr, cr, pr, sm, smoothness_from_fwhm(6.0, 3.0, 100))):
        assert isinstance(res, Result), type(res)
        assert dict(res.versions) == versions()
        assert isinstance(res.parameters, dict | type(res.parameters))
        assert isinstance(res.summary(), str) and res.summary()
        assert res.to_frame() is not None
        out = res.save(tmp_path / str(i))
        assert isinstance(out, dict) and out
        assert all(isinstance(p, Path) and p.exists() for p in out.values())
    assert isinstance(cr, ClusterResult) and isinstance(pr, PermutationClusterResult)
    assert isinstance(vr, VoxelwiseResult) and isinstance(sm, Smoothness)
    assert sm.parameters["dof_correction"] == "fsl" and sm.parameters["dof"] == 11


# --- one design builder: the same design errors from voxelwise and permutation ----------------
BAD_DESIGNS = [
    (dict(design="paired", labels=["pre", "post"] * 5 + ["pre", "pre"],
          subjects=[i // 2 for i in range(12)]), DesignError,
     r"exactly one image per subject and condition \('pre' and 'post'\): subject 5 has 2 "
     r"image\(s\) for 'pre'; subject 5 has 0 image\(s\) for 'post'"),
    (dict(design="two_sample", labels=list("aabbcc") * 2), DesignError,
     r"needs exactly 2 levels in 'labels'; got 3"),
    (dict(design="two_sample", labels=["a", "b"] * 5), DataError,
     "'labels' has 10 entries for 12 images"),
    (dict(design="two_sample", labels=["a", "b"] * 6, levels=("a", "c")), DesignError,
     "'levels' must name the two levels"),
    (dict(design="one_sample", labels=["a", "b"] * 6), DesignError,
     "'labels' is not used by design='one_sample'"),
    (dict(design="one_sample", covariates={"sex": ["F", "M"] * 6}), DataError,
     r"covariates column 'sex' is not numeric \(values \['F', 'M'\]\); dummy-code it"),
    (dict(design="one_sample", covariates={"age": [30.0] * 11 + [None]}), DataError,
     r"covariates column 'age' has missing or non-finite value\(s\) at image\(s\) \[11\]"),
    (dict(design="one_sample", covariates={"a": np.arange(12.0), "b": 2 * np.arange(12.0)}),
     DesignError, r"column 'b' is a linear combination of \['a'\]"),
    (dict(design="paired", labels=["a", "b"] * 6, subjects=[i // 2 for i in range(12)],
          covariates={"age": np.repeat(np.arange(6.0), 2)}), DesignError,
     "'age' is constant within every subject"),
    (dict(design="one_sample", covariates=np.random.default_rng(0).normal(size=(12, 11))),
     DesignError, "leaves 0 residual degrees of freedom"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_DESIGNS)
@pytest.mark.parametrize("func", ["voxelwise", "permutation"])
def test_one_set_of_design_messages(func, kwargs, exc, match):
    kwargs = dict(kwargs)
    design = kwargs.pop("design")
    with pytest.raises(exc, match=match):
        if func == "voxelwise":
            voxelwise_ttest(_imgs(), design, **kwargs)
        else:
            permutation_cluster_correct(_imgs(), design, n_permutations=5, **kwargs)


# --- one image loader: the same mask, grid and 3-D rules everywhere ---------------------------
def _run(func, imgs, **kw):
    if func == "voxelwise":
        return voxelwise_ttest(imgs, **kw)
    return permutation_cluster_correct(imgs, n_permutations=5, random_state=0, atlas=False,
                                       **kw)


@pytest.mark.parametrize("func", ["voxelwise", "permutation"])
def test_one_set_of_loading_rules(func, tmp_path):
    imgs = _imgs(shift=5.0)
    other = nib.Nifti1Image(np.ones((8, 8, 5), np.float32), AFFINE)
    with pytest.raises(ImageError, match=r"imgs\[3\] has shape \(8, 8, 5\) but imgs\[0\] has "
                                         r"shape \(8, 8, 6\)"):
        _run(func, [*imgs[:3], other, *imgs[4:]])
    path = tmp_path / "shifted.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(imgs[0].dataobj), np.eye(4)), path)
    with pytest.raises(ImageError, match=r"imgs\[2\] \(.*shifted.nii.gz\) and imgs\[0\] have "
                                         r"different affines"):
        _run(func, [*imgs[:2], path, *imgs[3:]])
    with pytest.raises(ImageError, match="single 3-D image"):
        _run(func, imgs[0])
    with pytest.raises(DataError, match="'imgs' parameter is empty"):
        _run(func, [])
    with pytest.raises(ImageError, match="mask_img is empty: it has no voxel > 0"):
        _run(func, imgs, mask_img=nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE))
    with pytest.raises(ImageError, match=r"imgs\[0\] has shape \(8, 8, 6\) but mask_img has"):
        _run(func, imgs, mask_img=nib.Nifti1Image(np.ones((8, 8, 8), np.uint8), AFFINE))
    nan = np.asarray(imgs[4].dataobj).copy()
    nan[2, 3, 1] = np.nan
    bad = [*imgs[:4], nib.Nifti1Image(nan, AFFINE), *imgs[5:]]
    with pytest.raises(DataError, match=r"imgs\[4\] has 1 NaN/inf voxel\(s\) inside mask_img "
                                        r"\(first at voxel \(2, 3, 1\)\)"):
        _run(func, bad, mask_img=_mask())
    # implicit mask: finite and non-zero in every image; both report what was left out
    res = _run(func, bad)
    mask = np.asarray(res.mask_img.dataobj if func == "voxelwise"
                      else res.label_img.dataobj * 0 + 1)
    assert res.parameters["n_partial_coverage"] == 1
    assert res.parameters["n_voxels_excluded"] == 1
    if func == "voxelwise":
        assert mask.sum() == np.prod(SHAPE) - 1 and not mask[2, 3, 1]
    else:
        assert res.n_mask_voxels == np.prod(SHAPE) - 1
    # a fractional mask value counts (voxels > 0), as in GRF and the smoothness estimate
    frac = np.ones(SHAPE)
    frac[0] = 0.3
    frac[1] = 0.0
    got = _run(func, imgs, mask_img=nib.Nifti1Image(frac, AFFINE))
    n = got.n_voxels if func == "voxelwise" else got.n_mask_voxels
    assert n == np.prod(SHAPE) - SHAPE[1] * SHAPE[2]


@pytest.mark.filterwarnings(  # a 1-voxel FWHM is given: the GRF validity warning is expected
    "ignore:The estimated smoothness is FWHM:painmarkers.exceptions.InferenceWarning")
def test_grf_and_smoothness_use_the_same_mask_rule():
    rng = np.random.default_rng(3)
    frac = np.ones(SHAPE)
    frac[0] = 0.3
    frac[1] = 0.0
    mask = nib.Nifti1Image(frac, AFFINE)
    z = ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.0)
    img = nib.Nifti1Image(z, AFFINE)
    expected = int(np.prod(SHAPE) - SHAPE[1] * SHAPE[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smoothness of a single map
        assert estimate_smoothness(img, mask).n_voxels == expected
    res = grf_cluster_correct(img, 0.001, 0.05, stat="z", mask_img=mask, atlas=False,
                              smoothness=smoothness_from_fwhm(3.0, 3.0, 10))
    assert res.n_mask_voxels == expected
