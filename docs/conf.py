"""Sphinx configuration of graphviz_bp's documentation (every figure made by its own directive)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "gallery"))  # the gallery's examples, for :function: example:graph

import graphviz_bp  # noqa: E402

project = "graphviz_bp"
author = "graphviz_bp developers"
copyright = "2026, graphviz_bp developers"
release = version = graphviz_bp.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_click",
    "graphviz_bp.sphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
graphviz_output_format = "svg"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
html_theme_options = {"page_width": "1240px", "sidebar_width": "200px"}
html_static_path = ["_static"]
html_css_files = ["graphviz_bp.css"]
myst_heading_anchors = 2
