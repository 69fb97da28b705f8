"""Refusing host reads on the emulated CuPy: a forward or backward pass that reads a device value fails."""

from __future__ import annotations

import emulated_cupy
import pytest


def refuse_host_reads(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every host read of an emulated CuPy array an AssertionError (skips unless ``device`` is the
    emulated "cuda", GRADKIT_TEST_EMULATED_CUPY=1)."""
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
