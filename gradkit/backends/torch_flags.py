"""PyTorch's global switches that GPU training scripts set at the top, and what each means in gradkit.

- ``gk.set_float32_matmul_precision("highest" | "high" | "medium")`` / ``gk.get_float32_matmul_precision()``:
  ``"high"`` and ``"medium"`` let float32 matmuls on a GPU use TF32 (``gk.cuda.set_tf32(True)``), ``"highest"``
  keeps them in float32 (gradkit's default); ``"medium"`` is ``"high"`` (gradkit has no bfloat16 path).
- ``gk.backends.cuda.matmul.allow_tf32``: the same TF32 switch, read and written (``gradkit/backends/cuda.py``).
- ``gk.backends.cudnn.benchmark``, ``.deterministic``, ``.allow_tf32``, ``.enabled``: kept, and change nothing:
  gradkit calls no cuDNN (``gradkit/backends/cudnn.py``).
- ``gk.use_deterministic_algorithms(mode, *, warn_only=False)`` / ``are_deterministic_algorithms_enabled()`` /
  ``is_deterministic_algorithms_warn_only_enabled()``: the flag is recorded and no operation checks it.

Nothing here imports CuPy; setting the TF32 switch does where CuPy is installed (as ``gk.cuda.set_tf32``).
"""

from __future__ import annotations

from typing import Any

from gradkit._args import flag

_PRECISIONS = ("highest", "high", "medium")
_state: dict[str, Any] = {"precision": "high", "deterministic": False, "warn_only": False}


class Flag:
    """A module attribute that holds True or False (PyTorch's ``torch.backends.cudnn.benchmark`` and
    the like): any other value raises ``ArgumentTypeError`` when set."""

    def __init__(self, default: bool, doc: str) -> None:
        self.default = default
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.op = owner._flags_of  # "backends.cudnn", named in errors

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__.get(f"_{self.name}", self.default)

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[f"_{self.name}"] = flag(value, self.op, self.name)


def set_float32_matmul_precision(precision: str) -> None:
    """PyTorch's ``torch.set_float32_matmul_precision``: ``"highest"`` computes float32 matmuls in float32
    (gradkit's default), ``"high"`` and ``"medium"`` let them use TF32 tensor cores on a GPU (as
    ``gk.cuda.set_tf32(True)``; ``"medium"`` is ``"high"`` here: gradkit has no bfloat16). No effect on NumPy."""
    from gradkit.cuda.cublas import set_tf32
    from gradkit.errors import ArgumentTypeError, InvalidArgumentError

    if not isinstance(precision, str):
        raise ArgumentTypeError(
            f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', got "
            f"{type(precision).__name__} {precision!r:.40}"
        )
    if precision not in _PRECISIONS:
        raise InvalidArgumentError(
            f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', got {precision!r:.40}"
        )
    set_tf32(precision != "highest")
    _state["precision"] = precision if precision != "highest" else "high"


def get_float32_matmul_precision() -> str:
    """``"highest"`` while float32 matmuls are computed in float32 (TF32 off, the default), else the ``"high"``
    or ``"medium"`` last given to :func:`set_float32_matmul_precision` (``"high"`` when TF32 was turned on by
    ``gk.cuda.set_tf32`` or ``gk.backends.cuda.matmul.allow_tf32``)."""
    from gradkit.cuda.cublas import tf32_enabled

    return _state["precision"] if tf32_enabled() else "highest"


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """PyTorch's ``torch.use_deterministic_algorithms``: recorded (``are_deterministic_algorithms_enabled()``),
    checked by no operation. gradkit's NumPy results repeat exactly run to run under ``gk.manual_seed``; on a
    GPU the float sums that gradkit accumulates with CuPy's atomic scatter-add (the backward of indexing,
    ``gather``, ``embedding``, max pooling; ``index_add``, ``scatter_add``) may differ in the last bits between
    runs, with this flag or without it, and nothing raises (PyTorch raises for some of them with ``mode=True``)."""
    _state["deterministic"] = flag(mode, "use_deterministic_algorithms", "mode")
    _state["warn_only"] = flag(warn_only, "use_deterministic_algorithms", "warn_only")


def are_deterministic_algorithms_enabled() -> bool:
    """The ``mode`` last given to :func:`use_deterministic_algorithms` (False until then)."""
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` last given to :func:`use_deterministic_algorithms` (False until then)."""
    return _state["warn_only"]


__all__ = [
    "are_deterministic_algorithms_enabled",
    "get_float32_matmul_precision",
    "is_deterministic_algorithms_warn_only_enabled",
    "set_float32_matmul_precision",
    "use_deterministic_algorithms",
]
