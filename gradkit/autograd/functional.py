"""PyTorch's ``torch.autograd.functional`` (``gk.autograd.functional``): jacobian, hessian, vjp, jvp, hvp, vhp.

Thin wrappers over gradkit's transforms (``gradkit/functional.py``): they take PyTorch's arguments
(``inputs`` a Tensor or a tuple of Tensors, ``v``, ``create_graph``, ``strict``) and give PyTorch's
result structures (a Tensor where ``inputs`` was a Tensor, a tuple where it was a tuple; Jacobians of
several outputs and inputs as tuples of tuples, ``J[i][j]`` of shape ``out_i.shape + in_j.shape``).

``create_graph`` runs the transform with grad mode on (results differentiable with respect to inputs
that require grad) or off (results detached). ``strict`` walks the recorded graph of ``func``'s outputs
(and, for the second-order functions, of its gradients) and raises ``AutogradError`` where one is
structurally independent of an input, as PyTorch does; values that are zero by arithmetic are not
independent. ``vectorize`` is accepted and has no effect (one reverse pass per output element), and
``strategy="forward-mode"`` gives the same values, computed by reverse mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradkit._args import flag
from gradkit.autograd import grad_mode
from gradkit.autograd.node import Node
from gradkit.errors import ArgumentTypeError, AutogradError, InvalidArgumentError, ShapeError, describe
from gradkit.functional import (
    _check_callable,
    _grad,
    _jacobian,
    _ones_like,
    _outputs,
    _to_float_tensor,
    _value_and_grad,
    _zeros_like,
)
from gradkit.functional import jvp as _jvp
from gradkit.functional import vjp as _vjp
from gradkit.tensor import Tensor

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"]

_STRATEGIES = ("reverse-mode", "forward-mode")


# ----------------------------------------------------------------- helpers
def reached(y: Tensor, xs: Sequence[Tensor]) -> list[bool]:
    """For each of ``xs``, whether the recorded graph of ``y`` leads to it (by structure, not by value)."""
    targets = {id(x._grad_fn if x._grad_fn is not None else x): j for j, x in enumerate(xs)}
    hit = [False] * len(xs)
    start: Any = y._grad_fn if y._grad_fn is not None else y
    stack = [start]
    seen = {id(start)}
    while stack:
        item = stack.pop()
        j = targets.get(id(item))
        if j is not None:
            hit[j] = True
            continue  # beyond an input lies the caller's graph
        if type(item) is Node:
            for edge in item.next:
                if edge is not None and id(edge) not in seen:
                    seen.add(id(edge))
                    stack.append(edge)
    return hit


def _as_inputs(value: Any, op: str, what: str = "inputs") -> tuple[bool, tuple[Tensor, ...]]:
    """``value`` (a Tensor or a tuple or list of them) as a tuple, and whether it was one."""
    is_tuple = isinstance(value, (tuple, list))
    items = tuple(value) if is_tuple else (value,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"{what}[{i}]" if is_tuple else what
            raise ArgumentTypeError(
                f"{op}: {what} must be a Tensor or a tuple of Tensors, got {describe(t)} as {where}"
            )
    if is_tuple and not items:
        raise ArgumentTypeError(f"{op}: {what} is an empty tuple; pass at least one Tensor")
    return is_tuple, items


def _float_inputs(value: Any, op: str) -> tuple[bool, tuple[Tensor, ...]]:
    is_tuple, xs = _as_inputs(value, op)
    for i, x in enumerate(xs):
        _to_float_tensor(x, op, f"inputs[{i}]" if is_tuple else "inputs")  # refuses other dtypes
    return is_tuple, xs


def _vectors(v: Any, refs: Sequence[Tensor], is_tuple: bool, op: str, of: str) -> list[Tensor]:
    """``v`` checked against ``refs`` (the outputs or the inputs): one Tensor of the same shape each."""
    _, vs = _as_inputs(v, op, "v")
    if len(vs) != len(refs):
        if is_tuple:
            raise InvalidArgumentError(f"{op}: v has {len(vs)} Tensor(s), but there are {len(refs)} {of}")
        raise InvalidArgumentError(f"{op}: v must be one Tensor (there is one {of[:-1]}), got {len(vs)}")
    for i, (u, r) in enumerate(zip(vs, refs, strict=True)):
        if u.shape != r.shape:
            where = f"v[{i}]" if is_tuple else "v"
            raise ShapeError(f"{op}: {where} has shape {u.shape}, but the {of[:-1]} has shape {r.shape}")
    return list(vs)  # the transforms move each to its output's (input's) device and dtype


def _ones_v(refs: Sequence[Tensor], op: str, of: str) -> list[Tensor]:
    """The implicit ``v``: allowed only for one one-element output (or input)."""
    if len(refs) != 1 or refs[0].size != 1:
        raise InvalidArgumentError(
            f"{op}: v can be None only when there is a single {of} with a single element, got "
            f"{len(refs)} {of}(s) of shape(s) {[r.shape for r in refs]}; pass v"
        )
    return [_ones_like(refs[0])]


def _flags(op: str, **values: Any) -> list[bool]:
    return [flag(value, op, name) for name, value in values.items()]


def _strategy(value: Any, op: str, name: str) -> None:
    if value not in _STRATEGIES:
        raise InvalidArgumentError(f"{op}: {name} must be 'reverse-mode' or 'forward-mode', got {value!r}")


def _strict_error(op: str, message: str) -> AutogradError:
    return AutogradError(f"{op}: {message}, which strict=True does not allow")


def _checked(func: Callable[..., Any], op: str, mode: str | None) -> Callable[..., Any]:
    """``func`` with its result checked (Tensors, errors naming ``op``) and, with ``mode``, strict's checks.

    ``mode``: "pairs" (every output reaches every input: a Jacobian), "inputs" (every output requires
    grad and every input is reached by some output: a VJP), "outputs" (as "inputs", and every output
    reaches some input: a JVP), "grads" (the function's gradients: each reaches some input, every input
    is reached by some gradient), "grad_pairs" (gradients: every one reaches every input: a Hessian).
    """

    def checked(*xs: Any) -> Any:
        result = func(*xs)
        outs, _ = _outputs(result, op)
        if mode is not None:
            _strict_check(outs, xs, op, mode)
        return result

    return checked


def _strict_check(outs: list[Tensor], xs: Sequence[Tensor], op: str, mode: str) -> None:
    what = "the gradient with respect to input" if mode.startswith("grad") else "output"
    hits = [reached(y, xs) for y in outs]
    for i, (y, hit) in enumerate(zip(outs, hits, strict=True)):
        if mode == "inputs" and not y.requires_grad:
            raise _strict_error(op, f"output {i} of the function does not require grad (it is not computed "
                                    "from the inputs by recorded operations)")
        if mode in ("outputs", "grads", "grad_pairs") and not any(hit):
            suffix = " (a linear function has a constant gradient)" if what != "output" else ""
            raise _strict_error(op, f"{what} {i} is independent of the inputs{suffix}")
        if mode in ("pairs", "grad_pairs"):
            for j, h in enumerate(hit):
                if not h:
                    raise _strict_error(op, f"{what} {i} is independent of input {j}")
    if mode in ("inputs", "outputs", "grads"):
        for j in range(len(xs)):
            if not any(hit[j] for hit in hits):
                of = "the function's gradients are" if mode == "grads" else "the function's outputs are"
                raise _strict_error(op, f"{of} independent of input {j}")


# -------------------------------------------------------------- functions
def vjp(
    func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple[Any, Any]:
    """``(func(inputs), v^T J)``: the vector-Jacobian product at ``inputs``.

    ``v`` has the structure of ``func``'s output (None for a one-element output: ones). The product is
    a Tensor where ``inputs`` is a Tensor and a tuple where it is a tuple.
    """
    op = "autograd.functional.vjp"
    _check_callable(func, op)
    create_graph, strict = _flags(op, create_graph=create_graph, strict=strict)
    is_tuple, xs = _float_inputs(inputs, op)
    f = _checked(func, op, "inputs" if strict else None)
    with grad_mode.set_grad_enabled(create_graph):
        out, vjp_fn = _vjp(f, *xs)
        outs = list(out) if isinstance(out, tuple) else [out]
        vs = _ones_v(outs, op, "output") if v is None else _vectors(v, outs, isinstance(out, tuple), op, "outputs")
        grads = vjp_fn(*vs)
    return out, grads if is_tuple else grads[0]


def jvp(
    func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple[Any, Any]:
    """``(func(inputs), J v)``: the Jacobian-vector product at ``inputs``.

    ``v`` has the structure of ``inputs`` (None for a one-element input: ones). The product has the
    structure of ``func``'s output. Computed with two reverse passes (the double-backward trick), as
    PyTorch does.
    """
    op = "autograd.functional.jvp"
    _check_callable(func, op)
    create_graph, strict = _flags(op, create_graph=create_graph, strict=strict)
    is_tuple, xs = _float_inputs(inputs, op)
    vs = _ones_v(xs, op, "input") if v is None else _vectors(v, xs, is_tuple, op, "inputs")
    f = _checked(func, op, "outputs" if strict else None)
    with grad_mode.set_grad_enabled(create_graph):
        return _jvp(f, xs, vs)


def jacobian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of ``func`` at ``inputs``: ``J[i][j]`` of shape ``out_i.shape + in_j.shape``.

    A Tensor for a Tensor output and a Tensor input; a tuple over the inputs (a tuple input), over the
    outputs (a tuple output), or a tuple over the outputs of tuples over the inputs (both).
    ``vectorize`` has no effect and ``strategy="forward-mode"`` computes the same values by reverse mode.
    """
    op = "autograd.functional.jacobian"
    _check_callable(func, op)
    create_graph, strict, _ = _flags(op, create_graph=create_graph, strict=strict, vectorize=vectorize)
    _strategy(strategy, op, "strategy")
    is_tuple, xs = _float_inputs(inputs, op)
    argnums: Any = tuple(range(len(xs))) if is_tuple else 0
    with grad_mode.set_grad_enabled(create_graph):
        return _jacobian(_checked(func, op, "pairs" if strict else None), argnums, op)(*xs)


