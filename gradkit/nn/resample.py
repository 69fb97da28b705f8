"""Resampling, as PyTorch's: ``interpolate`` and the ``Upsample`` layers, ``pixel_shuffle``/``pixel_unshuffle``,
``channel_shuffle`` and ``max_unpool1d/2d``, with their modules.

``interpolate`` resamples one spatial axis at a time. Along an axis, each mode is a sparse matrix with a few
entries per output element (1 for the nearest modes, 2 for linear, 4 for bicubic), whose indices and weights
are computed on the host from the shapes alone, with the coordinate rules of PyTorch's CPU kernels in their
precision (float32 for float32 and float16 input, float64 for float64; see ``_axis_plan`` for the nearest
modes), and copied to the device once per call. The forward is a weighted sum of ``take``s along the axis.
Its VJP is the same kind of weighted gather with the transposed matrix (also built on the host, so an input
element that feeds several outputs sums their gradients without a scatter), and the VJP of that is the
forward again: gradients of every order, no host reads, one code path for NumPy and CuPy. (PyTorch's nearest
backward computes its indices in float32 whatever its forward did, so where a coordinate falls on an integer
its gradient is not that of its forward; gradkit's is.) "area" is adaptive average pooling, as in PyTorch.
The shuffles are reshapes and transposes; max unpooling writes into zeros, and its VJP gathers.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import flag, real, text, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.autograd.grad_mode import is_grad_enabled
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    GradkitError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.nn.module import Module
from gradkit.ops._util import as_tensor
from gradkit.ops.conv import _batched, _ints, _unbatched, adaptive_avg_pool1d, adaptive_avg_pool2d
from gradkit.ops.shape import permute, reshape, swapaxes
from gradkit.tensor import Tensor

__all__ = [
    "ChannelShuffle",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "UnsupportedInterpolationError",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "channel_shuffle",
    "interpolate",
    "max_unpool1d",
    "max_unpool2d",
    "pixel_shuffle",
    "pixel_unshuffle",
]


class UnsupportedInterpolationError(GradkitError, NotImplementedError):
    """An ``interpolate`` option PyTorch has and gradkit does not (``antialias=True``, 5-D input, "trilinear")."""


_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area")
_INTERPOLATING = {"linear": 1, "bilinear": 2, "bicubic": 2}  # the modes that take align_corners: their spatial dims
_UNSUPPORTED = ("trilinear", "lanczos")
_SHAPES = {1: "(N, C, L)", 2: "(N, C, H, W)"}


# ------------------------------------------------------------------ interpolate: one axis as a sparse matrix
class _Gather(NamedTuple):
    """One axis's resampling: ``out[o] = sum_k w[k, o] * src[idx[k, o]]`` along ``axis``. With ``padded``, ``src``
    is the input with a zero appended along the axis, which an index equal to the input's length selects."""

    name: str
    axis: int
    idx: Any  # (K, n_out) int64, on the device
    w: Any  # (K, n_out) in the data's dtype (float32 for float16), on the device; None when every weight is 1
    padded: bool


def _gather_sum(x: Tensor, plan: _Gather, back: _Gather) -> Tensor:
    """The recorded node of one axis's resampling; ``back`` is its transpose (the VJP)."""
    xp = x._backend.xp
    src, ax = x._data, plan.axis
    if plan.padded:
        shape = list(src.shape)
        shape[ax] += 1
        ext = xp.zeros(shape, dtype=src.dtype)
        ext[(slice(None),) * ax + (slice(0, src.shape[ax]),)] = src
        src = ext
    along = (-1,) + (1,) * (src.ndim - ax - 1)  # a weight row broadcast along the axis
    out = None
    for k in range(plan.idx.shape[0]):
        part = xp.take(src, plan.idx[k], axis=ax)
        if plan.w is not None:
            w = plan.w[k].reshape(along)
            if w.dtype == part.dtype:
                part *= w
            else:  # float16 data, float32 weights
                part = part * w
        if out is None:
            out = part
        else:
            out += part
    if out.dtype != src.dtype:
        out = out.astype(src.dtype)
    return record(plan.name, out, x._backend, (x,), (_gather_vjp,), (back, plan))


