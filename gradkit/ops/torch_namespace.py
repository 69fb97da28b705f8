"""PyTorch's top-level functions (``torch.xxx(...)``) that ported PyTorch programs call and gradkit had only as
``Tensor`` methods, as ``nn.functional`` functions, or not at all: ``gk.mul``, ``gk.div(rounding_mode=)``,
``gk.as_tensor``, ``gk.std_mean``, ``gk.block_diag``, ``gk.bucketize``, ``gk.normal``, the window functions,
``gk.conv2d``/``gk.layer_norm``/``gk.embedding`` ... with torch's positional signatures, and the in-place
top-level forms (``gk.exp_(x)``, ``gk.relu_(x)`` ...).

Three kinds:

* ``torch.f(input, *args)`` where PyTorch's ``Tensor`` has the method ``f`` with the same arguments: the
  method, called on ``input`` (``gk.det(a) is a.det()``); differentiable where the method is;
* the ``torch.*`` aliases of ``torch.nn.functional``'s functions, with torch's own positional signatures, which
  differ from F's for some: ``torch.embedding(weight, indices)``, ``torch.batch_norm(input, weight, bias,
  running_mean, running_var, training, momentum, eps, cudnn_enabled)``, ``torch.dropout(input, p, train)``, and
  the losses take ``reduction`` as torch's int enum (0 none, 1 mean, 2 sum; the strings work too), and
  without it they give the unreduced losses, as ``torch.kl_div(a, b)`` does (its schema says 1, its Python
  binding gives 0);
* functions of their own (creation, random sampling, reductions returning pairs, ``lu_unpack`` ...).

Results have gradkit's dtypes (NumPy 2's promotion), random draws come from gradkit's generator (repeatable with
``gk.manual_seed``), or from ``generator=``, a ``gk.Generator`` (PyTorch's ``torch.Generator`` on the CPU).
"""

# ruff: noqa: A001, A002, N803 - PyTorch's names (input, range, LU_data ...)

from __future__ import annotations

import builtins
import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit import creation as _creation
from gradkit import ops as _ops
from gradkit import return_types
from gradkit._args import flag, probability, real, whole
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops import numpy_more as _more
from gradkit.ops import numpy_stats as _stats
from gradkit.ops._util import as_tensor as _as_tensor
from gradkit.ops._util import host_read_allowed, normalize_axis
from gradkit.tensor import Tensor

_range = builtins.range  # this module defines ``range`` (torch.range)

_DELEGATED = (
    # maths and products (methods with PyTorch's signatures)
    "mul", "div", "sub", "neg", "t", "numel", "narrow", "narrow_copy", "swapdims", "adjoint", "frac", "sgn",
    "mvlgamma", "igamma", "igammac", "clamp_min", "clamp_max", "dist", "renorm", "ger", "mv", "addmv", "addr",
    "addbmm", "diag_embed", "hardshrink", "prelu",
    # reductions and order statistics
    "aminmax", "kthvalue", "mode", "msort", "histc", "unique_consecutive",
    # linear algebra (PyTorch's older names)
    "det", "logdet", "slogdet", "inverse", "pinverse", "matrix_exp", "matrix_power", "cholesky", "cholesky_solve",
    "cholesky_inverse", "triangular_solve", "svd", "qr", "lu", "lu_solve", "orgqr",
    # indexing and scatters
    "index_add", "index_put", "index_put_", "take_along_dim", "select_scatter", "slice_scatter",
    "diagonal_scatter", "split_with_sizes", "unsafe_chunk", "unsafe_split", "unsafe_split_with_sizes",
    "nonzero_static",
    # predicates and the like
    "is_floating_point", "is_complex", "is_nonzero", "is_same_size", "is_signed", "is_inference", "get_device",
    "conj_physical", "resolve_conj", "resolve_neg", "detach", "detach_", "resize_as_",
    # in place
    "abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_",
    "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_",
    "conj_physical_", "cos_", "cosh_", "deg2rad_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_",
    "floor_", "frac_", "gcd_", "i0_", "lcm_", "ldexp_", "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_",
    "neg_", "negative_", "rad2deg_", "reciprocal_", "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_",
    "sinh_", "sqrt_", "square_", "tan_", "tanh_", "trunc_", "xlogy_", "zero_",
)  # fmt: skip

_COPIES = ("t", "transpose", "permute", "diagonal", "expand", "squeeze", "unsqueeze", "view", "select", "detach",
           "split", "split_with_sizes", "unbind", "unfold")  # fmt: skip

__all__ = sorted(
    [*_DELEGATED, *(f"{n}_copy" for n in _COPIES)]
    + """as_tensor scalar_tensor empty_strided empty_permuted rsub fill normal bernoulli poisson binomial
    randint_like hann_window hamming_window blackman_window bartlett_window kaiser_window broadcast_tensors
    block_diag cartesian_prod combinations bucketize std_mean var_mean chain_matmul trapz cumulative_trapezoid
    lu_unpack frobenius_norm nuclear_norm constant_pad_nd alias_copy conv1d conv2d conv3d conv_transpose1d
    conv_transpose2d conv_transpose3d conv_tbc layer_norm group_norm rms_norm batch_norm instance_norm embedding
    dropout alpha_dropout feature_dropout feature_alpha_dropout dropout_ alpha_dropout_ feature_dropout_
    feature_alpha_dropout_ celu celu_ selu selu_ rrelu rrelu_ threshold threshold_ bilinear cosine_similarity
    pairwise_distance pdist pixel_shuffle pixel_unshuffle channel_shuffle native_channel_shuffle kl_div ctc_loss
    margin_ranking_loss hinge_embedding_loss cosine_embedding_loss triplet_margin_loss poisson_nll_loss
    binary_cross_entropy_with_logits max_pool1d max_pool2d max_pool3d max_pool1d_with_indices avg_pool1d
    adaptive_avg_pool1d adaptive_max_pool1d grid_sampler affine_grid_generator is_conj is_neg
    is_anomaly_enabled is_anomaly_check_nan_enabled set_anomaly_enabled get_num_threads set_num_threads seed
    initial_seed get_default_dtype get_default_device vmap""".split()
)


def _tensor(x: Any, op: str, like: Tensor | None = None) -> Tensor:
    return _as_tensor(x, op, None if like is None else like._backend)


def _no_generator(generator: Any, op: str) -> None:
    if generator is not None:
        raise ArgumentTypeError(f"{op}: generator= must be None (its draws come from gradkit's generator, seeded "
                                f"with gk.manual_seed), got {type(generator).__name__}")


def _host_rng(generator: Any, like: Tensor, op: str) -> np.random.Generator:
    from gradkit.random_generator import host_rng

    return host_rng(generator, like._backend, op)


