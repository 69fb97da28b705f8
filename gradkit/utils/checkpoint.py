"""Activation checkpointing (``gk.utils.checkpoint``): PyTorch's ``torch.utils.checkpoint`` for gradkit.

``checkpoint(function, *args, **kwargs)`` returns what ``function(*args, **kwargs)`` returns, but none of
the values that its operations saved for backward stay alive: when the backward pass reaches the call, it
runs ``function`` again, with recording on and (by default) the random state the first run had, and
backpropagates through that second run. Between the forward and the backward pass a checkpointed call
keeps only its arguments, for about one more forward pass of compute.

How a call joins the graph (PyTorch's non-reentrant variant; ``use_reentrant=True`` runs the same code):

- The first run calls ``function`` on the arguments themselves with recording on, while an observer
  (``gradkit.autograd.function.add_observer``, beside those of ``gk.trace`` and anomaly mode) notes the
  nodes made on this thread: every node made for a recorded operation is passed to the observers (those
  of ``gk.autograd.Function`` calls and module backward hooks included). The nodes reachable from the
  outputs split into *inner* ones (noted, or reaching a noted node: a node made before the call points
  only at older ones) and the *boundary*: the leaves, the arguments' nodes (of the tensors in the
  arguments, nested in lists, tuples and dicts too) and the older nodes that inner nodes point at. A node
  that was not noted (made on another thread) and reaches no inner node counts as boundary.
- Each output made by an inner node is handed back as a new tensor on one ``Checkpoint`` node (through a
  selector node per output when there are several) whose edges are the boundary. Nothing refers to the
  inner nodes any more, and they are freed with their saved arrays. The node keeps the arguments, the
  random states and the inner graph's layout (per inner node its name and, per edge, an inner index, a
  boundary index or None), not the graph itself, and the versions of the tensors whose in-place change would
  make the plain call's backward fail (the arguments, the leaves, every tensor an inner node saved: the
  inner nodes' own checks are freed with them), checked before the recomputation. Other outputs (an
  argument returned as it is, a tensor without grad) are returned unchanged; a tensor the function stores
  elsewhere keeps its own graph.
- Backward: the node runs ``function`` again with recording on (the random states of the CPU, the
  default device and the arguments' devices set to the saved ones, then put back), checks the new graph
  against the layout (``AutogradError`` when the function recorded something else), points the new inner
  nodes' boundary edges at stand-in nodes whose hooks collect the gradients, and runs an inner backward
  pass from the new outputs. The collected gradients are the node's gradients for its edges. Under
  ``create_graph=True`` the inner pass is recorded and the edges are put back afterwards, so second
  derivatives reach the real inputs through the recomputed graph.

``gk.trace`` shows a checkpointed call's operations with their adjoints: while the node is observed, its
state's ``first_run`` lists the first run's inner nodes in the layout's order, and an observer added with
:func:`add_recompute_observer` is handed the recomputed nodes in the same order before the inner backward
pass, to hook them.

The engine needs no change for this: a node's rules may run a backward pass of their own, and stand-in
nodes without edges end that pass at the boundary.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import function as _function
from gradkit.autograd import grad_mode
from gradkit.autograd.custom_function import SharedBackward, _OutputGrads, _select_node, shared_rules
from gradkit.autograd.engine import run_backward
from gradkit.autograd.node import Node
from gradkit.backends import NUMPY, default_device, device, get_backend
from gradkit.backends.base import Backend
from gradkit.errors import ArgumentTypeError, AutogradError, InvalidArgumentError, describe
from gradkit.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]

_make = Tensor._make


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)``, recomputed during backward instead of keeping its saved values.

    Gradients equal those of the plain call, for the arguments and for every tensor the function uses
    (parameters included). With ``preserve_rng_state`` the recomputation draws the same random numbers
    (dropout masks) as the first run. ``use_reentrant`` (True, False or None) is accepted for PyTorch
    code: both variants give the same results here. With recording off, or when nothing the function
    uses requires grad, it is a plain call.
    """
    op = "checkpoint"
    if not callable(function):
        raise ArgumentTypeError(f"{op}: function must be callable, got {describe(function)}")
    _reentrant(use_reentrant, op)
    preserve = flag(preserve_rng_state, op, "preserve_rng_state")
    if not grad_mode.state.enabled:
        return function(*args, **kwargs)
    return _forward(function, args, kwargs, preserve)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Any,  # noqa: A002 - PyTorch's name
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
) -> Any:
    """Run ``functions`` (an ``nn.Sequential`` or a sequence of callables) in order on ``input``,
    checkpointing each of ``segments`` equal runs of them except the last, as PyTorch does.

    Each run has ``len(functions) // segments`` functions; the last run takes the rest and is not
    checkpointed (its values are needed at once by the backward pass).
    """
    op = "checkpoint_sequential"
    fns = _functions(functions, op)
    segments = whole(segments, op, "segments", low=1)
    if segments > len(fns):
        raise InvalidArgumentError(
            f"{op}: segments must be at most the number of functions ({len(fns)}), got {segments}"
        )
    _reentrant(use_reentrant, op)
    preserve = flag(preserve_rng_state, op, "preserve_rng_state")
    size = len(fns) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(partial(_run_all, fns[start:end]), input, preserve_rng_state=preserve)
    return _run_all(fns[end:], input)


