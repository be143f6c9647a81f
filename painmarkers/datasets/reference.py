"""Published figures of the two seed studies painmarkers is built from.

The numbers are stored as package data (``painmarkers/datasets/data/seed_studies.json``)
and read with :mod:`importlib.resources`; they serve as simulation defaults, for
documentation and for plausibility checks, never as data to fit.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from painmarkers._validation import check_choice

__all__ = [
    "list_seed_studies",
    "load_seed_study",
    "seed_alff_peaks",
    "seed_clinical_table",
    "seed_demographics",
]


@lru_cache(maxsize=1)
def _load_all() -> dict[str, Any]:
    text = resources.files("painmarkers.datasets").joinpath("data", "seed_studies.json")
    return json.loads(text.read_text(encoding="utf-8"))


def list_seed_studies() -> list[str]:
    """Return the names of the stored seed studies.

    Returns
    -------
    list of str
        Sorted study names, also the design names of
        :func:`painmarkers.datasets.simulate_cohort`.

    Examples
    --------
    >>> from painmarkers.datasets import list_seed_studies
    >>> list_seed_studies()
    ['qsm_fc_clbp', 'rtms_alff_clbp']
    """
    return sorted(k for k in _load_all() if not k.startswith("_"))


def load_seed_study(name: str) -> dict[str, Any]:
    """Return the published figures of one seed study as a nested dict.

    Parameters
    ----------
    name : {"rtms_alff_clbp", "qsm_fc_clbp"}
        The study (see :func:`list_seed_studies`).

    Returns
    -------
    dict
        A deep copy (safe to modify) with keys such as ``source``, ``design``,
        ``table1_demographics`` and ``table2_clinical`` (first study) or
        ``results`` (second study).

    Raises
    ------
    ValueError
        If ``name`` is not a stored study; the message lists the stored ones.

    Notes
    -----
    Sources: Masoumbeigi et al., J Biomed Phys Eng (ALFF after 20 Hz M1 rTMS in
    chronic low back pain, ``rtms_alff_clbp``) and Ding et al., Chin J Radiol
    2025;59(12):1393-1400 (QSM and resting-state FC in CLBP, ``qsm_fc_clbp``).

    Examples
    --------
    >>> from painmarkers.datasets import load_seed_study
    >>> load_seed_study("rtms_alff_clbp")["design"]["groups"]
    {'CLBP': 15, 'HC': 10}
    """
    check_choice(name, list_seed_studies(), "name")
    return copy.deepcopy(_load_all()[name])


def seed_alff_peaks() -> pd.DataFrame:
    """Return Table 3 of the rTMS/ALFF seed study: the MNI peaks of the ALFF maps.

    Returns
    -------
    DataFrame
        One row per ROI, columns ``roi, mni_x, mni_y, mni_z, t_HC, t_pre, t_post``
        (one-sample t of the ALFF maps in healthy controls and in patients
        before and after rTMS).

    Examples
    --------
    >>> from painmarkers.datasets import seed_alff_peaks
    >>> peaks = seed_alff_peaks()
    >>> peaks.loc[peaks.roi == "mPFC", ["mni_x", "mni_y", "mni_z"]].to_numpy().tolist()
    [[1.0, 55.0, -3.0]]
    """
    table = _load_all()["rtms_alff_clbp"]["table3_alff_peaks"]
    columns = table["columns"]
    rows = [[roi, *map(float, values)] for roi, values in table.items() if roi != "columns"]
    return pd.DataFrame(rows, columns=["roi", *columns])


def seed_demographics(name: str = "rtms_alff_clbp") -> pd.DataFrame:
    """Return Table 1 (demographics) of a seed study as a tidy frame.

    Parameters
    ----------
    name : {"rtms_alff_clbp"}, default="rtms_alff_clbp"
        Only the first seed study reports a demographics table.

    Returns
    -------
    DataFrame
        One row per group, columns ``group, n, age_mean, age_sd, female_pct,
        male_pct, bmi_mean, bmi_sd, pain_duration_years_mean,
        pain_duration_years_sd`` (NaN where the paper gives nothing, e.g. pain
        duration of controls).

    Raises
    ------
    ValueError
        If ``name`` has no stored demographics table.

    Examples
    --------
    >>> from painmarkers.datasets import seed_demographics
    >>> seed_demographics().set_index("group").loc["CLBP", "age_mean"]
    np.float64(44.87)
    """
    check_choice(name, ["rtms_alff_clbp"], "name")
    table = _load_all()[name]["table1_demographics"]
    columns = ["n", "age_mean", "age_sd", "female_pct", "male_pct", "bmi_mean", "bmi_sd",
               "pain_duration_years_mean", "pain_duration_years_sd"]
    rows = []
    for group in ("CLBP", "HC"):
        rows.append({"group": group, **{c: float(table[group].get(c, float("nan")))
                                        for c in columns}})
    frame = pd.DataFrame(rows, columns=["group", *columns])
    frame["n"] = frame["n"].astype(int)
    return frame


def seed_clinical_table(name: str = "rtms_alff_clbp") -> pd.DataFrame:
    """Return Table 2 (clinical outcomes before and after rTMS) of the first seed study.

    Parameters
    ----------
    name : {"rtms_alff_clbp"}, default="rtms_alff_clbp"
        Only the first seed study reports pre/post clinical scores.

    Returns
    -------
    DataFrame
        One row per instrument (``vas``, ``rmdq``), columns ``instrument,
        pre_mean, pre_sd, post_mean, post_sd, percent_change_mean,
        percent_change_sd, paired_t`` (percent change is PPR for VAS and PDC
        for Roland-Morris: ``100 * (pre - post) / pre``).

    Raises
    ------
    ValueError
        If ``name`` has no stored clinical table.

    Examples
    --------
    >>> from painmarkers.datasets import seed_clinical_table
    >>> seed_clinical_table().set_index("instrument").loc["vas", "pre_mean"]
    np.float64(7.25)
    """
    check_choice(name, ["rtms_alff_clbp"], "name")
    table = _load_all()[name]["table2_clinical"]
    rows = []
    for instrument, key, pct in (("vas", "VAS_0_10", "PPR"), ("rmdq", "RMDQ_0_24", "PDC")):
        entry = table[key]
        rows.append({
            "instrument": instrument,
            "pre_mean": entry["pre_mean"], "pre_sd": entry["pre_sd"],
            "post_mean": entry["post_mean"], "post_sd": entry["post_sd"],
            "percent_change_mean": entry[f"{pct}_pct_mean"],
            "percent_change_sd": entry[f"{pct}_pct_sd"],
            "paired_t": entry["paired_t"],
        })
    return pd.DataFrame(rows)
