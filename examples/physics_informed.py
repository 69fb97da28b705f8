"""A physics-informed network: an MLP u(t) trained so that du/dt = -u and u(0) = 1 on [0, 2].

No solution data is used: the loss is the residual of the differential equation at random points,
with du/dt taken by gk.autograd.grad(..., create_graph=True) so that the optimiser can differentiate
through the derivative (a second-order use of the engine). The exact solution is exp(-t).

    python examples/physics_informed.py [--steps 2000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import sys

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk

from gradkit import nn


def residual_loss(model: nn.Module, t: gk.Tensor) -> gk.Tensor:
    """mean((du/dt + u)^2) at the points t, plus (u(0) - 1)^2."""
    t = t.detach().requires_grad_()
    u = model(t)
    (du_dt,) = gk.autograd.grad(u.sum(), t, create_graph=True)  # each u[i] depends on t[i] only
    u0 = model(gk.zeros((1, 1), dtype=t.dtype, device=t.device))
    return ((du_dt + u) ** 2).mean() + ((u0 - 1.0) ** 2).sum()


def train(steps: int = 2000, device: str | None = None, seed: int = 0) -> tuple[list[float], float]:
    """Train the network; returns the loss every 100 steps (and the last) and the largest error against exp(-t)."""
    gk.manual_seed(seed)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    model = model.double().to(device) if device else model.double()
    opt = gk.optim.Adam(model.parameters(), lr=1e-2)
    sched = gk.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for step in range(steps):
        t = gk.rand((64, 1), dtype=gk.float64, device=device) * 2.0
        loss = residual_loss(model, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            losses.append(loss.item())
    grid = gk.linspace(0.0, 2.0, 101, dtype=gk.float64, device=device).reshape(-1, 1)
    with gk.no_grad():
        error = (model(grid) - gk.exp(-grid)).abs().max().item()
    return losses, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    losses, error = train(args.steps, args.device)
    print(f"residual loss: first {losses[0]:.3e}, last {losses[-1]:.3e}")
    print(f"largest error against exp(-t) on [0, 2]: {error:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
