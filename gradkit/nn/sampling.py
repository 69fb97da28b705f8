"""``F.affine_grid`` and ``F.grid_sample`` (PyTorch's spatial transformer pair).

``affine_grid`` is one matmul of a constant base grid with the affine matrices. ``grid_sample`` unnormalises the
grid's coordinates and maps them through the padding mode in one node whose slope is piecewise constant
(PyTorch's: 0 at a clipped border, -1 where a reflection flips), makes the weights of the taps around each
position from them (bilinear/trilinear: products of ``1 - t`` and ``t``, one node; bicubic: Keys' kernel with
A = -0.75, gradkit ops), and sums the input at the taps times the weights in recorded sampler nodes whose VJPs
are each other (see below), without a host read. The gradients with respect to the input and to the grid, of
every order, follow; taps outside the input count as zeros (and get no gradient), as in PyTorch's kernels.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, text
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn.activation import _sloped
from gradkit.nn.functional import _warn_at_caller
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = ["affine_grid", "grid_sample"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")
_A = -0.75  # the cubic convolution constant (PyTorch's, and OpenCV's)


def _align(align_corners: Any, op: str) -> bool:
    """``align_corners`` as a bool: None is False, with PyTorch's warning that the default changed in 1.3.0."""
    if align_corners is None:
        _warn_at_caller(
            f"{op}: align_corners=None is align_corners=False (PyTorch's default since its version 1.3.0, which "
            "grid_sample and affine_grid share); pass align_corners=False, or True for the old behaviour, to "
            "silence this warning"
        )
        return False
    return flag(align_corners, op, "align_corners")


def _float_tensor(value: Any, op: str, name: str, like: Tensor | None = None) -> Tensor:
    t = value if isinstance(value, Tensor) else as_tensor(value, op, like._backend if like is not None else None)
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.dtype}; convert with .astype()")
    return t


# ------------------------------------------------------------------ affine_grid
def _base_coords(n: int, align: bool, dtype: np.dtype) -> np.ndarray:
    """PyTorch's normalised pixel centres of one axis: ``linspace(-1, 1, n)``, times ``(n - 1) / n`` unless
    ``align`` (0 for a single pixel)."""
    if n <= 1:
        return np.zeros(max(n, 0), dtype=dtype)
    r = np.linspace(-1, 1, n, dtype=dtype)
    return r if align else (r * (n - 1) / n).astype(dtype, copy=False)


def affine_grid(theta: Any, size: Any, align_corners: Any = None) -> Tensor:
    """PyTorch's ``F.affine_grid``: the sampling grid ``(N, H, W, 2)`` (or ``(N, D, H, W, 3)``) of the affine
    matrices ``theta`` (N, 2, 3) (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or (N, C, D, H, W)).

    Each grid point is ``theta @ [x, y, (z,) 1]`` at the output pixel's normalised centre (``align_corners``:
    -1 and 1 are the corner pixels' centres, else their outer edges). Differentiable in ``theta`` (one matmul).
    """
    op = "affine_grid"
    align = _align(align_corners, op)
    t = _float_tensor(theta, op, "theta")
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__"):
        raise ArgumentTypeError(f"{op}: size must be a sequence of 4 or 5 ints (N, C, H, W) or (N, C, D, H, W), "
                                f"got {type(size).__name__} {size!r:.40}")
    try:
        dims = tuple(int(d) for d in size)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentTypeError(f"{op}: size must hold ints, got {size!r:.60}") from None
    if any(isinstance(d, (bool, float)) for d in size):
        raise ArgumentTypeError(f"{op}: size must hold ints, got {size!r:.60}")
    if len(dims) not in (4, 5):
        raise ShapeError(
            f"{op}: size must have 4 entries (N, C, H, W) for a 2-D grid or 5 (N, C, D, H, W) for a 3-D one, "
            f"got {dims}"
        )
    k = len(dims) - 2
    if t.ndim != 3 or t.shape[1:] != (k, k + 1):
        raise ShapeError(
            f"{op}: theta must be a batch of {k}-D affine matrices of shape (N, {k}, {k + 1}) for size {dims}, "
            f"got shape {t.shape}"
        )
    if t.shape[0] != dims[0]:
        raise ShapeError(f"{op}: theta holds {t.shape[0]} matrices, but size {dims} asks for a batch of {dims[0]}")
    spatial = dims[2:]
    if min(dims) <= 0:
        raise ShapeError(f"{op}: every entry of size must be positive, got {dims}")
    if align and min(spatial) == 1:
        _warn_at_caller(
            f"{op}: with align_corners=True, a spatial size of 1 puts its grid points at 0 (PyTorch's rule since "
            "1.3.0); this is not an intended use of affine_grid"
        )
    dtype = t.dtype
    axes = [_base_coords(n, align, dtype) for n in spatial]  # (D,) H, W
    mesh = np.meshgrid(*axes, indexing="ij")
    # the last axis holds x (along W), y (along H), (z,) then 1
    base = np.stack([*mesh[::-1], np.ones(spatial, dtype=dtype)], axis=-1).reshape(1, math.prod(spatial), k + 1)
    base_t = Tensor._make(t._backend.asarray(base), t._backend)
    grid = ops.matmul(base_t, ops.transpose(t, (0, 2, 1)))  # (N, prod(spatial), k)
    return ops.reshape(grid, (dims[0], *spatial, k))