def _gather_vjp(g: Tensor, back: _Gather, plan: _Gather) -> Tensor:
    return _gather_sum(g, back, plan)


def _step(n_in: int, n_out: int, align: bool, factor: float | None, ot: type) -> Any:
    """PyTorch's source step per output element, in ``ot``: (in - 1) / (out - 1) with align_corners, else 1 /
    scale_factor when one is used, else in / out."""
    if align:
        return ot(n_in - 1) / ot(n_out - 1) if n_out > 1 else ot(0)
    if factor is not None:
        return ot(1.0 / factor)
    return ot(n_in) / ot(n_out)


def _cubic(x: Any, near: bool) -> Any:
    """Keys' cubic convolution kernel with A = -0.75 (PyTorch's), at distances ``x`` in [0, 1] (``near``) or
    [1, 2], in ``x``'s dtype."""
    a = x.dtype.type(-0.75)
    if near:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _axis_plan(mode: str, n_in: int, n_out: int, align: bool, factor: float | None, dtype: np.dtype,
               legacy: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The sparse matrix of one axis as (K, n_out) source indices and weights (None: all 1), on the host.

    ``legacy``: the nearest modes' indices as PyTorch's CPU kernel for small 2-D outputs (H + W <= 128) computes
    them, in float32 and with "nearest" copying equal sizes and halving doubled ones; otherwise as its general
    kernel, in the opmath type. The two differ only where a coordinate falls on an integer (or a scale factor
    gives one of those sizes), but they do differ there.
    """
    o = np.arange(n_out, dtype=np.int64)
    ot = np.float64 if dtype == np.float64 else np.float32  # PyTorch's opmath type
    if mode in ("nearest", "nearest-exact"):
        exact = mode == "nearest-exact"
        if legacy and not exact and n_out in (n_in, 2 * n_in):
            return (o if n_out == n_in else o >> 1)[None], None
        if legacy:
            step = _step(n_in, n_out, False, factor, np.float32)
            src = ((o + 0.5) * np.float64(step)).astype(np.float32) if exact else o.astype(np.float32) * step
        else:
            step = _step(n_in, n_out, False, factor, ot)
            of = o.astype(ot)
            if exact:
                src = (np.maximum(step * (of + ot(0.5)) - ot(0.5), ot(0)) + 0.5).astype(np.float32)
            else:
                src = (step * of).astype(np.float32)
        return np.minimum(np.floor(src).astype(np.int64), n_in - 1)[None], None
    wt = np.float32 if dtype == np.float16 else dtype  # float16 is weighted and summed in float32, as PyTorch's
    step = _step(n_in, n_out, align, factor, ot)
    of = o.astype(ot)
    if mode == "bicubic":
        src = step * of if align else step * (of + ot(0.5)) - ot(0.5)
        i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)
        t = np.clip(src - i0.astype(ot), ot(0), ot(1))
        one = ot(1)
        w = np.stack([_cubic(t + one, False), _cubic(t, True), _cubic(one - t, True), _cubic(one - t + one, False)])
        idx = np.clip(i0[None] + np.arange(-1, 3)[:, None], 0, n_in - 1)
        return idx, w.astype(wt)
    if n_out == n_in:  # PyTorch's linear kernels take the source element twice, with weights 1 and 0
        return np.stack([o, o]), np.stack([np.ones(n_out, dtype=wt), np.zeros(n_out, dtype=wt)])
    src = step * of if align else np.maximum(step * (of + ot(0.5)) - ot(0.5), ot(0))
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(ot), ot(0), ot(1))
    return np.stack([i0, i0 + (i0 < n_in - 1)]), np.stack([ot(1) - lam, lam]).astype(wt)


def _transposed(idx: np.ndarray, w: np.ndarray | None, n_in: int) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The transpose of a plan: per input element, the outputs it feeds (in output order) and their weights,
    padded to the largest count with index n_out (the appended zero) and weight 0; and whether any is padded."""
    k, n_out = idx.shape
    rows = idx.T.ravel()  # output-major, as PyTorch's backward accumulates
    cols = np.repeat(np.arange(n_out, dtype=np.int64), k)
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=n_in)
    most = int(counts.max())
    slot = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]
    tidx = np.full((most, n_in), n_out, dtype=np.int64)
    tidx[slot, rows] = cols
    tw = None
    if w is not None:
        tw = np.zeros((most, n_in), dtype=w.dtype)
        tw[slot, rows] = w.T.ravel()[order]
    return tidx, tw, bool((counts < most).any())


