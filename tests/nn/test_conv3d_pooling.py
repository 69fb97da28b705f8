"""3-D convolution and pooling, adaptive max pooling, power-average (LP) pooling, max pooling's indices,
max_unpool3d, conv_tbc and BatchNorm3d: values against their definitions and finite differences of first and
second order on every device (no PyTorch needed), then values, indices and gradients against PyTorch when it
is installed, the layers, and the errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


# ------------------------------------------------------------------ the definitions, one window at a time
def _naive_conv3d(x, w, b, stride, pad, dil, groups):
    n, c, *size = x.shape
    o, cg, *kernel = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in pad)))
    out = [(s + 2 * p - d * (k - 1) - 1) // st + 1
           for s, p, d, k, st in zip(size, pad, dil, kernel, stride, strict=True)]
    y = np.zeros((n, o, *out))
    og = o // groups
    for oc in range(o):
        chans = slice(oc // og * cg, oc // og * cg + cg)
        for pos in itertools.product(*(range(m) for m in out)):
            win = tuple(slice(i * st, i * st + d * (k - 1) + 1, d)
                        for i, st, d, k in zip(pos, stride, dil, kernel, strict=True))
            y[(slice(None), oc, *pos)] = (xp[(slice(None), chans, *win)] * w[oc]).sum((1, 2, 3, 4)) + b[oc]
    return y


def _adaptive_windows(n, o):
    return [(i * n // o, -(-((i + 1) * n) // o)) for i in range(o)]


def _naive_adaptive_max(x, out):
    """Values and PyTorch's indices: the scan in row-major order, a larger value or a NaN taking the place."""
    n, c, *size = x.shape
    y, idx = np.zeros((n, c, *out)), np.zeros((n, c, *out), dtype=np.int64)
    axes = [_adaptive_windows(s, o) for s, o in zip(size, out, strict=True)]
    for a, b in itertools.product(range(n), range(c)):
        for pos in itertools.product(*(range(o) for o in out)):
            best, arg = -np.inf, None
            for el in itertools.product(*(range(*axes[i][p]) for i, p in enumerate(pos))):
                v = x[(a, b, *el)]
                if arg is None:
                    arg = el
                if v > best or np.isnan(v):
                    best, arg = v, el
            y[(a, b, *pos)] = best
            idx[(a, b, *pos)] = np.ravel_multi_index(arg, size)
    return y, idx


def test_conv3d_matches_the_definition(device):
    x, w, b = _data(2, 4, 5, 4, 6), _data(6, 2, 2, 3, 2, seed=1), _data(6, seed=2)
    kw = {"stride": (1, 2, 1), "padding": (1, 0, 2), "dilation": (2, 1, 1), "groups": 2}
    got = F.conv3d(_gk(x, device), _gk(w, device), _gk(b, device), **kw)
    assert got.grad_fn.name == "conv3d"
    _close(got, _naive_conv3d(x, w, b, (1, 2, 1), (1, 0, 2), (2, 1, 1), 2))
    # unbatched: (C, D, H, W)
    _close(F.conv3d(_gk(x[1], device), _gk(w, device), _gk(b, device), **kw), got.numpy()[1])


def test_conv_transpose3d_is_the_adjoint_of_conv3d(device):
    kw = {"stride": (2, 1, 2), "padding": (1, 0, 1), "dilation": (1, 2, 1), "groups": 2}
    x = _gk(_data(2, 4, 6, 5, 7), device, grad=False)
    w = _gk(_data(6, 2, 3, 2, 2, seed=1), device, grad=False)
    y = F.conv3d(x, w, **kw)
    v = _gk(_data(*y.shape, seed=2), device, grad=False)
    pad = tuple(n - m for n, m in zip(x.shape[2:], F.conv_transpose3d(v, w, **kw).shape[2:], strict=True))
    back = F.conv_transpose3d(v, w, output_padding=pad, **kw)
    assert back.shape == x.shape and back.grad_fn is None
    np.testing.assert_allclose(float((y * v).sum().item()), float((x * back).sum().item()), rtol=1e-12)


