"""``record``: the one place where an operation's output joins the graph. Also ``once_differentiable``, for
custom Functions (PyTorch's ``torch.autograd.function.once_differentiable``, at the same place)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from gradkit.autograd.grad_mode import state as _mode
from gradkit.autograd.node import KEEP, METADATA, Node, saves_nothing
from gradkit.backends.base import Backend
from gradkit.errors import AutogradError
from gradkit.tensor import Tensor

_make = Tensor._make

# Every node made for a recorded operation is passed to ``observer(node, out)`` when it is not None: ``out``
# is the tensor the node makes, or None for the nodes of a multi-output call (its shared node and each
# output's selector node). It is None while nothing observes (the hot path's one check), otherwise the one
# observer or a dispatcher to all of them. Add and remove observers with add_observer/remove_observer only.
observer: Any = None
_observers: tuple = ()  # in the order they were added
_observers_lock = threading.Lock()


def add_observer(fn: Callable[[Node, Tensor | None], None]) -> None:
    """Call ``fn(node, out)`` for every node recorded from now on (gk.trace, anomaly mode, checkpoint)."""
    global _observers
    with _observers_lock:
        _observers = (*_observers, fn)
        _install()


def remove_observer(fn: Callable[[Node, Tensor | None], None]) -> None:
    """Stop calling ``fn`` (found by identity; nothing happens if it is not installed)."""
    global _observers
    with _observers_lock:
        for i, o in enumerate(_observers):
            if o is fn:
                _observers = _observers[:i] + _observers[i + 1:]
                break
        _install()


def _install() -> None:
    global observer
    observers = _observers
    if not observers:
        observer = None
    elif len(observers) == 1:
        observer = observers[0]
    else:
        def dispatch(node: Node, out: Tensor | None) -> None:
            for fn in observers:
                fn(node, out)

        observer = dispatch


def observe(node: Node, out: Tensor | None = None) -> None:
    """Pass a node made outside ``record`` to the observers, if any."""
    if observer is not None:
        observer(node, out)


def record(
    name: str,
    data: Any,
    backend: Backend,
    inputs: tuple,
    rules: tuple,
    saved: tuple = (),
    broadcast: bool = False,
    save_output: bool = False,
    info: Any = None,
) -> Tensor:
    """Wrap ``data`` (the forward result) as a Tensor and record its node.

    ``inputs`` are the operation's tensor inputs (None for a constant),
    ``rules`` their VJP rules in the same order, ``saved`` the values the
    rules receive after the gradient; with ``save_output`` the rules also
    receive the result itself, last. With ``broadcast`` the engine sums each
    input's gradient back to that input's shape and casts it to its dtype.
    Nothing is recorded in ``no_grad`` mode or when no input requires grad.
    """
    out = _make(data, backend)
    if not _mode.enabled:
        return out
    next_ = []
    needed = False
    for t in inputs:
        if t is not None and t._requires_grad:
            next_.append(t._grad_fn or t)
            needed = True
        else:
            next_.append(None)
    if not needed:
        return out
    node = Node(name, rules, tuple(next_), saved)
    versions = None  # of the saved tensors
    keep = True  # whether it saved nothing worth releasing after backward (only shapes, numbers: KEEP)
    for s in saved:
        if isinstance(s, Tensor):
            if versions is None:
                versions = [(s._version, s._version[0])]
            else:
                versions.append((s._version, s._version[0]))
        elif keep and versions is None and type(s) not in METADATA:  # (keep only matters without versions)
            if type(s) is tuple:  # a shape, axes, an index: looked at here, without a call in the common case
                for e in s:
                    if type(e) not in METADATA:
                        keep = saves_nothing(s)
                        break
            else:
                keep = type(s) is not backend.array_type and saves_nothing((s,))
    if save_output:
        node.out = data
        if versions is None:
            versions = [(out._version, 0)]
        else:
            versions.append((out._version, 0))
    if versions is not None:
        node.versions = versions
    elif keep and saved:  # (a node that saved nothing at all is kept without the mark)
        node.versions = KEEP
    if broadcast:
        node.fixups = fixups(inputs, data)
    if info is not None:
        node.info = info
    out._requires_grad = True
    out._grad_fn = node
    if observer is not None:
        observer(node, out)
    return out


def fixups(inputs: tuple, data: Any) -> tuple | None:
    """Per input, the (shape, dtype) its gradient must be brought back to, or None if all fit."""
    shape, dtype = data.shape, data.dtype
    fix = None
    for i, t in enumerate(inputs):
        if t is None or not t._requires_grad:
            continue
        d = t._data
        if d.shape != shape or (d.dtype is not dtype and d.dtype != dtype):
            if fix is None:
                fix = [None] * len(inputs)
            fix[i] = (d.shape, d.dtype)
    return fix


# ------------------------------------------------------------------ slopes of piecewise-linear functions
# relu, leaky_relu, clip, abs and friends multiply the incoming gradient by a slope that is piecewise
# constant in their input (a 0/1 mask, a factor). In a recorded backward (create_graph) that slope is tied
# to the input by a node whose derivative is zero, as PyTorch's backward nodes keep their input: a second
# differentiation then reaches what lies before the relu with zeros instead of not at all (a gradient
# penalty's gradient for a bias before a ReLU is zero, not "unused").


def anchor_of(x: Tensor) -> tuple:
    """What a piecewise rule saves to tie its slope to ``x``: x's node (or x itself, a leaf) in a tuple (not a
    Tensor: no version check, no array kept alive)."""
    return (x._grad_fn or x,)


def _zeros_of(g: Tensor, *saved: Any) -> Tensor:
    return _make(g._backend.xp.zeros_like(g._data), g._backend)


def _tied(name: str, data: Any, g: Tensor, rules: tuple, edges: tuple, saved: tuple) -> Tensor:
    """``data`` as the output of a new node of the recorded backward (``record`` without its checks: an edge to
    the anchored tensor is kept even when nothing else needs a gradient)."""
    out = _make(data, g._backend)
    node = Node(name, rules, edges, saved)
    out._requires_grad = True
    out._grad_fn = node
    if observer is not None:
        observer(node, out)
    return out


def tied_slope(g: Tensor, slope: Any, anchor: tuple) -> Tensor:
    """``slope`` (a raw array of the anchored tensor's shape) as a tensor of the recorded backward whose
    derivative to the anchored tensor is zero; for rules running with grad mode on only."""
    data = slope.astype(g.dtype, copy=False) if slope.dtype != g.dtype else slope
    return _tied("piecewise_slope", data, g, (_zeros_of,), anchor, ())


def tied_record(name: str, data: Any, g: Tensor, rule: Callable, saved: tuple, anchor: tuple) -> Tensor:
    """``record(name, data, g._backend, (g,), (rule,), saved)`` with the anchored tensor as one more input whose
    derivative is zero: for a rule linear in ``g`` whose routing is piecewise constant in its op's input (max
    pooling's scatter to each window's maximum); ``data`` has the anchored tensor's shape. It records a node even
    when ``g`` needs no gradient, as PyTorch's backward node keeps the input; for rules running with grad mode on
    only."""
    edge = (g._grad_fn or g) if g._requires_grad else None
    return _tied(name, data, g, (rule, _zeros_of), (edge, *anchor), saved)


# ------------------------------------------------------------------ custom Functions
def once_differentiable(backward: Callable) -> Callable:
    """PyTorch's ``torch.autograd.function.once_differentiable``: decorates the ``backward`` of a
    ``gk.autograd.Function`` that is not differentiable itself (written on raw arrays, say).

    It runs with recording off, also under ``create_graph=True``. When a gradient it receives requires grad
    (a recorded backward pass whose result may be differentiated again), each Tensor it returns is put in
    the graph behind a node that raises ``AutogradError`` when a later backward pass reaches it, so that a
    second derivative fails loudly instead of being silently zero; as in PyTorch.
    """

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        prev = _mode.enabled
        _mode.enabled = False
        try:
            result = backward(ctx, *grads)
        finally:
            _mode.enabled = prev
        if not prev or not any(isinstance(g, Tensor) and g._requires_grad for g in grads):
            return result
        name = f"{getattr(ctx, '_name', 'Function')}.backward"
        if type(result) is tuple or type(result) is list:
            return type(result)(_refusing(g, name) for g in result)
        return _refusing(result, name)

    return wrapper


def _refusing(g: Any, name: str) -> Any:
    """``g`` behind a node whose rule raises: differentiating it again is refused (see once_differentiable)."""
    if not isinstance(g, Tensor):
        return g
    stand_in = _make(g._data, g._backend)  # an edge for the node: a leaf that needs a gradient
    stand_in._requires_grad = True
    out = record("once_differentiable", g._data, g._backend, (stand_in,), (_Refuse(name),))
    out._version = g._version
    return out


class _Refuse:
    """The rule of ``_refusing``'s node."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, grad: Tensor) -> Tensor:
        raise AutogradError(
            f"trying to differentiate twice: {self.name} is marked @once_differentiable, so its gradients "
            "cannot be differentiated again (a backward pass with create_graph=True reached them); write it "
            "with gradkit operations on saved tensors, without the decorator, to get second derivatives"
        )
