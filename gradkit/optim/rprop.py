"""Rprop: resilient backpropagation, a per-element step size driven by the gradient's sign (PyTorch's rule)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.errors import InvalidArgumentError
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class Rprop(Optimizer):
    """``torch.optim.Rprop``'s update.

    With ``g = grad`` (negated with ``maximize``) and ``s = g * prev`` elementwise::

        factor     = etaplus where s > 0, etaminus where s < 0, 1 elsewhere (s == 0 or NaN)
        step_size  = clip(step_size * factor, step_sizes[0], step_sizes[1])
        g          = 0 where factor == etaminus (the sign flipped: no move, and no memory of it)
        p         -= sign(g) * step_size     (sign(NaN) = 0: a NaN in g does not move p)
        prev       = g

    As PyTorch's, whose ``sign`` gives 0 for NaN: a NaN or infinite ``g`` (``inf * 0`` is NaN) leaves its
    step size as it was, and a NaN one leaves its parameter too (and goes into ``prev``).

    State: ``step``, ``prev`` (zeros at first) and ``step_size`` (filled with the group's ``lr`` when
    the parameter's state is made, as PyTorch's; a later change of ``lr`` does not reach it). There is
    no weight decay. The update does not depend on the step count, so a step can be captured by
    ``gk.cuda.capture`` (the count then counts only the steps run outside the graph, as RMSprop's):
    ``capturable`` (PyTorch's) is checked and has no effect. ``foreach`` and ``differentiable`` as
    PyTorch's (see ``Optimizer``).
    """

    _state_keys = ("step", "prev", "step_size")
    _optional_group_keys = ("maximize",)  # absent from older PyTorch state dicts

    def __init__(self, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        flag(capturable, "Rprop", "capturable")  # a step captures as it is (see above): no effect
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "maximize": maximize}
        super().__init__(params, defaults, foreach=foreach, differentiable=differentiable)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        etas, sizes = _pair(group, "etas", "(etaminus, etaplus)"), _pair(group, "step_sizes", "(min, max)")
        self._check("etas[0]", etas[0], 0, 1, low_open=True, high_open=True)
        self._check("etas[1]", etas[1], 1, low_open=True)
        self._check("step_sizes[0]", sizes[0], 0)
        self._check("step_sizes[1]", sizes[1], sizes[0])
        group["maximize"] = flag(group["maximize"], "Rprop", "maximize")

    def _new_state(self, p: Tensor, lr: float) -> dict:
        xp = p._backend.xp
        return {"step": 0, "prev": self._zeros(p), "step_size": Tensor._make(xp.full_like(p._data, lr), p._backend)}

    def _update_group(self, group: dict) -> None:
        lr = float(group["lr"])
        etaminus, etaplus = (float(v) for v in group["etas"])
        low, high = (float(v) for v in group["step_sizes"])
        maximize = flag(group["maximize"], "Rprop.step", "maximize")
        constants: dict = {}  # the 0-d arrays the products take, per backend and dtype
        for p, grad, st in self._with_grads(group, lambda q: self._new_state(q, lr)):
            st["step"] += 1
            xp, param = p._backend.xp, p._data
            prev, step_size = st["prev"]._data, st["step_size"]._data
            factor = self._scratch(p)
            up, down = _bool_views(xp, self._scratch(p, 1), 2)
            key = (id(p._backend), param.dtype)
            if key not in constants:  # made on the device (a fill): no host data in a captured step
                with np.errstate(over="ignore"):  # an etaplus past the dtype's range: inf (PyTorch's float16 too)
                    finite = bool(np.isfinite(np.asarray(etaplus, dtype=param.dtype)))
                    constants[key] = [*(xp.full((), v, dtype=param.dtype) for v in (etaplus, etaminus)), finite]
            plus, minus, finite = constants[key]
            bits = np.dtype(f"i{param.dtype.itemsize}")  # the signed integers of the parameter's size
            # Without masked copies (NumPy's copyto(where=) on a mask without pattern is a branch per element,
            # most of a step's time), each result exact, NaN and inf as PyTorch's, whose sign(NaN) is 0:
            xp.multiply(grad, prev, out=factor)
            if maximize:
                xp.negative(factor, out=factor)  # (-g) * prev, exactly
            xp.greater(factor, 0, out=up)
            xp.less(factor, 0, out=down)
            # factor = etaplus where g * prev > 0, etaminus where < 0, else 1 (0, or NaN from a NaN or infinite
            # g): one term of three is not 0, so the sums are exact; prev, read above, is the second temporary
            if finite:
                # the dtype named: a 0-d operand must not decide it (as one might under value-based casting)
                xp.multiply(up, plus, out=factor, dtype=param.dtype)
                xp.multiply(down, minus, out=prev, dtype=param.dtype)
                factor += prev
                xp.logical_or(up, down, out=up)
                xp.logical_not(up, out=up)
                factor += up
            else:  # an infinite etaplus: inf * 0 would be NaN, so masked copies (0-d arrays, as CuPy's need)
                factor.fill(1)
                xp.copyto(factor, plus, where=up)
                xp.copyto(factor, minus, where=down)
            step_size *= factor
            xp.clip(step_size, low, high, out=step_size)
            # prev = g, 0 where the sign flipped (factor == etaminus: down): the bits of g and'ed with all ones or
            # none, so an infinite or NaN g is kept as it is (g * 0 would be NaN)
            keep = factor.view(bits)
            xp.subtract(down.view(xp.int8), 1, out=keep)  # -1 (all bits set) where kept, 0 where dropped
            if maximize:
                xp.negative(grad, out=prev)
                xp.bitwise_and(prev.view(bits), keep, out=prev.view(bits))
            else:
                xp.bitwise_and(grad.view(bits), keep, out=prev.view(bits))
            # p -= sign(prev) * step_size, sign(NaN) = 0 (a NaN g does not move p): (prev > 0) - (prev < 0)
            xp.greater(prev, 0, out=up)
            xp.less(prev, 0, out=down)
            sign = up.view(xp.int8)
            xp.subtract(sign, down.view(xp.int8), out=sign)
            xp.multiply(sign, step_size, out=factor, dtype=param.dtype)
            param -= factor


def _pair(group: dict, key: str, what: str) -> tuple:
    """The group's ``key``, a pair of numbers (made a tuple)."""
    value = group[key]
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidArgumentError(f"Rprop: {key} must be a pair {what}, got {value!r:.60}")
    group[key] = tuple(value)
    return group[key]


def _bool_views(xp: Any, scratch: Any, count: int) -> list:
    """``count`` boolean arrays of ``scratch``'s shape, one after another in its memory (masks that allocate
    nothing; ``scratch`` is a contiguous view of the optimiser's scratch buffer, of a float dtype of two bytes
    or more, so that two fit)."""
    flat, n = scratch.reshape(-1).view(xp.bool_), scratch.size
    return [flat[i * n: (i + 1) * n].reshape(scratch.shape) for i in range(count)]
