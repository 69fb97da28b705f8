"""gradkit: reverse-mode automatic differentiation on NumPy and CuPy arrays."""

from gradkit import cuda, data, nn, optim  # gk.data, gk.nn, gk.optim; gk.cuda imports CuPy only when used
from gradkit.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradkit.backends import cuda_available, default_device, device, env_choice, manual_seed
from gradkit.creation import (
    arange,
    empty,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from gradkit.dtypes import bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    BackendError,
    CheckpointError,
    DeviceError,
    DTypeError,
    GradcheckError,
    GradkitError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.functional import grad, hessian, jacobian, jvp, value_and_grad, vjp
from gradkit.io import load, save
from gradkit.ops import (
    abs,
    add,
    all,
    any,
    argmax,
    argmin,
    broadcast_to,
    clip,
    clone,
    concatenate,
    cos,
    divide,
    dot,
    einsum,
    exp,
    expand,
    expand_dims,
    expm1,
    flatten,
    flip,
    floor_divide,
    gather,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    outer,
    pad,
    permute,
    power,
    prod,
    relu,
    remainder,
    reshape,
    sigmoid,
    sign,
    sin,
    softmax,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    swapaxes,
    take,
    tan,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from gradkit.tensor import Tensor
from gradkit.testing import gradcheck
from gradkit.tracing import Trace, trace
from gradkit.viz import render_graph, to_dot

env_choice()  # an unknown GRADKIT_BACKEND fails at import, naming the allowed values

__version__ = "0.1.0"
