"""nn.init: PyTorch's formulas for bounds and standard deviations, fans, gains, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import init


def _big(device: str, shape: tuple = (400, 250), dtype: str = "float32") -> gk.Tensor:
    return gk.empty(shape, dtype=dtype, device=device)


def test_uniform_and_normal(device):
    gk.manual_seed(0)
    t = _big(device)
    assert init.uniform_(t, -2.0, 3.0) is t
    v = t.numpy()
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05
    init.normal_(t, 1.0, 0.5)
    v = t.numpy()
    assert abs(v.mean() - 1) < 0.01 and abs(v.std() - 0.5) < 0.01
    assert t.dtype == np.float32


def test_constant_zeros_ones(device):
    t = _big(device, (3, 2))
    np.testing.assert_array_equal(init.zeros_(t).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(t).numpy(), 1)
    np.testing.assert_array_equal(init.constant_(t, 2.5).numpy(), 2.5)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(device, mode):
    gk.manual_seed(1)
    t = _big(device)
    fan = 250 if mode == "fan_in" else 400
    init.kaiming_uniform_(t, mode=mode, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    v = t.numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    init.kaiming_normal_(t, a=0.1, mode=mode)  # leaky_relu with slope 0.1
    std = math.sqrt(2 / (1 + 0.1**2)) / math.sqrt(fan)
    assert abs(t.numpy().std() - std) < 0.02 * std


def test_xavier(device):
    gk.manual_seed(2)
    t = _big(device, (300, 100, 2))  # fans include the receptive field: 200 and 600
    init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (200 + 600))
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.99 * bound
    init.xavier_normal_(t)
    std = math.sqrt(2 / (200 + 600))
    assert abs(t.numpy().std() - std) < 0.02 * std


def test_gains_and_errors():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(gk.InvalidArgumentError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(gk.InvalidArgumentError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(gk.empty(5))
    with pytest.raises(gk.InvalidArgumentError, match="mode"):
        init.kaiming_uniform_(gk.empty(2, 2), mode="fan")


def test_seeded_initialisation_is_reproducible():
    gk.manual_seed(7)
    a = gk.nn.Linear(5, 4).weight.numpy()
    gk.manual_seed(7)
    b = gk.nn.Linear(5, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_init_does_not_record_and_bumps_version():
    p = gk.nn.Parameter(gk.zeros(3, 3))
    version = p._version[0]
    init.uniform_(p)
    assert p.grad_fn is None and p.is_leaf and p._version[0] == version + 1
