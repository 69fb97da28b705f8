"""Regression tests from an adversarial review of the NumPy functions (gradkit/ops/numpy_more.py,
numpy_stats.py) and the linalg additions (gradkit/linalg.py, gradkit/ops/linalg.py).

Each test names the input that went wrong: values, dtypes and warnings against NumPy (the installed
one, 1.26 or 2), gradients against float64 central differences, and on the emulated CuPy the device
reads the documentation does not mention.
"""

from __future__ import annotations

import warnings

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk
from gradkit.testing import gradcheck

linalg = gk.linalg


@pytest.fixture(autouse=True)
def _on_the_cpu():
    """NumPy arrays and numbers become CPU tensors (GRADKIT_BACKEND=cupy makes CuPy the default device):
    the warnings and checks tested here are the CPU's; the last test asks for the GPU itself."""
    with gk.device("cpu"):
        yield


def _leaf(a, device="cpu"):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)


# --------------------------------------------------------------------------- numbers and lists as NumPy makes them
LISTS = [
    ("ravel", lambda ns: ns.ravel([[1.5, 2.5], [0.5, 3.0]])),
    ("take_along_axis", lambda ns: ns.take_along_axis(np.asarray([1.5, 2.5]) if ns is np else [1.5, 2.5],
                                                      np.array([1, 0]), 0)),  # fmt: skip
    ("vander", lambda ns: ns.vander([1.5, 2.5])),
    ("gradient", lambda ns: ns.gradient([1.5, 2.5, 4.0])),
    ("nan_to_num", lambda ns: ns.nan_to_num([np.nan, 2.5])),
    ("rot90", lambda ns: ns.rot90([[1.5, 2.5], [0.5, 3.0]])),
    ("nanmax", lambda ns: ns.nanmax([1.5, np.nan])),
    ("nanmin", lambda ns: ns.nanmin(2.5)),
    ("nanvar", lambda ns: ns.nanvar([1.5, np.nan, 2.0])),
    ("nanstd", lambda ns: ns.nanstd([1.5, np.nan, 2.0])),
    ("isinf", lambda ns: ns.isinf(np.inf)),
    ("unique", lambda ns: ns.unique([1.5, 1.5, 0.5])),
    ("histogram", lambda ns: ns.histogram([1.5, 2.5, 3.0], 2)[1]),
    ("ravel_scalar", lambda ns: ns.ravel(1.5)),
    ("nanmax_numpy_scalar", lambda ns: ns.nanmax(np.float64(3.0))),
]


@pytest.mark.parametrize("case", LISTS, ids=[c[0] for c in LISTS])
def test_numbers_and_lists_become_what_numpy_makes(case):
    # Python floats are float64 (was gk.tensor's float32), and a number is a 0-d array (was refused)
    _, fn = case
    out, ref = fn(gk), np.asarray(fn(np))
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)


def test_gradient_of_a_0d_array_is_an_empty_tuple_and_bools_are_refused():
    assert gk.gradient(np.float64(2.0)) == () and len(np.gradient(np.float64(2.0))) == 0  # NumPy 1.26: []
    with pytest.raises(gk.DTypeError, match="gradient"):
        gk.gradient(np.array([True, False, True]))  # NumPy: TypeError (no boolean subtract)


# --------------------------------------------------------------------------- warnings
def _runtime_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("name", ["nanmax", "nanmin", "nanvar", "nanstd"])
def test_reductions_over_every_axis_warn_as_numpy(name):
    # over every axis the "bad" mask was a NumPy scalar, not an array, and no warning came
    x = np.array([[np.nan, np.nan], [np.nan, np.nan]])
    out, caught = _runtime_warnings(lambda: getattr(gk, name)(x))
    ref, expected = _runtime_warnings(lambda: getattr(np, name)(x))
    assert np.isnan(out.numpy()) and np.isnan(ref)
    assert [str(w.message) for w in caught][:1] == [str(w.message) for w in expected][:1]
    assert caught[0].filename == __file__  # the warning points at the caller, as NumPy's


def test_cov_with_weights_leaving_no_degrees_of_freedom_warns():
    m = np.array([[1.0, 2.0, 4.0], [0.0, 1.0, 3.0]])
    out, caught = _runtime_warnings(lambda: gk.cov(m, fweights=[1, 0, 0]))
    ref, _ = _runtime_warnings(lambda: np.cov(m, fweights=[1, 0, 0]))
    assert any("Degrees of freedom" in str(w.message) for w in caught)
    np.testing.assert_array_equal(out.numpy(), ref)


