"""benchmarks/sim_lr_search.py, small: the simulated parallel search finds the same etas on every worker count,
needs no more rounds with more workers, and its modelled wall time never grows (no torch)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from verify.lr.search import SearchSettings

ROOT = Path(__file__).resolve().parents[2]


def _sim():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sim_lr_search", ROOT / "benchmarks" / "sim_lr_search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sim_lr_search"] = module
    spec.loader.exec_module(module)
    return module


def test_the_simulated_search_scales_and_agrees_across_worker_counts(tmp_path: Path) -> None:
    sim = _sim()
    text, outcomes, grids = sim.table([32, 64, 128, 256], 2, (1, 2, 4, 16), SearchSettings())
    assert text.endswith("same maximal stable and optimal etas for every worker count: True")
    walls = [o.wall for o in outcomes]
    assert walls == sorted(walls, reverse=True) and walls[-1] < walls[0]
    rounds = [o.rounds for o in outcomes]
    assert rounds == sorted(rounds, reverse=True) and rounds[-1] < rounds[0]  # more workers: fan-out, fewer rounds
    assert outcomes[0].runs == outcomes[1].runs  # two workers: seed groups only, not one training more
    assert all(o.busy <= 1 + 1e-9 for o in outcomes)
    assert [g[0] for g in grids] == [4 * sim.grid_points(SearchSettings())] * 4
    for out in outcomes:  # the fake trainer's edge lies in every final bracket
        for width, per_seed in out.max_stable.items():
            for seed, value in enumerate(per_seed):
                assert value is not None and abs(value / sim.edge(width, seed) - 1) < 0.05
    plot = tmp_path / "sim.png"
    sim.main(["--widths", "32,64", "--seeds", "2", "--workers", "1,2", "--plot", str(plot)])
    assert plot.stat().st_size > 5_000


def test_the_figures_docs_lr_sweep_quotes_are_what_the_simulation_prints() -> None:
    """docs/lr_sweep.md ("Parallel search") quotes the default run; the build shows the run itself."""
    sim = _sim()
    _, outcomes, grids = sim.table([64, 128, 256, 512, 1024], 3, sim.WORKERS, SearchSettings())
    by = {o.workers: o for o in outcomes}
    speed = {n: round(by[1].wall / o.wall, 2) for n, o in by.items()}
    assert (speed[2], speed[4], speed[8], round(speed[16], 1), round(speed[64], 1)) == (1.98, 3.90, 6.75, 9.4, 14.1)
    assert [by[n].fanout[1024] for n in (4, 8, 16, 64)] == [1, 2, 3, 15]
    assert (by[16].rounds, by[64].rounds, by[1].runs, by[64].runs) == (6, 4, 213, 282)
    assert (by[1].trainings, by[64].trainings, grids[0][0]) == (71, 252, 540)
    assert (round(grids[0][1] / by[1].wall, 1), round(grids[-1][1] / by[64].wall, 1)) == (7.7, 1.7)
    assert round(by[64].busy, 2) == 0.51 and min(by[2].busy, by[4].busy) >= 0.99
