"""Rprop: resilient backpropagation, a per-element step size driven by the gradient's sign (PyTorch's rule)."""

from __future__ import annotations

from typing import Any

from gradkit._args import flag
from gradkit.errors import InvalidArgumentError
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor


class Rprop(Optimizer):
    """``torch.optim.Rprop``'s update.

    With ``g = grad`` (negated with ``maximize``) and ``s = sign(g * prev)`` elementwise::

        factor     = etaplus where s > 0, etaminus where s < 0, 1 where s == 0
        step_size  = clip(step_size * factor, step_sizes[0], step_sizes[1])
        g          = 0 where factor == etaminus (the sign flipped: no move, and no memory of it)
        p         -= sign(g) * step_size
        prev       = g

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
        constants: dict = {}  # the 0-d arrays copyto takes, per backend and dtype
        for p, grad, st in self._with_grads(group, lambda q: self._new_state(q, lr)):
            st["step"] += 1
            xp, param = p._backend.xp, p._data
            prev, step_size = st["prev"]._data, st["step_size"]._data
            factor, mask = self._scratch(p), _bool_view(xp, self._scratch(p, 1))
            key = (id(p._backend), param.dtype)
            if key not in constants:  # made on the device (a fill): no host data in a captured step
                constants[key] = [xp.full((), v, dtype=param.dtype) for v in (etaplus, etaminus, 1.0, 0.0)]
            plus, minus, one, zero = constants[key]
            xp.multiply(grad, prev, out=factor)
            if maximize:
                xp.negative(factor, out=factor)  # (-g) * prev, exactly
            xp.sign(factor, out=factor)  # NaN stays NaN, and so does its step size, as PyTorch's
            for test, value in ((xp.greater, plus), (xp.less, minus), (xp.equal, one)):
                test(factor, 0, out=mask)
                # a 0-d array: CuPy's copyto asks NumPy 2's can_cast about a Python float
                xp.copyto(factor, value, where=mask)
            step_size *= factor
            xp.clip(step_size, low, high, out=step_size)
            xp.equal(factor, minus, out=mask)  # etaminus in the parameter's dtype, as PyTorch compares
            if maximize:
                xp.negative(grad, out=prev)
            else:
                xp.copyto(prev, grad)
            xp.copyto(prev, zero, where=mask)  # a copy, not g * 0: an infinite g gives 0
            xp.sign(prev, out=factor)
            factor *= step_size
            param -= factor


def _pair(group: dict, key: str, what: str) -> tuple:
    """The group's ``key``, a pair of numbers (made a tuple)."""
    value = group[key]
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidArgumentError(f"Rprop: {key} must be a pair {what}, got {value!r:.60}")
    group[key] = tuple(value)
    return group[key]


def _bool_view(xp: Any, scratch: Any) -> Any:
    """A boolean array of ``scratch``'s shape in the first bytes of its memory (a mask that allocates nothing;
    ``scratch`` is a contiguous view of the optimiser's scratch buffer)."""
    return scratch.reshape(-1).view(xp.bool_)[: scratch.size].reshape(scratch.shape)