def test_pool3d_values_match_the_definition(device):
    x = _data(2, 3, 5, 6, 4)
    gx = _gk(x, device, grad=False)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1)), constant_values=-np.inf)
    want = np.stack([xp[:, :, i:i + 3, j:j + 3, k:k + 3].max((2, 3, 4))
                     for i in range(0, 5, 2) for j in range(0, 6, 2) for k in range(0, 4, 2)], -1)
    y, idx = F.max_pool3d(gx, 3, 2, 1, return_indices=True)
    _close(y, want.reshape(2, 3, 3, 3, 2))
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.numpy().reshape(2, 3, -1), 2),
                                  y.numpy().reshape(2, 3, -1))  # flat (d * H + h) * W + w indices
    _close(F.avg_pool3d(gx, 2), x[:, :, :4, :, :].reshape(2, 3, 2, 2, 3, 2, 2, 2).mean((3, 5, 7)))
    _close(F.avg_pool3d(gx, (1, 2, 2), divisor_override=3), x.reshape(2, 3, 5, 3, 2, 2, 2).sum((4, 6)) / 3)
    _close(F.adaptive_avg_pool3d(gx, (1, None, 2)), x.reshape(2, 3, 5, 6, 2, 2).mean((2, 5))[:, :, None])


@pytest.mark.parametrize(("shape", "out"), [((2, 3, 7), (3,)), ((2, 2, 5, 7), (3, 4)), ((1, 2, 4, 5, 3), (3, 2, 5)),
                                            ((2, 3, 4), (7, 2))])
def test_adaptive_max_pool_matches_the_definition(device, shape, out):
    x = np.round(_data(*shape) * 1.5)  # ties
    x.reshape(-1)[[3, 7]] = np.nan
    dims = len(out)
    batched = len(shape) == dims + 2
    y, idx = getattr(F, f"adaptive_max_pool{dims}d")(_gk(x, device, grad=False), out, return_indices=True)
    want, want_idx = _naive_adaptive_max(x if batched else x[None], out)
    if not batched:
        want, want_idx = want[0], want_idx[0]
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert idx.dtype == np.int64


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_pool_matches_the_definition(device, dims):
    x = np.abs(_data(2, 3, *(5, 7, 6)[:dims])) + 0.1
    for p, k, s, ceil in ((2, 2, None, False), (1.5, 3, 2, True), (3, 2, 1, False)):
        got = getattr(F, f"lp_pool{dims}d")(_gk(x, device, grad=False), p, k, s, ceil)
        st = k if s is None else s
        axes = []
        for n in x.shape[2:]:
            m = -(-(n - k) // st) + 1 if ceil else (n - k) // st + 1
            if ceil and (m - 1) * st >= n:
                m -= 1
            axes.append([(i * st, min(i * st + k, n)) for i in range(m)])
        want = np.zeros(x.shape[:2] + tuple(len(a) for a in axes))
        for pos in itertools.product(*(range(len(a)) for a in axes)):
            win = tuple(slice(*axes[i][j]) for i, j in enumerate(pos))
            part = x[(slice(None), slice(None), *win)]
            count = math.prod(b - a for a, b in (axes[i][j] for i, j in enumerate(pos)))
            # PyTorch's: the mean over the part inside the input, times the whole kernel's size
            want[(slice(None), slice(None), *pos)] = ((part ** p).sum(tuple(range(2, 2 + dims))) / count
                                                      * k ** dims) ** (1 / p)
        _close(got, want)
    xi = _gk(x, device, grad=False)
    _close(getattr(F, f"lp_pool{dims}d")(xi, math.inf, 2), getattr(F, f"max_pool{dims}d")(xi, 2).numpy())


def test_lp_pool_gradient_is_zero_where_the_power_sum_is(device):
    x = _data(1, 2, 8)
    x[0, 0, :4] = 0
    gx = _gk(x, device)
    y = F.lp_pool1d(gx, 2, 2)
    y.sum().backward()
    g = gx.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0, 0, :4], 0)
    np.testing.assert_array_equal(y.numpy()[0, 0, :2], 0)


def test_conv_tbc_is_conv1d_time_first(device):
    x, w, b = _data(7, 2, 3), _data(3, 3, 4, seed=1), _data(4, seed=2)
    got = F.conv_tbc(_gk(x, device), _gk(w, device), _gk(b, device), 1)
    want = F.conv1d(_gk(x.transpose(1, 2, 0), device), _gk(w.transpose(2, 1, 0), device), _gk(b, device), padding=1)
    _close(got, want.numpy().transpose(2, 0, 1))


