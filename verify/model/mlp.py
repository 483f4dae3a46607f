"""The one place where an abc-parametrization becomes torch numbers: multipliers, init stds, learning rates.

Layer l (1..L+1) of width n computes ``h^l = (n/n0)^{-a_l} x^{l-1} @ w^l^T`` with trainable ``w^l``,
``w^l_ij ~ N(0, std_l^2)``, ``std_l = gain * (n/n0)^{-b_l} / sqrt(fan_in_base_l)`` and learning rate
``eta0 * (n/n0)^{X - c_l}`` (X = ``param.lr_exponent``; the first updates use the warm-up exponents
``param.c_at(l, t)`` where the parametrization has a schedule).  Constants, chosen so that every layer is
He-initialised at the base width n0 whatever the exponents are:

* ``gain``: sqrt(2) for relu and gelu (He), 1 for linear, tanh and sigmoid; the readout uses the same
  gain (Haas et al.'s SP code initialises the readout N(0, 2/fan_in) too);
* ``fan_in_base``: d for the input layer (fixed fan-in), n0 for hidden and readout layers;
* zero_init layers start at exactly 0; Adam/Adafactor epsilon ``eps0 * (n/n0)^{-e}`` where e is the
  layer's ``eps_exponent`` or else ``param.optimizer.eps_exponent`` (None: eps0 at every width).

Every sympy exponent is turned into a float here and nowhere else.  ``BatchedMLP`` holds the weights of
S seeds as tensors of shape (S, out, in), so the seeds of one width train in one batched computation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from theory.errors import InputError
from theory.exponents import Exponent, format_exponent, parse_exponent, to_fraction
from theory.parametrization import Parametrization

GAINS = {"relu": math.sqrt(2.0), "gelu": math.sqrt(2.0), "linear": 1.0, "tanh": 1.0, "sigmoid": 1.0}
TORCH_ACTIVATIONS = {"relu": torch.relu, "gelu": torch.nn.functional.gelu, "linear": lambda h: h,
               "tanh": torch.tanh, "sigmoid": torch.sigmoid}


@dataclass(frozen=True)
class LayerScale:
    """Concrete numbers of one layer at one width."""

    fan_in: int
    fan_out: int
    multiplier: float
    init_std: float
    lr: float  # the layer's own learning rate (every update after the warm-up)
    eps: float
    zero_init: bool
    warmup_lrs: tuple[float, ...] = ()  # learning rates of updates 1, 2, ... (Parametrization.warmup)
    weight_decay: float = 0.0  # decoupled (AdamW); an MLP's layers have none

    def lr_at(self, update: int) -> float:
        """Learning rate of update ``update`` (1-based): the warm-up schedule first, then ``lr``."""
        return self.warmup_lrs[update - 1] if update <= len(self.warmup_lrs) else self.lr


@functools.lru_cache(maxsize=1024)
def _number(value: Exponent, what: str) -> float:
    """The exponent as a float (sympy's exact-to-float conversion took ~2 ms per job, a tenth of a
    width-128 job: cached, since every width and seed of a sweep asks for the same few exponents)."""
    value = parse_exponent(value, what, symbol=True)
    if value.free_symbols:
        raise InputError(f"{what}: exponent {format_exponent(value)} is symbolic; give it a number to train")
    return float(to_fraction(value))


def _power(ratio: float, exponent: float) -> float:
    """ratio ** exponent, inf where it overflows (``_check_finite`` turns that into one line)."""
    try:
        return ratio**exponent
    except OverflowError:
        return math.inf


def layer_scales(param: Parametrization, width: int, *, base_width: int, input_dim: int, output_dim: int,
                 lr: float, eps: float = 1e-8, warmup_lr: float | Sequence[float] | None = None
                 ) -> list[LayerScale]:
    """Per-layer multiplier, init std, learning rate and epsilon of ``param`` at width ``width``.

    ``lr`` is eta0, the learning rate at the base width; ``warmup_lr`` is eta0 of the warm-up updates
    (``param.warmup``): one number, one per layer, or None for ``lr``.
    """
    ratio = width / base_width
    x = _number(param.lr_exponent, "lr_exponent")
    gain = GAINS[param.activation]
    n_layers = len(param.layers)
    out: list[LayerScale] = []
    for layer in param.layers:
        fan_in = input_dim if layer.role == "input" else width
        fan_out = output_dim if layer.index == n_layers else width
        fan_in_base = input_dim if layer.role == "input" else base_width
        a = _number(layer.a, f"a[{layer.index}]")
        b = _number(layer.b, f"b[{layer.index}]")
        c = _number(layer.c, f"c[{layer.index}]")
        eta_warm = lr if warmup_lr is None else warmup_lr if isinstance(warmup_lr, float | int) else \
            warmup_lr[layer.index - 1]
        warmup = tuple(eta_warm * _power(ratio, x - _number(param.c_at(layer.index, t), f"warmup c[{layer.index}]"))
                       for t in range(1, len(param.warmup) + 1))
        eps_exp = layer.eps_exponent if layer.eps_exponent is not None else param.optimizer.eps_exponent
        layer_eps = eps if eps_exp is None else eps * _power(ratio, -_number(eps_exp, f"eps_exponent[{layer.index}]"))
        out.append(LayerScale(fan_in=fan_in, fan_out=fan_out, multiplier=_power(ratio, -a),
                              init_std=gain * _power(ratio, -b) / math.sqrt(fan_in_base),
                              lr=lr * _power(ratio, x - c), eps=layer_eps, zero_init=layer.zero_init,
                              warmup_lrs=warmup))
    _check_finite(out, param, width)
    return out


def _check_finite(scales: list[LayerScale], param: Parametrization, width: int) -> None:
    """One line, not a NaN training, when a width power overflows a float (exponents up to +-1000 parse)."""
    for layer, scale in zip(param.layers, scales, strict=True):
        numbers = [("multiplier", scale.multiplier), ("init std", scale.init_std), ("learning rate", scale.lr),
                   ("epsilon", scale.eps), *(("warm-up learning rate", v) for v in scale.warmup_lrs)]
        for what, number in numbers:
            if not math.isfinite(number):
                raise InputError(f"layer {layer.index}: the {what} at width {width} overflows a float (exponents a, b, "
                                 f"c, lr_exponent and eps_exponent too large for this width)")


PARALLEL_DRAW_MIN = 1 << 18  # below ~256k numbers a thread pool costs more than it saves


def seed_key(seed: int, width: int, layer: int) -> int:
    """Generator seed of one weight matrix: a seed's init does not depend on which seeds train beside it."""
    return (seed * 1_000_003 + width * 7_919 + layer * 104_729) % (2**62)


