"""interpolate / Upsample, pixel_shuffle / pixel_unshuffle, channel_shuffle and max_unpool: PyTorch's values,
gradients, layers and errors; finite differences of first and second order on every device; no host reads."""

from __future__ import annotations

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn.resample import (
    ChannelShuffle,
    MaxUnpool1d,
    MaxUnpool2d,
    PixelShuffle,
    PixelUnshuffle,
    UnsupportedInterpolationError,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    channel_shuffle,
    interpolate,
    max_unpool1d,
    max_unpool2d,
    pixel_shuffle,
    pixel_unshuffle,
)

# ------------------------------------------------------------------ interpolate against PyTorch
# (input shape, keywords): sizes up and down, non-integer scale factors, align_corners, recompute_scale_factor;
# 2-D outputs with H + W <= 128 and beyond it (PyTorch's CPU computes nearest indices in two ways)
_SIZES = [
    ((2, 3, 7), {"size": 12}),
    ((2, 3, 9), {"size": (4,)}),
    ((2, 3, 6), {"scale_factor": 1.7}),
    ((2, 3, 10), {"scale_factor": 0.45}),
    ((2, 3, 5), {"scale_factor": 2.3, "recompute_scale_factor": True}),
    ((2, 3, 5, 6), {"size": (9, 4)}),
    ((2, 3, 5, 6), {"scale_factor": (1.5, 2.7)}),
    ((2, 3, 8, 7), {"scale_factor": 1 / 3, "recompute_scale_factor": True}),
    ((1, 2, 9, 5), {"scale_factor": (0.6, 2.0), "recompute_scale_factor": False}),
    ((1, 2, 40, 37), {"size": (88, 76)}),
    ((1, 2, 41, 35), {"scale_factor": 2.3}),
]
_CASES = (
    [(m, s, kw) for m in ("nearest", "nearest-exact", "area") for s, kw in _SIZES]
    + [("linear", s, {**kw, "align_corners": a}) for s, kw in _SIZES if len(s) == 3 for a in (False, True)]
    + [(m, s, {**kw, "align_corners": a}) for m in ("bilinear", "bicubic") for s, kw in _SIZES if len(s) == 4
       for a in (False, True)]
)


def _as_gathers(torch, x, mode, kw):
    """PyTorch's nearest forward as one index_select per axis, the indices read from its result on an arange of
    the same shape and dtype, so that its autograd gives the gradient of that forward. (PyTorch's own backward
    computes its indices in float32, which parts from its forward where a coordinate falls on an integer.)"""
    tx = torch.tensor(x, requires_grad=True)
    y = tx
    for ax in range(2, x.ndim):
        shape = [1] * x.ndim
        shape[ax] = x.shape[ax]
        probe = torch.arange(x.shape[ax], dtype=tx.dtype).reshape(shape).expand(x.shape)
        index = torch.nn.functional.interpolate(probe, mode=mode, **kw)
        index = index[(0, 0) + tuple(slice(None) if a == ax else 0 for a in range(2, x.ndim))].long()
        y = torch.index_select(y, ax, index)
    return tx, y


@pytest.mark.parametrize(("mode", "shape", "kw"), _CASES)
def test_interpolate_values_and_gradients_match_pytorch(device, mode, shape, kw):
    torch = pytest.importorskip("torch")
    x = _data(*shape)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty = torch.nn.functional.interpolate(tx, mode=mode, **kw)
    gy = interpolate(gx, mode=mode, **kw)
    _close(gy, ty)
    if mode.startswith("nearest"):
        tx, ty2 = _as_gathers(torch, x, mode, kw)
        _close(gy, ty2)
        ty = ty2
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    _close(gx.grad, tx.grad)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_interpolate_float32_matches_pytorch_and_keeps_its_dtype(device, mode):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 11, 7, dtype="float32")
    kw = {"scale_factor": (1.37, 0.61)} if mode == "nearest" else {"size": (17, 5), "align_corners": mode == "bicubic"}
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = torch.nn.functional.interpolate(tx, mode=mode, **kw), interpolate(gx, mode=mode, **kw)
    assert gy.dtype == np.float32
    _close(gy, ty, 1e-5)
    ty.sum().backward()
    gy.sum().backward()
    assert gx.grad.dtype == np.float32
    _close(gx.grad, tx.grad, 1e-5)


