"""A custom differentiable operation with gk.autograd.Function (PyTorch's torch.autograd.Function).

softplus(x) = log(1 + exp(x)) overflows for large x when written that way; forward computes it
stably as max(x, 0) + log1p(exp(-|x|)), and backward gives its derivative, sigmoid(x), written
with gradkit operations so that second derivatives work too. gk.gradcheck compares both with
central differences.

    python examples/custom_function.py
"""

from __future__ import annotations

import os
import sys

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk


class Softplus(gk.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # runs with recording off: only the result joins the graph
        ctx.save_for_backward(x)
        return gk.maximum(x, 0.0) + gk.log1p(gk.exp(-gk.abs(x)))

    @staticmethod
    def backward(ctx, grad):  # one gradient per output in, one per input of forward out
        (x,) = ctx.saved_tensors
        return grad * gk.sigmoid(x)


def main() -> int:
    x = gk.tensor([-800.0, -2.0, 0.0, 3.0, 800.0], dtype=gk.float64, requires_grad=True)
    y = Softplus.apply(x)
    y.sum().backward()
    print("x          ", x.numpy())
    print("softplus(x)", y.detach().numpy())
    print("gradient   ", x.grad.numpy())

    x0 = gk.tensor([-2.0, -0.3, 0.5, 3.0], dtype=gk.float64, requires_grad=True)
    first = gk.gradcheck(Softplus.apply, (x0,))
    second = gk.gradcheck(gk.grad(lambda x: Softplus.apply(x).sum()), (x0,))
    print(f"gradcheck: first order {'ok' if first else 'FAILED'}, second order {'ok' if second else 'FAILED'}")
    return 0 if first and second else 1


if __name__ == "__main__":
    raise SystemExit(main())
