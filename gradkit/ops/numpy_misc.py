"""NumPy's creation, window, polynomial, histogram and type-query functions that ported code reaches for:
identity, tri, logspace, geomspace, diagflat, fromfunction, copy, astype; hanning, hamming, blackman,
bartlett, kaiser; polyder, polyint, polyadd, polysub, polymul, polydiv, polyfit, roots, poly;
cumulative_sum, cumulative_prod, matvec, vecmat, vecdot; histogram_bin_edges, histogram2d, histogramdd;
shape, ndim, size, isscalar, iterable, array_equal, array_equiv, result_type, promote_types, can_cast,
min_scalar_type, common_type, broadcast_shapes, shares_memory, may_share_memory, isdtype, issubdtype;
asarray_chkfinite, ascontiguousarray, asfortranarray, require, real_if_close.

The differentiable ones are composites of gradkit's recorded operations (``roots`` and a matrix's ``poly``
one recorded node each, NumPy's values computed on the host, whose rules are again made of them), so higher
derivatives come with them. The creation functions default to float32 as ``gk.linspace`` and ``gk.eye`` do
and take ``device=``; numbers and lists given to the other functions become arrays as NumPy makes them
(float64 for Python floats). Host reads happen only where the result's shape or a Python value depends on
the data, or where NumPy's eigenvalues are used; each docstring says where.
"""

from __future__ import annotations

import builtins
import math
import warnings
from typing import Any

import numpy as np

