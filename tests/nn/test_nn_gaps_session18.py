"""The torch.nn layers gradkit lacked (session 18): FractionalMaxPool2d/3d and F.fractional_max_pool2d/3d (and
their _with_indices forms), the legacy CrossMapLRN2d, SyncBatchNorm (one device, with convert_sync_batchnorm),
DataParallel (one device), and the deprecated NLLLoss2d and Container.

Expected values were computed with PyTorch 2.14 (torch.nn / torch.nn.functional, CPU, float64 unless said) on the
inputs built by ``_inp`` below and are written in here; the tests do not import torch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.errors import (
    ArgumentTypeError,
    AutogradError,
    DTypeError,
    InvalidArgumentError,
    ShapeError,
)
from gradkit.nn import functional as F

NAN, INF = math.nan, math.inf


def _inp(shape, scale=0.7):
    """2 sin(0.3 + scale * i) over the flat positions i: distinct values, no ties."""
    n = math.prod(shape)
    return np.sin(np.arange(n) * scale + 0.3).reshape(shape) * 2


def _t(a, device, dtype=None, requires_grad=False):
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
    return gk.tensor(a, device=device, requires_grad=requires_grad)


def _gathered(x, idx):
    """x's element at each flat per-plane index (the value a max pooling with those indices gives)."""
    n, c = x.shape[:2]
    planes = x.reshape(n, c, -1)
    return np.take_along_axis(planes, idx.reshape(n, c, -1), axis=2).reshape(idx.shape)


# ------------------------------------------------------------------ fractional max pooling: values
SAMPLES_2D = [[[0.25, 0.75], [0.6, 0.1]]]  # (N=1, C=2, 2): row 0 steps the W axis, row 1 the H axis

# torch: F.fractional_max_pool2d(x, 2, output_size=(3, 4), _random_samples=SAMPLES_2D, return_indices=True)
IDX_2D = [[[[1, 2, 10, 11], [12, 13, 10, 11], [19, 20, 28, 29]],
           [[7, 8, 9, 10], [7, 8, 16, 17], [25, 26, 27, 28]]]]
Y_2D_FIRST_ROW = [1.682941969615793, 1.983329620904937, 1.700873241257129, 1.978716493246764]


def test_fractional_max_pool2d_matches_pytorch(device):
    x = _inp((1, 2, 5, 6))
    s = _t(SAMPLES_2D, device)
    y, idx = F.fractional_max_pool2d(_t(x, device), 2, output_size=(3, 4), return_indices=True, _random_samples=s)
    assert y.shape == (1, 2, 3, 4) and idx.shape == (1, 2, 3, 4)
    assert idx.dtype == gk.int64
    np.testing.assert_array_equal(idx.numpy(), IDX_2D)
    np.testing.assert_array_equal(y.numpy(), _gathered(x, np.array(IDX_2D)))
    np.testing.assert_allclose(y.numpy()[0, 0, 0], Y_2D_FIRST_ROW, rtol=1e-14)
    # the module with the same samples (a buffer: in the state dict) gives the same
    m = gk.nn.FractionalMaxPool2d(2, output_size=(3, 4), return_indices=True, _random_samples=s)
    assert list(m.state_dict()) == ["_random_samples"]
    y2, idx2 = m(_t(x, device))
    np.testing.assert_array_equal(idx2.numpy(), IDX_2D)
    np.testing.assert_array_equal(y2.numpy(), y.numpy())


def test_fractional_max_pool2d_output_ratio_and_rectangular_kernel(device):
    # torch: F.fractional_max_pool2d(x, (2, 3), output_ratio=(0.5, 0.5), ...): output int(5 * .5), int(6 * .5)
    x = _inp((1, 2, 5, 6))
    y, idx = F.fractional_max_pool2d_with_indices(_t(x, device), (2, 3), output_ratio=(0.5, 0.5),
                                                  _random_samples=_t(SAMPLES_2D, device))
    np.testing.assert_array_equal(idx.numpy(), [[[[2, 2, 11], [20, 20, 29]], [[8, 8, 9], [26, 26, 27]]]])
    np.testing.assert_array_equal(y.numpy(), _gathered(x, idx.numpy()))
    # a number for output_ratio (PyTorch's module form; its functional form takes pairs only)
    y1 = F.fractional_max_pool2d(_t(x, device), (2, 3), output_ratio=0.5, _random_samples=_t(SAMPLES_2D, device))
    np.testing.assert_array_equal(y1.numpy(), y.numpy())
    m = gk.nn.FractionalMaxPool2d((2, 3), output_ratio=0.5, _random_samples=_t(SAMPLES_2D, device))
    np.testing.assert_array_equal(m(_t(x, device)).numpy(), y.numpy())


