"""PyTorch's functions that ported PyTorch programs call and NumPy has no twin of (``torch.mm``, ``torch.lerp``,
``torch.cdist``, ``torch.cummax``, ``torch.finfo`` ...).

Each is a composite of differentiable gradkit operations, so every one of them has gradients of any order
where PyTorch's has them; the few values that need a host read (an index list given as a tensor) say so.
The ``Tensor`` methods of the same names call these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit import creation as _creation
from gradkit import ops as _ops
from gradkit import return_types
from gradkit._args import real, scalar, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor, normalize_axis, pass_through
from gradkit.ops.numpy_more import take_along_axis
from gradkit.tensor import Tensor

__all__ = [
    "addcdiv", "addcmul", "addmm", "baddbmm", "bmm", "cdist", "cummax", "cummin", "finfo", "iinfo", "index_copy",
    "index_fill", "index_reduce", "lerp", "logcumsumexp", "masked_scatter", "mm", "movedim", "scatter_reduce",
    "tensor_split", "unflatten",
]


def _tensor(x: Any, op: str, like: Tensor | None = None) -> Tensor:
    return as_tensor(x, op, None if like is None else like._backend)


def _number(value: Any, op: str, name: str) -> float | int:
    """A Python number (alpha, beta, value): a 0-d tensor or NumPy scalar read as one; bool refused."""
    value = scalar(value.item() if isinstance(value, Tensor) and value.size == 1 else value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
    return value.item() if isinstance(value, np.generic) else value


def _dim(x: Tensor, dim: Any, op: str) -> int:
    """``dim`` as an axis of ``x``; a 0-d tensor takes 0 or -1, as PyTorch's (another dim: PyTorch's IndexError)."""
    dim = whole(dim, op, "dim")
    if x.ndim == 0:
        if dim not in (0, -1):
            raise IndexOutOfRangeError(f"{op}: dim {dim} is out of range for a 0-d tensor (expected 0 or -1)")
        return 0
    return normalize_axis(dim, x.ndim, op)


def _take(x: Tensor, ax: int, start: int, stop: int, op: str) -> Tensor:
    return _ops.getitem(x, (slice(None),) * ax + (slice(start, stop),), op)


# ------------------------------------------------------------------------------------------------- shape
def tensor_split(x: Any, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``tensor_split`` (NumPy's ``array_split`` along ``dim``): an int n gives n pieces whose sizes
    differ by at most one (the first ones larger), a list/tuple/1-d int tensor of indices cuts before each;
    returns a tuple of views."""
    op = "tensor_split"
    x = _tensor(x, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: expected a tensor with at least one dimension, got a 0-d tensor")
    ax = _dim(x, dim, op)
    n = x.shape[ax]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype.kind not in "iu" or spec.ndim > 1:
            raise ArgumentTypeError(f"{op}: a tensor of indices must be a 0-d or 1-d integer tensor, got "
                                    f"{spec.dtype} of shape {spec.shape}")
        spec = spec.item() if spec.ndim == 0 else [int(i) for i in spec.tolist()]
    if isinstance(spec, (list, tuple)):
        cuts = [whole(i, op, "index") for i in spec]
        bounds = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    else:
        sections = whole(spec, op, "sections")
        if sections < 1:
            raise InvalidArgumentError(f"{op}: the number of sections must be at least 1, got {sections}")
        size, extra = divmod(n, sections)
        bounds = [0]
        for k in range(sections):
            bounds.append(bounds[-1] + size + (1 if k < extra else 0))
    return tuple(_take(x, ax, a, max(a, b), op) for a, b in zip(bounds[:-1], bounds[1:], strict=True))


def _dims(value: Any, ndim: int, op: str, name: str) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    out = tuple(normalize_axis(whole(d, op, name), ndim, op) for d in items)
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"{op}: repeated dim in {name} {value!r}")
    return out


def movedim(x: Any, source: Any, destination: Any) -> Tensor:
    """PyTorch's ``movedim`` (NumPy's ``moveaxis``): the dims ``source`` (an int or a sequence) moved to the
    places ``destination``, the others keeping their order; a view."""
    op = "movedim"
    x = _tensor(x, op)
    nd = max(x.ndim, 1)
    src, dst = _dims(source, nd, op, "source"), _dims(destination, nd, op, "destination")
    if len(src) != len(dst):
        raise InvalidArgumentError(f"{op}: source and destination must name as many dims, got {source!r} and "
                                   f"{destination!r}")
    if x.ndim == 0:
        return x.view(())
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return _ops.transpose(x, tuple(order))


