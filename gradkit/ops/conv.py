"""Convolution, transposed convolution, unfold/fold and pooling over (N, C, *spatial) tensors, as PyTorch's
``F.conv1d/2d/3d``, ``conv_transpose1d/2d/3d``, ``conv_tbc``, ``unfold``, ``fold``, ``max_pool1d/2d/3d`` (and
``_with_indices``), ``avg_pool1d/2d/3d``, ``adaptive_avg_pool1d/2d/3d``, ``adaptive_max_pool1d/2d/3d`` and
``lp_pool1d/2d/3d``.

Each is one recorded node. A convolution gathers its input windows into columns (im2col); on NumPy the
columns are one copy from a strided view of the windows, on CuPy one strided slice copy per kernel offset. Its
forward pass lays them out (N, C, *kernel, *out), each image's (C * K, P) columns, and multiplies them by the
(O, C * K) weight in one batched matmul (its product is already (N, O, *out); a bias rides along as one more
weight column against a row of ones, groups 1). Its weight gradient is one matmul with the columns (computed again),
(C, *kernel, N, *out) by g's channels-first copy, or, when there are no more rows C * K than positions per
image, one product per image summed over the batch; its input gradient is one matmul followed by col2im, one
strided slice add per kernel offset, clipped to the input. A transposed convolution is that input gradient;
``unfold`` is im2col and ``fold`` col2im, in PyTorch's layout. Max pooling whose windows do not overlap
(stride == kernel, no dilation: the usual ``MaxPool2d(2)``) copies each kernel offset's elements into one
contiguous block and writes its gradient into each offset's slice once, with the general path's results.

The three maps of a convolution (the forward, its input gradient and its weight gradient) are each other's
VJPs, as are unfold and fold, max pooling's gather and scatter and average pooling's window sum and spread, so
every rule is itself a recorded op: ``create_graph=True`` and derivatives of any order work. Adaptive max
pooling's windows differ in size, so it finds each maximum's flat input index and its VJP scatter-adds there
(its VJP, in turn, gathers). LP pooling is a composition of average or max pooling with elementwise ops.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import anchor_of, record, tied_record
from gradkit.autograd.grad_mode import state as _mode
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor
from gradkit.ops.elementwise import abs as abs_
from gradkit.ops.elementwise import multiply, negative, power, where
from gradkit.ops.indexing import getitem
from gradkit.ops.reduce import sum as sum_
from gradkit.ops.shape import permute, reshape
from gradkit.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_tbc",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
    "unfold",
]

_make = Tensor._make


class _Window(NamedTuple):
    """Where a sliding window reads, per spatial axis: input size, kernel, stride, dilation, padding before
    (``lo``), the output size, and the padding after that the last window needs (``hi``, never negative)."""

    size: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    lo: tuple
    out: tuple
    hi: tuple


def _window(size: tuple, kernel: tuple, stride: tuple, dilation: tuple, lo: tuple, out: tuple) -> _Window:
    hi = tuple(
        max(0, (o - 1) * s + d * (k - 1) + 1 - n - p)
        for n, k, s, d, p, o in zip(size, kernel, stride, dilation, lo, out, strict=True)
    )
    return _Window(size, kernel, stride, dilation, lo, out, hi)


def _offsets(win: _Window) -> Any:
    """Per kernel offset, in the weight's row-major order: the slices of the padded input it reads."""
    for kidx in itertools.product(*(range(k) for k in win.kernel)):
        yield kidx, tuple(
            slice(j * d, j * d + s * (o - 1) + 1, s)
            for j, d, s, o in zip(kidx, win.dilation, win.stride, win.out, strict=True)
        )


def _padded_shape(shape: tuple, win: _Window) -> tuple:
    return shape[:2] + tuple(n + a + b for n, a, b in zip(win.size, win.lo, win.hi, strict=True))


def _inner(win: _Window) -> tuple:
    """The slices of a padded array that hold the input."""
    return (slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in zip(win.lo, win.size, strict=True))


def _padded(data: Any, win: _Window, fill: float, xp: Any) -> Any:
    """``data`` with ``fill`` around it as far as the windows reach (``data`` itself when they stay inside)."""
    if not any(win.lo) and not any(win.hi):
        return data
    shape = _padded_shape(data.shape, win)
    out = xp.zeros(shape, dtype=data.dtype) if fill == 0 else xp.full(shape, fill, dtype=data.dtype)
    out[_inner(win)] = data
    return out


def _cropped(padded: Any, win: _Window, xp: Any) -> Any:
    if not any(win.lo) and not any(win.hi):
        return padded
    return xp.ascontiguousarray(padded[_inner(win)])


# ------------------------------------------------------------------ convolution
def _window_view(xpad: Any, win: _Window, batch_first: bool = False) -> Any:
    """A read-only strided view of every window of the padded NumPy array ``xpad`` (N, C, ...), laid out as the
    columns are: (C, *kernel, N, *out), or (N, C, *kernel, *out) when ``batch_first``. No copy: each element
    is the input element it reads."""
    sn, sc, *axes = xpad.strides
    kernel = tuple(a * d for a, d in zip(axes, win.dilation, strict=True))
    out = tuple(a * s for a, s in zip(axes, win.stride, strict=True))
    n, c = xpad.shape[:2]
    if batch_first:
        shape, strides = (n, c, *win.kernel, *win.out), (sn, sc, *kernel, *out)
    else:
        shape, strides = (c, *win.kernel, n, *win.out), (sc, *kernel, sn, *out)
    return np.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)


def _im2col(xd: Any, win: _Window, xp: Any, out: Any = None, batch_first: bool = False) -> Any:
    """The input windows as columns, shape (C, *kernel, N, *out): row (c, k) holds channel c at offset k;
    with ``batch_first`` (N, C, *kernel, *out), image n's columns a (C * K, P) matrix of their own.
    Written into ``out`` (any array or view of that shape) when given."""
    xpad = _padded(xd, win, 0, xp)
    n, c = xd.shape[:2]
    shape = (n, c, *win.kernel, *win.out) if batch_first else (c, *win.kernel, n, *win.out)
    cols = xp.empty(shape, dtype=xd.dtype) if out is None else out
    if xp is np:
        # one copy from a strided view of the windows: about twice as fast as a slice copy per offset
        np.copyto(cols, _window_view(xpad, win, batch_first))
        return cols
    every = (slice(None), slice(None))
    if batch_first:  # each offset's slice is one copy (one kernel each on a GPU)
        for kidx, sl in _offsets(win):
            cols[every + kidx] = xpad[every + sl]
        return cols
    xpad = xpad.swapaxes(0, 1)  # (C, N, ...): as above
    for kidx, sl in _offsets(win):
        cols[(slice(None), *kidx)] = xpad[every + sl]
    return cols


