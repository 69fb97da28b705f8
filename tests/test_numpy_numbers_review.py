"""Review of numbers as operands (NumPy's rules): binary functions of two numbers where one is a NumPy
scalar (``gk.add(np.float32(2), 1.5)`` is float32, as NumPy 2's), Python ints beyond int64 refused with the
operation's name, ``gk.linalg``'s pair functions refusing numbers plainly, and NumPy's functions on tensors
(``np.clip``, ``np.cumsum``, ``np.var``, ...) staying in the graph with float64 central-difference slopes.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"
# (a, b) pairs of numbers and the dtype NumPy 2 gives. Under NumPy 1.x gradkit gives it too for floats (a
# Python float beside a float32 stays weak, as beside a float32 tensor), except that np.float64, a Python
# float too, is weak there as well; integer results are NumPy 1.x's value-based ones.
PAIRS = [
    ((2, 1.5), np.float64),
    ((True, 2), np.int64),
    ((np.float64(1.5), 2), np.float64),
    ((1.5, np.float32(2.0)), np.float32),
    ((np.float32(2.0), 1.5), np.float32),
    ((np.int8(3), 2), np.int8),
    ((2, np.int8(3)), np.int8),
    ((np.float64(1.5), np.float32(2.0)), np.float64),
    ((np.int16(3), np.int8(2)), np.int16),
    ((np.bool_(True), 2.5), np.float64),
]
BINARY = ("add", "subtract", "multiply", "maximum", "minimum", "remainder", "floor_divide", "fmod")


def leaf(a, device="cpu"):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)


def check(f, *inputs):
    assert gk.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", BINARY)
def test_binary_functions_of_two_numbers_numpy_scalars_included(name):
    default = gk.tensor(1.0).device
    for (a, b), dtype in PAIRS:
        out = getattr(gk, name)(a, b)
        assert isinstance(out, gk.Tensor) and out.shape == () and out.device == default, (name, a, b)
        np.testing.assert_allclose(out.numpy(), getattr(np, name)(a, b), rtol=1e-6)
        if NUMPY1 and np.dtype(dtype).kind in "iu":  # NumPy 1.x's value-based integer results
            continue
        if NUMPY1 and type(a) is np.float64 and isinstance(b, np.float32):
            dtype = np.float32  # np.float64 is weak under NumPy 1.x, as a Python float
        assert out.dtype == dtype, (name, a, b, out.dtype)


def test_float_results_of_numbers_follow_numpy():
    assert gk.divide(np.int8(3), 2).dtype == np.divide(np.int8(3), 2).dtype
    assert gk.hypot(np.float32(3.0), 4.0).dtype == np.float32 and gk.hypot(np.float32(3.0), 4.0).item() == 5.0
    assert gk.arctan2(1, np.float64(1.0)).dtype == np.float64
    assert gk.maximum(float("nan"), 1.0).item() != gk.maximum(float("nan"), 1.0).item()  # NaN, as NumPy's
    assert gk.power(2.0, -1).item() == 0.5


def test_numbers_that_do_not_combine_are_gradkit_errors_naming_the_op():
    with pytest.raises(gk.InvalidArgumentError, match="power: .*negative integer powers"):
        gk.power(2, -1)  # NumPy refuses an integer to a negative power
    if not NUMPY1:  # NumPy 1.x makes int8 and 300 an int16 (value-based casting)
        with pytest.raises(gk.InvalidArgumentError, match="add: 300 is out of range for a int8"):
            gk.add(np.int8(3), 300)
    with pytest.raises(gk.DTypeError, match="subtract"):
        gk.subtract(True, False)
    with pytest.raises(gk.ArgumentTypeError, match="add: expected at least one Tensor operand"):
        gk.add([1.0], 2.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: gk.sqrt(2**70),
        lambda: gk.negative(-(2**70)),
        lambda: gk.add(2**70, 1),
        lambda: gk.hypot(2**70, 1.0),
        lambda: gk.clip(2**70, 0, 1),
        lambda: gk.exp(2**63),
    ],
)
def test_python_ints_beyond_int64_name_the_op_and_the_range(call):
    with pytest.raises(gk.InvalidArgumentError, match=r"^(sqrt|negative|add|hypot|clip|exp): .*int64"):
        call()


def test_linalg_pairs_refuse_numbers_plainly():
    for x1, x2 in ((1.0, [1.0, 2.0]), ([1.0, 2.0], 1.0), (1.0, 2.0), (True, gk.tensor([1.0]))):
        with pytest.raises(gk.ArgumentTypeError, match="linalg.outer: x1 and x2 must be tensors or arrays, got"):
            gk.linalg.outer(x1, x2)
    np.testing.assert_array_equal(gk.linalg.outer([1, 2], [3, 4]).numpy(), np.outer([1, 2], [3, 4]))


def test_division_by_zero_of_numbers_and_tensors_is_numpys():
    with np.errstate(all="ignore"):
        for a, b in ((1, 0), (-7, 0), (1.0, 0.0), (0.0, 0.0)):
            for name in ("floor_divide", "remainder"):
                ref = getattr(np, name)(a, b)
                out = getattr(gk, name)(a, b)
                assert out.dtype == np.asarray(ref).dtype
                np.testing.assert_array_equal(out.numpy(), ref)
        q, r = divmod(gk.tensor([1, -2, 3]), gk.tensor([0, 0, 2]))
        rq, rr = np.divmod(np.array([1, -2, 3]), np.array([0, 0, 2]))
        np.testing.assert_array_equal(q.numpy(), rq)
        np.testing.assert_array_equal(r.numpy(), rr)


# ---------------------------------------------------------------------- NumPy's functions on a tensor
def test_numpy_functions_on_a_tensor_are_differentiable(device):
    a = np.array([[0.3, -1.2, 2.5], [1.7, 0.4, -0.6]])
    x = leaf(a, device)
    check(lambda x: np.clip(x, 0.0, 1.0) * x, x)
    check(lambda x: np.clip(x, a_min=-1.0, a_max=None), x)
    check(lambda x: np.cumsum(x, axis=0), x)
    check(lambda x: np.var(x, ddof=1), x)
    check(lambda x: np.sum(x * x, axis=0, keepdims=True), x)
    check(lambda x: np.mean(x, axis=1, dtype=np.float64), x)
    check(lambda x: np.std(x, axis=0, ddof=1), x)
    np.testing.assert_array_equal(np.round(x, 1).numpy(), np.round(a, 1))
    assert np.argmax(x).item() == np.argmax(a) and bool(np.any(x).item()) is True


def test_trace_of_batched_and_non_square_tensors(device):
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    x = leaf(a, device)
    for args in ((0, 0, 1), (2, 1, 3), (-2, 3, 1), (0, -1, -2), (7, 0, 1), (-9, 2, 3)):
        np.testing.assert_allclose(x.trace(*args).numpy(), a.trace(*args), rtol=1e-13)
    check(lambda x: x.trace(-1, 3, 2), x)
    # np.trace makes an array of its argument first: a NumPy result outside the graph, not a tensor
    assert not isinstance(np.trace(x[0, 0]), gk.Tensor)


def test_ptp_gradient_at_ties_splits_as_max_and_min(device):
    x = leaf([1.0, 3.0, 3.0, 1.0], device)
    x.ptp().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-0.5, 0.5, 0.5, -0.5])
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64, requires_grad=True)
    (t.amax() - t.amin()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_fill_of_a_tensor_names_fill_and_np_ptp_on_numpy1(device):
    t = gk.zeros(3, device=device)
    with pytest.raises(gk.ShapeError, match="fill: expected a number or a one-element tensor"):
        t.fill(gk.tensor([1.0, 2.0], device=device))
    with pytest.raises(gk.ShapeError, match="fill_: expected a number or a one-element tensor"):
        t.fill_(gk.tensor([1.0, 2.0], device=device))
    x = gk.tensor([[1.0, 5.0], [3.0, 2.0]], device=device)
    assert x.ptp(axis=0, out=None).tolist() == [2.0, 3.0]
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":  # NumPy 1.x's np.ptp calls the method with out=None
        assert isinstance(np.ptp(x, axis=0), gk.Tensor)
