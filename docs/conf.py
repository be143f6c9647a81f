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
}


def _skip_sklearn_routing(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated metadata-routing methods (``set_*_request``).

    scikit-learn attaches them to every estimator subclass; their docstrings refer to
    sklearn's own glossary, which this site cannot resolve offline.
    """
    if re.fullmatch(r"set_\w+_request|get_metadata_routing", name):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
