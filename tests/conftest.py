"""Shared fixtures for the gradkit test suite.

``device`` runs a test once per device: ``"cpu"`` always, ``"cuda"`` when
CuPy imports and sees a CUDA GPU (the cuda parameter carries the ``cuda``
marker, so ``pytest -m cuda`` selects exactly the GPU runs, and
``-m "not cuda"`` the CPU ones).
"""

from __future__ import annotations

import gc
from typing import Any

import emulated_cupy
import pytest

if emulated_cupy.enabled():
    emulated_cupy.install()  # before gradkit can import the real CuPy

import gradkit as gk  # noqa: E402

NO_CUDA_REASON = "no CUDA GPU / CuPy available"

_cuda: bool | None = None


def cuda_available() -> bool:
    """gk.cuda_available(), asked once per session."""
    global _cuda
    if _cuda is None:
        try:
            _cuda = bool(gk.cuda_available())
        except Exception:  # a broken CuPy install counts as no GPU
            _cuda = False
    return _cuda


def pytest_configure(config: pytest.Config) -> None:
    # Registered in pyproject.toml too; repeated here so the markers exist even
    # when pytest runs with another rootdir/config.
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU and CuPy (skipped elsewhere)")
    config.addinivalue_line("markers", "cpu: the device='cpu' run of a device test")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> Any:
    """The cyclic garbage collector is off while pytest collects, and what collection built (a suite's modules,
    parameters and items: 700k objects) is then frozen, out of the collector's reach. Otherwise the collector
    walks that growing heap again and again as it grows (half of a whole suite's collection time), and a
    test's gc.collect() (the CUDA graph captures' and their tests') walks it once more each time. Objects
    that the tests make are collected as before; a cycle built during collection and dropped later is not."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()  # what collection dropped
        gc.freeze()
        if was_enabled:
            gc.enable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``cuda`` (directly or through ``device``) when no GPU is present."""
    if emulated_cupy.enabled():
        # Only the device="cuda" runs of the device tests; what needs real CUDA stays skipped.
        skip_real = pytest.mark.skip(reason=emulated_cupy.SKIP_REASON)
        for item in items:
            if item.get_closest_marker("cuda") is not None and _device_param(item) != "cuda":
                item.add_marker(skip_real)
        return
    if cuda_available():
        return
    skip = pytest.mark.skip(reason=NO_CUDA_REASON)
    for item in items:
        if "cuda" in item.keywords and item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


def _device_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device") if callspec is not None else None


@pytest.fixture(params=[pytest.param("cpu", marks=pytest.mark.cpu), pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """The device a test runs on: "cpu", or "cuda" (skipped without a GPU)."""
    if request.param == "cuda" and not cuda_available():
        pytest.skip(NO_CUDA_REASON)
    return request.param


@pytest.fixture(autouse=True)
def _emulated_cuda_runs_beside_a_cpu_default(request: pytest.FixtureRequest) -> Any:
    """With CuPy emulated, the device="cuda" run of a device test has the CPU as the default device: whatever
    gradkit makes on the default device instead of its inputs' device then meets a device array and fails
    loudly (the device="cpu" run, with CuPy the default, would catch the same; ci/run leaves it out)."""
    if emulated_cupy.enabled() and _device_param(request.node) == "cuda":
        with gk.device("cpu"):
            yield
    else:
        yield
