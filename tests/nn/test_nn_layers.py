"""Layers: PyTorch's shapes, defaults and formulas; gradients through gk.gradcheck in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


def _rand(device: str, *shape: int, seed: int = 0, dtype: str = "float64", grad: bool = True) -> gk.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=grad)


# ------------------------------------------------------------------ Linear
def test_linear_shapes_init_and_forward(device):
    gk.manual_seed(0)
    lin = nn.Linear(300, 20, device=device)
    assert lin.weight.shape == (20, 300) and lin.bias.shape == (20,)
    assert lin.weight.dtype == np.float32 and lin.weight.device.startswith(device)
    bound = 1 / math.sqrt(300)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound  # uniform over the whole range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    x = _rand(device, 5, 300, dtype="float32", grad=False)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ w.T + b, rtol=1e-5, atol=1e-5)
    assert lin(x).dtype == np.float32
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_is_one_node_with_correct_gradients(device):
    x, w, b = _rand(device, 4, 3), _rand(device, 2, 3, seed=1), _rand(device, 2, seed=2)
    y = F.linear(x, w, b)
    assert y.grad_fn.name == "linear" and all(e is not None for e in y.grad_fn.next)
    assert gk.gradcheck(F.linear, (x, w, b))
    assert gk.gradcheck(F.linear, (_rand(device, 2, 4, 3), w, b))  # batched leading axes
    assert gk.gradcheck(lambda x, w: F.linear(x, w), (_rand(device, 3), w))  # 1-D input, no bias


def test_linear_second_order(device):
    x, w, b = _rand(device, 3, 2), _rand(device, 2, 2, seed=1), _rand(device, 2, seed=2)

    def grad_w(x, w, b):
        return gk.grad(lambda w: (F.linear(x, w, b) ** 2).sum())(w)

    assert gk.gradcheck(grad_w, (x, w, b))


def test_linear_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(gk.ShapeError, match=r"\(4, 5\).*\(2, 3\)"):
        lin(gk.ones(4, 5))
    with pytest.raises(gk.DTypeError, match="float64"):
        lin(gk.ones(4, 3, dtype="float64"))
    with pytest.raises(gk.InvalidArgumentError):
        nn.Linear(-1, 2)


# ------------------------------------------------------------------ activations
@pytest.mark.parametrize(
    "module,fn",
    [
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
        (nn.Tanh(), np.tanh),
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
        (nn.LogSoftmax(dim=1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
        (nn.GELU(), lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
        (
            nn.GELU("tanh"),
            lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        ),
        (nn.Identity(), lambda x: x),
    ],
    ids=["relu", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax", "gelu", "gelu_tanh", "identity"],
)
def test_activation_values_and_gradients(device, module, fn):
    x = _rand(device, 3, 4)
    np.testing.assert_allclose(module(x).numpy(), fn(x.numpy()), rtol=1e-10, atol=1e-12)
    if not isinstance(module, nn.Identity):
        assert gk.gradcheck(module, (x,))


def test_relu_is_one_node_with_zero_gradient_at_zero(device):
    x = gk.tensor([-1.0, 0.0, 2.0], device=device, requires_grad=True)
    y = F.relu(x)
    assert y.grad_fn.name == "relu" and y.grad_fn.next[0] is x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1])


def test_activations_keep_float32(device):
    x = _rand(device, 2, 3, dtype="float32")
    for module in (nn.ReLU(), nn.LeakyReLU(), nn.GELU(), nn.GELU("tanh"), nn.Tanh(), nn.Sigmoid(), nn.Softmax(-1),
                   nn.LogSoftmax(-1), nn.Dropout(0.3), nn.LayerNorm(3, device=device),
                   nn.BatchNorm1d(2, device=device).eval()):
        if isinstance(module, nn.BatchNorm1d):
            assert module(_rand(device, 4, 2, dtype="float32")).dtype == np.float32
        else:
            assert module(x).dtype == np.float32, type(module).__name__


def test_erf_fallback_is_accurate():
    xs = np.linspace(-7, 7, 2001)
    expected = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(F._erf_fallback(np, xs), expected, rtol=0, atol=2e-15)
    np.testing.assert_allclose(F._erf_fallback(np, xs.astype(np.float32)), expected, atol=1e-6)


# ------------------------------------------------------------------ Flatten, Dropout
def test_flatten(device):
    x = _rand(device, 2, 3, 4, grad=False)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)


def test_dropout_only_in_training_mode(device):
    gk.manual_seed(3)
    x = gk.ones(200, 50, dtype="float64", device=device)
    drop = nn.Dropout(0.25)
    y = drop(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert drop.eval()(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    with pytest.raises(gk.InvalidArgumentError, match="1.5"):
        nn.Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask(device):
    x = _rand(device, 6, 5)

    def f(x):
        gk.manual_seed(0)
        return F.dropout(x, 0.4)

    assert gk.gradcheck(f, (x,))


# ------------------------------------------------------------------ LayerNorm
def test_layer_norm_values_and_gradients(device):
    x = _rand(device, 4, 2, 5)
    ln = nn.LayerNorm((2, 5), device=device, dtype="float64")
    assert ln.weight.shape == (2, 5) and list(ln.state_dict()) == ["weight", "bias"]
    xv = x.numpy()
    mu = xv.mean(axis=(1, 2), keepdims=True)
    var = xv.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ln(x).numpy(), (xv - mu) / np.sqrt(var + 1e-5), rtol=1e-10, atol=1e-12)
    w, b = _rand(device, 5, seed=1), _rand(device, 5, seed=2)
    assert gk.gradcheck(lambda x, w, b: F.layer_norm(x, 5, w, b), (x, w, b))
    with pytest.raises(gk.ShapeError):
        F.layer_norm(x, (3,))


# ------------------------------------------------------------------ BatchNorm1d
def test_batchnorm_training_statistics(device):
    bn = nn.BatchNorm1d(3, momentum=0.2, device=device, dtype="float64")
    x = _rand(device, 8, 3, grad=False)
    xv = x.numpy()
    y = bn(x).numpy()
    np.testing.assert_allclose(y, (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * xv.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * xv.var(0, ddof=1), rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 1
    bn(x)
    assert int(bn.num_batches_tracked.item()) == 2
    bn.eval()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(bn(x).numpy(), (xv - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    assert int(bn.num_batches_tracked.item()) == 2  # eval does not count


def test_batchnorm_cumulative_average_and_3d(device):
    bn = nn.BatchNorm1d(2, momentum=None, device=device, dtype="float64")
    a, b = _rand(device, 4, 2, 3, grad=False), _rand(device, 4, 2, 3, seed=5, grad=False)
    bn(a)
    bn(b)
    means = [t.numpy().mean(axis=(0, 2)) for t in (a, b)]
    np.testing.assert_allclose(bn.running_mean.numpy(), (means[0] + means[1]) / 2, rtol=1e-12)
    with pytest.raises(gk.ShapeError, match="more than 1 value"):
        bn(gk.ones(1, 2, dtype="float64", device=device))
    with pytest.raises(gk.ShapeError):
        bn(gk.ones(3, 5, device=device))


def test_batch_norm_gradients(device):
    x, w, b = _rand(device, 5, 3), _rand(device, 3, seed=1), _rand(device, 3, seed=2)
    assert gk.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm = gk.zeros(3, dtype="float64", device=device)
    rv = gk.ones(3, dtype="float64", device=device)
    assert gk.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x, w, b))
    x3 = _rand(device, 3, 2, 4)
    assert gk.gradcheck(lambda x: nn.BatchNorm1d(2, device=device, dtype="float64")(x), (x3,))


# ------------------------------------------------------------------ Embedding
def test_embedding_lookup_gradient_and_padding(device):
    gk.manual_seed(1)
    emb = nn.Embedding(10, 3, padding_idx=0, device=device)
    np.testing.assert_array_equal(emb.weight.numpy()[0], 0)
    idx = gk.tensor([[1, 0, 1], [4, 9, 0]], device=device)
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx.numpy()])
    out.sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[[1, 4, 9]], [[2] * 3, [1] * 3, [1] * 3])
    np.testing.assert_array_equal(grad[0], 0)  # padding_idx gets no gradient
    w = _rand(device, 5, 2)
    assert gk.gradcheck(lambda w: F.embedding(gk.tensor([3, 3, 1], device=device), w), (w,))
    with pytest.raises(gk.IndexOutOfRangeError, match="10"):
        emb(gk.tensor([10], device=device))
    with pytest.raises(gk.DTypeError):
        emb(gk.tensor([1.0], device=device))


# ------------------------------------------------------------------ a whole model
def test_mlp_parameter_gradients(device):
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).to(device).double()
    x = _rand(device, 6, 4, grad=False)
    t = gk.tensor([0, 2, 1, 1, 0, 2], device=device)
    params = list(model.parameters())

    def loss(*ps):
        h = F.tanh(F.linear(x, ps[0], ps[1]))
        return F.cross_entropy(F.linear(h, ps[2], ps[3]), t)

    assert gk.gradcheck(loss, tuple(p.detach().requires_grad_() for p in params))
    F.cross_entropy(model(x), t).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in params)


# ------------------------------------------------------------------ Linear + ReLU fusion
def test_linear_relu_node_gradients(device):
    x, w, b = _rand(device, 5, 3), _rand(device, 4, 3, seed=1), _rand(device, 4, seed=2)
    y = F.linear_relu(x, w, b)
    assert y.grad_fn.name == "linear_relu"
    np.testing.assert_allclose(y.numpy(), np.maximum(x.numpy() @ w.numpy().T + b.numpy(), 0), rtol=1e-12)
    assert gk.gradcheck(F.linear_relu, (x, w, b))
    assert gk.gradcheck(lambda x, w: F.linear_relu(x, w), (_rand(device, 2, 3, 3), w))

    def grad_w(x, w, b):
        return gk.grad(lambda w: (F.linear_relu(x, w, b) ** 2).sum())(w)

    assert gk.gradcheck(grad_w, (x, w, b))


def test_sequential_fuses_linear_relu_with_the_same_results(device):
    class MyReLU(nn.ReLU):
        pass

    gk.manual_seed(0)
    fused = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    plain = nn.Sequential(nn.Linear(3, 4), MyReLU(), nn.Linear(4, 2)).to(device)
    plain.load_state_dict(fused.state_dict())
    x = _rand(device, 6, 3, dtype="float32", grad=False)
    out_f, out_p = fused(x), plain(x)
    assert out_f.grad_fn.next[0].name == "linear_relu"
    assert out_p.grad_fn.next[0].name == "relu"
    np.testing.assert_array_equal(out_f.numpy(), out_p.numpy())
    (out_f ** 2).sum().backward()
    (out_p ** 2).sum().backward()
    for a, b in zip(fused.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)
    fused.append(nn.Tanh())  # the plan follows changes to the children
    assert fused(x).grad_fn.name == "tanh"


def test_linear_relu_retained_graph_backward_twice(device):
    x, w = _rand(device, 4, 3), _rand(device, 2, 3, seed=1)
    y = F.linear_relu(x, w)
    g1 = gk.tensor(np.ones((4, 2)), device=device)
    g2 = gk.tensor(np.full((4, 2), 3.0), device=device)
    y.backward(g1, retain_graph=True)
    first = w.grad.numpy()
    w.grad = None
    y.backward(g2)
    np.testing.assert_allclose(w.grad.numpy(), 3 * first, rtol=1e-12)
