"""Property-based indexing tests (hypothesis): random shapes and index forms against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import array_shapes, arrays, basic_indices, integer_array_indices  # noqa: E402

import gradkit as gk  # noqa: E402


@st.composite
def shape_and_index(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    kind = draw(st.sampled_from(["basic", "int_array", "mask"]))
    if kind == "basic":
        index = draw(basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "int_array":
        index = draw(integer_array_indices(shape, result_shape=array_shapes(min_dims=0, max_dims=2, max_side=3)))
    else:
        index = draw(arrays(np.bool_, shape[: draw(st.integers(1, len(shape)))]))
    return shape, index


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=shape_and_index())
def test_random_indices_match_numpy(case, device):
    shape, index = case
    a = np.random.default_rng(0).standard_normal(shape)
    x = gk.tensor(a, device=device, requires_grad=True)
    out = x[index]
    expected = a[index]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    u = np.random.default_rng(1).standard_normal(expected.shape)
    out.backward(gk.tensor(u, device=device))
    grad = np.zeros(shape)
    np.add.at(grad, index, u)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, atol=1e-12)
