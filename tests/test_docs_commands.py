"""Every command the docs show is executed somewhere: by the docs build, by a recorded run, or by a named test.

The collector finds commands in code blocks (lines starting ``abcscale``, ``$ abcscale``, ``python`` or
``.venv/bin/``) and in inline code spans (``abcscale SUBCOMMAND ARG...``).  A command counts as executed when
it is the argument of a ``{command-output}`` / ``{command-figure}`` block (run by the build), a command of a
recording in docs/recorded/ (re-run by tests/test_docs_recorded.py), or listed in ``EXECUTED_BY`` below with
the test that runs it with exactly these arguments.  Synopses with placeholders (``[--plot PATH]``,
``PRESET|FILE.toml``) are not commands and are skipped.
"""

from __future__ import annotations

import importlib
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import recorded  # noqa: E402

# command as shown -> "tests/module.py::test_function" that runs it with these arguments
EXECUTED_BY: dict[str, str] = {
    "abcscale table --paper tp4": "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --paper tp5": "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --paper everett": "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --paper everett-max-updates":
        "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --paper haas": "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --params sp,ntk,mup,mfp --optimizers sgd,adam --losses ce,mse":
        "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table sp --per-layer --lr-exponent -1/2":
        "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table sp --optimizer adam --phases":
        "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --params sp,mup --quantity effective_update --layer output --lr-exponent -1/2":
        "tests/test_docs_pages.py::test_tables_page_shows_the_commands_output",
    "abcscale table --params sp --quantity max_lr":
        "tests/test_docs_pages.py::test_tables_page_shows_the_error_messages",
    "abcscale table --params sp --layers 1 --quantity feature_update --layer hidden":
        "tests/test_docs_pages.py::test_tables_page_shows_the_error_messages",
    "abcscale derive ip-llr --layers 6 --activation tanh":
        "tests/cli/test_derive_cli.py::test_slow_lift_of_a_vanishing_init_needs_a_longer_horizon",
    "abcscale derive ip-llr --layers 6 --activation tanh --horizon 8":
        "tests/cli/test_derive_cli.py::test_slow_lift_of_a_vanishing_init_needs_a_longer_horizon",
    "abcscale table --paper tp4 --format latex --standalone -o tp4.tex":
        "tests/test_docs_pages.py::test_tables_page_latex_file_is_the_printed_table",
    "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e \".[dask,dev]\" "
    "&& .venv/bin/abcscale check sp --loss ce": "tests/test_docs_pages.py::test_getting_started_shows_the_readme_"
                                                "commands_verbatim (CI runs it: .ci/run)",
    ".venv/bin/python -m pytest": "tests/test_docs_pages.py::test_getting_started_shows_the_readme_commands_verbatim"
                                  " (CI runs it: .ci/run)",
    "abcscale check mup --loss mse --widths 1024,2048,4096":
        "tests/verify/test_finite_width_causes.py::"
        "test_mse_chi_rows_pass_at_wider_widths"
        " (--db in a temporary directory, --json)",
    "abcscale check mup --optimizer signsgd --activation tanh --widths 1024,2048,4096 --seeds 4":
        "tests/verify/test_finite_width_causes.py::"
        "test_overlap_rows_pass_at_wider_widths"
        " (--db in a temporary directory, --json)",
    "abcscale check mup --optimizer adam --activation tanh --data digits":
        "tests/verify/test_finite_width_causes.py::"
        "test_correlated_inputs_pass_at_default_widths"
        " (--db in a temporary directory, --json)",
    "abcscale check ip --base-width 128 --lr 0.1":
        "tests/verify/test_finite_width_causes.py::"
        "test_ip_at_base_width_128_passes_at_wider_widths"
        " (--db in a temporary directory, --json)",
    "abcscale check ip --base-width 128 --lr 0.1 --widths 1024,2048,4096":
        "tests/verify/test_finite_width_causes.py::"
        "test_ip_at_base_width_128_passes_at_wider_widths"
        " (--db in a temporary directory, --json)",
    "abcscale lr-sweep sp --widths 16,32,64,128 --seeds 2 --steps 150 --base-width 16 --precision 1.1 "
    "--grid-points 3 --json --db ref.db --workers 2":
        "tests/verify/test_distributed.py::test_killed_worker_loses_nothing (CLI_FLAGS, --db in a temporary "
        "directory, --workers 2; also its reference fixture, uninterrupted)",
}

PLACEHOLDER = re.compile(r"\[|\||\.\.\.|…|\bPATH\b|\bPRESET\b|\bFILE\b|\bHOST\b|\bNAME\b|\bID\b|\bN\b|\bT\b")
STARTS = ("abcscale ", "$ abcscale ", "python ", "python3 ", ".venv/bin/", "$ python", "$ .venv/bin/")
DIRECTIVE = re.compile(r"^```\{(command-output|command-figure|program-output)\}\s+(.*)$", re.M)


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def _block_commands(text: str) -> list[str]:
    commands = []
    for block in re.findall(r"^```[^\n{]*\n(.*?)^```", text, re.M | re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith(STARTS):
                line = re.sub(r"\s{2,}#.*$", "", line).removeprefix("$ ").strip()
                commands.append(line)
    return commands


def _inline_commands(text: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    found = []
    for span in re.findall(r"`([^`\n]+)`", prose):
        span = span.strip()
        if span.startswith(("abcscale ", ".venv/bin/python benchmarks/")) and len(shlex.split(span)) > 2:
            found.append(span)
    return found


def shown_commands() -> dict[str, list[str]]:
    """Command -> pages showing it (synopses excluded)."""
    shown: dict[str, list[str]] = {}
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for command in _block_commands(text) + _inline_commands(text):
            if not PLACEHOLDER.search(command):
                shown.setdefault(command, []).append(str(page.relative_to(DOCS)))
    return shown


def executed_commands() -> set[str]:
    executed = set(EXECUTED_BY)
    for page in _pages():
        executed |= {m.group(2).strip() for m in DIRECTIVE.finditer(page.read_text(encoding="utf-8"))}
    for name in recorded.names():
        executed |= set(recorded.load(name).commands)
    return executed


def test_every_command_shown_in_the_docs_is_executed() -> None:
    executed = executed_commands()
    missing = {command: pages for command, pages in shown_commands().items() if command not in executed}
    assert not missing, "\n".join(f"{pages}: {command}" for command, pages in sorted(missing.items()))


def test_the_tests_named_in_executed_by_exist() -> None:
    for test in EXECUTED_BY.values():
        path, function = test.split(" ")[0].split("::")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, function)), test


def test_the_collector_finds_commands_and_skips_synopses() -> None:
    text = "x `abcscale check sp --loss ce` y `abcscale check`\n```\nabcscale elr --train [--plot PATH]\n" \
           "abcscale derive mup \\\n    --loss mse   # note\n```\n"
    assert _inline_commands(text) == ["abcscale check sp --loss ce"]
    assert _block_commands(text) == ["abcscale elr --train [--plot PATH]", "abcscale derive mup --loss mse"]
    assert PLACEHOLDER.search("abcscale elr --train [--plot PATH]")