# torch: F.fractional_max_pool3d(x3, 2, output_size=(2, 3, 4), _random_samples=[[[0.3, 0.55, 0.8]]]) (rows T, H, W)
IDX_3D = [[[[[37, 37, 3, 4], [19, 20, 20, 53], [54, 20, 20, 53]],
            [[90, 91, 69, 71], [72, 104, 105, 106], [108, 86, 87, 88]]]]]


def test_fractional_max_pool3d_matches_pytorch(device):
    x = _inp((1, 1, 4, 5, 6), 0.37)
    s = _t([[[0.3, 0.55, 0.8]]], device)
    y, idx = F.fractional_max_pool3d(_t(x, device), 2, output_size=(2, 3, 4), return_indices=True,
                                     _random_samples=s)
    np.testing.assert_array_equal(idx.numpy(), IDX_3D)
    np.testing.assert_array_equal(y.numpy(), _gathered(x, np.array(IDX_3D)))
    np.testing.assert_allclose(y.numpy()[0, 0, 0, 0], [1.978380952694363, 1.978380952694363, 1.974200202027701,
                                                       1.956393213616089], rtol=1e-14)
    m = gk.nn.FractionalMaxPool3d(2, output_size=(2, 3, 4), _random_samples=s)
    np.testing.assert_array_equal(m(_t(x, device)).numpy(), y.numpy())
    y2, idx2 = F.fractional_max_pool3d_with_indices(_t(x[0], device), 2, (2, 3, 4), _random_samples=s)
    np.testing.assert_array_equal(idx2.numpy(), np.array(IDX_3D)[0])  # unbatched (C, T, H, W)


def test_fractional_max_pool_scan_rule_nan_ties_and_minus_inf(device):
    """PyTorch's scan: the first maximum (ties), the last NaN of a window, a window of -inf at its first element."""
    x = [[[[NAN, 1., NAN, 0., 2.], [3., NAN, 2., 2., 1.], [-INF, -INF, 5., 5., 1], [-INF, -INF, 5., 4., 1]]]]
    y, idx = F.fractional_max_pool2d(_t(x, device), 2, output_size=(3, 4), return_indices=True,
                                     _random_samples=_t([[[0.5, 0.5]]], device))
    # torch's result:
    np.testing.assert_array_equal(idx.numpy(), [[[[6, 6, 2, 4], [6, 6, 12, 13], [10, 12, 12, 13]]]])
    np.testing.assert_array_equal(y.numpy(), [[[[NAN, NAN, NAN, 2.], [NAN, NAN, 5., 5.], [-INF, 5., 5., 5.]]]])


def test_fractional_max_pool_steps_in_the_inputs_dtype(device):
    """The window starts are computed in the input's dtype, as PyTorch's CPU kernel: in float16 this sample gives
    the start 8 where float32 gives 7 (PyTorch's indices in both)."""
    x = np.arange(20.0).reshape(1, 1, 1, 20)
    for dtype, want in ((np.float16, [1, 3, 6, 9, 11, 14, 16, 19]), (np.float32, [1, 3, 6, 8, 11, 14, 16, 19])):
        y, idx = F.fractional_max_pool2d(_t(x, device, dtype), (1, 2), output_size=(1, 8), return_indices=True,
                                         _random_samples=_t([[[0.109375, 0.0]]], device, dtype))
        assert y.dtype == dtype
        np.testing.assert_array_equal(idx.numpy().ravel(), want)
        np.testing.assert_array_equal(y.numpy().ravel(), want)


