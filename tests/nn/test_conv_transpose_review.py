"""Review of transposed convolution, unfold/fold and the strided im2col: small generator and autoencoder trained
against PyTorch, awkward geometries, strided/offset/read-only/broadcast inputs read through the window view,
dtypes, padding modes, output_size forms, second order, and the CuPy functions the CuPy path calls."""

from __future__ import annotations

import re

import emulated_cupy
import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from gradkit.ops.conv import conv2d, conv_transpose1d, conv_transpose2d, fold, unfold


def _load(mine, theirs):
    mine.load_state_dict({k: gk.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})


# ------------------------------------------------------------------ small networks trained against PyTorch
def test_dcgan_like_generator_trains_as_pytorch():
    torch = pytest.importorskip("torch")

    def generator(nn):
        return nn.Sequential(nn.ConvTranspose2d(6, 5, 2, 1, 0, bias=False), nn.BatchNorm2d(5), nn.ReLU(),
                             nn.ConvTranspose2d(5, 3, 4, 2, 1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
                             nn.ConvTranspose2d(3, 2, 4, 2, 1), nn.Tanh())

    torch.manual_seed(0)
    theirs = generator(torch.nn).double()
    mine = generator(gk.nn).double()
    _load(mine, theirs)
    g_opt = gk.optim.SGD(mine.parameters(), lr=0.1)  # by hand on PyTorch's side: its first optimizer takes ~1 s
    target = 0.5 * _data(3, 2, 8, 8, seed=9)
    for step in range(3):
        z = _data(3, 6, 1, 1, seed=step)
        t_loss = ((theirs(torch.tensor(z)) - torch.tensor(target)) ** 2).mean()
        g_loss = ((mine(gk.tensor(z)) - gk.tensor(target)) ** 2).mean()
        assert g_loss.item() == pytest.approx(t_loss.item(), rel=1e-12, abs=1e-12)
        theirs.zero_grad()
        t_loss.backward()
        with torch.no_grad():
            for q in theirs.parameters():
                q -= 0.1 * q.grad
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    for p, q in zip(mine.parameters(), theirs.parameters(), strict=True):
        _close(p, q, 1e-9)


def test_autoencoder_with_output_size_trains_as_pytorch():
    """Conv2d down, ConvTranspose2d up to the input's size, given as the whole shape (torch.Size / a list)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    t_down, t_up = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double(), torch.nn.ConvTranspose2d(
        4, 3, 3, stride=2, padding=1).double()
    g_down, g_up = Conv2d(3, 4, 3, stride=2, padding=1).double(), ConvTranspose2d(4, 3, 3, stride=2, padding=1).double()
    _load(g_down, t_down)
    _load(g_up, t_up)
    t_params = [*t_down.parameters(), *t_up.parameters()]
    g_opt = gk.optim.SGD([*g_down.parameters(), *g_up.parameters()], lr=0.1)
    for step in range(3):
        x = _data(2, 3, 7, 6, seed=step)
        ty = t_up(torch.relu(t_down(torch.tensor(x))), output_size=torch.Size(x.shape))
        gy = g_up(gk.nn.functional.relu(g_down(gk.tensor(x))), output_size=list(x.shape))
        assert gy.shape == ty.shape == x.shape  # without output_size: (2, 3, 7, 5)
        t_loss, g_loss = ((ty - torch.tensor(x)) ** 2).mean(), ((gy - gk.tensor(x)) ** 2).mean()
        assert g_loss.item() == pytest.approx(t_loss.item(), rel=1e-12, abs=1e-12)
        for q in t_params:
            q.grad = None
        t_loss.backward()
        with torch.no_grad():
            for q in t_params:
                q -= 0.1 * q.grad
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    _close(g_up.weight, t_up.weight, 1e-9)


# ------------------------------------------------------------------ awkward geometries against PyTorch
AWKWARD = [
    # input shape, weight shape (in, out / groups, *kernel), keywords
    ((2, 4, 2, 3), (4, 2, 3, 2), {"groups": 2, "dilation": (3, 2), "stride": (2, 3), "output_padding": (2, 1),
                                  "padding": (1, 2)}),  # output_padding < dilation though >= stride
    ((1, 2, 1, 1), (2, 3, 5, 4), {"padding": (1, 0)}),  # kernel larger than input
    ((2, 3, 3, 2), (3, 2, 1, 1), {"stride": (4, 3), "output_padding": (3, 1)}),  # 1x1 kernel, stride > kernel
    ((2, 3, 4), (3, 2, 2), {"stride": 5, "output_padding": 4, "padding": 1}),  # stride > kernel, gaps
    ((3, 5, 2), (3, 4, 3, 1), {"stride": (3, 1), "padding": (2, 0), "dilation": (2, 1)}),  # unbatched
    ((0, 4, 3, 2), (4, 1, 2, 2), {"groups": 4, "stride": 2, "output_padding": 1}),  # empty batch
]


@pytest.mark.parametrize(("xs", "ws", "kw"), AWKWARD)
def test_awkward_transposed_geometries_match_pytorch(device, xs, ws, kw):
    torch = pytest.importorskip("torch")
    x, w, b = _data(*xs), _data(*ws, seed=1), _data(ws[1] * kw.get("groups", 1), seed=2)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gx, gw, gb = (_gk(a, device) for a in (x, w, b))
    tf, gf = ((torch.nn.functional.conv_transpose2d, conv_transpose2d) if len(ws) == 4
              else (torch.nn.functional.conv_transpose1d, conv_transpose1d))
    ty, gy = tf(tx, tw, tb, **kw), gf(gx, gw, gb, **kw)
    _close(gy, ty)
    u = _data(*ty.shape, seed=3)
    ty.backward(torch.tensor(u))
    gy.backward(_gk(u, device, grad=False))
    for mine, theirs in ((gx, tx), (gw, tw), (gb, tb)):
        _close(mine.grad, theirs.grad)


def test_second_order_with_groups_dilation_output_padding_and_bias_matches_pytorch():
    torch = pytest.importorskip("torch")
    kw = {"stride": (2, 3), "padding": (1, 2), "output_padding": (1, 2), "groups": 2, "dilation": (3, 2)}
    arrays = _data(2, 4, 3, 4), _data(4, 3, 2, 3, seed=1), _data(6, seed=2)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)
    gx, gw, gb = (gk.tensor(a, requires_grad=True) for a in arrays)
    t_grads = torch.autograd.grad((torch.nn.functional.conv_transpose2d(tx, tw, tb, **kw) ** 3).sum(), (tx, tw, tb),
                                  create_graph=True)
    g_grads = gk.autograd.grad((conv_transpose2d(gx, gw, gb, **kw) ** 3).sum(), (gx, gw, gb), create_graph=True)
    sum((g ** 2).sum() for g in t_grads).backward()
    sum((g ** 2).sum() for g in g_grads).backward()
    for mine, theirs in ((gx, tx), (gw, tw), (gb, tb)):
        _close(mine.grad, theirs.grad, 1e-9)


def test_fold_with_overlapping_dilated_padded_blocks_and_unbatched_input_match_pytorch():
    torch = pytest.importorskip("torch")
    kw = {"kernel_size": (3, 2), "dilation": (2, 1), "padding": (2, 1), "stride": (1, 2)}
    x = _data(3, 5, 6)  # unbatched (C, H, W)
    tx, gx = torch.tensor(x, requires_grad=True), gk.tensor(x, requires_grad=True)
    tc, gc = torch.nn.functional.unfold(tx, **kw), unfold(gx, **kw)
    _close(gc, tc)
    tz, gz = torch.nn.functional.fold(tc * tc, (5, 6), **kw), fold(gc * gc, (5, 6), **kw)
    _close(gz, tz)
    tz.sum().backward()
    gz.sum().backward()
    _close(gx.grad, tx.grad)


# ------------------------------------------------------------------ what the strided window view reads
def _views(a):
    """Views of ``a`` (N, C, H, W) that share its memory: negative strides, an offset, swapped axes, a zero
    stride and a read-only one, each with the dense copy it stands for."""
    ro = a.copy()
    ro.flags.writeable = False
    return {
        "flipped": a[:, ::-1, ::-1],
        "offset": a[1:, :, 2:, 1::2],
        "swapped": a.swapaxes(2, 3),
        "broadcast": np.broadcast_to(a[:, :, :1], a.shape),
        "read-only": ro,
    }


@pytest.mark.parametrize("name", ["flipped", "offset", "swapped", "broadcast", "read-only"])
def test_conv_unfold_and_conv_transpose_read_strided_views_as_their_copies(name):
    """Inputs and weights that are NumPy views (no copy: ``from_numpy``) give what their dense copies give."""
    base = _data(3, 4, 7, 6)
    view = _views(base)[name]
    dense = np.ascontiguousarray(view)
    w = _data(4, 3, 2, 3, seed=1)[:, ::-1].swapaxes(2, 3)  # a non-contiguous weight with a negative stride
    for make in (gk.from_numpy, lambda a: gk.tensor(a.copy(), device="cpu")):
        x = make(view)
        if make is gk.from_numpy:
            assert np.shares_memory(x._data, view) or x._data.size == 0
        got = [conv2d(x, gk.from_numpy(w.swapaxes(0, 1)), stride=(2, 1), dilation=(1, 2)),
               conv2d(x, gk.from_numpy(w.swapaxes(0, 1)), padding=1),
               unfold(x, (2, 3), dilation=(2, 1), stride=(1, 2)),
               conv_transpose2d(x, gk.from_numpy(w), stride=2, output_padding=1)]
        xd, wd = gk.tensor(dense, device="cpu"), gk.tensor(np.ascontiguousarray(w), device="cpu")
        ref = [conv2d(xd, wd.swapaxes(0, 1), stride=(2, 1), dilation=(1, 2)), conv2d(xd, wd.swapaxes(0, 1), padding=1),
               unfold(xd, (2, 3), dilation=(2, 1), stride=(1, 2)), conv_transpose2d(xd, wd, stride=2, output_padding=1)]
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_array_equal(g.numpy(), r.numpy())
    if name == "read-only":
        assert not view.flags.writeable  # nothing wrote to it


def test_views_made_by_gradkit_ops_give_pytorchs_values_and_gradients(device):
    torch = pytest.importorskip("torch")
    x, w = _data(2, 3, 6, 7), _data(3, 4, 3, 2, seed=1)
    tx, tw, gx, gw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True), _gk(x, device), \
        _gk(w, device)
    t_in, g_in = tx.flip((2, 3))[:, :, 1:, ::2], gk.flip(gx, (2, 3))[:, :, 1:, ::2]
    t_w, g_w = tw.permute(1, 0, 3, 2).flip(0), gk.flip(gw.permute(1, 0, 3, 2), (0,))
    ty = (torch.nn.functional.conv2d(t_in, t_w, dilation=(2, 1)).square().sum()
          + torch.nn.functional.conv_transpose2d(t_in, t_w.permute(1, 0, 2, 3), stride=2).square().sum()
          + torch.nn.functional.unfold(t_in, 2, padding=1).square().sum())
    gy = (conv2d(g_in, g_w, dilation=(2, 1)).square().sum()
          + conv_transpose2d(g_in, g_w.permute(1, 0, 2, 3), stride=2).square().sum()
          + unfold(g_in, 2, padding=1).square().sum())
    assert gy.item() == pytest.approx(ty.item(), rel=1e-12)
    ty.backward()
    gy.backward()
    _close(gx.grad, tx.grad)
    _close(gw.grad, tw.grad)


def test_gradcheck_through_views(device):
    x, w = _gk(_data(2, 4, 5, 4), device), _gk(_data(4, 2, 2, 3, seed=1), device)
    assert gk.gradcheck(lambda x, w: conv_transpose2d(gk.flip(x, (3,))[:, :, 1:], w.swapaxes(2, 3), stride=(1, 2),
                                                      output_padding=(0, 1), groups=2, dilation=(2, 1)), (x, w))
    assert gk.gradcheck(lambda x: unfold(x.swapaxes(2, 3)[:, ::2], (2, 2), dilation=2, padding=(0, 1)), (x,))


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_results_and_gradients_keep_the_dtype(device, dtype):
    x = _gk(_data(2, 4, 4, 3, dtype=dtype), device)
    w, b = _gk(_data(4, 3, 3, 2, seed=1, dtype=dtype), device), _gk(_data(6, seed=2, dtype=dtype), device)
    y = conv_transpose2d(x, w, b, stride=2, output_padding=1, groups=2)
    c = unfold(x, 2, padding=1)
    z = fold(c, (4, 3), 2, padding=1)
    assert {y.dtype, c.dtype, z.dtype} == {np.dtype(dtype)}
    (y.sum() + z.sum()).backward()
    assert {x.grad.dtype, w.grad.dtype, b.grad.dtype} == {np.dtype(dtype)}
    ref = conv_transpose2d(x.astype(gk.float64), w.astype(gk.float64), b.astype(gk.float64), stride=2,
                           output_padding=1, groups=2)
    np.testing.assert_allclose(y.numpy().astype(np.float64), ref.numpy(), atol=2e-2 if dtype == "float16" else 1e-5)


# ------------------------------------------------------------------ layers: padding modes and output_size
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes_with_even_kernels_and_same_match_pytorch(mode):
    torch = pytest.importorskip("torch")
    for dims, kernel, dilation, padding in ((2, (2, 4), (3, 1), "same"), (1, 4, 1, "same"), (2, 3, 2, (2, 1))):
        layer = (Conv1d if dims == 1 else Conv2d)(2, 3, kernel, padding=padding, dilation=dilation,
                                                  padding_mode=mode).double()
        theirs = getattr(torch.nn, f"Conv{dims}d")(2, 3, kernel, padding=padding, dilation=dilation,
                                                    padding_mode=mode).double()
        _load(layer, theirs)
        x = _data(2, 2, *(7,) * dims)
        tx, gx = torch.tensor(x, requires_grad=True), gk.tensor(x, requires_grad=True)
        ty, gy = theirs(tx), layer(gx)
        _close(gy, ty)
        ty.square().sum().backward()
        gy.square().sum().backward()
        _close(gx.grad, tx.grad)
    with pytest.raises(gk.InvalidArgumentError, match='ConvTranspose2d: only padding_mode="zeros" is supported, '
                                                      f"got '{mode}'"):
        ConvTranspose2d(2, 3, 3, padding_mode=mode)


def test_output_size_takes_lists_arrays_and_whole_shapes_and_an_unbatched_input():
    layer = ConvTranspose2d(2, 3, 3, stride=3, padding=1)
    x = np.zeros((2, 4, 3), dtype=np.float32)  # unbatched: (C, H, W)
    for size in ((10, 9), [3, 11, 8], gk.zeros(3, 10, 9).shape):
        assert layer(x, output_size=size).shape == (3, *tuple(size)[-2:])
    assert layer(x.tolist(), output_size=[11, 9]).shape == (3, 11, 9)  # a nested list: its shape is used
    batched = gk.zeros(1, 2, 4, 3)
    assert layer(batched, output_size=[1, 3, 12, 7]).shape == (1, 3, 12, 7)
    assert ConvTranspose1d(2, 1, 2, stride=2)(gk.zeros(2, 3), output_size=[1, 7]).shape == (1, 7)


def test_output_size_with_an_input_of_the_wrong_rank_names_the_input():
    layer = ConvTranspose2d(2, 3, 3, stride=2)
    for shape in ((1, 2, 2, 4, 4), (4,)):
        expected = f"conv_transpose2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got input of shape {shape}"
        with pytest.raises(gk.ShapeError, match=re.escape(expected)):
            layer(gk.zeros(*shape), output_size=(9, 9))
    with pytest.raises(gk.InvalidArgumentError, match=r"ConvTranspose2d: output_size must hold 2 \(spatial\) or 4 "
                                                      r"ints for input of shape \(1, 2, 4, 4\), got \(2, 9, 9\)"):
        layer(gk.zeros(1, 2, 4, 4), output_size=(2, 9, 9))


# ------------------------------------------------------------------ CuPy
def test_the_installed_cupy_has_what_the_cupy_conv_path_calls():
    """The CuPy path's im2col, col2im, layout copy with the bias, transposed convolution and unfold/fold call
    only these (checked on the installed CuPy 14, no GPU needed; the emulation runs the path itself)."""
    if emulated_cupy.enabled():
        pytest.skip("this run emulates CuPy")
    cp = pytest.importorskip("cupy", reason="CuPy is not installed")
    for name in ("empty", "zeros", "full", "add", "ascontiguousarray", "asarray", "copyto", "isnan", "maximum",
                 "where", "matmul"):
        assert callable(getattr(cp, name, None)), name
    for method in ("swapaxes", "transpose", "reshape", "copy", "__iadd__", "__setitem__"):
        assert hasattr(cp.ndarray, method), method
    assert cp.add.nout == 1  # xp.add(view, bias, out=out): a ufunc taking out=


def test_layers_read_nothing_on_the_host(device, monkeypatch):
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    up = ConvTranspose1d(4, 2, 3, stride=2, groups=2, device=device, dtype="float64")
    down = Conv2d(4, 4, 3, padding="same", padding_mode="reflect", device=device, dtype="float64")
    x1, x2 = _gk(_data(2, 4, 5), device), _gk(_data(2, 4, 5, 4), device)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    out = up(x1, output_size=[2, 2, 12]).sum() + down(x2).square().sum() + unfold(x2[0], 2, dilation=2).sum()
    out.backward()
