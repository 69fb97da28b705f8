"""Transposed convolution, unfold and fold: PyTorch's values, gradients, layers, state dicts and errors;
adjoint identities and finite-difference checks of first and second order on every device (no PyTorch needed)."""

from __future__ import annotations

import math

import emulated_cupy
import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn.conv import ConvTranspose1d, ConvTranspose2d, Fold, Unfold
from gradkit.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, fold, unfold

# ------------------------------------------------------------------ transposed convolution against PyTorch
TRANSPOSE_CASES = [
    # input shape, weight shape (in, out / groups, *kernel), keywords
    ((2, 3, 4, 5), (3, 2, 3, 2), {}),
    ((2, 4, 4, 5), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 4, 3, 4), (4, 2, 2, 3), {"stride": (2, 3), "padding": (0, 2), "output_padding": (1, 2), "groups": 2}),
    ((1, 6, 4, 3), (6, 1, 3, 2), {"stride": (1, 2), "dilation": (2, 3), "output_padding": (1, 0), "groups": 6}),
    ((2, 4, 3, 3), (4, 2, 3, 3), {"stride": 3, "padding": 4, "dilation": 2, "output_padding": 1, "groups": 2}),
    ((3, 4, 5), (3, 2, 2, 3), {"stride": 2, "padding": (1, 0)}),  # unbatched
    ((2, 3, 6), (3, 4, 3), {"stride": 3, "padding": 1, "output_padding": 2}),
    ((2, 4, 5), (4, 1, 4), {"dilation": 3, "padding": 2, "output_padding": 2, "groups": 2}),
    ((4, 5), (4, 2, 2), {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize(("xs", "ws", "kw"), TRANSPOSE_CASES)
def test_conv_transpose_values_and_gradients_match_pytorch(device, xs, ws, kw):
    torch = pytest.importorskip("torch")
    out_ch = ws[1] * kw.get("groups", 1)
    x, w, b = _data(*xs), _data(*ws, seed=1), _data(out_ch, seed=2)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gx, gw, gb = (_gk(a, device) for a in (x, w, b))
    tf, gf = ((torch.nn.functional.conv_transpose2d, conv_transpose2d) if len(ws) == 4
              else (torch.nn.functional.conv_transpose1d, conv_transpose1d))
    ty, gy = tf(tx, tw, tb, **kw), gf(gx, gw, gb, **kw)
    _close(gy, ty)
    if len(xs) == len(ws):  # batched: one node
        assert gy.grad_fn.name == gf.__name__
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    for mine, theirs in ((gx, tx), (gw, tw), (gb, tb)):
        _close(mine.grad, theirs.grad)


def test_conv_transpose_float32_and_no_bias(device):
    torch = pytest.importorskip("torch")
    x, w = _data(3, 4, 6, 5, dtype="float32"), _data(4, 5, 3, 3, seed=1, dtype="float32")
    gx, gw = _gk(x, device), _gk(w, device)
    y = conv_transpose2d(gx, gw, stride=2, padding=1, output_padding=1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert gx.grad.dtype == gw.grad.dtype == np.float32
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv_transpose2d(tx, tw, stride=2, padding=1, output_padding=1)
    ty.sum().backward()
    _close(y, ty, 1e-5)
    _close(gx.grad, tx.grad, 1e-4)
    _close(gw.grad, tw.grad, 1e-4)


def test_second_order_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x, w = _data(2, 3, 3, 4), _data(3, 2, 3, 2, seed=1)
    results = []
    for lib, a, b, f in ((torch.autograd, torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True),
                          torch.nn.functional.conv_transpose2d),
                         (gk.autograd, _gk(x, device), _gk(w, device), conv_transpose2d)):
        y = f(a, b, stride=2, padding=1, output_padding=1)
        da, db = lib.grad((y ** 3).sum(), (a, b), create_graph=True)
        results.append(lib.grad((da * da).sum() + (db * db).sum(), (a, b)))
    for mine, theirs in zip(results[1], results[0], strict=True):
        _close(mine, theirs, 1e-9)


# ------------------------------------------------------------------ without PyTorch: adjoints and finite differences
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_transpose_is_the_adjoint_of_conv(device, dims):
    """<conv(x, w), y> == <x, conv_transpose(y, w)> for the window that gives conv_transpose's output x's size."""
    kw = {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}
    shape = (2, 4, 9, 8)[:dims + 2]
    x, w = _gk(_data(*shape), device, grad=False), _gk(_data(6, 2, *(3, 2)[:dims], seed=1), device, grad=False)
    conv, conv_t = (conv1d, conv_transpose1d) if dims == 1 else (conv2d, conv_transpose2d)
    y = conv(x, w, **kw)
    v = _gk(_data(*y.shape, seed=2), device, grad=False)
    pad = tuple(n - m for n, m in zip(shape[2:], conv_t(v, w, **kw).shape[2:], strict=True))  # one row short at most
    back = conv_t(v, w, output_padding=pad, **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose(float((y * v).sum().item()), float((x * back).sum().item()), rtol=1e-12)


def test_gradcheck_conv_transpose_unfold_and_fold(device):
    x, w, b = _gk(_data(2, 4, 3, 2), device), _gk(_data(4, 2, 2, 3, seed=1), device), _gk(_data(4, seed=2), device)
    assert gk.gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, stride=(2, 1), padding=(1, 0), output_padding=1,
                                                         dilation=(1, 2), groups=2), (x, w, b))
    x1, w1 = _gk(_data(2, 3, 4), device), _gk(_data(3, 2, 3, seed=1), device)
    assert gk.gradcheck(lambda x, w: conv_transpose1d(x, w, stride=3, padding=1, output_padding=2), (x1, w1))
    z = _gk(_data(2, 3, 4, 5), device)
    assert gk.gradcheck(lambda z: unfold(z, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), (z,))
    blocks = _gk(_data(2, 3 * 4, 10), device)
    assert gk.gradcheck(lambda c: fold(c, (4, 5), 2, padding=(1, 0), stride=(1, 2)), (blocks,))


def test_second_order_gradients(device):
    x, w = _gk(_data(1, 2, 3, 3), device), _gk(_data(2, 3, 2, 2, seed=1), device)

    def grads(x, w):
        y = conv_transpose2d(x, w, stride=2, output_padding=1)
        return gk.autograd.grad((y * y * y).sum(), (x, w), create_graph=True)

    assert gk.gradcheck(grads, (x, w))
    z = _gk(_data(1, 2, 4, 3), device)

    def unfold_fold_grads(z):
        c = unfold(z, 2, padding=1)
        return gk.autograd.grad((c * c * c).sum() + (fold(c * c, (4, 3), 2, padding=1) ** 2).sum(), (z,),
                                create_graph=True)

    assert gk.gradcheck(unfold_fold_grads, (z,))


def _naive_unfold(x, k, d, p, s):
    """The definition, one block at a time: (N, C, H, W) to (N, C * kh * kw, L)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh, ow = ((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1, (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1)
    cols = [xp[:, :, i * s[0]:i * s[0] + d[0] * (k[0] - 1) + 1:d[0], j * s[1]:j * s[1] + d[1] * (k[1] - 1) + 1:d[1]]
            .reshape(n, -1) for i in range(oh) for j in range(ow)]
    return np.stack(cols, -1)


def test_unfold_matches_the_definition_and_fold_is_its_adjoint(device):
    x = _data(2, 3, 7, 6)
    kw = {"kernel_size": (3, 2), "dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)}
    cols = unfold(_gk(x, device, grad=False), **kw)
    _close(cols, _naive_unfold(x, (3, 2), (2, 1), (1, 2), (2, 3)))
    v = _data(*cols.shape, seed=1)
    back = fold(_gk(v, device, grad=False), (7, 6), **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose(float((cols.numpy() * v).sum()), float((back.numpy() * x).sum()), rtol=1e-12)
    # unbatched: (C, H, W) -> (C * kh * kw, L) -> (C, H, W)
    single = unfold(_gk(x[0], device, grad=False), **kw)
    _close(single, cols.numpy()[0])
    _close(fold(single, (7, 6), **kw), fold(cols[:1], (7, 6), **kw).numpy()[0])


# ------------------------------------------------------------------ unfold and fold against PyTorch
FOLD_CASES = [
    ((2, 3, 7, 8), {"kernel_size": 3}),
    ((2, 3, 7, 8), {"kernel_size": (2, 3), "dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)}),
    ((3, 5, 6), {"kernel_size": 2, "stride": 2, "padding": 1}),  # unbatched
    ((1, 2, 5, 5), {"kernel_size": 5}),
]


@pytest.mark.parametrize(("xs", "kw"), FOLD_CASES)
def test_unfold_fold_values_and_gradients_match_pytorch(device, xs, kw):
    torch = pytest.importorskip("torch")
    x = _data(*xs)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = torch.nn.functional.unfold(tx, **kw), unfold(gx, **kw)
    _close(gy, ty)
    if len(xs) == 4:
        assert gy.grad_fn.name == "unfold"
    # fold(unfold(x)): each element times the number of blocks that hold it
    size = xs[-2:]
    _close(fold(gy, size, **kw), torch.nn.functional.fold(ty, size, **kw))
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    _close(gx.grad, tx.grad)
    tc, gc = torch.tensor(u, requires_grad=True), _gk(u, device)
    tz, gz = torch.nn.functional.fold(tc, size, **kw), fold(gc, size, **kw)
    _close(gz, tz)
    v = _data(*tz.shape, seed=4)
    tz.backward(torch.tensor(v))
    gz.backward(_gk(v, device, grad=False))
    _close(gc.grad, tc.grad)


def test_unfold_and_fold_modules_match_pytorch(device):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 6, 7)
    tu, gu = torch.nn.Unfold((2, 3), dilation=2, padding=1, stride=(1, 2)), Unfold((2, 3), dilation=2, padding=1,
                                                                                  stride=(1, 2))
    tf, gf = torch.nn.Fold((6, 7), (2, 3), dilation=2, padding=1, stride=(1, 2)), Fold((6, 7), (2, 3), dilation=2,
                                                                                      padding=1, stride=(1, 2))
    assert repr(gu) == repr(tu) and repr(gf) == repr(tf)
    _close(gf(gu(_gk(x, device))), tf(tu(torch.tensor(x))))
    assert list(gu.state_dict()) == list(gf.state_dict()) == []


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_transpose_layer_init_shapes_repr_and_state_dict_round_trip(device, dims):
    torch = pytest.importorskip("torch")
    cls, tcls = (ConvTranspose1d, torch.nn.ConvTranspose1d) if dims == 1 else (ConvTranspose2d,
                                                                                torch.nn.ConvTranspose2d)
    kernel = (3, 2)[:dims] if dims == 2 else 3
    kw = {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 2}
    gk.manual_seed(0)
    m = cls(4, 6, kernel, **kw, device=device)
    t = tcls(4, 6, kernel, **kw)
    assert m.weight.shape == tuple(t.weight.shape) == (4, 3, *m.kernel_size)
    assert m.weight.dtype == np.float32 and m.weight.device.startswith(device)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(3 * math.prod(m.kernel_size))  # fan_in from the weight: out_channels / groups * k
    w, b = m.weight.numpy(), m.bias.numpy()
    assert 0.9 * bound < np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # PyTorch's state dict into gradkit and back, same outputs
    t = t.double()
    m = cls(4, 6, kernel, **kw, device=device, dtype="float64")
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = _data(2, 4, *(5, 4)[:dims])
    _close(m(_gk(x, device)), t(torch.tensor(x)))
    t2 = tcls(4, 6, kernel, **kw).double()
    t2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    _close(m(_gk(x, device)), t2(torch.tensor(x)))
    assert repr(cls(2, 4, 3, bias=False)).endswith("bias=False)")
    assert cls(2, 4, 3).extra_repr() == f"2, 4, kernel_size={(3,) * dims}, stride={(1,) * dims}"


@pytest.mark.parametrize("output_size", [(9, 8), (10, 7), (1, 2, 10, 8), [2, 9, 8]])
def test_conv_transpose_output_size_as_pytorch(device, output_size):
    torch = pytest.importorskip("torch")
    t = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    m = ConvTranspose2d(2, 3, 3, stride=2, padding=1, device=device, dtype="float64")
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = _data(1, 2, 5, 4) if len(output_size) != 3 else _data(2, 5, 4)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    ty, gy = t(tx, output_size=output_size), m(gx, output_size=output_size)
    _close(gy, ty)
    ty.sum().backward()
    gy.sum().backward()
    _close(gx.grad, tx.grad)
    _close(m.weight.grad, t.weight.grad)


def test_conv_transpose_output_size_errors():
    m = ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = gk.zeros(1, 2, 5, 4)
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose2d: output_size \(11, 7\) is out of range for "
                                                      r"input of shape \(1, 2, 5, 4\): valid sizes range from "
                                                      r"\(9, 7\) to \(10, 8\)"):
        m(x, output_size=(11, 7))
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose2d: output_size must hold 2 \(spatial\) or 4 "
                                                      r"ints for input of shape \(1, 2, 5, 4\), got \(9,\)"):
        m(x, output_size=(9,))
    with pytest.raises(gk.ArgumentTypeError, match="ConvTranspose2d: output_size must be an int, got float 9.5"):
        m(x, output_size=(9.5, 8))
    assert m(x, output_size=(10, 8)).shape == (1, 3, 10, 8)
    one = ConvTranspose1d(2, 3, 3, stride=3)
    assert one(gk.zeros(2, 4), output_size=[12]).shape == (3, 12)


def test_empty_batch_as_pytorch(device):
    x, w = _gk(np.zeros((0, 4, 3, 3)), device), _gk(_data(4, 3, 3, 3), device)
    y = conv_transpose2d(x, w, stride=2)
    assert y.shape == (0, 3, 7, 7)
    y.sum().backward()
    assert x.grad.shape == x.shape and not w.grad.numpy().any()
    assert unfold(x, 2).shape == (0, 16, 4)
    assert fold(_gk(np.zeros((0, 12, 9)), device), (4, 4), 2).shape == (0, 3, 4, 4)


# ------------------------------------------------------------------ host reads (emulated CuPy)
def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    x, w = _gk(_data(2, 4, 5, 4), device), _gk(_data(4, 3, 3, 2, seed=1), device)
    layer = ConvTranspose2d(4, 6, 3, stride=2, groups=2, device=device, dtype="float64")

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    y = conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    c = unfold(x, 2, padding=1)
    z = fold(c, (5, 4), 2, padding=1)
    out = (y * y).sum() + (conv2d(x, w.swapaxes(0, 1), padding=1) ** 2).sum() + (z * z).sum()
    (out + layer(x, output_size=(12, 9)).sum()).backward()


# ------------------------------------------------------------------ errors
def test_errors_name_the_function_what_was_passed_and_what_was_expected():
    x, w = gk.zeros(2, 4, 5, 5), gk.zeros(4, 3, 3, 3)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: expected a 3-D .* or 4-D .* got input of shape "
                                            r"\(2, 4\)"):
        conv_transpose2d(gk.zeros(2, 4), w)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: weight must be 4-D \(in_channels, out_channels / "
                                            r"groups, H, W\), got weight of shape \(4, 3, 3\)"):
        conv_transpose2d(x, gk.zeros(4, 3, 3))
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: weight of shape \(4, 3, 3, 3\) expects input with 4 "
                                            r"channels, got input of shape \(2, 3, 5, 5\)"):
        conv_transpose2d(gk.zeros(2, 3, 5, 5), w)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: weight of shape \(4, 3, 3, 3\) has 4 input channels, "
                                            r"which groups=3 does not divide"):
        conv_transpose2d(x, w, groups=3)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose1d: weight of shape \(4, 3, 3\) with groups=2 expects a "
                                            r"bias of shape \(6,\), got bias of shape \(3,\)"):
        conv_transpose1d(gk.zeros(2, 4, 5), gk.zeros(4, 3, 3), gk.zeros(3), groups=2)
    with pytest.raises(gk.InvalidArgumentError, match=r"conv_transpose2d: output_padding must be smaller than stride "
                                                      r"or dilation on each axis, got output_padding \(2, 2\), "
                                                      r"stride \(2, 2\), dilation \(1, 1\)"):
        conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: input of shape \(1, 4, 1, 1\) with weight of shape "
                                            r"\(4, 3, 3, 3\), .* gives an output size of \(-1, -1\)"):
        conv_transpose2d(gk.zeros(1, 4, 1, 1), w, padding=2)
    with pytest.raises(gk.ShapeError, match=r"conv_transpose2d: expected an input with no empty axis but the batch "
                                            r"axis, got input of shape \(1, 4, 0, 3\)"):
        conv_transpose2d(gk.zeros(1, 4, 0, 3), w)
    with pytest.raises(gk.ArgumentTypeError, match="conv_transpose2d: padding must be an int, got str 'same'"):
        conv_transpose2d(x, w, padding="same")
    with pytest.raises(gk.DTypeError, match=r"conv_transpose2d: input \(float32\), weight \(float64\)"):
        conv_transpose2d(x, gk.zeros(4, 3, 3, 3, dtype="float64"))
    with pytest.raises(gk.ArgumentTypeError, match="conv_transpose2d: weight must be a Tensor, got ndarray"):
        conv_transpose2d(x, np.zeros((4, 3, 3, 3), dtype=np.float32))
    with pytest.raises(gk.InvalidArgumentError, match="ConvTranspose2d: padding must be an int or a tuple of 2 ints, "
                                                      "got 'same'"):
        ConvTranspose2d(2, 3, 3, padding="same")
    with pytest.raises(gk.InvalidArgumentError, match='ConvTranspose1d: only padding_mode="zeros" is supported, got '
                                                      "'reflect'"):
        ConvTranspose1d(2, 3, 3, padding_mode="reflect")
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose2d: output_padding must be smaller than stride or "
                                                      r"dilation on each axis, got output_padding \(1, 1\)"):
        ConvTranspose2d(2, 3, 3, output_padding=1)
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose2d: out_channels \(3\) must be divisible by "
                                                      r"groups \(2\)"):
        ConvTranspose2d(2, 3, 3, groups=2)
    # unfold and fold
    with pytest.raises(gk.ShapeError, match=r"unfold: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got "
                                            r"input of shape \(2, 3, 4, 5, 6\)"):
        unfold(gk.zeros(2, 3, 4, 5, 6), 2)
    with pytest.raises(gk.ShapeError, match=r"unfold: input of spatial size \(1, 1\) with kernel_size \(2, 2\), "
                                            r"dilation \(1, 1\) and padding \(0, 0\) holds 0 x 0 blocks"):
        unfold(gk.zeros(2, 3, 1, 1), 2)
    with pytest.raises(gk.InvalidArgumentError, match="unfold: stride must be >= 1, got 0"):
        unfold(x, 2, stride=0)
    with pytest.raises(gk.DTypeError, match="unfold: input must be a float tensor, got dtype int64"):
        unfold(gk.zeros(1, 1, 3, 3, dtype="int64"), 2)
    with pytest.raises(gk.ShapeError, match=r"fold: the input's size 13 along its blocks' rows \(dimension 1\) must "
                                            r"be a positive multiple of prod\(kernel_size\) = 4, got input of shape "
                                            r"\(2, 13, 20\)"):
        fold(gk.zeros(2, 13, 20), (5, 6), 2)
    with pytest.raises(gk.ShapeError, match=r"fold: output_size \(5, 6\), kernel_size \(2, 2\), dilation \(1, 1\), "
                                            r"padding \(0, 0\) and stride \(1, 1\) make 4 x 5 = 20 blocks, but the "
                                            r"input's last dimension is 21 \(input of shape \(2, 12, 21\)\)"):
        fold(gk.zeros(2, 12, 21), (5, 6), 2)
    with pytest.raises(gk.ShapeError, match=r"fold: expected a 2-D .* or 3-D .* input, got input of shape \(12,\)"):
        fold(gk.zeros(12), (5, 6), 2)
    with pytest.raises(gk.InvalidArgumentError, match="fold: output_size must be an int or a tuple of 2 ints"):
        fold(gk.zeros(2, 12, 20), (5, 6, 7), 2)
    with pytest.raises(gk.InvalidArgumentError, match="Fold: padding must be >= 0, got -1"):
        Fold((5, 6), 2, padding=-1)
    with pytest.raises(gk.ArgumentTypeError, match="Unfold: kernel_size must be an int, got str"):
        Unfold("3")
