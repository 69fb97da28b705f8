"""Device memory: gk.cuda.memory_stats / reset_peak_memory_stats / empty_cache, and the backward
pass releasing what it no longer needs."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd.node import Node

KEYS = {
    "device",
    "available",
    "allocated_bytes",
    "peak_allocated_bytes",
    "reserved_bytes",
    "graph_pool_bytes",
    "device_free_bytes",
    "device_total_bytes",
    "peak_exact",
}


def test_memory_stats_on_the_cpu_says_unavailable():
    stats = gk.cuda.memory_stats("cpu")
    assert set(stats) == KEYS
    assert stats["device"] == "cpu" and stats["available"] is False
    assert all(stats[k] is None for k in KEYS - {"device", "available", "peak_exact"})
    gk.cuda.reset_peak_memory_stats("cpu")  # no-op, no error
    gk.cuda.empty_cache()


def test_memory_stats_rejects_unknown_devices():
    with pytest.raises(gk.DeviceError):
        gk.cuda.memory_stats("tpu")


# ------------------------------------------------------------------ the backward pass frees as it goes
def _saved_arrays(root):
    """Weak references to every array the graph behind ``root`` holds for backward, by node."""
    refs = []
    stack, seen = [root.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or type(node) is not Node:
            continue
        seen.add(id(node))
        held = [s._data if isinstance(s, gk.Tensor) else s for s in node.saved]
        if node.out is not None:
            held.append(node.out)
        for arr in held:
            if hasattr(arr, "shape") and getattr(arr, "size", 0) > 1:
                try:
                    refs.append(weakref.ref(arr))
                except TypeError:
                    pytest.skip(f"{type(arr).__name__} does not support weak references")
        stack.extend(node.next)
    return refs


def test_saved_tensors_are_released_as_soon_as_backward_has_used_them(device):
    """When the gradient reaches an early node, every later node's saved arrays are gone already."""
    x = gk.randn(256, device=device, requires_grad=True)
    h = x * 2.0
    y = h
    for _ in range(5):
        y = gk.sin(gk.exp(y) * 0.1)  # intermediates live only in the graph; h's consumer saves its output
    loss = y.sum()
    del y
    refs = _saved_arrays(loss)
    refs_after_h = [r for r in refs if r() is not None and r() is not h.data]
    assert len(refs_after_h) >= 5
    alive_when_h_is_reached = []
    h.register_hook(lambda g: alive_when_h_is_reached.append(sum(r() is not None for r in refs_after_h)))
    loss.backward()
    assert alive_when_h_is_reached == [0], "saved arrays of nodes already processed are still referenced"
    gc.collect()
    assert x.grad is not None and x.grad.shape == (256,)


def test_intermediate_gradients_are_not_kept(device):
    """Only leaves (and retain_grad tensors) keep a gradient; a non-leaf's gradient array is released."""
    x = gk.randn(128, device=device, requires_grad=True)
    mid = gk.exp(x * 0.5)
    grads = []
    mid.register_hook(lambda g: grads.append(weakref.ref(g)))
    (mid * mid).sum().backward()
    gc.collect()
    assert mid.grad is None
    assert grads and grads[0]() is None


# ------------------------------------------------------------------ on a GPU
@pytest.mark.cuda
def test_memory_stats_track_current_and_peak():
    import cupy as cp

    gk.cuda.empty_cache()
    gk.cuda.reset_peak_memory_stats("cuda")
    before = gk.cuda.memory_stats("cuda")
    assert set(before) == KEYS and before["available"] is True and before["device"] == "cuda:0"
    assert before["device_total_bytes"] > 0 and before["peak_exact"] is True
    a = gk.zeros((1024, 1024), device="cuda")  # 4 MiB
    b = gk.zeros((1024, 1024), device="cuda")
    during = gk.cuda.memory_stats("cuda")
    assert during["allocated_bytes"] >= before["allocated_bytes"] + 2 * 4 * 1024 * 1024
    del a, b
    after = gk.cuda.memory_stats("cuda")
    assert after["allocated_bytes"] <= during["allocated_bytes"] - 2 * 4 * 1024 * 1024
    assert after["peak_allocated_bytes"] >= during["allocated_bytes"]
    assert after["reserved_bytes"] >= after["allocated_bytes"]
    gk.cuda.reset_peak_memory_stats("cuda")
    assert gk.cuda.memory_stats("cuda")["peak_allocated_bytes"] == gk.cuda.memory_stats("cuda")["allocated_bytes"]
    # empty_cache hands back whole free chunks only: free fragments of chunks that still hold live
    # arrays (the cuBLAS workspace of an earlier test's handle, say) stay in the pool, so neither the
    # cached bytes nor the reserved bytes need to reach 0 in a full test run; they can only fall.
    pool = cp.get_default_memory_pool()
    cached, reserved = pool.free_bytes(), gk.cuda.memory_stats("cuda")["reserved_bytes"]
    gk.cuda.empty_cache()
    emptied = gk.cuda.memory_stats("cuda")
    assert pool.free_bytes() <= cached
    assert emptied["reserved_bytes"] <= reserved
    assert emptied["reserved_bytes"] >= emptied["allocated_bytes"]


@pytest.mark.cuda
def test_backward_peak_memory_is_bounded():
    """Backward through a long chain holds about the forward's saved activations, not twice them."""
    gk.cuda.empty_cache()
    x = gk.randn(1 << 20, device="cuda", requires_grad=True)  # 4 MiB per activation
    y = x
    for _ in range(8):
        y = gk.tanh(y)
    loss = y.sum()
    del y
    forward = gk.cuda.memory_stats("cuda")["allocated_bytes"]
    gk.cuda.reset_peak_memory_stats("cuda")
    loss.backward()
    peak = gk.cuda.memory_stats("cuda")["peak_allocated_bytes"]
    # a few gradient-sized temporaries on top of what the forward pass held (keeping every saved
    # activation and every gradient until the end would add 9 more activations' worth)
    assert peak <= forward + 6 * (4 << 20), (forward, peak)
    np.testing.assert_equal(x.grad.shape, (1 << 20,))


@pytest.mark.cuda
def test_closing_a_captured_step_gives_its_pool_back():
    w = gk.randn(256, 256, device="cuda", requires_grad=True)
    x = gk.randn(64, 256, device="cuda")

    def step(a):
        w.grad = None
        loss = gk.tanh(a @ w).sum()
        loss.backward()
        return loss

    captured = gk.cuda.capture(step, x)
    captured()
    assert gk.cuda.memory_stats("cuda")["graph_pool_bytes"] > 0
    captured.close()
    assert gk.cuda.memory_stats("cuda")["graph_pool_bytes"] == 0
    assert captured.inputs[0].shape == (64, 256)  # still valid after close
