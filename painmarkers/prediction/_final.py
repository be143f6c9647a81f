"""The final model of an evaluation (refitted on every analysed row) and the description
of the data it was trained on (what a model card records)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone

from painmarkers import schema
from painmarkers.prediction import _inputs

__all__: list[str] = []


def refit(pipe, design: _inputs.Design, metadata: dict[str, np.ndarray], route: bool):
    """``pipe`` cloned and fitted on every analysed row (side information routed)."""
    est = clone(pipe)
    meta = dict(metadata or {})
    if route:
        meta["groups"] = design.subjects
    with sklearn.config_context(enable_metadata_routing=True):
        est.fit(design.X, design.y, **meta)
    return est


def _stats(values) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": int(v.size), "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "min": float(v.min()), "max": float(v.max())}


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts(dropna=False).sort_index().items()}


def confound_coding(frame: pd.DataFrame, confounds: list[str]) -> list[dict[str, Any]]:
    """How each confound is coded: numeric, or categorical with its levels (the first is
    the reference dropped by ``get_dummies(drop_first=True)``)."""
    out = []
    for c in confounds:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            # get_dummies passes numbers and booleans through (booleans become 0/1)
            out.append({"name": c, "kind": "numeric"})
        else:
            levels = pd.Categorical(col.dropna()).categories.tolist()
            out.append({"name": c, "kind": "categorical",
                        "levels": [v.item() if hasattr(v, "item") else v for v in levels]})
    return out


def code_confounds(frame: pd.DataFrame, coding: list[dict[str, Any]], where: str
                   ) -> np.ndarray | None:
    """The confound matrix of ``frame`` coded as in training (unseen levels refused)."""
    if not coding:
        return None
    cols = {}
    for item in coding:
        name = item["name"]
        if item["kind"] == "numeric":
            cols[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
            continue
        levels = item["levels"]
        values = frame[name]
        unseen = sorted({str(v) for v in values.dropna() if v not in set(levels)})
        if unseen:
            raise ValueError(f"{where}: confound {name!r} has level(s) {unseen} that the "
                             f"training data did not have (levels {levels}); the model cannot "
                             "code them.")
        cols[name] = pd.Categorical(values, categories=levels)
    coded = pd.get_dummies(pd.DataFrame(cols, index=frame.index), drop_first=True, dtype=float)
    return coded.to_numpy(float)


def describe(data, design: _inputs.Design, task: str, *, target: str, positive=None,
             within: str = schema.SESSION, between: str = schema.GROUP,
             site: str | None = None, images: bool = False) -> dict[str, Any]:
    """The training cohort of an evaluation: sizes, classes, sites, age, feature ranges.

    ``data`` is the Cohort or table the rows come from (None for images given as a list:
    then only what the design holds is described). With ``images=True`` the columns of
    ``design.X`` are voxels: instead of one range per feature, the card gets the range of
    each image's mean and SD over the mask (``image_stats``, what
    :func:`~painmarkers.prediction.apply_model` compares new images with).
    """
    if data is None:
        rows = pd.DataFrame(index=range(design.X.shape[0]))
    else:
        frame, _ = _inputs.as_frame(data)
        rows = frame.iloc[design.rows].reset_index(drop=True)
    per_subject = rows.assign(_s=design.subjects).drop_duplicates("_s")
    out: dict[str, Any] = {"n_rows": int(design.X.shape[0]),
                           "n_subjects": int(pd.unique(design.subjects).size),
                           "n_excluded": len(design.excluded)}
    if within in rows.columns:
        out["sessions"] = _counts(rows[within].astype(str))
    if between in rows.columns:
        out["groups"] = _counts(per_subject[between].astype(str))
    site_col = site or ("site" if "site" in rows.columns else None)
    if site_col is not None and site_col in rows.columns:
        out["sites"] = _counts(per_subject[site_col].astype(str))
    if "age" in rows.columns:
        out["age"] = _stats(pd.to_numeric(per_subject["age"], errors="coerce"))
    if "sex" in rows.columns:
        out["sex"] = _counts(per_subject["sex"].astype(str))
    if task == "classification":
        labels = pd.Series(design.labels).astype(str)
        out["target"] = {"name": target, "positive": positive,
                         "class_counts": _counts(labels),
                         "n_positive": int(design.y.sum()),
                         "n_negative": int((1 - design.y).sum())}
    else:
        out["target"] = {"name": target, **_stats(design.y)}
    if images:
        X = design.X
        out["image_stats"] = {"image_mean": _stats(np.nanmean(X, axis=1)),
                              "image_sd": _stats(np.nanstd(X, axis=1, ddof=1))}
    else:
        out["features"] = {f: _stats(design.X[:, j]) for j, f in enumerate(design.features)}
    # confounds given as a separate table (images as a list) have no recorded coding
    coding = (confound_coding(rows, design.confounds)
              if set(design.confounds) <= set(rows.columns) else None)
    if design.confounds and coding is not None:
        try:
            again = code_confounds(rows, coding, "training data")
        except ValueError:
            again = None
        if again is None or not np.array_equal(again, design.confound_matrix):
            coding = None  # a dtype whose coding cannot be replayed: no card then
    out["confounds"] = coding
    if coding:
        out["confound_stats"] = {c["name"]: _stats(rows[c["name"]]) for c in coding
                                 if c["kind"] == "numeric"}
    if design.site_names is not None:
        out["site_column"] = site
        out["site_names"] = [str(s) for s in design.site_names]
    return out
