"""``abcscale check`` / ``verify`` of a residual preset: slopes in the depth L against ``theory.depth``.

The residual presets (Depth-muP, CompleteP) make claims about depth, not width: they are trained across
``depths`` at one width (the first of ``widths``, default 256) and every feature-update slope in L is judged
against ``theory.depth``'s exponent (``verify.depth.sweep.residual``).  ``verify.width.check.check`` sends
these presets here, so the command line and Python share one path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from theory.errors import InputError
from theory.parametrization import Parametrization
from verify.depth.sweep import DepthRow, format_rows, rows_figure
from verify.memory import Size, amount, check_fits, residual_run_bytes
from verify.options import PLOT_SUFFIXES, Ints, at_least, check_output, parse_ints
from verify.result import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_DEPTHS = (4, 8, 16, 32)
DEFAULT_WIDTH = 256
MIN_WIDTH = 16
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class DepthPlan:
    """A validated depth check, nothing trained yet."""

    preset: str
    alpha: float  # branch multiplier L^-alpha
    optimizer: str
    depths: list[int]
    width: int
    seeds: int
    judged: bool = True
    plot: str | None = None

    def header(self) -> str:
        """The line the command prints first: the model, the width, the depths and the seeds."""
        return (f"{self.preset} ({self.optimizer}): residual MLP, alpha = {self.alpha:g}, width {self.width}, "
                f"depths {','.join(map(str, self.depths))}, {self.seeds} seeds; predictions from theory.depth")

    def run(self, *, progress: bool = False) -> DepthCheckResult:
        """Train every depth (nothing is stored) and judge the slopes; write the plot if asked."""
        from tqdm import tqdm

        from verify.depth.sweep import residual

        bar = tqdm(disable=not progress, desc="depths", bar_format="{desc}: {elapsed}", leave=False)

        def step(text: str) -> None:
            bar.set_description_str(text)
            bar.update()

        try:
            rows = residual(self.depths, self.width, list(range(self.seeds)), [self.alpha], [self.optimizer], step)
        finally:
            bar.close()
        result = DepthCheckResult(self, rows)
        if self.plot:
            result.write_figure(self.plot)
        return result


@dataclass
class DepthCheckResult(Result):
    """The outcome of checking a residual preset: one ``DepthRow`` per (quantity) slope in L."""

    plan: DepthPlan
    rows: list[DepthRow]
    json_indent = 2
    dpi = 120

    @property
    def passed(self) -> bool:
        return not (self.plan.judged and any(r.verdict == "FAIL" for r in self.rows))

    def table(self, *, header: bool = True) -> str:
        lines = [self.plan.header()] if header else []
        lines.append(format_rows(self.rows))
        if self.plan.plot:
            lines.append(f"figure written to {self.plan.plot}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {"parametrization": plan.preset, "depths": plan.depths, "width": plan.width, "seeds": plan.seeds,
                "rows": self.row_dicts(), "passed": self.passed}

    def row_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]

    def figure(self) -> Figure:
        return rows_figure(self.rows)

    def __repr__(self) -> str:
        failed = sum(r.verdict == "FAIL" for r in self.rows)
        return (f"<DepthCheckResult {self.plan.preset} ({self.plan.optimizer}): {len(self.rows) - failed} PASS, "
                f"{failed} FAIL; depths {','.join(map(str, self.plan.depths))}; width {self.plan.width}>")


def check_depths(spec: str | os.PathLike[str] | Parametrization, *, depths: Ints | None = None,
                 widths: Ints | None = None, seeds: int = 8, optimizer: str | None = None,
                 export: str | None = None, plot: str | None = None, judged: bool = True, progress: bool = False,
                 announce: Callable[[str], None] | None = None) -> DepthCheckResult:
    """Validate, train the residual preset ``spec`` across ``depths`` and judge the slopes in L."""
    from theory.depth import DEPTH_PRESETS
    from theory.parametrization import suggest

    name = os.fspath(spec) if isinstance(spec, str | os.PathLike) else spec.name
    if name not in DEPTH_PRESETS:
        raise InputError(f"--depths: needs a residual preset ({', '.join(DEPTH_PRESETS)}), got {name!r}"
                         f"{suggest(name, tuple(DEPTH_PRESETS))}")
    if name == "residual-sp":
        raise InputError("residual-sp: the stream diverges with depth at initialisation (abcscale derive "
                         "residual-sp); nothing to verify")
    depth_list = parse_ints(DEFAULT_DEPTHS if depths is None else depths, "--depths", 1, "4,8,16,32")
    width = DEFAULT_WIDTH if widths is None else _first(widths)
    if width < MIN_WIDTH:
        raise InputError(f"--widths: residual runs need a width >= {MIN_WIDTH}, got {width}")
    at_least("--seeds", seeds, 1)
    chosen = "sgd" if optimizer is None else optimizer
    if chosen not in OPTIMIZERS:
        raise InputError(f"--optimizer {chosen}: depth runs support {' and '.join(OPTIMIZERS)}")
    if export is not None:
        raise InputError(f"--export {export}: depth runs are not stored (the result's rows hold the measurements)")
    check_output("--plot", plot, PLOT_SUFFIXES)
    check_fits(functools.partial(residual_run_bytes, adam=int(chosen == "adam")),
               {"width": Size("--widths", width, MIN_WIDTH), "depth": Size("--depths", depth_list[-1])},
               f"one width-{amount(width)} depth-{amount(depth_list[-1])} residual net")
    plan = DepthPlan(name, float(DEPTH_PRESETS[name][2]), chosen, depth_list, width, seeds, judged, plot)
    if announce is not None:
        announce(plan.header())
    return plan.run(progress=progress)


def _first(widths: Ints) -> int:
    """The first width as given (residual runs train at one width)."""
    try:
        text = widths if isinstance(widths, str) else ",".join(str(w) for w in widths)
    except TypeError:  # a single number (or any non-list) from Python
        raise InputError(f"--widths {widths!r}: expected a list of integers or a string like 256") from None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise InputError(f"--widths {text!r}: expected comma-separated integers like 256")
    return values[0]
