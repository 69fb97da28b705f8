"""GPU benchmarks of issue 5: gradkit against PyTorch eager on the same card, in one process.

Workloads (float32, ReLU, softmax cross-entropy, SGD lr 0.01 momentum 0.9; TF32 off in both):

- ``matmul``: C = A @ B, 4096^3, through CuPy (cuBLAS) and PyTorch: the card's measured rate.
- ``mlp_small``: 784-512-512-10, batch 128: gradkit eager, gradkit with the step captured as a CUDA
  graph (``gk.cuda.capture``), PyTorch eager. Targets: eager <= PyTorch; graph <= PyTorch / 2.
- ``mlp_large``: 4096-4096-4096-10, batch 1024: gradkit's rate >= 85% of the matmul rate.
  Step flops = 3 x the forward matmul flops (2 * batch * in * out per layer), the convention of
  benchmarks/bench_mlp.py; the rate counting only the GEMMs actually run (no input gradient for the
  first layer) is reported beside it.
- ``mnist_epoch``: 60,000 samples (synthetic, on the device), 784-512-256-10, batch 128, shuffled
  each epoch: the time of one epoch (469 steps). Target: under 1 s.
- ``step_memory``: the 4096-wide MLP's peak device memory during a training step, gradkit's counter
  beside PyTorch's, above what each held before the workload made its batch and model. Target: no
  more than PyTorch's (not timed; GPU only).

Method: every case is warmed up, then timed in interleaved rounds (each round runs every case of
the workload once, in a rotating order) with the device synchronised inside the clock at the end of
each chunk of calls (:func:`timed_rounds`: ``benchmarks/_common.interleaved`` with a deadline); the
figure is the median over rounds.
Before timing, gradkit's and PyTorch's first two steps from the same weights are compared (loss to
2e-3 relative): a wrong step is not timed.

Time: ``--budget`` is the wall time of the whole run, counted from the start of the process. A workload
starts only while enough of it is left (``MIN_START_S``), and the timing loop (:func:`timed_rounds`)
stops rerunning disturbed chunks and starting new rounds when the deadline is near, so the last
workload cannot run far past it. The results file is rewritten (atomically: a temporary file, then
``os.replace``) after every workload, and SIGINT (KeyboardInterrupt: ci/gpu-check stops the run so)
ends the loop with the finished workloads kept and the interrupted and unrun ones named.

``--cpu`` runs the same code on NumPy and PyTorch's CPU build at smaller sizes: a smoke test of the
script and its report (its figures say nothing about a GPU). Usage::

    python benchmarks/gpu_bench.py --json out.json [--cpu] [--quick] [--budget 200] [-w mlp_small,matmul]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

_T_START = time.perf_counter()  # --budget counts from here: the imports below (CuPy, later torch) included

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from _common import _CLK_TCK, Stats, _time_chunk, fmt_time, machine_info, markdown_table  # noqa: E402

import gradkit as gk  # noqa: E402

WORKLOADS = ("matmul", "mlp_small", "mlp_large", "mnist_epoch", "step_memory")
LR, MOMENTUM = 0.01, 0.9
# Seconds that must be left for a workload to start (set-up, warm-up and one round on an H100, with room).
MIN_START_S = {"matmul": 8.0, "mlp_small": 12.0, "mlp_large": 15.0, "mnist_epoch": 25.0, "step_memory": 10.0}


class OutOfTime(Exception):
    """The deadline passed before a workload had a single timed round."""


def sizes(cpu: bool) -> dict[str, Any]:
    """Problem sizes: the issue's on a GPU, small ones for the CPU smoke run."""
    if not cpu:
        return {
            "matmul": 4096,
            "mlp_small": ([784, 512, 512, 10], 128),
            "mlp_large": ([4096, 4096, 4096, 10], 1024),
            "mnist_epoch": ([784, 512, 256, 10], 128, 60_000),
            "step_memory": ([4096, 4096, 4096, 10], 1024),
        }
    return {
        "matmul": 512,
        "mlp_small": ([784, 512, 512, 10], 128),
        "mlp_large": ([512, 512, 512, 10], 128),
        "mnist_epoch": ([784, 512, 256, 10], 128, 2_000),
        "step_memory": ([512, 512, 512, 10], 128),
    }


