"""``gk.autograd.Function``: custom differentiable operations, written as in PyTorch.

A subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` as static methods and is
called through ``apply``::

    class Exp(gk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = gk.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

How a call joins the graph. ``forward`` runs with recording off. When an input requires grad, the
call becomes one ordinary ``Node`` named after the class, with one edge per argument of forward
(None for an argument that is not a Tensor or needs no gradient). The engine calls a node's rules
once per input edge; here every rule asks the same ``_Call`` (the node's only saved value), which
calls ``backward`` on the first request of a pass and hands each input its gradient from that one
result. The engine itself knows nothing of custom functions.

Several outputs (``forward`` returns a tuple). The function's node ``H`` takes the gradients of all
of its outputs at once: each differentiable output gets its own small node ``S_k`` (named
``Class[k]``) whose rule puts the gradient it receives in slot ``k`` of an ``_OutputGrads``. The
engine sums what reaches ``H`` with ``+``, which for ``_OutputGrads`` fills the slots; its
dependency count makes ``H`` wait for every ``S_k`` reachable from the roots, so ``backward`` runs
once per pass, with zeros for outputs that got no gradient.

Saved outputs. A tensor that ``forward`` returns and also saves is kept as its array, not as the
returned Tensor (which refers to the node, which would refer back to it: a reference cycle that
only the garbage collector frees). ``saved_tensors`` wraps the array again; under
``create_graph=True`` with the output's node as its ``grad_fn``, so that second derivatives of a
backward that uses it flow back through this function again (as ``record``'s ``save_output``).
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.autograd import function as _function
from gradkit.autograd import grad_mode
from gradkit.autograd.node import KEEP, Node, saves_nothing
from gradkit.errors import ArgumentTypeError, AutogradError, DeviceError, DTypeError, ShapeError, describe
from gradkit.ops.shape import sum_to
from gradkit.tensor import Tensor

_make = Tensor._make


class FunctionCtx:
    """The ``ctx`` that ``forward`` and ``backward`` of a ``gk.autograd.Function`` share.

    ``needs_input_grad`` is a tuple with one bool per argument of ``forward``: whether that argument
    is a Tensor whose gradient will be asked for. Any other attribute may be set in ``forward`` and
    read in ``backward`` (``ctx.axis = axis``). Tensors that ``backward`` needs go through
    ``save_for_backward``: they are checked for in-place changes before ``backward`` runs.
    """

    def __init__(self, name: str, needs_input_grad: tuple) -> None:
        self.needs_input_grad = needs_input_grad
        self._name = name
        self._in_forward = True
        self._to_save: tuple | None = None  # what forward passed to save_for_backward
        self._saved: tuple | None = None  # the same, resolved once forward has returned
        self._non_differentiable: tuple = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep ``tensors`` (Tensors or None) for ``backward`` (``ctx.saved_tensors``); forward only."""
        if not self._in_forward:
            raise AutogradError(f"{self._name}: save_for_backward can only be called in forward")
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise ArgumentTypeError(
                    f"{self._name}.forward: save_for_backward takes Tensors (or None), got {describe(t)} "
                    f"as argument {i}; keep other values as attributes of ctx (ctx.name = value)"
                )
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, in order (available in ``backward``)."""
        if self._in_forward:
            raise AutogradError(f"{self._name}: saved_tensors is available in backward, not in forward")
        saved = self._saved
        if saved is None:
            return ()
        if saved is _FREED:
            raise AutogradError(
                f"{self._name}: trying to backward through the graph a second time (or to access saved tensors "
                "after they have already been freed): the tensors saved for backward are freed when backward "
                "(or gk.autograd.grad) has run through this call without retain_graph=True; pass "
                "retain_graph=True to the first backward to keep them"
            )
        return tuple(s.unpack() if type(s) is _SavedOutput else s for s in saved)

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        """Declare outputs of ``forward`` that have no gradient (indices, masks); forward only.

        They do not require grad, and ``backward`` receives zeros for them.
        """
        if not self._in_forward:
            raise AutogradError(f"{self._name}: mark_non_differentiable can only be called in forward")
        for i, t in enumerate(outputs):
            if not isinstance(t, Tensor):
                raise ArgumentTypeError(
                    f"{self._name}.forward: mark_non_differentiable takes the Tensors that forward returns, "
                    f"got {describe(t)} as argument {i}"
                )
        self._non_differentiable = self._non_differentiable + outputs

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = flag(value, f"{self._name}: set_materialize_grads", "value")


#: ``FunctionCtx._saved`` once the call's node has been released (see ``_Call.__del__``).
_FREED: Any = object()


class Function:
    """Base class of custom differentiable operations (PyTorch's ``torch.autograd.Function``).

    Subclasses define two static methods:

    - ``forward(ctx, *args)``: computes the result(s) from the arguments (Tensors and any other
      values). It runs with gradient recording off: what it does to tensors is not recorded.
      It returns a Tensor, or a tuple of Tensors (and other values) for several outputs.
    - ``backward(ctx, *grads)``: one gradient per output of forward (zeros for an output that got
      none, None for an output that is not a Tensor); returns one gradient per argument of
      forward, a Tensor of that argument's shape, dtype and device, or None (required for an
      argument that is not a Tensor). A gradient of a broadcast shape is summed back to the
      argument's shape, as in PyTorch. Under ``backward(create_graph=True)`` its operations are
      recorded, so a backward written with gradkit operations has derivatives itself. For those,
      save inputs and outputs: a tensor that forward computed on the way is a constant to them
      (as in PyTorch); recompute it in backward instead.

    Call it as ``MyFunction.apply(*args)`` (positional arguments, as in PyTorch).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("a gk.autograd.Function subclass must define forward(ctx, *args) as a staticmethod")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError(
            "a gk.autograd.Function subclass must define backward(ctx, *grads) as a staticmethod to be differentiated"
        )

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        """PyTorch 2's other style: a subclass that defines ``setup_context(ctx, inputs, output)`` writes
        ``forward(*args)`` without ``ctx``; ``apply`` calls ``forward(*args)`` and then
        ``setup_context(ctx, args, output)`` (both with recording off), where ``save_for_backward``,
        ``mark_non_differentiable`` and ``ctx`` attributes go."""
        raise NotImplementedError("setup_context is not overridden")

    #: PyTorch's switch for a generated vmap rule; gk.func.vmap is a loop, so every Function maps as it is
    generate_vmap_rule = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = type(self).__name__
        raise ArgumentTypeError(f"{name}: call a gk.autograd.Function through its class: {name}.apply(...)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on ``args`` and, when an argument requires grad, record the call for backward."""
        name = cls.__name__
        if kwargs:
            raise ArgumentTypeError(
                f"{name}.apply: pass forward's arguments by position (as PyTorch's Function.apply), "
                f"got keyword arguments {sorted(kwargs)}"
            )
        recording = grad_mode.state.enabled
        needs = tuple(recording and isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx = FunctionCtx(name, needs)
        grad_mode.state.enabled = False
        try:
            if cls.setup_context is Function.setup_context:
                out = cls.forward(ctx, *args)
            else:  # forward(*args) without ctx, then setup_context(ctx, inputs, output) (PyTorch 2's style)
                out = cls.forward(*args)
                cls.setup_context(ctx, args, out)
        finally:
            grad_mode.state.enabled = recording
            ctx._in_forward = False
        if type(out) is list:
            raise ArgumentTypeError(f"{name}.forward returned a list; return a Tensor, or a tuple for several outputs")
        multi = type(out) is tuple
        outs = out if multi else (out,)
        non_diff = ctx._non_differentiable
        ctx._non_differentiable = ()
        metas: list[_Output | None] = []
        differentiable = []
        for o in outs:
            if isinstance(o, Tensor):
                metas.append(_Output(o._data.shape, o._data.dtype, o._backend))
                differentiable.append(o._data.dtype.kind == "f" and not any(o is t for t in non_diff))
            else:
                metas.append(None)
                differentiable.append(False)
        if not any(needs) or not any(differentiable):
            ctx._to_save = None  # no backward will run
            return out

        call = _Call(cls, ctx, args, needs, metas)
        edges = tuple((a._grad_fn or a) if n else None for a, n in zip(args, needs, strict=True))
        node = Node(name, shared_rules(len(args)), edges, (call,))
        if ctx._to_save is not None:
            versions = _resolve_saved(ctx, args, outs, differentiable, weakref.ref(node), multi)
            if versions:
                node.versions = versions
        if node.versions is None and call.saves_nothing():
            node.versions = KEEP  # backward leaves it in place: a second backward may run through it, as PyTorch's

        if multi:
            _function.observe(node)  # before its outputs' selector nodes, which _select_node observes
        results = []
        n = len(outs)
        for k, o in enumerate(outs):
            if not differentiable[k]:
                results.append(o)
                continue
            y = _make(o._data, o._backend, _select_node(node, k, n) if multi else node)
            y._version = o._version  # a new Tensor on the same memory: in-place changes through either are seen
            results.append(y)
        if not multi:
            _function.observe(node, results[0])  # gk.trace, anomaly mode, an enclosing checkpoint
            return results[0]
        return tuple(results)


def _select_node(node: Node, k: int, n: int) -> Node:
    """The node of output ``k`` of ``n``: it sends its gradient on to the function's ``node`` (which must have
    been passed to the observers already). Passed to the observers, without a tensor."""
    select = Node(f"{node.name}[{k}]", (_Select(k, n),), (node,), ())
    _function.observe(select)
    return select


class _Output:
    """Shape, dtype and backend of one Tensor output (for zeros, and saved outputs' wrappers)."""

    __slots__ = ("shape", "dtype", "backend")

    def __init__(self, shape: tuple, dtype: Any, backend: Any) -> None:
        self.shape = shape
        self.dtype = dtype
        self.backend = backend


class _SavedOutput:
    """A saved tensor that is also output ``k`` of ``n`` (None: the only one): its array, not the Tensor.

    ``node`` is a weak reference to the function's node: a strong one would make a cycle (node ->
    call -> ctx -> here -> node) that keeps the saved arrays alive until the garbage collector runs.
    """

    __slots__ = ("k", "n", "data", "backend", "version", "node")

    def __init__(self, k: int, n: int | None, t: Tensor, node: Any) -> None:
        self.k = k
        self.n = n
        self.data = t._data
        self.backend = t._backend
        self.version = t._version
        self.node = node

    def unpack(self) -> Tensor:
        grad_fn = None
        if grad_mode.state.enabled and self.node is not None:  # create_graph=True: in the graph again
            node = self.node()
            if node is not None:
                grad_fn = node if self.n is None else _select_node(node, self.k, self.n)
        t = _make(self.data, self.backend, grad_fn)
        t._version = self.version
        return t


def _resolve_saved(ctx: FunctionCtx, args: tuple, outs: tuple, differentiable: list, node: Any, multi: bool) -> list:
    """Turn what forward saved into ``ctx._saved``; return the (version cell, version) pairs to check."""
    saved: list[Any] = []
    versions = []
    for t in ctx._to_save or ():
        if t is None:
            saved.append(None)
            continue
        versions.append((t._version, t._version[0]))
        k = next((k for k, o in enumerate(outs) if o is t), None)
        if k is not None and not any(a is t for a in args):
            saved.append(_SavedOutput(k, len(outs) if multi else None, t, node if differentiable[k] else None))
        else:
            saved.append(t)
    ctx._to_save = None
    ctx._saved = tuple(saved)
    return versions


class _OutputGrads:
    """The gradients of a multi-output function's outputs: ``filled`` maps output k to its gradient, ``n`` is the
    number of outputs (``grads`` lists them, None where none came).

    What its output nodes send to the function's node; the engine adds them up with ``+``, which merges the
    smaller into the larger in place (both are the engine's own temporaries), so a function with T outputs
    costs O(T) to gather, not O(T^2).
    """

    __slots__ = ("filled", "n")

    def __init__(self, filled: dict, n: int) -> None:
        self.filled = filled
        self.n = n

    @property
    def grads(self) -> list:
        return [self.filled.get(k) for k in range(self.n)]

    def __add__(self, other: _OutputGrads) -> _OutputGrads:
        big, small = (self, other) if len(self.filled) >= len(other.filled) else (other, self)
        filled = big.filled
        for k, g in small.filled.items():
            filled[k] = g if k not in filled else filled[k] + g
        return big


class _Select:
    """The rule of output ``k``'s node: its gradient in slot ``k`` of ``n``."""

    __slots__ = ("k", "n")

    def __init__(self, k: int, n: int) -> None:
        self.k = k
        self.n = n

    def __call__(self, grad: Tensor) -> _OutputGrads:
        return _OutputGrads({self.k: grad}, self.n)


class SharedBackward:
    """The saved value of a node whose rules share one backward call (a Function call, a checkpoint).

    Rule i, from :func:`shared_rules`, asks ``grad_for(i, grad)``, which runs ``_backward(grad)`` (a list
    with one gradient per edge) once per pass and hands out entry i. Subclasses call ``_start(wanted)``:
    how many edges ask, after which the results are dropped.

    The results are kept per backward pass (keyed by its token, ``grad_mode.state.backward_pass``):
    passes on several threads may run through one graph at once (``retain_graph=True``).
    """

    __slots__ = ("wanted", "passes")

    def _start(self, wanted: int) -> None:
        self.wanted = wanted
        # pass token -> (the incoming gradient, the gradients computed from it, the edges served)
        self.passes: dict[Any, tuple[Any, list, set[int]]] = {}

    def grad_for(self, i: int, grad: Any) -> Any:
        # The engine asks for each edge it follows once per pass, in order; a pass with inputs may skip
        # some, so a cache for another gradient, or an edge asked twice, is remade.
        token = grad_mode.state.backward_pass
        passes = self.passes
        entry = passes.get(token)
        if entry is None or entry[0] is not grad or i in entry[2]:
            if passes:
                self._drop_ended()
            entry = (grad, self._backward(grad), set())
            passes[token] = entry
        g = entry[1][i]
        served = entry[2]
        served.add(i)
        if len(served) == self.wanted:  # every edge has its gradient: drop the cache
            passes.pop(token, None)
        return g

    def _drop_ended(self) -> None:
        """Forget the results of passes that have ended without asking for every edge (with inputs, or
        stopped by an error)."""
        passes = self.passes
        for token in tuple(passes):  # a copy made at once: other threads may change the dict meanwhile
            if token is None or not token.running:  # None: rules called outside a pass (gk.trace)
                passes.pop(token, None)

    def _backward(self, grad: Any) -> list:
        raise NotImplementedError


def _shared_grad(i: int, grad: Any, state: SharedBackward) -> Any:
    return state.grad_for(i, grad)


_RULES = tuple(partial(_shared_grad, i) for i in range(16))  # made once: shared by every node of up to 16 edges


def shared_rules(n: int) -> tuple:
    """``rules[i](grad, state)``: edge i's gradient, from the one backward call of this pass."""
    return _RULES[:n] if n <= len(_RULES) else tuple(partial(_shared_grad, i) for i in range(n))


class _Call(SharedBackward):
    """One recorded call of a Function: its node's saved value, until backward has run."""

    __slots__ = ("cls", "ctx", "inputs", "outputs")

    def __init__(self, cls: type, ctx: FunctionCtx, args: tuple, needs: tuple, outputs: list) -> None:
        self.cls = cls
        self.ctx = ctx
        # Per argument: (shape, dtype, backend) when its gradient is wanted, the type name of a
        # non-Tensor, None for a Tensor without grad. Only these, not the tensors: their memory is
        # not kept alive for backward unless forward saved them.
        self.inputs = [
            (a._data.shape, a._data.dtype, a._backend) if n else None if isinstance(a, Tensor) else type(a).__name__
            for a, n in zip(args, needs, strict=True)
        ]
        self.outputs = outputs
        self._start(sum(needs))

    def __del__(self) -> None:
        # The node held this call as its saved value: backward without retain_graph has released it (or the
        # graph is gone). A ctx kept elsewhere (a global, a closure) must not keep the saved tensors alive or
        # hand them out again: as PyTorch's, saved_tensors then raises.
        ctx = getattr(self, "ctx", None)
        if ctx is not None and ctx._saved is not None:
            ctx._saved = _FREED

    def saves_nothing(self) -> bool:
        """Whether backward may leave the call in place (see ``node.saves_nothing``): forward saved no
        tensors and set no ctx attribute that holds one or an array (a gradient-reversal layer's
        ``ctx.alpha``). As in PyTorch, a second backward through it then works without ``retain_graph``."""
        return saves_nothing(tuple(vars(self.ctx).values()))

    def _backward(self, grad: Any) -> list:
        cls, ctx = self.cls, self.ctx
        incoming = grad.grads if type(grad) is _OutputGrads else [grad]
        grads = []
        for meta, g in zip(self.outputs, incoming, strict=True):
            if g is None:
                if meta is not None and ctx.materialize_grads:
                    g = _make(meta.backend.xp.zeros(meta.shape, meta.dtype), meta.backend)
            elif g._owned:
                g._owned = False  # backward may keep it or return it for several inputs
            grads.append(g)
        result = cls.backward(ctx, *grads)
        return self._check(result)

    def _check(self, result: Any) -> list:
        """Per input, the gradient ``backward`` returned, checked and summed back to the input's shape."""
        name = self.cls.__name__
        if type(result) is list:
            result = tuple(result)
        elif type(result) is not tuple:
            result = (result,)
        n = len(self.inputs)
        if len(result) < n or any(g is not None for g in result[n:]):
            raise AutogradError(
                f"{name}.backward returned {len(result)} gradient{'s' if len(result) != 1 else ''}, expected {n}: "
                "one per argument of forward (None for an argument that is not a Tensor or has no gradient)"
            )
        out: list[Any] = [None] * n
        for i, (g, meta) in enumerate(zip(result, self.inputs, strict=False)):
            if g is None or meta is None:  # no gradient, or an input that does not require grad: discarded
                continue
            if not isinstance(g, Tensor):
                raise AutogradError(
                    f"{name}.backward returned {describe(g)} as the gradient of argument {i}; "
                    "a gradient is a Tensor or None"
                )
            if type(meta) is str:
                raise AutogradError(
                    f"{name}.backward returned a Tensor as the gradient of argument {i}, which is not a Tensor "
                    f"({meta}): its gradient must be None"
                )
            shape, dtype, backend = meta
            if g._backend is not backend:
                raise DeviceError(
                    f"{name}.backward returned the gradient of argument {i} on {g.device}, "
                    f"expected {backend.device} (the argument's device)"
                )
            if g._data.shape != shape:
                if not _expands_to(shape, g._data.shape):
                    raise ShapeError(
                        f"{name}.backward returned the gradient of argument {i} with shape {g.shape}, "
                        f"expected {shape} (the argument's shape)"
                    )
                g = sum_to(g, shape)  # a broadcast gradient, as PyTorch accepts it
            if g._data.dtype != dtype:
                raise DTypeError(
                    f"{name}.backward returned the gradient of argument {i} with dtype {g.dtype}, expected "
                    f"{np.dtype(dtype).name} (the argument's dtype); convert it with .astype()"
                )
            out[i] = g
        return out


def _expands_to(shape: tuple, target: tuple) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (a gradient of shape ``target`` sums back to it)."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(shape[::-1], target[::-1], strict=False))
