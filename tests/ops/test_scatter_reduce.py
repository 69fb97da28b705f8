"""gk.scatter_reduce and gk.index_reduce (PyTorch's), with their gradients.

Values and gradients are compared with PyTorch 2.x's, computed once and written here (the tests do not import
torch): every reduce with include_self both ways, integer tensors (mean floor-divides), ties among the values of
amax/amin (the gradient split evenly, x's value counted even when left out), products with zeros, NaN. Random
float64 inputs with repeated indices go through gk.gradcheck, first and second derivatives. On the emulated
CuPy nothing is read back on the host beyond the bounds check (skipped here as during a CUDA graph capture).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

REDUCES = ("sum", "prod", "mean", "amax", "amin")
nan = float("nan")

# ---------------------------------------------------------------------------------------------- PyTorch's
# x.scatter_reduce(0, IDX, SRC, reduce, include_self=...) and its gradients for the cotangent G
X = [[1.5, -2.0, 0.5, 3.0], [0.25, 4.0, -1.0, 2.0], [-0.5, 1.0, 2.5, -3.0]]
IDX = [[0, 2, 0, 1], [0, 2, 2, 1], [1, 0, 0, 1]]
SRC = [[2.0, -1.5, 0.5, 3.0], [0.5, 0.75, -2.0, 1.0], [-1.0, 2.0, 1.5, 0.5]]
G = [[1.0, -2.0, 0.5, 0.25], [3.0, 1.5, -1.0, 2.0], [-0.5, 0.75, 1.25, -1.5]]
SCATTER = {  # (value, x's gradient, src's gradient)
    ("sum", True): ([[4.0, 0.0, 2.5, 3.0], [-0.75, 4.0, -1.0, 6.5], [-0.5, 0.25, 0.5, -3.0]],
                    [[1.0, -2.0, 0.5, 0.25], [3.0, 1.5, -1.0, 2.0], [-0.5, 0.75, 1.25, -1.5]],
                    [[1.0, 0.75, 0.5, 2.0], [1.0, 0.75, 1.25, 2.0], [3.0, -2.0, 0.5, 2.0]]),
    ("sum", False): ([[2.5, 2.0, 2.0, 3.0], [-1.0, 4.0, -1.0, 4.5], [-0.5, -0.75, -2.0, -3.0]],
                     [[0.0, 0.0, 0.0, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                     [[1.0, 0.75, 0.5, 2.0], [1.0, 0.75, 1.25, 2.0], [3.0, -2.0, 0.5, 2.0]]),
    ("prod", True): ([[1.5, -4.0, 0.375, 3.0], [-0.25, 4.0, -1.0, 3.0], [-0.5, -1.125, -5.0, -3.0]],
                     [[1.0, -4.0, 0.375, 0.25], [-3.0, 1.5, -1.0, 3.0], [-0.5, -0.84375, -2.5, -1.5]],
                     [[0.75, 0.5625, 0.375, 2.0], [3.0, -1.125, 3.125, 6.0], [0.75, 4.0, 0.125, 12.0]]),
    ("prod", False): ([[1.0, 2.0, 0.75, 3.0], [-1.0, 4.0, -1.0, 1.5], [-0.5, -1.125, -2.0, -3.0]],
                      [[0.0, 0.0, 0.0, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                      [[0.5, 0.5625, 0.75, 1.0], [2.0, -1.125, 1.25, 3.0], [3.0, -2.0, 0.25, 6.0]]),
    ("mean", True): ([[4 / 3, 0.0, 2.5 / 3, 3.0], [-0.375, 4.0, -1.0, 1.625], [-0.5, 0.25 / 3, 0.25, -3.0]],
                     [[1 / 3, -1.0, 0.5 / 3, 0.25], [1.5, 1.5, -1.0, 0.5], [-0.5, 0.25, 0.625, -1.5]],
                     [[1 / 3, 0.25, 0.5 / 3, 0.5], [1 / 3, 0.25, 0.625, 0.5], [1.5, -1.0, 0.5 / 3, 0.5]]),
    ("mean", False): ([[1.25, 2.0, 1.0, 3.0], [-1.0, 4.0, -1.0, 1.5], [-0.5, -0.375, -2.0, -3.0]],
                      [[0.0, 0.0, 0.0, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                      [[0.5, 0.375, 0.25, 2 / 3], [0.5, 0.375, 1.25, 2 / 3], [3.0, -2.0, 0.25, 2 / 3]]),
    ("amax", True): ([[2.0, 2.0, 1.5, 3.0], [0.25, 4.0, -1.0, 3.0], [-0.5, 1.0, 2.5, -3.0]],
                     [[0.0, 0.0, 0.0, 0.25], [3.0, 1.5, -1.0, 0.0], [-0.5, 0.75, 1.25, -1.5]],
                     [[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [0.0, -2.0, 0.5, 0.0]]),
    ("amax", False): ([[2.0, 2.0, 1.5, 3.0], [-1.0, 4.0, -1.0, 3.0], [-0.5, 0.75, -2.0, -3.0]],
                      [[0.0, 0.0, 0.0, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                      [[1.0, 0.0, 0.0, 2.0], [0.0, 0.75, 1.25, 0.0], [3.0, -2.0, 0.5, 0.0]]),
    ("amin", True): ([[0.5, -2.0, 0.5, 3.0], [-1.0, 4.0, -1.0, 0.5], [-0.5, -1.5, -2.0, -3.0]],
                     [[0.0, -2.0, 0.25, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                     [[0.0, 0.75, 0.25, 0.0], [1.0, 0.0, 1.25, 0.0], [3.0, 0.0, 0.0, 2.0]]),
    ("amin", False): ([[0.5, 2.0, 0.5, 3.0], [-1.0, 4.0, -1.0, 0.5], [-0.5, -1.5, -2.0, -3.0]],
                      [[0.0, 0.0, 0.0, 0.25], [0.0, 1.5, -1.0, 0.0], [-0.5, 0.0, 0.0, -1.5]],
                      [[0.0, 0.75, 0.25, 0.0], [1.0, 0.0, 1.25, 0.0], [3.0, -2.0, 0.0, 2.0]]),
}
# the same places, int64 values
XI = [[7, -7, 0, 5], [-3, 2, 9, -1], [4, -5, 1, 0]]
SI = [[2, -1, -8, 3], [5, 6, -2, 1], [-1, 2, 3, -4]]
INTS = {
    ("sum", True): [[14, -5, -5, 5], [-4, 2, 9, -1], [4, 0, -1, 0]],
    ("sum", False): [[7, 2, -5, 5], [-1, 2, 9, 0], [4, 5, -2, 0]],
    ("prod", True): [[70, -14, 0, 5], [3, 2, 9, 12], [4, 30, -2, 0]],
    ("prod", False): [[10, 2, -24, 5], [-1, 2, 9, -12], [4, -6, -2, 0]],
    ("mean", True): [[4, -3, -2, 5], [-2, 2, 9, -1], [4, 0, -1, 0]],
    ("mean", False): [[3, 2, -3, 5], [-1, 2, 9, 0], [4, 2, -2, 0]],
    ("amax", True): [[7, 2, 3, 5], [-1, 2, 9, 3], [4, 6, 1, 0]],
    ("amax", False): [[5, 2, 3, 5], [-1, 2, 9, 3], [4, 6, -2, 0]],
    ("amin", True): [[2, -7, -8, 5], [-3, 2, 9, -4], [4, -5, -2, 0]],
    ("amin", False): [[2, 2, -8, 5], [-1, 2, 9, -4], [4, -1, -2, 0]],
}
# x.index_reduce(1, II, IS, reduce, include_self=...) and its gradients for the cotangent IG
IX = [[1.5, -2.0, 0.5], [0.25, 4.0, -1.0]]
II = [2, 0, 2, 2]
IS = [[2.0, -1.5, 0.5, 0.0], [0.5, 0.75, -2.0, 1.0]]
IG = [[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]]
INDEX = {
    ("prod", True): ([[-2.25, -2.0, 0.0], [0.1875, 4.0, 1.0]],
                     [[-1.5, -2.0, 0.0], [2.25, 1.5, 1.0]],
                     [[0.0, 1.5, 0.0, 0.25], [-2.0, 0.75, 0.5, -1.0]]),
    ("prod", False): ([[-1.5, -2.0, 0.0], [0.75, 4.0, -1.0]],
                      [[0.0, -2.0, 0.0], [0.0, 1.5, 0.0]],
                      [[0.0, 1.0, 0.0, 0.5], [2.0, 3.0, -0.5, 1.0]]),
    ("mean", True): ([[0.0, -2.0, 0.75], [0.5, 4.0, -0.375]],
                     [[0.5, -2.0, 0.125], [1.5, 1.5, -0.25]],
                     [[0.125, 0.5, 0.125, 0.125], [-0.25, 1.5, -0.25, -0.25]]),
    ("mean", False): ([[-1.5, -2.0, 2.5 / 3], [0.75, 4.0, -0.5 / 3]],
                      [[0.0, -2.0, 0.0], [0.0, 1.5, 0.0]],
                      [[0.5 / 3, 1.0, 0.5 / 3, 0.5 / 3], [-1 / 3, 3.0, -1 / 3, -1 / 3]]),
    ("amax", True): ([[1.5, -2.0, 2.0], [0.75, 4.0, 1.0]],
                     [[1.0, -2.0, 0.0], [0.0, 1.5, 0.0]],
                     [[0.5, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, -1.0]]),
    ("amax", False): ([[-1.5, -2.0, 2.0], [0.75, 4.0, 1.0]],
                      [[0.0, -2.0, 0.0], [0.0, 1.5, 0.0]],
                      [[0.5, 1.0, 0.0, 0.0], [0.0, 3.0, 0.0, -1.0]]),
    ("amin", True): ([[-1.5, -2.0, 0.0], [0.25, 4.0, -2.0]],
                     [[0.0, -2.0, 0.0], [3.0, 1.5, 0.0]],
                     [[0.0, 1.0, 0.0, 0.5], [0.0, 0.0, -1.0, 0.0]]),
    ("amin", False): ([[-1.5, -2.0, 0.0], [0.75, 4.0, -2.0]],
                      [[0.0, -2.0, 0.0], [0.0, 1.5, 0.0]],
                      [[0.0, 1.0, 0.0, 0.5], [0.0, 3.0, -1.0, 0.0]]),
}


def _close(got, expected, what=""):
    expected = np.asarray(expected)
    got = got.numpy() if isinstance(got, gk.Tensor) else np.asarray(got)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=what)


def _run(fn, x, index, src, g, device, **kwargs):
    """(value, x's gradient, src's gradient) of ``fn`` (float64) for the cotangent ``g``."""
    xt = gk.tensor(np.asarray(x, dtype=np.float64), device=device, requires_grad=True)
    st = gk.tensor(np.asarray(src, dtype=np.float64), device=device, requires_grad=True)
    y = fn(xt, kwargs.pop("dim", 0), gk.tensor(np.asarray(index), device=device), st, **kwargs)
    (y * gk.tensor(np.asarray(g, dtype=np.float64), device=device)).sum().backward()
    assert y.device.split(":")[0] == device and y.dtype == gk.float64
    return y, xt.grad, st.grad


# ------------------------------------------------------------------------------------- values, gradients
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_matches_pytorch(device, reduce, include_self):
    value, gx, gs = SCATTER[reduce, include_self]
    y, x_grad, src_grad = _run(gk.scatter_reduce, X, IDX, SRC, G, device, reduce=reduce, include_self=include_self)
    _close(y, value, "value")
    _close(x_grad, gx, "x's gradient")
    _close(src_grad, gs, "src's gradient")


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_integers_match_pytorch(device, reduce, include_self):
    """int64 values (no gradients); mean floor-divides, as PyTorch's."""
    x = gk.tensor(np.array(XI, dtype=np.int64), device=device)
    y = gk.scatter_reduce(x, 0, gk.tensor(IDX, device=device), gk.tensor(np.array(SI), device=device), reduce,
                          include_self=include_self)
    assert y.dtype == gk.int64 and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), INTS[reduce, include_self])


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ("prod", "mean", "amax", "amin"))
def test_index_reduce_matches_pytorch(device, reduce, include_self):
    value, gx, gs = INDEX[reduce, include_self]
    y, x_grad, src_grad = _run(gk.index_reduce, IX, II, IS, IG, device, dim=1, reduce=reduce,
                               include_self=include_self)
    _close(y, value, "value")
    _close(x_grad, gx, "x's gradient")
    _close(src_grad, gs, "source's gradient")


