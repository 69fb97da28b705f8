"""In-place initialisers (``gk.nn.init``), with PyTorch's formulas and names.

Each fills a tensor's array in place (no graph is recorded), draws from the
tensor's backend generator (seeded by ``gk.manual_seed``), or from ``generator=``
(a ``gk.Generator``, PyTorch 2's keyword; CPU tensors only), and returns the
tensor.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from gradkit._args import real, text, whole
from gradkit.creation import _on
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
    # PyTorch's deprecated names (FutureWarning, then the underscore function)
    "constant",
    "dirac",
    "eye",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "orthogonal",
    "sparse",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
]

#: ``gk.nn.utils.skip_init`` sets ``active`` while it builds a module: every initialiser then leaves its tensor
#: as it is (and draws nothing), as PyTorch's do on its "meta" device.
_SKIP = threading.local()


def _skipped() -> bool:
    return getattr(_SKIP, "active", False)


@contextmanager
def _skipping() -> Iterator[None]:
    """Within: the initialisers of this thread check their arguments, then return the tensor unchanged."""
    before = _skipped()
    _SKIP.active = True
    try:
        yield
    finally:
        _SKIP.active = before


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    text(nonlinearity, "calculate_gain", "nonlinearity")
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        else:
            slope = real(param, "calculate_gain", "negative_slope")
        return math.sqrt(2.0 / (1 + slope * slope))  # not slope**2: that raises OverflowError past 1e154
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InvalidArgumentError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of linear, sigmoid, tanh, relu, "
        "leaky_relu, selu (or a conv name)"
    )


def _check(tensor: Any, op: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    from gradkit.nn.lazy import UninitializedTensorError, is_lazy  # here: gradkit.nn.lazy imports this module

    if is_lazy(tensor):  # PyTorch's refuses too (zeros_ and the like would fill nothing and say nothing)
        where = tensor.__dict__.get("_lazy_owner") or f"the {type(tensor).__name__}"
        raise UninitializedTensorError(
            f"{op}: {where} is uninitialized (a lazy module's, before its first call): it has no shape or values "
            "to fill yet; call the module on a sample input first"
        )
    if tensor.dtype.kind != "f" and op not in ("zeros_", "ones_", "constant_", "eye_", "dirac_"):
        raise DTypeError(f"{op}: fills float tensors only, got one of dtype {tensor.dtype}")
    return tensor


def _fan_in_and_fan_out(tensor: Tensor, op: str) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise InvalidArgumentError(
            f"{op}: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions "
            f"(shape {tensor.shape})"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _source(tensor: Tensor, generator: Any, op: str) -> Any:
    """What ``op`` draws from: the tensor's backend (gradkit's generator), or ``generator``'s draws (a
    ``gk.Generator``: the numbers gradkit's CPU generator gives in the same state; a DeviceError for a CUDA
    tensor, as in PyTorch)."""
    if generator is None:
        return tensor._backend
    from gradkit.random_generator import draws

    return draws(generator, tensor._backend, op)


def _fill(tensor: Tensor, values: Any) -> Tensor:
    if _skipped():
        return tensor
    tensor._data[...] = values
    tensor._version[0] += 1
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from U(a, b): in [a, b), as PyTorch's (a value that rounds up to ``b`` in the
    tensor's dtype, as float16's often do, is the largest one below it). ``a`` and ``b - a`` must be finite
    in the tensor's dtype."""
    _check(tensor, "uniform_")
    a, b = real(a, "uniform_", "a"), real(b, "uniform_", "b")
    if not a <= b:
        raise InvalidArgumentError(f"uniform_: expected a <= b, got a={a!r}, b={b!r}")
    top = float(np.finfo(tensor.dtype).max)
    if not (abs(a) <= top and abs(b) <= top and b - a <= top):
        raise InvalidArgumentError(
            f"uniform_: the bounds a={a!r}, b={b!r} and their difference must be finite in {tensor.dtype} "
            f"(at most {top:g})"
        )
    source = _source(tensor, generator, "uniform_")
    if _skipped():
        return tensor
    backend = tensor._backend
    u = source.uniform(tensor.shape, tensor.dtype)
    u *= b - a
    u += a
    if a < b:
        below = np.nextafter(np.asarray(b, tensor.dtype), np.asarray(a, tensor.dtype))
        u = backend.xp.minimum(u, below, out=u) if u.ndim else backend.xp.minimum(u, below)
    return _fill(tensor, u)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _check(tensor, "normal_")
    mean, std = real(mean, "normal_", "mean"), real(std, "normal_", "std")
    if not std >= 0:
        raise InvalidArgumentError(f"normal_: std must be >= 0, got {std!r}")
    source = _source(tensor, generator, "normal_")
    if _skipped():
        return tensor
    z = source.normal(tensor.shape, tensor.dtype)
    z *= std
    z += mean
    return _fill(tensor, z)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(_check(tensor, "constant_"), real(val, "constant_", "val"))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return _fill(_check(tensor, "zeros_"), 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return _fill(_check(tensor, "ones_"), 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fan_in_and_fan_out(_check(tensor, "xavier_uniform_"), "xavier_uniform_")
    gain = real(gain, "xavier_uniform_", "gain")
    if fan_in + fan_out == 0:
        return tensor
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fan_in_and_fan_out(_check(tensor, "xavier_normal_"), "xavier_normal_")
    gain = real(gain, "xavier_normal_", "gain")
    if fan_in + fan_out == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, op: str) -> float | None:
    if text(mode, op, "mode") not in ("fan_in", "fan_out"):
        raise InvalidArgumentError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fan_in_and_fan_out(_check(tensor, op), op)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return None  # a zero-element tensor: nothing to fill
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)`` (``fan`` by ``mode``)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Any = None) -> Tensor:
    """Fill with samples from N(mean, std^2) truncated to [a, b] (``a`` and ``b`` are values, not numbers of
    standard deviations): uniform samples mapped through the inverse normal CDF, in float64, then clipped
    to [a, b] against rounding. Warns, as PyTorch, when ``mean`` is more than 2 std outside [a, b]."""
    from gradkit.ops.special import erfinv

    _check(tensor, "trunc_normal_")
    mean, std = real(mean, "trunc_normal_", "mean"), real(std, "trunc_normal_", "std", low=0.0, low_open=True)
    a, b = real(a, "trunc_normal_", "a"), real(b, "trunc_normal_", "b")
    if not a <= b:
        raise InvalidArgumentError(f"trunc_normal_: expected a <= b, got a={a!r}, b={b!r}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            f"trunc_normal_: mean {mean} is more than 2 std from [{a}, {b}]; the values drawn may be inaccurate",
            stacklevel=2,
        )
    source = _source(tensor, generator, "trunc_normal_")
    if _skipped():
        return tensor
    backend = tensor._backend

    def cdf(x: float) -> float:  # the standard normal CDF at (x - mean) / std, as erf's argument scaled to [-1, 1]
        return math.erf((x - mean) / (std * math.sqrt(2.0)))

    lo, hi = cdf(a), cdf(b)
    u = source.uniform(tensor.shape, np.dtype(np.float64))
    u *= hi - lo
    u += lo
    z = erfinv(Tensor._make(u, backend))._data
    z *= std * math.sqrt(2.0)
    z += mean
    return _fill(tensor, backend.xp.clip(z, a, b))


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``: the Q of the QR decomposition of a standard
    normal matrix (the signs of its columns fixed by R's diagonal, so that Q is uniformly distributed).
    The tensor is taken as (shape[0], the rest flattened); it needs at least 2 dimensions."""
    _check(tensor, "orthogonal_")
    gain = real(gain, "orthogonal_", "gain")
    if tensor.ndim < 2:
        raise InvalidArgumentError(
            f"orthogonal_: needs a tensor with 2 or more dimensions, got shape {tensor.shape}"
        )
    source = _source(tensor, generator, "orthogonal_")
    if tensor.size == 0 or _skipped():
        return tensor
    backend = tensor._backend
    xp = backend.xp
    rows = tensor.shape[0]
    cols = tensor.size // rows
    m = source.normal((rows, cols), np.dtype(np.float64))
    if rows < cols:
        m = m.T
    q, r = xp.linalg.qr(m)
    q *= xp.sign(xp.diagonal(r))  # one sign per column of q
    if rows < cols:
        q = q.T
    q *= gain
    return _fill(tensor, q.reshape(tensor.shape))


def eye_(tensor: Tensor) -> Tensor:
    """Fill the 2-d ``tensor`` with the identity matrix: ones on the main diagonal, zeros elsewhere (a
    rectangular matrix too), as PyTorch's ``eye_`` (to keep a linear layer's inputs). Any dtype; in place, no
    graph recorded; returns the tensor. Another number of dimensions is an ``InvalidArgumentError``."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise InvalidArgumentError(f"eye_: only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    if _skipped():
        return tensor
    data = tensor._data
    with _on(tensor._backend):
        data[...] = 0
        tensor._backend.xp.fill_diagonal(data, 1)  # min(rows, cols) ones, no wrap
    tensor._version[0] += 1
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill the 3-, 4- or 5-d convolution weight ``tensor`` (out_channels, in_channels, *kernel) with the Dirac
    delta, as PyTorch's ``dirac_``: zeros, and a one at the kernel's centre (``k // 2`` on each axis) for
    output channel ``g * out_channels / groups + d`` and input channel ``d``, ``d`` below
    ``min(out_channels / groups, in_channels)``, in each group ``g``, so that the convolution keeps the
    identity of as many input channels as it can. Any dtype; in place, no graph recorded; returns the tensor.
    Another number of dimensions, or ``out_channels`` not divisible by ``groups``, is an
    ``InvalidArgumentError``."""
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise InvalidArgumentError(
            f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape {tensor.shape}"
        )
    groups = whole(groups, "dirac_", "groups", low=1)
    out_channels, in_channels = tensor.shape[:2]
    if out_channels % groups:
        raise InvalidArgumentError(
            f"dirac_: dim 0 ({out_channels}) must be divisible by groups ({groups}), got shape {tensor.shape}"
        )
    if _skipped():
        return tensor
    per_group = out_channels // groups
    n = min(per_group, in_channels)
    backend = tensor._backend
    data = tensor._data
    with _on(backend):
        data[...] = 0
        if n and data.size:
            outs = (np.arange(groups)[:, None] * per_group + np.arange(n)).reshape(-1)
            ins = np.tile(np.arange(n), groups)
            centre = tuple(k // 2 for k in tensor.shape[2:])
            data[(backend.asarray(outs), backend.asarray(ins), *centre)] = 1
    tensor._version[0] += 1
    return tensor


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Fill the 2-d ``tensor`` as a sparse matrix, as PyTorch's ``sparse_`` (Martens, 2010): values from
    N(0, std^2), then in each column ``ceil(sparsity * rows)`` rows chosen at random (all distinct) set to zero.
    ``sparsity`` >= 0 (1 or more: all zeros), ``std`` >= 0. ``generator``: None (the tensor's backend generator,
    seeded by ``gk.manual_seed``), a ``gk.Generator`` (CPU tensors only, as PyTorch's) or another
    ``numpy.random.Generator`` (on a GPU tensor: drawn on the host, then copied to the tensor's device).
    Float tensors only; in place, no graph recorded; returns the tensor. Another number of dimensions is an
    ``InvalidArgumentError``."""
    op = "sparse_"
    _check(tensor, op)
    if tensor.ndim != 2:
        raise InvalidArgumentError(f"{op}: only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    sparsity = real(sparsity, op, "sparsity", low=0.0)
    std = real(std, op, "std", low=0.0)
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise ArgumentTypeError(
            f"{op}: generator must be None or a gk.Generator (or a numpy.random.Generator), got "
            f"{type(generator).__name__}"
        )
    from gradkit.backends import NUMPY
    from gradkit.random_generator import Generator

    host_copy = generator is not None and tensor._backend is not NUMPY and not isinstance(generator, Generator)
    source = None if host_copy else _source(tensor, generator, op)
    if _skipped():
        return tensor
    rows, cols = tensor.shape
    zeros = min(rows, math.ceil(sparsity * rows))
    backend = tensor._backend
    xp = backend.xp
    dtype = tensor.dtype
    with _on(backend):
        if source is not None:
            values = source.normal((rows, cols), dtype)
            keys = source.uniform((rows, cols), np.dtype(np.float64)) if zeros else None
        else:
            values = backend.asarray(generator.standard_normal((rows, cols)).astype(dtype))
            keys = backend.asarray(generator.random((rows, cols))) if zeros else None
        values *= std
        if zeros:
            # each column's rows in a random order: its `zeros` first ones (the smallest keys) become zero
            rank = xp.argsort(xp.argsort(keys, axis=0), axis=0)
            values[rank < zeros] = 0
    return _fill(tensor, values)


def _make_deprecate(meth: Any) -> Any:
    """PyTorch's deprecated name without the trailing underscore: warns (FutureWarning, PyTorch's message) and
    calls ``meth`` with the same arguments, returning its result."""
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = (
        f"{old_name}(...): deprecated (as in PyTorch) in favor of :func:`{new_name}`, which it calls after a "
        "FutureWarning."
    )
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    deprecated_init.__wrapped__ = meth  # inspect.signature shows the new function's
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