def hessian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of scalar ``func`` at ``inputs``: shape ``in.shape + in.shape`` for a Tensor input,
    a tuple of tuples ``H[i][j]`` of shape ``in_i.shape + in_j.shape`` for a tuple input."""
    op = "autograd.functional.hessian"
    _check_callable(func, op)
    create_graph, strict, _ = _flags(op, create_graph=create_graph, strict=strict, vectorize=vectorize)
    _strategy(outer_jacobian_strategy, op, "outer_jacobian_strategy")
    is_tuple, xs = _float_inputs(inputs, op)
    argnums: Any = tuple(range(len(xs))) if is_tuple else 0
    f = _checked(func, op, "inputs" if strict else None)
    g = _checked(_grad(f, argnums, op), op, "grad_pairs" if strict else None)
    with grad_mode.set_grad_enabled(create_graph):
        return _jacobian(g, argnums, op)(*xs)


def _value_and_grads(func: Callable[..., Any], argnums: Any, op: str, strict: bool) -> Callable[..., tuple]:
    """``x -> (func(x), *gradients)``, with strict's checks on the gradients."""
    f = _checked(func, op, "inputs" if strict else None)
    vg = _value_and_grad(f, argnums, op)

    def value_and_grads(*xs: Any) -> tuple:
        value, grads = vg(*xs)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if strict:
            _strict_check(list(grads), xs, op, "grads")
        return (value, *grads)

    return value_and_grads


