"""NumPy programs ported to gradkit (``np.`` -> ``gk.``): unary functions of Python numbers, clip's NumPy
keywords, the reduction methods' ``dtype=``/``out=None``, ``copy``/``trace``/``ptp``/``searchsorted``/``fill``/
``conj``/``real``/``imag``/``item(i)``/``astype(copy=)``, ``divmod``, NumPy's functions called on a tensor
(``np.sum(t)`` calls ``t.sum(axis=None, out=None)``), and ``Tensor.softmax(None)`` refused as PyTorch's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk

# NumPy's ufuncs that gradkit's unary functions follow; each value is inside the function's domain.
NUMPY_UNARY = {
    "exp": 0.75, "expm1": 0.75, "log": 0.75, "log1p": 0.75, "sqrt": 0.75, "abs": -0.75, "sign": -0.75,
    "sin": 0.75, "cos": 0.75, "tan": 0.75, "tanh": 0.75, "arcsin": 0.75, "arccos": 0.75, "arctan": 0.75,
    "sinh": 0.75, "cosh": 0.75, "arcsinh": 0.75, "arccosh": 1.75, "arctanh": 0.75, "log2": 0.75,
    "log10": 0.75, "exp2": 0.75, "cbrt": -0.75, "sinc": 0.75, "deg2rad": 0.75, "rad2deg": 0.75,
    "fabs": -0.75, "square": 0.75, "negative": 0.75, "floor": 0.75, "ceil": 0.75, "round": 0.75,
    "trunc": -0.75, "fix": -0.75,
    "isnan": 0.75, "isfinite": 0.75, "signbit": -0.75,
}
# Integers and bools: NumPy's dtypes too, except where gradkit differs on purpose (reciprocal gives floats;
# floor, ceil, round, trunc and fix refuse bools).
INT_SKIP = {"reciprocal"}
BOOL_SKIP = {"reciprocal", "floor", "ceil", "round", "trunc", "fix"}
# NumPy 1.x's floor, ceil, trunc and fix of an integer are float64; gradkit keeps integers, as NumPy 2 does.
NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def leaf(a, device="cpu"):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)


def check(f, *inputs):
    assert gk.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def _numpy(name, value):
    with np.errstate(all="ignore"):
        return np.asarray(getattr(np, name)(value))


# --------------------------------------------------------------------- unary functions of Python numbers
@pytest.mark.parametrize("name", sorted(NUMPY_UNARY))
def test_unary_functions_take_python_numbers_as_numpy(name):
    for value in (NUMPY_UNARY[name], 2, -3, True, False):
        if (name in INT_SKIP and type(value) is int) or (name in BOOL_SKIP and type(value) is bool):
            continue
        try:
            ref = _numpy(name, value)
        except TypeError:  # NumPy refuses (sign or negative of a bool): so does gradkit, naming the op
            with pytest.raises(gk.DTypeError, match=name):
                getattr(gk, name)(value)
            continue
        with np.errstate(all="ignore"):
            out = getattr(gk, name)(value)
        assert isinstance(out, gk.Tensor) and out.shape == () and not out.requires_grad
        if not (NUMPY1 and name in ("floor", "ceil", "trunc", "fix") and type(value) is int):
            assert out.dtype == ref.dtype, (name, value, out.dtype, ref.dtype)
        # sinc at an integer is a rounding error off 0 (-3.9e-17 in NumPy); CUDA's sinpi gives 0 exactly
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-3 if ref.dtype == np.float16 else 1e-15,
                                   atol=1e-16 if name == "sinc" else 0)


def test_the_brief_examples_and_functions_numpy_lacks():
    assert gk.sqrt(0.75).dtype == np.float64 and gk.sqrt(0.75).item() == np.sqrt(0.75)
    assert gk.exp(-0.5).item() == np.exp(-0.5) and gk.log(2).item() == np.log(2)
    assert gk.log(2).dtype == np.float64  # an int is int64, so float64 as NumPy's
    assert gk.sqrt(np.float64(2.0)).dtype == np.float64 and gk.sqrt(np.float32(2.0)).dtype == np.float32
    assert gk.sigmoid(0.0).item() == 0.5 and gk.sigmoid(0.0).dtype == np.float64
    assert gk.relu(-2.0).item() == 0.0 and gk.relu(3).item() == 3
    assert gk.rsqrt(4.0).item() == 0.5 and gk.reciprocal(4).item() == 0.25
    assert abs(gk.erf(0.5).item() - 0.5204998778130465) < 1e-15
    assert gk.clip(2.5, 0, 1).item() == 1.0 and gk.clip(2.5, 0, 1).dtype == np.float64


def test_numbers_that_are_not_numbers_or_too_large_name_the_op():
    with pytest.raises(gk.GradkitError, match="sqrt"):
        gk.sqrt("a")
    with pytest.raises(gk.GradkitError, match="sqrt"):
        gk.sqrt(2**70)
    with pytest.raises(gk.InvalidArgumentError, match="exp.*int64"):
        gk.exp(2**63)
    with pytest.raises(gk.GradkitError, match="sin"):
        gk.sin(None)


def test_a_python_number_lands_on_the_default_device_without_a_host_read(monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parent / "nn"))
    from _host_reads import refuse_host_reads

    default = gk.tensor(1.0).device
    refuse_host_reads("cuda" if default != "cpu" else "cpu", monkeypatch)  # skips on the CPU
    outs = [gk.sqrt(0.75), gk.exp(-0.5), gk.log(2), gk.clip(2.5, 0.0, 1.0), gk.isnan(1.0), gk.sqrt(True)]
    assert all(o.device == default for o in outs)
    x = gk.tensor([0.5, 2.0], dtype=gk.float64, device=default, requires_grad=True)
    (x * gk.sqrt(0.75) + gk.exp(-0.5)).sum().backward()
    assert x.grad is not None


# ------------------------------------------------------------------------------------------------ clip
def test_clip_takes_numpys_keywords(device):
    a = np.array([-2.0, 0.5, 3.0])
    x = leaf(a, device)
    ref = np.clip(a, 0.0, 1.0)
    for out in (gk.clip(x, a_min=0.0, a_max=1.0), gk.clip(x, min=0.0, max=1.0), gk.clip(x, 0.0, a_max=1.0),
                x.clip(a_min=0.0, a_max=1.0), x.clip(min=0.0, max=1.0), x.clip(0.0, max=1.0)):
        np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(gk.clip(x, a_min=0.0).numpy(), np.clip(a, 0.0, None))
    np.testing.assert_array_equal(x.clip(max=1.0).numpy(), np.clip(a, None, 1.0))
    lo = leaf([0.0, 0.0, 0.0], device)
    check(lambda x, lo: gk.clip(x, a_min=lo, max=2.5), x, lo)  # tensor bounds, by either spelling
    check(lambda x: x.clip(min=-1.0, a_max=1.0) * x, x)


def test_clip_refuses_a_bound_given_twice_and_clamp_is_unchanged(device):
    x = leaf([-2.0, 0.5, 3.0], device)
    with pytest.raises(gk.InvalidArgumentError, match="clip: the lower bound was given twice, as lo and a_min"):
        gk.clip(x, 0.0, a_min=1.0)
    with pytest.raises(gk.InvalidArgumentError, match="clip: the upper bound was given twice, as a_max and max"):
        x.clip(a_max=1.0, max=2.0)
    with pytest.raises(gk.InvalidArgumentError, match="clip: at least one of"):
        gk.clip(x)
    with pytest.raises(gk.ArgumentTypeError, match="clip: a_min must be a number or a tensor"):
        gk.clip(x, a_min="0")
    with pytest.raises(gk.InvalidArgumentError, match="clip: out= is not supported"):
        x.clip(0.0, 1.0, out=np.zeros(3))
    np.testing.assert_array_equal(gk.clamp(x, min=0.0, max=1.0).numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.clamp(0.0, 1.0).numpy(), [0.0, 0.5, 1.0])
    with pytest.raises(TypeError):
        gk.clamp(x, a_min=0.0)  # PyTorch's function keeps PyTorch's names only


# ------------------------------------------------------------------------ reductions' NumPy keywords
def test_reduction_methods_pass_dtype_on(device):
    a = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]], dtype=np.float32)
    x = gk.tensor(a, device=device)
    b = np.nan_to_num(a)
    y = gk.tensor(b, device=device)
    for name, t, arr in (("sum", y, b), ("mean", y, b), ("prod", y, b), ("nansum", x, a), ("nanmean", x, a)):
        out = getattr(t, name)(1, dtype=np.float64)
        ref = getattr(np, name)(arr, 1, dtype=np.float64)
        assert out.dtype == np.float64, name
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-15)
    for name in ("cumsum", "cumprod"):
        out = getattr(y, name)(1, np.float64)
        np.testing.assert_allclose(out.numpy(), getattr(np, name)(b, 1, np.float64), rtol=1e-15)
        assert getattr(y, name)(dtype=np.float64).shape == (6,)
        assert getattr(y, name)(dim=0, dtype=np.float64).dtype == np.float64
    i = gk.tensor(np.array([[1, 2], [3, 4]], dtype=np.int8), device=device)
    assert i.sum(dtype=np.int8).dtype == np.int8 and i.mean(dtype=np.float32).dtype == np.float32
    w = leaf(b, device)
    check(lambda w: w.sum(0, dtype=np.float64) + w.mean(1, dtype=np.float64).sum(), w)
    check(lambda w: w.prod(dtype=np.float64) + w.cumsum(1, np.float64).sum() + w.cumprod(dtype=np.float64).sum(), w)
    check(lambda w: w.nansum(dim=1, dtype=np.float64) * w.nanmean(dtype=np.float64), w)


def test_logsumexp_method_takes_scipys_keywords(device):
    a = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    s = np.array([1.0, -2.0, 0.5])
    x, b = leaf(a, device), leaf(s, device)
    out, sign = x.logsumexp(1, b=b, return_sign=True)
    total = (s * np.exp(a)).sum(1)
    np.testing.assert_allclose(out.numpy(), np.log(np.abs(total)), rtol=1e-14)
    np.testing.assert_array_equal(sign.numpy(), np.sign(total))
    np.testing.assert_allclose(x.logsumexp(dim=1, b=np.abs(s)).numpy(), gk.logsumexp(x, 1, b=np.abs(s)).numpy())
    check(lambda x, b: x.logsumexp(1, b=b * b + 0.1), x, b)


# ------------------------------------------------------------------------------------- new methods
def test_copy_is_clone_in_the_graph(device):
    x = leaf([1.0, 2.0], device)
    y = x.copy()
    assert y is not x and y._data is not x._data and y.grad_fn is not None
    y.data[0] = 5.0  # memory of its own
    assert x.numpy()[0] == 1.0
    check(lambda x: x.copy() * x, x)


def test_trace_is_numpys(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(a, device)
    for args in ((), (1,), (-1,), (0, 1, 2), (1, 2, 0), (-2, -1, -3), (5,)):
        np.testing.assert_allclose(x.trace(*args).numpy(), a.trace(*args), rtol=1e-15)
    m = leaf(a[0], device)
    assert m.trace().shape == () and m.trace().item() == a[0].trace()
    i = gk.tensor(np.eye(3, dtype=np.int8), device=device)
    assert i.trace().dtype == np.eye(3, dtype=np.int8).trace().dtype == np.int64
    assert i.trace(dtype=np.float32).dtype == np.float32
    check(lambda x: x.trace(1, 0, 2), x)
    with pytest.raises(gk.ShapeError, match="trace"):
        leaf([1.0, 2.0], device).trace()
    with pytest.raises(gk.InvalidArgumentError, match="trace: axis1 and axis2 must differ"):
        m.trace(0, 1, 1)
    assert callable(gk.trace) and gk.trace is not gk.Tensor.trace  # the tracer stays gk.trace
    torch = pytest.importorskip("torch")
    assert m.trace().item() == torch.tensor(a[0]).trace().item()  # PyTorch's trace() of a matrix


def test_ptp_and_searchsorted(device):
    a = np.array([[1.0, 5.0, -2.0], [0.5, 0.5, 3.0]])
    x = leaf(a, device)
    np.testing.assert_array_equal(x.ptp().numpy(), np.ptp(a))
    np.testing.assert_array_equal(x.ptp(1, keepdims=True).numpy(), np.ptp(a, 1, keepdims=True))
    check(lambda x: x.ptp(0), x)
    s = gk.tensor([1.0, 2.0, 2.0, 4.0], device=device)
    v = [2.0, 3.0, 0.0, 5.0]
    np.testing.assert_array_equal(s.searchsorted(v).numpy(), np.searchsorted([1, 2, 2, 4], v))
    np.testing.assert_array_equal(s.searchsorted(v, side="right").numpy(), np.searchsorted([1, 2, 2, 4], v, "right"))
    u = gk.tensor([4.0, 1.0, 2.0], device=device)
    assert u.searchsorted(3.0, sorter=[1, 2, 0]).item() == np.searchsorted([4, 1, 2], 3, sorter=[1, 2, 0])
    with pytest.raises(gk.InvalidArgumentError, match="searchsorted: side"):
        s.searchsorted(1.0, side="middle")


def test_fill_is_fill_and_returns_none(device):
    x = gk.zeros(3, device=device)
    assert x.fill(2.5) is None
    np.testing.assert_array_equal(x.numpy(), [2.5, 2.5, 2.5])
    assert x.fill_(1.0) is x
    with pytest.raises(gk.ArgumentTypeError, match="fill: expected a number"):
        x.fill("a")
    with pytest.raises(gk.AutogradError, match="in-place fill"):
        leaf([1.0], device).fill(0.0)
    with pytest.raises(gk.InvalidArgumentError, match="fill: .*int8"):
        gk.zeros(2, dtype=gk.int8, device=device).fill(300)


def test_conj_real_imag_of_real_tensors(device):
    x = leaf([1.0, -2.0], device)
    assert x.conj() is x and x.conjugate() is x and x.real is x
    imag = x.imag
    assert imag.shape == x.shape and imag.dtype == x.dtype and not imag.requires_grad
    np.testing.assert_array_equal(imag.numpy(), np.imag(np.array([1.0, -2.0])))
    imag.data[0] = 7.0  # a tensor of its own: nothing else changes
    assert x.imag.numpy()[0] == 0.0
    check(lambda x: x.conj() * x.real, x)


def test_item_takes_numpys_index_arguments(device):
    a = np.arange(6.0).reshape(2, 3)
    x = gk.tensor(a, device=device)
    for args in ((4,), (-1,), (1, 2), ((1, -1),), (0, 0)):
        assert x.item(*args) == a.item(*args)
    assert gk.tensor([3.0, 4.0], device=device).item(1) == 4.0
    assert gk.tensor(5.0, device=device).item(0) == 5.0
    assert isinstance(gk.tensor([1, 2], device=device).item(1), int)
    with pytest.raises(gk.IndexOutOfRangeError, match="item: index 6 is out of bounds for a tensor of size 6"):
        x.item(6)
    with pytest.raises(gk.IndexOutOfRangeError, match="item: index .* out of bounds for shape"):
        x.item(2, 0)
    with pytest.raises(gk.IndexOutOfRangeError, match="item: 3 indices"):
        x.item(0, 0, 0)
    with pytest.raises(gk.ArgumentTypeError, match="item: index"):
        x.item(1.5)
    with pytest.raises(gk.ShapeError, match="item: only a one-element tensor"):
        x.item()


def test_astype_copy(device):
    x = leaf([1.0, 2.0], device)
    assert x.astype(x.dtype) is x and x.astype(x.dtype, copy=False) is x
    y = x.astype(x.dtype, copy=True)
    assert y is not x and y._data is not x._data and y.grad_fn is not None
    assert x.astype(np.float32, copy=True).dtype == np.float32
    check(lambda x: x.astype(np.float64, copy=True) * x, x)
    with pytest.raises(gk.ArgumentTypeError, match="astype: copy"):
        x.astype(np.float32, copy="yes")


def test_divmod(device):
    a = np.array([-3.5, 2.0, 7.0])
    x = leaf(a, device)
    q, r = divmod(x, 2)
    rq, rr = divmod(a, 2)
    np.testing.assert_array_equal(q.numpy(), rq)
    np.testing.assert_array_equal(r.numpy(), rr)
    q, r = divmod(7, gk.tensor([2.0, -3.0], device=device))
    np.testing.assert_array_equal(q.numpy(), np.floor_divide(7, [2.0, -3.0]))
    np.testing.assert_array_equal(r.numpy(), np.remainder(7, [2.0, -3.0]))
    b = leaf([1.5, 0.75, 2.5], device)
    check(lambda x, b: divmod(x, b)[1], x, b)  # the remainder's slopes 1 and -floor(x / b)
    assert not divmod(x, 2)[0].requires_grad  # floor division has no gradient
    qi, ri = divmod(gk.tensor([7, -7], device=device), 3)
    assert qi.tolist() == [2, -3] and ri.tolist() == [1, 2]
    with pytest.raises(gk.ShapeError, match="floor_divide"):
        divmod(x, gk.ones(2, device=device))


# ------------------------------------------------------------------ NumPy's functions on a tensor
def test_numpy_reductions_on_a_tensor_call_the_methods(device):
    a = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x = leaf(a, device)
    for fn in (np.sum, np.mean, np.max, np.min, np.prod, np.var, np.std, np.any, np.all, np.argmax, np.argmin,
               np.cumsum, np.cumprod, np.round):
        out = fn(x)
        assert isinstance(out, gk.Tensor), fn.__name__
        np.testing.assert_allclose(out.numpy(), fn(a), rtol=1e-14, err_msg=fn.__name__)
    np.testing.assert_allclose(np.sum(x, axis=1, keepdims=True).numpy(), np.sum(a, axis=1, keepdims=True))
    np.testing.assert_allclose(np.mean(x, 0, dtype=np.float32).numpy(), np.mean(a, 0, dtype=np.float32))
    np.testing.assert_allclose(np.std(x, ddof=1).numpy(), np.std(a, ddof=1), rtol=1e-14)
    out = np.clip(x, -1.0, 1.0)
    assert isinstance(out, gk.Tensor) and out.grad_fn is not None  # in the graph
    np.testing.assert_array_equal(out.numpy(), np.clip(a, -1.0, 1.0))
    np.sum(x * x).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
    for call in (lambda: np.sum(x, out=np.zeros(())), lambda: np.max(x, out=np.zeros(())),
                 lambda: x.mean(out=gk.zeros(()))):
        with pytest.raises(gk.InvalidArgumentError, match="out= is not supported"):
            call()
    with pytest.raises(gk.InvalidArgumentError, match="var: dtype= is not supported"):
        np.var(x, dtype=np.float32)
    with pytest.raises(TypeError, match="does not support ufuncs"):  # no ufunc dispatch: NumPy says so
        np.exp(x)
    np.testing.assert_array_equal(np.asarray(x), a)


# --------------------------------------------------------------------------------- softmax(None)
def test_softmax_methods_refuse_none_as_pytorch(device):
    x = leaf([[1.0, 2.0], [3.0, 0.5]], device)
    for name in ("softmax", "log_softmax"):
        with pytest.raises(gk.ArgumentTypeError, match=rf"{name}: Tensor.{name}\(None\) is PyTorch's"):
            getattr(x, name)(None)
        with pytest.raises(gk.ArgumentTypeError, match=rf"{name}: dim=None"):
            getattr(x, name)(dim=None)
        with pytest.raises(gk.ArgumentTypeError, match=name):
            getattr(gk.nn.functional, name)(x, None)
        # the functions keep SciPy's meaning of an explicit None
        whole = getattr(gk, name)(x, None)
        flat = getattr(gk, name)(x.reshape(-1), 0).reshape(2, 2)
        np.testing.assert_allclose(whole.numpy(), flat.numpy(), rtol=1e-14)
        np.testing.assert_allclose(getattr(x, name)(0).numpy(), getattr(gk, name)(x, 0).numpy())
