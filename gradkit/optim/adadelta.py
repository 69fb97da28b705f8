"""Adadelta (PyTorch's rule)."""

from __future__ import annotations

from typing import Any

from gradkit._args import flag
from gradkit.optim.adamax import _gradient
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class Adadelta(Optimizer):
    """``torch.optim.Adadelta``'s update.

    With ``g = grad`` (negated with ``maximize``) ``+ weight_decay * p``::

        square_avg = rho * square_avg + (1 - rho) * g * g
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta  = rho * acc_delta + (1 - rho) * delta * delta
        p         -= lr * delta

    State: ``step``, ``square_avg``, ``acc_delta``. The update does not depend on the step count,
    so a step can be captured by ``gk.cuda.capture`` (the count then counts only the steps run
    outside the graph, as RMSprop's): ``capturable`` (PyTorch's) is checked and has no effect.
    ``foreach`` and ``differentiable`` as PyTorch's (see ``Optimizer``).
    """

    _state_keys = ("step", "square_avg", "acc_delta")
    _optional_group_keys = ("maximize",)  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        flag(capturable, "Adadelta", "capturable")  # a step captures as it is (see above): no effect
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        self._check("rho", group["rho"], 0, 1)
        self._check("eps", group["eps"], 0)
        self._check("weight_decay", group["weight_decay"], 0)
        group["maximize"] = flag(group["maximize"], "Adadelta", "maximize")

    def _update_group(self, group: dict) -> None:
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = flag(group["maximize"], "Adadelta.step", "maximize")
        for p, grad, st in self._with_grads(group, self._new_state):
            st["step"] += 1
            xp, scratch = p._backend.xp, (self._scratch(p), self._scratch(p, 1))
            grad = _gradient(xp, p._data, grad, weight_decay, maximize, self._scratch(p, 2))
            _adadelta_update(xp, p._data, grad, st["square_avg"]._data, st["acc_delta"]._data, lr, rho, eps, scratch)

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "square_avg": self._zeros(p), "acc_delta": self._zeros(p)}


def _adadelta_update(xp: Any, param: Any, grad: Any, square_avg: Any, acc_delta: Any, lr: float, rho: float,
                     eps: float, scratch: tuple[Any, Any]) -> None:  # fmt: skip
    """One Adadelta step for one parameter, in place (the formula in ``Adadelta``'s docstring), through two
    scratch arrays."""
    tmp, delta = scratch
    square_avg *= rho
    xp.multiply(grad, grad, out=tmp)
    tmp *= 1 - rho
    square_avg += tmp
    xp.add(square_avg, eps, out=tmp)
    xp.sqrt(tmp, out=tmp)  # the RMS of the gradients
    xp.add(acc_delta, eps, out=delta)
    xp.sqrt(delta, out=delta)
    delta /= tmp
    delta *= grad
    acc_delta *= rho
    xp.multiply(delta, delta, out=tmp)
    tmp *= 1 - rho
    acc_delta += tmp
    delta *= lr
    param -= delta