# ----------------------------------------------------------------------------------- the Tensor methods
def _delegate(name: str) -> Callable[..., Any]:
    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(_tensor(input, name), name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.{name}(input, ...)``: ``input.{name}(...)`` (see ``Tensor.{name}``)."
    return fn


def _lifted(number: Any, other: Any, op: str) -> Tensor:
    """A Python number in the first place (``torch.mul(2, t)``) as a 0-d tensor of the dtype NumPy 2 gives the
    pair (a weak scalar: ``2.0`` with a float32 tensor is float32), on ``other``'s device."""
    if not isinstance(other, Tensor):
        raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(number).__name__} {number!r:.40}")
    if isinstance(number, (bool, np.bool_)):
        dtype = np.result_type(other.dtype, np.bool_)
    else:
        dtype = np.result_type(other.dtype, number)
    return _creation.full((), number, dtype=dtype, device=other.device)


def _first(input: Any, other: Any, op: str) -> Tensor:
    if isinstance(input, (int, float, bool, np.number, np.bool_)) and not isinstance(input, Tensor):
        return _lifted(input, other, op)
    return _tensor(input, op)


def mul(input: Any, other: Any) -> Tensor:
    """``input * other`` (``torch.mul``; a Python number may come first)."""
    return _first(input, other, "mul").mul(other)


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; ``rounding_mode`` None (true division), ``"trunc"`` or ``"floor"`` (``torch.div``)."""
    return _first(input, other, "div").div(other, rounding_mode=rounding_mode)


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other`` (``torch.sub``)."""
    return _first(input, other, "sub").sub(other, alpha=alpha)


def rsub(input: Any, other: Any, alpha: Any = 1) -> Tensor:
    """``other - alpha * input`` (``torch.rsub``: ``sub`` with the operands swapped)."""
    op = "rsub"
    x = _tensor(input, op)
    if isinstance(other, Tensor):
        return other.sub(x, alpha=alpha)
    return _lifted(other, x, op).sub(x, alpha=alpha)


_SKIP_GENERIC = {"mul", "div", "sub"}
for _name in _DELEGATED:
    if _name not in _SKIP_GENERIC:
        globals()[_name] = _delegate(_name)
del _name


_COPY_METHOD = {"transpose": "swapaxes"}  # torch's transpose(dim0, dim1) swaps; Tensor.transpose is NumPy's


def _copy_of(name: str) -> Callable[..., Any]:
    method = _COPY_METHOD.get(name, name)

    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:
        out = getattr(_tensor(input, f"{name}_copy"), method)(*args, **kwargs)
        return tuple(o.clone() for o in out) if isinstance(out, (tuple, list)) else out.clone()

    fn.__name__ = fn.__qualname__ = f"{name}_copy"
    fn.__doc__ = f"``torch.{name}_copy``: ``input.{method}(...)`` as a new tensor (a copy, not a view), in the graph."
    return fn


for _name in _COPIES:
    globals()[f"{_name}_copy"] = _copy_of(_name)
del _name


def alias_copy(input: Any) -> Tensor:
    """A copy of ``input``, in the graph (``torch.alias_copy``)."""
    return _tensor(input, "alias_copy").clone()


def fill(input: Any, value: Any) -> Tensor:
    """A new tensor of ``input``'s shape, dtype and device, every element ``value`` (a number, or a 0-d tensor,
    through which the gradient flows: the sum of the incoming one); ``torch.fill``, out of place."""
    op = "fill"
    x = _tensor(input, op)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"{op}: value must be a number or a 0-d tensor, got a tensor of shape {value.shape}")
        v = _tensor(value, op, x)
        return _ops.broadcast_to(v.astype(x.dtype) if v.dtype != x.dtype else v, x.shape).clone()
    return _creation.full_like(x, value)


