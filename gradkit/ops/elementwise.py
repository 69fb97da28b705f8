"""Elementwise operations and their VJP rules.

Each op computes its result with the backend's array module and hands
``record`` one rule per input: ``rule(g, *saved)`` returns that input's
gradient. Rules are written with Tensor operations, so with
``create_graph=True`` the backward pass is itself differentiable. For binary
ops the engine sums each gradient back over broadcast axes
(``broadcast=True``), so the rules here ignore broadcasting.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from gradkit._args import check_int_fits, out_of_range, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import function
from gradkit.autograd.function import anchor_of, fixups, record, tied_slope
from gradkit.autograd.grad_mode import state as _mode
from gradkit.autograd.node import Node
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops import _floordiv
from gradkit.ops._util import (
    LEGACY_PROMOTION,
    NOT_GIVEN,
    SCALARS,
    as_tensor,
    data_of,
    host_read_allowed,
    number_tensor,
    operands,
    pass_through,
    private_copy,
    tensor_or_none,
)
from gradkit.tensor import Tensor

_make = Tensor._make
_new = object.__new__
_ndarray = np.ndarray
# Python numbers that go to the array module as they are (NumPy 1.x needs them converted first).
_FAST_SCALARS = frozenset() if LEGACY_PROMOTION else frozenset((float, int))
_PY_NUMBERS = frozenset((float, int, bool))
# Which operands each rule reads, (a, b) for the rule of a then of b.
_READS_OTHER = ((False, True), (True, False))  # multiply: d/da reads b, d/db reads a
_READS_DIVIDE = ((False, True), (True, True))  # divide: d/da = g / b, d/db = -g * a / b**2
_READS_BOTH = ((True, True), (True, True))


def _promoting_as_numpy_2(fn: Any) -> Callable[[Any, Any], Any]:
    """``fn`` (an operator function or a ufunc's name) for NumPy 1.x, where a 0-d operand (a 0-d tensor's array, a
    NumPy scalar) promotes by its value (a float32 array minus a 0-d float64 array is float32): where their common
    dtype is a float one, both operands first in it, so that float results have NumPy 2's dtype on every NumPy
    (integer ones keep NumPy 1.x's rule, as docs/API.md says). A name is NumPy's ufunc (it hands CuPy arrays to
    CuPy)."""
    call = getattr(np, fn) if type(fn) is str else fn

    def promoting(x: Any, y: Any) -> Any:
        dx, dy = getattr(x, "dtype", None), getattr(y, "dtype", None)
        if dx is not None and dy is not None and dx != dy and (x.ndim == 0 or y.ndim == 0):
            common = np.promote_types(dx, dy)
            if common.kind in "fc":
                x, y = x.astype(common, copy=False), y.astype(common, copy=False)
        return call(x, y)

    return promoting


def _binary_op(name: str, fn: Any, rules: tuple, reads: tuple | None) -> Callable[[Any, Any], Tensor]:
    """The function ``op(a, b)`` that applies ``fn`` (an operator function, or an array-module name) and
    records the node, with ``rules`` (one per operand) as its VJP rules.

    ``reads[i]`` says which operands, (a, b), rule ``i`` reads (None: neither
    rule reads any). Only operands that a needed rule reads are saved, and
    only those are checked for in-place changes at backward time.

    This is the hottest path of the library: ``Tensor.__add__`` and friends
    are such functions, so an operation costs one Python call. The record
    step is written out here for the two-input case (see ``record`` for the
    general one), and once more, shorter, for its most common case: a tensor
    and a Python number (``x * 0.5``, ``x + 1``).
    """
    if LEGACY_PROMOTION:  # NumPy 1.x only: nothing changes on the hot path of NumPy 2
        fn = _promoting_as_numpy_2(fn)
    by_name = type(fn) is str
    scalar_reads_a, scalar_reads_b = reads[0] if reads is not None else (False, False)

    def op(a: Any, b: Any) -> Tensor:
        if type(b) in _FAST_SCALARS and isinstance(a, Tensor):
            # Only a can need a gradient, and the result has its shape and dtype (no fix-ups).
            ad = a._data
            try:
                data = getattr(a._backend.xp, fn)(ad, b) if by_name else fn(ad, b)
            except (ValueError, TypeError, OverflowError) as exc:
                raise _binary_error(name, ad, b, exc) from None
            if type(data) is not _ndarray and isinstance(data, np.generic):
                data = np.asarray(data)  # NumPy gives scalars for 0-d results; a tensor holds an array
            out = _new(Tensor)
            out._data = data
            out._backend = a._backend
            out._version = [0]
            if not a._requires_grad or not _mode.enabled:
                out._requires_grad = False
                out._grad_fn = None
                return out
            if reads is None:
                node = Node(name, rules, (a._grad_fn or a, None), ())
            else:
                node = Node(
                    name, rules, (a._grad_fn or a, None), (a if scalar_reads_a else None, b if scalar_reads_b else None)
                )
                if scalar_reads_a:
                    node.versions = ((a._version, a._version[0]),)
            out._requires_grad = True
            out._grad_fn = node
            if function.observer is not None:
                function.observer(node, out)
            return out
        if isinstance(a, Tensor) and isinstance(b, Tensor) and b._backend is a._backend:
            ta, ad, tb, bd, backend = a, a._data, b, b._data, a._backend
        else:
            a, b, backend = operands(name, a, b)
            ta, tb = tensor_or_none(a), tensor_or_none(b)
            ad, bd = data_of(a), data_of(b)
        try:
            data = getattr(backend.xp, fn)(ad, bd) if by_name else fn(ad, bd)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _binary_error(name, ad, bd, exc) from None
        if type(data) is not _ndarray and isinstance(data, np.generic):
            data = np.asarray(data)  # NumPy gives scalars for 0-d results; a tensor holds an array
        out = _new(Tensor)
        out._data = data
        out._backend = backend
        out._grad_fn = None
        out._version = [0]
        out._requires_grad = False
        ra = ta is not None and ta._requires_grad
        rb = tb is not None and tb._requires_grad
        if not (ra or rb) or not _mode.enabled:
            return out
        if reads is None:
            node = Node(name, rules, ((ta._grad_fn or ta) if ra else None, (tb._grad_fn or tb) if rb else None), ())
        else:
            keep_a = (ra and reads[0][0]) or (rb and reads[1][0])
            keep_b = (ra and reads[0][1]) or (rb and reads[1][1])
            node = Node(
                name,
                rules,
                ((ta._grad_fn or ta) if ra else None, (tb._grad_fn or tb) if rb else None),
                (a if keep_a else None, b if keep_b else None),
            )
            va, vb = keep_a and ta is not None, keep_b and tb is not None
            if va and vb:
                node.versions = ((ta._version, ta._version[0]), (tb._version, tb._version[0]))
            elif va:
                node.versions = ((ta._version, ta._version[0]),)
            elif vb:
                node.versions = ((tb._version, tb._version[0]),)
        # With a Python number operand the result has the (float) tensor's shape and dtype: nothing to fix.
        # (A NumPy scalar is another matter: np.float64 makes a float32 tensor's result float64.)
        if type(bd if tb is None else ad if ta is None else None) not in _PY_NUMBERS:
            shape, dtype = data.shape, data.dtype
            if (ra and (ad.shape != shape or ad.dtype is not dtype)) or (
                rb and (bd.shape != shape or bd.dtype is not dtype)
            ):
                node.fixups = fixups((ta, tb), data)
        out._requires_grad = True
        out._grad_fn = node
        if function.observer is not None:
            function.observer(node, out)
        return out

    op.__name__ = op.__qualname__ = name
    return op


def _binary_error(name: str, ad: Any, bd: Any, exc: Exception) -> Exception:
    """The GradkitError for a failed binary op: shapes that do not broadcast, or dtypes NumPy refuses."""
    sa, sb = getattr(ad, "shape", ()), getattr(bd, "shape", ())
    da, db = getattr(ad, "dtype", type(ad).__name__), getattr(bd, "dtype", type(bd).__name__)
    if isinstance(exc, OverflowError):  # NumPy 2: a Python int outside the tensor's range
        number, dtype = (ad, db) if isinstance(ad, int) else (bd, da)
        return out_of_range(name, number, dtype)
    if isinstance(exc, ValueError):
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            return ShapeError(f"{name}: shapes {sa} and {sb} do not broadcast ({exc})")
        return InvalidArgumentError(f"{name}: not defined for operands of dtypes {da} and {db} ({exc})")
    return DTypeError(f"{name}: not defined for operands of dtypes {da} and {db} ({exc})")


def _operand(x: Any, op: str) -> Tensor:
    """``x`` as the tensor a unary op works on: a Python number as NumPy takes it (:func:`number_tensor`),
    anything else as ``as_tensor`` makes it."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, SCALARS):  # NumPy's float64 scalar is a float too
        return number_tensor(x, op)
    return as_tensor(x, op)


#: the unary ops whose PyTorch names (gk.autocast's tables) differ from gradkit's; square is PyTorch's pow(x, 2)
_AUTOCAST_NAMES = {"arcsin": "asin", "arccos": "acos", "square": "pow"}


def _unary(name: str, x: Any, fn: Any, rule: Any, save_output: bool = False) -> Tensor:
    if _autocast.active:  # gk.autocast: those on its float32 list computed in float32 (one module read when off)
        (x,) = _autocast.to_float32(_AUTOCAST_NAMES.get(name, name), x)
    if not isinstance(x, Tensor):  # the Tensor path pays this one check
        x = _operand(x, name)
    xp = x._backend.xp
    try:
        data = getattr(xp, fn)(x._data) if isinstance(fn, str) else fn(xp, x._data)
    except TypeError as exc:  # e.g. NumPy's sign of a bool array
        raise DTypeError(f"{name}: not defined for a tensor of dtype {x.dtype} ({exc})") from None
    if save_output:
        return record(name, data, x._backend, (x,), (rule,), save_output=True)
    return record(name, data, x._backend, (x,), (rule,), (x,))


# ------------------------------------------------------------------ arithmetic
def _negated(g: Tensor, *_: Any) -> Tensor:
    return -g


_ADD_RULES = (pass_through, pass_through)
_SUB_RULES = (pass_through, _negated)


add = _binary_op("add", operator.add, _ADD_RULES, None)
add.__doc__ = """a + b, broadcasting as NumPy does."""


subtract = _binary_op("subtract", operator.sub, _SUB_RULES, None)
subtract.__doc__ = """a - b, broadcasting as NumPy does."""


# d(a*b)/da = g * b and d(a*b)/db = g * a: on raw arrays when backward is not being recorded
# (the common case), written out twice because this runs for every multiply of every backward pass.
def _mul_da(g: Tensor, a: Any, b: Any) -> Tensor:
    if _mode.enabled:
        return g * b
    return _make(g._data * (b._data if isinstance(b, Tensor) else b), g._backend)


def _mul_db(g: Tensor, a: Any, b: Any) -> Tensor:
    if _mode.enabled:
        return g * a
    return _make(g._data * (a._data if isinstance(a, Tensor) else a), g._backend)


_MUL_RULES = (_mul_da, _mul_db)


multiply = _binary_op("multiply", operator.mul, _MUL_RULES, _READS_OTHER)
multiply.__doc__ = """a * b, broadcasting as NumPy does."""


def _div_da(g: Tensor, a: Any, b: Any) -> Tensor:
    return g / b


def _div_db(g: Tensor, a: Any, b: Any) -> Tensor:
    return -(g * a) / b / b  # not / (b * b): b * b underflows to 0 for |b| < 1e-154


_DIV_RULES = (_div_da, _div_db)


divide = _binary_op("divide", operator.truediv, _DIV_RULES, _READS_DIVIDE)
divide.__doc__ = """a / b (true division), broadcasting as NumPy does."""


def _pow_da(g: Tensor, a: Any, b: Any) -> Tensor:
    # d(a**b)/da = b * a**(b - 1), taken as 0 where b == 0 (as PyTorch; not 0 * 0**-1 at a == 0)
    if not isinstance(b, Tensor):
        if b == 0:
            return g * 0
        if b == 2:
            return g * (a * 2)
        return g * b * a ** (b - 1)
    # 0 ** -1 would make 0 * inf: where a and b are both 0 the exponent is taken as 0 (the slope is 0 there)
    both_zero = (data_of(a) == 0) & (b._data == 0)
    return g * b * a ** where(both_zero, 0.0, b - 1)


def _pow_db(g: Tensor, a: Any, b: Any) -> Tensor:
    # d(a**b)/db = a**b * ln(a), taken as 0 where a == 0 (its limit for b > 0).
    if not isinstance(a, Tensor):
        if a > 0:
            return g * a**b * math.log(a)
        if a < 0:  # a**b is real only at whole b: no slope (NaN, as PyTorch)
            return g * math.nan
        return g * where(b >= 0, 0.0, -math.inf)  # as PyTorch: 0 ** b falls like -inf for b < 0 (on b's device)
    zero = a._data == 0  # as PyTorch: a ** b * ln(a) is 0 there for b >= 0, -inf for b < 0
    slope = where(zero, 0.0, a**b) * log(where(zero, 1.0, a))  # 0 * ln 1 at a == 0, not inf * 0
    return g * where(zero & (data_of(b) < 0), -math.inf, slope)


_POW_RULES = (_pow_da, _pow_db)


_power = _binary_op("power", operator.pow, _POW_RULES, _READS_BOTH)


def power(a: Any, b: Any) -> Tensor:
    """a ** b elementwise."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (PyTorch's pow, __pow__, __rpow__)
        a, b = _autocast.to_float32("pow", a, b)
    out = _power(a, b)
    if out._data.dtype.kind in "iu" and out._backend.name != "numpy":
        _check_integer_exponent(b, out)
    return out


def _check_integer_exponent(b: Any, out: Tensor) -> None:
    """NumPy refuses an integer to a negative integer power; CuPy gives a number, so check (a host read)."""
    bd = b._data if isinstance(b, Tensor) else b
    if isinstance(bd, (int, np.integer)):
        negative = bd < 0
    elif isinstance(bd, (np.ndarray, list, tuple)):  # on the host: no device read
        negative = bool((np.asarray(bd) < 0).any())
    elif host_read_allowed(bd):  # a device array, except while a CUDA graph is captured
        negative = bool((bd < 0).any())
    else:
        return
    if negative:
        raise InvalidArgumentError(
            f"power: integers to negative integer powers are not allowed (a {out.dtype} result); "
            "make the base a float tensor"
        )


def _remainder_db(g: Tensor, a: Any, b: Any) -> Tensor:
    ad = a._data if isinstance(a, Tensor) else a
    bd = b._data if isinstance(b, Tensor) else b
    return g * -_floordiv.floor_divide(ad, bd)


_REMAINDER_RULES = (pass_through, _remainder_db)
_remainder = _binary_op("remainder", _floordiv.remainder, _REMAINDER_RULES, ((False, False), (True, True)))


def remainder(a: Any, b: Any) -> Tensor:
    """``a % b`` with the sign of ``b`` (NumPy's and PyTorch's); d/da = 1, d/db = -floor(a / b)."""
    return _remainder(a, b)


# remainder's dtype rule (``_binary_op``), so that divmod's two results agree on NumPy 1.x too
_floor_divide_data = _promoting_as_numpy_2(_floordiv.floor_divide) if LEGACY_PROMOTION else _floordiv.floor_divide


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b`` (NumPy's floor division); piecewise constant, so no gradient flows through it."""
    a, b, backend = operands("floor_divide", a, b)
    ad, bd = data_of(a), data_of(b)
    try:
        data = _floor_divide_data(ad, bd)
    except (ValueError, TypeError, OverflowError) as exc:  # OverflowError: uint8 // -1 (NumPy 2)
        raise _binary_error("floor_divide", ad, bd, exc) from None
    return Tensor._make(data, backend)


def negative(x: Any) -> Tensor:
    """-x."""
    x = _operand(x, "negative")
    if x._data.dtype.kind == "b":
        raise DTypeError("negative: not defined for a bool tensor; use ~x (logical not)")
    return record("negative", -x._data, x._backend, (x,), (_negated,))


def square(x: Any) -> Tensor:
    """x * x."""
    return _unary("square", x, "square", lambda g, x: g * (x * 2))


def _max_weights(a: Any, b: Any) -> Any:
    """a's share of maximum(a, b)'s gradient: 1 where a > b, 1/2 at ties, 0 where a < b, and, as
    PyTorch, 1 where either is NaN (the NaN result passes the gradient to both)."""
    ad, bd = data_of(a), data_of(b)
    # bool + bool * -0.5 is float64: give the weights the operands' float dtype so the
    # gradient of a float32 input stays float32 (the engine casts only when shapes/dtypes differ).
    # (Added, not subtracted: NumPy's bool - float64 is four times slower than bool + float64.)
    weights = ~(ad < bd) + (ad == bd) * -0.5
    dtype = next((d.dtype for d in (ad, bd) if hasattr(d, "dtype") and d.dtype.kind == "f"), weights.dtype)
    return weights.astype(dtype, copy=False)


_maximum = _binary_op(
    "maximum",
    "maximum",
    (lambda g, a, b: g * _max_weights(a, b), lambda g, a, b: g * _max_weights(b, a)),
    _READS_BOTH,
)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; ties share the gradient equally."""
    return _maximum(a, b)


_minimum = _binary_op(
    "minimum",
    "minimum",
    (lambda g, a, b: g * _max_weights(b, a), lambda g, a, b: g * _max_weights(a, b)),
    _READS_BOTH,
)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; ties share the gradient equally."""
    return _minimum(a, b)


# ------------------------------------------------------------------ unary maths
def exp(x: Any) -> Tensor:
    """e ** x."""
    return _unary("exp", x, "exp", lambda g, y: g * y, save_output=True)


def expm1(x: Any) -> Tensor:
    """e ** x - 1, accurate near 0."""
    return _unary("expm1", x, "expm1", lambda g, y: g * (y + 1), save_output=True)


def log(x: Any) -> Tensor:
    """Natural logarithm."""
    return _unary("log", x, "log", lambda g, x: g / x)


def log1p(x: Any) -> Tensor:
    """ln(1 + x), accurate near 0."""
    return _unary("log1p", x, "log1p", lambda g, x: g / (x + 1))


def sqrt(x: Any) -> Tensor:
    """Square root."""
    return _unary("sqrt", x, "sqrt", lambda g, y: g / (y * 2), save_output=True)


def abs(x: Any) -> Tensor:  # noqa: A001 (NumPy's name)
    """|x|; the gradient at 0 is 0."""
    return _unary("abs", x, "abs", _abs_vjp)


def _abs_vjp(g: Tensor, x: Tensor) -> Tensor:
    slope = x._backend.xp.sign(x._data)
    return g * tied_slope(g, slope, anchor_of(x)) if _mode.enabled else g * slope


def sign(x: Any) -> Tensor:
    """-1, 0 or 1; its gradient is zero."""
    x = _operand(x, "sign")
    if x.dtype == np.bool_:  # NumPy refuses; CuPy would hand the bools back
        raise DTypeError("sign: not defined for a tensor of dtype bool (convert it with astype first)")
    return _unary("sign", x, "sign", lambda g, x: g * 0)


def sin(x: Any) -> Tensor:
    """Sine."""
    return _unary("sin", x, "sin", lambda g, x: g * cos(x))


def cos(x: Any) -> Tensor:
    """Cosine."""
    return _unary("cos", x, "cos", lambda g, x: -g * sin(x))


def tan(x: Any) -> Tensor:
    """Tangent."""
    return _unary("tan", x, "tan", lambda g, y: g * (y * y + 1), save_output=True)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return _unary("tanh", x, "tanh", lambda g, y: g * (1 - y * y), save_output=True)


def _sigmoid_forward(xp: Any, x: Any) -> Any:
    # exp(min(x, 0)) / (1 + exp(-|x|)): e / (1 + e) for x < 0 and 1 / (1 + e) for x >= 0 with e = exp(-|x|),
    # never overflowing and right to a few ulps relative (0.5 tanh(x / 2) + 0.5 is right only to 1e-16
    # absolute: 0 at x = -50). No xp.where: a select on the sign of random data is slower than an exp.
    x = _as_float(x)  # integers and bools give the float dtype sin gives them
    num = xp.exp(xp.minimum(x, x.dtype.type(0)))  # a zero of x's dtype: NumPy 1.x makes a 0-d x with 0 float64
    den = xp.exp(-xp.abs(x))
    den += x.dtype.type(1)  # not 1: NumPy 1.x makes a 0-d x's float32 scalar plus a Python int float64
    num /= den
    return num


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + e ** -x), computed without overflow."""
    return _unary("sigmoid", x, _sigmoid_forward, lambda g, y: g * (y * (1 - y)), save_output=True)


def _relu_forward(xp: Any, x: Any) -> Any:
    return xp.maximum(x, 0)


def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, and 1 at NaN (as PyTorch: it passes where y <= 0 is false)."""
    # y >= 0 or NaN, so y != 0 is PyTorch's not (y <= 0), at the cost of y > 0
    return _unary("relu", x, _relu_forward, _relu_vjp, save_output=True)


