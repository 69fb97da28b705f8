"""``gk.linalg``: ``numpy.linalg`` (and ``torch.linalg``) for gradkit tensors, differentiable.

``inv, det, slogdet, solve, cholesky, eigh, eigvalsh, qr, svd, norm, matrix_power, pinv, lstsq``, NumPy 2's
``multi_dot, trace, outer, vector_norm, matrix_norm, svdvals, cond, matrix_rank, cross, diagonal,
tensorsolve, tensorinv, vecdot``, ``solve_triangular`` (SciPy's and PyTorch's), ``matrix_exp``
(PyTorch's; SciPy's ``expm``) and PyTorch's ``lu_factor, lu_factor_ex, lu, lu_solve, solve_ex, inv_ex,
cholesky_ex, vander, householder_product, ldl_factor, ldl_factor_ex, ldl_solve`` (in
``gradkit/ops/linalg_lu.py``, with PyTorch's signatures and result types), on NumPy (CPU) and CuPy (GPU)
arrays, with NumPy 2's semantics:
batched over leading axes (not ``multi_dot``, ``outer``, ``tensorsolve``, ``tensorinv``, as in NumPy).
The functions that factor or solve take float32 and float64 (bools and integers computed in float64,
float16 refused as ``numpy.linalg`` refuses it) and raise ``LinAlgError`` (a ``numpy.linalg.LinAlgError``
and a ``gk.InvalidArgumentError``) for a singular or indefinite matrix, on the GPU too; the others
(``trace``, ``diagonal``, ``outer``, ``vecdot``, ``cross``, ``multi_dot``) keep NumPy's dtypes, and the
norms measure integers in float64. Results of several parts are NumPy 2's named tuples
(``SlogdetResult``, ``EighResult``, ``QRResult``, ``SVDResult``), and PyTorch's for PyTorch's functions
(``LUFactorResult``, ``LUFactorExResult``, ``LUResult``, ``SolveExResult``, ``InvExResult``,
``CholeskyExResult``, ``LDLFactorResult``, ``LDLFactorExResult``). As in PyTorch, the ``_ex`` functions
report a singular or indefinite matrix in an int32 ``info`` instead of raising (unless
``check_errors=True``), and ``lu`` and ``lu_solve`` never raise for one.

Every gradient is built from gradkit operations, so ``backward(create_graph=True)`` gives second
derivatives (the one exception: ``det`` at an exactly singular matrix, first order only; ``ldl_factor``
and ``ldl_solve`` are not differentiable, as PyTorch's are not). The VJP rules live with the operations
in ``gradkit/ops/linalg.py`` and ``gradkit/ops/linalg_lu.py``; the docstrings there give the formulas
and the conventions where the derivative does not exist (repeated eigenvalues, signs of
eigenvectors and singular vectors). ``eig`` and ``eigvals`` are not here: a real matrix's eigenvalues
are complex in general, and gradkit has no complex dtypes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.grad_mode import state as _mode
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor, normalize_axes, normalize_axis, uplo_arg
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
    matrix_exp,
    negative_order_norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
)
from gradkit.ops.linalg_lu import (
    CholeskyExResult,
    InvExResult,
    LDLFactorExResult,
    LDLFactorResult,
    LUFactorExResult,
    LUFactorResult,
    LUResult,
    SolveExResult,
    cholesky_ex,
    householder_product,
    inv_ex,
    ldl_factor,
    ldl_factor_ex,
    ldl_solve,
    lu,
    lu_factor,
    lu_factor_ex,
    lu_solve,
    solve_ex,
    vander,
)
from gradkit.tensor import Tensor

__all__ = [
    "CholeskyExResult",
    "EighResult",
    "InvExResult",
    "LDLFactorExResult",
    "LDLFactorResult",
    "LUFactorExResult",
    "LUFactorResult",
    "LUResult",
    "LinAlgError",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "SolveExResult",
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "ldl_factor",
    "ldl_factor_ex",
    "ldl_solve",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "tensordot",
    "tensorinv",
    "tensorsolve",
    "trace",
    "vander",
    "vecdot",
    "vector_norm",
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
        from gradkit.ops.linalg import _eigh

        return _eigh(x, UPLO, "eigvalsh").eigenvalues
    xp = x._backend.xp
    if x.size == 0:
        return Tensor._make(xp.zeros(x.shape[:-1], x.dtype), x._backend)
    problem = "the eigenvalue iteration did not converge"
    w = _lapack("linalg.eigvalsh", problem, xp.linalg.eigvalsh, x._data, UPLO, converged=True)
    return Tensor._make(w, x._backend)


# ---------------------------------------------------------------------------- norm


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False, *,  # noqa: A002 - NumPy's name
         dim: Any = None, keepdim: Any = None, dtype: Any = None) -> Tensor:
    """``numpy.linalg.norm``: a vector norm over one axis, a matrix norm over two.

    ``axis=None``: with ``ord=None`` the 2-norm of all elements (the Frobenius norm of a matrix);
    otherwise ``x`` must be 1-d (a vector norm) or 2-d (a matrix norm). Vector norms (``ord`` None or
    2, any number > 0, ``inf``, ``-inf``) are ``gk.norm``'s; ``ord=0`` counts the nonzero elements
    (slope 0, as PyTorch's). Matrix norms: ``None``/``"fro"`` (Frobenius), ``"nuc"`` (sum of the
    singular values), ``1``/``-1`` (largest/smallest column sum of ``|x|``), ``inf``/``-inf`` (rows),
    ``2``/``-2`` (largest/smallest singular value). Where a norm is 0 its slope is taken as 0. PyTorch's
    keywords ``dim=``, ``keepdim=`` (instead of ``axis``/``keepdims``) and ``dtype=`` work too.
    """
    from gradkit.ops.reduce import norm as vector_norm
    from gradkit.ops.shape import astype

    op = "linalg.norm"
    x, axis, keepdims = _torch_norm_args(x, op, axis, keepdims, dim, keepdim, dtype)
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
    if ord == math.inf and x.shape[axis] == 0:  # NumPy 2: a max with initial=0
        return _empty_max(x, (axis,), keepdims)
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
    if ord in (1, 2, math.inf) and 0 in (x.shape[row], x.shape[col]):  # NumPy 2: a max with initial=0
        return _empty_max(x, (row, col), keepdims)
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


def _empty_max(x: Tensor, axes: tuple, keepdims: bool) -> Tensor:
    """Zeros of the reduced shape (slope 0): NumPy 2's max-type norms (max with ``initial=0``) over an
    empty selection."""
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes)
    return _zero_slope("norm", x._backend.xp.zeros(shape, x.dtype), x)


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


# ---------------------------------------------------------------------------- NumPy 2's other names


def _pair(op: str, x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    """Two operands as tensors on one device (of two arrays, the first sets it)."""
    from gradkit.ops._util import operands

    if isinstance(x1, (int, float, complex)) or isinstance(x2, (int, float, complex)):  # Python's, np.float64
        raise ArgumentTypeError(
            f"{op}: x1 and x2 must be tensors or arrays, got {type(x1).__name__} and {type(x2).__name__}"
        )
    if not isinstance(x1, Tensor) and not isinstance(x2, Tensor):
        x1 = as_tensor(x1, op)
    x1, x2, _ = operands(op, x1, x2)
    return x1, x2


def _chain_order(dims: list[int]) -> list[list[int]]:
    """``split[i][j]``: where the cheapest product of matrices i..j splits (matrix i is dims[i] x dims[i+1]),
    by the textbook dynamic programme over chain lengths."""
    count = len(dims) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def multi_dot(arrays: Any) -> Tensor:
    """The product of two or more matrices in the order that needs the fewest multiplications
    (``numpy.linalg.multi_dot``, ``torch.linalg.multi_dot``): ``arrays`` is a list or tuple of 2-d
    tensors; the first may be 1-d (a row vector) and the last 1-d (a column vector), whose axis the
    result then lacks. No batching (NumPy's and PyTorch's rule). Differentiable (built from ``matmul``).
    """
    from gradkit.ops.shape import reshape

    op = "linalg.multi_dot"
    if not isinstance(arrays, (list, tuple)):
        raise ArgumentTypeError(f"{op}: expected a list or tuple of matrices, got {type(arrays).__name__}")
    if len(arrays) < 2:
        raise InvalidArgumentError(f"{op}: expected at least two arrays, got {len(arrays)}")
    first = next((t for t in arrays if isinstance(t, Tensor)), None)
    backend = (first if first is not None else as_tensor(arrays[0], op))._backend
    ts = [as_tensor(t, op, backend) for t in arrays]
    last = len(ts) - 1
    for i, t in enumerate(ts):
        if t.ndim != 2 and not (t.ndim == 1 and i in (0, last)):
            raise ShapeError(
                f"{op}: array {i} has shape {t.shape}; expected 2-d matrices (the first and the last may be 1-d "
                "vectors; stacks of matrices are not supported, as in NumPy)"
            )
    row, column = ts[0].ndim == 1, ts[last].ndim == 1
    if row:
        ts[0] = reshape(ts[0], (1, -1))
    if column:
        ts[last] = reshape(ts[last], (-1, 1))
    for i in range(last):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise ShapeError(
                f"{op}: arrays {i} and {i + 1} do not fit: shapes {tuple(arrays[i].shape)} and "
                f"{tuple(arrays[i + 1].shape)} (inner dimensions {ts[i].shape[1]} and {ts[i + 1].shape[0]})"
            )
    split = _chain_order([ts[0].shape[0]] + [t.shape[1] for t in ts])

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    out = product(0, last)
    if row or column:
        out = reshape(out, out.shape[1 if row else 0 : 1 if column else 2])
    return out


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Tensor:
    """The sum of the diagonal ``offset`` of the last two axes (``numpy.linalg.trace``), batched;
    ``dtype``: the dtype to sum in (by default x's; bools and integers sum as NumPy's ``sum``)."""
    from gradkit.dtypes import to_dtype
    from gradkit.ops.reduce import sum as sum_
    from gradkit.ops.shape import _diagonal, astype

    op = "linalg.trace"
    x = as_tensor(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a stack of matrices (at least 2 axes), got shape {x.shape}")
    d = _diagonal(x, offset, -2, -1, op)
    if dtype is not None:
        d = astype(d, to_dtype(dtype, op))
    return sum_(d, -1)


def diagonal(x: Any, /, *, offset: int = 0) -> Tensor:
    """The diagonal ``offset`` of the last two axes (``numpy.linalg.diagonal``), batched: a writable view of x,
    as PyTorch's ``torch.linalg.diagonal`` (see ``gk.diagonal``)."""
    from gradkit.ops.shape import _diagonal

    op = "linalg.diagonal"
    x = as_tensor(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a stack of matrices (at least 2 axes), got shape {x.shape}")
    return _diagonal(x, offset, -2, -1, op)


def outer(x1: Any, x2: Any, /) -> Tensor:
    """The outer product of two vectors (``numpy.linalg.outer``: 1-d operands only, unlike ``gk.outer``)."""
    from gradkit.ops.linalg import outer as outer_

    op = "linalg.outer"
    x1, x2 = _pair(op, x1, x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ShapeError(f"{op}: expected two 1-d tensors, got shapes {x1.shape} and {x2.shape}")
    return outer_(x1, x2)


def _core_axes(op: str, x1: Tensor, x2: Tensor, axis: Any, size: int | None) -> tuple[Tensor, Tensor, tuple]:
    """``x1`` and ``x2`` with their axis ``axis`` (each counted in its own shape, as NumPy's gufuncs) moved
    last, of one length (``size`` when given), and the broadcast shape of the other axes."""
    from gradkit.ops.shape import moveaxis

    if x1.ndim == 0 or x2.ndim == 0:
        raise ShapeError(f"{op}: expected tensors of at least 1 axis, got shapes {x1.shape} and {x2.shape}")
    a1, a2 = normalize_axis(axis, x1.ndim, op), normalize_axis(axis, x2.ndim, op)
    n1, n2 = x1.shape[a1], x2.shape[a2]
    if size is not None and (n1 != size or n2 != size):
        raise ShapeError(
            f"{op}: both operands must be {size}-vectors along axis {axis}, got shapes {x1.shape} and {x2.shape} "
            f"(lengths {n1} and {n2})"
        )
    if n1 != n2:
        raise ShapeError(
            f"{op}: the operands' axis {axis} differ in length: shapes {x1.shape} and {x2.shape} ({n1} and {n2})"
        )
    try:
        batch = tuple(np.broadcast_shapes(x1.shape[:a1] + x1.shape[a1 + 1 :], x2.shape[:a2] + x2.shape[a2 + 1 :]))
    except ValueError:
        raise ShapeError(f"{op}: shapes {x1.shape} and {x2.shape} do not broadcast (apart from axis {axis})") from None
    return moveaxis(x1, a1, -1), moveaxis(x2, a2, -1), batch


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Tensor:
    """The dot product of vectors along ``axis`` (``numpy.linalg.vecdot``), broadcast over the other
    axes; ``axis`` is counted in each operand's own shape (NumPy's rule), and both have the same length
    there. Differentiable (a product and a sum)."""
    from gradkit.ops.reduce import sum as sum_
    from gradkit.ops.shape import astype

    op = "linalg.vecdot"
    x1, x2 = _pair(op, x1, x2)
    if _autocast.active and _autocast.is_on(x1, x2):  # gk.autocast: PyTorch's linalg_vecdot is on both
        x1, x2 = _autocast.cast("linalg_vecdot", x1, x2)  # lower-precision lists: one op in float16 (its
        with _autocast.exclude():  # sum is not taken to float32 by the "cuda" float32 list)
            return vecdot(x1, x2, axis=axis)
    u, v, _ = _core_axes(op, x1, x2, axis, None)
    products = u * v
    out = sum_(products, -1)
    if u.dtype == v.dtype == np.bool_:
        return astype(out, np.bool_)  # bools: NumPy's "or" of "and"s
    # integers: NumPy's vecdot keeps the operands' type (sum widens it); the wrapped values agree
    return astype(out, products.dtype) if products.dtype.kind in "iu" else out


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``axis`` (``numpy.linalg.cross``, ``torch.linalg.cross``),
    broadcast over the other axes; the result's vectors lie along ``axis`` too. Differentiable."""
    from gradkit.ops.shape import moveaxis, stack

    op = "linalg.cross"
    u, v, batch = _core_axes(op, *_pair(op, x1, x2), axis, 3)
    u0, u1, u2 = u[..., 0], u[..., 1], u[..., 2]
    v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
    out = stack([u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0], axis=-1)
    return moveaxis(out, -1, normalize_axis(axis, len(batch) + 1, op))


def _ord_arg(ord: Any, op: str, allowed: str) -> None:  # noqa: A002 - NumPy's name
    if isinstance(ord, str) or (ord is not None and not _is_number(ord)):
        raise ArgumentTypeError(f"{op}: ord must be {allowed}, got {type(ord).__name__} {ord!r:.40}")
    if ord is not None and math.isnan(float(ord)):
        raise InvalidArgumentError(f"{op}: ord must be {allowed}, got NaN")


def _measurable(x: Any, op: str) -> Tensor:
    """``x`` as a floating tensor to take norms of: integers and bools in float64, as NumPy."""
    from gradkit.ops.shape import astype

    x = as_tensor(x, op)
    if x.dtype.kind in "biu":
        return astype(x, np.float64)
    if x.dtype.kind != "f":
        raise ArgumentTypeError(f"{op}: expected a numeric tensor, got dtype {x.dtype}")
    return x


def _torch_norm_args(x: Any, op: str, axis: Any, keepdims: Any, dim: Any, keepdim: Any, dtype: Any) -> tuple:
    """``(x, axis, keepdims)`` with PyTorch's ``dim=``/``keepdim=`` (each instead of NumPy's name, not with it)
    and ``dtype=`` (``x`` cast to it first, as ``torch.linalg``'s norms do) resolved."""
    from gradkit.dtypes import to_dtype
    from gradkit.ops._util import torch_dims
    from gradkit.ops.shape import astype
    from gradkit.tensor import NOT_GIVEN

    axis, keepdims = torch_dims(op, axis, keepdims, NOT_GIVEN if dim is None else dim,
                                NOT_GIVEN if keepdim is None else keepdim)
    if dtype is not None:
        dt = to_dtype(dtype, op)
        if dt.kind != "f":
            raise InvalidArgumentError(f"{op}: dtype must be a floating dtype, got {dt}")
        x = as_tensor(x, op)
        if x.dtype != dt:
            x = astype(x, dt)
    return x, axis, keepdims


def vector_norm(x: Any, /, ord: Any = 2, axis: Any = None, keepdims: bool = False, *,  # noqa: A002
                dim: Any = None, keepdim: Any = None, dtype: Any = None) -> Tensor:
    """The vector ``ord``-norm over ``axis`` (``numpy.linalg.vector_norm``; ``torch.linalg.vector_norm``'s
    positional order ``(x, ord, axis, keepdims)`` works too): ``axis`` None takes every element, an int
    one axis, a tuple several. ``ord``: any number (``(sum |x|^ord)^(1/ord)``; for ord < 0 the norm is 0
    where an element is 0), 0 (the number of nonzero elements, slope 0), ``inf`` or ``-inf``. Integers
    are measured in float64. Where the norm is 0 its slope is taken as 0 (PyTorch's). PyTorch's keywords
    ``dim=``, ``keepdim=`` (instead of ``axis``/``keepdims``) and ``dtype=`` (``x`` cast to it first) work.
    """
    from gradkit.ops.reduce import norm as norm_

    op = "linalg.vector_norm"
    x, axis, keepdims = _torch_norm_args(x, op, axis, keepdims, dim, keepdim, dtype)
    x = _measurable(x, op)
    keepdims = flag(keepdims, op, "keepdims")
    _ord_arg(ord, op, "a number, inf or -inf")
    p = float(ord) if ord is not None else 2.0
    axes = normalize_axes(axis, x.ndim, op)
    if p == math.inf and any(x.shape[i] == 0 for i in axes):  # NumPy 2: a max with initial=0
        return _empty_max(x, axes, keepdims)
    if p < 0 and p != -math.inf:
        return negative_order_norm(x, p, axes, keepdims)
    return norm_(x, p, axes, keepdims)


def matrix_norm(x: Any, /, ord: Any = "fro", dim: Any = (-2, -1), keepdim: Any = None, *,  # noqa: A002
                keepdims: bool = False, dtype: Any = None) -> Tensor:
    """The matrix norm of the last two axes (``numpy.linalg.matrix_norm``), batched: ``ord`` "fro" (or
    None), "nuc", 1, -1, 2, -2, inf, -inf, as :func:`norm`'s matrix norms (2, -2 and "nuc" through the
    SVD and its gradient conventions). Integers are measured in float64. PyTorch's ``dim`` (the two axes,
    ``(-2, -1)`` by default), ``keepdim`` and ``dtype`` (``x`` cast to it first) work too."""
    op = "linalg.matrix_norm"
    x, _, keepdims = _torch_norm_args(x, op, None, keepdims, None, keepdim, dtype)
    x = _measurable(x, op)
    keepdims = flag(keepdims, op, "keepdims")
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a stack of matrices (at least 2 axes), got shape {x.shape}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise InvalidArgumentError(f"{op}: dim must be a pair of axes, got {dim!r}")
    if tuple(dim) != (-2, -1):
        a0, a1 = (normalize_axis(int(d), x.ndim, op) for d in dim)
        if a0 == a1:
            raise InvalidArgumentError(f"{op}: dim names the same axis twice: {dim!r}")
        if isinstance(ord, str) and ord not in ("fro", "nuc"):
            raise InvalidArgumentError(f"{op}: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")
        if not isinstance(ord, str):
            _ord_arg(ord, op, "'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
        return _matrix_norm(x, ord, a0, a1, keepdims, op)
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise InvalidArgumentError(f"{op}: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")
    else:
        _ord_arg(ord, op, "'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
    return _matrix_norm(x, ord, x.ndim - 2, x.ndim - 1, keepdims, op)


def svdvals(x: Any, /) -> Tensor:
    """The singular values (descending) of a matrix or of each in a stack (``numpy.linalg.svdvals``):
    ``svd(x, compute_uv=False)``, with its gradient ``U diag(gS) V^T``."""
    from gradkit.ops.linalg import _matrices, _svd

    return _svd(_matrices(x, "linalg.svdvals", square=False), True, False, False, "svdvals")


_COND_ORDERS = "None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf"


def cond(x: Any, p: Any = None) -> Tensor:
    """The condition number of a matrix or of each in a stack (``numpy.linalg.cond``).

    ``p`` None, 2 or -2: the ratio of the largest and smallest singular values (any shape; the gradient is
    the SVD's, see :func:`svd`); "fro", "nuc", 1, -1, inf, -inf: ``matrix_norm(x, p) *
    matrix_norm(inv(x), p)`` (square matrices; differentiable through ``inv``). A singular matrix has
    condition number inf (NumPy's value; NaN if it holds a NaN), with slope 0. Empty matrices raise
    ShapeError (NumPy: LinAlgError); an empty stack of matrices gives an empty result, as NumPy.
    """
    from gradkit.ops.elementwise import where
    from gradkit.ops.linalg import _matrices

    op = "linalg.cond"
    if isinstance(p, str):
        if p not in ("fro", "nuc"):
            raise InvalidArgumentError(f"{op}: p must be {_COND_ORDERS}, got {p!r}")
    else:
        _ord_arg(p, op, _COND_ORDERS)
        if p is not None and p not in (1, -1, 2, -2, math.inf, -math.inf):
            raise InvalidArgumentError(f"{op}: p must be {_COND_ORDERS}, got {p!r}")
    x = _matrices(x, op, square=False)
    if 0 in x.shape[-2:]:
        raise ShapeError(f"{op}: the condition number is not defined for empty matrices, got shape {x.shape}")
    if p not in (None, 2, -2) and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{op}: p={p!r} needs square matrices (shape (..., n, n)), got shape {x.shape}")
    if x.size == 0:  # no matrices (an empty stack of them): no numbers, as NumPy
        return _zero_slope("cond", x._backend.xp.zeros(x.shape[:-2], x.dtype), x)
    if p is None or p in (2, -2):
        s = svd(x, compute_uv=False)
        num, den = (s[..., -1], s[..., 0]) if p == -2 else (s[..., 0], s[..., -1])
        zero = den._data == 0  # x/0 and 0/0 are inf (NumPy's value)
        return where(zero, math.inf, num / where(zero, 1.0, den))
    try:
        x_inv = inv(x)
        failed = None
    except LinAlgError:
        failed = _failed_inverses(x._data, x._backend.xp)
        eye = x._backend.xp.eye(x.shape[-1], dtype=x.dtype)
        x_inv = inv(where(failed[..., None, None], eye, x))
    row, col = x.ndim - 2, x.ndim - 1
    r = _matrix_norm(x, p, row, col, False, op) * _matrix_norm(x_inv, p, row, col, False, op)
    if failed is None:
        return r
    xp = x._backend.xp
    fill = xp.where(xp.isnan(x._data).any(axis=(-2, -1)), math.nan, math.inf).astype(x.dtype)
    return where(failed, Tensor._make(fill, x._backend), r)


def _failed_inverses(a: Any, xp: Any) -> Any:
    """Which matrices of the stack ``a`` have no inverse (a bool array of the batch shape)."""
    try:
        return ~xp.isfinite(xp.linalg.inv(a)).all(axis=(-2, -1))  # CuPy: inf/NaN for a singular matrix
    except np.linalg.LinAlgError:  # NumPy refuses the whole stack: try each matrix
        failed = np.zeros(a.shape[:-2], dtype=bool)
        for index in np.ndindex(*a.shape[:-2]):
            try:
                xp.linalg.inv(a[index])
            except np.linalg.LinAlgError:
                failed[index] = True
        return xp.asarray(failed)


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Tensor:  # noqa: N803
    """The rank of a matrix or of each in a stack (``numpy.linalg.matrix_rank``, NumPy 2's rules): the
    number of singular values above a cutoff, as an int64 tensor without gradient (0-d for one matrix).

    The cutoff: ``tol`` (absolute) if given, else ``rtol`` times the largest singular value (``rtol``
    None: ``max(M, N) * eps`` of the dtype computed in, float64 for integers); not both. Either is a
    number >= 0 or an array of them whose shape broadcasts against the batch shape. ``hermitian=True``:
    the singular values are the eigenvalues' magnitudes (``eigvalsh``, lower triangle). Fewer than 2
    axes: 1 unless every element is 0 (NumPy's rule).
    """
    from gradkit.ops.linalg import _cutoff, _lapack, _matrices

    op = "linalg.matrix_rank"
    x = as_tensor(A, op)
    hermitian = flag(hermitian, op, "hermitian")
    xp = x._backend.xp
    if x.ndim < 2:
        return Tensor._make(xp.asarray((x._data != 0).any()).astype(np.int64), x._backend)
    if tol is not None and rtol is not None:
        raise InvalidArgumentError(
            f"{op}: tol and rtol cannot both be given, got tol={tol!r:.40} and rtol={rtol!r:.40}"
        )
    x = _matrices(x, op, square=hermitian)
    m, n = x.shape[-2:]
    if x.size == 0:
        return Tensor._make(xp.zeros(x.shape[:-2], np.int64), x._backend)
    if hermitian:
        s = xp.abs(_lapack(op, "the eigenvalue iteration did not converge", xp.linalg.eigvalsh, x._data))
    else:
        s = _lapack(op, "the SVD did not converge", xp.linalg.svd, x._data, False, False)
    if tol is not None:
        cut = _cutoff(x, tol, "tol", op)
        cut = cut if isinstance(cut, float) else cut[..., None]
    else:
        rel = max(m, n) * float(np.finfo(x.dtype).eps) if rtol is None else _cutoff(x, rtol, "rtol", op)
        cut = s.max(axis=-1, keepdims=True) * (rel if isinstance(rel, float) else rel[..., None])
    rank = xp.asarray((s > cut).sum(axis=-1)).astype(np.int64)
    return Tensor._make(rank, x._backend)


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Tensor:
    """The ``x`` of ``tensordot(a, x, x.ndim) == b`` (``numpy.linalg.tensorsolve``): ``a``'s first
    ``b.ndim`` axes hold as many elements as its other axes (x's shape) and as ``b``; ``axes``: axes of
    ``a`` moved to the end first. A ``solve`` of the flattened system, so differentiable as ``solve``."""
    from gradkit.ops.shape import reshape, transpose

    op = "linalg.tensorsolve"
    a, b = _pair(op, a, b)
    if axes is not None:
        moved = [normalize_axis(k, a.ndim, op) for k in (axes if isinstance(axes, (tuple, list)) else (axes,))]
        if len(set(moved)) != len(moved):
            raise InvalidArgumentError(f"{op}: axes names an axis twice: {axes!r}")
        a = transpose(a, [k for k in range(a.ndim) if k not in moved] + moved)
    head, tail = a.shape[: b.ndim], a.shape[b.ndim :]
    size = math.prod(tail)
    if b.ndim > a.ndim or math.prod(head) != size or b.size != size:
        raise ShapeError(
            f"{op}: a of shape {a.shape} and b of shape {b.shape} do not fit: a's first b.ndim axes ({head}) and "
            f"its other axes ({tail}, x's shape) must hold as many elements as b"
        )
    try:
        x = solve(reshape(a, (size, size)), reshape(b, (size,)))
    except LinAlgError:
        raise LinAlgError(f"{op}: a, as a ({size}, {size}) matrix, is singular (a has shape {a.shape})") from None
    return reshape(x, tail)


def tensorinv(a: Any, ind: int = 2) -> Tensor:
    """The inverse of ``a`` for ``tensordot(., ., ind)`` (``numpy.linalg.tensorinv``): ``a``'s first ``ind``
    axes and its other axes hold as many elements; the result has shape ``a.shape[ind:] +
    a.shape[:ind]``. An ``inv`` of the flattened matrix, so differentiable as ``inv``."""
    from gradkit._args import whole
    from gradkit.ops.shape import reshape

    op = "linalg.tensorinv"
    ind = whole(ind, op, "ind", low=1)
    a = as_tensor(a, op)
    head, tail = a.shape[:ind], a.shape[ind:]
    size = math.prod(head)
    if math.prod(tail) != size:
        raise ShapeError(
            f"{op}: a's first ind={ind} axes ({head}) and its other axes ({tail}) must hold as many elements "
            f"(a has shape {a.shape})"
        )
    try:
        flat_inverse = inv(reshape(a, (size, size)))
    except LinAlgError:
        raise LinAlgError(f"{op}: a, as a ({size}, {size}) matrix, is singular (a has shape {a.shape})") from None
    return reshape(flat_inverse, tail + head)


def matrix_transpose(x: Any, /) -> Tensor:
    """The last two axes swapped (``numpy.linalg.matrix_transpose``, ``x.mT``): a view, batched."""
    from gradkit.ops.shape import swapaxes

    op = "linalg.matrix_transpose"
    x = as_tensor(x, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a stack of matrices (at least 2 axes), got shape {x.shape}")
    return swapaxes(x, -1, -2)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Tensor:
    """``numpy.linalg.tensordot``: ``gk.tensordot(x1, x2, axes)`` with ``axes`` keyword-only (NumPy 2's form)."""
    from gradkit.ops.numpy_more import tensordot as tensordot_

    return tensordot_(x1, x2, axes)
