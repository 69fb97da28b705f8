"""NumPy's statistics and value queries: nanmax, nanmin, nanargmax, nanargmin, nanvar, nanstd, nanprod,
nancumsum, nancumprod, cov, corrcoef, bincount, histogram, unique, searchsorted, isinf and isclose.

The differentiable ones are composites of gradkit's recorded operations (nanmax and nanmin one recorded
reduction); counts, indices and masks are tensors that do not require grad.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from gradkit._args import flag, real, text, whole
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import (
    SCALARS,
    as_tensor,
    host_read_allowed,
    int64_indices,
    normalize_axes,
    normalize_axis,
    private_copy,
)
from gradkit.ops.elementwise import clip, sqrt, where
from gradkit.ops.indexing import _refuse_in_capture
from gradkit.ops.linalg import matmul
from gradkit.ops.numpy_more import _scatter_add, _tensor, _tensors
from gradkit.ops.reduce import _ZeroWeightsError, mean, var
from gradkit.ops.reduce import max as max_
from gradkit.ops.reduce import min as min_
from gradkit.ops.reduce import sum as sum_
from gradkit.ops.shape import astype, broadcast_to, concatenate, diagonal, reshape, transpose
from gradkit.tensor import Tensor


def _keep(keepdims: Any, op: str) -> bool:
    return flag(keepdims, op, "keepdims")


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _reduced(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    return _kept(shape, axes) if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)


def _warn_on_host(bad: Any, message: str, stacklevel: int = 3) -> None:
    """NumPy's RuntimeWarning where ``bad`` has a True, checked on the host only (a device array is not read).
    A reduction over every axis gives a NumPy scalar, not an array."""
    if isinstance(bad, (np.ndarray, np.generic)) and bad.any():
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


# ------------------------------------------------------------------ NaN-skipping reductions
def nanmax(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``nanmax``: the largest element over ``axis``, NaNs ignored. A slice of NaNs only gives
    NaN (and NumPy's RuntimeWarning "All-NaN slice encountered" on the CPU; on CuPy nothing is read back
    to warn). The gradient goes to the elements equal to the result, shared among ties, as ``max``'s;
    in a slice of NaNs only it is shared among its NaNs."""
    return _nan_extreme("nanmax", a, axis, keepdims)


