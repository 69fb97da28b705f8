"""NumPy's array functions that scientific programs reach for: stacking, along-axis indexing, products,
signals, polynomials, calculus and interpolation.

Each is a composite of gradkit's recorded operations (so ``create_graph`` and higher derivatives come
with them), or, for ``take_along_axis`` and ``put_along_axis``, one recorded gather or scatter.
Values follow NumPy 2 (its arithmetic, in its order, so most results are NumPy's to the bit).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradkit._args import flag, scalar, text, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import NOT_GIVEN, SCALARS, as_tensor, private_copy, renamed
from gradkit.ops.elementwise import multiply, negative, remainder, where
from gradkit.ops.indexing import _check_bounds, _index_array
from gradkit.ops.linalg import matmul
from gradkit.ops.reduce import cumprod
from gradkit.ops.reduce import sum as sum_
from gradkit.ops.shape import (
    alias,
    astype,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_to,
    concatenate,
    diff,
    flip,
    moveaxis,
    pad,
    reshape,
    transpose,
)
from gradkit.tensor import Tensor

_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")


def _tensors(op: str, *values: Any) -> list[Tensor]:
    """``values`` as tensors on one device: that of the first Tensor among them, or the default device.

    Arrays keep their dtype; numbers and lists become arrays as NumPy makes them (float64 for Python
    floats, not gk.tensor's float32), since these functions compute what NumPy computes from them.
    """
    first = next((v for v in values if isinstance(v, Tensor)), None)
    backend = first._backend if first is not None else None
    out = []
    for v in values:
        if isinstance(v, (list, tuple)) and any(isinstance(i, Tensor) for i in v):
            from gradkit.ops.shape import stack

            v = stack(_tensors(op, *v))  # a list of tensors (coefficients, say): their gradients too
        t = as_tensor(_as_numpy_value(v, op), op, backend)
        backend = t._backend
        out.append(t)
    return out


def _as_numpy_value(v: Any, op: str) -> Any:
    """``v`` itself when it is an array or a tensor, else ``numpy.asarray(v)`` (NumPy's dtypes for numbers and
    lists); ArgumentTypeError naming ``op`` for what NumPy cannot read."""
    if _is_array(v):
        return v
    try:
        return np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(
            f"{op}: expected a tensor, a number or a list of numbers, got {v!r:.60} ({exc})"
        ) from None


def _tensor(value: Any, op: str) -> Tensor:
    """One argument as :func:`_tensors` makes it: a number or a list of floats in float64, as NumPy."""
    return _tensors(op, value)[0]


def _is_array(value: Any) -> bool:
    """A Tensor, NumPy array or CuPy array (kept as it is); anything else is converted as NumPy would."""
    return isinstance(value, (Tensor, np.ndarray)) or hasattr(value, "__cuda_array_interface__")


def _axis_of(axis: Any, ndim: int, op: str, name: str = "axis") -> int:
    """``normalize_axis`` for an existing axis (a 0-d tensor has none), naming the argument."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {type(axis).__name__} {axis!r:.40}")
    if not -ndim <= axis < ndim:
        raise IndexOutOfRangeError(f"{op}: {name} {axis} is out of range for a tensor of {ndim} dimension(s)")
    return int(axis) % ndim


def _seq(tup: Any, op: str) -> list[Tensor]:
    """The tensors of a stacking function's sequence, on one device."""
    if isinstance(tup, Tensor) or not isinstance(tup, (list, tuple)):
        raise ArgumentTypeError(
            f"{op}: expected a list or tuple of tensors, got {type(tup).__name__} (NumPy 2 also refuses "
            "generators and single arrays)"
        )
    if not tup:
        raise InvalidArgumentError(f"{op}: needs at least one tensor, got an empty {type(tup).__name__}")
    return _tensors(op, *tup)


