"""Stochastic weight averaging and exponential moving averages of a model (``torch.optim.swa_utils``).

``AveragedModel(model)`` keeps a deep copy of ``model`` whose parameters ``update_parameters(model)``
moves towards ``model``'s: an equal running average by default (SWA), or what ``avg_fn`` /
``multi_avg_fn`` compute (``get_ema_multi_avg_fn(decay)`` for an EMA). ``SWALR`` anneals the learning
rates to a fixed ``swa_lr``; ``update_bn(loader, model)`` recomputes BatchNorm running statistics with one
pass over the data. State dicts have PyTorch's keys (``n_averaged``, ``module.*``), so a PyTorch
``AveragedModel``'s loads.

No update records a graph, and none reads the device: the number of models averaged so far is kept as a
Python int beside the ``n_averaged`` buffer (which is updated on the device), and read back from the buffer
only after something else wrote it (``load_state_dict``, ``Module.to``, an in-place change); a buffer in host
memory is read at every update. A write into a GPU buffer's array itself (``n_averaged.data[...] = 0``)
records no change and is not seen: write through the tensor (``n_averaged.fill_(0)``) instead.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gradkit._args import flag, real, whole
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import zeros
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.nn.layers import _BatchNorm
from gradkit.nn.module import Module
from gradkit.optim.lr_scheduler import LRScheduler, _check_optimizer, _choice, _per_group
from gradkit.optim.optimizer import Optimizer
from gradkit.tensor import Tensor

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]


# ------------------------------------------------------------------ averaging functions
def _decay(decay: Any, op: str) -> float:
    decay = real(decay, op, "decay")
    if not 0.0 <= decay <= 1.0:
        raise InvalidArgumentError(f"{op}: decay must be in [0, 1], got {decay!r}")
    return decay


def _array(value: Any, op: str, what: str) -> Any:
    """The array inside a tensor, or an array (NumPy, CuPy) itself."""
    if isinstance(value, Tensor):
        return value._data
    if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "__setitem__"):
        return value
    raise ArgumentTypeError(f"{op}: {what} must be a tensor or an array, got {describe(value)}")


def _pairs(averaged: Any, current: Any, op: str) -> list[tuple[Tensor | None, Any, Any]]:
    """``(tensor or None, averaged array, current array)`` for two equally long lists; the current value on
    the averaged one's device."""
    for name, values in (("the averaged values", averaged), ("the current values", current)):
        if not isinstance(values, (list, tuple)):
            raise ArgumentTypeError(f"{op}: {name} must be a list of tensors, got {describe(values)}")
    if len(averaged) != len(current):
        raise InvalidArgumentError(
            f"{op}: got {len(averaged)} averaged value(s) but {len(current)} current one(s); they must pair up"
        )
    out = []
    for i, (a, c) in enumerate(zip(averaged, current, strict=True)):
        a_arr = _array(a, op, f"averaged[{i}]")
        c_arr = _array(c, op, f"current[{i}]")
        if isinstance(a, Tensor) and isinstance(c, Tensor) and c._backend is not a._backend:
            c_arr = a._backend.transfer(c_arr, c._backend)
        if tuple(a_arr.shape) != tuple(c_arr.shape):
            raise ShapeError(
                f"{op}: averaged[{i}] has shape {tuple(a_arr.shape)} but current[{i}] has {tuple(c_arr.shape)}"
            )
        out.append((a if isinstance(a, Tensor) else None, a_arr, c_arr))
    return out


def _inexact(array: Any) -> bool:
    return array.dtype.kind in "fc"


def _lerp_into(a: Any, b: Any, weight: float) -> None:
    """``a += weight * (b - a)`` in place, by PyTorch's lerp formula (the other form for weights >= 0.5)."""
    w = a.dtype.type(weight)
    if abs(weight) < 0.5:
        _add_step(a, b, w, multiply=True)
    else:
        a[...] = b - (b - a) * (1 - w)


def _add_step(a: Any, b: Any, factor: Any, multiply: bool) -> None:
    """``a += (b - a) * factor`` (or ``/ factor``) in place, through one temporary instead of two: the same
    numbers, half the memory traffic (a large model's update is bound by it)."""
    step = b - a
    if multiply:
        step *= factor
    else:
        step /= factor
    a += step


