"""Convolution, pooling, BatchNorm2d and Dropout2d: PyTorch's values, gradients, layers and state dicts;
finite-difference checks of first and second order on every device."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F

# ------------------------------------------------------------------ functional forms against PyTorch
CONV_CASES = [
    # input shape, weight shape, keywords
    ((2, 3, 7, 6), (4, 3, 3, 2), {}),
    ((2, 4, 7, 6), (6, 2, 3, 2), {"groups": 2, "stride": (2, 1), "padding": (1, 2), "dilation": (2, 1)}),
    ((2, 4, 9, 8), (4, 1, 3, 3), {"groups": 4, "stride": 3, "padding": 2, "dilation": 2}),
    ((2, 4, 8, 7), (5, 4, 2, 3), {"padding": "same", "dilation": (1, 2)}),
    ((1, 2, 5, 5), (3, 2, 3, 3), {"padding": "valid", "stride": 2}),
    ((3, 6, 6), (2, 3, 3, 3), {"padding": 1}),  # unbatched
    ((2, 4, 9), (6, 2, 4), {"groups": 2, "padding": "same", "dilation": 3}),
    ((2, 3, 10), (4, 3, 3), {"stride": 3, "padding": 2, "dilation": 2}),
    ((4, 9), (6, 4, 4), {"stride": 2, "padding": 1}),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own speed
@pytest.mark.parametrize(("xs", "ws", "kw"), CONV_CASES)
def test_conv_values_and_gradients_match_pytorch(device, xs, ws, kw):
    torch = pytest.importorskip("torch")
    x, w, b = _data(*xs), _data(*ws, seed=1), _data(ws[0], seed=2)
    bias = len(ws) == 4 or "groups" in kw
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gx, gw, gb = (_gk(a, device) for a in (x, w, b))
    tf, gf = (torch.nn.functional.conv2d, F.conv2d) if len(ws) == 4 else (torch.nn.functional.conv1d, F.conv1d)
    ty = tf(tx, tw, tb if bias else None, **kw)
    gy = gf(gx, gw, gb if bias else None, **kw)
    _close(gy, ty)
    if len(xs) == len(ws):  # batched: one node
        assert gy.grad_fn.name == ("conv2d" if len(ws) == 4 else "conv1d")
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    _close(gx.grad, tx.grad)
    _close(gw.grad, tw.grad)
    if bias:
        _close(gb.grad, tb.grad)


def test_conv_float32_keeps_its_dtype_and_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x, w, b = _data(4, 3, 9, 9, dtype="float32"), _data(5, 3, 3, 3, seed=1, dtype="float32"), _data(5, seed=2,
                                                                                                 dtype="float32")
    gx, gw, gb = (_gk(a, device) for a in (x, w, b))
    y = F.conv2d(gx, gw, gb, padding=1, stride=2)
    assert y.dtype == np.float32
    y.sum().backward()
    assert gx.grad.dtype == gw.grad.dtype == gb.grad.dtype == np.float32
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1, stride=2)
    ty.sum().backward()
    _close(y, ty, 1e-5)
    _close(gx.grad, tx.grad, 1e-5)
    _close(gw.grad, tw.grad, 1e-4)


POOL_CASES = [
    ("max_pool2d", (2, 3, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("max_pool2d", (2, 3, 7, 8), {"kernel_size": (2, 3), "stride": 1, "dilation": (2, 1), "padding": (1, 1)}),
    ("max_pool2d", (3, 6, 6), {"kernel_size": 2}),
    ("max_pool1d", (2, 3, 10), {"kernel_size": 3, "ceil_mode": True}),
    ("max_pool1d", (2, 3, 11), {"kernel_size": 4, "stride": 2, "padding": 2, "dilation": 1}),
    ("avg_pool2d", (2, 3, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("avg_pool2d", (2, 3, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                  "count_include_pad": False}),
    ("avg_pool2d", (2, 3, 7, 8), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "divisor_override": 5}),
    ("avg_pool2d", (3, 6, 6), {"kernel_size": 2}),
    ("avg_pool1d", (3, 10), {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True,
                             "count_include_pad": False}),
    ("adaptive_avg_pool2d", (2, 3, 7, 8), {"output_size": (3, None)}),
    ("adaptive_avg_pool2d", (2, 3, 8, 6), {"output_size": (4, 3)}),  # the divisible case
    ("adaptive_avg_pool2d", (2, 3, 7, 8), {"output_size": (5, 3)}),
    ("adaptive_avg_pool1d", (3, 7), {"output_size": 4}),
]


@pytest.mark.parametrize(("name", "xs", "kw"), POOL_CASES)
def test_pool_values_and_gradients_match_pytorch(device, name, xs, kw):
    torch = pytest.importorskip("torch")
    x = _data(*xs)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = getattr(torch.nn.functional, name)(tx, **kw), getattr(F, name)(gx, **kw)
    _close(gy, ty)
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    _close(gx.grad, tx.grad)


@pytest.mark.parametrize("dims", [1, 2])
def test_max_pool_indices_ties_nan_and_negative_infinity_as_pytorch(device, dims):
    torch = pytest.importorskip("torch")
    x = np.round(_data(2, 2, 9, 8) * 1.5)  # many ties
    x[0, 0, 1, 1] = np.nan
    x[0, 1, :3, :3] = -np.inf  # a padded window of -inf only: its first input element
    x = x.reshape(2, 2, -1) if dims == 1 else x
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True}
    name = f"max_pool{dims}d"
    ty, ti = getattr(torch.nn.functional, name)(torch.tensor(x, requires_grad=True), **kw)
    gy, gi = getattr(F, name)(_gk(x, device), **kw)
    np.testing.assert_array_equal(gy.numpy(), ty.detach().numpy())
    assert gi.dtype == np.int64
    np.testing.assert_array_equal(gi.numpy(), ti.numpy())


@pytest.mark.parametrize("padding", [0, (2, 1)])
def test_conv_of_a_strided_view_equals_that_of_its_copy(device, padding):
    """The columns are read through the input's own strides (a view of the windows on NumPy): a transposed,
    sliced input gives the values and gradients of its contiguous copy, padded or not."""
    base = _data(5, 2, 9, 11)
    x = _gk(base, device)
    xv = x.swapaxes(0, 1)[:, :, 1:8:2, 2:]  # (2, 5, 4, 9), not contiguous
    xc = _gk(np.ascontiguousarray(base.swapaxes(0, 1)[:, :, 1:8:2, 2:]), device)
    w = _gk(_data(4, 5, 3, 2, seed=1), device)
    kw = {"stride": (1, 2), "padding": padding, "dilation": (1, 2)}
    yv, yc = F.conv2d(xv, w, **kw), F.conv2d(xc, w, **kw)
    np.testing.assert_array_equal(yv.numpy(), yc.numpy())
    u = _gk(_data(*yv.shape, seed=2), device, grad=False)
    gv = gk.autograd.grad((yv * u).sum(), (x, w))
    gc = gk.autograd.grad((yc * u).sum(), (xc, w))
    np.testing.assert_array_equal(gv[1].numpy(), gc[1].numpy())
    np.testing.assert_array_equal(gv[0].numpy().swapaxes(0, 1)[:, :, 1:8:2, 2:], gc[0].numpy())


def _naive_conv2d(x, w, b, stride, pad, dil, groups):
    """The definition, one output element at a time (no PyTorch needed)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        chans = slice(oc // og * cg, oc // og * cg + cg)
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * stride[0], i * stride[0] + dil[0] * (kh - 1) + 1, dil[0])
                cols = slice(j * stride[1], j * stride[1] + dil[1] * (kw - 1) + 1, dil[1])
                out[:, oc, i, j] = (xp[:, chans, rows, cols] * w[oc]).sum((1, 2, 3)) + b[oc]
    return out