def test_fractional_max_pool_unbatched_and_extra_sample_rows(device):
    x = _inp((3, 2, 5, 6))
    s = _t(_inp((4, 2, 2), 0.3) * 0.2 + 0.5, device)  # more rows than the batch: the first ones are used
    y = F.fractional_max_pool2d(_t(x, device), 2, output_size=3, _random_samples=s)
    assert y.shape == (3, 2, 3, 3)
    y0 = F.fractional_max_pool2d(_t(x[0], device), 2, output_size=3, _random_samples=s)
    np.testing.assert_array_equal(y0.numpy(), y.numpy()[0])
    # an empty batch and an empty output, as PyTorch
    assert F.fractional_max_pool2d(_t(x[:0], device), 2, output_size=3, _random_samples=s).shape == (0, 2, 3, 3)
    assert F.fractional_max_pool2d(_t(x, device), 2, output_size=(0, 3), _random_samples=s).shape == (3, 2, 0, 3)


def test_fractional_max_pool_draws_samples_per_call(device):
    x = _t(_inp((2, 3, 9, 9)), device)
    gk.manual_seed(5)
    a, ia = F.fractional_max_pool2d(x, 2, output_size=4, return_indices=True)
    gk.manual_seed(5)
    b, ib = F.fractional_max_pool2d(x, 2, output_size=4, return_indices=True)
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), _gathered(x.numpy(), ia.numpy()))
    # the samples are gk.rand(N, C, 2) in the input's dtype, on its device (PyTorch's torch.rand draw)
    gk.manual_seed(5)
    s = gk.rand(2, 3, 2, dtype=x.dtype, device=device)
    c, ic = F.fractional_max_pool2d(x, 2, output_size=4, return_indices=True, _random_samples=s)
    np.testing.assert_array_equal(ic.numpy(), ia.numpy())
    m = gk.nn.FractionalMaxPool2d(2, output_ratio=(0.5, 0.5))
    assert len(m.state_dict()) == 0  # no samples: no buffer in the state dict
    assert m(x).shape == (2, 3, 4, 4)
    assert repr(m) == "FractionalMaxPool2d()"


def test_fractional_max_pool_indices_unpool(device):
    x = _inp((1, 2, 5, 6))
    y, idx = F.fractional_max_pool2d(_t(x, device), 2, output_size=(3, 4), return_indices=True,
                                     _random_samples=_t(SAMPLES_2D, device))
    u = F.max_unpool2d(y, idx, (2, 3), stride=(2, 1), output_size=(5, 6)).numpy()
    want = np.zeros_like(x)
    for c in range(2):
        want[0, c].flat[np.array(IDX_2D)[0, c].ravel()] = x[0, c].flat[np.array(IDX_2D)[0, c].ravel()]
    np.testing.assert_array_equal(u, want)


# ------------------------------------------------------------------ fractional max pooling: gradients
def test_fractional_max_pool2d_gradient_sums_overlapping_windows(device):
    """Windows overlap (kernel 3, steps of 1 or 2): a shared maximum gets the sum of its outputs' gradients
    (PyTorch's backward accumulates the same way)."""
    x = _inp((1, 2, 7, 7), 0.9)
    xt = _t(x, device, requires_grad=True)
    y, idx = F.fractional_max_pool2d(xt, 3, output_size=4, return_indices=True,
                                     _random_samples=_t([[[0.3, 0.8], [0.9, 0.05]]], device))
    g = _inp(y.shape, 1.3)
    (dx,) = gk.autograd.grad(y, xt, _t(g, device))
    want = np.zeros((2, 49))
    for c in range(2):
        np.add.at(want[c], idx.numpy()[0, c].ravel(), g[0, c].ravel())
    np.testing.assert_allclose(dx.numpy().reshape(2, 49), want, rtol=1e-14)
    assert len(set(idx.numpy()[0, 0].ravel().tolist())) < 16  # some maxima are shared


