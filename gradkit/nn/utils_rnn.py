"""``gk.nn.utils.rnn``: PyTorch's ``torch.nn.utils.rnn`` helpers for batches of sequences of different lengths.

``pad_sequence`` and PyTorch's packed sequences: ``PackedSequence`` (what the recurrent layers in
``gradkit.nn.rnn`` take and return for a batch of sequences of different lengths), ``pack_padded_sequence``,
``pad_packed_sequence``, ``pack_sequence``, ``unpack_sequence`` and ``unpad_sequence``.

A packed batch holds the steps of its sequences sorted longest first: step t is ``batch_sizes[t]`` rows of
``data``, the t-th element of each of the first ``batch_sizes[t]`` sorted sequences. ``batch_sizes`` is an int64
tensor on the CPU (read on the host, as PyTorch's); ``sorted_indices`` (the original index of each sorted
sequence) and ``unsorted_indices`` (its inverse) are on ``data``'s device, None when the sequences came sorted.
Packing and unpadding are differentiable (a gather; a scatter-add backward).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from gradkit import ops
from gradkit._args import flag, text, whole
from gradkit.autograd.function import record
from gradkit.backends import get_backend
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]


def pad_sequence(sequences: Any, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes ``(L_i, *rest)`` into one of shape ``(L_max, B, *rest)`` (``(B, L_max, *rest)``
    with ``batch_first``), each padded with ``padding_value`` after its values (before them with
    ``padding_side="left"``). The result has the first sequence's dtype; differentiable: each sequence
    gets its slice of the gradient."""
    op = "pad_sequence"
    batch_first = flag(batch_first, op, "batch_first")
    if text(padding_side, op, "padding_side") not in ("left", "right"):
        raise InvalidArgumentError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    _check_number(padding_value, op, "padding_value")
    if isinstance(sequences, Tensor):
        if sequences.ndim == 0:
            raise ShapeError(f"{op}: a tensor of sequences needs at least 1 dimension, got a 0-d tensor")
        seqs = list(ops.unbind(sequences, 0))
    elif isinstance(sequences, Iterable) and not isinstance(sequences, (str, bytes, np.ndarray)):
        seqs = list(sequences)
    else:
        raise ArgumentTypeError(f"{op}: sequences must be a list of Tensors, got {type(sequences).__name__}")
    if not seqs:
        raise InvalidArgumentError(f"{op}: got an empty list of sequences")
    first = seqs[0]
    for i, s in enumerate(seqs):
        if not isinstance(s, Tensor):
            raise ArgumentTypeError(f"{op}: sequence {i} is a {type(s).__name__}, not a Tensor")
        if s.ndim == 0:
            raise ShapeError(f"{op}: sequence {i} is 0-d; each sequence needs shape (length, ...)")
        if s.shape[1:] != first.shape[1:]:
            raise ShapeError(
                f"{op}: sequence {i} has shape {s.shape}, sequence 0 {first.shape}: all must agree after the first axis"
            )
        if s._backend is not first._backend:
            raise DeviceError(f"{op}: sequence {i} is on {s.device}, sequence 0 on {first.device}")
    backend = first._backend
    xp = backend.xp
    longest = max(s.shape[0] for s in seqs)
    batch = len(seqs)
    shape = (batch, longest) if batch_first else (longest, batch)
    try:
        data = xp.full(shape + first.shape[1:], padding_value, dtype=first.dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{op}: padding_value {padding_value!r} does not fit dtype {first.dtype} "
                                   f"({exc})") from None
    places = []
    for i, s in enumerate(seqs):
        n = s.shape[0]
        rows = slice(longest - n, longest) if padding_side == "left" else slice(0, n)
        place = (i, rows) if batch_first else (rows, i)
        data[place] = s._data
        places.append(place)
    if data.dtype.kind != "f":  # an integer or bool result (the first sequence's dtype) carries no gradient
        return Tensor._make(data, backend)
    rules = tuple(functools.partial(_slice_of, place=place, dtype=s.dtype) for place, s in zip(places, seqs,
                                                                                                   strict=True))
    return record(op, data, backend, tuple(seqs), rules)