def test_corrcoef_of_a_constant_row_is_nan_with_numpys_warning():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    out, caught = _runtime_warnings(lambda: gk.corrcoef(x))
    ref, expected = _runtime_warnings(lambda: np.corrcoef(x))
    np.testing.assert_array_equal(out.numpy(), ref)
    assert caught and expected  # "invalid value encountered in divide" (was silenced)
    _, caught = _runtime_warnings(lambda: gk.corrcoef(np.ones(4)))  # one constant variable: 0 / 0
    assert caught


def test_cov_weights_summing_to_zero_raise_as_numpy():
    m = np.array([[1.0, 2.0, 4.0], [0.0, 1.0, 3.0]])
    with pytest.raises(ZeroDivisionError):
        np.cov(m, aweights=np.zeros(3))
    with pytest.raises(gk.InvalidArgumentError, match="cov: the weights sum to zero"):
        gk.cov(m, aweights=np.zeros(3))  # was NaN with two warnings
    with pytest.raises(ZeroDivisionError):
        gk.cov(m, fweights=[0, 0, 0])


# --------------------------------------------------------------------------- put_along_axis
def test_put_along_axis_repeated_indices_gradient_is_the_derivative():
    # the value that is overwritten does not change the result: its gradient is 0 (was the place's)
    idx = np.array([[0, 0, 1], [2, 2, 2]])
    arr, vals = np.arange(6.0).reshape(2, 3), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ref = arr.copy()
    np.put_along_axis(ref, idx, vals, 1)
    np.testing.assert_array_equal(gk.put_along_axis(arr, idx, vals, 1).numpy(), ref)
    gradcheck(lambda a, v: gk.put_along_axis(a, idx, v, 1), [_leaf(arr), _leaf(vals)])
    gradcheck(lambda a, v: gk.put_along_axis(a, idx, v, 1), [_leaf(arr), _leaf([[7.0], [8.0]])])  # broadcast
    gradcheck(lambda a, v: gk.put_along_axis(a, np.array([0, 4, 4]), v, None), [_leaf(arr), _leaf([1.0, 2.0, 3.0])])
    v = _leaf(vals)
    (g,) = gk.autograd.grad(gk.put_along_axis(arr, idx, v, 1).sum(), [v], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [[0, 1, 1], [0, 0, 1]])  # NumPy keeps the last


# --------------------------------------------------------------------------- interp
def test_interp_with_xp_repeated_at_an_end_has_finite_gradients():
    # points outside went through the empty segment's 0/0: NaN in xp's and fp's gradients
    for xp_, x_ in (([0.0, 0.0, 1.0], [-1.0, 0.5]), ([0.0, 1.0, 1.0], [0.5, 2.0])):
        x, xp, fp = _leaf(x_), _leaf(xp_), _leaf([1.0, 2.0, 3.0])
        out = gk.interp(x, xp, fp)
        np.testing.assert_array_equal(out.numpy(), np.interp(x_, xp_, [1.0, 2.0, 3.0]))
        out.sum().backward()
        for t in (x, xp, fp):
            assert np.isfinite(t.grad.numpy()).all()
        gradcheck(lambda f: gk.interp(np.array(x_), np.array(xp_), f), [_leaf([1.0, 2.0, 3.0])])


def test_interp_values_as_numpy_at_the_edges():
    x = np.array([-1.0, 1.0, np.nan, 2.0])
    for args in ((np.array([1.0]), np.array([5.0])), (np.array([1.0]), np.array([5.0]), 0.0, 9.0)):
        # one sample point: NumPy gives fp[0] at x = NaN (was NaN)
        np.testing.assert_array_equal(gk.interp(x, *args).numpy(), np.interp(x, *args))
    # xp equal modulo the period: which fp comes first is NumPy's argsort's order (was a stable sort)
    xp_, fp = np.array([-1.1, -1.1, 0.4, 1.8]), np.array([-0.9, 0.5, -0.6, -1.2])
    x = np.array([-1.1, 0.3, 0.9, 2.9])
    np.testing.assert_array_equal(gk.interp(x, xp_, fp, period=1.0).numpy(), np.interp(x, xp_, fp, period=1.0))


# --------------------------------------------------------------------------- histogram
def test_histogram_takes_a_0d_integer_array_as_the_number_of_bins():
    a = np.array([1.0, 2.0, 2.5, 4.0])
    counts, edges = gk.histogram(a, np.array(3))
    np.testing.assert_array_equal(counts.numpy(), [1, 2, 1])
    np.testing.assert_array_equal(edges.numpy(), np.histogram(a, 3)[1])


