"""``painmarkers check``: validate a study specification against its dataset, no extraction.

:func:`check_study` builds the ROIs and extractors of a specification, reads the
dataset's tables and file index (no image is loaded but the first brain mask) and
checks every analysis against them: group and session labels, instruments,
covariates and features, the images the extractors need, the groups a design needs.
It collects every problem, each naming its analysis (and ROI or extractor), and
raises one :class:`~painmarkers.exceptions.SpecError` listing them all.
:func:`~painmarkers.study.run_study` runs the same checks before it extracts anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from painmarkers import schema
from painmarkers._deprecation import REMOVAL
from painmarkers.exceptions import DataError, PainmarkersError, RegistryError, SpecError
from painmarkers.model import Cohort, get_instrument
from painmarkers.study._pattern_specs import (
    PATTERN_TYPES,
    check_external_validation,
    check_pattern,
)
from painmarkers.study._prediction_specs import check_prognosis, check_signature
from painmarkers.study._trial_spec import TRIAL_TYPES, check_trial_against_data
from painmarkers.study.spec import ANALYSIS_TYPES, AnalysisSpec, StudySpec, load_spec

__all__ = ["StudyCheck", "build_extractors", "build_rois", "check_study"]

#: How many names a message lists before "..." (sessions lacking an image, etc.).
_SHOWN = 5


# -- building the spec's ROIs and extractors --------------------------------------------------
def _as_roi(value: Any, where: str, rois: tuple = ()):
    """A seed/ROI written in a spec: ``"atlas:label"``, the name of one of ``rois``,
    ``[x, y, z]`` or a sphere table."""
    from painmarkers.rois import AtlasRegion, Sphere

    if isinstance(value, str) and ":" in value:
        atlas, label = value.split(":", 1)
        return AtlasRegion(atlas, label)
    if isinstance(value, str):
        named = {r.name: r for r in rois}
        if value in named:
            return named[value]
        raise SpecError(f"{where}: seed {value!r} is not 'atlas:label' nor the name of an ROI "
                        f"of [rois] ({sorted(named)}){_close(value, named)}.")
    if isinstance(value, list | tuple) and len(value) == 3:
        return Sphere("seed", tuple(value), 3.0)
    if isinstance(value, Mapping) and "center" in value:
        return Sphere(value.get("name", "seed"), tuple(value["center"]),
                      value.get("radius_mm", 3.0))
    raise SpecError(f"{where}: a seed must be 'atlas:label', [x, y, z] (MNI mm) or "
                    f"{{name, center, radius_mm}}. Got {value!r}.")


def build_extractors(spec: StudySpec, rois: tuple) -> list:
    """The extractors of ``spec`` (registry names resolved, parameters checked by type).

    Raises
    ------
    SpecError
        Unknown extractor name or parameter; the message names ``[[extractors]] #i``.
    """
    from painmarkers.extractors import MapMean, get_extractor, list_extractors

    out = []
    for i, ext in enumerate(spec.extractors):
        where = f"[[extractors]] #{i + 1} ({ext['name']!r})"
        params = {k: (tuple(v) if isinstance(v, list) and k == "band" else v)
                  for k, v in ext.items() if k != "name"}
        cls = None
        try:
            if "seed" in params:
                params["seed"] = _as_roi(params["seed"], where, rois)
            if ext["name"] == "map_mean":
                if not rois:
                    raise SpecError(f"{where}: ROI means need ROIs; add a [rois] table.")
                cls = MapMean
                out.append(MapMean(rois=rois, **params))
                continue
            cls = get_extractor(ext["name"])
            out.append(cls(**params))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            allowed = ""
            if cls is not None and isinstance(exc, TypeError):
                try:
                    keys = sorted(set(cls().get_params(deep=False)) - {"rois"})
                    allowed = f" Allowed keys: {keys}."
                except Exception:  # a plug-in without defaults: no list
                    allowed = ""
            raise SpecError(f"{where}: {exc}.{allowed}") from None
        except RegistryError as exc:
            if ext["name"] in list_extractors():  # a plug-in that failed to load: say why
                raise SpecError(f"{where}: {exc}") from None
            raise SpecError(f"{where}: 'name' must be one of "
                            f"{sorted([*list_extractors(), 'map_mean'])}. "
                            f"Got {ext['name']!r}.") from None
    return out


def build_rois(spec: StudySpec) -> tuple:
    """The ROIs of ``spec``: its ROI set, spheres, atlas regions and masks, in that order.

    Raises
    ------
    SpecError
        Unknown ROI set, atlas or atlas label, a mask image that cannot be read, or two
        ROIs with one name; the message names the ROI.
    """
    from painmarkers.rois import AtlasRegion, MaskROI, Sphere, get_roi_set

    rois: list = []
    if "set" in spec.rois:
        try:
            rois.extend(get_roi_set(spec.rois["set"]))
        except RegistryError as exc:
            raise SpecError(f"[rois] 'set': {exc}") from None
    for i, sph in enumerate(spec.rois.get("spheres", [])):
        where = f"[rois] spheres #{i + 1} ({sph.get('name')!r})"
        try:
            rois.append(Sphere(sph["name"], tuple(sph["center"]), sph.get("radius_mm", 3.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"{where} needs 'name', 'center' = [x, y, z] and optionally a "
                            f"positive 'radius_mm'. Problem: {exc}") from None
    for i, reg in enumerate(spec.rois.get("atlas_regions", [])):
        where = f"[rois] atlas_regions #{i + 1} ({reg.get('atlas')}:{reg.get('label')})"
        try:
            rois.append(AtlasRegion(reg["atlas"], reg["label"], name=reg.get("name")))
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            raise SpecError(f"{where}: {exc}") from None
    for i, item in enumerate(spec.rois.get("masks", [])):
        where = f"[rois] masks #{i + 1} ({item.get('name')!r})"
        if not Path(item["path"]).is_file():
            raise SpecError(f"{where}: the mask image {item['path']!r} does not exist.")
        try:
            rois.append(MaskROI(item["name"], item["path"]))
        except (PainmarkersError, ValueError, TypeError, OSError) as exc:
            raise SpecError(f"{where}: {exc}") from None
    names = [r.name for r in rois]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SpecError(f"[rois]: ROI name(s) {twice} are defined twice (the ROI set "
                        f"{spec.rois.get('set')!r} may already hold them); rename the spheres.")
    return tuple(rois)


# -- the check result -------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyCheck:  # numpydoc ignore=PR01,EX01
    """What :func:`check_study` found.

    Attributes
    ----------
    spec : StudySpec
        The specification checked.
    problems : tuple of str
        Errors, each naming its analysis, ROI or extractor; empty when the study can run.
    notes : tuple of str
        Things the run will report but that are not errors (e.g. a default Table 1
        variable absent from ``participants.tsv``), and the keys renamed in painmarkers
        0.2 that the specification still uses (``group`` -> ``levels``...).
    n_subjects, n_sessions : int
        Size of the dataset as read.
    groups : dict of str to int
        Subjects per group label (empty for an ungrouped dataset).
    sessions : dict of str to int
        Sessions per session label.
    features : tuple of str
        Features the extractors will produce (map kinds and ROI-measure prefixes).
    cohort : Cohort
        The dataset as read.
    rois, extractors : tuple
        The ROIs and extractors built from the specification.

    See Also
    --------
    check_study : Compute it; its examples use this result.
    """

    spec: StudySpec
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    n_subjects: int = 0
    n_sessions: int = 0
    groups: Mapping[str, int] = field(default_factory=dict)
    sessions: Mapping[str, int] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    cohort: Cohort | None = field(default=None, repr=False, compare=False)
    rois: tuple = field(default=(), repr=False, compare=False)
    extractors: tuple = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """Plain-text account: the dataset as read, then the problems and notes.

        Returns
        -------
        str
            The dataset's subjects, groups, sessions, extractors and analyses, then
            each problem (or that none was found) and each note, one per line.
        """
        groups = ", ".join(f"{g} {n}" for g, n in self.groups.items()) or "no group labels"
        sessions = ", ".join(f"{s} {n}" for s, n in self.sessions.items()) or "none"
        lines = [f"Study {self.spec.name!r}: {self.n_subjects} subjects ({groups}), "
                 f"{self.n_sessions} sessions ({sessions}); {len(self.spec.extractors)} "
                 f"extractor(s) producing {list(self.features) or 'no feature'}; "
                 f"{len(self.spec.analyses)} analyses."]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("No problem found: the specification fits the dataset.")
        if self.notes:
            lines.append("Notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        """Raise one :class:`SpecError` listing every problem (no-op when there are none).

        Raises
        ------
        SpecError
            When :attr:`problems` is not empty; the message lists every problem.
        """
        if self.problems:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            raise SpecError(f"The study specification{_source(self.spec)} does not fit its "
                            f"dataset ({len(self.problems)} problem(s)):\n{listed}")


def _source(spec: StudySpec) -> str:
    return f" {str(spec.source)!r}" if spec.source is not None else ""


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _close(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'CLBP'?)`` when a choice is close to ``value`` (case included)."""
    choices = list(choices)
    folded = {c.casefold(): c for c in choices}
    if value.casefold() in folded:
        return f"; did you mean {folded[value.casefold()]!r}? (labels are case-sensitive)"
    near = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


