"""Study specifications: one declarative TOML file describing a whole analysis.

A specification names the dataset, the exclusion rules, the extractors and ROIs, and
the analyses to run. :func:`load_spec` reads and validates it; every error names the
offending key and the allowed values.

Example
-------
.. code-block:: toml

    [study]
    name = "rTMS and ALFF in chronic low back pain"
    dataset = "bids"                      # relative to this file
    derivatives = ["bids/derivatives/fmriprep"]
    output = "results"

    [exclusion]
    max_translation_mm = 3.0
    max_rotation_deg = 3.0

    [[extractors]]
    name = "alff"
    band = [0.01, 0.08]

    [rois]
    set = "rtms_alff_clbp"

    [[analyses]]
    type = "outcomes"
    instrument = "VAS"
    pre = "pre"
    post = "post"
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painmarkers.exceptions import SpecError
from painmarkers.study._pattern_specs import (
    PATTERN_TYPES,
    check_pattern_values,
    resolve_pattern_paths,
)
from painmarkers.study._prediction_specs import (
    PREDICTION_TYPES,
    check_prediction,
    resolve_paths,
)
from painmarkers.study._spec_keys import RENAMED_COLUMN_KEYS as RENAMED_COLUMN_KEYS
from painmarkers.study._spec_keys import RENAMED_KEYS as RENAMED_KEYS
from painmarkers.study._spec_keys import renamed_keys
from painmarkers.study._trial_spec import TRIAL_TYPES, check_trial_values

__all__ = ["ANALYSIS_TYPES", "AnalysisSpec", "StudySpec", "load_spec", "parse_spec"]

#: Analysis types and, for each, its required and optional keys with defaults. Keys use
#: the words of the Python API (``between``/``within`` = columns, ``levels`` = group
#: labels, ``sessions`` = session labels; see ``RENAMED_KEYS`` for the old ones).
ANALYSIS_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "demographics": {
        "required": {},
        "optional": {"variables": ["age", "bmi", "pain_duration_years"], "sex": "sex",
                     "between": "group"},
    },
    "clinical_table": {
        "required": {"instruments": list},
        "optional": {"pre": "pre", "post": "post", "levels": None},
    },
    "outcomes": {
        "required": {"instrument": str},
        "optional": {"pre": "pre", "post": "post", "levels": None},
    },
    "paired_ttest": {
        "required": {"dv": (str, list)},
        "optional": {"pre": "pre", "post": "post", "levels": None},
    },
    "two_sample_ttest": {
        "required": {"dv": (str, list), "levels": list},
        "optional": {"sessions": None, "equal_var": True},
    },
    "correlation": {
        "required": {"x": str, "y": (str, list)},
        "optional": {"method": "pearson", "sessions": None, "levels": None,
                     "covariates": [], "correction": "fdr_bh"},
    },
    "roi_table": {
        "required": {"feature": str, "columns": list},
        "optional": {"mu": 0.0},
    },
    "voxelwise": {
        "required": {"feature": str, "design": str},
        "optional": {"levels": None, "sessions": None,
                     "covariates": [], "voxel_p": 0.001, "cluster_p": 0.05,
                     "two_tailed": True, "correction": ["grf"], "grf_method": "fsl",
                     "n_permutations": 1000, "name": None},
    },
    "classifier": {
        "required": {"features": list, "target": str, "positive": str},
        "optional": {"sessions": None, "confounds": [], "n_permutations": 200,
                     "n_splits": 5, "n_repeats": 10},
    },
    # trial designs: ancova, mixed_anova, lmm, responders, voxelwise_glm, voxelwise_lmm
    **TRIAL_TYPES,
    **PREDICTION_TYPES,  # prognosis, signature (painmarkers.study._prediction_specs)
    **PATTERN_TYPES,  # pattern, external_validation (painmarkers.study._pattern_specs)
    # figures and tables of the seed papers (painmarkers/study/_seed_figures.py)
    "group_maps": {
        "required": {"feature": str, "columns": list},
        "optional": {"rois": [], "units": None},
    },
    "group_plot": {
        "required": {"dv": (str, list), "levels": list},
        "optional": {"sessions": None, "units": None, "scale": 1.0},
    },
    "composite_correlation": {
        "required": {"x": (str, list), "y": (str, list)},
        "optional": {"x_label": None, "y_label": None, "method": "pearson", "levels": None,
                     "sessions": None, "covariates": []},
    },
    "seed_comparison": {
        "required": {"rows": list},
        "optional": {"source": None},
    },
}
#: Keys every analysis accepts besides those of its type: ``cite``, the figure or table
#: of the seed paper an analysis reproduces (added to its captions).
_COMMON_KEYS = ("type", "name", "cite")

_VOXELWISE_DESIGNS = ("one_sample", "paired", "two_sample", "correlation")
_CORRECTIONS = ("grf", "permutation")
_TOP_KEYS = ("study", "exclusion", "extractors", "rois", "analyses", "random_state")


@dataclass(frozen=True)
class AnalysisSpec:
    """One analysis of a study: its type, a unique name and its parameters.

    Parameters
    ----------
    type : str
        One of :data:`ANALYSIS_TYPES`.
    name : str
        Unique name, used for output file names.
    params : dict, default={}
        Parameters with defaults filled in, and ``cite`` when the specification gives
        it (the figure or table of a published study the analysis reproduces, added
        to its captions). Keys are the current ones, whatever the file used.
    renamed : tuple of (str, str), default=()
        Old keys the specification used and their new names (``("group", "levels")``;
        ``("columns #1 group", "levels")`` inside ``columns``); not compared.

    See Also
    --------
    parse_spec : Builds them from the ``[[analyses]]`` tables, defaults filled in.

    Examples
    --------
    >>> from painmarkers.study import parse_spec
    >>> spec = parse_spec({"study": {"dataset": "bids"},
    ...                    "analyses": [{"type": "outcomes", "instrument": "VAS"}]})
    >>> analysis = spec.analyses[0]
    >>> analysis.type, analysis.name, analysis.params["post"]
    ('outcomes', 'outcomes_1', 'post')
    """

    type: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    renamed: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class StudySpec:
    """A validated study specification (see :func:`load_spec`).

    Parameters
    ----------
    name : str
        Study title, used in the report.
    dataset : Path
        BIDS root.
    derivatives : tuple of Path, default=()
        Derivative folders with preprocessed images.
    output : Path, default=Path("painmarkers_results")
        Output folder.
    task, space : str or None, default=None
        BIDS entities selecting the preprocessed BOLD images.
    exclusion : dict, default={}
        Motion exclusion rule: ``max_translation_mm``, ``max_rotation_deg``,
        ``max_mean_fd_mm`` (None disables one).
    extractors : tuple of dict, default=()
        Extractor name (registry) and parameters.
    rois : dict, default={}
        ``set`` (built-in ROI set name), ``spheres`` (list of ``{name, center,
        radius_mm}``), ``atlas_regions`` (list of ``{atlas, label}``, optionally
        ``name``) and ``masks`` (list of ``{name, path}``: 3-D mask images, paths
        resolved against the specification's folder).
    analyses : tuple of AnalysisSpec, default=()
        The analyses, in the order they run.
    random_state : int, default=0
        Seed of every stochastic step.
    source : Path or None, default=None
        The file the spec was read from.

    See Also
    --------
    load_spec : Read one from a TOML file.
    parse_spec : Build one from a mapping.

    Examples
    --------
    >>> from painmarkers.study import parse_spec
    >>> spec = parse_spec({"study": {"name": "demo", "dataset": "bids"},
    ...                    "exclusion": {"max_mean_fd_mm": 0.5}}, base_dir="/data")
    >>> spec.name, spec.dataset.as_posix(), spec.exclusion["max_mean_fd_mm"]
    ('demo', '/data/bids', 0.5)
    """

    name: str
    dataset: Path
    derivatives: tuple[Path, ...] = ()
    output: Path = Path("painmarkers_results")
    task: str | None = None
    space: str | None = None
    exclusion: Mapping[str, Any] = field(default_factory=dict)
    extractors: tuple[Mapping[str, Any], ...] = ()
    rois: Mapping[str, Any] = field(default_factory=dict)
    analyses: tuple[AnalysisSpec, ...] = ()
    random_state: int = 0
    source: Path | None = None


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def _check_keys(table: Mapping, allowed, where: str) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise SpecError(f"Unknown key(s) {unknown} in {where}; allowed keys: {sorted(allowed)}.")


# -- value checks (each names the place, the key and the bad value) -------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _label(value: Any, key: str, where: str, *, optional: bool = False) -> str | None:
    """A group/session label, instrument or column name: a non-empty string."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: {key!r} must be a non-empty string. Got {value!r}.")
    return value


