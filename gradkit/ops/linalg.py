"""Linear algebra: matmul, dot, outer, einsum, tril/triu, and the matrix functions of ``gk.linalg``.

The matrix functions (inv, det, slogdet, solve, cholesky, eigh, qr, svd, pinv, lstsq; solve_triangular and
matrix_exp, from SciPy and PyTorch) follow ``numpy.linalg``:
batched over leading axes, float32 and float64 (integers become float64, float16 is refused as NumPy
refuses it), NumPy's ``LinAlgError`` for singular or indefinite matrices (here :class:`LinAlgError`,
also a ``gk.InvalidArgumentError``). Their VJPs are the standard reverse-mode results (Giles 2008,
"An extended collection of matrix derivative results for forward and reverse mode AD"; Murray 2016
for the Cholesky factor; Townsend 2016 for the SVD; Golub and Pereyra 1973 for the pseudo-inverse, which
lstsq's goes through; the block-matrix form of the Fréchet derivative for matrix_exp), written with gradkit
operations, so that ``create_graph=True`` differentiates them again. On a GPU they cannot be part of a step captured by
``gk.cuda.capture`` (CuPy refuses cuSOLVER calls during stream capture): they raise
``gk.cuda.CaptureError`` naming the function.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import flag, real, scalar, text, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.autograd.grad_mode import state as _mode
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    DeviceError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.kernels.reference import get_array_module
from gradkit.ops._util import NOT_GIVEN, as_tensor, host_read_allowed, operands, renamed, uplo_arg
from gradkit.tensor import Tensor


def _swap_last(t: Tensor) -> Tensor:
    from gradkit.ops.shape import swapaxes

    return swapaxes(t, -1, -2)


def _matmul_da(g: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return matmul(g, _swap_last(b))


def _matmul_db(g: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return matmul(_swap_last(a), g)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: batched over leading axes, 1-D operands promoted."""
    return _matmul(a, b, "matmul")


def _matmul(a: Any, b: Any, op: str) -> Tensor:
    from gradkit.ops.shape import reshape

    a, b, backend = operands(op, a, b)
    if _autocast.active:  # gk.autocast: the operands in its dtype (one module read when it is off)
        a, b = _autocast.cast(op, a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ArgumentTypeError(f"{op}: both operands must be tensors or arrays, not Python numbers")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"{op}: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    inner_a, inner_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            f"{op}: shapes {a.shape} and {b.shape} do not fit: the inner dimensions {inner_a} and {inner_b} differ"
        )
    if a.ndim == 1 or b.ndim == 1:
        a2 = reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = reshape(b, (-1, 1)) if b.ndim == 1 else b
        out = _matmul(a2, b2, op)
        shape = out.shape[:-2] + (() if a.ndim == 1 else out.shape[-2:-1]) + (() if b.ndim == 1 else out.shape[-1:])
        return reshape(out, shape)
    try:
        data = backend.matmul(a._data, b._data)
    except ValueError:
        raise ShapeError(
            f"{op}: shapes {a.shape} and {b.shape} do not fit: the batch shapes {a.shape[:-2]} and "
            f"{b.shape[:-2]} do not broadcast"
        ) from None
    return record("matmul", data, backend, (a, b), (_matmul_da, _matmul_db), (a, b), broadcast=True)


