"""Review of the 3-D layers and the pooling family (commit e5ec90e): adaptive average pooling keeps an inf or a NaN
in the windows that hold it (it multiplied by an averaging matrix, so that 0 * inf spread NaN along the whole axis),
adaptive pooling of an empty batch or to an empty output axis, max pooling's windows with no input element, and a
small seeded sweep of the new functions against PyTorch (values, indices and gradients), on every device."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data
from _host_reads import count_host_reads

import gradkit as gk
from gradkit.nn import functional as F


def _windows(n, o):
    return [(i * n // o, -(-((i + 1) * n) // o)) for i in range(o)]


def _naive_adaptive_avg(x, out):
    """PyTorch's adaptive average: each window's sum over its elements, divided by its size."""
    dims = len(out)
    axes = [_windows(n, o) for n, o in zip(x.shape[-dims:], out, strict=True)]
    y = np.zeros(x.shape[:-dims] + tuple(out))
    for pos in itertools.product(*(range(o) for o in out)):
        win = tuple(slice(*axes[i][p]) for i, p in enumerate(pos))
        part = x[(Ellipsis, *win)]
        with np.errstate(invalid="ignore"):  # inf - inf: NaN
            y[(Ellipsis, *pos)] = part.sum(tuple(range(-dims, 0))) / part[(0,) * (part.ndim - dims)].size
    return y


@pytest.mark.parametrize(("shape", "out"), [((2, 3, 7), (3,)), ((2, 3, 7), (10,)), ((2, 5, 7), (3, 4)),
                                            ((3, 5, 6), (None, 4)), ((1, 2, 5, 4, 7), (3, 2, 3)),
                                            ((2, 4, 3, 6), (2, 5, 4)), ((1, 2, 6, 4, 6), (1, 2, 3))])
def test_adaptive_avg_pool_keeps_inf_and_nan_in_their_windows(device, shape, out):
    dims = len(out)
    x = _data(*shape)
    x.reshape(-1)[3] = np.inf
    x.reshape(-1)[-2] = np.nan
    x.reshape(-1)[5] = -np.inf
    sizes = tuple(n if o is None else o for n, o in zip(shape[-dims:], out, strict=True))
    got = getattr(F, f"adaptive_avg_pool{dims}d")(_gk(x, device, grad=False), out if dims > 1 else out[0])
    want = _naive_adaptive_avg(x, sizes)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got.numpy()), np.isnan(want))  # only the windows that hold a NaN
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got.numpy()).sum() > 0


def test_adaptive_avg_pool_gradient_with_inf_input_is_finite(device):
    """The gradient of a window average does not depend on the values: an inf input leaves it finite."""
    x = _data(2, 3, 5, 7, 6)
    x[0, 0, 0, 0, 0] = np.inf
    gx = _gk(x, device)
    y = F.adaptive_avg_pool3d(gx, (3, 4, 4))
    y.backward(gk.ones_like(y))
    g = gx.grad.numpy()
    assert np.isfinite(g).all()
    gx2 = _gk(np.nan_to_num(x, posinf=0.0), device)
    F.adaptive_avg_pool3d(gx2, (3, 4, 4)).sum().backward()
    np.testing.assert_allclose(g, gx2.grad.numpy(), rtol=1e-14)


def test_adaptive_avg_pool_any_order(device):
    x = _gk(_data(1, 1, 3, 4, 5), device)
    assert gk.gradcheck(lambda x: F.adaptive_avg_pool3d(x, (2, None, 3)) ** 2, (x,))
    assert gk.gradcheck(lambda x: F.adaptive_avg_pool3d(x, (5, 3, 1)) ** 3, (x,))

    def grads(x):
        y = F.adaptive_avg_pool3d(x, (2, 3, 3))
        return gk.autograd.grad((y * y * y).sum(), (x,), create_graph=True)

    assert gk.gradcheck(grads, (x,))


@pytest.mark.parametrize(("dims", "shape", "out"), [(3, (0, 2, 4, 4, 4), 2), (3, (2, 3, 4, 5, 6), (0, 2, 2)),
                                                    (3, (3, 4, 5, 6), (3, None, 0)), (1, (0, 2, 5), 0),
                                                    (1, (2, 5), (0,)), (2, (0, 3, 4, 5), (2, 3))])
def test_adaptive_pools_of_an_empty_batch_or_to_an_empty_axis(device, dims, shape, out):
    keep = shape[-dims:]
    sizes = out if isinstance(out, tuple) else (out,) * dims
    want = shape[:-dims] + tuple(n if o is None else o for n, o in zip(keep, sizes, strict=True))
    for name in ("adaptive_max_pool", "adaptive_avg_pool"):
        gx = _gk(_data(*shape), device)
        kw = {"return_indices": True} if "max" in name else {}
        y = getattr(F, f"{name}{dims}d")(gx, out, **kw)
        if kw:
            y, idx = y
            assert idx.shape == want and idx.dtype == np.int64
        assert y.shape == want
        y.sum().backward()
        assert gx.grad.shape == shape and not gx.grad.numpy().any()


def test_max_pool_window_with_no_input_element_gets_no_gradient(device):
    """A window that dilation steps past the input (all padding) is -inf; its index is PyTorch's, and no gradient
    reaches the input from it (PyTorch's backward writes through that out-of-range or aliased index)."""
    x = np.array([[[[-1.1], [1.3], [0.4]]]])
    gx = _gk(x, device)
    y, idx = F.max_pool2d(gx, 2, (2, 3), 1, 2, True, True)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 1), -np.inf))
    np.testing.assert_array_equal(idx.numpy(), [[[[2], [2]]]])
    y.backward(gk.ones_like(y))
    np.testing.assert_array_equal(gx.grad.numpy(), 0)


