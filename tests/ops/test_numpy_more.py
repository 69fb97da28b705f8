"""NumPy's stacking, along-axis, product, signal, polynomial, calculus, interpolation and statistics
functions (gradkit/ops/numpy_more.py and numpy_stats.py).

One table of cases, each written once for both namespaces (``ns`` is gradkit or NumPy), gives the
values (shape, dtype and values against NumPy, broadcasting shapes included) and the float64
central-difference gradients; a few smooth ones get second derivatives too. Then the conventions
NumPy leaves open (ties and NaNs, knots, repeated indices, flat slices), what does not require grad,
the warnings, dtypes, errors, and parity with PyTorch where it has the function.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import numpy_more


def _np_put(arr, indices, values, axis):
    out = arr.copy()
    np.put_along_axis(out, indices, values, axis)
    return out


NP = types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("_")})
NP.put_along_axis = _np_put  # NumPy's writes in place; gradkit's returns the new tensor
if not hasattr(NP, "trapezoid"):  # NumPy 1.x calls it trapz (renamed in NumPy 2.0)
    NP.trapezoid = np.trapz


def _distinct(r, shape, nan_every=0):
    n = int(np.prod(shape))
    x = (r.permutation(n) * 0.3 - 0.15 * n + r.uniform(-0.05, 0.05)).reshape(shape)
    if nan_every:
        x = np.where(np.arange(n).reshape(shape) % nan_every == 2, np.nan, x)
    return x


def _n(r, *shapes):
    return [r.standard_normal(s) for s in shapes]


def _rising(r, n, low=0.3, high=1.0):
    return np.cumsum(r.uniform(low, high, n)) - 2.0


IDX = np.array([[0, 3, 3], [1, -1, 0], [2, 2, 2]])  # repeated and negative indices

# id, function of (namespace, *arrays), builder of the arrays from a Generator; float arrays get
# gradients, integer ones are constants.
CASES = [
    ("vstack", lambda ns, a, b: ns.vstack([a, b]), lambda r: _n(r, (2, 3), 3)),
    ("hstack", lambda ns, a, b: ns.hstack([a, b]), lambda r: _n(r, (2, 3), (2, 1))),
    ("hstack_1d", lambda ns, a, b: ns.hstack([a, b]), lambda r: _n(r, 3, 2)),
    ("dstack", lambda ns, a, b: ns.dstack([a, b]), lambda r: _n(r, (2, 3), (2, 3, 2))),
    ("column_stack", lambda ns, a, b: ns.column_stack([a, b]), lambda r: _n(r, 3, (3, 2))),
    ("ravel_F", lambda ns, a: ns.ravel(a, order="F"), lambda r: _n(r, (2, 3, 2))),
    ("take_along_axis", lambda ns, a, i: ns.take_along_axis(a, i, 1), lambda r: [r.standard_normal((3, 4)), IDX]),
    ("take_along_axis_bcast", lambda ns, a, i: ns.take_along_axis(a, i, 1),
     lambda r: [r.standard_normal((3, 4)), IDX[:1]]),
    ("take_along_axis_none", lambda ns, a, i: ns.take_along_axis(a, i, None),
     lambda r: [r.standard_normal((3, 2)), np.array([5, 0, 0, -2])]),
    ("put_along_axis", lambda ns, a, i, v: ns.put_along_axis(a, i, v, 0),
     lambda r: [r.standard_normal((4, 3)), np.array([[0, 3, 1]]), r.standard_normal((1, 3))]),
    ("put_along_axis_bcast", lambda ns, a, i, v: ns.put_along_axis(a, i, v, 1),
     lambda r: [r.standard_normal((3, 4)), np.array([[0, 2], [3, 1], [1, 0]]), r.standard_normal((3, 1))]),
    ("tensordot", lambda ns, a, b: ns.tensordot(a, b, ([1, 2], [1, 0])),
     lambda r: _n(r, (2, 3, 4), (4, 3, 2))),
    ("tensordot_int", lambda ns, a, b: ns.tensordot(a, b, 1), lambda r: _n(r, (2, 3), (3, 2))),
    ("inner", lambda ns, a, b: ns.inner(a, b), lambda r: _n(r, (2, 3), (4, 3))),
    ("cross", lambda ns, a, b: ns.cross(a, b), lambda r: _n(r, (4, 3), 3)),
    ("cross_axes", lambda ns, a, b: ns.cross(a, b, axisa=0, axisb=1, axisc=0),
     lambda r: _n(r, (3, 2), (2, 3))),
    ("kron", lambda ns, a, b: ns.kron(a, b), lambda r: _n(r, (2, 3), (2, 1, 2))),
    ("trapezoid", lambda ns, y, x: ns.trapezoid(y, x), lambda r: [r.standard_normal((3, 5)), _rising(r, 5)]),
    ("trapezoid_dx", lambda ns, y: ns.trapezoid(y, dx=0.5, axis=0), lambda r: _n(r, (4, 2))),
    ("trapezoid_xnd", lambda ns, y, x: ns.trapezoid(y, x, axis=0),
     lambda r: [r.standard_normal((4, 2)), np.sort(r.standard_normal((4, 2)), axis=0)]),
    ("interp", lambda ns, x, xp, fp: ns.interp(x, xp, fp),
     lambda r: [r.uniform(-2.5, 2.5, (2, 4)), _rising(r, 5), r.standard_normal(5)]),
    ("interp_left_right", lambda ns, x, xp, fp: ns.interp(x, xp, fp, left=-3.0, right=4.0),
     lambda r: [r.uniform(-2.5, 2.5, 7), _rising(r, 4), r.standard_normal(4)]),
    ("interp_period", lambda ns, x, xp, fp: ns.interp(x, xp, fp, period=2.0),
     lambda r: [r.uniform(-4, 4, 6), r.permutation(5) * 0.37 + 0.05, r.standard_normal(5)]),
    ("convolve_full", lambda ns, a, v: ns.convolve(a, v), lambda r: _n(r, 6, 3)),
    ("convolve_same", lambda ns, a, v: ns.convolve(a, v, "same"), lambda r: _n(r, 3, 6)),
    ("convolve_valid", lambda ns, a, v: ns.convolve(a, v, "valid"), lambda r: _n(r, 6, 4)),
    ("correlate_valid", lambda ns, a, v: ns.correlate(a, v), lambda r: _n(r, 6, 3)),
    ("correlate_same", lambda ns, a, v: ns.correlate(a, v, "same"), lambda r: _n(r, 4, 7)),
    ("correlate_full", lambda ns, a, v: ns.correlate(a, v, "full"), lambda r: _n(r, 3, 5)),
    ("polyval", lambda ns, p, x: ns.polyval(p, x), lambda r: _n(r, 4, (2, 3))),
    ("vander", lambda ns, x: ns.vander(x, 4), lambda r: _n(r, 3)),
    ("vander_increasing", lambda ns, x: ns.vander(x, increasing=True), lambda r: _n(r, 4)),
    ("gradient", lambda ns, f: ns.gradient(f), lambda r: _n(r, (3, 4))),
    ("gradient_order2_axis", lambda ns, f: ns.gradient(f, 0.5, axis=1, edge_order=2), lambda r: _n(r, (2, 5))),
    ("gradient_coordinates", lambda ns, f, x: ns.gradient(f, x, edge_order=2),
     lambda r: [r.standard_normal(5), _rising(r, 5)]),
    ("gradient_mixed", lambda ns, f, x: ns.gradient(f, 2.0, x),
     lambda r: [r.standard_normal((3, 4)), _rising(r, 4)]),
    ("nan_to_num", lambda ns, x: ns.nan_to_num(x, nan=1.5, posinf=3.0, neginf=-7.0),
     lambda r: [np.array([[0.5, np.nan, np.inf], [-np.inf, -1.25, 2.0]])]),
    ("rot90", lambda ns, m: ns.rot90(m), lambda r: _n(r, (2, 3))),
    ("rot90_axes", lambda ns, m: ns.rot90(m, -1, (2, 0)), lambda r: _n(r, (2, 3, 4))),
    ("rot90_2", lambda ns, m: ns.rot90(m, 2, (1, 2)), lambda r: _n(r, (2, 3, 4))),
    ("nanmax", lambda ns, x: ns.nanmax(x, axis=1), lambda r: [_distinct(r, (3, 5), nan_every=4)]),
    ("nanmin_keepdims", lambda ns, x: ns.nanmin(x, axis=0, keepdims=True),
     lambda r: [_distinct(r, (5, 3), nan_every=4)]),
    ("nanmax_all", lambda ns, x: ns.nanmax(x), lambda r: [_distinct(r, (2, 3), nan_every=3)]),
    ("nanvar", lambda ns, x: ns.nanvar(x, axis=1), lambda r: [_distinct(r, (3, 5), nan_every=4)]),
    ("nanvar_ddof", lambda ns, x: ns.nanvar(x, axis=(0, 2), ddof=1, keepdims=True),
     lambda r: [_distinct(r, (2, 3, 2), nan_every=5)]),
    ("nanstd", lambda ns, x: ns.nanstd(x, axis=0, ddof=1), lambda r: [_distinct(r, (5, 3), nan_every=4)]),
    ("nanstd_all", lambda ns, x: ns.nanstd(x), lambda r: [_distinct(r, (2, 4), nan_every=3)]),
    ("cov", lambda ns, m: ns.cov(m), lambda r: _n(r, (3, 5))),
    ("cov_y_rowvar", lambda ns, m, y: ns.cov(m, y, rowvar=False), lambda r: _n(r, (5, 2), 5)),
    ("cov_weights", lambda ns, m, f, a: ns.cov(m, fweights=f, aweights=a),
     lambda r: [r.standard_normal((2, 5)), np.array([1, 3, 0, 2, 1]), r.uniform(0.5, 2.0, 5)]),
    ("cov_aweights_ddof0", lambda ns, m, a: ns.cov(m, aweights=a, ddof=0),
     lambda r: [r.standard_normal((2, 4)), r.uniform(0.5, 2.0, 4)]),
    ("cov_1d", lambda ns, m: ns.cov(m, bias=True), lambda r: _n(r, 6)),
    ("corrcoef", lambda ns, m: ns.corrcoef(m), lambda r: _n(r, (3, 5))),
    ("corrcoef_y", lambda ns, m, y: ns.corrcoef(m, y), lambda r: _n(r, 5, (2, 5))),
    ("bincount_weights", lambda ns, x, w: ns.bincount(x, w, minlength=7),
     lambda r: [np.array([0, 2, 2, 5, 1, 2]), r.standard_normal(6)]),
]
SMOOTH = ["tensordot", "kron", "cross", "interp", "polyval", "vander", "gradient_coordinates", "nanstd", "cov_weights",
          "corrcoef", "convolve_same", "trapezoid"]  # fmt: skip


def _arrays(case):
    rng = np.random.default_rng(sum(map(ord, case[0])))
    return case[2](rng)


def _inputs(arrays, device, grad=True):
    return [gk.tensor(a, device=device, requires_grad=grad and a.dtype.kind == "f") for a in arrays]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn(*args)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_values_match_numpy(case, device):
    arrays = _arrays(case)
    outs = _as_list(_quiet(case[1], gk, *_inputs(arrays, device)))
    refs = _as_list(_quiet(case[1], NP, *arrays))
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs, strict=True):
        ref = np.asarray(ref)
        assert isinstance(out, gk.Tensor) and out.device.split(":")[0] == device
        assert out.shape == ref.shape, f"{case[0]}: shape {out.shape}, NumPy gives {ref.shape}"
        assert out.dtype == ref.dtype, f"{case[0]}: dtype {out.dtype}, NumPy gives {ref.dtype}"
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
        assert out.requires_grad


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_gradients_match_central_differences(case, device):
    xs = _inputs(_arrays(case), device)
    assert gk.gradcheck(lambda *a: _quiet(case[1], gk, *a), xs)


def _first_derivatives(fn, device):
    """The first derivatives of sum(u * fn(...)) for a fixed u, recorded, as a function gradcheck can check."""
    rng = np.random.default_rng(7)
    us = {}

    def grads(*xs):
        leaves = [x for x in xs if x.requires_grad]
        total = None
        for k, y in enumerate(_as_list(fn(*xs))):
            us.setdefault(k, gk.tensor(rng.standard_normal(y.shape), device=device))
            term = (y * us[k]).sum()
            total = term if total is None else total + term
        return gk.autograd.grad(total, leaves, create_graph=True)

    return grads


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SMOOTH], ids=lambda c: c[0])
def test_second_derivatives_match_central_differences(case, device):
    xs = _inputs(_arrays(case), device)
    assert gk.gradcheck(_first_derivatives(lambda *a: case[1](gk, *a), device), xs, atol=1e-4, rtol=1e-3)


def test_long_signals_take_the_shifted_sum_path(device, monkeypatch):
    rng = np.random.default_rng(3)
    a, v = rng.standard_normal(9), rng.standard_normal(4)
    monkeypatch.setattr(numpy_more, "_WINDOWS_MAX", 0)
    for mode in ("full", "same", "valid"):
        out = gk.convolve(gk.tensor(a, device=device), gk.tensor(v, device=device), mode)
        np.testing.assert_allclose(out.numpy(), np.convolve(a, v, mode), rtol=1e-12, atol=1e-12)
    assert gk.gradcheck(lambda x, y: gk.correlate(x, y, "same"), _inputs([a, v], device))


def test_numpy_values_bit_for_bit(device):
    """Where gradkit repeats NumPy's arithmetic in NumPy's order, the values are NumPy's exactly (on a GPU
    to a few ulps: CUDA contracts multiply-adds and CuPy's power is not NumPy's repeated product)."""
    rng = np.random.default_rng(11)
    x = _distinct(rng, (4, 6), nan_every=5).astype(np.float32)
    xp_, fp = _rising(rng, 6), rng.standard_normal(6)
    q = np.concatenate([rng.uniform(-3, 3, 9), xp_[:3], [xp_[-1], np.nan, -9.0, 9.0]])
    t = lambda a: gk.tensor(a, device=device)  # noqa: E731
    exact = [
        (gk.nanvar(t(x), axis=1), np.nanvar(x, axis=1)),
        (gk.nanstd(t(x), ddof=1), np.nanstd(x, ddof=1)),
        (gk.nanmax(t(x), axis=0), np.nanmax(x, axis=0)),
        (gk.interp(t(q), t(xp_), t(fp)), np.interp(q, xp_, fp)),
        (gk.gradient(t(x[0]), t(xp_), edge_order=2), np.gradient(x[0], xp_, edge_order=2)),
        (gk.trapezoid(t(x)), NP.trapezoid(x)),
        (gk.polyval(t(fp), t(q)), np.polyval(fp, q)),
        (gk.vander(t(x[1])), np.vander(x[1])),
    ]
    for out, ref in exact:
        assert out.dtype == ref.dtype
        if device == "cuda":
            np.testing.assert_allclose(out.numpy(), ref, rtol=4 * np.finfo(ref.dtype).eps, atol=0)
        else:
            np.testing.assert_array_equal(out.numpy(), ref)


# ------------------------------------------------------------------ conventions NumPy leaves open
def test_nanmax_shares_ties_and_skips_nans(device):
    x = gk.tensor([[1.0, 3.0, np.nan, 3.0], [np.nan, np.nan, np.nan, np.nan]], device=device, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = gk.nanmax(x, axis=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert messages == (["All-NaN slice encountered"] if device == "cpu" else [])  # not read back on CuPy
    np.testing.assert_array_equal(y.numpy(), [3.0, np.nan])
    (y * gk.tensor([1.0, 2.0], device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0, 0.5], [0.5, 0.5, 0.5, 0.5]])


def test_nanstd_has_no_slope_on_flat_slices(device):
    x = gk.tensor([[0.1, 0.1, np.nan, 0.1], [1.0, 2.0, 4.0, np.nan]], device=device, requires_grad=True)
    y = gk.nanstd(x, axis=1)
    np.testing.assert_allclose(y.numpy(), np.nanstd(x.numpy(), axis=1), rtol=1e-15, atol=1e-18)
    y.sum().backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0], 0.0)
    assert np.all(np.isfinite(g[1])) and g[1, 3] == 0.0 and g[1, 0] < 0 < g[1, 2]


def test_nanvar_with_no_degrees_of_freedom_is_nan(device):
    x = gk.tensor([[1.0, np.nan], [np.nan, np.nan], [2.0, 4.0]], device=device, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = gk.nanvar(x, axis=1, ddof=1)
    assert any("Degrees of freedom" in str(w.message) for w in caught) == (device == "cpu")
    np.testing.assert_array_equal(y.numpy(), [np.nan, np.nan, 2.0])
    y[2].backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [0, 0], [-2, 2]])


def test_interp_slopes(device):
    xp_ = gk.tensor([0.0, 1.0, 3.0], device=device)
    fp = gk.tensor([0.0, 2.0, 3.0], device=device, requires_grad=True)
    x = gk.tensor([-1.0, 0.0, 0.25, 1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    y = gk.interp(x, xp_, fp)
    np.testing.assert_array_equal(y.numpy(), np.interp(x.numpy(), xp_.numpy(), fp.detach().numpy()))
    y.sum().backward()
    # outside and at xp[-1]: 0; at a sample point inside: the segment starting there (right-hand)
    np.testing.assert_array_equal(x.grad.numpy(), [0, 2, 2, 0.5, 0.5, 0, 0])
    # fp: each x's weights (1 - t, t) on its segment's ends; fp[0] and fp[-1] also as left and right
    np.testing.assert_allclose(fp.grad.numpy(), [1 + 1 + 0.75, 0.25 + 1 + 0.5, 0.5 + 1 + 1])


def test_interp_with_infinite_samples_follows_numpys_fallbacks(device):
    xp_, fp = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, np.inf, np.inf, 2.0])
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.5, 3.0])
    with np.errstate(invalid="ignore"):
        ref = np.interp(x, xp_, fp)
    out = gk.interp(gk.tensor(x, device=device), gk.tensor(xp_, device=device), gk.tensor(fp, device=device))
    np.testing.assert_array_equal(out.numpy(), ref)


def test_put_along_axis_is_out_of_place_and_its_kept_values_get_the_gradients(device):
    arr = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    vals = gk.tensor([[10.0, 20.0], [30.0, 40.0]], device=device, requires_grad=True)
    idx = gk.tensor([[1, 1], [0, 2]], device=device)  # (0, 1) written twice
    out = gk.put_along_axis(arr, idx, vals, 1)
    assert out is not arr and arr.detach().numpy()[0, 1] == 1.0  # arr unchanged
    kept = out.numpy()[0, 1]
    assert kept in (10.0, 20.0)
    np.testing.assert_array_equal(out.numpy()[1], [30.0, 4.0, 40.0])
    g = gk.tensor(np.arange(1.0, 7.0).reshape(2, 3), device=device)
    (out * g).sum().backward()
    np.testing.assert_array_equal(arr.grad.numpy(), [[1, 0, 3], [0, 5, 0]])
    # the value kept at (0, 1) gets its gradient, the one overwritten none (PyTorch's scatter gives both 2)
    first = [2, 0] if kept == 10.0 else [0, 2]
    np.testing.assert_array_equal(vals.grad.numpy(), [first, [4, 6]])


def test_take_along_axis_adds_up_repeated_indices(device):
    x = gk.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    gk.take_along_axis(x, gk.tensor([[2, 2, -1, 0]], device=device), 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 3]])


def test_nan_to_num_in_place_as_numpy(device):
    x = gk.tensor(np.array([np.nan, np.inf, -1.0]), device=device)
    version = x._version[0]
    assert gk.nan_to_num(x, copy=False) is x
    np.testing.assert_array_equal(x.numpy(), [0.0, np.finfo(np.float64).max, -1.0])
    assert x._version[0] == version + 1
    w = gk.tensor([np.nan, 1.0], device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError, match="nan_to_num"):
        gk.nan_to_num(w, copy=False)
    ints = gk.tensor([1, 2], device=device)
    out = gk.nan_to_num(ints)
    assert out.dtype == gk.int64 and out is not ints


def test_gradient_coordinates_requiring_grad_use_the_general_formula(device):
    f = gk.tensor(np.sin(np.linspace(0, 2, 6)), device=device)
    x = gk.tensor(np.linspace(0, 2, 6), device=device, requires_grad=True)  # equal steps
    out = gk.gradient(f, x)
    np.testing.assert_allclose(out.numpy(), np.gradient(f.numpy(), x.detach().numpy()), rtol=1e-13)
    assert gk.gradcheck(lambda c: gk.gradient(f, c, edge_order=2), [x])


def test_results_without_gradient(device):
    x = gk.tensor([3.0, 1.0, np.inf, 1.0, 2.0], device=device, requires_grad=True)
    values, index, inverse, counts = gk.unique(x, return_index=True, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values.numpy(), [1.0, 2.0, 3.0, np.inf])
    for t in (values, index, inverse, counts):
        assert not t.requires_grad
    assert index.dtype == inverse.dtype == counts.dtype == gk.int64
    hist, edges = gk.histogram(x[:2], bins=3)
    outs = [hist, edges, gk.isinf(x), gk.isclose(x, 1.0), gk.searchsorted(gk.sort(x), x),
            gk.bincount(gk.tensor([0, 2, 2], device=device))]  # fmt: skip
    for t in outs:
        assert not t.requires_grad
    assert gk.isinf(x).dtype == gk.bool_ and gk.searchsorted(x[:1], x).dtype == gk.int64
    np.testing.assert_array_equal(gk.bincount(gk.tensor([0, 2, 2], device=device)).numpy(), [1, 0, 2])


def test_unique_inverse_and_axis_as_numpy(device):
    a = np.array([[3, 1, 3], [1, 2, 3], [3, 1, 3]])
    for axis in (None, 0, 1):
        outs = gk.unique(gk.tensor(a, device=device), True, True, True, axis=axis)
        refs = list(np.unique(a, True, True, True, axis=axis))
        if axis is None:  # the inverse has a's shape, as in NumPy 2 (NumPy 1.x's is flat)
            refs[2] = refs[2].reshape(a.shape)
        for out, ref in zip(outs, refs, strict=True):
            assert out.shape == ref.shape
            np.testing.assert_array_equal(out.numpy(), ref)
    nan = np.array([np.nan, 1.0, np.nan])
    assert gk.unique(gk.tensor(nan, device=device)).shape == (2,)
    assert gk.unique(gk.tensor(nan, device=device), equal_nan=False).shape == (3,)


def test_histogram_as_numpy(device):
    rng = np.random.default_rng(5)
    a = rng.standard_normal(50).astype(np.float32)
    w = rng.uniform(size=50).astype(np.float32)
    for kwargs in ({}, {"bins": 4, "range": (-1, 1)}, {"bins": [-2.0, 0.0, 0.5, 3.0]}, {"density": True},
                   {"weights": w}, {"bins": "auto"}):  # fmt: skip
        given = {k: gk.tensor(v, device=device) if k == "weights" else v for k, v in kwargs.items()}
        hist, edges = gk.histogram(gk.tensor(a, device=device), **given)
        ref_hist, ref_edges = np.histogram(a, **kwargs)
        assert hist.dtype == ref_hist.dtype and edges.dtype == ref_edges.dtype, kwargs
        np.testing.assert_allclose(hist.numpy(), ref_hist, rtol=1e-6)
        np.testing.assert_allclose(edges.numpy(), ref_edges, rtol=1e-6)


def test_value_queries_as_numpy(device):
    rng = np.random.default_rng(9)
    a = np.sort(rng.integers(0, 5, 8).astype(np.float64))
    v = rng.integers(-1, 6, (2, 3)).astype(np.float64)
    t = lambda x: gk.tensor(x, device=device)  # noqa: E731
    for side in ("left", "right"):
        np.testing.assert_array_equal(gk.searchsorted(t(a), t(v), side).numpy(), np.searchsorted(a, v, side))
    perm = rng.permutation(8)
    np.testing.assert_array_equal(gk.searchsorted(t(a[perm]), t(v), sorter=t(np.argsort(perm, kind="stable"))).numpy(),
                                  np.searchsorted(a, v))  # fmt: skip
    assert gk.searchsorted(t(a), 2.5).shape == ()
    z = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9])
    np.testing.assert_array_equal(gk.isclose(t(z), t(z[::-1].copy()), equal_nan=True).numpy(),
                                  np.isclose(z, z[::-1], equal_nan=True))  # fmt: skip
    np.testing.assert_array_equal(gk.isclose(t(z), 0.0, atol=1e-8).numpy(), np.isclose(z, 0.0, atol=1e-8))
    np.testing.assert_array_equal(gk.isinf(t(z)).numpy(), np.isinf(z))


def test_dtypes_follow_numpy(device):
    f32 = lambda *s: gk.tensor(np.random.default_rng(1).standard_normal(s).astype(np.float32), device=device)  # noqa: E731
    assert gk.cov(f32(2, 4)).dtype == gk.float64  # NumPy's cov and interp compute in float64
    assert gk.corrcoef(f32(2, 4)).dtype == gk.float64
    assert gk.interp(f32(3), gk.tensor([0.0, 1.0], device=device), f32(2)).dtype == gk.float64
    assert gk.vander(f32(3)).dtype == gk.float64  # NumPy's vander promotes with int64
    assert gk.cov(f32(2, 4), dtype=gk.float32).dtype == gk.float32
    for out in (gk.nanvar(f32(3, 2), axis=0), gk.nanstd(f32(3)), gk.nanmax(f32(3)), gk.trapezoid(f32(4)),
                gk.polyval(f32(3), f32(2)), gk.gradient(f32(4)), gk.kron(f32(2), f32(2)),
                gk.convolve(f32(4), f32(2)), gk.cross(f32(3), f32(3)), gk.rot90(f32(2, 2))):  # fmt: skip
        assert out.dtype == gk.float32
    assert gk.gradient(gk.tensor([1, 4, 9], device=device)).dtype == gk.float64
    assert gk.vander(gk.tensor([1, 2], device=device)).dtype == gk.int64
    assert gk.bincount(gk.tensor([0, 1], device=device), gk.tensor([1, 2], device=device)).dtype == gk.float64


def test_warnings_as_numpy(device):
    x = gk.tensor(np.ones((2, 2)), device=device)
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        gk.cov(x, ddof=5)
    with pytest.warns(DeprecationWarning, match="2-dimensional vectors"):
        gk.cross(gk.tensor([1.0, 2.0], device=device), gk.tensor([3.0, 4.0], device=device))


# ------------------------------------------------------------------ errors
def _t(*shape, dtype=np.float64):
    return gk.tensor(np.ones(shape, dtype=dtype))


ERRORS = [
    (lambda: gk.vstack(_t(2, 2)), gk.ArgumentTypeError, "vstack"),
    (lambda: gk.hstack([]), gk.InvalidArgumentError, "hstack"),
    (lambda: gk.vstack([_t(2, 3), _t(2, 2)]), gk.ShapeError, "vstack"),
    (lambda: gk.vstack([_t(2), _t(2)], dtype="int64"), gk.DTypeError, "vstack"),
    (lambda: gk.ravel(_t(2), order="K"), gk.InvalidArgumentError, "ravel"),
    (lambda: gk.take_along_axis(_t(2, 3), np.array([0, 1]), 1), gk.ShapeError, "take_along_axis"),
    (lambda: gk.take_along_axis(_t(2, 3), np.array([[0, 3]]), 1), gk.IndexOutOfRangeError, "take_along_axis"),
    (lambda: gk.take_along_axis(_t(2, 3), np.array([[0.5]]), 1), gk.DTypeError, "take_along_axis"),
    (lambda: gk.take_along_axis(_t(2, 3), np.zeros((3, 1), int), 1), gk.ShapeError, "take_along_axis"),
    (lambda: gk.put_along_axis(_t(2, 3), np.zeros((2, 1), int), _t(3, 1), 1), gk.ShapeError, "put_along_axis"),
    (lambda: gk.tensordot(_t(2, 3), _t(2, 3), 1), gk.ShapeError, "tensordot"),
    (lambda: gk.tensordot(_t(2, 3), _t(3, 2), "x"), gk.ArgumentTypeError, "tensordot"),
    (lambda: gk.inner(_t(2, 3), _t(2)), gk.ShapeError, "inner"),
    (lambda: gk.cross(_t(4), _t(3)), gk.ShapeError, "cross"),
    (lambda: gk.cross(_t(2, 3), _t(3), axisc=2), gk.IndexOutOfRangeError, "axisc"),
    (lambda: gk.trapezoid(_t(3), _t(4)), gk.ShapeError, "trapezoid"),
    (lambda: gk.trapezoid(gk.tensor(1.0)), gk.ShapeError, "trapezoid"),
    (lambda: gk.interp(_t(2), _t(3), _t(2)), gk.ShapeError, "interp"),
    (lambda: gk.interp(_t(2), _t(0), _t(0)), gk.ShapeError, "interp"),
    (lambda: gk.interp(_t(2), _t(2, 2), _t(2, 2)), gk.ShapeError, "interp"),
    (lambda: gk.interp(_t(2), _t(2), _t(2), period=0), gk.InvalidArgumentError, "interp"),
    (lambda: gk.interp(_t(2), _t(2), _t(2), left="a"), gk.ArgumentTypeError, "interp"),
    (lambda: gk.convolve(_t(3), _t(0)), gk.ShapeError, "convolve"),
    (lambda: gk.correlate(_t(3), _t(2), mode="sames"), gk.InvalidArgumentError, "correlate"),
    (lambda: gk.correlate(_t(3, 2), _t(2)), gk.ShapeError, "correlate"),
    (lambda: gk.polyval(gk.tensor(1.0), _t(2)), gk.ShapeError, "polyval"),
    (lambda: gk.vander(_t(2, 2)), gk.ShapeError, "vander"),
    (lambda: gk.vander(_t(2), -1), gk.InvalidArgumentError, "vander"),
    (lambda: gk.gradient(_t(3, 3), 1.0, 2.0, 3.0), gk.ArgumentTypeError, "gradient"),
    (lambda: gk.gradient(_t(2), edge_order=2), gk.ShapeError, "gradient"),
    (lambda: gk.gradient(_t(3), edge_order=3), gk.InvalidArgumentError, "gradient"),
    (lambda: gk.gradient(_t(3), _t(4)), gk.ShapeError, "gradient"),
    (lambda: gk.nan_to_num(_t(2), nan="x"), gk.ArgumentTypeError, "nan_to_num"),
    (lambda: gk.rot90(_t(2, 2), axes=(0, 0)), gk.InvalidArgumentError, "rot90"),
    (lambda: gk.rot90(_t(2, 2), axes=(0,)), gk.InvalidArgumentError, "rot90"),
    (lambda: gk.rot90(_t(2), 1), gk.ShapeError, "rot90"),
    (lambda: gk.rot90(_t(2, 2), axes=(0, 2)), gk.IndexOutOfRangeError, "rot90"),
    (lambda: gk.nanmax(_t(0, 2), axis=0), gk.ShapeError, "nanmax"),
    (lambda: gk.nanvar(_t(3), ddof=1, correction=1), gk.InvalidArgumentError, "nanvar"),
    (lambda: gk.nanstd(_t(3), keepdims=2), gk.ArgumentTypeError, "nanstd"),
    (lambda: gk.cov(_t(2, 2, 2)), gk.ShapeError, "cov"),
    (lambda: gk.cov(_t(2, 3), fweights=[1, 2]), gk.ShapeError, "cov"),
    # weights are checked on the CPU only (on a GPU it would read the device)
    (lambda: gk.cov(_t(2, 3).cpu(), fweights=[1, 0.5, 2]), gk.DTypeError, "fweights"),
    (lambda: gk.cov(_t(2, 3).cpu(), aweights=[1, -1, 2]), gk.InvalidArgumentError, "aweights"),
    (lambda: gk.cov(_t(2, 3), _t(2, 4)), gk.ShapeError, "cov"),
    (lambda: gk.bincount(_t(3)), gk.DTypeError, "bincount"),
    (lambda: gk.bincount(gk.tensor([1, -1])), gk.InvalidArgumentError, "bincount"),
    (lambda: gk.bincount(gk.tensor([[1]])), gk.ShapeError, "bincount"),
    (lambda: gk.bincount(gk.tensor([1, 2]), _t(3)), gk.ShapeError, "bincount"),
    (lambda: gk.searchsorted(_t(2, 2), 1.0), gk.ShapeError, "searchsorted"),
    (lambda: gk.searchsorted(_t(2), 1.0, side="middle"), gk.InvalidArgumentError, "searchsorted"),
    (lambda: gk.searchsorted(_t(2), 1.0, sorter=gk.tensor([0, 2])), gk.InvalidArgumentError, "sorter"),
    (lambda: gk.isclose(_t(2), _t(3)), gk.ShapeError, "isclose"),
    (lambda: gk.isclose(_t(2), _t(2), rtol="a"), gk.ArgumentTypeError, "isclose"),
    (lambda: gk.unique(_t(2, 2), axis=2), gk.IndexOutOfRangeError, "unique"),
    (lambda: gk.unique(_t(2), return_index=2), gk.ArgumentTypeError, "unique"),
    (lambda: gk.histogram(_t(3), bins=0), gk.InvalidArgumentError, "histogram"),
    (lambda: gk.histogram(_t(3), range=(1, 0)), gk.InvalidArgumentError, "histogram"),
    (lambda: gk.histogram(_t(3), bins=[1.0, 0.0]), gk.InvalidArgumentError, "histogram"),
    (lambda: gk.histogram(_t(3), weights=_t(2)), gk.ShapeError, "histogram"),
]


@pytest.mark.parametrize("call, error, text", ERRORS, ids=[f"{e[2]}-{i}" for i, e in enumerate(ERRORS)])
def test_bad_input_is_a_gradkit_error_naming_the_function(call, error, text):
    with pytest.raises(error, match=text) as info:
        call()
    assert isinstance(info.value, gk.GradkitError)


# ------------------------------------------------------------------ PyTorch parity
def _torch_pair(torch, arrays, device):
    """The same float64 inputs as gradkit and torch leaves (integer arrays as constants)."""
    gks = _inputs(arrays, device)
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return gks, ts


def _compare(torch, gk_out, t_out, gks, ts):
    np.testing.assert_allclose(gk_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    if not t_out.requires_grad:
        return
    u = np.random.default_rng(0).standard_normal(t_out.shape)
    (gk_out * gk.tensor(u, device=gk_out.device)).sum().backward()
    (t_out * torch.tensor(u)).sum().backward()
    for g, t in zip(gks, ts, strict=True):
        if t.grad is not None:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


TORCH = [  # id, arrays, gradkit call, torch call
    ("cov", lambda r: _n(r, (3, 6)), lambda a: gk.cov(a), lambda t, a: t.cov(a)),
    ("cov_weights", lambda r: [r.standard_normal((2, 5)), np.array([1, 2, 0, 3, 1]), r.uniform(0.5, 2, 5)],
     lambda a, f, w: gk.cov(a, fweights=f, aweights=w), lambda t, a, f, w: t.cov(a, fweights=f, aweights=w)),
    ("corrcoef", lambda r: _n(r, (3, 6)), lambda a: gk.corrcoef(a), lambda t, a: t.corrcoef(a)),
    ("kron", lambda r: _n(r, (2, 3), (3, 2)), gk.kron, lambda t, a, b: t.kron(a, b)),
    ("cross", lambda r: _n(r, (4, 3), (4, 3)), gk.cross,
     lambda t, a, b: t.linalg.cross(a, b)),
    ("tensordot", lambda r: _n(r, (2, 3, 4), (4, 3)),
     lambda a, b: gk.tensordot(a, b, ([1, 2], [1, 0])), lambda t, a, b: t.tensordot(a, b, dims=([1, 2], [1, 0]))),
    ("inner", lambda r: _n(r, (2, 3), (4, 3)), gk.inner, lambda t, a, b: t.inner(a, b)),
    ("trapezoid", lambda r: [r.standard_normal((3, 5)), _rising(r, 5)], gk.trapezoid,
     lambda t, y, x: t.trapezoid(y, x)),
    ("vander", lambda r: _n(r, 4), lambda x: gk.vander(x, 3, increasing=True),
     lambda t, x: t.linalg.vander(x, N=3)),
    ("nan_to_num", lambda r: [np.array([1.0, np.nan, np.inf, -np.inf])], lambda x: gk.nan_to_num(x, posinf=5.0),
     lambda t, x: t.nan_to_num(x, posinf=5.0)),
    ("rot90", lambda r: _n(r, (2, 3, 4)), lambda m: gk.rot90(m, 3, (1, 2)),
     lambda t, m: t.rot90(m, 3, (1, 2))),
    ("take_along_dim", lambda r: [r.standard_normal((3, 4)), np.array([[0, 3], [1, 1], [2, 0]])],
     lambda a, i: gk.take_along_axis(a, i, 1), lambda t, a, i: t.take_along_dim(a, i, 1)),
    ("searchsorted", lambda r: [np.sort(r.integers(0, 4, 6)).astype(float), r.integers(-1, 5, (2, 3)).astype(float)],
     lambda a, v: gk.searchsorted(a.detach(), v.detach(), "right"),
     lambda t, a, v: t.searchsorted(a.detach(), v.detach(), right=True)),
    ("bucketize", lambda r: [r.integers(-1, 5, (2, 3)).astype(float), np.arange(4.0)],
     lambda x, b: gk.searchsorted(b.detach(), x.detach()), lambda t, x, b: t.bucketize(x.detach(), b.detach())),
    ("bincount", lambda r: [np.array([0, 3, 3, 1]), r.standard_normal(4)], lambda x, w: gk.bincount(x, w, minlength=6),
     lambda t, x, w: t.bincount(x, w.detach(), minlength=6)),  # torch has no gradient for the weights
]


@pytest.mark.parametrize("case", TORCH, ids=lambda c: c[0])
def test_parity_with_pytorch(case, device):
    torch = pytest.importorskip("torch")
    arrays = case[1](np.random.default_rng(sum(map(ord, case[0]))))
    gks, ts = _torch_pair(torch, arrays, device)
    _compare(torch, case[2](*gks), case[3](torch, *ts), gks, ts)
