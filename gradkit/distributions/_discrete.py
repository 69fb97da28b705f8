"""Helpers shared by the discrete and relaxed families: the ``probs``-or-``logits`` argument pair, the stable
softplus terms (PyTorch's ``binary_cross_entropy_with_logits`` and ``logsigmoid``), draws from the backend
generator's ``binomial``/``poisson``/``standard_gamma`` (repeatable with ``gk.manual_seed``), and categorical
indices by the inverse CDF of one uniform per draw."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.creation import _on, _random
from gradkit.distributions.distribution import DistributionNotImplementedError
from gradkit.distributions.utils import lazy_property, logits_to_probs, probs_to_logits
from gradkit.errors import InvalidArgumentError
from gradkit.tensor import Tensor

# the number of comparisons one pass of the inverse-CDF search makes at most (bounds its memory)
_CHUNK = 1 << 22
_SEARCH_FROM = 16  # categories (less one) beyond which categorical_indices searches instead of comparing all


class CategoricalParameter:
    """``probs``, ``logits``, ``param_shape`` and the parameter's dtype and device of a family that wraps a
    ``Categorical`` as ``_categorical`` (OneHotCategorical, Multinomial, ExpRelaxedCategorical)."""

    _categorical: Any

    def _param_like(self) -> Tensor:
        return self._categorical._param_like()

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits


class GivenParameter:
    """A family given ``probs`` or ``logits``, stored in ``__dict__`` under ``_param_name`` (the other one is
    computed when first read): ``_param`` and its ``param_shape``."""

    _param_name: str

    @property
    def _param(self) -> Tensor:
        return self.__dict__[self._param_name]

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of the parameter given (``probs`` or ``logits``)."""
        return tuple(self._param.shape)


class BinaryParameter(GivenParameter):
    """The ``probs``/``logits`` pair of a family with one success probability (Bernoulli, Binomial,
    NegativeBinomial, LogitRelaxedBernoulli, ContinuousBernoulli): the one given is stored under
    ``_param_name``, the other computed when first read."""

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)


def probs_or_logits(probs: Any, logits: Any, name: str) -> tuple[str, Any]:
    """``("probs", probs)`` or ``("logits", logits)``: exactly one of them must be given."""
    if (probs is None) == (logits is None):
        raise InvalidArgumentError(f"{name}: either `probs` or `logits` must be specified, but not both")
    return ("probs", probs) if probs is not None else ("logits", logits)


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), without overflow; its slope is sigmoid(x) everywhere (x = 0 included)."""
    return ops.logaddexp(x, 0.0)


def log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x)."""
    return -softplus(-x)


def bce_with_logits(logits: Tensor, target: Any) -> Tensor:
    """-(target log sigmoid(logits) + (1 - target) log sigmoid(-logits)), elementwise and broadcasting
    (``binary_cross_entropy_with_logits`` with ``reduction="none"``): softplus(x) - x t, written as
    softplus(-x) + x (1 - t) for x >= 0 so that neither tail cancels (both branches are finite)."""
    return ops.where(logits >= 0, softplus(-logits) + logits * (1 - target), softplus(logits) - logits * target)


def uniform64(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Draws from U[0, 1) in float64 on ``like``'s device (53 bits, whatever the parameters' dtype)."""
    return _random("rand", shape, np.float64, like._backend, False, "uniform")


def generator_draw(like: Tensor, method: str, name: str, *args: Any) -> Any:
    """``backend.rng.<method>(*args)`` on ``like``'s device: NumPy's or CuPy's Generator, reseeded by
    ``gk.manual_seed``. A generator without the method (the counter-based one a CUDA graph capture puts in
    place) raises DistributionNotImplementedError."""
    backend = like._backend
    rng = backend.rng
    draw = getattr(rng, method, None)
    if draw is None:
        raise DistributionNotImplementedError(
            f"{name}: sampling needs the random generator's {method} draw, which the generator in use "
            f"({type(rng).__name__}) does not have (a step being captured as a CUDA graph draws from a "
            "counter-based generator with uniform and normal draws only)"
        )
    on_device = getattr(backend, "_on_device", None)
    with _on(backend):
        return on_device(draw, *args) if on_device is not None else draw(*args)


def full_array(t: Tensor, shape: tuple[int, ...], dtype: Any) -> Any:
    """``t``'s data broadcast to ``shape`` in ``dtype``, as a contiguous device array (what the generators'
    array arguments need)."""
    xp = t._backend.xp
    with _on(t._backend):
        return xp.broadcast_to(t._data.astype(dtype), shape).copy()  # C order; ascontiguousarray makes 0-d 1-d


def wrap(data: Any, like: Tensor, dtype: Any = None) -> Tensor:
    """A backend array as a tensor on ``like``'s device (cast to ``dtype`` when given)."""
    if dtype is not None and data.dtype != dtype:
        with _on(like._backend):
            data = data.astype(dtype)
    return Tensor._make(data, like._backend)


