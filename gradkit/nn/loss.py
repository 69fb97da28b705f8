"""Loss modules (PyTorch's constructors), each a thin Module over its form in ``gk.nn.functional``.

Arguments are checked when the module is made, with the functional form's
errors. A ``weight`` or ``pos_weight`` becomes a buffer, as in PyTorch: it is
in the state dict and moves with ``.to()``. The buffer shares the given
tensor's memory but is its own object, so ``.to()`` leaves the caller's
tensor where it was (a leaf that requires grad is kept as it is, so that its
gradient still reaches it).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from gradkit._args import flag, real, whole
from gradkit.creation import array_for
from gradkit.errors import InvalidArgumentError, ShapeError
from gradkit.nn import functional as F
from gradkit.nn.functional import _KL_REDUCTIONS, _check_reduction
from gradkit.nn.module import Module
from gradkit.tensor import Tensor

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MarginRankingLoss",
    "MSELoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
]


def _legacy_reduction(size_average: Any, reduce: Any, op: str) -> str:
    """PyTorch's deprecated ``size_average`` / ``reduce`` pair as a reduction, with PyTorch's warning."""
    size_average = True if size_average is None else flag(size_average, op, "size_average")
    reduce = True if reduce is None else flag(reduce, op, "reduce")
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:  # point at the caller's line
        level, frame = level + 1, frame.f_back
    warnings.warn(
        f"{op}: size_average and reduce are deprecated (as in PyTorch), please use reduction='{reduction}' instead",
        UserWarning,
        stacklevel=level,
    )
    return reduction


def _weight_buffer(value: Any, op: str, name: str, per_class: bool) -> Tensor | None:
    """``weight`` / ``pos_weight`` as the tensor to register: a new Tensor sharing the given one's memory
    (or the given one itself when it is a leaf that requires grad); arrays and lists are converted."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        t = value if value._requires_grad and value._grad_fn is None else value.detach()
    else:
        t = Tensor._make(*array_for(value, None, None, op))
    if per_class and (t.ndim != 1 or t.dtype.kind not in "fiu"):  # F.cross_entropy's check, less the class count
        raise ShapeError(f"{op}: {name} must hold one number per class, shape (C,); got {t.shape} {t.dtype}")
    return t


