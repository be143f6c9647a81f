"""Result objects: frames, summaries and atomic saving."""

import json

import nibabel as nib
import numpy as np
import pytest

from painmarkers.inference import ClusterResult, grf_cluster_correct, smoothness_from_fwhm
from painmarkers.inference.results import _save_img, empty_cluster_table
from painmarkers.schema import CLUSTER_COLUMNS


def _result():
    z = np.zeros((12, 12, 12))
    z[3:6, 3:6, 3:6] = 6.0
    img = nib.Nifti1Image(z, np.eye(4))
    mask = nib.Nifti1Image(np.ones(z.shape, np.uint8), np.eye(4))
    return grf_cluster_correct(img, 0.001, 0.05, stat="z",
                               smoothness=smoothness_from_fwhm(2.0, 1.0, 1728), mask_img=mask,
                               atlas=False)


def test_cluster_result_fields_and_roundtrip(tmp_path):
    res = _result()
    assert isinstance(res, ClusterResult)
    assert res.n_significant == 1 and res.min_cluster_size >= 1
    paths = res.save(tmp_path)
    import pandas as pd

    table = pd.read_csv(paths["clusters"], sep="\t")
    assert tuple(table.columns) == CLUSTER_COLUMNS
    assert table.loc[0, "size_voxels"] == 27
    prov = json.loads(paths["provenance"].read_text())
    for key in ("method", "voxel_p", "cluster_p", "two_tailed", "z_threshold",
                "min_cluster_size", "connectivity", "n_mask_voxels", "smoothness", "versions"):
        assert key in prov
    assert prov["parameters"]["dlh"] == pytest.approx(res.smoothness.dlh)
    labels = nib.load(paths["cluster_labels"]).get_fdata()
    assert labels.max() == 1 and (labels == 1).sum() == 27
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    img = nib.Nifti1Image(np.zeros((2, 2, 2)), np.eye(4))
    target = tmp_path / "map.nii.gz"
    _save_img(img, target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        _save_img(nib.Nifti1Image(np.ones((2, 2, 2)), np.eye(4)), target)
    assert target.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.nii.gz"]  # no temp left


def test_empty_table_has_schema():
    table = empty_cluster_table()
    assert tuple(table.columns) == CLUSTER_COLUMNS and len(table) == 0
    assert table["significant"].dtype == bool


def test_summary_lists_significant_clusters():
    text = _result().summary()
    assert "k* =" in text and "1 significant" in text