def _clipped_offsets(win: _Window) -> Any:
    """Per kernel offset whose windows reach the input: the slices of the output positions that read an input
    element there (not padding), the slices of the input elements they read, and whether those are all of
    the input (stride 1 and no padding in the way)."""
    for kidx in itertools.product(*(range(k) for k in win.kernel)):
        src, dst = [], []
        for j, n, s, d, p, o in zip(kidx, win.size, win.stride, win.dilation, win.lo, win.out, strict=True):
            first = max(0, -((j * d - p) // s))  # the first output whose element j * d + o * s - p is >= 0
            last = min(o - 1, (n - 1 + p - j * d) // s)  # the last one whose element is < n
            if last < first:
                break
            src.append(slice(first, last + 1))
            start = first * s + j * d - p
            dst.append(slice(start, start + (last - first) * s + 1, s))
        else:
            whole = all(sl.step == 1 and sl.start == 0 and sl.stop == n
                        for sl, n in zip(dst, win.size, strict=True))
            yield kidx, tuple(src), tuple(dst), whole


def _col2im(gcols: Any, win: _Window, shape: tuple, xp: Any) -> Any:
    """The transpose of ``_im2col``: columns (C, *kernel, N, *out) summed back onto an input of ``shape``
    (N, C, *size), one strided slice add per kernel offset, clipped to the input (no padded buffer to crop),
    into a (C, N, *size) buffer that is zeroed, or set by an offset that covers all of it (the middle of an odd
    kernel at stride 1, padded to keep the size); then the batch axis moved first."""
    parts = list(_clipped_offsets(win))
    every = (slice(None), slice(None))
    cover = next((i for i, part in enumerate(parts) if part[3]), None)
    if cover is None:
        out = xp.zeros((shape[1], shape[0], *shape[2:]), dtype=gcols.dtype)  # (C, N, ...)
    else:
        kidx, src, _, _ = parts.pop(cover)
        out = xp.empty((shape[1], shape[0], *shape[2:]), dtype=gcols.dtype)
        # + 0 rather than a plain copy: a -0.0 lands as +0.0, as on the zeroed buffer (and PyTorch's fold)
        xp.add(gcols[(slice(None), *kidx, slice(None), *src)], 0, out=out)
    for kidx, src, dst, _ in parts:
        out[every + dst] += gcols[(slice(None), *kidx, slice(None), *src)]
    return xp.ascontiguousarray(out.swapaxes(0, 1))


def _matrices(a: Any, groups: int, rows: int, cols: int) -> Any:
    """``a`` as one (rows, cols) matrix per group: (rows, cols) for one group, else (groups, rows, cols)."""
    return a.reshape(rows, cols) if groups == 1 else a.reshape(groups, rows, cols)


def _sizes(wshape: tuple, win: _Window, n: int, groups: int) -> tuple[int, int, int]:
    """Output channels per group, rows of the columns per group (channels * kernel), and N * output size."""
    return wshape[0] // groups, wshape[1] * math.prod(win.kernel), n * math.prod(win.out)


def _channels_first(gd: Any, groups: int, og: int, p: int) -> Any:
    """An output-shaped (N, O, *out) array as (O, N * P) matrices, one per group: a copy (the swapped axes
    are not contiguous)."""
    return _matrices(gd.swapaxes(0, 1), groups, og, p)


def _conv_data(xd: Any, wd: Any, bd: Any, win: _Window, groups: int, backend: Any) -> Any:
    """The convolution of ``xd`` (N, C, *size) with ``wd``, plus ``bd`` when given: im2col with the batch axis
    first and one batched matmul, the weight (O, C * K) (one per group) times each image's (C * K, P)
    columns, whose product is already (N, O, *out); the bias goes in with the product. Per image rather than one
    (O, C * K) x (C * K, N * P) product: the same BLAS time or less, a cheaper im2col (each image's windows
    copied together) and no copy that moves the batch axis first."""
    xp = backend.xp
    n = xd.shape[0]
    og, k, _ = _sizes(wd.shape, win, n, groups)
    p = math.prod(win.out)
    if bd is not None and groups == 1:
        # the bias as one more column of the weight, against a row of ones below each image's columns: added
        # inside the product (after the weighted sum, as a separate add would) instead of in another pass
        # over the output
        cols = xp.empty((n, k + 1, p), dtype=xd.dtype)
        _im2col(xd, win, xp, out=cols[:, :k].reshape(n, xd.shape[1], *win.kernel, *win.out), batch_first=True)
        cols[:, k] = 1
        wk = xp.empty((og, k + 1), dtype=wd.dtype)
        wk[:, :k] = wd.reshape(og, k)
        wk[:, k] = bd
        return backend.matmul(wk, cols).reshape(n, og, *win.out)
    cols = _im2col(xd, win, xp, batch_first=True)
    cols = cols.reshape(n, k, p) if groups == 1 else cols.reshape(n, groups, k, p)
    y = backend.matmul(_matrices(wd, groups, og, k), cols).reshape(n, wd.shape[0], *win.out)
    if bd is not None:
        y += bd.reshape((-1,) + (1,) * len(win.out))
    return y


def _conv(x: Tensor, w: Tensor, b: Tensor | None, win: _Window, groups: int, name: str = "conv") -> Tensor:
    """The convolution node: ``x`` (N, C, *size) with ``w`` (O, C / groups, *kernel), plus ``b`` (O,)."""
    backend = w._backend
    y = _conv_data(x._data, w._data, None if b is None else b._data, win, groups, backend)
    return record(name, y, backend, (x, w, b), _CONV_RULES, (x, w, win, groups), info=win)


def _conv_dx(g: Tensor, x: Tensor, w: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv_input_grad(g, w, win, groups)


def _conv_dw(g: Tensor, x: Tensor, w: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv_weight_grad(x, g, win, groups, w.shape)


def _bias_grad(g: Tensor, *_: Any) -> Tensor:
    return sum_(g, (0, *range(2, g.ndim)))


_CONV_RULES = (_conv_dx, _conv_dw, _bias_grad)


def _conv_input_grad(g: Tensor, w: Tensor, win: _Window, groups: int, b: Tensor | None = None,
                     name: str = "conv_input_grad") -> Tensor:
    """The gradient of a convolution's input: the weight's transpose applied to ``g``, then col2im. Also the
    transposed convolution of ``g`` (then with its bias ``b``, added to every output element of a channel)."""
    backend = w._backend
    wd, gd = w._data, g._data
    og, k, p = _sizes(wd.shape, win, gd.shape[0], groups)
    shape = (gd.shape[0], wd.shape[1] * groups, *win.size)
    gcols = backend.matmul(_matrices(wd, groups, og, k).swapaxes(-1, -2), _channels_first(gd, groups, og, p))
    dx = _col2im(gcols.reshape(shape[1], *win.kernel, shape[0], *win.out), win, shape, backend.xp)
    if b is not None:
        dx += b._data.reshape((-1,) + (1,) * len(win.size))
    return record(name, dx, backend, (g, w, b), _INPUT_GRAD_RULES, (g, w, win, groups), info=win)


def _input_grad_dg(h: Tensor, g: Tensor, w: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv(h, w, None, win, groups)


def _input_grad_dw(h: Tensor, g: Tensor, w: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv_weight_grad(h, g, win, groups, w.shape)


_INPUT_GRAD_RULES = (_input_grad_dg, _input_grad_dw, _bias_grad)


def _conv_weight_grad(x: Tensor, g: Tensor, win: _Window, groups: int, shape: tuple) -> Tensor:
    """The gradient of a convolution's weight: ``g`` times the input's columns, one matmul (one per group).
    The columns are computed again rather than kept from the forward pass: kept, they would hold prod(kernel)
    times the input's memory from each convolution's forward pass to its backward pass."""
    backend = x._backend
    xp = backend.xp
    gd = g._data
    n = gd.shape[0]
    og, k, p = _sizes(shape, win, n, groups)
    per_image = math.prod(win.out)
    if k <= per_image:
        # few rows (a first layer's few channels, a 1x1 kernel): one product per image, (C * K, P) x (P, O),
        # summed over the batch. The (C * K, N * P) x (N * P, O) product below has a long, thin shape that
        # BLAS runs slowly and needs g copied channels first; with C * K <= P the (N, C * K, O) products
        # summed are no larger than g. About twice as fast on a first layer, 10-15% on 1x1 and 7x7 ones.
        cols = _im2col(x._data, win, xp, batch_first=True)
        cols = cols.reshape(n, k, per_image) if groups == 1 else cols.reshape(n, groups, k, per_image)
        gi = gd.reshape(n, og, per_image) if groups == 1 else gd.reshape(n, groups, og, per_image)
        # float16's products summed in float32: a float16 sum over the batch rounds at every image (a LeNet
        # first layer at batch 256: ~30x the error of the one long product below, which accumulates in float32)
        wide = np.float32 if gd.dtype.itemsize < 4 else None
        dw = backend.matmul(cols, gi.swapaxes(-1, -2)).sum(axis=0, dtype=wide).astype(gd.dtype, copy=False)
        dw = dw.swapaxes(-1, -2)
    else:
        cols = _matrices(_im2col(x._data, win, xp), groups, k, p)
        # (columns @ g.T).T: about twice as fast as g @ columns.T with OpenBLAS (N * P, the long axis, is summed)
        dw = backend.matmul(cols, _channels_first(gd, groups, og, p).swapaxes(-1, -2)).swapaxes(-1, -2)
    dw = xp.ascontiguousarray(dw).reshape(shape)
    return record("conv_weight_grad", dw, backend, (x, g), _WEIGHT_GRAD_RULES, (x, g, win, groups), info=win)


def _weight_grad_dx(h: Tensor, x: Tensor, g: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv_input_grad(g, h, win, groups)


def _weight_grad_dg(h: Tensor, x: Tensor, g: Tensor, win: _Window, groups: int) -> Tensor:
    return _conv(x, h, None, win, groups)


_WEIGHT_GRAD_RULES = (_weight_grad_dx, _weight_grad_dg)


# ------------------------------------------------------------------ argument checks
_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _ints(value: Any, n: int, op: str, name: str, low: int) -> tuple[int, ...]:
    """An int or a tuple/list of ``n`` ints (or of one, repeated, as PyTorch's functions take), each >= ``low``,
    as a tuple of ``n`` ints."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (whole(value[0], op, name, low),) * n
        if len(value) != n:
            raise InvalidArgumentError(
                f"{op}: {name} must be an int or a tuple of {n} int{'s' if n > 1 else ''}, got {value!r:.60}"
            )
        return tuple(whole(v, op, name, low) for v in value)
    return (whole(value, op, name, low),) * n


def _batched(input: Any, dims: int, op: str, backend: Any = None) -> tuple[Tensor, bool]:  # noqa: A002
    """The input as a float Tensor with a batch axis, and whether one was added (an unbatched input)."""
    x = as_tensor(input, op, backend)
    if x.ndim not in (dims + 1, dims + 2):
        raise ShapeError(
            f"{op}: expected a {dims + 1}-D (C, {_AXES[dims]}) or {dims + 2}-D (N, C, {_AXES[dims]}) input, "
            f"got input of shape {x.shape}"
        )
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}")
    if x.ndim == dims + 1:
        return reshape(x, (1, *x.shape)), True
    return x, False


def _unbatched(y: Tensor, unbatched: bool) -> Tensor:
    return reshape(y, y.shape[1:]) if unbatched else y


def _conv_padding(padding: Any, kernel: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """(before, after) padding per axis: ints, "valid" (none) or "same" (the output keeps the input's size;
    an odd total puts the extra element after, as PyTorch)."""
    dims = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * dims, (0,) * dims
        if padding != "same":
            raise InvalidArgumentError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise InvalidArgumentError(f"{op}: padding='same' is not supported for strided convolutions "
                                       f"(stride={stride})")
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
        lo = tuple(t // 2 for t in total)
        return lo, tuple(t - a for t, a in zip(total, lo, strict=True))
    pad = _ints(padding, dims, op, "padding", 0)
    return pad, pad


def _conv_operands(input: Any, weight: Any, bias: Any, dims: int, op: str, layout: str) -> tuple[Tensor, bool]:  # noqa: A002
    """The checks a convolution and a transposed one share: types, device, the weight's rank (``layout`` names
    its first two axes) and dtypes. Returns the input with a batch axis and whether one was added."""
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise ArgumentTypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__} {bias!r:.40}")
    backend = weight._backend
    x, unbatched = _batched(input, dims, op, backend if not isinstance(input, Tensor) else None)
    if x._backend is not backend or (bias is not None and bias._backend is not backend):
        raise DeviceError(
            f"{op}: input on {x.device}, weight on {weight.device}"
            + (f", bias on {bias.device}" if bias is not None else "") + "; move them to one device"
        )
    if weight.ndim != dims + 2:
        raise ShapeError(f"{op}: weight must be {dims + 2}-D ({layout}, {_AXES[dims]}), got weight of shape "
                         f"{weight.shape}")
    if weight.dtype.kind != "f":
        raise DTypeError(f"{op}: weight must be a float tensor, got dtype {weight.dtype}")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        fix = (f"the input: x.astype(gk.{weight.dtype})" if weight.dtype != x.dtype
               else f"the bias: bias.astype(gk.{x.dtype})")
        raise DTypeError(
            f"{op}: input ({x.dtype}), weight ({weight.dtype})"
            + (f" and bias ({bias.dtype})" if bias is not None else "")
            + f" must have the same dtype; convert {fix}"
        )
    if min(weight.shape[2:]) < 1:
        raise ShapeError(f"{op}: weight of shape {weight.shape} has an empty kernel")
    return x, unbatched


def _convnd(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,  # noqa: A002
            dims: int, op: str) -> Tensor:
    if _autocast.active:  # gk.autocast: the operands in its dtype (one module read when it is off)
        input, weight, bias = _autocast.cast(op, input, weight, bias)  # noqa: A001
    x, unbatched = _conv_operands(input, weight, bias, dims, op, "out_channels, in_channels / groups")
    groups = whole(groups, op, "groups", 1)
    stride = _ints(stride, dims, op, "stride", 1)
    dilation = _ints(dilation, dims, op, "dilation", 1)
    out_ch, per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    if out_ch % groups:
        raise ShapeError(f"{op}: weight of shape {weight.shape} has {out_ch} output channels, which groups={groups} "
                         "does not divide")
    if x.shape[1] != per_group * groups:
        raise ShapeError(
            f"{op}: weight of shape {weight.shape} with groups={groups} expects input with {per_group * groups} "
            f"channels, got input of shape {x.shape} ({x.shape[1]} channels)"
        )
    if bias is not None and bias.shape != (out_ch,):
        raise ShapeError(f"{op}: weight of shape {weight.shape} expects a bias of shape ({out_ch},), "
                         f"got bias of shape {bias.shape}")
    lo, hi = _conv_padding(padding, kernel, stride, dilation, op)
    size = x.shape[2:]
    padded = tuple(n + a + b for n, a, b in zip(size, lo, hi, strict=True))
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if any(p < e for p, e in zip(padded, extent, strict=True)):
        raise ShapeError(
            f"{op}: the padded input size {padded} is smaller than the (dilated) kernel size {extent}: "
            f"input of shape {x.shape}, weight of shape {weight.shape}, padding {padding!r}, dilation {dilation}"
        )
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded, extent, stride, strict=True))
    win = _window(size, kernel, stride, dilation, lo, out)
    return _unbatched(_conv(x, weight, bias, win, groups, op), unbatched)


def conv1d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution (PyTorch's cross-correlation) of (N, C, L) or (C, L) input with weight
    (out_channels, C / groups, k); ``padding`` an int, a 1-tuple, "valid" or "same"."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (PyTorch's cross-correlation) of (N, C, H, W) or (C, H, W) input with weight
    (out_channels, C / groups, kh, kw); ``stride``, ``padding`` and ``dilation`` ints or pairs, ``padding``
    also "valid" or "same"."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-D convolution (PyTorch's cross-correlation) of (N, C, D, H, W) or (C, D, H, W) input with weight
    (out_channels, C / groups, kd, kh, kw); ``stride``, ``padding`` and ``dilation`` ints or triples, ``padding``
    also "valid" or "same"."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def conv_tbc(input: Any, weight: Tensor, bias: Tensor | None, pad: int = 0) -> Tensor:  # noqa: A002
    """PyTorch's ``F.conv_tbc``: the 1-D convolution of time-first input (T, N, in_channels) with weight
    (k, in_channels, out_channels) and ``bias`` (out_channels,), ``pad`` zeros at both ends of the time axis;
    output (T + 2 * pad - k + 1, N, out_channels). ``conv1d`` on permuted views (differentiable as it is)."""
    op = "conv_tbc"
    x = as_tensor(input, op, weight._backend if isinstance(weight, Tensor) else None)
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__}")
    if x.ndim != 3:
        raise ShapeError(f"{op}: expected a 3-D (time, batch, in_channels) input, got input of shape {x.shape}")
    if weight.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (kernel width, in_channels, out_channels), got weight of shape "
                         f"{weight.shape}")
    if weight.shape[1] != x.shape[2]:
        raise ShapeError(f"{op}: weight of shape {weight.shape} expects input with {weight.shape[1]} channels, got "
                         f"input of shape {x.shape} ({x.shape[2]} channels)")
    pad = whole(pad, op, "pad", 0)
    y = _convnd(permute(x, (1, 2, 0)), permute(weight, (2, 1, 0)), bias, 1, pad, 1, 1, 1, op)
    return permute(y, (2, 0, 1))


# ------------------------------------------------------------------ transposed convolution
def _transposed_size(size: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                     output_padding: tuple) -> tuple:
    """PyTorch's output size of a transposed convolution: (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1."""
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + a + 1
                 for n, k, s, p, d, a in zip(size, kernel, stride, padding, dilation, output_padding, strict=True))


def _conv_transposend(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, output_padding: Any,  # noqa: A002
                      groups: Any, dilation: Any, dims: int, op: str) -> Tensor:
    if _autocast.active:
        input, weight, bias = _autocast.cast(op, input, weight, bias)  # noqa: A001
    x, unbatched = _conv_operands(input, weight, bias, dims, op, "in_channels, out_channels / groups")
    groups = whole(groups, op, "groups", 1)
    stride = _ints(stride, dims, op, "stride", 1)
    padding = _ints(padding, dims, op, "padding", 0)
    output_padding = _ints(output_padding, dims, op, "output_padding", 0)
    dilation = _ints(dilation, dims, op, "dilation", 1)
    in_ch, per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    if in_ch % groups:
        raise ShapeError(f"{op}: weight of shape {weight.shape} has {in_ch} input channels, which groups={groups} "
                         "does not divide")
    if x.shape[1] != in_ch:
        raise ShapeError(f"{op}: weight of shape {weight.shape} expects input with {in_ch} channels, got input of "
                         f"shape {x.shape} ({x.shape[1]} channels)")
    if 0 in x.shape[2:]:
        raise ShapeError(f"{op}: expected an input with no empty axis but the batch axis, got input of shape "
                         f"{x.shape}")
    if bias is not None and bias.shape != (per_group * groups,):
        raise ShapeError(f"{op}: weight of shape {weight.shape} with groups={groups} expects a bias of shape "
                         f"({per_group * groups},), got bias of shape {bias.shape}")
    if any(a >= max(s, d) for a, s, d in zip(output_padding, stride, dilation, strict=True)):
        raise InvalidArgumentError(f"{op}: output_padding must be smaller than stride or dilation on each axis, got "
                                   f"output_padding {output_padding}, stride {stride}, dilation {dilation}")
    size = _transposed_size(x.shape[2:], kernel, stride, padding, dilation, output_padding)
    if min(size) < 1:
        raise ShapeError(
            f"{op}: input of shape {x.shape} with weight of shape {weight.shape}, stride {stride}, padding {padding}, "
            f"dilation {dilation} and output_padding {output_padding} gives an output size of {size}; it must be "
            "at least 1 on each axis"
        )
    # the gradient of the input of a convolution from ``size`` to ``x``'s size: that convolution's window
    win = _window(size, kernel, stride, dilation, padding, tuple(x.shape[2:]))
    return _unbatched(_conv_input_grad(x, weight, win, groups, bias, op), unbatched)


def conv_transpose1d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """1-D transposed convolution (the gradient of ``conv1d`` with respect to its input) of (N, C, L) or (C, L)
    input with weight (C, out_channels / groups, k), as PyTorch's: output length
    (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                             "conv_transpose1d")


def conv_transpose2d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """2-D transposed convolution (the gradient of ``conv2d`` with respect to its input) of (N, C, H, W) or
    (C, H, W) input with weight (C, out_channels / groups, kh, kw), as PyTorch's; per axis the output size is
    (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 (``output_padding`` smaller than
    the stride or the dilation)."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                             "conv_transpose2d")


def conv_transpose3d(input: Any, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """3-D transposed convolution (the gradient of ``conv3d`` with respect to its input) of (N, C, D, H, W) or
    (C, D, H, W) input with weight (C, out_channels / groups, kd, kh, kw), as PyTorch's; output sizes as
    ``conv_transpose2d``'s, per axis."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups, dilation, 3,
                             "conv_transpose3d")


# ------------------------------------------------------------------ unfold and fold
def _as_columns(a: Any, dims: int) -> Any:
    """A view of an (N, C, *kernel, *out) array in the columns' axis order, (C, *kernel, N, *out)."""
    return a.transpose(1, *range(2, 2 + dims), 0, *range(2 + dims, 2 + 2 * dims))


def _unfold(x: Tensor, win: _Window) -> Tensor:
    """The node of ``unfold``: (N, C, *size) to (N, C * prod(kernel), prod(out)), row c * K + k holding channel c
    at kernel offset k (row-major), column j the window at output position j (row-major)."""
    n, c = x.shape[:2]
    blocks = _im2col(x._data, win, x._backend.xp, batch_first=True)
    y = blocks.reshape(n, c * math.prod(win.kernel), math.prod(win.out))
    return record("unfold", y, x._backend, (x,), (_unfold_vjp,), (win,), info=win)


def _unfold_vjp(g: Tensor, win: _Window) -> Tensor:
    return _fold(g, win)


def _fold(x: Tensor, win: _Window) -> Tensor:
    """The node of ``fold``, the transpose of ``_unfold``: each block's values summed back onto (N, C, *size)."""
    n, rows = x.shape[:2]
    c = rows // math.prod(win.kernel)
    blocks = x._data.reshape(n, c, *win.kernel, *win.out)
    y = _col2im(_as_columns(blocks, len(win.kernel)), win, (n, c, *win.size), x._backend.xp)
    return record("fold", y, x._backend, (x,), (_fold_vjp,), (win,), info=win)


def _fold_vjp(h: Tensor, win: _Window) -> Tensor:
    return _unfold(h, win)


def _block_window(size: tuple, kernel_size: Any, dilation: Any, padding: Any, stride: Any, op: str,
                  what: str) -> _Window:
    """The sliding blocks of unfold and fold over ``size`` (H, W); each axis must hold at least one."""
    kernel = _ints(kernel_size, 2, op, "kernel_size", 1)
    dilation = _ints(dilation, 2, op, "dilation", 1)
    padding = _ints(padding, 2, op, "padding", 0)
    stride = _ints(stride, 2, op, "stride", 1)
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, k, d, p, s in zip(size, kernel, dilation, padding, stride, strict=True))
    if min(out) < 1:
        raise ShapeError(
            f"{op}: {what} {size} with kernel_size {kernel}, dilation {dilation} and padding {padding} holds "
            f"{out[0]} x {out[1]} blocks; it must hold at least one on each axis"
        )
    return _window(size, kernel, stride, dilation, padding, out)


def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:  # noqa: A002
    """PyTorch's ``F.unfold`` (im2col): the sliding blocks of (N, C, H, W) or (C, H, W) input as columns,
    (N, C * kh * kw, L) or (C * kh * kw, L), L the number of blocks (row-major); differentiable (its VJP is
    ``fold``)."""
    op = "unfold"
    x, unbatched = _batched(input, 2, op)
    if 0 in x.shape[1:]:
        raise ShapeError(f"{op}: expected an input with no empty axis but the batch axis, got input of shape "
                         f"{x.shape}")
    win = _block_window(tuple(x.shape[2:]), kernel_size, dilation, padding, stride, op, "input of spatial size")
    return _unbatched(_unfold(x, win), unbatched)


def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,  # noqa: A002
         stride: Any = 1) -> Tensor:
    """PyTorch's ``F.fold`` (col2im), the transpose of ``unfold``: (N, C * kh * kw, L) or (C * kh * kw, L) blocks
    summed into (N, C, *output_size) or (C, *output_size), overlapping values added; differentiable."""
    op = "fold"
    x = as_tensor(input, op)
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected a 2-D (C * prod(kernel_size), L) or 3-D (N, C * prod(kernel_size), L) "
                         f"input, got input of shape {x.shape}")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}")
    size = _ints(output_size, 2, op, "output_size", 1)
    win = _block_window(size, kernel_size, dilation, padding, stride, op, "output_size")
    k, blocks = math.prod(win.kernel), math.prod(win.out)
    rows, length = x.shape[-2:]
    if rows % k or rows == 0:
        raise ShapeError(f"{op}: the input's size {rows} along its blocks' rows (dimension {x.ndim - 2}) must be a "
                         f"positive multiple of prod(kernel_size) = {k}, got input of shape {x.shape}")
    if length != blocks:
        raise ShapeError(
            f"{op}: output_size {size}, kernel_size {win.kernel}, dilation {win.dilation}, padding {win.lo} and "
            f"stride {win.stride} make {win.out[0]} x {win.out[1]} = {blocks} blocks, but the input's last "
            f"dimension is {length} (input of shape {x.shape})"
        )
    unbatched = x.ndim == 2
    if unbatched:
        x = reshape(x, (1, *x.shape))
    return _unbatched(_fold(x, win), unbatched)


# ------------------------------------------------------------------ pooling
def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: the last window must start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_window(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any,
                 dims: int, op: str, dilated: bool) -> _Window:
    kernel = _ints(kernel_size, dims, op, "kernel_size", 1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    stride = kernel if empty else _ints(stride, dims, op, "stride", 1)
    pad = _ints(padding, dims, op, "padding", 0)
    dil = _ints(dilation, dims, op, "dilation", 1)
    ceil_mode = flag(ceil_mode, op, "ceil_mode")
    if any(p > k // 2 for p, k in zip(pad, kernel, strict=True)):  # the kernel, not the dilated one (PyTorch's)
        raise InvalidArgumentError(f"{op}: padding {pad} must be at most half the kernel size {kernel}")
    if 0 in x.shape[1:]:
        raise ShapeError(f"{op}: expected an input with no empty axis but the batch axis, got input of shape "
                         f"{x.shape}")
    out = tuple(_pool_out(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dil, strict=True))
    if min(out) < 1:
        raise ShapeError(
            f"{op}: input of shape {x.shape} is too small for kernel_size {kernel}, stride {stride}, padding {pad}"
            + (f", dilation {dil}" if dilated else "") + f": the output size would be {out}"
        )
    return _window(tuple(x.shape[2:]), kernel, stride, dil, pad, out)


def _inside(win: _Window, xp: Any) -> Any:
    """Per kernel offset, which outputs' windows read an input element there (not padding): (K, *out) bools."""
    axes = []
    for n, k, s, d, p, o in zip(win.size, win.kernel, win.stride, win.dilation, win.lo, win.out, strict=True):
        pos = np.arange(k)[:, None] * d + np.arange(o)[None, :] * s - p
        axes.append((pos >= 0) & (pos < n))
    inside = np.ones((1,) * (2 * len(axes)), dtype=bool)
    for i, a in enumerate(axes):  # the outer product, axes ordered (k0, k1, ..., o0, o1, ...)
        shape = [1] * (2 * len(axes))
        shape[i], shape[len(axes) + i] = a.shape
        inside = inside & a.reshape(shape)
    return xp.asarray(inside.reshape(math.prod(win.kernel), *win.out))


def _tiles(win: _Window) -> bool:
    """Whether the windows do not overlap (stride == kernel, no dilation): each input element then lies in
    at most one window, and each kernel offset's slice of the padded input is a plain strided view."""
    return win.stride == win.kernel and all(d == 1 for d in win.dilation)


def _max_pool_data(xd: Any, win: _Window, xp: Any) -> tuple[Any, Any]:
    """The window maxima and, per output, the kernel offset they came from (PyTorch's rule: the first
    maximum, a NaN wins; a window of -inf only points at its first input element)."""
    if _tiles(win) and math.prod(win.kernel) > 1:
        return _max_pool_tiles(xd, win, xp)
    xpad = _padded(xd, win, -np.inf, xp)
    shape = xd.shape[:2] + win.out
    best = xp.full(shape, -np.inf, dtype=xd.dtype)
    arg = xp.full(shape, -1, dtype=np.int32)
    inside = _inside(win, xp) if any(win.lo) or any(win.hi) else None
    every = (slice(None), slice(None))
    for i, (_, sl) in enumerate(_offsets(win)):
        v = xpad[every + sl]
        if i == 0 and inside is None:
            best[...] = v
            arg[...] = 0
            continue
        take = (v > best) | xp.isnan(v)
        if inside is not None:
            take |= (arg < 0) & inside[i]
        # best becomes v exactly where take (NaN propagates), and arg i: arithmetic rather than copyto(where=),
        # which is about 5 times slower on NumPy with a random mask
        xp.maximum(best, v, out=best)
        step = i - arg
        step *= take
        arg += step
    if inside is not None:
        # a window with no input element (dilation stepping over a short axis) points where PyTorch's does: at
        # its first offset past the padding before the input (out of range; no gradient reaches the input)
        arg += (arg < 0) * (xp.asarray(_first_offsets(win)) + 1)
    return best, arg


def _max_pool_tiles(xd: Any, win: _Window, xp: Any) -> tuple[Any, Any]:
    """``_max_pool_data`` for windows that do not overlap, with the same results: each kernel offset's
    elements copied into one contiguous (K, N, C, *out) block (a strided copy per offset; the passes below
    then run on contiguous rows, about twice as fast as on the strided views), the maxima by ``maximum``
    over its rows in offset order (as the general path: the same values, NaN and signed zeros included), and
    the offset as the number of leading rows that differ from the maximum (the first maximum). A window
    whose maximum is NaN points at its last NaN (PyTorch's scan lets each NaN take the place), one whose
    maximum is -inf at its first element past the padding."""
    xpad = _padded(xd, win, -np.inf, xp)
    k = math.prod(win.kernel)
    every = (slice(None), slice(None))
    rows = xp.empty((k, *xd.shape[:2], *win.out), dtype=xd.dtype)
    for i, (_, sl) in enumerate(_offsets(win)):
        rows[i] = xpad[every + sl]
    best = rows[0].copy()
    for i in range(1, k):
        xp.maximum(best, rows[i], out=best)
    ahead = rows[0] != best  # per window: every offset so far differs from its maximum
    # uint8 offsets when they fit (the usual small kernels): a quarter of int32's memory traffic here and in
    # the backward pass's comparisons; every user of the offsets takes either dtype
    arg = ahead.astype(np.uint8 if k <= 255 else np.int32)
    for i in range(1, k - 1):
        ahead &= rows[i] != best
        arg += ahead
    # a NaN maximum equals no row (arg is k - 1 there): its last NaN. Checked on the host for NumPy only
    # (rare; a CuPy array's check would be a device-to-host read), always done on a device.
    if xp is not np or np.isnan(best).any():
        for i in range(k):
            xp.copyto(arg, i, where=xp.isnan(rows[i]))
    if any(win.lo) or any(win.hi):  # a -inf maximum may equal the -inf padding first
        arg = xp.where(best == -np.inf, xp.asarray(_first_offsets(win).astype(arg.dtype)), arg)
    return best, arg


def _first_offsets(win: _Window) -> np.ndarray:
    """Per output, the kernel offset (flat, row-major) whose position on every axis is the first one at or
    past the padding before the input: where PyTorch points a window that holds no input element."""
    axes = [np.maximum(0, -((np.arange(o) * s - p) // d)) for s, p, d, o in
            zip(win.stride, win.lo, win.dilation, win.out, strict=True)]
    return np.ravel_multi_index(np.meshgrid(*axes, indexing="ij"), win.kernel).astype(np.int32)


def _max_pool_indices(arg: Any, win: _Window, xp: Any) -> Any:
    """The flat index into each (N, C) plane of the input of every output's maximum (PyTorch's indices)."""
    plane = np.cumprod((1, *win.size[::-1]))[-2::-1]  # (W, 1) for (H, W)
    base = np.zeros(win.out, dtype=np.int64)
    for i, (s, p, o, m) in enumerate(zip(win.stride, win.lo, win.out, plane, strict=True)):
        shape = [1] * len(win.out)
        shape[i] = o
        base = base + ((np.arange(o) * s - p) * m).reshape(shape)
    table = np.array([sum(j * d * m for j, d, m in zip(kidx, win.dilation, plane, strict=True))
                      for kidx, _ in _offsets(win)], dtype=np.int64)
    return xp.asarray(table)[arg.astype(np.int64)] + xp.asarray(base)  # int64: the offsets may be uint8


def _max_scatter(g: Tensor, arg: Any, win: _Window, anchor: tuple | None = None) -> Tensor:
    """Each output's gradient onto its maximum's input element (the VJP of max pooling). With the pooled
    input's ``anchor`` (max pooling's own rule), a recorded backward ties the result to that input with a zero
    derivative, as PyTorch's max pooling backward keeps its input: a second differentiation reaches what lies
    before the pooling with zeros (``gradkit.autograd.function.tied_record``)."""
    xp = g._backend.xp
    gd = g._data
    shape = _padded_shape(gd.shape[:2] + win.size, win)
    every = (slice(None), slice(None))
    if _tiles(win):
        # no element is in two windows: each offset's slice is written once, not added to, and a buffer the
        # windows cover entirely needs no zeros first
        whole = all(o * k == n for o, k, n in zip(win.out, win.kernel, shape[2:], strict=True))
        padded = xp.empty(shape, dtype=gd.dtype) if whole else xp.zeros(shape, dtype=gd.dtype)
        # on NumPy, g's bit patterns as integers times the 0/1 mask, written straight into the slice: g's own
        # bits where arg == i and all-zero bits (+0.0) elsewhere, exactly where(arg == i, g, 0) (an inf or a
        # NaN included, unlike a float product) without where's temporary and its copy
        # (g + 0: a -0.0 gradient lands as +0.0, as the sum onto zeros of the general path and PyTorch's give)
        gz = gd + 0
        bits = {2: np.int16, 4: np.int32, 8: np.int64}.get(gz.dtype.itemsize) if xp is np else None
        for i, (_, sl) in enumerate(_offsets(win)):
            if bits is not None:
                np.multiply(gz.view(bits), arg == i, out=padded[every + sl].view(bits))
            else:
                padded[every + sl] = xp.where(arg == i, gz, 0)
    else:
        padded = xp.zeros(shape, dtype=gd.dtype)
        for i, (_, sl) in enumerate(_offsets(win)):
            padded[every + sl] += xp.where(arg == i, gd, 0)
    dx = _cropped(padded, win, xp)
    if anchor is not None and _mode.enabled:
        return tied_record("max_pool_scatter", dx, g, _max_gather, (arg, win), anchor)
    return record("max_pool_scatter", dx, g._backend, (g,), (_max_gather,), (arg, win))


def _max_gather(h: Tensor, arg: Any, win: _Window) -> Tensor:
    """Each output's maximum's element of ``h`` (an input-shaped tensor): the VJP of ``_max_scatter``."""
    xp = h._backend.xp
    hpad = _padded(h._data, win, 0, xp)
    out = xp.zeros(arg.shape, dtype=h._data.dtype)
    every = (slice(None), slice(None))
    for i, (_, sl) in enumerate(_offsets(win)):
        xp.copyto(out, hpad[every + sl], where=arg == i)
    return record("max_pool_gather", out, h._backend, (h,), (_max_scatter,), (arg, win))


def _max_poolnd(input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any,  # noqa: A002
                return_indices: Any, dims: int, op: str) -> Any:
    if _autocast.active and dims == 3:  # gk.autocast: on PyTorch's CPU float32 list
        (input,) = _autocast.to_float32("max_pool3d", input)  # noqa: A001
    x, unbatched = _batched(input, dims, op)
    win = _pool_window(x, kernel_size, stride, padding, dilation, ceil_mode, dims, op, dilated=True)
    xp = x._backend.xp
    best, arg = _max_pool_data(x._data, win, xp)
    y = _unbatched(record(op, best, x._backend, (x,), (_max_scatter,), (arg, win, anchor_of(x)), info=win),
                   unbatched)
    if not flag(return_indices, op, "return_indices"):
        return y
    return y, _unbatched(_make(_max_pool_indices(arg, win, xp), x._backend), unbatched)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each window of (N, C, L) or (C, L) input (padding counts as -inf); stride defaults to
    kernel_size. With ``return_indices``, also each maximum's index along L (int64), as PyTorch."""
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each window of (N, C, H, W) or (C, H, W) input (padding counts as -inf); stride
    defaults to kernel_size. With ``return_indices``, also each maximum's flat index ``h * W + w`` (int64).
    The gradient goes to the first maximum of each window (PyTorch's rule)."""
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each window of (N, C, D, H, W) or (C, D, H, W) input (padding counts as -inf); stride
    defaults to kernel_size. With ``return_indices``, also each maximum's flat index ``(d * H + h) * W + w``
    (int64). PyTorch's tie and NaN rules, as ``max_pool2d``."""
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3, "max_pool3d")


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """PyTorch's name: ``max_pool1d(..., return_indices=True)``, the (output, indices) pair whatever
    ``return_indices`` says."""
    flag(return_indices, "max_pool1d_with_indices", "return_indices")
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1, "max_pool1d_with_indices")


def max_pool2d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """PyTorch's name: ``max_pool2d(..., return_indices=True)``, the (output, indices) pair whatever
    ``return_indices`` says."""
    flag(return_indices, "max_pool2d_with_indices", "return_indices")
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2, "max_pool2d_with_indices")


def max_pool3d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """PyTorch's name: ``max_pool3d(..., return_indices=True)``, the (output, indices) pair whatever
    ``return_indices`` says."""
    flag(return_indices, "max_pool3d_with_indices", "return_indices")
    return _max_poolnd(input, kernel_size, stride, padding, dilation, ceil_mode, True, 3, "max_pool3d_with_indices")


def _avg_scale(win: _Window, count_include_pad: bool, divisor: int | None, dtype: Any, xp: Any) -> Any:
    """1 / the divisor of each window (PyTorch's rule): ``divisor_override``; else the window's size within
    the padded input (``count_include_pad``) or within the input alone."""
    if divisor is not None:
        return 1.0 / divisor
    counts = []
    uniform = True
    for n, k, s, p, o in zip(win.size, win.kernel, win.stride, win.lo, win.out, strict=True):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        c = end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0)
        uniform = uniform and bool((c == k).all())
        counts.append(np.maximum(c, 1))  # a window with no input element sums to 0 (PyTorch gives 0 too)
    if uniform:
        return 1.0 / math.prod(win.kernel)
    total = np.ones((), dtype=np.float64)
    for c in counts:
        total = np.multiply.outer(total, c)
    return xp.asarray((1.0 / total).astype(dtype))


def _avg_pool(x: Tensor, win: _Window, scale: Any, name: str = "avg_pool") -> Tensor:
    """The node of average pooling: each window's sum times ``scale``."""
    xp = x._backend.xp
    xpad = _padded(x._data, win, 0, xp)
    every = (slice(None), slice(None))
    out = None
    for _, sl in _offsets(win):
        if out is None:
            out = xpad[every + sl].copy()
        else:
            out += xpad[every + sl]
    out *= scale
    return record(name, out, x._backend, (x,), (_avg_spread,), (win, scale), info=win)


def _avg_spread(g: Tensor, win: _Window, scale: Any) -> Tensor:
    """``g`` times ``scale``, added to every input element of each window: the VJP of ``_avg_pool``."""
    xp = g._backend.xp
    gd = g._data * scale
    padded = xp.zeros(_padded_shape(gd.shape[:2] + win.size, win), dtype=gd.dtype)
    every = (slice(None), slice(None))
    for _, sl in _offsets(win):
        padded[every + sl] += gd
    return record("avg_pool_spread", _cropped(padded, win, xp), g._backend, (g,), (_avg_pool,), (win, scale))


def _avg_poolnd(input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: Any,  # noqa: A002
                count_include_pad: Any, divisor_override: Any, dims: int, op: str) -> Tensor:
    if _autocast.active and dims == 3:  # gk.autocast: on PyTorch's CPU float32 list
        (input,) = _autocast.to_float32("avg_pool3d", input)  # noqa: A001
    x, unbatched = _batched(input, dims, op)
    win = _pool_window(x, kernel_size, stride, padding, 1, ceil_mode, dims, op, dilated=False)
    include = flag(count_include_pad, op, "count_include_pad")
    divisor = None if divisor_override is None else whole(divisor_override, op, "divisor_override", 1)
    scale = _avg_scale(win, include, divisor, x.dtype, x._backend.xp)
    return _unbatched(_avg_pool(x, win, scale, op), unbatched)


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """The mean over each window of (N, C, L) or (C, L) input (stride defaults to kernel_size); the zero
    padding counts in the divisor unless ``count_include_pad=False``, as PyTorch."""
    return _avg_poolnd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean over each window of (N, C, H, W) or (C, H, W) input (stride defaults to kernel_size); the
    divisor is ``divisor_override`` when given, else PyTorch's window size (the zero padding counted unless
    ``count_include_pad=False``; a ``ceil_mode`` window past the padding counts only its part inside)."""
    return _avg_poolnd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                       "avg_pool2d")


def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean over each window of (N, C, D, H, W) or (C, D, H, W) input (stride defaults to kernel_size), with
    ``avg_pool2d``'s divisor rules (``divisor_override``, ``count_include_pad``, ``ceil_mode``)."""
    return _avg_poolnd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3,
                       "avg_pool3d")


def _adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: per output o, elements floor(o * size / out) to
    ceil((o + 1) * size / out). Returns the (out, longest) table of the elements each window reads (a shorter
    window's spare slots repeat its first element), which of those slots are its own, and 1 / its length."""
    pos = np.arange(out)
    start, end = (pos * size) // out, -(-((pos + 1) * size) // out)
    length = end - start
    k = int(length.max()) if out else 1
    slots = np.arange(k)[None, :]
    own = slots < length[:, None]
    table = np.where(own, start[:, None] + slots, start[:, None])
    return table, own, 1.0 / np.maximum(length, 1)


def _adaptive_input(input: Any, output_size: Any, dims: int, op: str) -> tuple[Tensor, bool, tuple]:  # noqa: A002
    """The checks adaptive pooling shares: the input with a batch axis, whether one was added, and the output's
    spatial size (``output_size`` an int or a tuple of ``dims``, None keeping that axis's size, as PyTorch)."""
    x, unbatched = _batched(input, dims, op)
    if 0 in x.shape[1:]:
        raise ShapeError(f"{op}: expected an input with no empty axis but the batch axis, got input of shape "
                         f"{x.shape}")
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * dims
    if len(sizes) != dims:
        raise InvalidArgumentError(f"{op}: output_size must be an int or a tuple of {dims} ints (or None), "
                                   f"got {output_size!r:.60}")
    out = tuple(n if o is None else whole(o, op, "output_size", 0) for o, n in zip(sizes, x.shape[2:], strict=True))
    return x, unbatched, out


def _adaptive_avg_poolnd(input: Any, output_size: Any, dims: int, op: str) -> Tensor:  # noqa: A002
    """One axis at a time: each window's sum (a reshape when the windows tile the axis, else a gather of every
    window's elements, the spare slots of shorter windows masked out) times 1 / its length. Sums, not products
    with an averaging matrix: an inf or a NaN reaches only the windows that hold it, as in PyTorch."""
    if _autocast.active:  # gk.autocast: 3-d on PyTorch's CPU float32 list; its window sums are not cast
        if dims == 3:
            (input,) = _autocast.to_float32("adaptive_avg_pool3d", input)  # noqa: A001
        if _autocast.is_on(input):
            with _autocast.exclude():
                return _adaptive_avg_poolnd(input, output_size, dims, op)
    x, unbatched, out = _adaptive_input(input, output_size, dims, op)
    with np.errstate(invalid="ignore"):  # inf - inf in a window: NaN there, silently, as PyTorch's
        y = _adaptive_avg_axes(x, out, dims)
    return _unbatched(y, unbatched)


def _adaptive_avg_axes(x: Tensor, out: tuple, dims: int) -> Tensor:
    """Adaptive average pooling of ``x`` (N, C, *size) to ``out``, one resized axis after another."""
    backend = x._backend
    y = x
    for axis in range(dims):
        n, o = x.shape[2 + axis], out[axis]
        ax = 2 + axis
        if n == o:
            continue
        before, after = y.shape[:ax], y.shape[ax + 1:]
        if o == 0:
            y = getitem(y, (slice(None),) * ax + (slice(0, 0),))
            continue
        if n % o == 0:  # equal windows that tile the axis
            y = multiply(sum_(reshape(y, (*before, o, n // o, *after)), ax + 1), o / n)
            continue
        table, own, scale = _adaptive_windows(n, o)
        k = table.shape[1]
        rest = (1,) * len(after)
        vals = reshape(getitem(y, (slice(None),) * ax + (table.reshape(-1),)), (*before, o, k, *after))
        vals = where(backend.asarray(own.reshape(o, k, *rest)), vals, 0.0)
        factor = _make(backend.asarray(scale.reshape(o, *rest).astype(x.dtype)), backend)
        y = multiply(sum_(vals, ax + 1), factor)
    return y


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, L) or (C, L) input to length ``output_size`` (PyTorch's windows: output o
    averages floor(o * L / out) to ceil((o + 1) * L / out))."""
    return _adaptive_avg_poolnd(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, H, W) or (C, H, W) input to ``output_size`` (an int or a pair; None keeps
    that axis), with PyTorch's windows (see ``adaptive_avg_pool1d``); window sums, one axis at a time."""
    return _adaptive_avg_poolnd(input, output_size, 2, "adaptive_avg_pool2d")



def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) input to ``output_size`` (an int or a triple; None
    keeps that axis), with PyTorch's windows (see ``adaptive_avg_pool1d``); window sums, one resized axis at a
    time."""
    return _adaptive_avg_poolnd(input, output_size, 3, "adaptive_avg_pool3d")


# ------------------------------------------------------------------ adaptive max pooling
def _adaptive_offsets(size: tuple, out: tuple) -> np.ndarray:
    """Per offset within the largest window (row-major over the axes), the flat index into an input plane of
    ``size`` that each output reads: (K, *out) int64. A window shorter than the largest on an axis repeats its
    last element there, which changes neither its maximum nor which element PyTorch's scan picks."""
    tables = []
    for n, o in zip(size, out, strict=True):
        pos = np.arange(o)
        start, end = (pos * n) // o, -(-((pos + 1) * n) // o)  # PyTorch's floor/ceil windows
        k = int((end - start).max()) if o else 1
        tables.append(np.minimum(start[:, None] + np.arange(k)[None, :], end[:, None] - 1))  # (o, k)
    plane = np.cumprod((1, *size[::-1]))[-2::-1]  # (W, 1) for (H, W)
    flat = np.zeros((1,) * (2 * len(size)), dtype=np.int64)
    dims = len(size)
    for i, (t, m) in enumerate(zip(tables, plane, strict=True)):  # axes ordered (k0, k1, ..., o0, o1, ...)
        shape = [1] * (2 * dims)
        shape[i], shape[dims + i] = t.shape[::-1]
        flat = flat + (t.T * int(m)).reshape(shape)
    return flat.reshape(math.prod(t.shape[1] for t in tables), *out)  # not -1: an output axis may be empty


class _Routing(NamedTuple):
    """Where each output element of a max reads: ``flat``, int64 indices into the flattened input (the output's
    shape, on the device), and the input's shape."""

    flat: Any
    shape: tuple


def _routed_scatter(g: Tensor, route: _Routing, anchor: tuple | None = None) -> Tensor:
    """Each output's gradient added onto the input element it read (repeats summed): the VJP of a routed
    max. With the input's ``anchor`` (the max's own rule) the recorded backward is tied to that input with a
    zero derivative, as ``_max_scatter``."""
    xp = g._backend.xp
    dx = xp.zeros(math.prod(route.shape), dtype=g.dtype)
    g._backend.scatter_add(dx, route.flat.reshape(-1), g._data.reshape(-1))
    dx = dx.reshape(route.shape)
    if anchor is not None and _mode.enabled:
        return tied_record("adaptive_max_pool_scatter", dx, g, _routed_gather, (route,), anchor)
    return record("adaptive_max_pool_scatter", dx, g._backend, (g,), (_routed_gather,), (route,))


def _routed_gather(h: Tensor, route: _Routing) -> Tensor:
    """The element of ``h`` (input-shaped) each output reads: the VJP of ``_routed_scatter``."""
    data = h._backend.xp.take(h._data.reshape(-1), route.flat)
    return record("adaptive_max_pool_gather", data, h._backend, (h,), (_routed_scatter,), (route,))


def _adaptive_max_poolnd(input: Any, output_size: Any, return_indices: Any, dims: int, op: str) -> Any:  # noqa: A002
    if _autocast.active and dims == 3:  # gk.autocast: on PyTorch's CPU float32 list
        (input,) = _autocast.to_float32("adaptive_max_pool3d", input)  # noqa: A001
    x, unbatched, out = _adaptive_input(input, output_size, dims, op)
    indices = flag(return_indices, op, "return_indices")
    backend = x._backend
    xp = backend.xp
    n, c = x.shape[:2]
    offsets = xp.asarray(_adaptive_offsets(tuple(x.shape[2:]), out))  # (K, *out)
    k = offsets.shape[0]
    size = math.prod(x.shape[2:])
    vals = xp.take(x._data.reshape(n, c, size), offsets, axis=2)  # (N, C, K, *out): every window's elements
    best = vals.max(axis=2)  # NaN where a window holds one
    # PyTorch's scan (a larger value or a NaN takes the place): the first maximum, or the last NaN; found by
    # the smallest / largest offset that qualifies, not by argmax's tie rule
    order = xp.arange(k).reshape(k, *(1,) * dims)
    first = xp.where(vals == xp.expand_dims(best, 2), order, k).min(axis=2)
    last_nan = xp.where(xp.isnan(vals), order, -1).max(axis=2)
    which = xp.where(last_nan >= 0, last_nan, first)
    arg = xp.take_along_axis(xp.broadcast_to(offsets, vals.shape), xp.expand_dims(which, 2), axis=2)[:, :, 0]
    del vals
    rows = xp.arange(n * c, dtype=np.int64).reshape(n, c, *(1,) * dims) * size
    route = _Routing(arg + rows, tuple(x.shape))
    y = _unbatched(record(op, best, backend, (x,), (_routed_scatter,), (route, anchor_of(x))), unbatched)
    if not indices:
        return y
    return y, _unbatched(_make(arg, backend), unbatched)


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Max pooling of (N, C, L) or (C, L) input to length ``output_size``, with ``adaptive_avg_pool1d``'s
    windows; with ``return_indices`` also each maximum's index along L (int64). PyTorch's scan: the first
    maximum of a window, its last NaN when it holds one; the gradient goes to that element."""
    return _adaptive_max_poolnd(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Max pooling of (N, C, H, W) or (C, H, W) input to ``output_size`` (an int or a pair; None keeps that
    axis), with PyTorch's windows; with ``return_indices`` also each maximum's flat index ``h * W + w`` (int64).
    Overlapping windows that share a maximum sum their gradients there."""
    return _adaptive_max_poolnd(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) input to ``output_size`` (an int or a triple; None keeps
    that axis); with ``return_indices`` also each maximum's flat index ``(d * H + h) * W + w`` (int64)."""
    return _adaptive_max_poolnd(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_max_pool1d_with_indices(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """PyTorch's name: ``adaptive_max_pool1d(..., return_indices=True)``, whatever ``return_indices`` says."""
    flag(return_indices, "adaptive_max_pool1d_with_indices", "return_indices")
    return _adaptive_max_poolnd(input, output_size, True, 1, "adaptive_max_pool1d_with_indices")


def adaptive_max_pool2d_with_indices(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """PyTorch's name: ``adaptive_max_pool2d(..., return_indices=True)``, whatever ``return_indices`` says."""
    flag(return_indices, "adaptive_max_pool2d_with_indices", "return_indices")
    return _adaptive_max_poolnd(input, output_size, True, 2, "adaptive_max_pool2d_with_indices")


def adaptive_max_pool3d_with_indices(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """PyTorch's name: ``adaptive_max_pool3d(..., return_indices=True)``, whatever ``return_indices`` says."""
    flag(return_indices, "adaptive_max_pool3d_with_indices", "return_indices")
    return _adaptive_max_poolnd(input, output_size, True, 3, "adaptive_max_pool3d_with_indices")


# ------------------------------------------------------------------ power-average (LP) pooling
def _lp_poolnd(input: Any, norm_type: Any, kernel_size: Any, stride: Any, ceil_mode: Any, dims: int,  # noqa: A002
               op: str) -> Tensor:
    """PyTorch's formula: ``(sign(s) * relu(|s|) * prod(kernel_size)) ** (1 / p)`` with ``s`` the average
    pooling (no padding, the divisor counting a ceil_mode window's part inside the input) of ``x ** p``:
    the value of ``(prod(kernel) * s) ** (1 / p)`` and, where ``s`` is 0, a zero gradient. ``p`` = +-inf is
    +-max pooling of +-|x|, as PyTorch."""
    x, unbatched = _batched(input, dims, op)
    p = real(norm_type, op, "norm_type")
    if p == 0:
        raise InvalidArgumentError(f"{op}: norm_type must be a non-zero number, got {norm_type!r}")
    kernel = _ints(kernel_size, dims, op, "kernel_size", 1)
    if math.isinf(p):
        y = _max_poolnd(abs_(x) if p > 0 else negative(abs_(x)), kernel, stride, 0, 1, ceil_mode, False, dims, op)
        return _unbatched(y if p > 0 else negative(y), unbatched)
    k = math.prod(kernel)
    # NaN for a negative base to a fractional power, inf for 0 to a negative one: silently, as PyTorch's (the
    # backward pass, when it meets them, warns as NumPy's power does)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = _avg_poolnd(power(x, p), kernel, stride, 0, ceil_mode, True, None, dims, op)
        nonzero = s._data != 0
        y = where(nonzero, power(multiply(where(nonzero, s, 1.0), k), 1.0 / p), 0.0 if p > 0 else math.inf)
    return _unbatched(y, unbatched)


def lp_pool1d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, L) or (C, L) input, as PyTorch's: over each window (stride defaults to
    kernel_size, no padding) ``(sum of x ** p) ** (1 / p)``; ``norm_type`` p non-zero, +-inf giving max pooling
    of +-|x|. A window whose power sum is 0 gets a zero gradient."""
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 1, "lp_pool1d")


def lp_pool2d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, H, W) or (C, H, W) input (see ``lp_pool1d``); with ``ceil_mode`` a
    window past the input's end is scaled as PyTorch's (its mean over the part inside times the kernel's
    size)."""
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 2, "lp_pool2d")


def lp_pool3d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling of (N, C, D, H, W) or (C, D, H, W) input (see ``lp_pool1d``)."""
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 3, "lp_pool3d")