def unflatten(x: Any, dim: int, sizes: Any) -> Tensor:
    """PyTorch's ``unflatten``: dim ``dim`` reshaped into ``sizes`` (a tuple or list; one of them may be -1),
    whose product must be that dim's length."""
    op = "unflatten"
    x = _tensor(x, op)
    ax = _dim(x, dim, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no dim to unflatten")
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise ArgumentTypeError(f"{op}: sizes must be a non-empty tuple or list of ints, got {sizes!r:.60}")
    sizes = [whole(s, op, "size") for s in sizes]
    n = x.shape[ax]
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise InvalidArgumentError(f"{op}: sizes {tuple(sizes)} may hold one -1 and no other negative size")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known == 0 or n % known:
            raise ShapeError(f"{op}: sizes {tuple(sizes)} cannot unflatten dim {ax} of length {n}")
        sizes[sizes.index(-1)] = n // known
    elif known != n:
        raise ShapeError(f"{op}: the product of sizes {tuple(sizes)} is {known}, not the length {n} of dim {ax}")
    return _ops.reshape(x, x.shape[:ax] + tuple(sizes) + x.shape[ax + 1:])


# ------------------------------------------------------------------------------------------ arithmetic
def lerp(input: Any, end: Any, weight: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input + weight * (end - input)`` (``weight`` a number or a tensor; all broadcast), computed as
    PyTorch's: from ``end`` where ``|weight| >= 0.5``, so weight 1 gives ``end`` exactly. Floats only;
    gradients for all three."""
    op = "lerp"
    x = _tensor(input, op)
    end = _tensor(end, op, x)
    for t, name in ((x, "input"), (end, "end")):
        if t.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got {t.dtype}")
    diff = end - x
    if not isinstance(weight, Tensor):
        w = _number(weight, op, "weight")
        return x + diff * w if abs(w) < 0.5 else end - diff * (1 - w)
    if weight.dtype.kind != "f":
        raise DTypeError(f"{op}: weight must be a float tensor or a number, got {weight.dtype}")
    weight = _tensor(weight, op, x)
    small = _ops.abs(weight.detach()) < 0.5
    return _ops.where(small, x + diff * weight, end - diff * (1 - weight))


def _scaled(t: Tensor, value: Any) -> Tensor:
    return t if value == 1 else t * value


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 * tensor2`` (broadcast; ``value`` a number)."""
    op = "addcmul"
    x = _tensor(input, op)
    value = _number(value, op, "value")
    return x + _scaled(_tensor(tensor1, op, x) * _tensor(tensor2, op, x), value)


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 / tensor2`` (broadcast; ``value`` a number). Two integer tensors are refused,
    as PyTorch's (true division would silently become floats)."""
    op = "addcdiv"
    x = _tensor(input, op)
    value = _number(value, op, "value")
    t1, t2 = _tensor(tensor1, op, x), _tensor(tensor2, op, x)
    if t1.dtype.kind in "biu" and t2.dtype.kind in "biu":
        raise DTypeError(f"{op}: integer division of tensor1 ({t1.dtype}) by tensor2 ({t2.dtype}) is not "
                         "supported, as PyTorch's; convert them to floats")
    return x + _scaled(t1 / t2, value)


def mm(input: Any, mat2: Any) -> Tensor:  # noqa: A002
    """The product of two matrices (2-d), as ``torch.mm``; ``gk.matmul`` also batches and broadcasts."""
    return _tensor(input, "mm").mm(mat2)


def bmm(input: Any, mat2: Any) -> Tensor:  # noqa: A002
    """The products of two batches of matrices (3-d, equal batch sizes; no broadcasting), as ``torch.bmm``."""
    return _tensor(input, "bmm").bmm(mat2)


def _add_product(x: Any, product: Tensor, beta: Any, alpha: Any, op: str) -> Tensor:
    beta, alpha = _number(beta, op, "beta"), _number(alpha, op, "alpha")
    x = _tensor(x, op, product)
    if _autocast.active:  # gk.autocast: addmm, baddbmm, ... return its dtype
        x, product = _autocast.cast(op, x, product)
    try:
        shape = np.broadcast_shapes(x.shape, product.shape)
    except ValueError:
        shape = None
    if shape != product.shape:
        raise ShapeError(f"{op}: input of shape {x.shape} does not broadcast to the product's shape {product.shape}")
    product = _scaled(product, alpha)
    if beta == 0:  # as PyTorch: input's values are ignored (its NaN and inf too); its gradient is the output's
        out = product if x.dtype == product.dtype else product + _creation.zeros_like(x)  # times 0 (NaN at an inf)
        if x._requires_grad:
            out = record(op, out._data, out._backend, (out, x), (pass_through, _times_zero), broadcast=True)
        return out
    return _scaled(x, beta) + product


def _times_zero(g: Tensor) -> Tensor:
    return g * 0


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)`` (mat1, mat2 2-d; input broadcast to the product's shape); with
    beta 0, input is ignored (its NaN and inf too), as PyTorch's."""
    return _add_product(input, mm(mat1, mat2), beta, alpha, "addmm")


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * bmm(batch1, batch2)``, as :func:`addmm` for batches of matrices (3-d)."""
    return _add_product(input, bmm(batch1, batch2), beta, alpha, "baddbmm")


# ---------------------------------------------------------------------------------------------- cdist
_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _safe_root(s: Tensor, p: float) -> Tensor:
    """``s ** (1 / p)`` with a gradient of 0 (not inf or NaN) where ``s`` is 0, as PyTorch's cdist."""
    pos = s.detach() > 0
    safe = _ops.where(pos, s, _creation.ones_like(s))
    root = _ops.sqrt(safe) if p == 2 else _ops.power(safe, 1.0 / p)
    return _ops.where(pos, root, _creation.zeros_like(s))


def cdist(x1: Any, x2: Any, p: Any = 2.0, compute_mode: str | None = None) -> Tensor:
    """PyTorch's ``cdist``: the p-norm distances between the rows of ``x1`` (..., P, M) and of ``x2``
    (..., R, M), shape (..., P, R), the batch dims broadcast. ``p >= 0`` (0 counts the coordinates that
    differ, inf takes the largest). Differentiable for p > 0, with PyTorch's gradient 0 at distance 0.

    For p = 2 and more than 25 rows in x1 or x2 it uses ``|a|^2 + |b|^2 - 2 a.b`` (matrix products, less
    memory, as PyTorch's default ``compute_mode``; rounding makes a distance of 0 come out near 1e-4 in float32);
    ``compute_mode="donot_use_mm_for_euclid_dist"`` always takes the differences (exact, (..., P, R, M) memory)."""
    op = "cdist"
    a = _tensor(x1, op)
    b = _tensor(x2, op, a)
    if _autocast.active:  # gk.autocast: float16 rows are compared in float32, as PyTorch's
        a, b = _autocast.to_float32(op, a, b)
    p = real(p, op, "p", low=0.0)
    if compute_mode is None:
        compute_mode = _CDIST_MODES[0]
    if compute_mode not in _CDIST_MODES:
        raise InvalidArgumentError(f"{op}: compute_mode must be one of {', '.join(_CDIST_MODES)} or None, "
                                   f"got {compute_mode!r}")
    for t, name in ((a, "x1"), (b, "x2")):
        if t.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got {t.dtype}")
        if t.ndim < 2:
            raise ShapeError(f"{op}: {name} must have at least 2 dims (..., rows, M), got shape {t.shape}")
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"{op}: x1 and x2 must have as many columns, got shapes {a.shape} and {b.shape}")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"{op}: the batch dims of x1 {a.shape} and x2 {b.shape} do not broadcast") from None
    use_mm = p == 2 and (compute_mode == _CDIST_MODES[1] or (
        compute_mode == _CDIST_MODES[0] and (a.shape[-2] > 25 or b.shape[-2] > 25)))
    if use_mm:
        a2 = _ops.sum(a * a, axis=-1, keepdims=True)
        b2 = _ops.sum(b * b, axis=-1, keepdims=True)
        sq = a2 + _ops.swapaxes(b2, -1, -2) - 2.0 * _ops.matmul(a, _ops.swapaxes(b, -1, -2))
        sq = _ops.maximum(sq, _creation.zeros_like(sq))
        return _ops.broadcast_to(_safe_root(sq, 2.0), batch + sq.shape[-2:])
    diff = _ops.expand_dims(a, -2) - _ops.expand_dims(b, -3)  # (..., P, R, M)
    if p == 0:
        return _ops.sum(diff != 0, axis=-1).astype(diff.dtype).detach()
    ad = _ops.abs(diff)
    if math.isinf(p):
        return _ops.amax(ad, axis=-1) if ad.shape[-1] else _ops.sum(ad, axis=-1)
    if p == 1:
        return _ops.sum(ad, axis=-1)
    if p == 2:
        return _safe_root(_ops.sum(diff * diff, axis=-1), 2.0)
    pos = ad.detach() > 0
    powered = _ops.where(pos, _ops.power(_ops.where(pos, ad, _creation.ones_like(ad)), p), _creation.zeros_like(ad))
    return _safe_root(_ops.sum(powered, axis=-1), p)


