"""Train an MLP classifier on the 8x8 digits (or MNIST) with gradkit.

    python examples/train_mlp.py                       # digits, default settings
    python examples/train_mlp.py --dataset mnist --data-dir ~/data/mnist
    python examples/train_mlp.py --help

The same program as the ``gradkit-train`` command (see gradkit/train.py).
"""

import os
import sys

try:
    from gradkit.train import main
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from gradkit.train import main

if __name__ == "__main__":
    sys.exit(main())
