"""NumPy's and SciPy's keywords on reductions, softmax and array creation.

``dtype=`` on sum, mean, prod, cumsum, cumprod, nansum and nanmean (cast first, then reduce: the gradient
comes back in x's dtype); ``norm``'s ``ord=None`` (NumPy's default); ``logsumexp``'s SciPy keywords ``b``
and ``return_sign``; ``softmax``/``log_softmax`` with an explicit ``axis=None`` (SciPy's: over all the
elements); ``gk.asarray`` and ``gk.array`` with NumPy's dtypes. Values against NumPy (and SciPy when it is
installed), float64 central differences, the errors, and no host read on the (emulated) GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.creation import array, asarray

RNG = np.random.default_rng(5)
A = RNG.standard_normal((3, 4))


def _check(f, *inputs):
    assert gk.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


# --------------------------------------------------------------------------- dtype= on reductions
REDUCTIONS = {
    "sum": (lambda x, dt: gk.sum(x, 1, dtype=dt), lambda a, dt: np.sum(a, 1, dtype=dt)),
    "mean": (lambda x, dt: gk.mean(x, 0, dtype=dt), lambda a, dt: np.mean(a, 0, dtype=dt)),
    "prod": (lambda x, dt: gk.prod(x, None, True, dtype=dt), lambda a, dt: np.prod(a, None, dtype=dt, keepdims=True)),
    "cumsum": (lambda x, dt: gk.cumsum(x, 1, dtype=dt), lambda a, dt: np.cumsum(a, 1, dtype=dt)),
    "cumprod": (lambda x, dt: gk.cumprod(x, None, dt), lambda a, dt: np.cumprod(a, None, dt)),
    "nansum": (lambda x, dt: gk.nansum(x, 0, dtype=dt), lambda a, dt: np.nansum(a, 0, dtype=dt)),
    "nanmean": (lambda x, dt: gk.nanmean(x, 1, dtype=dt), lambda a, dt: np.nanmean(a, 1, dtype=dt)),
}
CASTS = [("float32", "float64"), ("float64", "float32"), ("int8", "int8"), ("int32", "float32"), ("bool", "int64"),
         ("float64", "int64"), ("uint8", "float16")]


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_dtype_keyword_matches_numpy(name, device):
    ours, theirs = REDUCTIONS[name]
    for src, dt in CASTS:
        if name == "nanmean" and src.startswith("float") and dt == "int64":
            continue  # refused, as NumPy (below)
        a = (RNG.standard_normal((3, 4)) * 3).astype(src) if src != "bool" else RNG.uniform(size=(3, 4)) < 0.5
        if src.startswith("float"):
            a[0, 1] = np.nan if name.startswith("nan") else a[0, 1]
        with np.errstate(all="ignore"):
            expected = theirs(a, dt)
        out = ours(gk.tensor(a, device=device), dt)
        assert out.dtype == expected.dtype, (name, src, dt)
        tol = 2e-3 if "float16" in (src, dt) or (dt == "float32") else 1e-12
        np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol, err_msg=f"{name} {src} -> {dt}")


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_dtype_keyword_gradient_comes_back_in_the_input_dtype(name, device):
    ours, _ = REDUCTIONS[name]
    a = RNG.uniform(0.5, 1.5, (3, 4))
    x32 = gk.tensor(a.astype(np.float32), device=device, requires_grad=True)
    ours(x32, "float64").sum().backward()
    x64 = gk.tensor(a, device=device, requires_grad=True)
    ours(x64, None).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), rtol=1e-6)
    _check(lambda x: ours(x, "float64"), gk.tensor(a, device=device, requires_grad=True))
    _check(lambda x: ours(x.astype(gk.float64), gk.float64), gk.tensor(a, device=device, requires_grad=True))


def test_dtype_keyword_sums_in_that_dtype():
    a = np.array([100, 100, 100], dtype=np.int8)  # wraps in int8, as NumPy's
    assert gk.sum(gk.tensor(a), dtype="int8").item() == np.sum(a, dtype=np.int8)
    assert gk.sum(gk.tensor(a)).item() == 300
    big = np.full(4096, 0.1, dtype=np.float32)
    assert gk.sum(gk.tensor(big), dtype=gk.float64).item() == np.sum(big, dtype=np.float64)
    assert gk.sum(gk.tensor([True, True]), dtype="bool").item() is True  # NumPy's logical or


def test_dtype_keyword_errors():
    x = gk.tensor([1.0, 2.0])
    for fn in (gk.sum, gk.mean, gk.prod, gk.cumsum, gk.cumprod, gk.nansum, gk.nanmean):
        with pytest.raises(gk.DTypeError, match=fn.__name__ + ": unknown or unsupported dtype"):
            fn(x, dtype="complex128")
    with pytest.raises(gk.DTypeError, match="nanmean: a float32 tensor needs a floating-point dtype"):
        gk.nanmean(x, dtype="int64")


# --------------------------------------------------------------------------- norm's ord=None
def test_norm_ord_none_is_numpy_default(device):
    v, m, t = RNG.standard_normal(5), RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3, 4))
    for a, kwargs in ((v, {}), (m, {}), (t, {"axis": (0, 2)}), (m, {"axis": 1, "keepdims": True}), (t, {})):
        expected = np.linalg.norm(a if kwargs or a.ndim < 3 else a.ravel(), **kwargs)
        for ord_ in (None, "fro") if a.ndim > 1 and kwargs.get("axis", (0, 1)) != 1 else (None,):
            out = gk.norm(gk.tensor(a, device=device), ord_, **kwargs)
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13)
    assert gk.norm(gk.tensor(v)).item() == pytest.approx(np.linalg.norm(v), rel=1e-14)
    assert gk.tensor(m).norm(None).item() == pytest.approx(np.linalg.norm(m), rel=1e-14)
    _check(lambda x: gk.norm(x, None, (0, 2)), gk.tensor(t, device=device, requires_grad=True))
    with pytest.raises(gk.ArgumentTypeError, match="norm: ord must be a number, inf, -inf, None or 'fro'"):
        gk.norm(gk.tensor(v), "nuc")
    with pytest.raises(gk.InvalidArgumentError, match="norm: got both ord=3"):
        gk.norm(gk.tensor(v), 3, p=2)


# --------------------------------------------------------------------------- logsumexp's b and return_sign
def _lse_ref(a, axis=None, b=None, keepdims=False, return_sign=False):
    special = pytest.importorskip("scipy.special")
    with np.errstate(all="ignore"):
        return special.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)


LSE_CASES = [
    (A, {"axis": 1, "b": RNG.standard_normal(4)}),  # b broadcast, some sums negative
    (A, {"axis": 0, "b": RNG.uniform(0.1, 2, (3, 4)), "keepdims": True}),
    (A[0], {"axis": None, "b": RNG.uniform(0.1, 2, (3, 4))}),  # x broadcast by b
    (A, {"axis": (0, 1), "b": np.array([[2.0], [0.5], [-0.1]])}),
    (A, {"axis": -1, "b": 2.0}),
]


@pytest.mark.parametrize("case", range(len(LSE_CASES)))
def test_logsumexp_b_and_sign_match_scipy(case, device):
    a, kw = LSE_CASES[case]
    x = gk.tensor(a, device=device)
    b = gk.tensor(kw["b"], device=device) if isinstance(kw["b"], np.ndarray) else kw["b"]
    axis, keep = kw["axis"], kw.get("keepdims", False)
    value, sign = gk.logsumexp(x, axis, keep, b=b, return_sign=True)
    ref_value, ref_sign = _lse_ref(a, axis, kw["b"], keep, True)
    np.testing.assert_allclose(value.numpy(), ref_value, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(sign.numpy(), ref_sign)
    assert not sign.requires_grad and sign.dtype == value.dtype
    plain = gk.logsumexp(x, axis, keep, b=b)
    np.testing.assert_allclose(plain.numpy(), _lse_ref(a, axis, kw["b"], keep), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("case", range(len(LSE_CASES)))
def test_logsumexp_b_gradients(case, device):
    a, kw = LSE_CASES[case]
    axis, keep = kw["axis"], kw.get("keepdims", False)
    x = gk.tensor(a, device=device, requires_grad=True)
    if isinstance(kw["b"], np.ndarray):
        b = gk.tensor(kw["b"], device=device, requires_grad=True)
        _check(lambda x, b: gk.logsumexp(x, axis, keep, b=b, return_sign=True)[0], x, b)
        assert b.requires_grad
    else:
        _check(lambda x: gk.logsumexp(x, axis, keep, b=kw["b"]), x)


def test_logsumexp_b_edges():
    inf, nan = np.inf, np.nan
    cases = [([1.0, 2.0], [1.0, -2.0]), ([inf, 1.0], [0.0, 1.0]), ([inf, inf], [1.0, -1.0]), ([1.0, 2.0], [0.0, 0.0]),
             ([-inf, -inf], [1.0, 1.0]), ([nan, 1.0], [1.0, 1.0]), ([1.0, 2.0], [-1.0, -1.0])]
    for a, b in cases:
        for rs in (False, True):
            out = gk.logsumexp(gk.tensor(np.array(a)), b=gk.tensor(np.array(b)), return_sign=rs)
            value = out[0] if rs else out
            with np.errstate(all="ignore"):
                total = np.sum(np.where(np.array(b) == 0, 0.0, np.array(b) * np.exp(np.array(a))))
                ref = np.log(np.abs(total)) if rs or not total < 0 else nan
            np.testing.assert_allclose(value.numpy(), ref, rtol=1e-15, err_msg=f"{a} {b} {rs}")
            if rs:
                np.testing.assert_array_equal(out[1].numpy(), np.sign(total))
    # b == 0 where x is inf: no term there, and a zero slope in x
    x = gk.tensor(np.array([np.inf, 0.0, 1.0]), requires_grad=True)
    gk.logsumexp(x, b=gk.tensor(np.array([0.0, 1.0, 1.0]))).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-14)
    # without b, the sign is 1, or 0 for an empty or all -inf sum
    value, sign = gk.logsumexp(gk.tensor([[-np.inf, -np.inf], [0.0, 1.0]]), 1, return_sign=True)
    np.testing.assert_array_equal(sign.numpy(), [0.0, 1.0])
    assert value.numpy()[0] == -np.inf
    # a number or list b takes x's dtype; a float array promotes
    x32 = gk.tensor(np.float32([1, 2]))
    assert gk.logsumexp(x32, b=[0.5, 2.0]).dtype == np.float32
    assert gk.logsumexp(x32, b=np.array([0.5, 2.0])).dtype == np.float64
    assert gk.logsumexp(gk.tensor([1, 2]), b=[1, 1]).dtype == np.float64  # ints: the float dtype sin gives


def test_logsumexp_positional_order_and_errors():
    x = gk.tensor(A)
    np.testing.assert_allclose(gk.logsumexp(x, 1, True).numpy(), _lse_ref(A, 1, keepdims=True), rtol=1e-14)
    assert gk.logsumexp(x, dim=1, keepdim=True).shape == (3, 1)
    with pytest.raises(gk.ArgumentTypeError, match=r"logsumexp: the third argument is keepdims.*b=\.\.\."):
        gk.logsumexp(x, 1, np.ones(4))
    with pytest.raises(gk.ShapeError, match=r"logsumexp: b of shape \(2,\) does not broadcast with x of shape"):
        gk.logsumexp(x, 1, b=np.ones(2))
    with pytest.raises(gk.ArgumentTypeError, match="logsumexp"):
        gk.logsumexp(x, 1, return_sign="yes")
    with pytest.raises(gk.GradkitError, match="logsumexp"):
        gk.logsumexp(x, 1, b="abc")


# --------------------------------------------------------------------------- softmax's axis=None
def test_softmax_axis_none_is_over_all_elements(device):
    x = gk.tensor(A, device=device)
    e = np.exp(A - A.max())
    np.testing.assert_allclose(gk.special.softmax(x, None).numpy(), e / e.sum(), rtol=1e-14)
    np.testing.assert_allclose(gk.special.log_softmax(x, axis=None).numpy(), np.log(e / e.sum()), rtol=1e-13)
    special = pytest.importorskip("scipy.special")
    np.testing.assert_allclose(gk.softmax(x, None).numpy(), special.softmax(A, axis=None), rtol=1e-14)
    np.testing.assert_allclose(gk.log_softmax(x, None).numpy(), special.log_softmax(A, axis=None), rtol=1e-13)
    # the default stays the last axis (PyTorch's and gradkit's), as does F.softmax's dim
    np.testing.assert_allclose(gk.softmax(x).numpy(), special.softmax(A, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(gk.nn.functional.softmax(x).numpy(), special.softmax(A, axis=-1), rtol=1e-14)
    assert gk.softmax(gk.zeros(0, 3), None).shape == (0, 3)
    assert gk.log_softmax(gk.zeros(0, 3), None).shape == (0, 3)


def test_softmax_axis_none_gradients_and_errors(device):
    x = gk.tensor(A, device=device, requires_grad=True)
    w = gk.tensor(RNG.standard_normal((3, 4)), device=device)
    _check(lambda x: gk.softmax(x, None) * w, x)
    _check(lambda x: gk.log_softmax(x, None) * w, x)
    with pytest.raises(gk.ArgumentTypeError, match="softmax: dim=None is PyTorch's deprecated implicit dim"):
        gk.softmax(x, dim=None)
    with pytest.raises(gk.ArgumentTypeError, match="log_softmax: dim=None"):
        x.log_softmax(dim=None)


# --------------------------------------------------------------------------- asarray and array
VALUES = [1.5, 7, True, [1.5, 2], [[1, 2], [3, 4]], [True, False], [], [1, 2.5], np.float32(2.5), np.int16(3),
          np.arange(3, dtype=np.uint8), np.zeros((2, 0), dtype=np.float16)]


@pytest.mark.parametrize("fn", [asarray, array])
def test_asarray_and_array_take_numpys_dtypes(fn, device):
    for v in VALUES:
        out = fn(v, device=device)
        expected = np.asarray(v)
        assert isinstance(out, gk.Tensor) and out.dtype == expected.dtype and out.shape == expected.shape, v
        assert out.device == gk.tensor(0, device=device).device
        assert not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)
    for v, dt in (([1.7, -2.5], "int64"), ([1, 2], gk.float32), (2.5, "float16"), (np.arange(3.0), "int8")):
        out = fn(v, dt, device=device)
        expected = np.asarray(v, dtype=dt)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), expected)
    assert gk.tensor(1.5).dtype == np.float32  # gk.tensor keeps PyTorch's default


def test_asarray_returns_a_tensor_itself_and_array_copies(device):
    t = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert asarray(t) is t and asarray(t, t.dtype, device=device) is t
    assert array(t, copy=None) is t and array(t, copy=False) is t
    converted = asarray(t, "float64")
    assert converted.dtype == np.float64 and converted.requires_grad  # in the graph, as Tensor.to
    converted.sum().backward()
    assert t.grad.dtype == np.float32
    copied = array(t)
    assert copied is not t and not copied.requires_grad and copied._data is not t._data
    np.testing.assert_array_equal(copied.numpy(), t.detach().numpy())
    moved = asarray(gk.tensor([1.0, 2.0]), device=device)
    assert moved.device == t.device


def test_array_copy_of_numpy_arrays():
    a = np.arange(3.0)
    assert asarray(a)._data is a or gk.default_device() != "cpu"
    if gk.default_device() == "cpu":
        assert array(a, copy=False)._data is a and array(a, copy=None)._data is a
        assert array(a)._data is not a
        assert not np.shares_memory(array(a)._data, a)
    with pytest.raises(gk.InvalidArgumentError, match="array: copy=False, but a list needs a copy"):
        array([1, 2], copy=False)
    with pytest.raises(gk.InvalidArgumentError, match="array: copy=False"):
        array(a, "float32", copy=False, device="cpu")


def test_asarray_and_array_errors():
    with pytest.raises(gk.InvalidArgumentError, match="asarray: the value 300 does not fit dtype int8"):
        asarray([300], dtype="int8")
    with pytest.raises(gk.InvalidArgumentError, match="array: NaN and infinity cannot be converted"):
        array([np.nan], dtype="int32")
    with pytest.raises(gk.DTypeError, match="asarray: cannot make a tensor from data of dtype <U3"):
        asarray("abc")
    with pytest.raises(gk.DTypeError, match="asarray: cannot make a tensor from data of dtype object"):
        asarray(2**70)
    with pytest.raises(gk.DTypeError, match="array: unknown or unsupported dtype"):
        array([1.0], dtype="complex64")
    with pytest.raises(gk.ArgumentTypeError, match="asarray"):
        asarray([[1, 2], [3]])
    with pytest.raises(gk.ArgumentTypeError, match="array: copy must be True, False or None"):
        array([1.0], copy="yes")


# --------------------------------------------------------------------------- no host reads on the GPU
def test_new_keywords_read_nothing_on_the_host(device, monkeypatch):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    x = gk.tensor(A, device=device, requires_grad=True)
    x32 = gk.tensor(A.astype(np.float32), device=device, requires_grad=True)
    b = gk.tensor(RNG.standard_normal(4), device=device, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    outs = [gk.sum(x32, 1, dtype="float64"), gk.mean(x32, dtype="float64"),  # (prod's backward reads: not new)
            gk.cumsum(x32, 1, "float64"), gk.cumprod(x32, 0, dtype="float64"), gk.nansum(x32, dtype="float64"),
            gk.nanmean(x32, 0, dtype="float64"), gk.norm(x, None), gk.logsumexp(x, 1, b=b, return_sign=True)[0],
            gk.logsumexp(x, 0, b=2.0), gk.softmax(x, None), gk.log_softmax(x, None), asarray(x, "float32").double()]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    total.backward()
    assert x.grad is not None and x32.grad is not None and b.grad is not None
    asarray([1.0, 2.0], device=device)
    array(x)
