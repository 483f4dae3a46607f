"""Deterministic data for the trainings: a synthetic teacher task and scikit-learn's digits for MLPs, and a
character-level language model on CPython's documentation text for transformers (none needs a download).

Each gives a training pool, a fixed probe batch (disjoint from the pool) on which every quantity is
measured, and the training batch of each step, all fixed by ``seed``.  Every seed and width sees the same
batches, so differences between runs come from the initialisation only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from theory.errors import InputError

DATASETS = ("synthetic", "digits", "pydoc")
MLP_DATASETS = ("synthetic", "digits")  # rows of features: what an MLP trains on
SEQUENCE_DATASETS = ("pydoc",)  # token sequences: what a transformer trains on
# the character vocabulary of ``pydoc``: newline and printable ASCII, then one id for every other character
VOCABULARY = "\n" + "".join(chr(c) for c in range(32, 127))
SEQ_LEN = 32
EVAL_FRACTION = 0.1
SYNTHETIC_POOL = 4096
TEACHER_WIDTH = 64
DIGITS_PIXELS = 64  # scikit-learn's 8 x 8 digits


@dataclass
class Dataset:
    """Training pool and probe batch; targets are class indices (CE) or float vectors (MSE)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    probe_x: torch.Tensor
    probe_y: torch.Tensor
    input_dim: int
    output_dim: int
    seed: int

    def to(self, device: torch.device | str) -> Dataset:
        """The same data with its tensors on ``device`` (the very same tensors on the CPU: no copy)."""
        return replace(self, train_x=self.train_x.to(device), train_y=self.train_y.to(device),
                       probe_x=self.probe_x.to(device), probe_y=self.probe_y.to(device))

    def batch(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training batch of update ``step`` (1-based): a seeded draw without replacement."""
        gen = torch.Generator().manual_seed(self.seed * 7_777_777 + step)
        index = torch.randperm(self.train_x.shape[0], generator=gen)[:size]
        return self.train_x[index], self.train_y[index]


def input_width(name: str, input_dim: int) -> int:
    """An MLP's input width on data set ``name``: the digits' pixels, or ``input_dim`` synthetic features."""
    return DIGITS_PIXELS if name == "digits" else input_dim


def _targets(labels: np.ndarray, values: np.ndarray | None, loss: str, k: int) -> torch.Tensor:
    if loss == "ce":
        return torch.as_tensor(labels, dtype=torch.long)
    if values is None:  # one-hot regression targets
        values = np.eye(k, dtype=np.float32)[labels]
    return torch.as_tensor(values, dtype=torch.float32)


def synthetic(loss: str, *, seed: int = 0, input_dim: int = 32, classes: int = 10,
              probe_size: int = 64) -> Dataset:
    """Gaussian inputs N(0, I_d) labelled by a random one-hidden-layer tanh teacher.

    CE: the label is the argmax of the teacher's k outputs.  MSE: the teacher's outputs themselves,
    standardised to unit variance per output.
    """
    rng = np.random.default_rng(seed)
    total = SYNTHETIC_POOL + probe_size
    x = rng.standard_normal((total, input_dim)).astype(np.float32)
    w1 = rng.standard_normal((input_dim, TEACHER_WIDTH)) / np.sqrt(input_dim)
    w2 = rng.standard_normal((TEACHER_WIDTH, classes)) / np.sqrt(TEACHER_WIDTH)
    out = np.tanh(x @ w1) @ w2
    out = ((out - out.mean(0)) / out.std(0)).astype(np.float32)
    labels = out.argmax(axis=1)
    y = _targets(labels, out, loss, classes)
    xt = torch.as_tensor(x)
    return Dataset(xt[probe_size:], y[probe_size:], xt[:probe_size], y[:probe_size], input_dim, classes, seed)


def digits(loss: str, *, seed: int = 0, probe_size: int = 64) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, shipped with the package): standardised pixels, 10 classes.

    MSE uses one-hot targets.  The probe batch is a seeded random subset held out of the training pool.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float32)
    std = x.std(0)
    x = (x - x.mean(0)) / np.where(std > 0, std, 1.0)
    labels = np.asarray(bunch.target)
    order = np.random.default_rng(seed).permutation(len(x))
    x, labels = x[order], labels[order]
    y = _targets(labels, None, loss, 10)
    xt = torch.as_tensor(x)
    return Dataset(xt[probe_size:], y[probe_size:], xt[:probe_size], y[:probe_size], x.shape[1], 10, seed)


def corpus_text() -> str:
    """CPython's documentation topics (``pydoc_data.topics``, shipped with Python), in sorted topic order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def encode(text: str) -> np.ndarray:
    """Character ids in ``VOCABULARY`` (any other character: the last id, ``len(VOCABULARY)``)."""
    table = np.full(max(128, max(map(ord, text), default=0) + 1), len(VOCABULARY), dtype=np.int64)
    for i, char in enumerate(VOCABULARY):
        table[ord(char)] = i
    return table[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]


def pydoc(loss: str, *, seed: int = 0, probe_size: int = 8, seq_len: int = SEQ_LEN) -> Dataset:
    """Next-character prediction on ``corpus_text()``: windows of ``seq_len`` characters (targets shifted by one).

    The first 90% of the text is the training split, cut into non-overlapping windows; the probe batch is
    ``probe_size`` windows of the last 10% (the evaluation split), picked by a permutation seeded with
    ``seed``.  Inputs and targets are character ids (input_dim = output_dim = the vocabulary's size, 97).
    Cross-entropy only: an MSE language model would need one-hot targets of the vocabulary per position.
    """
    if loss != "ce":
        raise InputError(f"--loss {loss}: the pydoc language model trains with cross-entropy (ce) only")
    ids = torch.as_tensor(encode(corpus_text()))
    split = int(len(ids) * (1 - EVAL_FRACTION))

    def windows(part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = (len(part) - 1) // seq_len
        starts = torch.arange(count) * seq_len
        index = starts[:, None] + torch.arange(seq_len + 1)
        chunks = part[index]
        return chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous()

    train_x, train_y = windows(ids[:split])
    eval_x, eval_y = windows(ids[split:])
    if not 1 <= probe_size <= len(eval_x):
        raise InputError(f"probe size {probe_size}: the pydoc evaluation split holds 1..{len(eval_x)} windows of "
                         f"{seq_len} characters")
    pick = torch.randperm(len(eval_x), generator=torch.Generator().manual_seed(seed))[:probe_size]
    vocab = len(VOCABULARY) + 1
    return Dataset(train_x, train_y, eval_x[pick], eval_y[pick], vocab, vocab, seed)


class DataSettings(Protocol):
    """The fields of a training's settings that name its data (``TrainSettings``, ``LrSettings``)."""

    @property
    def data(self) -> str: ...
    @property
    def data_seed(self) -> int: ...
    @property
    def input_dim(self) -> int: ...
    @property
    def classes(self) -> int: ...
    @property
    def probe_size(self) -> int: ...


def load_for(settings: DataSettings, loss: str) -> Dataset:
    """The data set a training's settings name, built once per process (widths and jobs share it; building it
    took ~20 ms, as long as a whole width-128 job's trainings).  Callers must not modify its tensors.

    A sequence data set reads the settings' ``seq_len`` (the transformer's ``TrainSettings`` have one)."""
    seq_len = getattr(settings, "seq_len", None) or SEQ_LEN
    return _cached(settings.data, loss, settings.data_seed, settings.input_dim, settings.classes,
                   settings.probe_size, seq_len)


@functools.lru_cache(maxsize=8)
def _cached(name: str, loss: str, seed: int, input_dim: int, classes: int, probe_size: int,
            seq_len: int) -> Dataset:
    return load(name, loss, seed=seed, input_dim=input_dim, classes=classes, probe_size=probe_size,
                seq_len=seq_len)


def load(name: str, loss: str, *, seed: int = 0, input_dim: int = 32, classes: int = 10,
         probe_size: int = 64, seq_len: int = SEQ_LEN) -> Dataset:
    """Dataset ``name`` (synthetic, digits or pydoc) for ``loss``."""
    if name == "synthetic":
        return synthetic(loss, seed=seed, input_dim=input_dim, classes=classes, probe_size=probe_size)
    if name == "digits":
        return digits(loss, seed=seed, probe_size=probe_size)
    if name == "pydoc":
        return pydoc(loss, seed=seed, probe_size=probe_size, seq_len=seq_len)
    from theory.parametrization import suggest

    raise InputError(f"unknown --data {name!r}{suggest(name, DATASETS)}")