from gradkit._args import flag, no_out, real, whole
from gradkit.autograd.function import record
from gradkit.backends import get_backend
from gradkit.dtypes import default_float, to_dtype
from gradkit.errors import (
    ArgumentTypeError,
    DTypeError,
    GradkitError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.linalg import vecdot
from gradkit.ops._util import host_read_allowed, normalize_axis
from gradkit.ops.elementwise import log10, power, sqrt, where
from gradkit.ops.linalg import lstsq, matmul
from gradkit.ops.numpy_indexing import _host
from gradkit.ops.numpy_more import _as_numpy_value, _is_array, _tensor, _tensors, polyval, vander
from gradkit.ops.reduce import cumprod, cumsum
from gradkit.ops.reduce import sum as sum_
from gradkit.ops.shape import (
    astype as _astype,
)
from gradkit.ops.shape import (
    clone,
    concatenate,
    contiguous,
    diag,
    expand_dims,
    moveaxis,
    pad,
    reshape,
    stack,
    to_device,
    transpose,
)
from gradkit.tensor import Tensor

__all__ = [
    # creation
    "identity", "tri", "logspace", "geomspace", "diagflat", "fromfunction", "copy", "astype",
    # windows
    "hanning", "hamming", "blackman", "bartlett", "kaiser",
    # polynomials
    "polyder", "polyint", "polyadd", "polysub", "polymul", "polydiv", "polyfit", "roots", "poly",
    # running totals and products
    "cumulative_sum", "cumulative_prod", "matvec", "vecmat", "vecdot",
    # histograms
    "histogram_bin_edges", "histogram2d", "histogramdd",
    # queries
    "shape", "ndim", "size", "isscalar", "iterable", "array_equal", "array_equiv", "result_type", "promote_types",
    "can_cast", "min_scalar_type", "common_type", "broadcast_shapes", "shares_memory", "may_share_memory",
    "isdtype", "issubdtype",
    # conversions
    "asarray_chkfinite", "ascontiguousarray", "asfortranarray", "require", "real_if_close",
]  # fmt: skip


# ------------------------------------------------------------------ helpers
def _const(data: Any, backend: Any) -> Tensor:
    """A constant tensor (no gradient) from an array already on ``backend``."""
    return Tensor._make(data, backend)


def _on_backend(value: Any, op: str, backend: Any) -> Tensor:
    """``value`` as a tensor on ``backend``: a Tensor as it is (on another device: DeviceError), anything
    else as NumPy makes it (float64 for Python floats)."""
    from gradkit.ops._util import as_tensor

    return as_tensor(_as_numpy_value(value, op), op, backend)


def _backend_for(op: str, device: Any, *values: Any) -> Any:
    """The backend of the first Tensor among ``values``, else ``device``'s (the default device when None)."""
    first = next((v for v in values if isinstance(v, Tensor)), None)
    if first is not None:
        if device is not None and get_backend(device, op) is not first._backend:
            from gradkit.errors import DeviceError

            raise DeviceError(f"{op}: device={device!r} but the tensors given are on {first.device}")
        return first._backend
    return get_backend(device, op)


def _size(value: Any, op: str, name: str) -> int:
    """A matrix dimension: an int >= 0 (ShapeError below 0, as the other creation functions)."""
    if isinstance(value, (float, np.floating)):  # NumPy refuses 3.0 too
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = whole(value, op, name)
    if value < 0:
        raise ShapeError(f"{op}: {name} must be non-negative, got {value}")
    return value


def _leading(t: Tensor, op: str, name: str = "p") -> Tensor:
    """A 1-d coefficient tensor (``np.atleast_1d``); more dimensions are a ShapeError."""
    if t.ndim == 0:
        t = reshape(t, (1,))
    if t.ndim != 1:
        raise ShapeError(f"{op}: {name} must be a 1-d sequence of coefficients, got shape {t.shape}")
    return t


def _arange(backend: Any, start: Any, stop: Any, step: Any = 1, dtype: Any = np.int64) -> Tensor:
    from gradkit.creation import _on

    with _on(backend):
        return _const(backend.xp.arange(start, stop, step, dtype=dtype), backend)


def _zeros(backend: Any, shape: tuple, dtype: Any) -> Tensor:
    from gradkit.creation import _on

    with _on(backend):
        return _const(backend.xp.zeros(shape, dtype=dtype), backend)


def _ones(backend: Any, shape: tuple, dtype: Any) -> Tensor:
    from gradkit.creation import _on

    with _on(backend):
        return _const(backend.xp.ones(shape, dtype=dtype), backend)


def _grad_flag(t: Tensor, requires_grad: Any, op: str) -> Tensor:
    """``requires_grad=`` of a creation function: a new leaf is marked; a result already in a graph keeps it."""
    from gradkit.creation import _finish

    if requires_grad is False or t.requires_grad:
        flag(requires_grad, op, "requires_grad")
        return t
    return _finish(t._data, t._backend, requires_grad, op)


# ------------------------------------------------------------------ creation
def identity(n: Any, dtype: Any = None, *, device: Any = None, requires_grad: bool = False) -> Tensor:
    """NumPy's ``identity``: the ``n`` x ``n`` identity matrix; float32 by default, as ``gk.eye``."""
    from gradkit.creation import eye

    return eye(_size(n, "identity", "n"), dtype=dtype, device=device, requires_grad=requires_grad)


def tri(N: Any, M: Any = None, k: Any = 0, dtype: Any = None, *, device: Any = None,  # noqa: N803 - NumPy's names
        requires_grad: bool = False) -> Tensor:  # fmt: skip
    """NumPy's ``tri``: ones at and below diagonal ``k`` of an ``N`` x ``M`` matrix (M defaults to N), zeros
    elsewhere; float32 by default, as ``gk.eye``."""
    from gradkit.creation import _finish, _on

    op = "tri"
    n = _size(N, op, "N")
    m = n if M is None else _size(M, op, "M")
    k = whole(k, op, "k")
    dt = to_dtype(default_float if dtype is None else dtype, op)
    backend = get_backend(device, op)
    with _on(backend):
        data = backend.xp.tri(n, m, k, dtype=dt)
    return _finish(data, backend, requires_grad, op)


def _space_dtype(op: str, values: tuple) -> np.dtype:
    """linspace's float dtype for ``values`` (NumPy's: Python numbers are weak, arrays and tensors are not)."""
    for v in values:
        if isinstance(v, (str, bytes)) or v is None:  # a str would name a dtype to result_type
            raise ArgumentTypeError(f"{op}: start and stop must be numbers, lists of them or tensors, got "
                                    f"{type(v).__name__} {v!r:.40}")
    parts = [v.dtype if isinstance(v, Tensor) or _is_array(v) else v for v in values]
    parts = [np.asarray(p).dtype if isinstance(p, (list, tuple)) else p for p in parts]
    try:
        dt = np.result_type(*parts, 0.0)
    except TypeError as exc:
        raise ArgumentTypeError(f"{op}: start and stop must be numbers, lists of them or tensors ({exc})") from None
    if dt.kind not in "f":
        raise DTypeError(f"{op}: start and stop must be real numbers, got dtype {dt}")
    return dt


def _linspace(start: Tensor, stop: Tensor, num: int, endpoint: bool, dt: np.dtype) -> Tensor:
    """NumPy's linspace along a new axis 0 in NumPy's arithmetic (``k * step + start``, the last value
    ``stop``), differentiable in start and stop. A step of 0 (or denormal) takes NumPy's ``k / div *
    delta`` for that element (NumPy decides for the whole array at once)."""
    backend = start._backend
    start, stop = _astype(start, dt), _astype(stop, dt)
    delta = stop - start
    nd = delta.ndim
    div = num - 1 if endpoint else num
    k = reshape(_arange(backend, 0, num, 1, dt), (num,) + (1,) * nd)
    if div > 0:
        step = delta / div
        zero = step._data == 0
        if type(zero) is not np.ndarray:  # on a GPU: per element, nothing read back
            y = where(zero, (k / div) * delta, k * step)
        elif bool(zero.any()):  # NumPy's choice, for the whole array
            y = (k / div) * delta
        else:
            y = k * step
    else:
        y = k * delta
    y = y + start
    if endpoint and num > 1:
        y = concatenate([y[:-1], _broadcast_row(stop, (1,) + y.shape[1:])], axis=0)
    return y


def _space_args(op: str, num: Any, endpoint: Any, axis: Any) -> tuple[int, bool, int]:
    num = whole(num, op, "num")
    if num < 0:
        raise InvalidArgumentError(f"{op}: num must be non-negative, got {num}")
    return num, flag(endpoint, op, "endpoint"), whole(axis, op, "axis")


def _space_finish(y: Tensor, axis: int, dtype: Any, computed: np.dtype, any_array: bool, op: str,
                  requires_grad: Any) -> Tensor:  # fmt: skip
    if axis != 0:
        y = moveaxis(y, 0, normalize_axis(axis, y.ndim, op))
    if dtype is None:
        dtype = computed if any_array else default_float
    y = _astype(y, to_dtype(dtype, op))
    return _grad_flag(y, requires_grad, op)


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: Any = 10.0, dtype: Any = None,
             axis: int = 0, *, device: Any = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    """NumPy's ``logspace``: ``base ** linspace(start, stop, num)``, NumPy's arithmetic. Float32 by default
    from numbers (as ``gk.linspace``), NumPy's dtype from arrays and tensors; differentiable in start,
    stop and base when they are tensors."""
    op = "logspace"
    num, endpoint, axis = _space_args(op, num, endpoint, axis)
    any_array = any(isinstance(v, Tensor) or _is_array(v) for v in (start, stop, base))
    backend = _backend_for(op, device, start, stop, base)
    dt = _space_dtype(op, (start, stop))
    s, e = _on_backend(start, op, backend), _on_backend(stop, op, backend)
    b = base
    if not isinstance(base, (int, float)) or isinstance(base, bool):
        b = _on_backend(base, op, backend)
        if b.ndim:  # NumPy's: broadcast with start and stop, then a new axis at ``axis``
            nd = len(broadcast_shapes(s.shape, e.shape, b.shape))
            s, e, b = (reshape(t, (1,) * (nd - t.ndim) + t.shape) for t in (s, e, b))
            b = expand_dims(b, axis)
    y = _linspace(s, e, num, endpoint, dt)
    if axis != 0:
        y = moveaxis(y, 0, normalize_axis(axis, y.ndim, op))
    out = power(b, y)
    return _space_finish(out, 0, dtype, out.dtype, any_array, op, requires_grad)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None, axis: int = 0, *,
              device: Any = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    """NumPy's ``geomspace``: a geometric sequence from start to stop (NumPy's arithmetic, computed in
    float64 unless tensors or ``dtype`` say float32; the ends exactly start and stop; negative ends
    allowed). Float32 by default from numbers (as ``gk.linspace``), NumPy's dtype from arrays and
    tensors; differentiable in start and stop. A zero end raises InvalidArgumentError where the values
    are on the host (numbers, lists, NumPy arrays, CPU tensors); a GPU tensor is not read back for it."""
    op = "geomspace"
    num, endpoint, axis = _space_args(op, num, endpoint, axis)
    any_array = any(isinstance(v, Tensor) or _is_array(v) for v in (start, stop))
    backend = _backend_for(op, device, start, stop)
    for v in (start, stop):
        host = v._data if isinstance(v, Tensor) else v
        if (isinstance(host, np.ndarray) or not _is_array(host)) and np.any(np.asarray(host) == 0):  # no device read
            raise InvalidArgumentError(f"{op}: a geometric sequence cannot include zero (start={start!r:.40}, "
                                       f"stop={stop!r:.40})")
    s, e = _on_backend(start, op, backend), _on_backend(stop, op, backend)
    for t in (s, e):
        if t.dtype.kind not in "biuf":
            raise DTypeError(f"{op}: start and stop must be real numbers, got dtype {t.dtype}")
    ask = np.float64 if dtype is None else to_dtype(dtype, op)
    dt = np.result_type(s.dtype, e.dtype, 1.0, ask)  # NumPy's: zeros((), dtype) takes part, as an array
    s, e = _astype(s, dt), _astype(e, dt)
    out_sign = Tensor._make(backend.xp.sign(s._data), backend)  # constant: the sign has no slope
    s = s / out_sign
    e = e / out_sign
    y = power(10.0, _linspace(log10(s), log10(e), num, endpoint, dt))
    y = _astype(y, dt)
    if num > 0:
        shape1 = (1,) + y.shape[1:]
        parts = [_broadcast_row(s, shape1)]
        if num > 1:
            parts.append(y[1:-1] if endpoint else y[1:])
            if endpoint:
                parts.append(_broadcast_row(e, shape1))
        y = concatenate(parts, axis=0)
    y = y * out_sign
    if dtype is None and not any_array:
        dtype = default_float
    return _space_finish(y, axis, dtype, dt, True, op, requires_grad)


def _broadcast_row(t: Tensor, shape: tuple) -> Tensor:
    from gradkit.ops.shape import broadcast_to

    t = reshape(t, (1,) + t.shape)
    return t if t.shape == shape else broadcast_to(t, shape)


def diagflat(v: Any, k: Any = 0) -> Tensor:
    """NumPy's ``diagflat``: ``v`` flattened, as diagonal ``k`` of a square matrix; differentiable (the
    gradient is that diagonal of the incoming gradient)."""
    t = _tensor(v, "diagflat")
    return diag(reshape(t, (-1,)), whole(k, "diagflat", "k"))


def fromfunction(function: Any, shape: Any, *, dtype: Any = None, device: Any = None, **kwargs: Any) -> Any:
    """NumPy's ``fromfunction``: ``function(*grids, **kwargs)`` with one index grid per axis of ``shape``
    (tensors of ``dtype``, float32 by default as the creation functions; NumPy's is float64), returned as
    the function returns it; gradkit functions on the grids give tensors."""
    from gradkit.creation import _on
    from gradkit.ops._util import shape_arg

    op = "fromfunction"
    if not callable(function):
        raise ArgumentTypeError(f"{op}: function must be callable, got {type(function).__name__}")
    dims = shape_arg((shape,) if not isinstance(shape, (tuple, list)) else tuple(shape), op)
    if any(d < 0 for d in dims):
        raise ShapeError(f"{op}: negative dimension in shape {dims}")
    dt = to_dtype(default_float if dtype is None else dtype, op)
    backend = get_backend(device, op)
    with _on(backend):
        grids = backend.xp.indices(dims, dtype=dt)
    return function(*(_const(grids[i], backend) for i in range(len(dims))), **kwargs)


_ORDERS = ("K", "A", "C", "F")


def _order(order: Any, op: str, allowed: tuple = _ORDERS) -> None:
    if order is None:
        return
    if not isinstance(order, str):
        raise ArgumentTypeError(f"{op}: order must be a str, one of {allowed}, got {type(order).__name__} "
                                f"{order!r:.40}")
    if order.upper() not in allowed:
        raise InvalidArgumentError(f"{op}: order must be one of {allowed}, got {order!r:.40}")


def copy(a: Any, order: str = "K", subok: bool = False) -> Tensor:
    """NumPy's ``copy``: a new tensor with memory of its own (``clone``: the gradient passes through).
    gradkit's tensors are C-ordered: every ``order`` gives a C-ordered copy. ``subok`` is accepted."""
    _order(order, "copy")
    flag(subok, "copy", "subok")
    t = _tensor(a, "copy")
    if isinstance(a, Tensor) or _is_array(a):
        return clone(t)
    return t  # made from a list or number: already a new array


def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
    """NumPy's (2.1) ``astype`` function: ``x`` converted to ``dtype`` (the gradient converted back);
    ``copy=False`` returns ``x`` itself when nothing changes; ``device=`` moves the result there."""
    op = "astype"
    t = _tensor(x, op)
    dt = to_dtype(dtype, op)
    copy = flag(copy, op, "copy")
    out = _astype(t, dt)
    if device is not None:
        out = to_device(out, device)
    if copy and out is t and (isinstance(x, Tensor) or _is_array(x)):
        out = clone(t)
    return out


# ------------------------------------------------------------------ windows
_WINDOWS = {  # NumPy's formulas, over n = arange(1 - M, M, 2) and m1 = M - 1, in float64
    "hanning": lambda xp, n, m1: 0.5 + 0.5 * xp.cos(np.pi * n / m1),
    "hamming": lambda xp, n, m1: 0.54 + 0.46 * xp.cos(np.pi * n / m1),
    "blackman": lambda xp, n, m1: 0.42 + 0.5 * xp.cos(np.pi * n / m1) + 0.08 * xp.cos(2.0 * np.pi * n / m1),
    "bartlett": lambda xp, n, m1: xp.where(n <= 0, 1 + n / m1, 1 - n / m1),
}
_WINDOW_NAMES = {"hanning": "Hann", "hamming": "Hamming", "blackman": "Blackman", "bartlett": "Bartlett (triangular)"}


def _window_length(M: Any, op: str) -> float:  # noqa: N803 - NumPy's name
    return real(M, op, "M")


def _make_window(name: str) -> Any:
    formula = _WINDOWS[name]

    def window(M: Any, *, device: Any = None) -> Tensor:  # noqa: N803 - NumPy's name
        from gradkit.creation import _on

        m = _window_length(M, name)
        backend = get_backend(device, name)
        xp = backend.xp
        with _on(backend):
            if m < 1:
                data = xp.zeros((0,), dtype=np.float64)
            elif m == 1:
                data = xp.ones((1,), dtype=np.float64)
            else:
                data = formula(xp, xp.arange(1 - m, m, 2, dtype=np.float64), m - 1)
        return _const(data, backend)

    window.__name__ = window.__qualname__ = name
    window.__module__ = __name__
    window.__doc__ = (f"NumPy's ``{name}``: the {_WINDOW_NAMES[name]} window of ``M`` points (float64, NumPy's "
                      "formula; empty for M < 1), made on ``device``. No gradient (M is a count).")
    return window


hanning = _make_window("hanning")
hamming = _make_window("hamming")
blackman = _make_window("blackman")
bartlett = _make_window("bartlett")


def kaiser(M: Any, beta: Any, *, device: Any = None) -> Tensor:  # noqa: N803 - NumPy's name
    """NumPy's ``kaiser``: the Kaiser window ``i0(beta * sqrt(1 - ((n - a) / a)**2)) / i0(beta)``, ``a =
    (M - 1) / 2``, float64 as NumPy; differentiable in ``beta`` (a number or a 0-d tensor, whose device
    it takes)."""
    from gradkit.creation import _on
    from gradkit.ops.special_bessel import i0

    op = "kaiser"
    m = _window_length(M, op)
    backend = _backend_for(op, device, beta)
    b = _on_backend(beta, op, backend)
    if b.ndim != 0:
        raise ShapeError(f"{op}: beta must be a number or a 0-d tensor, got shape {b.shape}")
    if b.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: beta must be a real number, got dtype {b.dtype}")
    b = _astype(b, np.float64)
    if m == 1:
        return _ones(backend, (1,), np.float64)
    xp = backend.xp
    with _on(backend):
        n = xp.arange(0, m, dtype=np.float64)
    alpha = (m - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        c = xp.sqrt(1 - ((n - alpha) / alpha) ** 2.0)
    return i0(b * _const(c, backend)) / i0(b)


# ------------------------------------------------------------------ polynomials
def _order_and_coefficients(op: str, m: Any, p: Any, what: str) -> tuple[int, Tensor]:
    """``polyder``'s and ``polyint``'s order ``m`` (an int >= 0) and coefficients ``p`` (a 1-d tensor)."""
    m = whole(m, op, "m")
    if m < 0:
        raise InvalidArgumentError(f"{op}: the order of the {what} must be >= 0, got {m}")
    t = _tensor(p, op)
    if t.ndim != 1:
        raise ShapeError(f"{op}: p must be a 1-d sequence of coefficients, got shape {t.shape}")
    return m, t


def polyder(p: Any, m: Any = 1) -> Tensor:
    """NumPy's ``polyder``: the ``m``-th derivative of the polynomial ``p`` (highest power first);
    differentiable in ``p``."""
    op = "polyder"
    m, t = _order_and_coefficients(op, m, p, "derivative")
    for _ in range(m):
        n = t.shape[0] - 1
        t = t[:-1] * _arange(t._backend, n, 0, -1)
    return t


def polyint(p: Any, m: Any = 1, k: Any = None) -> Tensor:
    """NumPy's ``polyint``: the ``m``-th antiderivative of ``p``, with integration constants ``k`` (one
    number for all, or ``m`` of them, the first used first; zeros by default); differentiable in ``p``
    and ``k``."""
    op = "polyint"
    m, t = _order_and_coefficients(op, m, p, "antiderivative")
    backend = t._backend
    if k is None:
        kt = _zeros(backend, (m,), np.float64)
    else:
        kt = _leading(_tensors(op, t, k)[1], op, "k")
        if kt.shape[0] == 1 and m > 1:
            kt = kt[0] * _ones(backend, (m,), np.float64)
    if kt.shape[0] < m:
        raise InvalidArgumentError(f"{op}: k must be a number or a sequence of length 1 or >= m ({m}), got "
                                   f"length {kt.shape[0]}")
    for i in range(m):
        q = t / _arange(backend, t.shape[0], 0, -1)
        c = reshape(kt[i], (1,))
        dt = np.result_type(q.dtype, c.dtype)
        t = concatenate([_astype(q, dt), _astype(c, dt)])
    return t


def _pair_1d(op: str, a1: Any, a2: Any) -> tuple[Tensor, Tensor]:
    x, y = _tensors(op, a1, a2)
    return _leading(x, op, "a1"), _leading(y, op, "a2")


def _padded(a: Tensor, n: int) -> Tensor:
    """``a`` with ``n`` zeros (of its dtype) in front."""
    return a if n <= 0 else concatenate([_zeros(a._backend, (n,), a.dtype), a])


def polyadd(a1: Any, a2: Any) -> Tensor:
    """NumPy's ``polyadd``: the sum of two polynomials (the shorter padded with leading zeros)."""
    x, y = _pair_1d("polyadd", a1, a2)
    n = y.shape[0] - x.shape[0]
    return _padded(x, n) + _padded(y, -n)


def polysub(a1: Any, a2: Any) -> Tensor:
    """NumPy's ``polysub``: ``a1 - a2`` as polynomials (the shorter padded with leading zeros)."""
    x, y = _pair_1d("polysub", a1, a2)
    n = y.shape[0] - x.shape[0]
    return _padded(x, n) - _padded(y, -n)


def _poly1d(t: Tensor) -> Tensor:
    """The coefficients NumPy's ``poly1d`` keeps: leading zeros dropped (only zeros: one 0). One host
    read of which coefficients are zero (a device read on a GPU; skipped while a CUDA graph is
    captured). The dropped zeros get no gradient; an all-zero ``t`` keeps its last one."""
    n = t.shape[0]
    if not host_read_allowed(t._data):
        return t
    nonzero = np.flatnonzero(t._backend.to_numpy(t._data != 0))
    lead = int(nonzero[0]) if nonzero.size else n - 1
    return t[lead:] if lead else t


def polymul(a1: Any, a2: Any) -> Tensor:
    """NumPy's ``polymul``: the product of two polynomials (the convolution of their coefficients).
    Leading zero coefficients are dropped first, as NumPy's (through its ``poly1d``; an all-zero
    polynomial is 0), so they get no gradient: one host read per factor (a device read on a GPU), since
    they set the result's length."""
    from gradkit.ops.numpy_more import convolve

    x, y = _pair_1d("polymul", a1, a2)
    if x.shape[0] == 0 or y.shape[0] == 0:  # NumPy takes an empty one for 0
        raise ShapeError(f"polymul: the polynomials must have coefficients, got lengths {x.shape[0]} and "
                         f"{y.shape[0]}")
    return convolve(_poly1d(x), _poly1d(y))


def polydiv(u: Any, v: Any) -> tuple[Tensor, Tensor]:
    """NumPy's ``polydiv``: quotient and remainder of ``u / v``, NumPy's long division (same arithmetic, so
    the same values); differentiable in both. The remainder's leading coefficients within 1e-8 of 0 are
    dropped, as NumPy's: one host read of the remainder (a device read on a GPU)."""
    op = "polydiv"
    x, y = _pair_1d(op, u, v)
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ShapeError(f"{op}: the polynomials must have coefficients, got lengths {x.shape[0]} and {y.shape[0]}")
    x = _astype(x, np.result_type(x.dtype, 0.0)) + 0.0  # NumPy's ``+ 0.0`` (-0.0 becomes 0.0)
    y = _astype(y, np.result_type(y.dtype, 0.0)) + 0.0
    w = np.result_type(x.dtype, y.dtype)
    m, n = x.shape[0] - 1, y.shape[0] - 1
    scale = 1.0 / y[0]
    r = _astype(x, w)
    qs = []
    for k in range(m - n + 1):
        d = scale * r[k]
        qs.append(d)
        r = r - pad(d * y, (k, m - n - k))
    q = _astype(stack(qs), w) if qs else _zeros(x._backend, (1,), w)
    values = _host(r, op)  # the one read, refused inside a CUDA graph capture
    lead = 0
    while lead < r.shape[0] - 1 and abs(values[lead]) <= 1e-8:  # NaN stops it, as NumPy's allclose
        lead += 1
    return q, (r[lead:] if lead else r)


def polyfit(x: Any, y: Any, deg: Any, rcond: Any = None, full: bool = False, w: Any = None, cov: Any = False) -> Any:
    """NumPy's ``polyfit``: the least-squares polynomial of degree ``deg`` through ``(x, y)`` (y 1-d, or
    2-d for several fits), weights ``w`` on the residuals, NumPy's column scaling and ``rcond``
    (``len(x) * eps``). Returns the coefficients (highest power first); with ``full``, NumPy's ``(c,
    residuals, rank, singular_values, rcond)`` (rank a 0-d int32 tensor: ``int(rank)`` reads it); with
    ``cov`` (True or "unscaled"), ``(c, covariance)``. Differentiable in y, x and w (through
    ``linalg.lstsq``, where the rank does not change; the residuals too). NumPy's RankWarning for a
    rank-deficient fit is given on the CPU only: on a GPU the rank is not read back."""
    op = "polyfit"
    deg = whole(deg, op, "deg")
    if deg < 0:
        raise InvalidArgumentError(f"{op}: expected deg >= 0, got {deg}")
    full = flag(full, op, "full")
    if isinstance(cov, str):
        if cov != "unscaled":
            raise InvalidArgumentError(f"{op}: cov must be True, False or 'unscaled', got {cov!r:.40}")
    else:
        cov = flag(cov, op, "cov")
    order = deg + 1
    xt, yt = _tensors(op, x, y)
    xt = _astype(xt, np.result_type(xt.dtype, 0.0))
    yt = _astype(yt, np.result_type(yt.dtype, 0.0))
    if xt.ndim != 1:
        raise ShapeError(f"{op}: expected a 1-d x, got shape {xt.shape}")
    if xt.shape[0] == 0:
        raise ShapeError(f"{op}: expected a non-empty x")
    if yt.ndim not in (1, 2):
        raise ShapeError(f"{op}: expected a 1-d or 2-d y, got shape {yt.shape}")
    if xt.shape[0] != yt.shape[0]:
        raise ShapeError(f"{op}: x of length {xt.shape[0]} and y of length {yt.shape[0]}; they must match")
    n = xt.shape[0]
    rc = n * np.finfo(xt.dtype).eps if rcond is None else real(rcond, op, "rcond")  # NumPy's: a NumPy scalar
    lhs = vander(xt, order)
    rhs = yt
    if w is not None:
        wt = _tensors(op, xt, w)[1]
        wt = _astype(wt, np.result_type(wt.dtype, 0.0))
        if wt.ndim != 1:
            raise ShapeError(f"{op}: expected 1-d weights, got shape {wt.shape}")
        if wt.shape[0] != n:
            raise ShapeError(f"{op}: {wt.shape[0]} weights for {n} points; they must match")
        lhs = _astype(lhs * reshape(wt, (n, 1)), lhs.dtype)  # NumPy's in-place ``*=``: the dtype stays
        rhs = _astype(rhs * (reshape(wt, (n, 1)) if rhs.ndim == 2 else wt), rhs.dtype)
    scale = sqrt(sum_(lhs * lhs, 0))
    lhs = lhs / scale
    c, resids, rank, s = lstsq(lhs, rhs, rc)
    if resids.shape[0]:  # NumPy's residuals, recomputed in the graph (their gradient too)
        e = rhs - matmul(lhs, c)
        resids = _astype(reshape(sum_(e * e, 0), resids.shape), resids.dtype)
    c = c / scale if c.ndim == 1 else c / reshape(scale, (order, 1))
    if not full and type(rank._data) is np.ndarray and int(rank._data) != order:
        rank_warning = getattr(getattr(np, "exceptions", np), "RankWarning", RuntimeWarning)
        warnings.warn("Polyfit may be poorly conditioned", rank_warning, stacklevel=2)
    if full:
        return c, resids, rank, s, rc
    if cov is False:
        return c
    from gradkit.ops.linalg import inv
    from gradkit.ops.linalg import outer as outer_

    vbase = inv(matmul(transpose(lhs), lhs)) / outer_(scale, scale)
    if yt.ndim == 2:
        vbase = reshape(vbase, (order, order, 1))
    if cov == "unscaled":
        return c, vbase
    if n <= order:
        raise InvalidArgumentError(f"{op}: the number of data points ({n}) must exceed order ({order}) to scale the "
                                   "covariance matrix (cov='unscaled' does not scale it)")
    fac = resids / (n - order)
    return c, vbase * fac


def _eigen_call(fn: Any, host: np.ndarray, op: str) -> np.ndarray:
    """``fn(host)`` for ``np.roots`` and ``np.poly`` (eigenvalues underneath), NumPy's errors as gradkit's."""
    from gradkit.ops.linalg import LinAlgError

    try:
        return fn(host)
    except np.linalg.LinAlgError as exc:
        raise LinAlgError(f"{op}: the eigenvalues did not converge ({exc})") from None
    except TypeError as exc:  # float16: NumPy's linalg refuses it
        raise DTypeError(f"{op}: {exc}") from None


def roots(p: Any) -> Tensor:
    """NumPy's ``roots``: the roots of the polynomial ``p`` (highest power first), the eigenvalues of its
    companion matrix, computed on the host by NumPy (one device read on a GPU: the number of roots
    depends on p's zeros). gradkit has no complex dtypes: complex roots raise InvalidArgumentError.
    Differentiable in p at simple roots, ``dr/dp_k = -r**(N-k) / p'(r)`` (infinite at a repeated root);
    leading zeros of p get no gradient."""
    op = "roots"
    t = _tensor(p, op)
    if t.ndim != 1:
        raise ShapeError(f"{op}: p must be a 1-d sequence of coefficients, got shape {t.shape}")
    if t.dtype.kind not in "iuf":
        raise DTypeError(f"{op}: p must be real numbers, got dtype {t.dtype}")
    backend = t._backend
    host = _host(t, op)  # the read (refused inside a CUDA graph capture)
    out = _eigen_call(np.roots, host, op)
    if out.dtype.kind == "c":
        worst = float(np.abs(out.imag).max())
        raise InvalidArgumentError(
            f"{op}: the polynomial has complex roots (an imaginary part of {worst:.3g}; a repeated real root can "
            "come out as a complex pair too), and gradkit has no complex dtypes; np.roots(p.numpy()) gives them"
        )
    nonzero = np.flatnonzero(host)
    lead = int(nonzero[0]) if nonzero.size else host.shape[0]
    from gradkit.creation import _on

    with _on(backend):
        data = backend.asarray(out)
    if t.dtype.kind != "f" or out.shape[0] == 0:
        return _const(data, backend)
    return record(op, data, backend, (t,), (_roots_vjp,), (t, lead), save_output=True)


def _roots_vjp(g: Tensor, p: Tensor, lead: int, r: Tensor) -> Tensor:
    q = p[lead:]
    deg = q.shape[0] - 1
    slope = polyval(polyder(q), r)
    gq = matmul(transpose(vander(r, deg + 1)), -g / slope)
    return _astype(_padded(gq, lead), p.dtype)


def poly(seq_of_zeros: Any) -> Tensor:
    """NumPy's ``poly``: the coefficients (highest power first, leading 1) of the polynomial with the
    given roots, or, for a square matrix, its characteristic polynomial. The roots' polynomial is NumPy's
    product of ``(x - z)`` factors, in the graph. A matrix's is NumPy's own (from its eigenvalues, on the
    host: one device read on a GPU), NumPy's values in its dtype, with the gradient of ``det(xI - A)``:
    coefficient ``k``'s slope in A is ``-B[k-1].T``, the adjugate's coefficients ``B[0] = I, B[k] = A
    B[k-1] + c[k] I`` (made of recorded operations, so higher derivatives come with it). Differentiable.
    No roots give a 0-d float64 tensor 1.0 (NumPy's Python float)."""
    op = "poly"
    t = _tensor(seq_of_zeros, op)
    if t.ndim == 0:
        t = reshape(t, (1,))
    backend = t._backend
    if t.ndim == 2 and t.shape[0] == t.shape[1] and t.shape[0] != 0:
        if t.dtype == np.float16:
            raise DTypeError(f"{op}: float16 matrices are not supported (NumPy's linalg refuses them too)")
        dt = np.dtype(np.float32) if t.dtype == np.float32 else np.dtype(np.float64)
        return _characteristic(_astype(t, dt), op)
    if t.ndim != 1:
        raise ShapeError(f"{op}: input must be 1-d or a non-empty square 2-d tensor, got shape {t.shape}")
    if t.shape[0] == 0:
        return _ones(backend, (), np.float64)
    dt = t.dtype if t.dtype in (np.float32, np.float64) else np.dtype(np.float64)  # NumPy's mintypecode
    t = _astype(t, dt)
    a = _ones(backend, (1,), dt)
    zero = _zeros(backend, (1,), dt)
    for i in range(t.shape[0]):  # NumPy's convolve(a, [1, -z]): a[j] - z * a[j-1], the leading 1 kept (z inf/NaN)
        a = concatenate([a, zero]) - concatenate([zero, a * t[i]])
    return a


def _characteristic(a: Tensor, op: str) -> Tensor:
    """The characteristic polynomial's coefficients of a square float32/float64 matrix, NumPy's values
    (``np.poly`` of the host copy: the eigenvalues' product, far more accurate than a recurrence in A for
    more than a few rows), recorded with :func:`_characteristic_vjp`."""
    from gradkit.creation import _on

    backend = a._backend
    c = _eigen_call(np.poly, _host(a, op), op)  # the read (refused inside a CUDA graph capture)
    c = np.ascontiguousarray(np.real(c), dtype=a.dtype)  # a real matrix's eigenvalues come in conjugate pairs
    with _on(backend):
        data = backend.asarray(c)
    return record(op, data, backend, (a,), (_characteristic_vjp,), (a,), save_output=True)


def _characteristic_vjp(g: Tensor, a: Tensor, c: Tensor) -> Tensor:
    """``-sum_k g[k] B[k-1].T`` for ``c[k]`` (k >= 1; c[0] = 1 is constant), ``B`` the adjugate's
    coefficients: ``adj(xI - A) = sum_k B[k] x**(n-1-k)``, ``B[0] = I``, ``B[k] = A B[k-1] + c[k] I``."""
    from gradkit.creation import _on

    n = a.shape[0]
    with _on(a._backend):
        eye = _const(a._backend.xp.eye(n, dtype=a.dtype), a._backend)
    b = eye
    total = eye * g[1]
    for k in range(2, n + 1):
        b = matmul(a, b) + eye * c[k - 1]
        total = total + b * g[k]
    return -transpose(total)


# ------------------------------------------------------------------ running totals and products
def _cumulative(op: str, x: Any, axis: Any, dtype: Any, out: Any, include_initial: Any) -> Tensor:
    no_out(out, op, f"gk.{op}")
    t = _tensor(x, op)
    include_initial = flag(include_initial, op, "include_initial")
    if t.ndim == 0:
        t = reshape(t, (1,))
    if axis is None:
        if t.ndim > 1:
            raise InvalidArgumentError(f"{op}: axis must be given for a tensor of more than one dimension "
                                       f"(shape {t.shape})")
        axis = 0
    ax = normalize_axis(axis, t.ndim, op)
    y = (cumsum if op == "cumulative_sum" else cumprod)(t, ax, dtype)
    if not include_initial:
        return y
    first = (_zeros if op == "cumulative_sum" else _ones)(t._backend, y.shape[:ax] + (1,) + y.shape[ax + 1:], y.dtype)
    return concatenate([first, y], axis=ax)


def cumulative_sum(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
                   include_initial: bool = False) -> Tensor:  # fmt: skip
    """NumPy's (2.1) ``cumulative_sum``: running sums along ``axis`` (required beyond 1-d), a leading 0
    with ``include_initial``; dtypes and gradient as ``cumsum``'s."""
    return _cumulative("cumulative_sum", x, axis, dtype, out, include_initial)


def cumulative_prod(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
                    include_initial: bool = False) -> Tensor:  # fmt: skip
    """NumPy's (2.1) ``cumulative_prod``: running products along ``axis`` (required beyond 1-d), a leading
    1 with ``include_initial``; dtypes and gradient as ``cumprod``'s (exact where x has zeros)."""
    return _cumulative("cumulative_prod", x, axis, dtype, out, include_initial)


def matvec(x1: Any, x2: Any, /) -> Tensor:
    """NumPy's (2.2) ``matvec``: matrices (..., M, N) times vectors (..., N), batch axes broadcast; a
    matmul, differentiable."""
    op = "matvec"
    a, b = _tensors(op, x1, x2)
    if a.ndim < 2 or b.ndim < 1 or a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"{op}: expected matrices (..., M, N) and vectors (..., N), got shapes {a.shape} and "
                         f"{b.shape}")
    _batch(op, a.shape[:-2], b.shape[:-1], a.shape, b.shape)
    return matmul(a, reshape(b, b.shape + (1,)))[..., 0]


def vecmat(x1: Any, x2: Any, /) -> Tensor:
    """NumPy's (2.2) ``vecmat``: vectors (..., N) times matrices (..., N, M), batch axes broadcast (real
    values: no conjugate to take); a matmul, differentiable."""
    op = "vecmat"
    a, b = _tensors(op, x1, x2)
    if a.ndim < 1 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"{op}: expected vectors (..., N) and matrices (..., N, M), got shapes {a.shape} and "
                         f"{b.shape}")
    _batch(op, a.shape[:-1], b.shape[:-2], a.shape, b.shape)
    return matmul(reshape(a, a.shape[:-1] + (1, a.shape[-1])), b)[..., 0, :]


