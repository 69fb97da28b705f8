"""Learning-rate schedules with PyTorch's recursive forms (and closed forms for ``step(epoch)``).

``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LinearLR``, ``CosineAnnealingLR`` and ``LambdaLR``
set each group's ``lr`` when they are made (epoch 0) and on every ``step()``; call ``step()`` once
per epoch, after ``optimizer.step()``. Their base learning rates are the groups' ``initial_lr``,
which the first scheduler made on an optimiser records (as PyTorch). ``ReduceLROnPlateau`` instead
lowers the current ``lr`` when ``step(metric)`` sees no improvement; it neither reads nor sets
``initial_lr``.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gradkit._args import real, scalar, text, whole
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, describe
from gradkit.optim.optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "ReduceLROnPlateau",
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
        if epoch is None:  # last_epoch is a public attribute: check what may have been put there
            self.last_epoch = whole(self.last_epoch, f"{type(self).__name__}.step", "last_epoch", low=-1) + 1
            lrs = self.get_lr()
        else:
            self.last_epoch = whole(epoch, f"{type(self).__name__}.step", "epoch", low=0)
            lrs = self._get_closed_form_lr()
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
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (a gradkit or a PyTorch scheduler's)."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise ArgumentTypeError(f"{name}.load_state_dict: expected a dict, got {type(state_dict).__name__}")
        if "optimizer" in state_dict:  # it would replace the optimiser this scheduler drives
            raise InvalidArgumentError(f"{name}.load_state_dict: the state dict may not hold an 'optimizer'")
        state_dict = {k: v for k, v in state_dict.items() if k not in _TRANSIENT_KEYS}
        self._validate({**self.__dict__, **state_dict}, f"{name}.load_state_dict")  # before anything changes
        self.__dict__.update(state_dict)  # as PyTorch (its other private keys come along harmlessly)

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


def _cos_pi(t: int, period: int) -> float:
    """``cos(pi * t / period)`` as PyTorch computes it; an epoch so large that ``pi * t`` overflows is first
    reduced modulo ``2 * period`` (exact for ints), where the cosine repeats."""
    try:
        angle = math.pi * t / period
    except OverflowError:  # an int beyond the float range
        angle = math.inf
    if math.isinf(angle):
        angle = math.pi * (t % (2 * period)) / period
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
    return start, end, whole(total_iters, op, "total_iters", low=1)


def _saved_function_state(fn: Callable) -> dict | None:
    """What a LambdaLR state dict keeps of one function: None for a function, lambda, method or builtin
    (code is not state; PyTorch drops them too), a copy of the attributes of a callable object."""
    if isinstance(fn, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return None
    attributes = getattr(fn, "__dict__", None)
    return dict(attributes) if isinstance(attributes, dict) else None


class LambdaLR(LRScheduler):
    """Set each group's lr to ``base_lr * lr_lambda(epoch)``: one function for every group, or a list
    with one per group. The factor must be a number >= 0.

    ``state_dict()`` does not hold the functions: an entry of its ``lr_lambdas`` is None for a plain
    function (or lambda, method, builtin) and a copy of ``vars(obj)`` for a callable object, which
    ``load_state_dict`` puts back into this scheduler's object (as PyTorch).
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "LambdaLR")
        count = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != count:
                raise InvalidArgumentError(
                    f"LambdaLR: expected one lr_lambda per parameter group ({count}), got {len(lr_lambda)}"
                )
            functions = list(lr_lambda)
        else:
            functions = [lr_lambda] * count
        for i, fn in enumerate(functions):
            if not callable(fn):
                where = f"lr_lambda[{i}]" if isinstance(lr_lambda, (list, tuple)) else "lr_lambda"
                raise ArgumentTypeError(f"LambdaLR: {where} must be a function of the epoch, got {describe(fn)}")
        self.lr_lambdas = functions
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if len(self.lr_lambdas) != len(self.optimizer.param_groups):
            raise self._groups_changed("LambdaLR.step", len(self.lr_lambdas))
        return [
            base * real(fn(t), "LambdaLR", f"lr_lambda({t}) for parameter group {i}", low=0.0)
            for i, (fn, base) in enumerate(zip(self.lr_lambdas, self._bases(), strict=True))
        ]

    def state_dict(self) -> dict:
        """Everything but the optimiser; ``lr_lambdas`` as None (functions) or attribute dicts (objects)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [_saved_function_state(fn) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned; this scheduler keeps its own functions."""
        op = "LambdaLR.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ArgumentTypeError(f"{op}: expected a dict, got {type(state_dict).__name__}")
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas):
            raise InvalidArgumentError(
                f"{op}: lr_lambdas must be a list of {len(self.lr_lambdas)} entries (None or a dict), "
                f"got {describe(saved)}"
            )
        for i, (entry, fn) in enumerate(zip(saved, self.lr_lambdas, strict=True)):
            if entry is None:
                continue
            if not isinstance(entry, Mapping) or not all(isinstance(k, str) for k in entry):
                raise ArgumentTypeError(
                    f"{op}: lr_lambdas[{i}] must be None or a dict of attribute names, got {describe(entry)}"
                )
            if entry and _saved_function_state(fn) is None:
                raise InvalidArgumentError(
                    f"{op}: lr_lambdas[{i}] holds the attributes of a callable object, but this scheduler's "
                    f"lr_lambda {i} is a {type(fn).__name__}, which has no state to restore"
                )
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for entry, fn in zip(saved, self.lr_lambdas, strict=True):
            if entry:
                fn.__dict__.update(entry)


def _metric(value: Any, op: str) -> float:
    """The monitored quantity as a float: a number, or a 0-d tensor or array (read with ``.item()``)."""
    value = scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: metrics must be a number or a 0-d tensor, got {describe(value)}")
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
