"""Regression tests from the review of the convolution, pooling and recurrent layers: what was found wrong,
checked against PyTorch (when installed) and central differences. The strict xfails need changes outside
these layers' files (named in each reason)."""

from __future__ import annotations

import warnings

import emulated_cupy
import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import data as _data

import gradkit as gk
from gradkit import nn
from gradkit.autograd import function as autograd_function
from gradkit.nn import functional as F

# ------------------------------------------------------------------ max pooling
# Windows that hold no input element (dilation steps over a short axis): PyTorch's value is -inf and its index
# the first position at or past the padding before the input, out of range; gradkit gave a negative index.
EMPTY_WINDOWS = [
    ((1, 1, 1), (2, 1, 1, 2, False), [[[1]]]),
    ((1, 1, 2), (2, 1, 1, 3, False), [[[2]]]),
    ((1, 1, 2, 4), ((2, 2), (1, 2), (1, 1), (3, 2), True), [[[[9, 9, 11]]]]),
    ((1, 1, 1, 4), ((2, 1), (1, 2), (1, 0), 2, False), [[[[4, 6]]]]),
]


@pytest.mark.parametrize(("shape", "args", "indices"), EMPTY_WINDOWS)
def test_max_pool_window_without_input_has_pytorchs_index_and_no_gradient(device, shape, args, indices):
    pool = F.max_pool1d if len(shape) == 3 else F.max_pool2d
    x = _gk(np.arange(float(np.prod(shape))).reshape(shape), device)
    y, idx = pool(x, *args, return_indices=True)
    assert np.all(np.isneginf(y.numpy()))
    np.testing.assert_array_equal(idx.numpy(), indices)
    assert idx.dtype == np.int64
    y.backward(gk.ones(y.shape, dtype=y.dtype, device=device))
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_max_pool_indices_match_pytorch_over_dilated_ceil_mode_windows():
    torch = pytest.importorskip("torch")
    for size in (1, 2, 3, 5):
        for k, s, p, d, ceil in ((2, 1, 1, 2, False), (2, 2, 1, 3, True), (3, 2, 1, 2, True), (2, 3, 1, 4, True)):
            x = _data(2, 2, size, size + 1)
            args = ((k, 2), (s, 1), (p, 1), (d, 1), ceil)
            try:
                ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
            except RuntimeError:
                with pytest.raises(gk.GradkitError):
                    F.max_pool2d(gk.tensor(x), *args, return_indices=True)
                continue
            gy, gi = F.max_pool2d(gk.tensor(x), *args, return_indices=True)
            np.testing.assert_array_equal(gy.numpy(), ty.numpy())
            np.testing.assert_array_equal(gi.numpy(), ti.numpy())


def test_max_pool_gradcheck_next_to_windows_without_input(device):
    x = _gk(_data(2, 3, 3, 5), device)
    # along H, the windows reach rows -1 and 2, so all of them hold an input element; along W one reads (k=2,
    # d=4, p=1) positions -1 and 3
    assert gk.gradcheck(lambda x: F.max_pool2d(x, 2, (2, 1), 1, (3, 4), ceil_mode=True), (x,))


def test_max_pool_padding_is_limited_by_the_kernel_not_the_dilated_kernel():
    # PyTorch: "pad should be at most half of kernel size" (kernel_size 3: padding 1), whatever the dilation
    with pytest.raises(gk.InvalidArgumentError, match=r"max_pool2d: padding \(2, 2\) must be at most half the "
                                                      r"kernel size \(3, 3\)"):
        F.max_pool2d(gk.zeros(1, 1, 9, 9), 3, 1, 2, dilation=2)
    with pytest.raises(gk.InvalidArgumentError, match=r"max_pool1d: padding \(2,\) must be at most half"):
        nn.MaxPool1d(3, 1, 2, dilation=3)(gk.zeros(1, 1, 9))
    assert F.max_pool2d(gk.zeros(1, 1, 9, 9), 3, 1, 1, dilation=3).shape == (1, 1, 5, 5)


def test_max_pool_padding_rule_matches_pytorch():
    torch = pytest.importorskip("torch")
    for k, p, d in ((3, 2, 2), (3, 1, 2), (2, 1, 3), (1, 1, 3), (4, 2, 2), (5, 3, 1)):
        x = np.zeros((1, 1, 12, 12))
        try:
            torch.nn.functional.max_pool2d(torch.tensor(x), k, 1, p, d)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        try:
            F.max_pool2d(gk.tensor(x), k, 1, p, d)
            ours = True
        except gk.InvalidArgumentError:
            ours = False
        assert ours == torch_ok, (k, p, d)