def _batch(op: str, s1: tuple, s2: tuple, full1: tuple, full2: tuple) -> None:
    try:
        np.broadcast_shapes(s1, s2)
    except ValueError:
        raise ShapeError(f"{op}: the batch axes of shapes {full1} and {full2} do not broadcast") from None


# ------------------------------------------------------------------ histograms
def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None, weights: Any = None) -> Tensor:  # noqa: A002
    """NumPy's ``histogram_bin_edges``: the edges :func:`histogram` would use (a number of bins, edges, or
    one of NumPy's estimator names, resolved on the host); no gradient. On a GPU, as ``histogram``."""
    op = "histogram_bin_edges"
    t = _tensor(a, op)
    if type(t._data) is not np.ndarray:
        from gradkit.ops.numpy_stats import histogram

        _tensors(op, t, *(v for v in (weights, bins) if isinstance(v, Tensor)))  # a DeviceError names this op
        try:
            return histogram(t, bins, range, None, weights)[1]
        except TypeError as exc:  # NumPy's own (an estimator's name with weights), raised on the host copy
            if isinstance(exc, GradkitError):
                raise
            raise _numpy_error(op, exc, bins, range) from None
    wd = None if weights is None else _tensors(op, t, weights)[1]._data
    if isinstance(bins, Tensor) or isinstance(bins, (list, tuple)):
        bins = _tensors(op, t, bins)[1]._data
    try:
        edges = np.histogram_bin_edges(t._data, bins, range, wd)
    except (ValueError, TypeError) as exc:
        raise _numpy_error(op, exc, bins, range) from None
    return _const(edges, t._backend)


