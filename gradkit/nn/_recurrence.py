"""The recurrence of one recurrent layer and direction (and of one cell step), two ways.

``composed``: gradkit operations per time step (``F.linear`` with ``weight_hh``, the gates sliced, ``sigmoid``,
``tanh``, products): gradients of every order come from their rules. ``_Unbind`` and ``_Stack`` split and join
the time steps, each the other's VJP, so neither first nor second order is O(T^2).

``FusedRecurrence``: the whole time loop as one node (a ``gk.autograd.Function``). The forward runs on raw
arrays and keeps the gates' activations; the backward is the closed-form recurrence on raw arrays, with one
matmul per step for the state's gradient and one matmul per sequence for ``weight_hh``'s (and
``weight_hr``'s). When the backward pass is itself recorded (``create_graph=True``) the node rebuilds the
composed graph from its inputs and takes its VJP with recording on, so derivatives of every order stay
those of the composed path. Same operations in the same order as the composed path (its forward results
are the same to the bit on NumPy); no host reads.

``xg`` is the input's projection ``x @ weight_ih.T + bias_ih`` of every step, (T, N, gates * hidden), computed
by the caller as one ``F.linear``; a cell passes one step, (N, gates * hidden).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradkit import kernels, ops
from gradkit.autograd import grad_mode
from gradkit.autograd.custom_function import Function, FunctionCtx
from gradkit.autograd.engine import run_backward
from gradkit.autograd.function import record
from gradkit.nn import functional as F
from gradkit.ops.indexing import _getitem_vjp
from gradkit.ops.shape import alias
from gradkit.tensor import Tensor

_make = Tensor._make

FUSED = True  # False: every layer and cell runs composed (tests compare the two paths)


# ------------------------------------------------------------------ splitting and joining the time steps
# Each is the other's VJP, so gradients of any order stay linear in the number of steps: slicing with
# ``getitem`` (or ``ops.stack``, whose VJP slices) would give each slice's gradient a zero tensor of the whole
# sequence's size, quadratic in the length (at the first order for unbind, at the second for stack).
class _Unbind(Function):
    """The slices of a tensor along axis 0; backward stacks their gradients (zeros for those without)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> tuple:
        return ops.unbind(x, 0)

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> Tensor:
        return _Stack.apply(*grads)


class _Stack(Function):
    """Tensors of one shape stacked along a new axis 0; backward unbinds the gradient."""

    @staticmethod
    def forward(ctx: FunctionCtx, *xs: Tensor) -> Tensor:
        return ops.stack(xs, 0)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple:
        return _Unbind.apply(g)


def split_steps(x: Tensor) -> tuple:
    """``x``'s slices along axis 0 (time steps, or layers of a state): one node."""
    return _Unbind.apply(x)


def pieces(x: Tensor, sizes: tuple, start: int = 0) -> list:
    """Consecutive pieces of ``x``'s last axis from ``start``, of ``sizes``: views, each a slice node (the gates
    of one step)."""
    data, backend, shape = x._data, x._backend, x.shape
    out = []
    for size in sizes:
        index = (Ellipsis, slice(start, start + size))
        piece = record("getitem", data[index], backend, (x,), (_getitem_vjp,), (shape, index))
        piece._version = x._version  # a view: in-place changes to either are changes to both
        out.append(piece)
        start += size
    return out


# ------------------------------------------------------------------ composed: one time step of gradkit ops
# ``xg`` is this step's input projection, (N, gates * hidden); for a GRU the pair (r and z part, n part).
def _rnn_step(act: Callable[[Tensor], Tensor]) -> Callable:
    def step(xg: Tensor, h: Tensor, c: Any, w_hh: Tensor, b_hh: Tensor | None, w_hr: Any) -> tuple:
        return act(xg + F.linear(h, w_hh, b_hh)), None

    return step


def _lstm_step(xg: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None) -> tuple:
    size = c.shape[-1]
    gates = xg + F.linear(h, w_hh, b_hh)  # i, f, g, o: PyTorch's order
    i, f, _, o = pieces(ops.sigmoid(gates), (size,) * 4)  # one sigmoid for three gates: fewer nodes
    (g,) = pieces(gates, (size,), 2 * size)
    c = f * c + i * ops.tanh(g)
    h = o * ops.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(xg: tuple, h: Tensor, c: Any, w_hh: Tensor, b_hh: Tensor | None, w_hr: Any) -> tuple:
    x_rz, x_n = xg
    size = h.shape[-1]
    h_rz, h_n = pieces(F.linear(h, w_hh, b_hh), (2 * size, size))
    r, z = pieces(ops.sigmoid(x_rz + h_rz), (size, size))
    n = ops.tanh(x_n + r * h_n)  # b_hn stays inside r * (W_hn h + b_hn), as PyTorch
    return n + z * (h - n), None  # (1 - z) * n + z * h, written as PyTorch computes it