# ------------------------------------------------------------------ finite differences, first and second order
def test_gradcheck_conv3d_and_conv_transpose3d(device):
    x, w, b = _gk(_data(1, 4, 3, 4, 3), device), _gk(_data(4, 2, 2, 2, 2, seed=1), device), _gk(_data(4, seed=2),
                                                                                                   device)
    assert gk.gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2),
                                                 groups=2), (x, w, b))
    assert gk.gradcheck(lambda x, w: F.conv3d(x, w, padding="same", groups=2), (x[0], w))  # unbatched
    xt, wt = _gk(_data(1, 4, 2, 3, 2), device), _gk(_data(4, 1, 2, 2, 3, seed=1), device)
    assert gk.gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=(0, 1, 1),
                                                           output_padding=(1, 0, 1), groups=2), (xt, wt, b[:2]))
    xb, wb = _gk(_data(5, 2, 3), device), _gk(_data(2, 3, 2, seed=1), device)
    assert gk.gradcheck(lambda x, w, b: F.conv_tbc(x, w, b, 1), (xb, wb, b[:2]))


def test_gradcheck_pools(device):
    x = _gk(_data(1, 2, 4, 5, 3), device)  # distinct values: no tie within a finite difference
    assert gk.gradcheck(lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 1), (1, 1, 0), dilation=(1, 1, 2),
                                               ceil_mode=True), (x,))
    assert gk.gradcheck(lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (x,))
    assert gk.gradcheck(lambda x: F.avg_pool3d(x, (2, 2, 1), divisor_override=3), (x,))
    assert gk.gradcheck(lambda x: F.adaptive_avg_pool3d(x, (3, None, 2)), (x,))
    for dims, out in ((1, 2), (2, (3, None)), (3, (3, 2, 2))):
        xi = _gk(_data(2 if dims < 3 else 1, 2, *(7, 4, 3)[:dims]), device)
        assert gk.gradcheck(lambda x, dims=dims, out=out: getattr(F, f"adaptive_max_pool{dims}d")(x, out), (xi,))
        xp = _gk(np.abs(_data(2, *(5, 4, 3)[:dims])) + 0.5, device)  # unbatched, positive: a real power
        assert gk.gradcheck(lambda x, dims=dims: getattr(F, f"lp_pool{dims}d")(x, 1.5, 2, 1, True), (xp,))
    y, idx = F.max_pool3d(x.detach(), 2, return_indices=True)
    z = _gk(y.numpy(), device)
    assert gk.gradcheck(lambda z: F.max_unpool3d(z, idx, 2, output_size=(4, 5, 3)), (z,))


def test_second_order_gradients(device):
    x, w = _gk(_data(1, 2, 3, 3, 2), device), _gk(_data(2, 2, 2, 2, 1, seed=1), device)

    def conv_grads(x, w):
        y = F.conv3d(x, w, padding=1)
        return gk.autograd.grad((y * y * y).sum(), (x, w), create_graph=True)

    assert gk.gradcheck(conv_grads, (x, w))

    def pool_grads(x):
        a = F.adaptive_max_pool2d(x[0], (2, 2))
        b = F.lp_pool2d(x[0] * x[0] + 0.5, 3, 2, 1)
        c = F.max_pool3d(x, 2, 1, 1)
        return gk.autograd.grad((a * a * a).sum() + (b * b).sum() + (c ** 3).sum(), (x,), create_graph=True)

    assert gk.gradcheck(pool_grads, (x,))


# ------------------------------------------------------------------ against PyTorch
def _vs_torch(device, name, arrays, kw, tfn=None, tol=1e-10):
    """``F.name(*arrays, **kw)`` against PyTorch's: values, indices (when a pair comes back) and each array's
    gradient."""
    torch = pytest.importorskip("torch")
    tf = tfn or getattr(torch.nn.functional, name)
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    gx = [_gk(a, device) for a in arrays]
    ty, gy = tf(*tx, **kw), getattr(F, name)(*gx, **kw)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(gy[1].numpy(), ty[1].numpy())
        assert gy[1].dtype == np.int64
        ty, gy = ty[0], gy[0]
    _close(gy, ty, tol)
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    for mine, theirs in zip(gx, tx, strict=True):
        _close(mine.grad, theirs.grad, tol)