# ------------------------------------------------------------------ frameworks
class Env:
    """The device, its array module, PyTorch (or None) and a synchronise for both."""

    def __init__(self, cpu: bool) -> None:
        self.cpu = cpu
        self.device = "cpu" if cpu else "cuda"
        self.backend = gk.backends.get_backend(self.device)
        self.xp = self.backend.xp
        # chunks disturbed by other processes are rerun (benchmarks/_common.interleaved); on a shared CPU
        # box that only makes the smoke run slow
        self.retries = 0 if cpu else 4
        gk.cuda.set_tf32(False)
        try:
            import torch
        except ImportError:
            torch = None
        self.torch = torch
        if torch is not None:
            if cpu:
                torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
                self.tdev = torch.device("cpu")
            elif torch.cuda.is_available():
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
                self.tdev = torch.device("cuda", 0)
            else:
                self.torch = None

    def sync(self) -> None:
        if not self.cpu:
            self.backend.synchronize()
            if self.torch is not None:
                self.torch.cuda.synchronize()

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device, "tf32": gk.cuda.tf32_enabled()}
        if self.torch is not None:
            out["torch"] = self.torch.__version__
            out["torch_tf32_matmul"] = bool(self.torch.backends.cuda.matmul.allow_tf32)
            if not self.cpu:
                out["torch_cuda"] = self.torch.version.cuda
                out["torch_device"] = self.torch.cuda.get_device_name(0)
        return out


def gk_mlp(layers: list[int], env: Env, seed: int = 0) -> tuple[Any, Any, Any]:
    """gk.nn.Sequential(Linear, ReLU, ..., Linear), SGD(momentum), and the training step."""
    nn, F = gk.nn, gk.nn.functional
    gk.manual_seed(seed)
    mods: list[Any] = []
    for i in range(len(layers) - 1):
        mods.append(nn.Linear(layers[i], layers[i + 1], device=env.device))
        if i < len(layers) - 2:
            mods.append(nn.ReLU())
    model = nn.Sequential(*mods)
    opt = gk.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def torch_mlp(layers: list[int], env: Env, like: Any = None) -> tuple[Any, Any]:
    """The same MLP in PyTorch eager, with gradkit's weights when ``like`` is given."""
    torch = env.torch
    mods: list[Any] = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods).to(env.tdev)
    if like is not None:
        with torch.no_grad():
            for p, q in zip(model.parameters(), like.parameters(), strict=True):
                p.copy_(torch.as_tensor(q.numpy(), device=env.tdev))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def batch(env: Env, n: int, d: int, classes: int, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """The same (x, y) for gradkit and PyTorch, on the device."""
    rng = np.random.default_rng(seed)
    xh = rng.standard_normal((n, d)).astype(np.float32)
    yh = rng.integers(0, classes, n).astype(np.int64)
    x, y = gk.tensor(xh, device=env.device), gk.tensor(yh, device=env.device)
    if env.torch is None:
        return x, y, None, None
    return x, y, env.torch.as_tensor(xh, device=env.tdev), env.torch.as_tensor(yh, device=env.tdev)


def check_same_steps(gk_step: Any, t_step: Any, x: Any, y: Any, tx: Any, ty: Any) -> dict[str, Any]:
    """Two steps of each from the same weights on the same batch: the losses must agree."""
    losses = [(float(gk_step(x, y).item()), float(t_step(tx, ty).item())) for _ in range(2)]
    rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in losses)
    return {"losses": losses, "max_rel_diff": rel, "ok": bool(rel <= 2e-3)}


def step_flops(layers: list[int], batch_size: int) -> tuple[float, float]:
    """(3 x forward matmul flops, the flops of the GEMMs actually run: no input gradient of layer 1)."""
    fwd = sum(2.0 * batch_size * a * b for a, b in zip(layers[:-1], layers[1:], strict=True))
    first = 2.0 * batch_size * layers[0] * layers[1]
    return 3 * fwd, 3 * fwd - first


def summarize(stats: dict[str, Any]) -> dict[str, Any]:
    return {name: s.summary() for name, s in stats.items()}


