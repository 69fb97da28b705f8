"""PyTorch's ``torch.func`` names (``gk.func``): grad, grad_and_value, vjp, jvp, linearize, jacrev, jacfwd,
hessian, functional_call, stack_module_state, replace_all_batch_norm_modules_, vmap and functionalize (an
identity wrapper here: gradkit has no mutation-removal pass).

The transforms are gradkit's (``gradkit/functional.py``) with torch.func's conventions on top:
arguments and results may be pytrees (Tensors inside tuples, lists and dicts, such as a dict of
parameters), ``has_aux`` functions return ``(output, aux)``, and ``vjp`` returns a ``vjp_fn`` that
takes one cotangent shaped like the output. Each pytree is flattened to its Tensors, the transform
runs on a function of those, and its results are put back in the pytree's shape.

``vmap`` is a Python loop, not a batching transform: it calls the function once per index of the
mapped dimension and stacks the results with ``gk.stack``. It gives vmap's results (per-sample
gradients with ``vmap(grad(f))`` included) at the cost of a loop, and ``randomness`` cannot be
enforced: every call draws its own random numbers, as with ``randomness="different"``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.autograd.functional import reached
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
    describe,
)
from gradkit.functional import (
    _argnums,
    _check_callable,
    _connected,
    _finish_leaves,
    _jacobian,
    _scalar_output,
    _to_float_tensor,
    _value_and_grad,
    _wraps,
    _zeros_like,
)
from gradkit.functional import jvp as _jvp
from gradkit.functional import vjp as _vjp
from gradkit.tensor import Tensor

__all__ = [
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "jacrev",
    "jacfwd",
    "hessian",
    "functional_call",
    "vmap",
    "linearize",
    "stack_module_state",
    "replace_all_batch_norm_modules_",
    "functionalize",
]


# ------------------------------------------------------------------ pytrees
# A spec is None for a leaf, ("none",) for None (a node with no leaves), or (type, keys, child specs)
# for a tuple, list or dict (keys None for sequences).
def _flatten(tree: Any) -> tuple[list[Any], Any]:
    leaves: list[Any] = []
    return leaves, _flatten_into(tree, leaves)


def _flatten_into(tree: Any, leaves: list[Any]) -> Any:
    if tree is None:
        return ("none",)
    if isinstance(tree, (tuple, list)):
        return (type(tree), None, [_flatten_into(t, leaves) for t in tree])
    if isinstance(tree, Mapping):
        keys = list(tree)
        return (type(tree), keys, [_flatten_into(tree[k], leaves) for k in keys])
    leaves.append(tree)
    return None


def _unflatten(spec: Any, leaves: Sequence[Any]) -> Any:
    it = iter(leaves)
    return _build(spec, it)


def _build(spec: Any, it: Iterator[Any]) -> Any:
    if spec is None:
        return next(it)
    if spec == ("none",):
        return None
    typ, keys, children = spec
    values = [_build(c, it) for c in children]
    if keys is not None:
        return (typ if typ in (dict, OrderedDict) else dict)(zip(keys, values, strict=True))
    if hasattr(typ, "_fields"):  # a named tuple
        return typ(*values)
    return typ(values) if typ in (tuple, list) else tuple(values)


def _paths(tree: Any, prefix: str = "") -> list[str]:
    """Where each leaf of ``tree`` is, as an index suffix (``"['w']"``, ``"[0]"``), in flattening order."""
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        return [p for i, t in enumerate(tree) for p in _paths(t, f"{prefix}[{i}]")]
    if isinstance(tree, Mapping):
        return [p for k in tree for p in _paths(tree[k], f"{prefix}[{k!r}]")]
    return [prefix]


class _Args:
    """A call's positional arguments with the pytrees at ``nums`` flattened into differentiable leaves."""

    def __init__(self, args: tuple, nums: Sequence[int], op: str) -> None:
        self.args = list(args)
        self.nums = list(nums)
        self.specs = []
        self.counts = []
        self.leaves: list[Tensor] = []
        for n in self.nums:
            leaves, spec = _flatten(args[n])
            paths = _paths(args[n])
            self.specs.append(spec)
            self.counts.append(len(leaves))
            self.leaves += [_to_float_tensor(x, op, f"argument {n}{p}") for x, p in zip(leaves, paths, strict=True)]

    def call_args(self, flat: Sequence[Any]) -> list:
        """The arguments with the leaves replaced by ``flat``."""
        args = list(self.args)
        start = 0
        for n, spec, count in zip(self.nums, self.specs, self.counts, strict=True):
            args[n] = _unflatten(spec, flat[start:start + count])
            start += count
        return args

    def split(self, flat: Sequence[Any]) -> list:
        """Per differentiated argument, ``flat``'s entries (one per leaf) in that argument's shape."""
        out = []
        start = 0
        for spec, count in zip(self.specs, self.counts, strict=True):
            out.append(_unflatten(spec, flat[start:start + count]))
            start += count
        return out


