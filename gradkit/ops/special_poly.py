"""The classical orthogonal polynomials of ``torch.special``: Chebyshev's of the four kinds T, U, V, W and their
shifted versions (of 2x - 1), Hermite's H (physicists') and He (probabilists'), Laguerre's L and Legendre's P,
each ``name(x, n)``, differentiable in x to any order (n gets no gradient).

n is an int, or an integer, bool or float tensor (or array) broadcast with x, as in PyTorch: a float n counts as
its integer part (truncated toward 0, so 2.9 is 2 and -0.5 is 0), and a NaN, infinite or out-of-int64 n, like
any negative n, gives 0. The result has x's float dtype (integer and bool x give floats as ``gk.erf`` does),
widened by a float tensor n (a Python number never widens it); x may be a Python number when n is a tensor.

Every polynomial is evaluated by its three-term recurrence, vectorised: one step per degree up to the largest n
(so the cost grows with it: an n above 1,000,000 raises InvalidArgumentError), each element taking the value
at its own degree (a tensor n chooses values at the degrees it holds only); the steps are
d_k p_(k+1) = (a_k x + b_k) p_k - c_k p_(k-1) with whole a_k, b_k, c_k, d_k (so the values at x = +-1, and
Laguerre's at 0, are exact), in float64 (float32 and float16 results are rounded from it). PyTorch's values follow:
its special cases (|x| = 1, n = 0, 1) agree with the recurrence, except that its T_n for n > 6 and |x| < 1 is
cos(n arccos x), which differs from the recurrence by rounding only. At x = +-inf the recurrence gives PyTorch's
inf, -inf or NaN (inf - inf); at a NaN x every degree above 0 is NaN.

Derivatives of any order m differentiate the recurrence (Leibniz's rule on a product with a linear factor):
d_k p^(j)_(k+1) = (a_k x + b_k) p^(j)_k + j a_k p^(j-1)_k - c_k p^(j)_(k-1), times 2^m for the shifted ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import SCALARS, as_tensor, host_read_allowed
from gradkit.ops.elementwise import _float_dtype
from gradkit.tensor import Tensor

_INT64_LIMIT = 2.0**63
_MAX_DEGREE = 1_000_000  # the recurrence takes n steps: beyond, a clear error instead of hours of work


# the recurrences: p_1 = alpha x + beta and k -> (a_k, b_k, c_k, d_k)
def _chebyshev(k: int) -> tuple[int, int, int, int]:
    return 2, 0, 1, 1


def _hermite(k: int) -> tuple[int, int, int, int]:
    return 2, 0, 2 * k, 1


def _hermite_e(k: int) -> tuple[int, int, int, int]:
    return 1, 0, k, 1


def _laguerre(k: int) -> tuple[int, int, int, int]:
    return -1, 2 * k + 1, k, k + 1


def _legendre(k: int) -> tuple[int, int, int, int]:
    return 2 * k + 1, 0, k, k + 1


_KINDS = {  # name: ((alpha, beta), step, shifted)
    "chebyshev_polynomial_t": ((1, 0), _chebyshev, False),
    "chebyshev_polynomial_u": ((2, 0), _chebyshev, False),
    "chebyshev_polynomial_v": ((2, -1), _chebyshev, False),
    "chebyshev_polynomial_w": ((2, 1), _chebyshev, False),
    "shifted_chebyshev_polynomial_t": ((1, 0), _chebyshev, True),
    "shifted_chebyshev_polynomial_u": ((2, 0), _chebyshev, True),
    "shifted_chebyshev_polynomial_v": ((2, -1), _chebyshev, True),
    "shifted_chebyshev_polynomial_w": ((2, 1), _chebyshev, True),
    "hermite_polynomial_h": ((2, 0), _hermite, False),
    "hermite_polynomial_he": ((1, 0), _hermite_e, False),
    "laguerre_polynomial_l": ((-1, 1), _laguerre, False),
    "legendre_polynomial_p": ((1, 0), _legendre, False),
}


# ------------------------------------------------------------------ the operations
def chebyshev_polynomial_t(x: Any, n: Any) -> Tensor:
    """The Chebyshev polynomial of the first kind T_n(x) = cos(n t) at x = cos(t)."""
    return _polynomial("chebyshev_polynomial_t", x, n)


def chebyshev_polynomial_u(x: Any, n: Any) -> Tensor:
    """The Chebyshev polynomial of the second kind U_n(x) = sin((n + 1) t) / sin(t) at x = cos(t)."""
    return _polynomial("chebyshev_polynomial_u", x, n)


def chebyshev_polynomial_v(x: Any, n: Any) -> Tensor:
    """The Chebyshev polynomial of the third kind V_n(x) = cos((n + 1/2) t) / cos(t/2) at x = cos(t)."""
    return _polynomial("chebyshev_polynomial_v", x, n)


def chebyshev_polynomial_w(x: Any, n: Any) -> Tensor:
    """The Chebyshev polynomial of the fourth kind W_n(x) = sin((n + 1/2) t) / sin(t/2) at x = cos(t)."""
    return _polynomial("chebyshev_polynomial_w", x, n)


def shifted_chebyshev_polynomial_t(x: Any, n: Any) -> Tensor:
    """T_n(2x - 1), orthogonal on [0, 1]."""
    return _polynomial("shifted_chebyshev_polynomial_t", x, n)


def shifted_chebyshev_polynomial_u(x: Any, n: Any) -> Tensor:
    """U_n(2x - 1)."""
    return _polynomial("shifted_chebyshev_polynomial_u", x, n)


def shifted_chebyshev_polynomial_v(x: Any, n: Any) -> Tensor:
    """V_n(2x - 1)."""
    return _polynomial("shifted_chebyshev_polynomial_v", x, n)


def shifted_chebyshev_polynomial_w(x: Any, n: Any) -> Tensor:
    """W_n(2x - 1)."""
    return _polynomial("shifted_chebyshev_polynomial_w", x, n)


def hermite_polynomial_h(x: Any, n: Any) -> Tensor:
    """The physicists' Hermite polynomial H_n: H_(k+1) = 2x H_k - 2k H_(k-1)."""
    return _polynomial("hermite_polynomial_h", x, n)


