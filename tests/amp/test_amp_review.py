"""Reproducers from a differential review of ``gk.amp`` against PyTorch 2.14 (CPU autocast in float16,
``torch.amp.GradScaler("cpu")``). Torch-free: each expectation is PyTorch's observed behaviour, written in
closed form. Everything runs on device "cpu" (NumPy), where the bugs live, so the results do not depend on
the backend the suite runs under.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F


def _f16() -> gk.amp.autocast:
    return gk.autocast("cpu", dtype=gk.float16)


# ------------------------------------------------------------------ silent wrong values
@pytest.mark.parametrize("product", ["linear", "addmm"])
def test_a_bias_gradient_under_autocast_is_not_stalled_by_float16_sums(product: str) -> None:
    """F.linear's bias and addmm's broadcast input: 4096 ones summed, as PyTorch's float32 accumulation gives
    (NumPy's float16 sum stalls at 2048)."""
    n = 4096
    x = gk.ones((n, 5), device="cpu")
    w = gk.zeros((3, 5) if product == "linear" else (5, 3), device="cpu", requires_grad=True)
    b = gk.zeros(3, device="cpu", requires_grad=True)
    with _f16():
        y = F.linear(x, w, b) if product == "linear" else gk.addmm(b, x, w)
    y.astype(gk.float32).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), np.full(3, n, np.float32))


def test_einsum_contraction_under_autocast_accumulates_in_float32() -> None:
    rng = np.random.default_rng(1)
    k = 8192
    a = rng.random((8, k)).astype(np.float32)
    b = rng.random((k, 8)).astype(np.float32)
    ref = a.astype(np.float16).astype(np.float64) @ b.astype(np.float16).astype(np.float64)
    with _f16():
        mm = (gk.tensor(a, device="cpu") @ gk.tensor(b, device="cpu")).astype(gk.float64).numpy()
        es = gk.einsum("ij,jk->ik", gk.tensor(a, device="cpu"), gk.tensor(b, device="cpu"))
    assert np.abs(mm - ref).max() / ref.max() < 2e-3  # matmul is fine
    assert np.abs(es.astype(gk.float64).numpy() - ref).max() / ref.max() < 2e-3


def test_einsum_without_contraction_is_not_cast() -> None:
    x = gk.full((1000,), 100.0, device="cpu")
    with _f16():
        s = gk.einsum("i->", x)
    assert s.dtype == gk.float32
    assert float(s.item()) == 100000.0


def test_scale_of_float16_output_is_not_overflowed_by_casting_the_scale() -> None:
    scaler = gk.amp.GradScaler("cpu")
    out = scaler.scale(gk.tensor(np.array([0.5, 0.0], np.float16), device="cpu"))
    assert out.dtype == gk.float16
    np.testing.assert_array_equal(out.numpy(), np.array([32768.0, 0.0], np.float16))


def test_float64_with_float32_operand_under_autocast_does_not_silently_round() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 5)).astype(np.float32)
    with _f16():
        try:
            y = gk.tensor(a, device="cpu") @ gk.tensor(b, device="cpu")
        except gk.GradkitError:
            return
    np.testing.assert_allclose(y.numpy(), a @ b.astype(np.float64), rtol=1e-6)


# ------------------------------------------------------------------ wrong errors
def test_checkpoint_inside_autocast() -> None:
    rng = np.random.default_rng(0)
    w1_np = rng.standard_normal((8, 8)).astype(np.float32)
    w2_np = rng.standard_normal((8, 8)).astype(np.float32)
    x_np = rng.standard_normal((4, 8)).astype(np.float32)

    def grads(checkpointed: bool) -> list[np.ndarray]:
        w1 = gk.tensor(w1_np, device="cpu", requires_grad=True)
        w2 = gk.tensor(w2_np, device="cpu", requires_grad=True)
        x = gk.tensor(x_np, device="cpu", requires_grad=True)

        def f(h: gk.Tensor) -> gk.Tensor:
            return gk.tanh(h @ w1) @ w2

        with _f16():
            y = gk.utils.checkpoint.checkpoint(f, x, use_reentrant=False) if checkpointed else f(x)
        assert y.dtype == gk.float16
        (y.astype(gk.float32) ** 2).sum().backward()
        return [t.grad.numpy() for t in (x, w1, w2)]

    for got, want in zip(grads(True), grads(False), strict=True):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ guards for what the review found right
def test_weight_cast_cache_is_refreshed_after_an_optimizer_step_in_the_region() -> None:
    """gradkit recasts a weight updated in place (PyTorch reuses the stale cast; gradkit documents the
    difference)."""
    rng = np.random.default_rng(0)
    w = gk.tensor(rng.standard_normal((4, 4)).astype(np.float32), device="cpu", requires_grad=True)
    x = gk.tensor(rng.standard_normal((2, 4)).astype(np.float32), device="cpu")
    opt = gk.optim.SGD([w], lr=1.0)
    with _f16():
        (x @ w).astype(gk.float32).sum().backward()
        opt.step()
        again = float((x @ w).astype(gk.float32).sum().item())
    fresh = float((x @ w).sum().item())
    assert abs(again - fresh) < 1e-2 * max(1.0, abs(fresh))


def test_recursive_decorator_restores_the_outer_state() -> None:
    """PyTorch 2.14 leaks ``enabled=True`` after a recursive call of one decorated function; gradkit's stack
    of saved states does not."""

    @_f16()
    def f(a: gk.Tensor, depth: int) -> gk.Tensor:
        return a @ a if depth == 0 else f(a, depth - 1) + a @ a

    a = gk.ones((2, 2), device="cpu")
    assert f(a, 2).dtype == gk.float16
    assert not gk.amp.is_autocast_enabled("cpu")
    assert gk.amp.get_autocast_dtype("cpu") == "bfloat16"