def _labels(value: Any, key: str, where: str, *, minimum: int = 0, exactly: int | None = None,
            single: bool = False) -> list[str] | str:
    """A list of distinct non-empty strings (or, with ``single``, one string)."""
    if single and isinstance(value, str):
        return _label(value, key, where)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SpecError(f"{where}: {key!r} must be a list of non-empty strings. Got {value!r}.")
    if len(set(value)) != len(value):
        raise SpecError(f"{where}: {key!r} lists a name twice. Got {value!r}.")
    if exactly is not None and len(value) != exactly:
        raise SpecError(f"{where}: {key!r} must name exactly {exactly} distinct labels. "
                        f"Got {value!r}.")
    if len(value) < minimum:
        raise SpecError(f"{where}: {key!r} must name at least {minimum}. Got {value!r}.")
    return value


def _integer(value: Any, key: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{where}: {key!r} must be an integer >= {minimum}. Got {value!r}.")
    return value


def _boolean(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: {key!r} must be true or false. Got {value!r}.")
    return value


def _probability(value: Any, key: str, where: str) -> float:
    if not _is_number(value) or not 0 < value < 1:
        raise SpecError(f"{where}: {key!r} must be in (0, 1). Got {value!r}.")
    return value


def _choice(value: Any, key: str, where: str, choices) -> Any:
    if value not in choices:
        raise SpecError(f"{where}: {key!r} must be one of {list(choices)}. Got {value!r}.")
    return value


#: Minimum permutation counts: the voxelwise test needs at least one permutation; the
#: classifier's permutation test can be switched off with 0.
_MIN_PERMUTATIONS = {"voxelwise": 1, "classifier": 0}
_CORRELATION_CORRECTIONS = ("fdr_bh", "fdr_by", "holm", "bonferroni", "none")


def _check_values(kind: str, params: dict[str, Any], where: str) -> None:
    """Types and ranges of every key of one analysis (``params`` has the defaults)."""
    if kind in TRIAL_TYPES:
        check_trial_values(kind, params, where)
        return
    if kind in PREDICTION_TYPES:
        check_prediction(kind, params, where)
        return
    if kind in PATTERN_TYPES:
        check_pattern_values(kind, params, where)
        return
    composite = kind == "composite_correlation"
    for key in ("pre", "post", "instrument", "feature", "target", "positive", "x"):
        if key in params and not (composite and key == "x"):
            params[key] = _label(params[key], key, where)
    if composite:
        _labels(params["x"], "x", where, minimum=1, single=True)
        for key in ("x_label", "y_label"):
            _label(params[key], key, where, optional=True)
    for key in ("sex", "between"):
        if key in params:
            _label(params[key], key, where, optional=True)
    _check_levels(kind, params, where)
    for key in ("variables", "covariates", "confounds"):
        if key in params:
            _labels(params[key], key, where)
    if "instruments" in params:
        _labels(params["instruments"], "instruments", where, minimum=1)
    for key in ("dv", "y"):
        if key in params:
            _labels(params[key], key, where, minimum=1, single=True)
    if "pre" in params and params["pre"] == params["post"]:
        raise SpecError(f"{where}: 'pre' and 'post' must be two different session labels. "
                        f"Got {params['pre']!r} twice.")
    for key in ("equal_var", "two_tailed"):
        if key in params:
            _boolean(params[key], key, where)
    for key in ("voxel_p", "cluster_p"):
        if key in params:
            _probability(params[key], key, where)
    if "n_permutations" in params:
        _integer(params["n_permutations"], "n_permutations", where, _MIN_PERMUTATIONS[kind])
    if "n_splits" in params:
        _integer(params["n_splits"], "n_splits", where, 2)
    if "n_repeats" in params:
        _integer(params["n_repeats"], "n_repeats", where, 1)
    if kind in ("group_plot", "group_maps"):
        _label(params["units"], "units", where, optional=True)
    if kind == "group_plot" and (not _is_number(params["scale"]) or params["scale"] == 0):
        raise SpecError(f"{where}: 'scale' must be a non-zero number (values are multiplied "
                        f"by it, e.g. 1000 for ppm -> ppb). Got {params['scale']!r}.")
    if kind == "group_maps":
        _labels(params["rois"], "rois", where)
    if kind == "seed_comparison":
        _check_comparison_rows(params["rows"], where)
        _label(params["source"], "source", where, optional=True)
    if kind == "classifier":
        if not params["features"]:
            raise SpecError(f"{where}: 'features' must name at least one feature.")
        for j, f in enumerate(params["features"]):
            pair = (isinstance(f, list) and len(f) == 2
                    and all(isinstance(v, str) and v for v in f))
            if not (pair or (isinstance(f, str) and f)):
                raise SpecError(f"{where}: 'features' #{j + 1} must be a column name or a "
                                f"[feature, roi] pair of strings. Got {f!r}.")
    if kind in ("correlation", "composite_correlation"):
        _choice(params["method"], "method", where, ("pearson", "spearman"))
    if kind == "correlation":
        corr = params["correction"]
        if corr is not None:
            _choice(corr, "correction", where, _CORRELATION_CORRECTIONS)
            params["correction"] = None if corr == "none" else corr
    if kind in ("roi_table", "group_maps"):
        if not params["columns"]:
            raise SpecError(f"{where}: 'columns' must name at least one group/session.")
        labels = []
        for j, col in enumerate(params["columns"]):
            if (not isinstance(col, Mapping) or not isinstance(col.get("label"), str)
                    or set(col) - {"label", "levels", "sessions"}
                    or not isinstance(col.get("sessions"), str | None)):
                raise SpecError(
                    f"{where}: 'columns' #{j + 1} must be a table with a string 'label', "
                    f"optional 'levels' (a group label or a list of them) and optional "
                    f"'sessions' (one session label), no other keys. Got {col!r}.")
            if col.get("levels") is not None:
                _labels(col["levels"], "levels", f"{where}: 'columns' #{j + 1}", minimum=1,
                        single=True)
            labels.append(col["label"])
        if len(set(labels)) != len(labels):
            raise SpecError(f"{where}: the labels of 'columns' must differ. Got {labels}.")
    if kind == "roi_table":
        if not _is_number(params["mu"]):
            raise SpecError(f"{where}: 'mu' must be a number. Got {params['mu']!r}.")
    if kind == "voxelwise":
        _choice(params["design"], "design", where, _VOXELWISE_DESIGNS)
        corr = params["correction"]
        corr = [corr] if isinstance(corr, str) else corr
        if (not isinstance(corr, list) or not corr
                or any(c not in _CORRECTIONS for c in corr)):
            raise SpecError(f"{where}: 'correction' must be a list of {list(_CORRECTIONS)}. "
                            f"Got {params['correction']!r}.")
        params["correction"] = list(dict.fromkeys(corr))
        _choice(params["grf_method"], "grf_method", where, ("fsl", "spm"))
    _check_sessions(kind, params, where)


#: Keys of a row of a ``seed_comparison`` table.
_COMPARISON_KEYS = ("finding", "published", "table", "where", "overlaps", "show", "note")


def _check_comparison_rows(rows: Any, where: str) -> None:
    """Rows of a ``seed_comparison``: a published finding and where this run shows it.

    ``finding`` and ``published`` (strings) are required; ``table`` names a table an
    earlier analysis wrote (its name, or e.g. ``<name>_grf_clusters``), ``where`` a table
    {column = value} selecting the row, ``overlaps`` (a cluster table) an ROI the
    cluster must reach into, and ``show`` the columns to report; a row without
    ``table`` is a finding the data cannot support, and needs a ``note`` saying why.
    """
    if not rows:
        raise SpecError(f"{where}: 'rows' must list at least one finding.")
    for j, row in enumerate(rows):
        here = f"{where}: 'rows' #{j + 1}"
        if not isinstance(row, Mapping) or set(row) - set(_COMPARISON_KEYS):
            raise SpecError(f"{here} must be a table with keys among {list(_COMPARISON_KEYS)}. "
                            f"Got {row!r}.")
        for key in ("finding", "published"):
            _label(row.get(key), key, here)
        if "table" in row:
            _label(row["table"], "table", here)
            selector = row.get("where", {})
            if not isinstance(selector, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str | int | float | bool)
                    for k, v in selector.items()):
                raise SpecError(f"{here}: 'where' must be a table {{column = value}}. "
                                f"Got {selector!r}.")
            _labels(row.get("show", []), "show", here)
            if "overlaps" in row:
                _label(row["overlaps"], "overlaps", here)
        elif not isinstance(row.get("note"), str) or not row["note"].strip():
            raise SpecError(f"{here}: a finding without 'table' (not reproduced) needs a "
                            "'note' saying why the simulated data cannot support it.")


#: Analysis types whose ``levels`` are the groups compared, in order (a list of that
#: many labels; a voxelwise two-sample design too); elsewhere ``levels`` selects groups.
_COMPARED_LEVELS = {"two_sample_ttest": 2, "group_plot": None}


def _compares_levels(kind: str, params: Mapping[str, Any]) -> bool:
    return kind in _COMPARED_LEVELS or params.get("design") == "two_sample"


def _check_levels(kind: str, params: dict[str, Any], where: str) -> None:
    """``levels``: the groups compared (a list) or the group(s) selected (label or list)."""
    levels = params.get("levels")
    if levels is None:
        return
    if _compares_levels(kind, params):
        exactly = _COMPARED_LEVELS.get(kind, 2)
        if not isinstance(levels, list):
            raise SpecError(f"{where}: 'levels' must be a list of the group labels compared, "
                            f"in order (first minus second), e.g. [\"CLBP\", \"HC\"]. "
                            f"Got {levels!r}.")
        _labels(levels, "levels", where, minimum=1, exactly=exactly)
        return
    _labels(levels, "levels", where, minimum=1, single=True)


#: Analysis types (and voxelwise designs) whose ``sessions`` is one session label.
_ONE_SESSION = ("correlation", "composite_correlation")


def _check_sessions(kind: str, params: dict[str, Any], where: str) -> None:
    sessions = params.get("sessions")
    if sessions is None:
        return
    if kind in _ONE_SESSION or (kind == "voxelwise"
                                and params.get("design") in ("one_sample", "correlation")):
        if not isinstance(sessions, str) or not sessions.strip():
            what = f"a {params['design']} design" if kind == "voxelwise" else f"a {kind}"
            raise SpecError(f"{where}: 'sessions' of {what} must be one session label, "
                            f"e.g. \"pre\". Got {sessions!r}.")
        return
    if kind == "voxelwise" and params.get("design") == "paired":
        if (not isinstance(sessions, list) or len(sessions) != 2
                or not all(isinstance(v, str) and v for v in sessions)
                or sessions[0] == sessions[1]):
            raise SpecError(f"{where}: 'sessions' of a paired design must be a list of two "
                            f"different session labels, e.g. [\"pre\", \"post\"]. "
                            f"Got {sessions!r}.")
        return
    if (not isinstance(sessions, Mapping) or not sessions
            or not all(isinstance(v, str) and v for v in sessions.values())):
        raise SpecError(f"{where}: 'sessions' must be a table {{group = session}}, e.g. "
                        f"{{ CLBP = \"pre\", HC = \"baseline\" }}. Got {sessions!r}.")
    levels = params.get("levels")
    if levels is not None and _compares_levels(kind, params):
        extra = sorted(set(sessions) - set(levels))
        if extra:
            raise SpecError(f"{where}: 'sessions' names group(s) {extra} that are not in "
                            f"'levels' {list(levels)}.")


def _analysis(raw: Any, index: int, names: set[str]) -> AnalysisSpec:
    where = f"[[analyses]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a table. Got {raw!r}.")
    kind = raw.get("type")
    if kind not in ANALYSIS_TYPES:
        raise SpecError(f"{where}: 'type' must be one of {sorted(ANALYSIS_TYPES)}. Got {kind!r}.")
    name = raw.get("name") or f"{kind}_{index + 1}"
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise SpecError(f"{where}: 'name' must be letters, digits, '-' or '_'. Got {name!r}.")
    if name in names:
        raise SpecError(f"{where}: analysis name {name!r} is used twice.")
    where = f"analysis {name!r} ({where}, type {kind!r})"
    raw, renamed = renamed_keys(kind, raw, where)
    schema = ANALYSIS_TYPES[kind]
    allowed = {*_COMMON_KEYS, *schema["required"], *schema["optional"]}
    _check_keys(raw, allowed, where)
    params: dict[str, Any] = {}
    for key, typ in schema["required"].items():
        if key not in raw:
            raise SpecError(f"{where} lacks the required key {key!r}.")
        if not isinstance(raw[key], typ):
            raise SpecError(f"{where}: {key!r} must be {_type_name(typ)}. Got {raw[key]!r}.")
        params[key] = raw[key]
    for key, default in schema["optional"].items():
        params[key] = raw.get(key, default)
    if "cite" in raw:  # only when given: the parameters of other analyses are unchanged
        params["cite"] = _label(raw["cite"], "cite", where)
    _check_values(kind, params, where)
    names.add(name)
    return AnalysisSpec(kind, name, params, renamed)


