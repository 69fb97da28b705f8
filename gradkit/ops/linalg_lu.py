"""PyTorch's LU family and its other factor-and-report functions for ``gk.linalg``.

``lu_factor``, ``lu_factor_ex``, ``lu``, ``lu_solve``, ``solve_ex``, ``inv_ex``, ``cholesky_ex``, ``vander``,
``householder_product``, ``ldl_factor``, ``ldl_factor_ex`` and ``ldl_solve``, with ``torch.linalg``'s
signatures, shapes and result types, batched over leading axes, on NumPy and CuPy.

NumPy has no LU factorisation, so gradkit has its own (:func:`_own_getrf`): LAPACK's ``getrf`` algorithm,
partial pivoting by the first entry of largest magnitude (``idamax``), row interchanges applied to whole
rows, a zero pivot (a column that is zero on and below the diagonal) left unscaled and reported in
``info``. It is blocked (a panel of columns factored column by column, the rest of the matrix updated by
one matrix product per panel) and vectorised over the batch, with a Python loop over the columns; the
pivots are those of LAPACK up to rounding (a near tie between two candidate pivots, as in the noise left
by a rank-deficient matrix, may be broken differently, and an exact zero pivot found or not). On a GPU,
square matrices are factored by CuPy's own getrf where CuPy has it (:func:`_device_getrf`). Triangular
solves are LAPACK's ``trtrs`` through SciPy on the CPU where it is installed (:func:`_host_triangular`),
``cupyx.scipy.linalg``'s ``trsm`` on a GPU where it is installed, otherwise blocked substitution
(:func:`_substitute`): a zero on the diagonal gives inf/NaN, as LAPACK's ``getrs``, not an error.
``solve_ex`` and ``inv_ex`` call NumPy's (LAPACK's) ``solve`` and ``inv`` on the CPU and turn to the LU
only where LAPACK finds a matrix singular, to give ``info``. The ``_ex`` functions report failures in
``info`` (LAPACK's convention: 0, or the 1-based index of the first zero pivot / non-positive leading
minor) and read nothing back unless ``check_errors=True``.

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
from gradkit.amp import autocast_mode as _autocast
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
_BLOCK = 32  # rows solved one by one before one matrix product updates the rest


def _panel_width(k: int) -> int:
    """Columns factored one by one before one matrix product updates the rest of the matrix: wider
    panels for larger matrices (fewer passes over the trailing matrix, whose update dominates there)."""
    return 32 if k <= 128 else 64


def _getrf(xp: Any, a: Any, pivot: bool) -> tuple[Any, Any, Any]:
    """``(lu, pivots, info)`` of each matrix of ``a`` (..., m, n): LAPACK's getrf (see the module's notes).

    ``pivots`` (..., min(m, n)) int32, 1-based: row j was interchanged with row ``pivots[j]`` (without
    pivoting, ``j + 1``); ``info`` (...,) int32: 0, or the first j (1-based) with ``U[j, j] == 0``.
    On a GPU, square matrices with pivoting are factored by CuPy's own LU (:func:`_device_getrf`) where
    it has one; everything else by :func:`_own_getrf`.
    """
    m, n = a.shape[-2:]
    if pivot and m == n and a.size and type(a) is not np.ndarray:
        factors = _device_getrf(xp, a)
        if factors is not None:
            return factors
    return _own_getrf(xp, a, pivot)


def _device_getrf(xp: Any, a: Any) -> tuple[Any, Any, Any] | None:
    """cuSOLVER's getrf (cuBLAS's batched getrf for stacks of small matrices) on square ``a``, through
    CuPy's internal ``cupy.linalg._decomposition._lu_factor``, the LU behind ``cupy.linalg.slogdet``:
    LAPACK's pivots and info, left on the device (nothing is read back). It takes and returns the
    matrices transposed (column-major). None where CuPy has no such function (the tests' emulation)."""
    factor = getattr(getattr(getattr(xp, "linalg", None), "_decomposition", None), "_lu_factor", None)
    if factor is None:
        return None
    n = a.shape[-1]
    count = math.prod(a.shape[:-2])
    lu_t, piv, info = factor(xp.swapaxes(a.reshape((count, n, n)), -1, -2), a.dtype)
    lu = xp.ascontiguousarray(xp.swapaxes(lu_t.reshape((count, n, n)), -1, -2))
    return (
        lu.reshape(a.shape),
        piv.astype(np.int32, copy=False).reshape(a.shape[:-1]),
        info.astype(np.int32, copy=False).reshape(a.shape[:-2]),
    )


def _own_getrf(xp: Any, a: Any, pivot: bool) -> tuple[Any, Any, Any]:
    """gradkit's LU with partial pivoting, blocked and vectorised over the batch.

    The columns are taken in panels (:func:`_panel_width`). Within a panel, column j is brought up to
    date with the panel's earlier columns, its pivot chosen (the first entry of largest magnitude on or
    below the diagonal, as LAPACK's idamax), the two rows interchanged across the whole matrix, the
    column below the pivot divided by it (a zero pivot leaves it as it is), and row j of U within the
    panel brought up to date. For a tall panel the updates are by matrix-vector products
    (left-looking); for a short one, by a rank-1 update of the rest of the panel after each column
    (right-looking: one operation instead of two). After the panel, the rows of U to its right are
    solved with the panel's unit lower triangle, and the trailing matrix is updated by one matrix
    product. ``info`` is read from U's diagonal at the end: a pivot is final once chosen.
    """
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    count = math.prod(batch)
    lu = a.reshape((count, m, n)).copy()
    info = xp.zeros(count, np.int32)
    swaps = []
    if lu.size:
        rows = xp.arange(count)
        nb = _panel_width(k)
        for j0 in range(0, k, nb):
            j1 = min(j0 + nb, k)
            tall = m - j0 > 128
            for j in range(j0, j1):
                if tall and j > j0:  # column j, on and below the diagonal, minus L's rows times U's column j
                    lu[:, j:, j] -= xp.matmul(lu[:, j:, j0:j], lu[:, j0:j, j, None])[:, :, 0]
                if pivot:
                    p = xp.argmax(xp.abs(lu[:, j:, j]), axis=-1) + j  # idamax's choice: the first largest
                    swaps.append(p)
                    row = lu[:, j, :].copy()
                    lu[:, j, :] = lu[rows, p, :]
                    lu[rows, p, :] = row
                d = lu[:, j, j]
                if j + 1 < m:
                    lu[:, j + 1 :, j] /= xp.where(d == 0, 1, d)[:, None]  # a zero pivot: the column is left as it is
                if j + 1 < j1:
                    if not tall:  # right-looking: the rest of the panel at once
                        lu[:, j + 1 :, j + 1 : j1] -= lu[:, j + 1 :, j, None] * lu[:, j, None, j + 1 : j1]
                    elif j > j0:  # left-looking: row j of U in the panel, minus L's row j times U's rows
                        lu[:, j, j + 1 : j1] -= xp.matmul(lu[:, j, None, j0:j], lu[:, j0:j, j + 1 : j1])[:, 0]
            if j1 < n:  # the rows of U right of the panel (forward substitution), then the trailing matrix
                for r in range(j0 + 1, j1):
                    lu[:, r, j1:] -= xp.matmul(lu[:, r, None, j0:r], lu[:, j0:r, j1:])[:, 0]
                if j1 < m:
                    lu[:, j1:, j1:] -= xp.matmul(lu[:, j1:, j0:j1], lu[:, j0:j1, j1:])
        zero = xp.diagonal(lu, 0, -2, -1)[:, :k] == 0
        info = xp.where(zero.any(axis=-1), xp.argmax(zero, axis=-1) + 1, 0).astype(np.int32)
    if swaps:
        pivots = (xp.stack(swaps, axis=-1) + 1).astype(np.int32)
    else:
        pivots = xp.broadcast_to(xp.arange(1, k + 1, dtype=np.int32), (count, k)).copy()
    return lu.reshape(a.shape), pivots.reshape(batch + (k,)), info.reshape(batch)


def _permutation(xp: Any, pivots: Any, m: int) -> Any:
    """``perm`` (..., m): the rows of ``A`` in the order of ``L U`` (``(P^T A)[i] == A[perm[i]]``), from
    LAPACK's pivots (1-based interchanges, applied in order)."""
    batch, k = pivots.shape[:-1], pivots.shape[-1]
    count = math.prod(batch)
    swaps = pivots.reshape((count, k)).astype(np.int64) - 1
    if type(swaps) is np.ndarray and count <= 16:  # a few matrices: a Python loop over each one's interchanges
        order = [list(range(m)) for _ in range(count)]
        for row, line in zip(order, swaps.tolist(), strict=True):
            for j, p in enumerate(line):
                row[j], row[p] = row[p], row[j]
        return np.array(order, np.int64).reshape(batch + (m,))
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


def _permute_rows(x: Tensor, perm: Any, inverse: bool = False) -> Tensor:
    """``P^T x`` (row i is ``x[perm[i]]``), or ``P x`` when ``inverse``, for ``x`` (..., m, k) and a
    permutation ``perm`` (..., m) of :func:`_permutation`, batch axes broadcast: a gather (no product
    with a permutation matrix), whose gradient is the scatter of the gradient, differentiable again and
    reading nothing back."""
    from gradkit.ops.numpy_more import _gather
    from gradkit.ops.shape import broadcast_to

    xp = x._backend.xp
    if inverse:
        perm = xp.argsort(perm, axis=-1)
    m, k = x.shape[-2:]
    batch = tuple(np.broadcast_shapes(perm.shape[:-1], x.shape[:-2]))
    if x.shape[:-2] != batch:
        x = broadcast_to(x, batch + (m, k))
    nd = len(batch) + 2
    index = tuple(xp.arange(size).reshape((1,) * d + (size,) + (1,) * (nd - d - 1)) for d, size in enumerate(batch))
    rows = xp.broadcast_to(perm, batch + (m,))[..., None]
    return _gather(x, (*index, rows, xp.arange(k).reshape((1,) * (nd - 1) + (k,))), "permute_rows")


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


def _host_triangular(t: Any, b: Any, lower: bool, unit: bool, trans: bool) -> Any:
    """:func:`_triangular_solve` by SciPy's ``solve_triangular`` (LAPACK's trtrs) on the CPU, where SciPy
    is installed and the stack is no longer than the matrices are wide (SciPy goes through a stack one
    matrix at a time; the substitution is vectorised over it). None otherwise, and where a zero on the
    diagonal makes SciPy raise: the substitution then gives LAPACK's inf/NaN, as documented."""
    if type(t) is not np.ndarray or type(b) is not np.ndarray or _library("scipy.linalg") is None:
        return None
    batch = tuple(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]))
    if math.prod(batch) > t.shape[-1] or 0 in batch + b.shape[-2:]:  # (SciPy refuses empty stacks)
        return None
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _triangular_data(np, t, b, batch, lower, trans, unit).astype(t.dtype, copy=False)
    except np.linalg.LinAlgError:
        return None