def dot(a: Any, b: Any) -> Tensor:
    """NumPy's ``dot``: the inner product for 1-D, matmul for 2-D, a sum product otherwise."""
    a, b, backend = operands("dot", a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.ndim == 0 or b.ndim == 0:
        return a * b
    if (a.ndim <= 2 and b.ndim <= 2) or b.ndim == 1:  # N-D . 1-D sums over the last axis: matmul's 1-D rule
        return _matmul(a, b, "dot")
    inner_b = b.shape[-2]
    if a.shape[-1] != inner_b:
        raise ShapeError(
            f"dot: shapes {a.shape} and {b.shape} do not fit: the last axis of the first ({a.shape[-1]}) "
            f"differs from the second-to-last axis of the second ({inner_b})"
        )
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = letters[: a.ndim]
    sb = letters[a.ndim : a.ndim + b.ndim - 2] + sa[-1] + letters[a.ndim + b.ndim - 2]
    return einsum(f"{sa},{sb}->{sa[:-1]}{sb[:-2]}{sb[-1]}", a, b)


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of two vectors (inputs are flattened, as NumPy does)."""
    from gradkit.ops.shape import reshape

    a, b, backend = operands("outer", a, b)
    a, b = as_tensor(a, "outer", backend), as_tensor(b, "outer", backend)
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _parse_einsum(subscripts: str, operands: list[Tensor]) -> tuple[list[str], str]:
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        lhs, out = spec.split("->")
    else:
        lhs, out = spec, None
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ShapeError(f"einsum: {subscripts!r} names {len(inputs)} operand(s), got {len(operands)}")
    used = set(c for c in lhs if c.isalpha())
    spare = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    ell_len = 0
    for s, t in zip(inputs, operands, strict=True):
        if "..." in s:
            ell_len = max(ell_len, t.ndim - (len(s) - 3))
    ell = "".join(spare[:ell_len])
    expanded = []
    for s, t in zip(inputs, operands, strict=True):
        if "..." in s:
            n = t.ndim - (len(s) - 3)
            s = s.replace("...", ell[ell_len - n :])
        if len(s) != t.ndim:
            raise ShapeError(f"einsum: subscripts {s!r} do not fit an operand of shape {t.shape}")
        expanded.append(s)
    if out is None:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


def einsum(subscripts: str, *operands: Any, optimize: Any = False) -> Tensor:
    """Einstein summation as ``numpy.einsum`` (explicit or implicit output, ``...`` allowed); the operands may
    also come as one list or tuple (PyTorch's ``torch.einsum("nc,ck->nk", [q, k])``).

    ``optimize`` (False, True, "greedy", "optimal" or an ``einsum_path`` list) is handed to the backend's
    einsum for the forward value, as NumPy's; the backward contractions choose their own order.
    """
    if isinstance(optimize, np.bool_):
        optimize = bool(optimize)
    if not (isinstance(optimize, (bool, list)) or (isinstance(optimize, str) and optimize in ("greedy", "optimal"))):
        raise InvalidArgumentError(
            f"einsum: optimize must be False, True, 'greedy', 'optimal' or a path list, got {optimize!r:.60}"
        )
    if not isinstance(subscripts, str):
        raise ArgumentTypeError(
            "einsum: the first argument must be the subscripts string (e.g. 'ij,jk->ik'), "
            f"got {type(subscripts).__name__}"
        )
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])  # PyTorch's torch.einsum(equation, [a, b])
    first = next((t for t in operands if isinstance(t, Tensor)), None)
    backend = first._backend if first is not None else None
    ts = [as_tensor(t, "einsum", backend) for t in operands]
    ins, out = _parse_einsum(subscripts, ts)
    spec = ",".join(ins) + "->" + out
    try:
        extra = {"optimize": optimize} if optimize is not False else {}  # unchanged results by default
        data = ts[0]._backend.xp.einsum(spec, *[t._data for t in ts], **extra)
    except ValueError as exc:
        raise ShapeError(f"einsum: {subscripts!r} does not fit shapes {[t.shape for t in ts]} ({exc})") from None
    rules = tuple(_einsum_rule(i) for i in range(len(ts)))
    result = record("einsum", data, ts[0]._backend, tuple(ts), rules, (ins, out, *ts), broadcast=True, info=spec)
    if _autocast.active and len(ins) == 2 and (set(ins[0]) & set(ins[1])) - set(out):
        # a product that contracts (PyTorch runs it as bmm): computed in the operands' dtype, as NumPy's float16
        # einsum would sum in float16, and returned in the autocast dtype
        result = _autocast.cast("einsum", result)[0]
    return result


def _einsum_rule(i: int) -> Any:
    def rule(g: Tensor, ins: list[str], out: str, *ts: Tensor) -> Tensor:
        from gradkit.ops.shape import broadcast_to, reshape

        target = ins[i]
        shape = ts[i].shape
        sizes = {c: shape[k] for k, c in enumerate(target)}
        uniq = "".join(dict.fromkeys(target))  # the operand's letters, each once
        others = [s for j, s in enumerate(ins) if j != i]
        present = set(out).union(*others) if others else set(out)
        reachable = "".join(c for c in uniq if c in present)
        args = [g] + [t for j, t in enumerate(ts) if j != i]
        grad = einsum(",".join([out, *others]) + "->" + reachable, *args)
        if reachable != uniq:  # letters summed only within this operand
            grad = reshape(grad, tuple(grad.shape[reachable.index(c)] if c in present else 1 for c in uniq))
        want = tuple(sizes[c] for c in uniq)
        if grad.shape != want:  # a letter of length 1 in the others, broadcast against this operand
            grad = broadcast_to(grad, np.broadcast_shapes(grad.shape, want))
        if uniq != target:
            # A repeated letter (a trace or a diagonal, "ii->") reads only the diagonal:
            # put the gradient there, by multiplying with an identity per repeat.
            used = set("".join(ins) + out)
            fresh = iter(c for c in _LETTERS if c not in used)
            seen: set[str] = set()
            renamed, deltas, eyes = [], [], []
            xp = g._backend.xp
            for c in target:
                if c in seen:
                    n = next(fresh)
                    renamed.append(n)
                    deltas.append(c + n)
                    eyes.append(Tensor._make(xp.eye(sizes[c], dtype=g.dtype), g._backend))
                else:
                    seen.add(c)
                    renamed.append(c)
            grad = einsum(",".join([uniq, *deltas]) + "->" + "".join(renamed), grad, *eyes)
        return grad

    return rule


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _triangle(name: str, x: Any, k: Any, keep_lower: bool) -> Tensor:
    x = as_tensor(x, name)
    k = whole(k, name, "k")
    if x.ndim < 2:
        raise ShapeError(f"{name}: expected a tensor with at least 2 axes (a matrix or a stack of them), got {x.shape}")
    xp = x._backend.xp
    data = xp.tril(x._data, k) if keep_lower else xp.triu(x._data, k)
    if data.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    rule = (lambda g, k: tril(g, k)) if keep_lower else (lambda g, k: triu(g, k))
    return record(name, data, x._backend, (x,), (rule,), (k,))


def tril(x: Any, k: int = 0, *, diagonal: Any = NOT_GIVEN) -> Tensor:
    """The lower triangle of the last two axes: elements above diagonal ``k`` set to zero (as NumPy);
    ``diagonal=`` is PyTorch's name of ``k`` (giving both is an error)."""
    return _triangle("tril", x, renamed("tril", k, 0, diagonal, "k", "diagonal"), keep_lower=True)


def triu(x: Any, k: int = 0, *, diagonal: Any = NOT_GIVEN) -> Tensor:
    """The upper triangle of the last two axes: elements below diagonal ``k`` set to zero (as NumPy);
    ``diagonal=`` is PyTorch's name of ``k`` (giving both is an error)."""
    return _triangle("triu", x, renamed("triu", k, 0, diagonal, "k", "diagonal"), keep_lower=False)


# ============================================================ matrix functions (gk.linalg)
# Each forward calls the backend's numpy.linalg / cupy.linalg; each VJP is written with gradkit
# operations (matmul, solve, inv, tril, where, ...), so that with create_graph=True the backward pass
# is recorded and can be differentiated again. Rules of several outputs (eigh, qr, svd) are linear in
# the outputs' gradients, so each output gets a node of its own whose rule gives its share of the
# input's gradient (_record_outputs); the engine adds the shares.


class LinAlgError(InvalidArgumentError, np.linalg.LinAlgError):
    """A matrix the operation is not defined for: singular (inv, solve), not positive definite (cholesky).

    NumPy raises ``numpy.linalg.LinAlgError`` there; this is one too (``except np.linalg.LinAlgError``
    keeps working), and a ``gk.InvalidArgumentError`` (so a ``ValueError``).
    """


class SlogdetResult(NamedTuple):
    """``slogdet``'s result, as NumPy 2's: ``sign`` (no gradient) and ``logabsdet``."""

    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    """``eigh``'s result, as NumPy 2's: ascending ``eigenvalues`` and the ``eigenvectors`` as columns."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    """``qr``'s result, as NumPy 2's."""

    Q: Tensor
    R: Tensor


class SVDResult(NamedTuple):
    """``svd``'s result, as NumPy 2's: ``a == U @ (S[..., None] * Vh)`` (reduced shapes)."""

    U: Tensor
    S: Tensor
    Vh: Tensor


_LINALG_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _linalg_dtype(dtype: Any, op: str) -> np.dtype:
    """The dtype numpy.linalg computes in: float32 and float64 as they are, bools and integers as float64."""
    if dtype in _LINALG_DTYPES:
        return np.dtype(dtype)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise DTypeError(
        f"{op}: {dtype} is not supported (numpy.linalg computes in float32 and float64 only, and refuses "
        f"{dtype} too); convert with .astype(gk.float32) or .astype(gk.float64) first"
    )


def _matrices(x: Any, op: str, square: bool = True) -> Tensor:
    """``x`` as a float32/float64 Tensor of at least 2 axes (square in the last two when ``square``)."""
    from gradkit.ops.shape import astype

    x = as_tensor(x, op)
    if _autocast.active:  # gk.autocast: those on PyTorch's CPU float32 list compute float16 in float32
        (x,) = _autocast.to_float32(op.replace(".", "_"), x)
    dtype = _linalg_dtype(x.dtype, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a matrix or a stack of matrices (at least 2 axes), got shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{op}: expected square matrices (shape (..., n, n)), got shape {x.shape}")
    _not_captured(op, x._data)
    return x if x.dtype == dtype else astype(x, dtype)


def _not_captured(op: str, array: Any) -> None:
    """Refuse a matrix function on a GPU while a step is captured (warm-up included, so that it fails early).

    CuPy's solvers call cuSOLVER (and cuBLAS through ``cupy.matmul``), which raise NotImplementedError
    during stream capture: such a step could never be captured.
    """
    if type(array) is not np.ndarray and not host_read_allowed(array):
        from gradkit.cuda.graphs import CaptureError

        raise CaptureError(
            f"{op}: cannot be part of a CUDA graph captured by gk.cuda.capture (CuPy refuses cuSOLVER calls "
            "during stream capture); compute it outside the captured step and pass the result in"
        )


def _which(shape: tuple) -> str:
    return f"the matrix (shape {shape})" if len(shape) == 2 else f"a matrix of the stack of shape {shape}"


def _lapack(op: str, problem: str, fn: Callable[..., Any], *args: Any, converged: bool = False) -> Any:
    """``fn(*args)`` with NumPy's LinAlgError raised as :class:`LinAlgError`, naming ``op``.

    ``converged``: for the iterative solvers (svd, eigh, eigvalsh) called by the user, with the matrix
    as ``args[0]``. NumPy's LAPACK may fail on a NaN or infinite input (svd always does on a NaN; eigh
    sometimes raises and sometimes returns NaNs); CuPy's return NaNs. So on CuPy non-finite results
    from a non-finite input raise. Non-finite results from a finite input do not: that is overflow (a
    float32 matrix near 3e38 has an inf singular value), which NumPy returns as inf. One flag is read
    back (a device synchronisation, as :func:`_checked_on_device` says), and the input's only then.
    """
    try:
        result = fn(*args)
    except np.linalg.LinAlgError as exc:
        raise LinAlgError(f"{op}: {problem} (numpy.linalg.LinAlgError: {exc})") from None
    if converged:
        arrays = tuple(result) if isinstance(result, tuple) else (result,)
        if _checked_on_device(arrays[0]):
            xp = get_array_module(arrays[0])
            finite = xp.isfinite(arrays[0]).all()
            for r in arrays[1:]:
                finite = xp.logical_and(finite, xp.isfinite(r).all())
            if not bool(finite) and not bool(xp.isfinite(args[0]).all()):
                raise LinAlgError(f"{op}: {problem}")
    return result


def _checked_on_device(array: Any) -> bool:
    """Whether to read a failure flag back from a device array.

    NumPy raises LinAlgError itself. CuPy's solvers do not (cuSOLVER's status is checked only under
    ``cupyx.errstate(linalg='raise')``): a singular matrix gives inf/NaN, a failed Cholesky factor is
    not a factor (:func:`_is_cholesky_factor`). gradkit reads one flag back (a device synchronisation)
    to raise what NumPy raises. (A step being captured does not get here: :func:`_not_captured`.)
    """
    return type(array) is not np.ndarray and host_read_allowed(array)


def _check_finite(op: str, problem: str, xp: Any, result: Any, *sources: Any) -> None:
    """On CuPy: a non-finite result from finite inputs means a singular matrix."""
    if not _checked_on_device(result) or bool(xp.isfinite(result).all()):
        return
    if all(bool(xp.isfinite(s).all()) for s in sources):
        raise LinAlgError(f"{op}: {problem}")


def _mT(t: Tensor) -> Tensor:
    return _swap_last(t)


def _as_matrix_grad(t: Tensor) -> Tensor:
    """A tensor of shape ``s`` as ``s + (1, 1)``, to scale a stack of matrices."""
    from gradkit.ops.shape import reshape

    return reshape(t, t.shape + (1, 1))


def _record_outputs(name: str, datas: tuple, backend: Any, a: Tensor, rules: tuple, extra: tuple = (),
                    call: tuple[str, str] | None = None) -> list:
    """Record an operation of one input ``a`` with several outputs.

    Output k gets a node of its own, whose rule ``rules[k](g_k, outs, *extra)`` returns the share of
    ``a``'s gradient that comes from output k's gradient (the VJPs here are linear in the outputs'
    gradients, so the engine's sum of the shares is the VJP). ``outs`` is the list of all the output
    tensors, in the graph: with ``create_graph=True`` the rules differentiate through them. The nodes
    share an :class:`_Outputs` that holds the output arrays and weak references to the nodes, not the
    output tensors (which would make each node reach itself: a cycle that only Python's collector
    frees, late for GPU memory). Each node checks the versions of every output, as a node that saves
    its output does. ``call`` is how the call is shown (``gk.trace``): the function's name and its keywords
    other than the defaults (("eigh", ", UPLO='U'")); the op's name and none by default.
    """
    shared = _Outputs(name, datas, backend, a, rules, extra)
    if call is not None:
        shared.call = call
    outs = [shared.record(k) for k in range(len(datas))]
    versions = [(t._version, t._version[0]) for t in outs]
    for t in outs:
        if t._grad_fn is not None:
            t._grad_fn.versions = list(versions)
    return outs


class _Outputs:
    """What the nodes of one multi-output call share (see :func:`_record_outputs`)."""

    def __init__(self, name: str, datas: tuple, backend: Any, a: Tensor, rules: tuple, extra: tuple) -> None:
        self.name, self.datas, self.backend, self.a, self.rules, self.extra = name, datas, backend, a, rules, extra
        self.nodes: list = [None] * len(datas)
        self.call: tuple[str, str] = (name, "")  # how gk.trace shows the call (see _record_outputs)

    def record(self, k: int) -> Tensor:
        out = record(self.name, self.datas[k], self.backend, (self.a,), (_shared_rule,), (self, k))
        self.nodes[k] = None if out._grad_fn is None else weakref.ref(out._grad_fn)
        return out

    def tensors(self) -> list:
        """The outputs as tensors on their nodes; an output whose node is gone (nothing kept it) is
        recorded again, the same function of ``a``, so that second derivatives still reach ``a``."""
        outs = []
        for k, data in enumerate(self.datas):
            ref = self.nodes[k]
            node = None if ref is None else ref()
            if node is None and ref is not None and _mode.enabled:
                outs.append(self.record(k))
            else:
                outs.append(Tensor._make(data, self.backend, node if _mode.enabled else None))
        return outs


def _shared_rule(g: Tensor, shared: _Outputs, k: int) -> Tensor:
    return shared.rules[k](g, shared.tensors(), *shared.extra)


def _zero_slope(name: str, data: Any, x: Tensor) -> Tensor:
    """``data`` as a function of ``x`` with slope 0 (in the graph, as PyTorch's, so backward reaches x)."""

    def rule(g: Tensor, shape: tuple) -> Tensor:
        return Tensor._make(g._backend.xp.zeros(shape, g.dtype), g._backend)

    return record(name, data, x._backend, (x,), (rule,), (x.shape,))


# ---------------------------------------------------------------------------- inv, det, slogdet


def inv(a: Any) -> Tensor:
    """The inverse of a square matrix, or of each in a stack (``numpy.linalg.inv``).

    A singular matrix raises :class:`LinAlgError`. VJP: ``-A^{-T} G A^{-T}``, from the result
    (differentiable again).
    """
    op = "linalg.inv"
    a = _matrices(a, op)
    xp = a._backend.xp
    problem = f"{_which(a.shape)} is singular"
    if a.size == 0:
        data = xp.zeros(a.shape, a.dtype)
    else:
        data = _lapack(op, problem, xp.linalg.inv, a._data)
        _check_finite(op, problem, xp, data, a._data)
    return record("inv", data, a._backend, (a,), (_inv_vjp,), save_output=True)


def _inv_vjp(g: Tensor, y: Tensor) -> Tensor:
    yt = _mT(y)
    return -matmul(matmul(yt, g), yt)


def det(a: Any) -> Tensor:
    """The determinant of a square matrix, or of each in a stack (``numpy.linalg.det``; 0 when singular).

    VJP: ``g det(A) A^{-T}`` (differentiable again). At a singular matrix the gradient is the cofactor
    matrix, computed from an SVD (first order only: a second derivative there raises AutogradError).
    """
    a = _matrices(a, "linalg.det")
    xp = a._backend.xp
    if a.size == 0:
        data = xp.ones(a.shape[:-2], a.dtype)  # the determinant of a 0x0 matrix is 1
    else:
        data = xp.asarray(xp.linalg.det(a._data))
    return record("det", data, a._backend, (a,), (_det_vjp,), (a,), save_output=True)


def _det_vjp(g: Tensor, a: Tensor, d: Tensor) -> Tensor:
    try:
        ainv = inv(a)
    except LinAlgError:
        if _mode.enabled:
            raise AutogradError(
                f"linalg.det: second derivatives at a singular matrix are not implemented ({_which(a.shape)} is "
                "singular; backward without create_graph=True gives its gradient, the cofactor matrix)"
            ) from None
        return _as_matrix_grad(g) * Tensor._make(_cofactors(a._data, a._backend.xp), a._backend)
    return _as_matrix_grad(g * d) * _mT(ainv)


def _cofactors(a: Any, xp: Any) -> Any:
    """The cofactor matrix det(A) A^{-T}, also where A is singular: from A = U diag(s) Vh it is
    det(U) det(Vh) U diag(prod of the other s) Vh (products without division)."""
    u, s, vh = _lapack("linalg.det", "the SVD for the cofactor gradient did not converge", xp.linalg.svd, a)
    one = xp.ones(s.shape[:-1] + (1,), s.dtype)
    before = xp.cumprod(xp.concatenate([one, s[..., :-1]], axis=-1), axis=-1)
    after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([s[..., 1:], one], axis=-1), axis=-1), axis=-1), axis=-1)
    sign = xp.asarray(xp.linalg.det(u) * xp.linalg.det(vh))
    return sign[..., None, None] * xp.matmul(u * (before * after)[..., None, :], vh)