@pytest.mark.parametrize("dims", [2, 3])
def test_fractional_max_pool_gradcheck(device, dims):
    shape = (2, 2, 7, 6) if dims == 2 else (1, 2, 5, 6, 5)
    x = _t(_inp(shape, 0.83), device, requires_grad=True)
    s = _t(_inp((2, 2, dims), 0.61) * 0.45 + 0.5, device)
    pool = F.fractional_max_pool2d if dims == 2 else F.fractional_max_pool3d
    out = (4, 3) if dims == 2 else (3, 2, 3)

    def f(v):
        return pool(v, 2, output_size=out, _random_samples=s)

    assert gk.gradcheck(f, (x,))
    # second derivatives: the VJP (a scatter onto the maxima) is itself recorded
    assert gk.gradcheck(lambda v: gk.grad(lambda u: (f(u) ** 2).sum())(v), (x,))


def test_fractional_max_pool_no_host_reads(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = _t(_inp((2, 3, 8, 8)), device, requires_grad=True)
    y, idx = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    (dx,) = gk.autograd.grad(y.sum(), x)
    y3 = F.fractional_max_pool3d(_t(_inp((1, 2, 5, 5, 5)), device), 2, output_size=3,
                                 _random_samples=_t(np.full((1, 2, 3), 0.5), device))
    assert dx.shape == x.shape and y3.shape == (1, 2, 3, 3, 3) and idx.shape == (2, 3, 4, 4)


# ------------------------------------------------------------------ fractional max pooling: errors
def test_fractional_max_pool_errors(device):
    x = _t(_inp((2, 3, 7, 8)), device)
    s = _t(np.full((2, 3, 2), 0.5), device)
    with pytest.raises(InvalidArgumentError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(InvalidArgumentError, match="kernel_size"):
        F.fractional_max_pool2d(x, 0, output_size=3)
    with pytest.raises(InvalidArgumentError, match="kernel_size"):
        F.fractional_max_pool2d(x, (2, 2, 2), output_size=3)
    with pytest.raises(InvalidArgumentError, match="output_size"):
        F.fractional_max_pool2d(x, 2, output_size=(4, 5, 6))
    with pytest.raises(InvalidArgumentError, match="output_size"):
        F.fractional_max_pool2d(x, 2, output_size=-1)
    with pytest.raises(InvalidArgumentError, match="output_ratio"):
        F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5, 0.5))
    # PyTorch's bounds: output + kernel - 1 <= size in 2-D ...
    assert F.fractional_max_pool2d(x, 2, output_size=(6, 7), _random_samples=s).shape == (2, 3, 6, 7)
    with pytest.raises(ShapeError, match="pool height 2 too large relative to input height 7"):
        F.fractional_max_pool2d(x, 2, output_size=(7, 5), _random_samples=s)
    with pytest.raises(ShapeError, match="pool width"):
        F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 1.0), _random_samples=s)
    # ... and < size in 3-D
    x3 = _t(_inp((1, 1, 3, 5, 6)), device)
    assert F.fractional_max_pool3d(x3, 1, output_size=(2, 2, 2)).shape == (1, 1, 2, 2, 2)
    with pytest.raises(ShapeError, match="pool time 1 too large relative to input time 3"):
        F.fractional_max_pool3d(x3, 1, output_size=(3, 1, 1))
    # the samples, checked as PyTorch checks them
    with pytest.raises(DTypeError, match="dtype"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((2, 3, 2), 0.5), device, np.float32))
    with pytest.raises(ShapeError, match="3 axes"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((3, 2), 0.5), device))
    with pytest.raises(ShapeError, match="fewer than the input's batch"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((1, 3, 2), 0.5), device))
    with pytest.raises(ShapeError, match="channels"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((2, 4, 2), 0.5), device))
    with pytest.raises(ShapeError, match=r"shape\[2\] to be 2"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((2, 3, 3), 0.5), device))
    with pytest.raises(ShapeError, match=r"shape\[2\] to be 3"):
        F.fractional_max_pool3d(x3, 1, output_size=2, _random_samples=_t(np.full((1, 1, 2), 0.5), device))
    with pytest.raises(ArgumentTypeError, match="_random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=np.full((2, 3, 2), 0.5))
    with pytest.raises(AutogradError, match="not differentiable with respect to _random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=_t(np.full((2, 3, 2), 0.5), device,
                                                                        requires_grad=True))
    # the input
    with pytest.raises(DTypeError, match="float"):
        F.fractional_max_pool2d(_t(np.ones((1, 1, 4, 4), np.int64), device), 2, output_size=2)
    with pytest.raises(ShapeError, match="no empty axis"):
        F.fractional_max_pool2d(_t(np.ones((2, 0, 7, 8)), device), 2, output_size=3)
    with pytest.raises(ShapeError):
        F.fractional_max_pool2d(_t(np.ones((7, 8)), device), 2, output_size=3)
    with pytest.raises(ShapeError):
        F.fractional_max_pool3d(_t(np.ones((5, 6, 7)), device), 2, output_size=3)


