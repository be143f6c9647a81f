"""A methods paragraph generated from the provenance of a study run, with references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["REFERENCES", "methods_text"]

#: References cited by the generated methods text, by key.
REFERENCES: dict[str, str] = {
    "zang2007": "Zang YF et al. (2007). Altered baseline brain activity in children with ADHD "
                "revealed by resting-state functional MRI. Brain Dev 29:83-91.",
    "zou2008": "Zou QH et al. (2008). An improved approach to detection of amplitude of "
               "low-frequency fluctuation (ALFF) for resting-state fMRI: fractional ALFF. "
               "J Neurosci Methods 172:137-141.",
    "yan2016": "Yan CG, Wang XD, Zuo XN, Zang YF (2016). DPABI: Data Processing & Analysis for "
               "(Resting-State) Brain Imaging. Neuroinformatics 14:339-351.",
    "power2012": "Power JD et al. (2012). Spurious but systematic correlations in functional "
                 "connectivity MRI networks arise from subject motion. NeuroImage 59:2142-2154.",
    "friston1994": "Friston KJ, Worsley KJ, Frackowiak RSJ, Mazziotta JC, Evans AC (1994). "
                   "Assessing the significance of focal activations using their spatial extent. "
                   "Hum Brain Mapp 1:210-220.",
    "worsley1996": "Worsley KJ et al. (1996). A unified statistical approach for determining "
                   "significant signals in images of cerebral activation. Hum Brain Mapp "
                   "4:58-73.",
    "eklund2016": "Eklund A, Nichols TE, Knutsson H (2016). Cluster failure: why fMRI inferences "
                  "for spatial extent have inflated false-positive rates. PNAS 113:7900-7905.",
    "nichols2002": "Nichols TE, Holmes AP (2002). Nonparametric permutation tests for functional "
                   "neuroimaging: a primer with examples. Hum Brain Mapp 15:1-25.",
    "smith2009": "Smith SM, Nichols TE (2009). Threshold-free cluster enhancement. NeuroImage "
                 "44:83-98.",
    "benjamini1995": "Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. "
                     "J R Stat Soc B 57:289-300.",
    "dworkin2008": "Dworkin RH et al. (2008). Interpreting the clinical importance of treatment "
                   "outcomes in chronic pain clinical trials: IMMPACT recommendations. J Pain "
                   "9:105-121.",
    "delong1988": "DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two "
                  "or more correlated ROC curves. Biometrics 44:837-845.",
    "varoquaux2018": "Varoquaux G (2018). Cross-validation failure: small sample sizes lead to "
                     "large error bars. NeuroImage 180:68-77.",
}


def _fmt_band(band: Any) -> str:
    try:
        lo, hi = band
        return f"{lo:g}-{hi:g} Hz"
    except (TypeError, ValueError):
        return "0.01-0.08 Hz"


def methods_text(provenance: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Write a methods paragraph from the provenance of a study run.

    Parameters
    ----------
    provenance : mapping
        The provenance written by :func:`painmarkers.study.run_study`
        (``provenance.json``): keys ``painmarkers_version``, ``cohort``
        (``n_subjects``, ``groups``, ``n_sessions``), ``exclusion``,
        ``excluded_sessions``, ``extractors`` and ``analyses`` (each with
        ``type`` and ``params``).

    Returns
    -------
    text : str
        The paragraph, citing references as ``[key]``.
    references : list of str
        The cited references, in order of first citation.

    Examples
    --------
    >>> from painmarkers.reporting import methods_text
    >>> text, refs = methods_text({"painmarkers_version": "0.1.0",
    ...     "cohort": {"n_subjects": 25, "groups": {"CLBP": 15, "HC": 10}, "n_sessions": 40},
    ...     "analyses": [{"type": "outcomes", "params": {"instrument": "VAS"}}]})
    >>> "IMMPACT" in text and len(refs) == 1
    True
    """
    cited: list[str] = []

    def cite(key: str) -> str:
        if key not in cited:
            cited.append(key)
        return f"[{cited.index(key) + 1}]"

    parts: list[str] = []
    cohort = provenance.get("cohort", {})
    groups = cohort.get("groups", {})
    if groups:
        desc = ", ".join(f"{n} {g}" for g, n in groups.items())
        parts.append(f"Data of {cohort.get('n_subjects', sum(groups.values()))} participants "
                     f"({desc}; {cohort.get('n_sessions', '?')} sessions) were analysed with "
                     f"painmarkers {provenance.get('painmarkers_version', '')}.")
    excl = provenance.get("exclusion") or {}
    if excl:
        rule = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in excl.items())
        n_ex = len(provenance.get("excluded_sessions", []))
        parts.append(f"Sessions exceeding the head-motion limits ({rule}) were excluded "
                     f"({n_ex} session(s) excluded); framewise displacement followed Power et al. "
                     f"{cite('power2012')}.")
    for ext in provenance.get("extractors", []):
        name, params = ext.get("name", ""), ext.get("params", {})
        if name in ("alff", "falff"):
            std = params.get("standardize")
            std_txt = {"mean": " and divided by the mean over the brain mask (mALFF)",
                       "z": " and z-standardised within the brain mask (zALFF)"}.get(std, "")
            parts.append(
                f"{'Fractional ALFF' if name == 'falff' else 'ALFF'} was computed per voxel in "
                f"the {_fmt_band(params.get('band'))} band with the "
                f"{params.get('convention', 'dpabi')} convention (linear detrending, zero "
                f"padding to a power of two, mean FFT amplitude over the band bins)"
                f"{std_txt} {cite('zang2007')}{cite('zou2008') if name == 'falff' else ''}"
                f"{cite('yan2016')}.")
        else:
            parts.append(f"The {name} extractor was applied with parameters {dict(params)}.")
    for ana in provenance.get("analyses", []):
        kind, p = ana.get("type"), ana.get("params", {})
        if kind == "outcomes":
            parts.append(f"Percent change of {p.get('instrument')} from {p.get('pre', 'pre')} to "
                         f"{p.get('post', 'post')} was 100·(pre − post)/pre; responders were "
                         f"defined by IMMPACT thresholds (≥ 30 % moderate, ≥ 50 % substantial) "
                         f"{cite('dworkin2008')}.")
        elif kind in ("paired_ttest", "two_sample_ttest"):
            test = "Paired" if kind == "paired_ttest" else "Two-sample"
            dv = p.get("dv")
            dv = ", ".join(dv) if isinstance(dv, list) else dv
            d_txt = "Cohen's d_z" if kind == "paired_ttest" else "Cohen's d"
            parts.append(f"{test} t-tests compared {dv}; effect sizes are {d_txt} "
                         "with Hedges' g, and p values across the tests "
                         f"of one table were corrected by the Benjamini-Hochberg FDR "
                         f"{cite('benjamini1995')}.")
        elif kind == "correlation":
            parts.append(f"{str(p.get('method', 'pearson')).capitalize()} correlations related "
                         f"{p.get('x')} to {p.get('y')} (95 % CI by Fisher z), with FDR "
                         f"correction across ROIs {cite('benjamini1995')}.")
        elif kind == "voxelwise":
            corr = p.get("correction", [])
            txt = (f"Voxelwise {str(p.get('design', '')).replace('_', '-')} t-tests of "
                   f"{p.get('feature')} maps were fitted as OLS GLMs")
            if "grf" in corr:
                txt += (f"; clusters were corrected by Gaussian random field theory "
                        f"({p.get('grf_method', 'fsl').upper()} implementation, voxel p < "
                        f"{p.get('voxel_p')}, cluster p < {p.get('cluster_p')}, "
                        f"{'two' if p.get('two_tailed', True) else 'one'}-tailed) "
                        f"{cite('friston1994')}{cite('worsley1996')}")
                if float(p.get("voxel_p", 0.001)) > 0.001:
                    txt += (f"; note that cluster-forming thresholds more lenient than p = 0.001 "
                            f"inflate the family-wise error rate of GRF {cite('eklund2016')}")
            if "permutation" in corr:
                txt += (f"; permutation inference ({p.get('n_permutations')} permutations, max "
                        f"cluster size) gave family-wise-error-corrected cluster p values "
                        f"{cite('nichols2002')}")
            parts.append(txt + ".")
        elif kind == "classifier":
            feats = ", ".join("_".join(map(str, f)) if isinstance(f, list | tuple) else str(f)
                              for f in p.get("features", []))
            parts.append(f"The biomarker ({feats}) was evaluated for {p.get('target')} "
                         f"(positive: {p.get('positive')}) with a standardised L2 logistic "
                         "regression in repeated stratified cross-validation grouped by subject, "
                         "every preprocessing step fitted within training folds; the ROC AUC is "
                         f"given with a DeLong 95 % CI {cite('delong1988')} and a label-"
                         f"permutation p {cite('varoquaux2018')}.")
    refs = [f"[{i + 1}] {REFERENCES[k]}" for i, k in enumerate(cited)]
    unique = list(dict.fromkeys(parts))  # the same sentence twice says nothing new
    return " ".join(unique), refs