def slogdet(a: Any) -> SlogdetResult:
    """``(sign, logabsdet)`` of a square matrix or a stack (``numpy.linalg.slogdet``).

    ``sign`` has no gradient; ``logabsdet``'s VJP is ``g A^{-T}`` (differentiable again). At a singular
    matrix (sign 0, logabsdet -inf) the gradient is infinite: backward raises :class:`LinAlgError`.
    """
    a = _matrices(a, "linalg.slogdet")
    xp = a._backend.xp
    if a.size == 0:
        sign, logdet = xp.ones(a.shape[:-2], a.dtype), xp.zeros(a.shape[:-2], a.dtype)
    else:
        sign, logdet = xp.linalg.slogdet(a._data)
        sign, logdet = xp.asarray(sign), xp.asarray(logdet)
    logdet_t = record("slogdet", logdet, a._backend, (a,), (_slogdet_vjp,), (a,))
    return SlogdetResult(Tensor._make(sign, a._backend), logdet_t)


def _slogdet_vjp(g: Tensor, a: Tensor) -> Tensor:
    try:
        ainv = inv(a)
    except LinAlgError:
        raise LinAlgError(
            f"linalg.slogdet: the gradient of logabsdet is infinite where the determinant is 0 ({_which(a.shape)} "
            "is singular)"
        ) from None
    return _as_matrix_grad(g) * _mT(ainv)


# ---------------------------------------------------------------------------- solve