def _split_aux(result: Any, op: str) -> tuple[Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ArgumentTypeError(
            f"{op}: with has_aux=True the function must return a tuple (output, aux), got {describe(result)}"
        )
    return result[0], result[1]


def _release_aux(aux: Any, outer: bool) -> Any:
    """``aux`` with its Tensors detached unless they lead to a graph outside the finished transform."""
    leaves, spec = _flatten(aux)
    leaves = [
        t.detach() if isinstance(t, Tensor) and t.requires_grad and not (outer and _connected([t], [])) else t
        for t in leaves
    ]
    return _unflatten(spec, leaves)


def _tensor_leaves(tree: Any, op: str, what: str) -> tuple[list[Tensor], Any]:
    leaves, spec = _flatten(tree)
    for leaf, path in zip(leaves, _paths(tree), strict=True):
        if not isinstance(leaf, Tensor):
            raise ArgumentTypeError(f"{op}: {what}{path} must be a Tensor, got {describe(leaf)}")
    return leaves, spec


# -------------------------------------------------------------- gradients
class _FlatOutputs:
    """``func`` as a function of the flat Tensor leaves of its differentiated arguments (``a``), returning
    its output's Tensor leaves as a tuple; it keeps the output's structure (``spec``) and, with ``has_aux``,
    the aux of the last call. ``check(result, leaves, flat)``, when given, runs on every call."""

    def __init__(self, func: Callable[..., Any], a: Any, has_aux: bool, op: str, kwargs: dict | None = None,
                 check: Callable[..., None] | None = None) -> None:
        self.func, self.a, self.has_aux, self.op, self.kwargs, self.check = func, a, has_aux, op, kwargs or {}, check
        self.spec: Any = None
        self.aux: Any = None

    def __call__(self, *flat: Any) -> tuple:
        result = self.func(*self.a.call_args(flat), **self.kwargs)
        if self.has_aux:
            result, self.aux = _split_aux(result, self.op)
        leaves, self.spec = _tensor_leaves(result, self.op, "the function's output")
        if self.check is not None:
            self.check(result, leaves, flat)
        return tuple(leaves)


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning the gradient of scalar ``func`` with respect to argument(s) ``argnums``.

    Each differentiated argument may be a pytree of Tensors (a dict of parameters); its gradient has the
    same structure. With a tuple ``argnums`` a tuple of them; with ``has_aux`` ``(gradient, aux)``.
    """
    gv = _grad_and_value(func, argnums, has_aux, "func.grad")

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        grads, value = gv(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    _wraps(grad_f, func, "grad")
    return grad_f


def grad_and_value(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """As ``grad``, returning ``(gradient, value)``, or ``(gradient, (value, aux))`` with ``has_aux``."""
    return _grad_and_value(func, argnums, has_aux, "func.grad_and_value")


def _grad_and_value(func: Callable[..., Any], argnums: Any, has_aux: Any, op: str) -> Callable[..., Any]:
    _check_callable(func, op)
    has_aux = flag(has_aux, op, "has_aux")

    def grad_and_value_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), op)
        outer = grad_mode.state.enabled
        a = _Args(args, nums, op)
        auxes = []

        def flat_f(*flat: Any) -> Any:
            result = func(*a.call_args(flat), **kwargs)
            if has_aux:
                result, aux = _split_aux(result, op)
                auxes.append(aux)
            return result

        if a.leaves:
            value, flat_grads = _value_and_grad(flat_f, tuple(range(len(a.leaves))), op)(*a.leaves)
        else:  # nothing to differentiate (empty containers): the value only
            with grad_mode.enable_grad():
                value = _scalar_output(flat_f(), op)
            value, flat_grads = value.detach(), ()
        grads = a.split(flat_grads)
        grads = grads[0] if single else tuple(grads)
        if has_aux:
            return grads, (value, _release_aux(auxes[-1], outer))
        return grads, value

    _wraps(grad_and_value_f, func, "grad_and_value")
    return grad_and_value_f


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """``(func(*primals), vjp_fn)``, or ``(output, vjp_fn, aux)`` with ``has_aux``.

    ``vjp_fn(cotangents)`` takes one cotangent pytree shaped like the output and returns a tuple with
    one gradient per primal (each shaped like its primal). It may be called any number of times.
    """
    op = "func.vjp"
    _check_callable(func, op)
    has_aux = flag(has_aux, op, "has_aux")
    outer = grad_mode.state.enabled
    a = _Args(primals, range(len(primals)), op)
    if not a.leaves:
        raise ArgumentTypeError(f"{op}: pass at least one primal holding a Tensor: gk.func.vjp(f, x, ...)")
    flat_f = _FlatOutputs(func, a, has_aux, op)
    flat_out, flat_vjp = _vjp(flat_f, *a.leaves)
    out_spec = flat_f.spec

    def vjp_fn(cotangents: Any) -> tuple:
        leaves, spec = _flatten(cotangents)
        if spec != out_spec:
            raise ArgumentTypeError(
                f"{op}: vjp_fn's cotangents must have the structure of the output (one Tensor per output "
                f"Tensor, in the same tuples and dicts), got {describe(cotangents)}"
            )
        for c, y, path in zip(leaves, flat_out, _paths(output), strict=True):
            shape = getattr(c, "shape", np.shape(c))
            if tuple(shape) != y.shape:
                raise ShapeError(f"{op}: vjp_fn's cotangent{path} has shape {tuple(shape)}, but the output{path} "
                                 f"has shape {y.shape}")
        return tuple(a.split(flat_vjp(*leaves)))

    output = _unflatten(out_spec, flat_out)
    if has_aux:
        return output, vjp_fn, _release_aux(flat_f.aux, outer)
    return output, vjp_fn


def jvp(
    func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False
) -> tuple:
    """``(func(*primals), J tangents)``, or ``(output, jvp_out, aux)`` with ``has_aux``.

    ``primals`` is a tuple (``func`` is called as ``func(*primals)``) and ``tangents`` a tuple of the
    same structure. With ``strict`` an output that does not depend on the primals raises ``AutogradError``.
    """
    op = "func.jvp"
    _check_callable(func, op)
    strict = flag(strict, op, "strict")
    has_aux = flag(has_aux, op, "has_aux")
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (tuple, list)):
            raise ArgumentTypeError(
                f"{op}: {name} must be a tuple (func is called as func(*primals)), got {describe(value)}; "
                "write (x,) for one"
            )
    outer = grad_mode.state.enabled
    a = _Args(primals, range(len(primals)), op)
    t_leaves, t_spec = _flatten(tuple(tangents))
    if t_spec != _flatten(tuple(primals))[1]:
        raise ArgumentTypeError(f"{op}: tangents must have the structure of primals, got {describe(tangents)}")
    if not a.leaves:
        raise ArgumentTypeError(f"{op}: pass at least one primal holding a Tensor")
    for i, (t, x, p) in enumerate(zip(t_leaves, a.leaves, _paths(tuple(primals)), strict=True)):
        t = _to_float_tensor(t, op, f"tangents{p}")
        if t.shape != x.shape:
            raise ShapeError(f"{op}: tangents{p} has shape {t.shape}, but primals{p} has shape {x.shape}")
        t_leaves[i] = t

    def independent(result: Any, leaves: list[Tensor], flat: tuple) -> None:
        for path, y in zip(_paths(result), leaves, strict=True):
            if not any(reached(y, flat)):
                raise AutogradError(
                    f"{op}: the output{path} is independent of the primals, which strict=True does not allow"
                )

    flat_f = _FlatOutputs(func, a, has_aux, op, check=independent if strict else None)
    flat_out, flat_tangents = _jvp(flat_f, tuple(a.leaves), tuple(t_leaves))
    output = _unflatten(flat_f.spec, flat_out)
    tangent_out = _unflatten(flat_f.spec, flat_tangents)
    if has_aux:
        return output, tangent_out, _release_aux(flat_f.aux, outer)
    return output, tangent_out


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(func(*primals), jvp_fn)``, as ``torch.func.linearize``: ``jvp_fn(*tangents)`` (tangents with the
    structure, shapes and dtypes of ``primals``) returns ``J tangents``, shaped like the output, and may be
    called any number of times without calling ``func`` again.

    ``func`` runs once, on detached copies of the primals (the output is not connected to the primals' own
    graph); its graph and the reverse pass ``J^T u`` of a dummy cotangent ``u`` (recorded with
    ``create_graph``) are kept alive by ``jvp_fn``, and each call is one reverse pass through that (the
    double-VJP trick of ``gk.func.jvp``). The results are not recorded (no gradient flows to the tangents).
    An output that does not depend on the primals gets zeros.
    """
    op = "func.linearize"
    _check_callable(func, op)
    a = _Args(primals, range(len(primals)), op)
    if not a.leaves:
        raise ArgumentTypeError(f"{op}: pass at least one primal holding a Tensor: gk.func.linearize(f, x, ...)")
    primal_spec = _flatten(tuple(primals))[1]
    xs = [x.detach().requires_grad_(True) for x in a.leaves]
    flat_f = _FlatOutputs(func, a, False, op)
    with grad_mode.enable_grad():
        outs = flat_f(*xs)
        _finish_leaves(xs)
        pairs = []
        for y in outs:
            if y.dtype.kind == "f" and y.requires_grad:
                u = _zeros_like(y).requires_grad_(True)
                _finish_leaves([u])
                pairs.append((y, u))
        if pairs:
            gs = run_backward([y for y, _ in pairs], [u for _, u in pairs], retain_graph=True, create_graph=True,
                              inputs=xs)
        else:
            gs = [None] * len(xs)
    out_spec = flat_f.spec
    detached = [y.detach() for y in outs]
    live = [(i, y, u) for i, y in enumerate(outs) for y2, u in pairs if y2 is y]
    shapes = [(x.shape, x.dtype) for x in xs]

    def jvp_fn(*tangents: Any) -> Any:
        leaves, spec = _flatten(tangents)
        if spec != primal_spec:
            raise ArgumentTypeError(
                f"{op}: jvp_fn's tangents must have the structure of the primals (one Tensor per primal Tensor, "
                f"in the same tuples and dicts), got {describe(tangents)}"
            )
        ts = []
        for k, (t, path, (shape, dtype)) in enumerate(zip(leaves, _paths(tangents), shapes, strict=True)):
            t = _to_float_tensor(t, op, f"tangent{path}")
            if t.shape != shape:
                raise ShapeError(f"{op}: tangent{path} has shape {t.shape}, but its primal has shape {shape}")
            if t.dtype != dtype:
                raise InvalidArgumentError(
                    f"{op}: tangent{path} has dtype {t.dtype}, but its primal has dtype {dtype} (as torch, the "
                    "dtypes must match)"
                )
            if t._backend is not xs[k]._backend:
                t = t.to(xs[k].device)
            ts.append(t.detach())
        roots = [(g, t) for g, t in zip(gs, ts, strict=True) if g is not None and g.requires_grad]
        results = [_zeros_like(y) for y in detached]
        if roots and live:
            with grad_mode.no_grad():
                dus = run_backward([g for g, _ in roots], [t for _, t in roots], retain_graph=True,
                                   create_graph=False, inputs=[u for _, _, u in live])
            for (i, _, _), du in zip(live, dus, strict=True):
                if du is not None:
                    results[i] = du.detach()
        return _unflatten(out_spec, results)

    return _unflatten(out_spec, detached), jvp_fn


def _jac(func: Callable[..., Any], argnums: Any, has_aux: Any, op: str) -> Callable[..., Any]:
    """``jacrev``/``jacfwd``: per output Tensor, the Jacobian with respect to each differentiated argument."""
    _check_callable(func, op)
    has_aux = flag(has_aux, op, "has_aux")

    def jac_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), op)
        outer = grad_mode.state.enabled
        a = _Args(args, nums, op)
        flat_f = _FlatOutputs(func, a, has_aux, op, kwargs)
        if not a.leaves:
            raise ArgumentTypeError(f"{op}: the differentiated argument(s) {nums} hold no Tensor")
        per_out = _jacobian(flat_f, tuple(range(len(a.leaves))), op)(*a.leaves)
        rows = []
        for row in per_out:
            parts = a.split(row)
            rows.append(parts[0] if single else tuple(parts))
        jac = _unflatten(flat_f.spec, rows)
        return (jac, _release_aux(flat_f.aux, outer)) if has_aux else jac

    return jac_f


