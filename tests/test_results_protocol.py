"""Every result object follows one protocol (painmarkers._results.Result)."""

import dataclasses
import importlib
import inspect
import typing

import pytest

from painmarkers._results import Result

SUBPACKAGES = ["painmarkers.stats", "painmarkers.inference", "painmarkers.prediction",
               "painmarkers.extractors", "painmarkers.datasets", "painmarkers.study"]

#: Public dataclasses that are inputs or specifications, not results.
NOT_RESULTS = {"ImageContext", "AnalysisSpec", "StudySpec", "StudyCheck"}


def _result_classes():
    for name in SUBPACKAGES:
        mod = importlib.import_module(name)
        for attr in mod.__all__:
            obj = getattr(mod, attr)
            if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and attr not in NOT_RESULTS:
                yield f"{name}.{attr}", obj


RESULTS = sorted(_result_classes())


def test_the_known_results_are_found():
    names = {q.rsplit(".", 1)[1] for q, _ in RESULTS}
    assert {"VoxelwiseResult", "ClusterResult", "PermutationClusterResult", "Smoothness",
            "GLMResult", "GLMContrastMaps", "ICCMapResult", "LMMResult", "AncovaResult",
            "MixedAnovaResult", "BiomarkerEvaluation", "MotionReport", "StudyResult"} <= names


@pytest.mark.parametrize(("qualname", "cls"), RESULTS, ids=[q for q, _ in RESULTS])
def test_result_follows_the_protocol(qualname, cls):
    for method in ("to_frame", "summary", "save"):
        assert callable(getattr(cls, method, None)), f"{qualname} has no {method}()"
    fields = {f.name for f in dataclasses.fields(cls)}
    for attr in ("parameters", "versions"):
        assert attr in fields or isinstance(getattr(cls, attr, None), property), \
            f"{qualname} has no {attr!r}"
    hints = typing.get_type_hints(cls.save)
    ret = hints.get("return")
    assert typing.get_origin(ret) is dict, f"{qualname}.save() -> {ret}, not dict[str, Path]"


def test_protocol_isinstance_check_on_a_real_result():
    import numpy as np

    from painmarkers.extractors import MotionQC

    report = MotionQC().assess(np.zeros((5, 6)))
    assert isinstance(report, Result)
