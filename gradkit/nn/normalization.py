"""Group, instance and local response normalisation: PyTorch's layers and their functional forms.

Gradients of any order, NumPy or CuPy, no host reads. ``group_norm`` and ``instance_norm`` (with the
input's statistics) on float32/float64 input run as one node with closed-form VJPs (NumPy: block by block
of rows, as ``layer_norm``), whose recorded backward (create_graph) is composed of ops; float16 and mixed
dtypes, and local response norm, are compositions of differentiable ops. The running statistics of
``InstanceNorm*`` are updated in place on the device, as BatchNorm's.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.autograd.grad_mode import state as _mode
from gradkit.creation import ones, zeros
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import init
from gradkit.nn.activation import _float_input
from gradkit.nn.layers import _NormBase, _size
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.tensor import Tensor

__all__ = [
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LocalResponseNorm",
    "group_norm",
    "instance_norm",
    "local_response_norm",
]


def _check_channel_tensor(name: str, t: Any, x: Tensor, op: str) -> None:
    """``t`` (weight, bias or a running statistic) is None or a float Tensor of shape (C,) on x's device."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__} {t!r:.40}")
    c = x.shape[1]
    if t.shape != (c,):
        raise ShapeError(f"{op}: {name} has shape {t.shape}, expected ({c},) for input of shape {x.shape}")
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: {name} is on {t.device}, the input on {x.device}; move them to one device")
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.dtype}")


def _wide(x: Tensor) -> Tensor:
    """float16 input as float32, as PyTorch computes half normalisation: a float16 mean of values near 300 is
    off by up to 0.125, a quarter of a unit-variance output."""
    return ops.astype(x, np.float32) if x.dtype == np.float16 else x


def _half_beside_float32(x: Tensor, *params: Any) -> bool:
    """Mixed precision: a float16 input beside a float32 weight, bias or running statistic (``model.half()``
    activations next to float32 norm parameters). PyTorch normalises such an input in float32, the affine map
    included, and rounds the output once to float16; gradkit's norms (layer, group, batch, instance) do so by
    running their float32 path on the input cast to float32 (a recorded cast: the input's gradient comes back
    in float16, the parameters' in float32). Called only where the dtypes may differ: ``layer_norm``'s
    float32/float64 node is taken before it."""
    return x.dtype == np.float16 and any(isinstance(p, Tensor) and p.dtype == np.float32 for p in params)


def _up(p: Any) -> Any:
    """A float16 weight or bias beside float32 ones (which PyTorch refuses) as float32, by a recorded cast."""
    return ops.astype(p, np.float32) if isinstance(p, Tensor) and p.dtype == np.float16 else p


def _normalized(x: Tensor, axes: tuple, eps: float) -> tuple[Tensor, Tensor]:
    """``(x - mean) / std`` over ``axes`` and that std (biased variance plus eps), as differentiable ops."""
    centred = x - ops.mean(x, axes, keepdims=True)
    std = ops.sqrt(ops.mean(centred * centred, axes, keepdims=True) + eps)
    return centred / std, std


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """``out * weight + bias`` with the (C,) parameters along axis 1."""
    shape = (-1,) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * ops.reshape(weight, shape)
    if bias is not None:
        out = out + ops.reshape(bias, shape)
    return out


# ------------------------------------------------------------------ row helpers (layer and group norm)
def _blas_rows(a: Any) -> bool:
    """NumPy float32/float64: row and column sums as matrix-vector products (several times faster than
    NumPy's reductions over a (rows, n) array). Elsewhere (CuPy, float16) the reductions as written."""
    return type(a) is np.ndarray and (a.dtype == np.float32 or a.dtype == np.float64)


def _row_mean(a: Any, n: int) -> Any:
    """The mean of each row of the 2-D ``a``, kept as a column."""
    if _blas_rows(a):
        return (a @ np.ones(a.shape[1], a.dtype)).reshape(-1, 1) / a.dtype.type(n)
    return a.mean(axis=1, keepdims=True)


