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
from painmarkers.exceptions import DesignError, SpecError
from painmarkers.model import Cohort, get_instrument
from painmarkers.study._context import RunContext
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
    return cohort.select(group=group, session=session) if (group or session) else cohort


def _table(ctx: RunContext, name: str, frame: pd.DataFrame, caption: str,
           columns: Sequence[str] | None = None, *, collapsed: bool = False,
           shown: pd.DataFrame | None = None,
           rename: Mapping[str, str] | None = None) -> None:
    """Save ``frame`` as TSV and show ``shown`` (default: ``frame``) in the report.

    An ``excluded`` column with no entry is not shown (``n_excluded`` says 0).
    """
    ctx.save_table(name, frame)
    shown = frame if shown is None else shown
    if columns:
        shown = shown[[c for c in columns if c in shown.columns]]
    if "excluded" in shown.columns and not shown["excluded"].notna().any():
        shown = shown.drop(columns="excluded")
    elif "excluded" in shown.columns:
        shown = shown.assign(excluded=shown["excluded"].fillna(""))
    shown = shown.rename(columns=dict(rename or {}))
    for col in ("dv", "x", "y"):  # readable measure names; the TSV keeps the columns
        if col in shown.columns:
            shown = shown.assign(**{col: shown[col].map(_label)})
    ctx.report.table(shown, caption=caption, collapsed=collapsed)


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
    table = demographics_table(cohort, group=p["group"], variables=variables,
                               sex=p["sex"] if p["sex"] in present else None)
    ctx.report.section("Participants (Table 1)")
    if missing:
        ctx.report.text(f"Not in participants.tsv, so not tabulated: {missing}.", note=True)
    ctx.save_table(spec.name, table)
    shown = format_table(table).rename(columns=_UNITS).rename_axis("group (N)").reset_index()
    ctx.report.table(shown, caption=f"Table 1. Demographics of the {len(cohort)} participants "
                                    "analysed: mean (SD); sex as % female/male; --- not "
                                    "applicable")
    return _record(spec, n=len(cohort), missing_variables=missing)


def run_clinical_table(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.reporting import clinical_table, format_table

    p = spec.params
    data = _select(cohort, group=p["group"])
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
                             f"disability); paired t-test ({p['pre']} vs {p['post']})")
    return _record(spec, n=len(data))