def _two_operands(op: str, a: Any, b: Any, names: str = "a and b") -> tuple[Tensor, Tensor, Any, np.dtype]:
    """``a`` and ``b`` of a solve as tensors on one device (of two arrays, the first sets it, as for one array
    and one tensor), their backend and the dtype to compute in. ``names``: the two as the error calls them."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor) and not isinstance(a, (int, float, complex)):
        a = as_tensor(a, op)
    a, b, backend = operands(op, a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ArgumentTypeError(
            f"{op}: {names} must be tensors or arrays, got {type(a).__name__} and {type(b).__name__}"
        )
    if _autocast.active:  # gk.autocast: those on PyTorch's CPU float32 list compute float16 in float32
        a, b = _autocast.to_float32(op.replace(".", "_"), a, b)
    return a, b, backend, np.promote_types(_linalg_dtype(a.dtype, op), _linalg_dtype(b.dtype, op))


def solve(a: Any, b: Any) -> Tensor:
    """The solution ``x`` of ``a @ x == b`` (``numpy.linalg.solve``, NumPy 2's rules).

    ``a`` is (..., n, n). ``b`` is a vector only when it is 1-d, shape (n,): then ``x`` has shape
    (..., n). Otherwise ``b`` is (..., n, k) and ``x`` is (..., n, k). The leading (batch) axes of ``a``
    and ``b`` broadcast. A singular ``a`` raises :class:`LinAlgError`.
    VJPs: ``gb = solve(A^T, g)``, ``gA = -gb x^T`` (summed over broadcast axes; differentiable again).
    """
    from gradkit.ops.shape import astype

    op = "linalg.solve"
    a, b, backend, dtype = _two_operands(op, a, b)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: a must be a square matrix or a stack of them (shape (..., n, n)), got shape {a.shape}")
    n = a.shape[-1]
    vector = b.ndim == 1
    if b.ndim == 0 or b.shape[-1 if vector else -2] != n:
        raise ShapeError(
            f"{op}: a of shape {a.shape} and b of shape {b.shape} do not fit: b must have shape ({n},) or "
            f"(..., {n}, k) (NumPy 2's rule: b is a vector only when it is 1-d)"
        )
    _not_captured(op, a._data)
    bshape = (n, 1) if vector else b.shape
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], bshape[:-2]))
    except ValueError:
        raise ShapeError(
            f"{op}: the batch shapes of a (shape {a.shape}) and b (shape {b.shape}) do not broadcast: "
            f"{a.shape[:-2]} and {bshape[:-2]}"
        ) from None
    a = a if a.dtype == dtype else astype(a, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    xp = backend.xp
    full = batch + (n, bshape[-1])
    if 0 in full:
        data = xp.zeros(full, dtype)
    else:
        problem = f"{_which(a.shape)} is singular"
        ad = xp.broadcast_to(a._data, batch + (n, n))
        bd = xp.broadcast_to(b._data.reshape(bshape), full)
        if type(ad) is not np.ndarray:  # CuPy's solve takes neither broadcasting nor a 1-d b as NumPy 2 does
            ad, bd = xp.ascontiguousarray(ad), xp.ascontiguousarray(bd)
        data = _lapack(op, problem, xp.linalg.solve, ad, bd)
        _check_finite(op, problem, xp, data, a._data, b._data)
    if vector:
        data = xp.ascontiguousarray(data[..., 0])
    # When both need a gradient, a's rule (run first) leaves solve(A^T, g) for b's.
    cache = {} if a.requires_grad and b.requires_grad else None
    return record(
        "solve", data, backend, (a, b), (_solve_da, _solve_db), (a, vector, cache), broadcast=True, save_output=True
    )


def _solve_gb(g: Tensor, a: Tensor, vector: bool) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    return solve(_mT(a), unsqueeze(g, -1) if vector else g)  # (..., n, k)


def _solve_da(g: Tensor, a: Tensor, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    gb = _solve_gb(g, a, vector)
    if cache is not None:
        cache["gb"] = (g, g._version[0], gb)
    return -matmul(gb, _mT(unsqueeze(x, -1) if vector else x))


def _solve_db(g: Tensor, a: Tensor, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    from gradkit.ops.shape import squeeze

    hit = cache.pop("gb", None) if cache is not None else None
    if hit is not None and hit[0] is g and hit[1] == g._version[0]:
        gb = hit[2]
    else:
        gb = _solve_gb(g, a, vector)
    return squeeze(gb, -1) if vector else gb


# ---------------------------------------------------------------------------- cholesky


def cholesky(a: Any, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` (lower triangular, ``a == L @ L^T``) of a symmetric positive-definite
    matrix or a stack (``numpy.linalg.cholesky``; ``upper=True`` gives ``L^T``, as NumPy 2).

    Only the lower triangle of ``a`` is read. A matrix that is not positive definite raises
    :class:`LinAlgError`. VJP (Murray 2016, symmetrised as PyTorch's):
    ``gA = L^{-T} Phi(L^T gL) L^{-1}`` with ``Phi(P) = (tril(P) + tril(P, -1)^T) / 2``: a symmetric
    gradient, for symmetric perturbations of ``a`` (differentiable again).
    """
    op = "linalg.cholesky"
    a = _matrices(a, op)
    upper = flag(upper, op, "upper")
    xp = a._backend.xp
    problem = f"{_which(a.shape)} is not positive definite"
    if a.size == 0:
        data = xp.zeros(a.shape, a.dtype)
    else:
        data = _lapack(op, problem, xp.linalg.cholesky, a._data)
        if _checked_on_device(data) and not _is_cholesky_factor(xp, data, a._data):
            raise LinAlgError(f"{op}: {problem}")
    factor = record("cholesky", data, a._backend, (a,), (_cholesky_vjp,), save_output=True)
    return _mT(factor) if upper else factor


def _is_cholesky_factor(xp: Any, lower: Any, a: Any) -> bool:
    """Whether CuPy's (unchecked) factor is one: a positive diagonal and rows whose squared norms are
    a's diagonal (``diag(L L^T) == diag(A)`` to rounding), whatever cuSOLVER leaves behind when it
    stops. One value is read back. A non-finite lower triangle is no error (NumPy returns NaN too)."""
    n = a.shape[-1]
    target = xp.diagonal(a, 0, -2, -1)
    rows = (lower * lower).sum(axis=-1)
    tol = 8 * (n + 1) * float(np.finfo(a.dtype).eps)
    ok = (xp.diagonal(lower, 0, -2, -1) > 0) & (xp.abs(rows - target) <= tol * target)
    return bool(ok.all()) or not bool(xp.isfinite(xp.tril(a)).all())


def _cholesky_vjp(gl: Tensor, lower: Tensor) -> Tensor:
    p = tril(matmul(_mT(lower), gl))
    phi = (p + _mT(tril(p, -1))) * 0.5
    # triangular solves (not LU): L^{-T} Phi, then (L^{-T} (L^{-T} Phi)^T)^T = L^{-T} Phi L^{-1}
    x = _triangular(lower, phi, True, True, False, "linalg.cholesky", check=False)
    return _mT(_triangular(lower, _mT(x), True, True, False, "linalg.cholesky", check=False))


# ---------------------------------------------------------------------------- eigh


def _inverse_gaps(w: Tensor) -> Tensor:
    """``F[..., i, j] = 1 / (w_j - w_i)``, and 0 where ``w_i == w_j`` (the diagonal, and ties)."""
    from gradkit.ops.elementwise import where
    from gradkit.ops.shape import unsqueeze

    gaps = unsqueeze(w, -2) - unsqueeze(w, -1)
    tie = gaps._data == 0
    return where(tie, 0.0, 1.0 / where(tie, 1.0, gaps))


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) and eigenvectors (the columns of ``v``) of a symmetric matrix or a stack
    (``numpy.linalg.eigh``); only the triangle ``UPLO`` ("L" or "U") is read.

    VJP (Giles 2008), symmetrised: ``gA = V (diag(g_w) + F o (V^T g_V - g_V^T V) / 2) V^T`` with
    ``F_ij = 1 / (w_j - w_i)``: a symmetric gradient, for symmetric perturbations of ``a``
    (differentiable again). Eigenvectors are defined up to sign (and, for a repeated eigenvalue, up to
    a rotation within its eigenspace); the gradient is meaningful for functions that do not depend on
    that choice. Degenerate case: pairs of exactly equal eigenvalues contribute nothing (F_ij = 0
    there) instead of the inf/NaN of 1/0 (PyTorch's). That is the right gradient when the function
    depends on the eigenvectors only through their eigenspaces (a function of the eigenvalues, or of
    ``v diag(h(w)) v^T``); otherwise the derivative does not exist there. Nearly equal eigenvalues give
    large gradients, as the true derivative is large.
    """
    return _eigh(a, UPLO, "eigh")


def _eigh(a: Any, UPLO: str, function: str) -> EighResult:  # noqa: N803 - NumPy's name
    """:func:`eigh`, shown by ``gk.trace`` as a call of ``function`` (``linalg.eigvalsh`` calls it too)."""
    op = "linalg.eigh"
    a = _matrices(a, op)
    UPLO = uplo_arg(UPLO, op)  # noqa: N806 - NumPy's name
    xp = a._backend.xp
    if a.size == 0:
        w, v = xp.zeros(a.shape[:-1], a.dtype), xp.zeros(a.shape, a.dtype)
    else:
        w, v = _lapack(op, "the eigenvalue iteration did not converge", xp.linalg.eigh, a._data, UPLO, converged=True)
    w_t, v_t = _record_outputs("eigh", (w, v), a._backend, a, (_eigh_dw, _eigh_dv),
                               call=(function, ", UPLO='U'" if UPLO == "U" else ""))
    return EighResult(w_t, v_t)


def _eigh_dw(gw: Tensor, outs: list) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    _, v = outs
    return matmul(v * unsqueeze(gw, -2), _mT(v))


def _eigh_dv(gv: Tensor, outs: list) -> Tensor:
    w, v = outs
    m = matmul(_mT(v), gv)
    return matmul(matmul(v, _inverse_gaps(w) * (m - _mT(m)) * 0.5), _mT(v))


# ---------------------------------------------------------------------------- qr


def qr(a: Any, mode: str = "reduced") -> QRResult | Tensor:
    """The QR decomposition of a matrix or a stack (``numpy.linalg.qr``): ``mode`` "reduced" (Q is
    (..., m, k), R (..., k, n), k = min(m, n)), "complete" (Q is (..., m, m)) or "r" (R only).

    VJP (PyTorch's, after Walter and Lehmann 2018): for m >= n,
    ``gA = [gQ + Q sym(triu(gR R^T - Q^T gQ))] R^{-T}`` with ``sym(X) = X + triu(X, 1)^T``; for
    m < n the first m columns by the same rule and the rest ``Q gR[:, m:]`` (differentiable again).
    It needs R invertible (``a`` of full rank). Not differentiable for mode="complete" with m > n
    (the last m - n columns of Q are not unique): backward raises AutogradError, as PyTorch's. With
    mode="r" the gradient is computed all the same (Q is computed, not returned).
    """
    op = "linalg.qr"
    a = _matrices(a, op, square=False)
    if text(mode, op, "mode") not in ("reduced", "complete", "r"):
        raise InvalidArgumentError(
            f"{op}: mode must be 'reduced', 'complete' or 'r', got {mode!r} ('raw' is not supported: "
            "its Householder form is not differentiable here)"
        )
    xp = a._backend.xp
    m, n = a.shape[-2:]
    kq = m if mode == "complete" else min(m, n)
    if a.size == 0:
        q = xp.zeros(a.shape[:-2] + (m, kq), a.dtype)
        if kq == m:
            q[...] = xp.eye(m, dtype=a.dtype)
        r = xp.zeros(a.shape[:-2] + (kq, n), a.dtype)
    else:
        q, r = xp.linalg.qr(a._data, "complete" if mode == "complete" else "reduced")
    q_t, r_t = _record_outputs("qr", (q, r), a._backend, a, (_qr_dq, _qr_dr), (mode,))
    return r_t if mode == "r" else QRResult(q_t, r_t)


def _qr_sym(x: Tensor) -> Tensor:
    return triu(x) + _mT(triu(x, 1))


def _qr_times_r_inv_t(b: Tensor, r: Tensor) -> Tensor:
    """``b R^{-T}`` for the square upper-triangular R."""
    try:
        return _mT(solve(r, _mT(b)))
    except LinAlgError:
        raise LinAlgError(
            f"linalg.qr: the gradient needs an input of full rank (R of shape {r.shape} is singular)"
        ) from None


def _qr_parts(outs: list, mode: str) -> tuple:
    q, r = outs
    m, n = q.shape[-2], r.shape[-1]
    if mode == "complete" and m > n:
        raise AutogradError(
            f"linalg.qr: mode='complete' is not differentiable when there are more rows than columns "
            f"(Q {q.shape}, R {r.shape}): the last {m - n} columns of Q are not unique; use mode='reduced'"
        )
    return q, r, m, n


def _qr_dq(gq: Tensor, outs: list, mode: str) -> Tensor:
    from gradkit.ops.shape import concatenate

    q, r, m, n = _qr_parts(outs, mode)
    b = gq - matmul(q, _qr_sym(matmul(_mT(q), gq)))
    if m >= n:
        return _qr_times_r_inv_t(b, r)
    gx = _qr_times_r_inv_t(b, r[..., :, :m])
    zeros = Tensor._make(gq._backend.xp.zeros(r.shape[:-2] + (m, n - m), gq.dtype), gq._backend)
    return concatenate([gx, zeros], axis=-1)


def _qr_dr(gr: Tensor, outs: list, mode: str) -> Tensor:
    from gradkit.ops.shape import concatenate

    q, r, m, n = _qr_parts(outs, mode)
    if m >= n:
        return _qr_times_r_inv_t(matmul(q, _qr_sym(matmul(gr, _mT(r)))), r)
    # A = [X | Y], R = [U | V], X = Q U, Y = Q V: Y's gradient is Q gV, and gV reaches Q through Y = Q V.
    u, v = r[..., :, :m], r[..., :, m:]
    gu, gv = gr[..., :, :m], gr[..., :, m:]
    gq = matmul(matmul(q, v), _mT(gv))
    b = gq + matmul(q, _qr_sym(matmul(gu, _mT(u)) - matmul(_mT(q), gq)))
    return concatenate([_qr_times_r_inv_t(b, u), matmul(q, gv)], axis=-1)


# ---------------------------------------------------------------------------- svd


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> SVDResult | Tensor:
    """The singular value decomposition ``a == U @ (S[..., None] * Vh)`` of a matrix or a stack
    (``numpy.linalg.svd``; S descending). ``compute_uv=False`` returns S only.

    VJP (Townsend 2016, PyTorch's), with k = min(m, n) and ``F_ij = 1 / (s_j^2 - s_i^2)``:
    ``gA = U [(F o skew(U^T gU)) S + S (F o skew(V^T gV)) + diag(gS)] V^T
    + (I - U U^T) gU S^{-1} V^T + U S^{-1} gV^T (I - V V^T)``, ``skew(X) = X - X^T``
    (differentiable again). Singular vectors are defined up to sign (and a rotation for a repeated
    singular value): the gradient is meaningful for functions that do not depend on that choice; as
    in ``eigh``, pairs of exactly equal singular values contribute nothing. The last two terms divide
    by S: a rank-deficient non-square ``a`` gives inf/NaN there when U's or Vh's gradient is used.
    With ``full_matrices=True`` and m != n, the gradient of the columns beyond k (not unique) is
    ignored, as PyTorch does. ``hermitian=True`` is not supported.
    """
    return _svd(a, full_matrices, compute_uv, hermitian, "svd")


def _svd(a: Any, full_matrices: Any, compute_uv: Any, hermitian: Any, function: str) -> SVDResult | Tensor:
    """:func:`svd`, shown by ``gk.trace`` as a call of ``function`` (``linalg.svdvals`` calls it too)."""
    op = "linalg.svd"
    a = _matrices(a, op, square=False)
    full_matrices = flag(full_matrices, op, "full_matrices")
    compute_uv = flag(compute_uv, op, "compute_uv")
    if not compute_uv:
        full_matrices = False  # S's gradient needs only the reduced U and V (a full U of a tall matrix is m x m)
    if flag(hermitian, op, "hermitian"):
        raise InvalidArgumentError(f"{op}: hermitian=True is not supported; use linalg.eigh for symmetric matrices")
    xp = a._backend.xp
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    if not compute_uv and not (a.requires_grad and _mode.enabled):
        if a.size == 0:
            s = xp.zeros(batch + (k,), a.dtype)
        else:
            s = _lapack(op, "the SVD did not converge", xp.linalg.svd, a._data, False, False, converged=True)
        return Tensor._make(s, a._backend)
    if a.size == 0:
        mu, nv = (m, n) if full_matrices else (k, k)
        u = xp.zeros(batch + (m, mu), a.dtype)
        vh = xp.zeros(batch + (nv, n), a.dtype)
        if mu == m:
            u[...] = xp.eye(m, dtype=a.dtype)
        if nv == n:
            vh[...] = xp.eye(n, dtype=a.dtype)
        s = xp.zeros(batch + (k,), a.dtype)
    else:
        u, s, vh = _lapack(op, "the SVD did not converge", xp.linalg.svd, a._data, full_matrices, converged=True)
    keywords = ", compute_uv=False" if not compute_uv else ", full_matrices=False" if not full_matrices else ""
    u_t, s_t, vh_t = _record_outputs("svd", (u, s, vh), a._backend, a, (_svd_du, _svd_ds, _svd_dvh),
                                     call=(function, "" if function == "svdvals" else keywords))
    return SVDResult(u_t, s_t, vh_t) if compute_uv else s_t


def _svd_parts(outs: list) -> tuple:
    """U, S, Vh cut to the k = len(S) singular vectors that the gradient is defined for."""
    u, s, vh = outs
    k = s.shape[-1]
    return (u if u.shape[-1] == k else u[..., :, :k]), s, (vh if vh.shape[-2] == k else vh[..., :k, :]), k


def _svd_ds(gs: Tensor, outs: list) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    u, _, vh, _ = _svd_parts(outs)
    return matmul(u * unsqueeze(gs, -2), vh)


def _svd_du(gu: Tensor, outs: list) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    u, s, vh, k = _svd_parts(outs)
    if gu.shape[-1] != k:
        gu = gu[..., :, :k]
    m = matmul(_mT(u), gu)
    ga = matmul(matmul(u, _inverse_gaps(s * s) * (m - _mT(m)) * unsqueeze(s, -2)), vh)
    if u.shape[-2] > k:  # more rows than k: the part of gU outside U's columns
        ga = ga + matmul((gu - matmul(u, m)) / unsqueeze(s, -2), vh)
    return ga


def _svd_dvh(gvh: Tensor, outs: list) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    u, s, vh, k = _svd_parts(outs)
    if gvh.shape[-2] != k:
        gvh = gvh[..., :k, :]
    m = matmul(vh, _mT(gvh))  # V^T gV
    ga = matmul(matmul(u, unsqueeze(s, -1) * (_inverse_gaps(s * s) * (m - _mT(m)))), vh)
    if vh.shape[-1] > k:  # more columns than k: the part of gV outside V's columns
        ga = ga + matmul(u, (gvh - matmul(_mT(m), vh)) / unsqueeze(s, -1))
    return ga


# ---------------------------------------------------------------------------- pinv, lstsq
# NumPy computes both in float64 whatever the input (float32 results are rounded back), which is what
# makes its rank decisions (rcond 1e-15 by default for pinv) meaningful for float32 input: the CuPy
# path does the same. cupy.linalg.pinv and cupy.linalg.lstsq are not used: pinv's boolean-mask
# assignment and lstsq's ``rank != n`` are host reads, pinv has neither hermitian nor NumPy's default
# rcond (CuPy 14's is 0), lstsq cuts with the float32 eps for float32 input.


class _NoValueType:
    """``pinv``'s ``rtol`` when not given: NumPy 2 tells it from ``rtol=None``."""

    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE = _NoValueType()


def _tolerance_number(value: Any, op: str, name: str, low: float = -math.inf) -> float:
    """A cutoff given as a real number (NaN refused), as a float."""
    value = scalar(value)
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        raise InvalidArgumentError(f"{op}: {name} must be a number, got NaN")
    return real(value, op, name, low=low)


def _pinv_tolerance(a: Tensor, rcond: Any, rtol: Any, op: str) -> Any:
    """The relative cutoff of ``pinv``, as NumPy 2 chooses it: a float, or an array (on ``a``'s device)
    of a shape that broadcasts against the batch shape of ``a``."""
    if rcond is not None and rtol is not _NO_VALUE:
        raise InvalidArgumentError(
            f"{op}: rcond and rtol cannot both be given (rcond is the older name of rtol), got rcond={rcond!r:.40} "
            f"and rtol={rtol!r:.40}"
        )
    if rcond is None:
        if rtol is _NO_VALUE:
            return 1e-15
        if rtol is None:
            return max(a.shape[-2:]) * float(np.finfo(a.dtype).eps)
        value, name = rtol, "rtol"
    else:
        value, name = rcond, "rcond"
    return _cutoff(a, value, name, op)


def _cutoff(a: Tensor, value: Any, name: str, op: str) -> Any:
    """A cutoff argument ``name`` of a matrix function of ``a``: a number >= 0 as a float, or an array of
    them (float64, on ``a``'s device) whose shape broadcasts against the batch shape of ``a``."""
    if isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_, str)):
        return _tolerance_number(value, op, name, low=0.0)
    backend = a._backend
    if isinstance(value, Tensor):
        if value._backend is not backend:
            raise DeviceError(f"{op}: {name} is on {value.device} but a is on {a.device}")
        data = value._data
    elif type(value) is not np.ndarray and isinstance(value, backend.array_type):
        data = value
    else:
        try:
            data = np.asarray(value)
        except (TypeError, ValueError):
            data = np.asarray(None, dtype=object)
    if data.dtype.kind not in "iuf":
        raise ArgumentTypeError(
            f"{op}: {name} must be a number or an array of numbers (one per matrix), got "
            f"{type(value).__name__} of dtype {data.dtype}"
        )
    batch = a.shape[:-2]
    try:
        fits = np.broadcast_shapes(data.shape, batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"{op}: {name} of shape {data.shape} does not broadcast to the batch shape {batch} of a (shape {a.shape})"
        )
    if type(data) is np.ndarray:  # values on the host are checked; on a GPU that would be a device read
        if np.isnan(data).any() or (data < 0).any():
            raise InvalidArgumentError(f"{op}: {name} must be >= 0 (and not NaN), got {data!r:.60}")
        return backend.asarray(data.astype(np.float64))
    return data.astype(np.float64)


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NO_VALUE) -> Tensor:
    """The Moore-Penrose pseudo-inverse of a matrix or of each in a stack (``numpy.linalg.pinv``, NumPy 2's
    rules): ``a`` (..., m, n) gives (..., n, m), from the SVD with the singular values ``<= cutoff *
    largest`` taken as 0.

    The relative cutoff: ``rcond`` if given, else ``rtol`` if given (the same thing, NumPy 2's newer name;
    not both), else 1e-15; ``rtol=None`` means ``max(m, n) * eps`` of a's dtype. Either is a number >= 0
    or an array of them whose shape broadcasts against the batch shape (one cutoff per matrix; values of
    a tensor on a GPU are not checked, which would be a device read). ``hermitian=True``: ``a`` is
    symmetric (square) and only its lower triangle is read (computed from ``eigh``).

    VJP (Golub and Pereyra 1973; PyTorch's), with P = pinv(A):
    ``gA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A)`` (differentiable again). It is the
    derivative where the rank (the number of singular values kept) does not change, which holds near
    ``a`` when the singular values cut are 0 (up to rounding) and those kept are clear of the cutoff; at
    a change of rank pinv is discontinuous. When the cutoff removes singular values that are not 0 it is
    the same formula at ``a`` (as PyTorch), not the derivative of the truncation. With
    ``hermitian=True`` the gradient is symmetrised, ``(gA + gA^T) / 2``, for symmetric perturbations
    (as ``eigh``'s). On a GPU it reads nothing back to the host, but it cannot be part of a step captured
    by ``gk.cuda.capture`` (it raises ``gk.cuda.CaptureError``, as the other matrix functions do).
    """
    op = "linalg.pinv"
    a = _matrices(a, op, square=False)
    hermitian = flag(hermitian, op, "hermitian")
    if hermitian and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: hermitian=True needs square matrices (shape (..., n, n)), got shape {a.shape}")
    tol = _pinv_tolerance(a, rcond, rtol, op)
    data = _pinv_data(a, tol, hermitian, op)
    return record("pinv", data, a._backend, (a,), (_pinv_vjp,), (a, hermitian), save_output=True)


