"""Fused CuPy kernels for the hot elementwise chains: one launch where the reference makes five to ten.

``gradkit.kernels`` calls the function of the same name here for CuPy
arrays; each takes the arguments of, writes the same arrays as, and returns
what its reference in ``gradkit.kernels.reference`` does (that module's
docstrings are the contract):

- ``sgd_momentum_update``, ``adam_update``, ``rmsprop_update``: one
  ``cupy.ElementwiseKernel`` per parameter, reading and writing the
  parameter and its state in place (Adam has a second kernel for a step
  count held on the device, which computes the bias corrections itself);
- ``bias_relu_forward`` (in place) and ``relu_backward``: one elementwise
  kernel each;
- ``cross_entropy_forward_backward``: one raw kernel (a warp per row: row
  max, sum of exponentials, gradient row and row loss, with warp shuffles)
  plus CuPy's sum for "mean" and "sum".

Scalars are passed as the arrays' dtype, as NumPy uses Python floats with a
float32 array, and each kernel evaluates the reference's expressions in the
reference's order, so fused and unfused results agree to float rounding (the
GPU may contract a multiply and an add into one FMA). float16 (and mixed
dtypes) use the reference. This module imports without CuPy; kernels are
built on first use. ``numpy_twin(name)`` returns a NumPy transcription of
each kernel's arithmetic, which the CPU tests compare with the reference;
``kernel_sources()`` gives the CUDA sources for compile checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit.kernels import reference

_FUSED = (np.dtype(np.float32), np.dtype(np.float64))

# ------------------------------------------------------------------ kernel sources
# name: (in_params, out_params, operation)
# ``maximize`` (an int32 flag in every optimiser kernel) negates the gradient first, as the reference.
_SGD_PLAIN = (
    "T grad, T lr, T wd, int32 has_wd, int32 maximize",
    "T param",
    """
    T g = maximize ? -grad : grad;
    T d = has_wd ? param * wd + g : g;
    param = param - lr * d;
    """,
)
_SGD_MOMENTUM = (
    "T grad, T lr, T momentum, T damp1, T wd, int32 has_wd, int32 nesterov, int32 first, int32 maximize",
    "T param, T buf",
    """
    T g = maximize ? -grad : grad;
    T d = has_wd ? param * wd + g : g;
    T b = first ? d : buf * momentum + damp1 * d;
    buf = b;
    T s = nesterov ? d + momentum * b : b;
    param = param - lr * s;
    """,
)
_ADAM_UPDATE = """
    T p = param;
    T g = maximize ? -grad : grad;
    if (mode == 2) p = p * decay;
    else if (mode == 1) g = g + wd * p;
    T m = exp_avg + (g - exp_avg) * beta1c;
    T v = exp_avg_sq * beta2 + (g * g) * beta2c;
    T denom = sqrt(v) / bc2_sqrt + eps;
    exp_avg = m;
    exp_avg_sq = v;
    param = p - (m / denom) * step_size;
    """
_ADAM = (
    "T grad, T decay, T wd, T beta1c, T beta2, T beta2c, T bc2_sqrt, T eps, T step_size, int32 mode, int32 maximize",
    "T param, T exp_avg, T exp_avg_sq",
    _ADAM_UPDATE,
)
# Capturable Adam: the step count is a 0-d float64 array on the device, and the bias corrections are
# computed from it in double precision, as the host computes them for an int step.
_ADAM_DEVICE_STEP = (
    "T grad, float64 step, float64 lr, float64 beta1, float64 beta2_d, T decay, T wd, T beta1c, T beta2, T beta2c, "
    "T eps, int32 mode, int32 maximize",
    "T param, T exp_avg, T exp_avg_sq",
    """
    T bc2_sqrt = (T)sqrt(1.0 - pow(beta2_d, step));
    T step_size = (T)(lr / (1.0 - pow(beta1, step)));
    """ + _ADAM_UPDATE,
)


def _rmsprop_source(centered: bool, momentum: bool) -> tuple[str, str, str]:
    ins = "T grad, T lr, T alpha, T alpha1, T eps, T wd, int32 has_wd, int32 maximize" + (
        ", T momentum" if momentum else ""
    )
    outs = "T param, T square_avg" + (", T grad_avg" if centered else "") + (", T momentum_buffer" if momentum else "")
    body = [
        "T g0 = maximize ? -grad : grad;",
        "T g = has_wd ? g0 + wd * param : g0;",
        "T sq = square_avg * alpha + (g * g) * alpha1;",
        "square_avg = sq;",
    ]
    if centered:
        body += ["T ga = grad_avg + (g - grad_avg) * alpha1;", "grad_avg = ga;", "T avg = sqrt(sq - ga * ga) + eps;"]
    else:
        body += ["T avg = sqrt(sq) + eps;"]
    body += ["T u = g / avg;"]
    if momentum:
        body += ["T mb = momentum_buffer * momentum + u;", "momentum_buffer = mb;", "param = param - mb * lr;"]
    else:
        body += ["param = param - u * lr;"]
    return ins, outs, "\n".join(body)


_BIAS_RELU = ("T b", "T y", "T s = y + b;\ny = (s >= (T)0 || s != s) ? s : (T)0;")
_RELU = ("", "T y", "y = (y >= (T)0 || y != y) ? y : (T)0;")
_RELU_BACKWARD = ("T grad, T y", "T out", "out = grad * (T)(y > (T)0);")

_XENT_SOURCE = r"""
__device__ __forceinline__ float gk_exp(float x) { return expf(x); }
__device__ __forceinline__ double gk_exp(double x) { return exp(x); }
__device__ __forceinline__ float gk_log(float x) { return logf(x); }
__device__ __forceinline__ double gk_log(double x) { return log(x); }

