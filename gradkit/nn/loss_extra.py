"""PyTorch's CTC, multi-label margin and triplet-with-distance losses: functional forms and Modules.

``ctc_loss`` runs the forward-backward algorithm of Graves et al. (2006) in log space on raw arrays, vectorised
over the batch and the extended labels (blank, l1, blank, l2, ..., blank) with a Python loop over time: the
forward pass keeps the log-alphas, and the loss's node computes the log-betas and the label occupancies in its
backward rule. When that backward pass is itself recorded (``create_graph=True``), the rule rebuilds the
alpha recursion from gradkit ops (unreachable states held at -1e30 rather than -inf, so that no gradient is
0 * inf) and returns its VJP, so derivatives of every order work. The others are compositions of gradkit ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.autograd.function import record
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.nn._gather import take
from gradkit.nn.activation import _float_input
from gradkit.nn.functional import _check_reduction, _reduce, _warn_at_caller, pairwise_distance, relu
from gradkit.nn.loss import _Loss
from gradkit.ops._util import as_tensor
from gradkit.ops.shape import alias
from gradkit.tensor import Tensor

__all__ = [
    "CTCLoss",
    "MultiLabelMarginLoss",
    "TripletMarginWithDistanceLoss",
    "ctc_loss",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
]

_make = Tensor._make
_NEG = -1e30  # the composed CTC path's "log 0": exp of it is 0, and its gradients stay finite


def _legacy(size_average: Any, reduce: Any, reduction: str, op: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` pair as a reduction (with PyTorch's warning), else
    ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else flag(size_average, op, "size_average")
    reduce = True if reduce is None else flag(reduce, op, "reduce")
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    _warn_at_caller(
        f"{op}: size_average and reduce are deprecated (as in PyTorch), please use reduction='{reduction}' instead"
    )
    return reduction


# ================================================================== CTC
def _host_ints(value: Any, op: str, name: str) -> np.ndarray:
    """A Tensor, array, sequence or int of integers as a flat int64 NumPy array (a device tensor is read back,
    as PyTorch reads the lengths on the host)."""
    if isinstance(value, Tensor):
        data = value._backend.to_numpy(value._data)
    elif isinstance(value, (bool, np.bool_)):
        raise DTypeError(f"{op}: {name} must be integers, got bool {value!r}")
    else:
        try:
            data = np.asarray(value if not hasattr(value, "__cuda_array_interface__") else value.get())
        except (TypeError, ValueError):
            raise ShapeError(f"{op}: {name} must be integers, got {value!r:.60}") from None
    if data.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {name} must be integers, got dtype {data.dtype}")
    return data.astype(np.int64).reshape(-1)


class _CTCPlan:
    """What the forward pass hands to the backward rule (raw arrays; host arrays are NumPy)."""

    __slots__ = ("alphas", "blank", "e", "ext", "il", "inf", "last", "n_classes", "nll", "skip", "t_max", "tl",
                 "zero_infinity")


def _ctc_targets(targets: Any, lp: Tensor, n: int, tl: np.ndarray, batched: bool, op: str) -> Any:
    """The targets as a padded (N, S) int64 array, S = max(target_lengths) (at least 0): a NumPy array when they
    come from the host (a list, NumPy array or CPU tensor: their values are checked there), else on lp's device."""
    backend = lp._backend
    if isinstance(targets, Tensor):
        data = targets._data
        if type(data) is not np.ndarray and targets._backend is not backend:
            data = backend.transfer(data, targets._backend)
    elif hasattr(targets, "__cuda_array_interface__"):
        data = backend.asarray(targets)
    else:
        try:
            data = np.asarray(targets)
        except (TypeError, ValueError):
            raise ShapeError(f"{op}: targets must be a rectangular array of class indices, got {targets!r:.60}") \
                from None
        if data.dtype == object:
            raise ShapeError(f"{op}: targets must be a rectangular array of class indices, got {targets!r:.60}")
    if data.dtype.kind not in "iu":
        raise DTypeError(f"{op}: targets must be integer class indices, got dtype {data.dtype}")
    data = data.astype(np.int64, copy=False)
    on_host = type(data) is np.ndarray
    xp = np if on_host else backend.xp
    s = int(tl.max()) if tl.size else 0
    if data.ndim == 2:
        if data.shape[0] != n:
            raise ShapeError(f"{op}: padded targets of shape {data.shape} must have one row per sequence ({n})")
        if data.shape[1] < s:
            raise ShapeError(
                f"{op}: padded targets of shape {data.shape} are shorter than the longest target length ({s})"
            )
        padded = data[:, :s]
    elif data.ndim == 1:
        total = int(tl.sum())
        if not batched:  # one sequence: its labels, possibly padded
            if data.shape[0] < total:
                raise ShapeError(f"{op}: targets of length {data.shape[0]} are shorter than target_lengths {total}")
            padded = data[None, :s]
        else:
            if data.shape[0] != total:
                raise ShapeError(
                    f"{op}: concatenated (1-D) targets must hold sum(target_lengths) = {total} labels, got "
                    f"{data.shape[0]}"
                )
            starts = np.concatenate([[0], np.cumsum(tl)[:-1]])
            cols = np.arange(s, dtype=np.int64)
            where = np.minimum(starts[:, None] + cols, max(total - 1, 0))
            padded = data[where if on_host else backend.asarray(where)] if total else xp.zeros((n, s), dtype=np.int64)
    else:
        raise ShapeError(f"{op}: targets must be 2-D (N, S) padded or 1-D concatenated, got shape {data.shape}")
    return padded


