"""``torch.autograd``'s ``gradcheck``, ``gradgradcheck`` and the deprecated ``Variable`` (``gk.autograd.*``).

``gk.autograd.gradcheck`` follows ``torch.autograd.gradcheck``: only the inputs that require grad are checked,
and the whole Jacobian of every floating-point output with respect to each of them is compared with central
differences (``fast_mode=True``: one random projection ``v^T J u`` per input and output instead). gradkit's own
``gk.gradcheck`` (``gradkit.testing``) compares one random vector-Jacobian product and has other defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit._args import flag, real
from gradkit.autograd import grad_mode
from gradkit.errors import ArgumentTypeError, GradcheckError, InvalidArgumentError, ShapeError, describe
from gradkit.tensor import Tensor

__all__ = ["Variable", "gradcheck", "gradgradcheck"]


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(result: Any, op: str) -> list[Tensor]:
    """The floating-point Tensor outputs of ``func`` (a Tensor, or a tuple/list of them)."""
    outs = []
    for k, y in enumerate(_as_tuple(result)):
        if not isinstance(y, Tensor):
            raise ArgumentTypeError(f"{op}: func must return a Tensor or a tuple of Tensors, got {describe(y)} "
                                    f"at output {k}")
        if y.dtype.kind == "f":
            outs.append(y)
    return outs


def _host(t: Tensor) -> np.ndarray:
    """A float64 NumPy copy of ``t`` (a copy always: an output that is a perturbed input, or a view of one,
    must not change with it)."""
    return np.array(t._backend.to_numpy(t._data), dtype=np.float64, copy=True)


class _Failed(Exception):
    pass


def _fail(message: str) -> None:
    raise _Failed(message)


def _close(a: np.ndarray, n: np.ndarray, atol: float, rtol: float) -> bool:
    return bool(np.all(np.abs(a - n) <= atol + rtol * np.abs(n)))


def _grads(outs: list[Tensor], cotangents: list[Tensor], xs: list[Tensor], **kwargs: Any) -> list[Tensor | None]:
    from gradkit.autograd.api import grad

    pairs = [(y, c) for y, c in zip(outs, cotangents, strict=True) if y.requires_grad]
    if not pairs:
        return [None] * len(xs)
    with grad_mode.enable_grad():
        return list(grad([y for y, _ in pairs], xs, [c for _, c in pairs], retain_graph=True, allow_unused=True,
                         **kwargs))


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """``torch.autograd.gradcheck``: the gradients of ``func(*inputs)`` with respect to the inputs that
    require grad, against central differences ``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)``.

    With ``check_backward_ad`` (default) reverse mode is checked: each floating-point output's Jacobian
    with respect to each checked input, one reverse pass per output element, must satisfy
    ``|analytic - numeric| <= atol + rtol * |numeric|`` element by element (an output that does not require
    grad must have a zero numerical Jacobian); ``nondet_tol`` bounds the difference between two identical
    reverse passes; ``check_undefined_grad``: zero cotangents must give zero (or no) gradients;
    ``check_grad_dtypes``: each gradient has its input's dtype; ``check_batched_grad``:
    ``gk.autograd.grad(..., is_grads_batched=True)`` agrees with one pass per cotangent. With
    ``check_forward_ad`` forward mode (``gk.func.jvp``) is checked column by column against the same
    differences. ``fast_mode`` compares one random projection ``v^T J u`` per input and output instead of
    the whole Jacobian. ``check_batched_forward_grad`` and ``masked`` (sparse tensors) are accepted and check
    nothing more. Inputs must include a Tensor that requires grad; one that is not float64 gets PyTorch's
    UserWarning. Returns True; a failure raises ``gk.GradcheckError`` (PyTorch's message first), or returns
    False with ``raise_exception=False``. The inputs themselves are not changed (copies are perturbed).
    """
    op = "autograd.gradcheck"
    if not callable(func):
        raise ArgumentTypeError(f"{op}: func must be callable, got {describe(func)}")
    eps = real(eps, op, "eps", low=0.0, low_open=True)
    atol = real(atol, op, "atol", low=0.0)
    rtol = real(rtol, op, "rtol", low=0.0)
    nondet_tol = real(nondet_tol, op, "nondet_tol", low=0.0)
    raise_exception = flag(raise_exception, op, "raise_exception")
    check_undefined_grad = flag(check_undefined_grad, op, "check_undefined_grad")
    check_grad_dtypes = flag(check_grad_dtypes, op, "check_grad_dtypes")
    check_batched_grad = flag(check_batched_grad, op, "check_batched_grad")
    flag(check_batched_forward_grad, op, "check_batched_forward_grad")
    check_forward_ad = flag(check_forward_ad, op, "check_forward_ad")
    check_backward_ad = flag(check_backward_ad, op, "check_backward_ad")
    fast_mode = flag(fast_mode, op, "fast_mode")
    if masked is not None:
        flag(masked, op, "masked")
    if not (check_forward_ad or check_backward_ad):
        raise InvalidArgumentError(f"{op}: Expected at least one of check_forward_ad or check_backward_ad to be True")

    args = list(_as_tuple(inputs))
    checked = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not checked:
        raise InvalidArgumentError(
            "gradcheck expects at least one input tensor to require gradient, but none of the them have "
            "requires_grad=True."
        )
    for i in checked:
        if args[i].dtype != np.float64:
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or complex. This check "
                "will likely fail if all the inputs are not of double precision floating point or complex. ",
                UserWarning,
                stacklevel=2,
            )
    # fresh leaves with private, contiguous copies: perturbing them leaves the caller's tensors as they are
    leaves = list(args)
    for i in checked:
        a = args[i]
        data = a._backend.xp.array(a._data, copy=True, order="C")
        leaves[i] = Tensor._make(data, a._backend).requires_grad_(True)
    xs = [leaves[i] for i in checked]
    try:
        with grad_mode.enable_grad():
            outs = _outputs(func(*leaves), op)
        if check_backward_ad:
            if fast_mode:
                _fast_backward(func, leaves, checked, outs, eps, atol, rtol, op)
            else:
                _backward(func, leaves, checked, outs, eps, atol, rtol, nondet_tol, check_grad_dtypes, op)
            if check_undefined_grad:
                zeros = [Tensor._make(y._backend.xp.zeros_like(y._data), y._backend) for y in outs]
                for i, g in zip(checked, _grads(outs, zeros, xs), strict=True):
                    if g is not None and np.any(_host(g) != 0):
                        _fail(f"gradcheck: Expected backward function to handle undefined output grads: zero "
                              f"output grads gave a nonzero gradient for input {i}")
            if check_batched_grad:
                _batched(outs, xs, checked, atol, rtol)
        if check_forward_ad:
            _forward(func, leaves, checked, eps, atol, rtol, op)
    except _Failed as exc:
        if raise_exception:
            raise GradcheckError(str(exc)) from None
        return False
    except ShapeError as exc:  # a rule that returned a gradient of the wrong shape: a failed check
        if raise_exception:
            raise GradcheckError(f"gradcheck: {exc}") from exc
        return False
    return True


def _evaluate(func: Callable[..., Any], leaves: list, op: str) -> list[np.ndarray]:
    with grad_mode.enable_grad():  # func may differentiate inside (gradgradcheck's)
        return [_host(y) for y in _outputs(func(*leaves), op)]


def _numeric(func: Callable[..., Any], leaves: list, i: int, eps: float, op: str) -> list[np.ndarray]:
    """Per output, the numerical Jacobian with respect to input ``i``: shape (input numel, output numel)."""
    leaf = leaves[i]
    flat = leaf._data.reshape(-1)  # a view: the leaf's data is a contiguous copy
    columns: list[list[np.ndarray]] = []
    for j in range(flat.size):
        orig = float(flat[j])  # exact for float16/32/64: restored bit for bit
        flat[j] = orig + eps
        plus = _evaluate(func, leaves, op)
        flat[j] = orig - eps
        minus = _evaluate(func, leaves, op)
        flat[j] = orig
        columns.append([((p - m) / (2 * eps)).reshape(-1) for p, m in zip(plus, minus, strict=True)])
    if not columns:  # an empty input
        return [np.zeros((0, y.size)) for y in _evaluate(func, leaves, op)]
    return [np.stack([c[k] for c in columns]) for k in range(len(columns[0]))]


def _backward(func: Callable[..., Any], leaves: list, checked: list[int], outs: list[Tensor], eps: float,
              atol: float, rtol: float, nondet_tol: float, check_grad_dtypes: bool, op: str) -> None:
    xs = [leaves[i] for i in checked]
    analytic = {(k, i): np.zeros((leaves[i].size, y.size)) for k, y in enumerate(outs) for i in checked}
    for k, y in enumerate(outs):
        if not y.requires_grad:
            continue
        for m in range(y.size):
            onehot = np.zeros(y.size, dtype=y.dtype)
            onehot[m] = 1
            c = Tensor._make(y._backend.asarray(onehot.reshape(y.shape)), y._backend)
            cots = [c if kk == k else Tensor._make(o._backend.xp.zeros_like(o._data), o._backend)
                    for kk, o in enumerate(outs)]
            gs = _grads(outs, cots, xs)
            again = _grads(outs, cots, xs)  # reentrancy: a second identical pass
            for i, x, g, g2 in zip(checked, xs, gs, again, strict=True):
                if g is None:
                    continue
                if tuple(g.shape) != tuple(x.shape):
                    _fail(f"gradcheck: the gradient of input {i} has shape {g.shape}, expected {x.shape}")
                if check_grad_dtypes and g.dtype != x.dtype:
                    _fail(f"gradcheck: Gradient has dtype mismatch: input {i} has dtype {x.dtype}, its gradient "
                          f"{g.dtype}")
                row = _host(g).reshape(-1)
                if g2 is not None and np.max(np.abs(row - _host(g2).reshape(-1)), initial=0.0) > nondet_tol:
                    _fail("gradcheck: Backward is not reentrant, i.e., running backward with same input and "
                          "grad_output multiple times gives different values, although analytical gradient "
                          f"matches numerical gradient. The tolerance for nondeterminism was {nondet_tol}.")
                analytic[(k, i)][:, m] = row
    for i in checked:
        numeric = _numeric(func, leaves, i, eps, op)
        for k, y in enumerate(outs):
            a, n = analytic[(k, i)], numeric[k]
            if not _close(a, n, atol, rtol):
                if not y.requires_grad:
                    _fail(f"gradcheck: Numerical gradient for function expected to be zero: output {k} does not "
                          f"require grad, but its numerical Jacobian with respect to input {i} is not zero")
                bad = np.argwhere(~(np.abs(a - n) <= atol + rtol * np.abs(n)))[0]
                _fail(
                    f"Jacobian mismatch for output {k} with respect to input {i},\nnumerical:{n}\nanalytical:{a}\n"
                    f"(first mismatch at input element {int(bad[0])}, output element {int(bad[1])}: analytical "
                    f"{a[tuple(bad)]!r}, numerical {n[tuple(bad)]!r}; atol={atol}, rtol={rtol})"
                )


def _fast_backward(func: Callable[..., Any], leaves: list, checked: list[int], outs: list[Tensor], eps: float,
                   atol: float, rtol: float, op: str) -> None:
    rng = np.random.default_rng(0)
    xs = [leaves[i] for i in checked]
    vs = [rng.standard_normal(y.shape) for y in outs]
    for k, y in enumerate(outs):
        cots = [Tensor._make(o._backend.asarray((vs[k] if kk == k else np.zeros(o.shape)).astype(o.dtype)),
                             o._backend) for kk, o in enumerate(outs)]
        gs = _grads(outs, cots, xs) if y.requires_grad else [None] * len(xs)
        for i, x, g in zip(checked, xs, gs, strict=True):
            u = rng.standard_normal(x.shape)
            analytic = 0.0 if g is None else float(np.sum(_host(g) * u))
            flat = x._data.reshape(-1)
            orig = x._backend.xp.array(flat, copy=True)
            step = x._backend.asarray((eps * u).reshape(-1).astype(x.dtype))
            flat[...] = orig + step
            plus = _evaluate(func, leaves, op)[k]
            flat[...] = orig - step
            minus = _evaluate(func, leaves, op)[k]
            flat[...] = orig
            numeric = float(np.sum(vs[k] * (plus - minus) / (2 * eps)))
            if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
                _fail(f"Jacobian mismatch for output {k} with respect to input {i} (fast mode: v^T J u),\n"
                      f"numerical:{numeric!r}\nanalytical:{analytic!r}\n")


def _batched(outs: list[Tensor], xs: list[Tensor], checked: list[int], atol: float, rtol: float) -> None:
    rng = np.random.default_rng(1)
    live = [y for y in outs if y.requires_grad]
    if not live:
        return
    rows = [[Tensor._make(y._backend.asarray(rng.standard_normal(y.shape).astype(y.dtype)), y._backend)
             for y in live] for _ in range(2)]
    batched_cots = [Tensor._make(y._backend.xp.stack([r[k]._data for r in rows]), y._backend)
                    for k, y in enumerate(live)]
    batched = _grads(live, batched_cots, xs, is_grads_batched=True)
    for b, r in enumerate(rows):
        single = _grads(live, r, xs)
        for i, gb, gs in zip(checked, batched, single, strict=True):
            a = 0.0 if gb is None else _host(gb)[b]
            s = 0.0 if gs is None else _host(gs)
            if not _close(np.asarray(a), np.asarray(s), atol, rtol):
                _fail(f"gradcheck: While computing batched gradients, got: the batched gradient of input {i} "
                      f"(is_grads_batched=True) differs from the one computed for each cotangent")


def _forward(func: Callable[..., Any], leaves: list, checked: list[int], eps: float, atol: float, rtol: float,
             op: str) -> None:
    from gradkit.functional import jvp

    def diff_f(*xs: Tensor) -> Any:
        call = list(leaves)
        for i, x in zip(checked, xs, strict=True):
            call[i] = x
        return tuple(_outputs(func(*call), op))

    xs = [leaves[i] for i in checked]
    for pos, i in enumerate(checked):
        numeric = _numeric(func, leaves, i, eps, op)
        x = xs[pos]
        for j in range(x.size):
            tangents = []
            for q, xq in enumerate(xs):
                t = np.zeros(xq.size, dtype=xq.dtype)
                if q == pos:
                    t[j] = 1
                tangents.append(Tensor._make(xq._backend.asarray(t.reshape(xq.shape)), xq._backend))
            with grad_mode.enable_grad():
                _, tangent_out = jvp(diff_f, tuple(xs), tuple(tangents))
            for k, (t_out, n) in enumerate(zip(_as_tuple(tangent_out), numeric, strict=True)):
                a = np.zeros(n.shape[1]) if t_out is None else _host(t_out).reshape(-1)
                if not _close(a, n[j], atol, rtol):
                    _fail(f"Jacobian computed with forward mode mismatch for output {k} with respect to input {i},\n"
                          f"numerical:{n[j]}\nanalytical:{a}\n(column for input element {j})")


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """``torch.autograd.gradgradcheck``: second derivatives, as PyTorch's. ``gradcheck`` of the function
    ``(inputs, grad_outputs) -> gk.autograd.grad(func(*inputs), inputs that require grad, grad_outputs,
    create_graph=True)``: the gradients of the gradients with respect to the inputs and to the
    ``grad_outputs`` that require grad. ``grad_outputs=None`` draws them uniformly in [-1, 1) from the
    outputs' backend generator (``gk.manual_seed``), one per output that requires grad, requiring grad.
    ``check_fwd_over_rev`` checks forward mode over the first gradients (``check_forward_ad`` of that
    gradcheck), ``check_rev_over_rev`` reverse mode; ``gen_non_contig_grad_outputs`` is accepted (gradkit's
    arrays have no layout to vary). Other arguments as :func:`gradcheck`.
    """
    op = "autograd.gradgradcheck"
    if not callable(func):
        raise ArgumentTypeError(f"{op}: func must be callable, got {describe(func)}")
    flag(gen_non_contig_grad_outputs, op, "gen_non_contig_grad_outputs")
    check_fwd_over_rev = flag(check_fwd_over_rev, op, "check_fwd_over_rev")
    check_rev_over_rev = flag(check_rev_over_rev, op, "check_rev_over_rev")
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise InvalidArgumentError(
            f"{op}: Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if flag(check_undefined_grad, op, "check_undefined_grad") and not check_rev_over_rev:
        raise InvalidArgumentError(f"{op}: Setting check_undefined_grad=True requires check_rev_over_rev to be True")
    if flag(check_batched_grad, op, "check_batched_grad") and not check_rev_over_rev:
        raise InvalidArgumentError(f"{op}: Setting check_batched_grad=True requires check_rev_over_rev to be True")
    tupled_inputs = _as_tuple(inputs)
    if grad_outputs is None:
        with grad_mode.enable_grad():
            outs = [y for y in _outputs(func(*tupled_inputs), op) if y.requires_grad]
        tupled_grads = tuple(
            Tensor._make(y._backend.uniform(y.shape, y.dtype) * 2 - 1, y._backend).requires_grad_(True)
            for y in outs
        )
    else:
        tupled_grads = _as_tuple(grad_outputs)
        for k, g in enumerate(tupled_grads):
            if not isinstance(g, Tensor):
                raise ArgumentTypeError(f"{op}: grad_outputs[{k}] must be a Tensor, got {describe(g)}")
    n_out = len(tupled_grads)
    diff_inputs = {i for i, x in enumerate(tupled_inputs) if isinstance(x, Tensor) and x.requires_grad}

    def new_func(*args: Any) -> tuple:
        from gradkit.autograd.api import grad

        input_args = args[: len(args) - n_out]
        gos = args[len(args) - n_out:]
        with grad_mode.enable_grad():
            outputs = [y for y in _outputs(func(*input_args), op) if y.requires_grad]
            diff = [x for i, x in enumerate(input_args) if i in diff_inputs]
            if not outputs or not diff:
                return ()
            if len(outputs) != len(gos):
                raise InvalidArgumentError(
                    f"{op}: func has {len(outputs)} output(s) that require grad, but {len(gos)} grad_outputs were "
                    "given"
                )
            grads = grad(outputs, diff, list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        new_func,
        tupled_inputs + tupled_grads,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        fast_mode=fast_mode,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )


class _VariableMeta(type):
    def __instancecheck__(cls, other: Any) -> bool:
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's deprecated ``torch.autograd.Variable``: ``Variable(t, requires_grad=False)`` returns a Tensor
    sharing ``t``'s data (and version counter), detached from ``t``'s graph, that requires grad as asked
    (a leaf); ``Variable()`` an empty tensor of the default dtype. ``isinstance(t, Variable)`` is True for
    every Tensor. ``volatile=True`` warns (UserWarning) and has no effect, as in PyTorch; use ``gk.no_grad()``.
    A ``data`` that is not a Tensor is an ``ArgumentTypeError`` (PyTorch's TypeError)."""

    def __new__(cls, data: Any = None, requires_grad: bool = False, volatile: bool = False) -> Any:  # type: ignore[misc]
        op = "autograd.Variable"
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        requires_grad = flag(requires_grad, op, "requires_grad")
        if data is None:
            from gradkit.creation import empty

            data = empty(0)
        elif not isinstance(data, Tensor):
            raise ArgumentTypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out