def _relu_vjp(g: Tensor, y: Tensor) -> Tensor:
    mask = y._data != 0
    return g * tied_slope(g, mask, anchor_of(y)) if _mode.enabled else g * mask


# ------------------------------------------------------ more of NumPy's maths
# Slopes as PyTorch writes them, except where a rearrangement avoids an overflow or a cancellation that
# PyTorch's form has (each such place says so): arcsinh and arccosh for |x| > 1e154, arctan2 for
# |x|, |y| > 1e154 or < 1e-154.
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _float_dtype(dtype: Any) -> Any:
    """The float dtype NumPy's float ufuncs (sin, sqrt) give for ``dtype``: itself if float, else the
    smallest float that holds it (bool, int8, uint8: float16; int16: float32; wider: float64)."""
    return dtype if dtype.kind == "f" else np.result_type(dtype, np.float16)


def _as_float(x: Any) -> Any:
    return x if x.dtype.kind == "f" else x.astype(_float_dtype(x.dtype))


def arcsin(x: Any) -> Tensor:
    """Inverse sine; the slope 1/sqrt(1 - x^2) is inf at x = +-1 (NaN beyond, as the value)."""
    return _unary("arcsin", x, "arcsin", lambda g, x: g / sqrt((1 - x) * (1 + x)))  # (1-x)(1+x): no cancellation