def _reentrant(value: Any, op: str) -> None:
    if value is not None:
        flag(value, op, "use_reentrant")


def _functions(functions: Any, op: str) -> list:
    from gradkit.nn.layers import Sequential

    if isinstance(functions, Sequential):
        return list(functions.children())
    if isinstance(functions, (str, bytes, Tensor)) or not isinstance(functions, Iterable):
        raise ArgumentTypeError(
            f"{op}: functions must be an nn.Sequential or a list of callables, got {describe(functions)}"
        )
    fns = list(functions)
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise ArgumentTypeError(f"{op}: functions[{i}] must be callable, got {describe(fn)}")
    return fns


def _run_all(fns: list, x: Any) -> Any:
    for fn in fns:
        x = fn(x)
    return x


# --------------------------------------------------------------------- forward
def _forward(function: Callable[..., Any], args: tuple, kwargs: dict, preserve: bool) -> Any:
    inputs = _tensors((args, kwargs))  # nested in lists, tuples and dicts too
    before = [t._version[0] for t in inputs]
    rng = _save_rng(_rng_backends(inputs)) if preserve else None
    where = default_device()
    autocast_regions = _autocast.regions() if _autocast.active else ()
    with _NewNodes() as new:
        out = function(*args, **kwargs)
    for i, (t, v) in enumerate(zip(inputs, before, strict=True)):
        if t._version[0] != v:
            raise AutogradError(
                f"checkpoint: the function changed tensor {i} of its arguments ({describe(t)}) in place; backward "
                "runs the function again from its arguments, so it must leave them as they are (clone first)"
            )
    flat = _tensors(out)
    graph = _Split(new.ids, inputs)
    outs = [(pos, graph.inner_index(t._grad_fn)) for pos, t in enumerate(flat)
            if t._grad_fn is not None and graph.is_inner(t._grad_fn)]
    if not outs:
        return out  # nothing the call recorded reaches an output: it is a plain call
    layout = graph.layout()
    metas = [(flat[pos]._data.shape, flat[pos]._data.dtype) for pos, _ in outs]
    state = _Recompute(function, args, kwargs, rng, where, layout, outs, metas, graph.boundary)
    state.autocast = autocast_regions
    state.versions = _versions(inputs, graph)
    node = Node("Checkpoint", shared_rules(len(graph.boundary)), tuple(graph.boundary), (state,))
    multi = len(outs) > 1
    state.first_run = graph.order  # for the observers only (gk.trace): not kept, the nodes are to be freed
    try:
        if multi:  # observed as a Function call's nodes: gk.trace, anomaly mode, an enclosing checkpoint
            _function.observe(node)  # then each selector node, in _select_node
        wrapped = list(flat)
        for k, (pos, _) in enumerate(outs):
            o = flat[pos]
            y = _make(o._data, o._backend, _select_node(node, k, len(outs)) if multi else node)
            y._version = o._version  # views of the output keep seeing in-place changes through either
            wrapped[pos] = y
        if not multi:
            _function.observe(node, wrapped[outs[0][0]])
    finally:
        state.first_run = None
    return _replace(out, iter(wrapped))  # the first run's outputs, and with them its inner nodes, are freed


