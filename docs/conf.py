"""Sphinx configuration of the seqsetvae documentation site (MyST Markdown).

Build: ``nox -s docs`` (warnings are errors, nitpicky cross-references). The reference pages are
written from the code before Sphinx reads the sources (``_ext/reference_pages.py``); the results
pages are committed and regenerated from their JSON by ``python docs/generate_results.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's package, also without an install

import reference_pages  # noqa: E402

project = "seqsetvae"
author = "the seqsetvae developers"
copyright = "the seqsetvae developers"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # `page.md#a-heading` links are checked against the page's headings
nitpicky = True
smartquotes = False  # `--data-dir` stays two dashes in prose and tables
exclude_patterns = [
    "_build", "_ext",
    # written by `seqsetvae compare` and the gate calibration, shown through the results pages
    "full_profile/**/report.md", "gate_calibration.md",
]
html_theme = "alabaster"
html_title = "seqsetvae"
html_theme_options = {"page_width": "1100px", "sidebar_width": "230px",
                      "description": "SeqSetVAE and a harness that tests training-stability "
                                     "claims"}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_static_path: list[str] = []
html_show_sourcelink = False


def _write_reference(app) -> None:
    reference_pages.write_pages(HERE / "reference")


def setup(app):
    app.connect("builder-inited", _write_reference)