def _row_dot(a: Any, b: Any, n: int) -> Any:
    """The mean of ``a * b`` along each row, kept as a column."""
    if _blas_rows(a):
        return np.einsum("ij,ij->i", a, b).reshape(-1, 1) / a.dtype.type(n)
    return (a * b).mean(axis=1, keepdims=True)


def _column_sum(a: Any) -> Any:
    if _blas_rows(a):
        return np.ones(a.shape[0], a.dtype) @ a
    return a.sum(axis=0)


def _stashed(stash: list, g: Tensor, i: int) -> Any:
    """The gradient ``i`` (2: weight, 3: bias) that ``_layer_norm_dx`` (or ``_group_norm_dx``) made for this
    ``g``, taken out of ``stash``; None if there is none for it."""
    held = stash[0]
    if held is None or held[0] is not g or held[1] != g._version[0] or held[i] is None:
        return None
    out = held[i]
    rest = (*held[:i], None, *held[i + 1 :])
    stash[0] = None if rest[2] is None and rest[3] is None else rest
    return out


# ------------------------------------------------------------------ group norm
def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the C channels of (N, C, *) input into ``num_groups`` groups and normalise each group of each
    sample over its channels and trailing axes (biased variance), then scale and shift per channel.

    float16 input is normalised in float32; beside a float32 weight or bias (mixed precision) the affine map
    is applied in float32 too and the output rounded once to float16, as PyTorch."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, weight, bias = _autocast.to_float32("group_norm", input, weight, bias)  # noqa: A001
    op = "group_norm"
    x = _float_input(input, op)
    groups = whole(num_groups, op, "num_groups", 1)
    eps = real(eps, op, "eps", low=0.0)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) (at least 2 axes), got {x.shape}")
    n, c = x.shape[:2]
    if c % groups:
        raise ShapeError(
            f"{op}: the input's {c} channels (shape {x.shape}) must be divisible by num_groups ({groups})"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        _check_channel_tensor(name, t, x, op)
    if _half_beside_float32(x, weight, bias):  # mixed precision: in float32 (affine map too), float16 out
        return ops.astype(group_norm(ops.astype(x, np.float32), groups, _up(weight), _up(bias), eps), x.dtype)
    if x.size == 0:
        return _affine(x, weight, bias)
    if _fusable_group(x, weight, bias):
        return _group_norm_node("group_norm", x, groups, weight, bias, eps)[0]
    grouped = ops.reshape(_wide(x), (n, groups, x.size // (n * groups)))
    out = ops.reshape(_normalized(grouped, (2,), eps)[0], x.shape)
    return _affine(ops.astype(out, x.dtype) if out.dtype != x.dtype else out, weight, bias)


def _fusable_group(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> bool:
    """Whether ``group_norm`` (or ``instance_norm`` with the input's statistics) runs as one node: a non-empty
    float32/float64 input, weight and bias None or of its dtype (their shape and device checked before).
    float16 and mixed dtypes are composed of ops, as before."""
    dt = x.dtype
    if (dt != np.float32 and dt != np.float64) or x._data.size == 0:
        return False
    return (weight is None or weight._data.dtype == dt) and (bias is None or bias._data.dtype == dt)


def _group_norm_node(name: str, x: Tensor, groups: int, weight: Tensor | None, bias: Tensor | None,
                     eps: float) -> tuple[Tensor, Any, Any]:  # fmt: skip
    """``group_norm`` as one node on the (N * groups, C / groups * spatial) rows of ``x``: the forward on raw
    arrays, the VJPs in closed form (``_group_norm_dx`` and friends). Returns the output and each row's mean
    and biased variance (raw (rows, 1) columns, for ``instance_norm``'s running statistics).

    Saved: x and each row's mean and std (x-hat is made again in the backward pass, block by block: no
    array of x's size is kept). NumPy runs block by block of rows (:func:`_group_norm_rows`,
    :func:`_group_norm_grads`), every pass after the first over a block finding it in cache; CuPy runs
    whole-array expressions."""
    xd = x._data
    n, c = xd.shape[:2]
    rows = n * groups
    m = xd.size // rows
    s = m * groups // c  # the elements of one channel of one sample
    x2 = xd.reshape(rows, m)
    w = None if weight is None else weight._data
    b = None if bias is None else bias._data
    if _blas_rows(x2):
        y, mean, var, std = _group_norm_rows(x2, s, eps, _per_row(w, n, groups), _per_row(b, n, groups))
    else:
        mean = x2.mean(axis=1, keepdims=True)
        xc = x2 - mean
        var = _row_dot(xc, xc, m)
        std = x._backend.xp.sqrt(var + eps)
        if w is None:
            xc /= std
            y = xc if b is None else xc.reshape(n, c, s) + b.reshape(c, 1)
        else:
            y = xc.reshape(n, c, s) * (w.reshape(groups, -1) / std.reshape(n, groups, 1)).reshape(n, c, 1)
            if b is not None:
                y += b.reshape(c, 1)
    want_db = bias is not None and bias._requires_grad  # its gradient made in x's pass, when wanted now
    out = record(
        name, y.reshape(xd.shape), x._backend, (x, weight, bias), _GROUP_NORM_RULES,
        (x, mean, std, weight, groups, eps, [None, want_db]),
    )
    return out, mean, var


def _per_row(p: Any, n: int, groups: int) -> Any:
    """A (C,) weight or bias as (N * groups, C / groups): row r of the grouped input has the values of its
    group's channels (None stays None)."""
    return None if p is None else np.tile(p.reshape(groups, -1), (n, 1))


_GN_BLOCK = 1 << 16  # elements in a block of rows (as layer_norm's): a block's arrays stay in cache
_vecdot = getattr(np, "vecdot", None)  # NumPy 2: about twice einsum's speed on long rows


def _pair_sums(a: Any, b: Any) -> Any:
    """NumPy: the sum of ``a * b`` along each row of the 2-D ``a`` and ``b``, as a vector."""
    k = a.shape[1]
    if k >= 64:
        return np.einsum("ij,ij->i", a, b) if _vecdot is None else _vecdot(a, b)
    p = a * b  # short rows: a product and a matrix-vector sum (a dot product per row is slow there)
    return p[:, 0] if k == 1 else p @ np.ones(k, a.dtype)


def _sums(a: Any) -> Any:
    """NumPy: the sum along each row of the 2-D ``a``, as a vector."""
    return a[:, 0] if a.shape[1] == 1 else a @ np.ones(a.shape[1], a.dtype)


def _group_norm_rows(x2: Any, s: int, eps: float, wr: Any, br: Any) -> tuple:
    """The NumPy forward of ``group_norm`` on the (rows, m) ``x2`` (float32/float64), block by block of rows:
    ``(y, mean, var, std)``, new arrays; ``s`` the elements of a channel in a row, ``wr``/``br`` the weight
    and bias per row (:func:`_per_row`) or None. ``y = (x - mean) * (weight / std) + bias``."""
    rows, m = x2.shape
    cg = m // s
    dtype = x2.dtype
    step = max(1, _GN_BLOCK // m)
    y = np.empty((rows, m), dtype)
    mean = np.empty((rows, 1), dtype)
    var = np.empty((rows, 1), dtype)
    std = np.empty((rows, 1), dtype)
    size = dtype.type(m)
    for a in range(0, rows, step):
        e = min(a + step, rows)
        k = e - a
        xs, ys, mu, v, sd = x2[a:e], y[a:e], mean[a:e], var[a:e], std[a:e]
        np.add.reduce(xs, axis=1, keepdims=True, out=mu)  # NumPy's pairwise sum (its error is amplified by
        np.divide(mu, size, out=mu)  # mean / std), as np.mean's
        np.subtract(xs, mu, out=ys)
        np.divide(_pair_sums(ys, ys).reshape(k, 1), size, out=v)
        np.sqrt(v + eps, out=sd)
        y3 = ys.reshape(k, cg, s)
        if wr is None:
            ys /= sd
        else:
            y3 *= (wr[a:e] / sd)[:, :, None]
        if br is not None:
            y3 += br[a:e, :, None]
    return y, mean, var, std


def _group_norm_grads(gd: Any, x2: Any, mean: Any, std: Any, s: int, wr: Any, want_db: bool) -> tuple:
    """NumPy float32/float64: the input gradient of ``group_norm`` for the output gradient ``gd`` (rows, m),
    in one pass over blocks of rows: ``(dx, sx, sg)``. With ``gy = g * weight`` and ``xhat = xc / std``
    (``xc = x - mean``, made again per block), per row ``dx = (gy - mean(gy) - xhat * mean(gy * xhat)) / std``,
    computed as ``g * (weight / std) - xc * (mean(gy * xhat) / std^2) - mean(gy) / std`` from the sums over
    each channel of ``g * xhat`` (``sx``, (rows, C / groups): the weight's gradient once summed over N) and
    of ``g`` (``sg``: the bias's), None when not needed (no weight; no weight and no bias gradient)."""
    rows, m = x2.shape
    cg = m // s
    dtype = x2.dtype
    step = max(1, _GN_BLOCK // m)
    dx = np.empty((rows, m), dtype)
    xcb = np.empty((min(step, rows), m), dtype)
    tmp = np.empty((min(step, rows), m), dtype)
    sx = None if wr is None else np.empty((rows, cg), dtype)
    sg = None if wr is None and not want_db else np.empty((rows, cg), dtype)
    inv_all = 1 / std
    scale_all = inv_all / dtype.type(m)
    for a in range(0, rows, step):
        e = min(a + step, rows)
        k = e - a
        gs, d, xc, t = gd[a:e], dx[a:e], xcb[:k], tmp[:k]
        np.subtract(x2[a:e], mean[a:e], out=xc)
        inv, scale = inv_all[a:e], scale_all[a:e]
        g3 = gs.reshape(k * cg, s)
        if sx is not None:
            sxk = sx[a:e]
            sxk.reshape(-1)[...] = _pair_sums(g3, xc.reshape(k * cg, s))
            sxk *= inv  # the sums of g * xhat
            dot = np.einsum("ij,ij->i", sxk, wr[a:e]).reshape(k, 1)
        else:
            dot = _pair_sums(gs, xc).reshape(k, 1) * inv
        if sg is not None:
            sgk = sg[a:e]
            sgk.reshape(-1)[...] = _sums(g3)
            mg = (sgk.sum(axis=1) if wr is None else np.einsum("ij,ij->i", sgk, wr[a:e])).reshape(k, 1)
        else:
            mg = _sums(gs).reshape(k, 1)
        np.multiply(xc, dot * (scale * inv), out=d)
        d += mg * scale
        if wr is None:
            np.multiply(gs, inv, out=t)
        else:
            np.multiply(g3.reshape(k, cg, s), (wr[a:e] * inv)[:, :, None], out=t.reshape(k, cg, s))
        np.subtract(t, d, out=d)
    return dx, sx, sg


def _xhat(x: Tensor, mean: Any, std: Any) -> Any:
    """x-hat as a raw (rows, m) array, from x and the rows' saved mean and std."""
    out = x._data.reshape(mean.shape[0], -1) - mean
    out /= std
    return out


def _group_norm_dx(g: Tensor, x: Tensor, mean: Any, std: Any, w: Tensor | None, groups: int, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    """``(gy - mean(gy) - xhat * mean(gy * xhat)) / std`` with ``gy = g * weight`` (per channel), means over
    each row (a group of a sample). NumPy float32/float64: with the weight's and the bias's gradients in the
    same pass when they require grad; those wait in ``stash`` as ``_layer_norm_dx``'s do."""
    if _mode.enabled:  # create_graph: from x again, so that the result is differentiable in x too
        xh, sd = _grouped(x, groups, eps)
        gy = ops.reshape(g if w is None else g * _channels(w, x), xh.shape)
        out = (gy - ops.mean(gy, (2,), keepdims=True) - xh * ops.mean(gy * xh, (2,), keepdims=True)) / sd
        return ops.reshape(out, x.shape)
    n, c = x.shape[:2]
    rows = n * groups
    m = x.size // rows
    s = m * groups // c
    x2 = x._data.reshape(rows, m)
    gd = g._data.reshape(rows, m)
    if gd.dtype != x2.dtype:
        gd = gd.astype(x2.dtype)
    want_dw = w is not None and w._requires_grad
    want_db = stash[1]
    if _blas_rows(x2):
        wr = _per_row(None if w is None else w._data, n, groups)
        dx, sx, sg = _group_norm_grads(gd, x2, mean, std, s, wr, want_db)
        dw = _column_sum(sx.reshape(n, c)) if want_dw else None
        db = _column_sum(sg.reshape(n, c)) if want_db else None
    else:
        cg = c // groups
        g4 = gd.reshape(n, groups, cg, s)
        x4 = (x2 - mean).reshape(n, groups, cg, s)
        inv = 1 / std.reshape(n, groups)
        sx = (g4 * x4).sum(axis=3) * inv[..., None]  # (n, groups, cg): the sums of g * xhat over each channel
        sg = g4.sum(axis=3)
        if w is not None:
            wg = w._data.reshape(groups, cg)
            dot, mg = (sx * wg).sum(axis=2), (sg * wg).sum(axis=2)
        else:
            dot, mg = sx.sum(axis=2), sg.sum(axis=2)
        scale = inv / m
        dx = x4 * (dot * scale * inv)[..., None, None]
        dx += (mg * scale)[..., None, None]
        dx = (g4 * inv[..., None, None] if w is None else g4 * (wg * inv[..., None])[..., None]) - dx
        dw = sx.reshape(n, c).sum(axis=0) if want_dw else None
        db = sg.reshape(n, c).sum(axis=0) if want_db else None
    stash[0] = (g, g._version[0], dw, db) if want_dw or want_db else None
    return Tensor._make(dx.reshape(x.shape), g._backend)


def _group_norm_dw(g: Tensor, x: Tensor, mean: Any, std: Any, w: Tensor | None, groups: int, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    if _mode.enabled:
        return ops.sum(g * ops.reshape(_grouped(x, groups, eps)[0], x.shape), _reduced(x))
    dw = _stashed(stash, g, 2)
    if dw is None:
        n, c = x.shape[:2]
        xh = _xhat(x, mean, std).reshape(n * c, -1)
        gd = g._data.reshape(n * c, -1).astype(xh.dtype, copy=False)
        sx = _pair_sums(gd, xh) if _blas_rows(xh) else (gd * xh).sum(axis=1)
        dw = _column_sum(sx.reshape(n, c))
    return Tensor._make(dw, g._backend)


def _group_norm_db(g: Tensor, x: Tensor, mean: Any, std: Any, w: Tensor | None, groups: int, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    if _mode.enabled:
        return ops.sum(g, _reduced(x))
    db = _stashed(stash, g, 3)
    if db is None:
        n, c = x.shape[:2]
        gd = g._data.reshape(n * c, -1).astype(x.dtype, copy=False)
        db = _column_sum((_sums(gd) if _blas_rows(gd) else gd.sum(axis=1)).reshape(n, c))
    return Tensor._make(db, g._backend)


_GROUP_NORM_RULES = (_group_norm_dx, _group_norm_dw, _group_norm_db)


def _grouped(x: Tensor, groups: int, eps: float) -> tuple[Tensor, Tensor]:
    """x-hat and the std of ``x`` viewed as (N, groups, rest), as differentiable ops (a recorded backward)."""
    n = x.shape[0]
    return _normalized(ops.reshape(x, (n, groups, x.size // (n * groups))), (2,), eps)


def _channels(p: Tensor, x: Tensor) -> Tensor:
    """A (C,) tensor shaped to broadcast along axis 1 of ``x``."""
    return ops.reshape(p, (-1,) + (1,) * (x.ndim - 2))


def _reduced(x: Tensor) -> tuple:
    """Every axis of ``x`` but the channel axis 1."""
    return (0, *range(2, x.ndim))


class GroupNorm(Module):
    """PyTorch's ``nn.GroupNorm``: ``F.group_norm`` over (N, C, *) input; weight ones and bias zeros of shape
    (num_channels,) when ``affine`` (``bias=False``: no bias)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = _size(num_groups, "num_groups", "GroupNorm", 1)
        self.num_channels = _size(num_channels, "num_channels", "GroupNorm", 1)
        if self.num_channels % self.num_groups:
            raise InvalidArgumentError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.eps = real(eps, "GroupNorm", "eps", low=0.0, low_open=True)
        self.affine = flag(affine, "GroupNorm", "affine")
        bias = flag(bias, "GroupNorm", "bias")
        if self.affine:
            self.weight = Parameter(ones(self.num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if self.affine and bias:
            self.bias = Parameter(zeros(self.num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", None)
        if shape is not None and (len(shape) < 2 or shape[1] != self.num_channels):
            raise ShapeError(f"GroupNorm: expected input of shape (N, {self.num_channels}, *), got {tuple(shape)}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


# ------------------------------------------------------------------ instance norm
def instance_norm(
    input: Any,  # noqa: A002
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) input over its trailing axes, then scale and shift.

    ``use_input_stats``: with the sample's own mean and biased variance; running statistics that are given
    are updated in place as ``(1 - momentum) * running + momentum * batch``, ``batch`` the average over the
    samples of their means and unbiased variances (PyTorch's). Otherwise with the running statistics.
    float16 input beside float32 running statistics, weight or bias (mixed precision) is computed in float32
    and returned in float16, as PyTorch.
    """
    op = "instance_norm"
    x = _float_input(input, op)
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) with at least one axis after C, got {x.shape}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channel_tensor(name, t, x, op)
    use_input_stats = flag(use_input_stats, op, "use_input_stats")
    if _half_beside_float32(x, running_mean, running_var, weight, bias):  # mixed precision, as PyTorch: in
        out = instance_norm(ops.astype(x, np.float32), running_mean, running_var, _up(weight), _up(bias),
                            use_input_stats, momentum, eps)  # float32, the output in float16
        return ops.astype(out, x.dtype)
    momentum = real(momentum, op, "momentum")
    eps = real(eps, op, "eps", low=0.0)
    axes = tuple(range(2, x.ndim))
    n = math.prod(x.shape[2:])
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError(f"{op}: running_mean and running_var are needed when use_input_stats=False")
        full = (1, -1) + (1,) * (x.ndim - 2)
        rm = running_mean._data.reshape(full)
        std = running_var._backend.xp.sqrt(running_var._data.reshape(full) + eps)
        return _affine((x - rm) / std, weight, bias)
    if n == 1:
        raise ShapeError(f"{op}: expected more than 1 spatial element when training, got input shape {x.shape}")
    if x.size == 0:  # an empty batch or spatial extent: returned, the statistics kept
        return _affine(x, weight, bias)
    if _fusable_group(x, weight, bias):  # group_norm's node with a group per channel
        c = x.shape[1]
        out, mean, var = _group_norm_node("instance_norm", x, c, weight, bias, eps)
        if running_mean is not None:
            _update_running(running_mean, mean.reshape(-1, c).mean(axis=0), momentum)
        if running_var is not None:
            _update_running(running_var, var.reshape(-1, c).mean(axis=0) * (n / (n - 1)), momentum)
        return out
    xw = _wide(x)
    mean = ops.mean(xw, axes, keepdims=True)
    centred = xw - mean
    var = ops.mean(centred * centred, axes, keepdims=True)
    if running_mean is not None:
        _update_running(running_mean, mean._data.mean(axis=0).reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, var._data.mean(axis=0).reshape(-1) * (n / (n - 1)), momentum)
    out = centred / ops.sqrt(var + eps)
    return _affine(ops.astype(out, x.dtype) if out.dtype != x.dtype else out, weight, bias)


def _update_running(stat: Tensor, batch: Any, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place (a new version of ``stat``)."""
    data = stat._data
    data *= 1 - momentum
    data += momentum * batch.astype(data.dtype, copy=False)
    stat._version[0] += 1


class _InstanceNorm(_NormBase):
    """InstanceNorm1d/2d/3d: PyTorch's arguments, parameters, buffers and state-dict keys.

    Training mode (or ``track_running_stats=False``) normalises each sample with its own statistics and,
    with ``track_running_stats``, updates ``running_mean`` / ``running_var``; evaluation mode with
    ``track_running_stats`` uses them. ``momentum=None`` leaves them unchanged (PyTorch passes 0).
    ``num_batches_tracked`` is kept for PyTorch's state dicts but never counted (as PyTorch). An unbatched
    input (without N) is normalised as a batch of one.
    """

    _dims = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        layer, d = type(self).__name__, self._dims
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{layer}: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in (d + 1, d + 2):
            raise ShapeError(f"{layer}: expected a {d + 1}-D (C, ...) or {d + 2}-D (N, C, ...) input, got input "
                             f"of shape {x.shape}")
        channels = x.shape[-d - 1]
        if channels != self.num_features:
            if self.affine or self.track_running_stats:
                raise ShapeError(f"{layer}: expected {self.num_features} channels (input axis {x.ndim - d - 1}), "
                                 f"got input of shape {x.shape}")
            warnings.warn(
                f"{layer}: the input has {channels} channels, not num_features={self.num_features}; without "
                "affine or track_running_stats num_features is unused", UserWarning, stacklevel=3,
            )
        unbatched = x.ndim == d + 1
        batch = ops.unsqueeze(x, 0) if unbatched else x
        out = instance_norm(
            batch, self.running_mean, self.running_var, self.weight, self.bias,
            self.training or not self.track_running_stats, 0.0 if self.momentum is None else self.momentum, self.eps,
        )
        return ops.squeeze(out, 0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) input (see ``_InstanceNorm``)."""

    _dims = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) input (see ``_InstanceNorm``)."""

    _dims = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or unbatched (C, D, H, W) input (see ``_InstanceNorm``)."""

    _dims = 3


# ------------------------------------------------------------------ local response norm
def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:  # noqa: A002
    """``x / (k + alpha / size * sum of x^2 over the size neighbouring channels) ** beta`` (PyTorch's
    formula: the window of channel c runs from c - size // 2 to c + (size - 1) // 2, zeros beyond the
    edges). Input (N, C, *), at least 3 axes."""
    op = "local_response_norm"
    x = _float_input(input, op)
    size = whole(size, op, "size", 1)
    alpha = real(alpha, op, "alpha")
    beta = real(beta, op, "beta")
    k = real(k, op, "k")
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) with at least 3 axes, got {x.shape}")
    if x.size == 0:
        return x
    c = x.shape[1]
    widths = [(0, 0)] * x.ndim
    widths[1] = (size // 2, (size - 1) // 2)
    squares = ops.pad(x * x, widths)
    total = None
    for i in range(size):  # the window sum as `size` shifted slices (exact, as PyTorch's average pooling)
        part = ops.getitem(squares, (slice(None), slice(i, i + c)))
        total = part if total is None else total + part
    return x / (total * (alpha / size) + k) ** beta


class LocalResponseNorm(Module):
    """PyTorch's ``nn.LocalResponseNorm``: ``F.local_response_norm`` across channels."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = _size(size, "size", "LocalResponseNorm", 1)
        self.alpha = real(alpha, "LocalResponseNorm", "alpha")
        self.beta = real(beta, "LocalResponseNorm", "beta")
        self.k = real(k, "LocalResponseNorm", "k")

    def forward(self, x: Any) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