def _triangular_any(xp: Any, t: Any, b: Any, lower: bool, unit: bool, trans: bool) -> Any:
    """:func:`_triangular_solve`, by SciPy where :func:`_host_triangular` takes it."""
    data = _host_triangular(t, b, lower, unit, trans)
    return _triangular_solve(xp, t, b, lower, unit, trans) if data is None else data


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
        data = _triangular_any(xp, t._data, b._data, lower, unit, trans)
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
    return ga if perm is None else _permute_rows(ga, perm, inverse=True)


# ============================================================================ lu_solve


def _lu_solve(lu_t: Tensor, perm: Any, b: Tensor, adjoint: bool) -> Tensor:
    """``A^{-1} b`` (``A^{-T} b`` when ``adjoint``) for ``A = P L U`` packed in ``lu_t`` (..., n, n), ``b``
    (..., n, k): a permutation and two recorded triangular solves."""
    if not adjoint:  # U^{-1} L^{-1} P^T b
        y = _tri(lu_t, _permute_rows(b, perm), True, True, False)
        return _tri(lu_t, y, False, False, False)
    y = _tri(lu_t, b, False, False, True)  # P L^{-T} U^{-T} b
    return _permute_rows(_tri(lu_t, y, True, True, True), perm, inverse=True)


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
    lu_t, b, backend, dtype = _two_operands(op, LU, B, "LU and B")
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
    """The solution of ``A X = B`` and an ``info`` per matrix (``torch.linalg.solve_ex``).

    PyTorch's shapes: ``A`` (..., n, n); ``B`` is a batch of vectors when it is 1-d or has shape
    ``A.shape[:-1]`` (then ``X`` is (..., n)), otherwise (..., n, k); batch axes broadcast. ``left=False``
    solves ``X A = B`` (``B`` (..., k, n), no vectors). ``info`` (...) int32 is 0, or the first (1-based)
    zero on U's diagonal: there the result is unspecified (inf/NaN here). ``check_errors=True`` raises
    :class:`LinAlgError` instead (one device read on a GPU). dtypes promote (integers as float64).

    On the CPU LAPACK solves the stack (NumPy's ``solve``); where it finds a matrix singular, the stack
    is solved again from gradkit's LU (:func:`lu_factor_ex`, :func:`lu_solve`), which gives ``info``. On
    a GPU it is always the LU (CuPy's, :func:`_device_getrf`, where it has one) and triangular solves,
    and nothing is read back.

    VJPs (``solve``'s): ``gB = A^{-T} G`` (``G A^{-T}`` for left=False), ``gA = -gB X^T`` (``-X^T gB``);
    ``gB`` by ``solve_ex`` again on the CPU, from the forward's factors on a GPU; differentiable again.
    """
    from gradkit.ops.shape import astype, unsqueeze

    op = "linalg.solve_ex"
    left = flag(left, op, "left")
    check_errors = flag(check_errors, op, "check_errors")
    a, b, backend, dtype = _two_operands(op, A, B, "A and B")
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
    cache = {} if a.requires_grad and b.requires_grad else None
    data = _lapack_solve(a._data, b._data, left, vector) if type(a._data) is np.ndarray else None
    if data is not None:  # LAPACK solved every matrix: info is 0
        result = record(
            "solve_ex", data, backend, (a, b), (_solve_ex_da, _solve_ex_db), (a, None, None, left, vector, cache),
            broadcast=True, save_output=True,
        )  # fmt: skip
        return SolveExResult(result, _constant(xp.zeros(a.shape[:-2], np.int32), backend))
    lu, piv, info = _getrf(xp, a._data, True)
    perm = _permutation(xp, piv, n)
    if check_errors:
        _raise_for_info(op, info, backend, _singular_message)
    plain = _constant(lu, backend)
    rhs = _constant(b._data[..., None] if vector else b._data, backend)
    x = _lu_solve(plain, perm, rhs, False) if left else _mT(_lu_solve(plain, perm, _mT(rhs), True))
    data = x._data[..., 0] if vector else x._data
    lu_t = record("lu_factor", lu, backend, (a,), (_lu_factor_vjp,), (perm,), save_output=True)
    result = record(
        "solve_ex", data, backend, (a, b), (_solve_ex_da, _solve_ex_db), (a, lu_t, perm, left, vector, cache),
        broadcast=True, save_output=True,
    )  # fmt: skip
    return SolveExResult(result, _constant(info, backend))


