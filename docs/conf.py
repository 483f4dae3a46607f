"""Sphinx configuration of the abcscale documentation (MyST Markdown, autodoc, MathJax, live command output).

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
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinxcontrib.programoutput",
    "plain_docstrings",
    "command_figure",
    "recorded",
]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_ext", "examples", "recorded"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}

programoutput_prompt_template = "$ {command}\n{output}"

html_theme = "alabaster"
html_title = "abcscale"
html_static_path: list[str] = []