_STEPS = {"RNN_TANH": _rnn_step(ops.tanh), "RNN_RELU": _rnn_step(F.relu), "LSTM": _lstm_step, "GRU": _gru_step}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def composed(mode: str, xg: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
             w_hr: Tensor | None, reverse: bool) -> tuple:
    """(output, last h, last c or None) of one layer and direction over (T, N, gates * hidden) ``xg``; a
    2-D ``xg`` is one cell step: (h, c or None)."""
    step = _STEPS[mode]
    hidden = xg.shape[-1] // GATES[mode]
    if xg.ndim == 2:
        if mode == "GRU":
            xg = tuple(pieces(xg, (2 * hidden, hidden)))
        return step(xg, h, c, w_hh, b_hh, w_hr)
    if mode == "GRU":  # split once here, not at every step
        x_rz, x_n = pieces(xg, (2 * hidden, hidden))
        xs: Any = list(zip(split_steps(x_rz), split_steps(x_n), strict=True))
    else:
        xs = split_steps(xg)
    ys: list[Any] = [None] * len(xs)
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        h, c = step(xs[t], h, c, w_hh, b_hh, w_hr)
        ys[t] = h
    return _Stack.apply(*ys), h, c


def recurrence(mode: str, xg: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None, reverse: bool = False) -> tuple:
    """As ``composed``, through ``FusedRecurrence`` unless ``FUSED`` is off."""
    if not FUSED:
        return composed(mode, xg, h, c, w_hh, b_hh, w_hr, reverse)
    out = FusedRecurrence.apply(xg, h, c, w_hh, b_hh, w_hr, mode, reverse)
    if mode == "LSTM":
        return out
    return (out, None) if xg.ndim == 2 else (*out, None)


