"""Second order through piecewise-linear functions: what lies before them gets zeros, as in PyTorch.

A gradient penalty differentiates a gradient that passed through a relu (or leaky_relu, hardtanh, clip,
abs, ...). The relu's slope is piecewise constant in its input, so the penalty's derivative through it is
zero; PyTorch still reaches the input (its backward nodes keep it), so ``autograd.grad(penalty,
D.parameters())`` gives a bias before a LeakyReLU a zero gradient. gradkit used to call that bias unused.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import functional as F

ACTIVATIONS = {
    "ops.relu": gk.relu,
    "F.relu": F.relu,
    "leaky_relu": lambda v: F.leaky_relu(v, 0.2),
    "hardtanh": F.hardtanh,
    "relu6": F.relu6,
    "hardsigmoid": F.hardsigmoid,
    "hardshrink": F.hardshrink,
    "softshrink": F.softshrink,
    "threshold": lambda v: F.threshold(v, 0.1, -2.0),
    "abs": gk.abs,
    "clip": lambda v: gk.clip(v, -0.5, 0.5),
}

X = np.random.default_rng(0).standard_normal((6, 3))


def _critic(device, act):
    """A two-layer critic with parameters W1, b1, W2 as leaves (float64)."""
    rng = np.random.default_rng(1)
    w1 = gk.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    b1 = gk.tensor(rng.standard_normal(4) * 0.5, device=device, requires_grad=True)
    w2 = gk.tensor(rng.standard_normal((4, 1)), device=device, requires_grad=True)
    return (w1, b1, w2), lambda x: act(x @ w1 + b1) @ w2


def _penalty(device, f):
    x = gk.tensor(X, device=device, requires_grad=True)
    (gx,) = gk.autograd.grad(f(x).sum(), x, create_graph=True)
    return (((gx * gx).sum(axis=1) - 1.0) ** 2).mean()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_a_bias_before_a_piecewise_function_gets_zeros_from_a_gradient_penalty(device, name):
    (w1, b1, w2), critic = _critic(device, ACTIVATIONS[name])
    gw1, gb1, gw2 = gk.autograd.grad(_penalty(device, critic), [w1, b1, w2])
    np.testing.assert_array_equal(gb1.numpy(), np.zeros(4))  # the slope is constant in b1: zero, not "unused"
    assert gb1.dtype == b1.dtype and gb1.device == b1.device
    assert np.abs(gw1.numpy()).sum() > 0 and np.abs(gw2.numpy()).sum() > 0


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_the_penaltys_gradients_match_central_differences(device, name):
    (w1, b1, w2), _ = _critic(device, ACTIVATIONS[name])
    act = ACTIVATIONS[name]

    def penalty_of(w1_, b1_, w2_):
        return _penalty(device, lambda x: act(x @ w1_ + b1_) @ w2_)

    assert gk.gradcheck(penalty_of, (w1, b1, w2), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_backward_gives_the_bias_a_zero_grad(device):
    (w1, b1, w2), critic = _critic(device, lambda v: F.leaky_relu(v, 0.2))
    _penalty(device, critic).backward()
    np.testing.assert_array_equal(b1.grad.numpy(), np.zeros(4))


def test_a_first_order_backward_records_nothing(device):
    (w1, b1, w2), critic = _critic(device, gk.relu)
    x = gk.tensor(X, device=device, requires_grad=True)
    (gx,) = gk.autograd.grad(critic(x).sum(), x)
    assert gx.grad_fn is None and not gx.requires_grad


def test_the_fused_linear_relu_of_a_sequential_too(device):
    gk.manual_seed(0)
    nn = gk.nn
    critic = nn.Sequential(nn.Linear(3, 4, dtype="float64", device=device), nn.ReLU(),
                           nn.Linear(4, 1, dtype="float64", device=device))
    first_weight, first_bias, second_weight, second_bias = critic.parameters()
    grads = gk.autograd.grad(_penalty(device, critic), [first_weight, first_bias, second_weight])
    np.testing.assert_array_equal(grads[1].numpy(), np.zeros(4))
    with pytest.raises(gk.AutogradError, match="not part of the graph"):  # as PyTorch: the last bias is unused
        gk.autograd.grad(_penalty(device, critic), [second_bias])


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    gk.manual_seed(0)
    nn = gk.nn
    ours = nn.Sequential(nn.Linear(3, 4, dtype="float64", device="cpu"), nn.LeakyReLU(0.2),
                         nn.Linear(4, 1, dtype="float64", device="cpu"))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.2), torch.nn.Linear(4, 1)).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    tx = torch.tensor(X, requires_grad=True)
    (tgx,) = torch.autograd.grad(theirs(tx).sum(), tx, create_graph=True)
    t_grads = torch.autograd.grad((((tgx * tgx).sum(1) - 1.0) ** 2).mean(), list(theirs.parameters())[:3])
    grads = gk.autograd.grad(_penalty("cpu", ours), list(ours.parameters())[:3])
    for g, tg in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-12, atol=1e-14)
