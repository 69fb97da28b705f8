"""``Module``: the base class of layers and models, with PyTorch's registration and state-dict rules."""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import flag, text
from gradkit.autograd import grad_mode
from gradkit.autograd.custom_function import Function, FunctionCtx
from gradkit.autograd.function import observe
from gradkit.autograd.node import Node
from gradkit.backends import backend_of_array
from gradkit.dtypes import is_dtype_like
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    GradkitError,
    InvalidArgumentError,
    ShapeError,
    describe,
)
from gradkit.nn.buffer import Buffer
from gradkit.nn.parameter import Parameter
from gradkit.nn.utils import clear_grads
from gradkit.tensor import Tensor


class ModuleAttributeError(GradkitError, AttributeError):
    """A parameter, buffer or submodule assigned before ``Module.__init__`` ran, or a bad name."""


class HookError(GradkitError, RuntimeError):
    """A module hook that returned something its kind of hook may not return."""


class StateDictError(InvalidArgumentError, RuntimeError):
    """``load_state_dict``: missing or unexpected keys (strict mode); the message names them."""


class StateDictShapeError(ShapeError, RuntimeError):
    """``load_state_dict``: a value whose shape does not fit; the message names the key."""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it did not find and those it did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # what a notebook shows after load_state_dict, as PyTorch
        return f"IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"


#: Counts hook registrations and removals on every module: a Sequential re-plans its fused pairs when it changes.
HOOK_EPOCH = [0]

#: False until the first hook is registered in this process: until then ``Module.__call__`` reads no attribute.
_hooks_seen = False

_NO_HOOKS: Mapping = MappingProxyType({})

#: The tables whose hooks make ``Module.__call__`` take ``_call_with_hooks``.
_HOOK_TABLES = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")


#: The tables a module registers its parameters, buffers and submodules in, in ``__getattr__``'s order.
_TABLES = ("_parameters", "_buffers", "_modules")
_PARAMETER_OR_BUFFER = (Parameter, Buffer)


