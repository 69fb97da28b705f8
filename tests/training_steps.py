"""The training step that the CUDA-graph tests capture and replay beside eager copies of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradkit.nn import functional as F


def cross_entropy_step(model: Any, opt: Any) -> Callable[[Any, Any], Any]:
    """step(x, y): zero the gradients, cross-entropy of model(x) against y, backward, one optimiser step;
    returns the loss."""

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def classification_batch(seed: int, device: str = "cuda", rows: int = 16, features: int = 8, classes: int = 3):
    """A random float32 batch (rows, features) and its int64 labels in [0, classes), on ``device``."""
    import numpy as np

    import gradkit as gk

    rng = np.random.default_rng(seed)
    x = gk.tensor(rng.standard_normal((rows, features)).astype(np.float32), device=device)
    return x, gk.tensor(rng.integers(0, classes, rows), device=device)


def replays_match_eager_steps(make: Callable[[], tuple[Any, Any]], replays: int) -> tuple[tuple, tuple]:
    """Capture ``cross_entropy_step`` of one (model, optimiser) from ``make()`` on a GPU, run a second one
    eagerly (two warm-up steps, as the capture's), and check every replay's loss and the parameters after
    against the eager steps. Returns both pairs for further checks."""
    import numpy as np
    import pytest

    import gradkit as gk

    (m1, o1), (m2, o2) = make(), make()
    x0, y0 = classification_batch(0)
    step = gk.cuda.capture(cross_entropy_step(m1, o1), x0, y0, warmup=2)
    assert step.graphed
    eager = cross_entropy_step(m2, o2)
    eager(x0, y0)
    eager(x0, y0)
    for seed in range(replays):
        xb, yb = classification_batch(seed + 1)
        assert step(xb, yb).item() == pytest.approx(eager(xb, yb).item(), rel=1e-4, abs=1e-6)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)
    return (m1, o1), (m2, o2)
