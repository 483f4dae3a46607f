"""Shared test settings: hypothesis profile sized for a 2-core CI machine; one docs build per session."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
# the notebook page's kernel (ipykernel) logs this notice on stderr when it starts; it is no Sphinx warning
KERNEL_NOTICE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\..*$", re.M)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML documentation, built once per test session (a few minutes: every command on the pages runs)."""
    out = tmp_path_factory.mktemp("html")
    # -W: any warning (bad markup, a command with an unexpected exit code, a missing page, a notebook cell that
    # raises) fails the build; -E: a fresh environment, so every command runs again
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
                           "-d", str(out / ".doctrees"), str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert KERNEL_NOTICE.sub("", done.stderr).strip() == "", done.stderr  # -q prints warnings only
    return out