def _lapack_solve(a: np.ndarray, b: np.ndarray, left: bool, vector: bool) -> np.ndarray | None:
    """``solve_ex``'s solution by NumPy's (LAPACK's) solve, batch axes broadcast; None where LAPACK finds a
    matrix singular (NumPy raises for the whole stack)."""
    bm = b[..., None] if vector else b
    if not left:  # X A = B: A^T X^T = B^T
        a, bm = np.swapaxes(a, -1, -2), np.swapaxes(bm, -1, -2)
    n = a.shape[-1]
    batch = tuple(np.broadcast_shapes(a.shape[:-2], bm.shape[:-2]))
    full = batch + bm.shape[-2:]
    if 0 in full:
        if a.size:  # no solution to compute, but info is A's (gradkit's LU gives it)
            return None
        x = np.zeros(full, a.dtype)
    else:
        try:
            x = np.linalg.solve(np.broadcast_to(a, batch + (n, n)), np.broadcast_to(bm, full))
        except np.linalg.LinAlgError:
            return None
    if not left:
        x = np.swapaxes(x, -1, -2)
    return np.ascontiguousarray(x[..., 0] if vector else x)


def _solve_ex_gb(
    g: Tensor, a: Tensor, lu_t: Tensor | None, perm: Any, left: bool, vector: bool, cache: dict | None
) -> Tensor:
    """``A^{-T} G`` (``G A^{-T}``) as a matrix (in the graph: differentiable again): by ``solve_ex`` of the
    transposed system where LAPACK solved the forward one (``lu_t`` None), otherwise from its factors."""
    from gradkit.ops.shape import unsqueeze

    if cache is not None:
        hit = cache.pop("gb", None)
        if hit is not None and hit[0] is g and hit[1] == g._version[0]:
            return hit[2]
    gm = unsqueeze(g, -1) if vector else g
    if lu_t is None:
        gb = solve_ex(_mT(a), gm).result if left else _mT(solve_ex(a, _mT(gm)).result)
    else:
        gb = _lu_solve(lu_t, perm, gm, True) if left else _mT(_lu_solve(lu_t, perm, _mT(gm), False))
    if cache is not None:
        cache["gb"] = (g, g._version[0], gb)
    return gb