def test_index_reduce_integers_floor_divide(device):
    x = gk.tensor(np.array([-7, 5, 3]), device=device)
    src = gk.tensor(np.array([0, 0, -1]), device=device)
    np.testing.assert_array_equal(gk.index_reduce(x, 0, [0, 0, 1], src, "mean").numpy(), [-3, 2, 3])
    np.testing.assert_array_equal(gk.index_reduce(x, 0, [0, 0, 1], src, "mean", include_self=False).numpy(),
                                  [0, -1, 3])


@pytest.mark.parametrize("include_self", [True, False])
def test_prod_gradient_with_zeros_matches_pytorch(device, include_self):
    """One src zero at a place (the others' product), two (0), x's value zero (src's product)."""
    x, idx = [2.0, 3.0, 0.0, 0.0, 5.0], [0, 0, 1, 1, 1, 2, 2, 3, 3]
    src, g = [0.0, 4.0, 0.0, 0.0, 2.0, 3.0, -1.5, 0.0, 2.0], [1.0, 2.0, -1.0, 0.5, 3.0]
    expected = {
        True: ([0.0, 0.0, 0.0, 0.0, 5.0], [0.0, 0.0, 4.5, 0.0, 3.0], [8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        False: ([0.0, 0.0, -4.5, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0, 3.0],
                [4.0, 0.0, 0.0, 0.0, 0.0, 1.5, -3.0, 1.0, 0.0]),
    }[include_self]
    for got, want in zip(_run(gk.scatter_reduce, x, idx, src, g, device, reduce="prod", include_self=include_self),
                         expected, strict=True):
        _close(got, want)


@pytest.mark.parametrize("reduce", ("amax", "amin"))
def test_ties_split_the_gradient_as_pytorch(device, reduce):
    """Values equal to the result share its gradient evenly; x's value is counted in the split even with
    include_self False (its own share then dropped), as PyTorch 2.x does."""
    x, idx, src = [0.0, 5.0, 3.0], [1, 1, 1, 2], [5.0, 2.0, 5.0, 3.0]
    expected = {
        ("amax", True): ([0.0, 5.0, 3.0], [1.0, 1 / 3, 0.5], [1 / 3, 0.0, 1 / 3, 0.5]),
        ("amax", False): ([0.0, 5.0, 3.0], [1.0, 0.0, 0.0], [1 / 3, 0.0, 1 / 3, 0.5]),
        ("amin", True): ([0.0, 2.0, 3.0], [1.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5]),
        ("amin", False): ([0.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.5]),
    }
    for include_self in (True, False):
        got = _run(gk.scatter_reduce, x, idx, src, [1.0, 1.0, 1.0], device, reduce=reduce,
                   include_self=include_self)
        for have, want in zip(got, expected[reduce, include_self], strict=True):
            _close(have, want, f"include_self={include_self}")


NAN_CASES = {  # x = [1, nan, 3, 4], src = [nan, 2, 5, 1, 7] at [0, 0, 1, 2, 2], cotangent [1, 2, 3, 4]
    ("amax", True): ([nan, nan, 7.0, 4.0], [nan, nan, 0.0, 4.0], [nan, nan, nan, 0.0, 3.0]),
    ("amax", False): ([nan, 5.0, 7.0, 4.0], [0.0, 0.0, 0.0, 4.0], [nan, nan, 2.0, 0.0, 3.0]),
    ("amin", True): ([nan, nan, 1.0, 4.0], [nan, nan, 0.0, 4.0], [nan, nan, nan, 3.0, 0.0]),
    ("amin", False): ([nan, 5.0, 1.0, 4.0], [0.0, 0.0, 0.0, 4.0], [nan, nan, 2.0, 3.0, 0.0]),
    ("sum", True): ([nan, nan, 11.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 3.0, 3.0]),
    ("prod", True): ([nan, nan, 21.0, 4.0], [nan, nan, 21.0, 4.0], [nan, nan, nan, 63.0, 9.0]),
    ("prod", False): ([nan, 5.0, 7.0, 4.0], [0.0, 0.0, 0.0, 4.0], [nan, nan, 2.0, 21.0, 3.0]),
    ("mean", False): ([nan, 5.0, 4.0, 4.0], [0.0, 0.0, 0.0, 4.0], [0.5, 0.5, 2.0, 1.5, 1.5]),
}


@pytest.mark.parametrize("case", list(NAN_CASES), ids=lambda c: f"{c[0]}-{c[1]}")
def test_nan_propagates_as_pytorch(device, case):
    reduce, include_self = case
    got = _run(gk.scatter_reduce, [1.0, nan, 3.0, 4.0], [0, 0, 1, 2, 2], [nan, 2.0, 5.0, 1.0, 7.0],
               [1.0, 2.0, 3.0, 4.0], device, reduce=reduce, include_self=include_self)
    for have, want in zip(got, NAN_CASES[case], strict=True):
        _close(have, want)


def test_other_dtypes_as_pytorch(device):
    # bool: sum and amax are "or", prod and amin "and"
    xb = gk.tensor([True, False, True, False], device=device)
    sb = gk.tensor([True, False, False, True, False], device=device)
    ib = gk.tensor([0, 0, 1, 2, 3], device=device)
    for reduce, want in (("sum", [True, False, True, False]), ("amax", [True, False, True, False]),
                         ("prod", [False, False, True, False]), ("amin", [False, False, True, False])):
        for include_self in (True, False):
            y = gk.scatter_reduce(xb, 0, ib, sb, reduce, include_self=include_self)
            assert y.dtype == gk.bool_
            np.testing.assert_array_equal(y.numpy(), want, err_msg=reduce)
    # float32 and float16 keep their dtype
    for dtype, want in ((np.float16, [0.58349609375, 1.5, 3.0]), (np.float32, [0.5833333134651184, 1.5, 3.0])):
        x = gk.tensor(np.array([1.0, 2.0, 3.0], dtype=dtype), device=device)
        y = gk.scatter_reduce(x, 0, [0, 0, 1], gk.tensor(np.array([0.5, 0.25, 1.0], dtype=dtype), device=device),
                              "mean")
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-3 if dtype == np.float16 else 1e-7)
    # uint8 wraps as PyTorch's
    x = gk.tensor(np.array([100, 7, 250], dtype=np.uint8), device=device)
    src = gk.tensor(np.array([3, 5, 10], dtype=np.uint8), device=device)
    for reduce, want in (("prod", [220, 7, 196]), ("sum", [108, 7, 4]), ("mean", [36, 7, 2]),
                         ("amax", [100, 7, 250]), ("amin", [3, 7, 10])):
        y = gk.scatter_reduce(x, 0, [0, 0, 2], src, reduce)
        assert y.dtype == np.uint8
        np.testing.assert_array_equal(y.numpy(), want, err_msg=reduce)


def test_shapes_and_edges(device):
    # src larger than the index: only the index's part is read; the rest gets no gradient
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    src = gk.tensor(np.array([[10.0, 20, 30], [40, 50, 60]]), device=device, requires_grad=True)
    y = gk.scatter_reduce(x, 1, [[2, 2], [0, 1]], src, "sum")
    _close(y, [[0.0, 1.0, 32.0], [43.0, 54.0, 5.0]])
    y.sum().backward()
    _close(src.grad, [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    # dim -1, a 3-d tensor: the same as dim 2
    rng = np.random.default_rng(3)
    a, s = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    i = rng.integers(0, 4, (2, 3, 5))
    for reduce in REDUCES:
        one = gk.scatter_reduce(gk.tensor(a, device=device), -1, gk.tensor(i, device=device),
                                gk.tensor(s, device=device), reduce)
        two = gk.scatter_reduce(gk.tensor(a, device=device), 2, i, gk.tensor(s, device=device), reduce)
        _close(one, two.numpy(), reduce)
    # 0-d x, index and src (PyTorch takes them)
    y = gk.scatter_reduce(gk.tensor(np.array(3.0), device=device), 0, gk.tensor(0, device=device),
                          gk.tensor(np.array(2.0), device=device), "prod")
    assert y.shape == () and float(y.item()) == 6.0
    # an empty index leaves x as it is, for every reduce, and still gives x its gradient
    for reduce in REDUCES:
        x = gk.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
        y = gk.scatter_reduce(x, 0, gk.tensor(np.zeros(0, dtype=np.int64), device=device),
                              gk.tensor(np.zeros(0), device=device), reduce, include_self=False)
        _close(y, [1.0, 2.0], reduce)
        y.sum().backward()
        _close(x.grad, [1.0, 1.0], reduce)
    # index_reduce with a 0-d index
    y = gk.index_reduce(gk.tensor(np.zeros((3, 2)), device=device), 0, gk.tensor(1, device=device),
                        gk.tensor(np.ones((1, 2)), device=device), "amax")
    _close(y, [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])


# -------------------------------------------------------------------------------------------- gradcheck
def _random_case(seed, distinct):
    """(x, dim, index with repeats, src): float64, with values ``distinct`` (no ties between them: the max/min
    is then differentiable) or drawn from a few values (ties, zeros)."""
    rng = np.random.default_rng(seed)
    shape = (3, 4, 2)
    dim = seed % 3
    ishape = list(shape)
    ishape[dim] = 5  # more values than places along dim: repeats
    index = rng.integers(0, shape[dim], ishape)
    if distinct:
        values = rng.permutation(np.arange(1, 25 + int(np.prod(ishape)))) * 0.1 * rng.choice([-1.0, 1.0])
        x = values[:24].reshape(shape)
        src = values[24:].reshape(ishape)
    else:
        x = rng.standard_normal(shape)
        src = rng.standard_normal(ishape)
    return x, dim, index, src


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
def test_gradcheck_scatter_reduce(device, reduce, include_self):
    x, dim, index, src = _random_case(REDUCES.index(reduce) + 7 * include_self, reduce in ("amax", "amin"))
    idx = gk.tensor(index, device=device)
    xs = [gk.tensor(x, device=device, requires_grad=True), gk.tensor(src, device=device, requires_grad=True)]

    def f(a, b):
        return gk.scatter_reduce(a, dim, idx, b, reduce, include_self=include_self)

    assert gk.gradcheck(f, xs)
    cot = gk.tensor(np.random.default_rng(1).standard_normal(x.shape), device=device)

    def first(a, b):
        a.grad = b.grad = None
        (f(a, b) * cot).sum().backward(create_graph=True)
        return a.grad, b.grad

    assert gk.gradcheck(first, xs, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ("prod", "mean", "amax", "amin"))
def test_gradcheck_index_reduce(device, reduce, include_self):
    rng = np.random.default_rng(11)
    x = rng.permutation(np.arange(1, 13)).reshape(3, 4) * 0.25
    source = -rng.permutation(np.arange(1, 16)).reshape(3, 5) * 0.2
    index = gk.tensor([1, 3, 1, 1, 0], device=device)
    xs = [gk.tensor(x, device=device, requires_grad=True), gk.tensor(source, device=device, requires_grad=True)]

    def f(a, b):
        return gk.index_reduce(a, 1, index, b, reduce, include_self=include_self)

    assert gk.gradcheck(f, xs)

    def first(a, b):
        a.grad = b.grad = None
        (f(a, b) ** 2).sum().backward(create_graph=True)
        return a.grad, b.grad

    assert gk.gradcheck(first, xs, atol=1e-4, rtol=1e-3)


def test_gradcheck_prod_with_a_zero(device):
    """The product is a polynomial, so central differences are exact enough even at a zero; one src zero
    per place, and a zero in x."""
    x = np.array([[0.0, 1.5, -2.0], [0.5, 2.0, 1.25]])
    src = np.array([[0.0, 0.5, 3.0], [2.0, 0.0, -1.0], [1.5, 4.0, 0.0]])
    index = gk.tensor([[0, 1, 0], [1, 0, 1], [0, 0, 1]], device=device)
    for include_self in (True, False):
        xs = [gk.tensor(x, device=device, requires_grad=True), gk.tensor(src, device=device, requires_grad=True)]
        assert gk.gradcheck(lambda a, b, s=include_self: gk.scatter_reduce(a, 0, index, b, "prod", include_self=s),
                            xs)


# --------------------------------------------------------------------------------------------- errors
def test_errors_name_the_op_and_what_was_passed(device):
    x = gk.tensor(np.zeros((3, 4)), device=device)
    src = gk.tensor(np.ones((2, 4)), device=device)
    idx = gk.tensor(np.zeros((2, 4), dtype=np.int64), device=device)
    with pytest.raises(gk.InvalidArgumentError, match="scatter_reduce: reduce must be one of 'sum', 'prod', "
                                                      "'mean', 'amax', 'amin', got 'max'"):
        gk.scatter_reduce(x, 0, idx, src, "max")
    with pytest.raises(gk.ArgumentTypeError, match="scatter_reduce: reduce must be a str"):
        gk.scatter_reduce(x, 0, idx, src, None)
    with pytest.raises(gk.ArgumentTypeError, match="scatter_reduce: include_self must be a bool, got int 1"):
        gk.scatter_reduce(x, 0, idx, src, "sum", include_self=1)
    with pytest.raises(gk.DTypeError, match="scatter_reduce: index arrays must be integer or bool, got dtype "
                                            "float64"):
        gk.scatter_reduce(x, 0, gk.tensor(np.zeros((2, 4)), device=device), src, "sum")
    with pytest.raises(gk.ShapeError, match=r"scatter_reduce: index must be an integer tensor with as many "
                                            r"dimensions as self \(2\), got shape \(4,\)"):
        gk.scatter_reduce(x, 0, gk.tensor(np.zeros(4, dtype=np.int64), device=device), src, "sum")
    with pytest.raises(gk.ShapeError, match=r"scatter_reduce: src must have as many dimensions as self"):
        gk.scatter_reduce(x, 0, idx, gk.tensor(np.ones(4), device=device), "sum")
    with pytest.raises(gk.ShapeError, match=r"scatter_reduce: index of shape \(3, 4\) must be no larger than"):
        gk.scatter_reduce(x, 0, np.zeros((3, 4), dtype=np.int64), src, "sum")
    with pytest.raises(gk.DTypeError, match="scatter_reduce: src must have self's dtype float64, got float32"):
        gk.scatter_reduce(x, 0, idx, src.astype(gk.float32), "sum")
    with pytest.raises(gk.IndexOutOfRangeError, match=r"scatter_reduce: index 3 is out of range for axis 0 "
                                                      r"of shape \(3, 4\) \(expected 0 to 2\)"):
        gk.scatter_reduce(x, 0, [[3, 0, 0, 0], [0, 0, 0, 0]], src, "amax")
    with pytest.raises(gk.IndexOutOfRangeError, match="scatter_reduce: index -1 is out of range"):
        gk.scatter_reduce(x, 0, [[-1, 0, 0, 0], [0, 0, 0, 0]], src, "amax")
    with pytest.raises(gk.IndexOutOfRangeError, match="scatter_reduce: axis 2 is out of range for a tensor of 2 "):
        gk.scatter_reduce(x, 2, idx, src, "sum")
    with pytest.raises(gk.ArgumentTypeError, match="scatter_reduce: src must be a tensor"):
        gk.scatter_reduce(x, 0, idx, 1.0, "sum")
    with pytest.raises(gk.DTypeError, match="scatter_reduce: reduce='mean' is not defined for bool tensors"):
        gk.scatter_reduce(x > 0, 0, idx, src > 0, "mean")
    # index_reduce
    with pytest.raises(gk.InvalidArgumentError, match=r"index_reduce: reduce must be one of 'prod', 'mean', "
                                                      r"'amax', 'amin', got 'sum' \(index_add adds\)"):
        gk.index_reduce(x, 0, [0, 1], src, "sum")
    with pytest.raises(gk.ShapeError, match=r"index_reduce: index must be a 1-d \(or 0-d\) integer tensor, got "
                                            r"shape \(2, 1\)"):
        gk.index_reduce(x, 0, [[0], [1]], src, "amax")
    with pytest.raises(gk.DTypeError, match="index_reduce: index arrays must be integer or bool, got dtype "
                                            "float32"):
        gk.index_reduce(x, 0, gk.tensor([0.0, 1.0], device=device), src, "amax")
    with pytest.raises(gk.ShapeError, match=r"index_reduce: source must have shape \(3, 4\) \(self's \(3, 4\) "
                                            r"with dim 0 the number of indices, 3\), got \(2, 4\)"):
        gk.index_reduce(x, 0, [0, 1, 2], src, "amax")
    with pytest.raises(gk.DTypeError, match="index_reduce: source must have self's dtype float64, got float32"):
        gk.index_reduce(x, 0, [0, 1], src.astype(gk.float32), "amax")
    with pytest.raises(gk.IndexOutOfRangeError, match="index_reduce: index -1 is out of range"):
        gk.index_reduce(x, 0, [0, -1], src, "prod")
    with pytest.raises(gk.IndexOutOfRangeError, match="index_reduce: index 3 is out of range"):
        gk.index_reduce(x, 0, [0, 3], src, "prod")
    with pytest.raises(gk.ShapeError, match="index_reduce: a 0-d tensor has no dimension"):
        gk.index_reduce(gk.tensor(1.0, device=device), 0, [0], gk.tensor([1.0], device=device), "prod")
    assert issubclass(gk.InvalidArgumentError, gk.GradkitError)


# ------------------------------------------------------------------------------------- GPU path, no reads
def test_nothing_read_back_on_the_emulated_gpu(device, monkeypatch):
    """On the emulated CuPy (CuPy has no multiply.at; its float maximum.at drops NaN): the sorted segmented
    combine runs, and with the bounds check off (as while a CUDA graph is captured) forward, backward and
    double backward read nothing back on the host."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    import gradkit.ops.indexing as indexing

    x, dim, index, src = _random_case(5, False)
    x, src = gk.tensor(x, device=device), gk.tensor(src, device=device)
    idx = gk.tensor(index, device=device)
    monkeypatch.setattr(indexing, "host_read_allowed", lambda array: False)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    for reduce in REDUCES:
        for include_self in (True, False):
            a, b = x.detach().requires_grad_(), src.detach().requires_grad_()
            y = gk.scatter_reduce(a, dim, idx, b, reduce, include_self=include_self)
            (y * y).sum().backward(create_graph=True)
            (a.grad.sum() + b.grad.sum()).backward()
            if reduce != "sum":
                z = gk.index_reduce(a, 0, gk.tensor([0, 2, 0], device=device), a * 2, reduce, include_self=include_self)
                z.sum().backward()


def test_the_tensor_methods_and_their_in_place_forms(device):
    x = gk.zeros((2, 3), device=device)
    out = x.scatter_reduce(0, gk.tensor([[0, 1, 0]], device=device), gk.tensor([[5.0, 6.0, 7.0]], device=device),
                           "amax")
    np.testing.assert_array_equal(out.numpy(), [[5, 0, 7], [0, 6, 0]])
    assert x.scatter_reduce_(0, gk.tensor([[0, 1, 0]], device=device),
                             gk.tensor([[5.0, 6.0, 7.0]], device=device), "amax") is x
    np.testing.assert_array_equal(x.numpy(), out.numpy())
    y = gk.ones((3, 2), device=device)
    source = gk.tensor([[2.0, 3.0], [4.0, 5.0]], device=device)
    np.testing.assert_array_equal(y.index_reduce(0, gk.tensor([0, 0], device=device), source, "prod").numpy(),
                                  [[8, 15], [1, 1], [1, 1]])
    y.index_reduce_(0, gk.tensor([2, 0], device=device), source, "mean", include_self=False)
    np.testing.assert_array_equal(y.numpy(), [[4, 5], [1, 1], [2, 3]])
    w = gk.ones(3, device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError, match="scatter_reduce_"):
        w.scatter_reduce_(0, gk.tensor([0], device=device), gk.tensor([2.0], device=device), "sum")
