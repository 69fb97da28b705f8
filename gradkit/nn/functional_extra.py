"""More of ``torch.nn.functional``: ``gumbel_softmax``, ``pdist``, the in-place activations (``relu_``,
``elu_``, ...) and the deprecated ``upsample`` aliases of ``interpolate``.

``gumbel_softmax`` draws its noise from gradkit's generator (seeded by ``gk.manual_seed``); ``pdist`` gathers the
pairs i < j and takes their p-norms with zero-safe compositions (PyTorch's zero gradient at a zero distance or
component). The in-place forms follow gradkit's in-place rule (``Tensor.add_``'s): refused, with
``AutogradError``, on a tensor that requires grad while grad mode is on; otherwise the result is written into the
tensor's memory (its version counter bumped) and the tensor itself returned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.autograd import grad_mode
from gradkit.autograd.function import record, tied_slope
from gradkit.errors import ArgumentTypeError, DTypeError, ShapeError
from gradkit.nn._gather import take
from gradkit.nn.activation import _float_input, celu, rrelu, selu, threshold
from gradkit.nn.functional import _warn_at_caller, elu, hardtanh, interpolate, leaky_relu, relu
from gradkit.ops._util import as_tensor, normalize_axis
from gradkit.tensor import Tensor

__all__ = [
    "celu_",
    "elu_",
    "gumbel_softmax",
    "hardtanh_",
    "leaky_relu_",
    "pdist",
    "relu_",
    "rrelu_",
    "selu_",
    "threshold_",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]

_make = Tensor._make


# ------------------------------------------------------------------ gumbel_softmax
def gumbel_softmax(logits: Any, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """PyTorch's ``F.gumbel_softmax``: ``softmax((logits + g) / tau)`` along ``dim`` with Gumbel(0, 1) noise
    ``g = -log(E)``, ``E`` exponential (gradkit's generator on the logits' device). ``hard``: the one-hot vector of
    each sample's maximum in the forward pass, with the soft sample's gradient (straight through:
    ``y_hard - y_soft.detach() + y_soft``). ``eps`` is deprecated and unused (a warning unless it is 1e-10, as
    PyTorch); ``tau`` must be > 0.
    """
    op = "gumbel_softmax"
    x = logits if isinstance(logits, Tensor) else as_tensor(logits, op)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: logits must be a float tensor, got dtype {x.dtype}; convert with .astype()")
    tau = real(tau, op, "tau", low=0.0, low_open=True)
    hard = flag(hard, op, "hard")
    if real(eps, op, "eps") != 1e-10:
        _warn_at_caller(f"{op}: the eps parameter is deprecated and has no effect (as in PyTorch)")
    if x.ndim == 0:
        raise ShapeError(f"{op}: logits must have at least one dimension, got a 0-d tensor")
    axis = normalize_axis(whole(dim, op, "dim"), x.ndim, op)
    backend = x._backend
    xp = backend.xp
    with np.errstate(divide="ignore"):
        gumbels = -xp.log(-xp.log(backend.uniform(x.shape, x.dtype)))  # U in [0, 1): E = -log U in (0, inf]
    y_soft = ops.softmax((x + gumbels.astype(x.dtype, copy=False)) / tau, axis)
    if not hard:
        return y_soft
    index = xp.expand_dims(xp.argmax(y_soft._data, axis=axis), axis)
    y_hard = xp.zeros(x.shape, dtype=x.dtype)
    xp.put_along_axis(y_hard, index, 1, axis=axis)
    return _make(y_hard - y_soft._data, backend) + y_soft


# ------------------------------------------------------------------ pdist
def pdist(input: Any, p: float = 2) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pdist``: the p-norm distances ``||x_i - x_j||_p`` of the rows of ``input`` (N, M) for every
    pair i < j, in row-major order of the upper triangle: (N (N - 1) / 2,).

    ``p`` >= 0 (0 counts the differing components, with a zero gradient; inf is the largest component, whose
    gradient goes to every component that attains it, as PyTorch's). A zero distance (or, for p < 1, a zero
    component) gets a zero gradient, as PyTorch's; gradients of every order.
    """
    op = "pdist"
    x = _float_input(input, op)
    if x.ndim != 2:
        raise ShapeError(f"{op}: input must be 2-D (N, M), got shape {x.shape}")
    p = real(p, op, "p", low=0.0)
    backend = x._backend
    xp = backend.xp
    i, j = np.triu_indices(x.shape[0], 1)
    diff = take(x, (backend.asarray(i.astype(np.int64)),)) - take(x, (backend.asarray(j.astype(np.int64)),))
    if p == 0:
        data = (diff._data != 0).sum(axis=-1).astype(x.dtype)
        return record("pdist", data, backend, (diff,), (_zero_vjp,), (diff.shape,))
    if p == math.inf:
        a = xp.abs(diff._data)
        dist = a.max(axis=-1) if a.shape[-1] else xp.zeros(a.shape[:-1], dtype=x.dtype)
        slope = xp.where(a == dist[:, None], xp.sign(diff._data), 0).astype(x.dtype)
        return record("pdist", dist, backend, (diff,), (_inf_vjp,), (slope, (diff._grad_fn or diff,)))
    if p == 1:
        return ops.sum(ops.abs(diff), -1)
    if p == 2:
        total = ops.sum(diff * diff, -1)
        return _zero_safe_root(total, ops.sqrt)
    a = ops.abs(diff)
    nonzero = a._data > 0
    terms = ops.where(nonzero, ops.where(nonzero, a, 1.0) ** p, 0.0)
    return _zero_safe_root(ops.sum(terms, -1), lambda s: s ** (1.0 / p))


