"""Train an MLP classifier on the 8x8 digits (or MNIST) with gradkit.

    python examples/train_mlp.py                       # digits, default settings
    python examples/train_mlp.py --dataset mnist --data-dir ~/data/mnist
    python examples/train_mlp.py --help

The same program as the ``gradkit-train`` command (see gradkit/train.py).
"""

import sys

from gradkit.train import main

if __name__ == "__main__":
    sys.exit(main())
