"""NumPy's comparison, logical and bitwise ufuncs and its small arithmetic ones, with PyTorch's short
comparison names (``gt``, ``ge``, ``lt``, ``le``, ``eq``, ``ne``).

Comparisons, logical and bitwise functions take the Tensor operators' path (``gk.less(a, b)`` is ``a < b``)
and give tensors that do not require grad. The arithmetic ones are recorded with their VJP rules, or call
gradkit's own function that NumPy names otherwise (``true_divide``: ``divide``, ``pow``: ``power``, ``around``:
``round``). gradkit has no complex dtypes: ``real`` and ``conj`` pass x through, ``imag`` is zeros and
``angle`` 0 or pi. Lists and Python numbers become arrays as NumPy makes them (float64 for floats). Values
and dtypes are NumPy's on CuPy too: where CuPy lacks a function (``spacing``) or differs from NumPy
(``nextafter`` of infinities in float16, ``angle`` of -0.0 and NaN) it is computed here from the bits.
Nothing reads the device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.autograd.function import record
from gradkit.autograd.grad_mode import state as _mode
from gradkit.errors import DTypeError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.ops import elementwise
from gradkit.ops._util import (
    SCALARS,
    as_tensor,
    data_of,
    number_tensor,
    pass_through,
    private_copy,
    tensor_or_none,
)
from gradkit.ops.elementwise import (
    _POW_RULES,
    _binary_error,
    _zero_slope,
    compare,
    divide,
    floor_divide,
    power,
    remainder,
)
from gradkit.ops.elementwise import round as round_
from gradkit.ops.numpy_more import _tensor, _tensors
from gradkit.ops.shape import alias, astype
from gradkit.tensor import Tensor

__all__ = [
    "angle", "around", "bitwise_and", "bitwise_count", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "conj", "conjugate", "divmod", "eq", "equal", "float_power",
    "frexp", "gcd", "ge", "greater", "greater_equal", "gt", "imag", "invert", "iscomplex", "iscomplexobj", "isneginf",
    "isposinf", "isreal", "isrealobj", "lcm", "ldexp", "le", "left_shift", "less", "less_equal", "logical_and",
    "logical_not", "logical_or", "logical_xor", "lt", "modf", "ne", "nextafter", "not_equal", "positive", "pow",
    "real", "right_shift", "rint", "spacing", "true_divide",
]

_make = Tensor._make
#: What stays a number beside a tensor (NumPy's scalars too); anything else becomes a tensor first.
_NUMBERS = (int, float, bool, np.number, np.bool_)
#: The integer dtype of each float's width, to step through floats by their bits.
_BITS = {2: np.dtype(np.int16), 4: np.dtype(np.int32), 8: np.dtype(np.int64)}
_INT64 = np.iinfo(np.int64)


# ------------------------------------------------------------------ operands
def _one(x: Any, op: str) -> Tensor:
    """``x`` as a tensor: a Python number or a list as NumPy makes it (float64 for floats)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, SCALARS):
        return number_tensor(x, op)
    return _tensor(x, op)


