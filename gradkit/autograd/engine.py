"""The backward pass: reverse topological order, without recursion.

Gradients flow from the roots along ``Node.next`` edges. A node runs once
all of its consumers have sent their contribution (dependency counting, as
in Kahn's algorithm), so a value used several times receives the sum of its
gradients before its own rules run. Leaf gradients are summed over the
whole pass, then passed through the leaf's hooks and added to ``.grad``
(under a lock: several threads may run backward into the same leaves).

With ``inputs`` only the part of the graph that leads from the roots to an
input runs (``_toward``), as in PyTorch: hooks elsewhere do not run and no
rule computes a gradient that no input needs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradkit.autograd import anomaly as _anomaly
from gradkit.autograd import grad_mode
from gradkit.autograd.node import FREED_RULES, KEEP, GraphFreed, Node
from gradkit.errors import ArgumentTypeError, AutogradError, DeviceError, DTypeError, ShapeError
from gradkit.ops.shape import sum_to
from gradkit.tensor import Tensor

_make = Tensor._make

# Held while a gradient is added to a ``.grad``: backward calls on several threads (Hogwild-style training)
# may add into the same leaf, and neither the check for a first gradient nor ``+=`` is atomic.
_grad_lock = threading.Lock()


def _dependencies(roots: list[Node]) -> dict[Node, int]:
    """How many edges lead into each node reachable from ``roots`` (roots included, from 0).

    A root reachable from another root (``vjp`` of ``(s, s * 2)``) waits for that one's gradient
    too; its own edges are counted once.
    """
    deps: dict[Node, int] = dict.fromkeys(roots, 0)
    stack = deque(roots)
    while stack:
        for edge in stack.pop().next:
            if type(edge) is Node:
                if edge in deps:
                    deps[edge] += 1
                else:
                    deps[edge] = 1
                    stack.append(edge)
    return deps


def _toward(
    roots: list[Node], targets: dict[Node, list[int]], leaves: set[int]
) -> tuple[dict[Node, int], dict[Node, tuple] | None]:
    """For a pass with inputs: the dependency counts (as ``_dependencies``) and the edges to follow.

    Only the part of the graph that leads to a target (a node in ``targets``, or a leaf whose id is
    in ``leaves``) runs. Every node reaches some leaf, so when every leaf reached is a target all
    of the graph runs and the edges are None (each node's ``next``: the common case, for the
    transforms, costs ``_dependencies`` and one look at each edge). Else, per node of that part, its ``next``
    with every edge that leads to no target set to None (its rule is then not called); the nodes
    outside it are never ready, since the edges into them are not followed.
    """
    deps = _dependencies(roots)
    if all(type(edge) is Node or edge is None or id(edge) in leaves for node in deps for edge in node.next):
        return deps, None
    return deps, _edges_toward(roots, dict(deps), targets, leaves)


def _edges_toward(
    roots: list[Node], left: dict[Node, int], targets: dict[Node, list[int]], leaves: set[int]
) -> dict[Node, tuple]:
    """Per node that leads to a target, the edges that do (the others None); see ``_toward``.

    Every consumer of such a node leads to a target too, so its dependency count stays right.
    """
    order = []  # consumers before producers (Kahn's order; ``left`` is used up)
    ready = [n for n in roots if not left[n]]
    while ready:
        node = ready.pop()
        order.append(node)
        for edge in node.next:
            if type(edge) is Node:
                n = left[edge] - 1
                left[edge] = n
                if not n:
                    ready.append(edge)
    keep: dict[Node, tuple] = {}
    for node in reversed(order):  # producers first: whether an edge leads to a target is known
        edges = tuple(
            None if e is None else (e if e in keep else None) if type(e) is Node else (e if id(e) in leaves else None)
            for e in node.next
        )
        if node in targets or any(e is not None for e in edges):
            keep[node] = edges
    return keep


def _raise_modified(node: Node, found: int, expected: int) -> None:
    raise AutogradError(
        f"backward of '{node.name}': a tensor it saved for its gradient was modified "
        f"in place after the forward pass (version {found}, expected {expected}); "
        "make a copy before the in-place change, or do it after backward" + _anomaly.where(node)
    )


def _fix(grad: Tensor, shape: tuple, dtype: Any) -> Tensor:
    """Sum a gradient back over broadcast axes and cast it to its input's dtype."""
    if grad._data.shape != shape:
        grad = sum_to(grad, shape)
    if grad._data.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = False,
    retained: bool | None = None,
) -> list[Any] | None:
    """Propagate ``root_grads`` back from ``roots``.

    Without ``inputs`` the gradients are added to the ``.grad`` of the leaves
    (and of tensors that called ``retain_grad``). With ``inputs`` only the
    nodes between the roots and the inputs run, and the gradient of each input
    is returned (None where unreached) or, with ``accumulate``, added to its
    ``.grad`` (a non-leaf input's too). ``retained``: whether the tensors that
    called ``retain_grad()`` on the nodes that run get their ``.grad`` (by
    default unless ``inputs`` are given without ``accumulate``: the transforms
    leave every ``.grad`` alone). With ``create_graph`` the backward pass is
    itself recorded.
    """
    if retained is None:
        retained = inputs is None or accumulate
    state = grad_mode.state
    prev_mode, prev_pass = state.enabled, state.backward_pass
    state.enabled = create_graph
    state.backward_pass = token = grad_mode.BackwardPass()  # nodes that cache per pass (SharedBackward) key by it
    watched = None
    try:
        # Anomaly mode wraps the rules of the graph for this pass: the loop itself never checks for it.
        if _anomaly.state.enabled:
            watched = _anomaly.watch(roots)
        for t in roots:
            if t._grad_fn is not None and t._grad_fn.quiet_backward:  # GradScaler.scale's output
                with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
                    return _run(roots, root_grads, retain_graph, create_graph, inputs, accumulate, retained)
        return _run(roots, root_grads, retain_graph, create_graph, inputs, accumulate, retained)
    finally:
        token.running = False
        state.enabled, state.backward_pass = prev_mode, prev_pass
        if watched is not None:
            _anomaly.unwatch(watched)