def _upload(backend: Any, arrays: list) -> list:
    """The host arrays (or None) on the backend's device: one copy per dtype, split into views."""
    out: list = [None] * len(arrays)
    groups: dict = {}
    for i, a in enumerate(arrays):
        if a is not None:
            groups.setdefault(a.dtype, []).append(i)
    for where in groups.values():
        flat = backend.asarray(np.concatenate([arrays[i].ravel() for i in where]))
        start = 0
        for i in where:
            out[i] = flat[start : start + arrays[i].size].reshape(arrays[i].shape)
            start += arrays[i].size
    return out


# ------------------------------------------------------------------ interpolate: arguments
def _per_axis(value: Any, dims: int, op: str, name: str) -> tuple:
    """A number or a tuple/list of one per spatial axis, as a tuple of ``dims`` values."""
    if isinstance(value, (tuple, list)):
        if len(value) != dims:
            raise InvalidArgumentError(
                f"{op}: {name} must be a number or a tuple of {dims} (one per spatial axis of {_SHAPES[dims]} input), "
                f"got {value!r:.60}"
            )
        return tuple(value)
    return (value,) * dims


def _check_mode(mode: Any, align_corners: Any, op: str) -> bool:
    """The mode checked, and align_corners as a bool (False for the modes that do not take it)."""
    text(mode, op, "mode")
    if mode in _UNSUPPORTED:
        raise UnsupportedInterpolationError(
            f"{op}: mode {mode!r} is not implemented in gradkit; it has {', '.join(map(repr, _MODES))}"
        )
    if mode not in _MODES:
        raise InvalidArgumentError(f"{op}: unknown mode {mode!r}; expected one of {', '.join(map(repr, _MODES))}")
    if mode in _INTERPOLATING:
        return False if align_corners is None else flag(align_corners, op, "align_corners")
    if align_corners is not None:
        raise InvalidArgumentError(
            f"{op}: align_corners can only be set with the interpolating modes 'linear', 'bilinear' and 'bicubic', "
            f"got align_corners={align_corners!r} with mode={mode!r}; leave it None"
        )
    return False


def _check_sizes(size: Any, scale_factor: Any, recompute: Any, op: str) -> bool | None:
    """Exactly one of size and scale_factor; recompute_scale_factor as None or a bool."""
    if size is not None and scale_factor is not None:
        raise InvalidArgumentError(
            f"{op}: give only one of size and scale_factor, got size={size!r:.40} and scale_factor={scale_factor!r:.40}"
        )
    if size is None and scale_factor is None:
        raise InvalidArgumentError(f"{op}: give size or scale_factor (both are None)")
    recompute = None if recompute is None else flag(recompute, op, "recompute_scale_factor")
    if recompute and size is not None:
        raise InvalidArgumentError(
            f"{op}: recompute_scale_factor=True is meaningless with an explicit size ({size!r:.40}); it takes "
            "scale_factor"
        )
    return recompute


def _countable(x: Tensor, out: tuple, given: str, op: str) -> None:
    """An output whose element count an int64 holds (PyTorch's overflow check; beyond it NumPy fails unnamed)."""
    if math.prod(x.shape[:2]) * math.prod(out) >= 2**63 or max(out) >= 2**63:
        raise ShapeError(
            f"{op}: {given} gives an output size of {str(out):.60} for input of shape {x.shape}; its element count "
            "must fit in an int64"
        )