def _join(ts: list[Tensor], axis: int, op: str, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    text(casting, op, "casting")
    if casting not in _CASTINGS:
        raise InvalidArgumentError(f"{op}: casting must be one of {_CASTINGS}, got {casting!r}")
    if dtype is not None:
        from gradkit.dtypes import to_dtype

        dt = to_dtype(dtype, op)
        for t in ts:
            if not np.can_cast(t.dtype, dt, casting):
                raise DTypeError(f"{op}: cannot cast {t.dtype} to {dt} with casting={casting!r}")
        ts = [astype(t, dt) for t in ts]
    try:
        return concatenate(ts, axis=axis)
    except ShapeError:
        raise ShapeError(
            f"{op}: the shapes {[t.shape for t in ts]} do not fit together along axis {axis} (every other "
            "axis must match)"
        ) from None


# ------------------------------------------------------------------ stacking
def vstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    """NumPy's ``vstack``: the tensors as at least 2-d ((N,) as (1, N)), joined along axis 0."""
    return _join([atleast_2d(t) for t in _seq(tup, "vstack")], 0, "vstack", dtype, casting)


def hstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    """NumPy's ``hstack``: joined along axis 1, or along axis 0 when the (at least 1-d) tensors are 1-d."""
    ts = [atleast_1d(t) for t in _seq(tup, "hstack")]
    return _join(ts, 0 if ts[0].ndim == 1 else 1, "hstack", dtype, casting)


def dstack(tup: Sequence[Any]) -> Tensor:
    """NumPy's ``dstack``: the tensors as at least 3-d ((N,) as (1, N, 1), (M, N) as (M, N, 1)), joined along axis 2."""
    return _join([atleast_3d(t) for t in _seq(tup, "dstack")], 2, "dstack")


def column_stack(tup: Sequence[Any]) -> Tensor:
    """NumPy's ``column_stack``: 1-d tensors as columns ((N,) as (N, 1), 0-d as (1, 1)), joined along axis 1."""
    ts = [reshape(t, (-1, 1)) if t.ndim < 2 else t for t in _seq(tup, "column_stack")]
    return _join(ts, 1, "column_stack")


def ravel(a: Any, order: str = "C") -> Tensor:
    """NumPy's ``ravel``: the elements as a 1-d tensor, in row-major (``"C"``) or column-major (``"F"``) order.

    ``"A"`` and ``"K"`` (NumPy's memory-layout orders) are refused: gradkit does not expose layouts.
    """
    a = _tensor(a, "ravel")
    text(order, "ravel", "order")
    if order not in ("C", "F"):
        raise InvalidArgumentError(
            f"ravel: order must be 'C' or 'F', got {order!r} ('A' and 'K' follow the memory layout, which "
            "gradkit does not expose)"
        )
    if order == "F":
        a = transpose(a)
    return reshape(a, (-1,))


# ------------------------------------------------------------------ along an axis
def _along_index(arr: Tensor, idx: Any, ax: int, op: str) -> tuple:
    """NumPy's along-axis index: ``idx`` on axis ``ax``, an ``arange`` grid on every other axis (broadcast
    with idx's length 1 there, or broadcasting one of length 1)."""
    xp = arr._backend.xp
    nd = arr.ndim
    others = [(a, b) for d, (a, b) in enumerate(zip(arr.shape, idx.shape, strict=True)) if d != ax]
    if any(a != b and 1 not in (a, b) for a, b in others):
        raise ShapeError(
            f"{op}: indices of shape {idx.shape} do not broadcast with the tensor's shape {arr.shape} outside "
            f"axis {ax}"
        )
    return tuple(
        idx if d == ax else xp.arange(arr.shape[d]).reshape([-1 if e == d else 1 for e in range(nd)])
        for d in range(nd)
    )


def _along_args(arr: Any, indices: Any, axis: Any, op: str) -> tuple[Tensor, Any, int, tuple | None]:
    """The checked tensor (flattened for ``axis=None``), index array and axis, and the shape to restore."""
    arr = _tensor(arr, op)
    idx = _index_array(indices, arr, op)
    if idx.dtype.kind == "b":
        raise DTypeError(f"{op}: indices must be integers, got a bool array")
    shape = None
    if axis is None:
        if idx.ndim != 1:
            raise ShapeError(f"{op}: with axis=None the indices must be 1-d, got shape {idx.shape}")
        shape, arr = arr.shape, reshape(arr, (-1,))
        ax = 0
    else:
        if idx.ndim != arr.ndim:
            raise ShapeError(
                f"{op}: indices (shape {idx.shape}) must have as many dimensions as the tensor (shape {arr.shape})"
            )
        if arr.ndim == 0:
            raise IndexOutOfRangeError(f"{op}: a 0-d tensor has no axis {axis!r}; pass axis=None")
        ax = _axis_of(axis, arr.ndim, op)
    _check_bounds(idx, arr, ax, op)  # negative indices count from the end, as NumPy's
    return arr, idx, ax, shape


def _gather(t: Tensor, index: Any, name: str = "gather") -> Tensor:
    """``t[index]`` for index arrays already checked or in range by construction: unlike ``getitem``, no
    bounds check (on a GPU, no device read). The gradient is the scatter-add (repeats add up), whose
    gradient is this gather again, so every order is free of reads."""
    data = t._data[index]
    if t.dtype.kind != "f":
        return Tensor._make(data, t._backend)
    return record(name, data, t._backend, (t,), (_scatter_add,), (t.shape, index))


def _scatter_add(g: Tensor, shape: tuple, index: Any) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeats add up): :func:`_gather`'s gradient."""
    backend = g._backend
    data = backend.xp.zeros(shape, dtype=g.dtype)
    backend.scatter_add(data, index, g._data)
    return record("scatter_add", data, backend, (g,), (_gather,), (index,))


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> Tensor:
    """NumPy's ``take_along_axis``: ``arr`` picked at ``indices`` along ``axis`` (``axis=None``: the
    flattened tensor and 1-d indices). The other axes broadcast, as NumPy's. The gradient is the
    scatter-add of the pick (repeated indices add up)."""
    arr, idx, ax, _ = _along_args(arr, indices, axis, "take_along_axis")
    return _gather(arr, _along_index(arr, idx, ax, "take_along_axis"), "take_along_axis")


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None) -> Tensor:
    """NumPy's ``put_along_axis``, out of place: a new tensor, ``arr`` with ``values`` (broadcast) written
    at ``indices`` along ``axis``. ``arr`` is left unchanged (NumPy writes into it and returns None):
    use the result, ``y = gk.put_along_axis(x, i, v, axis)``.

    arr's gradient is 0 where a value was written; each value written gets the gradient of its place.
    Where an index repeats, one of the values is kept (NumPy's last one on the CPU, any one on CuPy)
    and only it gets that gradient, the others 0: the derivative of the result (PyTorch's ``scatter``
    gives it to all of them).
    """
    op = "put_along_axis"
    arr, idx, ax, shape = _along_args(arr, indices, axis, op)
    full = _along_index(arr, idx, ax, op)
    xp = arr._backend.xp
    target = np.broadcast_shapes(*(i.shape for i in full))
    vals = _tensors(op, arr, values)[1]  # a Python float stays float64, as NumPy's
    try:
        if np.broadcast_shapes(vals.shape, target) != target:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: values of shape {vals.shape} do not broadcast to the indexed shape {target}") from None
    data = arr._data.copy()
    differentiable = arr.dtype.kind == "f" and vals.dtype.kind == "f"
    written = vals._data
    if differentiable:  # which value each place keeps: every repeat then writes that one, in any order
        ids = xp.arange(math.prod(target)).reshape(target)
        slot = xp.zeros(arr.shape, dtype=ids.dtype)
        slot[full] = ids
        kept_ids = slot[full]
        kept = kept_ids == ids
        written = xp.broadcast_to(written, target).reshape(-1)[kept_ids]
    try:
        data[full] = written
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"{op}: cannot write {vals.dtype} values into a {arr.dtype} tensor ({exc})") from None
    if arr.dtype.kind != "f":
        out = Tensor._make(data, arr._backend)
    else:
        mask = xp.zeros(arr.shape, dtype=bool)
        mask[full] = True
        rules = (_put_arr_vjp, _put_values_vjp)
        inputs = (arr, vals if differentiable else None)
        saved = (mask, full, kept if differentiable else None)
        out = record(op, data, arr._backend, inputs, rules, saved, broadcast=True)
    return out if shape is None else reshape(out, shape)


