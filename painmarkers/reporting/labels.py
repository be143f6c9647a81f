"""Readable names and units of measures, for table headers, axis labels and captions.

Wide tables name a measure ``<feature>__<roi>`` (``alff__mPFC``, ``qsm__Postcentral_L``,
``seed_fc_aal:Postcentral_L__Frontal_Sup_2_L``); readers see ``ALFF (mPFC)``,
``QSM (Postcentral_L)`` and ``FC aal:Postcentral_L - Frontal_Sup_2_L``, with units where
the feature has them (QSM in ppm, seed FC as Fisher z).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FEATURE_LABELS", "FEATURE_UNITS", "feature_label", "measure_label", "measure_unit",
           "with_unit"]

#: How features are written (``alff__mPFC`` -> ``ALFF (mPFC)``).
FEATURE_LABELS: dict[str, str] = {"alff": "ALFF", "falff": "fALFF", "qsm": "QSM",
                                  "alff_meants": "ALFF", "falff_meants": "fALFF"}
#: Units of features (``None``: a ratio or arbitrary units, said in the methods text).
FEATURE_UNITS: dict[str, str] = {"qsm": "ppm", "seed_fc": "Fisher z"}


def _split(column: str) -> tuple[str, str | None]:
    if "__" in column:
        feature, roi = column.split("__", 1)
        return feature, roi
    return column, None


def measure_label(column: Any) -> Any:
    """A wide-table column as a reader sees it; other values unchanged.

    Parameters
    ----------
    column : str or any
        ``<feature>__<roi>``, an instrument or any column name.

    Returns
    -------
    str or the value unchanged

    Examples
    --------
    >>> from painmarkers.reporting.labels import measure_label
    >>> measure_label("alff__mPFC"), measure_label("seed_fc_postcentral_L__SFG_L")
    ('ALFF (mPFC)', 'FC postcentral_L - SFG_L')
    """
    if not isinstance(column, str) or "__" not in column:
        return column
    feature, roi = _split(column)
    if feature.startswith("seed_fc_"):
        return f"FC {feature[len('seed_fc_'):]} - {roi}"
    return f"{FEATURE_LABELS.get(feature, feature.replace('_', ' '))} ({roi})"


def feature_label(feature: str) -> str:
    """A feature (map kind) as a reader sees it: ``alff`` -> ``ALFF``.

    Parameters
    ----------
    feature : str
        Feature name (``alff``, ``qsm``, ``seed_fc_aal:Postcentral_L``).

    Returns
    -------
    str

    Examples
    --------
    >>> from painmarkers.reporting.labels import feature_label
    >>> feature_label("alff"), feature_label("seed_fc_aal:Postcentral_L")
    ('ALFF', 'FC of seed aal:Postcentral_L')
    """
    if feature.startswith("seed_fc_"):
        return f"FC of seed {feature[len('seed_fc_'):]}"
    return FEATURE_LABELS.get(feature, feature.replace("_", " "))


def measure_unit(column: Any) -> str | None:
    """Units of a measure or instrument column, or None when it has none (a ratio, a count).

    Parameters
    ----------
    column : str
        ``<feature>__<roi>``, a feature name or an instrument name (VAS, RMDQ, ...).

    Returns
    -------
    str or None

    Examples
    --------
    >>> from painmarkers.reporting.labels import measure_unit
    >>> measure_unit("qsm__Postcentral_L"), measure_unit("seed_fc_x__y"), measure_unit("age")
    ('ppm', 'Fisher z', None)
    """
    if not isinstance(column, str):
        return None
    feature, _ = _split(column)
    if feature.startswith("seed_fc"):
        return FEATURE_UNITS["seed_fc"]
    if feature in FEATURE_UNITS:
        return FEATURE_UNITS[feature]
    from painmarkers.model import get_instrument

    try:
        inst = get_instrument(feature)
    except LookupError:
        return None
    return inst.unit or None


def with_unit(label: str, unit: str | None) -> str:
    """``"QSM (ppm)"``: a label with its unit (unchanged without a unit).

    A label that already ends with parentheses gets the unit after a comma:
    ``"QSM (Postcentral_L), ppm"``, ``"mean CLBP, ppm"`` stays ``"mean CLBP (ppm)"``.

    Parameters
    ----------
    label : str
        Header or axis label.
    unit : str or None
        Unit.

    Returns
    -------
    str
    """
    if not unit:
        return label
    return f"{label}, {unit}" if label.endswith(")") else f"{label} ({unit})"
