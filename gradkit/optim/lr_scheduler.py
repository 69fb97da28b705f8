"""Learning-rate schedules with PyTorch's recursive forms (and closed forms for ``step(epoch)``).

``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LinearLR``, ``CosineAnnealingLR`` and ``LambdaLR``
set each group's ``lr`` when they are made (epoch 0) and on every ``step()``; call ``step()`` once
per epoch, after ``optimizer.step()``. Their base learning rates are the groups' ``initial_lr``,
which the first scheduler made on an optimiser records (as PyTorch). ``ReduceLROnPlateau`` instead
lowers the current ``lr`` when ``step(metric)`` sees no improvement; it neither reads nor sets
``initial_lr``.

PyTorch 2.x's others: ``ConstantLR``, ``PolynomialLR``, ``MultiplicativeLR`` and
``CosineAnnealingWarmRestarts`` (per epoch, or per batch with a fractional ``step(epoch)``),
``CyclicLR`` and ``OneCycleLR`` (per batch; they also cycle the momentum), and ``SequentialLR`` and
``ChainedScheduler``, which drive other schedulers.
"""

from __future__ import annotations

import math
import sys
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

from gradkit._args import flag, real, scalar, text, whole
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, describe
from gradkit.optim.optimizer import Optimizer

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

#: Keys of a PyTorch scheduler's state dict that only matter inside its own step(); not loaded.
_TRANSIENT_KEYS = ("_is_initial", "_get_lr_called_within_step")


class LRScheduler:
    """Base class: ``base_lrs`` from each group's ``initial_lr``; ``step()`` applies ``get_lr()``.

    ``_is_initial`` is True only during the step the constructor makes (PyTorch's flag): a
    scheduler resumed with ``last_epoch >= 0`` then leaves the groups' lrs as they are.
    """

    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, type(self).__name__)
        last_epoch = whole(last_epoch, type(self).__name__, "last_epoch", low=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise InvalidArgumentError(
                        f"{type(self).__name__}: last_epoch={last_epoch} but parameter group {i} has no 'initial_lr' "
                        "(resume from a scheduler's state dict, or pass last_epoch=-1)"
                    )
        self.base_lrs = [
            real(group["initial_lr"], type(self).__name__, f"parameter group {i}'s 'initial_lr'", low=0.0)
            for i, group in enumerate(optimizer.param_groups)
        ]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The constructor's step (also SequentialLR's, for the scheduler it starts with)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            del self._is_initial  # back to the class's False; not part of the state dict

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch; ``step(epoch)`` (deprecated in PyTorch) jumps to ``epoch`` by the closed form."""
        self._step_count += 1
        try:
            self._update_lr(epoch)
        except Exception:
            self._step_count -= 1
            raise

    def _update_lr(self, epoch: int | None = None) -> None:
        """Move to the next epoch (or to ``epoch``, by the closed form) and set the groups' lrs; on an
        error the scheduler stays where it was."""
        last = self.last_epoch
        try:
            if epoch is None:  # last_epoch is a public attribute: check what may have been put there
                self.last_epoch = whole(last, f"{type(self).__name__}.step", "last_epoch", low=-1) + 1
                lrs = self.get_lr()
            else:
                self.last_epoch = whole(epoch, f"{type(self).__name__}.step", "epoch", low=0)
                lrs = self._get_closed_form_lr()
            self._set_lrs(lrs)  # checks the count before it sets anything
        except Exception:
            self.last_epoch = last
            raise

    def _set_lrs(self, lrs: list[float]) -> None:
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            raise self._groups_changed(f"{type(self).__name__}.step", len(lrs))
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _bases(self) -> list[float]:
        """``base_lrs``, which must still have one entry per parameter group."""
        if len(self.base_lrs) != len(self.optimizer.param_groups):
            raise self._groups_changed(f"{type(self).__name__}.step", len(self.base_lrs))
        return self.base_lrs

    def _groups_changed(self, op: str, count: int) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"{op}: the optimiser has {len(self.optimizer.param_groups)} parameter group(s), the scheduler "
            f"{count} learning rate(s) (a group added after the scheduler was made? make the scheduler again)"
        )

    def state_dict(self) -> dict:
        """Everything but the optimiser."""
        return self._plain_state()

    def _plain_state(self, *leave_out: str) -> dict:
        """The attributes but the optimiser and ``leave_out`` (which a subclass saves its own way)."""
        skip = ("optimizer", *leave_out)
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (a gradkit or a PyTorch scheduler's)."""
        name = type(self).__name__
        _check_state_dict(state_dict, f"{name}.load_state_dict")
        state_dict = {k: v for k, v in state_dict.items() if k not in _TRANSIENT_KEYS}
        self._validate({**self.__dict__, **state_dict}, f"{name}.load_state_dict")  # before anything changes
        self.__dict__.update(state_dict)  # as PyTorch (its other private keys come along harmlessly)

    def _snapshot(self) -> Callable[[], None]:
        """A function that puts this scheduler back as it is now (a composite's failed load)."""
        saved = dict(self.__dict__)

        def restore() -> None:
            self.__dict__.clear()
            self.__dict__.update(saved)

        return restore

    def _validate(self, values: Mapping, op: str) -> None:
        """Check the numbers a state dict brings (subclasses add their own)."""
        whole(values["last_epoch"], op, "last_epoch", low=-1)
        _reals(values["base_lrs"], op, "base_lrs")
        whole(values.get("_step_count", 0), op, "_step_count", low=0)
        if "_last_lr" in values:
            _reals(values["_last_lr"], op, "_last_lr")


class StepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        step_size = whole(step_size, "StepLR", "step_size", low=1)
        gamma = real(gamma, "StepLR", "gamma", low=0.0)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        factor = _power(self.gamma, self.last_epoch // self.step_size, "StepLR.step")
        return [base * factor for base in self._bases()]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["step_size"], op, "step_size", low=1)
        real(values["gamma"], op, "gamma", low=0.0)


