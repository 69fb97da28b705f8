"""Small fixes of the seventeenth session."""

import copy
import pickle

import pytest

import gradkit as gk
from gradkit.nn.lazy import is_lazy


@pytest.mark.parametrize("use", [
    lambda w: w + 1, lambda w: 1 + w, lambda w: -w, lambda w: w * w, lambda w: w @ w, lambda w: w == w,
    lambda w: w.sum(), lambda w: w.exp(), lambda w: w.reshape(-1), lambda w: w.mean(0),
])
def test_an_uninitialized_parameter_refuses_arithmetic_instead_of_giving_an_empty_result(device, use):
    w = gk.nn.LazyLinear(3, device=device).weight
    with pytest.raises(gk.nn.UninitializedTensorError, match=r"^LazyLinear\.weight: cannot use the values"):
        use(w)


def test_an_uninitialized_parameter_still_moves_casts_hashes_copies_and_pickles(device):
    m = gk.nn.LazyLinear(3, device=device)
    w = m.weight
    assert w in {w} and w.double() is not None and w.requires_grad_(True) is w
    m.double()
    assert m.weight.dtype == gk.float64 and is_lazy(copy.deepcopy(m).weight)
    assert is_lazy(pickle.loads(pickle.dumps(copy.deepcopy(m).to("cpu"))).weight)
    gk.optim.SGD(m.parameters(), lr=0.1)
    m(gk.ones((2, 4), dtype=gk.float64, device=device))
    assert (m.weight + 1).shape == (3, 4)


@pytest.mark.parametrize(("call", "names"), [
    (lambda d: gk.linalg.solve_ex(gk.eye(2, device=d), 1.0), "A and B"),
    (lambda d: gk.linalg.lu_solve(gk.eye(2, device=d), gk.zeros(2, dtype=gk.int32, device=d), 1.0), "LU and B"),
    (lambda d: gk.linalg.solve(gk.eye(2, device=d), 1.0), "a and b"),
])
def test_solvers_name_their_operands_as_their_signatures_do(device, call, names):
    with pytest.raises(gk.ArgumentTypeError, match=f"{names} must be tensors or arrays, got Tensor and float"):
        call(device)


def test_sigmoid_keeps_a_0d_float32_on_every_numpy(device):
    x = gk.tensor(0.3, device=device)
    assert gk.sigmoid(x).dtype == gk.float32 and gk.nn.functional.sigmoid(x).dtype == gk.float32


def test_a_0d_operand_promotes_by_its_dtype_on_every_numpy(device):
    """NumPy 2's rule (NumPy 1.x promoted a 0-d array by its value: float32 array - 0-d float64 was float32)."""
    import numpy as np

    a, b = gk.ones(3, device=device), gk.tensor(2.0, dtype=gk.float64, device=device)
    assert (a - b).dtype == gk.float64 and (b * a).dtype == gk.float64 and gk.arctan2(a, b).dtype == gk.float64
    assert (a + np.float32(1.0)).dtype == gk.float32 and (a + 1.0).dtype == gk.float32