def test_nearest_indices_on_integer_coordinates_as_pytorch(device):
    """Where a source coordinate is an integer the float32 and float64 roundings part: PyTorch's CPU takes float32
    for small 2-D outputs and the input's precision otherwise; a scale factor of 1.05 keeps the size, which its
    2-D kernel copies and its 1-D one does not."""
    torch = pytest.importorskip("torch")
    for shape, kw, mode in [((1, 1, 54), {"size": 89}, "nearest-exact"), ((1, 1, 6, 54), {"size": (6, 89)}, "nearest"),
                            ((1, 1, 2, 54), {"size": (4, 89)}, "nearest-exact"),
                            ((1, 1, 5), {"scale_factor": 1.05}, "nearest"),
                            ((1, 1, 3, 5), {"scale_factor": 1.05}, "nearest")]:
        for dtype in ("float64", "float32"):
            x = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
            expected = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw)
            np.testing.assert_array_equal(interpolate(_gk(x, device), mode=mode, **kw).numpy(), expected.numpy())


def test_nearest_gradient_is_the_transpose_of_the_forward(device):
    """Repeated indices sum their gradients. (With scale_factor=1.05 PyTorch's 1-D backward takes the legacy
    copy that its forward does not: gradkit's gradient is that of its forward, which is PyTorch's.)"""
    x = _gk(_data(1, 2, 5), device)
    y = interpolate(x, scale_factor=1.05)  # indices 0 0 1 2 3
    np.testing.assert_array_equal(y.numpy(), x.numpy()[..., [0, 0, 1, 2, 3]])
    y.backward(_gk(np.arange(10.0).reshape(1, 2, 5), device, grad=False))
    np.testing.assert_array_equal(x.grad.numpy(), [[[1, 2, 3, 4, 0], [11, 7, 8, 9, 0]]])
    x = _gk(_data(1, 1, 2, 3), device)
    interpolate(x, size=(5, 7)).sum().backward()  # rows 0 0 0 1 1, columns 0 0 0 1 1 2 2
    np.testing.assert_array_equal(x.grad.numpy(), [[[[9, 6, 6], [6, 4, 4]]]])


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # NumPy on inf * 0
def test_infinities_spread_as_in_pytorch(device):
    """A weight of 0 on an infinite element gives NaN, as in PyTorch (whose linear kernels take an unchanged
    size's element twice, with weights 1 and 0)."""
    torch = pytest.importorskip("torch")
    x3, x4 = np.array([[[np.inf, 1.0, 2.0]]]), np.array([[[[np.inf, 1.0], [2.0, -np.inf]]]])
    for x, kw in [(x3, {"size": 3, "mode": "linear"}), (x3, {"scale_factor": 1.5, "mode": "linear"}),
                  (x4, {"size": (2, 2), "mode": "bilinear"}), (x4, {"size": (2, 2), "mode": "bicubic"}),
                  (x4, {"size": (3, 5), "mode": "bilinear", "align_corners": True})]:
        expected = torch.nn.functional.interpolate(torch.tensor(x), **kw).numpy()
        np.testing.assert_allclose(interpolate(_gk(x, device, grad=False), **kw).numpy(), expected, rtol=1e-12)


def test_nearest_takes_integer_and_bool_tensors(device):
    m = gk.tensor(np.array([[[[0, 1], [2, 3]]]], dtype=np.uint8), device=device)
    y = interpolate(m, scale_factor=2)
    assert y.dtype == np.uint8 and y.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(y.numpy()[0, 0], np.repeat(np.repeat([[0, 1], [2, 3]], 2, 0), 2, 1))
    b = gk.tensor(np.array([[[True, False, True]]]), device=device)
    assert interpolate(b, size=5, mode="nearest-exact").numpy().tolist() == [[[True, True, False, True, True]]]


def test_area_is_adaptive_average_pooling(device):
    x = _gk(_data(2, 3, 9, 7), device)
    _close(interpolate(x, size=(4, 3), mode="area"), F.adaptive_avg_pool2d(x, (4, 3)).numpy())
    _close(interpolate(x, scale_factor=0.5, mode="area"), F.adaptive_avg_pool2d(x, (4, 3)).numpy())