def arccos(x: Any) -> Tensor:
    """Inverse cosine; the slope -1/sqrt(1 - x^2) is -inf at x = +-1 (NaN beyond)."""
    return _unary("arccos", x, "arccos", lambda g, x: -g / sqrt((1 - x) * (1 + x)))


def arctan(x: Any) -> Tensor:
    """Inverse tangent; slope 1/(1 + x^2) (0 once x^2 overflows: its limit)."""
    return _unary("arctan", x, "arctan", lambda g, x: g / (x * x + 1))


def _atan2_scale(y: Any, x: Any) -> Tensor:
    """hypot(y, x), never overflowing or underflowing as y^2 + x^2 would; inf at the origin, so that
    both slopes are 0 there (PyTorch's value at (0, 0); arctan2 has no derivative there)."""
    h = hypot(y, x)
    return where(h._data == 0, math.inf, h)


def _atan2_dy(g: Tensor, y: Any, x: Any) -> Tensor:
    h = _atan2_scale(y, x)
    return g * (x / h / h)


def _atan2_dx(g: Tensor, y: Any, x: Any) -> Tensor:
    h = _atan2_scale(y, x)
    return -(g * (y / h / h))  # negated after the division: y may be bool (NumPy has no bool negative)


_ATAN2_RULES = (_atan2_dy, _atan2_dx)
_arctan2 = _binary_op("arctan2", "arctan2", _ATAN2_RULES, _READS_BOTH)


