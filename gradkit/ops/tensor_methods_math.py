"""PyTorch's ``Tensor`` methods for elementwise maths, comparisons, products and linear algebra that gradkit has
as functions (``gk.tan``, ``gk.kron``, ``gk.linalg.det`` ...) or as short composites of them, and the in-place
forms (``sin_``, ``eq_``, ``addmm_`` ...) of these and of the methods ``Tensor`` already has.

Each is a plain function taking the tensor as ``self``, with PyTorch's signature; :func:`install` puts them on
``Tensor`` (``METHODS`` lists them). Results have gradkit's dtypes (NumPy 2's promotion, as everywhere in
gradkit: ``int_tensor.tan()`` is float64); the differentiable ones are composites of differentiable gradkit
operations. The in-place forms go through ``Tensor._assign_``: refused where autograd would break, allowed under
``gk.no_grad()``, the version counter bumps, and a result self's dtype cannot hold (a float into an integer
tensor) raises ``DTypeError``; a comparison in place stores its bools in self's dtype, as PyTorch's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit import return_types
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.errors import DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops import elementwise as _el
from gradkit.ops import numpy_misc as _misc
from gradkit.ops import numpy_more as _more
from gradkit.ops import numpy_stats as _stats
from gradkit.ops import numpy_ufuncs as _uf
from gradkit.ops import shape as _shape
from gradkit.ops import torch_compat as _tc
from gradkit.ops._util import as_tensor, host_read_allowed, normalize_axis
from gradkit.tensor import Tensor

__all__ = ["METHODS", "install"]


def _la() -> Any:
    from gradkit import linalg

    return linalg


def _operand(self: Tensor, other: Any, op: str) -> Tensor:
    return as_tensor(other, op, self._backend)


# ------------------------------------------------------------------------------------- unary (out of place)
def tan(self: Tensor) -> Tensor:
    """The tangent, elementwise (``gk.tan``)."""
    return _el.tan(self)


def absolute(self: Tensor) -> Tensor:
    """``abs`` (PyTorch's alias; a bool tensor is refused, as PyTorch's)."""
    if self.dtype.kind == "b":
        raise DTypeError("absolute: not defined for a bool tensor (PyTorch's abs refuses bool too)")
    return _el.abs(self)


def frac(self: Tensor) -> Tensor:
    """The fractional part ``self - trunc(self)``, sign kept (floats only, as PyTorch's); gradient 1."""
    if self.dtype.kind != "f":
        raise DTypeError(f"frac: expected a float tensor, got {self.dtype} (PyTorch's frac is for floats only)")
    return self - _el.trunc(self)


def sgn(self: Tensor) -> Tensor:
    """``sign`` (PyTorch's name for complex-aware sign; tensors are real here); a bool tensor gives a copy."""
    if self.dtype.kind == "b":
        return self.clone()
    return _el.sign(self)


def negative(self: Tensor) -> Tensor:
    """``-self`` (PyTorch's alias of ``neg``; a bool tensor is refused)."""
    return _el.negative(self)


def positive(self: Tensor) -> Tensor:
    """``+self`` (a bool tensor is refused, as PyTorch's)."""
    return _uf.positive(self)


def angle(self: Tensor) -> Tensor:
    """The argument of each (real) element: pi where negative, 0 elsewhere, NaN kept; gradient 0, as PyTorch's."""
    from gradkit.autograd.function import record

    xp = self._backend.xp
    data = self._data if self.dtype.kind == "f" else self._data.astype(np.float64)
    out = xp.where(data < 0, data.dtype.type(math.pi), data.dtype.type(0))
    out = xp.where(xp.isnan(data), data, out)
    return record("angle", out, self._backend, (self,), (_zero_slope,)) if self.dtype.kind == "f" else Tensor._make(
        out, self._backend)


def _zero_slope(g: Tensor) -> Tensor:
    return Tensor._make(g._backend.xp.zeros_like(g._data), g._backend)


def frexp(self: Tensor) -> return_types.frexp:
    """``(mantissa, exponent)`` with ``self == mantissa * 2 ** exponent``, |mantissa| in [0.5, 1), exponent int32."""
    if self.dtype.kind != "f":
        raise DTypeError(f"frexp: expected a float tensor, got {self.dtype} (PyTorch's frexp is for floats only)")
    mantissa, exponent = _uf.frexp(self)
    return return_types.frexp(mantissa, exponent)


def conj_physical(self: Tensor) -> Tensor:
    """A copy (the conjugate of a real tensor), in the graph."""
    return self.clone()


def resolve_conj(self: Tensor) -> Tensor:
    """Self (a real tensor has no lazy conjugation to resolve)."""
    return self


def resolve_neg(self: Tensor) -> Tensor:
    """Self (gradkit has no lazy negation to resolve)."""
    return self


def hardshrink(self: Tensor, lambd: float = 0.5) -> Tensor:
    """``F.hardshrink(self, lambd)``: self where ``|self| > lambd``, else 0."""
    from gradkit.nn.functional import hardshrink as _hardshrink

    return _hardshrink(self, lambd)


def prelu(self: Tensor, weight: Any) -> Tensor:
    """``F.prelu(self, weight)``: self where positive, else ``weight * self`` (weight per channel, dim 1)."""
    from gradkit.nn.functional import prelu as _prelu

    return _prelu(self, weight)


# -------------------------------------------------------------------------------------------------- binary
def _int_divisor_check(self: Tensor, other: Any, op: str) -> None:
    """As PyTorch: an integer division (remainder, fmod) by zero raises instead of giving 0."""
    if self.dtype.kind not in "iub":
        return
    if isinstance(other, Tensor) and 0 in np.broadcast_shapes(self.shape, other.shape):
        return  # an empty result divides nothing
    if isinstance(other, (bool, int, np.integer, np.bool_)):
        if other == 0:
            raise InvalidArgumentError(f"{op}: integer division by zero")
        return
    if isinstance(other, Tensor) and other.dtype.kind in "iub" and other.size and host_read_allowed(other._data):
        if bool(other._backend.xp.any(other._data == 0)):
            raise InvalidArgumentError(f"{op}: integer division by zero")


def multiply(self: Tensor, other: Any) -> Tensor:
    """``mul`` (PyTorch's alias)."""
    return self.mul(other)


def divide(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``div`` (PyTorch's alias), ``rounding_mode`` None, "trunc" or "floor"."""
    return self.div(other, rounding_mode=rounding_mode)


def subtract(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """``sub``: ``self - alpha * other`` (PyTorch's alias)."""
    return self.sub(other, alpha=alpha)


def true_divide(self: Tensor, other: Any) -> Tensor:
    """``div`` without rounding (PyTorch's alias)."""
    return self.div(other)


def floor_divide(self: Tensor, other: Any) -> Tensor:
    """``div(other, rounding_mode="floor")``, PyTorch's: integers stay integers, an integer division by zero raises;
    the gradient is 0 (PyTorch has none)."""
    return self.div(other, rounding_mode="floor")


def remainder(self: Tensor, other: Any) -> Tensor:
    """Python's modulus ``self % other`` (the sign of ``other``); an integer division by zero raises, a float one
    gives NaN silently, as PyTorch."""
    _int_divisor_check(self, other, "remainder")
    with np.errstate(divide="ignore", invalid="ignore"):
        return _el.remainder(self, other)


def float_power(self: Tensor, exponent: Any) -> Tensor:
    """``self ** exponent`` computed in float64 (``gk.float_power``)."""
    return _uf.float_power(self, exponent)


def ldexp(self: Tensor, other: Any) -> Tensor:
    """``self * 2 ** other``, as PyTorch's (``other`` may be a float too; integer exponents use ``gk.ldexp``)."""
    if isinstance(other, float) or (isinstance(other, Tensor) and other.dtype.kind == "f"):
        return self * (2.0 ** other if isinstance(other, float) else _el.exp2(other))
    return _uf.ldexp(self, other)


def fmax(self: Tensor, other: Any) -> Tensor:
    """The elementwise maximum, a NaN ignored where the other value is not NaN (``gk.fmax``)."""
    return _more.fmax(self, other)


def fmin(self: Tensor, other: Any) -> Tensor:
    """The elementwise minimum, a NaN ignored where the other value is not NaN (``gk.fmin``)."""
    return _more.fmin(self, other)


def nextafter(self: Tensor, other: Any) -> Tensor:
    """The next float after self toward ``other`` (``gk.nextafter``); an integer or bool ``other`` is taken in self's
    float dtype, as PyTorch's promotion does (NumPy's would step in float64)."""
    if self.dtype.kind == "f" and isinstance(other, Tensor) and other.dtype.kind in "iub":
        other = other.to(self.dtype)
    return _uf.nextafter(self, other)


def gcd(self: Tensor, other: Any) -> Tensor:
    """The greatest common divisor (integers; ``gk.gcd``)."""
    return _uf.gcd(self, other)


def lcm(self: Tensor, other: Any) -> Tensor:
    """The least common multiple (integers; ``gk.lcm``)."""
    return _uf.lcm(self, other)


def bitwise_and(self: Tensor, other: Any) -> Tensor:
    """``self & other`` (bool or integer tensors)."""
    return _uf.bitwise_and(self, other)


def bitwise_or(self: Tensor, other: Any) -> Tensor:
    """``self | other`` (bool or integer tensors)."""
    return _uf.bitwise_or(self, other)


def bitwise_xor(self: Tensor, other: Any) -> Tensor:
    """``self ^ other`` (bool or integer tensors)."""
    return _uf.bitwise_xor(self, other)


def bitwise_not(self: Tensor) -> Tensor:
    """``~self`` (bool or integer tensors)."""
    return _uf.bitwise_not(self)


def _no_bool_shift(self: Tensor, other: Any, op: str) -> None:
    other_bool = isinstance(other, (bool, np.bool_)) or (isinstance(other, Tensor) and other.dtype.kind == "b")
    if self.dtype.kind == "b" and other_bool:
        raise DTypeError(f"{op}: not defined for two bool operands (PyTorch's shifts need an integer one)")


def bitwise_left_shift(self: Tensor, other: Any) -> Tensor:
    """``self << other`` (integer tensors)."""
    _no_bool_shift(self, other, "bitwise_left_shift")
    return _uf.bitwise_left_shift(self, other)


def bitwise_right_shift(self: Tensor, other: Any) -> Tensor:
    """``self >> other`` (integer tensors; arithmetic shift for signed ones)."""
    _no_bool_shift(self, other, "bitwise_right_shift")
    return _uf.bitwise_right_shift(self, other)


def greater(self: Tensor, other: Any) -> Tensor:
    """``gt`` (PyTorch's alias)."""
    return self.gt(other)


def greater_equal(self: Tensor, other: Any) -> Tensor:
    """``ge`` (PyTorch's alias)."""
    return self.ge(other)


def less(self: Tensor, other: Any) -> Tensor:
    """``lt`` (PyTorch's alias)."""
    return self.lt(other)


def less_equal(self: Tensor, other: Any) -> Tensor:
    """``le`` (PyTorch's alias)."""
    return self.le(other)


def not_equal(self: Tensor, other: Any) -> Tensor:
    """``ne`` (PyTorch's alias)."""
    return self.ne(other)


def isinf(self: Tensor) -> Tensor:
    """Where self is +inf or -inf (bool)."""
    return _stats.isinf(self)


def isposinf(self: Tensor) -> Tensor:
    """Where self is +inf (bool)."""
    return _uf.isposinf(self)


def isneginf(self: Tensor) -> Tensor:
    """Where self is -inf (bool)."""
    return _uf.isneginf(self)


def isreal(self: Tensor) -> Tensor:
    """All True (gradkit's tensors are real)."""
    return _uf.isreal(self)


# --------------------------------------------------------------------------------------------- products
def addbmm(self: Tensor, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * self + alpha * sum_b batch1[b] @ batch2[b]`` (batches 3-d; beta 0 ignores self, as addmm)."""
    product = _shape_sum(_tc.bmm(_operand(self, batch1, "addbmm"), batch2))
    return _tc._add_product(self, product, beta, alpha, "addbmm")


def _shape_sum(t: Tensor) -> Tensor:
    from gradkit.ops.reduce import sum as _sum

    return _sum(t, axis=0)


def addmv(self: Tensor, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * self + alpha * mat @ vec`` (mat 2-d, vec 1-d; beta 0 ignores self, as addmm)."""
    product = _operand(self, mat, "addmv").mv(vec)
    return _tc._add_product(self, product, beta, alpha, "addmv")


def addr(self: Tensor, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * self + alpha * outer(vec1, vec2)`` (vectors 1-d; beta 0 ignores self, as addmm)."""
    product = _operand(self, vec1, "addr").outer(vec2)
    return _tc._add_product(self, product, beta, alpha, "addr")


def inner(self: Tensor, other: Any) -> Tensor:
    """The sum product over the last axes (``gk.inner``; a 0-d operand multiplies)."""
    if _autocast.active and _autocast.is_on(self, other):  # gk.autocast: PyTorch's inner is dot for two vectors
        # (not cast on either device type) and else tensordot (promoted on "cuda", float16's mm on "cpu")
        op = "dot" if self.ndim == 1 and getattr(other, "ndim", None) == 1 else "tensordot"
        cast = _autocast.promote(op, self, other) if op == "dot" or _autocast.promotes(op, self, other) else None
        if cast is not None:
            with _autocast.exclude():
                return _more.inner(*cast)
    return _more.inner(self, other)


def kron(self: Tensor, other: Any) -> Tensor:
    """The Kronecker product (``gk.kron``)."""
    return _more.kron(self, other)


def vdot(self: Tensor, other: Any) -> Tensor:
    """The dot product of two 1-d tensors of one length (PyTorch's ``vdot``: real, so ``dot``)."""
    other = _operand(self, other, "vdot")
    if self.ndim != 1 or other.ndim != 1:
        raise ShapeError(f"vdot: expected two 1-d tensors, got shapes {self.shape} and {other.shape}")
    if self.shape != other.shape:
        raise ShapeError(f"vdot: the vectors' lengths differ: {self.shape[0]} and {other.shape[0]}")
    if _autocast.active:  # gk.autocast: not cast to float16 on either device type (promoted on "cuda")
        cast = _autocast.promote("vdot", self, other)
        if cast is not None:
            with _autocast.exclude():
                return _more.vdot(*cast)
    return _more.vdot(self, other)


def cross(self: Tensor, other: Any, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (operands broadcast); ``dim=None`` takes the first dim of
    length 3, PyTorch's deprecated default (a UserWarning says so)."""
    op = "cross"
    other = _operand(self, other, op)
    if dim is None:
        dim = _default_cross_dim(self, other, op, stacklevel=3)
    return _la().cross(self, other, axis=whole(dim, op, "dim"))


def _default_cross_dim(a: Tensor, b: Tensor, op: str, stacklevel: int) -> int:
    """PyTorch's deprecated ``cross(dim=None)``: the first dim of length 3 of the broadcast shape, with a
    UserWarning at the caller ``stacklevel`` frames up (from here)."""
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    if 3 not in shape:
        raise ShapeError(f"{op}: no dim of length 3 in the broadcast shape {shape}; pass dim=")
    warnings.warn("cross: without dim, the first dim of length 3 is used (PyTorch's deprecated default); "
                  "pass dim= explicitly, or use gk.linalg.cross (dim -1)", UserWarning, stacklevel=stacklevel)
    return shape.index(3)


# -------------------------------------------------------------------------------------------- linalg
def det(self: Tensor) -> Tensor:
    """The determinant of a square matrix or a stack (``gk.linalg.det``)."""
    return _la().det(self)


def logdet(self: Tensor) -> Tensor:
    """``log(det(self))``: NaN where the determinant is negative, -inf where it is 0, as PyTorch's; gradient
    ``inv(self)^T`` (from ``slogdet``)."""
    sign, logabs = _la().slogdet(self)
    return _el.where(sign < 0, math.nan, logabs)


def slogdet(self: Tensor) -> Any:
    """``(sign, logabsdet)`` of a square matrix or a stack (``gk.linalg.slogdet``)."""
    return _la().slogdet(self)


def inverse(self: Tensor) -> Tensor:
    """The inverse of a square matrix or a stack (``gk.linalg.inv``; a singular one raises LinAlgError)."""
    return _la().inv(self)


def pinverse(self: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, singular values ``<= rcond * largest`` taken as 0 (``gk.linalg.pinv``)."""
    return _la().pinv(self, rcond=real(rcond, "pinverse", "rcond", low=0.0))


def matrix_exp(self: Tensor) -> Tensor:
    """The matrix exponential of a square matrix or a stack (``gk.linalg.matrix_exp``)."""
    return _la().matrix_exp(self)


def matrix_power(self: Tensor, n: int) -> Tensor:
    """``self`` to the integer power ``n`` (negative: of the inverse) (``gk.linalg.matrix_power``)."""
    return _la().matrix_power(self, n)


def cholesky(self: Tensor, upper: bool = False) -> Tensor:
    """The Cholesky factor L (``self == L @ L.mT``), or U (``U.mT @ U``) with ``upper=True``."""
    return _la().cholesky(self, upper=flag(upper, "cholesky", "upper"))


def _eye_like(a: Tensor) -> Tensor:
    n = a.shape[-1]
    return Tensor._make(a._backend.xp.eye(n, dtype=a.dtype), a._backend)


def _factor(self: Tensor, op: str) -> Tensor:
    if self.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float Cholesky factor, got {self.dtype}")
    if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
        raise ShapeError(f"{op}: expected square matrices (shape (..., n, n)), got shape {self.shape}")
    return self


def cholesky_inverse(self: Tensor, upper: bool = False) -> Tensor:
    """The inverse of ``A`` from its Cholesky factor self (``A = L @ L.mT``, or ``U.mT @ U`` with ``upper=True``),
    by two triangular solves; differentiable."""
    op = "cholesky_inverse"
    upper = flag(upper, op, "upper")
    if _autocast.active and _autocast.is_on(self):  # gk.autocast: one op in PyTorch (float16 in float32 on the CPU
        (self,) = _autocast.to_float32(op, self)  # list): its product is not cast down
        with _autocast.exclude():
            return cholesky_inverse(self, upper)
    f = _factor(self, op)
    finv = _la().solve_triangular(f, _eye_like(f), upper=upper)
    return _la().matmul(finv, _shape.swapaxes(finv, -1, -2)) if upper else _la().matmul(
        _shape.swapaxes(finv, -1, -2), finv)


def cholesky_solve(self: Tensor, input2: Any, upper: bool = False) -> Tensor:
    """The solution X of ``A @ X == self`` from A's Cholesky factor ``input2`` (lower, or upper with
    ``upper=True``); self (..., n, k), batch dims broadcast; differentiable."""
    op = "cholesky_solve"
    upper = flag(upper, op, "upper")
    f = _operand(self, input2, op)
    if _autocast.active:  # gk.autocast: on PyTorch's CPU float32 list, cast once (not by each solve)
        self, f = _autocast.to_float32(op, self, f)
    f = _factor(f, op)
    if self.ndim < 2:
        raise ShapeError(f"{op}: self must have at least 2 dims (shape (..., n, k)), got shape {self.shape}")
    st = _la().solve_triangular
    if upper:  # A = U^T U
        return st(f, st(f, self, trans=1, upper=True), upper=True)
    return st(f, st(f, self, upper=False), trans=1, upper=False)


def lu(self: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """``(LU, pivots)``, or ``(LU, pivots, infos)`` with ``get_infos=True`` (``gk.linalg.lu_factor_ex``; a singular
    matrix raises nothing, as PyTorch's ``Tensor.lu``)."""
    result = _la().lu_factor_ex(self, pivot=flag(pivot, "lu", "pivot"))
    return tuple(result) if flag(get_infos, "lu", "get_infos") else (result.LU, result.pivots)


def orgqr(self: Tensor, input2: Any) -> Tensor:
    """The Q of the Householder reflectors in self and their scales ``input2`` (``gk.linalg.householder_product``)."""
    return _la().householder_product(self, input2)


def lu_solve(self: Tensor, LU_data: Any, LU_pivots: Any) -> Tensor:  # noqa: N803 - PyTorch's names
    """The solution X of ``A @ X == self`` from ``A.lu()`` (``gk.linalg.lu_solve(LU_data, LU_pivots, self)``)."""
    return _la().lu_solve(LU_data, LU_pivots, self)


def qr(self: Tensor, some: bool = True) -> Any:
    """``(Q, R)``: reduced with ``some=True``, complete otherwise (``gk.linalg.qr``)."""
    return _la().qr(self, "reduced" if flag(some, "qr", "some") else "complete")


def svd(self: Tensor, some: bool = True, compute_uv: bool = True) -> return_types.svd:
    """``(U, S, V)`` with ``self == U @ diag(S) @ V.mT`` (V, not Vh: PyTorch's ``Tensor.svd``); ``some=False``:
    U and V square; ``compute_uv=False``: U and V zeros of shapes (..., m, m) and (..., n, n)."""
    op = "svd"
    some, compute_uv = flag(some, op, "some"), flag(compute_uv, op, "compute_uv")
    if not compute_uv:
        s = _la().svd(self, compute_uv=False)
        batch, (m, n) = self.shape[:-2], self.shape[-2:]
        xp = self._backend.xp
        u = Tensor._make(xp.zeros(batch + (m, m), s.dtype), self._backend)
        v = Tensor._make(xp.zeros(batch + (n, n), s.dtype), self._backend)
        return return_types.svd(u, s, v)
    u, s, vh = _la().svd(self, full_matrices=not some)
    return return_types.svd(u, s, _shape.swapaxes(vh, -1, -2))


def triangular_solve(
    self: Tensor, A: Any, upper: bool = True, transpose: bool = False, unitriangular: bool = False  # noqa: N803
) -> return_types.triangular_solve:
    """``(solution, cloned_coefficient)``: X with ``A @ X == self`` (``A.mT @ X`` with ``transpose=True``),
    only A's upper (or lower) triangle read, and a copy of A; self (..., n, k)."""
    op = "triangular_solve"
    a = _operand(self, A, op)
    if _autocast.active:  # gk.autocast: on PyTorch's CPU float32 list, the cloned coefficient too
        self, a = _autocast.to_float32(op, self, a)
    if self.ndim < 2 or a.ndim < 2:
        raise ShapeError(f"{op}: self and A must have at least 2 dims, got shapes {self.shape} and {a.shape}")
    x = _la().solve_triangular(a, self, trans=1 if flag(transpose, op, "transpose") else 0,
                               upper=flag(upper, op, "upper"), unitriangular=flag(unitriangular, op, "unitriangular"))
    batch = x.shape[:-2] + a.shape[-2:]  # the coefficient broadcast to the batch, as PyTorch's
    return return_types.triangular_solve(x, a.clone() if a.shape == batch else _shape.broadcast_to(a, batch).clone())


def dist(self: Tensor, other: Any, p: float = 2) -> Tensor:
    """The p-norm of ``self - other`` over all elements (broadcast; p 0 counts the nonzeros, inf the largest);
    gradient 0 at distance 0, as PyTorch's."""
    p = real(p, "dist", "p")
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        self, other = _autocast.to_float32("dist", self, other)
    return _la().vector_norm(self - _operand(self, other, "dist"), ord=p)


def renorm(self: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled by ``maxnorm / (norm + 1e-7)``, as PyTorch's
    (self at least 2-d, float; p > 0, maxnorm >= 0); differentiable."""
    op = "renorm"
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (self,) = _autocast.to_float32(op, self)
    p = real(p, op, "p", low=0.0, low_open=True)
    maxnorm = real(maxnorm, op, "maxnorm", low=0.0)
    if self.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float tensor, got {self.dtype}")
    if self.ndim < 2:
        raise ShapeError(f"{op}: self needs at least 2 dims, got shape {self.shape}")
    ax = normalize_axis(whole(dim, op, "dim"), self.ndim, op)
    norms = _la().vector_norm(self, ord=p, axis=tuple(i for i in range(self.ndim) if i != ax), keepdims=True)
    factor = _el.where(norms.detach() > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return self * factor


def diag_embed(self: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """A tensor with one more dim whose diagonals (``offset`` above the main one) in dims ``dim1``, ``dim2`` hold
    self's last dim, zeros elsewhere, as PyTorch's; differentiable."""
    op = "diag_embed"
    offset = whole(offset, op, "offset")
    if self.ndim == 0:
        raise ShapeError(f"{op}: self must have at least 1 dim, got a 0-d tensor")
    nd = self.ndim + 1
    d1 = normalize_axis(whole(dim1, op, "dim1"), nd, op)
    d2 = normalize_axis(whole(dim2, op, "dim2"), nd, op)
    if d1 == d2:
        raise InvalidArgumentError(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2}")
    batch, n, k = self.shape[:-1], self.shape[-1], abs(offset)

    def zeros(*shape: int) -> Tensor:
        return Tensor._make(self._backend.xp.zeros(batch + shape, self.dtype), self._backend)

    # self's values at column 0 of rows of width n + 1: flattened, the first n * n are an n x n diagonal matrix
    rows = _shape.concatenate([_shape.expand_dims(self, -1), zeros(n, n)], axis=-1)
    out = _shape.reshape(_shape.reshape(rows, batch + (n * (n + 1),))[..., :n * n], batch + (n, n))
    if offset > 0:
        out = _shape.concatenate([zeros(n, k), out], axis=-1)
        out = _shape.concatenate([out, zeros(k, n + k)], axis=-2)
    elif offset < 0:
        out = _shape.concatenate([zeros(k, n), out], axis=-2)
        out = _shape.concatenate([out, zeros(n + k, k)], axis=-1)
    return _shape.moveaxis(out, (nd - 2, nd - 1), (d1, d2))


def diagflat(self: Tensor, offset: int = 0) -> Tensor:
    """A 2-d tensor with self's elements (flattened) on the diagonal ``offset`` (``gk.diagflat``)."""
    return _misc.diagflat(self, offset)


def _matrix_transpose(self: Tensor, op: str) -> Tensor:
    if self.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a batch of matrices, got shape {self.shape}")
    return _shape.swapaxes(self, -1, -2)


def adjoint(self: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (the transpose: tensors are real); a view."""
    return _matrix_transpose(self, "adjoint")


def _mH(self: Tensor) -> Tensor:  # noqa: N802 - PyTorch's name
    """The conjugate transpose of the last two dims (``adjoint()``; the transpose: tensors are real)."""
    return _matrix_transpose(self, "mH")


def corrcoef(self: Tensor) -> Tensor:
    """The Pearson correlation matrix of the rows (variables) of a 1-d or 2-d tensor (``gk.corrcoef``)."""
    if self.ndim > 2:
        raise ShapeError(f"corrcoef: expected a 1-d or 2-d tensor, got shape {self.shape}")
    return _in_float_dtype(self, _stats.corrcoef(self))


def _in_float_dtype(self: Tensor, out: Tensor) -> Tensor:
    """NumPy's cov/corrcoef compute in float64; PyTorch's keep a float self's dtype."""
    return out.to(self.dtype) if self.dtype.kind == "f" and out.dtype != self.dtype else out


def cov(self: Tensor, *, correction: int = 1, fweights: Any = None, aweights: Any = None) -> Tensor:
    """The covariance matrix of the rows (variables) of a 1-d or 2-d tensor, with ``correction`` (PyTorch's; NumPy's
    ddof), integer frequency weights ``fweights`` and observation weights ``aweights`` (``gk.cov``)."""
    op = "cov"
    if self.ndim > 2:
        raise ShapeError(f"{op}: expected a 1-d or 2-d tensor, got shape {self.shape}")
    correction = whole(correction, op, "correction")
    return _in_float_dtype(self, _stats.cov(self, ddof=correction, fweights=fweights, aweights=aweights))


# ------------------------------------------------------------------------------------------------- in place
def _inplace_unary(name: str) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return self._assign_(f"{name}_", lambda t: getattr(t, name)())

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f":meth:`{name}` in place (under ``add_``'s rules); returns self."
    return method


def _inplace_binary(name: str) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        return self._assign_(f"{name}_", lambda t: getattr(t, name)(other), other)

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f":meth:`{name}` in place (under ``add_``'s rules; a bool result in self's dtype); returns self."
    return method


def divide_(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """:meth:`divide` in place; returns self."""
    return self._assign_("divide_", lambda t: t.div(other, rounding_mode=rounding_mode), other)


def subtract_(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    """:meth:`subtract` in place; returns self."""
    return self._assign_("subtract_", lambda t: t.sub(other, alpha=alpha), other)


def fmod_(self: Tensor, other: Any) -> Tensor:
    """:meth:`fmod` in place (an integer division by zero raises, a float one gives NaN silently, as PyTorch);
    returns self."""
    _int_divisor_check(self, other, "fmod_")
    with np.errstate(divide="ignore", invalid="ignore"):
        return self._assign_("fmod_", lambda t: t.fmod(other), other)


def float_power_(self: Tensor, exponent: Any) -> Tensor:
    """:meth:`float_power` in place: self must be float64, the result's dtype, as PyTorch's; returns self."""
    if self.dtype != np.float64:
        raise DTypeError(f"float_power_: self must be float64 (the result's dtype), got {self.dtype}")
    return self._assign_("float_power_", lambda t: float_power(t, exponent), exponent)


def heaviside_(self: Tensor, values: Any) -> Tensor:
    """:meth:`heaviside` in place; returns self."""
    return self._assign_("heaviside_", lambda t: t.heaviside(values), values)


def clip_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """``clamp_`` (PyTorch's alias); returns self."""
    return self._assign_("clip_", lambda t: t.clamp(min, max), min, max)


def nan_to_num_(self: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """:meth:`nan_to_num` in place; returns self."""
    return self._assign_("nan_to_num_", lambda t: t.nan_to_num(nan, posinf, neginf))


def logit_(self: Tensor, eps: float | None = None) -> Tensor:
    """:meth:`logit` in place; returns self."""
    return self._assign_("logit_", lambda t: t.logit(eps))


def mvlgamma_(self: Tensor, p: int) -> Tensor:
    """:meth:`mvlgamma` in place; returns self."""
    return self._assign_("mvlgamma_", lambda t: t.mvlgamma(p))


def polygamma_(self: Tensor, n: int) -> Tensor:
    """:meth:`polygamma` in place (``self = polygamma(n, self)``); returns self."""
    return self._assign_("polygamma_", lambda t: t.polygamma(n))


def renorm_(self: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """:meth:`renorm` in place; returns self."""
    return self._assign_("renorm_", lambda t: renorm(t, p, dim, maxnorm))


def conj_physical_(self: Tensor) -> Tensor:
    """:meth:`conj_physical` in place (nothing changes for a real tensor, but the in-place rules hold); returns self."""
    return self._assign_("conj_physical_", lambda t: t)


def addmm_(self: Tensor, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """:meth:`addmm` in place; returns self."""
    return self._assign_("addmm_", lambda t: t.addmm(mat1, mat2, beta=beta, alpha=alpha), mat1, mat2)


def baddbmm_(self: Tensor, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """:meth:`baddbmm` in place; returns self."""
    return self._assign_("baddbmm_", lambda t: t.baddbmm(batch1, batch2, beta=beta, alpha=alpha), batch1, batch2)


def addbmm_(self: Tensor, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """:meth:`addbmm` in place; returns self."""
    return self._assign_("addbmm_", lambda t: addbmm(t, batch1, batch2, beta=beta, alpha=alpha), batch1, batch2)


def addmv_(self: Tensor, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """:meth:`addmv` in place; returns self."""
    return self._assign_("addmv_", lambda t: addmv(t, mat, vec, beta=beta, alpha=alpha), mat, vec)


def addr_(self: Tensor, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """:meth:`addr` in place; returns self."""
    return self._assign_("addr_", lambda t: addr(t, vec1, vec2, beta=beta, alpha=alpha), vec1, vec2)


_UNARY_INPLACE = (
    "absolute", "acos", "acosh", "asin", "asinh", "atan", "atanh", "arccos", "arccosh", "arcsin", "arcsinh",
    "arctan", "arctanh", "cos", "cosh", "sin", "sinh", "tan", "sinc", "rsqrt", "log10", "log1p", "log2", "expm1",
    "exp2", "erf", "erfc", "erfinv", "digamma", "lgamma", "i0", "deg2rad", "rad2deg", "frac", "fix", "sgn",
    "negative", "bitwise_not", "logical_not",
)
_BINARY_INPLACE = (
    "multiply", "true_divide", "floor_divide", "remainder", "hypot", "atan2", "arctan2", "copysign", "xlogy",
    "ldexp", "nextafter", "gcd", "lcm", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
    "bitwise_right_shift", "logical_and", "logical_or", "logical_xor", "eq", "ne", "lt", "le", "gt", "ge",
    "greater", "greater_equal", "less", "less_equal", "not_equal", "igamma", "igammac",
)

#: Every method :func:`install` puts on ``Tensor``, by name (``mH`` a property).
METHODS: dict[str, Any] = {
    name: obj for name, obj in globals().items()
    if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", None) == __name__
    and name not in ("install",)
}
METHODS.update({f"{n}_": _inplace_unary(n) for n in _UNARY_INPLACE})
METHODS.update({f"{n}_": _inplace_binary(n) for n in _BINARY_INPLACE})
METHODS["mH"] = property(_mH, doc=_mH.__doc__)


def install(cls: type) -> None:
    """Put every method of ``METHODS`` on ``cls`` (again: nothing changes); a name ``cls`` already has otherwise
    raises ``InvalidArgumentError`` before anything is set, so nothing is silently replaced."""
    taken = sorted(n for n, fn in METHODS.items() if hasattr(cls, n) and cls.__dict__.get(n) is not fn)
    if taken:
        raise InvalidArgumentError(
            f"install: {cls.__name__} already has {', '.join(taken)}; tensor_methods_math would replace them"
        )
    for name, fn in METHODS.items():
        setattr(cls, name, fn)
