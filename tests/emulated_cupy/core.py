"""The emulated CuPy: arrays that hold NumPy arrays but behave like CuPy's at the boundaries.

What it checks, for code written against ``backend.xp``:

* a NumPy array given where a CuPy array must be (ufunc operands, ``out=``, most functions)
  raises ``TypeError`` as CuPy does; ``cupy.asarray``/``cupy.array`` copy from the host;
* ``numpy.asarray(a)`` raises CuPy's "Implicit conversion" ``TypeError``;
* reductions and scalar indexing give 0-d arrays, never NumPy scalars; there is no ``__index__``;
* only the functions, methods and keyword arguments that the real CuPy has exist
  (``cupy_api.py``, generated from CuPy itself);
* ``object``/string dtypes are refused;
* as CuPy 14.2: the random generator keeps its state in ``bit_generator._state`` (a device int8
  array) and refuses to draw on another device; a ``Device`` keeps the devices its ``with`` left on
  the object; ``Stream.from_external`` checks the stream protocol and gives device -1.

The numbers are NumPy's: this says nothing about GPU numerics, kernels or streams.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import types
import warnings
import weakref
from typing import Any

import numpy as np

from emulated_cupy import cupy_api as API

_NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"
IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."
)
_KINDS = [
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL,
    inspect.Parameter.KEYWORD_ONLY,
    inspect.Parameter.VAR_KEYWORD,
]
_signatures: dict[tuple, inspect.Signature | None] = {}


def _signature(spec: Any) -> inspect.Signature | None:
    if spec is None or spec == "attribute":
        return None
    sig = _signatures.get(spec)
    if sig is None:
        params = [
            inspect.Parameter(name, _KINDS[kind], default=None if has_default else inspect.Parameter.empty)
            for name, kind, has_default in spec
        ]
        sig = _signatures[spec] = inspect.Signature(params)
    return sig


# Whether a call binds depends only on the signature, the number of positional arguments and the keyword names:
# the shapes of call that bound once are remembered (inspect's bind costs microseconds on every call). The specs
# are module constants of cupy_api, so their ids are stable.
_bound_calls: set[tuple] = set()


def _check_call(where: str, spec: Any, args: tuple, kwargs: dict) -> None:
    key = (id(spec), len(args), *kwargs)
    if key in _bound_calls:
        return
    sig = _signature(spec)
    if sig is None:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{where}() (emulated CuPy {API.VERSION}): {exc}") from None
    _bound_calls.add(key)


def _check_dtype(dtype: Any) -> None:
    if dtype is not None and np.dtype(dtype).kind in "OSUVMm":
        raise ValueError(f"Unsupported dtype {np.dtype(dtype)}")


# ----------------------------------------------------------------------------- wrapping
# CuPy's ``a.base`` is the array object that owns the memory; NumPy's is a NumPy array. This maps
# id(owning NumPy array) to the emulated array holding it, so ``base`` gives back that same object.
_owners: weakref.WeakValueDictionary[int, ndarray] = weakref.WeakValueDictionary()


def _wrap(value: Any) -> Any:
    """NumPy results as emulated CuPy results: arrays and NumPy scalars become arrays."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSUVMm":
            _check_dtype(value.dtype)
        out = ndarray.__new__(ndarray)
        out._a = value
        out._base = None
        if value.base is None:
            _owners[id(value)] = out
        return out
    if isinstance(value, np.generic):
        return _wrap(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any, where: str) -> Any:
    """Arguments as NumPy values; a NumPy array (a host array) is refused as CuPy does."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} (in emulated cupy {where}: a host NumPy array)")
    if isinstance(value, (list, tuple)):
        items = [_unwrap(v, where) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _unwrap_call(where: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return tuple([_unwrap(a, where) for a in args]), {k: _unwrap(v, where) for k, v in kwargs.items()} if kwargs else {}


def _leaves(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def _host_to_device(obj: Any) -> Any:
    """What cupy.array/asarray accept: a host array, an emulated array, or a nested sequence of
    Python/NumPy values or of emulated arrays (not both: CuPy refuses a mix)."""
    if type(obj) is ndarray:
        return obj._a
    if isinstance(obj, (list, tuple)):
        kinds = {type(v) is ndarray for v in _leaves(obj)}
        if kinds == {True, False}:
            raise TypeError(IMPLICIT)
        items = [_host_to_device(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


# ----------------------------------------------------------------------------- ufuncs
_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
_UFUNC_KWARGS = {"out", "dtype", "casting"}
# CuPy's ufunc.at exists for these only (and for a few dtypes each).
_AT_DTYPES = {
    "add": "int32 int64 float16 float32 float64 uint32 uint64",
    "maximum": "int32 int64 float32 float64 uint32 uint64",
    "minimum": "int32 int64 float32 float64 uint32 uint64",
    "subtract": "int32 uint32",
    "bitwise_and": "int32 int64 uint32 uint64",
    "bitwise_or": "int32 int64 uint32 uint64",
    "bitwise_xor": "int32 int64 uint32 uint64",
}


def _ufunc_operand(value: Any, name: str) -> Any:
    if type(value) is ndarray:
        return value._a
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return value
    if name in _COMPARISONS and isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()  # CuPy's comparisons take a 0-d host array as a scalar
    raise TypeError(f"Unsupported type {type(value)} (emulated cupy.{name})")


def _as_cupy_computes(name: str, ins: list) -> list:
    """Operands changed where CuPy 14 computes what NumPy refuses (seen on an H100, 2026-11-28):
    the sign of bools (NumPy: TypeError) and integers to negative integer powers (NumPy: ValueError)
    give numbers, not errors. The numbers here are stand-ins, not CuPy's."""
    if name == "sign" and np.asarray(ins[0]).dtype == np.bool_:
        return [np.asarray(ins[0]).astype(np.int8)]
    if name == "power" and all(np.asarray(v).dtype.kind in "iu" for v in ins):
        return [ins[0], max(ins[1], 0) if isinstance(ins[1], int) else np.maximum(ins[1], 0)]  # a Python int stays weak
    return ins


