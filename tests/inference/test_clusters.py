"""Cluster labelling and cluster tables."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from painmarkers.exceptions import DataError
from painmarkers.inference import cluster_table, connectivity_structure, label_clusters
from painmarkers.inference._atlas import atlas_labels_at
from painmarkers.rois import load_atlas
from painmarkers.schema import CLUSTER_COLUMNS

MNI_2MM = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])


@pytest.mark.parametrize("conn, expected", [(6, 7), (18, 19), (26, 27)])
def test_connectivity_structure_counts(conn, expected):
    assert connectivity_structure(conn).sum() == expected


def test_connectivity_changes_labelling():
    z = np.zeros((6, 6, 6))
    z[1, 1, 1] = z[2, 2, 1] = 5.0  # edge neighbours (18-connected)
    z[4, 4, 4] = z[3, 3, 3] = 5.0  # corner neighbours (26-connected)
    n6 = label_clusters(z, 3.0, connectivity=6)[0].max()
    n18 = label_clusters(z, 3.0, connectivity=18)[0].max()
    n26 = label_clusters(z, 3.0, connectivity=26)[0].max()
    assert (n6, n18, n26) == (4, 3, 2)


def test_label_clusters_matches_scipy_and_orders_by_size():
    rng = np.random.default_rng(3)
    z = ndimage.gaussian_filter(rng.standard_normal((30, 30, 30)), 2.0) * 8
    labels, signs = label_clusters(z, 1.5, connectivity=26, two_tailed=True)
    structure = ndimage.generate_binary_structure(3, 3)
    pos, npos = ndimage.label(z > 1.5, structure)
    neg, nneg = ndimage.label(z < -1.5, structure)
    assert labels.max() == npos + nneg == len(signs)
    sizes = np.bincount(labels.ravel())[1:]
    assert np.all(np.diff(sizes) <= 0)
    ref_sizes = sorted(np.r_[np.bincount(pos.ravel())[1:], np.bincount(neg.ravel())[1:]],
                       reverse=True)
    np.testing.assert_array_equal(sizes, ref_sizes)
    for c in range(1, labels.max() + 1):
        vals = z[labels == c]
        assert np.all(np.sign(vals) == signs[c - 1])
    # one-tailed ignores negative clusters
    l1, s1 = label_clusters(z, 1.5, two_tailed=False)
    assert l1.max() == npos and np.all(s1 == 1)


def test_label_clusters_respects_mask_and_validates():
    z = np.zeros((5, 5, 5))
    z[1:4, 1:4, 1:4] = 4
    mask = np.zeros(z.shape, bool)
    mask[:, :, :2] = True
    labels, _ = label_clusters(z, 3, mask=mask)
    assert (labels > 0).sum() == 9
    with pytest.raises(ValueError, match="connectivity"):
        label_clusters(z, 3, connectivity=8)
    with pytest.raises(ValueError, match="threshold"):
        label_clusters(z, np.nan)
    with pytest.raises(DataError, match="mask has shape"):
        label_clusters(z, 3, mask=np.ones((2, 2, 2)))
    with pytest.raises(DataError, match="3-D"):
        label_clusters(np.zeros((4, 4)), 3)


def _to_mm(affine, ijk):
    return (affine @ np.r_[np.asarray(ijk, float), 1.0])[:3]


def test_cluster_table_hand_checked():
    z = np.zeros((20, 20, 20))
    z[2:5, 2:5, 2:5] = 4.0
    z[3, 3, 3] = 6.0  # peak of cluster 1
    # C-shaped negative cluster: its centre of mass lies outside the cluster
    z[10:15, 10, 10] = -4.0
    z[10, 11:14, 10] = -4.0
    z[14, 11:14, 10] = -4.0
    z[12, 11, 10] = 0.0
    z[10, 13, 10] = -7.0
    affine = np.array([[-3.0, 0, 0, 30], [0, 3, 0, -40], [0, 0, 3, -20], [0, 0, 0, 1]])
    img = nib.Nifti1Image(z, affine)
    labels, signs = label_clusters(z, 3.0)
    table = cluster_table(img, labels, signs, p_values=[0.01, 0.2], atlas=False)
    assert tuple(table.columns) == CLUSTER_COLUMNS
    big, ring = table.iloc[0], table.iloc[1]
    assert (big.size_voxels, ring.size_voxels) == (27, 11)
    assert big.size_mm3 == 27 * 27.0
    assert (big.sign, ring.sign) == (1, -1)
    assert big.peak_stat == 6.0 and ring.peak_stat == -7.0
    np.testing.assert_allclose([big.peak_mni_x, big.peak_mni_y, big.peak_mni_z],
                               _to_mm(affine, (3, 3, 3)))
    np.testing.assert_allclose([ring.peak_mni_x, ring.peak_mni_y, ring.peak_mni_z],
                               _to_mm(affine, (10, 13, 10)))
    assert list(table.significant) == [True, False]
    # centre of mass of the box is its middle voxel
    np.testing.assert_allclose([big.com_mni_x, big.com_mni_y, big.com_mni_z],
                               _to_mm(affine, (3, 3, 3)))
    # ring: the reported centre is a cluster voxel, the nearest to the true centre of mass
    vox = np.argwhere(labels == 2)
    mm = np.array([_to_mm(affine, v) for v in vox])
    com = mm.mean(axis=0)
    reported = np.array([ring.com_mni_x, ring.com_mni_y, ring.com_mni_z])
    assert any(np.allclose(reported, m) for m in mm)
    assert not any(np.allclose(com, m) for m in mm)
    np.testing.assert_allclose(np.sum((reported - com) ** 2),
                               np.min(np.sum((mm - com) ** 2, axis=1)))
    assert (table.aal == "").all()


def test_cluster_table_t_map_converts_peak_to_z():
    from scipy import stats

    t = np.zeros((6, 6, 6))
    t[2:4, 2:4, 2:4] = 5.0
    img = nib.Nifti1Image(t, np.eye(4))
    labels, signs = label_clusters(t, 3.0)
    table = cluster_table(img, labels, signs, stat="t", df=12, atlas=False)
    np.testing.assert_allclose(table.peak_z[0], stats.norm.isf(stats.t.sf(5.0, 12)),
                               rtol=1e-10)
    with pytest.raises(DataError, match="df"):
        cluster_table(img, labels, signs, stat="t", atlas=False)


def test_cluster_table_empty_and_bad_lengths():
    z = np.zeros((5, 5, 5))
    img = nib.Nifti1Image(z, np.eye(4))
    empty = cluster_table(img, np.zeros(z.shape, int))
    assert len(empty) == 0 and tuple(empty.columns) == CLUSTER_COLUMNS
    z[1, 1, 1] = 5
    labels, signs = label_clusters(z, 3)
    with pytest.raises(DataError, match="p_values has 2 entries for 1 clusters"):
        cluster_table(nib.Nifti1Image(z, np.eye(4)), labels, signs, p_values=[0.1, 0.2])
    with pytest.raises(DataError, match="labels has shape"):
        cluster_table(nib.Nifti1Image(z, np.eye(4)), np.zeros((2, 2, 2), int))


def _read_atlas(atlas):
    """An atlas read in full directly with nibabel (independent of painmarkers' cache)."""
    d = Path(load_atlas(atlas).image_path).parent
    img = nib.load(d / f"atlas_{atlas}.nii.gz")
    names = pd.read_csv(d / f"labels_{atlas}.csv")
    return np.asarray(img.dataobj), img.affine, dict(zip(names["index"], names["name"]))


def _reference_label(atlas_data, xyz):
    data, affine, names = atlas_data
    ijk = np.rint(np.linalg.inv(affine) @ np.r_[xyz, 1.0])[:3].astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(data.shape[:3])):
        return "no_label"
    if data.ndim == 3:
        v = int(data[tuple(ijk)])
        return names.get(v, "no_label") if v else "no_label"
    probs = data[ijk[0], ijk[1], ijk[2], :].astype(float)
    if probs.max() < 5:
        return "no_label"
    return f"{names[int(np.argmax(probs))]} ({probs.max():.0f}%)"


