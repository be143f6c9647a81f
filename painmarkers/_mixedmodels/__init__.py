"""Linear mixed models: the numerical core shared by ``stats.lmm`` and ``inference.voxelwise_lmm``.

Private.  :mod:`painmarkers.stats` (ROI tables) and :mod:`painmarkers.inference` (voxel
maps) are independent layers that may not import each other, yet both fit the same model
and must give the same numbers; this package holds what they share, one implementation of
each concern:

* :mod:`.design` - from a table and an R-style formula to ``X``, ``Z``, the subjects and the
  excluded rows (formulaic; treatment coding, reference = first level);
* :mod:`.fit` - per-subject sufficient statistics, the profiled REML / ML deviance, its
  analytic derivatives and the optimiser of one response;
* :mod:`.df` - lmerTest's Satterthwaite and pbkrtest's Kenward-Roger df, Wald tests;
* :mod:`.anova` - lmerTest's Type III (and Type I) hypothesis matrices;
* :mod:`.infer` - contrasts and F tests of one fit with the chosen df method;
* :mod:`.batch` - the random-intercept model for many responses at once (one design, one
  response per voxel): the same sufficient statistics, profile and optimiser as array
  operations over voxels; :mod:`.batch_infer` - its Satterthwaite / Kenward-Roger df and
  Type III F tests.

It sits in the lowest layer with :mod:`painmarkers._validation` (import-linter contract in
``pyproject.toml``): it imports only numpy, scipy, pandas, formulaic,
:mod:`painmarkers._warnings` and :mod:`painmarkers.exceptions`, never data, image or domain
modules.
"""
