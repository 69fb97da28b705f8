"""PyTorch's ``torch._foreach_*`` functions: one operation over a list of tensors (EMA updates, hand-written
optimisers, ``swa_utils``-style averaging: ``torch._foreach_lerp_(ema_params, params, 1 - decay)``).

PyTorch runs them as fused multi-tensor kernels; here each is a loop of the ``Tensor`` method of the same name,
so values, dtypes, broadcasting, autograd and the in-place rules (a leaf that requires grad is refused outside
``gk.no_grad()``) are exactly the method's. Arguments follow PyTorch's overloads: the second operand is a number
(the same for every tensor), a list of numbers or of tensors (one per tensor, of the same length), or, for
``add``/``sub``/``mul``/``div``, one tensor for all. Out-of-place forms return a tuple, the in-place forms the list
they were given (PyTorch's Python bindings do the same). ``_foreach_norm(tensors, ord=2, dtype=None)`` gives one
0-d tensor per tensor, ``_foreach_max`` the maxima, ``_foreach_powsum`` ``sum(|x|**ord)`` per tensor.
"""

# ruff: noqa: A002 - PyTorch's argument names (input, ord)

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.tensor import Tensor

_UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp", "expm1", "floor", "frac",
          "lgamma", "log", "log10", "log1p", "log2", "neg", "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin",
          "sinh", "sqrt", "tan", "tanh", "trunc")  # fmt: skip
_BINARY = ("add", "sub", "mul", "div", "pow", "clamp_min", "clamp_max", "maximum", "minimum")
_WITH_ALPHA = ("add", "sub")
_ONE_TENSOR = ("add", "sub", "mul", "div")  # PyTorch's ``.Tensor`` overloads: one tensor for every element


def _tensors(values: Any, op: str, name: str = "self") -> list:
    if isinstance(values, Tensor) or not isinstance(values, Sequence):
        raise ArgumentTypeError(f"{op}: {name} must be a list or tuple of Tensors, got {type(values).__name__}")
    values = list(values)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: {name}[{i}] must be a Tensor, got {type(t).__name__}")
    return values


def _per_item(other: Any, n: int, op: str, name: str, one_tensor: bool = True) -> list:
    """``other`` spread over ``n`` tensors: a number or (where allowed) one tensor for all, or one per tensor."""
    if isinstance(other, Tensor):
        if not one_tensor:
            raise ArgumentTypeError(f"{op}: {name} must be a number or a list, got a Tensor")
        return [other] * n
    if isinstance(other, Sequence) and not isinstance(other, str):
        other = list(other)
        if len(other) != n:
            raise ShapeError(f"{op}: Tensor lists must have the same number of tensors, got {n} and {len(other)}")
        return other
    if isinstance(other, (bool, int, float)) or hasattr(other, "__float__"):
        return [other] * n
    raise ArgumentTypeError(f"{op}: {name} must be a number, a Tensor or a list, got {type(other).__name__}")


def _inplace(method: str) -> Callable[..., Any]:
    """``t.method_(...)`` where the Tensor has it, else ``t.copy_(t.method(...))`` (``maximum_``, ``minimum_``)."""

    def run(t: Tensor, *args: Any, **kwargs: Any) -> None:
        fn = getattr(t, method + "_", None)
        if fn is not None:
            fn(*args, **kwargs)
        else:
            t.copy_(getattr(t, method)(*args, **kwargs))

    return run


def _named(op: str, out_of_place: Callable, in_place: Callable, args: str, each: str, each_in_place: str) -> tuple:
    """The pair of ``torch.{op}`` functions, with their names and docstrings (``each``, ``each_in_place``: what
    runs per item)."""
    out_of_place.__name__ = op
    in_place.__name__ = op + "_"
    out_of_place.__doc__ = f"``torch.{op}({args})``: {each} (a tuple)."
    in_place.__doc__ = f"``torch.{op}_({args})``: {each_in_place}."
    return out_of_place, in_place


def _make_unary(name: str) -> tuple:
    op = f"_foreach_{name}"

    def out_of_place(self: Any) -> tuple:
        return tuple(getattr(t, name)() for t in _tensors(self, op))

    def in_place(self: Any) -> list:
        tensors = _tensors(self, op + "_")
        for t in tensors:
            getattr(t, name + "_")()
        return self

    return _named(op, out_of_place, in_place, "tensors", f"``t.{name}()`` for each tensor",
                  f"``t.{name}_()`` for each tensor")


