"""Review of gk.nn.utils.parametrize / parametrizations (commit 07beb82): cached() given a dropped module's id,
a failed registration leaving the tensor as it was, and behaviour checked against PyTorch 2.14 by hand (the
expected keys and orders below are PyTorch's): containers, tied weights, copies trained independently,
removal then training, optimisers made before registration, load_state_dict(assign=True), AveragedModel,
MultiheadAttention and BatchNorm buffers, devices and dtypes, and a training step without host reads on the
emulated CuPy. Needs no torch."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn.utils import parametrizations
from gradkit.nn.utils import parametrize as P

spectral_norm, weight_norm = parametrizations.spectral_norm, parametrizations.weight_norm


class Double(gk.nn.Module):
    def forward(self, x):
        return x * 2

    def right_inverse(self, y):
        return y / 2


class HalveThenFlatten(gk.nn.Module):
    """right_inverse changes the tensor, forward changes its shape: registering without unsafe fails."""

    def forward(self, x):
        return (x * 2).reshape(-1)

    def right_inverse(self, y):
        return y / 2


def _rand(*shape, seed=0, device="cpu"):
    return gk.tensor(np.random.default_rng(seed).standard_normal(shape), device=device)


def _mlp(device, seed=0):
    gk.manual_seed(seed)
    m = gk.nn.Sequential(gk.nn.Linear(4, 5, device=device, dtype="float64"), gk.nn.Tanh(),
                         gk.nn.Linear(5, 3, device=device, dtype="float64"))
    weight_norm(m[0])
    spectral_norm(m[2])
    return m


def _train(m, device, steps=3, opt=None):
    x, t = _rand(8, 4, seed=1, device=device), _rand(8, 3, seed=2, device=device)
    opt = opt or gk.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - t) ** 2).mean().backward()
        opt.step()
    return m


def _state(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def test_cached_never_gives_a_dropped_modules_value(device):
    # Within one cached() block, a module made and dropped frees its id for the next one: the cache must not
    # give the new module the old one's tensor (it did for most of these before the review).
    with P.cached():
        for seed in range(12):
            gk.manual_seed(seed)
            m = weight_norm(gk.nn.Linear(3, 3, device=device, dtype="float64"))
            np.testing.assert_allclose(m.weight.numpy(), m.parametrizations.weight.original1.numpy(), rtol=1e-12)
            assert m.weight is m.weight
            del m


def test_a_failed_registration_leaves_the_tensor_as_it_was(device):
    gk.manual_seed(0)
    m = gk.nn.Linear(3, 3, device=device, dtype="float64")
    w = m.weight
    before = w.numpy().copy()
    with pytest.raises(gk.ShapeError, match="ParametrizationList: the parametrization changes the shape"):
        P.register_parametrization(m, "weight", HalveThenFlatten())
    assert type(m) is gk.nn.Linear and m.weight is w and list(m.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(m.weight.numpy(), before)  # not halved by right_inverse
    P.register_parametrization(m, "weight", HalveThenFlatten(), unsafe=True)
    np.testing.assert_allclose(m.weight.numpy(), before.reshape(-1), rtol=1e-12)


def test_a_sequential_has_pytorchs_names_and_orders(device):
    m = _mlp(device)
    assert [n for n, _ in m.named_parameters()] == [
        "0.bias", "0.parametrizations.weight.original0", "0.parametrizations.weight.original1", "2.bias",
        "2.parametrizations.weight.original"]
    assert list(m.state_dict()) == [
        "0.bias", "0.parametrizations.weight.original0", "0.parametrizations.weight.original1", "2.bias",
        "2.parametrizations.weight.original", "2.parametrizations.weight.0._u", "2.parametrizations.weight.0._v"]
    assert [n for n, _ in m.named_buffers()] == ["2.parametrizations.weight.0._u", "2.parametrizations.weight.0._v"]
    assert isinstance(m[0], gk.nn.Linear) and type(m[0]).__name__ == "ParametrizedLinear"
    assert type(m[0]) is not type(m[2])  # one generated class per module, as PyTorch


def test_a_sequential_relu_pair_uses_the_parametrized_weight(device):
    gk.manual_seed(0)
    m = gk.nn.Sequential(gk.nn.Linear(3, 4, device=device, dtype="float64"), gk.nn.ReLU())
    x = _rand(5, 3, seed=3, device=device)
    m(x)  # a fused Linear+ReLU plan is made for the plain Linear
    weight_norm(m[0])
    with gk.no_grad():
        m[0].parametrizations.weight.original0.mul_(3)
    expected = np.maximum(x.numpy() @ m[0].weight.numpy().T + m[0].bias.numpy(), 0)
    np.testing.assert_allclose(m(x).numpy(), expected, rtol=1e-12)
    P.remove_parametrizations(m[0], "weight")
    np.testing.assert_allclose(m(x).numpy(), expected, rtol=1e-12)


def test_a_tied_weight_as_pytorch(device):
    gk.manual_seed(0)
    a = gk.nn.Linear(3, 3, device=device, dtype="float64")
    b = gk.nn.Linear(3, 3, device=device, dtype="float64")
    b.weight = a.weight
    w0 = a.weight.numpy().copy()
    P.register_parametrization(a, "weight", Double())
    seq = gk.nn.Sequential(a, b)
    # right_inverse wrote the shared Parameter: b sees w0 / 2 (PyTorch's set_ does the same)
    np.testing.assert_allclose(b.weight.numpy(), w0 / 2, rtol=1e-12)
    np.testing.assert_allclose(a.weight.numpy(), w0, rtol=1e-12)
    assert [n for n, _ in seq.named_parameters()] == ["0.bias", "0.parametrizations.weight.original", "1.bias"]
    assert list(seq.state_dict()) == ["0.bias", "0.parametrizations.weight.original", "1.weight", "1.bias"]
    P.register_parametrization(b, "weight", Double())
    assert a.parametrizations.weight.original is b.parametrizations.weight.original
    assert list(seq.state_dict()) == ["0.bias", "0.parametrizations.weight.original", "1.bias",
                                      "1.parametrizations.weight.original"]
    x = _rand(2, 3, seed=4, device=device)
    seq(x).sum().backward()
    assert a.parametrizations.weight.original.grad is not None


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "checkpoint"])
def test_copies_train_independently(device, how, tmp_path):
    m = _mlp(device)
    start = _state(m)
    if how == "deepcopy":
        c = copy.deepcopy(m)
    elif how == "pickle":
        c = pickle.loads(pickle.dumps(m))
    else:
        path = str(tmp_path / "m.safetensors")
        gk.save(m, path)
        c = _mlp(device, seed=9)
        c.load_state_dict(gk.load(path))
    ours = {id(t) for t in [*m.parameters(), *m.buffers()]}
    assert not ours & {id(t) for t in [*c.parameters(), *c.buffers()]}
    _train(m, device)
    trained = _state(m)
    for k, v in _state(c).items():
        np.testing.assert_array_equal(v, start[k], err_msg=k)  # untouched by training m
    _train(c, device)
    for k, v in _state(c).items():
        np.testing.assert_allclose(v, trained[k], rtol=1e-12, atol=1e-15, err_msg=k)  # the same run
    for k, v in _state(m).items():
        np.testing.assert_array_equal(v, trained[k], err_msg=k)  # untouched by training c


@pytest.mark.parametrize("leave", [True, False])
def test_removal_then_training_with_the_optimiser_made_before(device, leave):
    gk.manual_seed(0)
    m = spectral_norm(gk.nn.Linear(4, 3, device=device, dtype="float64"))
    opt = gk.optim.SGD(m.parameters(), lr=0.1)
    _train(m, device, opt=opt)
    original = m.parametrizations.weight.original
    value = (m.weight if leave else original).numpy().copy()
    m.eval()  # no power iteration in the removal's read
    P.remove_parametrizations(m, "weight", leave_parametrized=leave)
    assert m.weight is original and type(m) is gk.nn.Linear and list(m.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(m.weight.numpy(), value, rtol=1e-12)
    before = m.weight.numpy().copy()
    _train(m, device, steps=1, opt=opt)  # the old optimiser still holds the same Parameter
    assert not np.array_equal(m.weight.numpy(), before)


def test_an_optimiser_made_before_registration(device):
    gk.manual_seed(0)
    m = gk.nn.Linear(4, 3, device=device, dtype="float64")
    opt = gk.optim.SGD(m.parameters(), lr=0.1)
    P.register_parametrization(m, "weight", Double())  # one original: the same Parameter, still trained
    before = m.parametrizations.weight.original.numpy().copy()
    _train(m, device, steps=1, opt=opt)
    assert not np.array_equal(m.parametrizations.weight.original.numpy(), before)
    n = gk.nn.Linear(4, 3, device=device, dtype="float64")
    opt = gk.optim.SGD(n.parameters(), lr=0.1)
    weight_norm(n)  # two new originals (as PyTorch): the old optimiser's weight gets no gradient
    g, v = (t.numpy().copy() for t in (n.parametrizations.weight.original0, n.parametrizations.weight.original1))
    _train(n, device, steps=1, opt=opt)
    np.testing.assert_array_equal(n.parametrizations.weight.original0.numpy(), g)
    np.testing.assert_array_equal(n.parametrizations.weight.original1.numpy(), v)
    assert [p.grad is None for p in opt.param_groups[0]["params"]] == [True, False]


def test_load_state_dict_assign_then_train(device):
    m = _mlp(device)
    ref = _mlp(device, seed=3)
    values = {k: gk.tensor(v.numpy() * 1.5, device=device) for k, v in ref.state_dict().items()}
    m.load_state_dict(values, assign=True)
    g = m[0].parametrizations.weight.original0
    assert isinstance(g, gk.nn.Parameter) and g.requires_grad
    assert m[2].parametrizations.weight[0]._u is values["2.parametrizations.weight.0._u"]
    x = _rand(2, 4, seed=5, device=device)
    m.eval()
    ref.load_state_dict(values)
    ref.eval()
    np.testing.assert_allclose(m(x).numpy(), ref(x).numpy(), rtol=1e-12)
    m.train()
    before = g.numpy().copy()
    _train(m, device, steps=1)
    assert not np.array_equal(g.numpy(), before) and m[0].parametrizations.weight.original0 is g


def test_averaged_model_of_a_parametrized_model(device):
    m = _mlp(device)
    avg = gk.optim.swa_utils.AveragedModel(m)
    assert list(avg.state_dict()) == ["n_averaged"] + ["module." + k for k in m.state_dict()]
    snapshots = []
    for _ in range(3):
        _train(m, device, steps=1)
        avg.update_parameters(m)
        snapshots.append({n: p.numpy().copy() for n, p in m.named_parameters()})
    for n, p in avg.module.named_parameters():
        np.testing.assert_allclose(p.numpy(), np.mean([s[n] for s in snapshots], axis=0), rtol=1e-12, err_msg=n)
    assert type(avg.module).__name__ == "Sequential" and type(avg.module[0]).__name__ == "ParametrizedLinear"


def test_multihead_in_proj_weight_and_a_batchnorm_buffer(device):
    gk.manual_seed(0)
    mha = gk.nn.MultiheadAttention(8, 2, device=device, dtype="float64")
    plain = copy.deepcopy(mha)
    spectral_norm(mha, "in_proj_weight")
    mha.eval()
    assert list(mha.state_dict()) == ["in_proj_bias", "out_proj.weight", "out_proj.bias",
                                      "parametrizations.in_proj_weight.original",
                                      "parametrizations.in_proj_weight.0._u", "parametrizations.in_proj_weight.0._v"]
    plain.in_proj_weight = gk.nn.Parameter(mha.in_proj_weight.detach())
    q = _rand(5, 2, 8, seed=6, device=device)
    np.testing.assert_allclose(mha(q, q, q)[0].numpy(), plain(q, q, q)[0].numpy(), rtol=1e-10, atol=1e-12)

    bn = gk.nn.BatchNorm1d(4, device=device, dtype="float64")
    with gk.no_grad():
        bn.running_mean.copy_(_rand(4, seed=7, device=device))
    mean = bn.running_mean.numpy().copy()
    P.register_parametrization(bn, "running_mean", Double())
    assert list(bn.state_dict()) == ["weight", "bias", "running_var", "num_batches_tracked",
                                     "parametrizations.running_mean.original"]
    assert [n for n, _ in bn.named_buffers()] == ["running_var", "num_batches_tracked",
                                                  "parametrizations.running_mean.original"]
    bn.eval()
    x = _rand(6, 4, seed=8, device=device)
    expected = (x.numpy() - mean) / np.sqrt(bn.running_var.numpy() + bn.eps)
    np.testing.assert_allclose(bn(x).numpy(), expected * bn.weight.numpy() + bn.bias.numpy(), rtol=1e-12)


def test_cached_keeps_pytorchs_graph_semantics(device):
    m = weight_norm(gk.nn.Linear(3, 4, device=device, dtype="float64"))
    x = _rand(5, 3, seed=9, device=device)
    m(x).sum().backward()
    expected = [p.grad.numpy() * 2 for p in m.parameters()]
    m.zero_grad()
    with P.cached():  # one weight for both uses: the second backward needs the graph kept, as PyTorch
        first, second = m(x).sum(), m(x).sum()
        first.backward(retain_graph=True)
        second.backward()
    for p, e in zip(m.parameters(), expected, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-12)
    with P.cached():
        first, second = m(x).sum(), m(x).sum()
        first.backward()
        with pytest.raises(gk.AutogradError, match="a second time"):
            second.backward()


def test_devices_and_dtypes(device):
    m = _mlp("cpu")
    m.eval()
    x = _rand(3, 4, seed=10)
    y = m(x).numpy()
    m.to(device)
    assert {str(t.device) for t in m.state_dict().values()} == {str(x.to(device).device)}
    np.testing.assert_allclose(m(x.to(device)).numpy(), y, rtol=1e-12)
    m.float()
    assert {str(t.dtype) for t in m.state_dict().values()} == {"float32"}
    np.testing.assert_allclose(m(x.to(device).float()).numpy(), y, rtol=1e-5, atol=1e-6)
    m.half()
    assert m(x.to(device).half()).dtype == gk.float16 and m[0].weight.dtype == gk.float16
    m.double().train()
    m(x.to(device)).sum().backward()
    assert m[2].parametrizations.weight.original.grad.device == x.to(device).device
    m[0].weight = _rand(5, 4, seed=11)  # a CPU value assigned to a module maybe elsewhere: moved
    assert m[0].parametrizations.weight.original1.device == x.to(device).device
    np.testing.assert_allclose(m[0].weight.numpy(), _rand(5, 4, seed=11).numpy(), rtol=1e-12)


def test_a_training_step_reads_nothing_on_the_host(device, monkeypatch):
    if device != "cuda":
        pytest.skip("counts the emulated CuPy's host reads")
    m = _mlp(device)
    opt = gk.optim.Adam(m.parameters(), lr=0.01, capturable=True)
    x, t = _rand(6, 4, seed=12, device=device), _rand(6, 3, seed=13, device=device)
    refuse_host_reads(device, monkeypatch)
    for _ in range(2):
        opt.zero_grad()
        ((m(x) - t) ** 2).mean().backward()
        gk.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    with P.cached():
        ((m(x) - t) ** 2).mean().backward()