def jacrev(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """A function returning the Jacobian of ``func`` (reverse mode, one pass per output element).

    For an output of shape ``o`` and an argument of shape ``i`` the Jacobian has shape ``o + i``; the
    result has the output's structure, each entry the argument's (a tuple over ``argnums`` when it is a
    tuple). ``chunk_size`` is accepted and has no effect.
    """
    _chunk_size(chunk_size, "func.jacrev")
    f = _jac(func, argnums, has_aux, "func.jacrev")
    _wraps(f, func, "jacrev")
    return f


def jacfwd(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
) -> Callable[..., Any]:
    """As ``jacrev``: the same Jacobian, computed by reverse mode (gradkit has no forward mode)."""
    _randomness(randomness, "func.jacfwd")
    f = _jac(func, argnums, has_aux, "func.jacfwd")
    _wraps(f, func, "jacfwd")
    return f


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Jacobian of the Jacobian of ``func``: shape ``o + i + i`` (``i + i`` for a scalar ``func``).

    With a tuple ``argnums`` the entries are tuples of tuples, ``H[i][j]`` of shape ``o + in_i + in_j``.
    """
    h = _jac(_jac(func, argnums, False, "func.hessian"), argnums, False, "func.hessian")
    _wraps(h, func, "hessian")
    return h


def _chunk_size(value: Any, op: str) -> None:
    if value is not None:
        whole(value, op, "chunk_size", low=1)


def _randomness(value: Any, op: str) -> None:
    if value not in ("error", "different", "same"):
        raise InvalidArgumentError(f"{op}: randomness must be 'error', 'different' or 'same', got {value!r}")


# ------------------------------------------------------- functional_call
def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call ``module(*args, **kwargs)`` with the given Tensors in place of its parameters and buffers.

    ``parameter_and_buffer_dicts`` maps dotted names (``"0.weight"``, as ``named_parameters()``) to
    Tensors; a tuple of such dicts is merged (a name in two raises). The module's own tensors are put
    back after the call, also when it raises. Gradients flow to the given Tensors, so a loss computed
    with parameters ``p - lr * g`` (``g`` from ``create_graph``) differentiates through the update (MAML).
    A tensor registered under two names is tied: ``tie_weights`` gives the others the value of the one
    given. ``strict`` requires exactly the module's names. Not thread-safe: the module is changed
    during the call. ``args`` that is not a tuple is the single positional argument.
    """
    op = "func.functional_call"
    from gradkit.nn.module import Module

    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: module must be a gk.nn.Module, got {describe(module)}")
    tie_weights = flag(tie_weights, op, "tie_weights")
    strict = flag(strict, op, "strict")
    given = _merged(parameter_and_buffer_dicts, op)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    if kwargs is None:
        kwargs = {}
    elif not isinstance(kwargs, Mapping):
        raise ArgumentTypeError(f"{op}: kwargs must be a dict or None, got {describe(kwargs)}")

    own = dict(module.named_parameters(remove_duplicate=False))
    own.update(module.named_buffers(remove_duplicate=False))
    if tie_weights:
        given = _tied(own, given, op)
    if strict:
        missing = [n for n in own if n not in given]
        unexpected = [n for n in given if n not in own]
        if missing or unexpected:
            raise InvalidArgumentError(
                f"{op}: with strict=True the dicts must name every parameter and buffer of the "
                f"{type(module).__name__} and nothing else; missing {missing}, unexpected {unexpected}"
            )
    saved = []
    try:
        for name, value in given.items():
            saved.append(_swap(module, name, value, op))
        return module(*args, **kwargs)
    finally:
        for owner, attr, table, old in reversed(saved):
            _restore(owner, attr, table, old)


_MISSING = object()


def _merged(dicts: Any, op: str) -> dict[str, Tensor]:
    if isinstance(dicts, Mapping):
        dicts = (dicts,)
    if not isinstance(dicts, (tuple, list)) or not all(isinstance(d, Mapping) for d in dicts):
        raise ArgumentTypeError(
            f"{op}: parameter_and_buffer_dicts must be a dict of name -> Tensor or a tuple of such dicts, "
            f"got {describe(dicts)}"
        )
    merged: dict[str, Tensor] = {}
    repeated = []
    for d in dicts:
        for name, value in d.items():
            if not isinstance(name, str):
                raise ArgumentTypeError(f"{op}: the names must be str (dotted, as named_parameters()), got {name!r}")
            if not isinstance(value, Tensor):
                raise ArgumentTypeError(f"{op}: the value for {name!r} must be a Tensor, got {describe(value)}")
            if name in merged:
                repeated.append(name)
            merged[name] = value
    if repeated:
        raise InvalidArgumentError(
            f"{op}: {sorted(set(repeated))} appear in more than one of the dicts, so which value to use is ambiguous"
        )
    return merged


def _tied(own: dict[str, Tensor], given: dict[str, Tensor], op: str) -> dict[str, Tensor]:
    """``given`` with each tensor shared by several names given to all of them."""
    groups: dict[int, list[str]] = {}
    for name, t in own.items():
        groups.setdefault(id(t), []).append(name)
    given = dict(given)
    for names in groups.values():
        if len(names) < 2:
            continue
        named = [n for n in names if n in given]
        if not named:
            continue
        if any(given[n] is not given[named[0]] for n in named[1:]):
            raise InvalidArgumentError(
                f"{op}: {named} are one tied tensor in the module, but got different values for them; give one "
                "of the names, or pass tie_weights=False to set each separately"
            )
        for n in names:
            given[n] = given[named[0]]
    return given


def _swap(module: Any, name: str, value: Tensor, op: str) -> tuple:
    """Put ``value`` at ``name`` (dotted) and return what restores the old value."""
    path, _, attr = name.rpartition(".")
    owner = module
    if path:
        try:
            owner = module.get_submodule(path)
        except Exception as exc:
            raise InvalidArgumentError(
                f"{op}: {name!r} names no submodule of the {type(module).__name__} ({path!r} not found)"
            ) from exc
    d = owner.__dict__
    table = "_parameters" if attr in d["_parameters"] else "_buffers" if attr in d["_buffers"] else None
    old = (d[table][attr], d.get(attr, _MISSING)) if table else (None, d.get(attr, _MISSING))
    if table:  # past Module.__setattr__, which keeps only Parameters in _parameters; and past the table's own
        dict.__setitem__(d[table], attr, value)  # syncing of the attribute, which the next line sets
    d[attr] = value
    return owner, attr, table, old


def _restore(owner: Any, attr: str, table: str | None, old: tuple) -> None:
    d = owner.__dict__
    in_table, in_dict = old
    if table:
        dict.__setitem__(d[table], attr, in_table)
    if in_dict is _MISSING:
        d.pop(attr, None)
    else:
        d[attr] = in_dict


# ------------------------------------------------------------------- vmap
def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """``func`` mapped over a dimension of its arguments: a loop over that dimension, results stacked.

    ``in_dims``: one int or None for every positional argument, or a tuple with one entry per argument
    (an int, None for an argument passed whole to every call, or a pytree matching the argument's).
    ``out_dims``: where the mapped dimension goes in each output (an int, or a tuple per output; None
    returns the first call's output as is). Keyword arguments are passed whole. ``randomness`` is
    checked but not enforced (each call draws its own numbers); ``chunk_size`` has no effect.
    """
    op = "func.vmap"
    _check_callable(func, op)
    _randomness(randomness, op)
    _chunk_size(chunk_size, op)
    _check_dims(in_dims, op, "in_dims")
    _check_dims(out_dims, op, "out_dims")

    def mapped(*args: Any, **kwargs: Any) -> Any:
        if isinstance(in_dims, (tuple, list)) and len(in_dims) != len(args):
            raise InvalidArgumentError(
                f"{op}: in_dims={in_dims!r} has {len(in_dims)} entries, one per positional argument, but the "
                f"function was called with {len(args)}"
            )
        flat, spec = _flatten(tuple(args))
        dims = _dims_for(in_dims if isinstance(in_dims, (tuple, list)) else (in_dims,) * len(args),
                         tuple(args), op, "in_dims", "the arguments")
        paths = _paths(tuple(args))
        sizes = {}
        axes = []
        for x, d, p in zip(flat, dims, paths, strict=True):
            if d is None:
                axes.append(None)
                continue
            if not isinstance(x, Tensor):
                raise ArgumentTypeError(
                    f"{op}: in_dims gives argument{p} the mapped dimension {d}, but it is {describe(x)}, not a "
                    "Tensor; give it in_dims None to pass it whole to every call"
                )
            if x.ndim == 0 or not -x.ndim <= d < x.ndim:
                raise IndexOutOfRangeError(
                    f"{op}: in_dims gives argument{p} (shape {x.shape}) the mapped dimension {d}, which it does not "
                    "have"
                )
            ax = d % x.ndim
            axes.append(ax)
            sizes[f"argument{p}"] = x.shape[ax]
        if not sizes:
            raise InvalidArgumentError(f"{op}: in_dims={in_dims!r} maps no Tensor argument; map at least one")
        if len(set(sizes.values())) != 1:
            raise ShapeError(
                f"{op}: the mapped dimensions must all have one size, got "
                + ", ".join(f"{k}: {v}" for k, v in sizes.items())
            )
        n = next(iter(sizes.values()))
        if n == 0:
            raise ShapeError(f"{op}: the mapped dimension has size 0; a loop cannot tell the output shapes")
        results = []
        for b in range(n):
            call = [x if ax is None else x[(slice(None),) * ax + (b,)] for x, ax in zip(flat, axes, strict=True)]
            results.append(func(*_unflatten(spec, call), **kwargs))
        return _stack_results(results, out_dims, op)

    _wraps(mapped, func, "vmap")
    return mapped


def _check_dims(dims: Any, op: str, name: str) -> None:
    leaves, _ = _flatten(dims)
    for d in leaves:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise ArgumentTypeError(
                f"{op}: {name} must be an int, None, or a tuple of them (one per argument, nested like it), got "
                f"{dims!r}"
            )


def _dims_for(dims: Any, tree: Any, op: str, name: str, what: str) -> list:
    """``dims`` (a prefix of ``tree``'s structure) spread to one entry per leaf of ``tree``."""
    if dims is None or isinstance(dims, (int, np.integer)):
        return [None if dims is None else int(dims)] * len(_flatten(tree)[0])
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)) and len(dims) == len(tree):
        return [d for sub, t in zip(dims, tree, strict=True) for d in _dims_for(sub, t, op, name, what)]
    if isinstance(dims, Mapping) and isinstance(tree, Mapping) and set(dims) == set(tree):
        return [d for k in tree for d in _dims_for(dims[k], tree[k], op, name, what)]
    raise InvalidArgumentError(
        f"{op}: {name}={dims!r} does not match the structure of {what} ({describe(tree)}); give one entry "
        "per argument (or output), or one int or None for all"
    )