# -- the checker ------------------------------------------------------------------------------
class _Checker:
    """Collects the problems of one specification against one cohort."""

    def __init__(self, spec: StudySpec, cohort: Cohort, rois: tuple, extractors: list,
                 participants_note: str):
        self.spec, self.cohort, self.rois = spec, cohort, rois
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.participants_note = participants_note
        wide = cohort.wide()
        self.columns = set(wide.columns)
        self.wide = wide
        self.by_group: dict[str | None, set[str]] = {}
        for sub, ses in cohort.iter_sessions():
            self.by_group.setdefault(sub.group, set()).add(ses.label)
        self.labels = {ses.label for _, ses in cohort.iter_sessions()}
        self.maps, self.measures = _produced(extractors, rois)
        self.roi_names = {r.name for r in rois}
        self.measure_columns = self.columns | {schema.measure_column(f, r)
                                               for f in self.measures for r in self.roi_names}

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # labels
    def groups_needed(self, where: str, why: str) -> bool:
        if self.cohort.groups:
            return True
        self.problem(where, f"{why} needs group labels, but the dataset has none "
                            f"({self.participants_note}).")
        return False

    def group(self, label: Any, where: str, key: str = "levels") -> bool:
        """``label`` (or each of a list of labels) is a group of the dataset."""
        if label is None:
            return True
        if isinstance(label, list | tuple):
            return all([self.group(g, where, key) for g in label])
        if not self.groups_needed(where, f"{key!r} = {label!r}"):
            return False
        if label not in self.cohort.groups:
            self.problem(where, f"{key} {label!r} is not a group of the dataset (groups: "
                                f"{list(self.cohort.groups)}){_close(label, self.cohort.groups)}.")
            return False
        return True

    def session(self, label: Any, where: str, key: str = "sessions", group: Any = None) -> bool:
        """``label`` is a session of the dataset (and of ``group``, a label or a list)."""
        if label is None:
            return True
        if isinstance(group, list | tuple):
            return all([self.session(label, where, key, g) for g in group]) if group \
                else self.session(label, where, key)
        if label not in self.labels:
            self.problem(where, f"{key} {label!r} is not a session label of the dataset "
                                f"(sessions: {sorted(self.labels)}){_close(label, self.labels)}.")
            return False
        if group is not None and group in self.by_group \
                and label not in self.by_group[group]:
            self.problem(where, f"{key} {label!r} is not a session of group {group!r} (its "
                                f"sessions: {sorted(self.by_group[group])}).")
            return False
        return True

    # variables
    def variable(self, name: str, where: str, key: str) -> bool:
        try:
            inst = get_instrument(name).name
        except LookupError:
            inst = None
        if inst is not None:
            if inst in self.columns:
                return True
            self.problem(where, f"{key} {name!r} is an instrument with no score in the dataset "
                                f"(scores: {sorted(self._scores())}).")
            return False
        if name in self.maps and not self.roi_names:
            self.problem(where, f"{key} {name!r} is a feature, but the specification "
                                "defines no ROIs to summarise it in; add a [rois] table.")
            return False
        if name in self.measures or any(c.startswith(f"{name}__")
                                        for c in self.measure_columns):
            return True
        if name in self.measure_columns:
            return True
        features = sorted({c.split("__")[0] for c in self.measure_columns if "__" in c})
        self.problem(where, f"{key} {name!r} is neither an instrument with scores "
                            f"({sorted(self._scores())}), a feature ({features}) nor a column "
                            f"of the cohort table{_close(name, self.measure_columns)}.")
        return False

    def _scores(self) -> set[str]:
        from painmarkers.model import list_instruments

        known = {get_instrument(n).name for n in list_instruments()}
        return {c for c in self.columns if c in known}

    def columns_exist(self, names: Sequence[str], where: str, key: str) -> None:
        usable = self.columns - {schema.SUBJECT, schema.SESSION}
        for name in names:
            if name not in usable:
                self.problem(where, f"{key} {name!r} is not a column of the cohort "
                                    f"(participant or session columns: "
                                    f"{sorted(c for c in usable if '__' not in c)})"
                                    f"{_close(name, usable)}.")

    # analyses
    def analysis(self, a: AnalysisSpec) -> None:
        where = f"analysis {a.name!r} ({a.type})"
        if a.type in TRIAL_TYPES:
            check_trial_against_data(self, a.type, a.params, where)
            return
        if a.type in PATTERN_TYPES:
            check = check_pattern if a.type == "pattern" else check_external_validation
            check(self, a.params, where)
            return
        getattr(self, f"_check_{a.type}")(a.params, where)

    def _check_demographics(self, p, where):
        if p["between"] != schema.GROUP or self.cohort.groups:
            if p["between"] not in set(self.cohort.participants().columns):
                self.problem(where, f"between {p['between']!r} (the group column) is not a "
                                    "column of participants.tsv.")
        else:
            self.notes.append(f"{where}: the dataset has no group labels "
                              f"({self.participants_note}); Table 1 has one row for all "
                              "participants.")
        present = set(self.cohort.participants().columns)
        missing = [v for v in p["variables"] if v not in present]
        default = ANALYSIS_TYPES["demographics"]["optional"]["variables"]
        if missing and list(p["variables"]) != list(default):
            self.problem(where, f"variables {missing} are not columns of participants.tsv "
                                f"(its columns: {sorted(present)}).")
        elif missing:
            self.notes.append(f"{where}: {missing} are not in participants.tsv and are not "
                              "tabulated.")

    def _check_clinical_table(self, p, where):
        self.group(p["levels"], where)
        for inst in p["instruments"]:
            self.variable(inst, where, "instrument")
        self.session(p["pre"], where, "pre", p["levels"])
        self.session(p["post"], where, "post", p["levels"])

    def _check_outcomes(self, p, where):
        self.group(p["levels"], where)
        self.variable(p["instrument"], where, "instrument")
        self.session(p["pre"], where, "pre", p["levels"])
        self.session(p["post"], where, "post", p["levels"])

    def _check_paired_ttest(self, p, where):
        self.group(p["levels"], where)
        for dv in [p["dv"]] if isinstance(p["dv"], str) else p["dv"]:
            self.variable(dv, where, "dv")
        self.session(p["pre"], where, "pre", p["levels"])
        self.session(p["post"], where, "post", p["levels"])

    def _levels(self, levels, sessions, where) -> None:
        ok = all([self.group(g, where, "levels") for g in levels])
        for g, label in (sessions or {}).items():
            if self.group(g, where, "sessions group") and ok:
                self.session(label, where, f"sessions[{g!r}]", g)

    def _check_two_sample_ttest(self, p, where):
        if self.groups_needed(where, "a two-sample t-test"):
            self._levels(p["levels"], p["sessions"], where)
        for dv in [p["dv"]] if isinstance(p["dv"], str) else p["dv"]:
            self.variable(dv, where, "dv")

    def _check_correlation(self, p, where):
        self.group(p["levels"], where)
        self.session(p["sessions"], where, "sessions", p["levels"])
        self.variable(p["x"], where, "x")
        for y in [p["y"]] if isinstance(p["y"], str) else p["y"]:
            self.variable(y, where, "y")
        self.columns_exist(p["covariates"], where, "covariate")

    def _check_roi_table(self, p, where):
        self.variable(p["feature"], where, "feature")
        for col in p["columns"]:
            here = f"{where} column {col['label']!r}"
            if self.group(col.get("levels"), here):
                self.session(col.get("sessions"), here, "sessions", col.get("levels"))

    def _check_voxelwise(self, p, where):
        feature, design = p["feature"], p["design"]
        if feature not in self.maps and not any(
                feature in ses.images for _, ses in self.cohort.iter_sessions()):
            self.problem(where, f"feature {feature!r} is not a map any extractor produces "
                                f"(maps: {sorted(self.maps)}){_close(feature, self.maps)}.")
        if design == "two_sample":
            if self.groups_needed(where, "a two-sample voxelwise design"):
                levels = p["levels"] or list(self.cohort.groups)
                if len(levels) != 2:
                    self.problem(where, f"a two-sample design needs two groups; the dataset "
                                        f"has {list(self.cohort.groups)}: name them with "
                                        "'levels'.")
                else:
                    self._levels(levels, p["sessions"], where)
        elif design == "paired":
            self.group(p["levels"], where)
            for key, label in zip(("sessions[0]", "sessions[1]"),
                                  p["sessions"] or ["pre", "post"]):
                self.session(label, where, key, p["levels"])
        else:
            self.group(p["levels"], where)
            self.session(p["sessions"], where, "sessions", p["levels"])
        self.columns_exist(p["covariates"], where, "covariate")

    def _check_group_maps(self, p, where):
        feature = p["feature"]
        if feature not in self.maps and not any(
                feature in ses.images for _, ses in self.cohort.iter_sessions()):
            self.problem(where, f"feature {feature!r} is not a map any extractor produces nor "
                                f"an image of the sessions (maps: {sorted(self.maps)})"
                                f"{_close(feature, self.maps)}.")
        for col in p["columns"]:
            here = f"{where} column {col['label']!r}"
            if self.group(col.get("levels"), here):
                self.session(col.get("sessions"), here, "sessions", col.get("levels"))
        for roi in p["rois"]:
            if roi not in self.roi_names:
                self.problem(where, f"ROI {roi!r} is not an ROI of the specification "
                                    f"({sorted(self.roi_names)}){_close(roi, self.roi_names)}.")

    def _check_group_plot(self, p, where):
        if self.groups_needed(where, "a group plot"):
            self._levels(p["levels"], p["sessions"], where)
        for dv in [p["dv"]] if isinstance(p["dv"], str) else p["dv"]:
            self.variable(dv, where, "dv")

    def _check_composite_correlation(self, p, where):
        self.group(p["levels"], where)
        self.session(p["sessions"], where, "sessions", p["levels"])
        for key in ("x", "y"):
            for name in [p[key]] if isinstance(p[key], str) else p[key]:
                self.variable(name, where, key)
        self.columns_exist(p["covariates"], where, "covariate")

    def _check_seed_comparison(self, p, where):
        earlier = [a.name for a in self.spec.analyses]
        for j, row in enumerate(p["rows"]):
            table = row.get("table")
            if table is not None and not any(table == a or table.startswith(f"{a}_")
                                             for a in earlier):
                self.problem(where, f"rows #{j + 1}: table {table!r} is not written by an "
                                    f"analysis of the specification ({earlier})"
                                    f"{_close(table, earlier)}.")
            roi = row.get("overlaps")
            if roi is not None and roi not in self.roi_names:
                self.problem(where, f"rows #{j + 1}: 'overlaps' {roi!r} is not an ROI of the "
                                    f"specification{_close(roi, self.roi_names)}.")

    def _check_classifier(self, p, where):
        for f in p["features"]:
            if isinstance(f, list):
                if f[1] not in self.roi_names:
                    self.problem(where, f"feature {f!r}: ROI {f[1]!r} is not an ROI of the "
                                        f"specification ({sorted(self.roi_names)})"
                                        f"{_close(f[1], self.roi_names)}.")
                else:
                    self.variable(f[0], where, "feature")
            else:
                self.variable(f, where, "feature")
        self.columns_exist(p["confounds"], where, "confound")
        target = p["target"]
        if target == schema.GROUP and not self.groups_needed(where, "target 'group'"):
            return
        if target not in self.columns:
            self.columns_exist([target], where, "target")
            return
        if p["sessions"]:
            if not self.groups_needed(where, "'sessions' = {group = session}"):
                return
            for g, label in p["sessions"].items():
                if self.group(g, where, "sessions group"):
                    self.session(label, where, f"sessions[{g!r}]", g)
        values = self.wide[target].dropna().astype(str)
        if p["positive"] not in set(values):
            self.problem(where, f"positive {p['positive']!r} is not a value of {target!r} "
                                f"(values: {sorted(set(values))})"
                                f"{_close(p['positive'], set(values))}.")
            return
        per_subject = self.wide.drop_duplicates(schema.SUBJECT)[target].dropna().astype(str)
        positive = per_subject == p["positive"]
        others = sorted(set(per_subject[~positive]))
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        smaller = min(n_pos, n_neg)
        if smaller < p["n_splits"]:
            label = p["positive"] if n_pos <= n_neg else (
                others[0] if len(others) == 1 else f"not {p['positive']}")
            self.problem(where, f"n_splits = {p['n_splits']} is more than the {smaller} "
                                f"subjects of the smaller class ({label!r}); use "
                                f"n_splits <= {smaller}.")

    def _check_prognosis(self, p, where):
        check_prognosis(self, p, where)

    def _check_signature(self, p, where):
        check_signature(self, p, where)


