"""More of PyTorch's ``Tensor`` methods: predicates, shape and layout (the in-place shape changes too), the
scatter family, in-place random fills, and sorting and statistics (``kthvalue``, ``mode``, ``unique`` ...).

Each is a plain function taking the tensor first; :func:`install` makes them methods of ``Tensor`` (it
refuses a name the class already has, so nothing is silently replaced). Semantics, argument names and result
dtypes are PyTorch's; the differentiable ones are composites of differentiable gradkit operations or record
their own node. In-place variants follow ``Tensor._assign_``'s rules (refused on a tensor in the graph
unless inside ``gk.no_grad()``; the version counter bumps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit import ops as _ops
from gradkit import return_types
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.function import record
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.ops._util import as_tensor, normalize_axis, shape_arg
from gradkit.ops.torch_compat import _dim
from gradkit.tensor import Tensor

__all__ = ["METHODS", "PROPERTIES", "install"]


# ---------------------------------------------------------------------------------------------- helpers
def _other(x: Tensor, other: Any, op: str, name: str = "other") -> Tensor:
    """``other`` as a tensor on ``x``'s device."""
    if isinstance(other, Tensor):
        if other._backend is not x._backend:
            raise DeviceError(f"{op}: {name} is on {other.device}, self on {x.device}")
        return other
    return as_tensor(other, op, x._backend)


def _sizes(size: tuple, op: str) -> tuple[int, ...]:
    """``*size`` given as separate ints or as one tuple, list or shape."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return shape_arg(size, op)


def _set_data(self: Tensor, op: str, data: Any) -> Tensor:
    """Self holding ``data`` (a view of its own memory in a new shape): PyTorch's in-place shape changes."""
    self._data = data
    self._version[0] += 1
    return self