def _numpy_error(op: str, exc: Exception, bins: Any, rng: Any) -> Exception:
    """NumPy's ValueError as InvalidArgumentError, its TypeError (a float number of bins, weights with an
    estimator's name) as ArgumentTypeError, naming the op and the arguments."""
    cls = ArgumentTypeError if isinstance(exc, TypeError) else InvalidArgumentError
    return cls(f"{op}: {exc} (bins={bins!r:.60}, range={rng!r:.60})")


def histogramdd(sample: Any, bins: Any = 10, range: Any = None, density: Any = None,  # noqa: A002 - NumPy's name
                weights: Any = None) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
    """NumPy's ``histogramdd``: counts of the D-dimensional points of ``sample`` ((N, D), or a sequence
    of D coordinate arrays) in bins (a number for all axes, one per axis, or edge arrays), ``(H,
    edges)``. H is float64 as NumPy's; no gradient. On a GPU, CuPy's histogramdd (it reads the device
    for the data's range and the edges' order)."""
    return _histogramdd("histogramdd", sample, bins, range, density, weights)


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Any = None, density: Any = None,  # noqa: A002
                weights: Any = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """NumPy's ``histogram2d``: the 2-d histogram of the points ``(x, y)``, ``(H, xedges, yedges)`` (bins
    as :func:`histogramdd`'s, or one edge array for both axes); no gradient."""
    op = "histogram2d"
    xt, yt = _tensors(op, x, y)
    if xt.ndim != 1 or yt.ndim != 1 or xt.shape[0] != yt.shape[0]:
        raise ShapeError(f"{op}: x and y must be 1-d of the same length, got shapes {xt.shape} and {yt.shape}")
    try:
        nbins = len(bins)
    except TypeError:
        nbins = 1
    if nbins not in (1, 2):
        bins = [bins, bins]
    h, edges = _histogramdd(op, [xt, yt], bins, range, density, weights)
    return h, edges[0], edges[1]