def arctan2(y: Any, x: Any) -> Tensor:
    """The angle of the point (x, y) in (-pi, pi], broadcasting as NumPy does.

    Slopes x / (x^2 + y^2) for y and -y / (x^2 + y^2) for x, computed as x / h / h with h = hypot(x, y), so
    they stay right for |x|, |y| beyond 1e154 (PyTorch's y^2 + x^2 overflows to a slope of 0) or below
    1e-154 (where it underflows, PyTorch gives 0); both are 0 at exactly (0, 0), as in PyTorch.
    """
    return _arctan2(y, x)


def sinh(x: Any) -> Tensor:
    """Hyperbolic sine."""
    return _unary("sinh", x, "sinh", lambda g, x: g * cosh(x))


def cosh(x: Any) -> Tensor:
    """Hyperbolic cosine."""
    return _unary("cosh", x, "cosh", lambda g, x: g * sinh(x))


def arcsinh(x: Any) -> Tensor:
    """Inverse hyperbolic sine; slope 1/hypot(x, 1) (PyTorch's 1/sqrt(x^2 + 1) is 0 beyond |x| = 1e154)."""
    return _unary("arcsinh", x, "arcsinh", lambda g, x: g / hypot(x, 1.0))


def arccosh(x: Any) -> Tensor:
    """Inverse hyperbolic cosine; slope 1/(sqrt(x - 1) sqrt(x + 1)): inf at 1, NaN below 1 as the value.

    (PyTorch's 1/sqrt(x^2 - 1) is 0 beyond x = 1e154, and finite below -1, where the value is NaN.)
    """
    return _unary("arccosh", x, "arccosh", lambda g, x: g / (sqrt(x - 1) * sqrt(x + 1)))