# ------------------------------------------------------------------ grid_sample
# One call reads the input at K taps per output position (bilinear: the 2^k corners; nearest: 1; bicubic: 4 x 4)
# with weights W (N, K, M) (M output positions) that are a differentiable function of the grid. Three recorded
# nodes do the work that grows with the channels, and each one's VJPs are the other two, so gradients of every
# order work: the sample (input, W -> output), its scatter (an output-shaped gradient, W -> an input-shaped one:
# the input's gradient) and the tap sums (an output-shaped gradient, input -> (N, K, M), W's gradient: the sum
# over the channels of the gradient times the tap's value). They read the input with a border of zeros two
# pixels wide and send a tap outside the input into the border: it reads 0 and gets no gradient, as in
# PyTorch's kernels. On the CPU they loop over the channels and over chunks of the batch, each step a take,
# einsum or bincount over contiguous arrays small enough for the cache; elsewhere one gather and one
# scatter_add serve all channels. No host reads anywhere.
_CHUNK = 1 << 16  # taps per step of the CPU loops (a chunk of the batch holds at least one entry)


def _reflect_raw(xp: Any, c: Any, twice_low: int, twice_high: int) -> tuple[Any, Any]:
    """PyTorch's ``reflect_coordinates_set_grad``: ``c`` reflected into [low, high] by its borders (as often as
    needed), and the slope (+1 or -1; 0 when the span is empty)."""
    if twice_low == twice_high:
        return xp.zeros_like(c), xp.zeros_like(c)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    d = c - low
    a = xp.abs(d)
    with np.errstate(invalid="ignore"):  # an infinite position reflects to NaN, which the clip sends to 0
        flips = xp.floor(a / span)
        extra = _remainder(xp, a, span, flips)
    half = flips * 0.5
    odd = xp.floor(half) != half  # fmod(flips, 2) != 0 (NaN too; infinity's value is NaN either way)
    value = xp.where(odd, span - extra + low, extra + low).astype(c.dtype, copy=False)
    one = c.dtype.type(1)  # a NumPy scalar keeps the dtype (a 0-d array would be a host array to CuPy)
    return value, xp.where((d < 0) != odd, -one, one)


def _remainder(xp: Any, a: Any, span: float, flips: Any) -> Any:
    """``fmod(a, span)`` of ``a`` >= 0 (or NaN) and an integer ``span``, given ``flips = floor(a / span)``.

    On the CPU: ``a - flips * span`` (plus span should a / span have rounded up to an integer, a guard), exact
    as fmod while ``flips * span`` is, for a below 2^(p - 1) (p: the dtype's precision); fmod beyond that (and
    for NaN and infinity), on those elements only."""
    if xp is not np:
        return xp.fmod(a, span)
    extra = a - flips * span
    np.add(extra, span, out=extra, where=extra < 0)
    far = ~(a < 2.0 ** (np.finfo(a.dtype).nmant))  # 2^(p - 1); NaN and infinity too
    if far.any():
        extra[far] = np.fmod(a[far], span)
    return extra


def _clip_raw(xp: Any, c: Any, n: int) -> tuple[Any, Any]:
    """PyTorch's ``clip_coordinates_set_grad``: ``c`` limited to [0, n - 1], slope 1 strictly inside, else 0; NaN
    (and so a reflected infinity) goes to 0, as PyTorch's ``min(n - 1, max(c, 0))`` on the CPU and CUDA."""
    inside = (c > 0) & (c < n - 1)
    return xp.where(xp.isnan(c), 0, xp.clip(c, 0, n - 1)).astype(c.dtype, copy=False), inside


def _pad_raw(xp: Any, c: Any, n: int, padding: str, align: bool) -> tuple[Any, Any]:
    """A pixel position after the padding mode (zeros: unchanged; border: clipped; reflection: reflected, then
    clipped) and its slope (None for zeros: 1 everywhere)."""
    if padding == "zeros":
        return c, None
    slope = None
    if padding == "reflection":
        c, slope = _reflect_raw(xp, c, 0, 2 * (n - 1)) if align else _reflect_raw(xp, c, -1, 2 * n - 1)
    c, inside = _clip_raw(xp, c, n)
    return c, inside if slope is None else slope * inside


