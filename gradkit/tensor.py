"""The Tensor: an array of a backend plus what autograd needs to know about it.

Operators and methods call the functions of ``gradkit.ops``; each of those
computes its result with the backend's array module and records a node
(see ``gradkit.autograd.function.record``).
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradkit._args import check_int_fits, flag, no_out, out_of_range, scalar, text, whole
from gradkit.autograd import grad_mode
from gradkit.autograd.node import hook_keys
from gradkit.backends.base import Backend
from gradkit.backends.devices import cuda_backend
from gradkit.backends.devices import device as _device_type
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    DeviceError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)

_new = object.__new__
_DEVICE_NAMES = frozenset(("cpu", "cuda", "cuda:0", "gpu", "numpy", "cupy"))  # t.to(name): not dtypes' names


class _NotGiven:
    """The default of PyTorch's keywords (``dim=``, ``keepdim=``, ...): "not given", told apart from None."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<not given>"


#: A PyTorch keyword that was not given. Checked with ``is``: NumPy's spelling pays one compare per keyword.
NOT_GIVEN: Any = _NotGiven()


class _DefaultDdof(int):
    """The int 0 that is ``ddof``'s default, so that a ``ddof=0`` the caller wrote counts as given
    (PyTorch's form of var/std keeps it rather than taking its own default correction of 1)."""

    __slots__ = ()


DDOF_DEFAULT: Any = _DefaultDdof(0)
_ndarray = np.ndarray

