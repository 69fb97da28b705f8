"""``gk.autocast``: PyTorch's autocast (thread-local, nestable, a decorator too) for the matmul family and the
float32 ops.

Inside ``with gk.autocast("cuda"):`` (or ``"cpu"`` with ``dtype=gk.float16``) the matrix products
(``@``/``matmul``, ``mm``, ``bmm``, ``mv``, ``addmm``, ``baddbmm``, ``einsum``, ``F.linear``, the convolutions and
transposed convolutions, the recurrent layers and cells) cast their floating operands to the autocast dtype and
return that dtype. The ops of :data:`FLOAT32_OPS` for the tensor's device type (on "cuda" PyTorch's documented
list: exp, log, pow, sum, softmax, log_softmax, layer_norm, the norms, the losses ...; on "cpu" what
``torch.autocast("cpu")`` does: the losses, prod, trace, quantile, the 3-d pools, max unpooling, the matrix
functions) cast float16 operands to float32 and return float32. Every cast is a recorded ``astype``, so
gradients reach the inputs in their own dtype, as PyTorch's. float64 tensors, integer
tensors and tensors of the other device type are left alone (PyTorch's eligibility rule), and so are calls
with an explicit ``dtype=``. A composite on the list (``cross_entropy``, ``normalize``, ...) casts once at its
entry; the ops it calls then see float32. ``F.binary_cross_entropy`` (and ``nn.BCELoss``) inside an enabled
"cuda" region raises :class:`AutocastUnsafeOpError`, as PyTorch's; use ``binary_cross_entropy_with_logits``.

The ops pay for this with one module-level read when no autocast region is active anywhere: they test
``autocast_mode.active`` (the number of enabled regions entered, over all threads) and only then call
:func:`cast` or :func:`to_float32`, which read this thread's state. A backward pass run inside a region is
not cast by ``to_float32`` (the rules compute in the forward pass's dtypes). Casts of leaf tensors that
require grad (the weights) to the autocast dtype are cached for the outermost region, as PyTorch's
(``cache_enabled``), keyed also by the tensor's version (an in-place update makes a fresh cast) and by grad
mode (a cast made under ``no_grad`` has no graph); the float32 casts are not cached (nor are PyTorch's). A
region entered during a backward pass (``gk.utils.checkpoint``'s recomputation under the forward's regions) casts
again, into a cache of its own.
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.dtypes import bfloat16 as _bfloat16
from gradkit.dtypes import is_bfloat16 as _is_bfloat16
from gradkit.errors import ArgumentTypeError, DTypeError, GradkitError, InvalidArgumentError

__all__ = [
    "FLOAT32_OPS",
    "PROMOTE_OPS",
    "AutocastDtypeError",
    "AutocastUnsafeOpError",
    "BFLOAT16",
    "autocast",
    "clear_autocast_cache",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_enabled",
]

#: PyTorch's default CPU autocast dtype. Neither NumPy nor CuPy has bfloat16, so gradkit names it by
#: ``gk.bfloat16`` (a name equal to the string "bfloat16"; what ``get_autocast_dtype("cpu")`` returns until a
#: region sets float16) and refuses to compute in it.
BFLOAT16 = _bfloat16

_FLOAT16 = np.dtype(np.float16)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_DEVICE_TYPES = ("cpu", "cuda")

#: products PyTorch's autocast leaves alone per device type (``torch.dot``; ``mv``, ``addmv``, ``addr`` are not
#: on its CPU list)
_NOT_CAST = {"cpu": frozenset({"dot", "mv", "addmv", "addr"}), "cuda": frozenset({"dot"})}


#: the losses both of PyTorch's lists compute in float32 (``cross_entropy`` is on the CUDA list through its
#: ``log_softmax`` and ``nll_loss``; gradkit casts at its own entry, once)
_FLOAT32_LOSSES = frozenset({
    "binary_cross_entropy_with_logits", "cosine_embedding_loss", "cross_entropy", "hinge_embedding_loss", "huber_loss",
    "kl_div", "l1_loss", "margin_ranking_loss", "mse_loss", "multi_margin_loss", "multilabel_margin_loss", "nll_loss",
    "poisson_nll_loss", "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
})

#: not on PyTorch's CPU list (torch 2.14 refuses their float16 input inside the region too: no Half kernel, "lu_cpu"
#: or "triangular_solve_cpu" not implemented), but gradkit's function also serves a name that is on it, and
#: computes in float32 for both: ``linalg.pinv`` is ``pinverse``, ``linalg.lu_factor``/``lu_factor_ex``/``lu`` are
#: ``torch.lu`` (``_lu_with_info``), ``linalg.lu_solve`` is ``lu_solve``, ``linalg.solve_ex`` is ``linalg_solve``,
#: ``linalg.solve_triangular`` is ``triangular_solve``. det, slogdet, logdet, ldl_factor and ldl_solve are on no
#: list and refuse float16, as PyTorch's; so is matrix_exp, which gradkit refuses float16 for everywhere (PyTorch
#: computes it in float16, in a region or not).
_CPU_SIBLINGS = frozenset({
    "linalg_pinv", "linalg_lu_factor", "linalg_lu_factor_ex", "linalg_lu", "linalg_lu_solve", "linalg_solve_ex",
    "linalg_solve_triangular",
})

#: ops that autocast to float32, per device type, by PyTorch's names (``pow`` is ``__pow__``, ``__rpow__``,
#: ``Tensor.pow`` and ``gk.power``; ``asin``/``acos`` are ``gk.arcsin``/``gk.arccos``): a lower-precision
#: floating operand (float16) is cast to float32 and the op returns float32; float32 and float64 operands are
#: left alone. "cuda": the documented CUDA list (with ``huber_loss``, ``logsumexp`` and ``rms_norm``, which
#: PyTorch's ``AT_FORALL_FP32`` has too; ``interpolate`` is its upsample_nearest*/linear/bilinear/bicubic ops:
#: ``F.interpolate`` and ``nn.Upsample`` but for mode "area", an adaptive average pool); "cpu": what
#: ``torch.autocast("cpu", dtype=torch.float16)`` does to gradkit's ops (probed on torch 2.14: the losses,
#: ``prod``, ``trace``, ``quantile`` and ``nanquantile``, the 3-d pools, fractional max pooling, max unpooling
#: (``max_unpool1d`` is PyTorch's ``max_unpool2d``), the matrix functions; it leaves exp, log, softmax, sum, the
#: norms, matrix_power, multi_dot ... in float16, and computes ``binary_cross_entropy`` in float32 where the
#: CUDA list refuses it). gradkit's matrix functions look themselves up by PyTorch's dispatcher names,
#: ``linalg_inv`` for ``gk.linalg.inv`` (see :data:`_CPU_SIBLINGS` for those PyTorch's list leaves off).
FLOAT32_OPS = {
    "cuda": _FLOAT32_LOSSES | frozenset({
        "pow", "__rtruediv__", "acos", "asin", "cosh", "sinh", "tan", "exp", "expm1", "log", "log10", "log1p",
        "log2", "erfinv", "reciprocal", "rsqrt", "pdist", "dist", "cdist", "cosine_similarity", "normalize",
        "norm", "renorm", "cumprod", "cumsum", "prod", "sum", "logsumexp", "softmax", "log_softmax", "softmin",
        "softplus", "layer_norm", "group_norm", "rms_norm", "interpolate",
    }),
    "cpu": _FLOAT32_LOSSES | frozenset({
        "binary_cross_entropy", "prod", "trace", "quantile", "nanquantile", "cdist", "ctc_loss", "grid_sample",
        "reflection_pad", "replication_pad", "avg_pool3d", "max_pool3d", "adaptive_avg_pool3d",
        "adaptive_max_pool3d", "fractional_max_pool2d", "fractional_max_pool3d", "max_unpool2d", "max_unpool3d",
        # the matrix functions (gk.linalg's, and Tensor.inverse, svd, qr, cholesky, pinverse, lu, lu_solve,
        # orgqr, triangular_solve, cholesky_solve and cholesky_inverse, which call them)
        "linalg_inv", "linalg_inv_ex", "linalg_svd", "linalg_svdvals", "linalg_qr", "linalg_cholesky",
        "linalg_cholesky_ex", "linalg_eigh", "linalg_eigvalsh", "linalg_cond", "linalg_matrix_rank", "linalg_solve",
        "linalg_lstsq", "linalg_householder_product", "triangular_solve", "cholesky_solve", "cholesky_inverse",
    }) | _CPU_SIBLINGS,
}

#: ops PyTorch's autocast runs in the widest floating dtype of their operands (its ``AT_FORALL_PROMOTE``: on
#: "cuda" only; ``grid_sample`` is on the "cpu" float32 list, and the CPU list promotes nothing gradkit has):
#: float16 beside float32 computes in float32, where the plain op would refuse the mix; the op itself then
#: runs with autocast off (PyTorch's wrapper excludes it), so ``bilinear`` or ``tensordot`` of float32
#: operands do not compute their products in float16.
PROMOTE_OPS = {
    "cuda": frozenset({
        "addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sample", "index_put",
        "tensordot", "scatter_add",
    }),
    "cpu": frozenset(),
}

#: ops PyTorch's autocast refuses per device type, with the advice its error gives
_UNSAFE_OPS = {
    "cuda": {
        "binary_cross_entropy": (
            "F.binary_cross_entropy and nn.BCELoss are unsafe to autocast (float16 cannot hold the log of a "
            "probability near 0 or 1). Many models use a sigmoid layer right before the binary cross entropy "
            "layer; combine the two with F.binary_cross_entropy_with_logits or nn.BCEWithLogitsLoss, which "
            "are safe to autocast, or compute the loss outside the region (with gk.autocast('cuda', "
            "enabled=False): loss = F.binary_cross_entropy(probs.float(), target.float()))"
        ),
    },
    "cpu": {},
}


class AutocastDtypeError(DTypeError):
    """An autocast dtype gradkit cannot compute in (bfloat16: neither NumPy nor CuPy has it)."""


class AutocastUnsafeOpError(GradkitError, RuntimeError):
    """An op PyTorch's autocast refuses inside an enabled region (``F.binary_cross_entropy`` on "cuda";
    PyTorch raises RuntimeError)."""


class _State(threading.local):
    """This thread's autocast state: per device type enabled and dtype, nesting depth and the cast cache."""

    def __init__(self) -> None:
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype: dict[str, Any] = {"cpu": BFLOAT16, "cuda": _FLOAT16}
        self.nesting = 0
        self.cache_enabled = True
        self.cache: dict = {}
        self.saved: list = []  # one entry per region entered (an instance may be entered again: recursion)
        self.entered_in: Any = None  # the backward pass running when the innermost region was entered (or None)