def test_fractional_max_pool_module_errors():
    with pytest.raises(ValueError, match="requires specifying either an output size, or a pooling ratio"):
        gk.nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio may be specified"):
        gk.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match=r"output_ratio must be between 0 and 1 \(got 1.5\)"):
        gk.nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        gk.nn.FractionalMaxPool3d(2, output_ratio=(0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="kernel_size must be greater than 0, but got 0"):
        gk.nn.FractionalMaxPool3d(0, output_size=2)
    m = gk.nn.FractionalMaxPool3d(2, output_ratio=0.5)
    assert m.kernel_size == (2, 2, 2) and m.output_ratio == (0.5, 0.5, 0.5) and m.output_size is None
    assert gk.nn.FractionalMaxPool2d(3, output_size=4).output_size == (4, 4)


# ------------------------------------------------------------------ CrossMapLRN2d
# torch.nn.CrossMapLRN2d(size, alpha, beta, k)(x)[:, :, 0, 1] for x = _inp((2, 7, 2, 2), 0.45)
LRN_CASES = [
    (5, 0.5, 0.75, 1.0, [[0.93219310787643, 0.76025359176657, -1.08626114947074, -0.15201494824943,
                          1.07685824350091, -0.391909687279, -1.04570921464661],
                         [0.96108464904797, 0.71962951206828, -1.09804652312471, -0.11329018428508,
                          1.06846797632095, -0.430163010473, -1.02066722918441]]),
    (3, 1e-2, 0.5, 2, [[0.96150005001194, 0.78438166525791, -1.31507418461242, -0.18634370312618,
                        1.40036588435659, -0.44847228172547, -1.19723312776092],
                       [0.99564909933656, 0.74462450565901, -1.33102185275318, -0.13945558209238,
                        1.3948571120775, -0.49291056097624, -1.17153614562666]]),
    (4, 0.3, 1.5, 0.5, [[2.17370910584946, 1.12380263656776, -1.86932037120818, -0.20097559017153,
                         2.07566407131573, -0.49594904142092, -2.03592673098488],
                        [2.24690797530171, 1.0552853128315, -1.8780560230368, -0.14821811581651,
                         2.03047947346439, -0.54167225383773, -1.96810951860316]]),
    (1, 0.2, 0.75, 1, [[1.07557005823212, 0.77656598782604, -1.08319138131537, -0.20793296878253,
                        1.11565258526388, -0.48277275965261, -1.03045678125953],
                       [1.09768776120969, 0.7364691541123, -1.07922695520018, -0.15391375711757,
                        1.10344176315984, -0.51893257960447, -1.00748606648401]]),
]


@pytest.mark.parametrize("size,alpha,beta,k,want", LRN_CASES)
def test_cross_map_lrn2d_matches_pytorch(device, size, alpha, beta, k, want):
    """PyTorch's values, its channel-0 quirk included (seven channels: past (size + 1) / 2 every channel's sum
    also holds channel 0's square)."""
    x = _inp((2, 7, 2, 2), 0.45)
    y = gk.nn.CrossMapLRN2d(size, alpha, beta, k)(_t(x, device))
    assert y.shape == x.shape
    np.testing.assert_allclose(y.numpy()[:, :, 0, 1], want, rtol=1e-12, atol=1e-13)
    y32 = gk.nn.CrossMapLRN2d(size, alpha, beta, k)(_t(x, device, np.float32))
    assert y32.dtype == gk.float32
    np.testing.assert_allclose(y32.numpy()[:, :, 0, 1], want, rtol=2e-6, atol=2e-6)


def test_cross_map_lrn2d_is_local_response_norm_for_few_channels(device):
    """With C <= (size + 1) / 2 channels the quirk does not show: PyTorch's values equal LocalResponseNorm's."""
    x = _t(_inp((2, 3, 2, 2), 0.45), device)
    np.testing.assert_allclose(gk.nn.CrossMapLRN2d(5, 0.5, 0.75, 1.0)(x).numpy(),
                               gk.nn.LocalResponseNorm(5, 0.5, 0.75, 1.0)(x).numpy(), rtol=1e-13)


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_cross_map_lrn2d_gradcheck(device, size):
    x = _t(_inp((2, 6, 2, 3), 0.53), device, requires_grad=True)
    m = gk.nn.CrossMapLRN2d(size, 0.4, 0.75, 1.0)
    assert gk.gradcheck(m, (x,))
    assert gk.gradcheck(lambda v: gk.grad(lambda u: (m(u) * u).sum())(v), (x,))


def test_cross_map_lrn2d_module_and_errors(device):
    m = gk.nn.CrossMapLRN2d(5)
    assert (m.size, m.alpha, m.beta, m.k) == (5, 1e-4, 0.75, 1)
    assert repr(m) == "CrossMapLRN2d(5, alpha=0.0001, beta=0.75, k=1)"  # PyTorch's repr
    assert list(m.state_dict()) == []
    with pytest.raises(ValueError, match="expected input to be 4D.*got 3D"):
        m(_t(np.ones((3, 4, 4)), device))
    with pytest.raises(InvalidArgumentError, match="size"):
        gk.nn.CrossMapLRN2d(0)
    with pytest.raises(DTypeError):
        m(_t(np.ones((1, 2, 2, 2), np.int64), device))


def test_cross_map_lrn2d_no_host_reads(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = _t(_inp((2, 7, 3, 3)), device, requires_grad=True)
    (dx,) = gk.autograd.grad(gk.nn.CrossMapLRN2d(5, 0.5)(x).sum(), x)
    assert dx.shape == x.shape


# ------------------------------------------------------------------ SyncBatchNorm
def _sbn(device):
    m = gk.nn.SyncBatchNorm(3, momentum=0.2, dtype=np.float64, device=device)
    m.weight.data = _t([1.0, 2.0, -0.5], device)
    m.bias.data = _t([0.0, 0.5, 1.0], device)
    return m


def test_sync_batch_norm_matches_pytorch(device):
    """torch.nn.SyncBatchNorm(3, momentum=0.2) (weight [1, 2, -0.5], bias [0, 0.5, 1]) on _inp((4, 3, 2, 2), 0.3),
    without torch.distributed: training then evaluation."""
    x = _t(_inp((4, 3, 2, 2), 0.3), device)
    m = _sbn(device)
    y = m(x)
    np.testing.assert_allclose(y.numpy()[:, :, 0, 0], [[0.381900074477, 3.2754221737635, 0.7891660151681],
                                                       [-0.7876535865565, -3.1639331915077, 1.0986604018183],
                                                       [1.1460869821538, 2.1554100093797, 1.4562365427389],
                                                       [-1.1525556168082, -0.9455661948803, 0.505423328387]],
                               rtol=1e-11)
    np.testing.assert_allclose(m.running_mean.numpy(), [-0.010222838928820907, 0.06741223803275662,
                                                        0.05907753332441429], rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), [1.4031660708090508, 1.1045014066641416, 1.1754193197541574],
                               rtol=1e-12)
    assert int(m.num_batches_tracked.numpy()) == 1
    m.eval()
    np.testing.assert_allclose(m(x).numpy()[:, :, 1, 1], [[1.5822796934827, 2.9425617100988, 1.4354098157917],
                                                         [-1.673288684811, -0.6917576270766, 0.2951958092767],
                                                         [1.4515301284903, -0.291784348037, 1.9320244641087],
                                                         [-0.8973166339105, 2.6251761805634, 0.1365587259888]],
                               rtol=1e-11)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 2, 2, 3)])