def _bordered(xp: Any, f: Any, n: int) -> Any:
    """Whole pixel positions (a float array; NaN, infinite or far outside too) as positions in the input with
    its border of zeros, two pixels wide: 2 + the position in [0, n), else 0 (before; NaN too) or n + 2 (after).
    The next pixel (a bilinear high corner) is then inside the bordered input as well, and a zero when it lies
    outside the input."""
    return xp.fmin(xp.fmax(f, -2), n) + 2  # fmax and fmin take the number where the other is NaN


def _cubic_taps(xp: Any, lows: Any, n: int, padding: str, align: bool) -> Any:
    """The bicubic taps along one spatial axis of size n, (N, 4, M): the positions ``lows`` (N, M) - 1, + 0, + 1
    and + 2 after the padding mode (PyTorch's get_value_bounded), in the input with its border (``_bordered``).

    On the CPU the padded positions of the whole pixels near the input come from a table of them (the same
    formulas; every padding mode saturates before the table's ends but reflection, whose positions beyond them
    and NaN take the formulas)."""
    def formulas(low: Any) -> Any:
        return xp.stack([_bordered(xp, _pad_raw(xp, low + (j - 1), n, padding, align)[0], n) for j in range(4)], 1)

    if xp is not np:
        return formulas(lows)
    reach = 2 * n + 8  # the table holds the tap positions -reach .. n - 1 + reach (at least 5 beyond each end)
    table = _bordered(np, _pad_raw(np, np.arange(-reach, n + reach, dtype=lows.dtype), n, padding, align)[0], n)
    table = table.astype(np.int64)
    first = np.fmin(np.fmax(lows + (reach - 1), 0), table.size - 4).astype(np.int64)  # NaN: 0
    taps = np.take(table, first[:, None, :] + np.arange(4).reshape(1, 4, 1))
    if padding == "reflection":
        far = ~((lows >= 1 - reach) & (lows <= n + reach - 3))  # NaN too
        if far.any():
            taps.transpose(0, 2, 1)[far] = formulas(lows[far])
    return taps


def _coordinates(g: Tensor, sizes: tuple, padding: str, align: bool) -> tuple[Tensor, list]:
    """The grid's normalised positions as pixel positions (PyTorch's formulas), after the padding mode: one node
    of the grid's shape whose slope, the unnormalising scale times the padding's slope (0 where clipped, -1
    where reflected), is piecewise constant, as PyTorch's; and the positions along each spatial axis, (N, M)."""
    xp = g._backend.xp
    k = len(sizes)
    n = g.shape[0]
    m = math.prod(g.shape[1:-1])
    data = xp.empty(g.shape, dtype=g.dtype)
    slopes = xp.empty(g.shape, dtype=g.dtype)
    along: list = [None] * k
    for j in range(k):  # the grid's component j (x, y, z) addresses spatial axis k - 1 - j
        size = sizes[k - 1 - j]
        c = g._data[..., j]
        if align:
            c, scale = (c + 1) / 2 * (size - 1), (size - 1) / 2
        else:
            c, scale = ((c + 1) * size - 1) / 2, size / 2
        c, slope = _pad_raw(xp, c, size, padding, align)
        data[..., j] = c
        along[k - 1 - j] = c.reshape(n, m)
        slopes[..., j] = scale if slope is None else slope * scale
    return _sloped("grid_sample_coordinates", g, data, slopes), along


