"""Function transforms on the reverse-mode engine: grad, value_and_grad, vjp, jvp, jacobian, hessian.

Each transform calls ``f`` on fresh inputs that require grad, then runs the
engine with ``run_backward(..., inputs=...)``, which returns gradients and
leaves every ``.grad`` untouched. When the result may be differentiated
again (grad mode is on and ``f``'s graph reaches a tensor from outside the
transform: an argument that requires grad, a tensor ``f`` closes over, or
the inputs of an enclosing transform), the backward pass is recorded
(``create_graph=True``), so transforms compose to any order:
``gk.grad(gk.grad(gk.grad(f)))``. Otherwise the results are plain tensors
with no graph attached.

Arguments that are differentiated may be Tensors of a floating dtype,
Python numbers, lists or NumPy/CuPy arrays; the latter become float64
tensors (float arrays keep their dtype) on the default device.

``f`` must compute with gradkit operations and return Tensors: a Python or
NumPy number or an array (what NumPy functions, ``.item()`` and ``float()``
give) has no graph back to the inputs and raises ``AutogradError``. A Tensor
output that does not depend on an input (a constant, an unused argument)
gives that input a zero gradient.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.autograd.function import record
from gradkit.autograd.node import Node
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    DTypeError,
    IndexOutOfRangeError,
    ShapeError,
    describe,
)
from gradkit.ops._util import pass_through
from gradkit.tensor import Tensor

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian"]


# ----------------------------------------------------------------- helpers
def _to_float_tensor(x: Any, op: str, what: str) -> Tensor:
    """``x`` as a floating-point Tensor (Python numbers and lists become float64)."""
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise DTypeError(
                f"{op}: {what} must be a floating-point tensor to be differentiated, got dtype {x.dtype}; "
                "convert it with .astype(gk.float64)"
            )
        return x
    from gradkit.creation import tensor

    if isinstance(x, (bool, np.bool_)) or getattr(getattr(x, "dtype", None), "kind", None) == "b":
        raise DTypeError(f"{op}: {what} is a bool; only numbers can be differentiated (got {describe(x)})")
    python = isinstance(x, (int, float, list, tuple, np.integer, np.floating))
    try:
        t = tensor(x, dtype=np.float64 if python else None)
    except Exception as exc:
        hint = ""
        if isinstance(x, (list, tuple)) and any(hasattr(e, "shape") or isinstance(e, (list, tuple)) for e in x):
            hint = (
                "; a list of arrays of different shapes (parameters such as [W, b]) is not one tensor: pass each "
                "as its own argument and differentiate them together with argnums=(0, 1, ...)"
            )
        raise ArgumentTypeError(
            f"{op}: {what} must be a Tensor, a Python number, a list or an array, got {describe(x)}{hint}"
        ) from exc
    if t.dtype.kind != "f":
        t = t.astype(np.float64)
    return t


# The leaves that transforms made for their inputs, registered once the transform's call of ``f``
# has returned (id -> weak reference). A graph reaching only such leaves is connected to nothing a
# caller could still differentiate; the leaves of an enclosing transform, whose ``f`` is still
# running, are not registered yet and so count as connected.
_FINISHED: dict[int, weakref.ref] = {}


def _finish_leaves(leaves: Sequence[Tensor]) -> None:
    for t in leaves:
        if t._grad_fn is None:
            key = id(t)
            _FINISHED[key] = weakref.ref(t, lambda _ref, key=key: _FINISHED.pop(key, None))


def _is_finished(t: Tensor) -> bool:
    ref = _FINISHED.get(id(t))
    return ref is not None and ref() is t


def _fresh_input(x: Tensor) -> Tensor:
    """A tensor equal to ``x`` that requires grad; connected to ``x`` when ``x`` is being recorded."""
    if x.requires_grad and grad_mode.state.enabled:
        return record("identity", x._data, x._backend, (x,), (pass_through,))
    return x.detach().requires_grad_(True)


def _argnums(argnums: Any, nargs: int, op: str) -> tuple[tuple[int, ...], bool]:
    """``argnums`` as a tuple of non-negative indices, and whether it was a single int."""
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, (tuple, list)) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in nums
    ):
        raise ArgumentTypeError(f"{op}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if len(nums) == 0:
        raise ArgumentTypeError(f"{op}: argnums must name at least one argument, got {argnums!r}")
    out = []
    for n in nums:
        if not -nargs <= n < nargs:
            raise IndexOutOfRangeError(
                f"{op}: argnums={argnums!r} names argument {n}, but the function was called with {nargs} "
                "positional argument(s)"
            )
        out.append(int(n) % nargs)
    if len(set(out)) != len(out):
        raise ArgumentTypeError(f"{op}: argnums has repeated entries: {argnums!r}")
    return tuple(out), single


def _prepare(args: tuple, nums: Sequence[int], op: str) -> tuple[list, list[Tensor]]:
    """The call's arguments with the differentiated ones replaced by fresh inputs."""
    args = list(args)
    xs = []
    for n in nums:
        x = _to_float_tensor(args[n], op, f"argument {n}")
        x_in = _fresh_input(x)
        args[n] = x_in
        xs.append(x_in)
    return args, xs