def test_sync_batch_norm_is_batch_norm_for_any_rank(device, shape):
    x = _t(_inp(shape, 0.41), device, requires_grad=True)
    ref = {2: gk.nn.BatchNorm1d, 3: gk.nn.BatchNorm1d, 5: gk.nn.BatchNorm3d}[len(shape)](3, dtype=np.float64,
                                                                                         device=device)
    m = gk.nn.SyncBatchNorm(3, dtype=np.float64, device=device)
    y, want = m(x), ref(x)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-13)
    np.testing.assert_allclose(m.running_var.numpy(), ref.running_var.numpy(), rtol=1e-13)
    (dx,) = gk.autograd.grad((y * y * x).sum(), x)
    (dref,) = gk.autograd.grad((want * want * x).sum(), x)
    np.testing.assert_allclose(dx.numpy(), dref.numpy(), rtol=1e-10, atol=1e-12)


def test_sync_batch_norm_signature_and_errors(device):
    m = gk.nn.SyncBatchNorm(4)
    assert repr(m) == ("SyncBatchNorm(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                       "track_running_stats=True)")  # PyTorch's repr
    assert m.process_group is None
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    m = gk.nn.SyncBatchNorm(4, 1e-3, None, False, False, None, bias=False)
    assert (m.eps, m.momentum, m.affine, m.track_running_stats, m.weight, m.running_mean) == (
        1e-3, None, False, False, None, None)
    with pytest.raises(InvalidArgumentError, match="process_group must be None"):
        gk.nn.SyncBatchNorm(4, process_group=object())
    with pytest.raises(ValueError, match="expected at least 2D input"):
        gk.nn.SyncBatchNorm(4, device=device)(_t(np.ones(4), device))
    with pytest.raises(ShapeError, match=r"\(N, 4, \*\)"):
        gk.nn.SyncBatchNorm(4, device=device)(_t(np.ones((2, 3, 5)), device))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        gk.nn.SyncBatchNorm(4, device=device)(_t(np.ones((1, 4)), device, np.float32))