def _check_seed(value: Any, where: str) -> None:
    """A seed written in a spec: ``"atlas:label"``, an ROI name, ``[x, y, z]`` or a sphere."""
    if isinstance(value, str) and ":" in value and all(value.split(":", 1)):
        return
    if isinstance(value, str) and value.strip():  # the name of an ROI of [rois]
        return
    if isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value):
        return
    if isinstance(value, Mapping) and set(value) <= {"name", "center", "radius_mm"} \
            and "center" in value:
        _check_sphere(value, where, named=False)
        return
    raise SpecError(f"{where}: 'seed' must be 'atlas:label', [x, y, z] (MNI mm), "
                    f"{{ name, center = [x, y, z], radius_mm }} or the name of an ROI of "
                    f"[rois]. Got {value!r}.")


def _check_sphere(sph: Any, where: str, *, named: bool = True) -> None:
    keys = {"name", "center", "radius_mm"}
    if not isinstance(sph, Mapping) or set(sph) - keys:
        raise SpecError(f"{where} must be a table with 'name', 'center' = [x, y, z] and "
                        f"optionally 'radius_mm' (no other keys). Got {sph!r}.")
    if named or "name" in sph:
        _label(sph.get("name"), "name", where)
        where = f"{where} ({sph['name']!r})"
    center = sph.get("center")
    if not isinstance(center, list) or len(center) != 3 or not all(_is_number(c)
                                                                     for c in center):
        raise SpecError(f"{where}: 'center' must be three numbers [x, y, z] (MNI mm). "
                        f"Got {center!r}.")
    radius = sph.get("radius_mm", 3.0)
    if not _is_number(radius) or radius <= 0:
        raise SpecError(f"{where}: 'radius_mm' must be a positive number. Got {radius!r}.")


