"""``gradcheck``: reverse-mode gradients against central finite differences.

For ``f`` with outputs ``y_k`` the check draws a random cotangent ``u_k`` for
each float output and compares, element by element of every checked input
``x``, the reverse-mode vector-Jacobian product ``(J^T u)[j]`` with the
central difference ``(L(x + eps e_j) - L(x - eps e_j)) / (2 eps)`` of the
scalar ``L(x) = sum_k <u_k, y_k(x)>``. A scalar output gets ``u = 1``, so the
check is then the plain gradient. Everything runs on the inputs' own backend
(NumPy or CuPy); values are brought to the host only to be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit._args import real, whole
from gradkit.autograd.engine import run_backward
from gradkit.errors import ArgumentTypeError, GradcheckError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

_LOW_PRECISION = (np.dtype(np.float32), np.dtype(np.float16))


def _outputs(result: Any) -> list[Tensor]:
    """The float tensor outputs of ``f`` (a Tensor, or a tuple/list of them)."""
    items = list(result) if isinstance(result, (tuple, list)) else [result]
    outs = []
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            raise ArgumentTypeError(
                f"gradcheck: f must return a Tensor or a tuple of Tensors, got {type(item).__name__} at output {i}"
            )
        if item.dtype.kind == "f":
            outs.append(item)
    return outs


def _scalar(outs: list[Tensor], us: list[Any]) -> float:
    """``sum_k <u_k, y_k>`` in float64."""
    total = 0.0
    for y, u in zip(outs, us, strict=True):
        xp = y._backend.xp
        total += float(xp.sum(u * y._data.astype(np.float64)))
    return total


def _fail(raise_exception: bool, message: str, **fields: Any) -> bool:
    if raise_exception:
        err = GradcheckError(message)
        for name, value in fields.items():
            setattr(err, name, value)
        raise err
    return False


def gradcheck(
    f: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    allow_float32: bool = False,
    seed: int = 0,
) -> bool:
    """Check the reverse-mode gradients of ``f(*inputs)`` against central differences.

    ``inputs`` is a Tensor or a sequence of arguments; the tensors among them
    that require grad are checked (or, when none does, every float tensor);
    other arguments are passed through unchanged. An element passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``. Returns True on
    success; on failure raises :class:`gradkit.GradcheckError` naming the
    input, the element, both values and the tolerance (or returns False when
    ``raise_exception=False``). float32/float16 inputs are refused unless
    ``allow_float32=True`` (then choose a larger ``eps`` and tolerances).
    """
    args = [inputs] if isinstance(inputs, Tensor) else list(inputs) if isinstance(inputs, (tuple, list)) else None
    if args is None:
        raise ArgumentTypeError(
            f"gradcheck: inputs must be a Tensor or a tuple/list of arguments, got {type(inputs).__name__}"
        )
    if not callable(f):
        raise ArgumentTypeError(f"gradcheck: expected a function, got {type(f).__name__} {f!r:.40}")
    eps = real(eps, "gradcheck", "eps", low=0.0, low_open=True)
    atol = real(atol, "gradcheck", "atol", low=0.0)
    rtol = real(rtol, "gradcheck", "rtol", low=0.0)
    tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor)]
    checked = [i for i, a in tensors if a.requires_grad]
    if not checked:
        checked = [i for i, a in tensors if a.dtype.kind == "f"]
    if not checked:
        raise InvalidArgumentError(
            "gradcheck: no input to check: pass at least one floating-point Tensor (ideally with requires_grad=True)"
        )
    for i in checked:
        dtype = args[i].dtype
        if dtype in _LOW_PRECISION and not allow_float32:
            raise InvalidArgumentError(
                f"gradcheck: input {i} has dtype {dtype}; finite differences with eps={eps} need float64. "
                "Convert it with .astype(gk.float64), or pass allow_float32=True (with a larger eps and tolerances)"
            )

    # Fresh leaves with private copies of the data: the caller's tensors are never touched.
    leaves: list[Any] = list(args)
    for i in checked:
        a = args[i]
        data = a._backend.xp.array(a._data, copy=True, order="C")  # C order: reshape(-1) below must be a view
        leaves[i] = Tensor._make(data, a._backend).requires_grad_(True)

    outs = _outputs(f(*leaves))
    rng = np.random.default_rng(whole(seed, "gradcheck", "seed", low=0))
    us = []
    for y in outs:
        u = np.ones(y.shape) if y.size == 1 else rng.standard_normal(y.shape)
        us.append(y._backend.asarray(u.astype(np.float64)))

    if not outs:
        raise InvalidArgumentError("gradcheck: f returned no floating-point tensor; there is no gradient to check")
    roots = [y for y in outs if y.requires_grad]
    root_grads = [Tensor._make(u.astype(y.dtype), y._backend) for y, u in zip(outs, us, strict=True) if y.requires_grad]
    targets = [leaves[i] for i in checked]
    if roots:
        try:
            grads = run_backward(roots, root_grads, inputs=targets)
        except ShapeError as exc:  # a rule that returned a gradient of the wrong shape for an input
            return _fail(raise_exception, f"gradcheck: {exc}")
    else:
        grads = [None] * len(targets)

    for i, leaf, g in zip(checked, targets, grads, strict=True):
        if g is None:
            analytic = np.zeros(leaf.shape)
        else:
            if g.shape != leaf.shape:
                return _fail(
                    raise_exception,
                    f"gradcheck: the gradient of input {i} has shape {g.shape}, "
                    f"expected the input's shape {leaf.shape}",
                    input_index=i,
                )
            analytic = g.numpy().astype(np.float64)
        numeric = np.zeros(leaf.shape)
        flat = leaf._data.reshape(-1)  # a view: leaf's data is a fresh contiguous copy
        num_flat = numeric.reshape(-1)
        for k in range(flat.size):
            orig = float(flat[k])
            flat[k] = orig + eps
            plus = _scalar(_outputs(f(*leaves)), us)
            flat[k] = orig - eps
            minus = _scalar(_outputs(f(*leaves)), us)
            flat[k] = orig
            num_flat[k] = (plus - minus) / (2 * eps)
        tol = atol + rtol * np.abs(numeric)
        diff = np.abs(analytic - numeric)
        bad = ~(diff <= tol)  # NaN counts as a failure
        if bad.any():
            excess = np.where(bad, np.nan_to_num(diff - tol, nan=np.inf), -np.inf)
            element = tuple(int(j) for j in np.unravel_index(int(np.argmax(excess)), leaf.shape))
            a_val, n_val, t_val = float(analytic[element]), float(numeric[element]), float(tol[element])
            what = "gradient" if all(y.size == 1 for y in outs) and len(outs) == 1 else "vector-Jacobian product"
            return _fail(
                raise_exception,
                f"gradcheck: the {what} of input {i} (shape {leaf.shape}, {leaf.dtype}, device {leaf.device}) "
                f"disagrees with central differences at element {element}: analytic {a_val!r}, numeric {n_val!r}, "
                f"|difference| {abs(a_val - n_val):.3g} > tolerance {t_val:.3g} "
                f"(atol={atol} + rtol={rtol} * |numeric|); "
                f"{int(bad.sum())} of {bad.size} elements disagree",
                input_index=i,
                element=element,
                analytic=a_val,
                numeric=n_val,
                tolerance=t_val,
            )
    return True