def test_convert_sync_batchnorm_shares_state():
    bn1 = gk.nn.BatchNorm1d(4)
    bn2 = gk.nn.BatchNorm2d(3, momentum=None, eps=1e-3)
    bn3 = gk.nn.BatchNorm3d(2, affine=False, track_running_stats=False)
    net = gk.nn.Sequential(gk.nn.Conv2d(3, 3, 1), bn2, gk.nn.Sequential(bn1, gk.nn.ReLU()), bn3)
    bn2(gk.randn(4, 3, 2, 2))  # a step of statistics to carry over
    bn1.eval()
    keys = list(net.state_dict())
    out = gk.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert out is net
    s2, s1, s3 = net[1], net[2][0], net[3]
    assert [type(m).__name__ for m in (s2, s1, s3)] == ["SyncBatchNorm"] * 3
    assert s2.weight is bn2.weight and s2.bias is bn2.bias
    assert s2.running_mean is bn2.running_mean and s2.running_var is bn2.running_var
    assert s2.num_batches_tracked is bn2.num_batches_tracked and int(s2.num_batches_tracked.numpy()) == 1
    assert (s2.num_features, s2.eps, s2.momentum) == (3, 1e-3, None)
    assert s1.training is False and s2.training is True
    assert s3.weight is None and s3.running_mean is None and not s3.track_running_stats
    assert list(net.state_dict()) == keys
    # a batch-norm layer itself comes back converted; anything else unchanged
    top = gk.nn.BatchNorm2d(3, bias=False)
    conv = gk.nn.SyncBatchNorm.convert_sync_batchnorm(top)
    assert type(conv) is gk.nn.SyncBatchNorm and conv.weight is top.weight and conv.bias is None
    lin = gk.nn.Linear(2, 2)
    assert gk.nn.SyncBatchNorm.convert_sync_batchnorm(lin) is lin
    with pytest.raises(InvalidArgumentError, match="process_group must be None"):
        gk.nn.SyncBatchNorm.convert_sync_batchnorm(net, process_group="group")
    with pytest.raises(InvalidArgumentError, match="not initialized yet"):
        gk.nn.SyncBatchNorm.convert_sync_batchnorm(gk.nn.LazyBatchNorm2d())
    lazy = gk.nn.LazyBatchNorm2d()
    lazy(gk.randn(2, 5, 3, 3))
    assert gk.nn.SyncBatchNorm.convert_sync_batchnorm(lazy).num_features == 5