def _run(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None,
    accumulate: bool,
    retained: bool,
) -> list[Any] | None:
    pending: dict[Node, Tensor] = {}
    leaf_grads: dict[int, list] = {}
    # ids of the arrays whose memory a stored .grad may not share: the caller's seeds, and each
    # .grad stored in this pass (see _exclusive).
    taken: set[int] = set()
    root_nodes = []
    for t, g in zip(roots, root_grads, strict=True):
        if g._owned:  # the caller keeps its gradient: no rule may write into it (as _disown)
            g._owned = False
        taken.add(id(_memory_owner(g._data)))
        if t._grad_fn is None:
            _add_leaf(leaf_grads, t, g)
        else:
            node = t._grad_fn
            pending[node] = pending[node] + g if node in pending else g
            root_nodes.append(node)

    if len(root_nodes) > 1:
        root_nodes = list(dict.fromkeys(root_nodes))  # a root given twice is one node (its grads were summed)
    # With inputs: the input nodes whose gradients are captured, and per node the edges to follow.
    wanted: dict[Node, list[int]] | None = None
    keep: dict[Node, tuple] | None = None
    results: list[Any] = []
    if inputs is None:
        deps = _dependencies(root_nodes)
    else:
        results = [None] * len(inputs)
        wanted = {}
        for i, t in enumerate(inputs):
            if t._grad_fn is not None:
                wanted.setdefault(t._grad_fn, []).append(i)
        deps, keep = _toward(root_nodes, wanted, {id(t) for t in inputs if t._grad_fn is None})
        if keep is not None:
            root_nodes = [n for n in root_nodes if n in keep]
            pending = {n: g for n, g in pending.items() if n in keep}
    # A deque: a list that goes from one item to none and back at every node of a chain is reallocated each time.
    ready: deque[Node] = deque()
    for n in root_nodes:
        if not deps[n]:
            ready.append(n)
    while ready:
        node = ready.pop()
        grad = pending.pop(node, None)
        if grad is None:  # every consumer sent nothing: pass the silence on
            _release(node.next if keep is None else keep[node], deps, ready)
            continue
        if node.hooks is not None:
            _disown(grad)  # a hook may keep it
            grad = _run_hooks(node.hooks, grad, f"the output of '{node.name}'", taken)
        if node.retained is not None and retained:
            _retain(node, grad, taken, wanted is not None)
        edges = node.next
        if wanted is not None:  # inputs=: capture their gradients, follow only the edges toward them
            if node in wanted:
                _disown(grad)
                for i in wanted[node]:
                    results[i] = grad
            if keep is not None:
                edges = keep[node]
        saved = node.saved
        versions = node.versions
        if versions is not None:
            for counter, version in versions:
                if counter[0] != version:
                    _raise_modified(node, counter[0], version)
        out = node.out
        if out is not None:
            saved = (*saved, _make(out, grad._backend, node if create_graph else None))
        fixups = node.fixups
        rules = node.rules
        n_saved = len(saved)
        for i, edge in enumerate(edges):
            if edge is None:
                continue
            try:
                # rules[i](grad, *saved), spelled out for the common counts: a call with * builds the
                # arguments' tuple and enters the interpreter anew, about three plain calls' work.
                if n_saved == 0:
                    g_in = rules[i](grad)
                elif n_saved == 1:
                    g_in = rules[i](grad, saved[0])
                elif n_saved == 2:
                    g_in = rules[i](grad, saved[0], saved[1])
                elif n_saved == 3:
                    g_in = rules[i](grad, saved[0], saved[1], saved[2])
                elif n_saved == 4:
                    g_in = rules[i](grad, saved[0], saved[1], saved[2], saved[3])
                else:
                    g_in = rules[i](grad, *saved)
            except GraphFreed:
                raise AutogradError(
                    f"backward through '{node.name}' a second time: its saved values were freed by the "
                    "first backward; pass retain_graph=True to the first backward (or .backward()) call"
                    + _anomaly.where(node)
                ) from None
            if fixups is not None and g_in is not None and fixups[i] is not None:
                g_in = _fix(g_in, *fixups[i])
            if g_in is grad and grad._owned:  # passed on unchanged: it may now reach several nodes
                grad._owned = False
            if type(edge) is Node:
                if g_in is not None:
                    summed = pending.get(edge)
                    pending[edge] = g_in if summed is None else summed + g_in
                left = deps[edge] - 1
                deps[edge] = left
                if not left:
                    ready.append(edge)
            elif g_in is not None:
                if g_in._data.shape != edge._data.shape:  # a rule's bug: stored, it would corrupt .grad silently
                    raise ShapeError(
                        f"backward: the rule of '{node.name}' gave input {i} (a leaf of shape {edge.shape}) a "
                        f"gradient of shape {g_in.shape}"
                    )
                # (_add_leaf, inlined: this runs for every leaf gradient)
                if g_in._owned:  # it becomes (part of) a .grad: disowned
                    g_in._owned = False
                entry = leaf_grads.get(id(edge))
                if entry is None:
                    leaf_grads[id(edge)] = [edge, g_in]
                else:
                    entry[1] = entry[1] + g_in
        # Release what the node saved, unless that is nothing (KEEP: shapes, numbers; or no saved value at
        # all): such a node stays as it is and may run again, as PyTorch's (see node.saves_nothing).
        if not retain_graph and (saved or versions is not None) and versions is not KEEP:
            node.rules = FREED_RULES
            node.saved = ()
            if out is not None:
                node.out = None
        # Drop this node's values now: held in locals they would live on while the next node runs.
        grad = saved = g_in = out = None

    if inputs is None:
        for t, g in leaf_grads.values():
            dtype = g._data.dtype
            # (most leaves: no hook, the same dtype object; ``is not`` first: NumPy's dtype != is a call)
            if t._hooks is not None or (dtype is not t._data.dtype and dtype != t._data.dtype):
                g = _apply_leaf_hooks(t, g, taken)
            if t._requires_grad:  # as PyTorch: a leaf turned off after the forward pass runs its hooks, no .grad
                _accumulate(t, g, taken)
                if t._post_accumulate_grad_hooks is not None:  # one look per leaf: most have none
                    _run_post_accumulate_hooks(t)
        return None
    done: dict[int, Any] = {}  # an input given twice: its leaf hooks run once, and it is added to .grad once
    for i, t in enumerate(inputs):
        if id(t) in done:
            results[i] = done[id(t)]
            continue
        if t._grad_fn is None and id(t) in leaf_grads:
            results[i] = _apply_leaf_hooks(t, leaf_grads[id(t)][1], taken)
        elif results[i] is not None:
            results[i] = _in_dtype_of(results[i], t)
        done[id(t)] = results[i]
        if accumulate and results[i] is not None and not (retained and t.retains_grad):  # else _retain added it
            _accumulate(t, results[i], taken)
            if t._post_accumulate_grad_hooks is not None:
                _run_post_accumulate_hooks(t)
    return None if accumulate else results


