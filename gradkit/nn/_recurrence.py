"""The recurrence of one recurrent layer and direction (and of one cell step), two ways.

Both run on the packed layout (PyTorch's ``PackedSequence``). ``xg`` is the input's projection
``x @ weight_ih.T + bias_ih`` of every step, computed by the caller as one ``F.linear``. Packed, it is
(sum(batch_sizes), G) with G = gates * hidden: the steps one after the other in time order, step t's rows those of
the first ``batch_sizes[t]`` sequences (longest first). A padded (T, N, G) ``xg`` is the packed
``xg.reshape(T * N, G)``, T steps of N rows; a cell's (N, G) one is one step. A state holds the rows of the
sequences still running: forward, a sequence's state stops at its last step; reverse, each sequence starts at its
own last step, its state joining the batch from h0 (and c0).

``composed``: gradkit operations per step (``F.linear`` with ``weight_hh``, the gates sliced, ``sigmoid``,
``tanh``, products): gradients of every order come from their rules.

``FusedRecurrence``: the whole loop as one node (a ``gk.autograd.Function``). The forward runs on raw arrays and
keeps the gates' activations; the backward is the closed-form recurrence on raw arrays, with one matmul per step
for the state's gradient and one per sequence for ``weight_hh``'s (and ``weight_hr``'s). When the backward pass is
itself recorded (``create_graph=True``) the node rebuilds the composed graph from its inputs and takes its VJP with
recording on, so derivatives of every order are those of the composed path. Same operations in the same order as
the composed path (its forward results are the same to the bit on NumPy); no host reads.
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
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ------------------------------------------------------------------ the packed layout
class _Layout:
    """The steps of a packed batch: step t's rows ``rows[t]`` (a slice of ``sizes[t]`` rows, never more than the
    step before), and the order the steps run in (``order``: last step first for the reverse direction)."""

    __slots__ = ("order", "padded", "reverse", "rows", "sizes", "total")

    def __init__(self, sizes: tuple, reverse: bool) -> None:
        self.sizes, self.reverse = sizes, reverse
        self.padded = len(set(sizes)) < 2  # every step holds the whole batch
        self.rows = []
        start = 0
        for n in sizes:
            self.rows.append(slice(start, start + n))
            start += n
        self.total = start
        self.order = range(len(sizes) - 1, -1, -1) if reverse else range(len(sizes))


def _as_packed(xg: Any, batch_sizes: tuple | None, reverse: bool) -> tuple:
    """``xg`` (a Tensor or an array) as packed rows, (rows, G), and their ``_Layout``."""
    if batch_sizes is not None:
        return xg, _Layout(batch_sizes, reverse)
    if xg.ndim == 2:  # a cell step
        return xg, _Layout((xg.shape[0],), reverse)
    steps, n, width = xg.shape
    return xg.reshape(steps * n, width), _Layout((n,) * steps, reverse)


# ------------------------------------------------------------------ splitting and joining the steps
# Each is the other's VJP, so gradients of any order stay linear in the number of steps: slicing with
# ``getitem`` (or ``ops.concatenate``, whose VJP slices) would give each slice's gradient a zero tensor of the
# whole sequence's size, quadratic in the length (at the first order for splitting, at the second for joining).
class _Split(Function):
    """Consecutive blocks of rows of ``x`` of the given sizes (the steps of a packed batch); backward joins their
    gradients (zeros for those without)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, sizes: tuple) -> tuple:
        starts = [0]
        for n in sizes:
            starts.append(starts[-1] + n)
        return tuple(x[a:b] for a, b in zip(starts, starts[1:], strict=False))

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor) -> tuple:
        return _Join.apply(*grads), None


class _Join(Function):
    """Tensors joined along axis 0 (the steps of a packed batch); backward splits the gradient."""

    @staticmethod
    def forward(ctx: FunctionCtx, *xs: Tensor) -> Tensor:
        ctx.sizes = tuple(x.shape[0] for x in xs)
        return ops.concatenate(xs, 0)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple:
        return _Split.apply(g, ctx.sizes)


def _split(x: Tensor, sizes: tuple) -> tuple:
    """``x``'s rows in consecutive blocks of ``sizes`` (the steps of a packed batch): one node."""
    return (x,) if len(sizes) == 1 else _Split.apply(x, sizes)


