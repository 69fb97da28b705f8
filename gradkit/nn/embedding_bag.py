"""``F.embedding_bag`` and ``nn.EmbeddingBag``: sums, means or maxima of bags of embedding rows, without the
intermediate (bags, length, dim) tensor.

The rows are gathered (``take``) and added into their bags by a scatter-add (``put``), each the other's VJP, so
gradients of every order work and nothing is read back from a GPU (bag membership comes from
``searchsorted`` on the offsets, on the device). "max" finds each bag's maximum and its first position (with
``reduceat`` over each bag's run of positions on the CPU, ``maximum.at``/``minimum.at`` on a GPU) and gathers those
rows, so the gradient goes to the first maximum, as PyTorch's.
``sparse=True`` is refused: gradkit has no sparse gradients (pass False: the gradient is dense).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, text, whole
from gradkit.autograd.function import record
from gradkit.creation import empty
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.nn import init
from gradkit.nn._gather import put, take
from gradkit.nn.activation import _scale_vjp
from gradkit.nn.functional import _check_range, _int_array, _warn_at_caller
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.tensor import Tensor

__all__ = ["EmbeddingBag", "embedding_bag"]

_MODES = ("sum", "mean", "max")


def _padding_index(padding_idx: Any, n: int, op: str) -> int | None:
    if padding_idx is None:
        return None
    padding_idx = whole(padding_idx, op, "padding_idx")
    if not -n <= padding_idx < n:
        raise IndexOutOfRangeError(f"{op}: padding_idx must be within the number of embeddings, {-n} through "
                                   f"{n - 1}, got {padding_idx}")
    return padding_idx % n


def _renorm(weight: Tensor, idx: Any, max_norm: float, norm_type: float) -> None:
    """Scale the rows ``idx`` picks whose ``norm_type``-norm exceeds ``max_norm`` down to it, in place and outside
    autograd (PyTorch's ``embedding_renorm_``)."""
    xp = weight._backend.xp
    rows = xp.unique(idx.reshape(-1))
    if rows.size == 0:
        return
    picked = weight._data[rows]
    work = picked.astype(np.float64) if picked.dtype == np.float16 else picked
    p = norm_type
    if p == 2.0:
        norms = xp.sqrt((work * work).sum(axis=1))
    elif p == math.inf:
        norms = xp.abs(work).max(axis=1)
    else:
        norms = (xp.abs(work) ** p).sum(axis=1) ** (1.0 / p)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(picked.dtype)
    weight._data[rows] = picked * scale[:, None]
    weight._version[0] += 1


def _given_on_host(value: Any) -> np.ndarray | None:
    """The integers as given, when they come from the host (a list or a NumPy array; checked there for free
    before they go to a GPU), else None (a device tensor or array: not read back)."""
    if isinstance(value, Tensor) or hasattr(value, "__cuda_array_interface__"):
        return None
    data = np.asarray(value)
    return data.astype(np.int64) if data.dtype == np.uint64 else data


def _check_mode(mode: Any, scale_grad_by_freq: bool, sparse: bool, op: str) -> str:
    text(mode, op, "mode")
    if mode not in _MODES:
        raise InvalidArgumentError(f"{op}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise InvalidArgumentError(f"{op}: mode 'max' does not support scale_grad_by_freq=True (as PyTorch)")
    if sparse:
        raise InvalidArgumentError(
            f"{op}: sparse=True is not supported by gradkit (it has no sparse gradients); pass sparse=False: the "
            "weight's gradient is then dense"
        )
    return mode


def embedding_bag(input: Any, weight: Tensor, offsets: Any = None, max_norm: float | None = None,  # noqa: A002
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Any = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """PyTorch's ``F.embedding_bag``: for each bag of indices, the sum, mean or maximum of its rows of ``weight``
    (num_embeddings, dim), without the (bags, length, dim) intermediate: (B, dim).

    Bags: a 2-D ``input`` (B, L) has one per row (``offsets`` must be None); a 1-D ``input`` is cut at the
    starts ``offsets`` (1-D, the first 0; with ``include_last_offset`` the last entry ends the last bag, else it
    runs to the end). An empty bag gives zeros. ``per_sample_weights`` (input's shape, weight's dtype; mode
    "sum" only) scale each row, and get a gradient. Entries equal to ``padding_idx`` are left out (of the
    count too) and its row gets no gradient. ``scale_grad_by_freq`` divides each row's gradient by its count in
    ``input`` (not with "max"); ``max_norm`` first rescales, in place, the rows ``input`` picks whose
    ``norm_type``-norm exceeds it. "max" passes each maximum's gradient to its first occurrence in the bag.
    Indices and offsets are checked on the CPU (a GPU's are not read back, as PyTorch's CUDA kernel does not);
    ``sparse=True`` raises ``InvalidArgumentError`` (gradkit's gradients are dense).
    """
    op = "embedding_bag"
    if isinstance(weight, Tensor) and weight.dtype.kind in "iu" and isinstance(input, Tensor) \
            and input.dtype.kind == "f":
        _warn_at_caller(f"{op}: the argument order is (input, weight, ...); embedding_bag(weight, input, ...) is "
                        "deprecated (as in PyTorch), the two are swapped")
        weight, input = input, weight  # noqa: A001
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ShapeError(f"{op}: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    if weight.dtype.kind != "f":
        raise DTypeError(f"{op}: weight must be a float tensor, got dtype {weight.dtype}")
    scale_grad_by_freq = flag(scale_grad_by_freq, op, "scale_grad_by_freq")
    mode = _check_mode(mode, scale_grad_by_freq, flag(sparse, op, "sparse"), op)
    include_last_offset = flag(include_last_offset, op, "include_last_offset")
    num, dim = weight.shape
    padding_idx = _padding_index(padding_idx, num, op)
    backend = weight._backend
    xp = backend.xp
    idx = _int_array(input, backend, op, "indices")
    on_cpu = type(idx) is np.ndarray
    host_idx = idx if on_cpu else _given_on_host(input)  # indices a GPU run got from the host are checked there
    if idx.ndim == 2:
        if offsets is not None:
            raise InvalidArgumentError(
                f"{op}: with a 2-D input (one bag per row) offsets must be None, got {type(offsets).__name__}"
            )
        bags, length = idx.shape
        n = bags * length
        flat = idx.reshape(-1)
        bag = xp.repeat(xp.arange(bags, dtype=np.int64), length)
        valid = None
    elif idx.ndim == 1:
        if offsets is None:
            raise ArgumentTypeError(f"{op}: a 1-D input needs offsets (a 1-D tensor of bag starts), got None")
        off = _int_array(offsets, backend, op, "offsets")
        if off.ndim != 1:
            raise ShapeError(f"{op}: offsets must be 1-D, got shape {off.shape}")
        n = idx.shape[0]
        flat = idx
        bags = off.shape[0] - 1 if include_last_offset else off.shape[0]
        if bags < 0:
            raise ShapeError(f"{op}: with include_last_offset=True offsets must hold at least one entry (the end)")
        host_off = off if type(off) is np.ndarray else _given_on_host(offsets)
        if host_off is not None and host_off.size:
            if host_off[0] != 0:
                raise InvalidArgumentError(f"{op}: offsets[0] must be 0 (the first bag starts at position 0), got "
                                           f"{int(host_off[0])}")
            if (np.diff(host_off) < 0).any():
                raise InvalidArgumentError(f"{op}: offsets must be non-decreasing, got {host_off.tolist()!r:.80}")
            if host_off[-1] > n:
                raise InvalidArgumentError(f"{op}: offsets[-1] ({int(host_off[-1])}) cannot exceed the input's "
                                           f"length {n}")
        positions = xp.arange(n, dtype=np.int64)
        if bags:
            bag = xp.searchsorted(off[:bags], positions, side="right") - 1
            bag = xp.clip(bag, 0, bags - 1)
        else:
            bag = xp.zeros(n, dtype=np.int64)
        valid = positions < off[bags] if include_last_offset else None
    else:
        raise ShapeError(f"{op}: input must be 1-D (with offsets) or 2-D (one bag per row), got shape {idx.shape}")
    if host_idx is not None:
        _check_range(host_idx, num, op, "index")
    if not on_cpu:  # a GPU's own indices are not read back (nor are they by PyTorch's CUDA kernel): clipped
        flat = xp.clip(flat, 0, num - 1)
    psw = _sample_weights(per_sample_weights, idx, weight, mode, op)
    if max_norm is not None:
        max_norm = real(max_norm, op, "max_norm", low=0.0)
        _renorm(weight, flat, max_norm, real(norm_type, op, "norm_type", low=0.0, low_open=True))
    keep = valid
    if padding_idx is not None:
        kept = flat != padding_idx
        keep = kept if keep is None else keep & kept
    if mode == "max":
        return _bag_max(weight, flat, bag, keep, bags)
    rows = take(weight, (flat,))  # (n, dim)
    if scale_grad_by_freq:
        counts = xp.bincount(flat, minlength=num)
        inv = (1.0 / counts[flat]).astype(weight.dtype)[:, None]
        rows = record("scale_grad_by_freq", rows._data, backend, (rows,), (_scale_vjp,), (inv,))
    if psw is not None:
        rows = rows * ops.unsqueeze(psw, 1)
    if keep is not None:
        rows = ops.where(keep[:, None], rows, 0.0)
    out = put(rows, (bags, dim), (bag,))
    if mode == "mean":
        count = xp.zeros(bags, dtype=weight.dtype)
        backend.scatter_add(count, (bag,), xp.ones(n, dtype=weight.dtype) if keep is None else
                            keep.astype(weight.dtype))
        out = out / xp.maximum(count, 1)[:, None]
    return out


def _sample_weights(psw: Any, idx: Any, weight: Tensor, mode: str, op: str) -> Tensor | None:
    if psw is None:
        return None
    if mode != "sum":
        raise InvalidArgumentError(f"{op}: per_sample_weights are only supported with mode='sum' (as PyTorch), "
                                   f"got mode={mode!r}")
    t = psw if isinstance(psw, Tensor) else Tensor._make(weight._backend.asarray(np.asarray(psw, dtype=weight.dtype)),
                                                         weight._backend)
    if t._backend is not weight._backend:
        raise DeviceError(f"{op}: per_sample_weights on {t.device}, weight on {weight.device}; move them to one "
                          "device")
    if t.shape != idx.shape:
        raise ShapeError(f"{op}: per_sample_weights of shape {t.shape} must have the input's shape {idx.shape}")
    if t.dtype != weight.dtype:
        raise DTypeError(f"{op}: per_sample_weights ({t.dtype}) must have the weight's dtype ({weight.dtype})")
    return ops.reshape(t, (-1,))


def _bag_runs(bag: np.ndarray, bags: int) -> tuple[np.ndarray, np.ndarray]:
    """The bags that hold a position and where each one's run of positions starts (``bag`` non-decreasing)."""
    counts = np.bincount(bag, minlength=bags)
    filled = np.flatnonzero(counts)
    return filled, (np.cumsum(counts) - counts)[filled]


def _bag_max(weight: Tensor, flat: Any, bag: Any, keep: Any, bags: int) -> Tensor:
    """Each bag's elementwise maximum of its rows; the gradient goes to the first row holding it."""
    backend = weight._backend
    xp = backend.xp
    n = flat.shape[0]
    dim = weight.shape[1]
    vals = weight._data[flat]
    if vals.dtype == np.float16:  # CuPy's maximum.at takes float32 and float64
        vals = vals.astype(np.float32)
    if keep is not None:
        vals = xp.where(keep[:, None], vals, -np.inf)
    best = xp.full((bags, dim), -np.inf, dtype=vals.dtype)
    # a bag is a run of consecutive positions (``bag`` never decreases): on the CPU each run is reduced by
    # ``reduceat`` (several times faster than ``maximum.at``/``minimum.at``, the same values)
    runs = _bag_runs(bag, bags) if xp is np and n and bags else None
    if runs is None:
        xp.maximum.at(best, bag, vals)
    else:
        best[runs[0]] = np.maximum.reduceat(vals, runs[1], axis=0)
    hit = vals == best[bag]
    if keep is not None:
        hit &= keep[:, None]
    first = xp.full((bags, dim), n, dtype=np.int64)
    where = xp.where(hit, xp.arange(n, dtype=np.int64)[:, None], n)
    if runs is None:
        xp.minimum.at(first, bag, where)
    else:
        first[runs[0]] = np.minimum.reduceat(where, runs[1], axis=0)
    found = first < n
    src = flat[xp.minimum(first, max(n - 1, 0))] if n else xp.zeros((bags, dim), dtype=np.int64)
    out = take(weight, (src, xp.arange(dim, dtype=np.int64)[None, :]))
    return ops.where(found, out, 0.0)


class EmbeddingBag(Module):
    """PyTorch's ``nn.EmbeddingBag``: a ``num_embeddings`` x ``embedding_dim`` table (initialised N(0, 1), row
    ``padding_idx`` zero) whose ``forward(input, offsets=None, per_sample_weights=None)`` is
    ``F.embedding_bag`` with the module's mode ("mean" by default) and options. ``sparse=True`` raises
    ``InvalidArgumentError`` (gradkit's gradients are dense); ``_weight`` (used as given) is
    :meth:`from_pretrained`'s."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight: Tensor | None = None, include_last_offset: bool = False, padding_idx: int | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        op = "EmbeddingBag"
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidArgumentError(f"{op}: {name} must be an int >= 0, got {value!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.max_norm = None if max_norm is None else real(max_norm, op, "max_norm", low=0.0)
        self.norm_type = real(norm_type, op, "norm_type", low=0.0, low_open=True)
        self.scale_grad_by_freq = flag(scale_grad_by_freq, op, "scale_grad_by_freq")
        self.mode = _check_mode(mode, self.scale_grad_by_freq, flag(sparse, op, "sparse"), op)
        self.sparse = False
        self.include_last_offset = flag(include_last_offset, op, "include_last_offset")
        self.padding_idx = _padding_index(padding_idx, self.num_embeddings, op)
        if _weight is None:
            self.weight = Parameter(empty(self.num_embeddings, self.embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if not isinstance(_weight, Tensor):
                raise ArgumentTypeError(f"{op}: _weight must be a Tensor, got {type(_weight).__name__}")
            if _weight.shape != (self.num_embeddings, self.embedding_dim):
                raise ShapeError(f"{op}: _weight has shape {_weight.shape}, expected "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            if _weight.dtype.kind != "f":
                raise InvalidArgumentError(f"{op}: _weight must be a float tensor, got dtype {_weight.dtype}")
            self.weight = Parameter(_weight)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0
            self.weight._version[0] += 1

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (a 2-d float tensor; shared, not copied), trainable
        unless ``freeze``; row ``padding_idx`` is not zeroed (as PyTorch)."""
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 2:
            got = f"shape {embeddings.shape}" if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ShapeError(f"EmbeddingBag.from_pretrained: embeddings must be a 2-d Tensor, got {got}")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad = not flag(freeze, "EmbeddingBag.from_pretrained", "freeze")
        return bag

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Any = None) -> Tensor:  # noqa: A002
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