def _naive_pool2d(x, k, s, pad, reduce):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf if reduce is np.max else 0)
    oh, ow = (x.shape[2] + 2 * pad - k) // s + 1, (x.shape[3] + 2 * pad - k) // s + 1
    return np.stack([np.stack([reduce(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3)) for j in range(ow)], -1)
                     for i in range(oh)], -2)


def test_values_match_the_definition_without_pytorch(device):
    x, w, b = _data(2, 4, 7, 6), _data(6, 2, 3, 2, seed=1), _data(6, seed=2)
    got = F.conv2d(_gk(x, device), _gk(w, device), _gk(b, device), stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                   groups=2)
    _close(got, _naive_conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 2))
    x1, w1 = x[:, :, 0], w[:, :, 0]  # (2, 4, 6) and (6, 2, 2): conv1d is conv2d with a height of 1
    got1 = F.conv1d(_gk(x1, device), _gk(w1, device), stride=2, padding=1, groups=2)
    _close(got1, _naive_conv2d(x1[:, :, None], w1[:, :, None], np.zeros(6), (1, 2), (0, 1), (1, 1), 2)[:, :, 0])
    _close(F.max_pool2d(_gk(x, device), 3, 2, 1), _naive_pool2d(x, 3, 2, 1, np.max))
    _close(F.avg_pool2d(_gk(x, device), 2, 1, 1), _naive_pool2d(x, 2, 1, 1, np.mean))
    square = x[:, :, :6]
    _close(F.adaptive_avg_pool2d(_gk(square, device), (3, 2)), square.reshape(2, 4, 3, 2, 2, 3).mean((3, 5)))


