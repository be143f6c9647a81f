"""The public docstrings pass the numpydoc validation of the docs build.

The docs build (``sphinx -W``) validates every docstring the API pages render with the
checks of ``numpydoc_validation_checks`` in ``docs/conf.py``. These tests run the same
checks, with the same exclusions (read from ``docs/conf.py``), on the same objects (the
names listed in ``docs/api.rst`` and the methods and properties their pages show), so a
missing parameter fails the ordinary test suite rather than only the docs build.

Beyond the docs build they check:

- ``Examples`` (EX01) on every public function and class (exceptions aside: the
  functions raising them hold the examples);
- every public field of a public dataclass documented (under Parameters or Attributes);
- every ``default=`` written in a parameter's type equals the signature's default (a
  shared text of :mod:`painmarkers._docs` used where the default differs would lie);
- no ``%(name)s`` placeholder left unfilled (a docstring not passed to ``fill_doc``).

A check can be waived for one object with a ``# numpydoc ignore=CODE`` comment on its
``def``/``class`` line (numpydoc's own mechanism; the docs build honours it too).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import runpy
import sys
from pathlib import Path

import pytest
from numpydoc import validate as numpydoc_validate  # the 'test' extra installs numpydoc
from numpydoc.docscrape import get_doc_object

from painmarkers._deprecation import CHANGED

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "api.rst"


def _docs_config() -> dict:
    """The numpydoc settings of docs/conf.py (executing it leaves sys.path unchanged)."""
    saved = list(sys.path)
    try:
        conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    finally:
        sys.path[:] = saved
    return conf


CONF = _docs_config()
CHECKS: set[str] = set(CONF["numpydoc_validation_checks"])
TOP_LEVEL_CHECKS: set[str] = CHECKS | set(CONF["NUMPYDOC_TOP_LEVEL_CHECKS"])
EXCLUDE = re.compile("|".join(CONF["numpydoc_validation_exclude"]))


def _load(name: str):
    """Import ``painmarkers.sub.Name`` (a module attribute)."""
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _documented() -> list[tuple[str, object, bool]]:
    """``(documented name, object, is top level)`` for everything the API pages render.

    A class page shows the class and every public method and property, inherited ones
    included (autosummary's Methods and Attributes tables); data (module constants, class
    attributes) is excluded in docs/conf.py.
    """
    listed = re.findall(r"^\s+(painmarkers\.[\w.]+)\s*$", API_PAGE.read_text(), re.M)
    found: dict[str, tuple[object, bool]] = {}
    for name in listed:
        obj = _load(name)
        found[name] = (obj, True)
        if not inspect.isclass(obj):
            continue
        for attr in dir(obj):
            static = inspect.getattr_static(obj, attr)
            if isinstance(static, classmethod | staticmethod):
                static = static.__func__
            if inspect.isfunction(static):
                found[f"{name}.{attr}"] = (getattr(obj, attr), False)
            elif isinstance(static, property):
                found[f"{name}.{attr}"] = (static, False)
    return sorted((n, o, top) for n, (o, top) in found.items() if not EXCLUDE.search(n))


DOCUMENTED = _documented()
IDS = [name for name, _, _ in DOCUMENTED]
PUBLIC_CALLABLES = [(n, o) for n, o, _ in DOCUMENTED if not isinstance(o, property)]


def test_the_docs_build_validates_docstrings():
    assert {"GL08", "PR01", "PR02", "PR10", "RT01", "SS01", "SS03"} <= CHECKS
    assert DOCUMENTED, "no public name found in docs/api.rst"


@pytest.mark.parametrize(("name", "obj", "top"), DOCUMENTED, ids=IDS)
def test_numpydoc_validation(name, obj, top):
    checks = TOP_LEVEL_CHECKS if top else CHECKS
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        checks = checks - {"EX01"}
    report = numpydoc_validate.validate(get_doc_object(obj))
    errors = [f"{code}: {message}" for code, message in report["errors"] if code in checks]
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


DATACLASSES = [(n, o) for n, o, top in DOCUMENTED if top and dataclasses.is_dataclass(o)]


def _documented_fields(cls) -> set[str]:
    doc = get_doc_object(cls)
    return {part.strip() for section in ("Parameters", "Attributes")
            for entry in doc[section] for part in entry.name.split(",")}


@pytest.mark.parametrize(("name", "cls"), DATACLASSES, ids=[n for n, _ in DATACLASSES])
def test_every_public_dataclass_field_is_documented(name, cls):
    documented = _documented_fields(cls)
    # fields of a documented dataclass base the docstring refers to ("Every attribute of
    # :class:`ClusterResult` is present ...") are documented there
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base) and f"`{base.__name__}`" in (cls.__doc__ or ""):
            documented |= _documented_fields(base)
    fields = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    missing = sorted(fields - documented)
    assert not missing, f"{name}: fields not under Parameters or Attributes: {missing}"


_DEFAULT = re.compile(r"default\s*=\s*(?P<value>.+)$")


def _documented_defaults(doc) -> list[tuple[str, object]]:
    """``(parameter, default)`` for every ``default=<Python literal>`` in a type line."""
    out = []
    for entry in doc["Parameters"]:
        match = _DEFAULT.search(entry.type)
        if not match:
            continue
        try:  # descriptive defaults ("16 MiB", a constant's name) are not checked
            value = ast.literal_eval(match["value"].strip())
        except (ValueError, SyntaxError):
            continue
        names = [n.strip() for n in entry.name.split(",")]
        values = list(value) if len(names) > 1 and isinstance(value, tuple) else [value]
        out.extend(zip(names, values, strict=False))
    return out


@pytest.mark.parametrize(("name", "obj"), PUBLIC_CALLABLES, ids=[n for n, _ in PUBLIC_CALLABLES])
def test_documented_defaults_match_the_signature(name, obj):
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    wrong = []
    for pname, documented in _documented_defaults(get_doc_object(obj)):
        param = params.get(pname)
        if param is None:
            continue  # PR02 reports it
        actual = param.default
        if actual is inspect.Parameter.empty:
            wrong.append(f"{pname}: documents default={documented!r} but is required")
        elif actual is CHANGED or repr(actual) == "<factory>":
            continue  # a default being changed with a FutureWarning; a default_factory
        elif isinstance(actual, str) and isinstance(documented, str):
            if str(actual) != documented:
                wrong.append(f"{pname}: documents {documented!r}, signature {actual!r}")
        elif not (documented == actual and type(documented) in (type(actual), int, float)):
            wrong.append(f"{pname}: documents {documented!r}, signature {actual!r}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize(("name", "obj"), PUBLIC_CALLABLES, ids=[n for n, _ in PUBLIC_CALLABLES])
def test_no_unfilled_shared_parameter_text(name, obj):
    assert "%(" not in (obj.__doc__ or ""), f"{name}: docstring not passed to fill_doc"


# --- the shared parameter texts (painmarkers._docs) -----------------------------------------
def test_every_shared_text_is_used():
    from painmarkers._docs import DOCDICT

    source = "\n".join(p.read_text(encoding="utf-8")
                       for p in (ROOT / "painmarkers").rglob("*.py"))
    unused = sorted(k for k in DOCDICT if f"%({k})s" not in source)
    assert not unused, f"DOCDICT entries no docstring uses: {unused}"


def test_lines_under_a_placeholder_continue_its_description():
    from painmarkers._docs import DOCDICT, fill_doc

    @fill_doc
    def f(data, *, subject="subject_id"):
        """Do something.

        Parameters
        ----------
        data : pandas.DataFrame
            The table.
        %(subject)s
            Here the ICC's targets.
        """

    doc = get_doc_object(f)
    (entry,) = [p for p in doc["Parameters"] if p.name == "subject"]
    assert entry.type == 'str, default="subject_id"'
    shared = [line.strip() for line in DOCDICT["subject"].splitlines()[1:]]
    assert entry.desc == [*shared, "Here the ICC's targets."]
    assert not [e for e in numpydoc_validate.validate(doc)["errors"] if e[0] in CHECKS]
