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

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painmarkers.exceptions import SpecError

__all__ = ["ANALYSIS_TYPES", "AnalysisSpec", "StudySpec", "load_spec", "parse_spec"]

#: Analysis types and, for each, its required and optional keys with defaults.
ANALYSIS_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "demographics": {
        "required": {},
        "optional": {"variables": ["age", "bmi", "pain_duration_years"], "sex": "sex",
                     "group": "group"},
    },
    "clinical_table": {
        "required": {"instruments": list},
        "optional": {"pre": "pre", "post": "post", "group": None},
    },
    "outcomes": {
        "required": {"instrument": str},
        "optional": {"pre": "pre", "post": "post", "group": None},
    },
    "paired_ttest": {
        "required": {"dv": (str, list)},
        "optional": {"pre": "pre", "post": "post", "group": None},
    },
    "two_sample_ttest": {
        "required": {"dv": (str, list), "groups": list},
        "optional": {"sessions": None, "equal_var": True},
    },
    "correlation": {
        "required": {"x": str, "y": (str, list)},
        "optional": {"method": "pearson", "session": None, "group": None,
                     "covariates": [], "correction": "fdr_bh"},
    },
    "roi_table": {
        "required": {"feature": str, "columns": list},
        "optional": {"mu": 0.0},
    },
    "voxelwise": {
        "required": {"feature": str, "design": str},
        "optional": {"groups": None, "sessions": None, "group": None, "session": None,
                     "covariates": [], "voxel_p": 0.001, "cluster_p": 0.05,
                     "two_tailed": True, "correction": ["grf"], "grf_method": "fsl",
                     "n_permutations": 1000, "name": None},
    },
    "classifier": {
        "required": {"features": list, "target": str, "positive": str},
        "optional": {"sessions": None, "confounds": [], "n_permutations": 200,
                     "n_splits": 5, "n_repeats": 10},
    },
}

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
    params : dict
        Parameters with defaults filled in.
    """

    type: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySpec:
    """A validated study specification (see :func:`load_spec`).

    Parameters
    ----------
    name : str
        Study title, used in the report.
    dataset : Path
        BIDS root.
    derivatives : tuple of Path
        Derivative folders with preprocessed images.
    output : Path
        Output folder.
    task, space : str or None
        BIDS entities selecting the preprocessed BOLD images.
    exclusion : dict
        Motion exclusion rule: ``max_translation_mm``, ``max_rotation_deg``,
        ``max_mean_fd_mm`` (None disables one).
    extractors : tuple of dict
        Extractor name (registry) and parameters.
    rois : dict
        ``set`` (built-in ROI set name) and/or ``spheres`` (list of
        ``{name, center, radius_mm}``).
    analyses : tuple of AnalysisSpec
    random_state : int
        Seed of every stochastic step.
    source : Path or None
        The file the spec was read from.
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