def timed_rounds(
    cases: dict[str, Any],
    rounds: int,
    chunk_s: float,
    warmup: int = 3,
    sync: Any = None,
    retries: int = 4,
    deadline: float | None = None,
    settle_s: float = 0.05,
    disturbed_frac: float = 0.25,
    max_inner: int = 10_000,
) -> tuple[dict[str, Stats], dict[str, Any]]:
    """``benchmarks/_common.interleaved`` with a deadline (``time.perf_counter()`` seconds).

    The same method (warm-up, calls per chunk from ``chunk_s``, rotating order, a disturbed chunk rerun
    up to ``retries`` times), but near ``deadline`` a disturbed chunk is kept (counted as contended)
    instead of rerun when the rerun would end past it, and no chunk is started, after the first round,
    that would end past it: the rounds already timed are kept. With ``chunk_s <= 0`` every chunk is one
    call and the two estimate calls are not made. Raises :class:`OutOfTime` when the deadline passes
    during the warm-up. Returns ({name: Stats} for the cases timed at least once, a note: rounds done,
    whether the deadline cut them short, disturbed chunks not rerun because of it).
    """
    names = list(cases)
    note: dict[str, Any] = {"rounds_asked": rounds, "rounds_done": 0, "cut_short": False, "reruns_skipped": 0}

    def left() -> float:
        return float("inf") if deadline is None else deadline - time.perf_counter()

    inner, est = {}, {}
    for name in names:
        fn = cases[name]
        for _ in range(max(warmup, 1)):
            if left() <= 0:
                raise OutOfTime(f"the deadline passed during the warm-up of {name!r}")
            fn()
        if sync is not None:
            sync()
        if chunk_s > 0:
            est[name] = min(_time_chunk(fn, 1, sync)[0], _time_chunk(fn, 1, sync)[0])
            inner[name] = int(max(1, min(max_inner, round(chunk_s / max(est[name], 1e-9)))))
        else:
            est[name], inner[name] = 0.0, 1
    stats = {name: Stats(name, inner=inner[name]) for name in names}
    slack = 2.0 / _CLK_TCK
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            st = stats[name]
            chunk = est[name] * inner[name] + settle_s
            if left() <= 0 or (r > 0 and left() < chunk):
                note["cut_short"] = True
                break
            for attempt in range(retries + 1):
                gc.collect()
                if settle_s:
                    time.sleep(settle_s)
                per_call, others = _time_chunk(cases[name], inner[name], sync)
                est[name] = per_call  # the latest chunk: the projection for the next one
                if others <= disturbed_frac * per_call * inner[name] + slack:
                    break
                if attempt < retries and left() > 1.5 * per_call * inner[name] + settle_s:
                    st.disturbed += 1
                    continue
                if attempt < retries:
                    note["reruns_skipped"] += 1
                st.contended += 1
                break
            st.samples.append(per_call)
        if note["cut_short"]:
            break
        note["rounds_done"] = r + 1
    return {name: s for name, s in stats.items() if s.samples}, note


def untimed(cases: dict[str, Any], stats: dict[str, Any]) -> dict[str, str]:
    """Errors for the cases the deadline left without a single timed chunk."""
    return {name: "not timed: the budget ran out" for name in cases if name not in stats}


# ------------------------------------------------------------------ workloads
def run_matmul(env: Env, n: int, rounds: int, deadline: float | None = None) -> dict[str, Any]:
    xp = env.xp
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
    b = xp.asarray(np.random.default_rng(1).standard_normal((n, n)).astype(np.float32))
    c = xp.empty((n, n), dtype=np.float32)
    cases = {"cupy (cuBLAS)" if not env.cpu else "numpy": lambda: xp.matmul(a, b, out=c)}
    if env.torch is not None:
        ta = env.torch.as_tensor(np.asarray(gk.tensor(a).numpy()), device=env.tdev)
        tb = env.torch.as_tensor(np.asarray(gk.tensor(b).numpy()), device=env.tdev)
        tc = env.torch.empty((n, n), device=env.tdev)
        cases["torch"] = lambda: env.torch.matmul(ta, tb, out=tc)
    stats, note = timed_rounds(cases, rounds, chunk_s=0.2, sync=env.sync, retries=env.retries, deadline=deadline)
    flops = 2.0 * n**3
    out = {"n": n, "flops": flops, "cases": summarize(stats), "timing": note, "errors": untimed(cases, stats)}
    for name, s in stats.items():
        out["cases"][name]["tflops"] = flops / s.median / 1e12
    return out