def _versions(inputs: list[Tensor], graph: _Split) -> list[tuple[list, int, str]]:
    """(version cell, version, what it is) for every tensor whose in-place change before backward makes the
    plain call raise: the arguments, the leaves with grad the call uses, and every tensor an operation of the
    call saved for its gradient (closed-over tensors too: their nodes are freed, so their checks are kept
    here). A tensor that the call reads without any recorded operation saving it cannot be seen."""
    found: dict[int, tuple[list, int, str]] = {}

    def add(cell: list, version: int, what: str) -> None:
        if id(cell) not in found:
            found[id(cell)] = (cell, version, what)

    for i, t in enumerate(inputs):
        add(t._version, t._version[0], f"tensor {i} of its arguments ({describe(t)})")
    for b in graph.boundary:
        if type(b) is not Node:
            add(b._version, b._version[0], f"a leaf tensor it uses ({describe(b)})")
    for node in graph.order:
        saved = [(c, v, f"a tensor its '{node.name}' saved for backward") for c, v in node.versions or ()]
        for s in node.saved:
            if type(s) is _Recompute:  # a nested checkpoint: its node's checks are the call's too
                saved += s.versions
        for cell, version, what in saved:
            add(cell, version, what)
    return list(found.values())


class _NewNodes:
    """While active: the ids of the nodes recorded on this thread (an observer, ``function.add_observer``)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.thread = threading.get_ident()

    def __call__(self, node: Node, out: Tensor | None) -> None:
        if threading.get_ident() == self.thread:  # other threads' ops are not the call's
            self.ids.add(id(node))

    def __enter__(self) -> _NewNodes:
        _function.add_observer(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _function.remove_observer(self)


class _Split:
    """The inner nodes of a call (reached from its outputs) in a fixed order, and the boundary they point at.

    ``observed`` holds the ids of the nodes the observer saw; ``stops`` the arguments, whose graph is
    older than the call and need not be searched.
    """

    def __init__(self, observed: set[int], stops: list[Tensor]) -> None:
        self.observed = observed
        self.found: set[int] = set()  # unobserved nodes that reach an observed one
        self.older: set[int] = {id(t._grad_fn) for t in stops if t._grad_fn is not None}
        self.order: list[Node] = []
        self.index: dict[int, int] = {}
        self.boundary: list[Any] = []
        self.bindex: dict[int, int] = {}

    def is_inner(self, node: Node) -> bool:
        key = id(node)
        if key in self.observed or key in self.found:
            return True
        if key in self.older:
            return False
        # A node the observer did not see is the call's if it reaches one it saw (edges point at older nodes)
        seen = {key}
        stack = [node]
        while stack:
            for e in stack.pop().next:
                if type(e) is not Node or id(e) in seen or id(e) in self.older:
                    continue
                if id(e) in self.observed or id(e) in self.found:
                    self.found.add(key)
                    return True
                seen.add(id(e))
                stack.append(e)
        self.older |= seen
        return False

    def inner_index(self, node: Node) -> int:
        j = self.index.get(id(node))
        if j is None:
            j = self.index[id(node)] = len(self.order)
            self.order.append(node)
        return j

    def edge(self, e: Any) -> int | None:
        """An edge as recorded: None, an inner node's index (>= 0), or ``-1 - k`` for boundary entry k."""
        if e is None:
            return None
        if type(e) is Node and self.is_inner(e):
            return self.inner_index(e)
        k = self.bindex.get(id(e))
        if k is None:
            k = self.bindex[id(e)] = len(self.boundary)
            self.boundary.append(e)
        return -1 - k

    def layout(self) -> list[tuple[str, tuple, bool]]:
        """Per inner node, in order: its name, its edges, and whether the observer saw it."""
        layout = []
        j = 0
        while j < len(self.order):  # edge() appends newly reached inner nodes
            node = self.order[j]
            layout.append((node.name, tuple(self.edge(e) for e in node.next), id(node) in self.observed))
            j += 1
        return layout