def _histogramdd(op: str, sample: Any, bins: Any, range: Any, density: Any, weights: Any) -> tuple:  # noqa: A002
    if isinstance(sample, (list, tuple)):
        coords = _tensors(op, *sample)
        for c in coords:
            if c.ndim != 1 or c.shape != coords[0].shape:
                raise ShapeError(f"{op}: the coordinate arrays must be 1-d of one length, got shapes "
                                 f"{[c.shape for c in coords]}")
        pts = stack(coords, axis=-1) if coords else None
        if pts is None:
            raise ShapeError(f"{op}: the sample has no coordinates")
    else:
        pts = _tensor(sample, op)
        if pts.ndim == 1:
            pts = reshape(pts, (pts.shape[0], 1))
        if pts.ndim != 2:
            raise ShapeError(f"{op}: the sample must be (N, D) points or a sequence of D coordinate arrays, got "
                             f"shape {pts.shape}")
    if pts.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: the sample must be real numbers, got dtype {pts.dtype}")
    backend = pts._backend
    xp = backend.xp
    d = pts.shape[1]
    if density is not None:
        density = flag(density, op, "density")
    wd = None
    if weights is not None:
        wt = _tensors(op, pts, weights)[1]
        if wt.shape != (pts.shape[0],):
            raise ShapeError(f"{op}: weights of shape {wt.shape} for {pts.shape[0]} points")
        wd = wt._data
    if isinstance(bins, Tensor) or isinstance(bins, (list, tuple)) and any(np.ndim(b) for b in bins):
        items = list(bins) if not isinstance(bins, Tensor) else [bins[i] for i in builtins.range(bins.shape[0])]
        bins = [b if np.ndim(b) == 0 and not isinstance(b, Tensor) else _tensors(op, pts, b)[1]._data for b in items]
    try:
        if xp is np:
            h, edges = np.histogramdd(pts._data, bins, range, density, wd)
        else:
            h, edges = _device_histogramdd(xp, pts._data, bins, range, density, wd, d)
    except (ValueError, TypeError) as exc:
        raise _numpy_error(op, exc, bins, range) from None
    return _const(h.astype(np.float64, copy=False), backend), [_const(e, backend) for e in edges]


