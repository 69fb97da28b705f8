"""``gk.linalg``: ``numpy.linalg`` (and ``torch.linalg``) for gradkit tensors, differentiable.

``inv, det, slogdet, solve, cholesky, eigh, eigvalsh, qr, svd, norm, matrix_power, pinv, lstsq``, on NumPy
(CPU) and CuPy (GPU) arrays, with NumPy 2's semantics: batched over leading axes, float32 and
float64 (bools and integers computed in float64, float16 refused as ``numpy.linalg`` refuses it),
``LinAlgError`` (a ``numpy.linalg.LinAlgError`` and a ``gk.InvalidArgumentError``) for a singular or
indefinite matrix, on the GPU too. Results of several parts are NumPy 2's named tuples
(``SlogdetResult``, ``EighResult``, ``QRResult``, ``SVDResult``).

Every gradient is built from gradkit operations, so ``backward(create_graph=True)`` gives second
derivatives (the one exception: ``det`` at an exactly singular matrix, first order only). The VJP
rules live with the operations in ``gradkit/ops/linalg.py``; the docstrings there give the formulas
and the conventions where the derivative does not exist (repeated eigenvalues, signs of
eigenvectors and singular vectors).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.autograd.grad_mode import state as _mode
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor, normalize_axis, uplo_arg
from gradkit.ops.linalg import (
    EighResult,
    LinAlgError,
    QRResult,
    SlogdetResult,
    SVDResult,
    _zero_slope,
    cholesky,
    det,
    eigh,
    inv,
    lstsq,
    matmul,
    pinv,
    qr,
    slogdet,
    solve,
    svd,
)
from gradkit.tensor import Tensor

__all__ = [
    "EighResult",
    "LinAlgError",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_power",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
]


def eigvalsh(a: Any, UPLO: str = "L") -> Tensor:  # noqa: N803 - NumPy's name
    """The eigenvalues (ascending) of a symmetric matrix or a stack (``numpy.linalg.eigvalsh``).

    Where a gradient is needed this is ``eigh(a, UPLO).eigenvalues`` (the eigenvectors are needed for
    it: ``gA = V diag(g) V^T``); otherwise only the eigenvalues are computed.
    """
    from gradkit.ops.linalg import _lapack, _matrices

    x = _matrices(a, "linalg.eigvalsh")
    UPLO = uplo_arg(UPLO, "linalg.eigvalsh")  # noqa: N806 - NumPy's name
    if x.requires_grad and _mode.enabled:
        return eigh(x, UPLO).eigenvalues
    xp = x._backend.xp
    if x.size == 0:
        return Tensor._make(xp.zeros(x.shape[:-1], x.dtype), x._backend)
    w = _lapack("linalg.eigvalsh", "the eigenvalue iteration did not converge", xp.linalg.eigvalsh, x._data, UPLO)
    return Tensor._make(w, x._backend)


# ---------------------------------------------------------------------------- norm


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002 - NumPy's name
    """``numpy.linalg.norm``: a vector norm over one axis, a matrix norm over two.

    ``axis=None``: with ``ord=None`` the 2-norm of all elements (the Frobenius norm of a matrix);
    otherwise ``x`` must be 1-d (a vector norm) or 2-d (a matrix norm). Vector norms (``ord`` None or
    2, any number > 0, ``inf``, ``-inf``) are ``gk.norm``'s; ``ord=0`` counts the nonzero elements
    (slope 0, as PyTorch's). Matrix norms: ``None``/``"fro"`` (Frobenius), ``"nuc"`` (sum of the
    singular values), ``1``/``-1`` (largest/smallest column sum of ``|x|``), ``inf``/``-inf`` (rows),
    ``2``/``-2`` (largest/smallest singular value). Where a norm is 0 its slope is taken as 0.
    """
    from gradkit.ops.reduce import norm as vector_norm
    from gradkit.ops.shape import astype

    op = "linalg.norm"
    x = as_tensor(x, op)
    if x.dtype.kind in "biu":
        x = astype(x, np.float64)  # as NumPy: integers are measured in float64
    elif x.dtype.kind != "f":
        raise ArgumentTypeError(f"{op}: expected a numeric tensor, got dtype {x.dtype}")
    keepdims = flag(keepdims, op, "keepdims")
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise InvalidArgumentError(f"{op}: ord must be a number, inf, -inf, 'fro' or 'nuc', got {ord!r}")
    elif ord is not None and not _is_number(ord):
        raise ArgumentTypeError(f"{op}: ord must be a number, inf, -inf, 'fro' or 'nuc', got {type(ord).__name__}")
    if axis is None:
        if ord is None:
            return vector_norm(x, 2, None, keepdims)
        if x.ndim not in (1, 2):
            raise ShapeError(
                f"{op}: ord={ord!r} without axis needs a vector or a matrix (1 or 2 axes), got shape {x.shape}; "
                "pass axis= to choose the axes"
            )
        axes: tuple = tuple(range(x.ndim))
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    axes = tuple(normalize_axis(ax, x.ndim, op) for ax in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims, op)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise InvalidArgumentError(f"{op}: axis names the same axis twice: {axis!r}")
        return _matrix_norm(x, ord, axes[0], axes[1], keepdims, op)
    raise ShapeError(f"{op}: axis must name one axis (a vector norm) or two (a matrix norm), got {axis!r}")


def _vector_norm(x: Tensor, ord: Any, axis: int, keepdims: bool, op: str) -> Tensor:  # noqa: A002
    from gradkit.ops.reduce import norm as vector_norm

    if isinstance(ord, str):
        raise InvalidArgumentError(f"{op}: ord={ord!r} is a matrix norm; a vector norm (one axis) takes a number")
    if ord is None:
        ord = 2  # noqa: A001
    if ord == 0:
        count = (x._data != 0).sum(axis=axis, keepdims=keepdims).astype(x.dtype)
        return _zero_slope("norm", count, x)
    if not (ord > 0 or ord == -math.inf):
        raise InvalidArgumentError(
            f"{op}: vector norms of order {ord!r} are not supported: ord must be > 0, 0, inf or -inf"
        )
    return vector_norm(x, ord, axis, keepdims)


def _matrix_norm(x: Tensor, ord: Any, row: int, col: int, keepdims: bool, op: str) -> Tensor:  # noqa: A002
    from gradkit.ops.elementwise import abs as abs_
    from gradkit.ops.reduce import max as max_
    from gradkit.ops.reduce import min as min_
    from gradkit.ops.reduce import norm as vector_norm
    from gradkit.ops.reduce import sum as sum_
    from gradkit.ops.shape import reshape, transpose

    if ord is None or ord == "fro":
        return vector_norm(x, 2, (row, col), keepdims)
    if ord in (1, -1, math.inf, -math.inf):
        pick = max_ if ord > 0 else min_
        if ord in (1, -1):  # column sums, then the extreme over the columns
            out = pick(sum_(abs_(x), row), col - (col > row))
        else:  # row sums, then the extreme over the rows
            out = pick(sum_(abs_(x), col), row - (row > col))
    elif ord in (2, -2, "nuc"):
        rest = [i for i in range(x.ndim) if i not in (row, col)]
        s = svd(transpose(x, rest + [row, col]), compute_uv=False)
        out = sum_(s, -1) if ord == "nuc" else (max_ if ord == 2 else min_)(s, -1)
    else:
        raise InvalidArgumentError(
            f"{op}: matrix norms (two axes) of order {ord!r} are not supported: use None, 'fro', 'nuc', 1, -1, "
            "2, -2, inf or -inf"
        )
    if keepdims:
        shape = list(x.shape)
        shape[row] = shape[col] = 1
        out = reshape(out, tuple(shape))
    return out


# ---------------------------------------------------------------------------- matrix_power


def matrix_power(a: Any, n: Any) -> Tensor:
    """``a`` raised to the integer power ``n`` (``numpy.linalg.matrix_power``), by repeated squaring.

    ``n < 0`` inverts first (a singular matrix raises LinAlgError). ``n = 0`` gives the identity (slope
    0); ``n = 1`` a copy. Built from ``matmul`` and ``inv``: differentiable to any order.
    """
    from gradkit.ops.shape import clone

    op = "linalg.matrix_power"
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: n must be an int, got {type(n).__name__} {n!r:.40}")
    n = int(n)
    if n < 0:
        a = inv(a)
        n = -n
        if n == 1:
            return a
    else:
        a = as_tensor(a, op)
        if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
            raise ShapeError(f"{op}: expected square matrices (shape (..., n, n)), got shape {a.shape}")
    if n == 0:
        xp = a._backend.xp
        eye = xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape).copy()
        return _zero_slope("matrix_power", eye, a) if a.dtype.kind == "f" else Tensor._make(eye, a._backend)
    if n == 1:
        return clone(a)
    result = None
    square = None
    while n > 0:
        square = a if square is None else matmul(square, square)
        n, bit = divmod(n, 2)
        if bit:
            result = square if result is None else matmul(result, square)
    return result