# ------------------------------------------------------------------------------------------------ creation
def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing its memory where it can (PyTorch's ``as_tensor``): a Tensor of the asked
    dtype and device is returned as it is (its graph kept), one of another dtype or device is converted (in the
    graph); a NumPy (CuPy) array on the asked device is wrapped without a copy; lists and numbers are copied,
    floats becoming float32 as in ``gk.tensor``."""
    op = "as_tensor"
    if isinstance(data, Tensor):
        from gradkit.backends import get_backend
        from gradkit.dtypes import to_dtype

        backend = data._backend if device is None else get_backend(device, op)
        out = data if backend is data._backend else data.to(backend.device)
        return out if dtype is None or to_dtype(dtype, op) == out.dtype else out.to(dtype=dtype)
    if isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
        return _creation.asarray(data, dtype, device=device)
    return _creation.tensor(data, dtype=dtype, device=device)


def scalar_tensor(s: Any, *, dtype: Any = None, layout: Any = None, device: Any = None, pin_memory: Any = None,
                  requires_grad: bool = False) -> Tensor:
    """A 0-d tensor holding the number ``s``, of gradkit's default float dtype unless ``dtype`` says otherwise
    (an int or a bool too: ``torch.scalar_tensor(3)`` is float)."""
    from gradkit.dtypes import default_float

    value = s.item() if isinstance(s, Tensor) and s.ndim == 0 else s
    if not isinstance(value, (int, float, bool, np.number, np.bool_)):
        raise ArgumentTypeError(f"scalar_tensor: s must be a number, got {type(s).__name__} {s!r:.40}")
    return _creation.full((), value, dtype=default_float if dtype is None else dtype, device=device,
                          requires_grad=requires_grad)


def range(start: Any = 0, end: Any = None, step: Any = 1, *, dtype: Any = None, layout: Any = None,
          device: Any = None, pin_memory: Any = None, requires_grad: bool = False) -> Tensor:
    """``torch.range`` (deprecated in PyTorch, which warns): ``start, start + step, ...`` up to ``end``
    INCLUDED, ``floor((end - start) / step) + 1`` values, of gradkit's default float dtype unless ``dtype`` says
    otherwise (ints too)."""
    from gradkit.dtypes import default_float, to_dtype

    op = "range"
    if end is None:
        raise ArgumentTypeError(f"{op}: end is required (torch.range(start, end, step))")
    a, b, s = real(start, op, "start"), real(end, op, "end"), real(step, op, "step")
    if not (math.isfinite(a) and math.isfinite(b)):
        raise InvalidArgumentError(f"{op}: start and end must be finite, got {start!r} and {end!r}")
    if s == 0:
        raise InvalidArgumentError(f"{op}: step must be nonzero")
    if (b - a) * s < 0:
        raise InvalidArgumentError(f"{op}: upper bound and larger bound inconsistent with step sign "
                                   f"(start {start!r}, end {end!r}, step {step!r})")
    n = int(math.floor((b - a) / s)) + 1
    dt = to_dtype(default_float if dtype is None else dtype, op)
    values = a + np.arange(n, dtype=np.float64) * s
    return _creation.tensor(values.astype(dt), dtype=dt, device=device, requires_grad=requires_grad)


def empty_strided(size: Any, stride: Any, *, dtype: Any = None, layout: Any = None, device: Any = None,
                  requires_grad: bool = False, pin_memory: Any = None) -> Tensor:
    """``gk.empty(size)`` (gradkit's tensors are C-ordered; ``stride`` is checked for its length only)."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise ShapeError(f"empty_strided: size {size} and stride {stride} must have the same length")
    return _creation.empty(size, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size: Any, physical_layout: Any, *, dtype: Any = None, layout: Any = None, device: Any = None,
                   requires_grad: bool = False, pin_memory: Any = None) -> Tensor:
    """``gk.empty(size)`` (the memory order ``physical_layout`` asks for is not kept: gradkit is C-ordered)."""
    size, perm = tuple(size), tuple(physical_layout)
    if sorted(perm) != list(_range(len(size))):
        raise InvalidArgumentError(f"empty_permuted: physical_layout {perm} is not a permutation of the "
                                   f"{len(size)} dims")
    return _creation.empty(size, dtype=dtype, device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------------------------------ window functions
def _window(op: str, n: Any, periodic: Any, dtype: Any, device: Any, requires_grad: bool,
            values: Callable[[int], np.ndarray]) -> Tensor:
    from gradkit.dtypes import default_float, to_dtype

    n = whole(n, op, "window_length", low=0)
    periodic = flag(periodic, op, "periodic")
    dt = to_dtype(default_float if dtype is None else dtype, op)
    if dt.kind != "f":
        raise DTypeError(f"{op}: expected a float dtype, got {dt}")
    if n <= 1:
        w = np.ones(n, np.float64)
    else:
        m = n + 1 if periodic else n
        w = values(m)[:n]
    return _creation.tensor(w.astype(dt), dtype=dt, device=device, requires_grad=requires_grad)


def _cosine_sum(m: int, coefs: tuple[float, ...]) -> np.ndarray:
    k = np.arange(m, dtype=np.float64)
    return sum(c * (-1) ** i * np.cos(2 * math.pi * i * k / (m - 1)) for i, c in enumerate(coefs))


def hann_window(window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None,
                device: Any = None, pin_memory: Any = None, requires_grad: bool = False) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))``; ``periodic`` (the default) computes N + 1 values
    and drops the last, as for spectral analysis; float32 unless ``dtype``."""
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda m: _cosine_sum(m, (0.5, 0.5)))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype: Any = None, layout: Any = None, device: Any = None, pin_memory: Any = None,
                   requires_grad: bool = False) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi n / (N - 1))`` (periodic by default, as PyTorch's)."""
    op = "hamming_window"
    a, b = real(alpha, op, "alpha"), real(beta, op, "beta")
    return _window(op, window_length, periodic, dtype, device, requires_grad, lambda m: _cosine_sum(m, (a, b)))


def blackman_window(window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None,
                    device: Any = None, pin_memory: Any = None, requires_grad: bool = False) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))`` (periodic by
    default)."""
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   lambda m: _cosine_sum(m, (0.42, 0.5, 0.08)))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype: Any = None, layout: Any = None,
                    device: Any = None, pin_memory: Any = None, requires_grad: bool = False) -> Tensor:
    """The Bartlett (triangular) window ``1 - |2 n / (N - 1) - 1|`` (periodic by default)."""
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda m: 1 - np.abs(2 * np.arange(m, dtype=np.float64) / (m - 1) - 1))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None,
                  layout: Any = None, device: Any = None, pin_memory: Any = None,
                  requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - ((n - a) / a)^2)) / I0(beta)``, ``a = (N - 1) / 2`` (periodic by
    default)."""
    op = "kaiser_window"
    b = real(beta, op, "beta")

    def values(m: int) -> np.ndarray:
        a = (m - 1) / 2
        r = (np.arange(m, dtype=np.float64) - a) / a
        return np.i0(b * np.sqrt(np.clip(1 - r * r, 0, None))) / np.i0(b)

    return _window(op, window_length, periodic, dtype, device, requires_grad, values)


# --------------------------------------------------------------------------------------------- random draws
def _zero_slope(g: Tensor, *_: Any) -> Tensor:
    return Tensor._make(g._backend.xp.zeros_like(g._data), g._backend)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None, dtype: Any = None,
           layout: Any = None, device: Any = None, pin_memory: Any = None, requires_grad: bool = False) -> Tensor:
    """Draws of N(mean, std**2), PyTorch's four overloads: ``normal(mean_tensor, std=1.0)``, ``normal(mean,
    std_tensor)``, ``normal(mean_tensor, std_tensor)`` (broadcast together; the result has their float dtype)
    and ``normal(mean, std, size, dtype=..., device=...)`` with two numbers (float32 unless ``dtype``).

    As PyTorch's, the draws are in the graph of tensor means and stds with zero gradients (it is not the
    reparameterised ``mean + std * eps``: use that, or ``gk.distributions.Normal.rsample``, for gradients)."""
    op = "normal"
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise ArgumentTypeError(f"{op}: with a number mean and std, size is required (normal(mean, std, size))")
        m, s = real(mean, op, "mean"), real(std, op, "std", low=0)
        if not isinstance(size, (list, tuple)):
            raise ArgumentTypeError(f"{op}: size must be a tuple or list of ints, got {type(size).__name__} "
                                    f"{size!r:.40}")
        out = _creation.randn(*tuple(size), generator=generator, dtype=dtype, device=device)
        with _no_grad():
            out = out * s + m
        return out.requires_grad_(True) if requires_grad else out
    if size is not None:
        raise ArgumentTypeError(f"{op}: size is for two number arguments; with a tensor mean or std the shape "
                                "is theirs")
    like = mean if isinstance(mean, Tensor) else std
    m = _tensor(mean, op, like) if isinstance(mean, Tensor) else None
    s = _tensor(std, op, like) if isinstance(std, Tensor) else None
    for name, x in (("mean", m), ("std", s)):
        if x is not None and x.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got {x.dtype}")
    mean_v = m._data if m is not None else real(mean, op, "mean")
    std_v = s._data if s is not None else real(std, op, "std", low=0)
    if s is not None and host_read_allowed(s._data) and bool((s._data < 0).any()):
        raise InvalidArgumentError(f"{op}: std must be >= 0 everywhere")
    try:
        shape = np.broadcast_shapes(*(x.shape for x in (m, s) if x is not None))
    except ValueError:
        raise ShapeError(f"{op}: mean of shape {m.shape} and std of shape {s.shape} do not broadcast") from None
    dt = np.result_type(*(x.dtype for x in (m, s) if x is not None))
    with _no_grad():
        eps = _creation.randn(*shape, generator=generator, dtype=dt, device=like.device)._data
    data = (mean_v + std_v * eps).astype(dt, copy=False)
    inputs = tuple(x for x in (m, s) if x is not None)
    return record(op, data, like._backend, inputs, (_zero_slope,) * len(inputs), broadcast=True)


def _no_grad() -> Any:
    from gradkit.autograd.grad_mode import no_grad

    return no_grad()


