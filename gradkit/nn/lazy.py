"""Lazy modules (PyTorch's ``torch.nn.modules.lazy``): layers whose input size is read from their first input.

``LazyLinear(out_features)`` is a ``Linear`` whose ``in_features`` is not given: until its first call its
``weight`` and ``bias`` are :class:`UninitializedParameter` s, which hold no values. The first call (a forward
pre-hook) reads the input's shape, gives them their shapes, initialises them as the eager layer does, and
turns the module into a plain ``Linear`` (``cls_to_become``). Likewise ``LazyConv1d/2d/3d`` and
``LazyConvTranspose1d/2d/3d`` (``in_channels`` from the input's channel axis), ``LazyBatchNorm1d/2d/3d`` and
``LazyInstanceNorm1d/2d/3d`` (``num_features``, with :class:`UninitializedBuffer` running statistics).
``LazyModuleMixin`` makes other lazy modules: a subclass defines ``initialize_parameters(*inputs)``.

Uninitialized tensors keep their dtype and device: ``module.to(device)`` or ``module.double()`` before the
first call places them, and they are made there. Reading their shape or values raises
:class:`UninitializedTensorError` (naming the module and the tensor); the state dict of an uninitialized
module holds them as they are, and loading a state dict gives them the shapes of its values (as PyTorch's).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.errors import ArgumentTypeError, DTypeError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.nn import init
from gradkit.nn.buffer import Buffer
from gradkit.nn.conv import (
    BatchNorm2d,
    BatchNorm3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from gradkit.nn.layers import BatchNorm1d, Linear, _size
from gradkit.nn.module import Module, RemovableHandle, StateDictShapeError, _zeros_on
from gradkit.nn.normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from gradkit.nn.parameter import Parameter
from gradkit.tensor import Tensor

__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
    "LazyModuleMixin",
    "UninitializedBuffer",
    "UninitializedParameter",
    "UninitializedTensorError",
    "is_lazy",
]


class UninitializedTensorError(GradkitError, RuntimeError, ValueError):
    """An uninitialized parameter or buffer (a lazy module's, before its first call) was read, or a lazy module's
    ``initialize_parameters`` left one uninitialized. A RuntimeError and a ValueError, as PyTorch raises each."""


# ------------------------------------------------------------------ uninitialized tensors
def _refuse(t: Any, what: str) -> Any:
    kind = "buffer" if isinstance(t, Buffer) else "parameter"
    where = t.__dict__.get("_lazy_owner") or f"an {type(t).__name__}"
    raise UninitializedTensorError(
        f"{where}: cannot use the {what} of an uninitialized {kind}: a lazy module gives its parameters and buffers "
        "their shapes at its first call; call the module on a sample input (or load a state dict into it) first"
    )


def _refused_property(name: str) -> property:
    def get(self: Any) -> Any:
        return _refuse(self, name)

    def put(self: Any, value: Any) -> None:
        _refuse(self, name)

    return property(get, put, doc=f"Refused: an uninitialized tensor has no {name} yet.")


def _refused_method(name: str, what: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _refuse(self, what)

    method.__name__ = name
    return method


def _shape_arg(shape: Any, op: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, Tensor) or not hasattr(shape, "__iter__"):
        raise ArgumentTypeError(f"{op}: shape must be an int or a sequence of ints, got {type(shape).__name__}")
    return tuple(whole(n, op, "shape", low=0) for n in shape)


class UninitializedTensorMixin:
    """What :class:`UninitializedParameter` and :class:`UninitializedBuffer` share: ``materialize``, and the
    refusal of every access to a shape or values they do not have yet."""

    __slots__ = ()
    #: The class the tensor becomes once materialised.
    cls_to_become: type = Tensor

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give the tensor ``shape``, on ``device`` with ``dtype`` (by default its own), in place: it becomes a
        ``cls_to_become`` (a Parameter, or a plain Tensor) holding zeros, the same object (a module and an
        optimiser that hold it see the change). Nothing is recorded for autograd."""
        from gradkit.backends import get_backend
        from gradkit.dtypes import to_dtype

        op = f"{type(self).__name__}.materialize"
        shape = _shape_arg(shape, op)
        backend = self._backend if device is None else get_backend(device, op)
        dt = self._data.dtype if dtype is None else to_dtype(dtype, op)
        if self._requires_grad and dt.kind != "f":
            raise DTypeError(f"{op}: the tensor requires grad, which needs a floating-point dtype, got {dt}")
        self._data = _zeros_on(backend, shape, dt)
        self._backend = backend
        self._version[0] += 1
        self.__dict__.pop("_lazy_owner", None)
        self.__class__ = self.cls_to_become

    def detach(self) -> Any:
        """The tensor itself: ``Module.state_dict`` holds an uninitialized tensor as it is (PyTorch's)."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    shape = _refused_property("shape")
    data = _refused_property("data")
    ndim = _refused_property("ndim")
    size = _refused_property("size")
    nbytes = _refused_property("nbytes")
    T = _refused_property("T")
    mT = _refused_property("mT")
    numel = _refused_method("numel", "number of elements")
    nelement = _refused_method("nelement", "number of elements")
    dim = _refused_method("dim", "ndim")
    __len__ = _refused_method("__len__", "length")
    __iter__ = _refused_method("__iter__", "values")
    __getitem__ = _refused_method("__getitem__", "values")
    __setitem__ = _refused_method("__setitem__", "values")
    __contains__ = _refused_method("__contains__", "values")
    __bool__ = _refused_method("__bool__", "values")
    __float__ = _refused_method("__float__", "values")
    __int__ = _refused_method("__int__", "values")
    __index__ = _refused_method("__index__", "values")
    __array__ = _refused_method("__array__", "values")
    __dlpack__ = _refused_method("__dlpack__", "values")
    numpy = _refused_method("numpy", "values")
    item = _refused_method("item", "values")
    tolist = _refused_method("tolist", "values")
    clone = _refused_method("clone", "values")


# What an uninitialized tensor still answers (PyTorch's allow-list, less what gradkit's Tensor lacks): identity,
# placement and casts (they change the dtype or device it will be made with), and what modules, optimisers,
# copies and pickles need. Every other Tensor method, the operators included, is refused: arithmetic on a tensor
# with no values would silently give an empty result.
_STILL_ANSWERED = frozenset({
    "__init__", "__hash__", "__repr__", "__format__", "__reduce__", "__reduce_ex__", "__deepcopy__",
    "__copy__", "__getstate__", "__setstate__", "__dlpack_device__",
    "materialize", "detach", "detach_", "requires_grad_", "share_memory_", "to", "cpu", "cuda", "type",
    "float", "double", "half", "bfloat16", "int", "long", "short", "char", "byte", "bool", "get_device",
    "is_floating_point", "is_complex", "register_hook", "register_post_accumulate_grad_hook", "zero_",
})


def _refuse_the_rest() -> None:
    for name, value in vars(Tensor).items():
        if name in _STILL_ANSWERED or name in vars(UninitializedTensorMixin) or not callable(value):
            continue
        what = "values" if name.startswith("__") else f"values ({name})"
        setattr(UninitializedTensorMixin, name, _refused_method(name, what))


_refuse_the_rest()


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet (PyTorch's ``nn.UninitializedParameter``): a lazy module's,
    until its first call ``materialize`` s it into a :class:`Parameter` (the same object).

    ``UninitializedParameter(requires_grad=True, device=None, dtype=None)``: the device and dtype it will have
    (``module.to`` changes them). Its shape and values cannot be read (:class:`UninitializedTensorError`); it
    may be moved, cast, registered, given to an optimiser, copied and pickled. Its repr is
    ``<UninitializedParameter>``.
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        from gradkit.creation import empty

        data = empty(0, dtype=dtype, device=device)
        if flag(requires_grad, "UninitializedParameter", "requires_grad") and data.dtype.kind != "f":
            raise DTypeError(f"UninitializedParameter: only a floating-point parameter can require grad, got dtype "
                             f"{data.dtype} (pass requires_grad=False)")
        super().__init__(data, requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Buffer):
    """A buffer whose shape is not known yet (PyTorch's ``nn.UninitializedBuffer``): a lazy module's running
    statistics, until its first call ``materialize`` s it into a plain Tensor (the same object).

    ``UninitializedBuffer(requires_grad=False, device=None, dtype=None, persistent=True)``; assigned to a
    module's attribute it is registered as a buffer (an ``nn.Buffer``), in the state dict when ``persistent``.
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None,
                 persistent: bool = True) -> None:
        from gradkit.creation import empty

        super().__init__(empty(0, dtype=dtype, device=device), persistent=persistent)
        if flag(requires_grad, "UninitializedBuffer", "requires_grad"):
            self.requires_grad_(True)


def is_lazy(t: Any) -> bool:
    """Whether ``t`` is an :class:`UninitializedParameter` or :class:`UninitializedBuffer` (PyTorch's
    ``torch.nn.parameter.is_lazy``)."""
    return isinstance(t, UninitializedTensorMixin)


# ------------------------------------------------------------------ the mixin
def _label(module: Module, name: str, value: Any) -> None:
    """Name ``module``'s uninitialized tensor ``value`` in the errors it raises ("LazyLinear.weight")."""
    if isinstance(value, UninitializedTensorMixin):
        value.__dict__["_lazy_owner"] = f"{type(module).__name__}.{name}"


def _drop_forward_pre_hooks(module: Module, match: Callable[[Any], bool]) -> int:
    """Take off ``module``'s forward pre-hooks ``hook`` for which ``match(hook)`` holds, as their handles'
    ``remove()`` would (found in the module's own table: a copy of the module has its own). How many."""
    ids = [hook_id for hook_id, hook in module.__dict__.get("_forward_pre_hooks", {}).items() if match(hook)]
    for hook_id in ids:
        handle = RemovableHandle.__new__(RemovableHandle)
        handle.id = hook_id
        handle._module = weakref.ref(module)
        handle._tables = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")
        handle.remove()
    return len(ids)


def _shape_of(x: Any) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


def _first(args: tuple, kwargs: dict, layer: str) -> Any:
    """The input a lazy layer reads its sizes from: the first argument of its call."""
    if args:
        return args[0]
    if kwargs:
        return next(iter(kwargs.values()))
    raise ArgumentTypeError(f"{layer}: expected an input to infer the layer's sizes from, got none")


class LazyModuleMixin:
    """A mixin for modules whose parameters and buffers get their shapes from the first input (PyTorch's).

    Put it first among the bases (``class LazyMLP(LazyModuleMixin, Module)``), register
    :class:`UninitializedParameter` s and :class:`UninitializedBuffer` s, and define
    ``initialize_parameters(*args, **kwargs)`` (the module's call arguments), which ``materialize`` s them and
    initialises their values. The first call runs it (a forward pre-hook, registered with ``with_kwargs=True``),
    then checks that nothing is left uninitialized (:class:`UninitializedTensorError` otherwise), takes the hook
    off, and, when the class sets ``cls_to_become``, makes the module an instance of that class.

    ``state_dict()`` holds the uninitialized tensors as they are; ``load_state_dict`` first gives each of them
    the shape of its value (made on its own device, with its own dtype), then loads as usual, so that a state
    dict saved from an initialized module loads into a new lazy one (which, if its class says so, becomes the
    eager class at its first call, without initialising again). A load that fails leaves them uninitialized; a
    value of shape (0,) (``gk.save``'s form of an uninitialized tensor) leaves its tensor uninitialized; the
    built-in lazy layers refuse a value of sizes they know to be wrong (``StateDictShapeError``); after a
    partial load (``strict=False``) the first call initialises only what was not loaded.
    """

    #: The class the module becomes after its first call (None: it stays a lazy module).
    cls_to_become: type | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Found again by its name when it is to be taken off, so that a copy of the module takes off its own.
        self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def __setattr__(self, name: str, value: Any) -> None:
        _label(self, name, value)
        super().__setattr__(name, value)

    def register_parameter(self, name: str, param: Any) -> None:
        super().register_parameter(name, param)
        _label(self, name, param)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        super().register_buffer(name, tensor, persistent)
        _label(self, name, tensor)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its submodules) is still uninitialized."""
        d = self.__dict__
        return any(is_lazy(t) for t in itertools.chain(d["_parameters"].values(), d["_buffers"].values()))

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Give the uninitialized parameters and buffers their shapes from the call's arguments, and values."""
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def _infer_parameters(self, module: Module, args: tuple, kwargs: dict | None = None) -> None:
        """The forward pre-hook of the first call: initialise, check, take the hook off, change class."""
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            left = [n for n, t in itertools.chain(module._parameters.items(), module._buffers.items()) if is_lazy(t)]
            raise UninitializedTensorError(
                f"{type(module).__name__}: the module has not been fully initialized: initialize_parameters left "
                f"{', '.join(left)} uninitialized"
            )
        _drop_forward_pre_hooks(module, lambda hook: getattr(hook, "__name__", None) == "_infer_parameters"
                                and getattr(hook, "__self__", None) is module)
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _lazy_load_hook(self, state_dict: Mapping, prefix: str) -> Callable[[], None] | None:
        """``load_state_dict``'s first step: each uninitialized tensor given a value that is not uninitialized
        takes the value's shape (PyTorch's load_state_dict pre-hook). A value of shape (0,) leaves it
        uninitialized: that is how ``gk.save`` writes an uninitialized tensor (PyTorch's pickle keeps it one), so
        a checkpoint saved before the first call loads into a new lazy module that stays lazy. Returns what
        undoes this (``load_state_dict`` calls it when the load fails, to change nothing), or None."""
        d = self.__dict__
        done: list[tuple[Any, type, Any, Any, Any]] = []
        for name, t in itertools.chain(d["_parameters"].items(), d["_buffers"].items()):
            key = prefix + name
            if is_lazy(t) and key in state_dict:
                value = state_dict[key]
                shape = None if is_lazy(value) else _shape_of(value)
                if shape is not None and shape != (0,):
                    pattern = self._lazy_shape(name)
                    if pattern is not None and not _fits(shape, pattern):
                        _unmaterialize(done)
                        kind = "buffer" if name in d["_buffers"] else "parameter"
                        raise StateDictShapeError(
                            f'error(s) in load_state_dict: size mismatch for "{key}": the state_dict has shape '
                            f"{shape}, the {type(self).__name__}'s uninitialized {kind} takes a shape "
                            f"{_pattern_text(pattern)} (* any size)"
                        )
                    done.append((t, type(t), t._data, t._backend, t.__dict__.get("_lazy_owner")))
                    t.materialize(shape)
        return (lambda: _unmaterialize(done)) if done else None

    def _lazy_shape(self, name: str) -> tuple[int | None, ...] | None:
        """The shape that a value loaded into the uninitialized tensor ``name`` must have (None: a size the
        input decides), or None (anything): a loaded weight of another layer's ``out_features`` is a
        ``StateDictShapeError``, as it is for the eager layer (PyTorch's lazy modules take it)."""
        return None


