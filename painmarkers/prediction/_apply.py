"""apply_model's stages: the new rows (table or images), the predictions, the checks of the
new data against training, and the external-validation metrics."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painmarkers import schema
from painmarkers._validation import (
    check_choice,
    check_img,
    check_interval,
    check_positive_int,
    check_random_state,
)
from painmarkers._versions import versions
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, InferenceWarning
from painmarkers.prediction import _external, _final, _inputs

__all__: list[str] = []


@dataclass
class Rows:
    """The new data, ready for the pipeline."""

    X: np.ndarray
    subjects: np.ndarray
    rows: np.ndarray
    names: list[str]
    observed: np.ndarray | None            # raw target values (object), None if unknown
    target: str | None
    side: dict[str, Any] = field(default_factory=dict)
    excluded: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: pd.DataFrame | None = None     # what the shift table compares


# -- images -----------------------------------------------------------------------------------
def image_list(imgs: Any, name: str = "imgs") -> list:
    """A list of 3-D images from a path, an image (4-D: one per volume) or a list."""
    if isinstance(imgs, str | PathLike) or hasattr(imgs, "affine"):
        img = check_img(imgs, name=name)
        if len(img.shape) == 4:
            return [img.slicer[..., i] for i in range(img.shape[3])]
        return [img]
    try:
        items = list(imgs)
    except TypeError:
        raise TypeError(f"The {name!r} parameter must be images (paths, nibabel images or a "
                        f"4-D image). Got {type(imgs).__name__}.") from None
    if not items:
        raise DataError(f"The {name!r} parameter holds no image.")
    return items


def _image_name(img: Any, i: int) -> str:
    if isinstance(img, str | PathLike):
        return Path(img).name
    fname = getattr(img, "get_filename", lambda: None)()
    return Path(fname).name if fname else f"image {i}"


def _cohort_images(cohort, kind: str, sessions, between: str):
    """(images, subject ids, session labels, wide-table keys) of one map kind."""
    items, excluded = [], []
    for sub, ses in cohort.iter_sessions():
        if sessions is not None:
            if isinstance(sessions, Mapping):
                wanted = sessions.get(sub.group)
                wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
            else:
                wanted = [sessions] if isinstance(sessions, str) else list(sessions)
            if ses.label not in wanted:
                continue
        if kind not in ses.images:
            excluded.append({"row": pd.NA, "subject_id": str(sub.id),
                             "reason": f"no {kind!r} map in session {ses.label!r}"})
            continue
        items.append((ses.images[kind], str(sub.id), ses.label))
    return items, excluded


def _image_confounds(coding: list, table: pd.DataFrame | None, names: list[str],
                     ids: np.ndarray, nan_policy: str, excluded: list[dict]) -> tuple:
    """The confound table of the images a voxel card regresses confounds from, and which
    images have every value (the others raise or are excluded, by ``nan_policy``)."""
    n = len(names)
    if not coding:
        return None, np.ones(n, bool)
    wanted = [c["name"] for c in coding]
    if table is None:
        raise DataError(f"This voxel model regresses the confounds {wanted} out of the "
                        "images: pass confounds= (a table with one row per image holding "
                        "these columns), or the images as a Cohort whose wide() table has "
                        "them.")
    _missing_columns(wanted, table, "confound")
    table = table[wanted].reset_index(drop=True)
    missing = table.isna().any(axis=1).to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        cols = [c for c in wanted if pd.isna(table.iloc[i][c])]
        if nan_policy == "raise":
            raise DataError(f"{names[i]} has no value of the confound(s) {cols} "
                            f"({int(missing.sum())} image(s) in total); fill them or pass "
                            "nan_policy='omit' to leave such images out.")
        for i in np.flatnonzero(missing):
            cols = [c for c in wanted if pd.isna(table.iloc[i][c])]
            excluded.append({"row": int(i), "subject_id": ids[i],
                             "reason": f"{names[i]}: missing {', '.join(cols)}"})
    return table, ~missing


def image_rows(card, data, *, target, subjects, kind, sessions, between, nan_policy,
               grid_mismatch, confounds=None) -> Rows:
    from painmarkers.prediction._steps import CardMasker

    saved = card.steps[0][1]
    masker = CardMasker(saved.mask, saved.affine, saved.dtype, grid_mismatch)
    coding = card.card["input"].get("confounds") or []
    excluded: list[dict] = []
    observed = None
    target_name = None
    table = None
    if hasattr(data, "iter_sessions") and hasattr(data, "wide"):
        kind = kind or card.card["input"].get("image_kind")
        if kind is None:
            raise ValueError("The 'kind' parameter must name the map kind of the Cohort to "
                             "apply a voxel model to (the card records none).")
        items, excluded = _cohort_images(data, kind, sessions, between)
        if not items:
            raise DataError(f"No session of the Cohort has a {kind!r} map.")
        imgs = [i[0] for i in items]
        ids = np.array([i[1] for i in items], dtype=object)
        names = [f"sub-{i[1]} ses-{i[2]}" for i in items]
        tname = card.card.get("target") if target is None else target
        wide = data.wide()
        if isinstance(tname, str) and tname in wide.columns:
            table = wide.set_index([schema.SUBJECT, schema.SESSION])[tname]
            observed = np.array([table.get((i[1], i[2]), np.nan) for i in items], dtype=object)
            target_name = tname
        elif target is not None:
            raise DataError(f"The target column {target!r} is not in the Cohort's table.")
        if confounds is not None:
            raise TypeError("With a Cohort, the confounds come from its wide() table; "
                            "confounds= is for images given as a list.")
        if coding:
            wanted = [c["name"] for c in coding]
            _missing_columns(wanted, wide, "confound")
            by_key = wide.set_index([schema.SUBJECT, schema.SESSION])[wanted]
            table = by_key.reindex([(i[1], i[2]) for i in items]).reset_index(drop=True)
    else:
        imgs = image_list(data, "data")
        names = [_image_name(img, i) for i, img in enumerate(imgs)]
        ids = (np.array([f"image {i}" for i in range(len(imgs))], dtype=object)
               if subjects is None else np.asarray(subjects, dtype=object).astype(str))
        if ids.shape != (len(imgs),):
            raise DataError(f"subjects has {ids.size} value(s) for {len(imgs)} image(s).")
        if target is not None:
            if isinstance(target, str):
                raise DataError("With images given as a list, 'target' must hold one value "
                                "per image (a column name needs a Cohort).")
            observed = np.asarray(target, dtype=object)
            if observed.shape != (len(imgs),):
                raise DataError(f"target has {observed.size} value(s) for {len(imgs)} "
                                "image(s).")
            target_name = card.card.get("target") or "target"
        if confounds is not None:
            table = (confounds.reset_index(drop=True) if isinstance(confounds, pd.DataFrame)
                     else pd.DataFrame(confounds).reset_index(drop=True))
            table.columns = [str(c) for c in table.columns]
            if len(table) != len(imgs):
                raise DataError(f"confounds has {len(table)} row(s) for {len(imgs)} "
                                "image(s); give one row per image.")
    table, has_confounds = _image_confounds(coding, table, names, ids, nan_policy, excluded)
    rows, keep, n_resampled, stats = [], [], 0, []
    for i, (img, name) in enumerate(zip(imgs, names)):
        if not has_confounds[i]:
            continue
        values, resampled = masker.load(img, name)
        n_resampled += resampled
        bad = ~np.isfinite(values)
        if bad.all():
            raise DataError(f"{name} has no finite value in the model's mask; it does not "
                            "overlap the model's brain region.")
        if bad.any():
            if nan_policy == "raise":
                raise DataError(f"{name} has {int(bad.sum())} of {bad.size} mask voxels without "
                                "a finite value (outside its field of view or NaN); pass "
                                "nan_policy='omit' to leave such images out.")
            excluded.append({"row": i, "subject_id": ids[i],
                             "reason": f"{name}: {int(bad.sum())} mask voxels without data"})
            continue
        rows.append(values)
        keep.append(i)
        stats.append((float(values.mean()), float(values.std(ddof=1))))
    if not rows:
        raise DataError("No image could be used (see the exclusions).")
    notes = []
    if n_resampled:
        text = (f"{n_resampled} of {len(imgs)} image(s) are on a grid different from the "
                f"model's (shape {masker.mask.shape}); they were resampled to it with "
                "continuous (3rd-order spline) interpolation.")
        warn(text, InferenceWarning)
        notes.append(text)
    keep = np.asarray(keep)
    side: dict[str, Any] = {}
    if coding:
        side["confounds"] = _final.code_confounds(table.iloc[keep], coding, "new data")
    return Rows(X=np.vstack(rows), subjects=ids[keep], rows=keep,
                names=[names[i] for i in keep],
                observed=None if observed is None else observed[keep], target=target_name,
                side=side, excluded=excluded, notes=notes,
                inputs=pd.DataFrame(stats, columns=["image_mean", "image_sd"]))


# -- tables -----------------------------------------------------------------------------------
def _missing_columns(names: list[str], frame: pd.DataFrame, what: str) -> None:
    missing = [f for f in names if f not in frame.columns]
    if missing:
        hints = []
        for f in missing:
            near = difflib.get_close_matches(f, [str(c) for c in frame.columns], n=1)
            if near:
                hints.append(f"{f!r} -> {near[0]!r}?")
        raise DataError(f"The new data lack the {what} column(s) {missing} the model was "
                        f"trained on" + (f" (close: {', '.join(hints)})" if hints else "")
                        + f"; they have {list(frame.columns)}.")


def table_rows(card, data, *, target, subject, sessions, within, between, nan_policy) -> Rows:
    frame, all_subjects = _inputs.as_frame(data)
    inp = card.card["input"]
    features = list(inp["features"])
    coding = inp.get("confounds") or []
    site = (inp.get("site") or {}).get("column")
    _missing_columns(features, frame, "feature")
    _missing_columns([c["name"] for c in coding] + ([site] if site else []), frame,
                     "confound/site")
    subject_col = _inputs._subject_column(frame, subject, within)
    ids = (frame[subject_col].astype(str) if subject_col else
           pd.Series([f"row {i}" for i in range(len(frame))]))
    keep, excluded = _inputs.select_sessions(frame, ids, sessions, within, between,
                                             all_subjects)
    rows = np.flatnonzero(keep)
    frame, ids = frame[keep].reset_index(drop=True), ids[keep].reset_index(drop=True)
    feats = _inputs.numeric_features(frame, features, ids)
    check = features + [c["name"] for c in coding] + ([site] if site else [])
    complete, missing = _inputs._missing(frame, feats, ids, features, check, rows, nan_policy,
                                         within)
    excluded += missing
    frame, feats = frame[complete].reset_index(drop=True), feats[complete].reset_index(drop=True)
    ids, rows = ids[complete].reset_index(drop=True), rows[complete]
    if not len(frame):
        raise DataError("No row of the new data can be predicted (see the exclusions).")
    side: dict[str, Any] = {}
    conf = _final.code_confounds(frame, coding, "new data") if coding else None
    if conf is not None:
        side["confounds"] = conf
    if site:
        names = [str(s) for s in inp["site"]["names"]]
        labels = frame[site].astype(str)
        unseen = sorted(set(labels) - set(names))
        codes = {n: k for k, n in enumerate(names)}
        codes.update({n: len(names) + k for k, n in enumerate(unseen)})
        side["site"] = labels.map(codes).to_numpy()
    tname = card.card.get("target") if target is None else target
    observed, target_name = None, None
    if isinstance(tname, str) and tname in frame.columns:
        observed, target_name = frame[tname].to_numpy(dtype=object), tname
    elif target is not None:
        raise DataError(f"The target column {target!r} is not in the new data; it has "
                        f"{list(frame.columns)}.")
    names = (frame[within].astype(str).tolist() if within in frame.columns
             else [""] * len(frame))
    return Rows(X=feats.to_numpy(float), subjects=ids.to_numpy(dtype=object), rows=rows,
                names=names, observed=observed, target=target_name, side=side,
                excluded=excluded, inputs=feats)


# -- predictions ------------------------------------------------------------------------------
def predict(card, rows: Rows) -> np.ndarray:
    """Scores (classification) or predictions (regression) of the saved pipeline."""
    Z = rows.X
    body = card.steps[1:] if card.is_voxel else card.steps
    for _, est in body[:-1]:
        name = type(est).__name__
        if name == "ConfoundRegressor":
            Z = (est.transform(Z, confounds=rows.side.get("confounds"))
                 if est.layout_ == "metadata" else est.transform(Z))
        elif name == "ComBat":
            cov = rows.side.get("confounds") if est.beta_.shape[0] else None
            Z = est.transform(Z, site=rows.side.get("site"), covariates=cov)
        else:
            Z = est.transform(Z)
    model = body[-1][1]
    c = card.card
    if c["task"] == "regression":
        return np.asarray(model.predict(Z), dtype=float).ravel()
    classes = list(np.asarray(model.classes_).tolist())
    code = c["positive_code"]
    if c["score"] == "predict_proba":
        return np.asarray(model.predict_proba(Z)[:, classes.index(code)], dtype=float)
    d = np.asarray(model.decision_function(Z), dtype=float).ravel()
    return d if classes.index(code) == 1 else -d


def _observed(card, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(has a value, numeric outcome: 0/1 for classes) of the raw target values."""
    has = np.array([not (v is None or (isinstance(v, float) and np.isnan(v))
                         or v is pd.NA) for v in observed], dtype=bool)
    if card.card["task"] == "classification":
        pos = card.card["positive"]
        y = np.array([1.0 if (h and v == pos) else 0.0 for v, h in zip(observed, has)])
        return has, y
    values = pd.to_numeric(pd.Series(observed), errors="coerce").to_numpy(float)
    bad = has & ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"The target must be numeric for a regression model; row {i} has "
                        f"{observed[i]!r}.")
    return has, values