def _connected(tensors: Sequence[Tensor], xs: Sequence[Tensor]) -> bool:
    """Whether the graph of ``tensors`` reaches a tensor requiring grad besides finished transform inputs.

    Marks ``xs`` (this transform's inputs) finished first.
    """
    _finish_leaves(xs)
    stack: list[Node] = []
    for t in tensors:
        if t._grad_fn is not None:
            stack.append(t._grad_fn)
        elif t._requires_grad and not _is_finished(t):
            return True
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.next:
            if edge is None:
                continue
            if type(edge) is Node:
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)
            elif not _is_finished(edge):
                return True
    return False


def _outputs(result: Any, op: str) -> tuple[list[Tensor], bool]:
    """``f``'s result as a list of Tensors and whether it was a single Tensor."""
    single = not isinstance(result, (tuple, list))
    items = [result] if single else list(result)
    outs = []
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            if _is_graphless_value(item):
                raise _graphless_error(item, op, "" if single else f" as output {i}")
            where = "" if single else f" (output {i})"
            raise ArgumentTypeError(
                f"{op}: the function must return a Tensor or a tuple of Tensors, got {describe(item)}{where}"
            )
        outs.append(item)
    return outs, single


def _is_graphless_value(x: Any) -> bool:
    """Whether ``x`` is a number or an array that is not a Tensor (a value computed outside gradkit's graph)."""
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, complex, np.number)):
        return True
    array_like = hasattr(x, "__array__") or hasattr(x, "__cuda_array_interface__")
    return hasattr(x, "shape") and hasattr(x, "dtype") and array_like


def _graphless_error(x: Any, op: str, where: str = "") -> AutogradError:
    """The error for ``f`` returning a number or an array: its value has no graph back to the inputs."""
    if isinstance(x, np.generic):
        what = f"a NumPy {x.dtype} number ({x.item()!r:.40})"
    elif isinstance(x, (int, float, complex)):
        what = f"a Python {type(x).__name__} ({x!r:.40})"
    else:
        what = f"an array ({describe(x)})"
    return AutogradError(
        f"{op}: the function returned {what}{where}, not a Tensor, so it has no graph back to the inputs "
        "and every gradient would be zero. NumPy functions (np.dot, np.linalg.norm, np.where, ...) and "
        ".item()/float() drop the graph: write the function with gradkit operations (gk.dot, gk.norm, "
        "gk.where, x.sum(), ...). For a function that is constant on purpose, return a Tensor "
        "(e.g. gk.tensor(3.0)): its gradients are zeros"
    )


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor._make(x._backend.xp.zeros_like(x._data), x._backend)


def _ones_like(x: Tensor) -> Tensor:
    return Tensor._make(x._backend.xp.ones_like(x._data), x._backend)