def _output(x: Tensor, size: Any, scale_factor: Any, recompute: bool | None, mode: str,
            op: str) -> tuple[tuple, tuple]:
    """PyTorch's output size per spatial axis, and the scale factor its kernels use (None: in / out)."""
    dims, sizes = x.ndim - 2, x.shape[2:]
    if size is not None:
        out = tuple(whole(s, op, "size", 1) for s in _per_axis(size, dims, op, "size"))
        _countable(x, out, f"size {size!r:.40}", op)
        return out, (None,) * dims
    factors = tuple(real(f, op, "scale_factor", 0.0, low_open=True) for f in _per_axis(scale_factor, dims, op,
                                                                                        "scale_factor"))
    if not all(math.isfinite(f) for f in factors):
        raise InvalidArgumentError(f"{op}: scale_factor must be finite, got {scale_factor!r:.60}")
    out = tuple(int(n * f) for n, f in zip(sizes, factors, strict=True))  # the floor of the product
    if min(out) < 1:
        raise ShapeError(
            f"{op}: scale_factor {scale_factor!r:.40} gives an output size of {out} for input of shape {x.shape}; "
            "each output size must be at least 1"
        )
    _countable(x, out, f"scale_factor {scale_factor!r:.40}", op)
    if recompute or mode == "area":  # PyTorch's kernels then step by in / out
        return out, (None,) * dims
    return out, factors


def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",  # noqa: A002
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """PyTorch's ``F.interpolate`` of (N, C, L) or (N, C, H, W) input, to ``size`` or by ``scale_factor`` (a
    number or one per spatial axis; the output size is the floor of size times factor).

    Modes: "nearest" (PyTorch's legacy index ``floor(o * scale)``), "nearest-exact" (``floor((o + 0.5) *
    scale)``), "linear" (3-D), "bilinear" and "bicubic" (4-D; cubic convolution with A = -0.75, the border
    replicated) with ``align_corners`` (False when None), and "area" (adaptive average pooling). With a
    scale factor the kernels step by 1 / scale_factor, unless ``recompute_scale_factor=True`` (then by
    in / out, as with ``size``). The nearest modes also take integer and bool tensors. ``antialias=True``
    raises UnsupportedInterpolationError.
    """
    op = "interpolate"
    x = as_tensor(input, op)
    align = _check_mode(mode, align_corners, op)
    recompute = _check_sizes(size, scale_factor, recompute_scale_factor, op)
    if flag(antialias, op, "antialias"):
        raise UnsupportedInterpolationError(f"{op}: antialias=True is not implemented in gradkit (mode {mode!r})")
    if x.ndim not in (3, 4):
        if x.ndim == 5:
            raise UnsupportedInterpolationError(
                f"{op}: 5-D input (volumes, mode 'trilinear') is not implemented in gradkit; got input of shape "
                f"{x.shape}, expected 3-D (N, C, L) or 4-D (N, C, H, W)"
            )
        raise ShapeError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got input of shape {x.shape}")
    dims = x.ndim - 2
    need = _INTERPOLATING.get(mode, dims)
    if need != dims:
        other = "linear" if dims == 1 else "bilinear"
        raise ShapeError(
            f"{op}: mode {mode!r} needs {need + 2}-D input {_SHAPES[need]}, got input of shape {x.shape}; use "
            f"mode {other!r} for {x.ndim}-D input"
        )
    if x.dtype.kind != "f" and not (mode.startswith("nearest") and x.dtype.kind in "biu"):
        raise DTypeError(f"{op}: mode {mode!r} needs a float tensor, got dtype {x.dtype}")
    if 0 in x.shape[2:]:
        raise ShapeError(f"{op}: input of shape {x.shape} has an empty spatial axis")
    out, factors = _output(x, size, scale_factor, recompute, mode, op)
    if mode == "area":  # adaptive_avg_pool: off PyTorch's autocast lists (float16 stays float16)
        return adaptive_avg_pool1d(x, out) if dims == 1 else adaptive_avg_pool2d(x, out)
    if _autocast.active:  # gk.autocast: the upsample ops are on PyTorch's CUDA float32 list
        (x,) = _autocast.to_float32(op, x)
    legacy = dims == 2 and sum(out) <= 128  # which of PyTorch's CPU kernels: see _axis_plan
    backward = x.requires_grad and is_grad_enabled()  # else no node: the transposes are not needed
    host, padded = [], []
    for d in range(dims):
        n_in = x.shape[2 + d]
        idx, w = _axis_plan(mode, n_in, out[d], align, factors[d], x.dtype, legacy)
        tidx, tw, pad = _transposed(idx, w, n_in) if backward else (None, None, False)
        host += [idx, w, tidx, tw]
        padded.append(pad)
    dev = _upload(x._backend, host)
    y = x
    for d in range(dims - 1, -1, -1):  # the last axis first, as PyTorch's kernels sum
        idx, w, tidx, tw = dev[4 * d : 4 * d + 4]
        plan = _Gather(op, 2 + d, idx, w, False)
        back = _Gather(f"{op}_backward", 2 + d, tidx, tw, padded[d])
        y = _gather_sum(y, plan, back)
    return y


