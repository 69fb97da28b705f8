"""``gk.autograd.forward_ad``: PyTorch's dual-number API (``torch.autograd.forward_ad``), on reverse mode.

    import gradkit.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        x = fwAD.make_dual(primal, tangent)
        y = f(x)
        jvp = fwAD.unpack_dual(y).tangent

gradkit has no forward-mode engine, so a dual tensor is an ordinary tensor in the graph, registered with its
tangent in the current level, and ``unpack_dual(y).tangent`` computes the Jacobian-vector product of ``y`` with
respect to the level's dual tensors from two reverse passes (the double-VJP trick that ``gk.func.jvp`` uses):
``g(u) = J^T u`` with ``u`` a zero cotangent that requires grad, then ``J t`` as the gradient of ``<g(u), t>``
in ``u``. Both passes are recorded, so a tangent is differentiable again (a PINN's forward-mode ``u_x`` in a
loss, backpropagated to the parameters). Every operation with a twice-differentiable backward works; the cost is
two backward passes per ``unpack_dual`` of a computed tensor (none for a dual tensor itself).

Differences from PyTorch: the dual tensor of a tensor that does not require grad requires grad (it is the
leaf the reverse passes differentiate with respect to), and it shares the primal's memory and version counter;
only one level is active at a time (PyTorch's nesting of levels is not supported: ``enter_dual_level`` inside
another raises ``AutogradError``); ``UnpackedDualTensor.primal`` is ``y`` itself.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import Any

from gradkit.errors import ArgumentTypeError, AutogradError, DTypeError, ShapeError, describe

__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual"]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


class _Level:
    def __init__(self, index: int) -> None:
        self.index = index
        self.duals: list[tuple[Any, Any]] = []  # (dual tensor, tangent)


_state = threading.local()


def _current() -> _Level | None:
    return getattr(_state, "level", None)


def enter_dual_level() -> int:
    """Start a dual level (PyTorch's ``enter_dual_level``); returns its index (0). One level at a time."""
    if _current() is not None:
        raise AutogradError("forward_ad.enter_dual_level: a dual level is already active; gradkit supports one "
                            "level at a time (nest the computation in the existing level)")
    _state.level = _Level(0)
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """End the current dual level: its tensors lose their tangents (``unpack_dual`` then gives None)."""
    current = _current()
    if current is None:
        raise AutogradError("forward_ad.exit_dual_level: no dual level is active")
    if level is not None and level != current.index:
        raise AutogradError(f"forward_ad.exit_dual_level: level {level} is not the current one ({current.index})")
    _state.level = None


class dual_level:  # noqa: N801 - PyTorch's name (a context manager)
    """``with fwAD.dual_level():``: tangents made by ``make_dual`` inside the block exist until it ends."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def _level(level: int | None, op: str) -> _Level:
    current = _current()
    if current is None:
        raise AutogradError(f"forward_ad.{op}: no dual level is active; call it inside `with fwAD.dual_level():`")
    if level is not None and level != current.index:
        raise AutogradError(f"forward_ad.{op}: level {level} is not the current one ({current.index})")
    return current


def make_dual(tensor: Any, tangent: Any, *, level: int | None = None) -> Any:
    """A tensor with ``tensor``'s values that carries ``tangent`` (same shape; a floating dtype) in the current
    level. Operations on it carry the tangent along; read it back with :func:`unpack_dual`."""
    from gradkit.autograd import grad_mode
    from gradkit.ops.shape import alias
    from gradkit.tensor import Tensor

    op = "make_dual"
    lvl = _level(level, op)
    if not grad_mode.state.enabled:
        # the tangents are read from the recorded graph, which no_grad does not record: PyTorch's forward mode
        # would carry them, so a silent None tangent would be wrong
        raise AutogradError(f"forward_ad.{op}: gradkit's forward mode runs on the recorded graph, which is not "
                            "recorded under no_grad/inference_mode; make the dual tensors and compute with them "
                            "outside it")
    for name, value in (("tensor", tensor), ("tangent", tangent)):
        if not isinstance(value, Tensor):
            raise ArgumentTypeError(f"forward_ad.{op}: {name} must be a Tensor, got {describe(value)}")
    if tensor.dtype.kind != "f" or tangent.dtype.kind != "f":
        raise DTypeError(f"forward_ad.{op}: expected floating tensors, got {tensor.dtype} and tangent {tangent.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise ShapeError(f"forward_ad.{op}: the tangent's shape {tuple(tangent.shape)} differs from the tensor's "
                         f"{tuple(tensor.shape)}")
    if tensor.requires_grad:
        dual = alias(tensor, "make_dual")  # a node of its own in tensor's graph: differentiated with respect to
    else:
        dual = tensor.detach().requires_grad_(True)
    lvl.duals.append((dual, tangent.to(tensor.dtype).detach() if not tangent.requires_grad else tangent))
    return dual


def unpack_dual(tensor: Any, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``: its Jacobian-vector product with the current level's tangents (None
    when it does not depend on a dual tensor, or outside a level)."""
    from gradkit.autograd import api
    from gradkit.autograd.grad_mode import enable_grad
    from gradkit.creation import zeros_like
    from gradkit.tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"forward_ad.unpack_dual: expected a Tensor, got {describe(tensor)}")
    current = _current()
    if current is None or (level is not None and level != current.index):
        return UnpackedDualTensor(tensor, None)
    for dual, tangent in current.duals:
        if dual is tensor:
            return UnpackedDualTensor(tensor, tangent)
    if not tensor.requires_grad or tensor.dtype.kind != "f" or not current.duals:
        return UnpackedDualTensor(tensor, None)
    duals = [d for d, _ in current.duals]
    with enable_grad():
        u = zeros_like(tensor).requires_grad_(True)
        vjps = api.grad(tensor, duals, grad_outputs=u, create_graph=True, allow_unused=True)
        used = [(g, t) for g, (_, t) in zip(vjps, current.duals, strict=True) if g is not None]
        if not used:
            return UnpackedDualTensor(tensor, None)
        (jvp,) = api.grad([g for g, _ in used], [u], grad_outputs=[t for _, t in used], create_graph=True,
                          allow_unused=True, materialize_grads=True)
    return UnpackedDualTensor(tensor, jvp)
