"""More of NumPy's functions: the array API's ``unique_all``, ``unique_counts``, ``unique_inverse`` and
``unique_values``; ``piecewise``; ``packbits`` and ``unpackbits``; ``copyto`` (in place); ``rollaxis``,
``row_stack``, ``mask_indices``, ``einsum_path``; ``frombuffer``, ``fromiter``, ``asanyarray``; the queries
``isfortran``, ``typename``, ``mintypecode``, ``base_repr``, ``binary_repr``; and the formatting functions
``array2string``, ``array_repr`` and ``array_str``.

Each follows NumPy 2's signature and results, also under NumPy 1.x (where NumPy lacks a function or behaves
otherwise, gradkit computes NumPy 2's answer itself). ``piecewise`` is differentiable through the functions it
calls (gradkit operations on the selected elements); the unique functions are ``gk.unique`` and take its
gradient rule (none); bits, indices and strings have no gradient. Host reads happen where a result's size or a
Python value depends on the data, and each docstring says where.
"""

from __future__ import annotations

import collections.abc
import math
import re
import warnings
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import check_int_fits, flag, out_of_range, text, whole
from gradkit.backends import get_backend
from gradkit.dtypes import to_dtype
from gradkit.errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.ops.elementwise import where as where_
from gradkit.ops.indexing import _along, getitem
from gradkit.ops.indexing import nonzero as nonzero_
from gradkit.ops.numpy_indexing import _host, _target, _written
from gradkit.ops.numpy_more import _CASTINGS, _axis_of, _is_array, _tensor, _tensors, vstack
from gradkit.ops.numpy_stats import unique
from gradkit.ops.shape import alias, astype, broadcast_to, reshape, transpose
from gradkit.tensor import Tensor

_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"

__all__ = [
    # the array API's unique functions
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
    # functions by cases
    "piecewise",
    # bits
    "packbits", "unpackbits",
    # in place
    "copyto",
    # rearranging and index helpers
    "rollaxis", "row_stack", "mask_indices", "einsum_path",
    # creation
    "frombuffer", "fromiter", "asanyarray",
    # queries
    "isfortran", "typename", "mintypecode", "base_repr", "binary_repr",
    # formatting
    "array2string", "array_repr", "array_str",
]  # fmt: skip


# ------------------------------------------------------------------ unique (the array API's)
class UniqueAllResult(NamedTuple):
    """``unique_all``'s result, NumPy 2's field names."""

    values: Tensor
    indices: Tensor
    inverse_indices: Tensor
    counts: Tensor


class UniqueCountsResult(NamedTuple):
    """``unique_counts``'s result, NumPy 2's field names."""

    values: Tensor
    counts: Tensor


class UniqueInverseResult(NamedTuple):
    """``unique_inverse``'s result, NumPy 2's field names."""

    values: Tensor
    inverse_indices: Tensor


def unique_all(x: Any) -> UniqueAllResult:
    """NumPy 2's ``unique_all``: ``(values, indices, inverse_indices, counts)`` of ``x`` flattened, as
    ``unique(x, return_index=True, return_inverse=True, return_counts=True, equal_nan=False)``: sorted
    values, each NaN its own value (NaNs last), the index of each value's first occurrence, the inverse
    indices in x's shape, int64 indices and counts. The size is read on the host (one device read on a GPU,
    refused while a CUDA graph is captured); no gradient, as ``gk.unique``."""
    return UniqueAllResult(*unique(x, True, True, True, equal_nan=False))


def unique_counts(x: Any) -> UniqueCountsResult:
    """NumPy 2's ``unique_counts``: ``(values, counts)`` (see :func:`unique_all`)."""
    return UniqueCountsResult(*unique(x, False, False, True, equal_nan=False))


def unique_inverse(x: Any) -> UniqueInverseResult:
    """NumPy 2's ``unique_inverse``: ``(values, inverse_indices)``, the inverse in x's shape (see
    :func:`unique_all`)."""
    values, _, inverse = unique(x, True, True, False, equal_nan=False)  # with the first indices: a stable sort,
    return UniqueInverseResult(values, inverse)  # so the NaNs' indices are in x's order, as unique_all's


def unique_values(x: Any) -> Tensor:
    """NumPy 2's ``unique_values``: the distinct values of ``x`` (NaNs each their own), sorted (NumPy 2.3+
    may return them in another order: it promises none). As ``gk.unique``: no gradient, the size read on
    the host."""
    return unique(x, equal_nan=False)


# ------------------------------------------------------------------ piecewise
def _array_like(value: Any) -> bool:
    """An array for NumPy's single-condition rule (``condlist[0]`` a list or an array)."""
    return isinstance(value, (list, np.ndarray, Tensor)) or hasattr(value, "__cuda_array_interface__")


