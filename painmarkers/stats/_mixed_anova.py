"""Type III split-plot (mixed) ANOVA with sphericity tests and corrections, as afex / car.

The multivariate linear model of the ``n x k`` matrix of scores (one column per session)
on the between-subject design ``X`` (sum-to-zero contrasts, centred covariates) gives the
coefficients ``B = (X'X)^-1 X'Y`` and the error cross-products ``E = (Y - XB)'(Y - XB)``
on ``df_e = n - rank(X)`` df.  Every between term ``T`` (the intercept included) has the
hypothesis cross-products ``H_T = (L_T B)' [L_T (X'X)^-1 L_T']^-1 (L_T B)``.  A within
term is an orthonormal ``k x q`` basis ``P`` of its contrasts: the subject mean
(``P = 1/sqrt(k)``, the between-subject stratum, ``q = 1``) or the session contrasts
(``q = k - 1``).  The univariate test of ``T`` within ``P`` (``car::Anova.mlm`` type III,
``summary(..., multivariate = FALSE)``) is::

    SS = tr(P' H_T P),  SS_error = tr(P' E P),
    F = (SS / (df_T q)) / (SS_error / (df_e q)).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_confidence, check_interval
from painmarkers._versions import versions as _versions
from painmarkers._warnings import warn
from painmarkers.exceptions import DesignError, InferenceWarning
from painmarkers.stats._anova_data import dv_name, mixed_table
from painmarkers.stats._anova_design import as_levels, build_design, ols, sum_coding
from painmarkers.stats._anova_report import excluded_frame, save_tables, text_table
from painmarkers.stats._data import as_list, format_excluded

__all__ = ["MixedAnovaResult", "mixed_anova"]

#: Columns of :meth:`MixedAnovaResult.anova` (one row per term).
MIXED_ANOVA_COLUMNS = (
    "dv", "term", "stratum", "ss", "ss_error", "num_df", "den_df", "F", "p", "eps_gg",
    "eps_hf", "p_gg", "p_hf", "correction", "num_df_corrected", "den_df_corrected",
    "p_corrected", "ges", "partial_eta_sq", "n", "n_excluded", "excluded")
#: Columns of :meth:`MixedAnovaResult.sphericity` (one row per within term with q > 1).
SPHERICITY_COLUMNS = ("dv", "term", "W", "statistic", "df", "p", "eps_gg", "eps_hf")
#: Statistic columns of :meth:`MixedAnovaResult.cell_means` (after the factor columns).
CELL_MEANS_COLUMNS = ("n", "mean", "sd", "se", "ci_low", "ci_high", "confidence")

_CORRECTIONS = {"auto": "auto", "gg": "GG", "hf": "HF", "none": "none"}


def _check_correction(value: Any) -> str:
    key = value.lower() if isinstance(value, str) else value
    if key not in _CORRECTIONS:
        raise ValueError("The 'correction' parameter must be one of 'auto', 'GG', 'HF', "
                         f"'none'. Got {value!r}.")
    return _CORRECTIONS[key]


def _orthonormal(P: np.ndarray) -> np.ndarray:
    Q, _ = np.linalg.qr(P)
    return Q


def mauchly(Et: np.ndarray, df_e: int, k: int) -> tuple[float, float, float, float]:
    """Mauchly's W, its chi-square statistic, df and p, as car's ``summary.Anova.mlm``.

    ``Et`` is the ``q x q`` error matrix in an orthonormal basis of the within contrasts
    and ``k`` the number of sessions (car's ``nrow(P)``).
    """
    q = Et.shape[0]
    sign, logdet = np.linalg.slogdet(Et)
    if sign <= 0 or df_e < q:  # singular error matrix: no test (car reports NA)
        return np.nan, np.nan, q * (q + 1) / 2.0 - 1.0, np.nan
    logW = logdet - q * np.log(np.trace(Et) / q)
    rho = 1.0 - (2 * q**2 + q + 2) / (6.0 * q * df_e)
    # car uses nrow(P) = k (not q) in the "3 p" of the second-order term
    w2 = ((q + 2) * (q - 1) * (q - 2) * (2 * q**3 + 6 * q**2 + 3 * k + 2)
          / (288.0 * (df_e * q * rho) ** 2))
    z = -df_e * rho * logW
    f = q * (q + 1) / 2.0 - 1.0
    pr1 = stats.chi2.sf(z, f)
    pr2 = stats.chi2.sf(z, f + 4)
    return float(np.exp(logW)), float(z), float(f), float(pr1 + w2 * (pr2 - pr1))


def epsilons(Et: np.ndarray, df_e: int) -> tuple[float, float]:
    """Greenhouse-Geisser and Huynh-Feldt-Lecoutre epsilons (HF not capped at 1)."""
    q = Et.shape[0]
    lam = np.linalg.eigvalsh((Et + Et.T) / 2.0)
    lam = lam[lam > 0]
    gg = float((lam.sum() / q) ** 2 / ((lam**2).sum() / q))
    hf = ((df_e + 1) * q * gg - 2.0) / (q * (df_e - q * gg))
    return gg, float(hf)


@dataclass(frozen=True, eq=False)
class MixedAnovaResult:  # numpydoc ignore=PR01,EX01
    """A split-plot (mixed) ANOVA (from :func:`mixed_anova`).

    Follows the result protocol of painmarkers (:class:`painmarkers._results.Result`).

    Attributes
    ----------
    dv, within : str
        The response and the session column.
    between, covariates : tuple of str
        Between factors and (centred) covariates.
    sessions : list
        The levels of the within factor, in order.
    factors : dict
        ``{between factor: levels}``.
    correction : str
        Default sphericity correction of :meth:`anova`: ``"auto"``, ``"GG"``, ``"HF"`` or
        ``"none"``.
    observed : tuple of str
        Variables treated as observed (not manipulated) in the generalized eta squared.
    confidence : float
        Level of the intervals of :meth:`cell_means`.
    n, n_excluded : int
        Subjects analysed and left out.
    excluded : pandas.DataFrame
        ``subject``, ``reason`` of every subject left out.
    data : pandas.DataFrame
        The subjects analysed (index: subject ids): one column per session
        (``<dv>::<session>``, e.g. ``VAS::pre``), the factors and the covariates (uncentred).
    covariate_means : dict
        Means the covariates were centred at.
    df_error : int
        Error df of the between-subject stratum, ``n - rank(X)``.
    parameters, versions : dict
        Arguments of :func:`mixed_anova` and software versions.

    See Also
    --------
    mixed_anova : Fit the model; its examples use this result.
    """

    dv: str
    within: str
    between: tuple[str, ...]
    covariates: tuple[str, ...]
    sessions: list[Any]
    factors: dict[str, list[Any]]
    correction: str
    observed: tuple[str, ...]
    confidence: float
    n: int
    n_excluded: int
    excluded: pd.DataFrame
    data: pd.DataFrame
    covariate_means: dict[str, float]
    df_error: int
    parameters: Mapping[str, Any]
    versions: Mapping[str, str] = field(default_factory=_versions)
    _table: pd.DataFrame | None = field(default=None, repr=False)
    _sphericity: pd.DataFrame | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The ANOVA table (:meth:`anova`).

        Returns
        -------
        pandas.DataFrame
            One row per term, columns :data:`MIXED_ANOVA_COLUMNS` (see :meth:`anova`).
        """
        return self.anova()

    def anova(self, correction: str | None = None) -> pd.DataFrame:
        """The Type III ANOVA table, with the corrected df and p of ``correction``.

        Parameters
        ----------
        correction : {"auto", "GG", "HF", "none"} or None, default=None
            Which correction fills ``correction``, ``num_df_corrected``,
            ``den_df_corrected`` and ``p_corrected``; None: the fit's.

        Returns
        -------
        pandas.DataFrame
            One row per term (between terms, then the session term and its interactions;
            not the intercept), columns :data:`MIXED_ANOVA_COLUMNS`: ``dv``, ``term``
            (``"arm"``, ``"session"``, ``"arm:session"``, ``"age:session"``), ``stratum``
            (``"between"`` or ``"within"``), ``ss``, ``ss_error``, ``num_df``, ``den_df``,
            ``F``, ``p`` (uncorrected), ``eps_gg``, ``eps_hf`` (Huynh-Feldt-Lecoutre, not
            capped; NaN for between terms and two sessions), ``p_gg``, ``p_hf`` (with
            ``min(1, eps_hf)``), ``correction`` (``"GG"``, ``"HF"`` or ``"none"``: the
            one applied to that row), ``num_df_corrected``, ``den_df_corrected``,
            ``p_corrected``, ``ges`` (generalized eta squared), ``partial_eta_sq``, ``n``,
            ``n_excluded``, ``excluded``.
        """
        method = self.correction if correction is None else _check_correction(correction)
        tab = self._table.copy()
        q_gt1 = tab["eps_gg"].notna().to_numpy()
        eps_gg = tab["eps_gg"].to_numpy(float)
        if method == "auto":
            chosen = np.where(q_gt1, np.where(eps_gg > 0.75, "HF", "GG"), "none")
        else:
            chosen = np.where(q_gt1, method, "none")
        eps = np.ones(len(tab))
        eps[chosen == "GG"] = eps_gg[chosen == "GG"]
        hf = np.minimum(1.0, tab["eps_hf"].to_numpy(float))
        eps[chosen == "HF"] = hf[chosen == "HF"]
        tab["correction"] = chosen
        tab["num_df_corrected"] = tab["num_df"] * eps
        tab["den_df_corrected"] = tab["den_df"] * eps
        tab["p_corrected"] = np.select([chosen == "GG", chosen == "HF"],
                                       [tab["p_gg"], tab["p_hf"]], tab["p"])
        return tab[list(MIXED_ANOVA_COLUMNS)]

    def sphericity(self) -> pd.DataFrame:
        """Mauchly's test of sphericity of every within term with more than one df.

        The session term and its interactions share one error matrix, hence one test;
        it is listed for each term, as car and afex list it.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SPHERICITY_COLUMNS`: ``dv``, ``term``, ``W``, ``statistic``
            (the chi-square approximation), ``df``, ``p``, ``eps_gg``, ``eps_hf``. Empty
            (with its columns) with two sessions.
        """
        return self._sphericity.copy()

    @fill_doc
    def cell_means(self, confidence: float | None = None) -> pd.DataFrame:
        """Observed mean of every between cell x session over the subjects analysed.

        Parameters
        ----------
        %(confidence_result)s
            The intervals are t intervals.

        Returns
        -------
        pandas.DataFrame
            The between factor columns and the session column, then ``n``, ``mean``,
            ``sd``, ``se`` (``sd / sqrt(n)``), ``ci_low``, ``ci_high`` (``mean +- t se``
            on ``n - 1`` df), ``confidence``: the numbers of a means plot.
        """
        conf = self.confidence if confidence is None else check_interval(
            confidence, "confidence", 0, 1, closed="neither")
        keys = list(self.between)
        rows = []
        for combo in itertools.product(*[self.factors[b] for b in keys]):
            sub = self.data
            for b, lev in zip(keys, combo, strict=True):
                sub = sub[sub[b].astype(str) == str(lev)]
            for ses in self.sessions:
                v = sub[f"{self.dv}::{ses}"].to_numpy(float)
                n = v.size
                sd = float(v.std(ddof=1)) if n > 1 else np.nan
                se = sd / np.sqrt(n) if n > 1 else np.nan
                crit = stats.t.ppf(0.5 + conf / 2.0, n - 1) if n > 1 else np.nan
                m = float(v.mean()) if n else np.nan
                rows.append({**dict(zip(keys, combo, strict=True)), self.within: ses, "n": n,
                             "mean": m, "sd": sd, "se": se, "ci_low": m - crit * se,
                             "ci_high": m + crit * se, "confidence": conf})
        return pd.DataFrame(rows, columns=[*keys, self.within, *CELL_MEANS_COLUMNS])

    def summary(self) -> str:
        """Plain-text summary: design, subjects and exclusions, ANOVA, sphericity.

        Returns
        -------
        str
            Several lines: the design, the subjects analysed and excluded (with
            reasons), the ANOVA table and Mauchly's tests with the epsilons.
        """
        design = " x ".join([*(f"{b} ({len(self.factors[b])})" for b in self.between),
                             f"{self.within} ({len(self.sessions)}, within)"])
        lines = [f"Mixed ANOVA of {self.dv} (painmarkers.stats.mixed_anova; Type III, "
                 "sum-to-zero contrasts, as afex / car)",
                 f"Design: {design}" + (f"; covariates (centred): {', '.join(self.covariates)}"
                                        if self.covariates else ""),
                 f"Subjects: {self.n} with every session analysed, {self.n_excluded} "
                 "excluded"]
        for row in self.excluded.itertuples(index=False):
            lines.append(f"  excluded {row.subject}: {row.reason}")
        cols = ["term", "num_df", "den_df", "F", "p", "correction", "p_corrected", "ges",
                "partial_eta_sq"]
        lines += ["", "Analysis of variance:", *text_table(self.anova()[cols])]
        sph = self.sphericity()
        if len(sph):
            lines += ["", "Mauchly's test of sphericity and epsilons:"]
            lines += text_table(sph.drop(columns=["dv"]))
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
            Keys ``"anova"``, ``"sphericity"``, ``"cell_means"``, ``"excluded"``
            (``mixed_anova_<key>.csv``), ``"summary"`` (``mixed_anova_summary.txt``) and
            ``"parameters"`` (``mixed_anova_parameters.json``).

        Raises
        ------
        %(save_raises)s
        """
        tables = {"anova": self.anova(), "sphericity": self.sphericity(),
                  "cell_means": self.cell_means(), "excluded": self.excluded}
        return save_tables(self, directory, "mixed_anova", tables, {
            "n": self.n, "n_excluded": self.n_excluded, "df_error": self.df_error,
            "covariate_means": self.covariate_means})


def _split_plot(Y: np.ndarray, design, within: str, dv: str, observed: Sequence[str]
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Univariate split-plot tests, epsilons, Mauchly and effect sizes."""
    X = design.X
    n, p = X.shape
    k = Y.shape[1]
    B, xtx_inv, R = ols(X, Y)
    E = R.T @ R
    df_e = n - p
    between_terms = [("(Intercept)", np.arange(1), ())]
    between_terms += [(t.name, np.arange(t.columns.start, t.columns.stop),
                       t.factors + ((t.covariate,) if t.covariate else ()))
                      for t in design.terms]
    strata = [("(Intercept)", _orthonormal(np.ones((k, 1)))),
              (within, _orthonormal(sum_coding(k)))]
    rows, sph = [], []
    for wname, P in strata:
        q = P.shape[1]
        Et = P.T @ E @ P
        sse = float(np.trace(Et))
        gg = hf = np.nan
        if wname != "(Intercept)" and q > 1:
            gg, hf = epsilons(Et, df_e)
            W, chi2, f, p_m = mauchly(Et, df_e, k)
            if np.isnan(W):
                warn(f"The error matrix of the {q} contrasts of {wname!r} is singular (only "
                     f"{df_e} error df for {n} subjects): Mauchly's test is not available "
                     "(NaN) and the epsilons rest on its non-zero eigenvalues. Add subjects "
                     "or use fewer sessions.", InferenceWarning)
        for bname, cols, variables in between_terms:
            LB = B[cols]
            H = LB.T @ np.linalg.solve(xtx_inv[np.ix_(cols, cols)], LB)
            ss = float(np.trace(P.T @ H @ P))
            if wname == "(Intercept)":
                name, stratum = bname, "between"
            else:
                name = wname if bname == "(Intercept)" else f"{bname}:{wname}"
                stratum = "within"
                variables = (*variables, wname)
            num, den = len(cols) * q, df_e * q
            F = (ss / num) / (sse / den)
            row = {"dv": dv, "term": name, "stratum": stratum, "ss": ss, "ss_error": sse,
                   "num_df": float(num), "den_df": float(den), "F": F,
                   "p": float(stats.f.sf(F, num, den)), "eps_gg": gg, "eps_hf": hf,
                   "_vars": set(variables)}
            if q > 1 and np.isfinite(gg):
                row["p_gg"] = float(stats.f.sf(F, gg * num, gg * den))
                e = min(1.0, hf)
                row["p_hf"] = float(stats.f.sf(F, e * num, e * den))
                # one row per within term, as car / afex list them (same error matrix)
                sph.append({"dv": dv, "term": name, "W": W, "statistic": chi2, "df": f,
                            "p": p_m, "eps_gg": gg, "eps_hf": hf})
            else:
                row["p_gg"] = row["p_hf"] = np.nan
            rows.append(row)
    table = pd.DataFrame(rows)
    # generalized eta squared (Olejnik & Algina 2003; afex): all error strata in the
    # denominator, plus the effects of observed variables other than the effect itself
    err_total = float(np.sum([np.trace(P.T @ E @ P) for _, P in strata]))
    is_obs = np.array([bool(v & set(observed)) for v in table["_vars"]])
    obs_ss = float(table["ss"].to_numpy()[is_obs].sum())
    ss = table["ss"].to_numpy()
    table["ges"] = ss / (ss + err_total + obs_ss - np.where(is_obs, ss, 0.0))
    table["partial_eta_sq"] = ss / (ss + table["ss_error"])
    table = table[table["term"] != "(Intercept)"].drop(columns="_vars")
    return table.reset_index(drop=True), pd.DataFrame(sph, columns=list(SPHERICITY_COLUMNS))


@fill_doc
def mixed_anova(
    data: Any,
    dv: str | tuple[str, str],
    between: str | Sequence[str] | None,
    *,
    within: str = "session",
    subject: str = "subject_id",
    covariates: str | Sequence[str] | None = None,
    sessions: Sequence[Any] | None = None,
    levels: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    correction: str = "auto",
    observed: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> MixedAnovaResult:
    """Type III split-plot ANOVA: between factors x sessions, as ``afex::aov_ez``.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort, its tidy table or a long table with one row per subject and session.
    dv : str or (feature, roi) tuple
        The response column (``"VAS"``, ``"alff__SMA_L"`` or ``("alff", "SMA_L")``).
    between : str, list of str or None
        Between-subject factor column(s) (e.g. ``"arm"``), any number of levels each,
        fully crossed; None for a one-way repeated-measures ANOVA.
    %(within)s
        Two or more levels.
    %(subject)s
    covariates : str, list of str or None, default=None
        Numeric subject-level covariate column(s) (one value per subject), centred at
        their mean over the subjects analysed and entered additively in the
        between-subject part (as afex with ``factorize = FALSE``): the table gains the
        covariate's main effect and its interaction with the sessions.
    sessions : list of labels or None, default=None
        Sessions analysed, in order; None: all, in the data's order (the category
        order of a pandas Categorical, else order of first appearance, as afex).
    levels : list, mapping or None, default=None
        Levels of the between factor(s), as in :func:`ancova`.
    correction : {"auto", "GG", "HF", "none"}, default="auto"
        Sphericity correction reported in ``p_corrected`` for within terms with more
        than one df: Greenhouse-Geisser, Huynh-Feldt(-Lecoutre), none, or ``"auto"``:
        Huynh-Feldt when the Greenhouse-Geisser epsilon exceeds 0.75, else
        Greenhouse-Geisser (Huynh & Feldt 1976; Girden 1992). Every p value is reported
        whatever the choice.
    observed : str, list of str or None, default=None
        Variables that are measured rather than manipulated (e.g. ``"sex"``), for the
        generalized eta squared (Olejnik & Algina 2003; afex's ``observed``).
    %(confidence)s
        The intervals are those of :meth:`MixedAnovaResult.cell_means`.

    Returns
    -------
    MixedAnovaResult
        ``anova()`` (F tests with epsilons, corrected p, generalized and partial eta
        squared), ``sphericity()`` (Mauchly), ``cell_means()``, the subjects analysed and
        excluded.

    Raises
    ------
    DataError
        A column that does not exist, non-numeric values, a subject with two rows for one
        session, or a subject whose rows disagree on a between factor or covariate.
    DesignError
        Fewer than two sessions, a factor with one level, an empty cell, a constant or
        collinear covariate (rank-deficient design), no error df left.
    ValueError, TypeError
        An invalid option.

    Warns
    -----
    InferenceWarning
        Subjects without every session were excluded (the warning says how many and
        why; the complete-case analysis assumes visits missing completely at random, and
        :func:`painmarkers.stats.lmm` uses every visit); a cell with one subject.

    Notes
    -----
    See :mod:`painmarkers.stats._mixed_anova` for the multivariate formulation
    (``car::Anova.mlm``, Type III, sum-to-zero contrasts); the error of the between terms
    is the subjects-within-groups stratum and that of ``session`` and its interactions
    the session x subjects-within-groups stratum.

    *Sphericity.* With ``E_P = P'EP`` the ``q x q`` error matrix of the session contrasts
    (``q = k - 1``, ``P`` orthonormal) and :math:`\\lambda_i` its eigenvalues:

    * Greenhouse-Geisser (1959): :math:`\\hat\\varepsilon = (\\sum\\lambda_i)^2 /
      (q \\sum\\lambda_i^2)`;
    * Huynh-Feldt (1976) with Lecoutre's (1991) correction, as car and afex:
      :math:`\\tilde\\varepsilon = ((\\nu + 1) q \\hat\\varepsilon - 2) / (q (\\nu -
      q \\hat\\varepsilon))`, :math:`\\nu = df_e = n - rank(X)`; reported uncapped and
      used as :math:`\\min(1, \\tilde\\varepsilon)`;
    * corrected tests: the same F on :math:`\\varepsilon\\, df_{num}` and
      :math:`\\varepsilon\\, df_{den}` df;
    * Mauchly (1940): :math:`W = \\det E_P / (\\operatorname{tr} E_P / q)^q`,
      :math:`\\chi^2 = -\\nu \\rho \\log W` on :math:`f = q(q+1)/2 - 1` df with
      :math:`\\rho = 1 - (2q^2 + q + 2) / (6 q \\nu)` and the second-order term
      :math:`p = P_f + \\omega_2 (P_{f+4} - P_f)`, :math:`\\omega_2 = (q+2)(q-1)(q-2)
      (2q^3 + 6q^2 + 3k + 2) / (288 (\\nu q \\rho)^2)` (car's ``mauchly``, which has
      ``3k`` where ``stats::mauchly.test`` has ``3q``; the difference matters from four
      sessions).

    *Effect sizes.* Partial :math:`\\eta^2_p = SS / (SS + SS_{error})` and generalized
    :math:`\\eta^2_G = SS / (SS + \\sum_s SS_{error,s} + \\sum_{o} SS_o - [T \\text{ is
    observed}] SS)` with the sum over the error strata ``s`` and over the effects ``o``
    involving an ``observed`` variable (Olejnik & Algina 2003; Bakeman 2005; afex).

    Subjects lacking a session (or the score at one, or a factor or covariate) are
    excluded, counted and named in ``excluded``. Checked against afex 1.2-1 / car 3.1-1
    (``tests/stats/test_mixed_anova_r.py``: relative error below 1e-8 for SS, F,
    epsilons, W, eta squared; p values to 1e-8) and ``pingouin.mixed_anova``
    (balanced, one factor each).

    References
    ----------
    .. [1] Greenhouse SW, Geisser S (1959). On methods in the analysis of profile data.
       Psychometrika 24:95-112.
    .. [2] Huynh H, Feldt LS (1976). Estimation of the Box correction for degrees of
       freedom from sample data in randomized block and split-plot designs. J Educ
       Stat 1:69-82.
    .. [3] Lecoutre B (1991). A correction for the epsilon-tilde approximate test in
       repeated measures designs with two or more independent groups. J Educ Stat
       16:371-372.
    .. [4] Mauchly JW (1940). Significance test for sphericity of a normal n-variate
       distribution. Ann Math Stat 11:204-209.
    .. [5] Olejnik S, Algina J (2003). Generalized eta and omega squared statistics:
       measures of effect size for some common research designs. Psychol Methods
       8:434-447.
    .. [6] Girden ER (1992). ANOVA: Repeated Measures. Sage.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from painmarkers.stats import mixed_anova
    >>> rng = np.random.default_rng(1)
    >>> ids = [f"s{i:02d}" for i in range(12)]
    >>> long = pd.DataFrame({"subject_id": np.repeat(ids, 3),
    ...                      "arm": np.repeat(["active", "sham"], 18),
    ...                      "session": np.tile(["pre", "post", "fu"], 12)})
    >>> long["VAS"] = 6 + rng.normal(0, 1, 36) - (long["session"] != "pre") * (
    ...     long["arm"] == "active")
    >>> res = mixed_anova(long, "VAS", "arm")
    >>> res.anova()[["term", "num_df", "den_df"]]
              term  num_df  den_df
    0          arm     1.0    10.0
    1      session     2.0    20.0
    2  arm:session     2.0    20.0
    """
    between = as_list(between, "between")
    covs = as_list(covariates, "covariates")
    correction = _check_correction(correction)
    confidence = check_confidence(confidence)
    obs = as_list(observed, "observed")
    for o in obs:
        if o not in (*between, *covs, within):
            raise ValueError(f"The 'observed' parameter names {o!r}, which is not a variable "
                             f"of the model ({[*between, *covs, within]}).")
    dv = dv_name(dv)
    st = mixed_table(data, dv, between, covs, within=within, subject=subject,
                     sessions=sessions, levels=as_levels(levels, between))
    visits = {s: r for s, r in st.reasons.items()
              if ("session" in r and r != "no session") or " missing at " in r}
    if visits:
        shown = format_excluded(dict(list(visits.items())[:5]))
        warn(f"mixed_anova excluded {len(visits)} of {st.n_total} subjects without a score at "
             f"every session of {within!r} ({shown}{'; ...' if len(visits) > 5 else ''}). "
             "This complete-case analysis assumes visits missing completely at random; "
             "painmarkers.stats.lmm uses every visit.", InferenceWarning)
    frame = st.frame
    if len(frame) == 0:
        raise DesignError(f"No subject has {dv!r} at every session of {within!r} "
                          f"({st.n_total} excluded).")
    design = build_design(frame, st.factors, covs, center=True)
    ycols = [f"{dv}::{s}" for s in st.sessions]
    table, sph = _split_plot(frame[ycols].to_numpy(float), design, within, dv, obs)
    table["n"] = len(frame)
    table["n_excluded"] = len(st.reasons)
    table["excluded"] = format_excluded(st.reasons)
    for col in ("correction", "num_df_corrected", "den_df_corrected", "p_corrected"):
        table[col] = np.nan
    return MixedAnovaResult(
        dv=dv, within=within, between=tuple(between), covariates=tuple(covs),
        sessions=list(st.sessions), factors=st.factors, correction=correction,
        observed=tuple(obs), confidence=confidence, n=len(frame),
        n_excluded=len(st.reasons), excluded=excluded_frame(st.reasons),
        data=frame[[*ycols, *between, *covs]].copy(),
        covariate_means=dict(design.covariate_means), df_error=int(design.X.shape[0]
                                                                   - design.X.shape[1]),
        parameters={"dv": dv, "between": list(between), "within": within, "subject": subject,
                    "covariates": covs, "sessions": None if sessions is None else list(
                        sessions), "levels": None if levels is None else (
                        {k: list(v) for k, v in levels.items()} if isinstance(levels, Mapping)
                        else list(levels)), "correction": correction, "observed": obs,
                    "confidence": confidence},
        _table=table, _sphericity=sph)