def _make_binary(name: str) -> tuple:
    op = f"_foreach_{name}"
    run = _inplace(name)

    def _args(self: Any, other: Any, alpha: Any, opname: str) -> tuple:
        tensors = _tensors(self, opname)
        others = _per_item(other, len(tensors), opname, "other", one_tensor=name in _ONE_TENSOR)
        if alpha is not None and name not in _WITH_ALPHA:
            raise ArgumentTypeError(f"{opname}: got an unexpected keyword argument 'alpha'")
        kwargs = {} if alpha is None or alpha == 1 else {"alpha": alpha}
        if kwargs and not all(isinstance(o, Tensor) for o in others):
            raise ArgumentTypeError(f"{opname}: alpha= goes with a list of Tensors or one Tensor, not numbers")
        return tensors, others, kwargs

    def out_of_place(self: Any, other: Any, *, alpha: Any = None) -> tuple:
        tensors, others, kwargs = _args(self, other, alpha, op)
        return tuple(getattr(t, name)(o, **kwargs) for t, o in zip(tensors, others, strict=True))

    def in_place(self: Any, other: Any, *, alpha: Any = None) -> list:
        tensors, others, kwargs = _args(self, other, alpha, op + "_")
        for t, o in zip(tensors, others, strict=True):
            run(t, o, **kwargs)
        return self

    return _named(op, out_of_place, in_place, "tensors, other", f"``t.{name}(o)`` for each pair",
                  f"``t.{name}_(o)`` for each pair")


_namespace = globals()
for _name in _UNARY:
    _namespace[f"_foreach_{_name}"], _namespace[f"_foreach_{_name}_"] = _make_unary(_name)
for _name in _BINARY:
    _namespace[f"_foreach_{_name}"], _namespace[f"_foreach_{_name}_"] = _make_binary(_name)


_pow = _foreach_pow  # noqa: F821 - made by the loop above


def _foreach_pow(self: Any, exponent: Any) -> tuple:  # noqa: F811
    """``torch._foreach_pow(tensors, exponent)`` (a number, a list of numbers or tensors), or
    ``torch._foreach_pow(number, tensors)``: ``number ** t`` for each tensor."""
    if not isinstance(self, (list, tuple)):
        return tuple(self ** t for t in _tensors(exponent, "_foreach_pow", "exponent"))
    return _pow(self, exponent)


def _lerp_weights(weight: Any, n: int, op: str) -> list:
    return _per_item(weight, n, op, "weight", one_tensor=False)


def _foreach_lerp(self: Any, tensors1: Any, weight: Any) -> tuple:
    """``torch._foreach_lerp(starts, ends, weight)``: ``s.lerp(e, w)`` for each pair (a tuple); ``weight`` a number, a
    list of numbers or a list of tensors."""
    op = "_foreach_lerp"
    starts, ends = _tensors(self, op), _tensors(tensors1, op, "tensors1")
    _per_item(ends, len(starts), op, "tensors1")
    weights = _lerp_weights(weight, len(starts), op)
    return tuple(s.lerp(e, w) for s, e, w in zip(starts, ends, weights, strict=True))


def _foreach_lerp_(self: Any, tensors1: Any, weight: Any) -> list:
    """``torch._foreach_lerp_(starts, ends, weight)``: ``s.lerp_(e, w)`` for each pair (EMA: ``weight = 1 - decay``)."""
    op = "_foreach_lerp_"
    starts, ends = _tensors(self, op), _tensors(tensors1, op, "tensors1")
    _per_item(ends, len(starts), op, "tensors1")
    weights = _lerp_weights(weight, len(starts), op)
    for s, e, w in zip(starts, ends, weights, strict=True):
        s.lerp_(e, w)
    return self