def _conditions(condlist: Any, x: Tensor, op: str) -> list[Any]:
    """NumPy's ``asarray(condlist, dtype=bool)``, as a list of bool arrays on x's device (one per
    condition), after NumPy's rule that makes a scalar, or an array whose first item is not itself a
    list or array (for x of 1 or more dimensions), a list of one condition."""
    if isinstance(condlist, (str, bytes)) or condlist is None:
        raise ArgumentTypeError(f"{op}: condlist must be bools, a bool tensor or a list of them, got "
                                f"{type(condlist).__name__} {condlist!r:.40}")  # fmt: skip
    if _is_array(condlist):
        nd = condlist.ndim
        single = nd == 0 or (nd == 1 and x.ndim != 0)  # a 0-d one is a scalar here (NumPy cannot index it)
    elif isinstance(condlist, (list, tuple)):
        if not condlist:
            raise InvalidArgumentError(f"{op}: condlist is empty; give at least one condition")
        single = not _array_like(condlist[0]) and x.ndim != 0
    elif np.isscalar(condlist):
        single = True
    else:
        raise ArgumentTypeError(f"{op}: condlist must be bools, a bool tensor or a list of them, got "
                                f"{type(condlist).__name__}")  # fmt: skip
    items = [condlist] if single else list(condlist) if not _is_array(condlist) else None
    if items is None:  # an array of conditions along its first axis
        data = _tensors(op, x, condlist)[1]._data
        conds = [data[i] for i in range(data.shape[0])]
    else:
        conds = [_tensors(op, x, c)[1]._data for c in items]
    out = []
    for c in conds:
        if c.dtype.kind not in "biuf":
            raise DTypeError(f"{op}: conditions must be bools (or numbers), got dtype {c.dtype}")
        if c.shape != conds[0].shape:
            raise ShapeError(f"{op}: the conditions have different shapes, {conds[0].shape} and {c.shape}")
        # a copy of a bool one: the nodes made from it keep it, and the caller's tensor (or array) changed in
        # place before backward must not move the gradient
        out.append(c.copy() if c.dtype == np.bool_ else c != 0)
    return out


def _cond_mask(cond: Any, x: Tensor, op: str) -> Any:
    """A condition of shape ``x.shape[:k]`` (NumPy's boolean index) as a mask of x's shape."""
    nd = cond.ndim
    if nd > x.ndim or cond.shape != x.shape[:nd]:
        raise ShapeError(f"{op}: a condition of shape {cond.shape} does not index x of shape {x.shape} (a "
                         "condition must have x's shape, or that of its leading axes)")  # fmt: skip
    return x._backend.xp.broadcast_to(cond.reshape(cond.shape + (1,) * (x.ndim - nd)), x.shape)


def _fill_in(y: Tensor, cond: Any, value: Any, shape: tuple | None, x: Tensor, op: str) -> Tensor:
    """NumPy's ``y[cond] = value`` out of place: ``value`` (a function's result or a constant, cast to y's
    dtype) broadcast to ``shape`` (that of ``x[cond]``; None: not yet known), its elements put at the true
    places of ``cond`` in order. Differentiable in ``y`` and in ``value``."""
    check_int_fits(op, value, y.dtype)
    if type(value) is float and y.dtype.kind in "iu":  # NumPy converts a Python float with int(): no wrap-around
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{op}: cannot convert the float {value} to an integer for a {y.dtype} result")
        check_int_fits(op, int(value), y.dtype)
    v = _tensors(op, x, value)[1]
    if v.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: a function or constant gave dtype {v.dtype}, which a {y.dtype} result cannot take")
    v = astype(v, y.dtype)
    xp = x._backend.xp
    mask = _cond_mask(cond, x, op)
    m = Tensor._make(mask, x._backend)
    if v.size == 1:  # one value for every selected place
        return where_(m, reshape(v, ()), y)
    if shape is None:  # a constant array: NumPy broadcasts it to x[cond]'s shape (a host read of the count)
        shape = (int(xp.count_nonzero(cond)),) + x.shape[cond.ndim :]
    try:
        v = broadcast_to(v, shape)
    except ShapeError:
        raise ShapeError(f"{op}: a function or constant gave shape {tuple(v.shape)}, which does not broadcast to "
                         f"the shape {shape} of the elements its condition selects") from None  # fmt: skip
    flat = reshape(v, (-1,))
    if flat.size == 0:
        return y
    pos = xp.cumsum(mask.reshape(-1), dtype=np.int64) - 1  # the k-th true place takes element k
    picked = _along(flat, 0, xp.maximum(pos, 0), op)
    return where_(m, reshape(picked, x.shape), y)


