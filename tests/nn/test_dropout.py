"""Dropout1d, Dropout3d, AlphaDropout and FeatureAlphaDropout with their functional forms.

Masks whole per channel and scaled by 1 / (1 - p); alpha dropout's two values, its mean and variance on
a zero-mean unit-variance input, and PyTorch's constants (read back from torch's own output); identity
in evaluation mode; gradients (the mask's scale) and seeded gradchecks; argument and rank errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn.dropout import (
    AlphaDropout,
    Dropout1d,
    Dropout3d,
    FeatureAlphaDropout,
    alpha_dropout,
    dropout1d,
    dropout3d,
    feature_alpha_dropout,
)

ALPHA = 1.7580993408473766


def _alpha_values(p: float) -> tuple[float, float, float]:
    """(a, the shift of a kept element, the value of a dropped one) of alpha dropout with probability p."""
    a = 1 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    return a, a * ALPHA * p, a * ALPHA * (p - 1)


@pytest.mark.parametrize("fn, shape", [(dropout1d, (40, 50, 3)), (dropout1d, (2000, 4)),
                                       (dropout3d, (40, 50, 2, 1, 2)), (dropout3d, (2000, 1, 2, 2))])
def test_channel_dropout_zeros_whole_channels(device, fn, shape):
    gk.manual_seed(0)
    x = gk.ones(*shape, dtype="float64", device=device, requires_grad=True)
    y = fn(x, 0.3)
    channels = y.numpy().reshape(math.prod(shape[:-3 if fn is dropout3d else -1]), -1)
    assert set(np.unique(channels)) <= {0.0, 1 / 0.7}
    assert (channels.min(1) == channels.max(1)).all()  # each channel kept or dropped whole
    assert abs((channels[:, 0] == 0).mean() - 0.3) < 0.03
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # the gradient is the mask's scale
    assert fn(x, 0.3, training=False) is x and fn(x, 0.0) is x
    np.testing.assert_array_equal(fn(x, 1.0).numpy(), 0)


def test_channel_dropout_modules_gradcheck_and_errors(device):
    x = gk.tensor(np.random.default_rng(0).standard_normal((2, 3, 2)), device=device, requires_grad=True)
    assert gk.gradcheck(lambda u: (gk.manual_seed(2), dropout1d(u, 0.5))[1], (x,))
    m = Dropout1d(0.4)
    assert repr(m) == "Dropout1d(p=0.4, inplace=False)" and m.state_dict() == {}
    gk.manual_seed(5)
    y = m(x)
    gk.manual_seed(5)
    np.testing.assert_array_equal(y.numpy(), dropout1d(x, 0.4).numpy())
    assert m.eval()(x) is x
    assert repr(Dropout3d()) == "Dropout3d(p=0.5, inplace=False)"
    with pytest.raises(gk.ShapeError, match=r"dropout1d: expected a 3-D \(N, C, ...\) or 2-D \(C, ...\) input .*"
                                            r"got input of shape \(2, 3, 2, 2\)"):
        Dropout1d().eval()(gk.zeros(2, 3, 2, 2, device=device))  # checked in evaluation mode too
    with pytest.raises(gk.ShapeError, match=r"dropout3d: expected a 5-D \(N, C, ...\) or 4-D \(C, ...\) input"):
        dropout3d(gk.zeros(2, 3, 4, device=device))
    with pytest.raises(gk.InvalidArgumentError, match="Dropout1d: p must be a probability in"):
        Dropout1d(1.5)
    with pytest.raises(gk.InvalidArgumentError, match="dropout3d: p must be a probability in"):
        dropout3d(gk.zeros(1, 1, 1, 1, device=device), -0.1)
    with pytest.raises(gk.DTypeError, match="dropout1d: input must be a float tensor"):
        dropout1d(gk.zeros(2, 3, dtype="int64", device=device))
    with pytest.raises(gk.ArgumentTypeError, match="dropout1d: training must be True or False"):
        dropout1d(x, 0.5, "yes")


def test_alpha_dropout_keeps_mean_and_variance(device):
    gk.manual_seed(0)
    n = 200_000
    x = gk.tensor(np.random.default_rng(1).standard_normal(n), device=device)
    for p in (0.1, 0.5):
        y = alpha_dropout(x, p, training=True).numpy()
        assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.02, (p, y.mean(), y.var())
        a, shift, dropped = _alpha_values(p)
        drop = np.isclose(y, dropped, rtol=0, atol=1e-12)
        assert abs(drop.mean() - p) < 0.01
        np.testing.assert_allclose(y[~drop], a * x.numpy()[~drop] + shift, rtol=1e-12)
    assert alpha_dropout(x, 0.5) is x  # training=False by default (PyTorch's)
    np.testing.assert_array_equal(alpha_dropout(x[:4], 1.0, True).numpy(), 0)


def test_alpha_dropout_gradients_and_modules(device):
    x = gk.tensor(np.random.default_rng(2).standard_normal((3, 4)), device=device, requires_grad=True)
    gk.manual_seed(3)
    y = alpha_dropout(x, 0.25, True)
    y.sum().backward()
    a, _, dropped = _alpha_values(0.25)
    kept = ~np.isclose(y.numpy(), dropped, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-14)
    assert gk.gradcheck(lambda u: (gk.manual_seed(4), alpha_dropout(u, 0.3, True))[1], (x,))
    second = lambda u: gk.grad(lambda v: ((gk.manual_seed(4), alpha_dropout(v, 0.3, True))[1] * v).sum())(u)
    assert gk.gradcheck(second, (x,))

    m = AlphaDropout(0.2)
    assert repr(m) == "AlphaDropout(p=0.2, inplace=False)" and m.state_dict() == {}
    gk.manual_seed(6)
    out = m(x)
    gk.manual_seed(6)
    np.testing.assert_array_equal(out.numpy(), alpha_dropout(x, 0.2, True).numpy())
    assert m.eval()(x) is x
    with pytest.raises(gk.InvalidArgumentError, match="AlphaDropout: p must be a probability"):
        AlphaDropout(2)


def test_feature_alpha_dropout(device):
    gk.manual_seed(0)
    x = gk.tensor(np.random.default_rng(3).standard_normal((300, 20, 5)), device=device)
    y = feature_alpha_dropout(x, 0.4, True).numpy()
    a, shift, dropped = _alpha_values(0.4)
    drop = np.isclose(y, dropped, rtol=0, atol=1e-12)
    assert (drop.all(2) | ~drop.any(2)).all()  # whole channels
    assert abs(drop[:, :, 0].mean() - 0.4) < 0.02
    np.testing.assert_allclose(y[~drop], a * x.numpy()[~drop] + shift, rtol=1e-12)
    assert feature_alpha_dropout(x, 0.4) is x
    m = FeatureAlphaDropout(0.4)
    assert repr(m) == "FeatureAlphaDropout(p=0.4, inplace=False)" and m.eval()(x) is x
    with pytest.raises(gk.ShapeError, match=r"feature_alpha_dropout: expected input of shape \(N, C, \*\)"):
        feature_alpha_dropout(gk.zeros(3, device=device), 0.5, True)


def test_alpha_dropout_constants_match_torch():
    torch = pytest.importorskip("torch")
    xv = np.random.default_rng(4).standard_normal(20_000)
    for p in (0.2, 0.6):
        y = torch.nn.functional.alpha_dropout(torch.tensor(xv), p, True).numpy()
        a, shift, dropped = _alpha_values(p)
        drop = np.isclose(y, dropped, rtol=0, atol=1e-12)
        assert 0 < drop.mean() < 1
        np.testing.assert_allclose(y[~drop], a * xv[~drop] + shift, rtol=1e-12)  # torch's kept values, our a
    for name in ("Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
        mod = {"Dropout1d": Dropout1d, "Dropout3d": Dropout3d, "AlphaDropout": AlphaDropout,
               "FeatureAlphaDropout": FeatureAlphaDropout}[name]
        assert repr(mod(0.3)) == repr(getattr(torch.nn, name)(0.3))


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    x = gk.tensor(np.random.default_rng(5).standard_normal((2, 3, 2, 2, 2)), device=device, requires_grad=True)
    layers = [Dropout1d(), Dropout3d(), AlphaDropout(0.3), FeatureAlphaDropout(0.3)]
    refuse_host_reads(device, monkeypatch)
    for m in layers:
        for p in (0.3, 1.0):
            m.p = p
            u = x[:, :, :, 0, 0] if isinstance(m, Dropout1d) else x
            (m(u) * u).sum().backward()