def _produced(extractors: list, rois: tuple) -> tuple[set[str], set[str]]:
    """Map kinds and ROI-measure features the extractors will add to the cohort."""
    from painmarkers.extractors import MapMean

    maps, measures = set(), set()
    for est in extractors:
        if isinstance(est, MapMean):
            stat = est.summary
            measures.add(est.kind if stat == "mean" else f"{est.kind}_{stat}")
            continue
        name = est.get_feature_name()
        maps.add(name)
        if rois:
            measures.add(name)
    return maps, measures


def _input_kind(est) -> str:
    from painmarkers.extractors import MapMean

    if isinstance(est, MapMean):
        return est.kind
    return getattr(est, "image_kind", None) or "bold"


def _check_extractors(checker: _Checker, extractors: list) -> None:
    """Each extractor's input images exist and its parameters pass its own ``fit``."""
    from sklearn.base import clone

    from painmarkers.extractors import MapMean

    sessions = list(checker.cohort.iter_sessions())
    first_mask = next((ses.images["mask"] for _, ses in sessions if "mask" in ses.images), None)
    for i, (spec, est) in enumerate(zip(checker.spec.extractors, extractors, strict=True)):
        where = f"[[extractors]] #{i + 1} ({spec['name']!r})"
        kind = _input_kind(est)
        lacking = [f"sub-{sub.id} ses-{ses.label}" for sub, ses in sessions
                   if kind not in ses.images]
        if lacking:
            checker.problem(where, f"{len(lacking)} of {len(sessions)} sessions have no "
                                   f"{kind!r} image: {_listing(lacking)}.")
        if isinstance(est, MapMean):
            continue
        probe = clone(est)
        if "mask_img" in probe.get_params(deep=False) and probe.mask_img is None:
            if first_mask is None:
                continue
            probe.set_params(mask_img=first_mask)
        try:
            probe.fit()
        except (PainmarkersError, ValueError, TypeError) as exc:
            checker.problem(where, str(exc))


