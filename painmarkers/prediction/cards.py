"""Portable model cards: save a trained model without pickle, load it anywhere, apply it.

:func:`save_model_card` writes a fitted pipeline (or the ``final_model_`` of an
evaluation) as plain files: the pipeline's parameters and fitted arrays in
``pipeline.npz``, its effective weights as NIfTI (voxel models) or ``weights.npz``
(ROI / table models), the training mask for a voxel model, and ``model_card.json``:
the format version, software versions, task, target and positive class, feature names
or mask grid, preprocessing steps with their parameters, threshold, the training
cohort (sizes, classes, sites, age, feature ranges), the cross-validated performance
with CIs, the intended use, and the SHA-256 of every file. :func:`load_model_card`
reads it back with no training data at hand (checking every hash);
:func:`apply_model` applies it to a new cohort and, when the outcome is known, reports
the full metric set with CIs (external validation).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import painmarkers
from painmarkers._atomic import jsonable, write_bytes, write_text
from painmarkers._docs import fill_doc
from painmarkers._versions import versions
from painmarkers.exceptions import DataError, OutputError
from painmarkers.prediction import _apply, _card_build, _steps
from painmarkers.prediction._external import ExternalValidation

__all__ = ["ExternalValidation", "ModelCard", "apply_model", "load_model_card",
           "save_model_card"]

#: What ``model_card.json`` declares itself to be, and the newest format this code reads.
FORMAT = "painmarkers-model-card"
FORMAT_VERSION = 1
CARD_FILE = "model_card.json"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _card_digest(card: dict[str, Any]) -> str:
    """SHA-256 of the card's canonical JSON, without its ``integrity`` entry."""
    body = {k: v for k, v in card.items() if k != "integrity"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ModelCard:  # numpydoc ignore=PR01,EX01
    """A trained model read from (or just written to) a model-card folder.

    Follows the painmarkers result protocol: ``to_frame()``, ``summary()``,
    ``save(directory) -> dict[str, Path]``, ``parameters`` and ``versions``.

    Attributes
    ----------
    path : Path
        The folder holding ``model_card.json`` and its files.
    card : dict
        The content of ``model_card.json`` (see :func:`save_model_card`).
    steps : list of (str, estimator)
        The rebuilt pipeline steps, in order (the masker of a voxel model is a
        :class:`painmarkers.prediction._steps.CardMasker`).
    parameters : dict
        ``task``, ``target``, ``positive``, ``threshold``, ``score``, ``input`` and
        ``name`` of the card.
    versions : dict
        Versions of Python, painmarkers and its dependencies *when the model was
        trained*.

    See Also
    --------
    save_model_card : Write a card (returns it); its examples use this class.
    load_model_card : Read a card folder, checking its integrity.
    apply_model : Apply the card's model to new data.
    """

    path: Path
    card: dict = field(repr=False)
    steps: list = field(repr=False)
    parameters: dict = field(default_factory=dict, repr=False)
    versions: dict = field(default_factory=dict, repr=False)

    # -- convenient views --------------------------------------------------------------------
    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.card["task"]

    @property
    def features(self) -> list[str]:
        """Feature names of a table model (empty for a voxel model)."""
        return list(self.card["input"].get("features", []))

    @property
    def is_voxel(self) -> bool:
        """True for a model whose input is images (a masker as first step)."""
        return self.card["input"]["kind"] == "images"

    @property
    def training(self) -> dict:
        """The training-cohort description."""
        return dict(self.card.get("training", {}))

    @property
    def performance(self) -> pd.DataFrame:
        """The cross-validated metrics recorded at training (one row per metric)."""
        return pd.DataFrame(self.card.get("performance", {}).get("metrics", []))

    @property
    def mask_img(self):
        """The training mask of a voxel model (nibabel image), else None."""
        if not self.is_voxel:
            return None
        import nibabel as nib

        return nib.load(self.path / self.card["input"]["mask_file"])

    @property
    def weights(self):
        """Effective weights of the model, or None when it is not a fixed linear map.

        A NIfTI image for a voxel model, a :class:`pandas.Series` by feature for a
        table model; None when the pipeline is not a fixed linear map (ComBat,
        confounds).
        """
        w = self.card.get("weights")
        if not w:
            return None
        if self.is_voxel:
            import nibabel as nib

            return nib.load(self.path / w["file"])
        with np.load(self.path / w["file"], allow_pickle=False) as npz:
            return pd.Series(npz["weights"], index=self.features, name="weight")

    @property
    def intercept(self) -> float | None:
        """The offset of the effective weights (decision value of an all-zero input)."""
        w = self.card.get("weights")
        return None if not w else float(w["intercept"])

    # -- protocol ----------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The recorded cross-validated performance (see :attr:`performance`).

        Returns
        -------
        pandas.DataFrame
            One row per metric, the columns of the training evaluation's metrics table
            (:data:`painmarkers.schema.METRIC_COLUMNS`); empty when none was recorded.
        """
        return self.performance

    def summary(self) -> str:
        """Plain-text model card (Mitchell et al. 2019 sections).

        Returns
        -------
        str
            Name, task, input, pipeline, training data, performance, intended use.
        """
        c = self.card
        inp = c["input"]
        t = c.get("training", {})
        lines = [f"Model card {c.get('name')!r} (format {c['format_version']}, painmarkers "
                 f"{c['versions'].get('painmarkers')}, saved {c.get('created', '?')})",
                 f"Task: {c['task']} of {c.get('target')!r}"
                 + (f" (positive = {c.get('positive')!r}; score {c.get('score')}, threshold "
                    f"{c.get('threshold')})" if c["task"] == "classification" else ""),
                 "Input: " + (f"images on a {tuple(inp['grid_shape'])} grid, "
                              f"{inp['n_voxels']} voxels in the mask (sha256 "
                              f"{inp['mask_sha256'][:12]}...)" if self.is_voxel else
                              f"{len(inp['features'])} features: {', '.join(inp['features'])}"),
                 "Pipeline: " + " -> ".join(f"{s['key']} ({s['class']})"
                                            for s in c["pipeline"]["steps"])]
        if t:
            lines.append(f"Training data: {t.get('n_rows', '?')} rows from "
                         f"{t.get('n_subjects', '?')} subjects"
                         + (f"; groups {t['groups']}" if t.get("groups") else "")
                         + (f"; sites {t['sites']}" if t.get("sites") else "")
                         + (f"; age {t['age']['min']:.0f}-{t['age']['max']:.0f}"
                            if t.get("age", {}).get("min") is not None else "")
                         + (f"; classes {t['target']['class_counts']}"
                            if "class_counts" in t.get("target", {}) else ""))
        perf = c.get("performance", {})
        for row in perf.get("metrics", []):
            if row.get("estimate") is None:
                continue
            ci = ("" if row.get("ci_low") is None else
                  f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")
            lines.append(f"  {row['metric']:<24s} {row['estimate']:.3f}{ci}")
        if perf.get("validation"):
            lines.append(f"Validation: {perf['validation']}")
        lines.append(f"Intended use: {c.get('intended_use') or 'not stated'}")
        if c.get("limitations"):
            lines.append(f"Limitations: {c['limitations']}")
        return "\n".join(lines)

    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Copy the card and its files (byte for byte) into ``directory``.

        Parameters
        ----------
        directory : path-like
            Destination folder (created if needed); an existing card there is refused.

        Returns
        -------
        dict of str to Path
            ``card`` (``model_card.json``) and one entry per file of the card.

        Raises
        ------
        OutputError
            ``directory`` already holds a model card, or a file cannot be written.
        """
        out = Path(directory)
        if (out / CARD_FILE).exists():
            raise OutputError(f"{str(out / CARD_FILE)!r} already exists; choose another "
                              "folder.")
        files = {}
        for name in self.card["files"]:
            files[name] = write_bytes(out / name, (self.path / name).read_bytes())
        files["card"] = write_bytes(out / CARD_FILE, (self.path / CARD_FILE).read_bytes())
        return files

    def apply(self, data, **kwargs) -> ExternalValidation:
        """Shortcut for :func:`apply_model` ``(self, data, **kwargs)``.

        Parameters
        ----------
        data : Cohort, pandas.DataFrame or images
            New data (see :func:`apply_model`).
        **kwargs
            Passed on to :func:`apply_model`.

        Returns
        -------
        ExternalValidation
            Predictions and, with a known outcome, the metrics in the new data.
        """
        return apply_model(self, data, **kwargs)


# -- public API ---------------------------------------------------------------------------
def save_model_card(
    model,
    directory: str | os.PathLike,
    *,
    name: str | None = None,
    intended_use: str | None = None,
    limitations: str | None = None,
    task: str | None = None,
    target: str | None = None,
    positive=None,
    features=None,
    threshold: float | None = None,
    training: dict | None = None,
    training_data=None,
    performance: dict | None = None,
    image_kind: str | None = None,
    overwrite: bool = False,
) -> ModelCard:
    """Save a trained model as a portable, pickle-free model card.

    Parameters
    ----------
    model : evaluation result or fitted scikit-learn Pipeline
        A :class:`BiomarkerEvaluation` or :class:`PrognosisEvaluation` (its
        ``final_model_``, refitted on all analysed rows, is saved with its target,
        features, threshold, training cohort and cross-validated performance), any
        result with ``final_model_`` and ``parameters`` (voxel-pattern evaluations), or
        a fitted pipeline. Supported steps: an optional masker first (voxel models:
        any step with ``mask_img_``, ``grid_affine_`` and ``grid_shape_`` that returns
        the mask's voxels in C order), ``ComBat``/``ConfoundRegressor`` (from an
        evaluation only, which records how site and confounds are coded; a voxel model
        takes ``ConfoundRegressor`` but not ``ComBat``), ``StandardScaler``,
        ``VarianceThreshold``, ``SelectKBest``, ``SelectPercentile``, ``PCA``, then one of
        ``LogisticRegression``, ``LinearSVC``, ``Ridge``, ``RidgeClassifier``, ``Lasso``,
        ``LinearRegression``.
        Nested pipelines are unrolled; a fitted search is saved as its
        ``best_estimator_``.
    directory : path-like
        Folder to write (created if needed).
    name : str or None, default=None
        Name of the model (None: the folder's name).
    intended_use : str or None, default=None
        What the model is for and for whom (population, scanner, preprocessing); shown
        in the card (Mitchell et al. 2019).
    limitations : str or None, default=None
        Known limitations and out-of-scope uses.
    task : {"classification", "regression"} or None, default=None
        None: from the model.
    target : str or None, default=None
        Name of the predicted variable (None: the evaluation's).
    positive : scalar or None, default=None
        The positive class: its label (evaluation results; default theirs) or, for a
        pipeline, the class in ``classes_`` whose score is reported (required); for a
        pipeline fitted on 0/1 labels it may be the label that 1 stands for (e.g.
        ``"CLBP"``), compared with the target values of new data.
    features : list of str or None, default=None
        Input columns of a table model (None: the evaluation's, or the pipeline's
        ``feature_names_in_``).
    threshold : float or None, default=None
        Score threshold of the positive class (None: the evaluation's; 0.5 for
        probabilities, 0 for decision values).
    training : dict or None, default=None
        Description of the training cohort, merged into (and overriding) the
        evaluation's ``training``.
    training_data : pandas.DataFrame, array, images or None, default=None
        The training inputs: feature (or, for voxel models, per-image mean and SD)
        ranges are computed from them, for the range checks of :func:`apply_model`.
    performance : dict or None, default=None
        ``{"metrics": [rows of METRIC_COLUMNS], "validation": text}``; None: the
        evaluation's metrics table and CV description.
    image_kind : str or None, default=None
        Map kind a voxel model takes (``"alff"``...), used by :func:`apply_model` on a
        Cohort.
    overwrite : bool, default=False
        Replace a model card already in ``directory``.

    Returns
    -------
    ModelCard
        The card as read back from ``directory`` by :func:`load_model_card`.

    Raises
    ------
    DataError
        An unsupported step (named), a masker that changes values, a multi-class model,
        feature names that do not match the model, an evaluation without final model, a
        voxel model with ComBat (apply_model does not take each image's site).
    OutputError
        ``directory`` already holds a card (and ``overwrite`` is False), or cannot be
        written.
    TypeError, ValueError
        A model that is neither an evaluation nor a pipeline; a missing ``positive``.

    See Also
    --------
    load_model_card : Read a card back.
    apply_model : Apply a card's model to new data.

    Notes
    -----
    Files written: ``model_card.json`` (written last), ``pipeline.npz`` (fitted arrays,
    numbers and unicode strings only, read with ``allow_pickle=False``),
    ``weights.npz`` (table model) or ``weights.nii.gz`` and ``mask.nii.gz`` (voxel
    model). ``model_card.json`` holds: ``format`` and ``format_version``,
    ``created``, ``versions`` (Python, painmarkers and dependencies), ``task``,
    ``target``, ``positive``, ``classes``, ``score`` and ``threshold``, ``input``
    (feature names with the confound coding and site names, or the mask grid: affine,
    shape, number of voxels, the SHA-256 of the mask), ``pipeline`` (each step's
    class, parameters and fitted values), ``weights``, ``training`` (rows, subjects,
    groups, sites, age, sex, class counts or target distribution, each feature's n,
    mean, SD, min, max), ``performance`` (cross-validated metrics with CIs),
    ``intended_use``, ``limitations``, ``files`` (SHA-256 of every other file) and
    ``integrity`` (SHA-256 of the card's own canonical JSON, so a hand edit is
    detected).

    *Effective weights.* When every step is a fixed affine map (scaling, selection,
    PCA), the decision value is ``d(x) = Σ_v w_v x_v + b`` on the input (voxels or
    features): ``w`` is computed backward through the steps (division by the scaler's
    SD, zeros for unselected inputs, ``components_ᵀ`` for PCA) and ``b = d(0)``. For a
    logistic model ``d`` is the log-odds. With ComBat or confound regression the map
    depends on each row's site or confounds, and no weights are written. Predictions
    never use these weights; they use the saved pipeline.

    The format follows the "model card" idea of Mitchell et al. (2019): the numbers
    and the context needed to judge where the model may be applied.

    References
    ----------
    .. [1] Mitchell, M., et al. (2019). Model cards for model reporting. Proceedings of
       FAT* '19, 220-229.
    .. [2] Woo, C.-W., Chang, L. J., Lindquist, M. A., & Wager, T. D. (2017). Building
       better biomarkers: brain models in translational neuroimaging. Nature
       Neuroscience, 20(3), 365-377.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from painmarkers.prediction import evaluate_prognosis, save_model_card
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(40)],
    ...                    "alff__INS_L": rng.normal(size=40)})
    >>> df["ppr"] = 30 + 10 * df["alff__INS_L"] + rng.normal(0, 5, 40)
    >>> res = evaluate_prognosis(df, ["alff__INS_L"], "ppr", n_permutations=0,
    ...                          n_repeats=2, random_state=0, progress=False)
    >>> card = save_model_card(res, tempfile.mkdtemp(), intended_use="demo")
    >>> card.task, card.features
    ('regression', ['alff__INS_L'])
    """
    out = Path(directory)
    if (out / CARD_FILE).exists() and not overwrite:
        raise OutputError(f"{str(out / CARD_FILE)!r} already exists; pass overwrite=True to "
                          "replace the model card.")
    if task is not None and task not in ("classification", "regression"):
        raise ValueError(f"The 'task' parameter must be one of 'classification', "
                         f"'regression'. Got {task!r}.")
    src = _card_build.source(model, task=task, target=target, positive=positive,
                             features=features, threshold=threshold, training=training,
                             performance=performance, image_kind=image_kind)
    steps = _steps.flatten(src["pipe"])
    where = f"model {type(src['pipe']).__name__}"
    _card_build.check_task(src, steps, where)
    arrays: dict[str, np.ndarray] = {}
    specs = []
    for i, (key, est) in enumerate(steps):  # everything is encoded before a file is written
        if i == 0 and _steps.is_masker(est):
            specs.append({"key": key, "class": "masker", "masker": True})
            continue
        spec = _steps.encode(est, f"{i}:{key}", arrays)
        specs.append({"key": key, "index": i, **spec})
    files: dict[str, Path] = {}
    inp = _card_build.input_entry(src, steps, {}, files, out)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    files["pipeline.npz"] = write_bytes(out / "pipeline.npz", buf.getvalue())
    masker = None
    if inp["kind"] == "images":
        import nibabel as nib

        masker = _steps.CardMasker(np.asarray(nib.load(out / "mask.nii.gz").dataobj) > 0,
                                   np.asarray(inp["grid_affine"]), inp["dtype"])
    _card_build.training_stats(src, inp, masker, training_data)
    weights = _card_build.weights(steps, inp, files, out)
    card = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "name": name or out.resolve().name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "task": src["task"], "target": src["target"], "positive": src["positive"],
        "positive_code": src["positive_code"], "classes": src.get("classes"),
        "score": src["score"] if src["task"] == "classification" else "predict",
        "threshold": src["threshold"] if src["task"] == "classification" else None,
        "input": inp,
        "pipeline": {"steps": specs, "archive": "pipeline.npz", "repr": src["model_repr"]},
        "weights": weights,
        "training": src["training"],
        "performance": src["performance"],
        "intended_use": intended_use, "limitations": limitations,
        "references": ["Mitchell et al. (2019) Model cards for model reporting. FAT* '19.",
                       "Woo et al. (2017) Building better biomarkers. Nat Neurosci 20:365."],
        "files": {n: sha256_file(p) for n, p in sorted(files.items())},
    }
    card = json.loads(json.dumps(jsonable(card), allow_nan=False))
    card["integrity"] = {"card_sha256": _card_digest(card)}
    write_text(out / CARD_FILE, json.dumps(card, indent=2, allow_nan=False) + "\n")
    return load_model_card(out)


