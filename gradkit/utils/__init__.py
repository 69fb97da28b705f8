"""Utilities (``gk.utils``), as in ``torch.utils``: ``gk.utils.checkpoint`` (activation checkpointing) and
``gk.utils.data`` (``torch.utils.data``'s spelling of ``gk.data``: the same objects).

The submodules are imported on first use (PEP 562), so ``import gradkit`` does not load them.
"""

from importlib import import_module
from typing import Any

__all__ = ["checkpoint", "data"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return import_module(f"gradkit.utils.{name}")  # also sets the attribute: later lookups skip this
    raise AttributeError(f"module 'gradkit.utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