def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Tensor:
    """NumPy's ``piecewise``: a tensor of x's shape and dtype, zero where no condition holds, and where
    ``condlist[i]`` holds ``funclist[i](x[condlist[i]], *args, **kw)`` (a function, given ``x[cond]``, as
    NumPy: a 1-d tensor of the selected elements for a condition of x's shape, ``(k, *x.shape[j:])`` for one
    of its ``j`` leading axes; called only when there are some) or ``funclist[i]`` itself (a constant: a
    number, array or tensor). One more function than conditions is the "otherwise" one, where no condition
    holds. Later conditions win where several hold. Conditions are bool tensors, arrays or (nested) lists
    with x's shape (or that of its leading axes, as NumPy's boolean indices); a single condition may be
    given without its list (NumPy's rule: a scalar, or an array whose first item is not itself an array,
    for x of 1 or more dimensions; a 0-d tensor or array counts as a scalar). Results are cast to x's
    dtype, as NumPy assigns them (a Python number that an integer x's dtype cannot hold: InvalidArgumentError,
    as NumPy 2 refuses it). Differentiable in ``x`` through the functions, and in tensor constants. One host
    read per function called (the number of elements selected), and per constant of more than one element."""
    op = "piecewise"
    xt = _tensor(x, op)
    if (
        callable(funclist)
        or not isinstance(funclist, (collections.abc.Sequence, np.ndarray))
        or isinstance(funclist, str)
    ):
        raise ArgumentTypeError(f"{op}: funclist must be a list of functions and constants, got "
                                f"{type(funclist).__name__}")  # fmt: skip
    conds = _conditions(condlist, xt, op)
    n, n2 = len(conds), len(funclist)
    xp = xt._backend.xp
    if n == n2 - 1:  # the "otherwise" condition
        other = ~conds[0]
        for c in conds[1:]:
            other = other & ~c
        conds.append(other)
    elif n != n2:
        raise InvalidArgumentError(f"{op}: with {n} condition(s), either {n} or {n + 1} functions are expected, "
                                   f"got {n2}")  # fmt: skip
    y = Tensor._make(xp.zeros(xt.shape, dtype=xt.dtype), xt._backend)
    for cond, func in zip(conds, funclist, strict=True):
        if not callable(func):
            y = _fill_in(y, cond, func, None, xt, op)
            continue
        _cond_mask(cond, xt, op)  # checked before x is indexed with it
        vals = getitem(xt, Tensor._make(cond, xt._backend), op)
        if vals.size > 0:
            y = _fill_in(y, cond, func(vals, *args, **kw), vals.shape, xt, op)
    return y


# ------------------------------------------------------------------ bits
def _bitorder(bitorder: Any, op: str) -> str:
    text(bitorder, op, "bitorder")
    if bitorder not in ("big", "little"):
        raise InvalidArgumentError(f"{op}: bitorder must be 'big' or 'little', got {bitorder!r:.40}")
    return bitorder


def _bit_axis(t: Tensor, axis: Any, op: str) -> tuple[Any, int]:
    """The data (flattened for ``axis=None``) and the axis the bits run along."""
    if axis is None:
        return t._data.reshape(-1), 0
    return t._data, _axis_of(axis, t.ndim, op)


def packbits(a: Any, /, axis: Any = None, bitorder: str = "big") -> Tensor:
    """NumPy's ``packbits``: the elements of an integer or bool tensor (non-zero: 1) packed eight to a
    uint8 along ``axis`` (the flattened tensor when None), the last byte padded with zero bits;
    ``bitorder="big"`` puts the first element in the highest bit. No gradient, no host reads."""
    op = "packbits"
    t = _tensor(a, op)
    if t.dtype.kind not in "biu":
        raise DTypeError(f"{op}: expected an integer or bool tensor, got dtype {t.dtype}")
    order = _bitorder(bitorder, op)
    data, ax = _bit_axis(t, axis, op)
    xp = t._backend.xp
    if type(data) is np.ndarray:  # NumPy's own (compiled: some 50 times faster than the generic path below)
        return Tensor._make(np.packbits(data, axis=ax, bitorder=order), t._backend)
    bits = xp.moveaxis(data != 0, ax, -1)
    n = bits.shape[-1]
    m = (n + 7) // 8
    padded = xp.zeros(bits.shape[:-1] + (m * 8,), dtype=np.uint8)
    padded[..., :n] = bits
    weights = t._backend.asarray(np.array([128, 64, 32, 16, 8, 4, 2, 1], dtype=np.uint8))
    if order == "little":
        weights = weights[::-1]
    packed = (padded.reshape(bits.shape[:-1] + (m, 8)) * weights).sum(axis=-1, dtype=np.uint8)
    return Tensor._make(xp.ascontiguousarray(xp.moveaxis(packed, -1, ax)), t._backend)


