"""Handlers of the voxelwise trial analyses of a study: ``voxelwise_glm``, ``voxelwise_lmm``.

``voxelwise_glm`` fits :func:`painmarkers.inference.voxelwise_glm` (one map per subject
and visit, a formula on the arm, visit and covariates, one effect per subject by
default) and corrects each contrast with GRF (t maps two- or one-tailed as the spec
says, F maps one-tailed) and, for t contrasts, permutation with exchangeability blocks
(:func:`painmarkers.inference.permutation_cluster_correct`, the subjects as blocks,
with or without subject effects in the model: repeated maps of a subject are never
exchanged with another subject's).
``voxelwise_lmm`` fits :func:`painmarkers.inference.voxelwise_lmm` and corrects the
z maps of the chosen Type III terms (``VoxelwiseLMMResult.z_img``: each voxel's F through
its own p, as its df vary over voxels) with GRF, using the smoothness of the whitened
residuals. Both functions are imported when the
analysis runs, so a painmarkers without them still reads and checks such specs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from painmarkers import schema
from painmarkers.exceptions import DesignError, SpecError
from painmarkers.model import Cohort
from painmarkers.study._analyses import _CLUSTER_SHOWN, _common_mask, _record, _table
from painmarkers.study._context import RunContext, slug
from painmarkers.study._trial_analyses import formula_columns, trial_frame
from painmarkers.study._trial_spec import default_formula
from painmarkers.study.spec import AnalysisSpec

__all__ = ["VOXEL_TRIAL_HANDLERS"]


def _import(name: str):
    """``painmarkers.inference.<name>``, or a SpecError naming what is missing."""
    import painmarkers
    import painmarkers.inference as inference

    func = getattr(inference, name, None)
    if func is None:
        raise SpecError(f"painmarkers.inference.{name} is not available in this version of "
                        f"painmarkers ({painmarkers.__version__}); the analysis type needs "
                        "it.")
    return func


def _images(cohort: Cohort, frame: pd.DataFrame, feature: str, between: str, within: str
            ) -> list:
    """The ``feature`` map of every row of ``frame`` (subject, visit), in its order."""
    found = {}
    for sub, ses in cohort.iter_sessions():
        if feature in ses.images:
            found[(str(sub.id), str(ses.label))] = ses.images[feature]
    imgs, lacking = [], []
    for sid, visit in zip(frame[schema.SUBJECT].astype(str), frame[within].astype(str)):
        img = found.get((sid, visit))
        if img is None:
            lacking.append(f"sub-{sid} ses-{visit}")
        imgs.append(img)
    if lacking:
        raise DesignError(f"{len(lacking)} session(s) have no {feature!r} map: "
                          f"{', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}; "
                          "add an extractor producing it.")
    return imgs


def _design_table(cohort: Cohort, p: dict[str, Any], formula: str, where: str
                  ) -> tuple[pd.DataFrame, list, list[str], list[str], list[str]]:
    extra = formula_columns(formula, p)
    frame, levels, sessions, notes = trial_frame(cohort, p, extra)
    covs = list(dict.fromkeys([*p["covariates"], *extra]))
    bad = frame[covs].isna().any(axis=1) if covs else pd.Series(False, index=frame.index)
    if bad.any():
        who = [f"sub-{s} ses-{v}" for s, v in zip(frame.loc[bad, schema.SUBJECT],
                                                  frame.loc[bad, p["within"]])]
        raise DesignError(f"{where}: model variables {covs} are missing for {who[:5]}; "
                          "the voxelwise model never drops images silently.")
    return frame, _images(cohort, frame, p["feature"], p["between"], p["within"]), levels, \
        sessions, notes


def _correct(ctx: RunContext, spec: AnalysisSpec, name: str, method: str, cres, what: str,
             title: str, n_imgs: int, record: dict) -> None:
    """Save a cluster correction, its table and its figure; count its clusters."""
    from painmarkers.reporting.plots import plot_stat_map

    p = spec.params
    out = ctx.out_dir / "maps" / spec.name / f"{slug(name)}_{method}"
    cres.save(out)
    ctx.maps[f"{spec.name}/{name}/{method}"] = out
    table = cres.to_frame()
    ctx.report.text(f"{what}, {title}: {cres.summary()}", preformatted=True)
    sig = table[table["significant"].astype(bool)] if "significant" in table else table
    key = f"{spec.name}_{slug(name)}_{method}_clusters"
    _table(ctx, key, table, f"Significant clusters of {what}, {title}: {len(sig)} of "
           f"{len(table)} supra-threshold clusters (all in tables/{key}.tsv); peak MNI "
           "coordinates in mm", _CLUSTER_SHOWN, shown=sig)
    fig = plot_stat_map(cres.thresholded_img, title=f"{what}: {title}", threshold=1e-6)
    ctx.save_figure(f"{spec.name}_{slug(name)}_{method}", fig,
                    caption=f"{what} (n = {n_imgs} maps): statistic values of the significant "
                            f"clusters, {title}, voxel p < {p['voxel_p']:g}, cluster p < "
                            f"{p['cluster_p']:g}; axial slices, MNI z in mm")
    record.setdefault("n_significant_clusters", {})[f"{name}/{method}"] = len(sig)


def run_voxelwise_glm(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    """Voxelwise GLM of a trial: F and t contrasts, subject effects, GRF / permutation."""
    voxelwise_glm = _import("voxelwise_glm")
    from painmarkers.inference import grf_cluster_correct, permutation_cluster_correct

    p = spec.params
    where = f"analysis {spec.name!r}"
    between, within, feature = p["between"], p["within"], p["feature"]
    formula = p["formula"] or default_formula(p)
    frame, imgs, levels, sessions, notes = _design_table(cohort, p, formula, where)
    contrasts = p["contrasts"] or {f"{between} x {within}": f"{between}:{within}"}
    subject = schema.SUBJECT if p["subject_effects"] else None
    mask = _common_mask(cohort)
    res = voxelwise_glm(imgs, formula, contrasts, data=frame, subject=subject,
                        mask_img=mask, two_tailed=bool(p["two_tailed"]), n_jobs=ctx.n_jobs)
    out = ctx.out_dir / "maps" / spec.name
    res.save(out / "glm")
    ctx.maps[f"{spec.name}/glm"] = out / "glm"
    n_sub = frame[schema.SUBJECT].nunique()
    ctx.report.section(f"Voxelwise GLM of {feature}: {formula}")
    ctx.report.text(
        f"{len(imgs)} maps of {n_sub} subjects ({between}: {', '.join(levels)}; {within}: "
        f"{', '.join(sessions)}); " + ("one effect per subject (repeated measures, as SPM's "
                                       "flexible factorial); " if subject else "")
        + f"reference levels {levels[0]!r} and {sessions[0]!r} (treatment coding). "
        + "Contrasts: " + "; ".join(f"{k} = {v}" for k, v in contrasts.items()) + ".")
    for note in notes:
        ctx.report.text(note, note=True)
    ctx.report.text(res.summary(), preformatted=True)
    record = _record(spec, n=len(imgs), n_subjects=int(n_sub), formula=formula,
                     contrasts=dict(contrasts), levels=levels, sessions=sessions)
    for name in res.contrast_names:
        maps = res[name]
        what = f"{feature}, {name} ({maps.stat})"
        for method in p["correction"]:
            if method == "grf":
                two = bool(p["two_tailed"]) if maps.stat == "t" else False
                cres = grf_cluster_correct(maps, voxel_p=p["voxel_p"],
                                           cluster_p=p["cluster_p"], two_tailed=two,
                                           mask_img=mask, method=p["grf_method"])
                title = f"GRF ({p['grf_method'].upper()}, " \
                        f"{'two' if two else 'one'}-tailed)"
            elif maps.stat != "t":
                ctx.report.text(f"{name}: permutation tests one t contrast at a time; this "
                                "F contrast is corrected by GRF only.", note=True)
                continue
            else:
                cres = permutation_cluster_correct(
                    imgs, design=formula, contrast=contrasts[name], data=frame,
                    subject=subject, mask_img=mask, voxel_p=p["voxel_p"],
                    cluster_p=p["cluster_p"], two_tailed=bool(p["two_tailed"]),
                    exchangeability_blocks=frame[schema.SUBJECT].astype(str).tolist(),
                    block_permutation=p["block_permutation"],
                    n_permutations=p["n_permutations"], random_state=ctx.random_state,
                    n_jobs=ctx.n_jobs)
                title = (f"permutation ({p['n_permutations']} rearrangements, "
                         f"{p['block_permutation']} subjects)")
            _correct(ctx, spec, name, method, cres, what, title, len(imgs), record)
    return record


def run_voxelwise_lmm(ctx: RunContext, cohort: Cohort, spec: AnalysisSpec) -> dict[str, Any]:
    """Voxelwise random-intercept LMM of a trial: Type III F per term, GRF on its z map."""
    voxelwise_lmm = _import("voxelwise_lmm")
    from painmarkers.inference import grf_cluster_correct

    p = spec.params
    where = f"analysis {spec.name!r}"
    between, within, feature = p["between"], p["within"], p["feature"]
    formula = p["formula"] or default_formula(p)
    frame, imgs, levels, sessions, notes = _design_table(cohort, p, formula, where)
    mask = _common_mask(cohort)
    res = voxelwise_lmm(imgs, frame, formula, subject=schema.SUBJECT, between=[between],
                        ddf=p["ddf"], mask_img=mask, n_jobs=ctx.n_jobs)
    out = ctx.out_dir / "maps" / spec.name
    res.save(out / "lmm")
    ctx.maps[f"{spec.name}/lmm"] = out / "lmm"
    wanted = p["terms"] or [f"{between}:{within}"]
    unknown = [t for t in wanted if t not in res.terms]
    if unknown:
        raise SpecError(f"{where}: 'terms' {unknown} are not terms of the model "
                        f"{formula!r} ({list(res.terms)}).")
    n_sub = frame[schema.SUBJECT].nunique()
    ctx.report.section(f"Voxelwise LMM of {feature}: {formula} + (1 | subject)")
    ctx.report.text(f"{len(imgs)} maps of {n_sub} subjects ({between}: {', '.join(levels)}; "
                    f"{within}: {', '.join(sessions)}); every available visit used; "
                    f"{p['ddf']} df per voxel; Type III F of each term converted to z "
                    "through its own p (its df vary over voxels) for GRF cluster inference, "
                    "with the smoothness of the whitened residuals. Voxels: "
                    f"{res.n_voxels}; boundary (singular) fits {res.n_singular}, not "
                    f"converged {res.n_not_converged}, zero variance {res.n_zero_variance}, "
                    f"failed {res.n_failed}.")
    for note in notes:
        ctx.report.text(note, note=True)
    ctx.report.text(res.summary(), preformatted=True)
    record = _record(spec, n=len(imgs), n_subjects=int(n_sub), formula=formula,
                     terms=list(wanted), levels=levels, sessions=sessions)
    for term in wanted:
        cres = grf_cluster_correct(res.z_img(term), voxel_p=p["voxel_p"],
                                   cluster_p=p["cluster_p"], two_tailed=False, stat="z",
                                   mask_img=mask, smoothness=res.smoothness,
                                   method=p["grf_method"])
        _correct(ctx, spec, term, "grf", cres, f"{feature}, {term} (F as z)",
                 f"GRF ({p['grf_method'].upper()}, one-tailed)", len(imgs), record)
    return record


VOXEL_TRIAL_HANDLERS = {
    "voxelwise_glm": run_voxelwise_glm,
    "voxelwise_lmm": run_voxelwise_lmm,
}