def nanmin(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``nanmin``: the smallest element over ``axis``, NaNs ignored (see :func:`nanmax`)."""
    return _nan_extreme("nanmin", a, axis, keepdims)


def _nan_extreme(op: str, a: Any, axis: Any, keepdims: Any) -> Tensor:
    x = _tensor(a, op)
    keepdims = _keep(keepdims, op)
    if x.dtype.kind != "f":  # nothing to skip
        return (max_ if op == "nanmax" else min_)(x, axis, keepdims)
    axes = normalize_axes(axis, x.ndim, op)
    if 0 in [x.shape[i] for i in axes]:
        raise ShapeError(f"{op}: reducing axes {axes} of an empty tensor of shape {x.shape} has no identity")
    xp = x._backend.xp
    xd = x._data
    nan = xp.isnan(xd)
    fill = x.dtype.type(-np.inf if op == "nanmax" else np.inf)
    if xd.size:
        skipped = xp.where(nan, fill, xd)
        data = skipped.max(axis=axes, keepdims=keepdims) if op == "nanmax" else skipped.min(axis=axes,
                                                                                          keepdims=keepdims)
        empty = nan.all(axis=axes, keepdims=keepdims)
        data = xp.where(empty, x.dtype.type(np.nan), data)
        _warn_on_host(empty, "All-NaN slice encountered", stacklevel=4)
    else:
        data = xp.empty(_reduced(x.shape, axes, keepdims), dtype=x.dtype)
    return record(op, data, x._backend, (x,), (_nan_extreme_vjp,), (x, axes, keepdims), save_output=True)


def _nan_extreme_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, y: Tensor) -> Tensor:
    xp = x._backend.xp
    kept = _kept(x.shape, axes)
    y_full = y._data.reshape(kept)
    hit = (x._data == y_full) | (xp.isnan(x._data) & xp.isnan(y_full))  # NaNs only where the result is NaN
    share = (hit / hit.sum(axis=axes, keepdims=True)).astype(x.dtype)
    return broadcast_to(reshape(g, kept), x.shape) * share


def nanargmax(a: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``nanargmax``: the index of the largest element over ``axis`` (an int; the flattened tensor
    when None), NaNs ignored; int64, no gradient. NaNs are taken as -inf first, as NumPy's, so ties and
    infinities give NumPy's index. A slice of NaNs only raises :class:`InvalidArgumentError` (a ValueError,
    as NumPy's): on CuPy that check is one device read (a synchronisation); while a CUDA graph is captured
    it is skipped and such a slice gives -1 (CuPy's own value). Integer and bool tensors give ``argmax``."""
    return _nan_arg("nanargmax", a, axis, keepdims)


def nanargmin(a: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``nanargmin``: the index of the smallest element over ``axis``, NaNs (taken as +inf)
    ignored (see :func:`nanargmax`)."""
    return _nan_arg("nanargmin", a, axis, keepdims)


def _nan_arg(op: str, a: Any, axis: Any, keepdims: Any) -> Tensor:
    x = _tensor(a, op)
    keepdims = _keep(keepdims, op)
    xp = x._backend.xp
    # one int axis, as NumPy's (a tuple is a TypeError there too); axis 0 or -1 of a 0-d tensor is index 0
    ax = None if axis is None else normalize_axis(axis, x.ndim, op)
    if x.ndim == 0:
        ax = None
    n = x.size if ax is None else x.shape[ax]
    if n == 0:
        raise ShapeError(f"{op}: an empty {'tensor' if ax is None else f'axis {ax}'} of shape {x.shape} has no "
                         f"{'largest' if op == 'nanargmax' else 'smallest'} element")
    out_shape = _reduced(x.shape, tuple(range(x.ndim)) if ax is None else (ax,), keepdims)
    if x.size == 0:  # rows of no elements along the other axes: an empty result
        return Tensor._make(xp.zeros(out_shape, dtype=np.int64), x._backend)
    xd, along = (x._data.reshape(-1), 0) if ax is None else (x._data, ax)
    arg = "argmax" if op == "nanargmax" else "argmin"
    if x.dtype.kind != "f":  # nothing to skip
        idx = getattr(xd, arg)(axis=along)
        return Tensor._make(xp.asarray(idx, dtype=np.int64).reshape(out_shape), x._backend)
    nan = xp.isnan(xd)
    filled = xp.where(nan, x.dtype.type(-np.inf if op == "nanargmax" else np.inf), xd)
    idx = xp.asarray(getattr(filled, arg)(axis=along), dtype=np.int64)
    empty = nan.all(axis=along)
    if host_read_allowed(xd):
        if bool(empty.any()):  # on CuPy the one device read
            raise InvalidArgumentError(f"{op}: All-NaN slice encountered (shape {x.shape}, axis {axis})")
    else:  # inside a CUDA graph capture: no read; CuPy's -1 marks the slices of NaNs only
        idx = xp.where(empty, -1, idx)
    return Tensor._make(idx.reshape(out_shape), x._backend)


def nanvar(a: Any, axis: Any = None, dtype: Any = None, ddof: float = 0, keepdims: bool = False, *,
           correction: float | None = None) -> Tensor:  # fmt: skip
    """NumPy's ``nanvar``: the variance over ``axis`` of the elements that are not NaN, divided by
    ``count - ddof`` (``correction`` is the array API's name for ddof). Where that is <= 0 (a slice of
    NaNs only, for one) the result is NaN, with NumPy's RuntimeWarning on the CPU. ``dtype`` converts
    ``a`` first. The NaNs get no gradient. Integer and bool tensors give ``var`` (float64), as NumPy."""
    x, axes, keepdims, ddof = _nan_moment_args("nanvar", a, axis, dtype, ddof, keepdims, correction)
    return _nanvar(x, axes, keepdims, ddof, "nanvar")


def nanstd(a: Any, axis: Any = None, dtype: Any = None, ddof: float = 0, keepdims: bool = False, *,
           correction: float | None = None) -> Tensor:  # fmt: skip
    """NumPy's ``nanstd``: the square root of :func:`nanvar`. Where the values of a slice are all equal
    its slope is 0, as ``std``'s (not 0/0)."""
    x, axes, keepdims, ddof = _nan_moment_args("nanstd", a, axis, dtype, ddof, keepdims, correction)
    if x.dtype.kind != "f":
        from gradkit.ops.reduce import std

        return std(x, axes, ddof=ddof, keepdims=keepdims)
    v = _nanvar(x, axes, keepdims, ddof, "nanstd")
    xp = x._backend.xp
    xd = x._data
    nan = xp.isnan(xd)
    if xd.size:
        hi = xp.where(nan, -np.inf, xd).max(axis=axes, keepdims=keepdims)
        lo = xp.where(nan, np.inf, xd).min(axis=axes, keepdims=keepdims)
        flat = ~(hi > lo)  # all equal, or no values: no slope
    else:
        flat = xp.ones(v.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        root = xp.sqrt(v._data)
    return where(flat, root, sqrt(where(flat, 1.0, v)))


def _nan_moment_args(op: str, a: Any, axis: Any, dtype: Any, ddof: Any, keepdims: Any, correction: Any) -> tuple:
    x = _tensor(a, op)
    if dtype is not None:
        from gradkit.dtypes import to_dtype

        x = astype(x, to_dtype(dtype, op))
    if correction is not None:
        if ddof != 0:
            raise InvalidArgumentError(f"{op}: give ddof or correction, not both (got {ddof!r} and {correction!r})")
        ddof = correction
    ddof = real(ddof, op, "ddof")
    return x, normalize_axes(axis, x.ndim, op), _keep(keepdims, op), ddof


def _nanvar(x: Tensor, axes: tuple, keepdims: bool, ddof: float, op: str) -> Tensor:
    if x.dtype.kind != "f":
        return var(x, axes, ddof=int(ddof) if float(ddof).is_integer() else ddof, keepdims=keepdims)
    xp = x._backend.xp
    nan = xp.isnan(x._data)
    count = (~nan).sum(axis=axes, keepdims=True)
    # a slice of NaNs only: NumPy's mean there is 0 / 0, but every deviation is then set to 0 anyway
    avg = astype(sum_(where(nan, 0.0, x), axes, keepdims=True) / xp.maximum(count, 1), x.dtype)
    dev = where(nan, 0.0, x - avg)
    total = sum_(dev * dev, axes, keepdims=keepdims)
    dof = count.reshape(total.shape) - ddof
    bad = dof <= 0
    _warn_on_host(bad, "Degrees of freedom <= 0 for slice.", stacklevel=4)
    out = astype(total / xp.where(bad, 1, dof), x.dtype)
    return where(bad, x.dtype.type(np.nan), out)


# ------------------------------------------------------------------ covariance
def _weights(value: Any, n: int, name: str, op: str, backend: Any) -> Tensor:
    w = as_tensor(value if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64), op, backend)
    if w.ndim != 1:
        raise ShapeError(f"{op}: {name} must be 1-d, got shape {w.shape}")
    if w.shape[0] != n:
        raise ShapeError(f"{op}: {w.shape[0]} {name} for {n} observations")
    w = astype(w, np.float64)
    wd = w._data
    if wd.size and type(wd) is np.ndarray:  # on the CPU only: on a GPU the checks would read the device
        if bool((wd < 0).any()):
            raise InvalidArgumentError(f"{op}: {name} cannot be negative")
        if name == "fweights" and not bool((wd == w._backend.xp.around(wd)).all()):
            raise DTypeError(f"{op}: fweights must be integers, got {w.tolist()!r:.60}")
    return w


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: int | None = None,
        fweights: Any = None, aweights: Any = None, *, dtype: Any = None) -> Tensor:  # fmt: skip
    """NumPy's ``cov``: the covariance matrix of the variables in the rows of ``m`` (columns when
    ``rowvar=False``), ``y``'s joined below. Divided by ``N - 1`` (``N`` with ``bias``, ``N - ddof``
    with ddof), weighted by ``fweights`` (integer frequencies) and ``aweights`` as NumPy. In float64
    unless ``dtype`` says otherwise, as NumPy; squeezed (one variable gives a 0-d tensor).

    Gradients reach ``m``, ``y`` and ``aweights``; ``fweights`` are counts, constants. The weights are
    checked (>= 0, whole fweights, not summing to 0) on the CPU only, as :func:`average`'s: on a GPU that
    would read the device, and weights summing to 0 give NaN there.
    """
    op = "cov"
    x, yt = _tensors(op, m, y) if y is not None else (*_tensors(op, m), None)
    rowvar, bias = flag(rowvar, op, "rowvar"), flag(bias, op, "bias")
    if ddof is not None:
        ddof = whole(ddof, op, "ddof")
    for name, t in (("m", x), ("y", yt)):
        if t is not None and t.ndim > 2:
            raise ShapeError(f"{op}: {name} has more than 2 dimensions (shape {t.shape})")
    if dtype is None:
        dtype = np.result_type(x.dtype, np.float64) if yt is None else np.result_type(x.dtype, yt.dtype, np.float64)
    else:
        from gradkit.dtypes import to_dtype

        dtype = to_dtype(dtype, op)
    X = astype(x, dtype)  # noqa: N806 - NumPy's names
    X = reshape(X, (1, -1)) if X.ndim < 2 else X  # noqa: N806
    if not rowvar and x.ndim != 1:
        X = transpose(X)  # noqa: N806
    xp = x._backend.xp
    if X.shape[0] == 0:
        return Tensor._make(xp.empty((0, 0), dtype=np.float64), x._backend)
    if yt is not None:
        Y = astype(yt, dtype)  # noqa: N806
        Y = reshape(Y, (1, -1)) if Y.ndim < 2 else Y  # noqa: N806
        if not rowvar and Y.shape[0] != 1:
            Y = transpose(Y)  # noqa: N806
        if Y.shape[1] != X.shape[1]:
            raise ShapeError(f"{op}: m has {X.shape[1]} observations, y {Y.shape[1]}")
        X = concatenate([X, Y], axis=0)  # noqa: N806
    if ddof is None:
        ddof = 0 if bias else 1
    n = X.shape[1]
    w = aw = None
    if fweights is not None:
        w = _weights(fweights, n, "fweights", op, x._backend).detach()  # counts: constants
    if aweights is not None:
        aw = _weights(aweights, n, "aweights", op, x._backend)
        w = aw if w is None else w * aw
    if w is None:
        avg = mean(X, axis=1)
        fact: Any = n - ddof
    else:
        w_sum = sum_(w)
        if type(w_sum._data) is np.ndarray and w_sum._data == 0:  # NumPy's average refuses them; GPU: NaN
            raise _ZeroWeightsError(f"{op}: the weights sum to zero, so they cannot be normalized")
        avg = sum_(X * w, axis=1) / w_sum
        if ddof == 0:
            fact = w_sum
        elif aw is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * sum_(w * aw) / w_sum
    if isinstance(fact, Tensor):
        bad = fact._data <= 0
        _warn_on_host(bad, "Degrees of freedom <= 0 for slice")
        fact = where(bad, 0.0, fact)
    elif fact <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    X = X - reshape(avg, (-1, 1))  # noqa: N806
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / fact if isinstance(fact, Tensor) else float(np.true_divide(1, fact))  # inf for no dof, as NumPy
        c = matmul(X, transpose(X if w is None else X * w)) * scale
    return reshape(c, tuple(d for d in c.shape if d != 1))


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, *, dtype: Any = None) -> Tensor:
    """NumPy's ``corrcoef``: the Pearson correlation coefficients, ``cov`` divided by the standard
    deviations, clipped to [-1, 1]. One variable gives ``c / c`` (1, or NaN), as NumPy. A constant
    variable's row and column are NaN, with NumPy's RuntimeWarning ("invalid value") on the CPU."""
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c  # a constant variable: 0 / 0, NaN with NumPy's RuntimeWarning (on the CPU)
    d = sqrt(diagonal(c))
    c = c / reshape(d, (-1, 1))
    c = c / reshape(d, (1, -1))
    return clip(c, -1, 1)


