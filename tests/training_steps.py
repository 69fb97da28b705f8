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
