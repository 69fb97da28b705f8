"""CPU benchmark: one small CNN training step (LeNet-style, MNIST-sized), gradkit beside PyTorch and NumPy.

The model: Conv2d(1, 32, 3, padding=1) - ReLU - MaxPool2d(2) - Conv2d(32, 64, 3, padding=1) - ReLU -
MaxPool2d(2) - Flatten - Linear(3136, 128) - ReLU - Linear(128, 10); softmax cross-entropy, SGD lr 0.01
momentum 0.9, float32, one fixed batch of 64 28x28 images. Timed in ONE interleaved run:
  gradkit  gk.nn.Sequential(...), F.cross_entropy, optim.SGD(momentum=0.9);
  pytorch  the same model in PyTorch eager, when torch imports (it is optional);
  numpy    the same step written by hand in NumPy (im2col + matmul convolutions, strided-view max pooling).
Threads: 1 by default (the goal is stated against single-threaded PyTorch), the same count for every
implementation; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for this process (see _common.py).
Before timing, the steps are checked against each other from the same weights (two steps, so momentum is
exercised): same loss and same weight updates to float32 tolerance, float32 kept.

    python benchmarks/bench_cnn.py                 # full run, writes benchmarks/results/cpu-cnn-*.{json,md}
    python benchmarks/bench_cnn.py --quick         # a short run
    python benchmarks/bench_cnn.py --threads 2     # BLAS and PyTorch on 2 threads
    python benchmarks/bench_cnn.py --cpu-time      # CPU time instead of wall-clock (a busy shared machine)
    python benchmarks/bench_cnn.py --profile       # cProfile of gradkit's step, no timing
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import configure_threads  # noqa: E402  (must run before NumPy is imported)

LR = 0.01
MOMENTUM = 0.9
BATCH = 64
GOAL = 1.5  # gradkit's step at most this many times PyTorch's
# (name, shape) of every parameter, in the order of PyTorch's model.parameters()
SHAPES = (
    ("0.weight", (32, 1, 3, 3)), ("0.bias", (32,)),
    ("3.weight", (64, 32, 3, 3)), ("3.bias", (64,)),
    ("7.weight", (128, 3136)), ("7.bias", (128,)),
    ("9.weight", (10, 128)), ("9.bias", (10,)),
)  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run (fewer, shorter rounds); results named *-quick")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads (default: 1)")
    p.add_argument("--batch", type=int, default=BATCH, help=f"batch size (default: {BATCH})")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: 21, quick: 5)")
    p.add_argument(
        "--max-wait", type=float, default=60.0, help="seconds to wait for other processes to go quiet (default: 60)"
    )
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it imports")
    p.add_argument("--no-numpy", action="store_true", help="leave the hand-written NumPy step out")
    p.add_argument("--no-save", action="store_true", help="print only; write no results file")
    p.add_argument("--out-dir", default=None, help="where results go (default: benchmarks/results)")
    p.add_argument("--profile", action="store_true", help="cProfile gradkit's step instead of timing")
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time by this process's CPU time instead of the wall clock: steadier on a busy shared machine, where "
        "other processes take the cores away (meaningful with --threads 1 only)",
    )
    return p.parse_args(argv)


# --------------------------------------------------------------------------- shared setup
def init_params(np: Any, seed: int) -> dict[str, Any]:
    """PyTorch's default initialisation bounds: weight and bias uniform in +-1/sqrt(fan_in), float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES:
        fan_in = int(np.prod(dict(SHAPES)[name.replace("bias", "weight")][1:]))
        bound = 1.0 / np.sqrt(fan_in)
        params[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return params


def make_batch(np: Any, batch: int, seed: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed + 1)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)  # pixel-like values in [0, 1)
    y = rng.integers(0, 10, size=batch, dtype=np.int64)
    return x, y


