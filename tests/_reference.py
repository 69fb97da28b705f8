"""Helpers shared by tests that compare gradkit with a reference: arrays out of either library, and central
differences."""

from __future__ import annotations

import numpy as np

import gradkit as gk


def to_numpy(t) -> np.ndarray:
    """A gradkit or PyTorch tensor (or an array) as a NumPy array."""
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    return np.asarray(t.numpy())


def central_differences(f, args, eps=1e-6):
    """d sum(f) / d args[k] for every k, by central differences in float64."""
    args = [np.array(a, dtype=np.float64) for a in args]

    def value(xs):
        return float(np.sum(f(*[gk.tensor(x) for x in xs]).numpy()))

    grads = []
    for k, a in enumerate(args):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            up = [x.copy() for x in args]
            down = [x.copy() for x in args]
            up[k][idx] += eps
            down[k][idx] -= eps
            g[idx] = (value(up) - value(down)) / (2 * eps)
        grads.append(g)
    return grads
