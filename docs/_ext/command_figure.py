"""``{command-figure}``: run a command that writes a plot while the docs build; show its output and the plot.

The argument is the command exactly as the page shows it; it must contain ``--plot NAME.png``.  The command
runs in a fresh temporary directory (so a results database is never resumed from an earlier build), its
output is shown as ``$ command`` plus what it printed on stdout (progress bars go to stderr), and the plot
it wrote is copied to ``docs/_build/figures/`` and shown below.  An exit code other than ``:returncode:``
(default 0) is a build warning, hence an error under ``-W``.  The same command on several pages runs once per build.

Options: ``:alt:`` (the image's alternative text), ``:caption:`` (the figure becomes a captioned figure) and
``:hide-output:`` (show only ``$ command`` above the figure: the gallery page).

``{fresh-command-output}`` is the same for a command that draws no plot (a check that writes its results
database, which must not land in, or resume from, the docs directory): its output only.
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


def figure(uri: str, alt: str, caption: str | None) -> nodes.Element:
    """An image, inside a captioned figure when ``caption`` is given."""
    image = nodes.image(uri=uri, alt=alt)
    if caption is None:
        return image
    shown = nodes.figure("", image)
    shown += nodes.caption(caption, caption)
    return shown


class CommandFigure(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"returncode": directives.nonnegative_int, "alt": directives.unchanged,
                   "caption": directives.unchanged, "hide-output": directives.flag}
    plotted = True  # the command must write --plot NAME.png, shown below its output

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0]
        argv = shlex.split(command)
        name = _plot_name(argv) if self.plotted else "output"
        figures = Path(self.env.srcdir) / "_build" / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        expected = self.options.get("returncode", 0)
        if command not in _RESULTS:  # the recorded runs' executor: fresh temporary directory, this environment
            plot_to = figures / name if self.plotted else None
            codes, outputs = execute(Recording(name, ((command, ""),), exit_code=expected), plot_to=plot_to)
            _RESULTS[command] = (codes[0], outputs[0].rstrip())
        returncode, output = _RESULTS[command]
        if returncode != expected:  # execute() logs stderr for codes other than 0 and the expected one
            logger.warning("%s: %r exited with %s (expected %s):\n%s", self.name, command, returncode,
                           expected, output, location=self.get_location())
        text = f"$ {command}" if "hide-output" in self.options else f"$ {command}\n{output}"
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        if not self.plotted:
            return [block]
        return [block, figure(f"/_build/figures/{name}", self.options.get("alt", name), self.options.get("caption"))]


class FreshCommandOutput(CommandFigure):
    plotted = False


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("command-figure", CommandFigure)
    app.add_directive("fresh-command-output", FreshCommandOutput)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