CONV3D_CASES = [
    ((2, 3, 4, 5, 4), (4, 3, 2, 3, 2), {}),
    ((2, 4, 5, 4, 6), (6, 2, 3, 2, 2), {"groups": 2, "stride": (2, 1, 2), "padding": (1, 2, 0), "dilation": (1, 2, 1)}),
    ((1, 2, 4, 4, 5), (3, 2, 2, 3, 2), {"padding": "same", "dilation": (2, 1, 1)}),
    ((3, 4, 5, 3), (2, 3, 3, 2, 2), {"padding": "valid", "stride": 2}),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own speed
@pytest.mark.parametrize(("xs", "ws", "kw"), CONV3D_CASES)
def test_conv3d_matches_pytorch(device, xs, ws, kw):
    _vs_torch(device, "conv3d", (_data(*xs), _data(*ws, seed=1), _data(ws[0], seed=2)), kw)


TRANSPOSE3D_CASES = [
    ((2, 3, 3, 4, 2), (3, 2, 2, 3, 2), {}),
    ((2, 4, 3, 2, 3), (4, 2, 3, 2, 2), {"stride": (2, 3, 1), "padding": (1, 0, 1), "output_padding": (1, 2, 0),
                                        "groups": 2, "dilation": (1, 1, 2)}),
    ((4, 2, 3, 2), (4, 3, 2, 2, 2), {"stride": 2, "padding": 1, "output_padding": 1}),  # unbatched
]


@pytest.mark.parametrize(("xs", "ws", "kw"), TRANSPOSE3D_CASES)
def test_conv_transpose3d_matches_pytorch(device, xs, ws, kw):
    out_ch = ws[1] * kw.get("groups", 1)
    _vs_torch(device, "conv_transpose3d", (_data(*xs), _data(*ws, seed=1), _data(out_ch, seed=2)), kw)


def test_conv_tbc_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    _vs_torch(device, "conv_tbc", (_data(6, 2, 3), _data(3, 3, 4, seed=1), _data(4, seed=2)), {"pad": 1},
              tfn=lambda x, w, b, pad: torch.conv_tbc(x, w, b, pad))


POOL3D_CASES = [
    ("max_pool3d", (2, 3, 5, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                     "return_indices": True}),
    ("max_pool3d", (3, 5, 4, 6), {"kernel_size": (2, 2, 3), "stride": 1, "padding": (1, 0, 1), "dilation": (2, 1, 2)}),
    ("max_pool3d_with_indices", (2, 2, 4, 5, 4), {"kernel_size": 2}),
    ("avg_pool3d", (2, 3, 5, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                     "count_include_pad": False}),
    ("avg_pool3d", (3, 5, 4, 6), {"kernel_size": (2, 3, 2), "stride": (1, 2, 2), "padding": (1, 1, 0),
                                  "divisor_override": 5}),
    ("adaptive_avg_pool3d", (2, 3, 5, 6, 7), {"output_size": (3, None, 4)}),
    ("adaptive_avg_pool3d", (3, 4, 5, 3), {"output_size": 7}),
]


@pytest.mark.parametrize(("name", "xs", "kw"), POOL3D_CASES)
def test_pool3d_matches_pytorch(device, name, xs, kw):
    _vs_torch(device, name, (_data(*xs),), kw)


@pytest.mark.parametrize(("dims", "out"), [(1, 3), (1, 11), (2, (3, 4)), (2, (None, 2)), (2, 9), (3, (2, 3, 4)),
                                           (3, (None, 1, 6))])
@pytest.mark.parametrize("batched", [True, False])
def test_adaptive_max_pool_matches_pytorch(device, dims, out, batched):
    x = np.round(_data(2, 3, *(7, 5, 6)[:dims]) * 1.5)  # ties: the indices follow PyTorch's scan
    x[0, 0].reshape(-1)[[2, 5]] = np.nan
    x[1, 1].reshape(-1)[:4] = -np.inf
    _vs_torch(device, f"adaptive_max_pool{dims}d", (x if batched else x[1],), {"output_size": out,
                                                                               "return_indices": True})
    name = f"adaptive_max_pool{dims}d_with_indices"
    _vs_torch(device, name, (_data(2, 3, *(7, 5, 6)[:dims]),), {"output_size": out})


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_pool_indices_match_pytorch(device, dims):
    torch = pytest.importorskip("torch")
    x = np.round(_data(2, 2, *(9, 8, 5)[:dims]) * 1.5)  # many ties
    x[0, 0].reshape(-1)[4] = np.nan
    x[0, 1].reshape(-1)[:3] = -np.inf
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    for name, extra in ((f"max_pool{dims}d", {"return_indices": True}), (f"max_pool{dims}d_with_indices", {}),
                        (f"max_pool{dims}d_with_indices", {"return_indices": False})):
        ty, ti = getattr(torch.nn.functional, name)(torch.tensor(x), **kw, **extra)
        gy, gi = getattr(F, name)(_gk(x, device, grad=False), **kw, **extra)
        np.testing.assert_array_equal(gy.numpy(), ty.numpy())
        assert gi.dtype == np.int64
        np.testing.assert_array_equal(gi.numpy(), ti.numpy())


LP_CASES = [
    (1, (2, 3, 9), 2.0, 3, None, False),
    (1, (3, 10), 1.5, 3, 2, True),
    (1, (2, 3, 8), float("inf"), 2, 3, True),
    (2, (2, 3, 7, 8), 3.0, (2, 3), (2, 1), True),
    (2, (3, 6, 6), -1.0, 2, None, False),
    (2, (2, 3, 7, 8), -float("inf"), 3, 2, False),
    (3, (2, 2, 5, 4, 6), 2.0, 2, None, True),
    (3, (2, 5, 5, 4), 1.0, (2, 1, 3), (1, 2, 2), False),
]


@pytest.mark.parametrize(("dims", "xs", "p", "k", "s", "ceil"), LP_CASES)
def test_lp_pool_matches_pytorch(device, dims, xs, p, k, s, ceil):
    x = np.abs(_data(*xs)) + 0.1
    x.reshape(-1)[:4] = 0.0  # a window whose power sum is 0: PyTorch's zero gradient
    if p < 0:
        x += 0.5
    _vs_torch(device, f"lp_pool{dims}d", (x,), {"norm_type": p, "kernel_size": k, "stride": s, "ceil_mode": ceil})


def test_max_unpool3d_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 5, 6, 4)
    ty, ti = torch.nn.functional.max_pool3d(torch.tensor(x), 2, 2, return_indices=True)
    gy, gi = F.max_pool3d(_gk(x, device, grad=False), 2, 2, return_indices=True)
    v = _data(*ty.shape, seed=1)
    _vs_torch(device, "max_unpool3d", (v,), {"indices": gi, "kernel_size": 2, "output_size": (5, 6, 4)},
              tfn=lambda a, indices, **kw: torch.nn.functional.max_unpool3d(a, ti, **kw))
    got = F.max_unpool3d(_gk(v, device, grad=False), gi, 2, output_size=x.shape)  # with N and C
    _close(got, torch.nn.functional.max_unpool3d(torch.tensor(v), ti, 2, output_size=x.shape))
    unb = F.max_unpool3d(_gk(v[0], device, grad=False), gi[0], 2)  # unbatched, the default size
    assert unb.shape == (3, 4, 6, 4)