def bernoulli(input: Any, p: Any = None, *, generator: Any = None) -> Tensor:
    """0/1 draws of ``input``'s dtype and shape, each 1 with probability ``input`` (or ``p``, a number); from
    ``generator`` (a ``gk.Generator``) when given."""
    op = "bernoulli"
    x = _tensor(input, op)
    if generator is None:
        return x.bernoulli(p)
    _host_rng(generator, x, op)
    # Tensor.bernoulli's checks and draw, from the generator
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float tensor of probabilities, got {x.dtype}")
    if p is not None:
        p = probability(p, op, "p")
    elif x.size and not bool(((x._data >= 0) & (x._data <= 1)).all()):
        raise InvalidArgumentError(f"{op}: the probabilities (input) must lie in [0, 1]; got a value outside that "
                                   "range, or NaN")
    probs = x.detach() if p is None else p
    return (_creation.rand_like(x, generator=generator) < probs).astype(x.dtype)


def poisson(input: Any, generator: Any = None) -> Tensor:
    """Draws of Poisson(rate) for each element of ``input`` (the rates, >= 0), in ``input``'s float dtype;
    outside the graph's gradients (zero, as PyTorch's)."""
    from gradkit.distributions._discrete import full_array, generator_draw

    op = "poisson"
    x = _tensor(input, op)
    rng = None if generator is None else _host_rng(generator, x, op)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a float tensor of rates, got {x.dtype}")
    if host_read_allowed(x._data) and bool((x._data < 0).any()):
        raise InvalidArgumentError(f"{op}: the rates must be >= 0")
    with _no_grad():
        lam = full_array(x, x.shape, np.float64)
        data = (generator_draw(x, "poisson", op, lam, x.shape) if rng is None else rng.poisson(lam, x.shape))
        data = data.astype(x.dtype)
    return Tensor._make(data, x._backend)


def binomial(count: Any, prob: Any, generator: Any = None) -> Tensor:
    """Draws of Binomial(count, prob) elementwise (float tensors broadcast together), in ``count``'s dtype."""
    from gradkit.distributions._discrete import full_array, generator_draw

    op = "binomial"
    n = _tensor(count, op)
    rng = None if generator is None else _host_rng(generator, n, op)
    p = _tensor(prob, op, n)
    if n.dtype.kind != "f" or p.dtype.kind != "f":
        raise DTypeError(f"{op}: count and prob must be float tensors, got {n.dtype} and {p.dtype}")
    try:
        shape = np.broadcast_shapes(n.shape, p.shape)
    except ValueError:
        raise ShapeError(f"{op}: count of shape {n.shape} and prob of shape {p.shape} do not broadcast") from None
    if host_read_allowed(p._data) and bool(((p._data < 0) | (p._data > 1)).any()):
        raise InvalidArgumentError(f"{op}: prob must be in [0, 1]")
    if host_read_allowed(n._data) and not bool((n._data >= 0).all()):
        raise InvalidArgumentError(f"{op}: count must be >= 0 (and not NaN)")
    with _no_grad():
        args = (full_array(n, shape, np.int64), full_array(p, shape, np.float64), shape)
        data = (generator_draw(n, "binomial", op, *args) if rng is None else rng.binomial(*args)).astype(n.dtype)
    return Tensor._make(data, n._backend)


