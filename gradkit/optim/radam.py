"""RAdam: Adam with the variance of its adaptive rate rectified (PyTorch's rule)."""

from __future__ import annotations

import math
from typing import Any

from gradkit._args import flag
from gradkit.optim.adamax import _adam_moments, _AdamLike, _as_dtype, _decayed_gradient
from gradkit.tensor import Tensor


class RAdam(_AdamLike):
    """``torch.optim.RAdam``'s update.

    With ``t`` the step count, ``g = grad`` (negated with ``maximize``), plus ``weight_decay * p``
    unless ``decoupled_weight_decay`` (then ``p *= 1 - lr * weight_decay`` first)::

        exp_avg    += (1 - beta1) * (g - exp_avg)
        exp_avg_sq  = beta2 * exp_avg_sq + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1
        rho_t   = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p -= lr * exp_avg / (1 - beta1**t) * rect * sqrt(1 - beta2**t) / (sqrt(exp_avg_sq) + eps)
        else:
            p -= lr * exp_avg / (1 - beta1**t)

    State: ``step``, ``exp_avg``, ``exp_avg_sq``. With ``capturable=True`` the
    count, and so the choice of branch, stays on the device.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_group_keys = ("maximize", "decoupled_weight_decay")  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize, "capturable": capturable}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        name = type(self).__name__
        group["decoupled_weight_decay"] = flag(group["decoupled_weight_decay"], name, "decoupled_weight_decay")

    def _numbers(self, group: dict, op: str) -> dict:
        h = super()._numbers(group, op)
        h["decoupled"] = flag(group["decoupled_weight_decay"], op, "decoupled_weight_decay")
        return h

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)}

    def _update(self, p: Tensor, grad: Any, st: dict, count: Any, h: dict) -> None:
        xp, param, tmp = p._backend.xp, p._data, self._scratch(p)
        g = _decayed_gradient(xp, param, grad, h, self._scratch(p, 1))
        exp_avg, exp_avg_sq = st["exp_avg"]._data, st["exp_avg_sq"]._data
        _adam_moments(xp, g, exp_avg, exp_avg_sq, h["beta1"], h["beta2"], tmp)
        factor = _rectified_factor(xp, exp_avg_sq, count, h["beta2"], h["eps"], tmp)
        step_size = _as_dtype(h["lr"] / (1 - h["beta1"] ** count), param.dtype)
        if factor is None:
            xp.multiply(exp_avg, step_size, out=tmp)
        else:
            xp.multiply(factor, exp_avg, out=tmp)
            tmp *= step_size
        param -= tmp


def _rectified_factor(xp: Any, exp_avg_sq: Any, count: Any, beta2: float, eps: float, tmp: Any) -> Any:
    """``rect * sqrt(1 - beta2**t) / (sqrt(exp_avg_sq) + eps)`` (in ``tmp``) where
    ``rho_t > 5``, else None (the factor 1); with a device count, both, picked on the device."""
    bias_correction2 = 1 - beta2**count
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * count * beta2**count / bias_correction2
    if type(rho_t) is float:
        if rho_t <= 5:
            return None
        return _adaptive(xp, exp_avg_sq, math.sqrt(bias_correction2 * _rect_squared(rho_t, rho_inf)), eps, tmp)
    if rho_inf <= 5:  # rho_t never exceeds rho_inf
        return None
    scale = xp.sqrt(bias_correction2 * xp.maximum(_rect_squared(rho_t, rho_inf), 0.0))  # < 0: not picked
    factor = _adaptive(xp, exp_avg_sq, scale.astype(exp_avg_sq.dtype), eps, tmp)
    one = xp.ones((), dtype=factor.dtype)  # an array: CuPy's copyto asks NumPy 2's can_cast about a Python float
    xp.copyto(factor, one, where=xp.logical_not(rho_t > 5))  # where(rho_t > 5, factor, 1), in place
    return factor


def _adaptive(xp: Any, exp_avg_sq: Any, scale: Any, eps: float, tmp: Any) -> Any:
    """``scale / (sqrt(exp_avg_sq) + eps)``, written to ``tmp``."""
    xp.sqrt(exp_avg_sq, out=tmp)
    tmp += eps
    return xp.divide(scale, tmp, out=tmp)


def _rect_squared(rho_t: Any, rho_inf: float) -> Any:
    """The square of the rectification term."""
    return (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
