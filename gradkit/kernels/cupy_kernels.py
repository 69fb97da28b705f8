"""Fused CuPy kernels for the hot elementwise chains: one launch where the reference makes five to ten.

``gradkit.kernels`` calls the function of the same name here for CuPy
arrays; each takes the arguments of, writes the same arrays as, and returns
what its reference in ``gradkit.kernels.reference`` does (that module's
docstrings are the contract):

- ``sgd_momentum_update``, ``adam_update``, ``rmsprop_update``: one kernel
  per parameter, reading and writing the parameter and its state in place
  (Adam has a second kernel for a step count held on the device, which
  computes the bias corrections itself; AMSGrad runs the reference);
- ``bias_forward``, ``bias_relu_forward`` (in place) and ``relu_backward``:
  one kernel each;
- each of those elementwise kernels is written once (``kernel_sources``) and
  runs as a raw kernel generated from it when its arrays are C-contiguous
  and of one shape (``_launch``; a raw launch costs the host a third of an
  ElementwiseKernel call), else as a ``cupy.ElementwiseKernel``;
- ``cross_entropy_checked_on_device``: a warp per row (row max, sum of
  exponentials, gradient row, row loss, the target checked on the device)
  and one block for the mean; ``scale_rows`` and ``column_sum`` (small
  batches) in the same module; ``cross_entropy_forward_backward``: the
  unchecked row kernel plus CuPy's sum.

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
import threading
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


_BIAS = ("T b", "T y", "y = y + b;")
_BIAS_RELU = ("T b", "T y", "T s = y + b;\ny = (s >= (T)0 || s != s) ? s : (T)0;")
_RELU = ("", "T y", "y = (y >= (T)0 || y != y) ? y : (T)0;")
_RELU_BACKWARD = ("T grad, T y", "T out", "out = grad * (T)(y != (T)0);")  # y >= 0 or NaN: NaN passes, as PyTorch

_XENT_SOURCE = r"""
__device__ __forceinline__ float gk_exp(float x) { return expf(x); }
__device__ __forceinline__ double gk_exp(double x) { return exp(x); }
__device__ __forceinline__ float gk_log(float x) { return logf(x); }
__device__ __forceinline__ double gk_log(double x) { return log(x); }

/* The maximum m of a row of c logits and the sum s of exp(x - m), reduced across the 32 lanes of
   the warp that owns the row: every lane ends with both. */
template <typename T>
__device__ __forceinline__ void gk_row_max_sum(const T* __restrict__ x, long long c, int lane, T& m, T& s) {
    m = x[0];
    for (long long j = lane; j < c; j += 32) {
        T v = x[j];
        m = v > m ? v : m;
    }
    for (int off = 16; off > 0; off >>= 1) {
        T o = __shfl_xor_sync(0xffffffffu, m, off);
        m = o > m ? o : m;
    }
    s = 0;
    for (long long j = lane; j < c; j += 32) s += gk_exp(x[j] - m);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
}

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
    T m, s;
    gk_row_max_sum(x, c, lane, m, s);
    long long t = (long long)targets[row];
    for (long long j = lane; j < c; j += 32) {
        T p = gk_exp(x[j] - m) / s;
        if (j == t) p -= (T)1;
        d[j] = p * scale;
    }
    if (lane == 0) losses[row] = gk_log(s) - (x[t] - m);  // the reference's order: x[t] - m is exact at the max
}

template <typename T> __device__ __forceinline__ T gk_nan();
template <> __device__ __forceinline__ float gk_nan<float>() { return __int_as_float(0x7fffffff); }
template <> __device__ __forceinline__ double gk_nan<double>() { return __longlong_as_double(0x7ff8000000000000LL); }

/* gk_xent_rows with the targets checked here, so that the host need not read them. A row whose
   target equals ignore_index gets a zero loss and gradient and kept = 0. A target outside [0, c)
   makes its row's loss NaN (so the call's loss is NaN), gives the row a zero gradient (an optimiser
   step taken before the error is seen does not spread NaN into the parameters) and is reported to
   the host: its value and c go to the pinned host words at `report`, then the flag (report[0] = 1).
   The gradient is not scaled here (gk_xent_finish computes the factor). */
