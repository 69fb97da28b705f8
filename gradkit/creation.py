"""Creating tensors: from data, filled, ranges and random."""

from __future__ import annotations

import contextlib
import math
from itertools import chain
from typing import Any

import numpy as np

from gradkit._args import flag, scalar, whole
from gradkit.backends import backend_of_array, get_backend
from gradkit.backends.base import Backend
from gradkit.dtypes import default_float, is_supported, to_dtype
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import shape_arg
from gradkit.tensor import Tensor


def _is_cupy_array(data: Any) -> bool:
    return hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray)


def _to_array(data: Any, dtype: Any, device: Any, op: str) -> tuple[Any, Backend]:
    """``data`` as an array on the right backend, following ``gk.tensor``'s rules."""
    if dtype is not None:
        dtype = to_dtype(dtype, op)
    if isinstance(data, Tensor):
        backend = get_backend(device, op) if device is not None else data._backend
        array = backend.transfer(data._data, data._backend)
        return (array if dtype is None else array.astype(dtype, copy=False)), backend
    if device is None and _is_cupy_array(data):
        backend = backend_of_array(data)
    else:
        backend = get_backend(device, op)
    if isinstance(data, (np.ndarray, np.generic)) or _is_cupy_array(data):
        array = data
    else:
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise ShapeError(f"{op}: the nested lists are ragged or mixed and do not form an array ({exc})") from None
        if array.dtype == np.float64 and dtype is None and _from_python_floats(data):
            array = array.astype(default_float)
    if array.dtype.kind not in "fiub" or array.dtype.itemsize > 8:
        why = ""
        if array.dtype == object:
            why = " (a Python integer beyond the int64 range, or a value that is not a number?)"
        raise DTypeError(f"{op}: cannot make a tensor from data of dtype {array.dtype} ({type(data).__name__}){why}")
    if dtype is not None and array is not data and np.dtype(dtype).kind in "iu" and array.dtype.kind in "iuf":
        _check_int_range(array, np.dtype(dtype), op)  # Python numbers only: arrays cast as NumPy's astype does
    if dtype is None and array.dtype not in (np.float16, np.float32, np.float64):
        to_dtype(array.dtype, op)  # raises for unsupported integer widths
    return backend.asarray(array, dtype=dtype), backend


def _check_int_range(array: Any, dtype: np.dtype, op: str) -> None:
    """Integers that do not fit ``dtype`` are an error (NumPy 2 raises too), not a silent wrap-around."""
    if not array.size:
        return
    info = np.iinfo(dtype)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidArgumentError(f"{op}: NaN and infinity cannot be converted to dtype {dtype}")
    lo, hi = int(array.min()), int(array.max())
    if lo < info.min or hi > info.max:
        bad = lo if lo < info.min else hi
        raise InvalidArgumentError(f"{op}: the value {bad} does not fit dtype {dtype} ({info.min} to {info.max})")


def _from_python_floats(data: Any) -> bool:
    """True when float64 came from Python floats (which default to float32), not NumPy float64.

    Every element is looked at, a nesting level at a time in C-speed passes, so ``[1, np.float64(2.5)]``
    and ``[np.float64(2.5), 1]`` agree. Empty lists count as Python floats: ``gk.tensor([])`` is
    float32, as in PyTorch.
    """
    if not isinstance(data, (list, tuple)):
        return isinstance(data, (float, int)) and not isinstance(data, np.floating)
    level = [data]
    while level:
        kinds = set(map(type, chain.from_iterable(level)))
        if any(issubclass(k, (np.generic, np.ndarray)) or hasattr(k, "__cuda_array_interface__") for k in kinds):
            return False
        if not any(issubclass(k, (list, tuple)) for k in kinds):
            return True
        level = [x for x in chain.from_iterable(level) if isinstance(x, (list, tuple))]
    return True