def test_new_pools_read_nothing_back_from_the_device(device, monkeypatch):
    reads = count_host_reads(device, monkeypatch)
    x = _gk(_data(2, 2, 5, 7, 6), device)
    outs = [F.adaptive_avg_pool3d(x, (3, 4, None)), F.adaptive_avg_pool3d(x, (1, 7, 2)),
            F.adaptive_max_pool3d(x, (3, 4, 2)), F.adaptive_max_pool2d(x[0], (0, 3)),
            F.max_pool3d(x, 3, 2, 1, (1, 2, 1), True), F.avg_pool3d(x, 3, 2, 1, True, False),
            F.lp_pool3d(x * x + 0.5, 1.5, 2, 1, True), F.lp_pool3d(x, float("inf"), 2)]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    (g,) = gk.autograd.grad(total, (x,), create_graph=True)
    (g * g).sum().backward()
    assert reads == []


# ------------------------------------------------------------------ a seeded sweep against PyTorch
def _against_torch(device, gfn, tfn, x, tol=1e-10):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    gx = _gk(x, device)
    ty, gy = tfn(tx), gfn(gx)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(gy[1].numpy(), ty[1].numpy())
        ty, gy = ty[0], gy[0]
    np.testing.assert_allclose(gy.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    u = _data(*ty.shape, seed=7)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    _close(gx.grad, tx.grad, tol)


def test_pool_sweep_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(11)
    for trial in range(10):
        dims = 1 + trial % 3
        unbatched = trial % 5 == 0
        size = tuple(int(n) for n in rng.integers(2, 7, dims))
        x = np.round(_data(*((() if unbatched else (2,)) + (2,) + size), seed=trial) * 1.5)  # ties
        if trial % 4 == 1:
            x.reshape(-1)[[1, 6]] = (np.nan, np.inf)
        k = tuple(int(v) for v in rng.integers(1, 4, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        p = tuple(int(rng.integers(0, v // 2 + 1)) for v in k)
        ceil = bool(trial % 2)
        big = [a for a, b, c in zip(size, k, p, strict=True) if a + 2 * c < b]
        if not big:
            _against_torch(device, lambda t: getattr(F, f"max_pool{dims}d")(t, k, s, p, 1, ceil, True),
                           lambda t: getattr(tf, f"max_pool{dims}d")(t, k, s, p, 1, ceil, True), x)
        if not big and (dims < 3 or all(a >= b for a, b in zip(size, k, strict=True))):  # PyTorch's 3-D check
            extra = (not ceil,) if dims == 1 else (not ceil, 3 if trial % 3 == 0 else None)
            _against_torch(device, lambda t: getattr(F, f"avg_pool{dims}d")(t, k, s, p, ceil, *extra),
                           lambda t: getattr(tf, f"avg_pool{dims}d")(t, k, s, p, ceil, *extra), x)
        out = tuple(int(v) for v in rng.integers(1, 9, dims))
        for name in ("adaptive_avg_pool", "adaptive_max_pool"):
            kw = {"return_indices": True} if "max" in name else {}
            _against_torch(device, lambda t, name=name, kw=kw: getattr(F, f"{name}{dims}d")(t, out, **kw),
                           lambda t, name=name, kw=kw: getattr(tf, f"{name}{dims}d")(t, out, **kw), x)
        xp = np.abs(np.nan_to_num(x, nan=1.0, posinf=2.0)) + 0.25
        if all(a >= b for a, b in zip(size, k, strict=True)):
            norm = (1.0, 2.0, 3.0, 1.5, float("inf"))[trial % 5]
            kk, ss = (k[0], s[0]) if dims == 1 else (k, s)  # PyTorch's lp_pool1d takes ints only
            _against_torch(device, lambda t: getattr(F, f"lp_pool{dims}d")(t, norm, kk, ss, ceil),
                           lambda t: getattr(tf, f"lp_pool{dims}d")(t, norm, kk, ss, ceil), xp)


def test_conv3d_sweep_matches_pytorch_on_permuted_input(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for trial in range(6):
        groups = (1, 2, 3)[trial % 3]
        k = tuple(int(v) for v in rng.integers(1, 4, 3))
        s = tuple(int(v) for v in rng.integers(1, 3, 3))
        d = tuple(int(v) for v in rng.integers(1, 3, 3))
        p = tuple(int(v) for v in rng.integers(0, 3, 3))
        x = _data(2, 2 * groups, 5, 4, 6, seed=trial)
        w = _data(groups * 2, 2, *k, seed=trial + 1)
        b = _data(groups * 2, seed=trial + 2)
        kw = {"stride": s, "padding": p, "dilation": d, "groups": groups}
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        gx = _gk(np.ascontiguousarray(x.transpose(4, 0, 1, 2, 3)), device)  # a permuted view goes in
        gw, gb = _gk(w, device), _gk(b, device)
        ty = torch.nn.functional.conv3d(tx, tw, tb, **kw)
        gy = F.conv3d(gk.permute(gx, (1, 2, 3, 4, 0)), gw, gb, **kw)
        _close(gy, ty)
        u = _data(*ty.shape, seed=9)
        ty.backward(torch.tensor(u))
        gy.backward(_gk(u, device, grad=False))
        _close(gw.grad, tw.grad)
        _close(gb.grad, tb.grad)
        np.testing.assert_allclose(gx.grad.numpy().transpose(1, 2, 3, 4, 0), tx.grad.numpy(), atol=1e-10)
        op = tuple(int(rng.integers(0, max(a, c))) for a, c in zip(s, d, strict=True))
        wt = _data(2 * groups, 2, *k, seed=trial + 3)
        kwt = {"stride": s, "padding": (0, 0, 0), "output_padding": op, "groups": groups, "dilation": d}
        _against_torch(device, lambda t, wt=wt, kwt=kwt: F.conv_transpose3d(t, _gk(wt, device, grad=False), **kwt),
                       lambda t, wt=wt, kwt=kwt: torch.nn.functional.conv_transpose3d(t, torch.tensor(wt), **kwt),
                       _data(1, 2 * groups, 3, 2, 3, seed=trial + 4))
