"""The keys of a study specification renamed in painmarkers 0.2 and their aliases.

Old keys (``group``, ``groups``, ``session``) keep working until 0.3: each gives a
FutureWarning naming the analysis, the old key and the new one; an old key given with
its new name is a SpecError. :func:`painmarkers.study.parse_spec` applies them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

from painmarkers._deprecation import REMOVAL, SINCE
from painmarkers._warnings import user_stacklevel
from painmarkers.exceptions import SpecError

__all__ = ["RENAMED_COLUMN_KEYS", "RENAMED_KEYS", "renamed_keys"]

#: Keys renamed in painmarkers 0.2 to the words of the Python API, per analysis type
#: (old key -> new key): ``group``/``groups`` (group labels) became ``levels``,
#: ``session`` (a session label) ``sessions``, and the group column of Table 1
#: ``between``. An old key still works until 0.3 with a FutureWarning naming the
#: analysis and the new key; giving an old key and its new one is a SpecError.
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "demographics": {"group": "between"},
    "clinical_table": {"group": "levels"},
    "outcomes": {"group": "levels"},
    "paired_ttest": {"group": "levels"},
    "two_sample_ttest": {"groups": "levels"},
    "correlation": {"group": "levels", "session": "sessions"},
    "voxelwise": {"groups": "levels", "group": "levels", "session": "sessions"},
    "prognosis": {"group": "levels"},
    "signature": {"group": "levels"},
    "group_plot": {"groups": "levels"},
    "composite_correlation": {"group": "levels", "session": "sessions"},
}
#: Keys of the tables of ``columns`` (``roi_table``, ``group_maps``) renamed likewise.
RENAMED_COLUMN_KEYS: dict[str, str] = {"group": "levels", "session": "sessions"}


def _toml(value: Any) -> str:
    """``value`` as written in TOML (for the messages that show the new spelling)."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _rename_keys(table: Mapping[str, Any], renames: Mapping[str, str], where: str
                 ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``table`` with its old keys renamed (a FutureWarning each) and the renames used;
    a SpecError when an old key and its new name (or two old names of it) are given."""
    out = dict(table)
    source = {key: key for key in table}
    used: list[tuple[str, str]] = []
    for old, new in renames.items():
        if old not in table:
            continue
        if new in source:
            other = source[new]
            other = f"{other!r} (also renamed {new!r})" if other != new else repr(new)
            raise SpecError(f"{where}: both {old!r} (the old name of {new!r}) and {other} "
                            f"are given; keep only {new!r}.")
        out[new] = out.pop(old)
        source[new] = old
        used.append((old, new))
        warnings.warn(f"{where}: the key {old!r} was renamed {new!r} in painmarkers {SINCE} "
                      f"(the words of the Python API) and the old name will stop working in "
                      f"{REMOVAL}. Write {new} = {_toml(out[new])}.", FutureWarning,
                      stacklevel=user_stacklevel())
    return out, used


def renamed_keys(kind: str, raw: Mapping[str, Any], where: str
             ) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    """The keys of one analysis (and of its ``columns``) in the current vocabulary."""
    raw, used = _rename_keys(raw, RENAMED_KEYS.get(kind, {}), where)
    if kind in ("roi_table", "group_maps") and isinstance(raw.get("columns"), list):
        columns = raw["columns"] = list(raw["columns"])
        for j, col in enumerate(columns):
            if isinstance(col, Mapping):
                columns[j], col_used = _rename_keys(col, RENAMED_COLUMN_KEYS,
                                                    f"{where}: 'columns' #{j + 1}")
                used += [(f"columns #{j + 1} {old}", new) for old, new in col_used]
    return raw, tuple(used)
