"""Networks as DAGs of typed operations: what the engine derives from, for the MLP, the residual MLP and the GPT.

A ``Network`` is a networkx DiGraph whose nodes are operations (``Linear``, ``Act``, ``Norm``, ``Gain``,
``Bias``, ``Add``, ``Scores``, ``Mix``) and whose edges carry activations from one operation to the next.
Each operation produces one value (a tensor whose coordinates have one exponent in the width n) and may use
one trainable tensor, the parametrization's layer of index ``param``; one tensor may serve several operations
(tied embeddings).  ``theory.unroll`` turns a network into the unrolled graph of scale rules, so every
architecture goes through the same rules; assemblies (``chain`` here, ``theory.transformer.gpt``) only say
which operations are wired to which.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import networkx as nx

from theory.parametrization import ACTIVATIONS, Activation, Parametrization


@dataclass(frozen=True)
class Value:
    """An activation tensor: ``prefix`` names its graph nodes ("h": h, dh, g; "x": x, dx, gx), ``key`` its place.

    The MLP's pre-activations are ("h", l) and its features ("x", l), so its nodes keep the names
    ("h", l, t), ("x", l, t), ... that the engine's reports and the solver read.
    """

    prefix: str
    key: Hashable

    @property
    def change(self) -> str:
        """Kind of the node holding the change since initialisation."""
        return "d" + self.prefix

    @property
    def grad(self) -> str:
        """Kind of the node holding the backward signal d loss / d value."""
        return "g" if self.prefix == "h" else "g" + self.prefix


INPUT = Value("input", "xi")  # the data: Theta(1) coordinates of a fixed dimension (features, one-hot tokens)


@dataclass(frozen=True)
class Op:
    """One operation: its output value and its inputs (``sources``)."""

    out: Value

    @property
    def sources(self) -> tuple[Value, ...]:
        return ()

    @property
    def param(self) -> int | None:
        """Index of the trainable tensor this operation uses (None: it has none)."""
        return None


@dataclass(frozen=True)
class Linear(Op):
    """``n^{-a} w s`` for the tensor ``param`` (of role input, hidden or output); ``src`` None: the fixed input.

    ``extra_a``: a multiplier exponent added to the tensor's own a for this use only (a tied readout);
    ``role``: the role of this use when it differs from the tensor's (a tied readout is output-like: its
    fan-in is the width); ``group``: for a map inside a representative block, what the sum of its backward
    signals over the block's group adds (independent at initialisation, aligned through updates)."""

    index: int = 0
    src: Value | None = None
    extra_a: Fraction = Fraction(0)
    role: str | None = None
    group: tuple[Any, Any] | None = None

    @property
    def sources(self) -> tuple[Value, ...]:
        return () if self.src is None else (self.src,)

    @property
    def param(self) -> int | None:
        return self.index


@dataclass(frozen=True)
class Act(Op):
    """Elementwise activation phi (its scale properties in ``act``)."""

    src: Value = INPUT
    act: Activation = ACTIVATIONS["linear"]

    @property
    def sources(self) -> tuple[Value, ...]:
        return (self.src,)


@dataclass(frozen=True)
class Norm(Op):
    """LayerNorm or RMSNorm without its affine part: scale-invariant, output Theta(1) coordinates.

    ``grouped``: the norm opens a representative block: its signal back into the stream is the block group's,
    summed from the grouped signals of the linear maps that read it (``Linear.group``)."""

    src: Value = INPUT
    kind: str = "layernorm"
    grouped: bool = False

    @property
    def sources(self) -> tuple[Value, ...]:
        return (self.src,)


@dataclass(frozen=True)
class VectorOp(Op):
    """An elementwise operation with a trainable vector, the tensor ``index``, on one input."""

    index: int = 0
    src: Value = INPUT

    @property
    def sources(self) -> tuple[Value, ...]:
        return (self.src,)

    @property
    def param(self) -> int | None:
        return self.index


@dataclass(frozen=True)
class Gain(VectorOp):
    """Elementwise product with a trainable vector (a norm's gain)."""


@dataclass(frozen=True)
class Bias(VectorOp):
    """Addition of a trainable vector (a bias)."""


