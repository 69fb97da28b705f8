"""The exceptions gradkit raises for mistakes a user can make.

Every class derives from :class:`GradkitError` and also from the built-in
exception that fits, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class GradkitError(Exception):
    """Base class of every error gradkit raises on bad input."""


class ShapeError(GradkitError, ValueError):
    """Shapes that do not fit the operation (broadcasting, matmul, reshape)."""


class DTypeError(GradkitError, TypeError):
    """An unknown dtype, or a dtype the operation cannot take."""


class InvalidArgumentError(GradkitError, ValueError):
    """A value out of its allowed range (a negative learning rate, an unknown mode)."""


class ArgumentTypeError(GradkitError, TypeError):
    """An argument of the wrong Python type."""


class IndexOutOfRangeError(GradkitError, IndexError):
    """An index, axis or label outside the valid range."""


class DeviceError(GradkitError, RuntimeError):
    """Tensors on different devices, or an unknown device."""


class BackendError(GradkitError, RuntimeError):
    """A backend that cannot be used here (CuPy or a GPU missing, a bad GRADKIT_BACKEND)."""


class AutogradError(GradkitError, RuntimeError):
    """Misuse of the autograd engine (a freed graph, an in-place change, no grad_fn)."""


class CheckpointError(GradkitError, ValueError):
    """A checkpoint file that is truncated, corrupt, foreign or does not fit."""


def describe(value: object) -> str:
    """A short description of a value for error messages: type, shape and dtype."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__}(shape={tuple(shape)}, dtype={dtype})"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class GradcheckError(GradkitError, AssertionError):
    """Reverse-mode gradients that disagree with finite differences (raised by gk.gradcheck)."""