def run_mlp(env: Env, layers: list[int], batch_size: int, rounds: int, with_graph: bool,
            deadline: float | None = None) -> dict[str, Any]:  # fmt: skip
    x, y, tx, ty = batch(env, batch_size, layers[0], layers[-1])
    out: dict[str, Any] = {"layers": layers, "batch": batch_size, "cases": {}, "errors": {}}
    cases: dict[str, Any] = {}
    model, _, step = gk_mlp(layers, env)
    if env.torch is not None:
        tmodel, tstep = torch_mlp(layers, env, like=model)
        out["check"] = check_same_steps(step, tstep, x, y, tx, ty)
        if out["check"]["ok"]:
            cases["torch eager"] = lambda: tstep(tx, ty)
        else:
            out["errors"]["torch eager"] = "not timed: its losses differ from gradkit's (see check)"
    cases["gradkit eager"] = lambda: step(x, y)
    if with_graph:
        gmodel, _, gstep = gk_mlp(layers, env, seed=1)
        try:
            captured = gk.cuda.capture(gstep, x, y, warmup=2)
            out["graphed"] = captured.graphed
            cases["gradkit graph" if captured.graphed else "gradkit capture (plain)"] = lambda: captured(x, y)
        except Exception as exc:  # noqa: BLE001 - reported in the results
            out["errors"]["gradkit graph"] = f"{type(exc).__name__}: {exc}"
    stats, note = timed_rounds(cases, rounds, chunk_s=0.15, sync=env.sync, retries=env.retries, deadline=deadline)
    out["cases"] = summarize(stats)
    out["timing"] = note
    out["errors"].update(untimed(cases, stats))
    nominal, computed = step_flops(layers, batch_size)
    out["step_flops"] = nominal
    out["step_flops_computed"] = computed
    for s in out["cases"].values():
        s["tflops"] = nominal / s["median_s"] / 1e12
        s["tflops_computed"] = computed / s["median_s"] / 1e12
    return out


def run_mnist_epoch(env: Env, layers: list[int], batch_size: int, samples: int, rounds: int,
                    with_graph: bool, deadline: float | None = None) -> dict[str, Any]:  # fmt: skip
    xp = env.xp
    rng = np.random.default_rng(0)
    xh = rng.standard_normal((samples, layers[0])).astype(np.float32)
    yh = rng.integers(0, layers[-1], samples).astype(np.int64)
    X, Y = xp.asarray(xh), xp.asarray(yh)
    full, rest = divmod(samples, batch_size)
    out: dict[str, Any] = {"layers": layers, "batch": batch_size, "samples": samples,
                           "steps_per_epoch": full + (1 if rest else 0), "cases": {}, "errors": {}}  # fmt: skip
    perm_rng = gk.cuda.CounterRNG(0, device=env.device)

    def gk_epoch(step: Any, tail_step: Any) -> None:
        perm = perm_rng.permutation(samples)
        for i in range(full + (1 if rest else 0)):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            xb, yb = gk.tensor(X[idx]), gk.tensor(Y[idx])
            (step if len(idx) == batch_size else tail_step)(xb, yb)

    cases: dict[str, Any] = {}
    _, _, step = gk_mlp(layers, env)
    cases["gradkit eager"] = lambda: gk_epoch(step, step)
    if with_graph:
        _, _, gstep = gk_mlp(layers, env, seed=1)
        x0, y0 = gk.tensor(X[:batch_size]), gk.tensor(Y[:batch_size])
        try:
            captured = gk.cuda.capture(gstep, x0, y0, warmup=2)
            name = "gradkit graph" if captured.graphed else "gradkit capture (plain)"
            cases[name] = lambda: gk_epoch(captured, gstep)
        except Exception as exc:  # noqa: BLE001
            out["errors"]["gradkit graph"] = f"{type(exc).__name__}: {exc}"
    if env.torch is not None:
        torch = env.torch
        TX, TY = torch.as_tensor(xh, device=env.tdev), torch.as_tensor(yh, device=env.tdev)
        _, tstep = torch_mlp(layers, env)
        gen = torch.Generator(device=env.tdev)
        gen.manual_seed(0)

        def torch_epoch() -> None:
            perm = torch.randperm(samples, device=env.tdev, generator=gen)
            for i in range(0, samples, batch_size):
                idx = perm[i : i + batch_size]
                tstep(TX[idx], TY[idx])

        cases["torch eager"] = torch_epoch
    stats, note = timed_rounds(cases, rounds, chunk_s=0.0, warmup=1, sync=env.sync, retries=env.retries,
                               deadline=deadline)  # fmt: skip
    out["cases"] = summarize(stats)
    out["timing"] = note
    out["errors"].update(untimed(cases, stats))
    return out


