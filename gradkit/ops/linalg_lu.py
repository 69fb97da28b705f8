"""PyTorch's LU family and its other factor-and-report functions for ``gk.linalg``.

``lu_factor``, ``lu_factor_ex``, ``lu``, ``lu_solve``, ``solve_ex``, ``inv_ex``, ``cholesky_ex``, ``vander``,
``householder_product``, ``ldl_factor``, ``ldl_factor_ex`` and ``ldl_solve``, with ``torch.linalg``'s
signatures, shapes and result types, batched over leading axes, on NumPy and CuPy.

NumPy has no LU factorisation, so gradkit has its own (:func:`_getrf`): LAPACK's ``getrf`` algorithm,
partial pivoting by the first entry of largest magnitude (``idamax``), row interchanges applied to whole
rows, a zero pivot (a column that is zero on and below the diagonal) left unscaled and reported in
``info``. It is blocked (a panel of columns by rank-1 updates, the rest of the matrix by one matrix
product per panel) and vectorised over the batch, with a Python loop over the columns; the pivots are
those of LAPACK up to rounding (a near tie between two candidate pivots may be broken differently).
Triangular solves are by blocked substitution (:func:`_substitute`; ``cupyx.scipy.linalg``'s ``trsm`` on
a GPU where it is installed): a zero on the diagonal gives inf/NaN, as LAPACK's ``getrs``, not an
error. The ``_ex`` functions report failures in ``info`` (LAPACK's convention: 0, or the 1-based index
of the first zero pivot / non-positive leading minor) and read nothing back unless
``check_errors=True``.

Gradients are written with gradkit operations (differentiable again): ``lu_factor``'s is PyTorch's
``linalg_lu_backward`` (square, wide and tall), ``lu`` is ``lu_factor`` unpacked by differentiable slicing,
``lu_solve`` is two differentiable triangular solves and a permutation, so its gradient reaches both the
factors and ``B``; ``solve_ex`` and ``inv_ex`` have ``solve``'s and ``inv``'s rules, ``cholesky_ex``
``cholesky``'s (by triangular solves). ``vander`` is a running product and ``householder_product`` a
product of reflectors, both built from differentiable operations. ``ldl_factor`` and ``ldl_solve`` are
not differentiable (nor are PyTorch's): backward through them raises ``AutogradError``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import flag, whole
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, AutogradError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor
from gradkit.ops.linalg import (
    LinAlgError,
    _inv_vjp,
    _library,
    _matrices,
    _mT,
    _not_captured,
    _triangular_data,
    _two_operands,
    _zero_slope,
    matmul,
    tril,
    triu,
)
from gradkit.tensor import Tensor


class LUFactorResult(NamedTuple):
    """``lu_factor``'s result, as ``torch.linalg.lu_factor``'s: the packed factors and int32 pivots."""

    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    """``lu_factor_ex``'s result: ``LU``, ``pivots`` and the int32 ``info`` of each matrix."""

    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    """``lu``'s result: ``A == P @ L @ U``."""

    P: Tensor
    L: Tensor
    U: Tensor


class SolveExResult(NamedTuple):
    """``solve_ex``'s result: the solution and the int32 ``info`` of each matrix."""

    result: Tensor
    info: Tensor


class InvExResult(NamedTuple):
    """``inv_ex``'s result: the inverse and the int32 ``info`` of each matrix."""

    inverse: Tensor
    info: Tensor


class CholeskyExResult(NamedTuple):
    """``cholesky_ex``'s result: the factor and the int32 ``info`` of each matrix."""

    L: Tensor
    info: Tensor


class LDLFactorResult(NamedTuple):
    """``ldl_factor``'s result: the packed factors and int32 pivots (LAPACK's ``sytrf`` format)."""

    LD: Tensor
    pivots: Tensor


class LDLFactorExResult(NamedTuple):
    """``ldl_factor_ex``'s result: ``LD``, ``pivots`` and the int32 ``info`` of each matrix."""

    LD: Tensor
    pivots: Tensor
    info: Tensor


# ============================================================================ arrays
_PANEL = 32  # columns factored by rank-1 updates before one matrix product updates the rest
_BLOCK = 32  # rows solved one by one before one matrix product updates the rest


def _getrf(xp: Any, a: Any, pivot: bool) -> tuple[Any, Any, Any]:
    """``(lu, pivots, info)`` of each matrix of ``a`` (..., m, n): LAPACK's getrf (see the module's notes).

    ``pivots`` (..., min(m, n)) int32, 1-based: row j was interchanged with row ``pivots[j]`` (without
    pivoting, ``j + 1``); ``info`` (...,) int32: 0, or the first j (1-based) with ``U[j, j] == 0``.
    """
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    count = math.prod(batch)
    lu = a.reshape((count, m, n)).copy()
    pivots = xp.broadcast_to(xp.arange(1, k + 1, dtype=np.int32), (count, k)).copy()
    info = xp.zeros(count, np.int32)
    if lu.size:
        rows = xp.arange(count)
        for j0 in range(0, k, _PANEL):
            j1 = min(j0 + _PANEL, k)
            for j in range(j0, j1):
                if pivot:
                    p = xp.argmax(xp.abs(lu[:, j:, j]), axis=-1) + j  # idamax's choice: the first largest
                    row = lu[:, j, :].copy()
                    lu[:, j, :] = lu[rows, p, :]
                    lu[rows, p, :] = row
                    pivots[:, j] = p + 1
                d = lu[:, j, j]
                zero = d == 0
                info = xp.where((info == 0) & zero, j + 1, info).astype(np.int32)
                if j + 1 < m:
                    lu[:, j + 1 :, j] /= xp.where(zero, 1, d)[:, None]  # a zero pivot: the column is left as it is
                    if j + 1 < j1:
                        lu[:, j + 1 :, j + 1 : j1] -= lu[:, j + 1 :, j, None] * lu[:, j, None, j + 1 : j1]
            if j1 < n:  # the rows of U right of the panel, then the rest of the matrix
                for j in range(j0, j1 - 1):
                    lu[:, j + 1 : j1, j1:] -= lu[:, j + 1 : j1, j, None] * lu[:, j, None, j1:]
                if j1 < m:
                    lu[:, j1:, j1:] -= xp.matmul(lu[:, j1:, j0:j1], lu[:, j0:j1, j1:])
    return lu.reshape(a.shape), pivots.reshape(batch + (k,)), info.reshape(batch)


