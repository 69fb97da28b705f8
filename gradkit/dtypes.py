"""Dtype names and the rules that turn user input into a NumPy dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.errors import DTypeError

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

#: The dtype that Python floats and lists of them become.
default_float = float32

_SUPPORTED = {float16, float32, float64, int8, int16, int32, int64, uint8, bool_}


class _BFloat16:
    """The type of :data:`bfloat16`: a name, not a dtype (equal to the string ``"bfloat16"``, as a NumPy dtype
    is equal to its name)."""

    __slots__ = ()
    __name__ = "bfloat16"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _BFloat16) or (isinstance(other, str) and other == "bfloat16")

    def __hash__(self) -> int:
        return hash("bfloat16")

    def __str__(self) -> str:
        return "bfloat16"

    def __repr__(self) -> str:
        return "gradkit.bfloat16"

    def __reduce__(self) -> str:
        return "bfloat16"  # pickles (and copies) as the module-level name


#: PyTorch's ``torch.bfloat16``, as a name only: neither NumPy nor CuPy has a bfloat16 dtype, so every function
#: that takes a dtype refuses it (DTypeError, suggesting float16). It exists so that PyTorch programs that
#: name it (nanoGPT's ``{"bfloat16": torch.bfloat16, "float16": torch.float16}`` table) import and run with
#: float16 chosen; ``gk.get_autocast_dtype("cpu")`` returns it outside a float16 region, as PyTorch's.
bfloat16 = _BFloat16()


def is_bfloat16(dtype: Any) -> bool:
    """Whether ``dtype`` names bfloat16 (:data:`bfloat16`, "bfloat16", "bf16", PyTorch's ``torch.bfloat16``)."""
    if isinstance(dtype, str):
        return dtype.strip().lower() in ("bfloat16", "bf16", "torch.bfloat16")
    if isinstance(dtype, _BFloat16):
        return True
    if isinstance(dtype, np.dtype):
        return dtype.name == "bfloat16"  # ml_dtypes' bfloat16, which a tensor cannot have either
    return str(dtype).endswith("bfloat16") or getattr(dtype, "__name__", "") == "bfloat16"


def bfloat16_error(op: str) -> DTypeError:
    return DTypeError(
        f"{op}: bfloat16 is not available: NumPy and CuPy have no bfloat16 dtype, so a gradkit tensor cannot "
        "hold it; use gk.float16 (the other 16-bit float; for mixed precision gk.autocast(..., dtype=gk.float16) "
        "with a GradScaler) or gk.float32"
    )


def to_dtype(dtype: Any, op: str = "dtype") -> np.dtype:
    """Normalise ``dtype`` (a NumPy dtype, a type or a name) or raise DTypeError."""
    if isinstance(dtype, np.dtype) and dtype in _SUPPORTED:
        return dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if dtype is None or resolved is None or resolved not in _SUPPORTED:
        if is_bfloat16(dtype):
            raise bfloat16_error(op)
        names = ", ".join(sorted(d.name for d in _SUPPORTED))
        raise DTypeError(f"{op}: unknown or unsupported dtype {dtype!r}; expected one of {names}")
    return resolved


def is_supported(dtype: np.dtype) -> bool:
    """True for the dtypes a tensor can have (unsigned integers wider than 8 bits are not among them)."""
    return np.dtype(dtype) in _SUPPORTED


def is_floating(dtype: np.dtype) -> bool:
    """True for the float dtypes, the only ones that can carry gradients."""
    return dtype.kind == "f"


def is_dtype_like(value: Any) -> bool:
    """True when ``value`` names a dtype rather than a device (for ``.to(x)`` with one argument)."""
    if isinstance(value, (np.dtype, type)) or is_bfloat16(value):  # bfloat16: to_dtype then names it
        return True
    if isinstance(value, str):
        try:
            np.dtype(value)
        except (TypeError, ValueError):  # ValueError: a malformed type string such as "cuda:(-1,)"
            return False
        return value.strip().lower() not in ("cpu", "cuda", "gpu", "numpy", "cupy")
    return False


# ------------------------------------------------------------------ memory formats (PyTorch's names)
class memory_format:  # noqa: N801 - PyTorch's name
    """PyTorch's ``torch.memory_format``: :data:`contiguous_format`, :data:`channels_last`,
    :data:`channels_last_3d` and :data:`preserve_format`.

    gradkit has one layout (C order), so these are accepted where PyTorch takes ``memory_format=``
    (``contiguous``, ``to``, ``Module.to``, ``is_contiguous``) and change nothing: ``channels_last`` asks for a
    4-d tensor (``channels_last_3d`` a 5-d one) as PyTorch's, and the memory stays in C order.
    ``t.is_contiguous(memory_format=gk.channels_last)`` reports the array's actual strides.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"gradkit.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickles (and copies) as the module-level constant


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

_MEMORY_FORMATS = {"contiguous_format": contiguous_format, "channels_last": channels_last,
                   "channels_last_3d": channels_last_3d, "preserve_format": preserve_format}
_RANKS = {"channels_last": 4, "channels_last_3d": 5}


def check_memory_format(value: Any, op: str, ndim: int | None = None) -> memory_format | None:
    """``value`` (a memory format, or None) checked: ArgumentTypeError for anything else (the strings of
    the names are accepted too), and ShapeError where ``channels_last`` (``channels_last_3d``) meets a tensor
    of ``ndim`` other than 4 (5), as PyTorch's."""
    if value is None:
        return None
    fmt = value if isinstance(value, memory_format) else None
    if fmt is None and isinstance(value, str):
        fmt = _MEMORY_FORMATS.get(value.strip().removeprefix("torch.").removeprefix("gradkit."))
    if fmt is None:
        from gradkit.errors import ArgumentTypeError

        raise ArgumentTypeError(
            f"{op}: memory_format must be gk.contiguous_format, gk.channels_last, gk.channels_last_3d or "
            f"gk.preserve_format, got {type(value).__name__} {value!r:.40}"
        )
    rank = _RANKS.get(fmt.name)
    if rank is not None and ndim is not None and ndim != rank:
        from gradkit.errors import ShapeError

        raise ShapeError(f"{op}: required rank {rank} tensor to use {fmt.name} format, got a tensor of {ndim} "
                         "dimension(s)")
    return fmt
