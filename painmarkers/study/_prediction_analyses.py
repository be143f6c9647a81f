"""Study handlers of the ``prognosis`` and ``signature`` analyses.

``prognosis``: baseline imaging features predicting a treatment outcome (PPR, PDC,
change or responder status) with :func:`~painmarkers.prediction.evaluate_prognosis`
(continuous outcome) or :func:`~painmarkers.prediction.evaluate_biomarker` (responder
status), optionally the incremental value over clinical scores; the model is saved as
a model card in the run folder (``models/<name>``). ``signature``: a user-given weight
map applied to a map kind with :func:`~painmarkers.prediction.pattern_expression`, and
scored with :func:`~painmarkers.prediction.evaluate_signature` when a target is given.

The keys and their checks are in :mod:`painmarkers.study._prediction_specs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers.exceptions import DesignError
from painmarkers.study._prediction_specs import RESPONDERS

__all__: list[str] = []


def _feature_columns(features) -> list[str]:
    return [schema.measure_column(f[0], f[1]) if isinstance(f, list | tuple) else f
            for f in features]


def plot_binned_calibration(observed, predicted, n_bins: int = 5, *, xlabel="predicted",
                            ylabel="observed", title="Calibration"):
    """Mean observed against mean predicted in quantile bins of the predictions, with
    the diagonal (perfect calibration) and the least-squares calibration line."""
    import matplotlib.pyplot as plt

    obs = np.asarray(observed, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    fig, ax = plt.subplots(figsize=(4, 4))
    n_bins = max(2, min(n_bins, obs.size // 3))
    edges = np.quantile(pred, np.linspace(0, 1, n_bins + 1))
    idx = np.clip(np.searchsorted(edges[1:-1], pred, side="right"), 0, n_bins - 1)
    mp = [pred[idx == b].mean() for b in range(n_bins) if (idx == b).any()]
    mo = [obs[idx == b].mean() for b in range(n_bins) if (idx == b).any()]
    se = [obs[idx == b].std(ddof=1) / np.sqrt((idx == b).sum()) if (idx == b).sum() > 1
          else 0.0 for b in range(n_bins) if (idx == b).any()]
    lo, hi = float(min(pred.min(), obs.min())), float(max(pred.max(), obs.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.errorbar(mp, mo, yerr=se, marker="o", lw=1.5, capsize=3,
                label=f"{len(mp)} quantile bins (mean ± SE)")
    if np.ptp(pred) > 0:
        slope, intercept = np.polyfit(pred, obs, 1)
        xs = np.linspace(pred.min(), pred.max(), 2)
        ax.plot(xs, intercept + slope * xs, lw=1, color="#c1121f",
                label=f"slope {slope:.2f}, intercept {intercept:.2f}")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def regression_figures(ctx, name: str, ev, target: str, what: str, n: str) -> None:
    """The prediction scatter and the binned calibration of out-of-fold predictions of a
    continuous target (``<name>_scatter``, ``<name>_calibration``)."""
    ax = ev.plot_predictions()
    ax.set(xlabel=f"predicted {target} (out of fold)", ylabel=f"observed {target}")
    ctx.save_figure(f"{name}_scatter", ax,
                    caption=f"Observed against out-of-fold predicted {what} ({n}, mean of the "
                            "CV repeats): dashed = perfect prediction, solid = calibration "
                            "line (least squares of observed on predicted)")
    pr = ev.predictions
    ctx.save_figure(f"{name}_calibration",
                    plot_binned_calibration(pr["observed"], pr["predicted"],
                                            xlabel=f"mean predicted {target}",
                                            ylabel=f"mean observed {target}"),
                    caption=f"Calibration of the out-of-fold predictions of {what}: mean "
                            "observed against mean predicted in quantile bins of the "
                            "predictions (± SE); dashed = perfect calibration")


def _weights_table(card) -> pd.DataFrame | None:
    w = card.weights
    if w is None or card.is_voxel:
        return None
    from painmarkers.study._analyses import _label

    return pd.DataFrame({"feature": [_label(f) for f in w.index], "weight": w.to_numpy()})


def run_prognosis(ctx, cohort, spec) -> dict[str, Any]:
    """Baseline features -> outcome of ``instrument``; the model card in ``models/``."""
    from painmarkers._words import plain
    from painmarkers.prediction import (
        evaluate_biomarker,
        evaluate_prognosis,
        incremental_value,
        join_outcomes,
        save_model_card,
    )
    from painmarkers.stats import outcomes
    from painmarkers.study._analyses import _label, _record, _select, _table

    p = spec.params
    data = _select(cohort, group=p["levels"])
    out = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
    table = join_outcomes(data, out)
    features = _feature_columns(p["features"])
    sessions = p["sessions"] or p["pre"]
    target = p["outcome"]
    classes = target in RESPONDERS
    common = dict(sessions=sessions, n_splits=p["n_splits"], n_repeats=p["n_repeats"],
                  n_permutations=p["n_permutations"], random_state=ctx.random_state,
                  n_jobs=ctx.n_jobs, progress=ctx.progress)
    confounds = p["confounds"] or None
    if classes:
        ev = evaluate_biomarker(table, features, target, positive=True, confounds=confounds,
                                nan_policy="omit", **common)
    else:
        ev = evaluate_prognosis(table, features, target, confounds=confounds, **common)
    folder = ctx.out_dir / "prediction" / spec.name
    ev.save(folder)
    inst = p["instrument"]
    what = {"percent_change": f"percent change of {inst} (PPR/PDC)",
            "change": f"change of {inst} ({p['post']} - {p['pre']})",
            "responder_moderate": f"moderate response on {inst} (>= 30 %)",
            "responder_substantial": f"substantial response on {inst} (>= 50 %)"}[target]
    shown = ", ".join(map(str, (_label(f) for f in features)))
    ctx.report.section(f"Prognosis: {what} from {sessions} {shown}")
    model = ("standardised L2 logistic regression" if classes else
             "standardised ridge regression (α = 1)")
    ctx.report.text(
        f"Methods: {shown} at session {sessions} predicted the {what} with a {model}, "
        f"evaluated in {p['n_splits']}-fold cross-validation repeated {p['n_repeats']} times "
        "with every preprocessing step (confound regression, scaling) fitted in the training "
        "folds; " + ("AUC with a DeLong CI and threshold metrics" if classes else
                     "out-of-fold R² against the training-fold mean (Poldrack et al. 2020), "
                     "MAE, RMSE, Pearson r and the calibration slope and intercept "
                     "(Steyerberg 2019), with subject-bootstrap CIs")
        + f"; permutation p from {p['n_permutations']} refits on permuted outcomes.")
    ctx.report.text(ev.summary(), preformatted=True)
    _table(ctx, spec.name, ev.to_frame(),
           f"Cross-validated performance with {100 * ev.parameters['confidence']:g} % CIs "
           f"({ev.parameters['cv']}); permutation p from {p['n_permutations']} refits")
    n = f"n = {ev.n}"
    if classes:
        ctx.save_figure(f"{spec.name}_roc", ev.plot_roc(),
                        caption=f"Out-of-fold ROC of {shown} for {what} ({n})")
        ctx.save_figure(f"{spec.name}_calibration", ev.plot_calibration(),
                        caption=f"Calibration of the out-of-fold probabilities of {what} "
                                f"({n}): observed fraction of responders per bin of "
                                "predicted probability; the diagonal is perfect calibration")
    else:
        regression_figures(ctx, spec.name, ev, target, what, n)
    card_dir = ctx.out_dir / "models" / spec.name
    card = save_model_card(ev, card_dir, name=spec.name, intended_use=p["intended_use"] or (
        f"Research use: predicting the {what} of {plain(p['levels'] or 'all')} "
        f"participants from "
        f"{shown} at session {sessions}, in data acquired and processed like the training "
        "cohort; not validated for clinical decisions."))
    weights = _weights_table(card)
    text = (f"The final model (refitted on all {ev.n} rows) is saved as a model card in "
            f"models/{spec.name}/ (model_card.json with the training cohort, the "
            "cross-validated performance and SHA-256 of its files); apply it to new data "
            "with painmarkers.prediction.apply_model.")
    ctx.report.text(text, note=True)
    if weights is not None:
        ctx.save_table(f"{spec.name}_weights", weights)
        ctx.report.table(weights, caption="Effective weights of the final model on the raw "
                                          "features (decision = Σ weight × feature + "
                                          f"{card.intercept:.4g})", collapsed=True)
    record = _record(spec, n=ev.n, features=features, outcome=target,
                     model_card=str(card_dir), n_excluded=len(ev.excluded),
                     excluded=[f"sub-{r.subject_id} ({r.reason})"
                               for r in ev.excluded.itertuples()])
    if p["clinical"]:
        from painmarkers.study._analyses import expand_variables

        clinical = expand_variables(data, p["clinical"], f"analysis {spec.name!r}")
        inc = incremental_value(table, clinical, features, target,
                                positive=True if classes else None,
                                nan_policy="omit" if classes else "raise", **common)
        inc.save(folder / "incremental")
        ctx.report.text(inc.summary(), preformatted=True)
        _table(ctx, f"{spec.name}_incremental", inc.to_frame(),
               f"Incremental value of {shown} over {', '.join(clinical)} (same folds)")
        record["incremental"] = {"clinical": clinical, "delta": inc.delta,
                                 "permutation_p": inc.permutation_p}
    return record


# -- signature -------------------------------------------------------------------------------
def _signature_maps(cohort, feature: str, sessions, levels):
    """(images, keys, excluded) of one map kind for the selected groups and sessions."""
    imgs, keys, excluded = [], [], []
    groups = None if levels is None else [levels] if isinstance(levels, str) else list(levels)
    for sub, ses in cohort.iter_sessions():
        if groups is not None and sub.group not in groups:
            continue
        if sessions is not None:
            if isinstance(sessions, Mapping):
                wanted = sessions.get(sub.group)
                wanted = [] if wanted is None else [wanted]
            else:
                wanted = [sessions] if isinstance(sessions, str) else list(sessions)
            if ses.label not in wanted:
                continue
        if feature not in ses.images:
            excluded.append(f"sub-{sub.id} ses-{ses.label} (no {feature!r} map)")
            continue
        imgs.append(ses.images[feature])
        keys.append((str(sub.id), ses.label))
    return imgs, keys, excluded


def run_signature(ctx, cohort, spec) -> dict[str, Any]:
    """A weight map applied to every map of a kind; AUC / forced choice with a target."""
    from painmarkers.prediction import evaluate_signature, pattern_expression
    from painmarkers.reporting.plots import plot_group_values, plot_stat_map
    from painmarkers.study._analyses import _record, _table

    p = spec.params
    imgs, keys, excluded = _signature_maps(cohort, p["feature"], p["sessions"], p["levels"])
    if not imgs:
        raise DesignError(f"analysis {spec.name!r}: no session has a {p['feature']!r} map"
                          + (f" ({len(excluded)} selected sessions lack it)" if excluded
                             else "") + ".")
    names = [f"sub-{s} ses-{ses}" for s, ses in keys]
    res = pattern_expression(imgs, p["weights"], metric=p["metric"], mask_img=p["mask"],
                             interpolation=p["interpolation"], nan_policy=p["nan_policy"],
                             zero_as_missing=p["zero_as_missing"],
                             min_coverage=p["min_coverage"], names=names)
    res.save(ctx.out_dir / "signatures" / spec.name)
    table = res.to_frame()
    table.insert(0, schema.SESSION, [k[1] for k in keys])
    table.insert(0, schema.SUBJECT, [k[0] for k in keys])
    ctx.report.section(f"Signature response ({p['metric']}) of {p['feature']} maps")
    how = ("the dot product Σ w·x, the signature response of Wager et al. 2013"
           if p["metric"] == "dot" else f"the {p['metric']} similarity")
    ctx.report.text(
        f"Methods: the weight map {p['weights']} was applied to each {p['feature']} map "
        f"({how}) over its non-zero voxels, maps resampled to the weights' grid "
        f"({p['interpolation']} interpolation); the coverage of the signature is reported "
        "per map.")
    ctx.report.text(res.summary(), preformatted=True)
    if excluded:
        ctx.report.text(f"Not scored ({len(excluded)}): {', '.join(excluded)}.", note=True)
    record = _record(spec, n=len(imgs), n_excluded=len(excluded), excluded=excluded,
                     overlap=res.overlap)
    used = res.overlap["n_signature_voxels"]
    fig = plot_stat_map(p["weights"], title=f"signature weights ({used} voxels used)")
    ctx.save_figure(f"{spec.name}_weights", fig,
                    caption=f"The signature's weights ({p['weights']}): non-zero voxels; "
                            f"the responses use the {res.overlap['n_signature_voxels']} "
                            "voxels inside the mask; axial slices, MNI z in mm")
    target = p["target"]
    if target is not None:
        if target == schema.SESSION:
            labels = [k[1] for k in keys]
        else:
            column = cohort.wide().set_index([schema.SUBJECT, schema.SESSION])[target]
            labels = [column.get(k, np.nan) for k in keys]
        has = np.array([not pd.isna(v) for v in labels])
        table["label"] = labels
        lost = [names[i] for i in np.flatnonzero(~has)]
        if lost:
            ctx.report.text(f"No {target!r} value, not in the AUC ({len(lost)}): "
                            f"{', '.join(lost)}.", note=True)
        lab = np.asarray(labels, dtype=object)[has]
        positive = p["positive"]
        if isinstance(positive, str) and not any(v == positive for v in lab):
            lab = lab.astype(str)  # labels read as numbers or booleans, positive as text
        metrics = evaluate_signature(res.responses[has], lab, positive=positive,
                                     subjects=[keys[i][0] for i in np.flatnonzero(has)])
        _table(ctx, f"{spec.name}_performance", metrics,
               f"Signature response as a classifier of {target} = {positive!r}: AUC "
               "(clustered DeLong when subjects have several maps) and, for one map of each "
               "condition per subject, forced-choice accuracy with its binomial test")
        groups: dict[str, list[float]] = {}
        for v, r in zip(lab, res.responses[has]):
            groups.setdefault(str(v), []).append(float(r))
        ctx.save_figure(f"{spec.name}_responses",
                        plot_group_values(groups, ylabel=f"{p['metric']} response",
                                          title=f"signature response by {target}"),
                        caption=f"Signature response of each {p['feature']} map by {target} "
                                "(bars at the means)")
        record["metrics"] = metrics.set_index("metric")["estimate"].to_dict()
    _table(ctx, spec.name, table, f"Signature response of each map ({p['metric']}), with the "
           "signature voxels each covers", collapsed=True)
    return record


#: Registered in :data:`painmarkers.study._analyses.HANDLERS`.
PREDICTION_HANDLERS = {"prognosis": run_prognosis, "signature": run_signature}
