"""abcscale depth-sweep: depth exponents measured in torch, side by side with their predictions."""

from __future__ import annotations

import argparse
import functools
from typing import TYPE_CHECKING, Any

from abcscale.commands._common import print_json
from theory.errors import InputError

if TYPE_CHECKING:  # torch comes with them: imported when the sweep runs
    from verify.depth.sweep import DepthRow
    from verify.runs.store import Store

DESCRIPTION = """Measure depth scaling in torch and judge it against the theory (docs/depth.md).
experiments:
  mlp-l3    one-step change of the last hidden pre-activation of a mean-field ReLU MLP: slope 3 in L,
            flat in width, and the L^3 constant against the infinite-width recursion (numerics.depth.law)
  ip        integrable parametrizations: first-step exponents in width of IP and IP-LLR per layer against
            the engine (--layers L hidden layers), and the loss after 60 steps of IP, IP-LLR and muP
  residual  residual MLPs h^{l+1} = h^l + L^-alpha W_l relu(h^l) (Depth-muP alpha 1/2, CompleteP alpha 1):
            feature updates of the stream and the blocks against depth
examples:
  abcscale depth-sweep mlp-l3 --depths 8,16,32 --widths 512,1024 --seeds 48
  abcscale depth-sweep ip --layers 3 --widths 256,512,1024,2048,4096
  abcscale depth-sweep residual --depths 4,8,16,32 --widths 256 --optimizers sgd,adam --plot res.png
  abcscale depth-sweep mlp-l3 --workers 2         the measurement units on a 2-worker Dask LocalCluster"""

MAX_THREADS = 1024
DEFAULTS = {"mlp-l3": ("8,16,32", "512,1024", 48), "ip": ("", "256,512,1024,2048,4096", 4),
            "residual": ("4,8,16,32", "256", 4)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("depth-sweep", help="measure depth exponents in torch (mlp-l3, ip, residual) with verdicts",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=tuple(DEFAULTS), help="which experiment")
    p.add_argument("--depths", help="comma-separated depths L (mlp-l3 default 8,16,32; residual 4,8,16,32)")
    p.add_argument("--widths", help="comma-separated widths (mlp-l3 default 512,1024; ip 256,...,4096; "
                   "residual 256: the first is used)")
    p.add_argument("--seeds", type=int, help="number of seeds (default mlp-l3 48, ip 4, residual 4)")
    p.add_argument("--layers", type=int, default=3, help="ip: hidden layers L (L+1 weight matrices; default 3)")
    p.add_argument("--alphas", default="0.5,1", help="residual: branch exponents alpha (default 0.5,1)")
    p.add_argument("--optimizers", default="sgd,adam", help="residual: sgd, adam or both (default sgd,adam)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per process (default 2; with --workers N: cpu_count // N per worker; "
                   "with --scheduler: 1 per worker)")
    workers = p.add_mutually_exclusive_group()
    workers.add_argument("--workers", type=int, default=1,
                         help="N >= 2: a Dask LocalCluster of N worker processes on 127.0.0.1 computes the units "
                              "side by side (default 1: in this process)")
    workers.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                         help="compute the units on an existing Dask scheduler")
    p.add_argument("--db", default="abcscale.db", help="SQLite results file: measurements are stored there and a "
                   "rerun reads the finished ones back (default abcscale.db)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of measured slopes with CIs against predictions")
    p.set_defaults(func=run)