def _retain(node: Node, grad: Tensor, taken: set[int], returned: bool = False) -> None:
    """Add ``grad`` to the ``.grad`` of the tensor that called ``retain_grad()`` (after its hooks).

    ``returned``: in a pass with ``inputs`` the same gradient may also be returned to the caller, so
    a first ``.grad`` is a copy (as PyTorch's).
    """
    t = node.retained()
    if t is not None:
        _disown(grad)
        grad = _in_dtype_of(grad, t)
        if returned:
            taken.add(id(_memory_owner(grad._data)))
        _accumulate(t, grad, taken)


def _accumulate(t: Tensor, g: Tensor, taken: set[int]) -> None:
    """Add ``g`` to ``t.grad``: in place when the pass is not recorded (as PyTorch, also into a ``.grad``
    that a ``create_graph=True`` pass recorded: it keeps its graph), so that a reference to ``t.grad``
    sees the sum; else (``create_graph=True``) a new, recorded sum. Under ``_grad_lock``."""
    _grad_lock.acquire()  # (not ``with``: its __enter__ and __exit__ cost twice acquire and release)
    try:
        old = t._grad
        if old is None:
            t._grad = _exclusive(g, taken)
        elif not grad_mode.state.enabled and old._data.dtype == g._data.dtype and writable_dense(old._data):
            old._data += g._data
            old._version[0] += 1
        else:
            t._grad = old + g
    finally:
        _grad_lock.release()