def _tensors(out: Any) -> list[Tensor]:
    """The tensors in ``out`` (nested in tuples, lists and dicts), in a fixed order."""
    found: list[Tensor] = []
    _replace(out, None, found)
    return found


def _replace(obj: Any, new: Iterator[Tensor] | None, found: list | None = None) -> Any:
    """``obj`` with each tensor replaced by the next of ``new`` (or collected into ``found``)."""
    if isinstance(obj, Tensor):
        if found is not None:
            found.append(obj)
            return obj
        return next(new)  # type: ignore[arg-type]
    if isinstance(obj, (tuple, list)):
        items = [_replace(o, new, found) for o in obj]
        if found is not None:
            return obj
        if type(obj) is tuple or type(obj) is list:
            return type(obj)(items)
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)  # a namedtuple
    if isinstance(obj, dict):
        items = {k: _replace(v, new, found) for k, v in obj.items()}
        return obj if found is not None else type(obj)(items)
    return obj


def _name(function: Callable[..., Any]) -> str:
    """How errors name a checkpointed function: 'f', '<lambda>', 'Linear', or a checkpoint_sequential run."""
    if isinstance(function, partial) and function.func is _run_all:
        names = ", ".join(_name(f) for f in function.args[0])
        return f"the checkpoint_sequential run [{names}]"
    name = getattr(function, "__qualname__", None)
    if not isinstance(name, str):
        name = type(function).__name__
    return f"'{name}'"


# --------------------------------------------------------------------- backward
#: Called as ``fn(state, nodes)`` when a checkpoint runs its function again during backward (see
#: :func:`add_recompute_observer`); a tuple, replaced whole under the lock, so that a pass reads it unlocked.
_recompute_observers: tuple = ()
_recompute_observers_lock = threading.Lock()


def add_recompute_observer(fn: Callable[[Any, list[Node]], None]) -> None:
    """Call ``fn(state, nodes)`` on every recomputation from now on (``gk.trace``, for the adjoints inside a
    checkpoint): ``state`` is the checkpoint node's saved value (``node.saved[0]``) and ``nodes`` the
    recomputed inner nodes, in the order of ``state.first_run``, once they are checked against the first
    run's and before the backward pass through them (hooks added to them then see their gradients). It
    runs on the thread of the backward pass, for every checkpoint: ``fn`` picks out the states it knows."""
    global _recompute_observers
    with _recompute_observers_lock:
        _recompute_observers = (*_recompute_observers, fn)


def remove_recompute_observer(fn: Callable[[Any, list[Node]], None]) -> None:
    """Stop calling ``fn`` (found by identity; nothing happens if it is not installed)."""
    global _recompute_observers
    with _recompute_observers_lock:
        kept = list(_recompute_observers)
        for i, o in enumerate(kept):
            if o is fn:
                del kept[i]
                break
        _recompute_observers = tuple(kept)


class _Stop:
    """The hook of a stand-in node: keeps the gradient that reached boundary entry ``k``."""

    __slots__ = ("grads", "k")

    def __init__(self, grads: list, k: int) -> None:
        self.grads = grads
        self.k = k

    def __call__(self, grad: Tensor) -> None:
        self.grads[self.k] = grad


