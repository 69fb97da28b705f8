"""NAdam: Adam with Nesterov momentum (PyTorch's rule, with its momentum decay)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.errors import InvalidArgumentError
from gradkit.optim.adam import _device_step
from gradkit.optim.adamax import _adam_moments, _AdamLike, _as_dtype, _decayed_gradient
from gradkit.tensor import Tensor


class NAdam(_AdamLike):
    """``torch.optim.NAdam``'s update.

    With ``t`` the step count, ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`` and
    ``mu_product`` the product of ``mu_1 .. mu_t``; ``g = grad`` (negated with ``maximize``), plus
    ``weight_decay * p`` unless ``decoupled_weight_decay`` (then ``p *= 1 - lr * weight_decay`` first)::

        exp_avg    += (1 - beta1) * (g - exp_avg)
        exp_avg_sq  = beta2 * exp_avg_sq + (1 - beta2) * g * g
        denom       = sqrt(exp_avg_sq / (1 - beta2**t)) + eps
        p -= lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p -= lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * exp_avg / denom

    State: ``step``, ``mu_product`` (a Python float, or with ``capturable=True`` a 0-d float64
    tensor on the parameter's device, as the step count), ``exp_avg``, ``exp_avg_sq``.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")  # and "mu_product", a number: checked by _parse_state_dict
    _optional_group_keys = ("maximize", "decoupled_weight_decay")  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "capturable": capturable}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._check("momentum_decay", group["momentum_decay"], 0)
        name = type(self).__name__
        group["decoupled_weight_decay"] = flag(group["decoupled_weight_decay"], name, "decoupled_weight_decay")

    def _numbers(self, group: dict, op: str) -> dict:
        h = super()._numbers(group, op)
        h["momentum_decay"] = float(group["momentum_decay"])
        h["decoupled"] = flag(group["decoupled_weight_decay"], op, "decoupled_weight_decay")
        return h

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "mu_product": 1.0, "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)}

    def _parse_state_dict(self, state_dict: Mapping, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        """The base class's parse, with ``mu_product`` (one number per parameter, not an array of the
        parameter's shape) taken out first and checked here."""
        saved = state_dict["state"]
        plain = {k: {key: v for key, v in e.items() if key != "mu_product"} if isinstance(e, Mapping) else e
                 for k, e in saved.items()}
        groups, state = super()._parse_state_dict({"state": plain, "param_groups": state_dict["param_groups"]}, name)
        index = {int(k): p for sg, g in zip(state_dict["param_groups"], groups, strict=True)
                 for k, p in zip(sg["params"], g["params"], strict=True)}
        for k, entry in saved.items():
            if "mu_product" not in entry:
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: the state of parameter {k} has no 'mu_product' (a state dict of "
                    f"another optimiser? this one is {name})"
                )
            state[index[int(k)]]["mu_product"] = _saved_mu_product(entry["mu_product"], k)
        return groups, state

    def _update(self, p: Tensor, grad: Any, st: dict, count: Any, h: dict) -> None:
        xp, param, tmp, term = p._backend.xp, p._data, self._scratch(p), self._scratch(p, 1)
        lr, beta1, beta2, decay = h["lr"], h["beta1"], h["beta2"], h["momentum_decay"]
        g = _decayed_gradient(xp, param, grad, h, self._scratch(p, 2))
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (count * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((count + 1) * decay))
        mu_product = _next_mu_product(st, p, mu)
        exp_avg, exp_avg_sq = st["exp_avg"]._data, st["exp_avg_sq"]._data
        _adam_moments(xp, g, exp_avg, exp_avg_sq, beta1, beta2, tmp)
        xp.divide(exp_avg_sq, _as_dtype(1 - beta2**count, param.dtype), out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp += h["eps"]  # the denominator, for both terms
        xp.divide(g, tmp, out=term)
        term *= _as_dtype(lr * (1 - mu) / (1 - mu_product), param.dtype)
        param -= term
        xp.divide(exp_avg, tmp, out=term)
        term *= _as_dtype(lr * mu_next / (1 - mu_product * mu_next), param.dtype)
        param -= term


def _next_mu_product(st: dict, p: Tensor, mu: Any) -> Any:
    """Multiply the state's ``mu_product`` by ``mu`` and return it: a float, or a 0-d array on the device when
    ``mu`` is one (capturable: the product stays there, updated in place)."""
    value = st["mu_product"]
    if type(mu) is float:
        if isinstance(value, Tensor):
            value = value.item()
        st["mu_product"] = value = float(value) * mu
        return value
    if not isinstance(value, Tensor) or value._backend is not p._backend:
        value = st["mu_product"] = _device_step(value, p)
    value._data *= mu
    return value._data


def _saved_mu_product(value: Any, k: Any) -> float:
    """A saved ``mu_product`` (a number, or a 0-d tensor or array) as a float in [0, 1]."""
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        if value.size != 1:
            raise InvalidArgumentError(
                f"NAdam.load_state_dict: state 'mu_product' of parameter {k} has shape {value.shape}, expected one "
                "number"
            )
        value = value.reshape(()).item()
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidArgumentError(
            f"NAdam.load_state_dict: state 'mu_product' of parameter {k} must be a number in [0, 1], got "
            f"{type(value).__name__} {value!r:.40}"
        )
    return float(value)
