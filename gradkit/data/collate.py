"""Batching a list of samples into tensors: ``default_collate`` and ``default_convert``, as in ``torch.utils.data``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradkit.backends import backend_of_array, get_backend
from gradkit.errors import ArgumentTypeError, DeviceError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

_NUMBERS = (int, float, np.number, np.bool_)  # bool is an int


def _kind(sample: Any) -> str:
    if isinstance(sample, Tensor):
        return "tensor"
    if isinstance(sample, np.ndarray) or hasattr(sample, "__cuda_array_interface__"):
        return "array"
    if isinstance(sample, _NUMBERS):
        return "number"
    if isinstance(sample, (str, bytes)):
        return "str"
    if isinstance(sample, Mapping):
        return "dict"
    if isinstance(sample, Sequence):
        return "sequence"
    return type(sample).__name__


_KINDS = {
    "tensor": "tensors",
    "array": "arrays",
    "number": "numbers",
    "str": "strings",
    "dict": "dicts",
    "sequence": "tuples/lists",
}


def default_collate(batch: Sequence[Any], device: Any = None) -> Any:
    """A list of samples as one batch, as PyTorch's ``default_collate``.

    Tensors and NumPy/CuPy arrays are stacked along a new first axis (their
    dtype kept); Python numbers become a tensor as ``gk.tensor`` makes one
    (floats ``float32``, ints ``int64``, bools ``bool``), NumPy scalars keep
    their dtype; strings stay a list. Tuples, namedtuples, lists and dicts are
    collated field by field into the same structure. ``device``: where the
    tensors go (None: tensors stay where the samples are, arrays and numbers go
    to the default device). Batches never require grad.
    """
    if isinstance(batch, (str, bytes, Mapping)) or not isinstance(batch, Sequence):
        raise ArgumentTypeError(f"default_collate: batch must be a list of samples, got {type(batch).__name__}")
    target = None if device is None else get_backend(device, "default_collate").device
    return collate(batch, target, "default_collate")


def default_convert(data: Any, device: Any = None) -> Any:
    """One sample without batching, as PyTorch's ``default_convert`` (what ``DataLoader(batch_size=None)``
    yields): NumPy/CuPy arrays and NumPy scalars become tensors (their dtype kept, no axis added), through
    tuples, namedtuples, lists and dicts; tensors stay (detached: batches never require grad); Python numbers,
    strings, string and object arrays, and anything else stay as they are (PyTorch makes tuples lists; here
    they stay tuples, as ``default_collate`` keeps them). ``device``: where the tensors go (None: tensors stay
    where they are, arrays go to the default device)."""
    target = None if device is None else get_backend(device, "default_convert").device
    return convert(data, target, "default_convert")


def convert(item: Any, device: Any, op: str) -> Any:
    """``default_convert`` with errors naming ``op``; ``device`` is None or a checked device."""
    if isinstance(item, Tensor):
        item = item.detach() if item.requires_grad else item
        return item if device is None or item.device == device else item.to(device)
    if isinstance(item, np.ndarray) and item.dtype.kind in "OSUV":
        return item
    if isinstance(item, (np.ndarray, np.number, np.bool_)) or hasattr(item, "__cuda_array_interface__"):
        from gradkit.creation import tensor

        try:
            return tensor(item, device=device)
        except GradkitError as exc:
            raise type(exc)(f"{op}: an item of the dataset cannot become a tensor ({exc})") from None
    if isinstance(item, tuple) and hasattr(item, "_fields"):  # a namedtuple
        return type(item)(*(convert(v, device, op) for v in item))
    if type(item) in (tuple, list):
        return type(item)(convert(v, device, op) for v in item)
    if type(item) is dict:
        return {k: convert(v, device, op) for k, v in item.items()}
    return item


def _same_shapes(samples: Sequence[Any], kind: str, op: str) -> None:
    shapes = {s.shape for s in samples}
    if len(shapes) > 1:
        raise ShapeError(
            f"{op}: the {kind} samples of a batch have different shapes {sorted(shapes)}; "
            "every sample must have the same shape"
        )


def collate(samples: Sequence[Any], device: Any, op: str) -> Any:
    """``default_collate`` with errors naming ``op``; ``device`` is None or a checked device."""
    if not samples:
        raise InvalidArgumentError(f"{op}: cannot collate an empty batch")
    first = samples[0]
    kind = _kind(first)
    same = type(first)
    kinds = {kind} if all(type(s) is same for s in samples) else {_kind(s) for s in samples}
    if len(kinds) > 1:
        others = ", ".join(sorted(_KINDS.get(k, k) for k in kinds - {kind}))
        raise ArgumentTypeError(
            f"{op}: the samples of a batch mix {_KINDS.get(kind, kind)} with {others}; "
            "every sample must have the same structure"
        )
    if kind == "tensor":
        _same_shapes(samples, "tensor", op)
        devices = {s.device for s in samples}
        if len(devices) > 1:
            raise DeviceError(
                f"{op}: the tensor samples of a batch are on different devices {sorted(map(str, devices))}"
            )
        backend = first._backend
        t = Tensor._make(backend.xp.stack([s._data for s in samples]), backend)
        return t if device is None or t.device == device else t.to(device)
    if kind in ("array", "number"):
        from gradkit.creation import tensor

        try:
            if kind == "array":
                _same_shapes(samples, "array", op)
                xp = np if isinstance(first, np.ndarray) else backend_of_array(first).xp
                return tensor(xp.stack(samples), device=device)
            return tensor(list(samples), device=device)
        except ShapeError:
            raise
        except GradkitError as exc:
            raise type(exc)(f"{op}: a batch of samples cannot become a tensor ({exc})") from None
    if kind == "str":
        return list(samples)
    if kind == "dict":
        keys = set(first)
        for s in samples:
            if set(s) != keys:
                raise InvalidArgumentError(
                    f"{op}: the dict samples of a batch have different keys {sorted(map(str, keys))} and "
                    f"{sorted(map(str, s))}"
                )
        return {key: collate([s[key] for s in samples], device, op) for key in first}
    if kind == "sequence":
        lengths = {len(s) for s in samples}
        if len(lengths) > 1:
            raise ShapeError(f"{op}: the samples of a batch are sequences of different lengths {sorted(lengths)}")
        fields = [collate([s[k] for s in samples], device, op) for k in range(len(first))]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    raise ArgumentTypeError(
        f"{op}: cannot batch samples of type {type(first).__name__}; the default collation takes tensors, "
        "NumPy/CuPy arrays, numbers, strings, and tuples, lists and dicts of them (pass collate_fn= for others)"
    )