class _Recompute(SharedBackward):
    """A checkpointed call, kept by its node until backward: how to run it again, and what it recorded.

    ``first_run``: the first run's inner nodes in the layout's order, only while the node is passed to the
    observers (``gk.trace`` matches them with the recomputed ones, see :func:`add_recompute_observer`);
    None otherwise, so that they are freed.
    """

    __slots__ = ("function", "args", "kwargs", "rng", "where", "layout", "outs", "metas", "versions", "first_run",
                 "autocast")

    def __init__(self, function: Callable[..., Any], args: tuple, kwargs: dict, rng: Any, where: str,
                 layout: list, outs: list, metas: list, boundary: list) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.rng = rng
        self.where = where
        self.layout = layout
        self.outs = outs
        self.metas = metas
        self.versions: list[tuple[list, int, str]] = []
        self.first_run: list[Node] | None = None
        self.autocast: tuple = ()  # the forward pass's autocast regions, entered again for the recomputation
        self._start(len(boundary))

    def _check_versions(self) -> None:
        for cell, version, what in self.versions:
            if cell[0] != version:
                raise AutogradError(
                    f"checkpoint of {_name(self.function)}: {what} was modified in place after the forward "
                    f"pass (version {cell[0]}, expected {version}), as the plain call would report; make a "
                    "copy before the in-place change, or do it after backward"
                )

    def _backward(self, grad: Any) -> list:
        self._check_versions()
        create_graph = grad_mode.state.enabled
        incoming = grad.grads if type(grad) is _OutputGrads else [grad]
        current = _save_rng([b for b, _, _ in self.rng]) if self.rng is not None else None
        new = _NewNodes()
        try:
            if self.rng is not None:
                _restore_rng(self.rng)
            grad_mode.state.enabled = True
            with device(self.where), contextlib.ExitStack() as regions, new:
                for region in self.autocast:
                    regions.enter_context(region)
                out = self.function(*self.args, **self.kwargs)
        finally:
            grad_mode.state.enabled = create_graph
            if current is not None:
                _restore_rng(current)
        flat = _tensors(out)
        roots, seeds = [], []
        for (pos, _), g in zip(self.outs, incoming, strict=True):
            if g is not None:
                roots.append(flat[pos])
                seeds.append(g)
        grads: list = [None] * self.wanted
        cut = self._rewire(flat, new.ids, grads)
        for fn in _recompute_observers:
            fn(self, [node for node, _ in cut])
        try:
            run_backward(roots, seeds, retain_graph=create_graph, create_graph=create_graph)
        finally:
            if create_graph:  # second derivatives go on through the recomputed graph to the real inputs
                for node, edges in cut:
                    node.next = edges
        return grads

    def _rewire(self, flat: list, observed: set[int], grads: list) -> list:
        """Check the recomputed graph against the first run's, then point its boundary edges at stand-ins
        (nothing is changed unless the whole graph fits). Returns (node, original edges) per inner node."""
        order: list[Node] = []
        index: dict[int, int] = {}

        def differs(what: str) -> AutogradError:
            return AutogradError(
                f"checkpoint: running the function again during backward recorded a different graph ({what}); "
                "a checkpointed function must do the same operations on every call (no branches on random "
                "numbers or on state that changes between the forward and the backward pass)"
            )

        def inner(e: Any, j: int) -> None:
            if type(e) is not Node:
                raise differs(f"{describe(e)} where node {j} ('{self.layout[j][0]}') was expected")
            if j == len(order):  # reached for the first time, as in the first run
                # a node the observer saw in the first run must be new now: never one from outside the call
                if id(e) in index or (self.layout[j][2] and id(e) not in observed):
                    raise differs(f"node {j} ('{e.name}') was not recorded by this run")
                index[id(e)] = j
                order.append(e)
            elif index.get(id(e)) != j:
                raise differs(f"node {j} ('{self.layout[j][0]}') is not where the first run had it")

        for k, ((pos, j), (shape, dtype)) in enumerate(zip(self.outs, self.metas, strict=True)):
            t = flat[pos] if pos < len(flat) else None
            if t is None or t._data.shape != shape or t._data.dtype != dtype:
                raise differs(f"output {k} is {describe(t)}, expected shape {shape} and dtype {dtype}")
            inner(t._grad_fn, j)
        for j, (name, edges, _) in enumerate(self.layout):
            node = order[j]
            if node.name != name or len(node.next) != len(edges):
                raise differs(f"node {j} is '{node.name}' with {len(node.next)} inputs, expected '{name}' "
                              f"with {len(edges)}")
            for e, d in zip(node.next, edges, strict=True):
                if (d is None) != (e is None):
                    raise differs(f"an input of '{name}' {'lost' if e is None else 'gained'} its gradient")
                if d is not None and d >= 0:
                    inner(e, d)
        stand_ins: dict[int, Node] = {}
        cut = []
        for node, (_, edges, _) in zip(order, self.layout, strict=True):
            wired = []
            for e, d in zip(node.next, edges, strict=True):
                if d is not None and d < 0:
                    k = -1 - d
                    e = stand_ins.get(k)
                    if e is None:
                        e = stand_ins[k] = Node("CheckpointInput", (), (), ())
                        e.add_hook(_Stop(grads, k))
                wired.append(e)
            cut.append((node, node.next))
            node.next = tuple(wired)
        return cut