def randint_like(input: Any, low: Any = 0, high: Any = None, *, generator: Any = None, dtype: Any = None,
                 layout: Any = None, device: Any = None, pin_memory: Any = None, memory_format: Any = None,
                 requires_grad: bool = False) -> Tensor:
    """Random ints in [low, high) of ``input``'s shape, and of its dtype and device unless told otherwise:
    ``randint_like(x, high)`` or ``randint_like(x, low, high)``."""
    op = "randint_like"
    x = _tensor(input, op)
    if high is None:
        low, high = 0, low
    low, high = whole(low, op, "low"), whole(high, op, "high")
    if high <= low:
        raise InvalidArgumentError(f"{op}: expected low < high, got low={low}, high={high}")
    dt = x.dtype if dtype is None else dtype
    kind = np.dtype(dt).kind if isinstance(dt, (np.dtype, type, str)) else None
    if kind in ("i", "u", "b"):
        info = (0, 1) if kind == "b" else (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
        if low < info[0] or high - 1 > info[1]:
            raise InvalidArgumentError(f"{op}: [low, high) = [{low}, {high}) is out of the range of {np.dtype(dt)} "
                                       f"[{info[0]}, {info[1]}]")
    out = _creation.randint(low, high, x.shape, dtype=np.int64, device=x.device if device is None else device,
                            generator=generator)
    out = out.astype(dt) if np.dtype(out.dtype) != np.dtype(dt) else out
    return out.requires_grad_(True) if requires_grad else out


# ------------------------------------------------------------------------------------------ shape and products
def broadcast_tensors(*tensors: Any) -> tuple[Tensor, ...]:
    """The tensors broadcast to their common shape (views, in the graph), as a tuple (``torch.broadcast_tensors``)."""
    op = "broadcast_tensors"
    ts = [_tensor(x, op) for x in tensors]
    try:
        shape = np.broadcast_shapes(*(x.shape for x in ts))
    except ValueError:
        raise ShapeError(f"{op}: shapes {[x.shape for x in ts]} do not broadcast together") from None
    return tuple(_ops.broadcast_to(x, shape) for x in ts)


def block_diag(*tensors: Any) -> Tensor:
    """The block-diagonal matrix of the given 0-, 1- or 2-d tensors (a 0-d one is a 1x1 block, a 1-d one of
    length n a 1xn block), of their promoted dtype; differentiable."""
    op = "block_diag"
    ts = [_tensor(x, op) for x in tensors]
    if not ts:
        return _creation.zeros((1, 0), dtype=np.float32)
    backend = ts[0]._backend
    ts = [_tensor(x, op, ts[0]) for x in ts]
    blocks = []
    for i, x in enumerate(ts):
        if x.ndim > 2:
            raise ShapeError(f"{op}: input {i} has {x.ndim} dims; each must have at most 2")
        blocks.append(x.reshape(1, 1) if x.ndim == 0 else x.reshape(1, -1) if x.ndim == 1 else x)
    dt = np.result_type(*(b.dtype for b in blocks))
    cols = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        pieces = []
        if left:
            pieces.append(_creation.zeros((r, left), dtype=dt, device=backend.device))
        pieces.append(b.astype(dt) if b.dtype != dt else b)
        if cols - left - c:
            pieces.append(_creation.zeros((r, cols - left - c), dtype=dt, device=backend.device))
        rows.append(_ops.cat(pieces, 1) if len(pieces) > 1 else pieces[0])
        left += c
    return _ops.cat(rows, 0)


def _tensors_of_ndim(items: tuple, ndim: int, op: str, what: str) -> list[Tensor]:
    """``items`` as tensors, at least one, each with ``ndim`` dimensions (``what`` names one in errors)."""
    ts = [_tensor(x, op) for x in items]
    if not ts:
        raise ArgumentTypeError(f"{op}: expected at least one {what}")
    for i, x in enumerate(ts):
        if x.ndim != ndim:
            plural = "matrices" if what == "matrix" else f"{what}s"
            raise ShapeError(f"{op}: expected {ndim}-d {plural}, got input {i} of shape {x.shape}")
    return ts


def cartesian_prod(*tensors: Any) -> Tensor:
    """The Cartesian product of 1-d tensors: an (N, k) tensor whose rows are the k-tuples in lexicographic order
    (one tensor: itself); differentiable."""
    op = "cartesian_prod"
    ts = _tensors_of_ndim(tensors, 1, op, "tensor")
    if len(ts) == 1:
        return ts[0]
    grids = _ops.meshgrid(*ts, indexing="ij")
    return _ops.stack([g.reshape(-1) for g in grids], 1)


def combinations(input: Any, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The r-element combinations of a 1-d tensor's elements, as rows of an (M, r) tensor (``itertools``'s
    order; ``with_replacement`` as ``combinations_with_replacement``); ``r=0`` gives an empty 1-d tensor;
    differentiable."""
    op = "combinations"
    x = _tensor(input, op)
    if x.ndim != 1:
        raise ShapeError(f"{op}: expected a 1-d tensor, got shape {x.shape}")
    r = whole(r, op, "r", low=0)
    if r == 0:
        return _creation.empty((0,), dtype=x.dtype, device=x.device)
    pick = itertools.combinations_with_replacement if flag(with_replacement, op, "with_replacement") else \
        itertools.combinations
    idx = np.array(list(pick(_range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return x[_creation.tensor(idx, device=x.device)]


def bucketize(input: Any, boundaries: Any, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The index of the bucket of each element of ``input`` (a tensor or a number) among the sorted 1-d
    ``boundaries``: with ``right=False`` the i with ``boundaries[i-1] < x <= boundaries[i]``, with ``right=True``
    ``boundaries[i-1] <= x < boundaries[i]``; int64 (int32 with ``out_int32``), outside the graph."""
    op = "bucketize"
    b = _tensor(boundaries, op)
    if b.ndim != 1:
        raise ShapeError(f"{op}: boundaries must be a 1-d tensor, got shape {b.shape}")
    if isinstance(input, Tensor):
        x = _tensor(input, op, b)
    else:
        if not isinstance(input, (int, float, np.number)) or isinstance(input, (bool, np.bool_)):
            raise ArgumentTypeError(f"{op}: input must be a Tensor or a number, got {type(input).__name__}")
        x = _creation.full((), input, dtype=np.result_type(b.dtype, input), device=b.device)
    side = "right" if flag(right, op, "right") else "left"
    out = _stats.searchsorted(b.detach(), x.detach(), side=side)
    return out.astype(np.int32) if flag(out_int32, op, "out_int32") else out.astype(np.int64)


def _moments(op: str, input: Any, dim: Any, unbiased: Any, keepdim: Any, correction: Any) -> tuple:
    x = _tensor(input, op)
    if isinstance(dim, (bool, np.bool_)):  # the (input, unbiased) overload
        if unbiased is not None:
            raise ArgumentTypeError(f"{op}: unbiased given twice")
        dim, unbiased = None, dim
    if correction is not None and unbiased is not None:
        raise ArgumentTypeError(f"{op}: give either correction or unbiased, not both")
    if correction is None:
        correction = 1 if unbiased is None or flag(unbiased, op, "unbiased") else 0
    else:
        correction = real(correction, op, "correction")
        correction = int(correction) if float(correction).is_integer() else correction
    keepdim = flag(keepdim, op, "keepdim")
    if isinstance(dim, (list, tuple)) and len(dim) == 0:
        dim = None
    return x, dim, correction, keepdim


def std_mean(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` over ``dim`` (all dims when None), the std with ``correction`` (default 1, Bessel's;
    the older ``unbiased`` bool, also as the second positional argument); a plain tuple, as PyTorch's."""
    x, dim, c, keepdim = _moments("std_mean", input, dim, unbiased, keepdim, correction)
    return (_ops.std(x, dim=dim, correction=c, keepdim=keepdim), _ops.mean(x, dim=dim, keepdim=keepdim))


def var_mean(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` over ``dim``, as :func:`std_mean`."""
    x, dim, c, keepdim = _moments("var_mean", input, dim, unbiased, keepdim, correction)
    return (_ops.var(x, dim=dim, correction=c, keepdim=keepdim), _ops.mean(x, dim=dim, keepdim=keepdim))


def chain_matmul(*matrices: Any) -> Tensor:
    """The product of 2-d matrices, multiplied in the cheapest order (``gk.linalg.multi_dot``; PyTorch's
    deprecated ``chain_matmul``); one matrix gives a copy."""
    from gradkit import linalg

    op = "chain_matmul"
    ms = _tensors_of_ndim(matrices, 2, op, "matrix")
    if len(ms) == 1:
        return ms[0].clone()
    return linalg.multi_dot(ms)


def trapz(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim`` (``torch.trapz``, an alias of ``torch.trapezoid``): with sample
    points ``x`` or spacing ``dx`` (default 1)."""
    op = "trapz"
    yt = _tensor(y, op)
    if x is not None and dx is not None:
        raise ArgumentTypeError(f"{op}: give x or dx, not both")
    return _more.trapezoid(yt, x, dx=1.0 if dx is None else real(dx, op, "dx"), axis=whole(dim, op, "dim"))


def cumulative_trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The cumulative trapezoidal rule along ``dim``: one fewer element there than ``y``, the k-th being the
    integral up to sample k+1; with sample points ``x`` (1-d along ``dim``, or of ``y``'s shape) or spacing
    ``dx`` (default 1); differentiable."""
    op = "cumulative_trapezoid"
    yt = _tensor(y, op)
    if x is not None and dx is not None:
        raise ArgumentTypeError(f"{op}: give x or dx, not both")
    if yt.ndim == 0:
        raise ShapeError(f"{op}: expected y with at least one dimension, got a 0-d tensor")
    ax = normalize_axis(whole(dim, op, "dim"), yt.ndim, op)
    n = yt.shape[ax]

    def part(t: Tensor, a: int, start: int, stop: int) -> Tensor:
        return _ops.getitem(t, (slice(None),) * a + (slice(start, stop),), op)

    avg = (part(yt, ax, 1, n) + part(yt, ax, 0, max(n - 1, 0))) / 2
    if x is None:
        step: Any = 1.0 if dx is None else real(dx, op, "dx")
        return _ops.cumsum(avg * step, axis=ax)
    xt = _tensor(x, op, yt)
    if xt.ndim == 1:
        if xt.shape[0] != n:
            raise ShapeError(f"{op}: x of length {xt.shape[0]} does not match y's {n} samples along dim {ax}")
        d = (xt[1:] - xt[:-1]).reshape((-1,) + (1,) * (yt.ndim - ax - 1))
    else:
        if xt.ndim != yt.ndim:
            raise ShapeError(f"{op}: x must be 1-d or have y's number of dims, got shapes {xt.shape} and {yt.shape}")
        xa = normalize_axis(whole(dim, op, "dim"), xt.ndim, op)
        d = part(xt, xa, 1, xt.shape[xa]) - part(xt, xa, 0, max(xt.shape[xa] - 1, 0))
    return _ops.cumsum(avg * d, axis=ax)


# ---------------------------------------------------------------------------------------------- linear algebra
def lu_unpack(LU_data: Any, LU_pivots: Any, unpack_data: bool = True,
              unpack_pivots: bool = True) -> return_types.lu_unpack:
    """``(P, L, U)`` from the packed LU factorisation ``A.lu()`` / ``gk.linalg.lu_factor`` (batched too):
    ``A == P @ L @ U``, L unit lower triangular (m x k), U upper triangular (k x n), ``k = min(m, n)``; the
    pivots (1-based row swaps, int32) are read on the host to build P. Differentiable in ``LU_data``. With
    ``unpack_data=False`` L and U are empty tensors, with ``unpack_pivots=False`` P is."""
    op = "lu_unpack"
    lu_ = _tensor(LU_data, op)
    piv = _tensor(LU_pivots, op, lu_)
    if lu_.ndim < 2:
        raise ShapeError(f"{op}: LU_data must have at least 2 dims, got shape {lu_.shape}")
    if piv.dtype.kind not in "iu":
        raise DTypeError(f"{op}: LU_pivots must be an integer tensor, got {piv.dtype}")
    m, n = lu_.shape[-2:]
    k = min(m, n)
    if piv.shape != lu_.shape[:-2] + (k,):
        raise ShapeError(f"{op}: LU_pivots of shape {piv.shape} does not match LU_data of shape {lu_.shape} "
                         f"(expected {lu_.shape[:-2] + (k,)})")
    empty = _creation.empty((0,), dtype=lu_.dtype, device=lu_.device)
    if flag(unpack_data, op, "unpack_data"):
        eye = _creation.eye(m, k, dtype=lu_.dtype, device=lu_.device)
        L = _ops.tril(lu_[..., :, :k], -1) + eye
        U = _ops.triu(lu_[..., :k, :])
    else:
        L = U = empty
    if flag(unpack_pivots, op, "unpack_pivots"):
        batch = math.prod(lu_.shape[:-2])
        p = np.asarray(piv._backend.to_numpy(piv._data)).reshape(batch, k).astype(np.int64) - 1
        perms = np.empty((p.shape[0], m), np.int64)
        for b in _range(p.shape[0]):
            order = np.arange(m)
            for i in _range(k):
                j = p[b, i]
                if not 0 <= j < m:
                    raise InvalidArgumentError(f"{op}: pivot {j + 1} is out of range for {m} rows (1-based)")
                order[i], order[j] = order[j], order[i]
            perms[b] = order
        # A = P L U with (L U)[i] = A[order[i]], so P[order[i], i] = 1
        P = np.zeros((p.shape[0], m, m), dtype=np.dtype(lu_.dtype))
        bi = np.arange(p.shape[0])[:, None]
        P[bi, perms, np.arange(m)[None, :]] = 1
        P_t = _creation.tensor(P.reshape(lu_.shape[:-2] + (m, m)), dtype=lu_.dtype, device=lu_.device)
    else:
        P_t = empty
    return return_types.lu_unpack(P_t, L, U)


def frobenius_norm(input: Any, dim: Any = (-2, -1), keepdim: bool = False) -> Tensor:
    """The square root of the sum of squares over ``dim`` (``torch.frobenius_norm``)."""
    from gradkit import linalg

    x = _tensor(input, "frobenius_norm")
    dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    return linalg.vector_norm(x, 2, dims, keepdims=flag(keepdim, "frobenius_norm", "keepdim"))


def nuclear_norm(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The sum of the singular values over the two dims ``dim`` (the last two by default); ``nuclear_norm(x,
    keepdim)`` with a bool second argument as PyTorch's overload."""
    from gradkit import linalg

    op = "nuclear_norm"
    x = _tensor(input, op)
    if isinstance(dim, (bool, np.bool_)):
        dim, keepdim = None, dim
    keepdim = flag(keepdim, op, "keepdim")
    if dim is None:
        dim = (-2, -1)
    dims = tuple(normalize_axis(whole(d, op, "dim"), x.ndim, op) for d in dim)
    if len(dims) != 2 or dims[0] == dims[1]:
        raise ShapeError(f"{op}: dim must name two different dims, got {dim!r}")
    moved = _ops.moveaxis(x, dims, (-2, -1))
    out = linalg.matrix_norm(moved, "nuc")
    if keepdim:
        for d in sorted(dims):
            out = _ops.unsqueeze(out, d)
    return out


# ----------------------------------------------------------------------- torch.* aliases of nn.functional's
def _F() -> Any:
    from gradkit.nn import functional

    return functional


_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(value: Any, op: str) -> str:
    if isinstance(value, str) and value in ("none", "mean", "sum"):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value in _REDUCTIONS:
        return _REDUCTIONS[int(value)]
    raise InvalidArgumentError(f"{op}: reduction must be 0 (none), 1 (mean) or 2 (sum) (torch's enum), or one "
                               f"of those names, got {value!r}")


def _stride(stride: Any) -> Any:
    return None if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else stride


def constant_pad_nd(input: Any, pad: Any, value: Any = 0) -> Tensor:
    """``F.pad(input, pad, "constant", value)``: pairs of (before, after) widths from the last dim back
    (negative ones crop)."""
    return _F().pad(input, pad, "constant", value)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """``F.conv1d`` (``torch.conv1d``)."""
    return _F().conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """``F.conv2d`` (``torch.conv2d``)."""
    return _F().conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """``F.conv3d`` (``torch.conv3d``)."""
    return _F().conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """``F.conv_transpose1d`` (``torch.conv_transpose1d``)."""
    return _F().conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """``F.conv_transpose2d`` (``torch.conv_transpose2d``)."""
    return _F().conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """``F.conv_transpose3d`` (``torch.conv_transpose3d``)."""
    return _F().conv_transpose3d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_tbc(input: Any, weight: Any, bias: Any, pad: int = 0) -> Tensor:
    """``F.conv_tbc``: a 1-d convolution of a (time, batch, channels) input."""
    return _F().conv_tbc(input, weight, bias, pad)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5,
               cudnn_enable: bool = True) -> Tensor:
    """``F.layer_norm`` (``cudnn_enable`` has no effect)."""
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5,
               cudnn_enabled: bool = True) -> Tensor:
    """``F.group_norm`` (``cudnn_enabled`` has no effect)."""
    return _F().group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input: Any, normalized_shape: Any, weight: Any = None, eps: Any = None) -> Tensor:
    """``F.rms_norm``."""
    return _F().rms_norm(input, normalized_shape, weight, eps)