# --------------------------------------------------------------------------- linalg
@pytest.mark.parametrize(
    "fn",
    [
        lambda t: linalg.vector_norm(t, np.inf, axis=0),
        lambda t: linalg.vector_norm(t, np.inf),
        lambda t: linalg.norm(t, np.inf, axis=0),
        lambda t: linalg.vector_norm(t, np.inf, axis=0, keepdims=True),
    ],
)
def test_max_type_vector_norms_of_empty_selections_are_zero(fn):
    # NumPy 2: a max with initial=0 (was a ShapeError)
    t = _leaf(np.zeros((0, 3)))
    out = fn(t)
    assert not out.numpy().any() and out.dtype == np.float64
    out.sum().backward()
    assert t.grad.shape == (0, 3)


@pytest.mark.parametrize("shape", [(2, 0, 3), (2, 3, 0)])
@pytest.mark.parametrize("ord", [1, 2, np.inf, "nuc", "fro"])
def test_max_type_matrix_norms_of_empty_matrices_are_zero(shape, ord):
    out = linalg.matrix_norm(np.zeros(shape), ord)
    np.testing.assert_array_equal(out.numpy(), np.zeros(2))
    assert linalg.matrix_norm(np.zeros(shape), ord, keepdims=True).shape == (2, 1, 1)
    assert linalg.norm(np.zeros(shape), ord, axis=(1, 2)).shape == (2,)


def test_cond_of_an_empty_stack_is_empty_and_of_empty_matrices_raises():
    for p in (None, 1, "fro", -2):
        out = linalg.cond(np.zeros((0, 2, 2)), p)  # was a ShapeError
        assert out.shape == (0,) and out.shape == np.linalg.cond(np.zeros((0, 2, 2)), p).shape
    with pytest.raises(gk.ShapeError, match="linalg.cond: .*empty"):
        linalg.cond(np.zeros((2, 0, 0)))
    with pytest.raises(gk.ShapeError, match="square"):
        linalg.cond(np.zeros((0, 2, 3)), 1)


def test_vecdot_of_bools_is_bool():
    a, b = np.array([[True, False], [False, False]]), np.array([True, True])
    out = linalg.vecdot(a, b)
    assert out.dtype == np.bool_  # was int64
    np.testing.assert_array_equal(out.numpy(), [True, False])


@pytest.mark.parametrize("dtype, tiny", [(np.float32, 1e-40), (np.float64, 1e-310)])
def test_matrix_exp_gradient_of_a_tiny_cotangent_is_finite(dtype, tiny):
    # the scale of G (A's norm / G's) overflowed to inf: a NaN gradient
    a = np.array([[3.0, 6.0], [1.5, -3.0]], dtype=dtype)
    grads = []
    for g in (np.ones((2, 2), dtype), np.full((2, 2), tiny, dtype)):
        t = gk.tensor(a, requires_grad=True)
        linalg.matrix_exp(t).backward(gk.tensor(g))
        grads.append(t.grad.numpy().astype(np.float64))
    assert np.isfinite(grads[1]).all()
    np.testing.assert_allclose(grads[1], grads[0] * float(np.asarray(tiny, dtype)), rtol=1e-3)


# --------------------------------------------------------------------------- no device reads
def test_these_functions_read_nothing_on_the_host(monkeypatch):
    if not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    def t(a, grad=True):
        return gk.tensor(np.asarray(a), device="cuda", requires_grad=grad)

    x, v = t([0.5, -1.0, 2.0, 3.5, 1.0]), t([1.0, -2.0, 0.5])
    xp_, fp = t([-1.0, 0.0, 1.0, 1.0], grad=False), t([0.5, 1.0, -1.0, 2.0])
    coords = t([0.0, 1.0, 2.0, 3.0, 4.0], grad=False)  # equal steps: compared on the CPU only
    m, aw = t([[1.0, 2.0, 4.0, 0.5, 1.0], [0.0, 1.0, 3.0, 2.0, 2.0]]), t([1.0, 2.0, 0.5, 1.0, 1.0])
    counts = gk.tensor(np.array([0, 2, 2, 1, 0]), device="cuda")

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    outs = [
        gk.convolve(x, v, "same"), gk.correlate(x, v), gk.interp(x, xp_, fp), gk.interp(x, xp_, fp, period=2.5),
        gk.gradient(x, coords), gk.cov(m, fweights=t([1, 2, 1, 1, 3], grad=False), aweights=aw),
    ]  # fmt: skip
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    (gx,) = gk.autograd.grad(total, [x], create_graph=True)
    gx.sum().backward()
    monkeypatch.undo()
    weighted = gk.bincount(counts, x)  # its length is read (documented); its backward reads nothing
    monkeypatch.setattr(core.ndarray, "__int__", refuse)
    weighted.sum().backward()