def _second_order_setup(func: Any, inputs: Any, v: Any, create_graph: Any, strict: Any, op: str) -> tuple:
    _check_callable(func, op)
    create_graph, strict = _flags(op, create_graph=create_graph, strict=strict)
    is_tuple, xs = _float_inputs(inputs, op)
    vs = _ones_v(xs, op, "input") if v is None else _vectors(v, xs, is_tuple, op, "inputs")
    argnums: Any = tuple(range(len(xs))) if is_tuple else 0
    return _value_and_grads(func, argnums, op, strict), create_graph, is_tuple, xs, vs


def hvp(
    func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple[Tensor, Any]:
    """``(func(inputs), H v)`` for scalar ``func``: ``v`` and the product have the structure of ``inputs``.

    Computed as the Jacobian-vector product of the gradient (forward over reverse, by the
    double-backward trick).
    """
    op = "autograd.functional.hvp"
    vg, create_graph, is_tuple, xs, vs = _second_order_setup(func, inputs, v, create_graph, strict, op)
    with grad_mode.set_grad_enabled(create_graph):
        outs, tangents = _jvp(vg, xs, vs)
    return outs[0], tangents[1:] if is_tuple else tangents[1]


def vhp(
    func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple[Tensor, Any]:
    """``(func(inputs), v^T H)`` for scalar ``func``: ``v`` and the product have the structure of ``inputs``.

    Computed as the vector-Jacobian product of the gradient (reverse over reverse).
    """
    op = "autograd.functional.vhp"
    vg, create_graph, is_tuple, xs, vs = _second_order_setup(func, inputs, v, create_graph, strict, op)
    with grad_mode.set_grad_enabled(create_graph):
        outs, vjp_fn = _vjp(vg, *xs)
        products = vjp_fn(_zeros_like(outs[0]), *vs)
    return outs[0], products if is_tuple else products[0]