def init_weights(scales: list[LayerScale], seeds: list[int], width: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Weights of shape (S, fan_out, fan_in) per layer, seed by seed from its own generator, on ``device``.

    Always drawn on the CPU and then moved, so every device starts from the same numbers.

    Drawn in place (``normal_`` with the std: bitwise the same numbers as ``randn * std``, one memory pass).
    ``normal_`` runs on one core whatever ``torch.get_num_threads()`` says, and at width 1024 the draw took
    about a third of an 8-seed job on 2 cores; every (seed, layer) block has its own generator, so the blocks
    are drawn by that many Python threads at once (torch releases the GIL): the same numbers, in less time.
    """
    weights = []
    blocks: list[tuple[torch.Tensor, float, int]] = []
    for index, scale in enumerate(scales, start=1):
        shape = (len(seeds), scale.fan_out, scale.fan_in)
        if scale.zero_init:
            w = torch.zeros(shape, dtype=dtype)
        else:
            w = torch.empty(shape, dtype=dtype)
            blocks += [(w[s], scale.init_std, seed_key(seed, width, index)) for s, seed in enumerate(seeds)]
        weights.append(w)
    _draw_normal(blocks, workers=torch.get_num_threads())
    return [w.to(device).requires_grad_(True) for w in weights]


def _draw_normal(blocks: list[tuple[torch.Tensor, float, int]], workers: int) -> None:
    """Fill each (view, std, generator seed) block with N(0, std^2) numbers, on up to ``workers`` threads."""

    def draw(part: list[tuple[torch.Tensor, float, int]]) -> None:
        for view, std, key in part:
            view.normal_(0.0, std, generator=torch.Generator().manual_seed(key))

    total = sum(view.numel() for view, _, _ in blocks)
    if workers <= 1 or len(blocks) <= 1 or total < PARALLEL_DRAW_MIN:
        draw(blocks)
        return
    parts: list[list[tuple[torch.Tensor, float, int]]] = [[] for _ in range(min(workers, len(blocks)))]
    loads = [0] * len(parts)
    for block in sorted(blocks, key=lambda b: -b[0].numel()):  # largest first onto the least loaded thread
        k = loads.index(min(loads))
        parts[k].append(block)
        loads[k] += block[0].numel()
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(draw, parts))


@dataclass
class Forward:
    """Pre-activations h^l and layer outputs x^l (x^0 = input, x^{L+1} = logits) of every seed."""

    pre: list[torch.Tensor]  # h^1..h^{L+1}, each (S, B, fan_out)
    post: list[torch.Tensor]  # x^0..x^{L+1}; x^0 is (B, d), the rest (S, B, fan_out)

    @property
    def logits(self) -> torch.Tensor:
        return self.pre[-1]


class BatchedMLP:
    """S independent MLPs of one width, evaluated together with batched matmuls."""

    def __init__(self, scales: list[LayerScale], activation: str, weights: list[torch.Tensor]) -> None:
        self.scales = scales
        self.phi = TORCH_ACTIVATIONS[activation]
        self.weights = weights

    def forward(self, inputs: torch.Tensor, weights: list[torch.Tensor] | None = None) -> Forward:
        """Forward pass of all seeds on one input batch (B, d) shared by the seeds."""
        weights = self.weights if weights is None else weights
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = [inputs]
        x = inputs
        last = len(weights) - 1
        for i, (w, scale) in enumerate(zip(weights, self.scales, strict=True)):
            h = torch.matmul(x, w.transpose(1, 2))
            if scale.multiplier != 1.0:
                h = h * scale.multiplier
            pre.append(h)
            x = h if i == last else self.phi(h)
            post.append(x)
        return Forward(pre=pre, post=post)


def per_seed_loss(logits: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean loss over the batch for each seed, shape (S,).

    CE: softmax cross-entropy with integer labels.  MSE: 0.5 * squared error summed over outputs, so the
    loss-logit gradient is chi = (f - y) / B.
    """
    if loss == "ce":
        s, b, k = logits.shape
        per_example = torch.nn.functional.cross_entropy(logits.reshape(s * b, k), targets.repeat(s),
                                                         reduction="none")
        return per_example.view(s, b).mean(dim=1)
    return 0.5 * ((logits - targets) ** 2).sum(dim=-1).mean(dim=-1)
