"""Handlers of the trial-design analyses of a study: ANCOVA, mixed ANOVA, LMM, responders.

Each takes the run context, the cohort and the analysis, writes its tables (full
precision TSV) and figures, adds a report section and returns the provenance record
(see :mod:`painmarkers.study._analyses`). The voxelwise types are in
:mod:`painmarkers.study._trial_voxelwise`. Keys and defaults: :mod:`._trial_spec`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._words import plain
from painmarkers.exceptions import DesignError, InferenceWarning, PainmarkersWarning
from painmarkers.model import Cohort, get_instrument
from painmarkers.study._analyses import _label, _record, _table, expand_variables
from painmarkers.study._context import RunContext
from painmarkers.study._trial_spec import default_formula
from painmarkers.study.spec import AnalysisSpec

__all__ = ["TRIAL_HANDLERS", "trial_frame"]

#: Panels of one means figure (a feature over many ROIs is split over several figures).
_MAX_PANELS = 12


# -- data --------------------------------------------------------------------------------------
def trial_frame(cohort: Cohort, p: dict[str, Any], columns: Sequence[str]
                ) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """The wide table of a trial analysis: arms and visits as ordered Categoricals.

    Returns ``(frame, levels, sessions, notes)``: rows of the arms in ``levels`` (default:
    the sorted labels) and of the visits in ``sessions`` (default: every visit, in the
    order of first appearance), with the subject, arm, visit, covariate and ``columns``
    columns; ``notes`` say which subjects or rows were left out and why.
    """
    between, within = p["between"], p["within"]
    wide = cohort.wide()
    where = "the cohort table"
    for col in (between, within, *p.get("covariates", []), *columns):
        if col not in wide.columns:
            raise DesignError(f"Column {col!r} is not in {where} (columns: "
                              f"{sorted(c for c in wide.columns if '__' not in c)}).")
    notes = []
    present = [str(v) for v in pd.unique(wide[between].dropna())]
    levels = [str(v) for v in (p.get("levels") or sorted(present))]
    missing = [lev for lev in levels if lev not in present]
    if missing:
        raise DesignError(f"{between!r} level(s) {missing} have no subject (levels present: "
                          f"{sorted(present)}).")
    keep = wide[between].astype(str).isin(levels) & wide[between].notna()
    other = sorted(set(wide.loc[~keep, schema.SUBJECT].astype(str)))
    if other:
        notes.append(f"{len(other)} subject(s) outside the levels {plain(levels)} of "
                     f"{between!r} are not analysed: {', '.join('sub-' + s for s in other[:8])}"
                     f"{' ...' if len(other) > 8 else ''}.")
    wide = wide[keep]
    seen = [str(v) for v in pd.unique(wide[within].dropna())]
    sessions = [str(s) for s in (p.get("sessions") or seen)]
    absent = [s for s in sessions if s not in seen]
    if absent:
        raise DesignError(f"Session(s) {absent} of {within!r} have no row in the levels "
                          f"{levels} (sessions present: {seen}).")
    dropped = wide[~wide[within].astype(str).isin(sessions)]
    if len(dropped):
        notes.append(f"{len(dropped)} row(s) of other visits "
                     f"({sorted(set(dropped[within].astype(str)))}) are not analysed.")
    wide = wide[wide[within].astype(str).isin(sessions)].copy()
    wide[between] = pd.Categorical(wide[between].astype(str), levels)
    wide[within] = pd.Categorical(wide[within].astype(str), sessions)
    keep_cols = list(dict.fromkeys([schema.SUBJECT, between, within,
                                    *p.get("covariates", []), *columns]))
    return wide[keep_cols].reset_index(drop=True), levels, sessions, notes


def _dvs(cohort: Cohort, p: dict[str, Any], where: str) -> list[str]:
    return expand_variables(cohort, p["dv"], where)


def formula_columns(rhs: str, p: dict[str, Any]) -> list[str]:
    """Columns a right-hand side uses besides the arm and visit (e.g. ``age``)."""
    from formulaic import Formula

    names = sorted(Formula(rhs).required_variables)
    return [n for n in names if n not in (p["between"], p["within"])]


def _ylabel(dv: str) -> str:
    try:
        inst = get_instrument(dv)
    except LookupError:
        return str(_label(dv))
    return f"{inst.name} ({inst.low:g}-{inst.high:g} {inst.unit})"


def _fit_quietly(fit, notes: list[str], what: str):
    """Run ``fit()``; its PainmarkersWarnings (not InferenceWarnings) become report notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PainmarkersWarning)
        out = fit()
    for w in caught:
        if issubclass(w.category, InferenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif issubclass(w.category, PainmarkersWarning):
            notes.append(f"{what}: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _individual(frame: pd.DataFrame, dv: str, between: str, within: str) -> pd.DataFrame:
    sub = frame[[schema.SUBJECT, between, within, dv]].dropna()
    return pd.DataFrame({"subject": sub[schema.SUBJECT].astype(str),
                         "level": sub[between].astype(str), "session": sub[within].astype(str),
                         "value": sub[dv].astype(float)})


def _means_figures(ctx: RunContext, name: str, panels: list[dict], levels, sessions,
                   caption: str) -> None:
    from painmarkers.study._trial_plots import plot_trial_means

    for k in range(0, len(panels), _MAX_PANELS):
        chunk = panels[k:k + _MAX_PANELS]
        fig = plot_trial_means(chunk, levels=levels, sessions=sessions)
        suffix = "" if len(panels) <= _MAX_PANELS else f"_{k // _MAX_PANELS + 1}"
        ctx.save_figure(f"{name}_means{suffix}", fig, caption=caption)


def _forest(ctx: RunContext, name: str, frame: pd.DataFrame, label: str, xlabel: str,
            caption: str) -> None:
    from painmarkers.study._trial_plots import plot_forest

    if len(frame):
        fig = plot_forest(frame, label=label, xlabel=xlabel)
        ctx.save_figure(f"{name}_forest", fig, caption=caption)


def _p_adjusted(frame: pd.DataFrame, column: str, by: str | list[str], method: str | None
                ) -> np.ndarray:
    """``column`` adjusted by ``method`` within each ``by`` family (NaN without a method)."""
    from painmarkers.stats import adjust_pvalues

    if not method or not len(frame):
        return np.full(len(frame), np.nan)
    by = [by] if isinstance(by, str) else list(by)
    tmp = pd.DataFrame({"p": frame[column].to_numpy(float),
                        **{b: frame[b].astype(str).to_numpy() for b in by}})
    return adjust_pvalues(tmp, method=method, by=by)["p_adjusted"].to_numpy(float)


def _notes(ctx: RunContext, notes: list[str]) -> None:
    for note in dict.fromkeys(notes):
        ctx.report.text(note, note=True)


# -- ANCOVA --------------------------------------------------------------------------------------
_ANOVA_SHOWN = ("dv", "post", "term", "F", "num_df", "den_df", "p", "p_adjusted",
                "partial_eta_sq", "n", "n_excluded")


def run_ancova(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import ancova

    p = spec.params
    where = f"analysis {spec.name!r}"
    dvs = _dvs(cohort, p, where)
    frame, levels, _, notes = trial_frame(cohort, p, dvs)
    between, within, pre = p["between"], p["within"], p["pre"]
    anova, means, contrasts, n = [], [], [], {}
    for post in p["post"]:
        for dv in dvs:
            res = _fit_quietly(lambda dv=dv, post=post: ancova(
                frame, dv, between, p["covariates"] or None, baseline=pre, post=post,
                within=within, levels=levels, ss_type=p["ss_type"],
                posthoc=p["posthoc"], confidence=p["confidence"]), notes, f"{dv} at {post}")
            anova.append(res.anova().assign(post=post))
            means.append(res.adjusted_means.assign(post=post))
            if p["posthoc"] is not None:
                contrasts.append(res.posthoc.assign(post=post))
            n[f"{dv}@{post}"] = int(res.n)
    anova = pd.concat(anova, ignore_index=True)
    anova["p_adjusted"] = _p_adjusted(anova, "p", ["term", "post"], p["correction"])
    means = pd.concat(means, ignore_index=True)
    arm_term = anova[anova["term"] == between]
    covs = "".join(f" + {c}" for c in p["covariates"])
    ctx.report.section(f"ANCOVA: {', '.join(p['post'])} adjusted for {pre} "
                       f"({', '.join(map(str, np.atleast_1d(p['dv'])))})")
    ctx.report.text(
        f"Model per measure and follow-up visit: score at the visit ~ {pre} score + "
        f"{between}{covs} (Type {'III' if p['ss_type'] == 3 else 'II'} sums of squares; "
        f"Vickers & Altman 2001); arms {plain(levels)}. Subjects without both visits are "
        "excluded and counted (n_excluded).")
    if p["correction"] and len(arm_term) > 1:
        ctx.report.text(f"p_adjusted: {p['correction']} across the measures of each term "
                        "and visit.", note=True)
    _notes(ctx, notes)
    _table(ctx, spec.name, anova, "ANCOVA F tests of each measure at each follow-up visit",
           _ANOVA_SHOWN)
    _table(ctx, f"{spec.name}_adjusted_means", means,
           f"Adjusted means (covariates at their means) with {p['confidence']:.0%} CIs",
           ("dv", "post", "term", "level", "n", "emmean", "se", "df", "ci_low", "ci_high"),
           collapsed=len(dvs) > 2)
    record = _record(spec, n=n, dv=dvs, levels=levels)
    if contrasts:
        cons = pd.concat(contrasts, ignore_index=True)
        cons = cons[cons["term"] == between].reset_index(drop=True)
        _table(ctx, f"{spec.name}_contrasts", cons,
               f"Adjusted differences between arms ({p['posthoc']} within each measure and "
               "visit)", ("dv", "post", "contrast", "estimate", "se", "df", "t", "p",
                          "p_adjusted", "ci_low", "ci_high"))
        cons = cons.assign(row=[f"{_label(d)} @ {v}: {c}" for d, v, c in
                                zip(cons["dv"], cons["post"], cons["contrast"])])
        _forest(ctx, spec.name, cons, "row", "adjusted difference (score units)",
                f"Baseline-adjusted differences between arms at each follow-up visit with "
                f"{p['confidence']:.0%} CIs (red: the interval excludes 0)")
    return record


# -- mixed ANOVA ---------------------------------------------------------------------------------
def run_mixed_anova(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import mixed_anova

    p = spec.params
    where = f"analysis {spec.name!r}"
    dvs = _dvs(cohort, p, where)
    frame, levels, sessions, notes = trial_frame(cohort, p, dvs)
    between, within = p["between"], p["within"]
    tables, sph, cells, panels, n = [], [], [], [], {}
    for dv in dvs:
        res = _fit_quietly(lambda dv=dv: mixed_anova(
            frame, dv, between, within=within, covariates=p["covariates"] or None,
            sessions=sessions, levels=levels, correction=p["sphericity"],
            observed=p["observed"] or None, confidence=p["confidence"]), notes, dv)
        tables.append(res.anova())
        sph.append(res.sphericity())
        cm = res.cell_means()
        cells.append(cm.assign(dv=dv))
        n[dv] = {"n": int(res.n), "n_excluded": int(res.n_excluded)}
        analysed = {str(s) for s in res.data.index}
        complete = frame[frame[schema.SUBJECT].astype(str).isin(analysed)]
        panels.append({"title": _label(dv), "ylabel": _ylabel(dv),
                       "means": cm.rename(columns={between: "level", within: "session"}),
                       "individual": _individual(complete, dv, between, within)})
    table = pd.concat(tables, ignore_index=True)
    table["p_adjusted"] = _p_adjusted(table, "p_corrected", "term", p["correction"])
    ctx.report.section(f"Mixed ANOVA: {between} x {within} "
                       f"({', '.join(map(str, np.atleast_1d(p['dv'])))})")
    ctx.report.text(
        f"Type III split-plot ANOVA (as afex/car) of {between} ({', '.join(levels)}) x "
        f"{within} ({', '.join(sessions)}); sphericity correction {p['sphericity']!r} "
        "(p_corrected); complete cases only: subjects without every visit are excluded "
        f"(n_excluded; the lmm type uses every visit).")
    if p["correction"] and len(dvs) > 1:
        ctx.report.text(f"p_adjusted: {p['correction']} of p_corrected across the measures "
                        "of each term.", note=True)
    _notes(ctx, notes)
    _table(ctx, spec.name, table, "Mixed ANOVA (Type III) of each measure",
           ("dv", "term", "stratum", "F", "num_df", "den_df", "p", "eps_gg", "eps_hf",
            "correction", "p_corrected", "p_adjusted", "ges", "partial_eta_sq", "n",
            "n_excluded"))
    sph = pd.concat(sph, ignore_index=True)
    if len(sph):
        _table(ctx, f"{spec.name}_sphericity", sph, "Mauchly's test of sphericity",
               collapsed=True)
    _table(ctx, f"{spec.name}_cell_means", pd.concat(cells, ignore_index=True),
           "Observed means per arm and visit (complete cases)", collapsed=True)
    _means_figures(ctx, spec.name, panels, levels, sessions,
                   f"Observed mean ± {p['confidence']:.0%} CI per arm and visit over the "
                   "trajectories of the subjects analysed (complete cases)")
    return _record(spec, n=n, dv=dvs, levels=levels, sessions=sessions)


# -- LMM -----------------------------------------------------------------------------------------
_DID_SHOWN = ("dv", "contrast", "estimate", "se", "df", "t", "p", "p_adjusted", "ci_low",
              "ci_high")


def _response(dv: str) -> str:
    return dv if dv.isidentifier() else "response"


def run_lmm(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import lmm

    p = spec.params
    where = f"analysis {spec.name!r}"
    dvs = _dvs(cohort, p, where)
    rhs = p["formula"] or default_formula(p)
    frame, levels, sessions, notes = trial_frame(cohort, p, [*formula_columns(rhs, p), *dvs])
    between, within = p["between"], p["within"]
    pre = p["pre"] or sessions[0]
    anova, fixed, varcomp, did, emm, panels, record_n = [], [], [], [], [], [], {}
    flags = []
    for dv in dvs:
        data = frame.rename(columns={dv: _response(dv)}) if _response(dv) != dv else frame
        formula = f"{_response(dv)} {rhs}"
        res = _fit_quietly(lambda data=data, formula=formula: lmm(
            data, formula, subject=schema.SUBJECT, random=p["random"], between=[between],
            ddf=p["ddf"], reml=p["reml"], confidence=p["confidence"]), notes, dv)
        anova.append(res.anova().assign(dv=dv))
        fixed.append(res.fixed_effects.assign(dv=dv))
        varcomp.append(res.variance_components.assign(dv=dv))
        con = res.contrast(within, between, pre=pre, post=p["post"], levels=levels)
        did.append(con.assign(dv=dv))
        m = res.emmeans(within, by=between)
        emm.append(m.assign(dv=dv))
        record_n[dv] = {"n_obs": res.n_obs, "n_subjects": res.n_subjects,
                        "singular": bool(res.singular), "converged": bool(res.converged)}
        if res.singular or not res.converged:
            flags.append(f"{dv}: " + ("boundary (singular) fit" if res.singular else "")
                         + ("; " if res.singular and not res.converged else "")
                         + ("did not converge" if not res.converged else ""))
        panels.append({"title": _label(dv), "ylabel": _ylabel(dv),
                       "means": m.rename(columns={between: "level", within: "session",
                                                  "emmean": "mean"}),
                       "individual": _individual(frame, dv, between, within)})
    anova = pd.concat(anova, ignore_index=True)
    anova["p_adjusted"] = _p_adjusted(anova, "p", "term", p["correction"])
    did = pd.concat(did, ignore_index=True)
    did["p_adjusted"] = _p_adjusted(did, "p", "contrast", p["correction"])
    n_sub = frame.groupby(schema.SUBJECT)[within].nunique()
    ctx.report.section(f"Linear mixed model: {between} x {within} "
                       f"({', '.join(map(str, np.atleast_1d(p['dv'])))})")
    ctx.report.text(
        f"Model per measure: response {rhs} + ({p['random']} | subject), "
        f"{'REML' if p['reml'] else 'ML'}, {p['ddf']} df (lmerTest / pbkrtest); every "
        f"available visit is used: {len(frame[schema.SUBJECT].unique())} subjects, "
        f"{int((n_sub == len(sessions)).sum())} with every visit ({plain(sessions)}). "
        f"Difference in differences = ({levels[0]} - {levels[1]}) change from {pre} "
        f"(negative: {levels[0]} decreased more).")
    if p["correction"] and len(dvs) > 1:
        ctx.report.text(f"p_adjusted: {p['correction']} across the measures of each term "
                        "(ANOVA) and of each contrast (changes).", note=True)
    if flags:
        ctx.report.text("Fits to read with care: " + "; ".join(flags) + ".", note=True)
    _notes(ctx, notes)
    _table(ctx, spec.name, anova, "Type III F tests of each measure",
           ("dv", "term", "F", "num_df", "den_df", "p", "p_adjusted"))
    _table(ctx, f"{spec.name}_did", did,
           f"Change from {pre} within each arm and difference in differences between arms "
           f"with {p['confidence']:.0%} CIs ({p['ddf']} df; p unadjusted, p_adjusted across "
           "measures)", _DID_SHOWN)
    _table(ctx, f"{spec.name}_fixed_effects", pd.concat(fixed, ignore_index=True),
           "Fixed effects (treatment coding, first level = reference)",
           ("dv", "term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"),
           collapsed=True)
    _table(ctx, f"{spec.name}_variance_components", pd.concat(varcomp, ignore_index=True),
           "Variance components", ("dv", "group", "var1", "var2", "vcov", "sdcor"),
           collapsed=True)
    _table(ctx, f"{spec.name}_emmeans", pd.concat(emm, ignore_index=True),
           "Estimated marginal means per arm and visit", collapsed=True)
    _means_figures(ctx, spec.name, panels, levels, sessions,
                   f"Model-estimated mean ± {p['confidence']:.0%} CI per arm and visit "
                   "(estimated marginal means of the LMM, valid under missingness at random) "
                   "over every subject's observed trajectory (a dot: a single visit)")
    dd = did[did["kind"] == "difference of changes"]
    dd = dd.assign(row=[f"{_label(d)}: {c}" for d, c in zip(dd["dv"], dd["contrast"])])
    _forest(ctx, f"{spec.name}_did", dd, "row", "difference in differences",
            f"Difference in differences ({levels[0]} - {levels[1]}, change from {pre}) with "
            f"{p['confidence']:.0%} CIs (red: the interval excludes 0)")
    return _record(spec, n=record_n, dv=dvs, levels=levels, sessions=sessions,
                   formula=f"response {rhs}", flags=flags)


# -- responders ----------------------------------------------------------------------------------
def _nnt_text(row) -> str:
    kind = row["nnt_kind"]
    if kind == "none":
        return "inf"
    lo, hi = (row["nntb_ci_low"], row["nntb_ci_high"]) if kind == "benefit" else (
        row["nnth_ci_low"], row["nnth_ci_high"])
    head = f"NNT{'B' if kind == 'benefit' else 'H'} {row['nnt']:.1f}"
    if np.isfinite(row["nnth_ci_low"]) and np.isfinite(row["nntb_ci_low"]):
        return (f"{head} (NNTH {row['nnth_ci_low']:.1f} to inf to NNTB "
                f"{row['nntb_ci_low']:.1f})")
    return f"{head} ({lo:.1f} to {hi:.1f})"


def run_responders(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import responders

    p = spec.params
    inst = get_instrument(p["instrument"]).name
    frames = []
    for post in p["post"]:
        res = responders(cohort, inst, between=p["between"], levels=p["levels"],
                         pre=p["pre"], post=post, within=p["within"],
                         moderate=float(p["moderate"]), substantial=float(p["substantial"]),
                         confidence=p["confidence"])
        frames.append(res.assign(post=post))
    table = pd.concat(frames, ignore_index=True)
    shown = table.assign(
        arm_x=[f"{rx}/{nx} ({px:.0%})" for rx, nx, px in
               zip(table["responders_x"], table["n_x"], table["proportion_x"])],
        arm_y=[f"{ry}/{ny} ({py:.0%})" for ry, ny, py in
               zip(table["responders_y"], table["n_y"], table["proportion_y"])],
        nnt_ci=[_nnt_text(r) for _, r in table.iterrows()])
    levels = table["contrast"].iloc[0].split(" - ")
    ctx.report.section(f"Responders: {inst} ({', '.join(p['post'])} vs {p['pre']})")
    ctx.report.text(
        f"Responder: improvement of {inst} from {p['pre']} of at least {p['moderate']:g} % "
        f"(moderate) or {p['substantial']:g} % (substantial; IMMPACT, Dworkin et al. 2008). "
        f"Risk difference {levels[0]} - {levels[1]} with Newcombe's hybrid score interval, "
        "number needed to treat with Altman's interval, Fisher's exact test.")
    excluded = table.loc[table["n_excluded"] > 0, ["post", "n_excluded", "excluded"]]
    for row in excluded.drop_duplicates("post").itertuples():
        ctx.report.text(f"{row.post}: {row.n_excluded} subject(s) without a percent change: "
                        f"{row.excluded}.", note=True)
    _table(ctx, spec.name, table, f"Responders per arm ({levels[0]} vs {levels[1]})",
           shown=shown, columns=("post", "responder", "threshold", "arm_x", "arm_y",
                                 "risk_difference", "ci_low", "ci_high", "nnt_ci", "p"),
           rename={"arm_x": f"responders {levels[0]}", "arm_y": f"responders {levels[1]}",
                   "nnt_ci": "NNT (CI)", "p": "p (Fisher)"})
    return _record(spec, n={str(r.post): int(r.n) for r in table.itertuples()},
                   instrument=inst)


TRIAL_HANDLERS = {
    "ancova": run_ancova,
    "mixed_anova": run_mixed_anova,
    "lmm": run_lmm,
    "responders": run_responders,
}
