"""PyTorch's imperative autograd calls: ``gk.autograd.grad`` and ``gk.autograd.backward``.

Both run the engine (``run_backward``) from several roots at once. ``grad`` asks it for the
gradients of ``inputs`` and returns them; ``backward`` adds them to ``.grad``, of every leaf or
of ``inputs`` only. With ``inputs`` only the part of the graph between the outputs and the inputs
runs, as in PyTorch (hooks elsewhere are not called). As in PyTorch, the tensors on that path that
called ``retain_grad()`` get their ``.grad`` from ``grad`` too.

``grad(..., is_grads_batched=True)`` runs the engine once per batch row of ``grad_outputs`` (PyTorch
vmaps one pass; gradkit's vmap, gk.func.vmap, is a loop too) and stacks the rows' gradients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gradkit._args import flag
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.errors import ArgumentTypeError, AutogradError, InvalidArgumentError, ShapeError, describe
from gradkit.tensor import Tensor

__all__ = ["grad", "backward"]

Tensors = Tensor | Iterable[Tensor]


def grad(
    outputs: Tensors,
    inputs: Tensors | Mapping[str, Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
    is_grads_batched: bool = False,
) -> tuple[Tensor | None, ...] | dict[str, Tensor | None]:
    """The gradients of ``outputs`` (weighted by ``grad_outputs``) with respect to ``inputs``.

    Returns a tuple, one gradient per input (a dict for a dict of inputs); no ``.grad`` of a leaf is
    changed. An input the outputs do not depend on raises, unless ``allow_unused`` (None for it) or
    ``materialize_grads`` (zeros). With ``create_graph`` the gradients are differentiable.
    With ``is_grads_batched`` each ``grad_outputs[i]`` has shape ``(B, *outputs[i].shape)`` and each
    gradient ``(B, *input.shape)``: one vector-Jacobian product per row (rows of a Jacobian).
    """
    op = "autograd.grad"
    create_graph = flag(create_graph, op, "create_graph")
    retain_graph = create_graph if retain_graph is None else flag(retain_graph, op, "retain_graph")
    materialize_grads = flag(materialize_grads, op, "materialize_grads")
    allow_unused = materialize_grads if allow_unused is None else flag(allow_unused, op, "allow_unused")
    if materialize_grads and not allow_unused:
        raise InvalidArgumentError(
            f"{op}: materialize_grads=True gives zeros for unused inputs, so allow_unused must be True or "
            "left out, got allow_unused=False"
        )
    names, xs = _inputs(inputs, op)
    ys = _tensors(outputs, op, "outputs")
    batch: tuple[int, ...] = ()
    if is_grads_batched is not False and flag(is_grads_batched, op, "is_grads_batched"):
        grads, batch = _batched_grads(ys, xs, grad_outputs, retain_graph, create_graph, op)
    else:
        seeds = _seeds(ys, grad_outputs, op, "grad_outputs")
        grads = run_backward(ys, seeds, retain_graph, create_graph, inputs=xs, retained=True)
    results = [
        _unused(x, i, op, materialize_grads, allow_unused, batch) if g is None else g
        for i, (x, g) in enumerate(zip(xs, grads, strict=True))
    ]
    return tuple(results) if names is None else dict(zip(names, results, strict=True))


def backward(
    tensors: Tensors,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensors | Mapping[str, Tensor] | None = None,
) -> None:
    """Add the gradients of ``tensors`` (weighted by ``grad_tensors``) to ``.grad``, as
    ``Tensor.backward`` does for one tensor: of every leaf, or only of ``inputs`` (leaves or not)."""
    op = "autograd.backward"
    create_graph = flag(create_graph, op, "create_graph")
    retain_graph = create_graph if retain_graph is None else flag(retain_graph, op, "retain_graph")
    ys = _tensors(tensors, op, "tensors")
    seeds = _seeds(ys, grad_tensors, op, "grad_tensors")
    if inputs is None:
        if ys:
            run_backward(ys, seeds, retain_graph, create_graph)
        return
    xs = _inputs(inputs, op)[1]
    run_backward(ys, seeds, retain_graph, create_graph, inputs=xs, accumulate=True)


def _tensors(value: Any, op: str, what: str) -> list[Tensor]:
    """A Tensor or an iterable of Tensors (a list, a tuple, ``model.parameters()``) as a list."""
    if isinstance(value, Tensor):
        return [value]
    if _not_a_sequence(value):
        raise ArgumentTypeError(f"{op}: {what} must be a Tensor or a sequence of Tensors, got {describe(value)}")
    items = list(value)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: {what}[{i}] must be a Tensor, got {describe(t)}")
    return items


def _not_a_sequence(value: Any) -> bool:
    return isinstance(value, (str, bytes, Mapping)) or hasattr(value, "shape") or not isinstance(value, Iterable)


def _inputs(value: Any, op: str) -> tuple[list[str] | None, list[Tensor]]:
    """The tensors to differentiate with respect to, and their names when given as a dict."""
    names = None
    if isinstance(value, Mapping):
        names = list(value)
        value = list(value.values())
    xs = _tensors(value, op, "inputs")
    if not xs:
        raise AutogradError(f"{op}: inputs is empty; pass the tensors to differentiate with respect to")
    for i, x in enumerate(xs):
        if not x._requires_grad:
            raise AutogradError(
                f"{op}: inputs[{i}] (shape {x.shape}, dtype {x.dtype}) does not require grad, so it has no "
                "gradient; create it with requires_grad=True or call .requires_grad_()"
            )
    return names, xs


def _seeds(ys: list[Tensor], given: Any, op: str, what: str) -> list[Tensor]:
    """One gradient per output: ``given`` (None, a Tensor, or a sequence with None for implicit ones)."""
    if given is None:
        given = [None] * len(ys)
    elif isinstance(given, Tensor) or hasattr(given, "shape"):  # one gradient (an array too)
        given = [given]
    elif _not_a_sequence(given):
        raise ArgumentTypeError(f"{op}: {what} must be a Tensor, None or a sequence of them, got {describe(given)}")
    else:
        given = list(given)
    if len(given) != len(ys):
        raise InvalidArgumentError(f"{op}: {len(given)} {what} for {len(ys)} outputs; pass one per output")
    return [_seed(y, g, op, what, i) for i, (y, g) in enumerate(zip(ys, given, strict=True))]


def _seed(y: Tensor, g: Any, op: str, what: str, i: int) -> Tensor:
    _check_output(y, op, i)
    if g is None:
        if y._data.size != 1:
            raise AutogradError(
                f"{op}: a gradient can be created implicitly only for a one-element output, got output {i} of "
                f"shape {y.shape}; pass {what} with a tensor of that shape for it"
            )
        return Tensor._make(y._backend.xp.ones(y._data.shape, y._data.dtype), y._backend)
    g = y._as_same_device(g, op)
    if g.shape != y.shape:
        raise ShapeError(f"{op}: {what}[{i}] has shape {g.shape}, but output {i} has shape {y.shape}")
    return g if g.dtype == y.dtype else g.astype(y.dtype)  # gradients keep the dtypes of their values


def _batched_grads(
    ys: list[Tensor], xs: list[Tensor], given: Any, retain_graph: bool, create_graph: bool, op: str
) -> tuple[list[Tensor | None], tuple[int]]:
    """``grad`` with ``is_grads_batched``: the stacked gradients of one pass per row, and ``(B,)``.

    The graph is kept for every pass but the last, which frees it unless ``retain_graph``. The rows'
    ``retain_grad()`` gradients are not stored (PyTorch leaves a batched tensor there).
    """
    from gradkit.ops import stack

    with grad_mode.set_grad_enabled(create_graph):  # a differentiable seed is sliced, the rows stacked
        batched = _batched_seeds(ys, given, op)
        n = batched[0].shape[0]
        if n == 0:  # no vector-Jacobian product to compute; one pass with zero seeds finds the unused inputs
            zeros = [Tensor._make(y._backend.xp.zeros(y._data.shape, y._data.dtype), y._backend) for y in ys]
            rows = [run_backward(ys, zeros, retain_graph, create_graph, inputs=xs, retained=False)]
            return [None if g is None else stack([g])[:0] for g in rows[0]], (0,)
        rows = [
            run_backward(ys, [_row(g, b) for g in batched], retain_graph or b < n - 1, create_graph,
                         inputs=xs, retained=False)
            for b in range(n)
        ]
        grads: list[Tensor | None] = []
        for j, x in enumerate(xs):
            column = [row[j] for row in rows]
            if all(g is None for g in column):
                grads.append(None)
                continue
            zero = Tensor._make(x._backend.xp.zeros_like(x._data), x._backend)  # a row whose rule gave None
            grads.append(stack([zero if g is None else g for g in column]))
    return grads, (n,)


def _batched_seeds(ys: list[Tensor], given: Any, op: str) -> list[Tensor]:
    """``grad_outputs`` for ``is_grads_batched``: one ``(B, *y.shape)`` tensor per output, one B for all."""
    if not ys:
        raise InvalidArgumentError(
            f"{op}: is_grads_batched=True takes the batch size from grad_outputs, so it needs at least one "
            "output; got none"
        )
    if isinstance(given, Tensor) or hasattr(given, "shape"):
        given = [given]
    elif given is None or _not_a_sequence(given):
        raise ArgumentTypeError(
            f"{op}: is_grads_batched=True needs grad_outputs, a Tensor or a sequence of Tensors of shape "
            f"(B, *output.shape), got {describe(given)}"
        )
    else:
        given = list(given)
    if len(given) != len(ys):
        raise InvalidArgumentError(f"{op}: {len(given)} grad_outputs for {len(ys)} outputs; pass one per output")
    seeds: list[Tensor] = []
    for i, (y, g) in enumerate(zip(ys, given, strict=True)):
        _check_output(y, op, i)
        if g is None:  # as PyTorch: no implicit gradient when batched
            raise AutogradError(
                f"{op}: with is_grads_batched=True every output needs its grad_outputs, of shape "
                f"(B, *output.shape); got None for output {i} of shape {y.shape}"
            )
        g = y._as_same_device(g, op)
        if g.ndim == 0 or g.shape[1:] != y.shape:
            expected = "(B, " + ", ".join(map(str, y.shape)) + ")" if y.shape else "(B,)"
            raise ShapeError(
                f"{op}: with is_grads_batched=True grad_outputs[{i}] must have shape {expected} (a batch "
                f"dimension, then the shape {y.shape} of output {i}), got {g.shape}"
            )
        if seeds and g.shape[0] != seeds[0].shape[0]:
            raise ShapeError(
                f"{op}: with is_grads_batched=True every grad_outputs entry needs the same batch size B; "
                f"grad_outputs[{i}] has shape {g.shape} (B={g.shape[0]}), grad_outputs[0] has shape "
                f"{seeds[0].shape} (B={seeds[0].shape[0]})"
            )
        seeds.append(g if g.dtype == y.dtype else g.astype(y.dtype))
    return seeds


def _row(g: Tensor, b: int) -> Tensor:
    """Row ``b`` of a batched seed: recorded when it requires grad (create_graph), else a plain view."""
    if g._requires_grad and grad_mode.state.enabled:
        return g[b]
    return Tensor._make(g._data[b, ...], g._backend)  # the Ellipsis keeps a 0-d row an array


def _check_output(y: Tensor, op: str, i: int) -> None:
    if not y._requires_grad:
        raise AutogradError(
            f"{op}: output {i} (shape {y.shape}) does not require grad and has no grad_fn "
            "(were its inputs created with requires_grad=True, outside no_grad?)"
        )


def _unused(
    x: Tensor, i: int, op: str, materialize: bool, allow_unused: bool, batch: tuple[int, ...] = ()
) -> Tensor | None:
    """The result for an input the outputs do not depend on: zeros (``batch`` in front), None, or an AutogradError."""
    if materialize:
        xp = x._backend.xp
        return Tensor._make(xp.zeros(batch + x._data.shape, x._data.dtype) if batch else xp.zeros_like(x._data),
                            x._backend)
    if allow_unused:
        return None
    raise AutogradError(
        f"{op}: inputs[{i}] (shape {x.shape}) is not part of the graph of the outputs, so its gradient is "
        "undefined; pass allow_unused=True to get None for it, or materialize_grads=True to get zeros"
    )