# ------------------------------------------------------------------------------------------------ scans
def _scan(xp: Any, data: Any, ax: int, fn: Any, fill: Any) -> Any:
    """The inclusive scan of ``data`` along ``ax`` with the associative ``fn`` (log2(n) whole-array steps,
    the same on NumPy and CuPy)."""
    n = data.shape[ax]
    shift = 1
    while shift < n:
        pad = xp.full(data.shape[:ax] + (shift,) + data.shape[ax + 1:], fill, dtype=data.dtype)
        head = data[(slice(None),) * ax + (slice(0, n - shift),)]
        data = fn(data, xp.concatenate([pad, head], axis=ax))
        shift *= 2
    return data


def _cum_extreme(x: Any, dim: Any, op: str, pick: str, result: type) -> Any:
    x = _tensor(x, op)
    ax = _dim(x, dim, op)
    if x.dtype.kind == "b":
        raise DTypeError(f"{op}: bool tensors are not supported; convert to an integer dtype first")
    if x.ndim == 0:
        return result(x.view(()) * 1, _creation.zeros_like(x, dtype=np.int64))
    xp = x._backend.xp
    data = x._data
    if data.shape[ax] == 0:
        return result(x * 1, _creation.zeros_like(x, dtype=np.int64))
    # maximum/minimum propagate NaN (NumPy and CuPy alike); the pad is the identity, so it never wins
    if data.dtype.kind == "f":
        identity = -np.inf if pick == "maximum" else np.inf
    else:
        info = np.iinfo(data.dtype)
        identity = info.min if pick == "maximum" else info.max
    running = _scan(xp, data, ax, getattr(xp, pick), identity)
    shape = [1] * data.ndim
    shape[ax] = data.shape[ax]
    positions = xp.arange(data.shape[ax], dtype=np.int64).reshape(shape)
    hit = data == running
    if data.dtype.kind == "f":
        hit = hit | xp.isnan(data)
    candidates = xp.where(hit, positions, 0)
    indices = _scan(xp, candidates, ax, xp.maximum, np.int64(0))  # the last tie, the last NaN, as PyTorch's
    idx = Tensor._make(indices, x._backend)
    return result(take_along_axis(x, idx, ax), idx)


