"""``{command-figure}``: run a command that writes a plot while the docs build; show its output and the plot.

The argument is the command exactly as the page shows it; it must contain ``--plot NAME.png``.  The command
runs in a fresh temporary directory (so a results database is never resumed from an earlier build), its
output is shown as ``$ command`` plus what it printed on stdout (progress bars go to stderr), and the plot
it wrote is copied to ``docs/_build/figures/`` and shown below.  An exit code other than ``:returncode:``
(default 0) is a build warning, hence an error under ``-W``.  The same command on several pages runs once per build.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from recorded import Recording, execute
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
_RESULTS: dict[str, tuple[int, str]] = {}


def _plot_name(argv: list[str]) -> str:
    if "--plot" not in argv or argv.index("--plot") + 1 >= len(argv):
        raise ValueError("command-figure: the command needs --plot NAME.png")
    name = argv[argv.index("--plot") + 1]
    if "/" in name:
        raise ValueError("command-figure: --plot takes a bare file name")
    return name


class CommandFigure(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"returncode": directives.nonnegative_int, "alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0]
        argv = shlex.split(command)
        name = _plot_name(argv)
        figures = Path(self.env.srcdir) / "_build" / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        expected = self.options.get("returncode", 0)
        if command not in _RESULTS:  # the recorded runs' executor: fresh temporary directory, this environment
            codes, outputs = execute(Recording(name, ((command, ""),), exit_code=expected), plot_to=figures / name)
            _RESULTS[command] = (codes[0], outputs[0].rstrip())
        returncode, output = _RESULTS[command]
        if returncode != expected:  # execute() logs stderr for codes other than 0 and the expected one
            logger.warning("command-figure: %r exited with %s (expected %s):\n%s", command, returncode,
                           expected, output, location=self.get_location())
        text = f"$ {command}\n{output}"
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        image = nodes.image(uri=f"/_build/figures/{name}", alt=self.options.get("alt", name))
        return [block, image]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("command-figure", CommandFigure)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
