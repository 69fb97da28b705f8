"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's rule)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit import kernels
from gradkit._args import flag
from gradkit.optim.optimizer import Optimizer, required
from gradkit.tensor import Tensor

_make = Tensor._make


class SGD(Optimizer):
    """``torch.optim.SGD``'s update; see ``gradkit.kernels.reference.sgd_momentum_update``.

    With ``d = grad + weight_decay * p``: the momentum buffer starts as ``d``
    and then becomes ``momentum * buf + (1 - dampening) * d``; the step is the
    buffer (or ``d + momentum * buf`` with ``nesterov``); ``p -= lr * step``.
    With ``maximize=True`` the gradient is negated first (gradient ascent).
    ``foreach``, ``fused`` and ``differentiable`` as PyTorch's (see ``Optimizer``;
    ``fused=True`` is accepted: the update is a fused kernel on CuPy).
    """

    _optional_group_keys = ("maximize",)
    _fused = True

    def __init__(self, params: Any, lr: float = required, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, fused=fused, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        self._check("momentum", group["momentum"], 0)
        self._check("dampening", group["dampening"], 0, 1)
        self._check("weight_decay", group["weight_decay"], 0)
        nesterov = flag(group["nesterov"], type(self).__name__, "nesterov")
        flag(group.get("maximize", False), type(self).__name__, "maximize")
        if nesterov and (group["momentum"] <= 0 or group["dampening"] != 0):
            from gradkit.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"SGD: nesterov=True needs momentum > 0 and dampening == 0, got momentum={group['momentum']!r}, "
                f"dampening={group['dampening']!r}"
            )

    def _update_group(self, group: dict) -> None:
        lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        weight_decay, nesterov = float(group["weight_decay"]), bool(group["nesterov"])
        maximize = bool(group.get("maximize", False))
        update = kernels.sgd_momentum_update
        state = self.state
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            data = p._data
            buf = None
            first = False
            if momentum != 0:
                st = state.get(p)
                if st is None or st.get("momentum_buffer") is None:
                    buf = p._backend.xp.empty_like(data)
                    if st is None:
                        st = state[p] = {}
                    st["momentum_buffer"] = _make(buf, p._backend)  # other keys (a subclass's) are kept
                    first = True
                else:
                    buf = st["momentum_buffer"]._data
            if type(data) is np.ndarray:  # the reference update runs: it takes a scratch array
                scratch = self._scratch(p)
            else:
                scratch = self._scratch_unless_fused("sgd_momentum_update", p, data, g._data, buf)
            update(data, g._data, buf, lr, momentum, dampening, weight_decay, nesterov, first, scratch, maximize)
            p._version[0] += 1
