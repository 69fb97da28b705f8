"""Adamax (PyTorch's rule), and what it shares with NAdam and RAdam: the Adam-like base class.

The updates are written with backend array operations (``xp`` is NumPy or
CuPy), so they run unchanged on either device; there is no fused kernel.
"""

from __future__ import annotations

from typing import Any

from gradkit._args import flag
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.optim.adam import _check_moment_numbers, _next_count
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


def _gradient(xp: Any, param: Any, grad: Any, weight_decay: float, maximize: bool, out: Any) -> Any:
    """The gradient an update uses: negated with ``maximize``, plus ``weight_decay * param`` (L2).

    ``grad`` itself when neither applies (it is then read only), else written to ``out`` (a scratch array).
    """
    if weight_decay != 0:
        xp.multiply(param, weight_decay, out=out)
        if maximize:
            out -= grad
        else:
            out += grad
        return out
    return xp.negative(grad, out=out) if maximize else grad


def _decayed_gradient(xp: Any, param: Any, grad: Any, h: dict, out: Any) -> Any:
    """NAdam's and RAdam's gradient: with ``h["decoupled"]`` the weight decay shrinks ``param`` in place
    (``param *= 1 - lr * weight_decay``) instead of adding to the gradient."""
    weight_decay = h["weight_decay"]
    if h["decoupled"]:
        if weight_decay != 0:
            param *= 1 - h["lr"] * weight_decay
        weight_decay = 0.0
    return _gradient(xp, param, grad, weight_decay, h["maximize"], out)


def _adam_moments(xp: Any, g: Any, exp_avg: Any, exp_avg_sq: Any, beta1: float, beta2: float, tmp: Any) -> None:
    """Adam's moments, in place: ``exp_avg`` toward ``g`` by ``1 - beta1``, ``exp_avg_sq`` toward ``g * g`` by
    ``1 - beta2``."""
    xp.subtract(g, exp_avg, out=tmp)
    tmp *= 1 - beta1
    exp_avg += tmp
    exp_avg_sq *= beta2
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq += tmp


def _as_dtype(value: Any, dtype: Any) -> Any:
    """A step-dependent factor in the parameter's dtype: a Python float as it is (NumPy rounds it as a
    scalar operand), a 0-d float64 device array cast, so that both give the same arithmetic."""
    return value if type(value) is float else value.astype(dtype)


class _AdamLike(Optimizer):
    """Adamax, NAdam and RAdam: ``lr``, ``betas``, ``eps``, ``weight_decay``, ``maximize``, ``capturable``.

    Their updates depend on the step count. By default it is a Python int,
    and a step cannot be captured by ``gk.cuda.capture`` (each replay would
    repeat the captured step's numbers): the capture raises ``CaptureError``.
    With ``capturable=True`` each parameter's count is a 0-d float64 tensor on
    its device, incremented and read there; the results are the same.
    ``foreach`` and ``differentiable`` as PyTorch's (see ``Optimizer``).
    Subclasses give ``_new_state(p)`` and ``_update(p, grad, state, count, numbers)``.
    """

    def _check_group(self, group: dict) -> None:
        name = type(self).__name__
        _check_moment_numbers(self, group)
        group["maximize"] = flag(group["maximize"], name, "maximize")
        group["capturable"] = flag(group["capturable"], name, "capturable")

    def _update_group(self, group: dict) -> None:
        name = type(self).__name__
        h = self._numbers(group, f"{name}.step")
        if not h["capturable"] and is_capturing():
            raise CaptureError(
                f"{name}.step: its update depends on the step count, which a CUDA graph would freeze at its "
                "capture-time value (every replay would repeat that step's update); create the optimiser with "
                "capturable=True to keep the count on the device, or run it without gk.cuda.capture"
            )
        for p, grad, st in self._with_grads(group, self._new_state):
            self._update(p, grad, st, _next_count(st, p, h["capturable"]), h)

    def _numbers(self, group: dict, op: str) -> dict:
        """The group's hyperparameters as Python floats and bools, read once per step."""
        return {"lr": float(group["lr"]), "eps": float(group["eps"]), "weight_decay": float(group["weight_decay"]),
                "beta1": float(group["betas"][0]), "beta2": float(group["betas"][1]),
                "maximize": flag(group["maximize"], op, "maximize"),
                "capturable": flag(group["capturable"], op, "capturable")}

    def _new_state(self, p: Tensor) -> dict:
        raise NotImplementedError

    def _update(self, p: Tensor, grad: Any, st: dict, count: Any, h: dict) -> None:
        """Update ``p`` and its state ``st``, given the count (an int, or a 0-d array on the device) and
        the group's numbers ``h``."""
        raise NotImplementedError


class Adamax(_AdamLike):
    """``torch.optim.Adamax``: Adam with the infinity norm in place of the second moment.

    With ``g = grad`` (negated with ``maximize``) ``+ weight_decay * p`` and ``t`` the step count::

        exp_avg += (1 - beta1) * (g - exp_avg)
        exp_inf  = maximum(beta2 * exp_inf, |g| + eps)
        p       -= lr / (1 - beta1**t) * exp_avg / exp_inf

    State: ``step``, ``exp_avg``, ``exp_inf``. ``capturable=True`` keeps the
    step count on the device (see ``gk.cuda.capture``).
    """

    _state_keys = ("step", "exp_avg", "exp_inf")
    _optional_group_keys = ("maximize",)  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "exp_avg": self._zeros(p), "exp_inf": self._zeros(p)}

    def _update(self, p: Tensor, grad: Any, st: dict, count: Any, h: dict) -> None:
        xp, param, tmp = p._backend.xp, p._data, self._scratch(p)
        beta1 = h["beta1"]
        g = _gradient(xp, param, grad, h["weight_decay"], h["maximize"], self._scratch(p, 1))
        exp_avg, exp_inf = st["exp_avg"]._data, st["exp_inf"]._data
        xp.subtract(g, exp_avg, out=tmp)
        tmp *= 1 - beta1
        exp_avg += tmp
        exp_inf *= h["beta2"]
        xp.abs(g, out=tmp)
        tmp += h["eps"]
        xp.maximum(exp_inf, tmp, out=exp_inf)  # NaN propagates, as torch.maximum
        xp.divide(exp_avg, exp_inf, out=tmp)
        tmp *= _as_dtype(h["lr"] / (1 - beta1**count), param.dtype)
        param -= tmp