def _memory_owner(a: Any) -> Any:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    base = getattr(a, "base", None)
    return a if base is None else base


def _exclusive(g: Tensor, taken: set[int]) -> Tensor:
    """``g`` to store as a ``.grad``, copied when its memory is not its own alone.

    A ``.grad`` must be safe to change in place (``p.grad.zero_()``, ``p.grad *= s``): not a
    read-only or broadcast view (a sum's gradient is a broadcast), not the caller's seed, and not
    the array of another ``.grad`` (an add hands one gradient to both of its inputs). Rule outputs
    that own their array, the common case, are stored as they are.
    """
    d = g._data
    base = getattr(d, "base", None)  # (_memory_owner, inlined: this runs for every .grad stored)
    owner = d if base is None else base
    if id(owner) not in taken and (owner is d or writable_dense(d)):  # a view may be read-only or broadcast
        taken.add(id(owner))
        return g
    if g._requires_grad:  # create_graph=True (or a seed that requires grad): the copy stays in the graph
        copy = g * 1
    else:
        copy = _make(g._backend.xp.array(d, copy=True), g._backend)
    taken.add(id(copy._data))
    return copy


def writable_dense(a: Any) -> bool:
    """False for a read-only array and for a broadcast view (a zero stride along an axis longer than 1)."""
    flags = getattr(a, "flags", None)
    if flags is not None:
        if not getattr(flags, "writeable", True):  # CuPy arrays have no such flag
            return False
        if flags.c_contiguous or flags.f_contiguous:  # the common case, and empty arrays (all strides 0)
            return True
    return a.size == 0 or all(s != 0 or n <= 1 for s, n in zip(a.strides, a.shape, strict=True))