# ------------------------------------------------------------------ fused: the time loop on raw arrays
class FusedRecurrence(Function):
    """One layer and direction (or one cell step) as one node; see the module's docstring.

    ``forward(ctx, xg, h0, c0, w_hh, b_hh, w_hr, mode, reverse)`` returns (output, h_n[, c_n]) for a
    (T, N, G) ``xg``, and h[, c] for a cell's (N, G) one (c0, c_n, c only for an LSTM).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, xg: Tensor, h0: Tensor, c0: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
                w_hr: Tensor | None, mode: str, reverse: bool) -> Any:
        backend = xg._backend
        xd = xg._data
        cell = xd.ndim == 2
        if cell:
            xd = xd[None]
        steps = xd.shape[0]
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        hs, saved = _FORWARD[mode](backend, xd, h0._data, None if c0 is None else c0._data, w_hh._data,
                                   None if b_hh is None else b_hh._data, None if w_hr is None else w_hr._data,
                                   order, mode)
        ctx.mode, ctx.reverse, ctx.cell = mode, reverse, cell
        ctx.hs, ctx.arrays = hs, saved
        ctx.save_for_backward(xg, h0, c0, w_hh, b_hh, w_hr)
        ctx.set_materialize_grads(False)
        outs = [_make(hs[steps].copy(), backend)]  # copies: the outputs must not share the saved arrays
        if mode == "LSTM":
            outs.append(_make(saved[1][steps - 1].copy(), backend))
        if not cell:
            y = hs[:0:-1] if reverse else hs[1:]  # processing order back to time order
            outs.insert(0, _make(backend.xp.ascontiguousarray(y) if reverse else y.copy(), backend))
        return tuple(outs) if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor | None) -> tuple:
        if grad_mode.state.enabled:  # create_graph=True: the composed graph's VJP, recorded
            return (*_recomposed(ctx, grads), None, None)
        xg, h0, c0, w_hh, b_hh, w_hr = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gy = None if ctx.cell else grads[0]
        gh, gc = (grads[0 if ctx.cell else 1], grads[-1] if ctx.mode == "LSTM" else None)
        backend = xg._backend
        arrays = _BACKWARD[ctx.mode](
            backend, ctx, None if gy is None else gy._data, None if gh is None else gh._data,
            None if gc is None else gc._data, w_hh._data, None if w_hr is None else w_hr._data, needs)
        dxg, dh0, dc0, dw, db, dwhr = arrays
        if ctx.cell:
            dxg = dxg[0]
        return tuple(None if a is None or not n else _make(a, backend)
                     for a, n in zip((dxg, dh0, dc0, dw, db, dwhr), needs, strict=False)) + (None, None)


def _recomposed(ctx: FunctionCtx, grads: tuple) -> list:
    """The input gradients as recorded operations: the composed graph rebuilt from the inputs, and its VJP."""
    args = list(ctx.saved_tensors)
    wanted = [k for k, need in enumerate(ctx.needs_input_grad[:6]) if need]
    for k in wanted:  # an alias node per argument: one tensor passed twice (h0 and c0) gets each gradient apart
        args[k] = alias(args[k], "rnn_input")
    outs = composed(ctx.mode, *args, ctx.reverse)
    if ctx.mode != "LSTM":
        outs = outs[:-1]
    pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
    found = run_backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph=True, create_graph=True,
                         inputs=[args[k] for k in wanted])
    result: list[Any] = [None] * 6
    for k, g in zip(wanted, found, strict=True):
        result[k] = g
    return result


def _time(steps: int, reverse: bool) -> Callable[[int], int]:
    """The time index of processing step ``s``."""
    return (lambda s: steps - 1 - s) if reverse else (lambda s: s)


def _sigmoid_into(xp: Any, x: Any, out: Any, tmp: Any) -> None:
    """``out = sigmoid(x)``, the operations of ``ops.sigmoid`` (``_sigmoid_forward``) in place."""
    xp.minimum(x, 0, out=out)
    xp.exp(out, out=out)
    xp.abs(x, out=tmp)
    xp.negative(tmp, out=tmp)
    xp.exp(tmp, out=tmp)
    tmp += 1
    out /= tmp


def _project(backend: Any, h: Any, w: Any, b: Any) -> Any:
    """``h @ w.T + b`` as ``F.linear`` computes it (a new array)."""
    a = backend.matmul(h, w.T)
    if b is not None:
        kernels.bias_forward(a, b)
    return a


def _first_delta(d: Any, gy: Any, t: int, xp: Any, like: Any) -> Any:
    """The state's gradient at a step: what came from the step after, plus the output's (a new array or
    one the caller gave, never written to)."""
    if gy is not None:
        return gy[t] if d is None else d + gy[t]
    return xp.zeros_like(like) if d is None else d


def _hidden_before(hs: Any, reverse: bool, xp: Any) -> Any:
    """The state each step started from, in time order, as (T * N, width)."""
    steps = hs.shape[0] - 1
    h = hs[steps - 1::-1] if reverse else hs[:steps]
    return xp.ascontiguousarray(h).reshape(-1, hs.shape[-1])


def _weight_grads(backend: Any, dpre: Any, ctx: FunctionCtx, needs: tuple) -> tuple:
    """``weight_hh``'s and ``bias_hh``'s gradients from the pre-activation gradients (T, N, G) in time order."""
    xp = backend.xp
    flat = dpre.reshape(-1, dpre.shape[-1])
    dw = backend.matmul(flat.T, _hidden_before(ctx.hs, ctx.reverse, xp)) if needs[3] else None
    db = flat.sum(axis=0) if needs[4] else None
    return dw, db


# RNN (tanh or relu): h' = act(xg + h W^T + b)
def _rnn_forward(backend: Any, xg: Any, h: Any, c: Any, w: Any, b: Any, w_hr: Any, order: range,
                 mode: str) -> tuple:
    xp = backend.xp
    steps, n, _ = xg.shape
    hs = xp.empty((steps + 1, n, w.shape[1]), dtype=xg.dtype)
    hs[0] = h
    for s, t in enumerate(order):
        a = _project(backend, hs[s], w, b)
        a += xg[t]
        if mode == "RNN_TANH":
            xp.tanh(a, out=hs[s + 1])
        else:
            xp.maximum(a, 0, out=hs[s + 1])
    return hs, ()


def _rnn_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                  needs: tuple) -> tuple:
    xp = backend.xp
    hs = ctx.hs
    steps = hs.shape[0] - 1
    y = hs[1:]
    if ctx.mode == "RNN_TANH":
        slope = y * y
        xp.subtract(1, slope, out=slope)
    else:
        slope = y != 0
    time = _time(steps, ctx.reverse)
    da = xp.empty((steps, *y.shape[1:]), dtype=y.dtype)
    d = gh
    for s in range(steps - 1, -1, -1):
        t = time(s)
        d = _first_delta(d, gy, t, xp, hs[0])
        xp.multiply(d, slope[s], out=da[t])
        d = backend.matmul(da[t], w) if s or needs[1] else None
    return (da, d, None, *_weight_grads(backend, da, ctx, needs), None)


# LSTM: c' = f * c + i * g, h' = o * tanh(c') (then h' W_hr^T with a projection)
def _lstm_forward(backend: Any, xg: Any, h: Any, c: Any, w: Any, b: Any, w_hr: Any, order: range,
                  mode: str) -> tuple:
    xp = backend.xp
    steps, n, gates = xg.shape
    size = gates // 4
    dtype = xg.dtype
    act = xp.empty((steps, n, gates), dtype=dtype)  # i, f, o: sigmoid; g: tanh
    cs = xp.empty((steps, n, size), dtype=dtype)
    tcs = xp.empty((steps, n, size), dtype=dtype)  # tanh(c)
    hu = None if w_hr is None else xp.empty((steps, n, size), dtype=dtype)  # h before the projection
    hs = xp.empty((steps + 1, n, w.shape[1]), dtype=dtype)
    hs[0] = h
    tmp = xp.empty((n, gates), dtype=dtype)
    g_part = slice(2 * size, 3 * size)
    for s, t in enumerate(order):
        a = _project(backend, hs[s], w, b)
        a += xg[t]
        gate = act[s]
        _sigmoid_into(xp, a, gate, tmp)
        xp.tanh(a[:, g_part], out=gate[:, g_part])
        c_new = cs[s]
        xp.multiply(gate[:, size:2 * size], c, out=c_new)
        ig = tmp[:, :size]
        xp.multiply(gate[:, :size], gate[:, g_part], out=ig)
        c_new += ig
        xp.tanh(c_new, out=tcs[s])
        if hu is None:
            xp.multiply(gate[:, 3 * size:], tcs[s], out=hs[s + 1])
        else:
            xp.multiply(gate[:, 3 * size:], tcs[s], out=hu[s])
            hs[s + 1] = backend.matmul(hu[s], w_hr.T)
        c = c_new
    return hs, (act, cs, tcs, hu)


def _lstm_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                   needs: tuple) -> tuple:
    xp = backend.xp
    act, cs, tcs, hu = ctx.arrays
    hs = ctx.hs
    steps, n, gates = act.shape
    size = gates // 4
    # The gates one after the other, (4, T, N, H): whole-sequence operations on contiguous arrays (on slices
    # of the last axis, NumPy would loop over T * N rows of H elements, several times slower).
    slots = xp.ascontiguousarray(act.reshape(steps, n, 4, size).transpose(2, 0, 1, 3))
    i, f, g, o = slots[0], slots[1], slots[2], slots[3]
    c0 = ctx.saved_tensors[2]._data
    # per step, the pre-activation gradients are dc * q[:3] (i, f, g) and dh * q[3] (o)
    q = xp.empty_like(slots)
    qi, qf, qg, qo = q[0], q[1], q[2], q[3]
    xp.subtract(1, i, out=qi)
    qi *= i
    qi *= g
    xp.subtract(1, f, out=qf)
    qf *= f
    qf[0] *= c0
    qf[1:] *= cs[:-1]
    xp.multiply(g, g, out=qg)
    xp.subtract(1, qg, out=qg)
    qg *= i
    xp.subtract(1, o, out=qo)
    qo *= o
    qo *= tcs
    to_c = tcs * tcs  # dc += dh * o * (1 - tanh(c)^2)
    xp.subtract(1, to_c, out=to_c)
    to_c *= o
    q3 = q[:3].transpose(1, 2, 0, 3)  # (T, N, 3, H)
    time = _time(steps, ctx.reverse)
    dpre = xp.empty_like(act)  # in time order
    dpre3 = dpre.reshape(steps, n, 4, size)[:, :, :3]
    dhs = None if w_hr is None else xp.empty((steps, n, w_hr.shape[0]), dtype=act.dtype)
    d, dc = gh, gc
    for s in range(steps - 1, -1, -1):
        t = time(s)
        d = _first_delta(d, gy, t, xp, hs[0])
        if dhs is not None:
            dhs[s] = d
            d = backend.matmul(d, w_hr)
        dc_new = d * to_c[s]
        if dc is not None:
            dc_new += dc
        xp.multiply(dc_new[:, None, :], q3[s], out=dpre3[t])
        xp.multiply(d, qo[s], out=dpre[t, :, 3 * size:])
        dc_new *= f[s]
        dc = dc_new
        d = backend.matmul(dpre[t], w) if s or needs[1] else None
    dw, db = _weight_grads(backend, dpre, ctx, needs)
    dwhr = None
    # one step and only c_n's gradient: weight_hr reaches nothing, so no gradient (None, as composed and PyTorch)
    if dhs is not None and needs[5] and (steps > 1 or gy is not None or gh is not None):
        dwhr = backend.matmul(dhs.reshape(-1, dhs.shape[-1]).T, hu.reshape(-1, size))
    return dpre, d, dc, dw, db, dwhr


# GRU: r, z = sigmoid(...), n = tanh(xg_n + r * (h W_hn^T + b_hn)), h' = n + z * (h - n)
def _gru_forward(backend: Any, xg: Any, h: Any, c: Any, w: Any, b: Any, w_hr: Any, order: range,
                 mode: str) -> tuple:
    xp = backend.xp
    steps, n, gates = xg.shape
    size = gates // 3
    dtype = xg.dtype
    rz = xp.empty((steps, n, 2 * size), dtype=dtype)
    ns = xp.empty((steps, n, size), dtype=dtype)
    hn = xp.empty((steps, n, size), dtype=dtype)  # h W_hn^T + b_hn
    hs = xp.empty((steps + 1, n, size), dtype=dtype)
    hs[0] = h
    tmp = xp.empty((n, 2 * size), dtype=dtype)
    for s, t in enumerate(order):
        a = _project(backend, hs[s], w, b)
        x = xg[t]
        pre = x[:, :2 * size] + a[:, :2 * size]
        _sigmoid_into(xp, pre, rz[s], tmp)
        hn[s] = a[:, 2 * size:]
        new = ns[s]
        xp.multiply(rz[s, :, :size], hn[s], out=new)
        new += x[:, 2 * size:]
        xp.tanh(new, out=new)
        diff = tmp[:, :size]
        xp.subtract(hs[s], new, out=diff)
        diff *= rz[s, :, size:]
        xp.add(new, diff, out=hs[s + 1])
    return hs, (rz, ns, hn)


def _gru_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                  needs: tuple) -> tuple:
    xp = backend.xp
    rz, ns, hn = ctx.arrays
    hs = ctx.hs
    steps, n, size = ns.shape
    pair = xp.ascontiguousarray(rz.reshape(steps, n, 2, size).transpose(2, 0, 1, 3))  # as the LSTM's slots
    r, z = pair[0], pair[1]
    to_n = ns * ns  # dn_pre = dh * (1 - z) * (1 - n^2)
    xp.subtract(1, to_n, out=to_n)
    to_n *= 1 - z
    to_z = hs[:-1] - ns  # dz_pre = dh * (h - n) * z * (1 - z)
    to_z *= z
    to_z *= 1 - z
    to_r = 1 - r  # dr_pre = dn_pre * (h W_hn^T + b_hn) * r * (1 - r)
    to_r *= r
    to_r *= hn
    time = _time(steps, ctx.reverse)
    dhh = xp.empty((steps, n, 3 * size), dtype=ns.dtype)  # of h W_hh^T + b_hh, in time order
    dn = xp.empty_like(ns)  # of the n gate's pre-activation
    d = gh
    for s in range(steps - 1, -1, -1):
        t = time(s)
        d = _first_delta(d, gy, t, xp, hs[0])
        dn_t, dh_t = dn[t], dhh[t]
        xp.multiply(d, to_n[s], out=dn_t)
        xp.multiply(dn_t, to_r[s], out=dh_t[:, :size])
        xp.multiply(d, to_z[s], out=dh_t[:, size:2 * size])
        xp.multiply(dn_t, r[s], out=dh_t[:, 2 * size:])
        if s or needs[1]:
            prev = backend.matmul(dh_t, w)
            prev += d * z[s]
            d = prev
        else:
            d = None
    dxg = None
    if needs[0]:
        dxg = dhh.copy()
        dxg[..., 2 * size:] = dn
    return (dxg, d, None, *_weight_grads(backend, dhh, ctx, needs), None)


_FORWARD = {"RNN_TANH": _rnn_forward, "RNN_RELU": _rnn_forward, "LSTM": _lstm_forward, "GRU": _gru_forward}
_BACKWARD = {"RNN_TANH": _rnn_backward, "RNN_RELU": _rnn_backward, "LSTM": _lstm_backward, "GRU": _gru_backward}
