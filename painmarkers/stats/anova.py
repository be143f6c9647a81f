"""Analysis of covariance and split-plot (mixed) ANOVA for trial designs, at R's level.

:func:`ancova` fits a linear model of one score per subject on between-subject factors
and covariates (e.g. the post-treatment score adjusted for the baseline score, Vickers &
Altman 2001) and returns an :class:`AncovaResult`: Type II or III F tests with partial eta
squared, adjusted (estimated marginal) means and pairwise contrasts with Holm or Tukey
adjustment.  :func:`mixed_anova` is the Type III split-plot ANOVA of afex / car with
Mauchly's test, Greenhouse-Geisser and Huynh-Feldt corrections and generalized eta squared.
Every number is checked against R (car 3.1-1, afex 1.2-1, emmeans 1.8.4) on committed
fixtures (``tests/fixtures/r/anova``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_confidence
from painmarkers._versions import versions as _versions
from painmarkers.exceptions import DesignError
from painmarkers.stats import _posthoc
from painmarkers.stats._anova_data import BASELINE, ancova_table, dv_name
from painmarkers.stats._anova_design import Design, as_levels, build_design, ols, rss
from painmarkers.stats._anova_report import excluded_frame, save_tables, text_table
from painmarkers.stats._data import as_list, format_excluded
from painmarkers.stats._mixed_anova import MixedAnovaResult, mixed_anova

__all__ = ["AncovaResult", "MixedAnovaResult", "ancova", "mixed_anova"]

#: Columns of :meth:`AncovaResult.anova` (one row per term).
ANCOVA_COLUMNS = ("dv", "term", "ss_type", "ss", "ss_error", "num_df", "den_df", "F", "p",
                  "partial_eta_sq", "n", "n_excluded", "excluded")
#: Statistic columns of :meth:`AncovaResult.emmeans` (after the factor columns).
EMMEANS_COLUMNS = ("n", "emmean", "se", "df", "ci_low", "ci_high", "confidence")
#: Columns of :attr:`AncovaResult.adjusted_means`.
ADJUSTED_MEANS_COLUMNS = ("dv", "term", "level", *EMMEANS_COLUMNS)
#: Columns of :meth:`AncovaResult.contrast`.
CONTRAST_COLUMNS = ("by", "contrast", "estimate", "se", "df", "t", "p", "p_adjusted",
                    "adjust", "ci_low", "ci_high", "confidence")
#: Columns of :attr:`AncovaResult.posthoc`.
POSTHOC_COLUMNS = ("dv", "term", *CONTRAST_COLUMNS)


@dataclass(frozen=True, eq=False)
class AncovaResult:  # numpydoc ignore=PR01,EX01
    """A fitted ANCOVA (from :func:`ancova`).

    Follows the result protocol of painmarkers (:class:`painmarkers._results.Result`):
    :meth:`to_frame`, :meth:`summary`, :meth:`save`, ``parameters`` and ``versions``.

    Attributes
    ----------
    dv : str
        The response column.
    between : tuple of str
        Between-subject factors.
    covariates : tuple of str
        Covariates in the model (``"baseline"`` first in a baseline-adjusted ANCOVA).
    factors : dict
        ``{factor: levels}`` in coding order (the last level carries the ``-1`` of the
        sum-to-zero contrasts).
    ss_type : int
        Default type of the sums of squares of :meth:`anova` (2 or 3).
    adjust : str or None
        Adjustment of :attr:`posthoc` (``"holm"``, ``"tukey"``, ``"bonferroni"``,
        ``"none"``) or None for no post hoc table.
    confidence : float
        Default confidence level.
    baseline, post : label or None
        Sessions of the baseline-adjusted analysis (None otherwise: ``post`` alone is
        the session analysed, when given).
    n : int
        Subjects analysed.
    n_excluded : int
        Subjects of the data left out.
    excluded : pandas.DataFrame
        One row per excluded subject: ``subject``, ``reason``.
    data : pandas.DataFrame
        The subjects analysed (index: subject ids): the response (column ``dv``; its
        ``post`` score in a baseline-adjusted ANCOVA), the factors and the covariates
        (``baseline``: the baseline score).
    coef : pandas.Series
        Coefficients in the sum-to-zero coding (R's names: ``(Intercept)``, ``arm1``,
        ``arm1:sex1``, covariates by name).
    vcov : pandas.DataFrame
        Their covariance, :math:`\\hat\\sigma^2 (X^\\top X)^{-1}`.
    sigma : float
        Residual standard deviation.
    df_residual : int
        Residual degrees of freedom ``n - rank(X)``.
    parameters : dict
        The arguments of :func:`ancova`.
    versions : dict
        Software versions.

    See Also
    --------
    ancova : Fit the model; its examples use this result.
    """

    dv: str
    between: tuple[str, ...]
    covariates: tuple[str, ...]
    factors: dict[str, list[Any]]
    ss_type: int
    adjust: str | None
    confidence: float
    baseline: Any
    post: Any
    n: int
    n_excluded: int
    excluded: pd.DataFrame
    data: pd.DataFrame
    coef: pd.Series
    vcov: pd.DataFrame
    sigma: float
    df_residual: int
    parameters: Mapping[str, Any]
    versions: Mapping[str, str] = field(default_factory=_versions)
    _design: Design | None = field(default=None, repr=False)
    _tables: Mapping[int, pd.DataFrame] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """The ANOVA table (:meth:`anova` of the default type).

        Returns
        -------
        pandas.DataFrame
            One row per term, columns :data:`ANCOVA_COLUMNS` (see :meth:`anova`).
        """
        return self.anova()

    def anova(self, type: int | None = None) -> pd.DataFrame:
        """F test of every term (the intercept is not listed).

        Parameters
        ----------
        type : {2, 3} or None, default=None
            Type of the sums of squares; None: the fit's ``ss_type``.

        Returns
        -------
        pandas.DataFrame
            One row per term, columns :data:`ANCOVA_COLUMNS`: ``dv``, ``term`` (R's
            label: ``arm``, ``baseline``, ``arm:sex``), ``ss_type``, ``ss``, ``ss_error``
            (residual sum of squares), ``num_df``, ``den_df`` (residual df), ``F``, ``p``,
            ``partial_eta_sq`` (``ss / (ss + ss_error)``), ``n``, ``n_excluded``,
            ``excluded``.
        """
        kind = self.ss_type if type is None else check_choice(type, (2, 3), "type")
        return self._tables[kind].copy()

    def _conf(self, confidence: float | None) -> float:
        if confidence is None:
            return self.confidence
        return check_confidence(confidence)

    def _counts(self, labels: pd.DataFrame) -> np.ndarray:
        data = self.data
        out = []
        for _, row in labels.iterrows():
            sel = np.ones(len(data), dtype=bool)
            for var in labels.columns:
                sel &= (data[var].astype(str) == str(row[var])).to_numpy()
            out.append(int(sel.sum()))
        return np.array(out, dtype=int)

    @fill_doc
    def emmeans(self, specs: str | Sequence[str], by: str | Sequence[str] | None = None, *,
                confidence: float | None = None) -> pd.DataFrame:
        """Adjusted (estimated marginal) means, as ``emmeans::emmeans(fit, specs, by = by)``.

        Parameters
        ----------
        specs : str or list of str
            Between factor(s) whose means are wanted.
        by : str, list of str or None, default=None
            Between factor(s) within whose levels the means are given.
        %(confidence_result)s

        Returns
        -------
        pandas.DataFrame
            The ``by`` and ``specs`` columns (levels), then ``n`` (subjects in that level
            or cell), ``emmean``, ``se``, ``df``, ``ci_low``, ``ci_high``, ``confidence``.

        Notes
        -----
        The prediction at every combination of factor levels with each covariate at its
        mean over the subjects analysed, averaged with equal weights over the factors not
        in ``specs``/``by``: :math:`\\hat\\mu = \\bar x^\\top\\hat\\beta`,
        :math:`SE = \\sqrt{\\bar x^\\top V\\bar x}`, limits
        :math:`\\hat\\mu \\pm t_{1-\\alpha/2,\\,n-p}\\,SE`.
        """
        conf = self._conf(confidence)
        labels, L = _posthoc.emm_rows(self._design, specs, by)
        est, se = _posthoc.estimate(L, self.coef.to_numpy(), self.vcov.to_numpy())
        crit = stats.t.ppf(0.5 + conf / 2.0, self.df_residual)
        out = labels.copy()
        out["n"] = self._counts(labels)
        out["emmean"] = est
        out["se"] = se
        out["df"] = float(self.df_residual)
        out["ci_low"] = est - crit * se
        out["ci_high"] = est + crit * se
        out["confidence"] = conf
        return out

    @fill_doc
    def contrast(self, specs: str | Sequence[str], by: str | Sequence[str] | None = None, *,
                 adjust: str | None = None, confidence: float | None = None) -> pd.DataFrame:
        """Pairwise differences of adjusted means, as ``emmeans::pairs(...)``.

        Parameters
        ----------
        specs : str or list of str
            Between factor(s) whose adjusted means are compared.
        by : str, list of str or None, default=None
            Compare within each level of these factors (simple effects); one family per
            ``by`` level.
        adjust : {"holm", "tukey", "bonferroni", "none"} or None, default=None
            Multiplicity adjustment within each family; None: the fit's ``posthoc``
            (``"none"`` when it was None).
        %(confidence_result)s

        Returns
        -------
        pandas.DataFrame
            One row per pair, columns :data:`CONTRAST_COLUMNS`: ``by`` (e.g.
            ``"sex = F"``; ``""`` without ``by``), ``contrast`` (``"active - sham"``:
            first level minus second, in level order), ``estimate``, ``se``, ``df``,
            ``t``, ``p`` (two-sided, unadjusted), ``p_adjusted``, ``adjust``,
            ``ci_low``, ``ci_high`` (simultaneous for Tukey, Bonferroni for Holm and
            Bonferroni, as emmeans), ``confidence``.

        Notes
        -----
        See :mod:`painmarkers.stats._posthoc`: Tukey's p values come from the studentized
        range distribution (:data:`scipy.stats.studentized_range`), ``p =
        P(Q_{k,df} > sqrt(2) |t|)`` for ``k`` means in the family.
        """
        conf = self._conf(confidence)
        method = (self.adjust or "none") if adjust is None else check_choice(
            adjust, _posthoc.ADJUST, "adjust")
        spec_vars = _posthoc.as_names(specs, "specs", self._design)
        by_vars = _posthoc.as_names(by, "by", self._design)
        labels, L = _posthoc.emm_rows(self._design, spec_vars, by_vars)
        if by_vars:
            named = labels.copy()
            for v in by_vars:
                named[v] = [f"{v} = {x}" for x in labels[v]]
            labels = named
        pairs = _posthoc.pairwise_rows(labels, L, spec_vars, by_vars)
        rows = []
        for key in dict.fromkeys(p[0] for p in pairs):
            fam = [p for p in pairs if p[0] == key]
            Lf = np.array([p[2] for p in fam])
            est, se = _posthoc.estimate(Lf, self.coef.to_numpy(), self.vcov.to_numpy())
            res = _posthoc.adjust_family(est, se, float(self.df_residual), fam[0][3], method,
                                         conf)
            for i, p in enumerate(fam):
                rows.append({"by": key, "contrast": p[1], "estimate": est[i],
                             "se": se[i], "df": float(self.df_residual), "t": res["t"][i],
                             "p": res["p"][i], "p_adjusted": res["p_adjusted"][i],
                             "adjust": method, "ci_low": res["ci_low"][i],
                             "ci_high": res["ci_high"][i], "confidence": conf})
        return pd.DataFrame(rows, columns=list(CONTRAST_COLUMNS))

    @property
    def adjusted_means(self) -> pd.DataFrame:
        """Adjusted means of every between factor (and of the cells with several factors).

        One row per level, columns :data:`ADJUSTED_MEANS_COLUMNS`: ``dv``, ``term`` (the
        factor, or ``"arm:sex"`` for the cells), ``level`` (``"active"``;
        ``"active:F"`` for a cell), ``n``, ``emmean``, ``se``, ``df``, ``ci_low``,
        ``ci_high``, ``confidence`` (see :meth:`emmeans`).
        """
        names = list(self.between)
        specs = [[b] for b in names] + ([names] if len(names) > 1 else [])
        frames = []
        for spec in specs:
            tab = self.emmeans(spec)
            frames.append(pd.DataFrame({
                "dv": self.dv, "term": ":".join(spec),
                "level": tab[spec].astype(str).agg(":".join, axis=1),
                **{c: tab[c] for c in EMMEANS_COLUMNS}}))
        return pd.concat(frames, ignore_index=True)[list(ADJUSTED_MEANS_COLUMNS)]

    @property
    def posthoc(self) -> pd.DataFrame:
        """Pairwise contrasts of the adjusted means of every between factor.

        Adjusted with the ``posthoc`` method of :func:`ancova`; columns
        :data:`POSTHOC_COLUMNS` (``dv``, ``term`` and those of :meth:`contrast`). Empty
        (with its columns) when ``posthoc=None``.
        """
        if self.adjust is None:
            return pd.DataFrame(columns=list(POSTHOC_COLUMNS))
        frames = []
        for b in self.between:
            tab = self.contrast(b)
            tab.insert(0, "term", b)
            tab.insert(0, "dv", self.dv)
            frames.append(tab)
        return pd.concat(frames, ignore_index=True)[list(POSTHOC_COLUMNS)]

    # ------------------------------------------------------------------ text and files
    def summary(self) -> str:
        """Plain-text summary: model, subjects and exclusions, ANOVA, means, contrasts.

        Returns
        -------
        str
            Several lines: the model formula, the subjects analysed and excluded (with
            reasons), the ANOVA table, the adjusted means and the post hoc contrasts.
        """
        roman = {2: "II", 3: "III"}[self.ss_type]
        rhs = " * ".join(self.between) + "".join(f" + {c}" for c in self.covariates)
        what = self.dv if self.baseline is None else (
            f"{self.dv} at {self.post!r}, adjusted for its baseline at {self.baseline!r}")
        lines = [f"ANCOVA of {what} (painmarkers.stats.ancova; Type {roman} sums of squares,"
                 " sum-to-zero contrasts)",
                 f"Model: {self.dv} ~ {rhs}",
                 f"Subjects: {self.n} analysed, {self.n_excluded} excluded; residual SD "
                 f"{self.sigma:.4f} on {self.df_residual} df"]
        for row in self.excluded.itertuples(index=False):
            lines.append(f"  excluded {row.subject}: {row.reason}")
        anova = self.anova()[["term", "ss", "num_df", "den_df", "F", "p", "partial_eta_sq"]]
        lines += ["", "Analysis of variance:", *text_table(anova)]
        means = self._design.covariate_means
        at = ", ".join(f"{c} = {means[c]:.4g}" for c in self.covariates)
        lines += ["", "Adjusted means" + (f" (at {at})" if at else "") + ":"]
        lines += text_table(self.adjusted_means.drop(columns=["dv", "confidence"]))
        if self.adjust is not None:
            lines += ["", f"Pairwise contrasts ({self.adjust} adjustment):"]
            lines += text_table(self.posthoc.drop(columns=["dv", "by", "confidence",
                                                           "adjust"]))
        return "\n".join(lines)

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the tables, the summary and the parameters into ``directory``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``"anova"``, ``"adjusted_means"``, ``"posthoc"``, ``"excluded"``
            (``ancova_<key>.csv``), ``"summary"`` (``ancova_summary.txt``) and
            ``"parameters"`` (``ancova_parameters.json``).

        Raises
        ------
        %(save_raises)s
        """
        tables = {"anova": self.anova(), "adjusted_means": self.adjusted_means,
                  "posthoc": self.posthoc, "excluded": self.excluded}
        return save_tables(self, directory, "ancova", tables, {
            "n": self.n, "n_excluded": self.n_excluded, "sigma": self.sigma,
            "df_residual": self.df_residual})


