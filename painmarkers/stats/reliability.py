"""Test-retest reliability: intraclass correlation coefficients (ICC).

:func:`icc` gives the six Shrout & Fleiss / McGraw & Wong forms of one measure
(e.g. an ROI's ALFF across two sessions) as a tidy table; :func:`icc_map` gives
the same numbers for every voxel at once, from an array or from images.

Both are implemented from the two-way ANOVA mean squares (McGraw & Wong 1996),
vectorised over voxels; the numbers equal ``pingouin.intraclass_corr`` (tested).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._atomic import atomic_write
from painmarkers._deprecation import deprecate_positional, rename_parameters
from painmarkers._docs import fill_doc
from painmarkers._results import save_parameters
from painmarkers._validation import (
    check_choice,
    check_columns,
    check_confidence,
    check_img,
    check_same_grid,
)
from painmarkers._versions import versions
from painmarkers.exceptions import DataError, DesignError
from painmarkers.model import Cohort
from painmarkers.schema import ICC_COLUMNS, measure_column
from painmarkers.stats._data import as_table, format_excluded

__all__ = ["ICC_FORMS", "ICCMapResult", "icc", "icc_map"]

#: The six ICC forms, in output order: (type label, short form, description).
ICC_FORMS = (
    ("ICC(1,1)", "ICC1", "single measure, one-way random (absolute agreement)"),
    ("ICC(A,1)", "ICC2", "single measure, two-way random, absolute agreement"),
    ("ICC(C,1)", "ICC3", "single measure, two-way mixed, consistency"),
    ("ICC(1,k)", "ICC1k", "average of k measures, one-way random"),
    ("ICC(A,k)", "ICC2k", "average of k measures, two-way random, absolute agreement"),
    ("ICC(C,k)", "ICC3k", "average of k measures, two-way mixed, consistency"),
)
_TYPES = tuple(f[0] for f in ICC_FORMS)
_ALIASES = {f[1]: f[0] for f in ICC_FORMS} | {f[0]: f[0] for f in ICC_FORMS} | {
    "ICC(2,1)": "ICC(A,1)", "ICC(3,1)": "ICC(C,1)", "ICC(2,k)": "ICC(A,k)",
    "ICC(3,k)": "ICC(C,k)",
}


def _icc_core(y: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    """All six ICCs of ``y`` with shape (n, k, V); every output has shape (6, V)."""
    n, k = y.shape[:2]
    grand = y.mean(axis=(0, 1))
    rows = y.mean(axis=1)
    cols = y.mean(axis=0)
    ss_total = ((y - grand) ** 2).sum(axis=(0, 1))
    ss_rows = k * ((rows - grand) ** 2).sum(axis=0)
    ss_cols = n * ((cols - grand) ** 2).sum(axis=0)
    ss_err = ss_total - ss_rows - ss_cols
    df_r, df_c, df_e, df_w = n - 1, k - 1, (n - 1) * (k - 1), n * (k - 1)
    msr = ss_rows / df_r
    msc = ss_cols / df_c
    mse = ss_err / df_e
    msw = (ss_total - ss_rows) / df_w

    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msr - msw) / (msr + (k - 1) * msw)
        icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        icc3 = (msr - mse) / (msr + (k - 1) * mse)
        icc1k = (msr - msw) / msr
        icc2k = (msr - mse) / (msr + (msc - mse) / n)
        icc3k = (msr - mse) / msr
        f1 = msr / msw
        f3 = msr / mse

        alpha = 1.0 - confidence
        # One-way and consistency forms: exact F-based limits (Shrout & Fleiss 1979).
        fl1 = f1 / stats.f.ppf(1 - alpha / 2, df_r, df_w)
        fu1 = f1 * stats.f.ppf(1 - alpha / 2, df_w, df_r)
        fl3 = f3 / stats.f.ppf(1 - alpha / 2, df_r, df_e)
        fu3 = f3 * stats.f.ppf(1 - alpha / 2, df_e, df_r)
        lo1, hi1 = (fl1 - 1) / (fl1 + k - 1), (fu1 - 1) / (fu1 + k - 1)
        lo3, hi3 = (fl3 - 1) / (fl3 + k - 1), (fu3 - 1) / (fu3 + k - 1)
        lo1k, hi1k = 1 - 1 / fl1, 1 - 1 / fu1
        lo3k, hi3k = 1 - 1 / fl3, 1 - 1 / fu3
        # Absolute agreement: Satterthwaite df (McGraw & Wong 1996, case 2A).
        a = k * icc2 / (n * (1 - icc2))
        b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / df_c + (b * mse) ** 2 / df_e)
        fs_u = stats.f.ppf(1 - alpha / 2, df_r, v)
        fs_l = stats.f.ppf(1 - alpha / 2, v, df_r)
        c = k * msc + (k * n - k - n) * mse
        lo2 = n * (msr - fs_u * mse) / (fs_u * c + n * msr)
        hi2 = n * (fs_l * msr - mse) / (c + n * fs_l * msr)
        lo2k = lo2 * k / (1 + lo2 * (k - 1))
        hi2k = hi2 * k / (1 + hi2 * (k - 1))

    p1 = stats.f.sf(f1, df_r, df_w)
    p3 = stats.f.sf(f3, df_r, df_e)
    ones = np.ones_like(grand)
    return {
        "icc": np.stack([icc1, icc2, icc3, icc1k, icc2k, icc3k]),
        "statistic": np.stack([f1, f3, f3, f1, f3, f3]),
        "df1": np.stack([ones * df_r] * 6),
        "df2": np.stack([ones * df_w, ones * df_e, ones * df_e, ones * df_w, ones * df_e,
                         ones * df_e]),
        "p": np.stack([p1, p3, p3, p1, p3, p3]),
        "ci_low": np.stack([lo1, lo2, lo3, lo1k, lo2k, lo3k]),
        "ci_high": np.stack([hi1, hi2, hi3, hi1k, hi2k, hi3k]),
    }


def _check_shape(n: int, k: int) -> None:
    if n < 2:
        raise DesignError(f"An ICC needs at least 2 subjects with every session; got {n}.")
    if k < 2:
        raise DesignError(f"An ICC needs at least 2 sessions (raters); got {k}.")


@fill_doc
@deprecate_positional(subject=2, within=3)
@rename_parameters(session="within")
def icc(
    data: Any,
    dv: str | tuple[str, str],
    *,
    subject: str = "subject_id",
    within: str = "session",
    confidence: float = 0.95,
    nan_policy: str = "raise",
) -> pd.DataFrame:
    """Intraclass correlation of one measure across sessions (test-retest reliability).

    Parameters
    ----------
    data : pandas.DataFrame or Cohort
        Table with one row per subject and session and the measure as a column (e.g.
        ``Cohort.wide()``), a :class:`~painmarkers.model.Cohort` or its tidy table
        (:meth:`~painmarkers.model.Cohort.to_frame`).
    dv : str or (feature, roi) tuple
        Column holding the measure (e.g. ``"alff__SMA_L"`` or ``("alff", "SMA_L")``).
    %(subject)s
        The subjects are the ICC's "targets".
    %(within)s
        The sessions are the ICC's "raters" (occasions).
    %(confidence)s
    nan_policy : {"raise", "omit"}, default="raise"
        What to do with subjects that lack a value in a session (or, in a Cohort,
        have no session at all): raise a :class:`~painmarkers.exceptions.DataError`
        naming them, or drop them (listwise) and report them in the ``excluded``
        column.

    Returns
    -------
    pandas.DataFrame
        One row per ICC form, columns :data:`painmarkers.schema.ICC_COLUMNS`:
        ``dv``, ``type`` (``ICC(1,1)``, ``ICC(A,1)``, ``ICC(C,1)``, ``ICC(1,k)``,
        ``ICC(A,k)``, ``ICC(C,k)``), ``form`` (``ICC1``, ``ICC2``, ``ICC3``, ``ICC1k``,
        ``ICC2k``, ``ICC3k``), ``description``, ``n`` (subjects used), ``k`` (sessions),
        ``n_excluded``, ``excluded`` (``"<subject> (<reason>)"`` items joined by
        ``"; "``, e.g. ``"07 (alff__SMA_L missing at 'post')"``),
        ``icc``, ``statistic`` (F), ``df1``, ``df2``, ``p`` (H0: ICC = 0),
        ``ci_low``, ``ci_high``, ``confidence``.

    Raises
    ------
    DataError
        If a column is missing, a subject has a session twice, a value is
        missing (with ``nan_policy="raise"``) or values are not numeric.
    DesignError
        If fewer than 2 complete subjects or fewer than 2 sessions remain.

    Notes
    -----
    With ``n`` subjects and ``k`` sessions, the two-way ANOVA gives the mean squares
    between subjects ``MSR``, between sessions ``MSC``, residual ``MSE`` and within
    subjects ``MSW`` (= one-way residual). Then (Shrout & Fleiss 1979; McGraw & Wong
    1996)::

        ICC(1,1) = (MSR - MSW) / (MSR + (k-1) MSW)
        ICC(A,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
        ICC(C,1) = (MSR - MSE) / (MSR + (k-1) MSE)
        ICC(1,k) = (MSR - MSW) / MSR
        ICC(A,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n)
        ICC(C,k) = (MSR - MSE) / MSR

    F tests: ``F = MSR/MSW`` on (n-1, n(k-1)) df for the one-way forms and
    ``F = MSR/MSE`` on (n-1, (n-1)(k-1)) df otherwise. Confidence limits are the
    exact F-based limits for the one-way and consistency forms and the
    Satterthwaite approximation for absolute agreement (McGraw & Wong 1996, Table 7).
    ICC(2,1) of Shrout & Fleiss is ICC(A,1) and ICC(3,1) is ICC(C,1). Checked
    against ``pingouin.intraclass_corr``. Assumes normally distributed subject
    effects and errors and a balanced design (every subject in every session).

    References
    ----------
    .. [1] Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in
       assessing rater reliability. Psychological Bulletin, 86(2), 420-428.
    .. [2] McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some
       intraclass correlation coefficients. Psychological Methods, 1(1), 30-46.
    .. [3] Koo, T. K., & Li, M. Y. (2016). A guideline of selecting and reporting
       intraclass correlation coefficients for reliability research. J Chiropr Med,
       15(2), 155-163.

    Examples
    --------
    >>> import pandas as pd
    >>> from painmarkers.stats.reliability import icc
    >>> df = pd.DataFrame({"subject_id": ["s1", "s1", "s2", "s2", "s3", "s3"],
    ...                    "session": ["a", "b"] * 3,
    ...                    "alff": [1.0, 1.1, 2.0, 1.9, 3.0, 3.2]})
    >>> res = icc(df, "alff")
    >>> res.set_index("type").loc["ICC(C,1)", "icc"].round(3)
    np.float64(0.989)
    """
    confidence = check_confidence(confidence)
    check_choice(nan_policy, ("raise", "omit"), "nan_policy")
    table = as_table(data)
    if isinstance(dv, tuple):
        dv = measure_column(*dv)
    check_columns(table, [dv, subject, within], "data")
    values = pd.to_numeric(table[dv], errors="coerce")
    bad = values.isna() & table[dv].notna()
    if bad.any():
        i = bad.idxmax()
        raise DataError(
            f"Column {dv!r} must be numeric; subject {table.at[i, subject]!r} session "
            f"{table.at[i, within]!r} has {table.at[i, dv]!r}."
        )
    frame = pd.DataFrame({"s": table[subject].to_numpy(), "t": table[within].to_numpy(),
                          "v": values.to_numpy()})
    dup = frame.duplicated(["s", "t"], keep=False)
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(
            f"Subject {row['s']!r} has more than one row for session {row['t']!r} in "
            f"column {dv!r}; keep one row per subject and session."
        )
    wide = frame.pivot(index="s", columns="t", values="v")
    reasons: dict[str, str] = {}
    for sid in wide.index[wide.isna().any(axis=1)]:
        gaps = []
        for ses in wide.columns[wide.loc[sid].isna()]:
            present = ((frame["s"] == sid) & (frame["t"] == ses)).any()
            gaps.append(f"{dv} missing at {ses!r}" if present else f"no {ses!r} session")
        reasons[str(sid)] = ", ".join(gaps)
    if isinstance(data, Cohort):  # its subjects with no session at all
        seen = {str(s) for s in wide.index}
        reasons.update({str(s): "no session" for s in data.subject_ids if str(s) not in seen})
    if reasons:
        if nan_policy == "raise":
            first = dict(list(reasons.items())[:5])
            raise DataError(
                f"{len(reasons)} subject(s) lack {dv!r} in some session, e.g. "
                f"{format_excluded(first)}; pass nan_policy='omit' to drop them (listwise)."
            )
        wide = wide.drop(index=[s for s in wide.index if str(s) in reasons])
    n, k = wide.shape
    _check_shape(n, k)
    res = _icc_core(wide.to_numpy(float)[:, :, None], confidence)
    out = pd.DataFrame({
        "dv": dv,
        "type": list(_TYPES),
        "form": [f[1] for f in ICC_FORMS],
        "description": [f[2] for f in ICC_FORMS],
        "n": n,
        "k": k,
        "n_excluded": len(reasons),
        "excluded": format_excluded(reasons),
        **{key: val[:, 0] for key, val in res.items()},
        "confidence": confidence,
    })
    out["df1"] = out["df1"].astype(int)
    out["df2"] = out["df2"].astype(int)
    return out.loc[:, list(ICC_COLUMNS)]


@dataclass(frozen=True, eq=False)
class ICCMapResult:  # numpydoc ignore=PR01,EX01
    """Voxelwise ICC of one form, from :func:`icc_map`.

    Follows the result protocol of painmarkers (:class:`painmarkers._results.Result`):
    :meth:`to_frame`, :meth:`summary`, :meth:`save` and the ``parameters`` and
    ``versions`` that produced it.

    Attributes
    ----------
    form : str
        ICC type label, e.g. ``"ICC(C,1)"``.
    icc, statistic, p, ci_low, ci_high : numpy.ndarray of shape (n_voxels,)
        ICC, F statistic, p-value of H0: ICC = 0 and confidence limits per voxel.
    df1, df2 : float
        Degrees of freedom of the F test.
    n_subjects, n_sessions : int
        Dimensions used.
    confidence : float
        Confidence level of the limits.
    mask_img : nibabel image or None
        Mask defining the voxels when images were given; None for arrays.
    parameters : mapping
        The arguments of :func:`icc_map` that produced the result (``form`` as
        given, ``confidence``, ``mask_img`` as a path or a description, the data's
        shape ``n_subjects``, ``n_sessions``, ``n_voxels``).
    versions : mapping
        Software versions (:func:`painmarkers._versions.versions`) when computed.

    See Also
    --------
    icc_map : Compute it; its examples use this result.
    """

    form: str
    icc: np.ndarray
    statistic: np.ndarray
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df1: float
    df2: float
    n_subjects: int
    n_sessions: int
    confidence: float
    mask_img: Any = field(default=None, repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    versions: Mapping[str, str] = field(default_factory=versions, repr=False)

    _FIELDS = ("icc", "statistic", "p", "ci_low", "ci_high")

    def to_frame(self) -> pd.DataFrame:
        """One row per voxel: ``voxel``, ``icc``, ``statistic``, ``p``, ``ci_low``, ``ci_high``.

        Returns
        -------
        pandas.DataFrame
            Columns ``voxel`` (0-based index of the voxel in the mask's C order, or of
            the column of the array given), ``icc``, ``statistic`` (F), ``p``,
            ``ci_low``, ``ci_high``.
        """
        return pd.DataFrame({"voxel": np.arange(self.icc.size),
                             **{f: getattr(self, f) for f in self._FIELDS}})

    def to_img(self, name: str = "icc"):
        """Return the map ``name`` (one of icc, statistic, p, ci_low, ci_high) as an image.

        Parameters
        ----------
        name : {"icc", "statistic", "p", "ci_low", "ci_high"}, default="icc"
            The voxelwise quantity.

        Returns
        -------
        nibabel.Nifti1Image
            3-D float32 map on the mask's grid, 0 outside the mask.

        Raises
        ------
        ValueError
            If the result was computed from an array (no mask image), or ``name`` is
            not one of the five.
        """
        check_choice(name, self._FIELDS, "name")
        if self.mask_img is None:
            raise ValueError("This ICC map was computed from an array; there is no mask image "
                             "to put it back into.")
        import nibabel as nib

        mask = np.asarray(self.mask_img.get_fdata()) > 0
        vol = np.zeros(mask.shape, dtype=np.float32)
        vol[mask] = getattr(self, name)
        return nib.Nifti1Image(vol, self.mask_img.affine)

    def summary(self) -> str:
        """Short text: form, dimensions and the distribution of the ICC over voxels.

        Returns
        -------
        str
            One line: the form, voxels, subjects and sessions, the median and 5-95 %
            range of the ICC and the number of voxels with p < 0.05 (uncorrected).
        """
        v = self.icc[np.isfinite(self.icc)]
        q = np.percentile(v, [5, 50, 95]) if v.size else [np.nan] * 3
        return (f"{self.form} over {self.icc.size} voxels ({self.n_subjects} subjects x "
                f"{self.n_sessions} sessions): median {q[1]:.3f} [5-95%: {q[0]:.3f}, "
                f"{q[2]:.3f}]; {int((self.p < 0.05).sum())} voxels with p < 0.05 "
                f"(uncorrected).")

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the result's files atomically into ``directory`` (created if needed).

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``"table"``: ``icc_map.csv`` (:meth:`to_frame`); ``"parameters"``:
            ``parameters.json`` (type, parameters, versions, form, df, dimensions);
            with a mask image, one ``icc_<name>.nii.gz`` per map under its name
            (``"icc"``, ``"statistic"``, ``"p"``, ``"ci_low"``, ``"ci_high"``).

        Raises
        ------
        %(save_raises)s
        """
        out = Path(directory)  # created by atomic_write (OutputError naming it on failure)
        files: dict[str, Path] = {"table": out / "icc_map.csv"}
        atomic_write(files["table"], lambda p: self.to_frame().to_csv(p, index=False))
        files["parameters"] = save_parameters(out, self, extra={
            "form": self.form, "df1": self.df1, "df2": self.df2,
            "n_subjects": self.n_subjects, "n_sessions": self.n_sessions,
            "n_voxels": int(self.icc.size), "confidence": self.confidence})
        if self.mask_img is not None:
            for name in self._FIELDS:
                path = out / f"icc_{name}.nii.gz"
                atomic_write(path, self.to_img(name).to_filename, suffix=".nii.gz")
                files[name] = path
        return files


@fill_doc
def icc_map(
    data: Any,
    form: str = "ICC(C,1)",
    *,
    mask_img: Any = None,
    confidence: float = 0.95,
) -> ICCMapResult:
    """Voxelwise ICC, vectorised over voxels.

    Parameters
    ----------
    data : array-like of shape (n_subjects, n_sessions, n_voxels) or nested list of images
        Either an array, or a list (subjects) of lists (sessions) of 3-D images or
        paths, all on the grid of ``mask_img``.
    form : str, default="ICC(C,1)"
        One of ``ICC(1,1)``, ``ICC(A,1)``, ``ICC(C,1)``, ``ICC(1,k)``, ``ICC(A,k)``,
        ``ICC(C,k)`` or their aliases ``ICC1``...``ICC3k``, ``ICC(2,1)``, ``ICC(3,1)``.
    %(mask_img)s
        Required with images (an array needs none).
    %(confidence)s

    Returns
    -------
    ICCMapResult
        ICC, F, p and confidence limits per voxel.

    Raises
    ------
    DataError
        If the array is not 3-D or holds NaN/inf (the message names subject,
        session and voxel), or images lack a mask.
    ImageError
        If an image is not on the mask's grid.
    DesignError
        If fewer than 2 subjects or sessions are given.

    Notes
    -----
    Same formulas as :func:`icc`, evaluated with array operations over all voxels
    at once (no Python loop over voxels). A voxel with no between-subject or
    residual variance (e.g. constant values) gets NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from painmarkers.stats.reliability import icc_map
    >>> rng = np.random.default_rng(0)
    >>> true = rng.normal(size=(20, 1, 100))
    >>> y = true + 0.5 * rng.normal(size=(20, 2, 100))
    >>> res = icc_map(y, "ICC(C,1)")
    >>> res.icc.shape
    (100,)
    >>> bool(0.5 < np.median(res.icc) < 0.95)
    True
    """
    if not isinstance(form, str) or form not in _ALIASES:
        raise ValueError(
            f"The 'form' parameter must be one of {', '.join(map(repr, _ALIASES))}. Got {form!r}."
        )
    label = _ALIASES[form]
    confidence = check_confidence(confidence)
    mask = None
    if isinstance(data, np.ndarray) or (
        isinstance(data, list | tuple) and data and not isinstance(data[0], list | tuple)
    ):
        y = np.asarray(data, dtype=float)
    else:
        if mask_img is None:
            raise DataError("icc_map needs 'mask_img' when 'data' holds images.")
        mask = check_img(mask_img, ndim=3, name="mask_img")
        inside = np.asarray(mask.get_fdata()) > 0
        y = np.empty((len(data), len(data[0]), int(inside.sum())))
        for i, sessions in enumerate(data):
            if len(sessions) != y.shape[1]:
                raise DataError(
                    f"Subject {i} has {len(sessions)} session images; subject 0 has "
                    f"{y.shape[1]}. Every subject needs every session."
                )
            for j, img in enumerate(sessions):
                im = check_img(img, ndim=3, name=f"data[{i}][{j}]")
                check_same_grid(im, mask, f"data[{i}][{j}]", "mask_img")
                y[i, j] = np.asarray(im.get_fdata())[inside]
    if y.ndim != 3:
        raise DataError(
            f"icc_map needs an array of shape (n_subjects, n_sessions, n_voxels); got shape "
            f"{y.shape}."
        )
    bad = ~np.isfinite(y)
    if bad.any():
        s, t, v = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"data holds {int(bad.sum())} non-finite value(s), first at subject {s}, "
            f"session {t}, voxel {v}; mask those voxels out."
        )
    _check_shape(*y.shape[:2])
    res = _icc_core(y, confidence)
    i = _TYPES.index(label)
    return ICCMapResult(
        form=label,
        icc=res["icc"][i], statistic=res["statistic"][i], p=res["p"][i],
        ci_low=res["ci_low"][i], ci_high=res["ci_high"][i],
        df1=float(res["df1"][i][0]), df2=float(res["df2"][i][0]),
        n_subjects=y.shape[0], n_sessions=y.shape[1], confidence=confidence, mask_img=mask,
        parameters={"form": form, "confidence": confidence,
                    "mask_img": None if mask_img is None else _describe(mask_img),
                    "n_subjects": int(y.shape[0]), "n_sessions": int(y.shape[1]),
                    "n_voxels": int(y.shape[2])},
    )


def _describe(img: Any) -> str:
    """A path as a string, an in-memory image as its class and shape (for parameters)."""
    if isinstance(img, str | os.PathLike):
        return str(img)
    shape = getattr(img, "shape", None)
    return f"{type(img).__name__}{tuple(shape) if shape is not None else ''}"
