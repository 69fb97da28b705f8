"""Whether operations are recorded for backward: a per-thread switch."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from gradkit._args import flag

F = TypeVar("F", bound=Callable[..., Any])


class BackwardPass:
    """The token of one backward pass (``state.backward_pass``); ``running`` turns False when it ends.

    Nodes that cache a result within a pass (``SharedBackward``) key the cache by it: passes on other
    threads, or nested in this one, have tokens of their own.
    """

    __slots__ = ("running",)

    def __init__(self) -> None:
        self.running = True


class _GradMode(threading.local):
    def __init__(self) -> None:
        self.enabled = True
        self.inference = False  # inside gk.inference_mode() (a flag only: see inference_mode)
        self.backward_pass: BackwardPass | None = None  # the innermost backward pass running on this thread


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
        if not callable(fn):
            from gradkit.errors import ArgumentTypeError

            raise ArgumentTypeError(f"{type(self).__name__}: can only decorate a function, got {type(fn).__name__}")
        if inspect.isgeneratorfunction(fn):
            return _generator_in_mode(fn, mode)  # type: ignore[return-value]

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
    """Set grad mode to ``mode``: at once when called (as PyTorch), or for a block or a function.

    ``gk.set_grad_enabled(False)`` on its own line switches recording off until
    it is switched on again; ``with gk.set_grad_enabled(False):`` restores the
    previous mode at the end of the block; as a decorator it applies to each
    call of the function only.
    """

    def __init__(self, mode: bool) -> None:
        self.mode = flag(mode, "set_grad_enabled", "mode")
        self._before = state.enabled
        state.enabled = self.mode

    def __enter__(self) -> None:
        # The mode was already set by __init__: the block restores what was there before it.
        before = self.__dict__.pop("_before", state.enabled)
        self.__dict__.setdefault("_prev", []).append(before)
        state.enabled = self.mode

    def __call__(self, fn: F) -> F:
        state.enabled = self.__dict__.pop("_before", state.enabled)  # a decorator: undo __init__'s switch
        return super().__call__(fn)


def _generator_in_mode(fn: Callable, mode: bool) -> Callable:
    """Wrap a generator function so that its body runs in grad mode ``mode`` (the caller's mode in between)."""

    def enter() -> bool:
        prev = state.enabled
        state.enabled = mode
        return prev

    def leave(prev: bool) -> None:
        state.enabled = prev

    return _generator_within(fn, enter, leave)


def _generator_within(fn: Callable, enter: Callable[[], Any], leave: Callable[[Any], None]) -> Callable:
    """Wrap a generator function so that each stretch of its body runs between ``enter()`` (which sets a mode
    and returns what it replaced) and ``leave(what)``: the caller's mode holds in between."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prev = enter()
        try:
            gen = fn(*args, **kwargs)
            item = gen.send(None)
        except StopIteration as stop:
            return stop.value
        finally:
            leave(prev)
        while True:
            try:
                sent = yield item
            except GeneratorExit:
                prev = enter()
                try:
                    gen.close()
                finally:
                    leave(prev)
                raise
            except BaseException as exc:  # thrown in by the caller: pass it on to the generator
                step = functools.partial(gen.throw, exc)
            else:
                step = functools.partial(gen.send, sent)
            prev = enter()
            try:
                item = step()
            except StopIteration as stop:
                return stop.value
            finally:
                leave(prev)

    return wrapper


def is_inference_mode_enabled() -> bool:
    """True inside ``gk.inference_mode()`` (and not inside an ``inference_mode(False)`` within it)."""
    return state.inference


class inference_mode(_SetGradMode):
    """PyTorch's ``inference_mode``: as a context manager or a decorator (``@inference_mode``,
    ``@inference_mode()``), ``mode=True`` switches recording off, as ``no_grad``, and sets the flag
    ``gk.is_inference_mode_enabled()``; ``mode=False`` switches recording on and the flag off.

    Unlike PyTorch's, it is no faster than ``no_grad``, and the tensors made inside are ordinary
    tensors: they may be used in recorded operations afterwards (PyTorch's "inference tensors" may
    not), and ``enable_grad()`` inside the block records again.
    """

    _on = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(cls, *args)

    def __init__(self, mode: bool = True) -> None:
        self._on = flag(mode, "inference_mode", "mode")

    def _enter(self) -> tuple[bool, bool]:
        prev = (state.enabled, state.inference)
        state.enabled, state.inference = not self._on, self._on
        return prev

    @staticmethod
    def _leave(prev: tuple[bool, bool]) -> None:
        state.enabled, state.inference = prev

    def __enter__(self) -> None:
        self.__dict__.setdefault("_prev", []).append(self._enter())

    def __exit__(self, *exc: object) -> None:
        self._leave(self._prev.pop())

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            from gradkit.errors import ArgumentTypeError

            raise ArgumentTypeError(f"inference_mode: can only decorate a function, got {type(fn).__name__}")
        if inspect.isgeneratorfunction(fn):
            return _generator_within(fn, self._enter, self._leave)  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._leave(prev)

        return wrapper  # type: ignore[return-value]
