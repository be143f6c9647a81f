"""A methods section generated from the provenance of a study run, in plain English.

Every sentence comes from what the run recorded (``provenance.json``): the cohort and
exclusions, the extractors and their parameters, each ROI with its centre and its size
in voxels and mm³ on the analysis grid, each analysis with its covariates and
thresholds, and the software versions. Values are written as words and numbers, never
as Python reprs (no dicts, lists or object reprs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from painmarkers._words import plain

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
    "vickers2001": "Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and "
                   "follow up measurements. BMJ 323:1123-1124.",
    "greenhouse1959": "Greenhouse SW, Geisser S (1959). On methods in the analysis of profile "
                      "data. Psychometrika 24:95-112.",
    "huynh1976": "Huynh H, Feldt LS (1976). Estimation of the Box correction for degrees of "
                 "freedom from sample data in randomized block and split-plot designs. J Educ "
                 "Stat 1:69-82.",
    "bates2015": "Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects "
                 "models using lme4. J Stat Softw 67(1).",
    "kuznetsova2017": "Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest package: "
                      "tests in linear mixed effects models. J Stat Softw 82(13).",
    "kenward1997": "Kenward MG, Roger JH (1997). Small sample inference for fixed effects from "
                   "restricted maximum likelihood. Biometrics 53:983-997.",
    "newcombe1998": "Newcombe RG (1998). Interval estimation for the difference between "
                    "independent proportions: comparison of eleven methods. Stat Med "
                    "17:873-890.",
    "altman1998": "Altman DG (1998). Confidence intervals for the number needed to treat. BMJ "
                  "317:1309-1312.",
    "winkler2014": "Winkler AM, Ridgway GR, Webster MA, Smith SM, Nichols TE (2014). "
                   "Permutation inference for the general linear model. NeuroImage 92:381-397.",
    "poldrack2020": "Poldrack RA, Huckins G, Varoquaux G (2020). Establishment of best practices "
                    "for evidence for prediction: a review. JAMA Psychiatry 77:534-540.",
    "steyerberg2010": "Steyerberg EW et al. (2010). Assessing the performance of prediction "
                      "models: a framework for traditional and novel measures. Epidemiology "
                      "21:128-138.",
    "wager2013": "Wager TD et al. (2013). An fMRI-based neurologic signature of physical pain. "
                 "N Engl J Med 368:1388-1397.",
    "haufe2014": "Haufe S et al. (2014). On the interpretation of weight vectors of linear "
                 "models in multivariate neuroimaging. NeuroImage 87:96-110.",
}


def extractor_summary(name: str, params: Mapping[str, Any]) -> str:
    """An extractor and its settings in a few words: ``alff (band 0.01-0.08 Hz, ...)``.

    Parameters
    ----------
    name : str
        Registered extractor name.
    params : mapping
        Its parameters as written in the specification.

    Returns
    -------
    str

    Examples
    --------
    >>> from painmarkers.reporting.methods import extractor_summary
    >>> extractor_summary("alff", {"band": [0.01, 0.08], "standardize": "mean"})
    'alff (band 0.01-0.08 Hz, standardize mean)'
    """
    settings = [f"band {_fmt_band(v)}" if k == "band" else f"{k.replace('_', ' ')} {plain(v)}"
                for k, v in params.items()]
    return f"{name} ({', '.join(settings)})" if settings else name


def _fmt_band(band: Any) -> str:
    try:
        lo, hi = band
        return f"{float(lo):g}-{float(hi):g} Hz"
    except (TypeError, ValueError):
        return "0.01-0.08 Hz"


def _number_word(n: int) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "ten", "eleven", "twelve")
    return words[n] if 0 <= n < len(words) else str(n)


def _measure(name: Any, *, per_roi: bool = False) -> str:
    """``alff__mPFC`` -> ``ALFF (mPFC)``; a bare feature -> ``ALFF`` (``at each ROI``)."""
    from painmarkers.reporting.labels import FEATURE_LABELS, measure_label

    if isinstance(name, list | tuple) and len(name) == 2:
        name = f"{name[0]}__{name[1]}"
    if isinstance(name, str) and "__" not in name:
        if name.startswith("seed_fc_"):
            label = f"seed FC of {name[len('seed_fc_'):]}"
        elif name in FEATURE_LABELS:
            label = FEATURE_LABELS[name]
        else:
            return name
        return f"{label} at each ROI" if per_roi else label
    return str(measure_label(name))


def _measures(names: Any) -> str:
    names = names if isinstance(names, list | tuple) else [names]
    return plain([_measure(n, per_roi=True) for n in names])


def _covariates(p: Mapping[str, Any], key: str = "covariates") -> str:
    covs = p.get(key) or []
    covs = [covs] if isinstance(covs, str) else list(covs)
    return plain(covs) if covs else ""


def _who(p: Mapping[str, Any]) -> str:
    """`` in the CLBP group at session pre`` from ``levels`` and one-label ``sessions``.

    The keys before painmarkers 0.2 (``group``, ``session``) are read too, so the
    provenance of an older run still gives its sentence.
    """
    parts = []
    levels = p.get("levels", p.get("group"))
    if levels:
        several = isinstance(levels, list | tuple) and len(levels) > 1
        parts.append(f"the {plain(levels)} group{'s' if several else ''}")
    sessions = p.get("sessions", p.get("session"))
    if isinstance(sessions, str) and sessions:
        parts.append(f"session {sessions}")
    return f" in {' at '.join(parts)}" if parts else ""


def _p(value: Any) -> str:
    return f"{float(value):g}".replace("0.", ".", 1) if value is not None else "?"


def _extractor_sentence(name: str, params: Mapping[str, Any], cite) -> str:
    if name in ("alff", "falff"):
        std = params.get("standardize")
        std_txt = {"mean": " and divided by its mean over the brain mask (mALFF, a ratio "
                           "without units)",
                   "z": " and z-standardised within the brain mask (zALFF)"}.get(std, "")
        return (f"{'Fractional ALFF' if name == 'falff' else 'ALFF'} was computed per voxel "
                f"in the {_fmt_band(params.get('band'))} band with the "
                f"{plain(params.get('convention', 'dpabi'))} convention (linear detrending, "
                "zero padding to a power of two, mean FFT amplitude over the band bins)"
                f"{std_txt} {cite('zang2007')}{cite('zou2008') if name == 'falff' else ''}"
                f"{cite('yan2016')}.")
    if name == "seed_fc":
        seed = params.get("seed")
        if isinstance(seed, str) and ":" in seed:
            atlas, label = seed.split(":", 1)
            seed_txt = f"the {atlas.upper() if atlas == 'aal' else atlas} region {label}"
        elif isinstance(seed, list | tuple) and len(seed) == 3:
            seed_txt = f"a sphere at MNI ({', '.join(f'{float(c):g}' for c in seed)})"
        else:
            seed_txt = plain(seed)
        conf = params.get("confounds_strategy")
        conf_txt = (f", after regressing out the fMRIPrep confounds {plain(conf)} "
                    f"({plain(params.get('motion', 'basic'))} motion expansion)" if conf else "")
        band = ""
        if params.get("high_pass") or params.get("low_pass"):
            band = (f", band-pass filtered to {plain(params.get('high_pass'))}-"
                    f"{plain(params.get('low_pass'))} Hz")
        return (f"Seed-based functional connectivity of {seed_txt} was the Pearson correlation "
                f"between the seed's mean BOLD time series and every voxel's"
                f"{conf_txt}{band}, Fisher z-transformed.")
    if name == "map_mean":
        kind = str(params.get("kind", "qsm"))
        what = ("the quantitative susceptibility maps (QSM, ppm)" if kind == "qsm"
                else f"the {kind} maps")
        return (f"The {params.get('statistic', 'mean')} of {what} was taken within each ROI "
                "(voxels inside the brain mask).")
    if not params:
        return f"The {name} extractor was applied with its default parameters."
    settings = "; ".join(f"{k.replace('_', ' ')} {plain(v)}" for k, v in params.items())
    return f"The {name} extractor was applied ({settings})."


def _roi_sentences(rois: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rois:
        return []
    parts = []
    for r in rois:
        centre = [r.get("centre_x"), r.get("centre_y"), r.get("centre_z")]
        where = ""
        if all(isinstance(c, int | float) and math.isfinite(c) for c in centre):
            where = f" at MNI ({', '.join(f'{c:.0f}' for c in centre)})"
        n = int(r.get("n_voxels", 0))
        vol = float(r.get("volume_mm3", float("nan")))
        parts.append(f"{r.get('roi')} ({r.get('definition', r.get('kind', 'ROI'))}{where}; "
                     f"{n} voxel{'s' if n != 1 else ''}, {vol:.0f} mm³)")
    text = (f"{_number_word(len(rois)).capitalize()} regions of interest were used, with their "
            f"size on the analysis grid: {plain(parts)}.")
    small = [r for r in rois if r.get("small")]
    out = [text]
    if small:
        out.append(f"{plain([str(r.get('roi')) for r in small])} "
                   f"{'has' if len(small) == 1 else 'have'} fewer than "
                   f"{int(small[0].get('min_voxels', 4))} voxels on this grid, so "
                   f"{'its value rests' if len(small) == 1 else 'their values rest'} on one "
                   "or a few voxels.")
    return out


def _voxelwise_sentence(p: Mapping[str, Any], rec: Mapping[str, Any], cite) -> str:
    design = str(p.get("design", "")).replace("_", "-")
    feature = _measure(p.get("feature"))
    contrast = rec.get("contrast")
    covs = _covariates(p)
    txt = (f"Voxelwise {design} t-tests of {feature} maps"
           + (f" (contrast {contrast}, n = {rec.get('n')} maps)" if contrast else "")
           + " were fitted as ordinary least-squares GLMs, "
           + (f"with {covs} as mean-centred covariates" if covs else "without covariates"))
    fwhm = rec.get("fwhm_mm")
    if fwhm:
        fv = rec.get("fwhm_voxels")
        txt += (f"; the residual smoothness was FWHM {plain(fwhm)} mm"
                + (f" ({plain(fv)} voxels)" if fv else ""))
    corr = p.get("correction") or []
    tails = "two" if p.get("two_tailed", True) else "one"
    if "grf" in corr:
        txt += (f"; clusters were corrected by Gaussian random field theory "
                f"({str(p.get('grf_method', 'fsl')).upper()} implementation, voxel p < "
                f"{_p(p.get('voxel_p'))}, cluster p < {_p(p.get('cluster_p'))}, {tails}-tailed) "
                f"{cite('friston1994')}{cite('worsley1996')}")
        if float(p.get("voxel_p", 0.001)) > 0.001:
            txt += (f"; cluster-forming thresholds more lenient than p = .001 inflate the "
                    f"family-wise error rate of GRF {cite('eklund2016')}")
    if "permutation" in corr:
        txt += (f"; permutation inference ({p.get('n_permutations')} permutations, maximum "
                f"cluster size, voxel p < {_p(p.get('voxel_p'))}, {tails}-tailed) gave "
                f"family-wise-error-corrected cluster p values {cite('nichols2002')}")
    return txt + "."


def _analysis_sentence(rec: Mapping[str, Any], cite) -> str | None:
    kind, p = rec.get("type"), rec.get("params", {})
    if kind == "demographics":
        return None
    if kind == "clinical_table":
        return (f"{plain(p.get('instruments'))} were compared between {p.get('pre', 'pre')} "
                f"and {p.get('post', 'post')}{_who(p)} with paired t-tests.")
    if kind == "outcomes":
        return (f"Percent change of {p.get('instrument')}{_who(p)} from {p.get('pre', 'pre')} "
                f"to {p.get('post', 'post')} was 100·(pre − post)/pre; responders were "
                f"defined by IMMPACT thresholds (≥ 30 % moderate, ≥ 50 % substantial) "
                f"{cite('dworkin2008')}.")
    if kind == "paired_ttest":
        return (f"Paired t-tests compared {_measures(p.get('dv'))} between "
                f"{p.get('pre', 'pre')} and {p.get('post', 'post')}{_who(p)}; effect sizes "
                "are Cohen's d_z with Hedges' g, and the p values of one table were corrected "
                f"by the Benjamini-Hochberg FDR {cite('benjamini1995')}.")
    if kind == "two_sample_ttest":
        groups = p.get("levels") or p.get("groups") or []
        test = "Student" if p.get("equal_var", True) else "Welch"
        sess = (f" (sessions {plain(p.get('sessions'))})" if p.get("sessions") else "")
        return (f"{test} two-sample t-tests compared {_measures(p.get('dv'))} between "
                f"{plain(groups)}{sess}; effect sizes are Cohen's d with Hedges' g, and the p "
                f"values of one table were corrected by the Benjamini-Hochberg FDR "
                f"{cite('benjamini1995')}.")
    if kind == "correlation":
        method = str(p.get("method", "pearson")).capitalize()
        covs = _covariates(p)
        what = (f"Partial {method} correlations adjusted for {covs}" if covs
                else f"{method} correlations (no covariates)")
        corr = p.get("correction")
        corr_txt = (f", with Benjamini-Hochberg FDR correction across ROIs "
                    f"{cite('benjamini1995')}" if corr == "fdr_bh"
                    else f", with {corr} correction across ROIs" if corr else "")
        return (f"{what} related {_measure(p.get('x'))} to {_measures(p.get('y'))}{_who(p)} "
                f"(95 % CI by Fisher z){corr_txt}.")
    if kind == "roi_table":
        cols = [c.get("label") for c in p.get("columns", []) if isinstance(c, Mapping)]
        return (f"One-sample t-tests compared {_measure(p.get('feature'), per_roi=True)} with "
                f"{plain(p.get('mu', 0.0))} in {plain(cols)} (two-sided, uncorrected).")
    if kind == "voxelwise":
        return _voxelwise_sentence(p, rec, cite)
    if kind == "classifier":
        confounds = _covariates(p, "confounds")
        return (f"The biomarker ({_measures(p.get('features', []))}) was evaluated for "
                f"{p.get('target')} (positive: {p.get('positive')}) with a standardised L2 "
                f"logistic regression in {plain(p.get('n_repeats', 10))} repeats of "
                f"{plain(p.get('n_splits', 5))}-fold stratified cross-validation grouped by "
                "subject, every preprocessing step fitted within training folds"
                + (f" (confounds {confounds} regressed out within folds)" if confounds else "")
                + f"; the ROC AUC is given with a DeLong 95 % CI {cite('delong1988')} and a "
                f"label-permutation p ({plain(p.get('n_permutations'))} permutations) "
                f"{cite('varoquaux2018')}.")
    trial = _trial_sentence(str(kind), p, cite)
    if trial is not None:
        return trial
    settings = "; ".join(f"{k.replace('_', ' ')} {plain(v)}" for k, v in p.items())
    return f"Analysis {rec.get('name', kind)} ({kind}) was run ({settings})."


def _arms(p: Mapping[str, Any]) -> str:
    levels = p.get("levels") or p.get("groups")
    between = p.get("between", "group")
    return f"{plain(levels)} ({between})" if levels else f"the levels of {between}"


def _fdr(p: Mapping[str, Any], cite) -> str:
    corr = p.get("correction")
    if corr in (None, "none"):
        return ""
    if corr == "fdr_bh":
        return f"; p values of one table were corrected by the Benjamini-Hochberg FDR " \
               f"{cite('benjamini1995')}"
    return f"; p values of one table were corrected ({corr})"


_DDF_NAMES = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger",
              "wald": "infinite (Wald)"}


def _trial_sentence(kind: str, p: Mapping[str, Any], cite) -> str | None:
    """Sentences of the trial-design and prediction analyses (None for other kinds)."""
    covs = _covariates(p)
    pre, post = plain(p.get("pre") or "pre"), plain(p.get("post") or "post")
    with_covs = f", adjusted for {covs}" if covs else ", without covariates"
    if kind == "ancova":
        return (f"{_measures(p.get('dv'))} at {post} were compared between "
                f"{_arms(p)} by ANCOVA adjusted for the {pre} value "
                f"{cite('vickers2001')}{', and for ' + covs if covs else ''} (Type "
                f"{p.get('ss_type', 3)} sums of squares; adjusted means with 95 % CIs; "
                f"pairwise contrasts with {p.get('posthoc', 'holm')} adjustment)"
                f"{_fdr(p, cite)}.")
    if kind == "mixed_anova":
        return (f"{_measures(p.get('dv'))} were analysed by split-plot (mixed) ANOVA with "
                f"{_arms(p)} between and {p.get('within', 'session')} within subjects"
                f"{with_covs} (Type III; subjects missing a visit excluded); sphericity was "
                f"tested by Mauchly's test and the within-subject p values corrected by "
                f"Greenhouse-Geisser or Huynh-Feldt epsilons ({p.get('sphericity', 'auto')}) "
                f"{cite('greenhouse1959')}{cite('huynh1976')}{_fdr(p, cite)}.")
    if kind == "lmm":
        ddf = str(p.get("ddf", "satterthwaite"))
        lme4 = cite("bates2015")
        df_ref = {"satterthwaite": cite("kuznetsova2017"),
                  "kenward-roger": cite("kenward1997")}.get(ddf, "")
        formula = p.get("formula") or f"~ {p.get('between', 'group')} * " \
                                      f"{p.get('within', 'session')}"
        random = ("intercept" if str(p.get("random", "1")) == "1"
                  else "effects " + plain(p.get("random")))
        fit = "REML" if p.get("reml", True) else "ML"
        return (f"{_measures(p.get('dv'))} were analysed by linear mixed models ({formula}, "
                f"random {random} per subject, {fit}) using every available visit {lme4}"
                f"{with_covs}; fixed effects and Type III F tests used {_DDF_NAMES[ddf]} "
                f"degrees of freedom "
                f"{df_ref}, and the difference in differences between arms is given with its "
                f"95 % CI{_fdr(p, cite)}.")
    if kind == "responders":
        return (f"Responders on {p.get('instrument')} (≥ {plain(p.get('moderate', 30.0))} % "
                f"and ≥ {plain(p.get('substantial', 50.0))} % improvement from "
                f"{pre} to {post}) {cite('dworkin2008')} were "
                f"compared between {_arms(p)} by the risk difference with Newcombe's hybrid "
                f"score interval {cite('newcombe1998')}, the number needed to treat with its "
                f"interval {cite('altman1998')} and Fisher's exact test.")
    if kind in ("voxelwise_glm", "voxelwise_lmm"):
        feature = _measure(p.get("feature"))
        formula = p.get("formula") or f"~ {p.get('between', 'group')} * " \
                                      f"{p.get('within', 'session')}"
        tails = "two" if p.get("two_tailed", True) else "one"
        corr = p.get("correction") or []
        if kind == "voxelwise_glm":
            txt = (f"Voxelwise general linear models of the {feature} maps ({formula}"
                   + (", with one effect per subject" if p.get("subject_effects", True)
                      else "") + f"{with_covs}) were tested with t and F contrasts")
        else:
            txt = (f"Voxelwise linear mixed models of the {feature} maps ({formula}, random "
                   f"intercept per subject{with_covs}) were fitted at every voxel with "
                   f"{_DDF_NAMES[str(p.get('ddf', 'satterthwaite'))]} degrees of freedom "
                   f"{cite('kuznetsova2017')}; their z maps were thresholded")
        if "grf" in corr:
            txt += (f"; clusters were corrected by Gaussian random field theory (voxel p < "
                    f"{_p(p.get('voxel_p'))}, cluster p < {_p(p.get('cluster_p'))}, "
                    f"{tails}-tailed) {cite('friston1994')}{cite('worsley1996')}")
        if "permutation" in corr:
            txt += (f"; permutation inference ({plain(p.get('n_permutations'))} "
                    f"rearrangements {p.get('block_permutation', 'within')} subjects, "
                    f"Freedman-Lane) gave family-wise-error-corrected cluster p values "
                    f"{cite('winkler2014')}")
        return txt + "."
    if kind == "prognosis":
        confounds = _covariates(p, "confounds")
        clinical = p.get("clinical") or []
        return (f"The {str(p.get('outcome', 'percent_change')).replace('_', ' ')} of "
                f"{p.get('instrument')} from {pre} to {post} "
                f"was predicted from {_measures(p.get('features', []))} at "
                f"{plain(p.get('sessions') or p.get('pre', 'pre'))} in "
                f"{plain(p.get('n_repeats', 10))} repeats of "
                f"{plain(p.get('n_splits', 5))}-fold cross-validation grouped by subject, "
                "every preprocessing step fitted within training folds"
                + (f" (confounds {confounds} regressed out within folds)" if confounds else "")
                + f"; out-of-fold R² (sums of squares), MAE, correlation and calibration are "
                f"given with subject-bootstrap 95 % CIs {cite('poldrack2020')}"
                f"{cite('steyerberg2010')} and a permutation p "
                f"({plain(p.get('n_permutations', 1000))} permutations refitting the pipeline)"
                + (f"; the incremental value over {plain(clinical)} was assessed on the same "
                   "folds" if clinical else "") + ".")
    if kind in ("pattern", "external_validation"):
        return _pattern_sentence(kind, p, cite)
    if kind == "signature":
        return (f"The response of the {_measure(p.get('feature'))} maps to the signature "
                f"{p.get('weights')} was its {p.get('metric', 'dot')} product with the weight "
                f"map (maps resampled to its grid, {p.get('interpolation', 'continuous')} "
                f"interpolation) {cite('wager2013')}"
                + (f"; it was evaluated for {p.get('target')} (positive: "
                   f"{p.get('positive')}) by the ROC AUC and forced-choice accuracy"
                   if p.get("target") else "") + ".")
    return None


_PATTERN_MODELS = {"l2_logistic": "an L2-penalised logistic regression",
                   "linear_svm": "a linear support-vector machine",
                   "lasso_pcr": "a LASSO-PCR model (principal components, then the Lasso "
                                "with its penalty tuned by inner cross-validation)"}


def _selection(p: Mapping[str, Any]) -> str:
    """`` at pre in the CLBP and HC groups``: the sessions and group labels of an analysis."""
    sessions = p.get("sessions") or (p.get("pre") or "pre" if p.get("instrument") else None)
    if isinstance(sessions, Mapping):
        out = " at session " + plain([f"{v} ({k})" for k, v in sessions.items()])
    else:
        out = f" at session {plain(sessions)}" if sessions else ""
    levels = p.get("levels")
    if levels:
        levels = [levels] if isinstance(levels, str) else list(levels)
        out += f" in the {plain(levels)} group{'s' if len(levels) > 1 else ''}"
    return out


def _pattern_sentence(kind: str, p: Mapping[str, Any], cite) -> str:
    """Sentences of the ``pattern`` and ``external_validation`` analyses."""
    pre, post = plain(p.get("pre") or "pre"), plain(p.get("post") or "post")
    outcome = str(p.get("outcome") or "percent_change")
    if p.get("instrument"):
        target = f"the {outcome.replace('_', ' ')} of {p['instrument']} from {pre} to {post}"
    elif p.get("positive") is not None:
        target = f"{p.get('target')} (positive: {plain(p['positive'])})"
    else:
        target = plain(p.get("target"))
    if kind == "external_validation":
        card = str(p.get("card") or "").rstrip("/").replace("\\", "/").split("/")[-1]
        inputs = (f"the {_measure(p['feature'])} maps" if p.get("feature")
                  else "the inputs")
        against = (target if p.get("instrument") or p.get("target")
                   else "the outcome the card predicts (where observed)")
        return (f"The frozen model of the model card {card} was applied without refitting to "
                f"{inputs} of this cohort{_selection(p)}; its predictions were validated "
                f"against {against} by discrimination or error metrics with 95 % CIs and by "
                f"the calibration slope and intercept {cite('steyerberg2010')}, and every "
                "input was compared with its training distribution (shift in training "
                "standard deviations, values outside the training range).")
    classes = p.get("positive") is not None or (
        bool(p.get("instrument")) and outcome.startswith("responder"))
    model = p.get("model") or ("l2_logistic" if classes else "ridge")
    name = _PATTERN_MODELS.get(model, "a ridge classifier" if classes else "a ridge regression")
    confounds = _covariates(p, "confounds")
    n_boot = p.get("n_bootstrap_weights", 1000)
    text = (f"A whole-brain pattern of the {_measure(p.get('feature'))} maps{_selection(p)} "
            f"predicted {target} with {name} on every voxel of "
            + (f"the mask {str(p['mask']).replace(chr(92), '/').split('/')[-1]}"
               if p.get("mask") else "the brain mask") + ", evaluated in "
            f"{plain(p.get('n_repeats', 10))} repeats of {plain(p.get('n_splits', 5))}-fold "
            "cross-validation grouped by subject, every step fitted within training folds"
            + (f" (confounds {confounds} regressed out of every voxel within folds)"
               if confounds else "") + "; "
            + (f"the ROC AUC is given with a DeLong 95 % CI {cite('delong1988')}" if classes
               else "out-of-fold R² (sums of squares), MAE and correlation are given with "
                    f"subject-bootstrap 95 % CIs {cite('poldrack2020')}")
            + f" and a permutation p ({plain(p.get('n_permutations', 1000))} permutations "
            f"refitting the pipeline) {cite('varoquaux2018')}")
    if n_boot:
        text += (f"; the weights of the model refitted on all maps were bootstrapped over "
                 f"subjects ({plain(n_boot)} resamples) into z maps thresholded at a "
                 f"Benjamini-Hochberg FDR q < .05 {cite('benjamini1995')}")
    text += (f", and its activation pattern was computed for interpretation "
             f"{cite('haufe2014')}")
    if p.get("save_card", True):
        text += "; the final model was saved as a portable model card"
    return text + "."


_SOFTWARE = (("python", "Python"), ("numpy", "NumPy"), ("scipy", "SciPy"),
             ("pandas", "pandas"), ("nibabel", "nibabel"), ("nilearn", "nilearn"),
             ("statsmodels", "statsmodels"), ("pingouin", "pingouin"),
             ("scikit-learn", "scikit-learn"), ("matplotlib", "matplotlib"))


def methods_text(provenance: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Write a methods section from the provenance of a study run, in plain English.

    Parameters
    ----------
    provenance : mapping
        The provenance written by :func:`painmarkers.study.run_study`
        (``provenance.json``): keys ``painmarkers_version``, ``versions``,
        ``cohort`` (``n_subjects``, ``groups``, ``n_sessions``), ``exclusion``,
        ``excluded_sessions``, ``extractors`` (``name``, ``params``), ``rois``
        (rows of :func:`~painmarkers.reporting.describe_rois`) and ``analyses``
        (each with ``type``, ``params`` and what the run recorded, e.g. the
        voxelwise ``contrast`` and ``fwhm_mm``). Missing keys are left out.

    Returns
    -------
    text : str
        Paragraphs separated by a blank line (participants and quality control;
        features and ROIs; analyses; software), citing references as ``[n]``; no
        Python reprs.
    references : list of str
        The cited references, numbered in order of first citation.

    Notes
    -----
    Each analysis is described with its covariates (``"without covariates"``
    when it has none), its thresholds and corrections; every ROI with its
    definition, MNI centre and size in voxels and mm³ on the analysis grid.

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
    paragraphs: list[list[str]] = []
    cohort = provenance.get("cohort", {})
    groups = cohort.get("groups", {})
    n_subjects = cohort.get("n_subjects", sum(groups.values()) if groups else None)
    if n_subjects is not None:
        desc = f" ({', '.join(f'{n} {g}' for g, n in groups.items())})" if groups else ""
        sessions = cohort.get("n_sessions")
        parts.append(f"Data of {n_subjects} participants{desc}"
                     + (f", {sessions} sessions," if sessions is not None else "")
                     + " were analysed.")
    excl = provenance.get("exclusion") or {}
    if excl:
        limits = []
        for key, value in excl.items():
            unit = "mm" if key.endswith("_mm") else "°" if key.endswith("_deg") else ""
            label = key.replace("max_", "largest ").replace("_mm", "").replace("_deg", "")
            limits.append(f"{label.replace('_', ' ')} {plain(value)}{' ' if unit == 'mm' else ''}"
                          f"{unit}")
        n_ex = len(provenance.get("excluded_sessions", []))
        parts.append(f"Sessions exceeding the head-motion limits ({plain(limits)}) were "
                     f"excluded ({n_ex} session{'s' if n_ex != 1 else ''}); framewise "
                     f"displacement followed Power et al. {cite('power2012')}.")
    paragraphs.append(parts)
    parts = []
    for ext in provenance.get("extractors", []):
        parts.append(_extractor_sentence(str(ext.get("name", "")), ext.get("params", {}), cite))
    parts += _roi_sentences(provenance.get("rois", []))
    paragraphs.append(parts)
    # one paragraph each for the ROI/clinical statistics, the voxelwise maps and prediction
    groups: dict[str, list[str]] = {"stats": [], "voxelwise": [], "classifier": []}
    paragraph_of = {"voxelwise_glm": "voxelwise", "voxelwise_lmm": "voxelwise",
                    "prognosis": "classifier", "signature": "classifier",
                    "pattern": "classifier", "external_validation": "classifier"}
    for rec in provenance.get("analyses", []):
        sentence = _analysis_sentence(rec, cite)
        if sentence:
            kind = str(rec.get("type"))
            groups.get(paragraph_of.get(kind, kind), groups["stats"]).append(sentence)
    paragraphs += list(groups.values())
    parts = []
    versions = provenance.get("versions") or {}
    version = provenance.get("painmarkers_version", versions.get("painmarkers"))
    if version or versions:
        used = [f"{label} {versions[key]}" for key, label in _SOFTWARE if key in versions]
        parts.append(f"Analyses were run with painmarkers {version or ''}".rstrip()
                     + (f" ({plain(used)})" if used else "") + ".")
    paragraphs.append(parts)
    refs = [f"[{i + 1}] {REFERENCES[k]}" for i, k in enumerate(cited)]
    seen: set[str] = set()
    text = []
    for sentences in paragraphs:
        unique = [s for s in dict.fromkeys(sentences) if s not in seen]  # nothing said twice
        seen.update(unique)
        if unique:
            text.append(" ".join(unique))
    return "\n\n".join(text), refs