def unpackbits(a: Any, /, axis: Any = None, count: Any = None, bitorder: str = "big") -> Tensor:
    """NumPy's ``unpackbits``: each uint8 element of ``a`` as eight 0/1 uint8 elements along ``axis`` (the
    flattened tensor when None); ``count`` keeps that many (zeros added beyond the bits there are; a
    negative count drops that many from the end). No gradient, no host reads."""
    op = "unpackbits"
    t = _tensor(a, op)
    if t.dtype != np.uint8:
        raise DTypeError(f"{op}: expected a uint8 tensor, got dtype {t.dtype}")
    order = _bitorder(bitorder, op)
    data, ax = _bit_axis(t, axis, op)
    xp = t._backend.xp
    last = ax == data.ndim - 1
    moved = data if last else xp.moveaxis(data, ax, -1)
    total = moved.shape[-1] * 8
    if type(moved) is np.ndarray:  # NumPy's own (compiled); count is applied below, as NumPy's leaves the bits
        bits = np.unpackbits(moved, axis=-1, bitorder=order)  # beyond an empty input unset
    else:
        shifts = np.arange(7, -1, -1, dtype=np.uint8) if order == "big" else np.arange(8, dtype=np.uint8)
        bits = (moved[..., None] >> t._backend.asarray(shifts)) & 1
        bits = bits.reshape(moved.shape[:-1] + (total,))
    if count is not None:
        count = whole(count, op, "count")
        if count < 0:
            if -count > total:
                raise InvalidArgumentError(f"{op}: -count ({-count}) is larger than the number of bits ({total})")
            bits = bits[..., : total + count]
        elif count <= total:
            bits = bits[..., :count]
        else:
            more = xp.zeros(bits.shape[:-1] + (count,), dtype=np.uint8)
            more[..., :total] = bits
            bits = more
    return Tensor._make(xp.ascontiguousarray(bits if last else xp.moveaxis(bits, -1, ax)), t._backend)


# ------------------------------------------------------------------ copyto
def _scalar_castable(value: Any, to: np.dtype, casting: str) -> bool:
    """NumPy 2's rule for a Python number given to ``copyto`` (a "weak" scalar: an int fits any integer or
    float dtype, a float any float dtype; a bool is an ordinary bool). NumPy 2's ``casting="equiv"`` takes
    the number as int64 or float64 (an int beyond int64's range: refused)."""
    if isinstance(value, bool):
        return bool(np.can_cast(np.bool_, to, casting))
    default = np.dtype(np.int64 if isinstance(value, int) else np.float64)
    if casting == "equiv":
        return (not isinstance(value, int) or -(2**63) <= value < 2**63) and bool(np.can_cast(default, to, casting))
    if to.kind == "f" or (to.kind in "iu" and isinstance(value, int)):
        return True
    return casting == "unsafe"


def _where_mask(where: Any, t: Tensor, op: str) -> Any:
    """``copyto``'s ``where`` as a bool array of dst's device that broadcasts to its shape; None for True.
    Arrays and tensors must be bools (NumPy casts them "safely" to bool); numbers and lists become bools as
    ``numpy.asarray(where, dtype=bool)`` makes them (``where=[1, 0, 1]``), as NumPy's copyto takes them."""
    if isinstance(where, (bool, np.bool_)) and where:
        return None
    if where is None or isinstance(where, (str, bytes)):
        raise ArgumentTypeError(f"{op}: where must be bools (True: everywhere), got {type(where).__name__} "
                                f"{where!r:.40}")  # fmt: skip
    if not _is_array(where) and not (isinstance(where, (list, tuple)) and any(isinstance(v, Tensor) for v in where)):
        try:
            where = np.asarray(where, dtype=bool)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"{op}: where must be bools, got {where!r:.40} ({exc})") from None
    w = _tensors(op, t, where)[1]
    if w.dtype != np.bool_:
        raise DTypeError(f"{op}: where must be bools, got dtype {w.dtype}")
    try:
        if np.broadcast_shapes(w.shape, t.shape) != t.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: where of shape {w.shape} does not broadcast to dst's shape {t.shape}") from None
    return w._data


def copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    """NumPy's ``copyto``, in place: ``src`` (broadcast to dst's shape; leading axes of length 1 beyond dst's
    dimensions are dropped, as NumPy drops them) written into ``dst`` (a tensor, or a NumPy array, which is
    then changed) where ``where`` (bools, broadcast; a number or a list is made bool as NumPy makes it) is
    true. ``casting`` as NumPy 2's rules (a Python number is "weak": ``copyto(int_tensor, 1.5)`` raises
    DTypeError, ``copyto(int8_tensor, 300)`` InvalidArgumentError, under NumPy 1.x too); an overflowing cast
    gives NumPy's RuntimeWarning on the CPU. Returns None. As gradkit's other in-place operations
    (``Tensor.copy_``): refused with AutogradError for a dst that requires grad, or a src that does, while
    grad mode is on; dst's version counter is bumped. No host reads."""
    op = "copyto"
    t = _target(dst, op)
    text(casting, op, "casting")
    if casting not in _CASTINGS:
        raise InvalidArgumentError(f"{op}: casting must be one of {_CASTINGS}, got {casting!r:.40}")
    if type(src) in (bool, int, float):
        big = type(src) is int and not -(2**63) <= src < 2**63
        if big and t.dtype == np.bool_ and casting != "equiv":  # NumPy: OverflowError, whatever the casting
            raise InvalidArgumentError(f"{op}: the Python int {src!r:.40} is beyond the int64 range, and NumPy "
                                       "does not write it into a bool array")  # fmt: skip
        if not _scalar_castable(src, t.dtype, casting):
            raise DTypeError(f"{op}: cannot cast the Python {type(src).__name__} {src!r:.40} to {t.dtype} with "
                             f"casting={casting!r}")  # fmt: skip
        check_int_fits(op, src, t.dtype)
        if big:  # beyond int64: a float dst (an integer dst refused it above)
            src = float(src)
    s = _tensors(op, t, src)[1]
    if type(src) not in (bool, int, float) and not np.can_cast(s.dtype, t.dtype, casting):
        raise DTypeError(f"{op}: cannot cast {s.dtype} to {t.dtype} with casting={casting!r}")
    data = s._data
    extra = s.ndim - t.ndim
    if extra > 0 and all(n == 1 for n in s.shape[:extra]):  # NumPy drops leading axes of length 1
        data = data.reshape(s.shape[extra:])
    try:
        if np.broadcast_shapes(data.shape, t.shape) != t.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: src of shape {s.shape} does not broadcast to dst's shape {t.shape}") from None
    mask = _where_mask(where, t, op)
    t._check_inplace(op, s)
    xp = t._backend.xp
    if mask is None:
        xp.copyto(t._data, data, casting="unsafe")
    else:
        xp.copyto(t._data, data, casting="unsafe", where=mask)
    _written(t)
    return None


# ------------------------------------------------------------------ rearranging and index helpers
def rollaxis(a: Any, axis: Any, start: Any = 0) -> Tensor:
    """NumPy's ``rollaxis``: axis ``axis`` moved to stand before axis ``start`` (a view; ``moveaxis`` is
    NumPy's recommended spelling). Differentiable."""
    op = "rollaxis"
    t = _tensor(a, op)
    n = t.ndim
    ax = _axis_of(axis, n, op)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: start must be an int, got {type(start).__name__} {start!r:.40}")
    st = int(start) + n if start < 0 else int(start)
    if not 0 <= st < n + 1:
        raise IndexOutOfRangeError(f"{op}: start must satisfy {-n} <= start < {n + 1}, got {start}")
    if ax < st:
        st -= 1
    if ax == st:
        return alias(t, op)
    axes = [i for i in range(n) if i != ax]
    axes.insert(st, ax)
    return transpose(t, axes, op=op)


def row_stack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Tensor:
    """NumPy's ``row_stack``: ``vstack``. NumPy 2.0 deprecated the name, and so does gradkit: each call
    gives NumPy's DeprecationWarning (use ``gk.vstack``)."""
    warnings.warn("`row_stack` alias is deprecated. Use `gk.vstack` directly.", DeprecationWarning, stacklevel=2)
    return vstack(tup, dtype=dtype, casting=casting)


def mask_indices(n: Any, mask_func: Any, k: Any = 0, *, device: Any = None) -> tuple[Tensor, Tensor]:
    """NumPy's ``mask_indices``: the int64 (row, column) indices of the non-zero entries of
    ``mask_func(ones((n, n), int64), k)`` (``gk.triu``, ``gk.tril`` or a function of your own; it gets an
    int64 tensor on ``device``, the default device unless given). One host read (the number of entries)."""
    op = "mask_indices"
    if not callable(mask_func):
        raise ArgumentTypeError(f"{op}: mask_func must be a function such as gk.triu, got {type(mask_func).__name__}")
    if isinstance(n, (float, np.floating)):
        raise ArgumentTypeError(f"{op}: n must be an int, got {type(n).__name__} {n!r}")
    n = whole(n, op, "n")
    if n < 0:
        raise ShapeError(f"{op}: n must be non-negative, got {n}")
    backend = get_backend(device, op)
    from gradkit.creation import _on

    with _on(backend):
        ones = Tensor._make(backend.xp.ones((n, n), dtype=np.int64), backend)
    a = _tensors(op, ones, mask_func(ones, k))[1]
    if a.ndim != 2:
        raise ShapeError(f"{op}: mask_func must return an (n, n) array, got shape {a.shape}")
    return nonzero_(Tensor._make(a._data != 0, backend))  # type: ignore[return-value]