def step_flops(batch: int) -> float:
    """Training-step flops: 3 x the forward pass's multiply-adds x 2 (the MLP benchmark's convention; the first
    convolution's input gradient, which no one computes, is counted)."""
    forward = 2.0 * batch * (32 * 9 * 28 * 28 + 64 * 32 * 9 * 14 * 14 + 3136 * 128 + 128 * 10)
    return 3.0 * forward


# --------------------------------------------------------------------------- the step by hand in NumPy
class NumpyCNN:
    """The step written by hand in NumPy, as a careful user would.

    Convolutions: im2col as one copy from a strided view of the padded input, laid out (N, C*9, H*W), then one
    batched matmul with the (O, C*9) weight (the product is already (N, O, H*W)); the weight gradient is an
    einsum over the same columns (kept from the forward pass), the input gradient the weight's transpose times
    g followed by col2im, nine slice adds. Max pooling: the maximum of the four strided views of each 2x2
    window and, per view, the mask of the window's first maximum (ties are common: a ReLU's zeros, and a
    convolution of an all-zero patch gives its bias at neighbouring positions); its backward writes g times
    each mask into that view. Cross-entropy max-shifted; SGD with momentum in place.
    """

    def __init__(self, np: Any, params: dict[str, Any], x: Any, y: Any) -> None:
        self.np = np
        self.x, self.y = x, y
        self.p = {k: v.copy() for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.lr, self.momentum = np.float32(LR), np.float32(MOMENTUM)

    def _cols(self, x: Any) -> Any:
        """(N, C, H, W) padded by 1 as im2col columns (N, C * 9, H * W) for a 3x3 kernel."""
        np = self.np
        n, c, h, w = x.shape
        xp = np.zeros((n, c, h + 2, w + 2), dtype=x.dtype)
        xp[:, :, 1:-1, 1:-1] = x
        sn, sc, sh, sw = xp.strides
        view = np.lib.stride_tricks.as_strided(xp, (n, c, 3, 3, h, w), (sn, sc, sh, sw, sh, sw), writeable=False)
        return np.ascontiguousarray(view).reshape(n, c * 9, h * w)

    def _conv(self, x: Any, w: Any, b: Any) -> tuple[Any, Any]:
        n, _, h, wd = x.shape
        cols = self._cols(x)
        y = self.np.matmul(w.reshape(w.shape[0], -1), cols)
        y += b[:, None]
        return y.reshape(n, w.shape[0], h, wd), cols

    def _col2im(self, gcols: Any, shape: tuple) -> Any:
        np = self.np
        n, c, h, w = shape
        g = gcols.reshape(n, c, 3, 3, h, w)
        dxp = np.zeros((n, c, h + 2, w + 2), dtype=gcols.dtype)
        for i in range(3):
            for j in range(3):
                dxp[:, :, i : i + h, j : j + w] += g[:, :, i, j]
        return dxp[:, :, 1:-1, 1:-1]

    def _pool(self, y: Any) -> tuple[Any, list[Any]]:
        """2x2 max pooling: the maxima and, per window offset, where it is the window's first maximum."""
        views = [y[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1)]
        m = self.np.maximum(self.np.maximum(views[0], views[1]), self.np.maximum(views[2], views[3]))
        masks, taken = [], None
        for v in views:
            hit = v == m
            if taken is None:
                taken = hit.copy()
            else:
                hit &= ~taken
                taken |= hit
            masks.append(hit)
        return m, masks

    def _unpool(self, g: Any, masks: list[Any], shape: tuple) -> Any:
        dy = self.np.empty(shape, dtype=g.dtype)
        for (i, j), mask in zip(((0, 0), (0, 1), (1, 0), (1, 1)), masks, strict=True):
            self.np.multiply(g, mask, out=dy[:, :, i::2, j::2])
        return dy

    def step(self) -> Any:
        np, p, x, t = self.np, self.p, self.x, self.y
        n = x.shape[0]
        # forward
        y1, cols1 = self._conv(x, p["0.weight"], p["0.bias"])
        np.maximum(y1, 0, out=y1)
        a1, mask1 = self._pool(y1)
        y2, cols2 = self._conv(a1, p["3.weight"], p["3.bias"])
        np.maximum(y2, 0, out=y2)
        a2, mask2 = self._pool(y2)
        f = a2.reshape(n, -1)
        h3 = f @ p["7.weight"].T
        h3 += p["7.bias"]
        np.maximum(h3, 0, out=h3)
        logits = h3 @ p["9.weight"].T
        logits += p["9.bias"]
        # loss and its gradient
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1)
        rows = np.arange(n)
        loss = (np.log(s).sum() - shifted[rows, t].sum()) / np.float32(n)
        g = e / s[:, None]
        g[rows, t] -= 1
        g *= np.float32(1.0 / n)
        # backward
        grads = {"9.weight": g.T @ h3, "9.bias": g.sum(axis=0)}
        g = g @ p["9.weight"]
        g *= h3 > 0
        grads["7.weight"], grads["7.bias"] = g.T @ f, g.sum(axis=0)
        g = self._unpool((g @ p["7.weight"]).reshape(a2.shape), mask2, y2.shape)
        g *= y2 > 0
        g2 = g.reshape(n, 64, -1)
        grads["3.weight"] = np.einsum("nop,nkp->ok", g2, cols2, optimize=True).reshape(p["3.weight"].shape)
        grads["3.bias"] = g2.sum(axis=(0, 2))
        g = self._unpool(self._col2im(np.matmul(p["3.weight"].reshape(64, -1).T, g2), a1.shape), mask1, y1.shape)
        g *= y1 > 0
        g1 = g.reshape(n, 32, -1)
        grads["0.weight"] = np.einsum("nop,nkp->ok", g1, cols1, optimize=True).reshape(p["0.weight"].shape)
        grads["0.bias"] = g1.sum(axis=(0, 2))
        # update (PyTorch's formula: v = momentum v + g; w -= lr v)
        for k, w in p.items():
            v = self.v[k]
            v *= self.momentum
            v += grads[k]
            w -= self.lr * v
        return loss

    def weights(self) -> list[Any]:
        return [self.p[name] for name, _ in SHAPES]


