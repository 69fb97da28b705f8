"""The padding layers (Zero, Constant, Reflection, Replication, Circular; 1d, 2d, 3d).

NumPy's ``np.pad`` as the reference (batched and unbatched inputs), gradients of a padded sum (the count
of copies of each element), a second-order gradcheck, reprs and state dicts, argument and rank errors,
and, where torch is importable, values, gradients and reprs against it.
"""

from __future__ import annotations

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import padding as P

NP_MODES = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "edge",
            "Circular": "wrap"}
LAYERS = [(kind, d) for kind in NP_MODES for d in (1, 2, 3)]


def _layer(kind: str, d: int, padding):
    cls = getattr(P, f"{kind}Pad{d}d")
    return cls(padding, 2.5) if kind == "Constant" else cls(padding)


def _np_pad(x: np.ndarray, kind: str, widths: tuple) -> np.ndarray:
    pairs = [(0, 0)] * x.ndim
    for i in range(len(widths) // 2):
        pairs[x.ndim - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    kwargs = {"constant_values": 2.5 if kind == "Constant" else 0.0} if NP_MODES[kind] == "constant" else {}
    return np.pad(x, pairs, mode=NP_MODES[kind], **kwargs)


@pytest.mark.parametrize("kind, d", LAYERS)
def test_values_and_gradients_against_numpy(device, kind, d):
    widths = (1, 2, 2, 0, 1, 1)[: 2 * d]
    m = _layer(kind, d, widths)
    assert m.padding == widths and m.state_dict() == {}
    for shape in [(2, 2) + (3,) * d, (2,) + (3,) * d]:  # batched and unbatched
        xv = np.random.default_rng(d).standard_normal(shape)
        x = gk.tensor(xv, device=device, requires_grad=True)
        y = m(x)
        np.testing.assert_array_equal(y.numpy(), _np_pad(xv, kind, widths))
        y.sum().backward()
        if NP_MODES[kind] == "constant":
            count = np.ones(xv.size)
        else:
            count = np.bincount(_np_pad(np.arange(xv.size).reshape(shape), kind, widths).ravel(), minlength=xv.size)
        np.testing.assert_array_equal(x.grad.numpy().ravel(), count)  # each element's gradient: its copies


def test_int_padding_second_order_and_reprs(device):
    m = P.ReflectionPad2d(1)
    assert m.padding == (1, 1, 1, 1) and repr(m) == "ReflectionPad2d((1, 1, 1, 1))"
    assert repr(P.ZeroPad1d(2)) == "ZeroPad1d((2, 2))"
    assert repr(P.ConstantPad3d(1, 0.5)) == "ConstantPad3d(padding=(1, 1, 1, 1, 1, 1), value=0.5)"
    assert P.ZeroPad2d(np.int64(1)).padding == (1, 1, 1, 1) and P.CircularPad1d([0, 2]).padding == (0, 2)
    x = gk.tensor(np.random.default_rng(0).standard_normal((1, 2, 3)), device=device, requires_grad=True)
    c = gk.tensor(np.random.default_rng(1).standard_normal((1, 4, 5)), device=device)
    assert gk.gradcheck(lambda u: m(u) * c, (x,))
    assert gk.gradcheck(lambda u: gk.grad(lambda v: (m(v) * m(v) * c).sum())(u), (x,))
    cropped = P.ZeroPad2d((-1, 0, 0, -1))(gk.ones(2, 3, device=device))  # negative widths crop, as PyTorch
    assert cropped.shape == (1, 2)
    assert P.ZeroPad2d(1)(gk.ones(2, 3, device=device)).shape == (4, 5)  # constant padding: any input with 2 axes


def test_errors(device):
    with pytest.raises(gk.InvalidArgumentError, match=r"ReflectionPad1d: padding must be an int or a tuple of 2 ints, "
                                                      r"got \(1, 2, 3\)"):
        P.ReflectionPad1d((1, 2, 3))
    with pytest.raises(gk.InvalidArgumentError, match="ZeroPad2d: padding must be an int or a tuple of 4 ints"):
        P.ZeroPad2d((1.0, 1, 1, 1))
    with pytest.raises(gk.ArgumentTypeError, match="ConstantPad1d: padding must be an int or a tuple of 2 ints, "
                                                   "got float 1.5"):
        P.ConstantPad1d(1.5, 0.0)
    with pytest.raises(gk.ArgumentTypeError, match="ConstantPad2d: value must be a number"):
        P.ConstantPad2d(1, None)
    with pytest.raises(gk.ShapeError, match=r"ReflectionPad1d: expected a 2-D \(C, W\) or 3-D \(N, C, W\) input, got "
                                            r"input of shape \(2, 3, 4, 5\)"):
        P.ReflectionPad1d(1)(gk.zeros(2, 3, 4, 5, device=device))
    with pytest.raises(gk.ShapeError, match=r"CircularPad2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\)"):
        P.CircularPad2d(1)(gk.zeros(4, 5, device=device))
    with pytest.raises(gk.ShapeError, match=r"ZeroPad3d: expected an input with at least 3 axes, got input of shape "
                                            r"\(4, 5\)"):
        P.ZeroPad3d(1)(gk.zeros(4, 5, device=device))
    with pytest.raises(gk.InvalidArgumentError, match="reflect pad"):
        P.ReflectionPad1d(3)(gk.zeros(1, 3, device=device))  # each width below the axis length (F.pad's check)


@pytest.mark.parametrize("kind, d", LAYERS)
def test_matches_torch(kind, d):
    torch = pytest.importorskip("torch")
    widths = (2, 1, 0, 1, 1, 2)[: 2 * d]
    args = (widths, 2.5) if kind == "Constant" else (widths,)
    m, ref = _layer(kind, d, widths), getattr(torch.nn, f"{kind}Pad{d}d")(*args)
    assert repr(m) == repr(ref)
    xv = np.random.default_rng(d).standard_normal((2, 2) + (3,) * d)
    cot = np.random.default_rng(9).standard_normal(ref(torch.tensor(xv)).shape)
    x, tx = gk.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    y, ty = m(x), ref(tx)
    (y * gk.tensor(cot)).sum().backward()
    (ty * torch.tensor(cot)).sum().backward()
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-14, atol=1e-15)


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    layers = [_layer(kind, d, (1, 2, 0, 1, 2, 1)[: 2 * d]) for kind, d in LAYERS]
    xs = {d: gk.tensor(np.ones((2, 3, 4, 4)[-d - 2 :]), device=device, requires_grad=True) for d in (1, 2)}
    refuse_host_reads(device, monkeypatch)
    for m in layers:
        if m._dims in xs:
            x = xs[m._dims]
            (m(x) * m(x)).sum().backward()
