"""A small convolutional network on the 8x8 digits: Conv2d -> ReLU -> MaxPool2d -> Conv2d -> ReLU -> Linear.

The images are scikit-learn's 8x8 handwritten digits (``gk.data.load_digits``, the same split as
``gradkit-train``). Without scikit-learn the example makes look-alike digits itself: ten hand-drawn 8x8 glyphs,
shifted, thickened and blurred at random, with noise; the printed source line says which set was used.

    python examples/cnn_digits.py [--epochs 8] [--batch-size 32] [--lr 3e-3]
        [--data auto|digits|synthetic] [--device cpu|cuda]

A few seconds on a 2-core CPU; ~97% test accuracy on scikit-learn's digits, ~96% on the synthetic ones. The
matrices are small: on a CPU busy with other work, OPENBLAS_NUM_THREADS=1 can make it several times faster.
"""

from __future__ import annotations

import argparse
import importlib.util
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

# Ten 8x8 glyphs ("#" = ink), the templates of the fallback data set.
GLYPHS = """
..####.. ...##... ..####.. ..####.. ....##.. .######. ..####.. .######. ..####.. ..####..
.##..##. ..###... .##..##. .##..##. ...###.. .##..... .##..... .....##. .##..##. .##..##.
.##..##. ...##... .....##. .....##. ..####.. .#####.. .##..... ....##.. .##..##. .##..##.
.##..##. ...##... ....##.. ...###.. .##.##.. .....##. .#####.. ....##.. ..####.. ..#####.
.##..##. ...##... ...##... .....##. .######. .....##. .##..##. ...##... .##..##. .....##.
.##..##. ...##... ..##.... .##..##. ....##.. .##..##. .##..##. ...##... .##..##. .....##.
..####.. ..####.. .######. ..####.. ....##.. ..####.. ..####.. ...##... ..####.. ..####..
........ ........ ........ ........ ........ ........ ........ ........ ........ ........
"""


def synthetic_digits(n: int = 1800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 8x8 digits in [0, 1] drawn from GLYPHS (random shift, stroke, blur, noise) and their labels."""
    rows = [line.split() for line in GLYPHS.strip().splitlines()]
    templates = np.array([[[c == "#" for c in row[d]] for row in rows] for d in range(10)], dtype=np.float64)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = np.empty((n, 8, 8))
    for i, label in enumerate(labels):
        img = np.roll(templates[label], (rng.integers(-1, 2), rng.integers(-1, 2)), axis=(0, 1))
        if rng.random() < 0.3:  # a thicker stroke
            img = np.maximum(img, np.roll(img, 1, axis=int(rng.integers(2))))
        blurred = img.copy()
        for axis in (0, 1):
            blurred += 0.25 * (np.roll(img, 1, axis) + np.roll(img, -1, axis))
        images[i] = blurred * rng.uniform(0.5, 1.0) + rng.normal(0.0, 0.15, (8, 8))
    return np.clip(images, 0.0, 1.0), labels


def load_images(data: str = "auto",
                device: str | None = None) -> tuple[gk.data.TensorDataset, gk.Tensor, gk.Tensor, str]:
    """(train set, test images, test labels, description), images shaped (N, 1, 8, 8). ``data``: "digits"
    (scikit-learn's), "synthetic" (made here) or "auto" (scikit-learn's when it is installed)."""
    if data == "auto":
        data = "digits" if importlib.util.find_spec("sklearn") is not None else "synthetic"
    if data == "digits":
        X_train, y_train, X_test, y_test = gk.data.load_digits(device=device)
        source = "scikit-learn's 8x8 digits"
    else:
        x, y = synthetic_digits()
        test = np.arange(len(y)) % 5 == 0  # every fifth image (the labels are shuffled): 20% for testing
        make = lambda a, dtype: gk.tensor(a, dtype=dtype, device=device)  # noqa: E731
        X_train, y_train = make(x[~test], gk.float32), make(y[~test], gk.int64)
        X_test, y_test = make(x[test], gk.float32), make(y[test], gk.int64)
        source = "synthetic 8x8 digits"
    train = gk.data.TensorDataset(X_train.reshape(-1, 1, 8, 8), y_train)
    return train, X_test.reshape(-1, 1, 8, 8), y_test, source


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),   # (N, 16, 8, 8)
        nn.ReLU(),
        nn.MaxPool2d(2),                              # (N, 16, 4, 4)
        nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (N, 32, 4, 4)
        nn.ReLU(),
        nn.Flatten(),                                 # (N, 512)
        nn.Linear(32 * 4 * 4, 10),
    )


def train(epochs: int = 8, batch_size: int = 32, lr: float = 3e-3, data: str = "auto", device: str | None = None,
          seed: int = 0) -> tuple[list[float], float]:
    """Train the network; returns the mean training loss of each epoch and the test accuracy (0..1)."""
    gk.manual_seed(seed)
    train_set, X_test, y_test, source = load_images(data, device)
    print(f"data: {source}: {len(train_set)} training and {len(y_test)} test images")
    loader = gk.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    model = make_model().to(device) if device else make_model()
    opt = gk.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        model.train()
        total = gk.zeros((), device=device)  # summed on the device: no host read per batch
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total = total + loss.detach() * len(yb)
        losses.append(total.item() / len(train_set))
        print(f"epoch {epoch + 1}: mean training loss {losses[-1]:.4f}")
    model.eval()
    with gk.no_grad():
        accuracy = (model(X_test).argmax(axis=1) == y_test).float().mean().item()
    return losses, accuracy


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--data", choices=("auto", "digits", "synthetic"), default="auto",
                        help="auto (the default): scikit-learn's digits when it is installed, else synthetic ones")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    _, accuracy = train(args.epochs, args.batch_size, args.lr, args.data, args.device)
    print(f"test accuracy: {100 * accuracy:.1f}% ({time.perf_counter() - start:.1f} s)")
    return accuracy


if __name__ == "__main__":
    main()
