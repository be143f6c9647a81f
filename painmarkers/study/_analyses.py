"""One handler per analysis type of a study specification.

Each handler takes the run context, the cohort and the analysis parameters, writes
its tables/maps/figures through the context, adds a report section, and returns a
provenance record (``type``, ``name``, ``params``, ``n`` and what was excluded).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._words import plain
from painmarkers.exceptions import DesignError, SpecError
from painmarkers.model import Cohort, get_instrument
from painmarkers.study._context import RunContext
from painmarkers.study._pattern_analyses import PATTERN_HANDLERS
from painmarkers.study._prediction_analyses import PREDICTION_HANDLERS
from painmarkers.study._seed_figures import HANDLERS as _SEED_HANDLERS
from painmarkers.study._seed_figures import cite as _cite
from painmarkers.study.spec import AnalysisSpec

Handler = Callable[[RunContext, Cohort, AnalysisSpec], dict[str, Any]]


# -- helpers -------------------------------------------------------------------------------
def expand_variables(cohort: Cohort, names: str | Sequence[str], where: str) -> list[str]:
    """Turn instrument names, features (all ROIs) or column names into wide-table columns."""
    names = [names] if isinstance(names, str) else list(names)
    columns = list(cohort.wide().columns)
    out: list[str] = []
    for name in names:
        try:
            inst = get_instrument(name).name
        except LookupError:
            inst = None
        if inst is not None and inst in columns:
            out.append(inst)
            continue
        prefixed = [c for c in columns if c.startswith(f"{name}__")]
        if prefixed:
            out.extend(prefixed)
        elif name in columns:
            out.append(name)
        else:
            measures = sorted({c.split("__")[0] for c in columns if "__" in c})
            raise SpecError(f"{where}: variable {name!r} is neither an instrument with scores, "
                            f"a feature with ROI measures ({measures}) nor a column of the "
                            "cohort table.")
    return out


def _select(cohort: Cohort, group: Any = None, session: Any = None) -> Cohort:
    return cohort.select(levels=group, sessions=session) if (group or session) else cohort


def _table(ctx: RunContext, name: str, frame: pd.DataFrame, caption: str,
           columns: Sequence[str] | None = None, *, collapsed: bool = False,
           shown: pd.DataFrame | None = None,
           rename: Mapping[str, str] | None = None,
           highlight: Sequence[bool] | None = None) -> None:
    """Save ``frame`` (TSV, CSV; Markdown and LaTeX of the shown table) and show ``shown``.

    An ``excluded`` column with no entry is not shown (``n_excluded`` says 0). Means and
    differences of measures sharing one unit (QSM in ppm) get it in their headers.
    """
    from painmarkers.reporting.labels import measure_unit, with_unit

    shown = frame if shown is None else shown
    if columns:
        shown = shown[[c for c in columns if c in shown.columns]]
    if "excluded" in shown.columns:
        shown = shown.assign(excluded=shown["excluded"].astype(object).fillna("").astype(str))
        if not shown["excluded"].str.strip().any():
            shown = shown.drop(columns="excluded")
    if "contrast" in shown.columns and shown["contrast"].nunique() <= 1:
        shown = shown.drop(columns="contrast")  # one contrast: the caption says it
    rename = dict(rename or {})
    if "dv" in shown.columns and len(shown):
        units = {measure_unit(v) for v in shown["dv"]}
        if len(units) == 1 and None not in units:
            unit = units.pop()
            for col in ("mean_x", "mean_y", "mean_diff", "ci_low", "ci_high"):
                rename[col] = with_unit(rename.get(col, _HEADERS.get(col, col)), unit)
    for col in ("dv", "x", "y"):  # readable measure names; the TSV keeps the columns
        if col in shown.columns:
            shown = shown.assign(**{col: shown[col].map(_label)})
    shown = shown.rename(columns={**_HEADERS, **rename})
    ctx.save_table(name, frame, shown=shown, caption=caption)
    ctx.report.table(shown, caption=caption, collapsed=collapsed, highlight=highlight)


#: Report headers of result columns (the table files keep the column names).
_HEADERS = {"dv": "measure", "n_excluded": "n excluded", "p_adjusted": "p (adjusted)",
            "ci_low": "95% CI low", "ci_high": "95% CI high", "cohen_d": "Cohen's d",
            "hedges_g": "Hedges' g", "mean_diff": "mean difference"}


#: How features are written in the report (``alff__mPFC`` -> ``ALFF (mPFC)``).
_FEATURE_LABELS = {"alff": "ALFF", "falff": "fALFF", "qsm": "QSM", "alff_meants": "ALFF",
                   "falff_meants": "fALFF"}


def _label(column: Any) -> Any:
    """A wide-table column as a reader sees it: ``ALFF (mPFC)``; other values unchanged."""
    if not isinstance(column, str) or "__" not in column:
        return column
    feature, roi = column.split("__", 1)
    if feature.startswith("seed_fc_"):
        return f"FC {feature[len('seed_fc_'):]} - {roi}"
    return f"{_FEATURE_LABELS.get(feature, feature.replace('_', ' '))} ({roi})"


def _names(names: Any) -> str:
    """Features, measures or instruments of a spec as a reader sees them (``alff`` -> ALFF)."""
    from painmarkers.reporting.labels import feature_label

    names = [names] if isinstance(names, str) else list(names)
    return ", ".join(feature_label(n) if "__" not in n else str(_label(n)) for n in names)


def _unit(instrument: str) -> str:
    """``"VAS, 0-10 cm"``: the instrument's name with its range and unit."""
    inst = get_instrument(instrument)
    return f"{inst.name}, {inst.low:g}-{inst.high:g} {inst.unit}"