def test_second_order_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x, w = _data(1, 2, 4, 4, 3), _data(3, 2, 2, 2, 2, seed=1)
    results = []
    for lib, fn, a, b in ((torch.autograd, torch.nn.functional, torch.tensor(x, requires_grad=True),
                           torch.tensor(w, requires_grad=True)), (gk.autograd, F, _gk(x, device), _gk(w, device))):
        y = fn.conv3d(a, b, padding=1) ** 2
        # (lp pooling's second order is checked by finite differences above: PyTorch's first double backward
        # through its sign() takes seconds)
        z = (fn.adaptive_max_pool3d(y, (2, 3, 2)) ** 2).sum() + (fn.max_pool3d(y, 2, 1, 1) ** 2).sum()
        da, db = lib.grad(z, (a, b), create_graph=True)
        results.append(lib.grad((da * da).sum() + (db * db).sum(), (a, b)))
    for mine, theirs in zip(results[1], results[0], strict=True):
        _close(mine, theirs, 1e-9)


# ------------------------------------------------------------------ layers
def _load(mine, theirs):
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (1, 0, 2), "same"])
def test_conv3d_layer_padding_modes_match_pytorch(device, mode, padding):
    torch = pytest.importorskip("torch")
    t = torch.nn.Conv3d(2, 4, (3, 2, 3), padding=padding, padding_mode=mode, groups=2).double()
    m = nn.Conv3d(2, 4, (3, 2, 3), padding=padding, padding_mode=mode, groups=2, device=device, dtype="float64")
    assert repr(m) == repr(t)
    _load(m, t)
    x = _data(2, 2, 4, 3, 5)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = t(tx), m(gx)
    _close(gy, ty)
    ty.sum().backward()
    gy.sum().backward()
    _close(gx.grad, tx.grad)
    _close(m.weight.grad, t.weight.grad)
    _close(m(_gk(x[0], device)), t(torch.tensor(x[0])))  # unbatched


