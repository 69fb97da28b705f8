"""A recurrent network learns the adding problem: the sum of the two marked values of a sequence.

Each sequence has two channels: random values in [0, 1], and markers that are 1 at two random positions and 0
elsewhere. The target is the sum of the two marked values, so the network has to remember what it saw at the
first marker until the end. Guessing the mean (1.0) every time scores a mean squared error of 1/6; the network
(nn.LSTM, or nn.GRU with --cell gru, then a Linear on the last hidden state) goes well below that.

    python examples/lstm_sequence.py [--cell lstm|gru] [--steps 800] [--length 12] [--device cpu|cuda]

A few seconds on a 2-core CPU; the test error ends near 0.002 (LSTM) or 0.0003 (GRU)
against 0.17 for always guessing 1.0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk

from gradkit import nn


def adding_problem(n: int, length: int, rng: np.random.Generator,
                   device: str | None = None) -> tuple[gk.Tensor, gk.Tensor]:
    """``n`` sequences (n, length, 2) of (value, marker) and their targets (n, 1)."""
    values = rng.random((n, length))
    first = rng.integers(0, length // 2, n)           # one marker in each half, so both can be anywhere
    second = rng.integers(length // 2, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values * markers).sum(axis=1, keepdims=True)
    return gk.tensor(x, dtype=gk.float32, device=device), gk.tensor(y, dtype=gk.float32, device=device)


class Adder(nn.Module):
    """A recurrent layer over the sequence, then a Linear on its last hidden state."""

    def __init__(self, cell: str = "lstm", hidden: int = 32) -> None:
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: gk.Tensor) -> gk.Tensor:
        output, _ = self.rnn(x)            # (N, T, hidden); the final state is output[:, -1]
        return self.head(output[:, -1])


def train(cell: str = "lstm", steps: int = 800, length: int = 12, batch_size: int = 64, lr: float = 1e-2,
          device: str | None = None, seed: int = 0) -> tuple[list[float], float, float]:
    """Train on fresh batches; returns the training loss every 50 steps (and the last), the test mean squared
    error, and that of the baseline that always predicts the mean sum (1.0)."""
    gk.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X_test, y_test = adding_problem(1000, length, rng, device)
    model = Adder(cell).to(device) if device else Adder(cell)
    opt = gk.optim.Adam(model.parameters(), lr=lr)
    sched = gk.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.MSELoss()
    losses = []
    for step in range(steps):
        xb, yb = adding_problem(batch_size, length, rng, device)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            losses.append(loss.item())
            print(f"step {step:4d}: training loss {losses[-1]:.4f}")
    model.eval()
    with gk.no_grad():
        error = loss_fn(model(X_test), y_test).item()
        baseline = loss_fn(gk.ones_like(y_test), y_test).item()
    return losses, error, baseline


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--length", type=int, default=12, help="time steps per sequence (at least 2)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    if args.length < 2:
        parser.error("--length must be at least 2")
    start = time.perf_counter()
    _, error, baseline = train(args.cell, args.steps, args.length, device=args.device)
    print(f"test mean squared error: {error:.4f} ({args.cell}); always guessing 1.0: {baseline:.4f} "
          f"({time.perf_counter() - start:.1f} s)")
    return error, baseline


if __name__ == "__main__":
    main()
