"""The one vocabulary of data parameters holds across the public API.

See docs/user_guide/data_model.rst, "One vocabulary for data parameters": a word
means one thing everywhere, and sibling functions agree on defaults.
"""

import dataclasses
import importlib
import inspect

import pytest

from painmarkers import _docs
from painmarkers._deprecation import CHANGED

SUBPACKAGES = ["painmarkers", "painmarkers.stats", "painmarkers.inference",
               "painmarkers.prediction", "painmarkers.reporting", "painmarkers.extractors",
               "painmarkers.io", "painmarkers.model", "painmarkers.rois", "painmarkers.datasets",
               "painmarkers.study", "painmarkers.testing"]

#: Spellings the vocabulary replaced (kept only as deprecated aliases).
RETIRED = {"groups", "group_order", "subject_col", "group_col", "session_col", "group_column"}

#: Default of each vocabulary word wherever it is a parameter. None where a function
#: documents that the column or label is optional or found by itself (``from_frames``
#: looks for the usual column names), or, in a result's method, that the result's own
#: setting is used; CHANGED while a default changes with a FutureWarning.
DEFAULTS = {"subject": {"subject_id", None}, "within": {"session", None},
            "between": {"group", None}, "two_tailed": {True, CHANGED},
            "confidence": {0.95, None}, "pre": {"pre", None}, "post": {"post", None},
            "cluster_p": {0.05}}


def _public_callables():
    seen = set()
    for name in SUBPACKAGES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            targets = []
            if inspect.isfunction(obj):
                targets.append((f"{name}.{attr}", obj))
            elif inspect.isclass(obj):
                if not dataclasses.is_dataclass(obj):  # results are built by the library
                    targets.append((f"{name}.{attr}", obj.__init__))
                for meth_name, meth in vars(obj).items():
                    if inspect.isfunction(meth) and not meth_name.startswith("_"):
                        targets.append((f"{name}.{attr}.{meth_name}", meth))
                    elif isinstance(meth, classmethod | staticmethod):
                        targets.append((f"{name}.{attr}.{meth_name}", meth.__func__))
            for qual, func in targets:
                if id(func) not in seen:
                    seen.add(id(func))
                    yield qual, func


CALLABLES = sorted(_public_callables(), key=lambda item: item[0])


@pytest.mark.parametrize(("qualname", "func"), CALLABLES, ids=[q for q, _ in CALLABLES])
def test_no_retired_parameter_names(qualname, func):
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins
        return
    retired = RETIRED & set(params)
    assert not retired, f"{qualname} still takes {sorted(retired)}"


@pytest.mark.parametrize(("qualname", "func"), CALLABLES, ids=[q for q, _ in CALLABLES])
def test_vocabulary_defaults_agree(qualname, func):
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return
    for word, allowed in DEFAULTS.items():
        p = params.get(word)
        if p is None or p.default is inspect.Parameter.empty:
            continue
        default = p.default
        if hasattr(default, "__class__") and type(default).__name__ == "_DefaultColumn":
            default = str(default)
        assert any(default is a or (default == a and type(default) is type(a))
                   for a in allowed), f"{qualname}({word}={default!r}); the vocabulary says " \
                                   f"{sorted(map(repr, allowed))}"


@pytest.mark.parametrize(("qualname", "func"), CALLABLES, ids=[q for q, _ in CALLABLES])
def test_no_unfilled_shared_parameter_text(qualname, func):
    assert "%(" not in (func.__doc__ or ""), f"{qualname}: docstring not passed to fill_doc"


def test_fill_doc_names_an_unknown_entry():
    def f():
        """Doc.

        Parameters
        ----------
        %(no_such_entry)s
        """

    with pytest.raises(KeyError, match="no shared parameter text 'no_such_entry'"):
        _docs.fill_doc(f)


def test_fill_doc_indents_each_line_of_the_entry():
    @_docs.fill_doc
    def f():
        """Doc.

        Parameters
        ----------
        %(sessions)s
        """

    lines = f.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if "sessions :" in line)
    assert lines[start] == "        " + _docs.DOCDICT["sessions"].splitlines()[0]
    assert lines[start + 1].startswith("            Session(s) to use")