def batch_norm(input: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, training: bool,
               momentum: float, eps: float, cudnn_enabled: bool = True) -> Tensor:
    """``F.batch_norm`` with torch's order: ``(input, weight, bias, running_mean, running_var, training,
    momentum, eps, cudnn_enabled)`` (F's is ``(input, running_mean, running_var, weight, bias, ...)``)."""
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, use_input_stats: bool,
                  momentum: float, eps: float, cudnn_enabled: bool = True) -> Tensor:
    """``F.instance_norm`` with torch's order ``(input, weight, bias, running_mean, running_var,
    use_input_stats, momentum, eps, cudnn_enabled)``."""
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def embedding(weight: Any, indices: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """``F.embedding(indices, weight)``: note torch's order, weight first. A negative ``padding_idx`` (the
    default -1) is none, as in ``torch.embedding`` (F's turns negative indices into rows first)."""
    op = "embedding"
    if flag(scale_grad_by_freq, op, "scale_grad_by_freq"):
        raise InvalidArgumentError(f"{op}: scale_grad_by_freq=True is not supported")
    if flag(sparse, op, "sparse"):
        raise InvalidArgumentError(f"{op}: sparse=True is not supported (gradkit has no sparse gradients)")
    pad = whole(padding_idx, op, "padding_idx")
    rows = weight.shape[0] if isinstance(weight, Tensor) and weight.ndim else None
    # torch.embedding never reads padding_idx in the forward; one past the rows matches no index: none
    return _F().embedding(indices, weight, None if pad < 0 or (rows is not None and pad >= rows) else pad)


def dropout(input: Any, p: float, train: bool) -> Tensor:
    """``F.dropout(input, p, training=train)`` (``train`` is required, as in torch.dropout)."""
    return _F().dropout(input, p, flag(train, "dropout", "train"))


def alpha_dropout(input: Any, p: float, train: bool) -> Tensor:
    """``F.alpha_dropout(input, p, training=train)``."""
    return _F().alpha_dropout(input, p, flag(train, "alpha_dropout", "train"))


def feature_alpha_dropout(input: Any, p: float, train: bool) -> Tensor:
    """``F.feature_alpha_dropout(input, p, training=train)``."""
    return _F().feature_alpha_dropout(input, p, flag(train, "feature_alpha_dropout", "train"))


def feature_dropout(input: Any, p: float, train: bool) -> Tensor:
    """Whole channels (dim 1 of an (N, C, ...) input) zeroed with probability ``p``, the others scaled by
    ``1 / (1 - p)``, when ``train``; else ``input``."""
    op = "feature_dropout"
    x = _tensor(input, op)
    p = probability(p, op, "p")
    if not flag(train, op, "train") or p == 0:
        return x
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input of at least 2 dims (N, C, ...), got shape {x.shape}")
    if x.dtype.kind != "f":  # 1 / (1 - p) in an integer dtype would divide by zero
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}")
    if p == 1:
        return x * 0
    keep = _creation.rand(*x.shape[:2], *(1,) * (x.ndim - 2), dtype=np.float64, device=x.device) >= p
    return x * (keep.astype(x.dtype) / x.dtype.type(1 - p))