def _check_rois_on_grid(checker: _Checker) -> None:
    """Every ROI has a voxel in the first session's brain mask."""
    import nibabel as nib
    import numpy as np

    mask_path = next((ses.images["mask"] for _, ses in checker.cohort.iter_sessions()
                      if "mask" in ses.images), None)
    if mask_path is None or not checker.rois:
        return
    img = nib.load(mask_path)
    brain = np.asarray(img.dataobj) > 0
    for roi in checker.rois:
        where = f"[rois] ROI {roi.name!r}"
        try:
            inside = int((np.asarray(roi.to_mask(img), dtype=bool) & brain).sum())
        except (PainmarkersError, ValueError, LookupError) as exc:
            text = str(exc)
            checker.problems.append(f"[rois] {text}" if text.startswith(f"ROI {roi.name!r}")
                                    else f"{where}: {text}")
            continue
        if inside == 0:
            size = getattr(roi, "radius_mm", None)
            checker.problem(where, f"has no voxel inside the brain mask {str(mask_path)!r} "
                                   f"(voxel size {img.header.get_zooms()[0]:g} mm"
                                   + (f", radius {size:g} mm" if size else "")
                                   + "); use a larger radius or finer data.")


def _participants_note(dataset: Path) -> str:
    path = dataset / "participants.tsv"
    if not path.is_file():
        return f"{str(path)!r} does not exist"
    return f"{str(path)!r} has no 'group' column or no group value"


