"""``nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al., 2017), PyTorch's module: a head over the frequent classes and
one cluster per tail, each tail a two-layer projection of reduced width.

Parameters and their names are PyTorch's (``head.weight``, ``head.bias`` with ``head_bias``, ``tail.{i}.0.weight``,
``tail.{i}.1.weight``), so state dicts load across. Which rows go to which cluster is decided on the host (PyTorch
reads the targets there too); the log-probabilities are compositions of gradkit ops.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real
from gradkit.errors import DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.nn._gather import put, take
from gradkit.nn.functional import log_softmax
from gradkit.nn.layers import Linear, ModuleList, Sequential
from gradkit.nn.module import Module
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])  # PyTorch's name for the (output, loss) pair


class AdaptiveLogSoftmaxWithLoss(Module):
    """PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
    device=None, dtype=None)``.

    Classes below ``cutoffs[0]`` are scored by the head directly; the classes of cluster i (between consecutive
    cutoffs, the last ending at ``n_classes``) by ``tail[i]`` (``Linear(in_features, in_features //
    div_value ** (i + 1))`` then ``Linear(that, cluster size)``, no biases), times the head's probability of the
    cluster. ``forward(input, target)`` gives the named tuple ``(output, loss)``: each row's log-probability of
    its target ((N,), or () for an unbatched (in_features,) input and 0-d target) and their negated mean.
    ``log_prob(input)`` gives every class's log-probability (N, n_classes); ``predict(input)`` the most likely
    class (N,) (int64), as PyTorch's (the tails are evaluated only for rows whose head prefers a cluster).
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        op = "AdaptiveLogSoftmaxWithLoss"
        for name, value in (("in_features", in_features), ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidArgumentError(f"{op}: {name} must be an int >= 1, got {value!r}")
        try:
            cuts = list(cutoffs)
        except TypeError:
            raise InvalidArgumentError(f"{op}: cutoffs must be a sequence of ints, got {cutoffs!r:.40}") from None
        if not cuts:
            raise InvalidArgumentError(f"{op}: cutoffs must hold at least one cutoff, got {cuts}")
        if (any(isinstance(c, bool) or not isinstance(c, (int, np.integer, float)) or int(c) != c for c in cuts)
                or cuts != sorted(cuts) or min(cuts) <= 0 or max(cuts) > n_classes - 1 or len(set(cuts)) != len(cuts)):
            raise InvalidArgumentError(
                f"{op}: cutoffs must be unique positive ints in increasing order, each between 1 and n_classes - 1 "
                f"({n_classes - 1}), got {cuts}"
            )
        self.in_features = int(in_features)
        self.n_classes = int(n_classes)
        self.cutoffs = [int(c) for c in cuts] + [self.n_classes]
        self.div_value = real(div_value, op, "div_value")
        self.head_bias = flag(head_bias, op, "head_bias")
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, device=device, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, device=device, dtype=dtype),
                                        Linear(hsz, osz, bias=False, device=device, dtype=dtype)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection:
                layer.reset_parameters()

    def forward(self, input_: Any, target_: Any) -> Any:
        op = "AdaptiveLogSoftmaxWithLoss"
        x = input_ if isinstance(input_, Tensor) else as_tensor(input_, op)
        target = target_ if isinstance(target_, Tensor) else as_tensor(target_, op, x._backend)
        if target.dtype.kind not in "iu":
            raise DTypeError(f"{op}: target must hold integer class indices, got dtype {target.dtype}")
        if target.ndim == 1:
            if x.ndim != 2:
                raise ShapeError(f"{op}: a 1-D target expects a 2-D input (N, in_features), got shape {x.shape}")
            if x.shape[0] != target.shape[0]:
                raise ShapeError(f"{op}: input ({x.shape[0]} rows) and target ({target.shape[0]}) must have the same "
                                 "batch size")
        elif target.ndim == 0:
            if x.ndim != 1:
                raise ShapeError(f"{op}: a 0-D target expects a 1-D input (in_features,), got shape {x.shape}")
        else:
            raise ShapeError(f"{op}: the target must be 0-D or 1-D (one class per row), got shape {target.shape}")
        batched = target.ndim > 0
        if not batched:
            x = ops.unsqueeze(x, 0)
        t = target._backend.to_numpy(target._data).reshape(-1).astype(np.int64)  # a host read, as PyTorch's
        n = t.shape[0]
        backend = x._backend
        output: Tensor | None = None
        gather = t.copy()
        used = 0
        bounds = [0, *self.cutoffs]
        for i in range(len(bounds) - 1):
            low, high = bounds[i], bounds[i + 1]
            rows = np.flatnonzero((t >= low) & (t < high))
            if rows.size == 0:
                continue
            used += rows.size
            if i == 0:
                continue
            rows_d = backend.asarray(rows)
            cluster = log_softmax(self.tail[i - 1](take(x, (rows_d,))), 1)
            local = take(cluster, (backend.asarray(np.arange(rows.size)), backend.asarray(t[rows] - low)))
            gather[rows] = self.shortlist_size + i - 1
            part = put(local, (n,), (rows_d,))
            output = part if output is None else output + part
        if used != n:
            raise IndexOutOfRangeError(f"{op}: targets must be in [0, {self.n_classes - 1}], got values in "
                                       f"[{int(t.min())}, {int(t.max())}]")
        head = log_softmax(self.head(x), 1)
        picked = take(head, (backend.asarray(np.arange(n)), backend.asarray(gather)))
        output = picked if output is None else output + picked
        loss = ops.mean(-output)
        if not batched:
            output = ops.reshape(output, ())
        return _ASMoutput(output, loss)

    def _full_log_prob(self, x: Tensor, head_output: Tensor) -> Tensor:
        head = log_softmax(head_output, 1)
        parts = [ops.getitem(head, (slice(None), slice(0, self.shortlist_size)))]
        for i in range(self.n_clusters):
            cluster = log_softmax(self.tail[i](x), 1)
            parts.append(cluster + ops.getitem(head, (slice(None), slice(self.shortlist_size + i,
                                                                         self.shortlist_size + i + 1))))
        return ops.concatenate(parts, 1)

    def _rows(self, input: Any, op: str) -> tuple[Tensor, bool]:  # noqa: A002
        x = input if isinstance(input, Tensor) else as_tensor(input, op)
        if x.ndim not in (1, 2):
            raise ShapeError(f"{op}: input must be (N, in_features) or (in_features,), got shape {x.shape}")
        return (x, True) if x.ndim == 2 else (ops.unsqueeze(x, 0), False)

    def log_prob(self, input: Any) -> Tensor:  # noqa: A002
        """Every class's log-probability: (N, n_classes) for input (N, in_features) ((n_classes,) for (in,))."""
        x, batched = self._rows(input, "AdaptiveLogSoftmaxWithLoss.log_prob")
        out = self._full_log_prob(x, self.head(x))
        return out if batched else ops.reshape(out, (self.n_classes,))

    def predict(self, input: Any) -> Tensor:  # noqa: A002
        """The most likely class of each row (int64, (N,); 0-d for an unbatched input): ``log_prob(input).argmax(1)``,
        evaluating the tails only for rows whose head prefers a cluster (PyTorch's)."""
        x, batched = self._rows(input, "AdaptiveLogSoftmaxWithLoss.predict")
        backend = x._backend
        head_output = self.head(x)
        xp = backend.xp
        best = xp.argmax(head_output._data, axis=1).astype(np.int64)
        tail_rows = backend.to_numpy(best >= self.shortlist_size)  # the one host read (PyTorch's any() and all())
        if tail_rows.any():
            rows = backend.asarray(np.flatnonzero(tail_rows))
            full = self._full_log_prob(take(x, (rows,)), take(head_output, (rows,)))
            best[rows] = xp.argmax(full._data, axis=1)
        out = Tensor._make(best, backend)
        return out if batched else ops.reshape(out, ())
