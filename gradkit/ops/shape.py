"""Shape operations: views and rearrangements of the same elements.

Their VJPs are the inverse rearrangement of the gradient (reshape back,
transpose by the inverse permutation, sum over broadcast axes, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradkit._args import flag, out_of_range, text, whole
from gradkit.autograd.function import record
from gradkit.autograd.inplace import note_view
from gradkit.dtypes import to_dtype
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import NOT_GIVEN, as_tensor, normalize_axes, normalize_axis, pass_through, renamed, shape_arg
from gradkit.tensor import Tensor


def share_version(out: Tensor, x: Tensor) -> Tensor:
    """Give ``out`` the version counter of ``x`` when its data is a view of x's memory.

    An in-place change through either one then counts as a change to both, so
    a node that saved one of them notices at backward (as with ``detach``).
    """
    data = out._data
    if data.base is not None and x._backend.xp.may_share_memory(data, x._data):
        out._version = x._version
        note_view(x, out)
    return out


def alias(x: Tensor, name: str) -> Tensor:
    """A new tensor on ``x``'s array and version counter; in the graph (gradient passed through) when x is.

    What a view to the same shape gives, as PyTorch's: a tensor of its own (hooks, ``retain_grad``,
    ``requires_grad_`` and ``is_leaf`` are per tensor), on the same memory.
    """
    out = record(name, x._data, x._backend, (x,), (pass_through,))
    out._version = x._version
    note_view(x, out)
    return out


def reshape(x: Any, shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be -1)."""
    x = as_tensor(x, "reshape")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "reshape")
    if shape == x._data.shape:
        return alias(x, "reshape")
    try:
        data = x._data.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {shape}"
        ) from None
    return share_version(record("reshape", data, x._backend, (x,), (_reshape_vjp,), (x.shape,)), x)


def _reshape_vjp(g: Tensor, shape: tuple) -> Tensor:
    return reshape(g, shape)


def flatten(
    x: Any, start_axis: int = 0, end_axis: int = -1, *, start_dim: Any = NOT_GIVEN, end_dim: Any = NOT_GIVEN
) -> Tensor:
    """Merge the axes from ``start_axis`` to ``end_axis`` (inclusive) into one (PyTorch's ``start_dim=``,
    ``end_dim=``)."""
    if start_dim is not NOT_GIVEN or end_dim is not NOT_GIVEN:
        start_axis = renamed("flatten", start_axis, 0, start_dim, "start_axis", "start_dim")
        end_axis = renamed("flatten", end_axis, -1, end_dim, "end_axis", "end_dim")
    x = as_tensor(x, "flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_axis(start_axis, x.ndim, "flatten")
    end = normalize_axis(end_axis, x.ndim, "flatten")
    if start > end:
        raise InvalidArgumentError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    if start == end:  # nothing to merge: x itself, as PyTorch's flatten
        return x
    merged = math.prod(x.shape[start : end + 1])  # not -1: ambiguous when another axis has length 0
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


def transpose(x: Any, axes: Sequence[int] | None = None, *more: Any, op: str = "transpose") -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as NumPy does."""
    x = as_tensor(x, op)
    if more or isinstance(axes, (int, np.integer)):
        raise ArgumentTypeError(
            f"{op}: axes must be one sequence of all {x.ndim} axes, as NumPy's transpose(x, (1, 0)), got "
            f"{(axes, *more)!r:.60}; to swap two axes as PyTorch's transpose(x, 0, 1) use gk.swapaxes(x, 0, 1)"
        )
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    else:
        if not isinstance(axes, (tuple, list)):
            raise ArgumentTypeError(f"{op}: axes must be a tuple or list of ints, got {type(axes).__name__}")
        axes = tuple(normalize_axis(a, x.ndim, op) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ShapeError(
                f"{op}: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape} (NumPy's transpose; "
                "to swap two axes as PyTorch's transpose(x, 0, 1) use gk.swapaxes(x, 0, 1))"
            )
    inverse = tuple(int(i) for i in np.argsort(axes))
    out = record("transpose", x._data.transpose(axes), x._backend, (x,), (_transpose_vjp,), (inverse,))
    return share_version(out, x)


def _transpose_vjp(g: Tensor, inverse: tuple) -> Tensor:
    return transpose(g, inverse)


def permute(x: Any, axes: Sequence[int]) -> Tensor:
    """Permute the axes (PyTorch's name for ``transpose`` with axes)."""
    try:
        order = tuple(axes)
    except TypeError:  # one axis (or something transpose's check will name)
        order = (axes,)
    return transpose(x, order, op="permute")


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    x = as_tensor(x, "swapaxes")
    a, b = normalize_axis(axis1, x.ndim, "swapaxes"), normalize_axis(axis2, x.ndim, "swapaxes")
    if x.ndim == 0:  # axes 0 and -1 of a 0-d tensor (as PyTorch): nothing to exchange
        return transpose(x, ())
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def squeeze(x: Any, axis: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Remove axes of length 1 (all of them when ``axis`` is None); an axis given whose length is not 1
    is an error, as NumPy's. PyTorch's form, ``dim=`` (an int or a tuple), leaves such an axis in place,
    as ``torch.squeeze``."""
    if dim is not NOT_GIVEN:
        axis = renamed("squeeze", axis, None, dim, "axis", "dim")
        x = as_tensor(x, "squeeze")
        if axis is not None:
            axes = normalize_axes(tuple(axis) if isinstance(axis, list) else axis, x.ndim, "squeeze")
            return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes or d != 1))
    x = as_tensor(x, "squeeze")
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} has length {x.shape[bad[0]]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Any, axis: int = NOT_GIVEN, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Insert an axis of length 1 at position ``axis`` (PyTorch's ``dim=``)."""
    if axis is NOT_GIVEN or dim is not NOT_GIVEN:
        axis = renamed("unsqueeze", axis, NOT_GIVEN, dim, "axis", "dim")
        if axis is NOT_GIVEN:
            raise ArgumentTypeError("unsqueeze: missing the position of the new axis (axis= or dim=)")
    x = as_tensor(x, "unsqueeze")
    ax = normalize_axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:ax] + (1,) + x.shape[ax:])


def expand_dims(x: Any, axis: Any) -> Tensor:
    """NumPy's ``expand_dims``: ``unsqueeze`` at ``axis``, an int or a tuple of positions in the result."""
    if not isinstance(axis, (tuple, list)):
        return unsqueeze(x, axis)
    x = as_tensor(x, "expand_dims")
    ndim = x.ndim + len(axis)
    axes = {normalize_axis(a, ndim, "expand_dims") for a in axis}
    if len(axes) != len(axis):
        raise InvalidArgumentError(f"expand_dims: repeated axis in {axis!r}; each axis may appear once")
    dims = iter(x.shape)
    return reshape(x, tuple(1 if i in axes else next(dims) for i in range(ndim)))


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """A view of ``x`` broadcast to ``shape``; the gradient is summed back."""
    x = as_tensor(x, "broadcast_to")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "broadcast_to")
    if shape == x._data.shape:
        return alias(x, "broadcast_to")
    try:
        data = x._backend.xp.broadcast_to(x._data, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return share_version(record("broadcast_to", data, x._backend, (x,), (_broadcast_vjp,), (x.shape,)), x)


def _broadcast_vjp(g: Tensor, shape: tuple) -> Tensor:
    return sum_to(g, shape)


def expand(x: Any, shape: Any) -> Tensor:
    """PyTorch's ``expand``: ``broadcast_to`` where -1 keeps a dimension."""
    x = as_tensor(x, "expand")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "expand")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    target = tuple(x.shape[i - lead] if d == -1 and i >= lead else d for i, d in enumerate(shape))
    try:
        return broadcast_to(x, target)
    except ShapeError:
        raise ShapeError(
            f"expand: cannot expand shape {x.shape} to {shape}: each dimension must match or be 1 in the input"
        ) from None