class _Taps:
    """Where one grid_sample call reads its input, which has a border of zeros two pixels wide on each side of
    every spatial axis. ``rows`` (N, K, M): for each tap and output position, the index of the pixel read in
    that bordered input flattened batch-major, counted from the first pixel of its chunk of ``chunk`` batch
    entries (all of them off the CPU). ``taps``: the bordered positions (N, T_a, M) along each spatial axis a
    (floats), or with ``consecutive`` the first of two neighbouring ones (N, M) (bilinear). ``constant_weights``:
    W's derivative with respect to the grid is zero (nearest)."""

    def __init__(self, x: Tensor, taps: list, out_spatial: tuple, constant_weights: bool,
                 consecutive: bool = False) -> None:
        self.backend = x._backend
        self.xp = xp = x._backend.xp
        self.in_spatial = x.shape[2:]
        self.bordered = tuple(s + 4 for s in self.in_spatial)
        self.inner = (slice(2, -2),) * len(self.in_spatial)
        self.pixels = math.prod(self.bordered)
        self.out_spatial = out_spatial
        self.positions = math.prod(out_spatial)
        self.constant_weights = constant_weights
        k = len(taps)
        count = 2**k if consecutive else math.prod(t.shape[1] for t in taps)
        n = x.shape[0]
        self.chunk = max(1, _CHUNK // max(1, count * self.positions)) if xp is np else max(n, 1)
        self.rows = self._rows(taps, n, count, xp, consecutive)

    def _rows(self, taps: list, n: int, count: int, xp: Any, consecutive: bool) -> Any:
        """(N, K, M), the first axis's tap slowest (PyTorch's corner order)."""
        k = len(taps)
        strides = [math.prod(self.bordered[a + 1:]) for a in range(k)]
        first = ((xp.arange(n, dtype=np.int64) % self.chunk) * self.pixels).reshape(n, 1, 1)
        rows = xp.empty((n, count, self.positions), dtype=np.int64)
        if consecutive:  # the taps are the first one plus constant offsets
            start = first[:, 0] + taps[0].astype(np.int64) * strides[0]
            for a in range(1, k):
                start += taps[a].astype(np.int64) * strides[a]
            for i, tap in enumerate(itertools.product((0, 1), repeat=k)):
                xp.add(start, sum(o * s for o, s in zip(tap, strides, strict=True)), out=rows[:, i])
            return rows
        scaled = [(t if t.dtype == np.int64 else t.astype(np.int64)) * s
                  for t, s in zip(taps, strides, strict=True)]
        scaled[0] += first
        if k == 2:  # tap (i, j) is row i * T_1 + j
            xp.add(scaled[0][:, :, None], scaled[1][:, None], out=rows.reshape(n, *scaled[0].shape[1:2],
                                                                          scaled[1].shape[1], self.positions))
            return rows
        for i, tap in enumerate(itertools.product(*(range(t.shape[1]) for t in taps))):
            if k == 1:
                rows[:, i] = scaled[0][:, tap[0]]
                continue
            xp.add(scaled[0][:, tap[0]], scaled[1][:, tap[1]], out=rows[:, i])
            for a in range(2, k):
                rows[:, i] += scaled[a][:, tap[a]]
        return rows

    def chunks(self, n: int) -> Any:
        """The batch's chunks, as slices."""
        return (slice(n0, min(n, n0 + self.chunk)) for n0 in range(0, n, self.chunk))

    def channel_rows(self, data: Any) -> Any:
        """An input (N, C, *in) as (C, N * P): each channel's bordered pixels, batch-major."""
        n, c = data.shape[:2]
        out = self.xp.zeros((c, n) + self.bordered, dtype=data.dtype)
        out[(slice(None), slice(None)) + self.inner] = data.swapaxes(0, 1)
        return out.reshape(c, n * self.pixels)

    def gather(self, x: Any) -> Any:
        """The taps' values of every channel of an input (N, C, *in): (C, N, K, M)."""
        xc = self.channel_rows(x)
        if self.xp is not np:
            return self.xp.take(xc, self.rows, axis=1)
        n = x.shape[0]
        out = np.empty((xc.shape[0],) + self.rows.shape, dtype=x.dtype)
        for s in self.chunks(n):
            for ch in range(xc.shape[0]):
                self.take(xc[ch], s, out[ch, s])
        return out

    def take(self, xc: Any, s: slice, out: Any = None) -> Any:
        """One channel's taps (NumPy), of the chunk of batch entries ``s`` (xc: the channel's bordered pixels)."""
        span = xc[s.start * self.pixels:s.stop * self.pixels]
        return np.take(span, self.rows[s], out=out, mode="wrap")  # in range: "wrap" skips the slow checks


def _sample_raw(x: Any, w: Any, plan: _Taps, values: Any) -> Any:
    """sum_k w[n, k, m] * x[n, c, tap k of m] (``values``: the taps' values, (C, N, K, M), or None): (N, C,
    *out)."""
    xp = plan.xp
    n, c = x.shape[:2]
    if xp is np:
        out = np.empty((n, c, plan.positions), dtype=x.dtype)
        xc = plan.channel_rows(x) if values is None else None
        for s in plan.chunks(n):
            for ch in range(c):
                v = plan.take(xc[ch], s) if values is None else values[ch, s]
                np.einsum("nkm,nkm->nm", v, w[s], out=out[s, ch])
    else:
        v = plan.gather(x) if values is None else values
        out = xp.ascontiguousarray((v * w).sum(axis=2).swapaxes(0, 1))
    return out.reshape((n, c) + plan.out_spatial)


def _scatter_raw(g: Any, w: Any, plan: _Taps) -> Any:
    """The sample's transpose: each g[n, c, m] * w[n, k, m] added at tap k of m: (N, C, *in)."""
    xp = plan.xp
    n, c = g.shape[:2]
    g3 = g.reshape(n, c, plan.positions)
    crop = (slice(None),) + plan.inner
    if xp is np:
        out = np.empty((n, c) + plan.in_spatial, dtype=g.dtype)
        weights = np.empty((min(n, plan.chunk),) + plan.rows.shape[1:], dtype=np.float64)  # bincount's dtype
        for s in plan.chunks(n):
            count = s.stop - s.start
            flat = plan.rows[s].reshape(-1)
            part = weights[:count]
            for ch in range(c):  # np.bincount: float64 sums in the order of the entries, faster than np.add.at
                np.multiply(w[s], g3[s, ch, None], out=part)
                sums = np.bincount(flat, weights=part.reshape(-1), minlength=count * plan.pixels)
                out[s, ch] = sums.reshape((count,) + plan.bordered)[crop]
        return out
    size = n * plan.pixels  # one chunk
    values = w * g3.swapaxes(0, 1)[:, :, None]  # (C, N, K, M)
    index = plan.rows + (xp.arange(c, dtype=np.int64) * size).reshape(c, 1, 1, 1)
    target = xp.zeros(c * size, dtype=g.dtype)
    plan.backend.scatter_add(target, index, values)
    body = target.reshape((c * n,) + plan.bordered)[crop].reshape((c, n) + plan.in_spatial)
    return xp.ascontiguousarray(body.swapaxes(0, 1))


def _tap_sums_raw(g: Any, x: Any, plan: _Taps, values: Any) -> Any:
    """sum_c g[n, c, m] * x[n, c, tap k of m]: (N, K, M)."""
    xp = plan.xp
    n, c = g.shape[:2]
    g3 = g.reshape(n, c, plan.positions)
    if xp is np:
        out = np.zeros(plan.rows.shape, dtype=g.dtype)
        term = np.empty((min(n, plan.chunk),) + plan.rows.shape[1:], dtype=g.dtype)
        xc = plan.channel_rows(x) if values is None else None
        for s in plan.chunks(n):
            part = term[:s.stop - s.start]
            for ch in range(c):
                v = plan.take(xc[ch], s, part) if values is None else values[ch, s]
                out[s] += np.multiply(v, g3[s, ch, None], out=part)
        return out
    v = plan.gather(x) if values is None else values
    return (v * g3.swapaxes(0, 1)[:, :, None]).sum(axis=0)


def _sample(x: Tensor, w: Tensor, plan: _Taps, values: Any = None) -> Tensor:
    """The sample node. W's rule needs the taps' values, kept when W needs a gradient (K times the output's
    size, as the corner products of a composed sampler keep; not for nearest, whose W gets zeros): a snapshot,
    so that the input itself is only an edge for a recorded backward (in a tuple: no version check; an
    in-place change of the input after the forward does not change the gradients, as before)."""
    keep = w._requires_grad and grad_mode.state.enabled
    if keep and values is None and not plan.constant_weights:  # nearest's W gets zeros without them
        values = plan.gather(x._data)
    data = _sample_raw(x._data, w._data, plan, values)
    return record("grid_sample", data, plan.backend, (x, w), (_sample_vjp_x, _sample_vjp_w),
                  (plan, (x,) if keep else None, w, values if keep else None))


def _sample_vjp_x(g: Tensor, plan: _Taps, x: tuple | None, w: Tensor, values: Any) -> Tensor:
    return _scatter(g, w, plan)


def _sample_vjp_w(g: Tensor, plan: _Taps, x: tuple, w: Tensor, values: Any) -> Tensor:
    if plan.constant_weights and not grad_mode.state.enabled:  # multiplied by a zero slope next
        return Tensor._make(plan.xp.zeros(w.shape, dtype=w.dtype), plan.backend)
    return _tap_sums(g, x[0], plan, values)


def _scatter(g: Tensor, w: Tensor, plan: _Taps) -> Tensor:
    data = _scatter_raw(g._data, w._data, plan)
    return record("grid_sample_backward", data, plan.backend, (g, w), (_scatter_vjp_g, _scatter_vjp_w),
                  (plan, g if w._requires_grad else None, w))


def _scatter_vjp_g(h: Tensor, plan: _Taps, g: Tensor | None, w: Tensor) -> Tensor:
    return _sample(h, w, plan)


def _scatter_vjp_w(h: Tensor, plan: _Taps, g: Tensor, w: Tensor) -> Tensor:
    return _tap_sums(g, h, plan)


def _tap_sums(g: Tensor, x: Tensor, plan: _Taps, values: Any = None) -> Tensor:
    data = _tap_sums_raw(g._data, x._data, plan, values)
    return record("grid_sample_tap_sums", data, plan.backend, (g, x), (_tap_sums_vjp_g, _tap_sums_vjp_x),
                  (plan, g if x._requires_grad else None, x if g._requires_grad else None,
                   values if g._requires_grad else None))


def _tap_sums_vjp_g(u: Tensor, plan: _Taps, g: Tensor | None, x: Tensor, values: Any) -> Tensor:
    return _sample(x, u, plan, values)


def _tap_sums_vjp_x(u: Tensor, plan: _Taps, g: Tensor, x: Tensor | None, values: Any) -> Tensor:
    return _scatter(g, u, plan)


# ------------------------------------------------------------------ the weights
def _linear_factors(along: list, lows: list, stack: Any) -> list:
    """Per spatial axis a, (N, 2, M): ``(low + 1) - c`` and ``c - low``, the low and high corners' weights along
    a, of the positions ``along[a]`` (N, M) (arrays, or Tensors with ``stack`` = ops.stack)."""
    return [stack([(low + 1) - c, c - low], 1) for c, low in zip(along, lows, strict=True)]


def _along(f: Any, a: int, k: int) -> Any:
    """Axis a's factors (N, T, M) shaped to broadcast over the taps: (N,) + (T,) * k + (M,)."""
    n, t, m = f.shape
    return f.reshape((n,) + (1,) * a + (t,) + (1,) * (k - 1 - a) + (m,))


def _products(factors: list) -> Any:
    """The taps' weights (N, T^k, M), one factor per axis multiplied in, x's first (PyTorch's products)."""
    k = len(factors)
    w: Any = None
    for a in reversed(range(k)):  # spatial axis a is the grid's component k - 1 - a
        fa = _along(factors[a], a, k)
        w = fa if w is None else w * fa
    n, t, m = factors[0].shape
    return w.reshape(n, t**k, m)


def _linear_weights_vjp_core(u: Any, factors: list, shape: tuple, stack: Any) -> Any:
    """The positions' gradient (the grid's shape) from W's ``u`` (N, 2^k, M) (arrays or Tensors): along axis a,
    the high corners' part minus the low corners', each times the other axes' factors."""
    k = len(factors)
    n, _, m = factors[0].shape
    full = u.reshape((n,) + (2,) * k + (m,))
    grads = []
    for a in range(k):
        p = full
        for b in range(k):
            if b != a:
                p = p * _along(factors[b], b, k)
        p = p.sum(axis=tuple(1 + b for b in range(k) if b != a))  # (N, 2, M)
        grads.append(p[:, 1] - p[:, 0])
    return stack([grads[k - 1 - j] for j in range(k)], -1).reshape(shape)


def _linear_weights(c: Tensor, along: list, lows: list) -> Tensor:
    """Bilinear (trilinear) weights (N, 2^k, M) of the positions ``c`` (N, *out, k) (``along``: its positions
    along each spatial axis, (N, M)): one node."""
    factors = _linear_factors(along, lows, c._backend.xp.stack)
    return record("grid_sample_weights", _products(factors), c._backend, (c,), (_linear_weights_vjp,),
                  (c, lows, factors))


def _linear_weights_vjp(u: Tensor, c: Tensor, lows: list, factors: list) -> Tensor:
    xp = c._backend.xp
    if not grad_mode.state.enabled:  # along axis a: one einsum with the other axes' factors
        k = len(factors)
        n, _, m = factors[0].shape
        letters = "abc"[:k]
        full = u._data.reshape((n,) + (2,) * k + (m,))
        out = xp.empty((n, m, k), dtype=u.dtype)
        for a in range(k):
            others = [b for b in range(k) if b != a]
            spec = f"n{letters}m," + ",".join(f"n{letters[b]}m" for b in others) + f"->n{letters[a]}m"
            p = xp.einsum(spec, full, *(factors[b] for b in others))
            xp.subtract(p[:, 1], p[:, 0], out=out[..., k - 1 - a])
        return Tensor._make(out.reshape(c.shape), c._backend)
    # recorded: the factors again, as ops on the positions
    n, _, m = factors[0].shape
    k = len(factors)
    along = [ops.reshape(ops.getitem(c, (Ellipsis, k - 1 - a)), (n, m)) for a in range(k)]
    return _linear_weights_vjp_core(u, _linear_factors(along, lows, ops.stack), c.shape, ops.stack)


def _check_grid_args(input: Any, grid: Any, mode: Any, padding_mode: Any, op: str) -> tuple[Tensor, Tensor]:  # noqa: A002
    text(mode, op, "mode")
    text(padding_mode, op, "padding_mode")
    if mode not in _MODES:
        raise InvalidArgumentError(f"{op}: mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
    if padding_mode not in _PADDING_MODES:
        raise InvalidArgumentError(
            f"{op}: padding_mode must be 'zeros', 'border' or 'reflection', got {padding_mode!r}"
        )
    like = input if isinstance(input, Tensor) else grid if isinstance(grid, Tensor) else None
    x = _float_tensor(input, op, "input", like)
    g = _float_tensor(grid, op, "grid", x)
    if x._backend is not g._backend:
        raise DeviceError(f"{op}: input on {x.device}, grid on {g.device}; move them to one device")
    if x.dtype != g.dtype:
        raise DTypeError(f"{op}: input ({x.dtype}) and grid ({g.dtype}) must have the same dtype; convert with "
                         ".astype()")
    if x.ndim not in (4, 5):
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got shape {x.shape}")
    k = x.ndim - 2
    if g.ndim != x.ndim or g.shape[0] != x.shape[0] or g.shape[-1] != k:
        expected = "(N, H_out, W_out, 2)" if k == 2 else "(N, D_out, H_out, W_out, 3)"
        raise ShapeError(f"{op}: grid of shape {g.shape} does not fit input of shape {x.shape} (expected {expected} "
                         f"with N = {x.shape[0]})")
    if min(x.shape[2:]) <= 0:
        raise ShapeError(f"{op}: input must have non-empty spatial dimensions, got shape {x.shape}")
    if mode == "bicubic" and k != 2:
        raise InvalidArgumentError(f"{op}: mode 'bicubic' takes 4-D input only, got shape {x.shape}")
    return x, g


def _cubic_weights(t: Any) -> list:
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2 for a fraction ``t`` in [0, 1)
    (an array, or a Tensor)."""
    a = _A

    def near(z: Any) -> Any:  # |z| <= 1
        return ((z * (a + 2)) - (a + 3)) * z * z + 1

    def far(z: Any) -> Any:  # 1 < |z| < 2
        return ((z * a - 5 * a) * z + 8 * a) * z - 4 * a

    s = 1 - t
    return [far(t + 1), near(t), near(s), far(s + 1)]


def _cubic_slopes(t: Any) -> list:
    """The derivatives of ``_cubic_weights(t)`` with respect to ``t`` (arrays, or Tensors)."""
    a = _A

    def near(z: Any) -> Any:  # of (a + 2) z^3 - (a + 3) z^2 + 1
        return (z * (3 * (a + 2)) - 2 * (a + 3)) * z

    def far(z: Any) -> Any:  # of a z^3 - 5 a z^2 + 8 a z - 4 a
        return (z * (3 * a) - 10 * a) * z + 8 * a

    s = 1 - t
    return [far(t + 1), near(t), -near(s), -far(s + 1)]


def _cubic_factors(along: list, lows: list, stack: Any) -> tuple[list, list]:
    """Per spatial axis a, (N, 4, M): the Keys weights of the four taps along a, and their derivatives with
    respect to the position, of the positions ``along[a]`` (N, M) (arrays, or Tensors with ``stack`` =
    ops.stack)."""
    fractions = [c - low for c, low in zip(along, lows, strict=True)]
    return ([stack(_cubic_weights(t), 1) for t in fractions], [stack(_cubic_slopes(t), 1) for t in fractions])


def _cubic_weights_vjp_core(u: Any, factors: list, slopes: list, shape: tuple, stack: Any) -> Any:
    """The positions' gradient (the grid's shape) from W's ``u`` (N, 16, M) (arrays or Tensors): along axis a,
    the sum over the taps of u times the other axis's weight and a's slope."""
    n, _, m = factors[0].shape
    full = u.reshape(n, 4, 4, m)  # (N, y tap, x tap, M)
    gy = ((full * _along(factors[1], 1, 2)).sum(axis=2) * slopes[0]).sum(axis=1)
    gx = ((full * _along(factors[0], 0, 2)).sum(axis=1) * slopes[1]).sum(axis=1)
    return stack([gx, gy], -1).reshape(shape)


def _bicubic_weights(c: Tensor, along: list, lows: list) -> Tensor:
    """Bicubic weights (N, 16, M) of the positions ``c`` (N, H_out, W_out, 2) (``along``: its positions along
    each spatial axis, (N, M)): Keys' weights along y and x multiplied, x's first (PyTorch's), one node."""
    xp = c._backend.xp
    fractions = [p - low for p, low in zip(along, lows, strict=True)]
    factors = [xp.stack(_cubic_weights(t), 1) for t in fractions]
    return record("grid_sample_weights", _products(factors), c._backend, (c,), (_bicubic_weights_vjp,),
                  (c, lows, factors, fractions))


def _bicubic_weights_vjp(u: Tensor, c: Tensor, lows: list, factors: list, fractions: list) -> Tensor:
    xp = c._backend.xp
    n, _, m = factors[0].shape
    if not grad_mode.state.enabled:
        slopes = [xp.stack(_cubic_slopes(t), 1) for t in fractions]
        full = u._data.reshape(n, 4, 4, m)
        out = xp.empty((n, m, 2), dtype=u.dtype)
        out[..., 1] = xp.einsum("nijm,njm,nim->nm", full, factors[1], slopes[0])  # CuPy's einsum takes no out
        out[..., 0] = xp.einsum("nijm,nim,njm->nm", full, factors[0], slopes[1])
        return Tensor._make(out.reshape(c.shape), c._backend)
    # recorded: the weights and their slopes again, as ops on the positions
    along = [ops.reshape(ops.getitem(c, (Ellipsis, 1 - a)), (n, m)) for a in range(2)]
    factors_t, slopes_t = _cubic_factors(along, lows, ops.stack)
    return _cubic_weights_vjp_core(u, factors_t, slopes_t, c.shape, ops.stack)


def grid_sample(input: Any, grid: Any, mode: str = "bilinear", padding_mode: str = "zeros",  # noqa: A002
                align_corners: Any = None) -> Tensor:
    """PyTorch's ``F.grid_sample``: the input (N, C, H, W) (or (N, C, D, H, W)) sampled at the normalised
    positions of ``grid`` (N, H_out, W_out, 2) (or (N, D_out, H_out, W_out, 3); the last axis holds x, y(, z)),
    giving (N, C, H_out, W_out) (or (N, C, D_out, H_out, W_out)).

    ``mode``: "bilinear" (trilinear for 5-D input), "nearest" (round half to even) or "bicubic" (4-D input only;
    A = -0.75). ``padding_mode``: "zeros" (outside pixels are 0), "border" (positions clipped to the input) or
    "reflection" (reflected at the borders). ``align_corners``: -1 and 1 are the corner pixels' centres (True)
    or their outer edges (False; None is False, with PyTorch's warning). Differentiable in the input and in the
    grid (whose gradient is zero for "nearest"), to every order; no host reads.
    """
    op = "grid_sample"
    if _autocast.active:  # gk.autocast: float32 on "cpu" (PyTorch's CPU list), promoted on "cuda"
        input, grid = _autocast.to_float32(op, input, grid)  # noqa: A001
        cast = _autocast.promote(op, input, grid)
        if cast is not None:
            with _autocast.exclude():
                return grid_sample(*cast, mode, padding_mode, align_corners)
    x, g = _check_grid_args(input, grid, mode, padding_mode, op)
    align = _align(align_corners, op)
    sizes = x.shape[2:]  # (D,) H, W
    n = x.shape[0]
    out_spatial = g.shape[1:-1]
    m = math.prod(out_spatial)
    xp = x._backend.xp
    # bicubic pads each tap's whole position instead of the position (PyTorch's get_value_bounded)
    coords, along = _coordinates(g, sizes, "zeros" if mode == "bicubic" else padding_mode, align)
    if mode == "nearest":  # halves to even, as PyTorch's nearbyint
        taps = [_bordered(xp, xp.rint(c), s)[:, None] for c, s in zip(along, sizes, strict=True)]
        ones = xp.ones((n, 1, m), dtype=x.dtype)
        if coords._requires_grad:  # the grid's gradient is zero, not None (PyTorch's)
            tie = ops.reshape(ops.getitem(g, (Ellipsis, 0)), (n, 1, m))
            w = _sloped("grid_sample_nearest", tie, ones, xp.zeros_like(ones))
        else:
            w = Tensor._make(ones, x._backend)
    else:
        lows = [xp.floor(c) for c in along]
        if mode == "bilinear":  # weights (low + 1) - c and c - low, products x's first (PyTorch's)
            taps = [_bordered(xp, lo, s) for lo, s in zip(lows, sizes, strict=True)]
            w = _linear_weights(coords, along, lows)
        else:  # Keys' weights of the fractions, for the taps at offsets -1, 0, 1, 2
            taps = [_cubic_taps(xp, lo, s, padding_mode, align) for lo, s in zip(lows, sizes, strict=True)]
            w = _bicubic_weights(coords, along, lows)
    plan = _Taps(x, taps, out_spatial, mode == "nearest", mode == "bilinear")
    return _sample(x, w, plan)
