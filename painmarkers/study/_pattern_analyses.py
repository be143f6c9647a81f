"""Study handlers of the ``pattern`` and ``external_validation`` analyses.

``pattern``: a whole-brain voxel-pattern model of one map kind
(:func:`~painmarkers.prediction.evaluate_pattern`) predicting a class (``target`` +
``positive``, or a responder outcome) or a continuous value (a ``target`` column, or
the outcome of an ``instrument``); the report shows the cross-validated metrics, the
out-of-fold predictions, the weight map, the bootstrap z map of the weights at FDR
q < .05 and the Haufe pattern; the maps go to ``maps/<name>/`` and the model, as a
model card, to ``models/<name>/``. ``external_validation``: a saved model card
(:func:`~painmarkers.prediction.apply_model`) applied to this study's cohort, with the
metrics and calibration in the new data and the shift of its inputs from training.

The keys and their checks are in :mod:`painmarkers.study._pattern_specs`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._words import plain
from painmarkers.exceptions import DesignError, InferenceWarning
from painmarkers.study._pattern_specs import (
    card_sessions,
    default_model,
    is_class_target,
)

__all__: list[str] = []

#: How each model of a pattern analysis is named in captions and the methods text.
MODEL_NAMES = {"l2_logistic": "L2-penalised logistic regression (C = 1)",
               "linear_svm": "linear support-vector machine (C = 1)",
               "ridge": "ridge regression (α = 1)",
               "ridge_class": "ridge classifier (α = 1)",
               "lasso_pcr": "LASSO-PCR (PCA, then the Lasso with its penalty tuned by an "
                            "inner 5-fold CV)"}


def model_name(p: Mapping[str, Any], article: bool = False) -> str:
    """The model of a ``pattern`` analysis in words (with ``a``/``an`` when asked)."""
    model = default_model(p)
    if model == "ridge" and is_class_target(p):
        model = "ridge_class"
    name = MODEL_NAMES[model]
    if not article:
        return name
    return ("an " if model == "l2_logistic" else "a ") + name  # "an L2-...", "a LASSO-..."


def cv_words(p: Mapping[str, Any]) -> str:
    """The default cross-validation of evaluate_pattern in words."""
    k, r = p["n_splits"], p["n_repeats"]
    how = "stratified by class and grouped by subject" if is_class_target(p) else \
        "grouped by subject"
    return f"{k}-fold cross-validation {how}" + ("" if r == 1 else f", repeated {r} times")


def _levels(p: Mapping[str, Any]) -> list[str] | None:
    levels = p.get("levels")
    return None if levels is None else [levels] if isinstance(levels, str) else list(levels)


def cohort_maps(cohort, feature: str, sessions, levels):
    """(images, keys, excluded) of one map kind: ``keys`` are (subject, session, group)
    of each image, ``excluded`` the selected sessions without the map."""
    imgs, keys, excluded = [], [], []
    for sub, ses in cohort.iter_sessions():
        if levels is not None and sub.group not in levels:
            continue
        if sessions is not None:
            if isinstance(sessions, Mapping):
                wanted = [sessions[sub.group]] if sub.group in sessions else []
            else:
                wanted = [sessions] if isinstance(sessions, str) else list(sessions)
            if ses.label not in wanted:
                continue
        if feature not in ses.images:
            excluded.append({"subject_id": str(sub.id), "session": ses.label,
                             "reason": f"no {feature!r} map"})
            continue
        imgs.append(ses.images[feature])
        keys.append((str(sub.id), ses.label, sub.group))
    return imgs, keys, excluded


def _values(cohort, keys, p: Mapping[str, Any], target: str | None):
    """The target value of each (subject, session) key: a column of ``Cohort.wide()``, or
    the outcome of ``instrument`` (one per subject)."""
    from painmarkers.stats import outcomes

    if p.get("instrument") is not None:
        levels = _levels(p)
        data = cohort.select(levels=levels) if levels else cohort
        table = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
        column = table.set_index(schema.SUBJECT)[p["outcome"] or "percent_change"]
        return [column.get(k[0], np.nan) for k in keys]
    wide = cohort.wide().set_index([schema.SUBJECT, schema.SESSION])
    if target not in wide.columns:
        raise DesignError(f"{target!r} is not a column of the cohort table (columns: "
                          f"{sorted(c for c in wide.columns if '__' not in c)}).")
    column = wide[target]
    return [column.get((k[0], k[1]), np.nan) for k in keys]


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _counts(values) -> dict[str, int]:
    return {str(k): int(v) for k, v in pd.Series(values).astype(str).value_counts()
            .sort_index().items()}


def _training(cohort, keys, values, positive, task: str, target: str, excluded
              ) -> dict[str, Any]:
    """The training-cohort description written into the model card."""
    wide = cohort.wide()
    subjects = list(dict.fromkeys(k[0] for k in keys))
    per_subject = wide.drop_duplicates(schema.SUBJECT).set_index(schema.SUBJECT)
    per_subject = per_subject.loc[[s for s in subjects if s in per_subject.index]]
    out: dict[str, Any] = {"n_rows": len(keys), "n_subjects": len(subjects),
                           "n_excluded": len(excluded),
                           "sessions": _counts([k[1] for k in keys]),
                           "groups": _counts([g for g in per_subject.get(schema.GROUP, [])])}
    if "age" in per_subject.columns:
        age = pd.to_numeric(per_subject["age"], errors="coerce").dropna()
        if len(age):
            out["age"] = {"n": int(age.size), "mean": float(age.mean()),
                          "sd": float(age.std(ddof=1)) if age.size > 1 else 0.0,
                          "min": float(age.min()), "max": float(age.max())}
    if "sex" in per_subject.columns:
        out["sex"] = _counts(per_subject["sex"])
    if task == "classification":
        y = [v == positive for v in values]
        out["target"] = {"name": target, "positive": positive,
                         "class_counts": _counts(values), "n_positive": int(sum(y)),
                         "n_negative": int(len(y) - sum(y))}
    else:
        v = np.asarray(values, dtype=float)
        out["target"] = {"name": target, "n": int(v.size), "mean": float(v.mean()),
                         "sd": float(v.std(ddof=1)), "min": float(v.min()),
                         "max": float(v.max())}
    return out


def _what(p: Mapping[str, Any]) -> tuple[str, str]:
    """(what is predicted, in words; the name of the target)."""
    if p.get("instrument") is not None:
        inst, outcome = p["instrument"], p["outcome"] or "percent_change"
        what = {"percent_change": f"the percent change of {inst} (PPR/PDC)",
                "change": f"the change of {inst} ({p['post']} - {p['pre']})",
                "responder_moderate": f"moderate response on {inst} (>= 30 %)",
                "responder_substantial": f"substantial response on {inst} (>= 50 %)"}[outcome]
        return what, outcome
    if p.get("positive") is not None:
        return f"{p['target']} = {p['positive']}", p["target"]
    return str(p["target"]), p["target"]


def _excluded_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[schema.SUBJECT, schema.SESSION, "reason"])


# -- pattern ---------------------------------------------------------------------------------
def run_pattern(ctx, cohort, spec) -> dict[str, Any]:
    """A voxel-pattern model of one map kind; its maps, figures and model card."""
    from painmarkers.prediction import evaluate_pattern, save_model_card
    from painmarkers.reporting.labels import feature_label
    from painmarkers.study._analyses import _common_mask, _record, _table

    p = spec.params
    feature, levels = p["feature"], _levels(p)
    classes = is_class_target(p)
    task = "classification" if classes else "regression"
    sessions = p["sessions"] or (p["pre"] if p["instrument"] is not None else None)
    imgs, keys, excluded = cohort_maps(cohort, feature, sessions, levels)
    what, target = _what(p)
    values = _values(cohort, keys, p, p["target"])
    positive = True if (classes and p["instrument"] is not None) else p["positive"]
    confounds = None
    if p["confounds"]:
        wide = cohort.wide().set_index([schema.SUBJECT, schema.SESSION])
        confounds = wide.loc[[(k[0], k[1]) for k in keys], list(p["confounds"])]
        confounds = confounds.reset_index(drop=True)
    keep = []
    for i, (k, v) in enumerate(zip(keys, values)):
        gone = ([target] if _missing(v) else []) + (
            [c for c in p["confounds"] if pd.isna(confounds.iloc[i][c])]
            if confounds is not None else [])
        if gone:
            excluded.append({"subject_id": k[0], "session": k[1],
                             "reason": f"missing {', '.join(map(str, gone))}"})
        else:
            keep.append(i)
    if not keep:
        raise DesignError(f"analysis {spec.name!r}: no selected session has a {feature!r} map "
                          f"with a value of {target!r} ({len(excluded)} excluded).")
    imgs, keys = [imgs[i] for i in keep], [keys[i] for i in keep]
    values = [values[i] for i in keep]
    if confounds is not None:
        confounds = confounds.iloc[keep].reset_index(drop=True)
    mask = p["mask"] if p["mask"] is not None else _common_mask(cohort)
    model = default_model(p)
    ctx.log(f"  {spec.name}: voxel-pattern model ({model}) of {len(imgs)} {feature} maps, "
            f"{p['n_splits']}-fold CV x {p['n_repeats']}, {p['n_permutations']} permutations, "
            f"{p['n_bootstrap_weights']} bootstrap refits")
    res = evaluate_pattern(
        imgs, pd.Series(values, name=target, dtype=object), positive=positive,
        subjects=[k[0] for k in keys], mask_img=mask, model=model, confounds=confounds,
        n_splits=p["n_splits"], n_repeats=p["n_repeats"], n_permutations=p["n_permutations"],
        n_bootstrap_weights=p["n_bootstrap_weights"], random_state=ctx.random_state,
        n_jobs=ctx.n_jobs, progress=ctx.progress)
    ev = res.evaluation
    folder = ctx.out_dir / "maps" / spec.name
    res.save(folder)
    ctx.maps[f"{spec.name}/pattern"] = folder
    label = feature_label(feature)
    cv = cv_words(p)
    n = f"n = {ev.n} maps of {ev.n_subjects} subjects"
    ctx.report.section(f"Whole-brain pattern: {label} maps predicting {what}")
    mask_text = ("the mask " + Path(p["mask"]).name if p["mask"] is not None else
                 "the intersection of the sessions' brain masks" if mask is not None else
                 "the voxels with data in every map")
    ctx.report.text(
        f"Methods: {model_name(p, article=True)} of the {label} maps ({res.n_voxels} voxels of "
        f"{mask_text}) predicted {what}"
        + (f" at session {plain(sessions)}" if sessions is not None else "")
        + (f" in {', '.join(levels)}" if levels else "")
        + f", evaluated in {cv} with every step fitted in the training folds"
        + (f" (confounds {', '.join(p['confounds'])} regressed out of every voxel in the "
           "folds)" if p["confounds"] else "")
        + "; " + ("AUC with a DeLong CI and threshold metrics" if classes else
                  "out-of-fold R² against the training-fold mean (Poldrack et al. 2020), MAE, "
                  "RMSE, Pearson r and the calibration slope and intercept, with "
                  "subject-bootstrap CIs")
        + f"; permutation p from {p['n_permutations']} refits on permuted targets. The model "
        "refitted on all maps gives the weight map; "
        + (f"{p['n_bootstrap_weights']} subject bootstrap refits give each weight's z "
           "(mean / SD), p and Benjamini-Hochberg q; " if p["n_bootstrap_weights"] else
           "no bootstrap of the weights (n_bootstrap_weights = 0); ")
        + "the Haufe et al. (2014) pattern shows how each voxel covaries with the "
        "prediction.")
    ctx.report.text(res.summary(), preformatted=True, summary="Evaluation summary")
    _table(ctx, spec.name, ev.to_frame(),
           f"Cross-validated performance of the {label} pattern for {what} ({n}; {cv}) with "
           f"{100 * ev.parameters['confidence']:g} % CIs; permutation p from "
           f"{p['n_permutations']} refits of the whole pipeline")
    all_excluded = excluded + [{"subject_id": str(r.subject_id), "session": "",
                                "reason": str(r.reason)} for r in ev.excluded.itertuples()]
    if all_excluded:
        ctx.report.text(f"Excluded ({len(all_excluded)}): " + "; ".join(
            f"sub-{e['subject_id']}" + (f" ses-{e['session']}" if e["session"] else "")
            + f" ({e['reason']})" for e in all_excluded) + ".", note=True)
    _prediction_figures(ctx, spec.name, ev, classes, label, what, n, cv, target)
    n_q = _brain_figures(ctx, spec.name, res, p, label, what, n, cv, mask)
    record = _record(spec, n=ev.n, n_subjects=ev.n_subjects, task=task,
                     model=model, n_voxels=res.n_voxels, n_voxels_q05=n_q,
                     permutation_p=float(ev.permutation_p), maps=str(folder),
                     n_excluded=len(all_excluded),
                     excluded=[f"sub-{e['subject_id']} ({e['reason']})" for e in all_excluded],
                     metrics=ev.to_frame().set_index("metric")["estimate"].to_dict())
    if p["save_card"]:
        card_dir = ctx.out_dir / "models" / spec.name
        intended = p["intended_use"] or (
            f"Research use: predicting {what} from whole-brain {label} maps"
            + (f" of {', '.join(levels)} participants" if levels else "")
            + (f" at session {plain(sessions)}" if sessions is not None else "")
            + ", in data acquired and processed like the training cohort; not validated "
              "for clinical decisions.")
        card = save_model_card(res, card_dir, name=spec.name, intended_use=intended,
                               target=target, image_kind=feature, training_data=imgs,
                               training=_training(cohort, keys, values, positive, task,
                                                  target, all_excluded))
        ctx.report.text(
            f"Model card: models/{spec.name}/ (model_card.json, pipeline.npz, "
            f"weights.nii.gz and mask.nii.gz; the {card.card['input']['n_voxels']}-voxel mask "
            f"on a {tuple(card.card['input']['grid_shape'])} grid, the training cohort, the "
            "cross-validated performance and SHA-256 of every file). Apply it to new maps with "
            "painmarkers.prediction.apply_model, or with an external_validation analysis.",
            note=True)
        record["model_card"] = str(card_dir)
    return record


def _prediction_figures(ctx, name, ev, classes, label, what, n, cv, target) -> None:
    """ROC and calibration (class), or the prediction scatter and binned calibration."""
    from painmarkers.study._prediction_analyses import regression_figures

    if classes:
        ctx.save_figure(f"{name}_roc", ev.plot_roc(),
                        caption=f"Out-of-fold ROC curve of the {label} pattern for {what} "
                                f"({n}; {cv}); the diagonal is chance")
        if not ev.calibration.empty:
            ctx.save_figure(f"{name}_calibration", ev.plot_calibration(),
                            caption=f"Calibration of the out-of-fold probabilities of {what} "
                                    f"({n}): observed fraction positive per bin of predicted "
                                    "probability; the diagonal is perfect calibration")
        return
    regression_figures(ctx, name, ev, target, what, n)


def _brain_figures(ctx, name, res, p, label, what, n, cv, mask) -> int:
    """Weight map, bootstrap z at FDR q < .05 and Haufe pattern; the q map is saved."""
    import nibabel as nib

    from painmarkers._atomic import atomic_write
    from painmarkers.reporting import plot_glass_brain, plot_stat_map

    classes = is_class_target(p)
    if classes:
        pos = f"{what}" if p["instrument"] is not None else f"{p['target']} = {p['positive']}"
        toward = (f"red: higher {label} pushes the prediction toward {pos}, blue: away from "
                  "it")
    else:
        toward = f"red: higher {label} predicts a higher {what}, blue: a lower one"
    fitted = (f"{model_name(p)} refitted on all {n.replace('n = ', '')} (cross-validated in "
              f"{cv})")
    fig = plot_stat_map(res.weights_img, title=f"{label} pattern: weights", label="weight",
                        mask_img=mask, signed=True)
    ctx.save_figure(f"{name}_weights", fig,
                    caption=f"Voxel weights of the {fitted} for {what}: decision value = Σ "
                            f"weight × {label} + intercept; {toward}; diverging colour scale "
                            "centred at 0; axial slices, MNI z in mm (L = left). Weights are "
                            "for prediction, not localisation (see the Haufe pattern)")
    n_q = 0
    if res.z_img is not None:
        q = np.asarray(res.q_img.dataobj, dtype=float)
        z = np.asarray(res.z_img.dataobj, dtype=float)
        inside = np.asarray(res.mask_img.dataobj) > 0  # q is 0 outside the mask
        keep = inside & np.isfinite(q) & (q < 0.05)
        n_q = int(keep.sum())
        img = nib.Nifti1Image(np.where(keep, z, 0.0), res.z_img.affine)
        path = ctx.out_dir / "maps" / name / "weights_z_fdr05.nii.gz"
        atomic_write(path, lambda tmp: nib.save(img, tmp), suffix=".nii.gz")
        b = res.bootstrap.iloc[0]
        scheme = str(b["scheme"])
        fig = plot_glass_brain(img, title=f"{label} pattern: bootstrap z, FDR q < .05 "
                                          f"({n_q} voxels)", stat="z", signed=True)
        ctx.save_figure(f"{name}_weights_z", fig,
                        caption=f"Bootstrap z of the weights (mean / SD over "
                                f"{int(b['n_valid'])} subject-bootstrap refits, {scheme}) of "
                                f"the {fitted}, shown where the Benjamini-Hochberg FDR q < .05 "
                                f"over the {res.n_voxels} mask voxels: {n_q} voxel(s) survive"
                                + ("" if n_q else " (the glass brain is empty)")
                                + "; red: weights reliably positive, blue: reliably negative; "
                                "glass brain, maximum-intensity projections (sagittal, "
                                "coronal, axial; L = left)")
        ctx.report.text(f"{n_q} of {res.n_voxels} voxels have bootstrap weights with FDR "
                        f"q < .05 (maps/{name}/weights_z_fdr05.nii.gz; the unthresholded z, "
                        "p and q maps are weights_z, weights_p and weights_q).", note=True)
    fig = plot_stat_map(res.pattern_img, title=f"{label} pattern: Haufe activation pattern",
                        label=f"{label} per unit decision value", mask_img=mask, signed=True)
    ctx.save_figure(f"{name}_haufe", fig,
                    caption=f"Haufe et al. (2014) activation pattern of the {fitted}: the "
                            f"covariance of each voxel's {label} with the model's decision "
                            f"value divided by its variance ({label} units per unit of "
                            f"decision value); red: {label} higher where the model predicts "
                            + ("the positive class" if classes else f"a higher {what}")
                            + ", blue: lower; the map to interpret; diverging colour scale "
                            "centred at 0; axial slices, MNI z in mm (L = left)")
    return n_q


# -- external validation ---------------------------------------------------------------------
def _recode(values, positive, card_positive):
    """Observed labels with the new data's ``positive`` renamed to the card's positive class
    (and every other label to a label that is not it)."""
    if positive is None:
        return values
    other = f"not {card_positive}"
    return [v if _missing(v) else (card_positive if str(v) == str(positive) else other)
            for v in values]


def run_external_validation(ctx, cohort, spec) -> dict[str, Any]:
    """A saved model card applied to this cohort: metrics, calibration, shift, exclusions."""
    from painmarkers.prediction import apply_model, join_outcomes, load_model_card
    from painmarkers.reporting.labels import feature_label
    from painmarkers.stats import outcomes
    from painmarkers.study._analyses import _record, _table

    p = spec.params
    card = load_model_card(p["card"])
    c = card.card
    levels = _levels(p)
    sessions = p["sessions"] if p["sessions"] is not None else card_sessions(card)
    target = ((p["outcome"] or "percent_change") if p["instrument"] is not None
              else p["target"] or c.get("target"))
    own_excluded: list[dict] = []
    kwargs = dict(max_shift=p["max_shift"], nan_policy="omit", random_state=ctx.random_state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InferenceWarning)
        if card.is_voxel:
            kind = p["feature"] or c["input"].get("image_kind")
            imgs, keys, own_excluded = cohort_maps(cohort, kind, sessions, levels)
            if not imgs:
                raise DesignError(f"analysis {spec.name!r}: no selected session has a {kind!r} "
                                  f"map ({len(own_excluded)} selected sessions lack it).")
            observed = None
            known = p["instrument"] is not None or target in cohort.wide().columns
            if known:
                observed = _recode(_values(cohort, keys, p, target), p["positive"],
                                   c.get("positive"))
            coding = c["input"].get("confounds") or []
            confounds = None
            if coding:  # the card regresses confounds out: each map's values from the cohort
                wide = cohort.wide().set_index([schema.SUBJECT, schema.SESSION])
                confounds = wide.reindex([(k[0], k[1]) for k in keys])[[x["name"] for x in coding]]
            ext = apply_model(card, imgs, target=observed, subjects=[k[0] for k in keys],
                              confounds=confounds, **kwargs)
            inputs = f"{feature_label(kind)} maps"
            ext.predictions.insert(2, schema.SESSION,
                                   [keys[int(r)][1] for r in ext.predictions["row"]])
        else:
            data = cohort.select(levels=levels) if levels else cohort
            frame = data.wide()
            if p["instrument"] is not None:
                out = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
                frame = join_outcomes(data, out)
            known = target in frame.columns
            column = target
            if known and p["positive"] is not None \
                    and str(p["positive"]) != str(c.get("positive")):
                # a new column: the target may be the group column that keys 'sessions'
                column = f"{target} (positive: {p['positive']})"
                frame = frame.assign(**{column: _recode(list(frame[target]), p["positive"],
                                                        c.get("positive"))})
            ext = apply_model(card, frame, target=column if known else None,
                              sessions=sessions, **kwargs)
            inputs = ", ".join(map(str, (_feature(f) for f in card.features)))
    notes = []
    for w in caught:
        if issubclass(w.category, InferenceWarning):
            notes.append(str(w.message))
        else:  # anything else is passed on, never swallowed
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    folder = ctx.out_dir / "prediction" / spec.name
    ext.save(folder)
    classes = card.task == "classification"
    ctx.report.section(f"External validation of the model {c.get('name')!r} on {inputs}")
    ctx.report.text(
        f"Methods: the frozen model of the card {p['card']} ({card.task} of "
        f"{c.get('target')!r}"
        + (f", positive class {c.get('positive')!r}" if classes else "")
        + f"; trained with painmarkers {card.versions.get('painmarkers', '?')}) was applied to "
        f"the {inputs} of this cohort"
        + (f" (sessions {plain(sessions)})" if sessions is not None else "")
        + (f" in {', '.join(levels)}" if levels else "")
        + " without refitting anything"
        + (f", and its predictions compared with the observed {target}"
           + (f" (new label {p['positive']!r} = the card's positive class)"
              if p["positive"] is not None else "")
           if known else "; the outcome is unknown here: predictions only")
        + ". " + ("AUC with a DeLong CI; sensitivity, specificity, PPV, NPV at the card's "
                  "threshold; for probabilities the Brier score and the calibration slope and "
                  "intercept (Steyerberg 2019)" if classes else
                  "R² against the training mean of the target, MAE, RMSE, Pearson r and the "
                  "calibration slope and intercept, with subject-bootstrap CIs")
        + "; every input is compared with its training distribution (shift in training SDs, "
        "values outside the training range).")
    ctx.report.text(f"Intended use (from the card): {c.get('intended_use') or 'not stated'}"
                    + (f" Limitations: {c['limitations']}" if c.get("limitations") else ""),
                    note=True)
    ctx.report.text(card.summary(), preformatted=True, summary="The model card")
    ctx.report.text(ext.summary(), preformatted=True, summary="Validation summary")
    n = f"n = {ext.n} of {ext.n_subjects} subjects"
    if known and not ext.metrics.empty:
        _table(ctx, spec.name, ext.to_frame(),
               f"Performance of the frozen model in this cohort ({n}) with "
               f"{100 * ext.parameters['confidence']:g} % CIs (nothing refitted)")
    if not ext.calibration.empty:
        _table(ctx, f"{spec.name}_calibration", ext.calibration,
               "Calibration in this cohort: " + (
                   "observed fraction positive per bin of predicted probability" if classes
                   else "mean observed against mean predicted in quantile bins of the "
                        "predictions"), collapsed=True)
        ctx.save_figure(f"{spec.name}_calibration", ext.plot_calibration(),
                        caption=f"Calibration of the frozen model in this cohort ({n}): "
                                + ("observed fraction positive against mean predicted "
                                   "probability per bin" if classes else
                                   "mean observed against mean predicted per quantile bin "
                                   "of the predictions")
                                + "; the dashed diagonal is perfect calibration")
    elif known and classes:
        ctx.report.text("No calibration: the model gives decision values, not probabilities.",
                        note=True)
    if known and not ext.predictions["observed"].isna().all():
        ctx.save_figure(f"{spec.name}_predictions", ext.plot_predictions(),
                        caption=("Scores of the frozen model ("
                                 + (f"predicted probability of {c.get('positive')}"
                                    if c.get("score") == "predict_proba" else
                                    "decision value") + f") by observed class ({n}), one "
                                 f"point per map or row; dashed line: the card's threshold "
                                 f"({c.get('threshold'):g})" if classes else
                                 f"Observed {target} against the frozen model's prediction "
                                 f"({n}); dashed = perfect prediction, solid = calibration "
                                 "line"))
    ctx.save_table(f"{spec.name}_predictions", ext.predictions)
    shift = ext.shift
    _table(ctx, f"{spec.name}_shift", shift,
           "Inputs of this cohort against the training data recorded in the card "
           + ("(each image's mean and SD in the model's mask)" if card.is_voxel else "")
           + f": shift_sd = (new mean - training mean) / training SD; flagged when |shift| > "
           f"{p['max_shift']:g} SD or more than 10 % of values lie outside the training range",
           highlight=list(shift["flagged"].astype(bool)) if len(shift) else None)
    for note in notes:
        ctx.report.text(f"Warning: {note}", warning=True)
    for note in ext.notes:
        if note not in notes:
            ctx.report.text(note, note=True)
    excluded = pd.concat([_excluded_frame(own_excluded),
                          ext.excluded.assign(session="")[[schema.SUBJECT, schema.SESSION,
                                                           "reason"]]],
                         ignore_index=True)
    if len(excluded):
        _table(ctx, f"{spec.name}_excluded", excluded,
               f"Rows not predicted or not in the metrics ({len(excluded)})", collapsed=True)
    metrics = ({} if ext.metrics.empty else
               ext.metrics.set_index("metric")["estimate"].to_dict())
    return _record(spec, n=ext.n, n_subjects=ext.n_subjects, task=card.task,
                   card_name=c.get("name"), target=target, validated=bool(known),
                   n_excluded=len(excluded), metrics=metrics,
                   flagged=list(shift.loc[shift["flagged"].astype(bool), "feature"])
                   if len(shift) else [],
                   excluded=[f"sub-{r.subject_id} ({r.reason})" for r in excluded.itertuples()],
                   validation_warnings=notes)


def _feature(column: str) -> str:
    from painmarkers.study._analyses import _label

    return _label(column)


#: Registered in :data:`painmarkers.study._analyses.HANDLERS`.
PATTERN_HANDLERS = {"pattern": run_pattern, "external_validation": run_external_validation}
