"""Learning-rate schedules: ``StepLR`` and ``CosineAnnealingLR`` (PyTorch's recursive forms).

A scheduler sets each group's ``lr`` when it is made (epoch 0) and on every
``step()``; call it once per epoch, after ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from gradkit._args import real, whole
from gradkit.errors import ArgumentTypeError, InvalidArgumentError
from gradkit.optim.optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]


class LRScheduler:
    """Base class: ``base_lrs`` from each group's ``initial_lr``; ``step()`` applies ``get_lr()``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(self).__name__}: expected an optimiser, got {type(optimizer).__name__}")
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
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

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
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

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
        self._validate({**self.__dict__, **state_dict}, f"{name}.load_state_dict")  # before anything changes
        self.__dict__.update(state_dict)  # as PyTorch (its own private keys come along harmlessly)

    def _validate(self, values: Mapping, op: str) -> None:
        """Check the numbers a state dict brings (subclasses add their own)."""
        whole(values["last_epoch"], op, "last_epoch", low=-1)
        for lr in values["base_lrs"]:
            real(lr, op, "base_lrs", low=0.0)


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
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["step_size"], op, "step_size", low=1)
        real(values["gamma"], op, "gamma", low=0.0)


def _cos_pi(t: int, period: int) -> float:
    """``cos(pi * t / period)``, with ``t`` first reduced modulo ``2 * period`` (exact for ints): a huge epoch
    would overflow ``pi * t``."""
    return math.cos(math.pi * (t % (2 * period)) / period)


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
        if t == 0:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:
            return [eta_min + (base - eta_min) * (1 + _cos_pi(t, T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [
                group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base, group in zip(self.base_lrs, groups, strict=True)
            ]
        return [
            (1 + _cos_pi(t, T)) / (1 + _cos_pi(t - 1, T)) * (group["lr"] - eta_min) + eta_min
            for group in groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            self.eta_min + (base - self.eta_min) * (1 + _cos_pi(self.last_epoch, self.T_max)) / 2
            for base in self.base_lrs
        ]

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        whole(values["T_max"], op, "T_max", low=1)
        real(values["eta_min"], op, "eta_min", low=0.0)