def _permutation(xp: Any, pivots: Any, m: int) -> Any:
    """``perm`` (..., m): the rows of ``A`` in the order of ``L U`` (``(P^T A)[i] == A[perm[i]]``), from
    LAPACK's pivots (1-based interchanges, applied in order)."""
    batch, k = pivots.shape[:-1], pivots.shape[-1]
    count = math.prod(batch)
    swaps = pivots.reshape((count, k)).astype(np.int64) - 1
    perm = xp.broadcast_to(xp.arange(m, dtype=np.int64), (count, m)).copy()
    rows = xp.arange(count)
    for j in range(k):
        p = swaps[:, j]
        here = perm[:, j].copy()
        perm[:, j] = perm[rows, p]
        perm[rows, p] = here
    return perm.reshape(batch + (m,))


def _permutation_matrix(xp: Any, perm: Any, dtype: Any) -> Any:
    """``P`` (..., m, m) with ``P[perm[i], i] = 1``: ``A == P @ L @ U``."""
    m = perm.shape[-1]
    return (xp.arange(m)[:, None] == perm[..., None, :]).astype(dtype)


def _substitute(xp: Any, t: Any, x: Any, lower: bool, unit: bool) -> None:
    """Solve ``T y = x`` in place for triangular ``T`` (batch, n, n) and ``x`` (batch, n, k) (batch shapes
    equal): blocks of rows one by one, the rows beyond each block by one matrix product. A zero on the
    diagonal gives inf/NaN."""
    n = t.shape[-1]
    starts = list(range(0, n, _BLOCK))
    for i0 in starts if lower else reversed(starts):
        i1 = min(i0 + _BLOCK, n)
        for i in range(i0, i1) if lower else range(i1 - 1, i0 - 1, -1):
            done = slice(i0, i) if lower else slice(i + 1, i1)
            if done.stop > done.start:
                x[..., i, :] -= xp.matmul(t[..., i, None, done], x[..., done, :])[..., 0, :]
            if not unit:
                x[..., i, :] /= t[..., i, i, None]
        if lower and i1 < n:
            x[..., i1:, :] -= xp.matmul(t[..., i1:, i0:i1], x[..., i0:i1, :])
        elif not lower and i0 > 0:
            x[..., :i0, :] -= xp.matmul(t[..., :i0, i0:i1], x[..., i0:i1, :])


def _triangular_solve(xp: Any, t: Any, b: Any, lower: bool, unit: bool, trans: bool) -> Any:
    """``op(T)^{-1} b`` for the triangle of ``t`` (..., n, n) named by ``lower`` (``unit``: ones on the
    diagonal, not read), ``op`` the transpose when ``trans``; ``b`` (..., n, k), batch axes broadcast.
    Never raises for a singular triangle (inf/NaN, as LAPACK's trsm)."""
    n, k = t.shape[-1], b.shape[-1]
    batch = tuple(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]))
    if type(t) is not np.ndarray and _library("cupyx.scipy.linalg") is not None:  # cuBLAS's batched trsm
        return _triangular_data(xp, t, b, batch, lower, trans, unit).astype(t.dtype, copy=False)
    if trans:
        t, lower = xp.swapaxes(t, -1, -2), not lower
    t = xp.broadcast_to(t, batch + (n, n))
    x = xp.broadcast_to(b, batch + (n, k)).astype(t.dtype, copy=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _substitute(xp, t, x, lower, unit)
    return x


# ============================================================================ differentiable triangular solve


def _tri(t: Tensor, b: Tensor, lower: bool, unit: bool, trans: bool) -> Tensor:
    """``op(T)^{-1} b`` (see :func:`_triangular_solve`), recorded: ``gb = op(T)^{-T} g``, ``gT = -gb x^T``
    (``-x gb^T`` when transposed) on the triangle read; differentiable again."""
    backend = t._backend
    xp = backend.xp
    n, k = t.shape[-1], b.shape[-1]
    full = tuple(np.broadcast_shapes(t.shape[:-2], b.shape[:-2])) + (n, k)
    if 0 in full:
        data = xp.zeros(full, t.dtype)
    else:
        data = _triangular_solve(xp, t._data, b._data, lower, unit, trans)
    cache = {} if t.requires_grad and b.requires_grad else None
    return record(
        "triangular_solve", data, backend, (t, b), (_tri_dt, _tri_db), (t, lower, unit, trans, cache),
        broadcast=True, save_output=True, info="lower" if lower else "upper",
    )  # fmt: skip


def _tri_gb(g: Tensor, t: Tensor, lower: bool, unit: bool, trans: bool, cache: dict | None) -> Tensor:
    if cache is not None:
        hit = cache.pop("gb", None)
        if hit is not None and hit[0] is g and hit[1] == g._version[0]:
            return hit[2]
    gb = _tri(t, g, lower, unit, not trans)
    if cache is not None:
        cache["gb"] = (g, g._version[0], gb)
    return gb


def _tri_dt(g: Tensor, t: Tensor, lower: bool, unit: bool, trans: bool, cache: dict | None, x: Tensor) -> Tensor:
    gb = _tri_gb(g, t, lower, unit, trans, cache)
    gt = -matmul(x, _mT(gb)) if trans else -matmul(gb, _mT(x))
    return tril(gt, -1 if unit else 0) if lower else triu(gt, 1 if unit else 0)


def _tri_db(g: Tensor, t: Tensor, lower: bool, unit: bool, trans: bool, cache: dict | None, x: Tensor) -> Tensor:
    return _tri_gb(g, t, lower, unit, trans, cache)


def _right_tri(b: Tensor, t: Tensor, lower: bool, unit: bool, trans: bool) -> Tensor:
    """``b op(T)^{-1}`` (``x op(T) = b``, i.e. ``op(T)^T x^T = b^T``)."""
    return _mT(_tri(t, _mT(b), lower, unit, not trans))


# ============================================================================ helpers


def _constant(data: Any, backend: Any) -> Tensor:
    return Tensor._make(data, backend)


def _batch_index(index: int, shape: tuple) -> str:
    if len(shape) <= 1:
        return "" if not shape else f" (batch element {index})"
    return f" (batch element {tuple(int(i) for i in np.unravel_index(index, shape))})"


def _raise_for_info(op: str, info: Any, backend: Any, message: Any) -> None:
    """Raise LinAlgError for the first matrix whose ``info`` is not 0 (one device read on a GPU);
    ``message(value)`` says what that info value means."""
    values = backend.to_numpy(info)
    bad = np.flatnonzero(values.reshape(-1))
    if bad.size:
        first = int(bad[0])
        raise LinAlgError(f"{op}{_batch_index(first, values.shape)}: {message(int(values.reshape(-1)[first]))}")


def _pivots_arg(pivots: Any, op: str, backend: Any, shape: tuple, n: int) -> Any:
    """The pivots of ``lu_factor`` (an integer tensor or array of ``shape``, values 1..n) as an array on
    ``backend``. Their values are checked on the CPU only (on a GPU that would be a device read)."""
    piv = as_tensor(pivots, op, backend)
    if piv.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"{op}: pivots must be an integer tensor (the int32 pivots of lu_factor), got dtype {piv.dtype}"
        )
    if piv.shape != shape:
        raise ShapeError(
            f"{op}: pivots must have shape LU.shape[:-1] = {shape} (the pivots of lu_factor), got shape {piv.shape}"
        )
    data = piv._data
    if type(data) is np.ndarray and data.size and (data.min() < 1 or data.max() > n):
        raise InvalidArgumentError(
            f"{op}: pivots must lie in 1..{n} (1-based row numbers, as lu_factor returns them), got values "
            f"from {int(data.min())} to {int(data.max())}"
        )
    if type(data) is not np.ndarray:  # not checked there: keep them in range, so that nothing indexes out of it
        data = backend.xp.clip(data, 1, max(n, 1))
    return data


