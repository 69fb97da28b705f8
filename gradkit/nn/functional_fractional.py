"""Fractional max pooling (Graham, 2014), PyTorch's ``F.fractional_max_pool2d/3d`` and their ``_with_indices`` forms.

Each (N, C) plane pools ``kernel_size`` windows whose starts along an axis of length n, for an output of length o,
are PyTorch's pseudo-random sequence from one sample u of that plane and axis: ``int((i + u) * alpha) -
int(u * alpha)`` for i < o - 1 with ``alpha = (n - k) / (o - 1)``, the last window at n - k, computed in the
input's dtype as PyTorch's CPU kernel does (so float16 input takes float16 steps). ``_random_samples`` (N, C, 2)
or (N, C, 3), the input's dtype, holds the samples; row 0 is the W axis' and row 1 the H axis' in 2-D, rows 0, 1,
2 the T, H, W axes' in 3-D (PyTorch's layout, so the same samples give the same windows). Without it they are
drawn from ``gk.rand`` on the input's device.

The maximum of a window is PyTorch's scan: its first maximum in row-major order, its last NaN when it holds one, a
window of -inf at its first element. Indices are flat within each input plane (``h * W + w``,
``(t * H + h) * W + w``), int64. The whole pass is one recorded node on device arrays (no host reads): every
window's elements gathered, the maximum and its position found, and the VJP scatter-adds onto that element
(windows overlap when the step is below the kernel size: their gradients sum), with adaptive max pooling's
gather/scatter pair, so gradients of any order work. The samples get no gradient (PyTorch refuses samples that
require one; so does gradkit while gradients are recorded).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit._args import flag, real
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import anchor_of, record
from gradkit.autograd.grad_mode import is_grad_enabled
from gradkit.creation import rand
from gradkit.errors import ArgumentTypeError, AutogradError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops.conv import _batched, _ints, _make, _routed_scatter, _Routing, _unbatched
from gradkit.tensor import Tensor

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]

_AXIS_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}
# which row of a plane's samples each spatial axis takes (PyTorch's kernels: 2-D reads W's first)
_SAMPLE_ROW = {2: (1, 0), 3: (0, 1, 2)}


def _output_size(x: Tensor, output_size: Any, output_ratio: Any, dims: int, op: str) -> tuple[int, ...]:
    """``output_size`` (an int or a tuple of ``dims`` ints, >= 0), else ``int(size * ratio)`` per spatial axis."""
    if output_size is None and output_ratio is None:
        raise InvalidArgumentError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        return _ints(output_size, dims, op, "output_size", 0)
    ratios = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * dims
    if len(ratios) == 1:
        ratios = tuple(ratios) * dims
    if len(ratios) != dims:
        raise InvalidArgumentError(
            f"{op} requires output_ratio to either be a single number or a tuple of {dims} numbers, "
            f"got {output_ratio!r:.60}"
        )
    out = []
    for n, r in zip(x.shape[2:], ratios, strict=True):
        size = int(n * real(r, op, "output_ratio"))
        if size < 0:
            raise InvalidArgumentError(f"{op}: output_ratio must not be negative, got {output_ratio!r:.60}")
        out.append(size)
    return tuple(out)


def _samples(samples: Any, x: Tensor, dims: int, op: str) -> Any:
    """The (N, C, dims) sample array on x's device: ``_random_samples`` checked as PyTorch checks it (its first
    N rows used), or fresh ``gk.rand`` samples."""
    n, c = x.shape[:2]
    if samples is None:
        return rand(n, c, dims, dtype=x.dtype, device=x.device)._data
    if not isinstance(samples, Tensor):
        raise ArgumentTypeError(f"{op}: _random_samples must be a Tensor or None, got {type(samples).__name__}")
    if samples.dtype != x.dtype:
        raise DTypeError(f"{op}: expected _random_samples to have the input's dtype {x.dtype}, got {samples.dtype}")
    if samples.ndim != 3:
        raise ShapeError(f"{op}: expected _random_samples to have 3 axes, got shape {samples.shape}")
    if samples.shape[0] < n:
        raise ShapeError(f"{op}: _random_samples has {samples.shape[0]} rows (axis 0), fewer than the input's "
                         f"batch of {n}")
    if samples.shape[1] != c:
        raise ShapeError(f"{op}: _random_samples has {samples.shape[1]} channels (axis 1), the input {c}")
    if samples.shape[2] != dims:
        raise ShapeError(f"{op}: expected _random_samples.shape[2] to be {dims}, got shape {samples.shape}")
    if samples._backend is not x._backend:
        raise DeviceError(f"{op}: _random_samples is on {samples.device}, the input on {x.device}")
    if samples.requires_grad and is_grad_enabled():
        raise AutogradError(f"{op} is not differentiable with respect to _random_samples; pass samples that do "
                            f"not require grad (detach() them)")
    return samples._data[:n]


def _starts(u: Any, size: int, out: int, kernel: int, xp: Any) -> Any:
    """PyTorch's window starts along one axis: (N, C, out) int64 from each plane's sample ``u`` (N, C), in
    u's dtype. Clipped into the input (only samples outside [0, 1) can step outside it)."""
    last = size - kernel
    shape = (*u.shape, out)
    if out == 0:
        return xp.zeros(shape, dtype=np.int64)
    if out == 1:
        return xp.full(shape, last, dtype=np.int64)
    dtype = u.dtype.type
    alpha = dtype(size - kernel) / dtype(out - 1)  # rounded to the dtype, as PyTorch's scalar_t
    i = xp.arange(out - 1).astype(u.dtype)
    u = u[..., None]
    steps = ((i + u) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)  # truncation, as static_cast<int>
    starts = xp.concatenate([steps, xp.full((*u.shape[:-1], 1), last, dtype=np.int64)], axis=-1)
    return xp.clip(starts, 0, last)