def _in_float64(x: Any) -> Any:
    return x if x.dtype == np.float64 else x.astype(np.float64)


def _inverse_kept(xp: Any, values: Any, keep: Any) -> Any:
    """``1 / values`` where ``keep``, 0 elsewhere (no division by the values that are cut)."""
    return xp.where(keep, 1.0 / xp.where(keep, values, 1.0), 0.0)


def _pinv_data(a: Tensor, tol: Any, hermitian: bool, op: str) -> Any:
    xp = a._backend.xp
    m, n = a.shape[-2:]
    if a.size == 0:
        return xp.zeros(a.shape[:-2] + (n, m), a.dtype)
    if type(a._data) is np.ndarray:
        problem = "the eigenvalue iteration did not converge" if hermitian else "the SVD did not converge"
        return _lapack(op, problem, np.linalg.pinv, a._data, tol, hermitian)
    x = _in_float64(a._data)
    tol = tol if isinstance(tol, float) else tol[..., None]
    if hermitian:  # A = V diag(w) V^T: the singular values are |w|, and pinv(A) = V diag(1 / w) V^T
        w, v = _lapack(op, "the eigenvalue iteration did not converge", xp.linalg.eigh, x)
        size = xp.abs(w)
        keep = size > tol * size.max(axis=-1, keepdims=True)
        out = xp.matmul(v * _inverse_kept(xp, w, keep)[..., None, :], xp.swapaxes(v, -1, -2))
    else:
        u, s, vh = _lapack(op, "the SVD did not converge", xp.linalg.svd, x, False)
        keep = s > tol * s.max(axis=-1, keepdims=True)
        out = xp.matmul(xp.swapaxes(vh, -1, -2), _inverse_kept(xp, s, keep)[..., :, None] * xp.swapaxes(u, -1, -2))
    return out if out.dtype == a.dtype else out.astype(a.dtype)