def test_pool_module_keeps_float32(device):
    x = _gk(_data(2, 3, 6, 6, dtype="float32"), device)
    for m in (nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.AdaptiveAvgPool2d(2),
              nn.BatchNorm2d(3, device=device), nn.Dropout2d(0.3)):
        assert m(x).dtype == np.float32


# ------------------------------------------------------------------ finite differences, first and second order
def test_gradcheck_conv_and_pools(device):
    x, w, b = _gk(_data(2, 4, 5, 4), device), _gk(_data(4, 2, 2, 3, seed=1), device), _gk(_data(4, seed=2), device)
    assert gk.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                        (x, w, b))
    x1, w1 = _gk(_data(2, 3, 7), device), _gk(_data(2, 3, 3, seed=1), device)
    assert gk.gradcheck(lambda x, w: F.conv1d(x, w, padding="same", dilation=2), (x1, w1))
    assert gk.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert gk.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (x,))
    assert gk.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 2)), (x,))


def test_second_order_gradients(device):
    x, w = _gk(_data(1, 2, 5, 4), device), _gk(_data(3, 2, 2, 2, seed=1), device)

    def conv_grads(x, w):
        y = F.conv2d(x, w, stride=(1, 2), padding=1)
        gx, gw = gk.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        return gx, gw

    assert gk.gradcheck(conv_grads, (x, w))

    def pool_grads(x):
        a, b = F.max_pool2d(x, 2, 1, 1), F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return gk.autograd.grad((a * a).sum() + (b * b * b).sum(), (x,), create_graph=True)

    assert gk.gradcheck(pool_grads, (x,))


def test_second_order_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x, w = _data(2, 2, 5, 5), _data(3, 2, 3, 3, seed=1)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    gx, gw = _gk(x, device), _gk(w, device)
    results = []
    for lib, a, b, conv, pool in ((torch.autograd, tx, tw, torch.nn.functional.conv2d, torch.nn.functional.max_pool2d),
                                  (gk.autograd, gx, gw, F.conv2d, F.max_pool2d)):
        y = pool(conv(a, b, padding=1) ** 2, 2)
        da, db = lib.grad(y.sum(), (a, b), create_graph=True)
        results.append(lib.grad((da * da).sum() + (db * db).sum(), (a, b)))
    for mine, theirs in zip(results[1], results[0], strict=True):
        _close(mine, theirs, 1e-9)


# ------------------------------------------------------------------ layers
def test_conv_layer_init_shapes_and_repr(device):
    gk.manual_seed(0)
    conv = nn.Conv2d(6, 12, (3, 5), groups=2, device=device)
    assert conv.weight.shape == (12, 3, 3, 5) and conv.bias.shape == (12,)
    assert conv.weight.dtype == np.float32 and conv.weight.device.startswith(device)
    bound = 1 / math.sqrt(3 * 15)  # kaiming_uniform(a=sqrt(5)) and the bias bound: 1/sqrt(fan_in)
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound and np.abs(b).max() <= bound
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert repr(conv) == "Conv2d(6, 12, kernel_size=(3, 5), stride=(1, 1), groups=2)"
    assert repr(nn.Conv1d(2, 4, 3, padding="same", bias=False, padding_mode="reflect")) == (
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same, bias=False, padding_mode=reflect)"
    )
    assert nn.Conv2d(1, 2, 3, dtype="float64").weight.dtype == np.float64


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_padding_modes_match_pytorch(device, mode, padding):
    torch = pytest.importorskip("torch")
    t = torch.nn.Conv2d(2, 3, (3, 2), padding=padding, padding_mode=mode).double()
    m = nn.Conv2d(2, 3, (3, 2), padding=padding, padding_mode=mode, device=device, dtype="float64")
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = _data(2, 2, 5, 6)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = t(tx), m(gx)
    _close(gy, ty)
    ty.sum().backward()
    gy.sum().backward()
    _close(gx.grad, tx.grad)
    _close(m.weight.grad, t.weight.grad)


def test_conv1d_layer_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    t = torch.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, padding_mode="circular").double()
    m = nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, padding_mode="circular", device=device,
                  dtype="float64")
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = _data(2, 4, 11)
    _close(m(_gk(x, device)), t(torch.tensor(x)))


