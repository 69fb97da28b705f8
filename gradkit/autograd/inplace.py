"""In-place operations on tensors in the graph, recorded as PyTorch records them.

``h.relu_()``, ``out.index_add_(0, dst, msg)`` with ``msg`` requiring grad, ``x[mask] = y``: the tensor's
memory is overwritten, and its history becomes that of the new values, computed out of place from the old
ones (``rebase``). Nodes that saved the old values notice at backward: the version counter bumps.

A view shares its base's memory, so an in-place change through either changes both; the engine has to
rewrite the history of every tensor on that memory. Views register with their base (``note_view``: the
base keeps weak references to its views, a view a strong one to its base); ``rebase`` then records the base
as the old base with the new values written at the view's places, and gives every other live view of it
the history of its own places in the new base (a view sharing no element with what was written keeps its
history, which is still right). Places are found from memory addresses, so any chain of
basic indexing, reshapes, transposes and flips works.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.errors import AutogradError, DTypeError, ShapeError
from gradkit.tensor import Tensor

_make = Tensor._make

#: A base prunes the dead weak references to its views when it holds more than this many.
_PRUNE_AT = 16


def note_view(base: Tensor, view: Tensor) -> None:
    """Record that ``view`` lies on ``base``'s memory (it already shares base's version counter)."""
    root = base.__dict__.get("_base")
    if root is None:
        root = base
    view._base = root
    views = root.__dict__.get("_views")
    if views is None:
        root._views = [weakref.ref(view)]
        return
    views.append(weakref.ref(view))
    if len(views) > _PRUNE_AT and len(views) >= 2 * root.__dict__.get("_views_live", 0):  # amortised: O(1) a view
        views[:] = [r for r in views if r() is not None]
        root._views_live = len(views)


def _live_views(root: Tensor) -> list[Tensor]:
    views = root.__dict__.get("_views")
    if not views:
        return []
    views[:] = [r for r in views if r() is not None]
    return [v for v in (r() for r in views) if v is not None]


def rebase(self: Tensor, op: str, compute: Callable[[Tensor], Any], keeps_old: bool) -> Tensor:
    """Write ``compute(old)`` into ``self`` and give it that result's history; returns self.

    ``old`` is ``self`` as it was (its history, on its memory or, with ``keeps_old``, on a copy: needed
    when the op's backward reads the old values, as ``mul_``'s does for the other operand's gradient).
    """
    root, places = _checked(self, op)
    old = _make(self._data.copy(), self._backend, self._grad_fn) if keeps_old else _old(self)
    new = compute(old)
    if not isinstance(new, Tensor):
        new = _make(self._backend.xp.asarray(new, dtype=self._data.dtype), self._backend)
    new = _fitted(self, new, op)
    if new._requires_grad and new._grad_fn is None:  # an operand itself (copy_ of a leaf): a node of its own
        from gradkit.ops.shape import alias

        new = alias(new, op)
    if old._requires_grad and not new._requires_grad:  # fill_, zero_, copy_ of a constant: a zero gradient
        new = record(op, new._data, self._backend, (old,), (_zero_rule,))
    self._backend.xp.copyto(self._data, new._data, casting="unsafe")  # _fitted checked the cast
    _adopt(self, new, root, places)
    return self


def write_at(self: Tensor, op: str, idx: tuple, value: Any) -> None:
    """``self[idx] = value`` (``idx`` normalized) recorded: the write happens where it is, and self's new history
    is its old one with ``value`` at ``idx`` (no copy of self: a loop writing rows costs what the rows cost)."""
    root, places = _checked(self, op)
    src = value if isinstance(value, Tensor) else None
    if src is not None and src._requires_grad and self._data.dtype.kind != "f":
        raise DTypeError(f"{op}: a value that requires grad cannot be written into a {self.dtype} tensor "
                         "(only a float tensor can take its gradient)")
    old = _old(self)
    try:
        self._data[idx] = src._data if src is not None else value
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"{op}: cannot write a value of shape {getattr(value, 'shape', ())} to the selection "
                         f"of a tensor of shape {self.shape} ({exc})") from None
    except TypeError as exc:
        raise DTypeError(f"{op}: cannot write {type(value).__name__} into a {self.dtype} tensor ({exc})") from None
    _adopt(self, _written_node(op, old, idx, src), root, places)


def reshaped(self: Tensor, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """PyTorch's in-place shape changes (``t_``, ``squeeze_``, ...) on a tensor in the graph: self becomes
    ``compute(old)``, a view of its own memory in a new shape, with that view's history; returns self."""
    _checked(self, op)
    new = compute(_old(self))
    self._data = new._data
    self._version[0] += 1
    _take_history(self, new)
    return self


def _checked(self: Tensor, op: str) -> tuple:
    """Refuse what cannot be recorded; returns self's root (None if self is no view) and self's places in it,
    found before anything is written."""
    root = self.__dict__.get("_base")
    for t, what in ((self, "a leaf tensor"), (root, "a view of a leaf tensor")):
        if t is not None and t._grad_fn is None and t._requires_grad:
            raise AutogradError(
                f"in-place {op} on {what} that requires grad would break autograd; use an out-of-place "
                "operation, or do it inside gk.no_grad() (as for an initialisation or an optimiser step)"
            )
    if root is not None and root._requires_grad and not self._requires_grad:
        raise AutogradError(  # its old values would count as constants: the base's gradient would be lost
            f"in-place {op} on a view made under gk.no_grad() (or of a tensor that did not require grad then) of "
            "a tensor in the graph; make the view with grad mode on, or change a .clone() of it"
        )
    return root, (None if root is None else _places(self, root, op))


def _adopt(self: Tensor, new: Tensor, root: Tensor | None, places: Any) -> None:
    """After the write: self takes ``new``'s history; its root (written through self) and every other live view
    of that root take theirs."""
    self._version[0] += 1
    views = _live_views(root if root is not None else self)
    _take_history(self, new)
    if root is None:
        new_root, root = new, self
    else:
        new_root = _written_node("copy_slices", _old(root), places, new)
        _take_history(root, new_root)
    for v in views:  # a view that shares no element with what was written keeps its (still right) history
        if v is not self and (self is root or _overlaps(v._data, self._data, root._backend.xp)):
            _take_places(v, root, new_root)


def _old(t: Tensor) -> Tensor:
    """``t`` as it is now, for the node of a change about to be written into its memory: its history, on its
    memory and version counter (a node that saves it is refused at backward, not silently wrong)."""
    old = _make(t._data, t._backend, t._grad_fn)
    old._version = t._version
    return old


def _written_node(name: str, old: Tensor, idx: Any, src: Tensor | None) -> Tensor:
    """The node of ``old`` with ``src`` written at ``idx`` (on old's memory, where the values already are):
    old's gradient is 0 there, src's is the gradient of its places."""
    from gradkit.ops.tensor_methods_misc import _write_vjp_src, _write_vjp_x

    return record(name, old._data, old._backend, (old, src), (_write_vjp_x, _write_vjp_src), (idx, old.shape),
                  broadcast=True)


def _fitted(self: Tensor, new: Tensor, op: str) -> Tensor:
    """``new`` checked against self's shape, and cast (recorded) to self's dtype as PyTorch's in-place ops
    cast: an integer result into any integer tensor, else NumPy's same_kind."""
    if new.shape != self.shape:
        raise ShapeError(f"in-place {op}: the result's shape {new.shape} (broadcast from self and the operands) "
                         f"is not self's shape {self.shape}")
    src, dst = new._data.dtype, self._data.dtype
    if src == dst:
        return new
    if not (src.kind in "iu" and dst.kind in "iu") and not np.can_cast(src, dst, casting="same_kind"):
        raise DTypeError(f"in-place {op}: a {new.dtype} result cannot be stored in a {self.dtype} tensor; "
                         "convert it first (e.g. t = t.float())")
    from gradkit.ops.shape import astype

    return astype(new, dst)


def _zero_rule(g: Tensor) -> Tensor:
    return _make(g._backend.xp.zeros_like(g._data), g._backend)


def _overlaps(a: Any, b: Any, xp: Any) -> bool:
    """Whether the arrays ``a`` and ``b`` (on one memory) have an element in common."""
    if not xp.may_share_memory(a, b):  # their bounds do not even overlap: rows of a matrix, unbind's pieces
        return False
    where_a = _addresses(a, xp) + (_pointer(a) - _pointer(b))
    return bool(xp.isin(where_a, _addresses(b, xp)).any())


def _take_places(view: Tensor, root: Tensor, new_root: Tensor) -> None:
    """Give a live view of ``root`` the history of its places in the new root."""
    from gradkit.ops.indexing import getitem

    if not new_root._requires_grad:
        return
    _take_history(view, getitem(new_root, _places(view, root, "in-place")))


def _take_history(t: Tensor, new: Tensor) -> None:
    """``t`` takes ``new``'s history; a ``retain_grad()`` of t moves to it (PyTorch's .grad of the new values)."""
    before = t._grad_fn
    t._grad_fn, t._requires_grad = new._grad_fn, new._requires_grad
    if before is not None and before.retained is not None and before.retained() is t:
        if t._grad_fn is not None:
            t._grad_fn.retained = before.retained
        before.retained = None


def _places(view: Tensor, root: Tensor, op: str) -> tuple:
    """The index (a tuple of integer arrays, view-shaped) of each of ``view``'s elements in ``root``."""
    xp = root._backend.xp
    a, b = view._data, root._data
    size = b.dtype.itemsize
    flat_view = _addresses(a, xp) + (_pointer(a) - _pointer(b))
    if b.flags.c_contiguous:  # a view's elements lie in the root's memory: no check (nor a device sync)
        pos = flat_view // size
    else:  # search the root's element addresses
        flat_root = _addresses(b, xp).ravel()
        order = xp.argsort(flat_root, kind="stable")
        sorted_addr = flat_root[order]
        at = xp.clip(xp.searchsorted(sorted_addr, flat_view), 0, max(sorted_addr.size - 1, 0))
        if flat_view.size and (sorted_addr.size == 0 or not bool((sorted_addr[at] == flat_view).all())):
            raise AutogradError(f"in-place {op}: cannot find a view's elements in the tensor it views; "
                                "use an out-of-place operation")
        pos = order[at]
    return xp.unravel_index(pos, b.shape) if b.ndim else ()


def _addresses(a: Any, xp: Any) -> Any:
    """Each element's byte offset from the array's first element, in the array's shape (int64)."""
    out = xp.zeros(a.shape, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(a.shape, a.strides, strict=True)):
        shape = [1] * a.ndim
        shape[axis] = n
        out = out + (xp.arange(n, dtype=np.int64) * stride).reshape(shape)
    return out


def _pointer(a: Any) -> int:
    ptr = getattr(a.data, "ptr", None)  # CuPy's MemoryPointer
    return ptr if ptr is not None else a.__array_interface__["data"][0]