def check_study(spec: StudySpec | str | PathLike, cohort: Cohort | None = None, *,
                raise_on_problems: bool = True) -> StudyCheck:
    """Check a study specification against its dataset without extracting anything.

    Builds the ROIs and extractors, reads the dataset's tables and file index, checks
    each extractor's parameters (its ``fit`` on the first brain mask) and input images,
    that each ROI reaches into the brain mask, and every analysis: group and session
    labels exist (per group where the analysis selects one), instruments have scores,
    features are produced by an extractor or present, covariates and confounds are
    columns, designs that compare groups have group labels, and ``n_splits`` fits the
    smaller class. Value ranges (``n_permutations``, ``voxel_p``...) were checked when
    the specification was read (:func:`~painmarkers.study.parse_spec`).

    Parameters
    ----------
    spec : StudySpec or path-like
        A validated specification or its TOML file.
    cohort : Cohort or None, default=None
        The dataset as read (``Cohort.from_bids`` of the spec's dataset when None).
    raise_on_problems : bool, default=True
        Raise one :class:`SpecError` listing every problem; with False the problems
        are only returned.

    Returns
    -------
    StudyCheck
        ``problems`` (each naming its analysis, extractor or ROI), ``notes``, the
        dataset's subjects, groups and sessions, and ``summary()``.

    Raises
    ------
    SpecError
        Invalid specification, unknown extractor or ROI name or extractor parameter
        (these first, one at a time), or (with ``raise_on_problems``) every problem
        found against the dataset, in one message.
    DataError
        The dataset folder does not exist or cannot be read as BIDS.

    See Also
    --------
    painmarkers.study.run_study : Runs the same checks before extracting.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from painmarkers.datasets import simulate_cohort
    >>> from painmarkers.study import check_study, parse_spec
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = simulate_cohort("rtms_alff_clbp", root / "bids", resolution_mm=8, n_volumes=64,
    ...                     n_clbp=2, n_hc=2)
    >>> spec = parse_spec({"study": {"dataset": "bids"}, "analyses": [
    ...     {"type": "outcomes", "instrument": "VAS", "levels": "clbp"}]}, base_dir=root)
    >>> report = check_study(spec, raise_on_problems=False)
    >>> report.ok, "analysis 'outcomes_1' (outcomes): levels 'clbp'" in report.problems[0]
    (False, True)
    >>> "did you mean 'CLBP'?" in report.problems[0]
    True
    """
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    if not spec.dataset.is_dir():
        raise DataError(f"[study] 'dataset': the dataset folder {str(spec.dataset)!r} of the "
                        "study does not exist.")
    # names that need only the registries are checked first, one error at a time
    rois = build_rois(spec)
    extractors = build_extractors(spec, rois)
    if cohort is None:
        cohort = Cohort.from_bids(spec.dataset, derivatives=list(spec.derivatives) or None,
                                  task=spec.task, space=spec.space)
    checker = _Checker(spec, cohort, rois, extractors, _participants_note(spec.dataset))
    _check_extractors(checker, extractors)
    _check_rois_on_grid(checker)
    if spec.exclusion:
        lacking = [f"sub-{sub.id} ses-{ses.label}" for sub, ses in cohort.iter_sessions()
                   if "confounds" not in ses.images]
        if lacking:
            checker.notes.append(f"[exclusion]: {len(lacking)} session(s) have no confounds "
                                 f"file, so the motion rule cannot assess them (they are "
                                 f"kept and listed in the report): {_listing(lacking)}.")
    for analysis in spec.analyses:
        checker.analysis(analysis)
        if analysis.renamed:
            checker.notes.append(
                f"analysis {analysis.name!r} ({analysis.type}) uses old key names, which work "
                f"until painmarkers {REMOVAL}: rename "
                + ", ".join(f"{old!r} to {new!r}" for old, new in analysis.renamed) + ".")
    counts: dict[str, int] = {}
    for _, ses in cohort.iter_sessions():
        counts[ses.label] = counts.get(ses.label, 0) + 1
    result = StudyCheck(
        spec=spec, problems=tuple(dict.fromkeys(checker.problems)),
        notes=tuple(dict.fromkeys(checker.notes)),
        n_subjects=len(cohort), n_sessions=cohort.n_sessions,
        groups={g: len(cohort.select(levels=g)) for g in cohort.groups},
        sessions=dict(sorted(counts.items())),
        features=tuple(sorted(checker.maps | checker.measures)), cohort=cohort, rois=rois,
        extractors=tuple(extractors))
    if raise_on_problems:
        result.raise_for_problems()
    return result
