"""``gk.nn.utils.parametrize``: PyTorch's ``torch.nn.utils.parametrize``, tensors of a module computed from others.

``register_parametrization(module, "weight", p)`` moves the parameter (or buffer) ``weight`` to
``module.parametrizations.weight.original`` (a ``ParametrizationList``, in the ModuleDict
``module.parametrizations``), and ``module.weight`` then gives ``p(original)``, computed on each access
and differentiable w.r.t. ``original``. State-dict keys are PyTorch's
(``parametrizations.weight.original``; ``original0``, ``original1``, ... when ``p.right_inverse`` returns
several tensors), so a state dict of the same parametrized PyTorch model loads.

As PyTorch, the module's class is swapped for a generated subclass (``ParametrizedLinear``) that holds a
data descriptor per parametrized name; the name is taken out of the module's tables and instance dict.
Assigning ``module.weight = value`` (a Tensor or Parameter) runs the parametrizations' ``right_inverse``
and writes the result into the originals. A value put in the instance dict under the plain name (what
``gk.func.functional_call`` does for a key ``"weight"``) is used instead of the parametrization, as
PyTorch's ``functional_call``. Parametrized modules copy (``copy.deepcopy``) and pickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gradkit._args import flag, text
from gradkit.autograd.grad_mode import no_grad
from gradkit.errors import (
    ArgumentTypeError,
    DeviceError,
    DTypeError,
    GradkitError,
    InvalidArgumentError,
    ShapeError,
    describe,
)
from gradkit.nn.layers import ModuleDict, ModuleList
from gradkit.nn.module import Module, ModuleAttributeError
from gradkit.nn.parameter import Parameter
from gradkit.tensor import Tensor

__all__ = [
    "ParametrizationError",
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]


class ParametrizationError(GradkitError, RuntimeError):
    """A parametrization that cannot do what was asked: assigning to a parametrized tensor whose
    parametrizations lack ``right_inverse``, or one whose computation raised ``AttributeError`` (which
    would otherwise read as the module having no such attribute)."""


# ------------------------------------------------------------------ caching
_cache_depth = 0
# (id(module), name) -> (module, value): the module is kept so that its id cannot be reused by a new module
# (one made and dropped inside the block) while the block lasts, which would be given the old module's value.
_cache: dict[tuple[int, str], tuple[Module, Tensor]] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Within the block, each parametrized tensor is computed once (on first access) and reused.

    For a parametrized tensor used several times in one forward pass (an RNN's recurrent weight, tied
    weights). The values are dropped when the outermost ``cached()`` block ends. Blocks nest.
    """
    global _cache_depth, _cache
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache = {}


# ------------------------------------------------------------------ helpers
def _register(module: Module, name: str, tensor: Tensor) -> None:
    """Register ``tensor`` on ``module`` as a parameter when it is a Parameter, else as a buffer."""
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set_data(target: Tensor, value: Tensor) -> None:
    """Give ``target`` (which keeps its identity: an optimiser holding it still does) a copy of ``value``'s
    array on ``target``'s device, as PyTorch's ``set_`` (the shape may change; a stale gradient goes)."""
    if value is target or value._data is target._data:
        return
    array = target._backend.transfer(value._data, value._backend)
    if array is value._data:  # memory of its own: no alias of the caller's tensor, and writable
        array = array.copy()
    if array.shape != target._data.shape:
        target._grad = None
    target._data = array
    target._version[0] += 1


def _module(module: Any, op: str) -> Module:
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: module must be a gk.nn.Module, got {describe(module)}")
    return module


def _originals(plist: ParametrizationList) -> list[Tensor]:
    if plist.is_tensor:
        return [plist.original]
    return [getattr(plist, f"original{i}") for i in range(plist.ntensors)]