def cummax(x: Any, dim: Any) -> Any:
    """PyTorch's ``cummax``: ``(values, indices)`` (a named tuple) of the running maximum along ``dim``; the
    index is the last position holding the maximum so far (of the last NaN once one is met, the values then
    NaN), as PyTorch's. The gradient goes to that position."""
    return _cum_extreme(x, dim, "cummax", "maximum", return_types.cummax)


def cummin(x: Any, dim: Any) -> Any:
    """PyTorch's ``cummin``: as :func:`cummax`, for the running minimum."""
    return _cum_extreme(x, dim, "cummin", "minimum", return_types.cummin)


def logcumsumexp(x: Any, dim: Any) -> Tensor:
    """PyTorch's ``logcumsumexp``: ``log(cumsum(exp(x)))`` along ``dim`` without overflow or underflow (a scan
    of ``logaddexp``, log2(n) steps); integer inputs give floats. Differentiable to any order."""
    op = "logcumsumexp"
    x = _tensor(x, op)
    ax = _dim(x, dim, op)
    if x.dtype.kind != "f":
        x = x.astype(np.float64 if x.dtype.itemsize > 2 else np.float32)
    if x.ndim == 0:
        return x * 1
    n = x.shape[ax]
    y = x
    shift = 1
    with np.errstate(invalid="ignore"):  # a NaN gives NaN from there on, silently as PyTorch's
        while shift < n:
            pad = _creation.full_like(_take(y, ax, 0, shift, op).detach(), -math.inf)
            y = _ops.logaddexp(y, _ops.concatenate([pad, _take(y, ax, 0, n - shift, op)], axis=ax))
            shift *= 2
    return y if n > 1 else y * 1


# ------------------------------------------------------------------------------------------------ index
def _dim_mask(x: Tensor, dim: Any, index: Any, op: str) -> tuple[int, Any]:
    """(axis, a bool array True at ``index`` along it, shaped to broadcast with x); index 0-d or 1-d ints,
    ``-n <= i < n``, checked on the host where a read is allowed."""
    from gradkit.ops.indexing import _check_bounds, _index_array, _on_host

    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no dimension to index")
    ax = _dim(x, dim, op)
    idx = _index_array(index, x, op)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise ArgumentTypeError(f"{op}: index must be a 0-d or 1-d integer tensor, got dtype {idx.dtype} and "
                                f"shape {idx.shape}")
    _check_bounds(_on_host(index, idx), x, ax, op, negative=True)
    xp = x._backend.xp
    n = x.shape[ax]
    mask = xp.zeros(n, dtype=bool)
    mask[idx.reshape(-1) % max(n, 1)] = True
    shape = [1] * x.ndim
    shape[ax] = n
    return ax, mask.reshape(shape)


def index_fill(x: Any, dim: Any, index: Any, value: Any) -> Tensor:
    """PyTorch's ``index_fill``: a copy of ``x`` with ``value`` (a number, or a 0-d tensor that gets the
    gradient of the filled places) in the slices ``index`` (0-d or 1-d ints, negative from the end) along
    ``dim``; x's gradient is 0 there."""
    op = "index_fill"
    x = _tensor(x, op)
    mask = Tensor._make(_dim_mask(x, dim, index, op)[1], x._backend)
    return _ops.masked_fill(x, mask, value)


