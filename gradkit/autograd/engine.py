"""The backward pass: reverse topological order, without recursion.

Gradients flow from the roots along ``Node.next`` edges. A node runs once
all of its consumers have sent their contribution (dependency counting, as
in Kahn's algorithm), so a value used several times receives the sum of its
gradients before its own rules run. Leaf gradients are summed over the
whole pass, then passed through the leaf's hooks and added to ``.grad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradkit.autograd import grad_mode
from gradkit.autograd.node import FREED, Node
from gradkit.errors import AutogradError


def _dependencies(roots: list[Node]) -> dict[Node, int]:
    """How many edges lead into each node reachable from ``roots``."""
    deps: dict[Node, int] = {}
    stack = list(roots)
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.next:
            if type(edge) is Node:
                deps[edge] = deps.get(edge, 0) + 1
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)
    return deps


def _check_versions(node: Node) -> None:
    for counter, version in node.versions:
        if counter[0] != version:
            raise AutogradError(
                f"backward of '{node.name}': a tensor it saved for its gradient was modified "
                f"in place after the forward pass (version {counter[0]}, expected {version}); "
                "make a copy before the in-place change, or do it after backward"
            )


def _fix(grad: Any, shape: tuple, dtype: Any) -> Any:
    from gradkit.ops.shape import sum_to

    if grad.shape != shape:
        grad = sum_to(grad, shape)
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def run_backward(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: Sequence[Any] | None = None,
) -> list[Any] | None:
    """Propagate ``root_grads`` back from ``roots``.

    Without ``inputs`` the gradients are added to the ``.grad`` of the leaves
    (and of tensors that called ``retain_grad``). With ``inputs`` nothing is
    stored; the gradient of each input is returned (None where unreached).
    With ``create_graph`` the backward pass is itself recorded.
    """
    from gradkit.tensor import Tensor

    prev_mode = grad_mode.state.enabled
    grad_mode.state.enabled = create_graph
    try:
        return _run(roots, root_grads, retain_graph, inputs, Tensor)
    finally:
        grad_mode.state.enabled = prev_mode


def _run(roots, root_grads, retain_graph, inputs, Tensor):  # noqa: ANN001, ANN202
    pending: dict[Node, Any] = {}
    leaf_grads: dict[int, list] = {}
    root_nodes = []
    for t, g in zip(roots, root_grads):
        if t._grad_fn is None:
            _add_leaf(leaf_grads, t, g)
        else:
            node = t._grad_fn
            pending[node] = pending[node] + g if node in pending else g
            root_nodes.append(node)

    wanted: dict[Node, int] = {}
    results: list[Any] = []
    if inputs is not None:
        results = [None] * len(inputs)
        for i, t in enumerate(inputs):
            if t._grad_fn is not None:
                wanted[t._grad_fn] = i

    deps = _dependencies(root_nodes)
    ready = [n for n in dict.fromkeys(root_nodes) if n not in deps]
    while ready:
        node = ready.pop()
        grad = pending.pop(node, None)
        if grad is None:  # every consumer sent nothing: pass the silence on
            _release(node, deps, ready)
            continue
        if node.hooks is not None:
            for hook in node.hooks:
                replaced = hook(grad)
                if replaced is not None:
                    grad = replaced
        if node in wanted:
            results[wanted[node]] = grad
        saved = node.saved
        if saved is FREED:
            raise AutogradError(
                f"backward through '{node.name}' a second time: its saved values were freed by "
                "the first backward; pass retain_graph=True to the first backward (or .backward()) call"
            )
        if node.versions is not None:
            _check_versions(node)
        if node.out is not None:
            backend = grad._backend
            out = Tensor._make(node.out, backend, node if grad_mode.state.enabled else None)
            saved = (*saved, out)
        fixups = node.fixups
        for i, (edge, rule) in enumerate(zip(node.next, node.rules)):
            if edge is None:
                continue
            g_in = rule(grad, *saved)
            if g_in is not None and fixups is not None and fixups[i] is not None:
                g_in = _fix(g_in, *fixups[i])
            if type(edge) is Node:
                if g_in is not None:
                    prev = pending.get(edge)
                    pending[edge] = g_in if prev is None else prev + g_in
                left = deps[edge] - 1
                deps[edge] = left
                if left == 0:
                    ready.append(edge)
            elif g_in is not None:
                _add_leaf(leaf_grads, edge, g_in)
        if not retain_graph:
            node.saved = FREED
            node.out = None

    if inputs is not None:
        for i, t in enumerate(inputs):
            if t._grad_fn is None and id(t) in leaf_grads:
                results[i] = _apply_leaf_hooks(t, leaf_grads[id(t)][1])
        return results
    for t, g in leaf_grads.values():
        g = _apply_leaf_hooks(t, g)
        t._grad = g if t._grad is None else t._grad + g
    return None


def _release(node: Node, deps: dict[Node, int], ready: list[Node]) -> None:
    for edge in node.next:
        if type(edge) is Node:
            deps[edge] -= 1
            if deps[edge] == 0:
                ready.append(edge)


def _add_leaf(leaf_grads: dict[int, list], t: Any, g: Any) -> None:
    entry = leaf_grads.get(id(t))
    if entry is None:
        leaf_grads[id(t)] = [t, g]
    else:
        entry[1] = entry[1] + g


def _apply_leaf_hooks(t: Any, g: Any) -> Any:
    if t._hooks is not None:
        for hook in t._hooks:
            replaced = hook(g)
            if replaced is not None:
                g = replaced
    return g