def _int_ema(a: Any, b: Any, decay: float) -> Any:
    """PyTorch's ``a * decay + b * (1 - decay)`` for integer ``a`` and ``b``: computed in float32 (its default
    dtype), then truncated back to ``a``'s dtype: the truncations differ from float64's (``0.9 * 0 + (1 - 0.9) *
    10`` is 1 in float32 but just under 1, so 0, in float64; ``0.9 * 7 + 0.1 * 7`` is 7 there, 6 here)."""
    f32 = np.float32
    return (a.astype(f32) * f32(decay) + b.astype(f32) * f32(1.0 - decay)).astype(a.dtype)


def _bump(t: Tensor | None) -> None:
    if t is not None:
        t._version[0] += 1


def _device_count(n: Any, like: Tensor | None, a: Any) -> Any:
    """The count ``n`` as a number, or as a 0-d array on ``a``'s device (a tensor's moved there)."""
    if isinstance(n, Tensor):
        if like is not None and n._backend is not like._backend:
            return like._backend.transfer(n._data, n._backend)
        return n._data
    if hasattr(n, "dtype") and hasattr(n, "shape"):
        return n
    return whole(n, "swa_update", "num_averaged", low=0)


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[Sequence, Sequence, Any], None]:
    """``ema_update(ema_list, current_list, num_averaged)``: every ``ema`` becomes
    ``decay * ema + (1 - decay) * current``, in place (PyTorch's lerp; integer tensors are computed in
    float32 and truncated back to their dtype, as PyTorch's). ``num_averaged`` is not used. The lists hold
    tensors or arrays."""
    decay = _decay(decay, "get_ema_multi_avg_fn")

    def ema_update(ema_param_list: Sequence, current_param_list: Sequence, _: Any = None) -> None:
        for t, a, b in _pairs(ema_param_list, current_param_list, "ema_update"):
            if _inexact(a):
                _lerp_into(a, b, 1.0 - decay)
            else:
                a[...] = _int_ema(a, b, decay)
            _bump(t)

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[Sequence, Sequence, Any], None]:
    """``swa_update(averaged_list, current_list, num_averaged)``: every ``averaged`` moves
    ``1 / (num_averaged + 1)`` of the way to ``current`` (an equal running average), in place.
    ``num_averaged`` is a number or a 0-d tensor (on the device: nothing is read back)."""

    def swa_update(averaged_param_list: Sequence, current_param_list: Sequence, num_averaged: Any) -> None:
        for t, a, b in _pairs(averaged_param_list, current_param_list, "swa_update"):
            n = _device_count(num_averaged, t, a)
            if isinstance(n, int):
                if _inexact(a):
                    _lerp_into(a, b, 1.0 / (n + 1))
                else:
                    a[...] = (a + (b - a) / (n + 1)).astype(a.dtype)
            elif _inexact(a):  # a weight on the device: 1 / (n + 1) <= 1/2 once a model has been averaged
                _add_step(a, b, (1.0 / (n + 1)).astype(a.dtype), multiply=True)
            else:
                a[...] = (a + (b - a) / (n + 1)).astype(a.dtype)
            _bump(t)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Any, Any, Any], Any]:
    """``ema_update(ema, current, num_averaged)`` -> ``decay * ema + (1 - decay) * current`` (a new value;
    ``num_averaged`` is not used; integer values are computed in float32, as PyTorch's)."""
    decay = _decay(decay, "get_ema_avg_fn")

    def ema_update(ema_param: Any, current_param: Any, num_averaged: Any = None) -> Any:
        with no_grad():
            return decay * _float32_if_integer(ema_param) + (1 - decay) * _float32_if_integer(current_param)

    return ema_update


def _float32_if_integer(value: Any) -> Any:
    """An integer (or bool) tensor or array as float32, which PyTorch's ``int_tensor * 0.9`` gives (its default
    dtype; gradkit's, NumPy's rule, is float64): an EMA of integer buffers truncates as PyTorch's."""
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) in ("b", "i", "u") and hasattr(value, "astype"):
        return value.astype(np.float32)
    return value