def _fits(shape: tuple[int, ...], pattern: tuple[int | None, ...]) -> bool:
    return len(shape) == len(pattern) and all(p is None or p == n for p, n in zip(pattern, shape, strict=True))


def _pattern_text(pattern: tuple[int | None, ...]) -> str:
    sizes = ["*" if p is None else str(p) for p in pattern]
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


def _unmaterialize(done: list[tuple[Any, type, Any, Any, Any]]) -> None:
    """Make the tensors a failed ``load_state_dict`` materialised uninitialized again, as they were."""
    for t, cls, data, backend, owner in reversed(done):
        t._data, t._backend = data, backend
        t.__class__ = cls
        if owner is not None:
            t.__dict__["_lazy_owner"] = owner


def _loaded_values(module: Module) -> list[tuple[Tensor, Any]]:
    """Copies of the values of ``module``'s parameters and buffers that are not uninitialized, taken before its
    first call materialises the others: loaded by a ``load_state_dict(..., strict=False)`` that lacked some keys,
    or plain buffers (``num_batches_tracked``). :func:`_restore` puts them back after ``reset_parameters``, so
    that only what the call materialised is initialised (PyTorch's raises an AttributeError instead)."""
    d = module.__dict__
    return [(t, t._data.copy()) for t in itertools.chain(d["_parameters"].values(), d["_buffers"].values())
            if t is not None and not is_lazy(t)]