def _cos_pi(t: float, period: int) -> float:
    """``cos(pi * t / period)`` as PyTorch computes it; where that overflows (an epoch or a period near or
    beyond the float range), from the exact ratio ``t / period`` reduced modulo 2, where the cosine repeats."""
    try:
        angle = math.pi * t / period
    except OverflowError:  # an int beyond the float range
        angle = math.inf
    if math.isinf(angle):
        angle = math.pi * float(Fraction(t) / period % 2)
    return math.cos(angle)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the base lr to ``eta_min`` over ``T_max`` epochs (PyTorch's recursive form).

    Closed form: ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        T_max = whole(T_max, "CosineAnnealingLR", "T_max", low=1)  # noqa: N806
        eta_min = real(eta_min, "CosineAnnealingLR", "eta_min", low=0.0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:  # PyTorch 2.13 (before: t == 0, which moved a resumed scheduler on one epoch)
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:
            return [eta_min + (base - eta_min) * (1 + _cos_pi(t, T)) / 2 for base in self._bases()]
        if (t - 1 - T) % (2 * T) == 0:
            return [
                group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base, group in zip(self._bases(), groups, strict=True)
            ]
        return [
            (1 + _cos_pi(t, T)) / (1 + _cos_pi(t - 1, T)) * (group["lr"] - eta_min) + eta_min
            for group in groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            self.eta_min + (base - self.eta_min) * (1 + _cos_pi(self.last_epoch, self.T_max)) / 2
            for base in self._bases()
        ]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["T_max"], op, "T_max", low=1)
        real(values["eta_min"], op, "eta_min", low=0.0)


# ------------------------------------------------------------------ helpers
def _check_optimizer(optimizer: Any, name: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{name}: expected an optimiser, got {type(optimizer).__name__}")


def _check_state_dict(state_dict: Any, op: str) -> None:
    """A scheduler's state dict: a dict without an 'optimizer' (it would replace the optimiser it drives)."""
    if not isinstance(state_dict, Mapping):
        raise ArgumentTypeError(f"{op}: expected a dict, got {type(state_dict).__name__}")
    if "optimizer" in state_dict:
        raise InvalidArgumentError(f"{op}: the state dict may not hold an 'optimizer'")


def _reals(values: Any, op: str, name: str) -> list[float]:
    """A list or tuple of numbers >= 0 (learning rates), as floats."""
    if not isinstance(values, (list, tuple)):
        raise ArgumentTypeError(f"{op}: {name} must be a list of numbers, got {describe(values)}")
    return [real(v, op, f"{name}[{i}]", low=0.0) for i, v in enumerate(values)]


def _at_most(value: float, high: float, op: str, name: str, high_open: bool = False) -> float:
    """``value`` (already a float), which must be ``<= high`` (``< high`` with ``high_open``)."""
    if value > high or (high_open and value == high):
        raise InvalidArgumentError(f"{op}: {name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def _power(gamma: float, n: int, op: str) -> float:
    """``gamma ** n`` for a closed form; an overflow (gamma > 1, a huge epoch) is an error, not a crash."""
    try:
        return gamma**n
    except OverflowError:
        raise InvalidArgumentError(f"{op}: gamma ** {n} (gamma={gamma!r}) overflows a float") from None


def _choice(value: Any, op: str, name: str, allowed: tuple[str, ...]) -> str:
    value = text(value, op, name)
    if value not in allowed:
        raise InvalidArgumentError(f"{op}: {name} must be {' or '.join(map(repr, allowed))}, got {value!r}")
    return value


# ------------------------------------------------------------------ more schedules
def _milestones(milestones: Any, op: str) -> Counter:
    """Milestones as PyTorch keeps them: a Counter of epochs (an epoch listed twice decays twice)."""
    if isinstance(milestones, Mapping):  # a state dict's Counter (or the dict a checkpoint made of it)
        return Counter(
            {whole(k, op, "milestones", low=0): whole(v, op, f"milestones[{k!r}] (a count)", low=1)
             for k, v in milestones.items()}
        )  # fmt: skip
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
        raise ArgumentTypeError(f"{op}: milestones must be a list of epochs, got {describe(milestones)}")
    return Counter(whole(m, op, f"milestones[{i}]", low=0) for i, m in enumerate(milestones))


class MultiStepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` at each epoch in ``milestones`` (twice if listed twice).

    Closed form: ``base_lr * gamma ** (number of milestones <= epoch)``.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(milestones, Mapping):
            raise ArgumentTypeError(f"MultiStepLR: milestones must be a list of epochs, got {describe(milestones)}")
        self.milestones = _milestones(milestones, "MultiStepLR")
        self.gamma = real(gamma, "MultiStepLR", "gamma", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch not in self.milestones:
            return [group["lr"] for group in groups]
        factor = _power(self.gamma, self.milestones[self.last_epoch], "MultiStepLR.step")
        return [group["lr"] * factor for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        factor = _power(self.gamma, passed, "MultiStepLR.step")
        return [base * factor for base in self._bases()]

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned; ``milestones`` may come back as a plain dict (a checkpoint)."""
        super().load_state_dict(state_dict)
        self.milestones = _milestones(self.milestones, "MultiStepLR.load_state_dict")

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        if not isinstance(values["milestones"], Mapping):
            raise ArgumentTypeError(
                f"{op}: milestones must be a Counter of epochs, got {describe(values['milestones'])}"
            )
        _milestones(values["milestones"], op)
        real(values["gamma"], op, "gamma", low=0.0)


class ExponentialLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every epoch. Closed form: ``base_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = real(gamma, "ExponentialLR", "gamma", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        factor = _power(self.gamma, self.last_epoch, "ExponentialLR.step")
        return [base * factor for base in self._bases()]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        real(values["gamma"], op, "gamma", low=0.0)


class LinearLR(LRScheduler):
    """Scale each group's lr by a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then keep it (a warm-up with the defaults).

    Closed form: ``base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor, self.end_factor, self.total_iters = _linear_args(
            start_factor, end_factor, total_iters, "LinearLR"
        )
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [group["lr"] * start for group in groups]
        if self._is_initial or t > self.total_iters:
            return [group["lr"] for group in groups]
        factor = 1.0 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [group["lr"] * factor for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        start, end, total = self.start_factor, self.end_factor, self.total_iters
        return [base * (start + (end - start) * min(total, self.last_epoch) / total) for base in self._bases()]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        _linear_args(values["start_factor"], values["end_factor"], values["total_iters"], op)


def _linear_args(start_factor: Any, end_factor: Any, total_iters: Any, op: str) -> tuple[float, float, int]:
    start = _at_most(real(start_factor, op, "start_factor", low=0.0, low_open=True), 1.0, op, "start_factor")
    end = _at_most(real(end_factor, op, "end_factor", low=0.0), 1.0, op, "end_factor")
    return start, end, _float_range(whole(total_iters, op, "total_iters", low=1), op, "total_iters")


def _saved_function_state(fn: Callable) -> dict | None:
    """What a LambdaLR state dict keeps of one function: None for a function, lambda, method or builtin
    (code is not state; PyTorch drops them too), a copy of the attributes of a callable object."""
    if isinstance(fn, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return None
    attributes = getattr(fn, "__dict__", None)
    return dict(attributes) if isinstance(attributes, dict) else None


def _group_functions(optimizer: Optimizer, lr_lambda: Any, name: str) -> list[Callable]:
    """One function per parameter group: ``lr_lambda`` for every group, or its list (one per group)."""
    _check_optimizer(optimizer, name)
    count = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != count:
            raise InvalidArgumentError(
                f"{name}: expected one lr_lambda per parameter group ({count}), got {len(lr_lambda)}"
            )
        functions = list(lr_lambda)
    else:
        functions = [lr_lambda] * count
    for i, fn in enumerate(functions):
        if not callable(fn):
            where = f"lr_lambda[{i}]" if isinstance(lr_lambda, (list, tuple)) else "lr_lambda"
            raise ArgumentTypeError(f"{name}: {where} must be a function of the epoch, got {describe(fn)}")
    return functions


def _check_function_state(entry: Any, fn: Callable | None, op: str, where: str) -> None:
    """``entry`` (a saved function's state) must be None or a dict that ``fn`` can take back."""
    if entry is None:
        return
    if not isinstance(entry, Mapping) or not all(isinstance(k, str) for k in entry):
        raise ArgumentTypeError(f"{op}: {where} must be None or a dict of attribute names, got {describe(entry)}")
    if entry and (fn is None or _saved_function_state(fn) is None):
        raise InvalidArgumentError(
            f"{op}: {where} holds the attributes of a callable object, but this scheduler's function is a "
            f"{type(fn).__name__}, which has no state to restore"
        )


class _LambdaBase(LRScheduler):
    """LambdaLR's and MultiplicativeLR's functions, one per group, and their state dicts."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        self.lr_lambdas = _group_functions(optimizer, lr_lambda, type(self).__name__)
        super().__init__(optimizer, last_epoch)

    def _factors(self) -> list[float]:
        """Each group's ``lr_lambda(last_epoch)``, a number >= 0."""
        name, t = type(self).__name__, self.last_epoch
        if len(self.lr_lambdas) != len(self.optimizer.param_groups):
            raise self._groups_changed(f"{name}.step", len(self.lr_lambdas))
        return [
            real(fn(t), name, f"lr_lambda({t}) for parameter group {i}", low=0.0)
            for i, fn in enumerate(self.lr_lambdas)
        ]

    def state_dict(self) -> dict:
        """Everything but the optimiser; ``lr_lambdas`` as None (functions) or attribute dicts (objects)."""
        state = self._plain_state("lr_lambdas")
        state["lr_lambdas"] = [_saved_function_state(fn) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned; this scheduler keeps its own functions."""
        op = f"{type(self).__name__}.load_state_dict"
        _check_state_dict(state_dict, op)
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas):
            raise InvalidArgumentError(
                f"{op}: lr_lambdas must be a list of {len(self.lr_lambdas)} entries (None or a dict), "
                f"got {describe(saved)}"
            )
        for i, (entry, fn) in enumerate(zip(saved, self.lr_lambdas, strict=True)):
            _check_function_state(entry, fn, op, f"lr_lambdas[{i}]")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for entry, fn in zip(saved, self.lr_lambdas, strict=True):
            if entry:
                fn.__dict__.update(entry)

    def _snapshot(self) -> Callable[[], None]:
        restore = super()._snapshot()
        objects = [(fn, dict(fn.__dict__)) for fn in self.lr_lambdas if _saved_function_state(fn) is not None]

        def undo() -> None:
            restore()
            for fn, attributes in objects:
                fn.__dict__.clear()
                fn.__dict__.update(attributes)

        return undo


class LambdaLR(_LambdaBase):
    """Set each group's lr to ``base_lr * lr_lambda(epoch)``: one function for every group, or a list
    with one per group. The factor must be a number >= 0.

    ``state_dict()`` does not hold the functions: an entry of its ``lr_lambdas`` is None for a plain
    function (or lambda, method, builtin) and a copy of ``vars(obj)`` for a callable object, which
    ``load_state_dict`` puts back into this scheduler's object (as PyTorch).
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * factor for base, factor in zip(self._bases(), self._factors(), strict=True)]


class MultiplicativeLR(_LambdaBase):
    """Multiply each group's lr by ``lr_lambda(epoch)`` at every step after the first (one function for
    every group, or one per group; the factor must be a number >= 0). ``step(epoch)`` multiplies by
    ``lr_lambda(epoch)`` once (no closed form, as PyTorch). State dicts as LambdaLR's.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        return [group["lr"] * factor for group, factor in zip(groups, self._factors(), strict=True)]


def _metric(value: Any, op: str) -> float:
    """The monitored quantity as a float: a number, or a tensor or array of one element (read with ``.item()``,
    as PyTorch's ``float(metrics)``)."""
    if getattr(value, "size", None) == 1 and hasattr(value, "reshape"):
        value = value.reshape(())
    value = scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: metrics must be a number or a one-element tensor, got {describe(value)}")
    return float(value)


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's lr by ``factor`` (not below ``min_lr``) once ``step(metric)`` has seen
    no improvement for more than ``patience`` epochs (PyTorch's rule, its state dict keys).

    An improvement is ``metric < best * (1 - threshold)`` (mode "min", threshold_mode "rel"),
    ``metric < best - threshold`` ("min", "abs"), or ``> best * (1 + threshold)`` / ``> best + threshold``
    in mode "max". After a reduction, ``cooldown`` epochs pass before bad epochs count again; a
    reduction smaller than ``eps`` is skipped. A NaN metric counts as no improvement.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        self.factor = _at_most(real(factor, name, "factor", low=0.0), 1.0, name, "factor", high_open=True)
        _check_optimizer(optimizer, name)
        self.optimizer = optimizer
        count = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != count:
                raise InvalidArgumentError(
                    f"{name}: expected one min_lr per parameter group ({count}), got {len(min_lr)}"
                )
            self.default_min_lr = None
            self.min_lrs = _reals(min_lr, name, "min_lr")
        else:
            self.default_min_lr = real(min_lr, name, "min_lr", low=0.0)
            self.min_lrs = [self.default_min_lr] * count
        self.patience = whole(patience, name, "patience", low=0)
        self.cooldown = whole(cooldown, name, "cooldown", low=0)
        self.eps = real(eps, name, "eps", low=0.0)
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode, name)
        self._reset()

    def _init_is_better(self, mode: Any, threshold: Any, threshold_mode: Any, op: str) -> None:
        self.mode = _choice(mode, op, "mode", ("min", "max"))
        self.threshold = real(threshold, op, "threshold", low=0.0)
        self.threshold_mode = _choice(threshold_mode, op, "threshold_mode", ("rel", "abs"))
        self.mode_worse = math.inf if self.mode == "min" else -math.inf

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        """Whether the epochs after a reduction are still passing."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (a number or a 0-d tensor) and reduce the lrs if it is time."""
        op = "ReduceLROnPlateau.step"
        current = _metric(metrics, op)
        if epoch is None:
            epoch = whole(self.last_epoch, op, "last_epoch", low=0) + 1
        else:
            epoch = whole(epoch, op, "epoch", low=0)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise InvalidArgumentError(
                    f"ReduceLROnPlateau.step: the optimiser has {len(groups)} parameter group(s), min_lrs "
                    f"{len(self.min_lrs)} (a group added since?); set min_lrs to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_lr(self) -> list[float]:
        raise NotImplementedError("ReduceLROnPlateau has no schedule of its own: it reacts to step(metrics)")

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (a gradkit or a PyTorch ReduceLROnPlateau's)."""
        super().load_state_dict(state_dict)
        self.mode_worse = math.inf if self.mode == "min" else -math.inf  # as PyTorch's _init_is_better

    def _validate(self, values: Mapping, op: str) -> None:
        _at_most(real(values["factor"], op, "factor", low=0.0), 1.0, op, "factor", high_open=True)
        min_lrs = _reals(values["min_lrs"], op, "min_lrs")
        default = values["default_min_lr"]
        if default is not None:
            real(default, op, "default_min_lr", low=0.0)
        elif len(min_lrs) != len(self.optimizer.param_groups):
            raise InvalidArgumentError(
                f"{op}: min_lrs has {len(min_lrs)} entries, the optimiser {len(self.optimizer.param_groups)} groups"
            )
        for key in ("patience", "cooldown", "cooldown_counter", "num_bad_epochs", "last_epoch"):
            whole(values[key], op, key, low=0)
        real(values["eps"], op, "eps", low=0.0)
        _choice(values["mode"], op, "mode", ("min", "max"))
        real(values["threshold"], op, "threshold", low=0.0)
        _choice(values["threshold_mode"], op, "threshold_mode", ("rel", "abs"))
        best = scalar(values["best"])
        if isinstance(best, (float, np.floating)) and math.isnan(best):
            raise InvalidArgumentError(f"{op}: best must be a number or +-inf, got nan")
        real(best, op, "best")
        _reals(values["_last_lr"], op, "_last_lr")


# ------------------------------------------------------------------ PyTorch 2.x's other schedules
class ConstantLR(LRScheduler):
    """Multiply each group's lr by ``factor`` until epoch ``total_iters``, then give the base lr back.

    Closed form: ``base_lr * (factor if epoch < total_iters else 1)``.
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        self.factor, self.total_iters = _constant_args(factor, total_iters, "ConstantLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in groups]
        if self.last_epoch != self.total_iters:
            return [group["lr"] for group in groups]
        return [group["lr"] * (1.0 / self.factor) for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        factor = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * factor for base in self._bases()]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        _constant_args(values["factor"], values["total_iters"], op)


def _constant_args(factor: Any, total_iters: Any, op: str) -> tuple[float, int]:
    # factor 0 would be undone by a division by zero at total_iters (PyTorch's ZeroDivisionError)
    factor = _at_most(real(factor, op, "factor", low=0.0, low_open=True), 1.0, op, "factor")
    return factor, whole(total_iters, op, "total_iters", low=1)


class PolynomialLR(LRScheduler):
    """Decay each group's lr to 0 over ``total_iters`` epochs as ``(1 - epoch / total_iters) ** power``,
    then keep it (PyTorch's recursive form).

    Closed form: ``base_lr * (1 - min(epoch, total_iters) / total_iters) ** power``.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = whole(total_iters, "PolynomialLR", "total_iters", low=1)
        self.power = real(power, "PolynomialLR", "power", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, total = self.last_epoch, self.total_iters
        if self._is_initial or t > total:
            return [group["lr"] for group in groups]
        factor = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [group["lr"] * factor for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        factor = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * factor for base in self._bases()]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["total_iters"], op, "total_iters", low=1)
        real(values["power"], op, "power", low=0.0)


def _epoch_number(epoch: Any, op: str) -> int | float:
    """A finite epoch >= 0 that may have a fraction (an int stays an int, within the float range)."""
    epoch = scalar(epoch)
    if isinstance(epoch, (int, np.integer)) and not isinstance(epoch, (bool, np.bool_)):
        return _float_range(whole(epoch, op, "epoch", low=0), op, "epoch")
    value = real(epoch, op, "epoch", low=0.0)
    if math.isinf(value):
        raise InvalidArgumentError(f"{op}: epoch must be finite, got {value!r}")
    return value


def _float_range(value: int, op: str, name: str) -> int:
    """An int count that a float can hold (the schedules compute with floats)."""
    if value > sys.float_info.max:
        raise InvalidArgumentError(
            f"{op}: {name} must be at most {sys.float_info.max:g} (a float), got an int of {value.bit_length()} bits"
        )
    return value


def _period_at(epoch: float, t_0: int, mult: int) -> tuple[float, int]:
    """``(T_cur, T_i)`` at ``epoch >= T_0`` with ``T_mult > 1``: PyTorch's float logarithm, its rounding
    included; where its floats overflow, the periods are walked in exact ints."""
    try:
        n = int(math.log(epoch / t_0 * (mult - 1) + 1, mult))  # int(inf) raises OverflowError too
        return epoch - t_0 * (mult**n - 1) / (mult - 1), t_0 * mult**n
    except OverflowError:
        pass
    start, period = 0, t_0
    while start + period <= epoch:  # at most ~1024 periods: epoch is within the float range
        start, period = start + period, period * mult
    return epoch - start, period


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing from the base lr to ``eta_min`` over ``T_i`` epochs, then a restart at the base lr;
    the first period is ``T_0`` epochs and each next one ``T_mult`` times longer (SGDR).

    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``, with ``T_cur`` the epochs
    since the last restart. ``step(epoch)`` takes a fractional epoch (``epoch + i / batches`` to step
    every batch) and works out ``T_cur`` and ``T_i`` from it, as PyTorch; ``last_epoch`` is its floor.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = self.T_i = whole(T_0, name, "T_0", low=1)
        self.T_mult = whole(T_mult, name, "T_mult", low=1)
        self.eta_min = real(eta_min, name, "eta_min", low=0.0)
        self.T_cur = whole(last_epoch, name, "last_epoch", low=-1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return self._cosine(self.T_cur, self.T_i)

    def _cosine(self, t_cur: float, t_i: int) -> list[float]:
        eta_min, cos = self.eta_min, _cos_pi(t_cur, t_i)  # T_i grows without bound with T_mult > 1
        return [eta_min + (base - eta_min) * (1 + cos) / 2 for base in self._bases()]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to ``epoch`` (a float may fall between epochs)."""
        op = "CosineAnnealingWarmRestarts.step"
        last = whole(self.last_epoch, op, "last_epoch", low=-1)
        t_cur, t_i, t_0, mult = self.T_cur, self.T_i, self.T_0, self.T_mult
        if epoch is None and last < 0:
            epoch = 0
        if epoch is None:
            epoch = last + 1
            t_cur += 1
            if t_cur >= t_i:
                t_cur, t_i = t_cur % t_i, t_i * mult
        else:
            epoch = _epoch_number(epoch, op)
            if epoch < t_0:
                t_cur, t_i = epoch, t_0
            elif mult == 1:
                t_cur = epoch % t_0
            else:
                t_cur, t_i = _period_at(epoch, t_0, mult)
        lrs = self._cosine(t_cur, t_i)
        self._set_lrs(lrs)
        self.T_cur, self.T_i, self.last_epoch = t_cur, t_i, math.floor(epoch)
        self._step_count += 1

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        for key in ("T_0", "T_i", "T_mult"):
            whole(values[key], op, key, low=1)
        real(values["eta_min"], op, "eta_min", low=0.0)
        if not math.isfinite(real(values["T_cur"], op, "T_cur", low=-1.0)):
            raise InvalidArgumentError(f"{op}: T_cur must be finite, got {values['T_cur']!r}")


# ------------------------------------------------------------------ cyclic schedules (lr and momentum)
def _per_group(value: Any, optimizer: Optimizer, op: str, name: str) -> list[float]:
    """A number >= 0 for every group, or a list with one per group."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise InvalidArgumentError(f"{op}: expected one {name} per parameter group ({count}), got {len(value)}")
        return _reals(value, op, name)
    return [real(value, op, name, low=0.0)] * count


def _uses_betas(optimizer: Optimizer, op: str) -> bool:
    """Whether momentum is cycled through ``betas[0]`` (Adam) rather than ``momentum`` (SGD, RMSprop)."""
    if "betas" in optimizer.defaults:
        return True
    if "momentum" in optimizer.defaults:
        return False
    raise InvalidArgumentError(
        f"{op}: cycle_momentum=True needs an optimiser with 'momentum' or 'betas' (SGD, RMSprop, Adam), "
        f"got {type(optimizer).__name__}; pass cycle_momentum=False"
    )


def _momenta(value: Any, optimizer: Optimizer, op: str, name: str, betas: bool) -> list[float]:
    """Per-group momenta; a beta1 must also be < 1 (Adam's own check, made here and not at a later step)."""
    values = _per_group(value, optimizer, op, name)
    if betas:
        for i, v in enumerate(values):
            _at_most(v, 1.0, op, f"{name}[{i}]" if isinstance(value, (list, tuple)) else name, high_open=True)
    return values


def _set_momenta(optimizer: Optimizer, momenta: list[float], betas: bool) -> None:
    for group, momentum in zip(optimizer.param_groups, momenta, strict=True):
        if betas:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum


def _start_momenta(optimizer: Optimizer, max_momenta: list[float], base_momenta: list[float], betas: bool) -> None:
    """A new schedule's first momenta, and the groups' ``max_momentum`` and ``base_momentum`` (PyTorch's keys)."""
    _set_momenta(optimizer, max_momenta, betas)
    for group, high, low in zip(optimizer.param_groups, max_momenta, base_momenta, strict=True):
        group["max_momentum"], group["base_momentum"] = high, low


def _finite(value: float, op: str, name: str) -> float:
    if math.isinf(value):
        raise InvalidArgumentError(f"{op}: {name} must be finite, got {value!r}")
    return value


class CyclicLR(LRScheduler):
    """Cycle each group's lr between ``base_lr`` and ``max_lr`` (Smith's cyclical learning rates): up over
    ``step_size_up`` steps, down over ``step_size_down`` (default: the same); call ``step()`` every batch.

    ``mode`` scales each cycle's amplitude: "triangular" (1), "triangular2" (halved every cycle),
    "exp_range" (``gamma ** iteration``); or ``scale_fn(x)``, of the cycle number (``scale_mode="cycle"``)
    or of the iteration ("iterations"). With ``cycle_momentum`` the momentum (SGD's ``momentum``, Adam's
    ``betas[0]``) moves the other way, between ``max_momentum`` and ``base_momentum``. The constructor
    sets the lrs to ``base_lr`` (as PyTorch, the first lr is the groups' ``initial_lr``, which another
    scheduler may have recorded). State dicts hold ``scale_fn`` as LambdaLR's hold its functions.
    """

    _MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, optimizer: Optimizer, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: int = 2000, step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        name = "CyclicLR"
        _check_optimizer(optimizer, name)
        base_lrs = _per_group(base_lr, optimizer, name, "base_lr")
        self.max_lrs = _per_group(max_lr, optimizer, name, "max_lr")
        up = _finite(real(step_size_up, name, "step_size_up", low=0.0, low_open=True), name, "step_size_up")
        down = up if step_size_down is None else real(step_size_down, name, "step_size_down", low=0.0)
        self.total_size = _finite(up + down, name, "step_size_up + step_size_down")
        self.step_ratio = up / self.total_size
        self.mode = _choice(mode, name, "mode", self._MODES)
        self.gamma = real(gamma, name, "gamma", low=0.0)
        if scale_fn is not None and not callable(scale_fn):
            raise ArgumentTypeError(f"{name}: scale_fn must be a function or None, got {describe(scale_fn)}")
        self._scale_fn_custom = scale_fn
        self.scale_mode = _choice(scale_mode, name, "scale_mode", ("cycle", "iterations"))
        self._init_scale_fn()
        self.cycle_momentum = flag(cycle_momentum, name, "cycle_momentum")
        last_epoch = whole(last_epoch, name, "last_epoch", low=-1)
        if self.cycle_momentum:
            self.use_beta1 = _uses_betas(optimizer, name)
            self.base_momentums = _momenta(base_momentum, optimizer, name, "base_momentum", self.use_beta1)
            self.max_momentums = _momenta(max_momentum, optimizer, name, "max_momentum", self.use_beta1)
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr
            if self.cycle_momentum:
                _start_momenta(optimizer, self.max_momentums, self.base_momentums, self.use_beta1)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs  # after the first step, which used the groups' initial_lr (as PyTorch)

    def _init_scale_fn(self) -> None:
        """The built-in modes fix their scale mode (PyTorch's rule, also after a state dict is loaded)."""
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle or iteration ``x``."""
        if self._scale_fn_custom is not None:
            return real(self._scale_fn_custom(x), "CyclicLR", f"scale_fn({x})", low=0.0)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 0.5 ** (x - 1)  # PyTorch's 1 / 2 ** (x - 1), exact either way, without its overflow
        return _power(self.gamma, x, "CyclicLR.step")

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        ratio = self.step_ratio
        fraction = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [base + (top - base) * fraction * scale
               for base, top in zip(self._bases(), self.max_lrs, strict=True)]  # fmt: skip
        if self.cycle_momentum:
            if len(lrs) != len(self.base_momentums):
                raise self._groups_changed("CyclicLR.step", len(self.base_momentums))
            momenta = [top - (top - low) * fraction * scale
                       for low, top in zip(self.base_momentums, self.max_momentums, strict=True)]  # fmt: skip
            _set_momenta(self.optimizer, momenta, self.use_beta1)
        return lrs

    def state_dict(self) -> dict:
        """Everything but the optimiser; ``_scale_fn_custom`` as None (a function) or its attributes (an object)."""
        state = self._plain_state("_scale_fn_custom")
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None else _saved_function_state(fn)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (a gradkit or a PyTorch CyclicLR's); keeps its own scale_fn."""
        op = "CyclicLR.load_state_dict"
        _check_state_dict(state_dict, op)
        saved = state_dict.get("_scale_fn_custom")
        _check_function_state(saved, self._scale_fn_custom, op, "_scale_fn_custom")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "_scale_fn_custom"})
        if saved:
            self._scale_fn_custom.__dict__.update(saved)
        self._init_scale_fn()

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        _reals(values["max_lrs"], op, "max_lrs")
        _finite(real(values["total_size"], op, "total_size", low=0.0, low_open=True), op, "total_size")
        _at_most(real(values["step_ratio"], op, "step_ratio", low=0.0, low_open=True), 1.0, op, "step_ratio")
        _choice(values["mode"], op, "mode", self._MODES)
        real(values["gamma"], op, "gamma", low=0.0)
        _choice(values["scale_mode"], op, "scale_mode", ("cycle", "iterations"))
        if flag(values["cycle_momentum"], op, "cycle_momentum"):
            for key in ("use_beta1", "base_momentums", "max_momentums"):
                if key not in values:
                    raise InvalidArgumentError(f"{op}: cycle_momentum is True but the state dict has no {key!r}")
            if flag(values["use_beta1"], op, "use_beta1") != _uses_betas(self.optimizer, op):
                raise InvalidArgumentError(f"{op}: use_beta1 does not fit this {type(self.optimizer).__name__}")
            _reals(values["base_momentums"], op, "base_momentums")
            _reals(values["max_momentums"], op, "max_momentums")


_LR_KEYS = ("initial_lr", "max_lr", "min_lr")
_MOMENTUM_KEYS = ("max_momentum", "base_momentum")


def _phase(end_step: float, lrs: tuple[str, str], momenta: tuple[str, str]) -> dict:
    """One phase of OneCycleLR's schedule, in PyTorch's state-dict layout (group keys to go between)."""
    return {"end_step": end_step, "start_lr": lrs[0], "end_lr": lrs[1],
            "start_momentum": momenta[0], "end_momentum": momenta[1]}  # fmt: skip


def _one_cycle_phases(total: int, pct_start: float, three_phase: bool) -> list[dict]:
    """Up to max_lr (momentum down), then down (momentum up); with three_phase, down to initial_lr
    first and then to min_lr with the momentum at its maximum."""
    top, low, high = ("initial_lr", "max_lr"), "base_momentum", "max_momentum"
    up = _phase(float(pct_start * total) - 1, top, (high, low))
    if not three_phase:
        return [up, _phase(total - 1, ("max_lr", "min_lr"), (low, high))]
    down = _phase(float(2 * pct_start * total) - 2, ("max_lr", "initial_lr"), (low, high))
    return [up, down, _phase(total - 1, ("initial_lr", "min_lr"), (high, high))]


def _check_phases(phases: Any, total: int, op: str) -> None:
    """A schedule that a state dict brings, or that the arguments make: the first phase runs at step 0 and
    the last one at step total_steps, so neither may be empty (PyTorch divides by zero there)."""
    if not isinstance(phases, (list, tuple)) or len(phases) not in (2, 3):
        raise ArgumentTypeError(f"{op}: _schedule_phases must be a list of 2 or 3 phases, got {describe(phases)}")
    start = 0.0
    for i, phase in enumerate(phases):
        if not isinstance(phase, Mapping):
            raise ArgumentTypeError(f"{op}: _schedule_phases[{i}] must be a dict, got {describe(phase)}")
        end = real(phase.get("end_step"), op, f"_schedule_phases[{i}]['end_step']")
        for key, allowed in (("start_lr", _LR_KEYS), ("end_lr", _LR_KEYS), ("start_momentum", _MOMENTUM_KEYS),
                             ("end_momentum", _MOMENTUM_KEYS)):
            _choice(phase.get(key), op, f"_schedule_phases[{i}][{key!r}]", allowed)
        if end == start and i in (0, len(phases) - 1):
            raise InvalidArgumentError(
                f"{op}: phase {i} of the schedule has no steps (it starts and ends at step {end:g}, "
                f"total_steps={total}); choose another pct_start"
            )
        start = end


def _anneal(kind: str, start: float, end: float, pct: float) -> float:
    """From ``start`` (pct 0) to ``end`` (pct 1): half a cosine, or a straight line."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle_steps(total_steps: Any, epochs: Any, steps_per_epoch: Any, op: str) -> int:
    """total_steps, or epochs * steps_per_epoch; within the float range (the phases' ends are floats)."""
    if total_steps is not None:
        return _float_range(whole(total_steps, op, "total_steps", low=1), op, "total_steps")
    if epochs is None or steps_per_epoch is None:
        raise InvalidArgumentError(
            f"{op}: pass total_steps, or epochs and steps_per_epoch; got total_steps=None, epochs={epochs!r}, "
            f"steps_per_epoch={steps_per_epoch!r}"
        )
    product = f"epochs * steps_per_epoch (epochs={epochs!r:.30}, steps_per_epoch={steps_per_epoch!r:.30})"
    epochs = _float_range(whole(epochs, op, "epochs", low=1), op, "epochs")
    steps_per_epoch = _float_range(whole(steps_per_epoch, op, "steps_per_epoch", low=1), op, "steps_per_epoch")
    return _float_range(epochs * steps_per_epoch, op, product)


class OneCycleLR(LRScheduler):
    """The 1cycle policy: from ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs * steps_per_epoch``), then down to ``initial_lr / final_div_factor``;
    call ``step()`` every batch. With ``three_phase`` it comes back to the initial lr first.

    ``anneal_strategy`` is "cos" or "linear". With ``cycle_momentum`` the momentum (SGD's ``momentum``,
    Adam's ``betas[0]``) goes the other way between ``max_momentum`` and ``base_momentum``. Each group
    keeps ``initial_lr``, ``max_lr``, ``min_lr`` (and ``max_momentum``, ``base_momentum``), as PyTorch,
    so an optimiser's state dict brings them back. Stepping past ``total_steps`` raises
    InvalidArgumentError (a ValueError, as PyTorch's).
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        _check_optimizer(optimizer, name)
        self.total_steps = _one_cycle_steps(total_steps, epochs, steps_per_epoch, name)
        pct_start = _at_most(real(pct_start, name, "pct_start", low=0.0), 1.0, name, "pct_start")
        self._schedule_phases = _one_cycle_phases(self.total_steps, pct_start, flag(three_phase, name, "three_phase"))
        _check_phases(self._schedule_phases, self.total_steps, name)
        self._anneal_func_type = _choice(anneal_strategy, name, "anneal_strategy", ("cos", "linear"))
        max_lrs = _per_group(max_lr, optimizer, name, "max_lr")
        div_factor = _finite(real(div_factor, name, "div_factor", low=0.0, low_open=True), name, "div_factor")
        final_div_factor = _finite(real(final_div_factor, name, "final_div_factor", low=0.0, low_open=True),
                                   name, "final_div_factor")  # fmt: skip
        self.cycle_momentum = flag(cycle_momentum, name, "cycle_momentum")
        last_epoch = whole(last_epoch, name, "last_epoch", low=-1)
        if self.cycle_momentum:
            self.use_beta1 = _uses_betas(optimizer, name)
            max_momenta = _momenta(max_momentum, optimizer, name, "max_momentum", self.use_beta1)
            base_momenta = _momenta(base_momentum, optimizer, name, "base_momentum", self.use_beta1)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if self.cycle_momentum:
                _start_momenta(optimizer, max_momenta, base_momenta, self.use_beta1)
        super().__init__(optimizer, last_epoch)

    def _phase_at(self, t: int) -> tuple[dict, float]:
        """The phase that step ``t`` falls in, and how far into it (0 to 1; past 1 at step total_steps)."""
        start = 0.0
        *firsts, last = self._schedule_phases
        for phase in firsts:
            if t <= phase["end_step"]:
                return phase, (t - start) / (phase["end_step"] - start)
            start = phase["end_step"]
        return last, (t - start) / (last["end_step"] - start)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise InvalidArgumentError(
                f"OneCycleLR.step: tried to step {t} times; the schedule has total_steps={self.total_steps} "
                "(make the scheduler with more steps)"
            )
        phase, pct = self._phase_at(t)
        kind = self._anneal_func_type
        groups = self.optimizer.param_groups
        lrs = [_anneal(kind, _group_key(g, phase["start_lr"], i), _group_key(g, phase["end_lr"], i), pct)
               for i, g in enumerate(groups)]  # fmt: skip
        if self.cycle_momentum:
            momenta = [
                _anneal(kind, _group_key(g, phase["start_momentum"], i), _group_key(g, phase["end_momentum"], i), pct)
                for i, g in enumerate(groups)
            ]
            _set_momenta(self.optimizer, momenta, self.use_beta1)
        return lrs

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        total = _float_range(whole(values["total_steps"], op, "total_steps", low=1), op, "total_steps")
        _check_phases(values["_schedule_phases"], total, op)
        _choice(values["_anneal_func_type"], op, "_anneal_func_type", ("cos", "linear"))
        if flag(values["cycle_momentum"], op, "cycle_momentum"):
            if "use_beta1" not in values:
                raise InvalidArgumentError(f"{op}: cycle_momentum is True but the state dict has no 'use_beta1'")
            if flag(values["use_beta1"], op, "use_beta1") != _uses_betas(self.optimizer, op):
                raise InvalidArgumentError(f"{op}: use_beta1 does not fit this {type(self.optimizer).__name__}")


def _group_key(group: dict, key: str, i: int) -> float:
    """A OneCycleLR value the group keeps (its ``max_lr``...), which must be there."""
    if key not in group:
        raise InvalidArgumentError(
            f"OneCycleLR.step: parameter group {i} has no {key!r} (a group added after the scheduler was made, "
            "or a resumed optimiser without its state dict?)"
        )
    return real(group[key], "OneCycleLR.step", f"parameter group {i}'s {key!r}")


# ------------------------------------------------------------------ schedulers of schedulers
def _members(schedulers: Any, optimizer: Optimizer | None, op: str) -> tuple[list[LRScheduler], Optimizer]:
    """The schedulers, which all drive ``optimizer`` (the first one's when None), and that optimiser."""
    if isinstance(schedulers, (str, bytes, Mapping, LRScheduler)) or not isinstance(schedulers, Iterable):
        raise ArgumentTypeError(f"{op}: schedulers must be a list of schedulers, got {describe(schedulers)}")
    schedulers = list(schedulers)
    if not schedulers:
        raise InvalidArgumentError(f"{op}: expected at least one scheduler, got an empty list")
    for i, sched in enumerate(schedulers):
        if not isinstance(sched, LRScheduler):
            raise ArgumentTypeError(f"{op}: schedulers[{i}] must be a learning-rate scheduler, got {describe(sched)}")
        if isinstance(sched, ReduceLROnPlateau):
            raise InvalidArgumentError(
                f"{op}: schedulers[{i}] is a ReduceLROnPlateau, which needs a metric at each step; step it yourself"
            )
    optimizer = schedulers[0].optimizer if optimizer is None else optimizer
    for i, sched in enumerate(schedulers):
        if sched.optimizer is not optimizer:
            raise InvalidArgumentError(
                f"{op}: schedulers[{i}] ({type(sched).__name__}) drives another optimiser; all must drive the same one"
            )
    return schedulers, optimizer


class _Composite(LRScheduler):
    """A scheduler of schedulers: state dicts hold theirs under ``_schedulers`` (PyTorch's layout)."""

    _schedulers: list[LRScheduler]

    def get_lr(self) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} has no schedule of its own: its schedulers set the lrs")

    def state_dict(self) -> dict:
        """Everything but the optimiser; the schedulers' own state dicts under ``_schedulers``."""
        state = self._plain_state("_schedulers")
        state["_schedulers"] = [sched.state_dict() for sched in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (a gradkit or a PyTorch one); all or nothing."""
        op = f"{type(self).__name__}.load_state_dict"
        _check_state_dict(state_dict, op)
        saved = state_dict.get("_schedulers")
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self._schedulers):
            raise InvalidArgumentError(
                f"{op}: _schedulers must be a list of {len(self._schedulers)} state dicts, got {describe(saved)}"
            )
        own = {k: v for k, v in state_dict.items() if k not in _TRANSIENT_KEYS and k != "_schedulers"}
        self._validate({**self.__dict__, **own}, op)
        undo = self._snapshot()
        try:
            for sched, state in zip(self._schedulers, saved, strict=True):
                sched.load_state_dict(state)
        except Exception:
            undo()  # a later scheduler's state was bad: the earlier ones go back too
            raise
        self.__dict__.update(own)

    def _snapshot(self) -> Callable[[], None]:
        undos = [super()._snapshot(), *(sched._snapshot() for sched in self._schedulers)]

        def undo() -> None:
            for restore in undos:
                restore()

        return undo

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """A step that raises puts this scheduler, its schedulers and the groups' scheduled values back."""
        undo, restore_groups = self._snapshot(), _scheduled_values(self.optimizer)
        try:
            yield
        except Exception:
            undo()
            restore_groups()
            raise

    def _validate(self, values: Mapping, op: str) -> None:
        _reals(values["_last_lr"], op, "_last_lr")


#: The group values that schedulers set (lr; momentum, or beta1 in betas, for the cyclic ones).
_SCHEDULED_KEYS = ("lr", "momentum", "betas")


def _scheduled_values(optimizer: Optimizer) -> Callable[[], None]:
    """A function that puts back each group's ``_SCHEDULED_KEYS`` as they are now."""
    saved = [(group, {k: group[k] for k in _SCHEDULED_KEYS if k in group}) for group in optimizer.param_groups]

    def restore() -> None:
        for group, values in saved:
            group.update(values)

    return restore


def _sorted_epochs(milestones: Any, op: str) -> list[int]:
    if isinstance(milestones, (str, bytes, Mapping)) or not isinstance(milestones, Iterable):
        raise ArgumentTypeError(f"{op}: milestones must be a list of epochs, got {describe(milestones)}")
    epochs = [whole(m, op, f"milestones[{i}]", low=0) for i, m in enumerate(milestones)]
    if epochs != sorted(epochs):
        raise InvalidArgumentError(f"{op}: milestones must be in increasing order, got {epochs}")
    return epochs


def _undo_first_steps(sched: LRScheduler) -> None:
    """Take back the step each scheduler made when it was made (nested ones included), as PyTorch."""
    if isinstance(sched, _Composite):
        for inner in sched._schedulers:
            _undo_first_steps(inner)
    else:
        sched.last_epoch -= 1


class SequentialLR(_Composite):
    """Run ``schedulers[0]`` until epoch ``milestones[0]``, then ``schedulers[1]`` from its epoch 0
    (its closed form there), and so on; ``step()`` takes no epoch.

    Made last, it puts the lrs back to the groups' ``initial_lr`` and gives the first scheduler its first
    step again (PyTorch's rule): e.g. ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=95)], milestones=[5])`` warms up, then anneals.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        name = "SequentialLR"
        _check_optimizer(optimizer, name)
        schedulers, _ = _members(schedulers, optimizer, name)
        for i, sched in enumerate(schedulers[1:], 1):
            if isinstance(sched, _Composite):  # PyTorch's SequentialLR fails on one at its milestone
                raise InvalidArgumentError(
                    f"{name}: schedulers[{i}] is a {type(sched).__name__}, which has no epoch 0 to restart at when "
                    "its milestone comes; only the first scheduler may drive others"
                )
        milestones = _sorted_epochs(milestones, name)
        if len(milestones) != len(schedulers) - 1:
            raise InvalidArgumentError(
                f"{name}: expected one milestone fewer than schedulers ({len(schedulers) - 1}), got {len(milestones)}"
            )
        last_epoch = whole(last_epoch, name, "last_epoch", low=-1)
        for i, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise InvalidArgumentError(
                    f"{name}: parameter group {i} has no 'initial_lr' (a group added after the schedulers?)"
                )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_first_steps(self)
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = list(first.get_last_lr())

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch with the scheduler whose turn it is."""
        epoch = whole(self.last_epoch, "SequentialLR.step", "last_epoch", low=0) + 1
        i = bisect_right(self._milestones, epoch)
        sched = self._schedulers[i]
        with self._all_or_nothing():
            self.last_epoch = epoch
            if i > 0 and self._milestones[i - 1] == epoch:
                sched._update_lr(0)  # a scheduler's first epoch, by its closed form
            else:
                sched.step()
            self._last_lr = list(sched.get_last_lr())

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["last_epoch"], op, "last_epoch", low=0)
        milestones = values["_milestones"]
        if not isinstance(milestones, (list, tuple)):
            raise ArgumentTypeError(f"{op}: _milestones must be a list of epochs, got {describe(milestones)}")
        if len(_sorted_epochs(milestones, op)) != len(self._schedulers) - 1:
            raise InvalidArgumentError(
                f"{op}: _milestones must hold {len(self._schedulers) - 1} epochs, got {len(milestones)}"
            )


class ChainedScheduler(_Composite):
    """Step every scheduler in ``schedulers`` at each ``step()``, in order, so that their changes to the
    lrs combine (e.g. a ConstantLR warm-up times an ExponentialLR decay). ``optimizer`` defaults to
    the first scheduler's; all must drive the same one.
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        name = "ChainedScheduler"
        if optimizer is not None:
            _check_optimizer(optimizer, name)
        self._schedulers, self.optimizer = _members(schedulers, optimizer, name)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:  # type: ignore[override]
        """Step each scheduler once; if one raises, all of them and the lrs go back to where they were."""
        with self._all_or_nothing():
            for sched in self._schedulers:
                sched.step()
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