def _square(a: Tensor, op: str, name: str = "A") -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{op}: {name} must be a square matrix or a stack of them (shape (..., n, n)), got shape {a.shape}"
        )


# ============================================================================ lu_factor, lu


def _lu_factor(a: Any, pivot: Any, op: str) -> tuple[Tensor, Tensor, Tensor, Any]:
    """``(LU, pivots, info, perm)`` of ``a``, LU recorded with :func:`_lu_factor_vjp`."""
    a = _matrices(a, op, square=False)
    pivot = flag(pivot, op, "pivot")
    backend = a._backend
    xp = backend.xp
    lu, piv, info = _getrf(xp, a._data, pivot)
    perm = _permutation(xp, piv, a.shape[-2]) if pivot else None
    lu_t = record("lu_factor", lu, backend, (a,), (_lu_factor_vjp,), (perm,), save_output=True)
    return lu_t, _constant(piv, backend), _constant(info, backend), perm


def _lu_message(value: int) -> str:
    return (
        f"U[{value},{value}] is zero: the matrix is singular and using its factors in lu_solve would divide by "
        "zero; linalg.lu and linalg.lu_factor_ex factor it all the same"
    )


def lu_factor_ex(A: Any, *, pivot: bool = True, check_errors: bool = False) -> LUFactorExResult:  # noqa: N803
    """The LU factorisation of a matrix or a stack (``torch.linalg.lu_factor_ex``), any shape (..., m, n):
    ``(LU, pivots, info)``.

    ``LU`` packs ``L`` (unit lower, (..., m, k), k = min(m, n), below the diagonal) and ``U`` ((..., k, n),
    on and above it); ``pivots`` (..., k) int32 are LAPACK's 1-based row interchanges (``P`` from them:
    :func:`lu`); ``info`` (...) int32 is 0, or the first (1-based) j with ``U[j, j] == 0`` (the factors
    are complete all the same). ``pivot=False`` factors without interchanges (``pivots`` are then 1..k;
    PyTorch has it on CUDA only). ``check_errors=True`` raises :class:`LinAlgError` where ``info`` is not
    0 (one device read on a GPU); otherwise nothing is read back.

    VJP (PyTorch's ``linalg_lu_backward``; square: ``gA = P L^{-T} (tril(L^T gL, -1) + triu(gU U^T))
    U^{-T}``, wide and tall matrices by its block formulas), with ``gL`` and ``gU`` the parts of ``LU``'s
    gradient below and on/above the diagonal; it needs ``U``'s first k columns (rows, for m > n)
    invertible (inf/NaN otherwise). Differentiable again.
    """
    op = "linalg.lu_factor_ex"
    lu_t, piv, info, _ = _lu_factor(A, pivot, op)
    if flag(check_errors, op, "check_errors"):
        _raise_for_info(op, info._data, info._backend, _lu_message)
    return LUFactorExResult(lu_t, piv, info)


def lu_factor(A: Any, *, pivot: bool = True) -> LUFactorResult:  # noqa: N803
    """``(LU, pivots)`` of :func:`lu_factor_ex` (``torch.linalg.lu_factor``); a singular matrix (a zero on
    U's diagonal) raises :class:`LinAlgError`, after one device read on a GPU."""
    op = "linalg.lu_factor"
    lu_t, piv, info, _ = _lu_factor(A, pivot, op)
    _raise_for_info(op, info._data, info._backend, _lu_message)
    return LUFactorResult(lu_t, piv)


def lu(A: Any, *, pivot: bool = True) -> LUResult:  # noqa: N803
    """``(P, L, U)`` with ``A == P @ L @ U`` (``torch.linalg.lu``): ``P`` (..., m, m) a permutation matrix
    of A's dtype, ``L`` (..., m, k) unit lower triangular, ``U`` (..., k, n) upper triangular, k = min(m,
    n); any shape, singular matrices too (no error). ``pivot=False``: no interchanges, and ``P`` is empty
    (shape (0,)), as PyTorch's (which has it on CUDA only). ``L`` and ``U`` are :func:`lu_factor_ex`'s
    factors unpacked by differentiable slicing, so their gradients are its gradient (PyTorch's)."""
    op = "linalg.lu"
    lu_t, _, _, perm = _lu_factor(A, pivot, op)
    backend = lu_t._backend
    xp = backend.xp
    m, n = lu_t.shape[-2:]
    k = min(m, n)
    low = tril(lu_t[..., :, :k], -1) + _constant(xp.eye(m, k, dtype=lu_t.dtype), backend)
    up = triu(lu_t[..., :k, :])
    if pivot:
        p = _constant(_permutation_matrix(xp, perm, lu_t.dtype), backend)
    else:
        p = _constant(xp.zeros((0,), lu_t.dtype), backend)
    return LUResult(p, low, up)


