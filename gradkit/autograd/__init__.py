"""gradkit's autograd (``gk.autograd``): ``record`` (function.py), ``Node``, the backward engine,
grad mode, ``Function`` (custom_function.py), the public way to define a differentiable op,
PyTorch's ``grad`` and ``backward`` (api.py), anomaly detection (anomaly.py) and
``gk.autograd.functional`` (functional.py: torch.autograd.functional's jacobian, hessian, vjp, jvp, hvp, vhp),
and torch.autograd's ``gradcheck``, ``gradgradcheck`` and deprecated ``Variable`` (checks.py).

The public names are loaded on first use (PEP 562): this package is imported by
``gradkit.tensor`` before ``Tensor`` exists, and those modules need ``Tensor``.
"""

from importlib import import_module
from typing import Any

# public name -> the module of this package that defines it
_EXPORTS = {
    "Function": "custom_function",
    "FunctionCtx": "custom_function",
    "grad": "api",
    "backward": "api",
    "set_detect_anomaly": "anomaly",
    "detect_anomaly": "anomaly",
    "is_anomaly_enabled": "anomaly",
    "is_anomaly_check_nan_enabled": "anomaly",
    # torch.autograd's names for the grad-mode switches (also at gk.*)
    "no_grad": "grad_mode",
    "enable_grad": "grad_mode",
    "set_grad_enabled": "grad_mode",
    "inference_mode": "grad_mode",
    # torch.autograd.gradcheck / gradgradcheck and the deprecated Variable
    "gradcheck": "checks",
    "gradgradcheck": "checks",
    "Variable": "checks",
}

# submodules loaded on first use, for the same reason
_SUBMODULES = ("functional", "forward_ad", "graph")

__all__ = [*_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        return getattr(import_module(f"gradkit.autograd.{module}"), name)
    if name in _SUBMODULES:
        return import_module(f"gradkit.autograd.{name}")
    raise AttributeError(f"module 'gradkit.autograd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
