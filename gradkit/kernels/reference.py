"""Reference implementations of the fused kernels, on raw NumPy or CuPy arrays.

Each function here is the specification of a kernel: ``gradkit.kernels``
calls it unless ``gradkit.kernels.cupy_kernels`` provides a fused version of
the same name for CuPy arrays. A fused version must take the same arguments,
write the same arrays in place (and only those) and return the same thing;
its results must agree with these to float rounding.

Conventions shared by every function:

* Arrays are raw backend arrays (``numpy.ndarray`` or ``cupy.ndarray``), all
  on one device and of one float dtype; hyperparameters are Python numbers
  (never 0-d arrays, so a float32 array stays float32).
* ``grad`` (and every input not named as written in place) is read only.
* ``scratch`` is an optional array of the parameter's shape and dtype that
  the reference uses for temporaries so that a common step allocates
  nothing; its contents on return are unspecified. A fused kernel may
  ignore it.
* The code uses only operations that NumPy and CuPy share, so it also runs,
  unfused, on CuPy arrays.
* ``maximize`` (the optimisers' flag, PyTorch's name) negates the gradient
  before anything else: the update then climbs the objective. The negation
  is folded into the arithmetic (``x - grad`` for ``x + (-grad)``, and so on),
  which is exact, so no array is allocated for ``-grad``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def get_array_module(array: Any) -> Any:
    """``numpy`` for a NumPy array, ``cupy`` for a CuPy array."""
    if isinstance(array, np.ndarray):
        return np
    import cupy

    return cupy.get_array_module(array)


# ------------------------------------------------------------------ optimisers
#: Elements per block when an update runs block by block (256 KiB of float32): the
#: update's several passes then reuse each block from cache instead of memory.
BLOCK = 1 << 16


def _blocks(*arrays: Any) -> list[slice] | None:
    """Slices for a block-wise update of large contiguous NumPy arrays, else None.

    Every update is elementwise, so running it on flat slices gives bit-identical results.
    """
    first = arrays[0]
    if type(first) is not np.ndarray or first.size < 4 * BLOCK:
        return None
    if not all(a is None or (a.flags.c_contiguous and a.size >= first.size) for a in arrays):
        return None
    n = first.size
    return [slice(i, min(i + BLOCK, n)) for i in range(0, n, BLOCK)]


def _flat(a: Any) -> Any:
    return None if a is None else a.reshape(-1)


def sgd_momentum_update(
    param: Any,
    grad: Any,
    buf: Any,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    first_step: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """One SGD step for one parameter: PyTorch's rule (``torch.optim.SGD``).

    Writes ``param`` and ``buf`` in place (``buf`` is the momentum buffer,
    None when ``momentum == 0``); returns None. With ``g = -grad`` if
    ``maximize`` else ``grad``, and ``d = g + weight_decay * param``::

        buf  = d                                        if first_step
        buf  = momentum * buf + (1 - dampening) * d     otherwise
        step = d + momentum * buf   if nesterov else buf     (momentum != 0)
        step = d                                             (momentum == 0)
        param -= lr * step

    ``first_step`` is True on the parameter's first step with momentum: the
    buffer's old contents are then ignored and overwritten with ``d``.
    """
    blocks = _blocks(param, grad, buf, scratch) if param.size >= 4 * BLOCK else None  # (a small one: no call)
    if blocks is not None:
        p, g, b, t = _flat(param), _flat(grad), _flat(buf), _flat(scratch)
        for s in blocks:
            sgd_momentum_update(p[s], g[s], None if b is None else b[s], lr, momentum, dampening,
                                weight_decay, nesterov, first_step, None if t is None else t[s], maximize)
        return
    xp = np if type(param) is np.ndarray else get_array_module(param)
    tmp = xp.empty_like(param) if scratch is None else scratch
    if weight_decay != 0:
        d = xp.multiply(param, weight_decay, out=tmp)
        if maximize:
            d -= grad
        else:
            d += grad
    else:
        d = xp.negative(grad, out=tmp) if maximize else grad
    if momentum != 0:
        if first_step:
            buf[...] = d
        else:
            buf *= momentum
            if dampening != 0:
                buf += (1 - dampening) * d
            else:
                buf += d
        if nesterov:
            if d is tmp:
                step = d + momentum * buf
            else:
                step = xp.multiply(buf, momentum, out=tmp)
                step += d
        else:
            step = buf
    else:
        step = d
    if step is tmp:
        tmp *= lr
    else:
        xp.multiply(step, lr, out=tmp)
    param -= tmp


def _lerp_toward(xp: Any, avg: Any, g: Any, negate: bool, rate: float, tmp: Any) -> None:
    """``avg += (g - avg) * rate`` in place, through ``tmp``; with ``negate``, toward ``-g`` (exactly:
    ``(-g - avg) * rate`` is ``(g + avg) * -rate``)."""
    if negate:
        xp.add(g, avg, out=tmp)
        tmp *= -rate
    else:
        xp.subtract(g, avg, out=tmp)
        tmp *= rate
    avg += tmp


def adam_update(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: Any,
    decoupled: bool,
    scratch: Any = None,
    maximize: bool = False,
    max_exp_avg_sq: Any = None,
) -> None:
    """One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step: PyTorch's rule.

    Writes ``param``, ``exp_avg`` and ``exp_avg_sq`` in place; returns None.
    ``step`` is the step number counting this one (1 on the first step): a
    Python int, or a 0-d float64 array on the parameter's device (capturable
    Adam keeps its step count there, so the bias corrections are computed on
    the device and a CUDA graph replay sees the new count). With
    ``max_exp_avg_sq`` (an array like ``exp_avg_sq``: AMSGrad, PyTorch's
    ``amsgrad=True``) it is written in place too, and the denominator uses it
    instead of ``exp_avg_sq`` (the running maximum of the raw second moment,
    bias-corrected as ``exp_avg_sq`` is, as PyTorch 2 does)::

        grad = -grad if maximize
        if decoupled:  param *= 1 - lr * weight_decay;  g = grad
        else:          g = grad + weight_decay * param
        exp_avg    += (1 - beta1) * (g - exp_avg)          # lerp toward g
        exp_avg_sq  = beta2 * exp_avg_sq + (1 - beta2) * g * g
        if max_exp_avg_sq is not None:
            max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)   # NaN propagates
            v = max_exp_avg_sq
        else:
            v = exp_avg_sq
        denom = sqrt(v) / sqrt(1 - beta2 ** step) + eps
        param -= (lr / (1 - beta1 ** step)) * exp_avg / denom
    """
    blocks = _blocks(param, grad, exp_avg, exp_avg_sq, scratch, max_exp_avg_sq)
    if blocks is not None:
        p, g, m, v, t = _flat(param), _flat(grad), _flat(exp_avg), _flat(exp_avg_sq), _flat(scratch)
        vmax = _flat(max_exp_avg_sq)
        for s in blocks:
            adam_update(p[s], g[s], m[s], v[s], lr, beta1, beta2, eps, weight_decay, step, decoupled,
                        None if t is None else t[s], maximize, None if vmax is None else vmax[s])
        return
    xp = get_array_module(param)
    tmp = xp.empty_like(param) if scratch is None else scratch
    g, negate = grad, bool(maximize)  # negate: g still stands for -g
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        elif maximize:
            g, negate = weight_decay * param - grad, False
        else:
            g = grad + weight_decay * param
    _lerp_toward(xp, exp_avg, g, negate, 1 - beta1, tmp)
    exp_avg_sq *= beta2
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - beta2
    exp_avg_sq += tmp
    if isinstance(step, (int, np.integer)):
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        step_size = lr / (1 - beta1**step)
    else:  # computed in float64 on the device, then taken to the parameter's dtype as a Python float would be
        bias_correction2_sqrt = xp.sqrt(1 - beta2**step).astype(param.dtype)
        step_size = (lr / (1 - beta1**step)).astype(param.dtype)
    if max_exp_avg_sq is not None:  # AMSGrad: the running maximum of the second moment
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        xp.sqrt(max_exp_avg_sq, out=tmp)
    else:
        xp.sqrt(exp_avg_sq, out=tmp)
    tmp /= bias_correction2_sqrt
    tmp += eps
    xp.divide(exp_avg, tmp, out=tmp)
    tmp *= step_size
    param -= tmp


def rmsprop_update(
    param: Any,
    grad: Any,
    square_avg: Any,
    grad_avg: Any,
    momentum_buffer: Any,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """One RMSprop step: PyTorch's rule (``torch.optim.RMSprop``).

    Writes ``param``, ``square_avg``, ``grad_avg`` (only when ``centered``;
    else it may be None) and ``momentum_buffer`` (only when ``momentum > 0``;
    else it may be None) in place; returns None. The buffers start at zero::

        grad = -grad if maximize
        g = grad + weight_decay * param
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg += (1 - alpha) * (g - grad_avg)       # lerp toward g
            avg = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = momentum * momentum_buffer + g / avg
            param -= lr * momentum_buffer
        else:
            param -= lr * g / avg
    """
    blocks = _blocks(param, grad, square_avg, grad_avg, momentum_buffer, scratch)
    if blocks is not None:
        p, g, sq, ga, mb, t = (_flat(a) for a in (param, grad, square_avg, grad_avg, momentum_buffer, scratch))
        for s in blocks:
            rmsprop_update(p[s], g[s], sq[s], None if ga is None else ga[s], None if mb is None else mb[s], lr,
                           alpha, eps, weight_decay, momentum, centered, None if t is None else t[s], maximize)
        return
    xp = get_array_module(param)
    tmp = xp.empty_like(param) if scratch is None else scratch
    g, negate = grad, bool(maximize)  # negate: g still stands for -g
    if weight_decay != 0:
        g, negate = (weight_decay * param - grad if maximize else grad + weight_decay * param), False
    square_avg *= alpha
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - alpha
    square_avg += tmp
    if centered:
        _lerp_toward(xp, grad_avg, g, negate, 1 - alpha, tmp)
        xp.multiply(grad_avg, grad_avg, out=tmp)
        xp.subtract(square_avg, tmp, out=tmp)
        xp.sqrt(tmp, out=tmp)
    else:
        xp.sqrt(square_avg, out=tmp)
    tmp += eps
    xp.divide(g, tmp, out=tmp)  # with negate, the step's sign is -1 times this
    if momentum > 0:
        momentum_buffer *= momentum
        if negate:
            momentum_buffer -= tmp
        else:
            momentum_buffer += tmp
        xp.multiply(momentum_buffer, lr, out=tmp)
        param -= tmp
    else:
        tmp *= lr
        if negate:
            param += tmp
        else:
            param -= tmp


# ------------------------------------------------------------------ layers
def bias_forward(y: Any, b: Any) -> Any:
    """``y += b`` in place (``b`` of shape (out,) broadcast over the rows of ``y``); returns ``y``."""
    y += b
    return y


def bias_relu_forward(y: Any, b: Any) -> Any:
    """``y = max(y + b, 0)`` in place (``b`` broadcast over the rows; None for no bias); returns ``y``.

    ``y`` is the (N, out) result of ``x @ W.T`` that the caller owns; ``b``
    has shape (out,).
    """
    xp = np if type(y) is np.ndarray else get_array_module(y)
    if b is not None:
        y += b
    return xp.maximum(y, 0, out=y)


def relu_backward(grad: Any, y: Any, out: Any = None) -> Any:
    """The gradient of relu at output ``y``: ``grad * (y != 0)``, a new array or written to ``out``
    (``y`` is >= 0 or NaN, so a NaN input passes its gradient, as PyTorch's).

    ``grad`` and ``y`` have one shape. ``out`` may be ``grad`` itself, but
    only when nothing else holds ``grad`` (the engine's ownership flag).
    """
    xp = np if type(y) is np.ndarray else get_array_module(y)
    return xp.multiply(grad, y != 0, out=out)


def cross_entropy_forward_backward(logits: Any, targets: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """Softmax cross-entropy of ``logits`` (N, C) against integer ``targets`` (N,), and its gradient.

    Returns ``(loss, dlogits)``, both new arrays of the logits' dtype:

    * ``loss``: ``log(sum_j exp(logits[i, j] - m_i)) - (logits[i, targets[i]] - m_i)``
      with ``m_i`` the row maximum (logsumexp minus the target's logit);
      reduced to a 0-d array by ``reduction`` "mean" or "sum", or left as
      the (N,) row losses for "none".
    * ``dlogits``: ``softmax(logits) - one_hot(targets)``, divided by N for
      "mean": the gradient of the returned loss for "mean" and "sum", and of
      each row's own loss for "none".

    ``targets`` are assumed valid (integers in [0, C)); the caller checks.
    Finite for any finite logits (no overflow at +-1e4 in float32).
    """
    xp = np if type(logits) is np.ndarray else get_array_module(logits)
    n, c = logits.shape
    flat = logits.reshape(-1)
    base = xp.arange(0, n * c, c)  # the flat index of each row's first element
    # The row maxima through argmax and a flat take: several times faster in
    # NumPy than max(axis=1) for few classes. NaN rows stay NaN (argmax finds NaN).
    peak_at = logits.argmax(axis=1)
    peak_at += base
    peak = flat.take(peak_at)
    target_at = base + targets
    e = xp.subtract(logits, peak[:, None])
    xp.exp(e, out=e)
    total = e.sum(axis=1)
    losses = xp.log(total)
    picked = flat.take(target_at)
    picked -= peak  # the target's shifted logit: exact where it is the maximum
    losses -= picked
    e /= total[:, None]
    # e has the logits' memory order (a transposed input makes it column-major): index it by row and
    # column, not through reshape(-1), which would then be a copy and lose the write.
    e[xp.arange(n), targets] -= 1  # one target per row: no repeated index
    if reduction == "mean":
        if n:
            e *= 1 / n
            loss = losses.sum() / n
        else:
            loss = xp.full((), xp.nan, dtype=logits.dtype)
    elif reduction == "sum":
        loss = losses.sum()
    else:
        loss = losses
    return xp.asarray(loss, dtype=logits.dtype), e


def column_sum(g: Any) -> Any:
    """The sum over the rows of the 2-d ``g`` (a bias gradient): a new array of shape (cols,). float16 is summed in
    float32 (NumPy's float16 sum stalls at 2048 ones), as PyTorch accumulates it."""
    if g.dtype.itemsize < 4 and g.dtype.kind == "f":
        return g.sum(axis=0, dtype=np.float32).astype(g.dtype)
    return g.sum(axis=0)


def cross_entropy_checked_on_device(logits: Any, targets: Any, reduction: str, ignore_index: int) -> Any:
    """Cross-entropy whose targets are checked by the kernel itself, with no host read: CuPy only.

    Returns ``(loss, dlogits, scale)`` or None where it does not apply; on NumPy it never does
    (a host check costs nothing there), so this reference returns None. The fused version
    (``cupy_kernels``) gives, for logits (N, C) and targets (N,):

    * ``loss`` as :func:`cross_entropy_forward_backward`'s, with the rows whose target equals
      ``ignore_index`` left out ("mean" divides by the rows kept, as PyTorch);
    * ``dlogits``: ``softmax - one_hot`` per kept row, zero rows for ignored ones, not yet scaled;
    * ``scale``: a 0-d array, the factor ``dlogits`` takes for the loss's gradient (1 / rows kept
      for "mean", else 1). With no row kept (every target ignored) the "mean" loss is NaN, as
      PyTorch's, and ``scale`` is 0, not 1 / 0: the gradient is zero, not ``0 * inf`` = NaN.

    A target outside [0, C) (and not ``ignore_index``) makes its row's loss NaN, gives it a zero
    gradient row, and is reported to the host through pinned memory, which
    ``cupy_kernels.raise_pending_target_error`` reads.
    """
    return None


def scale_rows(dlogits: Any, g: Any, scale: Any) -> Any:
    """``dlogits * (g * scale)`` as a new array, with ``g`` and ``scale`` 0-d arrays."""
    return dlogits * (g * scale)
