"""``gk.autograd.graph``: PyTorch's hooks on the tensors saved for backward (``torch.autograd.graph``).

``saved_tensors_hooks(pack_hook, unpack_hook)``: while the ``with`` block is active on a thread, each operation
recorded there passes every Tensor it saves for backward through ``pack_hook`` and keeps what that returns; the
backward pass calls ``unpack_hook`` on it and gives the rule the Tensor returned (same shape and dtype as the one
saved). ``save_on_cpu(pin_memory=False, device_type="cuda")`` is such a pair that keeps the saved tensors of GPU
operations in host memory and copies them back for backward (on the CPU it keeps them as they are).
``disable_saved_tensors_hooks(error_message)`` makes ``saved_tensors_hooks`` raise ``AutogradError`` with that
message inside its block.

What gradkit passes through the hooks: the Tensors that its operations save (inputs, and intermediate values
saved as Tensors). Not passed: values saved as raw backend arrays (masks and the like, which PyTorch would save
as tensors), an operation's own output when its rule reads it (PyTorch packs it too), and what a custom
``gk.autograd.Function`` saves with ``ctx.save_for_backward``. A saved tensor changed in place before backward is
still detected, from the version it had when saved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gradkit.errors import ArgumentTypeError, AutogradError, describe

__all__ = ["disable_saved_tensors_hooks", "save_on_cpu", "saved_tensors_hooks"]

_local = threading.local()
_lock = threading.Lock()
_active = 0  # threads inside a saved_tensors_hooks block, over all threads (the observer is installed meanwhile)


def _stack() -> list:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class _Packed:
    """What ``pack_hook`` returned for one saved Tensor, and the ``unpack_hook`` that gives the Tensor back."""

    __slots__ = ("origin", "unpack", "value")

    def __init__(self, value: Any, unpack: Callable[[Any], Any], origin: Any) -> None:
        self.value = value
        self.unpack = unpack
        self.origin = origin  # the saved tensor's place in the graph (its node, or itself, a leaf), or None


def _identity(grad: Any) -> Any:
    return grad


def _unpacked(saved: tuple) -> list:
    from gradkit.autograd import function, grad_mode
    from gradkit.tensor import Tensor

    out = []
    for s in saved:
        if type(s) is _Packed:
            t = s.unpack(s.value)
            if not isinstance(t, Tensor):
                raise AutogradError(f"saved_tensors_hooks: unpack_hook must return a Tensor, got {describe(t)}")
            origin = s.origin
            if origin is not None and grad_mode.state.enabled and t is not origin and t._grad_fn is not origin:
                # a recorded backward (create_graph): as PyTorch, the unpacked tensor stands where the saved one
                # was in the graph, whatever the hooks did to it (a detached copy, a host copy brought back)
                if isinstance(origin, Tensor):  # a leaf: reached through a node of its own
                    t = function.record("unpack_saved", t._data, t._backend, (origin,), (_identity,))
                else:
                    t = Tensor._make(t._data, t._backend, origin)
            s = t
        out.append(s)
    return out


class _UnpackingRules:
    """A node's rules, each called with the saved values unpacked."""

    __slots__ = ("rules",)

    def __init__(self, rules: Any) -> None:
        self.rules = rules

    def __getitem__(self, i: int) -> Callable[..., Any]:
        rule = self.rules[i]

        def run(grad: Any, *saved: Any) -> Any:
            return rule(grad, *_unpacked(saved))

        return run

    def __len__(self) -> int:
        return len(self.rules)


def _observe(node: Any, out: Any) -> None:
    """The observer: packs the saved Tensors of each node recorded inside a ``saved_tensors_hooks`` block."""
    from gradkit.tensor import Tensor

    stack = getattr(_local, "stack", None)
    if not stack or stack[-1] is None:
        return
    saved = node.saved
    if not saved or not any(isinstance(s, Tensor) for s in saved):
        return
    pack, unpack = stack[-1]
    packed = []
    for s in saved:
        if isinstance(s, Tensor):
            s = _Packed(pack(s), unpack, (s._grad_fn or s) if s._requires_grad else None)
        packed.append(s)
    node.saved = tuple(packed)
    node.rules = _UnpackingRules(node.rules)


def _enter(entry: Any) -> None:
    global _active
    from gradkit.autograd import function

    _stack().append(entry)
    with _lock:
        _active += 1
        if _active == 1:
            function.add_observer(_observe)


def _exit() -> None:
    global _active
    from gradkit.autograd import function

    _stack().pop()
    with _lock:
        _active -= 1
        if _active == 0:
            function.remove_observer(_observe)


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name (a context manager)
    """``with saved_tensors_hooks(pack_hook, unpack_hook):`` (PyTorch's): operations recorded inside keep
    ``pack_hook(tensor)`` for each Tensor they save, and backward gets ``unpack_hook(packed)`` back. Blocks nest
    (the innermost pair applies) and are per thread."""

    def __init__(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        for name, fn in (("pack_hook", pack_hook), ("unpack_hook", unpack_hook)):
            if not callable(fn):
                raise ArgumentTypeError(f"saved_tensors_hooks: {name} must be callable, got {describe(fn)}")
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        disabled = getattr(_local, "disabled", None)
        if disabled:
            raise AutogradError(disabled[-1])
        _enter((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        _exit()


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 - PyTorch's name
    """``with save_on_cpu(pin_memory=False, device_type="cuda"):`` (PyTorch's): the tensors that GPU operations
    save for backward are kept in host memory and copied back to their device when backward needs them (less
    GPU memory, a copy each way). On the CPU they are kept as they are. ``pin_memory`` is accepted (gradkit's
    host copies are ordinary memory)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        from gradkit._args import flag, text

        flag(pin_memory, "save_on_cpu", "pin_memory")
        text(device_type, "save_on_cpu", "device_type")

        def pack(tensor: Any) -> Any:
            if tensor._backend.name == "numpy":
                return (None, tensor)
            return (tensor.device, tensor.detach().cpu())

        def unpack(packed: Any) -> Any:
            device, tensor = packed
            return tensor if device is None else tensor.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801 - PyTorch's name (a context manager)
    """``with disable_saved_tensors_hooks(error_message):``: entering ``saved_tensors_hooks`` inside raises
    ``AutogradError(error_message)``; blocks already active are set aside for its duration."""

    def __init__(self, error_message: str) -> None:
        self.error_message = str(error_message)

    def __enter__(self) -> disable_saved_tensors_hooks:
        disabled = getattr(_local, "disabled", None)
        if disabled is None:
            disabled = _local.disabled = []
        disabled.append(self.error_message)
        _stack().append(None)  # the active hooks, if any, stop applying
        return self

    def __exit__(self, *exc: object) -> None:
        _local.disabled.pop()
        _stack().pop()