class ufunc:
    """A CuPy ufunc: operands are emulated arrays or scalars; ``out`` must be an emulated array."""

    def __init__(self, name: str, nin: int, nout: int) -> None:
        self.name = self.__name__ = name
        self.nin, self.nout = nin, nout
        self._np = getattr(np, name)
        self._special = name in ("negative", "sign", "power")  # see __call__ and _as_cupy_computes

    def __repr__(self) -> str:
        return f"<ufunc '{self.name}'>"

    def _out(self, kwargs: dict) -> dict:
        if "out" in kwargs and kwargs["out"] is not None:
            out = kwargs["out"]
            outs = out if isinstance(out, tuple) else (out,)
            for o in outs:
                if type(o) is not ndarray:
                    raise TypeError(f"Output arguments must be cupy.ndarray (emulated cupy.{self.name}), got {type(o)}")
            kwargs = dict(kwargs, out=tuple(o._a for o in outs) if isinstance(out, tuple) else out._a)
        if "dtype" in kwargs:
            _check_dtype(kwargs["dtype"])
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        nin = self.nin
        if len(args) > nin + self.nout:
            raise TypeError(f"Wrong number of arguments for {self.name}")
        if kwargs:
            unknown = {k: v for k, v in kwargs.items() if k not in _UFUNC_KWARGS}
            if unknown:
                raise TypeError(f"Wrong arguments {unknown}")
        if self._special and self.name == "negative" and type(args[0]) is ndarray and args[0].dtype == np.bool_:
            raise TypeError("The cupy boolean negative, the `-` operator, is not supported, "
                            "use the `~` operator or the logical_not function instead.")
        ins = [_ufunc_operand(a, self.name) for a in args[:nin]]
        if len(args) > nin:  # out given positionally
            kwargs = dict(kwargs, out=args[nin] if self.nout == 1 else tuple(args[nin:]))
        if self._special:
            ins = _as_cupy_computes(self.name, ins)
        if not kwargs:
            return _wrap(self._np(*ins))
        given = kwargs.get("out")
        result = self._np(*ins, **self._out(kwargs))
        return given if given is not None else _wrap(result)

    def _method(self, method: str, a: Any, *args: Any, **kwargs: Any) -> Any:
        a = _ufunc_operand(a, self.name) if method != "at" else _unwrap(a, self.name)
        args, kwargs = _unwrap_call(f"{self.name}.{method}", args, self._out(kwargs))
        return _wrap(getattr(self._np, method)(a, *args, **kwargs))

    def reduce(self, a: Any, *args: Any, **kwargs: Any) -> Any:
        return self._method("reduce", a, *args, **kwargs)

    def accumulate(self, a: Any, *args: Any, **kwargs: Any) -> Any:
        return self._method("accumulate", a, *args, **kwargs)

    def outer(self, a: Any, b: Any, **kwargs: Any) -> Any:
        return _wrap(self._np.outer(_ufunc_operand(a, self.name), _ufunc_operand(b, self.name), **kwargs))

    def at(self, a: Any, indices: Any, b: Any = None) -> None:
        if type(a) is not ndarray:
            raise TypeError(f"Unsupported type {type(a)} (emulated cupy.{self.name}.at)")
        if self.name not in _AT_DTYPES:
            raise NotImplementedError(f"`cupy_{self.name}.at` is not supported yet")
        if a.dtype.name not in _AT_DTYPES[self.name].split():
            raise TypeError(f"`cupy.{self.name}.at` does not support dtype {a.dtype} (emulated)")
        idx = _unwrap(indices, f"{self.name}.at")
        if b is None:
            self._np.at(a._a, idx)
        else:
            self._np.at(a._a, idx, _ufunc_operand(b, self.name))

    def reduceat(self, *args: Any, **kwargs: Any) -> Any:
        return self._method("reduceat", *args, **kwargs)


def _call_with_out(fn_name: str, result_fn: Any, args: tuple, kwargs: dict) -> Any:
    out = kwargs.get("out")
    if out is not None and type(out) is not ndarray:
        raise TypeError(f"Output argument must be cupy.ndarray (emulated cupy.{fn_name}), got {type(out)}")
    np_args, np_kwargs = _unwrap_call(fn_name, args, kwargs)
    result = result_fn(*np_args, **np_kwargs)
    return out if out is not None else _wrap(result)


# ----------------------------------------------------------------------------- ndarray
_FLAG_NAMES = {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous", "OWNDATA": "owndata"}


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a: np.ndarray) -> None:
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata

    def __getitem__(self, name: str) -> bool:
        return getattr(self, _FLAG_NAMES[name])


# Per host thread, as CUDA's and CuPy's: .device (the current device), .entered ([(device, stream)] of the Streams'
# ``with`` blocks), .streams ({device: stream set by use()}). The devices a Device's ``with`` left are kept on the
# Device object, as CuPy keeps them.
_thread = threading.local()


def _current_device() -> int:
    return getattr(_thread, "device", 0)