# ------------------------------------------------------------------ counts and values
def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Tensor:
    """NumPy's ``bincount``: how often each value 0, 1, ..., max(x) occurs in the 1-d non-negative integer
    ``x`` (int64), or the sums of ``weights`` per value (float64, differentiable in the weights); at
    least ``minlength`` bins. The length is read on the host (refused while a CUDA graph is captured)."""
    op = "bincount"
    if isinstance(x, (list, tuple)) and not x:
        x = np.zeros(0, np.int64)  # NumPy takes an empty list for no integers (its float64 array it refuses)
    x = as_tensor(x, op)
    if x.dtype.kind not in "biu":
        raise DTypeError(f"{op}: x must be non-negative integers, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ShapeError(f"{op}: x must be 1-d, got shape {x.shape}")
    minlength = whole(minlength, op, "minlength", low=0)
    _refuse_in_capture(x, op)
    xd = private_copy(int64_indices(x._data, op, "value").astype(np.int64, copy=False), x._data)
    length = minlength
    if xd.size:
        low, high = int(xd.min()), int(xd.max())
        if low < 0:
            raise InvalidArgumentError(f"{op}: x must be non-negative, got {low}")
        length = max(length, high + 1)
    xp = x._backend.xp
    if weights is None:
        return Tensor._make(xp.bincount(xd, minlength=length).astype(np.int64, copy=False), x._backend)
    w = _tensors(op, x, weights)[1]
    if w.shape != x.shape:
        raise ShapeError(f"{op}: weights of shape {w.shape} for x of shape {x.shape}; they must match")
    return _scatter_add(astype(w, np.float64), (length,), (xd,))  # x was checked: no bounds check again


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Tensor:
    """NumPy's ``searchsorted``: for each value of ``v``, the index in the sorted 1-d ``a`` (or ``a[sorter]``)
    where it would be inserted to keep the order, before equal values (``side="left"``) or after them
    ("right"). int64, no gradient. A ``sorter``'s range is checked as index bounds are (on a GPU one
    device read, skipped while a CUDA graph is captured)."""
    op = "searchsorted"
    a, vt = _tensors(op, a, v)
    text(side, op, "side")
    if side not in ("left", "right"):
        raise InvalidArgumentError(f"{op}: side must be 'left' or 'right', got {side!r}")
    if a.ndim != 1:
        raise ShapeError(f"{op}: a must be 1-d, got shape {a.shape}")
    xp = a._backend.xp
    order = None
    if sorter is not None:
        s = as_tensor(sorter, op, a._backend)
        if s.dtype.kind not in "iu":
            raise DTypeError(f"{op}: sorter must be integers, got dtype {s.dtype}")
        if s.shape != a.shape:
            raise ShapeError(f"{op}: sorter of shape {s.shape} for a of shape {a.shape}; they must match")
        order = s._data
        # checked as index bounds are: on a GPU one device read, skipped while a CUDA graph is captured
        if order.size and host_read_allowed(order) and not (0 <= int(order.min()) and int(order.max()) < a.shape[0]):
            raise InvalidArgumentError(f"{op}: sorter indices must be in 0 to {a.shape[0] - 1}")
    data = xp.searchsorted(a._data, vt._data, side=side, sorter=order)
    return Tensor._make(xp.asarray(data).astype(np.int64, copy=False), a._backend)


def isinf(x: Any) -> Tensor:
    """NumPy's ``isinf``: True at +inf and -inf (a bool tensor; False everywhere for integers)."""
    x = _tensor(x, "isinf")
    xp = x._backend.xp
    if x.dtype.kind != "f":
        return Tensor._make(xp.zeros(x.shape, dtype=bool), x._backend)
    return Tensor._make(xp.isinf(x._data), x._backend)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """NumPy's ``isclose``: ``|a - b| <= atol + rtol * |b|`` elementwise (broadcast), infinities equal to
    themselves, NaNs equal to each other with ``equal_nan``. A bool tensor."""
    op = "isclose"
    rtol, atol = real(rtol, op, "rtol"), real(atol, op, "atol")
    equal_nan = flag(equal_nan, op, "equal_nan")
    if isinstance(a, SCALARS) and isinstance(b, Tensor):
        a = b._backend.xp.asarray(a, dtype=np.result_type(b.dtype, a))
    if isinstance(b, SCALARS) and isinstance(a, Tensor):
        b = a._backend.xp.asarray(b, dtype=np.result_type(a.dtype, b))
    at, bt = _tensors(op, a, b)
    try:
        np.broadcast_shapes(at.shape, bt.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {at.shape} and {bt.shape} do not broadcast together") from None
    xp = at._backend.xp
    with np.errstate(invalid="ignore", over="ignore"):
        data = xp.isclose(at._data, bt._data, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return Tensor._make(xp.asarray(data), at._backend)


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False,
           axis: int | None = None, *, equal_nan: bool = True, sorted: bool = True) -> Any:  # noqa: A002 - NumPy's
    """NumPy's ``unique``: the sorted unique elements (of the flattened tensor, or the unique slices along
    ``axis``), and on request the indices of their first occurrences, the inverse indices (x's shape for
    ``axis=None``) and the counts, as a tuple. Tensors without gradient. The size is read on the host
    (refused while a CUDA graph is captured); with ``axis`` on CuPy the work is done on the host.
    ``sorted`` is accepted as NumPy's, and the result is always sorted."""
    op = "unique"
    x = _tensor(ar, op)
    flags = [flag(v, op, n) for v, n in ((return_index, "return_index"), (return_inverse, "return_inverse"),
                                         (return_counts, "return_counts"))]  # fmt: skip
    equal_nan = flag(equal_nan, op, "equal_nan")
    flag(sorted, op, "sorted")
    _refuse_in_capture(x, op)
    backend = x._backend
    if axis is not None:
        if x.ndim == 0:
            normalize_axis(axis, 0, op)
            raise ShapeError(f"{op}: a 0-d tensor has no axis {axis}; use axis=None")
        axis = normalize_axis(axis, x.ndim, op)
    if axis is None and backend.xp is not np:
        result = backend.xp.unique(x._data, *flags, equal_nan=equal_nan)
    else:  # NumPy's, on the host (CuPy's unique along an axis sorts with a host read per comparison)
        host = x._data if type(x._data) is np.ndarray else backend.to_numpy(x._data)
        result = np.unique(host, *flags, axis=axis, equal_nan=equal_nan)
    parts = list(result) if isinstance(result, tuple) else [result]
    out = [Tensor._make(backend.asarray(p) if type(p) is np.ndarray and backend.xp is not np else p, backend)
           for p in parts]  # fmt: skip
    for i in range(1, len(out)):
        out[i] = Tensor._make(out[i]._data.astype(np.int64, copy=False), backend)
    if flags[1] and axis is None:  # the inverse has x's shape (NumPy 2)
        k = 1 + flags[0]
        out[k] = Tensor._make(out[k]._data.reshape(x.shape), backend)
    return out[0] if len(out) == 1 else tuple(out)


def histogram(a: Any, bins: Any = 10, range: Any = None, density: bool | None = None,  # noqa: A002 - NumPy's name
              weights: Any = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """NumPy's ``histogram``: the counts of ``a``'s (flattened) values in ``bins`` (a number of equal bins
    over ``range``, default the values' range; the edges; or one of NumPy's estimator names) and the bin
    edges. Counts are int64, the weights' dtype with ``weights``, float64 with ``density``. No gradient.
    On CuPy, CuPy's own histogram counts (estimator names are resolved on the host)."""
    op = "histogram"
    x = _tensor(a, op)
    backend = x._backend
    xp = backend.xp
    if x.dtype.kind not in "iuf":
        raise DTypeError(f"{op}: a must be real numbers, got dtype {x.dtype}")
    w = None
    if weights is not None:
        w = _tensors(op, x, weights)[1]
        if w.shape != x.shape:
            raise ShapeError(f"{op}: weights of shape {w.shape} for a of shape {x.shape}; they must match")
    if density is not None:
        density = flag(density, op, "density")
    if range is not None:
        try:
            lo, hi = (float(v) for v in range)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{op}: range must be a pair of numbers (low, high), got {range!r:.60}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise InvalidArgumentError(f"{op}: range must be finite with low <= high, got {range!r}")
        range = (lo, hi)
    if isinstance(bins, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}: bins must be an int, a sequence of edges or an estimator name, got {bins!r}")
    if type(bins) is np.ndarray and bins.ndim == 0 and bins.dtype.kind in "iu":
        bins = int(bins)  # a 0-d integer array is a number of bins, as NumPy
    edges_given = not isinstance(bins, (str, int, np.integer))
    if isinstance(bins, (int, np.integer)) and bins < 1:
        raise InvalidArgumentError(f"{op}: bins must be positive, got {bins}")
    if edges_given:
        bins = _tensors(op, x, bins)[1]._data  # a list as NumPy makes it (float64), not gk.tensor's float32
        if bins.ndim != 1 or bins.size < 2:
            raise ShapeError(f"{op}: bin edges must be 1-d with at least 2 of them, got shape {bins.shape}")
    wd = None if w is None else w._data
    try:
        if xp is np:
            counts, edges = np.histogram(x._data, bins, range, density, wd)
        else:
            if isinstance(bins, str):  # NumPy's estimators, on the host
                host_w = None if wd is None else backend.to_numpy(wd)
                bins = backend.asarray(np.histogram_bin_edges(backend.to_numpy(x._data), bins, range, host_w))
            counts, edges = xp.histogram(x._data, bins, range, density, wd)
    except ValueError as exc:
        raise InvalidArgumentError(f"{op}: {exc} (bins={bins!r:.40}, range={range!r})") from None
    if density:
        count_type = np.float64
    elif w is not None:
        count_type = w.dtype
    else:
        count_type = np.int64
    if not edges_given and xp is not np:  # NumPy's edge dtype: a's float dtype (float64 for integers)
        edges = edges.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)
    return Tensor._make(counts.astype(count_type, copy=False), backend), Tensor._make(edges, backend)


# ------------------------------------------------------------------ products and running totals skipping NaNs
def _nan_filled(a: Any, op: str, fill: float) -> Tensor:
    """``a`` with its NaNs replaced by ``fill``; their slope is 0. NumPy fills before a ``dtype=`` cast, so a
    float tensor reduced in an integer dtype has no NaN left to cast."""
    from gradkit.ops.elementwise import isnan

    x = _tensor(a, op)
    return where(isnan(x), fill, x) if x.dtype.kind == "f" else x


def nanprod(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    """NumPy's ``nanprod``: ``prod`` with NaNs taken as 1 (their gradient 0); a slice of NaNs only gives 1."""
    from gradkit.ops.reduce import prod

    op = "nanprod"
    x = _nan_filled(a, op, 1.0)
    axes = normalize_axes(axis, x.ndim, op)  # errors name nanprod, not prod
    return prod(x, axis=axes, keepdims=_keep(keepdims, op), dtype=_dtype_or_none(dtype, op))


def _dtype_or_none(dtype: Any, op: str) -> Any:
    from gradkit.dtypes import to_dtype

    return None if dtype is None else to_dtype(dtype, op)


def _nan_running(a: Any, axis: Any, dtype: Any, op: str, fill: float, fn: Any) -> Tensor:
    from gradkit.ops.reduce import _running_axis

    x, ax = _running_axis(_nan_filled(a, op, fill), axis, op)
    return fn(x, ax, _dtype_or_none(dtype, op))


def nancumsum(a: Any, axis: int | None = None, dtype: Any = None) -> Tensor:
    """NumPy's ``nancumsum``: ``cumsum`` with NaNs taken as 0 (their gradient 0); flattened when axis is None."""
    from gradkit.ops.reduce import cumsum

    return _nan_running(a, axis, dtype, "nancumsum", 0.0, cumsum)


def nancumprod(a: Any, axis: int | None = None, dtype: Any = None) -> Tensor:
    """NumPy's ``nancumprod``: ``cumprod`` with NaNs taken as 1 (their gradient 0); flattened when axis is None."""
    from gradkit.ops.reduce import cumprod

    return _nan_running(a, axis, dtype, "nancumprod", 1.0, cumprod)
