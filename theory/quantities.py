"""The one registry of per-layer quantities: names, engine nodes, where a check judges them, labels.

The engine (``theory.engine``) reads each quantity's exponent off its graph node, the torch side
(``verify.model.measure``) measures the quantity of the same name, the verdicts (``verify.width.verdict``)
judge it at the steps named here, and tables and terminal reports print its labels.  A quantity is defined
here once; everything else looks it up.

Steps at which a check judges a quantity (docs/verify.md, where each quantity is judged):

* ``init``: step 0, the initialisation, where the scale rules are exact and which produces the first update
  (pre-activations at init, gradients);
* ``first``: step 1, the first update, where the theory's one-step counting is exact (the readout's sqrt(n)
  logit jump of step 1 is largely undone by later steps, so the readout is judged there only);
* ``first+last``: step 1 and the last step (hidden feature learning, Theta(1) in muP, persists).
"""

from __future__ import annotations

from dataclasses import dataclass

from theory.errors import InputError


@dataclass(frozen=True)
class Quantity:
    """A per-layer quantity: RMS per coordinate of some tensor of layer l at step t."""

    name: str
    node: str  # kind of the engine's graph node holding its exponent ("h0": h at step 0)
    judged: str  # "init", "first" or "first+last" (see the module docstring)
    label: str  # short plain-text header ("dW x")
    latex: str  # LaTeX header
    description: str  # what is measured, in one line
    readout_node: str | None = None  # the node at the readout if it differs (feature_update: the logit change)
    from_layer: int = 1  # first layer where it is defined (propagating_update: 2, layer 1 has a fixed input)

    @property
    def is_update(self) -> bool:
        """A change since initialisation: exactly zero at step 0, so it is judged from step 1 on."""
        return self.judged != "init"

    def node_at(self, layer: int, top: int) -> str:
        """The engine node kind of this quantity at ``layer`` (``top`` = L+1 is the readout)."""
        return self.readout_node if layer == top and self.readout_node is not None else self.node

    def judged_steps(self, layer: int, top: int, steps: int) -> tuple[int, ...]:
        """Steps at which a check judges this quantity at ``layer`` after ``steps`` training steps."""
        if layer < self.from_layer:
            return ()
        if self.judged == "init":
            return (0,)
        if self.judged == "first+last" and layer < top and steps > 1:
            return (1, steps)
        return (1,)


REGISTRY: tuple[Quantity, ...] = (
    Quantity("init_preactivation", "h0", "init", "h_0", r"$h_0$", "pre-activation h^l_0 at initialisation"),
    Quantity("preactivation_update", "dh", "first", "dh", r"$\Delta h$", "pre-activation change h^l_t - h^l_0"),
    Quantity("feature_update", "dx", "first+last", "dx", r"$\Delta x$",
             "feature change x^l_t - x^l_0 (at the readout: the logit change f_t - f_0)", readout_node="dh"),
    Quantity("effective_update", "eff", "first", "dW x", r"$\Delta W\,x$",
             "effective update (W^l_t - W^l_0) x^{l-1}_t"),
    Quantity("propagating_update", "prop", "first", "W_0 dx", r"$W_0\,\Delta x$",
             "propagating update W^l_0 (x^{l-1}_t - x^{l-1}_0)", from_layer=2),
    Quantity("backward_gradient", "g", "init", "dL/dh", r"$\partial\mathcal{L}/\partial h$",
             "backward signal d loss / d h^l"),
    Quantity("weight_gradient", "G", "init", "dL/dw", r"$\partial\mathcal{L}/\partial w$",
             "gradient of the trainable tensor d loss / d w^l"),
    Quantity("weight_update", "dw", "first", "dw", r"$\Delta w$", "accumulated update w^l_t - w^l_0"),
)
QUANTITIES: tuple[str, ...] = tuple(q.name for q in REGISTRY)
BY_NAME: dict[str, Quantity] = {q.name: q for q in REGISTRY}


def quantity(name: str) -> Quantity:
    """The registered quantity ``name`` (InputError with suggestions otherwise)."""
    if name not in BY_NAME:
        from theory.parametrization import suggest

        raise InputError(f"unknown quantity {name!r}{suggest(name, QUANTITIES)}")
    return BY_NAME[name]


def judged_points(n_layers: int, steps: int) -> list[tuple[str, int, int]]:
    """(quantity, layer, step) triples a check judges, for L+1 = ``n_layers`` weight matrices."""
    return [(q.name, layer, step) for q in REGISTRY for layer in range(1, n_layers + 1)
            for step in q.judged_steps(layer, n_layers, steps)]