def _shape_proxy(value: Any) -> Any:
    """A tensor or device array as a NumPy array of its shape and dtype that holds no memory."""
    if isinstance(value, Tensor) or (_is_array(value) and not isinstance(value, np.ndarray)):
        return np.broadcast_to(np.zeros((), dtype=value.dtype), value.shape)
    return value


def einsum_path(*operands: Any, optimize: Any = "greedy", einsum_call: bool = False) -> tuple[list, str]:
    """NumPy's ``einsum_path``: the contraction order NumPy chooses for ``einsum(subscripts, *operands)``
    (``optimize``: "greedy", "optimal", True, False or an explicit path) and its report, as NumPy returns
    them. Only the shapes are looked at: tensors on any device, nothing read back. The path can be given
    to ``gk.einsum(..., optimize=path)``."""
    op = "einsum_path"
    if flag(einsum_call, op, "einsum_call"):
        raise InvalidArgumentError(f"{op}: einsum_call=True is NumPy's internal form (it returns arrays); "
                                   "use gk.einsum")  # fmt: skip
    if not operands:
        raise ArgumentTypeError(f"{op}: expected the subscripts and the operands")
    proxies = [_shape_proxy(v) for v in operands]
    try:
        path, report = np.einsum_path(*proxies, optimize=optimize)
    except ValueError as exc:
        cls = ShapeError if "size" in str(exc).lower() or "shape" in str(exc).lower() else InvalidArgumentError
        raise cls(f"{op}: {exc}") from None
    except IndexError as exc:  # an explicit path naming operands that are not there
        raise IndexOutOfRangeError(f"{op}: {exc}") from None
    except (TypeError, KeyError) as exc:
        raise ArgumentTypeError(f"{op}: {exc}") from None
    return path, report


# ------------------------------------------------------------------ creation
def _like_device(like: Any, device: Any, op: str) -> Any:
    """The device that ``like=`` names where ``device=`` does not: a tensor's, or the CPU for a NumPy array."""
    if like is None:
        return device
    if not isinstance(like, (Tensor, np.ndarray)):
        raise ArgumentTypeError(f"{op}: like must be a tensor (its device is used), a NumPy array (the CPU) or "
                                f"None, got {type(like).__name__}")  # fmt: skip
    if device is not None:
        return device
    return like.device if isinstance(like, Tensor) else "cpu"


def _created(arr: np.ndarray, like: Any, device: Any, op: str) -> Tensor:
    from gradkit.creation import asarray

    return asarray(arr, device=_like_device(like, device, op))


def _read_dtype(dtype: Any, op: str) -> tuple[np.dtype, np.dtype]:
    """The dtype that ``frombuffer`` reads with and gradkit's dtype of the result: the same, except that a
    dtype of another byte order (``">f8"``: big-endian data) is read as it is and converted to the native one."""
    dt = np.float64 if dtype is None else dtype
    try:
        raw = np.dtype(dt)
    except (TypeError, ValueError):
        raw = None
    if raw is not None and not raw.isnative:
        return raw, to_dtype(raw.newbyteorder("="), op)
    native = to_dtype(dt, op)
    return native, native


def frombuffer(buffer: Any, dtype: Any = None, count: Any = -1, offset: Any = 0, *, like: Any = None,
               device: Any = None) -> Tensor:  # fmt: skip
    """NumPy's ``frombuffer``: the bytes of ``buffer`` read as a 1-d tensor of ``dtype`` (float64 by
    default, as NumPy; one of gradkit's dtypes, in either byte order: ``">f4"`` reads big-endian data into a
    float32 tensor), ``count`` items (-1: all) from byte ``offset``. On the CPU the tensor shares the
    buffer's memory, as NumPy's array does (read-only for ``bytes``: in-place writes are refused), except
    for a non-native byte order (a copy); ``device=`` (or ``like=``, a tensor whose device is used; a NumPy
    array: the CPU) puts it on another device (a copy)."""
    op = "frombuffer"
    raw, dt = _read_dtype(dtype, op)
    count, offset = whole(count, op, "count"), whole(offset, op, "offset")
    try:
        arr = np.frombuffer(buffer, dtype=raw, count=count, offset=offset)
    except TypeError as exc:
        raise ArgumentTypeError(f"{op}: buffer must support the buffer protocol (bytes, bytearray, memoryview, "
                                f"...), got {type(buffer).__name__} ({exc})") from None  # fmt: skip
    except ValueError as exc:
        raise InvalidArgumentError(f"{op}: {exc}") from None
    if raw != dt:
        arr = arr.astype(dt)
    return _created(arr, like, device, op)