def _put_arr_vjp(g: Tensor, mask: Any, full: tuple, kept: Any) -> Tensor:
    return where(mask, 0.0, g)


def _put_values_vjp(g: Tensor, mask: Any, full: tuple, kept: Any) -> Tensor:
    return where(kept, _gather(g, full, "take_along_axis"), 0.0)


# ------------------------------------------------------------------ products
def _axes_list(value: Any, op: str) -> list:
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ArgumentTypeError(f"{op}: axes must be ints, got {type(a).__name__} {a!r:.40}")
    return [int(a) for a in items]


def tensordot(a: Any, b: Any, axes: Any = 2, *, dims: Any = NOT_GIVEN) -> Tensor:
    """NumPy's ``tensordot``: the sum of products over ``axes`` (an int N: the last N axes of ``a`` with
    the first N of ``b``; or a pair of axis sequences). The result's axes are a's others, then b's.
    ``dims=`` is PyTorch's name for ``axes`` (``torch.tensordot(a, b, dims=...)``); both given is an
    InvalidArgumentError."""
    op = "tensordot"
    if dims is not NOT_GIVEN:
        axes = renamed(op, axes, 2, dims, "axes", "dims")
    a, b = _tensors(op, a, b)
    if _autocast.active and _autocast.promotes(op, a, b):  # gk.autocast: PyTorch's promote list ("cuda"), the
        cast = _autocast.promote(op, a, b)  # products computed with autocast off (not cast to float16)
        if cast is not None:
            with _autocast.exclude():
                return tensordot(*cast, axes)  # (dims= already taken as axes)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ShapeError(
                f"{op}: axes={n} needs that many axes in both tensors (and is >= 0), got shapes {a.shape} and {b.shape}"
            )
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if not isinstance(axes, (tuple, list)) or len(axes) != 2:
            raise ArgumentTypeError(f"{op}: axes must be an int or a pair of axis sequences, got {axes!r:.60}")
        axes_a, axes_b = _axes_list(axes[0], op), _axes_list(axes[1], op)
        if len(axes_a) != len(axes_b):
            raise ShapeError(f"{op}: {len(axes_a)} axes of a but {len(axes_b)} of b to sum over ({axes!r:.60})")
        axes_a = [_axis_of(x, a.ndim, op, "axes") for x in axes_a]
        axes_b = [_axis_of(x, b.ndim, op, "axes") for x in axes_b]
        if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
            raise InvalidArgumentError(f"{op}: repeated axis in {axes!r:.60}")
    for i, j in zip(axes_a, axes_b, strict=True):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"{op}: shape mismatch for the sum: axis {i} of a (shape {a.shape}) has length {a.shape[i]}, axis "
                f"{j} of b (shape {b.shape}) {b.shape[j]}"
            )
    rest_a = [i for i in range(a.ndim) if i not in axes_a]
    rest_b = [j for j in range(b.ndim) if j not in axes_b]
    n_sum = math.prod(a.shape[i] for i in axes_a)
    at = reshape(transpose(a, rest_a + axes_a), (math.prod(a.shape[i] for i in rest_a), n_sum))
    bt = reshape(transpose(b, axes_b + rest_b), (n_sum, math.prod(b.shape[j] for j in rest_b)))
    if _autocast.active and not rest_a and not rest_b:  # gk.autocast: a full contraction is PyTorch's dot
        with _autocast.exclude():  # (or mul of 0-d operands): not cast to float16 (an mm otherwise is)
            return reshape(matmul(at, bt), ())
    return reshape(matmul(at, bt), tuple(a.shape[i] for i in rest_a) + tuple(b.shape[j] for j in rest_b))


def inner(a: Any, b: Any) -> Tensor:
    """NumPy's ``inner``: the sum of products over the last axes (shape ``a.shape[:-1] + b.shape[:-1]``);
    with a 0-d operand, the product."""
    a, b = _tensors("inner", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: the last axes differ in length: shapes {a.shape} and {b.shape}")
    return tensordot(a, b, ([-1], [-1]))


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None, *,
          dim: Any = NOT_GIVEN) -> Tensor:
    """NumPy's ``cross``: the cross product of 3-vectors along ``axisa``/``axisb`` (broadcast over the
    other axes), put along ``axisc`` (``axis`` sets all three). 2-vectors are taken as having z = 0, with
    NumPy 2's DeprecationWarning; two 2-vectors give the z component alone.

    ``dim=`` (keyword only) is PyTorch's ``torch.cross(input, other, dim=None)``: 3-vectors along ``dim`` of
    both operands (broadcast), as ``Tensor.cross``; ``dim=None`` given explicitly is PyTorch's deprecated
    default, the first dim of length 3 (with a UserWarning). With any of NumPy's axis arguments too, an
    InvalidArgumentError. (A third positional argument stays NumPy's ``axisa``.)"""
    op = "cross"
    if dim is not NOT_GIVEN:
        given = [f"{n}={v!r}" for n, v, d in (("axisa", axisa, -1), ("axisb", axisb, -1), ("axisc", axisc, -1),
                                             ("axis", axis, None)) if v is not d and v != d]
        if given:
            raise InvalidArgumentError(
                f"{op}: got both {', '.join(given)} (NumPy's) and dim={dim!r:.40} (PyTorch's); give one"
            )
        from gradkit.ops.tensor_methods_math import _default_cross_dim
        from gradkit.ops.tensor_methods_math import cross as torch_cross

        a, b = _tensors(op, a, b)
        if dim is None:  # warned here so that the warning names the caller's line
            dim = _default_cross_dim(a, b, op, stacklevel=3)
        return torch_cross(a, b, dim)
    a, b = _tensors(op, a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    for name, t, ax in (("axisa", a, axisa), ("axisb", b, axisb)):
        if t.ndim == 0:
            raise ShapeError(f"{op}: {name}: a 0-d tensor has no axis of vector components")
        _axis_of(ax, t.ndim, op, name)
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ShapeError(
            f"{op}: the vectors must have 2 or 3 components, got {a.shape[-1]} and {b.shape[-1]} (shapes {a.shape} "
            f"and {b.shape})"
        )
    if 2 in (a.shape[-1], b.shape[-1]):
        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional vectors instead. "
            "(deprecated in NumPy 2.0)",
            DeprecationWarning,
            stacklevel=2,
        )
    try:
        lead = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast outside the vector axis") from None
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return broadcast_to(z, lead) if z.shape != lead else z
    axc = _axis_of(axisc, len(lead) + 1, op, "axisc")
    if a.shape[-1] == 3 and b.shape[-1] == 3:
        a2, b2 = a[..., 2], b[..., 2]
        x, y = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2
    elif a.shape[-1] == 2:
        b2 = b[..., 2]
        x, y = a1 * b2, negative(a0 * b2)
    else:
        a2 = a[..., 2]
        x, y = negative(a2 * b1), a2 * b0
    parts = [reshape(broadcast_to(c, lead) if c.shape != lead else c, lead + (1,)) for c in (x, y, z)]
    return moveaxis(concatenate(parts, axis=-1), -1, axc)


