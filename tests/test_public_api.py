"""Every public name imports, has a docstring and is listed in the API reference."""

import importlib
import re
from pathlib import Path

import pytest

MODULES = [
    "painmarkers",
    "painmarkers.exceptions",
    "painmarkers.schema",
    "painmarkers.model",
    "painmarkers.io",
    "painmarkers.rois",
    "painmarkers.extractors",
    "painmarkers.stats",
    "painmarkers.inference",
    "painmarkers.prediction",
    "painmarkers.reporting",
    "painmarkers.datasets",
    "painmarkers.testing",
    "painmarkers.study",
    "painmarkers.cli",
]
API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
# Names documented under the package where users import them from.
_TOP = {"__version__"}


def _public(module_name):
    module = importlib.import_module(module_name)
    return module, list(getattr(module, "__all__", []))


@pytest.mark.parametrize("module_name", MODULES)
def test_all_names_import_and_are_documented(module_name):
    module, names = _public(module_name)
    assert names, f"{module_name} defines no __all__"
    listed = set(re.findall(r"^\s+(painmarkers[\w.]*)\s*$", API_PAGE.read_text(), re.M))
    undocumented, no_doc = [], []
    for name in names:
        obj = getattr(module, name)  # AttributeError if __all__ lies
        if name in _TOP:
            continue
        qualified = {f"{module_name}.{name}"}
        home = getattr(obj, "__module__", None)
        if home:
            qualified |= {f"{m}.{name}" for m in MODULES if home.startswith(m)}
        if not qualified & listed:
            undocumented.append(name)
        if callable(obj) and not (getattr(obj, "__doc__", None) or "").strip():
            no_doc.append(name)
    assert not undocumented, f"{module_name}: not in docs/api.rst: {undocumented}"
    assert not no_doc, f"{module_name}: no docstring: {no_doc}"


def test_import_has_no_heavy_side_effects():
    import subprocess
    import sys

    code = ("import sys, painmarkers; "
            "print(int(any(m.startswith(('nilearn', 'matplotlib', 'sklearn')) "
            "for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0"


def test_version():
    import painmarkers

    assert re.fullmatch(r"\d+\.\d+\.\d+.*", painmarkers.__version__)
