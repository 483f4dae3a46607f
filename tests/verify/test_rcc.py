"""The refined coordinate check for any nn.Module: equal to torch-module-monitor's, and to our batched paths.

torch-module-monitor (tmm) logs, per module and step, the L2 norm over the last (feature) axis of
(W_t - W_0) x_t and of W_0 (x_t - x_0) for every token, and aggregates them by their mean.  We read its raw
per-token norms (the logged tensors, before aggregation) and convert them to our statistic, the RMS per
coordinate over the probe batch: RMS = sqrt(mean over tokens of norm^2 / n), n the module's output width.
Both sides evaluate the same float32 products (tmm through a deep copy of the initial model, we through
``torch.func.functional_call`` with a copy of the initial parameters), so they agree to float32 rounding of the
conversion (measured: bitwise equal, relative difference 0 on every module and step); the bound asserted is
the issue's 1e-5 relative.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from verify.model.mlp import TORCH_ACTIVATIONS
from verify.model.rcc import RefinedCoordinateCheck

tmm = pytest.importorskip("torch_module_monitor")

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
STEPS = 3
TOLERANCE = 1e-5  # relative, the bound (measured: 0)


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _gpt() -> tuple[nn.Module, torch.optim.Optimizer, tuple[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    torch.manual_seed(0)
    model, optimizer = _example("nanogpt_mup").build(64)
    tokens = torch.randint(0, 97, (4, 33))
    x, y = tokens[:, :-1], tokens[:, 1:]

    def loss(out: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    return model, optimizer, (x,), loss


def _mlp() -> tuple[nn.Module, torch.optim.Optimizer, tuple[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.LayerNorm(64),
                          nn.Linear(64, 10))
    x, y = torch.randn(16, 8), torch.randint(0, 10, (16,))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2), (x,), lambda out: nn.functional.cross_entropy(out, y)


def _width(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Embedding):
        return module.embedding_dim
    assert isinstance(module, nn.LayerNorm)
    return module.normalized_shape[0]


def _run_both(build: Callable[[], tuple[nn.Module, torch.optim.Optimizer, tuple[torch.Tensor],
                                        Callable[[torch.Tensor], torch.Tensor]]],
              spoil: Callable[[nn.Module], None] | None = None) -> tuple[dict[tuple[str, str, int], float],
                                                                         dict[tuple[str, str, int], float]]:
    """Our and tmm's (converted) effective and propagating updates per (quantity, module, step), STEPS Adam steps.

    ``spoil`` alters tmm's reference copy (a deliberately wrong W_0) to show that the comparison can fail."""
    model, optimizer, probe, loss = build()
    ours_check = RefinedCoordinateCheck(model, probe)
    monitor = tmm.ModuleMonitor(monitor_step_fn=lambda step: True)
    monitor.set_module(model)
    reference = copy.deepcopy(model)
    if spoil is not None:
        spoil(reference)
    monitor.set_reference_module(reference)
    theirs_check = tmm.RefinedCoordinateCheck(monitor)
    widths = {name: _width(m) for name, m in model.named_modules() if isinstance(m, nn.Linear | nn.Embedding |
                                                                                 nn.LayerNorm)}
    ours: dict[tuple[str, str, int], float] = {}
    theirs: dict[tuple[str, str, int], float] = {}
    for step in range(STEPS + 1):
        if step > 0:
            for (quantity, name), value in ours_check.measure(loss, step).items():
                if quantity in ("effective_update", "propagating_update"):
                    ours[(quantity, name, step)] = value
            monitor.begin_step(step)
            with torch.no_grad():
                reference(*probe)
                model(*probe)
            theirs_check.refined_coordinate_check()
            logged = monitor.storage.log_dict[step]
            for name, n in widths.items():
                for quantity, prefix in (("effective_update", "RCC (W_t-W_0)x_t"),
                                         ("propagating_update", "RCC W_0(x_t-x_0)")):
                    key = f"{prefix}/{name}/l2norm"
                    if key in logged:
                        norms = torch.cat(logged[key]).double()  # one L2 norm per token
                        theirs[(quantity, name, step)] = float((norms.pow(2).mean() / n).sqrt())
            monitor.end_step()
        optimizer.zero_grad()
        loss(model(*probe)).backward()
        optimizer.step()
    return ours, theirs