def index_copy(x: Any, dim: Any, index: Any, source: Any) -> Tensor:
    """PyTorch's ``index_copy``: a copy of ``x`` whose slice ``index[k]`` along ``dim`` is ``source``'s slice
    k (source of x's dtype and shape, but ``len(index)`` along dim); gradients: x's 0 in the slices replaced,
    source's the ``index_select`` of the result's. An index repeated adds its slices up (PyTorch keeps one)."""
    from gradkit.ops.indexing import index_add_along

    op = "index_copy"
    x = _tensor(x, op)
    ax, mask = _dim_mask(x, dim, index, op)
    idx = index._data if isinstance(index, Tensor) else index
    idx = x._backend.xp.asarray(idx) % max(x.shape[ax], 1)
    cleared = _ops.masked_fill(x, Tensor._make(mask, x._backend), 0)
    return index_add_along(cleared, ax, Tensor._make(idx, x._backend), _tensor(source, op, x))


def masked_scatter(x: Any, mask: Any, source: Any) -> Tensor:
    """PyTorch's ``masked_scatter``: a copy of ``x`` with ``source``'s elements, in order (row-major), where
    the bool ``mask`` (broadcast to x's shape) is True; source needs at least as many elements as True places
    (checked on the host where a read is allowed). Gradients: x's 0 there, source's at the elements used."""
    from gradkit.ops._util import host_read_allowed
    from gradkit.ops.indexing import _index_array

    op = "masked_scatter"
    x = _tensor(x, op)
    source = _tensor(source, op, x)
    m = _index_array(mask, x, op)
    if m.dtype.kind != "b":
        raise DTypeError(f"{op}: mask must be a bool tensor, got dtype {m.dtype}")
    if source.dtype != x.dtype:
        raise DTypeError(f"{op}: source must have self's dtype {x.dtype}, got {source.dtype}")
    xp = x._backend.xp
    try:
        m = xp.broadcast_to(m, x.shape)
    except ValueError:
        raise ShapeError(f"{op}: mask of shape {m.shape} does not broadcast to self's shape {x.shape}") from None
    flat = m.reshape(-1)
    order = xp.cumsum(flat.astype(np.int64)) - 1
    if flat.size and host_read_allowed(order) and int(order[-1]) + 1 > source.size:
        raise ShapeError(f"{op}: mask has {int(order[-1]) + 1} True places, source only {source.size} elements")
    if source.size == 0:
        return _ops.where(Tensor._make(m, x._backend), x, x)  # no True place (checked above where allowed)
    order = xp.clip(order, 0, source.size - 1)
    picked = _ops.getitem(_ops.reshape(source, (-1,)), Tensor._make(order, x._backend), op)
    return _ops.where(Tensor._make(m, x._backend), _ops.reshape(picked, x.shape), x)


# ------------------------------------------------------------------------------------- scatter_reduce
_SCATTER_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_INDEX_REDUCES = ("prod", "mean", "amax", "amin")


def _reduce_name(reduce: Any, allowed: tuple, op: str) -> str:
    if not isinstance(reduce, str):
        raise ArgumentTypeError(f"{op}: reduce must be a str, one of {', '.join(map(repr, allowed))}; got "
                                f"{type(reduce).__name__} {reduce!r:.40}")
    if reduce not in allowed:
        hint = " (index_add adds)" if op == "index_reduce" and reduce == "sum" else ""
        raise InvalidArgumentError(f"{op}: reduce must be one of {', '.join(map(repr, allowed))}, got "
                                   f"{reduce!r}{hint}")
    return reduce


def _flag(value: Any, op: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}: {name} must be a bool, got {type(value).__name__} {value!r:.40}")
    return bool(value)


