"""PyTorch's ``inplace`` argument of the activations and dropouts, functional forms and modules.

``inplace=True`` writes the result into the input and returns that same object, with the out-of-place
function's values; through a non-leaf input the gradients are those of the out-of-place twin (the change is
recorded); a leaf that requires grad is refused (``AutogradError``, as PyTorch's "a leaf Variable that requires
grad is being used in an in-place operation"); ``inplace=False`` leaves the input alone. Dropout in evaluation
mode or with p == 0 returns the input untouched, even in place (as PyTorch: no write, no version bump).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn
from gradkit.errors import ArgumentTypeError, AutogradError

# (name, F function, its arguments after input, input shape, whether it draws random numbers)
FUNCTIONS = [
    ("relu", F.relu, (), (3, 4), False),
    ("relu6", F.relu6, (), (3, 4), False),
    ("leaky_relu", F.leaky_relu, (0.2,), (3, 4), False),
    ("elu", F.elu, (0.7,), (3, 4), False),
    ("selu", F.selu, (), (3, 4), False),
    ("celu", F.celu, (1.3,), (3, 4), False),
    ("hardtanh", F.hardtanh, (-0.5, 2.0), (3, 4), False),
    ("hardswish", F.hardswish, (), (3, 4), False),
    ("hardsigmoid", F.hardsigmoid, (), (3, 4), False),
    ("silu", F.silu, (), (3, 4), False),
    ("mish", F.mish, (), (3, 4), False),
    ("threshold", F.threshold, (0.1, -2.0), (3, 4), False),
    ("rrelu_eval", F.rrelu, (0.1, 0.4, False), (3, 4), False),
    ("rrelu_train", F.rrelu, (0.1, 0.4, True), (3, 4), True),
    ("dropout", F.dropout, (0.4, True), (6, 5), True),
    ("dropout1d", F.dropout1d, (0.4, True), (4, 5, 3), True),
    ("dropout2d", F.dropout2d, (0.4, True), (4, 5, 2, 3), True),
    ("dropout3d", F.dropout3d, (0.4, True), (4, 5, 2, 1, 3), True),
    ("alpha_dropout", F.alpha_dropout, (0.4, True), (6, 5), True),
    ("feature_alpha_dropout", F.feature_alpha_dropout, (0.4, True), (4, 5, 3), True),
]

_dropout2d_module = pytest.param("Dropout2d", lambda ip: nn.Dropout2d(0.4, inplace=ip), (4, 5, 2, 3), id="Dropout2d")

# (name, module factory taking inplace, input shape); modules are used in training mode
MODULES = [
    ("ReLU", lambda ip: nn.ReLU(ip), (3, 4)),
    ("ReLU6", lambda ip: nn.ReLU6(ip), (3, 4)),
    ("LeakyReLU", lambda ip: nn.LeakyReLU(0.2, ip), (3, 4)),
    ("ELU", lambda ip: nn.ELU(0.7, ip), (3, 4)),
    ("SELU", lambda ip: nn.SELU(ip), (3, 4)),
    ("CELU", lambda ip: nn.CELU(1.3, ip), (3, 4)),
    ("Hardtanh", lambda ip: nn.Hardtanh(-0.5, 2.0, ip), (3, 4)),
    ("Hardswish", lambda ip: nn.Hardswish(ip), (3, 4)),
    ("Hardsigmoid", lambda ip: nn.Hardsigmoid(ip), (3, 4)),
    ("SiLU", lambda ip: nn.SiLU(ip), (3, 4)),
    ("Mish", lambda ip: nn.Mish(ip), (3, 4)),
    ("Threshold", lambda ip: nn.Threshold(0.1, -2.0, ip), (3, 4)),
    ("RReLU", lambda ip: nn.RReLU(0.1, 0.4, ip), (3, 4)),
    ("Dropout", lambda ip: nn.Dropout(0.4, ip), (6, 5)),
    ("Dropout1d", lambda ip: nn.Dropout1d(0.4, ip), (4, 5, 3)),
    _dropout2d_module,
    ("Dropout3d", lambda ip: nn.Dropout3d(0.4, ip), (4, 5, 2, 1, 3)),
    ("AlphaDropout", lambda ip: nn.AlphaDropout(0.4, ip), (6, 5)),
    ("FeatureAlphaDropout", lambda ip: nn.FeatureAlphaDropout(0.4, ip), (4, 5, 3)),
]
_MODULE_IDS = [m[0] if isinstance(m, tuple) else m.id for m in MODULES]


def _values(shape: tuple, seed: int = 0) -> np.ndarray:
    """Values away from every kink (0, +-3, 6, the thresholds and clip bounds) by at least 0.05; a new array
    each call (gk.tensor shares a NumPy array's memory: an in-place change reaches the array)."""
    v = np.random.default_rng(seed).uniform(-4.0, 7.0, shape)
    for kink in (-3.0, -0.5, 0.0, 0.1, 2.0, 3.0, 6.0):
        near = np.abs(v - kink) < 0.05
        v[near] = kink + 0.1
    return v


def _call(fn, args, x, seed, **kw):
    gk.manual_seed(seed)
    return fn(x, *args, **kw)


def _grads(apply, shape, device, seed=3):
    """The leaf's gradient and the output of ``apply(w * 1.5)`` under a fixed weighting of the output."""
    w = gk.tensor(_values(shape), device=device, requires_grad=True)
    c = gk.tensor(np.random.default_rng(9).standard_normal(shape), device=device)
    h = w * 1.5
    gk.manual_seed(seed)
    out = apply(h)
    (out * out * c).sum().backward()  # reads the output twice: the in-place result's history must be right
    return w.grad.numpy(), out.detach().numpy(), out, h


# ------------------------------------------------------------------ functional forms
@pytest.mark.parametrize("name, fn, args, shape, random", FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_functional_inplace_writes_the_input_and_returns_it(device, name, fn, args, shape, random):
    x = gk.tensor(_values(shape), device=device)
    expected = _call(fn, args, x.clone(), 1).numpy()
    version = x._version[0]
    out = _call(fn, args, x, 1, inplace=True)
    assert out is x
    assert x._version[0] > version
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, fn, args, shape, random", FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_functional_inplace_gradient_matches_out_of_place(device, name, fn, args, shape, random):
    g_in, v_in, out, h = _grads(lambda t: fn(t, *args, inplace=True), shape, device)
    assert out is h
    g_out, v_out, out2, h2 = _grads(lambda t: fn(t, *args), shape, device)
    assert out2 is not h2
    np.testing.assert_allclose(v_in, v_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_in, g_out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, fn, args, shape, random", FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_functional_inplace_refuses_a_leaf_that_requires_grad(device, name, fn, args, shape, random):
    data = _values(shape)
    w = gk.tensor(data.copy(), device=device, requires_grad=True)
    with pytest.raises(AutogradError, match="leaf"):
        _call(fn, args, w, 1, inplace=True)
    np.testing.assert_array_equal(w.detach().numpy(), data)
    assert w.grad_fn is None
    with gk.no_grad():  # as PyTorch: allowed outside grad mode (an initialisation)
        assert _call(fn, args, w, 1, inplace=True) is w


@pytest.mark.parametrize("name, fn, args, shape, random", FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_functional_not_inplace_leaves_the_input_alone(device, name, fn, args, shape, random):
    data = _values(shape)
    x = gk.tensor(data.copy(), device=device)
    version = x._version[0]
    for kw in ({}, {"inplace": False}):
        out = _call(fn, args, x, 1, **kw)
        assert out is not x
        np.testing.assert_array_equal(x.numpy(), data)
    assert x._version[0] == version


@pytest.mark.parametrize("fn, shape", [(F.relu, (3, 4)), (F.dropout, (6, 5))], ids=["relu", "dropout"])
def test_functional_inplace_on_a_view_reaches_the_base(device, fn, shape):
    def run(inplace):
        w = gk.tensor(_values(shape), device=device, requires_grad=True)
        h = w * 1.5
        gk.manual_seed(4)
        if inplace:
            r = fn(h[1:], inplace=True)
            out = h
        else:
            r = None
            out = gk.cat([h[:1], fn(h[1:])], 0)
        (out * out).sum().backward()
        return r, h, out.detach().numpy(), w.grad.numpy()

    r, h, v_in, g_in = run(True)
    assert r is not None and r._base is h  # the view itself came back
    _, _, v_out, g_out = run(False)
    np.testing.assert_allclose(v_in, v_out, rtol=1e-12)
    np.testing.assert_allclose(g_in, g_out, rtol=1e-12)


@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                  "feature_alpha_dropout"])
def test_dropout_inplace_outside_training_or_p_0_returns_the_input_untouched(device, name):
    fn = getattr(F, name)
    shape = {"dropout1d": (4, 5, 3), "dropout2d": (4, 5, 2, 3), "dropout3d": (4, 5, 2, 1, 3)}.get(name, (6, 5))
    data = _values(shape)
    w = gk.tensor(data.copy(), device=device, requires_grad=True)  # a leaf: nothing is written, so nothing is refused
    for p, training in ((0.4, False), (0.0, True)):
        version = w._version[0]
        assert fn(w, p, training, inplace=True) is w
        assert w._version[0] == version
        np.testing.assert_array_equal(w.detach().numpy(), data)
    with pytest.raises(AutogradError):
        fn(w, 1.0, True, inplace=True)  # p == 1 writes zeros: refused on the leaf, as PyTorch


def test_threshold_inplace_on_an_integer_tensor(device):
    x = gk.tensor(np.array([1, -2, 3, 0]), device=device)
    assert F.threshold(x, 0, 5, inplace=True) is x
    np.testing.assert_array_equal(x.numpy(), [1, 5, 3, 5])


def test_inplace_argument_errors(device):
    with pytest.raises(ArgumentTypeError):
        F.relu(np.ones(3), inplace=True)  # only a Tensor can be changed in place
    x = gk.ones(3, device=device)
    for fn in (F.relu, F.selu, F.silu):
        with pytest.raises(ArgumentTypeError, match="inplace"):
            fn(x, inplace="yes")
    with pytest.raises(ArgumentTypeError, match="inplace"):
        F.dropout1d(gk.ones(2, 3, 4, device=device), 0.5, True, "yes")
    with pytest.raises(ArgumentTypeError, match="inplace"):
        nn.ReLU(inplace="yes")
    np.testing.assert_array_equal(x.numpy(), 1)


def test_float_only_function_refuses_an_integer_tensor_in_place_without_writing(device):
    x = gk.tensor(np.array([1, -2, 3]), device=device)
    with pytest.raises(gk.errors.DTypeError):
        F.silu(x, inplace=True)
    np.testing.assert_array_equal(x.numpy(), [1, -2, 3])


# ------------------------------------------------------------------ modules
@pytest.mark.parametrize("name, make, shape", MODULES, ids=_MODULE_IDS)
def test_module_inplace_writes_the_input_and_returns_it(device, name, make, shape):
    m_in, m_out = make(True), make(False)
    assert m_in.inplace is True and m_out.inplace is False
    if name not in ("Hardswish", "Hardsigmoid"):  # PyTorch's reprs of these two show no arguments
        assert "inplace=True" in repr(m_in)
    x = gk.tensor(_values(shape), device=device)
    gk.manual_seed(2)
    expected = m_out(x.clone()).numpy()
    gk.manual_seed(2)
    assert m_in(x) is x
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, make, shape", MODULES, ids=_MODULE_IDS)
def test_module_inplace_gradient_and_leaf(device, name, make, shape):
    g_in, v_in, out, h = _grads(make(True), shape, device)
    assert out is h
    g_out, v_out, out2, h2 = _grads(make(False), shape, device)
    assert out2 is not h2
    np.testing.assert_allclose(v_in, v_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_in, g_out, rtol=1e-12, atol=1e-12)
    data = _values(shape)
    w = gk.tensor(data.copy(), device=device, requires_grad=True)
    with pytest.raises(AutogradError):
        make(True)(w)
    np.testing.assert_array_equal(w.detach().numpy(), data)
    x = gk.tensor(data.copy(), device=device)
    assert make(False)(x) is not x
    np.testing.assert_array_equal(x.numpy(), data)


@pytest.mark.parametrize("make, shape", [(lambda: nn.Dropout(0.4, inplace=True), (6, 5)),
                                         (lambda: nn.Dropout1d(0.4, inplace=True), (4, 5, 3)),
                                         (lambda: nn.AlphaDropout(0.4, inplace=True), (6, 5)),
                                         (lambda: nn.RReLU(0.1, 0.4, inplace=True), (3, 4))],
                         ids=["Dropout", "Dropout1d", "AlphaDropout", "RReLU"])
def test_module_inplace_in_eval_mode(device, make, shape):
    m = make().eval()
    data = _values(shape)
    x = gk.tensor(data.copy(), device=device)
    out = m(x)
    assert out is x
    if isinstance(m, nn.RReLU):  # the mean slope, written in place
        slope = (0.1 + 0.4) / 2
        np.testing.assert_allclose(x.numpy(), np.where(data > 0, data, data * slope), rtol=1e-12)
    else:
        np.testing.assert_array_equal(x.numpy(), data)