def _backward(
    outs: Sequence[Tensor], cotangents: Sequence[Tensor], xs: Sequence[Tensor], create: bool, retain: bool
) -> list[Tensor]:
    """Gradients of ``sum <cotangent, out>`` with respect to ``xs`` (zeros where unreached)."""
    pairs = [(y, c) for y, c in zip(outs, cotangents, strict=True) if y.requires_grad]
    if pairs:
        grads = run_backward(
            [y for y, _ in pairs],
            [c for _, c in pairs],
            retain_graph=retain or create,
            create_graph=create,
            inputs=list(xs),
        )
    else:
        grads = [None] * len(xs)
    return [_zeros_like(x) if g is None else g for x, g in zip(xs, grads, strict=True)]


def _finish(t: Tensor, create: bool) -> Tensor:
    return t if create else t.detach()


def _check_cotangent(c: Any, y: Tensor, op: str, i: int) -> Tensor:
    c = _to_float_tensor(c, op, f"cotangent {i}") if not isinstance(c, Tensor) else c
    if c.shape != y.shape:
        raise ShapeError(f"{op}: cotangent {i} has shape {c.shape}, but the output has shape {y.shape}")
    if c._backend is not y._backend:
        c = c.to(y.device)
    if c.dtype != y.dtype:
        c = c.astype(y.dtype)
    return c


# -------------------------------------------------------------- transforms

def _check_callable(f: Any, op: str) -> None:
    if not callable(f):
        raise ArgumentTypeError(f"{op}: expected a function to transform, got {type(f).__name__} {f!r:.60}")

def value_and_grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., tuple[Tensor, Any]]:
    """A function returning ``(f(*args), gradient)`` for a scalar-valued ``f``.

    ``f`` must return a one-element Tensor (shape ``()``, ``(1,)``, ...).
    The gradient is a Tensor shaped like argument ``argnums`` when it is an
    int, and a tuple of them when ``argnums`` is a tuple.
    """
    return _value_and_grad(f, argnums, "value_and_grad")


def _value_and_grad(f: Callable[..., Any], argnums: Any, op: str) -> Callable[..., tuple[Tensor, Any]]:
    """``value_and_grad``, with ``op`` (the public transform called) named in errors."""
    _check_callable(f, op)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Tensor, Any]:
        nums, single = _argnums(argnums, len(args), op)
        outer = grad_mode.state.enabled
        call_args, xs = _prepare(args, nums, op)
        with grad_mode.enable_grad():
            result = f(*call_args, **kwargs)
        out = _scalar_output(result, op)
        create = outer and _connected([out], xs)
        grads = _backward([out], [_ones_like(out)], xs, create, retain=False)
        grads = [_finish(g, create) for g in grads]
        return _finish(out, create), grads[0] if single else tuple(grads)

    _wraps(value_and_grad_f, f, op)
    return value_and_grad_f


def _scalar_output(result: Any, op: str) -> Tensor:
    """``f``'s result checked to be a one-element floating-point Tensor.

    A number or an array (NumPy's ``np.dot(x, x)``, ``float(x.sum())``, ``x.sum().item()``) is refused:
    it was computed outside the graph, so its gradient would be silently zero. A Tensor that does not
    depend on the inputs (a constant, an unused argument) is accepted and gives zeros.
    """
    if not isinstance(result, Tensor):
        if _is_graphless_value(result):
            raise _graphless_error(result, op)
        raise ArgumentTypeError(f"{op}: the function must return a scalar Tensor (one element), got {describe(result)}")
    if result.size != 1:
        raise ShapeError(
            f"{op}: the function must return a scalar (a one-element tensor), got shape {result.shape}; "
            "use gk.jacobian or gk.vjp for functions with non-scalar outputs"
        )
    if result.dtype.kind != "f":
        raise DTypeError(f"{op}: the function must return a floating-point scalar, got dtype {result.dtype}")
    return result


def grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """A function returning the gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Composes with itself and the other transforms to any order:
    ``gk.grad(gk.grad(f))(x)`` is the second derivative of a scalar function.
    """
    return _grad(f, argnums, "grad")