def split_layers(x: Tensor) -> tuple:
    """The (N, width) layers of an (L, N, width) state: one node."""
    layers, n, width = x.shape
    return _split(x.reshape(layers * n, width), (n,) * layers)


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


def composed(mode: str, xg: Tensor, h0: Tensor, c0: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
             w_hr: Tensor | None, reverse: bool = False, batch_sizes: tuple | None = None) -> tuple:
    """(output, h_n, c_n or None) of one layer and direction: for a (T, N, G) ``xg`` the output is (T, N, width),
    for a packed one (with its ``batch_sizes``) (rows, width), for a cell's (N, G) one h_n itself."""
    step = _STEPS[mode]
    packed, layout = _as_packed(xg, batch_sizes, reverse)
    if mode == "GRU":  # split once here, not at every step
        hidden = xg.shape[-1] // 3
        x_rz, x_n = pieces(packed, (2 * hidden, hidden))
        xs: Any = list(zip(_split(x_rz, layout.sizes), _split(x_n, layout.sizes), strict=True))
    else:
        xs = _split(packed, layout.sizes)
    ys: list[Any] = [None] * len(xs)
    h, c = h0[:0], None if c0 is None else c0[:0]
    h_ended: list = []  # the final states of the sequences that ended, in row order
    c_ended: list = []
    for t in layout.order:
        h = _resize_states(h, layout.sizes[t], h0, h_ended)
        c = _resize_states(c, layout.sizes[t], c0, c_ended)
        h, c = step(xs[t], h, c, w_hh, b_hh, w_hr)
        ys[t] = h
    y = _Join.apply(*ys) if len(ys) > 1 else ys[0]
    if xg.ndim == 3:
        y = y.reshape(*xg.shape[:2], y.shape[1])
    h_n = ops.concatenate([h, *h_ended], 0) if h_ended else h
    c_n = ops.concatenate([c, *c_ended], 0) if c_ended else c
    return y, h_n, c_n


def _resize_states(state: Tensor | None, size: int, first: Tensor | None, ended: list) -> Tensor | None:
    """``_resize`` on Tensors (None stays None): the states of sequences that leave go to the front of ``ended``
    (the last rows leave first, so ``ended`` is in row order), those of sequences that join come from ``first``."""
    if state is None:
        return None
    active = state.shape[0]
    if size < active:
        ended.insert(0, state[size:])
        return state[:size]
    if size > active:
        return ops.concatenate((state, first[active:size]), 0)
    return state


def recurrence(mode: str, xg: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None, reverse: bool = False, batch_sizes: tuple | None = None) -> tuple:
    """As ``composed``: (output, h_n, c_n or None), through ``FusedRecurrence`` unless ``FUSED`` is off."""
    if not FUSED:
        return composed(mode, xg, h, c, w_hh, b_hh, w_hr, reverse, batch_sizes)
    out = FusedRecurrence.apply(xg, h, c, w_hh, b_hh, w_hr, mode, reverse, batch_sizes)
    out = out if isinstance(out, tuple) else (out,)
    if xg.ndim == 2 and batch_sizes is None:  # a cell step: its output is h
        out = (out[0], *out)
    return out if mode == "LSTM" else (*out, None)


