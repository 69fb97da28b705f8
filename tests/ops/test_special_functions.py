"""erfc, erfinv, lgamma (gammaln), digamma and xlogy: what the op-spec table cannot say.

The table (op_specs.py) gradchecks each of them on both devices, first and second order, away from
the poles. Here: PyTorch's values and slopes at the edges, integer and float16 inputs, the NumPy
versions used without SciPy (against closed forms, and against SciPy where it is installed), and, when
torch is installed, parity with PyTorch up to second derivatives.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special

INF, NAN = math.inf, math.nan
EULER = 0.5772156649015329


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _grads(f, *xs):
    for x in xs:
        x.grad = None
    with np.errstate(all="ignore"):
        f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


# ------------------------------------------------------------------ edges (PyTorch's values)
EDGES = {
    "erfc": ([-INF, INF, 30.0, -0.0, NAN], [2.0, 0.0, 0.0, 1.0, NAN]),
    "erfinv": ([-1.0, 1.0, 1.5, -1.0001, 0.0, NAN], [-INF, INF, NAN, NAN, 0.0, NAN]),
    "lgamma": ([0.0, -0.0, -1.0, -7.0, INF, -INF, 1.0, 2.0, NAN], [INF, INF, INF, INF, INF, INF, 0.0, 0.0, NAN]),
    "digamma": ([0.0, -0.0, -1.0, -4.0, -INF, INF, NAN], [-INF, INF, NAN, NAN, NAN, INF, NAN]),
}


@pytest.mark.parametrize("name", list(EDGES))
def test_values_at_the_edges_are_pytorchs(name, device):
    x, expected = EDGES[name]
    out = getattr(gk, name)(_t(x, device)).numpy()
    np.testing.assert_array_equal(out, np.array(expected))


def test_signed_zeros(device):
    assert np.signbit(gk.erfinv(_t([-0.0], device)).numpy()[0])  # -0, as PyTorch (SciPy gives +0)
    assert gk.digamma(_t([-0.0], device)).numpy()[0] == INF


def test_slopes_at_the_edges(device):
    y = _t([-1.0, 1.0, 0.0], device, requires_grad=True)
    np.testing.assert_allclose(_grads(gk.erfinv, y)[0], [INF, INF, math.sqrt(math.pi) / 2])
    x = _t([1.0, 2.0, 0.5], device, requires_grad=True)
    np.testing.assert_allclose(_grads(gk.lgamma, x)[0], [-EULER, 1 - EULER, -EULER - 2 * math.log(2)], rtol=1e-14)
    np.testing.assert_allclose(_grads(gk.digamma, x)[0], [math.pi**2 / 6, math.pi**2 / 6 - 1, math.pi**2 / 2],
                               rtol=1e-14)
    np.testing.assert_array_equal(_grads(gk.erfc, _t([INF, -INF], device, requires_grad=True))[0], [0.0, 0.0])


def test_xlogy_zero_times_anything_is_zero_with_pytorchs_slopes(device):
    x = _t([0.0, 0.0, 0.0, 0.0, 2.0, 0.0], device, requires_grad=True)
    y = _t([0.0, 1.0, 2.0, NAN, 0.0, INF], device, requires_grad=True)
    np.testing.assert_array_equal(gk.xlogy(x, y).numpy(), [0.0, 0.0, 0.0, NAN, -INF, 0.0])
    dx, dy = _grads(gk.xlogy, x, y)
    np.testing.assert_array_equal(dx, [0.0, 0.0, math.log(2.0), NAN, -INF, INF])  # log(y), 0 where x == 0 >= y
    np.testing.assert_array_equal(dy, [NAN, 0.0, 0.0, NAN, INF, 0.0])  # x / y


def test_xlogy_python_numbers_and_broadcasting(device):
    y = _t([[1.0, 4.0]], device, dtype=np.float32)
    out = gk.xlogy(2.0, y)
    assert out.dtype == gk.float32 and out.device.split(":")[0] == device
    np.testing.assert_allclose(out.numpy(), [[0.0, 2 * math.log(4.0)]], rtol=1e-6)
    np.testing.assert_array_equal(gk.xlogy(_t([[0.0], [1.0]], device), 0.0).numpy(), [[0.0], [-INF]])
    assert gk.xlogy(_t([0.0, 3.0], device), y).shape == (1, 2)
    with pytest.raises(gk.ShapeError, match="xlogy"):
        gk.xlogy(_t([1.0, 2.0, 3.0], device), y)
    assert gk.xlogy(1.0, 2.0).dtype == gk.float64  # two numbers: a 0-d float64 tensor, as SciPy's float


@pytest.mark.parametrize("name", ["erfc", "erfinv", "lgamma", "digamma"])
def test_integer_bool_and_float16_inputs_give_floats_as_erf_does(name, device):
    f = getattr(gk, name)
    for dtype in (np.int64, np.int8, np.bool_, np.float16):
        x = _t([0, 1], device, dtype=dtype)
        assert f(x).dtype == gk.erf(x).dtype, dtype
    half = _t([0.25, 0.75], device, dtype=np.float16)
    np.testing.assert_allclose(f(half).numpy().astype(np.float64), f(half.astype(gk.float32)).numpy(), rtol=1e-3)


def test_methods_and_alias(device):
    x = _t([0.3, 0.7], device)
    for name in ("erf", "erfc", "erfinv", "lgamma", "digamma"):
        np.testing.assert_array_equal(getattr(x, name)().numpy(), getattr(gk, name)(x).numpy())
    np.testing.assert_array_equal(x.xlogy(x + 1.0).numpy(), gk.xlogy(x, x + 1.0).numpy())
    assert gk.gammaln is gk.lgamma


def test_bad_input_is_a_gradkit_error():
    for name in ("erfc", "erfinv", "lgamma", "digamma"):
        with pytest.raises(gk.ArgumentTypeError, match=name):
            getattr(gk, name)(0.5)


# ------------------------------------------------------------------ the NumPy versions (no SciPy needed)
def test_fallback_closed_forms():
    n = np.arange(1.0, 30.0)
    np.testing.assert_allclose(special._lgamma_fallback(np, n), [math.log(math.factorial(int(k) - 1)) for k in n],
                               rtol=4e-16, atol=1e-300)
    np.testing.assert_allclose(special._lgamma_fallback(np, np.array([0.5, -0.5])),
                               [0.5 * math.log(math.pi), math.log(2 * math.sqrt(math.pi))], rtol=4e-16)
    x = np.concatenate([np.linspace(0.01, 20.0, 97), -np.linspace(0.01, 9.9, 53) - 0.003])
    np.testing.assert_allclose(special._lgamma_fallback(np, x), [math.lgamma(v) for v in x], rtol=1e-13, atol=1e-15)
    psi = special._digamma_fallback(np, x)
    np.testing.assert_allclose(special._digamma_fallback(np, x + 1), psi + 1 / x, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(special._digamma_fallback(np, np.array([1.0, 0.5])),
                               [-EULER, -EULER - 2 * math.log(2)], rtol=4e-16)
    np.testing.assert_allclose(special._polygamma_fallback(np, 1, np.array([1.0, 0.5, -0.5])),
                               [math.pi**2 / 6, math.pi**2 / 2, math.pi**2 / 2 + 4], rtol=1e-15)
    np.testing.assert_allclose(special._polygamma_fallback(np, 2, np.array([1.0])), [-2 * 1.2020569031595942])
    # digamma's slope is the trigamma function: central differences of the fallback agree
    h = 1e-6
    np.testing.assert_allclose((special._digamma_fallback(np, x + h) - special._digamma_fallback(np, x - h)) / (2 * h),
                               special._polygamma_fallback(np, 1, x), rtol=1e-6)


def test_fallback_erfc_and_erfinv():
    x = np.concatenate([np.linspace(-6.0, 27.0, 331), [0.0, 1e-300]])
    np.testing.assert_allclose(special._erfc_fallback(np, x), [math.erfc(v) for v in x], rtol=3e-15, atol=1e-320)
    small = np.linspace(-0.4, 0.4, 41)
    np.testing.assert_allclose(special._erfc_fallback(np, small), [1 - math.erf(v) for v in small], rtol=1e-15)
    y = np.concatenate([np.linspace(-0.999, 0.999, 201), [1e-300, -1e-10]])
    inv = special._erfinv_fallback(np, y)
    np.testing.assert_allclose([math.erf(v) for v in inv], y, rtol=1e-15, atol=0)
    near_1 = 1 - np.array([1e-3, 1e-8, 1e-12, 2.0**-53])  # erfc(erfinv(y)) = 1 - y keeps every digit
    np.testing.assert_allclose([math.erfc(v) for v in special._erfinv_fallback(np, near_1)], 1 - near_1, rtol=1e-14)
    assert special._erfinv_fallback(np, np.array(0.5, dtype=np.float32)).dtype == np.float32  # 0-d, dtype kept


@pytest.mark.parametrize("name", ["erfc", "erfinv", "lgamma", "digamma"])
def test_fallbacks_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.999, 0.999, 400) if name == "erfinv" else np.concatenate(
        [rng.uniform(-12.0, 30.0, 300), 10.0 ** rng.uniform(-8, 8, 100)])
    if name in ("lgamma", "digamma"):
        x = x[np.abs(x - np.round(x)) > 1e-3]  # away from the poles
    ref = getattr(scipy_special, "gammaln" if name == "lgamma" else name)(x)
    got = getattr(special, f"_{name}_fallback")(np, x)
    # SciPy's erfc loses digits beyond 6 and its gammaln near 1 and 2 (the fallback does not: see above); on
    # the negative axis both lose some near the zeros (cancellation in the reflection formula)
    np.testing.assert_allclose(got[x > 0], ref[x > 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_the_operations_without_scipy_use_the_fallbacks(monkeypatch):
    x = _t([0.3, 1.7, 4.5], "cpu", requires_grad=True)
    expected = {name: getattr(gk, name)(x).numpy() for name in ("erfc", "erfinv", "lgamma", "digamma")}
    slope = _grads(gk.digamma, x)[0]
    monkeypatch.setattr(special, "_library", lambda xp, name: None)
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(gk, name)(x).numpy(), values, rtol=1e-14)
    np.testing.assert_allclose(_grads(gk.digamma, x)[0], slope, rtol=1e-14)
    assert gk.lgamma(_t(0.5, "cpu")).shape == ()


def test_importing_gradkit_imports_neither_scipy_nor_cupyx():
    code = "import sys, gradkit; print([m for m in ('scipy', 'cupyx') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ parity with PyTorch
@pytest.mark.parametrize("name", list(EDGES))
def test_the_edge_values_above_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    x, expected = EDGES[name]
    np.testing.assert_array_equal(getattr(torch, name)(torch.tensor(x, dtype=torch.float64)).numpy(), expected)


PARITY = {
    "erfc": [[-3.0, -0.5, 0.0, 0.7, 2.0, 6.0, 26.0]],
    "erfinv": [[-0.999, -0.5, 0.0, 0.3, 0.9, 0.99999]],
    "lgamma": [[-2.5, -0.3, 0.01, 0.5, 1.0, 2.0, 3.7, 15.0, 300.0]],
    "digamma": [[-2.5, -0.3, 0.01, 0.5, 1.4616321449683622, 3.7, 15.0, 300.0]],
    "xlogy": [[0.0, 0.0, 2.0, -1.5, 3.0, 0.0], [0.5, 2.0, 0.3, 4.0, 1e-3, 0.0]],
}


@pytest.mark.parametrize("name", list(PARITY))
def test_values_and_two_orders_of_slopes_match_pytorch(name, device):
    torch = pytest.importorskip("torch")
    args = PARITY[name]
    xs = [_t(a, device, requires_grad=True) for a in args]
    f = getattr(gk, name)
    total = lambda *ts: f(*ts).sum()  # noqa: E731
    argnums = tuple(range(len(args)))
    with np.errstate(all="ignore"):
        first = gk.grad(total, argnums)(*xs)
        second = gk.grad(lambda *ts: sum(g.sum() for g in gk.grad(total, argnums)(*ts)), argnums)(*xs)
    txs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    ty = getattr(torch, name)(*txs)
    tfirst = torch.autograd.grad(ty.sum(), txs, create_graph=True)
    tsecond = torch.autograd.grad(sum(g.sum() for g in tfirst), txs)
    # (at digamma's zero PyTorch's value is 4e-16, the exact one 9e-17)
    np.testing.assert_allclose(f(*xs).numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    # PyTorch's trigamma and polygamma are good to about 1e-9
    for ours, theirs in zip([*first, *second], [*tfirst, *tsecond], strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-8, atol=1e-15)


def test_sigmoid_is_right_to_a_few_ulps_far_into_its_tails():
    """sigmoid(x) is e / (1 + e) for x < 0, not 1 - something: no absolute floor near 0 (1e-16 would make
    sigmoid(-50) 0 and log(sigmoid(x)) -inf). Only the last subnormal may go: CUDA's exp(-745) is 0."""
    x = np.array([-745.0, -700.0, -50.0, -20.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 20.0, 800.0])
    e = np.exp(-np.abs(x))
    exact = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    tiny = np.nextafter(0.0, 1.0)
    np.testing.assert_allclose(gk.sigmoid(gk.tensor(x)).numpy(), exact, rtol=4 * np.finfo(np.float64).eps, atol=tiny)
    assert gk.sigmoid(gk.tensor(-50.0)).item() == pytest.approx(1.9287498479639178e-22, rel=1e-15)
    assert gk.sigmoid(gk.tensor(-60.0, dtype="float32")).item() == pytest.approx(8.7565108e-27, rel=1e-6)
    assert gk.sigmoid(gk.tensor([-np.inf, np.inf])).tolist() == [0.0, 1.0]
