"""NumPy's unique_* (the array API's), piecewise, packbits/unpackbits, copyto, rollaxis, row_stack, mask_indices,
einsum_path, frombuffer/fromiter/asanyarray, the type and number queries and the formatting functions
(gradkit/ops/numpy_extra.py).

Values against NumPy on random inputs (hypothesis over shapes, axes and dtypes), float64 central differences
for piecewise's gradients, the in-place rules of copyto, and the errors. NumPy 1.x lacks the unique_*
functions and has value-based scalar casting: the references below are NumPy 2's, written out there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import array_shapes  # noqa: E402

import gradkit as gk  # noqa: E402
from gradkit.ops.numpy_extra import UniqueAllResult, UniqueCountsResult, UniqueInverseResult  # noqa: E402

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _t(a, device, **kw):
    return gk.asarray(a, device=device, **kw)


def _same(out, ref):
    ref = np.asarray(ref)
    assert isinstance(out, gk.Tensor)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    assert out.dtype == ref.dtype, (out.dtype, ref.dtype)
    np.testing.assert_array_equal(out.numpy(), ref)


# ------------------------------------------------------------------ unique_*
def _np_unique_all(x):
    """NumPy 2's unique_all, also under NumPy 1.x (unique with equal_nan=False, the inverse in x's shape)."""
    x = np.asarray(x)
    v, i, inv, c = np.unique(x, return_index=True, return_inverse=True, return_counts=True, equal_nan=False)
    return v, i, inv.reshape(x.shape), c


def _values_with_repeats(draw_seed, shape, kind):
    rng = np.random.default_rng(draw_seed)
    if kind == "float":
        pool = np.array([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, 3.0])
        return rng.choice(pool, shape)
    if kind == "int":
        return rng.integers(-3, 4, shape).astype(np.int32)
    return rng.integers(0, 2, shape).astype(bool)


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["float", "int", "bool"]))  # fmt: skip
def test_unique_functions_match_numpy_2(shape, seed, kind, device):
    a = _values_with_repeats(seed, shape, kind)
    x = _t(a, device)
    v, i, inv, c = _np_unique_all(a)
    out = gk.unique_all(x)
    assert type(out) is UniqueAllResult and out._fields == ("values", "indices", "inverse_indices", "counts")
    for got, ref in zip(out, (v, i, inv, c), strict=True):
        _same(got, ref)
        assert got.device == x.device
    counts = gk.unique_counts(x)
    assert type(counts) is UniqueCountsResult and counts._fields == ("values", "counts")
    _same(counts.values, v)
    _same(counts.counts, c)
    inverse = gk.unique_inverse(x)
    assert type(inverse) is UniqueInverseResult and inverse._fields == ("values", "inverse_indices")
    _same(inverse.values, v)
    _same(inverse.inverse_indices, inv)
    assert inverse.inverse_indices.shape == x.shape  # NumPy 2: x's shape
    _same(gk.unique_values(x), v)  # sorted; NumPy 2.3+ promises no order
    if NUMPY2:
        for name, ref in (("unique_all", out), ("unique_counts", counts), ("unique_inverse", inverse)):
            expected = getattr(np, name)(a)
            assert expected._fields == ref._fields
            for field, got, want in zip(ref._fields, ref, expected, strict=True):
                if field == "inverse_indices":  # NaNs are each their own value: which index each gets may differ
                    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
                    np.testing.assert_array_equal(got.numpy()[~nan], np.asarray(want)[~nan])
                    assert np.isnan(np.asarray(expected.values)[got.numpy()[nan]]).all()
                else:
                    _same(got, want)
        np.testing.assert_array_equal(np.sort(np.unique_values(a)), gk.unique_values(x).numpy())


def test_unique_nans_are_each_their_own_value(device):
    x = _t([np.nan, 1.0, np.nan, 1.0, -0.0, 0.0], device)
    out = gk.unique_all(x)
    np.testing.assert_array_equal(out.values.numpy(), [0.0, 1.0, np.nan, np.nan])
    np.testing.assert_array_equal(out.indices.numpy(), [4, 1, 0, 2])
    np.testing.assert_array_equal(out.counts.numpy(), [2, 2, 1, 1])
    np.testing.assert_array_equal(out.inverse_indices.numpy(), [2, 1, 3, 1, 0, 0])
    assert gk.unique_values(gk.asarray(np.array(7.0), device=device)).shape == (1,)


def test_unique_values_has_no_gradient_as_unique(device):
    x = gk.tensor([3.0, 1.0, 3.0], dtype=gk.float64, device=device, requires_grad=True)
    assert gk.unique(x).requires_grad is False
    assert gk.unique_values(x).requires_grad is False
    assert not any(t.requires_grad for t in gk.unique_all(x))


# ------------------------------------------------------------------ piecewise
def _pw_cases(r):
    """(name, x, condlist builder of (namespace-free) arrays, funclist, args, kw) with NumPy-side functions."""
    x1 = r.standard_normal(7)
    x2 = r.standard_normal((3, 4))
    return [
        ("two_funcs", x1, lambda x: [x < 0, x >= 0], "sq_sin", (), {}),
        ("otherwise", x1, lambda x: [x < -0.5, x > 0.5], "sq_sin_lin", (), {}),
        ("constants", x1, lambda x: [x < 0, x > 1], [-1.0, 2, 0.5], (), {}),
        ("mixed", x2, lambda x: [x < 0], ["sq", 3.0], (), {}),
        ("overlap_last_wins", x2, lambda x: [x < 1, x < 0], ["sq", "sin"], (), {}),
        ("single_cond", x1, lambda x: x > 0, ["sin"], (), {}),
        ("leading_axes", x2, lambda x: [x[:, 0] > 0], ["sq", -1.0], (), {}),
        ("args_kw", x1, lambda x: [x < 0], ["scaled", 0.0], (3.0,), {"shift": 0.5}),
        ("none_selected", x1, lambda x: [x > 100], ["sq", "sin"], (), {}),
        ("int_cond", x1, lambda x: (x > 0).astype(np.int64), [4.0], (), {}),
    ]


def _funcs(spec, ns):
    table = {
        "sq": lambda v: v * v,
        "sin": lambda v: ns.sin(v),
        "lin": lambda v: 2 * v + 1,
        "scaled": lambda v, a, shift=0.0: a * v + shift,
    }
    if spec == "sq_sin":
        return [table["sq"], table["sin"]]
    if spec == "sq_sin_lin":
        return [table["sq"], table["sin"], table["lin"]]
    return [table[f] if isinstance(f, str) else f for f in spec]


def _as_conds(conds, device):
    if isinstance(conds, list):
        return [_t(c, device) for c in conds]
    return _t(conds, device)


@pytest.mark.parametrize("name", [c[0] for c in _pw_cases(np.random.default_rng(0))])
def test_piecewise_matches_numpy(name, device):
    case = next(c for c in _pw_cases(np.random.default_rng(1)) if c[0] == name)
    _, a, conds, funcs, args, kw = case
    ref = np.piecewise(a, conds(a), _funcs(funcs, np), *args, **kw)
    x = _t(a, device)
    out = gk.piecewise(x, _as_conds(conds(a), device), _funcs(funcs, gk), *args, **kw)
    assert out.device == x.device
    _same(out, ref)
    # conditions as NumPy arrays and lists too (on the CPU: NumPy arrays do not meet device tensors there)
    if device == "cpu":
        _same(gk.piecewise(x, conds(a), _funcs(funcs, gk), *args, **kw), ref)
        c = conds(a)
        listed = [v.tolist() for v in c] if isinstance(c, list) else c.tolist()
        _same(gk.piecewise(x, listed, _funcs(funcs, gk), *args, **kw), ref)


@pytest.mark.parametrize("name", [c[0] for c in _pw_cases(np.random.default_rng(0))])
def test_piecewise_gradients_match_central_differences(name, device):
    case = next(c for c in _pw_cases(np.random.default_rng(2)) if c[0] == name)
    _, a, conds, funcs, args, kw = case
    a = a + 0.013  # away from the kinks
    c = _as_conds(conds(a), device)
    x = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    assert gk.gradcheck(lambda v: gk.piecewise(v, c, _funcs(funcs, gk), *args, **kw), [x])


def test_piecewise_second_derivative_and_tensor_constants(device):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(6) + 0.01
    x = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    c = gk.tensor(1.25, dtype=gk.float64, device=device, requires_grad=True)
    cond = [_t(a < 0, device)]
    f = lambda v, k: gk.piecewise(v, cond, [lambda s: s**3, k])  # noqa: E731
    assert gk.gradcheck(f, [x, c])
    first = lambda v: gk.autograd.grad(f(v, c).sum(), [v], create_graph=True)[0]  # noqa: E731
    assert gk.gradcheck(first, [x])
    g = gk.autograd.grad(f(x, c).sum(), [c])[0]
    assert float(g.numpy()) == float((a >= 0).sum())


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int8]),
       n=st.integers(1, 3), otherwise=st.booleans())  # fmt: skip
def test_piecewise_random_conditions_match_numpy(shape, seed, dtype, n, otherwise, device):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 4).astype(dtype)
    conds = [rng.random(shape) < 0.4 for _ in range(n)]
    gk_funcs = [lambda v, k=k: v * (k + 1.5) - k for k in range(n)]  # float results cast to x's dtype
    np_funcs = [lambda v, k=k: v * (k + 1.5) - k for k in range(n)]
    if otherwise:
        gk_funcs.append(lambda v: gk.abs(v))
        np_funcs.append(np.abs)
    cond_arg = [c for c in conds] if a.ndim == 0 else conds  # 0-d x: a list of 0-d conditions
    ref = np.piecewise(a, cond_arg, np_funcs)
    out = gk.piecewise(_t(a, device), [_t(c, device) for c in conds], gk_funcs)
    _same(out, ref)


def test_piecewise_zero_dimensional_x(device):
    x = _t(np.array(2.5), device)
    _same(gk.piecewise(x, True, [lambda v: v * 2]), np.piecewise(np.array(2.5), True, [lambda v: v * 2]))
    _same(gk.piecewise(x, [False], [lambda v: v * 2, 7]), np.piecewise(np.array(2.5), [False], [lambda v: v * 2, 7]))
    _same(gk.piecewise(x, _t(np.array([True, False]), device), [1.0, 2.0]),
          np.piecewise(np.array(2.5), np.array([True, False]), [1.0, 2.0]))  # fmt: skip


def test_piecewise_errors(device):
    x = _t(np.arange(4.0), device)
    with pytest.raises(gk.InvalidArgumentError, match="piecewise: with 1 condition"):
        gk.piecewise(x, [x > 1], [1, 2, 3])
    with pytest.raises(gk.ArgumentTypeError, match="piecewise: funclist"):
        gk.piecewise(x, [x > 1], lambda v: v)
    with pytest.raises(gk.ShapeError, match="piecewise"):
        gk.piecewise(x, [_t(np.array([True, False]), device)], [1.0])
    with pytest.raises(gk.ShapeError, match="piecewise"):
        gk.piecewise(x, [x > 1], [lambda v: gk.ones(5, device=device)])
    with pytest.raises(gk.ShapeError, match="piecewise"):
        gk.piecewise(x, [x > 1, _t(np.array([True]), device)], [1, 2])
    x2 = _t(np.ones((2, 2)), device)  # NumPy's rule: a 2-d condition without its list is a list of rows
    with pytest.raises(gk.InvalidArgumentError, match="with 2 condition"):
        gk.piecewise(x2, x2 > 0, [lambda v: v])
    with pytest.raises(gk.InvalidArgumentError, match="piecewise: condlist is empty"):
        gk.piecewise(x, [], [1])


# ------------------------------------------------------------------ packbits / unpackbits
@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=10), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.bool_, np.uint8, np.int8, np.int64]), axis_pick=st.integers(-4, 3),
       bitorder=st.sampled_from(["big", "little"]), count=st.one_of(st.none(), st.integers(-12, 40)))  # fmt: skip
def test_packbits_and_unpackbits_match_numpy(shape, seed, dtype, axis_pick, bitorder, count, device):
    rng = np.random.default_rng(seed)
    a = rng.integers(-2, 3, shape).astype(dtype)
    nd = len(shape)
    axis = None if axis_pick < -nd or axis_pick >= nd or nd == 0 else axis_pick
    packed = gk.packbits(_t(a, device), axis=axis, bitorder=bitorder)
    ref = np.packbits(a, axis=axis, bitorder=bitorder)
    _same(packed, ref)
    assert packed.device == _t(a, device).device
    try:
        ref_bits = np.unpackbits(ref, axis=axis, count=count, bitorder=bitorder)
    except ValueError:
        with pytest.raises(gk.InvalidArgumentError, match="unpackbits"):
            gk.unpackbits(packed, axis=axis, count=count, bitorder=bitorder)
        return
    _same(gk.unpackbits(packed, axis=axis, count=count, bitorder=bitorder), ref_bits)


def test_bits_errors(device):
    f = _t(np.ones(3), device)
    with pytest.raises(gk.DTypeError, match="packbits"):
        gk.packbits(f)
    with pytest.raises(gk.DTypeError, match="unpackbits"):
        gk.unpackbits(_t(np.ones(3, np.int8), device))
    with pytest.raises(gk.InvalidArgumentError, match="packbits: bitorder"):
        gk.packbits(_t(np.ones(3, bool), device), bitorder="middle")
    with pytest.raises(gk.ArgumentTypeError, match="unpackbits: bitorder"):
        gk.unpackbits(_t(np.ones(3, np.uint8), device), bitorder=None)
    with pytest.raises(gk.IndexOutOfRangeError, match="packbits: axis"):
        gk.packbits(_t(np.ones((2, 3), bool), device), axis=2)
    with pytest.raises(gk.IndexOutOfRangeError, match="unpackbits: axis"):
        gk.unpackbits(_t(np.array(3, np.uint8), device), axis=0)
    with pytest.raises(gk.ArgumentTypeError, match="unpackbits: count"):
        gk.unpackbits(_t(np.ones(3, np.uint8), device), count=1.5)


# ------------------------------------------------------------------ copyto
def _to_shape(dst):
    """Shapes that broadcast to ``dst`` (leading axes dropped, others 1 or dst's)."""
    return st.integers(0, len(dst)).flatmap(
        lambda k: st.tuples(*[st.sampled_from([1, d]) for d in dst[len(dst) - k :]])
    )


@SETTINGS
@given(shapes=_to_shape((3, 2, 4)), wshape=_to_shape((3, 2, 4)),
       seed=st.integers(0, 2**16), use_where=st.booleans(),
       src_dtype=st.sampled_from([np.float32, np.float64, np.int16, np.bool_]))  # fmt: skip
def test_copyto_matches_numpy(shapes, wshape, seed, use_where, src_dtype, device):
    rng = np.random.default_rng(seed)
    dst = rng.standard_normal((3, 2, 4))
    src = (rng.standard_normal(shapes) * 5).astype(src_dtype)
    where = rng.random(wshape) < 0.5 if use_where else True
    expected = dst.copy()
    np.copyto(expected, src, where=where)
    d = _t(dst.copy(), device)
    before = d._version[0]
    assert gk.copyto(d, _t(src, device), where=_t(where, device) if use_where else True) is None
    _same(d, expected)
    assert d._version[0] == before + 1


def _cast_outcome(fn):
    try:
        fn()
    except (TypeError, gk.DTypeError):
        return "type"
    except (OverflowError, gk.InvalidArgumentError):
        return "range"
    return "ok"


# NumPy 2's copyto of Python numbers (weak scalars), as NumPy 2.4 answers: (dst dtype, value) -> castings that pass
_WEAK = [  # a list: True == 1 as dict keys
    ("bool", True, "no equiv safe same_kind unsafe"),
    ("bool", 1, "unsafe"),
    ("bool", 1.5, "unsafe"),
    ("int8", True, "safe same_kind unsafe"),
    ("int8", 1, "no safe same_kind unsafe"),
    ("int8", -1, "no safe same_kind unsafe"),
    ("int8", 1.5, "unsafe"),
    ("uint8", 1, "no safe same_kind unsafe"),
    ("int64", 1, "no equiv safe same_kind unsafe"),
    ("float16", True, "safe same_kind unsafe"),
    ("float16", 300, "no safe same_kind unsafe"),
    ("float32", 1.5, "no safe same_kind unsafe"),
    ("float64", 1.5, "no equiv safe same_kind unsafe"),
    ("float64", 1, "no safe same_kind unsafe"),
]
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")


@pytest.mark.parametrize("case", _WEAK, ids=[f"{d}-{v!r}" for d, v, _ in _WEAK])
def test_copyto_python_number_casting_is_numpy_2s(case, device):
    dt, value, passing = case
    key = (dt, value)
    for casting in _CASTINGS:
        d = gk.zeros(2, dtype=dt, device=device)
        got = _cast_outcome(lambda: gk.copyto(d, value, casting=casting))  # noqa: B023
        assert got == ("ok" if casting in passing.split() else "type"), (key, casting)
        if got == "ok":
            np.testing.assert_array_equal(d.numpy(), np.array([value, value]).astype(dt))
        if NUMPY2:
            ref = _cast_outcome(lambda: np.copyto(np.zeros(2, dt), value, casting=casting))  # noqa: B023
            assert got == ref, (key, casting)


@pytest.mark.parametrize("src_dtype", ["bool", "int8", "int64", "float32", "float64"])
@pytest.mark.parametrize("dst_dtype", ["bool", "uint8", "int16", "float16", "float64"])
def test_copyto_array_casting_is_numpys(src_dtype, dst_dtype, device):
    for casting in _CASTINGS:
        d = gk.zeros(3, dtype=dst_dtype, device=device)
        s = np.array([1, 0, 1], dtype=src_dtype)
        got = _cast_outcome(lambda: gk.copyto(d, _t(s, device), casting=casting))  # noqa: B023
        ref = _cast_outcome(lambda: np.copyto(np.zeros(3, dst_dtype), s, casting=casting))  # noqa: B023
        assert got == ref, (casting, got, ref)


def test_copyto_range_and_big_numbers(device):
    d = gk.zeros(2, dtype=gk.int8, device=device)
    with pytest.raises(gk.InvalidArgumentError, match="copyto: 300 is out of range"):
        gk.copyto(d, 300)
    with pytest.raises(gk.InvalidArgumentError, match="copyto"):
        gk.copyto(gk.zeros(2, dtype=gk.uint8, device=device), -1, casting="unsafe")
    f = gk.zeros(2, dtype=gk.float64, device=device)
    gk.copyto(f, 10**30)
    np.testing.assert_array_equal(f.numpy(), [1e30, 1e30])


def test_copyto_follows_the_in_place_rules(device):
    leaf = gk.zeros(3, dtype=gk.float64, device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError, match="in-place copyto"):
        gk.copyto(leaf, 1.0)
    w = gk.ones(3, dtype=gk.float64, device=device, requires_grad=True)
    plain = gk.zeros(3, dtype=gk.float64, device=device)
    with pytest.raises(gk.AutogradError, match="in-place copyto"):
        gk.copyto(plain, w)
    with gk.no_grad():
        gk.copyto(leaf, w * 2)
    np.testing.assert_array_equal(leaf.numpy(), [2.0, 2.0, 2.0])
    # a tensor saved for backward and then changed: the version counter catches it
    a = gk.tensor([1.0, 2.0], dtype=gk.float64, device=device, requires_grad=True)
    b = gk.tensor([3.0, 4.0], dtype=gk.float64, device=device)
    y = (a * b).sum()
    gk.copyto(b, 0.0)
    with pytest.raises(gk.AutogradError):
        y.backward()
    view = b.reshape(1, 2)  # a view shares the version counter
    before = b._version[0]
    gk.copyto(view, [[5.0, 6.0]])
    assert b._version[0] == before + 1
    np.testing.assert_array_equal(b.numpy(), [5.0, 6.0])
    with pytest.raises(gk.InvalidArgumentError, match="read-only"):
        gk.copyto(gk.broadcast_to(gk.zeros(1, device=device), (3,)), 1.0)


def test_copyto_into_a_numpy_array_and_errors(device):
    arr = np.zeros(3)
    gk.copyto(arr, gk.tensor([1.0, 2.0, 3.0], dtype=gk.float64, device="cpu"), where=np.array([True, False, True]))
    np.testing.assert_array_equal(arr, [1.0, 0.0, 3.0])
    d = gk.zeros((2, 3), dtype=gk.float32, device=device)
    with pytest.raises(gk.ShapeError, match="copyto: src of shape"):
        gk.copyto(d, gk.ones((3, 3), device=device))
    with pytest.raises(gk.ShapeError, match="copyto: where of shape"):
        gk.copyto(d, 1.0, where=_t(np.ones(2, bool), device))
    with pytest.raises(gk.DTypeError, match="copyto: where must be bools"):
        gk.copyto(d, 1.0, where=_t(np.ones(3, np.int64), device))
    with pytest.raises(gk.InvalidArgumentError, match="copyto: casting must be one of"):
        gk.copyto(d, 1.0, casting="sometimes")
    with pytest.raises(gk.ArgumentTypeError, match="copyto"):
        gk.copyto([0.0, 0.0], 1.0)
    with pytest.raises(gk.DTypeError, match="copyto: cannot cast float64 to float32 with casting='safe'"):
        gk.copyto(d, _t(np.ones(3), device), casting="safe")


# ------------------------------------------------------------------ rearranging and index helpers
def test_rollaxis_matches_numpy_and_is_differentiable(device):
    a = np.random.default_rng(4).standard_normal((2, 3, 4))
    x = _t(a, device)
    for axis in range(-3, 3):
        for start in range(-3, 4):
            _same(gk.rollaxis(x, axis, start), np.rollaxis(a, axis, start))
    xg = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    assert gk.gradcheck(lambda v: gk.rollaxis(v, 2, 0), [xg])
    assert gk.gradcheck(lambda v: gk.rollaxis(v, -1, 1) * gk.arange(3, dtype=gk.float64, device=device), [xg])
    with pytest.raises(gk.IndexOutOfRangeError, match="rollaxis: start"):
        gk.rollaxis(x, 0, 4)
    with pytest.raises(gk.IndexOutOfRangeError, match="rollaxis: axis"):
        gk.rollaxis(x, 3)
    with pytest.raises(gk.ArgumentTypeError, match="rollaxis: start"):
        gk.rollaxis(x, 0, 1.0)


def test_row_stack_is_vstack_with_numpys_deprecation(device):
    parts = [_t(np.arange(3.0), device), _t(np.ones((2, 3)), device)]
    with pytest.warns(DeprecationWarning, match="row_stack"):
        out = gk.row_stack(parts)
    _same(out, np.vstack([np.arange(3.0), np.ones((2, 3))]))


@pytest.mark.parametrize("k", [-2, 0, 1, 3])
def test_mask_indices_matches_numpy(k, device):
    for fn, np_fn in ((gk.triu, np.triu), (gk.tril, np.tril)):
        got = gk.mask_indices(4, fn, k, device=device)
        ref = np.mask_indices(4, np_fn, k)
        assert len(got) == 2
        for g, r in zip(got, ref, strict=True):
            _same(g, r.astype(np.int64))
            assert g.device.split(":")[0] == device
    if device == "cpu":  # NumPy's own triu takes a CPU tensor
        for g, r in zip(gk.mask_indices(3, np.triu), np.mask_indices(3, np.triu), strict=True):
            _same(g, r.astype(np.int64))
    with pytest.raises(gk.ArgumentTypeError, match="mask_indices: n"):
        gk.mask_indices(2.0, gk.triu)


@pytest.mark.parametrize("optimize", ["greedy", "optimal", True, False])
def test_einsum_path_matches_numpy(optimize, device):
    shapes = {"ij,jk,kl->il": [(2, 3), (3, 4), (4, 5)], "abc,cd,db->a": [(2, 3, 4), (4, 5), (5, 3)],
              "i,i->": [(6,), (6,)], "...ij,...jk": [(5, 1, 2, 3), (4, 3, 2)]}  # fmt: skip
    for sub, ss in shapes.items():
        arrays = [np.ones(s) for s in ss]
        ref = np.einsum_path(sub, *arrays, optimize=optimize)
        got = gk.einsum_path(sub, *[_t(a, device) for a in arrays], optimize=optimize)
        assert got == ref
        path = got[0]
        np.testing.assert_allclose(gk.einsum(sub, *[_t(a, device) for a in arrays], optimize=path).numpy(),
                                   np.einsum(sub, *arrays))  # fmt: skip
    with pytest.raises(gk.ShapeError, match="einsum_path"):
        gk.einsum_path("ij,jk->ik", _t(np.ones((2, 3)), device), _t(np.ones((4, 2)), device))
    with pytest.raises(gk.InvalidArgumentError, match="einsum_path"):
        gk.einsum_path("ij,jk->ik", _t(np.ones((2, 3)), device))


# ------------------------------------------------------------------ creation
def test_frombuffer_fromiter_and_asanyarray(device):
    raw = np.arange(6, dtype=np.float32).tobytes()
    t = gk.frombuffer(raw, dtype=gk.float32, count=3, offset=4, device=device)
    _same(t, np.frombuffer(raw, np.float32, 3, 4))
    assert t.device.split(":")[0] == device
    _same(gk.frombuffer(np.arange(2.0).tobytes(), device=device), np.arange(2.0))  # float64 by default
    if device == "cpu":  # NumPy's: the buffer's memory, read-only for bytes
        buf = bytearray(np.arange(3, dtype=np.int16).tobytes())
        shared = gk.frombuffer(buf, dtype=gk.int16, device="cpu")
        buf[0] = 9
        assert int(shared.numpy()[0]) == 9
        with pytest.raises(gk.InvalidArgumentError, match="read-only"):
            gk.frombuffer(raw, dtype=gk.float32, device="cpu").fill_(0)
    it = gk.fromiter((i * i for i in range(5)), gk.int64, count=4, device=device)
    _same(it, np.fromiter((i * i for i in range(5)), np.int64, count=4))
    like = gk.zeros(1, device=device)
    assert gk.fromiter(range(3), gk.float32, like=like).device == like.device
    with pytest.raises(gk.DTypeError, match="frombuffer"):
        gk.frombuffer(raw, dtype=np.uint16)
    with pytest.raises(gk.InvalidArgumentError, match="frombuffer"):
        gk.frombuffer(b"abc", dtype=gk.float32)
    with pytest.raises(gk.InvalidArgumentError, match="fromiter"):
        gk.fromiter(range(2), gk.float32, count=5)
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert gk.asanyarray(x) is x
    _same(gk.asanyarray([1, 2], device=device), np.asanyarray([1, 2]))
    _same(gk.asanyarray([1.5], gk.float32, device=device), np.asanyarray([1.5], np.float32))
    copied = gk.asanyarray(x, copy=True)
    assert copied is not x and not copied.requires_grad
    with pytest.raises(gk.InvalidArgumentError, match="asanyarray: order"):
        gk.asanyarray(x, order="Q")


# ------------------------------------------------------------------ queries and formatting
def test_queries_match_numpy(device):
    m = _t(np.ones((2, 3)), device)
    assert gk.isfortran(m) is False and gk.isfortran(m.T) is True and gk.isfortran(_t(np.ones(3), device)) is False
    assert gk.isfortran(np.ones((2, 3)).T) is np.isfortran(np.ones((2, 3)).T)
    with pytest.raises(gk.ArgumentTypeError, match="isfortran"):
        gk.isfortran([[1, 2]])
    for ch in "dfbhilqFD?":
        assert gk.typename(ch) == np.typename(ch)
    with pytest.raises(gk.InvalidArgumentError, match="typename"):
        gk.typename("zz")
    assert gk.mintypecode([m, "f"]) == np.mintypecode(["d", "f"])
    assert gk.mintypecode(["f", _t(np.ones(2, np.float32), device)], "fd", "d") == "f"
    for n, base, pad in ((10, 2, 0), (255, 16, 3), (-7, 3, 1), (0, 36, 2)):
        assert gk.base_repr(n, base, pad) == np.base_repr(n, base, pad)
    assert gk.base_repr(_t(np.array(35), device), 36) == "Z"
    with pytest.raises(gk.InvalidArgumentError, match="base_repr"):
        gk.base_repr(5, 40)
    for n, width in ((5, None), (-3, 5), (0, 4), (2**40, None), (-2**7, 8)):
        assert gk.binary_repr(n, width) == np.binary_repr(n, width)
    assert gk.binary_repr(_t(np.array(-2, np.int8), device), 8) == "11111110"
    with pytest.raises(gk.ArgumentTypeError, match="binary_repr"):
        gk.binary_repr(1.5)


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32, np.int32, np.bool_]))  # fmt: skip
def test_formatting_matches_numpy(shape, seed, dtype, device):
    a = np.asarray((np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype))
    x = _t(a, device)
    assert gk.array_repr(x) == np.array_repr(a)
    assert gk.array_str(x) == np.array_str(a)
    assert gk.array2string(x) == np.array2string(a)
    kw = {"precision": 2, "separator": ", ", "suppress_small": True, "prefix": "v = ", "threshold": 5, "edgeitems": 1}
    assert gk.array2string(x, **kw) == np.array2string(a, **kw)
    assert gk.array_repr(x, 30, 3, True) == np.array_repr(a, 30, 3, True)
    assert gk.array_str(x, 30, 3) == np.array_str(a, 30, 3)


def test_formatting_errors_and_no_gradient_needed(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert gk.array2string(x) == np.array2string(np.array([1.0, 2.0], np.float32))
    with pytest.raises(gk.InvalidArgumentError, match="array2string"):
        gk.array2string(x, floatmode="sometimes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gk.array_str(x) == "[1. 2.]"


def test_every_name_is_exported():
    import gradkit.ops.numpy_extra as mod

    for name in mod.__all__:
        assert getattr(gk, name) is getattr(mod, name)
