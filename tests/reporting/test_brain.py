"""Brain figures: slices inside the brain mask, labelled colour bars, colour maps by sign."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import ImageError
from painmarkers.reporting import (
    choose_cuts,
    colorbar_label,
    plot_glass_brain,
    plot_group_mean_maps,
    plot_stat_map,
)
from painmarkers.reporting.brain import mask_extent, mean_map

# a 4 mm MNI grid like the demo's
AFFINE = np.array([[4.0, 0, 0, -90], [0, 4, 0, -126], [0, 0, 4, -72], [0, 0, 0, 1]])
SHAPE = (46, 55, 46)


def _world(ijk):
    return (AFFINE[:3, :3] @ np.asarray(ijk, float).T + AFFINE[:3, 3:4]).T


def _brain_mask():
    """An ellipsoid 'brain' inside the grid (z from about -40 to +72 mm)."""
    ijk = np.indices(SHAPE).reshape(3, -1).T
    xyz = _world(ijk)
    inside = (((xyz[:, 0] / 68) ** 2 + ((xyz[:, 1] + 18) / 88) ** 2
               + ((xyz[:, 2] - 16) / 56) ** 2) <= 1)
    return nib.Nifti1Image(inside.reshape(SHAPE).astype(np.uint8), AFFINE)


def _mask_z_levels(mask_img, axis=2):
    ijk = np.argwhere(np.asarray(mask_img.dataobj) > 0)
    return set(np.round(_world(ijk)[:, axis], 6))


@pytest.mark.parametrize("n_cuts", [1, 4, 8, 12])
@pytest.mark.parametrize("mode", ["x", "y", "z"])
def test_brain_covering_cuts_lie_inside_the_mask(n_cuts, mode):
    mask = _brain_mask()
    axis = "xyz".index(mode)
    cuts = choose_cuts(mask, n_cuts=n_cuts, display_mode=mode)
    lo, hi = mask_extent(mask, mode)
    levels = _mask_z_levels(mask, axis)
    assert len(cuts) == n_cuts and cuts == sorted(set(cuts))
    assert all(lo <= c <= hi for c in cuts)
    assert all(round(c, 6) in levels for c in cuts)  # every cut is a slice with mask voxels
    if n_cuts >= 4:  # they cover the brain, not one end of it
        assert cuts[0] < lo + 0.3 * (hi - lo) and cuts[-1] > hi - 0.3 * (hi - lo)


def test_cuts_follow_the_largest_clusters_and_stay_in_the_mask():
    mask = _brain_mask()
    table = pd.DataFrame({
        "cluster_id": [1, 2, 3, 4, 5], "size_voxels": [10, 50, 30, 5, 40],
        "significant": [True, True, True, True, False],
        "peak_mni_x": [0.0] * 5, "peak_mni_y": [0.0] * 5,
        # cluster 4's peak is above the brain (as nilearn's automatic cuts were, z = 80-104)
        "peak_mni_z": [-8.0, 64.0, 12.0, 104.0, 20.0]})
    cuts = choose_cuts(mask, clusters=table, n_cuts=3)
    assert cuts == [-8.0, 12.0, 64.0]  # the 3 largest significant clusters, sorted
    all_cuts = choose_cuts(mask, clusters=table, n_cuts=8)
    lo, hi = mask_extent(mask, "z")
    assert hi < 104 and all(lo <= c <= hi for c in all_cuts)  # snapped into the brain
    assert 20.0 not in all_cuts  # a non-significant cluster gives no cut
    # no significant cluster: the brain-covering set
    none = table.assign(significant=False)
    assert choose_cuts(mask, clusters=none, n_cuts=5) == choose_cuts(mask, n_cuts=5)


def test_cuts_without_mask_use_the_mni_brain():
    from nilearn import datasets

    template = datasets.load_mni152_brain_mask(resolution=2)
    lo, hi = mask_extent(template, "z")
    cuts = choose_cuts(None, n_cuts=6)
    assert all(lo <= c <= hi for c in cuts)


def test_empty_mask_and_bad_arguments():
    empty = nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE)
    with pytest.raises(ImageError, match="empty"):
        choose_cuts(empty)
    with pytest.raises(ValueError, match="n_cuts"):
        choose_cuts(_brain_mask(), n_cuts=0)
    with pytest.raises(ValueError, match="display_mode"):
        choose_cuts(_brain_mask(), display_mode="ortho")


def _cluster_map(signed):
    data = np.zeros(SHAPE, np.float32)
    data[20:23, 30:33, 30:33] = 6.0  # z = 48-56 mm
    if signed:
        data[24:27, 25:28, 20:22] = -4.5  # z = 8-12 mm
    return nib.Nifti1Image(data, AFFINE)


def _colorbar(fig):
    cax = fig.axes[-1]
    mappable = cax.collections[0] if cax.collections else None
    return cax, cax.get_ylabel(), mappable


def _cut_labels(fig):
    return sorted({t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()
                   .startswith(("z=", "x=", "y="))})


def test_signed_map_diverging_centred_at_zero_with_labelled_bar():
    fig = plot_stat_map(_cluster_map(True), stat="t", df=14.0, threshold=2.0,
                        mask_img=_brain_mask(), cut_coords=[10.0, 52.0])
    cax, label, _ = _colorbar(fig)
    assert label == "t value (df = 14)"
    lo, hi = cax.get_ylim()
    assert lo == pytest.approx(-6.0) and hi == pytest.approx(6.0)
    image = [im for im in cax.get_children() if hasattr(im, "get_cmap")]
    cmaps = {getattr(c.get_cmap(), "name", "") for c in image}
    assert "RdBu_r" in cmaps
    assert _cut_labels(fig) == ["z=10", "z=52"]
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"L", "R"} <= texts  # orientation labels
    plt.close(fig)


def test_one_signed_map_sequential_from_threshold():
    fig = plot_stat_map(_cluster_map(False), label="mean mALFF", units="ratio to the brain mean",
                        threshold=1.0, mask_img=_brain_mask(), cut_coords=3)
    cax, label, _ = _colorbar(fig)
    assert label == "mean mALFF (ratio to the brain mean)"
    lo, hi = cax.get_ylim()
    assert lo == pytest.approx(1.0) and hi == pytest.approx(6.0)
    cmaps = {getattr(c.get_cmap(), "name", "") for c in cax.get_children()
             if hasattr(c, "get_cmap")}
    assert "pm_hot" in cmaps and "RdBu_r" not in cmaps
    plt.close(fig)


def _cmap_of(fig):
    """The colour map of the colour bar (matplotlib's default one belongs to no artist)."""
    cax = fig.axes[-1]
    cmaps = [c.get_cmap() for c in cax.get_children() if hasattr(c, "get_cmap")]
    named = [c for c in cmaps if c.name != "viridis"]
    assert len(named) == 1, [c.name for c in cmaps]
    return named[0]


def test_negative_map_sequential_brightest_at_the_most_negative():
    neg = nib.Nifti1Image(-np.asarray(_cluster_map(False).dataobj), AFFINE)
    fig = plot_stat_map(neg, stat="t", df=14, mask_img=_brain_mask(), cut_coords=2)
    cmap = _cmap_of(fig)
    assert cmap.name == "pm_cold"
    lo, hi = fig.axes[-1].get_ylim()
    assert lo == pytest.approx(-6.0) and hi == pytest.approx(0.0, abs=1e-9)
    assert sum(cmap(0.0)[:3]) > sum(cmap(1.0)[:3])  # -6 is brighter than -0
    plt.close(fig)


def test_signed_forced_for_a_two_tailed_map_with_one_sign():
    fig = plot_stat_map(_cluster_map(False), stat="t", df=14, mask_img=_brain_mask(),
                        cut_coords=2, signed=True)
    assert _cmap_of(fig).name == "RdBu_r"
    assert fig.axes[-1].get_ylim() == pytest.approx((-6.0, 6.0))
    plt.close(fig)


def test_montage_cuts_are_at_cluster_peaks_inside_the_mask():
    mask = _brain_mask()
    table = pd.DataFrame({"cluster_id": [1], "size_voxels": [27], "significant": [True],
                          "peak_mni_x": [-6.0], "peak_mni_y": [-6.0], "peak_mni_z": [52.0]})
    fig = plot_stat_map(_cluster_map(False), stat="t", df=20, mask_img=mask, clusters=table,
                        threshold=1e-6, cut_coords=6)
    assert _cut_labels(fig) == ["z=52"]
    fig2 = plot_stat_map(_cluster_map(False), stat="t", df=20, mask_img=mask, cut_coords=8)
    lo, hi = mask_extent(mask, "z")
    zs = [float(t[2:]) for t in _cut_labels(fig2)]
    assert len(zs) == 8 and all(lo <= z <= hi for z in zs)
    plt.close("all")


def test_empty_map_says_so_without_warnings():
    import warnings

    empty = nib.Nifti1Image(np.zeros(SHAPE, np.float32), AFFINE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_stat_map(empty, title="ALFF pre − post", threshold=1e-6, stat="t", df=14,
                            mask_img=_brain_mask(), cut_coords=3)
    assert any("no voxel above threshold" in t.get_text() for t in fig.texts)
    plt.close(fig)


def test_colorbar_labels():
    assert colorbar_label("z") == "z score"
    assert colorbar_label("F", df=(1.0, 23.0)) == "F value (df = 1, 23)"
    assert colorbar_label("t", df=27.43) == "t value (df = 27.4)"
    assert colorbar_label(label="QSM", units="ppm") == "QSM (ppm)"


def test_glass_brain_has_labelled_bar_and_keeps_sign():
    fig = plot_glass_brain(_cluster_map(True), stat="t", df=14.0, threshold=1.0)
    cax, label, _ = _colorbar(fig)
    assert label == "t value (df = 14)" and cax.get_ylim()[0] < 0
    plt.close(fig)


def test_group_mean_maps_rows_share_one_scale():
    rng = np.random.default_rng(0)
    mask = _brain_mask()
    groups = {"HC": [nib.Nifti1Image(1 + rng.random(SHAPE).astype(np.float32), AFFINE)
                     for _ in range(3)],
              "CLBP pre": [nib.Nifti1Image(1.2 + rng.random(SHAPE).astype(np.float32), AFFINE)
                           for _ in range(4)]}
    fig = plot_group_mean_maps(groups, mask_img=mask, label="mean mALFF", threshold=1.0,
                               cut_coords=4)
    cax, label, _ = _colorbar(fig)
    assert label == "mean mALFF"
    inside = np.asarray(mask.dataobj) > 0
    top = max(np.mean([g.get_fdata() for g in v], axis=0)[inside].max() for v in groups.values())
    assert cax.get_ylim() == pytest.approx((1.0, top), rel=1e-5)
    row_labels = [t.get_text() for t in fig.texts]
    assert "HC\n(n = 3)" in row_labels and "CLBP pre\n(n = 4)" in row_labels
    assert len(_cut_labels(fig)) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="rows without images"):
        plot_group_mean_maps({"HC": []})


def test_mean_map_names_the_file_on_another_grid(tmp_path):
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), tmp_path / "a.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), AFFINE), tmp_path / "b.nii.gz")
    with pytest.raises(ImageError, match=r"imgs\[1\] \(.*b\.nii\.gz\) is not on the grid of "
                                         r"imgs\[0\] \(.*a\.nii\.gz\)"):
        mean_map([tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"])


def test_mean_map_is_the_voxelwise_mean_inside_the_mask():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=SHAPE) for _ in range(3)]
    mask = _brain_mask()
    got = mean_map([nib.Nifti1Image(a, AFFINE) for a in arrays], mask).get_fdata()
    expected = np.where(np.asarray(mask.dataobj) > 0, np.mean(arrays, axis=0), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    other = nib.Nifti1Image(arrays[0], AFFINE * np.r_[2, 2, 2, 1][:, None])
    with pytest.raises(ImageError, match=r"imgs\[1\] is not on the grid"):
        mean_map([nib.Nifti1Image(arrays[0], AFFINE), other])


def _group_maps(signed=False, seed=2):
    rng = np.random.default_rng(seed)
    mask = np.asarray(_brain_mask().dataobj) > 0

    def one(offset):
        data = (offset + rng.normal(size=SHAPE) * (1.0 if signed else 0.1)) * mask
        return nib.Nifti1Image(data.astype(np.float32), AFFINE)

    return {"HC": [one(0.0 if signed else 1.0) for _ in range(2)],
            "CLBP": [one(0.3 if signed else 1.2) for _ in range(3)]}


def _contour_panels(fig):
    from matplotlib.contour import ContourSet

    return [ax for ax in fig.axes if any(isinstance(c, ContourSet) for c in ax.get_children())]


@pytest.mark.parametrize("signed", [False, True])
def test_group_mean_maps_percentile_scale_spans_the_pooled_percentiles(signed):
    groups = _group_maps(signed)
    mask = _brain_mask()
    fig = plot_group_mean_maps(groups, mask_img=mask, label="QSM", units="ppm",
                               scale="percentile", cut_coords=[0.0, 24.0])
    inside = np.asarray(mask.dataobj) > 0
    means = np.concatenate([np.mean([g.get_fdata() for g in v], axis=0)[inside]
                            for v in groups.values()])
    means = means[means != 0]
    expected = np.percentile(means, [1, 99] if signed else [2, 99.5])
    cax, label, _ = _colorbar(fig)
    assert label == "QSM (ppm)"
    np.testing.assert_allclose(cax.get_ylim(), expected, rtol=1e-5)
    assert _cmap_of(fig).name == ("gray" if signed else "inferno")
    assert _cut_labels(fig) == ["z=0", "z=24"]
    assert [t.get_text() for t in fig.texts] == ["HC\n(n = 2)", "CLBP\n(n = 3)"]
    assert not fig.legends and not _contour_panels(fig)
    plt.close(fig)


def test_group_mean_maps_outline_rois_on_every_panel():
    from painmarkers.rois import Sphere

    groups = _group_maps()
    box = np.zeros(SHAPE, np.uint8)
    box[20:26, 28:34, 24:28] = 1  # z = 24-36 mm
    rois = {"box": nib.Nifti1Image(box, AFFINE), "sphere": Sphere("sphere", (0, -10, 30), 10)}
    for scale in ("threshold", "percentile"):
        fig = plot_group_mean_maps(groups, mask_img=_brain_mask(), rois=rois, scale=scale,
                                   cut_coords=[28.0, 32.0])
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["box", "sphere"]
        colours = [h.get_color() for h in fig.legends[0].legend_handles]
        assert colours[0] != colours[1]
        # both ROIs cross both slices: every panel of both rows has outlines
        assert len(_contour_panels(fig)) == 2 * 2
        plt.close(fig)


def test_group_mean_maps_of_means_already_computed_keep_their_labels():
    groups = _group_maps()
    means = {f"{k} (n = {len(v)})": mean_map(v) for k, v in groups.items()}
    fig = plot_group_mean_maps(means, mask_img=_brain_mask(), scale="percentile",
                               cut_coords=[20.0])
    again = plot_group_mean_maps(groups, mask_img=_brain_mask(), scale="percentile",
                                 cut_coords=[20.0])
    assert [t.get_text() for t in fig.texts] == [t.get_text() for t in again.texts]
    np.testing.assert_allclose(_colorbar(fig)[0].get_ylim(), _colorbar(again)[0].get_ylim(),
                               rtol=1e-6)
    plt.close("all")


def test_group_mean_maps_refuse_options_of_the_other_scale():
    groups = _group_maps()
    with pytest.raises(ValueError, match="give neither 'threshold' nor 'bg_img'"):
        plot_group_mean_maps(groups, scale="percentile", threshold=1.0)
    with pytest.raises(ValueError, match="give neither 'threshold' nor 'bg_img'"):
        plot_group_mean_maps(groups, scale="percentile", bg_img=_brain_mask())
    with pytest.raises(ValueError, match="signed=True needs scale='percentile'"):
        plot_group_mean_maps(groups, signed=True)
    with pytest.raises(ValueError, match="'scale' parameter"):
        plot_group_mean_maps(groups, scale="robust")
    with pytest.raises(TypeError, match="'rois' parameter must map ROI names"):
        plot_group_mean_maps(groups, rois=[_brain_mask()])
    other = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), AFFINE)
    with pytest.raises(ImageError, match=r"rois\['x'\] is not on the grid of the maps"):
        plot_group_mean_maps(groups, rois={"x": other}, cut_coords=[20.0])
    plt.close("all")