def _restore(kept: list[tuple[Tensor, Any]]) -> None:
    for t, data in kept:
        t._data[...] = data
        t._version[0] += 1


# ------------------------------------------------------------------ lazy layers
class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the size of the last axis of its first input (PyTorch's
    ``nn.LazyLinear(out_features, bias=True, device=None, dtype=None)``).

    Until then ``in_features`` is 0 and ``weight`` / ``bias`` are uninitialized; the first call makes them and
    initialises them as ``Linear`` does (so with the same seed they get the same values as an eager ``Linear``
    made at that point), and the module becomes a ``Linear``.
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = _size(out_features, "out_features", "LazyLinear")
        if flag(bias, "LazyLinear", "bias"):
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def _lazy_shape(self, name: str) -> tuple[int | None, ...] | None:
        return {"weight": (self.out_features, None), "bias": (self.out_features,)}.get(name)

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """``in_features`` from the last axis of the input; ``weight`` (out_features, in_features) and ``bias``."""
        shape = _shape_of(_first(args, kwargs, "LazyLinear"))
        if not shape:
            raise ShapeError("LazyLinear: expected an input with at least 1 dimension, got a 0-d one")
        if self.has_uninitialized_params():
            kept = _loaded_values(self)
            if is_lazy(self.weight):
                self.in_features = shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
            else:  # loaded from a state dict that had no bias (strict=False): kept, the bias initialised
                self._in_features_from_weight(shape)
            if self.bias is not None and is_lazy(self.bias):
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
            _restore(kept)
        elif self.in_features == 0:  # the weight came from a state dict
            self._in_features_from_weight(shape)

    def _in_features_from_weight(self, shape: tuple[int, ...]) -> None:
        if shape[-1] != self.weight.shape[-1]:
            raise ShapeError(
                f"LazyLinear: the input's last axis has size {shape[-1]}, but the loaded weight of shape "
                f"{self.weight.shape} takes {self.weight.shape[-1]} features"
            )
        self.in_features = shape[-1]