# ------------------------------------------------------------------ argument forms and messages
def test_one_element_tuples_repeat_over_the_spatial_axes_as_pytorchs_functions(device):
    x, w = _gk(_data(1, 2, 7, 6), device), _gk(_data(3, 2, 3, 3, seed=1), device)
    expected = F.conv2d(x, w, stride=2, padding=1, dilation=2)
    np.testing.assert_array_equal(F.conv2d(x, w, stride=(2,), padding=[1], dilation=(2,)).numpy(), expected.numpy())
    np.testing.assert_array_equal(F.max_pool2d(x, (2,), [1], (1,)).numpy(), F.max_pool2d(x, 2, 1, 1).numpy())
    np.testing.assert_array_equal(F.avg_pool2d(x, (3,), padding=(1,)).numpy(), F.avg_pool2d(x, 3, padding=1).numpy())
    assert nn.MaxPool2d((2,))(x).shape == (1, 2, 3, 3)
    with pytest.raises(gk.InvalidArgumentError, match="conv2d: stride must be an int or a tuple of 2 ints"):
        F.conv2d(x, w, stride=(1, 1, 1))


def test_conv_dtype_errors_name_the_odd_one_out():
    x = gk.zeros(1, 1, 4, 4, dtype="float64")
    with pytest.raises(gk.DTypeError, match="conv2d: weight must be a float tensor, got dtype int64"):
        F.conv2d(x, gk.zeros(1, 1, 2, 2, dtype="int64"))
    with pytest.raises(gk.DTypeError, match=r"and bias \(float32\) must have the same dtype; convert the bias: "
                                            r"bias.astype\(gk.float64\)"):
        F.conv2d(x, gk.zeros(1, 1, 2, 2, dtype="float64"), gk.zeros(1, dtype="float32"))
    with pytest.raises(gk.DTypeError, match=r"convert the input: x.astype\(gk.float64\)"):
        F.conv2d(x.astype(gk.float32), gk.zeros(1, 1, 2, 2, dtype="float64"))


# ------------------------------------------------------------------ dropout2d
@pytest.mark.parametrize("training", [True, False])
def test_dropout2d_checks_its_input_in_evaluation_mode_too(training):
    for shape in [(3, 5), (2, 3, 4, 5, 6)]:
        with pytest.raises(gk.ShapeError, match="dropout2d: expected a 4-D"):
            F.dropout2d(gk.ones(*shape), 0.5, training)
    with pytest.raises(gk.DTypeError, match="dropout2d: input must be a float tensor"):
        F.dropout2d(gk.ones(2, 3, 4, 4, dtype="int64"), 0.5, training)
    with pytest.warns(UserWarning, match="3-D input"):
        F.dropout2d(gk.ones(2, 3, 4), 0.5, training)
    layer = nn.Dropout2d(0.5)
    layer.train(training)
    with pytest.raises(gk.ShapeError, match="dropout2d"):
        layer(gk.ones(3, 5))


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout2d_edges(device, p):
    x = _gk(_data(2, 3, 4, 4) + 5, device)
    y = F.dropout2d(x, p)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), x.numpy() if p == 0 else 0)
    np.testing.assert_array_equal(x.grad.numpy(), 1 if p == 0 else 0)
    assert F.dropout2d(x, p, training=False) is x


