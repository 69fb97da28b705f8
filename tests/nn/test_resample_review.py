"""Review of interpolate / Upsample and max_unpool: a U-Net-like block trained as PyTorch's, empty batches, float16
weighted in float32, non-contiguous input, one-element axes with align_corners, bicubic borders to second order,
output sizes beyond int64."""

from __future__ import annotations

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn.resample import interpolate, max_unpool1d, max_unpool2d


def _unet_block(nn, cat, unpool=None):
    """Conv, max-pool with indices and unpool, a bilinear upsampled path and a skip connection, for either library
    (``unpool``: in place of nn.MaxUnpool2d(2))."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
            self.c3, self.c4 = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(9, 1, 1)
            self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), unpool or nn.MaxUnpool2d(2)
            self.down, self.up = nn.MaxPool2d(2), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.act = nn.ReLU()

        def forward(self, x):
            a = self.act(self.c1(x))
            p, i = self.pool(a)
            b = self.unpool(self.act(self.c2(p)), i, output_size=a.shape)
            c = self.up(self.act(self.c3(self.down(a))))
            return self.c4(cat([a, b, c], 1))

    return Block()


def test_unet_like_block_trains_as_pytorch(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    def unpool(v, i, output_size):  # PyTorch's max_unpool2d as a scatter: its own imports SymPy (a second or two)
        flat = torch.zeros(*v.shape[:2], output_size[-2] * output_size[-1], dtype=v.dtype)
        return flat.scatter(2, i.flatten(2), v.flatten(2)).reshape(*v.shape[:2], *output_size[-2:])

    theirs = _unet_block(torch.nn, torch.cat, unpool).double()
    ours = _unet_block(gk.nn, gk.cat).double().to(device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, t = _data(2, 2, 6, 8), _data(2, 1, 6, 8, seed=1)
    gopt = gk.optim.SGD(ours.parameters(), lr=0.5)  # PyTorch's by hand: torch.optim takes seconds to import
    for _ in range(4):
        theirs.zero_grad()
        gopt.zero_grad()
        tl = ((theirs(torch.tensor(x)) - torch.tensor(t)) ** 2).mean()
        gl = ((ours(_gk(x, device, grad=False)) - _gk(t, device, grad=False)) ** 2).mean()
        tl.backward()
        gl.backward()
        with torch.no_grad():
            for p in theirs.parameters():
                p -= 0.5 * p.grad
        gopt.step()
        np.testing.assert_allclose(gl.numpy(), tl.item(), rtol=1e-12)
    for name, p in theirs.state_dict().items():
        _close(ours.state_dict()[name], p, 1e-12)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
def test_interpolate_of_an_empty_batch(device, mode):
    x = _gk(np.zeros((0, 2, 3, 4)), device)
    y = interpolate(x, size=(5, 2), mode=mode)
    assert y.shape == (0, 2, 5, 2)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 3, 4)


def test_max_unpool_of_an_empty_batch(device):
    """An empty batch gave NumPy's "cannot reshape array of size 0"."""
    x = _gk(np.zeros((0, 3, 4, 4)), device)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    u = max_unpool2d(y, i, 2)
    assert u.shape == (0, 3, 4, 4)
    u.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)
    z = _gk(np.zeros((0, 2)), device)  # unbatched, no channels
    assert max_unpool1d(z, gk.tensor(np.zeros((0, 2), dtype=np.int64), device=device), 2).shape == (0, 4)


@pytest.mark.parametrize(("mode", "kw"), [("bilinear", {"size": (40, 50)}),
                                          ("bicubic", {"size": (40, 50), "align_corners": False}),
                                          ("bicubic", {"size": (5, 13), "align_corners": True})])
def test_float16_is_weighted_and_summed_in_float32(device, mode, kw):
    """Weights rounded to float16 and float16 sums were off by about two float16 steps; PyTorch's weighs in float32."""
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 7, 9)).astype(np.float16)
    expected = interpolate(gk.tensor(x.astype(np.float64), device=device), mode=mode, **kw).numpy()
    g = _gk(x, device)
    y = interpolate(g, mode=mode, **kw)
    assert y.dtype == np.float16
    step = np.spacing(np.float16(np.abs(expected).max()))
    assert np.abs(y.numpy().astype(np.float64) - expected).max() <= 1.25 * step
    y.sum().backward()
    assert g.grad.dtype == np.float16