def test_conv3d_layer_init_and_state_dict(device):
    gk.manual_seed(0)
    conv = nn.Conv3d(4, 6, (3, 2, 2), groups=2, device=device)
    assert conv.weight.shape == (6, 2, 3, 2, 2) and conv.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 12)
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert repr(conv) == "Conv3d(4, 6, kernel_size=(3, 2, 2), stride=(1, 1, 1), groups=2)"
    t = nn.ConvTranspose3d(4, 6, 2, groups=2, bias=False, device=device)
    assert t.weight.shape == (4, 3, 2, 2, 2) and t.bias is None


def test_conv_transpose3d_layer_matches_pytorch_with_output_size(device):
    torch = pytest.importorskip("torch")
    kw = {"stride": (2, 3, 1), "padding": (1, 0, 1), "groups": 2, "dilation": (1, 1, 2)}
    t = torch.nn.ConvTranspose3d(4, 6, (3, 2, 2), **kw).double()
    m = nn.ConvTranspose3d(4, 6, (3, 2, 2), **kw, device=device, dtype="float64")
    assert repr(m) == repr(t)
    _load(m, t)
    x = _data(2, 4, 3, 4, 5)
    for size in (None, (6, 12, 5), (2, 6, 6, 13, 5)):
        _close(m(_gk(x, device), output_size=size), t(torch.tensor(x), output_size=size))
    _close(m(_gk(x[0], device), output_size=(6, 11, 5)), t(torch.tensor(x[0]), output_size=(6, 11, 5)))
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose3d: output_size \(7, 11, 5\) is out of range"):
        m(_gk(x, device), output_size=(7, 11, 5))


def test_pool_layers_match_pytorch(device):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 5, 6, 4)
    layers = [
        ("MaxPool3d", (3, 2, 1), {"ceil_mode": True}),
        ("MaxPool3d", (2,), {"return_indices": True}),
        ("AvgPool3d", (3, 2, 1), {"count_include_pad": False, "divisor_override": None}),
        ("AvgPool3d", ((2, 3, 2),), {"divisor_override": 4}),
        ("AdaptiveAvgPool3d", ((2, None, 3),), {}),
        ("AdaptiveMaxPool3d", ((2, None, 3),), {"return_indices": True}),
        ("LPPool3d", (2, 2), {"ceil_mode": True}),
    ]
    for name, args, kw in layers:
        t, m = getattr(torch.nn, name)(*args, **kw), getattr(nn, name)(*args, **kw)
        assert repr(m) == repr(t)
        for a in (x, x[0]):
            ty, gy = t(torch.tensor(np.abs(a))), m(_gk(np.abs(a), device, grad=False))
            if isinstance(ty, tuple):
                np.testing.assert_array_equal(gy[1].numpy(), ty[1].numpy())
                ty, gy = ty[0], gy[0]
            _close(gy, ty)
    for dims, size in ((1, (2, 3, 7)), (2, (2, 3, 7, 5))):
        xi = _data(*size)
        for name, args in ((f"AdaptiveMaxPool{dims}d", (3, True)), (f"LPPool{dims}d", (1.5, 2, 1, True))):
            t, m = getattr(torch.nn, name)(*args), getattr(nn, name)(*args)
            assert repr(m) == repr(t)
            ty, gy = t(torch.tensor(np.abs(xi))), m(_gk(np.abs(xi), device, grad=False))
            if isinstance(ty, tuple):
                np.testing.assert_array_equal(gy[1].numpy(), ty[1].numpy())
                ty, gy = ty[0], gy[0]
            _close(gy, ty)


def test_max_pool3d_and_max_unpool3d_layers_round_trip(device):
    x = _gk(np.abs(_data(2, 3, 4, 6, 6)), device, grad=False)
    pool, unpool = nn.MaxPool3d(2, return_indices=True), nn.MaxUnpool3d(2)
    assert repr(unpool) == "MaxUnpool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0))"
    y, idx = pool(x)
    back = unpool(y, idx)
    assert back.shape == x.shape
    kept = back.numpy() != 0
    np.testing.assert_array_equal(back.numpy()[kept], x.numpy()[kept])
    assert kept.reshape(2, 3, 2, 2, 3, 2, 3, 2).sum((3, 5, 7)).max() == 1  # one element per window
    _close(pool(back)[0], y.numpy())


