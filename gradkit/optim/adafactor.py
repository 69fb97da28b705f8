"""Adafactor: Adam-like steps with a factored second moment (PyTorch's rule, ``torch.optim.Adafactor``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.errors import InvalidArgumentError
from gradkit.optim.optimizer import Optimizer, _is_number
from gradkit.tensor import Tensor


class Adafactor(Optimizer):
    """``torch.optim.Adafactor``'s update.

    With ``g = grad`` (negated with ``maximize``), ``t`` the step count, ``RMS(x) = norm(x) / sqrt(x.size)``
    and ``eps1`` (``eps[0]``; None: the machine epsilon of the parameter's dtype), ``eps2 = eps[1]``::

        beta = 1 - t ** beta2_decay
        rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, RMS(p)) * rho          (p before the weight decay)
        p *= 1 - lr * weight_decay
        if p.ndim >= 2 (factored over the last two axes):
            row_var = lerp(row_var, mean(g * g, axis=-1), 1 - beta)
            col_var = lerp(col_var, mean(g * g, axis=-2), 1 - beta)
            v = row_var * col_var / max(mean(row_var, axis=-2), eps1)
        else:
            variance = lerp(variance, g * g, 1 - beta); v = variance
        u = g / sqrt(max(v, eps1 * eps1))
        p -= alpha / max(1, RMS(u) / d) * u

    ``lr`` caps the relative step size and scales the (decoupled) weight decay; it is not a step size
    itself, as in PyTorch. State: ``step``, and ``row_var`` (``p``'s shape with its last axis 1) and
    ``col_var`` (with its second-last axis 1) for a parameter of two or more dimensions, ``variance``
    (``p``'s shape) for one of one or none: the memory saving is the point. The two RMS values and the
    final scale are computed on the device (no host read; a float16 tensor's squares summed in float32, and
    one element's norm its absolute value, as PyTorch's norm); the ``max`` there ignores a NaN as Python's
    does in PyTorch's update. The update depends on the step count, a Python int, so a step cannot be
    captured by ``gk.cuda.capture`` (it raises ``CaptureError``); PyTorch's Adafactor has no
    ``capturable`` either. ``foreach`` as PyTorch's (see ``Optimizer``).
    """

    _state_keys = ("step",)  # and "variance", or "row_var" and "col_var": checked by _parse_state_dict

    def __init__(self, params: Any, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False) -> None:
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        decay = group["beta2_decay"]
        if not _is_number(decay):
            raise InvalidArgumentError(f"Adafactor: beta2_decay must be a number, got {type(decay).__name__} {decay!r}")
        if not decay <= 0:
            raise InvalidArgumentError(f"Adafactor: invalid beta2_decay={decay!r}; expected beta2_decay <= 0")
        eps = group["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise InvalidArgumentError(f"Adafactor: eps must be a pair (eps1 or None, eps2), got {eps!r:.60}")
        group["eps"] = tuple(eps)
        if eps[0] is not None:
            self._check("eps[0]", eps[0], 0)
        self._check("eps[1]", eps[1], 0)
        self._check("d", group["d"], 1)
        self._check("weight_decay", group["weight_decay"], 0)
        group["maximize"] = flag(group["maximize"], "Adafactor", "maximize")

    def _new_state(self, p: Tensor) -> dict:
        if p.ndim < 2:
            return {"step": 0, "variance": self._zeros(p)}
        xp, shape = p._backend.xp, p.shape
        return {"step": 0, "row_var": Tensor._make(xp.zeros(_row_shape(shape), dtype=p.dtype), p._backend),
                "col_var": Tensor._make(xp.zeros(_col_shape(shape), dtype=p.dtype), p._backend)}

    def _update_group(self, group: dict) -> None:
        op = "Adafactor.step"
        if is_capturing():
            raise CaptureError(
                "Adafactor.step: its update depends on the step count, which a CUDA graph would freeze at its "
                "capture-time value (every replay would repeat that step's update); run it without gk.cuda.capture"
            )
        lr, decay, d = float(group["lr"]), float(group["beta2_decay"]), float(group["d"])
        eps1, eps2 = group["eps"]
        eps2, weight_decay = float(eps2), float(group["weight_decay"])
        maximize = flag(group["maximize"], op, "maximize")
        for p, grad, st in self._with_grads(group, self._new_state):
            st["step"] += 1
            if p.size == 0:
                continue
            t = float(st["step"])
            weight = t**decay  # 1 - beta2 of this step
            rho = min(lr, 1 / t**0.5)
            e1 = float(np.finfo(p.dtype).eps) if eps1 is None else float(eps1)
            xp, param, tmp = p._backend.xp, p._data, self._scratch(p)
            root_size = param.size**0.5
            rms = _norm(xp, param, tmp).astype(np.float64) / root_size
            alpha = xp.fmax(rms, eps2) * rho  # fmax: a NaN RMS gives eps2, as Python's max(eps2, nan)
            if weight_decay != 0:
                param *= 1 - lr * weight_decay
            xp.multiply(grad, grad, out=tmp)  # g * g: the sign of maximize does not matter here
            if param.ndim < 2:
                variance = st["variance"]._data
                _lerp(xp, variance, tmp, weight)
                xp.copyto(tmp, variance)
            else:
                row_var, col_var = st["row_var"]._data, st["col_var"]._data
                row_mean = xp.sum(tmp, axis=-1, keepdims=True)
                row_mean /= param.shape[-1]
                col_mean = xp.sum(tmp, axis=-2, keepdims=True)
                col_mean /= param.shape[-2]
                _lerp(xp, row_var, row_mean, weight)
                _lerp(xp, col_var, col_mean, weight)
                xp.copyto(tmp, col_var)  # tmp = row_var * col_var, PyTorch's row_var @ col_var (one product
                tmp *= row_var  # each), in two broadcasts: NumPy buffers less than for one with both
                divisor = xp.mean(row_var, axis=-2, keepdims=True)
                xp.maximum(divisor, e1, out=divisor)
                tmp /= divisor
            xp.maximum(tmp, e1 * e1, out=tmp)
            xp.sqrt(tmp, out=tmp)
            xp.divide(1.0, tmp, out=tmp)  # rsqrt, then times g, as PyTorch rounds it
            tmp *= grad
            if maximize:
                xp.negative(tmp, out=tmp)
            denom = xp.fmax(_norm(xp, tmp, self._scratch(p, 1)).astype(np.float64) / (root_size * d), 1.0)
            tmp *= (alpha / denom).astype(param.dtype)
            param -= tmp

    def _parse_state_dict(self, state_dict: Mapping, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        """The base class's parse, with ``row_var`` and ``col_var`` (not of the parameter's shape) taken out
        first and checked here, and each parameter's state checked to hold the factors or the variance its
        number of dimensions calls for."""
        saved = state_dict["state"]
        factors = ("row_var", "col_var")
        plain = {k: {key: v for key, v in e.items() if key not in factors} if isinstance(e, Mapping) else e
                 for k, e in saved.items()}
        groups, state = super()._parse_state_dict({"state": plain, "param_groups": state_dict["param_groups"]}, name)
        index = {int(k): p for sg, g in zip(state_dict["param_groups"], groups, strict=True)
                 for k, p in zip(sg["params"], g["params"], strict=True)}
        for k, entry in saved.items():
            p = index[int(k)]
            needed = ("variance",) if p.ndim < 2 else factors
            absent = [key for key in needed if key not in entry]
            if absent:
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: the state of parameter {k} (of {p.ndim} dimension(s)) has no "
                    f"{', '.join(map(repr, absent))} (a state dict of another optimiser, or of other parameters?)"
                )
            if p.ndim >= 2:
                for key, shape in (("row_var", _row_shape(p.shape)), ("col_var", _col_shape(p.shape))):
                    state[p][key] = _factor(entry[key], p, key, shape, name, k)
        return groups, state


def _row_shape(shape: tuple) -> tuple:
    return (*shape[:-1], 1)


def _col_shape(shape: tuple) -> tuple:
    return (*shape[:-2], 1, shape[-1])


def _norm(xp: Any, a: Any, scratch: Any) -> Any:
    """The 2-norm of ``a`` as a 0-d value on its device, of its dtype, or float32 for a narrower one
    (``scratch``, of ``a``'s shape, takes the squares on CuPy; NumPy's dot needs none). Of one element, its
    absolute value, as PyTorch's norm (no overflow of its square: a parameter of 1e20 in float32 has an RMS of
    1e20, not inf). A float16 array's squares are summed in float32, as PyTorch's (in float16 a sum past 65504,
    a 256 x 256 parameter of ones, would be inf, and the update NaN); that makes a float32 temporary."""
    if a.size == 1:
        return xp.abs(a.reshape(()))
    if a.dtype.itemsize < 4:
        return xp.sqrt(xp.square(a, dtype=xp.float32).sum())
    if xp is np:
        flat = a.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    xp.multiply(a, a, out=scratch)  # cupy.dot is a cuBLAS call, which a CUDA-graph capture refuses
    return xp.sqrt(scratch.sum())


def _lerp(xp: Any, start: Any, end: Any, weight: float) -> None:
    """``start = lerp(start, end, weight)`` in place, rounded as PyTorch's (``start + weight * (end - start)``
    for ``|weight| < 0.5``, else ``end - (end - start) * (1 - weight)``); ``end`` may be overwritten."""
    if abs(weight) < 0.5:
        end -= start
        end *= weight
        start += end
    else:
        xp.subtract(end, start, out=start)
        start *= weight - 1  # -(end - start) * (1 - weight), exactly
        start += end


def _factor(value: Any, p: Tensor, key: str, shape: tuple, name: str, k: Any) -> Tensor:
    """A saved row or column factor as a copy on ``p``'s device, in its dtype, of the ``shape`` it must have."""
    backend = p._backend
    if isinstance(value, Tensor):
        array = backend.transfer(value._data, value._backend)
    elif isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        array = backend.asarray(value)
    else:
        raise InvalidArgumentError(
            f"{name}.load_state_dict: state {key!r} of parameter {k} is a {type(value).__name__}, expected a tensor "
            "or an array"
        )
    array = backend.xp.array(array, copy=True)
    if array.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{name}.load_state_dict: state {key!r} of parameter {k} has dtype {array.dtype}, expected a float array"
        )
    if tuple(array.shape) != tuple(shape):
        raise InvalidArgumentError(
            f"{name}.load_state_dict: state {key!r} of parameter {k} has shape {tuple(array.shape)}, expected "
            f"{tuple(shape)} for a parameter of shape {tuple(p.shape)}"
        )
    return Tensor._make(array.astype(p.dtype, copy=False), backend)

