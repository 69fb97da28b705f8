"""Review of session 18: ufunc_at (NumPy's ufunc.at through one flat index) under scatter_reduce's
prod/amax/amin, and list indices (made into an array here, not copied again)."""

import numpy as np
import pytest

import gradkit as gk
import gradkit.backends.numpy_backend as numpy_backend
from gradkit.backends.numpy_backend import ufunc_at


def _grid_index(rng, shape, ishape):
    """scatter's index: random places along axis 0, each element's own position (broadcast) elsewhere."""
    nd = len(shape)
    return tuple(
        rng.integers(0, shape[0], ishape) if d == 0
        else np.arange(ishape[d]).reshape([-1 if e == d else 1 for e in range(nd)]) % shape[d]
        for d in range(nd)
    )


@pytest.mark.parametrize("threshold", [0, numpy_backend._FLAT_SCATTER_MIN])
@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum, np.multiply, np.add])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int8, np.uint8, np.bool_])
def test_ufunc_at_matches_ufunc_at_bit_for_bit(monkeypatch, threshold, ufunc, dtype):
    monkeypatch.setattr(numpy_backend, "_FLAT_SCATTER_MIN", threshold)
    rng = np.random.default_rng(11)
    choices = np.array([0.0, -0.0, 1.0, -1.0, 2.5, 3.0, -7.0, 1e4])
    if ufunc in (np.maximum, np.minimum):  # (an inf - inf or 0 * inf NaN's sign bit may differ between routes)
        choices = np.append(choices, [np.inf, -np.inf])
    for _ in range(60):
        nd = int(rng.integers(1, 4))
        shape = tuple(int(v) for v in rng.integers(1, 6, nd))
        ishape = tuple(int(v) for v in rng.integers(1, 25, nd))
        index = _grid_index(rng, shape, ishape)
        with np.errstate(all="ignore"):
            target = rng.choice(choices, shape).astype(dtype)
            values = rng.choice(choices, ishape).astype(dtype)
            expected, got = target.copy(), target.copy()
            ufunc.at(expected, index, values)
            ufunc_at(ufunc, got, index, values)
        assert got.tobytes() == expected.tobytes()


def test_ufunc_at_broadcasts_values_itself():
    """NumPy 1.26-2.4's ufunc.at is wrong for a 1-d target, a 2-d index and 1-d values; these are the sums,
    maxima and products worked out by hand."""
    index = np.array([[0, 0, 2], [1, 2, 2], [1, 2, 1]])
    values = np.array([1.0, 2.0, 3.0])
    for ufunc, start, expected in [
        (np.add, np.zeros(3), [3.0, 5.0, 10.0]),
        (np.maximum, np.zeros(3), [2.0, 3.0, 3.0]),
        (np.multiply, np.ones(3), [2.0, 3.0, 36.0]),
    ]:
        target = start.copy()
        ufunc_at(ufunc, target, index, values)
        np.testing.assert_array_equal(target, expected)


def test_ufunc_at_leaves_other_indices_to_ufunc_at():
    target = np.zeros((3, 4))
    mask = np.array([True, False, True])
    ufunc_at(np.maximum, target, (mask, slice(1, 3)), 5.0)  # a mask and a partial slice: NumPy's own route
    np.testing.assert_array_equal(target, [[0, 5, 5, 0], [0, 0, 0, 0], [0, 5, 5, 0]])
    target = np.zeros((4, 3)).T  # not C-contiguous
    ufunc_at(np.multiply, target, (np.array([0, 0]),), np.full((2, 4), 2.0))
    np.testing.assert_array_equal(target, np.zeros((3, 4)))


@pytest.mark.parametrize("reduce", ["amax", "amin", "prod"])
def test_scatter_reduce_large_matches_a_loop(device, reduce):
    """Enough elements for the flat route; the result against a plain Python loop (exact: small integers)."""
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (40, 6)).astype(np.float64)
    src = rng.choice(np.array([-2.0, -1.0, 1.0, 2.0]), (300, 6))
    index = rng.integers(0, 40, (300, 6))
    expected = x.copy()
    combine = {"amax": max, "amin": min, "prod": lambda a, b: a * b}[reduce]
    for i in range(300):
        for j in range(6):
            expected[index[i, j], j] = combine(expected[index[i, j], j], src[i, j])
    out = gk.scatter_reduce(gk.tensor(x, device=device), 0, gk.tensor(index, device=device),
                            gk.tensor(src, device=device), reduce)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_list_index_gradient(device):
    x = gk.tensor(np.arange(12.0).reshape(4, 3), device=device, requires_grad=True)
    rows = [0, 2, 2, 3]
    y = x[rows]
    rows[0] = 1  # the caller's list, changed after the forward pass
    (y * gk.tensor(np.arange(12.0).reshape(4, 3), device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 2], [0, 0, 0], [9, 11, 13], [9, 10, 11]])


def test_numpy_index_changed_after_forward(device):
    x = gk.tensor(np.arange(6.0), device=device, requires_grad=True)
    idx = np.array([0, 0, 5])
    y = x[idx]
    idx[:] = 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 0, 0, 0, 0, 1])