def run_outcomes(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import outcomes

    p = spec.params
    data = _select(cohort, group=p["group"])
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
    data = _select(cohort, group=p["group"])
    dvs = expand_variables(data, p["dv"], f"analysis {spec.name!r}")
    frame = _adjust(paired_ttest(data, dv=dvs, pre=p["pre"], post=p["post"]))
    ctx.report.section(f"Paired t-tests: {', '.join(map(str, np.atleast_1d(p['dv'])))} "
                       f"({p['pre']} − {p['post']})")
    if len(frame) > 1:
        ctx.report.text("p_adjusted: Benjamini-Hochberg FDR across the rows of this table.",
                        note=True)
    _table(ctx, spec.name, frame, f"Paired t-tests (difference = {p['pre']} − {p['post']})",
           _TEST_SHOWN, rename={"mean_x": f"mean {p['pre']}", "mean_y": f"mean {p['post']}",
                                "statistic": "t"})
    return _record(spec, n=[int(v) for v in frame["n"]], dv=dvs)


def run_two_sample(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.stats import two_sample_ttest

    p = spec.params
    dvs = expand_variables(cohort, p["dv"], f"analysis {spec.name!r}")
    frame = _adjust(two_sample_ttest(cohort, dv=dvs, groups=tuple(p["groups"]),
                                     equal_var=bool(p["equal_var"]), session=p["sessions"]))
    g = p["groups"]
    ctx.report.section(f"Two-sample t-tests: {g[0]} vs {g[1]}")
    if p["sessions"]:
        ctx.report.text(f"Sessions compared: {dict(p['sessions'])}.", note=True)
    _table(ctx, spec.name, frame, f"Two-sample t-tests ({g[0]} − {g[1]}; "
           + ("Welch" if not p["equal_var"] else "Student") + ")", _TEST_SHOWN,
           rename={"mean_x": f"mean {g[0]}", "mean_y": f"mean {g[1]}", "statistic": "t"})
    return _record(spec, n=[int(v) for v in frame["n"]], dv=dvs)


def run_correlation(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    from painmarkers.reporting.plots import plot_correlation
    from painmarkers.stats import correlate

    p = spec.params
    data = _select(cohort, group=p["group"], session=p["session"])
    ys = expand_variables(data, p["y"], f"analysis {spec.name!r}")
    x = expand_variables(data, p["x"], f"analysis {spec.name!r}")[0]
    frame = correlate(data, x=x, y=ys, method=p["method"],
                      covariates=p["covariates"] or None)
    frame = _adjust(frame, p["correction"])
    where = f" ({p['session']})" if p["session"] else ""
    ctx.report.section(f"Correlations of {x} with {p['y']}{where}")
    _table(ctx, spec.name, frame, f"{p['method'].capitalize()} correlations"
           + (f"; p_adjusted by {p['correction']}" if p["correction"] else ""), _CORR_SHOWN)
    wide = data.wide()
    top = frame.reindex(frame["r"].abs().sort_values(ascending=False).index).head(2)
    for _, row in top.iterrows():
        fig = plot_correlation(wide[row["x"]], wide[row["y"]], r=row["r"],
                               ci=(row["ci_low"], row["ci_high"]), p=row["p"],
                               xlabel=_label(row["x"]), ylabel=_label(row["y"]))
        ctx.save_figure(f"{spec.name}_{row['y']}", fig,
                        caption=f"{_label(row['y'])} vs {row['x']}{where}: {p['method']} r "
                                f"with its 95 % CI (Fisher z), uncorrected p and n; line = least "
                                f"squares (cf. seed Figure 5)")
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
    from painmarkers.reporting.plots import plot_stat_map

    p = spec.params
    feature, design = p["feature"], p["design"]
    mask = _common_mask(cohort)
    where = f"analysis {spec.name!r}"
    kwargs: dict[str, Any] = {}
    if design == "paired":  # the shapes of 'sessions' were checked when the spec was read
        s = p["sessions"] or ["pre", "post"]
        data = _select(cohort, group=p["group"])
        a_imgs, a_keys = _maps(data, feature, session=s[0])
        b_imgs, b_keys = _maps(data, feature, session=s[1])
        a_sub, b_sub = [k[0] for k in a_keys], [k[0] for k in b_keys]
        both = sorted(set(a_sub) & set(b_sub))
        dropped = sorted(set(a_sub) ^ set(b_sub))
        ia = [a_imgs[a_sub.index(x)] for x in both]
        ib = [b_imgs[b_sub.index(x)] for x in both]
        imgs, labels, subjects = ia + ib, [s[0]] * len(both) + [s[1]] * len(both), both + both
        keys = list(zip(subjects, labels))
        kwargs = {"groups": labels, "subjects": subjects}
        contrast = f"{s[0]} − {s[1]}"
        perm_kwargs = dict(kwargs)
    elif design == "two_sample":
        g = p["groups"] or list(cohort.groups)
        sessions = p["sessions"] or {}
        imgs, labels, keys = [], [], []
        for grp in g:
            gi, gk = _maps(cohort, feature, group=grp, session=sessions.get(grp))
            imgs += gi
            keys += gk
            labels += [grp] * len(gi)
        kwargs = {"groups": labels}
        perm_kwargs = dict(kwargs)
        contrast, dropped = f"{g[0]} − {g[1]}", []
    elif design == "one_sample":
        imgs, keys = _maps(cohort, feature, group=p["group"], session=p["session"])
        kwargs, perm_kwargs, contrast, dropped = {}, {}, "mean", []
    else:
        raise SpecError(f"analysis {spec.name!r}: design {design!r} is not run by the study "
                        "runner yet; use painmarkers.inference.voxelwise_ttest directly.")
    ctx.report.section(f"Voxelwise {design.replace('_', '-')} t-test of {feature}: {contrast}")
    if dropped:
        ctx.report.text(f"Excluded (one of the two sessions missing): {dropped}.", note=True)
    if p["covariates"]:
        covariates = _covariate_frame(cohort, p["covariates"], keys, where)
        kwargs["covariates"] = covariates
        perm_kwargs["covariates"] = covariates
        ctx.report.text(f"Covariates in the model: {list(covariates.columns)} (mean-centred; "
                        "two-level text columns coded 0/1).", note=True)
    res = voxelwise_ttest(imgs, design=design, mask_img=mask, **kwargs)
    out = ctx.out_dir / "maps" / spec.name
    res.save(out / "glm")
    ctx.maps[f"{spec.name}/t"] = out / "glm"
    record = _record(spec, n=len(imgs), n_subjects=len({k[0] for k in keys}),
                     df=float(res.df), contrast=contrast, dropped=dropped)
    ctx.report.text(res.summary(), preformatted=True)
    for method in p["correction"]:
        if method == "grf":
            cres = grf_cluster_correct(res.t_img, voxel_p=p["voxel_p"], cluster_p=p["cluster_p"],
                                       two_tailed=p["two_tailed"], stat="t", df=res.df,
                                       smoothness=res.smoothness, mask_img=mask,
                                       method=p["grf_method"])
            title = f"GRF ({p['grf_method'].upper()})"
        else:
            cres = permutation_cluster_correct(
                imgs, design=design, mask_img=mask, voxel_p=p["voxel_p"],
                two_tailed=p["two_tailed"], n_permutations=p["n_permutations"],
                random_state=ctx.random_state, n_jobs=ctx.n_jobs, **perm_kwargs)
            title = f"permutation ({p['n_permutations']} permutations)"
        cres.save(out / method)
        ctx.maps[f"{spec.name}/{method}"] = out / method
        table = cres.to_frame()
        ctx.report.text(f"{title}: {cres.summary()}", preformatted=True)
        sig = (table[table["significant"].astype(bool)] if "significant" in table
               else table)
        _table(ctx, f"{spec.name}_{method}_clusters", table,
               f"Significant clusters of {feature} ({contrast}), {title}: {len(sig)} of "
               f"{len(table)} supra-threshold clusters (all are in tables/"
               f"{spec.name}_{method}_clusters.tsv); peak MNI coordinates in mm, "
               "cf. seed Table 3", _CLUSTER_SHOWN, shown=sig)
        fig = plot_stat_map(cres.thresholded_img, title=f"{feature} {contrast}: {title}",
                            threshold=1e-6)
        ctx.save_figure(f"{spec.name}_{method}", fig,
                        caption=f"{feature}, {contrast} (n = {len(imgs)} maps): t values of "
                                f"the significant clusters, {title}, voxel p < "
                                f"{p['voxel_p']:g}, cluster p < {p['cluster_p']:g}; axial "
                                "slices, MNI z in mm (cf. seed Figures 3-4)")
        record[f"{method}_n_clusters"] = len(table)
    return record


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
    sessions: Mapping[str, str] | None = p["sessions"]
    wide = cohort.wide()
    if sessions:
        keep = np.zeros(len(wide), dtype=bool)
        for grp, ses in sessions.items():
            in_group = (wide[schema.GROUP] == grp).to_numpy()
            keep |= in_group & (wide[schema.SESSION] == ses).to_numpy()
        wide = wide[keep].reset_index(drop=True)
    features = []
    for f in p["features"]:
        if isinstance(f, list | tuple) and len(f) == 2:
            features.append(schema.measure_column(f[0], f[1]))
        elif isinstance(f, str):
            features.append(f)
        else:
            raise SpecError(f"analysis {spec.name!r}: each feature must be a column name or a "
                            f"[feature, roi] pair. Got {f!r}.")
    ev = evaluate_biomarker(wide, features=features, target=p["target"], positive=p["positive"],
                            confounds=p["confounds"] or None, groups=schema.SUBJECT,
                            n_permutations=p["n_permutations"], random_state=ctx.random_state,
                            n_jobs=ctx.n_jobs, n_splits=p["n_splits"], n_repeats=p["n_repeats"])
    ev.save(ctx.out_dir / "classifiers" / spec.name)
    ctx.report.section(f"Biomarker: {', '.join(features)} for {p['target']} "
                       f"(positive = {p['positive']})")
    ctx.report.text(ev.summary(), preformatted=True)
    _table(ctx, spec.name, ev.to_frame(), "Cross-validated performance with 95 % CIs")
    what = f"{', '.join(features)} for {p['target']} = {p['positive']} (n = {len(wide)})"
    ctx.save_figure(f"{spec.name}_roc", ev.plot_roc(),
                    caption=f"Out-of-fold ROC curve of {what}, repeated cross-validation")
    ctx.save_figure(f"{spec.name}_calibration", ev.plot_calibration(),
                    caption=f"Calibration of the out-of-fold probabilities of {what}: "
                            "observed fraction positive per bin of predicted probability; "
                            "the diagonal is perfect calibration")
    return _record(spec, n=len(wide), features=features)


def run_roi_table(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    """The seed's Table 3: each ROI with its MNI centre and one-sample t per group/session."""
    from painmarkers.stats import one_sample_ttest

    p = spec.params
    where = f"analysis {spec.name!r}"
    mu = float(p["mu"])
    frames, n = [], {}
    for col in p["columns"]:
        data = _select(cohort, group=col.get("group"), session=col.get("session"))
        if len(data) == 0:
            raise DesignError(f"{where}: column {col['label']!r} selects no subject "
                              f"(group {col.get('group')!r}, session {col.get('session')!r}).")
        dvs = expand_variables(data, p["feature"], where)
        frame = one_sample_ttest(data, dv=dvs, mu=mu, session=col.get("session"))
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
    sessions = {c.get("session") for c in p["columns"]}
    gone = [f"sub-{s} {ses}" for s, ses, _ in ctx.excluded_sessions
            if None in sessions or ses in sessions]
    if gone:
        ns += f"; removed by the motion rule before this table: {', '.join(gone)}"
    ctx.report.section(f"Table 3: {p['feature']} at each ROI")
    ctx.save_table(spec.name, long)
    ctx.report.table(shown, caption=(
        f"Table 3. One-sample t-test of {p['feature']} against {mu:g} in each group/session "
        f"({ns}); MNI centre of each ROI in mm (blank for atlas or mask ROIs); p "
        f"uncorrected, two-sided. Full statistics in tables/{spec.name}.tsv."))
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
}
