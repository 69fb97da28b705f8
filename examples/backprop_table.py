"""Reverse-mode autodiff by hand and by gradkit: Table 1 of Baydin et al. (arXiv:1502.05767).

    y = f(x1, x2) = ln(x1) + x1 * x2 - sin(x2)   at (x1, x2) = (2, 5)

prints the forward primal trace (top-down) beside the reverse adjoint trace
(bottom-up): y = 11.6521 and the gradient (dy/dx1, dy/dx2) = (5.5, 1.7163).
It then writes the computational graph as Graphviz DOT, and as an SVG image
where Graphviz is installed (python -m pip install ".[viz]" and the dot program).

    python examples/backprop_table.py [--out DIR] [--markdown]
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


def f(x1: gk.Tensor, x2: gk.Tensor) -> gk.Tensor:
    return gk.log(x1) + x1 * x2 - gk.sin(x2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=os.path.join("runs", "backprop_table"), help="folder for backprop_graph.dot (and .svg)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)

    trace = gk.trace(f, 2.0, 5.0)
    print(trace)
    if args.markdown:
        print()
        print(trace.to_markdown())

    # The same numbers from the transforms and from .backward().
    value, grads = gk.value_and_grad(f, argnums=(0, 1))(2.0, 5.0)
    print(f"\ngk.value_and_grad: y = {value.item():.4f}, gradient = ({grads[0].item():.4f}, {grads[1].item():.4f})")

    os.makedirs(args.out, exist_ok=True)
    dot_path = os.path.join(args.out, "backprop_graph.dot")
    gk.render_graph(trace, dot_path, show_values=True, show_grads=True)
    print(f"graph (DOT) written to {dot_path}")
    svg_path = os.path.join(args.out, "backprop_graph.svg")
    try:
        gk.render_graph(trace, svg_path, show_values=True, show_grads=True)
        print(f"graph (SVG) written to {svg_path}")
    except gk.BackendError as exc:
        print(f"no image: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