def _reshaped_in_place(self: Tensor, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
    if self._needs_record(op):  # a tensor in the graph: self takes the view's history, as PyTorch's
        from gradkit.autograd.inplace import reshaped

        return reshaped(self, op, compute)
    with grad_mode.no_grad():
        result = compute(self)
    return _set_data(self, op, result._data)


# ----------------------------------------------------------------------------------- predicates and info
def is_complex(self: Tensor) -> bool:
    """False: gradkit's tensors are real."""
    return False


def is_signed(self: Tensor) -> bool:
    """True for signed integer and floating-point dtypes (not bool or uint8), as PyTorch's."""
    return self._data.dtype.kind in "if"


def is_contiguous(self: Tensor, memory_format: Any = None) -> bool:
    """Whether the array is C-ordered (PyTorch's contiguous format). With ``memory_format=gk.channels_last``
    (``channels_last_3d``): whether its strides are those of that layout, which gradkit never makes itself
    (True where it cannot be told apart, a single channel say; False for a tensor that is not 4-d (5-d)),
    as PyTorch answers for a tensor it has not converted."""
    from gradkit.dtypes import check_memory_format

    fmt = check_memory_format(memory_format, "is_contiguous")
    data = self._data
    if fmt is None or fmt.name in ("contiguous_format", "preserve_format"):
        return bool(data.flags.c_contiguous)
    rank = 4 if fmt.name == "channels_last" else 5
    if data.ndim != rank:
        return False
    return bool(data.transpose(0, *range(2, rank), 1).flags.c_contiguous)  # N, spatial..., C in memory order


def is_nonzero(self: Tensor) -> bool:
    """The one element as a bool (PyTorch's ``is_nonzero``); a tensor of 0 or of more elements is an error."""
    if self._data.size != 1:
        what = "no values" if self._data.size == 0 else "more than one value"
        raise ShapeError(f"is_nonzero: the boolean value of a tensor with {what} is ambiguous (shape {self.shape})")
    return bool(self.item())


def is_same_size(self: Tensor, other: Tensor) -> bool:
    """Whether ``other`` (a tensor) has self's shape."""
    if not isinstance(other, Tensor):
        raise ArgumentTypeError(f"is_same_size: other must be a Tensor, got {type(other).__name__}")
    return self.shape == other.shape


def _is_cpu(self: Tensor) -> bool:
    """True for a tensor in host memory (PyTorch's ``is_cpu``)."""
    return self._backend.name == "numpy"


def get_device(self: Tensor) -> int:
    """-1 for a tensor on the CPU, else the index of its CUDA device."""
    return -1 if self._backend.name == "numpy" else int(getattr(self._backend, "index", 0))


def ndimension(self: Tensor) -> int:
    """The number of axes (``dim()``)."""
    return self._data.ndim


def is_inference(self: Tensor) -> bool:
    """False: gradkit has no inference tensors."""
    return False


def is_pinned(self: Tensor) -> bool:
    """False: gradkit does not pin host memory."""
    return False


def is_shared(self: Tensor) -> bool:
    """False: gradkit's tensors are not in shared memory."""
    return False


def stride(self: Tensor, dim: Any = None) -> Any:
    """PyTorch's ``Tensor.stride(dim=None)``: the steps between elements along each axis, counted in elements (the
    backend array's byte strides divided by the item size; 0 along a broadcast axis, as PyTorch's ``expand``), a
    tuple, or one int for ``dim``."""
    data = self._data
    steps = tuple(s // data.itemsize for s in data.strides) if data.itemsize else (0,) * data.ndim
    if dim is None:
        return steps
    if data.ndim == 0:  # PyTorch: a 0-d tensor's stride() is (), and stride(0) an IndexError
        raise IndexOutOfRangeError(f"Tensor.stride: dim {dim!r} is out of range for a 0-d tensor (it has no axes)")
    return steps[normalize_axis(whole(dim, "Tensor.stride", "dim"), data.ndim, "Tensor.stride")]


def _address(data: Any) -> int:
    if hasattr(data, "__array_interface__"):
        return int(data.__array_interface__["data"][0])
    return int(data.data.ptr)  # CuPy: the device pointer


def _storage_start(data: Any) -> int:
    """The address of the memory that ``data`` is a view of (its owning array's, CuPy's allocation)."""
    if hasattr(data, "__array_interface__"):
        base = data
        while getattr(base, "base", None) is not None and hasattr(base.base, "__array_interface__"):
            base = base.base
        return _address(base)
    base = getattr(data, "base", None)  # CuPy: the array that owns the memory (None: data owns it)
    return _address(data if base is None else base)


def data_ptr(self: Tensor) -> int:
    """PyTorch's ``Tensor.data_ptr()``: the address of the first element (a host address on the CPU, a device
    pointer on a GPU); views of one memory differ by their offsets, as in PyTorch."""
    return _address(self._data)


def storage_offset(self: Tensor) -> int:
    """PyTorch's ``Tensor.storage_offset()``: where the first element sits in the memory the tensor views, in
    elements (0 for a tensor that owns its memory)."""
    data = self._data
    return (_address(data) - _storage_start(data)) // max(data.itemsize, 1)


def _h(self: Tensor) -> Tensor:
    """The conjugate transpose of a matrix: its transpose (gradkit's tensors are real); a 0-d tensor is itself."""
    if self._data.ndim == 0:
        return self
    if self._data.ndim != 2:
        raise ShapeError(f"H: only supported on matrices (2-d tensors), got shape {self.shape}; for batches of "
                         "matrices use mT")
    return _ops.swapaxes(self, 0, 1)


def equal(self: Tensor, other: Tensor) -> bool:
    """``torch.equal``: True when ``other`` has self's shape and equal elements (NaN equals nothing)."""
    if not isinstance(other, Tensor):
        raise ArgumentTypeError(f"equal: other must be a Tensor, got {type(other).__name__}")
    other = _other(self, other, "equal")
    if self.shape != other.shape:
        return False
    return bool((self._data == other._data).all())


# ---------------------------------------------------------------------------------------- shape, layout
def swapdims(self: Tensor, dim0: int, dim1: int) -> Tensor:
    """``swapaxes``: dims ``dim0`` and ``dim1`` exchanged (PyTorch's name)."""
    return _ops.swapaxes(self, dim0, dim1)


def swapdims_(self: Tensor, dim0: int, dim1: int) -> Tensor:
    """:func:`swapdims` in place (self takes the new shape; outside the graph only); returns self."""
    return _reshaped_in_place(self, "swapdims_", lambda t: _ops.swapaxes(t, dim0, dim1))


def swapaxes_(self: Tensor, axis0: int, axis1: int) -> Tensor:
    """``swapaxes`` in place (self takes the new shape; outside the graph only); returns self."""
    return _reshaped_in_place(self, "swapaxes_", lambda t: _ops.swapaxes(t, axis0, axis1))


def transpose_(self: Tensor, dim0: int, dim1: int) -> Tensor:
    """PyTorch's ``transpose_(dim0, dim1)``: the two dims swapped in place; returns self."""
    return _reshaped_in_place(self, "transpose_", lambda t: _ops.swapaxes(t, dim0, dim1))


def t_(self: Tensor) -> Tensor:
    """``t()`` in place (a tensor of at most 2 axes); returns self."""
    return _reshaped_in_place(self, "t_", lambda t: t.t())


def squeeze_(self: Tensor, dim: Any = None) -> Tensor:
    """PyTorch's ``squeeze`` in place (dims of length 1 dropped; a given dim of another length stays); returns self."""
    return _reshaped_in_place(self, "squeeze_", lambda t: _ops.squeeze(t, dim=dim))


def unsqueeze_(self: Tensor, dim: int) -> Tensor:
    """``unsqueeze(dim)`` in place; returns self."""
    return _reshaped_in_place(self, "unsqueeze_", lambda t: _ops.unsqueeze(t, dim=dim))


def fliplr(self: Tensor) -> Tensor:
    """Reversed along dim 1 (at least 2-d)."""
    if self.ndim < 2:
        raise ShapeError(f"fliplr: the tensor must be at least 2-d, got shape {self.shape}")
    return _ops.flip(self, 1)


def flipud(self: Tensor) -> Tensor:
    """Reversed along dim 0 (at least 1-d)."""
    if self.ndim < 1:
        raise ShapeError("flipud: the tensor must be at least 1-d, got a 0-d tensor")
    return _ops.flip(self, 0)


def rot90(self: Tensor, k: int = 1, dims: Any = (0, 1)) -> Tensor:
    """Rotated by 90 degrees ``k`` times, from the first of ``dims`` toward the second."""
    from gradkit.ops.numpy_more import rot90 as _rot90

    if not isinstance(dims, (tuple, list)) or len(dims) != 2:
        raise InvalidArgumentError(f"rot90: dims must be two dims, got {dims!r:.40}")
    return _rot90(self, whole(k, "rot90", "k"), tuple(dims))


def narrow_copy(self: Tensor, dim: int, start: Any, length: Any) -> Tensor:
    """``narrow`` as a new tensor (not a view); differentiable."""
    return _ops.clone(self.narrow(dim, start, length))


def _split3(self: Tensor, sections: Any, axis: int, op: str, least: int) -> tuple[Tensor, ...]:
    if self.ndim < least:
        raise ShapeError(f"{op}: needs a tensor of at least {least} dims, got shape {self.shape}")
    if isinstance(sections, (tuple, list)) or isinstance(sections, Tensor):
        cuts = [whole(c, op, "indices") for c in (sections.tolist() if isinstance(sections, Tensor) else sections)]
        return tuple(self.tensor_split(cuts, axis))
    n = whole(sections, op, "sections", low=1)
    if self.shape[axis] % n:
        raise InvalidArgumentError(f"{op}: the size {self.shape[axis]} of dim {axis} is not divisible by {n}")
    return tuple(self.tensor_split(n, axis))


def hsplit(self: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 1 (dim 0 of a 1-d tensor): ``sections`` equal pieces, or cut before each index given."""
    return _split3(self, sections, 1 if self.ndim > 1 else 0, "hsplit", 1)


def vsplit(self: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 0 (at least 2-d), as :func:`hsplit`."""
    return _split3(self, sections, 0, "vsplit", 2)


def dsplit(self: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 2 (at least 3-d), as :func:`hsplit`."""
    return _split3(self, sections, 2, "dsplit", 3)


def split_with_sizes(self: Tensor, split_sizes: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the sizes listed (adding up to the dim's length) along ``dim``."""
    if not isinstance(split_sizes, (tuple, list)):
        raise ArgumentTypeError(f"split_with_sizes: split_sizes must be a list of ints, got "
                                f"{type(split_sizes).__name__}")
    return tuple(self.split(list(split_sizes), dim))


def unsafe_chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunk`` (PyTorch's variant without view checks)."""
    return tuple(self.chunk(chunks, dim))


def unsafe_split(self: Tensor, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``split`` (PyTorch's variant without view checks)."""
    return tuple(self.split(split_size, dim))


def unsafe_split_with_sizes(self: Tensor, split_sizes: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """:func:`split_with_sizes` (PyTorch's variant without view checks)."""
    return split_with_sizes(self, split_sizes, dim)


def sum_to_size(self: Tensor, *size: Any) -> Tensor:
    """Summed down to ``size``, a shape that broadcasts to self's (the reverse of ``expand``); differentiable."""
    size = _sizes(size, "sum_to_size")
    shape = self.shape
    lead = len(shape) - len(size)
    if lead < 0 or any(s not in (1, d) for s, d in zip(size, shape[lead:], strict=True)):
        raise ShapeError(f"sum_to_size: size {size} is not expandable to self's shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(size) if s == 1 and shape[lead + i] != 1)
    out = _ops.sum(self, axes, keepdims=True) if axes else self
    return _ops.reshape(out, size) if out.shape != size else out


def take(self: Tensor, index: Any) -> Tensor:
    """The elements at the flat indices ``index`` (negative from the end), in ``index``'s shape; differentiable."""
    idx = _other(self, index, "take", "index")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"take: index must be an integer tensor, got {idx.dtype}")
    return _ops.getitem(_ops.reshape(self, (-1,)), idx, "take")


def take_along_dim(self: Tensor, indices: Any, dim: Any = None) -> Tensor:
    """``take_along_axis``: the values at ``indices`` along ``dim`` (of the flattened tensor when None)."""
    from gradkit.ops.numpy_more import take_along_axis

    idx = _other(self, indices, "take_along_dim", "indices")
    if dim is None:
        return take_along_axis(_ops.reshape(self, (-1,)), _ops.reshape(idx, (-1,)), 0)
    return take_along_axis(self, idx, _dim(self, dim, "take_along_dim"))


# -------------------------------------------------------------------------------------- scatter family
def _write_vjp_x(g: Tensor, idx: tuple, _shape: tuple) -> Tensor:
    return _written(g, idx, 0.0, "index_put")


def _write_vjp_src(g: Tensor, idx: tuple, _shape: tuple) -> Tensor:
    return _ops.getitem(g, idx, "index_put")


def _written(x: Tensor, idx: tuple, src: Any, op: str) -> Tensor:
    """A copy of ``x`` with ``src`` (broadcast) written at the normalized index ``idx``; differentiable in both
    (x's gradient is 0 where written; each written value gets the gradient of its place)."""
    data = x._data.copy()
    src_t = src if isinstance(src, Tensor) else None
    value = src_t._data if src_t is not None else src
    try:
        data[idx] = value
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"{op}: cannot write values of shape {getattr(value, 'shape', ())} there ({exc})") from None
    return record(op, data, x._backend, (x, src_t), (_write_vjp_x, _write_vjp_src), (idx, x.shape), broadcast=True)


def _index_of(x: Tensor, index: tuple, op: str) -> tuple:
    from gradkit.ops.indexing import normalize_index

    return normalize_index(x, index, op)


def _same_dtype(self: Tensor, src: Tensor, op: str, name: str) -> None:
    if src.dtype != self.dtype:
        raise DTypeError(f"{op}: {name} must have self's dtype {self.dtype}, got {src.dtype}")


def index_put(self: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """``index_put_`` out of place: a copy with ``values`` written (or with ``accumulate`` added) at
    ``indices`` (a tuple of index tensors); differentiable in self and values."""
    op = "index_put"
    if not isinstance(indices, (tuple, list)):
        raise ArgumentTypeError(f"{op}: indices must be a tuple of index tensors, got {type(indices).__name__}")
    accumulate = flag(accumulate, op, "accumulate")
    vals = _other(self, values, op, "values")
    if _autocast.active:  # gk.autocast: PyTorch's promote list ("cuda"): float16 and float32 written in float32
        cast = _autocast.promote(op, self, vals)
        if cast is not None:
            with _autocast.exclude():
                return index_put(cast[0], indices, cast[1], accumulate)
    _same_dtype(self, vals, op, "values")
    idx = _index_of(self, tuple(indices), op)
    target = self._data[idx].shape
    try:
        vals = _ops.broadcast_to(vals, target)
    except Exception:
        raise ShapeError(f"{op}: values of shape {vals.shape} do not broadcast to the indexed shape {target}") from None
    if accumulate:
        from gradkit.ops.indexing import index_add

        return _ops.add(self, index_add(self.shape, idx, vals))
    return _written(self, idx, vals, op)


def put(self: Tensor, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """``put_`` out of place: a copy with ``source``'s elements written (or with ``accumulate`` added) at the
    flat indices ``index``; differentiable in self and source."""
    op = "put"
    idx = _other(self, index, op, "index")
    src = _other(self, source, op, "source")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: index must be an integer tensor, got {idx.dtype}")
    _same_dtype(self, src, op, "source")
    if idx.size != src.size:
        raise ShapeError(f"{op}: source has {src.size} elements and index {idx.size}; they must match")
    flat = index_put(_ops.reshape(self, (-1,)), (_ops.reshape(idx, (-1,)),), _ops.reshape(src, (-1,)), accumulate)
    return _ops.reshape(flat, self.shape)


def put_(self: Tensor, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """:func:`put` in place; returns self."""
    return self._assign_("put_", lambda t: put(t, index, source, accumulate), source, keeps_old=False)


def _exact(self: Tensor, src: Any, shape: tuple, op: str) -> Tensor:
    src = _other(self, src, op, "src")
    if src.shape != tuple(shape):
        raise ShapeError(f"{op}: src must have the shape of the slice of self, {tuple(shape)}, got {src.shape}")
    _same_dtype(self, src, op, "src")
    return src


def select_scatter(self: Tensor, src: Any, dim: int, index: int) -> Tensor:
    """A copy of self with ``src`` in place of ``self.select(dim, index)``; differentiable in both."""
    op = "select_scatter"
    ax = _dim(self, dim, op)
    n = self.shape[ax]
    i = whole(index, op, "index")
    if not -n <= i < n:
        raise IndexOutOfRangeError(f"{op}: index {i} is out of range for dim {ax} of size {n}")
    idx = (slice(None),) * ax + (i % n,)
    src = _exact(self, src, self._data[idx].shape, op)
    return _written(self, idx, src, op)


def slice_scatter(self: Tensor, src: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Tensor:
    """A copy of self with ``src`` in place of ``self[start:end:step]`` along ``dim``; differentiable in both."""
    op = "slice_scatter"
    ax = _dim(self, dim, op)
    bounds = [None if v is None else whole(v, op, name) for v, name in ((start, "start"), (end, "end"))]
    step = whole(step, op, "step", low=1)
    idx = (slice(None),) * ax + (slice(bounds[0], bounds[1], step),)
    src = _exact(self, src, self._data[idx].shape, op)
    return _written(self, idx, src, op)


def diagonal_scatter(self: Tensor, src: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A copy of self with ``src`` in place of ``self.diagonal(offset, dim1, dim2)``; differentiable in both."""
    op = "diagonal_scatter"
    if self.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of at least 2 dims, got shape {self.shape}")
    d1, d2 = normalize_axis(dim1, self.ndim, op), normalize_axis(dim2, self.ndim, op)
    if d1 == d2:
        raise InvalidArgumentError(f"{op}: dim1 and dim2 must differ, both are {d1}")
    offset = whole(offset, op, "offset")
    src = _exact(self, src, _ops.diagonal(self.detach(), offset, d1, d2).shape, op)
    moved = _ops.moveaxis(self, (d1, d2), (-2, -1))
    rows, cols = moved.shape[-2:]
    length = max(0, min(rows - max(-offset, 0), cols - max(offset, 0)))
    xp = self._backend.xp
    i = Tensor._make(xp.arange(length, dtype=np.int64) + max(-offset, 0), self._backend)
    j = Tensor._make(xp.arange(length, dtype=np.int64) + max(offset, 0), self._backend)
    out = _written(moved, _index_of(moved, (Ellipsis, i, j), op), src, op)
    return _ops.moveaxis(out, (-2, -1), (d1, d2))


def fill_diagonal_(self: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """``fill_value`` on the main diagonal in place (every dim of the same length past 2-d; with ``wrap`` a
    tall matrix's diagonal starts again after N columns, as NumPy's); returns self."""
    op = "fill_diagonal_"
    wrap = flag(wrap, op, "wrap")
    if self.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of at least 2 dims, got shape {self.shape}")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise ShapeError(f"{op}: all dims of a tensor of more than 2 dims must have the same length, got {self.shape}")
    value = real(fill_value, op, "fill_value")

    def compute(t: Tensor) -> Tensor:  # differentiable: self's gradient passes off the diagonal
        diagonal = t._backend.xp.zeros(t.shape, dtype=bool)
        t._backend.xp.fill_diagonal(diagonal, True, wrap=wrap)
        return _ops.masked_fill(t, Tensor._make(diagonal, t._backend), value)

    return self._assign_(op, compute)


def unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """PyTorch's ``Tensor.unfold``: the windows of ``size`` elements, ``step`` apart, along ``dimension``, that
    dim becoming the window count and a new last dim the window; differentiable (a gather, not a view)."""
    op = "unfold"
    ax = _dim(self, dimension, op)
    size, step = whole(size, op, "size", low=0), whole(step, op, "step", low=1)
    x = _ops.reshape(self, (1,)) if self.ndim == 0 else self
    n = x.shape[ax]
    if size > n:
        raise ShapeError(f"{op}: size {size} exceeds the length {n} of dim {ax} (shape {self.shape})")
    count = (n - size) // step + 1
    xp = self._backend.xp
    idx = (xp.arange(count, dtype=np.int64)[:, None] * step + xp.arange(size, dtype=np.int64)[None, :]).reshape(-1)
    picked = _ops.index_select(x, ax, Tensor._make(idx, self._backend))
    windows = _ops.reshape(picked, x.shape[:ax] + (count, size) + x.shape[ax + 1:])
    out = _ops.moveaxis(windows, ax + 1, -1)
    return _ops.reshape(out, (size,)) if self.ndim == 0 else out


def resize_(self: Tensor, *sizes: Any, memory_format: Any = None) -> Tensor:
    """A new shape of the same number of elements in place (C order), as PyTorch's ``resize_`` then; gradkit
    cannot grow or shrink a tensor's memory, so another number of elements is an error; returns self."""
    op = "resize_"
    shape = _sizes(sizes, op)
    if math.prod(shape) != self._data.size:
        raise InvalidArgumentError(
            f"{op}: gradkit changes only the shape, not the number of elements ({self._data.size} in {self.shape}, "
            f"{math.prod(shape)} in {shape}); make a new tensor instead (e.g. gk.zeros({shape}))"
        )
    if not self._data.flags.c_contiguous:
        raise InvalidArgumentError(f"{op}: self is not contiguous; call contiguous() first")
    self._check_inplace(op)
    return _set_data(self, op, self._data.reshape(shape))


def resize_as_(self: Tensor, the_template: Tensor, memory_format: Any = None) -> Tensor:
    """:func:`resize_` to ``the_template``'s shape; returns self."""
    if not isinstance(the_template, Tensor):
        raise ArgumentTypeError(f"resize_as_: the_template must be a Tensor, got {type(the_template).__name__}")
    return resize_(self, the_template.shape)


def _host_only(self: Tensor, op: str) -> None:
    if self._backend.name != "numpy":
        raise DeviceError(f"{op}: works on CPU tensors only (it calls Python per element), got one on {self.device}")


def apply_(self: Tensor, callable: Callable[[Any], Any]) -> Tensor:  # noqa: A002 - PyTorch's name
    """Each element replaced by ``callable(element)`` (a Python number) in place; CPU only; returns self."""
    op = "apply_"
    _host_only(self, op)
    if not callable_(callable):
        raise ArgumentTypeError(f"{op}: expected a callable, got {type(callable).__name__}")
    self._check_inplace(op)
    data = self._data
    for i in np.ndindex(data.shape):
        data[i] = callable(data[i].item())
    self._version[0] += 1
    return self


def map_(self: Tensor, tensor: Any, callable: Callable[[Any, Any], Any]) -> Tensor:  # noqa: A002
    """Each element replaced by ``callable(element, other)``, ``other`` from ``tensor`` broadcast to self's
    shape, in place; CPU only; returns self."""
    op = "map_"
    _host_only(self, op)
    if not callable_(callable):
        raise ArgumentTypeError(f"{op}: expected a callable, got {type(callable).__name__}")
    other = _other(self, tensor, op, "tensor")
    self._check_inplace(op, other)
    try:
        o = np.broadcast_to(other._data, self.shape)
    except ValueError:
        raise ShapeError(f"{op}: tensor of shape {other.shape} does not broadcast to self's {self.shape}") from None
    data = self._data
    for i in np.ndindex(data.shape):
        data[i] = callable(data[i].item(), o[i].item())
    self._version[0] += 1
    return self


callable_ = callable  # the builtin, which apply_ and map_ shadow with PyTorch's argument name


# ------------------------------------------------------------------------------------- random, in place
def _random_fill(self: Tensor, op: str, values: Any) -> Tensor:
    self._data[...] = values
    self._version[0] += 1
    return self


def _floats_only(self: Tensor, op: str) -> None:
    if self._data.dtype.kind != "f":
        raise DTypeError(f"{op}: a continuous distribution fills float tensors only, got {self.dtype}")


def _draws(self: Tensor, generator: Any, op: str) -> Any:
    """What the fill draws from: self's backend (gradkit's generator), or ``generator=`` (a ``gk.Generator``; a
    DeviceError for a CUDA tensor, as in PyTorch)."""
    if generator is None:
        return self._backend
    from gradkit.random_generator import draws

    return draws(generator, self._backend, op)


def _uniform(self: Tensor, source: Any) -> Any:
    dt = self._data.dtype if self._data.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    return source.uniform(self.shape, dt)


def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Each element 1 with probability ``p`` (a number in [0, 1], or a tensor of them that broadcasts to
    self's shape), else 0, in place, from gradkit's generator (or ``generator``, a ``gk.Generator``, as for
    the other fills below); returns self."""
    op = "bernoulli_"
    source = _draws(self, generator, op)
    if isinstance(p, Tensor):
        probs = _other(self, p, op, "p")
        if probs.dtype.kind != "f":
            raise DTypeError(f"{op}: p must be a float tensor of probabilities, got {probs.dtype}")
        try:
            np.broadcast_shapes(probs.shape, self.shape)
        except ValueError:
            raise ShapeError(f"{op}: p of shape {probs.shape} does not broadcast to self's {self.shape}") from None
        p_value: Any = probs._data
    else:
        from gradkit._args import probability

        p_value = probability(p, op, "p")
    self._check_inplace(op)
    return _random_fill(self, op, source.uniform(self.shape, np.dtype(np.float64)) < p_value)


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
    """Samples of the Cauchy distribution ``median + sigma * tan(pi * (u - 1/2))`` in place; returns self."""
    op = "cauchy_"
    source = _draws(self, generator, op)
    _floats_only(self, op)
    median, sigma = real(median, op, "median"), real(sigma, op, "sigma", low=0, low_open=True)
    self._check_inplace(op)
    return _random_fill(self, op, median + sigma * self._backend.xp.tan(math.pi * (_uniform(self, source) - 0.5)))


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Samples of the exponential distribution of rate ``lambd`` in place; returns self."""
    op = "exponential_"
    source = _draws(self, generator, op)
    _floats_only(self, op)
    lambd = real(lambd, op, "lambd", low=0, low_open=True)
    self._check_inplace(op)
    return _random_fill(self, op, -self._backend.xp.log1p(-_uniform(self, source)) / lambd)


def geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Samples of the geometric distribution on 1, 2, ... (trials to the first success of probability ``p``,
    in (0, 1)) in place; integer tensors too; returns self."""
    op = "geometric_"
    source = _draws(self, generator, op)
    p = real(p, op, "p")
    if not 0 < p < 1:
        raise InvalidArgumentError(f"{op}: p must be in (0, 1), got {p!r}")
    self._check_inplace(op)
    xp = self._backend.xp
    u = source.uniform(self.shape, np.dtype(np.float64))
    return _random_fill(self, op, xp.floor(xp.log1p(-u) / math.log1p(-p)) + 1)


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
    """Samples of ``exp(N(mean, std^2))`` in place (PyTorch's defaults mean=1, std=2); returns self."""
    op = "log_normal_"
    source = _draws(self, generator, op)
    _floats_only(self, op)
    mean, std = real(mean, op, "mean"), real(std, op, "std", low=0, low_open=True)
    self._check_inplace(op)
    dt = self._data.dtype if self._data.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    return _random_fill(self, op, self._backend.xp.exp(mean + std * source.normal(self.shape, dt)))


def _random_top(dt: np.dtype) -> int:
    """The largest value ``random_`` draws by default: the dtype's maximum, or 2**mantissa for floats."""
    if dt.kind == "b":
        return 1
    if dt.kind == "f":
        return 2 ** (np.finfo(dt).nmant + 1)
    return int(np.iinfo(dt).max)


def random_(self: Tensor, *args: Any, to: Any = None, generator: Any = None, **kwargs: Any) -> Tensor:
    """Integers drawn uniformly in place: ``random_()`` from [0, the dtype's max] (floats: [0, 2**mantissa]),
    ``random_(to)`` from [0, to), ``random_(from, to)`` from [from, to) (``to`` None: up to the max); returns self."""
    op = "random_"
    source = _draws(self, generator, op)
    if set(kwargs) - {"from"}:
        raise ArgumentTypeError(f"{op}: unexpected keyword {sorted(set(kwargs) - {'from'})[0]!r}")
    if len(args) > 2 or (args and "from" in kwargs) or (len(args) == 2 and to is not None):
        raise ArgumentTypeError(f"{op}: expected random_(), random_(to) or random_(from, to)")
    dt = self._data.dtype
    top = _random_top(dt)
    if len(args) == 1 and "from" not in kwargs and to is None:
        low, high = 0, whole(args[0], op, "to")
    else:
        low = whole(args[0] if args else kwargs.get("from", 0), op, "from")
        end = args[1] if len(args) == 2 else to
        high = top + 1 if end is None else whole(end, op, "to")
    if low >= high:
        raise InvalidArgumentError(f"{op}: expected from < to, got from={low}, to={high}")
    if dt.kind in "iub":
        lo_ok = 0 if dt.kind == "b" else int(np.iinfo(dt).min)
        if not lo_ok <= low <= top:
            raise InvalidArgumentError(f"{op}: from={low} is out of bounds for {dt}")
        if not lo_ok <= high - 1 <= top:
            raise InvalidArgumentError(f"{op}: to - 1 = {high - 1} is out of bounds for {dt}")
    self._check_inplace(op)
    if high - 1 > 2**63 - 1 or low < -(2**63):
        raise InvalidArgumentError(f"{op}: the range [{low}, {high}) is beyond int64")
    values = source.integers(low, high, self.shape, np.dtype(np.int64))
    return _random_fill(self, op, values.astype(dt))


# ------------------------------------------------------------------------------------ sort, statistics
def msort(self: Tensor) -> Tensor:
    """Sorted along dim 0 (ascending; a 0-d tensor is copied, as PyTorch's); differentiable."""
    if self.ndim == 0:
        return _ops.clone(self)
    return _ops.sort(self, 0)


def _rows(x: Tensor, ax: int) -> Any:
    """x's data with ``ax`` moved last and the other dims flattened: (rows, n)."""
    data = x._backend.xp.moveaxis(x._data, ax, -1)
    return data.reshape(-1, data.shape[-1]) if data.size or data.shape[-1] else data.reshape(0, 0)


def _picked(x: Tensor, ax: int, idx_rows: Any, keepdim: bool, result: type, op: str) -> Any:
    """``result(values, indices)`` from one index per row of :func:`_rows`; values gathered (differentiable)."""
    from gradkit.ops.numpy_more import take_along_axis

    xp = x._backend.xp
    moved_shape = tuple(d for i, d in enumerate(x.shape) if i != ax)
    idx = xp.expand_dims(idx_rows.reshape(moved_shape).astype(np.int64), ax)
    indices = Tensor._make(idx, x._backend)
    values = take_along_axis(x, indices, ax)
    if not keepdim:
        values = _ops.squeeze(values, ax)
        indices = Tensor._make(xp.squeeze(idx, ax), x._backend)
    return result(values, indices)


def _as_1d(self: Tensor, dim: Any, op: str) -> tuple[Tensor, int, bool]:
    ax = _dim(self, dim, op)
    if self.ndim == 0:
        return _ops.reshape(self, (1,)), 0, True
    if self.shape[ax] == 0:
        raise ShapeError(f"{op}: dim {ax} of shape {self.shape} is empty")
    return self, ax, False


def kthvalue(self: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest value (k from 1) along ``dim`` and its index, as ``(values, indices)``
    (NaN counts as the largest; with ties, which index is unspecified, as PyTorch's); values differentiable."""
    op = "kthvalue"
    keepdim = flag(keepdim, op, "keepdim")
    x, ax, scalar = _as_1d(self, dim, op)
    n = x.shape[ax]
    k = whole(k, op, "k")
    if not 1 <= k <= n:
        raise IndexOutOfRangeError(f"{op}: k={k} is out of range for dim {ax} of length {n}")
    order = x._backend.xp.argsort(_rows(x, ax), axis=1, kind="stable")
    out = _picked(x, ax, order[:, k - 1], keepdim or scalar, return_types.kthvalue, op)
    return _scalar_result(out, scalar, return_types.kthvalue)


def _scalar_result(out: Any, scalar: bool, result: type) -> Any:
    if not scalar:
        return out
    return result(_ops.reshape(out[0], ()), Tensor._make(out[1]._data.reshape(()), out[1]._backend))


def mode(self: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """The most frequent value along ``dim`` (the smallest of those equally frequent) and the index of its
    last occurrence, as ``(values, indices)``, as PyTorch's; values differentiable."""
    op = "mode"
    keepdim = flag(keepdim, op, "keepdim")
    x, ax, scalar = _as_1d(self, dim, op)
    xp = x._backend.xp
    rows = _rows(x, ax)
    m, n = rows.shape
    order = xp.argsort(rows, axis=1, kind="stable")
    s = xp.take_along_axis(rows, order, axis=1)
    differs = s[:, 1:] != s[:, :-1]
    if s.dtype.kind == "f":  # NaNs (sorted last) are one value, counted together, as PyTorch's
        differs &= ~(xp.isnan(s[:, 1:]) & xp.isnan(s[:, :-1]))
    start = xp.concatenate([xp.ones((m, 1), dtype=bool), differs], axis=1)
    run = xp.cumsum(start, axis=1) - 1  # the run (of equal values) of each sorted element
    counts = xp.zeros((m, n), dtype=np.int64)
    x._backend.scatter_add(counts, (xp.arange(m)[:, None] + xp.zeros_like(run), run), xp.ones((m, n), np.int64))
    best = xp.argmax(counts, axis=1)  # the first of the longest runs: the smallest of the most frequent values
    last = (run <= best[:, None]).sum(axis=1) - 1  # its last element in sorted order: the last occurrence
    idx = xp.take_along_axis(order, last[:, None], axis=1)[:, 0]
    out = _picked(x, ax, idx, keepdim or scalar, return_types.mode, op)
    return _scalar_result(out, scalar, return_types.mode)


def aminmax(self: Tensor, *, dim: Any = None, keepdim: bool = False) -> Any:
    """``(min, max)`` of all elements or along ``dim`` (with ``keepdim``); differentiable as amin and amax."""
    op = "aminmax"
    keepdim = flag(keepdim, op, "keepdim")
    if self._data.size == 0 and dim is None:
        raise ShapeError(f"{op}: cannot compute the min and max of an empty tensor")
    if dim is None:
        lo, hi = _ops.amin(self), _ops.amax(self)
        if keepdim:
            shape = (1,) * self.ndim
            lo, hi = _ops.reshape(lo, shape), _ops.reshape(hi, shape)
        return return_types.aminmax(lo, hi)
    ax = _dim(self, dim, op)
    if self.ndim == 0:
        return return_types.aminmax(self, self)
    return return_types.aminmax(_ops.amin(self, ax, keepdims=keepdim), _ops.amax(self, ax, keepdims=keepdim))


def histc(self: Tensor, bins: int = 100, min: Any = 0, max: Any = 0) -> Tensor:  # noqa: A002 - PyTorch's
    """The counts of the elements in ``bins`` equal bins over [min, max] (both 0: the elements' own range),
    elements outside ignored, ``max`` in the last bin; self's float dtype; no gradient."""
    op = "histc"
    if self._data.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float tensor, got {self.dtype}")
    bins = whole(bins, op, "bins", low=1)
    lo, hi = real(min, op, "min"), real(max, op, "max")
    if lo > hi:
        raise InvalidArgumentError(f"{op}: max must be larger than min, got min={lo}, max={hi}")
    xp = self._backend.xp
    data = self._data.reshape(-1)
    dt = data.dtype
    if data.size == 0:
        return Tensor._make(xp.zeros(bins, dt), self._backend)
    if lo == hi:  # the elements' range, on the device (one value: widened by 1 on each side)
        finite = xp.isfinite(data)
        low = xp.where(finite, data, xp.inf).min()
        high = xp.where(finite, data, -xp.inf).max()
        same = low == high
        low, high = xp.where(same, low - 1, low), xp.where(same, high + 1, high)
    else:
        low, high = xp.asarray(lo, dtype=dt), xp.asarray(hi, dtype=dt)
    inside = (data >= low) & (data <= high)
    with np.errstate(invalid="ignore"):
        pos = xp.floor((data - low) * bins / (high - low))
    pos = xp.clip(xp.where(inside, pos, 0), 0, bins - 1).astype(np.int64)
    counts = xp.bincount(pos, weights=inside.astype(np.float64), minlength=bins)[:bins]
    return Tensor._make(counts.astype(dt), self._backend)


def histogram(self: Tensor, bins: Any = 100, *, range: Any = None, weight: Any = None,  # noqa: A002
              density: bool = False) -> Any:
    """``(hist, bin_edges)`` of the elements: ``bins`` equal bins over ``range`` (default the elements' own)
    or the edges given as a 1-d tensor; with ``weight``, the sums of the weights; self's float dtype."""
    op = "histogram"
    from gradkit.ops.numpy_stats import histogram as _histogram

    if self._data.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float tensor, got {self.dtype}")
    if isinstance(bins, Tensor):
        bins = _other(self, bins, op, "bins")
        if bins.ndim != 1:
            raise ShapeError(f"{op}: bins given as a tensor must be 1-d edges, got shape {bins.shape}")
    else:
        bins = whole(bins, op, "bins", low=1)
    if weight is not None:
        weight = _other(self, weight, op, "weight")
    density = flag(density, op, "density")
    hist, edges = _histogram(self.detach(), bins, range, density, None if weight is None else weight.detach())
    dt = self._data.dtype
    return return_types.histogram(Tensor._make(hist._data.astype(dt), self._backend),
                                  Tensor._make(edges._data.astype(dt), self._backend))


def bincount(self: Tensor, weights: Any = None, minlength: int = 0) -> Tensor:
    """How often each value 0 .. max occurs in the 1-d non-negative integer self (int64), or the sums of
    ``weights`` per value (float weights keep their dtype, others give float64); at least ``minlength`` bins."""
    from gradkit.ops.numpy_stats import bincount as _bincount

    if weights is None:
        return _bincount(self, None, minlength)
    w = _other(self, weights, "bincount", "weights")
    out = _bincount(self, w, minlength)
    return _ops.astype(out, w.dtype) if w.dtype.kind == "f" and w.dtype != out.dtype else out


def unique(self: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002 - PyTorch's name
           return_counts: bool = False, dim: Any = None) -> Any:
    """The sorted unique elements (or unique slices along ``dim``), and on request the inverse indices and
    the counts, as PyTorch's (each NaN is its own value); no gradient."""
    from gradkit.ops.numpy_stats import unique as _unique

    op = "unique"
    flag(sorted, op, "sorted")  # the result is always sorted, which PyTorch's sorted=False allows
    return_inverse, return_counts = flag(return_inverse, op, "return_inverse"), flag(return_counts, op, "return_counts")
    axis = None if dim is None else _dim(self, dim, op)
    return _unique(self.detach(), False, return_inverse, return_counts, axis, equal_nan=False)


def unique_consecutive(self: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: Any = None) -> Any:
    """Each run of equal consecutive elements (or slices along ``dim``) as one, and on request the inverse
    indices and the run lengths, as PyTorch's; no gradient."""
    op = "unique_consecutive"
    return_inverse, return_counts = flag(return_inverse, op, "return_inverse"), flag(return_counts, op, "return_counts")
    xp = self._backend.xp
    if dim is None:
        rows = self._data.reshape(-1, 1)
        ax = None
    else:
        if self.ndim == 0:
            raise ShapeError(f"{op}: a 0-d tensor has no dim {dim}; use dim=None")
        ax = _dim(self, dim, op)
        moved = xp.moveaxis(self._data, ax, 0)
        rows = moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))
    n = rows.shape[0]
    if n:
        start = xp.concatenate([xp.ones(1, dtype=bool), (rows[1:] != rows[:-1]).any(axis=1)])
    else:
        start = xp.zeros(0, dtype=bool)
    firsts = xp.nonzero(start)[0]  # reads the number of runs on the host
    if ax is None:
        values = self._data.reshape(-1)[firsts]
    else:
        values = xp.moveaxis(xp.moveaxis(self._data, ax, 0)[firsts], 0, ax)
    out = [Tensor._make(xp.ascontiguousarray(values), self._backend)]
    if return_inverse:
        inverse = xp.cumsum(start).astype(np.int64) - 1
        out.append(Tensor._make(inverse.reshape(self.shape) if ax is None else inverse, self._backend))
    if return_counts:
        ends = xp.concatenate([firsts[1:], xp.asarray([n], dtype=firsts.dtype)])
        out.append(Tensor._make((ends - firsts).astype(np.int64), self._backend))
    return out[0] if len(out) == 1 else tuple(out)


def nonzero_static(self: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """PyTorch's ``nonzero`` (one row of indices per non-zero element) with exactly ``size`` rows: cut, or
    padded with ``fill_value``; int64, computed on the device without a host read."""
    op = "nonzero_static"
    size = whole(size, op, "size", low=0)
    fill_value = whole(fill_value, op, "fill_value")
    xp = self._backend.xp
    mask = (self._data != 0).reshape(-1)
    pos = xp.cumsum(mask) - 1
    slot = xp.where(mask & (pos < size), pos, size)  # slot `size` collects what is dropped
    flat = xp.full(size + 1, -1, dtype=np.int64)
    flat[slot] = xp.arange(mask.size, dtype=np.int64)
    flat = flat[:size]
    ndim = self.ndim
    if ndim == 0:
        return Tensor._make(xp.zeros((size, 0), dtype=np.int64), self._backend)
    if mask.size == 0:  # nothing found: every row is fill_value
        return Tensor._make(xp.full((size, ndim), fill_value, dtype=np.int64), self._backend)
    found = flat >= 0
    coords = xp.stack(xp.unravel_index(xp.where(found, flat, 0), self.shape), axis=1).astype(np.int64)
    return Tensor._make(xp.where(found[:, None], coords, np.int64(fill_value)), self._backend)


def cumsum_(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumsum(dim)`` in place; returns self."""
    return self._assign_("cumsum_", lambda t: _ops.reshape(
        t.cumsum(dim=dim, dtype=t.dtype if dtype is None else dtype), t.shape))


def cumprod_(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumprod(dim)`` in place; returns self."""
    return self._assign_("cumprod_", lambda t: _ops.reshape(
        t.cumprod(dim=dim, dtype=t.dtype if dtype is None else dtype), t.shape))


def tril_(self: Tensor, diagonal: int = 0) -> Tensor:
    """``tril(diagonal)`` in place; returns self."""
    return self._assign_("tril_", lambda t: t.tril(diagonal))


def triu_(self: Tensor, diagonal: int = 0) -> Tensor:
    """``triu(diagonal)`` in place; returns self."""
    return self._assign_("triu_", lambda t: t.triu(diagonal))


def byte(self: Tensor, memory_format: Any = None) -> Tensor:
    """As uint8."""
    return _ops.astype(self, np.uint8)


def char(self: Tensor, memory_format: Any = None) -> Tensor:
    """As int8."""
    return _ops.astype(self, np.int8)


def short(self: Tensor, memory_format: Any = None) -> Tensor:
    """As int16."""
    return _ops.astype(self, np.int16)


# -------------------------------------------------------------------------------------------- install
METHODS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        is_complex, is_signed, is_contiguous, is_nonzero, is_same_size, get_device, ndimension, is_inference,
        is_pinned, is_shared, equal, stride, data_ptr, storage_offset,
        swapdims, swapdims_, swapaxes_, transpose_, t_, squeeze_, unsqueeze_, fliplr, flipud, rot90, narrow_copy,
        dsplit, hsplit, vsplit, split_with_sizes, unsafe_chunk, unsafe_split, unsafe_split_with_sizes, sum_to_size,
        take, take_along_dim, index_put, put, put_, select_scatter, slice_scatter, diagonal_scatter, fill_diagonal_,
        unfold, resize_, resize_as_, apply_, map_,
        bernoulli_, cauchy_, exponential_, geometric_, log_normal_, random_,
        msort, kthvalue, mode, aminmax, histc, histogram, bincount, unique, unique_consecutive, nonzero_static,
        cumsum_, cumprod_, tril_, triu_, byte, char, short,
    )
}

PROPERTIES: dict[str, Callable[[Tensor], Any]] = {"is_cpu": _is_cpu, "H": _h}


def install(cls: type) -> None:
    """Make the functions above methods (and ``is_cpu``, ``H`` properties) of ``cls``; running it again is
    harmless, but a name that ``cls`` already has otherwise is an error (nothing is silently replaced)."""
    entries = {**METHODS, **{name: property(fn, doc=fn.__doc__) for name, fn in PROPERTIES.items()}}
    for name, value in entries.items():
        current = cls.__dict__.get(name)
        if current is value or (isinstance(current, property) and current.fget is PROPERTIES.get(name)):
            continue
        if hasattr(cls, name):
            raise AttributeError(f"install: {cls.__name__} already has {name!r}; refusing to replace it")
        setattr(cls, name, value)