def arctanh(x: Any) -> Tensor:
    """Inverse hyperbolic tangent; slope 1/(1 - x^2), inf at +-1 (finite beyond, as PyTorch's)."""
    return _unary("arctanh", x, "arctanh", lambda g, x: g / ((1 - x) * (1 + x)))


def log2(x: Any) -> Tensor:
    """Base-2 logarithm."""
    return _unary("log2", x, "log2", lambda g, x: g / (x * _LN2))


def log10(x: Any) -> Tensor:
    """Base-10 logarithm."""
    return _unary("log10", x, "log10", lambda g, x: g / (x * _LN10))


def exp2(x: Any) -> Tensor:
    """2 ** x."""
    return _unary("exp2", x, "exp2", lambda g, y: g * (y * _LN2), save_output=True)


def hypot(a: Any, b: Any) -> Tensor:
    """sqrt(a^2 + b^2) without overflow, broadcasting as NumPy does; slopes a / hypot and b / hypot
    (NaN at (0, 0), as PyTorch's)."""
    return _hypot(a, b)


_HYPOT_RULES = (lambda g, a, b: g * (a / hypot(a, b)), lambda g, a, b: g * (b / hypot(a, b)))
_hypot = _binary_op("hypot", "hypot", _HYPOT_RULES, _READS_BOTH)


def cbrt(x: Any) -> Tensor:
    """Real cube root (negative for negative x); the slope 1/(3 cbrt(x)^2) is inf at 0."""
    return _unary("cbrt", x, "cbrt", lambda g, y: g / (y * y * 3), save_output=True)


def _reciprocal_forward(xp: Any, x: Any) -> Any:
    return xp.reciprocal(_as_float(x))


def reciprocal(x: Any) -> Tensor:
    """1 / x. Integer and bool tensors give floats, as gk.sin does on them (and as PyTorch's reciprocal;
    NumPy's integer reciprocal rounds 1/x to an integer)."""
    return _unary("reciprocal", x, _reciprocal_forward, lambda g, y: -g * (y * y), save_output=True)


def _rsqrt_forward(xp: Any, x: Any) -> Any:
    return xp.reciprocal(xp.sqrt(x))


def rsqrt(x: Any) -> Tensor:
    """1 / sqrt(x) (PyTorch's rsqrt); slope -y^3 / 2, -inf at 0."""
    return _unary("rsqrt", x, _rsqrt_forward, lambda g, y: g * (y * y * (y * -0.5)), save_output=True)


def erf(x: Any) -> Tensor:
    """The error function, 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x (NumPy has none:
    SciPy's or CuPy's ``special.erf`` when importable, else gelu's series); slope 2/sqrt(pi) exp(-x^2)."""
    from gradkit.nn.functional import _erf_array, _erf_vjp  # gelu's erf (nn imports ops: not at the top)

    x = _operand(x, "erf")
    xf = _as_float(x._data)
    work = xf.astype(np.float32) if xf.dtype == np.float16 else xf  # SciPy has no float16 erf; nor has the series
    data = _erf_array(x._backend.xp, work).astype(xf.dtype, copy=False)
    return record("erf", data, x._backend, (x,), (_erf_vjp,), (x,))


def _logaddexp_weight(a: Any, b: Any, scale: float) -> Tensor:
    """d logaddexp(a, b) / da = exp(a - out) = sigmoid(scale (a - b)): the softmax weight of a, never
    overflowing. Where a and b are the same infinity (two -inf log-probabilities) a - b is NaN; the
    weight is 1/2 there, the limit along a = b (PyTorch's slope is NaN), so no NaN enters the gradient."""
    ad, bd = data_of(a), data_of(b)
    xp = (a if isinstance(a, Tensor) else b)._backend.xp
    same_infinity = (ad == bd) & xp.isinf(ad)
    with np.errstate(invalid="ignore"):  # inf - inf there: replaced, so not worth NumPy's warning
        d = where(same_infinity, 0.0, a - b)
    return sigmoid(d * scale if scale != 1.0 else d)


_LOGADDEXP_RULES = (
    lambda g, a, b: g * _logaddexp_weight(a, b, 1.0),
    lambda g, a, b: g * _logaddexp_weight(b, a, 1.0),
)
_LOGADDEXP2_RULES = (
    lambda g, a, b: g * _logaddexp_weight(a, b, _LN2),
    lambda g, a, b: g * _logaddexp_weight(b, a, _LN2),
)
_logaddexp = _binary_op("logaddexp", "logaddexp", _LOGADDEXP_RULES, _READS_BOTH)
_logaddexp2 = _binary_op("logaddexp2", "logaddexp2", _LOGADDEXP2_RULES, _READS_BOTH)


def logaddexp(a: Any, b: Any) -> Tensor:
    """log(exp(a) + exp(b)) without overflow (NumPy's ``logaddexp``), broadcasting; slopes are the softmax
    weights exp(a - out) and exp(b - out) (1/2 each where a and b are the same infinity)."""
    return _logaddexp(a, b)


def logaddexp2(a: Any, b: Any) -> Tensor:
    """log2(2 ** a + 2 ** b) without overflow (NumPy's ``logaddexp2``); slopes 2 ** (a - out) and 2 ** (b - out)."""
    return _logaddexp2(a, b)


# sinc'(x) = pi y P(y^2) with y = pi x near 0, P's coefficients (-1)^k 2k / (2k + 1)! for k = 1..7: below
# |x| = 0.1 the next term is under 1e-16 of the sum, and the closed form (cos(pi x) - sinc(x)) / x, which
# cancels as x -> 0, is used only above it (its relative error there is about 1e-15).
_SINC_SERIES = (-1 / 3, 1 / 30, -1 / 840, 1 / 45360, -1 / 3991680, 1 / 518918400, -1 / 93405312000)
_SINC_NEAR = 0.1


def _sinc_forward(xp: Any, x: Any) -> Any:
    # NumPy's sinc of integers and bools is float64 (it is not a ufunc; CuPy's, a ufunc, gives float16 for int8)
    return xp.sinc(x if x.dtype.kind == "f" else x.astype(np.float64))