def test_interpolate_is_one_node_per_axis_and_reads_nothing_on_the_host(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = _gk(_data(2, 3, 6, 5), device)
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        y = interpolate(x, scale_factor=(1.5, 0.8), mode=mode)
        assert y.grad_fn.name == "interpolate" and y.grad_fn.next[0].name == "interpolate"
        gx, = gk.autograd.grad((y * y).sum(), (x,), create_graph=True)
        gk.autograd.grad(gx.sum(), (x,))
    y, i = F.max_pool2d(x, 2, return_indices=True)
    u = max_unpool2d(y, i, 2, output_size=(6, 5))
    gk.autograd.grad((u * u).sum(), (x,))
    pixel_unshuffle(pixel_shuffle(channel_shuffle(x, 3), 1), 1).sum().backward()


# ------------------------------------------------------------------ finite differences, first and second order
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area"])
def test_gradcheck_interpolate(device, mode):
    dims = 1 if mode == "linear" else 2
    x = _gk(_data(1, 2, 4, *(3,) * (dims - 1)), device)
    align = {"align_corners": True} if mode in ("linear", "bilinear", "bicubic") else {}
    up = (7,) + (5,) * (dims - 1)
    assert gk.gradcheck(lambda x: interpolate(x, size=up, mode=mode, **align), (x,))
    assert gk.gradcheck(lambda x: interpolate(x, scale_factor=0.7, mode=mode), (x,))

    def grads(x):
        y = interpolate(x, scale_factor=1.6, mode=mode)
        return gk.autograd.grad((y * y * y).sum(), (x,), create_graph=True)

    assert gk.gradcheck(grads, (x,))


def test_gradcheck_shuffles_and_unpool(device):
    x = _gk(_data(2, 8, 3, 2), device)
    assert gk.gradcheck(lambda x: pixel_shuffle(x, 2), (x,))
    assert gk.gradcheck(lambda x: pixel_unshuffle(x, 2), (_gk(_data(2, 2, 4, 6), device),))
    assert gk.gradcheck(lambda x: channel_shuffle(x, 4), (x,))
    z = _gk(_data(2, 3, 6, 4), device)
    _, i = F.max_pool2d(z, 2, return_indices=True)  # windows that do not overlap: every index once
    y = _gk(_data(2, 3, 3, 2, seed=1), device)
    assert gk.gradcheck(lambda y: max_unpool2d(y, i, 2), (y,))

    def grads(y):
        u = max_unpool2d(y, i, 2)
        return gk.autograd.grad((u * u * u).sum(), (y,), create_graph=True)

    assert gk.gradcheck(grads, (y,))


# ------------------------------------------------------------------ Upsample layers
def test_upsample_layers_match_pytorch(device):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 5, 4)
    pairs = [
        (Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
        (Upsample(size=(7, 3), mode="bilinear"), torch.nn.Upsample(size=(7, 3), mode="bilinear")),
        (Upsample(scale_factor=(1.5, 2.5), mode="bicubic", align_corners=True, recompute_scale_factor=True),
         torch.nn.Upsample(scale_factor=(1.5, 2.5), mode="bicubic", align_corners=True, recompute_scale_factor=True)),
        (UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
        (UpsamplingBilinear2d(size=(8, 6)), torch.nn.UpsamplingBilinear2d(size=(8, 6))),
        (UpsamplingBilinear2d(scale_factor=1.5), torch.nn.UpsamplingBilinear2d(scale_factor=1.5)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
        ty, gy = theirs(tx), ours(gx)
        _close(gy, ty)
        ty.backward(torch.tensor(_data(*ty.shape, seed=1)))
        gy.backward(_gk(_data(*ty.shape, seed=1), device, grad=False))
        _close(gx.grad, tx.grad)
    assert UpsamplingBilinear2d(scale_factor=2).align_corners is True


# ------------------------------------------------------------------ pixel and channel shuffles
def test_shuffles_match_pytorch(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    for ours, theirs, shape in [
        (lambda t: pixel_shuffle(t, 3), lambda t: tf.pixel_shuffle(t, 3), (2, 18, 4, 5)),
        (lambda t: pixel_shuffle(t, 2), lambda t: tf.pixel_shuffle(t, 2), (2, 3, 8, 2, 3)),  # two leading axes
        (lambda t: pixel_shuffle(t, 1), lambda t: tf.pixel_shuffle(t, 1), (4, 2, 3)),
        (lambda t: pixel_unshuffle(t, 3), lambda t: tf.pixel_unshuffle(t, 3), (2, 2, 6, 9)),
        (lambda t: pixel_unshuffle(t, 2), lambda t: tf.pixel_unshuffle(t, 2), (3, 4, 2)),
        (lambda t: channel_shuffle(t, 3), lambda t: tf.channel_shuffle(t, 3), (2, 12, 3, 2)),
        (lambda t: channel_shuffle(t, 2), lambda t: tf.channel_shuffle(t, 2), (2, 6, 5)),
        (PixelShuffle(2), torch.nn.PixelShuffle(2), (1, 8, 3, 3)),
        (PixelUnshuffle(2), torch.nn.PixelUnshuffle(2), (1, 2, 4, 6)),
        (ChannelShuffle(4), torch.nn.ChannelShuffle(4), (1, 8, 2, 2)),
    ]:
        if isinstance(ours, gk.nn.Module):
            assert repr(ours) == repr(theirs)
        x = _data(*shape)
        tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
        ty, gy = theirs(tx), ours(gx)
        np.testing.assert_array_equal(gy.numpy(), ty.detach().numpy())
        u = _data(*ty.shape, seed=2)
        ty.backward(torch.tensor(u))
        gy.backward(_gk(u, device, grad=False))
        np.testing.assert_array_equal(gx.grad.numpy(), tx.grad.numpy())


def test_pixel_shuffle_round_trip(device):
    x = _gk(_data(2, 3, 6, 9), device, grad=False)
    np.testing.assert_array_equal(pixel_shuffle(pixel_unshuffle(x, 3), 3).numpy(), x.numpy())
    y = _gk(_data(2, 12, 2, 3), device, grad=False)
    np.testing.assert_array_equal(pixel_unshuffle(pixel_shuffle(y, 2), 2).numpy(), y.numpy())


# ------------------------------------------------------------------ max unpooling
_UNPOOL = [
    (2, (2, 3, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1}, (7, 8)),  # overlapping: repeated indices
    (2, (3, 6, 6), {"kernel_size": 2}, None),  # unbatched
    (2, (2, 2, 7, 5), {"kernel_size": (2, 3), "stride": (2, 1)}, (2, 2, 7, 5)),  # output_size with N and C
    (1, (2, 3, 11), {"kernel_size": 4, "stride": 2, "padding": 2}, (11,)),
    (1, (3, 10), {"kernel_size": 3, "stride": 1, "padding": 1}, None),
]


@pytest.mark.parametrize(("dims", "shape", "kw", "size"), _UNPOOL)
def test_max_unpool_of_max_pool_indices_matches_pytorch(device, dims, shape, kw, size):
    torch = pytest.importorskip("torch")
    x = _data(*shape)
    pool, unpool = f"max_pool{dims}d", f"max_unpool{dims}d"
    ty, ti = getattr(torch.nn.functional, pool)(torch.tensor(x), return_indices=True, **kw)
    gy, gi = getattr(F, pool)(_gk(x, device), return_indices=True, **kw)
    np.testing.assert_array_equal(gi.numpy(), ti.numpy())  # flat indices into each input plane, as PyTorch's
    ty = ty.detach().requires_grad_()
    gy = _gk(gy.numpy(), device)
    tu = getattr(torch.nn.functional, unpool)(ty, ti, output_size=size, **kw)
    gu = {1: max_unpool1d, 2: max_unpool2d}[dims](gy, gi, output_size=size, **kw)
    np.testing.assert_array_equal(gu.numpy(), tu.detach().numpy())
    u = _data(*tu.shape, seed=3)
    tu.backward(torch.tensor(u))
    gu.backward(_gk(u, device, grad=False))
    np.testing.assert_array_equal(gy.grad.numpy(), ty.grad.numpy())
    layer, theirs = {1: (MaxUnpool1d, torch.nn.MaxUnpool1d), 2: (MaxUnpool2d, torch.nn.MaxUnpool2d)}[dims]
    ours, theirs = layer(**kw), theirs(**kw)
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours(gy, gi, size).numpy(), theirs(ty, ti, size).detach().numpy())


def test_max_unpool_default_size_and_indices_as_arrays(device):
    y = _gk(np.array([[[1.0, 2.0]]]), device)
    u = max_unpool1d(y, np.array([[[1, 2]]]), 2)  # default length (2 - 1) * 2 + 2 = 4
    np.testing.assert_array_equal(u.numpy(), [[[0.0, 1.0, 2.0, 0.0]]])


def test_max_unpool_indices_out_of_range(device):
    """Checked on the CPU; on a GPU, where checking would read the device, such values are dropped."""
    y = _gk(np.array([[[1.0, 2.0, 3.0]]]), device)
    i = gk.tensor(np.array([[[0, 6, -1]]]), device=device)
    if device == "cpu":
        with pytest.raises(gk.IndexOutOfRangeError, match="index -1 in indices"):
            max_unpool1d(y, i, 2)
        return
    u = max_unpool1d(y, i, 2)
    np.testing.assert_array_equal(u.numpy(), [[[1.0, 0, 0, 0, 0, 0]]])
    u.backward(_gk(np.arange(1.0, 7.0).reshape(1, 1, 6), device, grad=False))
    np.testing.assert_array_equal(y.grad.numpy(), [[[1.0, 0, 0]]])


# ------------------------------------------------------------------ errors
_X3, _X4 = np.zeros((1, 2, 4)), np.zeros((1, 4, 4, 4))

_ERRORS = [
    (lambda: interpolate(gk.tensor(_X4), size=2, scale_factor=2), gk.InvalidArgumentError,
     ["interpolate", "only one of size and scale_factor", "size=2", "scale_factor=2"]),
    (lambda: interpolate(gk.tensor(_X4)), gk.InvalidArgumentError, ["interpolate", "size or scale_factor"]),
    (lambda: interpolate(gk.tensor(_X4), size=2, align_corners=False), gk.InvalidArgumentError,
     ["interpolate", "align_corners=False", "mode='nearest'", "'bilinear'"]),
    (lambda: interpolate(gk.tensor(_X4), size=2, mode="linear"), gk.ShapeError,
     ["interpolate", "'linear'", "3-D", "(1, 4, 4, 4)", "'bilinear'"]),
    (lambda: interpolate(gk.tensor(_X3), size=2, mode="bicubic"), gk.ShapeError,
     ["interpolate", "'bicubic'", "4-D", "(1, 2, 4)"]),
    (lambda: interpolate(gk.tensor(np.zeros((2, 4))), size=2), gk.ShapeError,
     ["interpolate", "3-D (N, C, L) or 4-D (N, C, H, W)", "(2, 4)"]),
    (lambda: interpolate(gk.tensor(np.zeros((1, 1, 2, 2, 2))), size=2), UnsupportedInterpolationError,
     ["interpolate", "5-D", "(1, 1, 2, 2, 2)"]),
    (lambda: interpolate(gk.tensor(_X4), size=2, mode="bilinear", antialias=True), UnsupportedInterpolationError,
     ["interpolate", "antialias=True"]),
    (lambda: interpolate(gk.tensor(_X4), size=2, mode="cubic"), gk.InvalidArgumentError,
     ["interpolate", "'cubic'", "'bicubic'"]),
    (lambda: interpolate(gk.tensor(_X4), size=(2, 3, 4)), gk.InvalidArgumentError,
     ["interpolate", "size", "tuple of 2", "(2, 3, 4)"]),
    (lambda: interpolate(gk.tensor(_X4), size=0), gk.InvalidArgumentError, ["interpolate", "size", ">= 1", "0"]),
    (lambda: interpolate(gk.tensor(_X4), scale_factor=-1.0), gk.InvalidArgumentError,
     ["interpolate", "scale_factor", "> 0.0", "-1.0"]),
    (lambda: interpolate(gk.tensor(_X4), scale_factor=0.1), gk.ShapeError,
     ["interpolate", "scale_factor 0.1", "(0, 0)", "(1, 4, 4, 4)"]),
    (lambda: interpolate(gk.tensor(_X4), size=2, recompute_scale_factor=True), gk.InvalidArgumentError,
     ["interpolate", "recompute_scale_factor=True", "size"]),
    (lambda: interpolate(gk.tensor(np.zeros((1, 1, 2), dtype=np.int64)), size=3, mode="linear"), gk.DTypeError,
     ["interpolate", "'linear'", "float", "int64"]),
    (lambda: Upsample(scale_factor=2, mode="bilinear", align_corners="yes"), gk.ArgumentTypeError,
     ["Upsample", "align_corners", "'yes'"]),
    (lambda: Upsample(), gk.InvalidArgumentError, ["Upsample", "size or scale_factor"]),
    (lambda: Upsample(size=3, mode="nearest", align_corners=True), gk.InvalidArgumentError,
     ["Upsample", "align_corners=True", "mode='nearest'"]),
    (lambda: pixel_shuffle(gk.tensor(np.zeros((1, 6, 2, 2))), 2), gk.ShapeError,
     ["pixel_shuffle", "6 channels", "(1, 6, 2, 2)", "upscale_factor**2 = 4"]),
    (lambda: pixel_shuffle(gk.tensor(np.zeros((4, 2))), 2), gk.ShapeError,
     ["pixel_shuffle", "at least 3 dimensions", "(4, 2)"]),
    (lambda: pixel_shuffle(gk.tensor(_X4), 0), gk.InvalidArgumentError, ["pixel_shuffle", "upscale_factor", ">= 1"]),
    (lambda: PixelShuffle(1.5), gk.ArgumentTypeError, ["PixelShuffle", "upscale_factor", "int", "1.5"]),
    (lambda: pixel_unshuffle(gk.tensor(np.zeros((1, 1, 4, 6))), 4), gk.ShapeError,
     ["pixel_unshuffle", "height 4", "width 6", "downscale_factor=4"]),
    (lambda: channel_shuffle(gk.tensor(np.zeros((1, 6, 2))), 4), gk.ShapeError,
     ["channel_shuffle", "6 channels", "groups=4"]),
    (lambda: channel_shuffle(gk.tensor(np.zeros((2, 6))), 2), gk.ShapeError,
     ["channel_shuffle", "at least 3 dimensions", "(2, 6)"]),
    (lambda: max_unpool2d(gk.tensor(np.zeros((1, 1, 2, 2))), gk.tensor(np.zeros((1, 1, 2, 1), dtype=np.int64)), 2),
     gk.ShapeError, ["max_unpool2d", "indices of shape (1, 1, 2, 1)", "(1, 1, 2, 2)"]),
    (lambda: max_unpool2d(gk.tensor(np.zeros((1, 1, 2, 2))), gk.tensor(np.zeros((1, 1, 2, 2))), 2), gk.DTypeError,
     ["max_unpool2d", "indices", "integer", "float64"]),
    (lambda: max_unpool2d(gk.tensor(np.zeros((1, 1, 2, 2)), device="cpu"), gk.tensor(np.full((1, 1, 2, 2), 16),
                                                                                 device="cpu"), 2),
     gk.IndexOutOfRangeError, ["max_unpool2d", "index 16", "(4, 4)", "0 to 15"]),
    (lambda: max_unpool2d(gk.tensor(np.zeros((1, 1, 2, 2))), gk.tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), 2,
                          output_size=(6, 4)), gk.InvalidArgumentError,
     ["max_unpool2d", "output_size (6, 4)", "default size (4, 4)", "(3, 3)", "(5, 5)"]),
    (lambda: max_unpool1d(gk.tensor(np.zeros((2, 1, 2, 2))), gk.tensor(np.zeros((2, 1, 2, 2), dtype=np.int64)), 2),
     gk.ShapeError, ["max_unpool1d", "(2, 1, 2, 2)"]),
    (lambda: MaxUnpool2d(0), gk.InvalidArgumentError, ["MaxUnpool2d", "kernel_size", ">= 1"]),
]


@pytest.mark.parametrize(("call", "error", "fragments"), _ERRORS)
def test_errors_name_the_function_the_value_and_what_was_expected(call, error, fragments):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, gk.GradkitError)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_unsupported_interpolation_is_a_not_implemented_error():
    assert issubclass(UnsupportedInterpolationError, NotImplementedError)
    with pytest.raises(NotImplementedError, match="trilinear"):
        interpolate(gk.tensor(np.zeros((1, 1, 2, 2, 2))), size=3, mode="trilinear")
