"""Analyses that draw the seed papers' figures and tables the generic analyses do not.

``group_maps``
    Mean map of a feature per group/session (the rTMS study's Figure 3, group mean ALFF;
    the QSM study's iron maps), with ROI outlines, saved as NIfTI and drawn on axial
    slices through the ROIs.
``group_plot``
    Values of ROI measures per group (one panel per measure, each subject a point,
    mean with its 95 % CI), with the two-sample t-test of the first two groups.
``composite_correlation``
    Correlation of two composites, each the mean of several columns per subject (the
    QSM study's r = 0.444 between motor-cortex iron and motor-cortex to superior-frontal
    connectivity), with its scatter plot.
``seed_comparison``
    One table setting each published finding of a seed paper next to what this run
    found (read from the tables of earlier analyses), and saying which findings the
    data cannot support, and why.

Each handler follows :mod:`painmarkers.study._analyses`: it writes through the run
context, adds a report section and returns a provenance record. ``cite`` (any analysis)
names the seed paper's figure or table an output reproduces; captions end with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["HANDLERS", "cite"]

#: Axial slices (MNI z, mm) drawn when a map has no ROI to centre the slices on: they
#: cross the whole brain, from the temporal poles to the vertex.
BRAIN_SLICES = (-24, -8, 8, 24, 40, 56)
_MAX_SLICES = 6


def cite(spec) -> str:
    """`` (cf. <cite>)`` for an analysis whose spec names a published figure or table."""
    text = spec.params.get("cite")
    return f" (cf. {text})" if text else ""


def _record(spec, **extra: Any) -> dict[str, Any]:
    return {"type": spec.type, "name": spec.name, "params": dict(spec.params), **extra}


# -- group mean maps ---------------------------------------------------------------------------
def _slices(ctx, names: Sequence[str], affine: np.ndarray, shape) -> list[float]:
    """Axial slices (MNI z) across the named ROIs (else a brain-covering set).

    Three to six slices, evenly spaced between the 10th and 90th percentiles of the
    ROIs' voxel z coordinates, at least 8 mm apart.
    """
    import nibabel as nib

    if not names:
        return list(BRAIN_SLICES)
    ref = nib.Nifti1Image(np.zeros(shape, np.uint8), affine)
    rois = {r.name: r for r in ctx.rois}
    zs = np.concatenate([nib.affines.apply_affine(affine, np.argwhere(rois[n].to_mask(ref)))
                         [:, 2] for n in names])
    low, high = np.percentile(zs, [10, 90])
    n = int(np.clip(np.floor((high - low) / 8.0) + 1, 3, _MAX_SLICES))
    return [float(round(z)) for z in np.linspace(low, high, n)]


def run_group_maps(ctx, cohort, spec) -> dict[str, Any]:
    """Group mean maps of a feature, one per column (group and session)."""
    import nibabel as nib

    from painmarkers._atomic import atomic_write
    from painmarkers.exceptions import DesignError, ImageError
    from painmarkers.reporting.brain import mean_map, plot_group_mean_maps
    from painmarkers.study._analyses import _common_mask, _maps, _select
    from painmarkers.study._context import slug

    p = spec.params
    where = f"analysis {spec.name!r}"
    feature = p["feature"]
    mask_img = _common_mask(cohort)
    maps, ns, out = {}, {}, ctx.out_dir / "maps" / spec.name
    for col in p["columns"]:
        data = _select(cohort, group=col.get("levels"))
        imgs, _ = _maps(data, feature, session=col.get("sessions"))
        if not imgs:
            raise DesignError(f"{where}: column {col['label']!r} has no {feature!r} map "
                              f"(levels {col.get('levels')!r}, sessions {col.get('sessions')!r}).")
        try:
            mean = mean_map(imgs, mask_img)
        except ImageError as exc:
            raise DesignError(f"{where}: column {col['label']!r}: {exc}") from None
        path = out / f"{slug(col['label'])}_mean.nii.gz"
        atomic_write(path, mean.to_filename, suffix=".nii.gz")
        maps[f"{col['label']} (n = {len(imgs)})"] = mean
        ns[col["label"]] = len(imgs)
    ctx.maps[spec.name] = out
    first = next(iter(maps.values()))
    rois = {r.name: r for r in ctx.rois}
    outlined = [(name, nib.Nifti1Image(rois[name].to_mask(first).astype(np.uint8),
                                       first.affine)) for name in p["rois"]]
    slices = _slices(ctx, p["rois"], first.affine, first.shape)
    values = np.concatenate([np.asarray(m.dataobj).ravel() for m in maps.values()])
    signed = bool((values < 0).any())
    units = p["units"] or feature
    ctx.report.section(f"Group mean {feature} maps")
    # the mean of each map in each outlined ROI, so the figure can be read in numbers
    if outlined:
        rows = []
        for label, img in maps.items():
            data = np.asarray(img.dataobj)
            rows.append({"map": label, **{name: float(data[m.get_fdata() > 0].mean())
                                           for name, m in outlined}})
        ctx.save_table(spec.name, pd.DataFrame(rows))
        ctx.report.table(pd.DataFrame(rows), caption=f"Mean of each group map ({units}) "
                                                     f"in each outlined ROI{cite(spec)}")
    fig = plot_group_mean_maps(maps, mask_img=mask_img, label=units, cut_coords=slices,
                               rois=dict(outlined), scale="percentile", signed=signed)
    what = "; ".join(maps)
    ctx.save_figure(spec.name, fig, caption=(
        f"Group mean {feature} maps ({units}), one row per group/session ({what}), in MNI152 "
        f"space; axial slices at MNI z = {', '.join(f'{z:g}' for z in slices)} mm"
        + (f"; outlines: {', '.join(n for n, _ in outlined)}" if outlined else "")
        + ("; grey scale from the 1st to the 99th percentile" if signed else
           "; colour scale from the 2nd to the 99.5th percentile")
        + f". Unthresholded means, no test{cite(spec)}."))
    return _record(spec, n=ns)


# -- values per group --------------------------------------------------------------------------
def run_group_plot(ctx, cohort, spec) -> dict[str, Any]:
    """Each ROI measure per group (points, mean and 95 % CI), with the t-test of two groups."""
    import matplotlib.pyplot as plt
    from scipy import stats as sps

    from painmarkers import schema
    from painmarkers._words import plain
    from painmarkers.stats import two_sample_ttest
    from painmarkers.study._analyses import _label, expand_variables

    p = spec.params
    where = f"analysis {spec.name!r}"
    dvs = expand_variables(cohort, p["dv"], where)
    levels = list(p["levels"])
    sessions = p["sessions"] or {}
    wide = cohort.wide()
    per_group = {}
    for g in levels:
        rows = wide[wide[schema.GROUP] == g]
        if g in sessions:
            rows = rows[rows[schema.SESSION] == sessions[g]]
        per_group[g] = rows
    tests = None
    if len(levels) == 2:  # the numbers annotated on the panels, also as a table
        frame = two_sample_ttest(cohort, dv=dvs, levels=tuple(levels),
                                 sessions=sessions or None)
        ctx.save_table(spec.name, frame)
        tests = frame.set_index("dv")
    n_cols = min(len(dvs), 4)
    n_rows = int(np.ceil(len(dvs) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols + 0.4, 2.9 * n_rows),
                             squeeze=False)
    scale = float(p["scale"])
    colours = plt.get_cmap("tab10").colors
    for ax, dv in zip(axes.ravel(), dvs):
        for i, g in enumerate(levels):
            v = per_group[g][dv].dropna().to_numpy(dtype=float) * scale
            jitter = np.linspace(-0.12, 0.12, v.size) if v.size > 1 else np.zeros(v.size)
            ax.scatter(i + jitter, v, s=10, color=colours[i % 10], alpha=0.6, lw=0)
            if v.size >= 2:
                half = sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
                ax.errorbar(i + 0.3, v.mean(), yerr=half, fmt="o", color="k", ms=4,
                            capsize=3, lw=1.2)
        ax.set_xticks(range(len(levels)), levels)
        ax.set_xlim(-0.5, len(levels) - 0.3)
        ax.set_title(_label(dv), fontsize=9)
        if tests is not None and dv in tests.index:
            row = tests.loc[dv]
            p_text = "p < .001" if row["p"] < 0.001 else f"p = {row['p']:.3f}"
            ax.text(0.02, 0.98, f"t({row['df']:.0f}) = {row['statistic']:.2f}, {p_text}",
                    transform=ax.transAxes, va="top", fontsize=7.5)
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi + 0.15 * (hi - lo))
    for ax in axes.ravel()[len(dvs):]:
        ax.set_visible(False)
    units = p["units"]
    for ax in axes[:, 0]:
        ax.set_ylabel(units or "value")
    fig.tight_layout()
    ctx.report.section(f"{plain([_label(d) for d in np.atleast_1d(p['dv'])])} by group")
    n = {g: int(per_group[g][dvs].notna().all(axis=1).sum()) for g in levels}
    ns = ", ".join(f"{g}: n = {k}" for g, k in n.items())
    test_text = (f"; Student's two-sample t-test of {levels[0]} vs {levels[1]} (uncorrected "
                 "p, as in the table of that test)" if tests is not None else "")
    ctx.save_figure(spec.name, fig, caption=(
        f"{', '.join(_label(d) for d in dvs)} per group ({ns})"
        + (f", sessions {plain(sessions)}" if sessions else "")
        + f": one point per subject, black = mean with its 95 % CI{test_text}"
        + (f"; values in {units}" if units else "") + f"{cite(spec)}."))
    return _record(spec, n=n, dv=dvs)


# -- correlation of two composites ------------------------------------------------------------
def run_composite_correlation(ctx, cohort, spec) -> dict[str, Any]:
    """Correlate the per-subject means of two sets of columns (e.g. motor QSM and motor FC)."""
    from painmarkers import schema
    from painmarkers._words import plain
    from painmarkers.reporting.plots import plot_correlation
    from painmarkers.stats import correlate
    from painmarkers.study._analyses import _label, _select, _table, expand_variables

    p = spec.params
    where = f"analysis {spec.name!r}"
    data = _select(cohort, group=p["levels"])
    xs = expand_variables(data, p["x"], where)
    ys = expand_variables(data, p["y"], where)
    wide = data.wide()
    if p["sessions"]:
        wide = wide[wide[schema.SESSION] == p["sessions"]]
    x_name = p["x_label"] or ("mean of " + ", ".join(_label(c) for c in xs))
    y_name = p["y_label"] or ("mean of " + ", ".join(_label(c) for c in ys))
    complete = wide[xs + ys].notna().all(axis=1)
    excluded = [f"sub-{s}" for s in wide.loc[~complete, schema.SUBJECT]]
    frame = wide.loc[complete].copy()
    frame[x_name] = frame[xs].mean(axis=1)
    frame[y_name] = frame[ys].mean(axis=1)
    result = correlate(frame, x=x_name, y=y_name, method=p["method"],
                       covariates=p["covariates"] or None)
    result = result.assign(n_excluded=len(excluded),
                           excluded="; ".join(excluded) if excluded else np.nan)
    group = f" in {plain(p['levels'])}" if p["levels"] else ""
    covariates = plain([_label(c) for c in p["covariates"]]) if p["covariates"] else ""
    ctx.report.section(f"Correlation of {x_name} with {y_name}{group}")
    ctx.report.text(f"x = mean of {plain([_label(c) for c in xs])}; y = mean of "
                    f"{plain([_label(c) for c in ys])}, per subject"
                    + (f"; session {plain(p['sessions'])}" if p["sessions"] else "")
                    + (f"; excluded (a value missing): {', '.join(excluded)}" if excluded
                       else "") + ".", note=True)
    partial = bool(p["covariates"])
    _table(ctx, spec.name, result,
           f"{p['method'].capitalize()} correlation{group}"
           + (f", partial on {covariates}" if partial else "") + cite(spec),
           ("x", "y", "covariates", "n", "n_excluded", "excluded", "r", "ci_low", "ci_high",
            "p"))
    row = result.iloc[0]
    fig = plot_correlation(frame[x_name], frame[y_name], r=row["r"],
                           ci=(row["ci_low"], row["ci_high"]), p=row["p"], xlabel=x_name,
                           ylabel=y_name,
                           title=plain(p["levels"]) if p["levels"] else "all subjects")
    ctx.save_figure(spec.name, fig, caption=(
        f"{y_name} against {x_name}{group} (n = {int(row['n'])}): one point per subject, "
        f"least-squares line; {p['method']} r with its 95 % CI (Fisher z) and uncorrected p"
        + (f"; r is partial on {covariates} while the points are the raw "
           "values" if partial else "") + f"{cite(spec)}."))
    return _record(spec, n=int(row["n"]), x=xs, y=ys, n_excluded=len(excluded),
                   excluded=excluded)


# -- published findings vs this run -----------------------------------------------------------
#: How result columns are named in the comparison table.
_SHOWN_AS = {"statistic": "t", "p": "p", "p_adjusted": "p (FDR)", "p_cluster": "cluster p",
             "r": "r", "mean_diff": "difference", "cohen_d": "d", "size_voxels": "voxels",
             "peak_stat": "peak t", "n": "n", "aal": "peak in", "voxels_in_roi": "voxels in"}


def _format_value(column: str, value: Any) -> str:
    name = _SHOWN_AS.get(column, column.replace("_", " "))
    if isinstance(value, bool | np.bool_):
        return f"{name}: {'yes' if value else 'no'}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"{name} = {value}"
    if not np.isfinite(number):
        return f"{name} = n/a"
    if column.startswith("p"):
        return f"{name} < .001" if number < 0.001 else f"{name} = {number:.3f}"
    if column in ("n", "size_voxels", "voxels_in_roi") or column.startswith(("peak_mni",
                                                                             "mni")):
        return f"{name} = {number:.0f}"
    if column in ("statistic", "peak_stat", "r", "cohen_d", "hedges_g"):
        return f"{name} = {number:.2f}"  # t = 33.34, r = 0.44
    return f"{name} = {number:.3g}"  # means and differences: 7.08, 0.0156 (ppm)


def _select_rows(table: pd.DataFrame, selector: Mapping[str, Any]) -> pd.DataFrame:
    keep = pd.Series(True, index=table.index)
    for column, value in selector.items():
        if column not in table.columns:
            return table.iloc[:0]
        col = table[column]
        if isinstance(value, bool):
            keep &= col.astype(str).str.lower() == str(value).lower()
        elif isinstance(value, int | float):
            keep &= pd.to_numeric(col, errors="coerce") == value
        else:
            keep &= col.astype(str) == value
    return table[keep]


def _overlapping(ctx, table_name: str, table: pd.DataFrame, roi_name: str) -> pd.DataFrame:
    """Rows of a cluster table whose cluster has voxels in the ROI, with their count."""
    import re

    import nibabel as nib

    match = re.fullmatch(r"(.+)_(grf|permutation)_clusters", table_name)
    folder = ctx.maps.get(f"{match[1]}/{match[2]}") if match else None
    rois = {r.name: r for r in ctx.rois}
    if folder is None or roi_name not in rois or "cluster_id" not in table:
        return table.iloc[:0]
    labels = nib.load(folder / "cluster_labels.nii.gz")
    data = np.asarray(labels.dataobj)
    inside = data[rois[roi_name].to_mask(labels) & (data > 0)]
    ids, counts = np.unique(inside, return_counts=True)
    found = dict(zip(ids.tolist(), counts.tolist()))
    rows = table[table["cluster_id"].isin(found)].copy()
    rows["voxels_in_roi"] = rows["cluster_id"].map(found)
    return rows


def run_seed_comparison(ctx, cohort, spec) -> dict[str, Any]:
    """Each published finding next to this run's result, or why it is not reproduced."""
    p = spec.params
    rows, found, missing = [], 0, 0
    for row in p["rows"]:
        entry = {"finding": row["finding"], "published": row["published"]}
        if "table" not in row:
            entry.update({"this run": "not reproduced", "where": "", "note": row["note"]})
            missing += 1
            rows.append(entry)
            continue
        path = ctx.tables.get(row["table"])
        hit = pd.DataFrame()
        if path is not None:
            table = pd.read_csv(path, sep="\t")
            hit = _select_rows(table, row.get("where", {}))
            if "overlaps" in row:  # clusters reaching into an ROI
                hit = _overlapping(ctx, row["table"], hit, row["overlaps"])
        if len(hit):
            first = hit.iloc[0]
            shown = [_format_value(c, first[c]) for c in row.get("show", []) if c in hit]
            if "overlaps" in row:
                shown.append(f"{int(first['voxels_in_roi'])} voxels in {row['overlaps']}")
            entry["this run"] = ", ".join(shown) or "present"
            found += 1
        else:
            entry["this run"] = "not found in this run"
        entry["where"] = f"tables/{row['table']}.tsv"
        entry["note"] = row.get("note", "")
        rows.append(entry)
    frame = pd.DataFrame(rows, columns=["finding", "published", "this run", "where", "note"])
    title = f"Published findings and this run{': ' + p['source'] if p['source'] else ''}"
    ctx.report.section(title)
    ctx.report.text(
        f"{len(rows)} findings: {found} located in this run's tables, "
        f"{len(rows) - found - missing} looked for and not found, {missing} that the data "
        "cannot support (see the notes). Values are this run's, on simulated data; they "
        "are not expected to equal the published ones, only to point the same way.")
    ctx.save_table(spec.name, frame)
    ctx.report.table(frame, caption="Each finding of the published study, its published "
                                    "value, and the corresponding result of this run"
                     + cite(spec))
    return _record(spec, n_findings=len(rows), found=found, not_reproduced=missing)


HANDLERS = {
    "group_maps": run_group_maps,
    "group_plot": run_group_plot,
    "composite_correlation": run_composite_correlation,
    "seed_comparison": run_seed_comparison,
}
