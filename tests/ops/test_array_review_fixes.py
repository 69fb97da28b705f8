"""Array-API defects found by a review against NumPy and PyTorch, one section per finding.

softmax/log_softmax/logsumexp of small integers (no wrap-around before the float cast), the Tensor
methods docs/API.md lists, axis 0 and -1 of 0-d tensors, GradkitErrors where raw Python or NumPy
errors escaped, ``t == None``, NumPy's tuple axes of expand_dims and ``axis=None`` of sort/argsort,
gk.full's and gk.arange's dtype inference, the 0-"norm", sigmoid's dtype for integers, and
PyTorch's gradients of relu/maximum/minimum at NaN.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit.testing import gradcheck

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
NAN = np.nan


def _t(values, device, requires_grad=False, dtype=np.float64):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _sin_dtype(dtype):
    return np.sin(np.zeros(1, dtype)).dtype


# ------------------------------------------------------------ 1. softmax family on small integers
def _softmax_ref(a, axis=-1):
    a = a.astype(np.float64)
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_softmax_family_casts_integers_before_subtracting_the_max(device, dtype):
    a = np.array([[3, 1, 0], [100, 0, 2]] if dtype != "int8" else [[3, 1, 0], [100, -100, 2]], dtype=dtype)
    x = gk.tensor(a, device=device)
    want = _sin_dtype(dtype)
    rtol = 2e-3 if want == np.float16 else 1e-6
    ref = _softmax_ref(a)
    for out, expected in (
        (gk.softmax(x), ref),
        (F.softmax(x, dim=-1), ref),
        (gk.log_softmax(x), np.log(ref)),
        (F.log_softmax(x, dim=-1), np.log(ref)),
        (gk.logsumexp(x, axis=-1), np.log(np.exp(a.astype(np.float64)).sum(-1))),
    ):
        assert out.dtype == want
        got = out.numpy().astype(np.float64)
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=1e-3 if want == np.float16 else 1e-9)
        assert (got[~finite] == expected[~finite]).all()


def test_logsumexp_of_bools_is_float32_and_softmax_refuses_bools(device):
    b = gk.tensor([True, False], device=device)
    out = gk.logsumexp(b)
    assert out.dtype == np.float32 and out.item() == pytest.approx(np.log(np.e + 1), rel=1e-6)
    for f in (gk.softmax, gk.log_softmax):
        with pytest.raises(gk.DTypeError, match="bool"):
            f(b)


# ------------------------------------------------------------ 2. the Tensor methods docs/API.md lists
def _documented_methods():
    doc = DOC.read_text(encoding="utf-8")
    names = []
    for label in ("Methods (same as the functions below):", "More methods (PyTorch's spellings):",
                  "in place (recorded in the graph, see above):", "shorthands"):
        start = doc.index("`", doc.index(label)) + 1
        code = re.sub(r"\([^()]*\)", "", doc[start:doc.index("`", start)])
        names += [part.split()[0] for part in code.split(",") if part.strip()]
    return names


def test_every_documented_tensor_method_exists():
    names = _documented_methods()
    assert "sort" in names and "masked_fill" in names and len(names) > 100
    assert [n for n in names if not hasattr(gk.Tensor, n)] == []


def test_tensor_sort_is_gk_sort(device):
    a = np.array([[3.0, -1.0, 2.0], [0.5, 7.0, -4.0]])
    x = _t(a, device)
    np.testing.assert_array_equal(x.sort().numpy(), np.sort(a))
    np.testing.assert_array_equal(x.sort(0).numpy(), np.sort(a, 0))
    np.testing.assert_array_equal(x.sort(axis=1, descending=True).numpy(), -np.sort(-a, 1))
    np.testing.assert_array_equal(x.sort(None).numpy(), np.sort(a, axis=None))
    np.testing.assert_array_equal(x.argsort(None).numpy(), np.argsort(a, axis=None, kind="stable"))
    gradcheck(lambda t: t.sort(0) * gk.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device),
              [_t(a, device, True)])


# ------------------------------------------------------------ 3. axis 0 and -1 of a 0-d tensor
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_of_a_0d_tensor(device, axis):
    x = _t(2.5, device, True)
    for f, value in ((gk.softmax, 1.0), (gk.log_softmax, 0.0), (F.softmin, 1.0), (F.softmax, 1.0),
                     (F.log_softmax, 0.0), (lambda t, a: t.softmax(a), 1.0)):
        out = f(x, axis)
        assert out.shape == () and out.item() == value
        gradcheck(lambda t, f=f: f(t, axis) * 3.0, [x])
    for layer, value in ((gk.nn.Softmax(axis), 1.0), (gk.nn.LogSoftmax(axis), 0.0), (gk.nn.Softmin(axis), 1.0)):
        assert layer(x).item() == value


@pytest.mark.parametrize("axes", [(0, 0), (0, -1), (-1, -1)])
def test_swapaxes_of_a_0d_tensor(device, axes):
    x = _t(2.5, device, True)
    out = gk.swapaxes(x, *axes)
    assert out.shape == () and out.item() == 2.5
    assert x.swapaxes(*axes).item() == 2.5
    out.backward()
    assert x.grad.item() == 1.0


@pytest.mark.parametrize("axis", [1, -2])
def test_0d_axes_beyond_0_and_minus_1_are_refused(device, axis):
    x = _t(2.5, device)
    for f in (gk.softmax, gk.log_softmax, gk.sum, lambda t, a: gk.swapaxes(t, a, 0), F.softmin):
        with pytest.raises(gk.IndexOutOfRangeError, match="out of range"):
            f(x, axis)


ZERO_D_OPS = {
    "softmax": lambda t, a: gk.softmax(t, a), "log_softmax": lambda t, a: gk.log_softmax(t, a),
    "softmin": lambda t, a: F.softmin(t, a), "swapaxes": lambda t, a: gk.swapaxes(t, a, a),
    "transpose": lambda t, a: gk.transpose(t, (a,)), "flatten": lambda t, a: gk.flatten(t, a, a),
    "unsqueeze": lambda t, a: gk.unsqueeze(t, a), "expand_dims": lambda t, a: gk.expand_dims(t, (a,)),
    "concatenate": lambda t, a: gk.concatenate([t, t], a), "stack": lambda t, a: gk.stack([t, t], a),
    "split": lambda t, a: gk.split(t, 1, a), "chunk": lambda t, a: gk.chunk(t, 1, a),
    "unbind": lambda t, a: gk.unbind(t, a), "gather": lambda t, a: gk.gather(t, a, gk.tensor(0, device=t.device)),
    "take": lambda t, a: gk.take(t, gk.tensor(0, device=t.device), a),
    "index_select": lambda t, a: gk.index_select(t, a, gk.tensor([0], device=t.device)),
    "sort": lambda t, a: gk.sort(t, a), "argsort": lambda t, a: gk.argsort(t, a), "topk": lambda t, a: gk.topk(t, 1, a),
    "cumsum": lambda t, a: gk.cumsum(t, a), "cumprod": lambda t, a: gk.cumprod(t, a),
    "diff": lambda t, a: gk.diff(t, axis=a), "flip": lambda t, a: gk.flip(t, a), "roll": lambda t, a: gk.roll(t, 1, a),
    "moveaxis": lambda t, a: gk.moveaxis(t, a, a), "repeat": lambda t, a: gk.repeat(t, 2, a),
    "squeeze": lambda t, a: gk.squeeze(t, a), "diagonal": lambda t, a: gk.diagonal(t, 0, a, a),
    "sum": lambda t, a: gk.sum(t, a), "logsumexp": lambda t, a: gk.logsumexp(t, a), "max": lambda t, a: gk.max(t, a),
    "argmax": lambda t, a: gk.argmax(t, a), "var": lambda t, a: gk.var(t, a), "norm": lambda t, a: gk.norm(t, 2, a),
    "median": lambda t, a: gk.median(t, a), "quantile": lambda t, a: gk.quantile(t, 0.5, a),
    "nanmean": lambda t, a: gk.nanmean(t, a), "ptp": lambda t, a: gk.ptp(t, a),
    "average": lambda t, a: gk.average(t, a),
    "count_nonzero": lambda t, a: gk.count_nonzero(t, a), "linalg.norm": lambda t, a: gk.linalg.norm(t, axis=a),
    "glu": lambda t, a: F.glu(t, a), "normalize": lambda t, a: F.normalize(t, dim=a),
    "cosine_similarity": lambda t, a: F.cosine_similarity(t, t, a),
    "Unflatten": lambda t, a: gk.nn.Unflatten(a, (1,))(t),
}


@pytest.mark.parametrize("name", list(ZERO_D_OPS))
def test_axis_0_and_minus_1_of_a_0d_tensor_work_or_raise_a_gradkit_error(device, name):
    results = []
    for axis in (0, -1):
        try:
            out = ZERO_D_OPS[name](_t(2.0, device), axis)
            results.append(tuple(o.tolist() for o in out) if isinstance(out, (tuple, list)) else out.tolist())
        except gk.GradkitError as exc:
            assert name.split(".")[-1].lower() in str(exc).lower(), str(exc)
            results.append(type(exc))
    assert results[0] == results[1]  # -1 and 0 name the same axis of a 0-d tensor


def test_0d_torch_parity():
    torch = pytest.importorskip("torch")
    t, x = torch.tensor(2.5, dtype=torch.float64), gk.tensor(np.float64(2.5))
    for axis in (0, -1):
        assert gk.softmax(x, axis).item() == torch.softmax(t, axis).item()
        assert gk.log_softmax(x, axis).item() == torch.log_softmax(t, axis).item()
        assert F.softmin(x, axis).item() == torch.nn.functional.softmin(t, axis).item()
        assert gk.swapaxes(x, axis, 0).item() == torch.swapaxes(t, axis, 0).item()
        assert F.normalize(x, dim=axis).item() == torch.nn.functional.normalize(t, dim=axis).item()


# ------------------------------------------------------------ 4. GradkitErrors, not raw exceptions
def test_floor_divide_by_an_out_of_range_python_int(device):
    u = gk.tensor(np.array([1, 2], np.uint8), device=device)
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":  # (and CuPy's emulation with it)
        pytest.skip("NumPy 1.x promotes uint8 // -1 to int16 instead of refusing it (as it does for add)")
    for f in (lambda: u // -1, lambda: -1 // u, lambda: gk.floor_divide(u, 256)):
        with pytest.raises(gk.InvalidArgumentError, match=r"floor_divide: -?\d+ is out of range for a uint8 tensor"):
            f()
    assert (u // 2).tolist() == [0, 1] and (u // 2).dtype == np.uint8


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf, np.float32("nan")])
@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8"])
def test_integer_fill_with_nan_or_inf(device, dtype, value):
    t = gk.zeros(2, dtype=dtype, device=device)
    with pytest.raises(gk.InvalidArgumentError, match=f"fill_: .* {dtype} tensor"):
        t.fill_(value)
    assert t.tolist() == [0, 0]
    assert gk.zeros(2, device=device).fill_(value).numpy().tolist() == pytest.approx([value, value], nan_ok=True)


@pytest.mark.parametrize("grad", [False, True])
def test_eigvalsh_uplo_is_checked_as_eigh_checks_it(device, grad):
    a = np.array([[2.0, 1.0], [5.0, 3.0]])  # not symmetric: the triangle read matters
    x = _t(a, device, grad)
    lower, upper = np.linalg.eigvalsh(a, "L"), np.linalg.eigvalsh(a, "U")
    np.testing.assert_allclose(gk.linalg.eigvalsh(x, "u").numpy(), upper, rtol=1e-12)
    np.testing.assert_allclose(gk.linalg.eigvalsh(x, "l").numpy(), lower, rtol=1e-12)
    np.testing.assert_allclose(gk.linalg.eigvalsh(x).numpy(), lower, rtol=1e-12)
    with pytest.raises(gk.ArgumentTypeError, match="linalg.eigvalsh: UPLO must be a str"):
        gk.linalg.eigvalsh(x, np.array(["L", "U"]))
    with pytest.raises(gk.InvalidArgumentError, match="linalg.eigvalsh: UPLO must be 'L' or 'U', got 'X'"):
        gk.linalg.eigvalsh(x, "X")
    if grad:
        # the gradient is symmetric (as PyTorch's): checked through a symmetric argument
        gradcheck(lambda t: gk.linalg.eigvalsh((t + t.mT) * 0.5, "u") * gk.tensor([1.0, 2.0], device=device), [x])


# ------------------------------------------------------------ 5. t == None
def test_comparing_with_none_is_a_python_bool(device):
    t = _t([1.0, 2.0], device)
    assert (t == None) is False  # noqa: E711 - the point of the test
    assert (t != None) is True  # noqa: E711
    assert None not in [t]
    assert t in [None, t]
    assert [None, t].index(t) == 1
    torch = pytest.importorskip("torch")
    assert (torch.tensor([1.0]) == None) is False  # noqa: E711 - what gradkit follows


# ------------------------------------------------------------ 6. NumPy's signatures
@pytest.mark.parametrize("axis", [(0, -1), (0, 1), (-1, -2), (2, 0), (1,), ()])
def test_expand_dims_takes_a_tuple_of_axes(device, axis):
    a = np.arange(6.0).reshape(2, 3)
    out = gk.expand_dims(_t(a, device), axis)
    assert out.shape == np.expand_dims(a, axis).shape
    np.testing.assert_array_equal(out.numpy(), np.expand_dims(a, axis))
    gradcheck(lambda t: gk.expand_dims(t, axis) * 2.0, [_t(a, device, True)])


def test_expand_dims_errors(device):
    x = _t(np.zeros(3), device)
    with pytest.raises(gk.InvalidArgumentError, match="expand_dims: repeated axis"):
        gk.expand_dims(x, (0, -3))
    with pytest.raises(gk.IndexOutOfRangeError, match="expand_dims: axis 3 is out of range"):
        gk.expand_dims(x, (0, 3))
    with pytest.raises(gk.ArgumentTypeError, match="expand_dims: axis must be an int"):
        gk.expand_dims(x, (0, 1.0))
    assert gk.expand_dims(x, 0).shape == (1, 3) and gk.expand_dims(x, [1]).shape == (3, 1)


@pytest.mark.parametrize("shape", [(2, 3), (4,), (), (2, 0)])
def test_sort_and_argsort_with_axis_none_flatten_first(device, shape):
    a = np.random.default_rng(1).standard_normal(shape)
    x = _t(a, device)
    for descending in (False, True):
        out = gk.sort(x, axis=None, descending=descending)
        expected = np.sort(a, axis=None)
        np.testing.assert_array_equal(out.numpy(), expected[::-1] if descending else expected)
        idx = gk.argsort(x, None, descending)
        assert idx.dtype == np.int64 and idx.shape == (a.size,)
        np.testing.assert_array_equal(a.reshape(-1)[idx.numpy()], out.numpy())
    if a.size:
        weights = gk.tensor(np.arange(1.0, a.size + 1), device=device)
        gradcheck(lambda t: gk.sort(t, None) * weights, [_t(a, device, True)])


# ------------------------------------------------------------ 7. gk.full's and gk.arange's dtype
@pytest.mark.parametrize("value", [
    1.5, 2, True, np.float64(1.5), np.float32(1.5), np.float16(1.5), np.int32(3), np.int8(3), np.bool_(True),
    np.array(2), np.array(2.5), np.array([2.5], np.float32), np.array(True),
])
def test_full_infers_the_dtype_gk_tensor_gives(device, value):
    out = gk.full((2,), value, device=device)
    assert out.dtype == gk.tensor(value).dtype
    np.testing.assert_array_equal(out.numpy(), np.full((2,), value, out.dtype))


def test_full_from_a_tensor(device):
    for value, dtype in ((2, np.int64), (2.5, np.float32), (np.float64(2.5), np.float64)):
        v = gk.tensor(value, device=device)
        out = gk.full((3,), v, device=device)
        assert out.dtype == dtype and out.tolist() == [value] * 3
    assert gk.full((2,), gk.tensor(2), dtype="float64").dtype == np.float64
    torch = pytest.importorskip("torch")
    assert str(torch.full((2,), torch.tensor(2)).dtype) == "torch.int64"


def test_arange_keeps_a_numpy_float_dtype(device):
    assert gk.arange(np.float64(3), device=device).dtype == np.float64
    assert gk.arange(np.float64(3), device=device).tolist() == [0.0, 1.0, 2.0]
    assert gk.arange(np.float32(3), device=device).dtype == np.float32
    assert gk.arange(np.array(3.0), device=device).dtype == np.float64
    assert gk.arange(gk.tensor(3.0), device=device).dtype == np.float32
    assert gk.arange(0, np.float32(2), np.float64(0.5), device=device).dtype == np.float64
    assert gk.arange(3.0, device=device).dtype == np.float32  # a Python float: the default float
    assert gk.arange(3, device=device).dtype == np.int64
    assert gk.arange(np.float64(3), dtype="float32", device=device).dtype == np.float32


# ------------------------------------------------------------ 8. the 0-"norm"
def test_norm_ord_0_counts_non_zero_elements(device):
    a = np.array([[0.0, 2.0, -3.0], [0.0, 0.0, NAN]])
    x = _t(a, device, True)
    np.testing.assert_array_equal(gk.norm(x, 0).numpy(), 3.0)
    np.testing.assert_array_equal(gk.norm(x, 0, axis=1).numpy(), [2.0, 1.0])
    out = gk.norm(x, 0.0, axis=0, keepdims=True)
    assert out.shape == (1, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), [[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(gk.linalg.norm(x[0], 0).numpy(), gk.norm(x[0], 0).numpy())
    (gk.norm(x, 0, axis=1) * gk.tensor([np.inf, 2.0], device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))  # zero, not inf * 0
    gradcheck(lambda t: gk.norm(t, 0, axis=0), [_t([[1.0, 0.0], [2.0, 3.0]], device, True)])
    assert gk.norm(_t(np.zeros((0, 2)), device), 0, axis=0).tolist() == [0.0, 0.0]
    with pytest.raises(gk.InvalidArgumentError, match="norm: ord must be > 0, 0, inf or -inf"):
        gk.norm(x, -1)


def test_norm_ord_0_torch_parity():
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 2.0, -3.0], [0.0, 0.0, 1e-300]])
    for axis in (None, 0, 1):
        want = torch.linalg.vector_norm(torch.tensor(a), 0, dim=axis).numpy()
        np.testing.assert_array_equal(gk.norm(gk.tensor(a), 0, axis=axis).numpy(), want)


# ------------------------------------------------------------ 9. sigmoid's dtype for integers
@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "int32", "int64"])
def test_sigmoid_gives_the_float_dtype_sin_gives(device, dtype):
    a = np.array([0, 1, 1], dtype) if dtype == "bool" else np.array([-5, 0, 3], dtype) if dtype != "uint8" \
        else np.array([0, 3, 200], dtype)
    x = gk.tensor(a, device=device)
    out = gk.sigmoid(x)
    assert out.dtype == gk.sin(x).dtype == _sin_dtype(dtype)
    assert x.sigmoid().dtype == out.dtype
    ref = 1.0 / (1.0 + np.exp(-a.astype(np.float64)))
    np.testing.assert_allclose(out.numpy().astype(np.float64), ref, rtol=1e-3 if out.dtype == np.float16 else 1e-6)
    for f in (gk.tanh, gk.exp, gk.log1p, gk.erf, gk.sqrt, gk.rsqrt, gk.reciprocal):
        with np.errstate(all="ignore"):
            assert f(x).dtype == out.dtype, f.__name__


# ------------------------------------------------------------ 10. relu, maximum, minimum at NaN
def test_relu_passes_the_gradient_at_nan_as_pytorch(device):
    x = _t([NAN, -1.0, 0.0, -0.0, 2.0], device, True)
    gk.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0, 0.0, 1.0])
    gradcheck(gk.relu, [_t([-1.5, 0.3, 2.0, -0.2], device, True)])


MAX_CASES = (  # a, b, maximum's gradients of a and b, minimum's (PyTorch's)
    ([NAN, 1.0, 2.0, NAN, 3.0], [0.0, NAN, 2.0, NAN, 1.0],
     [1.0, 1.0, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 1.0, 0.0], [1.0, 1.0, 0.5, 1.0, 0.0], [1.0, 1.0, 0.5, 1.0, 1.0]),
)


def test_maximum_and_minimum_gradients_at_nan_and_ties(device):
    a, b, max_a, max_b, min_a, min_b = MAX_CASES[0]
    for f, want_a, want_b in ((gk.maximum, max_a, max_b), (gk.minimum, min_a, min_b)):
        ta, tb = _t(a, device, True), _t(b, device, True)
        f(ta, tb).sum().backward()
        np.testing.assert_array_equal(ta.grad.numpy(), want_a)
        np.testing.assert_array_equal(tb.grad.numpy(), want_b)
        assert ta.grad.dtype == np.float64
    x = _t([NAN, -1.0, 1.0], device, True, np.float32)
    gk.maximum(x, 0.0).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1.0, 0.0, 1.0]
    rng = np.random.default_rng(3)
    gradcheck(gk.maximum, [_t(rng.standard_normal(4), device, True), _t(rng.standard_normal(4), device, True)])
    gradcheck(gk.minimum, [_t(rng.standard_normal((2, 3)), device, True), _t(rng.standard_normal(3), device, True)])


def test_relu_maximum_minimum_torch_parity():
    torch = pytest.importorskip("torch")
    a, b = MAX_CASES[0][:2]
    for gf, tf in ((gk.maximum, torch.maximum), (gk.minimum, torch.minimum)):
        ga, gb = gk.tensor(a, requires_grad=True), gk.tensor(b, requires_grad=True)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        gf(ga, gb).sum().backward()
        tf(ta, tb).sum().backward()
        np.testing.assert_array_equal(ga.grad.numpy(), ta.grad.numpy())
        np.testing.assert_array_equal(gb.grad.numpy(), tb.grad.numpy())
    values = [NAN, -1.0, 0.0, 2.0]
    x, tx = gk.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    gk.relu(x).sum().backward()
    torch.relu(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


# ------------------------------------------------------------ 11. masked_fill broadcasts as PyTorch's
def test_masked_fill_result_shape_is_the_broadcast_shape_as_pytorch(device):
    # PyTorch's out-of-place masked_fill broadcasts x up to the mask (only masked_fill_ refuses): kept.
    out = gk.masked_fill(gk.zeros(2, device=device), gk.tensor([[True, False]], device=device), 1.0)
    assert out.shape == (1, 2) and out.tolist() == [[1.0, 0.0]]
    torch = pytest.importorskip("torch")
    assert torch.masked_fill(torch.zeros(2), torch.tensor([[True, False]]), 1.0).shape == (1, 2)
