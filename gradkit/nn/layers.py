"""Layers: containers, Linear, activations, Dropout, normalisation and Embedding (PyTorch's defaults)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, probability, real, text, whole
from gradkit.creation import empty, ones, zeros
from gradkit.errors import ArgumentTypeError, GradkitError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn.module import HOOK_EPOCH, Module
from gradkit.nn.parameter import Parameter
from gradkit.ops._util import normalize_axis
from gradkit.tensor import Tensor

__all__ = [
    "BatchNorm1d",
    "ContainerKeyError",
    "CosineSimilarity",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GELU",
    "GLU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "ModuleDict",
    "ModuleList",
    "PairwiseDistance",
    "PReLU",
    "ParameterDict",
    "ParameterList",
    "ReLU",
    "ReLU6",
    "RMSNorm",
    "Sequential",
    "Sigmoid",
    "SiLU",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Tanh",
    "Unflatten",
]


def _size(value: Any, what: str, layer: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{layer}: {what} must be an int >= {minimum}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------ containers
class ContainerKeyError(GradkitError, KeyError):
    """A key that a ModuleDict or ParameterDict does not hold."""

    def __str__(self) -> str:  # the message as written (KeyError would print its repr)
        return str(self.args[0]) if self.args else ""


def _as_parameter(value: Any, owner: Module, op: str) -> Parameter | None:
    """A ParameterList/ParameterDict entry: a Parameter, a Tensor (wrapped in one, as PyTorch) or None."""
    if value is None or isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise ArgumentTypeError(
        f"{type(owner).__name__}.{op}: expected a gk.nn.Parameter, a Tensor or None, got {type(value).__name__}"
    )


def _iterable(values: Any, owner: Module, op: str, what: str) -> Iterable:
    """``values`` if it is an iterable of entries (not a Tensor, array or str, which iterate their items)."""
    if isinstance(values, (Tensor, np.ndarray, str, bytes)) or not isinstance(values, Iterable):
        got = type(values).__name__
        raise ArgumentTypeError(f"{type(owner).__name__}.{op}: expected an iterable of {what}, got {got}")
    return values


class _ListContainer(Module):
    """What Sequential, ModuleList and ParameterList share: entries "0", "1", ... of one table, used as a list.

    Subclasses name the table (``_store``) and say how an entry is checked and registered.
    """

    _store = "_modules"
    _noun = "modules"

    def _check(self, value: Any, op: str) -> Any:
        if not isinstance(value, Module):
            raise ArgumentTypeError(f"{type(self).__name__}.{op}: expected a Module, got {type(value).__name__}")
        return value

    def _register(self, name: str, value: Any) -> None:
        self.add_module(name, value)

    def _entries(self) -> dict:
        return self.__dict__[self._store]

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries().values())

    def _position(self, index: Any, end: bool = False) -> int:
        """``index`` as a position in 0..n-1 (0..n with ``end``, for insert), negative ones counted from the end."""
        n = len(self._entries())
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            got = f"{type(index).__name__} {index!r:.40}"
            raise ArgumentTypeError(f"{type(self).__name__}: an index must be an int, got {got}")
        last = n if end else n - 1
        if not -n <= index <= last:
            raise IndexOutOfRangeError(f"{type(self).__name__}: index {index} is out of range for {n} {self._noun}")
        return int(index) + n if index < 0 else int(index)

    def _renumber(self, values: list) -> None:
        """Make ``values`` the entries, named "0", "1", ... (as PyTorch after a deletion or an insertion)."""
        for name in list(self._entries()):
            self._forget(name)
        for i, value in enumerate(values):
            self._register(str(i), value)

    def __setitem__(self, index: Any, value: Any) -> None:
        name = list(self._entries())[self._position(index)]
        self._register(name, self._check(value, "__setitem__"))  # keeps its place

    def __delitem__(self, index: Any) -> None:
        values = list(self._entries().values())
        if isinstance(index, slice):
            del values[index]
        else:
            del values[self._position(index)]
        self._renumber(values)

    def append(self, value: Any) -> _ListContainer:
        self._register(str(len(self._entries())), self._check(value, "append"))
        return self

    def extend(self, values: Iterable[Any]) -> _ListContainer:
        for value in list(_iterable(values, self, "extend", self._noun)):
            self.append(value)
        return self

    def __iadd__(self, values: Iterable[Any]) -> _ListContainer:
        return self.extend(values)

    def insert(self, index: int, value: Any) -> _ListContainer:
        """Insert ``value`` before position ``index`` (the entries are renumbered, as PyTorch's ModuleList)."""
        values = list(self._entries().values())
        values.insert(self._position(index, end=True), self._check(value, "insert"))
        self._renumber(values)
        return self

    def pop(self, index: int = -1) -> Any:
        """Remove and return the entry at ``index`` (the last by default)."""
        value = list(self._entries().values())[self._position(index)]
        del self[index]
        return value


class Sequential(_ListContainer):
    """Modules applied in order; children are named "0", "1", ... (or by an OrderedDict's keys).

    A plain ``Linear`` followed by a plain ``ReLU`` runs as one node (``F.linear_relu``), unless either
    has a hook (forward or backward) or a replaced ``forward``: then both run as written, so hooks see
    what unfused execution gives. (A hook put on a fused pair while this Sequential is running takes
    effect from its next call.)
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise ArgumentTypeError(f"Sequential: argument {i} is a {type(module).__name__}, not a Module")
                self.add_module(str(i), module)

    def __getstate__(self) -> dict:
        """Pickled and copied without the cached plan: its hook epoch means nothing in another process."""
        state = dict(self.__dict__)
        state.pop("_plan", None)
        return state

    def forward(self, x: Any) -> Any:
        modules = tuple(self._modules.values())
        plan = self.__dict__.get("_plan")
        # A plan stays valid while the children are the same, no hook was added or removed anywhere, and each
        # fused pair still runs the library's own forwards (one may be replaced on the instance or the class).
        stale = plan is None or plan[0] != modules or plan[3] != HOOK_EPOCH[0]
        if not stale:
            for m, n in plan[1]:  # (a loop, not all() over a generator: this runs at every call)
                if not _own_forwards(m, n):
                    stale = True
                    break
        if stale:
            plan = (modules, *_fuse(modules), HOOK_EPOCH[0])
            self.__dict__["_plan"] = plan
        for step in plan[2]:
            x = step(x)
        return x

    def __getitem__(self, index: Any) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[self._position(index)][1]


def _own_forwards(m: Module, nxt: Any) -> bool:
    """Whether ``m`` then ``nxt`` is a plain Linear and ReLU running the library's own forwards."""
    if type(m) is not Linear or type(nxt) is not ReLU:
        return False
    own = Linear.forward is _LINEAR_FORWARD and ReLU.forward is _RELU_FORWARD
    return own and "forward" not in m.__dict__ and "forward" not in nxt.__dict__


def _fusable(m: Module, nxt: Any) -> bool:
    """Whether ``m`` then ``nxt`` may run as one node: their own forwards, and no hooks on either."""
    return _own_forwards(m, nxt) and not m._has_hooks and not nxt._has_hooks


def _fuse(modules: tuple) -> tuple[list, list]:
    """The fused pairs, and the calls that run ``modules`` in order with each such pair as one node.

    Only the library's own classes are fused (a subclass, a module whose
    ``forward`` was replaced, or one with hooks runs as written), so the
    result is the same as running the modules one by one.
    """
    pairs: list = []
    steps: list = []
    i = 0
    while i < len(modules):
        m = modules[i]
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if _fusable(m, nxt):
            pairs.append((m, nxt))
            steps.append(m._forward_relu)
            i += 2
        else:
            steps.append(m)
            i += 1
    return pairs, steps


class ModuleList(_ListContainer):
    """A list of modules, registered as children "0", "1", ..."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if isinstance(modules, (Module, np.ndarray, str)) or not (modules is None or isinstance(modules, Iterable)):
            raise ArgumentTypeError(f"ModuleList: expected an iterable of modules, got {type(modules).__name__}")
        for module in modules or ():
            self.append(module)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return list(self._modules.values())[self._position(index)]


class ParameterList(_ListContainer):
    """A list of parameters, registered as "0", "1", ... (state-dict keys as PyTorch's).

    Tensors are wrapped in a Parameter (as PyTorch); None keeps a place. ``insert``, ``pop`` and
    ``del`` renumber the entries, as ModuleList's do (PyTorch's ParameterList has none of the three).
    """

    _store = "_parameters"
    _noun = "parameters"

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _check(self, value: Any, op: str) -> Parameter | None:
        return _as_parameter(value, self, op)

    def _register(self, name: str, value: Any) -> None:
        self.register_parameter(name, value)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return list(self._parameters.values())[self._position(index)]

    def extra_repr(self) -> str:
        return "\n".join(f"  ({i}): {_describe(p)}" for i, p in enumerate(self))


def _describe(p: Any) -> str:
    """One ParameterList/ParameterDict line, as PyTorch prints it."""
    if p is None:
        return "None"
    device = "" if p.device == "cpu" else f" ({p.device})"
    return f"Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}{device}]"


class _DictContainer(Module):
    """What ModuleDict and ParameterDict share: entries of one table by str key, used as a dict."""

    _store = "_modules"
    _noun = "module"
    _sort_plain_dicts = False  # ParameterDict.update sorts a plain dict's keys (PyTorch does)

    def _check(self, value: Any, op: str) -> Any:
        if value is not None and not isinstance(value, Module):
            got = type(value).__name__
            raise ArgumentTypeError(f"{type(self).__name__}.{op}: expected a Module or None, got {got}")
        return value

    def _register(self, name: str, value: Any) -> None:
        self.add_module(name, value)

    def _entries(self) -> dict:
        return self.__dict__[self._store]

    def _key(self, key: Any, op: str) -> str:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"{type(self).__name__}.{op}: keys are str, got {type(key).__name__} {key!r:.40}")
        if key not in self._entries():
            names = list(self._entries())
            keys = ", ".join(map(repr, names[:10])) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
            keys = keys or "none"
            raise ContainerKeyError(f"{type(self).__name__}.{op}: no {self._noun} named {key!r} (keys: {keys})")
        return key

    def __getitem__(self, key: str) -> Any:
        return self._entries()[self._key(key, "__getitem__")]

    def __setitem__(self, key: str, value: Any) -> None:
        self._register(key, self._check(value, "__setitem__"))

    def __delitem__(self, key: str) -> None:
        self._forget(self._key(key, "__delitem__"))

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __contains__(self, key: object) -> bool:
        return key in self._entries()

    def keys(self) -> Any:
        return self._entries().keys()

    def values(self) -> Any:
        return self._entries().values()

    def items(self) -> Any:
        return self._entries().items()

    def pop(self, key: str) -> Any:
        """Remove the entry ``key`` and return it."""
        value = self._entries()[self._key(key, "pop")]
        self._forget(key)
        return value

    def clear(self) -> None:
        for key in list(self._entries()):
            self._forget(key)

    def update(self, entries: Any) -> None:
        """Add or replace entries from a mapping (or a ModuleDict/ParameterDict) or an iterable of (key, value) pairs.

        As PyTorch: an ordered mapping keeps its order; ParameterDict sorts the keys of a plain dict.
        """
        where = f"{type(self).__name__}.update"
        if isinstance(entries, (_DictContainer, Mapping)):
            pairs = list(entries.items())
            plain = not isinstance(entries, (OrderedDict, _DictContainer))
            if self._sort_plain_dicts and plain and all(isinstance(k, str) for k, _ in pairs):
                pairs.sort(key=lambda kv: kv[0])
        else:
            pairs = []
            for j, pair in enumerate(_iterable(entries, self, "update", "(key, value) pairs")):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable):
                    raise ArgumentTypeError(
                        f"{where}: element {j} must be a (key, value) pair, got {type(pair).__name__}"
                    )
                pair = tuple(pair)
                if len(pair) != 2:
                    raise InvalidArgumentError(
                        f"{where}: element {j} has length {len(pair)}, expected a (key, value) pair"
                    )
                pairs.append(pair)
        for key, value in pairs:
            self[key] = value


class ModuleDict(_DictContainer):
    """Modules by name, registered as children under their keys (state-dict keys "key.weight", ...)."""

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)


class ParameterDict(_DictContainer):
    """Parameters by name, registered under their keys; Tensors are wrapped in a Parameter (as PyTorch)."""

    _store = "_parameters"
    _noun = "parameter"
    _sort_plain_dicts = True

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _check(self, value: Any, op: str) -> Parameter | None:
        return _as_parameter(value, self, op)

    def _register(self, name: str, value: Any) -> None:
        self.register_parameter(name, value)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last (key, parameter) pair."""
        if not self._parameters:
            raise ContainerKeyError("ParameterDict.popitem: the ParameterDict is empty")
        key = next(reversed(self._parameters))
        return key, self.pop(key)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects."""
        return ParameterDict(OrderedDict(self.items()))

    def extra_repr(self) -> str:
        return "\n".join(f"  ({k}): {_describe(p)}" for k, p in self.items())


# ------------------------------------------------------------------ linear
class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features).

    Initialised as PyTorch: weight by ``kaiming_uniform_(a=sqrt(5))`` (uniform in
    +-1/sqrt(in_features)), bias uniform in +-1/sqrt(in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.in_features = _size(in_features, "in_features", "Linear")
        self.out_features = _size(out_features, "out_features", "Linear")
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dtype, device=device))
        if flag(bias, "Linear", "bias"):
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def _forward_relu(self, x: Any) -> Tensor:
        """``relu(self(x))`` as one node (``Sequential`` calls it for a Linear followed by a ReLU)."""
        return F.linear_relu(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input (extra arguments are accepted and ignored, as PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim`` (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (a tuple or list of ints; one may be -1), as PyTorch's."""

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        self.dim = whole(dim, "Unflatten", "dim")
        if not isinstance(unflattened_size, (tuple, list)):
            got = f"{type(unflattened_size).__name__} {unflattened_size!r:.40}"
            raise ArgumentTypeError(f"Unflatten: unflattened_size must be a tuple or list of ints, got {got}")
        sizes = tuple(whole(s, "Unflatten", f"unflattened_size[{i}]") for i, s in enumerate(unflattened_size))
        if sum(s == -1 for s in sizes) > 1 or any(s < -1 for s in sizes):
            raise InvalidArgumentError(
                f"Unflatten: unflattened_size {sizes} may hold sizes >= 0 and at most one -1"
            )
        self.unflattened_size = sizes

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"Unflatten: expected a Tensor, got {type(x).__name__}")
        if x.ndim == 0:
            raise ShapeError("Unflatten: a 0-d tensor has no dimension to unflatten")
        axis = normalize_axis(self.dim, x.ndim, "Unflatten")
        n = x.shape[axis]
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            fits = known != 0 and n % known == 0
            sizes = tuple(n // known if s == -1 else s for s in sizes) if fits else sizes
        else:
            fits = known == n
        if not fits:
            raise ShapeError(
                f"Unflatten: unflattened_size {self.unflattened_size} does not fit dimension {self.dim} "
                f"of size {n} (input shape {x.shape})"
            )
        return ops.reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ------------------------------------------------------------------ activations
class ReLU(Module):
    """max(x, 0). ``inplace=True``: written into the input, which is returned (``F.relu``'s ``inplace``)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "ReLU", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = real(negative_slope, "LeakyReLU", "negative_slope")
        self.inplace = flag(inplace, "LeakyReLU", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """GELU, exact (``approximate="none"``) or the tanh form (``approximate="tanh"``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if text(approximate, "GELU", "approximate") not in ("none", "tanh"):
            raise InvalidArgumentError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class SiLU(Module):
    """x * sigmoid(x). ``inplace=True``: written into the input, which is returned."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "SiLU", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Mish(Module):
    """x * tanh(softplus(x)). ``inplace=True``: written into the input, which is returned."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "Mish", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.mish(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        beta = real(beta, "Softplus", "beta")
        if beta == 0 or not math.isfinite(beta):
            raise InvalidArgumentError(f"Softplus: beta must be a finite non-zero number, got {beta!r}")
        self.beta = beta
        self.threshold = real(threshold, "Softplus", "threshold")

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """x where x > 0, else alpha (exp(x) - 1). ``inplace=True``: written into the input, which is returned."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = real(alpha, "ELU", "alpha")
        self.inplace = flag(inplace, "ELU", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softmax(Module):
    """Softmax along ``dim`` (the last axis when None)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax) along ``dim`` (the last axis when None), computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSigmoid(Module):
    """log(sigmoid(x)), finite for any finite x: ``F.logsigmoid``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class Hardtanh(Module):
    """x limited to [min_val, max_val]. ``inplace=True``: written into the input, which is returned."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.min_val = real(min_val, name, "min_val")
        self.max_val = real(max_val, name, "max_val")
        if self.min_val > self.max_val:
            raise InvalidArgumentError(
                f"{name}: min_val ({self.min_val}) cannot be greater than max_val ({self.max_val})"
            )
        self.inplace = flag(inplace, name, "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6). ``inplace=True``: written into the input, which is returned."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softsign(x)


class Hardsigmoid(Module):
    """min(max(x + 3, 0), 6) / 6. ``inplace=True``: written into the input, which is returned."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "Hardsigmoid", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x, self.inplace)


class Hardswish(Module):
    """x * min(max(x + 3, 0), 6) / 6. ``inplace=True``: written into the input, which is returned."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "Hardswish", "inplace")

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x, self.inplace)


class GLU(Module):
    """Gated linear unit over ``dim``: the first half times the sigmoid of the second."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = whole(dim, "GLU", "dim")

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along ``dim`` (the last axis when None)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = None if dim is None else whole(dim, "Softmin", "dim")

    def forward(self, x: Tensor) -> Tensor:
        return F.softmin(x, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x where x > 0, else ``weight * x``: a learnt slope, shared (``num_parameters=1``) or one per channel
    (dim 1 of the input), initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = _size(num_parameters, "num_parameters", "PReLU", 1)
        self.init = real(init, "PReLU", "init")
        self.weight = Parameter(empty(self.num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# ------------------------------------------------------------------ distances
class CosineSimilarity(Module):
    """Cosine similarity of ``x1`` and ``x2`` along ``dim``: ``F.cosine_similarity``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = whole(dim, "CosineSimilarity", "dim")
        self.eps = real(eps, "CosineSimilarity", "eps", low=0.0)

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``||x1 - x2 + eps||_p`` over the last axis: ``F.pairwise_distance``."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = F._norm_order(p, "PairwiseDistance")
        self.eps = real(eps, "PairwiseDistance", "eps")
        self.keepdim = flag(keepdim, "PairwiseDistance", "keepdim")

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class _DropoutNd(Module):
    """What the dropout layers share: ``p`` (a probability) and ``inplace`` (passed to their functional form: the
    result written into the input, which is returned)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.p = probability(p, name, "p")
        self.inplace = flag(inplace, name, "inplace")

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability ``p`` and scale the rest by 1/(1-p), in training mode only."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)


# ------------------------------------------------------------------ normalisation
def _normalized_shape(value: Any, layer: str) -> tuple[int, ...]:
    """A normalisation layer's ``normalized_shape`` (an int, or a tuple or list of ints >= 1) as a tuple."""
    if isinstance(value, (int, np.integer)):
        shape = (value,)
    elif isinstance(value, (tuple, list)):
        shape = tuple(value)
    else:
        got = f"{type(value).__name__} {value!r:.40}"
        raise ArgumentTypeError(f"{layer}: normalized_shape must be an int or a tuple of ints, got {got}")
    return tuple(_size(d, "normalized_shape", layer, 1) for d in shape)


class LayerNorm(Module):
    """Normalise over the last axes given by ``normalized_shape``; weight ones and bias zeros."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        eps = real(eps, "LayerNorm", "eps")
        if eps <= 0:
            raise InvalidArgumentError(f"LayerNorm: eps must be > 0, got {eps!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine = flag(elementwise_affine, "LayerNorm", "elementwise_affine")
        bias = flag(bias, "LayerNorm", "bias")
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    """Divide by the root mean square over the last axes given by ``normalized_shape``, then scale by
    ``weight`` (ones). ``eps=None``: the machine epsilon of the dtype computed in (``F.rms_norm``)."""

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape, "RMSNorm")
        self.eps = None if eps is None else real(eps, "RMSNorm", "eps", low=0.0)
        self.elementwise_affine = flag(elementwise_affine, "RMSNorm", "elementwise_affine")
        if self.elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _NormBase(Module):
    """The arguments, parameters and running-statistics buffers of batch and instance normalisation, PyTorch's.

    ``weight`` (ones) and ``bias`` (zeros) of shape (num_features,) with ``affine`` (``bias=False`` drops the
    bias); ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` with
    ``track_running_stats``. A state dict without ``num_batches_tracked`` loads, as in PyTorch.
    """

    _optional_state = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool, device: Any, dtype: Any, bias: bool = True) -> None:
        super().__init__()
        layer = type(self).__name__
        self.num_features = c = _size(num_features, "num_features", layer, 1)
        eps = real(eps, layer, "eps")
        if eps <= 0:
            raise InvalidArgumentError(f"{layer}: eps must be > 0, got {eps!r}")
        if momentum is not None:
            momentum = real(momentum, layer, "momentum")
        if momentum is not None and not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"{layer}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine = flag(affine, layer, "affine")
        self.track_running_stats = track_running_stats = flag(track_running_stats, layer, "track_running_stats")
        bias = flag(bias, layer, "bias")
        if affine:
            self.weight = Parameter(ones(c, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(zeros(c, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(c, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(c, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64", device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0


class _BatchNorm(_NormBase):
    """Batch normalisation over every axis but the channel axis 1, with PyTorch's running statistics.

    Subclasses check the input's shape (``_check_input``); axes after the third are flattened into the
    third for ``F.batch_norm``. Training mode normalises with the batch mean and biased variance and
    updates ``running_mean`` / ``running_var`` (the unbiased variance) as
    ``(1 - momentum) * running + momentum * batch`` (a cumulative average
    when ``momentum`` is None); ``num_batches_tracked`` counts the updates.
    Evaluation mode uses the running statistics. A state dict without
    ``num_batches_tracked`` loads (the count is kept), as in PyTorch.
    ``bias=False`` (keyword only, PyTorch 2.14's) drops the bias of an affine layer; the repr shows
    ``bias=`` as PyTorch's does (False without ``affine``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def _check_input(self, x: Tensor) -> None:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: expected a Tensor, got {type(x).__name__}")
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            counter = self.num_batches_tracked
            counter._data[...] += 1
            counter._version[0] += 1
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(counter._data)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        flat = x if x.ndim <= 3 else ops.reshape(x, (x.shape[0], x.shape[1], math.prod(x.shape[2:])))
        out = F.batch_norm(
            flat,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )
        return out if flat is x else ops.reshape(out, x.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs (see ``_BatchNorm``)."""

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ShapeError(
                f"BatchNorm1d: expected input of shape (N, {self.num_features}) or (N, {self.num_features}, L), "
                f"got {x.shape}"
            )


# ------------------------------------------------------------------ embedding
class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, initialised N(0, 1).

    Row ``padding_idx`` (when given) starts at zero and receives no gradient. With ``max_norm``, each
    forward first rescales in place (outside autograd, as PyTorch) the looked-up rows whose
    ``norm_type``-norm exceeds it to norm ``max_norm``; the gradient is the lookup's, of the rescaled
    rows. ``scale_grad_by_freq`` and ``sparse`` are accepted as False only; ``_weight`` (an initial
    weight, used as it is) and ``_freeze`` are :meth:`from_pretrained`'s, as PyTorch's.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = _size(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _size(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            padding_idx = whole(padding_idx, "Embedding", "padding_idx")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise IndexOutOfRangeError(
                    f"Embedding: padding_idx {padding_idx} is out of range for {self.num_embeddings} embeddings"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = None if max_norm is None else real(max_norm, "Embedding", "max_norm", low=0.0)
        self.norm_type = real(norm_type, "Embedding", "norm_type", low=0.0, low_open=True)
        for name, value in (("scale_grad_by_freq", scale_grad_by_freq), ("sparse", sparse)):
            if flag(value, "Embedding", name):
                raise InvalidArgumentError(
                    f"Embedding: {name}=True is not supported by gradkit (dense gradients, not scaled); pass False"
                )
        self.scale_grad_by_freq = False
        self.sparse = False
        if _weight is None:
            self.weight = Parameter(empty(self.num_embeddings, self.embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if not isinstance(_weight, Tensor):
                raise ArgumentTypeError(f"Embedding: _weight must be a Tensor, got {type(_weight).__name__}")
            if _weight.shape != (self.num_embeddings, self.embedding_dim):
                raise ShapeError(
                    f"Embedding: _weight has shape {_weight.shape}, expected "
                    f"({self.num_embeddings}, {self.embedding_dim})"
                )
            if _weight.dtype.kind != "f":
                raise InvalidArgumentError(f"Embedding: _weight must be a float tensor, got dtype {_weight.dtype}")
            self.weight = Parameter(_weight, requires_grad=not flag(_freeze, "Embedding", "_freeze"))

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (a 2-d float tensor; shared, not copied), trainable
        unless ``freeze``. Row ``padding_idx`` is not zeroed (as PyTorch): it only gets no gradient."""
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 2:
            got = f"shape {embeddings.shape}" if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be a 2-d Tensor, got {got}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=flag(freeze, "Embedding.from_pretrained", "freeze"))

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        if self.max_norm is not None:
            self._renorm(indices)
        return F.embedding(indices, self.weight, self.padding_idx)

    def _renorm(self, indices: Any) -> None:
        """Scale the rows ``indices`` picks whose norm exceeds ``max_norm`` down to it, in place."""
        weight = self.weight
        if not isinstance(weight, Tensor) or weight.ndim != 2:
            return  # F.embedding names the problem
        backend = weight._backend
        xp = backend.xp
        idx = F._int_array(indices, backend, "embedding", "indices")
        F._check_range(idx, weight.shape[0], "embedding", "index")
        rows = xp.unique(idx.reshape(-1))
        if rows.size == 0:
            return
        picked = weight._data[rows]
        work = picked.astype(np.float64) if picked.dtype == np.float16 else picked
        p = self.norm_type
        if p == 2.0:
            norms = xp.sqrt((work * work).sum(axis=1))
        elif p == math.inf:
            norms = xp.abs(work).max(axis=1)
        else:
            norms = (xp.abs(work) ** p).sum(axis=1) ** (1.0 / p)
        scale = xp.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0).astype(picked.dtype)
        weight._data[rows] = picked * scale[:, None]
        weight._version[0] += 1

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            text += f", norm_type={self.norm_type}"
        return text


# The forwards Sequential may fuse: a class patched later (Linear.forward = ...) runs as written.
_LINEAR_FORWARD = Linear.forward
_RELU_FORWARD = ReLU.forward
