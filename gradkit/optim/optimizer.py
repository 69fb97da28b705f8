"""``Optimizer``: parameter groups, state, ``zero_grad`` and the state dict (PyTorch's layout).

Subclasses implement ``_update_group(group)``, which updates each parameter's
array in place through a kernel of ``gradkit.kernels`` or backend array calls
(no graph is recorded, no Tensor is made per operation, temporaries come from
``_scratch``) and bumps the parameter's version counter; ``_with_grads`` walks
a group's parameters that have gradients and does the bump.

Hooks, as PyTorch 2.x's: per optimiser (``register_step_pre_hook`` and the others) and global
(``register_optimizer_step_pre_hook``, ``register_optimizer_step_post_hook``). The ``step`` of
``Optimizer`` and of every subclass that defines its own (LBFGS, a user's) is wrapped to run them
(``_wrap_step``), as PyTorch wraps each optimiser class's ``step``; with no step hook the wrapper costs
four empty-dict tests.
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from gradkit import kernels
from gradkit._args import flag
from gradkit.autograd import grad_mode
from gradkit.errors import ArgumentTypeError, InvalidArgumentError
from gradkit.nn.module import HookError, RemovableHandle, _foreign_array, _native_array
from gradkit.nn.utils import _check_foreach, clear_grads
from gradkit.tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


#: Marks a hyperparameter without a default (SGD's lr).
required: Any = _Required()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# The optimisers that take PyTorch's ``fused=True`` and run their updates as gradkit's fused kernels (RMSprop's
# update is fused too, but PyTorch's RMSprop has no ``fused`` keyword).
_FUSED = "SGD, Adam and AdamW"

#: The global step hooks (``register_optimizer_step_pre_hook``/``_post_hook``), PyTorch's names: every optimiser's
#: step runs the pre-hooks before its own, and the post-hooks after its own.
_global_optimizer_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable] = OrderedDict()

#: An optimiser's own hook tables (PyTorch's attribute names). A copy or a pickle has none, as in PyTorch.
_HOOK_TABLES = (
    "_optimizer_step_pre_hooks",
    "_optimizer_step_post_hooks",
    "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks",
    "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)

#: What an optimiser without a table of its own reads (a subclass whose ``__init__`` does not call
#: ``Optimizer.__init__``, which PyTorch's optimisers and gradkit's before the hooks allowed): no hooks.
_NO_HOOKS: Mapping[int, Callable] = MappingProxyType({})


class _HookHandle(RemovableHandle):
    """What an optimiser's ``register_*_hook`` returns: ``nn.RemovableHandle`` (``remove()``, ``id``, ``with``)
    over one hook table, which it refers to weakly (the handle keeps neither the optimiser nor its hooks alive)."""

    def __init__(self, table: OrderedDict) -> None:
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self._table = weakref.ref(table)

    def remove(self) -> None:
        """Take the hook off (calling it again does nothing)."""
        table = self._table()
        if table is not None:
            table.pop(self.id, None)


def _register(table: OrderedDict, hook: Any, op: str, prepend: Any = False) -> _HookHandle:
    """Put ``hook`` in ``table`` (first with ``prepend``, else last)."""
    if not callable(hook):
        raise ArgumentTypeError(f"{op}: hook must be callable, got {type(hook).__name__} {hook!r:.40}")
    prepend = flag(prepend, op, "prepend")
    handle = _HookHandle(table)
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call ``hook(optimizer, args, kwargs)`` before every optimiser's ``step`` (before its own pre-hooks), as
    ``torch.optim.optimizer.register_optimizer_step_pre_hook``; ``args`` starts with the optimiser. What it returns,
    if not None, must be a tuple ``(new_args, new_kwargs)``, which the step is then called with."""
    return _register(_global_optimizer_pre_hooks, hook, "register_optimizer_step_pre_hook")


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call ``hook(optimizer, args, kwargs)`` after every optimiser's ``step`` (after its own post-hooks), as
    ``torch.optim.optimizer.register_optimizer_step_post_hook``; what it returns is ignored."""
    return _register(_global_optimizer_post_hooks, hook, "register_optimizer_step_post_hook")


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with "params" and hyperparameters) and ``state``.

    PyTorch's implementation switches ``foreach``, ``fused`` and ``differentiable`` are taken by
    each optimiser that PyTorch's takes them on and checked here, once: ``foreach`` (None, True or
    False) has no effect (gradkit has one implementation); ``fused=True`` is accepted where the
    update is one of gradkit's fused kernels (on CuPy; ``_fused``), refused elsewhere;
    ``differentiable=True`` is refused. None of them is stored in the parameter groups.

    ``params`` may also be ``model.named_parameters()`` ((name, tensor) pairs, as PyTorch 2.6+), in a
    group's "params" too: the names go to the group's "param_names" (and so into ``state_dict()``);
    they do not affect loading. Every group has names, or none does.
    """

    #: Whether the update runs as a fused kernel of ``gradkit.kernels`` (``fused=True`` accepted).
    _fused = False

    # The hook tables an instance reads until it has its own (``__init__`` makes them; so does the first
    # ``register_*_hook`` of an instance that skipped it): empty and read-only.
    _optimizer_step_pre_hooks = _optimizer_step_post_hooks = _NO_HOOKS
    _optimizer_state_dict_pre_hooks = _optimizer_state_dict_post_hooks = _NO_HOOKS
    _optimizer_load_state_dict_pre_hooks = _optimizer_load_state_dict_post_hooks = _NO_HOOKS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _wrap_step(cls)

    def __init__(self, params: Any, defaults: dict, *, foreach: bool | None = None, fused: bool | None = None,
                 differentiable: bool = False) -> None:
        for table in _HOOK_TABLES:  # hooks a subclass registered before calling this are kept
            self.__dict__.setdefault(table, OrderedDict())
        self._check_implementation(foreach, fused, differentiable)
        if not isinstance(defaults, Mapping):
            raise ArgumentTypeError(
                f"{type(self).__name__}: defaults must be a dict of hyperparameters, got {type(defaults).__name__}"
            )
        self.defaults = dict(defaults)
        # PyTorch's defaultdict(dict): a subclass's step may write ``self.state[p]['key'] = ...`` directly
        self.state: dict[Tensor, dict] = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._scratch_flat: dict[tuple, Any] = {}
        self._scratch_views: dict[Tensor, Any] = {}  # slot 0's; the other slots' in _scratch_slots
        self._scratch_slots: dict[int, dict[Tensor, Any]] = {}
        name = type(self).__name__
        if isinstance(params, (Tensor, Mapping, np.ndarray, str, bytes)) or not isinstance(params, Iterable):
            raise ArgumentTypeError(
                f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), "
                f"got {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            raise ArgumentTypeError(f"{name}: params must be an ordered sequence, not a set (the order must be fixed)")
        groups = list(params)
        if not groups:
            raise InvalidArgumentError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __getstate__(self) -> dict:
        """Pickling and copying (``copy``, ``deepcopy``): everything but the hooks, as PyTorch's."""
        return {k: v for k, v in self.__dict__.items() if k not in _HOOK_TABLES and k != "_in_hooked_step"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if type(self.__dict__.get("state")) is dict:  # pickled before the state was a defaultdict
            self.state = defaultdict(dict, self.state)
        for table in _HOOK_TABLES:
            setattr(self, table, OrderedDict())

    def _check_implementation(self, foreach: Any, fused: Any, differentiable: Any) -> None:
        """Check PyTorch's ``foreach``, ``fused`` and ``differentiable`` (see the class docstring)."""
        name = type(self).__name__
        _check_foreach(foreach, name)
        fused = fused is not None and flag(fused, name, "fused")
        if flag(differentiable, name, "differentiable"):
            raise InvalidArgumentError(
                f"{name}: differentiable=True is not supported: gradkit's optimisers update the parameters in "
                "place, outside autograd, so a step cannot be differentiated; pass differentiable=False"
            )
        if fused and foreach:
            raise InvalidArgumentError(f"{name}: fused=True and foreach=True cannot be set together (as in PyTorch)")
        if fused and not self._fused:
            raise InvalidArgumentError(
                f"{name}: fused=True, but {name} has no fused kernel in gradkit (the fused optimisers are {_FUSED}); "
                "pass fused=None or False"
            )

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group: Mapping) -> None:
        """Add a group: a dict with "params" and any hyperparameters that differ from the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise ArgumentTypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise InvalidArgumentError(f"{name}: a parameter group needs a 'params' entry")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise ArgumentTypeError(f"{name}: params must be an ordered sequence, not a set (the order must be fixed)")
        else:
            params = list(params)
        names = None
        if any(isinstance(p, tuple) for p in params):  # named_parameters(): (name, tensor) pairs, as PyTorch 2.6+
            if not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
                raise InvalidArgumentError(
                    f"{name}: a parameter group must give every parameter as a (name, tensor) pair "
                    "(named_parameters()) or none"
                )
            names = [n for n, _ in params]
            params = [p for _, p in params]
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"{name}: parameter {i} of a group is a {type(p).__name__}, not a Tensor")
            if p._grad_fn is not None:
                raise InvalidArgumentError(f"{name}: parameter {i} is not a leaf tensor; optimise leaves only")
            if p.dtype.kind != "f":
                raise InvalidArgumentError(
                    f"{name}: parameter {i} has dtype {p.dtype}; only float tensors can be optimised"
                )
            if id(p) in seen:
                raise InvalidArgumentError(f"{name}: parameter {i} appears more than once (in this or another group)")
            seen.add(id(p))
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        if self.param_groups and ("param_names" in group) != ("param_names" in self.param_groups[0]):
            raise InvalidArgumentError(
                f"{name}: every parameter group must have parameter names (from named_parameters()) or none; "
                f"this one has {'' if 'param_names' in group else 'no '}names, the first group "
                f"{'has' if 'param_names' in self.param_groups[0] else 'has none'}"
            )
        for key, default in self.defaults.items():
            if key not in group:
                if default is required:
                    raise InvalidArgumentError(
                        f"{name}: the parameter group does not set {key!r}, which has no default"
                    )
                group[key] = default
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's hyperparameters (subclasses call ``_check`` for each)."""

    def _check(self, key: str, value: Any, low: float, high: float = math.inf, low_open: bool = False,
               high_open: bool = False) -> None:
        """Raise InvalidArgumentError unless ``low <= value <= high`` (with open ends as asked); a value that is not
        a number is an ArgumentTypeError (PyTorch's TypeError)."""
        name = type(self).__name__
        if not _is_number(value):
            raise ArgumentTypeError(f"{name}: {key} must be a number, got {type(value).__name__} {value!r}")
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not ok:
            left = f"{low} < " if low_open else f"{low} <= "
            right = "" if high == math.inf else (f" < {high}" if high_open else f" <= {high}")
            raise InvalidArgumentError(f"{name}: invalid {key}={value!r}; expected {left}{key}{right}")

    # ------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each ``step`` (after the global pre-hooks); ``args``
        starts with the optimiser. What it returns, if not None, must be a tuple ``(new_args, new_kwargs)``,
        which the later hooks see and the step is called with (else HookError, a RuntimeError)."""
        return _register(self._hook_table("_optimizer_step_pre_hooks"), hook, "register_step_pre_hook")

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each ``step`` (before the global post-hooks), with the
        arguments the step was called with; what it returns is ignored."""
        return _register(self._hook_table("_optimizer_step_post_hooks"), hook, "register_step_post_hook")

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` at the start of each ``state_dict()`` (first of all with ``prepend``)."""
        return _register(self._hook_table("_optimizer_state_dict_pre_hooks"), hook, "register_state_dict_pre_hook",
                         prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` on what ``state_dict()`` made; it may change the dict in place or
        return another (not None), which the later hooks get and ``state_dict()`` returns."""
        return _register(self._hook_table("_optimizer_state_dict_post_hooks"), hook, "register_state_dict_post_hook",
                         prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` at the start of each ``load_state_dict``, on a shallow copy of the
        dict given; it may change that copy in place or return another dict (not None), which is then loaded."""
        return _register(self._hook_table("_optimizer_load_state_dict_pre_hooks"), hook,
                         "register_load_state_dict_pre_hook", prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` once ``load_state_dict`` has loaded a state dict."""
        return _register(self._hook_table("_optimizer_load_state_dict_post_hooks"), hook,
                         "register_load_state_dict_post_hook", prepend)

    def _hook_table(self, name: str) -> OrderedDict:
        """This optimiser's own hook table ``name``, made here if its ``__init__`` skipped ``Optimizer.__init__``."""
        table = self.__dict__.get(name)
        if table is None:
            table = self.__dict__[name] = OrderedDict()
        return table

    def _step_with_hooks(self, step: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """``step(*args, **kwargs)`` between the step hooks, in PyTorch's order: the global pre-hooks, this
        optimiser's, the step, this optimiser's post-hooks, the global ones. The hooks registered when each
        list starts all run (one removed meanwhile too). A step called within a step (a subclass's ``step``
        calling ``super().step()``) runs no hooks of its own."""
        if self.__dict__.get("_in_hooked_step"):
            return step(*args, **kwargs)
        for hook in [*_global_optimizer_pre_hooks.values(), *self._optimizer_step_pre_hooks.values()]:
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise HookError(
                        f"{type(self).__name__}.step: a step pre-hook must return None or a tuple "
                        f"(new_args, new_kwargs), got {type(result).__name__} {result!r:.60}"
                    )
                args, kwargs = result
        self._in_hooked_step = True
        try:
            out = step(*args, **kwargs)
        finally:
            del self._in_hooked_step
        for hook in [*self._optimizer_step_post_hooks.values(), *_global_optimizer_post_hooks.values()]:
            hook(self, args, kwargs)
        return out

    # ------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (to None by default, as PyTorch; else to new zero tensors)."""
        if set_to_none is not True:  # the default needs no check: zero_grad runs every step
            set_to_none = flag(set_to_none, f"{type(self).__name__}.zero_grad", "set_to_none")
        params = [p for group in self.param_groups for p in group["params"]]
        if set_to_none and all(isinstance(p, Tensor) for p in params):  # clear_grads' work, without its checks
            for p in params:
                p._grad = None
            return
        clear_grads(params, set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` when one is given."""
        loss = None
        if closure is not None and not callable(closure):
            raise ArgumentTypeError(f"{type(self).__name__}.step: closure must be a function, got {closure!r:.40}")
        if not isinstance(self.param_groups, list) or not all(isinstance(g, dict) for g in self.param_groups):
            raise ArgumentTypeError(
                f"{type(self).__name__}.step: param_groups must be a list of dicts, got "
                f"{type(self.param_groups).__name__} {self.param_groups!r:.60}"
            )
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        for group in self.param_groups:
            try:
                self._update_group(group)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                if isinstance(exc, (InvalidArgumentError, ArgumentTypeError)):
                    raise
                raise self._explain_failed_step(group, exc) from None
        return loss

    def _explain_failed_step(self, group: Any, exc: Exception) -> Exception:
        """The GradkitError for a step that failed: a group edited into a bad state, or a parameter
        whose shape or dtype changed since its state was made."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            got = f"{group!r:.60}"
            return ArgumentTypeError(f"{name}.step: param_groups must be a list of dicts with 'params', got {got}")
        try:
            self._check_group(dict(group))
        except (InvalidArgumentError, ArgumentTypeError) as bad:
            return type(bad)(f"{name}.step: a parameter group was changed to an invalid value: {bad}")
        except Exception:
            return InvalidArgumentError(f"{name}.step: a parameter group holds an invalid value ({exc})")
        return InvalidArgumentError(
            f"{name}.step: the update failed ({type(exc).__name__}: {exc}); did a parameter's shape or dtype change "
            "since the optimiser's state was made (replacing .data)? Make a new optimiser, or load a state dict"
        )

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError

    def _with_grads(self, group: dict, new_state: Callable[[Tensor], dict]) -> Iterator[tuple[Tensor, Any, dict]]:
        """``(p, grad array, state)`` for each parameter of ``group`` that has a gradient, its state made by
        ``new_state(p)`` when it has none; ``p``'s version is bumped once the caller's update of it is done."""
        state = self.state
        first_key = self._state_keys[0] if self._state_keys else None
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            st = state.get(p)
            if st is None:
                st = state[p] = new_state(p)
            elif not st or (first_key is not None and first_key not in st):
                # an entry that reading ``state[p]`` made (a defaultdict, as PyTorch's), or one holding only a
                # subclass's own keys (SAM's "old_p"): this optimiser's state is added to it
                st.update(new_state(p))
            yield p, g._data, st
            p._version[0] += 1

    @staticmethod
    def _zeros(p: Tensor) -> Tensor:
        """A new state tensor of zeros shaped like ``p`` (a moment or momentum buffer)."""
        return Tensor._make(p._backend.xp.zeros_like(p._data), p._backend)

    def _scratch_unless_fused(self, kernel: str, p: Tensor, *arrays: Any) -> Any:
        """``_scratch(p)`` for ``kernel``'s reference update; None where its fused CuPy kernel runs on
        ``arrays`` (those the fused version checks), which needs no temporary."""
        return None if kernels.runs_fused(kernel, *arrays) else self._scratch(p)

    def _scratch(self, p: Tensor, slot: int = 0) -> Any:
        """A temporary array of ``p``'s shape and dtype, a view of one flat buffer per dtype, device and slot.

        The kernels use it so that a step allocates nothing; its contents
        do not survive from one parameter to the next. An update that needs
        several temporaries at once takes each from another ``slot`` (0, 1, ...).
        """
        data = p._data
        views = self._scratch_views if slot == 0 else self._scratch_slots.setdefault(slot, {})
        view = views.get(p)
        if view is not None and view.shape == data.shape and view.dtype == data.dtype and type(view) is type(data):
            return view
        xp = p._backend.xp
        key = (type(data), data.dtype, p._backend.device, slot)
        flat = self._scratch_flat.get(key)
        if flat is None or flat.size < data.size:
            size = max(
                (q._data.size for g in self.param_groups for q in g["params"] if q._backend is p._backend
                 and q._data.dtype == data.dtype),
                default=data.size,
            )
            flat = xp.empty(max(size, data.size), dtype=data.dtype)
            self._scratch_flat[key] = flat
            views.clear()
        view = flat[: data.size].reshape(data.shape)
        views[p] = view
        return view

    # ------------------------------------------------------------ state dict
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`` as PyTorch.

        Parameters are numbered in group order; state tensors are the live
        ones (not copies). The state dict hooks run first and last (``register_state_dict_pre_hook``).
        """
        for hook in list(self._optimizer_state_dict_pre_hooks.values()):
            hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: (list(v) if k == "param_names" else v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = dict(self.state[p])
        state_dict = {"state": state, "param_groups": groups}
        for hook in list(self._optimizer_state_dict_post_hooks.values()):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Load a state dict made by ``state_dict()`` (of an optimiser over the same parameter shapes).

        State tensors are copied onto each parameter's device, and float ones
        cast to its dtype. The groups' hyperparameters are taken from the dict.
        Everything is checked before anything changes: a state dict of another
        optimiser class, or a malformed one, raises InvalidArgumentError and
        leaves this optimiser as it was. The load hooks run first (on a shallow
        copy of ``state_dict``) and last (``register_load_state_dict_pre_hook``).
        """
        name = type(self).__name__
        if self._optimizer_load_state_dict_pre_hooks:
            if isinstance(state_dict, Mapping):
                state_dict = dict(state_dict)  # as PyTorch's state_dict.copy(): the hooks may edit it in place
            for hook in list(self._optimizer_load_state_dict_pre_hooks.values()):
                result = hook(self, state_dict)
                if result is not None:
                    state_dict = result
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise InvalidArgumentError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups', "
                f"got {type(state_dict).__name__}"
            )
        try:
            states = state_dict["state"]
            if isinstance(states, Mapping) and any(isinstance(e, Mapping) and not e for e in states.values()):
                # an empty entry is what reading ``state[p]`` (a defaultdict) leaves: as no entry at all (PyTorch
                # keeps it; the key checks of the parse would refuse it)
                kept = {}
                for k, e in states.items():
                    if isinstance(e, Mapping) and not e:
                        int(k)  # an index still (a malformed key is refused below as the parse would)
                    else:
                        kept[k] = e
                state_dict = {**state_dict, "state": kept}
            state_dict = self._native_arrays(state_dict)
            new_groups, new_state = self._parse_state_dict(state_dict, name)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, InvalidArgumentError | ArgumentTypeError):
                raise
            raise InvalidArgumentError(
                f"{name}.load_state_dict: malformed state dict ({type(exc).__name__}: {exc})"
            ) from None
        self.param_groups = new_groups
        self.state = new_state if type(new_state) is defaultdict else defaultdict(dict, new_state)
        self._scratch_views.clear()
        self._scratch_slots.clear()
        for hook in list(self._optimizer_load_state_dict_post_hooks.values()):
            hook(self)

    def _native_arrays(self, state_dict: Mapping) -> Mapping:
        """``state_dict`` with other libraries' arrays in its state (a PyTorch optimiser's tensors) read as
        NumPy or CuPy arrays where their parameters are, as ``Module.load_state_dict`` reads them."""
        states = state_dict["state"]
        if not any(_foreign(v) for entry in states.values() if isinstance(entry, Mapping) for v in entry.values()):
            return state_dict
        # Where each state goes (its parameter's device); counts that do not match are refused by the parse.
        params = {int(k): p for saved, group in zip(state_dict["param_groups"], self.param_groups, strict=False)
                  for k, p in zip(saved["params"], group["params"], strict=False)}
        backend = self.param_groups[0]["params"][0]._backend
        where = f"{type(self).__name__}.load_state_dict"
        native = {}
        for k, entry in states.items():
            if isinstance(entry, Mapping):
                device = getattr(params.get(int(k)), "_backend", backend)
                entry = {key: _foreign_array(v, device, key, where) if _foreign(v) else v for key, v in entry.items()}
            native[k] = entry
        return {**state_dict, "state": native}

    #: Keys every parameter's state must hold (subclasses name theirs); checked by load_state_dict.
    _state_keys: tuple[str, ...] = ()
    #: Group keys a state dict may lack (added after state dicts were saved); the optimiser's own value is kept.
    _optional_group_keys: tuple[str, ...] = ()

    def _parse_state_dict(self, state_dict: Mapping, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise InvalidArgumentError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter group(s), "
                f"the optimiser {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise InvalidArgumentError(f"{name}.load_state_dict: parameter group {i} is not a dict with 'params'")
            absent = [k for k in self.defaults if k not in saved and k not in self._optional_group_keys]
            if absent:
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: parameter group {i} has no {', '.join(map(repr, absent))} "
                    f"(a state dict of another optimiser? this one is {name})"
                )
            ids = list(saved["params"])
            if len(ids) != len(group["params"]):
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: parameter group {i} has {len(ids)} parameter(s) in the state dict, "
                    f"{len(group['params'])} in the optimiser"
                )
            for k, p in zip(ids, group["params"], strict=True):
                by_index[int(k)] = p
        new_state: dict[Tensor, dict] = defaultdict(dict)
        for k, entry in state_dict["state"].items():
            p = by_index.get(int(k))
            if p is None:
                raise InvalidArgumentError(f"{name}.load_state_dict: state for parameter {k} that no group holds")
            if not isinstance(entry, Mapping):
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: the state of parameter {k} is a {type(entry).__name__}, expected a dict"
                )
            absent = [key for key in self._state_keys if key not in entry]
            if absent:
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: the state of parameter {k} has no {', '.join(map(repr, absent))} "
                    f"(a state dict of another optimiser? this one is {name})"
                )
            new_state[p] = {
                key: _state_value(value, p, key, name, key in self._state_keys) for key, value in entry.items()
            }
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            decoupled = saved.get("decoupled_weight_decay")  # PyTorch's Adam and AdamW save it; gradkit's do not
            if (decoupled is not None and "decoupled_weight_decay" not in self.defaults
                    and bool(decoupled) != getattr(self, "_decoupled", False)):
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: parameter group {i} has decoupled_weight_decay={decoupled!r}, which "
                    f"{name} does not follow (AdamW decouples the weight decay, Adam does not)"
                )
            new = {k: (tuple(v) if isinstance(v, list) and k not in ("params", "param_names") else v)
                   for k, v in saved.items() if k in self.defaults or k not in _TORCH_GROUP_KEYS}
            new["params"] = group["params"]
            if "param_names" in new:
                new["param_names"] = list(new["param_names"])
                if len(new["param_names"]) != len(group["params"]):
                    raise InvalidArgumentError(
                        f"{name}.load_state_dict: parameter group {i} has {len(new['param_names'])} param_names "
                        f"for {len(group['params'])} parameters"
                    )
            elif "param_names" in group:  # as PyTorch: names the state dict lacks are kept
                new["param_names"] = group["param_names"]
            for key in self._optional_group_keys:
                new.setdefault(key, group[key])
            self._check_group(new)
            new_groups.append(new)
        return new_groups, new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _wrap_step(cls: type) -> None:
    """Make ``cls.step``, if ``cls`` defines it, a function that runs the step hooks where there are any."""
    step = cls.__dict__.get("step")
    if not inspect.isfunction(step) or getattr(step, "_runs_step_hooks", False):
        return  # inherited, not a plain function, or wrapped already

    @functools.wraps(step)
    def step_with_hooks(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if (_global_optimizer_pre_hooks or _global_optimizer_post_hooks or self._optimizer_step_pre_hooks
                or self._optimizer_step_post_hooks):
            return self._step_with_hooks(step, (self, *args), kwargs)
        return step(self, *args, **kwargs)

    step_with_hooks._runs_step_hooks = True  # type: ignore[attr-defined]
    cls.step = step_with_hooks  # type: ignore[attr-defined]


_wrap_step(Optimizer)


#: What PyTorch's optimisers keep in their parameter groups and gradkit's do not (implementation switches, and
#: the weight decay rule AdamW has by its class): a PyTorch state dict's groups load without them.
_TORCH_GROUP_KEYS = ("foreach", "fused", "differentiable", "capturable", "decoupled_weight_decay")


def _foreign(value: Any) -> bool:
    """Another library's array (a PyTorch tensor): not gradkit's, NumPy's or CuPy's, with ``__dlpack__`` or
    ``__array__``."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)) or _native_array(value):
        return False
    return hasattr(value, "__dlpack__") or hasattr(value, "__array__")


def _state_value(value: Any, p: Tensor, key: str, name: str, required: bool = False) -> Any:
    """A saved state entry as this optimiser keeps it: a copy on ``p``'s device (float state in p's dtype)."""
    if key == "step":
        if isinstance(value, Tensor):
            value = value.item()
        elif isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
            value = value.reshape(()).item()
        whole = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not whole or not math.isfinite(value) or value < 0 or value != int(value):
            raise InvalidArgumentError(f"{name}.load_state_dict: 'step' must be a whole number >= 0, got {value!r}")
        return int(value)
    if isinstance(value, Tensor) or isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        backend = p._backend
        src = backend.transfer(value._data, value._backend) if isinstance(value, Tensor) else backend.asarray(value)
        array = backend.xp.array(src, copy=True)
        if array.dtype.kind != "f":
            raise InvalidArgumentError(
                f"{name}.load_state_dict: state {key!r} has dtype {array.dtype}, expected a float array"
            )
        if array.dtype != p.dtype:
            array = array.astype(p.dtype)
        if array.shape != p.shape:
            raise InvalidArgumentError(
                f"{name}.load_state_dict: state {key!r} has shape {array.shape}, its parameter {p.shape}"
            )
        return Tensor._make(array, backend)
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not required and (value is None or number):
        return value  # SGD's momentum buffer before its first step; a subclass's own numbers
    raise InvalidArgumentError(
        f"{name}.load_state_dict: state {key!r} is a {type(value).__name__}, expected a tensor or an array"
    )