_INPLACE_UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide"}
_INPLACE_OPS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}  # recorded: gradkit.ops
_SLOTS = ("_data", "_backend", "_requires_grad", "_grad_fn", "_version")  # Tensor's, but for __dict__ and weakrefs
_VIEW_LINKS = ("_base", "_views", "_views_live")  # in a tensor's __dict__ (gradkit/autograd/inplace.py)


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autograd."""

    # A tensor is made for every operation, so only the fields every tensor
    # needs are slots; the rest default at class level (set on few tensors).
    __slots__ = ("_data", "_backend", "_requires_grad", "_grad_fn", "_version", "__dict__", "__weakref__")
    _grad: Tensor | None = None
    _hooks: dict | None = None  # registration key -> hook (see register_hook)
    # True on a gradient that a VJP rule has just created and that nothing else holds:
    # the rule that receives it may overwrite it (see notes/INTERNALS.md, "Gradient ownership").
    _owned: bool = False
    # PyTorch's ``_base``: the tensor whose memory this view lies on (None: not a view; see
    # gradkit/autograd/inplace.py, which also keeps a base's ``_views``)
    _base: Tensor | None = None
    # NumPy defers to our reflected operators (np_array * tensor -> Tensor).
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(
        self,
        data: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> None:
        from gradkit.creation import _to_array

        array, backend = _to_array(data, dtype, device, "Tensor")
        self._data = array
        self._backend = backend
        self._requires_grad = False
        self._grad_fn = None
        # Sharing another tensor's memory means sharing its version counter too.
        self._version = data._version if isinstance(data, Tensor) and array is data._data else [0]
        if requires_grad is not False:
            self.requires_grad_(requires_grad)

    @classmethod
    def _make(cls, data: Any, backend: Backend, grad_fn: Any = None) -> Tensor:
        """Wrap an array without checks (the engine's fast path)."""
        if type(data) is not _ndarray and isinstance(data, np.generic):
            data = np.asarray(data)  # NumPy returns scalars for 0-d results; a tensor holds an array
        t = _new(cls)
        t._data = data
        t._backend = backend
        t._requires_grad = grad_fn is not None
        t._grad_fn = grad_fn
        t._version = [0]
        return t

    # ------------------------------------------------------------------ data
    @property
    def data(self) -> Any:
        """The backend array (NumPy or CuPy) holding the values."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if not isinstance(value, Tensor) and not hasattr(value, "dtype"):
            try:  # lists and numbers: made an array here, so that CuPy never sees strings or ragged rows
                value = np.asarray(value)
            except ValueError:
                raise ShapeError(f"Tensor.data: the nested lists are ragged ({value!r:.60})") from None
            except TypeError:  # a list of CuPy arrays, which NumPy may not convert: CuPy makes the array
                try:
                    value = self._backend.asarray(value)
                except (TypeError, ValueError) as exc:
                    raise ArgumentTypeError(f"Tensor.data: cannot make an array of {value!r:.60} ({exc})") from None
        dtype = getattr(value, "dtype", None)
        if isinstance(dtype, np.dtype) and (dtype.kind not in "biuf" or dtype.itemsize > 8):
            raise DTypeError(f"Tensor.data: cannot hold an array of dtype {dtype}")  # before CuPy sees it
        array = value._data if isinstance(value, Tensor) else self._backend.asarray(value)
        if not isinstance(array, self._backend.array_type):
            raise ArgumentTypeError(
                f"Tensor.data: expected an array of {self._backend.name}, got {type(value).__name__}"
            )
        kind = array.dtype.kind
        if kind not in "biuf" or array.dtype.itemsize > 8:
            raise DTypeError(f"Tensor.data: cannot hold an array of dtype {array.dtype}")
        if self._requires_grad and kind != "f":
            raise DTypeError(
                f"Tensor.data: this tensor requires grad, so its data must be floating point, got {array.dtype}"
            )
        self._data = array
        self._version[0] += 1
        # other memory: no longer a view, nor the base of its views (their places in it would be wrong)
        for key in _VIEW_LINKS:
            self.__dict__.pop(key, None)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements (NumPy's meaning), an int that PyTorch code may also call: ``t.size()`` is the
        shape and ``t.size(dim)`` one length (see :class:`ElementCount`)."""
        return ElementCount(self._data.size, self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def nbytes(self) -> int:
        """Bytes the elements take (NumPy's ``nbytes``: size times itemsize)."""
        return self._data.nbytes

    @property
    def itemsize(self) -> int:
        """Bytes one element takes (NumPy's ``itemsize``; PyTorch's ``element_size()``)."""
        return self._data.itemsize

    @property
    def real(self) -> Tensor:
        """The real part: the tensor itself (gradkit tensors are real), as NumPy's ``.real`` of a real array."""
        return self

    @property
    def imag(self) -> Tensor:
        """The imaginary part of a real tensor: zeros of its shape and dtype, outside the graph (NumPy gives
        read-only zeros; these are a new tensor, and writing to them changes nothing else)."""
        return Tensor._make(self._backend.xp.zeros_like(self._data), self._backend)

    def conj(self) -> Tensor:
        """The complex conjugate: the tensor itself, as for any real tensor (PyTorch's ``conj``)."""
        return self

    conjugate = conj

    @property
    def device(self) -> Any:
        """The tensor's ``gk.device`` (``.type``, ``.index``; equal to ``"cpu"`` or ``"cuda:N"``)."""
        return self._backend.device_object

    @property
    def backend(self) -> Backend:
        return self._backend

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the values on the host."""
        array = self._backend.to_numpy(self._data)
        return array.copy() if array is self._data else array

    def item(self, *args: Any) -> Any:
        """The one element as a Python number; as NumPy's ``item``, ``t.item(i)`` takes the element at flat
        index ``i`` (of any tensor) and ``t.item(i, j, ...)`` or ``t.item((i, j, ...))`` the one at that index."""
        data = self._data
        if args:
            data = data[_item_index(args, self.shape)]
        elif data.size != 1:
            raise ShapeError(f"item: only a one-element tensor converts to a Python scalar, got shape {self.shape}")
        # Through the backend, so that gk.cuda.capture's guard refuses this host read as it does .numpy().
        return self._backend.to_numpy(data).reshape(()).item()

    def tolist(self) -> Any:
        return self._backend.to_numpy(self._data).tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self._backend.to_numpy(self._data)
        moved = array is not self._data  # a device tensor comes to the host as a copy
        if copy is not None:
            copy = flag(copy, "__array__", "copy")
        if dtype is not None:
            try:
                dtype = np.dtype(dtype)  # any NumPy dtype: complex too, as np.asarray(t, complex) asks
            except (TypeError, ValueError):
                raise DTypeError(f"__array__: dtype must be a NumPy dtype, got {dtype!r:.40}") from None
        if dtype is not None and dtype != array.dtype:
            if copy is False:
                raise InvalidArgumentError(
                    f"__array__: converting {self.dtype} to {np.dtype(dtype)} needs a copy, but copy=False was asked"
                )
            return array.astype(dtype)
        if copy is False and moved:
            raise InvalidArgumentError(
                f"__array__: a tensor on {self.device} reaches NumPy only as a copy, but copy=False was asked"
            )
        return array.copy() if copy and not moved else array

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._data.__dlpack_device__()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise ArgumentTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise ArgumentTypeError("iteration over a 0-d tensor")
        for i in range(self._data.shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ShapeError(
                f"bool: the truth value of a tensor with {self._data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise DTypeError(f"__index__: only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __contains__(self, value: Any) -> bool:
        """``value in t``: whether any element equals ``value`` (as NumPy and PyTorch)."""
        return bool(_ops.compare("equal", self, value)._data.any())

    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats as its value (``f"{loss:.4f}"``); others only with an empty spec."""
        text(spec, "format", "the format spec")
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise ArgumentTypeError(
                f"format: the format spec {spec!r} needs a 0-d tensor, got shape {self.shape}; "
                "format t.item() or t.tolist() instead"
            )
        return str(self)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        values = np.array2string(self._backend.to_numpy(self._data), separator=", ", precision=4, threshold=50)
        values = values.replace("\n", "\n       ")
        extra = f", grad_fn={self._grad_fn!r}" if self._grad_fn is not None else ""
        if self._grad_fn is None and self._requires_grad:
            extra = ", requires_grad=True"
        return f"tensor({values}, dtype={self.dtype}, device={self.device}{extra})"

    # -------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Mark a leaf tensor as needing a gradient; returns self."""
        if not isinstance(flag, (bool, np.bool_)):
            raise ArgumentTypeError(f"requires_grad_: expected True or False, got {type(flag).__name__} {flag!r:.40}")
        if self._grad_fn is not None:
            if not flag:
                raise AutogradError(
                    "requires_grad_: cannot turn off requires_grad on a non-leaf tensor; use .detach()"
                )
            return self
        if flag and self._data.dtype.kind != "f":
            raise DTypeError(
                f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}"
            )
        self._requires_grad = bool(flag)
        return self

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise ArgumentTypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise ShapeError(f"grad: shape {value.shape} does not match the tensor's shape {self.shape}")
            if value._data.dtype != self._data.dtype:
                raise DTypeError(f"grad: dtype {value.dtype} does not match the tensor's dtype {self.dtype}")
            if value._backend is not self._backend:
                raise DeviceError(f"grad: a gradient on {value.device} for a tensor on {self.device}")
        self._grad = value

    @property
    def grad_fn(self) -> Any:
        """The node that made this tensor, or None for a leaf."""
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False, inputs: Any = None,
        *, gradient: Any = None
    ) -> None:
        """Add d(self)/d(leaf) (times ``grad``) to the ``.grad`` of every leaf, or with ``inputs`` of those
        only (as ``gk.autograd.backward``). ``gradient=`` is PyTorch's name for ``grad``."""
        if gradient is not None:
            if grad is not None:
                raise InvalidArgumentError("backward: pass grad or gradient (its PyTorch name), not both")
            grad = gradient
        if not self._requires_grad:
            raise AutogradError(
                "backward: this tensor does not require grad and has no grad_fn "
                "(were its inputs created with requires_grad=True, outside no_grad?)"
            )
        if grad is None:
            if self._data.size != 1:
                raise AutogradError(
                    f"backward: a gradient can be created implicitly only for a one-element output, "
                    f"got shape {self.shape}; pass grad= of that shape"
                )
            seed = self._backend.xp.empty(self._data.shape, self._data.dtype)
            seed.fill(1)  # (xp.ones' work: NumPy's is a Python function that calls a Python wrapper of copyto)
            grad = Tensor._make(seed, self._backend)
        else:
            grad = self._as_same_device(grad, "backward")
            if grad.shape != self.shape:
                raise ShapeError(f"backward: grad has shape {grad.shape}, expected {self.shape}")
            if grad.dtype != self.dtype:  # gradients keep the dtypes of the values they belong to
                grad = grad.astype(self.dtype)
        if type(create_graph) is not bool:  # a check only off the common path: backward runs every step
            create_graph = flag(create_graph, "backward", "create_graph")
        if retain_graph is None:
            retain_graph = create_graph
        elif type(retain_graph) is not bool:
            retain_graph = flag(retain_graph, "backward", "retain_graph")
        if inputs is not None:
            from gradkit.autograd.api import _inputs

            xs = _inputs(inputs, "backward")[1]
            _engine.run_backward([self], [grad], retain_graph, create_graph, inputs=xs, accumulate=True)
            return
        _engine.run_backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, outside the graph."""
        t = Tensor._make(self._data, self._backend)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        """Take this tensor out of the graph in place (PyTorch's ``detach_``); returns self.

        It becomes a leaf that does not require grad (``grad_fn`` None, ``requires_grad`` False), keeping
        its data, version counter and ``.grad``; tensors already computed from it keep their graph. A leaf
        that requires grad just stops requiring it. As PyTorch, refused on a view of another tensor
        (``x[1:]``, ``x.T``, ``x.reshape(...)`` sharing x's memory: ``_base`` is set): use ``detach()`` there.
        """
        if self._base is not None:
            raise AutogradError(
                f"detach_: cannot detach a view in place (this tensor is a view of a tensor of shape "
                f"{self._base.shape}, sharing its memory); use .detach() instead, which returns a new tensor "
                "outside the graph"
            )
        self._grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if self._grad_fn is None:
            if not self._requires_grad:
                raise AutogradError("retain_grad: the tensor does not require grad")
            return
        self._grad_fn.retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor that called ``retain_grad()``."""
        node = self._grad_fn
        return node is not None and node.retained is not None and node.retained() is self

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise AutogradError("register_hook: cannot register a hook on a tensor that does not require grad")
        if not callable(fn):
            raise ArgumentTypeError(f"register_hook: expected a function fn(grad), got {type(fn).__name__} {fn!r:.60}")
        node = self._grad_fn
        if node is None:
            hooks = self._hooks
            if hooks is None:
                hooks = self._hooks = {}
            key = next(hook_keys)
            hooks[key] = fn
            return _HookHandle(hooks, key)
        key = node.add_hook(fn)
        return _HookHandle(node.hooks, key)

    # What register_post_accumulate_grad_hook registered (registration key -> hook); most tensors have none.
    _post_accumulate_grad_hooks: dict | None = None

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _HookHandle:
        """Call ``hook(self)`` each time backward has added to this leaf's ``.grad`` (PyTorch 2.1+'s hook).

        It runs after the leaf's ``register_hook`` hooks and the accumulation, once per backward pass that
        adds to ``.grad`` (``backward()``, also with ``inputs=``; not ``gk.autograd.grad``), and must
        return None. It may use and reset ``.grad``: an optimizer step inside backward is
        ``p.register_post_accumulate_grad_hook(lambda p: (opt[p].step(), setattr(p, "grad", None)))``.
        Hooks run in the order registered. Returns a handle whose ``remove()`` (or the end of a ``with``
        block) takes the hook away. Only on a leaf tensor that requires grad.
        """
        if not self._requires_grad:
            raise AutogradError(
                "register_post_accumulate_grad_hook: cannot register a hook on a tensor that does not require grad"
            )
        if self._grad_fn is not None:
            raise AutogradError(
                "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered on non-leaf "
                "tensors (this one was made by an operation: it has no .grad to accumulate into)"
            )
        if not callable(hook):
            raise ArgumentTypeError(
                "register_post_accumulate_grad_hook: expected a function hook(tensor), got "
                f"{type(hook).__name__} {hook!r:.60}"
            )
        hooks = self._post_accumulate_grad_hooks
        if hooks is None:
            hooks = self._post_accumulate_grad_hooks = {}
        key = next(hook_keys)
        hooks[key] = hook
        return _HookHandle(hooks, key)

    # ----------------------------------------------------- device and dtype
    def _as_same_device(self, other: Any, op: str) -> Tensor:
        if isinstance(other, Tensor):
            if other._backend is not self._backend:
                from gradkit.errors import DeviceError

                raise DeviceError(f"{op}: tensors on different devices: {self.device} and {other.device}")
            return other
        from gradkit.creation import array_for

        return Tensor._make(array_for(other, self.dtype, self._backend, op)[0], self._backend)

    def to(
        self, device: Any = None, dtype: Any = None, non_blocking: Any = False, copy: Any = False, *,
        memory_format: Any = None,
    ) -> Tensor:
        """This tensor on ``device`` and/or as ``dtype`` (differentiable; self if nothing changes, unless
        ``copy=True``: then always a new tensor, in the graph).

        PyTorch's three forms: ``t.to(device, dtype, non_blocking, copy)`` (a name or a ``gk.device``),
        ``t.to(dtype, non_blocking, copy)`` and ``t.to(other, non_blocking, copy)`` (``other``'s device and
        dtype). ``non_blocking`` is accepted and has no effect (a copy to or from a GPU is an ordinary one).
        ``memory_format`` (PyTorch's) is checked and changes nothing: gradkit has one layout (see
        ``gk.channels_last``).
        """
        from gradkit import ops
        from gradkit.dtypes import check_memory_format, is_dtype_like

        if memory_format is not None:
            check_memory_format(memory_format, "to", self._data.ndim)
        kind = type(device)
        if kind is str:  # a device name, or a dtype's ("float64"), told apart without a failed np.dtype when common
            other = False
            shifted = device not in _DEVICE_NAMES and (dtype is None or isinstance(dtype, bool)) and is_dtype_like(
                device
            )
        elif device is None or kind is _device_type:
            other = shifted = False
        elif isinstance(device, np.dtype):
            other, shifted = False, True
        else:
            other = isinstance(device, Tensor)
            shifted = other or (not isinstance(device, Backend) and is_dtype_like(device))
        if shifted:  # to(other, non_blocking, copy) and to(dtype, non_blocking, copy): the later arguments shift
            if dtype is None:
                pass
            elif isinstance(dtype, (bool, np.bool_)):
                copy = flag(copy, "to", "copy") or flag(non_blocking, "to", "copy")
                dtype, non_blocking = None, dtype
            else:
                first = "a tensor gives both the device and the dtype" if other else "the first argument is the dtype"
                raise ArgumentTypeError(
                    f"to: {first} (to({'other' if other else 'dtype'}, non_blocking, copy)), but "
                    f"dtype={dtype!r:.40} was given too"
                )
            device, dtype = (device._backend, device._data.dtype) if other else (None, device)
        if non_blocking is not False:
            flag(non_blocking, "to", "non_blocking")
        if copy is not False:
            copy = flag(copy, "to", "copy")
        out = self
        if dtype is not None:
            out = ops.astype(out, dtype)
        if device is not None:
            out = ops.to_device(out, device)
        if copy and out is self:
            out = _ops.clone(self)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: Any = False) -> Tensor:
        """This tensor on a GPU: ``device`` an index (``x.cuda(1)``), ``"cuda:N"`` or a ``gk.device`` of a GPU;
        None is GPU 0. ``non_blocking`` is accepted and has no effect."""
        return self.to(cuda_backend(device, "cuda"), non_blocking=non_blocking)

    def astype(self, dtype: Any, *, copy: bool = False) -> Tensor:
        """As ``dtype`` (differentiable). Self when the dtype already matches, unless ``copy=True`` (then a
        clone, in the graph): ``copy`` defaults to False here, not to NumPy's True."""
        if type(copy) is not bool:
            copy = flag(copy, "astype", "copy")
        out = _ops.astype(self, dtype)
        return _ops.clone(out) if copy and out is self else out

    def clone(self) -> Tensor:
        """A copy with memory of its own, still in the graph (PyTorch's ``clone``)."""
        return _ops.clone(self)

    def copy(self) -> Tensor:
        """NumPy's name for :meth:`clone`: a copy with memory of its own, still in the graph."""
        return _ops.clone(self)

    # ------------------------------------------------------------ operators
    # __add__, __sub__, __mul__, __truediv__, __pow__ and __matmul__ are the ops themselves,
    # set at the end of this module (one Python call less per operation on the hottest path).
    __add__: Callable[[Tensor, Any], Tensor]
    __sub__: Callable[[Tensor, Any], Tensor]
    __mul__: Callable[[Tensor, Any], Tensor]
    __truediv__: Callable[[Tensor, Any], Tensor]
    __pow__: Callable[[Tensor, Any], Tensor]
    __matmul__: Callable[[Tensor, Any], Tensor]

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.subtract(other, self)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.multiply(other, self)

    def __rtruediv__(self, other: Any) -> Tensor:
        if _autocast.active:  # gk.autocast: PyTorch's __rtruediv__ computes float16 in float32
            (self,) = _autocast.to_float32("__rtruediv__", self)
        return _ops.divide(other, self)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.power(other, self)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _ops.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return _ops.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _ops.remainder(other, self)

    def __divmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        """``divmod(t, other)``: ``(t // other, t % other)``, as NumPy's ``divmod``."""
        return _ops.floor_divide(self, other), _ops.remainder(self, other)

    def __rdivmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        return _ops.floor_divide(other, self), _ops.remainder(other, self)

    def __neg__(self) -> Tensor:
        return _ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.compare("less", self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.compare("less_equal", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.compare("greater", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.compare("greater_equal", self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        if other is None:  # as PyTorch: a Python False, so that ``None in [t]`` works
            return False  # type: ignore[return-value]
        return _ops.compare("equal", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        if other is None:
            return True  # type: ignore[return-value]
        return _ops.compare("not_equal", self, other)

    # As NumPy: logical for bool tensors, bitwise for integer ones, an error for floats.
    def __invert__(self) -> Tensor:
        return _ops.invert(self)

    def __and__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_or", self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_xor", self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_and", other, self)

    def __ror__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_or", other, self)

    def __rxor__(self, other: Any) -> Tensor:
        return _ops.compare("bitwise_xor", other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # --------------------------------------------------------------- in place
    def _needs_record(self, op: str, operands: tuple = ()) -> bool:
        """Check that self may be written in place; True when the change must be recorded (grad mode on, and
        self or an operand in the graph: see ``_rebase``), False for a plain write."""
        if not _engine.writable_dense(self._data):  # CuPy has no read-only flag: its broadcast views are checked here
            raise InvalidArgumentError(
                f"in-place {op}: this tensor's memory is read-only (a broadcast view, or an array imported "
                "through DLPack by NumPy 1.x); write to a copy, e.g. gk.tensor(t.numpy())"
            )
        if not grad_mode.state.enabled:
            return False
        if self._requires_grad:
            return True
        for o in operands:
            if isinstance(o, Tensor) and o._requires_grad:
                return True
        # a view made under no_grad (or before its base entered the graph): the recording path refuses it, as PyTorch
        base = self.__dict__.get("_base")
        return base is not None and base._requires_grad

    def _check_inplace(self, op: str, value: Any = None) -> None:
        """``_needs_record`` for the in-place ops that are not recorded: a change that would need recording is
        refused."""
        if not self._needs_record(op, (value,)):
            return
        if self._requires_grad:
            what = "a leaf tensor that requires grad" if self._grad_fn is None else "a tensor that is part of a graph"
            raise AutogradError(
                f"in-place {op} on {what} would break autograd; use an out-of-place operation, "
                "or do it inside gk.no_grad()"
            )
        if not (isinstance(value, Tensor) and value._requires_grad):  # then self is a view of a tensor in the graph
            raise AutogradError(
                f"in-place {op} on a view of a tensor that is part of a graph would break autograd; use an "
                "out-of-place operation, or do it inside gk.no_grad()"
            )
        raise AutogradError(
            f"in-place {op} with an operand that requires grad would drop its gradient; "
            "use an out-of-place operation (y = x + w), or do it inside gk.no_grad()"
        )

    def _rebase(self, op: str, compute: Callable[[Tensor], Any], keeps_old: bool = True) -> Tensor:
        """Record an in-place change: self becomes ``compute(old)``, with that result's history (PyTorch's
        in-place ops on tensors in the graph; see gradkit/autograd/inplace.py)."""
        from gradkit.autograd.inplace import rebase

        return rebase(self, op, compute, keeps_old)

    def __copy__(self) -> Tensor:
        # copy.copy: the same memory, so a view stays a view of its base (pickle and deepcopy copy the memory)
        cls = type(self)
        t = cls.__new__(cls)
        for k in _SLOTS:
            setattr(t, k, getattr(self, k))
        t.__dict__.update((k, v) for k, v in self.__dict__.items() if k not in _VIEW_LINKS[1:])
        if t._base is not None:
            from gradkit.autograd.inplace import note_view

            note_view(t._base, t)
        return t

    def __getstate__(self) -> tuple:
        # as object's, without the view links (a weak reference cannot be pickled; a copy is no view)
        state = {k: v for k, v in self.__dict__.items() if k not in _VIEW_LINKS}
        slots = {k: getattr(self, k) for k in _SLOTS if hasattr(self, k)}
        return (state or None, slots)

    def _inplace(self, op: str, other: Any) -> Tensor:
        if self._needs_record(op, (other,)):
            fn = getattr(_ops, _INPLACE_OPS[op])
            keeps_old = op in ("mul", "div")
            if (keeps_old and isinstance(other, Tensor)
                    and (other is self or self._backend.xp.may_share_memory(other._data, self._data))):
                other = other.clone()  # (x *= x.flip(0): the old values on both sides, not a view a node saved)
            return self._rebase(op, lambda t: fn(t, other), keeps_old=keeps_old)
        value = self._as_same_device(other, op)._data if isinstance(other, Tensor) else other
        check_int_fits(f"in-place {op}", value, self._data.dtype)
        ufunc = getattr(self._backend.xp, _INPLACE_UFUNCS[op])
        # an integer result (not true division's) goes into any integer tensor, wrapping (uint8 *= int8), as
        # PyTorch's can_cast
        both_int = (op != "div" and self._data.dtype.kind in "iu"
                    and getattr(value, "dtype", np.dtype(type(value))).kind in "iu")
        try:
            ufunc(self._data, value, out=self._data, casting="unsafe" if both_int else "same_kind")
        except ValueError as exc:
            raise ShapeError(f"in-place {op}: cannot write a result of shape broadcast from {self.shape} and "
                             f"{getattr(value, 'shape', ())} into shape {self.shape} ({exc})") from None
        except TypeError as exc:
            raise DTypeError(f"in-place {op}: cannot store the result in a {self.dtype} tensor ({exc})") from None
        except OverflowError:
            raise out_of_range(f"in-place {op}", value, self.dtype) from None
        self._version[0] += 1
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace("add", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace("sub", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace("mul", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace("div", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        from gradkit.ops.indexing import normalize_index

        # (into a tensor that cannot take a gradient, a value in the graph is cast and its gradient dropped there,
        # as PyTorch's: n[:] = w for an integer n)
        recorded = self._needs_record("__setitem__", (value,)) and self._data.dtype.kind == "f"
        source = self._as_same_device(value, "__setitem__") if isinstance(value, Tensor) else None
        idx = normalize_index(self, index, "__setitem__")  # raises its own errors for bad indices
        if value is None or isinstance(value, (str, bytes, complex)):
            raise DTypeError(
                f"__setitem__: cannot assign {type(value).__name__} {value!r:.60} to a {self.dtype} tensor"
            )
        if recorded:
            from gradkit.autograd.inplace import write_at

            write_at(self, "__setitem__", idx, value if source is None else source)
            return
        if source is not None:
            value = source._data
        check_int_fits("__setitem__", value, self._data.dtype)
        try:
            self._data[idx] = value
        except ValueError as exc:
            raise ShapeError(f"__setitem__: cannot assign a value of shape {getattr(value, 'shape', ())} "
                             f"to the selection ({exc})") from None
        except IndexError as exc:  # index arrays whose shapes do not broadcast together
            raise ShapeError(
                f"__setitem__: cannot index a tensor of shape {self.shape} with {index!r:.60} ({exc})"
            ) from None
        except TypeError as exc:
            raise DTypeError(
                f"__setitem__: cannot assign {type(value).__name__} {value!r:.60} to a {self.dtype} tensor ({exc})"
            ) from None
        except OverflowError:
            raise out_of_range("__setitem__", value, self.dtype) from None
        self._version[0] += 1

    def copy_(self, src: Any) -> Tensor:
        """Overwrite the values in place with ``src`` (broadcast); returns self."""
        rebased = self._needs_record("copy_", (src,)) and self._data.dtype.kind == "f"  # (as __setitem__'s)
        value = self._as_same_device(src, "copy_")
        if self._data.shape != value.shape:
            try:
                self._backend.xp.broadcast_to(value._data, self._data.shape)
            except ValueError:
                raise ShapeError(f"copy_: source shape {value.shape} does not broadcast to {self.shape}") from None
        if rebased:
            return self._rebase("copy_", lambda t: _copied(value, t), keeps_old=False)
        self._backend.xp.copyto(self._data, value._data, casting="unsafe")
        self._version[0] += 1
        return self

    def zero_(self) -> Tensor:
        """Fill with zeros in place; returns self."""
        if self._needs_record("zero_"):
            return self._rebase("zero_", lambda t: t._backend.xp.zeros_like(t._data), keeps_old=False)
        self._data.fill(0)
        self._version[0] += 1
        return self

    def fill_(self, value: float) -> Tensor:
        """Fill with ``value`` (a number, or a one-element tensor) in place; returns self."""
        return self._fill(value, "fill_")

    def fill(self, value: float) -> None:
        """NumPy's ``fill``: :meth:`fill_`, returning None as NumPy's does."""
        self._fill(value, "fill")

    def _fill(self, value: Any, op: str) -> Tensor:
        if self._needs_record(op, (value,)) and self._data.dtype.kind == "f":  # (as __setitem__'s)
            if isinstance(value, Tensor) and value.size == 1:  # the value's gradient: the sum of self's
                return self._rebase(op, lambda t: _copied(value.reshape(()), t), keeps_old=False)
            with grad_mode.no_grad():  # (the checks of a plain fill, on a copy)
                filled = Tensor._make(self._data.copy(), self._backend)._fill(value, op)
            return self._rebase(op, lambda t: filled._data, keeps_old=False)
        if isinstance(value, Tensor):
            if value.size != 1:
                raise ShapeError(
                    f"{op}: expected a number or a one-element tensor, got a tensor of shape {value.shape}"
                )
            value = value.item()
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if not isinstance(value, (int, float, np.number, np.bool_)):
            raise ArgumentTypeError(f"{op}: expected a number, got {type(value).__name__} {value!r:.60}")
        check_int_fits(op, value, self._data.dtype)
        if self._data.dtype.kind in "iu" and isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise InvalidArgumentError(f"{op}: {value!r} cannot be held by a {self.dtype} tensor")  # CuPy too
        try:
            self._data.fill(value)
        except OverflowError:
            raise out_of_range(op, value, self.dtype) from None
        self._version[0] += 1
        return self

    # ---------------------------------------------------------------- methods
    # Reductions take NumPy's axis=/keepdims= and PyTorch's dim=/keepdim= (keyword-only; see
    # gradkit/ops/reduce.py): with either PyTorch keyword the call is PyTorch's form. The hottest
    # methods call the op with NumPy's arguments alone when no PyTorch keyword was given.
    def sum(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dtype: Any = None,
        out: None = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        """``gk.sum``; ``out=`` only as None, the value ``np.sum(t)`` passes (it calls this method)."""
        if dim is NOT_GIVEN and keepdim is NOT_GIVEN and dtype is None and out is None:
            return _ops.sum(self, axis, keepdims)
        _no_out(out, "sum")
        return _ops.sum(self, axis, keepdims, dtype=dtype, dim=dim, keepdim=keepdim)

    def mean(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dtype: Any = None,
        out: None = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        """``gk.mean``; ``out=`` only as None (``np.mean(t)`` calls this method)."""
        if dim is NOT_GIVEN and keepdim is NOT_GIVEN and dtype is None and out is None:
            return _ops.mean(self, axis, keepdims)
        _no_out(out, "mean")
        return _ops.mean(self, axis, keepdims, dtype=dtype, dim=dim, keepdim=keepdim)

    def var(
        self,
        axis: Any = None,
        ddof: int = DDOF_DEFAULT,
        keepdims: bool = False,
        *,
        dtype: None = None,
        out: None = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
        correction: Any = NOT_GIVEN,
        unbiased: Any = NOT_GIVEN,
    ) -> Tensor:
        """NumPy's ``var`` (``ddof=0``); with PyTorch's ``dim=``/``keepdim=``, ``torch.var`` (``correction=1``).
        ``dtype=`` and ``out=`` only as None, the values ``np.var(t)`` passes (it calls this method)."""
        _no_out(out, "var")
        if dtype is not None:
            raise InvalidArgumentError(
                f"var: dtype= is not supported (got {dtype!r:.40}); cast first: t.astype(dtype).var(...)"
            )
        return _ops.var(
            self, axis, ddof, keepdims, dim=dim, keepdim=keepdim, correction=correction, unbiased=unbiased
        )

    def std(
        self,
        axis: Any = None,
        ddof: int = DDOF_DEFAULT,
        keepdims: bool = False,
        *,
        dtype: None = None,
        out: None = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
        correction: Any = NOT_GIVEN,
        unbiased: Any = NOT_GIVEN,
    ) -> Tensor:
        """NumPy's ``std`` (``ddof=0``); with PyTorch's ``dim=``/``keepdim=``, ``torch.std`` (``correction=1``).
        ``dtype=`` and ``out=`` only as None, the values ``np.std(t)`` passes (it calls this method)."""
        _no_out(out, "std")
        if dtype is not None:
            raise InvalidArgumentError(
                f"std: dtype= is not supported (got {dtype!r:.40}); cast first: t.astype(dtype).std(...)"
            )
        return _ops.std(
            self, axis, ddof, keepdims, dim=dim, keepdim=keepdim, correction=correction, unbiased=unbiased
        )

    def max(
        self, axis: Any = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Any:
        """NumPy's ``max`` (the values, also for ``t.max(1)``); PyTorch's ``t.max(dim=1)`` gives
        ``(values, indices)`` (``gk.return_types.max``). ``out=`` only as None (``np.max(t)``)."""
        if dim is NOT_GIVEN and keepdim is NOT_GIVEN and out is None:
            return _ops.max(self, axis, keepdims)
        _no_out(out, "max")
        return _ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(
        self, axis: Any = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Any:
        """NumPy's ``min``; PyTorch's ``t.min(dim=1)`` gives ``(values, indices)`` as :meth:`max`."""
        if dim is NOT_GIVEN and keepdim is NOT_GIVEN and out is None:
            return _ops.min(self, axis, keepdims)
        _no_out(out, "min")
        return _ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def prod(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dtype: Any = None,
        out: None = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        _no_out(out, "prod")
        return _ops.prod(self, axis, keepdims, dtype=dtype, dim=dim, keepdim=keepdim)

    def logsumexp(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        b: Any = None,
        return_sign: bool = False,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Any:
        """``gk.logsumexp`` with SciPy's ``b=`` and ``return_sign=`` (then ``(value, sign)``)."""
        return _ops.logsumexp(self, axis, keepdims, b=b, return_sign=return_sign, dim=dim, keepdim=keepdim)

    def argmax(
        self, axis: int | None = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "argmax")
        return _ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(
        self, axis: int | None = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "argmin")
        return _ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def any(
        self, axis: Any = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "any")
        return _ops.any(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def all(
        self, axis: Any = None, keepdims: bool = False, *, out: None = None, dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "all")
        return _ops.all(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def view(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def flatten(
        self, start_axis: int = 0, end_axis: int = -1, *, start_dim: Any = NOT_GIVEN, end_dim: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.flatten(self, start_axis, end_axis, start_dim=start_dim, end_dim=end_dim)

    def ravel(self, order: str = "C") -> Tensor:
        from gradkit.ops.numpy_more import ravel

        return ravel(self, order)

    def tril(self, k: int = 0, *, diagonal: Any = NOT_GIVEN) -> Tensor:
        return _ops.tril(self, k, diagonal=diagonal)

    def triu(self, k: int = 0, *, diagonal: Any = NOT_GIVEN) -> Tensor:
        return _ops.triu(self, k, diagonal=diagonal)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        elif len(axes) == 2 and self.ndim != 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            # PyTorch's transpose(dim0, dim1): a swap (NumPy's transpose takes no two axes of another ndim)
            return _ops.swapaxes(self, axes[0], axes[1])
        elif len(axes) == 2 and self.ndim == 2 and axes in ((0, 1), (-2, -1), (0, -1), (-2, 1)):
            # NumPy's identity permutation, which PyTorch code means as a swap: say so rather than stay silent
            warnings.warn(
                f"Tensor.transpose{axes} permutes the axes as NumPy's does: on a 2-D tensor it changes nothing. "
                f"PyTorch's transpose{axes} (a swap) is t.swapaxes{axes}, t.T or t.mT",
                UserWarning,
                stacklevel=2,
            )
        return _ops.transpose(self, axes or None)

    def permute(self, *axes: Any) -> Tensor:
        return _ops.permute(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    @property
    def mT(self) -> Tensor:
        return _ops.swapaxes(self, -1, -2)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return _ops.swapaxes(self, axis1, axis2)

    def squeeze(self, axis: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
        """NumPy's ``squeeze`` (an axis whose length is not 1 is an error); with PyTorch's ``dim=`` such an
        axis stays, as ``torch.squeeze``."""
        return _ops.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis: int = NOT_GIVEN, *, dim: Any = NOT_GIVEN) -> Tensor:
        return _ops.unsqueeze(self, axis, dim=dim)

    def expand(self, *shape: Any) -> Tensor:
        return _ops.expand(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return _ops.broadcast_to(self, shape)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def sin(self) -> Tensor:
        return _ops.sin(self)

    def cos(self) -> Tensor:
        return _ops.cos(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def square(self) -> Tensor:
        return _ops.square(self)

    def clip(
        self,
        lo: Any = None,
        hi: Any = None,
        *,
        out: None = None,
        a_min: Any = None,
        a_max: Any = None,
        min: Any = None,  # noqa: A002 - NumPy's names
        max: Any = None,  # noqa: A002
    ) -> Tensor:
        """``gk.clip``: NumPy's ``min=``/``max=`` and ``a_min=``/``a_max=`` name the bounds too; ``out=`` only
        as None (``np.clip(t, lo, hi)`` calls this method)."""
        _no_out(out, "clip")
        return _ops.clip(self, lo, hi, a_min=a_min, a_max=a_max, min=min, max=max)

    def pow(self, exponent: Any) -> Tensor:
        return _ops.power(self, exponent)

    def matmul(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def dot(self, other: Any) -> Tensor:
        return _ops.dot(self, other)

    def softmax(self, axis: int = -1, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
        """Along ``axis`` (PyTorch's ``dim=``); None is refused as ``F.softmax`` refuses it (the method is
        PyTorch's name): ``gk.softmax(t, axis=None)`` is SciPy's softmax over all the elements. ``dtype``:
        PyTorch's, the float dtype the tensor is cast to first (a recorded cast)."""
        if axis is None:  # dim=None: the op refuses it
            _no_all_axes("softmax")
        if dim is NOT_GIVEN:
            return _ops.softmax(self, axis, dtype)
        return _ops.softmax(self, axis, dtype, dim=dim)

    def log_softmax(self, axis: int = -1, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
        """Along ``axis`` (PyTorch's ``dim=``); None is refused, as :meth:`softmax`; ``dtype`` as its."""
        if axis is None:  # dim=None: the op refuses it
            _no_all_axes("log_softmax")
        if dim is NOT_GIVEN:
            return _ops.log_softmax(self, axis, dtype)
        return _ops.log_softmax(self, axis, dtype, dim=dim)

    # ------------------------------------------------ PyTorch's and NumPy's other spellings
    # Last in the class: ``float``, ``int``, ``bool`` and ``round`` would hide the builtins from
    # anything evaluated in the class body after them.
    def neg(self) -> Tensor:
        return _ops.negative(self)

    def sign(self) -> Tensor:
        return _ops.sign(self)

    def log1p(self) -> Tensor:
        return _ops.log1p(self)

    def expm1(self) -> Tensor:
        return _ops.expm1(self)

    # NumPy's inverse and hyperbolic functions, logarithms and powers; PyTorch's spellings below them
    def arcsin(self) -> Tensor:
        return _ops.arcsin(self)

    def arccos(self) -> Tensor:
        return _ops.arccos(self)

    def arctan(self) -> Tensor:
        return _ops.arctan(self)

    def arctan2(self, other: Any) -> Tensor:
        """``arctan2(self, other)``: self is y, other is x (as ``torch.Tensor.atan2``)."""
        return _ops.arctan2(self, other)

    def sinh(self) -> Tensor:
        return _ops.sinh(self)

    def cosh(self) -> Tensor:
        return _ops.cosh(self)

    def arcsinh(self) -> Tensor:
        return _ops.arcsinh(self)

    def arccosh(self) -> Tensor:
        return _ops.arccosh(self)

    def arctanh(self) -> Tensor:
        return _ops.arctanh(self)

    def log2(self) -> Tensor:
        return _ops.log2(self)

    def log10(self) -> Tensor:
        return _ops.log10(self)

    def exp2(self) -> Tensor:
        return _ops.exp2(self)

    def hypot(self, other: Any) -> Tensor:
        return _ops.hypot(self, other)

    def reciprocal(self) -> Tensor:
        return _ops.reciprocal(self)

    def rsqrt(self) -> Tensor:
        return _ops.rsqrt(self)

    def erf(self) -> Tensor:
        return _ops.erf(self)

    def erfc(self) -> Tensor:
        return _ops.erfc(self)

    def erfinv(self) -> Tensor:
        return _ops.erfinv(self)

    def lgamma(self) -> Tensor:
        return _ops.lgamma(self)

    def digamma(self) -> Tensor:
        return _ops.digamma(self)

    def xlogy(self, other: Any) -> Tensor:
        """``xlogy(self, other)``: self * log(other), 0 where self is 0 (as ``torch.Tensor.xlogy``)."""
        return _ops.xlogy(self, other)

    def polygamma(self, n: int) -> Tensor:
        """``gk.polygamma(n, self)`` (PyTorch's argument order for the method)."""
        return _ops.polygamma(n, self)

    def logit(self, eps: float | None = None) -> Tensor:
        """``gk.logit(self, eps)``: log(p / (1 - p)), with ``eps`` clamping p to [eps, 1 - eps]."""
        return _ops.logit(self, eps)

    def i0(self) -> Tensor:
        """``gk.i0(self)``: the modified Bessel function of the first kind, order 0."""
        return _ops.i0(self)

    def mvlgamma(self, p: int) -> Tensor:
        """``gk.special.multigammaln(self, p)`` (PyTorch's method name)."""
        return _ops.multigammaln(self, p)

    def igamma(self, other: Any) -> Tensor:
        """``gk.special.gammainc(self, other)``: the regularised lower incomplete gamma P(self, other)."""
        return _ops.gammainc(self, other)

    def igammac(self, other: Any) -> Tensor:
        """``gk.special.gammaincc(self, other)``: the regularised upper incomplete gamma Q(self, other)."""
        return _ops.gammaincc(self, other)

    asin, acos, atan, atan2 = arcsin, arccos, arctan, arctan2
    asinh, acosh, atanh = arcsinh, arccosh, arctanh

    def maximum(self, other: Any) -> Tensor:
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _ops.minimum(self, other)

    def cumsum(
        self, axis: int | None = None, dtype: Any = None, *, out: None = None, dim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "cumsum")
        return _ops.cumsum(self, axis, dtype, dim=dim)

    def cumprod(
        self, axis: int | None = None, dtype: Any = None, *, out: None = None, dim: Any = NOT_GIVEN
    ) -> Tensor:
        _no_out(out, "cumprod")
        return _ops.cumprod(self, axis, dtype, dim=dim)

    # NumPy's statistics and more of its elementwise maths, where PyTorch's Tensor has the method
    # (NumPy's names and keywords; NumPy's semantics where the two differ: median, quantile,
    # nanmedian, nanquantile).
    def nansum(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dtype: Any = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        return _ops.nansum(self, axis, keepdims, dtype=dtype, dim=dim, keepdim=keepdim)

    def nanmean(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dtype: Any = None,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        return _ops.nanmean(self, axis, keepdims, dtype=dtype, dim=dim, keepdim=keepdim)

    def median(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
    ) -> Any:
        """NumPy's median: the mean of the two middle values for an even count. With PyTorch's ``dim=`` (or
        ``keepdim=``), PyTorch's: the lower one, and along one dim ``(values, indices)``."""
        return _ops.median(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def quantile(
        self,
        q: Any,
        axis: Any = None,
        keepdims: bool = False,
        method: str = "linear",
        *,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        return _ops.quantile(self, q, axis, keepdims, method, dim=dim, keepdim=keepdim)

    def nanmedian(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
    ) -> Any:
        """NumPy's nanmedian: the median of the values that are not NaN. With PyTorch's ``dim=`` (or
        ``keepdim=``), PyTorch's: the lower middle value, and along one dim ``(values, indices)``."""
        return _ops.nanmedian(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def nanquantile(
        self,
        q: Any,
        axis: Any = None,
        keepdims: bool = False,
        method: str = "linear",
        *,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        return _ops.nanquantile(self, q, axis, keepdims, method, dim=dim, keepdim=keepdim)

    def amax(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.amax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def amin(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.amin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def ptp(self, axis: Any = None, keepdims: bool = False, *, out: None = None) -> Tensor:
        """``gk.ptp``: max - min over ``axis`` (NumPy's ``ptp``); ``out=`` only as None (NumPy 1.x's ``np.ptp``)."""
        _no_out(out, "ptp")
        return _ops.ptp(self, axis, keepdims)

    def count_nonzero(
        self, axis: Any = None, *, keepdims: bool = False, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.count_nonzero(self, axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def logaddexp(self, other: Any) -> Tensor:
        return _ops.logaddexp(self, other)

    def logaddexp2(self, other: Any) -> Tensor:
        return _ops.logaddexp2(self, other)

    def sinc(self) -> Tensor:
        return _ops.sinc(self)

    def deg2rad(self) -> Tensor:
        return _ops.deg2rad(self)

    def rad2deg(self) -> Tensor:
        return _ops.rad2deg(self)

    def fmod(self, other: Any) -> Tensor:
        return _ops.fmod(self, other)

    def copysign(self, other: Any) -> Tensor:
        return _ops.copysign(self, other)

    def heaviside(self, values: Any) -> Tensor:
        return _ops.heaviside(self, values)

    def signbit(self) -> Tensor:
        return _ops.signbit(self)

    # Shape and indexing. Where NumPy's ndarray and PyTorch's Tensor give one method name two meanings,
    # the method follows NumPy, as everywhere in this class (``.size``, ``transpose``, ``max``), and the
    # other meaning has a name of its own: ``repeat`` (``tile``), ``nonzero`` (``argwhere``).
    def repeat(self, repeats: Any, axis: int | None = None, *sizes: Any) -> Tensor:
        """NumPy's ``ndarray.repeat``: each element repeated ``repeats`` times (an int, or one count per
        element) along ``axis``, the flattened tensor when None; PyTorch's ``repeat_interleave``.

        Not PyTorch's ``Tensor.repeat(*sizes)``, which tiles the whole tensor: that is :meth:`tile`
        (``t.tile(2, 1)`` or ``t.tile((2, 1))``). Beware ``t.repeat(2, 1)``: here it repeats each
        element twice along axis 1. More than two arguments (PyTorch's form) are refused.
        """
        if sizes:
            raise ArgumentTypeError(
                f"repeat: Tensor.repeat is NumPy's repeat(repeats, axis=None), which repeats elements; got "
                f"{len(sizes) + 2} arguments. PyTorch's Tensor.repeat(*sizes), which tiles, is Tensor.tile"
            )
        return _ops.repeat(self, repeats, axis)

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        """PyTorch's name for :meth:`repeat` (elements repeated; ``dim`` is the axis)."""
        return _ops.repeat_interleave(self, repeats, dim)

    def tile(self, *reps: Any) -> Tensor:
        """``numpy.tile(self, reps)``: the whole tensor repeated ``reps[i]`` times along each axis, given
        as one tuple or as separate ints (PyTorch's ``Tensor.tile``, and its ``Tensor.repeat(*sizes)``)."""
        return _ops.tile(self, reps[0] if len(reps) == 1 else reps)

    def roll(
        self, shift: Any = NOT_GIVEN, axis: Any = None, *, shifts: Any = NOT_GIVEN, dims: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.roll(self, shift, axis, shifts=shifts, dims=dims)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        return _ops.moveaxis(self, source, destination)

    def diagonal(
        self, offset: int = 0, axis1: int = 0, axis2: int = 1, *, dim1: Any = NOT_GIVEN, dim2: Any = NOT_GIVEN
    ) -> Tensor:
        """The diagonal of axes ``axis1`` and ``axis2`` (PyTorch's ``dim1``, ``dim2``) as the last axis: a
        writable view, as PyTorch's (see ``gk.diagonal``)."""
        return _ops.diagonal(self, offset, axis1, axis2, dim1=dim1, dim2=dim2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Tensor:
        """NumPy's ``trace``: the sum of the diagonal ``offset`` of axes ``axis1`` and ``axis2`` (the other
        axes kept), summed as ``sum`` sums (``dtype=`` too); differentiable. PyTorch's ``trace()`` of a matrix
        is the same number. (``gk.trace`` is another thing: the tracer, see ``gk.Trace``.)"""
        from gradkit.ops.shape import _diagonal

        if _autocast.active and dtype is None:  # gk.autocast: on PyTorch's CPU float32 list, not sum's CUDA one
            (self,) = _autocast.to_float32("trace", self)
            dtype = self.dtype if self.dtype.kind == "f" else None  # an explicit dtype: sum does not cast again
        return _ops.sum(_diagonal(self, offset, axis1, axis2, "trace"), -1, dtype=dtype)

    def diag(self, k: int = 0) -> Tensor:
        return _ops.diag(self, k)

    def diff(
        self, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None, *, dim: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.diff(self, n, axis, prepend, append, dim=dim)

    def nonzero(self) -> tuple[Tensor, ...]:
        """NumPy's ``ndarray.nonzero()``: a tuple of int64 index tensors, one per axis. PyTorch's
        ``nonzero()`` (one row per element) is :meth:`argwhere`."""
        return _ops.nonzero(self)

    def argwhere(self) -> Tensor:
        return _ops.argwhere(self)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.unbind(self, dim)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _ops.index_select(self, dim, index)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _ops.masked_fill(self, mask, value)

    def argsort(
        self, axis: int | None = -1, descending: bool = False, *, dim: Any = NOT_GIVEN, stable: Any = NOT_GIVEN
    ) -> Tensor:
        return _ops.argsort(self, axis, descending, dim=dim, stable=stable)

    def sort(
        self, axis: int | None = -1, descending: bool = False, *, dim: Any = NOT_GIVEN, stable: Any = NOT_GIVEN
    ) -> Any:
        """``gk.sort(self, axis, descending)``: the sorted values (``argsort`` gives the indices); with
        PyTorch's ``dim=`` (or ``stable=``), ``(values, indices)`` as ``torch.sort``."""
        return _ops.sort(self, axis, descending, dim=dim, stable=stable)

    def searchsorted(self, v: Any, side: str = "left", sorter: Any = None) -> Tensor:
        """``gk.searchsorted(self, v, side, sorter)``: where each value of ``v`` goes in this sorted 1-d tensor."""
        from gradkit.ops.numpy_stats import searchsorted

        return searchsorted(self, v, side, sorter)

    def topk(
        self,
        k: int,
        axis: int = -1,
        largest: bool = True,
        *,
        dim: Any = NOT_GIVEN,
        sorted: Any = NOT_GIVEN,  # noqa: A002 - PyTorch's name
    ) -> tuple[Tensor, Tensor]:
        return _ops.topk(self, k, axis, largest, dim=dim, sorted=sorted)

    def norm(
        self,
        ord: Any = 2,  # noqa: A002
        axis: Any = None,
        keepdims: bool = False,
        *,
        p: Any = NOT_GIVEN,
        dim: Any = NOT_GIVEN,
        keepdim: Any = NOT_GIVEN,
    ) -> Tensor:
        return _ops.norm(self, ord, axis, keepdims, p=p, dim=dim, keepdim=keepdim)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
        return _ops.clip(self, min, max)

    def isnan(self) -> Tensor:
        return _ops.isnan(self)

    def isfinite(self) -> Tensor:
        return _ops.isfinite(self)

    def floor(self) -> Tensor:
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        return _ops.ceil(self)

    def trunc(self) -> Tensor:
        return _ops.trunc(self)

    fix = trunc

    def round(self, decimals: int = 0, *, out: None = None) -> Tensor:
        _no_out(out, "round")
        return _ops.round(self, decimals)

    def numel(self) -> int:
        """The number of elements (PyTorch's ``numel()``; NumPy's ``.size``)."""
        return self._data.size

    def dim(self) -> int:
        """The number of axes (PyTorch's ``dim()``; NumPy's ``.ndim``)."""
        return self._data.ndim

    def nelement(self) -> int:
        """The number of elements (PyTorch's ``nelement()``, the same as ``numel()``)."""
        return self._data.size

    def element_size(self) -> int:
        """Bytes one element takes (PyTorch's ``element_size()``; NumPy's ``.itemsize``)."""
        return self._data.itemsize

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """Self when its memory is C-ordered, else a C-ordered copy that stays in the graph. ``memory_format``
        (PyTorch's) is checked and changes nothing: gradkit has one layout (see ``gk.channels_last``)."""
        if memory_format is not None:
            from gradkit.dtypes import check_memory_format

            check_memory_format(memory_format, "contiguous", self._data.ndim)
        return _ops.contiguous(self)

    def pin_memory(self) -> Tensor:
        """Self, for a tensor on the CPU (PyTorch's ``pin_memory()``): gradkit does not pin host memory
        (``is_pinned()`` stays False); copies to a GPU take pageable memory. A CUDA tensor raises, as PyTorch's."""
        if self._backend.name != "numpy":
            from gradkit.errors import InvalidArgumentError

            raise InvalidArgumentError(f"pin_memory: cannot pin a tensor on {self.device}; only CPU tensors can be "
                                       "pinned")
        return self

    def t(self) -> Tensor:
        """The transpose of a tensor with at most 2 axes (PyTorch's ``t()``)."""
        if self._data.ndim > 2:
            raise ShapeError(f"t: expected a tensor with at most 2 axes, got shape {self.shape}; use transpose")
        return _ops.transpose(self)

    def view_as(self, other: Tensor) -> Tensor:
        return _ops.reshape(self, _other_tensor(other, "view_as").shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return _ops.reshape(self, _other_tensor(other, "reshape_as").shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.expand(self, _other_tensor(other, "expand_as").shape)

    def type_as(self, other: Tensor) -> Tensor:
        return _ops.astype(self, _other_tensor(other, "type_as").dtype)

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place; returns self."""
        return self._inplace("add", self._scaled(other, alpha, "add_"))

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns self."""
        return self._inplace("sub", self._scaled(other, alpha, "sub_"))

    def _scaled(self, other: Any, alpha: Any, op: str) -> Any:
        alpha = _alpha_number(alpha)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise ArgumentTypeError(f"{op}: alpha must be a number, got {type(alpha).__name__} {alpha!r:.40}")
        if alpha == 1:
            return other
        from gradkit.ops._util import as_tensor  # lists and arrays: a tensor on this device, then scaled

        other = as_tensor(other, op, self._backend)
        dtype = np.result_type(self._data.dtype, other._data.dtype)
        if other._data.dtype != dtype:  # scaled in the result's dtype: an int8 other times 2 must not wrap
            other = _ops.astype(other, dtype)
        return _ops.multiply(other, alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul", other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is not None:
            return self._assign_("div_", lambda t: t.div(other, rounding_mode=rounding_mode), other)
        return self._inplace("div", other)

    def float(self) -> Tensor:
        """As float32 (PyTorch's ``.float()``)."""
        return _ops.astype(self, np.float32)

    def double(self) -> Tensor:
        """As float64."""
        return _ops.astype(self, np.float64)

    def half(self) -> Tensor:
        """As float16."""
        return _ops.astype(self, np.float16)

    def bfloat16(self) -> Tensor:
        """DTypeError: gradkit has no bfloat16 (see ``gk.bfloat16``); ``half()`` is the 16-bit float it has."""
        return _ops.astype(self, "bfloat16")

    def long(self) -> Tensor:
        """As int64 (no gradient)."""
        return _ops.astype(self, np.int64)

    def int(self) -> Tensor:
        """As int32 (no gradient)."""
        return _ops.astype(self, np.int32)

    def bool(self) -> Tensor:
        """As bool (no gradient)."""
        return _ops.astype(self, np.bool_)

    # PyTorch's method names for the comparison and arithmetic operators
    def eq(self, other: Any) -> Tensor:
        """``self == other`` as a bool tensor."""
        return _ops.compare("equal", self, other)

    def ne(self, other: Any) -> Tensor:
        """``self != other`` as a bool tensor."""
        return _ops.compare("not_equal", self, other)

    def lt(self, other: Any) -> Tensor:
        """``self < other`` as a bool tensor."""
        return _ops.compare("less", self, other)

    def le(self, other: Any) -> Tensor:
        """``self <= other`` as a bool tensor."""
        return _ops.compare("less_equal", self, other)

    def gt(self, other: Any) -> Tensor:
        """``self > other`` as a bool tensor."""
        return _ops.compare("greater", self, other)

    def ge(self, other: Any) -> Tensor:
        """``self >= other`` as a bool tensor."""
        return _ops.compare("greater_equal", self, other)

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self + alpha * other`` (differentiable)."""
        return _ops.add(self, _times_alpha(self, other, alpha, "add"))

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self - alpha * other`` (differentiable)."""
        return _ops.subtract(self, _times_alpha(self, other, alpha, "sub"))

    def mul(self, other: Any) -> Tensor:
        """``self * other``."""
        return _ops.multiply(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """``self / other``; with ``rounding_mode`` "trunc" the quotient rounded toward zero, with "floor"
        rounded down (``//``), in the operands' promoted dtype (integers stay integers) and with a zero
        gradient, as PyTorch's. An integer division by zero is an error."""
        if rounding_mode is None:
            return _ops.divide(self, other)
        if rounding_mode not in ("trunc", "floor"):
            raise InvalidArgumentError(
                f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r:.40}"
            )
        return _rounded_division(self, other, rounding_mode)

    def is_floating_point(self) -> bool:
        """True for float16, float32 and float64 tensors."""
        return self._data.dtype.kind == "f"

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """With no argument, the tensor's type as a PyTorch-style name: ``"gradkit.FloatTensor"`` for a float32
        tensor on the CPU, ``"gradkit.cuda.LongTensor"`` for an int64 one on a GPU. With ``dtype`` (a dtype, or
        such a name, "torch." or "gradkit." before it) the tensor converted as ``astype``; a name also picks
        the device kind (``.cuda.`` or not). ``non_blocking`` is accepted and has no effect."""
        flag(non_blocking, "type", "non_blocking")
        if dtype is None:
            where = "cuda." if self._backend.name == "cupy" else ""
            return f"gradkit.{where}{_TYPE_NAMES[self._data.dtype]}Tensor"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            dt, cuda = _parse_type_name(dtype)
            out = _ops.astype(self, dt)
            if cuda != (self._backend.name == "cupy"):
                out = out.to("cuda" if cuda else "cpu")
            return out
        from gradkit.dtypes import to_dtype

        return _ops.astype(self, to_dtype(dtype, "type"))

    # In-place random initialisers: gk.nn.init's, under the rules of in-place operations
    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill in place with samples from U(a, b), from gradkit's generator on this tensor's device (or
        ``generator``, a ``gk.Generator``); returns self. As any in-place operation: refused on a tensor that
        requires grad, unless inside ``gk.no_grad()``."""
        self._check_inplace("uniform_")
        from gradkit.nn import init

        return init.uniform_(self, a, b, generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill in place with samples from N(mean, std^2) (see :meth:`uniform_`); returns self."""
        self._check_inplace("normal_")
        from gradkit.nn import init

        return init.normal_(self, mean, std, generator)

    # More of PyTorch's methods. None of these names is a method of NumPy's ndarray (whose meaning would
    # win); each calls a gradkit function, differentiable where PyTorch's is.
    def gather(self, dim: int, index: Any) -> Tensor:
        """``gk.gather(self, dim, index)``: ``out[i][j] = self[index[i][j]][j]`` for dim 0, and so on."""
        return _ops.gather(self, dim, index)

    def flip(self, *axes: Any, dims: Any = NOT_GIVEN) -> Tensor:
        """``gk.flip``: reversed along the axes given as ints, as one tuple or list, or as ``dims=``; with
        none, along every axis (``numpy.flip``'s default; PyTorch requires dims)."""
        if dims is not NOT_GIVEN:
            if axes:
                raise InvalidArgumentError("flip: give the dims as arguments or as dims=, not both")
            return _ops.flip(self, dims=dims)
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            return _ops.flip(self, axes[0])
        return _ops.flip(self, axes or None)

    def masked_select(self, mask: Any) -> Tensor:
        """The elements where the bool ``mask`` (broadcast with self) is True, as a 1-d tensor."""
        from gradkit.ops.indexing import masked_select

        return masked_select(self, mask)

    def narrow(self, dim: int, start: Any, length: Any) -> Tensor:
        """The ``length`` elements from ``start`` (negative: from the end) along ``dim``; a view."""
        ax = self._torch_dim(dim, "narrow")
        n = self._data.shape[ax]
        start, length = whole(start, "narrow", "start"), whole(length, "narrow", "length", low=0)
        if not -n <= start <= n:
            raise IndexOutOfRangeError(
                f"narrow: start {start} is out of range for dim {ax} of shape {self.shape} (expected {-n} to {n})"
            )
        start += n if start < 0 else 0
        if start + length > n:
            raise IndexOutOfRangeError(
                f"narrow: start {start} + length {length} exceeds the size {n} of dim {ax} (shape {self.shape})"
            )
        return _ops.getitem(self, (slice(None),) * ax + (slice(start, start + length),), "narrow")

    def select(self, dim: int, index: Any) -> Tensor:
        """``self[..., index, ...]`` with ``index`` on ``dim`` (negative: from the end), that dim dropped; a view."""
        ax = self._torch_dim(dim, "select")
        return _ops.getitem(self, (slice(None),) * ax + (whole(index, "select", "index"),), "select")

    def _torch_dim(self, dim: Any, op: str) -> int:
        if self._data.ndim == 0:
            raise ShapeError(f"{op}: a 0-d tensor has no dimension to {op} along")
        return _normalize_axis(dim, self._data.ndim, op)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` (a tuple or separate ints), by default of this tensor's dtype and device."""
        return _filled("new_zeros", size, 0, *self._own(dtype, device), requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size``, by default of this tensor's dtype and device."""
        return _filled("new_ones", size, 1, *self._own(dtype, device), requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """An uninitialised tensor of ``size``, by default of this tensor's dtype and device."""
        return _filled("new_empty", size, None, *self._own(dtype, device), requires_grad)

    def new_full(
        self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """``fill_value`` in a tensor of ``size``, by default of this tensor's dtype and device."""
        from gradkit.creation import _check_fill
        from gradkit.dtypes import to_dtype
        from gradkit.ops.indexing import _number_as

        _check_fill(fill_value, "new_full")
        dtype, device = self._own(dtype, device)
        if isinstance(fill_value, (int, float, np.number)):  # nan or 300.0 for int8: an error, as PyTorch's
            fill_value = _number_as(fill_value, to_dtype(dtype, "new_full"), "new_full")
        return _filled("new_full", (size,), fill_value, dtype, device, requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` (a tensor's values, outside the graph), by default of this tensor's dtype and device."""
        from gradkit.creation import _finish, _to_array

        array, backend = _to_array(data, *self._own(dtype, device), "new_tensor")
        if not isinstance(data, (list, tuple, int, float)):  # an array may be shared: copy it
            array = array.copy()
        return _finish(array, backend, requires_grad, "new_tensor")

    def _own(self, dtype: Any, device: Any) -> tuple[Any, Any]:
        """``dtype`` and ``device``, this tensor's where None (the defaults of the ``new_*`` methods)."""
        return (self._data.dtype if dtype is None else dtype), (self._backend if device is None else device)

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        """``clamp(min=min)``: self limited from below (``min`` a number or a tensor, which gets gradients)."""
        return _ops.clip(self, _bound(min, "clamp_min", "min"), None)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        """``clamp(max=max)``: self limited from above."""
        return _ops.clip(self, None, _bound(max, "clamp_max", "max"))

    def logical_and(self, other: Any) -> Tensor:
        """Elementwise ``self and other`` (non-zero is True) as a bool tensor."""
        return _ops.compare("logical_and", self, other)

    def logical_or(self, other: Any) -> Tensor:
        return _ops.compare("logical_or", self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return _ops.compare("logical_xor", self, other)

    def logical_not(self) -> Tensor:
        return _ops.logical_not(self)

    def mm(self, mat2: Any) -> Tensor:
        """The product of two matrices (2-d; ``matmul`` also batches and broadcasts)."""
        return _matmul(self, _of_ndim(self, mat2, "mm", (2, 2), "mat2"), "mm")

    def bmm(self, mat2: Any) -> Tensor:
        """The products of two batches of matrices (3-d, the same batch size; no broadcasting)."""
        mat2 = _of_ndim(self, mat2, "bmm", (3, 3), "mat2")
        if self._data.shape[0] != mat2.shape[0]:
            raise ShapeError(f"bmm: the batch sizes differ: self {self.shape}, mat2 {mat2.shape}")
        return _matmul(self, mat2, "bmm")

    def mv(self, vec: Any) -> Tensor:
        """A matrix (2-d) times a vector (1-d)."""
        return _matmul(self, _of_ndim(self, vec, "mv", (2, 1), "vec"), "mv")

    def outer(self, vec2: Any) -> Tensor:
        """The outer product of two vectors (1-d; ``gk.outer`` flattens, as NumPy's)."""
        return _ops.outer(self, _of_ndim(self, vec2, "outer", (1, 1), "vec2"))

    ger = outer

    def where(self, condition: Any, other: Any) -> Tensor:
        """``gk.where(condition, self, other)``: self where the bool ``condition`` is True, else ``other``."""
        from gradkit.ops._util import as_tensor

        cond = as_tensor(condition, "where", self._backend)
        if cond.dtype.kind != "b":
            raise DTypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
        return _ops.where(cond, self, other)

    def scatter(self, dim: int, index: Any, src: Any, *, reduce: str | None = None) -> Tensor:
        """A copy with ``src`` (a tensor of self's dtype, or a number) written at ``index`` along ``dim``, as
        PyTorch's ``scatter`` (out of place; see ``gradkit.ops.indexing.scatter`` for the gradients and
        PyTorch's deprecated ``reduce="add"``/``"multiply"``)."""
        from gradkit.ops.indexing import scatter

        return scatter(self, dim, index, src, reduce=reduce)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """Self plus ``src`` added at ``index`` along ``dim`` (repeats add up), as PyTorch's (out of place)."""
        from gradkit.ops.indexing import scatter_add

        return scatter_add(self, dim, index, src)

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        """Self plus ``alpha * source``'s slice k added at ``index[k]`` along ``dim``, as PyTorch's (out of place)."""
        from gradkit.ops.indexing import index_add_along

        return index_add_along(self, dim, index, _times_alpha(self, source, alpha, "index_add"))

    # PyTorch's methods that ported tutorials call (gradkit/ops/torch_compat.py); none is a NumPy ndarray method
    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """PyTorch's ``split``: pieces of ``split_size_or_sections`` along ``dim`` (an int: that size, the last
        piece smaller; a list: those sizes, adding up to the dim's length); a tuple of views (``gk.split``)."""
        return _ops.split(self, split_size_or_sections, dim=dim)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """``gk.tensor_split``: n nearly equal pieces, or cut before each index given."""
        return _tc.tensor_split(self, indices_or_sections, dim)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        """``gk.movedim`` (= ``moveaxis``)."""
        return _tc.movedim(self, source, destination)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        """``gk.unflatten``: dim ``dim`` reshaped into ``sizes`` (one may be -1)."""
        return _tc.unflatten(self, dim, sizes)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        """``gk.lerp(self, end, weight)``: ``self + weight * (end - self)``."""
        return _tc.lerp(self, end, weight)

    def addmm(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``gk.addmm(self, mat1, mat2, beta=, alpha=)``: ``beta * self + alpha * mat1 @ mat2``."""
        return _tc.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """``gk.baddbmm``: ``beta * self + alpha * bmm(batch1, batch2)``."""
        return _tc.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """``self + value * tensor1 * tensor2``."""
        return _tc.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """``self + value * tensor1 / tensor2``."""
        return _tc.addcdiv(self, tensor1, tensor2, value=value)

    def cummax(self, dim: Any) -> Any:
        """``gk.cummax``: ``(values, indices)`` of the running maximum along ``dim``."""
        return _tc.cummax(self, dim)

    def cummin(self, dim: Any) -> Any:
        """``gk.cummin``: ``(values, indices)`` of the running minimum along ``dim``."""
        return _tc.cummin(self, dim)

    def logcumsumexp(self, dim: Any) -> Tensor:
        """``gk.logcumsumexp``: ``log(cumsum(exp(self)))`` along ``dim``, without overflow."""
        return _tc.logcumsumexp(self, dim)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """``gk.nan_to_num`` (PyTorch's argument order, no ``copy``)."""
        from gradkit.ops.numpy_more import nan_to_num

        return nan_to_num(self, nan=nan, posinf=posinf, neginf=neginf)

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """``gk.allclose(self, other, ...)``: a Python bool."""
        return _ops.allclose(self, other, rtol, atol, equal_nan)

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """``gk.isclose(self, other, ...)``: a bool tensor."""
        from gradkit.ops.numpy_stats import isclose

        return isclose(self, other, rtol, atol, equal_nan)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """``gk.multinomial(self, num_samples, replacement)``: int64 indices drawn from the weights."""
        from gradkit.creation import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli(self, p: Any = None, *, generator: Any = None) -> Tensor:
        """0/1 samples of self's dtype and shape, each 1 with probability self (or ``p``, a number in [0, 1]),
        from gradkit's generator on this tensor's device (or ``generator``); outside the graph."""
        if generator is not None:
            from gradkit.ops.torch_namespace import bernoulli

            return bernoulli(self, p, generator=generator)
        if self._data.dtype.kind != "f":
            raise DTypeError(f"bernoulli: expected a float tensor of probabilities, got {self.dtype}")
        if p is not None:
            from gradkit._args import probability

            p = probability(p, "bernoulli", "p")
        else:
            from gradkit.ops._util import host_read_allowed

            d = self._data
            # as PyTorch: probabilities outside [0, 1] (or NaN) are refused; read on the host where allowed
            if d.size and host_read_allowed(d) and not bool(((d >= 0) & (d <= 1)).all()):
                raise InvalidArgumentError("bernoulli: the probabilities (self) must lie in [0, 1]; got a value "
                                           "outside that range, or NaN")
        from gradkit.creation import rand_like

        probs = self.detach() if p is None else p
        return (rand_like(self) < probs).astype(self._data.dtype)

    @property
    def is_cuda(self) -> bool:
        """True for a tensor on a CUDA device (PyTorch's attribute)."""
        return self.device.startswith("cuda")

    # In place, under add_'s rules (_check_inplace: refused where autograd would break; the version counter bumps)
    def _assign_(self, op: str, compute: Callable[[Tensor], Tensor], *operands: Any, keeps_old: bool = True) -> Tensor:
        """Write ``compute(self)`` into self; returns self. With grad mode on and self or an operand in the
        graph the change is recorded (``compute`` then receives self as it was; ``keeps_old=False`` where its
        backward never reads those values: they are not copied)."""
        if self._needs_record(op, operands):
            return self._rebase(op, compute, keeps_old)
        with grad_mode.no_grad():
            result = compute(self)
        if result.shape != self.shape:
            raise ShapeError(f"in-place {op}: the result's shape {result.shape} is not self's shape {self.shape}")
        # As PyTorch's can_cast: integer results go into any integer tensor (signed or not, wrapping); else
        # NumPy's same_kind (no float into an integer tensor, nothing but bools into a bool one)
        both_int = result._data.dtype.kind in "iu" and self._data.dtype.kind in "iu"
        try:
            self._backend.xp.copyto(self._data, result._data, casting="unsafe" if both_int else "same_kind")
        except TypeError:
            raise DTypeError(f"in-place {op}: a {result.dtype} result cannot be stored in a {self.dtype} "
                             "tensor; convert it first (e.g. t = t.float())") from None
        self._version[0] += 1
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
        """:meth:`clamp` in place; returns self."""
        return self._assign_("clamp_", lambda t: t.clamp(min, max), min, max)

    def clamp_min_(self, min: Any) -> Tensor:  # noqa: A002
        return self._assign_("clamp_min_", lambda t: t.clamp_min(min), min)

    def clamp_max_(self, max: Any) -> Tensor:  # noqa: A002
        return self._assign_("clamp_max_", lambda t: t.clamp_max(max), max)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """:meth:`masked_fill` in place; returns self."""
        return self._assign_("masked_fill_", lambda t: t.masked_fill(mask, value), value, keeps_old=False)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        """:meth:`lerp` in place (``ema.lerp_(p, 0.01)`` under ``gk.no_grad()``); returns self."""
        return self._assign_("lerp_", lambda t: t.lerp(end, weight), end, weight)

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._assign_("addcmul_", lambda t: t.addcmul(tensor1, tensor2, value=value), tensor1, tensor2)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._assign_("addcdiv_", lambda t: t.addcdiv(tensor1, tensor2, value=value), tensor1, tensor2)

    def pow_(self, exponent: Any) -> Tensor:
        return self._assign_("pow_", lambda t: t.pow(exponent), exponent)

    def scatter_(self, dim: int, index: Any, src: Any, *, reduce: str | None = None) -> Tensor:
        return self._assign_("scatter_", lambda t: t.scatter(dim, index, src, reduce=reduce), src,
                             keeps_old=reduce == "multiply")

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        return self._assign_("scatter_add_", lambda t: _scatter_add_in_place(t, dim, index, src), src, keeps_old=False)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return self._assign_("index_add_", lambda t: t.index_add(dim, index, source, alpha=alpha), source,
                             keeps_old=False)

    def index_fill(self, dim: Any, index: Any, value: Any) -> Tensor:
        """``gk.index_fill``: ``value`` in the slices ``index`` along ``dim`` (out of place)."""
        return _tc.index_fill(self, dim, index, value)

    def index_fill_(self, dim: Any, index: Any, value: Any) -> Tensor:
        return self._assign_("index_fill_", lambda t: t.index_fill(dim, index, value), value, keeps_old=False)

    def index_copy(self, dim: Any, index: Any, source: Any) -> Tensor:
        """``gk.index_copy``: ``source``'s slice k in slice ``index[k]`` along ``dim`` (out of place)."""
        return _tc.index_copy(self, dim, index, source)

    def index_copy_(self, dim: Any, index: Any, source: Any) -> Tensor:
        return self._assign_("index_copy_", lambda t: t.index_copy(dim, index, source), source, keeps_old=False)

    def scatter_reduce(self, dim: Any, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        """``gk.scatter_reduce``: each ``src`` element combined by ``reduce`` ("sum", "prod", "mean", "amax",
        "amin") into its place ``index`` along ``dim`` (out of place)."""
        return _tc.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, dim: Any, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        return self._assign_(
            "scatter_reduce_", lambda t: t.scatter_reduce(dim, index, src, reduce, include_self=include_self), src
        )

    def index_reduce(self, dim: Any, index: Any, source: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        """``gk.index_reduce``: ``source``'s slice k combined by ``reduce`` ("prod", "mean", "amax", "amin") into
        slice ``index[k]`` along ``dim`` (out of place)."""
        return _tc.index_reduce(self, dim, index, source, reduce, include_self=include_self)

    def index_reduce_(self, dim: Any, index: Any, source: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        return self._assign_(
            "index_reduce_", lambda t: t.index_reduce(dim, index, source, reduce, include_self=include_self), source
        )

    def masked_scatter(self, mask: Any, source: Any) -> Tensor:
        """``gk.masked_scatter``: ``source``'s elements, in order, where ``mask`` is True (out of place)."""
        return _tc.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask: Any, source: Any) -> Tensor:
        return self._assign_("masked_scatter_", lambda t: t.masked_scatter(mask, source), source, keeps_old=False)

    def index_put_(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        """``self[indices] = values`` (``indices`` a tuple of index tensors), or with ``accumulate=True``
        ``values`` added there, repeated places adding up; in place under add_'s rules; returns self."""
        if not isinstance(indices, (tuple, list)):
            raise ArgumentTypeError(f"index_put_: indices must be a tuple of index tensors, got "
                                    f"{type(indices).__name__}")
        if not flag(accumulate, "index_put_", "accumulate"):
            self.__setitem__(tuple(indices), values)
            return self
        from gradkit.ops.indexing import normalize_index

        if self._needs_record("index_put_", (values,)):
            return self._rebase("index_put_", lambda t: _index_put_accumulated(t, indices, values), keeps_old=False)
        idx = normalize_index(self, tuple(indices), "index_put_")
        vals = self._as_same_device(values, "index_put_") if isinstance(values, Tensor) else None
        if vals is not None and vals.dtype != self.dtype:
            raise DTypeError(f"index_put_: values must have self's dtype {self.dtype}, got {vals.dtype}")
        target = self._data[idx]  # a copy (advanced indexing): only its shape is used
        data = (vals._data if vals is not None else self._backend.xp.asarray(values)).astype(self._data.dtype)
        try:
            data = self._backend.xp.broadcast_to(data, target.shape)
        except ValueError:
            raise ShapeError(f"index_put_: values of shape {data.shape} do not broadcast to the indexed shape "
                             f"{target.shape}") from None
        self._backend.scatter_add(self._data, idx, data)
        self._version[0] += 1
        return self


_TYPE_NAMES = {
    np.dtype(np.float16): "Half", np.dtype(np.float32): "Float", np.dtype(np.float64): "Double",
    np.dtype(np.int8): "Char", np.dtype(np.int16): "Short", np.dtype(np.int32): "Int", np.dtype(np.int64): "Long",
    np.dtype(np.uint8): "Byte", np.dtype(np.bool_): "Bool",
}


def _parse_type_name(name: str) -> tuple[np.dtype, bool]:
    """``"gradkit.cuda.FloatTensor"`` (or ``"torch..."``) as (float32, True)."""
    parts = name.split(".")
    known = {f"{v}Tensor": k for k, v in _TYPE_NAMES.items()}
    if len(parts) in (2, 3) and parts[0] in ("gradkit", "torch") and parts[-1] in known and (
            len(parts) == 2 or parts[1] == "cuda"):
        return known[parts[-1]], len(parts) == 3
    raise DTypeError(
        f"type: unknown tensor type {name!r:.60}; expected a dtype or a name such as 'gradkit.FloatTensor' or "
        f"'gradkit.cuda.LongTensor' (one of {', '.join(sorted(known))})"
    )


def _times_alpha(x: Tensor, other: Any, alpha: Any, op: str) -> Any:
    """``alpha * other`` for ``x.add``/``x.sub``: a Python number stays one (so that it does not widen x's
    dtype); as PyTorch, a float ``alpha`` with an integer result is an error (it would be truncated)."""
    alpha = _alpha_number(alpha)
    if isinstance(alpha, float) and x._data.dtype.kind in "iub":
        other_int = isinstance(other, (int, np.integer)) or (
            isinstance(other, Tensor) and other._data.dtype.kind in "iub")
        if other_int:
            raise InvalidArgumentError(
                f"{op}: alpha must not be a float for integer tensors, got alpha={alpha!r}"
            )
    if type(other) in (int, float) and type(alpha) in (int, float):
        return other * alpha
    return x._scaled(other, alpha, op)


def _alpha_number(alpha: Any) -> Any:
    """``alpha`` as a Python number (a NumPy scalar, 0-d array or 0-d tensor too): as in PyTorch, ``alpha``
    scales ``other`` and never changes the result's dtype (a NumPy float64 scalar would widen float32)."""
    alpha = scalar(alpha)
    if isinstance(alpha, (np.integer, np.floating)):
        return alpha.item()
    return alpha


def _rounded_division(a: Tensor, b: Any, mode: str) -> Tensor:
    """``a / b`` rounded by ``mode`` ("trunc" or "floor"); a float result records a zero gradient."""
    from gradkit.autograd.function import record
    from gradkit.ops._floordiv import floor_divide
    from gradkit.ops._util import data_of, host_read_allowed, operands

    a, b, backend = operands("div", a, b)
    xp = backend.xp
    ad, bd = data_of(a), data_of(b)
    kinds = {getattr(getattr(v, "dtype", None), "kind", "f" if isinstance(v, float) else "i") for v in (ad, bd)}
    if kinds <= {"b"}:
        raise DTypeError(f"div: rounding_mode={mode!r} is not defined for two bool operands")
    size = math.prod(_broadcast_shape(ad, bd))  # an empty result divides nothing (no error, as PyTorch)
    if not kinds & {"f"} and size and host_read_allowed(a._data) and bool(xp.any(xp.asarray(bd) == 0)):
        raise InvalidArgumentError(f"div: integer division by zero (rounding_mode={mode!r})")
    try:
        # float x / 0 (inf or NaN), an overflowing quotient (1e308 // 1e-308: inf; int8 -128 // -1: -128, wrapped)
        # as PyTorch, silently
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = floor_divide(ad, bd)
            if mode == "trunc" and q.dtype.kind == "f":
                q = xp.trunc(xp.true_divide(ad, bd)).astype(q.dtype, copy=False)
            elif mode == "trunc":  # integers: floor, then one up where a remainder was left by a negative quotient
                q = q + ((xp.remainder(ad, bd) != 0) & ((xp.asarray(ad) < 0) != (xp.asarray(bd) < 0))).astype(q.dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DTypeError(f"div: cannot divide {getattr(ad, 'dtype', type(ad).__name__)} by "
                         f"{getattr(bd, 'dtype', type(bd).__name__)} ({exc})") from None
    if isinstance(q, np.generic):
        q = np.asarray(q)
    if q.dtype.kind != "f":
        return Tensor._make(q, backend)
    inputs = tuple(v if isinstance(v, Tensor) else None for v in (a, b))
    return record("div", q, backend, inputs, (_zero_slope, _zero_slope), broadcast=True)


def _broadcast_shape(a: Any, b: Any) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        raise ShapeError(f"div: shapes {np.shape(a)} and {np.shape(b)} do not broadcast") from None


def _zero_slope(g: Tensor) -> Tensor:
    return Tensor._make(g._backend.xp.zeros_like(g._data), g._backend)


def is_tensor(obj: Any) -> bool:
    """True when ``obj`` is a gradkit Tensor (a Parameter too), as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def _no_out(out: Any, op: str) -> None:
    no_out(out, op, f"t.{op}")


def _no_all_axes(op: str) -> None:
    raise ArgumentTypeError(
        f"{op}: Tensor.{op}(None) is PyTorch's deprecated implicit dim, refused as F.{op} refuses it; pass an "
        f"int axis, or call gk.{op}(t, axis=None) for SciPy's {op} over all the elements"
    )


def _item_index(args: tuple, shape: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's ``item`` arguments (a flat index; ints, one per axis; or one tuple of them) as an index."""
    index = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
    index = tuple(whole(i, "item", "index") for i in index)
    size = math.prod(shape)
    if len(index) == 1 and len(shape) != 1:  # a flat index, as NumPy's
        (i,) = index
        if not -size <= i < size:
            raise IndexOutOfRangeError(f"item: index {i} is out of bounds for a tensor of size {size}")
        return tuple(int(j) for j in np.unravel_index(i % size, shape))
    if len(index) != len(shape):
        raise IndexOutOfRangeError(
            f"item: {len(index)} indices for a tensor of shape {shape}; give one flat index or {len(shape)}"
        )
    for i, n in zip(index, shape, strict=True):
        if not -n <= i < n:
            raise IndexOutOfRangeError(f"item: index {index} is out of bounds for shape {shape}")
    return index


def _bound(value: Any, op: str, name: str) -> Any:
    """``value``, which must not be None nor text (clip would take None as no bound)."""
    if value is None or isinstance(value, (str, bytes, complex)):
        raise ArgumentTypeError(f"{op}: {name} must be a number or a tensor, got {type(value).__name__} {value!r:.40}")
    return value


def _of_ndim(x: Tensor, other: Any, op: str, ndims: tuple[int, int], name: str) -> Tensor:
    """``other`` as a tensor on x's device, once x is seen to have ``ndims[0]`` dimensions and it ``ndims[1]``."""
    from gradkit.ops._util import as_tensor

    other = as_tensor(other, op, x._backend)
    for t, n, what in ((x, ndims[0], "self"), (other, ndims[1], name)):
        if t.ndim != n:
            raise ShapeError(f"{op}: {what} must be {n}-d, got shape {t.shape}")
    return other


def _other_tensor(other: Any, op: str) -> Tensor:
    if not isinstance(other, Tensor):
        raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(other).__name__}")
    return other


class ElementCount(int):
    """``Tensor.size``: the number of elements, NumPy's attribute, as an int; called, PyTorch's method:
    ``t.size()`` is the shape (a tuple) and ``t.size(dim)`` the length along ``dim`` (negative from the end)."""

    def __new__(cls, count: int, shape: tuple) -> ElementCount:
        n = super().__new__(cls, count)
        n.shape = shape
        return n

    def __call__(self, dim: Any = None) -> Any:
        if dim is None:
            return self.shape
        return self.shape[_normalize_axis(dim, len(self.shape), "size")]

    def __reduce__(self) -> tuple:  # pickled as the plain int it is
        return (int, (int(self),))


def _index_put_accumulated(t: Tensor, indices: Any, values: Any) -> Tensor:
    """``index_put_``'s new values out of place, with autocast off (PyTorch's in-place ops are not autocast: a
    float16 tensor refuses float32 values inside a "cuda" region too)."""
    with _autocast.exclude():
        return _methods_misc.index_put(t, indices, values, True)


def _scatter_add_in_place(t: Tensor, dim: Any, index: Any, src: Any) -> Tensor:
    """``scatter_add_``'s new values out of place, without autocast (PyTorch's in-place ops are not autocast: a
    float16 tensor refuses float32 src inside a "cuda" region too, where ``scatter_add`` promotes)."""
    from gradkit.ops.indexing import _added

    return _added(t, dim, index, src, "scatter_add")


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` takes this registration away (calling it again does nothing),
    as does the end of a ``with handle:`` block (PyTorch's handle; a module's hooks' handles alike).

    Another registration of the same function stays. A backward pass already running still calls the hook
    (as PyTorch: each pass calls the hooks registered when it reached the tensor).
    """

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)

    def __enter__(self) -> _HookHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


from gradkit import ops as _ops  # noqa: E402  (ops import Tensor)
from gradkit.amp import autocast_mode as _autocast  # noqa: E402  (__rtruediv__ reads its ``active``)
from gradkit.autograd import engine as _engine  # noqa: E402  (the engine imports Tensor)
from gradkit.creation import _filled  # noqa: E402  (creation imports Tensor)
from gradkit.ops import tensor_methods_math as _methods_math  # noqa: E402  (they import Tensor)
from gradkit.ops import tensor_methods_misc as _methods_misc  # noqa: E402
from gradkit.ops import torch_compat as _tc  # noqa: E402  (torch_compat imports Tensor)
from gradkit.ops._util import normalize_axis as _normalize_axis  # noqa: E402
from gradkit.ops.linalg import _matmul  # noqa: E402

Tensor.__add__ = _ops.add  # type: ignore[assignment]
Tensor.__sub__ = _ops.subtract  # type: ignore[assignment]
Tensor.__mul__ = _ops.multiply  # type: ignore[assignment]
Tensor.__truediv__ = _ops.divide  # type: ignore[assignment]
Tensor.__pow__ = _ops.power  # type: ignore[assignment]
Tensor.__matmul__ = _ops.matmul  # type: ignore[assignment]


def _copied(src: Tensor, like: Tensor) -> Tensor:
    """``src`` broadcast to ``like``'s shape (copy_'s and fill_'s recorded value; ``rebase`` casts it)."""
    return src if src.shape == like.shape else _ops.broadcast_to(src, like.shape)


def _unary_inplace(name: str) -> Callable[..., Tensor]:
    keeps_old = name != "relu"  # relu's backward reads its output only

    def method(self: Tensor, *args: Any) -> Tensor:
        return self._assign_(f"{name}_", lambda t: getattr(t, name)(*args), keeps_old=keeps_old)

    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f":meth:`{name}` in place, under the rules of ``add_``; returns self."
    return method


for _name in ("exp", "log", "sqrt", "abs", "neg", "sigmoid", "tanh", "relu", "square", "reciprocal", "sign",
              "floor", "ceil", "round", "trunc"):
    setattr(Tensor, f"{_name}_", _unary_inplace(_name))
del _name

# PyTorch's remaining Tensor methods, each a call of a gradkit function (tables in those two modules)
_methods_math.install(Tensor)
_methods_misc.install(Tensor)