# ------------------------------------------------------------------ targets and report
def run_step_memory(env: Env, layers: list[int], batch_size: int) -> dict[str, Any]:
    """Peak device memory during one training step, after two warm-up steps, gradkit beside PyTorch.

    Each framework's own counter: gradkit's ``gk.cuda.memory_stats`` (CuPy's pool) and
    ``torch.cuda.memory_allocated``/``max_memory_allocated``. Neither counts cuBLAS's internal
    workspace of an eager matmul (PyTorch's comes from its allocator, but was allocated by the earlier
    workloads). ``step_bytes`` (the target's figure) is the peak above what the framework held before
    this workload made its batch and model: parameters, optimiser state, the batch, activations and
    gradients, and not what earlier workloads left alive in the process. ``stages`` holds each
    framework's allocated bytes before (``base``), with the batch, with model and optimiser, at rest
    after the warm-up steps, and its peak. GPU only.
    """
    out: dict[str, Any] = {"layers": layers, "batch": batch_size, "cases": {}, "errors": {}, "peak_bytes": {},
                           "step_bytes": {}, "stages": {}}
    if env.cpu:
        out["errors"]["all"] = "no device memory counters on the CPU"
        return out
    import gc

    gc.collect()
    env.sync()
    torch = env.torch

    def gk_allocated() -> int:
        return gk.cuda.memory_stats(env.device)["allocated_bytes"]

    def torch_allocated() -> int:
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()

    gk_stages: dict[str, int] = {"base": gk_allocated()}
    torch_stages: dict[str, int] = {"base": torch_allocated()} if torch is not None else {}
    x, y, tx, ty = batch(env, batch_size, layers[0], layers[-1])
    gk_stages["batch"] = gk_allocated()
    model, _, step = gk_mlp(layers, env)
    gk_stages["model"] = gk_allocated()
    for _ in range(2):
        step(x, y)
    env.sync()
    gk.cuda.reset_peak_memory_stats(env.device)
    gk_stages["rest"] = gk_allocated()
    step(x, y)
    env.sync()
    gk_stages["peak"] = gk.cuda.memory_stats(env.device)["peak_allocated_bytes"]
    out["stages"]["gradkit"] = gk_stages
    out["peak_bytes"]["gradkit"] = gk_stages["peak"]
    out["step_bytes"]["gradkit"] = gk_stages["peak"] - gk_stages["base"]
    out["resting_bytes"] = {"gradkit": gk_stages["rest"]}
    if torch is not None:
        torch_stages["batch"] = torch_allocated()
        _, tstep = torch_mlp(layers, env, like=model)
        torch_stages["model"] = torch_allocated()
        for _ in range(2):
            tstep(tx, ty)
        torch_stages["rest"] = torch_allocated()
        torch.cuda.reset_peak_memory_stats()
        tstep(tx, ty)
        torch.cuda.synchronize()
        torch_stages["peak"] = torch.cuda.max_memory_allocated()
        out["stages"]["torch"] = torch_stages
        out["peak_bytes"]["torch"] = torch_stages["peak"]
        out["step_bytes"]["torch"] = torch_stages["peak"] - torch_stages["base"]
        out["resting_bytes"]["torch"] = torch_stages["rest"]
    return out