def _sinc_slope(g: Tensor, x: Tensor) -> Tensor:
    near = x._backend.xp.abs(x._data) < _SINC_NEAR
    y = x * math.pi
    z = y * y
    p = z * _SINC_SERIES[-1] + _SINC_SERIES[-2]
    for c in reversed(_SINC_SERIES[:-2]):
        p = p * z + c
    safe = where(near, 1.0, x)  # the closed form only where it is used: no 0 / 0 at x = 0
    far = (cos(safe * math.pi) - sinc(safe)) / safe
    return g * where(near, y * p * math.pi, far)


def sinc(x: Any) -> Tensor:
    """NumPy's normalised sinc, sin(pi x) / (pi x), 1 at 0; integer and bool inputs give float64, as
    NumPy's. Slope (cos(pi x) - sinc(x)) / x, from a series near 0 (exact there, to second order too)."""
    return _unary("sinc", x, _sinc_forward, _sinc_slope)


_DEG = math.pi / 180.0


def deg2rad(x: Any) -> Tensor:
    """Degrees to radians, x * pi / 180 (``radians`` is the same function)."""
    return _unary("deg2rad", x, "deg2rad", lambda g, x: g * _DEG)


def rad2deg(x: Any) -> Tensor:
    """Radians to degrees, x * 180 / pi (``degrees`` is the same function)."""
    return _unary("rad2deg", x, "rad2deg", lambda g, x: g * (1.0 / _DEG))


radians, degrees = deg2rad, rad2deg


def fabs(x: Any) -> Tensor:
    """|x| as NumPy's ``fabs``: floats always (integers and bools give float16/float64 as NumPy's ufunc
    does; ``abs`` keeps integers); the slope is abs's, 0 at 0."""
    return _unary("fabs", x, "fabs", lambda g, x: g * x._backend.xp.sign(x._data))


def _fmod_db(g: Tensor, a: Any, b: Any) -> Tensor:
    xp = g._backend.xp
    with np.errstate(divide="ignore", invalid="ignore"):  # b == 0: a NaN slope, as the NaN value
        whole_part = xp.trunc(data_of(a) / data_of(b))
    if isinstance(whole_part, np.generic):
        whole_part = np.asarray(whole_part)
    return g * -whole_part.astype(g.dtype, copy=False)


_FMOD_RULES = (pass_through, _fmod_db)
_fmod = _binary_op("fmod", "fmod", _FMOD_RULES, ((False, False), (True, True)))


def fmod(a: Any, b: Any) -> Tensor:
    """C's ``fmod``: the remainder of a / b truncated toward 0, with the sign of ``a`` (NumPy's ``fmod``;
    ``remainder`` takes b's sign). Slopes 1 in a and -trunc(a / b) in b, as PyTorch's."""
    return _fmod(a, b)


def _copysign_da(g: Tensor, a: Any, b: Any) -> Tensor:
    # +1 where a's sign is kept, -1 where it flips, 0 at a == 0 (as PyTorch: the kink of |a| there)
    xp = g._backend.xp
    ad, bd = a._data, data_of(b)
    b_negative = xp.signbit(bd) if not isinstance(bd, (int, float)) else math.copysign(1.0, bd) < 0
    ratio = xp.where(ad == 0, 0, xp.where(xp.signbit(ad) != b_negative, -1, 1))
    return g * ratio.astype(g.dtype, copy=False)


def _no_slope(g: Tensor, a: Any, b: Any) -> Tensor:
    return _zero_slope(g)


_copysign = _binary_op("copysign", "copysign", (_copysign_da, _no_slope), ((True, True), (False, False)))


def copysign(a: Any, b: Any) -> Tensor:
    """|a| with the sign (bit) of b, broadcasting (NumPy's ``copysign``). The slope in a is +1 or -1 as the
    sign is kept or flipped (0 at a == 0); b gets a zero gradient (as PyTorch)."""
    return _copysign(a, b)


# PyTorch's (and the array API's) spellings.
asin, acos, atan, atan2 = arcsin, arccos, arctan, arctan2
asinh, acosh, atanh = arcsinh, arccosh, arctanh


# ------------------------------------------------------------ selection, clip
def where(cond: Any, a: Any = NOT_GIVEN, b: Any = NOT_GIVEN) -> Any:
    """``a`` where ``cond`` is true, else ``b`` (broadcast); no gradient flows to ``cond``.

    With the condition alone, NumPy's ``where(cond)``: ``nonzero(cond)``, a tuple of index tensors.
    """
    if a is NOT_GIVEN or b is NOT_GIVEN:
        if a is not NOT_GIVEN or b is not NOT_GIVEN:
            raise InvalidArgumentError("where: give both a and b, or neither (where(cond) is nonzero(cond), as NumPy)")
        from gradkit.ops.indexing import nonzero

        return nonzero(cond)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        cond = as_tensor(cond, "where")  # two constant branches: the condition gives the device
        a = as_tensor(a, "where", cond._backend) if not isinstance(a, SCALARS) else a
        b = as_tensor(b, "where", cond._backend)  # a Python float becomes float32, as in gk.tensor
    a, b, backend = operands("where", a, b)
    for value, other in ((a, b), (b, a)):
        if isinstance(other, Tensor):
            check_int_fits("where", value, other.dtype)  # NumPy would wrap an int8 branch's 300 silently
    given, cond = cond, as_tensor(cond, "where", backend)
    if cond is not given:  # a NumPy or CuPy array of the caller's, which has no version counter, is copied
        cond._data = private_copy(cond._data, given)
    c = cond._data
    try:
        data = backend.xp.where(c, data_of(a), data_of(b))
    except ValueError as exc:
        raise ShapeError(f"where: condition, a and b do not broadcast together ({exc})") from None
    except OverflowError:
        number = next(v for v in (a, b) if isinstance(v, int))
        raise out_of_range("where", number, data_of(b if number is a else a).dtype) from None
    # The condition is saved as the tensor: one changed in place before backward is refused, as in PyTorch.
    rules = (lambda g, c: where(c, g, 0.0), lambda g, c: where(c, 0.0, g))
    return record("where", data, backend, (tensor_or_none(a), tensor_or_none(b)), rules, (cond,), broadcast=True)


def _clip_dtype(dtype: np.dtype, bounds: list) -> np.dtype:
    """NumPy 2's dtype of ``clip`` (NEP 50), on NumPy 1.x too: tensors and NumPy scalars count by their dtype,
    Python numbers by their kind only (an int widens bools to int64, a float widens integers to float64)."""
    result = np.result_type(dtype, *(b.dtype for b in bounds if isinstance(b, (Tensor, np.generic))))
    for b in bounds:
        if isinstance(b, (Tensor, np.generic, bool)):
            continue
        if isinstance(b, int) and result.kind == "b":
            result = np.dtype(np.int64)
        elif isinstance(b, float) and result.kind in "biu":
            result = np.dtype(np.float64)
    return result