_state = _State()
_lock = threading.Lock()

#: enabled autocast regions now entered, over all threads; the ops read only this while it is 0
active = 0


def _device_type(device_type: Any, op: str = "autocast") -> str:
    if not isinstance(device_type, str):
        raise InvalidArgumentError(
            f"{op}: expected device_type to be a str ('cuda' or 'cpu'), got {type(device_type).__name__} "
            f"{device_type!r:.40}"
        )
    name = device_type.strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in _DEVICE_TYPES or (kind != name and not name[len(kind) + 1:].isdigit()):
        raise InvalidArgumentError(
            f"{op}: unsupported device_type {device_type!r}; gradkit's autocast supports 'cuda' and 'cpu'"
        )
    return kind


def _fast_dtype(dtype: Any, device: str) -> Any:
    if dtype is None:
        return _state.dtype[device]
    if _is_bfloat16(dtype):
        return BFLOAT16
    from gradkit.dtypes import to_dtype

    return to_dtype(dtype, "autocast")


def _bfloat16_error(device: str) -> AutocastDtypeError:
    default = " (PyTorch's default autocast dtype on the CPU)" if device == "cpu" else ""
    return AutocastDtypeError(
        f"autocast(device_type={device!r}): bfloat16{default} is not available: NumPy and CuPy have no "
        "bfloat16 dtype, so gradkit cannot compute in it; use "
        f"gk.autocast({device!r}, dtype=gk.float16) or enabled=False"
    )