class _Table(dict):
    """A module's ``_parameters``, ``_buffers`` or ``_modules``: a dict that keeps the module's attributes in step.

    A registered value lives in its table and, for fast attribute access, in the instance ``__dict__`` too.
    ``__setattr__`` and ``register_*`` keep both; this table does the same when PyTorch code writes it
    directly (``model._modules[name] = new_layer``, ``del module._parameters["weight"]``) while the attribute
    shows the tables: the attribute then gives the table's entry (the first table's, in ``__getattr__``'s
    order), or, once no table has the name, none. As in PyTorch, where the instance dict and the class come
    before the tables, a plain attribute of that name and an attribute the class defines (a method) are left
    as they are, and so are names that are not str. A copy or pickle of a table is a plain dict (a weak
    reference to the module does not travel); ``Module.__setstate__`` makes tables again. A table made
    otherwise (``_Table(items)``) belongs to no module and is a plain dict in all but its type.
    """

    __slots__ = ("_owner", "_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = _no_owner
        self._name = ""

    def _module_dict(self) -> dict | None:
        """The owning module's ``__dict__``, when this is still its table (None otherwise)."""
        module = self._owner()
        if module is None:
            return None
        d = module.__dict__
        return d if d.get(self._name) is self else None

    def __setitem__(self, name: Any, value: Any) -> None:
        d = self._module_dict()
        if d is None or not isinstance(name, str):
            dict.__setitem__(self, name, value)
            return
        shown = d.get(name, _MISSING)
        if shown is _MISSING:  # no attribute: the table shows, unless the class has the name (a method)
            mirrored = not hasattr(type(self._owner()), name)
        else:  # the attribute shows the tables' entry, or a plain attribute, which it stays
            mirrored = shown is _shown(d, name)
        dict.__setitem__(self, name, value)
        if mirrored:
            _resync(d, name)

    def __delitem__(self, name: Any) -> None:
        value = self[name]
        dict.__delitem__(self, name)
        d = self._module_dict()
        if d is not None and isinstance(name, str) and d.get(name, _MISSING) is value:  # the attribute showed it
            _resync(d, name)

    def pop(self, name: Any, *default: Any) -> Any:
        if name not in self:
            return super().pop(name, *default)
        value = self[name]
        del self[name]
        return value

    def popitem(self) -> tuple:
        if not self:
            return super().popitem()  # raises KeyError, as dict
        name = next(reversed(self))
        return name, self.pop(name)

    def setdefault(self, name: Any, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def __ior__(self, other: Any) -> _Table:
        self.update(other)
        return self

    def clear(self) -> None:
        for name in list(self):
            del self[name]

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return dict, (dict(self),)


_MISSING = object()


def _no_owner() -> None:
    """The owner of a table that belongs to no module."""


def _new_table(owner: Any, name: str, entries: Any = ()) -> _Table:
    """Module ``owner``'s (a weak reference) table ``name``, holding ``entries`` (without ``__init__``: cheap)."""
    table = dict.__new__(_Table)
    if entries:
        dict.update(table, entries)
    table._owner = owner
    table._name = name
    return table


def _shown(d: dict, name: str) -> Any:
    """The entry that a module's attribute ``name`` gives from its tables (``_MISSING``: none has it)."""
    for table in _TABLES:
        entries = d.get(table)
        if entries is not None and name in entries:
            return entries[name]
    return _MISSING


def _resync(d: dict, name: str) -> None:
    """Make attribute ``name`` (instance dict ``d``) give the tables' entry, or none when no table has it."""
    value = _shown(d, name)
    if value is _MISSING:
        d.pop(name, None)
    else:
        d[name] = value


# Module's own writes to its tables, which set the attribute themselves: plain dict operations, without the
# tables' syncing (assigning a buffer every step stays cheap).
_put = dict.__setitem__
_drop = dict.pop


class RemovableHandle:
    """What the ``register_*_hook`` methods of a module return (PyTorch's handle).

    ``remove()`` takes the hook off (calling it again does nothing); ``with handle:`` removes it at
    the end of the block. ``id`` is unique across all hooks. The handle does not keep its module alive.
    """

    next_id: int = 0

    def __init__(self, module: Module, tables: tuple[str, ...]) -> None:
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self._module = weakref.ref(module)
        self._tables = tables

    def remove(self) -> None:
        """Take the hook off its module (the module a copy was made from; a copy keeps its hooks)."""
        module = self._module()
        if module is None:
            return
        d = module.__dict__
        for table in self._tables:
            if table in d:
                d[table].pop(self.id, None)
        d["_has_hooks"] = any(d.get(table) for table in _HOOK_TABLES)
        HOOK_EPOCH[0] += 1

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


def _check_name(name: Any, what: str, module: Module) -> None:
    if not isinstance(name, str):
        raise ArgumentTypeError(f"{type(module).__name__}: {what} name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise ModuleAttributeError(
            f"{type(module).__name__}: {what} name must be non-empty and contain no '.', got {name!r}"
        )


def _check_free(module: Module, name: str, table: str, op: str) -> None:
    """As PyTorch: registering may replace an entry of the same table, not another attribute."""
    if name not in module.__dict__.get(table, {}) and hasattr(module, name):
        raise ModuleAttributeError(
            f"{op}: attribute {name!r} already exists on {type(module).__name__} and is not a "
            f"{table[1:-1]}; delete it first or choose another name"
        )


class Module:
    """Base class for layers and models.

    Assigning a :class:`Parameter` or a ``Module`` to an attribute registers
    it; ``register_buffer`` registers a non-trainable tensor (running
    statistics) that is saved in the state dict, and so does assigning an
    ``nn.Buffer`` (with its ``persistent``). Subclasses call
    ``super().__init__()`` first and define ``forward``; calling the module
    calls ``forward``.
    """

    training: bool
    # Hook tables, made on the instance by the first registration (the defaults are read-only and empty);
    # ``__call__`` reads only ``_has_hooks`` when there are none.
    _has_hooks: bool = False
    _forward_pre_hooks: Mapping = _NO_HOOKS
    _forward_pre_hooks_with_kwargs: Mapping = _NO_HOOKS
    _forward_hooks: Mapping = _NO_HOOKS
    _forward_hooks_with_kwargs: Mapping = _NO_HOOKS
    _forward_hooks_always_called: Mapping = _NO_HOOKS
    _backward_pre_hooks: Mapping = _NO_HOOKS
    _backward_hooks: Mapping = _NO_HOOKS
    #: Buffers a state dict may lack: ``load_state_dict`` keeps their values and does not call them missing
    #: (BatchNorm's ``num_batches_tracked``, which PyTorch's checkpoints before 0.4.1 do not have).
    _optional_state: tuple[str, ...] = ()
    #: ``load_state_dict`` calls ``module._lazy_load_hook(state_dict, prefix)`` on each module that defines it,
    #: before it reads anything (``nn.LazyModuleMixin``'s: uninitialized tensors take the shapes they are given);
    #: what it returns, when not None, is called without arguments if the load then fails (to undo that).
    _lazy_load_hook: Callable[[Mapping, str], Callable[[], None] | None] | None = None

    def __init__(self) -> None:
        d = self.__dict__
        owner = weakref.ref(self)
        d["training"] = True
        d["_parameters"] = _new_table(owner, "_parameters")
        d["_buffers"] = _new_table(owner, "_buffers")
        d["_non_persistent"] = set()
        d["_modules"] = _new_table(owner, "_modules")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _hooks_seen and self._has_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def __setstate__(self, state: dict) -> None:
        """Unpickling (and ``copy``): a module that arrives with hooks makes ``__call__`` look for them."""
        self.__dict__.update(state)
        d = self.__dict__
        for table in _TABLES:  # tables come as plain dicts (or a shallow copy's source's): make this module's own
            entries = d.get(table)
            if entries is not None and not (isinstance(entries, _Table) and entries._owner() is self
                                            and entries._name == table):
                d[table] = _new_table(weakref.ref(self), table, entries)
        if state.get("_has_hooks"):
            global _hooks_seen
            _hooks_seen = True

    # ------------------------------------------------------------ hooks
    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """``forward`` between the pre-hooks and the hooks, with PyTorch's order and return-value rules."""
        result = None
        called: set[int] = set()
        try:
            # The hooks registered now all run, each as it was registered, even one that an earlier hook
            # removes (as PyTorch, whose loop would then call a with_kwargs hook without its kwargs).
            with_kwargs = self._forward_pre_hooks_with_kwargs
            hooks = [(hook, hook_id in with_kwargs) for hook_id, hook in self._forward_pre_hooks.items()]
            for hook, takes_kwargs in hooks:
                if takes_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise HookError(
                                f"{type(self).__name__}: a forward pre-hook registered with with_kwargs=True must "
                                f"return None or a tuple (new_args, new_kwargs), got {type(new).__name__} {new!r:.60}"
                            )
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            backward_hooks = link = None
            if (self._backward_hooks or self._backward_pre_hooks) and grad_mode.state.enabled:
                backward_hooks = _BackwardHooks(self)
                args, link = backward_hooks.wrap_inputs(args)
            result = self.forward(*args, **kwargs)
            with_kwargs, always = self._forward_hooks_with_kwargs, self._forward_hooks_always_called
            hooks = [(hook_id, hook, hook_id in with_kwargs) for hook_id, hook in self._forward_hooks.items()]
            for hook_id, hook, takes_kwargs in hooks:
                if hook_id in always:
                    called.add(hook_id)
                new = hook(self, args, kwargs, result) if takes_kwargs else hook(self, args, result)
                if new is not None:
                    result = new
            if backward_hooks is not None:
                result = backward_hooks.wrap_outputs(result, link)
            return result
        except Exception:
            # As PyTorch: hooks registered with always_call=True that have not run yet run now; their
            # own errors become warnings, and the original error is raised.
            always = self._forward_hooks_always_called
            with_kwargs = self._forward_hooks_with_kwargs
            for hook_id, hook in tuple(self._forward_hooks.items()):
                if hook_id not in always or hook_id in called:
                    continue
                try:
                    new = hook(self, args, kwargs, result) if hook_id in with_kwargs else hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as exc:
                    warnings.warn(
                        f"{type(self).__name__}: a forward hook registered with always_call=True raised an "
                        f"exception that was silenced as another error was raised in forward: {exc}",
                        stacklevel=2,
                    )
            raise

    def _add_hook(self, op: str, table: str, hook: Any, prepend: Any,
                  options: dict[str, tuple[str, Any]]) -> RemovableHandle:
        """Register ``hook`` in ``table``; ``options`` maps each mark table to (keyword, value given)."""
        if not callable(hook):
            raise ArgumentTypeError(f"{op}: hook must be callable, got {type(hook).__name__} {hook!r:.40}")
        prepend = flag(prepend, op, "prepend")
        marks = {mark: flag(value, op, keyword) for mark, (keyword, value) in options.items()}
        d = self.__dict__
        handle = RemovableHandle(self, (table, *marks))
        if table not in d:
            d[table] = OrderedDict()
        d[table][handle.id] = hook
        for mark, on in marks.items():
            if on:
                d.setdefault(mark, {})[handle.id] = True
        if prepend:
            d[table].move_to_end(handle.id, last=False)
        d["_has_hooks"] = True
        HOOK_EPOCH[0] += 1
        global _hooks_seen
        _hooks_seen = True
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; what it returns (not None) replaces ``args``.

        A result that is not a tuple is wrapped in one. With ``with_kwargs=True`` the hook is called as
        ``hook(module, args, kwargs)`` and returns None or ``(new_args, new_kwargs)``. Hooks run in the
        order registered; ``prepend=True`` puts this one first. Returns a handle with ``remove()``.
        """
        return self._add_hook(
            "register_forward_pre_hook", "_forward_pre_hooks", hook, prepend,
            {"_forward_pre_hooks_with_kwargs": ("with_kwargs", with_kwargs)},
        )

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; what it returns (not None) replaces the output.

        ``args`` are those ``forward`` was given (after the pre-hooks). With ``with_kwargs=True`` the hook
        is called as ``hook(module, args, kwargs, output)``; with ``always_call=True`` it also runs when
        ``forward`` (or a hook) raises. ``prepend=True`` puts it before the others. Returns a handle.
        """
        return self._add_hook(
            "register_forward_hook", "_forward_hooks", hook, prepend,
            {"_forward_hooks_with_kwargs": ("with_kwargs", with_kwargs),
             "_forward_hooks_always_called": ("always_call", always_call)},
        )

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` in backward, once the gradients w.r.t. the outputs are known.

        ``grad_output`` is a tuple with one entry per output (None for one that is not a Tensor or got
        no gradient). A tuple the hook returns (not None) replaces it, for the hooks after it and for
        the gradients flowing into the module. Runs once per backward pass per call of the module.
        ``prepend=True`` puts it before the others. Returns a handle.
        """
        return self._add_hook("register_full_backward_pre_hook", "_backward_pre_hooks", hook, prepend, {})

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` in backward, once the gradients w.r.t. the inputs are known.

        ``grad_input`` has one entry per positional argument of ``forward`` (None for one that is not a
        Tensor, zeros for a Tensor that does not require grad or got no gradient, as PyTorch; the
        parameters' gradients are not in it), ``grad_output`` one per output. A tuple the hook returns
        (not None) replaces ``grad_input``: it must have the same length. When no input requires grad,
        the hook runs with ``grad_input`` all None as soon as ``grad_output`` is known (and may return
        only None). ``prepend=True`` puts it before the others. Returns a handle.
        """
        return self._add_hook("register_full_backward_hook", "_backward_hooks", hook, prepend, {})

    # ------------------------------------------------------------ registration
    # Registered values live in their table (_parameters, _buffers, _modules)
    # and, for fast attribute access, in the instance __dict__ as well; every
    # assignment goes through __setattr__/__delattr__, which keep both in step.
    def _tables(self, name: str) -> dict:
        d = self.__dict__
        if "_parameters" not in d:
            raise ModuleAttributeError(
                f"cannot assign {name!r} before {type(self).__name__}.__init__ has called Module.__init__()"
            )
        return d

    def _forget(self, name: str, keep: str | None = None) -> None:
        """Drop ``name`` from every table but ``keep`` (which it is about to be assigned in, in place)."""
        d = self.__dict__
        for table in _TABLES:
            if table != keep:
                _drop(d[table], name, None)
        d["_non_persistent"].discard(name)
        d.pop(name, None)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        # The hot path is a plain attribute. issubclass(type(value), ...) is cheaper than isinstance, which, when
        # it fails, also reads value.__class__ (the classes here have no metaclass, so they agree otherwise):
        # with nn.Buffer's check this costs less than the two isinstance checks it replaces.
        cls = type(value)
        if issubclass(cls, _PARAMETER_OR_BUFFER):
            if not issubclass(cls, Parameter):
                self._set_buffer(name, value)
                return
            self._tables(name)
            self._forget(name, keep="_parameters")  # a parameter assigned again keeps its place in the order
            _put(d["_parameters"], name, value)
            d[name] = value
        elif issubclass(cls, Module):
            self._tables(name)
            self._forget(name, keep="_modules")
            _put(d["_modules"], name, value)
            d[name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter {name!r} "
                    "(expected gk.nn.Parameter or None)"
                )
            _put(d["_parameters"], name, None)
            d[name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to submodule {name!r} "
                    "(expected a Module or None)"
                )
            _put(d["_modules"], name, None)
            d[name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to buffer {name!r} "
                    "(expected a Tensor or None)"
                )
            _put(d["_buffers"], name, value)
            d[name] = value
        else:
            object.__setattr__(self, name, value)

    def _set_buffer(self, name: str, value: Buffer) -> None:
        """``self.<name> = nn.Buffer(...)`` (PyTorch 2.5's): registered with its persistence, unless ``name`` is
        a parameter's or a submodule's (the errors of assigning any other tensor there)."""
        d = self.__dict__
        for table, what in (("_parameters", "parameter"), ("_modules", "submodule")):
            if table in d and name in d[table]:
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to {what} {name!r} "
                    f"(expected {'gk.nn.Parameter' if table == '_parameters' else 'a Module'} or None)"
                )
        self.register_buffer(name, value, value.persistent)

    def __getattr__(self, name: str) -> Any:  # only reached when normal lookup fails
        value = _shown(self.__dict__, name)
        if value is _MISSING:
            raise ModuleAttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return value

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if any(name in d.get(t, ()) for t in _TABLES):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        _check_name(name, "parameter", self)
        _check_free(self, name, "_parameters", "register_parameter")
        if param is not None and not isinstance(param, Parameter):
            raise ArgumentTypeError(
                f"register_parameter: {name!r} must be a gk.nn.Parameter or None, got {type(param).__name__}"
            )
        self._tables(name)
        self._forget(name, keep="_parameters")  # replaced in its place, as PyTorch
        _put(self.__dict__["_parameters"], name, param)
        self.__dict__[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not a parameter (saved in the state dict when persistent)."""
        _check_name(name, "buffer", self)
        _check_free(self, name, "_buffers", "register_buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise ArgumentTypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        persistent = flag(persistent, "register_buffer", "persistent")
        self._tables(name)
        self._forget(name, keep="_buffers")
        _put(self.__dict__["_buffers"], name, tensor)
        self.__dict__[name] = tensor
        if not persistent:
            self.__dict__["_non_persistent"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the child ``name``."""
        _check_name(name, "module", self)
        _check_free(self, name, "_modules", "add_module")
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        self._tables(name)
        self._forget(name, keep="_modules")
        _put(self.__dict__["_modules"], name, module)
        self.__dict__[name] = module

    register_module = add_module

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True) -> Iterator:
        """(name, module) for this module and every descendant, depth first (each once)."""
        if memo is None:
            memo = set()
        elif not isinstance(memo, set):
            raise ArgumentTypeError(f"named_modules: memo must be a set or None, got {type(memo).__name__}")
        text(prefix, "named_modules", "prefix")
        if flag(remove_duplicate, "named_modules", "remove_duplicate"):
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _walk(self, target: Any, op: str) -> Module:
        """The submodule at dotted path ``target`` ("" is self), found as PyTorch's ``get_submodule`` does."""
        module = self
        if text(target, op, "target") == "":
            return module
        for item in target.split("."):
            found = _attribute(module, item, target, op)
            if not isinstance(found, Module):
                raise ModuleAttributeError(
                    f"{op}: `{item}` is not an nn.Module (target {target!r}, got {type(found).__name__})"
                )
            module = found
        return module

    def get_submodule(self, target: str) -> Module:
        """The submodule named by the dotted path ``target`` (``"encoder.layers.0"``; ``""`` is self)."""
        return self._walk(target, "get_submodule")

    def get_parameter(self, target: str) -> Parameter:
        """The parameter named by the dotted path ``target`` (``"encoder.0.weight"``)."""
        path, _, name = text(target, "get_parameter", "target").rpartition(".")
        param = _attribute(self._walk(path, "get_parameter"), name, target, "get_parameter")
        if not isinstance(param, Parameter):
            raise ModuleAttributeError(
                f"get_parameter: `{name}` is not an nn.Parameter (target {target!r}, got {type(param).__name__})"
            )
        return param

    def get_buffer(self, target: str) -> Tensor | None:
        """The buffer named by the dotted path ``target`` (``"bn.running_mean"``)."""
        path, _, name = text(target, "get_buffer", "target").rpartition(".")
        module = self._walk(path, "get_buffer")
        value = _attribute(module, name, target, "get_buffer")
        if name not in module.__dict__["_buffers"]:
            raise ModuleAttributeError(
                f"get_buffer: `{name}` is not a buffer (target {target!r}, got {type(value).__name__})"
            )
        return value

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool) -> Iterator:
        op = "named_" + table.strip("_")
        text(prefix, op, "prefix")
        remove_duplicate = flag(remove_duplicate, op, "remove_duplicate")
        seen: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if flag(recurse, op, "recurse")
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in module.__dict__[table].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator:
        """(dotted name, Parameter) pairs, each parameter once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        if not callable(fn):
            raise ArgumentTypeError(f"apply: fn must be callable, got {type(fn).__name__} {fn!r}")
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: evaluation) here and in every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ArgumentTypeError(f"train: mode must be a bool, got {type(mode).__name__} {mode!r}")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (this module's and its submodules'); returns self."""
        requires_grad = flag(requires_grad, "requires_grad_", "requires_grad")
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter: to None (the default), else zeroed in place, as PyTorch.

        ``set_to_none=False`` keeps each ``.grad`` object and fills it with zeros. A gradient that is part
        of a graph (``create_graph=True``) or whose array is read-only is replaced by new zeros instead.
        """
        clear_grads(self.parameters(), flag(set_to_none, "zero_grad", "set_to_none"))

    def to(
        self, device: Any = None, dtype: Any = None, non_blocking: Any = False, *, memory_format: Any = None
    ) -> Module:
        """Move parameters and buffers to ``device`` and/or cast float ones to ``dtype``, in place; returns self.

        Parameters keep their identity (an optimiser made before still
        holds them). PyTorch's forms: ``module.to(device, dtype, non_blocking)`` (a name or a ``gk.device``),
        ``module.to(gk.float64, non_blocking)`` and ``module.to(tensor, non_blocking)`` (the tensor's device and
        dtype). ``non_blocking`` is accepted and has no effect. ``memory_format`` (PyTorch's
        ``model.to(memory_format=torch.channels_last)``) is checked and changes nothing: gradkit has one layout.
        """
        from gradkit.backends import get_backend
        from gradkit.dtypes import check_memory_format, to_dtype

        check_memory_format(memory_format, "Module.to")  # PyTorch applies it to the 4-d (5-d) tensors only
        if device is not None and not isinstance(device, str) and (
            isinstance(device, Tensor) or is_dtype_like(device)
        ):  # to(tensor, non_blocking) and to(dtype, non_blocking): the second argument is non_blocking
            if isinstance(dtype, (bool, np.bool_)):
                dtype, non_blocking = None, dtype
            elif dtype is not None:
                first = "a tensor gives both the device and the dtype" if isinstance(device, Tensor) else (
                    "the first argument is the dtype"
                )
                raise ArgumentTypeError(
                    f"Module.to: {first} (to({'tensor' if isinstance(device, Tensor) else 'dtype'}, non_blocking)), "
                    f"but dtype={dtype!r:.40} was given too"
                )
            device, dtype = (device._backend, device._data.dtype) if isinstance(device, Tensor) else (None, device)
        elif dtype is None and type(device) is str and is_dtype_like(device):
            device, dtype = None, device
        flag(non_blocking, "Module.to", "non_blocking")
        backend = get_backend(device, "Module.to") if device is not None else None
        dt = to_dtype(dtype, "Module.to") if dtype is not None else None
        if dt is not None and dt.kind != "f":
            raise DTypeError(f"Module.to: only float dtypes can be given, got {dt}")
        for module in self.modules():
            for table in ("_parameters", "_buffers"):
                for t in module.__dict__[table].values():
                    if t is not None:
                        _move(t, backend, dt)
        return self

    def to_empty(self, *, device: Any, recurse: bool = True) -> Module:
        """Give every parameter and buffer new storage on ``device``, of its shape and dtype, without copying
        its values; returns self (PyTorch's ``to_empty``, for a module whose values are to be loaded next).

        PyTorch leaves the new storage uninitialised; gradkit fills it with zeros. ``device`` is
        required ("cpu", "cuda", "cuda:1", a ``gk.device``; None keeps each tensor on its own device,
        with new zero storage). As ``Module.to``, parameters and buffers stay the same objects (an
        optimiser made before still holds them); a gradient is replaced by zeros on ``device`` too,
        as PyTorch's empty one. ``recurse=False`` treats only this module's own parameters and buffers.
        """
        from gradkit.backends import get_backend

        backend = get_backend(device, "Module.to_empty") if device is not None else None
        recurse = flag(recurse, "Module.to_empty", "recurse")
        seen: set[int] = set()
        for module in self.modules() if recurse else (self,):
            for table in ("_parameters", "_buffers"):
                for t in module.__dict__[table].values():
                    if t is not None and id(t) not in seen:
                        seen.add(id(t))
                        _empty(t, backend)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        """Parameters and buffers to a GPU: ``device`` an index, ``"cuda:N"`` or a ``gk.device`` of a GPU; None is
        GPU 0."""
        from gradkit.backends.devices import cuda_backend

        return self.to(cuda_backend(device, "Module.cuda"))

    def float(self) -> Module:
        return self.to(dtype="float32")

    def double(self) -> Module:
        return self.to(dtype="float64")

    def half(self) -> Module:
        return self.to(dtype="float16")

    def bfloat16(self) -> Module:
        """DTypeError: gradkit has no bfloat16 (see ``gk.bfloat16``); ``half()`` is the 16-bit float it has."""
        return self.to(dtype="bfloat16")

    # ------------------------------------------------------------ state dict
    def state_dict(self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict:
        """Parameters and persistent buffers by dotted name (PyTorch's keys), as detached tensors sharing memory."""
        if not isinstance(prefix, str):
            raise ArgumentTypeError(f"state_dict: prefix must be a str, got {type(prefix).__name__} {prefix!r}")
        if destination is not None and not isinstance(destination, MutableMapping):
            raise ArgumentTypeError(f"state_dict: destination must be a dict, got {type(destination).__name__}")
        keep_vars = flag(keep_vars, "state_dict", "keep_vars")
        out: dict = {} if destination is None else destination
        d = self.__dict__
        for name, p in d["_parameters"].items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in d["_buffers"].items():
            if b is not None and name not in d["_non_persistent"]:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, module in d["_modules"].items():
            if module is not None:
                module.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        With ``strict`` (the default) every key must match; otherwise missing
        and unexpected keys are returned. A value whose shape differs is an
        error either way. Nothing is changed when an error is raised (but the
        uninitialized parameters and buffers of lazy modules, ``nn.LazyLinear``
        and the like, first take the shapes of their values, as PyTorch's). Values
        may be tensors (from any device), arrays or numbers, or other libraries'
        arrays with ``__dlpack__`` or ``__array__`` (a PyTorch state dict's
        tensors; a CUDA one onto a CuPy module without a copy through the host);
        they are cast to the target's dtype and device.

        ``assign=True`` (PyTorch's) makes the values the module's parameters and
        buffers instead of copying them in: a tensor keeps its dtype, device and
        memory. A parameter's value becomes a new ``Parameter`` sharing its memory,
        with the ``requires_grad`` of the parameter it replaces (a value that is a
        Parameter is used itself, its ``requires_grad`` set so); a buffer's value
        is used as it is. Values that are not gradkit tensors become tensors on the
        device of the module's tensor, keeping their dtype (numbers and lists get
        ``gk.tensor``'s; a NumPy array on the CPU is not copied). Parameters that
        share one object and are given values sharing one array stay one
        parameter (PyTorch would make two). A value that is a broadcast view (a
        zero stride, as ``expand`` gives) or read-only (a memory-mapped file's) is
        copied to memory of its own, which an optimiser's in-place step can write. An
        optimiser made before holds the old parameters: make it after loading.
        """
        if not isinstance(state_dict, Mapping):
            raise ArgumentTypeError(
                f"load_state_dict: expected a mapping of names to tensors, got {type(state_dict).__name__}"
            )
        strict = flag(strict, "load_state_dict", "strict")
        assign = flag(assign, "load_state_dict", "assign")
        modules = list(self.named_modules(remove_duplicate=False))
        # Lazy modules: their uninitialized tensors take the loaded shapes; each hook returns how to undo that,
        # done when the load fails (else a failed load would leave them zeros that no first call initialises).
        undo = []
        try:
            for prefix, module in modules:
                if module._lazy_load_hook is not None:
                    undo.append(module._lazy_load_hook(state_dict, f"{prefix}." if prefix else ""))
            return self._load_state_dict(state_dict, strict, assign, modules)
        except BaseException:
            for restore in reversed(undo):
                if restore is not None:
                    restore()
            raise

    def _load_state_dict(self, state_dict: Mapping, strict: bool, assign: bool, modules: list) -> IncompatibleKeys:
        """``load_state_dict`` once its arguments are checked and the lazy modules' hooks have run."""
        own = self.state_dict(keep_vars=True)
        optional = {f"{prefix}.{key}" if prefix else key
                    for prefix, module in modules for key in module._optional_state}
        missing = [k for k in own if k not in state_dict and k not in optional]
        unexpected = [k for k in state_dict if k not in own]
        where = f"load_state_dict for {type(self).__name__}"
        problems = []
        if strict and missing:
            problems.append("missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            problems.append("unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        arrays = {}
        shape_problems = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            if assign:
                array = _assigned(state_dict[key], target, key, where)
            else:
                array = _as_array(state_dict[key], target, key, where)
            if tuple(array.shape) != target._data.shape:
                shape_problems.append(
                    f'size mismatch for "{key}": the state_dict has shape {tuple(array.shape)}, '
                    f"the module's {'parameter' if isinstance(target, Parameter) else 'buffer'} has shape "
                    f"{target._data.shape}"
                )
            arrays[key] = array
        if problems or shape_problems:
            cls = StateDictError if problems else StateDictShapeError
            raise cls(f"error(s) in {where}: " + "; ".join(problems + shape_problems))
        if assign:
            _assign_all(self, arrays, own, where)
            return IncompatibleKeys(missing, unexpected)
        for key, array in arrays.items():
            target = own[key]
            target._data[...] = array
            target._version[0] += 1
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ copying and printing
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout: a one-line extra_repr inline, else one line per extra line and per child."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()
        ]
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra})"
        if not extra_lines and not child_lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"


# ------------------------------------------------------------ backward hooks
# As in PyTorch, a call of a module with backward hooks puts an identity node on the tensors it takes
# (those that require grad) and one on the tensors it returns. The engine runs the output node once
# every gradient w.r.t. the outputs has arrived: it runs the pre-hooks and keeps grad_output. It runs
# the input node once every gradient w.r.t. the inputs has arrived: it runs the hooks. Both nodes are
# one ``BackwardHookFunction`` call each; the two share the call's ``_BackwardHooks``.
#
# PyTorch's engine runs every node that a pass reaches, even one that gets no gradient; gradkit's skips
# such a node. So the input node also returns a link, an empty tensor that the output node takes: when the
# module's outputs depend on its inputs (the output node's first backward looks, then remembers), the
# output node sends the link an (empty) gradient. The input node then runs in every pass that passed the
# outputs, with zeros for the inputs that got no gradient (the loss reached only outputs that do not depend
# on them), and only in those: a pass that reaches it without a gradient for the link (a double backward
# through the inputs alone) runs no hook, whatever an earlier pass left behind. Edge 2 of every
# BackwardHookFunction node is the link (None at the input node); searches for a path skip it.
#
# A hook may keep the gradients it is given or returns. The engine copies a gradient that a tensor hook
# has seen before storing it as a ``.grad`` (later passes add into a ``.grad`` in place); so that it does
# the same for these, each gradient entering or leaving a BackwardHookFunction passes a node with the
# no-op tensor hook ``_seen``.


class BackwardHookFunction(Function):
    """The identity on the tensors a module with backward hooks takes or returns; its backward runs the hooks.

    At the inputs it also returns the link (``link`` is None); at the outputs it takes it (None: no input node).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, call: _BackwardHooks, at_outputs: bool, link: Tensor | None,
                *tensors: Tensor) -> Any:
        ctx.call = call
        ctx.at_outputs = at_outputs
        ctx.set_materialize_grads(False)  # None in grad_output (as PyTorch); input_grads makes grad_input's zeros
        if not at_outputs:
            backend = tensors[0]._backend
            return (*tensors, Tensor._make(backend.xp.empty((0,), np.float32), backend))
        ctx.link = link
        ctx.sources = tuple(t._grad_fn for t in tensors)  # where a path to the input node starts
        ctx.reaches_inputs = None  # found by the first backward
        return tensors if len(tensors) > 1 else tensors[0]

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> tuple:
        call = ctx.call
        if ctx.at_outputs:
            return (None, None, *call.output_grads(ctx, grads))
        return (None, None, None, *call.input_grads(grads[:-1], via_outputs=grads[-1] is not None))


def _seen(grad: Tensor) -> None:
    """A tensor hook that does nothing: the engine then treats ``grad`` as one a hook may have kept."""


def _same(grad: Tensor) -> Tensor:
    return grad


def _behind_seen(t: Tensor) -> Tensor:
    """``t`` as the output of an identity node with the hook ``_seen`` (the gradients it sends back are seen)."""
    node = Node("BackwardHook", (_same,), (t._grad_fn or t,), ())
    node.add_hook(_seen)
    out = Tensor._make(t._data, t._backend, node)
    out._version = t._version  # the same memory: an in-place change through either is seen
    observe(node, out)  # as every recorded node: gk.trace, anomaly mode, checkpoint (its inner nodes)
    return out


def _identity_with_hooks(call: _BackwardHooks, at_outputs: bool, link: Tensor | None,
                         tensors: list[Tensor]) -> list[Tensor]:
    """``tensors`` behind the output node or the input node (which appends its link to the result)."""
    result = BackwardHookFunction.apply(call, at_outputs, link, *[_behind_seen(t) for t in tensors])
    result = list(result) if len(tensors) > 1 or not at_outputs else [result]
    for t in result[:len(tensors)]:
        t._grad_fn.add_hook(_seen)
    return result


def _reaches(sources: tuple, target: Node) -> bool:
    """Whether a path of graph edges leads from one of ``sources`` to ``target`` (links skipped)."""
    seen: set[Node] = set()
    stack = [n for n in sources if n is not None]
    while stack:
        node = stack.pop()
        if node is target:
            return True
        if node in seen:
            continue
        seen.add(node)
        edges = node.next
        if node.name == "BackwardHookFunction":
            edges = edges[:2] + edges[3:]
        stack.extend(e for e in edges if type(e) is Node)
    return False


def _meta(t: Tensor) -> tuple:
    return t._data.shape, t._data.dtype, t._backend


def _zeros(meta: tuple) -> Tensor:
    shape, dtype, backend = meta
    return Tensor._make(backend.xp.zeros(shape, dtype), backend)


def _replace(args: tuple, positions: list[int], values: list) -> list:
    new = list(args)
    for i, value in zip(positions, values, strict=True):
        new[i] = value
    return new


class _BackwardHooks:
    """One call of a module with backward hooks: the hooks it had then, and what its two nodes share.

    It refers to no graph node (the input node refers to it: that would be a reference cycle through the
    module's saved tensors); the output node's ctx keeps the link and where the search for a path starts.
    """

    __slots__ = ("module", "hooks", "pre_hooks", "n_inputs", "inputs", "input_metas", "constants",
                 "n_outputs", "outputs", "output_metas", "grad_outputs")

    def __init__(self, module: Module) -> None:
        self.module = module
        self.hooks = tuple(module._backward_hooks.values())  # as PyTorch: a hook removed later still runs
        self.pre_hooks = tuple(module._backward_pre_hooks.values())
        self.n_inputs = 0
        self.inputs: list[int] | None = None  # positions of the inputs behind the input node (None: no node)
        self.input_metas: list[tuple] = []
        self.constants: dict[int, tuple] = {}  # tensor inputs that do not require grad: zeros in grad_input
        self.n_outputs = 0
        self.outputs: list[int] = []
        self.output_metas: list[tuple] = []
        self.grad_outputs: tuple | None = None  # set by the output node, taken by the input node in that pass

    def wrap_inputs(self, args: tuple) -> tuple[tuple, Tensor | None]:
        """``args`` with the tensors that require grad behind the input node (none without full hooks), and
        the link for ``wrap_outputs`` (None without an input node)."""
        self.n_inputs = len(args)
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        wanted = [i for i in tensors if args[i]._requires_grad]
        if not self.hooks or not wanted:
            return args, None
        self.inputs = wanted
        self.input_metas = [_meta(args[i]) for i in wanted]
        self.constants = {i: _meta(args[i]) for i in tensors if not args[i]._requires_grad}
        *wrapped, link = _identity_with_hooks(self, False, None, [args[i] for i in wanted])
        return tuple(_replace(args, wanted, wrapped)), link

    def wrap_outputs(self, result: Any, link: Tensor | None) -> Any:
        """``result`` (a Tensor or a tuple) with the tensors that require grad behind the output node."""
        single = isinstance(result, Tensor)
        if not single and not isinstance(result, tuple):
            warnings.warn(
                f"{type(self.module).__name__}: backward hooks are called only for a module whose output is a "
                f"Tensor or a tuple of Tensors, got {type(result).__name__}",
                stacklevel=4,
            )
            return result
        outs = (result,) if single else result
        wanted = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o._requires_grad]
        if not wanted:
            return result
        self.n_outputs = len(outs)
        self.outputs = wanted
        self.output_metas = [_meta(outs[i]) for i in wanted]
        new = _replace(outs, wanted, _identity_with_hooks(self, True, link, [outs[i] for i in wanted]))
        if single:
            return new[0]
        return tuple(new) if type(result) is tuple else type(result)(*new)  # a named tuple stays one

    def output_grads(self, ctx: FunctionCtx, grads: tuple) -> list:
        """The output node's backward: run the pre-hooks; the link's gradient, then the gradients to pass on
        into the module."""
        grad_output = tuple(_replace((None,) * self.n_outputs, self.outputs, list(grads)))
        for hook in self.pre_hooks:
            new = hook(self.module, grad_output)
            if new is not None:
                grad_output = self._checked(new, len(grad_output), "backward pre-hook", "grad_output",
                                            self.outputs, self.output_metas)
        link = ctx.link
        link_grad = None
        if link is None:
            self._run_hooks_without_inputs(grad_output)
        else:
            if ctx.reaches_inputs is None:
                ctx.reaches_inputs = _reaches(ctx.sources, link._grad_fn.next[0])
                ctx.sources = ()
            if ctx.reaches_inputs:  # as PyTorch: the hooks run in this pass, with zeros for the inputs
                self.grad_outputs = grad_output
                link_grad = Tensor._make(link._data, link._backend)  # empty: nothing can change it
        return [link_grad, *(grad_output[i] for i in self.outputs)]

    def input_grads(self, grads: tuple, via_outputs: bool) -> list:
        """The input node's backward: run the hooks when this pass passed the output node (it then sent
        the link a gradient); the gradients to pass on to the inputs (zeros for those that got none)."""
        grads = [_zeros(meta) if g is None else g for g, meta in zip(grads, self.input_metas, strict=True)]
        if not via_outputs:  # not reached through the outputs (a double backward): no hooks, as PyTorch
            return grads
        grad_output = self.grad_outputs
        self.grad_outputs = None
        grad_input = _replace((None,) * self.n_inputs, self.inputs, grads)
        for i, meta in self.constants.items():
            grad_input[i] = _zeros(meta)
        grad_input = tuple(grad_input)
        for hook in self.hooks:
            new = hook(self.module, grad_input, grad_output)
            if new is not None:
                grad_input = self._checked(new, self.n_inputs, "backward hook", "grad_input",
                                           self.inputs, self.input_metas)
        return [grad_input[i] for i in self.inputs]

    def _run_hooks_without_inputs(self, grad_output: tuple) -> None:
        """As PyTorch: when no input requires grad, the hooks run at the outputs, with grad_input all None."""
        grad_input = (None,) * self.n_inputs
        for hook in self.hooks:
            new = hook(self.module, grad_input, grad_output)
            if new is not None and not (isinstance(new, (tuple, list)) and all(g is None for g in new)):
                raise HookError(
                    f"{type(self.module).__name__}: no input of this call requires grad, so a backward hook "
                    f"must return None or only None for grad_input, got {describe(new)}"
                )

    def _checked(self, new: Any, n: int, kind: str, what: str, positions: list[int], metas: list[tuple]) -> tuple:
        """A hook's replacement of ``what``: a tuple (or list) of ``n`` entries, each None or a gradient of the
        shape, dtype and device of its tensor (entries for arguments that are not such tensors are ignored)."""
        name = type(self.module).__name__
        if not isinstance(new, (tuple, list)):
            raise HookError(f"{name}: a {kind} must return None or a tuple of {n} {what} entries, got {describe(new)}")
        if len(new) != n:
            raise HookError(f"{name}: a {kind} returned an invalid number of {what}, got {len(new)}, but expected {n}")
        for i, (shape, dtype, backend) in zip(positions, metas, strict=True):
            g = new[i]
            if g is None:
                continue
            where = f"{name}: a {kind} returned {what}[{i}]"
            if not isinstance(g, Tensor):
                raise HookError(f"{where} = {describe(g)}; expected a Tensor or None")
            if g._data.shape != shape:
                raise ShapeError(f"{where} of shape {g.shape}, expected {shape} (the shape of that tensor)")
            if g._data.dtype != dtype:
                raise DTypeError(f"{where} of dtype {g.dtype}, expected {np.dtype(dtype).name} (that tensor's dtype)")
            if g._backend is not backend:
                raise DeviceError(f"{where} on {g.device}, expected {backend.device} (that tensor's device)")
        return tuple(new)


def _attribute(module: Module, name: str, target: str, op: str) -> Any:
    if not hasattr(module, name):
        raise ModuleAttributeError(f"{op}: {type(module).__name__} has no attribute `{name}` (target {target!r})")
    return getattr(module, name)


def _move(t: Tensor, backend: Any, dt: Any) -> None:
    """Move tensor ``t`` (and its gradient) to ``backend`` and/or cast it to ``dt``, keeping the object."""
    array, source = t._data, t._backend
    changed = False
    if backend is not None and backend is not source:
        array = backend.transfer(array, source)
        changed = True
    if dt is not None and array.dtype.kind == "f" and array.dtype != dt:
        array = array.astype(dt)
        changed = True
    if not changed:
        return
    t._data = array
    if backend is not None:
        t._backend = backend
    t._version[0] += 1
    g = t._grad
    if g is not None:
        gd = g._data
        if backend is not None and backend is not g._backend:
            gd = backend.transfer(gd, g._backend)
        if dt is not None and gd.dtype != dt:
            gd = gd.astype(dt)
        t._grad = Tensor._make(gd, t._backend)


def _zeros_on(backend: Any, shape: tuple, dtype: Any) -> Any:
    from gradkit.creation import _on

    with _on(backend):
        return backend.xp.zeros(shape, dtype)


def _empty(t: Tensor, backend: Any) -> None:
    """``Module.to_empty`` for tensor ``t``: new zeros of its shape and dtype on ``backend`` (None: its own),
    and zeros for its gradient, keeping the object."""
    backend = t._backend if backend is None else backend
    t._data = _zeros_on(backend, t._data.shape, t._data.dtype)
    t._backend = backend
    t._version[0] += 1
    g = t._grad
    if g is not None:
        t._grad = Tensor._make(_zeros_on(backend, g._data.shape, g._data.dtype), backend)


def _assigned(value: Any, target: Tensor, key: str, where: str) -> Tensor:
    """A state-dict value for ``load_state_dict(assign=True)``: a Tensor as it is; anything else as a tensor
    of its own dtype (numbers and lists: ``gk.tensor``'s) on the target's device, without a copy where it
    is already there. A parameter that requires grad needs a float value (checked before anything changes)."""
    from gradkit.creation import _to_array

    backend = target._backend
    if not isinstance(value, Tensor):
        if isinstance(value, (int, float, bool, np.generic, list, tuple)):
            source: Any = "cpu"
        else:
            if not _native_array(value):
                value = _foreign_array(value, backend, key, where)
            source = backend_of_array(value)  # a CuPy array stays on its GPU until the transfer below
        array, source = _to_array(value, None, source, f'{where}: the value for "{key}"')
        value = Tensor._make(backend.transfer(array, source), backend)
    if isinstance(target, Parameter) and target._requires_grad and value._data.dtype.kind != "f":
        raise DTypeError(
            f'{where}: the value for "{key}" has dtype {value._data.dtype}, but the module\'s parameter requires '
            "grad, which needs a floating-point dtype (assign=True keeps the value's dtype; pass a float value, "
            "or call requires_grad_(False) on the parameter first)"
        )
    return value


def _state_slots(module: Module, prefix: str, out: dict) -> dict:
    """``{key: (module, table, name)}``: where each entry of the default ``state_dict`` is registered."""
    d = module.__dict__
    for name, p in d["_parameters"].items():
        if p is not None:
            out[prefix + name] = (module, "_parameters", name)
    for name, b in d["_buffers"].items():
        if b is not None and name not in d["_non_persistent"]:
            out[prefix + name] = (module, "_buffers", name)
    for name, child in d["_modules"].items():
        if child is not None:
            _state_slots(child, prefix + name + ".", out)
    return out


def _assign_all(root: Module, values: dict[str, Tensor], own: dict[str, Tensor], where: str) -> None:
    """``load_state_dict(assign=True)``'s writes, once every value has been checked."""
    slots = _state_slots(root, "", {})
    odd = [key for key in values if key not in slots]
    if odd:  # a state_dict() override that names entries Module does not register
        raise StateDictError(
            f"{where}: assign=True cannot place " + ", ".join(f'"{k}"' for k in odd)
            + ": not a parameter or persistent buffer of the module or a submodule"
        )
    made: dict[tuple[int, int], Tensor] = {}  # (old entry, value's array) -> new entry: a shared entry stays one
    for key, value in values.items():
        module, table, name = slots[key]
        target = own[key]
        mark = (id(target), id(value._data))
        new = made.get(mark)
        if new is None:
            if _unwritable(value._data):  # an in-place update would land on many elements, or fail
                value = Tensor._make(value._data.copy(), value._backend)
            if table == "_parameters":
                if isinstance(value, Parameter):  # as PyTorch: the Parameter itself, with the module's requires_grad
                    new = value.requires_grad_(target._requires_grad)
                else:
                    new = Parameter(value, requires_grad=target._requires_grad)
            else:
                new = value
            made[mark] = new
        _write_entry(module, table, name, new)


def _unwritable(array: Any) -> bool:
    """Whether ``array`` is read-only (a memory-mapped file's) or a broadcast view (a zero stride along an axis
    longer than 1): ``assign=True`` gives such a value memory of its own, as an optimiser's step or a
    running-statistics update writes in place."""
    flags = getattr(array, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        return True
    return array.size > 1 and any(s == 0 and n > 1 for s, n in zip(array.strides, array.shape, strict=True))


def _write_entry(module: Module, table: str, name: str, value: Any) -> None:
    """Set ``module``'s registered ``table`` entry ``name`` to ``value``; the attribute follows when it showed
    the tables' entry (a plain attribute, or one the class defines, stays as it is), as ``_Table`` does."""
    d = module.__dict__
    shown = d.get(name, _MISSING)
    mirrored = not hasattr(type(module), name) if shown is _MISSING else shown is _shown(d, name)
    _put(d[table], name, value)
    if mirrored:
        _resync(d, name)


def _check_castable(array: Any, target: Tensor, key: str, where: str) -> None:
    """Refuse values that would not copy into ``target`` faithfully (checked before anything is written)."""
    kind, target_kind = array.dtype.kind, target._data.dtype.kind
    ok = kind in "biu" or (kind == "f" and target_kind in "fc")
    if kind == "f" and target_kind in "biu":  # floats into an integer buffer: only whole, finite values
        xp = backend_of_array(array).xp
        ok = bool(xp.all(xp.isfinite(array) & (array == xp.round(array))))
    if kind in "iu" and target_kind in "iu" and array.size:
        info = np.iinfo(target._data.dtype)
        ok = info.min <= int(array.min()) and int(array.max()) <= info.max
    if not ok:
        expected = "whole numbers in its range" if target_kind in "biu" else "real numbers"
        raise DTypeError(
            f'{where}: the value for "{key}" (dtype {array.dtype}) does not fit the module\'s '
            f"{target._data.dtype} tensor without loss; expected {expected}"
        )


def _as_array(value: Any, target: Tensor, key: str, where: str) -> Any:
    """A state-dict value as an array of the target's backend (dtype is cast on copy), checked
    where it is (on the host before a copy to the GPU, which would not take strings or objects)."""
    backend = target._backend
    if isinstance(value, Tensor):
        _check_castable(value._data, target, key, where)
        return backend.transfer(value._data, value._backend)
    if isinstance(value, (int, float, bool, np.generic, list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:  # ragged nested lists
            raise ShapeError(f'{where}: the value for "{key}" is a ragged nested list, not an array') from None
    if not _native_array(value):
        value = _foreign_array(value, backend, key, where)
    _check_castable(value, target, key, where)
    return backend.asarray(value)


def _native_array(value: Any) -> bool:
    """A NumPy or CuPy array (a CUDA array of another library has a foreign dtype object)."""
    if isinstance(value, np.ndarray):
        return True
    # the dtype first: a PyTorch CUDA tensor that requires grad raises from __cuda_array_interface__ itself
    return isinstance(getattr(value, "dtype", None), np.dtype) and hasattr(value, "__cuda_array_interface__")


_DLPACK_CUDA = (2, 13)  # DLPack's kDLCUDA and kDLCUDAManaged


def _foreign_array(value: Any, backend: Any, key: str, where: str) -> Any:
    """Another library's array (a PyTorch tensor in its state dict, say) through ``__dlpack__`` or
    ``__array__``: a NumPy array, or a CuPy one for a CUDA array loaded onto CuPy (no copy through the
    host). Neither library is imported here."""
    name = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    if not (hasattr(value, "__dlpack__") or hasattr(value, "__array__") or hasattr(value, "__cuda_array_interface__")):
        raise ArgumentTypeError(
            f'{where}: the value for "{key}" is a {name}, expected a Tensor, an array or an object with '
            "__dlpack__ or __array__"
        )
    try:
        if backend.name == "cupy" and _on_cuda(value):
            with backend.xp.cuda.Device(backend.index):
                if hasattr(value, "__dlpack__"):
                    return backend.xp.from_dlpack(value)
                return backend.xp.asarray(value)
        if hasattr(value, "__array__"):
            return np.asarray(value)
        return np.from_dlpack(value)
    except (TypeError, ValueError, RuntimeError, BufferError, AttributeError) as exc:
        raise ArgumentTypeError(
            f'{where}: the value for "{key}" is a {name} that gradkit cannot read ({type(exc).__name__}: '
            f"{str(exc)[:120]}); pass a NumPy array: for a PyTorch tensor .detach().cpu().numpy() (.float() first for "
            "bfloat16)"
        ) from None


def _on_cuda(value: Any) -> bool:
    """Whether another library's array lives on a CUDA device (by DLPack's device, or the CUDA interface)."""
    device = getattr(value, "__dlpack_device__", None)
    if device is not None:
        try:
            return int(device()[0]) in _DLPACK_CUDA
        except (TypeError, ValueError, RuntimeError, IndexError):
            return False
    return hasattr(value, "__cuda_array_interface__")
