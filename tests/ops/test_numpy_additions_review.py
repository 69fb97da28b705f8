"""Review of the NumPy-compatibility additions (append ... array_split, nanprod/nancumsum/nancumprod, dtype=,
logsumexp's b, asarray/array): the edges that were wrong, and the ones checked right and kept that way.

Fixed here: nanprod/nancumsum/nancumprod cast to ``dtype=`` before filling the NaNs (a NaN cast to an integer
is garbage; NumPy fills first) and reduced in the wrong dtype (``nanprod(bool, dtype=int8)`` gave int64);
``fmax``/``fmin`` with a NaN number kept an integer tensor's dtype (NumPy 2 gives float64); errors named
``prod``/``cumsum``/``split``/``maximum``/``where`` instead of the function called; ``gk.array`` of a CuPy
array told sharing by object identity, so a ``cupy.asarray`` that hands back another object over the same
memory was "copied" without a copy (and ``copy=False`` refused); ``einsum(optimize=np.True_)`` was refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.creation import array, asarray
from gradkit.ops import numpy_more as nm
from gradkit.ops import numpy_stats as ns

NAN = float("nan")


def leaf(a, device):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)


def check(f, *inputs):
    assert gk.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def second_order(f, *inputs):
    def g(*xs):
        grads = gk.autograd.grad(f(*xs).sum(), list(xs), create_graph=True)
        return sum((gr * gr).sum() for gr in grads)

    check(g, *inputs)


# --------------------------------------------------------------------------- nan* with dtype=
@pytest.mark.parametrize("src", ["float64", "float32", "float16", "int8", "bool"])
@pytest.mark.parametrize("dt", [None, "int8", "int64", "float16", "float32", "float64"])
def test_nan_reductions_fill_then_cast_as_numpy(src, dt, device):
    a = np.array([[1.5, NAN, 2.0], [0.5, 3.0, -1.0]])
    a = a > 1 if src == "bool" else np.nan_to_num(a) if src == "int8" else a
    a = a.astype(src)
    cases = [(ns.nanprod, np.nanprod, {"axis": 1}), (ns.nancumsum, np.nancumsum, {"axis": -1}),
             (ns.nancumprod, np.nancumprod, {})]  # fmt: skip
    for ours, theirs, kw in cases:
        with np.errstate(all="ignore"):
            want = theirs(a, dtype=dt, **kw)
        got = ours(gk.tensor(a, device=device), dtype=dt, **kw)
        assert got.dtype == want.dtype, (ours.__name__, src, dt)
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-3, err_msg=f"{ours.__name__} {src} -> {dt}")


def test_nan_reductions_name_themselves_in_errors():
    x = gk.tensor([1.0, NAN], dtype=gk.float64)
    for fn in (ns.nanprod, ns.nancumsum, ns.nancumprod):
        with pytest.raises(gk.IndexOutOfRangeError, match=fn.__name__):
            fn(x, axis=2)
        with pytest.raises(gk.IndexOutOfRangeError, match=fn.__name__):
            fn(x, axis=-2)
        with pytest.raises(gk.DTypeError, match=fn.__name__):
            fn(x, dtype="complex64")
    np.testing.assert_array_equal(ns.nancumsum(gk.tensor(NAN, dtype=gk.float64), axis=0).numpy(), [0.0])
    assert float(ns.nanprod(gk.tensor(NAN, dtype=gk.float64)).numpy()) == 1.0  # 0-d, all NaN


def test_nancumprod_nan_before_zero_first_and_second_order(device):
    x = leaf([2.0, NAN, 0.0, 3.0, 0.5], device)
    y = ns.nancumprod(x)
    np.testing.assert_array_equal(y.numpy(), np.nancumprod(x.numpy()))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 2 + 6 + 3, 0.0, 0.0])
    check(ns.nancumprod, x)
    second_order(lambda x: ns.nancumprod(x) * gk.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device), x)


# --------------------------------------------------------------------------- fmax / fmin
@pytest.mark.parametrize("src", ["int8", "int64", "bool", "float16", "float32"])
def test_fmax_with_a_nan_number_promotes_as_numpy(src, device):
    a = np.array([1, 0, 2]).astype(src)
    for nan in (NAN, np.float64("nan"), np.float32("nan")):
        for ours, theirs in ((nm.fmax, np.fmax), (nm.fmin, np.fmin)):
            want = theirs(a, nan)
            got = ours(gk.tensor(a, device=device), nan)
            numpy_2 = np.promote_types(a.dtype, nan.dtype) if isinstance(nan, np.generic) else want.dtype
            if np.lib.NumpyVersion(np.__version__) < "2.0.0":  # NumPy 1.x's value-based dtype or NumPy 2's
                assert got.dtype in (want.dtype, numpy_2), (src, type(nan).__name__)
                continue
            assert got.dtype == want.dtype, (src, type(nan).__name__)
            np.testing.assert_array_equal(got.numpy(), want)
            assert ours(nan, gk.tensor(a, device=device)).dtype == want.dtype


def test_fmax_both_nan_and_gradients(device):
    x, y = leaf([NAN, 1.0, -0.0, 2.0], device), leaf([NAN, NAN, 0.0, 3.0], device)
    np.testing.assert_array_equal(nm.fmax(x, y).numpy(), np.fmax(x.numpy(), y.numpy()))
    x2 = leaf([0.3, -1.0, 2.0], device)
    out = nm.fmax(x2, NAN)
    out.sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), [1.0, 1.0, 1.0])
    u, v = leaf([0.3, -1.2, 2.0], device), leaf([0.1, 0.5, -3.0], device)
    second_order(lambda u, v: nm.fmax(u, v) * nm.fmin(u, v), u, v)


# --------------------------------------------------------------------------- select, array_split, vdot, errors
def test_select_overlapping_and_broadcast_conditions(device):
    a = np.array([[1.0, -2.0, 3.0]])
    conds = [np.array([[True], [False]]), np.array([True, True, False])]  # (2, 1) and (3,): overlapping
    with gk.device(device):
        x = leaf(a, device)
        got = nm.select(conds, [x, 2 * x], default=-1.0)
        np.testing.assert_array_equal(got.numpy(), np.select(conds, [a, 2 * a], default=-1.0))
        got.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0, 1.0]])  # row 0: 1; row 1: 2, 2, 0
        with pytest.raises(gk.ShapeError, match="select"):
            nm.select([np.array([True, False])], [gk.ones(3)])


def test_array_split_index_lists_as_numpy(device):
    a = np.arange(10.0).reshape(5, 2)
    x = gk.tensor(a, device=device)
    for parts in ([3, 1], [-2], [2, 10], [0, 0, 5], np.array([1, 4]), 7):
        got, want = nm.array_split(x, parts), np.array_split(a, parts)
        assert [t.numpy().tolist() for t in got] == [w.tolist() for w in want], parts
    with pytest.raises(gk.IndexOutOfRangeError, match="array_split"):
        nm.array_split(x, [1], axis=2)
    with pytest.raises(gk.ShapeError, match="array_split"):
        nm.array_split(gk.tensor(1.0), [1])
    with pytest.raises(gk.ArgumentTypeError, match="array_split"):
        nm.array_split(x, 1.5)


def test_vdot_of_shapes_with_one_size_and_fmax_errors(device):
    a, b = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2, 1) - 2
    x, y = leaf(a, device), leaf(b, device)
    np.testing.assert_allclose(nm.vdot(x, y).numpy(), np.vdot(a, b))
    second_order(lambda x, y: nm.vdot(x * x, y), x, y)
    assert float(nm.vdot(gk.zeros(0, device=device), gk.zeros((0, 3), device=device)).numpy()) == 0.0
    with pytest.raises(gk.ShapeError, match="fmin"):
        nm.fmin(x, gk.zeros(2, device=device))


def test_einsum_optimize_takes_numpy_bools(device):
    a = np.arange(6.0).reshape(2, 3)
    x = leaf(a, device)
    for opt in (np.True_, np.False_):
        np.testing.assert_allclose(gk.einsum("ij,kj->ik", x, x, optimize=opt).numpy(), a @ a.T)


# --------------------------------------------------------------------------- logsumexp's b wider than x
def test_logsumexp_b_broadcasts_wider_than_x(device):
    sp = pytest.importorskip("scipy.special")
    r = np.random.default_rng(3)
    a, b = r.standard_normal((2, 3)), r.uniform(-1, 2, (4, 2, 3))
    x, bt = leaf(a, device), leaf(b, device)
    for kw in ({"axis": -1}, {"axis": (0, 2), "keepdims": True}, {}):
        val, sign = gk.logsumexp(x, b=bt, return_sign=True, **kw)
        want, wsign = sp.logsumexp(a, b=b, return_sign=True, **kw)
        assert val.shape == np.shape(want) and sign.shape == np.shape(wsign)
        np.testing.assert_allclose(val.numpy(), want, rtol=1e-12)
        np.testing.assert_array_equal(sign.numpy(), wsign)
    check(lambda x, b: gk.logsumexp(x, axis=-1, b=b, return_sign=True)[0], x, bt)


# --------------------------------------------------------------------------- gk.array's copies of device arrays
def test_array_copy_is_told_by_memory_not_object(device):
    base = gk.tensor(np.arange(3.0), device=device)
    xp = base._backend.xp
    src = xp.asarray(base._data)  # the backend's own array type
    copied = array(src, device=device)
    assert not xp.may_share_memory(copied._data, src)
    kept = array(src, copy=False, device=device)
    assert xp.may_share_memory(kept._data, src)
    assert xp.may_share_memory(asarray(src, device=device)._data, src)
    with pytest.raises(gk.InvalidArgumentError, match="copy=False"):
        array(src, dtype="float32", copy=False, device=device)


# --------------------------------------------------------------------------- no host reads on the GPU
def test_additions_read_nothing_on_the_host(device, monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))
    from _host_reads import refuse_host_reads

    x = leaf([[1.0, NAN, 0.5], [2.0, 0.0, 3.0]], device)
    y = leaf([[0.3, 1.0, NAN], [2.0, -1.0, 4.0]], device)
    refuse_host_reads(device, monkeypatch)
    xf = ns.nancumsum(x, axis=1)
    outs = [ns.nancumsum(x, dtype="float32").double(), ns.nancumprod(x, 1), nm.fmax(x, y), nm.fmin(x, NAN),
            nm.select([xf > 1, y < 2], [xf, y], 0.0), nm.vdot(xf, xf), nm.append(xf, xf, axis=0),
            nm.array_split(xf, [1, 5], axis=-1)[0], nm.broadcast_arrays(xf, xf[0])[1], gk.special.log_expit(xf),
            gk.special.betaln(xf * xf + 1, 2.0), gk.einsum("ij,kj->ik", xf, xf, optimize=True),
            asarray(xf, dtype="float32").double()]
    ns.nanprod(x, axis=1)  # the forward only: prod's backward reads (not new)
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + gk.nansum(out)
    total.backward()
    assert x.grad is not None and y.grad is not None