class _Loss(Module):
    """What the losses share: ``reduction`` ('mean', 'sum' or 'none'), checked at construction."""

    _reductions = ("mean", "sum", "none")

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        op = type(self).__name__
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce, op)
        _check_reduction(reduction, op, self._reductions)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight`` buffer."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _weight_buffer(weight, type(self).__name__, "weight", per_class=True))


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (N, C) against integer class targets (N,): ``F.cross_entropy``
    (also PyTorch's (C,) and (N, C, d1, ..., dk) inputs, and class-probability targets)."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = whole(ignore_index, "CrossEntropyLoss", "ignore_index")
        smoothing = real(label_smoothing, "CrossEntropyLoss", "label_smoothing", low=0.0)
        if smoothing > 1:
            raise InvalidArgumentError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {smoothing}")
        self.label_smoothing = smoothing

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.cross_entropy(input, target, self.reduction, weight=self.weight, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C) at integer class targets (N,): ``F.nll_loss``
    (also PyTorch's (C,) and (N, C, d1, ..., dk) inputs)."""

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = whole(ignore_index, "NLLLoss", "ignore_index")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.reduction, weight=self.weight, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error: ``F.mse_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Absolute error: ``F.l1_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable step: ``F.binary_cross_entropy_with_logits``.

    ``weight`` scales each element's loss and ``pos_weight`` the positive term
    (one per class, broadcast over the last axis); both are buffers.
    """

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _weight_buffer(weight, "BCEWithLogitsLoss", "weight", per_class=False))
        self.register_buffer(
            "pos_weight", _weight_buffer(pos_weight, "BCEWithLogitsLoss", "pos_weight", per_class=False)
        )

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.reduction, self.pos_weight, weight=self.weight)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch):
    ``F.binary_cross_entropy``. ``weight`` (broadcast to the input's shape) is a buffer."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _weight_buffer(weight, "BCELoss", "weight", per_class=False))

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class HuberLoss(_Loss):
    """Squared error below ``delta``, absolute error (times ``delta``) above it: ``F.huber_loss``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = real(delta, "HuberLoss", "delta", low=0.0, low_open=True)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


class SmoothL1Loss(_Loss):
    """Squared error (over ``beta``) below ``beta``, absolute error above it: ``F.smooth_l1_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = real(beta, "SmoothL1Loss", "beta", low=0.0)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities from a target: ``F.kl_div``.

    ``reduction`` may also be "batchmean" (the KL divergence); "mean", PyTorch's default, averages over
    every element and warns at each call, as PyTorch does.
    """

    _reductions = _KL_REDUCTIONS

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = flag(log_target, "KLDivLoss", "log_target")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, self.reduction, self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood of ``target`` under N(input, var): ``F.gaussian_nll_loss``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = flag(full, "GaussianNLLLoss", "full")
        self.eps = real(eps, "GaussianNLLLoss", "eps", low=0.0)

    def forward(self, input: Any, target: Any, var: Any) -> Tensor:  # noqa: A002
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, full={self.full}, eps={self.eps}"


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood of counts ``target`` at rates ``exp(input)`` (or ``input`` with
    ``log_input=False``): ``F.poisson_nll_loss``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average: Any = None, eps: float = 1e-8,
                 reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = flag(log_input, "PoissonNLLLoss", "log_input")
        self.full = flag(full, "PoissonNLLLoss", "full")
        self.eps = real(eps, "PoissonNLLLoss", "eps", low=0.0)

    def forward(self, log_input: Any, target: Any) -> Tensor:
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, self.eps, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_input={self.log_input}, full={self.full}, eps={self.eps}"


class _MarginLoss(_Loss):
    """A loss with a ``margin`` (any real number)."""

    def __init__(self, margin: float, size_average: Any, reduce: Any, reduction: str) -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = real(margin, type(self).__name__, "margin")

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, margin={self.margin}"


class MarginRankingLoss(_MarginLoss):
    """``max(0, -target (input1 - input2) + margin)`` for targets +-1: ``F.margin_ranking_loss``."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """``input`` for targets 1, ``max(0, margin - input)`` for targets -1: ``F.hinge_embedding_loss``."""

    def __init__(self, margin: float = 1.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.hinge_embedding_loss(input, target, self.margin, self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-target input))``: ``F.soft_margin_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.soft_margin_loss(input, target, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """``1 - cos`` for targets 1, ``max(0, cos - margin)`` for targets -1: ``F.cosine_embedding_loss``."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))``: ``F.triplet_margin_loss``."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = real(margin, "TripletMarginLoss", "margin", low=0.0, low_open=True)
        self.p = F._norm_order(p, "TripletMarginLoss")
        self.eps = real(eps, "TripletMarginLoss", "eps")
        self.swap = flag(swap, "TripletMarginLoss", "swap")

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                     self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, margin={self.margin}, p={self.p}, eps={self.eps}, swap={self.swap}"


class MultiLabelSoftMarginLoss(_Loss):
    """Per-class logistic loss averaged over the classes: ``F.multilabel_soft_margin_loss``. ``weight``
    (one per class, broadcast to the input) is a buffer."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _weight_buffer(weight, "MultiLabelSoftMarginLoss", "weight", per_class=False))

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.multilabel_soft_margin_loss(input, target, self.weight, self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss of scores (N, C) at class targets (N,): ``F.multi_margin_loss``. ``p`` is 1 or 2;
    ``weight`` (one per class) is a buffer."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, size_average: Any = None,
                 reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.p = whole(p, "MultiMarginLoss", "p")
        if self.p not in (1, 2):
            raise InvalidArgumentError(f"MultiMarginLoss: p must be 1 or 2, got {self.p}")
        self.margin = real(margin, "MultiMarginLoss", "margin")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, p={self.p}, margin={self.margin}"
