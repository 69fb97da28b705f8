"""Quickstart: data -> DataLoader -> MLP -> Adam with a schedule -> train -> evaluate -> save and load.

    python examples/quickstart.py [--epochs 10] [--out quickstart.safetensors]

A few seconds on a CPU (on the GPU when CuPy finds one). Saving needs safetensors.
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


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


def main(argv: list[str] | None = None) -> float:
    args = argparse.ArgumentParser(description="gradkit quickstart")
    args.add_argument("--epochs", type=int, default=10)
    args.add_argument("--out", default="quickstart.safetensors", help="where the trained weights are saved")
    args = args.parse_args(argv)
    gk.manual_seed(0)

    # Data: points in the plane, labelled by quadrant parity (not linearly separable).
    X = gk.randn(2000, 2)
    y = ((X[:, 0] > 0) == (X[:, 1] > 0)).long()
    train = gk.data.TensorDataset(X[:1600], y[:1600])
    loader = gk.data.DataLoader(train, batch_size=64, shuffle=True, seed=0)

    model = make_model()
    opt = gk.optim.Adam(model.parameters(), lr=1e-2)
    sched = gk.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")

    model.eval()
    with gk.no_grad():
        accuracy = (model(X[1600:]).argmax(axis=1) == y[1600:]).float().mean().item()
    print(f"test accuracy: {100 * accuracy:.1f}%")

    gk.save(model, args.out)  # a module is saved through its state_dict(), as safetensors
    loaded = make_model()
    loaded.load_state_dict(gk.load(args.out))  # gk.load returns the dict that was saved
    with gk.no_grad():
        same = bool((loaded.eval()(X[1600:]) == model(X[1600:])).all())
    print(f"saved to {args.out} and loaded back; same outputs: {same}")
    return accuracy


if __name__ == "__main__":
    main()
