"""Inference on a fitted model: contrasts and F tests with the chosen df method.

One object per fit keeps the profile at the optimum and computes, on first use, the
Satterthwaite state (analytic Hessian of the deviance and Jacobian of vcov(beta)) and the
Kenward-Roger state (pbkrtest's adjusted covariance).  It is shared by the fixed-effect
table, the ANOVA, the marginal means and the contrasts, so that all of them use the same
covariance and df rules (lmerTest / pbkrtest / emmeans with ``lmer.df`` of the same name).
"""

from __future__ import annotations

import numpy as np

from painmarkers._mixedmodels import df as dfm
from painmarkers._mixedmodels.anova import type1_hypotheses, type3_hypotheses
from painmarkers._mixedmodels.design import Design
from painmarkers._mixedmodels.fit import Blocks, FitInfo, Profile, ResponseStats

__all__: list[str] = []

DDF_METHODS = ("satterthwaite", "kenward-roger", "wald")
_ALIASES = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger",
            "kenward_roger": "kenward-roger", "kr": "kenward-roger", "wald": "wald",
            "asymptotic": "wald"}


def check_ddf(ddf: object, reml: bool) -> str:
    """Normalise a df-method name; Kenward-Roger needs a REML fit (as in lmerTest)."""
    key = ddf.lower() if isinstance(ddf, str) else ddf
    if key not in _ALIASES:
        raise ValueError(f"The 'ddf' parameter must be one of {', '.join(map(repr, DDF_METHODS))}."
                         f" Got {ddf!r}.")
    method = _ALIASES[key]
    if method == "kenward-roger" and not reml:
        raise ValueError("ddf='kenward-roger' needs a REML fit (reml=True); Kenward-Roger's "
                         "adjustment is defined for REML estimates (lmerTest refuses it too).")
    return method


class Engine:
    """Contrasts and F tests of one fit (see the module docstring)."""

    def __init__(self, design: Design, blocks: Blocks, resp: ResponseStats, prof: Profile,
                 info: FitInfo) -> None:
        self.design = design
        self.blocks = blocks
        self.resp = resp
        self.prof = prof
        self.info = info
        self._sat: dfm.SatterthwaiteState | None = None
        self._kr: dfm.KRState | None = None
        self._hypotheses: dict[int, dict[str, np.ndarray]] = {}

    @property
    def beta(self) -> np.ndarray:
        return self.prof.beta

    @property
    def sat(self) -> dfm.SatterthwaiteState:
        if self._sat is None:
            self._sat = dfm.satterthwaite_state(self.prof)
        return self._sat

    @property
    def kr(self) -> dfm.KRState:
        if self._kr is None:
            self._kr = dfm.kr_state(self.prof, self.blocks)
        return self._kr

    def hypotheses(self, type_: int) -> dict[str, np.ndarray]:
        """Type III (lmerTest) or Type I hypothesis matrix of every term."""
        if type_ not in self._hypotheses:
            make = type3_hypotheses if type_ == 3 else type1_hypotheses
            self._hypotheses[type_] = make(self.design)
        return self._hypotheses[type_]

    def vcov(self, ddf: str) -> np.ndarray:
        """Covariance of beta used by ``ddf`` (Kenward-Roger: the adjusted one)."""
        if ddf == "kenward-roger":
            return self.kr.vcov_adj
        return self.prof.sigma2 * self.prof.C

    def rows(self, L: np.ndarray, ddf: str, confidence: float) -> dict[str, np.ndarray]:
        """Estimate, se, df, t, p and CI of each row of ``L``."""
        L = np.atleast_2d(np.asarray(L, float))
        V = self.vcov(ddf)
        est = L @ self.beta
        se = np.sqrt(np.einsum("ia,ab,ib->i", L, V, L))
        if ddf == "wald":
            df = np.full(len(L), np.inf)
        elif ddf == "kenward-roger":
            df = np.array([dfm.kr_df(self.kr, ell) for ell in L])
        else:
            df = np.array([dfm.satterthwaite_df(self.sat, ell) for ell in L])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p = dfm.t_pvalue(t, df)
        half = dfm.t_quantile(confidence, df) * se
        return {"estimate": est, "se": se, "df": df, "t": t, "p": p,
                "ci_low": est - half, "ci_high": est + half}

    def ftest(self, L: np.ndarray, ddf: str) -> tuple[float, int, float, float]:
        """F, numerator df, denominator df and p of H0: L beta = 0."""
        if ddf == "wald":
            F, q, den = dfm.wald_ftest(self.vcov(ddf), self.beta, L)
        elif ddf == "kenward-roger":
            F, q, den = dfm.kr_ftest(self.kr, self.beta, L)
        else:
            F, q, den = dfm.satterthwaite_ftest(self.sat, self.beta, L)
        return F, q, den, dfm.f_pvalue(F, q, den)
