"""gradkit's autograd (``gk.autograd``): ``record`` (function.py), ``Node``, the backward engine,
grad mode, and ``Function`` (custom_function.py), the public way to define a differentiable op.

``Function`` and ``FunctionCtx`` are loaded on first use (PEP 562): this package is imported by
``gradkit.tensor`` before ``Tensor`` exists, and custom_function.py needs ``Tensor``.
"""

from typing import Any

__all__ = ["Function", "FunctionCtx"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gradkit.autograd import custom_function

        return getattr(custom_function, name)
    raise AttributeError(f"module 'gradkit.autograd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
