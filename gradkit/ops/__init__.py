"""Every differentiable array operation, grouped by kind."""

from gradkit.ops.elementwise import (
    abs,
    add,
    clip,
    compare,
    cos,
    divide,
    exp,
    expm1,
    floor_divide,
    invert,
    log,
    log1p,
    logical_not,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    relu,
    remainder,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    where,
)
from gradkit.ops.indexing import gather, getitem, index_add, take
from gradkit.ops.linalg import dot, einsum, matmul, outer
from gradkit.ops.nn_ops import log_softmax, softmax
from gradkit.ops.reduce import all, any, argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var
from gradkit.ops.shape import (
    astype,
    broadcast_to,
    clone,
    concatenate,
    expand,
    expand_dims,
    flatten,
    flip,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    to_device,
    transpose,
    unsqueeze,
)

__all__ = [
    "abs", "add", "all", "any", "argmax", "argmin", "astype", "broadcast_to", "clip", "clone", "compare", "concatenate",
    "cos", "divide", "dot", "einsum", "exp", "expand", "expand_dims", "expm1", "flatten", "flip", "floor_divide",
    "gather", "getitem", "index_add", "invert", "log", "log1p", "log_softmax", "logical_not", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "outer", "pad",
    "permute", "power", "prod", "relu", "remainder", "reshape", "sigmoid", "sign", "sin", "softmax", "split",
    "sqrt", "square", "squeeze", "stack", "std", "subtract", "sum", "sum_to", "swapaxes", "take",
    "tan", "tanh", "to_device", "transpose", "unsqueeze", "var", "where",
]