def array_for(data: Any, dtype: Any, device: Any, op: str) -> tuple[Any, Backend]:
    """``data`` (a number, nested lists or an array) as an array and its backend (``gk.tensor``'s rules),
    with errors naming ``op``, the operation the user called."""
    return _to_array(data, dtype, device, op)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor from a Python number, nested lists, or a NumPy/CuPy array (no copy where possible).

    With ``requires_grad=True`` the tensor has memory of its own, as ``torch.tensor``'s: a parameter an
    optimiser updates in place must not write into the caller's array (``gk.from_numpy`` shares it)."""
    array, backend = _to_array(data, dtype, device, "tensor")
    shared = array is data or (isinstance(data, Tensor) and array is data._data)
    if shared and requires_grad:
        array, shared = array.copy(), False
    t = _finish(array, backend, requires_grad, "tensor")
    if shared and isinstance(data, Tensor):
        t._version = data._version  # the same memory: in-place changes must show in both
    return t


def asarray(a: Any, dtype: Any = None, *, device: Any = None) -> Tensor:
    """NumPy's ``asarray``: ``a`` as a tensor with NumPy's dtypes, not ``gk.tensor``'s float32 default.

    Python floats give float64, ints int64, bools bool (nested lists as NumPy makes them); NumPy and
    CuPy arrays keep their dtype and are used without a copy where possible. A Tensor is returned
    itself when its dtype and device already match, else converted as ``Tensor.to`` does (in the
    graph). ``dtype=`` casts as NumPy does: numbers and lists with integers that do not fit, NaN or inf
    into an integer dtype raise InvalidArgumentError; arrays and tensors cast as ``astype`` (NumPy's
    wrap-around). The result never requires grad unless ``a`` did.
    """
    return _numpy_tensor(a, dtype, device, "asarray")[0]


def array(object: Any, dtype: Any = None, *, copy: Any = True, device: Any = None) -> Tensor:  # noqa: A002
    """NumPy's ``array``: :func:`asarray`'s dtypes, and a new tensor of its own by default.

    ``copy=True``: the result never shares memory with ``object`` and is outside the graph (a Tensor
    is copied and detached, as ``np.array`` and ``torch.tensor`` copy). ``copy=None`` copies only when
    needed (a Tensor that matches is returned itself); ``copy=False`` (NumPy 2's meaning) raises
    InvalidArgumentError when a copy is needed (lists and numbers, another dtype or device).
    """
    if copy is not None and not isinstance(copy, (bool, np.bool_)):
        raise ArgumentTypeError(f"array: copy must be True, False or None, got {type(copy).__name__} {copy!r:.40}")
    t, shared = _numpy_tensor(object, dtype, device, "array")
    if copy is None:
        return t
    if not copy:
        if not shared:
            raise InvalidArgumentError(
                f"array: copy=False, but a {type(object).__name__} needs a copy to become a tensor of dtype "
                f"{t.dtype} on {t.device}; pass copy=None to copy only when needed"
            )
        return t
    data = t._backend.xp.array(t._data, copy=True) if shared else t._data
    return Tensor._make(data, t._backend)


def _numpy_tensor(a: Any, dtype: Any, device: Any, op: str) -> tuple[Tensor, bool]:
    """``a`` as :func:`asarray` makes it, and whether its data is ``a``'s own (a Tensor's or an array's)."""
    from gradkit.backends import device as on_device
    from gradkit.ops.numpy_more import _tensor
    from gradkit.ops.shape import astype, to_device

    dt = None if dtype is None else to_dtype(dtype, op)
    backend = None if device is None else get_backend(device, op)
    if isinstance(a, Tensor):
        source, t = a._data, a
    else:
        source = a if isinstance(a, np.ndarray) or _is_cupy_array(a) else None
        lists_of_tensors = isinstance(a, (list, tuple)) and any(isinstance(v, Tensor) for v in a)
        if dt is not None and source is None and not lists_of_tensors:
            a = _numpy_cast(a, dt, op)
        if backend is None or _is_cupy_array(a):  # a CuPy array stays on its device until moved below
            t = _tensor(a, op)
        else:
            with on_device(backend):
                t = _tensor(a, op)  # made there: no round trip through the default device
    if dt is not None and t.dtype != dt:
        t = astype(t, dt)
    if backend is not None and t._backend is not backend:
        t = to_device(t, backend)
    data = t._data
    # by memory too, not only identity: cupy.asarray may hand back another array object over the same memory
    shared = source is not None and (
        data is source
        or getattr(data, "base", None) is source
        or (_is_cupy_array(data) == _is_cupy_array(source) and bool(t._backend.xp.may_share_memory(data, source)))
    )
    return t, shared