def hermite_polynomial_he(x: Any, n: Any) -> Tensor:
    """The probabilists' Hermite polynomial He_n: He_(k+1) = x He_k - k He_(k-1)."""
    return _polynomial("hermite_polynomial_he", x, n)


def laguerre_polynomial_l(x: Any, n: Any) -> Tensor:
    """The Laguerre polynomial L_n: (k+1) L_(k+1) = (2k + 1 - x) L_k - k L_(k-1)."""
    return _polynomial("laguerre_polynomial_l", x, n)


def legendre_polynomial_p(x: Any, n: Any) -> Tensor:
    """The Legendre polynomial P_n: (k+1) P_(k+1) = (2k + 1) x P_k - k P_(k-1)."""
    return _polynomial("legendre_polynomial_p", x, n)


# ------------------------------------------------------------------ the shared work
def _polynomial(name: str, x: Any, n: Any) -> Tensor:
    if isinstance(n, Tensor) and not isinstance(x, Tensor):
        x = as_tensor(x, name, n._backend)  # (a Python float as float32, PyTorch's default dtype)
    x = as_tensor(x, name)
    backend = x._backend
    xp = backend.xp
    dtype = _float_dtype(x.dtype)
    if isinstance(n, SCALARS):
        degree: Any = _degree_of_number(name, n)
    else:
        nd = as_tensor(n, name, backend)._data
        if nd.dtype.kind == "f":
            dtype = np.result_type(dtype, nd.dtype)
        elif nd.dtype.kind not in "biu":
            raise ArgumentTypeError(f"{name}: n must be an int or an integer, bool or float tensor, got {nd.dtype}")
        degree = _degrees(xp, nd)
    with np.errstate(over="ignore"):  # (float32: inf where the float64 value is beyond its range)
        data = _evaluate(name, xp, x._data, degree, 0).astype(dtype, copy=False)
    return record(name, data, backend, (x, None), (_rule(name, 0, dtype), None), (x, degree), broadcast=True)


def _degree_of_number(name: str, n: Any) -> int:
    """A Python or NumPy number as a degree (PyTorch's: truncated; -1, giving 0, where it has no int64 value)."""
    if isinstance(n, (bool, np.bool_)):
        return int(n)
    if isinstance(n, (int, np.integer)):
        if not -_INT64_LIMIT <= int(n) < _INT64_LIMIT:
            raise InvalidArgumentError(f"{name}: n = {n} is beyond int64")
        return max(int(n), -1)
    v = float(n)
    return int(v) if np.isfinite(v) and abs(v) < _INT64_LIMIT and v > -1 else -1