# ------------------------------------------------------------------ ParametrizationList
class ParametrizationList(ModuleList):
    """The parametrizations of one tensor and its unconstrained original(s): ``module.parametrizations[name]``.

    Holds ``original`` (a Parameter, or a buffer when the parametrized tensor was one), or ``original0``,
    ``original1``, ... when the first parametrization's ``right_inverse`` returns a sequence of tensors.
    Calling it applies the parametrizations in registration order. Made by ``register_parametrization``
    (as PyTorch's, not meant to be made directly). ``unsafe=True`` skips the checks that the
    parametrizations keep the tensor's shape and dtype.
    """

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        op = "ParametrizationList"
        if isinstance(modules, Iterable) and not isinstance(modules, Module):
            modules = list(modules)
            if not modules:
                raise InvalidArgumentError(f"{op}: needs one or more parametrizations, got none")
        super().__init__(modules)
        self.unsafe = flag(unsafe, op, "unsafe")
        if not isinstance(original, Tensor):
            raise ArgumentTypeError(f"{op}: original must be a Tensor, got {describe(original)}")
        shape, dtype = original.shape, original.dtype
        with no_grad():
            new: Any = original
            for module in reversed(list(self)):
                inverse = getattr(module, "right_inverse", None)
                if inverse is not None:
                    try:
                        new = inverse(new)
                    except NotImplementedError:  # as PyTorch: taken as the identity
                        pass
        self.is_tensor = isinstance(new, Tensor)
        if not self.is_tensor and (not isinstance(new, Sequence) or isinstance(new, str)):
            raise ArgumentTypeError(
                f"{op}: right_inverse must return a Tensor or a sequence of Tensors, got {describe(new)}"
            )
        self.ntensors = 1 if self.is_tensor else len(new)
        saved: tuple | None = None
        if self.is_tensor:
            if new.dtype != dtype:
                raise DTypeError(
                    f"{op}: right_inverse returned one tensor of dtype {new.dtype}, but the original has dtype "
                    f"{dtype}; a right_inverse that returns one tensor may not change the dtype"
                )
            if new._backend is not original._backend:
                raise DeviceError(
                    f"{op}: right_inverse returned one tensor on {new.device}, but the original is on "
                    f"{original.device}; a right_inverse that returns one tensor may not change the device"
                )
            saved = (original._data, original._grad)  # put back when a check below fails
            with no_grad():
                _set_data(original, new)
            _register(self, "original", original)
        else:
            for i, tensor in enumerate(new):
                if not isinstance(tensor, Tensor):
                    raise ArgumentTypeError(
                        f"{op}: right_inverse must return a Tensor or a sequence of Tensors, got element {i} "
                        f"of the sequence: {describe(tensor)}"
                    )
                requires_grad = original.requires_grad
                if isinstance(original, Parameter):
                    tensor = Parameter(tensor, requires_grad=requires_grad)
                elif tensor.requires_grad != requires_grad:
                    tensor.requires_grad_(requires_grad)
                _register(self, f"original{i}", tensor)
        if not self.unsafe:
            try:
                with no_grad():
                    z = self()
                _check_output(z, shape, dtype, op, "the original", "unsafe=True")
            except BaseException:
                # The registration fails: the module's tensor gets back the value right_inverse replaced.
                if saved is not None and original._data is not saved[0]:
                    original._data, original._grad = saved
                    original._version[0] += 1
                raise

    def right_inverse(self, value: Tensor) -> None:
        """Store ``value`` through the parametrizations' ``right_inverse`` (last registered first) in the
        original(s): what assigning ``module.<name> = value`` does."""
        op = "assigning to a parametrized tensor"
        if not isinstance(value, Tensor):
            raise ArgumentTypeError(f"{op}: expected a Tensor, got {describe(value)}")
        first = _originals(self)[0]
        with no_grad():
            if value._backend is not first._backend:
                value = value.to(first.device)
            for module in reversed(list(self)):
                inverse = getattr(module, "right_inverse", None)
                if inverse is None:
                    raise ParametrizationError(
                        f"{op}: parametrization {type(module).__name__} does not implement right_inverse"
                    )
                value = inverse(value)
            if self.is_tensor:
                self._write_original(value, self.original, "original", op)
            else:
                if not isinstance(value, Sequence) or isinstance(value, str):
                    raise ArgumentTypeError(
                        f"{op}: right_inverse must return a sequence of {self.ntensors} tensors, got "
                        f"{describe(value)}"
                    )
                if len(value) != self.ntensors:
                    raise InvalidArgumentError(
                        f"{op}: right_inverse must return a sequence of {self.ntensors} tensors, got "
                        f"{len(value)}"
                    )
                for i, tensor in enumerate(value):
                    self._write_original(tensor, getattr(self, f"original{i}"), f"original{i}", op)

    def _write_original(self, value: Any, original: Tensor, name: str, op: str) -> None:
        if not isinstance(value, Tensor):
            raise ArgumentTypeError(f"{op}: right_inverse must return Tensors, got {describe(value)} for {name}")
        if value.dtype != original.dtype:
            raise DTypeError(
                f"{op}: right_inverse returned a tensor of dtype {value.dtype} for {name}, which has dtype "
                f"{original.dtype}"
            )
        if not self.unsafe and value.shape != original.shape:
            raise ShapeError(
                f"{op}: right_inverse returned a tensor of shape {value.shape} for {name}, which has shape "
                f"{original.shape} (register the parametrization with unsafe=True to allow a new shape)"
            )
        _set_data(original, value)

    def forward(self) -> Tensor:
        first, *rest = self._modules.values()
        x = first(*_originals(self))
        for module in rest:
            x = module(x)
        return x


