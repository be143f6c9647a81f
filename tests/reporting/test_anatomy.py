"""Anatomical sanity: tissue at cluster peaks, ROI sizes on the analysis grid.

The tissue classes from the Neuromorphometrics labels are checked against two
independent sources at the same coordinates: nilearn's bundled MNI152 (ICBM 2009)
grey- and white-matter probability templates and the Harvard-Oxford atlas labels.
"""

import warnings
from itertools import product

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import DataError, PainmarkersWarning
from painmarkers.reporting import describe_rois, flag_clusters, tissue_at
from painmarkers.rois import AtlasRegion, Sphere

#: coordinate -> (expected tissue, independent check)
POINTS = {
    (-38, 4, 4): "grey matter",       # left anterior insula
    (40, -20, 50): "grey matter",     # right postcentral gyrus
    (-18, -10, 24): "grey matter",    # left caudate
    (20, -10, -16): "grey matter",    # right hippocampus/amygdala
    (-28, -10, 30): "white matter",   # left centrum semiovale
    (28, -10, 30): "white matter",
    (-4, 8, 8): "ventricle",          # left lateral ventricle, frontal horn
    (18, -30, 20): "ventricle",       # right lateral ventricle, body
    (0, 0, 100): "outside the brain",
}


def _template_probabilities(coords):
    from nilearn import datasets

    gm = datasets.load_mni152_gm_template(resolution=2)
    wm = datasets.load_mni152_wm_template(resolution=2)
    inv = np.linalg.inv(gm.affine)
    out = []
    for c in coords:
        ijk = tuple(np.rint(inv @ np.r_[c, 1.0])[:3].astype(int))
        out.append((float(gm.get_fdata()[ijk]), float(wm.get_fdata()[ijk])))
    return out


def test_tissue_classes_agree_with_independent_templates():
    from painmarkers.inference._atlas import atlas_labels_at

    coords = list(POINTS)
    got = tissue_at(coords)
    assert got["tissue"].tolist() == list(POINTS.values())
    for c, (g, w), tissue in zip(coords, _template_probabilities(coords), POINTS.values(),
                                 strict=True):
        if tissue == "grey matter":
            assert g > 0.5 and g > w, c
        elif tissue == "white matter":
            assert w > 0.9 and g < 0.1, c
        else:  # ventricle or outside: neither tissue
            assert g < 0.05 and w < 0.05, c
    ho = atlas_labels_at([(-4, 8, 8), (18, -30, 20)], "harvard_oxford")
    assert all("Ventric" in label for label in ho), ho


def test_distance_to_grey_matter():
    got = tissue_at([(-38, 4, 4), (-4, 8, 8), (0, 0, 100)])
    assert got["grey_matter_mm"].iloc[0] == 0
    # the frontal horn borders the caudate: grey matter within a few mm
    assert 0 < got["grey_matter_mm"].iloc[1] < 6
    assert np.isnan(got["grey_matter_mm"].iloc[2])  # none within 10 mm of the scalp point
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        tissue_at([[1.0, 2.0]])


def test_flag_clusters_marks_peaks_outside_grey_matter():
    table = pd.DataFrame({"cluster_id": [1, 2, 3, 4], "significant": [True] * 4,
                          "peak_mni_x": [-38.0, -4.0, -28.0, 0.0],
                          "peak_mni_y": [4.0, 8.0, -10.0, 0.0],
                          "peak_mni_z": [4.0, 8.0, 30.0, 100.0]})
    out = flag_clusters(table)
    assert out["tissue"].tolist() == ["grey matter", "ventricle", "white matter",
                                      "outside the brain"]
    flags = out["anatomy_flag"].tolist()
    assert flags[0] == ""
    assert flags[1].startswith("peak in ventricle (Left_Lateral_Ventricle); nearest grey "
                               "matter")
    assert flags[2].startswith("peak in white matter (Left_Cerebral_White_Matter)")
    assert flags[3] == "peak outside the brain; no grey matter within 10 mm"
    assert list(table.columns) == list(out.columns[:len(table.columns)])  # input untouched
    assert "tissue" not in table
    empty = flag_clusters(table.iloc[:0])
    assert len(empty) == 0 and "anatomy_flag" in empty
    with pytest.raises(DataError, match="peak_mni_z"):
        flag_clusters(table.drop(columns="peak_mni_z"))