def _pinv_vjp(g: Tensor, a: Tensor, hermitian: bool, p: Tensor) -> Tensor:
    if hermitian:  # the symmetric matrix that was inverted: a's lower triangle
        a = tril(a) + _mT(tril(a, -1))
    pt, gt = _mT(p), _mT(g)
    ga = -matmul(matmul(pt, g), pt)
    w = matmul(gt, matmul(p, pt))  # G^T P P^T
    ga = ga + w - matmul(a, matmul(p, w))  # + (I - A P) G^T P P^T
    v = matmul(matmul(pt, p), gt)  # P^T P G^T
    ga = ga + v - matmul(matmul(v, p), a)  # + P^T P G^T (I - P A)
    return (ga + _mT(ga)) * 0.5 if hermitian else ga


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple:
    """The least-squares solution of ``a @ x == b`` (``numpy.linalg.lstsq``, NumPy 2's rules): the ``x``
    of least norm among those that minimise ``||b - a x||``, from the SVD of ``a`` with the singular
    values ``<= rcond * largest`` taken as 0.

    ``a`` is a matrix (M, N); ``b`` is (M,) or (M, K), and ``x`` (N,) or (N, K). Returns NumPy's tuple
    ``(x, residuals, rank, s)``: ``residuals`` the squared norms ``||b - a x||^2`` of each column, shape
    (K,) ((1,) for a 1-d b), and empty (shape (0,)) when ``rank < N`` or ``M <= N``; ``rank`` the number
    of singular values kept (a 0-d int32 tensor: ``int(rank)`` reads it); ``s`` the singular values of
    ``a`` (descending, shape (min(M, N),)). Only ``x`` has a gradient. ``rcond``: None is
    ``max(M, N) * eps`` (float64's eps: NumPy computes in float64); a value <= 0 or >= 1 means eps
    (LAPACK's rule, also NumPy's).

    On a GPU, the residuals of M > N (K > 0) need one device read (whether the rank is N, which sets
    their shape); nothing else is read. Like the other matrix functions, it cannot be part of a step
    captured by ``gk.cuda.capture``: it raises ``gk.cuda.CaptureError`` there.

    VJP, through the pseudo-inverse (``x = P b``, P = pinv(a) with the same cutoff), right for
    rank-deficient ``a`` too (the normal equations need full column rank):
    ``gb = P^T g`` and ``ga = -P^T g x^T + r (P P^T g)^T + P^T x (g - a^T P^T g)^T`` with the residual
    ``r = b - a x`` (PyTorch's formula; differentiable again). As for ``pinv``, it is the derivative where
    the rank does not change.
    """
    from gradkit.ops.shape import astype

    op = "linalg.lstsq"
    a, b, backend, dtype = _two_operands(op, a, b)
    if a.ndim != 2:
        raise ShapeError(
            f"{op}: a must be a matrix (2 axes, shape (M, N)), got shape {a.shape} (as in NumPy, stacks of "
            "matrices are not supported)"
        )
    m, n = a.shape
    if b.ndim not in (1, 2) or b.shape[0] != m:
        raise ShapeError(
            f"{op}: a of shape {a.shape} and b of shape {b.shape} do not fit: b must have shape ({m},) or ({m}, K)"
        )
    _not_captured(op, a._data)
    eps = float(np.finfo(np.float64).eps)
    tol = max(m, n) * eps if rcond is None else _tolerance_number(rcond, op, "rcond")
    cut = tol if 0 < tol < 1 else eps  # what LAPACK's gelsd uses
    a = a if a.dtype == dtype else astype(a, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    vector = b.ndim == 1
    if type(a._data) is np.ndarray:
        x, residuals, rank, s = _lapack(op, "the SVD did not converge", np.linalg.lstsq, a._data, b._data, tol)
        rank = np.asarray(rank, dtype=np.int32)
    else:
        x, residuals, rank, s = _lstsq_device(backend.xp, a._data, b._data, cut, vector)
    x, residuals, s = (d if d.dtype == dtype else d.astype(dtype) for d in (x, residuals, s))
    cache = {} if a.requires_grad and b.requires_grad else None
    solution = record(
        "lstsq", x, backend, (a, b), (_lstsq_da, _lstsq_db),
        (a, b if a.requires_grad else None, cut, vector, cache), save_output=True,
    )  # fmt: skip
    return (
        solution,
        Tensor._make(residuals, backend),
        Tensor._make(rank, backend),
        Tensor._make(s, backend),
    )


def _lstsq_device(xp: Any, a: Any, b: Any, tol: float, vector: bool) -> tuple:
    """``lstsq`` on CuPy, in float64 as NumPy, without host reads but for the residuals of M > N (never
    while captured: lstsq refuses that first)."""
    m, n = a.shape
    a, b = _in_float64(a), _in_float64(b)
    bm = b.reshape(m, 1) if vector else b
    k = bm.shape[1]
    if a.size == 0:  # no singular values: rank 0, x = 0
        s = xp.zeros((0,), np.float64)
        rank = xp.zeros((), np.int32)
        xm = xp.zeros((n, k), np.float64)
    else:
        u, s, vh = _lapack("linalg.lstsq", "the SVD did not converge", xp.linalg.svd, a, False)
        keep = s > tol * s.max(axis=-1, keepdims=True)
        rank = keep.sum(dtype=np.int32)
        xm = xp.matmul(vh.T, _inverse_kept(xp, s, keep)[:, None] * xp.matmul(u.T, bm))
    residuals = xp.zeros((0,), np.float64)
    if m > n and k > 0 and (n == 0 or bool(rank == n)):  # the one read
        e = bm - xp.matmul(a, xm)
        residuals = (e * e).sum(axis=0)
    return (xm.reshape(n) if vector else xm), residuals, rank, s


def _lstsq_pinv(g: Tensor, a: Tensor, tol: float, cache: dict | None) -> Tensor:
    """pinv(a) for the rules; when both need it, the first rule of a backward pass leaves it for the other."""
    if cache is not None:
        hit = cache.pop("p", None)
        if hit is not None and hit[0] is g and hit[1] == g._version[0]:
            return hit[2]
    p = pinv(a, tol)
    if cache is not None:
        cache["p"] = (g, g._version[0], p)
    return p


def _lstsq_da(g: Tensor, a: Tensor, b: Tensor, tol: float, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    from gradkit.ops.shape import unsqueeze

    p = _lstsq_pinv(g, a, tol, cache)
    if vector:
        g, b, x = unsqueeze(g, -1), unsqueeze(b, -1), unsqueeze(x, -1)
    pt = _mT(p)
    ptg = matmul(pt, g)  # P^T g: b's gradient
    r = b - matmul(a, x)  # the residual (I - A P) b
    ga = -matmul(ptg, _mT(x))  # -P^T g x^T
    ga = ga + matmul(r, _mT(matmul(p, ptg)))  # + r (P P^T g)^T
    return ga + matmul(matmul(pt, x), _mT(g - matmul(_mT(a), ptg)))  # + P^T x ((I - P A)^T g)^T


def _lstsq_db(g: Tensor, a: Tensor, b: Any, tol: float, vector: bool, cache: dict | None, x: Tensor) -> Tensor:
    p = _lstsq_pinv(g, a, tol, cache)
    return matmul(_mT(p), g)  # P^T g (matmul's 1-d rule for a 1-d b)


# ---------------------------------------------------------------------------- solve_triangular
# The forward pass takes a library's triangular solver where there is one: scipy.linalg on NumPy (SciPy
# is optional; batched from 1.15, looped before), cupyx.scipy.linalg on CuPy (batched trsm). Without it,
# a general solve of the triangle: the same solution, computed by LU with more work.

_LIBRARIES: dict[str, Any] = {}


def _library(name: str) -> Any:
    """The module ``name`` ("scipy.linalg" or "cupyx.scipy.linalg"), imported at the first call; None
    when it cannot be imported (no SciPy, a CuPy without its CUDA libraries, the tests' CuPy emulation)."""
    if name not in _LIBRARIES:
        import importlib

        try:
            _LIBRARIES[name] = importlib.import_module(name)
        except (ImportError, OSError):
            _LIBRARIES[name] = None
    return _LIBRARIES[name]


_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def _trans_arg(value: Any, op: str) -> bool:
    """SciPy's ``trans``: 0/"N" solves ``A x = b``; 1/"T" and 2/"C" (real: the same) ``A^T x = b``."""
    key = value if isinstance(value, str) else scalar(value)
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)) or key not in _TRANS:
        raise InvalidArgumentError(f"{op}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {value!r:.40}")
    return _TRANS[key]


