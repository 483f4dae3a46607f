"""The fused trainer measures exactly the documented quantities: side by side with their definitions."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from theory.config import resolve
from theory.parametrization import Parametrization
from verify.data import load_for
from verify.model.measure import rms
from verify.model.mlp import BatchedMLP, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer
from verify.width.train import Job, TrainSettings, train_job

SETTINGS = TrainSettings(steps=3, batch_size=2, probe_size=16, base_width=16, input_dim=6, classes=4)


def _rms64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().double().pow(2).flatten(1).mean(dim=1).sqrt()


def definitional_records(param: Parametrization, width: int, seeds: tuple[int, ...],
                         settings: TrainSettings) -> dict[tuple[int, int, str, int], float]:
    """Every quantity from its definition: autograd on the weights for training, explicit (W_t - W_0) x_t and
    W_0 (x_t - x_0) products, float64 RMS; a separate training forward and probe forward per step."""
    data = load_for(settings, param.loss)
    scales = layer_scales(param, width, base_width=settings.base_width, input_dim=data.input_dim,
                          output_dim=data.output_dim, lr=settings.eta0(param.optimizer.name, param.loss))
    model = BatchedMLP(scales, param.activation, init_weights(scales, list(seeds), width))
    opt = BatchedOptimizer(param.optimizer.name, scales)
    w0 = [w.detach().clone() for w in model.weights]
    with torch.no_grad():
        f0 = model.forward(data.probe_x, w0)
    out: dict[tuple[int, int, str, int], float] = {}
    last = len(scales)
    for step in range(settings.steps + 1):
        if step > 0:
            x, y = data.batch(step, settings.batch_size)
            loss = per_seed_loss(model.forward(x).logits, y, param.loss).sum()
            opt.step(model.weights, list(torch.autograd.grad(loss, model.weights)))
        fwd = model.forward(data.probe_x)
        dhs = torch.autograd.grad(per_seed_loss(fwd.logits, data.probe_y, param.loss).sum(), fwd.pre)
        for i, scale in enumerate(scales):
            layer, dh, m = i + 1, dhs[i].double(), scale.multiplier
            w_t = model.weights[i].detach()
            x_in = fwd.post[i].detach()
            values = {"backward_gradient": _rms64(dh),
                      # per-example gradient m dh_b x_b^T, its entries' RMS, then RMS over examples
                      "weight_gradient": abs(m) * (dh.pow(2).mean(-1) * x_in.double().pow(2).mean(-1)).mean(-1).sqrt()}
            if step == 0:
                values["init_preactivation"] = _rms64(f0.pre[i])
            else:
                x_out, x_out0 = (fwd.pre[i], f0.pre[i]) if layer == last else (fwd.post[layer], f0.post[layer])
                values |= {"preactivation_update": _rms64(fwd.pre[i] - f0.pre[i]),
                           "feature_update": _rms64(x_out - x_out0),
                           "effective_update": _rms64(torch.matmul(x_in, (w_t - w0[i]).transpose(1, 2)) * m),
                           "weight_update": _rms64(w_t - w0[i])}
                if layer >= 2:
                    delta = x_in - f0.post[i]
                    values["propagating_update"] = _rms64(torch.matmul(delta, w0[i].transpose(1, 2)) * m)
            for quantity, v in values.items():
                for s, seed in enumerate(seeds):
                    out[(seed, step, quantity, layer)] = float(v[s])
    return out


@pytest.mark.parametrize("spec, options", [
    ("sp", {"loss": "ce", "lr_exponent": "-1/2"}),
    ("ntk", {"loss": "mse", "optimizer": "adam", "lr_exponent": "0", "activation": "tanh"}),  # multipliers != 1
])
def test_fused_trainer_equals_the_definitions(spec: str, options: dict[str, str]) -> None:
    param = resolve(spec, layers=2, **options)
    seeds = (0, 3)
    fused = {r[:4]: r[4] for r in train_job(Job(param, 48, seeds, SETTINGS)).records}
    reference = definitional_records(param, 48, seeds, SETTINGS)
    assert fused.keys() == reference.keys()
    for key, expected in reference.items():
        # float32 products summed in another order (fused rows, h_t - P_t instead of (W_t - W_0) x_t):
        # measured relative differences <= 2e-6 at widths 48-256; 1e-4 leaves room, the quantities differ by O(1)
        assert fused[key] == pytest.approx(expected, rel=1e-4, abs=1e-9), key


def test_frozen_layers_give_exact_zeros() -> None:
    """A zero readout sends no gradient to the hidden layers at the first update: their weights and features
    do not move, and the effective/propagating updates (computed as h_t - W_0 x_t and W_0 x_t - h_0) must be
    exactly 0, not rounding noise (the engine's -oo predictions are judged on exact zeros)."""
    param = resolve("mup", layers=2, loss="ce")
    layers = list(param.layers)
    layers[-1] = dataclasses.replace(layers[-1], zero_init=True)
    param = dataclasses.replace(param, layers=tuple(layers))
    result = train_job(Job(param, 64, (0, 1), SETTINGS))
    values = {r[:4]: r[4] for r in result.records}
    for seed in (0, 1):
        for quantity, layer in (("effective_update", 1), ("effective_update", 2), ("propagating_update", 2),
                                ("feature_update", 2), ("weight_update", 2)):
            assert values[(seed, 1, quantity, layer)] == 0.0, (quantity, layer)
        assert (values[(seed, 1, "effective_update", 3)] or 0.0) > 0  # the readout itself did move
        assert (values[(seed, 2, "effective_update", 2)] or 0.0) > 0  # and the hidden layers from update 2 on


def test_rms_float32_accumulation_and_overflow() -> None:
    gen = torch.Generator().manual_seed(0)
    t = torch.randn((3, 50, 700), generator=gen) * 3.0
    # float32 row sums of 700 squares: relative error ~ 1e-7 * sqrt(700); measured < 1e-6
    torch.testing.assert_close(rms(t), _rms64(t), rtol=1e-6, atol=0)
    huge = t.clone()
    huge[1] *= 1e20  # squares overflow float32 (> 3.4e38) in seed 1 only: recomputed in float64
    out = rms(huge)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, _rms64(huge), rtol=1e-6, atol=0)
    assert torch.isnan(rms(torch.full((2, 3, 4), float("nan")))).all()


def test_measurements_name_the_registered_quantities() -> None:
    from theory.presets import get_preset
    from theory.quantities import QUANTITIES, REGISTRY
    from verify.data import synthetic
    from verify.model.measure import measure, snapshot
    from verify.model.mlp import BatchedMLP, init_weights, layer_scales

    param = get_preset("sp", layers=2)
    data = synthetic("ce", input_dim=4, classes=3, probe_size=8)
    scales = layer_scales(param, 16, base_width=16, input_dim=4, output_dim=3, lr=0.1)
    model = BatchedMLP(scales, "relu", [w.detach() for w in init_weights(scales, [0], 16)])
    init = snapshot(model, data.probe_x)
    with torch.no_grad():
        model.weights = [w + 0.01 for w in model.weights]
    measured = measure(model, data.probe_x, data.probe_y, "ce", init, step=1)
    assert {q for q, _ in measured} == set(QUANTITIES) - {"init_preactivation"}
    assert {q for q, _ in measure(model, data.probe_x, data.probe_y, "ce", init, step=0)} == {
        q.name for q in REGISTRY if not q.is_update}