def load_model_card(path: str | os.PathLike) -> ModelCard:
    """Read a model card written by :func:`save_model_card`; no training data needed.

    Parameters
    ----------
    path : path-like
        The card's folder or its ``model_card.json``.

    Returns
    -------
    ModelCard
        The card, its rebuilt pipeline steps, its parameters and the versions it was
        trained with.

    Raises
    ------
    DataError
        No card at ``path``; a file that is not a painmarkers model card; a card written
        in a newer format than this painmarkers reads (the message names both versions);
        a card edited by hand (its content no longer matches the SHA-256 recorded in
        it); a file of the card missing or changed (named); a step class not on the
        allow-list.

    See Also
    --------
    save_model_card : Write a card.
    apply_model : Apply a card's model to new data.

    Notes
    -----
    Nothing is unpickled: arrays are read with ``numpy.load(allow_pickle=False)``, and
    only classes of the allow-list are built (from the name written in the card, never
    imported by a path found in it). The steps get the saved parameters and fitted
    arrays, so scikit-learn's own ``transform``/``predict`` code gives the same
    predictions, bit for bit, as the model that was saved (with the same numpy and
    scikit-learn builds).

    Examples
    --------
    >>> from painmarkers.prediction import load_model_card
    >>> load_model_card("no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    painmarkers.exceptions.DataError: No model card at 'no/such/folder' ...
    """
    p = Path(path)
    folder = p.parent if p.name == CARD_FILE or p.is_file() else p
    file = folder / CARD_FILE
    if not file.is_file():
        raise DataError(f"No model card at {str(path)!r}: {str(file)!r} does not exist.")
    try:
        card = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(file)!r} is not valid JSON ({exc}); it is not a readable "
                        "model card.") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise DataError(f"{str(file)!r} is not a painmarkers model card (its 'format' is "
                        f"{card.get('format') if isinstance(card, dict) else None!r}, "
                        f"expected {FORMAT!r}).")
    fv = card.get("format_version")
    if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
        raise DataError(f"{str(file)!r} has an invalid 'format_version' {fv!r}.")
    if fv > FORMAT_VERSION:
        written = card.get("versions", {}).get("painmarkers", "a newer version")
        raise DataError(f"{str(file)!r} was written by painmarkers {written} in model-card "
                        f"format {fv}; this painmarkers ({painmarkers.__version__}) reads "
                        f"formats up to {FORMAT_VERSION}. Upgrade painmarkers to load it.")
    stored = (card.get("integrity") or {}).get("card_sha256")
    if stored != _card_digest(card):
        raise DataError(f"{str(file)!r} was changed after it was written: its content no "
                        "longer matches the SHA-256 recorded in it (an edit by hand, or a "
                        "damaged file). A model card is refused unless intact; write a new "
                        "one with save_model_card.")
    for name, digest in card.get("files", {}).items():
        if Path(name).name != name or name in (".", ".."):
            raise DataError(f"{str(file)!r} lists the file {name!r}, which is not a plain "
                            "file name in the card's folder.")
        f = folder / name
        if not f.is_file():
            raise DataError(f"The model card {str(file)!r} lists {name!r}, which is missing "
                            f"from {str(folder)!r}; copy the whole card folder.")
        if sha256_file(f) != digest:
            raise DataError(f"{str(f)!r} does not match the SHA-256 recorded in "
                            f"{str(file)!r}: it was edited, truncated or replaced.")
    steps = _rebuild(card, folder)
    parameters = {k: card.get(k) for k in ("name", "task", "target", "positive", "threshold",
                                           "score")}
    parameters["input"] = card["input"]["kind"]
    return ModelCard(path=folder, card=card, steps=steps, parameters=parameters,
                     versions=dict(card.get("versions", {})))