def _release(edges: tuple, deps: dict[Node, int], ready: deque[Node]) -> None:
    """Count a node that sent no gradient along ``edges`` as done for each node they lead to."""
    for edge in edges:
        if type(edge) is Node:
            deps[edge] -= 1
            if deps[edge] == 0:
                ready.append(edge)


def _disown(g: Tensor) -> None:
    """Mark ``g`` as shared: no rule may overwrite it (see ``Tensor._owned``)."""
    if g._owned:
        g._owned = False


def _add_leaf(leaf_grads: dict[int, list], t: Tensor, g: Tensor) -> None:
    if g._owned:  # it becomes (part of) a .grad: disowned (as _disown)
        g._owned = False
    entry = leaf_grads.get(id(t))
    if entry is None:
        leaf_grads[id(t)] = [t, g]
    else:
        entry[1] = entry[1] + g


def _in_dtype_of(g: Tensor, t: Tensor) -> Tensor:
    """A gradient in the dtype of the value it belongs to (a rule may have computed it in a wider one)."""
    return g if g._data.dtype == t._data.dtype else g.astype(t._data.dtype)


def _apply_leaf_hooks(t: Tensor, g: Tensor, taken: set[int]) -> Tensor:
    g = _in_dtype_of(g, t)
    if t._hooks is not None:
        g = _run_hooks(t._hooks, g, "a leaf tensor", taken)
    return g


def _run_post_accumulate_hooks(t: Tensor) -> None:
    """Call the hooks of ``t.register_post_accumulate_grad_hook`` on ``t``, once its ``.grad`` has been added to.

    As in ``_run_hooks``, the hooks registered when the pass gets here run, all of them. A hook returns None.
    """
    for hook in tuple(t._post_accumulate_grad_hooks.values()):
        result = hook(t)
        if result is not None:
            raise ArgumentTypeError(
                f"backward: a post accumulate grad hook returned {type(result).__name__}; such a hook "
                "returns None (it may read or change the tensor's .grad in place, or set it to None)"
            )


def _run_hooks(hooks: dict, grad: Tensor, where: str, taken: set[int]) -> Tensor:
    """Call each hook on the gradient; one that returns a Tensor replaces it (same shape required).

    The hooks registered when the pass gets here run, all of them: as in PyTorch, one that a hook
    removes still runs in this pass, and one that a hook adds runs from the next pass on.

    A hook may keep what it is given or return a tensor it keeps: both count as taken, so neither is
    stored as a ``.grad`` (which later backward calls add into in place) without a copy.
    """
    for hook in tuple(hooks.values()):
        taken.add(id(_memory_owner(grad._data)))
        replaced = hook(grad)
        if replaced is None:
            continue
        if not isinstance(replaced, Tensor):
            raise ArgumentTypeError(
                f"backward: a hook on {where} returned {type(replaced).__name__}; "
                "a hook returns None or a Tensor that replaces the gradient"
            )
        if replaced._data.shape != grad._data.shape:
            raise ShapeError(
                f"backward: a hook on {where} returned a gradient of shape {replaced._data.shape}, "
                f"expected {grad._data.shape} (the shape of the gradient it was given)"
            )
        if replaced._data.dtype != grad._data.dtype:
            raise DTypeError(
                f"backward: a hook on {where} returned a gradient of dtype {replaced._data.dtype}, "
                f"expected {grad._data.dtype} (the dtype of the gradient it was given)"
            )
        if replaced._backend is not grad._backend:
            raise DeviceError(
                f"backward: a hook on {where} returned a gradient on {replaced.device}, "
                f"expected {grad.device} (the device of the gradient it was given)"
            )
        grad = replaced
        taken.add(id(_memory_owner(grad._data)))
    return grad