# --------------------------------------------------------------------------- gradkit and PyTorch
def gradkit_ready() -> tuple[bool, str]:
    try:
        import gradkit as gk
    except ImportError as exc:
        return False, f"gradkit does not import ({exc})"
    nn = getattr(gk, "nn", None)
    missing = [f"gk.nn.{n}" for n in ("Sequential", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear")
               if nn is None or not hasattr(nn, n)]
    if not hasattr(getattr(gk, "optim", None), "SGD"):
        missing.append("gk.optim.SGD")
    return (not missing), ("not available: " + ", ".join(missing)) if missing else ""


def _layers(nn: Any) -> list[Any]:
    return [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)]


class _FrameworkCNN:
    """One training step of the model in a framework with PyTorch's API (gradkit or PyTorch)."""

    model: Any
    opt: Any
    ce: Any
    x: Any
    y: Any

    def step(self) -> Any:
        self.opt.zero_grad()
        loss = self.ce(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss


class GradkitCNN(_FrameworkCNN):
    def __init__(self, np: Any, params: dict[str, Any], x: Any, y: Any) -> None:
        import gradkit as gk

        self.model = gk.nn.Sequential(*_layers(gk.nn))
        self.model.load_state_dict({k: gk.tensor(v.copy()) for k, v in params.items()})
        self.opt = gk.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = gk.tensor(x), gk.tensor(y)
        self.ce = gk.nn.functional.cross_entropy

    def weights(self) -> list[Any]:
        sd = self.model.state_dict()
        return [sd[name].numpy() for name, _ in SHAPES]


class TorchCNN(_FrameworkCNN):
    def __init__(self, torch: Any, params: dict[str, Any], x: Any, y: Any) -> None:
        self.model = torch.nn.Sequential(*_layers(torch.nn))
        self.model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.ce = torch.nn.functional.cross_entropy

    def weights(self) -> list[Any]:
        sd = self.model.state_dict()
        return [sd[name].numpy().copy() for name, _ in SHAPES]


# --------------------------------------------------------------------------- correctness
def verify(np: Any, params: dict[str, Any], x: Any, y: Any, impls: dict[str, Any], steps: int = 2) -> dict:
    """Run ``steps`` steps of every implementation from the same weights and compare them with the first one
    (PyTorch when present). Loss: relative difference < 1e-4. Weights: each tensor's change from the initial
    weights (the update, which carries the gradient) within 1e-3 of its largest magnitude. gradkit must keep
    float32. Raises SystemExit on a mismatch: a wrong step is never timed."""
    init = [params[name] for name, _ in SHAPES]
    losses: dict[str, list[float]] = {name: [] for name in impls}
    for name, impl in impls.items():
        for _ in range(steps):
            loss = impl.step()
            if name == "gradkit" and str(loss.dtype) != "float32":
                raise SystemExit(f"[verify] gradkit loss is {loss.dtype}, expected float32")
            losses[name].append(float(loss.item()) if hasattr(loss, "item") else float(loss))
    ref = next(iter(impls))
    ref_w = impls[ref].weights()
    report = {}
    for name, impl in impls.items():
        if name == ref:
            continue
        loss_err = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses[name], losses[ref], strict=True))
        upd_err = 0.0
        for w0, wr, wi in zip(init, ref_w, impl.weights(), strict=True):
            if name == "gradkit" and wi.dtype != np.float32:
                raise SystemExit(f"[verify] gradkit weight became {wi.dtype}, expected float32")
            dr, di = wr.astype(np.float64) - w0, wi.astype(np.float64) - w0
            upd_err = max(upd_err, float(np.abs(di - dr).max()) / max(float(np.abs(dr).max()), 1e-12))
        ok = loss_err < 1e-4 and upd_err < 1e-3
        report[name] = {"against": ref, "loss_rel_err": loss_err, "update_rel_err": upd_err, "ok": ok}
        print(f"[verify] {name:8s} vs {ref} over {steps} steps: loss rel err {loss_err:.1e}, update rel err "
              f"{upd_err:.1e} -> {'ok' if ok else 'MISMATCH'}", flush=True)
        if not ok:
            raise SystemExit(f"[verify] {name} does not compute {ref}'s step; refusing to time it")
    return report