def _lu_factor_vjp(g: Tensor, perm: Any, lu_t: Tensor) -> Tensor:
    """PyTorch's ``lu_factor_ex_backward``: ``linalg_lu_backward(g[..., :, :k], g[..., :k, :])``."""
    from gradkit.ops.shape import concatenate

    backend = g._backend
    xp = backend.xp
    m, n = lu_t.shape[-2:]
    k = min(m, n)
    gl, gu = g[..., :, :k], g[..., :k, :]
    low = tril(lu_t[..., :, :k], -1) + _constant(xp.eye(m, k, dtype=lu_t.dtype), backend)
    up = triu(lu_t[..., :k, :])
    square = lu_t[..., :k, :k]  # L's and U's square blocks, read by the solves (unit lower, upper)
    if m == n:
        ga = tril(matmul(_mT(low), gl), -1) + triu(matmul(gu, _mT(up)))
        ga = _right_tri(ga, square, False, False, True)  # ga U^{-T}
        ga = _tri(square, ga, True, True, True)  # L^{-T} ga
    elif m < n:  # wide: A = P L [U1 | U2]
        ga = tril(matmul(_mT(low), gl) - matmul(triu(gu), _mT(up)), -1)
        ga = _right_tri(ga, square, False, False, True)  # ... U1^{-T}
        ga = concatenate([ga + triu(gu[..., :, :k]), gu[..., :, k:]], axis=-1)
        ga = _tri(square, ga, True, True, True)  # L^{-T} ...
    else:  # tall: A = P [L1; L2] U
        ga = triu(matmul(gu, _mT(up)) - matmul(_mT(low), tril(gl, -1)))
        ga = _tri(square, ga, True, True, True)  # L1^{-T} ...
        ga = concatenate([ga + tril(gl[..., :k, :], -1), gl[..., k:, :]], axis=-2)
        ga = _right_tri(ga, square, False, False, True)  # ... U^{-T}
    if perm is not None:
        ga = matmul(_constant(_permutation_matrix(xp, perm, ga.dtype), backend), ga)
    return ga


# ============================================================================ lu_solve


def _lu_solve(lu_t: Tensor, perm: Any, b: Tensor, adjoint: bool) -> Tensor:
    """``A^{-1} b`` (``A^{-T} b`` when ``adjoint``) for ``A = P L U`` packed in ``lu_t`` (..., n, n), ``b``
    (..., n, k): a permutation and two recorded triangular solves."""
    p = _constant(_permutation_matrix(lu_t._backend.xp, perm, lu_t.dtype), lu_t._backend)
    if not adjoint:  # U^{-1} L^{-1} P^T b
        y = _tri(lu_t, matmul(_mT(p), b), True, True, False)
        return _tri(lu_t, y, False, False, False)
    y = _tri(lu_t, b, False, False, True)  # P L^{-T} U^{-T} b
    return matmul(p, _tri(lu_t, y, True, True, True))


