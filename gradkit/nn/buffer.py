"""``Buffer``: a tensor that a Module registers as one of its buffers when assigned (PyTorch 2.5's ``nn.Buffer``)."""

from __future__ import annotations

from typing import Any

from gradkit._args import flag
from gradkit.tensor import Tensor


class Buffer(Tensor):
    """A tensor that ``Module`` registers as a buffer on assignment: ``module.x = nn.Buffer(t)`` is
    ``module.register_buffer("x", t, persistent=...)`` (PyTorch 2.5's ``torch.nn.Buffer``).

    ``Buffer(t)`` shares ``t``'s memory and version counter, outside the graph (as ``t.detach()``), keeping its
    ``requires_grad``; arrays, lists and numbers are converted as ``gk.tensor`` does; ``Buffer()`` holds an
    empty float tensor. ``persistent`` (keyword only) says whether the module's ``state_dict`` holds it; it is
    read when the buffer is assigned (assigning a plain Tensor to a buffer's name keeps its persistence). The
    registered object is this Buffer (``isinstance(module.x, nn.Buffer)`` holds, as in PyTorch); operations on
    it give plain Tensors.
    """

    __slots__ = ()
    persistent: bool = True

    def __init__(self, data: Any = None, *, persistent: bool = True) -> None:
        persistent = flag(persistent, "Buffer", "persistent")
        if data is None:
            from gradkit.creation import empty

            data = empty(0)
        if isinstance(data, Tensor):
            self._data, self._backend, self._version = data._data, data._backend, data._version
            requires_grad = data._requires_grad
        else:
            from gradkit.creation import _to_array

            self._data, self._backend = _to_array(data, None, None, "Buffer")
            self._version = [0]
            requires_grad = False
        self._requires_grad = False
        self._grad_fn = None
        self._grad = None
        self._hooks = None
        if requires_grad:  # a leaf, as detach().requires_grad_(t.requires_grad) makes it
            self.requires_grad_(True)
        self.persistent = persistent
