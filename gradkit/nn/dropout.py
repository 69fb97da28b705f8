"""PyTorch's dropout layers other than ``Dropout`` (``layers.py``): Dropout1d, Dropout3d (whole channels),
AlphaDropout and FeatureAlphaDropout (SELU's), with their functional forms, and ``F.dropout2d`` (its layer
``Dropout2d`` is in ``conv.py``).

Each is one recorded node ``x * scale + shift`` whose rule is ``g * scale`` (``scale`` and ``shift`` raw
arrays drawn from the backend's generator, seeded by ``gk.manual_seed``): gradients of any order, NumPy
or CuPy, no host reads. ``inplace=True`` writes the result into the input and returns it, as PyTorch (recorded
when the input is in the graph; outside training, or with p == 0, the input is returned untouched).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from gradkit._args import flag, probability
from gradkit.autograd.function import record
from gradkit.errors import DTypeError, ShapeError
from gradkit.nn.activation import _scale_vjp
from gradkit.nn.layers import _DropoutNd
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = [
    "AlphaDropout",
    "Dropout1d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "alpha_dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
]

# -SELU's saturation value (scale * alpha): what alpha dropout sets a dropped element to before the affine fix.
_ALPHA = 1.7580993408473766


def _input(input: Any, p: Any, training: Any, inplace: Any, op: str) -> tuple[Tensor, float, bool, bool]:  # noqa: A002
    """The input as a float Tensor, ``p`` (a probability), ``training`` and ``inplace``, checked."""
    p = probability(p, op, "p")
    x = as_tensor(input, op)
    training = flag(training, op, "training")
    inplace = flag(inplace, op, "inplace")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}")
    return x, p, training, inplace


def _dropped_(input: Any, p: float, noise_shape: tuple, alpha: bool, op: str) -> Tensor:  # noqa: A002
    """``_drop`` written into ``input``, which is returned (``inplace=True``): recorded when it is in the graph,
    without a copy of its old values (the backward reads the scale only)."""
    from gradkit.nn.functional_extra import _in_place

    return _in_place(input, op + "_", _drop, p, noise_shape, alpha, op, keeps_old=False)


def _drop(x: Tensor, p: float, noise_shape: tuple, alpha: bool, op: str) -> Tensor:
    """``x`` with a keep-mask of ``noise_shape`` (broadcast over x) drawn with keep probability 1 - p.

    Plain dropout scales the kept elements by 1 / (1 - p). Alpha dropout (PyTorch's) maps a kept x to
    ``a x + a alpha p`` and a dropped one to ``a alpha (p - 1)``, with ``a = 1 / sqrt((alpha^2 p + 1)(1 - p))``,
    which keeps a zero mean and unit variance.
    """
    xd = x._data
    xp = x._backend.xp
    dt = xd.dtype.type
    if p == 1:
        scale = xp.zeros(noise_shape, dtype=xd.dtype)
        return record(op, xd * scale, x._backend, (x,), (_scale_vjp,), (scale,))
    keep = (x._backend.uniform(noise_shape, xd.dtype) >= p).astype(xd.dtype)
    if not alpha:
        scale = keep * dt(1 / (1 - p))
        return record(op, xd * scale, x._backend, (x,), (_scale_vjp,), (scale,))
    a = 1 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    scale = keep * dt(a)
    shift = (keep - 1) * dt(_ALPHA * a) + dt(_ALPHA * a * p)
    return record(op, xd * scale + shift, x._backend, (x,), (_scale_vjp,), (scale,))


def _channels(x: Tensor, spatial: int, op: str) -> tuple:
    """The noise shape of channel dropout with ``spatial`` axes after C: (N, C, 1, ...), or (C, 1, ...) for an
    unbatched input; a ShapeError for any other number of axes (checked in every mode)."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(
            f"{op}: expected a {spatial + 2}-D (N, C, ...) or {spatial + 1}-D (C, ...) input (channels with "
            f"{spatial} spatial axes), got input of shape {x.shape}"
        )
    lead = x.ndim - spatial
    return x.shape[:lead] + (1,) * spatial