def test_batchnorm3d_matches_pytorch_in_training_and_eval(device):
    torch = pytest.importorskip("torch")
    t = torch.nn.BatchNorm3d(3, momentum=0.2).double()
    m = nn.BatchNorm3d(3, momentum=0.2, device=device, dtype="float64")
    for step in range(2):
        x = _data(2, 3, 2, 3, 4, seed=step) * 2 + 1
        tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
        ty, gy = t(tx), m(gx)
        _close(gy, ty)
        u = _data(*x.shape, seed=10 + step)
        ty.backward(torch.tensor(u))
        gy.backward(_gk(u, device, grad=False))
        _close(gx.grad, tx.grad)
        _close(m.weight.grad, t.weight.grad)
    for key, value in t.state_dict().items():
        _close(m.state_dict()[key], value)
    t.eval()
    m.eval()
    x = _data(1, 3, 2, 2, 2, seed=5)
    _close(m(_gk(x, device)), t(torch.tensor(x)))


def test_batchnorm3d_instance_norm3d_and_dropout3d_on_5d_input(device):
    x = _data(4, 3, 2, 3, 2) * 3 + 2
    m = nn.BatchNorm3d(3, device=device, dtype="float64")
    y = m(_gk(x, device)).numpy()
    np.testing.assert_allclose(y.mean((0, 2, 3, 4)), 0, atol=1e-12)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * x.mean((0, 2, 3, 4)), rtol=1e-12)
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert repr(m) == "BatchNorm3d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    z = nn.InstanceNorm3d(3)(_gk(x, device)).numpy()
    np.testing.assert_allclose(z.mean((2, 3, 4)), 0, atol=1e-12)
    assert nn.InstanceNorm3d(3)(_gk(x[0], device)).shape == x.shape[1:]
    gk.manual_seed(0)
    d = nn.Dropout3d(0.5)(gk.ones(4, 8, 2, 3, 2, device=device)).numpy().reshape(4, 8, -1)
    assert np.all((d == 0).all(-1) | (d == 2).all(-1))