def _zero_safe_root(total: Tensor, root: Any) -> Tensor:
    """``root(total)`` with 0 (and a zero gradient, not 0 * inf) where ``total`` is 0."""
    positive = total._data > 0
    return ops.where(positive, root(ops.where(positive, total, 1.0)), 0.0)


def _zero_vjp(g: Tensor, shape: tuple) -> Tensor:
    return _make(g._backend.xp.zeros(shape, dtype=g.dtype), g._backend)


def _inf_vjp(g: Tensor, slope: Any, anchor: tuple) -> Tensor:
    """``g * sign(diff)`` at the components that attain the maximum (slope piecewise constant in diff)."""
    if not grad_mode.state.enabled:
        return _make(g._data[:, None] * slope, g._backend)
    return ops.unsqueeze(g, 1) * tied_slope(g, slope, anchor)


# ------------------------------------------------------------------ in-place activations
def _in_place(input: Any, op: str, fn: Any, *args: Any, keeps_old: bool = True) -> Tensor:  # noqa: A002
    """``fn(input, *args)`` written into ``input``'s memory; ``input`` returned (``add_``'s rules: recorded when
    ``input`` is in the graph; ``keeps_old=False`` where ``fn``'s backward reads none of the input's values, as
    relu's, which saves its output, or dropout's, which saves its mask: then they are not copied)."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(f"{op}: input must be a Tensor (it is changed in place), got {type(input).__name__}")
    return input._assign_(op, lambda t: fn(t, *args), keeps_old=keeps_old)


def relu_(input: Any) -> Tensor:  # noqa: A002
    """``F.relu`` in place (PyTorch's ``F.relu_``); returns ``input``."""
    return _in_place(input, "relu_", relu, keeps_old=False)


def elu_(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``F.elu`` in place; returns ``input``."""
    return _in_place(input, "elu_", elu, alpha)


def celu_(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``F.celu`` in place; returns ``input``."""
    return _in_place(input, "celu_", celu, alpha)


def selu_(input: Any) -> Tensor:  # noqa: A002
    """``F.selu`` in place; returns ``input``."""
    return _in_place(input, "selu_", selu)


def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """``F.leaky_relu`` in place; returns ``input``."""
    return _in_place(input, "leaky_relu_", leaky_relu, negative_slope, keeps_old=False)


def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """``F.hardtanh`` in place; returns ``input``."""
    return _in_place(input, "hardtanh_", hardtanh, min_val, max_val, keeps_old=False)


def rrelu_(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:  # noqa: A002
    """``F.rrelu`` in place (random slopes from gradkit's generator when ``training``); returns ``input``."""
    return _in_place(input, "rrelu_", rrelu, lower, upper, training, keeps_old=False)


def threshold_(input: Any, threshold: float, value: float) -> Tensor:  # noqa: A002
    """``F.threshold`` in place (integer tensors too); returns ``input``."""
    return _in_place(input, "threshold_", _threshold, threshold, value, keeps_old=False)


_threshold = threshold


# ------------------------------------------------------------------ deprecated upsampling aliases
def upsample(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",  # noqa: A002
             align_corners: Any = None) -> Tensor:
    """PyTorch's deprecated ``F.upsample``: ``F.interpolate(input, size, scale_factor, mode, align_corners)``,
    with PyTorch's deprecation warning."""
    _warn_at_caller("F.upsample is deprecated (as in PyTorch); use F.interpolate instead")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Any, size: Any = None, scale_factor: Any = None) -> Tensor:  # noqa: A002
    """PyTorch's deprecated ``F.upsample_nearest``: ``F.interpolate(..., mode="nearest")``, with a warning."""
    _warn_at_caller("F.upsample_nearest is deprecated (as in PyTorch); use F.interpolate instead")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Any, size: Any = None, scale_factor: Any = None) -> Tensor:  # noqa: A002
    """PyTorch's deprecated ``F.upsample_bilinear``: ``F.interpolate(..., mode="bilinear", align_corners=True)``,
    with a warning."""
    _warn_at_caller("F.upsample_bilinear is deprecated (as in PyTorch); use F.interpolate instead")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
