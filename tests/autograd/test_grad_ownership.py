"""Gradient ownership: a relu masks a fresh gradient in place only when nothing else holds it.

``F.linear``'s input gradient is a new array (``Tensor._owned``); the relu of the
layer before may overwrite it. Every way a gradient can be shared (an identity
rule passing it to several nodes, a hook, ``retain_grad``, ``inputs=``, a
leaf's ``.grad``, the caller's seed) must stop that. Each test compares with
the same graph computed by hand in float64.
"""

from __future__ import annotations

import numpy as np

import gradkit as gk
from gradkit.autograd.engine import run_backward
from gradkit.nn import functional as F


def _params(rng: np.random.Generator, device: str) -> dict[str, gk.Tensor]:
    shapes = {"x": (4, 3), "w1": (5, 3), "b1": (5,), "w2": (6, 5), "b2": (6,), "w3": (2, 6)}
    return {k: gk.tensor(rng.standard_normal(s), device=device, requires_grad=k != "x") for k, s in shapes.items()}


def _np(t: gk.Tensor) -> np.ndarray:
    return t.numpy()


def test_masked_in_place_matches_hand_gradients(device: str) -> None:
    p = _params(np.random.default_rng(0), device)
    h1 = F.linear_relu(p["x"], p["w1"], p["b1"])
    h2 = F.linear_relu(h1, p["w2"], p["b2"])
    F.linear(h2, p["w3"]).sum().backward()

    x, w1, b1, w2, b2, w3 = (_np(p[k]) for k in ("x", "w1", "b1", "w2", "b2", "w3"))
    a1 = np.maximum(x @ w1.T + b1, 0)
    a2 = np.maximum(a1 @ w2.T + b2, 0)
    g2 = np.ones((4, 2)) @ w3 * (a2 > 0)
    g1 = g2 @ w2 * (a1 > 0)
    np.testing.assert_allclose(_np(p["w2"].grad), g2.T @ a1, rtol=1e-10)
    np.testing.assert_allclose(_np(p["w1"].grad), g1.T @ x, rtol=1e-10)
    np.testing.assert_allclose(_np(p["b1"].grad), g1.sum(0), rtol=1e-10)


def test_gradient_passed_to_two_relus_by_an_identity_rule_is_not_overwritten(device: str) -> None:
    rng = np.random.default_rng(1)
    p = _params(rng, device)
    a = F.linear_relu(p["x"], p["w1"], p["b1"])
    b = F.relu(gk.tensor(rng.standard_normal((4, 5)), device=device, requires_grad=True) * 1.0)
    s = a + b  # add's rules hand the same gradient to both relus
    F.linear(s, p["w2"]).sum().backward()

    x, w1, b1, w2 = (_np(p[k]) for k in ("x", "w1", "b1", "w2"))
    a_np = np.maximum(x @ w1.T + b1, 0)
    g_s = np.ones((4, 6)) @ w2
    np.testing.assert_allclose(_np(p["w1"].grad), (g_s * (a_np > 0)).T @ x, rtol=1e-10)


def test_retained_gradient_is_the_unmasked_one(device: str) -> None:
    p = _params(np.random.default_rng(2), device)
    h1 = F.linear_relu(p["x"], p["w1"], p["b1"])
    h1.retain_grad()
    F.linear(h1, p["w2"]).sum().backward()
    expected = np.ones((4, 6)) @ _np(p["w2"])
    np.testing.assert_allclose(_np(h1.grad), expected, rtol=1e-12)


def test_hook_sees_and_keeps_the_unmasked_gradient(device: str) -> None:
    p = _params(np.random.default_rng(3), device)
    h1 = F.linear_relu(p["x"], p["w1"], p["b1"])
    seen = []
    h1.register_hook(seen.append)
    F.linear(h1, p["w2"]).sum().backward()
    np.testing.assert_allclose(_np(seen[0]), np.ones((4, 6)) @ _np(p["w2"]), rtol=1e-12)


def test_gradient_returned_for_inputs_is_the_unmasked_one(device: str) -> None:
    p = _params(np.random.default_rng(4), device)
    h1 = F.linear_relu(p["x"], p["w1"], p["b1"])
    out = F.linear(h1, p["w2"]).sum()
    g_h1, g_w1 = run_backward([out], [gk.ones_like(out)], inputs=[h1, p["w1"]])
    g = np.ones((4, 6)) @ _np(p["w2"])
    np.testing.assert_allclose(_np(g_h1), g, rtol=1e-12)
    a1 = _np(h1)
    np.testing.assert_allclose(_np(g_w1), (g * (a1 > 0)).T @ _np(p["x"]), rtol=1e-10)


def test_leaf_gradient_and_seed_are_never_written_by_a_later_backward(device: str) -> None:
    p = _params(np.random.default_rng(5), device)
    h = gk.tensor(np.random.default_rng(6).standard_normal((4, 5)), device=device, requires_grad=True)
    F.linear(h, p["w2"]).sum().backward()  # h.grad is F.linear's fresh input gradient
    kept = _np(h.grad).copy()
    y = F.relu(h * 1.0)
    y.backward(h.grad)  # a relu receives that .grad as its seed
    np.testing.assert_allclose(_np(h.grad), kept + kept * (_np(y) > 0), rtol=1e-12)


def test_masked_gradient_is_no_longer_owned_after_use(device: str) -> None:
    p = _params(np.random.default_rng(7), device)
    h1 = F.linear_relu(p["x"], p["w1"], p["b1"])
    F.linear(h1, p["w2"]).sum().backward(retain_graph=True)
    cache = h1.grad_fn.saved[2]
    masked = cache[0][3]
    assert masked is not None and not masked._owned  # spent: nothing may overwrite it again