def _device_histogramdd(xp: Any, pts: Any, bins: Any, rng: Any, density: Any, wd: Any, d: int) -> tuple:
    """CuPy's histogramdd, with NumPy's edge dtypes: given edges keep theirs; edges from a range or from
    no data are float64; from the data, the sample's float dtype (float64 for integers)."""
    per_axis = bins if isinstance(bins, (list, tuple)) else [bins] * d
    if len(per_axis) != d:
        raise ValueError(f"the dimension of bins ({len(per_axis)}) must be that of the sample ({d})")
    if rng is not None and len(rng) != d:
        raise ValueError("range argument must have one entry per dimension")
    h, edges = xp.histogramdd(pts, bins=per_axis, range=rng, weights=wd, density=bool(density))
    fixed = []
    for i, e in enumerate(edges):
        if np.ndim(per_axis[i]) == 1:
            want = per_axis[i].dtype
        elif (rng is not None and rng[i] is not None) or pts.shape[0] == 0:
            want = np.dtype(np.float64)
        else:  # NumPy's linspace between two of the sample's scalars (the installed NumPy's promotion rules)
            zero = pts.dtype.type(0)
            want = np.linspace(zero, zero, 2).dtype
        fixed.append(e.astype(want, copy=False))
    return h, fixed


# ------------------------------------------------------------------ queries (Python values, no tensors)
def shape(a: Any) -> tuple:
    """NumPy's ``shape``: the shape of a tensor, array, list or number, as a tuple."""
    return a.shape if isinstance(a, Tensor) else np.shape(a)