def targets(results: dict[str, Any], cpu: bool) -> list[dict[str, Any]]:
    """The issue's targets, each with the value measured and whether it is met (None: not measured)."""

    def med(workload: str, case: str) -> float | None:
        c = results.get(workload, {}).get("cases", {}).get(case)
        return c["median_s"] if c else None

    rows = []
    torch_small, gk_small, graph_small = (
        med("mlp_small", c) for c in ("torch eager", "gradkit eager", "gradkit graph")
    )

    def row(name: str, goal: str, value: Any, met: bool | None, detail: str) -> None:
        rows.append({"name": name, "goal": goal, "value": value, "met": None if cpu else met, "detail": detail})

    ratio = gk_small / torch_small if gk_small and torch_small else None
    row("mlp_small eager", "gradkit step <= PyTorch eager step", ratio, ratio is not None and ratio <= 1.0,
        f"{fmt(gk_small)} vs {fmt(torch_small)} per step; ratio {ratio:.2f}" if ratio else "not measured")
    ratio = graph_small / torch_small if graph_small and torch_small else None
    row("mlp_small graph", "captured step <= 0.5 x PyTorch eager step", ratio, ratio is not None and ratio <= 0.5,
        f"{fmt(graph_small)} vs {fmt(torch_small)} per step; ratio {ratio:.2f}" if ratio else
        "not measured" + (f": {results['mlp_small']['errors'].get('gradkit graph')}"
                          if results.get("mlp_small", {}).get("errors", {}).get("gradkit graph") else ""))
    mm = results.get("matmul", {}).get("cases", {}).get("numpy" if cpu else "cupy (cuBLAS)")
    large = results.get("mlp_large", {}).get("cases", {}).get("gradkit eager")
    frac = large["tflops"] / mm["tflops"] if mm and large else None
    row("mlp_large rate", ">= 85% of the measured float32 matmul rate", frac, frac is not None and frac >= 0.85,
        f"{large['tflops']:.1f} TFLOP/s (3x fwd; {large['tflops_computed']:.1f} counting only the GEMMs run) vs "
        f"matmul {mm['tflops']:.1f} TFLOP/s: {100 * frac:.0f}%" if frac else "not measured")
    ep = {c: med("mnist_epoch", c) for c in ("gradkit eager", "gradkit graph")}
    measured = {c: v for c, v in ep.items() if v}
    best = min(measured, key=measured.get) if measured else None
    detail = "; ".join(f"{c}: {fmt(v)}" for c, v in measured.items()) if measured else "not measured"
    if med("mnist_epoch", "torch eager"):
        detail += f" (torch eager: {fmt(med('mnist_epoch', 'torch eager'))})"
    row("mnist epoch", "one epoch (60,000 samples, batch 128) < 1 s", measured.get(best) if best else None,
        best is not None and measured[best] < 1.0, detail)
    memory = results.get("step_memory", {})
    peaks = memory.get("step_bytes") or memory.get("peak_bytes", {})
    gk_peak, torch_peak = peaks.get("gradkit"), peaks.get("torch")
    ratio = gk_peak / torch_peak if gk_peak and torch_peak else None
    row("step peak memory", "gradkit's peak device memory in a step <= PyTorch's (4096-wide MLP, above "
        "each one's baseline)", ratio,
        ratio is not None and ratio <= 1.0,
        f"{gk_peak / 2**20:.0f} MiB vs {torch_peak / 2**20:.0f} MiB; ratio {ratio:.2f}" if ratio else "not measured")
    return rows


def fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else fmt_time(seconds)


def table(results: dict[str, Any]) -> str:
    rows = []
    for w in WORKLOADS:
        r = results.get(w)
        if not r:
            continue
        for case, s in r.get("cases", {}).items():
            rate = f"{s['tflops']:.2f}" if "tflops" in s else ""
            rows.append([w, case, fmt(s["median_s"]), f"{fmt(s['q1_s'])} - {fmt(s['q3_s'])}", rate])
        for case, err in r.get("errors", {}).items():
            rows.append([w, case, "not timed", err[:70], ""])
    return markdown_table(["workload", "case", "median", "interquartile", "TFLOP/s"], rows)