def _analysis(raw: Any, index: int, names: set[str]) -> AnalysisSpec:
    where = f"[[analyses]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a table. Got {raw!r}.")
    kind = raw.get("type")
    if kind not in ANALYSIS_TYPES:
        raise SpecError(f"{where}: 'type' must be one of {sorted(ANALYSIS_TYPES)}. Got {kind!r}.")
    schema = ANALYSIS_TYPES[kind]
    allowed = {"type", "name", *schema["required"], *schema["optional"]}
    _check_keys(raw, allowed, f"{where} (type {kind!r})")
    params: dict[str, Any] = {}
    for key, typ in schema["required"].items():
        if key not in raw:
            raise SpecError(f"{where} (type {kind!r}) lacks the required key {key!r}.")
        if not isinstance(raw[key], typ):
            raise SpecError(f"{where}: {key!r} must be {_type_name(typ)}. Got {raw[key]!r}.")
        params[key] = raw[key]
    for key, default in schema["optional"].items():
        params[key] = raw.get(key, default)
    if kind == "voxelwise":
        if params["design"] not in _VOXELWISE_DESIGNS:
            raise SpecError(f"{where}: 'design' must be one of {list(_VOXELWISE_DESIGNS)}. "
                            f"Got {params['design']!r}.")
        corr = params["correction"]
        corr = [corr] if isinstance(corr, str) else list(corr)
        bad = [c for c in corr if c not in _CORRECTIONS]
        if bad or not corr:
            raise SpecError(f"{where}: 'correction' must be a list of {list(_CORRECTIONS)}. "
                            f"Got {params['correction']!r}.")
        params["correction"] = corr
        for key in ("voxel_p", "cluster_p"):
            v = params[key]
            if not isinstance(v, int | float) or not 0 < v < 1:
                raise SpecError(f"{where}: {key!r} must be in (0, 1). Got {v!r}.")
        if params["grf_method"] not in ("fsl", "spm"):
            raise SpecError(f"{where}: 'grf_method' must be one of ['fsl', 'spm']. "
                            f"Got {params['grf_method']!r}.")
    sessions = params.get("sessions")
    wants_list = kind == "voxelwise" and params.get("design") == "paired"
    if sessions is not None and wants_list:
        if (not isinstance(sessions, list) or len(sessions) != 2
                or not all(isinstance(v, str) for v in sessions)):
            raise SpecError(f"{where}: 'sessions' of a paired design must be a list of two "
                            f"session labels, e.g. [\"pre\", \"post\"]. Got {sessions!r}.")
    elif sessions is not None and kind in ("voxelwise", "two_sample_ttest", "classifier"):
        if (not isinstance(sessions, Mapping)
                or not all(isinstance(v, str) for v in sessions.values())):
            raise SpecError(f"{where}: 'sessions' must be a table {{group = session}}, e.g. "
                            f"{{ CLBP = \"pre\", HC = \"baseline\" }}. Got {sessions!r}.")
    if kind == "roi_table":
        for j, col in enumerate(params["columns"]):
            if (not isinstance(col, Mapping) or not isinstance(col.get("label"), str)
                    or set(col) - {"label", "group", "session"}
                    or not all(isinstance(col.get(k), str | None) for k in ("group", "session"))):
                raise SpecError(
                    f"{where}: 'columns' #{j + 1} must be a table with a string 'label' and "
                    f"optional string 'group' and 'session' (no other keys). Got {col!r}.")
        if not params["columns"]:
            raise SpecError(f"{where}: 'columns' must name at least one group/session.")
        if not isinstance(params["mu"], int | float) or isinstance(params["mu"], bool):
            raise SpecError(f"{where}: 'mu' must be a number. Got {params['mu']!r}.")
    if kind == "correlation" and params["method"] not in ("pearson", "spearman"):
        raise SpecError(f"{where}: 'method' must be one of ['pearson', 'spearman']. "
                        f"Got {params['method']!r}.")
    name = raw.get("name") or f"{kind}_{index + 1}"
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise SpecError(f"{where}: 'name' must be letters, digits, '-' or '_'. Got {name!r}.")
    if name in names:
        raise SpecError(f"{where}: analysis name {name!r} is used twice.")
    names.add(name)
    return AnalysisSpec(kind, name, params)


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

    Raises
    ------
    SpecError
        Unknown or missing key, or a value of the wrong type or outside its
        allowed set; the message names the key and the allowed values.

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
    _check_keys(data, _TOP_KEYS, "the specification")
    study = data.get("study")
    if not isinstance(study, Mapping):
        raise SpecError("The specification needs a [study] table with at least 'dataset'.")
    _check_keys(study, ("name", "dataset", "derivatives", "output", "task", "space"), "[study]")
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
        if not isinstance(ext.get("name"), str):
            raise SpecError(f"[[extractors]] #{i + 1} needs a 'name' (registered extractor).")

    rois = dict(data.get("rois", {}))
    _check_keys(rois, ("set", "spheres", "atlas_regions"), "[rois]")

    analyses_raw = data.get("analyses", [])
    if not isinstance(analyses_raw, list):
        raise SpecError("[[analyses]] must be an array of tables.")
    names: set[str] = set()
    analyses = tuple(_analysis(raw, i, names) for i, raw in enumerate(analyses_raw))

    seed = data.get("random_state", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SpecError(f"'random_state' must be an integer. Got {seed!r}.")

    def resolve(p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else (base / path)

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

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"Study specification {str(path)!r} does not exist.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{str(path)!r} is not valid TOML: {exc}") from None
    return parse_spec(data, base_dir=path.parent.resolve(), source=path.resolve())