template <typename T, typename I>
__global__ void gk_xent_checked(const T* __restrict__ logits, const I* __restrict__ targets,
                                T* __restrict__ dlogits, T* __restrict__ losses, T* __restrict__ kept,
                                long long n, long long c, long long ignore_index, unsigned long long report) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= n) return;
    const T* x = logits + row * c;
    T* d = dlogits + row * c;
    long long t = (long long)targets[row];
    if (t == ignore_index || t < 0 || t >= c) {
        bool ignored = t == ignore_index;
        for (long long j = lane; j < c; j += 32) d[j] = (T)0;
        if (lane == 0) {
            losses[row] = ignored ? (T)0 : gk_nan<T>();
            kept[row] = ignored ? (T)0 : (T)1;
            if (!ignored) {
                volatile long long* words = (volatile long long*)report;
                words[1] = t;
                words[2] = c;
                __threadfence_system();
                words[0] = 1;
            }
        }
        return;
    }
    T m, s;
    gk_row_max_sum(x, c, lane, m, s);
    for (long long j = lane; j < c; j += 32) {
        T p = gk_exp(x[j] - m) / s;
        if (j == t) p -= (T)1;
        d[j] = p;
    }
    if (lane == 0) {
        losses[row] = gk_log(s) - (x[t] - m);
        kept[row] = (T)1;
    }
}

/* One block of 256 threads: out[0] = the sum of the row losses, divided by the rows kept when
   `mean` (NaN when none is kept, as PyTorch); out[1] = the gradient's factor (1 / rows kept when `mean`,
   0 when none is kept so that the gradient is zero, not 0 * inf; else 1). */
template <typename T>
__global__ void gk_xent_finish(const T* __restrict__ losses, const T* __restrict__ kept, T* __restrict__ out,
                               long long n, int mean) {
    __shared__ T ls[256];
    __shared__ T ks[256];
    T a = 0, b = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        a += losses[i];
        b += kept[i];
    }
    ls[threadIdx.x] = a;
    ks[threadIdx.x] = b;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) {
            ls[threadIdx.x] += ls[threadIdx.x + half];
            ks[threadIdx.x] += ks[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[0] = mean ? ls[0] / ks[0] : ls[0];
        out[1] = mean ? (ks[0] != (T)0 ? (T)1 / ks[0] : (T)0) : (T)1;  // none kept: a zero gradient, not 0 * inf
    }
}

/* out = d * (g[0] * scale[0]): a cross-entropy gradient times the incoming gradient and its factor. */
template <typename T>
__global__ void gk_scale_rows(const T* __restrict__ d, const T* __restrict__ g, const T* __restrict__ scale,
                              T* __restrict__ out, long long n) {
    T f = g[0] * scale[0];
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = d[i] * f;
}