def clip(
    x: Any,
    lo: Any = None,
    hi: Any = None,
    *,
    a_min: Any = None,
    a_max: Any = None,
    min: Any = None,  # noqa: A002 - NumPy 2.1's names
    max: Any = None,  # noqa: A002
) -> Tensor:
    """``x`` limited to [lo, hi]; either bound may be None. Tensor bounds get gradients too. At a bound
    the input's slope is 1 and the bound's 0 (PyTorch's up to 2.13; 2.14 changed it).

    NumPy's keywords ``a_min=``/``a_max=`` and NumPy 2.1's ``min=``/``max=`` name the same bounds; a bound
    given twice (``clip(x, 0, a_min=1)``) is an InvalidArgumentError. A Python number ``x`` is a 0-d
    tensor with NumPy's dtype (float64 for a float).
    """
    lo_name, hi_name = "lo", "hi"
    if a_min is not None or a_max is not None or min is not None or max is not None:
        lo_name, lo = _one_bound("lower", (("lo", lo), ("a_min", a_min), ("min", min)))
        hi_name, hi = _one_bound("upper", (("hi", hi), ("a_max", a_max), ("max", max)))
    x = _operand(x, "clip")
    for name, bound in ((lo_name, lo), (hi_name, hi)):
        if bound is not None and not isinstance(bound, Tensor) and (
            isinstance(bound, (str, bytes, complex)) or getattr(bound, "dtype", np.dtype("f8")).kind not in "biuf"
        ):
            raise ArgumentTypeError(
                f"clip: {name} must be a number or a tensor, got {type(bound).__name__} {bound!r:.40}"
            )
    # A bound that is neither a number nor a tensor (a list, a NumPy array) becomes a constant tensor.
    lo, hi = (b if b is None or isinstance(b, (Tensor, *SCALARS)) else as_tensor(b, "clip", x._backend)
              for b in (lo, hi))
    # NumPy's clip is one ufunc of x and both bounds: its dtype comes from all three at once (Python numbers
    # weak), and a Python int bound must fit that dtype (an int bound beside a float one need not fit x's).
    result_dtype = _clip_dtype(x.dtype, [b for b in (lo, hi) if b is not None])
    for bound in (lo, hi):
        check_int_fits("clip", bound, result_dtype)
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        return _clip_to_tensor_bounds(x, lo, hi, result_dtype)
    if lo is None and hi is None:
        raise InvalidArgumentError("clip: at least one of lo (a_min, min) and hi (a_max, max) must be given")
    try:
        data = x._backend.xp.clip(x._data, lo, hi)
    except OverflowError:
        raise out_of_range("clip", hi if isinstance(hi, int) else lo, x.dtype) from None
    if LEGACY_PROMOTION and data.dtype != x.dtype and x.dtype.kind == "f":  # NumPy 1.x: a 0-d x and float bounds
        data = data.astype(x.dtype)  # give float64 (no value-based casting among scalars); NumPy 2 keeps x's dtype

    def rule(g: Tensor, x: Tensor) -> Tensor:
        inside = x._backend.xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x._data >= lo
        if hi is not None:
            inside &= x._data <= hi
        return g * tied_slope(g, inside, anchor_of(x)) if _mode.enabled else g * inside

    return record("clip", data, x._backend, (x,), (rule,), (x,), info=(lo, hi))  # info: the bounds, for gk.trace


def _one_bound(which: str, spellings: tuple) -> tuple[str, Any]:
    """The (name, value) of the one spelling of a clip bound that was given (not None)."""
    given = [(name, value) for name, value in spellings if value is not None]
    if len(given) > 1:
        raise InvalidArgumentError(
            f"clip: the {which} bound was given twice, as {given[0][0]} and {given[1][0]}; "
            f"give only one of {', '.join(name for name, _ in spellings)}"
        )
    return given[0] if given else (spellings[0][0], None)


def _clip_to_tensor_bounds(x: Tensor, lo: Any, hi: Any, dtype: Any) -> Tensor:
    """``clip`` with a tensor bound: ``minimum(maximum(x, lo), hi)`` in ``dtype`` (the three operands'
    common dtype, as NumPy's clip ufunc) with PyTorch's clamp gradients.

    x's gradient flows where ``lo <= x <= hi`` (ties included), lo's where ``x < lo < hi``, hi's
    where ``x > hi`` or ``hi < lo`` (then the result is hi).
    """
    backend = x._backend
    for bound in (lo, hi):
        if isinstance(bound, Tensor) and bound._backend is not backend:
            raise DeviceError(f"clip: the input is on {x.device}, a bound on {bound.device}")
    xp, xd, ld, hd = backend.xp, x._data, data_of(lo), data_of(hi)
    if xd.dtype != dtype:  # x in the result's dtype first: one maximum after the other could widen more than
        xd = xd.astype(dtype)  # NumPy's one ufunc, and a Python int bound may only fit the wider dtype
    try:
        data = xd if ld is None else xp.maximum(xd, ld)
        data = data if hd is None else xp.minimum(data, hd)
        if data.dtype != dtype:
            data = data.astype(dtype)
    except ValueError as exc:
        raise ShapeError(f"clip: the bounds do not broadcast with the input ({exc})") from None
    except OverflowError:
        raise out_of_range("clip", hd if isinstance(hd, int) else ld, x.dtype) from None
    x_in = lo_hit = hi_hit = None
    if ld is not None:
        x_in = xd >= ld
        lo_hit = xd < ld if hd is None else (xd < ld) & (ld < hd)
    if hd is not None:
        x_in = xd <= hd if x_in is None else x_in & (xd <= hd)
        hi_hit = xd > hd if ld is None else (xd > hd) | (hd < ld)
    rules = (
        lambda g, x_in, lo_hit, hi_hit: g * x_in,
        lambda g, x_in, lo_hit, hi_hit: g * lo_hit,
        lambda g, x_in, lo_hit, hi_hit: g * hi_hit,
    )
    inputs = (x, tensor_or_none(lo), tensor_or_none(hi))
    return record("clip", data, backend, inputs, rules, (x_in, lo_hit, hi_hit), broadcast=True)


