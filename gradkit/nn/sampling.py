"""``F.affine_grid`` and ``F.grid_sample`` (PyTorch's spatial transformer pair), as compositions of gradkit ops.

``affine_grid`` is one matmul of a constant base grid with the affine matrices. ``grid_sample`` unnormalises the
grid's coordinates with differentiable ops, maps them through the padding mode as one node per axis whose slope
is piecewise constant (PyTorch's: 0 at a clipped border, -1 where a reflection flips), and sums the input values
at the neighbouring pixels (gathered without a host read) times weights that are polynomials of the coordinates
(bilinear/trilinear: products of ``1 - t`` and ``t``; bicubic: Keys' kernel with A = -0.75). Every part is a
differentiable gradkit op, so the gradients with respect to the input and to the grid, of every order, come
from the composition; corners outside the input count as zeros (and get no gradient), as PyTorch's kernels.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, text
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn._gather import take
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
def _unnormalize(c: Tensor, n: int, align: bool) -> Tensor:
    """A normalised coordinate in [-1, 1] as a pixel position along an axis of ``n`` pixels (PyTorch's formula)."""
    if align:
        return (c + 1) / 2 * (n - 1)
    return ((c + 1) * n - 1) / 2


def _clip_raw(xp: Any, c: Any, n: int) -> tuple[Any, Any]:
    """PyTorch's ``clip_coordinates_set_grad``: ``c`` limited to [0, n - 1], slope 1 strictly inside, else 0; NaN
    (and so a reflected infinity) goes to 0, as PyTorch's ``min(n - 1, max(c, 0))`` on the CPU and CUDA."""
    inside = (c > 0) & (c < n - 1)
    return xp.where(xp.isnan(c), 0, xp.clip(c, 0, n - 1)).astype(c.dtype, copy=False), inside


def _reflect_raw(xp: Any, c: Any, twice_low: int, twice_high: int) -> tuple[Any, Any]:
    """PyTorch's ``reflect_coordinates_set_grad``: ``c`` reflected into [low, high] by its borders (as often as
    needed), and the slope (+1 or -1; 0 when the span is empty)."""
    if twice_low == twice_high:
        return xp.zeros_like(c), xp.zeros_like(c)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    d = c - low
    sign = xp.where(d < 0, -1.0, 1.0).astype(c.dtype)
    a = xp.abs(d)
    with np.errstate(invalid="ignore"):  # an infinite position reflects to NaN, which the clip sends to 0
        extra = xp.fmod(a, span)
        flips = xp.floor(a / span)
        even = xp.fmod(flips, 2) == 0
    value = xp.where(even, extra + low, span - extra + low).astype(c.dtype, copy=False)
    return value, xp.where(even, sign, -sign)


def _pad_coordinate(c: Tensor, n: int, padding: str, align: bool) -> Tensor:
    """The pixel position after the padding mode (zeros: unchanged; border: clipped; reflection: reflected
    then clipped), as one node whose slope is PyTorch's."""
    if padding == "zeros":
        return c
    xp = c._backend.xp
    data = c._data
    slope = xp.ones_like(data)
    if padding == "reflection":
        data, slope = _reflect_raw(xp, data, 0, 2 * (n - 1)) if align else _reflect_raw(xp, data, -1, 2 * n - 1)
    data, inside = _clip_raw(xp, data, n)
    return _sloped(f"grid_sample_{padding}", c, data.astype(c.dtype, copy=False), slope * inside)


def _pad_index_raw(xp: Any, i: Any, n: int, padding: str, align: bool) -> Any:
    """An integer pixel position (float array) after the padding mode, as bicubic's taps take it."""
    if padding == "reflection":
        i = _reflect_raw(xp, i, 0, 2 * (n - 1))[0] if align else _reflect_raw(xp, i, -1, 2 * n - 1)[0]
    if padding != "zeros":
        i = _clip_raw(xp, i, n)[0]
    return i


def _int_positions(xp: Any, f: Any, n: int) -> Any:
    """A float array of whole pixel positions as int64, NaN and huge values moved just outside [0, n)."""
    f = xp.nan_to_num(f, nan=-2.0, posinf=n + 1.0, neginf=-2.0)
    return xp.clip(f, -2, n + 1).astype(np.int64)


class _Sampler:
    """The input as (N * P, C) rows, one per pixel, and what it takes to gather them at K-D pixel positions."""

    def __init__(self, x: Tensor) -> None:
        self.backend = x._backend
        self.xp = x._backend.xp
        n, c = x.shape[:2]
        self.sizes = x.shape[2:]
        self.pixels = math.prod(self.sizes)
        rows = ops.transpose(ops.reshape(x, (n, c, self.pixels)), (0, 2, 1))  # (N, P, C)
        self.rows = ops.reshape(rows, (n * self.pixels, c))
        self.padded: Tensor | None = None  # the rows and a zero row below them, which outside positions take
        self.base: Any = None

    def values(self, positions: list) -> Tensor:
        """The input at integer positions (one array per spatial axis, (N, *out) each), zero (and without
        gradient) where one is outside the input: (N, *out, C)."""
        xp = self.xp
        inside: Any = None
        flat: Any = None
        for pos, n in zip(positions, self.sizes, strict=True):
            ok = (pos >= 0) & (pos < n)
            inside = ok if inside is None else inside & ok
            p = xp.clip(pos, 0, n - 1)
            flat = p if flat is None else flat * n + p
        if self.base is None:
            nb = positions[0].shape[0]
            self.base = (xp.arange(nb, dtype=np.int64) * self.pixels).reshape((nb,) + (1,) * (positions[0].ndim - 1))
        flat = flat + self.base
        if type(inside) is np.ndarray and bool(inside.all()):  # no host read: a GPU takes the padded rows
            return take(self.rows, (flat,))
        if self.padded is None:
            zero = Tensor._make(xp.zeros((1, self.rows.shape[1]), dtype=self.rows.dtype), self.backend)
            self.padded = ops.concatenate([self.rows, zero], 0)
        return take(self.padded, (xp.where(inside, flat, self.rows.shape[0]),))


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


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """Keys' cubic convolution weights of the four taps at offsets -1, 0, 1, 2 for a fraction ``t`` in [0, 1)."""
    a = _A

    def near(z: Tensor) -> Tensor:  # |z| <= 1
        return ((z * (a + 2)) - (a + 3)) * z * z + 1

    def far(z: Tensor) -> Tensor:  # 1 < |z| < 2
        return ((z * a - 5 * a) * z + 8 * a) * z - 4 * a

    s = 1 - t
    return [far(t + 1), near(t), near(s), far(s + 1)]


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
    x, g = _check_grid_args(input, grid, mode, padding_mode, op)
    align = _align(align_corners, op)
    k = x.ndim - 2
    sizes = x.shape[2:]  # (D,) H, W
    xp = x._backend.xp
    sampler = _Sampler(x)
    # the grid's component j addresses spatial axis k - 1 - j (x is along W, the last axis)
    coords = [_unnormalize(ops.getitem(g, (Ellipsis, k - 1 - a)), sizes[a], align) for a in range(k)]
    if mode == "bicubic":
        out = _bicubic(sampler, coords, sizes, padding_mode, align, xp)
    else:
        coords = [_pad_coordinate(c, n, padding_mode, align) for c, n in zip(coords, sizes, strict=True)]
        if mode == "nearest":
            out = _nearest(sampler, coords, sizes, xp)
        else:
            out = _linear(sampler, coords, sizes, xp)
    return ops.moveaxis(out, -1, 1)  # (N, *out, C) -> (N, C, *out)


def _linear(sampler: _Sampler, coords: list, sizes: tuple, xp: Any) -> Tensor:
    """Bilinear or trilinear: the 2^k corners around each position, weighted by products of ``1 - t`` and ``t``
    (PyTorch's corner order and products, x's factor first)."""
    lows = [xp.floor(c._data) for c in coords]
    pos = [_int_positions(xp, f, n) for f, n in zip(lows, sizes, strict=True)]
    # weights per axis: (low + 1) - c for the low corner, c - low for the high one
    factors = [((lo + 1).astype(c.dtype) - c, c - lo.astype(c.dtype)) for lo, c in zip(lows, coords, strict=True)]
    out: Tensor | None = None
    for offsets in itertools.product((0, 1), repeat=len(coords)):
        w: Tensor | None = None
        for a in reversed(range(len(coords))):  # x (the last axis) first
            f = factors[a][offsets[a]]
            w = f if w is None else w * f
        v = sampler.values([p + o for p, o in zip(pos, offsets, strict=True)])
        term = v * ops.unsqueeze(w, -1)
        out = term if out is None else out + term
    assert out is not None
    return out


def _nearest(sampler: _Sampler, coords: list, sizes: tuple, xp: Any) -> Tensor:
    """The pixel nearest each position (halves to even, as PyTorch's ``nearbyint``); the grid gets a zero
    gradient (a weight of 1 tied to the positions with slope 0)."""
    pos = [_int_positions(xp, xp.rint(c._data), n) for c, n in zip(coords, sizes, strict=True)]
    v = sampler.values(pos)
    c = coords[0]
    if not c._requires_grad:
        return v
    one = _sloped("grid_sample_nearest", c, xp.ones_like(c._data), xp.zeros_like(c._data))
    return v * ops.unsqueeze(one, -1)


def _bicubic(sampler: _Sampler, coords: list, sizes: tuple, padding: str, align: bool, xp: Any) -> Tensor:
    """Bicubic (4-D input): 4 x 4 taps around each position, Keys' weights of the fractions; the padding mode
    maps each tap's whole position (PyTorch's ``get_value_bounded``)."""
    cy, cx = coords  # H, W
    (h, w) = sizes
    lows = [xp.floor(c._data) for c in (cy, cx)]
    wy = _cubic_weights(cy - lows[0].astype(cy.dtype))
    wx = _cubic_weights(cx - lows[1].astype(cx.dtype))
    xs = [_int_positions(xp, _pad_index_raw(xp, lows[1] + (j - 1), w, padding, align), w) for j in range(4)]
    out: Tensor | None = None
    for i in range(4):
        yi = _int_positions(xp, _pad_index_raw(xp, lows[0] + (i - 1), h, padding, align), h)
        row: Tensor | None = None
        for j in range(4):
            term = sampler.values([yi, xs[j]]) * ops.unsqueeze(wx[j], -1)
            row = term if row is None else row + term
        assert row is not None
        term = row * ops.unsqueeze(wy[i], -1)
        out = term if out is None else out + term
    assert out is not None
    return out