def _stack_results(results: list, out_dims: Any, op: str) -> Any:
    from gradkit.ops.shape import stack

    flat0, spec = _flatten(results[0])
    per_call = []
    for b, r in enumerate(results):
        flat, s = _flatten(r)
        if s != spec:
            raise InvalidArgumentError(
                f"{op}: the function returned {describe(r)} at index {b} but {describe(results[0])} at index 0; "
                "every call must return the same structure"
            )
        per_call.append(flat)
    if spec is None and isinstance(out_dims, tuple) and len(out_dims) == 1:
        out_dims = out_dims[0]  # one Tensor returned: out_dims=(d,) as torch accepts
    dims = _dims_for(out_dims, results[0], op, "out_dims", "the function's output")
    out = []
    for k, (d, p) in enumerate(zip(dims, _paths(results[0]), strict=True)):
        if d is None:
            _check_unmapped([flat[k] for flat in per_call], p, op)
            out.append(flat0[k])
            continue
        column = [flat[k] for flat in per_call]
        for b, t in enumerate(column):
            if not isinstance(t, Tensor):
                raise ArgumentTypeError(
                    f"{op}: the function's output{p} is {describe(t)} at index {b}; a mapped output must be a "
                    "Tensor (give it out_dims None to return it unmapped)"
                )
            if t.shape != column[0].shape:
                raise ShapeError(
                    f"{op}: the function's output{p} has shape {t.shape} at index {b} but {column[0].shape} at "
                    "index 0; the results of the calls must have one shape to be stacked"
                )
        r = column[0].ndim + 1
        if not -r <= d < r:
            raise IndexOutOfRangeError(
                f"{op}: out_dims puts the mapped dimension of output{p} at {d}, but the stacked result has {r} "
                "dimension(s)"
            )
        out.append(stack(column, axis=d))
    return _unflatten(spec, out)