/* One warp per row of logits (n rows of c classes, C order): the row maximum, the sum of
   exp(x - max), the gradient row (softmax - one_hot) * scale and the row loss
   log(sum) + max - x[target]. blockDim.x must be a multiple of 32. */
template <typename T, typename I>
__global__ void gk_xent_rows(const T* __restrict__ logits, const I* __restrict__ targets,
                             T* __restrict__ dlogits, T* __restrict__ losses,
                             long long n, long long c, T scale) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= n) return;  /* a whole warp leaves together: one row per warp */
    const T* x = logits + row * c;
    T* d = dlogits + row * c;
    T m = x[0];
    for (long long j = lane; j < c; j += 32) {
        T v = x[j];
        m = v > m ? v : m;
    }
    for (int off = 16; off > 0; off >>= 1) {
        T o = __shfl_xor_sync(0xffffffffu, m, off);
        m = o > m ? o : m;
    }
    T s = 0;
    for (long long j = lane; j < c; j += 32) s += gk_exp(x[j] - m);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    long long t = (long long)targets[row];
    for (long long j = lane; j < c; j += 32) {
        T p = gk_exp(x[j] - m) / s;
        if (j == t) p -= (T)1;
        d[j] = p * scale;
    }
    if (lane == 0) losses[row] = gk_log(s) - (x[t] - m);  // the reference's order: x[t] - m is exact at the max
}
"""
_XENT_NAMES = {
    (np.dtype(np.float32), np.dtype(np.int64)): "gk_xent_rows<float, long long>",
    (np.dtype(np.float32), np.dtype(np.int32)): "gk_xent_rows<float, int>",
    (np.dtype(np.float64), np.dtype(np.int64)): "gk_xent_rows<double, long long>",
    (np.dtype(np.float64), np.dtype(np.int32)): "gk_xent_rows<double, int>",
}
_XENT_THREADS = 128  # 4 warps, 4 rows per block


def kernel_sources() -> dict[str, tuple[str, str, str]]:
    """``{kernel name: (in_params, out_params, operation)}`` of every elementwise kernel here."""
    out = {
        "gk_sgd": _SGD_PLAIN,
        "gk_sgd_momentum": _SGD_MOMENTUM,
        "gk_adam": _ADAM,
        "gk_adam_device_step": _ADAM_DEVICE_STEP,
        "gk_bias_relu": _BIAS_RELU,
        "gk_relu": _RELU,
        "gk_relu_backward": _RELU_BACKWARD,
    }
    for centered in (False, True):
        for momentum in (False, True):
            out[_rmsprop_name(centered, momentum)] = _rmsprop_source(centered, momentum)
    return out


def raw_module_source() -> tuple[str, tuple[str, ...]]:
    """The cross-entropy module's CUDA source and its template instantiations."""
    return _XENT_SOURCE, tuple(_XENT_NAMES.values())


def _rmsprop_name(centered: bool, momentum: bool) -> str:
    return "gk_rmsprop" + ("_centered" if centered else "") + ("_momentum" if momentum else "")


# ------------------------------------------------------------------ building
_built: dict[str, Any] = {}


def _cupy() -> Any:
    from gradkit.backends.cupy_backend import import_cupy

    return import_cupy()


def _kernel(name: str) -> Any:
    k = _built.get(name)
    if k is None:
        ins, outs, op = kernel_sources()[name]
        k = _cupy().ElementwiseKernel(ins, outs, op, name, no_return=True)
        _built[name] = k
    return k


def _xent_function(dtype: np.dtype, index_dtype: np.dtype) -> Any:
    cp = _cupy()
    key = ("gk_xent", dtype, index_dtype, cp.cuda.Device().id)
    kern = _built.get(key)
    if kern is None:  # get_function builds a new kernel object (and asks the driver) on every call: keep it
        mod = _built.get("gk_xent_module")
        if mod is None:
            names = tuple(_XENT_NAMES.values())
            mod = cp.RawModule(code=_XENT_SOURCE, options=("--std=c++11",), name_expressions=names)
            _built["gk_xent_module"] = mod
        kern = _built[key] = mod.get_function(_XENT_NAMES[(dtype, index_dtype)])
    return kern