def _check_rois(rois: Mapping[str, Any]) -> None:
    _check_keys(rois, ("set", "spheres", "atlas_regions", "masks"), "[rois]")
    if "set" in rois:
        _label(rois["set"], "set", "[rois]")
    seen: dict[str, str] = {}
    for key in ("spheres", "atlas_regions", "masks"):
        items = rois.get(key, [])
        if not isinstance(items, list):
            raise SpecError(f"[rois] {key!r} must be an array of tables. Got {items!r}.")
        for j, item in enumerate(items):
            where = f"[rois] {key} #{j + 1}"
            if key == "spheres":
                _check_sphere(item, where)
                name = item["name"]
            elif key == "masks":
                if (not isinstance(item, Mapping) or set(item) != {"name", "path"}
                        or not all(isinstance(item[k], str) and item[k] for k in item)):
                    raise SpecError(f"{where} must be a table {{ name = ..., path = ... }} "
                                    "of two strings (the path of a 3-D mask image, relative "
                                    f"to the specification). Got {item!r}.")
                name = item["name"]
            else:
                if (not isinstance(item, Mapping) or not {"atlas", "label"} <= set(item)
                        or set(item) - {"atlas", "label", "name"}
                        or not all(isinstance(item[k], str) and item[k] for k in item)):
                    raise SpecError(f"{where} must be a table {{ atlas = ..., label = ... }} "
                                    "of two strings, with an optional 'name'. "
                                    f"Got {item!r}.")
                name = item.get("name", f"{item['atlas']}:{item['label']}")
            if name in seen:
                raise SpecError(f"{where}: ROI {name!r} is already defined by {seen[name]}.")
            seen[name] = where


