"""RMSprop (PyTorch's rule, with optional momentum and centring)."""

from __future__ import annotations

from typing import Any

from gradkit import kernels
from gradkit._args import flag
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``'s update; see ``gradkit.kernels.reference.rmsprop_update``.

    ``maximize=True`` negates the gradient first (gradient ascent). The update does not depend
    on the step count, so a step can always be captured by ``gk.cuda.capture``: ``capturable``
    (PyTorch's, in its place) is checked and has no effect. ``foreach`` and ``differentiable`` as
    PyTorch's (see ``Optimizer``).
    """

    _state_keys = ("step", "square_avg")
    _optional_group_keys = ("maximize",)

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        flag(capturable, "RMSprop", "capturable")
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        self._check("alpha", group["alpha"], 0, 1)
        self._check("eps", group["eps"], 0)
        self._check("weight_decay", group["weight_decay"], 0)
        self._check("momentum", group["momentum"], 0)
        flag(group["centered"], type(self).__name__, "centered")
        flag(group.get("maximize", False), type(self).__name__, "maximize")

    def _update_group(self, group: dict) -> None:
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        centered, maximize = bool(group["centered"]), bool(group.get("maximize", False))
        update = kernels.rmsprop_update
        for p, grad, st in self._with_grads(group, self._new_state):
            if momentum > 0 and "momentum_buffer" not in st:
                st["momentum_buffer"] = self._zeros(p)
            if centered and "grad_avg" not in st:
                st["grad_avg"] = self._zeros(p)
            st["step"] += 1
            buf = st["momentum_buffer"]._data if momentum > 0 else None
            grad_avg = st["grad_avg"]._data if centered else None
            square_avg = st["square_avg"]._data
            scratch = self._scratch_unless_fused("rmsprop_update", p, p._data, grad, square_avg, grad_avg, buf)
            update(p._data, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum, centered,
                   scratch, maximize)

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "square_avg": self._zeros(p)}