def _numpy_cast(a: Any, dt: np.dtype, op: str) -> np.ndarray:
    """Numbers and nested lists as NumPy makes them, then cast to ``dt`` with gk.tensor's range checks."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{op}: expected a tensor, an array, a number or nested lists of numbers, got "
                                f"{a!r:.60} ({exc})") from None  # fmt: skip
    if dt.kind in "iu" and arr.dtype.kind in "iuf":
        _check_int_range(arr, dt, op)
    if arr.dtype.kind not in "biuf":
        return arr  # refused with its dtype by the conversion to a tensor
    return arr.astype(dt, copy=False)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _finish(*_to_array(array, None, "cpu", "from_numpy"), False, "from_numpy")


def from_dlpack(x: Any) -> Tensor:
    """A tensor sharing memory with any DLPack-capable array (NumPy, CuPy, PyTorch, ...)."""
    if not hasattr(x, "__dlpack_device__"):
        raise ArgumentTypeError(f"from_dlpack: expected an object with __dlpack__ (an array), got {type(x).__name__}")
    kind, index = x.__dlpack_device__()
    backend = get_backend("cpu" if int(kind) == 1 else f"cuda:{int(index)}", "from_dlpack")  # 1: kDLCPU
    xp = np if int(kind) == 1 else backend.xp
    try:
        array = xp.from_dlpack(x)
    except (RuntimeError, TypeError, BufferError) as exc:  # e.g. bfloat16, which NumPy and CuPy have no dtype for
        raise DTypeError(f"from_dlpack: cannot import {type(x).__name__} {getattr(x, 'dtype', '')}: {exc}") from None
    return _finish(*_to_array(array, None, backend, "from_dlpack"), False, "from_dlpack")


def _filled(op: str, shape: tuple, fill: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    if all(type(d) is int and d >= 0 for d in shape):  # the common case (``ones(3, 4)``): nothing to convert
        dims = shape
    else:
        dims = shape_arg(shape, op)
        if any(d < 0 for d in dims):
            raise ShapeError(f"{op}: negative dimension in shape {dims}")
    dt = default_float if dtype is None else to_dtype(dtype, op)
    backend = get_backend(device, op)
    xp = backend.xp
    _check_size(op, dims, dt)
    if isinstance(fill, Tensor):  # its array, on the device of the result
        fill = backend.transfer(fill._data, fill._backend)
    elif isinstance(fill, np.ndarray):  # a NumPy scalar: CuPy takes no host array
        fill = fill.reshape(())[()]
    if isinstance(fill, (float, np.floating)) and dt.kind in "iu":  # NaN, inf or 300.0 into int8: refused, as PyTorch
        from gradkit.ops.indexing import _number_as

        fill = _number_as(fill, dt, op)
    with _on(backend):
        if fill is None:
            data = xp.empty(dims, dtype=dt)
        elif fill == 0:
            data = xp.zeros(dims, dtype=dt)
        elif fill == 1:
            data = xp.ones(dims, dtype=dt)
        else:
            try:
                data = xp.full(dims, fill, dtype=dt)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ArgumentTypeError(f"{op}: cannot fill a {dt} tensor with {fill!r} ({exc})") from None
    return _finish(data, backend, requires_grad, op)


_NO_DEVICE = contextlib.nullcontext()  # reusable: it holds nothing


def _on(backend: Backend) -> Any:
    """Make ``backend``'s GPU the current one while allocating (a no-op on the CPU)."""
    if backend.name == "cupy":
        return backend.xp.cuda.Device(backend.index)
    return _NO_DEVICE