class autocast:  # noqa: N801 - PyTorch's name
    """PyTorch's ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context
    manager and decorator under which the matmul family computes in ``dtype`` (float16 by default for
    "cuda"; for "cpu" PyTorch's default is bfloat16, which gradkit refuses: pass ``dtype=gk.float16``).

    As PyTorch's: ``enabled=False`` is a no-op region (it turns autocast off inside an enabled one);
    "cuda" without a GPU warns and disables itself; on "cpu" a dtype other than float16 (and bfloat16)
    warns and disables itself; leaving a region restores the state before it; the state is per thread.
    """

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        self.device = _device_type(device_type)
        self.fast_dtype = _fast_dtype(dtype, self.device)
        enabled = flag(enabled, "autocast", "enabled")
        self._cache_enabled = (_state.cache_enabled if cache_enabled is None
                               else flag(cache_enabled, "autocast", "cache_enabled"))
        if enabled:
            if self.fast_dtype == BFLOAT16:
                raise _bfloat16_error(self.device)
            if self.device == "cuda":
                from gradkit.backends import cuda_available

                if self.fast_dtype.kind != "f":
                    raise DTypeError(f"autocast(device_type='cuda'): dtype must be a float dtype (float16), got "
                                     f"{self.fast_dtype}")
                if not cuda_available():
                    warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                    enabled = False
            elif self.fast_dtype != _FLOAT16:
                warnings.warn(
                    "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                    "CPU Autocast only supports dtypes of float16 in gradkit (PyTorch's bfloat16 does not exist "
                    "in NumPy)", stacklevel=2,
                )
                enabled = False
        self._enabled = enabled

    def __enter__(self) -> autocast:
        global active
        st = _state
        device = self.device
        from gradkit.autograd.grad_mode import state as grad_state

        # a region entered within a backward pass (gk.utils.checkpoint's recomputation, under the forward's regions)
        # casts again, into a cache of its own: a cast the forward pass recorded inside the checkpointed call, still
        # cached when the backward pass runs inside that region, would not be recorded again (a different graph)
        fresh = grad_state.backward_pass is not None and grad_state.backward_pass is not st.entered_in
        st.saved.append((device, st.enabled[device], st.dtype[device], st.cache_enabled, self._enabled, st.entered_in,
                         st.cache if fresh else None))
        if fresh:
            st.cache = {}
        st.entered_in = grad_state.backward_pass
        st.enabled[device] = self._enabled
        st.dtype[device] = self.fast_dtype
        st.nesting += 1
        st.cache_enabled = self._cache_enabled
        if self._enabled:
            with _lock:
                active += 1
        return self

    def __exit__(self, *exc: Any) -> bool:
        global active
        st = _state
        device, was_enabled, was_dtype, was_cache, counted, st.entered_in, outer_cache = st.saved.pop()
        st.nesting -= 1
        if outer_cache is not None:  # the casts of a region entered within a backward pass are its own
            st.cache = outer_cache
        elif st.nesting == 0:
            st.cache.clear()
        st.enabled[device] = was_enabled
        st.dtype[device] = was_dtype
        st.cache_enabled = was_cache
        if counted:
            with _lock:
                active -= 1
        return False

    def __call__(self, func: Any) -> Any:
        if not callable(func):
            raise ArgumentTypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}; as a context manager: "
                "with gk.autocast(device_type=...): output = model(input)"
            )

        @functools.wraps(func)
        def decorate_autocast(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self) -> str:
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled}, "
                f"cache_enabled={self._cache_enabled})")


