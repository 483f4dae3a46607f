"""Verify a user's own torch module: a role per parameter (input / hidden / output), the rest from a Parametrization.

A plain module holds no width multipliers, so the parametrization is first converted to its multiplier-free
form (``theory.symmetry.multiplier_free``: a = 0 in every layer, b and c shifted along the abc symmetry, which
leaves the training dynamics unchanged).  Its per-layer numbers at each width come from
``verify.model.mlp.layer_scales`` (the one abc -> torch mapping): each role parameter is re-initialised from
N(0, std^2) with the same per-(seed, width, layer) generator as the built-in model, and trained by
``torch.optim`` (SGD or Adam) with one parameter group per role parameter carrying its learning rate (and
Adam epsilon).  The predictions are the engine's for the multiplier-free form: every quantity of the
built-in report keeps its exponent except the two about the trainable tensor itself (weight_gradient and
weight_update), which now refer to W = n^-a w.

Layers are ordered input, hidden (in the module's registration order), output: the module must be an MLP
chain with L+1 role weights for the parametrization's L hidden layers.  Each role parameter's owning module
must compute ``x @ weight^T`` (e.g. ``nn.Linear(..., bias=False)``) and the input of the next role module
must be phi(output) of the previous one; both are checked on the first probe pass, so a mismatch is an
InputError rather than a wrong verdict.  Forward hooks on the owning modules capture each layer's input
x^{l-1} and output h^l on the probe batch; d loss / d h comes from autograd; the initial-weight product
P_t = x_t W_0^T gives the effective (h_t - P_t) and propagating (P_t - h_0) updates as in verify.model.measure.
Seeds train one after another (one module per seed): this path is for flexibility, not speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from theory.errors import InputError
from theory.parametrization import ROLES, Parametrization, Role
from theory.symmetry import multiplier_free
from verify.data import Dataset, load_for
from verify.model.mlp import TORCH_ACTIVATIONS, LayerScale, layer_scales, per_seed_loss, seed_key
from verify.width.train import JobResult, Record, TrainSettings
from verify.width.verdict import DEFAULT_TOLERANCE, Row, judge, value_table

Factory = Callable[[int, int, int], torch.nn.Module]  # (width, input_dim, output_dim) -> a fresh module
TORCH_OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class RoleParameter:
    """One role parameter with its layer index (1..L+1) and its numbers at one width."""

    name: str
    role: Role
    layer: int
    scale: LayerScale


def ordered_roles(module: torch.nn.Module, roles: Mapping[str, str]) -> list[tuple[str, Role]]:
    """(parameter name, role) in layer order: the input parameter, the hidden ones as registered, the output."""
    params = dict(module.named_parameters())
    for name, role in roles.items():
        if name not in params:
            raise InputError(f"roles: {name!r} is not a parameter of the module (it has {', '.join(params)})")
        if role not in ROLES:
            raise InputError(f"roles[{name!r}]: unknown role {role!r} (choose from {', '.join(ROLES)})")
        if params[name].dim() != 2:
            raise InputError(f"roles[{name!r}]: a role parameter must be a 2-D weight (biases are not supported: "
                             f"build the module with bias=False)")
    missing = [name for name, p in params.items() if p.requires_grad and name not in roles]
    if missing:
        raise InputError(f"roles: trainable parameter {missing[0]!r} has no role (give every weight a role)")
    inputs = [n for n in params if roles.get(n) == "input"]
    outputs = [n for n in params if roles.get(n) == "output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputError(f"roles: need exactly one input and one output parameter, got {len(inputs)} and "
                         f"{len(outputs)}")
    hidden = [n for n in params if roles.get(n) == "hidden"]
    return [(inputs[0], "input"), *((n, "hidden") for n in hidden), (outputs[0], "output")]


def role_parameters(param: Parametrization, module: torch.nn.Module, roles: Mapping[str, str], width: int, *,
                    base_width: int, input_dim: int, output_dim: int, lr: float,
                    eps: float = 1e-8) -> list[RoleParameter]:
    """Init std, LR and epsilon of every role parameter: ``layer_scales`` of the multiplier-free form."""
    order = ordered_roles(module, roles)
    if len(order) != len(param.layers):
        raise InputError(f"roles: {len(order)} role weights, but {param.name} has {len(param.layers)} layers "
                         f"(L = {param.hidden_layers} hidden layers need L+1 weights)")
    scales = layer_scales(multiplier_free(param), width, base_width=base_width, input_dim=input_dim,
                          output_dim=output_dim, lr=lr, eps=eps)
    params = dict(module.named_parameters())
    out = []
    for index, ((name, role), scale) in enumerate(zip(order, scales, strict=True), start=1):
        if tuple(params[name].shape) != (scale.fan_out, scale.fan_in):
            raise InputError(f"roles[{name!r}]: shape {tuple(params[name].shape)}, expected (fan_out, fan_in) = "
                             f"{(scale.fan_out, scale.fan_in)} at width {width}")
        out.append(RoleParameter(name, role, index, scale))
    return out


def param_groups(module: torch.nn.Module, plan: Sequence[RoleParameter], optimizer: str) -> list[dict[str, object]]:
    """One torch.optim parameter group per role parameter with its learning rate (and Adam epsilon)."""
    params = dict(module.named_parameters())
    groups: list[dict[str, object]] = []
    for rp in plan:
        group: dict[str, object] = {"params": [params[rp.name]], "lr": rp.scale.lr}
        if optimizer == "adam":
            group["eps"] = rp.scale.eps
        groups.append(group)
    return groups


def make_optimizer(name: str, groups: list[dict[str, object]], momentum: float = 0.0) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(groups)
    raise InputError(f"optimizer {name!r}: custom modules train with torch.optim ({', '.join(TORCH_OPTIMIZERS)})")


@torch.no_grad()
def initialise(module: torch.nn.Module, plan: Sequence[RoleParameter], seed: int, width: int) -> None:
    """Draw every role parameter as the built-in model draws layer ``layer`` of ``seed`` (same generator)."""
    params = dict(module.named_parameters())
    for rp in plan:
        p = params[rp.name]
        if rp.scale.zero_init:
            p.zero_()
        else:
            p.normal_(0.0, rp.scale.init_std, generator=torch.Generator().manual_seed(seed_key(seed, width, rp.layer)))


def _owners(module: torch.nn.Module, names: Sequence[str]) -> list[torch.nn.Module]:
    """The submodule that directly owns each named parameter."""
    modules = dict(module.named_modules())
    return [modules[name.rpartition(".")[0]] for name in names]


class _Capture:
    """Forward hooks keeping each role module's (input, output) while ``on``."""

    def __init__(self, owners: Sequence[torch.nn.Module]) -> None:
        self.on = False
        self.seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(owners)]

    def _hook(self, index: int) -> Callable[..., None]:
        def keep(_m: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if self.on:
                self.seen[index] = (inputs[0], output)
        return keep

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _check_chain(seen: dict[int, tuple[torch.Tensor, torch.Tensor]], weights: Sequence[torch.Tensor],
                 plan: Sequence[RoleParameter], activation: str, logits: torch.Tensor) -> None:
    phi = TORCH_ACTIVATIONS[activation]
    for i, rp in enumerate(plan):
        x, h = seen[i]
        # float32 products in another summation order: relative differences ~1e-6
        if not torch.allclose(h, torch.nn.functional.linear(x, weights[i]), rtol=1e-4, atol=1e-5):
            raise InputError(f"roles[{rp.name!r}]: its module does not compute x @ weight^T (bias or multiplier?)")
        if i + 1 < len(plan) and not torch.allclose(seen[i + 1][0], phi(h), rtol=1e-4, atol=1e-5):
            raise InputError(f"roles[{plan[i + 1].name!r}]: its input is not {activation}(output of "
                             f"{rp.name!r}); the module must be an MLP chain with the parametrization's activation")
    if not torch.equal(seen[len(plan) - 1][1], logits):
        raise InputError(f"roles[{plan[-1].name!r}]: the output module's output must be the module's output")


def train_custom(factory: Factory, roles: Mapping[str, str], param: Parametrization, width: int,
                 seeds: Sequence[int], settings: TrainSettings) -> JobResult:
    """Train one module per seed for ``settings.steps`` updates, recording every quantity at steps 0..steps."""
    if param.optimizer.name not in TORCH_OPTIMIZERS:
        raise InputError(f"optimizer {param.optimizer.name!r}: custom modules train with torch.optim "
                         f"({', '.join(TORCH_OPTIMIZERS)})")
    data = load_for(settings, param.loss)
    eta0 = settings.eta0(param.optimizer.name, param.loss)
    result = JobResult(width=width, seeds=tuple(seeds), diverged={s: None for s in seeds})
    for seed in seeds:
        module = factory(width, data.input_dim, data.output_dim)
        plan = role_parameters(param, module, roles, width, base_width=settings.base_width, input_dim=data.input_dim,
                               output_dim=data.output_dim, lr=eta0, eps=settings.eps)
        initialise(module, plan, seed, width)
        records, diverged = _train_one(module, plan, param, seed, settings, data)
        result.records.extend(records)
        result.diverged[seed] = diverged
    return result


def _train_one(module: torch.nn.Module, plan: Sequence[RoleParameter], param: Parametrization, seed: int,
               settings: TrainSettings, data: Dataset) -> tuple[list[Record], int | None]:
    params = dict(module.named_parameters())
    weights = [params[rp.name] for rp in plan]
    w0 = [w.detach().clone() for w in weights]
    optimizer = make_optimizer(param.optimizer.name, param_groups(module, plan, param.optimizer.name),
                               param.optimizer.momentum)
    capture = _Capture(_owners(module, [rp.name for rp in plan]))
    first: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    records: list[Record] = []
    last = len(plan)
    try:
        for step in range(settings.steps + 1):
            if step > 0:
                x, y = data.batch(step, settings.batch_size)
                for group, rp in zip(optimizer.param_groups, plan, strict=True):
                    group["lr"] = rp.scale.lr_at(step)  # warm-up schedules (Parametrization.warmup) first
                optimizer.zero_grad()
                per_seed_loss(module(x).unsqueeze(0), y, param.loss).sum().backward()
                optimizer.step()
            capture.on = True
            logits = module(data.probe_x)
            capture.on = False
            seen = capture.seen
            grads = torch.autograd.grad(per_seed_loss(logits.unsqueeze(0), data.probe_y, param.loss).sum(),
                                        [seen[i][1] for i in range(last)])
            with torch.no_grad():
                if step == 0:
                    _check_chain(seen, weights, plan, param.activation, logits)
                    first = {i: (a.detach(), b.detach()) for i, (a, b) in seen.items()}
                values: list[tuple[str, int, float]] = []
                for i, rp in enumerate(plan):
                    x_in, h = seen[i][0].detach(), seen[i][1].detach()
                    dh = grads[i]
                    values += [("backward_gradient", rp.layer, _rms(dh)),
                               ("weight_gradient", rp.layer,
                                float((dh.double().pow(2).mean(-1) * x_in.double().pow(2).mean(-1)).mean().sqrt()))]
                    if step == 0:
                        values.append(("init_preactivation", rp.layer, _rms(h)))
                        continue
                    p_t = torch.nn.functional.linear(x_in, w0[i])
                    h0 = first[i][1]
                    out_t, out_0 = (h, h0) if rp.layer == last else (seen[i + 1][0].detach(), first[i + 1][0])
                    values += [("preactivation_update", rp.layer, _rms(h - h0)),
                               ("feature_update", rp.layer, _rms(out_t - out_0)),
                               ("effective_update", rp.layer, _rms(h - p_t)),
                               ("weight_update", rp.layer, _rms(weights[i] - w0[i]))]
                    if rp.layer >= 2:
                        values.append(("propagating_update", rp.layer, _rms(p_t - h0)))
            finite = all(math.isfinite(v) for _, _, v in values)
            records += [(seed, step, q, layer, v if finite else None) for q, layer, v in values]
            if not finite:
                return records, step
    finally:
        capture.remove()
    return records, None


def verify_module(factory: Factory, roles: Mapping[str, str], param: Parametrization, widths: Sequence[int],
                  seeds: Sequence[int], settings: TrainSettings | None = None,
                  tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """Train the user's module across widths and judge it against the engine's multiplier-free exponents.

    Returns the same rows as ``abcscale check`` (``verify.width.verdict.format_table`` prints them).
    """
    from theory.engine import derive

    settings = settings or TrainSettings()
    report = derive(multiplier_free(param))
    if report.regime is None:
        raise InputError(f"{param.name}: exponents are symbolic; give numbers to verify")
    rows: list[tuple[int, int, int, str, int, float | None]] = []
    for width in widths:
        result = train_custom(factory, roles, param, width, seeds, settings)
        rows += [(width, seed, step, q, layer, v) for seed, step, q, layer, v in result.records]
    values = value_table(rows, list(widths), list(seeds))
    return judge(report, values, list(widths), len(param.layers), settings.steps, tolerance)
