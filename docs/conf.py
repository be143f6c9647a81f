"""Sphinx configuration of the painmarkers documentation."""

import os
import re
import sys
from pathlib import Path

import painmarkers

sys.path.insert(0, str(Path(__file__).parent))

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
numpydoc_validation_checks = set()
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
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "run_stale_examples": False,
    "plot_gallery": os.environ.get("PAINMARKERS_DOCS_PLOT", "True"),
    "matplotlib_animations": False,
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
    return skip


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