_TEST_SHOWN = ("dv", "contrast", "n", "n_excluded", "excluded", "mean_x", "mean_y",
               "mean_diff", "statistic", "df", "p", "p_adjusted", "ci_low", "ci_high", "cohen_d",
               "hedges_g")
_CORR_SHOWN = ("x", "y", "n", "n_excluded", "excluded", "r", "ci_low", "ci_high", "p",
               "p_adjusted")
#: Columns of a cluster table shown in the report (the TSV keeps all of them).
_CLUSTER_SHOWN = ("cluster_id", "sign", "size_voxels", "size_mm3", "p_cluster", "peak_stat",
                  "peak_z", "peak_mni_x", "peak_mni_y", "peak_mni_z", "aal", "harvard_oxford")
#: Units of participant variables, for the headers of Table 1.
_UNITS = {"age": "age (years)", "bmi": "BMI (kg/m²)",
          "pain_duration_years": "pain duration (years)"}


def _record(spec: AnalysisSpec, **extra: Any) -> dict[str, Any]:
    return {"type": spec.type, "name": spec.name, "params": dict(spec.params), **extra}


def _adjust(frame: pd.DataFrame, method: str | None = "fdr_bh", by=None) -> pd.DataFrame:
    from painmarkers.stats import adjust_pvalues

    if method and len(frame) > 1:
        return adjust_pvalues(frame, method=method, by=by)
    return frame