def _pair(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    """Tensors and numbers as they are; lists and arrays as tensors (NumPy's dtypes) on the other operand's device."""
    if isinstance(a, (Tensor, *_NUMBERS)) and isinstance(b, (Tensor, *_NUMBERS)):
        return a, b
    ref = [v for v in (a, b) if isinstance(v, Tensor)][:1]
    out = []
    for v in (a, b):
        if not isinstance(v, (Tensor, *_NUMBERS)):
            v = _tensors(op, *ref, v)[-1]
            ref = ref or [v]
        out.append(v)
    return out[0], out[1]


def _operands(op: str, x1: Any, x2: Any) -> tuple[Any, Any, Any]:
    """``(a, b, backend)`` for the recorded binary functions: Python numbers stay weak on every NumPy (no
    NumPy 1.x conversion to the tensor's dtype: ``ldexp(x, 3)`` needs an integer); of two numbers, those
    NumPy types become 0-d tensors: a NumPy scalar (a Python number beside it stays weak), or both Python
    numbers (int64 and float64, so ``ldexp(2, 2**40)`` is inf; an int beyond int64 stays a number)."""
    a, b = _pair(op, x1, x2)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        if isinstance(a, SCALARS) and not isinstance(b, SCALARS):
            b = _one(b, op)
        else:
            a = _one(a, op)
            if _python_number(x1) and _python_number(x2) and not (type(b) is int and not _INT64.min <= b <= _INT64.max):
                b = _one(b, op)
    backend = (a if isinstance(a, Tensor) else b)._backend
    a, b = (v if isinstance(v, SCALARS) else as_tensor(v, op, backend) for v in (a, b))
    return a, b, backend


def _python_number(v: Any) -> bool:
    """A Python int, float or bool (not NumPy's float64 scalar, a float too), which NumPy types only beside
    no array or NumPy scalar."""
    return isinstance(v, SCALARS) and not isinstance(v, np.generic)


def _named(name: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` for a NumPy name of a gradkit function: its errors name the function called too."""
    try:
        return fn(*args)
    except GradkitError as exc:
        raise type(exc)(f"{name}: {exc}") from None


def _kind(v: Any) -> str:
    """NumPy's dtype kind of a tensor or a number ("b", "i", "u", "f", "c")."""
    dtype = getattr(v, "dtype", None)
    if dtype is not None:
        return dtype.kind
    return "b" if isinstance(v, bool) else "i" if isinstance(v, int) else "f" if isinstance(v, float) else "c"


def _described(v: Any) -> str:
    return f"a {v.dtype} tensor" if isinstance(v, Tensor) else f"{type(v).__name__} {v!r:.40}"


def _arr(data: Any) -> Any:
    """An array for a tensor: NumPy gives scalars for 0-d results."""
    return np.asarray(data) if isinstance(data, np.generic) else data


def _needs_grad(*values: Any) -> bool:
    return _mode.enabled and any(isinstance(v, Tensor) and v._requires_grad for v in values)


# ------------------------------------------------------------------ comparisons and logical functions
def _comparison(name: str, op: str) -> Any:
    def fn(x1: Any, x2: Any) -> Tensor:
        return compare(name, *_pair(name, x1, x2))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"NumPy's ``{name}``: {op} elementwise as a bool tensor (the operator's path), broadcasting with NumPy's "
        "dtype rules; a Python int beyond an integer tensor's range compares as NumPy 2's does. No gradient."
    )
    return fn


def _elementwise(name: str, doc: str) -> Any:
    """A logical or bitwise function: the Tensor operators' path (``compare``), lists and arrays as NumPy's."""

    def fn(x1: Any, x2: Any) -> Tensor:
        return compare(name, *_pair(name, x1, x2))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"NumPy's ``{name}``: {doc}; no gradient."
    return fn


def _integral(name: str, doc: str) -> Any:
    """gcd and lcm: integers (a bool beside an integer counts as one, two bools do not, as NumPy)."""

    def fn(x1: Any, x2: Any) -> Tensor:
        a, b = _pair(name, x1, x2)
        if _kind(a) == "b" and _kind(b) == "b":
            raise DTypeError(f"{name}: not defined for two bool operands (NumPy's neither); integers expected")
        for v in (a, b):
            if _kind(v) not in "biu":
                raise DTypeError(f"{name}: defined for integer operands, got {_described(v)}")
        return compare(name, a, b)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"NumPy's ``{name}``: the {doc} of |x1| and |x2| for integers (NumPy's dtypes); no gradient."
    return fn


equal = _comparison("equal", "x1 == x2")
not_equal = _comparison("not_equal", "x1 != x2")
greater = _comparison("greater", "x1 > x2")
greater_equal = _comparison("greater_equal", "x1 >= x2")
less = _comparison("less", "x1 < x2")
less_equal = _comparison("less_equal", "x1 <= x2")
gt, ge, lt, le, eq, ne = greater, greater_equal, less, less_equal, equal, not_equal  # PyTorch's names

logical_and = _elementwise("logical_and", "the truth values' and (nonzero is True), a bool tensor")
logical_or = _elementwise("logical_or", "the truth values' or (nonzero is True), a bool tensor")
logical_xor = _elementwise("logical_xor", "the truth values' exclusive or (nonzero is True), a bool tensor")

_SHIFTED_OUT = " (shifting by the width or more gives 0, or -1 where a negative x1 is shifted right)"
bitwise_and = _elementwise("bitwise_and", "x1 & x2 for bool and integer tensors, NumPy's dtypes")
bitwise_or = _elementwise("bitwise_or", "x1 | x2 for bool and integer tensors, NumPy's dtypes")
bitwise_xor = _elementwise("bitwise_xor", "x1 ^ x2 for bool and integer tensors, NumPy's dtypes")
left_shift = _elementwise("left_shift", "x1 << x2 for bool and integer tensors, NumPy's dtypes" + _SHIFTED_OUT)
right_shift = _elementwise("right_shift", "x1 >> x2 for bool and integer tensors, NumPy's dtypes" + _SHIFTED_OUT)
# NumPy 2's other names for the same ufuncs (np.bitwise_left_shift is np.left_shift; np.bitwise_not and
# np.bitwise_invert are np.invert)
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def logical_not(x: Any) -> Tensor:
    """Elementwise not, as a bool tensor; a list or number becomes an array as NumPy makes it."""
    return elementwise.logical_not(_one(x, "logical_not"))


def invert(x: Any) -> Tensor:
    """``~x``: logical not of a bool tensor, bitwise not of an integer one; no gradient."""
    return elementwise.invert(_one(x, "invert"))


bitwise_not = bitwise_invert = invert

gcd = _integral("gcd", "greatest common divisor")
lcm = _integral("lcm", "least common multiple")


def true_divide(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``true_divide``: :func:`gradkit.divide` (x1 / x2), lists taken as NumPy takes them."""
    return _named("true_divide", divide, *_pair("true_divide", x1, x2))


def pow(x1: Any, x2: Any) -> Tensor:  # noqa: A001 - NumPy 2's name
    """NumPy 2's ``pow``: :func:`gradkit.power` (x1 ** x2), lists taken as NumPy takes them."""
    return _named("pow", power, *_pair("pow", x1, x2))


def around(a: Any, decimals: int = 0) -> Tensor:
    """NumPy's ``around``: :func:`gradkit.round` (half to even at ``decimals`` places; slope 0), lists taken as
    NumPy takes them; bools give float16 at ``decimals=0`` and are refused at other places, as NumPy's."""
    decimals = whole(decimals, "around", "decimals")
    a = _one(a, "around")
    if a.dtype.kind == "b":
        if decimals:
            raise DTypeError(f"around: not defined for a bool tensor with decimals={decimals} (NumPy refuses it too; "
                             "decimals=0 gives float16)")
        a = _make(a._data.astype(np.float16), a._backend)
    return round_(a, decimals)


def bitwise_count(x: Any) -> Tensor:
    """NumPy 2's ``bitwise_count``: the number of 1 bits of |x| for bool and integer tensors, as uint8 (NumPy 1.x
    has no such function; gradkit computes it there, and on a CuPy without one, from the bits). No gradient."""
    x = _one(x, "bitwise_count")
    if x.dtype.kind not in "biu":
        raise DTypeError(f"bitwise_count: defined for bool and integer tensors, got {x.dtype}")
    xp, d = x._backend.xp, x._data
    native = getattr(xp, "bitwise_count", None)
    return _make(_arr(native(d) if native is not None else _popcount(xp, d)), x._backend)


def _popcount(xp: Any, d: Any) -> Any:
    """The 1 bits of |d| per element (the SWAR sum), as uint8."""
    if d.dtype.kind == "b":
        return d.astype(np.uint8)
    if d.dtype.kind == "i":
        d = xp.abs(d)  # int8's -128 stays -128, whose bits as uint8 are 128's: one bit, as NumPy counts
    u = xp.ascontiguousarray(d).reshape(-1).view(np.dtype(f"u{d.dtype.itemsize}")).astype(np.uint64)
    m1, m2, m4, ones = (np.uint64(c) for c in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F,
                                               0x0101010101010101))
    u = u - ((u >> np.uint64(1)) & m1)
    u = (u & m2) + ((u >> np.uint64(2)) & m2)
    u = (u + (u >> np.uint64(4))) & m4
    return ((u * ones) >> np.uint64(56)).astype(np.uint8).reshape(d.shape)


# ------------------------------------------------------------------ tests of values
def _mask(name: str, x: Any, fn: Any) -> Tensor:
    x = _one(x, name)
    return _make(_arr(fn(x._backend.xp, x._data)), x._backend)


def isposinf(x: Any) -> Tensor:
    """NumPy's ``isposinf``: where x is +inf, as a bool tensor (all False for integers and bools)."""
    return _mask("isposinf", x, lambda xp, d: xp.isinf(d) & ~xp.signbit(d) if d.dtype.kind == "f"
                 else xp.zeros(d.shape, bool))


def isneginf(x: Any) -> Tensor:
    """NumPy's ``isneginf``: where x is -inf, as a bool tensor (all False for integers and bools)."""
    return _mask("isneginf", x, lambda xp, d: xp.isinf(d) & xp.signbit(d) if d.dtype.kind == "f"
                 else xp.zeros(d.shape, bool))


def isreal(x: Any) -> Tensor:
    """NumPy's ``isreal``: all True, x's shape (gradkit has no complex dtypes)."""
    return _mask("isreal", x, lambda xp, d: xp.ones(d.shape, bool))


def iscomplex(x: Any) -> Tensor:
    """NumPy's ``iscomplex``: all False, x's shape (gradkit has no complex dtypes)."""
    return _mask("iscomplex", x, lambda xp, d: xp.zeros(d.shape, bool))


def iscomplexobj(x: Any) -> bool:
    """NumPy's ``iscomplexobj``: False for a tensor; for anything else NumPy's answer (a Python bool)."""
    if isinstance(x, Tensor):
        return False
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
        return any(iscomplexobj(v) for v in x)
    return bool(np.iscomplexobj(x))


def isrealobj(x: Any) -> bool:
    """NumPy's ``isrealobj``: True for a tensor (the opposite of :func:`iscomplexobj`)."""
    return not iscomplexobj(x)


# ------------------------------------------------------------------ one input, recorded
def _stepped(name: str, x: Any, fn: Any) -> Tensor:
    """A float result with slope 0 (a step, or a constant); integer inputs give a constant tensor."""
    x = _one(x, name)
    try:
        data = _arr(fn(x._backend.xp, x._data))
    except TypeError as exc:
        raise DTypeError(f"{name}: not defined for a tensor of dtype {x.dtype} ({exc})") from None
    if x.dtype.kind == "f":
        return record(name, data, x._backend, (x,), (_zero_slope,))
    return _make(data, x._backend)


def _passed(name: str, x: Tensor, data: Any) -> Tensor:
    """A copy of x's values (slope 1)."""
    if x.dtype.kind == "f":
        return record(name, _arr(data), x._backend, (x,), (pass_through,))
    return _make(_arr(data), x._backend)


def rint(x: Any) -> Tensor:
    """NumPy's ``rint``: the nearest whole number (half to even) as a float; integers and bools give floats
    (float16 for 8-bit ones, as NumPy). Slope 0."""
    return _stepped("rint", x, lambda xp, d: xp.rint(d))


def positive(x: Any) -> Tensor:
    """NumPy's ``positive``: a copy of x (+x); slope 1. A bool tensor is refused, as NumPy 2 does."""
    x = _one(x, "positive")
    if x.dtype.kind == "b":
        raise DTypeError("positive: not defined for a bool tensor (NumPy 2 refuses it too)")
    return _passed("positive", x, x._backend.xp.positive(x._data))


def conjugate(x: Any) -> Tensor:
    """NumPy's ``conjugate``/``conj``: of a real tensor, a copy (bools become int8, as NumPy); slope 1."""
    x = _one(x, "conjugate")
    d = x._data
    return _passed("conjugate", x, d.astype(np.int8) if d.dtype.kind == "b" else d.copy())


conj = conjugate


def real(val: Any) -> Tensor:
    """NumPy's ``real``: of a real tensor, x itself as a view (the same memory and version counter); slope 1."""
    return alias(_one(int(val) if isinstance(val, bool) else val, "real"), "real")  # True.real is 1, an int


def imag(val: Any) -> Tensor:
    """NumPy's ``imag``: of a real tensor, zeros of its shape and dtype; slope 0 (x gets a zero gradient)."""
    val = int(val) if isinstance(val, bool) else val  # NumPy takes True.imag, the int 0
    return _stepped("imag", val, lambda xp, d: xp.zeros_like(d))


def angle(z: Any, deg: bool = False) -> Tensor:
    """NumPy's ``angle``: of a real tensor, ``arctan2(0, z)``: 0 for z >= +0, pi for z < 0 and -0.0, NaN for NaN
    (180 for pi with ``deg=True``); NumPy's dtype (float16 for 8-bit integers, float64 for bools). Slope 0."""
    deg = flag(deg, "angle", "deg")

    def fn(xp: Any, d: Any) -> Any:
        dtype = np.arctan2(0, np.zeros((1,) if d.ndim else (), d.dtype)).dtype  # NumPy's, from a host probe
        a = xp.arctan2(xp.zeros(d.shape, dtype), d.astype(dtype, copy=False))
        return a * (180 / math.pi) if deg else a

    return _stepped("angle", z, fn)


def modf(x: Any) -> tuple[Tensor, Tensor]:
    """NumPy's ``modf``: ``(fraction, whole part)``, both with x's sign (``modf(inf)`` is ``(0, inf)``); integers
    and bools give floats as NumPy. The fraction's slope is 1, the whole part's 0."""
    x = _one(x, "modf")
    try:
        frac, whole = (_arr(d) for d in x._backend.xp.modf(x._data))
    except TypeError as exc:
        raise DTypeError(f"modf: not defined for a tensor of dtype {x.dtype} ({exc})") from None
    if x.dtype.kind != "f":
        return _make(frac, x._backend), _make(whole, x._backend)
    return (record("modf", frac, x._backend, (x,), (pass_through,)),
            record("modf", whole, x._backend, (x,), (_zero_slope,)))


def frexp(x: Any) -> tuple[Tensor, Tensor]:
    """NumPy's ``frexp``: ``(mantissa, exponent)`` with x = mantissa * 2**exponent, 0.5 <= |mantissa| < 1 (0, inf
    and NaN keep their value, exponent 0); the exponent is int32. The mantissa's slope is 2**-exponent
    (PyTorch's; 1 at 0, inf and NaN); the exponent has no gradient."""
    x = _one(x, "frexp")
    try:
        mantissa, exponent = (_arr(d) for d in x._backend.xp.frexp(x._data))
    except TypeError as exc:
        raise DTypeError(f"frexp: not defined for a tensor of dtype {x.dtype} ({exc})") from None
    if x.dtype.kind != "f":
        return _make(mantissa, x._backend), _make(exponent, x._backend)
    rule = lambda g, down: ldexp(g, down)  # noqa: E731 - d mantissa / dx = 2**-exponent
    return record("frexp", mantissa, x._backend, (x,), (rule,), (-exponent,)), _make(exponent, x._backend)


def spacing(x: Any) -> Tensor:
    """NumPy's ``spacing``: the distance from x to the next float away from 0 (negative for negative x; NumPy's
    float16 one steps up, so is positive), the smallest subnormal at +-0, NaN at inf and NaN; integers and bools
    give floats as NumPy. NumPy's own on NumPy; on CuPy (which has no ``spacing``) computed from the bits, and on
    a GPU float32 results below the normal range flush to 0. Slope 0."""
    return _stepped("spacing", x, _spacing)


def _float_of(dtype: Any) -> Any:
    """The float dtype NumPy's float-only ufuncs compute an integer or bool dtype in (float16 for 8 bits)."""
    return dtype if dtype.kind == "f" else np.promote_types(dtype, np.float16)


def _spacing(xp: Any, d: Any) -> Any:
    if xp is np:  # NumPy's own (the bits below are for CuPy, which has none)
        return np.spacing(d)
    dtype = _float_of(d.dtype)
    x = xp.atleast_1d(xp.ascontiguousarray(d.astype(dtype, copy=False)))
    bits = x.view(_BITS[dtype.itemsize])
    if dtype == np.float16:  # NumPy's float16 spacing steps up, so is positive (and NaN at both infinities)
        up = (bits + ((x >= 0).astype(bits.dtype) * 2 - 1)).view(dtype)
        step = xp.where(xp.isinf(x), xp.full((), np.nan, dtype=dtype), up - x)
    else:  # the next float away from 0; inf's next bit pattern is a (signalling) NaN
        with np.errstate(invalid="ignore"):
            step = (bits + 1).view(dtype) - x
    tiny = xp.full((), np.finfo(dtype).smallest_subnormal, dtype=dtype)
    return xp.where(x == 0, tiny, step).reshape(d.shape)


# ------------------------------------------------------------------ two inputs, recorded
def divmod(x1: Any, x2: Any) -> tuple[Tensor, Tensor]:  # noqa: A001 - NumPy's name
    """NumPy's ``divmod``: ``(floor_divide(x1, x2), remainder(x1, x2))``, NumPy's values on CuPy too. The quotient
    has no gradient; the remainder's slopes are 1 in x1 and -floor(x1 / x2) in x2."""
    a, b = _pair("divmod", x1, x2)
    return _named("divmod", floor_divide, a, b), _named("divmod", remainder, a, b)


def float_power(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``float_power``: x1 ** x2 computed and returned in float64 (whatever the inputs' dtypes).
    Slopes as ``power``'s: x2 * x1**(x2 - 1) (0 where x2 == 0) and x1**x2 * ln(x1) (0 at x1 == 0 for x2 >= 0,
    -inf for x2 < 0, NaN for x1 < 0); the gradients come back in the inputs' dtypes."""
    a, b, backend = _operands("float_power", x1, x2)
    ad, bd = data_of(a), data_of(b)
    try:
        data = _arr(backend.xp.float_power(ad, bd))
    except (ValueError, TypeError, OverflowError) as exc:
        raise _binary_error("float_power", ad, bd, exc) from None
    if not _needs_grad(a, b):
        return _make(data, backend)
    a64, b64 = (float(v) if isinstance(v, SCALARS) else astype(v, np.float64) for v in (a, b))
    inputs = (tensor_or_none(a64), tensor_or_none(b64))
    return record("float_power", data, backend, inputs, _POW_RULES, (a64, b64), broadcast=True)


def ldexp(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``ldexp``: x1 * 2**x2 for an integer (or bool) x2, broadcasting; an integer x1 gives NumPy's float
    dtype (float16 for 8-bit ones, float64 for int64). Slope 2**x2 in x1; x2 has none."""
    a, b, backend = _operands("ldexp", x1, x2)
    if _kind(b) not in "biu":
        raise DTypeError(f"ldexp: the exponent x2 must be integers (NumPy's takes no floats), got {_described(b)}")
    ad, bd = data_of(a), data_of(b)
    try:
        data = _arr(backend.xp.ldexp(ad, bd))
    except OverflowError as exc:
        if type(bd) is int:  # NumPy 2 takes a Python int exponent as a C int (int32), whatever x1's dtype
            raise InvalidArgumentError(
                f"ldexp: the exponent {bd} does not fit the C int that NumPy's ldexp takes a Python int exponent as "
                f"({exc}); pass a wider one as an int64 tensor or np.int64"
            ) from None
        raise _binary_error("ldexp", ad, bd, exc) from None
    except (ValueError, TypeError) as exc:
        raise _binary_error("ldexp", ad, bd, exc) from None
    rule = lambda g, e: ldexp(g, e)  # noqa: E731 - linear in x1
    if isinstance(b, Tensor) and b is not x2:  # a NumPy or CuPy array of the caller's (no version counter): copied
        b = Tensor._make(private_copy(b._data, x2), backend)
    return record("ldexp", data, backend, (tensor_or_none(a), None), (rule, None), (b,), broadcast=True)


def nextafter(x1: Any, x2: Any) -> Tensor:
    """NumPy's ``nextafter``: the next float after x1 toward x2 (where they are equal x2, or x1 in float16, as
    NumPy; NaN where either is), in NumPy's dtype (integers give floats). NumPy's own on NumPy; on CuPy computed
    from the bits, so that it gives NumPy's values (CuPy's own is NaN at float16 infinities); on a GPU, float32
    subnormal inputs count as 0. Slope 1 in x1 (the result is x1 to within an ulp), 0 in x2."""
    a, b, backend = _operands("nextafter", x1, x2)
    xp = backend.xp
    ad, bd = data_of(a), data_of(b)
    inputs, rules = (tensor_or_none(a), tensor_or_none(b)), (pass_through, _zero_slope)
    if xp is np:  # NumPy's own (its values by definition; the bits below are for CuPy)
        try:
            data = _arr(np.nextafter(ad, bd))
        except (ValueError, TypeError):
            data = None  # the checks below say what is wrong
        if data is not None:
            return record("nextafter", data, backend, inputs, rules, broadcast=True)
    try:
        shape = np.broadcast_shapes(np.shape(ad), np.shape(bd))
    except ValueError as exc:
        raise ShapeError(f"nextafter: shapes {np.shape(ad)} and {np.shape(bd)} do not broadcast ({exc})") from None
    try:  # NumPy's dtype, from a one-element host probe (no device read): int8 and uint8 give float16
        probes = (v if isinstance(v, SCALARS) else np.zeros((1,) if v.ndim else (), v.dtype) for v in (ad, bd))
        dtype = np.nextafter(*probes).dtype
    except TypeError as exc:
        raise DTypeError(f"nextafter: not defined for operands of dtypes {_kind_name(ad)} and {_kind_name(bd)} "
                         f"({exc})") from None
    x, y = (xp.atleast_1d(v.astype(dtype, copy=False) if isinstance(v, backend.array_type) else
                          xp.asarray(v, dtype=dtype)) for v in (ad, bd))
    away = (y > x) == (x > 0)  # a step away from 0 is one up in the bits, toward 0 one down
    bits = xp.ascontiguousarray(x).view(_BITS[dtype.itemsize])
    stepped = (bits + (away.astype(bits.dtype) * 2 - 1)).view(dtype)
    tiny = xp.full((), np.finfo(dtype).smallest_subnormal, dtype=dtype)
    data = xp.where(x == 0, xp.where(y > x, tiny, -tiny), stepped)
    data = xp.where(x == y, x if dtype == np.float16 else y, data)  # NumPy's float16 one gives x there, C's y
    data = xp.where(xp.isnan(x) | xp.isnan(y), xp.full((), np.nan, dtype=dtype), data).reshape(shape)
    return record("nextafter", data, backend, inputs, rules, broadcast=True)


def _kind_name(v: Any) -> str:
    return str(getattr(v, "dtype", type(v).__name__))