def _anova_tables(design: Design, y: np.ndarray, dv: str, n_excluded: int, excluded: str
                  ) -> tuple[dict[int, pd.DataFrame], np.ndarray, np.ndarray, float, int]:
    X = design.X
    n, p = X.shape
    coef, xtx_inv, resid = ols(X, y)
    sse = float(resid @ resid)
    df_res = n - p
    mse = sse / df_res
    tables = {}
    for kind in (2, 3):
        rows = []
        for term in design.terms:
            cols = np.arange(term.columns.start, term.columns.stop)
            if kind == 3:
                b = coef[cols]
                ss = float(b @ np.linalg.solve(xtx_inv[np.ix_(cols, cols)], b))
            else:
                container = [u for u in design.terms if u is not term and term.covariate is None
                             and u.covariate is None and set(term.factors) < set(u.factors)]
                drop = {c for u in container for c in range(u.columns.start, u.columns.stop)}
                keep_with = [j for j in range(p) if j not in drop]
                keep_without = [j for j in keep_with if j not in set(cols)]
                ss = rss(X[:, keep_without], y) - rss(X[:, keep_with], y)
            df = term.df
            F = (ss / df) / mse
            rows.append({"dv": dv, "term": term.name, "ss_type": kind, "ss": ss,
                         "ss_error": sse, "num_df": df, "den_df": df_res, "F": F,
                         "p": float(stats.f.sf(F, df, df_res)),
                         "partial_eta_sq": ss / (ss + sse), "n": n,
                         "n_excluded": n_excluded, "excluded": excluded})
        tables[kind] = pd.DataFrame(rows, columns=list(ANCOVA_COLUMNS))
    return tables, coef, mse * xtx_inv, mse, df_res