def _grid(voxel=4.0, shape=(46, 55, 46), origin=(-90, -126, -72)):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = origin
    return nib.Nifti1Image(np.ones(shape, np.uint8), affine)


def _count_sphere(center, radius, img):
    """Voxel centres within radius (brute force), plus the nearest voxel (painmarkers' rule)."""
    shape, aff = img.shape, img.affine
    n = 0
    for ijk in product(*(range(s) for s in shape)):
        xyz = aff[:3, :3] @ np.array(ijk, float) + aff[:3, 3]
        n += np.sum((xyz - center) ** 2) <= radius ** 2 + 1e-9
    nearest = np.rint(np.linalg.solve(aff, np.r_[center, 1.0])[:3])
    xyz = aff[:3, :3] @ nearest + aff[:3, 3]
    return n + (np.sum((xyz - center) ** 2) > radius ** 2 + 1e-9)


def test_roi_sizes_in_voxels_and_mm3_and_small_roi_warning():
    grid = _grid(4.0, (24, 28, 24), (-60, -40, -40))  # small: the brute-force count is quick
    rois = [Sphere("INS_L", (-47, 11, -5), 3.0), Sphere("big", (-2, -18, 10), 9.0)]
    with pytest.warns(PainmarkersWarning, match=r"smaller than 4 voxels .*4x4x4 mm.*INS_L "
                                                r"\(1 voxel\)") as rec:
        table = describe_rois(rois, grid)
    assert len([w for w in rec if issubclass(w.category, PainmarkersWarning)]) == 1
    expected = [_count_sphere(np.array(r.center_mni), r.radius_mm, grid) for r in rois]
    assert table["n_voxels"].tolist() == expected
    assert table["volume_mm3"].tolist() == [64.0 * n for n in expected]
    assert table["small"].tolist() == [True, False]
    assert table.loc[0, "definition"] == "sphere of radius 3 mm"
    assert (table.loc[0, ["centre_x", "centre_y", "centre_z"]].tolist() == [-47, 11, -5])


def test_atlas_region_centre_and_no_warning_when_large():
    grid = _grid(4.0)
    roi = AtlasRegion("aal", "Precentral_L")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = describe_rois([roi], grid, min_voxels=4)
    row = table.iloc[0]
    mask = roi.to_mask(grid)
    ijk = np.argwhere(mask)
    centre = grid.affine[:3, :3] @ ijk.mean(axis=0) + grid.affine[:3, 3]
    assert row["n_voxels"] == mask.sum() > 100
    np.testing.assert_allclose(row[["centre_x", "centre_y", "centre_z"]].to_numpy(float),
                               centre, rtol=0, atol=1e-9)
    assert row["centre_x"] < 0  # left hemisphere
    assert row["definition"] == "AAL region Precentral_L" and row["kind"] == "atlas region"


def test_roi_outside_the_mask_counts_zero_and_warns():
    grid = _grid(4.0, (24, 28, 24))
    mask = nib.Nifti1Image(np.zeros((24, 28, 24), np.uint8), grid.affine)
    mask.dataobj[0, 0, 0] = 1
    with pytest.warns(PainmarkersWarning, match=r"far \(0 voxels\)"):
        table = describe_rois([Sphere("far", (0, 0, 0), 3.0)], grid, mask_img=mask)
    assert table["n_voxels"].tolist() == [0] and table["small"].all()
    with pytest.raises(ValueError, match="min_voxels"):
        describe_rois([Sphere("far", (0, 0, 0), 3.0)], grid, min_voxels=0)