def _slice_of(g: Tensor, place: tuple, dtype: Any) -> Tensor:
    return ops.astype(ops.getitem(g, place), dtype)


# ------------------------------------------------------------------ packed sequences
class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """PyTorch's ``PackedSequence``: the named tuple ``(data, batch_sizes, sorted_indices, unsorted_indices)``
    (see the module's docstring). Made by ``pack_padded_sequence`` or ``pack_sequence``; taken and returned by
    ``RNN``, ``LSTM`` and ``GRU``. ``unsorted_indices`` defaults to the inverse of ``sorted_indices``; as in
    PyTorch, ``PackedSequence((data, batch_sizes))`` works too."""

    __slots__ = ()

    def __new__(cls, data: Any, batch_sizes: Any = None, sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        op = "PackedSequence"
        if batch_sizes is None:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise ArgumentTypeError(f"{op}: expected (data, batch_sizes), or data and batch_sizes, got "
                                        f"{describe(data)} alone")
            data, batch_sizes = data
        if not isinstance(data, Tensor):
            raise ArgumentTypeError(f"{op}: data must be a Tensor, got {describe(data)}")
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = Tensor._make(np.asarray(_host_ints(batch_sizes, op, "batch_sizes")), get_backend("cpu"))
        if batch_sizes.device != "cpu":
            raise DeviceError(f"{op}: batch_sizes must be on the CPU (as PyTorch's), got one on "
                              f"{batch_sizes.device}; pass a list or batch_sizes.to('cpu'), or make packed batches "
                              "with pack_padded_sequence or pack_sequence")
        for name, idx in (("sorted_indices", sorted_indices), ("unsorted_indices", unsorted_indices)):
            if idx is not None and not (isinstance(idx, Tensor) and idx._backend is data._backend):
                raise ArgumentTypeError(f"{op}: {name} must be None or a Tensor on data's device ({data.device}), "
                                        f"got {describe(idx)}")
            if idx is not None and (idx.dtype.kind not in "iu" or idx.ndim != 1):
                raise DTypeError(f"{op}: {name} must be a 1-D tensor of integers, got dtype {idx.dtype} and shape "
                                 f"{idx.shape}")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _inverse(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data.to(...)``; a move takes the indices along (batch_sizes stays on the CPU)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        sorted_indices, unsorted_indices = self.sorted_indices, self.unsorted_indices
        if data._backend is not self.data._backend and sorted_indices is not None:
            sorted_indices, unsorted_indices = sorted_indices.to(data.device), unsorted_indices.to(data.device)
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> PackedSequence:
        return self.to(f"cuda:{whole(index, 'PackedSequence.cuda', 'index', low=0)}")

    def float(self) -> PackedSequence:
        return self.to(dtype="float32")

    def double(self) -> PackedSequence:
        return self.to(dtype="float64")

    def half(self) -> PackedSequence:
        return self.to(dtype="float16")


def _inverse(order: Tensor) -> Tensor:
    """The inverse of the permutation ``order`` (on its device, no host read)."""
    xp = order._backend.xp
    inverse = xp.empty_like(order._data)
    inverse[order._data] = xp.arange(order._data.size, dtype=order._data.dtype)
    return Tensor._make(inverse, order._backend)


def _host_ints(values: Any, op: str, name: str) -> np.ndarray:
    """``values`` (a list, NumPy array or Tensor of integers) as a 1-D int64 array on the host."""
    if isinstance(values, Tensor):
        array = values.numpy()
    elif isinstance(values, (str, bytes)) or values is None:
        raise ArgumentTypeError(f"{op}: {name} must be a list, array or Tensor of integers, got {describe(values)}")
    else:
        try:
            array = np.asarray(values)
        except ValueError:
            raise ShapeError(f"{op}: {name} {values!r:.60} is ragged") from None
    if array.ndim != 1:
        raise ShapeError(f"{op}: {name} must be 1-D, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {name} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _sizes(packed: Any, op: str) -> tuple:
    """The checked fields of a PackedSequence: (data, batch_sizes as a tuple of ints, sorted_indices,
    unsorted_indices)."""
    if not isinstance(packed, PackedSequence):
        raise ArgumentTypeError(f"{op}: expected a PackedSequence, got {describe(packed)}")
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    sizes = _host_ints(batch_sizes, op, "batch_sizes")
    if not sizes.size or sizes[-1] < 1 or (sizes[1:] > sizes[:-1]).any():
        raise InvalidArgumentError(f"{op}: batch_sizes must be positive and non-increasing, got {sizes.tolist()}")
    if data.ndim == 0 or data.shape[0] != sizes.sum():
        raise ShapeError(f"{op}: data has shape {data.shape}, but batch_sizes sum to {sizes.sum()} rows")
    for name, idx in (("sorted_indices", sorted_indices), ("unsorted_indices", unsorted_indices)):
        if idx is not None and idx.shape != (sizes[0],):
            raise ShapeError(f"{op}: {name} has shape {idx.shape}, expected ({sizes[0]},): one index per sequence "
                             "(batch_sizes[0] of them)")
    return data, tuple(sizes.tolist()), sorted_indices, unsorted_indices


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack the padded batch ``input`` (T, B, *) ((B, T, *) with ``batch_first``) whose sequence b has
    ``lengths[b]`` steps (a list, NumPy array or Tensor, read on the host; each in 1..T). With
    ``enforce_sorted`` the lengths must not increase; otherwise the sequences are sorted longest first (a
    stable sort) and ``sorted_indices`` records the order. Differentiable in ``input``."""
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(f"{op}: input must be a Tensor, got {describe(input)}")
    batch_first = flag(batch_first, op, "batch_first")
    enforce_sorted = flag(enforce_sorted, op, "enforce_sorted")
    if input.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dimensions ((T, B, *) or (B, T, *)), got shape "
                         f"{input.shape}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    lengths = _host_ints(lengths, op, "lengths")
    if batch == 0 or steps == 0:
        raise ShapeError(f"{op}: cannot pack an empty batch (input of shape {input.shape})")
    if lengths.size != batch:
        raise ShapeError(f"{op}: expected len(lengths) to be the batch size {batch} (input of shape "
                         f"{input.shape}), got {lengths.size}")
    if lengths.min() <= 0:
        raise InvalidArgumentError(f"{op}: every length must be greater than 0, got {lengths.tolist()}")
    if lengths.max() > steps:
        raise InvalidArgumentError(f"{op}: a length of {lengths.max()} is longer than the input's {steps} steps "
                                   f"(input of shape {input.shape})")
    if enforce_sorted:
        if (lengths[1:] > lengths[:-1]).any():
            raise InvalidArgumentError(
                f"{op}: lengths {lengths.tolist()} must be sorted in decreasing order when enforce_sorted=True; "
                "pass enforce_sorted=False to pack_padded_sequence and/or pack_sequence to have them sorted")
        order, sorted_indices = np.arange(batch), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor._make(input._backend.asarray(order), input._backend)
    # step t, row b: the t-th element of sequence order[b], for the b whose length exceeds t
    step, row = np.nonzero(lengths[order][None, :] > np.arange(lengths.max())[:, None])
    index = (order[row], step) if batch_first else (step, order[row])
    data = ops.getitem(input, index, op)
    batch_sizes = Tensor._make(np.bincount(step).astype(np.int64), get_backend("cpu"))
    return PackedSequence(data, batch_sizes, sorted_indices)


def pad_packed_sequence(sequence: Any, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The inverse of ``pack_padded_sequence``: ``(padded, lengths)``, padded (T, B, *) ((B, T, *) with
    ``batch_first``) in the original batch order, filled with ``padding_value`` after each sequence, T the
    longest length or ``total_length`` (at least that); lengths an int64 CPU tensor. Differentiable in the
    data. Reads ``sorted_indices`` on the host."""
    op = "pad_packed_sequence"
    data, sizes, sorted_indices, _ = _sizes(sequence, op)
    batch_first = flag(batch_first, op, "batch_first")
    _check_number(padding_value, op, "padding_value")
    steps, batch = len(sizes), sizes[0]
    if total_length is not None:
        total_length = whole(total_length, op, "total_length")
        if total_length < steps:
            raise InvalidArgumentError(f"{op}: total_length must be at least the longest sequence's length "
                                       f"({steps}), got {total_length}")
        steps = total_length
    order = np.arange(batch) if sorted_indices is None else _host_ints(sorted_indices, op, "sorted_indices")
    bs = np.asarray(sizes)
    lengths = np.empty(batch, dtype=np.int64)
    lengths[order] = (bs[:, None] > np.arange(batch)[None, :]).sum(axis=0)
    # padded[t, order[b]] = data[start of step t + b] where b < sizes[t]; elsewhere the padding row (the last)
    where = np.full((steps, batch), data.shape[0], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(bs)[:-1]))
    step, row = np.nonzero(bs[:, None] > np.arange(batch)[None, :])
    where[step, order[row]] = starts[step] + row
    backend = data._backend
    try:
        pad = backend.xp.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{op}: padding_value {padding_value!r} does not fit dtype {data.dtype} "
                                   f"({exc})") from None
    padded = ops.getitem(ops.concatenate((data, Tensor._make(pad, backend)), 0), where.T if batch_first else where,
                         op)
    return padded, Tensor._make(lengths, get_backend("cpu"))


def pack_sequence(sequences: Any, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors of shapes (L_i, *) (each L_i > 0; non-increasing with ``enforce_sorted``):
    ``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)``."""
    op = "pack_sequence"
    if isinstance(sequences, Tensor) or not isinstance(sequences, Iterable) or isinstance(sequences, (str, bytes)):
        raise ArgumentTypeError(f"{op}: sequences must be a list of Tensors, got {describe(sequences)}")
    sequences = list(sequences)
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim == 0:
            raise ArgumentTypeError(f"{op}: sequence {i} must be a Tensor of shape (length, *), got {describe(s)}")
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The sequences of the padded batch ``padded_sequences`` (T, B, *) ((B, T, *) with ``batch_first``): sequence
    b is its first ``lengths[b]`` steps (a list, NumPy array or Tensor, read on the host)."""
    op = "unpad_sequence"
    if not isinstance(padded_sequences, Tensor):
        raise ArgumentTypeError(f"{op}: padded_sequences must be a Tensor, got {describe(padded_sequences)}")
    batch_first = flag(batch_first, op, "batch_first")
    if padded_sequences.ndim < 2:
        raise ShapeError(f"{op}: padded_sequences must have at least 2 dimensions, got shape "
                         f"{padded_sequences.shape}")
    steps, batch = padded_sequences.shape[:2][::-1] if batch_first else padded_sequences.shape[:2]
    lengths = _host_ints(lengths, op, "lengths")
    if lengths.size != batch or (lengths.size and (lengths.min() < 0 or lengths.max() > steps)):
        raise InvalidArgumentError(f"{op}: expected {batch} lengths in 0..{steps} for padded_sequences of shape "
                                   f"{padded_sequences.shape}, got {lengths.tolist()}")
    return [padded_sequences[b, :n] if batch_first else padded_sequences[:n, b]
            for b, n in enumerate(lengths.tolist())]


def unpack_sequence(packed_sequences: Any) -> list[Tensor]:
    """The sequences of a PackedSequence, in their original order (a list of (L_i, *) tensors)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def _check_number(value: Any, op: str, name: str) -> None:
    if isinstance(value, (str, bytes, complex, bool)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
