"""nn.Bilinear and F.bilinear: values against ``np.einsum``, first- and second-order gradchecks in every
operand, PyTorch's initialisation and state-dict keys, errors, and, where torch is importable, values,
gradients and state dicts both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn.bilinear import Bilinear, bilinear


def _rand(*shape: int, seed: int, device: str = "cpu", grad: bool = True) -> gk.Tensor:
    return gk.tensor(np.random.default_rng(seed).standard_normal(shape), device=device, requires_grad=grad)


def test_values_and_gradients(device):
    x1, x2 = _rand(2, 3, 2, seed=0, device=device), _rand(2, 3, 4, seed=1, device=device)
    w, b = _rand(5, 2, 4, seed=2, device=device), _rand(5, seed=3, device=device)
    expected = np.einsum("...i,oij,...j->...o", x1.numpy(), w.numpy(), x2.numpy()) + b.numpy()
    y = bilinear(x1, x2, w, b)
    assert y.shape == (2, 3, 5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    single = bilinear(x1[0, 0], x2[0, 0], w)  # one pair, no batch axes
    assert single.shape == (5,)
    np.testing.assert_allclose(single.numpy(), expected[0, 0] - b.numpy(), rtol=1e-12)
    s1, s2 = _rand(2, 2, seed=4, device=device), _rand(2, 3, seed=5, device=device)
    sw, sb = _rand(2, 2, 3, seed=6, device=device), _rand(2, seed=7, device=device)
    assert gk.gradcheck(bilinear, (s1, s2, sw, sb))
    c = _rand(2, 2, seed=8, device=device, grad=False)
    for i in range(3):  # second order through each of the inputs and the weight
        def first(*a, i=i):
            return gk.grad(lambda v: (bilinear(*a[:i], v, *a[i + 1 :]) * c).sum())(a[i]) * a[i]
        assert gk.gradcheck(first, (s1, s2, sw, sb))


def test_module_init_state_dict_and_errors(device):
    gk.manual_seed(0)
    m = Bilinear(20, 3, 30)
    bound = 1 / math.sqrt(20)
    assert m.weight.shape == (30, 20, 3) and m.bias.shape == (30,) and m.weight.dtype == np.float32
    for p in (m.weight, m.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.8 * bound
    assert list(m.state_dict()) == ["weight", "bias"]
    assert repr(m) == "Bilinear(in1_features=20, in2_features=3, out_features=30, bias=True)"
    plain = Bilinear(2, 3, 4, bias=False, dtype="float64").to(device)
    assert plain.bias is None and list(plain.state_dict()) == ["weight"]
    x1, x2 = _rand(6, 2, seed=1, device=device), _rand(6, 3, seed=2, device=device)
    np.testing.assert_array_equal(plain(x1, x2).numpy(), bilinear(x1, x2, plain.weight).numpy())

    with pytest.raises(gk.ShapeError, match=r"bilinear: input1 of shape \(6, 2\) and input2 of shape \(5, 3\) must "
                                            r"have the same leading axes"):
        plain(x1, x2[:5])
    with pytest.raises(gk.ShapeError, match=r"bilinear: inputs of shapes \(6, 2\) and \(6, 2\) do not fit weight of "
                                            r"shape \(4, 2, 3\)"):
        plain(x1, x1)
    with pytest.raises(gk.ShapeError, match="bilinear: weight must be 3-D"):
        bilinear(x1, x2, gk.zeros(4, 2, dtype="float64", device=device))
    with pytest.raises(gk.ShapeError, match=r"bilinear: bias of shape \(3,\) does not fit"):
        bilinear(x1, x2, plain.weight, gk.zeros(3, dtype="float64", device=device))
    with pytest.raises(gk.DTypeError, match=r"bilinear: input1 \(float32\) and weight \(float64\) must have the "
                                            "same dtype"):
        plain(x1.astype(gk.float32), x2)
    with pytest.raises(gk.InvalidArgumentError, match="Bilinear: in1_features must be an int >= 0"):
        Bilinear(-1, 2, 3)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Bilinear(3, 4, 5).double()
    m = Bilinear(3, 4, 5, dtype="float64")
    m.load_state_dict(ref.state_dict())
    a, b = np.random.default_rng(0).standard_normal((2, 6, 3)), np.random.default_rng(1).standard_normal((2, 6, 4))
    x1, x2 = gk.tensor(a, requires_grad=True), gk.tensor(b, requires_grad=True)
    t1, t2 = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = m(x1, x2), ref(t1, t2)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    for ours, theirs in ((x1.grad, t1.grad), (x2.grad, t2.grad), (m.weight.grad, ref.weight.grad),
                         (m.bias.grad, ref.bias.grad)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-11)
    back = torch.nn.Bilinear(3, 4, 5).double()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(back.weight.detach().numpy(), m.weight.numpy())
    assert repr(m) == repr(ref)


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    m = Bilinear(2, 3, 4, dtype="float64").to(device)
    x1, x2 = _rand(5, 2, seed=1, device=device), _rand(5, 3, seed=2, device=device)
    refuse_host_reads(device, monkeypatch)
    (m(x1, x2) ** 2).sum().backward()
