"""Study-spec analysis types of trial designs: their keys, value checks and dataset checks.

The types (see :doc:`/user_guide/trial_designs`):

``ancova``
    Each follow-up score adjusted for its baseline (Vickers & Altman 2001):
    :func:`painmarkers.stats.ancova` with ``baseline=pre`` for every ``post`` visit.
``mixed_anova``
    Type III split-plot ANOVA with sphericity corrections
    (:func:`painmarkers.stats.mixed_anova`; complete cases).
``lmm``
    Linear mixed model on every available visit with the difference-in-differences
    (:func:`painmarkers.stats.lmm`, :meth:`~painmarkers.stats.LMMResult.contrast`).
``responders``
    IMMPACT responder rates of two arms, risk difference, NNT, Fisher's test
    (:func:`painmarkers.stats.responders`).
``voxelwise_glm``
    Voxelwise GLM with t and F contrasts and subject effects
    (:func:`painmarkers.inference.voxelwise_glm`), GRF and/or permutation cluster
    correction.
``voxelwise_lmm``
    Voxelwise random-intercept LMM (:func:`painmarkers.inference.voxelwise_lmm`), GRF
    cluster correction of its Type III F maps.

This module only knows the keys and their values (it imports nothing from the spec
module at import time, so :mod:`painmarkers.study.spec` can import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TRIAL_TYPES", "check_trial_against_data", "check_trial_values"]

_COMMON = {"between": "group", "within": "session", "levels": None, "covariates": [],
           "confidence": 0.95}
_VOXEL = {"voxel_p": 0.001, "cluster_p": 0.05, "grf_method": "fsl"}

#: Analysis types of trial designs and, for each, required keys (with types) and optional
#: keys with defaults; merged into :data:`painmarkers.study.spec.ANALYSIS_TYPES`.
TRIAL_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "ancova": {
        "required": {"dv": (str, list)},
        "optional": {**_COMMON, "pre": "pre", "post": "post", "ss_type": 3,
                     "posthoc": "holm", "correction": "fdr_bh"},
    },
    "mixed_anova": {
        "required": {"dv": (str, list)},
        "optional": {**_COMMON, "sessions": None, "sphericity": "auto", "observed": [],
                     "correction": "fdr_bh"},
    },
    "lmm": {
        "required": {"dv": (str, list)},
        "optional": {**_COMMON, "sessions": None, "formula": None, "random": "1",
                     "ddf": "satterthwaite", "reml": True, "pre": None, "post": None,
                     "correction": "fdr_bh"},
    },
    "responders": {
        "required": {"instrument": str},
        "optional": {"between": "group", "levels": None, "within": "session", "pre": "pre",
                     "post": "post", "moderate": 30.0, "substantial": 50.0,
                     "confidence": 0.95},
    },
    "voxelwise_glm": {
        "required": {"feature": str},
        "optional": {**_COMMON, "sessions": None, "formula": None, "contrasts": None,
                     "subject_effects": True, **_VOXEL, "two_tailed": True,
                     "correction": ["grf"], "n_permutations": 1000,
                     "block_permutation": "within"},
    },
    "voxelwise_lmm": {
        "required": {"feature": str},
        "optional": {**_COMMON, "sessions": None, "formula": None, "terms": None,
                     "ddf": "satterthwaite", **_VOXEL, "correction": ["grf"]},
    },
}

_CORRECTIONS = ("fdr_bh", "fdr_by", "holm", "bonferroni", "none")
_POSTHOC = ("holm", "tukey", "bonferroni", "none")
_SPHERICITY = ("auto", "GG", "HF", "none")
_DDF = ("satterthwaite", "kenward-roger", "wald")


def _formula(value: Any, where: str) -> str | None:
    """A right-hand side ``"~ group * session + age"`` (no response, no random term)."""
    from painmarkers.exceptions import SpecError

    if value is None:
        return None
    if not isinstance(value, str) or not value.strip().startswith("~"):
        raise SpecError(f"{where}: 'formula' must be a right-hand side starting with '~', "
                        f"e.g. \"~ group * session + age\" (the response is each dv or the "
                        f"feature). Got {value!r}.")
    if "|" in value:
        raise SpecError(f"{where}: 'formula' holds a random-effect term ('|'); the subject "
                        f"effects are set by the analysis ('random' for lmm). Got {value!r}.")
    if len(value.strip()) < 2:
        raise SpecError(f"{where}: 'formula' names no term. Got {value!r}.")
    return value.strip()


def _number(value: Any, key: str, where: str, low: float, high: float) -> float:
    from painmarkers.exceptions import SpecError
    from painmarkers.study.spec import _is_number

    if not _is_number(value) or not low < value <= high:
        raise SpecError(f"{where}: {key!r} must be a number in ({low:g}, {high:g}]. "
                        f"Got {value!r}.")
    return float(value)


def default_formula(params: Mapping[str, Any]) -> str:
    """``"~ group * session + age"`` from ``between``, ``within`` and ``covariates``."""
    covs = "".join(f" + {c}" for c in params.get("covariates") or [])
    return f"~ {params['between']} * {params['within']}{covs}"


def check_trial_values(kind: str, params: dict[str, Any], where: str) -> None:
    """Types and ranges of the keys of a trial analysis (``params`` has the defaults).

    Normalises in place: ``post`` becomes a list (or None), ``correction`` None for
    ``"none"`` (ROI types) or a de-duplicated list (voxelwise), ``contrasts`` a dict.
    """
    from painmarkers.exceptions import SpecError
    from painmarkers.study import spec as S

    p = params
    if "dv" in p:
        S._labels(p["dv"], "dv", where, minimum=1, single=True)
    for key in ("instrument", "feature", "between", "within"):
        if key in p:
            S._label(p[key], key, where)
    if p.get("between") is not None and p.get("between") == p.get("within"):
        raise SpecError(f"{where}: 'between' and 'within' must be two different columns. "
                        f"Got {p['between']!r} twice.")
    if p.get("levels") is not None:
        S._labels(p["levels"], "levels", where, minimum=2,
                  exactly=2 if kind == "responders" else None)
    if p.get("sessions") is not None:
        S._labels(p["sessions"], "sessions", where, minimum=2)
    for key in ("covariates", "observed"):
        if key in p:
            S._labels(p[key], key, where)
    if "confidence" in p:
        S._probability(p["confidence"], "confidence", where)
    _check_visits(kind, p, where)
    if kind in ("ancova", "mixed_anova", "lmm"):
        corr = p["correction"]
        S._choice(corr, "correction", where, _CORRECTIONS)
        p["correction"] = None if corr == "none" else corr
    if kind == "ancova":
        S._choice(p["ss_type"], "ss_type", where, (2, 3))
        S._choice(p["posthoc"], "posthoc", where, _POSTHOC)
    if kind == "mixed_anova":
        S._choice(p["sphericity"], "sphericity", where, _SPHERICITY)
        bad = [o for o in p["observed"] if o not in (p["between"], p["within"],
                                                    *p["covariates"])]
        if bad:
            raise SpecError(f"{where}: 'observed' names {bad}, not a variable of the model "
                            f"({[p['between'], p['within'], *p['covariates']]}).")
    if kind == "lmm":
        S._choice(p["ddf"], "ddf", where, _DDF)
    if kind == "voxelwise_lmm":  # no Wald tests voxelwise
        S._choice(p["ddf"], "ddf", where, _DDF[:2])
    if kind == "lmm":
        S._boolean(p["reml"], "reml", where)
        if p["ddf"] == "kenward-roger" and not p["reml"]:
            raise SpecError(f"{where}: ddf = 'kenward-roger' needs a REML fit; set "
                            "reml = true or choose 'satterthwaite'.")
        S._label(p["random"], "random", where)
    if kind in ("lmm", "voxelwise_glm", "voxelwise_lmm"):
        p["formula"] = _formula(p["formula"], where)
    if kind == "responders":
        for key in ("moderate", "substantial"):
            _number(p[key], key, where, 0.0, 100.0)
    if kind in ("voxelwise_glm", "voxelwise_lmm"):
        _check_voxel(kind, p, where)


def _check_visits(kind: str, p: dict[str, Any], where: str) -> None:
    from painmarkers.exceptions import SpecError
    from painmarkers.study import spec as S

    if "pre" not in p:
        return
    S._label(p["pre"], "pre", where, optional=kind == "lmm")
    post = p["post"]
    posts: list[str] = []
    if post is not None or kind != "lmm":
        posts = S._labels(post, "post", where, minimum=1, single=True)
        posts = [posts] if isinstance(posts, str) else list(posts)
        if p["pre"] in posts:
            raise SpecError(f"{where}: 'post' must not include the baseline 'pre' "
                            f"({p['pre']!r}). Got {post!r}.")
        p["post"] = posts
    sessions = p.get("sessions")
    if sessions is not None:
        outside = [s for s in [p["pre"], *posts] if s is not None and s not in sessions]
        if outside:
            raise SpecError(f"{where}: 'pre'/'post' {outside} are not in 'sessions' "
                            f"{list(sessions)}.")


def _check_voxel(kind: str, p: dict[str, Any], where: str) -> None:
    from painmarkers.exceptions import SpecError
    from painmarkers.study import spec as S

    for key in ("voxel_p", "cluster_p"):
        S._probability(p[key], key, where)
    S._choice(p["grf_method"], "grf_method", where, ("fsl", "spm"))
    allowed = ("grf", "permutation") if kind == "voxelwise_glm" else ("grf",)
    corr = p["correction"]
    corr = [corr] if isinstance(corr, str) else corr
    if not isinstance(corr, list) or not corr or any(c not in allowed for c in corr):
        raise SpecError(f"{where}: 'correction' must be a list of {list(allowed)}. "
                        f"Got {p['correction']!r}.")
    p["correction"] = list(dict.fromkeys(corr))
    if kind == "voxelwise_glm":
        S._boolean(p["two_tailed"], "two_tailed", where)
        S._boolean(p["subject_effects"], "subject_effects", where)
        S._integer(p["n_permutations"], "n_permutations", where, 1)
        S._choice(p["block_permutation"], "block_permutation", where, ("within", "whole"))
        con = p["contrasts"]
        if con is not None:
            if isinstance(con, str):
                con = [con]
            if isinstance(con, list):
                if not con or not all(isinstance(c, str) and c.strip() for c in con):
                    raise SpecError(f"{where}: 'contrasts' must be a non-empty list of "
                                    f"contrast strings or a table {{name = contrast}}. "
                                    f"Got {p['contrasts']!r}.")
                con = {c: c for c in con}
            elif not (isinstance(con, Mapping) and con and all(
                    isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
                    for k, v in con.items())):
                raise SpecError(f"{where}: 'contrasts' must be a table {{name = contrast}} "
                                f"of strings, e.g. {{ interaction = \"group:session\" }}. "
                                f"Got {p['contrasts']!r}.")
            p["contrasts"] = dict(con)
    if kind == "voxelwise_lmm" and p["terms"] is not None:
        p["terms"] = S._labels(p["terms"], "terms", where, minimum=1, single=True)
        if isinstance(p["terms"], str):
            p["terms"] = [p["terms"]]


# -- checks against the dataset (painmarkers check) -------------------------------------------
def check_trial_against_data(checker, kind: str, p: Mapping[str, Any], where: str) -> None:
    """Labels, columns and variables of a trial analysis against the dataset.

    ``checker`` is the :class:`painmarkers.study._check._Checker` collecting problems.
    """
    from painmarkers import schema

    between, within = p["between"], p["within"]
    groups_ok = True
    if between == schema.GROUP:
        groups_ok = checker.groups_needed(where, f"a {kind} analysis (between = 'group')")
        if groups_ok:
            levels = p["levels"] or list(checker.cohort.groups)
            if p["levels"] is not None:
                groups_ok = all([checker.group(g, where, "levels") for g in levels])
            elif len(levels) < 2 or (kind == "responders" and len(levels) != 2):
                want = "two" if kind == "responders" else "at least two"
                checker.problem(where, f"needs {want} groups; the dataset has "
                                       f"{list(checker.cohort.groups)}: name them with "
                                       "'levels'.")
    else:
        checker.columns_exist([between], where, "between")
    if within != schema.SESSION:
        checker.columns_exist([within], where, "within")
    else:
        labels = [*(p.get("sessions") or [])]
        labels += [x for x in [p.get("pre")] if x is not None]
        labels += list(p.get("post") or [])
        for label in dict.fromkeys(labels):
            checker.session(label, where, "session")
    checker.columns_exist(p.get("covariates", []), where, "covariate")
    if "dv" in p:
        for dv in [p["dv"]] if isinstance(p["dv"], str) else p["dv"]:
            checker.variable(dv, where, "dv")
    if "instrument" in p:
        checker.variable(p["instrument"], where, "instrument")
    if kind in ("voxelwise_glm", "voxelwise_lmm"):
        import painmarkers.inference as inference

        if not hasattr(inference, kind):
            checker.problem(where, f"painmarkers.inference.{kind} is not available in this "
                                   "version of painmarkers; the analysis type needs it.")
    if "feature" in p:
        feature = p["feature"]
        if feature not in checker.maps and not any(
                feature in ses.images for _, ses in checker.cohort.iter_sessions()):
            checker.problem(where, f"feature {feature!r} is not a map any extractor produces "
                                   f"(maps: {sorted(checker.maps)}).")
    if p.get("formula"):
        _check_formula(checker, p, where)


def _check_formula(checker, p: Mapping[str, Any], where: str) -> None:
    from formulaic import Formula

    try:
        names = sorted(Formula(p["formula"]).required_variables)
    except Exception as exc:  # formulaic's parse errors have no common base class
        checker.problem(where, f"'formula' {p['formula']!r} cannot be parsed: {exc}")
        return
    known = set(checker.columns) | {p["between"], p["within"]}
    missing = [n for n in names if n not in known]
    if missing:
        checker.problem(where, f"'formula' {p['formula']!r} uses {missing}, which are not "
                               f"columns of the cohort (participant or session columns: "
                               f"{sorted(c for c in checker.columns if '__' not in c)}).")
