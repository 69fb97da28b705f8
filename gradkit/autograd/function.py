"""``record``: the one place where an operation's output joins the graph."""

from __future__ import annotations

from typing import Any

from gradkit.autograd import grad_mode
from gradkit.autograd.node import Node
from gradkit.backends.base import Backend

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
) -> Any:
    """Wrap ``data`` (the forward result) as a Tensor and record its node.

    ``inputs`` are the operation's tensor inputs (None for a constant),
    ``rules`` their VJP rules in the same order, ``saved`` the values the
    rules receive after the gradient; with ``save_output`` the rules also
    receive the result itself, last. With ``broadcast`` the engine sums each input's gradient back to
    that input's shape and dtype. Nothing is recorded in ``no_grad`` mode or
    when no input requires grad.
    """
    from gradkit.tensor import Tensor

    out = Tensor._make(data, backend)
    if not grad_mode.state.enabled:
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
        node.versions = tuple(versions)
    if broadcast:
        shape, dtype = data.shape, data.dtype
        fix = [
            (t._data.shape, t._data.dtype)
            if t is not None and (t._data.shape != shape or t._data.dtype != dtype)
            else None
            for t in inputs
        ]
        if any(f is not None for f in fix):
            node.fixups = tuple(fix)
    if info is not None:
        node.info = info
    out._requires_grad = True
    out._grad_fn = node
    if observer is not None:
        observer(node, out)
    return out