def _either(value: Any, alias: Any, names: tuple[str, str], op: str, invert: bool = False) -> bool | None:
    """A flag given by SciPy's name (``value``) or PyTorch's (``alias``, the negation when ``invert``);
    both may be given when they agree. None when neither is."""
    ours = None if value is None else flag(value, op, names[0])
    theirs = None if alias is None else flag(alias, op, names[1]) != invert
    if ours is not None and theirs is not None and ours != theirs:
        raise InvalidArgumentError(
            f"{op}: {names[0]}={value!r} and {names[1]}={alias!r} contradict each other; give one of them"
        )
    return ours if ours is not None else theirs


def solve_triangular(
    a: Any,
    b: Any,
    trans: Any = 0,
    lower: bool | None = None,
    unit_diagonal: bool | None = None,
    *,
    upper: bool | None = None,
    left: bool = True,
    unitriangular: bool | None = None,
) -> Tensor:
    """The solution ``x`` of ``a @ x == b`` for a triangular ``a`` (``scipy.linalg.solve_triangular``,
    batched; PyTorch's ``torch.linalg.solve_triangular`` keywords too).

    Only one triangle of ``a`` is read: the upper one unless ``lower=True`` (SciPy's default) or
    ``upper=False`` (PyTorch's keyword; both may be given when they agree). ``unit_diagonal=True`` (or
    PyTorch's ``unitriangular=True``): the diagonal is taken as ones and not read. ``trans``: 0 or "N"
    solves ``a x = b``, 1/"T" or 2/"C" ``a^T x = b``. ``left=False`` solves ``x a = b`` instead (PyTorch's).
    ``a`` is (..., n, n); ``b`` is a vector only when 1-d, shape (n,) (``x`` is (..., n)); otherwise
    ``b`` is (..., n, k) (``left=False``: (..., k, n)), and batch axes broadcast, as in ``solve``. A zero
    on the diagonal (the matrix is singular) raises :class:`LinAlgError` (on a GPU after one device read).

    VJPs, for ``x = T^{-1} b`` with T the triangle read: ``gb = T^{-T} g`` and ``gT = -gb x^T``, kept on
    the triangle read (strictly, with ``unit_diagonal``); with ``trans``, ``gT = -x gb^T``
    (differentiable again).
    """
    from gradkit.ops.shape import astype, reshape

    op = "linalg.solve_triangular"
    transposed = _trans_arg(trans, op)
    is_lower = _either(lower, upper, ("lower", "upper"), op, invert=True)
    is_lower = bool(is_lower)  # neither given: the upper triangle, as SciPy
    unit = bool(_either(unit_diagonal, unitriangular, ("unit_diagonal", "unitriangular"), op))
    left = flag(left, op, "left")
    a, b, backend, dtype = _two_operands(op, a, b)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: a must be a square matrix or a stack of them (shape (..., n, n)), got shape {a.shape}")
    n = a.shape[-1]
    vector = b.ndim == 1
    if b.ndim == 0 or b.shape[-1 if vector or not left else -2] != n:
        want = f"({n},) or (..., {n}, k)" if left else f"({n},) or (..., k, {n}) (left=False)"
        raise ShapeError(
            f"{op}: a of shape {a.shape} and b of shape {b.shape} do not fit: b must have shape {want} "
            "(b is a vector only when it is 1-d)"
        )
    _not_captured(op, a._data)
    a = a if a.dtype == dtype else astype(a, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    # x a = b is a^T x^T = b^T: one left-side solve with trans flipped
    column = reshape(b, (n, 1)) if vector else (b if left else _mT(b))
    x = _triangular(a, column, is_lower, transposed != (not left), unit, op)
    if vector:
        return reshape(x, x.shape[:-1])
    return x if left else _mT(x)


def _triangular(a: Tensor, b: Tensor, lower: bool, trans: bool, unit: bool, op: str, check: bool = True) -> Tensor:
    """``op(T)^{-1} b`` for ``a`` (..., n, n) and ``b`` (..., n, k) of one dtype, batch axes broadcast."""
    backend = a._backend
    xp = backend.xp
    n, k = a.shape[-1], b.shape[-1]
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise ShapeError(
            f"{op}: the batch shapes of a (shape {a.shape}) and b (shape {b.shape}) do not broadcast: "
            f"{a.shape[:-2]} and {b.shape[:-2]}"
        ) from None
    full = batch + (n, k)
    if 0 in full:
        data = xp.zeros(full, a.dtype)
    else:
        if check and not unit and host_read_allowed(a._data):
            if bool((xp.diagonal(a._data, 0, -2, -1) == 0).any()):  # on a GPU, the one device read
                raise LinAlgError(
                    f"{op}: {_which(a.shape)} has a zero on its diagonal: the triangular system is singular"
                )
        data = _triangular_data(xp, a._data, b._data, batch, lower, trans, unit)
        if data.dtype != a.dtype:
            data = data.astype(a.dtype)
    cache = {} if a.requires_grad and b.requires_grad else None
    return record(
        "solve_triangular", data, backend, (a, b), (_triangular_da, _triangular_db),
        (a, lower, trans, unit, cache), broadcast=True, save_output=True, info="lower" if lower else "upper",
    )  # fmt: skip


def _triangular_data(xp: Any, a: Any, b: Any, batch: tuple, lower: bool, trans: bool, unit: bool) -> Any:
    n, k = a.shape[-1], b.shape[-1]
    a = xp.broadcast_to(a, batch + (n, n))
    b = xp.broadcast_to(b, batch + (n, k))
    on_host = type(a) is np.ndarray
    library = _library("scipy.linalg" if on_host else "cupyx.scipy.linalg")
    if library is not None:
        kwargs = dict(trans=int(trans), lower=lower, unit_diagonal=unit)
        if not on_host:  # cupyx's batched trsm takes one batch shape, and works in place on a copy of b
            return library.solve_triangular(xp.ascontiguousarray(a), xp.ascontiguousarray(b), **kwargs)
        if batch and math.prod(batch) > n:  # SciPy goes through a stack one matrix at a time: substitute over it
            from gradkit.ops.linalg_lu import _triangular_solve  # (linalg_lu imports this module)

            dtype = np.result_type(a.dtype, b.dtype)
            return _triangular_solve(np, a.astype(dtype, copy=False), b, lower, unit, trans)
        if not batch or _scipy_batches():
            return library.solve_triangular(a, b, check_finite=False, **kwargs)
        out = np.empty(batch + (n, k), np.result_type(a.dtype, b.dtype))
        for index in np.ndindex(*batch):
            out[index] = library.solve_triangular(a[index], b[index], check_finite=False, **kwargs)
        return out
    t = xp.tril(a, -1 if unit else 0) if lower else xp.triu(a, 1 if unit else 0)
    if unit:
        t = t + xp.eye(n, dtype=a.dtype)
    if trans:
        t = xp.swapaxes(t, -1, -2)
    if not on_host:
        t, b = xp.ascontiguousarray(t), xp.ascontiguousarray(b)
    return xp.linalg.solve(t, b)


def _scipy_batches() -> bool:
    """Whether scipy.linalg's functions take stacks of matrices (SciPy 1.15 and later)."""
    import scipy

    return np.lib.NumpyVersion(scipy.__version__) >= "1.15.0"


def _triangular_gb(g: Tensor, a: Tensor, lower: bool, trans: bool, unit: bool) -> Tensor:
    return _triangular(a, g, lower, not trans, unit, "linalg.solve_triangular", check=False)


def _triangular_da(g: Tensor, a: Tensor, lower: bool, trans: bool, unit: bool, cache: dict | None, x: Tensor) -> Tensor:
    gb = _triangular_gb(g, a, lower, trans, unit)
    if cache is not None:
        cache["gb"] = (g, g._version[0], gb)
    ga = -matmul(x, _mT(gb)) if trans else -matmul(gb, _mT(x))
    return tril(ga, -1 if unit else 0) if lower else triu(ga, 1 if unit else 0)


def _triangular_db(g: Tensor, a: Tensor, lower: bool, trans: bool, unit: bool, cache: dict | None, x: Tensor) -> Tensor:
    hit = cache.pop("gb", None) if cache is not None else None
    if hit is not None and hit[0] is g and hit[1] == g._version[0]:
        return hit[2]
    return _triangular_gb(g, a, lower, trans, unit)


# ---------------------------------------------------------------------------- matrix_exp
# Scaling and squaring with a diagonal Padé approximant (Higham 2005, "The scaling and squaring method
# for the matrix exponential revisited"): the degree m in (3, 5, 7, 9, 13) is the least whose bound
# theta_m (backward error <= 2^-53) covers the 1-norm; beyond theta_13 the matrix is scaled by 2^-s
# first and the result squared s times. The VJP uses exp([[A^T, G], [0, A^T]]) = [[e^{A^T}, L], [0,
# e^{A^T}]], where L is the Fréchet derivative of exp at A^T in the direction G: the VJP itself.

_EXPM_THETA = ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1), (7, 9.504178996162932e-1),
               (9, 2.097847961257068), (13, 5.371920351148152))  # fmt: skip