def targets_table(rows: list[dict[str, Any]]) -> str:
    mark = {True: "met", False: "MISSED", None: "n/a"}
    return markdown_table(["target", "goal", "result", "measured"],
                          [[r["name"], r["goal"], mark[r["met"]], r["detail"]] for r in rows])  # fmt: skip


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, default=str) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_workload(w: str, env: Env, sz: dict[str, Any], rounds: int, quick: bool, deadline: float) -> dict[str, Any]:
    if w == "matmul":
        return run_matmul(env, sz["matmul"], rounds, deadline=deadline)
    if w == "mlp_small":
        return run_mlp(env, *sz["mlp_small"], rounds, with_graph=True, deadline=deadline)
    if w == "mlp_large":
        return run_mlp(env, *sz["mlp_large"], max(min(rounds, 3), rounds // 3), with_graph=False, deadline=deadline)
    if w == "step_memory":
        return run_step_memory(env, *sz["step_memory"])
    epochs = min(rounds, 2 if quick else 3)
    return run_mnist_epoch(env, *sz["mnist_epoch"], epochs, with_graph=True, deadline=deadline)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, required=True, help="where to write the results (JSON)")
    ap.add_argument("--cpu", action="store_true", help="smoke run on NumPy/PyTorch-CPU at small sizes")
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds per workload (default 15, quick 5)")
    ap.add_argument("--budget", type=float, default=200.0,
                    help="seconds for the whole run from the process start; timing stops near the end")  # fmt: skip
    ap.add_argument("-w", "--workloads", default=",".join(WORKLOADS), help=f"comma-separated subset of {WORKLOADS}")
    args = ap.parse_args(argv)
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    rounds = args.rounds if args.rounds else (5 if args.quick else 15)
    if rounds < 1:
        ap.error(f"--rounds must be at least 1, got {rounds}")
    t0 = time.perf_counter()
    deadline = _T_START + args.budget
    env = Env(args.cpu)
    sz = sizes(args.cpu)
    results: dict[str, Any] = {
        "mode": "cpu" if args.cpu else "gpu",
        "quick": args.quick,
        "budget_s": args.budget,
        "method": "interleaved rounds, device synchronised inside the clock, median per call",
        "complete": False,
    }
    try:
        results["environment"] = {**machine_info(), **env.info(), "device_info": gk.cuda.device_info()}
    except Exception as exc:  # noqa: BLE001 - the figures matter more than the description of the machine
        results["environment"] = {"error": f"{type(exc).__name__}: {exc}"}
    errors: dict[str, str] = {}
    results["errors"] = errors
    finished: set[str] = set()
    for i, w in enumerate(chosen):
        try:
            left = deadline - time.perf_counter()
            if left < MIN_START_S[w]:
                errors[w] = f"skipped: {max(left, 0.0):.0f} s of the {args.budget:.0f} s budget left, " \
                            f"{MIN_START_S[w]:.0f} s needed to start"  # fmt: skip
                continue
            start = time.perf_counter()
            print(f"gpu_bench: {w} ({left:.0f} s left) ...", flush=True)
            try:
                results[w] = run_workload(w, env, sz, rounds, args.quick, deadline)
                results[w]["seconds"] = time.perf_counter() - start
            except Exception as exc:  # noqa: BLE001 - one failing workload must not hide the others
                errors[w] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            finished.add(w)
            results["seconds"] = time.perf_counter() - t0
            write_json(args.json, results)  # every finished workload is on disk at once
        except KeyboardInterrupt:
            # ci/gpu-check sends SIGINT when the bench runs out of its time: keep what is done
            not_finished = chosen[i + 1 :]
            if w not in finished:
                results.pop(w, None)
                errors[w] = "interrupted (SIGINT / KeyboardInterrupt) before it finished"
                not_finished = chosen[i:]
            for rest in chosen[i + 1 :]:
                errors[rest] = "not run: the run was interrupted"
            results["interrupted"] = {"during": w, "not_finished": not_finished}
            print(f"gpu_bench: interrupted during {w}; not finished: {', '.join(not_finished) or '-'}", flush=True)
            break
    try:
        results["targets"] = targets(results, args.cpu)
    except Exception as exc:  # noqa: BLE001 - must not lose the figures
        results["targets"] = []
        results["targets_error"] = f"{type(exc).__name__}: {exc}"
    try:
        results["memory"] = gk.cuda.memory_stats(env.device)
    except Exception as exc:  # noqa: BLE001
        results["memory"] = {"error": f"{type(exc).__name__}: {exc}"}
    results["seconds"] = time.perf_counter() - t0
    results["complete"] = "interrupted" not in results
    write_json(args.json, results)
    print(table(results))
    print()
    print(targets_table(results["targets"]))
    return 1 if errors or "interrupted" in results else 0


if __name__ == "__main__":
    sys.exit(main())