def _ints(text: str, field: str, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{field}: expected comma-separated integers, got {text!r}") from None
    if not values or any(v < minimum for v in values):
        raise InputError(f"{field}: need integers >= {minimum}, got {text!r}")
    if len(set(values)) != len(values):
        raise InputError(f"{field}: repeated value in {text!r}")
    return sorted(values)


def _floats(text: str, field: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{field}: expected comma-separated numbers, got {text!r}") from None


def _parse(args: argparse.Namespace) -> dict[str, Any]:
    depths_default, widths_default, seeds_default = DEFAULTS[args.experiment]
    seeds = seeds_default if args.seeds is None else args.seeds
    if seeds < 2:
        raise InputError(f"--seeds: need at least 2 seeds for a bootstrap interval, got {seeds}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:  # torch crashes (SIGSEGV) with ~1e5
        raise InputError(f"--threads: need 1 to {MAX_THREADS} torch threads, got {args.threads}")
    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: must be at least 1")
    if args.scheduler is not None:
        from verify.runs.executors import check_address

        check_address(args.scheduler)
    if args.layers < 1:
        raise InputError(f"--layers: need a positive number of hidden layers, got {args.layers}")
    parsed: dict[str, Any] = {"seeds": list(range(seeds)),
                              "widths": _ints(args.widths or widths_default, "--widths", 2)}
    if args.experiment != "ip":
        parsed["depths"] = _ints(args.depths or depths_default, "--depths", 1)
    if args.experiment == "ip" and len(parsed["widths"]) < 2:
        raise InputError("--widths: need at least 2 widths to fit a slope")
    if args.experiment != "ip" and len(parsed["depths"]) < 2:
        raise InputError("--depths: need at least 2 depths to fit a slope")
    if args.experiment == "mlp-l3" and min(parsed["widths"]) < 16 * max(parsed["depths"]):
        raise InputError(f"--widths: width {min(parsed['widths'])} < 16 x depth {max(parsed['depths'])}; "
                         "the L^3 law needs n >= 16 L")
    if args.plot is not None:
        from verify.options import PLOT_SUFFIXES, check_output

        check_output("--plot", args.plot, PLOT_SUFFIXES)
    if args.experiment == "residual":
        parsed["alphas"] = _floats(args.alphas, "--alphas")
        opts = [o.strip() for o in args.optimizers.split(",") if o.strip()]
        bad = [o for o in opts if o not in ("sgd", "adam")]
        if not opts or bad:
            raise InputError(f"--optimizers: choose from sgd, adam, got {args.optimizers!r}")
        parsed["optimizers"] = opts
        if not parsed["alphas"] or any(not 0 <= a <= 2 for a in parsed["alphas"]):
            raise InputError(f"--alphas: need numbers in [0, 2], got {args.alphas!r}")
    _check_memory(args.experiment, parsed, args.layers)
    return parsed


def _check_memory(experiment: str, parsed: dict[str, Any], layers: int) -> None:
    """Refuse a run whose largest network cannot fit in memory (before anything is allocated)."""
    from verify.memory import Size, amount, batched_mlp_bytes, check_fits, l3_run_bytes, residual_run_bytes

    widths, seeds = parsed["widths"], len(parsed["seeds"])
    if experiment == "ip":  # every width's seeds together, then the trainings at 4 x max(first width, 256)
        widest = max(widths[-1], 4 * max(widths[0], 256))
        estimate = functools.partial(batched_mlp_bytes, rows=64, copies=2, inputs=32)
        check_fits(estimate, {"width": Size("--widths", widest, 2), "seeds": Size("--seeds", seeds, 2),
                              "layers": Size("--layers", layers)}, f"one width-{amount(widest)} job ({seeds} seeds)")
        return
    depth = parsed["depths"][-1]
    width = widths[-1] if experiment == "mlp-l3" else widths[0]
    if experiment == "mlp-l3":
        check_fits(l3_run_bytes, {"width": Size("--widths", width, 2), "depth": Size("--depths", depth)},
                   f"one width-{amount(width)} depth-{amount(depth)} network")
        return
    estimate = functools.partial(residual_run_bytes, adam=int("adam" in parsed["optimizers"]))
    check_fits(estimate, {"width": Size("--widths", width, 2), "depth": Size("--depths", depth)},
               f"one width-{amount(width)} depth-{amount(depth)} residual net")


def _measure(args: argparse.Namespace, opts: dict[str, Any], store: Store) -> list[DepthRow]:
    """Run the experiment through ``store`` (finished units are read back, new ones written) and the executor
    of ``--workers`` / ``--scheduler`` (verify.runs.executors)."""
    import os

    import torch
    from tqdm import tqdm

    from verify.depth.sweep import run_experiment
    from verify.depth.units import StoredUnits
    from verify.runs.executors import executor_for, executor_slots

    in_process = args.workers == 1 and args.scheduler is None
    default = 2 if in_process else 1 if args.scheduler else max(1, (os.cpu_count() or 1) // args.workers)
    threads = default if args.threads is None else args.threads
    torch.set_num_threads(threads)
    bar = tqdm(disable=args.json, desc="depth-sweep", bar_format="{desc}: {elapsed}")

    def progress(text: str) -> None:
        bar.set_description_str(text)
        bar.update()

    with executor_for(args.workers, args.scheduler, threads=threads) as executor:
        units = StoredUnits(store, executor=executor, in_flight=executor_slots(executor))
        rows = run_experiment(args.experiment, widths=opts["widths"], seeds=opts["seeds"], depths=opts.get("depths"),
                              layers=args.layers, alphas=opts.get("alphas"), optimizers=opts.get("optimizers"),
                              progress=progress, units=units)
    bar.close()
    return rows


def run(args: argparse.Namespace) -> int:
    opts = _parse(args)  # validate everything before any heavy import or work
    from verify.runs.store import Store

    store = Store(args.db)  # a file that is not a results database: one line, before any work
    try:
        rows = _measure(args, opts, store)
    finally:
        store.close()
    from verify.depth.sweep import format_rows, rows_figure, summary_line

    if args.plot:
        from theory.outputs import save_figure

        save_figure(rows_figure(rows), args.plot, dpi=120)
    failed = any(r.verdict == "FAIL" for r in rows)
    if args.json:
        print_json({"experiment": args.experiment, **opts, "rows": [r.as_dict() for r in rows], "passed": not failed})
    else:
        print(format_rows(rows))
        print(f"\n{summary_line(rows)}")
    return 1 if failed else 0
