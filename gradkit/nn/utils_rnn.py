"""``gk.nn.utils.rnn``: PyTorch's ``torch.nn.utils.rnn`` helpers for batches of sequences of different lengths.

Only ``pad_sequence``: no ``PackedSequence`` (the recurrent layers in ``gradkit.nn.rnn`` take padded batches).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, text
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DeviceError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["pad_sequence"]


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
    if isinstance(padding_value, (str, bytes, complex, bool)) or not isinstance(
            padding_value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: padding_value must be a number, got {type(padding_value).__name__} "
                                f"{padding_value!r:.40}")
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