def _finish(data: Any, backend: Backend, requires_grad: bool, op: str) -> Tensor:
    t = Tensor._make(data, backend)
    if requires_grad is False:
        return t
    if not isinstance(requires_grad, (bool, np.bool_)):
        raise ArgumentTypeError(
            f"{op}: requires_grad must be True or False, got {type(requires_grad).__name__} {requires_grad!r:.60}"
        )
    if requires_grad:
        if data.dtype.kind != "f":
            raise DTypeError(
                f"{op}: requires_grad=True needs a floating-point dtype (float16, float32, float64), "
                f"got {data.dtype}"
            )
        t._requires_grad = True  # a new leaf of a float dtype: what requires_grad_(True) would check holds
    return t


def zeros(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros((2, 3))`` and ``zeros(2, 3)`` both work."""
    return _filled("zeros", shape, 0, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _filled("ones", shape, 1, dtype, device, requires_grad)


def empty(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor."""
    return _filled("empty", shape, None, dtype, device, requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; by default of the dtype ``gk.tensor(fill_value)`` has (a Python
    float: float32, an int: int64, a bool: bool; NumPy scalars, arrays and tensors keep theirs)."""
    shape = shape if isinstance(shape, (tuple, list)) else (shape,)
    _check_fill(fill_value, "full")
    if dtype is None:
        dtype = _own_dtype(fill_value)
    return _filled("full", tuple(shape), fill_value, dtype, device, requires_grad)


def _own_dtype(value: Any) -> Any:
    """The dtype ``gk.tensor(value)`` gives a number: None (the default float) for a Python float."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    dtype = getattr(value, "dtype", None)  # NumPy scalars (np.float64 is a float too), arrays, tensors
    if dtype is not None:
        if is_supported(dtype):
            return dtype
        return "int64" if dtype.kind in "iu" else None  # uint64 as int64, as before
    return "int64" if isinstance(value, int) else None


def _check_fill(fill_value: Any, op: str) -> None:
    """A fill value is one number (a Python or NumPy scalar, or a one-element array)."""
    size = getattr(fill_value, "size", 1)
    if fill_value is None or isinstance(fill_value, (str, bytes, list, tuple, dict)) or size != 1:
        raise ArgumentTypeError(
            f"{op}: fill_value must be a single number, got {type(fill_value).__name__} {fill_value!r:.40}"
        )


def _like(op: str, x: Any, fill: Any, dtype: Any, device: Any, requires_grad: bool, draw: str | None = None,
          generator: Any = None) -> Tensor:
    """A tensor shaped like ``x`` (its dtype and device by default): filled, or drawn from ``draw``'s distribution
    (from ``generator`` when given)."""
    if not isinstance(x, Tensor):
        x = Tensor._make(*_to_array(x, None, None, op))
    dtype = x.dtype if dtype is None else dtype
    device = x._backend if device is None else device
    if draw is not None:
        return _random(op, x.shape, dtype, device, requires_grad, draw, generator)
    return _filled(op, x.shape, fill, dtype, device, requires_grad)


def zeros_like(x: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and by default the dtype and device) of ``x``."""
    return _like("zeros_like", x, 0, dtype, device, requires_grad)


def ones_like(x: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and by default the dtype and device) of ``x``."""
    return _like("ones_like", x, 1, dtype, device, requires_grad)


def full_like(x: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and by default the dtype and device) of ``x``."""
    _check_fill(fill_value, "full_like")
    return _like("full_like", x, fill_value, dtype, device, requires_grad)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), as ``numpy.arange``.

    The default dtype is int64 for integers, else the float dtype of the NumPy floats, 0-d arrays and
    tensors given (their own, as ``gk.tensor`` keeps it), else the default float for Python floats.
    """
    typed = [v.dtype for v in (start, stop, step) if getattr(getattr(v, "dtype", None), "kind", "") == "f"]
    start, stop, step = (scalar(v) for v in (start, stop, step))  # 0-d arrays and tensors count as numbers
    numbers = (int, float, np.integer, np.floating)
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if (value is not None or name == "start") and (isinstance(value, bool) or not isinstance(value, numbers)):
            raise ArgumentTypeError(f"arange: {name} must be a number, got {type(value).__name__} {value!r:.40}")
        if value is not None and not math.isfinite(value):
            raise InvalidArgumentError(f"arange: {name} must be finite, got {value!r}")
    if step == 0:
        raise InvalidArgumentError("arange: step must not be zero")
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        floaty = any(isinstance(v, float) for v in (start, stop, step))
        dtype = np.result_type(*typed) if typed else default_float if floaty else np.int64
    backend = get_backend(device, "arange")
    with _on(backend):
        try:
            data = backend.xp.arange(start, stop, step, dtype=to_dtype(dtype, "arange"))
        except (ValueError, OverflowError, MemoryError) as exc:  # e.g. 1e20 values: too many to hold
            raise InvalidArgumentError(f"arange: cannot make [{start}, {stop}) in steps of {step} ({exc})") from None
        except TypeError as exc:  # NumPy makes bool ranges of at most 2 values
            raise DTypeError(f"arange: cannot make [{start}, {stop}) in steps of {step} as {dtype!r} ({exc})") from None
    return _finish(data, backend, requires_grad, "arange")


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    """``num`` evenly spaced values from start to stop, as ``numpy.linspace``."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)):
        raise ArgumentTypeError(f"linspace: num must be an int, got {type(num).__name__} {num!r:.40}")
    if num < 0:
        raise InvalidArgumentError(f"linspace: num must be non-negative, got {num}")
    endpoint = flag(endpoint, "linspace", "endpoint")
    backend = get_backend(device, "linspace")
    with _on(backend):
        dt = to_dtype(default_float if dtype is None else dtype, "linspace")
        try:
            data = backend.xp.linspace(start, stop, num, endpoint=endpoint, dtype=dt)
        except (TypeError, ValueError):  # NumPy's DTypePromotionError is a TypeError
            raise ArgumentTypeError(
                f"linspace: start and stop must be numbers (or arrays of them), got {start!r:.40} and {stop!r:.40}"
            ) from None
    return _finish(data, backend, requires_grad, "linspace")


def eye(n: int, m: int | None = None, k: int = 0, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (ones on diagonal ``k``)."""
    for name, value in (("n", n), ("m", m), ("k", k)):
        if value is None and name == "m":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ArgumentTypeError(f"eye: {name} must be an int, got {type(value).__name__} {value!r}")
        if name != "k" and value < 0:
            raise ShapeError(f"eye: {name} must be non-negative, got {value}")
    dt = to_dtype(default_float if dtype is None else dtype, "eye")
    _check_size("eye", (n, n if m is None else m), dt)
    backend = get_backend(device, "eye")
    with _on(backend):
        data = backend.xp.eye(n, m, k, dtype=dt)
    return _finish(data, backend, requires_grad, "eye")


_MAX_BYTES = np.iinfo(np.intp).max


def _check_size(op: str, dims: tuple, dt: np.dtype) -> None:
    """A shape whose bytes exceed the address space is refused before any backend is asked for it."""
    if math.prod(dims) * dt.itemsize > _MAX_BYTES:
        raise InvalidArgumentError(f"{op}: a {dt} tensor of shape {dims} is too large to exist")


def _draws(generator: Any, backend: Backend, op: str) -> Any:
    """``backend``, or ``generator=``'s draws (a ``gk.Generator``; see gradkit.random_generator)."""
    if generator is None:
        return backend
    from gradkit.random_generator import draws

    return draws(generator, backend, op)


def _random(op: str, shape: tuple, dtype: Any, device: Any, requires_grad: bool, draw: str,
            generator: Any = None) -> Tensor:
    dims = shape_arg(shape, op)
    if any(d < 0 for d in dims):
        raise ShapeError(f"{op}: negative dimension in shape {dims}")
    dt = to_dtype(default_float if dtype is None else dtype, op)
    if dt.kind != "f":
        raise DTypeError(f"{op}: dtype must be a float dtype, got {dt}")
    _check_size(op, dims, dt)
    backend = get_backend(device, op)
    source = _draws(generator, backend, op)
    with _on(backend):
        data = getattr(source, draw)(dims, dt)
    return _finish(data, backend, requires_grad, op)


def rand(*shape: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Samples from U[0, 1) (from ``generator``, a ``gk.Generator``, when given)."""
    return _random("rand", shape, dtype, device, requires_grad, "uniform", generator)


def randn(*shape: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Samples from the standard normal distribution (from ``generator``, a ``gk.Generator``, when given)."""
    return _random("randn", shape, dtype, device, requires_grad, "normal", generator)


def empty_like(x: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor with the shape (and by default the dtype and device) of ``x``."""
    return _like("empty_like", x, None, dtype, device, requires_grad)


def rand_like(x: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, *,
              generator: Any = None) -> Tensor:
    """Samples from U[0, 1) with the shape (and by default the float dtype and device) of ``x``."""
    return _like("rand_like", x, None, dtype, device, requires_grad, draw="uniform", generator=generator)


def randn_like(x: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, *,
               generator: Any = None) -> Tensor:
    """Standard normal samples with the shape (and by default the float dtype and device) of ``x``."""
    return _like("randn_like", x, None, dtype, device, requires_grad, draw="normal", generator=generator)


def randint(low: int, high: Any = None, size: Any = (), dtype: Any = None, device: Any = None,
            requires_grad: bool = False, *, generator: Any = None) -> Tensor:
    """Integers drawn uniformly from [low, high) (from [0, low) when ``high`` is None).

    Both NumPy's ``randint(low, high, size)`` / ``randint(high, size=...)`` and
    PyTorch's ``randint(high, size)`` (a shape tuple as the second argument) work.
    """
    if isinstance(high, (tuple, list)):  # PyTorch's randint(high, size)
        if size != ():
            raise ArgumentTypeError(f"randint: got a shape both as high={high!r} and as size={size!r}")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    low, high = whole(low, "randint", "low"), whole(high, "randint", "high")  # 2.0 is fine, 0.5 is not
    if high <= low:
        raise InvalidArgumentError(f"randint: high ({high}) must be greater than low ({low})")
    dims = shape_arg(size if isinstance(size, (tuple, list)) else (size,), "randint")
    if any(d < 0 for d in dims):
        raise ShapeError(f"randint: negative dimension in size {dims}")
    dt = to_dtype(np.int64 if dtype is None else dtype, "randint")
    draw = dt if dt.kind in "iu" else np.dtype(np.int64)  # float (or bool) results are drawn as int64, then cast
    backend = get_backend(device, "randint")
    source = _draws(generator, backend, "randint")
    with _on(backend):
        try:
            data = source.integers(low, high, dims, draw)
        except ValueError as exc:  # bounds outside the dtype's range
            raise InvalidArgumentError(f"randint: cannot draw from [{low}, {high}) as {dt} ({exc})") from None
        if draw != dt:
            data = data.astype(dt)
    return _finish(data, backend, requires_grad, "randint")


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 by default), from gradkit's generator on ``device`` (or from
    ``generator``, a ``gk.Generator``)."""
    n = whole(n, "randperm", "n", low=0)
    dt = to_dtype(np.int64 if dtype is None else dtype, "randperm")
    if dt.kind == "b":
        raise DTypeError("randperm: dtype must be an integer or float dtype, got bool")
    if dt.kind in "iu" and n > 0 and n - 1 > np.iinfo(dt).max:
        raise InvalidArgumentError(f"randperm: n={n} values do not fit dtype {dt} (at most {np.iinfo(dt).max})")
    if dt.kind == "f" and n - 1 > 2 ** (np.finfo(dt).nmant + 1):  # beyond, not every whole number is exact
        raise InvalidArgumentError(f"randperm: n={n} is too large for {dt} to hold every index exactly")
    _check_size("randperm", (n,), np.dtype(np.int64))
    backend = get_backend(device, "randperm")
    source = _draws(generator, backend, "randperm")
    with _on(backend):
        data = source.permutation(n).astype(dt, copy=False)
    return _finish(data, backend, requires_grad, "randperm")


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,  # noqa: A002 (PyTorch's name)
                generator: Any = None) -> Tensor:
    """Indices drawn from the categorical distributions in the rows of ``input`` (1-d, or 2-d: one
    distribution per row), as ``torch.multinomial``: ``num_samples`` int64 indices per row, with or
    without replacement. The weights need not sum to 1; they must be finite, non-negative and not all 0.
    Without replacement the indices are in the order drawn, and a row with fewer non-zero weights than
    ``num_samples`` gives zero-weight indices after the others (as PyTorch on the CPU). ``generator``: a
    ``gk.Generator`` to draw from instead of gradkit's generator (CPU tensors only)."""
    from gradkit.ops._util import host_read_allowed

    if not isinstance(input, Tensor):
        input = Tensor._make(*_to_array(input, None, None, "multinomial"))  # noqa: A001
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: input must be 1-d or 2-d (the weights of the categories), got shape "
                         f"{input.shape}")
    if input.dtype.kind != "f":
        raise DTypeError(f"multinomial: input must be a float tensor of weights, got dtype {input.dtype}")
    num_samples = whole(num_samples, "multinomial", "num_samples")
    replacement = flag(replacement, "multinomial", "replacement")
    n = input.shape[-1]
    if num_samples <= 0:
        raise InvalidArgumentError(f"multinomial: num_samples must be > 0, got {num_samples}")
    if not replacement and num_samples > n:
        raise InvalidArgumentError(
            f"multinomial: cannot draw {num_samples} samples without replacement from {n} categories"
        )
    rows = input.shape[0] if input.ndim == 2 else 1
    if rows and n == 0:
        raise InvalidArgumentError("multinomial: the distribution has no categories (input's last axis is empty)")
    backend = input._backend
    source = _draws(generator, backend, "multinomial")
    xp = backend.xp
    if rows == 0:
        return _finish(xp.zeros((0, num_samples), np.int64), backend, False, "multinomial")
    p = input._data.reshape(rows, n).astype(np.float64)
    top = p.max(axis=1, keepdims=True)
    if host_read_allowed(p):
        if not bool(xp.isfinite(p).all()) or bool((p < 0).any()):
            raise InvalidArgumentError("multinomial: the weights must be finite and >= 0 (got inf, NaN or < 0)")
        if bool((top <= 0).any()):
            raise InvalidArgumentError("multinomial: the weights of a distribution sum to 0 (or less)")
    with _on(backend), np.errstate(divide="ignore", invalid="ignore"):
        p = p / top  # each row over its largest weight: sums of weights near the float64 maximum stay finite
        if replacement:
            u = source.uniform((rows, num_samples), np.dtype(np.float64))
            cdf = xp.cumsum(p, axis=1)
            cdf /= cdf[:, -1:]
            # One sorted search for all rows: row r's cumulative weights are shifted to [r, r + 1].
            offset = xp.arange(rows, dtype=np.float64)[:, None]
            flat = (cdf + offset).reshape(-1)
            idx = xp.searchsorted(flat, (u + offset).reshape(-1), side="right").reshape(rows, num_samples)
            idx -= (offset * n).astype(idx.dtype)
            # u + r can round up to r + 1 (u within an ulp of r below 1): that is the row's last category
            # with a weight, never a zero-weight one after it
            last = n - 1 - xp.argmax(p[:, ::-1] > 0, axis=1)
            data = xp.minimum(idx, last[:, None]).astype(np.int64)
        else:
            # Exponential races: category i finishes at E_i / p_i; the first num_samples to finish are a
            # draw without replacement, in order (a zero weight never finishes).
            u = source.uniform((rows, n), np.dtype(np.float64))
            times = -xp.log1p(-u) / p
            data = xp.argsort(times, axis=1, kind="stable")[:, :num_samples].astype(np.int64)
    return _finish(data.reshape(input.shape[:-1] + (num_samples,)), backend, False, "multinomial")
