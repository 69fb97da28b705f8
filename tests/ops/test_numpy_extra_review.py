"""Review of gradkit/ops/numpy_extra.py as a NumPy user porting code meets it: the fixes of that review, each
against NumPy 2's behaviour (written out where NumPy 1.x differs), on every device.

copyto: src with leading axes of length 1 beyond dst's, ``where`` as numbers and lists, Python ints beyond
int64, NumPy's RuntimeWarning on an overflowing cast; piecewise: a Python float into an integer x, and
gradients (central differences) where x is used elsewhere in the graph; packbits/unpackbits: NumPy's own
on the CPU, zeros beyond an empty input; frombuffer/fromiter: other byte orders, dtype=None, ints out of
range, ``like=`` a NumPy array; asanyarray's errors; einsum_path's and mintypecode's error classes;
binary_repr/base_repr of 0-d integer arrays.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _t(a, device, **kw):
    return gk.asarray(a, device=device, **kw)


def _same(out, ref):
    ref = np.asarray(ref)
    assert isinstance(out, gk.Tensor)
    assert out.shape == ref.shape and out.dtype == ref.dtype, (out.shape, out.dtype, ref.shape, ref.dtype)
    np.testing.assert_array_equal(out.numpy(), ref)


# ------------------------------------------------------------------ copyto
def test_copyto_drops_leading_unit_axes_of_src_as_numpy(device):
    for dshape, sshape in (((3,), (1, 3)), ((3,), (1, 1, 3)), ((2, 3), (1, 1, 3)), ((), (1, 1)), ((2, 3), (1, 2, 1))):
        src = np.arange(int(np.prod(sshape)), dtype=np.float64).reshape(sshape) + 1
        ref = np.zeros(dshape)
        np.copyto(ref, src)
        d = gk.zeros(dshape, dtype=gk.float64, device=device)
        before = d._version[0]
        gk.copyto(d, _t(src, device))
        _same(d, ref)
        assert d._version[0] == before + 1
    with pytest.raises(gk.ShapeError, match="copyto: src of shape"):  # NumPy: ValueError
        gk.copyto(gk.zeros(3, device=device), _t(np.ones((2, 3)), device))
    with pytest.raises(gk.ShapeError, match="copyto: where of shape"):  # NumPy drops no axes of where
        gk.copyto(gk.zeros(3, device=device), 1.0, where=_t(np.ones((1, 3), bool), device))


@pytest.mark.parametrize("where", [[1, 0, 1], [True, False, True], 0, 1, np.False_, False, [[1], [0]], (0.5, 0, 2)])
def test_copyto_where_numbers_and_lists_become_bools_as_numpy(where, device):
    ref = np.zeros((2, 3))
    np.copyto(ref, 7.0, where=where)
    d = gk.zeros((2, 3), dtype=gk.float64, device=device)
    gk.copyto(d, 7.0, where=where)
    _same(d, ref)


def test_copyto_where_arrays_must_be_bools_and_none_is_refused(device):
    d = gk.zeros(3, dtype=gk.float64, device=device)
    with pytest.raises(gk.DTypeError, match="copyto: where must be bools, got dtype int8"):  # NumPy: TypeError
        gk.copyto(d, 1.0, where=_t(np.array([1, 0, 1], np.int8), device))
    with pytest.raises(gk.ArgumentTypeError, match=r"copyto: where must be bools \(True: everywhere\), got NoneType"):
        gk.copyto(d, 1.0, where=None)  # NumPy writes nothing, CuPy everything: neither guessed
    with pytest.raises(gk.ArgumentTypeError, match="copyto: where"):
        gk.copyto(d, 1.0, where="yes")
    np.testing.assert_array_equal(d.numpy(), [0.0, 0.0, 0.0])


def _outcome(fn):
    try:
        fn()
    except (TypeError, gk.DTypeError):
        return "type"
    except (OverflowError, ValueError):
        return "range"
    return "ok"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_copyto_python_ints_beyond_int64_as_numpy_2(value, device):
    # NumPy 2.4: a bool or int64 dst raises OverflowError whatever the casting but "equiv" (TypeError: the
    # number is not an int64); a float dst takes the (weak) number but with "equiv"
    expected = {
        "bool": {"no": "range", "equiv": "type", "safe": "range", "same_kind": "range", "unsafe": "range"},
        "int64": {"no": "range", "equiv": "type", "safe": "range", "same_kind": "range", "unsafe": "range"},
        "float32": {"no": "ok", "equiv": "type", "safe": "ok", "same_kind": "ok", "unsafe": "ok"},
    }
    for dt, by_casting in expected.items():
        for casting, want in by_casting.items():
            d = gk.zeros(2, dtype=dt, device=device)
            got = _outcome(lambda: gk.copyto(d, value, casting=casting))  # noqa: B023
            if NUMPY2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    ref = _outcome(lambda: np.copyto(np.zeros(2, dt), value, casting=casting))  # noqa: B023
                assert ref == want, (dt, casting, ref)
            assert got == want, (dt, casting, got)
            if got == "ok":
                np.testing.assert_array_equal(d.numpy(), np.array([value, value], dtype=np.float64).astype(dt))
            else:
                np.testing.assert_array_equal(d.numpy(), np.zeros(2, dt))  # nothing written


def test_copyto_overflowing_cast_warns_as_numpy_on_the_cpu(device):
    for src in (1e6, 10**6, _t(np.array([1e6, 1.0]), device)):
        d = gk.zeros(2, dtype=gk.float16, device=device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gk.copyto(d, src, casting="unsafe")
        assert np.isinf(d.numpy()[0])
        if device == "cpu":  # NumPy's cast warns (CuPy's kernels do not)
            assert any("overflow" in str(w.message) for w in caught), [str(w.message) for w in caught]
    d = gk.zeros(2, dtype=gk.float32, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gk.copyto(d, 3.5)  # no warning where nothing overflows
    np.testing.assert_array_equal(d.numpy(), [3.5, 3.5])


# ------------------------------------------------------------------ piecewise
def test_piecewise_python_floats_into_an_integer_x_as_numpy_2(device):
    a = np.array([1, 2, 3], np.int8)
    x = _t(a, device)
    cond = [_t(np.array([True, False, True]), device)]
    _same(gk.piecewise(x, cond, [127.9, -128.7]), np.piecewise(a, [a != 2], [127.9, -128.7]))
    _same(gk.piecewise(x, cond, [lambda v: 2.5]), np.piecewise(a, [a != 2], [lambda v: 2.5]))
    for bad in (300.0, -129.0, float("nan"), float("inf")):  # NumPy 2: OverflowError / ValueError, no wrap-around
        with pytest.raises(gk.InvalidArgumentError, match="piecewise"):
            gk.piecewise(x, cond, [bad])
        with pytest.raises(gk.InvalidArgumentError, match="piecewise"):
            gk.piecewise(x, cond, [lambda v, b=bad: b])
    u = _t(np.array([0, 200], np.uint8), device)
    _same(gk.piecewise(u, [[True, False]], [-0.5, 255.0]), np.piecewise(np.array([0, 200], np.uint8), [[True, False]],
                                                                      [-0.5, 255.0]))  # fmt: skip


def _fd(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def test_piecewise_gradient_with_x_used_elsewhere_matches_central_differences(device):
    rng = np.random.default_rng(11)
    a = rng.standard_normal((3, 4)) + 0.013
    w = _t(rng.standard_normal((3, 4)), device)
    c = gk.tensor(np.array(0.5), dtype=gk.float64, device=device, requires_grad=True)

    def f(x):
        conds = [gk.broadcast_to(x[:, :1] > 0, x.shape), x > 0.5]
        pw = gk.piecewise(x, conds, [lambda v: gk.sin(v) * v, lambda v: v**2, c])
        return (pw * w).sum() + 0.3 * (x * x).sum() + x[0, 0] * pw[1, 1]

    x = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    f(x).backward()

    def value(v):
        with gk.no_grad():
            return float(f(_t(v, device)).numpy())

    np.testing.assert_allclose(x.grad.numpy(), _fd(value, a), rtol=1e-6, atol=1e-7)
    x2 = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    assert gk.gradcheck(lambda v, k: gk.piecewise(v, [v > 0.5], [lambda s: s * s, k]), [x2, c])


def test_piecewise_leading_axes_and_array_constants_match_central_differences(device):
    rng = np.random.default_rng(12)
    a = rng.standard_normal((3, 2)) + 0.01
    rows = _t(np.array([True, False, True]), device)
    k = gk.tensor(rng.standard_normal(2), dtype=gk.float64, device=device, requires_grad=True)
    x = gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)
    # a function given the selected rows (k, 2), a per-column tensor constant broadcast to them
    f = lambda v, q: gk.piecewise(v, [rows], [lambda s: gk.exp(s) * s.sum(axis=1, keepdims=True), q])  # noqa: E731
    ref = np.piecewise(a, [np.array([True, False, True])], [lambda s: np.exp(s) * s.sum(axis=1, keepdims=True),
                                                             k.detach().numpy()])  # fmt: skip
    np.testing.assert_allclose(f(x, k).detach().numpy(), ref)
    assert gk.gradcheck(f, [x, k])
    first = lambda v: gk.autograd.grad(f(v, k).sum(), [v], create_graph=True)[0]  # noqa: E731
    assert gk.gradcheck(first, [x])


# ------------------------------------------------------------------ packbits / unpackbits
def test_packbits_unpackbits_on_every_path_match_numpy(device):
    rng = np.random.default_rng(13)
    for shape, axis in (((1000,), None), ((7, 13), 0), ((7, 13), -1), ((3, 4, 9), 1), ((), None), ((5, 0), 0)):
        a = rng.integers(-1, 2, shape).astype(np.int16)
        for order in ("big", "little"):
            packed = gk.packbits(_t(a, device), axis=axis, bitorder=order)
            ref = np.packbits(a, axis=axis, bitorder=order)
            _same(packed, ref)
            for count in (None, 3, -2):
                try:
                    want = np.unpackbits(ref, axis=axis, count=count, bitorder=order)
                except ValueError:
                    continue
                _same(gk.unpackbits(packed, axis=axis, count=count, bitorder=order), want)


def test_unpackbits_of_nothing_gives_zeros_beyond_it(device):
    # NumPy 2.4 leaves those bits uninitialised (garbage); gradkit gives the zeros NumPy documents
    empty = _t(np.zeros((0, 3), np.uint8), device)
    out = gk.unpackbits(empty, axis=0, count=10)
    assert out.shape == (10, 3) and out.dtype == gk.uint8
    assert not out.numpy().any()
    assert gk.unpackbits(_t(np.zeros(0, np.uint8), device), count=5).numpy().tolist() == [0] * 5
    _same(gk.packbits(_t(np.ones((5, 0), bool), device), axis=1), np.packbits(np.ones((5, 0), bool), axis=1))


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("dt", [">f4", ">f8", ">i4", ">i2", "<f8"])
def test_frombuffer_and_fromiter_read_other_byte_orders(dt, device):
    raw = np.array([1.5, -2.0, 3.0, 7.0]).astype(dt).tobytes()
    ref = np.frombuffer(raw, dtype=dt)
    got = gk.frombuffer(raw, dtype=dt, device=device)
    assert got.dtype == ref.dtype.newbyteorder("=")  # the same values, in the native order
    np.testing.assert_array_equal(got.numpy(), ref)
    np.testing.assert_array_equal(gk.frombuffer(raw, dtype=dt, count=2, offset=ref.itemsize, device=device).numpy(),
                                  ref[1:3])  # fmt: skip
    it = gk.fromiter(iter([1, 0, 3]), dt, device=device)
    assert it.dtype == np.dtype(dt).newbyteorder("=")
    np.testing.assert_array_equal(it.numpy(), np.fromiter(iter([1, 0, 3]), dt))


def test_fromiter_out_of_range_ints_and_dtype_none(device):
    for value, dt in ((300, gk.int8), (-1, gk.uint8), (2**63, gk.int64)):
        with pytest.raises(gk.InvalidArgumentError, match="fromiter"):  # NumPy 2: OverflowError; 1.x wrapped
            gk.fromiter([1, value], dt, device=device)
    out = gk.fromiter(range(3), None, device=device)  # NumPy's default, float64
    _same(out, np.arange(3.0))
    with pytest.raises(gk.InvalidArgumentError, match="fromiter: cannot convert float NaN"):
        gk.fromiter([float("nan")], gk.int32, device=device)


def test_like_may_be_a_numpy_array_and_asanyarray_names_itself(device):
    like = np.zeros(1)
    assert gk.fromiter(range(2), gk.float32, like=like).device == "cpu"
    assert gk.frombuffer(np.arange(2.0).tobytes(), like=like).device == "cpu"
    assert gk.asanyarray([1, 2], like=like).device == "cpu"
    t = gk.zeros(1, device=device)
    assert gk.asanyarray([1, 2], like=t).device == t.device
    with pytest.raises(gk.ArgumentTypeError, match="fromiter: like must be"):
        gk.fromiter(range(2), gk.float32, like=[0.0])
    with pytest.raises(gk.InvalidArgumentError, match="asanyarray: copy=False"):
        gk.asanyarray([1, 2], copy=False, device=device)
    with pytest.raises(gk.InvalidArgumentError, match="asanyarray"):
        gk.asanyarray([300], gk.int8, device=device)
    with pytest.raises(gk.ArgumentTypeError, match="asanyarray: copy must be"):
        gk.asanyarray([1], copy="yes")
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    copied = gk.asanyarray(x, copy=True)
    assert copied is not x and not copied.requires_grad
    copied.numpy()  # a copy: writing it leaves x alone
    with gk.no_grad():
        copied.fill_(5.0)
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 2.0])
    assert gk.asanyarray(x, copy=False) is x


# ------------------------------------------------------------------ errors and queries
def test_error_classes_subclass_numpys(device):
    a = _t(np.ones((2, 3)), device)
    b = _t(np.ones((3, 4)), device)
    with pytest.raises(IndexError):  # NumPy: IndexError for a path naming operands that are not there
        np.einsum_path("ij,jk", np.ones((2, 3)), np.ones((3, 4)), optimize=["einsum_path", (5, 2)])
    with pytest.raises(gk.IndexOutOfRangeError, match="einsum_path"):
        gk.einsum_path("ij,jk", a, b, optimize=["einsum_path", (5, 2)])
    with pytest.raises(gk.ArgumentTypeError, match="mintypecode"):  # NumPy: TypeError
        gk.mintypecode(5)
    for n in (np.array(5), np.array(-3, np.int8), np.array(7, np.uint8)):
        assert gk.binary_repr(n, 8) == np.binary_repr(n, 8)
        assert gk.base_repr(n, 3) == np.base_repr(n, 3)
    with pytest.raises(gk.ArgumentTypeError, match="binary_repr"):
        gk.binary_repr(np.array([5]))
