"""Adam and AdamW (PyTorch's rules, with bias correction)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit import kernels
from gradkit._args import flag
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.errors import InvalidArgumentError
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class Adam(Optimizer):
    """``torch.optim.Adam``'s update; see ``gradkit.kernels.reference.adam_update``.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2), as PyTorch's Adam;
    ``maximize=True`` negates the gradient first (gradient ascent).

    ``amsgrad=True`` (PyTorch's AMSGrad) keeps each parameter's running maximum
    of ``exp_avg_sq`` in the state ``"max_exp_avg_sq"`` and divides by its
    square root instead (bias-corrected as PyTorch 2 does). It is keyword-only:
    PyTorch's sixth positional argument, ``amsgrad``, is ``capturable`` here
    (it came first), and stays so. A parameter whose state lacks the maximum
    (state made or loaded while ``amsgrad`` was off) starts it from zeros, that
    is from its current ``exp_avg_sq``. On CuPy, AMSGrad runs the unfused
    reference update (device calls only, so capturable steps still capture).

    The bias corrections depend on the step count. By default it is a Python
    number, and a step that calls this optimiser cannot be captured by
    ``gk.cuda.capture`` (every replay would repeat the captured step's
    corrections): the capture raises ``CaptureError``. With
    ``capturable=True`` (PyTorch's name) each parameter's count is a 0-d
    float64 tensor on its device, incremented and read there, so a captured
    step can be replayed; the results are the same as without it.

    ``foreach``, ``fused`` and ``differentiable`` as PyTorch's (see ``Optimizer``; ``fused=True``
    is accepted: the update is a fused kernel on CuPy, except AMSGrad's).
    """

    _decoupled = False
    _fused = True

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_group_keys = ("capturable", "maximize", "amsgrad")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, capturable: bool = False, *, amsgrad: bool = False,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "capturable": capturable, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, fused=fused, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        name = type(self).__name__
        _check_moment_numbers(self, group)
        if not isinstance(group.get("capturable", False), (bool, np.bool_)):
            raise InvalidArgumentError(
                f"{name}: capturable must be True or False, got {type(group['capturable']).__name__} "
                f"{group['capturable']!r}"
            )
        flag(group.get("maximize", False), name, "maximize")
        group["amsgrad"] = flag(group.get("amsgrad", False), name, "amsgrad")

    def _parse_state_dict(self, state_dict: Any, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        groups, state = super()._parse_state_dict(state_dict, name)
        for k, entry in state_dict["state"].items():  # each a dict: checked above
            if "max_exp_avg_sq" not in entry:  # optional: PyTorch saves it only with amsgrad
                continue
            vmax = entry["max_exp_avg_sq"]  # a float array when an array: checked above
            if not isinstance(vmax, (Tensor, np.ndarray)) and not hasattr(vmax, "__cuda_array_interface__"):
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: state 'max_exp_avg_sq' of parameter {k} is a {type(vmax).__name__}, "
                    "expected a tensor or an array"
                )
        return groups, state

    def _update_group(self, group: dict) -> None:
        capturable = bool(group.get("capturable", False))
        if not capturable and is_capturing():
            raise CaptureError(
                f"{type(self).__name__}.step: its bias corrections depend on the step count, which a CUDA graph "
                "would freeze at its capture-time value (every replay would repeat that step's update); "
                f"create the optimiser with capturable=True to keep the count on the device, or run it without "
                "gk.cuda.capture"
            )
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        decoupled, maximize = self._decoupled, bool(group.get("maximize", False))
        amsgrad = flag(group.get("amsgrad", False), f"{type(self).__name__}.step", "amsgrad")
        update = kernels.adam_update
        new_state = self._new_state_amsgrad if amsgrad else self._new_state
        for p, grad, st in self._with_grads(group, new_state):
            count = _next_count(st, p, capturable)
            vmax = None
            if amsgrad:
                vmax = st.get("max_exp_avg_sq")
                if not isinstance(vmax, Tensor):  # state from a step or a load without amsgrad: start it now
                    vmax = st["max_exp_avg_sq"] = self._zeros(p)
            m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
            # amsgrad's update is never fused: it always takes a scratch array
            scratch = self._scratch(p) if vmax is not None else self._scratch_unless_fused(
                "adam_update", p, p._data, grad, m, v)
            update(p._data, grad, m, v, lr, beta1, beta2, eps, weight_decay, count, decoupled, scratch, maximize,
                   None if vmax is None else vmax._data)

    def _new_state(self, p: Tensor) -> dict:
        return {"step": 0, "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)}

    def _new_state_amsgrad(self, p: Tensor) -> dict:
        return {**self._new_state(p), "max_exp_avg_sq": self._zeros(p)}


def _check_moment_numbers(opt: Optimizer, group: dict) -> None:
    """The checks of Adam, AdamW, Adamax, NAdam and RAdam: ``lr``, ``eps``, ``betas`` (a pair, each in
    [0, 1); made a tuple) and ``weight_decay``."""
    opt._check("lr", group["lr"], 0)
    opt._check("eps", group["eps"], 0)
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise InvalidArgumentError(f"{type(opt).__name__}: betas must be a pair (beta1, beta2), got {betas!r}")
    group["betas"] = tuple(betas)
    opt._check("betas[0]", betas[0], 0, 1, high_open=True)
    opt._check("betas[1]", betas[1], 0, 1, high_open=True)
    opt._check("weight_decay", group["weight_decay"], 0)


def _next_count(st: dict, p: Tensor, capturable: bool) -> Any:
    """Add one to the state's step count; returns it as a Python int, or (capturable) a 0-d float64 device array."""
    step = st["step"]
    if capturable:
        if not isinstance(step, Tensor) or step._backend is not p._backend:
            step = st["step"] = _device_step(step, p)
        step._data += 1  # on the device: every replay of a captured step counts
        return step._data
    if isinstance(step, Tensor):
        step = int(step.item())
    st["step"] = step + 1
    return step + 1


def _device_step(step: Any, p: Tensor) -> Tensor:
    """A step count (a number, or a tensor on another device) as a 0-d float64 tensor on ``p``'s device."""
    if isinstance(step, Tensor):
        step = step.item()
    backend = p._backend
    return Tensor._make(backend.xp.full((), float(step), dtype=np.float64), backend)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` first)."""

    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, capturable: bool = False, *, amsgrad: bool = False,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, capturable=capturable,
                         amsgrad=amsgrad, maximize=maximize, foreach=foreach, differentiable=differentiable,
                         fused=fused)