class Device:
    """cupy.cuda.Device: emulated devices ``0 .. runtime.getDeviceCount() - 1`` (one unless a test patches the
    count); the current device is per thread, as CUDA's (a new thread starts on device 0)."""

    def __init__(self, device: Any = None) -> None:
        index = _current_device() if device is None else int(device)
        count = _RUNTIME.getDeviceCount() if _RUNTIME is not None else 1
        if not 0 <= index < count:
            raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal (emulated: {count}), got {index}")
        self.id = index
        self._device_stack: list[int] = []  # per object, as CuPy's: one Device shared by threads mixes them up

    def __enter__(self) -> Device:
        self._device_stack.append(_current_device())
        _thread.device = self.id
        return self

    def __exit__(self, *exc: Any) -> None:
        _thread.device = self._device_stack.pop()

    def use(self) -> None:
        _thread.device = self.id

    def synchronize(self) -> None:
        return None

    @property
    def compute_capability(self) -> str:
        return "90"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Device", self.id))

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class MemoryPointer:
    def __init__(self, a: np.ndarray) -> None:
        self.ptr = a.__array_interface__["data"][0]
        self.device_id = 0


class ndarray:  # noqa: N801 - CuPy's name
    """An emulated ``cupy.ndarray`` holding a NumPy array in ``_a``."""

    __slots__ = ("_a", "_base", "__weakref__")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None, order: str = "C"):
        _check_dtype(dtype)
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._base = None
        _owners[id(self._a)] = self

    # -- attributes
    @property
    def shape(self) -> tuple:
        return self._a.shape

    @shape.setter
    def shape(self, value: Any) -> None:
        self._a.shape = value

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def itemsize(self) -> int:
        return self._a.itemsize

    @property
    def nbytes(self) -> int:
        return self._a.nbytes

    @property
    def strides(self) -> tuple:
        return self._a.strides

    @property
    def flags(self) -> _Flags:
        return _Flags(self._a)

    @property
    def T(self) -> ndarray:  # noqa: N802
        return _wrap(self._a.T)

    @property
    def mT(self) -> ndarray:  # noqa: N802
        if self._a.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return _wrap(np.swapaxes(self._a, -1, -2))

    @property
    def real(self) -> ndarray:
        return _wrap(self._a.real)

    @property
    def imag(self) -> ndarray:
        return _wrap(self._a.imag)

    @property
    def base(self) -> ndarray | None:
        if self._base is not None:
            return self._base
        root = self._a.base
        while isinstance(root, np.ndarray) and root.base is not None:
            root = root.base
        if not isinstance(root, np.ndarray):
            return None
        if self._base is None:
            owner = _owners.get(id(root))
            self._base = owner if owner is not None else _wrap(root)
        return self._base

    @property
    def data(self) -> MemoryPointer:
        return MemoryPointer(self._a)

    @property
    def device(self) -> Device:
        return Device(0)

    @property
    def __cuda_array_interface__(self) -> dict:
        face = dict(self._a.__array_interface__)
        return {"shape": face["shape"], "typestr": face["typestr"], "data": face["data"], "strides": face["strides"],
                "version": 3, "descr": face["descr"]}

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(IMPLICIT)

    # -- the methods CuPy has, computed by NumPy
    def __getattr__(self, name: str) -> Any:
        spec = API.NDARRAY.get(name)
        if spec is None or name.startswith("__") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}' (emulated CuPy {API.VERSION})")
        method = getattr(self._a, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            _check_call(f"cupy.ndarray.{name}", spec, args, kwargs)
            return _call_with_out(f"ndarray.{name}", method, args, kwargs)

        return call

    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr: Any, stream: Any = None) -> None:
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._a.shape or arr.dtype != self._a.dtype:
            raise ValueError("Shape or dtype mismatch in emulated cupy.ndarray.set")
        self._a[...] = arr

    def item(self, *args: Any) -> Any:
        return self._a.item(*args)

    def tolist(self) -> Any:
        return self._a.tolist()

    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None, copy: bool = True) -> Any:
        _check_dtype(dtype)
        if casting is not None:
            raise TypeError("casting is not supported yet")
        if subok is not None:
            raise TypeError("subok is not supported yet")
        result = self._a.astype(dtype, order=order, copy=copy)
        return self if result is self._a else _wrap(result)  # CuPy: copy=False with nothing to do gives self

    def copy(self, order: str = "C") -> ndarray:
        return _wrap(self._a.copy(order=order))

    def view(self, dtype: Any = None, array_class: Any = None) -> ndarray:
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype))

    def fill(self, value: Any) -> None:
        if isinstance(value, (np.ndarray, ndarray)) and value.ndim:
            raise ValueError(f"non-scalar {type(value).__module__}.ndarray cannot be used for fill")
        self._a.fill(value._a if type(value) is ndarray else value)

    def sort(self, axis: int = -1, kind: Any = None) -> None:
        if kind not in (None, "stable"):
            raise ValueError("kind can only be None or 'stable'")
        self._a[...] = np.take_along_axis(self._a, _radix_order(self._a, axis), axis=axis)

    def scatter_add(self, slices: Any, value: Any) -> None:
        np.add.at(self._a, _unwrap(slices, "scatter_add"), _ufunc_operand(value, "scatter_add"))

    # -- indexing
    def __getitem__(self, key: Any) -> Any:
        try:
            return _wrap(self._a[_index(key, self._a.shape)])
        except IndexError as exc:  # CuPy 14 (seen on an H100): "operands could not be broadcast together ..."
            if "shape mismatch" in str(exc):
                raise ValueError(f"operands could not be broadcast together (emulated: {exc})") from None
            raise

    # -- CuPy 14's numbers where they differ from NumPy's (seen on an H100, 2026-11-28)
    def var(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return _second_moment(self, "var", axis, dtype, out, ddof, keepdims)

    def std(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return _second_moment(self, "std", axis, dtype, out, ddof, keepdims)

    def argsort(self, axis: int = -1, kind: Any = None) -> ndarray:
        return _argsort(self, axis, kind)

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(value) is ndarray:
            value = value._a
        self._a[_index(key, self._a.shape)] = value

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    # -- conversions (each one a device-to-host copy in CuPy); no __index__, as in CuPy
    def __bool__(self) -> bool:
        if self._a.size == 0:
            warnings.warn("The truth value of an empty array is ambiguous. Returning False, but in future this "
                          "will result in an error. Use `array.size > 0` to check that an array is not empty.",
                          DeprecationWarning, stacklevel=2)
            return False
        return bool(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __format__(self, spec: str) -> str:
        return self._a.__format__(spec)

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    # -- copying and pickling
    def __copy__(self) -> ndarray:
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo: dict) -> ndarray:
        return _wrap(self._a.copy())

    def __reduce__(self) -> tuple:
        return (_rebuild, (self._a.copy(),))

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("dl_device", None)
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple:
        return (2, 0)  # kDLCUDA, device 0

    def __array_ufunc__(self, uf: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        mine = UFUNCS.get(uf.__name__)
        if mine is None:
            return NotImplemented
        return mine(*inputs, **kwargs) if method == "__call__" else getattr(mine, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types_: Any, args: tuple, kwargs: dict) -> Any:
        module = func.__module__.split(".")
        target: Any = MODULE if module[-1] in ("numpy", "_core", "core") or len(module) == 1 else None
        if len(module) > 1 and module[1] == "linalg":
            target = LINALG
        fn = getattr(target, func.__name__, None) if target is not None else None
        if fn is None:
            return NotImplemented
        return fn(*args, **kwargs)


def _radix_order(a: np.ndarray, axis: Any) -> np.ndarray:
    """CuPy's stable sort order: floats by their bits, as a radix sort orders them (NaNs with the sign
    bit first, then -inf ... -0.0, 0.0 ... inf, then the other NaNs), not NumPy's NaN-last order."""
    if a.dtype.kind != "f":
        return np.argsort(a, axis=axis, kind="stable")
    bits = a.view(np.dtype(f"u{a.dtype.itemsize}"))
    top = bits.dtype.type(1) << bits.dtype.type(8 * a.dtype.itemsize - 1)
    key = np.where(bits & top, ~bits, bits | top)
    return np.argsort(key, axis=axis, kind="stable")


def _argsort(a: Any, axis: Any = -1, kind: Any = None) -> ndarray:
    _check_call("cupy.argsort", API.FUNCTIONS["argsort"], (a,), {"axis": axis, "kind": kind})
    if kind not in (None, "stable"):
        raise ValueError("kind can only be None or 'stable'")
    data = _unwrap(a, "argsort")
    if axis is None:
        data, axis = data.ravel(), -1
    return _wrap(_radix_order(np.asarray(data), axis))


def _sort(a: Any, axis: Any = -1, kind: Any = None) -> ndarray:
    data = np.asarray(_unwrap(a, "sort"))
    if axis is None:
        data, axis = data.ravel(), -1
    return _wrap(np.take_along_axis(data, _radix_order(data, axis), axis=axis))


def _second_moment(a: ndarray, name: str, axis: Any, dtype: Any, out: Any, ddof: Any, keepdims: bool) -> Any:
    """CuPy's var / std: NaN where no degrees of freedom are left (NumPy: inf, with a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _call_with_out(f"ndarray.{name}", getattr(a._a, name), (),
                                {"axis": axis, "dtype": dtype, "out": out, "ddof": ddof, "keepdims": keepdims})
    axes = range(a.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    n = math.prod(a.shape[ax] for ax in axes)
    if n - ddof <= 0:
        result._a[...] = np.nan
    return result


def _rebuild(array: np.ndarray) -> ndarray:
    return _wrap(array)


_PLAIN_INDEX = {int, slice, type(None), type(Ellipsis)}


def _index(key: Any, shape: tuple) -> Any:
    """The index for NumPy, with CuPy's semantics: integer-array indices wrap around (CuPy does not
    check their bounds); a scalar index out of range is still an IndexError."""
    if type(key) in _PLAIN_INDEX or (type(key) is tuple and all(type(k) in _PLAIN_INDEX for k in key)):
        return key  # no arrays: NumPy's meaning is CuPy's
    items = list(key) if isinstance(key, tuple) else [key]
    for i, k in enumerate(items):
        if type(k) is ndarray:
            items[i] = k._a
        elif isinstance(k, list):
            items[i] = np.asarray(_host_to_device(k))
    masks = sum(1 for k in items if isinstance(k, np.ndarray) and k.dtype == np.bool_ and k.ndim)
    if masks > 1:
        raise ValueError("currently, CuPy only supports slices that consist of one boolean array.")
    consumed = sum(k.ndim if isinstance(k, np.ndarray) and k.dtype == np.bool_ else 1
                   for k in items if k is not None and k is not Ellipsis)
    axis = 0
    for i, k in enumerate(items):
        if k is Ellipsis:
            axis += len(shape) - consumed
        elif k is None:
            continue
        elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
            axis += k.ndim
        else:
            if isinstance(k, np.ndarray) and k.dtype.kind in "iu" and axis < len(shape) and shape[axis] > 0:
                items[i] = np.mod(k, shape[axis])
            axis += 1
    return tuple(items) if isinstance(key, tuple) else items[0]


def _binary(name: str, reflected: bool = False) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        if not (type(other) is ndarray or isinstance(other, (bool, int, float, complex, np.generic, np.ndarray))):
            return NotImplemented
        uf = UFUNCS[name]
        return uf(other, self) if reflected else uf(self, other)

    return op


def _inplace(name: str) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        UFUNCS[name](self, other, out=self)
        return self

    return op


def _unary(name: str) -> Any:
    def op(self: ndarray) -> Any:
        return UFUNCS[name](self)

    return op


for _dunder, _uf in {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide", "floordiv": "floor_divide",
    "mod": "remainder", "pow": "power", "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift",
}.items():
    setattr(ndarray, f"__{_dunder}__", _binary(_uf))
    setattr(ndarray, f"__r{_dunder}__", _binary(_uf, reflected=True))
    setattr(ndarray, f"__i{_dunder}__", _inplace(_uf))
for _dunder, _uf in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                     "divmod": "divmod"}.items():
    setattr(ndarray, f"__{_dunder}__", _binary(_uf))


def _equality(name: str, fill: bool) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        if other is None or type(other).__eq__ is object.__eq__:  # CuPy: all False (==) / all True (!=)
            return _wrap(np.full(self._a.shape, fill))
        return UFUNCS[name](self, other)

    return op


ndarray.__eq__ = _equality("equal", False)
ndarray.__ne__ = _equality("not_equal", True)
ndarray.__rdivmod__ = _binary("divmod", reflected=True)
for _dunder, _uf in {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}.items():
    setattr(ndarray, f"__{_dunder}__", _unary(_uf))


def _matmul(self: ndarray, other: Any) -> Any:
    return MODULE.matmul(self, other)


def _rmatmul(self: ndarray, other: Any) -> Any:
    return MODULE.matmul(other, self)


ndarray.__matmul__ = _matmul
ndarray.__rmatmul__ = _rmatmul

UFUNCS: dict[str, ufunc] = {
    name: ufunc(name, nin, nout) for name, (nin, nout) in API.UFUNCS.items() if hasattr(np, name)
}


# ----------------------------------------------------------------------------- functions
_BOOL_RESULTS = {"allclose", "array_equal", "array_equiv"}


def _array(obj: Any, dtype: Any = None, copy: Any = True, order: str = "K", subok: bool = False, ndmin: int = 0,
           blocking: bool = False) -> ndarray:
    _check_dtype(dtype)
    host = _host_to_device(obj)
    if isinstance(host, np.ndarray) and type(obj) is not ndarray:
        copy = True  # host to device is always a copy
    if copy is None and _NUMPY1:  # NumPy 1.x spells "copy only if needed" copy=False
        copy = False
    result = np.array(host, dtype=dtype, copy=copy, order=order, ndmin=ndmin)
    _check_dtype(result.dtype)
    return _wrap(result)


def _asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    if type(a) is ndarray and (dtype is None or np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
        return a  # as CuPy: the array itself when nothing is to be done
    return _array(a, dtype=dtype, copy=None if type(a) is ndarray else True, order=order or "K")


def _function(name: str, spec: Any, np_fn: Any) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        _check_call(f"cupy.{name}", spec, args, kwargs)
        if "dtype" in kwargs:
            _check_dtype(kwargs["dtype"])
        result = _call_with_out(name, np_fn, args, kwargs)
        return _wrap(np.asarray(result)) if name in _BOOL_RESULTS else result

    fn.__name__ = name
    return fn


def _strict_where(where: Any) -> Any:
    """CuPy's ``where`` calls ``condition.astype('?')``: a Python bool condition is an AttributeError (and a
    NumPy array one a TypeError from CuPy's ufunc), where NumPy's accepts both."""

    def strict(condition: Any, *args: Any, **kwargs: Any) -> Any:
        if type(condition) is not ndarray:
            raise AttributeError(f"'{type(condition).__name__}' object has no attribute 'astype'")
        return where(condition, *args, **kwargs)

    strict.__name__ = "where"
    return strict


def _nan_without_convergence(np_fn: Any) -> Any:
    """cuSOLVER reports a failed iteration (a NaN or infinite input) in a status flag that CuPy does not read
    by default: CuPy's svd/eigh/eigvalsh return NaNs where NumPy's raise LinAlgError (seen on an H200)."""

    def solve(a: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return np_fn(a, *args, **kwargs)
        except np.linalg.LinAlgError:
            shaped = np_fn(np.zeros_like(a), *args, **kwargs)
            if isinstance(shaped, tuple):
                return tuple(np.full_like(r, np.nan) for r in shaped)
            return np.full_like(shaped, np.nan)

    return solve


def _broadcast_to(array: Any, shape: Any) -> ndarray:
    """CuPy's broadcast views are writable (CuPy has no read-only arrays); NumPy's are not."""
    if type(array) is not ndarray:
        raise TypeError(f"Argument 'array' has incorrect type (expected cupy.ndarray, got {type(array).__name__})")
    view = np.broadcast_to(array._a, shape)
    out = _wrap(np.lib.stride_tricks.as_strided(array._a, view.shape, view.strides))
    out._base = array.base if array.base is not None else array  # NumPy's base here is no array
    return out


def _asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    return MODULE if any(type(a) is ndarray for a in args) else np


class _HostView:
    """An object with a device array's DLPack capsule, as NumPy needs it (the memory is on the host)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __dlpack__(self, **kwargs: Any) -> Any:
        kwargs.pop("dl_device", None)
        return self.obj.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple:
        return (1, 0)


def _from_dlpack(array: Any, *, device: Any = None, copy: Any = None) -> ndarray:
    if array.__dlpack_device__()[0] != 2:
        raise RuntimeError("emulated cupy.from_dlpack: the array is not on a CUDA device")
    source = array if type(array) is ndarray else getattr(array, "_data", None)  # an emulated array, or a tensor
    if type(source) is ndarray:
        return _wrap(source._a.view())  # shared and writable, as CuPy's (NumPy 1.x would import it read-only)
    return _wrap(np.from_dlpack(_HostView(array)))


# ----------------------------------------------------------------------------- random
class _BitGenerator:
    """cupy.random.XORWOW as gradkit sees it: ``_state``, a device int8 array that every draw reads and
    advances in place (cuRAND's per-thread states on a GPU; NumPy's PCG64 state words here), and the
    device it was made on (CuPy refuses draws on another: ``_check_device``)."""

    _WORDS = 6  # PCG64: state and increment (two words each), has_uint32, uinteger

    def __init__(self, seed: Any) -> None:
        self._bits = np.random.PCG64(seed)
        self._state = _wrap(np.zeros(8 * self._WORDS, dtype=np.int8))
        self._current_device_id = _current_device()
        self._lock = threading.Lock()
        self._store()

    def _check_device(self) -> None:
        if _current_device() != self._current_device_id:
            raise RuntimeError("This Generator state is allocated in a different device")

    def _load(self) -> None:
        w = [int(v) for v in self._state._a.view(np.uint64)]
        words = {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]}
        self._bits.state = {"bit_generator": "PCG64", "state": words, "has_uint32": w[4], "uinteger": w[5]}

    def _store(self) -> None:
        s = self._bits.state
        state, inc, mask = s["state"]["state"], s["state"]["inc"], (1 << 64) - 1
        words = [state >> 64, state & mask, inc >> 64, inc & mask, s["has_uint32"], s["uinteger"]]
        self._state._a[...] = np.array(words, dtype=np.uint64).view(np.int8)


class Generator:
    """cupy.random.Generator with NumPy's bits: the methods CuPy's generator has; its state lives in
    ``bit_generator._state`` on the device, as cuRAND's does."""

    def __init__(self, seed: Any = None) -> None:
        self.bit_generator = _BitGenerator(seed)
        self._g = np.random.Generator(self.bit_generator._bits)

    def __getattr__(self, name: str) -> Any:
        spec = API.GENERATOR.get(name, "missing")
        if spec == "missing":
            raise AttributeError(f"'cupy.random.Generator' object has no attribute '{name}' (emulated)")
        method = getattr(self._g, name)
        bits = self.bit_generator

        def call(*args: Any, **kwargs: Any) -> Any:
            _check_call(f"cupy.random.Generator.{name}", spec, args, kwargs)
            bits._check_device()
            if args:  # by keyword: CuPy's parameters are NumPy's, less a trailing dtype that NumPy's may lack
                kwargs = dict(_signature(spec).bind(*args, **kwargs).arguments)
            # CuPy's uniform and beta take a dtype, NumPy's do not
            dtype = kwargs.pop("dtype", None) if name in ("uniform", "beta") else None
            with bits._lock:
                bits._load()
                out = np.asarray(method(**_unwrap(kwargs, name)))
                bits._store()
            return _wrap(out if dtype is None else out.astype(dtype))

        return call


def _random_module() -> types.ModuleType:
    mod = types.ModuleType("cupy.random")
    legacy = np.random.RandomState()

    def seed(seed: Any = None) -> None:
        if seed is not None and not 0 <= int(seed) < 2**64:
            raise ValueError("Seed must be an integer between 0 and 2**64 - 1")
        legacy.seed(None if seed is None else int(seed) % 2**32)  # NumPy's legacy seeds are 32-bit

    mod.seed = seed
    mod.default_rng = lambda seed=None: Generator(seed)
    mod.Generator = Generator
    for name, spec in API.RANDOM.items():
        if name not in ("seed", "default_rng") and hasattr(legacy, name):
            setattr(mod, name, _function(f"random.{name}", spec, getattr(legacy, name)))
    return mod


# ----------------------------------------------------------------------------- cupy.cuda
def _cuda_module() -> types.ModuleType:
    cuda = types.ModuleType("cupy.cuda")
    runtime = types.ModuleType("cupy.cuda.runtime")
    runtime.getDeviceCount = lambda: 1
    runtime.runtimeGetVersion = lambda: 13000
    runtime.driverGetVersion = lambda: 13000
    runtime.getDeviceProperties = lambda index: {"name": b"Emulated GPU (NumPy)", "totalGlobalMem": 80 * 2**30,
                                                 "major": 9, "minor": 0, "multiProcessorCount": 132}
    runtime.is_hip = False
    runtime.CUDARuntimeError = RuntimeError
    runtime.getDevice = _current_device
    runtime.streamLegacy = 1  # cudaStreamLegacy and cudaStreamPerThread, CUDA's special handles
    runtime.streamPerThread = 2
    cuda.runtime = runtime
    cuda.Device = Device
    cuda.is_available = lambda: True
    cuda.get_device_id = _current_device
    handles = iter(range(0x1000, 2**62))

    class Stream:
        """Streams as CuPy keeps them (nothing runs on them): the current stream is per thread and device,
        set by ``with`` and ``use()``; the default one is ``Stream.null``, or ``Stream.ptds`` when
        CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1 (read at each call here, at import in CuPy)."""

        null: Stream
        ptds: Stream

        def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False,
                     priority: Any = None) -> None:
            if null or ptds:
                self.ptr, self.device_id = (0 if null else runtime.streamPerThread), -1
            else:
                self.ptr, self.device_id = next(handles), _current_device()

        @classmethod
        def from_external(cls, obj: Any) -> Stream:
            """CuPy 14.2's checks of the CUDA stream protocol; the stream's device is unknown (-1), as there."""
            protocol = getattr(obj, "__cuda_stream__", None)
            if protocol is None:
                raise TypeError(f"Object of type {type(obj).__name__} does not implement the CUDA stream protocol "
                                "(__cuda_stream__ method)")
            result = protocol()
            if not isinstance(result, tuple) or len(result) != 2:
                raise TypeError("__cuda_stream__() must return a 2-tuple of (version, stream_ptr)")
            version, ptr = result
            if not isinstance(version, int) or not isinstance(ptr, int):
                raise TypeError(f"__cuda_stream__() must return (int, int), got ({type(version).__name__}, "
                                f"{type(ptr).__name__})")
            if version != 0:
                raise ValueError(f"__cuda_stream__() returned unsupported version {version}, only version 0 is "
                                 "supported")
            stream = cls.__new__(cls)
            stream.ptr, stream.device_id, stream._foreign_stream_ref = ptr, -1, obj
            return stream

        def _device(self) -> int:
            if self.device_id not in (-1, _current_device()):
                raise RuntimeError(f"The device that the stream is created on ({self.device_id}) does not match "
                                   f"with the current device ({_current_device()})")
            return _current_device()

        def __enter__(self) -> Stream:
            _thread.__dict__.setdefault("entered", []).append((self._device(), self))
            return self

        def __exit__(self, *exc: Any) -> None:
            _thread.entered.pop()

        def use(self) -> Stream:
            _thread.__dict__.setdefault("streams", {})[self._device()] = self
            return self

        def synchronize(self) -> None:
            return None

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Stream) and other.ptr == self.ptr

        def __hash__(self) -> int:
            return self.ptr

        def __repr__(self) -> str:
            return f"<Stream {self.ptr} (device {self.device_id})>"

    def get_current_stream(device_id: int = -1) -> Stream:
        device = _current_device() if device_id == -1 else device_id
        for on, stream in reversed(getattr(_thread, "entered", [])):
            if on == device:
                return stream
        stream = getattr(_thread, "streams", {}).get(device)
        if stream is not None:
            return stream
        ptds = os.environ.get("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "0") not in ("", "0")
        return Stream.ptds if ptds else Stream.null

    Stream.null = Stream(null=True)
    Stream.ptds = Stream(ptds=True)
    cuda.Stream = Stream
    cuda.get_current_stream = get_current_stream
    allocator = {"current": _POOL.malloc}
    cuda.MemoryPool = _MemoryPool
    cuda.get_allocator = lambda: allocator["current"]
    cuda.set_allocator = lambda fn=None: allocator.__setitem__("current", fn or _POOL.malloc)
    runtime.memGetInfo = lambda: (80 * 2**30, 80 * 2**30)
    global _RUNTIME
    _RUNTIME = runtime
    return cuda


_RUNTIME: Any = None  # cupy.cuda.runtime, once built (Device asks it how many devices there are)


class _MemoryPool:
    """cupy.cuda.MemoryPool with nothing behind it: NumPy allocates (every count is 0)."""

    def malloc(self, size: int) -> Any:
        return types.SimpleNamespace(device_id=0, ptr=0, size=size)

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_all_blocks(self, stream: Any = None) -> None:
        return None

    def get_limit(self) -> int:
        return 0

    def set_limit(self, size: Any = None, fraction: Any = None) -> None:
        return None


_POOL = _MemoryPool()
_PINNED_POOL = _MemoryPool()


# ----------------------------------------------------------------------------- the module
def _build() -> tuple[types.ModuleType, types.ModuleType]:
    mod = types.ModuleType("cupy", "Emulated CuPy (NumPy underneath), for tests on machines without a GPU.")
    mod.__version__ = f"{API.VERSION}+emulated"
    mod.EMULATED = True
    mod.__path__ = []
    mod.ndarray = ndarray
    mod.ufunc = ufunc
    for name in dir(np):  # dtypes and constants that CuPy re-exports from NumPy
        value = getattr(np, name)
        if isinstance(value, (type, float, int)) and not name.startswith("_") and (
            isinstance(value, (float, int)) or issubclass(value, np.generic)
        ):
            setattr(mod, name, value)
    mod.dtype, mod.finfo, mod.iinfo = np.dtype, np.finfo, np.iinfo
    mod.newaxis = None
    for name, uf in UFUNCS.items():
        setattr(mod, name, uf)
    for name, spec in API.FUNCTIONS.items():
        np_fn = getattr(np, name, None)
        if np_fn is not None and callable(np_fn) and not isinstance(np_fn, type):
            setattr(mod, name, _function(name, spec, np_fn))
    mod.array, mod.asarray, mod.asanyarray = _array, _asarray, _asarray
    for name in ("ascontiguousarray", "asfortranarray"):
        np_fn = getattr(np, name)
        setattr(mod, name, lambda a, dtype=None, _f=np_fn, _n=name: _wrap(_f(_unwrap(a, _n), dtype=dtype)))
    mod.broadcast_to = _broadcast_to
    mod.where = _strict_where(mod.where)
    mod.sort, mod.argsort = _sort, _argsort
    mod.asnumpy = _asnumpy
    mod.get_array_module = get_array_module
    mod.from_dlpack = _from_dlpack
    mod.get_default_memory_pool = lambda: _POOL
    mod.get_default_pinned_memory_pool = lambda: _PINNED_POOL
    mod.random = _random_module()
    mod.cuda = _cuda_module()
    linalg = types.ModuleType("cupy.linalg")
    for name, spec in API.LINALG.items():
        np_fn = getattr(np.linalg, name, None)
        if name in ("svd", "eigh", "eigvalsh"):
            np_fn = _nan_without_convergence(np_fn)
        if np_fn is not None:
            setattr(linalg, name, _function(f"linalg.{name}", spec, np_fn))
    linalg.LinAlgError = np.linalg.LinAlgError
    mod.linalg = linalg

    def _not_emulated(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("CUDA kernels cannot run on emulated CuPy")

    mod.ElementwiseKernel = mod.ReductionKernel = mod.RawKernel = mod.RawModule = _not_emulated
    mod.fuse = _not_emulated
    core_mod = types.ModuleType("cupy._core")  # what gk.cuda.set_tf32 reaches for
    core_mod.set_compute_type = lambda dtype, mode: None
    linalg_mod = types.ModuleType("cupy._core._routines_linalg")
    linalg_mod.COMPUTE_TYPE_DEFAULT, linalg_mod.COMPUTE_TYPE_TF32 = 1, 4
    core_mod._routines_linalg = linalg_mod
    mod._core = core_mod

    cupyx = types.ModuleType("cupyx")
    cupyx.__path__ = []
    def scatter_add(a: Any, slices: Any, value: Any) -> None:
        warnings.warn("`ndarray.scatter_add` is deprecated. Please use `cupy.add.at` instead.", DeprecationWarning,
                      stacklevel=2)
        a.scatter_add(slices, value)

    cupyx.scatter_add = scatter_add
    special = _special_module()
    scipy = types.ModuleType("cupyx.scipy")
    scipy.__path__ = []
    scipy.special = special
    cupyx.scipy = scipy
    return mod, cupyx


def _lgamma(v: float) -> float:
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):  # a pole (0 or a negative integer), or beyond float64
        return math.inf


def _special_module() -> types.ModuleType:
    """The cupyx.scipy.special functions gradkit may call (CuPy 14.2 has them all): erf, erfc and gammaln from
    the standard library; erfinv, digamma, zeta, erfcx, ndtr, log_ndtr, ndtri, gammainc and gammaincc from
    gradkit's own NumPy versions (the standard library has none, and SciPy is not a test dependency); i0, i1,
    i0e and i1e as cupyx computes them, overflow included (so gradkit must not take them from here)."""
    special = types.ModuleType("cupyx.scipy.special")

    def unary(name: str, fn: Any) -> Any:
        def call(x: Any) -> Any:
            a = _ufunc_operand(x, name)
            return _wrap(np.asarray(fn(a)).astype(a.dtype))

        return call

    def fallback(name: str) -> Any:
        def compute(a: Any) -> Any:
            # imported at call time: the emulation is installed before gradkit is imported
            from gradkit.ops import special as gradkit_special

            return getattr(gradkit_special, f"_{name}_fallback")(np, a)

        return compute

    def normal_fallback(name: str) -> Any:
        def compute(a: Any) -> Any:
            from gradkit.ops import special_normal

            return getattr(special_normal, f"_{name}_fallback")(np, a)

        return compute

    def zeta(s: Any, q: Any) -> Any:  # CuPy's Hurwitz zeta ufunc (orders and arguments arrays or numbers)
        from gradkit.ops.special_gamma import _zeta_fallback

        x, a = np.asarray(_ufunc_operand(s, "zeta")), np.asarray(_ufunc_operand(q, "zeta"))
        dtype = np.result_type(x, a, np.float32)
        x, a = (np.array(v, dtype) for v in np.broadcast_arrays(x, a))  # (copies: C order, 0-d kept)
        return _wrap(np.asarray(_zeta_fallback(np, x, a), dtype))

    def binary(name: str) -> Any:  # CuPy's two-argument ufuncs ('ff->f', 'dd->d'), numbers or arrays
        def call(a: Any, x: Any) -> Any:
            from gradkit.ops import special_gamma

            s, y = np.asarray(_ufunc_operand(a, name)), np.asarray(_ufunc_operand(x, name))
            dtype = np.result_type(s, y, np.float32)
            s, y = (np.array(v, dtype) for v in np.broadcast_arrays(s, y))
            return _wrap(np.asarray(getattr(special_gamma, f"_{name}_fallback")(np, s, y), dtype))

        return call

    def bessel(name: str, nu: int, scaled: bool) -> Any:
        """cupyx's i0, i1 (CUDA's cyl_bessel_i0/i1: exp(|x|) taken as two halves, so finite while the value is,
        up to |x| ~ 714 in float64, not only to 709.78 as SciPy's) and i0e, i1e (those times exp(-|x|): inf or
        NaN = 0 * inf far out, where the true values are small)."""

        def call(x: Any) -> Any:
            from gradkit.ops import special_bessel

            a = np.asarray(_ufunc_operand(x, name))
            work = a.astype(np.float32 if a.dtype == np.float32 else np.float64)
            with np.errstate(all="ignore"):
                true_scaled = getattr(special_bessel, f"_i{nu}e_fallback")(np, work)
                half = np.exp(np.abs(work) / 2)
                out = np.where(np.isinf(work), np.copysign(np.inf, work) if nu else np.inf, true_scaled * half * half)
                if scaled:
                    out = np.exp(-np.abs(work)) * out
            return _wrap(np.asarray(out, work.dtype))

        return call

    special.erf = unary("erf", np.vectorize(math.erf, otypes=[np.float64]))
    special.erfc = unary("erfc", np.vectorize(math.erfc, otypes=[np.float64]))
    special.gammaln = unary("gammaln", np.vectorize(_lgamma, otypes=[np.float64]))
    special.erfinv = unary("erfinv", fallback("erfinv"))
    special.digamma = unary("digamma", fallback("digamma"))
    special.zeta = zeta
    for name in ("erfcx", "ndtr", "log_ndtr", "ndtri"):  # gradkit's versions stand in for CuPy's
        setattr(special, name, unary(name, normal_fallback(name)))
    special.gammainc, special.gammaincc = binary("gammainc"), binary("gammaincc")
    special.i0, special.i1 = bessel("i0", 0, False), bessel("i1", 1, False)
    special.i0e, special.i1e = bessel("i0e", 0, True), bessel("i1e", 1, True)
    return special


MODULE, CUPYX = _build()
LINALG = MODULE.linalg