def _pade_coefficients(m: int) -> list[float]:
    """``c_j = (2m - j)! / (j! (m - j)!)``: the [m/m] Padé approximant of exp is ``q(-A)^{-1} q(A)``
    with ``q(A) = sum_j c_j A^j`` (up to a common factor, which cancels)."""
    f = math.factorial
    return [float(f(2 * m - j) // (f(j) * f(m - j))) for j in range(m + 1)]


def _expm_degree(norm: float) -> tuple[int, int]:
    """(m, s) for a matrix of 1-norm ``norm``."""
    if not math.isfinite(norm):
        return 13, 0  # NaN or inf: the result is NaN whatever is chosen
    for m, theta in _EXPM_THETA[:-1]:
        if norm <= theta:
            return m, 0
    return 13, max(0, math.ceil(math.log2(norm / _EXPM_THETA[-1][1])))


def _expm_pade(xp: Any, a: Any, m: int, s: int) -> Any:
    """exp of a stack ``a`` (B, n, n) by the [m/m] Padé approximant of ``a / 2^s``, squared s times."""
    n = a.shape[-1]
    if s:
        a = a * a.dtype.type(2.0**-s)  # exact
    c = _pade_coefficients(m)
    eye = xp.eye(n, dtype=a.dtype)
    a2 = xp.matmul(a, a)
    if m == 13:
        a4 = xp.matmul(a2, a2)
        a6 = xp.matmul(a4, a2)
        u = xp.matmul(a6, c[13] * a6 + c[11] * a4 + c[9] * a2) + c[7] * a6 + c[5] * a4 + c[3] * a2 + c[1] * eye
        u = xp.matmul(a, u)
        v = xp.matmul(a6, c[12] * a6 + c[10] * a4 + c[8] * a2) + c[6] * a6 + c[4] * a4 + c[2] * a2 + c[0] * eye
    else:
        power, u, v = eye, c[1] * eye, c[0] * eye
        for j in range(2, m + 1, 2):
            power = a2 if j == 2 else xp.matmul(power, a2)
            v = v + c[j] * power
            u = u + c[j + 1] * power
        u = xp.matmul(a, u)
    r = _lapack("linalg.matrix_exp", "the Padé denominator is singular", xp.linalg.solve, v - u, v + u)
    for _ in range(s):
        r = xp.matmul(r, r)
    return r


def _expm_data(backend: Any, a: Any) -> Any:
    """exp of each matrix of ``a`` (..., n, n); the 1-norms are read on the host (one device read on a
    GPU) to choose each matrix's degree and scaling. Matrices that share them are computed together."""
    xp = backend.xp
    n = a.shape[-1]
    if a.size == 0:
        return xp.zeros(a.shape, a.dtype)
    flat = a.reshape((-1, n, n))
    norms = backend.to_numpy(xp.abs(flat).sum(axis=-2).max(axis=-1))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, norm in enumerate(norms.tolist()):
        groups.setdefault(_expm_degree(norm), []).append(i)
    if len(groups) == 1:
        return _expm_pade(xp, flat, *next(iter(groups))).reshape(a.shape)
    out = xp.empty_like(flat)
    for key, rows in groups.items():
        index = xp.asarray(np.asarray(rows, dtype=np.intp))
        out[index] = _expm_pade(xp, flat[index], *key)
    return out.reshape(a.shape)


def matrix_exp(a: Any) -> Tensor:
    """The matrix exponential ``e^A`` of a square matrix or of each in a stack (``torch.linalg.matrix_exp``,
    ``scipy.linalg.expm``), by scaling and squaring with a Padé approximant (Higham 2005); float32 and
    float64 (integers in float64). On a GPU the 1-norms are read back (one device read), to choose the
    number of squarings.

    VJP: ``gA`` is the upper-right block of ``exp([[A^T, G], [0, A^T]])`` (the Fréchet derivative of
    exp at ``A^T`` in the direction G), with G scaled by a power of 2 to about A's norm first (exact);
    computed by ``matrix_exp`` itself, so it differentiates again.
    """
    op = "linalg.matrix_exp"
    a = _matrices(a, op)
    with np.errstate(invalid="ignore", over="ignore"):  # inf/NaN inputs give NaN, and e^1000 overflows: silently
        data = _expm_data(a._backend, a._data)
    return record("matrix_exp", data, a._backend, (a,), (_matrix_exp_vjp,), (a,))


def _matrix_exp_vjp(g: Tensor, a: Tensor) -> Tensor:
    from gradkit.ops.shape import concatenate

    xp = g._backend.xp
    n = a.shape[-1]
    # G scaled to about A's 1-norm (by a power of 2: exact), so that the block matrix needs no more
    # squarings than A; the Fréchet derivative is linear in G, and the scale is undone at the end.
    a_norm = xp.abs(a._data).sum(axis=-2).max(axis=-1)
    g_norm = xp.abs(g._data).sum(axis=-2).max(axis=-1)
    # As a difference of logarithms, clipped to the dtype's exponents: a tiny G (1e-40 in float32)
    # would make the ratio overflow to inf and the gradient NaN.
    usable = (g_norm > 0) & xp.isfinite(g_norm) & xp.isfinite(a_norm)
    top, bottom = xp.where(a_norm > 0, a_norm, 1.0), xp.where(usable, g_norm, 1.0)
    shift = xp.where(usable, xp.round(xp.log2(top) - xp.log2(bottom)), 0.0)
    limit = np.finfo(g.dtype).maxexp - 2
    scale = xp.exp2(xp.clip(shift, -limit, limit)).astype(g.dtype)[..., None, None]
    scale_t = Tensor._make(scale, g._backend)
    at = _mT(a)
    zeros = Tensor._make(xp.zeros(g.shape, g.dtype), g._backend)
    block = concatenate([concatenate([at, g * scale_t], axis=-1), concatenate([zeros, at], axis=-1)], axis=-2)
    return matrix_exp(block)[..., :n, n:] / scale_t


# ---------------------------------------------------------------------------- vector norms of negative order


def negative_order_norm(x: Tensor, p: float, axes: tuple, keepdims: bool) -> Tensor:
    """``(sum |x|^p)^(1/p)`` over ``axes`` for a finite ``p < 0`` (``numpy.linalg.vector_norm``'s): 0 where
    an element is 0. ``x`` is a floating tensor (float16 summed in float32).

    VJP: ``g sign(x) (|x| / n)^(p - 1)``, and 0 where the norm n is 0 (PyTorch's convention for norms
    at 0; differentiable again).
    """
    xp = x._backend.xp
    xd = x._data.astype(np.float32) if x.dtype == np.float16 else x._data
    with np.errstate(divide="ignore", over="ignore"):
        total = (xp.abs(xd) ** p).sum(axis=axes, keepdims=keepdims)
        data = (total ** (1.0 / p)).astype(x.dtype, copy=False)
    saved = (x, p, axes, keepdims)
    return record("vector_norm", data, x._backend, (x,), (_negative_norm_vjp,), saved, save_output=True)


def _negative_norm_vjp(g: Tensor, x: Tensor, p: float, axes: tuple, keepdims: bool, n: Tensor) -> Tensor:
    from gradkit.ops.elementwise import abs as abs_
    from gradkit.ops.elementwise import sign, where
    from gradkit.ops.shape import reshape

    if not keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        g, n = reshape(g, kept), reshape(n, kept)
    zero = n._data == 0  # some element is 0 (for p < 0 that makes the norm 0)
    size = abs_(x)
    ratio = where(size._data == 0, 1.0, size) / where(zero, 1.0, n)
    return where(zero, 0.0, g * sign(x) * ratio ** (p - 1))