def ndim(a: Any) -> int:
    """NumPy's ``ndim``: the number of dimensions of a tensor, array, list or number."""
    return a.ndim if isinstance(a, Tensor) else np.ndim(a)


def size(a: Any, axis: Any = None) -> int:
    """NumPy's ``size``: the number of elements (along ``axis``: an int, or a tuple in NumPy 2.4's way)."""
    dims = a.shape if isinstance(a, Tensor) else np.shape(a)
    if axis is None:
        return math.prod(dims)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    from gradkit.ops.numpy_more import _axis_of

    picked = [_axis_of(ax, len(dims), "size") for ax in axes]
    if len(set(picked)) != len(picked):
        raise InvalidArgumentError(f"size: repeated axis in {axis!r} (for shape {tuple(dims)})")
    return math.prod(dims[i] for i in picked)


def isscalar(element: Any) -> bool:
    """NumPy's ``isscalar``: True for numbers, NumPy scalars, str and bytes; a tensor (0-d too) is not."""
    return False if isinstance(element, Tensor) else bool(np.isscalar(element))


def iterable(y: Any) -> bool:
    """NumPy's ``iterable``: whether ``iter(y)`` works; a 0-d tensor is not iterable, as a 0-d array."""
    return y.ndim > 0 if isinstance(y, Tensor) else bool(np.iterable(y))


def _equal_operands(op: str, a1: Any, a2: Any) -> tuple[Tensor, Tensor] | None:
    try:
        return tuple(_tensors(op, a1, a2))  # type: ignore[return-value]
    except DTypeError:
        if all(_numeric(v) for v in (a1, a2)):
            raise  # numbers gradkit holds no tensor of (complex, uint16): NumPy compares them, False would lie
        return None  # NumPy's answer for text and objects beside numbers: False
    except (ArgumentTypeError, ShapeError):
        return None  # NumPy's answer for what is not an array: False


def _numeric(value: Any) -> bool:
    """Whether ``value`` holds numbers (its dtype, or the one NumPy would give it, is bool, integer, float or
    complex)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except Exception:  # noqa: BLE001 - ragged nests and the like: not numbers NumPy can hold
            return False
    return np.dtype(dtype).kind in "biufc"


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> bool:
    """NumPy's ``array_equal``: the same shape and elements (NaN equal to NaN with ``equal_nan``), as a
    Python bool: one device read on a GPU when the shapes match."""
    op = "array_equal"
    equal_nan = flag(equal_nan, op, "equal_nan")
    pair = _equal_operands(op, a1, a2)
    if pair is None:
        return False
    x, y = pair
    if x.shape != y.shape:
        return False
    xp = x._backend.xp
    same = x._data == y._data
    if equal_nan and x.dtype.kind == y.dtype.kind == "f":  # NaNs must sit at the same places
        same = same | (xp.isnan(x._data) & xp.isnan(y._data))
    return bool(same.all())


def array_equiv(a1: Any, a2: Any) -> bool:
    """NumPy's ``array_equiv``: shapes that broadcast together and equal elements, as a Python bool (one
    device read on a GPU)."""
    pair = _equal_operands("array_equiv", a1, a2)
    if pair is None:
        return False
    x, y = pair
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        return False
    return bool((x._data == y._data).all())


def _dtype_of(value: Any) -> Any:
    """A Tensor or array as its dtype (NumPy 2's rules look at no values); anything else as it is."""
    return value.dtype if isinstance(value, Tensor) or hasattr(value, "__cuda_array_interface__") else value


def _dtype_call(op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"{op}: {exc}") from None


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """NumPy's ``result_type``: the dtype NumPy's promotion gives (tensors count by their dtype; Python
    numbers are weak, as NumPy 2's)."""
    return _dtype_call("result_type", np.result_type, *(_dtype_of(v) for v in arrays_and_dtypes))


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """NumPy's ``promote_types``: the smallest dtype both cast to safely (a tensor counts as its dtype)."""
    return _dtype_call("promote_types", np.promote_types, _dtype_of(type1), _dtype_of(type2))


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    """NumPy's ``can_cast``: whether ``from_`` (a dtype, array or tensor) casts to ``to`` under ``casting``."""
    from gradkit.ops.numpy_more import _CASTINGS

    if not isinstance(casting, str):
        raise ArgumentTypeError(f"can_cast: casting must be a str, one of {_CASTINGS}, got {type(casting).__name__} "
                                f"{casting!r:.40}")
    if casting not in _CASTINGS:
        raise InvalidArgumentError(f"can_cast: casting must be one of {_CASTINGS}, got {casting!r:.40}")
    return bool(_dtype_call("can_cast", np.can_cast, _dtype_of(from_), _dtype_of(to), casting))


def min_scalar_type(a: Any, /) -> np.dtype:
    """NumPy's ``min_scalar_type``: the smallest dtype that holds ``a``'s value (a number or 0-d tensor:
    one device read on a GPU) or, for more dimensions, its dtype."""
    if isinstance(a, Tensor):
        a = _host(a, "min_scalar_type") if a.ndim == 0 else np.empty((0,), a.dtype)
    return _dtype_call("min_scalar_type", np.min_scalar_type, a)


def common_type(*arrays: Any) -> type:
    """NumPy's ``common_type``: the float scalar type the arrays share (integers count as float64)."""
    proxies = [np.empty((0,), a.dtype) if isinstance(a, Tensor) else a for a in arrays]
    try:
        return np.common_type(*proxies)
    except (TypeError, AttributeError) as exc:
        raise DTypeError(f"common_type: expects tensors or arrays of numbers ({exc})") from None


def broadcast_shapes(*args: Any) -> tuple:
    """NumPy's ``broadcast_shapes``: the shape the given shapes broadcast to; ShapeError if they do not."""
    try:
        return tuple(np.broadcast_shapes(*args))
    except ValueError:
        raise ShapeError(f"broadcast_shapes: the shapes {list(args)!r:.200} do not broadcast together") from None
    except TypeError as exc:
        raise ArgumentTypeError(f"broadcast_shapes: shapes must be ints or tuples of ints ({exc})") from None


def _memory(op: str, a: Any, b: Any, max_work: Any) -> bool:
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    kinds = [isinstance(v, np.ndarray) for v in (x, y)]
    gpus = [hasattr(v, "__cuda_array_interface__") and not k for v, k in zip((x, y), kinds, strict=True)]
    if not (all(kinds) or all(gpus)):
        return False  # a number, a list (converted to a new array) or arrays on two sides of the bus
    if all(gpus):  # CuPy's own (it takes no integer max_work: shares_memory is always exact there)
        import cupy

        return bool(getattr(cupy, op)(x, y))
    fn = getattr(np, op)
    return bool(fn(x, y) if max_work is None else fn(x, y, max_work=max_work))


def shares_memory(a: Any, b: Any, /, max_work: Any = None) -> bool:
    """NumPy's ``shares_memory``: whether two tensors (by their arrays) or arrays share memory, exactly
    (``max_work`` bounds NumPy's search; on a GPU, CuPy's exact check: one device read)."""
    return _memory("shares_memory", a, b, max_work)


def may_share_memory(a: Any, b: Any, /, max_work: Any = None) -> bool:
    """NumPy's ``may_share_memory``: whether two tensors (by their arrays) or arrays might share memory
    (their memory bounds overlap; ``max_work`` as NumPy's, not used on a GPU)."""
    return _memory("may_share_memory", a, b, max_work)


_KINDS = {  # the array API's kinds, as NumPy's isdtype names them
    "bool": lambda d: d.kind == "b",
    "signed integer": lambda d: d.kind == "i",
    "unsigned integer": lambda d: d.kind == "u",
    "integral": lambda d: d.kind in "iu",
    "real floating": lambda d: d.kind == "f",
    "complex floating": lambda d: d.kind == "c",
    "numeric": lambda d: d.kind in "iufc",
}


def isdtype(dtype: Any, kind: Any) -> bool:
    """NumPy's (2.0) ``isdtype``: whether ``dtype`` is of ``kind`` ("bool", "signed integer", "unsigned
    integer", "integral", "real floating", "complex floating", "numeric", a dtype, or a tuple of them)."""
    op = "isdtype"
    if not (isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic))):
        raise ArgumentTypeError(f"{op}: dtype must be a NumPy dtype (gk.float32, ...), got {type(dtype).__name__} "
                                f"{dtype!r:.40}")
    d = np.dtype(dtype)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(k, str):
            if k not in _KINDS:
                raise InvalidArgumentError(f"{op}: kind must be one of {sorted(_KINDS)}, a dtype or a tuple of them, "
                                           f"got {k!r:.40}")
            if _KINDS[k](d):
                return True
        elif isinstance(k, np.dtype) or (isinstance(k, type) and issubclass(k, np.generic)):
            if d.type is (k.type if isinstance(k, np.dtype) else k):  # np.floating and the like: False, as NumPy
                return True
        else:
            raise ArgumentTypeError(f"{op}: kind must be a str, a dtype or a tuple of them, got "
                                    f"{type(k).__name__} {k!r:.40}")
    return False