# ------------------------------------------------------------------ BatchNorm2d
def test_batchnorm2d_one_value_per_channel_is_the_only_training_error():
    with pytest.raises(gk.ShapeError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(gk.zeros(1, 3, 1, 1))
    assert nn.BatchNorm2d(3)(gk.zeros(1, 3, 1, 2)).shape == (1, 3, 1, 2)
    assert nn.BatchNorm2d(3).eval()(gk.zeros(1, 3, 1, 1)).shape == (1, 3, 1, 1)


def test_batchnorm2d_trains_on_an_empty_batch_as_pytorch():
    m = nn.BatchNorm2d(3)
    y = m(gk.zeros(0, 3, 4, 4))
    assert y.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(m.running_mean.numpy(), 0)
    np.testing.assert_array_equal(m.running_var.numpy(), 1)
    assert int(m.num_batches_tracked.item()) == 1


def test_batchnorm2d_state_dicts_cross_with_pytorch_over_steps():
    torch = pytest.importorskip("torch")
    for kw in ({"momentum": None}, {"affine": False, "momentum": 0.3}, {"track_running_stats": False}):
        t, g = torch.nn.BatchNorm2d(3, **kw).double(), nn.BatchNorm2d(3, dtype="float64", **kw)
        for step in range(3):
            x = _data(2 + step, 3, 4, 5, seed=step) * (step + 1) + step
            np.testing.assert_allclose(g(gk.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12)
        t.eval()
        g.eval()
        x = _data(2, 3, 4, 5, seed=9)
        np.testing.assert_allclose(g(gk.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12)
        theirs, ours = t.state_dict(), g.state_dict()
        assert list(ours) == list(theirs)
        for key, value in theirs.items():
            np.testing.assert_allclose(ours[key].numpy(), value.numpy(), atol=1e-12)
        fresh = nn.BatchNorm2d(3, dtype="float64", **kw)
        fresh.load_state_dict(theirs)
        back = torch.nn.BatchNorm2d(3, **kw).double()
        back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in fresh.state_dict().items()})


# ------------------------------------------------------------------ recurrent layers
def _second_order_nodes(layer: nn.Module, x: gk.Tensor) -> list:
    """The (name, shape) of every node recorded while the gradient of ``sum(y^2)`` and then that of the
    gradient's square are taken, both with ``create_graph=True`` (so that the second backward's operations
    are recorded, and seen)."""
    seen = []

    def watch(node, out):
        seen.append((node.name, None if out is None else out.shape))

    y = layer(x)[0]
    autograd_function.add_observer(watch)
    try:
        (gx,) = gk.autograd.grad((y * y).sum(), (x,), create_graph=True)
        gk.autograd.grad((gx * gx).sum(), (x,), create_graph=True)
    finally:
        autograd_function.remove_observer(watch)
    return seen


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_second_order_through_the_output_is_linear_in_the_sequence_length(cls):
    # The output was ops.stack(steps): its VJP slices the gradient once per step, and under create_graph each
    # slice's VJP is a zero tensor of the whole sequence's size: O(T^2) time and memory in the second backward.
    batch, hidden = 2, 3
    layer = cls(2, hidden, dtype="float64")
    counts = []
    for steps in (10, 30):
        x = gk.tensor(_data(steps, batch, 2), requires_grad=True)
        counts.append(sum(shape == (steps, batch, hidden) for _, shape in _second_order_nodes(layer, x)))
    assert counts[0] == counts[1], counts  # a fixed number of whole-sequence tensors, whatever the length


def test_second_order_of_the_output_matches_pytorch():
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2).double()
    g = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype="float64")
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = _data(6, 2, 3)
    results = []
    for lib, layer, xx in ((torch.autograd, t, torch.tensor(x, requires_grad=True)),
                           (gk.autograd, g, gk.tensor(x, requires_grad=True))):
        y, (h, c) = layer(xx)
        params = [xx, *layer.parameters()]
        grads = lib.grad((y ** 3).sum() + (c * c).sum(), params, create_graph=True)
        results.append(lib.grad(sum((d * d).sum() for d in grads), params))
    for ours, theirs in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-9)


def test_gradcheck_second_order_of_a_bidirectional_gru(device):
    layer = nn.GRU(2, 2, bidirectional=True, dtype="float64", device=device)
    x = _gk(_data(4, 1, 2), device)

    def first(x):
        y, h = layer(x)
        return gk.autograd.grad((y * y).sum() + (h ** 3).sum(), (x,), create_graph=True)

    assert gk.gradcheck(first, (x,))


# ------------------------------------------------------------------ host reads (emulated CuPy)
def _refuse_host_reads(monkeypatch) -> None:
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)


def _emulated(device: str) -> None:
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")


def test_pools_and_layers_read_nothing_on_the_host(device, monkeypatch):
    _emulated(device)
    x = _gk(_data(2, 3, 5, 6), device)
    layers = [nn.Conv2d(3, 4, 3, padding="same", device=device, dtype="float64"),
              nn.MaxPool2d(2, 1, 1, 2, ceil_mode=True), nn.AvgPool2d(3, 2, 1, True, False),
              nn.AdaptiveAvgPool2d((4, 7)), nn.Dropout2d(0.5), nn.BatchNorm2d(3, device=device, dtype="float64")]
    _refuse_host_reads(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer in layers:
            y = layer(x)
            (y * y).sum().backward()
        y, idx = F.max_pool2d(x[:, :, :1], (2, 1), 1, (1, 0), (2, 1), return_indices=True)  # windows without input
        y.sum().backward()


def test_conv_padding_modes_read_nothing_on_the_host(device, monkeypatch):
    _emulated(device)
    layer = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect", device=device, dtype="float64")
    x = _gk(_data(2, 3, 5, 6), device)
    _refuse_host_reads(monkeypatch)
    layer(x).sum().backward()