def _check_unmapped(column: list, path: str, op: str) -> None:
    """An output with out_dims None must be one Tensor value in every call (it cannot depend on the mapping)."""
    first = column[0]
    if not isinstance(first, Tensor):
        return
    for b, t in enumerate(column[1:], 1):
        same = isinstance(t, Tensor) and t.shape == first.shape and t._backend is first._backend
        if same:
            a, c = first._data, t._data
            same = bool(first._backend.xp.all((a == c) | ((a != a) & (c != c))))
        if not same:
            raise InvalidArgumentError(
                f"{op}: out_dims is None for the function's output{path}, but it differs between index 0 and "
                f"index {b}; an output that depends on the mapped dimension needs an int out_dims"
            )


# -------------------------------------------------------------- ensembling and module helpers
def stack_module_state(models: Any) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)``, as ``torch.func.stack_module_state``: for ``M`` modules of the same class (a
    list, tuple or ``ModuleList``), dicts mapping each parameter's (buffer's) dotted name to the ``M``
    tensors stacked on a new first axis, for ensembling with ``gk.func.vmap`` over ``functional_call``.
    A stacked parameter is a new leaf that requires grad (unrelated to the models' own parameters, so it can
    go to an optimizer); buffers are stacked copies. The models must all be in training or all in eval
    mode, and each name's tensors must all require grad or none."""
    op = "func.stack_module_state"
    from gradkit.nn.module import Module

    if isinstance(models, Module) and not hasattr(type(models), "__len__"):
        raise ArgumentTypeError(f"{op}: expected a sequence of Modules (a list or ModuleList), got {describe(models)}")
    try:
        models = list(models)
    except TypeError:
        raise ArgumentTypeError(f"{op}: expected a sequence of Modules, got {describe(models)}") from None
    if not models:
        raise InvalidArgumentError("stack_module_state: Expected at least one model, got 0.")
    for i, m in enumerate(models):
        if not isinstance(m, Module):
            raise ArgumentTypeError(f"{op}: models[{i}] is {describe(m)}, not a gk.nn.Module")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise InvalidArgumentError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise InvalidArgumentError("stack_module_state: Expected all models to be of the same class.")
    from gradkit.ops.shape import stack

    def stacked(tables: list[dict[str, Tensor]], what: str) -> dict[str, Tensor]:
        out = {}
        for name in tables[0]:
            tensors = []
            for i, table in enumerate(tables):
                if name not in table:
                    raise InvalidArgumentError(f"{op}: models[{i}] has no {what} {name!r} (models[0] has)")
                tensors.append(table[name])
            flags = {t.requires_grad for t in tensors}
            if len(flags) > 1:
                raise InvalidArgumentError(f"Expected {name} from each model to have the same .requires_grad")
            with grad_mode.no_grad():
                result = stack([t.detach() for t in tensors])
            out[name] = result.requires_grad_(True) if flags == {True} else result
        return out

    params = stacked([dict(m.named_parameters()) for m in models], "parameter")
    buffers = stacked([dict(m.named_buffers()) for m in models], "buffer")
    return params, buffers