# ------------------------------------------------------------------ DataParallel
def test_data_parallel_wraps_one_device(device):
    lin = gk.nn.Linear(3, 2, dtype=np.float64, device=device)
    dp = gk.nn.DataParallel(lin)
    assert dp.module is lin and dp.device_ids == [] and dp.dim == 0
    assert list(dp.state_dict()) == ["module.weight", "module.bias"]  # PyTorch's keys
    x = _t(_inp((4, 3)), device, requires_grad=True)
    y = dp(x)
    np.testing.assert_array_equal(y.numpy(), lin(x).numpy())
    (dw,) = gk.autograd.grad(y.sum(), lin.weight)
    np.testing.assert_allclose(dw.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-14)
    # a checkpoint saved from a DataParallel model loads, and the inner module's keys do not
    dp2 = gk.nn.DataParallel(gk.nn.Linear(3, 2, dtype=np.float64, device=device), device_ids=[0], output_device=0)
    assert dp2.device_ids == [0] and dp2.output_device == 0
    dp2.load_state_dict(dp.state_dict())
    np.testing.assert_array_equal(dp2(x).numpy(), y.numpy())
    with pytest.raises(Exception):  # noqa: B017 (the missing/unexpected keys error)
        dp2.load_state_dict(lin.state_dict())
    assert "DataParallel(\n  (module): Linear(" in repr(dp)


def test_data_parallel_passes_keywords_and_checks_devices():
    class Two(gk.nn.Module):
        def forward(self, a, b=1.0, *, scale=1.0):
            return (a + b) * scale

    dp = gk.nn.DataParallel(Two(), device_ids=(0,))
    assert float(dp(gk.tensor(1.0), b=2.0, scale=3.0).numpy()) == 9.0
    for bad in ([0, 1], [1], 0, [True], ["cuda:1"]):
        with pytest.raises(InvalidArgumentError, match=r"device_ids must be None or \[0\]"):
            gk.nn.DataParallel(Two(), device_ids=bad)
    with pytest.raises(InvalidArgumentError, match="output_device must be None or 0"):
        gk.nn.DataParallel(Two(), output_device=1)
    with pytest.raises(ArgumentTypeError, match="module must be a Module"):
        gk.nn.DataParallel(lambda v: v)


# ------------------------------------------------------------------ NLLLoss2d, Container
def test_nll_loss2d_is_nll_loss_with_pytorchs_warning(device):
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead"):
        loss = gk.nn.NLLLoss2d()
    assert isinstance(loss, gk.nn.NLLLoss)
    logp = F.log_softmax(_t(_inp((2, 3, 2, 2), 0.9), device), dim=1)
    t = _t(np.array([[[0, 1], [2, 1]], [[1, 1], [0, 2]]]), device)
    np.testing.assert_allclose(float(loss(logp, t).numpy()), 1.4840066189508128, rtol=1e-13)  # torch's value
    with pytest.warns(FutureWarning):
        weighted = gk.nn.NLLLoss2d(weight=_t([1.0, 2.0, 0.5], device), reduction="sum")
    np.testing.assert_allclose(float(weighted(logp, t).numpy()), 16.839508460798978, rtol=1e-13)


def test_container_is_deprecated_module():
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        c = gk.nn.Container(a=gk.nn.Linear(2, 3), b=gk.nn.ReLU())
    assert list(dict(c.named_children())) == ["a", "b"]
    assert list(c.state_dict()) == ["a.weight", "a.bias"]
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        class Sub(gk.nn.Container):
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Sub(x=gk.nn.Identity())  # as PyTorch: a subclass warns when it is defined, not when it is made