# ------------------------------------------------------------------ fused: the loop on raw arrays
class FusedRecurrence(Function):
    """One layer and direction (or one cell step) as one node; see the module's docstring.

    ``forward(ctx, xg, h0, c0, w_hh, b_hh, w_hr, mode, reverse, batch_sizes=None)`` returns (output, h_n[, c_n])
    for a (T, N, G) ``xg`` or a packed (sum(batch_sizes), G) one, and h[, c] for a cell's (N, G) one (c0, c_n,
    c only for an LSTM).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, xg: Tensor, h0: Tensor, c0: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
                w_hr: Tensor | None, mode: str, reverse: bool, batch_sizes: tuple | None = None) -> Any:
        backend = xg._backend
        packed, layout = _as_packed(xg._data, batch_sizes, reverse)
        hs, h_n, c_n, arrays = _FORWARD[mode](backend, packed, h0._data, _raw(c0), w_hh._data, _raw(b_hh),
                                              _raw(w_hr), layout, mode)
        ctx.mode, ctx.reverse, ctx.batch_sizes = mode, reverse, batch_sizes
        ctx.cell = xg.ndim == 2 and batch_sizes is None
        ctx.layout, ctx.h, ctx.arrays = layout, hs, arrays
        ctx.save_for_backward(xg, h0, c0, w_hh, b_hh, w_hr)
        ctx.set_materialize_grads(False)
        outs = [_make(h_n, backend)]
        if mode == "LSTM":
            outs.append(_make(c_n, backend))
        if not ctx.cell:
            y = hs.after.copy()  # the output must not share the saved array
            outs.insert(0, _make(y.reshape(*xg.shape[:2], y.shape[1]) if xg.ndim == 3 else y, backend))
        return tuple(outs) if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Tensor | None) -> tuple:
        if grad_mode.state.enabled:  # create_graph=True: the composed graph's VJP, recorded
            return (*_recomposed(ctx, grads), None, None, None)
        if ctx.cell:  # a cell step has no output apart from h
            grads = (None, *grads)
        gy, gh, gc = (*grads, None)[:3]
        xg, _, _, w_hh, _, w_hr = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if gy is not None:
            gy = gy._data.reshape(-1, gy.shape[-1])  # packed rows, as the forward's
        arrays = _BACKWARD[ctx.mode](xg._backend, ctx, gy, _raw(gh), _raw(gc), w_hh._data, _raw(w_hr), needs)
        dxg, dh0, dc0, dw, db, dwhr = arrays
        if dxg is not None:
            dxg = dxg.reshape(xg.shape)
        return tuple(None if a is None or not n else _make(a, xg._backend)
                     for a, n in zip((dxg, dh0, dc0, dw, db, dwhr), needs, strict=False)) + (None, None, None)


def _recomposed(ctx: FunctionCtx, grads: tuple) -> list:
    """The input gradients as recorded operations: the composed graph rebuilt from the inputs, and its VJP."""
    args = list(ctx.saved_tensors)
    wanted = [k for k, need in enumerate(ctx.needs_input_grad[:6]) if need]
    for k in wanted:  # an alias node per argument: one tensor passed twice (h0 and c0) gets each gradient apart
        args[k] = alias(args[k], "rnn_input")
    y, h_n, c_n = composed(ctx.mode, *args, ctx.reverse, ctx.batch_sizes)
    outs = [h_n] if ctx.cell else [y, h_n]  # as the node's outputs
    if ctx.mode == "LSTM":
        outs.append(c_n)
    pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
    found = run_backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph=True, create_graph=True,
                         inputs=[args[k] for k in wanted])
    result: list[Any] = [None] * 6
    for k, g in zip(wanted, found, strict=True):
        result[k] = g
    return result


def _raw(t: Tensor | None) -> Any:
    return None if t is None else t._data


# Raw arrays in the packed layout: an array over the steps is (rows, width), step t's rows ``layout.rows[t]``; in
# the loops, a state is (sequences still running, width).
class _States:
    """A state (h or c) over the steps: ``after`` (rows, width), the state each step gave, and ``before()``, the one
    it started from (the previous step's rows, or ``first``'s, h0's or c0's, for a sequence's first step). Padded,
    ``after`` lies next to a copy of ``first`` in one array, so that ``before()`` is a view of that array (no copy);
    packed, ``before()`` is made when first asked for."""

    __slots__ = ("_before", "after", "first", "layout")

    def __init__(self, xp: Any, first: Any, layout: _Layout) -> None:
        self.first, self.layout = first, layout
        rows, n, width = layout.total, first.shape[0], first.shape[1]
        if not layout.padded:
            self.after, self._before = xp.empty((rows, width), dtype=first.dtype), None
            return
        both = xp.empty((rows + n, width), dtype=first.dtype)
        if layout.reverse:
            both[rows:] = first
            self.after, self._before = both[:rows], both[n:]
        else:
            both[:n] = first
            self.after, self._before = both[n:], both[:rows]

    def before(self, xp: Any) -> Any:
        if self._before is None:  # the forward loop's states again
            before, first, layout = xp.empty_like(self.after), self.first, self.layout
            ended = xp.empty_like(first)  # unused
            state = first[:0]
            for t in layout.order:
                at = layout.rows[t]
                before[at] = _resize(xp, state, layout.sizes[t], first, ended)
                state = self.after[at]
            self._before = before
        return self._before


def _resize(xp: Any, state: Any, size: int, first: Any, last: Any) -> Any:
    """The state of the first ``size`` sequences, from ``state`` (that of the first ``len(state)``): the rows of
    sequences that leave are written to ``last``, those of sequences that join come from ``first``. Forward,
    ``first`` is h0 and ``last`` h_n; backward, ``first`` is h_n's gradient and ``last`` h0's."""
    active = state.shape[0]
    if size < active:
        last[size:active] = state[size:]
        return state[:size]
    if size > active:
        return xp.concatenate((state, first[active:size]))
    return state


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


def _grad_start(xp: Any, g: Any, like: Any) -> tuple:
    """A final state's gradient (zeros when None) and the array that will hold the initial state's."""
    return (xp.zeros_like(like) if g is None else g), xp.empty_like(like)


def _weight_grads(backend: Any, dpre: Any, ctx: FunctionCtx, needs: tuple) -> tuple:
    """``weight_hh``'s and ``bias_hh``'s gradients from the pre-activation gradients, (rows, G)."""
    dw = db = None
    if needs[3]:
        dw = backend.matmul(dpre.T, ctx.h.before(backend.xp))
    if needs[4]:
        db = dpre.sum(axis=0)
    return dw, db


# Each forward takes the packed ``xg``, (rows, G), h0 and c0 (or None), (N, width), and returns (h's ``_States``,
# whose ``after`` is the output, h_n, c_n or None, the arrays its backward needs). Each backward takes the
# gradients of the output (rows, width), h_n and c_n (None: zero) and returns those of (xg, h0, c0, weight_hh,
# bias_hh, weight_hr).
# RNN (tanh or relu): h' = act(xg + h W^T + b)
def _rnn_forward(backend: Any, xg: Any, h0: Any, c0: Any, w: Any, b: Any, w_hr: Any, layout: _Layout,
                 mode: str) -> tuple:
    xp = backend.xp
    hs = _States(xp, h0, layout)
    h_n = xp.empty_like(h0)
    h = h0[:0]
    for t in layout.order:
        at = layout.rows[t]
        h = _resize(xp, h, layout.sizes[t], h0, h_n)
        a = _project(backend, h, w, b)
        a += xg[at]
        h = hs.after[at]
        if mode == "RNN_TANH":
            xp.tanh(a, out=h)
        else:
            xp.maximum(a, 0, out=h)
    _resize(xp, h, 0, h0, h_n)
    return hs, h_n, None, ()


def _rnn_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                  needs: tuple) -> tuple:
    xp = backend.xp
    y, layout = ctx.h.after, ctx.layout
    if ctx.mode == "RNN_TANH":
        slope = y * y
        xp.subtract(1, slope, out=slope)
    else:
        slope = y != 0
    da = xp.empty_like(y)
    gh, dh0 = _grad_start(xp, gh, ctx.h.first)
    first = layout.order[0]
    d = gh[:0]
    for t in reversed(layout.order):
        at = layout.rows[t]
        d = _resize(xp, d, layout.sizes[t], gh, dh0)
        if gy is not None:
            d = d + gy[at]
        xp.multiply(d, slope[at], out=da[at])
        # the gradient of the state before the step: before the first step run, that is h0's (skipped unless wanted)
        d = backend.matmul(da[at], w) if t != first or needs[1] else None
    if d is not None:
        _resize(xp, d, 0, gh, dh0)
    return (da, dh0 if needs[1] else None, None, *_weight_grads(backend, da, ctx, needs), None)


# LSTM: c' = f * c + i * g, h' = o * tanh(c') (then h' W_hr^T with a projection)
def _lstm_forward(backend: Any, xg: Any, h0: Any, c0: Any, w: Any, b: Any, w_hr: Any, layout: _Layout,
                  mode: str) -> tuple:
    xp = backend.xp
    rows, gates = xg.shape
    size = gates // 4
    dtype = xg.dtype
    act = xp.empty((rows, gates), dtype=dtype)  # the gates' activations: i, f, o sigmoid, g tanh
    cs = _States(xp, c0, layout)
    tcs = xp.empty((rows, size), dtype=dtype)  # tanh(c) of each step's c
    hu = None if w_hr is None else xp.empty((rows, size), dtype=dtype)  # h before the projection
    hs = _States(xp, h0, layout)
    h_n, c_n = xp.empty_like(h0), xp.empty_like(c0)
    tmp = xp.empty((h0.shape[0], gates), dtype=dtype)
    g_part = slice(2 * size, 3 * size)
    h, c = h0[:0], c0[:0]
    for t in layout.order:
        at, n = layout.rows[t], layout.sizes[t]
        h = _resize(xp, h, n, h0, h_n)
        c = _resize(xp, c, n, c0, c_n)
        a = _project(backend, h, w, b)
        a += xg[at]
        gate = act[at]
        _sigmoid_into(xp, a, gate, tmp[:n])
        xp.tanh(a[:, g_part], out=gate[:, g_part])
        c_new = cs.after[at]
        xp.multiply(gate[:, size:2 * size], c, out=c_new)
        ig = tmp[:n, :size]
        xp.multiply(gate[:, :size], gate[:, g_part], out=ig)
        c_new += ig
        xp.tanh(c_new, out=tcs[at])
        h = hs.after[at]
        if hu is None:
            xp.multiply(gate[:, 3 * size:], tcs[at], out=h)
        else:
            xp.multiply(gate[:, 3 * size:], tcs[at], out=hu[at])
            h[...] = backend.matmul(hu[at], w_hr.T)
        c = c_new
    _resize(xp, h, 0, h0, h_n)
    _resize(xp, c, 0, c0, c_n)
    return hs, h_n, c_n, (act, cs, tcs, hu)


def _lstm_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                   needs: tuple) -> tuple:
    xp = backend.xp
    act, cs, tcs, hu = ctx.arrays
    layout = ctx.layout
    rows, gates = act.shape
    size = gates // 4
    # The gates one after the other, (4, rows, H): whole-sequence operations on contiguous arrays (on slices
    # of the last axis, NumPy would loop over the rows of H elements, several times slower).
    slots = xp.ascontiguousarray(act.reshape(rows, 4, size).transpose(1, 0, 2))
    i, f, g, o = slots[0], slots[1], slots[2], slots[3]
    # per step, the pre-activation gradients are dc * q[:3] (i, f, g) and dh * q[3] (o)
    q = xp.empty_like(slots)
    qi, qf, qg, qo = q[0], q[1], q[2], q[3]
    xp.subtract(1, i, out=qi)
    qi *= i
    qi *= g
    xp.subtract(1, f, out=qf)
    qf *= f
    qf *= cs.before(xp)
    xp.multiply(g, g, out=qg)
    xp.subtract(1, qg, out=qg)
    qg *= i
    xp.subtract(1, o, out=qo)
    qo *= o
    qo *= tcs
    to_c = tcs * tcs  # dc += dh * o * (1 - tanh(c)^2)
    xp.subtract(1, to_c, out=to_c)
    to_c *= o
    q3 = q[:3].transpose(1, 0, 2)  # (rows, 3, H)
    dpre = xp.empty_like(act)
    dpre3 = dpre.reshape(rows, 4, size)[:, :3]
    dhs = None if w_hr is None else xp.empty((rows, w_hr.shape[0]), dtype=act.dtype)
    # one step and only c_n's gradient: weight_hr reaches nothing, so no gradient (None, as composed and PyTorch)
    reaches_hr = len(layout.sizes) > 1 or gy is not None or gh is not None
    gh, dh0 = _grad_start(xp, gh, ctx.h.first)
    gc, dc0 = _grad_start(xp, gc, cs.first)
    first = layout.order[0]
    d, dc = gh[:0], gc[:0]
    for t in reversed(layout.order):
        at, n = layout.rows[t], layout.sizes[t]
        d = _resize(xp, d, n, gh, dh0)
        dc = _resize(xp, dc, n, gc, dc0)
        if gy is not None:
            d = d + gy[at]
        if dhs is not None:
            dhs[at] = d
            d = backend.matmul(d, w_hr)
        dc_new = d * to_c[at]
        dc_new += dc
        xp.multiply(dc_new[:, None, :], q3[at], out=dpre3[at])
        xp.multiply(d, qo[at], out=dpre[at, 3 * size:])
        dc_new *= f[at]
        dc = dc_new
        d = backend.matmul(dpre[at], w) if t != first or needs[1] else None
    if d is not None:
        _resize(xp, d, 0, gh, dh0)
    _resize(xp, dc, 0, gc, dc0)
    dw, db = _weight_grads(backend, dpre, ctx, needs)
    dwhr = None
    if dhs is not None and needs[5] and reaches_hr:
        dwhr = backend.matmul(dhs.T, hu)
    return dpre, dh0 if needs[1] else None, dc0, dw, db, dwhr


# GRU: r, z = sigmoid(...), n = tanh(xg_n + r * (h W_hn^T + b_hn)), h' = n + z * (h - n)
def _gru_forward(backend: Any, xg: Any, h0: Any, c0: Any, w: Any, b: Any, w_hr: Any, layout: _Layout,
                 mode: str) -> tuple:
    xp = backend.xp
    rows, gates = xg.shape
    size = gates // 3
    dtype = xg.dtype
    rz = xp.empty((rows, 2 * size), dtype=dtype)  # the r and z gates' activations
    ns = xp.empty((rows, size), dtype=dtype)  # the n gate's
    hn = xp.empty((rows, size), dtype=dtype)  # h W_hn^T + b_hn
    hs = _States(xp, h0, layout)
    h_n = xp.empty_like(h0)
    tmp = xp.empty((h0.shape[0], 2 * size), dtype=dtype)
    h = h0[:0]
    for t in layout.order:
        at, n = layout.rows[t], layout.sizes[t]
        h = _resize(xp, h, n, h0, h_n)
        a = _project(backend, h, w, b)
        x = xg[at]
        gate = rz[at]
        pre = x[:, :2 * size] + a[:, :2 * size]
        _sigmoid_into(xp, pre, gate, tmp[:n])
        hn[at] = a[:, 2 * size:]
        new = ns[at]
        xp.multiply(gate[:, :size], hn[at], out=new)
        new += x[:, 2 * size:]
        xp.tanh(new, out=new)
        diff = tmp[:n, :size]
        xp.subtract(h, new, out=diff)
        diff *= gate[:, size:]
        h = hs.after[at]
        xp.add(new, diff, out=h)
    _resize(xp, h, 0, h0, h_n)
    return hs, h_n, None, (rz, ns, hn)


def _gru_backward(backend: Any, ctx: FunctionCtx, gy: Any, gh: Any, gc: Any, w: Any, w_hr: Any,
                  needs: tuple) -> tuple:
    xp = backend.xp
    rz, ns, hn = ctx.arrays
    layout = ctx.layout
    rows, size = ns.shape
    pair = xp.ascontiguousarray(rz.reshape(rows, 2, size).transpose(1, 0, 2))  # as the LSTM's slots
    r, z = pair[0], pair[1]
    before = ctx.h.before(xp)
    to_n = ns * ns  # dn_pre = dh * (1 - z) * (1 - n^2)
    xp.subtract(1, to_n, out=to_n)
    to_n *= 1 - z
    to_z = before - ns  # dz_pre = dh * (h - n) * z * (1 - z)
    to_z *= z
    to_z *= 1 - z
    to_r = 1 - r  # dr_pre = dn_pre * (h W_hn^T + b_hn) * r * (1 - r)
    to_r *= r
    to_r *= hn
    dhh = xp.empty((rows, 3 * size), dtype=ns.dtype)  # of h W_hh^T + b_hh
    dn = xp.empty_like(ns)  # of the n gate's pre-activation
    gh, dh0 = _grad_start(xp, gh, ctx.h.first)
    first = layout.order[0]
    d = gh[:0]
    for t in reversed(layout.order):
        at = layout.rows[t]
        d = _resize(xp, d, layout.sizes[t], gh, dh0)
        if gy is not None:
            d = d + gy[at]
        dn_t, dh_t = dn[at], dhh[at]
        xp.multiply(d, to_n[at], out=dn_t)
        xp.multiply(dn_t, to_r[at], out=dh_t[:, :size])
        xp.multiply(d, to_z[at], out=dh_t[:, size:2 * size])
        xp.multiply(dn_t, r[at], out=dh_t[:, 2 * size:])
        if t != first or needs[1]:
            prev = backend.matmul(dh_t, w)
            prev += d * z[at]
            d = prev
        else:
            d = None
    if d is not None:
        _resize(xp, d, 0, gh, dh0)
    dxg = None
    if needs[0]:
        dxg = dhh.copy()
        dxg[:, 2 * size:] = dn
    return (dxg, dh0 if needs[1] else None, None, *_weight_grads(backend, dhh, ctx, needs), None)


_FORWARD = {"RNN_TANH": _rnn_forward, "RNN_RELU": _rnn_forward, "LSTM": _lstm_forward, "GRU": _gru_forward}
_BACKWARD = {"RNN_TANH": _rnn_backward, "RNN_RELU": _rnn_backward, "LSTM": _lstm_backward, "GRU": _gru_backward}
