"""``gk.amp.GradScaler``: PyTorch's dynamic loss scaling, with its semantics, messages and state_dict keys.

The scale (a 0-d float32 array) and the growth tracker (a 0-d int32 array) live on the device of the first
tensor given to :meth:`GradScaler.scale`, as PyTorch's, and every update of them is an array operation there:
``unscale_`` multiplies each gradient in place by the reciprocal of the scale (computed in float64, as
PyTorch's) and records, in a 0-d float32 ``found_inf`` per device, whether any gradient held an inf or NaN;
``update`` applies PyTorch's ``_amp_update_scale_`` rule on the device. The only host reads are PyTorch's:
``step`` reads ``found_inf`` to decide whether to call ``optimizer.step()``, and ``get_scale`` /
``state_dict`` read the scale.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from enum import Enum
from typing import Any

import numpy as np

from gradkit.errors import GradkitError, InvalidArgumentError

__all__ = ["GradScaler", "GradScalerError", "OptState"]

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)


class GradScalerError(GradkitError, RuntimeError):
    """A GradScaler call out of order (PyTorch raises RuntimeError for these)."""


class _ScalerAssertion(GradScalerError, AssertionError):
    """PyTorch's AssertionError cases (no ``scale()`` before ``update()``, no gradients to check, bad factors);
    also a RuntimeError and a GradkitError."""


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


#: NumPy's floating-point warnings off where the scaler expects inf and NaN (an overflowing scaled loss, its
#: gradients, their unscaling): PyTorch is silent there, and a skipped step is the designed outcome
_QUIET = {"over": "ignore", "invalid": "ignore", "under": "ignore"}


def _unscale_and_check(xp: Any, grads: list, found_inf: Any, inv_scale: Any) -> None:
    """PyTorch's ``_amp_foreach_non_finite_check_and_unscale_``: ``found_inf`` becomes 1.0 if any gradient holds
    an inf or NaN; every gradient is multiplied by ``inv_scale`` in place (found or not). No host reads on CuPy."""
    if xp is np:
        inv = inv_scale[()]
        with np.errstate(**_QUIET):
            for g in grads:
                if not np.isfinite(g).all():
                    found_inf[()] = 1.0
                np.multiply(g, inv, out=g, casting="unsafe")
        return
    for g in grads:
        bad = xp.logical_not(xp.isfinite(g).all())
        xp.maximum(found_inf, bad.astype(found_inf.dtype), out=found_inf)
        xp.multiply(g, inv_scale.astype(g.dtype), out=g)


def _scaled_grad(g: Any, s: Any) -> Any:
    """The gradient of a float16 ``scale()``: ``g * s`` taken in float32 and rounded once to ``g``'s dtype (a
    recorded computation, so that ``create_graph=True`` differentiates it)."""
    from gradkit.ops import astype

    with np.errstate(**_QUIET):
        return astype(astype(g, _F32) * s, g.dtype)


def _update_scale(xp: Any, scale: Any, tracker: Any, found_inf: Any, growth_factor: float,
                  backoff_factor: float, growth_interval: int) -> None:
    """PyTorch's ``_amp_update_scale_``, in place on the 0-d ``scale`` (float32) and ``tracker`` (int32)."""
    if xp is np:
        if found_inf[()]:
            scale[()] = np.float32(float(scale[()]) * backoff_factor)
            tracker[()] = 0
        else:
            successful = int(tracker[()]) + 1
            if successful == growth_interval:
                with np.errstate(over="ignore"):
                    grown = np.float32(float(scale[()]) * growth_factor)
                if np.isfinite(grown):
                    scale[()] = grown
                tracker[()] = 0
            else:
                tracker[()] = successful
        return
    found = found_inf != 0
    s64 = scale.astype(np.float64)
    successful = tracker + 1
    grow = xp.logical_and(xp.logical_not(found), successful == growth_interval)
    grown = (s64 * growth_factor).astype(np.float32)
    grown_ok = xp.logical_and(grow, xp.isfinite(grown))
    backed = (s64 * backoff_factor).astype(np.float32)
    new_scale = xp.where(found, backed, xp.where(grown_ok, grown, scale))
    new_tracker = xp.where(xp.logical_or(found, grow), 0, successful).astype(tracker.dtype)
    scale[...] = new_scale
    tracker[...] = new_tracker


def _float(value: Any, name: str) -> float:
    from gradkit._args import real

    return real(value, "GradScaler", name)


