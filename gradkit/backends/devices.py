"""``gk.device``: PyTorch's ``torch.device`` and gradkit's default-device block in one object.

A device is a ``str`` whose value is its canonical name (``"cpu"``, ``"cuda"``, ``"cuda:1"``), with
``torch.device``'s ``type`` and ``index``. Being a ``str``, it goes wherever gradkit takes a device name
(``device=`` keywords, ``.to``, ``gk.load``, dict keys, JSON, checkpoints) and compares equal to its name.
Entered (``with gk.device("cpu"): ...``), it makes its device the default for new tensors in the block, on
this thread, as ``gk.device`` always did. This module imports neither CuPy nor the rest of gradkit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.backends.base import Backend
from gradkit.errors import ArgumentTypeError, DeviceError

#: the names gradkit takes for each device type, lower case (also "CPU", " cuda ")
_TYPES = {"cpu": "cpu", "numpy": "cpu", "cuda": "cuda", "gpu": "cuda", "cupy": "cuda"}
_EXPECTED = "expected 'cpu', 'cuda' or 'cuda:N'"


def _bad(value: Any, op: str | None) -> DeviceError:
    prefix = f"{op}: " if op else ""
    hint = ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        # PyTorch's torch.device(0) / x.to(0) / model.to(rank) mean GPU 0; gradkit takes the GPU by name
        hint = f" (PyTorch reads an int as a GPU's index: write 'cuda:{value}', or x.cuda({value}))"
    return DeviceError(f"{prefix}unknown device {value!r:.60}; {_EXPECTED}{hint}")


def _index(value: Any, op: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: the device index must be an int, got {type(value).__name__} {value!r:.40}")
    if value < 0:
        raise DeviceError(f"{op}: the device index must not be negative, got {int(value)}")
    return int(value)


def canonical(value: Any, index: Any = None, op: str | None = "device") -> str:
    """The canonical name of a device given as gradkit and PyTorch take it: ``"cpu"`` (also ``"numpy"``,
    ``"cpu:0"``), ``"cuda"`` (also ``"gpu"``, ``"cupy"``: no index, as ``torch.device("cuda")``),
    ``"cuda:N"``, a type and an ``index``, a ``gk.device`` or a backend; case and spaces around are ignored."""
    if index is None and type(value) is device:
        return str(value)
    name = value.device if isinstance(value, Backend) else value
    if not isinstance(name, str):
        raise _bad(value, op)
    kind, colon, number = name.strip().lower().partition(":")
    kind = _TYPES.get(kind)
    if kind is None or (colon and not (number.isdigit() and number.isascii())):
        raise _bad(value, op)
    prefix = f"{op}: " if op else ""
    if index is not None:
        if colon:
            raise DeviceError(
                f"{prefix}the device {value!r} already has an index, and index={index!r} was given too; "
                "give one of them"
            )
        number = str(_index(index, op or "device"))
    if kind == "cpu":
        if number and int(number) != 0:
            raise DeviceError(f"{prefix}there is one CPU device, 'cpu' (index 0), not {value!r} with index {number}")
        return "cpu"
    return f"cuda:{int(number)}" if number else "cuda"


class device(str):  # lower case: PyTorch's torch.device
    """A device: ``gk.device("cuda")``, ``gk.device("cuda:1")``, ``gk.device("cuda", 1)``, ``gk.device("cpu")``,
    ``gk.device(other_device)`` (PyTorch's ``torch.device``).

    - As ``torch.device``: ``.type`` (``"cpu"`` or ``"cuda"``) and ``.index`` (None for ``"cpu"`` and for
      ``"cuda"`` with no index; ``x.device`` always has one on a GPU: ``"cuda:0"``). ``str(d)`` is the name;
      ``repr(d)`` is ``device(type='cuda', index=0)``. An unknown name raises ``DeviceError`` here; a GPU
      device is checked only when used, so ``gk.device("cuda")`` works on a machine without one.
    - As a name: a ``str`` equal to its canonical name (``gk.device("cuda:0") == "cuda:0"``, same hash);
      ``gk.device("cuda") != "cuda:0"``, as in PyTorch. It is saved as that string by ``gk.save`` and JSON.
    - As a block: ``with gk.device("cuda"): ...`` sends new tensors to the device (its index 0 when it has
      none) inside the block, on this thread; the block is entered with the resolved device
      (``gk.device("cuda:0")``). Blocks nest, and the same object can be entered again.
    """

    __slots__ = ()

    def __new__(cls, type: Any, index: Any = None) -> device:  # ``type``: torch.device(type=..., index=...)
        if index is None and builtins_type(type) is cls:
            return type
        return str.__new__(cls, canonical(type, index, "device"))

    @property
    def type(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
        return str(self).partition(":")[0]

    @property
    def index(self) -> int | None:  # shadows str.index, as torch.device's attribute must
        """The GPU's number, or None (the CPU, or ``"cuda"`` given without one)."""
        number = str(self).partition(":")[2]
        return int(number) if number else None

    def __repr__(self) -> str:
        kind, _, number = str(self).partition(":")
        return f"device(type={kind!r}, index={number})" if number else f"device(type={kind!r})"

    def __reduce__(self) -> tuple:
        return (device, (str(self),))

    def __copy__(self) -> device:
        return self

    def __deepcopy__(self, memo: dict) -> device:
        return self

    # ------------------------------------------------------------ the default-device block
    def __enter__(self) -> device:
        from gradkit.backends import _local, get_backend

        backend = get_backend(self, "device")  # a missing GPU raises BackendError here
        _local.stack.append(backend.device)
        return backend.device_object

    def __exit__(self, *exc: Any) -> None:
        from gradkit.backends import _local

        _local.stack.pop()


builtins_type = type  # ``type`` is the constructor's argument name there (torch.device(type=...))


def device_object(name: str) -> Any:
    """``name`` (a backend's device name) as a :class:`device`; the name itself when it is not one (a test's
    stand-in backend)."""
    try:
        return device(name)
    except DeviceError:
        return name


def cuda_device(value: Any, op: str) -> str:
    """The GPU that ``x.cuda(value)`` / ``module.cuda(value)`` means: None is ``"cuda:0"``, an int ``N``
    ``"cuda:N"``, else a GPU's name or ``gk.device``; the CPU raises ``DeviceError``."""
    if value is None:
        return "cuda:0"
    if not isinstance(value, (str, Backend)):  # an index: an int (as before gk.device), checked as one
        from gradkit._args import whole

        return f"cuda:{whole(value, op, 'index', low=0)}"
    name = canonical(value, None, op)
    if name == "cpu":
        raise DeviceError(f"{op}: expected a GPU device (an index, 'cuda' or 'cuda:N'), got {value!r}")
    return "cuda:0" if name == "cuda" else name


def cuda_backend(value: Any, op: str) -> Backend:
    """The backend of the GPU that ``value`` means (as :func:`cuda_device`), made here so that a missing CuPy,
    GPU or GPU index is reported under ``op`` (``"cuda: ..."``), not under the ``to`` it is then passed to."""
    from gradkit.backends import get_backend

    return get_backend(cuda_device(value, op), op)
