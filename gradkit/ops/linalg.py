"""Linear algebra: matmul, dot, outer, einsum."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit._args import whole
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.ops._util import as_tensor, operands
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


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation as ``numpy.einsum`` (explicit or implicit output, ``...`` allowed)."""
    if not isinstance(subscripts, str):
        raise ArgumentTypeError(
            "einsum: the first argument must be the subscripts string (e.g. 'ij,jk->ik'), "
            f"got {type(subscripts).__name__}"
        )
    first = next((t for t in operands if isinstance(t, Tensor)), None)
    backend = first._backend if first is not None else None
    ts = [as_tensor(t, "einsum", backend) for t in operands]
    ins, out = _parse_einsum(subscripts, ts)
    spec = ",".join(ins) + "->" + out
    try:
        data = ts[0]._backend.xp.einsum(spec, *[t._data for t in ts])
    except ValueError as exc:
        raise ShapeError(f"einsum: {subscripts!r} does not fit shapes {[t.shape for t in ts]} ({exc})") from None
    rules = tuple(_einsum_rule(i) for i in range(len(ts)))
    return record("einsum", data, ts[0]._backend, tuple(ts), rules, (ins, out, *ts), broadcast=True, info=spec)


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


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes: elements above diagonal ``k`` set to zero (as NumPy)."""
    return _triangle("tril", x, k, keep_lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes: elements below diagonal ``k`` set to zero (as NumPy)."""
    return _triangle("triu", x, k, keep_lower=False)