def _lse3(xp: Any, a: Any, b: Any, c: Any) -> Any:
    """log(exp(a) + exp(b) + exp(c)), elementwise, with -inf where all three are -inf (PyTorch's order)."""
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(m == -np.inf, 0, m)
    return xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m)) + m


def _shift(xp: Any, a: Any, k: int, fill: float) -> Any:
    """``a`` (N, L) moved k places right along L (k < 0: left), ``fill`` coming in."""
    out = xp.full(a.shape, fill, dtype=a.dtype)
    length = a.shape[1]
    if abs(k) < length:
        if k > 0:
            out[:, k:] = a[:, :length - k]
        else:
            out[:, :length + k] = a[:, -k:]
    return out


def ctc_loss(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """PyTorch's ``F.ctc_loss``: the connectionist temporal classification loss of log-probabilities
    ``log_probs`` (T, N, C) (or unbatched (T, C)) against target label sequences.

    ``targets``: padded (N, S) or concatenated 1-D (sum(target_lengths)) class indices (not ``blank``);
    ``input_lengths`` and ``target_lengths``: one int per sequence (tensors, sequences or, unbatched, an int;
    read on the host, as PyTorch). Per sequence the loss is ``-log p(target | input)`` summed over all
    alignments (the forward-backward algorithm in log space); "mean" divides each by its target length (at
    least 1) and averages, "sum" adds, "none" gives (N,) (unbatched: 0-d). An impossible alignment gives inf
    (its gradient NaN, as PyTorch), or 0 with a zero gradient under ``zero_infinity``.

    The gradient is the derivative of the loss with respect to ``log_probs`` (time steps past a sequence's
    length get 0). PyTorch's kernel returns that plus ``exp(log_probs)`` (the gradient with respect to the
    logits, assuming the input is a ``log_softmax``): both give the same gradient through ``log_softmax``.
    """
    if _autocast.active:  # gk.autocast: on PyTorch's CPU float32 list
        (log_probs,) = _autocast.to_float32("ctc_loss", log_probs)
    op = "ctc_loss"
    _check_reduction(reduction, op)
    blank = whole(blank, op, "blank")
    zero_infinity = flag(zero_infinity, op, "zero_infinity")
    lp = log_probs if isinstance(log_probs, Tensor) else as_tensor(log_probs, op)
    if lp.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{op}: log_probs must be float32 or float64, got {lp.dtype}; convert with .astype()")
    if lp.ndim not in (2, 3):
        raise ShapeError(f"{op}: log_probs must be (T, N, C) or unbatched (T, C), got shape {lp.shape}")
    batched = lp.ndim == 3
    if not batched:
        lp = ops.unsqueeze(lp, 1)
    t_total, n, c = lp.shape
    if not 0 <= blank < c:
        raise IndexOutOfRangeError(f"{op}: blank {blank} is out of range for {c} classes")
    il = _host_ints(input_lengths, op, "input_lengths")
    tl = _host_ints(target_lengths, op, "target_lengths")
    for name, lengths in (("input_lengths", il), ("target_lengths", tl)):
        if lengths.size != n:
            raise ShapeError(f"{op}: {name} must hold one length per sequence ({n}), got {lengths.size}")
        if lengths.size and lengths.min() < 0:
            raise InvalidArgumentError(f"{op}: {name} must be >= 0, got {int(lengths.min())}")
    if il.size and il.max() > t_total:
        raise InvalidArgumentError(f"{op}: input_lengths must be at most T = {t_total}, got {int(il.max())}")
    padded = _ctc_targets(targets, lp, n, tl, batched, op)
    plan = _ctc_plan(lp, padded, il, tl, blank, zero_infinity, op)
    nll = record("ctc_loss", plan.nll, lp._backend, (lp,), (_ctc_vjp,), (lp, plan))
    if zero_infinity:
        nll = ops.where(plan.inf, 0.0, nll)
    if reduction == "mean":
        divisor = lp._backend.asarray(np.maximum(tl, 1).astype(lp.dtype))
        return ops.mean(nll / divisor)
    if reduction == "sum":
        return ops.sum(nll)
    return nll if batched else ops.reshape(nll, ())


def _ctc_plan(lp: Tensor, padded: Any, il: np.ndarray, tl: np.ndarray, blank: int, zero_infinity: bool,
              op: str) -> _CTCPlan:
    """The extended labels, the emissions along them and the log-alphas (the forward pass on raw arrays)."""
    backend = lp._backend
    xp = backend.xp
    n, s = padded.shape
    c = lp.shape[2]
    length = 2 * s + 1
    used = np.arange(s)[None, :] < tl[:, None]  # (N, S) on the host
    if type(padded) is np.ndarray:  # targets from the host are checked there; a GPU's are not read (nor by PyTorch)
        vals = padded[used]
        if vals.size and (vals.min() < 0 or vals.max() >= c):
            bad = int(vals.min()) if vals.min() < 0 else int(vals.max())
            raise IndexOutOfRangeError(f"{op}: target {bad} is out of range: expected 0 <= value < {c}")
        padded = backend.asarray(padded)
    labels = xp.where(backend.asarray(used), xp.clip(padded, 0, c - 1), blank)
    ext = xp.full((n, length), blank, dtype=np.int64)
    ext[:, 1::2] = labels
    skip = xp.zeros((n, length), dtype=bool)
    if length > 2:
        skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
    t_max = int(il.max()) if il.size else 0
    plan = _CTCPlan()
    plan.ext, plan.skip, plan.il, plan.tl, plan.t_max, plan.blank = ext, skip, il, tl, t_max, blank
    plan.zero_infinity, plan.n_classes = zero_infinity, c
    rows = xp.arange(n, dtype=np.int64)
    e = lp._data[xp.arange(t_max, dtype=np.int64)[:, None, None], rows[None, :, None], ext[None]]  # (T', N, L)
    plan.e = e
    dtype = lp.dtype
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alphas = xp.full((t_max, n, length), -np.inf, dtype=dtype)
        if t_max:
            a = xp.full((n, length), -np.inf, dtype=dtype)
            a[:, 0] = e[0, :, 0]
            if length > 1:
                a[:, 1] = xp.where(backend.asarray(tl > 0), e[0, :, 1], -np.inf)
            alphas[0] = a
            neg = xp.asarray(-np.inf, dtype=dtype)
            for t in range(1, t_max):
                a = _lse3(xp, a, _shift(xp, a, 1, -np.inf), xp.where(skip, _shift(xp, a, 2, -np.inf), neg)) + e[t]
                alphas[t] = a
        plan.alphas = alphas
        last = np.maximum(il - 1, 0)
        plan.last = il - 1  # -1 for an empty input: no step is its last
        ll = np.zeros(n, dtype=dtype)
        if t_max:
            at = alphas[backend.asarray(last), rows]  # (N, L): each sequence's last step
            end = backend.asarray(2 * tl)
            l1 = at[rows, end]
            l2 = xp.where(backend.asarray(tl > 0), at[rows, backend.asarray(np.maximum(2 * tl - 1, 0))], -np.inf)
            m = xp.maximum(l1, l2)
            m = xp.where(m == -np.inf, 0, m)
            ll = xp.log(xp.exp(l1 - m) + xp.exp(l2 - m)) + m
        else:
            ll = backend.asarray(ll)
        empty = backend.asarray(il == 0)  # no input: probability 1 for an empty target, else 0
        ll = xp.where(empty, xp.where(backend.asarray(tl == 0), 0.0, -np.inf), ll).astype(dtype, copy=False)
        plan.nll = -ll
    plan.inf = plan.nll == np.inf  # on the device: not read back
    return plan


def _ctc_vjp(g: Tensor, lp: Tensor, plan: _CTCPlan) -> Tensor:
    if grad_mode.state.enabled and plan.t_max:  # create_graph=True: the composed recursion's VJP, recorded
        x = alias(lp, "ctc_log_probs")
        nll = _ctc_composed(x, plan)
        xp = lp._backend.xp
        factor = xp.where(plan.inf, 0.0 if plan.zero_infinity else np.nan, 1.0).astype(lp.dtype)
        (grad,) = run_backward([nll], [g * factor], retain_graph=True, create_graph=True, inputs=[x])
        return grad
    backend = lp._backend
    xp = backend.xp
    n, length = plan.ext.shape
    t_max = plan.t_max
    e, skip = plan.e, plan.skip
    out = xp.zeros(lp.shape, dtype=lp.dtype)
    if t_max:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rows = xp.arange(n, dtype=np.int64)
            # each sequence's last step starts the betas: its last two extended labels
            start = xp.full((n, length), -np.inf, dtype=lp.dtype)
            at = e[backend.asarray(np.maximum(plan.last, 0)), rows]
            end = backend.asarray(2 * plan.tl)
            start[rows, end] = at[rows, end]
            prev = backend.asarray(np.maximum(2 * plan.tl - 1, 0))
            start[rows, prev] = xp.where(backend.asarray(plan.tl > 0), at[rows, prev], start[rows, prev])
            back_skip = _shift(xp, skip, -2, False)  # s + 2 may skip back to s
            neg = xp.asarray(-np.inf, dtype=lp.dtype)
            gamma = xp.empty((t_max, n, length), dtype=lp.dtype)
            b = xp.full((n, length), -np.inf, dtype=lp.dtype)
            last = backend.asarray(plan.last)[:, None]
            nll = plan.nll[None, :]
            for t in range(t_max - 1, -1, -1):
                rec = _lse3(xp, b, _shift(xp, b, -1, -np.inf), xp.where(back_skip, _shift(xp, b, -2, -np.inf), neg)) \
                    + e[t]
                b = xp.where(last == t, start, rec)
                # a state no alignment reaches has occupancy 0, also where its log-probability is -inf
                ab = plan.alphas[t] + b
                gamma[t] = xp.where(ab == -np.inf, 0.0, xp.exp(ab - e[t] + nll.T))
            gamma = xp.where(plan.inf[None, :, None], 0.0, gamma)
            t_idx = xp.arange(t_max, dtype=np.int64)[:, None, None]
            backend.scatter_add(out, (t_idx, rows[None, :, None], plan.ext[None]), -gamma)
            if not plan.zero_infinity:  # an impossible sequence's gradient: NaN within its length, as PyTorch's
                steps = backend.asarray(np.arange(lp.shape[0])[:, None] < plan.il[None, :]) & plan.inf[None, :]
                out = xp.where(steps[:, :, None], np.nan, out).astype(lp.dtype, copy=False)
    out *= g._data.reshape(1, n, 1)
    return _make(out, backend)


def _ctc_composed(lp: Tensor, plan: _CTCPlan) -> Tensor:
    """The per-sequence loss (N,) from gradkit ops: the alpha recursion with -1e30 for log 0."""
    backend = lp._backend
    xp = backend.xp
    n, length = plan.ext.shape
    t_max = plan.t_max
    rows = xp.arange(n, dtype=np.int64)
    if not t_max:
        return _make(plan.nll, backend)
    e = take(lp, (xp.arange(t_max, dtype=np.int64)[:, None, None], rows[None, :, None], plan.ext[None]))
    first = np.zeros((n, length), dtype=bool)
    first[:, 0] = True
    if length > 1:
        first[:, 1] = plan.tl > 0
    a = ops.where(backend.asarray(first), ops.getitem(e, 0), _NEG)
    last = backend.asarray(plan.last)[:, None]
    fin = ops.where(last == 0, a, _NEG)
    pad = _make(xp.full((n, min(2, length)), _NEG, dtype=lp.dtype), backend)
    for t in range(1, t_max):
        s1 = ops.concatenate([ops.getitem(pad, (slice(None), slice(0, 1))), ops.getitem(a, (slice(None),
                                                                                             slice(0, length - 1)))], 1)
        s2 = ops.concatenate([ops.getitem(pad, (slice(None), slice(0, min(2, length)))),
                              ops.getitem(a, (slice(None), slice(0, max(length - 2, 0))))], 1)
        s2 = ops.where(plan.skip, s2, _NEG)
        a = ops.logsumexp(ops.stack([a, s1, s2]), 0) + ops.getitem(e, t)
        fin = ops.where(last == t, a, fin)
    end = backend.asarray(2 * plan.tl)
    prev = backend.asarray(np.maximum(2 * plan.tl - 1, 0))
    l1 = take(fin, (rows, end))
    l2 = ops.where(backend.asarray(plan.tl > 0), take(fin, (rows, prev)), _NEG)
    ll = ops.logsumexp(ops.stack([l1, l2]), 0)
    empty = plan.il == 0
    if empty.any():
        ll = ops.where(backend.asarray(empty), backend.asarray(np.where(plan.tl == 0, 0.0, _NEG).astype(lp.dtype)),
                       ll)
    return -ll


class CTCLoss(_Loss):
    """The connectionist temporal classification loss: ``F.ctc_loss``
    (``forward(log_probs, targets, input_lengths, target_lengths)``)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = whole(blank, "CTCLoss", "blank", low=0)
        self.zero_infinity = flag(zero_infinity, "CTCLoss", "zero_infinity")

    def forward(self, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)

    def extra_repr(self) -> str:
        return f"blank={self.blank}, reduction={self.reduction!r}, zero_infinity={self.zero_infinity}"


# ================================================================== multi-label margin
def multilabel_margin_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
                           reduction: str = "mean") -> Tensor:
    """PyTorch's ``F.multilabel_margin_loss``: for scores (N, C) (or (C,)) and targets of the same shape
    holding each sample's class indices up to the first -1,
    ``sum_{j target} sum_{i not target} max(0, 1 - (x[j] - x[i])) / C`` per sample.

    Targets are integers in [-1, C) (checked on the host when they come from it; a GPU's are clipped unread);
    a repeated target counts each time, as PyTorch's. As its kernel, a term exactly at the hinge adds no
    gradient. ``size_average`` and ``reduce`` are PyTorch's deprecated pair (a warning; use ``reduction``).
    """
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, target = _autocast.to_float32("multilabel_margin_loss", input, target)  # noqa: A001
    op = "multilabel_margin_loss"
    if isinstance(size_average, str):
        raise ArgumentTypeError(
            f"{op}: size_average must be a bool or None, got str {size_average!r:.20}; the third argument is "
            "size_average, as in PyTorch: pass reduction= by name"
        )
    reduction = _legacy(size_average, reduce, reduction, op)
    _check_reduction(reduction, op)
    x = _float_input(input, op)
    if x.ndim > 2:
        raise ShapeError(f"{op}: input must have shape (N, C), (C,) or (), got {x.shape}")
    t = target if isinstance(target, Tensor) else as_tensor(target, op, x._backend)
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: input on {x.device}, target on {t.device}; move them to one device")
    if t.dtype.kind not in "iu":
        raise DTypeError(f"{op}: target must hold integer class indices (and -1), got dtype {t.dtype}")
    if t.shape != x.shape:
        raise ShapeError(f"{op}: target of shape {t.shape} must have the input's shape {x.shape}")
    shape = x.shape
    c = x.shape[-1] if x.ndim else 1
    scores = ops.reshape(x, (-1, c))
    xp = x._backend.xp
    td = t._data.reshape(-1, c).astype(np.int64)
    # targets from the host (a CPU run's, or a list or NumPy array sent to a GPU) are checked there
    host = td if type(td) is np.ndarray else None if isinstance(target, Tensor) or hasattr(
        target, "__cuda_array_interface__") else np.asarray(target).astype(np.int64)
    if host is not None and host.size and (host.min() < -1 or host.max() >= c):
        bad = int(host.min()) if host.min() < -1 else int(host.max())
        raise IndexOutOfRangeError(f"{op}: target {bad} is out of range: expected -1 <= value < {c}")
    n = td.shape[0]
    valid = xp.cumprod(td != -1, axis=1) > 0  # the targets before the first -1
    safe = xp.where(valid, xp.clip(td, 0, c - 1), 0)
    rows = xp.arange(n, dtype=np.int64)[:, None]
    hits = xp.zeros((n, c), dtype=np.int64)
    x._backend.scatter_add(hits, (rows, safe), valid.astype(np.int64))
    is_target = hits > 0
    picked = take(scores, (rows, safe))  # (N, J): the score of each target
    z = relu(1 - ops.unsqueeze(picked, 2) + ops.unsqueeze(scores, 1))  # (N, J, I)
    keep = valid[:, :, None] & ~is_target[:, None, :]
    loss = ops.sum(ops.where(keep, z, 0.0), (1, 2)) / c
    if reduction == "none":
        return ops.reshape(loss, shape[:-1] if x.ndim else ())
    return _reduce(loss, reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-class multi-label hinge loss: ``F.multilabel_margin_loss``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction=_legacy(size_average, reduce, reduction, "MultiLabelMarginLoss"))

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return multilabel_margin_loss(input, target, reduction=self.reduction)


# ================================================================== triplet loss with a distance function
def triplet_margin_with_distance_loss(anchor: Any, positive: Any, negative: Any, *,
                                      distance_function: Callable | None = None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """PyTorch's ``F.triplet_margin_with_distance_loss``:
    ``max(0, margin + d(anchor, positive) - d(anchor, negative))`` for any ``distance_function`` (a callable of
    two tensors giving distances; ``F.pairwise_distance`` when None); ``swap`` uses
    ``min(d(a, n), d(p, n))`` as the negative distance. The three have one number of axes; ``margin`` > 0.
    """
    op = "triplet_margin_with_distance_loss"
    _check_reduction(reduction, op)
    margin = real(margin, op, "margin", low=0.0, low_open=True)
    swap = flag(swap, op, "swap")
    if distance_function is not None and not callable(distance_function):
        raise ArgumentTypeError(f"{op}: distance_function must be callable or None, got "
                                f"{type(distance_function).__name__}")
    like = next((v for v in (anchor, positive, negative) if isinstance(v, Tensor)), None)
    a, p, ng = (v if isinstance(v, Tensor) else as_tensor(v, op, like._backend if like is not None else None)
                for v in (anchor, positive, negative))
    if not a.ndim == p.ndim == ng.ndim:
        raise ShapeError(f"{op}: anchor, positive and negative must have one number of dimensions, got anchor "
                         f"{a.ndim}-D, positive {p.ndim}-D and negative {ng.ndim}-D")
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = _distance(dist(a, p), op)
    d_neg = _distance(dist(a, ng), op)
    if swap:
        d_neg = ops.minimum(d_neg, _distance(dist(p, ng), op))
    return _reduce(ops.clip(margin + d_pos - d_neg, 0.0), reduction)


def _distance(d: Any, op: str) -> Tensor:
    if not isinstance(d, Tensor):
        raise ArgumentTypeError(f"{op}: distance_function must return a Tensor, got {type(d).__name__}")
    return d


class TripletMarginWithDistanceLoss(_Loss):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` for a given distance function:
    ``F.triplet_margin_with_distance_loss`` (keyword-only arguments, as PyTorch)."""

    def __init__(self, *, distance_function: Callable | None = None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        op = "TripletMarginWithDistanceLoss"
        if distance_function is not None and not callable(distance_function):
            raise ArgumentTypeError(f"{op}: distance_function must be callable or None, got "
                                    f"{type(distance_function).__name__}")
        self.margin = real(margin, op, "margin", low=0.0, low_open=True)
        self.swap = flag(swap, op, "swap")
        self.distance_function = distance_function if distance_function is not None else pairwise_distance

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=self.distance_function,
                                                 margin=self.margin, swap=self.swap, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, margin={self.margin}, swap={self.swap}"
