"""``record``: the one place where an operation's output joins the graph."""

from __future__ import annotations

from typing import Any

from gradkit.autograd.grad_mode import state as _mode
from gradkit.autograd.node import Node
from gradkit.backends.base import Backend
from gradkit.tensor import Tensor

_make = Tensor._make

# Set by gk.trace while it runs: called as observer(node, output_tensor).
observer: Any = None


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
    versions = [(s._version, s._version[0]) for s in saved if isinstance(s, Tensor)]
    if save_output:
        node.out = data
        versions.append((out._version, 0))
    if versions:
        node.versions = versions
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
