"""Whether operations are recorded for backward: a per-thread switch."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(threading.local):
    def __init__(self) -> None:
        self.enabled = True


state = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are being recorded."""
    return state.enabled


class _SetGradMode:
    """Context manager and decorator that sets grad mode, then restores it.

    Works as ``with no_grad():``, ``@no_grad()`` and ``@no_grad``.
    """

    mode = True

    def __new__(cls, *args: Any) -> Any:
        self = super().__new__(cls)
        if len(args) == 1 and callable(args[0]) and not isinstance(args[0], bool):
            return self(args[0])  # used as a bare decorator: @no_grad
        return self

    def __enter__(self) -> None:
        # A stack, so that one instance can be entered again inside its own block.
        self.__dict__.setdefault("_prev", []).append(state.enabled)
        state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        state.enabled = self._prev.pop()

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_SetGradMode):
    """Do not record operations (inference, optimiser updates)."""

    mode = False


class enable_grad(_SetGradMode):
    """Record operations again, inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_SetGradMode):
    """Set grad mode to ``mode`` for a block or a function."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