def categorical_indices(probs: Tensor, u: Tensor) -> Tensor:
    """Category indices (int64, ``u``'s shape S + B) for probabilities ``probs`` (B + (K,), rows not
    necessarily normalised) and uniforms ``u`` in [0, 1): the number of the first K - 1 cumulative
    probabilities <= u * total, in float64 (a category of probability 0 is never chosen). Few categories:
    every comparison, in chunks of the sample axes (memory bounded whatever K); more: a binary search of the
    (non-decreasing) cumulative probabilities, about log2 K vectorised steps of O(1) per draw, which finds the
    same count (1000 categories: about 10 times faster) and reads nothing back from the device."""
    backend = probs._backend
    xp = backend.xp
    batch = tuple(probs.shape[:-1])
    k = probs.shape[-1]
    shape = tuple(u.shape)
    outer = shape[: len(shape) - len(batch)]
    n = math.prod(outer)
    with _on(backend):
        cdf = xp.cumsum(probs._data.astype(np.float64), axis=-1)
        scaled = (u._data.astype(np.float64) * cdf[..., -1]).reshape((n,) + batch)
        inner = cdf[..., :-1]
        if k - 1 > _SEARCH_FROM:
            return Tensor._make(_search(xp, inner, scaled).reshape(shape), backend)
        out = xp.empty((n,) + batch, dtype=np.int64)
        step = max(1, _CHUNK // max(1, math.prod(batch) * max(1, k - 1)))
        for start in range(0, n, step):
            stop = min(n, start + step)
            out[start:stop] = xp.sum(inner <= scaled[start:stop, ..., None], axis=-1)
        return Tensor._make(out.reshape(shape), backend)


def _search(xp: Any, inner: Any, scaled: Any) -> Any:
    """For each element s of ``scaled`` ((n,) + B) the number of entries <= s of its row of ``inner``
    (B + (m,), non-decreasing along the last axis): a branchless binary search on every element at once, over
    the rows padded with +inf to a power of two (ceil(log2(m + 1)) steps of one gather each)."""
    m = inner.shape[-1]
    rows = math.prod(inner.shape[:-1])
    width = 1 << max(1, m).bit_length()  # > m: every row ends with at least one +inf
    padded = xp.full((rows, width), math.inf, dtype=inner.dtype)
    padded[:, :m] = inner.reshape(rows, m)
    flat = padded.reshape(-1)
    start = (xp.arange(rows, dtype=np.int64) * width - 1).reshape(scaled.shape[1:])  # before each row's first
    pos = xp.broadcast_to(start, scaled.shape).copy()
    step = width >> 1
    while step:  # pos + 1 - (row start) entries of the row are known to be <= s
        pos += (xp.take(flat, pos + step) <= scaled) * step
        step >>= 1
    return pos - start


def arange_support(n: int, batch_shape: tuple[int, ...], like: Tensor, dtype: Any, expand: bool) -> Tensor:
    """0, 1, ..., n - 1 along a new first axis: shape (n,) + (1,) * len(batch_shape), or (n,) + batch_shape
    with ``expand`` (an enumerate_support)."""
    backend = like._backend
    with _on(backend):
        values = backend.xp.arange(n, dtype=dtype).reshape((n,) + (1,) * len(batch_shape))
    t = Tensor._make(values, backend)
    return ops.broadcast_to(t, (n,) + tuple(batch_shape)) if expand else t


def one_hot(index: Tensor, k: int, dtype: Any) -> Tensor:
    """One-hot vectors of length ``k`` (in ``dtype``) along a new last axis, from int64 indices."""
    backend = index._backend
    with _on(backend):
        data = (index._data[..., None] == backend.xp.arange(k, dtype=np.int64)).astype(dtype)
    return Tensor._make(data, backend)


def share_validation(outer: Any, inner: Any) -> None:
    """Give ``inner`` (made with ``validate_args=False`` so that ``outer``'s own check names ``outer``) the
    setting of ``outer``: its own when given, else the class default."""
    if "_validate_args" in outer.__dict__:
        inner._validate_args = outer._validate_args
    else:
        inner.__dict__.pop("_validate_args", None)


def check_lims(lims: Any, name: str) -> tuple[float, float]:
    """``lims`` as a pair of floats (ContinuousBernoulli's unstable region)."""
    try:
        lo, hi = (float(v) for v in lims)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name}: lims must be a pair of numbers, got {lims!r:.60}") from None
    return lo, hi