def sum_to(x: Any, shape: tuple) -> Tensor:
    """Sum ``x`` over the axes that broadcasting added to reach it from ``shape``."""
    x = as_tensor(x, "sum_to")
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and x.shape[i + lead] != 1)
    data = x._data
    if axes:  # float16 summed in float32, as PyTorch accumulates it (NumPy's float16 sum stalls at 2048 ones)
        data = (data.sum(axis=axes, keepdims=True, dtype=np.float32).astype(data.dtype) if data.dtype == np.float16
                else data.sum(axis=axes, keepdims=True))
    if lead:
        data = data.reshape(shape)
    return record("sum_to", data, x._backend, (x,), (_sum_to_vjp,), (x.shape,))


def _sum_to_vjp(g: Tensor, shape: tuple) -> Tensor:
    return broadcast_to(g, shape)


def concatenate(tensors: Sequence[Any], axis: int | None = 0, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Join tensors along an existing axis (``axis=None``: flatten them first, as NumPy; PyTorch's ``dim=``)."""
    if dim is not NOT_GIVEN:
        axis = renamed("concatenate", axis, 0, dim, "axis", "dim")
    if axis is None:
        ts = _tensor_list(tensors, "concatenate", same_ndim=False)
        return concatenate([reshape(t, (-1,)) for t in ts], axis=0)
    ts = _tensor_list(tensors, "concatenate")
    if ts[0].ndim == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    ax = normalize_axis(axis, ts[0].ndim, "concatenate")
    try:
        data = ts[0]._backend.xp.concatenate([t._data for t in ts], axis=ax)
    except ValueError:
        raise ShapeError(f"concatenate: shapes {[t.shape for t in ts]} differ outside axis {axis}") from None
    bounds = np.cumsum([0] + [t.shape[ax] for t in ts])
    rules = tuple(_slice_rule(ax, int(bounds[i]), int(bounds[i + 1])) for i in range(len(ts)))
    return record("concatenate", data, ts[0]._backend, tuple(ts), rules, broadcast=True, info=ax)


def _slice_rule(axis: int, start: int, stop: int) -> Any:
    def rule(g: Tensor) -> Tensor:
        from gradkit.ops.indexing import getitem

        return getitem(g, (slice(None),) * axis + (slice(start, stop),))

    return rule


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Join tensors of the same shape along a new axis (PyTorch's ``dim=``)."""
    if dim is not NOT_GIVEN:
        axis = renamed("stack", axis, 0, dim, "axis", "dim")
    ts = _tensor_list(tensors, "stack")
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {[t.shape for t in ts]}")
    ax = normalize_axis(axis, ts[0].ndim + 1, "stack")
    return concatenate([unsqueeze(t, ax) for t in ts], axis=ax)


def split(x: Any, sections_or_indices: Any, axis: int = 0, *, dim: Any = NOT_GIVEN) -> Any:
    """Split into pieces along ``axis``: N equal sections, or at the given indices (NumPy's rules), as a list.

    PyTorch's form, ``split(x, split_size_or_sections, dim=d)``, is ``torch.split``'s: an int is the size
    of each piece (the last may be shorter), a sequence the size of each piece (summing to the axis's
    length); a tuple.
    """
    from gradkit.ops.indexing import getitem

    if dim is not NOT_GIVEN:
        return _torch_split(x, sections_or_indices, renamed("split", axis, 0, dim, "axis", "dim"))
    x = as_tensor(x, "split")
    if x.ndim == 0:
        raise ShapeError("split: a 0-d tensor has no axis to split")
    ax = normalize_axis(axis, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(sections_or_indices, (int, np.integer)) and not isinstance(sections_or_indices, bool):
        k = int(sections_or_indices)
        if k <= 0 or n % k:
            raise ShapeError(f"split: axis {ax} of length {n} does not split into {k} equal sections")
        cuts = [i * (n // k) for i in range(1, k)]
    else:
        if isinstance(sections_or_indices, Tensor):
            sections_or_indices = sections_or_indices.tolist()
        try:
            cuts = list(sections_or_indices)
        except TypeError:
            raise ArgumentTypeError(
                f"split: sections_or_indices must be an int or a sequence of ints, got {sections_or_indices!r}"
            ) from None
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in cuts):
            raise ArgumentTypeError(f"split: indices must be integers, got {sections_or_indices!r}")
        cuts = [int(i) for i in cuts]
    edges = [0, *cuts, n]
    return [getitem(x, (slice(None),) * ax + (slice(lo, hi),)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _torch_split(x: Any, sizes: Any, dim: Any) -> tuple[Tensor, ...]:
    """``torch.split``: pieces of ``sizes`` elements (an int) or of the sizes listed, along ``dim``."""
    x = as_tensor(x, "split")
    if x.ndim == 0:
        raise ShapeError("split: a 0-d tensor has no axis to split")
    ax = normalize_axis(dim, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        size = int(sizes)
        if size < 0 or (size == 0 and n):
            raise InvalidArgumentError(
                f"split: split_size must be a positive int (0 only for an empty axis), got {size} for axis {ax} of "
                f"length {n}"
            )
        cuts = list(range(size, n, size)) if size else []
    else:
        lengths = _int_list(sizes, "split", "split_size_or_sections")
        if any(s < 0 for s in lengths) or sum(lengths) != n:
            raise ShapeError(
                f"split: the sizes {lengths} must be >= 0 and add up to the length {n} of axis {ax} (shape {x.shape})"
            )
        cuts = [int(c) for c in np.cumsum(lengths)[:-1]]
    return tuple(split(x, cuts, axis=ax))


def flip(x: Any, axis: Any = None, *, dims: Any = NOT_GIVEN) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes when None; PyTorch's ``dims=``)."""
    if dims is not NOT_GIVEN:
        axis = renamed("flip", axis, None, dims, "axis", "dims")
        axis = tuple(axis) if isinstance(axis, list) else axis
    x = as_tensor(x, "flip")
    axes = normalize_axes(axis, x.ndim, "flip")
    data = x._backend.xp.flip(x._data, axis=axes)
    return share_version(record("flip", data, x._backend, (x,), (lambda g, axes: flip(g, axes),), (axes,)), x)


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap", "maximum", "minimum", "mean", "median",
              "linear_ramp", "empty")  # fmt: skip
_PAD_STATS = ("maximum", "minimum", "mean", "median")
# the keyword arguments beside the widths, their defaults, and the modes that take them (NumPy's rule: others refuse)
_PAD_OPTIONS = (("constant_values", 0, ("constant",)), ("stat_length", None, _PAD_STATS),
                ("end_values", 0, ("linear_ramp",)), ("reflect_type", "even", ("reflect", "symmetric")))  # fmt: skip


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0, *, stat_length: Any = None,
        end_values: Any = 0, reflect_type: str = "even") -> Tensor:  # fmt: skip
    """Pad as ``numpy.pad``: ``pad_width`` is an int, a (before, after) pair or one pair per axis, and the
    axes are padded one after the other (a later axis's padding is made from the earlier axes' padded
    values, as NumPy's corners are).

    Modes: "constant" (``constant_values``), "edge", "reflect" and "symmetric" (``reflect_type`` "even",
    or "odd": ``2 * edge - reflected``), "wrap"; "maximum", "minimum", "mean" and "median" of the first
    and last ``stat_length`` values along the axis (None: all of them; an int, a pair or one pair per
    axis; integer tensors round the mean and median half to even, as NumPy); "linear_ramp" from
    ``end_values`` (a number, a pair or one pair per axis) to the edge (integer tensors floor it, as
    NumPy); "empty", whose values NumPy leaves undefined: here they are 0 (as "constant"). A keyword a
    mode does not take (other than at its default) is refused, as NumPy refuses it.

    Differentiable in ``x``: the copied modes scatter the gradient back onto the elements copied, the
    statistics and ramps pass it through the recorded reductions and arithmetic they are made of.
    """
    from gradkit.ops.indexing import getitem

    x = as_tensor(x, "pad")
    text(mode, "pad", "mode")
    if mode not in _PAD_MODES:
        raise InvalidArgumentError(f"pad: unknown mode {mode!r}; expected one of {', '.join(map(repr, _PAD_MODES))}")
    options = {"constant_values": constant_values, "stat_length": stat_length, "end_values": end_values,
               "reflect_type": reflect_type}  # fmt: skip
    for name, default, modes in _PAD_OPTIONS:
        if mode not in modes and not _at_default(options[name], default):
            raise InvalidArgumentError(
                f"pad: mode {mode!r} takes no {name} (only {', '.join(map(repr, modes))}), got {options[name]!r:.40}"
            )
    if mode in ("reflect", "symmetric"):
        text(reflect_type, "pad", "reflect_type")
        if reflect_type not in ("even", "odd"):
            raise InvalidArgumentError(f"pad: reflect_type must be 'even' or 'odd', got {reflect_type!r}")
    xp = x._backend.xp
    if x.ndim == 0:  # nothing to pad, as numpy.pad
        return x
    try:
        given = np.asarray(pad_width)
    except ValueError:
        raise ShapeError(
            f"pad: pad_width {pad_width!r:.60} is ragged; expected an int, a pair or one pair per axis"
        ) from None
    if given.dtype.kind not in "iu":
        raise ArgumentTypeError(f"pad: pad_width must be integers, got {pad_width!r:.60}")
    if isinstance(constant_values, (str, bytes, complex)) or getattr(constant_values, "size", 1) != 1:
        raise ArgumentTypeError(f"pad: constant_values must be a single number, got {constant_values!r:.40}")
    try:
        widths = np.broadcast_to(given.astype(np.int64), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a tensor of {x.ndim} dimension(s)") from None
    if (widths < 0).any():
        raise InvalidArgumentError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    if mode in ("constant", "empty"):
        try:
            data = xp.pad(x._data, widths.tolist(), mode="constant", constant_values=constant_values)
        except (TypeError, ValueError):
            raise ArgumentTypeError(
                f"pad: constant_values must be a number (or NumPy's per-axis pairs), got {constant_values!r:.40}"
            ) from None
        inner = tuple(slice(int(lo), int(lo) + d) for (lo, _), d in zip(widths, x.shape, strict=True))
        return record("pad", data, x._backend, (x,), (lambda g, inner: getitem(g, inner),), (inner,))
    empty = [d for d, (lo, hi) in enumerate(widths) if x.shape[d] == 0 and (lo or hi)]
    if empty:
        raise ShapeError(
            f"pad: mode {mode!r} cannot extend axis {empty[0]} of length 0 (shape {x.shape}); use 'constant'"
        )
    if mode in ("edge", "wrap") or (mode in ("reflect", "symmetric") and reflect_type == "even"):
        # These modes pick existing elements: pad an index array the same way
        # and gather, so the gradient is a scatter-add onto those elements.
        index = np.pad(np.arange(x.size).reshape(x.shape), widths.tolist(), mode=mode)
        return getitem(reshape(x, (-1,)), index)  # a host array: its bounds are checked on the host
    if mode in _PAD_STATS:
        lengths = _pad_pairs(stat_length, x.ndim, "stat_length", whole_numbers=True)
        if mode in ("maximum", "minimum") and x.size and any(v == 0 for pair in lengths for v in pair):
            raise InvalidArgumentError(f"pad: stat_length of 0 yields no value for mode {mode!r}, got {stat_length!r}")
    elif mode == "linear_ramp":
        ends = _pad_pairs(end_values, x.ndim, "end_values", whole_numbers=False)
    if x.size == 0 or not widths.any():  # the result is empty (only axes of length 0 left unpadded), or x's copy
        return pad(x, widths)
    out = x
    for axis, (lo, hi) in enumerate(widths.tolist()):
        if not (lo or hi):
            continue
        if mode in _PAD_STATS:
            out = _pad_stat(out, axis, lo, hi, lengths[axis], mode)
        elif mode == "linear_ramp":
            out = _pad_ramp(out, axis, lo, hi, ends[axis])
        else:
            out = _pad_odd(out, axis, lo, hi, mode == "symmetric")
    return out


def _at_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(default, str):
        return isinstance(value, str) and value == default
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and value == default


def _pad_pairs(value: Any, ndim: int, name: str, whole_numbers: bool) -> list[tuple[Any, Any]]:
    """``stat_length`` (None, or non-negative ints) or ``end_values`` (numbers) as one (before, after) pair
    per axis, broadcast as NumPy's (a number, a pair, or one pair per axis); Python numbers."""
    if value is None and whole_numbers:
        return [(None, None)] * ndim
    if isinstance(value, Tensor):
        value = value.numpy()
    try:
        given = np.asarray(value)
    except ValueError:
        raise ShapeError(
            f"pad: {name} {value!r:.60} is ragged; expected a number, a pair or one pair per axis"
        ) from None
    kinds = "iu" if whole_numbers else "biuf"
    if given.dtype.kind not in kinds:
        what = "None or non-negative integers" if whole_numbers else "numbers"
        raise ArgumentTypeError(f"pad: {name} must be {what}, got {value!r:.60}")
    if whole_numbers and (given < 0).any():
        raise InvalidArgumentError(f"pad: {name} must be non-negative, got {value!r:.60}")
    try:
        pairs = np.broadcast_to(given, (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: {name} {value!r:.60} does not fit a tensor of {ndim} dimension(s)") from None
    return [tuple(pair) for pair in pairs.tolist()]


def _along(axis: int, index: Any) -> tuple:
    return (slice(None),) * axis + (index,)


def _pad_cast(t: Tensor, dtype: np.dtype, integers: str) -> Tensor:
    """A statistic or ramp computed in floats, back in ``x``'s dtype as NumPy assigns it: integers rounded
    (``integers`` "round" half to even, or "floor"), bools True where non-zero."""
    from gradkit.ops.elementwise import floor
    from gradkit.ops.elementwise import round as round_

    if dtype.kind in "iu" and t.dtype.kind == "f":
        t = round_(t) if integers == "round" else floor(t)
    return astype(t, dtype)


def _pad_stat(t: Tensor, axis: int, lo: int, hi: int, lengths: tuple, mode: str) -> Tensor:
    """Pad one axis with the statistic of its first ``lengths[0]`` and last ``lengths[1]`` values."""
    from gradkit.ops import reduce
    from gradkit.ops.indexing import getitem

    n = t.shape[axis]
    fn = {"maximum": reduce.max, "minimum": reduce.min, "mean": reduce.mean, "median": reduce.median}[mode]
    first, last = (n if k is None else min(k, n) for k in lengths)

    def stat(start: int, stop: int) -> Tensor:
        if start == stop and t.dtype.kind != "f":
            raise InvalidArgumentError(f"pad: stat_length of 0 gives no {mode} of an integer or bool tensor")
        chunk = t if stop - start == n else getitem(t, _along(axis, slice(start, stop)))
        return _pad_cast(fn(chunk, axis=axis, keepdims=True), t.dtype, "round")

    pieces = [t]
    left = stat(0, first) if lo else None
    if lo:
        pieces.insert(0, broadcast_to(left, t.shape[:axis] + (lo,) + t.shape[axis + 1 :]))
    if hi:
        right = left if left is not None and first == last == n else stat(n - last, n)
        pieces.append(broadcast_to(right, t.shape[:axis] + (hi,) + t.shape[axis + 1 :]))
    return concatenate(pieces, axis=axis)


def _pad_ramp(t: Tensor, axis: int, lo: int, hi: int, ends: tuple) -> Tensor:
    """Pad one axis with NumPy's ``linspace(end, edge, width, endpoint=False)``, reversed after it."""
    from gradkit.ops.elementwise import where
    from gradkit.ops.indexing import getitem

    xp = t._backend.xp
    work = t if t.dtype in (np.float32, np.float64) else astype(t, np.float64)
    n = t.shape[axis]
    pieces = [t]
    for before, width, end in ((True, lo, ends[0]), (False, hi, ends[1])):
        if not width:
            continue
        at = 0 if before else n - 1
        steps = np.arange(width) if before else np.arange(width - 1, -1, -1)  # the right ramp runs back to its end
        edge = getitem(work, _along(axis, slice(at, at + 1)))
        shape = (1,) * axis + (width,) + (1,) * (t.ndim - axis - 1)
        k = steps.astype(work.dtype).reshape(shape)
        # NumPy's linspace: start + k * step, step = (stop - start) / width; but (k / width) * (stop - start)
        # wherever one step of the call is 0 (a rounding that flooring integers can tell apart)
        delta = edge - end
        step = delta / width
        ramp = where(xp.any(step._data == 0), Tensor._make(xp.asarray(k / k.dtype.type(width)), t._backend) * delta,
                     step * Tensor._make(xp.asarray(k), t._backend))  # fmt: skip
        pieces.insert(0 if before else len(pieces), _pad_cast(ramp + end, t.dtype, "floor"))
    return concatenate(pieces, axis=axis)


def _pad_odd(t: Tensor, axis: int, lo: int, hi: int, symmetric: bool) -> Tensor:
    """Pad one axis by odd reflection (``2 * edge - mirrored``), chunk by chunk as NumPy does when the
    widths pass the axis length (each chunk mirrors what is there so far, about its current edge)."""
    from gradkit.ops.indexing import getitem

    period = t.shape[axis]
    if period == 1:  # NumPy extends a length-1 axis by its edge (its legacy rule)
        return concatenate([broadcast_to(t, t.shape[:axis] + (lo + 1 + hi,) + t.shape[axis + 1 :])], axis=axis)
    cur = t
    while lo or hi:
        size = cur.shape[axis]
        # the chunk is at most what is there so far, in whole periods of the original length (NumPy's rule)
        longest = size // period * period if symmetric else (size - 1) // (period - 1) * (period - 1)
        pieces = [cur]
        if lo:
            c = min(longest, lo)
            mirrored = getitem(cur, _along(axis, slice(0, c) if symmetric else slice(1, c + 1)))
            edge = getitem(cur, _along(axis, slice(0, 1)))
            pieces.insert(0, _pad_cast(2 * edge - flip(mirrored, axis), t.dtype, "floor"))
            lo -= c
        if hi:
            c = min(longest, hi)
            mirrored = getitem(cur, _along(axis, slice(size - c, size) if symmetric else slice(size - 1 - c, size - 1)))
            edge = getitem(cur, _along(axis, slice(size - 1, size)))
            pieces.append(_pad_cast(2 * edge - flip(mirrored, axis), t.dtype, "floor"))
            hi -= c
        cur = concatenate(pieces, axis=axis)
    return cur


def astype(x: Any, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``; the gradient is converted back."""
    x = as_tensor(x, "astype")
    dtype = to_dtype(dtype, "astype")
    if dtype == x.dtype:
        return x
    data = x._data.astype(dtype)
    if dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("astype", data, x._backend, (x,), (lambda g, dt: astype(g, dt),), (x.dtype,))


def clone(x: Any) -> Tensor:
    """A copy of ``x`` in memory of its own; the gradient passes through (PyTorch's ``clone``)."""
    x = as_tensor(x, "clone")
    data = x._backend.xp.array(x._data, copy=True)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("clone", data, x._backend, (x,), (pass_through,))


def contiguous(x: Any) -> Tensor:
    """``x`` when its memory is C-ordered, else a C-ordered copy; the gradient passes through."""
    x = as_tensor(x, "contiguous")
    if x._data.flags.c_contiguous:
        return x
    data = x._backend.xp.ascontiguousarray(x._data)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("contiguous", data, x._backend, (x,), (pass_through,))


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """PyTorch's name for :func:`concatenate` (``dim`` is the axis)."""
    return concatenate(tensors, axis=dim)


def to_device(x: Any, device: Any) -> Tensor:
    """A copy of ``x`` on ``device``; the gradient is copied back."""
    from gradkit.backends import get_backend

    x = as_tensor(x, "to_device")
    target = get_backend(device, "to")
    if target is x._backend:
        return x
    data = target.transfer(x._data, x._backend)
    return record("to_device", data, target, (x,), (lambda g, src: to_device(g, src),), (x._backend,))


def _tensor_list(tensors: Sequence[Any], op: str, same_ndim: bool = True) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ArgumentTypeError(f"{op}: needs at least one tensor")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    backend = first._backend if first is not None else None
    ts = [as_tensor(t, op, backend) for t in tensors]
    ndims = {t.ndim for t in ts}
    if same_ndim and len(ndims) != 1:
        raise ShapeError(
            f"{op}: all tensors must have the same number of dimensions, got shapes {[t.shape for t in ts]}"
        )
    return ts


# ------------------------------------------------------------- NumPy's rearrangements
def _count_arg(value: Any, op: str, name: str) -> int:
    """A non-negative count: an int, or a float with no fraction (as ``whole``), or a 0-d tensor of one."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ArgumentTypeError(f"{op}: {name} must be an int, got a tensor of shape {value.shape}")
    return whole(value, op, name, low=0)


def _int_list(value: Any, op: str, name: str) -> list[int]:
    """An int or a sequence of ints (a 1-d integer tensor or array too) as a list of Python ints."""
    if isinstance(value, Tensor) or hasattr(value, "__cuda_array_interface__") or isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu" or value.ndim > 1:
            raise ArgumentTypeError(f"{op}: {name} must be an int or a sequence of ints, got {value!r:.60}")
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        return [whole(v, op, name) for v in value]
    return [whole(value, op, name)]


def tile(x: Any, reps: Any) -> Tensor:
    """NumPy's ``tile``: ``x`` repeated ``reps[i]`` times along each axis (PyTorch's ``Tensor.repeat``).

    ``reps`` is an int or a sequence; the shorter of ``reps`` and ``x.shape`` is padded with leading
    ones, as NumPy does. The gradient sums the copies.
    """
    x = as_tensor(x, "tile")
    counts = _int_list(reps, "tile", "reps")
    if any(r < 0 for r in counts):
        raise InvalidArgumentError(f"tile: reps must be non-negative, got {reps!r:.60}")
    ndim = max(x.ndim, len(counts))
    counts = [1] * (ndim - len(counts)) + counts
    shape = (1,) * (ndim - x.ndim) + x.shape
    data = x._backend.xp.tile(x._data.reshape(shape), tuple(counts))
    return record("tile", data, x._backend, (x,), (_tile_vjp,), (x.shape, tuple(counts), shape))


def _tile_vjp(g: Tensor, in_shape: tuple, counts: tuple, shape: tuple) -> Tensor:
    from gradkit.ops.reduce import sum as sum_

    # out has shape (r0*d0, r1*d1, ...) with copy k of axis i at [k*di, (k+1)*di): split each axis
    # into (ri, di) and sum over the ri
    pairs = tuple(v for r, d in zip(counts, shape, strict=True) for v in (r, d))
    summed = sum_(reshape(g, pairs), axis=tuple(range(0, 2 * len(shape), 2)))
    return reshape(summed, in_shape)


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """NumPy's ``repeat``: each element repeated ``repeats`` times along ``axis`` (the flattened tensor
    when None); ``repeats`` is an int or one count per element along the axis (PyTorch's
    ``repeat_interleave``). The gradient sums the copies.

    Per-element counts decide the result's length, so they are read on the host (a tensor of them
    too: a device synchronisation, refused while a CUDA graph is captured); an int count is not.
    """
    x = as_tensor(x, "repeat")
    return _repeat(x, repeats, axis, "repeat")


def repeat_interleave(x: Any, repeats: Any, dim: int | None = None) -> Tensor:
    """PyTorch's name for :func:`repeat` (``dim`` is the axis)."""
    x = as_tensor(x, "repeat_interleave")
    return _repeat(x, repeats, dim, "repeat_interleave")


def _repeat(x: Tensor, repeats: Any, axis: Any, op: str) -> Tensor:
    if axis is None:
        x, ax = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    elif x.ndim == 0:  # axis 0 or -1 of a 0-d tensor, as NumPy: the result has one axis
        normalize_axis(axis, 1, op)
        x, ax = reshape(x, (1,)), 0
    else:
        try:
            ax = normalize_axis(axis, x.ndim, op)
        except IndexOutOfRangeError as exc:
            raise IndexOutOfRangeError(f"{exc} ({_TILE_HINT})") from None
    n = x.shape[ax]
    counts = _repeat_counts(repeats, n, op)
    xp = x._backend.xp
    if isinstance(counts, int):
        data = xp.repeat(x._data, counts, axis=ax)
        return record("repeat", data, x._backend, (x,), (_repeat_vjp,), (x.shape, ax, counts))
    # one count per element: gather along the axis; the gradient is the scatter-add of the gather
    index = x._backend.asarray(np.repeat(np.arange(n, dtype=np.int64), counts))
    full = (slice(None),) * ax + (index,)
    from gradkit.ops.indexing import _getitem_vjp

    return record("repeat", x._data[full], x._backend, (x,), (_getitem_vjp,), (x.shape, full))


_TILE_HINT = "this is NumPy's repeat, of elements; PyTorch's Tensor.repeat(*sizes), which tiles, is gk.tile"


def _repeat_counts(repeats: Any, n: int, op: str) -> int | np.ndarray:
    """``repeats`` as one int, or as a NumPy array of ``n`` non-negative counts."""
    if isinstance(repeats, (int, float, np.integer, np.floating)) and not isinstance(repeats, (bool, np.bool_)):
        return _count_arg(repeats, op, "repeats")
    if isinstance(repeats, Tensor) or hasattr(repeats, "__cuda_array_interface__"):
        repeats = repeats.tolist()  # the counts decide the shape: read on the host
    try:
        counts = np.asarray(repeats)
    except ValueError:
        raise ShapeError(f"{op}: repeats {repeats!r:.60} is ragged") from None
    if counts.dtype.kind not in "iu" and not (counts.dtype.kind == "f" and counts.size == 0):
        raise ArgumentTypeError(f"{op}: repeats must be an int or a sequence of ints, got {repeats!r:.60}")
    if counts.ndim > 1:
        raise ShapeError(f"{op}: repeats must be an int or a 1-d sequence, got shape {counts.shape}")
    if counts.size == 1:
        return _count_arg(int(counts.reshape(())), op, "repeats")
    if counts.size != n:
        raise ShapeError(
            f"{op}: {counts.size} repeats for an axis of length {n}; give one count per element or a single int "
            f"({_TILE_HINT})"
        )
    if (counts < 0).any():
        raise InvalidArgumentError(f"{op}: repeats must be non-negative, got {repeats!r:.60}")
    return counts.astype(np.int64)


def _repeat_vjp(g: Tensor, shape: tuple, ax: int, count: int) -> Tensor:
    from gradkit.ops.reduce import sum as sum_

    split = shape[:ax] + (shape[ax], count) + shape[ax + 1 :]
    return sum_(reshape(g, split), axis=ax + 1)


def roll(x: Any, shift: Any = NOT_GIVEN, axis: Any = None, *, shifts: Any = NOT_GIVEN, dims: Any = NOT_GIVEN) -> Tensor:
    """NumPy's ``roll``: elements shifted along ``axis`` (the flattened tensor when None), wrapping
    around; ``shift`` and ``axis`` may be tuples (broadcast together, shifts of a repeated axis add up).
    The gradient is rolled back. PyTorch's ``shifts=`` and ``dims=`` name ``shift`` and ``axis``."""
    if shift is NOT_GIVEN or shifts is not NOT_GIVEN or dims is not NOT_GIVEN:
        shift = renamed("roll", shift, NOT_GIVEN, shifts, "shift", "shifts")
        axis = renamed("roll", axis, None, dims, "axis", "dims")
        if shift is NOT_GIVEN:
            raise ArgumentTypeError("roll: missing the shift (shift= or shifts=)")
    x = as_tensor(x, "roll")
    shifts = _int_list(shift, "roll", "shift")
    if axis is None:
        flat = x if x.ndim == 1 else reshape(x, (-1,))
        return reshape(roll(flat, [sum(shifts)], 0), x.shape)
    axes = [_axis(a, x.ndim, "roll") for a in _axis_seq(axis)]
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ShapeError(f"roll: shift {shift!r:.40} and axis {axis!r:.40} do not broadcast together")
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    total: dict[int, int] = {}
    for s, a in zip(shifts, axes, strict=True):
        total[a] = total.get(a, 0) + s
    moves = {a: s % x.shape[a] for a, s in total.items() if x.shape[a] and s % x.shape[a]}
    if not moves:
        data = x._data.copy()  # a new array, as NumPy's roll
    else:
        data = x._backend.xp.roll(x._data, tuple(moves.values()), axis=tuple(moves))
    back = {a: -s for a, s in moves.items()}
    return record("roll", data, x._backend, (x,), (_roll_vjp,), (back,))


def _roll_vjp(g: Tensor, back: dict) -> Tensor:
    if not back:
        return g
    return roll(g, list(back.values()), list(back))


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """NumPy's ``moveaxis``: the axes ``source`` moved to the positions ``destination`` (ints or
    sequences of the same length), the others kept in order. A view, as ``transpose``."""
    x = as_tensor(x, "moveaxis")
    src = [_axis(a, x.ndim, "moveaxis") for a in _axis_seq(source)]
    dst = [_axis(a, x.ndim, "moveaxis") for a in _axis_seq(destination)]
    for name, axes in (("source", src), ("destination", dst)):
        if len(set(axes)) != len(axes):
            raise InvalidArgumentError(f"moveaxis: repeated axis in {name} {axes}")
    if len(src) != len(dst):
        raise ShapeError(
            f"moveaxis: source {source!r:.40} and destination {destination!r:.40} must have the same number of axes"
        )
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(x, order)


def _axis_seq(value: Any) -> list:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _axis(axis: Any, ndim: int, op: str) -> int:
    """``normalize_axis`` for an op that works along an existing axis: a 0-d tensor has none."""
    if ndim == 0:
        normalize_axis(axis, 0, op)  # the type check first
        raise IndexOutOfRangeError(f"{op}: axis {axis} is out of range for a 0-d tensor")
    return normalize_axis(axis, ndim, op)


def diagonal(
    x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, *, dim1: Any = NOT_GIVEN, dim2: Any = NOT_GIVEN
) -> Tensor:
    """NumPy's ``diagonal``: the elements ``x[..., i, i + offset]`` of axes ``axis1`` and ``axis2``,
    as the last axis of the result (the other axes first, in order). PyTorch's ``dim1=``/``dim2=``
    name ``axis1``/``axis2``.

    The result is a view, as PyTorch's: a writable one (NumPy's is read-only), on x's memory and
    version counter, so that a change through it reaches x (``K.diagonal().add_(eps)`` under
    ``gk.no_grad()``) and, in the graph, is recorded as a change of x. The gradient is the output
    gradient put back on the diagonal.
    """
    if dim1 is not NOT_GIVEN:
        axis1 = renamed("diagonal", axis1, 0, dim1, "axis1", "dim1")
    if dim2 is not NOT_GIVEN:
        axis2 = renamed("diagonal", axis2, 1, dim2, "axis2", "dim2")
    return _diagonal(x, offset, axis1, axis2, "diagonal")


def _diagonal(x: Any, offset: Any, axis1: Any, axis2: Any, op: str, copy: bool = False) -> Tensor:
    """The diagonal as a view of x (``copy``: as a new tensor, as ``diag`` of a matrix is in PyTorch)."""
    x = as_tensor(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of at least 2 dimensions, got shape {x.shape}")
    k = whole(offset, op, "offset")
    a1, a2 = normalize_axis(axis1, x.ndim, op), normalize_axis(axis2, x.ndim, op)
    if a1 == a2:
        raise InvalidArgumentError(f"{op}: axis1 and axis2 must differ, got {axis1} and {axis2}")
    xp = x._backend.xp
    data = _diagonal_view(x._data, k, a1, a2, xp)
    if copy:
        data = xp.array(data, copy=True)
    # the VJP puts g back on the diagonal
    out = record("diagonal", data, x._backend, (x,), (_diagonal_embed,), (x.shape, k, a1, a2))
    if not copy:  # a view, also when empty (share_version would not see one): y.diagonal(9).mul_(w) reaches w
        out._version = x._version
        note_view(x, out)
    return out


def _diagonal_view(a: Any, k: int, a1: int, a2: int, xp: Any) -> Any:
    """``xp.diagonal(a, k, a1, a2)`` as a view that is writable where ``a`` is: einsum's ``...ii->...i`` of the
    square block the diagonal crosses, with a1, a2 moved last (NumPy's diagonal is a read-only view; CuPy's
    einsum, as NumPy's, returns a writable view for a single operand without a sum)."""
    n1, n2 = a.shape[a1], a.shape[a2]
    r0, c0 = max(-k, 0), max(k, 0)
    length = max(0, min(n1 - r0, n2 - c0))
    if r0 or c0 or length != n1 or length != n2:
        idx = [slice(None)] * a.ndim
        idx[a1], idx[a2] = slice(r0, r0 + length), slice(c0, c0 + length)
        a = a[tuple(idx)]
    if a1 != a.ndim - 2 or a2 != a.ndim - 1:
        a = a.transpose([i for i in range(a.ndim) if i != a1 and i != a2] + [a1, a2])
    return xp.einsum("...ii->...i", a)


def _diagonal_embed(g: Tensor, shape: tuple, k: int, a1: int, a2: int) -> Tensor:
    """A zero tensor of ``shape`` with ``g``'s last axis on the diagonal that ``diagonal(., k, a1, a2)`` reads."""
    xp = g._backend.xp
    rest = [d for i, d in enumerate(shape) if i not in (a1, a2)]
    data = xp.zeros(tuple(rest) + (shape[a1], shape[a2]), dtype=g.dtype)
    length = g.shape[-1]
    rows = xp.arange(length) + max(-k, 0)
    cols = xp.arange(length) + max(k, 0)
    data[..., rows, cols] = g._data
    data = xp.moveaxis(data, (-2, -1), (a1, a2))
    return record("diagonal_embed", data, g._backend, (g,), (_diagonal_embed_vjp,), (k, a1, a2))


def _diagonal_embed_vjp(g: Tensor, k: int, a1: int, a2: int) -> Tensor:
    # a copy: a view would make a vector's .grad a strided window on the whole (n, n) gradient (keeping it
    # alive, and registered as a view of it), where PyTorch's is a dense tensor of its own
    return _diagonal(g, k, a1, a2, "diagonal", copy=True)


def diag(x: Any, k: int = 0) -> Tensor:
    """NumPy's ``diag``: a 1-d ``x`` as the ``k``-th diagonal of a square matrix, or the ``k``-th
    diagonal of a 2-d ``x`` (a new tensor, not a view: as PyTorch's ``diag``, unlike :func:`diagonal`)."""
    x = as_tensor(x, "diag")
    k = whole(k, "diag", "k")
    if x.ndim == 2:
        return _diagonal(x, k, 0, 1, "diag", copy=True)
    if x.ndim != 1:
        raise ShapeError(f"diag: expected a 1-d or 2-d tensor, got shape {x.shape}")
    data = x._backend.xp.diag(x._data, k)
    return record("diag", data, x._backend, (x,), (_diag_vjp,), (k,))


def _diag_vjp(g: Tensor, k: int) -> Tensor:
    return _diagonal(g, k, 0, 1, "diag", copy=True)  # (a copy: see _diagonal_embed_vjp)


def diff(
    x: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None, *, dim: Any = NOT_GIVEN
) -> Tensor:
    """NumPy's ``diff``: the ``n``-th differences ``x[i+1] - x[i]`` along ``axis``; ``prepend`` and
    ``append`` (numbers or tensors) are joined to ``x`` first. Bools give ``!=``, as NumPy. A Python
    number there keeps x's dtype (float32 stays float32; NumPy would make it float64).

    The gradient is the adjoint difference, ``g[i-1] - g[i]``, applied ``n`` times. PyTorch's ``dim=``
    names ``axis``.
    """
    if dim is not NOT_GIVEN:
        axis = renamed("diff", axis, -1, dim, "axis", "dim")
    x = as_tensor(x, "diff")
    n = whole(n, "diff", "n")
    if n < 0:
        raise InvalidArgumentError(f"diff: n (the order) must be non-negative, got {n}")
    if x.ndim == 0:
        raise ShapeError("diff: needs a tensor of at least 1 dimension, got a 0-d tensor")
    ax = normalize_axis(axis, x.ndim, "diff")
    if prepend is not None or append is not None:
        parts = []
        for value in (prepend, x, append):
            if value is None:
                continue
            if isinstance(value, (int, float)):  # a Python number takes x's dtype where it fits (weak, as elsewhere)
                try:
                    value = np.asarray(value, dtype=np.result_type(x.dtype, value))
                except OverflowError:  # an int beyond x's integer dtype: as `t + 1000` on an int8 tensor
                    raise out_of_range("diff", value, x.dtype) from None
            t = as_tensor(value, "diff", x._backend)
            if t.ndim == 0:
                t = broadcast_to(t, x.shape[:ax] + (1,) + x.shape[ax + 1 :])
            parts.append(t)
        try:
            x = concatenate(parts, axis=ax)
        except ShapeError:
            raise ShapeError(
                f"diff: prepend/append of shapes {[p.shape for p in parts]} do not fit a tensor of shape {x.shape} "
                f"along axis {ax}"
            ) from None
    if n == 0:
        return x
    data = x._backend.xp.diff(x._data, n, ax)
    # differences of an empty axis are empty: only the first min(n, length) shorten it
    return record("diff", data, x._backend, (x,), (_diff_vjp,), (min(n, x.shape[ax]), ax))


def _diff_vjp(g: Tensor, n: int, ax: int) -> Tensor:
    from gradkit.ops.elementwise import negative

    widths = [(0, 0)] * g.ndim
    widths[ax] = (1, 1)
    for _ in range(n):  # (D^T g)[j] = g[j-1] - g[j], zero outside
        g = negative(diff(pad(g, widths), 1, ax))
    return g


def meshgrid(*xs: Any, indexing: str = "xy", sparse: bool = False, copy: bool = True) -> tuple[Tensor, ...]:
    """NumPy's ``meshgrid``: coordinate tensors from 1-d coordinate vectors (others are flattened).

    ``indexing="xy"`` (NumPy's default; PyTorch's is "ij") swaps the first two axes of the result.
    ``sparse=True`` gives tensors of length 1 along all but their own axis; ``copy=False`` gives
    broadcast views (read-only) instead of new tensors. A tuple, as NumPy 2.
    """
    text(indexing, "meshgrid", "indexing")
    if indexing not in ("xy", "ij"):
        raise InvalidArgumentError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    sparse, copy = flag(sparse, "meshgrid", "sparse"), flag(copy, "meshgrid", "copy")
    if not xs:
        return ()
    ts = _tensor_list(list(xs), "meshgrid", same_ndim=False)
    ndim = len(ts)
    lengths = [t.size for t in ts]
    if indexing == "xy" and ndim > 1:
        lengths[0], lengths[1] = lengths[1], lengths[0]
    out = []
    for i, t in enumerate(ts):
        position = (1 - i if i < 2 else i) if indexing == "xy" and ndim > 1 else i
        shape = [1] * ndim
        shape[position] = -1
        v = reshape(t, tuple(shape))
        if not sparse:
            v = broadcast_to(v, tuple(lengths))
        if copy:
            v = clone(v)
        out.append(v)
    return tuple(out)


def atleast_1d(*xs: Any) -> Any:
    """NumPy's ``atleast_1d``: 0-d tensors as shape (1,), others unchanged; one tensor, or a tuple of them."""
    return _atleast(xs, 1, "atleast_1d")


def atleast_2d(*xs: Any) -> Any:
    """NumPy's ``atleast_2d``: 0-d as (1, 1), 1-d (N,) as (1, N), others unchanged."""
    return _atleast(xs, 2, "atleast_2d")


def atleast_3d(*xs: Any) -> Any:
    """NumPy's ``atleast_3d``: 0-d as (1, 1, 1), (N,) as (1, N, 1), (M, N) as (M, N, 1), others unchanged."""
    return _atleast(xs, 3, "atleast_3d")


def _atleast(xs: tuple, ndim: int, op: str) -> Any:
    if not xs:
        raise ArgumentTypeError(f"{op}: needs at least one tensor")
    first = next((t for t in xs if isinstance(t, Tensor)), None)
    out = []
    for value in xs:
        t = as_tensor(value, op, first._backend if first is not None else None)
        if t.ndim < ndim:
            s = t.shape
            if ndim == 1:
                new = (1,)
            elif ndim == 2:
                new = (1,) + s if t.ndim == 1 else (1, 1)
            else:
                new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[t.ndim]
            t = reshape(t, new)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


# ------------------------------------------------------------------- PyTorch's spellings
def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``chunk``: ``x`` split along ``dim`` into pieces of ``ceil(n / chunks)`` (the last may be
    shorter, and there may be fewer than ``chunks``); an axis of length 0 gives ``chunks`` empty pieces."""
    x = as_tensor(x, "chunk")
    chunks = whole(chunks, "chunk", "chunks")
    if chunks <= 0:
        raise InvalidArgumentError(f"chunk: chunks must be greater than 0, got {chunks}")
    if x.ndim == 0:
        raise ShapeError("chunk: a 0-d tensor has no axis to split")
    ax = normalize_axis(dim, x.ndim, "chunk")
    n = x.shape[ax]
    if n == 0:
        return tuple(split(x, [0] * (chunks - 1), axis=ax))
    size = -(-n // chunks)
    return tuple(split(x, list(range(size, n, size)), axis=ax))


def unbind(x: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``unbind``: the slices of ``x`` along ``dim``, that axis removed, as a tuple."""
    from gradkit.ops.indexing import getitem

    x = as_tensor(x, "unbind")
    if x.ndim == 0:
        raise ShapeError("unbind: a 0-d tensor has no axis to unbind")
    ax = normalize_axis(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * ax + (i,), "unbind") for i in range(x.shape[ax]))
