"""One seed of the batched optimizers follows torch.optim on an equivalent nn.Module."""

from __future__ import annotations

import pytest
import torch

from theory.parametrization import Optimizer
from theory.presets import get_preset
from verify.model.mlp import BatchedMLP, init_weights, layer_scales, per_seed_loss
from verify.model.optim import BatchedOptimizer, newton_schulz


class Reference(torch.nn.Module):
    """The same MLP as an ordinary module: bias-free Linear layers and fixed multipliers."""

    def __init__(self, weights: list[torch.Tensor], multipliers: list[float]) -> None:
        super().__init__()
        self.linears = torch.nn.ModuleList()
        for w in weights:
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight.data.copy_(w)
            self.linears.append(lin)
        self.multipliers = multipliers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (lin, m) in enumerate(zip(self.linears, self.multipliers, strict=True)):
            x = lin(x) * m
            if i < len(self.linears) - 1:
                x = torch.relu(x)
        return x


@pytest.mark.parametrize("name, momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)])
def test_batched_matches_torch_optim(name: str, momentum: float) -> None:
    torch.manual_seed(0)
    preset = "mup" if name == "sgd" else "sp"
    param = get_preset(preset, layers=2, optimizer=name, lr_exponent=-1)
    lr = 0.1 if name == "sgd" else 1e-3
    scales = layer_scales(param, 96, base_width=32, input_dim=12, output_dim=5, lr=lr)  # distinct per-layer LRs
    weights = init_weights(scales, [0, 1], 96)
    model = BatchedMLP(scales, "relu", weights)
    ref = Reference([w[1].detach() for w in weights], [s.multiplier for s in scales])
    groups = [{"params": [lin.weight], "lr": s.lr} for lin, s in zip(ref.linears, scales, strict=True)]
    ref_opt = (torch.optim.SGD(groups, lr=lr, momentum=momentum) if name == "sgd"
               else torch.optim.Adam(groups, lr=lr, eps=1e-8))
    opt = BatchedOptimizer(name, scales, momentum=momentum)
    for _ in range(4):
        x, y = torch.randn(16, 12), torch.randint(0, 5, (16,))
        loss = per_seed_loss(model.forward(x).logits, y, "ce")
        opt.step(model.weights, list(torch.autograd.grad(loss.sum(), model.weights)))
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        ref_opt.step()
    for w, ref_w in zip(model.weights, ref.parameters(), strict=True):
        # float32 rounding: the batched matmul sums in a different order than nn.Linear
        torch.testing.assert_close(w[1].detach(), ref_w.detach(), rtol=1e-5, atol=1e-6)


def test_signsgd_moves_every_entry_by_lr() -> None:
    param = get_preset("sp", layers=1, optimizer=Optimizer("signsgd"))
    scales = layer_scales(param, 64, base_width=64, input_dim=4, output_dim=3, lr=0.01)
    weights = init_weights(scales, [0], 64)
    before = [w.detach().clone() for w in weights]
    grads = [torch.randn_like(w) for w in weights]
    BatchedOptimizer("signsgd", scales).step(weights, grads)
    for w, b in zip(weights, before, strict=True):
        torch.testing.assert_close((w.detach() - b).abs(), torch.full_like(b, 0.01))


def test_newton_schulz_is_near_orthogonal() -> None:
    g = torch.randn(3, 40, 20)
    q = newton_schulz(g)
    singular = torch.linalg.svdvals(q)
    # Muon's quintic iteration targets singular values in roughly [0.7, 1.2], not exactly 1
    assert singular.min() > 0.5 and singular.max() < 1.3


def test_warmup_schedule_is_trained_as_derived() -> None:
    # ip-llr: update 1 uses the warm-up exponents c_1 = (-2, -5/2, -5/2, -2) (L = 3), later updates c = (-1, -2,
    # -2, -1); at width 4 n0 the per-layer learning rates are eta0 4^(-c)
    param = get_preset("ip-llr", layers=3)
    scales = layer_scales(param, 512, base_width=128, input_dim=8, output_dim=3, lr=0.1)
    assert [s.lr_at(1) for s in scales] == pytest.approx([0.1 * 4**2, 0.1 * 4**2.5, 0.1 * 4**2.5, 0.1 * 4**2])
    assert [s.lr_at(2) for s in scales] == pytest.approx([0.1 * 4, 0.1 * 4**2, 0.1 * 4**2, 0.1 * 4])
    weights = init_weights(scales, [0], 512)
    opt = BatchedOptimizer.for_spec(param.optimizer, scales)
    for update in (1, 2):
        before = [w.detach().clone() for w in weights]
        grads = [torch.ones_like(w) for w in weights]
        opt.step(weights, grads)
        moved = [float((b - w.detach()).mean()) for w, b in zip(weights, before, strict=True)]
        assert moved == pytest.approx([s.lr_at(update) for s in scales], rel=1e-5)


@pytest.mark.parametrize("scale", ["jordan", "spectral", "none"])
def test_muon_step_has_the_shape_factor_the_engine_derives_from(scale: str) -> None:
    from theory.parametrization import muon_scale_factor

    param = get_preset("sp", layers=1, optimizer=Optimizer("muon", muon_scale=scale))
    scales = layer_scales(param, 64, base_width=64, input_dim=4, output_dim=3, lr=1.0)
    weights = init_weights(scales, [0], 64)
    before = [w.detach().clone() for w in weights]
    grads = [torch.randn_like(w) for w in weights]
    BatchedOptimizer.for_spec(param.optimizer, scales).step(weights, grads)
    for w, b, g, s in zip(weights, before, grads, scales, strict=True):
        expected = newton_schulz(g) * muon_scale_factor(scale, s.fan_in, s.fan_out)
        torch.testing.assert_close(b - w.detach(), expected, rtol=1e-5, atol=1e-6)