# ------------------------------------------------------------------ errors
def test_errors_name_the_op():
    x5, w5 = gk.zeros(2, 3, 4, 4, 4), gk.zeros(4, 3, 3, 3, 3)
    with pytest.raises(gk.ShapeError, match=r"conv3d: expected a 4-D \(C, D, H, W\) or 5-D \(N, C, D, H, W\) input, "
                                            r"got input of shape \(3, 4, 4\)"):
        F.conv3d(gk.zeros(3, 4, 4), w5)
    with pytest.raises(gk.ShapeError, match=r"conv3d: weight must be 5-D"):
        F.conv3d(x5, gk.zeros(4, 3, 3, 3))
    with pytest.raises(gk.ShapeError, match=r"conv3d: the padded input size \(2, 4, 4\) is smaller than the "
                                            r"\(dilated\) kernel size \(3, 3, 3\)"):
        F.conv3d(gk.zeros(2, 3, 2, 4, 4), w5)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose3d: weight of shape \(4, 3, 3, 3, 3\) expects input "
                                            r"with 4 channels"):
        F.conv_transpose3d(x5, w5)
    with pytest.raises(gk.InvalidArgumentError, match=r"conv_transpose3d: output_padding must be smaller"):
        F.conv_transpose3d(gk.zeros(1, 4, 2, 2, 2), w5, output_padding=1)
    with pytest.raises(gk.ShapeError, match=r"max_pool3d: input of shape \(1, 3, 2, 4, 4\) is too small for "
                                            r"kernel_size \(3, 3, 3\)"):
        F.max_pool3d(gk.zeros(1, 3, 2, 4, 4), 3)
    with pytest.raises(gk.ShapeError, match=r"avg_pool3d: expected a 4-D .* or 5-D"):
        F.avg_pool3d(gk.zeros(4, 4, 4), 2)
    with pytest.raises(gk.InvalidArgumentError, match=r"avg_pool3d: padding \(2, 2, 2\) must be at most half"):
        F.avg_pool3d(x5, 3, padding=2)
    with pytest.raises(gk.ShapeError, match=r"max_pool2d_with_indices: expected a 3-D"):
        F.max_pool2d_with_indices(gk.zeros(4, 4), 2)
    for dims in (1, 2, 3):
        with pytest.raises(gk.InvalidArgumentError, match=rf"adaptive_max_pool{dims}d: output_size must be an int "
                                                          rf"or a tuple of {dims} ints"):
            getattr(F, f"adaptive_max_pool{dims}d")(gk.zeros(1, 2, *(4,) * dims), (2,) * (dims + 1))
        with pytest.raises(gk.InvalidArgumentError, match=rf"adaptive_max_pool{dims}d: output_size must be >= 0"):
            getattr(F, f"adaptive_max_pool{dims}d")(gk.zeros(1, 2, *(4,) * dims), -1)
        with pytest.raises(gk.ShapeError, match=rf"adaptive_max_pool{dims}d: expected an input with no empty axis"):
            getattr(F, f"adaptive_max_pool{dims}d")(gk.zeros(1, 0, *(4,) * dims), 2)
        with pytest.raises(gk.InvalidArgumentError, match=rf"lp_pool{dims}d: norm_type must be a non-zero number"):
            getattr(F, f"lp_pool{dims}d")(gk.zeros(1, 2, *(4,) * dims), 0, 2)
        with pytest.raises(gk.ShapeError, match=rf"lp_pool{dims}d: input of shape .* is too small"):
            getattr(F, f"lp_pool{dims}d")(gk.zeros(1, 2, *(2,) * dims), 2, 3)
    with pytest.raises(gk.ShapeError, match=r"adaptive_avg_pool3d: expected a 4-D"):
        F.adaptive_avg_pool3d(gk.zeros(2, 3, 4), 2)
    with pytest.raises(gk.InvalidArgumentError, match=r"adaptive_avg_pool3d: output_size must be"):
        F.adaptive_avg_pool3d(x5, (2, 2))
    with pytest.raises(gk.InvalidArgumentError, match=r"max_unpool3d: output_size .* must lie within stride"):
        F.max_unpool3d(gk.zeros(1, 1, 2, 2, 2), gk.zeros(1, 1, 2, 2, 2, dtype="int64"), 2, output_size=(9, 4, 4))
    with pytest.raises(gk.ShapeError, match=r"conv_tbc: expected a 3-D \(time, batch, in_channels\) input"):
        F.conv_tbc(gk.zeros(2, 3), gk.zeros(2, 3, 4), gk.zeros(4))
    with pytest.raises(gk.ShapeError, match=r"conv_tbc: weight of shape \(2, 4, 4\) expects input with 4 channels"):
        F.conv_tbc(gk.zeros(5, 2, 3), gk.zeros(2, 4, 4), gk.zeros(4))
    with pytest.raises(gk.ShapeError, match=r"BatchNorm3d: expected input of shape \(N, 3, D, H, W\)"):
        nn.BatchNorm3d(3)(gk.zeros(2, 3, 4, 4))
    with pytest.raises(gk.ShapeError, match="BatchNorm3d: expected more than 1 value per channel"):
        nn.BatchNorm3d(3)(gk.zeros(1, 3, 1, 1, 1))
    with pytest.raises(gk.InvalidArgumentError, match="Conv3d: in_channels \\(3\\) must be divisible by groups"):
        nn.Conv3d(3, 4, 3, groups=2)
    with pytest.raises(gk.InvalidArgumentError, match="Conv3d: kernel_size must be an int or a tuple of 3 ints"):
        nn.Conv3d(3, 4, (3, 3))
    with pytest.raises(gk.InvalidArgumentError, match="ConvTranspose3d: only padding_mode=\"zeros\""):
        nn.ConvTranspose3d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(gk.InvalidArgumentError, match="LPPool2d: norm_type must be a non-zero number"):
        nn.LPPool2d(0, 2)
    with pytest.raises(gk.InvalidArgumentError, match="AdaptiveMaxPool3d: output_size must be an int or a tuple of 3"):
        nn.AdaptiveMaxPool3d((2, 2))
    with pytest.raises(gk.ArgumentTypeError, match="AdaptiveMaxPool2d: return_indices must be True or False"):
        nn.AdaptiveMaxPool2d(2, return_indices="yes")