def fromiter(iter: Any, dtype: Any, count: Any = -1, *, like: Any = None, device: Any = None) -> Tensor:  # noqa: A002
    """NumPy's ``fromiter``: a 1-d tensor of ``dtype`` (one of gradkit's dtypes, in either byte order; None:
    float64, as NumPy) from the numbers an iterable gives (``count`` of them; -1: all), on the default device
    unless ``device=`` (or ``like=``, a tensor whose device is used; a NumPy array: the CPU) says otherwise.
    A Python int that the dtype cannot hold raises InvalidArgumentError (NumPy 2's OverflowError; NumPy 1.x
    would wrap it around)."""
    op = "fromiter"
    dt = _read_dtype(dtype, op)[1]  # the values are the same in either byte order: read them natively
    count = whole(count, op, "count")
    try:
        with warnings.catch_warnings():
            if not _NUMPY2:  # NumPy 1.x wraps an int out of range around, with this warning: NumPy 2 raises
                warnings.filterwarnings("error", "NumPy will stop allowing conversion of out-of-bound",
                                        DeprecationWarning)  # fmt: skip
            arr = np.fromiter(iter, dtype=dt, count=count)
    except (OverflowError, DeprecationWarning) as exc:
        found = re.search(r"integer (-?\d+) out of bounds|conversion of (-?\d+) to", str(exc))
        if found:
            raise out_of_range(op, int(found.group(1) or found.group(2)), dt) from None
        raise InvalidArgumentError(f"{op}: a number is out of range for {dt} ({str(exc).splitlines()[0]})") from None
    except (TypeError, ValueError) as exc:
        cls = ArgumentTypeError if isinstance(exc, TypeError) else InvalidArgumentError
        raise cls(f"{op}: {exc}") from None
    return _created(arr, like, device, op)


def asanyarray(a: Any, dtype: Any = None, order: Any = None, *, device: Any = None, copy: Any = None,
               like: Any = None) -> Tensor:  # fmt: skip
    """NumPy's ``asanyarray``: gradkit has no array subclasses, so :func:`gk.asarray` (NumPy's dtypes, no copy
    where none is needed; a tensor that matches is returned itself, in the graph). ``copy`` as
    ``gk.array``'s (True: a new tensor, outside the graph; False: InvalidArgumentError where a copy is
    needed). ``order`` is checked and ignored (tensors are C-ordered); ``like`` (a tensor) gives its device
    (a NumPy array: the CPU). Errors name ``asanyarray``."""
    from gradkit.creation import _numpy_tensor
    from gradkit.ops.numpy_misc import _order

    op = "asanyarray"
    _order(order, op)
    if copy is not None and not isinstance(copy, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}: copy must be True, False or None, got {type(copy).__name__} {copy!r:.40}")
    device = _like_device(like, device, op)
    t, shared = _numpy_tensor(a, dtype, device, op)  # gk.array's rules, with this function's name in errors
    if copy is None:
        return t
    if not copy:
        if not shared:
            raise InvalidArgumentError(f"{op}: copy=False, but a {type(a).__name__} needs a copy to become a "
                                       f"tensor of dtype {t.dtype} on {t.device}; pass copy=None to copy only "
                                       "when needed")  # fmt: skip
        return t
    return Tensor._make(t._backend.xp.array(t._data, copy=True) if shared else t._data, t._backend)


# ------------------------------------------------------------------ queries
def isfortran(a: Any) -> bool:
    """NumPy's ``isfortran``: True when the memory is Fortran-ordered and not also C-ordered (a transposed
    view of a 2-d tensor, say; gradkit makes C-ordered tensors)."""
    data = a._data if isinstance(a, Tensor) else a
    if not _is_array(data):
        raise ArgumentTypeError(f"isfortran: expected a tensor or an array, got {type(a).__name__}")
    flags = data.flags
    return bool(flags.f_contiguous and not flags.c_contiguous)


def typename(char: Any) -> str:
    """NumPy's ``typename``: the description of a dtype character code (``"d"``: "double precision")."""
    try:
        return np.typename(char)
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"typename: unknown type character {char!r:.40}") from None


