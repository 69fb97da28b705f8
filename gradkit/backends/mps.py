"""PyTorch's ``torch.backends.mps`` queries, for the device choice scripts make
(``"cuda" if ... else "mps" if torch.backends.mps.is_available() else "cpu"``): gradkit has no Apple GPU backend."""

from __future__ import annotations


def is_available() -> bool:
    """False: gradkit runs on NumPy (the CPU) and CuPy (CUDA GPUs) only."""
    return False


def is_built() -> bool:
    """False: gradkit has no MPS backend."""
    return False