# --------------------------------------------------------------------- random state
def _rng_backends(inputs: list[Tensor]) -> list[Backend]:
    """The devices whose generators a call may draw from: the CPU, the default device, the arguments'."""
    backends: list[Backend] = [NUMPY]
    for b in (get_backend(None), *(t._backend for t in inputs)):
        if all(b is not seen for seen in backends):
            backends.append(b)
    return backends


def _on(backend: Backend) -> Any:
    index = getattr(backend, "index", None)
    return backend.xp.cuda.Device(index) if index is not None else contextlib.nullcontext()


def _save_rng(backends: list[Backend]) -> list[tuple[Backend, str, Any]]:
    saved = []
    for b in backends:
        with _on(b):
            kind, state = _rng_state(b.rng, b)
        saved.append((b, kind, state))
    return saved


def _restore_rng(saved: list[tuple[Backend, str, Any]]) -> None:
    for b, kind, state in saved:
        with _on(b):
            _set_rng_state(b.rng, b, kind, state)


def _rng_kind(rng: Any) -> str:
    """How a generator's state is saved: ``numpy`` (its bit generator's state dict), ``counter`` (a
    ``CounterRNG``'s [seed, offset] array, also through a capture's per-thread wrapper), ``curand`` (a CuPy
    generator's cuRAND states, a device array) or ``object`` (a copy of its attributes)."""
    if isinstance(rng, np.random.Generator):
        return "numpy"
    if hasattr(getattr(rng, "state", None), "shape"):
        return "counter"
    if hasattr(getattr(getattr(rng, "bit_generator", None), "_state", None), "shape"):
        return "curand"
    return "object"


def _rng_state(rng: Any, backend: Backend) -> tuple[str, Any]:
    kind = _rng_kind(rng)
    if kind == "numpy":
        return kind, rng.bit_generator.state
    if kind == "counter":
        return kind, rng.state.copy()  # on the device: a capture records the copy
    if kind == "curand":
        return kind, rng.bit_generator._state.copy()
    try:
        return kind, copy.deepcopy(vars(rng))
    except Exception as exc:  # noqa: BLE001 - any generator that cannot be copied
        raise AutogradError(
            f"checkpoint: cannot save the state of the random generator of {backend.device} "
            f"({type(rng).__name__}: {exc}); pass preserve_rng_state=False"
        ) from exc


def _set_rng_state(rng: Any, backend: Backend, kind: str, state: Any) -> None:
    now = _rng_kind(rng)
    if now != kind:
        raise AutogradError(
            f"checkpoint: the random generator of {backend.device} changed from a {kind} one to a {now} one "
            "between the forward and the backward pass (a CUDA graph capture that covers only one of them?); "
            "pass preserve_rng_state=False, or run both inside the capture"
        )
    if kind == "numpy":
        rng.bit_generator.state = state
    elif kind == "counter":
        rng.state[...] = state
    elif kind == "curand":
        rng.bit_generator._state[...] = state
    else:
        vars(rng).update(copy.deepcopy(state))