def get_swa_avg_fn() -> Callable[[Any, Any, Any], Any]:
    """``swa_update(averaged, current, num_averaged)`` -> ``averaged + (current - averaged) / (num_averaged + 1)``
    (a new value; a tensor ``num_averaged`` is cast to ``averaged``'s float dtype first, so a float32
    average stays float32)."""

    def swa_update(averaged_param: Any, current_param: Any, num_averaged: Any) -> Any:
        with no_grad():
            count = num_averaged + 1
            dtype = getattr(averaged_param, "dtype", None)
            if hasattr(count, "astype") and dtype is not None and getattr(dtype, "kind", "") in "fc":
                count = count.astype(dtype)
            return averaged_param + (current_param - averaged_param) / count

    return swa_update


# ------------------------------------------------------------------ the averaged model
class AveragedModel(Module):
    """A copy of ``model`` holding running averages of its parameters (and, with ``use_buffers``, buffers).

    ``update_parameters(model)`` first copies ``model``'s values, then averages: equally (SWA) by default,
    or with ``avg_fn(averaged, current, num_averaged)`` (returns the new value) or
    ``multi_avg_fn(averaged_list, current_list, num_averaged)`` (updates the lists in place, one call per
    device and dtype); ``num_averaged`` is the ``n_averaged`` buffer, a 0-d int64 tensor on the device.
    Without ``use_buffers`` the copy's buffers are set to ``model``'s at every update (PyTorch's rule).
    Calling it calls the copy. ``device`` moves the copy there (``n_averaged`` lives on the copy's device).
    """

    def __init__(self, model: Module, device: Any = None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        name = "AveragedModel"
        if not isinstance(model, Module):
            raise ArgumentTypeError(f"{name}: model must be a gk.nn.Module, got {describe(model)}")
        for arg, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise ArgumentTypeError(f"{name}: {arg} must be a function or None, got {describe(fn)}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise InvalidArgumentError(f"{name}: give avg_fn or multi_avg_fn, not both")
        use_buffers = flag(use_buffers, name, "use_buffers")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module.to(device)
        if device is None:
            first = next(iter(self._tensors(self.module)), None)
            device = first.device if first is not None else None
        self.register_buffer("n_averaged", zeros((), dtype="int64", device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers
        self._count = 0
        self._seen = self._stamp()

    @staticmethod
    def _tensors(module: Module) -> Iterable[Tensor]:
        yield from module.parameters()
        yield from module.buffers()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    # ------------------------------------------------------------ the count
    def _counter(self) -> Tensor:
        n = self.__dict__["_buffers"].get("n_averaged")
        if not isinstance(n, Tensor):
            raise InvalidArgumentError(
                f"AveragedModel.update_parameters: the n_averaged buffer must be a tensor, got {describe(n)}"
            )
        return n

    def _stamp(self) -> tuple[list, int]:
        """The buffer's version counter and its value when the Python count was last in step with it."""
        version = self._counter()._version
        return version, version[0]

    def _models_averaged(self) -> int:
        """The number of models averaged so far; read from the buffer (on the host) only when something
        other than ``update_parameters`` has written it since. A buffer in host memory is read every time:
        that costs nothing, and sees writes no version counter records (``n_averaged.data[...] = 0``)."""
        n = self._counter()
        version, value = self.__dict__.get("_seen", (None, None))
        if n._backend.name == "numpy" or n._version is not version or n._version[0] != value:
            self._count = whole(n.item(), "AveragedModel.update_parameters", "n_averaged", low=0)
            self._seen = self._stamp()
        return self._count

    # ------------------------------------------------------------ updates
    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s parameters (and buffers, with ``use_buffers``) into this copy's."""
        op = "AveragedModel.update_parameters"
        if not isinstance(model, Module):
            raise ArgumentTypeError(f"{op}: model must be a gk.nn.Module, got {describe(model)}")
        count = self._models_averaged()
        if self.use_buffers:
            averaged = list(self._tensors(self.module))
            current = list(self._tensors(model))
            what = "parameters and buffers"
        else:
            averaged = list(self.module.parameters())
            current = list(model.parameters())
            what = "parameters"
        own_buffers = [] if self.use_buffers else list(self.module.buffers())
        model_buffers = [] if self.use_buffers else list(model.buffers())
        _check_pairs(averaged, current, op, what)
        _check_pairs(own_buffers, model_buffers, op, "buffers")
        pairs = [(p, _on_device_of(m, p)) for p, m in zip(averaged, current, strict=True)]
        with no_grad():
            if count == 0:
                for p, m in pairs:
                    _assign(p, m._data)
            elif self.multi_avg_fn is not None:
                self._multi(pairs)
            elif self.avg_fn is not None:
                n_by_device: dict[int, Tensor] = {}
                for p, m in pairs:
                    n = self._count_on(p, n_by_device)
                    result = self.avg_fn(p.detach(), m, n)
                    _assign(p, _result_array(result, p, op))
            else:
                for p, m in pairs:
                    a, b = p._data, m._data
                    if _inexact(a):  # PyTorch's avg + (current - avg) / (n + 1)
                        _add_step(a, b, count + 1, multiply=False)
                    else:
                        a[...] = (a + (b - a) / (count + 1)).astype(a.dtype)
                    p._version[0] += 1
            for b_own, b_model in zip(own_buffers, model_buffers, strict=True):
                _assign(b_own, _on_device_of(b_model, b_own)._data)
            n = self._counter()
            n._data += 1
            n._version[0] += 1
        self._count = count + 1
        self._seen = self._stamp()

    def _count_on(self, p: Tensor, cache: dict[int, Tensor]) -> Tensor:
        """``n_averaged`` on ``p``'s device (the buffer itself, detached, where it already is)."""
        key = id(p._backend)
        if key not in cache:
            n = self._counter()
            cache[key] = n.detach() if n._backend is p._backend else _on_device_of(n, p)
        return cache[key]

    def _multi(self, pairs: list[tuple[Tensor, Tensor]]) -> None:
        """``multi_avg_fn`` once per (device, dtype) group, as PyTorch groups them."""
        groups: dict[tuple[int, Any], tuple[list, list]] = {}
        for p, m in pairs:
            own, theirs = groups.setdefault((id(p._backend), p._data.dtype), ([], []))
            own.append(p.detach())
            theirs.append(m)
        cache: dict[int, Tensor] = {}
        for own, theirs in groups.values():
            self.multi_avg_fn(own, theirs, self._count_on(own[0], cache))


def _check_pairs(own: list[Tensor], theirs: list[Tensor], op: str, what: str) -> None:
    if len(own) != len(theirs):
        raise InvalidArgumentError(
            f"{op}: the averaged model has {len(own)} {what} but the model has {len(theirs)}; "
            "pass a model of the averaged one's architecture"
        )
    for i, (a, b) in enumerate(zip(own, theirs, strict=True)):
        if a.shape != b.shape:
            raise ShapeError(
                f"{op}: {what} {i} has shape {a.shape} in the averaged model but {b.shape} in the model"
            )


def _on_device_of(t: Tensor, like: Tensor) -> Tensor:
    """``t`` detached (no copy), or a copy on ``like``'s device."""
    if t._backend is like._backend:
        return t.detach()
    return Tensor._make(like._backend.transfer(t._data, t._backend), like._backend)


def _assign(t: Tensor, array: Any) -> None:
    t._data[...] = array
    t._version[0] += 1


def _result_array(result: Any, like: Tensor, op: str) -> Any:
    """What an ``avg_fn`` returned, as an array on ``like``'s device and of its shape."""
    if isinstance(result, Tensor):
        array = result._data if result._backend is like._backend else like._backend.transfer(
            result._data, result._backend)
    elif isinstance(result, (int, float)) or (hasattr(result, "dtype") and hasattr(result, "shape")):
        array = result
    else:
        raise ArgumentTypeError(f"{op}: avg_fn must return a tensor, got {describe(result)}")
    shape = tuple(getattr(array, "shape", ()))
    if shape != like.shape and shape != ():
        raise ShapeError(f"{op}: avg_fn returned shape {shape} for a tensor of shape {like.shape}")
    return array


# ------------------------------------------------------------------ BatchNorm statistics
def update_bn(loader: Iterable, model: Module, device: Any = None) -> None:
    """Recompute every BatchNorm layer's running statistics in ``model`` with one pass over ``loader``.

    The statistics are reset and then become the cumulative average over the batches (momentum None);
    the layers' momenta and ``model``'s training mode are put back afterwards (also when a batch fails).
    A batch that is a list or tuple is passed by its first element; ``device`` moves each batch there.
    Nothing is recorded for backward.
    """
    op = "update_bn"
    if not isinstance(model, Module):
        raise ArgumentTypeError(f"{op}: model must be a gk.nn.Module, got {describe(model)}")
    if not (isinstance(loader, Iterable) or callable(getattr(type(loader), "__getitem__", None))):  # as iter()
        raise ArgumentTypeError(f"{op}: loader must be an iterable of batches, got {describe(loader)}")
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    if not batch:
                        raise InvalidArgumentError(f"{op}: a batch is an empty {type(batch).__name__}")
                    batch = batch[0]
                if device is not None:
                    if not hasattr(batch, "to"):
                        raise ArgumentTypeError(f"{op}: a batch to move to {device!r} must be a tensor, "
                                                f"got {describe(batch)}")
                    batch = batch.to(device)
                model(batch)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


# ------------------------------------------------------------------ the learning-rate schedule
def _linear_anneal(t: float) -> float:
    return t


def _cosine_anneal(t: float) -> float:
    return (1 - math.cos(math.pi * t)) / 2


_ANNEAL = {"cos": _cosine_anneal, "linear": _linear_anneal}
_OLD_ANNEAL_NAMES = {"_cosine_anneal": "cos", "_linear_anneal": "linear"}  # PyTorch's static methods


class SWALR(LRScheduler):
    """Anneal each group's lr to its ``swa_lr`` (one for every group, or a list with one per group) over
    ``anneal_epochs`` epochs, by ``anneal_strategy`` "cos" or "linear", then keep it (PyTorch's SWALR).

    The groups keep their ``swa_lr``; the anneal starts from each group's lr when the scheduler is made
    (``anneal_epochs=0`` sets ``swa_lr`` at once). As PyTorch's, the schedule follows the number of
    ``step()`` calls, not ``last_epoch``.
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        name = "SWALR"
        _check_optimizer(optimizer, name)
        swa_lrs = _per_group(swa_lr, optimizer, name, "swa_lr")
        self._anneal_strategy = _choice(anneal_strategy, name, "anneal_strategy", tuple(_ANNEAL))
        self.anneal_epochs = whole(anneal_epochs, name, "anneal_epochs", low=0)
        whole(last_epoch, name, "last_epoch", low=-1)
        before = [group.get("swa_lr", _MISSING) for group in optimizer.param_groups]
        for group, lr in zip(optimizer.param_groups, swa_lrs, strict=True):
            group["swa_lr"] = lr
        try:
            super().__init__(optimizer, last_epoch)
        except Exception:  # the groups as they were
            for group, old in zip(optimizer.param_groups, before, strict=True):
                if old is _MISSING:
                    del group["swa_lr"]
                else:
                    group["swa_lr"] = old
            raise

    def anneal_func(self, t: float) -> float:
        """The fraction of the way to ``swa_lr`` at ``t`` in [0, 1] (the strategy's curve)."""
        return _ANNEAL[self._anneal_strategy](t)

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        swa_lrs = [_swa_lr(group, i) for i, group in enumerate(groups)]
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0.0, min(1.0, (step - 1) / span)))
        alpha = self.anneal_func(max(0.0, min(1.0, step / span)))
        return [
            swa * alpha + self._get_initial_lr(group["lr"], swa, prev_alpha) * (1 - alpha)
            for group, swa in zip(groups, swa_lrs, strict=True)
        ]

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned, or a PyTorch SWALR's: an older PyTorch's holds
        its ``anneal_func`` (a function) instead of ``_anneal_strategy``, which is read from the function's
        name; the function itself is not kept (it would hide this scheduler's ``anneal_func`` method)."""
        if isinstance(state_dict, Mapping) and "anneal_func" in state_dict:
            state_dict = dict(state_dict)
            func = state_dict.pop("anneal_func")
            name = getattr(func, "__name__", "")
            if "_anneal_strategy" not in state_dict and name in _OLD_ANNEAL_NAMES:
                state_dict["_anneal_strategy"] = _OLD_ANNEAL_NAMES[name]
        super().load_state_dict(state_dict)

    def _validate(self, values: Mapping, op: str) -> None:
        super()._validate(values, op)
        _choice(values["_anneal_strategy"], op, "_anneal_strategy", tuple(_ANNEAL))
        whole(values["anneal_epochs"], op, "anneal_epochs", low=0)


_MISSING = object()


def _swa_lr(group: dict, i: int) -> float:
    if "swa_lr" not in group:
        raise InvalidArgumentError(
            f"SWALR.step: parameter group {i} has no 'swa_lr' (a group added after the scheduler was made?)"
        )
    return real(group["swa_lr"], "SWALR.step", f"parameter group {i}'s 'swa_lr'", low=0.0)