class _LazyConvXdMixin(LazyModuleMixin):
    """``in_channels`` from the channel axis of the first input (axis 1 of a batched input, 0 of an unbatched
    one); weight and bias made and initialised as the eager convolution's."""

    def _lazy_setup(self, out_channels: Any, bias: Any, device: Any, dtype: Any) -> None:
        layer = type(self).__name__
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = _size(out_channels, "out_channels", layer)
        if self.out_channels % self.groups:
            raise InvalidArgumentError(f"{layer}: out_channels ({out_channels}) must be divisible by groups "
                                       f"({self.groups})")
        if flag(bias, layer, "bias"):
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _lazy_shape(self, name: str) -> tuple[int | None, ...] | None:
        if name == "bias":
            return (self.out_channels,)
        if name == "weight":
            if self._transposed:
                return (None, self.out_channels // self.groups, *self.kernel_size)
            return (self.out_channels, None, *self.kernel_size)
        return None

    def _get_in_channels(self, x: Any) -> int:
        layer, dims = type(self).__name__, self._dims
        shape = _shape_of(x)
        if len(shape) not in (dims + 1, dims + 2):
            raise ShapeError(f"{layer}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got "
                             f"input of shape {shape}")
        return shape[1] if len(shape) == dims + 2 else shape[0]

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """``in_channels`` from the input; ``weight`` and ``bias`` of the eager layer's shapes."""
        layer = type(self).__name__
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(_first(args, kwargs, layer))
            if self.in_channels % self.groups:
                raise InvalidArgumentError(f"{layer}: in_channels ({self.in_channels}, from the input) must be "
                                           f"divisible by groups ({self.groups})")
            if self._transposed:
                shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
            else:
                shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
            kept = _loaded_values(self)
            if is_lazy(self.weight):
                self.weight.materialize(shape)
            if self.bias is not None and is_lazy(self.bias):
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()
            _restore(kept)
        elif self.in_channels == 0:  # the weight came from a state dict: its shape says in_channels
            w = self.weight.shape
            self.in_channels = w[0] if self._transposed else w[1] * self.groups


class _LazyConv(_LazyConvXdMixin):
    """The lazy convolutions' constructor: the eager class's arguments without ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvXdMixin):
    """The lazy transposed convolutions' constructor: the eager class's arguments without ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_setup(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` is read from its first input (PyTorch's ``nn.LazyConv1d(out_channels,
    kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
    dtype=None)``); it becomes a ``Conv1d`` at its first call."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` is read from its first input (PyTorch's ``nn.LazyConv2d``, Conv2d's
    arguments without ``in_channels``); it becomes a ``Conv2d`` at its first call."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` is read from its first input (PyTorch's ``nn.LazyConv3d``, Conv3d's
    arguments without ``in_channels``); it becomes a ``Conv3d`` at its first call."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` is read from its first input (PyTorch's
    ``nn.LazyConvTranspose1d(out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
    bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None)``); it becomes a ``ConvTranspose1d``
    at its first call."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` is read from its first input (PyTorch's
    ``nn.LazyConvTranspose2d``, ConvTranspose2d's arguments without ``in_channels``); it becomes a
    ``ConvTranspose2d`` at its first call."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` is read from its first input (PyTorch's
    ``nn.LazyConvTranspose3d``, ConvTranspose3d's arguments without ``in_channels``); it becomes a
    ``ConvTranspose3d`` at its first call."""

    cls_to_become = ConvTranspose3d


class _LazyNormBase(LazyModuleMixin):
    """``num_features`` from the channel axis of the first input; ``weight`` (ones) and ``bias`` (zeros) with
    ``affine``, ``running_mean`` (zeros) and ``running_var`` (ones) with ``track_running_stats``, as the eager
    layer's. PyTorch's defaults: ``affine=True, track_running_stats=True`` (for the instance norms too)."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        # The base checks eps and momentum; it needs num_features >= 1, so it gets 1, which is replaced.
        super().__init__(1, eps, momentum, False, False, device, dtype, bias=False)
        layer = type(self).__name__
        self.num_features = 0
        self.affine = affine = flag(affine, layer, "affine")
        self.track_running_stats = track = flag(track_running_stats, layer, "track_running_stats")
        bias = flag(bias, layer, "bias")
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track:
            from gradkit.creation import zeros

            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = zeros((), dtype="int64", device=device)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            self.reset_running_stats()
            if self.weight is not None:
                init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _channels(self, x: Any) -> int:
        raise NotImplementedError

    def _lazy_shape(self, name: str) -> tuple[int | None, ...] | None:
        return (None,) if name in ("weight", "bias", "running_mean", "running_var") else None

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """``num_features`` from the input's channel axis; the parameters and running statistics."""
        x = _first(args, kwargs, type(self).__name__)
        if self.has_uninitialized_params():
            self.num_features = self._channels(x)
            kept = _loaded_values(self)
            for t in (self.weight, self.bias, self.running_mean, self.running_var):
                if t is not None and is_lazy(t):
                    t.materialize((self.num_features,))
            self.reset_parameters()
            _restore(kept)
        if self.num_features == 0:  # loaded from a state dict (or nothing to make): the tensors' size, if any
            for t in (self.weight, self.running_mean):
                if t is not None:
                    self.num_features = t.shape[0]
                    break