def _inplace(op: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def f(input: Any, *args: Any, **kwargs: Any) -> Tensor:
        x = input
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
        return x._assign_(op, lambda t: fn(t, *args, **kwargs))

    f.__name__ = f.__qualname__ = op
    f.__doc__ = f"``{fn.__name__}`` written into ``input`` (in place, under ``add_``'s rules); returns ``input``."
    return f


def celu(input: Any, alpha: float = 1.0) -> Tensor:
    """``F.celu``."""
    return _F().celu(input, alpha)


def selu(input: Any) -> Tensor:
    """``F.selu``."""
    return _F().selu(input)


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          generator: Any = None) -> Tensor:
    """``F.rrelu`` (``training=False`` by default: the mean slope)."""
    _no_generator(generator, "rrelu")
    return _F().rrelu(input, lower, upper, training)


def threshold(input: Any, threshold: Any, value: Any) -> Tensor:
    """``F.threshold``: ``input`` where ``input > threshold``, else ``value``."""
    return _F().threshold(input, threshold, value)


dropout_ = _inplace("dropout_", dropout)
alpha_dropout_ = _inplace("alpha_dropout_", alpha_dropout)
feature_dropout_ = _inplace("feature_dropout_", feature_dropout)
feature_alpha_dropout_ = _inplace("feature_alpha_dropout_", feature_alpha_dropout)
celu_ = _inplace("celu_", celu)
selu_ = _inplace("selu_", selu)
rrelu_ = _inplace("rrelu_", rrelu)
threshold_ = _inplace("threshold_", threshold)


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """``F.bilinear``."""
    return _F().bilinear(input1, input2, weight, bias)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``F.cosine_similarity``."""
    return _F().cosine_similarity(x1, x2, dim, eps)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``F.pairwise_distance``."""
    return _F().pairwise_distance(x1, x2, p, eps, keepdim)


def pdist(input: Any, p: float = 2.0) -> Tensor:
    """``F.pdist``: the distances between the rows of a 2-d input, upper triangle, row by row."""
    return _F().pdist(input, p)


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:
    """``F.pixel_shuffle``."""
    return _F().pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:
    """``F.pixel_unshuffle``."""
    return _F().pixel_unshuffle(input, downscale_factor)


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """``F.channel_shuffle``."""
    return _F().channel_shuffle(input, groups)


native_channel_shuffle = channel_shuffle


def kl_div(input: Any, target: Any, reduction: Any = 0, *, log_target: bool = False) -> Tensor:
    """``F.kl_div`` with torch's int ``reduction`` (unreduced by default, as ``torch.kl_div``; 1, mean, is the
    mean over all elements, without F's warning about 'batchmean')."""
    red = _reduction(reduction, "kl_div")
    out = _F().kl_div(input, target, reduction="none", log_target=log_target)
    return out if red == "none" else _ops.mean(out) if red == "mean" else _ops.sum(out)


def ctc_loss(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int = 0,
             reduction: Any = 0, zero_infinity: bool = False) -> Tensor:
    """``F.ctc_loss`` with torch's int ``reduction`` (unreduced by default, as torch's)."""
    return _F().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, _reduction(reduction, "ctc_loss"),
                         zero_infinity)


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0, reduction: Any = 0) -> Tensor:
    """``F.margin_ranking_loss`` with torch's int ``reduction`` (unreduced by default, as torch's)."""
    return _F().margin_ranking_loss(input1, input2, target, margin, _reduction(reduction, "margin_ranking_loss"))


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0, reduction: Any = 0) -> Tensor:
    """``F.hinge_embedding_loss`` with torch's int ``reduction`` (unreduced by default, as torch's)."""
    return _F().hinge_embedding_loss(input, target, margin, _reduction(reduction, "hinge_embedding_loss"))


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0, reduction: Any = 0) -> Tensor:
    """``F.cosine_embedding_loss`` with torch's int ``reduction`` (unreduced by default, as torch's)."""
    return _F().cosine_embedding_loss(input1, input2, target, margin, _reduction(reduction, "cosine_embedding_loss"))


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, reduction: Any = 0) -> Tensor:
    """``F.triplet_margin_loss`` with torch's int ``reduction`` (unreduced by default, as torch's)."""
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                    _reduction(reduction, "triplet_margin_loss"))