def _degrees(xp: Any, nd: Any) -> Any:
    """An array n as int64 degrees, -1 where PyTorch gives 0 (negative, NaN, infinite, beyond int64)."""
    if nd.dtype.kind != "f":
        return xp.maximum(nd.astype(np.int64), -1)
    with np.errstate(invalid="ignore"):
        valid = xp.isfinite(nd) & (xp.abs(nd) < _INT64_LIMIT)
        truncated = xp.trunc(xp.where(valid, nd, -1.0))
    return xp.maximum(truncated, -1.0).astype(np.int64)


def _rule(name: str, order: int, dtype: Any) -> Any:
    def rule(g: Tensor, x: Tensor, degree: Any) -> Tensor:
        return g * _derivative(name, x, degree, order + 1, dtype)

    return rule


def _derivative(name: str, x: Tensor, degree: Any, order: int, dtype: Any) -> Tensor:
    """The ``order``-th derivative in x, an operation whose slope is the next one."""
    with np.errstate(over="ignore"):
        data = _evaluate(name, x._backend.xp, x._data, degree, order).astype(dtype, copy=False)
    return record(f"{name}_derivative{order}", data, x._backend, (x,), (_rule(name, order, dtype),), (x, degree),
                  broadcast=True)


def _evaluate(name: str, xp: Any, x: Any, degree: Any, order: int) -> Any:
    """The ``order``-th derivative of the polynomial ``name`` of degree ``degree`` (an int or an int64 array,
    -1 for the zero polynomial) at x, in float64, broadcast."""
    (alpha, beta), step, shifted = _KINDS[name]
    x = x.astype(np.float64)
    if isinstance(degree, int):
        shape, top, present = x.shape, degree, {degree}
    else:
        try:
            shape = np.broadcast_shapes(x.shape, degree.shape)
        except ValueError:
            raise ShapeError(f"{name}: x of shape {x.shape} and n of shape {degree.shape} do not broadcast") from None
        if degree.size == 0:
            top, present = -1, set()
        elif host_read_allowed(degree):
            present = {int(v) for v in xp.unique(degree).tolist()}  # the degrees asked for (one host read)
            top = max(present)
        else:
            raise InvalidArgumentError(f"{name}: n as a device tensor needs its largest value on the host, which "
                                       "cannot be read while a CUDA graph is captured; pass n as an int")
    if top > _MAX_DEGREE:
        raise InvalidArgumentError(f"{name}: n = {top} is above {_MAX_DEGREE}, the largest degree evaluated (by a "
                                   "three-term recurrence of n steps, each over the whole tensor)")
    with np.errstate(all="ignore"):
        y = 2 * x - 1 if shifted else x
        zeros = xp.zeros(shape, dtype=np.float64)
        if top < 0:
            return zeros
        # p[j] = the j-th derivative of p_k, and previous[j] that of p_(k-1)
        previous = [zeros] * (order + 1)
        p = [zeros + 1.0] + [zeros] * order
        out = _choose(xp, degree, 0, p[order], zeros)
        linear, linear_of = None, None  # a_k x + b_k, and the (a_k, b_k) it is for (constant for most kinds)
        for k in range(top):
            if k == 0:
                first = alpha * y + beta if beta else alpha * y
                # (-0.0 + first keeps -0 at -0, as PyTorch's x for T_1: 0.0 + first would make it +0)
                following = [-zeros + first] + [zeros + float(alpha)] + [zeros] * max(order - 1, 0)
                following = following[: order + 1]
            else:
                a, b, c, d = step(k)
                if linear_of != (a, b):
                    linear, linear_of = (a * y + b if b else a * y), (a, b)
                following = []
                for j in range(order + 1):  # (the factors 1 and the term 0 left out: exact, and PyTorch's -0)
                    v = linear * p[j]
                    if j:
                        v = v + (j * a) * p[j - 1]
                    v = v - (previous[j] if c == 1 else c * previous[j])
                    following.append(v if d == 1 else v / d)
            previous, p = p, following
            if k + 1 in present:
                out = _choose(xp, degree, k + 1, p[order], out)
        if shifted and order:
            out = out * 2.0**order
        return out


def _choose(xp: Any, degree: Any, k: int, value: Any, out: Any) -> Any:
    """value where the degree is k, out elsewhere (an int degree: value if it is k)."""
    if isinstance(degree, int):
        return value if degree == k else out
    return xp.where(degree == k, value, out)