def apply(card, data, *, target, subject, sessions, within, between, subjects, kind,
          nan_policy, grid_mismatch, max_shift, confidence, n_bootstrap, n_bins,
          random_state, confounds=None):
    check_choice(nan_policy, ("raise", "omit"), "nan_policy")
    check_choice(grid_mismatch, ("resample", "raise"), "grid_mismatch")
    max_shift = check_interval(max_shift, "max_shift", 0, np.inf, closed="neither")
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=10)
    n_bins = check_positive_int(n_bins, "n_bins", minimum=2)
    rng = check_random_state(random_state)
    c = card.card
    if card.is_voxel:
        rows = image_rows(card, data, target=target, subjects=subjects, kind=kind,
                          sessions=sessions, between=between, nan_policy=nan_policy,
                          grid_mismatch=grid_mismatch, confounds=confounds)
        training = (c.get("training") or {}).get("image_stats", {})
    else:
        if confounds is not None:
            raise TypeError("confounds= is for a voxel model's images given as a list; a "
                            "table model reads its confound columns from the data.")
        rows = table_rows(card, data, target=target, subject=subject, sessions=sessions,
                          within=within, between=between, nan_policy=nan_policy)
        training = (c.get("training") or {}).get("features", {})
    score = predict(card, rows)
    notes = list(rows.notes)
    shift = _external.shift_table(training, rows.inputs, max_shift)
    if not training:
        notes.append("The card records no training ranges of its inputs; the new data "
                     "could not be compared with them.")
    flagged = shift[shift["flagged"]]
    if len(flagged):
        text = ("The new data differ from the training data in " + "; ".join(
            f"{r.feature} (mean {r.new_mean:.3g} vs {r.train_mean:.3g} in training, "
            f"{r.shift_sd:+.2f} training SD; {r.n_outside} of {r.new_n} values outside "
            f"[{r.train_min:.3g}, {r.train_max:.3g}])" for r in flagged.itertuples())
            + "; the model is applied outside the range it was trained on.")
        warn(text, InferenceWarning)
        notes.append(text)
    classification = c["task"] == "classification"
    pred = pd.DataFrame({"row": rows.rows, "subject_id": rows.subjects, "name": rows.names})
    observed = np.full(len(score), np.nan)
    excluded = list(rows.excluded)
    has = np.zeros(len(score), dtype=bool)
    if rows.observed is not None:
        has, y = _observed(card, rows.observed)
        observed = np.where(has, y, np.nan)
        for i in np.flatnonzero(~has):
            excluded.append({"row": int(rows.rows[i]), "subject_id": rows.subjects[i],
                             "reason": f"missing {rows.target}: predicted, not in the "
                                       "metrics"})
    pred["observed"] = observed
    if classification:
        pred["score"] = score
        pred["predicted"] = (score >= c["threshold"]).astype(int)
    else:
        pred["predicted"] = score
        pred["residual"] = observed - score
    metrics = pd.DataFrame(columns=list(_external.METRIC_COLUMNS))
    calib = (_external.probability_calibration(np.array([]), np.array([]), n_bins).iloc[0:0]
             if classification else _external.regression_calibration(np.array([]),
                                                                     np.array([]), n_bins))
    n_used = int(has.sum())
    ids = rows.subjects[has]
    clusters = ids if pd.Series(ids).duplicated().any() else None
    if n_used:
        yy, ss = observed[has], score[has]
        if classification:
            yy = yy.astype(int)
            if np.unique(yy).size < 2:
                only = "positive" if yy[0] == 1 else "negative"
                text = (f"The observed outcome holds one class only ({only}, n = {yy.size}); "
                        "the AUC, balanced accuracy and calibration need both, so only the "
                        f"{'sensitivity' if yy[0] == 1 else 'specificity'} is reported.")
                warn(text, InferenceWarning)
                notes.append(text)
                metrics = _external.one_class_metrics(yy, (ss >= c["threshold"]).astype(int),
                                                      confidence)
            else:
                metrics = _external.classification_metrics(
                    yy, ss, (ss >= c["threshold"]).astype(int), c["score"] == "predict_proba",
                    clusters, confidence=confidence, n_bootstrap=n_bootstrap, rng=rng)
                if c["score"] == "predict_proba":
                    calib = _external.probability_calibration(yy, ss, n_bins)
        elif n_used >= 3:
            base = ((c.get("training") or {}).get("target") or {}).get("mean")
            if base is None:
                notes.append("The card records no training mean of the target; R² is "
                             "measured against the new data's own mean.")
            metrics = _external.regression_metrics_external(
                yy, ss, base, clusters, confidence=confidence, n_bootstrap=n_bootstrap,
                rng=rng)
            calib = _external.regression_calibration(yy, ss, n_bins)
    parameters = {
        "card_name": c.get("name"), "card_path": str(card.path),
        "trained_with": c.get("versions", {}).get("painmarkers"),
        "task": c["task"], "target": rows.target or c.get("target"),
        "positive": c.get("positive"), "threshold": c.get("threshold"),
        "subject": subject, "sessions": sessions, "kind": kind, "nan_policy": nan_policy,
        "grid_mismatch": grid_mismatch, "max_shift": max_shift, "confidence": confidence,
        "n_bootstrap": n_bootstrap, "n_bins": n_bins,
        "random_state": _inputs.describe_parameters(random_state),
        "r2_baseline": ("training mean of the target" if not classification and
                        ((c.get("training") or {}).get("target") or {}).get("mean")
                        is not None else None),
    }
    return _external.ExternalValidation(
        task=c["task"], metrics=metrics.reset_index(drop=True), predictions=pred,
        calibration=calib, shift=shift, excluded=_inputs.excluded_frame(excluded),
        notes=notes, n=n_used if rows.observed is not None else len(score),
        n_subjects=int(pd.unique(ids if rows.observed is not None
                                 else rows.subjects).size),
        parameters=parameters, versions=versions())