def _solve_ex_da(
    g: Tensor, a: Tensor, lu_t: Tensor | None, perm: Any, left: bool, vector: bool, cache: dict | None, x: Tensor
) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    gb = _solve_ex_gb(g, a, lu_t, perm, left, vector, cache)
    xm = unsqueeze(x, -1) if vector else x
    return -matmul(gb, _mT(xm)) if left else -matmul(_mT(xm), gb)


def _solve_ex_db(
    g: Tensor, a: Tensor, lu_t: Tensor | None, perm: Any, left: bool, vector: bool, cache: dict | None, x: Tensor
) -> Tensor:
    from gradkit.ops.shape import squeeze

    gb = _solve_ex_gb(g, a, lu_t, perm, left, vector, cache)
    return squeeze(gb, -1) if vector else gb


def inv_ex(A: Any, *, check_errors: bool = False) -> InvExResult:  # noqa: N803
    """The inverse of a square matrix or of each in a stack and an ``info`` per matrix
    (``torch.linalg.inv_ex``). ``info`` is 0, or the first (1-based) zero on U's diagonal, where the
    inverse is unspecified (inf/NaN here); ``check_errors=True`` raises :class:`LinAlgError` instead
    (one device read on a GPU). On the CPU LAPACK inverts the stack (NumPy's ``inv``); where it finds a
    matrix singular, gradkit's LU (:func:`lu_factor_ex`'s) inverts it again and gives ``info``. On a
    GPU: the LU (CuPy's, :func:`_device_getrf`, where it has one) and triangular solves, nothing read
    back. VJP: ``inv``'s, ``-A^{-T} G A^{-T}``."""
    op = "linalg.inv_ex"
    a = _matrices(A, op)
    check_errors = flag(check_errors, op, "check_errors")
    backend = a._backend
    xp = backend.xp
    n = a.shape[-1]
    data = None
    if type(a._data) is np.ndarray:
        try:
            data, info = np.linalg.inv(a._data), np.zeros(a.shape[:-2], np.int32)
        except np.linalg.LinAlgError:  # a singular matrix: gradkit's LU says which
            data = None
    if data is None:
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