def mintypecode(typechars: Any, typeset: str = "GDFgdf", default: str = "d") -> str:
    """NumPy's ``mintypecode``: the character of the smallest type in ``typeset`` that every one of
    ``typechars`` (characters, dtypes, arrays or tensors) casts to safely (``default`` when none is in it)."""
    if isinstance(typechars, Tensor):
        typechars = [typechars]
    try:
        chars = [t.dtype.char if isinstance(t, Tensor) or (_is_array(t) and not isinstance(t, np.ndarray)) else t
                 for t in typechars]  # fmt: skip
        return np.mintypecode(chars, typeset, default)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"mintypecode: {exc}") from None


def _integer(value: Any, op: str, name: str) -> int:
    """An int, a NumPy integer, a 0-d integer array or a 0-d integer tensor (one device read on a GPU) as a
    Python int."""
    if isinstance(value, Tensor):
        if value.ndim != 0 or value.dtype.kind not in "iu":
            raise ArgumentTypeError(f"{op}: {name} must be an integer, got a tensor of shape {value.shape} and "
                                    f"dtype {value.dtype}")  # fmt: skip
        return int(_host(value, op))
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":  # as NumPy takes it
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: {name} must be an integer, got {type(value).__name__} {value!r:.40}")
    return int(value)


def base_repr(number: Any, base: Any = 2, padding: Any = 0) -> str:
    """NumPy's ``base_repr``: ``number`` written in ``base`` (2 to 36), ``padding`` zeros in front."""
    op = "base_repr"
    number, base, padding = _integer(number, op, "number"), whole(base, op, "base"), whole(padding, op, "padding")
    try:
        return np.base_repr(number, base, padding)
    except ValueError as exc:
        raise InvalidArgumentError(f"{op}: {exc}") from None


def binary_repr(num: Any, width: Any = None) -> str:
    """NumPy's ``binary_repr``: ``num`` in binary (negative numbers as two's complement when ``width``
    is given)."""
    op = "binary_repr"
    num = _integer(num, op, "num")
    width = None if width is None else whole(width, op, "width")
    try:
        return np.binary_repr(num, width)
    except ValueError as exc:
        raise InvalidArgumentError(f"{op}: {exc}") from None


# ------------------------------------------------------------------ formatting
def _values(a: Any, op: str) -> Any:
    """What NumPy formats: a tensor's or device array's values on the host (one device read on a GPU,
    refused while a CUDA graph is captured); anything else as it is."""
    if isinstance(a, Tensor):
        return _host(a, op)
    if _is_array(a) and not isinstance(a, np.ndarray):
        return _host(_tensor(a, op), op)
    return a


def _formatted(op: str, fn: Any, a: Any, *args: Any, **kwargs: Any) -> str:
    try:
        return fn(_values(a, op), *args, **kwargs)
    except (TypeError, AttributeError) as exc:
        raise ArgumentTypeError(f"{op}: {exc}") from None
    except ValueError as exc:
        raise InvalidArgumentError(f"{op}: {exc}") from None


def array2string(a: Any, max_line_width: Any = None, precision: Any = None, suppress_small: Any = None,
                 separator: str = " ", prefix: str = "", *, formatter: Any = None, threshold: Any = None,
                 edgeitems: Any = None, sign: Any = None, floatmode: Any = None, suffix: str = "",
                 legacy: Any = None) -> str:  # fmt: skip
    """NumPy's ``array2string``: the values of a tensor (or array) as NumPy prints them, with NumPy's
    options. A GPU tensor is copied to the host first (one device read)."""
    return _formatted("array2string", np.array2string, a, max_line_width=max_line_width, precision=precision,
                      suppress_small=suppress_small, separator=separator, prefix=prefix, formatter=formatter,
                      threshold=threshold, edgeitems=edgeitems, sign=sign, floatmode=floatmode, suffix=suffix,
                      legacy=legacy)  # fmt: skip


def array_repr(arr: Any, max_line_width: Any = None, precision: Any = None, suppress_small: Any = None) -> str:
    """NumPy's ``array_repr``: NumPy's repr of the values (``"array([1., 2.])"``, the dtype shown where NumPy
    shows it), for a tensor on any device (a GPU tensor is copied to the host first)."""
    return _formatted("array_repr", np.array_repr, arr, max_line_width, precision, suppress_small)


def array_str(a: Any, max_line_width: Any = None, precision: Any = None, suppress_small: Any = None) -> str:
    """NumPy's ``array_str``: the values as ``print`` shows an array (``"[1. 2.]"``), for a tensor on any
    device (a GPU tensor is copied to the host first)."""
    return _formatted("array_str", np.array_str, a, max_line_width, precision, suppress_small)
