"""Recorded runs: commands too long for the docs build, shown verbatim and re-executed by a test.

A recording is ``docs/recorded/NAME.txt``::

    $ abcscale lr-sweep sp --loss ce --plot NAME.png
    # exit: 1                       (optional: the expected exit code, default 0)
    # mask: \\d+\\.\\d s\\b          (optional: regexes of volatile text, e.g. wall times; repeatable)
    # needs: cuda                   (optional: recorded on a GPU machine; the test skips it on one without)
    <what the command printed on stdout>
    $ abcscale table --db abcscale.db   (optional further commands, run in order in the same directory)
    <what it printed>

``{recorded-output} NAME`` shows the commands and their output on a page, and the plot
``docs/recorded/NAME.png`` when a command has ``--plot NAME.png`` (options ``:caption:`` and ``:hide-output:``,
as for ``{command-figure}``).
``python docs/_ext/recorded.py NAME [--command CMD ...] [--mask REGEX ...] [--needs cuda]`` (re)records: it runs the
commands in a fresh temporary directory, as the test does, and rewrites the file and the plot.
``tests/test_docs_recorded.py`` (marker ``recorded``, run by CI, deselected locally) runs every recording
again and requires the same output, byte for byte, outside the masked spans; so a page can only show what the
code prints now.  This module imports no Sphinx at module level so that the test and the
recorder can use it without a docs toolchain.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
RECORDED = DOCS / "recorded"
MASK_PREFIX = "# mask: "
EXIT_PREFIX = "# exit: "
NEEDS_PREFIX = "# needs: "
NEEDS = ("cuda",)
MASKED = "<masked>"


@dataclass(frozen=True)
class Recording:
    """One recorded run: commands as the page shows them (run in order, in one directory), their stdout,
    the expected exit code of each and regexes of volatile text."""

    name: str
    steps: tuple[tuple[str, str], ...]  # (command, stdout)
    masks: tuple[str, ...] = ()
    exit_code: int = 0
    needs: str | None = None  # "cuda": recorded on a GPU machine (CI has none, so it cannot re-run it)

    @property
    def commands(self) -> list[str]:
        return [command for command, _ in self.steps]

    @property
    def plot(self) -> str | None:
        """The bare file name a command writes with ``--plot`` (the last one), or None."""
        plots = []
        for command in self.commands:
            argv = shlex.split(command)
            if "--plot" in argv and argv.index("--plot") + 1 < len(argv):
                plots.append(argv[argv.index("--plot") + 1])
        return plots[-1] if plots else None

    def normalized(self, text: str) -> str:
        """``text`` with every masked span replaced by a placeholder and trailing blanks dropped."""
        for mask in self.masks:
            text = re.sub(mask, MASKED, text)
        return "\n".join(line.rstrip() for line in text.rstrip().splitlines())

    def shown(self) -> str:
        """What a page shows: each command after ``$ ``, then its output."""
        return "\n".join(f"$ {command}\n{output.rstrip()}".rstrip() for command, output in self.steps)

    def text(self) -> str:
        first, *_ = self.commands
        head = [f"$ {first}"] + ([f"{EXIT_PREFIX}{self.exit_code}"] if self.exit_code else [])
        head += [f"{NEEDS_PREFIX}{self.needs}"] if self.needs else []
        head += [f"{MASK_PREFIX}{mask}" for mask in self.masks]
        body = self.shown().split("\n", 1)[1] if "\n" in self.shown() else ""
        return "\n".join(head) + "\n" + (body + "\n" if body else "")


def parse(name: str, text: str) -> Recording:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("$ "):
        raise ValueError(f"{name}.txt: the first line must be '$ COMMAND'")
    masks: list[str] = []
    exit_code = 0
    needs: str | None = None
    body = 1
    while body < len(lines) and lines[body].startswith((MASK_PREFIX, EXIT_PREFIX, NEEDS_PREFIX)):
        if lines[body].startswith(EXIT_PREFIX):
            exit_code = int(lines[body][len(EXIT_PREFIX):])
        elif lines[body].startswith(NEEDS_PREFIX):
            needs = lines[body][len(NEEDS_PREFIX):]
            if needs not in NEEDS:
                raise ValueError(f"{name}.txt: '# needs: {needs}': expected one of {', '.join(NEEDS)}")
        else:
            masks.append(lines[body][len(MASK_PREFIX):])
        body += 1
    steps: list[tuple[str, list[str]]] = [(lines[0][2:], [])]
    for line in lines[body:]:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return Recording(name, tuple((c, "\n".join(out)) for c, out in steps), tuple(masks), exit_code, needs)


def load(name: str) -> Recording:
    """Read ``docs/recorded/NAME.txt``."""
    return parse(name, (RECORDED / f"{name}.txt").read_text(encoding="utf-8"))


def names() -> list[str]:
    """Every recording, sorted."""
    return sorted(path.stem for path in RECORDED.glob("*.txt"))


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] in ("python", ".venv/bin/python"):
        argv[0] = sys.executable
    # scripts (benchmarks/...) and parametrization files (docs/examples/...) are given relative to the
    # repository root
    # and so is the file of a module spec (verify --module docs/examples/x.py:build)
    return [str(DOCS.parent / arg) if (arg.endswith((".py", ".toml")) or re.fullmatch(r"[\w./-]+\.py:\w+", arg))
            and not Path(arg).is_absolute() else arg for arg in argv]


def execute(recording: Recording, plot_to: Path | None = None,
            timeout: float | None = None) -> tuple[list[int], list[str]]:
    """Run the recorded commands in order in one fresh temporary directory; return exit codes and stdouts.

    ``abcscale`` and ``python`` resolve to this interpreter's environment.  With ``plot_to`` the plot the
    commands wrote is copied there.
    """
    env = dict(os.environ, MPLBACKEND="Agg", COLUMNS="100")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    codes: list[int] = []
    outputs: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        for command in recording.commands:
            done = subprocess.run(_argv(command), cwd=work, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
            if done.returncode not in (0, recording.exit_code):
                sys.stderr.write(done.stderr[-4000:])
            codes.append(done.returncode)
            outputs.append(done.stdout)
        if plot_to is not None and recording.plot and (Path(work) / recording.plot).exists():
            shutil.copyfile(Path(work) / recording.plot, plot_to)
    return codes, outputs


def record(name: str, commands: list[str] | None = None, masks: tuple[str, ...] | None = None,
           needs: str | None = None) -> Recording:
    """Run a recording's commands (or new ``commands``) and rewrite its file and plot."""
    old = load(name) if (RECORDED / f"{name}.txt").exists() else None
    if not commands and old is None:
        raise ValueError(f"{name}: no recording yet; give the command")
    commands = commands or old.commands  # type: ignore[union-attr]
    masks = masks if masks is not None else (old.masks if old else ())
    needs = needs or (old.needs if old else None)
    draft = Recording(name, tuple((c, "") for c in commands), masks)
    if draft.plot and draft.plot != f"{name}.png":
        raise ValueError(f"{name}: --plot must be {name}.png")
    RECORDED.mkdir(exist_ok=True)
    codes, outputs = execute(draft, plot_to=RECORDED / draft.plot if draft.plot else None)
    if any(code not in (0, 1) for code in codes):
        raise SystemExit(f"{name}: exit codes {codes}")
    recording = Recording(name, tuple(zip(commands, outputs, strict=True)), masks, max(codes), needs)
    (RECORDED / f"{name}.txt").write_text(recording.text(), encoding="utf-8")
    return recording


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point: the ``{recorded-output} NAME`` directive."""
    from command_figure import figure
    from docutils import nodes
    from docutils.parsers.rst import directives
    from sphinx.util.docutils import SphinxDirective

    class RecordedOutput(SphinxDirective):
        """``{recorded-output} NAME``; ``:caption:`` makes the plot a captioned figure, ``:hide-output:`` shows
        the commands without their output (the gallery page)."""

        required_arguments = 1
        option_spec = {"caption": directives.unchanged, "hide-output": directives.flag}

        def run(self) -> list[nodes.Node]:
            recording = load(self.arguments[0])
            self.env.note_dependency(str(RECORDED / f"{recording.name}.txt"))
            if "hide-output" in self.options:
                text = "\n".join(f"$ {command}" for command in recording.commands)
            else:
                text = recording.shown()
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            result: list[nodes.Node] = [block]
            if recording.plot:
                result.append(figure(f"/recorded/{recording.plot}", recording.plot, self.options.get("caption")))
            return result

    app.add_directive("recorded-output", RecordedOutput)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="(Re)record docs/recorded/NAME.txt by running its command.")
    parser.add_argument("name", help="recording name (docs/recorded/NAME.txt)")
    parser.add_argument("--command", action="append",
                        help="a new command to record (repeatable: run in order in one directory; default: the "
                             "file's own)")
    parser.add_argument("--mask", action="append", help="regex of volatile text (repeatable; replaces the file's)")
    parser.add_argument("--needs", choices=NEEDS, default=None,
                        help="mark a recording made on a GPU machine (its test skips where there is none)")
    args = parser.parse_args(argv)
    recording = record(args.name, args.command, tuple(args.mask) if args.mask else None, args.needs)
    print(recording.text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
