"""Sphinx configuration of the painmarkers documentation."""

import os
import re
import sys
from pathlib import Path

import painmarkers

sys.path.insert(0, str(Path(__file__).parent))
from gallery_hooks import DeprecationsAreErrors, TightScraper

project = "painmarkers"
author = "painmarkers developers"
copyright = "2026, painmarkers developers"
version = release = painmarkers.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# --- numpydoc validation of the API pages ----------------------------------------------
# Every docstring the API pages render is validated; -W turns each finding into an error.
# tests/test_docstrings.py runs the same checks with the same exclusions in the ordinary
# test suite (it reads them from this file), so a missing parameter fails before the docs
# build. Checks (numpydoc.validate.ERROR_MSGS):
#   GL01-GL10  layout: docstring present (GL08), known sections in order, no tabs/double blanks
#   SS01-SS04, SS06  a one-line summary starting with a capital and ending with a period
#   PR01-PR10  every parameter documented (PR01), none unknown (PR02), in signature order,
#              each with a type and a capitalised description ending in a period, "x : type"
#   RT01-RT05  a Returns section on every function that returns something, described
#   YD01       a Yields section on generators
#   SA02-SA04  See Also entries (where there is a See Also section) described
# Not checked: ES01 (extended summary), SA01 (See Also only where relevant), SS05 (its
# heuristic rejects noun-phrase summaries such as "Analysis of covariance ..." or "Power's
# framewise displacement ...") and EX01: numpydoc cannot limit a check to some objects,
# and Examples are required on public functions and classes, not on every method;
# tests/test_docstrings.py checks EX01 on those. A check can be waived for one object with
# a "# numpydoc ignore=CODE" comment on its def/class line (used for PR01 and EX01 on result
# classes: their fields are documented under Attributes, and the functions returning them
# hold the examples).
numpydoc_validation_checks = {
    "GL01", "GL02", "GL03", "GL05", "GL06", "GL07", "GL08", "GL09", "GL10",
    "SS01", "SS02", "SS03", "SS04", "SS06",
    "PR01", "PR02", "PR03", "PR04", "PR05", "PR06", "PR07", "PR08", "PR09", "PR10",
    "RT01", "RT02", "RT03", "RT04", "RT05",
    "YD01",
    "SA02", "SA03", "SA04",
}
# Checks tests/test_docstrings.py adds on public module-level functions and classes.
NUMPYDOC_TOP_LEVEL_CHECKS = {"EX01"}

# Names never validated (regular expressions searched in the documented name), each for
# the reason in its comment. Every other public name of every package is validated.
NUMPYDOC_EXCLUDE = [
    # private and special names (``_x``, ``__call__``): not rendered, not public API
    r"\._[^.]*$",
    # methods every estimator inherits from scikit-learn, with scikit-learn's own
    # docstrings (their "self : estimator instance" Returns fails RT02); not ours to fix
    r"\.(get_params|set_params|set_output|get_metadata_routing)$",
    # the same for fit_transform, inherited from TransformerMixin by these classes
    # (ComBat and ConfoundRegressor define their own, which are validated)
    r"^painmarkers\.(extractors\.\w+|prediction\.VoxelMasker)\.fit_transform$",
    # scikit-learn's generated metadata-routing setters (hidden from the pages too,
    # see _skip_sklearn_routing below)
    r"\.set_\w+_request$",
]


def _data_names() -> list[str]:
    """Patterns of the documented names that hold data: module constants, class attributes.

    numpydoc validates the docstring of such a name's *value type* (``str``, ``dict``,
    ``bool``; see pandas-dev/pandas#27055), not the ``#:`` comment that documents it, so
    these names are not validated.
    """
    import importlib
    import inspect

    api = (Path(__file__).parent / "api.rst").read_text()
    found = []
    for name in re.findall(r"^\s+(painmarkers\.[\w.]+)\s*$", api, re.M):
        module, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attr)
        if inspect.isclass(obj):
            found += [f"{name}.{member}" for member in dir(obj) if not member.startswith("_")
                      and not callable(value := inspect.getattr_static(obj, member))
                      and not isinstance(value, property | classmethod | staticmethod)]
        elif not callable(obj):
            found.append(name)
    return [f"^{re.escape(name)}$" for name in found]


numpydoc_validation_exclude = {*NUMPYDOC_EXCLUDE, *_data_names()}
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "sg_execution_times.rst"]
default_role = "obj"
nitpicky = False
suppress_warnings = ["config.cache"]

# No network at build time: intersphinx inventories are not fetched.
intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "check_switcher": False,
}
html_title = f"painmarkers {version}"
# pydata-sphinx-theme logs "Got invalid theme mode" in the browser console without it.
html_context = {"default_mode": "auto"}

# MathJax served from the site itself when Debian's libjs-mathjax (MathJax 2) is installed,
# so that the formulas render offline (.ci/run installs it); else the theme's CDN default.
_MATHJAX_DIR = Path(os.environ.get("PAINMARKERS_MATHJAX_DIR", "/usr/share/javascript/mathjax"))
_MATHJAX_PARTS = ["MathJax.js", "extensions", "jax/element", "jax/input/TeX",
                  "jax/output/CommonHTML", "fonts/HTML-CSS/TeX/woff", "localization/en"]
_LOCAL_MATHJAX = (_MATHJAX_DIR / "MathJax.js").is_file()
if _LOCAL_MATHJAX:
    mathjax_path = "mathjax/MathJax.js"
    mathjax2_config = {
        "jax": ["input/TeX", "output/CommonHTML"],
        "extensions": ["tex2jax.js"],
        "TeX": {"extensions": ["AMSmath.js", "AMSsymbols.js"]},
        "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                    "processEscapes": True},
        "CommonHTML": {"webFont": "TeX"},
        "menuSettings": {"zoom": "None"},
    }

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "image_scrapers": (TightScraper(),),
    "reset_modules": ("matplotlib", "seaborn", DeprecationsAreErrors()),
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "run_stale_examples": False,
    "plot_gallery": os.environ.get("PAINMARKERS_DOCS_PLOT", "True"),
    "matplotlib_animations": False,
    # readable figures: images at twice the resolution for high-density screens, and
    # thumbnails of the default size (400 x 280, shown at 160 x 112); an example whose
    # first figure is a wide brain montage picks a readable one with
    # "# sphinx_gallery_thumbnail_number = N", and a code cell drawing several montages
    # shows them one under the other at full width with
    # "# sphinx_gallery_multi_image_block = 'single'" (side by side they shrink to 42 %)
    "image_srcset": ["2x"],
    "thumbnail_size": (400, 280),
    "reference_url": {"painmarkers": None},
    # the timing page loads jQuery and DataTables from CDNs (console errors offline)
    "write_computation_times": False,
}


def _skip_sklearn_routing(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated metadata-routing methods (``set_*_request``).

    scikit-learn attaches them to every estimator subclass; their docstrings refer to
    sklearn's own glossary, which this site cannot resolve offline.
    """
    if re.fullmatch(r"set_\w+_request|get_metadata_routing", name):
        return True
    # None: no opinion. Returning ``skip`` would force-show every member autosummary asks
    # about (it always passes False), private and special methods included.
    return None


def _copy_mathjax(app):
    """Copy the parts of MathJax 2 that TeX input with CommonHTML output needs (~1.5 MB)."""
    import shutil

    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        src, dst = _MATHJAX_DIR / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dst)


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
    if _LOCAL_MATHJAX:
        app.connect("builder-inited", _copy_mathjax)