@pytest.mark.parametrize(
    "atlas", ["aal", pytest.param("harvard_oxford", marks=pytest.mark.slow)]
)
def test_atlas_labels_match_direct_reading(atlas):
    # (Harvard-Oxford is 0.5 GB unpacked: reading it in full is a slow test.)
    # seed-study peaks (Table 3 of the rTMS ALFF study), a thalamus point, and a point
    # outside the atlas box
    coords = np.array([[-47, 11, -5], [46, 15, -5], [0, 23, 65], [9, -6, 15],
                       [1, 55, -3], [12, -18, 8], [0, 0, 200]], float)
    got = atlas_labels_at(coords, atlas)
    atlas_data = _read_atlas(atlas)
    expected = [_reference_label(atlas_data, c) for c in coords]
    assert got == expected
    assert got[-1] == "no_label"
    assert sum(g != "no_label" for g in got) >= 4


def test_cluster_table_fills_atlas_columns():
    shape = (91, 109, 91)
    z = np.zeros(shape, np.float32)
    ijk = np.rint(np.linalg.inv(MNI_2MM) @ np.array([12.0, -18, 8, 1]))[:3].astype(int)
    z[ijk[0] - 1:ijk[0] + 2, ijk[1] - 1:ijk[1] + 2, ijk[2] - 1:ijk[2] + 2] = 4.0
    z[tuple(ijk)] = 5.0
    img = nib.Nifti1Image(z, MNI_2MM)
    labels, signs = label_clusters(z, 3.1)
    table = cluster_table(img, labels, signs)
    assert table.loc[0, "harvard_oxford"].startswith("Right_Thalamus")
    assert "Thal" in table.loc[0, "aal"]
