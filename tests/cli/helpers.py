"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# this checkout first, whatever the directory: an editable install elsewhere (another worktree) must not answer
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def abcscale(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abcscale", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env=ENV)


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 2, one line on stderr naming the problem, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and len(err.splitlines()) == 1, err
    assert err.startswith("abcscale: error:"), err
    for needle in needles:
        assert needle in err, (needle, err)