@fill_doc
def ancova(
    data: Any,
    dv: str | tuple[str, str],
    between: str | Sequence[str],
    covariates: str | Sequence[str] | None = None,
    *,
    baseline: Any = None,
    post: Any = None,
    within: str = "session",
    subject: str = "subject_id",
    levels: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    ss_type: int = 3,
    posthoc: str | None = "holm",
    confidence: float = 0.95,
) -> AncovaResult:
    """Analysis of covariance: between-subject factors and covariates, one score per subject.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort, its tidy table (:meth:`~painmarkers.model.Cohort.to_frame`) or a table
        with one row per subject (or, with ``baseline``/``post``, one row per subject and
        session).
    dv : str or (feature, roi) tuple
        The response column (``"VAS"``, ``"alff__SMA_L"`` or ``("alff", "SMA_L")``).
    between : str or list of str
        Between-subject factor column(s) (e.g. ``"arm"``), any number of levels each; with
        several, the full factorial is fitted.
    covariates : str, list of str or None, default=None
        Numeric covariate column(s), entered additively (no factor x covariate
        interaction: the parallel-slopes ANCOVA).
    baseline : label or None, default=None
        Session label of the baseline: the analysis of the ``post`` score adjusted for the
        baseline score of the same subject (entered as the covariate ``"baseline"``,
        first), straight from a long table (Vickers & Altman 2001).
    post : label or None, default=None
        The follow-up session analysed; None: ``"post"`` with ``baseline``. Without
        ``baseline`` it selects the session whose rows are analysed.
    %(within)s
        Used with ``baseline`` or ``post``.
    %(subject)s
    levels : list, mapping or None, default=None
        Levels of the between factor, in order (a mapping ``{factor: levels}`` with
        several factors). Subjects at other levels are excluded (and listed); the order
        sets the contrasts (first minus second) and the sum-to-zero coding. None: the
        categorical order of a pandas Categorical, else the sorted labels (R's order).
    ss_type : {3, 2}, default=3
        Type of the sums of squares of the default ANOVA table (:meth:`AncovaResult.anova`
        gives either).
    posthoc : {"holm", "tukey", "bonferroni", "none"} or None, default="holm"
        Adjustment of the pairwise contrasts of adjusted means
        (:attr:`AncovaResult.posthoc`); None for no post hoc table.
    %(confidence)s

    Returns
    -------
    AncovaResult
        ``anova()`` (F tests), ``adjusted_means`` and ``posthoc`` tables,
        ``emmeans(specs, by)`` and ``contrast(specs, by, adjust=)`` for any other means
        or simple effects, the subjects analysed and excluded.

    Raises
    ------
    DataError
        A column that does not exist, non-numeric values, a subject with two rows for one
        session (or several rows without ``post``), or a subject whose rows disagree on a
        between factor.
    DesignError
        A factor with one level left, an empty cell of the factorial, a constant
        covariate, a covariate collinear with the factors (rank-deficient design), no
        residual degrees of freedom, or an absent session.
    ValueError, TypeError
        An invalid option.

    Warns
    -----
    InferenceWarning
        A level (or cell) with a single subject.

    Notes
    -----
    The model is :math:`y = X\\beta + \\varepsilon`, :math:`\\varepsilon \\sim
    N(0, \\sigma^2 I)`, with ``X`` the intercept, the sum-to-zero (``contr.sum``)
    columns of the factors and their interactions, and the covariates.  With ``RSS(M)``
    the residual sum of squares of a model ``M`` and ``F`` the full model:

    * Type III: :math:`SS_T = RSS(F \\setminus T) - RSS(F) = \\hat\\beta_T^\\top
      [(X^\\top X)^{-1}_{TT}]^{-1} \\hat\\beta_T` with sum-to-zero contrasts, as
      ``car::Anova(type = 3)`` under ``options(contrasts = c("contr.sum",
      "contr.poly"))`` (and afex);
    * Type II: :math:`SS_T = RSS(F \\setminus \\{T\\} \\cup C_T) - RSS(F \\setminus C_T)`
      with :math:`C_T` the terms containing ``T`` (its interactions): each term adjusted
      for every term that does not contain it (``car::Anova(type = 2)``);

    :math:`F = (SS_T / df_T) / (RSS(F) / (n - p))` and partial
    :math:`\\eta^2_p = SS_T / (SS_T + RSS(F))`.  With one factor, or balanced factors,
    both types agree; with unbalanced factorial data they differ in the main effects.
    Adjusted means and contrasts follow emmeans (see :meth:`AncovaResult.emmeans` and
    :meth:`AncovaResult.contrast`).  Assumes normal errors of equal variance and
    parallel regression slopes in all groups.

    Checked against R 4.2.2 (``lm``, ``car::Anova`` type 2 and 3, ``emmeans`` and
    ``pairs(adjust = "holm" | "tukey")``): relative error below 1e-8 for SS, F, means,
    SE and limits (``tests/stats/test_ancova_r.py``).

    References
    ----------
    .. [1] Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and
       follow up measurements. BMJ 323:1123-1124.
    .. [2] Fox J, Weisberg S (2019). An R Companion to Applied Regression, 3rd ed.
       (car::Anova, Type II and III tests).
    .. [3] Searle SR, Speed FM, Milliken GA (1980). Population marginal means in the
       linear model: an alternative to least squares means. Am Stat 34:216-221.
    .. [4] Tukey JW (1953). The problem of multiple comparisons; Holm S (1979). A simple
       sequentially rejective multiple test procedure. Scand J Stat 6:65-70.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from painmarkers.stats import ancova
    >>> rng = np.random.default_rng(0)
    >>> arm = np.repeat(["active", "sham"], 10)
    >>> pre = rng.uniform(4, 8, 20)
    >>> post = 0.6 * pre + np.where(arm == "active", 0.5, 2.0) + rng.normal(0, 0.5, 20)
    >>> long = pd.DataFrame({"subject_id": np.tile([f"s{i}" for i in range(20)], 2),
    ...                      "arm": np.tile(arm, 2), "session": np.repeat(["pre", "post"], 20),
    ...                      "VAS": np.concatenate([pre, post])})
    >>> res = ancova(long, "VAS", "arm", baseline="pre", post="post")
    >>> res.anova()[["term", "num_df", "den_df"]]
           term  num_df  den_df
    0       arm       1      17
    1  baseline       1      17
    >>> res.posthoc[["contrast", "estimate"]].round(2)
            contrast  estimate
    0  active - sham     -1.54
    """
    between = as_list(between, "between")
    if not between:
        raise ValueError("The 'between' parameter must name at least one factor column.")
    covs = as_list(covariates, "covariates")
    ss_type = check_choice(ss_type, (2, 3), "ss_type")
    if posthoc is not None:
        check_choice(posthoc, _posthoc.ADJUST, "posthoc")
    confidence = check_confidence(confidence)
    level_map = as_levels(levels, between)
    dv = dv_name(dv)
    st = ancova_table(data, dv, between, covs, baseline=baseline, post=post, within=within,
                      subject=subject, levels=level_map)
    post = "post" if baseline is not None and post is None else post
    model_covs = ([BASELINE] if baseline is not None else []) + covs
    frame = st.frame
    if len(frame) == 0:
        raise DesignError(f"No subject is left to analyse {dv!r}: all {st.n_total} were "
                          f"excluded ({format_excluded(dict(list(st.reasons.items())[:5]))}"
                          f"{', ...' if len(st.reasons) > 5 else ''}).")
    design = build_design(frame, st.factors, model_covs)
    y = frame[dv].to_numpy(float)
    excluded = format_excluded(st.reasons)
    tables, coef, vcov, mse, df_res = _anova_tables(design, y, dv, len(st.reasons), excluded)
    names = list(design.column_names)
    return AncovaResult(
        dv=dv, between=tuple(between), covariates=tuple(model_covs), factors=st.factors,
        ss_type=ss_type, adjust=posthoc, confidence=confidence, baseline=baseline, post=post,
        n=len(frame), n_excluded=len(st.reasons), excluded=excluded_frame(st.reasons),
        data=frame[[dv, *between, *model_covs]].copy(),
        coef=pd.Series(coef, index=names), vcov=pd.DataFrame(vcov, index=names, columns=names),
        sigma=float(np.sqrt(mse)), df_residual=int(df_res),
        parameters={"dv": dv, "between": list(between), "covariates": covs,
                    "baseline": baseline, "post": post, "within": within, "subject": subject,
                    "levels": None if levels is None else (
                        {k: list(v) for k, v in levels.items()} if isinstance(levels, Mapping)
                        else list(levels)),
                    "ss_type": ss_type, "posthoc": posthoc, "confidence": confidence},
        _design=design, _tables=tables)