# ------------------------------------------------------------------ functional forms
def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero whole channels of (N, C, L) or unbatched (C, L) input with probability ``p`` and scale the rest by
    1 / (1 - p), when ``training``."""
    x, p, training, inplace = _input(input, p, training, inplace, "dropout1d")
    shape = _channels(x, 1, "dropout1d")
    if not training or p == 0:
        return x
    if inplace:
        return _dropped_(input, p, shape, False, "dropout1d")
    return _drop(x, p, shape, False, "dropout1d")


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero whole channels of (N, C, H, W) input with probability ``p`` and scale the rest by 1 / (1 - p),
    when ``training``. A 3-D input is taken as (N, C, L), with a warning, as PyTorch 2 does."""
    op = "dropout2d"
    p = probability(p, op, "p")
    x = as_tensor(input, op)
    inplace = flag(inplace, op, "inplace")
    training = flag(training, op, "training")
    # checked in evaluation mode too: an input that works there must not fail once training starts
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 4-D (N, C, H, W) or 3-D (N, C, L) input, got input of shape {x.shape}")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}")
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: a 3-D input is taken as (N, C, L) and each of its channels dropped whole (PyTorch's "
            "current behaviour, which it plans to change to an unbatched (C, H, W)); use a 4-D input",
            UserWarning, stacklevel=3,
        )
    if not training or p == 0:
        return x
    if inplace:
        return _dropped_(input, p, x.shape[:2] + (1,) * (x.ndim - 2), False, op)
    return _drop(x, p, x.shape[:2] + (1,) * (x.ndim - 2), False, op)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) input with probability ``p`` and scale
    the rest by 1 / (1 - p), when ``training``. (PyTorch only warns for other ranks; gradkit refuses them.)"""
    x, p, training, inplace = _input(input, p, training, inplace, "dropout3d")
    shape = _channels(x, 3, "dropout3d")
    if not training or p == 0:
        return x
    if inplace:
        return _dropped_(input, p, shape, False, "dropout3d")
    return _drop(x, p, shape, False, "dropout3d")


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002
    """SELU's dropout: each element is dropped with probability ``p`` to SELU's saturation value, then an affine
    map keeps the mean and variance of a zero-mean unit-variance input, when ``training`` (off by default, as
    PyTorch's). p == 1 gives zeros."""
    x, p, training, inplace = _input(input, p, training, inplace, "alpha_dropout")
    if not training or p == 0 or x.size == 0:
        return x
    if inplace:
        return _dropped_(input, p, x.shape, True, "alpha_dropout")
    return _drop(x, p, x.shape, True, "alpha_dropout")


def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels: one draw per (N, C) pair of (N, C, *) input (at least 2 axes)."""
    op = "feature_alpha_dropout"
    x, p, training, inplace = _input(input, p, training, inplace, op)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) (at least 2 axes), got {x.shape}")
    if not training or p == 0 or x.size == 0:
        return x
    if inplace:
        return _dropped_(input, p, x.shape[:2] + (1,) * (x.ndim - 2), True, op)
    return _drop(x, p, x.shape[:2] + (1,) * (x.ndim - 2), True, op)


# ------------------------------------------------------------------ layers
class Dropout1d(_DropoutNd):
    """``F.dropout1d``: drop whole channels of (N, C, L) or (C, L) input in training mode."""

    def forward(self, x: Any) -> Tensor:
        return dropout1d(x, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """``F.dropout3d``: drop whole channels of (N, C, D, H, W) or (C, D, H, W) input in training mode."""

    def forward(self, x: Any) -> Tensor:
        return dropout3d(x, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """``F.alpha_dropout`` in training mode (for SELU networks); the identity in evaluation mode."""

    def forward(self, x: Any) -> Tensor:
        return alpha_dropout(x, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """``F.feature_alpha_dropout`` in training mode: alpha dropout of whole channels."""

    def forward(self, x: Any) -> Tensor:
        return feature_alpha_dropout(x, self.p, self.training, self.inplace)
