"""Host cost of the calls a small training step is made of, on a GPU: CuPy, gradkit and PyTorch side by side.

A 784-512-512-10 MLP at batch 128 does about 100 µs of device work per step. Its eager step is
bound by the host: each call's Python and launch cost. This times, per call (a chunk of calls, one
synchronisation at its end, the best of several chunks), the pieces of that step:

- each of the step's eight GEMMs through ``cupy.matmul``, gradkit's direct cuBLAS call
  (``gk.cuda.gemm``) and ``torch.mm``;
- the bias gradient (a column sum of 128 x 512): ``ndarray.sum(axis=0)``, ``ones @ g``, ``torch.sum``;
- an optimiser update of the 512 x 784 weight: gradkit's fused ElementwiseKernel, the same update as
  a RawKernel, and PyTorch's fused SGD;
- a small elementwise op, an allocation, the cross-entropy target check;
- the whole step: gradkit by default and with ``use_direct_gemm(True)``, and PyTorch.

Usage::

    python benchmarks/gpu_host_costs.py OUTDIR [--cpu] [--reps 500]

It writes OUTDIR/host_costs.json and prints a table. ``--cpu`` is a smoke test of the script (NumPy).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from gpu_bench import Env, batch, gk_mlp, torch_mlp  # noqa: E402

import gradkit as gk  # noqa: E402

_SGD_RAW = r"""
extern "C" __global__ void raw_sgd(float* p, const float* g, float* buf, float lr, float mom, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { float b = mom * buf[i] + g[i]; buf[i] = b; p[i] -= lr * b; }
}
"""


def per_call_us(fn: Any, sync: Any, reps: int, rounds: int = 5) -> float:
    for _ in range(20):
        fn()
    sync()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--reps", type=int, default=500)
    args = ap.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    env = Env(args.cpu)
    xp, torch = env.xp, env.torch
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}

    def dev(*shape: int) -> Any:
        return xp.asarray(rng.standard_normal(shape).astype(np.float32))

    def tdev(a: Any) -> Any:
        return torch.as_tensor(gk.tensor(a).numpy(), device=env.tdev)

    def measure(group: str, name: str, fn: Any) -> None:
        try:
            results.setdefault(group, {})[name] = per_call_us(fn, env.sync, args.reps)
        except Exception as exc:  # noqa: BLE001 - each case reports on its own
            errors[f"{group} / {name}"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-800:]}"

    x, h1, h2 = dev(128, 784), dev(128, 512), dev(128, 512)
    w1, w2, w3 = dev(512, 784), dev(512, 512), dev(10, 512)
    g1, g2, g3 = dev(128, 512), dev(128, 512), dev(128, 10)
    gemms = {
        "fwd x @ W1.T": (x, w1.T), "fwd h1 @ W2.T": (h1, w2.T), "fwd h2 @ W3.T": (h2, w3.T),
        "dW g3.T @ h2": (g3.T, h2), "dW g2.T @ h1": (g2.T, h1), "dW g1.T @ x": (g1.T, x),
        "dx g3 @ W3": (g3, w3), "dx g2 @ W2": (g2, w2),
    }  # fmt: skip
    for name, (a, b) in gemms.items():
        measure(name, "cupy.matmul" if not args.cpu else "numpy.matmul", lambda a=a, b=b: xp.matmul(a, b))
        if not args.cpu:
            measure(name, "gk.cuda.gemm (direct cuBLAS)", lambda a=a, b=b: gk.cuda.gemm(a, b))
        if torch is not None:
            ta, tb = tdev(a), tdev(b)
            measure(name, "torch.mm", lambda ta=ta, tb=tb: torch.mm(ta, tb))

    ones = xp.ones((1, 128), dtype=np.float32)
    measure("bias grad (128 x 512 column sum)", "ndarray.sum(axis=0)", lambda: g1.sum(axis=0))
    measure("bias grad (128 x 512 column sum)", "ones @ g (array module)", lambda: xp.matmul(ones, g1))
    if not args.cpu:
        measure("bias grad (128 x 512 column sum)", "ones @ g (direct cuBLAS)", lambda: gk.cuda.gemm(ones, g1))
    if torch is not None:
        tg1 = tdev(g1)
        measure("bias grad (128 x 512 column sum)", "torch.sum(dim=0)", lambda: tg1.sum(0))

    from gradkit import kernels

    p, gp, buf = dev(512, 784), dev(512, 784), dev(512, 784)
    measure("SGD momentum update of a 512 x 784 weight", "gradkit.kernels (a raw launch from 58a5cd1)",
            lambda: kernels.sgd_momentum_update(p, gp, buf, 0.01, 0.9, 0.0, 0.0, False, False))  # fmt: skip
    if not args.cpu:
        raw = xp.RawKernel(_SGD_RAW, "raw_sgd")
        n = p.size
        grid = ((n + 255) // 256,)
        lr, mom, nn_ = np.float32(0.01), np.float32(0.9), np.int64(n)
        measure("SGD momentum update of a 512 x 784 weight", "RawKernel",
                lambda: raw(grid, (256,), (p, gp, buf, lr, mom, nn_)))  # fmt: skip
    if torch is not None:
        tp = torch.nn.Parameter(tdev(p))
        tp.grad = tdev(gp)
        topt = torch.optim.SGD([tp], lr=0.01, momentum=0.9)
        measure("SGD momentum update of a 512 x 784 weight", "torch SGD.step (one parameter)", topt.step)

    from gradkit.nn.functional import _in_range

    labels = xp.asarray(rng.integers(0, 10, 128))
    measure("small ops", "x + 1 (array module)", lambda: h1 + 1)
    measure("small ops", "empty((128, 512))", lambda: xp.empty((128, 512), dtype=np.float32))
    measure("small ops", "host-side target check (_in_range)", lambda: _in_range(labels, 10))
    t_h1 = gk.tensor(h1)
    measure("small ops", "gradkit: t + 1", lambda: t_h1 + 1)
    if torch is not None:
        th1 = tdev(h1)
        measure("small ops", "torch: t + 1", lambda: th1 + 1)

    xb, yb, tx, ty = batch(env, 128, 784, 10)
    _, _, step = gk_mlp([784, 512, 512, 10], env)
    measure("training step, 784-512-512-10 at batch 128", "gradkit (default)", lambda: step(xb, yb))
    if not args.cpu:
        try:
            gk.cuda.use_direct_gemm(True)
            measure("training step, 784-512-512-10 at batch 128", "gradkit, use_direct_gemm(True)",
                    lambda: step(xb, yb))  # fmt: skip
        finally:
            gk.cuda.use_direct_gemm(False)
    if torch is not None:
        tmodel, tstep = torch_mlp([784, 512, 512, 10], env)
        measure("training step, 784-512-512-10 at batch 128", "torch eager", lambda: tstep(tx, ty))

    report = {"device": env.info(), "reps": args.reps, "host_us_per_call": results, "errors": errors}
    (args.outdir / "host_costs.json").write_text(json.dumps(report, indent=1))
    for group, cases in results.items():
        print(f"{group}: " + "; ".join(f"{k} {v:.1f} µs" for k, v in cases.items()))
    for key, err in errors.items():
        print(f"ERROR {key}: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
