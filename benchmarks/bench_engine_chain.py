"""Engine overhead: a chain of 100 elementwise ops on a one-element tensor, forward and backward.

The chain alternates ``x * 1.0001`` and ``x + 0.0001``. Three cases run in one interleaved
session: bare NumPy calls (the floor: forward only, no graph), gradkit forward + backward, and
PyTorch eager forward + backward when torch is installed. Figures are per operation. A fourth case,
``_minimal_tape.py``, is the same engine design with none of the required features: the lower bound
for an engine written this way in pure Python.

    python benchmarks/bench_engine_chain.py [--quick] [--no-save]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import configure_threads  # noqa: E402

N_OPS = 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args(argv)
    settings = configure_threads(2)

    import numpy as np
    from _common import import_torch, interleaved, machine_info, markdown_table, write_results

    import gradkit as gk

    torch = import_torch(2)

    def numpy_chain() -> None:
        y = np.ones(1, np.float32)
        for _ in range(N_OPS // 2):
            y = y * 1.0001
            y = y + 0.0001

    seed = gk.ones(1)

    def gradkit_chain() -> None:
        x = gk.ones(1, requires_grad=True)
        y = x
        for _ in range(N_OPS // 2):
            y = y * 1.0001
            y = y + 0.0001
        y.backward(seed)

    import _minimal_tape as tape

    tape_seed = tape.var(np.ones(1, np.float32))

    def minimal_tape_chain() -> None:
        x = tape.var(np.ones(1, np.float32), needs_grad=True)
        y = x
        for _ in range(N_OPS // 2):
            y = tape.mul(y, 1.0001)
            y = tape.add(y, 0.0001)
        tape.backward(y, tape_seed)

    cases = {
        "numpy (forward only)": numpy_chain,
        "gradkit (fwd+bwd)": gradkit_chain,
        "minimal Python tape (fwd+bwd; lower bound, no features)": minimal_tape_chain,
    }
    if torch is not None:
        tseed = torch.ones(1)

        def torch_chain() -> None:
            x = torch.ones(1, requires_grad=True)
            y = x
            for _ in range(N_OPS // 2):
                y = y * 1.0001
                y = y + 0.0001
            y.backward(tseed)

        cases["pytorch eager (fwd+bwd)"] = torch_chain

    # Check before timing: d/dx of the chain is 1.0001**50.
    x = gk.ones(1, dtype="float64", requires_grad=True)
    y = x
    for _ in range(N_OPS // 2):
        y = y * 1.0001 + 0.0001
    y.backward(gk.ones(1, dtype="float64"))
    assert abs(x.grad.item() - 1.0001**50) < 1e-12, x.grad
    tx = tape.var(np.ones(1), needs_grad=True)
    ty = tx
    for _ in range(N_OPS // 2):
        ty = tape.add(tape.mul(ty, 1.0001), 0.0001)
    tape.backward(ty, tape.var(np.ones(1)))
    assert abs(tx.grad.data[0] - 1.0001**50) < 1e-12, tx.grad.data

    stats = interleaved(cases, rounds=5 if args.quick else 21, chunk_s=0.05 if args.quick else 0.1)
    floor = stats["numpy (forward only)"].median / N_OPS
    rows, results = [], {}
    for name, st in stats.items():
        per_op = st.median / N_OPS
        q1, q3 = (v / N_OPS for v in st.iqr)
        rows.append([name, f"{per_op * 1e6:.2f}", f"{q1 * 1e6:.2f}-{q3 * 1e6:.2f}", f"{per_op / floor:.2f}x"])
        results[name] = {"per_op_us": per_op * 1e6, "iqr_us": [q1 * 1e6, q3 * 1e6], "ratio_to_numpy": per_op / floor}
    table = markdown_table(["case", "µs per op (median)", "IQR", "vs NumPy"], rows)
    info = machine_info(settings)
    text = f"# Engine chain benchmark ({N_OPS} ops)\n\n{info.get('cpu', '')}, {info.get('date_utc', '')}\n\n{table}\n"
    if not args.no_save:
        stem = f"cpu-engine-chain-{info.get('date_utc', 'undated')[:10]}"
        paths = write_results(stem, {"machine": info, "n_ops": N_OPS, "results": results}, text)
        print(f"wrote {paths[0]} and {paths[1]}")
    print(text)
    goal = results["gradkit (fwd+bwd)"]["ratio_to_numpy"]
    print(f"goal: gradkit at most 4x the bare NumPy cost per op; measured {goal:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
