"""Functional forms of the layers, activations and losses (``gk.nn.functional as F``).

The ops on a training step's hot path are one recorded node each with a
closed-form VJP: ``linear`` (one matmul plus an in-place bias add; the VJP
is ``dx = g @ W``, ``dW = g.T @ x``, ``db = g.sum(0)``; leading axes folded
into one, so every product is 2-D), ``relu``, ``dropout``, ``layer_norm``
and ``cross_entropy`` (softmax and its ``(softmax - one_hot) / N`` gradient
in one pass, see ``gradkit.kernels``). Their rules work on raw arrays when the
backward pass is not recorded, and fall back to Tensor operations under
``create_graph=True`` so that higher-order gradients stay correct. The rest
are compositions of differentiable core ops.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any

import numpy as np

from gradkit import kernels, ops
from gradkit._args import flag, real, text, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.function import anchor_of, record, tied_slope
from gradkit.creation import _check_size
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.nn.activation import (
    _float_input,
    _scale_vjp,
    _slope_vjp,
    celu,
    hardshrink,
    rrelu,
    selu,
    softshrink,
    tanhshrink,
    threshold,
)
from gradkit.nn.bilinear import bilinear
from gradkit.nn.dropout import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from gradkit.nn.normalization import (
    _blas_rows,
    _column_sum,
    _half_beside_float32,
    _normalized,
    _row_dot,
    _row_mean,
    _stashed,
    _up,
    _update_running,
    group_norm,
    instance_norm,
    local_response_norm,
)
from gradkit.nn.resample import (
    _max_unpoolnd,
    channel_shuffle,
    interpolate,
    max_unpool1d,
    max_unpool2d,
    pixel_shuffle,
    pixel_unshuffle,
)
from gradkit.ops._util import as_tensor, host_read_allowed, int64_indices, normalize_axis, private_copy, shape_arg
from gradkit.ops.conv import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_tbc,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d,
    max_pool1d_with_indices,
    max_pool2d,
    max_pool2d_with_indices,
    max_pool3d,
    max_pool3d_with_indices,
    unfold,
)
from gradkit.ops.elementwise import _sigmoid_forward
from gradkit.ops.nn_ops import cast_first
from gradkit.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "alpha_dropout",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_tbc",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "elu",
    "embedding",
    "feature_alpha_dropout",
    "fold",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "group_norm",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hinge_embedding_loss",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "linear_relu",
    "local_response_norm",
    "log_softmax",
    "logsigmoid",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "mish",
    "mse_loss",
    "multi_head_attention_forward",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "rms_norm",
    "rrelu",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "threshold",
    "triplet_margin_loss",
    "unfold",
    # gradkit/nn/sampling.py, loss_extra.py, embedding_bag.py and functional_extra.py (imported at the end)
    "affine_grid",
    "celu_",
    "ctc_loss",
    "elu_",
    "embedding_bag",
    "grid_sample",
    "gumbel_softmax",
    "hardtanh_",
    "leaky_relu_",
    "multilabel_margin_loss",
    "pdist",
    "relu_",
    "rrelu_",
    "selu_",
    "threshold_",
    "triplet_margin_with_distance_loss",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]

_make = Tensor._make
_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: Any, op: str, like: Tensor | None = None) -> Tensor:
    return as_tensor(x, op, like._backend if like is not None else None)


def _check_reduction(reduction: str, op: str, allowed: tuple = _REDUCTIONS) -> None:
    if not isinstance(reduction, str) or reduction not in allowed:
        hint = ""
        if isinstance(reduction, Tensor) or hasattr(reduction, "shape"):  # PyTorch's third argument is weight
            hint = "; in gradkit the third argument is reduction: pass class or element weights as weight="
        names = ", ".join(repr(r) for r in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise InvalidArgumentError(
            f"{op}: reduction must be {names}, got {type(reduction).__name__} {reduction!r:.60}{hint}"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ------------------------------------------------------------------ max unpooling (3-D)
def max_unpool3d(input: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
                 output_size: Any = None) -> Tensor:
    """PyTorch's ``F.max_unpool3d``: (N, C, D, H, W) or (C, D, H, W) input written at ``indices`` (flat
    ``(d * H_out + h) * W_out + w`` per plane, as ``max_pool3d(..., return_indices=True)`` gives them) into zeros
    of PyTorch's size (see ``max_unpool1d``); the gradient of each input element is the output gradient at its
    index."""
    return _max_unpoolnd(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")


# ------------------------------------------------------------------ linear
def _linear_forward(input: Any, weight: Tensor, bias: Tensor | None, op: str) -> tuple[Tensor, Any]:
    """Check the operands of ``linear``; return the input as a Tensor and ``input @ weight.T`` (a new array)."""
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise ArgumentTypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__} {bias!r:.40}")
    backend = weight._backend
    x = input if isinstance(input, Tensor) else as_tensor(input, op, backend)
    xd, wd = x._data, weight._data
    if x._backend is not backend or (bias is not None and bias._backend is not backend):
        raise DeviceError(
            f"{op}: input on {x.device}, weight on {weight.device}"
            + (f", bias on {bias.device}" if bias is not None else "")
            + "; move them to one device"
        )
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"{op}: input of shape {xd.shape} does not fit weight of shape {wd.shape} "
            "(expected input (..., in_features) and weight (out_features, in_features))"
        )
    if xd.dtype != wd.dtype or (bias is not None and bias._data.dtype != wd.dtype):
        # linear_relu is what a Sequential's Linear+ReLU pair runs as: name the layer the user wrote
        where = "Linear (fused with the ReLU after it, F.linear_relu)" if op == "linear_relu" else "linear (nn.Linear)"
        cast = {"float64": "model.double()", "float32": "model.float()", "float16": "model.half()"}
        fix = f"convert the input to the layer's dtype: gk.tensor(X, dtype=gk.{wd.dtype}) or x.astype(gk.{wd.dtype})"
        if xd.dtype == wd.dtype:
            fix = f"convert the bias: bias.astype(gk.{wd.dtype})"
        elif str(xd.dtype) in cast:
            fix += f", or the model to the input's: {cast[str(xd.dtype)]}"
        raise DTypeError(
            f"{where}: input ({xd.dtype}), weight ({wd.dtype})"
            + (f" and bias ({bias._data.dtype})" if bias is not None else "")
            + f" must have the same dtype; {fix}"
        )
    if bias is not None and bias._data.shape != (wd.shape[0],):
        raise ShapeError(f"{op}: bias of shape {bias._data.shape} does not fit weight of shape {wd.shape}")
    if xd.ndim > 2:  # one 2-D product: NumPy runs a 3-D matmul as one BLAS call per matrix
        lead = xd.shape[:-1]
        y = backend.matmul(xd.reshape(math.prod(lead), xd.shape[-1]), wd.T)
        return x, y.reshape(*lead, wd.shape[0])
    if type(xd) is np.ndarray:  # NumPy's matmul without the backend method's call
        return x, np.matmul(xd, wd.T)
    return x, backend.matmul(xd, wd.T)  # the backend's matmul: capture-safe on CUDA (gk.cuda.capture)


def linear(input: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``input @ weight.T + bias``: one node. ``weight`` is (out, in), ``input`` (..., in).

    One matmul and an in-place bias add; the VJP is ``dx = g @ W``,
    ``dW = g.T @ x``, ``db = g.sum(0)`` (leading axes of a batched input are
    folded into the batch).
    """
    if _autocast.active:  # gk.autocast: the operands in its dtype (one module read when it is off)
        input, weight, bias = _autocast.cast("linear", input, weight, bias)  # noqa: A001
    x, y = _linear_forward(input, weight, bias, "linear")
    if bias is not None:
        kernels.bias_forward(y, bias._data)
    return record("linear", y, weight._backend, (x, weight, bias), _LINEAR_RULES, (x, weight), info=bias)