def _make_addc(name: str) -> tuple:
    op = f"_foreach_{name}"

    def _args(self: Any, tensor1: Any, tensor2: Any, value: Any, opname: str) -> tuple:
        tensors = _tensors(self, opname)
        t1, t2 = _tensors(tensor1, opname, "tensor1"), _tensors(tensor2, opname, "tensor2")
        _per_item(t1, len(tensors), opname, "tensor1")
        _per_item(t2, len(tensors), opname, "tensor2")
        if isinstance(value, Tensor):  # PyTorch's .Tensor overload: a 1-d tensor of one value per tensor
            if value.ndim != 1 or value.shape[0] != len(tensors):
                raise ShapeError(f"{opname}: a Tensor of scalars must be 1-d with one value per tensor, got shape "
                                 f"{value.shape} for {len(tensors)} tensors")
            values = [float(v) for v in value.tolist()]
        else:
            values = _per_item(value, len(tensors), opname, "value", one_tensor=False)
        return tensors, t1, t2, values

    def out_of_place(self: Any, tensor1: Any, tensor2: Any, value: Any = 1) -> tuple:
        tensors, t1, t2, values = _args(self, tensor1, tensor2, value, op)
        return tuple(getattr(t, name)(a, b, value=v) for t, a, b, v in zip(tensors, t1, t2, values, strict=True))

    def in_place(self: Any, tensor1: Any, tensor2: Any, value: Any = 1) -> list:
        tensors, t1, t2, values = _args(self, tensor1, tensor2, value, op + "_")
        for t, a, b, v in zip(tensors, t1, t2, values, strict=True):
            getattr(t, name + "_")(a, b, value=v)
        return self

    out_of_place.__name__ = op
    in_place.__name__ = op + "_"
    out_of_place.__doc__ = f"``torch.{op}(tensors, tensor1, tensor2, value=1)``: ``t.{name}(a, b, value=v)`` each."
    in_place.__doc__ = f"``torch.{op}_(tensors, tensor1, tensor2, value=1)``: ``t.{name}_(a, b, value=v)`` each."
    return out_of_place, in_place


_foreach_addcmul, _foreach_addcmul_ = _make_addc("addcmul")
_foreach_addcdiv, _foreach_addcdiv_ = _make_addc("addcdiv")


def _foreach_copy_(self: Any, src: Any, non_blocking: bool = False) -> list:
    """``torch._foreach_copy_(tensors, src)``: ``t.copy_(s)`` for each pair."""
    op = "_foreach_copy_"
    tensors, sources = _tensors(self, op), _tensors(src, op, "src")
    _per_item(sources, len(tensors), op, "src")
    for t, s in zip(tensors, sources, strict=True):
        t.copy_(s)
    return self


def _foreach_clone(self: Any, *, memory_format: Any = None) -> tuple:
    """``torch._foreach_clone(tensors)``: ``t.clone()`` for each tensor (a tuple)."""
    return tuple(t.clone() for t in _tensors(self, "_foreach_clone"))


def _foreach_zero_(self: Any) -> list:
    """``torch._foreach_zero_(tensors)``: ``t.zero_()`` for each tensor."""
    for t in _tensors(self, "_foreach_zero_"):
        t.zero_()
    return self


def _foreach_norm(self: Any, ord: Any = 2, dtype: Any = None) -> tuple:
    """``torch._foreach_norm(tensors, ord=2, dtype=None)``: ``linalg.vector_norm(t, ord, dtype=dtype)`` of each
    tensor, a 0-d tensor each (a tuple)."""
    from gradkit.linalg import vector_norm

    return tuple(vector_norm(t, ord, dtype=dtype) for t in _tensors(self, "_foreach_norm"))


def _foreach_powsum(self: Any, ord: Any = 2, dtype: Any = None) -> tuple:
    """``torch._foreach_powsum(tensors, ord=2, dtype=None)``: ``sum(|t| ** ord)`` of each tensor (a tuple)."""
    from gradkit.dtypes import to_dtype

    out = []
    for t in _tensors(self, "_foreach_powsum"):
        if dtype is not None:
            t = t.to(to_dtype(dtype, "_foreach_powsum"))
        out.append(t.abs().pow(ord).sum())
    return tuple(out)


def _foreach_max(self: Any) -> tuple:
    """``torch._foreach_max(tensors)``: the largest element of each tensor, 0-d (a tuple)."""
    return tuple(t.max() for t in _tensors(self, "_foreach_max"))


def _foreach_mm(self: Any, mat2: Any) -> tuple:
    """``torch._foreach_mm(tensors, mat2)``: ``a @ b`` for each pair of matrices (a tuple)."""
    op = "_foreach_mm"
    a, b = _tensors(self, op), _tensors(mat2, op, "mat2")
    _per_item(b, len(a), op, "mat2")
    return tuple(x.mm(y) for x, y in zip(a, b, strict=True))


__all__ = sorted(name for name in _namespace if name.startswith("_foreach_"))
del _namespace, _name