def parse_spec(data: Mapping[str, Any], base_dir: str | Path = ".",
               source: Path | None = None) -> StudySpec:
    """Validate a specification given as a mapping (e.g. parsed TOML).

    Parameters
    ----------
    data : mapping
        The specification (see the module docstring for its keys).
    base_dir : path-like, default="."
        Folder against which relative paths are resolved.
    source : Path or None, default=None
        The file the mapping came from (kept for provenance).

    Returns
    -------
    StudySpec
        The specification with every default filled in and relative paths resolved
        against ``base_dir``.

    Raises
    ------
    SpecError
        Unknown or missing key, or a value of the wrong type, outside its range
        (``n_permutations``, ``n_splits``, ``n_repeats``, ``voxel_p``, ``cluster_p``,
        ROI ``radius_mm``...) or its allowed set (two different ``levels``...), or an
        old key given with its new name (``group`` and ``levels``); the
        message names the analysis (or ROI), the key, the allowed values and the bad
        value. Names and labels that need the dataset or a registry are checked by
        :func:`~painmarkers.study.check_study`.

    Warns
    -----
    FutureWarning
        An analysis uses a key renamed in painmarkers 0.2 (``RENAMED_KEYS``, e.g.
        ``group`` -> ``levels``); it works as the new key until 0.3.

    Examples
    --------
    >>> from painmarkers.study import parse_spec
    >>> spec = parse_spec({"study": {"name": "demo", "dataset": "bids"},
    ...                    "analyses": [{"type": "outcomes", "instrument": "VAS"}]})
    >>> spec.analyses[0].params["pre"], spec.analyses[0].name
    ('pre', 'outcomes_1')
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"A study specification must be a table. Got {type(data).__name__}.")
    base = Path(base_dir)

    def resolve(p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else (base / path)

    _check_keys(data, _TOP_KEYS, "the specification")
    study = data.get("study")
    if not isinstance(study, Mapping):
        raise SpecError("The specification needs a [study] table with at least 'dataset'.")
    _check_keys(study, ("name", "dataset", "derivatives", "output", "task", "space"), "[study]")
    for key in ("name", "output", "task", "space"):
        if key in study:
            _label(study[key], key, "[study]")
    if "dataset" not in study or not isinstance(study["dataset"], str):
        raise SpecError("[study] needs 'dataset': the path of the BIDS dataset (a string).")
    derivs = study.get("derivatives", [])
    if isinstance(derivs, str):
        derivs = [derivs]
    if not isinstance(derivs, list) or not all(isinstance(d, str) for d in derivs):
        raise SpecError(
            f"[study] 'derivatives' must be a path or a list of paths. Got {derivs!r}."
        )

    exclusion = dict(data.get("exclusion", {}))
    _check_keys(exclusion, ("max_translation_mm", "max_rotation_deg", "max_mean_fd_mm"),
                "[exclusion]")
    for key, value in exclusion.items():
        if not isinstance(value, int | float) or value <= 0:
            raise SpecError(f"[exclusion] {key!r} must be a positive number. Got {value!r}.")

    extractors = data.get("extractors", [])
    if not isinstance(extractors, list) or not all(isinstance(e, Mapping) for e in extractors):
        raise SpecError("[[extractors]] must be an array of tables with a 'name' key.")
    for i, ext in enumerate(extractors):
        if not isinstance(ext.get("name"), str) or not ext["name"]:
            raise SpecError(f"[[extractors]] #{i + 1} needs a 'name' (registered extractor).")
        if "seed" in ext:
            _check_seed(ext["seed"], f"[[extractors]] #{i + 1} ({ext['name']!r})")

    rois = data.get("rois", {})
    if not isinstance(rois, Mapping):
        raise SpecError(f"[rois] must be a table. Got {rois!r}.")
    rois = dict(rois)
    _check_rois(rois)
    if "masks" in rois:  # mask paths are relative to the specification
        rois["masks"] = [{"name": m["name"], "path": str(resolve(m["path"]))}
                         for m in rois["masks"]]

    analyses_raw = data.get("analyses", [])
    if not isinstance(analyses_raw, list):
        raise SpecError("[[analyses]] must be an array of tables.")
    names: set[str] = set()
    analyses = tuple(resolve_pattern_paths(resolve_paths(_analysis(raw, i, names), base), base)
                     for i, raw in enumerate(analyses_raw))

    seed = data.get("random_state", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SpecError(f"'random_state' must be an integer. Got {seed!r}.")

    return StudySpec(
        name=str(study.get("name", "painmarkers study")),
        dataset=resolve(study["dataset"]),
        derivatives=tuple(resolve(d) for d in derivs),
        output=resolve(study.get("output", "painmarkers_results")),
        task=study.get("task"),
        space=study.get("space"),
        exclusion=exclusion,
        extractors=tuple(dict(e) for e in extractors),
        rois=rois,
        analyses=analyses,
        random_state=seed,
        source=source,
    )


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study specification from a TOML file.

    Parameters
    ----------
    path : path-like
        The TOML file. Relative paths inside it are resolved against its folder.

    Returns
    -------
    StudySpec
        The specification with every default filled in, its ``source`` the file.

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or fails validation.

    See Also
    --------
    parse_spec : The validation, on a mapping.
    demo_spec_text : The packaged demo specifications, a starting point.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.study import demo_spec_text, load_spec
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.toml"
    >>> _ = path.write_text(demo_spec_text("rtms_alff_clbp"), encoding="utf-8")
    >>> spec = load_spec(path)
    >>> spec.source == path.resolve(), spec.dataset == path.parent.resolve() / "bids"
    (True, True)
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"Study specification {str(path)!r} does not exist.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{str(path)!r} is not valid TOML: {exc}") from None
    return parse_spec(data, base_dir=path.parent.resolve(), source=path.resolve())
