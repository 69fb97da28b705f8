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
