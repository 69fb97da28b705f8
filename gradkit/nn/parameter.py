"""``Parameter``: a leaf Tensor that a Module registers as one of its weights."""

from __future__ import annotations

from typing import Any

from gradkit.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and that ``Module`` registers on assignment.

    ``Parameter(t)`` shares ``t``'s array (no copy); arrays, lists and numbers
    are converted as ``gk.tensor`` does. Operations on a Parameter give plain
    Tensors.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            from gradkit.creation import empty

            data = empty(0)
        if isinstance(data, Tensor):
            array, backend = data._data, data._backend
        else:
            from gradkit.creation import _to_array

            array, backend = _to_array(data, None, None, "Parameter")
        self._data = array
        self._backend = backend
        self._requires_grad = False
        self._grad_fn = None
        self._grad = None
        self._version = data._version if isinstance(data, Tensor) and data._grad_fn is None else [0]
        self._hooks = None
        if requires_grad is not False:
            self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

