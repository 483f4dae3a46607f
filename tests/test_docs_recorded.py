"""Every recorded run shown in the docs (docs/recorded/*.txt) prints, when run again now, what the page shows.

These are the long trainings of the result pages (minutes each), so they carry the ``recorded`` marker: the
default suite deselects them (pyproject addopts) and CI runs them (``.ci/run``: ``pytest -m recorded``).
The comparison is exact outside the spans a recording masks (wall times of benchmarks, for instance): the
trainings are seeded, so on the same CPU kind and torch build they repeat to the last printed digit.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
import recorded  # noqa: E402


@pytest.mark.slow
@pytest.mark.recorded
@pytest.mark.parametrize("name", recorded.names())
def test_recorded_run_prints_what_the_page_shows(name: str) -> None:
    recording = recorded.load(name)
    if recording.needs == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip(f"{name} was recorded on a CUDA machine (--device cuda); this one has none")
    codes, outputs = recorded.execute(recording)
    assert max(codes) == recording.exit_code, (codes, recording.commands)
    for (command, shown), output in zip(recording.steps, outputs, strict=True):
        expected, got = recording.normalized(shown), recording.normalized(output)
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), got.splitlines(), "page", "now", lineterm=""))
        assert got == expected, f"{command}\n{diff}"
    if recording.plot:
        assert (recorded.RECORDED / recording.plot).exists(), recording.plot


def test_recordings_parse_and_plots_are_present() -> None:
    """Cheap structure check for the default suite: every recording parses and its plot file exists."""
    for name in recorded.names():
        recording = recorded.load(name)
        assert recording.commands and all(command.strip() for command in recording.commands), name
        if recording.plot:
            assert recording.plot == f"{name}.png", name
            assert (recorded.RECORDED / recording.plot).stat().st_size > 5_000, name


def test_parse_round_trips_several_commands_masks_and_exit_code() -> None:
    text = "$ abcscale a\n# exit: 1\n# mask: \\d+ s\nout 1 took 3 s\n$ abcscale b --plot x.png\nout 2\n"
    recording = recorded.parse("x", text)
    assert recording.commands == ["abcscale a", "abcscale b --plot x.png"]
    assert recording.exit_code == 1 and recording.plot == "x.png"
    assert recording.text() == text
    assert recording.normalized("out 1 took 7 s") == recording.normalized("out 1 took 3 s")
    assert recording.normalized("out 1 took 7 s") != recording.normalized("out 2 took 7 s")
    assert recording.needs is None
    on_gpu = recorded.parse("g", "$ abcscale a --device cuda\n# needs: cuda\nout\n")
    assert on_gpu.needs == "cuda" and on_gpu.text() == "$ abcscale a --device cuda\n# needs: cuda\nout\n"
    with pytest.raises(ValueError, match="needs: tpu"):
        recorded.parse("t", "$ abcscale a\n# needs: tpu\nout\n")