def kron(a: Any, b: Any) -> Tensor:
    """NumPy's ``kron``: the Kronecker product (the shorter shape padded with leading 1s); for 0-d
    operands, the product."""
    a, b = _tensors("kron", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    nd = max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    ea = reshape(a, tuple(d for s in sa for d in (s, 1)))  # a's axes at the even positions
    eb = reshape(b, tuple(d for s in sb for d in (1, s)))  # b's at the odd ones
    return reshape(ea * eb, tuple(x * y for x, y in zip(sa, sb, strict=True)))


# ------------------------------------------------------------------ signals and polynomials
_WINDOWS_MAX = 1 << 20  # (output length x kernel length) up to which the correlation is one gather and matmul


def _correlate_full(a: Tensor, v: Tensor) -> Tensor:
    """The full correlation ``c[k] = sum_j a[k - (m - 1) + j] v[j]`` of 1-d tensors (length n + m - 1).

    Only the products of overlapping elements are summed, as NumPy's: a product with the zero padding would
    make an infinite or NaN element of v a NaN at the edges of the result, where NumPy's has none."""
    n, m = a.shape[0], v.shape[0]
    length = n + m - 1
    if length * m <= _WINDOWS_MAX:  # every window at once: (length, m) @ (m,) in the part without padding
        xp = a._backend.xp
        windows = xp.arange(length).reshape(-1, 1) + xp.arange(m).reshape(1, -1)
        padded = pad(a, [(m - 1, m - 1)])
        lo, hi = m - 1, max(n, m - 1)  # the outputs whose windows lie inside a: [lo, hi) (none when n < m)
        edge_rows = xp.concatenate([windows[:lo], windows[hi:]])
        overlap = (edge_rows >= m - 1) & (edge_rows < m - 1 + n)
        # v's factor of a padding zero is 1, so the padding adds exact zeros (no inf * 0) to the edge sums
        products = _gather(padded, edge_rows) * where(overlap, v, xp.ones((), dtype=v.dtype))
        edges = sum_(products, axis=1, dtype=products.dtype)
        if hi == lo:
            return edges
        middle = matmul(_gather(padded, windows[lo:hi]), v)
        return concatenate([edges[:lo], middle, edges[lo:]])
    total = None  # long inputs: m shifted products, each the output's length, padded after the product
    for j in range(m):
        term = pad(a * v[j], [(m - 1 - j, j)])
        total = term if total is None else total + term
    return total


def _signal_args(a: Any, v: Any, mode: Any, op: str) -> tuple[Tensor, Tensor, str]:
    a, v = _tensors(op, a, v)
    text(mode, op, "mode")
    if mode not in ("full", "same", "valid"):
        raise InvalidArgumentError(f"{op}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    a, v = atleast_1d(a), atleast_1d(v)
    for name, t in (("a", a), ("v", v)):
        if t.ndim != 1:
            raise ShapeError(f"{op}: {name} must be 1-d, got shape {t.shape}")
        if t.shape[0] == 0:
            raise ShapeError(f"{op}: {name} cannot be empty")
    return a, v, mode


def _mode_slice(full: Tensor, n: int, m: int, mode: str) -> Tensor:
    """The part of the full correlation of lengths n and m that NumPy's ``mode`` returns."""
    if mode == "full":
        return full
    if mode == "valid":
        return full[min(n, m) - 1 : max(n, m)]
    start = (m - 1) - m // 2 if n >= m else n // 2  # NumPy centres on the longer input
    return full[start : start + max(n, m)]


def correlate(a: Any, v: Any, mode: str = "valid") -> Tensor:
    """NumPy's ``correlate`` of two 1-d sequences: ``c[k] = sum_n a[n + k] v[n]``; ``mode`` "valid"
    (full overlaps only), "same" (the longer input's length) or "full"."""
    a, v, mode = _signal_args(a, v, mode, "correlate")
    return _mode_slice(_correlate_full(a, v), a.shape[0], v.shape[0], mode)


def convolve(a: Any, v: Any, mode: str = "full") -> Tensor:
    """NumPy's ``convolve`` of two 1-d sequences: ``(a * v)[k] = sum_n a[n] v[k - n]``; modes as
    :func:`correlate` ("full" by default)."""
    a, v, mode = _signal_args(a, v, mode, "convolve")
    if v.shape[0] > a.shape[0]:
        a, v = v, a
    return _mode_slice(_correlate_full(a, flip(v, 0)), a.shape[0], v.shape[0], mode)


def polyval(p: Any, x: Any) -> Tensor:
    """NumPy's ``polyval``: the polynomial with coefficients ``p`` (highest power first) at ``x``, by
    Horner's rule from zero, as NumPy: ``y = y * x + p[i]``."""
    p, x = _tensors("polyval", p, x)
    if p.ndim == 0:
        raise ShapeError("polyval: p must be a sequence of coefficients, got a 0-d tensor")
    y = Tensor._make(x._backend.xp.zeros_like(x._data), x._backend)
    for i in range(p.shape[0]):
        y = y * x + p[i]
    return y


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Tensor:  # noqa: N803 - NumPy's name
    """NumPy's ``vander``: columns of powers of the 1-d ``x``, ``x**(N-1), ..., x, 1`` (``increasing``:
    ``1, x, ...``); ``N`` defaults to ``len(x)``. Powers are running products, as NumPy's."""
    x = _tensor(x, "vander")
    if x.ndim != 1:
        raise ShapeError(f"vander: x must be 1-d, got shape {x.shape}")
    n = x.shape[0]
    cols = n if N is None else whole(N, "vander", "N", low=0)
    increasing = flag(increasing, "vander", "increasing")
    x = astype(x, np.promote_types(x.dtype, np.int64))
    column = reshape(x, (n, 1))
    if cols <= 1:
        ones = Tensor._make(x._backend.xp.ones((n, cols), dtype=x.dtype), x._backend)
        return ones if cols == 1 else broadcast_to(column, (n, 0))
    ones = Tensor._make(x._backend.xp.ones((n, 1), dtype=x.dtype), x._backend)
    out = concatenate([ones, cumprod(broadcast_to(column, (n, cols - 1)), axis=1)], axis=1)
    return out if increasing else flip(out, 1)


# ------------------------------------------------------------------ calculus and interpolation
def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Tensor:
    """NumPy's ``trapezoid``: the integral of ``y`` along ``axis`` by the trapezoidal rule, at sample
    points ``x`` (1-d along the axis, or y's shape) or spacing ``dx``."""
    op = "trapezoid"
    y, xt = _tensors(op, y, x) if x is not None else (*_tensors(op, y), None)
    if y.ndim == 0:
        raise ShapeError("trapezoid: y must have at least 1 dimension, got a 0-d tensor")
    ax = _axis_of(axis, y.ndim, op)
    if x is None:
        d: Any = dx if isinstance(dx, SCALARS) else _tensors(op, y, dx)[1]
    else:
        if xt.ndim == 1:
            if xt.shape[0] != y.shape[ax]:
                raise ShapeError(f"{op}: x of length {xt.shape[0]} for axis {ax} of y (shape {y.shape})")
            d = reshape(diff(xt), tuple(-1 if i == ax else 1 for i in range(y.ndim)))
        else:
            if xt.ndim != y.ndim:
                raise ShapeError(f"{op}: x of shape {xt.shape} must be 1-d or have y's dimensions (shape {y.shape})")
            d = diff(xt, axis=ax)
    head = (slice(None),) * ax
    try:
        return sum_(d * (y[head + (slice(1, None),)] + y[head + (slice(None, -1),)]) / 2.0, ax)
    except ShapeError:
        spacing = getattr(d, "shape", ())
        raise ShapeError(f"{op}: the spacing (shape {spacing}) does not fit y (shape {y.shape})") from None


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """NumPy's ``gradient``: second-order central differences inside, one-sided differences of order
    ``edge_order`` (1 or 2) at the ends, along each of ``axis`` (all axes when None).

    ``varargs``: nothing (spacing 1), one number for every axis, or per axis a number or 1-d
    coordinates. One axis gives a tensor, several a tuple (a 0-d ``f`` an empty one, as NumPy).
    Coordinates get gradients too: when they require grad, or are on a GPU (where comparing the steps
    would read the device), the non-uniform formula is used even for equal steps (NumPy switches to
    the uniform one there, whose values agree to rounding).
    """
    op = "gradient"
    f = _tensor(f, op)
    if f.dtype.kind == "b":
        raise DTypeError(f"{op}: f must be numbers, got a bool tensor (NumPy refuses to subtract bools)")
    nd = f.ndim
    if axis is None:
        axes = tuple(range(nd))
    else:
        items = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = tuple(_axis_of(a, nd, op) for a in items)
        if len(set(axes)) != len(axes):
            raise InvalidArgumentError(f"{op}: repeated axis in {axis!r}")
    if isinstance(edge_order, bool) or edge_order not in (1, 2):
        raise InvalidArgumentError(f"{op}: edge_order must be 1 or 2, got {edge_order!r}")
    spacing = _spacings(varargs, f, axes, op)
    otype = f.dtype if f.dtype.kind == "f" else np.dtype(np.float64)
    if f.dtype.kind != "f":
        f = astype(f, np.float64)
    outs = []
    for ax, step in zip(axes, spacing, strict=True):
        if f.shape[ax] < edge_order + 1:
            raise ShapeError(
                f"{op}: axis {ax} has {f.shape[ax]} element(s) (shape {f.shape}); edge_order={edge_order} needs at "
                f"least {edge_order + 1}"
            )
        outs.append(_gradient_along(f, ax, step, edge_order, otype))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _spacings(varargs: tuple, f: Tensor, axes: tuple, op: str) -> list:
    """Per axis: a number or 0-d tensor (uniform), or a 1-d tensor of the steps between coordinates."""
    if not varargs:
        return [1.0] * len(axes)
    given = [v if isinstance(v, SCALARS) else _tensors(op, f, v)[1] for v in varargs]
    if len(given) == 1 and getattr(given[0], "ndim", 0) == 0:
        return given * len(axes)
    if len(given) != len(axes):
        raise ArgumentTypeError(
            f"{op}: expected no spacing, one number, or one spacing per axis ({len(axes)}), got {len(given)}"
        )
    out = []
    for ax, v in zip(axes, given, strict=True):
        if isinstance(v, SCALARS) or v.ndim == 0:
            out.append(v)
            continue
        if v.ndim != 1:
            raise ShapeError(f"{op}: a spacing must be a number or 1-d coordinates, got shape {v.shape}")
        if v.shape[0] != f.shape[ax]:
            raise ShapeError(f"{op}: {v.shape[0]} coordinates for axis {ax} of length {f.shape[ax]} (shape {f.shape})")
        if v.dtype.kind != "f":
            v = astype(v, np.float64)
        steps = diff(v)
        sd = steps._data
        # equal steps: the uniform formula, as NumPy (compared on the CPU only: on a GPU, a device read)
        if not v.requires_grad and type(sd) is np.ndarray and sd.size and bool((sd == sd[0]).all()):
            steps = steps[0]
        out.append(steps)
    return out


def _gradient_along(f: Tensor, ax: int, h: Any, edge_order: int, otype: Any) -> Tensor:
    def at(start: int | None, stop: int | None) -> Tensor:
        return f[(slice(None),) * ax + (slice(start, stop),)]

    shape = tuple(-1 if i == ax else 1 for i in range(f.ndim))
    uniform = isinstance(h, SCALARS) or h.ndim == 0
    if uniform:
        inner = (at(2, None) - at(None, -2)) / (2.0 * h)
    else:
        dx1, dx2 = h[:-1], h[1:]
        a = reshape(-dx2 / (dx1 * (dx1 + dx2)), shape)
        b = reshape((dx2 - dx1) / (dx1 * dx2), shape)
        c = reshape(dx1 / (dx2 * (dx1 + dx2)), shape)
        inner = a * at(None, -2) + b * at(1, -1) + c * at(2, None)
    if edge_order == 1:
        first = (at(1, 2) - at(0, 1)) / (h if uniform else h[0])
        last = (at(-1, None) - at(-2, -1)) / (h if uniform else h[-1])
    else:
        if uniform:
            a0, b0, c0 = -1.5 / h, 2.0 / h, -0.5 / h
            a1, b1, c1 = 0.5 / h, -2.0 / h, 1.5 / h
        else:
            d1, d2 = h[0], h[1]
            a0 = -(2.0 * d1 + d2) / (d1 * (d1 + d2))
            b0 = (d1 + d2) / (d1 * d2)
            c0 = -d1 / (d2 * (d1 + d2))
            d1, d2 = h[-2], h[-1]
            a1 = d2 / (d1 * (d1 + d2))
            b1 = -(d2 + d1) / (d1 * d2)
            c1 = (2.0 * d2 + d1) / (d2 * (d1 + d2))
        first = a0 * at(0, 1) + b0 * at(1, 2) + c0 * at(2, 3)
        last = a1 * at(-3, -2) + b1 * at(-2, -1) + c1 * at(-1, None)
    parts = [astype(p, otype) for p in (first, inner, last)]
    return concatenate(parts, axis=ax)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None) -> Tensor:
    """NumPy's ``interp``: the piecewise linear interpolant through (``xp``, ``fp``) at ``x``, in float64
    (as NumPy and CuPy). ``left``/``right`` (default ``fp[0]``/``fp[-1]``) outside ``[xp[0], xp[-1]]``;
    with ``period``, x and xp are taken modulo it (and left/right ignored).

    Gradients reach ``fp``, ``x``, ``xp`` and tensor ``left``/``right``. The slope in ``x`` is the
    segment's; at a sample point inside it is the right-hand one (the segment starting there), and at
    ``xp[-1]`` and outside the range it is 0.
    """
    op = "interp"
    xt, xs, fs = _tensors(op, x, xp, fp)
    for name, t in (("xp", xs), ("fp", fs)):
        if t.ndim != 1:
            raise ShapeError(f"{op}: {name} must be 1-d, got shape {t.shape}")
    if xs.shape[0] != fs.shape[0]:
        raise ShapeError(f"{op}: xp and fp differ in length: {xs.shape[0]} and {fs.shape[0]}")
    if xs.shape[0] == 0:
        raise ShapeError(f"{op}: the sample points xp are empty")
    x64, xs, fs = (astype(t, np.float64) for t in (xt, xs, fs))
    bounds = [_bound(v, op, name, xt._backend) for name, v in (("left", left), ("right", right))]
    if period is not None:
        p = scalar(period)
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not math.isfinite(p):
            raise ArgumentTypeError(f"{op}: period must be a finite number, got {period!r:.40}")
        if p == 0:
            raise InvalidArgumentError(f"{op}: period must be a non-zero value")
        p = abs(float(p))
        bounds = [None, None]
        x64, xs = remainder(x64, p), remainder(xs, p)
        order = xs._backend.xp.argsort(xs._data)  # NumPy's call: equal xp (modulo the period) in its order
        xs, fs = _gather(xs, order), _gather(fs, order)
        xs = concatenate([xs[-1:] - p, xs, xs[:1] + p])
        fs = concatenate([fs[-1:], fs, fs[:1]])
    return _interp(x64, xs, fs, bounds[0], bounds[1])


def _bound(value: Any, op: str, name: str, backend: Any) -> Any:
    if value is None:
        return None
    if _is_array(value):
        t = as_tensor(value, op, backend)
        if t.ndim != 0:
            raise ShapeError(f"{op}: {name} must be a number or a 0-d tensor, got shape {t.shape}")
        return astype(t, np.float64)
    v = scalar(value)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
    return float(v)


def _interp(x: Tensor, xs: Tensor, fs: Tensor, left: Any, right: Any) -> Tensor:
    """NumPy's arithmetic: ``slope * (x - xp[j]) + fp[j]`` on the segment with ``xp[j] <= x < xp[j+1]``,
    then its fallbacks where that is NaN (from infinite values)."""
    xpm = x._backend.xp
    n = xs.shape[0]
    xd, xsd = x._data, xs._data
    j = xpm.searchsorted(xsd, xd, side="right") - 1
    nan_x = xpm.isnan(xd)
    below = xd < xsd[0]
    above = xd > xsd[-1]
    at_end = (j == n - 1) & ~above & ~nan_x  # x == xp[-1]: fp[-1] itself
    inside = ~(below | above | at_end | nan_x)
    first, last = fs[0], fs[-1]
    if n == 1:
        out = broadcast_to(first, x.shape)
    else:
        jj = xpm.clip(j, 0, n - 2)
        x0, x1, f0, f1 = _gather(xs, jj), _gather(xs, jj + 1), _gather(fs, jj), _gather(fs, jj + 1)
        # The other points' (x - x0) and slope are 0: their segment may be empty (xp repeated at an end),
        # and a 0/0 there would put NaN in the gradients of xp and fp.
        x_in = where(inside, x, x0._data)
        with np.errstate(invalid="ignore"):  # infinite samples: NaN slopes, NumPy's fallbacks below
            slope = where(inside, f1 - f0, 0.0) / where(inside, x1 - x0, 1.0)
            out = slope * (x_in - x0) + f0
            again = xpm.isnan(out._data)
            out = where(again, slope * (x_in - x1) + f1, out)  # NumPy's second try, from the segment's end
            flat = xpm.isnan(out._data) & (f0._data == f1._data)
            out = where(flat, f0, out)
            knot = (xd == x0._data) & ~(out._data == f0._data)  # NumPy takes fp[j] at a sample point
            out = where(knot, f0, out)
        out = where(at_end, last, out)
    out = where(below, first if left is None else left, out)
    out = where(above, last if right is None else right, out)
    return where(nan_x, x, out) if n > 1 else out  # one sample point: NumPy gives fp[0] at x = NaN too


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:  # fmt: skip
    """NumPy's ``nan_to_num``: NaN as ``nan``, +inf as ``posinf`` and -inf as ``neginf`` (default: the
    dtype's largest and smallest finite values); integer and bool tensors unchanged. The gradient is 1
    at the finite elements, 0 at the replaced ones.

    ``copy=False`` writes into ``x`` and returns it, as NumPy (refused when x requires grad, as every
    in-place change); the default returns a new tensor.
    """
    op = "nan_to_num"
    x = _tensor(x, op)
    copy = flag(copy, op, "copy")
    fills = []
    for name, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        v = scalar(value)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))):
            raise ArgumentTypeError(f"{op}: {name} must be a number or None, got {type(value).__name__} {value!r:.40}")
        fills.append(v)
    if x.dtype.kind != "f":
        from gradkit.ops.shape import clone

        return clone(x) if copy else x
    info = np.finfo(x.dtype)
    nan_v, pos_v, neg_v = (
        x.dtype.type(0.0 if v is None else v) if i == 0 else x.dtype.type(d if v is None else v)
        for i, (v, d) in enumerate(zip(fills, (0.0, info.max, info.min), strict=True))
    )
    xp = x._backend.xp
    xd = x._data
    is_nan, is_inf = xp.isnan(xd), xp.isinf(xd)
    bad = is_nan | is_inf
    fill = xp.where(is_nan, nan_v, xp.where(xd > 0, pos_v, neg_v)).astype(x.dtype, copy=False)
    if copy:
        return where(bad, fill, x)
    x._check_inplace(op)
    xp.copyto(xd, fill, where=bad)
    x._version[0] += 1
    return x


