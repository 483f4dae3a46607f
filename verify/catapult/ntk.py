"""Top eigenvalue of the empirical NTK Theta = J J^T / m of a scalar-output torch model on a batch.

Normalised by the batch size m, paired with the loss (1/2m) sum (f - y)^2, so that GD is linearly
stable iff eta * lambda_max < 2. Two routes:

* exact: the Jacobian J (m x P) from ``torch.func.vmap(jacrev(...))``, then ``eigvalsh(J J^T / m)``;
* Lanczos on the m x m operator v -> J (J^T v) / m with one VJP and one JVP per product (never forms
  J), full reorthogonalisation; memory O(P + m k).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from theory.errors import InputError

EXACT_MAX_ENTRIES = 20_000_000  # m * P above this: "auto" switches to Lanczos (~160 MB of float64)


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def _batch_output(model: nn.Module, x: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    def output(params: dict[str, torch.Tensor]) -> torch.Tensor:
        out = functional_call(model, params, (x,))
        if out.numel() != x.shape[0]:
            raise InputError(f"NTK needs one scalar output per sample, got output shape {tuple(out.shape)}")
        return out.reshape(-1)
    return output


def jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """J (m x P): per-sample gradients of the output, parameters flattened in ``named_parameters`` order."""
    params = _params(model)

    def single(p: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (sample.unsqueeze(0),)).reshape(())

    grads = vmap(jacrev(single), in_dims=(None, 0))(params, x)
    return torch.cat([g.reshape(x.shape[0], -1) for g in grads.values()], dim=1)


def ntk_matrix(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    jac = jacobian(model, x)
    return jac @ jac.T / x.shape[0]


def top_eigenvalue_exact(model: nn.Module, x: torch.Tensor) -> float:
    return float(torch.linalg.eigvalsh(ntk_matrix(model, x))[-1])


@dataclass(frozen=True)
class LanczosResult:
    value: float
    iterations: int
    converged: bool


def top_eigenvalue_lanczos(model: nn.Module, x: torch.Tensor, max_iter: int = 40, rel_tol: float = 1e-10,
                           seed: int = 0) -> LanczosResult:
    """Largest eigenvalue of J J^T / m by Lanczos (stops when the top Ritz value moves < rel_tol)."""
    if max_iter < 1:
        raise InputError(f"max_iter must be >= 1, got {max_iter}")
    params = _params(model)
    output = _batch_output(model, x)
    m = x.shape[0]
    pullback = vjp(output, params)[1]

    def apply(v: torch.Tensor) -> torch.Tensor:
        (tangent,) = pullback(v)
        return jvp(output, (params,), (tangent,))[1] / m

    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(m, generator=gen, dtype=x.dtype)
    basis = [q / q.norm()]
    alphas: list[torch.Tensor] = []
    betas: list[torch.Tensor] = []
    previous = float("nan")
    for k in range(min(max_iter, m)):
        w = apply(basis[-1])
        alphas.append(basis[-1] @ w)
        stacked = torch.stack(basis)
        w = w - stacked.T @ (stacked @ w)
        w = w - stacked.T @ (stacked @ w)  # second pass: full reorthogonalisation
        tri = torch.diag(torch.stack(alphas))
        if betas:
            off = torch.stack(betas)
            tri = tri + torch.diag(off, 1) + torch.diag(off, -1)
        value = float(torch.linalg.eigvalsh(tri)[-1])
        beta = w.norm()
        if abs(value - previous) <= rel_tol * abs(value) or float(beta) <= 1e-14 * max(abs(value), 1e-300):
            return LanczosResult(value, k + 1, True)
        previous = value
        betas.append(beta)
        basis.append(w / beta)
    return LanczosResult(previous, min(max_iter, m), m <= max_iter)


def top_eigenvector(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Unit top eigenvector (m,) of J J^T / m, from the exact matrix (small models only)."""
    _, vectors = torch.linalg.eigh(ntk_matrix(model, x))
    return vectors[:, -1]


def top_eigenvalue(model: nn.Module, x: torch.Tensor, method: str = "auto") -> float:
    """Top NTK eigenvalue; ``method`` is "exact", "lanczos" or "auto" (exact while m * P is small)."""
    if method not in ("auto", "exact", "lanczos"):
        raise InputError(f"NTK method must be auto, exact or lanczos, got {method!r}")
    n_params = sum(p.numel() for p in model.parameters())
    if method == "exact" or (method == "auto" and x.shape[0] * n_params <= EXACT_MAX_ENTRIES):
        return top_eigenvalue_exact(model, x)
    return top_eigenvalue_lanczos(model, x).value
