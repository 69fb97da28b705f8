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


def count_host_reads(device: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets the name of every host read of an emulated CuPy array from now on (the read itself
    still happens); skips unless ``device`` is the emulated "cuda"."""
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    reads: list[str] = []
    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        original = getattr(core.ndarray, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(core.ndarray, name, counted)
    return reads