def _check_output(z: Any, shape: tuple, dtype: Any, op: str, what: str, hint: str) -> None:
    if not isinstance(z, Tensor):
        raise ArgumentTypeError(f"{op}: a parametrization must return a Tensor, got {describe(z)}")
    if z.dtype != dtype:
        raise DTypeError(
            f"{op}: the parametrization changes the dtype of the tensor ({what}'s {dtype} -> {z.dtype}); "
            f"pass {hint} to allow it"
        )
    if z.shape != shape:
        raise ShapeError(
            f"{op}: the parametrization changes the shape of the tensor ({what}'s {shape} -> {z.shape}); "
            f"pass {hint} to allow it"
        )


# ------------------------------------------------------------------ the parametrized class
_MISSING = object()


class _ParametrizedTensor:
    """The class attribute of a parametrized module's generated class that gives one parametrized tensor.

    A data descriptor: it comes before the instance dict, so the name must not be in the module's tables
    (``register_parametrization`` takes it out); a value that something puts in the instance dict under the
    name (``gk.func.functional_call``) is given instead of the parametrization, as PyTorch's functional_call.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, module: Any, owner: Any = None) -> Any:
        if module is None:
            return self
        name = self.name
        given = module.__dict__.get(name, _MISSING)
        if given is not _MISSING:
            return given
        try:
            plist = module.parametrizations[name]
            if _cache_depth:
                key = (id(module), name)
                hit = _cache.get(key)
                if hit is not None and hit[0] is module:
                    return hit[1]
                value = plist()
                _cache[key] = (module, value)
                return value
            return plist()
        except AttributeError as exc:  # else Python would ask Module.__getattr__, which says "no attribute"
            raise ParametrizationError(
                f"{type(module).__name__}.{name}: computing the parametrized tensor raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def __set__(self, module: Any, value: Any) -> None:
        module.parametrizations[self.name].right_inverse(value)
        _cache.pop((id(module), self.name), None)

    def __delete__(self, module: Any) -> None:
        raise ModuleAttributeError(
            f"{type(module).__name__}: {self.name!r} is parametrized; call "
            f"gk.nn.utils.parametrize.remove_parametrizations(module, {self.name!r}) to remove it"
        )


def _rebuild(base: type, names: tuple[str, ...]) -> Module:
    """Unpickling and copying a parametrized module: a new object of a new generated subclass of ``base``
    with the parametrized ``names`` (the state is set next, by ``Module.__setstate__``)."""
    cls = _parametrized_class(base)
    for name in names:
        setattr(cls, name, _ParametrizedTensor(name))
    return cls.__new__(cls)


def _parametrized_class(base: type) -> type:
    """A new subclass of ``base`` (PyTorch's ``Parametrized<Name>``), one per module, for its descriptors."""

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        descriptor = type(self).__dict__.get(name)
        if isinstance(descriptor, _ParametrizedTensor):
            descriptor.__set__(self, value)  # through right_inverse, also for a Parameter
        else:
            super(cls, self).__setattr__(name, value)

    def __reduce_ex__(self: Any, protocol: Any) -> tuple:  # noqa: N807
        names = tuple(n for n, v in type(self).__dict__.items() if isinstance(v, _ParametrizedTensor))
        getstate = getattr(self, "__getstate__", None)
        state = getstate() if getstate is not None else self.__dict__
        return _rebuild, (type(self).__bases__[0], names), state

    name = f"Parametrized{base.__name__}"
    cls = type(name, (base,), {
        "__setattr__": __setattr__,
        "__reduce_ex__": __reduce_ex__,
        "__module__": __name__,
        "__qualname__": name,
    })
    return cls


# ------------------------------------------------------------------ public functions
def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization on ``tensor_name`` (None: on any tensor)."""
    parametrizations = getattr(module, "parametrizations", None)
    if not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered (its own class when it has none)."""
    if is_parametrized(module):
        return type(module).__bases__[0]
    return type(module)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization`` (PyTorch's ``register_parametrization``).

    The first registration on a parameter or buffer moves it to
    ``module.parametrizations[tensor_name].original``, after ``parametrization.right_inverse`` (when it has
    one; a tuple result becomes ``original0``, ``original1``, ...). Registering again on the same name
    stacks: later parametrizations apply to the earlier ones' output. ``module.<tensor_name>`` is then
    computed on every access (see :func:`cached`); assigning to it goes through ``right_inverse``.
    Unless ``unsafe=True``, the parametrization must keep the tensor's shape and dtype. The
    parametrization takes the module's training mode. Returns ``module``.
    """
    op = "register_parametrization"
    module = _module(module, op)
    text(tensor_name, op, "tensor_name")
    if not isinstance(parametrization, Module):
        raise ArgumentTypeError(f"{op}: parametrization must be a gk.nn.Module, got {describe(parametrization)}")
    unsafe = flag(unsafe, op, "unsafe")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            with no_grad():
                y = getattr(module, tensor_name)
                x = parametrization(y)
                _check_output(x, y.shape, y.dtype, op, f"module.{tensor_name}", "unsafe=True")
                inverse = getattr(parametrization, "right_inverse", None)
                if inverse is not None:
                    try:
                        z = inverse(x)
                    except NotImplementedError:
                        pass
                    else:
                        if not isinstance(z, Tensor):
                            raise ArgumentTypeError(
                                f"{op}: parametrization.right_inverse must return a Tensor, got {describe(z)}"
                            )
                        _check_output(z, y.shape, y.dtype, f"{op} (right_inverse)", f"module.{tensor_name}",
                                      "unsafe=True")
        plist.append(parametrization)
        plist.unsafe = plist.unsafe or unsafe
        return module
    d = module.__dict__
    table = next((t for t in ("_parameters", "_buffers") if tensor_name in d[t]), None)
    if table is None:
        raise InvalidArgumentError(
            f"{op}: {type(module).__name__} has no parameter, buffer or parametrized tensor named {tensor_name!r}"
        )
    original = d[table][tensor_name]
    if original is None:
        raise InvalidArgumentError(
            f"{op}: {type(module).__name__}.{tensor_name} is None; there is no tensor to parametrize"
        )
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)  # out of every table and the instance dict: the descriptor shows
    if not is_parametrized(module):
        object.__setattr__(module, "__class__", _parametrized_class(type(module)))
        module.parametrizations = ModuleDict()
    setattr(type(module), tensor_name, _ParametrizedTensor(tensor_name))
    module.parametrizations[tensor_name] = plist
    return module


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Take the parametrizations off ``module.<tensor_name>`` (PyTorch's ``remove_parametrizations``).

    ``leave_parametrized=True``: the tensor keeps its current (parametrized) value, written into the
    original, which becomes the module's parameter (or buffer) again, the same object (an optimiser holding
    it keeps working); with several originals, a new Parameter (a buffer when none requires grad).
    ``leave_parametrized=False``: the original itself comes back (one original only). Once no tensor is
    parametrized, ``module.parametrizations`` goes and the module gets its own class back. Returns ``module``.
    """
    op = "remove_parametrizations"
    module = _module(module, op)
    text(tensor_name, op, "tensor_name")
    leave_parametrized = flag(leave_parametrized, op, "leave_parametrized")
    if not is_parametrized(module, tensor_name):
        raise InvalidArgumentError(f"{op}: {type(module).__name__} has no parametrization on {tensor_name!r}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
            if not isinstance(t, Tensor) or t.dtype != original.dtype:
                raise DTypeError(
                    f"{op}: leave_parametrized=True needs the parametrized tensor to keep the original's dtype "
                    f"{original.dtype}, got {describe(t)}"
                )
            with no_grad():
                _set_data(original, t)
    else:
        if not leave_parametrized:
            raise InvalidArgumentError(
                f"{op}: cannot use leave_parametrized=False for {tensor_name!r}, which is parametrized by "
                f"{plist.ntensors} tensors (original0, original1, ...); there is no single original to restore"
            )
        with no_grad():
            t = getattr(module, tensor_name)
        requires_grad = any(o.requires_grad for o in _originals(plist))
        original = Parameter(t.detach(), requires_grad=True) if requires_grad else t.detach()
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _cache.pop((id(module), tensor_name), None)
    _register(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        object.__setattr__(module, "__class__", type(module).__bases__[0])
    return module


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register ``from_module``'s parametrizations (all, or ``tensor_name``'s) on ``to_module`` too, sharing
    the parametrization modules and the originals (PyTorch's). A tensor ``to_module`` lacks is first made a
    Parameter of ``from_module``'s current value. Returns ``to_module``."""
    op = "transfer_parametrizations_and_params"
    from_module = _module(from_module, op)
    to_module = _module(to_module, op)
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [text(tensor_name, op, "tensor_name")]
    for name in names:
        if not is_parametrized(from_module, name):
            raise InvalidArgumentError(f"{op}: {type(from_module).__name__} has no parametrization on {name!r}")
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            with no_grad():
                setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        if source.is_tensor:
            target.original = source.original
        else:
            for i in range(source.ntensors):
                setattr(target, f"original{i}", getattr(source, f"original{i}"))
    return to_module