@dataclass(frozen=True)
class Add(Op):
    """Sum of ``terms``, each times a multiplier n^{scale} (a residual add: stream + branch multiplier).

    ``group``: for a term that stands for a group of blocks (a depth-scaled network's representative block),
    the exponents its sum over the group adds, (at initialisation, for changes): blocks are independent at
    initialisation (L^{1/2}) and their updates aligned (L).  ``None``: every term is one value."""

    terms: tuple[Value, ...] = ()
    scales: tuple[Fraction, ...] = ()
    group: tuple[tuple[Any, Any] | None, ...] | None = None

    @property
    def sources(self) -> tuple[Value, ...]:
        return self.terms


@dataclass(frozen=True)
class Scores(Op):
    """Attention logits q.k d_head^{-alpha} of one head, summed over the head dimension d_head ~ n^width."""

    q: Value = INPUT
    k: Value = INPUT
    head_width: int = 1  # 1: a fixed number of heads, d_head grows like n; 0: a fixed d_head, heads grow
    alpha: Fraction = Fraction(1, 2)

    @property
    def sources(self) -> tuple[Value, ...]:
        return (self.q, self.k)


@dataclass(frozen=True)
class Mix(Op):
    """softmax(scores) v over the (fixed) sequence: the attention's output."""

    scores: Value = INPUT
    v: Value = INPUT
    head_width: int = 1

    @property
    def sources(self) -> tuple[Value, ...]:
        return (self.scores, self.v)


@dataclass
class Network:
    """Operations in a DAG, the logits, and the values the regime watches.

    ``features``: values that must stay O(1) for training to be stable (hidden activations, the residual
    stream); ``saturating``: values read only through a softmax (attention logits), whose growth saturates the
    softmax instead of blowing anything up, as the output logits do under cross-entropy; ``init``: values that
    must be Theta(1) at initialisation (else the signal vanishes).
    """

    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    logits: Value = INPUT
    features: list[Value] = field(default_factory=list)
    saturating: list[Value] = field(default_factory=list)
    init: list[Value] = field(default_factory=list)
    followed_by_act: set[Hashable] = field(default_factory=set)
    decays: list[int] = field(default_factory=list)  # tensors with decoupled weight decay (set when unrolled)
    _order: list[Value] | None = field(default=None, repr=False, compare=False)

    def add(self, op: Op) -> Value:
        """Add ``op`` after its sources; returns its output value."""
        self.graph.add_node(op.out, op=op, position=len(self.graph))
        for src in op.sources:
            self.graph.add_edge(src, op.out)
        if isinstance(op, Act):
            self.followed_by_act.add(op.src.key)
        return op.out

    def ops(self) -> Iterator[Op]:
        """Operations in a topological order (deterministic: insertion order breaks ties)."""
        if self._order is None or len(self._order) != self.graph.number_of_nodes():
            self._order = list(nx.lexicographical_topological_sort(self.graph, key=self._position))
        for value in self._order:
            op = self.graph.nodes[value].get("op")
            if op is not None:
                yield op

    def _position(self, value: Value) -> int:
        return int(self.graph.nodes[value].get("position", -1))

    def consumers(self, value: Value) -> list[Op]:
        return [self.graph.nodes[v]["op"] for v in self.graph.successors(value)]

    def uses(self, index: int) -> list[Op]:
        """The operations that use the trainable tensor ``index`` (two for a tied embedding)."""
        return [op for op in self.ops() if op.param == index]

    def primary(self, index: int) -> Op:
        """The operation whose output the report of tensor ``index`` describes (its first use)."""
        return self.uses(index)[0]


def chain(n_layers: int, act: Activation) -> Network:
    """The MLP: ``h^1 = W^1 xi``, ``x^l = phi(h^l)``, ``h^{l+1} = W^{l+1} x^l``, logits ``h^{L+1}``."""
    net = Network()
    src: Value | None = None
    for l in range(1, n_layers + 1):
        h = net.add(Linear(Value("h", l), index=l, src=src))
        if l < n_layers:
            src = net.add(Act(Value("x", l), src=h, act=act))
            net.features.append(h)
            net.init.append(h)
        else:
            net.logits = h
    return net


def network_of(param: Parametrization) -> Network:
    """The network ``param`` trains: its architecture's assembly, or the MLP chain of its layers."""
    if param.network is not None:
        return param.network.assemble(param)
    return chain(len(param.layers), param.act)
