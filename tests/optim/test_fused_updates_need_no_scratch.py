"""The fused CuPy optimiser kernels take no scratch array, so the optimisers make none for them.

A scratch array is as large as the largest parameter: on an H200, the 4096-wide MLP's SGD kept 64 MiB
(4096 x 4096 float32) that its fused kernel never read, which put gradkit's step memory above
PyTorch's. The fused kernels cannot run on the emulated CuPy, so a stand-in module records which
calls would have run fused, and runs the reference update for them.
"""

from __future__ import annotations

import types

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk
from gradkit import kernels
from gradkit.kernels import reference

SCRATCH_POSITION = {"sgd_momentum_update": 9, "adam_update": 11, "rmsprop_update": 11}
CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, True),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, True),
    ("SGD", {"lr": 0.1}, True),
    ("Adam", {"lr": 0.1}, True),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.1}, True),
    ("Adam", {"lr": 0.1, "amsgrad": True}, False),  # AMSGrad runs the reference: it keeps its scratch
    ("RMSprop", {"lr": 0.1, "momentum": 0.5, "centered": True}, True),
    ("RMSprop", {"lr": 0.1}, True),
]


@pytest.fixture
def stand_in_kernels(monkeypatch):
    if not emulated_cupy.enabled():
        pytest.skip("replaces the CuPy kernel module on the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    calls = []

    def stand_in(name):
        def update(*args):
            scratch = args[SCRATCH_POSITION[name]] if len(args) > SCRATCH_POSITION[name] else None
            calls.append((name, scratch is not None))
            getattr(reference, name)(*args)

        return update

    fused = {"float32", "float64"}
    module = types.SimpleNamespace(
        _fusable=lambda *a: a[0].dtype.name in fused and all(x is None or x.dtype == a[0].dtype for x in a),
        **{name: stand_in(name) for name in SCRATCH_POSITION},
    )
    monkeypatch.setattr(kernels, "_gpu_module", module)
    monkeypatch.setattr(kernels, "_gpu_cache", {})
    return calls


def _train(name, kwargs, dtype="float32"):
    p = gk.tensor(np.linspace(-1, 0.7, 64), dtype=dtype, device="cuda", requires_grad=True)
    opt = getattr(gk.optim, name)([p], **kwargs)
    for i in range(3):
        p.grad = gk.tensor(np.linspace(0.5, -0.5, 64) * (i + 1), dtype=dtype, device="cuda")
        opt.step()
    return p.numpy(), opt


@pytest.mark.parametrize(("name", "kwargs", "fused"), CASES)
def test_a_fused_update_gets_no_scratch_and_the_same_result(stand_in_kernels, name, kwargs, fused):
    got, opt = _train(name, kwargs)
    assert stand_in_kernels and all(with_scratch is not fused for _, with_scratch in stand_in_kernels)
    assert (len(opt._scratch_flat) == 0) is fused
    kernels._gpu_module = False  # the reference everywhere, with scratch: the same numbers
    kernels._gpu_cache.clear()
    want, _ = _train(name, kwargs)
    np.testing.assert_array_equal(got, want)


def test_an_unfused_dtype_keeps_its_scratch(stand_in_kernels):
    _, opt = _train("SGD", {"lr": 0.1, "momentum": 0.9}, dtype="float16")
    assert stand_in_kernels == [("sgd_momentum_update", True)] * 3 and len(opt._scratch_flat) == 1


def test_numpy_keeps_its_scratch():
    p = gk.tensor(np.linspace(-1, 0.7, 64), dtype="float32", device="cpu", requires_grad=True)
    opt = gk.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = gk.ones_like(p)
    opt.step()
    assert not kernels.runs_fused("sgd_momentum_update", p._data, p.grad._data, None)
    assert len(opt._scratch_flat) == 1
