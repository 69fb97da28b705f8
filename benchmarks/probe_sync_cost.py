"""Probe (GPU): what the cross-entropy target check's host synchronisation costs a step, and whether a
kernel can report into mapped pinned host memory (eagerly and inside a CUDA graph), which would let
the check run on the device without a synchronisation.

    python benchmarks/probe_sync_cost.py

Written at 689a396, when CuPy's cross_entropy still checked its targets on the host (``_in_range``).
From 58a5cd1 the kernel checks them, so on a GPU both timings below run the same code; the figures
of the run that motivated the change are in notes/perf-gpu.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from gpu_bench import Env, batch, gk_mlp  # noqa: E402

from gradkit.nn import functional as F  # noqa: E402

FLAG_SRC = r"""
extern "C" __global__ void set_flag(unsigned long long addr, int value) {
    if (threadIdx.x == 0 && blockIdx.x == 0) { *(volatile int*)addr = value; }
}
"""


def step_time(step, x, y, env, steps: int, rounds: int = 5) -> float:
    for _ in range(5):
        step(x, y)
    env.sync()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            step(x, y)
        env.sync()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best * 1e6


def main() -> None:
    env = Env(False)
    cp = env.xp
    for layers, bs, steps in (([784, 512, 512, 10], 128, 300), ([4096, 4096, 4096, 10], 1024, 40)):
        x, y, _, _ = batch(env, bs, layers[0], layers[-1])
        _, _, step = gk_mlp(layers, env)
        original = F._in_range
        times = {}
        for label in ("with the check", "without", "with the check again", "without again"):
            F._in_range = original if "with the" in label else (lambda data, n: True)
            times[label] = step_time(step, x, y, env, steps)
        F._in_range = original
        print(f"{layers} batch {bs}: " + "; ".join(f"{k} {v:.0f} µs" for k, v in times.items()), flush=True)

    # mapped pinned memory written by a kernel
    mem = cp.cuda.alloc_pinned_memory(64)
    host = np.frombuffer(mem, dtype=np.int32, count=16)
    host[:] = 0
    kern = cp.RawKernel(FLAG_SRC, "set_flag")
    addr = np.uint64(mem.ptr)
    kern((1,), (32,), (addr, np.int32(7)))
    cp.cuda.Device().synchronize()
    print(f"eager kernel wrote {host[0]} into pinned host memory (expected 7)", flush=True)
    # the same inside a CUDA graph
    host[0] = 0
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        kern((1,), (32,), (addr, np.int32(11)))
        graph = stream.end_capture()
    print(f"after capture, before replay: {host[0]} (expected 0)", flush=True)
    graph.launch(stream)
    stream.synchronize()
    print(f"graph replay wrote {host[0]} (expected 11)", flush=True)
    # visible without a CUDA call once the kernel has run: poll the host word
    host[0] = 0
    kern((1,), (32,), (addr, np.int32(5)))
    t0 = time.perf_counter()
    while host[0] != 5 and time.perf_counter() - t0 < 2:
        pass
    print(f"polled without synchronising: {host[0]} after {(time.perf_counter() - t0) * 1e6:.0f} µs", flush=True)


if __name__ == "__main__":
    main()
