"""Adagrad (PyTorch's rule, with its learning-rate decay)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from gradkit._args import flag
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.nn.lazy import UninitializedTensorError, is_lazy
from gradkit.optim.adamax import _gradient
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``'s update.

    With ``g = grad`` (negated with ``maximize``) ``+ weight_decay * p`` and ``t`` the step count::

        sum += g * g
        p   -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)

    State: ``step`` and ``sum``, made when the parameter's group is added, ``sum`` filled with the
    group's ``initial_accumulator_value``. PyTorch makes it so for the constructor's groups, but with
    the constructor's ``initial_accumulator_value`` (``defaults``) for every group; for a group added
    by ``add_param_group`` it makes it at the parameter's first step, again with the default's value,
    so its ``state_dict()`` has no entry for such a parameter until then (gradkit's has one, with
    ``step`` 0; each loads into the other). The step counts, ``lr_decay`` (per group) and the updates
    are PyTorch's. A state dict whose groups lack ``maximize`` or ``initial_accumulator_value``
    (PyTorch's from before 1.12 or 0.4, which PyTorch loads) loads, keeping the optimiser's values.

    With ``lr_decay != 0`` the rate follows the step count, a Python number, so such a step cannot be
    captured by ``gk.cuda.capture`` (it raises ``CaptureError``); with ``lr_decay == 0`` it can (the
    count in the state then counts only the steps run outside the graph, as RMSprop's). ``foreach``,
    ``fused`` and ``differentiable`` as PyTorch's (see ``Optimizer``); ``fused=True`` is refused:
    gradkit has no fused Adagrad kernel.
    """

    _state_keys = ("step", "sum")
    _optional_group_keys = ("maximize", "initial_accumulator_value")

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, fused=fused, differentiable=differentiable)

    def add_param_group(self, param_group: Mapping) -> None:
        """Add a group (as ``Optimizer.add_param_group``) and make its parameters' state."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[p] = self._new_state(p, group)

    def _check_group(self, group: dict) -> None:
        for p in group["params"]:
            if is_lazy(p):  # its state is made now, from the parameter's shape: refused, as PyTorch
                raise UninitializedTensorError(
                    "Adagrad: a parameter is uninitialized (a lazy module's, before its first call); Adagrad makes "
                    "its state when a group is added: call the model once on a batch first, then make the optimiser"
                )
        self._check("lr", group["lr"], 0)
        self._check("lr_decay", group["lr_decay"], 0)
        self._check("weight_decay", group["weight_decay"], 0)
        self._check("initial_accumulator_value", group["initial_accumulator_value"], 0)
        self._check("eps", group["eps"], 0)
        group["maximize"] = flag(group["maximize"], "Adagrad", "maximize")

    @staticmethod
    def _new_state(p: Tensor, group: dict) -> dict:
        value = float(group["initial_accumulator_value"])
        return {"step": 0, "sum": Tensor._make(p._backend.xp.full_like(p._data, value), p._backend)}

    def _update_group(self, group: dict) -> None:
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = flag(group["maximize"], "Adagrad.step", "maximize")
        if lr_decay != 0 and is_capturing():
            raise CaptureError(
                "Adagrad.step: with lr_decay != 0 its learning rate depends on the step count, which a CUDA graph "
                "would freeze at its capture-time value (every replay would repeat that step's rate); use "
                f"lr_decay=0 (got {lr_decay!r}) or run it without gk.cuda.capture"
            )
        new_state = partial(self._new_state, group=group)  # for a parameter whose state a load left out
        for p, grad, st in self._with_grads(group, new_state):
            st["step"] += 1
            xp = p._backend.xp
            grad = _gradient(xp, p._data, grad, weight_decay, maximize, self._scratch(p, 1))
            rate = lr / (1 + (st["step"] - 1) * lr_decay)
            _adagrad_update(xp, p._data, grad, st["sum"]._data, rate, eps, self._scratch(p))


def _adagrad_update(xp: Any, param: Any, grad: Any, total: Any, rate: float, eps: float, tmp: Any) -> None:
    """``total += grad**2; param -= rate * grad / (sqrt(total) + eps)``, in place, through ``tmp``."""
    xp.multiply(grad, grad, out=tmp)
    total += tmp
    xp.sqrt(total, out=tmp)
    tmp += eps
    xp.divide(grad, tmp, out=tmp)
    tmp *= rate
    param -= tmp