# ------------------------------------------------------------------ Upsample layers
class Upsample(Module):
    """PyTorch's ``nn.Upsample``: :func:`interpolate` with the arguments given here (a scale factor is kept as a
    float, or a tuple of floats)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        layer = type(self).__name__
        _check_mode(mode, align_corners, layer)
        _check_sizes(size, scale_factor, recompute_scale_factor, layer)
        if size is not None:
            for s in size if isinstance(size, (tuple, list)) else (size,):
                whole(s, layer, "size", 1)
        if isinstance(scale_factor, (tuple, list)):
            scale_factor = tuple(real(f, layer, "scale_factor", 0.0, low_open=True) for f in scale_factor)
        elif scale_factor is not None:
            scale_factor = real(scale_factor, layer, "scale_factor", 0.0, low_open=True)
        self.name = layer
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """PyTorch's ``nn.UpsamplingNearest2d``: ``Upsample(size, scale_factor, mode="nearest")``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """PyTorch's ``nn.UpsamplingBilinear2d``: ``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------ pixel and channel shuffles
def _factor(value: Any, op: str, name: str) -> int:
    return whole(value, op, name, 1)


def _image(input: Any, op: str, layout: str) -> Tensor:  # noqa: A002
    x = as_tensor(input, op)
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected an input of at least 3 dimensions {layout}, got input of shape {x.shape}")
    return x


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pixel_shuffle``: (*, C * r**2, H, W) to (*, C, H * r, W * r), r = ``upscale_factor``;
    output channel c at (h * r + i, w * r + j) is input channel c * r**2 + i * r + j at (h, w)."""
    op = "pixel_shuffle"
    x = _image(input, op, "(*, C * r**2, H, W)")
    r = _factor(upscale_factor, op, "upscale_factor")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise ShapeError(
            f"{op}: the {c} channels of input of shape {x.shape} are not divisible by upscale_factor**2 = {r * r} "
            f"(upscale_factor={r})"
        )
    n = len(lead)
    y = reshape(x, (*lead, c // (r * r), r, r, h, w))
    y = permute(y, (*range(n), n, n + 3, n + 1, n + 4, n + 2))  # (*, C, H, r, W, r)
    return reshape(y, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pixel_unshuffle``, the inverse of :func:`pixel_shuffle`: (*, C, H * r, W * r) to
    (*, C * r**2, H, W), r = ``downscale_factor``."""
    op = "pixel_unshuffle"
    x = _image(input, op, "(*, C, H * r, W * r)")
    r = _factor(downscale_factor, op, "downscale_factor")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise ShapeError(
            f"{op}: the height {h} and width {w} of input of shape {x.shape} must both be divisible by "
            f"downscale_factor={r}"
        )
    n = len(lead)
    y = reshape(x, (*lead, c, h // r, r, w // r, r))
    y = permute(y, (*range(n), n, n + 2, n + 4, n + 1, n + 3))  # (*, C, r, r, H, W)
    return reshape(y, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input: Any, groups: int) -> Tensor:  # noqa: A002
    """PyTorch's ``F.channel_shuffle`` of (N, C, *) input (at least 3-D): the channels as ``groups`` rows of
    C / groups, transposed; output channel j * groups + g is input channel g * (C / groups) + j."""
    op = "channel_shuffle"
    x = _image(input, op, "(N, C, *)")
    g = _factor(groups, op, "groups")
    n, c, *rest = x.shape
    if c % g:
        raise ShapeError(f"{op}: the {c} channels of input of shape {x.shape} are not divisible by groups={g}")
    y = swapaxes(reshape(x, (n, g, c // g, *rest)), 1, 2)
    return reshape(y, x.shape)


class PixelShuffle(Module):
    """PyTorch's ``nn.PixelShuffle(upscale_factor)`` (:func:`pixel_shuffle`)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = _factor(upscale_factor, "PixelShuffle", "upscale_factor")

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """PyTorch's ``nn.PixelUnshuffle(downscale_factor)`` (:func:`pixel_unshuffle`)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = _factor(downscale_factor, "PixelUnshuffle", "downscale_factor")

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """PyTorch's ``nn.ChannelShuffle(groups)`` (:func:`channel_shuffle`)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = _factor(groups, "ChannelShuffle", "groups")

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


# ------------------------------------------------------------------ max unpooling
class _Unpool(NamedTuple):
    """Where each input element goes in the flattened output, which has one extra element at its end that
    takes every out-of-range index (dropped; only unchecked on a GPU)."""

    flat: Any  # int64, the input's shape, on the device
    total: int  # elements of the output
    in_shape: tuple
    out_shape: tuple


def _unpool_scatter(x: Tensor, u: _Unpool, op: str) -> Tensor:
    """The forward: each input value written at its index (indices that repeat, as overlapping max-pool windows
    give, hold the same value)."""
    xp = x._backend.xp
    out = xp.zeros(u.total + 1, dtype=x.dtype)
    out[u.flat.reshape(-1)] = x._data.reshape(-1)
    return record(op, out[: u.total].reshape(u.out_shape), x._backend, (x,), (_unpool_gather,), (u,))


def _unpool_gather(g: Tensor, u: _Unpool) -> Tensor:
    """Each input element's gradient: the output gradient at its index (PyTorch's VJP; repeats each get it all)."""
    xp = g._backend.xp
    ext = xp.zeros(u.total + 1, dtype=g.dtype)
    ext[: u.total] = g._data.reshape(-1)
    data = xp.take(ext, u.flat.reshape(-1)).reshape(u.in_shape)
    return record("max_unpool_backward", data, g._backend, (g,), (_unpool_add,), (u,))


def _unpool_add(h: Tensor, u: _Unpool) -> Tensor:
    """The VJP of :func:`_unpool_gather`: each value added at its index (repeats summed)."""
    xp = h._backend.xp
    out = xp.zeros(u.total + 1, dtype=h.dtype)
    h._backend.scatter_add(out, u.flat.reshape(-1), h._data.reshape(-1))
    return record("max_unpool_add", out[: u.total].reshape(u.out_shape), h._backend, (h,), (_unpool_gather,), (u,))


def _unpool_size(output_size: Any, default: tuple, stride: tuple, op: str) -> tuple:
    """PyTorch's rule: the default size, or ``output_size`` (its last entries when it also names N and C),
    each within ``stride`` of the default (exclusive)."""
    dims = len(default)
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, (tuple, list)):
            raise ArgumentTypeError(
                f"{op}: output_size must be a tuple of {dims} ints (or {dims + 2} with N and C), got "
                f"{type(output_size).__name__} {output_size!r:.40}"
            )
        sizes = tuple(output_size)
        if len(sizes) == dims + 2:
            sizes = sizes[2:]
        if len(sizes) != dims:
            raise InvalidArgumentError(
                f"{op}: output_size must have {dims} or {dims + 2} entries, got {len(sizes)}: {output_size!r:.60}"
            )
        sizes = tuple(whole(s, op, "output_size") for s in sizes)
        for s, d, st in zip(sizes, default, stride, strict=True):
            if not d - st < s < d + st:
                raise InvalidArgumentError(
                    f"{op}: output_size {sizes} must lie within stride {stride} of the default size {default} "
                    f"(exclusive: from {tuple(a - b + 1 for a, b in zip(default, stride, strict=True))} to "
                    f"{tuple(a + b - 1 for a, b in zip(default, stride, strict=True))})"
                )
    if min(sizes) < 1:
        raise ShapeError(f"{op}: the output size would be {sizes}; each must be at least 1")
    return tuple(sizes)


def _max_unpoolnd(input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,  # noqa: A002
                  output_size: Any, dims: int, op: str) -> Tensor:
    x, unbatched = _batched(input, dims, op)
    if _autocast.active:  # gk.autocast: on PyTorch's CPU float32 list (its max_unpool1d is max_unpool2d)
        (x,) = _autocast.to_float32("max_unpool3d" if dims == 3 else "max_unpool2d", x)
    backend = x._backend
    if isinstance(indices, Tensor):
        if indices._backend is not backend:
            raise DeviceError(f"{op}: indices on {indices.device} for input on {x.device}")
        idx = indices._data
    elif isinstance(indices, (np.ndarray, list, tuple)) or hasattr(indices, "__cuda_array_interface__"):
        idx = backend.asarray(np.asarray(indices) if isinstance(indices, (list, tuple)) else indices)
    else:
        raise ArgumentTypeError(f"{op}: indices must be an integer tensor, got {type(indices).__name__}")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be an integer tensor (int64, as max_pool returns), got dtype {idx.dtype}")
    shape = tuple(getattr(input, "shape", x.shape[1:] if unbatched else x.shape))
    if tuple(idx.shape) != shape:
        raise ShapeError(f"{op}: indices of shape {tuple(idx.shape)} must have the input's shape {shape}")
    kernel = _ints(kernel_size, dims, op, "kernel_size", 1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    stride = kernel if empty else _ints(stride, dims, op, "stride", 1)
    pad = _ints(padding, dims, op, "padding", 0)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, pad, kernel, strict=True))
    out = _unpool_size(output_size, default, stride, op)
    plane = math.prod(out)
    idx = idx.reshape(x.shape[0] * x.shape[1], math.prod(x.shape[2:])).astype(np.int64, copy=False)  # N * C may be 0
    if type(idx) is np.ndarray and idx.size:  # checked where no device is read (PyTorch checks on the GPU too)
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= plane:
            raise IndexOutOfRangeError(
                f"{op}: index {lo if lo < 0 else hi} in indices is out of range for an output plane of size {out} "
                f"(expected 0 to {plane - 1})"
            )
    xp = backend.xp
    total = x.shape[0] * x.shape[1] * plane
    rows = xp.arange(idx.shape[0], dtype=np.int64).reshape(-1, 1) * plane
    flat = xp.where((idx < 0) | (idx >= plane), total, idx + rows)
    u = _Unpool(flat.reshape(x.shape), total, x.shape, x.shape[:2] + out)
    return _unbatched(_unpool_scatter(x, u, op), unbatched)


def max_unpool1d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                 output_size: Any = None) -> Tensor:
    """PyTorch's ``F.max_unpool1d``: (N, C, L) or (C, L) input written at ``indices`` (as ``max_pool1d(...,
    return_indices=True)`` gives them) into zeros of length (L - 1) * stride - 2 * padding + kernel_size, or
    ``output_size`` (within stride of that); stride defaults to kernel_size."""
    return _max_unpoolnd(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                 output_size: Any = None) -> Tensor:
    """PyTorch's ``F.max_unpool2d``: (N, C, H, W) or (C, H, W) input written at ``indices`` (flat ``h * W_out +
    w`` per plane, as ``max_pool2d(..., return_indices=True)`` gives them) into zeros of PyTorch's size (see
    :func:`max_unpool1d`). The gradient of each input element is the output gradient at its index."""
    return _max_unpoolnd(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


class _MaxUnpoolNd(Module):
    _dims = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        layer, dims = type(self).__name__, self._dims
        self.kernel_size = _ints(kernel_size, dims, layer, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _ints(stride, dims, layer, "stride", 1)
        self.padding = _ints(padding, dims, layer, "padding", 0)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Tensor:  # noqa: A002
        unpool = max_unpool1d if self._dims == 1 else max_unpool2d
        return unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """PyTorch's ``nn.MaxUnpool1d(kernel_size, stride=None, padding=0)``; ``forward(input, indices,
    output_size=None)`` (:func:`max_unpool1d`)."""

    _dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """PyTorch's ``nn.MaxUnpool2d(kernel_size, stride=None, padding=0)``; ``forward(input, indices,
    output_size=None)`` (:func:`max_unpool2d`)."""

    _dims = 2