def _relative_differences(ours: dict[tuple[str, str, int], float], theirs: dict[tuple[str, str, int], float]
                          ) -> dict[tuple[str, str, int], float]:
    """Relative differences where tmm's value is not 0 (where it is, ours must be exactly 0 too)."""
    assert ours.keys() == theirs.keys()
    assert all(ours[k] == 0.0 for k in ours if theirs[k] == 0.0)
    return {k: abs(ours[k] - theirs[k]) / abs(theirs[k]) for k in ours if theirs[k] != 0.0}


@pytest.mark.parametrize("build", [_gpt, _mlp], ids=["nanogpt", "mlp"])
def test_effective_and_propagating_updates_equal_torch_module_monitor(build: Callable[..., tuple[Any, ...]]) -> None:
    ours, theirs = _run_both(build)
    modules = {name for _, name, _ in ours}
    assert len(modules) >= (16 if build is _gpt else 4)  # every Linear, LayerNorm and Embedding, every step
    zero = {k for k, v in theirs.items() if v == 0.0}  # the first layer's W_0 (x_t - x_0): its input is fixed
    assert zero == ({("propagating_update", "0", step) for step in range(1, STEPS + 1)} if build is _mlp else set())
    worst = max(_relative_differences(ours, theirs).items(), key=lambda kv: kv[1])
    assert worst[1] <= TOLERANCE, worst


def test_the_comparison_catches_a_wrong_initial_weight() -> None:
    """tmm's reference copy with one tensor off by 0.1% disagrees with ours beyond the tolerance there (measured
    relative difference 1.7e-3) and nowhere upstream of it."""
    def spoil(reference: nn.Module) -> None:
        with torch.no_grad():
            reference.h[1].mlp.c_fc.weight.mul_(1.001)  # type: ignore[index, union-attr]

    ours, theirs = _run_both(_gpt, spoil)
    differences = _relative_differences(ours, theirs)
    assert differences[("effective_update", "h.1.mlp.c_fc", 1)] > 100 * TOLERANCE
    assert max(v for (_, name, _), v in differences.items() if name.startswith("h.0")) <= TOLERANCE


