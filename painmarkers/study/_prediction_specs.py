"""The ``prognosis`` and ``signature`` analyses of a study specification: their keys, the
checks of their values when the specification is read, and their checks against the
dataset (``painmarkers check``).

.. code-block:: toml

    [[analyses]]
    type = "prognosis"                 # baseline imaging -> treatment outcome
    instrument = "VAS"
    outcome = "percent_change"         # | "change" | "responder_moderate" | ...
    features = [["alff", "INS_L"], ["alff", "mPFC"]]
    sessions = "pre"                   # session of the features (default: pre)
    levels = "CLBP"                    # group(s) analysed (a label or a list)
    confounds = ["age"]
    clinical = ["VAS"]                 # optional: incremental value over these
    n_splits = 5
    n_repeats = 10
    n_permutations = 1000

    [[analyses]]
    type = "signature"                 # a published weight map applied to maps
    weights = "nps_weights.nii.gz"     # relative to the specification file
    feature = "alff"                   # the map kind
    metric = "dot"                     # | "cosine" | "correlation"
    sessions = ["pre", "post"]
    target = "session"                 # optional: AUC / forced choice of ...
    positive = "pre"                   # ... this label against the others

This module imports nothing from :mod:`painmarkers.study.spec` at import time (the
specification module imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from painmarkers.exceptions import SpecError

__all__: list[str] = []

#: Outcomes of a prognosis analysis (columns of painmarkers.stats.outcomes).
OUTCOMES = ("percent_change", "change", "responder_moderate", "responder_substantial")
#: Outcomes that are classes (evaluated by evaluate_biomarker with positive=True).
RESPONDERS = ("responder_moderate", "responder_substantial")
_METRICS = ("dot", "cosine", "correlation")

#: Analysis types added to :data:`painmarkers.study.spec.ANALYSIS_TYPES`.
PREDICTION_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "prognosis": {
        "required": {"instrument": str, "features": list},
        "optional": {"outcome": "percent_change", "sessions": None, "pre": "pre",
                     "post": "post", "levels": None, "confounds": [], "clinical": [],
                     "n_splits": 5, "n_repeats": 10, "n_permutations": 1000,
                     "intended_use": None},
    },
    "signature": {
        "required": {"weights": str, "feature": str},
        "optional": {"metric": "dot", "mask": None, "sessions": None, "levels": None,
                     "target": None, "positive": None, "interpolation": "continuous",
                     "nan_policy": "omit", "zero_as_missing": False,
                     "min_coverage": 0.9},
    },
}


def _sessions(value: Any, where: str) -> None:
    """A session label, a list of labels, or {group = session}."""
    if value is None:
        return
    if isinstance(value, str) and value.strip():
        return
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip()
                                                 for v in value):
        if len(set(value)) != len(value):
            raise SpecError(f"{where}: 'sessions' lists a session twice. Got {value!r}.")
        return
    if isinstance(value, Mapping) and value and all(
            isinstance(v, str) and v.strip() for v in value.values()):
        return
    raise SpecError(f"{where}: 'sessions' must be a session label, a list of labels or a "
                    f"table {{group = session}}. Got {value!r}.")


def _features(value: Any, where: str) -> None:
    if not value:
        raise SpecError(f"{where}: 'features' must name at least one feature.")
    for j, f in enumerate(value):
        pair = isinstance(f, list) and len(f) == 2 and all(isinstance(v, str) and v for v in f)
        if not (pair or (isinstance(f, str) and f)):
            raise SpecError(f"{where}: 'features' #{j + 1} must be a column name or a "
                            f"[feature, roi] pair of strings. Got {f!r}.")


def check_prediction(kind: str, params: dict[str, Any], where: str) -> None:
    """Types and ranges of the keys of a ``prognosis`` or ``signature`` analysis."""
    from painmarkers.study import spec as s

    if params["levels"] is not None:
        s._labels(params["levels"], "levels", where, minimum=1, single=True)
    _sessions(params["sessions"], where)
    if kind == "prognosis":
        for key in ("instrument", "pre", "post"):
            params[key] = s._label(params[key], key, where)
        if params["pre"] == params["post"]:
            raise SpecError(f"{where}: 'pre' and 'post' must be two different session "
                            f"labels. Got {params['pre']!r} twice.")
        s._choice(params["outcome"], "outcome", where, OUTCOMES)
        _features(params["features"], where)
        for key in ("confounds", "clinical"):
            s._labels(params[key], key, where)
        s._integer(params["n_splits"], "n_splits", where, 2)
        s._integer(params["n_repeats"], "n_repeats", where, 1)
        s._integer(params["n_permutations"], "n_permutations", where, 0)
        s._label(params["intended_use"], "intended_use", where, optional=True)
        return
    s._label(params["weights"], "weights", where)
    s._label(params["mask"], "mask", where, optional=True)
    params["feature"] = s._label(params["feature"], "feature", where)
    s._choice(params["metric"], "metric", where, _METRICS)
    s._choice(params["interpolation"], "interpolation", where,
              ("continuous", "linear", "nearest"))
    s._choice(params["nan_policy"], "nan_policy", where, ("omit", "zero", "raise"))
    s._boolean(params["zero_as_missing"], "zero_as_missing", where)
    cov = params["min_coverage"]
    if not s._is_number(cov) or not 0 <= cov <= 1:
        raise SpecError(f"{where}: 'min_coverage' must be in [0, 1]. Got {cov!r}.")
    s._label(params["target"], "target", where, optional=True)
    if (params["target"] is None) != (params["positive"] is None):
        raise SpecError(f"{where}: 'target' and 'positive' go together (the column of the "
                        "condition and its label that should respond more). Got target = "
                        f"{params['target']!r}, positive = {params['positive']!r}.")
    if params["positive"] is not None and not isinstance(params["positive"], str | bool | int):
        raise SpecError(f"{where}: 'positive' must be a label (string, integer or boolean). "
                        f"Got {params['positive']!r}.")


def resolve_paths(analysis, base: Path):
    """The analysis with its ``weights``/``mask`` paths made absolute (against ``base``)."""
    if analysis.type != "signature":
        return analysis
    import dataclasses

    params = dict(analysis.params)
    for key in ("weights", "mask"):
        if params.get(key):
            path = Path(params[key]).expanduser()
            params[key] = str(path if path.is_absolute() else base / path)
    return dataclasses.replace(analysis, params=params)


# -- painmarkers check ------------------------------------------------------------------------
def _feature_columns(checker, features, where) -> None:
    for f in features:
        if isinstance(f, list):
            if f[1] not in checker.roi_names:
                checker.problem(where, f"feature {f!r}: ROI {f[1]!r} is not an ROI of the "
                                       f"specification ({sorted(checker.roi_names)}).")
            else:
                checker.variable(f[0], where, "feature")
        else:
            checker.variable(f, where, "feature")


def _session_labels(checker, sessions, levels, where) -> None:
    if sessions is None:
        return
    if isinstance(sessions, Mapping):
        for g, label in sessions.items():
            if checker.group(g, where, "sessions group"):
                checker.session(label, where, f"sessions[{g!r}]", g)
        return
    for label in [sessions] if isinstance(sessions, str) else sessions:
        checker.session(label, where, "sessions", levels)


def check_prognosis(checker, p: dict[str, Any], where: str) -> None:
    """Labels, instrument, features and class sizes of a ``prognosis`` analysis."""
    from painmarkers.exceptions import PainmarkersError
    from painmarkers.stats import outcomes

    ok = checker.group(p["levels"], where)
    checker.variable(p["instrument"], where, "instrument")
    checker.session(p["pre"], where, "pre", p["levels"])
    checker.session(p["post"], where, "post", p["levels"])
    _session_labels(checker, p["sessions"] or p["pre"], p["levels"], where)
    _feature_columns(checker, p["features"], where)
    checker.columns_exist(p["confounds"], where, "confound")
    for name in p["clinical"]:
        checker.variable(name, where, "clinical")
    if not ok:
        return
    data = checker.cohort.select(levels=p["levels"]) if p["levels"] else checker.cohort
    try:
        table = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
    except (PainmarkersError, LookupError, ValueError) as exc:
        checker.problem(where, f"the outcome cannot be computed: {exc}")
        return
    values = table[p["outcome"]].dropna()
    k = p["n_splits"]
    if p["outcome"] in RESPONDERS:
        pos = int(values.astype(bool).sum())
        neg = int(len(values) - pos)
        if min(pos, neg) < k:
            checker.problem(where, f"n_splits = {k} is more than the {min(pos, neg)} "
                                   f"subjects of the smaller class ({p['outcome']} = "
                                   f"{pos < neg}; {pos} responders, {neg} non-responders); "
                                   f"use n_splits <= {min(pos, neg)} or a continuous "
                                   "outcome.")
    elif len(values) < k:
        checker.problem(where, f"n_splits = {k} is more than the {len(values)} subjects with "
                               f"a {p['outcome']} of {p['instrument']}.")


def check_signature(checker, p: dict[str, Any], where: str) -> None:
    """The weight map and mask can be read; map kind, labels and target exist."""
    from painmarkers._validation import check_img
    from painmarkers.exceptions import PainmarkersError

    for key in ("weights", "mask"):
        if p[key] is None:
            continue
        try:
            check_img(p[key], ndim=3, name=key)
        except (PainmarkersError, TypeError, ValueError) as exc:
            checker.problem(where, f"{key}: {exc}")
    feature = p["feature"]
    if feature not in checker.maps and not any(
            feature in ses.images for _, ses in checker.cohort.iter_sessions()):
        checker.problem(where, f"feature {feature!r} is not a map any extractor produces "
                               f"(maps: {sorted(checker.maps)}).")
    checker.group(p["levels"], where)
    _session_labels(checker, p["sessions"], p["levels"], where)
    target = p["target"]
    if target is None:
        return
    if target not in checker.columns:
        checker.columns_exist([target], where, "target")
        return
    from painmarkers import schema

    wide = checker.wide
    keep = wide[schema.SUBJECT].notna()
    levels = p["levels"]
    if levels is not None and schema.GROUP in wide.columns:
        keep &= wide[schema.GROUP].isin([levels] if isinstance(levels, str) else levels)
    sessions = p["sessions"]
    if sessions is not None and schema.SESSION in wide.columns:
        if isinstance(sessions, Mapping):
            keep &= np.array([sessions.get(g) == ses for g, ses in
                              zip(wide.get(schema.GROUP, [None] * len(wide)),
                                  wide[schema.SESSION])], dtype=bool)
        else:
            keep &= wide[schema.SESSION].isin([sessions] if isinstance(sessions, str)
                                              else sessions)
    values = set(wide.loc[keep, target].dropna().astype(str))
    if str(p["positive"]) not in values:
        checker.problem(where, f"positive {p['positive']!r} is not a value of {target!r} "
                               f"in the maps selected (values: {sorted(values)}).")
    elif len(values) < 2:
        checker.problem(where, f"{target!r} has the single value {p['positive']!r} in the "
                               "maps selected; an AUC needs two conditions.")