def _grad(f: Callable[..., Any], argnums: Any, op: str) -> Callable[..., Any]:
    vg = _value_and_grad(f, argnums, op)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    _wraps(grad_f, f, op)
    return grad_f


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., tuple[Tensor, ...]]]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns ``J^T cotangent`` for each primal, as a tuple.

    When ``f`` returns a tuple of Tensors, ``vjp_fn`` takes one cotangent per
    output (as separate arguments or one tuple). ``vjp_fn`` may be called
    any number of times.
    """
    _check_callable(f, "vjp")
    if not primals:
        raise ArgumentTypeError("vjp: pass at least one primal: gk.vjp(f, x, ...)")
    outer = grad_mode.state.enabled
    call_args, xs = _prepare(primals, range(len(primals)), "vjp")
    with grad_mode.enable_grad():
        result = f(*call_args)
    outs, single = _outputs(result, "vjp")
    create = outer and _connected(outs, xs)

    def vjp_fn(*cotangents: Any) -> tuple[Tensor, ...]:
        if len(cotangents) == 1 and not single and isinstance(cotangents[0], (tuple, list)):
            cotangents = tuple(cotangents[0])
        if len(cotangents) != len(outs):
            raise ArgumentTypeError(
                f"vjp_fn: expected {len(outs)} cotangent(s), one per output of f, got {len(cotangents)}"
            )
        cs = [_check_cotangent(c, y, "vjp_fn", i) for i, (c, y) in enumerate(zip(cotangents, outs, strict=True))]
        grads = _backward(outs, cs, xs, create and grad_mode.state.enabled, retain=True)
        return tuple(_finish(g, create) for g in grads)

    shown = [_finish(y, create) for y in outs]
    return (shown[0] if single else tuple(shown)), vjp_fn


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[Any, Any]:
    """``(f(*primals), J @ tangents)``: a forward-mode (Jacobian-vector) product.

    Method: the double-VJP trick on the reverse engine. With a dummy
    cotangent ``u`` that requires grad, one reverse pass recorded with
    ``create_graph=True`` gives ``g(u) = J^T u``, which is linear in ``u``;
    a second reverse pass of ``<g(u), tangents>`` with respect to ``u`` gives
    ``J tangents``. It costs about two reverse passes, and works for every op
    whose VJP rule is written with differentiable Tensor operations.
    ``primals`` and ``tangents`` are tuples (a single Tensor is accepted too);
    each tangent has its primal's shape. For a tuple-valued ``f`` both results are tuples.
    """
    _check_callable(f, "jvp")
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ArgumentTypeError(
            f"jvp: got {len(primals)} primal(s) but {len(tangents)} tangent(s); pass one per primal"
        )
    if not primals:
        raise ArgumentTypeError("jvp: pass at least one primal")
    outer = grad_mode.state.enabled
    call_args, xs = _prepare(primals, range(len(primals)), "jvp")
    vs = []
    for i, (v, x) in enumerate(zip(tangents, xs, strict=True)):
        v = _to_float_tensor(v, "jvp", f"tangent {i}")
        if v.shape != x.shape:
            raise ShapeError(f"jvp: tangent {i} has shape {v.shape}, but primal {i} has shape {x.shape}")
        if v._backend is not x._backend:
            v = v.to(x.device)
        vs.append(v.astype(x.dtype) if v.dtype != x.dtype else v)
    with grad_mode.enable_grad():
        result = f(*call_args)
        outs, single = _outputs(result, "jvp")
        create = outer and (_connected(outs, xs) or _connected(vs, xs))
        us = []
        for y in outs:
            u = _zeros_like(y).requires_grad_(True) if y.dtype.kind == "f" else None
            if u is not None:
                _finish_leaves([u])
            us.append(u)
        pairs = [(y, u) for y, u in zip(outs, us, strict=True) if u is not None and y.requires_grad]
        if pairs:
            gs = run_backward(
                [y for y, _ in pairs],
                [u for _, u in pairs],
                retain_graph=True,
                create_graph=True,
                inputs=xs,
            )
        else:
            gs = [None] * len(xs)
    roots = [(g, v) for g, v in zip(gs, vs, strict=True) if g is not None and g.requires_grad]
    live_us = [u for _, u in pairs]
    tangent_out: list[Any] = [None] * len(outs)
    if roots and live_us:
        dus = run_backward(
            [g for g, _ in roots],
            [v for _, v in roots],
            retain_graph=create,
            create_graph=create,
            inputs=live_us,
        )
        for du, u in zip(dus, live_us, strict=True):
            tangent_out[next(i for i, w in enumerate(us) if w is u)] = du
    tangent_out = [_finish(_zeros_like(y) if t is None else t, create) for y, t in zip(outs, tangent_out, strict=True)]
    shown = [_finish(y, create) for y in outs]
    if single:
        return shown[0], tangent_out[0]
    return tuple(shown), tuple(tangent_out)


def jacobian(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """A function returning the Jacobian of ``f`` with respect to argument(s) ``argnums``.

    For an output of shape ``out.shape`` and an input of shape ``in.shape``
    the Jacobian has shape ``out.shape + in.shape`` (an (m, n) matrix for
    f: R^n -> R^m). It takes one reverse pass per output element. With a
    tuple ``argnums`` the result is a tuple over the arguments; with a
    tuple-valued ``f`` a tuple over the outputs (of tuples, when both are tuples).
    """
    return _jacobian(f, argnums, "jacobian")


def _jacobian(f: Callable[..., Any], argnums: Any, op: str) -> Callable[..., Any]:
    """``jacobian``, with ``op`` (the public transform called) named in errors."""
    _check_callable(f, op)

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single_arg = _argnums(argnums, len(args), op)
        outer = grad_mode.state.enabled
        call_args, xs = _prepare(args, nums, op)
        with grad_mode.enable_grad():
            result = f(*call_args, **kwargs)
        outs, single_out = _outputs(result, op)
        create = outer and _connected(outs, xs)
        from gradkit.ops import reshape, stack

        per_out = []
        for y in outs:
            if y.dtype.kind != "f":
                raise DTypeError(f"{op}: the function's outputs must be floating-point, got dtype {y.dtype}")
            rows: list[list[Tensor]] = [[] for _ in xs]
            xp = y._backend.xp
            for k in range(y.size):
                e = xp.zeros(y.size, dtype=y.dtype)
                e[k] = 1
                grads = _backward([y], [Tensor._make(e.reshape(y.shape), y._backend)], xs, create, retain=True)
                for j, g in enumerate(grads):
                    rows[j].append(g)
            jacs = []
            for x, r in zip(xs, rows, strict=True):
                if r:
                    with grad_mode.set_grad_enabled(create):
                        jac = reshape(stack(r), y.shape + x.shape)
                else:
                    jac = Tensor._make(x._backend.xp.zeros(y.shape + x.shape, dtype=x.dtype), x._backend)
                jacs.append(_finish(jac, create))
            per_out.append(jacs[0] if single_arg else tuple(jacs))
        return per_out[0] if single_out else tuple(per_out)

    _wraps(jacobian_f, f, op)
    return jacobian_f


def hessian(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Hessian of scalar-valued ``f``: ``jacobian(grad(f, argnums), argnums)``.

    For an input of shape ``s`` the result has shape ``s + s``; with a tuple
    ``argnums`` it is a tuple of tuples, ``H[i][j]`` of shape ``si + sj``.
    """
    _check_callable(f, "hessian")
    h = _jacobian(_grad(f, argnums, "hessian"), argnums, "hessian")
    _wraps(h, f, "hessian")
    return h


def _wraps(wrapper: Callable, f: Callable, op: str) -> None:
    name = getattr(f, "__name__", type(f).__name__)
    wrapper.__name__ = f"{op}({name})"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = getattr(f, "__doc__", None)