def poisson_nll_loss(input: Any, target: Any, log_input: bool, full: bool, eps: float, reduction: Any) -> Tensor:
    """``F.poisson_nll_loss``; every argument required, as torch's, ``reduction`` its int enum."""
    return _F().poisson_nll_loss(input, target, log_input, full, eps, _reduction(reduction, "poisson_nll_loss"))


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, pos_weight: Any = None,
                                     reduction: Any = 0) -> Tensor:
    """``F.binary_cross_entropy_with_logits`` with torch's order ``(input, target, weight, pos_weight,
    reduction)`` and int ``reduction`` (unreduced by default, as torch's)."""
    return _F().binary_cross_entropy_with_logits(
        input, target, _reduction(reduction, "binary_cross_entropy_with_logits"), pos_weight, weight=weight)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``F.max_pool1d`` (an empty ``stride``, the default, is the kernel size)."""
    return _F().max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``F.max_pool2d`` (an empty ``stride``, the default, is the kernel size)."""
    return _F().max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """``F.max_pool3d`` (an empty ``stride``, the default, is the kernel size)."""
    return _F().max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """``F.max_pool1d(..., return_indices=True)``: ``(values, indices)``."""
    out, idx = _F().max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode, True)
    return out, idx


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """``F.avg_pool1d`` (an empty ``stride``, the default, is the kernel size)."""
    return _F().avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad)


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:
    """``F.adaptive_avg_pool1d``."""
    return _F().adaptive_avg_pool1d(input, output_size)


def adaptive_max_pool1d(input: Any, output_size: Any) -> tuple[Tensor, Tensor]:
    """``F.adaptive_max_pool1d(..., return_indices=True)``: ``(values, indices)``, as torch's."""
    out, idx = _F().adaptive_max_pool1d(input, output_size, True)
    return out, idx


_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDINGS = ("zeros", "border", "reflection")


def grid_sampler(input: Any, grid: Any, interpolation_mode: int, padding_mode: int, align_corners: bool) -> Tensor:
    """``F.grid_sample`` with torch's int enums: ``interpolation_mode`` 0 bilinear, 1 nearest, 2 bicubic;
    ``padding_mode`` 0 zeros, 1 border, 2 reflection."""
    op = "grid_sampler"
    i, p = whole(interpolation_mode, op, "interpolation_mode"), whole(padding_mode, op, "padding_mode")
    if not (0 <= i < 3 and 0 <= p < 3):
        raise InvalidArgumentError(f"{op}: interpolation_mode and padding_mode must be 0, 1 or 2, got {i} and {p}")
    return _F().grid_sample(input, grid, _GRID_MODES[i], _GRID_PADDINGS[p], flag(align_corners, op, "align_corners"))


def affine_grid_generator(theta: Any, size: Any, align_corners: bool) -> Tensor:
    """``F.affine_grid(theta, size, align_corners)``."""
    return _F().affine_grid(theta, size, flag(align_corners, "affine_grid_generator", "align_corners"))


# ---------------------------------------------------------------------------------------------- the library
def is_conj(input: Any) -> bool:
    """False: gradkit's tensors are real, with no lazy conjugation."""
    _tensor(input, "is_conj")
    return False


def is_neg(input: Any) -> bool:
    """False: gradkit has no lazy negation."""
    _tensor(input, "is_neg")
    return False


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``gk.autograd.set_detect_anomaly``)."""
    from gradkit import autograd

    return autograd.is_anomaly_enabled()


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks the gradients for NaN."""
    from gradkit import autograd

    return autograd.is_anomaly_check_nan_enabled()


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off (``gk.autograd.set_detect_anomaly(enabled, check_nan)``)."""
    from gradkit import autograd

    autograd.set_detect_anomaly(enabled, check_nan)


def _threadpoolctl(op: str) -> Any:
    try:
        import threadpoolctl
    except ImportError:
        from gradkit.errors import BackendError

        raise BackendError(f"{op}: needs the threadpoolctl package (pip install threadpoolctl) to reach NumPy's "
                           "BLAS threads") from None
    return threadpoolctl


def get_num_threads() -> int:
    """The number of threads NumPy's BLAS library uses (through threadpoolctl; 1 where none is found)."""
    info = _threadpoolctl("get_num_threads").threadpool_info()
    counts = [lib["num_threads"] for lib in info if lib.get("user_api") == "blas"]
    return builtins.max(counts) if counts else 1


_LIMITERS: list = []  # keeps set_num_threads' limit alive


def set_num_threads(int: Any) -> None:
    """Limit NumPy's BLAS library to ``int`` threads (through threadpoolctl), for the rest of the process."""
    n = whole(int, "set_num_threads", "int", low=1)
    _LIMITERS[:] = [_threadpoolctl("set_num_threads").threadpool_limits(limits=n, user_api="blas")]


def seed() -> int:
    """Seed gradkit's generators with a fresh non-deterministic 64-bit seed (from the OS) and return it."""
    from gradkit.backends import manual_seed

    value = int.from_bytes(os.urandom(8), "little")
    manual_seed(value)
    return value


def initial_seed() -> int:
    """The seed last given to ``gk.manual_seed`` (or made by ``gk.seed``). Without either, gradkit's
    generators were seeded from the OS's entropy and there is no such number: ``InvalidArgumentError``."""
    from gradkit.backends import _seed_state

    if "seed" not in _seed_state:
        raise InvalidArgumentError("initial_seed: gradkit's generators were seeded from the OS's entropy, with no "
                                   "seed number to report; call gk.manual_seed(n) or gk.seed() first")
    return _seed_state["seed"]


def get_default_dtype() -> np.dtype:
    """gradkit's default float dtype, float32 (fixed: there is no ``set_default_dtype``)."""
    from gradkit.dtypes import default_float

    return np.dtype(default_float)


def get_default_device() -> str:
    """The device new tensors go to (``gk.default_device()``): ``"cpu"`` or ``"cuda:0"``."""
    from gradkit.backends import default_device

    return default_device()


def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable[..., Any]:
    """``gk.func.vmap`` (``torch.vmap``)."""
    from gradkit import func as _func

    return _func.vmap(func, in_dims, out_dims, randomness, chunk_size=chunk_size)


# torch._foreach_* (gradkit/ops/foreach.py): loops of the Tensor methods, for EMA and hand-written optimisers
from gradkit.ops import foreach as _foreach  # noqa: E402

globals().update({_n: getattr(_foreach, _n) for _n in _foreach.__all__})
__all__ = sorted([*__all__, *_foreach.__all__])


def _check() -> None:  # every name in __all__ is defined (kept cheap: run at import)
    missing = [n for n in __all__ if n not in globals()]
    if missing:
        raise ImportError(f"gradkit.ops.torch_namespace: {missing} in __all__ but not defined")


_check()
