"""Helpers shared by the layer tests that compare with PyTorch: seeded data, tensors made from it, comparisons."""

from __future__ import annotations

import numpy as np

import gradkit as gk


def data(*shape: int, seed: int = 0, dtype: str = "float64") -> np.ndarray:
    """Standard normal values of ``shape`` from a generator seeded with ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def as_tensor(a: np.ndarray, device: str, grad: bool = True) -> gk.Tensor:
    """``a`` as a gradkit tensor on ``device`` (requiring grad unless ``grad`` is False)."""
    return gk.tensor(a, device=device, requires_grad=grad)


def close(actual: gk.Tensor, expected, tol: float = 1e-10) -> None:
    """``actual`` has ``expected``'s shape and values (a PyTorch tensor or an array) within ``tol``."""
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    assert actual.shape == tuple(expected.shape)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=tol, atol=tol)