# ------------------------------------------------------------------ queries (PyTorch's names)
def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on in this thread for ``device_type`` ("cuda" when not given, as PyTorch's)."""
    return _state.enabled["cuda" if device_type is None else _device_type(device_type, "is_autocast_enabled")]


def get_autocast_dtype(device_type: str) -> Any:
    """This thread's autocast dtype for ``device_type``: float16 for "cuda"; for "cpu" the string
    ``"bfloat16"`` (PyTorch's default, which gradkit cannot compute in) until a region sets float16."""
    return _state.dtype[_device_type(device_type, "get_autocast_dtype")]


# ------------------------------------------------------------------ custom autograd Functions (torch.amp's)
def _cast_inputs(value: Any, device: str, dtype: Any) -> Any:
    """PyTorch's ``torch.amp.autocast_mode._cast``: floating tensors of ``device`` (not float64) as ``dtype``,
    also inside lists, tuples and dicts; anything else unchanged."""
    from gradkit.tensor import Tensor

    if isinstance(value, Tensor):
        dt = value._data.dtype
        on = "cpu" if value._backend.name == "numpy" else "cuda"
        if dt.kind == "f" and dt != _FLOAT64 and on == device and dt != dtype:
            from gradkit.ops import astype

            return astype(value, dtype)
        return value
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, dict):
        return {_cast_inputs(k, device, dtype): _cast_inputs(v, device, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_inputs(v, device, dtype) for v in value)
    return value


def custom_fwd(fwd: Any = None, *, device_type: str, cast_inputs: Any = None) -> Any:
    """PyTorch's ``torch.amp.custom_fwd``: a decorator for the ``forward`` of a ``gk.autograd.Function``
    (under ``@staticmethod``), ``@gk.amp.custom_fwd(device_type="cuda", cast_inputs=gk.float32)``.

    It notes on ``ctx`` the autocast state of ``device_type`` (for :func:`custom_bwd`). With ``cast_inputs``,
    inside an enabled autocast region of ``device_type`` the floating tensors of that device type among the
    arguments (not float64; also in lists, tuples and dicts) are cast to ``cast_inputs`` and ``forward`` runs
    with autocast off; outside a region it runs as written. Without ``cast_inputs``, ``forward`` runs under
    the autocast state around it. It also notes the dtype of each tensor argument: as PyTorch's engine does,
    :func:`custom_bwd` converts a floating gradient that ``backward`` returns in another dtype (of a cast
    input, or computed under autocast) to its input's dtype (without custom_bwd, ``backward`` must return
    the input's dtype itself, as any gradkit ``Function``).
    """
    _device_type(device_type, "custom_fwd")  # InvalidArgumentError (a ValueError, as PyTorch's) for a non-str
    device = device_type.strip().lower().split(":", 1)[0]
    if cast_inputs is not None:
        from gradkit.dtypes import to_dtype

        cast_inputs = to_dtype(cast_inputs, "custom_fwd")
        if cast_inputs.kind != "f":
            raise DTypeError(f"custom_fwd: cast_inputs must be a float dtype, got {cast_inputs}")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    if not callable(fwd):
        raise ArgumentTypeError(f"custom_fwd: expected the forward function, got {type(fwd).__name__}")

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        from gradkit.tensor import Tensor

        ctx = args[0]
        ctx._dtype = _state.dtype[device]
        # per argument, the dtype of a floating tensor (custom_bwd converts its gradient to it), else None
        ctx._gk_input_dtypes = tuple(a.dtype if isinstance(a, Tensor) and a.dtype.kind == "f" else None
                                     for a in args[1:])
        enabled = _state.enabled[device]
        if cast_inputs is None:
            ctx._fwd_used_autocast = enabled
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if not enabled:
            return fwd(*args, **kwargs)
        cast_args = tuple(_cast_inputs(a, device, cast_inputs) for a in args[1:])
        with autocast(device_type=device, enabled=False):
            return fwd(ctx, *cast_args, **_cast_inputs(kwargs, device, cast_inputs))

    return decorate_fwd


def custom_bwd(bwd: Any = None, *, device_type: str) -> Any:
    """PyTorch's ``torch.amp.custom_bwd``: a decorator for the ``backward`` of a ``gk.autograd.Function``
    whose ``forward`` has :func:`custom_fwd`; ``backward`` runs under the autocast state (enabled, dtype) of
    ``device_type`` that ``forward`` ran under, and a floating gradient it returns in another dtype than its
    input's (an input ``custom_fwd`` cast, a product computed under autocast) is converted to the input's
    dtype (a recorded cast), as PyTorch's engine converts every gradient."""
    _device_type(device_type, "custom_bwd")
    device = device_type.strip().lower().split(":", 1)[0]
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    if not callable(bwd):
        raise ArgumentTypeError(f"custom_bwd: expected the backward function, got {type(bwd).__name__}")

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        if not hasattr(ctx, "_fwd_used_autocast"):
            raise GradkitError("custom_bwd: the forward of this Function has no @custom_fwd(device_type=...); "
                               "decorate it too (custom_bwd runs backward under the autocast state it noted)")
        with autocast(device_type=device, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            grads = bwd(*args, **kwargs)
        dtypes = getattr(ctx, "_gk_input_dtypes", ())
        from gradkit.ops import astype
        from gradkit.tensor import Tensor

        single = not isinstance(grads, (tuple, list))
        out = [grads] if single else list(grads)
        for i, dt in enumerate(dtypes[: len(out)]):
            g = out[i]
            if dt is not None and isinstance(g, Tensor) and g.dtype.kind == "f" and g.dtype != dt:
                out[i] = astype(g, dt)
        return out[0] if single else type(grads)(out)

    return decorate_bwd


def is_autocast_available(device_type: str) -> bool:
    """True for the device types gradkit's autocast supports ("cuda" and "cpu")."""
    return isinstance(device_type, str) and device_type.strip().lower().split(":", 1)[0] in _DEVICE_TYPES


def is_autocast_cache_enabled() -> bool:
    """Whether casts of weights are cached within the outermost autocast region of this thread."""
    return _state.cache_enabled


def regions() -> tuple:
    """This thread's enabled autocast settings as regions that enter them again (``gk.utils.checkpoint`` runs
    its recomputation under the forward pass's autocast, as PyTorch's)."""
    st = _state
    return tuple(autocast(d, dtype=st.dtype[d]) for d in _DEVICE_TYPES if st.enabled[d])


def clear_autocast_cache() -> None:
    """Drop this thread's cached casts (leaving the outermost region does it)."""
    _state.cache.clear()


# ------------------------------------------------------------------ what the ops call
def cast(op: str, *values: Any) -> tuple:
    """``values`` with each floating tensor cast to this thread's autocast dtype for its device type, where
    autocast is on for it and ``op`` is on its list; anything else unchanged. The ops call this only while
    ``active`` is nonzero."""
    st = _state
    enabled = st.enabled
    if not (enabled["cpu"] or enabled["cuda"]):
        return values
    from gradkit.tensor import Tensor

    if any(isinstance(v, Tensor) and v._data.dtype == _FLOAT64 for v in values):
        return values  # float64 beside float32: computed in float64, not a float64 result of float16 precision
    return tuple(_cast_one(v, st, op) for v in values)


def _cast_one(v: Any, st: _State, op: str) -> Any:
    from gradkit.tensor import Tensor

    if not isinstance(v, Tensor):
        return v
    dt = v._data.dtype
    if dt.kind != "f" or dt == _FLOAT64:
        return v
    device = "cpu" if v._backend.name == "numpy" else "cuda"
    if not st.enabled[device] or op in _NOT_CAST[device]:
        return v
    target = st.dtype[device]
    if dt == target:
        return v
    from gradkit.autograd.grad_mode import state as grad_state
    from gradkit.ops import astype

    if not (st.cache_enabled and v._requires_grad and v._grad_fn is None):
        return astype(v, target)
    key = (id(v), target, grad_state.enabled)
    hit = st.cache.get(key)
    if hit is not None and hit[0] is v and hit[1] == v._version[0]:
        return hit[2]
    out = astype(v, target)
    st.cache[key] = (v, v._version[0], out)  # holds v: its id stays its own until the cache is cleared
    return out


def to_float32(op: str, *values: Any) -> tuple:
    """``values`` with each float16 tensor cast to float32 (a recorded ``astype``: its gradient comes back in
    float16) where autocast is on for its device type and ``op`` is on that type's :data:`FLOAT32_OPS` list;
    float32, float64 and anything else unchanged. A backward pass running inside a region is left alone
    (the rules see the dtypes of the forward pass); a region entered within a backward pass (``gk.utils.checkpoint``'s
    recomputation) casts. The ops call this only while ``active`` is nonzero; an op
    on the :data:`_UNSAFE_OPS` list of an enabled device type raises :class:`AutocastUnsafeOpError`."""
    st = _state
    enabled = st.enabled
    if not (enabled["cpu"] or enabled["cuda"]):
        return values
    from gradkit.autograd.grad_mode import state as grad_state

    if grad_state.backward_pass is not st.entered_in:  # a backward pass started inside the region (a region
        return values  # entered within one, as checkpoint's recomputation enters the forward's, casts)
    from gradkit.tensor import Tensor

    out = values
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            continue
        device = "cpu" if v._backend.name == "numpy" else "cuda"
        if not enabled[device]:
            continue
        unsafe = _UNSAFE_OPS[device].get(op)
        if unsafe is not None:
            raise AutocastUnsafeOpError(f"{op}: unsafe to autocast (autocast(device_type={device!r}) is on). {unsafe}")
        dt = v._data.dtype
        if dt.kind != "f" or dt.itemsize >= 4 or op not in FLOAT32_OPS[device]:
            continue
        from gradkit.ops import astype

        if out is values:
            out = list(values)
        out[i] = astype(v, _FLOAT32)
    return out if out is values else tuple(out)


def _enabled_for(v: Any, enabled: dict) -> str | None:
    """The device type of tensor ``v`` when autocast is on for it in this thread, else None."""
    from gradkit.tensor import Tensor

    if not isinstance(v, Tensor):
        return None
    device = "cpu" if v._backend.name == "numpy" else "cuda"
    return device if enabled[device] else None


def promote(op: str, *values: Any) -> tuple | None:
    """None where autocast is off in this thread for every tensor of ``values`` (or a backward pass runs);
    else ``values`` with, where ``op`` is on :data:`PROMOTE_OPS` for their device type, each float16/float32
    tensor cast to the widest of them and the autocast dtype (float64 and integer tensors left alone, as
    PyTorch's ``promote_type``). The caller then runs the op under :func:`exclude` (PyTorch's wrapper runs it
    with autocast off), so its inner products and sums are not cast again."""
    st = _state
    enabled = st.enabled
    if not (enabled["cpu"] or enabled["cuda"]):
        return None
    from gradkit.autograd.grad_mode import state as grad_state

    if grad_state.backward_pass is not st.entered_in:  # (as to_float32's)
        return None
    devices = {_enabled_for(v, enabled) for v in values} - {None}
    if not devices:
        return None
    out = list(values)
    for device in devices:
        if op not in PROMOTE_OPS[device]:
            continue
        eligible = [i for i, v in enumerate(values) if _enabled_for(v, enabled) == device
                    and v._data.dtype.kind == "f" and v._data.dtype != _FLOAT64]
        target = np.result_type(st.dtype[device], *(values[i]._data.dtype for i in eligible))
        from gradkit.ops import astype

        for i in eligible:
            if values[i]._data.dtype != target:
                out[i] = astype(values[i], target)
    return tuple(out)


class exclude:  # noqa: N801 - a context manager, used as a function
    """Autocast off in this thread for the ``with`` body, whatever the regions around (PyTorch's
    ``ExcludeDispatchKeyGuard`` in its autocast wrappers): an op whose own rule already applied (a promoted
    ``bilinear``, a native-in-PyTorch ``celu`` or adaptive average pool) composes gradkit ops that would
    otherwise be cast again."""

    __slots__ = ("_saved",)

    def __enter__(self) -> exclude:
        enabled = _state.enabled
        self._saved = (enabled["cpu"], enabled["cuda"])
        enabled["cpu"] = enabled["cuda"] = False
        return self

    def __exit__(self, *exc: Any) -> bool:
        enabled = _state.enabled
        enabled["cpu"], enabled["cuda"] = self._saved
        return False


def promotes(op: str, *values: Any) -> bool:
    """Whether ``op`` is on :data:`PROMOTE_OPS` for a device type autocast is on for among ``values``."""
    enabled = _state.enabled
    return any(op in PROMOTE_OPS[d] for d in {_enabled_for(v, enabled) for v in values} - {None})


def lower_dtype(value: Any) -> Any:
    """The autocast dtype this thread computes ``value``'s device type in, where autocast is on for it and
    ``value`` is a floating tensor other than float64 (PyTorch's eligibility rule); else None."""
    device = _enabled_for(value, _state.enabled)
    if device is None:
        return None
    dt = value._data.dtype
    return _state.dtype[device] if dt.kind == "f" and dt != _FLOAT64 else None


def is_on(*values: Any) -> bool:
    """Whether autocast is on in this thread for the device type of a tensor of ``values``."""
    enabled = _state.enabled
    return (enabled["cpu"] or enabled["cuda"]) and any(_enabled_for(v, enabled) for v in values)
