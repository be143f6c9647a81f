"""Signatures: the response of a published weight map (NPS-style) in new images.

:func:`pattern_expression` resamples each image to the grid of a signature's weight
map and computes its response (dot product, cosine similarity or Pearson correlation
with the weights), reporting how much of the signature each image covers;
:func:`evaluate_signature` scores the responses as a classifier (AUC, forced-choice
accuracy). The library ships no signature: bring the weights of a published one (e.g.
the NPS of Wager et al. 2013, from its authors) or of a model saved with
:func:`~painmarkers.prediction.save_model_card`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from painmarkers._docs import fill_doc
from painmarkers._validation import check_choice, check_img, check_interval
from painmarkers._versions import versions
from painmarkers._warnings import warn
from painmarkers.exceptions import DataError, DesignError, InferenceWarning
from painmarkers.prediction._apply import image_list
from painmarkers.prediction._save import save_result
from painmarkers.prediction._steps import resample_values
from painmarkers.prediction.metrics import _binary_target, forced_choice_accuracy, roc_auc_ci
from painmarkers.schema import METRIC_COLUMNS

__all__ = ["PatternExpression", "evaluate_signature", "pattern_expression"]

#: Columns of ``PatternExpression.table``.
EXPRESSION_COLUMNS = ["image", "response", "n_voxels", "coverage", "norm_coverage",
                      "resampled"]
_METRICS = ("dot", "cosine", "correlation")


@dataclass(frozen=True, eq=False)
class PatternExpression:  # numpydoc ignore=PR01,EX01
    """Result of :func:`pattern_expression`.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    responses : numpy.ndarray of shape (n_images,)
        The signature response of each image (NaN where it is undefined, e.g. a
        correlation with a constant image, with a warning).
    table : pandas.DataFrame
        One row per image: ``image`` (name), ``response``, ``n_voxels`` (signature
        voxels with data in the image), ``coverage`` (their fraction of the
        signature's voxels), ``norm_coverage`` (fraction of the signature's L2 norm
        they carry, ``||w_covered|| / ||w||``), ``resampled`` (the image was resampled
        to the weights' grid).
    overlap : dict
        ``n_weight_voxels`` (finite, non-zero weights), ``n_signature_voxels`` (those
        inside ``mask_img``: the voxels used), ``mask_coverage`` (their fraction) and
        ``mask_norm_coverage`` (fraction of the weights' L2 norm inside the mask),
        ``min_coverage`` / ``min_norm_coverage`` (over images), ``n_resampled``.
    metric : str
        ``"dot"``, ``"cosine"`` or ``"correlation"``.
    parameters : dict
        The arguments (weights file, metric, interpolation, ...).
    versions : dict
        Versions of Python, painmarkers and its dependencies.

    See Also
    --------
    pattern_expression : Compute it; its examples use this result.
    evaluate_signature : Evaluate the responses as a biomarker.
    """

    responses: np.ndarray = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    overlap: dict = field(default_factory=dict)
    metric: str = "dot"
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The per-image table (see ``table``).

        Returns
        -------
        pandas.DataFrame
            One row per image, columns ``image``, ``response``, ``n_voxels``,
            ``coverage``, ``norm_coverage``, ``resampled``.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Plain-text summary: signature, coverage, responses.

        Returns
        -------
        str
            Four lines: the signature and the number of images, the voxels used, the
            lowest coverage of an image, the mean, SD and range of the responses.
        """
        o = self.overlap
        r = self.responses[np.isfinite(self.responses)]
        return "\n".join([
            f"Pattern expression ({self.metric}) of {self.parameters.get('weights')} in "
            f"{len(self.table)} image(s)",
            f"Signature voxels used: {o['n_signature_voxels']} of {o['n_weight_voxels']} "
            f"non-zero weights (mask coverage {100 * o['mask_coverage']:.1f} %, "
            f"{100 * o['mask_norm_coverage']:.1f} % of the weight norm).",
            f"Images: lowest coverage {100 * o['min_coverage']:.1f} % of the signature "
            f"voxels ({100 * o['min_norm_coverage']:.1f} % of its norm); "
            f"{o['n_resampled']} resampled to the weights' grid "
            f"({self.parameters.get('interpolation')} interpolation).",
            "Responses: " + (f"mean {r.mean():.4g}, SD {r.std(ddof=1) if r.size > 1 else 0:.4g}"
                             f", range [{r.min():.4g}, {r.max():.4g}]" if r.size else "none"),
        ])

    @fill_doc
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write the per-image table (CSV), parameters (JSON) and summary.

        Parameters
        ----------
        %(save_directory)s

        Returns
        -------
        %(save_returns)s
            ``table`` (``pattern_expression.csv``), ``parameters`` and ``summary``.

        Raises
        ------
        %(save_raises)s
        """
        return save_result(self, directory, {"table": self.table},
                           stems={"table": "pattern_expression"},
                           extra={"overlap": self.overlap})


def _signature_voxels(weights, mask_img):
    """Weights (3-D array), the voxels used, and the mask's overlap numbers."""
    w = np.asarray(weights.get_fdata(), dtype=np.float64)
    nonzero = np.isfinite(w) & (w != 0)
    n_w = int(nonzero.sum())
    if not n_w:
        raise DataError("The weights image has no finite non-zero weight.")
    voxels = nonzero
    if mask_img is not None:
        mask = check_img(mask_img, ndim=3, name="mask_img")
        same = (mask.shape[:3] == weights.shape[:3]
                and np.allclose(mask.affine, weights.affine, atol=1e-4))
        m = (np.asarray(mask.dataobj) if same else
             resample_values(mask, weights.affine, weights.shape[:3], "nearest"))
        voxels = nonzero & (np.nan_to_num(np.asarray(m, dtype=float)) > 0)
        if not voxels.any():
            raise DataError(f"The weights image and mask_img do not overlap: none of the "
                            f"{n_w} non-zero weights lies inside the mask.")
    norm_all = float(np.linalg.norm(w[nonzero]))
    overlap = {"n_weight_voxels": n_w, "n_signature_voxels": int(voxels.sum()),
               "mask_coverage": float(voxels.sum() / n_w),
               "mask_norm_coverage": float(np.linalg.norm(w[voxels]) / norm_all)}
    return w, voxels, overlap


def _response(wv: np.ndarray, x: np.ndarray, metric: str) -> float:
    if metric == "dot":
        return float(wv @ x)
    if metric == "cosine":
        nx = float(np.linalg.norm(x))
        return float(wv @ x) / (float(np.linalg.norm(wv)) * nx) if nx > 0 else np.nan
    wc, xc = wv - wv.mean(), x - x.mean()
    den = float(np.linalg.norm(wc) * np.linalg.norm(xc))
    return float(wc @ xc) / den if den > 0 else np.nan


def pattern_expression(
    imgs,
    weights_img,
    *,
    metric: str = "dot",
    mask_img=None,
    interpolation: str = "continuous",
    nan_policy: str = "omit",
    zero_as_missing: bool = False,
    min_coverage: float = 0.9,
    names=None,
) -> PatternExpression:
    """Response of a signature (a weight map) in each image: dot, cosine or correlation.

    Parameters
    ----------
    imgs : path, image, 4-D image or list of them
        The images (e.g. contrast or feature maps); a 4-D image gives one response
        per volume.
    weights_img : path or image
        The signature's weights (3-D). Its non-zero, finite voxels are the signature.
    metric : {"dot", "cosine", "correlation"}, default="dot"
        ``"dot"``: ``Σ_v w_v x_v`` (the pattern response of Wager et al. 2013);
        ``"cosine"``: ``w·x / (||w|| ||x||)``; ``"correlation"``: Pearson r of ``w``
        and ``x`` across the signature voxels.
    mask_img : path, image or None, default=None
        Restrict the signature to the voxels of this mask (e.g. a brain mask); resampled
        to the weights' grid with nearest-neighbour interpolation if on another grid.
        No overlap with the weights raises.
    interpolation : {"continuous", "linear", "nearest"}, default="continuous"
        How images on a grid other than the weights' are resampled to it (nilearn
        ``resample_to_img``; ``"continuous"`` is 3rd-order spline interpolation).
        Images already on the weights' grid are used as they are.
    nan_policy : {"omit", "zero", "raise"}, default="omit"
        Signature voxels where an image has no data (NaN or infinite, outside its field
        of view, or 0 with ``zero_as_missing``): ``"omit"`` computes that image's
        response over the voxels it covers (the dot product then equals treating them
        as 0, cosine and correlation use the covered voxels only); ``"zero"`` counts
        them as 0 (cosine and correlation over every signature voxel); ``"raise"``
        refuses an image with any, naming it.
    zero_as_missing : bool, default=False
        Treat exact zeros of an image as missing data (maps masked with zeros outside
        the brain, as SPM and FSL write them).
    min_coverage : float, default=0.9
        Warn when an image covers less than this fraction of the signature's L2 norm.
    names : list of str or None, default=None
        One name per image (None: the file names, or ``image i``).

    Returns
    -------
    PatternExpression
        ``responses``, the per-image ``table`` (response, voxels used, coverage),
        ``overlap`` of the signature with the mask and the images, parameters and
        versions.

    Raises
    ------
    DataError
        Weights without a non-zero voxel; no overlap of weights and mask; an image
        with no data at any signature voxel (named); a missing voxel with
        ``nan_policy="raise"``; ``names`` of the wrong length.
    ImageError
        An image that cannot be read, or is not 3-D (or 4-D).
    ValueError
        A parameter out of its range.

    Warns
    -----
    InferenceWarning
        Images covering less than ``min_coverage`` of the signature's norm (named);
        an undefined response (a constant image for ``"correlation"``).

    See Also
    --------
    evaluate_signature : AUC and forced choice of the responses.
    evaluate_pattern : Train a voxel-pattern model.

    Notes
    -----
    With ``w`` the weights and ``x`` the image values at the signature voxels ``V``
    (non-zero weights, inside ``mask_img``) that the image covers:

    * dot: ``r = Σ_{v∈V} w_v x_v``. This is the signature response of the NPS
      (Wager et al. 2013) and of CANlab's ``apply_mask(..., 'pattern_expression')``; it
      scales with the image's units and the number of voxels.
    * cosine: ``r = Σ w_v x_v / (sqrt(Σ w_v²) sqrt(Σ x_v²))``, in [-1, 1], invariant to
      the image's scale (not to its offset).
    * correlation: Pearson r of ``(w_v, x_v)`` over ``V``, invariant to the image's
      scale and offset.

    Coverage of an image: ``|V| / |V_all|`` (voxels) and ``||w_V|| / ||w_{V_all}||``
    (L2 norm), ``V_all`` the signature voxels. Images are resampled to the *weights'*
    grid, so the signature's voxels and the scale of a dot-product response stay the
    same whatever the images' resolution (CANlab resamples the weights to the images
    instead; the two differ by interpolation error and, for the dot product, by the
    ratio of voxel volumes). Non-finite image voxels are set to 0 before
    interpolation and are missing afterwards wherever their nearest voxel was
    missing; grid points outside the image's field of view are missing.

    References
    ----------
    .. [1] Wager, T. D., Atlas, L. Y., Lindquist, M. A., Roy, M., Woo, C.-W., &
       Kross, E. (2013). An fMRI-based neurologic signature of physical pain. NEJM,
       368(15), 1388-1397.
    .. [2] Woo, C.-W., Chang, L. J., Lindquist, M. A., & Wager, T. D. (2017). Building
       better biomarkers: brain models in translational neuroimaging. Nature
       Neuroscience, 20(3), 365-377.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> from painmarkers.prediction import pattern_expression
    >>> affine = np.diag([3.0, 3.0, 3.0, 1.0])
    >>> w = np.zeros((5, 5, 5)); w[1:4, 1:4, 1:4] = 1.0
    >>> img = nib.Nifti1Image(np.full((5, 5, 5), 2.0), affine)
    >>> res = pattern_expression([img], nib.Nifti1Image(w, affine))
    >>> float(res.responses[0])  # 27 voxels x 1 x 2
    54.0
    """
    check_choice(metric, _METRICS, "metric")
    check_choice(interpolation, ("continuous", "linear", "nearest"), "interpolation")
    check_choice(nan_policy, ("omit", "zero", "raise"), "nan_policy")
    min_coverage = check_interval(min_coverage, "min_coverage", 0, 1, closed="both")
    weights = check_img(weights_img, ndim=3, name="weights_img")
    w, voxels, overlap = _signature_voxels(weights, mask_img)
    wv_all = w[voxels]
    norm_all = float(np.linalg.norm(wv_all))
    items = image_list(imgs, "imgs")
    if names is None:
        names = [Path(i).name if isinstance(i, str | os.PathLike) else
                 (Path(i.get_filename()).name if getattr(i, "get_filename", lambda: None)()
                  else f"image {k}") for k, i in enumerate(items)]
    names = [str(n) for n in names]
    if len(names) != len(items):
        raise DataError(f"names has {len(names)} entries for {len(items)} image(s).")
    rows, low, undefined = [], [], []
    for name, item in zip(names, items):
        img = check_img(item, ndim=3, name=name)
        same = (img.shape[:3] == weights.shape[:3]
                and np.allclose(img.affine, weights.affine, atol=1e-4))
        data = (np.asarray(img.get_fdata(), dtype=np.float64) if same else
                resample_values(img, weights.affine, weights.shape[:3], interpolation))
        x = data[voxels]
        valid = np.isfinite(x)
        if zero_as_missing:
            valid &= x != 0
        if not valid.any():
            raise DataError(f"Image {name!r} has no data at any of the "
                            f"{int(voxels.sum())} signature voxels (no overlap with the "
                            "weights).")
        if not valid.all() and nan_policy == "raise":
            raise DataError(f"Image {name!r} has no data at {int((~valid).sum())} of the "
                            f"{valid.size} signature voxels; pass nan_policy='omit' or "
                            "'zero' to use it.")
        if nan_policy == "zero":
            xv, wv = np.where(valid, x, 0.0), wv_all
        else:
            xv, wv = x[valid], wv_all[valid]
        r = _response(wv, xv, metric)
        if not np.isfinite(r):
            undefined.append(name)
        norm_cov = float(np.linalg.norm(wv_all[valid]) / norm_all)
        if norm_cov < min_coverage:
            low.append(f"{name} ({100 * norm_cov:.1f} %)")
        rows.append({"image": name, "response": r, "n_voxels": int(valid.sum()),
                     "coverage": float(valid.mean()), "norm_coverage": norm_cov,
                     "resampled": not same})
    table = pd.DataFrame(rows, columns=EXPRESSION_COLUMNS)
    if low:
        warn(f"{len(low)} image(s) cover less than {100 * min_coverage:.0f} % of the "
             f"signature's weight norm: {', '.join(low[:10])}"
             + (" ..." if len(low) > 10 else "") + "; their responses miss part of it.",
             InferenceWarning)
    if undefined:
        warn(f"The {metric} response is undefined (constant image values over the "
             f"signature voxels) for {', '.join(undefined[:10])}; it is NaN.",
             InferenceWarning)
    overlap.update(min_coverage=float(table["coverage"].min()),
                   min_norm_coverage=float(table["norm_coverage"].min()),
                   n_resampled=int(table["resampled"].sum()))
    wname = (str(weights_img) if isinstance(weights_img, str | os.PathLike) else
             (weights.get_filename() or "weights image"))
    parameters = {"weights": wname, "metric": metric,
                  "mask_img": (str(mask_img) if isinstance(mask_img, str | os.PathLike)
                               else None if mask_img is None else "image"),
                  "interpolation": interpolation, "nan_policy": nan_policy,
                  "zero_as_missing": zero_as_missing, "min_coverage": min_coverage}
    return PatternExpression(responses=table["response"].to_numpy(float), table=table,
                             overlap=overlap, metric=metric, parameters=parameters,
                             versions=versions())


def evaluate_signature(
    responses,
    labels,
    *,
    positive,
    subjects=None,
    confidence: float = 0.95,
    threshold: float | None = None,
) -> pd.DataFrame:
    """How well a signature's responses separate two conditions: AUC and forced choice.

    Parameters
    ----------
    responses : array-like of shape (n,) or PatternExpression
        Signature responses (higher meaning ``positive``), e.g.
        ``pattern_expression(...).responses``.
    labels : array-like of shape (n,)
        One label per image (``"pain"``/``"no pain"``, ``"CLBP"``/``"HC"``, ``"pre"``/
        ``"post"``).
    positive : scalar
        The label of the condition expected to respond more.
    subjects : array-like of shape (n,) or None, default=None
        One subject id per image. Images of one subject are one cluster of the AUC
        interval (Obuchowski), and when every subject has exactly one ``positive`` and
        one other image the forced-choice accuracy is added.
    confidence : float, default=0.95
        Level of the intervals.
    threshold : float or None, default=None
        A response threshold (e.g. a published one): adds sensitivity, specificity and
        balanced accuracy of ``response > threshold``.

    Returns
    -------
    pandas.DataFrame
        One row per metric, :data:`painmarkers.schema.METRIC_COLUMNS`: ``auc``
        (DeLong, or clustered DeLong with ``subjects``); with paired subjects
        ``forced_choice_accuracy`` (Wilson interval; ``numerator`` correct pairs,
        ties 1/2) and ``forced_choice_p`` (``estimate`` = two-sided exact binomial p
        against 1/2 over the untied pairs); with ``threshold`` ``sensitivity``,
        ``specificity``, ``balanced_accuracy``.

    Raises
    ------
    DataError
        Lengths differ, non-finite responses, or ``positive`` absent from ``labels``.
    DesignError
        A single class.

    See Also
    --------
    pattern_expression : The responses of a signature.
    roc_auc_ci : The AUC interval used.
    forced_choice_accuracy : The paired comparison used.

    Notes
    -----
    The AUC is the probability that a random positive image responds more than a
    random negative one (ties 1/2); forced choice compares the two images of each
    subject, the test Wager et al. (2013) used for the NPS (pain vs warmth within
    person): accuracy = fraction of subjects whose positive image responds more, with
    the binomial test against 1/2. See :func:`roc_auc_ci` and
    :func:`forced_choice_accuracy`.

    References
    ----------
    .. [1] Wager, T. D., et al. (2013). An fMRI-based neurologic signature of physical
       pain. NEJM, 368(15), 1388-1397.

    Examples
    --------
    >>> from painmarkers.prediction import evaluate_signature
    >>> out = evaluate_signature([3.0, 1.0, 2.5, 0.5], ["pain", "warm", "pain", "warm"],
    ...                          positive="pain", subjects=["a", "a", "b", "b"])
    >>> out["metric"].tolist()
    ['auc', 'forced_choice_accuracy', 'forced_choice_p']
    """
    confidence = check_interval(confidence, "confidence", 0, 1, closed="neither")
    if isinstance(responses, PatternExpression):
        responses = responses.responses
    s = np.asarray(responses, dtype=float).ravel()
    lab = np.asarray(labels, dtype=object).ravel()
    if lab.shape != s.shape:
        raise DataError(f"labels has {lab.size} value(s) for {s.size} response(s).")
    if not np.isfinite(s).all():
        raise DataError(f"responses hold {int((~np.isfinite(s)).sum())} non-finite value(s); "
                        "drop those images first.")
    if positive not in set(lab.tolist()):
        raise DataError(f"The positive label {positive!r} is not among the labels "
                        f"{sorted(map(str, set(lab.tolist())))}.")
    y = _binary_target((lab == positive).astype(int), "labels")
    clusters = None
    if subjects is not None:
        clusters = np.asarray(subjects, dtype=object).astype(str)
        if clusters.shape != s.shape:
            raise DataError(f"subjects has {clusters.size} value(s) for {s.size} "
                            "response(s).")
    several = clusters is not None and pd.Series(clusters).duplicated().any()
    parts = [roc_auc_ci(y, s, confidence=confidence, clusters=clusters if several else None)]
    if several:
        counts = pd.crosstab(clusters, y)
        if counts.shape[1] == 2 and (counts == 1).all(axis=None):
            fc = forced_choice_accuracy(y, s, clusters, confidence=confidence)
            parts.append(fc)
            wide = pd.DataFrame({"g": clusters, "y": y, "s": s}).pivot(index="g", columns="y",
                                                                       values="s")
            diff = (wide[1] - wide[0]).to_numpy()
            untied = diff[diff != 0]
            k = int((untied > 0).sum())
            p = (stats.binomtest(k, untied.size, 0.5).pvalue if untied.size else np.nan)
            parts.append(pd.DataFrame([{c: np.nan for c in METRIC_COLUMNS} | {
                "metric": "forced_choice_p", "estimate": float(p),
                "ci_method": "exact binomial test vs 1/2 (two-sided, ties dropped)",
                "n": int(untied.size), "numerator": k, "denominator": int(untied.size)}]))
    if threshold is not None:
        pred = (s > float(threshold)).astype(int)
        sens, spec = pred[y == 1].mean(), 1 - pred[y == 0].mean()
        from painmarkers.prediction.metrics import wilson_ci

        rows = []
        for name, num, den in (("sensitivity", int(pred[y == 1].sum()), int((y == 1).sum())),
                               ("specificity", int((1 - pred[y == 0]).sum()),
                                int((y == 0).sum()))):
            lo, hi = wilson_ci(num, den, confidence=confidence)
            rows.append({"metric": name, "estimate": num / den, "ci_low": float(lo),
                         "ci_high": float(hi), "confidence": confidence,
                         "ci_method": "Wilson", "n": int(y.size), "numerator": num,
                         "denominator": den})
        rows.append({"metric": "balanced_accuracy", "estimate": float((sens + spec) / 2),
                     "confidence": confidence, "n": int(y.size),
                     "ci_method": f"threshold {float(threshold):g}"})
        parts.append(pd.DataFrame([{c: r.get(c, np.nan) for c in METRIC_COLUMNS}
                                   for r in rows]))
    out = pd.concat(parts, ignore_index=True)
    if out.empty:  # pragma: no cover - the AUC row is always there
        raise DesignError("No metric could be computed.")
    return out
