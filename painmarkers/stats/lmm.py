"""Linear mixed models for trial designs, with Satterthwaite and Kenward-Roger df.

:func:`lmm` fits ``response ~ fixed terms`` with random effects per subject by REML (or
ML), as ``lme4::lmer(formula + (random | subject))`` does, and returns an
:class:`LMMResult`: fixed effects with t tests, Type III F tests, variance components,
estimated marginal means and the contrasts of a trial (change from baseline within each
arm, and the difference of those changes between arms).  Every number is checked against
lme4 1.1-31 / lmerTest 3.1-3 / pbkrtest 0.5.2 / emmeans 1.8.4 on committed fixtures
(``tests/fixtures/r/lmm``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers._docs import fill_doc
from painmarkers._mixedmodels.design import build_design
from painmarkers._mixedmodels.fit import fit as _fit
from painmarkers._mixedmodels.fit import make_blocks, theta_index
from painmarkers._mixedmodels.infer import Engine, check_ddf
from painmarkers._validation import check_confidence
from painmarkers._versions import versions as _versions
from painmarkers._warnings import warn
from painmarkers.exceptions import DesignError, InferenceWarning
from painmarkers.stats import _emmeans
from painmarkers.stats._anova_report import save_tables
from painmarkers.stats._data import as_list, as_table

__all__ = ["LMMResult", "lmm"]

#: Columns of :attr:`LMMResult.fixed_effects`.
FIXED_COLUMNS = ("term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high")
#: Columns of :meth:`LMMResult.anova`.
ANOVA_COLUMNS = ("term", "F", "num_df", "den_df", "p")
#: Columns of :attr:`LMMResult.variance_components` (as R's ``as.data.frame(VarCorr())``).
VARCORR_COLUMNS = ("group", "var1", "var2", "vcov", "sdcor")
#: Statistic columns of :meth:`LMMResult.emmeans` (after the factor columns).
EMMEANS_COLUMNS = ("emmean", "se", "df", "ci_low", "ci_high", "confidence", "method")
#: Columns of :meth:`LMMResult.contrast`.
CONTRAST_COLUMNS = ("contrast", "kind", "levels", "sessions", "estimate", "se", "df", "t",
                    "p", "ci_low", "ci_high", "confidence", "method")


@dataclass(frozen=True, eq=False)
class LMMResult:  # numpydoc ignore=PR01,EX01
    """A fitted linear mixed model (from :func:`lmm`).

    Attributes
    ----------
    formula, random, subject : str
        The fixed part, the random part (``"1"``: random intercept) and the subject column.
    response : str
        The response column.
    ddf : str
        Default df method of the tables: ``"satterthwaite"``, ``"kenward-roger"`` or
        ``"wald"``.
    reml : bool
        REML (True) or maximum-likelihood fit.
    confidence : float
        Default confidence level of the intervals.
    fixed_effects : pandas.DataFrame
        One row per coefficient: ``term`` (patsy/formulaic name, e.g.
        ``"arm[T.sham]:session[T.post]"``), ``estimate``, ``se``, ``df``, ``t``, ``p``
        (two-sided), ``ci_low``, ``ci_high``.  With ``ddf="kenward-roger"`` the se are
        those of the adjusted covariance; with ``ddf="wald"`` ``df`` is inf and ``t`` is a z.
    variance_components : pandas.DataFrame
        ``group`` (the subject column or ``"Residual"``), ``var1``, ``var2`` (random-effect
        columns; ``var2`` set for a covariance), ``vcov`` (variance or covariance) and
        ``sdcor`` (standard deviation or correlation).
    loglik : float
        REML (or ML) log-likelihood, R's ``logLik()``.
    deviance : float
        ``-2 * loglik`` (lme4's ``REMLcrit()`` / ``deviance()``).
    n_obs, n_subjects : int
        Rows and subjects used.
    n_excluded_rows, n_excluded_subjects : int
        Rows excluded (a missing value in a column the model uses) and subjects left
        without any row.
    excluded : pandas.DataFrame
        One row per subject with excluded rows: ``subject``, ``n_rows_excluded``,
        ``n_rows_used``, ``subject_excluded``, ``reason``.
    converged : bool
        The optimiser met its criteria (gradient < 1e-5 on the free parameters, positive
        definite Hessian, no descent direction away from a zero variance).
    singular : bool
        Boundary fit: the random-effect covariance is singular, a variance (near) zero
        or a correlation of +-1 (lme4's ``isSingular``: a diagonal element of the
        Cholesky factor, in theta, below 1e-4).
    convergence_message : str
        ``"converged"`` or what failed.
    theta : numpy.ndarray
        lme4's theta: the lower triangle of the relative Cholesky factor of the random-effect
        covariance, column by column.
    sigma : float
        Residual standard deviation.
    coef : pandas.Series
        The fixed-effect estimates by term.
    vcov : pandas.DataFrame
        Covariance of the estimates used by ``ddf`` (Kenward-Roger: adjusted).
    notes : tuple of str
        Remarks on the data (e.g. unused levels dropped).
    parameters : dict
        The arguments of :func:`lmm`.
    versions : dict
        Software versions.

    See Also
    --------
    lmm : Fit the model; its examples use this result.
    """

    formula: str
    random: str
    subject: str
    response: str
    ddf: str
    reml: bool
    confidence: float
    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    loglik: float
    deviance: float
    n_obs: int
    n_subjects: int
    n_excluded_rows: int
    n_excluded_subjects: int
    excluded: pd.DataFrame
    converged: bool
    singular: bool
    convergence_message: str
    theta: np.ndarray
    sigma: float
    coef: pd.Series
    vcov: pd.DataFrame
    notes: tuple[str, ...]
    parameters: Mapping[str, Any]
    versions: Mapping[str, str] = field(default_factory=_versions)
    _engine: Engine | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """The fixed-effect table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`fixed_effects`: ``term``, ``estimate``, ``se``, ``df``,
            ``t``, ``p``, ``ci_low``, ``ci_high``.
        """
        return self.fixed_effects.copy()

    def _ddf(self, ddf: str | None) -> str:
        return self.ddf if ddf is None else check_ddf(ddf, self.reml)

    def _confidence(self, confidence: float | None) -> float:
        if confidence is None:
            return self.confidence
        return check_confidence(confidence)

    def anova(self, type: int = 3, *, ddf: str | None = None) -> pd.DataFrame:
        """F test of every fixed-effect term.

        Parameters
        ----------
        type : {3, 1}, default=3
            Type III hypotheses (lmerTest's, equivalent to sum-to-zero coding whatever the
            contrasts) or Type I (sequential, Doolittle).
        ddf : {"satterthwaite", "kenward-roger", "wald"} or None, default=None
            Df method; None: the fit's.

        Returns
        -------
        pandas.DataFrame
            One row per term: ``term``, ``F``, ``num_df``, ``den_df``, ``p``.

        Raises
        ------
        ValueError
            ``type`` other than 3 or 1, or an unknown ``ddf``.

        Notes
        -----
        For a hypothesis ``L beta = 0`` of rank ``q``: Satterthwaite
        ``F = (L b)'(L C L')^-1 (L b) / q`` with lmerTest's denominator df (see
        :func:`lmm`); Kenward-Roger the scaled F of pbkrtest (adjusted covariance, F scale
        and df from Kenward & Roger 1997); Wald ``F = chi2 / q`` with infinite
        denominator df (``p`` from chi2(q)).
        """
        if type not in (1, 3):
            raise ValueError(f"The 'type' parameter must be 3 or 1. Got {type!r}.")
        method = self._ddf(ddf)
        hyps = self._engine.hypotheses(type)
        rows = []
        for term, L in hyps.items():
            F, q, den, p = self._engine.ftest(L, method) if len(L) else (np.nan, 0, np.nan,
                                                                         np.nan)
            rows.append({"term": term, "F": F, "num_df": q, "den_df": den, "p": p})
        return pd.DataFrame(rows, columns=list(ANOVA_COLUMNS))

    @fill_doc
    def emmeans(self, specs: str | Sequence[str], by: str | Sequence[str] | None = None, *,
                at: Mapping[str, Any] | None = None, ddf: str | None = None,
                confidence: float | None = None) -> pd.DataFrame:
        """Estimated marginal means, as ``emmeans::emmeans(fit, specs, by)``.

        Parameters
        ----------
        specs : str or list of str
            Categorical variable(s) whose marginal means are wanted (e.g. ``"session"``).
        by : str, list of str or None, default=None
            Categorical variable(s) within whose levels the means are given (e.g. ``"arm"``).
        at : dict or None, default=None
            Values of covariates (None: their means over the rows used) or subsets of
            factor levels for the reference grid.
        ddf : {"satterthwaite", "kenward-roger", "wald"} or None, default=None
            Df method; None: the fit's (emmeans' ``lmer.df``).
        %(confidence_result)s

        Returns
        -------
        pandas.DataFrame
            The ``by`` and ``specs`` columns, then ``emmean``, ``se``, ``df``, ``ci_low``,
            ``ci_high``, ``confidence``, ``method``.

        Notes
        -----
        The reference grid holds every combination of the levels of the categorical
        variables, each covariate at its mean; a marginal mean averages the grid
        predictions over the other factors with equal weights (emmeans' default).  With
        Kenward-Roger the standard errors come from the adjusted covariance and the df from
        ``pbkrtest::Lb_ddf``; with Satterthwaite from lmerTest (as emmeans does).
        """
        method, conf = self._ddf(ddf), self._confidence(confidence)
        labels, L = _emmeans.emm_rows(self._engine.design, specs, by, at)
        res = self._engine.rows(L, method, conf)
        out = labels.copy()
        for col in ("se", "df", "ci_low", "ci_high"):
            out[col] = res[col]
        out.insert(len(labels.columns), "emmean", res["estimate"])
        out["confidence"] = conf
        out["method"] = method
        return out

    @fill_doc
    def contrast(self, within: str = "session", between: str | None = None, *,
                 pre: Any = None, post: Any = None, levels: Sequence[Any] | None = None,
                 at: Mapping[str, Any] | None = None, ddf: str | None = None,
                 confidence: float | None = None) -> pd.DataFrame:
        """Change from baseline within each group, and the differences of those changes.

        Parameters
        ----------
        %(within)s
            It must be a categorical variable of the model.
        between : str or None, default=None
            The group column (e.g. ``"arm"``); without it only the changes are given
            (averaged over the other factors).
        pre : label or None, default=None
            Baseline session; None: the first level of ``within``.
        post : label, list of labels or None, default=None
            Session(s) compared with ``pre``; None: every other level.
        levels : list of labels or None, default=None
            Groups, in the order they are compared: every pair ``(levels[i], levels[j])``,
            ``i < j``, gives ``levels[i] - levels[j]``; None: all levels in their order.
        at : dict or None, default=None
            Covariate values / factor subsets of the reference grid (see :meth:`emmeans`).
        ddf : {"satterthwaite", "kenward-roger", "wald"} or None, default=None
            Df method; None: the fit's.
        %(confidence_result)s

        Returns
        -------
        pandas.DataFrame
            One row per contrast: ``contrast`` (e.g. ``"active: post - pre"``,
            ``"(active - sham): post - pre"``), ``kind`` (``"change"`` or
            ``"difference of changes"``), ``levels``, ``sessions``, ``estimate``, ``se``,
            ``df``, ``t``, ``p`` (two-sided, not adjusted for multiplicity), ``ci_low``,
            ``ci_high``, ``confidence``, ``method``.

        Notes
        -----
        A change is ``post - pre`` (negative when the score decreases) of the marginal
        means of the ``within x between`` cells; the difference of changes (the
        difference-in-differences, the group x time interaction contrast) is
        ``(post - pre)[levels[i]] - (post - pre)[levels[j]]``.  Each is one linear
        combination of the coefficients, tested with the fit's df method exactly as
        ``emmeans::contrast(emmeans(fit, ~ session * arm), method = list(...),
        adjust = "none")``.
        """
        method, conf = self._ddf(ddf), self._confidence(confidence)
        labels, L = _emmeans.change_rows(self._engine.design, within, between, pre, post,
                                         levels, at)
        res = self._engine.rows(L, method, conf)
        out = labels.copy()
        for col in ("estimate", "se", "df", "t", "p", "ci_low", "ci_high"):
            out[col] = res[col]
        out["confidence"] = conf
        out["method"] = method
        return out[list(CONTRAST_COLUMNS)]

    # ------------------------------------------------------------------ text and files
    def summary(self) -> str:
        """Plain-text summary in the layout of R's ``summary()`` of an lmerTest fit.

        Returns
        -------
        str
            Model, data used and excluded, fit criterion, convergence and boundary
            flags, variance components, fixed effects and the Type III table.
        """
        from painmarkers.stats._lmm_summary import format_summary

        return format_summary(self)

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the tables, the summary and the parameters into ``directory``.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            Keys ``"fixed_effects"``, ``"anova"``, ``"variance_components"``,
            ``"excluded"`` (``lmm_<key>.csv``), ``"summary"`` (``lmm_summary.txt``) and
            ``"parameters"`` (``lmm_parameters.json``).

        Raises
        ------
        %(save_raises)s
        """
        tables = {"fixed_effects": self.fixed_effects, "anova": self.anova(),
                  "variance_components": self.variance_components, "excluded": self.excluded}
        return save_tables(self, directory, "lmm", tables, {
            "loglik": self.loglik, "n_obs": self.n_obs, "n_subjects": self.n_subjects,
            "converged": self.converged, "singular": self.singular,
            "theta": [float(t) for t in self.theta], "sigma": self.sigma})


@fill_doc
def lmm(data: Any, formula: str, *, subject: str = "subject_id", random: str = "1",
        between: str | Sequence[str] | None = None, ddf: str = "satterthwaite",
        reml: bool = True, confidence: float = 0.95) -> LMMResult:
    """Fit a linear mixed model with random effects per subject (lme4 / lmerTest at R's level).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A long table with one row per subject and session (a Cohort, its
        ``to_frame()`` table and its wide table are accepted).
    formula : str
        Fixed part in R / patsy style, e.g. ``"VAS ~ arm * session + age"``.  Categorical
        columns use treatment coding with the first level as reference: a pandas
        Categorical's order, otherwise the sorted values (R's default); wrap a numeric
        column in ``C()`` to make it categorical.
    subject : str, default="subject_id"
        The subject-id column (the grouping factor of the random effects).
    random : str, default="1"
        Random part per subject: ``"1"`` a random intercept, ``"1 + time"`` a random
        intercept and slope with an unstructured covariance (lme4's
        ``(1 + time | subject)``).
    between : str, list of str or None, default=None
        Columns that must be constant within each subject (e.g. the arm): a subject whose
        rows disagree raises DataError.  Without it, a column that varies within only a few
        subjects (<= 10 % of those with several rows) gives a warning.
    ddf : {"satterthwaite", "kenward-roger", "wald"}, default="satterthwaite"
        Df method of every table: lmerTest's Satterthwaite, pbkrtest's Kenward-Roger (REML
        only), or Wald z / chi2 tests (infinite df).
    reml : bool, default=True
        REML (True) or maximum likelihood.
    %(confidence)s

    Returns
    -------
    LMMResult
        Fixed effects, ``anova()``, variance components, log-likelihood, ``emmeans()``,
        ``contrast()``, exclusions and the convergence / boundary flags.

    Raises
    ------
    DataError
        A formula variable, the subject or a ``between`` column is not a column; a
        ``between`` column varies within a subject; the response is constant.
    DesignError
        The fixed-effect design is rank deficient (the message names the dependent
        columns), a factor is not treatment-coded, or there are too few rows or subjects.
    ValueError
        An invalid parameter (e.g. an lme4 ``(1 | g)`` term inside ``formula``).

    Warns
    -----
    InferenceWarning
        A boundary (singular) fit or a fit that did not converge (also recorded in the
        result and its summary).
    PainmarkersWarning
        Rows excluded for missing values (with counts), a level observed in one subject, a
        column that looks like a between-subject column but varies within a few subjects.

    Notes
    -----
    Model: ``y_i = X_i b + Z_i u_i + e_i`` per subject, ``u_i ~ N(0, s^2 Lambda Lambda')``,
    ``e_i ~ N(0, s^2 I)``, so ``Var(y_i) = s^2 V_i``, ``V_i = I + Z_i Lambda Lambda' Z_i'``.
    The REML criterion minimised over lme4's ``theta`` (the lower triangle of ``Lambda``,
    diagonal >= 0; Bates et al. 2015), with ``Q = (y - Xb)'V^-1(y - Xb)`` at the GLS
    estimate ``b`` and ``n - p`` residual df, is

    .. math::

        d(\\theta) = \\log|V| + \\log|X^\\top V^{-1}X| + (n-p)\\,[1 + \\log(2\\pi Q/(n-p))]

    (ML: no ``log|X'V^-1 X|`` and ``n`` for ``n - p``).  A random intercept is a 1-D
    problem in the variance ratio: a grid, a bounded Brent search and Newton steps on the
    analytic derivatives (the boundary ``theta = 0`` is tested exactly); random slopes use
    L-BFGS-B from lme4's start and Newton polishing.

    *Satterthwaite* (Kuznetsova et al. 2017): for a contrast ``l``,
    ``df = 2 (l'Cl)^2 / (g'Ag)`` with ``C = s^2 (X'V^-1 X)^-1``, ``g`` the gradient of
    ``l'C l`` in lmerTest's variance parameters ``(theta, s)`` and ``A`` twice the inverse
    Hessian of the deviance (both analytic).  A q-df F rotates ``L`` by the
    eigenvectors of ``LCL'`` into q t statistics with df ``nu_m`` and uses
    ``2E/(E - q)``, ``E = sum nu_m / (nu_m - 2)``.

    *Kenward-Roger* (Kenward & Roger 1997; Halekoh & Hojsgaard 2014): the covariance is
    written ``Sigma = sum_k gamma_k G_k`` (random-effect (co)variances and the residual
    variance); the small-sample adjusted covariance ``Phi_A`` of pbkrtest replaces ``C``,
    and F is scaled with the df ``m`` of the moment-matching approximation.

    Type III hypotheses are lmerTest's (treatment-coded ``X`` mapped onto
    sum-to-zero-equivalent hypotheses); marginal means follow emmeans (Lenth): reference
    grid, covariates at their means, equal weights.

    Checked against R 4.2.2 (lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, emmeans
    1.8.4-1): estimates, SE, t, F agree to 1e-6 relative, Satterthwaite and KR df and p to
    1e-4 (in practice ~1e-7), on balanced, unbalanced (dropout), three-arm, boundary,
    random-slope and ML fits.

    References
    ----------
    Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models
    using lme4. J Stat Softw 67(1). Kuznetsova A, Brockhoff PB, Christensen RHB (2017).
    lmerTest package: tests in linear mixed effects models. J Stat Softw 82(13).
    Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted
    maximum likelihood. Biometrics 53:983-997. Halekoh U, Hojsgaard S (2014). A
    Kenward-Roger approximation and parametric bootstrap methods for tests in linear
    mixed models - the R package pbkrtest. J Stat Softw 59(9). Lenth RV. emmeans:
    estimated marginal means. R package.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from painmarkers.stats import lmm
    >>> rng = np.random.default_rng(0)
    >>> rows = [(f"s{i:02d}", "active" if i < 10 else "sham", ses,
    ...          6 + rng.normal() * (ses == "pre") - 1.5 * (i < 10) * (ses == "post"))
    ...         for i in range(20) for ses in ("pre", "post")]
    >>> df = pd.DataFrame(rows, columns=["subject_id", "arm", "session", "VAS"])
    >>> df["session"] = pd.Categorical(df["session"], ["pre", "post"])
    >>> df["VAS"] += np.repeat(rng.normal(size=20), 2) + rng.normal(scale=0.5, size=40)
    >>> fit = lmm(df, "VAS ~ arm * session")
    >>> fit.anova()["term"].tolist()
    ['arm', 'session', 'arm:session']
    >>> fit.contrast("session", "arm")["kind"].tolist()
    ['change', 'change', 'difference of changes']
    """
    method = check_ddf(ddf, bool(reml))
    conf = check_confidence(confidence)
    if not isinstance(subject, str):
        raise TypeError(f"The 'subject' parameter must be a column name. Got {subject!r}.")
    between_cols = as_list(between, "between")
    table = as_table(data)
    design = build_design(table, formula, subject=subject, random=random,
                          between=between_cols)
    if len(design.excluded):
        n_rows = int(design.excluded["n_rows_excluded"].sum())
        n_sub = int(design.excluded["subject_excluded"].sum())
        warn(f"{n_rows} row(s) of {len(design.excluded)} subject(s) excluded for missing "
             f"values ({n_sub} subject(s) left without any row); every other row is used. "
             f"See LMMResult.excluded.")
    blocks, resp = make_blocks(design.X, design.Z, design.y, design.groups)
    prof, info = _fit(blocks, resp, bool(reml))
    if not prof.ok or not np.isfinite(prof.deviance):
        raise DesignError(f"The mixed model {formula!r} could not be fitted: {info.message}.")
    engine = Engine(design, blocks, resp, prof, info)
    if info.singular:
        warn(f"Boundary (singular) fit of {formula!r}: the random-effect covariance is "
             "singular, a variance estimated as (near) zero or a correlation of +-1 (theta = "
             f"{np.array2string(info.theta, precision=4)}); the fixed-effect tests remain "
             "valid but the random part is over-specified for these data.", InferenceWarning)
    if not info.converged:
        warn(f"The fit of {formula!r} may not have converged: {info.message}.",
             InferenceWarning)
    names = design.column_names
    L = np.eye(len(names))
    res = engine.rows(L, method, conf)
    fixed = pd.DataFrame({"term": names, **{k: res[k] for k in FIXED_COLUMNS[1:]}})
    vcov = pd.DataFrame(engine.vcov(method), index=names, columns=names)
    excluded = design.excluded
    return LMMResult(
        formula=formula, random=random, subject=subject, response=design.response,
        ddf=method, reml=bool(reml), confidence=conf, fixed_effects=fixed,
        variance_components=_varcorr(design, prof), loglik=-prof.deviance / 2,
        deviance=prof.deviance, n_obs=int(design.X.shape[0]),
        n_subjects=len(design.subject_ids),
        n_excluded_rows=int(excluded["n_rows_excluded"].sum()),
        n_excluded_subjects=int(excluded["subject_excluded"].sum()), excluded=excluded,
        converged=info.converged, singular=info.singular,
        convergence_message=info.message, theta=info.theta.copy(),
        sigma=float(np.sqrt(prof.sigma2)), coef=pd.Series(prof.beta, index=names),
        vcov=vcov, notes=tuple(design.notes),
        parameters={"formula": formula, "subject": subject, "random": random,
                    "between": between_cols, "ddf": method, "reml": bool(reml),
                    "confidence": conf},
        _engine=engine)


def _varcorr(design, prof) -> pd.DataFrame:
    """Variance components as R's ``as.data.frame(VarCorr(fit))``."""
    q = len(design.random_names)
    cov = prof.sigma2 * prof.psi
    sd = np.sqrt(np.diag(cov))
    rows = [{"group": design.subject, "var1": design.random_names[j], "var2": "",
             "vcov": cov[j, j], "sdcor": sd[j]} for j in range(q)]
    for r, c in theta_index(q):
        if r != c:
            with np.errstate(divide="ignore", invalid="ignore"):
                cor = cov[r, c] / (sd[r] * sd[c])
            rows.append({"group": design.subject, "var1": design.random_names[c],
                         "var2": design.random_names[r], "vcov": cov[r, c], "sdcor": cor})
    rows.append({"group": "Residual", "var1": "", "var2": "", "vcov": prof.sigma2,
                 "sdcor": np.sqrt(prof.sigma2)})
    return pd.DataFrame(rows, columns=list(VARCORR_COLUMNS))
