"""ASGD: averaged stochastic gradient descent (PyTorch's rule)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.errors import InvalidArgumentError
from gradkit.optim.adam import _device_step, _next_count
from gradkit.optim.adamax import _gradient
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class ASGD(Optimizer):
    """``torch.optim.ASGD``'s update.

    With ``g = grad`` (negated with ``maximize``) ``+ weight_decay * p``, ``t`` the step count, and
    ``eta`` and ``mu`` as the previous step left them (``lr`` and 1 at first)::

        p  *= 1 - lambd * eta
        p  -= eta * g
        ax += mu * (p - ax)          (ax = p while mu == 1)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu  = 1 / max(1, t - t0)

    ``ax`` is the running average of the iterates from step ``t0`` on; the parameters themselves
    are not replaced by it (as PyTorch's).

    State: ``step``, ``eta``, ``mu`` and ``ax``. ``eta`` and ``mu`` are Python floats, as the step count
    is an int; PyTorch keeps all three in 0-d tensors of its default dtype (float32 unless set), and its
    tensors load here (and gradkit's numbers there). The update depends on the step count, so by
    default a step cannot be captured by ``gk.cuda.capture`` (it raises ``CaptureError``); with
    ``capturable=True`` the count, ``eta`` and ``mu`` are 0-d float64 tensors on the parameter's device,
    updated there (``ax`` then always follows ``ax += mu * (p - ax)``, as PyTorch's capturable
    update). ``foreach`` and ``differentiable`` as PyTorch's (see ``Optimizer``).
    """

    _state_keys = ("step", "ax")  # and "eta" and "mu", numbers: checked by _parse_state_dict
    _optional_group_keys = ("maximize", "capturable")  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        self._check("lambd", group["lambd"], 0)
        self._check("alpha", group["alpha"], 0)
        self._check("t0", group["t0"], 0)
        self._check("weight_decay", group["weight_decay"], 0)
        group["maximize"] = flag(group["maximize"], "ASGD", "maximize")
        group["capturable"] = flag(group["capturable"], "ASGD", "capturable")

    def _update_group(self, group: dict) -> None:
        op = "ASGD.step"
        lr, lambd, alpha = float(group["lr"]), float(group["lambd"]), float(group["alpha"])
        t0, weight_decay = float(group["t0"]), float(group["weight_decay"])
        maximize, capturable = flag(group["maximize"], op, "maximize"), flag(group["capturable"], op, "capturable")
        if not capturable and is_capturing():
            raise CaptureError(
                "ASGD.step: its eta and mu depend on the step count, which a CUDA graph would freeze at its "
                "capture-time value (every replay would repeat that step's update); create the optimiser with "
                "capturable=True to keep them on the device, or run it without gk.cuda.capture"
            )
        for p, grad, st in self._with_grads(group, lambda q: self._new_state(q, lr)):
            xp, param, tmp = p._backend.xp, p._data, self._scratch(p)
            count = _next_count(st, p, capturable)
            g = _gradient(xp, param, grad, weight_decay, maximize, self._scratch(p, 1))
            ax = st["ax"]._data
            if capturable:
                eta, mu = _on_device(st, "eta", p), _on_device(st, "mu", p)
                param *= (1 - lambd * eta).astype(param.dtype)
                xp.multiply(g, eta.astype(param.dtype), out=tmp)
                param -= tmp
                xp.subtract(param, ax, out=tmp)
                tmp *= mu.astype(param.dtype)
                ax += tmp
                xp.copyto(eta, lr / (1 + lambd * lr * count) ** alpha)
                xp.copyto(mu, 1 / xp.maximum(count - t0, 1.0))
                continue
            eta, mu = _on_host(st, "eta"), _on_host(st, "mu")
            param *= 1 - lambd * eta
            xp.multiply(g, eta, out=tmp)
            param -= tmp
            if mu != 1:
                xp.subtract(param, ax, out=tmp)
                tmp *= mu
                ax += tmp
            else:
                xp.copyto(ax, param)
            st["eta"] = lr / (1 + lambd * lr * count) ** alpha
            st["mu"] = 1 / max(1, count - t0)

    def _new_state(self, p: Tensor, lr: float) -> dict:
        return {"step": 0, "eta": lr, "mu": 1.0, "ax": self._zeros(p)}  # eta starts at the group's lr, as PyTorch's

    def _parse_state_dict(self, state_dict: Mapping, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        """The base class's parse, with ``eta`` and ``mu`` (one number per parameter, not an array of the
        parameter's shape) taken out first and checked here."""
        saved = state_dict["state"]
        scalars = ("eta", "mu")
        plain = {k: {key: v for key, v in e.items() if key not in scalars} if isinstance(e, Mapping) else e
                 for k, e in saved.items()}
        groups, state = super()._parse_state_dict({"state": plain, "param_groups": state_dict["param_groups"]}, name)
        index = {int(k): p for sg, g in zip(state_dict["param_groups"], groups, strict=True)
                 for k, p in zip(sg["params"], g["params"], strict=True)}
        for k, entry in saved.items():
            for key, high in (("eta", math.inf), ("mu", 1.0)):
                if key not in entry:
                    raise InvalidArgumentError(
                        f"{name}.load_state_dict: the state of parameter {k} has no {key!r} (a state dict of "
                        f"another optimiser? this one is {name})"
                    )
                state[index[int(k)]][key] = _saved_number(entry[key], name, key, k, high)
        return groups, state


def _on_host(st: dict, key: str) -> float:
    """The state's ``eta`` or ``mu`` as a float (one kept on a device by a capturable step is read once)."""
    value = st[key]
    if isinstance(value, Tensor):
        value = st[key] = float(value.item())
    return value


def _on_device(st: dict, key: str, p: Tensor) -> Any:
    """The state's ``eta`` or ``mu`` as a 0-d float64 array on ``p``'s device, kept in the state (a float,
    from a plain step or a load, is moved there once)."""
    value = st[key]
    if not isinstance(value, Tensor) or value._backend is not p._backend:
        value = st[key] = _device_step(value, p)
    return value._data


def _saved_number(value: Any, name: str, key: str, k: Any, high: float) -> float:
    """A saved ``eta`` or ``mu`` (a number, or a 0-d tensor or array, PyTorch's) as a float in [0, high]."""
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        if value.size != 1:
            raise InvalidArgumentError(
                f"{name}.load_state_dict: state {key!r} of parameter {k} has shape {value.shape}, expected one number"
            )
        value = value.reshape(()).item()
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 <= value <= high:
        bounds = "[0, 1]" if high == 1.0 else ">= 0"
        raise InvalidArgumentError(
            f"{name}.load_state_dict: state {key!r} of parameter {k} must be a finite number {bounds}, got "
            f"{type(value).__name__} {value!r:.40}"
        )
    return float(value)