# -- tabular analyses ----------------------------------------------------------------------
def run_demographics(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.reporting import demographics_table, format_table

    p = spec.params
    present = set(cohort.participants().columns)
    variables = [v for v in p["variables"] if v in present]
    missing = [v for v in p["variables"] if v not in present]
    # an ungrouped dataset (no participants.tsv or no group column) gets one row for all
    group = p["between"] if cohort.groups or p["between"] != schema.GROUP else None
    table = demographics_table(cohort, between=group, variables=variables,
                               sex=p["sex"] if p["sex"] in present else None)
    ctx.report.section("Participants (Table 1)")
    if group is None:
        ctx.report.text("The dataset has no group labels: one row for all participants.",
                        note=True)
    if missing:
        ctx.report.text(f"Not in participants.tsv, so not tabulated: {', '.join(missing)}.",
                        note=True)
    if table.attrs.get("excluded"):
        ctx.report.text(f"Not in Table 1 ({table.attrs['n_excluded']}): "
                        f"{table.attrs['excluded']}.", note=True)
    ctx.save_table(spec.name, table)
    shown = format_table(table).rename(columns=_UNITS).rename_axis("group (N)").reset_index()
    ctx.report.table(shown, caption=f"Table 1. Demographics of the {len(cohort)} participants "
                                    "analysed: mean (SD); sex as % female/male; — not "
                                    "applicable"
                                    f"{_cite(spec)}")
    return _record(spec, n=len(cohort), missing_variables=missing)


def run_clinical_table(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.reporting import clinical_table, format_table

    p = spec.params
    data = _select(cohort, group=p["levels"])
    instruments = [get_instrument(i).name for i in p["instruments"]]
    table = clinical_table(data, instruments, pre=p["pre"], post=p["post"])
    ctx.report.section("Pain and disability before and after (Table 2)")
    ctx.save_table(spec.name, table)
    short = table[table["n_excluded"] > 0] if "n_excluded" in table else table.iloc[:0]
    for _, row in short.iterrows():
        ctx.report.text(f"{row['instrument']}: {int(row['n_excluded'])} subject(s) not in the "
                        f"paired analysis: {row['excluded']}.", note=True)
    units = "; ".join(_unit(i) for i in instruments)
    ctx.report.table(format_table(table).rename_axis("").reset_index(),
                     caption=f"Table 2. {', '.join(instruments)} ({units}) {p['pre']} and "
                             f"{p['post']}: mean ± SD; percent change (PPR for pain, PDC for "
                             f"disability); paired t-test ({p['pre']} vs {p['post']})"
                             f"{_cite(spec)}")
    return _record(spec, n=len(data))


def run_outcomes(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import outcomes

    p = spec.params
    data = _select(cohort, group=p["levels"])
    frame = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
    ok = frame[frame["excluded_reason"].isna()] if "excluded_reason" in frame else frame
    inst = get_instrument(p["instrument"]).name
    label = "PPR" if inst in ("VAS", "NRS") else "PDC" if inst in ("RMDQ", "ODI") else "change"
    ctx.report.section(f"Clinical outcome: {inst} ({label})")
    pc = ok["percent_change"].astype(float)
    ctx.report.text(
        f"{label} = 100·({inst}_{p['pre']} − {inst}_{p['post']}) / {inst}_{p['pre']}: "
        f"mean {pc.mean():.2f} % (SD {pc.std(ddof=1):.2f}), n = {len(ok)}; "
        f"moderate responders (≥ 30 %): {int(ok['responder_moderate'].sum())}, "
        f"substantial (≥ 50 %): {int(ok['responder_substantial'].sum())}. "
        f"Excluded: {len(frame) - len(ok)}.")
    _table(ctx, spec.name, frame, f"{inst} per subject", collapsed=True)
    from painmarkers.reporting.plots import plot_group_values

    fig = plot_group_values({p["pre"]: ok["pre"], p["post"]: ok["post"]},
                            ylabel=f"{inst} ({get_instrument(inst).unit})",
                            title=f"{inst} {p['pre']} vs {p['post']}", paired=True)
    ctx.save_figure(f"{spec.name}_{inst}", fig,
                    caption=f"{_unit(inst)} at {p['pre']} and {p['post']} (n = {len(ok)}): "
                            "one line per subject, bars at the means")
    return _record(spec, n=len(ok), n_excluded=int(len(frame) - len(ok)))


def run_paired(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import paired_ttest

    p = spec.params
    data = _select(cohort, group=p["levels"])
    dvs = expand_variables(data, p["dv"], f"analysis {spec.name!r}")
    frame = _adjust(paired_ttest(data, dv=dvs, pre=p["pre"], post=p["post"]))
    ctx.report.section(f"Paired t-tests: {_names(p['dv'])} ({p['pre']} − {p['post']})")
    if len(frame) > 1:
        ctx.report.text("p (adjusted): Benjamini-Hochberg FDR across the rows of this table.",
                        note=True)
    _table(ctx, spec.name, frame, f"Paired t-tests (difference = {p['pre']} − {p['post']})",
           _TEST_SHOWN, rename={"mean_x": f"mean {p['pre']}", "mean_y": f"mean {p['post']}",
                                "statistic": "t"})
    return _record(spec, n=[int(v) for v in frame["n"]], dv=dvs)


def run_two_sample(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import two_sample_ttest

    p = spec.params
    dvs = expand_variables(cohort, p["dv"], f"analysis {spec.name!r}")
    frame = _adjust(two_sample_ttest(cohort, dv=dvs, levels=tuple(p["levels"]),
                                     equal_var=bool(p["equal_var"]), sessions=p["sessions"]))
    g = p["levels"]
    ctx.report.section(f"Two-sample t-tests: {_names(p['dv'])}, {g[0]} vs {g[1]}")
    if p["sessions"]:
        ctx.report.text("Sessions compared: " + ", ".join(
            f"{g} {ses}" for g, ses in dict(p["sessions"]).items()) + ".", note=True)
    _table(ctx, spec.name, frame, f"Two-sample t-tests ({g[0]} − {g[1]}; "
           + ("Welch" if not p["equal_var"] else "Student") + ")", _TEST_SHOWN,
           rename={"mean_x": f"mean {g[0]}", "mean_y": f"mean {g[1]}", "statistic": "t"})
    return _record(spec, n=[int(v) for v in frame["n"]], dv=dvs)


def _axis_label(column: str) -> str:
    """``ALFF (mPFC)``, ``QSM (Postcentral_L) (ppm)``, ``VAS (cm)``: a label with its unit."""
    from painmarkers.reporting.labels import measure_unit, with_unit

    return with_unit(str(_label(column)), measure_unit(column))


def run_correlation(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.reporting.plots import correlation_caption, plot_correlation
    from painmarkers.stats import correlate

    p = spec.params
    data = _select(cohort, group=p["levels"])  # sessions= counts who lacks the session
    ys = expand_variables(data, p["y"], f"analysis {spec.name!r}")
    x = expand_variables(data, p["x"], f"analysis {spec.name!r}")[0]
    frame = correlate(data, x=x, y=ys, method=p["method"],
                      covariates=p["covariates"] or None, sessions=p["sessions"])
    frame = _adjust(frame, p["correction"])
    where = f" ({p['sessions']})" if p["sessions"] else ""
    covs = list(p["covariates"] or [])
    kind = f"Partial {p['method'].capitalize()}" if covs else p["method"].capitalize()
    adjusted = f" adjusted for {', '.join(covs)}" if covs else ""
    ctx.report.section(f"Correlations of {_names(x)} with {_names(p['y'])}{where}{adjusted}")
    _table(ctx, spec.name, frame, f"{kind} correlations{adjusted} (r with 95% CI by Fisher z)"
           + (f"; p (adjusted) by {p['correction']}" if p["correction"] else ""), _CORR_SHOWN)
    wide = data.wide()
    if p["sessions"]:
        wide = wide[wide[schema.SESSION] == p["sessions"]]
    covariates = (wide[covs].apply(pd.to_numeric, errors="coerce") if covs else None)
    scope = ", ".join(plain(v) for v in (p["levels"], p["sessions"]) if v)
    top = frame.reindex(frame["r"].abs().sort_values(ascending=False).index).head(2)
    for _, row in top.iterrows():
        xlabel, ylabel = _axis_label(row["x"]), _axis_label(row["y"])
        fig = plot_correlation(wide[row["x"]], wide[row["y"]], r=row["r"],
                               ci=(row["ci_low"], row["ci_high"]), p=row["p"],
                               xlabel=xlabel, ylabel=ylabel, method=p["method"],
                               covariates=covariates, covariate_names=covs or None)
        ctx.save_figure(f"{spec.name}_{row['y']}", fig,
                        caption=correlation_caption(xlabel, ylabel, method=p["method"],
                                                    covariates=covs, n=int(row["n"]),
                                                    where=scope)
                        + _cite(spec))
    return _record(spec, n=[int(v) for v in frame["n"]], y=ys)


# -- voxelwise -------------------------------------------------------------------------------
def _maps(cohort: Cohort, feature: str, group=None, session=None
          ) -> tuple[list, list[tuple[str, str]]]:
    """Maps of ``feature`` and their (subject, session) keys."""
    data = _select(cohort, group=group, session=session)
    imgs, keys = [], []
    for sub, ses in data.iter_sessions():
        if feature not in ses.images:
            raise DesignError(f"Subject {sub.id!r} session {ses.label!r} has no {feature!r} map; "
                              f"it has {sorted(ses.images)}. Add an extractor producing it.")
        imgs.append(ses.images[feature])
        keys.append((sub.id, ses.label))
    return imgs, keys


def _covariate_frame(cohort: Cohort, names: Sequence[str], keys: list[tuple[str, str]],
                     where: str) -> pd.DataFrame:
    """One row per image (subject, session) with the named covariates, numeric.

    Participant or session columns of :meth:`Cohort.wide`; a text column with two values
    is coded 0/1 (the first value in sorted order is 0, the column is named after the
    other, e.g. ``sex[M]``); more values, or missing values, raise.
    """
    wide = cohort.wide().set_index(["subject_id", "session"])
    missing = [c for c in names if c not in wide.columns]
    if missing:
        raise SpecError(f"{where}: 'covariates' {missing} are not columns of the cohort; "
                        f"choose from {[c for c in wide.columns if c != 'group']}.")
    rows = wide.loc[keys, list(names)].reset_index(drop=True)
    out = {}
    for col in names:
        values = rows[col]
        if pd.api.types.is_numeric_dtype(values):
            out[col] = values.astype(float)
            continue
        levels = sorted(values.dropna().astype(str).unique())
        if len(levels) != 2:
            raise SpecError(f"{where}: covariate {col!r} is text with levels {levels}; only "
                            "numeric or two-level covariates can enter the voxelwise model.")
        out[f"{col}[{levels[1]}]"] = values.astype(str).eq(levels[1]).astype(float).where(
            values.notna())
    frame = pd.DataFrame(out)
    bad = frame.isna().any(axis=1)
    if bad.any():
        who = [f"{s} ses-{ses}" for (s, ses), b in zip(keys, bad) if b]
        raise DesignError(f"{where}: covariates {list(names)} are missing for {who}; the "
                          "voxelwise model never drops images silently.")
    return frame


def run_voxelwise(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.inference import (
        grf_cluster_correct,
        permutation_cluster_correct,
        voxelwise_ttest,
    )

    p = spec.params
    feature, design = p["feature"], p["design"]
    mask = _common_mask(cohort)
    where = f"analysis {spec.name!r}"
    kwargs: dict[str, Any] = {}
    if design == "paired":  # the shapes of 'sessions' were checked when the spec was read
        s = p["sessions"] or ["pre", "post"]
        data = _select(cohort, group=p["levels"])
        a_imgs, a_keys = _maps(data, feature, session=s[0])
        b_imgs, b_keys = _maps(data, feature, session=s[1])
        a_sub, b_sub = [k[0] for k in a_keys], [k[0] for k in b_keys]
        both = sorted(set(a_sub) & set(b_sub))
        dropped = sorted(set(a_sub) ^ set(b_sub))
        ia = [a_imgs[a_sub.index(x)] for x in both]
        ib = [b_imgs[b_sub.index(x)] for x in both]
        imgs, labels, subjects = ia + ib, [s[0]] * len(both) + [s[1]] * len(both), both + both
        keys = list(zip(subjects, labels))
        kwargs = {"labels": labels, "subjects": subjects}
        contrast = f"{s[0]} − {s[1]}"
        perm_kwargs = dict(kwargs)
    elif design == "two_sample":
        g = p["levels"] or list(cohort.groups)
        sessions = p["sessions"] or {}
        imgs, labels, keys = [], [], []
        for grp in g:
            gi, gk = _maps(cohort, feature, group=grp, session=sessions.get(grp))
            imgs += gi
            keys += gk
            labels += [grp] * len(gi)
        kwargs = {"labels": labels}
        perm_kwargs = dict(kwargs)
        contrast, dropped = f"{g[0]} − {g[1]}", []
    elif design == "one_sample":
        imgs, keys = _maps(cohort, feature, group=p["levels"], session=p["sessions"])
        kwargs, perm_kwargs, contrast, dropped = {}, {}, "mean", []
    else:
        raise SpecError(f"analysis {spec.name!r}: design {design!r} is not run by the study "
                        "runner yet; use painmarkers.inference.voxelwise_ttest directly.")
    from painmarkers.reporting.labels import feature_label

    ctx.report.section(f"Voxelwise {design.replace('_', '-')} t-test of "
                       f"{feature_label(feature)}: {contrast}")
    if not p["covariates"]:
        ctx.report.text("No covariates in the model.", note=True)
    if dropped:
        ctx.report.text("Excluded (one of the two sessions missing): "
                        + ", ".join(f"sub-{d}" for d in dropped) + ".", note=True)
    if p["covariates"]:
        covariates = _covariate_frame(cohort, p["covariates"], keys, where)
        kwargs["covariates"] = covariates
        perm_kwargs["covariates"] = covariates
        ctx.report.text(f"Covariates in the model: {', '.join(covariates.columns)} "
                        "(mean-centred; two-level text columns coded 0/1).", note=True)
    res = voxelwise_ttest(imgs, design=design, mask_img=mask, **kwargs)
    out = ctx.out_dir / "maps" / spec.name
    res.save(out / "glm")
    ctx.maps[f"{spec.name}/t"] = out / "glm"
    record = _record(spec, n=len(imgs), n_subjects=len({k[0] for k in keys}),
                     df=float(res.df), contrast=contrast, dropped=dropped)
    fwhm_mm = [round(float(v), 2) for v in res.smoothness.fwhm_mm]
    fwhm_vox = [round(float(v), 2) for v in res.smoothness.fwhm_voxels]
    record.update(fwhm_mm=fwhm_mm, fwhm_voxels=fwhm_vox)
    ctx.report.text(f"Residual smoothness: FWHM {', '.join(f'{v:g}' for v in fwhm_mm)} mm "
                    f"({', '.join(f'{v:g}' for v in fwhm_vox)} voxels) along x, y, z.",
                    note=True)
    ctx.report.text(res.summary(), preformatted=True, summary="GLM summary")
    first = True
    for method in p["correction"]:
        if method == "grf":
            ctx.log(f"  {spec.name}: GRF cluster inference")
            cres = grf_cluster_correct(res.t_img, voxel_p=p["voxel_p"], cluster_p=p["cluster_p"],
                                       two_tailed=p["two_tailed"], stat="t", df=res.df,
                                       smoothness=res.smoothness, mask_img=mask,
                                       method=p["grf_method"])
            title = f"GRF ({p['grf_method'].upper()})"
        else:
            ctx.log(f"  {spec.name}: permutation test, {p['n_permutations']} permutations "
                    f"of {len(imgs)} maps")
            cres = permutation_cluster_correct(
                imgs, design=design, mask_img=mask, voxel_p=p["voxel_p"],
                two_tailed=p["two_tailed"], n_permutations=p["n_permutations"],
                random_state=ctx.random_state, n_jobs=ctx.n_jobs, **perm_kwargs)
            title = f"permutation ({p['n_permutations']} permutations)"
        cres.save(out / method)
        ctx.maps[f"{spec.name}/{method}"] = out / method
        table = _report_clusters(ctx, spec, cres, method, title, contrast, mask,
                                 df=float(res.df), n_maps=len(imgs), glass=first)
        first = False
        record[f"{method}_n_clusters"] = len(table)
        record[f"{method}_flagged_clusters"] = [
            int(c) for c in table.loc[table["significant"].astype(bool)
                                      & table["anatomy_flag"].astype(bool), "cluster_id"]]
    return record


#: Report headers of cluster tables (the TSV keeps the column names).
_CLUSTER_HEADERS = {"cluster_id": "cluster", "size_voxels": "voxels",
                    "size_mm3": "volume (mm³)", "p_cluster": "p (cluster, FWE)",
                    "peak_stat": "peak t", "peak_z": "peak z", "peak_mni_x": "MNI x",
                    "peak_mni_y": "MNI y", "peak_mni_z": "MNI z", "aal": "AAL",
                    "harvard_oxford": "Harvard-Oxford", "tissue": "tissue at peak",
                    "anatomy_flag": "check"}


def _threshold(p: float) -> str:
    """A significance threshold as written in a paper: ``.01``, ``.001``."""
    return f"{float(p):g}".replace("0.", ".", 1)


def _report_clusters(ctx: RunContext, spec: AnalysisSpec, cres, method: str, title: str,
                     contrast: str, mask, *, df: float, n_maps: int, glass: bool
                     ) -> pd.DataFrame:
    """Cluster table (with the tissue at each peak), montage and glass brain of one correction."""
    from painmarkers.reporting import flag_clusters, plot_glass_brain, plot_stat_map
    from painmarkers.reporting.labels import feature_label

    p = spec.params
    feature = feature_label(p["feature"])
    table = flag_clusters(cres.to_frame())
    ctx.report.text(f"{title}: {cres.summary()}", preformatted=True,
                    summary=f"{title}: summary of the correction")
    sig = table[table["significant"].astype(bool)]
    shown = sig.assign(sign=sig["sign"].map({1: "+", -1: "−"}))
    tails = "two-tailed" if p["two_tailed"] else "one-tailed"
    thresholds = f"voxel p < {_threshold(p['voxel_p'])}, cluster p < " \
                 f"{_threshold(p['cluster_p'])}, {tails}"
    columns = [*_CLUSTER_SHOWN, "tissue"] + (["anatomy_flag"] if sig["anatomy_flag"].any()
                                             else [])
    _table(ctx, f"{spec.name}_{method}_clusters", table,
           f"Significant clusters of {feature} ({contrast}), {title}, {thresholds}: {len(sig)} "
           f"of {len(table)} supra-threshold clusters (all are in tables/"
           f"{spec.name}_{method}_clusters.tsv); peak MNI coordinates in mm; tissue at the "
           f"peak from the Neuromorphometrics atlas{_cite(spec)}",
           columns, shown=shown, rename=_CLUSTER_HEADERS,
           highlight=list(shown["anatomy_flag"].astype(bool)))
    flagged = sig[sig["anatomy_flag"].astype(bool)]
    if len(flagged):
        ctx.report.text(
            f"Anatomical check: {len(flagged)} significant cluster(s) peak outside grey matter: "
            + "; ".join(f"cluster {int(r.cluster_id)} ({r.anatomy_flag})"
                        for r in flagged.itertuples())
            + ". Effects of resting-state measures lie in grey matter; a peak in a ventricle, "
            "white matter or outside the brain suggests an artefact (CSF pulsation, motion, "
            "registration) or a peak displaced by a coarse grid. Inspect these clusters before "
            "interpreting them.", warning=True)
    a, _, b = contrast.partition(" − ")
    colours = (f"red: {a} > {b}, blue: {a} < {b}" if b else "red: positive, blue: negative")
    # a two-tailed t map is signed even when clusters of one sign survive
    signed = True if p["two_tailed"] else None
    scale = ("diverging colour scale centred at 0" if p["two_tailed"]
             else "sequential colour scale from 0")
    what = (f"{feature}, {contrast} (n = {n_maps} maps): t values (df = {df:g}) of the voxels "
            f"in significant clusters, {title}, {thresholds}; other voxels transparent")
    if glass:
        fig = plot_glass_brain(cres.thresholded_img, title=f"{feature} {contrast}: {title}",
                               stat="t", df=df, signed=signed)
        ctx.save_figure(f"{spec.name}_{method}_glass", fig,
                        caption=f"{what}. Glass brain: maximum-intensity projections "
                                f"(sagittal, coronal, axial; L = left); {colours}"
                                f"{_cite(spec)}.")
    fig = plot_stat_map(cres.thresholded_img, title=f"{feature} {contrast}: {title}",
                        stat="t", df=df, mask_img=mask, clusters=table, threshold=1e-6,
                        signed=signed)
    where = ("axial slices through the peaks of the largest significant clusters" if len(sig)
             else "no significant cluster; axial slices spread over the brain mask")
    ctx.save_figure(f"{spec.name}_{method}", fig,
                    caption=f"{what}. {where.capitalize()} (MNI z in mm; L = left); {scale}, "
                            f"{colours}{_cite(spec)}.")
    return table


def _common_mask(cohort: Cohort):
    """Intersection of the sessions' brain masks (None when no session has one)."""
    import nibabel as nib

    masks = [ses.images["mask"] for _, ses in cohort.iter_sessions() if "mask" in ses.images]
    if not masks:
        return None
    first = nib.load(masks[0])
    data = np.asarray(first.dataobj) > 0
    for path in masks[1:]:
        img = nib.load(path)
        if img.shape != first.shape or not np.allclose(img.affine, first.affine, atol=1e-3):
            raise DesignError(f"Brain mask {str(path)!r} is not on the grid of {str(masks[0])!r}; "
                              "voxelwise analyses need maps in one space.")
        data &= np.asarray(img.dataobj) > 0
    return nib.Nifti1Image(data.astype(np.uint8), first.affine)


# -- classifier ------------------------------------------------------------------------------
def run_classifier(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.prediction import evaluate_biomarker

    p = spec.params
    features = []
    for f in p["features"]:
        if isinstance(f, list | tuple) and len(f) == 2:
            features.append(schema.measure_column(f[0], f[1]))
        elif isinstance(f, str):
            features.append(f)
        else:
            raise SpecError(f"analysis {spec.name!r}: each feature must be a column name or a "
                            f"[feature, roi] pair. Got {f!r}.")
    ctx.log(f"  {spec.name}: classifier, {p['n_splits']}-fold cross-validation x "
            f"{p['n_repeats']}, {p['n_permutations']} permutations, bootstrap CIs")
    ev = evaluate_biomarker(cohort, features, p["target"], positive=p["positive"],
                            subject=schema.SUBJECT, sessions=p["sessions"] or None,
                            confounds=p["confounds"] or None,
                            n_permutations=p["n_permutations"], random_state=ctx.random_state,
                            n_jobs=ctx.n_jobs, n_splits=p["n_splits"], n_repeats=p["n_repeats"],
                            progress=ctx.progress)
    ev.save(ctx.out_dir / "classifiers" / spec.name)
    from painmarkers.prediction import save_model_card

    save_model_card(ev, ctx.out_dir / "models" / spec.name, name=spec.name)
    shown_features = ", ".join(str(_label(f)) for f in features)
    ctx.report.section(f"Biomarker: {shown_features} for {p['target']} "
                       f"(positive = {p['positive']})")
    ctx.report.text(ev.summary(), preformatted=True, summary="Evaluation summary")
    _table(ctx, spec.name, ev.to_frame(), "Cross-validated performance with 95 % CIs")
    what = f"{shown_features} for {p['target']} = {p['positive']} (n = {ev.n})"
    ctx.save_figure(f"{spec.name}_roc", ev.plot_roc(),
                    caption=f"Out-of-fold ROC curve of {what}, repeated cross-validation")
    ctx.save_figure(f"{spec.name}_calibration", ev.plot_calibration(),
                    caption=f"Calibration of the out-of-fold probabilities of {what}: "
                            "observed fraction positive per bin of predicted probability; "
                            "the diagonal is perfect calibration")
    ctx.report.text(f"The final model (all {ev.n} rows) is saved as a model card in "
                    f"models/{spec.name}/ (painmarkers.prediction.load_model_card).", note=True)
    excluded = [f"sub-{r.subject_id} ({r.reason})" for r in ev.excluded.itertuples()]
    return _record(spec, n=ev.n, features=features, n_excluded=len(excluded),
                   excluded=excluded, model_card=str(ctx.out_dir / "models" / spec.name))


def run_roi_table(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    """The seed's Table 3: each ROI with its MNI centre and one-sample t per group/session."""
    from painmarkers.stats import one_sample_ttest

    p = spec.params
    where = f"analysis {spec.name!r}"
    mu = float(p["mu"])
    frames, n = [], {}
    for col in p["columns"]:
        data = _select(cohort, group=col.get("levels"))  # sessions= counts who lacks it
        if len(data) == 0:
            raise DesignError(f"{where}: column {col['label']!r} selects no subject "
                              f"(levels {col.get('levels')!r}, sessions "
                              f"{col.get('sessions')!r}).")
        dvs = expand_variables(data, p["feature"], where)
        frame = one_sample_ttest(data, dv=dvs, mu=mu, sessions=col.get("sessions"))
        frame.insert(0, "column", col["label"])
        frames.append(frame)
        n[col["label"]] = sorted({int(v) for v in frame["n"]})
    long = pd.concat(frames, ignore_index=True)
    long.insert(1, "roi", long["dv"].str.split("__", n=1).str[-1])
    centres = {r.name: getattr(r, "center_mni", None) for r in ctx.rois}
    rois = list(dict.fromkeys(long["roi"]))
    shown = pd.DataFrame({"ROI": rois})
    for k, axis in enumerate("xyz"):
        shown[f"MNI {axis}"] = [np.nan if centres.get(r) is None else centres[r][k]
                                for r in rois]
    for label in long["column"].unique():
        sub = long[long["column"] == label].set_index("roi")
        shown[f"t ({label})"] = sub.loc[rois, "statistic"].to_numpy().round(2)
        shown[f"p ({label})"] = sub.loc[rois, "p"].to_numpy()
    ns = "; ".join(f"{k}: n = {'/'.join(map(str, v))}" for k, v in n.items())
    sessions = {c.get("sessions") for c in p["columns"]}
    gone = [f"sub-{s} {ses}" for s, ses, _ in ctx.excluded_sessions
            if None in sessions or ses in sessions]
    if gone:
        ns += f"; removed by the motion rule before this table: {', '.join(gone)}"
    ctx.report.section(f"One-sample t-tests of {_names(p['feature'])} at each ROI")
    ctx.save_table(spec.name, long)
    ctx.report.table(shown, caption=(
        f"One-sample t-test of {p['feature']} against {mu:g} in each group/session "
        f"({ns}); MNI centre of each ROI in mm (blank for atlas or mask ROIs); p "
        f"uncorrected, two-sided. Full statistics in tables/{spec.name}.tsv{_cite(spec)}."))
    return _record(spec, n=n)


HANDLERS: dict[str, Handler] = {
    "demographics": run_demographics,
    "clinical_table": run_clinical_table,
    "outcomes": run_outcomes,
    "paired_ttest": run_paired,
    "two_sample_ttest": run_two_sample,
    "correlation": run_correlation,
    "roi_table": run_roi_table,
    "voxelwise": run_voxelwise,
    "classifier": run_classifier,
    **PREDICTION_HANDLERS,  # prognosis, signature
    **PATTERN_HANDLERS,  # pattern, external_validation
    **_SEED_HANDLERS,
}
