"""The ``pattern`` and ``external_validation`` analyses of a study specification: their
keys, the checks of their values when the specification is read, and their checks
against the dataset (``painmarkers check``).

.. code-block:: toml

    [[analyses]]
    type = "pattern"                   # a whole-brain voxel-pattern model
    feature = "alff"                   # the map kind
    target = "group"                   # a column: with 'positive' a class, ...
    positive = "CLBP"                  # ... without it a continuous value
    # or: instrument = "VAS", outcome = "percent_change", pre = "pre", post = "post"
    sessions = { CLBP = "pre", HC = "baseline" }
    levels = ["CLBP", "HC"]            # group label(s) to keep
    model = "l2_logistic"              # | linear_svm | ridge | lasso_pcr
    mask = "brain_mask.nii.gz"         # optional, relative to the specification
    n_bootstrap_weights = 1000         # bootstrap z / p / q maps of the weights
    save_card = true                   # <out>/models/<name>/

    [[analyses]]
    type = "external_validation"       # a saved model applied to this cohort
    card = "../train/results/models/pattern_group"   # relative to the specification
    target = "group"
    sessions = { CLBP = "pre", HC = "baseline" }

The types are added to :data:`painmarkers.study.spec.ANALYSIS_TYPES` as
:data:`PATTERN_TYPES`. This module imports nothing from :mod:`painmarkers.study.spec`
at import time (the specification module imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from painmarkers.exceptions import SpecError
from painmarkers.study._prediction_specs import OUTCOMES, RESPONDERS, _session_labels, _sessions

__all__: list[str] = []

#: Analysis types added to :data:`painmarkers.study.spec.ANALYSIS_TYPES`.
PATTERN_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "pattern": {
        "required": {"feature": str},
        "optional": {"target": None, "positive": None, "instrument": None, "outcome": None,
                     "pre": "pre", "post": "post", "sessions": None, "levels": None,
                     "model": None, "mask": None, "confounds": [], "n_splits": 5,
                     "n_repeats": 10, "n_permutations": 1000, "n_bootstrap_weights": 1000,
                     "save_card": True, "intended_use": None},
    },
    "external_validation": {
        "required": {"card": str},
        "optional": {"feature": None, "sessions": None, "levels": None, "target": None,
                     "positive": None, "instrument": None, "outcome": None, "pre": "pre",
                     "post": "post", "max_shift": 1.0},
    },
}

#: The models of a ``pattern`` analysis (those of painmarkers.prediction.evaluate_pattern).
MODELS = ("l2_logistic", "linear_svm", "ridge", "lasso_pcr")
_CLASS_MODELS = ("l2_logistic", "linear_svm", "ridge")
_CONTINUOUS_MODELS = ("ridge", "lasso_pcr")


def is_class_target(p: Mapping[str, Any]) -> bool:
    """True when a ``pattern`` analysis predicts a class (``positive`` or a responder
    outcome), False for a continuous target."""
    if p.get("instrument") is not None:
        return (p.get("outcome") or "percent_change") in RESPONDERS
    return p.get("positive") is not None


def default_model(p: Mapping[str, Any]) -> str:
    """The model of a ``pattern`` analysis: its ``model``, or L2 logistic regression for a
    class and ridge for a continuous target (the defaults of evaluate_pattern)."""
    return p.get("model") or ("l2_logistic" if is_class_target(p) else "ridge")


def _positive(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str | bool | int):
        raise SpecError(f"{where}: 'positive' must be a label (string, integer or boolean). "
                        f"Got {value!r}.")


def _target(params: dict[str, Any], where: str, *, required: bool) -> None:
    """``target`` (+ ``positive``) or ``instrument`` (+ ``outcome``, ``pre``, ``post``)."""
    from painmarkers.study import spec as s

    s._label(params["target"], "target", where, optional=True)
    s._label(params["instrument"], "instrument", where, optional=True)
    _positive(params["positive"], where)
    if params["target"] is not None and params["instrument"] is not None:
        raise SpecError(f"{where}: give either 'target' (a column) or 'instrument' (an "
                        f"outcome of its scores), not both. Got target = "
                        f"{params['target']!r}, instrument = {params['instrument']!r}.")
    if required and params["target"] is None and params["instrument"] is None:
        raise SpecError(f"{where} needs what to predict: 'target' (a column of the cohort "
                        "table; with 'positive' a class, without it a continuous value) or "
                        "'instrument' (with 'outcome', 'pre' and 'post': e.g. the percent "
                        "change of VAS).")
    if params["outcome"] is not None:
        if params["instrument"] is None:
            raise SpecError(f"{where}: 'outcome' needs 'instrument' (the outcome of whose "
                            f"scores). Got outcome = {params['outcome']!r}.")
        s._choice(params["outcome"], "outcome", where, OUTCOMES)
    if params["instrument"] is not None:
        if required and params["positive"] is not None:
            raise SpecError(f"{where}: 'positive' goes with 'target'; the responder "
                            "outcomes of an 'instrument' are classes already (responder = "
                            f"true). Got positive = {params['positive']!r}.")
        for key in ("pre", "post"):
            params[key] = s._label(params[key], key, where)
        if params["pre"] == params["post"]:
            raise SpecError(f"{where}: 'pre' and 'post' must be two different session "
                            f"labels. Got {params['pre']!r} twice.")


def check_pattern_values(kind: str, params: dict[str, Any], where: str) -> None:
    """Types and ranges of the keys of a ``pattern`` or ``external_validation`` analysis."""
    from painmarkers.study import spec as s

    _sessions(params["sessions"], where)
    if params["levels"] is not None:
        params["levels"] = s._labels(params["levels"], "levels", where, minimum=1,
                                     single=True)
    if kind == "external_validation":
        s._label(params["card"], "card", where)
        s._label(params["feature"], "feature", where, optional=True)
        _target(params, where, required=False)
        shift = params["max_shift"]
        if not s._is_number(shift) or shift <= 0:
            raise SpecError(f"{where}: 'max_shift' must be a positive number (training SDs). "
                            f"Got {shift!r}.")
        return
    params["feature"] = s._label(params["feature"], "feature", where)
    _target(params, where, required=True)
    s._label(params["mask"], "mask", where, optional=True)
    s._labels(params["confounds"], "confounds", where)
    s._integer(params["n_splits"], "n_splits", where, 2)
    s._integer(params["n_repeats"], "n_repeats", where, 1)
    s._integer(params["n_permutations"], "n_permutations", where, 0)
    s._integer(params["n_bootstrap_weights"], "n_bootstrap_weights", where, 0)
    s._boolean(params["save_card"], "save_card", where)
    s._label(params["intended_use"], "intended_use", where, optional=True)
    model = params["model"]
    if model is not None:
        s._choice(model, "model", where, MODELS)
        classes = is_class_target(params)
        if model not in (_CLASS_MODELS if classes else _CONTINUOUS_MODELS):
            raise SpecError(
                f"{where}: 'model' {model!r} does not fit a "
                f"{'class' if classes else 'continuous'} target; use one of "
                f"{list(_CLASS_MODELS if classes else _CONTINUOUS_MODELS)}"
                + ("" if classes else " (or give 'positive' for a class target)") + ".")


def resolve_pattern_paths(analysis, base: Path):
    """The analysis with its ``mask`` (pattern) or ``card`` (external_validation) path made
    absolute (against ``base``, the specification's folder)."""
    if analysis.type not in PATTERN_TYPES:
        return analysis
    import dataclasses
    import os

    params = dict(analysis.params)
    for key in ("mask", "card"):
        if params.get(key):
            path = Path(params[key]).expanduser()
            params[key] = os.path.normpath(path if path.is_absolute() else base / path)
    return dataclasses.replace(analysis, params=params)


# -- painmarkers check ------------------------------------------------------------------------
def _levels(p: Mapping[str, Any]) -> list[str] | None:
    levels = p.get("levels")
    return None if levels is None else [levels] if isinstance(levels, str) else list(levels)


def selected_rows(wide, levels, sessions):
    """Boolean mask of the rows of ``Cohort.wide()`` in ``levels`` and ``sessions`` (a
    label, a list of labels, or {group: session})."""
    import numpy as np

    from painmarkers import schema

    keep = wide[schema.SUBJECT].notna()
    if levels is not None and schema.GROUP in wide.columns:
        keep &= wide[schema.GROUP].isin(levels)
    if sessions is not None and schema.SESSION in wide.columns:
        if isinstance(sessions, Mapping):
            groups = wide[schema.GROUP] if schema.GROUP in wide.columns else [None] * len(wide)
            keep &= np.array([sessions.get(g) == ses
                              for g, ses in zip(groups, wide[schema.SESSION])], dtype=bool)
        else:
            keep &= wide[schema.SESSION].isin([sessions] if isinstance(sessions, str)
                                              else sessions)
    return keep


def _labels_exist(checker, p: Mapping[str, Any], where: str) -> bool:
    ok = all([checker.group(g, where, "levels") for g in _levels(p) or []])
    _session_labels(checker, p["sessions"], None, where)
    return ok


def _map_kind(checker, feature: str, where: str, key: str = "feature") -> bool:
    if feature in checker.maps or any(feature in ses.images
                                       for _, ses in checker.cohort.iter_sessions()):
        return True
    checker.problem(where, f"{key} {feature!r} is not a map any extractor produces, nor an "
                           f"image of the dataset (maps: {sorted(checker.maps)}); add an "
                           "extractor producing it.")
    return False


def _class_sizes(checker, values, positive, n_splits: int, where: str, target: str) -> None:
    """``positive`` among ``values`` (one per subject) and n_splits <= the smaller class."""
    shown = sorted({str(v) for v in values})
    if str(positive) not in shown:
        checker.problem(where, f"positive {positive!r} is not a value of {target!r} in the "
                               f"rows selected (values: {shown}).")
        return
    pos = int(sum(str(v) == str(positive) for v in values))
    neg = len(values) - pos
    if neg == 0:
        checker.problem(where, f"{target!r} has the single value {positive!r} in the rows "
                               "selected; a classifier needs two classes.")
    elif min(pos, neg) < n_splits:
        checker.problem(where, f"n_splits = {n_splits} is more than the {min(pos, neg)} "
                               f"subjects of the smaller class ({pos} with {target} = "
                               f"{positive!r}, {neg} others); use n_splits <= "
                               f"{min(pos, neg)}.")


def _outcome_values(checker, p: Mapping[str, Any], where: str):
    """The outcome of ``instrument`` per subject (a Series), or None after a problem."""
    from painmarkers import schema
    from painmarkers.exceptions import PainmarkersError
    from painmarkers.stats import outcomes

    checker.variable(p["instrument"], where, "instrument")
    levels = _levels(p)
    for key in ("pre", "post"):
        checker.session(p[key], where, key)
    data = checker.cohort.select(levels=levels) if levels else checker.cohort
    try:
        table = outcomes(data, p["instrument"], pre=p["pre"], post=p["post"])
    except (PainmarkersError, LookupError, ValueError) as exc:
        checker.problem(where, f"the outcome cannot be computed: {exc}")
        return None
    return table.set_index(schema.SUBJECT)[p["outcome"] or "percent_change"].dropna()


def check_pattern(checker, p: dict[str, Any], where: str) -> None:
    """Map kind, mask, labels, target and class sizes of a ``pattern`` analysis."""
    from painmarkers import schema
    from painmarkers._validation import check_img
    from painmarkers.exceptions import PainmarkersError

    _map_kind(checker, p["feature"], where)
    if p["mask"] is not None:
        try:
            check_img(p["mask"], ndim=3, name="mask")
        except (PainmarkersError, TypeError, ValueError) as exc:
            checker.problem(where, f"mask: {exc}")
    if not _labels_exist(checker, p, where):
        return
    checker.columns_exist(p["confounds"], where, "confound")
    k = p["n_splits"]
    if p["instrument"] is not None:
        values = _outcome_values(checker, p, where)
        if values is None:
            return
        if is_class_target(p):
            _class_sizes(checker, list(values.astype(bool)), True, k, where,
                         p["outcome"])
        elif len(values) < k:
            checker.problem(where, f"n_splits = {k} is more than the {len(values)} subjects "
                                   f"with a {p['outcome'] or 'percent_change'} of "
                                   f"{p['instrument']}.")
        return
    target = p["target"]
    if target not in checker.columns:
        checker.columns_exist([target], where, "target")
        return
    wide = checker.wide
    rows = wide[selected_rows(wide, _levels(p), p["sessions"])]
    per_subject = rows.dropna(subset=[target]).drop_duplicates(schema.SUBJECT)[target]
    if p["positive"] is not None:
        _class_sizes(checker, list(per_subject), p["positive"], k, where, target)
    elif len(per_subject) < k:
        checker.problem(where, f"n_splits = {k} is more than the {len(per_subject)} subjects "
                               f"with a {target!r} value in the rows selected.")


def card_sessions(card) -> list[str] | None:
    """The session labels a card was trained on (from its training description)."""
    sessions = (card.card.get("training") or {}).get("sessions")
    return sorted(sessions) if isinstance(sessions, Mapping) and sessions else None


#: Analysis types whose run writes a model card into <output>/models/<name>/.
_CARD_TYPES = ("classifier", "prognosis", "pattern")


def _card_of_this_study(spec, p: Mapping[str, Any]) -> str | None:
    """The name of an analysis of ``spec`` running before the one of parameters ``p``
    whose model card is ``p["card"]``, if any."""
    import os

    target = os.path.normpath(os.path.abspath(p["card"]))
    for a in spec.analyses:
        if a.params is p:
            break  # only analyses that run before this one
        if a.type in _CARD_TYPES and a.params.get("save_card", True) and target == \
                os.path.normpath(os.path.abspath(Path(spec.output) / "models" / a.name)):
            return a.name
    return None


def check_external_validation(checker, p: dict[str, Any], where: str) -> None:
    """The card loads; its inputs (maps or features), labels and target exist."""
    from painmarkers.exceptions import PainmarkersError
    from painmarkers.prediction import load_model_card

    earlier = _card_of_this_study(checker.spec, p)
    if earlier is not None and not (Path(p["card"]) / "model_card.json").is_file():
        checker.notes.append(f"{where}: the card is the model of analysis {earlier!r} of this "
                             "study, written when the study runs; it is checked then.")
        return
    try:
        card = load_model_card(p["card"])
    except (PainmarkersError, OSError) as exc:
        checker.problem(where, f"card: {exc}")
        return
    ok = _labels_exist(checker, p, where)
    coding = card.card["input"].get("confounds") or []
    checker.columns_exist([c["name"] for c in coding], where, "the card's confound")
    if card.is_voxel:
        kind = p["feature"] or card.card["input"].get("image_kind")
        if kind is None:
            checker.problem(where, "the card records no map kind; give 'feature' (the map "
                                   "kind its model takes, e.g. 'alff').")
        else:
            _map_kind(checker, kind, where, "feature" if p["feature"] else
                      "the card's map kind")
    else:
        if p["feature"] is not None:
            checker.problem(where, f"'feature' = {p['feature']!r} selects the maps of a voxel "
                                   f"model; this card takes the table features "
                                   f"{card.features}.")
        for name in card.features:
            if name not in checker.measure_columns:
                checker.problem(where, f"the card's feature {name!r} is not a column the "
                                       "study produces (its ROI measures and cohort columns); "
                                       "define the same extractor and ROIs.")
    sessions = p["sessions"]
    if sessions is None and card_sessions(card) is not None:
        missing = [s for s in card_sessions(card) if s not in checker.labels]
        if missing:
            checker.problem(where, f"the card was trained on session(s) {card_sessions(card)}; "
                                   f"{missing} are not sessions of the dataset (sessions: "
                                   f"{sorted(checker.labels)}); give 'sessions'.")
            return
        sessions = card_sessions(card)
    if not ok:
        return
    classes = card.task == "classification"
    if p["instrument"] is not None:
        values = _outcome_values(checker, p, where)
        if values is not None and classes and not is_class_target(p):
            checker.problem(where, f"the card is a classifier of {card.card.get('target')!r}; "
                                   f"the {p['outcome'] or 'percent_change'} of "
                                   f"{p['instrument']} is continuous.")
        return
    target = p["target"] or card.card.get("target")
    if target not in checker.columns:
        if p["target"] is not None:
            checker.columns_exist([target], where, "target")
        else:
            checker.notes.append(f"{where}: the card's target {target!r} is not a column of "
                                 "the dataset: predictions only, no validation metrics (give "
                                 "'target' or 'instrument').")
        return
    if not classes:
        return
    wide = checker.wide
    rows = wide[selected_rows(wide, _levels(p), sessions)]
    values = set(rows[target].dropna().astype(str))
    positive = p["positive"] if p["positive"] is not None else card.card.get("positive")
    if str(positive) not in values:
        how = ("" if p["positive"] is not None else
               "; give 'positive' = the label of the new data that stands for it")
        what = "positive" if p["positive"] is not None else "the card's positive class"
        checker.problem(where, f"{what} {positive!r} is not a value of {target!r} in the "
                               f"rows selected (values: {sorted(values)}){how}.")