def _fusable(*arrays: Any) -> bool:
    """All arrays present share one float32/float64 dtype (else the reference runs)."""
    dtype = arrays[0].dtype
    return dtype in _FUSED and all(a is None or a.dtype == dtype for a in arrays)


# ------------------------------------------------------------------ optimisers
def sgd_momentum_update(
    param: Any,
    grad: Any,
    buf: Any,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    first_step: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """Fused :func:`gradkit.kernels.reference.sgd_momentum_update`: one kernel per parameter."""
    if not _fusable(param, grad, buf):
        reference.sgd_momentum_update(
            param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step, scratch, maximize
        )
        return
    t = param.dtype.type
    has_wd = np.int32(weight_decay != 0)
    flip = np.int32(bool(maximize))
    if momentum != 0:
        _kernel("gk_sgd_momentum")(
            grad, t(lr), t(momentum), t(1 - dampening), t(weight_decay), has_wd,
            np.int32(bool(nesterov)), np.int32(bool(first_step)), flip, param, buf,
        )  # fmt: skip
    else:
        _kernel("gk_sgd")(grad, t(lr), t(weight_decay), has_wd, flip, param)


def adam_update(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: Any,
    decoupled: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """Fused :func:`gradkit.kernels.reference.adam_update` (Adam and AdamW): one kernel per parameter."""
    if not _fusable(param, grad, exp_avg, exp_avg_sq):
        reference.adam_update(
            param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch, maximize
        )
        return
    t = param.dtype.type
    mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    flip = np.int32(bool(maximize))
    if not isinstance(step, (int, np.integer)):  # a device array: capturable Adam
        _kernel("gk_adam_device_step")(
            grad, step, float(lr), float(beta1), float(beta2), t(1 - lr * weight_decay), t(weight_decay),
            t(1 - beta1), t(beta2), t(1 - beta2), t(eps), np.int32(mode), flip,
            param, exp_avg, exp_avg_sq,
        )  # fmt: skip
        return
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    _kernel("gk_adam")(
        grad, t(1 - lr * weight_decay), t(weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
        t(bias_correction2_sqrt), t(eps), t(lr / bias_correction1), np.int32(mode), flip,
        param, exp_avg, exp_avg_sq,
    )  # fmt: skip


def rmsprop_update(
    param: Any,
    grad: Any,
    square_avg: Any,
    grad_avg: Any,
    momentum_buffer: Any,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """Fused :func:`gradkit.kernels.reference.rmsprop_update`: one kernel per parameter."""
    centered = bool(centered)
    with_momentum = momentum > 0
    if not _fusable(
        param, grad, square_avg, grad_avg if centered else None, momentum_buffer if with_momentum else None
    ):
        reference.rmsprop_update(
            param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered,
            scratch, maximize,
        )  # fmt: skip
        return
    t = param.dtype.type
    args = [grad, t(lr), t(alpha), t(1 - alpha), t(eps), t(weight_decay), np.int32(weight_decay != 0),
            np.int32(bool(maximize))]  # fmt: skip
    if with_momentum:
        args.append(t(momentum))
    args += [param, square_avg]
    if centered:
        args.append(grad_avg)
    if with_momentum:
        args.append(momentum_buffer)
    _kernel(_rmsprop_name(centered, with_momentum))(*args)


# ------------------------------------------------------------------ layers
def bias_relu_forward(y: Any, b: Any) -> Any:
    """Fused :func:`gradkit.kernels.reference.bias_relu_forward`: ``y = max(y + b, 0)`` in one pass."""
    if not _fusable(y, b):
        return reference.bias_relu_forward(y, b)
    if b is None:
        _kernel("gk_relu")(y)
    else:
        _kernel("gk_bias_relu")(b, y)
    return y


def relu_backward(grad: Any, y: Any, out: Any = None) -> Any:
    """Fused :func:`gradkit.kernels.reference.relu_backward`: ``grad * (y > 0)``, new or into ``out``."""
    if not _fusable(grad, y) or grad.shape != y.shape or out is not None:
        return reference.relu_backward(grad, y, out)
    out = _cupy().empty(grad.shape, dtype=grad.dtype)
    _kernel("gk_relu_backward")(grad, y, out)
    return out


def cross_entropy_forward_backward(logits: Any, targets: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """Fused :func:`gradkit.kernels.reference.cross_entropy_forward_backward`: one kernel for all rows."""
    n = logits.shape[0] if logits.ndim == 2 else 0
    c = logits.shape[1] if logits.ndim == 2 else 0
    if logits.dtype not in _FUSED or n == 0 or c == 0 or targets.ndim != 1 or targets.dtype.kind not in "iu":
        return reference.cross_entropy_forward_backward(logits, targets, reduction)
    cp = _cupy()
    x = cp.ascontiguousarray(logits)
    t = targets if targets.dtype in (np.int64, np.int32) else targets.astype(np.int64)
    t = cp.ascontiguousarray(t)
    dlogits = cp.empty((n, c), dtype=x.dtype)
    losses = cp.empty((n,), dtype=x.dtype)
    scale = x.dtype.type(1 / n if reduction == "mean" else 1)
    kern = _xent_function(x.dtype, t.dtype)
    rows_per_block = _XENT_THREADS // 32
    blocks = (n + rows_per_block - 1) // rows_per_block
    kern((blocks,), (_XENT_THREADS,), (x, t, dlogits, losses, np.int64(n), np.int64(c), scale))
    if reduction == "mean":
        loss = losses.sum() / n
    elif reduction == "sum":
        loss = losses.sum()
    else:
        loss = losses
    return loss, dlogits


# ------------------------------------------------------------------ NumPy twins (for the CPU tests)
def _np_sgd(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step, scratch=None,  # noqa: ANN001, ANN202
            maximize=False):
    t = param.dtype.type
    g = -grad if maximize else grad
    d = param * t(weight_decay) + g if weight_decay != 0 else g
    if momentum != 0:
        b = d if first_step else buf * t(momentum) + t(1 - dampening) * d
        buf[...] = b
        s = d + t(momentum) * b if nesterov else b
    else:
        s = d
    param[...] = param - t(lr) * s


def _np_adam(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch=None,  # noqa: ANN001, ANN202
             maximize=False):
    t = param.dtype.type
    p, g = param.copy(), -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            p = p * t(1 - lr * weight_decay)
        else:
            g = g + t(weight_decay) * p
    m = exp_avg + (g - exp_avg) * t(1 - beta1)
    v = exp_avg_sq * t(beta2) + (g * g) * t(1 - beta2)
    denom = np.sqrt(v) / t(math.sqrt(1 - beta2**step)) + t(eps)
    exp_avg[...] = m
    exp_avg_sq[...] = v
    param[...] = p - (m / denom) * t(lr / (1 - beta1**step))


def _np_rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered,  # noqa: ANN001, ANN202
                scratch=None, maximize=False):
    t = param.dtype.type
    g0 = -grad if maximize else grad
    g = g0 + t(weight_decay) * param if weight_decay != 0 else g0
    sq = square_avg * t(alpha) + (g * g) * t(1 - alpha)
    square_avg[...] = sq
    if centered:
        ga = grad_avg + (g - grad_avg) * t(1 - alpha)
        grad_avg[...] = ga
        avg = np.sqrt(sq - ga * ga) + t(eps)
    else:
        avg = np.sqrt(sq) + t(eps)
    u = g / avg
    if momentum > 0:
        mb = momentum_buffer * t(momentum) + u
        momentum_buffer[...] = mb
        param[...] = param - mb * t(lr)
    else:
        param[...] = param - u * t(lr)


def _np_bias_relu(y, b):  # noqa: ANN001, ANN202
    s = y + b if b is not None else y.copy()
    y[...] = np.where((s >= 0) | (s != s), s, y.dtype.type(0))
    return y


def _np_relu_backward(grad, y, out=None):  # noqa: ANN001, ANN202
    return np.multiply(grad, (y > 0).astype(grad.dtype), out=out)


def _np_cross_entropy(logits, targets, reduction="mean"):  # noqa: ANN001, ANN202
    t = logits.dtype.type
    n = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    s = np.exp(logits - m).sum(axis=1, keepdims=True)
    p = np.exp(logits - m) / s
    p[np.arange(n), targets] -= t(1)
    d = p * t(1 / n if reduction == "mean" else 1)
    losses = np.log(s[:, 0]) - (logits[np.arange(n), targets] - m[:, 0])
    loss = losses.sum() / n if reduction == "mean" else losses.sum() if reduction == "sum" else losses
    return np.asarray(loss, dtype=logits.dtype), d


_TWINS: dict[str, Callable[..., Any]] = {
    "sgd_momentum_update": _np_sgd,
    "adam_update": _np_adam,
    "rmsprop_update": _np_rmsprop,
    "bias_relu_forward": _np_bias_relu,
    "relu_backward": _np_relu_backward,
    "cross_entropy_forward_backward": _np_cross_entropy,
}


def numpy_twin(name: str) -> Callable[..., Any]:
    """The NumPy transcription of the fused kernel ``name`` (same signature, same in-place writes)."""
    return _TWINS[name]