def _no_slope(i: int) -> Any:
    """The rule of an output with slope 0 in input ``i`` (zeros of that input's shape)."""

    def rule(g: Tensor, *shapes: tuple) -> Tensor:
        return Tensor._make(g._backend.xp.zeros(shapes[i], g.dtype), g._backend)

    return rule


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
    a, t, backend, dtype = _two_operands(op, A, tau, "A and tau")
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
    if k == 0:  # no reflectors: E, with slope 0 in A and in the empty tau (PyTorch leaves both gradients undefined)
        data = q._data.copy()
        return record("householder_product", data, backend, (a, t), (_no_slope(0), _no_slope(1)), (a.shape, t.shape))
    v = tril(a[..., :, :k], -1) + _constant(xp.eye(m, k, dtype=dtype), backend)
    if _autocast.active and _autocast.is_on(a):  # gk.autocast: one op in PyTorch, its products not cast down
        with _autocast.exclude():
            return _reflected(q, v, unsqueeze(t, -1), k)
    return _reflected(q, v, unsqueeze(t, -1), k)


def _reflected(q: Tensor, v: Tensor, scale: Tensor, k: int) -> Tensor:
    """``H_1 ... H_k q``, ``H_i = I - scale_i v_i v_i^T`` with ``v_i`` column i of ``v`` and ``scale`` (..., k, 1)."""
    for i in reversed(range(k)):  # H_i (H_{i+1} ... H_k E), E the first n columns of I
        vi = v[..., :, i : i + 1]
        q = q - matmul(vi * scale[..., i : i + 1, :], matmul(_mT(vi), q))
    return q


