"""icc_map's upper confidence limits against pingouin, voxel by voxel, for every form
(test_reliability.py compares ICC, F, p and the lower limit)."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from painmarkers.stats.reliability import icc_map

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning",
                                        "ignore::pandas.errors.Pandas4Warning")

FORMS = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")


def test_icc_map_ci_high_equals_pingouin_per_voxel():
    rng = np.random.default_rng(12)
    n, k, v = 12, 3, 5
    y = rng.normal(size=(n, 1, v)) + 0.7 * rng.normal(size=(n, k, v)) + np.linspace(0, 0.5, k)[
        None, :, None]
    old = pg.options.get("round")
    pg.options["round"] = None
    try:
        refs = [pg.intraclass_corr(pd.DataFrame({
            "subject_id": np.repeat(np.arange(n), k), "session": np.tile(np.arange(k), n),
            "alff": y[:, :, j].ravel()}), "subject_id", "session", "alff").set_index("Type")
            for j in range(v)]
    finally:
        pg.options["round"] = old
    for form in FORMS:
        res = icc_map(y, form)
        ref_low = np.array([r.loc[form, "CI95"][0] for r in refs])
        ref_high = np.array([r.loc[form, "CI95"][1] for r in refs])
        # pingouin rounds its CI to 2 decimals whatever options["round"] says
        np.testing.assert_allclose(res.ci_high, ref_high, atol=0.005 + 1e-12, err_msg=form)
        np.testing.assert_allclose(res.ci_low, ref_low, atol=0.005 + 1e-12, err_msg=form)
        assert (res.ci_low <= res.icc).all() and (res.icc <= res.ci_high).all()