def issubdtype(arg1: Any, arg2: Any) -> bool:
    """NumPy's ``issubdtype``: whether ``arg1`` is below ``arg2`` in NumPy's type hierarchy
    (``gk.issubdtype(t.dtype, np.floating)``; a tensor counts as its dtype)."""
    return bool(_dtype_call("issubdtype", np.issubdtype, _dtype_of(arg1), _dtype_of(arg2)))


# ------------------------------------------------------------------ conversions
def asarray_chkfinite(a: Any, dtype: Any = None, order: Any = None) -> Tensor:
    """NumPy's ``asarray_chkfinite``: :func:`gk.asarray`, raising InvalidArgumentError (a ValueError, as
    NumPy's) when a float tensor holds inf or NaN: one device read on a GPU (skipped while a CUDA graph
    is captured)."""
    from gradkit.creation import asarray

    op = "asarray_chkfinite"
    _order(order, op)
    t = asarray(a, dtype)
    if t.dtype.kind == "f" and t.size and host_read_allowed(t._data):
        if not bool(t._backend.xp.isfinite(t._data).all()):
            raise InvalidArgumentError(f"{op}: array must not contain infs or NaNs (shape {t.shape})")
    return t


def _contiguous(op: str, a: Any, dtype: Any) -> Tensor:
    from gradkit.creation import asarray

    t = asarray(a, dtype)
    if t.ndim == 0:
        t = reshape(t, (1,))
    return contiguous(t)


def ascontiguousarray(a: Any, dtype: Any = None) -> Tensor:
    """NumPy's ``ascontiguousarray``: ``a`` as a C-ordered tensor of at least 1 dimension (a copy only when
    its memory is not C-ordered); the gradient passes through."""
    return _contiguous("ascontiguousarray", a, dtype)


def asfortranarray(a: Any, dtype: Any = None) -> Tensor:
    """NumPy's ``asfortranarray``, but C-ordered: gradkit's tensors are C-ordered, so this is
    :func:`ascontiguousarray` (same values and shape; only the memory layout differs from NumPy's)."""
    return _contiguous("asfortranarray", a, dtype)


_FLAGS = {"C": "C", "C_CONTIGUOUS": "C", "CONTIGUOUS": "C", "F": "F", "F_CONTIGUOUS": "F", "FORTRAN": "F",
          "A": "A", "ALIGNED": "A", "W": "W", "WRITEABLE": "W", "O": "O", "OWNDATA": "O", "E": "E",
          "ENSUREARRAY": "E"}  # fmt: skip


def require(a: Any, dtype: Any = None, requirements: Any = None) -> Tensor:
    """NumPy's ``require``: ``a`` as a tensor of ``dtype`` meeting ``requirements`` ("C", "F", "A", "W",
    "O", "E" or their long names), copied only when needed. "F" gives a C-ordered tensor (gradkit's are
    C-ordered). The gradient passes through."""
    from gradkit.creation import asarray

    op = "require"
    names = [] if not requirements else [requirements] if isinstance(requirements, str) else list(requirements)
    wanted = set()
    for name in names:
        if not isinstance(name, str):
            raise ArgumentTypeError(f"{op}: requirements must be strs, got {type(name).__name__} {name!r:.40}")
        upper = name.upper()
        letters = [upper] if upper in _FLAGS else list(upper)  # "CW" is two flags, as NumPy's
        for letter in letters:
            if letter not in _FLAGS:
                raise InvalidArgumentError(f"{op}: unknown requirement {name!r:.40}; expected one of {sorted(_FLAGS)}")
            wanted.add(_FLAGS[letter])
    if {"C", "F"} <= wanted:
        raise InvalidArgumentError(f'{op}: cannot specify both "C" and "F" order')
    t = asarray(a, dtype)
    data = t._data
    flags = data.flags
    if ("C" in wanted or "F" in wanted) and not flags.c_contiguous:
        return contiguous(t)
    own = getattr(flags, "owndata", True)
    writeable = getattr(flags, "writeable", True)
    aligned = getattr(flags, "aligned", True)
    if ("O" in wanted and not own) or ("W" in wanted and not writeable) or ("A" in wanted and not aligned):
        return clone(t)
    return t


def real_if_close(a: Any, tol: Any = 100) -> Tensor:
    """NumPy's ``real_if_close``: gradkit has no complex dtypes, so ``a`` itself, as a tensor (NumPy returns
    real input unchanged); ``tol`` is checked."""
    real(tol, "real_if_close", "tol")
    return _tensor(a, "real_if_close")