def test_float16_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 2, 6, 5)).astype(np.float16)
    for mode in ("bilinear", "bicubic"):
        expected = torch.nn.functional.interpolate(torch.tensor(x), size=(11, 8), mode=mode).numpy()
        y = interpolate(gk.tensor(x, device=device), size=(11, 8), mode=mode).numpy()
        np.testing.assert_allclose(y.astype(np.float64), expected.astype(np.float64), atol=2e-3)


def test_non_contiguous_input(device):
    torch = pytest.importorskip("torch")
    x = _data(2, 3, 9, 8)
    for mode in ("nearest", "bilinear", "bicubic"):
        for ours, theirs in [(lambda t: gk.swapaxes(t, 2, 3), lambda t: t.transpose(2, 3)),
                             (lambda t: t[:, 1:, ::2, 1:], lambda t: t[:, 1:, ::2, 1:])]:
            tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
            ty = torch.nn.functional.interpolate(theirs(tx), size=(6, 13), mode=mode)
            gy = interpolate(ours(gx), size=(6, 13), mode=mode)
            _close(gy, ty)
            u = _data(*ty.shape, seed=2)
            ty.backward(torch.tensor(u))
            gy.backward(_gk(u, device, grad=False))
            _close(gx.grad, tx.grad)


@pytest.mark.parametrize(("mode", "shape", "size"), [("linear", (1, 2, 1), 4), ("linear", (1, 2, 3), 1),
                                                     ("bilinear", (1, 1, 1, 3), (4, 1)),
                                                     ("bicubic", (1, 1, 1, 2), (3, 1))])
def test_one_element_axes_with_align_corners(device, mode, shape, size):
    """(in - 1) / (out - 1) with an input or output of one element: no division by zero, PyTorch's values."""
    x = _gk(_data(*shape), device)
    y = interpolate(x, size=size, mode=mode, align_corners=True)
    assert np.isfinite(y.numpy()).all()
    assert gk.gradcheck(lambda x: interpolate(x, size=size, mode=mode, align_corners=True), (x,))
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.interpolate(torch.tensor(_data(*shape)), size=size, mode=mode, align_corners=True)
    _close(y, expected)


@pytest.mark.parametrize("kw", [{"size": (7, 2)}, {"scale_factor": (0.5, 3.0)}])
def test_bicubic_borders_second_order(device, kw):
    """Without align_corners the taps fall outside the input at both borders (the border replicated)."""
    x = _gk(_data(1, 1, 4, 3), device)
    assert gk.gradcheck(lambda x: interpolate(x, mode="bicubic", **kw), (x,))

    def grads(x):
        y = interpolate(x, mode="bicubic", **kw)
        return gk.autograd.grad((y * y * y).sum(), (x,), create_graph=True)

    assert gk.gradcheck(grads, (x,))


@pytest.mark.parametrize("kw", [{"scale_factor": 1e300}, {"scale_factor": 1e12}, {"size": 2**62}])
def test_output_sizes_beyond_int64(kw):
    """A scale factor of 1e300 gave NumPy's unnamed ValueError; PyTorch refuses such sizes too."""
    with pytest.raises(gk.ShapeError, match="interpolate: .* int64"):
        interpolate(gk.tensor(np.zeros((1, 4, 4, 4))), **kw)


def test_float16_and_empty_batches_read_nothing_on_the_host(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = _gk(_data(1, 2, 4, 5, dtype="float16"), device)
    gx, = gk.autograd.grad((interpolate(x, size=(7, 3), mode="bicubic") ** 2).sum(), (x,), create_graph=True)
    gk.autograd.grad(gx.sum(), (x,))
    z = _gk(np.zeros((0, 3, 4, 4)), device)
    y, i = F.max_pool2d(z, 2, return_indices=True)
    max_unpool2d(y, i, 2).sum().backward()