class _Activation(nn.Module):
    """The MLP's activation as a module without parameters (not a unit of the check)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.phi = TORCH_ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(x)


def test_generic_check_equals_the_batched_mlp_measurements() -> None:
    """A plain nn.Sequential holding W = multiplier * w of one seed of the batched MLP gives the fast path's
    numbers (``verify.model.measure``) at every step of an Adam training: pre-activations, backward gradients,
    effective and propagating updates as they are; weight updates and per-example weight gradients of W, i.e.
    multiplier times and 1 / multiplier times those of w.  Both in float64, so that the only differences are the
    order of float64 operations (x (m w)^T against m (x w^T)): tolerance 1e-9 relative, measured below 1e-13."""
    from theory.config import resolve
    from verify.data import load_for
    from verify.model.measure import measure, snapshot
    from verify.model.mlp import BatchedMLP, init_weights, layer_scales, per_seed_loss
    from verify.model.optim import BatchedOptimizer
    from verify.width.train import TrainSettings

    param = resolve("ntk", layers=2, loss="ce", optimizer="adam", lr_exponent="0", activation="tanh")
    settings = TrainSettings(steps=3, batch_size=2, probe_size=16, base_width=16, input_dim=6, classes=4)
    data = load_for(settings, "ce")
    probe_x, probe_y = data.probe_x.double(), data.probe_y
    width, seeds = 48, [0, 3]
    scales = layer_scales(param, width, base_width=16, input_dim=data.input_dim, output_dim=data.output_dim,
                          lr=settings.eta0("adam", "ce"))
    assert any(s.multiplier != 1.0 for s in scales)  # the conversion W = m w is exercised
    batched = BatchedMLP(scales, param.activation, [w.double() for w in init_weights(scales, seeds, width)])
    optimizer = BatchedOptimizer("adam", scales)
    init = snapshot(batched, probe_x)
    plains: list[nn.Sequential] = []
    checks = []
    for s in range(len(seeds)):
        layers: list[nn.Module] = []
        for i, (scale, w) in enumerate(zip(scales, batched.weights, strict=True)):
            linear = nn.Linear(scale.fan_in, scale.fan_out, bias=False, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(w[s] * scale.multiplier)
            layers += [linear] if i == len(scales) - 1 else [linear, _Activation(param.activation)]
        plain = nn.Sequential(*layers)
        plains.append(plain)
        checks.append(RefinedCoordinateCheck(plain, (probe_x,)))
    names = [str(2 * i) for i in range(len(scales))]
    compared = 0
    for step in range(settings.steps + 1):
        if step > 0:
            x, y = data.batch(step, settings.batch_size)
            weights = [w.requires_grad_(True) for w in batched.weights]
            loss = per_seed_loss(batched.forward(x.double(), weights).logits, y, "ce").sum()
            grads = list(torch.autograd.grad(loss, weights))
            batched.weights = [w.detach() for w in weights]
            optimizer.step(batched.weights, grads)
        fast = measure(batched, probe_x, probe_y, "ce", init, step)
        for s, (plain, check) in enumerate(zip(plains, checks, strict=True)):
            linears = [m for m in plain if isinstance(m, nn.Linear)]
            for linear, scale, w in zip(linears, scales, batched.weights, strict=True):
                with torch.no_grad():
                    linear.weight.copy_(w[s] * scale.multiplier)
            generic = check.measure(lambda out: per_seed_loss(out.unsqueeze(0), probe_y, "ce").sum(), step)
            for (quantity, layer), value in fast.items():
                name, m = names[layer - 1], abs(scales[layer - 1].multiplier)
                if quantity == "feature_update":
                    continue  # the activation's output: no unit of the generic check
                if quantity in ("weight_update", "weight_gradient"):
                    ours = generic[(quantity, f"{name}.weight")] / (m if quantity == "weight_update" else 1 / m)
                else:
                    ours = generic[(quantity, name)]
                assert ours == pytest.approx(float(value[s]), rel=1e-9, abs=1e-15), (step, quantity, layer)
                compared += 1
            if step > 0:
                assert generic[("propagating_update", names[0])] == 0.0  # the first layer's input is fixed
    assert compared == 2 * (3 * 3 + 3 * (6 * 3 - 1))  # seeds x (step 0: 3 per layer; steps 1-3: 6 per layer - 1)


def _plain_name(batched: str) -> str:
    """The nanoGPT module holding a BatchedGPT tensor: h0.attn.q -> h.0.attn.c_attn (q, k and v fused)."""
    renames = {"attn.q": "attn.c_attn", "attn.k": "attn.c_attn", "attn.v": "attn.c_attn", "attn.o": "attn.c_proj",
               "mlp.up": "mlp.c_fc", "mlp.down": "mlp.c_proj"}
    if batched.startswith("h") and batched[1].isdigit():
        block, rest = batched[1:].split(".", 1)
        return f"h.{block}.{renames.get(rest, rest)}"
    return batched


def test_generic_check_equals_the_batched_gpt_measurements() -> None:
    """docs/examples/nanogpt_mup.py's GPT holding the tensors of one seed of the built-in BatchedGPT (gpt-mup,
    Adam, width 128, the check's data and probe) gives ``verify.model.gpt_measure``'s numbers at every step.

    Conventions (verify/model/gpt.py): every gpt-mup multiplier is 1 (asserted), so the tensors are copied as
    they are; the attention scale sqrt(d_head0) / d_head is the example's (asserted); q, k and v are one fused
    c_attn there, whose output is the concatenation of the three: its RMS is the root of the mean of their
    mean squares (equal sizes).  The position embedding's backward gradient is not compared: the example adds
    wpe(positions) (T, n) broadcast over the rows, so d loss / d output sums the rows' gradients.
    Float32 on both sides, summed in other orders (batched and fused matmuls): measured relative differences at
    most 1.1e-7 over the 226 values compared; tolerance 1e-5."""
    from theory.transformer import get_gpt_preset
    from verify.data import load_for
    from verify.width.check import _gpt_settings
    from verify.width.gpt_train import build, lm_loss, measured_steps
    from verify.width.train import Job

    param = get_gpt_preset("gpt-mup", optimizer="adam")
    settings = _gpt_settings(param, steps=3, batch_size=None, base_width=None, lr=None, data="pydoc")
    width = 128
    job = Job(param, width, (0,), settings)
    model, tensors = build(job)
    assert {s.multiplier for s in model.scales} == {1.0}
    by_index = {s.index: s for s in model.scales}
    data = load_for(settings, param.loss)
    probe_x, probe_y = data.probe_x, data.probe_y
    plain = _example("nanogpt_mup").GPT(width)
    assert plain.h[0].attn.scale == pytest.approx(model.shape.scale, rel=1e-12)
    plain_params = dict(plain.named_parameters())

    def copy_tensors() -> None:
        with torch.no_grad():
            for b in range(2):
                fused = torch.cat([tensors[model.by_name[f"h{b}.attn.{p}"]][0] for p in "qkv"])
                plain_params[f"h.{b}.attn.c_attn.weight"].copy_(fused)
            for scale, t in zip(model.scales, tensors, strict=True):
                if scale.kind not in ("query", "key", "value"):
                    plain_params[f"{_plain_name(scale.name)}.weight"].copy_(t[0])

    copy_tensors()
    check = RefinedCoordinateCheck(plain, (probe_x,))  # its reference copy: the initial tensors
    compared = 0
    for step, fast in measured_steps(job, model, tensors):  # the check's own loop, before each update
        copy_tensors()
        generic = check.measure(lambda out: lm_loss(out.unsqueeze(0), probe_y).sum(), step)
        expected: dict[tuple[str, str], list[float]] = {}
        for (quantity, layer), value in fast.items():
            if "/" in quantity:  # a reported value: "h0.attn.scores/change", "logits/init"
                name, kind = quantity.split("/")
                if kind in ("init", "change") and (name == "logits" or name.endswith(".scores")):
                    expected.setdefault((kind, _plain_name(name)), []).append(float(value[0]))
                continue
            name = by_index[layer].name
            if quantity in ("init_preactivation", "preactivation_update", "effective_update",
                            "propagating_update", "backward_gradient") and (quantity, name) != (
                                "backward_gradient", "wpe"):
                expected.setdefault((quantity, _plain_name(name)), []).append(float(value[0]))
        for key, parts in expected.items():
            want = (sum(v * v for v in parts) / len(parts)) ** 0.5  # one part, or q, k and v fused
            assert generic[key] == pytest.approx(want, rel=1e-5), (step, key)
            compared += 1
    assert compared == 226  # 4 steps: every unit's values, both blocks' attention logits and the output logits


class _Shared(nn.Module):
    """A module calling one Linear twice, owning a gain directly, taking a keyword and returning a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.shared = nn.Linear(8, 8, bias=False)
        self.gain = nn.Parameter(torch.ones(8))
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, *, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.shared(self.inp(x))
        second = self.shared(torch.tanh(first)) * self.gain * scale
        return self.out(second), second


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shared_calls_keywords_tuple_outputs_and_dtypes(dtype: torch.dtype) -> None:
    """Each call of a shared module is measured on its own input (the k-th under "name#k"); a parameter used
    twice gets the probe loss's batch gradient, a single-use Linear weight its per-token gradient; keywords
    reach the model and the loss gets its tuple.  Against definitions computed by hand here (float64 RMS;
    float32 rounding of the same products: relative 1e-5)."""
    torch.manual_seed(0)
    model = _Shared().to(dtype)
    x, y = torch.randn(6, 4, dtype=dtype), torch.randint(0, 3, (6,))
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}

    def loss(out: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(out[0], y) + 0.1 * out[1].pow(2).mean()

    check = RefinedCoordinateCheck(model, (x,), {"scale": 2.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        loss(model(x, scale=2.0)).backward()
        optimizer.step()
    values = check.measure(loss, step=2)
    rel = 1e-5 if dtype == torch.float32 else 1e-12
    with torch.no_grad():
        w_t, w_0 = model.shared.weight, initial["shared.weight"]
        x1 = model.inp(x)
        x2 = torch.tanh(x1 @ w_t.T)
        x2_0 = torch.tanh((x @ initial["inp.weight"].T + initial["inp.bias"]) @ w_0.T)
    assert values[("effective_update", "shared#2")] == pytest.approx(_rms(x2 @ (w_t - w_0).T), rel=rel)
    assert values[("propagating_update", "shared#2")] == pytest.approx(_rms((x2 - x2_0) @ w_0.T), rel=rel)
    assert values[("effective_update", "shared")] == pytest.approx(_rms(x1 @ (w_t - w_0).T), rel=rel)
    # the model owns the gain: its unit is the whole model with only the gain at its initial value
    assert ("effective_update", "[model]") in values and ("weight_update", "gain") in values

    model.zero_grad()
    out = model(x, scale=2.0)
    h_inp = model.inp(x)
    h_inp.retain_grad()
    first = model.shared(h_inp)
    second = model.shared(torch.tanh(first)) * model.gain * 2.0
    loss((model.out(second), second)).backward()
    assert model.shared.weight.grad is not None and h_inp.grad is not None
    assert values[("weight_gradient", "shared.weight")] == pytest.approx(_rms(model.shared.weight.grad), rel=rel)
    per_token = h_inp.grad[:, :, None] * x[:, None, :]  # dh_p (x) x_p, (6, 8, 4)
    assert values[("weight_gradient", "inp.weight")] == pytest.approx(_rms(per_token), rel=rel)
    assert values[("change", "logits")] == pytest.approx(_rms(out[0] - check.init_logits), rel=rel)


class _MaskedAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24, bias=False)
        self.mask = torch.rand(5, 5, generator=torch.Generator().manual_seed(1)) > 0.3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (t.unsqueeze(1) for t in self.qkv(x).split(8, dim=-1))  # one head
        return nn.functional.scaled_dot_product_attention(q, k, v, self.mask, 0.0, False, scale=0.25).squeeze(1)


def test_attention_logits_with_a_boolean_mask_given_positionally() -> None:
    """Logits scale * q k^T over the allowed entries of a positional boolean mask; init and change."""
    torch.manual_seed(0)
    model = _MaskedAttention()
    x = torch.randn(3, 5, 8)
    w_0 = model.qkv.weight.detach().clone()
    check = RefinedCoordinateCheck(model, (x,))
    with torch.no_grad():
        model.qkv.weight.add_(0.01 * torch.randn_like(w_0))

    def logits(w: torch.Tensor) -> torch.Tensor:
        q, k, _ = (x @ w.T).split(8, dim=-1)
        return (0.25 * q @ k.transpose(-1, -2))[:, model.mask]

    values = check.measure(lambda out: out.pow(2).mean(), step=1)
    assert values[("change", "[model].scores")] == pytest.approx(
        _rms(logits(model.qkv.weight.detach()) - logits(w_0)), rel=1e-5)
    assert check.measure(lambda out: out.pow(2).mean(), step=0)[("init", "[model].scores")] == pytest.approx(
        _rms(logits(model.qkv.weight.detach())), rel=1e-5)