class _LazyBatchNorm(_LazyNormBase):
    def _channels(self, x: Any) -> int:
        shape = _shape_of(x)
        if len(shape) < 2:
            raise ShapeError(f"{type(self).__name__}: expected an input of shape (N, C, ...), got {shape}")
        return shape[1]


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` is axis 1 of its first input (PyTorch's
    ``nn.LazyBatchNorm1d(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
    dtype=None, *, bias=True)``); it becomes a ``BatchNorm1d`` at its first call."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` is axis 1 of its first input (PyTorch's ``nn.LazyBatchNorm2d``,
    LazyBatchNorm1d's arguments); it becomes a ``BatchNorm2d`` at its first call."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyBatchNorm, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` is axis 1 of its first input (PyTorch's ``nn.LazyBatchNorm3d``,
    LazyBatchNorm1d's arguments); it becomes a ``BatchNorm3d`` at its first call."""

    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNormBase):
    def _channels(self, x: Any) -> int:
        # The channel axis of a batched or an unbatched input (PyTorch 2.14 reads axis 1 of either, which for an
        # unbatched input is a spatial size and fails at the first call).
        d = self._dims
        shape = _shape_of(x)
        if len(shape) not in (d + 1, d + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {d + 1}-D (C, ...) or {d + 2}-D (N, C, ...) "
                             f"input, got input of shape {shape}")
        return shape[-d - 1]


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` is the channel axis of its first input (PyTorch's
    ``nn.LazyInstanceNorm1d(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
    dtype=None, *, bias=True)``; note the defaults, which are not InstanceNorm1d's); it becomes an
    ``InstanceNorm1d`` at its first call."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` is the channel axis of its first input (PyTorch's
    ``nn.LazyInstanceNorm2d``, LazyInstanceNorm1d's arguments); it becomes an ``InstanceNorm2d`` at its first
    call."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` is the channel axis of its first input (PyTorch's
    ``nn.LazyInstanceNorm3d``, LazyInstanceNorm1d's arguments); it becomes an ``InstanceNorm3d`` at its first
    call."""

    cls_to_become = InstanceNorm3d
