"""gradkit: reverse-mode automatic differentiation on NumPy and CuPy arrays."""

import math

# subpackages (gk.cuda imports CuPy only when used; gk.special, torch.special's names, neither SciPy nor CuPy;
# gk.return_types, the named tuples of torch.return_types)
from gradkit import amp, autograd, cuda, data, func, linalg, nn, optim, return_types, special, utils
from gradkit.amp import GradScaler, autocast, get_autocast_dtype, is_autocast_enabled
from gradkit.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradkit.backends import (
    cuda_available,
    default_device,
    device,
    env_choice,
    get_rng_state,
    manual_seed,
    set_rng_state,
)
from gradkit.backends.torch_flags import (  # PyTorch's global switches (gk.backends.cuda/.cudnn hold the others)
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    use_deterministic_algorithms,
)
from gradkit.creation import (
    arange,
    array,
    asarray,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from gradkit.dtypes import (
    bfloat16,
    bool_,
    channels_last,
    channels_last_3d,
    contiguous_format,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    memory_format,
    preserve_format,
    uint8,
)
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
    acos,
    acosh,
    add,
    all,
    allclose,
    amax,
    amin,
    any,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argsort,
    argwhere,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    average,
    broadcast_to,
    cat,
    cbrt,
    ceil,
    chunk,
    clamp,
    clip,
    clone,
    concatenate,
    contiguous,
    copysign,
    cos,
    cosh,
    count_nonzero,
    cumprod,
    cumsum,
    deg2rad,
    degrees,
    diag,
    diagonal,
    diff,
    digamma,
    divide,
    dot,
    einsum,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expand,
    expand_dims,
    expm1,
    fabs,
    fix,
    flatten,
    flip,
    floor,
    floor_divide,
    fmod,
    gammaln,
    gather,
    heaviside,
    hypot,
    index_select,
    isfinite,
    isnan,
    lgamma,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    median,
    meshgrid,
    min,
    minimum,
    moveaxis,
    multiply,
    nanmean,
    nanmedian,
    nanpercentile,
    nanquantile,
    nansum,
    negative,
    nonzero,
    norm,
    outer,
    pad,
    percentile,
    permute,
    power,
    prod,
    ptp,
    quantile,
    rad2deg,
    radians,
    reciprocal,
    relu,
    remainder,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    round,
    rsqrt,
    sigmoid,
    sign,
    signbit,
    sin,
    sinc,
    sinh,
    softmax,
    sort,
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
    tile,
    topk,
    transpose,
    tril,
    triu,
    trunc,
    unbind,
    unsqueeze,
    var,
    where,
    xlogy,
)
from gradkit.ops.indexing import masked_select, scatter, scatter_add
from gradkit.ops.numpy_extra import *  # noqa: F403
from gradkit.ops.numpy_indexing import *  # noqa: F403  (NumPy's names, listed in each module's __all__)
from gradkit.ops.numpy_misc import *  # noqa: F403
from gradkit.ops.numpy_more import (
    append,
    array_split,
    broadcast_arrays,
    column_stack,
    convolve,
    correlate,
    cross,
    dstack,
    fliplr,
    flipud,
    fmax,
    fmin,
    gradient,
    hstack,
    inner,
    interp,
    kron,
    nan_to_num,
    polyval,
    put_along_axis,
    ravel,
    rot90,
    select,
    take_along_axis,
    tensordot,
    trapezoid,
    vander,
    vdot,
    vstack,
)
from gradkit.ops.numpy_stats import (
    bincount,
    corrcoef,
    cov,
    histogram,
    isclose,
    isinf,
    nanargmax,
    nanargmin,
    nancumprod,
    nancumsum,
    nanmax,
    nanmin,
    nanprod,
    nanstd,
    nanvar,
    searchsorted,
    unique,
)
from gradkit.ops.numpy_ufuncs import *  # noqa: F403
from gradkit.ops.special import logit, polygamma
from gradkit.ops.special_bessel import i0
from gradkit.ops.torch_compat import *  # noqa: F403  (PyTorch's names, listed in its __all__)
from gradkit.ops.torch_namespace import *  # noqa: F403  (PyTorch's top-level functions, listed in its __all__)
from gradkit.tensor import Tensor
from gradkit.testing import gradcheck
from gradkit.tracing import Trace, trace
from gradkit.viz import render_graph, to_dot

# isort: split
# PyTorch's names that tutorial programs use: random sampling, inference mode, is_tensor
from gradkit.autograd.grad_mode import inference_mode, is_inference_mode_enabled
from gradkit.creation import multinomial, randperm
from gradkit.random_generator import Generator
from gradkit.tensor import is_tensor

# PyTorch's other names of dtypes (``torch.long``); ``gk.float`` and ``gk.int`` are served by __getattr__ below
long, double, half, short = int64, float64, float16, int16

# NumPy's constants and aliases that ported NumPy code uses (``np.pi`` -> ``gk.pi``)
pi, e, inf, nan = math.pi, math.e, math.inf, math.nan
newaxis = None
absolute = abs
mod = remainder

env_choice()  # an unknown GRADKIT_BACKEND fails at import, naming the allowed values

__version__ = "0.1.0"

#: torch.compile's keywords (PyTorch 2.x), accepted by gk.compile and not used
_COMPILE_KEYWORDS = frozenset({"fullgraph", "dynamic", "backend", "mode", "options", "name", "disable",
                               "recompile_limit", "isolate_recompiles", "dynamic_shapes"})


def _compile(model: object = None, **kwargs: object) -> object:
    """``gk.compile(model)``: ``model`` itself, unchanged (PyTorch's ``torch.compile``, so that
    ``model = torch.compile(model)`` and ``@torch.compile`` port). gradkit runs eagerly and compiles nothing;
    torch.compile's keywords (``mode=``, ``fullgraph=``, ``dynamic=``, ``backend=``, ``options=``,
    ``disable=``, ...) are accepted and ignored, another keyword is an ArgumentTypeError."""
    unknown = sorted(set(kwargs) - _COMPILE_KEYWORDS)
    if unknown:
        raise ArgumentTypeError(f"compile: unexpected keyword argument(s) {', '.join(unknown)} (torch.compile "
                                f"takes {', '.join(sorted(_COMPILE_KEYWORDS))})")
    if model is None:  # @gk.compile(mode=...): the decorator
        return lambda fn: fn
    if not callable(model):
        raise ArgumentTypeError(f"compile: expected a Module or a function, got {type(model).__name__}")
    return model


def __getattr__(name: str) -> object:
    """``gk.distributions`` is imported on first use (its ~40 modules would add about a tenth of a second to
    every ``import gradkit``); ``import gradkit.distributions as D`` works as usual."""
    if name == "bool":  # torch.bool; kept out of ``from gradkit import *``, where it would hide the builtin
        return bool_
    if name in ("float", "int"):  # torch.float (float32) and torch.int (int32), likewise
        return float32 if name == "float" else int32
    if name == "compile":  # torch.compile, likewise kept out of ``from gradkit import *`` (the builtin compile)
        return _compile
    if name == "range":  # torch.range, likewise kept out of ``from gradkit import *``
        from gradkit.ops.torch_namespace import range as torch_range

        return torch_range
    if name == "distributions":
        import importlib

        return importlib.import_module("gradkit.distributions")
    raise AttributeError(f"module 'gradkit' has no attribute {name!r}")
