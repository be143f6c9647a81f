"""Motion QC: FD by hand, file formats, the 3 mm / 3 degree rule at its boundary, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from painmarkers.exceptions import DataError
from painmarkers.extractors import (
    MotionQC,
    MotionReport,
    framewise_displacement,
    read_motion_parameters,
)

COLS = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def test_fd_power_by_hand():
    p = np.zeros((4, 6))
    p[1] = [0.1, -0.2, 0.0, 0.001, 0.0, -0.002]
    p[2] = [0.1, -0.2, 0.3, 0.001, 0.0, -0.002]
    p[3] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # volume 1: 0.1 + 0.2 + 50 * (0.001 + 0.002) = 0.45; volume 2: 0.3;
    # volume 3: 0.1 + 0.2 + 0.3 + 50 * 0.003 = 0.75
    np.testing.assert_allclose(framewise_displacement(p), [0.0, 0.45, 0.3, 0.75], rtol=1e-12)
    np.testing.assert_allclose(framewise_displacement(p, radius_mm=80)[1],
                               0.3 + 80 * 0.003, rtol=1e-12)


def test_fd_matches_a_loop_on_random_parameters(rng):
    p = rng.normal(0, [0.2, 0.2, 0.2, 0.003, 0.003, 0.003], size=(50, 6)).cumsum(axis=0)
    expected = [0.0] + [np.abs(p[t, :3] - p[t - 1, :3]).sum()
                        + 50 * np.abs(p[t, 3:] - p[t - 1, 3:]).sum() for t in range(1, 50)]
    np.testing.assert_allclose(framewise_displacement(p), expected, rtol=1e-12)


def test_spm_fsl_and_fmriprep_formats_agree(tmp_path, rng):
    p = rng.normal(0, 0.1, size=(20, 6))
    spm = tmp_path / "rp_sub-01_bold.txt"
    np.savetxt(spm, p)
    fsl = tmp_path / "sub-01_bold_mcf.par"
    np.savetxt(fsl, p[:, [3, 4, 5, 0, 1, 2]])
    tsv = tmp_path / "sub-01_desc-confounds_timeseries.tsv"
    frame = pd.DataFrame(p, columns=COLS)
    frame["rmsd"] = np.r_[np.nan, rng.uniform(0, 0.2, 19)]
    frame.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    for source in (spm, fsl, tsv):
        np.testing.assert_allclose(read_motion_parameters(source)[COLS].to_numpy(), p,
                                   rtol=1e-8, atol=1e-12)
    report = MotionQC().assess(tsv)
    np.testing.assert_allclose(report.mean_fd_jenkinson, np.nansum(frame["rmsd"]) / 20,
                               rtol=1e-12)
    assert np.isnan(MotionQC().assess(spm).mean_fd_jenkinson)


def test_exclusion_rule_at_the_boundary():
    p = np.zeros((10, 6))
    p[3, 2] = -3.0
    p[4, 5] = np.radians(3.0)
    kept = MotionQC().assess(p)
    assert not kept.excluded and kept.reason == ""
    np.testing.assert_allclose([kept.max_translation_mm, kept.max_rotation_deg], [3.0, 3.0])
    p[3, 2] = -3.01
    out = MotionQC().assess(p)
    assert out.excluded and out.reason == "max translation 3.01 mm > 3 mm"
    p[4, 5] = np.radians(-3.2)
    assert MotionQC().assess(p).reason == ("max translation 3.01 mm > 3 mm; "
                                           "max rotation 3.20 deg > 3 deg")
    strict = MotionQC(max_translation_mm=5, max_rotation_deg=5, max_mean_fd=0.1).assess(p)
    assert strict.excluded and strict.reason.startswith("mean FD")


def test_report_frame_summary_and_atomic_save(tmp_path):
    p = np.zeros((5, 6))
    report = MotionQC().assess(p, name="sub-01 ses-pre")
    assert isinstance(report, MotionReport)
    frame = report.to_frame()
    assert list(frame.columns)[:3] == ["source", "n_volumes", "mean_fd"] and len(frame) == 1
    assert "kept" in report.summary()
    files = report.save(tmp_path / "qc")
    back = pd.read_csv(files["table"], sep="\t")
    assert back.loc[0, "n_volumes"] == 5
    assert sorted(f.name for f in (tmp_path / "qc").iterdir()) == ["motion_qc.tsv",
                                                                   "parameters.json"]
    saved = json.loads(files["parameters"].read_text())
    assert saved["type"] == "MotionReport"
    assert saved["parameters"] == {"max_translation_mm": 3.0, "max_rotation_deg": 3.0,
                                   "fd_radius_mm": 50.0, "max_mean_fd": None}
    assert saved["versions"]["numpy"] == np.__version__


def test_bad_motion_input(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_motion_parameters(tmp_path / "rp_missing.txt")
    bad = tmp_path / "rp_bad.txt"
    np.savetxt(bad, np.zeros((5, 4)))
    with pytest.raises(DataError, match=r"rp_bad\.txt.*has 4 columns; expected 6"):
        read_motion_parameters(bad)
    tsv = tmp_path / "conf.tsv"
    pd.DataFrame({"trans_x": [0.0, 1.0]}).to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataError, match=r"conf\.tsv.*lacks the motion column"):
        read_motion_parameters(tsv)
    with pytest.raises(DataError, match="must have shape"):
        read_motion_parameters(np.zeros((5, 3)))
    nan = np.zeros((5, 6))
    nan[2, 1] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        read_motion_parameters(nan)
    with pytest.raises(ValueError, match="'max_translation_mm' parameter must be in"):
        MotionQC(max_translation_mm=-1).assess(np.zeros((3, 6)))