def lu_solve(LU: Any, pivots: Any, B: Any, *, left: bool = True, adjoint: bool = False) -> Tensor:  # noqa: N803
    """The solution of ``A X = B`` from ``A``'s LU factorisation (``torch.linalg.lu_solve``): ``LU`` and
    ``pivots`` as :func:`lu_factor` returns them, ``LU`` (..., n, n), ``pivots`` (..., n), ``B`` (..., n,
    k) (at least 2 axes; batch axes broadcast with LU's). ``left=False`` solves ``X A = B`` (``B`` (...,
    k, n)); ``adjoint=True`` uses ``A^T`` instead of ``A``. dtypes promote (integers as float64); pivots
    are any integer tensor, their values checked on the CPU. A zero on U's diagonal gives inf/NaN (no
    error, as PyTorch's).

    Gradients reach ``LU`` (its two triangles) and ``B``: the function is built from differentiable
    triangular solves (``gB = lu_solve(LU, pivots, G, left=left, adjoint=not adjoint)``, as PyTorch's).
    """
    from gradkit.ops.shape import astype

    op = "linalg.lu_solve"
    left = flag(left, op, "left")
    adjoint = flag(adjoint, op, "adjoint")
    lu_t, b, backend, dtype = _two_operands(op, LU, B)
    _square(lu_t, op, "LU")
    n = lu_t.shape[-1]
    if b.ndim < 2:
        raise ShapeError(f"{op}: B must have at least 2 axes (shape (..., n, k)), got shape {b.shape}")
    if b.shape[-2 if left else -1] != n:
        want = f"(..., {n}, k)" if left else f"(..., k, {n}) (left=False)"
        raise ShapeError(
            f"{op}: LU of shape {lu_t.shape} and B of shape {b.shape} do not fit: B must have shape {want}"
        )
    try:
        np.broadcast_shapes(lu_t.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"{op}: the batch shapes of LU (shape {lu_t.shape}) and B (shape {b.shape}) do not broadcast: "
            f"{lu_t.shape[:-2]} and {b.shape[:-2]}"
        ) from None
    piv = _pivots_arg(pivots, op, backend, lu_t.shape[:-1], n)
    _not_captured(op, lu_t._data)
    lu_t = lu_t if lu_t.dtype == dtype else astype(lu_t, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    perm = _permutation(backend.xp, piv, n)
    if left:
        return _lu_solve(lu_t, perm, b, adjoint)
    return _mT(_lu_solve(lu_t, perm, _mT(b), not adjoint))  # X A = B: A^T X^T = B^T


# ============================================================================ solve_ex, inv_ex


def _singular_message(value: int) -> str:
    return f"U[{value},{value}] is zero in its LU factorisation: the matrix is singular"


def solve_ex(A: Any, B: Any, *, left: bool = True, check_errors: bool = False) -> SolveExResult:  # noqa: N803
    """The solution of ``A X = B`` and an ``info`` per matrix (``torch.linalg.solve_ex``): by
    :func:`lu_factor_ex` and :func:`lu_solve`, as PyTorch's.

    PyTorch's shapes: ``A`` (..., n, n); ``B`` is a batch of vectors when it is 1-d or has shape
    ``A.shape[:-1]`` (then ``X`` is (..., n)), otherwise (..., n, k); batch axes broadcast. ``left=False``
    solves ``X A = B`` (``B`` (..., k, n), no vectors). ``info`` (...) int32 is 0, or the first (1-based)
    zero on U's diagonal: there the result is unspecified (inf/NaN here). ``check_errors=True`` raises
    :class:`LinAlgError` instead (one device read on a GPU). dtypes promote (integers as float64).

    VJPs (``solve``'s): ``gB = A^{-T} G`` (``G A^{-T}`` for left=False) from the same factors, ``gA =
    -gB X^T`` (``-X^T gB``); differentiable again.
    """
    from gradkit.ops.shape import astype, unsqueeze

    op = "linalg.solve_ex"
    left = flag(left, op, "left")
    check_errors = flag(check_errors, op, "check_errors")
    a, b, backend, dtype = _two_operands(op, A, B)
    _square(a, op)
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector and not left:
        raise ShapeError(
            f"{op}: with left=False B must have shape (..., k, {n}); a batch of vectors (B of shape {b.shape}) is "
            "only taken with left=True, as in PyTorch"
        )
    bm = unsqueeze(b, -1) if vector else b
    if bm.ndim < 2 or bm.shape[-2 if left else -1] != n:
        want = f"({n},), (..., {n}) or (..., {n}, k)" if left else f"(..., k, {n}) (left=False)"
        raise ShapeError(f"{op}: A of shape {a.shape} and B of shape {b.shape} do not fit: B must have shape {want}")
    try:
        np.broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"{op}: the batch shapes of A (shape {a.shape}) and B (shape {b.shape}) do not broadcast: "
            f"{a.shape[:-2]} and {bm.shape[:-2]}"
        ) from None
    _not_captured(op, a._data)
    a = a if a.dtype == dtype else astype(a, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    xp = backend.xp
    lu, piv, info = _getrf(xp, a._data, True)
    perm = _permutation(xp, piv, n)
    if check_errors:
        _raise_for_info(op, info, backend, _singular_message)
    plain = _constant(lu, backend)
    rhs = _constant(b._data[..., None] if vector else b._data, backend)
    x = _lu_solve(plain, perm, rhs, False) if left else _mT(_lu_solve(plain, perm, _mT(rhs), True))
    data = x._data[..., 0] if vector else x._data
    lu_t = record("lu_factor", lu, backend, (a,), (_lu_factor_vjp,), (perm,), save_output=True)
    cache = {} if a.requires_grad and b.requires_grad else None
    result = record(
        "solve_ex", data, backend, (a, b), (_solve_ex_da, _solve_ex_db), (lu_t, perm, left, vector, cache),
        broadcast=True, save_output=True,
    )  # fmt: skip
    return SolveExResult(result, _constant(info, backend))


def _solve_ex_gb(g: Tensor, lu_t: Tensor, perm: Any, left: bool, vector: bool, cache: dict | None) -> Tensor:
    """``A^{-T} G`` (``G A^{-T}``) as a matrix, from the factors (in the graph: differentiable again)."""
    from gradkit.ops.shape import unsqueeze

    if cache is not None:
        hit = cache.pop("gb", None)
        if hit is not None and hit[0] is g and hit[1] == g._version[0]:
            return hit[2]
    gm = unsqueeze(g, -1) if vector else g
    gb = _lu_solve(lu_t, perm, gm, True) if left else _mT(_lu_solve(lu_t, perm, _mT(gm), False))
    if cache is not None:
        cache["gb"] = (g, g._version[0], gb)
    return gb


def _solve_ex_da(g: Tensor, lu_t: Tensor, perm: Any, left: bool, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    gb = _solve_ex_gb(g, lu_t, perm, left, vector, cache)
    xm = unsqueeze(x, -1) if vector else x
    return -matmul(gb, _mT(xm)) if left else -matmul(_mT(xm), gb)


def _solve_ex_db(g: Tensor, lu_t: Tensor, perm: Any, left: bool, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    from gradkit.ops.shape import squeeze

    gb = _solve_ex_gb(g, lu_t, perm, left, vector, cache)
    return squeeze(gb, -1) if vector else gb


def inv_ex(A: Any, *, check_errors: bool = False) -> InvExResult:  # noqa: N803
    """The inverse of a square matrix or of each in a stack and an ``info`` per matrix
    (``torch.linalg.inv_ex``): from :func:`lu_factor_ex`'s factors. ``info`` is 0, or the first (1-based)
    zero on U's diagonal, where the inverse is unspecified (inf/NaN here); ``check_errors=True`` raises
    :class:`LinAlgError` instead (one device read on a GPU). VJP: ``inv``'s, ``-A^{-T} G A^{-T}``."""
    op = "linalg.inv_ex"
    a = _matrices(A, op)
    check_errors = flag(check_errors, op, "check_errors")
    backend = a._backend
    xp = backend.xp
    n = a.shape[-1]
    lu, piv, info = _getrf(xp, a._data, True)
    if check_errors:
        _raise_for_info(op, info, backend, _singular_message)
    eye = _constant(xp.eye(n, dtype=a.dtype), backend)
    data = _lu_solve(_constant(lu, backend), _permutation(xp, piv, n), eye, False)._data
    inverse = record("inv_ex", data, backend, (a,), (_inv_vjp,), save_output=True)
    return InvExResult(inverse, _constant(info, backend))


# ============================================================================ cholesky_ex


def _potrf(xp: Any, a: Any) -> tuple[Any, Any]:
    """``(L, info)``: the lower Cholesky factor of each matrix of ``a`` (..., n, n) (its lower triangle
    read), column by column as LAPACK's potrf, and ``info``: 0, or the first (1-based) j whose pivot
    ``a_jj - sum_k L_jk^2`` is not positive (or NaN). From that column on a failed matrix's factor is NaN."""
    n = a.shape[-1]
    flat = a.reshape((math.prod(a.shape[:-2]), n, n))
    low = xp.zeros_like(flat)
    info = xp.zeros(flat.shape[0], np.int32)
    for j in range(n):
        row = low[:, j, :j]
        d = flat[:, j, j] - (row * row).sum(axis=-1)
        bad = ~(d > 0)
        info = xp.where((info == 0) & bad, j + 1, info).astype(np.int32)
        pivot = xp.sqrt(xp.where(bad, math.nan, d))
        low[:, j, j] = pivot
        if j + 1 < n:
            below = flat[:, j + 1 :, j] - xp.matmul(low[:, j + 1 :, :j], row[:, :, None])[:, :, 0]
            low[:, j + 1 :, j] = below / pivot[:, None]
    return low.reshape(a.shape), info.reshape(a.shape[:-2])


def cholesky_ex(A: Any, *, upper: bool = False, check_errors: bool = False) -> CholeskyExResult:  # noqa: N803
    """The Cholesky factor and an ``info`` per matrix (``torch.linalg.cholesky_ex``): ``L`` as
    ``cholesky(A, upper=upper)`` (the lower triangle of ``A`` read); ``info`` is 0, or the order of the
    first leading minor that is not positive definite, where ``L`` is unspecified (NaN from that column
    on here). ``check_errors=True`` raises :class:`LinAlgError` instead (one device read on a GPU).

    On the CPU LAPACK factors the stack (NumPy's cholesky) and gradkit's own column-by-column
    factorisation (:func:`_potrf`) takes over when a matrix fails; on a GPU it is always the latter, which
    reads nothing back. VJP: ``cholesky``'s, ``L^{-T} Phi(L^T gL) L^{-1}`` (symmetric; by triangular solves,
    which read nothing back either; differentiable again).
    """
    op = "linalg.cholesky_ex"
    a = _matrices(A, op)
    upper = flag(upper, op, "upper")
    check_errors = flag(check_errors, op, "check_errors")
    backend = a._backend
    xp = backend.xp
    if a.size == 0:
        data, info = xp.zeros(a.shape, a.dtype), xp.zeros(a.shape[:-2], np.int32)
    elif type(a._data) is np.ndarray:
        try:
            data, info = np.linalg.cholesky(a._data), np.zeros(a.shape[:-2], np.int32)
        except np.linalg.LinAlgError:
            data, info = _potrf(xp, a._data)
    else:
        data, info = _potrf(xp, a._data)
    if check_errors:
        _raise_for_info(op, info, backend, lambda v: f"the leading minor of order {v} is not positive definite")
    factor = record("cholesky_ex", data, backend, (a,), (_cholesky_ex_vjp,), save_output=True)
    return CholeskyExResult(_mT(factor) if upper else factor, _constant(info, backend))


def _cholesky_ex_vjp(gl: Tensor, low: Tensor) -> Tensor:
    """``cholesky``'s VJP, ``L^{-T} Phi(L^T gL) L^{-1}``, by triangular solves (nothing read back)."""
    p = tril(matmul(_mT(low), gl))
    phi = (p + _mT(tril(p, -1))) * 0.5
    return _right_tri(_tri(low, phi, True, False, True), low, True, False, False)


# ============================================================================ vander, householder_product


def vander(x: Any, *, N: Any = None) -> Tensor:  # noqa: N803 - PyTorch's name
    """The Vandermonde matrix of ``x`` (..., n) with increasing powers (``torch.linalg.vander``): shape
    (..., n, N), column j holding ``x ** j`` (N defaults to n; it must be > 1; a 0-d ``x`` counts as one
    element). Floating ``x`` keeps its dtype (float16 refused, as PyTorch); integers give int64 (bools
    refused). The powers are running products (``cumprod``): differentiable, exactly also where ``x`` is 0.
    """
    from gradkit.ops.reduce import cumprod
    from gradkit.ops.shape import astype, broadcast_to, concatenate, reshape, unsqueeze

    op = "linalg.vander"
    x = as_tensor(x, op)
    if x.dtype.kind == "b" or x.dtype.kind not in "iuf" or x.dtype == np.float16:
        raise DTypeError(f"{op}: expected a float32, float64 or integer tensor (as PyTorch), got dtype {x.dtype}")
    if x.dtype.kind in "iu" and x.dtype != np.int64:
        x = astype(x, np.int64)
    if x.ndim == 0:
        x = reshape(x, (1,))
    count = x.shape[-1] if N is None else whole(N, op, "N")
    if count <= 1:
        raise InvalidArgumentError(
            f"{op}: N must be greater than 1, got {count}" + (" (x.shape[-1])" if N is None else "")
        )
    powers = cumprod(broadcast_to(unsqueeze(x, -1), x.shape + (count - 1,)), axis=-1)
    ones = _constant(x._backend.xp.ones(x.shape + (1,), x.dtype), x._backend)
    return concatenate([ones, powers], axis=-1)


def householder_product(A: Any, tau: Any) -> Tensor:  # noqa: N803 - PyTorch's name
    """The first n columns of ``H_1 H_2 ... H_k`` (``torch.linalg.householder_product``, LAPACK's orgqr),
    ``H_i = I - tau_i v_i v_i^T`` with ``v_i`` column i of ``A`` below the diagonal and a 1 on it: ``A``
    (..., m, n), ``tau`` (..., k), m >= n >= k, the same batch shape (no broadcasting, as PyTorch). The
    strictly lower part of ``A``'s first k columns is read. dtypes promote (integers as float64).
    With ``numpy.linalg.qr(a, mode="raw")``'s ``(h, tau)``, ``householder_product(h^T, tau)`` is the Q of
    ``qr(a)``. Built from differentiable products, so its gradients reach ``A`` and ``tau`` (and
    differentiate again).
    """
    from gradkit.ops.shape import astype, broadcast_to, unsqueeze

    op = "linalg.householder_product"
    a, t, backend, dtype = _two_operands(op, A, tau)
    if a.ndim < 2:
        raise ShapeError(f"{op}: A must have at least 2 axes (shape (..., m, n)), got shape {a.shape}")
    if t.ndim != a.ndim - 1:
        raise ShapeError(
            f"{op}: tau must have one axis less than A (A of shape {a.shape}, tau of shape {t.shape}): tau is (..., k)"
        )
    m, n = a.shape[-2:]
    k = t.shape[-1]
    if m < n:
        raise ShapeError(f"{op}: A must have at least as many rows as columns (m >= n), got shape {a.shape}")
    if n < k:
        raise ShapeError(f"{op}: tau must have at most A.shape[-1] = {n} elements (k <= n), got shape {t.shape}")
    if t.shape[:-1] != a.shape[:-2]:
        raise ShapeError(
            f"{op}: the batch shapes of A (shape {a.shape}) and tau (shape {t.shape}) must be equal, got "
            f"{a.shape[:-2]} and {t.shape[:-1]}"
        )
    a = a if a.dtype == dtype else astype(a, dtype)
    t = t if t.dtype == dtype else astype(t, dtype)
    xp = backend.xp
    q = broadcast_to(_constant(xp.eye(m, n, dtype=dtype), backend), a.shape[:-2] + (m, n))
    if k == 0:
        return _zero_slope("householder_product", q._data.copy(), a)
    v = tril(a[..., :, :k], -1) + _constant(xp.eye(m, k, dtype=dtype), backend)
    scale = unsqueeze(t, -1)  # (..., k, 1)
    for i in reversed(range(k)):  # H_i (H_{i+1} ... H_k E), E the first n columns of I
        vi = v[..., :, i : i + 1]
        q = q - matmul(vi * scale[..., i : i + 1, :], matmul(_mT(vi), q))
    return q


# ============================================================================ ldl_factor, ldl_solve
# LAPACK's sytrf/sytrs with UPLO="L" (PyTorch's choice): the Bunch-Kaufman pivoting of dsytf2, step by step
# as the reference implementation (pivots, interchanges and the packed format are LAPACK's, so factors
# and pivots pass between gradkit and PyTorch). A pivot is chosen per matrix from its values, so each
# matrix of a stack is factored on its own, on the host (a GPU's arrays are read back, and written again).


def _sytf2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(LD, pivots, info)`` of the symmetric ``a`` (n, n) (its lower triangle read), in a's dtype."""
    a = np.tril(a)
    n = a.shape[0]
    one = a.dtype.type(1)
    alpha = (one + np.sqrt(a.dtype.type(17))) / a.dtype.type(8)
    ipiv = np.zeros(n, np.int32)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(a[k, k])
        if k < n - 1:
            imax = k + 1 + int(np.argmax(np.abs(a[k + 1 :, k])))
            colmax = abs(a[imax, k])
        else:
            imax, colmax = k, a.dtype.type(0)
        if max(absakk, colmax) == 0 or np.isnan(absakk):  # a zero (or NaN) column: D[k, k] = 0, go on
            info = info or k + 1
            kp = k
        else:
            if absakk >= alpha * colmax:
                kp = k
            else:
                jmax = k + int(np.argmax(np.abs(a[imax, k:imax])))
                rowmax = abs(a[imax, jmax])
                if imax < n - 1:
                    jmax = imax + 1 + int(np.argmax(np.abs(a[imax + 1 :, imax])))
                    rowmax = max(rowmax, abs(a[jmax, imax]))
                if absakk >= alpha * colmax * (colmax / rowmax):
                    kp = k
                elif abs(a[imax, imax]) >= alpha * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:  # interchange rows and columns kk and kp of the trailing matrix (its lower triangle)
                if kp < n - 1:
                    a[kp + 1 :, [kk, kp]] = a[kp + 1 :, [kp, kk]]
                between = a[kk + 1 : kp, kk].copy()
                a[kk + 1 : kp, kk] = a[kp, kk + 1 : kp]
                a[kp, kk + 1 : kp] = between
                a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
                if kstep == 2:
                    a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]
            if kstep == 1:
                if k < n - 1:  # A22 -= x x^T / d, then L's column x / d
                    d11 = one / a[k, k]
                    x = a[k + 1 :, k].copy()
                    a[k + 1 :, k + 1 :] += np.tril(np.outer(x, -d11 * x))
                    a[k + 1 :, k] *= d11
            elif k < n - 2:  # a 2 x 2 block D: columns k and k + 1 of L, and the update of A22
                d21 = a[k + 1, k]
                d11 = a[k + 1, k + 1] / d21
                d22 = a[k, k] / d21
                d21 = (one / (d11 * d22 - one)) / d21
                ck, ck1 = a[k + 2 :, k].copy(), a[k + 2 :, k + 1].copy()
                wk = d21 * (d11 * ck - ck1)
                wkp1 = d21 * (d22 * ck1 - ck)
                a[k + 2 :, k + 2 :] -= np.tril(np.outer(ck, wk))
                a[k + 2 :, k + 2 :] -= np.tril(np.outer(ck1, wkp1))
                a[k + 2 :, k] = wk
                a[k + 2 :, k + 1] = wkp1
        if kstep == 1:
            ipiv[k] = kp + 1
        else:
            ipiv[k] = ipiv[k + 1] = -(kp + 1)
        k += kstep
    return a, ipiv, info


def _sytrs(ld: np.ndarray, ipiv: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A^{-1} b`` from ``_sytf2``'s (LAPACK's) factors: ``b`` (n, k), in place."""
    n = ld.shape[0]
    k = 0
    while k < n:  # L D y = b
        if ipiv[k] > 0:
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            if k < n - 1:
                b[k + 1 :] -= np.outer(ld[k + 1 :, k], b[k])
            b[k] /= ld[k, k]
            k += 1
        else:
            kp = -ipiv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            if k < n - 2:
                b[k + 2 :] -= np.outer(ld[k + 2 :, k], b[k])
                b[k + 2 :] -= np.outer(ld[k + 2 :, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1, ak = ld[k, k] / akm1k, ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1
            bkm1, bk = b[k] / akm1k, b[k + 1] / akm1k
            b[k], b[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T x = y
        if ipiv[k] > 0:
            if k < n - 1:
                b[k] -= ld[k + 1 :, k] @ b[k + 1 :]
            kp = ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            if k < n - 1:
                b[k] -= ld[k + 1 :, k] @ b[k + 1 :]
                b[k - 1] -= ld[k + 1 :, k - 1] @ b[k + 1 :]
            kp = -ipiv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def _not_differentiable(op: str) -> Any:
    def rule(g: Tensor, *_: Any) -> Tensor:
        raise AutogradError(
            f"{op} is not differentiable (PyTorch's is not either); use linalg.solve or linalg.lu_solve"
        )

    return rule


def _ldl(a: Any, hermitian: Any, op: str) -> tuple[Tensor, Tensor, Tensor]:
    a = _matrices(a, op)
    flag(hermitian, op, "hermitian")  # real matrices: symmetric and Hermitian are one thing
    backend = a._backend
    n = a.shape[-1]
    host = backend.to_numpy(a._data)
    flat = host.reshape((math.prod(a.shape[:-2]), n, n))
    ld = np.zeros_like(flat)
    piv = np.zeros(flat.shape[:1] + (n,), np.int32)
    info = np.zeros(flat.shape[0], np.int32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(flat.shape[0]):
            ld[i], piv[i], info[i] = _sytf2(flat[i])
    batch = a.shape[:-2]
    ld_t = record("ldl_factor", backend.asarray(ld.reshape(a.shape)), backend, (a,), (_not_differentiable(op),))
    info_t = _constant(backend.asarray(info.reshape(batch)), backend)
    return ld_t, _constant(backend.asarray(piv.reshape(batch + (n,))), backend), info_t


def ldl_factor_ex(A: Any, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorExResult:  # noqa: N803
    """The LDL^T factorisation of a symmetric matrix or a stack with Bunch-Kaufman pivoting
    (``torch.linalg.ldl_factor_ex``, LAPACK's ``sytrf`` with the lower triangle): ``(LD, pivots, info)``.

    Only the lower triangle of ``A`` is read. ``LD`` holds D's 1 x 1 and 2 x 2 diagonal blocks and L's
    multipliers below them (upper triangle zero); ``pivots`` (..., n) int32 are LAPACK's: ``p > 0`` a 1 x 1
    block with rows k and p interchanged, ``pivots[k] == pivots[k + 1] == -p`` a 2 x 2 block with rows
    k + 1 and p interchanged (1-based). ``info``: 0, or the first (1-based) k with ``D[k, k] == 0``
    (singular). The same pivots, factors and info as PyTorch's (up to rounding). ``hermitian`` makes no
    difference for real matrices. ``check_errors=True`` raises :class:`LinAlgError` where info is not 0.
    Each matrix is factored on the host (on a GPU: read back, and the results written to it). Not
    differentiable (nor is PyTorch's): backward raises ``AutogradError``.
    """
    op = "linalg.ldl_factor_ex"
    ld_t, piv, info = _ldl(A, hermitian, op)
    if flag(check_errors, op, "check_errors"):
        _raise_for_info(op, info._data, info._backend, lambda v: f"D[{v},{v}] is zero: the matrix is singular")
    return LDLFactorExResult(ld_t, piv, info)


def ldl_factor(A: Any, *, hermitian: bool = False) -> LDLFactorResult:  # noqa: N803
    """``(LD, pivots)`` of :func:`ldl_factor_ex` (``torch.linalg.ldl_factor``); a singular matrix (a zero
    block of D) raises :class:`LinAlgError`, as PyTorch's raises."""
    op = "linalg.ldl_factor"
    ld_t, piv, info = _ldl(A, hermitian, op)
    _raise_for_info(op, info._data, info._backend, lambda v: f"D[{v},{v}] is zero: the matrix is singular")
    return LDLFactorResult(ld_t, piv)


def ldl_solve(LD: Any, pivots: Any, B: Any, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """The solution of ``A X = B`` from :func:`ldl_factor`'s ``(LD, pivots)`` (``torch.linalg.ldl_solve``,
    LAPACK's ``sytrs``): ``LD`` (..., n, n), ``pivots`` (..., n) (any integer dtype), ``B`` (..., n, k) (at
    least 2 axes; batch axes broadcast with LD's). dtypes promote (integers as float64). Factors and pivots
    from PyTorch work too. Computed on the host (on a GPU: read back, the result written to it). Not
    differentiable (nor is PyTorch's): backward raises ``AutogradError``.
    """
    from gradkit.ops.shape import astype

    op = "linalg.ldl_solve"
    flag(hermitian, op, "hermitian")
    ld_t, b, backend, dtype = _two_operands(op, LD, B)
    _square(ld_t, op, "LD")
    n = ld_t.shape[-1]
    if b.ndim < 2 or b.shape[-2] != n:
        raise ShapeError(
            f"{op}: LD of shape {ld_t.shape} and B of shape {b.shape} do not fit: B must have shape (..., {n}, k)"
        )
    try:
        batch = tuple(np.broadcast_shapes(ld_t.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise ShapeError(
            f"{op}: the batch shapes of LD (shape {ld_t.shape}) and B (shape {b.shape}) do not broadcast: "
            f"{ld_t.shape[:-2]} and {b.shape[:-2]}"
        ) from None
    piv = as_tensor(pivots, op, backend)
    if piv.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"{op}: pivots must be an integer tensor (the pivots of ldl_factor), got dtype {piv.dtype}"
        )
    if piv.shape != ld_t.shape[:-1]:
        raise ShapeError(f"{op}: pivots must have shape LD.shape[:-1] = {ld_t.shape[:-1]}, got shape {piv.shape}")
    _not_captured(op, ld_t._data)
    ld_t = ld_t if ld_t.dtype == dtype else astype(ld_t, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    k = b.shape[-1]
    count = math.prod(batch)
    ld_host = np.broadcast_to(backend.to_numpy(ld_t._data), batch + (n, n)).reshape((count, n, n))
    piv_host = np.broadcast_to(backend.to_numpy(piv._data).astype(np.int64), batch + (n,)).reshape((count, n))
    _check_ldl_pivots(piv_host, n, op)
    x = np.array(np.broadcast_to(backend.to_numpy(b._data), batch + (n, k)).reshape((count, n, k)), dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(x.shape[0]):
            _sytrs(ld_host[i], piv_host[i], x[i])
    rule = _not_differentiable(op)
    return record("ldl_solve", backend.asarray(x.reshape(batch + (n, k))), backend, (ld_t, b), (rule, rule))


def _check_ldl_pivots(piv: np.ndarray, n: int, op: str) -> None:
    """LAPACK's format: values in 1..n or -n..-1, a negative one repeated at the next position."""
    if piv.size and (np.abs(piv).max() > n or (piv == 0).any()):
        raise InvalidArgumentError(
            f"{op}: pivots must be in 1..{n} or -{n}..-1 (LAPACK's format, as ldl_factor returns them), got "
            f"values from {int(piv.min())} to {int(piv.max())}"
        )
    for row in piv:
        k = 0
        while k < n:
            if row[k] < 0:
                if k + 1 >= n or row[k + 1] != row[k]:
                    raise InvalidArgumentError(
                        f"{op}: pivots[{k}] = {int(row[k])} starts a 2 x 2 block, so pivots[{k + 1}] must equal it "
                        "(LAPACK's format, as ldl_factor returns it)"
                    )
                k += 2
            else:
                k += 1