def rot90(m: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """NumPy's ``rot90``: ``m`` turned ``k`` times by 90 degrees in the plane of ``axes``, from the first
    axis towards the second (a flip and a transpose, as NumPy)."""
    op = "rot90"
    m = _tensor(m, op)
    k = whole(k, op, "k")
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise InvalidArgumentError(f"{op}: axes must be a pair of axes, got {axes!r:.40}")
    if m.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of at least 2 dimensions, got shape {m.shape}")
    a0, a1 = (_axis_of(a, m.ndim, op, "axes") for a in axes)
    if a0 == a1:
        raise InvalidArgumentError(f"{op}: the two axes must be different, got {tuple(axes)} for shape {m.shape}")
    k %= 4
    if k == 0:
        return alias(m, op)
    if k == 2:
        return flip(m, (a0, a1))
    order = list(range(m.ndim))
    order[a0], order[a1] = order[a1], order[a0]
    return transpose(flip(m, a1), order) if k == 1 else flip(transpose(m, order), a1)


# ------------------------------------------------------------------ everyday NumPy functions
def append(arr: Any, values: Any, axis: int | None = None) -> Tensor:
    """NumPy's ``append``: ``arr`` followed by ``values`` along ``axis`` (both flattened when it is None)."""
    op = "append"
    a, v = _tensors(op, arr, values)
    if axis is None:
        return concatenate([ravel(a), ravel(v)], axis=0)
    return _join([a, v], _axis_of(axis, a.ndim, op), op)


def fliplr(m: Any) -> Tensor:
    """NumPy's ``fliplr``: axis 1 reversed (a view, as ``flip``)."""
    m = _tensor(m, "fliplr")
    if m.ndim < 2:
        raise ShapeError(f"fliplr: needs a tensor of at least 2 dimensions, got shape {m.shape}")
    return flip(m, 1)


def flipud(m: Any) -> Tensor:
    """NumPy's ``flipud``: axis 0 reversed (a view, as ``flip``)."""
    m = _tensor(m, "flipud")
    if m.ndim < 1:
        raise ShapeError("flipud: needs a tensor of at least 1 dimension, got a 0-d tensor")
    return flip(m, 0)


def broadcast_arrays(*args: Any) -> tuple[Tensor, ...]:
    """NumPy's ``broadcast_arrays``: every argument broadcast to their common shape (views), as a tuple."""
    op = "broadcast_arrays"
    ts = _tensors(op, *args)
    shape = _broadcast_shape(op, *ts)
    return tuple(broadcast_to(t, shape) for t in ts)


def vdot(a: Any, b: Any) -> Tensor:
    """NumPy's ``vdot`` for real tensors: the dot product of ``a`` and ``b`` flattened (equal sizes), 0-d."""
    op = "vdot"
    a, b = _tensors(op, a, b)
    if a.size != b.size:
        raise ShapeError(f"{op}: a and b must have the same number of elements, got shapes {a.shape} and {b.shape}")
    if _autocast.active:  # gk.autocast: not cast to float16 on either device type (promoted on "cuda")
        cast = _autocast.promote(op, a, b)
        if cast is not None:
            with _autocast.exclude():
                return vdot(*cast)
    return matmul(ravel(a), ravel(b))


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Tensor:
    """NumPy's ``select``: for each element, the choice of the first condition that holds, else ``default``.

    Conditions are bool tensors (or arrays); choices, conditions and default broadcast together. The gradient
    of each choice (and of a tensor default) is the incoming gradient where it was picked, 0 elsewhere.
    """
    op = "select"
    for name, seq in (("condlist", condlist), ("choicelist", choicelist)):
        if isinstance(seq, Tensor) or not isinstance(seq, (list, tuple)):
            raise ArgumentTypeError(f"{op}: {name} must be a list or tuple, got {type(seq).__name__}")
    if len(condlist) != len(choicelist):
        raise InvalidArgumentError(
            f"{op}: condlist and choicelist must have the same length, got {len(condlist)} and {len(choicelist)}"
        )
    if not condlist:
        raise InvalidArgumentError(f"{op}: an empty condition list is not possible (NumPy refuses it too)")
    extra = () if isinstance(default, SCALARS) else (default,)
    ts = _tensors(op, *choicelist, *condlist, *extra)
    _broadcast_shape(op, *ts)
    choices, conds = ts[:len(choicelist)], ts[len(choicelist):2 * len(choicelist)]
    for i, c in enumerate(conds):
        if c.dtype != np.bool_:
            raise DTypeError(f"{op}: condlist[{i}] must be of dtype bool, got {c.dtype}")
        if c is not condlist[i]:  # a NumPy or CuPy array of the caller's, which has no version counter, is copied
            c._data = private_copy(c._data, condlist[i])
    result = default if isinstance(default, SCALARS) else ts[-1]  # a number stays weak, as in NumPy 2
    # One result dtype for all the choices and the default at once, as NumPy's: a where() at a time would
    # promote a bool choice with a default 1.5 to float64 before it meets a float16 choice.
    dtype = np.result_type(*(t.dtype for t in choices), result if isinstance(result, SCALARS) else result.dtype)
    choices = [astype(t, dtype) for t in choices]
    if isinstance(result, Tensor):
        result = astype(result, dtype)
    for c, choice in zip(reversed(conds), reversed(choices), strict=True):
        result = where(c, choice, result)
    return result


def _nan_extreme(op: str, a: Any, b: Any, fn: Any) -> Tensor:
    from gradkit.ops.elementwise import isnan

    if isinstance(a, SCALARS) and not isinstance(b, SCALARS):
        a, b = b, a
    if isinstance(b, SCALARS):
        if not isinstance(a, Tensor):  # a number, an array or a list beside a number: as NumPy makes them
            a = _tensor(a, op)
        if isinstance(b, (float, np.floating)) and math.isnan(b):
            return multiply(a, type(b)(1))  # a NaN number is ignored, but promotes as NumPy's (int8 -> float64)
        return where(isnan(a), b, fn(a, b))
    a, b = _tensors(op, a, b)
    _broadcast_shape(op, a, b)
    return where(isnan(b), a, where(isnan(a), b, fn(a, b)))


def _broadcast_shape(op: str, *ts: Tensor) -> tuple:
    """The shape ``ts`` broadcast to; ShapeError naming ``op`` when they do not."""
    try:
        return tuple(np.broadcast_shapes(*(t.shape for t in ts)))
    except ValueError:
        raise ShapeError(f"{op}: the shapes {[t.shape for t in ts]} do not broadcast together") from None


def fmax(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``fmax``: the elementwise maximum, ignoring a NaN (NaN only where both are); ties share the
    gradient as ``maximum``'s, and the NaN operand gets none."""
    from gradkit.ops.elementwise import maximum

    return _nan_extreme("fmax", x1, x2, maximum)


def fmin(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``fmin``: the elementwise minimum, ignoring a NaN (NaN only where both are)."""
    from gradkit.ops.elementwise import minimum

    return _nan_extreme("fmin", x1, x2, minimum)


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's ``array_split``: as ``split``, but ``N`` sections need not be equal (the first ``n % N`` are
    one longer); a list of views."""
    from gradkit.ops.shape import split

    op = "array_split"
    a = _tensor(ary, op)
    ios = indices_or_sections
    is_count = isinstance(ios, (int, np.integer)) and not isinstance(ios, bool)
    if not (is_count or isinstance(ios, (list, tuple)) or (isinstance(ios, np.ndarray) and ios.ndim == 1)):
        raise ArgumentTypeError(
            f"{op}: indices_or_sections must be an int or a sequence of ints, got {type(ios).__name__} {ios!r:.40}"
        )
    if is_count and int(ios) <= 0:
        raise InvalidArgumentError(f"{op}: the number of sections must be larger than 0, got {int(ios)}")
    if a.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no axis to split")
    ax = _axis_of(axis, a.ndim, op)
    if is_count:
        size, extra = divmod(a.shape[ax], int(ios))
        sizes = [size + 1] * extra + [size] * (int(ios) - extra)
        ios = np.cumsum(sizes)[:-1].tolist()
    return split(a, ios, axis=ax)