def _window_indices(starts: list, size: tuple, kernel: tuple, xp: Any) -> Any:
    """Flat indices into each input plane of every window element: (N, C, K, *out), K the kernel's offsets in
    row-major order (PyTorch's scan order)."""
    dims = len(size)
    plane = np.cumprod((1, *size[::-1]))[-2::-1]  # (W, 1) for (H, W)
    flat = None
    for a, (st, k, m) in enumerate(zip(starts, kernel, plane, strict=True)):
        n, c, o = st.shape
        at = [1] * dims
        at[a] = o
        offset = [1] * dims
        offset[a] = k
        term = (st.reshape(n, c, *(1,) * dims, *at) + xp.arange(k, dtype=np.int64).reshape(*offset, *(1,) * dims))
        term = term * int(m)
        flat = term if flat is None else flat + term
    n, c = starts[0].shape[:2]
    out = tuple(st.shape[2] for st in starts)
    return flat.reshape(n, c, math.prod(kernel), *out)


def _fractional_max_poolnd(input: Any, kernel_size: Any, output_size: Any, output_ratio: Any,  # noqa: A002
                           return_indices: Any, samples: Any, dims: int, op: str) -> Any:
    x, unbatched = _batched(input, dims, op)
    if _autocast.active:  # gk.autocast: on PyTorch's CPU float32 list, float16 samples cast with the input
        x, samples = _autocast.to_float32(f"fractional_max_pool{dims}d", x, samples)
    indices = flag(return_indices, op, "return_indices")
    if 0 in x.shape[1:]:
        raise ShapeError(f"{op}: expected an input with no empty axis but the batch axis, got input of shape "
                         f"{x.shape}")
    kernel = _ints(kernel_size, dims, op, "kernel_size", 1)
    out = _output_size(x, output_size, output_ratio, dims, op)
    size = tuple(x.shape[2:])
    for name, n, k, o in zip(_AXIS_NAMES[dims], size, kernel, out, strict=True):
        # PyTorch's bounds: o + k - 1 <= n in 2-D, and < n in 3-D
        if (o + k - 1 > n) if dims == 2 else (o + k - 1 >= n):
            raise ShapeError(f"{op}: pool {name} {k} too large relative to input {name} {n} for an output {name} "
                             f"of {o} (needs output + kernel - 1 {'<=' if dims == 2 else '<'} input)")
    u = _samples(samples, x, dims, op)
    backend = x._backend
    xp = backend.xp
    rows = _SAMPLE_ROW[dims]
    starts = [_starts(u[:, :, rows[a]], size[a], out[a], kernel[a], xp) for a in range(dims)]
    n, c = x.shape[:2]
    whole = math.prod(size)
    base = xp.arange(n * c, dtype=np.int64).reshape(n, c, *(1,) * (dims + 1)) * whole
    where = _window_indices(starts, size, kernel, xp) + base  # (N, C, K, *out) into the flattened input
    vals = xp.take(x._data.reshape(-1), where)
    best = vals.max(axis=2)  # NaN where a window holds one
    k = vals.shape[2]
    order = xp.arange(k).reshape(k, *(1,) * dims)
    # PyTorch's scan (a larger value or a NaN takes the place): the first maximum, or the last NaN
    first = xp.where(vals == xp.expand_dims(best, 2), order, k).min(axis=2)
    last_nan = xp.where(xp.isnan(vals), order, -1).max(axis=2)
    which = xp.where(last_nan >= 0, last_nan, first)
    flat = xp.take_along_axis(where, xp.expand_dims(which, 2), axis=2)[:, :, 0]
    del vals
    route = _Routing(flat, tuple(x.shape))
    y = _unbatched(record(op, best, backend, (x,), (_routed_scatter,), (route, anchor_of(x))), unbatched)
    if not indices:
        return y
    return y, _unbatched(_make(flat - base[:, :, 0], backend), unbatched)


