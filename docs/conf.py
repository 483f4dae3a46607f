"""Sphinx configuration of the abcscale documentation (MyST Markdown, autodoc, MathJax, live command output).

The pages are organised by what the reader wants (tutorials, how-to guides, explanations, reference, gallery:
docs/index.md).  The theme is pydata-sphinx-theme; MathJax is served from the site itself
(``sphinx-mathjax-offline`` copies MathJax 3 to ``_static/mathjax``), so formulas render without network, as
``tests/test_docs_browser.py`` checks in headless Chromium.  ``docs/notebook.md`` is a Jupyter notebook in MyST
form (myst-nb), executed while the docs build.

Every ``{command-output}`` / ``{program-output}`` block runs its command while the docs build, with the
interpreter that runs Sphinx (its ``bin`` directory goes first on PATH, so ``abcscale`` and ``python`` are
this environment's), from the docs directory.  Trainings that draw a plot use ``{command-figure}``
(docs/_ext/command_figure.py), which runs them in a fresh temporary directory.  Trainings too long for a
build (minutes each) are ``{recorded-output}`` blocks (docs/_ext/recorded.py): shown from docs/recorded/ and
re-executed, output compared, by tests/test_docs_recorded.py in CI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
os.environ["MPLBACKEND"] = "Agg"
os.environ["COLUMNS"] = "100"  # argparse wraps --help at the terminal width: fix it

project = "abcscale"
author = "the abcscale authors"
copyright = "abcscale authors"
release = "0.1.0"

extensions = [
    "myst_nb",  # MyST Markdown pages, and notebooks (docs/notebook.md) executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax from _static/mathjax instead of a CDN (sets mathjax_path)
    "sphinx_copybutton",
    "sphinxcontrib.programoutput",
    "plain_docstrings",
    "command_figure",
    "recorded",
]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_ext", "examples", "recorded", "_static"]

# notebooks: run every time (a build shows what the code does now), in a fresh temporary directory; a cell that
# raises fails the build
nb_execution_mode = "force"
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_merge_streams = True
nb_execution_show_tb = True

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}

programoutput_prompt_template = "$ {command}\n{output}"

# the copy button copies commands, not their output: "$ " and ">>> " / "... " prompts are stripped and lines
# without a prompt (output) are left out; a block without prompts is copied whole
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_exclude = ".linenos, .gp, .go"

html_theme = "pydata_sphinx_theme"
html_title = "abcscale"
html_static_path = ["_static"]
html_css_files = ["abcscale.css"]
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "navigation_depth": 3,
    "show_nav_level": 1,
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "navigation_with_keys": False,
}
html_sidebars = {"index": [], "gallery": []}
html_show_sourcelink = False
