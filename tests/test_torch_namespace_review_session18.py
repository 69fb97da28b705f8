"""Review of gradkit/ops/torch_namespace.py against PyTorch 2.14 (fuzzed differentially; torch not imported
here): lu_unpack of empty factorisations, normal's size check, binomial's count check, randint_like's range
check for the result dtype, embedding's padding_idx past the rows, feature_dropout of integer tensors."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError


@pytest.mark.parametrize(
    ("shape", "pivots", "shapes"),
    [
        ((0, 0), (0,), [(0, 0), (0, 0), (0, 0)]),
        ((3, 0), (0,), [(3, 3), (3, 0), (0, 0)]),
        ((0, 3), (0,), [(0, 0), (0, 0), (0, 3)]),
        ((2, 0, 0), (2, 0), [(2, 0, 0), (2, 0, 0), (2, 0, 0)]),
    ],
)
def test_lu_unpack_empty(device, shape, pivots, shapes):
    # was a NumPy ValueError (reshape(-1, 0)); torch.lu_unpack gives these shapes, P of (3, 0) the identity
    lu = gk.zeros(shape, dtype=gk.float64, device=device)
    piv = gk.zeros(pivots, dtype=gk.int32, device=device)
    P, L, U = gk.lu_unpack(lu, piv)
    assert [P.shape, L.shape, U.shape] == shapes
    if shape == (3, 0):
        np.testing.assert_array_equal(P.numpy(), np.eye(3))


def test_lu_unpack_still_batched(device):
    a = np.array([[[2.0, 1.0], [4.0, 3.0]], [[1.0, 2.0], [3.0, 5.0]]])
    lu, piv = gk.linalg.lu_factor(gk.tensor(a, device=device))
    P, L, U = gk.lu_unpack(lu, piv)
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-12)


def test_normal_size_must_be_a_sequence(device):
    with pytest.raises(ArgumentTypeError, match="normal: size"):  # was a bare TypeError (torch: TypeError)
        gk.normal(0.0, 1.0, size=3, device=device)
    assert gk.normal(0.0, 1.0, (2, 3), device=device).shape == (2, 3)
    assert gk.normal(0.0, 1.0, [], device=device).shape == ()


def test_binomial_negative_count(device):
    prob = gk.full((3,), 0.5, device=device)
    with pytest.raises(InvalidArgumentError, match="binomial: count"):  # was NumPy's ValueError: n < 0
        gk.binomial(gk.full((3,), -2.0, device=device), prob)
    with pytest.raises(InvalidArgumentError, match="binomial: count"):
        gk.binomial(gk.full((3,), float("nan"), device=device), prob)
    out = gk.binomial(gk.full((3,), 4.0, device=device), prob)
    assert out.dtype == gk.float32 and ((out.numpy() >= 0) & (out.numpy() <= 4)).all()


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [("int8", 0, 300), ("int8", 0, 129), ("uint8", -1, 3), ("bool", 0, 3), ("int16", -40000, 0)],
)
def test_randint_like_out_of_the_dtype_range(device, dtype, low, high):
    # torch raises ("to - 1 is out of bounds for signed char"); gradkit drew int64s and wrapped them
    x = gk.zeros(2, dtype=dtype, device=device)
    with pytest.raises(InvalidArgumentError, match="randint_like"):
        gk.randint_like(x, low, high)


def test_randint_like_in_range(device):
    out = gk.randint_like(gk.zeros(50, dtype=gk.int8, device=device), -128, 128)
    assert out.dtype == gk.int8
    out = gk.randint_like(gk.zeros(4, device=device), 0, 300, dtype=gk.int16)
    assert out.dtype == gk.int16 and (out.numpy() < 300).all()
    with pytest.raises(InvalidArgumentError, match="randint_like"):
        gk.randint_like(gk.zeros(4, device=device), 300, dtype=gk.int8)
    assert gk.randint_like(gk.zeros(4, dtype=gk.bool, device=device), 2).dtype == gk.bool
    assert gk.randint_like(gk.zeros(4, device=device), 1000).dtype == gk.float32


def test_embedding_padding_idx_past_the_rows(device):
    # torch.embedding never checks padding_idx: one past the rows matches no index (no padding)
    w = gk.tensor(np.arange(15.0).reshape(5, 3), device=device, requires_grad=True)
    out = gk.embedding(w, gk.tensor([0, 4, 4], device=device), 7)
    np.testing.assert_array_equal(out.detach().numpy(), np.arange(15.0).reshape(5, 3)[[0, 4, 4]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1, 0, 0, 0, 2])
    w.grad = None
    gk.embedding(w, gk.tensor([0, 4, 4], device=device), 4).sum().backward()  # in range: still padding
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1, 0, 0, 0, 0])


def test_feature_dropout_integer_input(device):
    x = gk.ones((2, 3), dtype=gk.int64, device=device)
    with pytest.raises(DTypeError, match="feature_dropout"):  # was 1 / int64(0.5) = inf and nan
        gk.feature_dropout(x, 0.5, True)
    with pytest.raises(DTypeError, match="feature_dropout"):
        gk.feature_dropout_(gk.ones((2, 3), dtype=gk.int64, device=device), 0.5, True)
    assert gk.feature_dropout(x, 0.5, False) is x  # as torch: not training, not checked
    assert gk.feature_dropout(gk.ones(4, device=device), 0.0, True).shape == (4,)  # p=0: as torch, unchecked
    y = gk.feature_dropout(gk.ones((2, 3, 2), dtype=gk.float64, device=device), 0.5, True)
    assert y.dtype == gk.float64 and set(np.unique(y.numpy())) <= {0.0, 2.0}
