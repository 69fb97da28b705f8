"""gk.nn.utils.parametrize and gk.nn.utils.parametrizations (weight_norm, spectral_norm), as PyTorch 2's:
values against closed forms, gradients against float64 central differences, state-dict keys, right_inverse
and assignment, stacking, buffers, removal both ways, cached(), copies, checkpoints, a training step, devices
and errors; where torch is importable, state dicts, values and gradients against PyTorch's."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn.utils import parametrizations
from gradkit.nn.utils import parametrize as P

spectral_norm, weight_norm = parametrizations.spectral_norm, parametrizations.weight_norm


class Symmetric(gk.nn.Module):
    def forward(self, x):
        return gk.triu(x) + gk.triu(x, 1).T

    def right_inverse(self, a):
        return gk.triu(a)


class Double(gk.nn.Module):
    def forward(self, x):
        return x * 2

    def right_inverse(self, y):
        return y / 2


class NoInverse(gk.nn.Module):
    def forward(self, x):
        return x + 1


class RankOne(gk.nn.Module):
    def forward(self, x, y):
        return gk.outer(x, y)

    def right_inverse(self, z):
        return z[:, 0], gk.ones_like(z[0])  # exact for a matrix whose columns are all its first column


class Flatten(gk.nn.Module):
    def forward(self, x):
        return x.reshape(-1)


def _linear(device, n_in=3, n_out=3, bias=True, seed=0):
    gk.manual_seed(seed)
    return gk.nn.Linear(n_in, n_out, bias=bias, device=device, dtype="float64")


def _rand(*shape, seed=0, device="cpu"):
    return gk.tensor(np.random.default_rng(seed).standard_normal(shape), device=device)


def test_register_moves_the_tensor_and_differentiates_through_the_parametrization(device):
    m = _linear(device)
    w = m.weight
    P.register_parametrization(m, "weight", Symmetric())
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, gk.nn.Linear)
    assert P.type_before_parametrizations(m) is gk.nn.Linear
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]  # PyTorch's keys and order
    assert [n for n, _ in m.named_parameters()] == ["bias", "parametrizations.weight.original"]
    assert "weight" not in m.__dict__ and "weight" not in m._parameters  # only the descriptor gives it
    assert isinstance(m.parametrizations, gk.nn.ModuleDict)
    assert isinstance(m.parametrizations.weight, P.ParametrizationList)
    original = m.parametrizations.weight.original
    assert original is w  # the same Parameter object, given triu(w) by right_inverse
    np.testing.assert_array_equal(original.numpy(), np.triu(original.numpy()))
    mw = m.weight.numpy()
    np.testing.assert_array_equal(mw, mw.T)
    assert repr(m) == ("ParametrizedLinear(\n  in_features=3, out_features=3, bias=True\n  (parametrizations): "
                       "ModuleDict(\n    (weight): ParametrizationList(\n      (0): Symmetric()\n    )\n  )\n)")
    c = _rand(3, 3, seed=1, device=device)
    (m.weight * c).sum().backward()
    cn = c.numpy()
    np.testing.assert_allclose(original.grad.numpy(), np.triu(cn) + np.triu(cn.T, 1), rtol=1e-12)
    x = _rand(2, 3, seed=2, device=device)
    np.testing.assert_allclose(m(x).numpy(), x.numpy() @ mw.T + m.bias.numpy(), rtol=1e-12)


def test_assignment_goes_through_right_inverse(device):
    m = _linear(device)
    P.register_parametrization(m, "weight", Symmetric())
    original = m.parametrizations.weight.original
    a = _rand(3, 3, seed=3, device=device)
    a = a + a.T
    m.weight = a
    np.testing.assert_allclose(m.weight.numpy(), a.numpy(), rtol=1e-12)
    assert m.parametrizations.weight.original is original and "weight" not in m.__dict__
    m.weight = gk.nn.Parameter(a * 2)  # a Parameter goes through right_inverse too
    np.testing.assert_allclose(m.weight.numpy(), 2 * a.numpy(), rtol=1e-12)
    assert m.parametrizations.weight.original is original and list(m.state_dict())[-1].endswith("original")
    with pytest.raises(gk.ShapeError, match=r"assigning to a parametrized tensor: right_inverse returned a tensor "
                                            r"of shape \(2, 2\) for original, which has shape \(3, 3\)"):
        m.weight = gk.zeros(2, 2, dtype="float64", device=device)
    with pytest.raises(gk.DTypeError, match="assigning to a parametrized tensor: .* dtype float32"):
        m.weight = gk.zeros(3, 3, device=device)
    with pytest.raises(gk.ArgumentTypeError, match="assigning to a parametrized tensor: expected a Tensor"):
        m.weight = 3.0
    with pytest.raises(gk.nn.ModuleAttributeError, match="'weight' is parametrized; call .*remove_parametrizations"):
        del m.weight
    n = _linear(device)
    P.register_parametrization(n, "weight", NoInverse())
    with pytest.raises(P.ParametrizationError, match="NoInverse does not implement right_inverse"):
        n.weight = a


def test_stacked_parametrizations_and_unsafe(device):
    m = _linear(device)
    w = m.weight.numpy().copy()
    P.register_parametrization(m, "weight", Symmetric())
    P.register_parametrization(m, "weight", Double())
    assert len(m.parametrizations.weight) == 2
    sym = np.triu(w) + np.triu(w, 1).T
    np.testing.assert_allclose(m.weight.numpy(), 2 * sym, rtol=1e-12)
    m.weight = gk.tensor(4 * sym, device=device)  # Double's inverse, then Symmetric's
    np.testing.assert_allclose(m.weight.numpy(), 4 * sym, rtol=1e-12)
    with pytest.raises(gk.ShapeError, match=r"register_parametrization: the parametrization changes the shape of "
                                            r"the tensor \(module.weight's \(3, 3\) -> \(9,\)\); pass unsafe=True"):
        P.register_parametrization(m, "weight", Flatten())
    assert len(m.parametrizations.weight) == 2  # nothing changed
    b = _linear(device)
    with pytest.raises(gk.ShapeError, match=r"ParametrizationList: the parametrization changes the shape"):
        P.register_parametrization(b, "weight", Flatten())
    assert type(b) is gk.nn.Linear and list(b.state_dict()) == ["weight", "bias"]  # left as it was
    P.register_parametrization(b, "weight", Flatten(), unsafe=True)
    assert b.weight.shape == (9,) and b.parametrizations.weight.unsafe


def test_right_inverse_returning_several_tensors(device):
    m = _linear(device, bias=False)
    col = _rand(3, seed=4, device=device)
    m.weight = gk.nn.Parameter(gk.outer(col, gk.ones(3, dtype="float64", device=device)))
    P.register_parametrization(m, "weight", RankOne())
    plist = m.parametrizations.weight
    assert not plist.is_tensor and plist.ntensors == 2
    assert list(m.state_dict()) == ["parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert all(isinstance(p, gk.nn.Parameter) and p.requires_grad for p in (plist.original0, plist.original1))
    np.testing.assert_allclose(m.weight.numpy(), np.outer(col.numpy(), np.ones(3)), rtol=1e-12)
    m.weight = gk.outer(2 * col, gk.ones(3, dtype="float64", device=device))
    np.testing.assert_allclose(plist.original0.numpy(), 2 * col.numpy(), rtol=1e-12)
    with pytest.raises(gk.InvalidArgumentError, match="remove_parametrizations: cannot use leave_parametrized=False"):
        P.remove_parametrizations(m, "weight", leave_parametrized=False)
    value = m.weight.numpy()
    P.remove_parametrizations(m, "weight")
    assert isinstance(m.weight, gk.nn.Parameter) and m.weight.requires_grad and type(m) is gk.nn.Linear
    np.testing.assert_allclose(m.weight.numpy(), value, rtol=1e-12)


def test_a_buffer_can_be_parametrized(device):
    m = _linear(device)
    m.register_buffer("scale", _rand(3, 3, seed=5, device=device))
    P.register_parametrization(m, "scale", Double())
    assert list(m.state_dict()) == ["weight", "bias", "parametrizations.scale.original"]
    assert [n for n, _ in m.named_buffers()] == ["parametrizations.scale.original"]
    assert len(list(m.parameters())) == 2
    scale = m.scale.numpy().copy()
    np.testing.assert_allclose(m.parametrizations.scale.original.numpy(), scale / 2, rtol=1e-12)  # right_inverse
    P.remove_parametrizations(m, "scale")
    assert "scale" in m._buffers and list(m.state_dict())[-1] == "scale"
    np.testing.assert_allclose(m.scale.numpy(), scale, rtol=1e-12)


def test_remove_parametrizations_both_ways(device):
    for leave in (True, False):
        m = _linear(device)
        P.register_parametrization(m, "weight", Double())
        original = m.parametrizations.weight.original
        orig_value = original.numpy().copy()
        value = m.weight.numpy().copy()
        opt = gk.optim.SGD(m.parameters(), lr=0.1)
        P.remove_parametrizations(m, "weight", leave_parametrized=leave)
        assert type(m) is gk.nn.Linear and "parametrizations" not in m._modules
        assert not P.is_parametrized(m) and list(m.state_dict()) == ["bias", "weight"]
        assert m.weight is original and m.__dict__["weight"] is original  # the optimiser's parameter still
        np.testing.assert_allclose(m.weight.numpy(), value if leave else orig_value, rtol=1e-12)
        m(_rand(2, 3, device=device)).sum().backward()
        opt.step()
    with pytest.raises(gk.InvalidArgumentError, match="remove_parametrizations: Linear has no parametrization on "
                                                      "'weight'"):
        P.remove_parametrizations(m, "weight")
    m = _linear(device)  # one of two parametrized tensors removed: the other stays, and the class
    P.register_parametrization(m, "weight", Double())
    P.register_parametrization(m, "bias", Double())
    P.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear" and P.is_parametrized(m, "bias")
    assert list(m.state_dict()) == ["weight", "parametrizations.bias.original"]


def test_cached_computes_each_tensor_once():
    calls = []

    class Counting(gk.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 1

    m = _linear("cpu")
    P.register_parametrization(m, "weight", Counting())
    calls.clear()
    assert m.weight is not m.weight and len(calls) == 2
    with P.cached():
        first = m.weight
        with P.cached():
            assert m.weight is first
        assert m.weight is first
    assert len(calls) == 3 and m.weight is not first


def test_errors_name_the_op(device):
    m = _linear(device)
    with pytest.raises(gk.InvalidArgumentError, match="register_parametrization: Linear has no parameter, buffer or "
                                                      "parametrized tensor named 'kernel'"):
        P.register_parametrization(m, "kernel", Double())
    with pytest.raises(gk.ArgumentTypeError, match="register_parametrization: parametrization must be a "
                                                   "gk.nn.Module"):
        P.register_parametrization(m, "weight", lambda x: x)
    with pytest.raises(gk.ArgumentTypeError, match="register_parametrization: module must be a gk.nn.Module"):
        P.register_parametrization("m", "weight", Double())
    nobias = _linear(device, bias=False)
    with pytest.raises(gk.InvalidArgumentError, match="Linear.bias is None"):
        P.register_parametrization(nobias, "bias", Double())

    class Broken(gk.nn.Module):
        def forward(self, x):
            return x * self.missing_scale

    with pytest.raises(gk.nn.ModuleAttributeError, match="missing_scale"):
        P.register_parametrization(m, "weight", Broken())
    P.register_parametrization(m, "weight", Broken(), unsafe=True)
    with pytest.raises(P.ParametrizationError, match="Linear.weight: computing the parametrized tensor raised "
                                                     "ModuleAttributeError.*missing_scale"):
        m.weight  # noqa: B018
    with pytest.raises(gk.InvalidArgumentError, match="weight_norm: Linear has no parameter"):
        weight_norm(_linear(device), "kernel")
    with pytest.raises(gk.IndexOutOfRangeError, match=r"weight_norm: dim 2 is out of range for a weight of shape "
                                                      r"\(3, 3\)"):
        weight_norm(_linear(device), dim=2)
    with pytest.raises(gk.InvalidArgumentError, match="spectral_norm: Linear has no parameter or buffer named 'k'"):
        spectral_norm(_linear(device), "k")
    with pytest.raises(gk.InvalidArgumentError, match="spectral_norm: n_power_iterations must be >= 1"):
        spectral_norm(_linear(device), n_power_iterations=0)
    with pytest.raises(gk.IndexOutOfRangeError, match="spectral_norm: dim 2 is out of range"):
        spectral_norm(_linear(device), dim=2)


def test_weight_norm_closed_forms_and_central_differences(device):
    gk.manual_seed(0)
    conv = gk.nn.Conv1d(3, 4, 5, device=device, dtype="float64")
    w = conv.weight.numpy().copy()
    shapes = {0: (4, 1, 1), 1: (1, 3, 1), 2: (1, 1, 5), -2: (1, 3, 1), -1: (), None: ()}
    for dim, shape in shapes.items():
        m = weight_norm(copy.deepcopy(conv), dim=dim)
        g = m.parametrizations.weight.original0
        v = m.parametrizations.weight.original1
        assert g.shape == shape and v.shape == w.shape, dim
        axes = tuple(a for a in range(3) if dim not in (None, -1) and a != dim % 3)
        expected_g = np.sqrt((w * w).sum(axis=axes if dim not in (None, -1) else None, keepdims=dim is not None
                                         and dim != -1))
        np.testing.assert_allclose(g.numpy(), expected_g, rtol=1e-12)
        np.testing.assert_allclose(m.weight.numpy(), w, rtol=1e-12)  # at registration w = g v / |v| is w
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]

    m = weight_norm(gk.nn.Linear(3, 2, device=device, dtype="float64"))
    x = _rand(4, 3, seed=6, device=device)

    def f(g, v, x):
        return gk.func.functional_call(
            m, {"parametrizations.weight.original0": g, "parametrizations.weight.original1": v}, (x,)
        )

    g = _rand(2, 1, seed=7, device=device).requires_grad_()
    v = _rand(2, 3, seed=8, device=device).requires_grad_()
    xr = x.detach().requires_grad_()
    assert gk.gradcheck(f, (g, v, xr))
    vn = v.numpy()
    np.testing.assert_allclose(f(g, v, x).numpy(), x.numpy() @ (g.numpy() * vn / np.linalg.norm(vn, axis=1,
                               keepdims=True)).T + m.bias.numpy(), rtol=1e-12)


def test_spectral_norm_closed_forms_and_central_differences(device):
    m = _linear(device, bias=False)
    m.weight = gk.nn.Parameter(gk.tensor(np.diag([3.0, -2.0, 1.0]), device=device))
    spectral_norm(m)
    assert list(m.state_dict()) == ["parametrizations.weight.original", "parametrizations.weight.0._u",
                                    "parametrizations.weight.0._v"]
    assert [n for n, _ in m.named_parameters()] == ["parametrizations.weight.original"]
    np.testing.assert_allclose(m.weight.numpy(), np.diag([1.0, -2 / 3, 1 / 3]), rtol=1e-8)
    sn = m.parametrizations.weight[0]
    assert not sn._u.requires_grad and np.abs(sn._u.numpy()[0]) > 1 - 1e-8
    u = sn._u.numpy().copy()
    m.eval()
    _ = m.weight
    np.testing.assert_array_equal(sn._u.numpy(), u)  # eval: no power iteration

    gk.manual_seed(1)
    lin = spectral_norm(gk.nn.Linear(4, 3, device=device, dtype="float64")).eval()
    x = _rand(2, 4, seed=9, device=device)

    def f(w, x):
        return gk.func.functional_call(lin, {"parametrizations.weight.original": w}, (x,))

    w = _rand(3, 4, seed=10, device=device).requires_grad_()
    assert gk.gradcheck(f, (w, x.detach().requires_grad_()))
    sn = lin.parametrizations.weight[0]
    sigma = sn._u.numpy() @ w.numpy() @ sn._v.numpy()
    np.testing.assert_allclose(f(w, x).numpy(), x.numpy() @ (w.numpy() / sigma).T + lin.bias.numpy(), rtol=1e-12)
    lin.train()
    before = sn._v.numpy().copy()
    y = lin(x)
    assert not np.array_equal(sn._v.numpy(), before)  # training: one power iteration per access
    y.sum().backward()  # the graph holds copies of u and v: a later iteration does not disturb it
    assert lin.parametrizations.weight.original.grad is not None

    bias_sn = spectral_norm(_linear(device), "bias")  # a 1-d tensor: divided by its 2-norm, no buffers
    b = bias_sn.parametrizations.bias.original.numpy()
    np.testing.assert_allclose(bias_sn.bias.numpy(), b / np.linalg.norm(b), rtol=1e-12)
    assert [n for n, _ in bias_sn.named_buffers()] == []

    gk.manual_seed(2)
    ct = spectral_norm(gk.nn.ConvTranspose2d(3, 4, 2, device=device, dtype="float64"))  # dim=1, as PyTorch
    sn = ct.parametrizations.weight[0]
    assert sn.dim == 1 and sn._u.shape == (4,) and sn._v.shape == (12,)
    mat = np.moveaxis(ct.parametrizations.weight.original.numpy(), 1, 0).reshape(4, -1)
    np.testing.assert_allclose(np.linalg.svd(ct.weight.numpy().transpose(1, 0, 2, 3).reshape(4, -1),
                                             compute_uv=False)[0], 1.0, rtol=1e-3)
    assert mat.shape == (4, 12)


def test_copies_checkpoints_and_module_to(device, tmp_path):
    m = weight_norm(_linear("cpu", 3, 2))
    P.register_parametrization(m, "bias", Double())
    x = _rand(4, 3, seed=11)
    y = m(x).numpy()
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(other).__name__ == "ParametrizedLinear" and type(other) is not type(m)
        assert P.type_before_parametrizations(other) is gk.nn.Linear
        np.testing.assert_allclose(other(x).numpy(), y, rtol=1e-12)
        with gk.no_grad():
            other.parametrizations.weight.original0.mul_(2)
        np.testing.assert_allclose(m(x).numpy(), y, rtol=1e-12)  # the copy is independent
        P.remove_parametrizations(other, "weight")
        assert P.is_parametrized(other) and not P.is_parametrized(other, "weight") and P.is_parametrized(m, "weight")
    path = tmp_path / "wn.safetensors"
    gk.save(m.state_dict(), str(path))
    fresh = weight_norm(_linear(device, 3, 2, seed=5))
    P.register_parametrization(fresh, "bias", Double())
    assert not np.allclose(fresh(x.to(device)).numpy(), y)
    fresh.load_state_dict(gk.load(str(path)))
    np.testing.assert_allclose(fresh(x.to(device)).numpy(), y, rtol=1e-12)
    m.to(device)
    assert m.parametrizations.weight.original1.device == m.bias.device == x.to(device).device
    np.testing.assert_allclose(m(x.to(device)).numpy(), y, rtol=1e-12)
    sn = spectral_norm(_linear("cpu", 3, 2)).eval()
    ys = sn(x).numpy()
    sn.to(device)
    assert sn.parametrizations.weight[0]._u.device == x.to(device).device
    np.testing.assert_allclose(sn(x.to(device)).numpy(), ys, rtol=1e-12)


def test_a_training_step_updates_the_originals(device):
    m = weight_norm(_linear(device, 3, 2))
    opt = gk.optim.SGD(m.parameters(), lr=0.1)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    x, t = _rand(8, 3, seed=12, device=device), _rand(8, 2, seed=13, device=device)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((m(x) - t) ** 2).mean()
        loss.backward()
        before = {n: p.numpy().copy() for n, p in m.named_parameters()}
        grads = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
        opt.step()
        for n, p in m.named_parameters():
            np.testing.assert_allclose(p.numpy(), before[n] - 0.1 * grads[n], rtol=1e-12)
        losses.append(float(loss.item()))
    assert losses[-1] < losses[0]


def test_importable_as_torch_nn_utils_submodules():
    import gradkit.nn.utils.parametrizations as imported
    from gradkit.nn.utils.parametrize import register_parametrization

    assert imported is parametrizations is gk.nn.utils.parametrizations
    assert register_parametrization is gk.nn.utils.parametrize.register_parametrization


def test_functional_call_with_the_plain_name_bypasses_the_parametrization():
    m = weight_norm(_linear("cpu", 3, 2))
    x = _rand(4, 3, seed=14)
    w = _rand(2, 3, seed=15)
    out = gk.func.functional_call(m, {"weight": w}, (x,))
    np.testing.assert_allclose(out.numpy(), x.numpy() @ w.numpy().T + m.bias.numpy(), rtol=1e-12)
    assert "weight" not in m.__dict__  # put back
    np.testing.assert_allclose(m.weight.numpy(), m.parametrizations.weight.original1.numpy(), rtol=1e-12)


def test_state_dicts_values_and_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import parametrizations as TP

    torch.manual_seed(0)
    x = np.random.default_rng(16).standard_normal((2, 3, 5, 5))
    for register, t_register in ((weight_norm, TP.weight_norm), (spectral_norm, TP.spectral_norm)):
        t = t_register(torch.nn.Conv2d(3, 4, 3).double())
        g = register(gk.nn.Conv2d(3, 4, 3, dtype="float64"))
        assert list(g.state_dict()) == list(t.state_dict())
        g.load_state_dict(t.state_dict())
        for _ in range(2):  # spectral_norm: a power iteration per call, in both
            yt, yg = t(torch.tensor(x)), g(gk.tensor(x))
            (yt**2).sum().backward()
            (yg**2).sum().backward()
            np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        for (name, p), q in zip(g.named_parameters(), t.parameters(), strict=True):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        for key, value in t.state_dict().items():
            np.testing.assert_allclose(g.state_dict()[key].numpy(), value.numpy(), rtol=1e-10, atol=1e-13)


def test_a_recurrent_layer_uses_its_parametrized_weight(device):
    from gradkit.nn.utils.parametrizations import spectral_norm

    gk.manual_seed(0)
    lstm = gk.nn.LSTM(3, 4, device=device)
    x = gk.randn(5, 2, 3, device=device)
    spectral_norm(lstm, "weight_hh_l0")
    lstm.eval()  # no power iteration: weight_hh_l0 is one value
    out, _ = lstm(x)
    w = lstm.weight_hh_l0
    plain = gk.nn.LSTM(3, 4, device=device)
    plain.load_state_dict({k: v for k, v in lstm.state_dict().items() if "parametrizations" not in k}, strict=False)
    plain.weight_hh_l0 = gk.nn.Parameter(w.detach())
    np.testing.assert_allclose(out.numpy(), plain(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert lstm.parametrizations.weight_hh_l0.original.grad is not None