/* out[j] = the sum of column j of the (rows, cols) C-order g: one thread per column, rows in order. */
template <typename T>
__global__ void gk_column_sum(const T* __restrict__ g, T* __restrict__ out, long long rows, long long cols) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    T s = 0;
    for (long long i = 0; i < rows; ++i) s += g[i * cols + j];
    out[j] = s;
}
"""
_XENT_NAMES = {
    (np.dtype(np.float32), np.dtype(np.int64)): "gk_xent_rows<float, long long>",
    (np.dtype(np.float32), np.dtype(np.int32)): "gk_xent_rows<float, int>",
    (np.dtype(np.float64), np.dtype(np.int64)): "gk_xent_rows<double, long long>",
    (np.dtype(np.float64), np.dtype(np.int32)): "gk_xent_rows<double, int>",
}
_XENT_THREADS = 128  # 4 warps, 4 rows per block
_FLOATS = ((np.dtype(np.float32), "float"), (np.dtype(np.float64), "double"))
_INDICES = ((np.dtype(np.int64), "long long"), (np.dtype(np.int32), "int"))
_XENT_OTHERS = {  # the module's other kernels, by (kernel, dtype[, index dtype])
    ("gk_xent_checked", t, i): f"gk_xent_checked<{ct}, {ci}>" for t, ct in _FLOATS for i, ci in _INDICES
}
for _name in ("gk_xent_finish", "gk_scale_rows", "gk_column_sum"):
    _XENT_OTHERS.update({(_name, t): f"{_name}<{ct}>" for t, ct in _FLOATS})
_COLUMN_SUM_MAX_ROWS = 256  # one thread per column adds the rows in turn: fast for small batches only


def kernel_sources() -> dict[str, tuple[str, str, str]]:
    """``{kernel name: (in_params, out_params, operation)}`` of every elementwise kernel here."""
    out = {
        "gk_sgd": _SGD_PLAIN,
        "gk_sgd_momentum": _SGD_MOMENTUM,
        "gk_adam": _ADAM,
        "gk_adam_device_step": _ADAM_DEVICE_STEP,
        "gk_bias": _BIAS,
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
    return _XENT_SOURCE, tuple(_XENT_NAMES.values()) + tuple(_XENT_OTHERS.values())


def _rmsprop_name(centered: bool, momentum: bool) -> str:
    return "gk_rmsprop" + ("_centered" if centered else "") + ("_momentum" if momentum else "")


# ------------------------------------------------------------------ building
_built: dict[str, Any] = {}


def _cupy() -> Any:
    from gradkit.backends.cupy_backend import import_cupy

    return import_cupy()


def _current_device() -> int:
    return _cupy().cuda.runtime.getDevice()


def _kernel(name: str) -> Any:
    k = _built.get(name)
    if k is None:
        ins, outs, op = kernel_sources()[name]
        k = _cupy().ElementwiseKernel(ins, outs, op, name, no_return=True)
        _built[name] = k
    return k


def _xent_function(dtype: np.dtype, index_dtype: np.dtype) -> Any:
    return _module_function((dtype, index_dtype), _XENT_NAMES)


def _module_function(key: tuple, names: dict) -> Any:
    """A kernel of the cross-entropy module (``names[key]``) on the current device."""
    cp = _cupy()
    full = (*key, _current_device())
    kern = _built.get(full)
    if kern is None:  # get_function builds a new kernel object (and asks the driver) on every call: keep it
        mod = _built.get("gk_xent_module")
        if mod is None:
            code, expressions = raw_module_source()
            mod = cp.RawModule(code=code, options=("--std=c++11",), name_expressions=expressions)
            _built["gk_xent_module"] = mod
        kern = _built[full] = mod.get_function(names[key])
    return kern


# ------------------------------------------------------------------ raw launches
# A call of a cupy.ElementwiseKernel costs about 16 µs of host time (type resolution, broadcasting,
# argument checks), a cupy.RawKernel call about 5 µs (measured on an H100 machine, 2026-11-28). In a
# small training step the host is the bottleneck, so when every array is C-contiguous and of one
# size (the usual case) each elementwise kernel runs as a raw kernel generated from the same source:
# one thread per element, the outputs written back after ``operation``. Otherwise CuPy's
# ElementwiseKernel runs it, with its broadcasting and strides.
_ROW = "b"  # the bias: one value per column of y, broadcast over the rows
_DEVICE_SCALAR = "step"  # capturable Adam's step count: a 0-d array read by every element
_ARRAY_PARAMS = frozenset(
    {"grad", "param", "buf", "exp_avg", "exp_avg_sq", "square_avg", "grad_avg", "momentum_buffer", "y", "out",
     _ROW, _DEVICE_SCALAR}
)  # fmt: skip
_C_TYPES = {"T": "T", "int32": "int", "float64": "double"}
_RAW_THREADS = 256
_RAW_MAX_BLOCKS = 1 << 20  # a grid-stride loop covers larger arrays


def _params(text: str) -> list[tuple[str, str]]:
    """``"T grad, int32 flag"`` -> ``[("T", "grad"), ("int32", "flag")]``."""
    return [tuple(p.split()) for p in text.split(",") if p.strip()]  # type: ignore[misc]


def raw_elementwise_source(name: str) -> str:
    """The CUDA source of the raw version of elementwise kernel ``name`` (a template on T)."""
    ins, outs, op = kernel_sources()[name]
    decls, loads, stores = [], [], []
    for kind, params in (("in", _params(ins)), ("out", _params(outs))):
        for ty, pname in params:
            cty = _C_TYPES[ty]
            if pname not in _ARRAY_PARAMS:
                decls.append(f"{cty} {pname}")
                continue
            const = "const " if kind == "in" else ""
            decls.append(f"{const}{cty}* {pname}_")
            index = "i % cols" if pname == _ROW else "0" if pname == _DEVICE_SCALAR else "i"
            if kind == "in":
                loads.append(f"const {cty} {pname} = {pname}_[{index}];")
            else:
                loads.append(f"{cty} {pname}" + (";" if pname == "out" else f" = {pname}_[i];"))
                stores.append(f"{pname}_[i] = {pname};")
    lines = loads + [ln.strip() for ln in op.strip().splitlines() if ln.strip()] + stores
    body = "\n        ".join(lines)
    return (
        f"template <typename T>\n__global__ void {name}_raw({', '.join(decls)}, long long n, long long cols) {{\n"
        "    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;\n"
        "         i += (long long)gridDim.x * blockDim.x) {\n"
        f"        {body}\n    }}\n}}\n"
    )


_RAW_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _raw_module() -> Any:
    mod = _built.get("gk_raw_module")
    if mod is None:
        names = list(kernel_sources())
        code = "\n".join(raw_elementwise_source(n) for n in names)
        expressions = tuple(f"{n}_raw<{t}>" for n in names for t in _RAW_TYPES.values())
        mod = _built["gk_raw_module"] = _cupy().RawModule(code=code, options=("--std=c++11",),
                                                          name_expressions=expressions)  # fmt: skip
    return mod


def _raw_plan(name: str) -> tuple[tuple[int, ...], int | None, int | None, tuple[Any, ...]]:
    """(positions of the per-element arrays, of the row array, of the device scalar, a converter per argument)."""
    plan = _built.get(("plan", name))
    if plan is None:
        ins, outs, _ = kernel_sources()[name]
        params = _params(ins) + _params(outs)
        elements = tuple(k for k, (_, p) in enumerate(params) if p in _ARRAY_PARAMS and p not in (_ROW, _DEVICE_SCALAR))
        row = next((k for k, (_, p) in enumerate(params) if p == _ROW), None)
        scalar = next((k for k, (_, p) in enumerate(params) if p == _DEVICE_SCALAR), None)
        convert = tuple(None if p in _ARRAY_PARAMS else {"int32": np.int32, "float64": np.float64}.get(ty, "T")
                        for ty, p in params)  # fmt: skip
        plan = _built[("plan", name)] = (elements, row, scalar, convert)
    return plan


def _launch(name: str, *args: Any) -> None:
    """Run elementwise kernel ``name`` on ``args`` (its in_params then out_params): raw when it can."""
    elements, row, scalar, convert = _raw_plan(name)
    first = args[elements[0]]
    n = first.size
    cols = 1
    shape = first.shape
    raw = all(args[k].shape == shape and args[k].flags.c_contiguous for k in elements)
    if raw and row is not None:
        b = args[row]
        cols = first.shape[-1] if first.ndim else 1
        raw = b.ndim == 1 and b.size == cols and b.flags.c_contiguous
    if raw and scalar is not None:
        raw = args[scalar].size == 1
    if not raw:
        _kernel(name)(*args)
        return
    if n == 0:
        return
    dtype = first.dtype
    key = (name, dtype, _current_device())  # a module's functions belong to the device current at loading
    fn = _built.get(key)
    if fn is None:
        fn = _built[key] = _raw_module().get_function(f"{name}_raw<{_RAW_TYPES[dtype]}>")
    t = dtype.type
    values = tuple(a if c is None else t(a) if c == "T" else c(a) for a, c in zip(args, convert, strict=True))
    blocks = min((n + _RAW_THREADS - 1) // _RAW_THREADS, _RAW_MAX_BLOCKS)
    fn((blocks,), (_RAW_THREADS,), (*values, np.int64(n), np.int64(cols)))


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
        _launch(
            "gk_sgd_momentum", grad, t(lr), t(momentum), t(1 - dampening), t(weight_decay), has_wd,
            np.int32(bool(nesterov)), np.int32(bool(first_step)), flip, param, buf,
        )  # fmt: skip
    else:
        _launch("gk_sgd", grad, t(lr), t(weight_decay), has_wd, flip, param)


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
    max_exp_avg_sq: Any = None,
) -> None:
    """Fused :func:`gradkit.kernels.reference.adam_update` (Adam and AdamW): one kernel per parameter.

    AMSGrad (``max_exp_avg_sq`` given) runs the reference, unfused: CuPy calls on the device, no
    host reads, so a capturable step can still be captured.
    """
    if max_exp_avg_sq is not None:
        reference.adam_update(
            param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch, maximize,
            max_exp_avg_sq,
        )  # fmt: skip
        return
    if not _fusable(param, grad, exp_avg, exp_avg_sq):
        reference.adam_update(
            param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch, maximize
        )
        return
    t = param.dtype.type
    mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    flip = np.int32(bool(maximize))
    if not isinstance(step, (int, np.integer)):  # a device array: capturable Adam
        _launch(
            "gk_adam_device_step", grad, step, float(lr), float(beta1), float(beta2), t(1 - lr * weight_decay),
            t(weight_decay), t(1 - beta1), t(beta2), t(1 - beta2), t(eps), np.int32(mode), flip,
            param, exp_avg, exp_avg_sq,
        )  # fmt: skip
        return
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    _launch(
        "gk_adam", grad, t(1 - lr * weight_decay), t(weight_decay), t(1 - beta1), t(beta2), t(1 - beta2),
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
    _launch(_rmsprop_name(centered, with_momentum), *args)


# ------------------------------------------------------------------ layers
def bias_forward(y: Any, b: Any) -> Any:
    """Fused :func:`gradkit.kernels.reference.bias_forward`: ``y += b`` as one light launch."""
    if not _fusable(y, b):
        return reference.bias_forward(y, b)
    _launch("gk_bias", b, y)
    return y


def bias_relu_forward(y: Any, b: Any) -> Any:
    """Fused :func:`gradkit.kernels.reference.bias_relu_forward`: ``y = max(y + b, 0)`` in one pass."""
    if not _fusable(y, b):
        return reference.bias_relu_forward(y, b)
    if b is None:
        _launch("gk_relu", y)
    else:
        _launch("gk_bias_relu", b, y)
    return y


def relu_backward(grad: Any, y: Any, out: Any = None) -> Any:
    """Fused :func:`gradkit.kernels.reference.relu_backward`: ``grad * (y != 0)``, new or into ``out``."""
    if not _fusable(grad, y) or grad.shape != y.shape or out is not None:
        return reference.relu_backward(grad, y, out)
    out = _cupy().empty(grad.shape, dtype=grad.dtype)
    _launch("gk_relu_backward", grad, y, out)
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


# ------------------------------------------------------------------ checked on the device
# Per device and thread: pinned host words that gk_xent_checked writes when it finds a target out of
# range (flag, value, classes). A kernel on a GPU with unified addressing writes pinned host memory
# directly, eagerly and in a CUDA graph (seen on an H100, 2026-11-28), and the host reads the words
# without a CUDA call: the check costs no synchronisation. The words belong to the thread that
# launched the kernel, and only its host reads raise the error (a DataLoader worker's read neither
# raises nor clears it); a captured graph reports to the thread that captured it. _REPORTS keeps
# every allocation (a graph may still write to it), keyed by thread ident: a new thread that gets a
# finished thread's ident takes over its words.
_REPORTS: dict[tuple[int, int], tuple[Any, np.ndarray]] = {}
_mine = threading.local()  # .words: {device_id: words} of this thread


def _report_words(device_id: int) -> tuple[Any, np.ndarray]:
    key = (device_id, threading.get_ident())
    entry = _REPORTS.get(key)
    if entry is None:
        cp = _cupy()
        with cp.cuda.Device(device_id):
            memory = cp.cuda.alloc_pinned_memory(32)
        entry = _REPORTS[key] = (memory, np.frombuffer(memory, dtype=np.int64, count=4))
        from gradkit.backends.cupy_backend import CupyBackend

        if raise_pending_target_error not in CupyBackend.host_read_checks:
            CupyBackend.host_read_checks.append(raise_pending_target_error)
    mine = getattr(_mine, "words", None)
    if mine is None:
        mine = _mine.words = {}
    if mine.get(device_id) is not entry[1]:  # new here (or left by a finished thread of the same ident)
        entry[1][:] = 0
        mine[device_id] = entry[1]
    return entry


def raise_pending_target_error() -> None:
    """Raise the IndexOutOfRangeError of a cross-entropy target that a kernel launched by this thread found
    out of range."""
    for device_id, words in getattr(_mine, "words", {}).items():
        if words[0]:
            value, classes = int(words[1]), int(words[2])
            words[0] = 0
            from gradkit.errors import IndexOutOfRangeError

            raise IndexOutOfRangeError(
                f"cross_entropy: target {value} is out of range: expected 0 <= value < {classes} "
                f"(found on cuda:{device_id} by the kernel; that call's loss is NaN and those rows got no gradient)"
            )


_INDEX_TYPES = (np.dtype(np.int64), np.dtype(np.int32))


def cross_entropy_checked_on_device(logits: Any, targets: Any, reduction: str, ignore_index: int) -> Any:
    """Fused :func:`gradkit.kernels.reference.cross_entropy_checked_on_device`: two kernels, no host read."""
    if (
        logits.dtype not in _FUSED or logits.ndim != 2 or targets.ndim != 1 or targets.dtype not in _INDEX_TYPES
        or not logits.size or not -(2**63) <= ignore_index < 2**63
    ):  # fmt: skip
        return None
    raise_pending_target_error()  # an earlier call's, before this call's results are trusted
    cp = _cupy()
    n, c = logits.shape
    x = cp.ascontiguousarray(logits)
    t = cp.ascontiguousarray(targets)
    memory, _ = _report_words(x.device.id)
    dtype = x.dtype
    dlogits = cp.empty((n, c), dtype=dtype)
    losses = cp.empty((n,), dtype=dtype)
    kept = cp.empty((n,), dtype=dtype)
    rows_per_block = _XENT_THREADS // 32
    blocks = (n + rows_per_block - 1) // rows_per_block
    _module_function(("gk_xent_checked", dtype, t.dtype), _XENT_OTHERS)(
        (blocks,), (_XENT_THREADS,),
        (x, t, dlogits, losses, kept, np.int64(n), np.int64(c), np.int64(ignore_index), np.uint64(memory.ptr)),
    )  # fmt: skip
    if reduction == "none":
        return losses, dlogits, None
    out = cp.empty((2,), dtype=dtype)
    _module_function(("gk_xent_finish", dtype), _XENT_OTHERS)(
        (1,), (256,), (losses, kept, out, np.int64(n), np.int32(reduction == "mean"))
    )
    return out[0], dlogits, out[1]


def scale_rows(dlogits: Any, g: Any, scale: Any) -> Any:
    """Fused :func:`gradkit.kernels.reference.scale_rows`: one kernel."""
    dtype = dlogits.dtype
    if dtype not in _FUSED or g.dtype != dtype or scale.dtype != dtype or g.size != 1 or scale.size != 1 or (
        not dlogits.flags.c_contiguous
    ):  # fmt: skip
        return reference.scale_rows(dlogits, g, scale)
    out = _cupy().empty(dlogits.shape, dtype=dtype)
    n = dlogits.size
    if n:
        blocks = min((n + _RAW_THREADS - 1) // _RAW_THREADS, _RAW_MAX_BLOCKS)
        _module_function(("gk_scale_rows", dtype), _XENT_OTHERS)((blocks,), (_RAW_THREADS,),
                                                                 (dlogits, g, scale, out, np.int64(n)))  # fmt: skip
    return out


def column_sum(g: Any) -> Any:
    """Fused :func:`gradkit.kernels.reference.column_sum` for small batches (CuPy's reduction otherwise)."""
    if g.ndim != 2 or g.dtype not in _FUSED or not 0 < g.shape[0] <= _COLUMN_SUM_MAX_ROWS or not g.flags.c_contiguous:
        return reference.column_sum(g)
    rows, cols = g.shape
    out = _cupy().empty((cols,), dtype=g.dtype)
    if cols:
        _module_function(("gk_column_sum", g.dtype), _XENT_OTHERS)(
            ((cols + 127) // 128,), (128,), (g, out, np.int64(rows), np.int64(cols))
        )
    return out


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


def _np_bias(y, b):  # noqa: ANN001, ANN202
    y[...] = y + b
    return y


def _np_bias_relu(y, b):  # noqa: ANN001, ANN202
    s = y + b if b is not None else y.copy()
    y[...] = np.where((s >= 0) | (s != s), s, y.dtype.type(0))
    return y


def _np_relu_backward(grad, y, out=None):  # noqa: ANN001, ANN202
    return np.multiply(grad, (y != 0).astype(grad.dtype), out=out)


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
    "bias_forward": _np_bias,
    "bias_relu_forward": _np_bias_relu,
    "relu_backward": _np_relu_backward,
    "cross_entropy_forward_backward": _np_cross_entropy,
}


def numpy_twin(name: str) -> Callable[..., Any]:
    """The NumPy transcription of the fused kernel ``name`` (same signature, same in-place writes)."""
    return _TWINS[name]