class GradScaler:
    """PyTorch's ``torch.amp.GradScaler(device="cuda", init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``::

        scaler = gk.amp.GradScaler()
        for x, y in data:
            optimizer.zero_grad()
            with gk.autocast("cuda"):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)      # skipped when a gradient held inf or NaN
            scaler.update()             # backoff on inf, growth after growth_interval clean steps

    ``device="cuda"`` without a GPU warns and disables the scaler, as PyTorch's; disabled, every method is a
    pass-through (``scale`` returns its input, ``step`` calls ``optimizer.step``, ``get_scale()`` is 1.0,
    ``state_dict()`` is ``{}``).
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        from gradkit._args import flag

        if not isinstance(device, str):
            raise InvalidArgumentError(f"GradScaler: device must be 'cuda' or 'cpu', got {device!r:.40}")
        self._device = device
        self._enabled = flag(enabled, "GradScaler", "enabled")
        if self._device == "cuda" and self._enabled:
            from gradkit.backends import cuda_available

            if not cuda_available():
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise _ScalerAssertion("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise _ScalerAssertion("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Any = None  # 0-d float32 array on self._backend
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: Any = None  # 0-d int32 array
            self._backend: Any = None
            self._per_optimizer_states: defaultdict = defaultdict(_refresh_per_optimizer_state)

    # ------------------------------------------------------------------ internals
    def _check_scale_growth_tracker(self, funcname: str) -> tuple:
        fix = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
        if self._scale is None:
            raise _ScalerAssertion(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise _ScalerAssertion(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, backend: Any) -> None:
        xp = backend.xp
        self._backend = backend
        self._scale = xp.full((), self._init_scale, dtype=np.float32)
        self._growth_tracker = xp.full((), self._init_growth_tracker, dtype=np.int32)

    def _on(self, array: Any, backend: Any) -> Any:
        """``array`` (on the scaler's device) on ``backend``'s device (the same array when it is the same)."""
        return array if backend is self._backend else backend.transfer(array, self._backend)

    def _scaled(self, t: Any, replicas: dict) -> Any:
        from gradkit.tensor import Tensor

        backend = t._backend
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(backend)
        s = replicas.get(backend)
        if s is None:
            s = replicas[backend] = self._on(self._scale, backend)
        dt = t._data.dtype
        if dt.kind == "f" and dt != _F32 and dt != np.float64:
            # PyTorch: a 0-d scale does not widen the result, but the product is taken in float32 (a float16
            # scale of 65536 would be inf) and rounded once; inf in float16 (forward or backward) is expected
            from gradkit.autograd.function import record

            with np.errstate(**_QUIET):
                data = (t._data.astype(_F32) * s).astype(dt)
            out = record("GradScaler.scale", data, backend, (t,), (_scaled_grad,), (Tensor._make(s, backend),))
        else:
            with np.errstate(**_QUIET):
                out = t * Tensor._make(s, backend)
        if out._grad_fn is not None:  # inf and nan in its backward are what the scaler looks for: no warnings
            out._grad_fn.quiet_backward = True
        return out

    # ------------------------------------------------------------------ PyTorch's methods
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or lists/tuples of them, nested) multiplied by the scale factor."""
        if not self._enabled:
            return outputs
        from gradkit.tensor import Tensor

        replicas: dict = {}

        def apply_scale(val: Any) -> Any:
            if isinstance(val, Tensor):
                return self._scaled(val, replicas)
            if isinstance(val, (list, tuple)):
                return type(val)(apply_scale(v) for v in val)
            if isinstance(val, (str, bytes)) or not hasattr(val, "__iter__"):
                raise InvalidArgumentError("outputs must be a Tensor or an iterable of Tensors")
            return map(apply_scale, val)

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer: Any, inv_scale: Any, found_inf: Any, allow_fp16: bool) -> dict:
        per_device: dict = defaultdict(lambda: defaultdict(list))
        for group in optimizer.param_groups:
            for param in group["params"]:
                grad = getattr(param, "grad", None)
                if grad is None:
                    continue
                if not allow_fp16 and grad._data.dtype == _F16:
                    raise InvalidArgumentError("Attempting to unscale FP16 gradients.")
                per_device[grad._backend][grad._data.dtype].append(grad)
        found_per_device = {}
        for backend, per_dtype in per_device.items():
            found = found_per_device[backend.device] = self._on(found_inf, backend).copy()
            inv = self._on(inv_scale, backend)
            for grads in per_dtype.values():
                _unscale_and_check(backend.xp, [g._data for g in grads], found, inv)
                for g in grads:
                    g._version[0] += 1  # written in place
        return found_per_device

    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place (once per step and optimizer), noting
        whether any held inf or NaN. Call it before clipping gradients; ``step`` then does not unscale again."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.UNSCALED:
            raise GradScalerError("unscale_() has already been called on this optimizer since the last update().")
        if optimizer_state["stage"] is OptState.STEPPED:
            raise GradScalerError("unscale_() is being called after step().")
        xp = self._backend.xp
        # FP32 division can be imprecise for certain compile options, so the reciprocal is taken in FP64 (PyTorch)
        inv_scale = (1.0 / self._scale.astype(np.float64)).astype(np.float32)
        found_inf = xp.zeros((), dtype=np.float32)
        optimizer_state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf, False)
        optimizer_state["stage"] = OptState.UNSCALED

    def _maybe_opt_step(self, optimizer: Any, optimizer_state: dict, *args: Any, **kwargs: Any) -> Any:
        retval = None
        if not sum(float(v) for v in optimizer_state["found_inf_per_device"].values()):  # PyTorch's host read
            retval = optimizer.step(*args, **kwargs)
        return retval

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale the gradients (unless ``unscale_`` did) and call ``optimizer.step(*args, **kwargs)`` unless
        one held inf or NaN; return what it returned, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise GradScalerError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.STEPPED:
            raise GradScalerError("step() has already been called since the last update().")
        if optimizer_state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(optimizer_state["found_inf_per_device"]) == 0:
            raise _ScalerAssertion("No inf checks were recorded for this optimizer.")
        retval = self._maybe_opt_step(optimizer, optimizer_state, *args, **kwargs)
        optimizer_state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: Any = None) -> None:
        """Back the scale off (``backoff_factor``) if any optimizer stepped this iteration found inf or NaN,
        else grow it (``growth_factor``) after ``growth_interval`` clean steps in a row; or set it to
        ``new_scale`` (a float or a one-element tensor that does not require grad)."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            from gradkit.tensor import Tensor

            if isinstance(new_scale, float):
                scale[...] = new_scale
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                          "torch.FloatTensor with requires_grad=False.")
                if (not isinstance(new_scale, Tensor) or _kind(new_scale._backend) != _kind(self._backend)
                        or new_scale.size != 1 or new_scale.requires_grad):
                    raise _ScalerAssertion(reason)
                data = new_scale._data.reshape(())
                if new_scale._backend is not self._backend:
                    data = self._backend.transfer(data, new_scale._backend)
                scale[...] = data
        else:
            found_infs = [(device, found)
                          for state in self._per_optimizer_states.values()
                          for device, found in state["found_inf_per_device"].items()]
            if len(found_infs) == 0:
                raise _ScalerAssertion("No inf checks were recorded prior to update.")
            _update_scale(self._backend.xp, scale, tracker, self._combine(found_infs), self._growth_factor,
                          self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _combine(self, found_infs: list) -> Any:
        """The (device, found_inf) entries summed on the scaler's device."""
        from gradkit.backends import get_backend

        total = None
        for device, found in found_infs:
            backend = get_backend(device)
            here = found if backend is self._backend else self._backend.transfer(found, backend)
            total = here if total is None else total + here
        return total

    def _get_scale_async(self) -> Any:
        """The scale as a 0-d tensor on its device (no host read), or None before the first ``scale()``."""
        from gradkit.tensor import Tensor

        return None if self._scale is None else Tensor._make(self._scale, self._backend)

    def get_scale(self) -> float:
        """The scale factor as a Python float (a host read, as PyTorch's); 1.0 when disabled."""
        if self._enabled:
            return float(self._init_scale) if self._scale is None else float(self._scale)
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if self._enabled:
            return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker)
        return 0

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker ({} when
        disabled)."""
        if self._enabled:
            return {
                "scale": self.get_scale(),
                "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker(),
            }
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise GradScalerError("The source state dict is empty, possibly because it was saved "
                                  "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale[...] = state_dict["scale"]
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker[...] = state_dict["_growth_tracker"]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise _ScalerAssertion("A GradScaler instance may only be pickled at the beginning "
                                       "of an iteration, or at the end after scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_backend"] = None
            state["_per_optimizer_states"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.__dict__.get("_enabled"):
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _check_inf_per_device(self, optimizer: Any) -> dict:
        scale, _ = self._check_scale_growth_tracker("_check_inf_per_device")
        xp = self._backend.xp
        dummy_inv_scale = xp.full((), 1.0, dtype=np.float32)
        found_inf = xp.zeros((), dtype=np.float32)
        state = self._per_optimizer_states[id(optimizer)]
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, dummy_inv_scale, found_inf, True)
        return state["found_inf_per_device"]

    def _found_inf_per_device(self, optimizer: Any) -> dict:
        return self._per_optimizer_states[id(optimizer)]["found_inf_per_device"]


def _kind(backend: Any) -> str:
    return "cpu" if backend.name == "numpy" else "cuda"