def _rebuild(card: dict, folder: Path) -> list:
    import nibabel as nib

    archive = card["pipeline"]["archive"]
    steps = []
    with np.load(folder / archive, allow_pickle=False) as npz:
        for i, spec in enumerate(card["pipeline"]["steps"]):
            if spec.get("masker"):
                inp = card["input"]
                mask = np.asarray(nib.load(folder / inp["mask_file"]).dataobj) > 0
                affine = np.asarray(inp["grid_affine"], dtype=float)
                if _steps.mask_hash(mask, affine) != inp["mask_sha256"]:
                    raise DataError(f"The mask of {str(folder)!r} does not match the mask "
                                    "hash recorded in its card.")
                steps.append((spec["key"], _steps.CardMasker(mask, affine, inp["dtype"])))
                continue
            steps.append((spec["key"], _steps.decode(spec, f"{spec.get('index', i)}:"
                                                           f"{spec['key']}", npz)))
    return steps


@fill_doc
def apply_model(
    card,
    data,
    *,
    target=None,
    subject: str | None = "subject_id",
    sessions=None,
    within: str = "session",
    between: str = "group",
    subjects=None,
    confounds=None,
    kind: str | None = None,
    nan_policy: str = "raise",
    grid_mismatch: str = "resample",
    max_shift: float = 1.0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    n_bins: int = 5,
    random_state=None,
) -> ExternalValidation:
    """Apply a saved model to new data; with a known outcome, validate it externally.

    Parameters
    ----------
    card : ModelCard or path-like
        A loaded card or its folder (read with :func:`load_model_card`).
    data : Cohort, pandas.DataFrame, or images
        Table model: a Cohort (its ``wide()`` table) or a wide table with the card's
        feature columns (and its confound and site columns when the model uses them).
        Voxel model: a list of 3-D images (paths or nibabel images), a 4-D image, or a
        Cohort (its maps of ``kind``).
    target : str, array-like or None, default=None
        The observed outcome: a column of the table (or of the Cohort's ``wide()``), or
        one value per image. None: the card's target column when the data have it,
        else no validation (predictions only).
    subject : str or None, default="subject_id"
        The subject-id column: rows of one subject are resampled together by the
        bootstrap and make the AUC interval clustered.
    sessions : str, list of str, mapping or None, default=None
        The session(s) whose rows (or maps) are used: a label, a list of labels, or
        ``{group label: session label}``; None: every row.
    %(within)s
    %(between)s
        Its labels key a ``sessions`` mapping.
    subjects : array-like or None, default=None
        One subject id per image (images given as a list).
    confounds : pandas.DataFrame or None, default=None
        For a voxel model that regresses confounds out of the images (trained by
        :func:`evaluate_pattern` with ``confounds``) applied to images given as a list:
        one row per image with the card's confound columns. A Cohort's confounds come
        from its ``wide()`` table.
    kind : str or None, default=None
        Map kind of a Cohort for a voxel model (None: the card's ``image_kind``).
    nan_policy : {"raise", "omit"}, default="raise"
        Missing feature, confound or site values (and images with missing voxels in
        the mask): raise naming the row or image, or leave it out and list it in
        ``excluded``.
    grid_mismatch : {"resample", "raise"}, default="resample"
        Images on a grid other than the model's: resampled to it (nilearn
        ``resample_to_img``, continuous = 3rd-order spline interpolation) with an
        :class:`~painmarkers.exceptions.InferenceWarning` counting them, or refused.
    max_shift : float, default=1.0
        Warn when a feature's mean in the new data differs from its training mean by
        more than this many training SDs.
    %(confidence)s
        Every interval has this level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (regression metrics, Brier score); at least 10.
    n_bins : int, default=5
        Bins of the calibration table.
    %(random_state)s
        It seeds the bootstraps.

    Returns
    -------
    ExternalValidation
        Predictions per row (score and predicted class, or prediction), and, with a
        target, the metrics with CIs, the calibration table, the shift of every feature
        from its training range, and what was excluded.

    Raises
    ------
    DataError
        Feature, confound or site columns missing (named, with close matches); missing
        values (``nan_policy="raise"``); an image with no data in the mask; a confound
        level unseen in training.
    ImageError
        An image on another grid with ``grid_mismatch="raise"``.
    ValueError
        A parameter out of range.

    Warns
    -----
    InferenceWarning
        Images resampled to the model's grid; features whose new mean is more than
        ``max_shift`` training SDs away or with more than 10 % of values outside the
        training range; a target with a single class (only the class-specific metrics
        are reported).

    See Also
    --------
    save_model_card : Write a card.
    load_model_card : Read a card.

    Notes
    -----
    The predictions use the saved pipeline as it was fitted: nothing is refitted on
    the new data (except ComBat, which estimates an unseen site's location and scale
    from that site's rows, label-free, as in leave-one-site-out CV).

    *Classification.* AUC with a DeLong interval (Obuchowski's clustered one when
    subjects have several rows), sensitivity, specificity, PPV, NPV, accuracy and
    balanced accuracy at the card's threshold (Wilson / stratified bootstrap
    intervals, :func:`binary_metrics`), and for probabilities the Brier score
    (bootstrap interval) and the calibration of Steyerberg (2019): the *calibration
    slope* ``b`` of ``logit P(y=1) = a + b·logit(p)`` and the *calibration intercept*
    (calibration-in-the-large) ``a`` of ``logit P(y=1) = a + logit(p)``, both by
    maximum likelihood with Wald intervals. A slope below 1 means the predictions are
    too extreme in the new cohort, an intercept away from 0 that its base rate
    differs.

    *Regression.* :func:`regression_metrics` with the *training* mean of the target as
    baseline (``R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ_train)²``: 0 for a model no better than
    predicting the training mean, negative for worse), MAE, RMSE, Pearson r and the
    calibration slope and intercept of ``y = a + b·ŷ``, with (subject) bootstrap
    intervals.

    References
    ----------
    .. [1] Steyerberg, E. W. (2019). Clinical Prediction Models, 2nd ed. Springer
       (chapter 15: calibration in external validation).
    .. [2] Woo, C.-W., et al. (2017). Building better biomarkers: brain models in
       translational neuroimaging. Nature Neuroscience, 20(3), 365-377.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from painmarkers.prediction import apply_model, evaluate_prognosis, save_model_card
    >>> rng = np.random.default_rng(0)
    >>> def cohort(n):
    ...     df = pd.DataFrame({"subject_id": [f"s{i}" for i in range(n)],
    ...                        "alff__INS_L": rng.normal(size=n)})
    ...     df["ppr"] = 30 + 10 * df["alff__INS_L"] + rng.normal(0, 5, n)
    ...     return df
    >>> res = evaluate_prognosis(cohort(60), ["alff__INS_L"], "ppr", n_permutations=0,
    ...                          n_repeats=2, random_state=0, progress=False)
    >>> card = save_model_card(res, tempfile.mkdtemp())
    >>> ext = apply_model(card, cohort(50), random_state=0)
    >>> bool(ext.metrics.set_index("metric").loc["r2", "estimate"] > 0.5)
    True
    """
    if not isinstance(card, ModelCard):
        card = load_model_card(card)
    return _apply.apply(card, data, target=target, subject=subject, sessions=sessions,
                        within=within, between=between, subjects=subjects, kind=kind,
                        nan_policy=nan_policy, grid_mismatch=grid_mismatch,
                        max_shift=max_shift, confidence=confidence, n_bootstrap=n_bootstrap,
                        n_bins=n_bins, random_state=random_state, confounds=confounds)