# ============================================================================ ldl_factor, ldl_solve
# A symmetric, possibly indefinite, matrix is factored as A = L D L^T with D block diagonal (1 x 1 and 2 x 2
# blocks) and symmetric interchanges chosen by Bunch and Kaufman's partial pivoting (J. R. Bunch and L.
# Kaufman, "Some stable methods for calculating inertia and solving symmetric linear systems", Math. Comp.
# 31, 1977). The factors are stored in LAPACK's sytrf format for the lower triangle (PyTorch's choice), so
# that they pass between gradkit and PyTorch: column k of LD holds D's block on and next to the diagonal
# and L's multipliers below it; pivots[k] = p > 0 is a 1 x 1 block taken after interchanging rows and
# columns k and p - 1, pivots[k] = pivots[k + 1] = -p a 2 x 2 block taken after interchanging k + 1 and
# p - 1. An interchange reorders the trailing matrix only: the columns of L already written keep their
# order, so L is a product of interchanges and unit lower triangular factors (:func:`_ldl_parts` turns it
# into one permutation and one triangle). Everything runs on the host; the matrices of a stack are factored
# together, each at its own column (its blocks need not be those of the others), masks selecting what
# each one updates.


def _bunch_kaufman(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(LD, pivots, info)`` of each symmetric matrix of ``a`` (count, n, n), its lower triangle read, in
    its dtype: LAPACK's sytrf format (above); ``info`` is 0, or the first (1-based) k at which the
    trailing column is zero (D[k, k] == 0, the matrix singular; the factorisation goes on).

    Step k looks at the trailing matrix ``S`` (rows and columns k and after, its lower triangle) and
    chooses, with ``alpha = (1 + sqrt(17)) / 8`` (the value that bounds the growth of the entries best),
    ``lam`` the largest off-diagonal magnitude in column k (at row r, the first such) and ``sigma`` the
    largest in column r:

    1. ``|S_kk| >= alpha lam``: a 1 x 1 block, no interchange;
    2. else ``|S_kk| sigma >= alpha lam^2``: the same;
    3. else ``|S_rr| >= alpha sigma``: a 1 x 1 block after interchanging k and r;
    4. else a 2 x 2 block of rows and columns k and k + 1 after interchanging k + 1 and r.

    An interchange swaps two rows and two columns, once both are made symmetric (their entries right of
    and above the diagonal copied from the lower triangle). A block ``D_b`` of columns ``C`` below it
    gives L's columns ``W = C D_b^{-1}`` and leaves ``S - C W^T``, each entry of the lower triangle
    rounded as LAPACK's reference sytrf rounds it (for a 1 x 1 block ``s_ij - c_i (c_j (1 / d))``; a 2 x
    2 block's inverse scaled by its off-diagonal entry, which keeps it from overflowing), so that the
    choices, and the pivots, are LAPACK's.
    """
    count, n = a.shape[0], a.shape[-1]
    real = a.dtype.type
    alpha = (real(1) + np.sqrt(real(17))) / real(8)
    s = a.copy()  # the trailing matrix; its lower triangle is read and kept up to date
    ld = np.zeros_like(s)
    pivots = np.zeros((count, n), np.int32)
    info = np.zeros(count, np.int32)
    at = np.zeros(count, np.int64)  # each matrix's column k
    m, idx = np.arange(count), np.arange(n)
    while (live := at < n).any():
        k = np.minimum(at, n - 1)
        col = np.abs(s[m, :, k])
        akk = col[m, k]
        off = np.where(idx > k[:, None], col, -1)
        r = np.argmax(off, axis=1)  # the first largest below the diagonal, as LAPACK's idamax
        lam = np.maximum(off[m, r], 0)
        zero = live & ((np.fmax(akk, lam) == 0) | np.isnan(akk))  # nothing to divide by: D[k, k] = 0, go on
        plain = ~live | zero | (akk >= alpha * lam)  # rule 1
        two = np.zeros(count, bool)
        if not plain.all():
            row = np.abs(np.where(idx < r[:, None], s[m, r, :], s[m, :, r]))  # row r, from the lower triangle
            sigma = np.where((idx >= k[:, None]) & (idx != r[:, None]), row, -1).max(axis=1)
            plain |= akk >= alpha * lam * (lam / sigma)  # rule 2
            two = ~plain & ~(row[m, r] >= alpha * sigma)  # rule 4 (rule 3 where it is False)
        kk = k + two  # the row and column interchanged with r, if any
        p = np.where(plain, kk, r)
        if (p != kk).any():  # where p == kk the swaps below change nothing
            for x in (kk, p):  # rows and columns kk and p made symmetric, so that they can be swapped whole
                s[m, x, :] = np.where(idx > x[:, None], s[m, :, x], s[m, x, :])
                s[m, :, x] = np.where(idx < x[:, None], s[m, x, :], s[m, :, x])
            s[m, kk], s[m, p] = s[m, p], s[m, kk]
            s[m, :, kk], s[m, :, p] = s[m, :, p], s[m, :, kk]
        pivots[m, k] = np.where(live, np.where(two, -(p + 1), p + 1), pivots[m, k])
        info = np.where((info == 0) & zero, k + 1, info).astype(np.int32)
        # L's columns below the block: W = C D_b^{-1}
        go = live & ~zero
        below = (idx > kk[:, None]) & go[:, None]
        c0 = np.where(below, s[m, :, k], 0)
        d = s[m, k, k]
        if not two.any():
            w0 = np.where(below, (real(1) / np.where(go, d, 1))[:, None] * c0, 0)
        else:
            k1 = np.minimum(k + 1, n - 1)
            pivots[m, k1] = np.where(two, -(p + 1), pivots[m, k1])
            c1 = np.where(below & two[:, None], s[m, :, k1], 0)
            e = np.where(two, s[m, k1, k], 1)
            f_e, d_e = s[m, k1, k1] / e, d / e  # D_b / e = [[d_e, 1], [1, f_e]]
            scale = (real(1) / (f_e * d_e - real(1))) / e  # e / det(D_b)
            w0 = np.where(
                two[:, None], scale[:, None] * (f_e[:, None] * c0 - c1), (real(1) / np.where(go, d, 1))[:, None] * c0
            )
            w0 = np.where(below, w0, 0)
            w1 = np.where(below & two[:, None], scale[:, None] * (d_e[:, None] * c1 - c0), 0)
            written = np.where(below, w1, np.where(idx >= k1[:, None], s[m, :, k1], 0))
            ld[m, :, k1] = np.where(two[:, None], written, ld[m, :, k1])
        # column k of LD: D's block on and next to the diagonal, L's multipliers below (a zero column as it is)
        written = np.where(below, w0, np.where(idx >= k[:, None], s[m, :, k], 0))
        ld[m, :, k] = np.where(live[:, None], written, ld[m, :, k])
        if go.any():  # the trailing matrix: S - W C^T (the lower triangle is what counts)
            lo = int(k[go].min())
            s[:, lo:, lo:] -= c0[:, lo:, None] * w0[:, None, lo:]
            if two.any():
                s[:, lo:, lo:] -= c1[:, lo:, None] * w1[:, None, lo:]
        at = np.where(live, at + 1 + two, at)
    return ld, pivots, info


def _ldl_parts(ld: np.ndarray, pivots: np.ndarray, op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(L, perm, two)`` with ``A == P L D L^T P^T`` for LAPACK's ``(LD, pivots)`` (count, n, n), (count,
    n): ``L`` unit lower triangular (its diagonal not stored), ``P`` the permutation ``(P^T v)[i] ==
    v[perm[i]]``, ``two`` (count, n) True at the first column of each 2 x 2 block of D. The pivots are
    checked (LAPACK's format, each interchange with a later row). Moving LAPACK's interchanges left of
    the triangular factors they follow reorders the rows of the columns of L written before them."""
    count, n = pivots.shape
    idx = np.arange(n)
    neg = pivots < 0
    if pivots.size and (np.abs(pivots).max() > n or (pivots == 0).any()):
        raise InvalidArgumentError(
            f"{op}: pivots must be in 1..{n} or -{n}..-1 (LAPACK's format, as ldl_factor returns them), got "
            f"values from {int(pivots.min())} to {int(pivots.max())}"
        )
    # a run of negative pivots is a run of 2 x 2 blocks: they start at its even offsets
    starts = neg & ~np.concatenate([np.zeros((count, 1), bool), neg[:, :-1]], axis=1)
    run = np.maximum.accumulate(np.where(starts, idx, 0), axis=1)
    two = neg & ((idx - run) % 2 == 0)
    partner = np.concatenate([pivots[:, 1:], np.zeros((count, 1), pivots.dtype)], axis=1)
    second = neg & ~two
    kk = idx + two  # the row each block's interchange moves: a 2 x 2 block's second row
    target = np.abs(pivots).astype(np.int64) - 1
    for bad, why in (
        (two & (partner != pivots), "starts a 2 x 2 block, so pivots[{k1}] must equal it"),
        (~second & (target < kk), "would interchange row {row} with an earlier row, which LAPACK's sytrf never does"),
    ):
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"{op}: pivots[{j}] = {int(pivots[i, j])} "
                + why.format(k1=j + 1, row=j + int(two[i, j]) + 1)
                + " (LAPACK's format, as ldl_factor returns it)"
            )
    low = np.tril(ld, -1)
    m = np.arange(count)
    sub = np.nonzero(two)
    low[sub[0], sub[1] + 1, sub[1]] = 0  # a 2 x 2 block's off-diagonal entry belongs to D
    perm = np.broadcast_to(idx, (count, n)).copy()
    src = np.where(second, idx, kk)
    dst = np.where(second, idx, target)
    for k in range(n):
        a, b = src[:, k], dst[:, k]
        if (a != b).any():
            low[m, a, :k], low[m, b, :k] = low[m, b, :k], low[m, a, :k]
            perm[m, a], perm[m, b] = perm[m, b], perm[m, a]
    return low, perm, two