def replace_all_batch_norm_modules_(root: Any) -> Any:
    """As ``torch.func.replace_all_batch_norm_modules_``: for every batch-norm layer in ``root`` (itself
    included) that tracks running statistics, set ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` to None and ``track_running_stats`` to False, in place, so that it always
    normalises with the batch's statistics (as needed under ``vmap``); returns ``root``."""
    from gradkit.nn.layers import _BatchNorm
    from gradkit.nn.module import Module

    if not isinstance(root, Module):
        raise ArgumentTypeError(f"func.replace_all_batch_norm_modules_: root must be a gk.nn.Module, got "
                                f"{describe(root)}")
    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root


def functionalize(func: Callable[..., Any], *, remove: str = "mutations") -> Callable[..., Any]:
    """``torch.func.functionalize``'s name and arguments; gradkit has no mutation-removal pass, so this
    returns a wrapper that simply calls ``func`` (in-place operations stay in-place, and mutations of the
    inputs happen as they would without it): the results are the same as ``func``'s. ``remove`` must be
    ``"mutations"`` or ``"mutations_and_views"``, as in PyTorch."""
    op = "func.functionalize"
    _check_callable(func, op)
    if remove not in ("mutations", "mutations_and_views"):
        raise InvalidArgumentError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove!r}. Valid "
            "options are 'mutations' and 'mutations_and_views'"
        )

    def functionalized(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    _wraps(functionalized, func, "functionalize")
    return functionalized