def linear_relu(input: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``relu(linear(input, weight, bias))`` as one node (a gradkit extra; ``Sequential`` uses it).

    The bias add and the relu run in place on the matmul's result
    (``gradkit.kernels.bias_relu_forward``); the backward pass masks the
    gradient once (``kernels.relu_backward``) and continues as ``linear``.
    """
    if _autocast.active:
        input, weight, bias = _autocast.cast("linear", input, weight, bias)  # noqa: A001
    x, y = _linear_forward(input, weight, bias, "linear_relu")
    kernels.bias_relu_forward(y, None if bias is None else bias._data)
    return record(
        "linear_relu", y, weight._backend, (x, weight, bias), _LINEAR_RELU_RULES, (x, weight, [None]),
        save_output=True, info=bias,  # info: the bias (a constant to gk.trace when it needs no gradient)
    )


def _linear_dx(g: Tensor, x: Tensor, w: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        gd = g._data
        if gd.ndim > 2:  # leading axes folded: one 2-D product
            lead = gd.shape[:-1]
            dxd = g._backend.matmul(gd.reshape(math.prod(lead), gd.shape[-1]), w._data).reshape(x.shape)
        elif type(gd) is np.ndarray:
            dxd = np.matmul(gd, w._data)
        else:
            dxd = g._backend.matmul(gd, w._data)
        dx = _make(dxd, g._backend)
        dx._owned = True  # a new array that only this gradient holds: a relu before may mask it in place
        return dx
    if g.ndim > 2:
        return ops.reshape(ops.matmul(ops.reshape(g, (math.prod(g.shape[:-1]), g.shape[-1])), w), x.shape)
    return ops.matmul(g, w)


def _linear_dw(g: Tensor, x: Tensor, w: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        gd, xd = g._data, x._data
        if gd.ndim != 2:
            rows = math.prod(gd.shape[:-1])  # not -1: ambiguous when in_features or out_features is 0
            gd = gd.reshape(rows, gd.shape[-1])
            xd = xd.reshape(rows, xd.shape[-1])
        if type(gd) is np.ndarray:
            return _make(np.matmul(gd.T, xd), g._backend)
        return _make(g._backend.matmul(gd.T, xd), g._backend)
    rows = math.prod(g.shape[:-1])
    g2 = ops.reshape(g, (rows, g.shape[-1]))
    x2 = ops.reshape(x, (rows, x.shape[-1]))
    return ops.matmul(ops.transpose(g2), x2)


def _linear_db(g: Tensor, x: Tensor, w: Tensor) -> Tensor:
    gd = g._data
    if not grad_mode.state.enabled:
        if gd.ndim > 2:
            gd = gd.reshape(math.prod(gd.shape[:-1]), gd.shape[-1])
        if gd.ndim == 2:
            if type(gd) is np.ndarray:
                if gd.dtype.itemsize == 2:  # float16 (autocast): summed in float32, as PyTorch; NumPy's stalls
                    return _make(kernels.column_sum(gd), g._backend)
                return _make(np.add.reduce(gd, axis=0), g._backend)  # skips ndarray.sum's Python wrapper
            return _make(kernels.column_sum(gd), g._backend)  # a small batch: one light kernel on CuPy
        return _make(gd, g._backend)  # a 1-D input's
    axes = tuple(range(g.ndim - 1))
    return ops.sum(g, axes) if axes else g


def _masked(g: Tensor, cache: list, y: Tensor) -> Tensor:
    """The gradient before the relu, computed once per backward and shared by the three rules.

    ``cache[0]`` is None or (incoming gradient, its version, recording?, masked gradient): the version
    matters when a caller passes the same cotangent again after changing it in place (gk.vjp). The
    entry is one tuple, read once and replaced whole, so backward passes on several threads through
    this node each match only their own incoming gradient.
    """
    recording = grad_mode.state.enabled
    if recording:
        # Not cached: the slope is tied to this node (y's grad_fn), so an entry in ``cache`` (this node's saved
        # value) would close a reference cycle (node -> cache -> masked -> slope -> node) that keeps the node's
        # saved arrays alive after the pass, until the garbage collector runs. Each rule masks on its own.
        return g * tied_slope(g, y._data != 0, anchor_of(y))
    entry = cache[0]
    if entry is None or entry[0] is not g or entry[1] != g._version[0] or entry[2] is not recording:
        masked = _relu_backward(g, y)
        cache[0] = (g, g._version[0], recording, masked)
        return masked
    return entry[3]


def _linear_relu_dx(g: Tensor, x: Tensor, w: Tensor, cache: list, y: Tensor) -> Tensor:
    return _linear_dx(_masked(g, cache, y), x, w)


def _linear_relu_dw(g: Tensor, x: Tensor, w: Tensor, cache: list, y: Tensor) -> Tensor:
    return _linear_dw(_masked(g, cache, y), x, w)


def _linear_relu_db(g: Tensor, x: Tensor, w: Tensor, cache: list, y: Tensor) -> Tensor:
    return _linear_db(_masked(g, cache, y), x, w)


_LINEAR_RULES = (_linear_dx, _linear_dw, _linear_db)
_LINEAR_RELU_RULES = (_linear_relu_dx, _linear_relu_dw, _linear_relu_db)


# ------------------------------------------------------------------ activations
def relu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0): one node; the gradient at 0 is 0."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "relu", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "relu_", relu, keeps_old=False)
    x = _tensor(input, "relu")
    y = x._backend.xp.maximum(x._data, 0)
    return record("relu", y, x._backend, (x,), (_relu_vjp,), save_output=True)


def _relu_vjp(g: Tensor, y: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        return _relu_backward(g, y)
    return g * tied_slope(g, y._data != 0, anchor_of(y))


def _relu_backward(g: Tensor, y: Tensor) -> Tensor:
    """``g * (y != 0)`` outside a recorded backward: in place when the engine says ``g`` is ours alone."""
    gd = g._data
    if g._owned and type(gd) is np.ndarray:  # CuPy keeps the fused kernel's new array
        np.multiply(gd, y._data != 0, out=gd)  # kernels.relu_backward(gd, y._data, out=gd), without its two calls
        g._owned = False  # spent: whatever holds it from now on sees the masked values
        return g
    return _make(kernels.relu_backward(gd, y._data), g._backend)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > 0, else negative_slope * x: one node."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "leaky_relu", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "leaky_relu_", leaky_relu, negative_slope, keeps_old=False)
    x = _tensor(input, "leaky_relu")
    negative_slope = real(negative_slope, "leaky_relu", "negative_slope")
    xd = x._data
    xp = x._backend.xp
    factor = xp.where(xd > 0, xp.asarray(1, dtype=xd.dtype), xp.asarray(negative_slope, dtype=xd.dtype))
    return record("leaky_relu", xd * factor, x._backend, (x,), (_slope_vjp,), (factor, anchor_of(x)))


def tanh(input: Any) -> Tensor:  # noqa: A002
    """Hyperbolic tangent."""
    return ops.tanh(_tensor(input, "tanh"))


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x)), without overflow."""
    return ops.sigmoid(_tensor(input, "sigmoid"))


def _softmax_dim(dim: Any, op: str) -> Any:
    if dim is None:  # gk.softmax's axis=None is SciPy's "all elements"; PyTorch's implicit dim is deprecated
        raise ArgumentTypeError(f"F.{op}: dim must be an int, got None (PyTorch's implicit dim is not supported)")
    return dim


def softmax(input: Any, dim: int = -1, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along ``dim``: one node, stable for large logits.

    ``dtype``: PyTorch's; the input is cast to this float dtype first (a recorded cast), as in
    ``F.softmax(scores, dim=-1, dtype=torch.float32)``. ``_stacklevel`` is PyTorch's positional slot before
    it, taken and ignored (gradkit gives no implicit-dim warning)."""
    return ops.softmax(_tensor(input, "softmax"), _softmax_dim(dim, "softmax"), dtype)


def log_softmax(input: Any, dim: int = -1, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """x - logsumexp(x) along ``dim``: one node, stable for large logits (+-1e4 stays finite). ``dtype`` and
    ``_stacklevel``: as :func:`softmax`'s."""
    return ops.log_softmax(_tensor(input, "log_softmax"), _softmax_dim(dim, "log_softmax"), dtype)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


def _erf_array(xp: Any, x: Any) -> Any:
    """erf on a raw float array: SciPy's (or CuPy's) when importable, else a series/continued fraction.

    The fallback is accurate to about 1e-15: the series
    ``erf(a) = 2/sqrt(pi) exp(-a^2) sum (2a^2)^n a / (2n+1)!!`` for |a| < 2.5 and
    the continued fraction of erfc beyond.
    """
    erf = _ERF.get(xp.__name__)
    if erf is None:
        try:
            if xp is np:
                from scipy.special import erf
            else:
                from cupyx.scipy.special import erf
        except ImportError:
            erf = lambda a: _erf_fallback(xp, a)  # noqa: E731
        _ERF[xp.__name__] = erf  # looked up once: a failed import is not cached by Python
    return erf(x)


_ERF: dict[str, Any] = {}


def _erf_fallback(xp: Any, x: Any) -> Any:
    dt = x.dtype
    a = xp.abs(x)
    small = a < 2.5
    s = xp.where(small, a, xp.asarray(0, dtype=dt))
    term = s.copy()
    total = s.copy()
    two = 2 * s * s
    for n in range(1, 60):
        term = term * two / (2 * n + 1)
        total += term
    r_small = total * xp.exp(-s * s) * (2 * _INV_SQRT_PI)
    b = xp.where(small, xp.asarray(2.5, dtype=dt), a)
    f = b.copy()
    for k in range(60, 0, -1):
        f = b + (k / 2) / f
    r_big = 1 - xp.exp(-b * b) * _INV_SQRT_PI / f
    return xp.copysign(xp.where(small, r_small, r_big), x).astype(dt, copy=False)


def _erf(x: Tensor) -> Tensor:
    """erf as a differentiable op (d erf(x)/dx = 2/sqrt(pi) exp(-x^2))."""
    data = _erf_array(x._backend.xp, x._data)
    if data.dtype != x._data.dtype:  # SciPy's erf of float16 is float64 (F.gelu of float16 was float64)
        data = data.astype(x._data.dtype)
    return record("erf", data, x._backend, (x,), (_erf_vjp,), (x,))


def _erf_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * (ops.exp(-(x * x)) * (2 * _INV_SQRT_PI))


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """GELU: ``x * Phi(x)`` exactly (``approximate="none"``, with erf) or PyTorch's tanh form.

    ``approximate="tanh"``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    x = _float_input(input, "gelu")
    text(approximate, "gelu", "approximate")
    if approximate == "none":
        return x * (_erf(x * _INV_SQRT_2) + 1) * 0.5
    if approximate == "tanh":
        xp = x._backend.xp
        xd = x._data
        t = xp.tanh((xd + xd * xd * xd * 0.044715) * _SQRT_2_OVER_PI)
        return record("gelu", xd * (t + 1) * 0.5, x._backend, (x,), (_gelu_tanh_vjp,), (x,))
    raise InvalidArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_tanh_vjp(g: Tensor, x: Tensor) -> Tensor:
    """``g (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))``, ``t`` the forward's tanh, recomputed
    (one node forward, one backward, as PyTorch's kernel; a graph of ops when the gradient is differentiated).
    Written ``0.5 (1 + t) (1 + x (1 - t) sqrt(2/pi) (...))``: no cancellation where ``t`` nears -1 (float32 as
    accurate as the chain rule through the ops it replaces)."""
    if not grad_mode.state.enabled:
        xp = x._backend.xp
        xd = x._data
        x2 = xd * xd
        t = xp.tanh((xd + x2 * xd * 0.044715) * _SQRT_2_OVER_PI)
        slope = (t + 1) * 0.5 * (xd * (1 - t) * ((x2 * (3 * 0.044715) + 1) * _SQRT_2_OVER_PI) + 1)
        return _make(g._data * slope, g._backend)
    t = ops.tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI)
    return g * ((t + 1) * 0.5 * (x * (1 - t) * ((x * x * (3 * 0.044715) + 1) * _SQRT_2_OVER_PI) + 1))


def silu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """SiLU (swish): ``x * sigmoid(x)``, one node, without overflow."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "silu", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "silu_", silu)
    x = _float_input(input, "silu")
    xd = x._data
    return record("silu", xd * _sigmoid_forward(x._backend.xp, xd), x._backend, (x,), (_silu_vjp,), (x,))


def _silu_vjp(g: Tensor, x: Tensor) -> Tensor:
    """``g * s (1 + x (1 - s))`` with ``s = sigmoid(x)``, recomputed rather than saved."""
    if not grad_mode.state.enabled:
        xd = x._data
        s = _sigmoid_forward(x._backend.xp, xd)
        return _make(g._data * (s * (1 + xd * (1 - s))), g._backend)
    s = ops.sigmoid(x)
    return g * (s * (x * (1 - s) + 1))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (PyTorch's), one node.

    Computed as ``(log1p(exp(-|beta x|)) + max(beta x, 0)) / beta``, which never
    overflows; the slope is ``sigmoid(beta x)`` (1 above the threshold).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (input,) = _autocast.to_float32("softplus", input)  # noqa: A001
    x = _float_input(input, "softplus")
    beta = real(beta, "softplus", "beta")
    if beta == 0 or not math.isfinite(beta):
        raise InvalidArgumentError(f"softplus: beta must be a finite non-zero number, got {beta!r}")
    threshold = real(threshold, "softplus", "threshold")
    xp = x._backend.xp
    xd = x._data
    bx = xd * beta
    above = bx > threshold
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    return record("softplus", xp.where(above, xd, soft), x._backend, (x,), (_softplus_vjp,), (x, beta, above))


def _softplus_vjp(g: Tensor, x: Tensor, beta: float, above: Any) -> Tensor:
    if not grad_mode.state.enabled:
        xd = x._data
        xp = x._backend.xp
        slope = xp.where(above, xp.asarray(1, dtype=xd.dtype), _sigmoid_forward(xp, xd * beta))
        return _make(g._data * slope, g._backend)
    return g * ops.where(above, 1.0, ops.sigmoid(x * beta))


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """ELU: ``x`` where x > 0, else ``alpha (exp(x) - 1)``, one node (``expm1`` of ``min(x, 0)``: no overflow).

    The slope is 1 where x > 0 and ``alpha exp(x)`` elsewhere (``alpha`` at 0, as PyTorch).
    """
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "elu", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "elu_", elu, alpha)
    x = _float_input(input, "elu")
    alpha = real(alpha, "elu", "alpha")
    xp = x._backend.xp
    xd = x._data
    pos = xd > 0
    data = xp.where(pos, xd, xp.expm1(xp.minimum(xd, 0)) * alpha)
    return record("elu", data, x._backend, (x,), (_elu_vjp,), (x, alpha, pos))


def _elu_vjp(g: Tensor, x: Tensor, alpha: float, pos: Any) -> Tensor:
    if not grad_mode.state.enabled:
        xd = x._data
        xp = x._backend.xp
        slope = xp.where(pos, xp.asarray(1, dtype=xd.dtype), xp.exp(xp.minimum(xd, 0)) * alpha)
        return _make(g._data * slope, g._backend)
    return g * ops.where(pos, 1.0, ops.exp(ops.where(pos, 0.0, x)) * alpha)


def mish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """Mish: ``x * tanh(softplus(x))``, with the overflow-free softplus."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "mish", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "mish_", mish)
    x = _float_input(input, "mish")
    return x * ops.tanh(_softplus(x))


def logsigmoid(input: Any) -> Tensor:  # noqa: A002
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, one node, finite for any finite x.

    The slope is ``sigmoid(-x)``, recomputed in the backward pass.
    """
    x = _float_input(input, "logsigmoid")
    xp = x._backend.xp
    xd = x._data
    data = xp.minimum(xd, 0) - xp.log1p(xp.exp(-xp.abs(xd)))
    return record("logsigmoid", data, x._backend, (x,), (_logsigmoid_vjp,), (x,))


def _logsigmoid_vjp(g: Tensor, x: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        return _make(g._data * _sigmoid_forward(x._backend.xp, -x._data), g._backend)
    return g * ops.sigmoid(-x)


def _clipped(x: Tensor, lo: float, hi: float, name: str) -> Tensor:
    """``clip(x, lo, hi)`` as one node whose slope is 1 strictly inside (lo, hi) and 0 elsewhere (PyTorch's
    hardtanh: 0 at the kinks too)."""
    xd = x._data
    data = x._backend.xp.clip(xd, lo, hi).astype(xd.dtype, copy=False)
    inside = ((xd > lo) & (xd < hi)).astype(xd.dtype)
    return record(name, data, x._backend, (x,), (_slope_vjp,), (inside, anchor_of(x)))


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` limited to [min_val, max_val]: one node; the slope is 1 strictly between them, 0 at and beyond them."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "hardtanh", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "hardtanh_", hardtanh, min_val, max_val, keeps_old=False)
    x = _float_input(input, "hardtanh")
    lo = real(min_val, "hardtanh", "min_val")
    hi = real(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise InvalidArgumentError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return _clipped(x, lo, hi, "hardtanh")


def relu6(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``min(max(x, 0), 6)`` (``hardtanh(x, 0, 6)``): the slope is 0 at 0 and at 6, as PyTorch's."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "relu6", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "relu6_", relu6, keeps_old=False)
    return _clipped(_float_input(input, "relu6"), 0.0, 6.0, "relu6")


def softsign(input: Any) -> Tensor:  # noqa: A002
    """``x / (1 + |x|)`` (PyTorch's formula, from differentiable ops)."""
    x = _float_input(input, "softsign")
    return x / (ops.abs(x) + 1)


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``min(max(x + 3, 0), 6) / 6``: one node; the slope is 1/6 strictly inside (-3, 3), else 0 (PyTorch's)."""
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "hardsigmoid", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "hardsigmoid_", hardsigmoid, keeps_old=False)
    x = _float_input(input, "hardsigmoid")
    xp = x._backend.xp
    xd = x._data
    data = (xp.clip(xd + 3, 0, 6) / 6).astype(xd.dtype, copy=False)
    slope = (((xd > -3) & (xd < 3)).astype(xd.dtype) / 6).astype(xd.dtype, copy=False)
    return record("hardsigmoid", data, x._backend, (x,), (_slope_vjp,), (slope, anchor_of(x)))


def hardswish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * min(max(x + 3, 0), 6) / 6``: one node.

    The slope (PyTorch's) is 0 for ``x <= -3``, ``x / 3 + 1/2`` strictly inside (-3, 3) and 1 for
    ``x >= 3``; its derivative, 1/3, only strictly inside.
    """
    if inplace:  # PyTorch's in-place form: the result written into input, which is returned
        flag(inplace, "hardswish", "inplace")
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "hardswish_", hardswish)
    x = _float_input(input, "hardswish")
    xp = x._backend.xp
    xd = x._data
    wx = _wide(xd)  # float16's x * 6 overflows above 1e4: computed in float32, as PyTorch does
    data = (wx * xp.clip(wx + 3, 0, 6) / 6).astype(xd.dtype, copy=False)
    return record("hardswish", data, x._backend, (x,), (_hardswish_vjp,), (x,))


def _hardswish_vjp(g: Tensor, x: Tensor) -> Tensor:
    xp = x._backend.xp
    xd = x._data
    inside = (xd > -3) & (xd < 3)
    one = xp.asarray(1, dtype=xd.dtype)
    slope = xp.where(inside, xd / 3 + 0.5, xp.where(xd <= -3, xp.zeros_like(one), one)).astype(xd.dtype, copy=False)
    if not grad_mode.state.enabled:
        return _make(g._data * slope, g._backend)
    return g * ops.where(inside, x / 3 + 0.5, _make(slope, x._backend))


def glu(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    """Gated linear unit: ``a * sigmoid(b)``, where ``a`` and ``b`` are the halves of ``input`` along ``dim``."""
    x = _float_input(input, "glu")
    if x.ndim == 0:
        raise ShapeError("glu: a 0-d tensor has no dimension to halve")
    axis = normalize_axis(whole(dim, "glu", "dim"), x.ndim, "glu")
    if x.shape[axis] % 2:
        raise ShapeError(f"glu: dimension {dim} to halve must have an even size, got {x.shape[axis]} (shape {x.shape})")
    a, b = ops.chunk(x, 2, axis)
    return a * ops.sigmoid(b)


def softmin(input: Any, dim: int = -1, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """``softmax(-x)`` along ``dim`` (the last axis by default, as gradkit's ``softmax``). ``dtype`` and
    ``_stacklevel``: as :func:`softmax`'s (the input is cast before it is negated: an unsigned input is not
    wrapped around, as PyTorch's ``(-input).softmax(dim, dtype=dtype)`` wraps it)."""
    if dtype is not None:
        input = cast_first(_tensor(input, "softmin"), dtype, "softmin")  # noqa: A001
    elif _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (input,) = _autocast.to_float32("softmin", input)  # noqa: A001
    x = _float_input(input, "softmin")
    axis = normalize_axis(whole(dim, "softmin", "dim"), x.ndim, "softmin")
    return ops.softmax(-x, axis)


def prelu(input: Any, weight: Tensor) -> Tensor:  # noqa: A002
    """``x`` where x > 0, else ``weight * x``, with a learnt slope: one for every element (``weight`` 0-d or
    of size 1) or one per channel (dim 1 of the input, as PyTorch; a 1-d input has one channel).

    The input's slope at 0 is ``weight``, as PyTorch's.
    """
    if _autocast.active:  # gk.autocast: on PyTorch's lower-precision lists (both device types), as F.linear
        input, weight = _autocast.cast("prelu", input, weight)  # noqa: A001
    x = _float_input(input, "prelu")
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__} {weight!r:.40}")
    if weight._backend is not x._backend:
        raise DeviceError(f"prelu: input on {x.device}, weight on {weight.device}; move them to one device")
    if weight.dtype != x.dtype:
        raise DTypeError(
            f"prelu: input ({x.dtype}) and weight ({weight.dtype}) must have the same dtype; convert with .astype()"
        )
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.ndim > 1 or weight.size not in (1, channels):
        raise ShapeError(
            f"prelu: weight of shape {weight.shape} does not fit input of shape {x.shape} (expected one slope, "
            f"or one per channel: ({channels},))"
        )
    slope = ops.reshape(weight, () if weight.size == 1 else (channels,) + (1,) * (x.ndim - 2))
    return ops.where(x._data > 0, x, slope * x)


# ------------------------------------------------------------------ norms and distances
def _floor(eps: float, dtype: Any) -> float:
    """``eps``, or the dtype's smallest positive number where a positive ``eps`` would round to 0 in it.

    float16 has no 1e-8 or 1e-12: PyTorch's clamp there is a clamp at 0, which gives 0/0 = NaN for a
    zero vector; the smallest subnormal keeps the answer 0 and changes nothing else.
    """
    if eps > 0 and dtype.type(eps) == 0:
        return float(np.finfo(dtype).smallest_subnormal)
    return eps


def _norm_order(p: Any, op: str) -> float:
    p = real(p, op, "p")
    if not (p > 0 or p == -math.inf):
        raise InvalidArgumentError(
            f"{op}: p must be > 0, inf or -inf, got {p!r} (p=0, a count of non-zeros, is not provided)"
        )
    return p


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``input / max(||input||_p, eps)`` along ``dim`` (PyTorch's formula).

    As PyTorch's ``clamp_min``, the clamp passes no gradient to the norm where it bites (norm < eps).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (input,) = _autocast.to_float32("normalize", input)  # noqa: A001
    x = _float_input(input, "normalize")
    p = _norm_order(p, "normalize")
    eps = real(eps, "normalize", "eps", low=0.0)
    axis = normalize_axis(whole(dim, "normalize", "dim"), x.ndim, "normalize")
    n = ops.norm(x, p, axis, keepdims=True)
    return x / ops.clip(n, _floor(eps, x.dtype))


def _clamped_norm(x: Tensor, axis: int, eps: float) -> Tensor:
    """``max(||x||_2, eps)`` along ``axis`` (kept), with the gradient of the norm itself, clamped or not.

    PyTorch 2's ``cosine_similarity`` clamps the norms in place under ``no_grad``, so its gradient is the
    unclamped norm's; this node does the same.
    """
    return _clamp_min_straight(ops.norm(x, 2, axis, keepdims=True), eps)


def _clamp_min_straight(x: Tensor, eps: float) -> Tensor:
    """``max(x, eps)`` whose gradient is x's own, clamped or not (PyTorch clamps in place under ``no_grad``)."""
    xp = x._backend.xp
    data = xp.maximum(x._data, xp.asarray(_floor(eps, x.dtype), dtype=x.dtype))
    return record("clamp_min_straight_through", data, x._backend, (x,), (_identity_vjp,))


def _identity_vjp(g: Tensor) -> Tensor:
    return g


def _broadcast_pair(x1: Any, x2: Any, op: str) -> tuple[Tensor, Tensor, tuple]:
    """Two float tensors on one device and the shape they broadcast to (ShapeError naming ``op`` otherwise)."""
    a = x1 if isinstance(x1, Tensor) else None
    b = x2 if isinstance(x2, Tensor) else None
    like = a if a is not None else b
    a = _float_input(x1 if a is not None else _tensor(x1, op, like), op)
    b = _float_input(x2 if b is not None else _tensor(x2, op, like), op)
    if a._backend is not b._backend:
        raise DeviceError(f"{op}: x1 is on {a.device}, x2 on {b.device}; move them to one device")
    if a.dtype != b.dtype:
        raise DTypeError(f"{op}: x1 ({a.dtype}) and x2 ({b.dtype}) must have the same dtype; convert with .astype()")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: x1 of shape {a.shape} and x2 of shape {b.shape} do not broadcast together") from None
    return a, b, shape


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim`` (PyTorch 2's formula).

    The inputs broadcast first; each is divided by its own norm before the product, which keeps the
    result in [-1, 1]. As in PyTorch, the eps clamp does not stop the norms' gradient.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        x1, x2 = _autocast.to_float32("cosine_similarity", x1, x2)
    a, b, shape = _broadcast_pair(x1, x2, "cosine_similarity")
    eps = real(eps, "cosine_similarity", "eps", low=0.0)
    axis = normalize_axis(whole(dim, "cosine_similarity", "dim"), len(shape), "cosine_similarity")
    a, b = ops.broadcast_to(a, shape), ops.broadcast_to(b, shape)
    return ops.sum((a / _clamped_norm(a, axis, eps)) * (b / _clamped_norm(b, axis, eps)), axis)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last axis of the broadcast shape (PyTorch's formula)."""
    a, b, shape = _broadcast_pair(x1, x2, "pairwise_distance")
    p = _norm_order(p, "pairwise_distance")
    eps = real(eps, "pairwise_distance", "eps")
    keepdim = flag(keepdim, "pairwise_distance", "keepdim")
    return ops.norm(a - b + eps, p, -1, keepdims=keepdim)


# ------------------------------------------------------------------ dropout
def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), when ``training``.

    Outside training (or with p == 0) the input is returned unchanged. The
    mask comes from the backend's generator (seeded by ``gk.manual_seed``). ``inplace=True``: the result is
    written into ``input``, which is returned (unchanged outside training or with p == 0).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise InvalidArgumentError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = _tensor(input, "dropout")
    if type(training) is not bool:
        training = flag(training, "dropout", "training")
    if inplace and flag(inplace, "dropout", "inplace"):
        if not training or p == 0:
            return x
        from gradkit.nn.functional_extra import _in_place

        return _in_place(input, "dropout_", dropout, p, True, keeps_old=False)  # the backward reads the mask
    if not training or p == 0:
        return x
    xd = x._data
    if xd.dtype.kind != "f":
        raise DTypeError(f"dropout: input must be a float tensor, got dtype {xd.dtype}")
    mask = x._backend.xp.zeros_like(xd) if p == 1 else _dropout_mask(x._backend, xd, p)
    return record("dropout", xd * mask, x._backend, (x,), (_scale_vjp,), (mask,))


def _dropout_mask(backend: Any, xd: Any, p: float) -> Any:
    """0 with probability ``p``, else 1/(1-p), in ``xd``'s shape and dtype (0 < p < 1).

    NumPy's generator: 32 random bits per element, kept where they are >= round(p * 2^32). The bits are
    drawn as half as many 64-bit words: NumPy makes those about twice as fast as 32-bit integers or float32
    uniforms, and an integer compare needs no conversion to float. CuPy, or another generator put on the
    backend (``gk.cuda.CounterRNG``): a uniform draw compared with p.
    """
    scale = xd.dtype.type(1 / (1 - p))  # a dtype scalar: a 0-d input stays float32
    if type(xd) is np.ndarray and type(getattr(backend, "rng", None)) is np.random.Generator:
        n = xd.size
        words = backend.integers(0, 2**64, ((n + 1) // 2,), np.dtype(np.uint64))
        bits = words.view(np.uint32)[:n].reshape(xd.shape)
        keep = bits >= np.uint32(min(round(p * 2**32), 2**32 - 1))
        return np.multiply(keep, scale, dtype=xd.dtype)
    return backend.xp.multiply(backend.uniform(xd.shape, xd.dtype) >= p, scale, dtype=xd.dtype)


# ------------------------------------------------------------------ normalisation
def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes (biased variance), then scale and shift.

    One node with a closed-form VJP when weight and bias are None or of the input's float dtype and device.
    float16 input beside float32 weight or bias (mixed precision) is computed in float32 and returned in
    float16, as PyTorch; other mixes of dtypes, and integer input, are composed of ops, with their promotion.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, weight, bias = _autocast.to_float32("layer_norm", input, weight, bias)  # noqa: A001
    x = _tensor(input, "layer_norm")
    eps = real(eps, "layer_norm", "eps", low=0.0, low_open=True)
    shape = shape_arg(
        normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,), "layer_norm"
    )
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the last axes of input shape {x.shape}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(getattr(param, "shape", ())) != shape:
            raise ShapeError(
                f"layer_norm: {name} of shape {tuple(getattr(param, 'shape', ()))} does not match "
                f"normalized_shape {shape}"
            )
    axes = tuple(range(x.ndim - k, x.ndim))
    if _fusable_norm(x, weight, bias):
        return _layer_norm_fused(x, axes, weight, bias, eps)
    if _half_beside_float32(x, weight, bias):  # mixed precision: in float32, the output in float16
        return ops.astype(layer_norm(ops.astype(x, np.float32), shape, _up(weight), _up(bias), eps), x.dtype)
    out = _normalized(x, axes, eps)[0]
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _fusable_norm(x: Tensor, weight: Any, bias: Any) -> bool:
    """Whether ``layer_norm`` runs as one node: a non-empty float input, weight and bias None or tensors of
    its dtype on its device (float16 input beside float32 parameters runs the float32 node on the input cast
    to float32; anything else, such as a float16 weight on float32 input, is composed of ops as before, with
    their promotion and error messages)."""
    if x.dtype.kind != "f" or x._data.size == 0:
        return False
    return all(
        p is None or (isinstance(p, Tensor) and p._data.dtype == x.dtype and p._backend is x._backend)
        for p in (weight, bias)
    )


def _layer_norm_fused(x: Tensor, axes: tuple, weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    """``layer_norm`` as one node on the (rows, n) view of ``x``: the forward on raw arrays, the VJP in
    closed form (``_layer_norm_dx`` and friends). Saved: x (for a recorded backward), x-hat and the std.
    float16 is computed as the composed ops compute it (NumPy's mean sums it in float32).

    NumPy float32/float64 run block by block of rows (:func:`_layer_norm_rows`): every pass after the
    first over a block finds it in cache, and the same values come out row by row; the backward pass makes
    the three gradients in one such pass (:func:`_layer_norm_grads`)."""
    xd = x._data
    n = math.prod(xd.shape[axes[0]:])
    x2 = xd.reshape(-1, n)
    w = None if weight is None else weight._data.reshape(n)
    b = None if bias is None else bias._data.reshape(n)
    if _blas_rows(x2):
        y, xhat, std = _layer_norm_rows(x2, n, eps, w, b)
    else:
        # The mean by NumPy's pairwise sum (as accurate as before: its error is amplified by mean / std);
        # the variance of the centred rows by a dot product (its rounding is not).
        xhat = x2 - x2.mean(axis=1, keepdims=True)
        std = x._backend.xp.sqrt(_row_dot(xhat, xhat, n) + eps)
        xhat /= std
        if w is not None:
            y = xhat * w
            if b is not None:
                y += b
        elif b is not None:
            y = xhat + b
        else:
            y = xhat.copy()  # x-hat stays private: the caller may change the output in place
    # The bias's gradient is made with x's (one pass over the blocks) when it is wanted at the forward.
    want_db = bias is not None and bias._requires_grad
    return record(
        "layer_norm", y.reshape(xd.shape), x._backend, (x, weight, bias), _LAYER_NORM_RULES,
        (x, xhat, std, weight, axes, eps, [None, want_db]),
    )


_LN_BLOCK = 1 << 16  # elements in a block of rows: 256 KiB of float32, so that a block's arrays stay in cache


def _layer_norm_rows(x2: Any, n: int, eps: float, w: Any, b: Any) -> tuple[Any, Any, Any]:
    """The NumPy forward of ``layer_norm`` on the rows of ``x2`` (float32/float64), block by block:
    ``(y, xhat, std)``, new arrays, computed per row as the whole-array expressions would."""
    rows = x2.shape[0]
    xhat = np.empty(x2.shape, x2.dtype)
    y = np.empty(x2.shape, x2.dtype)
    std = np.empty((rows, 1), x2.dtype)
    step = max(1, _LN_BLOCK // n)
    for s in range(0, rows, step):
        xs, xh, sd, ys = x2[s : s + step], xhat[s : s + step], std[s : s + step], y[s : s + step]
        np.subtract(xs, xs.mean(axis=1, keepdims=True), out=xh)
        np.sqrt(_row_dot(xh, xh, n) + eps, out=sd)
        xh /= sd
        if w is not None:
            np.multiply(xh, w, out=ys)
            if b is not None:
                ys += b
        elif b is not None:
            np.add(xh, b, out=ys)
        else:
            ys[...] = xh
    return y, xhat, std


def _layer_norm_grads(gd: Any, xhat: Any, std: Any, w: Any, want_dw: bool, want_db: bool) -> tuple[Any, Any, Any]:
    """NumPy float32/float64: the gradients of ``layer_norm`` for the output gradient ``gd`` (rows, n), in one
    pass over blocks of rows (each block's arrays stay in cache): ``(dx, dw, db)``, dw and db None unless
    wanted. dx row by row as :func:`_layer_norm_dx` computes it; dw and db summed per block, then over blocks."""
    rows, n = xhat.shape
    dtype = xhat.dtype
    step = max(1, _LN_BLOCK // n)
    dx = np.empty((rows, n), dtype)
    dw = np.zeros(n, dtype) if want_dw else None
    db = np.zeros(n, dtype) if want_db else None
    tmp = None if w is None else np.empty((min(step, rows), n), dtype)
    ones = np.ones(min(step, rows), dtype)
    for s in range(0, rows, step):
        gs, xh, sd, d = gd[s : s + step], xhat[s : s + step], std[s : s + step], dx[s : s + step]
        k = gs.shape[0]
        gy = gs if w is None else np.multiply(gs, w, out=tmp[:k])
        np.multiply(xh, _row_dot(gy, xh, n), out=d)
        d += _row_mean(gy, n)
        np.subtract(gy, d, out=d)
        d /= sd
        if dw is not None:
            dw += np.einsum("ij,ij->j", gs, xh)
        if db is not None:
            db += ones[:k] @ gs
    return dx, dw, db


def _layer_norm_dx(g: Tensor, x: Tensor, xhat: Any, std: Any, w: Tensor | None, axes: tuple, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    """``(gy - mean(gy) - xhat * mean(gy * xhat)) / std`` with ``gy = g * weight``, means over the normalised axes.

    NumPy float32/float64: with the weight's and the bias's gradients in the same pass when they require
    grad; those wait in ``stash`` (``[(g, g's version, dw, db), want_db]``) for the rules of w and b, which run
    next for this same ``g`` (a rule called for another gradient, or another version of it, computes its own)."""
    if grad_mode.state.enabled:  # create_graph: from x again, so that the result is differentiable in x too
        xh, sd = _normalized(x, axes, eps)
        gy = g if w is None else g * w
        return (gy - ops.mean(gy, axes, keepdims=True) - xh * ops.mean(gy * xh, axes, keepdims=True)) / sd
    n = xhat.shape[1]
    gd = g._data.reshape(xhat.shape)
    if _blas_rows(xhat) and gd.dtype == xhat.dtype:
        want_dw = w is not None and w._requires_grad
        dx, dw, db = _layer_norm_grads(gd, xhat, std, None if w is None else w._data.reshape(n), want_dw, stash[1])
        stash[0] = (g, g._version[0], dw, db) if want_dw or stash[1] else None
        return _make(dx.reshape(x.shape), g._backend)
    dtype = gd.dtype
    gd, xhat, std = _wide(gd), _wide(xhat), _wide(std)  # float16: the sums in float32
    gy = gd if w is None else gd * _wide(w._data).reshape(n)
    dx = xhat * _row_dot(gy, xhat, n)
    dx += _row_mean(gy, n)
    g._backend.xp.subtract(gy, dx, out=dx)
    dx /= std
    return _make(dx.reshape(x.shape).astype(dtype, copy=False), g._backend)


def _layer_norm_dw(g: Tensor, x: Tensor, xhat: Any, std: Any, w: Tensor | None, axes: tuple, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    lead = tuple(range(axes[0]))
    if grad_mode.state.enabled:
        gx = g * _normalized(x, axes, eps)[0]
        return ops.sum(gx, lead) if lead else gx
    dw = _stashed(stash, g, 2)
    if dw is not None:
        return _make(dw.reshape(w.shape), g._backend)
    gd = _wide(g._data.reshape(xhat.shape))
    xh = _wide(xhat)
    dw = np.einsum("ij,ij->j", gd, xh) if _blas_rows(gd) else (gd * xh).sum(axis=0)
    return _make(dw.reshape(w.shape).astype(w.dtype, copy=False), g._backend)


def _layer_norm_db(g: Tensor, x: Tensor, xhat: Any, std: Any, w: Tensor | None, axes: tuple, eps: float,
                   stash: list) -> Tensor:  # fmt: skip
    lead = tuple(range(axes[0]))
    if grad_mode.state.enabled:
        return ops.sum(g, lead) if lead else g
    db = _stashed(stash, g, 3)
    if db is not None:
        return _make(db.reshape(x.shape[axes[0]:]), g._backend)
    gd = g._data.reshape(xhat.shape)
    db = _column_sum(_wide(gd)).reshape(x.shape[axes[0]:])
    return _make(db.astype(gd.dtype, copy=False), g._backend)


_LAYER_NORM_RULES = (_layer_norm_dx, _layer_norm_dw, _layer_norm_db)


def rms_norm(
    input: Any,  # noqa: A002
    normalized_shape: Any,
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """``x / sqrt(mean(x^2) + eps)`` over the last ``len(normalized_shape)`` axes, times ``weight``.

    ``eps=None``: the machine epsilon of the dtype computed in (PyTorch 2.4+). As PyTorch (2.14), a float16
    input is normalised in float32 (so its default eps is float32's), the weight applied in that precision or
    the weight's if wider, and the result returned in the input's dtype whatever the weight's (a float32
    weight on float16 input: float16 out, the weight's gradient in float32).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, weight = _autocast.to_float32("rms_norm", input, weight)  # noqa: A001
    op = "rms_norm"
    x = _float_input(input, op)
    shape = shape_arg(normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,), op)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape:
        raise ShapeError(f"{op}: normalized_shape {shape} does not match the last axes of input shape {x.shape}")
    if weight is not None:
        _check_norm_weight(weight, x, shape, op)
    xw = ops.astype(x, _wide(x._data).dtype)
    eps = float(np.finfo(xw.dtype).eps) if eps is None else real(eps, op, "eps", low=0.0)
    axes = tuple(range(x.ndim - k, x.ndim))
    out = xw * ops.rsqrt(ops.mean(xw * xw, axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    return ops.astype(out, x.dtype)  # one rounding (none for float32/float64 input and weight)


def _check_norm_weight(weight: Any, x: Tensor, shape: tuple, op: str) -> None:
    """A normalisation's ``weight``: a float Tensor of ``shape``, on x's device (any float dtype, as PyTorch's
    rms_norm: the result has the input's)."""
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__} {weight!r:.40}")
    if weight.shape != shape:
        raise ShapeError(f"{op}: weight of shape {weight.shape} does not match normalized_shape {shape}")
    if weight._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, weight on {weight.device}; move them to one device")
    if weight.dtype.kind != "f":
        raise DTypeError(f"{op}: weight must be a float tensor, got dtype {weight.dtype}; convert with .astype()")


def batch_norm(
    input: Any,  # noqa: A002
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of (N, C, *) input (any number of trailing axes, as PyTorch) over every axis but
    the channel axis 1.

    ``training``: normalise with the batch mean and biased variance and, when
    running statistics are given, update them in place as
    ``(1 - momentum) * running + momentum * batch`` (the unbiased variance
    for ``running_var``). Otherwise normalise with the running statistics.

    float16 input beside float32 running statistics, weight or bias (mixed precision) is computed in float32
    and returned in float16, as PyTorch; the running statistics are updated from the float32 batch statistics.
    """
    x = _tensor(input, "batch_norm")
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, *) (at least 2 axes), got {x.shape}")
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        _check_running_stat(name, stat, x)
    if _half_beside_float32(x, running_mean, running_var, weight, bias):  # mixed precision, as PyTorch: in
        out = batch_norm(ops.astype(x, np.float32), running_mean, running_var, _up(weight), _up(bias),  # float32
                         training, momentum, eps)  # (the statistics from float32 sums), the output in float16
        return ops.astype(out, x.dtype)
    momentum = real(momentum, "batch_norm", "momentum")
    eps = real(eps, "batch_norm", "eps", low=0.0)
    training = flag(training, "batch_norm", "training")
    axes = (0, *range(2, x.ndim))
    shape = (-1,) + (1,) * (x.ndim - 2)  # weight and bias along axis 1
    if training and math.prod(x.shape) == 0:  # an empty batch, as PyTorch: returned, the statistics kept
        out = x
    elif training:
        n = math.prod(x.shape) // x.shape[1]
        if n <= 1:
            raise ShapeError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape {x.shape}"
            )
        mean = ops.mean(x, axes, keepdims=True)
        centred = x - mean
        var = ops.mean(centred * centred, axes, keepdims=True)
        if running_mean is not None and running_var is not None:
            _update_running(running_mean, mean._data.reshape(-1), momentum)
            _update_running(running_var, var._data.reshape(-1) * (n / (n - 1)), momentum)
        out = centred / ops.sqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError("batch_norm: running_mean and running_var are needed when training=False")
        full = (1, *shape)
        rm = running_mean._data.reshape(full)
        std = running_var._backend.xp.sqrt(running_var._data.reshape(full) + eps)
        out = (x - rm) / std
    if weight is not None:
        out = out * ops.reshape(weight, shape)
    if bias is not None:
        out = out + ops.reshape(bias, shape)
    return out


def _check_running_stat(name: str, stat: Any, x: Tensor) -> None:
    """A running statistic is None or a tensor of shape (C,) on x's device (it is updated in place)."""
    if stat is None:
        return
    if not isinstance(stat, Tensor):
        raise ArgumentTypeError(f"batch_norm: {name} must be a Tensor or None, got {type(stat).__name__}")
    if stat.dtype.kind != "f":
        raise DTypeError(f"batch_norm: {name} must be a float tensor, got dtype {stat.dtype}")
    if stat.shape != (x.shape[1],):
        raise ShapeError(f"batch_norm: {name} has shape {stat.shape}, expected ({x.shape[1]},) for input {x.shape}")
    if stat._backend is not x._backend:
        raise DeviceError(f"batch_norm: {name} is on {stat.device}, the input on {x.device}")


# ------------------------------------------------------------------ embedding, one_hot
def _int_array(t: Any, backend: Any, op: str, what: str) -> Any:
    """An integer index array on ``backend`` from a Tensor, array or list; DTypeError for floats."""
    if isinstance(t, Tensor):
        if t._backend is not backend:
            raise DeviceError(f"{op}: {what} are on {t.device}, the input on {backend.device}")
        data = t._data
    else:
        try:
            data = np.asarray(t) if not (isinstance(t, np.ndarray) or hasattr(t, "__cuda_array_interface__")) else t
        except (ValueError, TypeError):
            raise ShapeError(f"{op}: {what} must be a rectangular array of integers, got {t!r:.60}") from None
    if data.dtype.kind not in "iu":  # checked before a copy to the GPU, which would refuse strings its own way
        raise DTypeError(
            f"{op}: {what} must be integer class indices (int32 or int64), got dtype {data.dtype}"
            + ("; cast with .astype(gk.int64)" if data.dtype.kind == "f" else "")
        )
    if data.dtype.kind == "u":
        data_ = int64_indices(data, op, what)  # uint64: as int64 (a new array)
    else:
        data_ = data
    if not isinstance(t, Tensor):  # a Tensor's array is on its backend already
        data_ = backend.asarray(data_)
    return private_copy(data_, data)


def _in_range(data: Any, n: int) -> bool:
    """True when every value is in [0, n) (or when it cannot be read now: empty, or a CUDA graph capturing)."""
    if not data.size or not host_read_allowed(data):
        return True
    # One reduction: seen as unsigned, a negative value is huge, so it fails the same test.
    unsigned = data.view(data.dtype.str.replace("i", "u")) if data.dtype.kind == "i" else data
    if type(unsigned) is np.ndarray:  # without ndarray.max's Python wrapper
        return int(np.maximum.reduce(unsigned, axis=None)) < n
    return int(unsigned.max()) < n


def _check_range(data: Any, n: int, op: str, what: str) -> None:
    if not _in_range(data, n):
        lo, hi = int(data.min()), int(data.max())
        bad = lo if lo < 0 else hi
        raise IndexOutOfRangeError(f"{op}: {what} {bad} is out of range: expected 0 <= value < {n}")


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: shape ``tensor.shape + (num_classes,)`` (max + 1 classes when -1)."""
    from gradkit.backends import get_backend

    backend = tensor._backend if isinstance(tensor, Tensor) else get_backend(None)
    idx = _int_array(tensor, backend, "one_hot", "class values")
    num_classes = whole(num_classes, "one_hot", "num_classes")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise InvalidArgumentError(f"one_hot: num_classes must be a non-negative int or -1, got {num_classes!r}")
    _check_range(idx, num_classes, "one_hot", "class value")
    _check_size("one_hot", (*idx.shape, int(num_classes)), np.dtype(np.int64))
    xp = backend.xp
    out = (idx[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return _make(out, backend)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input``; no gradient to row ``padding_idx``."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        got = f"shape {weight.shape}" if isinstance(weight, Tensor) else type(weight).__name__
        raise ShapeError(f"embedding: weight must be a (num_embeddings, dim) Tensor, got {got}")
    if padding_idx is not None:  # as PyTorch: in [-num_embeddings, num_embeddings), a negative one counted back
        n = weight.shape[0]
        padding_idx = whole(padding_idx, "embedding", "padding_idx")
        if not -n <= padding_idx < n:
            raise IndexOutOfRangeError(f"embedding: padding_idx {padding_idx} is out of range for {n} embeddings")
        padding_idx %= n
    backend = weight._backend
    idx = _int_array(input, backend, "embedding", "indices")
    _check_range(idx, weight.shape[0], "embedding", "index")
    data = weight._data[idx]
    return record("embedding", data, backend, (weight,), (_embedding_vjp,), (idx, weight.shape, padding_idx))


def _embedding_vjp(g: Tensor, idx: Any, shape: tuple, padding_idx: int | None) -> Tensor:
    backend = g._backend
    if not grad_mode.state.enabled:
        out = backend.xp.zeros(shape, dtype=g._data.dtype)
        backend.scatter_add(out, (idx,), g._data)
        if padding_idx is not None:
            out[padding_idx] = 0
        return _make(out, backend)
    out = ops.index_add(shape, (idx,), g)
    if padding_idx is not None:
        keep = backend.xp.ones((shape[0], 1), dtype=g._data.dtype)
        keep[padding_idx] = 0
        out = out * keep
    return out


# ------------------------------------------------------------------ losses
def _targets(target: Any, logits: Tensor, op: str, ignore_index: int) -> tuple[Any, Any]:
    """Class-index targets as a validated integer array of shape (N,), and the mask of ignored ones (or None).

    The common case (every target in [0, C)) costs one reduction; targets equal
    to ``ignore_index`` (PyTorch's -100 by default) are allowed and masked.
    """
    return _checked_targets(_index_rows(target, logits, op), logits, op, ignore_index)


def _checked_targets(t: Any, logits: Tensor, op: str, ignore_index: int) -> tuple[Any, Any]:
    """:func:`_targets` for targets already made an array by :func:`_index_rows`."""
    c = logits.shape[1]
    # in a capture _in_range answers True unread, so the ignored targets must still be masked
    if not 0 <= ignore_index < c and host_read_allowed(t) and _in_range(t, c):
        return t, None
    ignored = t == ignore_index
    if type(t) is np.ndarray and not ignored.any():  # a device array is masked without reading it
        _check_range(t, c, op, "target")
        return t, None
    kept = logits._backend.xp.where(ignored, 0, t)
    _check_range(kept, c, op, "target")
    return kept, ignored


def _class_weight(weight: Any, x: Tensor, op: str) -> Tensor | None:
    """``weight`` (one per class) as a tensor of the logits' dtype and device (no gradient), or None.

    On the weight tensor's own array it shares that tensor's version counter, so a product that saves it (label
    smoothing, probability targets) refuses a weight changed in place before backward, as PyTorch does; a NumPy
    or CuPy array of the caller's is copied (``private_copy``)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        w = weight._data
    elif isinstance(weight, x._backend.array_type):
        w = weight
    else:
        try:
            w = np.asarray(weight)
        except ValueError:
            raise ShapeError(f"{op}: weight must hold one number per class, got the ragged {weight!r:.60}") from None
        if w.dtype.kind not in "fiu":
            raise ShapeError(f"{op}: weight must hold one number per class, got dtype {w.dtype}")
        w = x._backend.asarray(w)
    if isinstance(weight, Tensor) and weight._backend is not x._backend:
        raise DeviceError(f"{op}: weight is on {weight.device}, the input on {x.device}")
    if w.shape != (x.shape[1],) or w.dtype.kind not in "fiu":
        raise ShapeError(f"{op}: weight must hold one number per class, shape ({x.shape[1]},); got {w.shape} {w.dtype}")
    w = w if w.dtype == x.dtype else w.astype(x.dtype)
    if not isinstance(weight, Tensor):
        return Tensor._make(private_copy(w, weight), x._backend)
    out = Tensor._make(w, x._backend)
    if w is weight._data:
        out._version = weight._version
    return out


def _weighted_nll(
    logp: Tensor, t: Any, ignored: Any, weight: Any, smoothing: float, reduction: str
) -> Tensor:
    """PyTorch's nll_loss / cross_entropy with class weights, ignored targets and label smoothing.

    Made of differentiable ops (no fused kernel): ``logp`` are log-probabilities (N, C).
    Per sample, ``(1 - s) * (-w[t] logp[t]) + s / C * sum_c (-w[c] logp[c])``, zero where the
    target is ignored; "mean" divides the sum by the total weight ``sum w[t]`` of the kept targets.
    """
    xp = logp._backend.xp
    n, c = logp.shape
    keep = xp.ones(n, dtype=logp.dtype) if ignored is None else (~ignored).astype(logp.dtype)
    w_t = keep if weight is None else weight._data[t] * keep
    loss = -ops.getitem(logp, (xp.arange(n), t)) * w_t
    if smoothing:
        per_class = logp if weight is None else logp * weight
        smooth = -ops.sum(per_class, 1) * keep
        loss = loss * (1.0 - smoothing) + smooth * (smoothing / c)
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    return _divide_by_weight(total, w_t.sum()) if reduction == "mean" else total


def _divide_by_weight(total: Tensor, weight: Any) -> Tensor:
    """``total / weight`` for the kept targets' total weight ``weight`` (a 0-d array, a constant).

    Where it is 0 (every target ignored, or of weight 0) the loss is NaN, as PyTorch's, but its
    gradient is exactly 0, not ``0 * inf``: a batch of pure padding leaves the parameters alone.
    """
    xp = total._backend.xp
    nonzero = weight != 0
    safe = xp.where(nonzero, weight, 1)
    data = xp.where(nonzero, total._data / safe, xp.nan).astype(total.dtype, copy=False)
    factor = xp.where(nonzero, 1 / safe, 0).astype(total.dtype, copy=False)
    return record("nll_mean", data, total._backend, (total,), (_scale_vjp,), (factor,))


def _class_input(input: Any, op: str) -> Tensor:
    x = input if type(input) is Tensor else _tensor(input, op)
    if x._data.ndim == 0:
        raise ShapeError(f"{op}: input must have shape (N, C), (C,) or (N, C, d1, ..., dk), got a 0-d tensor")
    if x._data.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor of logits, got dtype {x.dtype}")
    return x


def _class_rows(x: Tensor) -> Tensor:
    """An input (C,) or (N, C, d1, ..., dk) as the rows (M, C) of its class vectors (differentiable)."""
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if x.ndim == 1:
        return ops.reshape(x, (1, c))
    if x.ndim == 2:
        return x
    rows = x.shape[0] * math.prod(x.shape[2:])
    return ops.reshape(ops.moveaxis(x, 1, -1), (rows, c))


def _index_shape(x: Tensor) -> tuple:
    """The shape of class-index targets (and of the "none" loss) for input ``x``: (), (N,) or (N, d1, ..., dk)."""
    return () if x.ndim == 1 else (x.shape[0], *x.shape[2:])


def _index_rows(target: Any, x: Tensor, op: str) -> Any:
    """Class-index targets for an input (C,) or (N, C, d1, ..., dk) as a flat integer array, one per row
    of :func:`_class_rows` (values not checked)."""
    t = _int_array(target, x._backend, op, "targets")
    shape = x._data.shape
    if len(shape) == 2 and t.shape == shape[:1]:  # (N, C): the training-loop case, already flat
        return t
    expected = _index_shape(x)
    if t.shape != expected:
        raise ShapeError(
            f"{op}: targets of shape {t.shape} do not fit input of shape {x.shape} (expected {expected}: "
            "(N, C) takes targets (N,), (C,) a 0-d target and (N, C, d1, ..., dk) targets (N, d1, ..., dk))"
        )
    return t.reshape(-1)


def _is_float(target: Any) -> bool:
    """Whether ``target`` holds floats (class probabilities) rather than class indices."""
    if isinstance(target, Tensor):
        return target._data.dtype.kind == "f"
    dtype = getattr(target, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(target).dtype
        except (ValueError, TypeError):  # ragged: the index path names the problem
            return False
    try:
        return np.dtype(dtype).kind == "f"
    except TypeError:
        return False


def _probability_targets(target: Any, x: Tensor, op: str) -> Tensor:
    """Soft-label targets: of the input's shape, device and dtype (a constant one is converted)."""
    t = _target_tensor(target, x, op)
    if t.shape != x.shape:
        raise DTypeError(
            f"{op}: targets of shape {t.shape} must be integer class indices (int32 or int64), got dtype "
            f"{t.dtype}; cast with .astype(gk.int64) (float targets are class probabilities of the input's "
            f"shape {x.shape})"
        )
    return _in_dtype_of(t, target, x, op, "probability targets")


def _soft_cross_entropy(x: Tensor, p: Tensor, weight: Any, smoothing: float, reduction: str) -> Tensor:
    """Cross-entropy of logits (M, C) against class probabilities ``p`` (M, C), PyTorch's: per row
    ``-sum_c w[c] p[c] log_softmax(x)[c]``, ``p`` mixed with the uniform distribution by ``smoothing``;
    "mean" divides by M (not by the weights). Differentiable in ``p`` too."""
    c = x.shape[1]
    if smoothing:
        p = p * (1.0 - smoothing) + smoothing / c
    per_class = ops.log_softmax(x, 1) * p
    if weight is not None:
        per_class = per_class * weight
    loss = -ops.sum(per_class, 1)
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    if reduction == "sum":
        return total
    return total / x.shape[0] if x.shape[0] else total * math.nan  # no rows: NaN, as PyTorch


def _cross_entropy_shaped(
    x: Tensor, target: Any, reduction: str, weight: Any, ignore_index: int, smoothing: float, soft: bool
) -> Tensor:
    """cross_entropy for an input other than (N, C) with index targets: class probabilities, an
    unbatched (C,) input or (N, C, d1, ..., dk), as the rows (M, C) of its class vectors."""
    op = "cross_entropy"
    rows = _class_rows(x)
    if soft:
        if ignore_index >= 0:
            raise InvalidArgumentError(
                f"{op}: ignore_index ({ignore_index}) cannot be used with class-probability (float) targets"
            )
        p = _class_rows(_probability_targets(target, x, op))
        loss = _soft_cross_entropy(rows, p, _class_weight(weight, rows, op), smoothing, reduction)
    else:
        t = _index_rows(target, x, op)
        loss = cross_entropy(rows, t, reduction, weight=weight, ignore_index=ignore_index, label_smoothing=smoothing)
    return ops.reshape(loss, _index_shape(x)) if reduction == "none" else loss


def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer class targets (N,): one fused node.

    ``reduction``: "mean" (default), "sum" or "none". Stable for any finite
    logits. The gradient is ``(softmax(input) - one_hot(target)) / N`` (for
    "mean"), computed with the loss in one pass (``gradkit.kernels``).

    As PyTorch's: ``weight`` (one per class) weighs each sample by its
    target's weight ("mean" then divides by the total weight), targets equal
    to ``ignore_index`` add nothing, and ``label_smoothing`` in [0, 1] mixes
    the target with the uniform distribution. With any of these, NumPy float32
    and float64 logits still take one node (its gradient made in the forward
    pass, see ``_cross_entropy_rows``); elsewhere the loss is built from
    ``log_softmax`` and differentiable ops instead of the fused node.
    When every target is ignored (or has weight 0), "mean" gives NaN, as
    PyTorch, and a zero gradient.

    PyTorch's other shapes: an unbatched input (C,) with a 0-d target, and
    (N, C, d1, ..., dk) with targets (N, d1, ..., dk) (taken as N * d1 * ... * dk
    rows; "none" gives the targets' shape). Float targets of the input's shape
    are class probabilities (soft labels): per sample
    ``-sum_c weight[c] target[c] log_softmax(input)[c]``, the target first mixed
    with the uniform distribution by ``label_smoothing``; "mean" divides by the
    number of samples; ``ignore_index`` must then be negative (unused).

    A target out of range raises ``IndexOutOfRangeError``. On a GPU the fused
    kernel checks the targets itself (no host synchronisation): the error
    comes at the next host read or ``cross_entropy`` call; that call's loss
    is NaN and the bad rows get no gradient.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, weight = _autocast.to_float32("cross_entropy", input, target, weight)  # noqa: A001
    _check_reduction(reduction, "cross_entropy")
    x = _class_input(input, "cross_entropy")
    if type(ignore_index) is not int:  # the checks cost a little: skip them for the defaults
        ignore_index = whole(ignore_index, "cross_entropy", "ignore_index")
    plain = type(label_smoothing) in (float, int) and label_smoothing == 0  # the default: skip the check
    smoothing = 0.0 if plain else real(label_smoothing, "cross_entropy", "label_smoothing", low=0.0)
    if smoothing > 1:
        raise InvalidArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], got {smoothing}")
    soft = target._data.dtype.kind == "f" if type(target) is Tensor else _is_float(target)
    if soft or x._data.ndim != 2:  # before any other work: the (N, C) path below is as fast as it was
        return _cross_entropy_shaped(x, target, reduction, weight, ignore_index, smoothing, soft)
    w = None if weight is None else _class_weight(weight, x, "cross_entropy")
    t = _index_rows(target, x, "cross_entropy")
    if w is None and not smoothing and type(x._data) is not np.ndarray:
        checked = _cross_entropy_checked_on_device(x, t, reduction, ignore_index)
        if checked is not None:
            return checked
    t, ignored = _checked_targets(t, x, "cross_entropy", ignore_index)
    if w is not None or smoothing or ignored is not None:
        if _blas_rows(x._data) and x._data.size:  # NumPy float32/float64: one node
            return _cross_entropy_rows(x, t, ignored, w, smoothing, reduction)
        return _weighted_nll(ops.log_softmax(x, 1), t, ignored, w, smoothing, reduction)
    loss, dlogits = kernels.cross_entropy_forward_backward(x._data, t, reduction)
    saved = (dlogits, x, t, reduction, [False])
    return record("cross_entropy", loss, x._backend, (x,), (_cross_entropy_vjp,), saved)


def _cross_entropy_rows(x: Tensor, t: Any, ignored: Any, weight: Tensor | None, smoothing: float,
                        reduction: str) -> Tensor:  # fmt: skip
    """``_weighted_nll(log_softmax(x), ...)`` as one node, for NumPy float32/float64 logits (N, C), N, C > 0.

    Per row, with ``p = softmax(x)``, ``lse = log(sum_c exp(x_c - max))``, ``w_t = weight[t]`` (1 without
    weights, 0 for an ignored target), ``W = sum_c weight[c]`` (C without weights) and ``k`` 0 for an ignored
    row, else 1: the loss is ``(1 - s) w_t (lse - (x_t - max)) + k s / C (W lse - sum_c weight[c] (x_c - max))``
    and its gradient ``(w_t (1 - s) + k s W / C) p - w_t (1 - s) one_hot(t) - k s / C weight``, times
    ``1 / sum w_t`` for "mean" (0 where that sum is 0: the loss is then NaN, its gradient zero). The
    gradient is made in the forward pass, in the array of ``exp``; an ignored row's loss is 0."""
    xd = x._data
    n, c = xd.shape
    dt = xd.dtype
    keep = None if ignored is None else ~ignored
    wd = None if weight is None else weight._data
    if wd is None:
        w_t = np.ones(n, dt) if keep is None else keep.astype(dt)
    else:
        w_t = wd[t]
        if keep is not None:
            w_t[ignored] = 0
    e = np.subtract(xd, xd.max(axis=1, keepdims=True))
    picked = e[np.arange(n), t]  # x_t - max
    shifted_sum = None
    if smoothing:  # sum_c weight[c] (x_c - max), before exp overwrites it
        shifted_sum = e @ (np.ones(c, dt) if wd is None else wd)
    if keep is not None:  # an ignored row adds nothing: no inf * 0 from its -inf logits
        picked[ignored] = 0
        if shifted_sum is not None:
            shifted_sum[ignored] = 0
    np.exp(e, out=e)
    total = e @ np.ones(c, dt)
    lse = np.log(total)
    loss = lse - picked
    loss *= w_t
    k_s = None
    if smoothing:
        big_w = dt.type(c) if wd is None else wd.sum()
        smooth = lse * big_w
        smooth -= shifted_sum
        loss *= dt.type(1.0 - smoothing)
        k_s = np.full(n, smoothing / c, dt) if keep is None else keep * dt.type(smoothing / c)
        loss += smooth * k_s
    if keep is not None:
        loss[ignored] = 0  # (a NaN logit would still make it NaN)
    if reduction == "none":
        out, scale = loss, None
    elif reduction == "sum":
        out, scale = loss.sum(), None
    else:
        weight_sum = w_t.sum()
        if weight_sum != 0:
            out, scale = loss.sum() / weight_sum, dt.type(1) / weight_sum
        else:
            out, scale = np.asarray(np.nan, dt), dt.type(0)
    hot = w_t if not smoothing else w_t * dt.type(1.0 - smoothing)
    coef = hot if not smoothing else hot + k_s * big_w
    if scale is not None:
        coef = coef * scale
        hot = hot * scale
        if k_s is not None:
            k_s = k_s * scale
    parts = (coef, hot, k_s, wd)
    saved = (_cross_entropy_rows_gradient(e, total, t, parts), x, t, reduction, parts, [False])
    if weight is not None and smoothing:  # as the composed ops: a weight changed in place before backward is refused
        saved = (*saved, weight)
    return record("cross_entropy", np.asarray(out, dt), x._backend, (x,), (_cross_entropy_rows_vjp,), saved)


def _cross_entropy_rows_gradient(e: Any, total: Any, t: Any, parts: tuple) -> Any:
    """The gradient of :func:`_cross_entropy_rows`, made in place in ``e = exp(x - max)`` (row sums
    ``total``): ``p`` scaled by ``coef``, the target's column less ``hot``, ``k_s`` times the weights less."""
    coef, hot, k_s, wd = parts
    e *= (coef / total)[:, None]
    e[np.arange(e.shape[0]), t] -= hot
    if k_s is not None:
        if wd is None:
            e -= k_s[:, None]
        else:
            e -= np.multiply.outer(k_s, wd)
    return e


def _cross_entropy_rows_vjp(g: Tensor, dlogits: Any, x: Tensor, t: Any, reduction: str, parts: tuple,
                            given: list, *weight: Tensor) -> Tensor:  # fmt: skip
    gd = g._data
    if not grad_mode.state.enabled:
        if given[0]:  # the saved gradient became a .grad (which may since have changed in place): made anew
            xd = x._data
            e = np.exp(xd - xd.max(axis=1, keepdims=True))
            dlogits = _cross_entropy_rows_gradient(e, e @ np.ones(e.shape[1], e.dtype), t, parts)
        if reduction == "none":
            return _make(dlogits * gd[:, None], g._backend)
        if gd.item() == 1:
            given[0] = True  # handed out as it is: a later backward through a retained graph makes its own
            return _make(dlogits, g._backend)
        return _make(dlogits * gd, g._backend)
    # Recorded backward (create_graph): p * coef + (the constant rest), p = softmax(x) from differentiable ops.
    coef, hot, k_s, wd = parts
    n, c = x.shape
    rest = np.zeros((n, c), x.dtype)
    rest[np.arange(n), t] = -hot
    if k_s is not None:
        rest -= np.multiply.outer(k_s, np.ones(c, x.dtype) if wd is None else wd)
    d = ops.softmax(x, 1) * _make(coef[:, None], x._backend) + _make(rest, x._backend)
    return d * ops.reshape(g, (-1, 1)) if reduction == "none" else d * g


def _cross_entropy_checked_on_device(x: Tensor, t: Any, reduction: str, ignore_index: int) -> Tensor | None:
    """The GPU's fused cross-entropy, whose kernel checks the targets: no host read, so no synchronisation.

    A target out of range makes that call's loss NaN and raises IndexOutOfRangeError at the next
    cross_entropy call or host read (``item()``, ``numpy()``, printing), as PyTorch's device-side
    assert does, but recoverable. None where it does not apply (the host-checked path runs).
    ``t``: the targets from :func:`_index_rows`.
    """
    result = kernels.cross_entropy_checked_on_device(x._data, t, reduction, ignore_index)
    if result is None:
        return None
    loss, dlogits, scale = result
    saved = (dlogits, scale, x, t, reduction, ignore_index)
    return record("cross_entropy", loss, x._backend, (x,), (_cross_entropy_checked_vjp,), saved)


def _cross_entropy_checked_vjp(g: Tensor, dlogits: Any, scale: Any, x: Tensor, t: Any, reduction: str,
                               ignore_index: int) -> Tensor:  # fmt: skip
    gd = g._data
    if not grad_mode.state.enabled:
        if reduction == "none":
            return _make(dlogits * gd[:, None], g._backend)
        return _make(kernels.scale_rows(dlogits, gd, scale), g._backend)
    # Recorded backward (create_graph): the same gradient from differentiable ops, ignored rows zero.
    d = _softmax_minus_one_hot(x, t, t != ignore_index)
    if reduction == "none":
        return d * ops.reshape(g, (-1, 1))
    return d * (g * scale)


def _softmax_minus_one_hot(x: Tensor, t: Any, keep: Any = None) -> Tensor:
    """``softmax(x) - one_hot(t)`` from differentiable ops (a recorded backward); zero rows where ``keep``
    (a bool array, or None for all) is False."""
    xp = x._backend.xp
    if keep is None:
        return ops.softmax(x, 1) - (t[:, None] == xp.arange(x.shape[1])).astype(x.dtype)
    hot = (xp.where(keep, t, 0)[:, None] == xp.arange(x.shape[1])).astype(x.dtype)
    return (ops.softmax(x, 1) - hot) * keep[:, None].astype(x.dtype)


def _cross_entropy_vjp(g: Tensor, dlogits: Any, x: Tensor, t: Any, reduction: str, given: list) -> Tensor:
    gd = g._data
    if not grad_mode.state.enabled:
        if given[0]:  # the saved gradient became a .grad (which may since have changed in place): made anew
            dlogits = kernels.cross_entropy_forward_backward(x._data, t, reduction)[1]
        if reduction == "none":
            return _make(dlogits * gd[:, None], g._backend)
        if type(gd) is np.ndarray and gd.item() == 1:  # (.item(): a Python float, not the ufunc of gd == 1)
            given[0] = True  # handed out as it is: a later backward through a retained graph makes its own
            return _make(dlogits, g._backend)
        return _make(dlogits * gd, g._backend)
    # Recorded backward (create_graph): the same gradient from differentiable ops.
    d = _softmax_minus_one_hot(x, t)
    if reduction == "none":
        return d * ops.reshape(g, (-1, 1))
    if reduction == "mean" and x.shape[0]:
        d = d * (1 / x.shape[0])
    return d * g


def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    *,
    weight: Any = None,
    ignore_index: int = -100,
) -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) at integer class targets (N,).

    ``weight`` and ``ignore_index`` as in PyTorch (see ``cross_entropy``), and its
    shapes: (C,) with a 0-d target, (N, C, d1, ..., dk) with targets (N, d1, ..., dk).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, weight = _autocast.to_float32("nll_loss", input, target, weight)  # noqa: A001
    _check_reduction(reduction, "nll_loss")
    x = _class_input(input, "nll_loss")
    if type(ignore_index) is not int:
        ignore_index = whole(ignore_index, "nll_loss", "ignore_index")
    if x.ndim != 2:
        rows, t = _class_rows(x), _index_rows(target, x, "nll_loss")
        loss = nll_loss(rows, t, reduction, weight=weight, ignore_index=ignore_index)
        return ops.reshape(loss, _index_shape(x)) if reduction == "none" else loss
    w = _class_weight(weight, x, "nll_loss")
    t, ignored = _targets(target, x, "nll_loss", ignore_index)
    if w is not None or ignored is not None:
        return _weighted_nll(x, t, ignored, w, 0.0, reduction)
    picked = ops.getitem(x, (x._backend.xp.arange(x.shape[0]), t))
    return _reduce(-picked, reduction)


def _pair(input: Any, target: Any, op: str, labels: bool = True) -> tuple[Tensor, Tensor]:
    """The input and the target of one shape; for a float input, a constant target and (with ``labels``)
    an integer or bool one (labels, as a DataLoader collates them) take the input's dtype (as
    ``_loss_target``)."""
    if isinstance(input, Tensor):
        x = input
        y = target if isinstance(target, Tensor) else as_tensor(target, op, x._backend)
    else:
        y = _tensor(target, op)
        x = as_tensor(input, op, y._backend)
    if x.dtype.kind == "f" and y.dtype != x.dtype and (y is not target or (labels and y.dtype.kind in "biu")):
        y = _make(y._data.astype(x.dtype), y._backend)  # no gradient to lose: an integer tensor has none
    if x.shape != y.shape:
        raise ShapeError(f"{op}: input of shape {x.shape} and target of shape {y.shape} must have the same shape")
    return x, y


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean (or summed) squared error. An integer or bool target takes a float input's dtype (as PyTorch)."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("mse_loss", input, target)  # noqa: A001
    _check_reduction(reduction, "mse_loss")
    x, y = _pair(input, target, "mse_loss")
    d = x - y
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean (or summed) absolute error. An integer or bool target takes a float input's dtype."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("l1_loss", input, target)  # noqa: A001
    _check_reduction(reduction, "l1_loss")
    x, y = _pair(input, target, "l1_loss")
    return _reduce(ops.abs(x - y), reduction)


def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    pos_weight: Any = None,
    *,
    weight: Any = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable node: ``max(x,0) - x t + log(1 + exp(-|x|))``.

    With ``pos_weight`` (broadcast over the last axis, as PyTorch), the
    positive term is weighted: ``(1 - t) x + (1 + (pw - 1) t) (log(1 + exp(-|x|)) + max(-x, 0))``.
    ``weight`` (keyword only; broadcast to the input's shape) scales each
    element's loss before the reduction, as PyTorch's ``weight``. An integer or
    bool target (0/1 labels) takes the input's dtype, as in gradkit's other
    losses (PyTorch refuses one here).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, pos_weight, weight = _autocast.to_float32(  # noqa: A001
            "binary_cross_entropy_with_logits", input, target, pos_weight, weight)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x, t = _pair(input, target, "binary_cross_entropy_with_logits")
    if weight is not None:
        w = _elementwise_weight(weight, "weight", x)
        loss = binary_cross_entropy_with_logits(x, t, "none", pos_weight)
        return _reduce(loss * w, reduction)
    if pos_weight is not None:
        per_class = f" (one weight per class: ({x.shape[-1] if x.ndim else 1},))"
        pw = _elementwise_weight(pos_weight, "pos_weight", x, per_class)
        log_weight = (pw - 1) * t + 1
        soft = _softplus(-x)
        return _reduce((1 - t) * x + log_weight * soft, reduction)
    xp = x._backend.xp
    xd, td = x._data, t._data
    data = xp.maximum(xd, 0) - xd * td + xp.log1p(xp.exp(-xp.abs(xd)))
    rules = (_bce_dx, _bce_dt)
    loss = record("binary_cross_entropy_with_logits", data, x._backend, (x, t), rules, (x, t), broadcast=True)
    return _reduce(loss, reduction)


def _softplus(z: Tensor) -> Tensor:
    """``log(1 + exp(z))`` without overflow, as one node with the smooth slope ``sigmoid(z)`` (written as
    ``log1p(exp(-|z|)) + relu(z)`` the two kinks at 0 would give a slope of 0 there)."""
    xp = z._backend.xp
    zd = z._data
    data = xp.log1p(xp.exp(-xp.abs(zd))) + xp.maximum(zd, 0)
    return record("softplus", data, z._backend, (z,), (lambda g, z: g * ops.sigmoid(z),), (z,))


def _elementwise_weight(
    value: Any, name: str, x: Tensor, hint: str = "", op: str = "binary_cross_entropy_with_logits"
) -> Tensor:
    """A binary cross-entropy's ``weight`` or ``pos_weight``: on x's device, broadcasting to x."""
    w = value if isinstance(value, Tensor) else as_tensor(value, op, x._backend)
    if w._backend is not x._backend:
        raise DeviceError(f"{op}: {name} is on {w.device}, the input on {x.device}")
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's shape {x.shape}{hint}")
    return w


def _bce_dx(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    return g * (ops.sigmoid(x) - t)


def _bce_dt(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    return -g * x


# ------------------------------------------------------------------ more losses (PyTorch's numerics)
def _loss_pair(input: Any, target: Any, op: str, labels: bool = False) -> tuple[Tensor, Tensor]:
    """``_pair`` for the losses below: a float input, and a target of its dtype (a constant one is converted;
    with ``labels`` an integer or bool one too, as PyTorch's huber and smooth L1 losses take them; its
    binary_cross_entropy and kl_div refuse them, and so do these)."""
    x, t = _pair(input, target, op, labels)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}; convert with .astype()")
    if t.dtype != x.dtype:
        raise DTypeError(f"{op}: target ({t.dtype}) must have the input's dtype ({x.dtype}); convert with .astype()")
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, target on {t.device}; move them to one device")
    return x, t


def _kinked(d: Tensor, name: str, data: Any, c: float, s: float) -> Tensor:
    """Huber and smooth L1 of the difference ``d`` as one node: the slope is ``clip(d, -c, c) / s`` and its
    derivative ``1 / s`` strictly inside (-c, c), 0 at the kinks (PyTorch's)."""
    return record(name, data.astype(d.dtype, copy=False), d._backend, (d,), (_kinked_vjp,), (d, c, s))


def _kinked_vjp(g: Tensor, d: Tensor, c: float, s: float) -> Tensor:
    xp = d._backend.xp
    dd = d._data
    slope = (xp.clip(dd, -c, c) / s).astype(dd.dtype, copy=False)
    if not grad_mode.state.enabled:
        return _make(g._data * slope, g._backend)
    return g * ops.where(xp.abs(dd) < c, d / s, _make(slope, d._backend))


def huber_loss(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = input - target``.

    ``weight`` (PyTorch 2.x's; the input's shape) scales each element's loss before the reduction
    ("mean" is still the mean over the elements).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, weight = _autocast.to_float32("huber_loss", input, target, weight)  # noqa: A001
    _check_reduction(reduction, "huber_loss")
    delta = real(delta, "huber_loss", "delta", low=0.0, low_open=True)
    x, t = _loss_pair(input, target, "huber_loss", labels=True)
    if weight is not None:
        w = _elementwise_weight(weight, "weight", x, op="huber_loss")
        if w.shape != x.shape:
            raise ShapeError(f"huber_loss: weight of shape {w.shape} must have the input's shape {x.shape}")
        return _reduce(huber_loss(x, t, "none", delta) * w, reduction)
    d = x - t
    xp = d._backend.xp
    z = xp.abs(d._data)
    inside = z < delta
    small = xp.where(inside, z, 0)  # the unused branch is never squared: no overflow there
    data = xp.where(inside, 0.5 * small * small, delta * (z - 0.5 * delta))
    return _reduce(_kinked(d, "huber_loss", data, delta, 1.0), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:  # noqa: A002
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``, with ``d = input - target``.

    At ``beta=0`` it is ``l1_loss`` (as PyTorch).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("smooth_l1_loss", input, target)  # noqa: A001
    _check_reduction(reduction, "smooth_l1_loss")
    beta = real(beta, "smooth_l1_loss", "beta", low=0.0)
    x, t = _loss_pair(input, target, "smooth_l1_loss", labels=True)
    if beta == 0:
        return l1_loss(x, t, reduction)
    d = x - t
    xp = d._backend.xp
    z = xp.abs(d._data)
    inside = z < beta
    small = xp.where(inside, z, 0)
    data = xp.where(inside, 0.5 * small * small / beta, z - 0.5 * beta)
    return _reduce(_kinked(d, "smooth_l1_loss", data, beta, beta), reduction)


_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor for x (1 - x) in the gradient: a float constant


def _wide(a: Any) -> Any:
    """float16 arrays as float32 (PyTorch computes half losses in float): fewer roundings, no 1e-12 underflow."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _clamped_logs(xp: Any, x: Any) -> tuple[Any, Any]:
    """``max(log(x), -100)`` and ``max(log(1 - x), -100)`` (PyTorch's clamp), without log(0) warnings."""
    floor = xp.asarray(-100, dtype=x.dtype)
    pos, below_one = x > 0, x < 1
    log_x = xp.where(pos, xp.log(xp.where(pos, x, 1)), floor)
    log_1mx = xp.where(below_one, xp.log1p(-xp.where(below_one, x, 0)), floor)
    return xp.maximum(log_x, floor), xp.maximum(log_1mx, floor)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Binary cross-entropy of probabilities: ``-w (t log(x) + (1 - t) log(1 - x))``, one node.

    As PyTorch: each log is clamped at -100, so x = 0 or 1 gives a finite loss; every input must be
    in [0, 1] (checked: one host read); the input's gradient is
    ``(x - t) / max(x (1 - x), 1e-12)`` and the target's ``log(1 - x) - log(x)``. ``weight`` (third, as
    in PyTorch) broadcasts to the input's shape and scales each element's loss. For logits use
    ``binary_cross_entropy_with_logits``, which is stable without the clamps.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, weight = _autocast.to_float32("binary_cross_entropy", input, target, weight)  # noqa: A001
    op = "binary_cross_entropy"
    if isinstance(weight, str):
        raise ArgumentTypeError(
            f"{op}: weight must be a tensor or None, got str {weight!r:.20}; the third argument is weight, "
            "as in PyTorch: pass reduction= by name"
        )
    _check_reduction(reduction, op)
    x, t = _loss_pair(input, target, op)
    xp = x._backend.xp
    xd, td = x._data, t._data
    if host_read_allowed(xd) and xd.size and not bool(((xd >= 0) & (xd <= 1)).all()):
        raise InvalidArgumentError(
            f"{op}: every element of input must be a probability in [0, 1] (NaN is not); for logits use "
            "binary_cross_entropy_with_logits"
        )
    wx, wt = _wide(xd), _wide(td)
    log_x, log_1mx = _clamped_logs(xp, wx)
    data = ((wt - 1) * log_1mx - wt * log_x).astype(xd.dtype, copy=False)
    loss = record(op, data, x._backend, (x, t), (_bce_probs_dx, _bce_probs_dt), (x, t))
    if weight is not None:
        loss = loss * _elementwise_weight(weight, "weight", x, op=op)
    return _reduce(loss, reduction)


def _bce_probs_dx(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        xp = x._backend.xp
        wx = _wide(x._data)
        slope = (wx - _wide(t._data)) / xp.maximum((1 - wx) * wx, xp.asarray(_BCE_EPS, dtype=wx.dtype))
        return _make(_to_dtype(xp, g._data * slope, x.dtype), g._backend)
    return g * (x - t) / ops.clip((1 - x) * x, _floor(_BCE_EPS, x.dtype))


def _bce_probs_dt(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    xp = x._backend.xp
    xd = x._data
    pos, below_one = xd > 0, xd < 1
    inf = xp.asarray(np.inf, dtype=xd.dtype)
    log_x = xp.where(pos, xp.log(xp.where(pos, xd, 1)), -inf)
    log_1mx = xp.where(below_one, xp.log1p(-xp.where(below_one, xd, 0)), -inf)
    if not grad_mode.state.enabled:
        return _make(g._data * (log_1mx - log_x), g._backend)
    inside = pos & below_one  # the recorded form: differentiable where x is strictly inside (0, 1)
    safe = ops.where(inside, x, _make(xp.full_like(xd, 0.5), x._backend))
    logit = ops.where(inside, ops.log1p(-safe) - ops.log(safe), _make(log_1mx - log_x, x._backend))
    return g * logit


def _to_dtype(xp: Any, a: Any, dtype: Any) -> Any:
    """``a`` cast to ``dtype``; a float32 value beyond float16's range becomes +-inf without a cast warning."""
    if a.dtype == dtype:
        return a
    if dtype == np.float16:
        big = xp.abs(a) > np.finfo(np.float16).max
        a = xp.where(big, xp.copysign(xp.asarray(np.inf, dtype=a.dtype), a), a)
    return a.astype(dtype)


_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's KL divergence: ``target (log(target) - input)`` of log-probabilities ``input``.

    Per element ``xlogy(t, t) - t x`` (0 where t == 0, whatever the finite input), or with
    ``log_target=True`` ``exp(t) (t - x)``. ``reduction``: "mean" averages over every element and warns,
    as PyTorch does, that "batchmean" (the sum divided by the batch size, ``input.shape[0]``) is the
    KL divergence; also "sum" and "none". The target's gradient is ``log(t) + 1 - x``; at t == 0,
    where PyTorch's is 0/0 = NaN, it is ``1 - x`` (xlogy's log term taken as 0).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("kl_div", input, target)  # noqa: A001
    op = "kl_div"
    _check_reduction(reduction, op, _KL_REDUCTIONS)
    log_target = flag(log_target, op, "log_target")
    x, t = _loss_pair(input, target, op)
    if log_target:
        loss = ops.exp(t) * (t - x)
    else:
        xp = x._backend.xp
        xd, td = x._data, t._data
        pos = td > 0
        xlogy = xp.where(pos, td * xp.log(xp.where(pos, td, 1)), xp.where(td == 0, 0, np.nan).astype(td.dtype))
        data = (xlogy - td * xd).astype(xd.dtype, copy=False)
        loss = record(op, data, x._backend, (x, t), (_kl_dx, _kl_dt), (x, t))
    if reduction == "mean":
        _warn_at_caller(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the support size "
            "(as in PyTorch); 'batchmean' divides only by the batch size, and is the KL divergence"
        )
    if reduction == "batchmean":
        total = ops.sum(loss)
        return total / x.shape[0] if x.ndim else total
    return _reduce(loss, reduction)


def _kl_dx(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    if not grad_mode.state.enabled:
        return _make(-(g._data * t._data), g._backend)
    return -(g * t)


def _kl_dt(g: Tensor, x: Tensor, t: Tensor) -> Tensor:
    xp = t._backend.xp
    td = t._data
    pos = td > 0
    if not grad_mode.state.enabled:
        log_t = xp.where(pos, xp.log(xp.where(pos, td, 1)), 0)
        return _make(g._data * (log_t + 1 - x._data).astype(td.dtype, copy=False), g._backend)
    return g * (ops.log(ops.where(pos, t, 1.0)) + 1 - x)


def _warn_at_caller(message: str) -> None:
    """A UserWarning that points at the first line outside gradkit (the user's call, through modules too)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)


# ------------------------------------------------------------------ likelihood, margin and embedding losses
def _loss_target(target: Any, x: Tensor, op: str, broadcast: bool = False) -> Tensor:
    """``target`` for a float input ``x``: of x's shape (or, with ``broadcast``, broadcasting to it), device
    and dtype. Integer and bool targets (labels such as +-1 or 0/1, counts) and constants take x's dtype."""
    t = _target_tensor(target, x, op)
    fits = t.shape == x.shape or (broadcast and _broadcasts(t.shape, x.shape))
    if not fits:
        expected = "broadcast to" if broadcast else "have"
        raise ShapeError(f"{op}: target of shape {t.shape} must {expected} the input's shape {x.shape}")
    return _in_dtype_of(t, target, x, op)


def _target_tensor(target: Any, x: Tensor, op: str) -> Tensor:
    """``target`` as a Tensor (a constant made one on x's device), which must be on x's device."""
    t = target if isinstance(target, Tensor) else as_tensor(target, op, x._backend)
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, target on {t.device}; move them to one device")
    return t


def _in_dtype_of(t: Tensor, target: Any, x: Tensor, op: str, name: str = "target") -> Tensor:
    """:func:`_loss_target`'s dtype rule for ``t`` (made from ``target``): integer, bool and constant
    targets take x's dtype; a float tensor of another dtype is an error (naming ``name``)."""
    if t.dtype.kind in "biu" or (t is not target and t.dtype != x.dtype):
        return _make(t._data.astype(x.dtype), x._backend)
    if t.dtype != x.dtype:
        raise DTypeError(f"{op}: {name} ({t.dtype}) must have the input's dtype ({x.dtype}); convert with .astype()")
    return t


def _broadcasts(shape: tuple, to: tuple) -> bool:
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def _together(*shapes: tuple) -> bool:
    """Whether the shapes broadcast together."""
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _float_operands(op: str, **named: Any) -> list[Tensor]:
    """Float tensors of one dtype and device, named in errors as given (``input1``, ``anchor``, ...)."""
    like = next((v for v in named.values() if isinstance(v, Tensor)), None)
    ts = [_tensor(v, op, like) for v in named.values()]
    (first_name, *_), first = named, ts[0]
    for name, t in zip(named, ts, strict=True):
        if t.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.dtype}; convert with .astype()")
        if t._backend is not first._backend:
            raise DeviceError(f"{op}: {first_name} is on {first.device}, {name} on {t.device}; move them to one device")
        if t.dtype != first.dtype:
            raise DTypeError(f"{op}: {first_name} ({first.dtype}) and {name} ({t.dtype}) must have the same dtype; "
                             "convert with .astype()")
    return ts


def _labels(target: Any, x: Tensor, shape: tuple, op: str) -> Any:
    """Label targets (+-1) as a raw array of ``shape`` on x's device; they get no gradient (as PyTorch's)."""
    t = target if isinstance(target, Tensor) else as_tensor(target, op, x._backend)
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, target on {t.device}; move them to one device")
    if t.shape != shape:
        raise ShapeError(f"{op}: target of shape {t.shape} does not fit input of shape {x.shape} (expected {shape})")
    return t._data


def _hinge(z: Tensor) -> Tensor:
    """``max(z, 0)`` with PyTorch's ``clamp_min`` gradient: it passes at z == 0 too."""
    return ops.clip(z, 0.0)


def gaussian_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood: ``0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps))``.

    As PyTorch: ``var`` is a number or a tensor of the input's shape, of it without the last axis, or of
    it with one axis of size 1; every variance must be >= 0 (one host read on a GPU, skipped in a capture);
    the eps clamp passes var's gradient unchanged; ``full`` adds ``0.5 log(2 pi)``. ``target`` may broadcast
    to the input's shape.
    """
    op = "gaussian_nll_loss"
    _check_reduction(reduction, op)
    full = flag(full, op, "full")
    eps = real(eps, op, "eps", low=0.0)
    x = _float_input(input, op)
    t = _loss_target(target, x, op, broadcast=True)
    v = _clamp_min_straight(_variance(var, x, op), eps)
    d = x - t
    loss = (ops.log(v) + d * d / v) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def _variance(var: Any, x: Tensor, op: str) -> Tensor:
    """gaussian_nll_loss's ``var`` as a tensor that broadcasts to x (PyTorch's shapes), checked >= 0."""
    xp = x._backend.xp
    if isinstance(var, (int, float, np.integer, np.floating)) and not isinstance(var, (bool, np.bool_)):
        value = real(var, op, "var", low=0.0)
        return _make(xp.full(x.shape, value, dtype=x.dtype), x._backend)
    v = var if isinstance(var, Tensor) else as_tensor(var, op, x._backend)
    if v._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, var on {v.device}; move them to one device")
    if v is not var and v.dtype != x.dtype:  # a list or an array: a constant in x's dtype
        v = _make(v._data.astype(x.dtype), x._backend)
    if v.dtype != x.dtype:
        raise DTypeError(f"{op}: var ({v.dtype}) must have the input's dtype ({x.dtype}); convert with .astype()")
    if x.ndim and v.shape == x.shape[:-1]:  # one variance per row
        v = ops.unsqueeze(v, -1)
    elif v.shape != x.shape and not _one_axis_of_size_one(v.shape, x.shape):
        raise ShapeError(
            f"{op}: var of shape {v.shape} does not fit input of shape {x.shape} (expected the input's shape, "
            "its shape without the last axis, or its shape with one axis of size 1)"
        )
    if host_read_allowed(v._data) and v.size and bool((v._data < 0).any()):
        raise InvalidArgumentError(f"{op}: every element of var must be >= 0 (a variance)")
    return v


def _one_axis_of_size_one(shape: tuple, of: tuple) -> bool:
    """Whether ``shape`` is ``of`` with exactly one axis of size 1 instead (a variance shared along it)."""
    differ = [a for a, b in zip(shape, of, strict=True) if a != b] if len(shape) == len(of) else None
    return differ == [1]


def poisson_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target input`` (``log_input``), else
    ``input - target log(input + eps)``.

    ``full`` adds Stirling's ``t log(t) - t + 0.5 log(2 pi t)`` where the target t > 1, as PyTorch.
    Integer targets (counts) are taken in the input's dtype.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("poisson_nll_loss", input, target)  # noqa: A001
    op = "poisson_nll_loss"
    _check_reduction(reduction, op)
    log_input = flag(log_input, op, "log_input")
    full = flag(full, op, "full")
    eps = real(eps, op, "eps", low=0.0)
    x = _float_input(input, op)
    t = _loss_target(target, x, op)
    loss = ops.exp(x) - t * x if log_input else x - t * ops.log(x + eps)
    if full:
        above = t._data > 1
        safe = ops.where(above, t, 1.0)  # log(1) = 0: no log(0) and no 0/0 in the gradient below 1
        stirling = safe * ops.log(safe) - safe + ops.log(safe * (2 * math.pi)) * 0.5
        loss = loss + ops.where(above, stirling, 0.0)
    return _reduce(loss, reduction)


def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target (input1 - input2) + margin)``, for targets +-1 (which of the two should rank higher).

    As PyTorch: the three have one number of axes and broadcast together ("none" gives the broadcast
    shape). An integer target is taken in the inputs' dtype. As PyTorch's clamp, the gradient passes
    where the hinge is exactly 0.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input1, input2, target = _autocast.to_float32("margin_ranking_loss", input1, input2, target)
    op = "margin_ranking_loss"
    _check_reduction(reduction, op)
    margin = real(margin, op, "margin")
    a, b = _float_operands(op, input1=input1, input2=input2)
    t = target if isinstance(target, Tensor) else as_tensor(target, op, a._backend)
    if t._backend is not a._backend:
        raise DeviceError(f"{op}: input on {a.device}, target on {t.device}; move them to one device")
    if not a.ndim == b.ndim == t.ndim:
        raise ShapeError(
            f"{op}: input1 of shape {a.shape}, input2 of shape {b.shape} and target of shape {t.shape} must have "
            "one number of dimensions (they broadcast together)"
        )
    if not _together(a.shape, b.shape):
        raise ShapeError(f"{op}: input1 of shape {a.shape} and input2 of shape {b.shape} do not broadcast together")
    if not _together(a.shape, b.shape, t.shape):
        shape = np.broadcast_shapes(a.shape, b.shape)
        raise ShapeError(f"{op}: target of shape {t.shape} does not broadcast with the inputs' shape {shape}")
    t = _in_dtype_of(t, target, a, op)
    return _reduce(_hinge(-t * (a - b) + margin), reduction)


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:  # noqa: A002
    """``input`` where the target is 1 and ``max(0, margin - input)`` where it is -1 (PyTorch's formula: other
    target values get the sum of both). The target gets no gradient."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("hinge_embedding_loss", input, target)  # noqa: A001
    op = "hinge_embedding_loss"
    _check_reduction(reduction, op)
    margin = real(margin, op, "margin")
    x = _float_input(input, op)
    t = _labels(target, x, x.shape, op)
    return _reduce(ops.where(t != 1, _hinge(margin - x), 0.0) + ops.where(t != -1, x, 0.0), reduction)


def soft_margin_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Two-class logistic loss ``log(1 + exp(-target input))`` for targets +-1, finite for any finite input."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("soft_margin_loss", input, target)  # noqa: A001
    op = "soft_margin_loss"
    _check_reduction(reduction, op)
    x = _float_input(input, op)
    t = _loss_target(target, x, op)
    return _reduce(_softplus(-(t * x)), reduction)


_COSINE_EPS = 1e-12  # PyTorch's, added to each squared norm


def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(input1, input2)`` where the target is 1 and ``max(0, cos - margin)`` where it is -1 (0 for
    other values), with PyTorch's ``cos = <a, b> / sqrt((|a|^2 + 1e-12) (|b|^2 + 1e-12))``.

    Inputs (N, D) with targets (N,), or (D,) with a 0-d target; the target gets no gradient.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input1, input2, target = _autocast.to_float32("cosine_embedding_loss", input1, input2, target)
    op = "cosine_embedding_loss"
    _check_reduction(reduction, op)
    margin = real(margin, op, "margin")
    a, b = _float_operands(op, input1=input1, input2=input2)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ShapeError(
            f"{op}: input1 of shape {a.shape} and input2 of shape {b.shape} must have one shape, (N, D) or (D,)"
        )
    t = _labels(target, a, a.shape[:1] if a.ndim == 2 else (), op)
    axis = a.ndim - 1
    dot = ops.sum(a * b, axis)
    norms = (ops.sum(a * a, axis) + _COSINE_EPS) * (ops.sum(b * b, axis) + _COSINE_EPS)
    cos = dot / ops.sqrt(norms)
    loss = ops.where(t == 1, 1 - cos, 0.0) + ops.where(t == -1, _hinge(cos - margin), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with ``d = pairwise_distance(.., p, eps)``
    over the last axis; ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance (PyTorch's).

    The three have one number of axes and broadcast together; ``margin`` must be > 0.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        anchor, positive, negative = _autocast.to_float32("triplet_margin_loss", anchor, positive, negative)
    op = "triplet_margin_loss"
    _check_reduction(reduction, op)
    margin = real(margin, op, "margin", low=0.0, low_open=True)
    p = _norm_order(p, op)
    eps = real(eps, op, "eps")
    swap = flag(swap, op, "swap")
    a, pos, neg = _float_operands(op, anchor=anchor, positive=positive, negative=negative)
    shapes = f"anchor {a.shape}, positive {pos.shape} and negative {neg.shape}"
    if not a.ndim or not a.ndim == pos.ndim == neg.ndim:
        raise ShapeError(f"{op}: expected tensors with one number of dimensions (at least 1), got {shapes}")
    try:
        np.broadcast_shapes(a.shape, pos.shape, neg.shape)
    except ValueError:
        raise ShapeError(f"{op}: {shapes} do not broadcast together") from None
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _reduce(_hinge(margin + d_pos - d_neg), reduction)


def multilabel_soft_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Per-class logistic loss ``-(t logsigmoid(x) + (1 - t) logsigmoid(-x))``, averaged over the classes (the
    last axis): one value per sample. ``weight`` (third, as PyTorch; broadcast to the input) scales each class."""
    op = "multilabel_soft_margin_loss"
    if isinstance(weight, str):
        raise ArgumentTypeError(
            f"{op}: weight must be a tensor or None, got str {weight!r:.20}; the third argument is weight, "
            "as in PyTorch: pass reduction= by name"
        )
    _check_reduction(reduction, op)
    x = _float_input(input, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: input must have a class axis, shape (N, C) or (C,), got a 0-d tensor")
    t = _loss_target(target, x, op)
    loss = -(t * logsigmoid(x) + (1 - t) * logsigmoid(-x))
    if weight is not None:
        loss = loss * ops.astype(_elementwise_weight(weight, "weight", x, op=op), x.dtype)  # a list: float32
    return _reduce(ops.sum(loss, -1) / x.shape[-1], reduction)


def multi_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge loss of scores (N, C) (or (C,)) at integer class targets (N,) (or 0-d):
    ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C`` per sample, ``p`` 1 or 2 (PyTorch's).

    ``weight`` (one per class) gets no gradient; as PyTorch's kernel, a term exactly at the hinge adds
    no gradient.
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target, weight = _autocast.to_float32("multi_margin_loss", input, target, weight)  # noqa: A001
    op = "multi_margin_loss"
    _check_reduction(reduction, op)
    p = whole(p, op, "p")
    if p not in (1, 2):
        raise InvalidArgumentError(f"{op}: p must be 1 or 2, got {p}")
    margin = real(margin, op, "margin")
    x = _float_input(input, op)
    if x.ndim not in (1, 2):
        raise ShapeError(f"{op}: input must have shape (N, C) or (C,), got {x.shape}")
    scores = x if x.ndim == 2 else ops.reshape(x, (1, -1))
    t = _int_array(target, x._backend, op, "targets")
    n, c = scores.shape
    if t.shape != (n,) and not (x.ndim == 1 and t.shape == ()):
        expected = f"({n},)" if x.ndim == 2 else "() or (1,)"
        raise ShapeError(f"{op}: targets of shape {t.shape} do not fit input of shape {x.shape} (expected {expected})")
    rows = t.reshape(n)
    _check_range(rows, c, op, "target")
    w = _class_weight(weight, scores, op)
    xp = x._backend.xp
    picked = ops.getitem(scores, (xp.arange(n), rows))
    h = relu(margin - ops.reshape(picked, (n, 1)) + scores)  # gradient 0 at the hinge, as the kernel's
    if p == 2:
        h = h * h
    if w is not None:
        h = h * w._data[rows][:, None]
    others = rows[:, None] != xp.arange(c)
    loss = ops.sum(ops.where(others, h, 0.0), 1) / c
    return _reduce(loss if x.ndim == 2 else ops.reshape(loss, t.shape), reduction)


# ------------------------------------------------------------------ padding
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


_PAD_OPS = {"reflect": "reflection_pad", "replicate": "replication_pad"}  # (gk.autocast's names)


def pad(input: Any, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pad``: ``pad`` holds (before, after) pairs, the last axis's first, then the one
    before it, and so on (``(1, 2)`` pads the last axis by 1 before and 2 after; ``(1, 1, 2, 2)`` also
    the axis before it by 2). Negative widths remove elements.

    Modes: "constant" (``value``, 0 by default), "reflect" (mirrored, without repeating the edge: each
    width below the axis length), "replicate" (the edge value repeated) and "circular" (wrapped around:
    each width at most the axis length). Differentiable: the gradient of a copied element is summed
    back onto it. Unlike PyTorch, the modes other than "constant" take any number of leading axes
    (PyTorch's want a batch and a channel axis, or a channel axis, before the padded ones).
    """
    op = "pad"
    x = as_tensor(input, op)
    text(mode, op, "mode")
    if mode not in _PAD_MODES:
        raise InvalidArgumentError(f"{op}: unknown mode {mode!r}; expected one of {', '.join(_PAD_MODES)}")
    if isinstance(pad, (str, bytes, Tensor)) or not hasattr(pad, "__iter__"):
        raise ArgumentTypeError(f"{op}: pad must be a tuple of ints, got {type(pad).__name__} {pad!r:.60}")
    widths = list(pad)
    for w in widths:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer)):
            raise ArgumentTypeError(f"{op}: pad must be a tuple of ints, got {pad!r:.60}")
    if len(widths) % 2:
        raise ShapeError(f"{op}: pad must hold (before, after) pairs, got {len(widths)} values: {tuple(pad)!r:.60}")
    if len(widths) // 2 > x.ndim:
        raise ShapeError(
            f"{op}: pad {tuple(pad)!r:.60} pads {len(widths) // 2} axes, but the input has {x.ndim} (shape {x.shape})"
        )
    if value is not None and mode != "constant":
        raise InvalidArgumentError(f"{op}: mode {mode!r} takes no value (only 'constant' does), got value={value!r}")
    if value is None:
        value = 0
    elif isinstance(value, (str, bytes, complex)) or getattr(value, "size", 1) != 1:
        raise ArgumentTypeError(f"{op}: value must be a number, got {type(value).__name__} {value!r:.40}")
    pairs = {x.ndim - 1 - i: (int(widths[2 * i]), int(widths[2 * i + 1])) for i in range(len(widths) // 2)}
    if mode in ("reflect", "replicate"):
        if _autocast.active and (mode == "replicate" or len(pairs) < 3):  # gk.autocast: PyTorch's CPU float32
            (x,) = _autocast.to_float32(_PAD_OPS[mode], x)  # list: reflection_pad1d/2d, replication_pad1d/2d/3d
        return _pad_by_index(x, pairs, mode)
    crop = [slice(None)] * x.ndim
    grow = [(0, 0)] * x.ndim
    for axis, (lo, hi) in pairs.items():
        n = x.shape[axis]
        start, stop = max(-lo, 0), n - max(-hi, 0)
        if stop < start:
            raise ShapeError(f"{op}: pad ({lo}, {hi}) removes more than the {n} elements of axis {axis}")
        crop[axis] = slice(start, stop)
        grow[axis] = (max(lo, 0), max(hi, 0))
        if mode == "circular" and max(grow[axis]) > stop - start:
            raise InvalidArgumentError(
                f"{op}: circular pad ({lo}, {hi}) of axis {axis} wraps around more than once: each width must be "
                f"at most the axis length {stop - start}"
            )
    if any(s != slice(None) for s in crop):
        x = ops.getitem(x, tuple(crop))
    return ops.pad(x, grow, mode="wrap" if mode == "circular" else "constant", constant_values=value)


def _pad_by_index(x: Tensor, pairs: dict, mode: str) -> Tensor:
    """Reflect or replicate padding: output position j of an axis reads input position j - before,
    reflected or clamped into the axis (which also handles negative widths as PyTorch does)."""
    for axis, (lo, hi) in pairs.items():
        n = x.shape[axis]
        size = n + lo + hi
        if size < 0:
            raise ShapeError(f"pad: pad ({lo}, {hi}) removes more than the {n} elements of axis {axis}")
        if n == 0 and (lo or hi):
            raise ShapeError(f"pad: mode {mode!r} cannot pad axis {axis} of length 0 (shape {x.shape})")
        if mode == "reflect" and (lo >= n or hi >= n) and (lo > 0 or hi > 0):
            raise InvalidArgumentError(
                f"pad: reflect pad ({lo}, {hi}) of axis {axis}: each width must be less than the axis length {n}"
            )
        if lo == 0 and hi == 0:
            continue
        k = np.arange(size, dtype=np.int64) - lo
        if mode == "reflect":
            k = np.abs(k)
            k = np.where(k > n - 1, 2 * (n - 1) - k, k)
        else:
            k = np.clip(k, 0, n - 1)
        x = ops.getitem(x, (slice(None),) * axis + (k,))  # a host array: its bounds are checked on the host
    return x


# Attention is written in gradkit/nn/attention.py, which imports this module: imported last.
from gradkit.nn.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402

# The samplers, the extra losses, embedding_bag and the rest import this module too: imported last as well.
from gradkit.nn.embedding_bag import embedding_bag  # noqa: E402
from gradkit.nn.functional_extra import (  # noqa: E402
    celu_,
    elu_,
    gumbel_softmax,
    hardtanh_,
    leaky_relu_,
    relu_,
    rrelu_,
    selu_,
    threshold_,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from gradkit.nn.functional_extra import pdist as _pdist  # noqa: E402
from gradkit.nn.functional_fractional import (  # noqa: E402, F401  (re-exported: PyTorch's F names)
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
from gradkit.nn.loss_extra import ctc_loss, multilabel_margin_loss, triplet_margin_with_distance_loss  # noqa: E402
from gradkit.nn.sampling import affine_grid, grid_sample  # noqa: E402


def pdist(input: Any, p: float = 2) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pdist``: the p-norm distances between the rows of ``input`` (N, M), upper triangle, row by
    row (see ``gradkit.nn.functional_extra.pdist``); on ``gk.autocast``'s "cuda" float32 list."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (input,) = _autocast.to_float32("pdist", input)  # noqa: A001
    return _pdist(input, p)