def fractional_max_pool2d(input: Any, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,  # noqa: A002
                          return_indices: bool = False, _random_samples: Any = None) -> Any:
    """Fractional max pooling of (N, C, H, W) or (C, H, W) input, PyTorch's: ``kernel_size`` windows at
    pseudo-random steps chosen so that the output has ``output_size`` (an int or a pair), or
    ``int(size * output_ratio)`` per axis (a number or a pair); ``output_size + kernel_size - 1 <= size``.
    ``_random_samples`` (N, C, 2), the input's dtype, fixes the windows (see the module's docstring); with
    ``return_indices`` also each maximum's flat index ``h * W + w`` (int64), as ``max_unpool2d`` takes."""
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, return_indices, _random_samples,
                                  2, "fractional_max_pool2d")


def fractional_max_pool3d(input: Any, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,  # noqa: A002
                          return_indices: bool = False, _random_samples: Any = None) -> Any:
    """Fractional max pooling of (N, C, T, H, W) or (C, T, H, W) input (see ``fractional_max_pool2d``);
    ``output_size + kernel_size - 1 < size`` on each axis (PyTorch's 3-D bound), ``_random_samples``
    (N, C, 3); indices flat ``(t * H + h) * W + w``."""
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, return_indices, _random_samples,
                                  3, "fractional_max_pool3d")


def fractional_max_pool2d_with_indices(input: Any, kernel_size: Any, output_size: Any = None,  # noqa: A002
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Any = None) -> tuple[Tensor, Tensor]:
    """PyTorch's name: ``fractional_max_pool2d(..., return_indices=True)``, the (output, indices) pair whatever
    ``return_indices`` says."""
    flag(return_indices, "fractional_max_pool2d_with_indices", "return_indices")
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, True, _random_samples, 2,
                                  "fractional_max_pool2d_with_indices")


def fractional_max_pool3d_with_indices(input: Any, kernel_size: Any, output_size: Any = None,  # noqa: A002
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Any = None) -> tuple[Tensor, Tensor]:
    """PyTorch's name: ``fractional_max_pool3d(..., return_indices=True)``, the (output, indices) pair whatever
    ``return_indices`` says."""
    flag(return_indices, "fractional_max_pool3d_with_indices", "return_indices")
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, True, _random_samples, 3,
                                  "fractional_max_pool3d_with_indices")