# --------------------------------------------------------------------------- run
def cpu_time_interleaved(cases: dict[str, Any], rounds: int, warmup: int, inner: int = 3) -> dict[str, Any]:
    """``_common.interleaved`` by CPU time: each round runs every case ``inner`` times, timed by
    ``time.process_time`` (this process's CPU seconds, all its threads), in an order that rotates each round.
    Time a busy machine's other processes take is not counted; what they cost through shared caches and
    memory bandwidth still is."""
    import gc
    import time

    from _common import Stats

    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    stats = {name: Stats(name, inner=inner) for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            t0 = time.process_time()
            for _ in range(inner):
                cases[name]()
            stats[name].samples.append((time.process_time() - t0) / inner)
    return stats


def run(np: Any, torch: Any, args: argparse.Namespace, with_gradkit: bool) -> dict:
    from _common import interleaved, wait_for_quiet

    params = init_params(np, seed=0)
    x, y = make_batch(np, args.batch, seed=0)

    def fresh() -> dict[str, Any]:
        impls: dict[str, Any] = {}
        if torch is not None:
            impls["pytorch"] = TorchCNN(torch, params, x, y)
        if with_gradkit:
            impls["gradkit"] = GradkitCNN(np, params, x, y)
        if not args.no_numpy:
            impls["numpy"] = NumpyCNN(np, params, x, y)
        return impls

    impls = fresh()
    check = verify(np, params, x, y, impls) if len(impls) > 1 else {}
    impls = fresh()
    rounds = args.rounds or (5 if args.quick else 21)
    cases = {n: impl.step for n, impl in impls.items()}
    if args.cpu_time:
        stats = cpu_time_interleaved(cases, rounds=rounds, warmup=2 if args.quick else 5)
    else:
        wait_for_quiet(args.max_wait)
        stats = interleaved(cases, rounds=rounds, chunk_s=0.2 if args.quick else 0.5, warmup=2 if args.quick else 5)
    flops = step_flops(args.batch)
    ref = stats["pytorch"].median if "pytorch" in stats else None
    rows = {n: {**st.summary(), "gflops": flops / st.median / 1e9,
                "ratio_to_pytorch": st.median / ref if ref else None} for n, st in stats.items()}
    goal = None
    if ref and "gradkit" in rows:
        goal = {"goal": f"<= {GOAL}x pytorch", "ok": rows["gradkit"]["ratio_to_pytorch"] <= GOAL}
    return {"batch": args.batch, "step_flops": flops, "verify": check, "results": rows, "goal": goal}


def render(result: dict, info: dict) -> str:
    from _common import fmt_time, markdown_table

    headers = ["impl", "median/step", "min/step", "vs pytorch", "GFLOP/s"]
    rows = [[n, fmt_time(r["median_s"]), fmt_time(r["min_s"]),
             "" if r["ratio_to_pytorch"] is None else f"{r['ratio_to_pytorch']:.2f}x", f"{r['gflops']:.1f}"]
            for n, r in result["results"].items()]
    lines = [
        f"CNN training step (LeNet-style, batch {result['batch']}, 1x28x28), CPU — {info['date_utc']} — "
        f"{info['cpu']}, {info['threads']} thread(s), NumPy {info['numpy']} ({info['blas'].get('name')} "
        f"{info['blas'].get('version')}), PyTorch {info.get('torch', 'not installed')}, "
        f"gradkit {info.get('gradkit_commit')}",
        "",
        markdown_table(headers, rows),
        "",
    ]
    if result["goal"]:
        g = result["goal"]
        lines += [f"Goal: gradkit {g['goal']} -> {'MET' if g['ok'] else 'MISSED'}", ""]
    noisy = [f"{n}: {r['disturbed_chunks_rerun']} rerun, {r['contended_chunks_kept']} kept"
             for n, r in result["results"].items() if r["disturbed_chunks_rerun"] or r["contended_chunks_kept"]]
    if noisy:
        lines += ["Chunks disturbed by other processes: " + "; ".join(noisy), ""]
    clock = "CPU time of this process" if info.get("cpu_time") else "wall-clock"
    lines.append(f"median of per-step times ({clock}) over interleaved rounds; GFLOP/s = 3 x forward multiply-add "
                 "flops / time")
    return "\n".join(lines)


def profile_gradkit(np: Any, batch: int, cpu_time: bool = False) -> None:
    import cProfile
    import pstats
    import time

    params = init_params(np, seed=0)
    x, y = make_batch(np, batch, seed=0)
    m = GradkitCNN(np, params, x, y)
    for _ in range(3):
        m.step()
    prof = cProfile.Profile(time.process_time) if cpu_time else cProfile.Profile()
    prof.enable()
    for _ in range(20):
        m.step()
    prof.disable()
    print(f"\n[profile] gradkit, 20 steps, sorted by own time ({'CPU' if cpu_time else 'wall-clock'} time)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = configure_threads(args.threads)
    import numpy as np
    from _common import import_torch, machine_info, publish

    ok, why = gradkit_ready()
    if not ok:
        print(f"[bench] gradkit is left out: {why}", flush=True)
    if args.profile:
        if not ok:
            return 1
        profile_gradkit(np, args.batch, args.cpu_time)
        return 0
    torch = None if args.no_torch else import_torch(args.threads)
    if torch is None:
        print("[bench] PyTorch left out (not installed or --no-torch)", flush=True)
    info = machine_info({**env, "quick": args.quick, "cpu_time": args.cpu_time})
    result = run(np, torch, args, ok)
    publish("cpu-cnn", info, {"workload": result}, render(result, info), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