def test_batchnorm2d_matches_pytorch_in_training_and_eval(device):
    torch = pytest.importorskip("torch")
    t = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    m = nn.BatchNorm2d(3, momentum=0.2, device=device, dtype="float64")
    for step in range(2):
        x = _data(4, 3, 5, 2, seed=step) * 2 + 1
        tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
        ty, gy = t(tx), m(gx)
        _close(gy, ty)
        u = _data(4, 3, 5, 2, seed=10 + step)
        ty.backward(torch.tensor(u))
        gy.backward(_gk(u, device, grad=False))
        _close(gx.grad, tx.grad)
        _close(m.weight.grad, t.weight.grad)
        _close(m.bias.grad, t.bias.grad)
    for key, value in t.state_dict().items():
        _close(m.state_dict()[key], value)
    t.eval()
    m.eval()
    x = _data(2, 3, 3, 3, seed=5)
    _close(m(_gk(x, device)), t(torch.tensor(x)))
    assert repr(m) == "BatchNorm2d(3, eps=1e-05, momentum=0.2, affine=True, bias=True, track_running_stats=True)"


def test_batchnorm2d_normalises_over_batch_and_space(device):
    x = _data(4, 3, 5, 2) * 3 + 2
    m = nn.BatchNorm2d(3, device=device, dtype="float64")
    y = m(_gk(x, device)).numpy()
    np.testing.assert_allclose(y.mean((0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var((0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * x.mean((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), 0.9 + 0.1 * x.var((0, 2, 3), ddof=1), rtol=1e-12)
    assert int(m.num_batches_tracked.item()) == 1
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert isinstance(m, nn.Module) and not isinstance(m, nn.BatchNorm1d)


def test_dropout2d_zeros_whole_channels(device):
    gk.manual_seed(0)
    x = gk.ones(8, 16, 3, 3, dtype="float64", device=device, requires_grad=True)
    layer = nn.Dropout2d(0.25)
    y = layer(x).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 1 / 0.75).all(-1))  # whole channels
    assert 0.1 < (per_channel[..., 0] == 0).mean() < 0.4
    layer(x).sum().backward()
    g = x.grad.numpy().reshape(8, 16, 9)
    assert np.all((g == 0).all(-1) | (g == 1 / 0.75).all(-1))
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == "Dropout2d(p=0.25, inplace=False)"
    with pytest.warns(UserWarning, match="3-D input"):
        F.dropout2d(gk.ones(2, 3, 4, device=device))


def _lenet(lib):
    nn_ = lib.nn
    return nn_.Sequential(
        nn_.Conv2d(1, 4, 3, padding=1), nn_.BatchNorm2d(4), nn_.ReLU(), nn_.MaxPool2d(2),
        nn_.Conv2d(4, 8, 3, padding="same", padding_mode="replicate"), nn_.ReLU(), nn_.AvgPool2d(2),
        nn_.Conv2d(8, 8, 2, groups=2), nn_.ReLU(), nn_.AdaptiveAvgPool2d(1), nn_.Flatten(), nn_.Linear(8, 10),
    )


def test_lenet_trains_as_pytorch_and_state_dicts_round_trip(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _lenet(torch)
    gm = _lenet(gk).to(device)
    assert list(gm.state_dict()) == list(tm.state_dict())
    gm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    gopt = gk.optim.SGD(gm.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.random((16, 1, 8, 8), dtype=np.float32)
        y = rng.integers(0, 10, 16)
        tloss = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        gloss = F.cross_entropy(gm(gk.tensor(x, device=device)), gk.tensor(y, device=device))
        assert abs(gloss.item() - tloss.item()) < 1e-5
        for opt, loss in ((topt, tloss), (gopt, gloss)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    for key, value in tm.state_dict().items():
        _close(gm.state_dict()[key], value, 1e-4)
    # gradkit's state dict loads into PyTorch, and back
    tm2 = _lenet(torch)
    tm2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in gm.state_dict().items()})
    gm.eval()
    tm2.eval()
    x = rng.random((3, 1, 8, 8), dtype=np.float32)
    _close(gm(gk.tensor(x, device=device)), tm2(torch.tensor(x)), 1e-5)


# ------------------------------------------------------------------ errors
def test_errors_name_the_function_and_the_shapes():
    x, w = gk.zeros(2, 4, 8, 8), gk.zeros(8, 3, 3, 3)
    with pytest.raises(gk.ShapeError, match=r"conv2d: expected a 3-D .* or 4-D .* got input of shape \(2, 3\)"):
        F.conv2d(gk.zeros(2, 3), w)
    with pytest.raises(gk.ShapeError, match=r"conv2d: weight of shape \(8, 3, 3, 3\) with groups=1 expects input "
                                            r"with 3 channels, got input of shape \(2, 4, 8, 8\)"):
        F.conv2d(x, w)
    with pytest.raises(gk.ShapeError, match=r"conv2d: weight of shape \(3, 2, 3, 3\) has 3 output channels"):
        F.conv2d(x, gk.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(gk.ShapeError, match=r"conv2d: .* bias of shape \(8,\), got bias of shape \(4,\)"):
        F.conv2d(gk.zeros(2, 3, 8, 8), w, gk.zeros(4))
    with pytest.raises(gk.ShapeError, match=r"conv2d: the padded input size \(2, 2\) is smaller than the .*"
                                            r"kernel size \(3, 3\)"):
        F.conv2d(gk.zeros(2, 3, 2, 2), w)
    with pytest.raises(gk.ShapeError, match=r"conv1d: weight must be 3-D"):
        F.conv1d(gk.zeros(2, 3, 8), w)
    with pytest.raises(gk.InvalidArgumentError, match="padding='same' is not supported for strided"):
        F.conv2d(gk.zeros(2, 3, 8, 8), w, stride=2, padding="same")
    with pytest.raises(gk.InvalidArgumentError, match="conv2d: padding must be >= 0"):
        F.conv2d(gk.zeros(2, 3, 8, 8), w, padding=-1)
    with pytest.raises(gk.InvalidArgumentError, match="conv2d: stride must be an int or a tuple of 2 ints"):
        F.conv2d(gk.zeros(2, 3, 8, 8), w, stride=(1, 1, 1))
    with pytest.raises(gk.DTypeError, match=r"conv2d: input \(float32\), weight \(float64\)"):
        F.conv2d(gk.zeros(2, 3, 8, 8), gk.zeros(8, 3, 3, 3, dtype="float64"))
    with pytest.raises(gk.DTypeError, match="max_pool2d: input must be a float tensor"):
        F.max_pool2d(gk.zeros(1, 1, 4, 4, dtype="int64"), 2)
    with pytest.raises(gk.ShapeError, match=r"max_pool2d: input of shape \(2, 3, 2, 2\) is too small for "
                                            r"kernel_size \(3, 3\)"):
        F.max_pool2d(gk.zeros(2, 3, 2, 2), 3)
    with pytest.raises(gk.InvalidArgumentError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        F.max_pool2d(gk.zeros(2, 3, 8, 8), 3, padding=2)
    with pytest.raises(gk.InvalidArgumentError, match=r"avg_pool1d: padding \(2,\) must be at most half"):
        F.avg_pool1d(gk.zeros(2, 3, 8), 3, padding=2)
    with pytest.raises(gk.ShapeError, match=r"adaptive_avg_pool2d: .* got input of shape \(2, 0, 4, 4\)"):
        F.adaptive_avg_pool2d(gk.zeros(2, 0, 4, 4), 2)
    with pytest.raises(gk.InvalidArgumentError, match="Conv2d: in_channels \\(3\\) must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(gk.InvalidArgumentError, match="Conv1d: padding_mode must be one of"):
        nn.Conv1d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(gk.ShapeError, match=r"BatchNorm2d: expected input of shape \(N, 3, H, W\), got \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(gk.zeros(2, 3, 4))
    with pytest.raises(gk.ShapeError, match="BatchNorm2d: expected more than 1 value per channel"):
        nn.BatchNorm2d(3)(gk.zeros(1, 3, 1, 1))
    with pytest.raises(gk.InvalidArgumentError, match="Dropout2d: p must be a probability"):
        nn.Dropout2d(1.5)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (4, 3, 5, 2), (4, 3, 2, 2, 2)])
def test_functional_batch_norm_takes_any_number_of_trailing_axes(device, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    axes = (0, *range(2, len(shape)))
    rm, rv = gk.zeros(3, dtype=gk.float64, device=device), gk.ones(3, dtype=gk.float64, device=device)
    y = gk.nn.functional.batch_norm(gk.tensor(x, device=device), rm, rv, training=True, momentum=1.0)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    np.testing.assert_allclose(y.numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12, atol=1e-12)
    n = x.size // 3
    np.testing.assert_allclose(rv.numpy(), var.reshape(-1) * n / (n - 1), rtol=1e-12)
    with pytest.raises(gk.ShapeError, match=r"batch_norm: expected input of shape \(N, C, \*\)"):
        gk.nn.functional.batch_norm(gk.tensor(np.ones(3), device=device), None, None, training=True)