# --------------------------------------------------------------- no gradient
_COMPARISONS = frozenset(("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"))
_INT64 = np.iinfo(np.int64)


def _widened(a: Any, b: Any) -> tuple[Any, Any]:
    """A Python int beyond an integer tensor's dtype compared as NumPy 2 does (``int8 < 300`` is all True; CuPy
    raises): the tensor as int64, or as float64 against an infinity for an int beyond int64."""
    for t, n in ((a, b), (b, a)):
        if type(n) is int and isinstance(t, Tensor) and t.dtype.kind in "iu":
            info = np.iinfo(t.dtype)
            if not info.min <= n <= info.max:
                if not _INT64.min <= n <= _INT64.max:
                    wide, n = t._data.astype(np.float64), math.copysign(math.inf, n)
                else:
                    wide = t._data.astype(np.int64)
                wide = _make(wide, t._backend)
                return (wide, n) if t is a else (n, wide)
    return a, b


def compare(fn: str, a: Any, b: Any) -> Tensor:
    """An elementwise comparison, logical or bitwise op by NumPy name (no gradient).

    Comparisons and logical ops give bool tensors; ``bitwise_and``/``bitwise_or``
    (the ``&`` and ``|`` operators) keep NumPy's integer results.
    """
    if fn in _COMPARISONS:
        a, b = _widened(a, b)
    a, b, backend = operands(fn, a, b)
    ad, bd = data_of(a), data_of(b)
    try:
        data = getattr(backend.xp, fn)(ad, bd)
    except ValueError as exc:
        raise ShapeError(f"{fn}: shapes do not broadcast ({exc})") from None
    except TypeError:
        da, db = (getattr(d, "dtype", type(d).__name__) for d in (ad, bd))
        raise DTypeError(f"{fn}: not defined for operands of dtypes {da} and {db} (bool or integer expected)") from None
    except OverflowError as exc:
        raise _binary_error(fn, ad, bd, exc) from None
    return Tensor._make(data, backend)


def _rounding(name: str, x: Any, fn: Any) -> Tensor:
    """A step function: its gradient is zero (as PyTorch); integers give a new integer tensor."""
    x = _operand(x, name)
    if x.dtype.kind == "b":
        raise DTypeError(f"{name}: not defined for a bool tensor")
    if x.dtype.kind != "f":  # whole numbers already: a copy, in their own dtype (NumPy 1.x would give float64)
        data = fn(x._backend.xp, x._data) if name == "round" else x._data.copy()
        return Tensor._make(data, x._backend)
    return record(name, fn(x._backend.xp, x._data), x._backend, (x,), (_zero_slope,))


def _zero_slope(g: Tensor) -> Tensor:
    return Tensor._make(g._backend.xp.zeros_like(g._data), g._backend)  # not g * 0: inf * 0 is NaN


def floor(x: Any) -> Tensor:
    """The largest whole number <= x, elementwise; its gradient is zero."""
    return _rounding("floor", x, lambda xp, d: xp.floor(d))


def ceil(x: Any) -> Tensor:
    """The smallest whole number >= x, elementwise; its gradient is zero."""
    return _rounding("ceil", x, lambda xp, d: xp.ceil(d))


def trunc(x: Any) -> Tensor:
    """The whole number between 0 and x nearest x, elementwise (NumPy's ``trunc`` and ``fix``, PyTorch's
    ``trunc`` and ``fix``); its gradient is zero."""
    return _rounding("trunc", x, lambda xp, d: xp.trunc(d))


fix = trunc


def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001 - NumPy's and PyTorch's name
    """Round half to even at ``decimals`` places (as NumPy); its gradient is zero."""
    decimals = whole(decimals, "round", "decimals")
    return _rounding("round", x, lambda xp, d: xp.round(d, decimals))


def isnan(x: Any) -> Tensor:
    """Where x is NaN, as a bool tensor."""
    x = _operand(x, "isnan")
    return Tensor._make(x._backend.xp.isnan(x._data), x._backend)


def isfinite(x: Any) -> Tensor:
    """Where x is neither infinite nor NaN, as a bool tensor."""
    x = _operand(x, "isfinite")
    return Tensor._make(x._backend.xp.isfinite(x._data), x._backend)


def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """PyTorch's name for :func:`clip`: ``x`` limited to [min, max]."""
    return clip(x, min, max)


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True when every ``|a - b| <= atol + rtol * |b|`` (NumPy's test, broadcasting), as a Python bool."""
    a, b, backend = operands("allclose", a, b)
    rtol, atol = real(rtol, "allclose", "rtol", low=0.0), real(atol, "allclose", "atol", low=0.0)
    try:
        return bool(backend.xp.allclose(data_of(a), data_of(b), rtol=rtol, atol=atol, equal_nan=bool(equal_nan)))
    except ValueError as exc:
        raise ShapeError(f"allclose: shapes do not broadcast ({exc})") from None


def logical_not(x: Any) -> Tensor:
    """Elementwise not, as a bool tensor."""
    x = _operand(x, "logical_not")
    return Tensor._make(x._backend.xp.logical_not(x._data), x._backend)


def invert(x: Any) -> Tensor:
    """``~x``: logical not of a bool tensor, bitwise not of an integer one (as NumPy); no gradient."""
    x = _operand(x, "invert")
    if x._data.dtype.kind not in "biu":
        raise DTypeError(
            f"invert (~): defined for bool and integer tensors, got {x._data.dtype}; "
            "for a float tensor use gk.logical_not(x) or a comparison"
        )
    return Tensor._make(x._backend.xp.invert(x._data), x._backend)


def heaviside(x: Any, values: Any) -> Tensor:
    """NumPy's step function: 0 where x < 0, ``values`` where x == 0, 1 where x > 0 (NaN stays NaN),
    broadcasting; no gradient (a step)."""
    a, b, backend = operands("heaviside", x, values)
    ad, bd = data_of(a), data_of(b)
    try:
        data = backend.xp.heaviside(ad, bd)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _binary_error("heaviside", ad, bd, exc) from None
    return Tensor._make(data, backend)


def signbit(x: Any) -> Tensor:
    """Where the sign bit is set (negative numbers, -0.0, NaNs with the bit), as a bool tensor; no gradient."""
    x = _operand(x, "signbit")
    try:
        data = x._backend.xp.signbit(x._data)
    except TypeError as exc:
        raise DTypeError(f"signbit: not defined for a tensor of dtype {x.dtype} ({exc})") from None
    return Tensor._make(data, x._backend)