def _identity(dtype: np.dtype, reduce: str) -> Any:
    """The value that leaves ``reduce`` unchanged (what a place no src reaches holds before the combine)."""
    if reduce == "prod":
        return True if dtype.kind == "b" else 1
    if dtype.kind == "b":
        return reduce == "amin"
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _combine_at(x: Tensor, full: tuple, src: Any, reduce: str, include_self: bool, mask: Any) -> Any:
    """The forward array of prod/amax/amin: x's data with each src element combined into its place (places
    no src reaches keep x; with ``include_self`` False, x's value at a reached place is left out).

    On NumPy ``multiply.at``/``maximum.at``/``minimum.at`` do it (through ``ufunc_at``'s one flat index). On a
    GPU CuPy has no ``multiply.at``, and its float ``maximum.at``/``minimum.at`` drop NaN (and round float64
    through float32, CuPy 14's atomics): there the src elements are sorted by place and reduced by a segmented
    scan (log2(n) whole-array steps, no host read), exactly, NaN propagating as PyTorch's."""
    xp = x._backend.xp
    fn = {"prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}[reduce]
    identity = np.asarray(_identity(x.dtype, reduce), dtype=x.dtype).item()  # a Python number, as CuPy takes
    start = x._data.copy() if include_self else xp.where(mask, xp.full(x.shape, identity, x.dtype), x._data)
    if src.size == 0:
        return start
    if xp is np:
        from gradkit.backends.numpy_backend import ufunc_at

        with np.errstate(invalid="ignore", over="ignore"):
            ufunc_at(fn, start, full, src)  # one flat index: several times faster than fn.at with the tuple
        return start
    size = start.size
    lin = xp.zeros(src.shape, dtype=np.int64)
    stride = 1
    for d in range(start.ndim - 1, -1, -1):
        lin = lin + full[d].astype(np.int64) * stride
        stride *= start.shape[d]
    lin = lin.reshape(-1)
    order = xp.argsort(lin)
    keys = lin[order]
    vals = src.reshape(-1)[order]
    n = keys.size
    shift = 1
    while shift < n:  # each value becomes the combine of itself and up to 2*shift - 1 earlier ones of its place
        same = keys[shift:] == keys[:-shift]
        vals = xp.concatenate([vals[:shift], xp.where(same, fn(vals[shift:], vals[:-shift]), vals[shift:])])
        shift *= 2
    last = xp.concatenate([keys[1:] != keys[:-1], xp.ones(1, dtype=bool)])
    segments = xp.full(size + 1, identity, dtype=start.dtype)
    segments[xp.where(last, keys, size)] = vals  # one write per place; the rest go to the spare slot `size`
    return fn(start.reshape(-1), segments[:size]).reshape(start.shape)


def _array(data: Any, like: Tensor) -> Tensor:
    return Tensor._make(data, like._backend)


def _extreme_vjp_x(g: Tensor, x: Tensor, part: Tensor, full: tuple, mask: Any, include_self: bool,
                   reduce: str, out: Tensor) -> Tensor:
    share, _ = _extreme_share(g, x, part, full, out)
    with np.errstate(invalid="ignore"):  # 0 * inf where no value equals the result (a NaN): NaN, as PyTorch's
        grad = _ops.multiply(_array((x._data == out._data).astype(g.dtype), g), share)
    return grad if include_self else _ops.where(_array(mask, g), 0.0, grad)


def _extreme_vjp_src(g: Tensor, x: Tensor, part: Tensor, full: tuple, mask: Any, include_self: bool,
                     reduce: str, out: Tensor) -> Tensor:
    from gradkit.ops.numpy_more import _gather

    share, src_is = _extreme_share(g, x, part, full, out)
    with np.errstate(invalid="ignore"):
        return _ops.multiply(_array(src_is.astype(g.dtype), g), _gather(share, full, "scatter_reduce"))


def _extreme_share(g: Tensor, x: Tensor, part: Tensor, full: tuple, out: Tensor) -> tuple[Tensor, Any]:
    """PyTorch's rule for amax/amin: each place's gradient split evenly among the values equal to the result
    there, x's value counted even with include_self False (then x's share is dropped), as PyTorch 2.x does.
    A place whose result no value equals (a NaN) gets NaN, as PyTorch's."""
    backend = x._backend
    src_is = part._data == out._data[full]
    count = (x._data == out._data).astype(g.dtype)
    backend.scatter_add(count, full, src_is.astype(g.dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _ops.divide(g, _array(count, g)), src_is


def _prod_vjp_x(g: Tensor, x: Tensor, part: Tensor, full: tuple, mask: Any, include_self: bool,
                reduce: str, out: Tensor) -> Tensor:
    """PyTorch's: ``g * result(x with its zeros made 1) / (x with its zeros made 1)``, exact where x is 0."""
    zero = _array(x._data == 0, x)
    ones_for_zeros = _ops.where(zero, 1.0, x)
    grad = _ops.divide(_ops.multiply(g, _scatter_reduce(ones_for_zeros, full, part, "prod", include_self)),
                       ones_for_zeros)
    return grad if include_self else _ops.where(_array(mask, g), 0.0, grad)


def _prod_vjp_src(g: Tensor, x: Tensor, part: Tensor, full: tuple, mask: Any, include_self: bool,
                  reduce: str, out: Tensor) -> Tensor:
    """PyTorch's: ``gather(g * result) / src``, but for a src 0 alone at its place the product of the others
    (the result with that 0 made 1); 0 where two or more src zeros meet (whose second derivative PyTorch
    refuses and this leaves 0)."""
    from gradkit.ops.numpy_more import _gather

    xp = x._backend.xp
    src_zero = part._data == 0
    zeros = xp.zeros(x.shape, dtype=np.int64)
    x._backend.scatter_add(zeros, full, src_zero.astype(np.int64))
    single = _array(src_zero & (zeros[full] == 1), g)
    result = _scatter_reduce(x, full, part, "prod", include_self)
    without = _scatter_reduce(x, full, _ops.where(single, 1.0, part), "prod", include_self)
    return _ops.where(single, _gather(_ops.multiply(g, without), full, "scatter_reduce"),
                      _ops.divide(_gather(_ops.multiply(g, result), full, "scatter_reduce"),
                                  _ops.where(_array(src_zero, g), 1.0, part)))


def _scatter_reduce(x: Tensor, full: tuple, part: Tensor, reduce: str, include_self: bool) -> Tensor:
    """scatter_reduce on checked arguments: ``full`` the places (gather's index tuple), ``part`` src cut to the
    index's shape."""
    from gradkit.ops.numpy_more import _scatter_add

    backend = x._backend
    xp = backend.xp
    mask = None  # the places some src reaches, where x's value is left out
    if not include_self:
        mask = xp.zeros(x.shape, dtype=bool)
        mask[full] = True
    if reduce in ("sum", "mean"):
        base = x if include_self else _ops.masked_fill(x, _array(mask, x), 0)
        total = _ops.add(base, _scatter_add(part, x.shape, full))
        if reduce == "sum":
            return total
        count = xp.full(x.shape, 1 if include_self else 0, dtype=np.int64)
        if len(full) == 1 or isinstance(full[0], slice):  # whole slices along the last axis named: count the indices
            ax = len(full) - 1  # (by a scatter-add: CuPy's bincount reads the largest index back on the host)
            along = xp.zeros(x.shape[ax], dtype=np.int64)
            backend.scatter_add(along, (full[-1].reshape(-1),), xp.ones(full[-1].size, dtype=np.int64))
            count += along.reshape([-1 if d == ax else 1 for d in range(x.ndim)])
        else:
            backend.scatter_add(count, full, xp.ones(part.shape, dtype=np.int64))
        count = xp.maximum(count, 1)
        if x.dtype.kind == "f":
            return _ops.divide(total, _array(count.astype(x.dtype), x))
        if x.dtype.itemsize == 8:
            return _ops.floor_divide(total, _array(count.astype(x.dtype), x))
        # a narrower integer: the count in int64 (it may not fit x's dtype), the quotient back in x's
        return _ops.floor_divide(total.astype(np.int64), _array(count, x)).astype(x.dtype)
    data = _combine_at(x, full, part._data, reduce, include_self, mask)
    if x.dtype.kind != "f":
        return _array(data, x)
    rules = (_prod_vjp_x, _prod_vjp_src) if reduce == "prod" else (_extreme_vjp_x, _extreme_vjp_src)
    return record("scatter_reduce", data, backend, (x, part), rules, (x, part, full, mask, include_self, reduce),
                  save_output=True)


def _reduce_checks(x: Tensor, reduce: str, op: str) -> None:
    if x.dtype.kind == "c" and reduce in ("amax", "amin"):
        raise DTypeError(f"{op}: reduce={reduce!r} needs a real dtype, got {x.dtype}")
    if x.dtype.kind == "b" and reduce == "mean":
        raise DTypeError(f"{op}: reduce='mean' is not defined for bool tensors (PyTorch's neither); convert to "
                         f"an integer or float dtype first")


def scatter_reduce(input: Any, dim: Any, index: Any, src: Any, reduce: str, *,  # noqa: A002 - PyTorch's names
                   include_self: bool = True) -> Tensor:
    """PyTorch's ``scatter_reduce``, out of place: ``x`` with each ``src[i][j]`` combined by ``reduce`` ("sum",
    "prod", "mean", "amax", "amin") into ``x[index[i][j]][j]`` for dim 0, and so on (index and src have x's
    dimensions, the index no larger than src, nor than x outside dim; indices from 0 to n - 1, read on the
    host where a read is allowed). With ``include_self`` False x's value at a place some src reaches is left
    out of the reduction; places none reaches keep x's value. "mean" divides by the number of values (x's
    counted when included); integer tensors floor-divide, as PyTorch's.

    Gradients, of every order, as PyTorch's: "sum" and "mean" pass (a share of) each place's gradient to its
    values; "amax"/"amin" split it evenly among the values equal to the result (x's value counted in that
    split even with include_self False); "prod" gives each value the product of the others (exact where some
    are 0).
    """
    op = "scatter_reduce"
    reduce = _reduce_name(reduce, _SCATTER_REDUCES, op)
    include_self = _flag(include_self, op, "include_self")
    x = _tensor(input, op)
    if x.ndim == 0:  # PyTorch takes a 0-d x with a 0-d index and src: as one element of 1-d ones
        _dim(x, dim, op)
        idx = index if isinstance(index, Tensor) or hasattr(index, "__cuda_array_interface__") else np.asarray(index)
        idx = idx.reshape(1) if idx.ndim == 0 else idx
        part = _tensor(src, op, x) if isinstance(src, (Tensor, np.ndarray)) else src
        part = part.reshape(1) if isinstance(part, Tensor) and part.ndim == 0 else part
        return _ops.reshape(scatter_reduce(x.reshape(1), 0, idx, part, reduce, include_self=include_self), ())
    from gradkit.ops.indexing import _scatter_args

    # an index spread over the other axes may become whole slices (rows=): not for prod/amax/amin on a GPU,
    # whose segmented scan in _combine_at takes an index array for every axis
    rows = reduce in ("sum", "mean") or x._backend.xp is np
    x, full, part = _scatter_args(x, dim, index, src, op, rows=rows)
    _reduce_checks(x, reduce, op)
    return _scatter_reduce(x, full, part, reduce, include_self)


def index_reduce(input: Any, dim: Any, index: Any, source: Any, reduce: str, *,  # noqa: A002 - PyTorch's names
                 include_self: bool = True) -> Tensor:
    """PyTorch's ``index_reduce``, out of place: ``x`` with ``source``'s slice k combined by ``reduce``
    ("prod", "mean", "amax", "amin"; ``index_add`` sums) into the slice ``index[k]`` along ``dim``. ``index``
    is 1-d (or 0-d) with values from 0 to n - 1 (read on the host where a read is allowed); ``source`` has
    x's dtype and shape, but ``len(index)`` along dim. ``include_self`` and the gradients are
    :func:`scatter_reduce`'s (this is that with the index spread over source's shape)."""
    from gradkit.ops.indexing import _check_bounds, _index_array, _on_host, _positions

    op = "index_reduce"
    reduce = _reduce_name(reduce, _INDEX_REDUCES, op)
    include_self = _flag(include_self, op, "include_self")
    x = _tensor(input, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no dimension to reduce into")
    ax = _dim(x, dim, op)
    idx = _index_array(index, x, op)
    if idx.dtype.kind == "b" or idx.ndim > 1:
        raise ShapeError(f"{op}: index must be a 1-d (or 0-d) integer tensor, got shape {idx.shape} and dtype "
                         f"{idx.dtype}")
    source = _tensor(source, op, x)
    if source.dtype != x.dtype:
        raise DTypeError(f"{op}: source must have self's dtype {x.dtype}, got {source.dtype}")
    expected = x.shape[:ax] + (idx.size,) + x.shape[ax + 1:]
    if source.shape != expected:
        raise ShapeError(f"{op}: source must have shape {expected} (self's {x.shape} with dim {ax} the number of "
                         f"indices, {idx.size}), got {source.shape}")
    _check_bounds(_on_host(index, idx), x, ax, op, negative=False)
    _reduce_checks(x, reduce, op)
    xp = x._backend.xp
    if idx.size and (xp is np or reduce == "mean"):  # whole slices at the 1-d index, as scatter_reduce's spread index
        return _scatter_reduce(x, (slice(None),) * ax + (idx.reshape(-1),), source, reduce, include_self)
    spread = [1] * x.ndim
    spread[ax] = idx.size
    spread_idx = xp.broadcast_to(idx.reshape(spread), expected)
    return _scatter_reduce(x, _positions(spread_idx, ax, xp), source, reduce, include_self)


# ------------------------------------------------------------------------------------------- finfo/iinfo
def _dtype_of(value: Any, op: str) -> np.dtype:
    from gradkit.dtypes import default_float, to_dtype

    if value is None:
        return default_float
    if isinstance(value, Tensor):
        return value.dtype
    return to_dtype(value, op)


def finfo(type: Any = None) -> np.finfo:  # noqa: A002 - PyTorch's name
    """NumPy's ``finfo`` of a float dtype (a gradkit dtype, a name, or a tensor's; None: the default float
    dtype, float32): ``eps``, ``max``, ``min``, ``tiny``/``smallest_normal``, ``resolution``, ``bits``."""
    dtype = _dtype_of(type, "finfo")
    if dtype.kind != "f":
        raise DTypeError(f"finfo: {dtype} is not a float dtype; use gk.iinfo for integers")
    return np.finfo(dtype)


def iinfo(type: Any) -> np.iinfo:  # noqa: A002 - PyTorch's name
    """NumPy's ``iinfo`` of an integer dtype (a gradkit dtype, a name, or a tensor's): ``min``, ``max``, ``bits``."""
    dtype = _dtype_of(type, "iinfo")
    if dtype.kind not in "iu":
        raise DTypeError(f"iinfo: {dtype} is not an integer dtype; use gk.finfo for floats")
    return np.iinfo(dtype)