def _ldl_solve_data(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    """``A^{-1} b`` for LAPACK's ``(LD, pivots)`` (count, n, n), (count, n) and ``b`` (count, n, k):
    ``x = P L^{-T} D^{-1} L^{-1} P^T b`` (:func:`_ldl_parts`), D's blocks solved all at once."""
    low, perm, two = _ldl_parts(ld, pivots, op)
    count, n = pivots.shape
    y = np.take_along_axis(b, perm[:, :, None], axis=1)
    y = _triangular_any(np, low, y, True, True, False)
    d = np.diagonal(ld, 0, -2, -1)[:, :, None]
    pad = np.zeros((count, 1, 1), ld.dtype)
    e = np.concatenate([np.diagonal(ld, -1, -2, -1)[:, :, None], pad], axis=1)  # D[k + 1, k]
    d1 = np.concatenate([d[:, 1:], pad + 1], axis=1)  # D[k + 1, k + 1]
    y1 = np.concatenate([y[:, 1:], np.zeros_like(y[:, :1])], axis=1)
    t = two[:, :, None]
    e = np.where(t, e, 1)
    # a 2 x 2 block [[d, e], [e, d1]] by Cramer's rule, every entry first divided by e (no overflow)
    de, d1e, ye, y1e = d / e, d1 / e, y / e, y1 / e
    det = de * d1e - 1
    first, after = (d1e * ye - y1e) / det, (de * y1e - ye) / det
    after = np.concatenate([np.zeros_like(after[:, :1]), after[:, :-1]], axis=1)
    after_two = np.concatenate([np.zeros_like(t[:, :1]), t[:, :-1]], axis=1)
    z = np.where(t, first, np.where(after_two, after, y / d))
    w = _triangular_any(np, low, z, True, True, True)
    x = np.empty_like(w)
    np.put_along_axis(x, perm[:, :, None], w, axis=1)
    return x


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
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ld, piv, info = _bunch_kaufman(flat)
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
    The stack is factored on the host, all matrices together (:func:`_bunch_kaufman`; on a GPU: read back,
    and the results written to it). Not differentiable (nor is PyTorch's): backward raises
    ``AutogradError``.
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
    """The solution of ``A X = B`` from :func:`ldl_factor`'s ``(LD, pivots)`` (``torch.linalg.ldl_solve``):
    ``LD`` (..., n, n), ``pivots`` (..., n) (any integer dtype, LAPACK's format, checked: a 2 x 2 block's
    two entries equal, every interchange with a later row), ``B`` (..., n, k) (at least 2 axes; batch axes
    broadcast with LD's). dtypes promote (integers as float64). Factors and pivots from PyTorch work too.
    Solved as ``P L D L^T P^T`` (:func:`_ldl_parts`): a permutation, two unit triangular solves and D's
    blocks, the stack at once. A singular D gives inf/NaN (which ones may differ from LAPACK's sytrs).
    Computed on the host (on a GPU: read back, the result written to it). Not differentiable (nor is
    PyTorch's): backward raises ``AutogradError``.
    """
    from gradkit.ops.shape import astype

    op = "linalg.ldl_solve"
    flag(hermitian, op, "hermitian")
    ld_t, b, backend, dtype = _two_operands(op, LD, B, "LD and B")
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
    b_host = np.broadcast_to(backend.to_numpy(b._data), batch + (n, k)).reshape((count, n, k))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = _ldl_solve_data(ld_host, piv_host, b_host, op)
    rule = _not_differentiable(op)
    return record("ldl_solve", backend.asarray(x.reshape(batch + (n, k))), backend, (ld_t, b), (rule, rule))
