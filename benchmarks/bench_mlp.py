"""CPU benchmark: one MLP training step (issue 4), gradkit beside a hand-written NumPy floor and PyTorch.

Each workload is timed in ONE interleaved run of:
  floor    the same step written by hand in NumPy, gradients derived by hand;
  gradkit  gk.nn.Sequential(Linear, ReLU, ...), F.cross_entropy, optim.SGD(momentum=0.9);
  pytorch  the same model in PyTorch eager, when torch imports (it is optional);
  matmul   (workload c only) NumPy's own 2048x2048 @ 2048x2048 float32 matmul, the rate to beat.
All float32, 2 threads, ReLU, softmax cross-entropy, SGD lr 0.01 momentum 0.9, one fixed batch.
Before timing, the steps are checked against each other from the same weights (two steps, so
momentum is exercised): same loss and same weight updates to float32 tolerance, float32 kept.

    python benchmarks/bench_mlp.py                 # all workloads, full run, writes benchmarks/results/
    python benchmarks/bench_mlp.py --quick -w a,b  # a short run of (a) and (b)
    python benchmarks/bench_mlp.py --profile -w a  # cProfile of gradkit's step, no timing
"""

from __future__ import annotations

import argparse
import os
import sys
from time import perf_counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import configure_threads  # noqa: E402  (must run before NumPy is imported)

LR = 0.01
MOMENTUM = 0.9
WORKLOADS = {
    # key: (layer sizes, batch, goals for gradkit)
    "a": ((784, 512, 512, 10), 128, {"time_ratio": 1.15, "mem_ratio": 1.3}),
    "b": ((64, 64, 10), 32, {"time_ratio": 2.5}),
    "c": ((2048, 2048, 2048, 10), 512, {"matmul_fraction": 0.85}),
}
MATMUL_N = 2048


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run (fewer, shorter rounds); results named *-quick")
    p.add_argument("-w", "--workloads", default="a,b,c", help="comma-separated subset of a,b,c (default: a,b,c)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/torch threads (default: 2)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: 21, quick: 5)")
    p.add_argument(
        "--max-wait", type=float, default=60.0, help="seconds to wait for other processes to go quiet (default: 60)"
    )
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it imports")
    p.add_argument("--no-save", action="store_true", help="print only; write no results file")
    p.add_argument("--out-dir", default=None, help="where results go (default: benchmarks/results)")
    p.add_argument("--profile", action="store_true", help="cProfile gradkit's step per workload instead of timing")
    p.add_argument("--breakdown", action="store_true", help="time each phase of the step, floor beside gradkit")
    args = p.parse_args(argv)
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    bad = [k for k in keys if k not in WORKLOADS]
    if bad or not keys:
        p.error(f"--workloads: unknown {bad or keys!r}; choose from {', '.join(WORKLOADS)}")
    args.keys = keys
    return args


# --------------------------------------------------------------------------- shared setup
def init_params(np: Any, sizes: tuple[int, ...], seed: int) -> list[tuple[Any, Any]]:
    """PyTorch's Linear initialisation: W (out, in) and b (out,) uniform in +-1/sqrt(in), float32."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
        params.append((w, b))
    return params


def make_batch(np: Any, sizes: tuple[int, ...], batch: int, seed: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=batch, dtype=np.int64)
    return x, y


def step_flops(sizes: tuple[int, ...], batch: int) -> float:
    """Training-step flops by the issue's convention: 3 x the forward matmul flops."""
    return 3.0 * sum(2.0 * batch * i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


# --------------------------------------------------------------------------- the floor (NumPy by hand)
class FloorMLP:
    """The step by hand in NumPy: the floor gradkit is measured against.

    Written as a competent NumPy user would: W stored (out, in) as in PyTorch, x @ W.T through
    BLAS's transpose flag (no copy), bias and ReLU in place, a max-shifted softmax cross-entropy,
    the backward pass producing every gradient, then the momentum update in place
    (PyTorch's formula: v = 0.9 v + g; W -= lr v, with lr v in a preallocated scratch array).
    """

    def __init__(self, np: Any, params: list[tuple[Any, Any]], lr: float = LR, momentum: float = MOMENTUM) -> None:
        self.np = np
        self.params = [(w.copy(), b.copy()) for w, b in params]
        self.bufs = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
        # One scratch array for lr * v: a fresh temporary of a large weight's size costs page faults on
        # every step (4600 minor faults, 25 ms of system time per step on workload c), no floor at all.
        self.scratch = np.empty(max(w.size for w, _ in params), dtype=params[0][0].dtype)
        # Gradient buffers written with out=, for the same reason: allocating the weight gradients afresh
        # makes glibc trim and re-fault the heap every step (2400 faults a step on c even with the scratch).
        self.grads = [(np.empty_like(w), np.empty_like(b)) for w, b in params]
        self.lr, self.momentum = np.float32(lr), np.float32(momentum)

    def step(self, x: Any, y: Any) -> Any:
        acts = self.forward(x)
        loss, g = self.loss_and_grad(acts[-1], y)
        self.update(self.backward(acts, g))
        return loss

    def forward(self, x: Any) -> list[Any]:
        """Every layer's output (the input first): what the backward pass needs."""
        np = self.np
        n = len(self.params)
        acts = [x]
        h = x
        for i, (w, b) in enumerate(self.params):
            h = h @ w.T
            h += b
            if i < n - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        return acts

    def loss_and_grad(self, logits: Any, y: Any) -> tuple[Any, Any]:
        """Mean softmax cross-entropy and its gradient (softmax - one_hot) / N."""
        np = self.np
        batch = logits.shape[0]
        rows = np.arange(batch)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1)
        loss = (np.log(s).sum() - shifted[rows, y].sum()) / np.float32(batch)
        g = e
        g /= s[:, None]
        g[rows, y] -= 1
        g *= np.float32(1.0 / batch)
        return loss, g

    def backward(self, acts: list[Any], g: Any) -> list[tuple[Any, Any]]:
        np = self.np
        n = len(self.params)
        grads = self.grads
        for i in range(n - 1, -1, -1):
            a = acts[i]
            np.matmul(g.T, a, out=grads[i][0])
            g.sum(axis=0, out=grads[i][1])
            if i > 0:
                g = g @ self.params[i][0]
                g *= a > 0
        return grads

    def update(self, grads: list[tuple[Any, Any]]) -> None:
        """SGD with momentum, in place."""
        np = self.np
        for (w, b), (vw, vb), (gw, gb) in zip(self.params, self.bufs, grads, strict=True):
            for p, v, gp in ((w, vw, gw), (b, vb, gb)):
                v *= self.momentum
                v += gp
                step = np.multiply(v, self.lr, out=self.scratch[: v.size].reshape(v.shape))
                p -= step

    def weights(self) -> list[Any]:
        return [a for wb in self.params for a in wb]


# --------------------------------------------------------------------------- gradkit
def gradkit_ready() -> tuple[bool, str]:
    try:
        import gradkit as gk
    except ImportError as exc:
        return False, f"gradkit does not import ({exc})"
    missing = []
    nn = getattr(gk, "nn", None)
    for name in ("Sequential", "Linear", "ReLU"):
        if nn is None or not hasattr(nn, name):
            missing.append(f"gk.nn.{name}")
    if nn is None or not hasattr(getattr(nn, "functional", None), "cross_entropy"):
        missing.append("gk.nn.functional.cross_entropy")
    if not hasattr(getattr(gk, "optim", None), "SGD"):
        missing.append("gk.optim.SGD")
    if missing:
        return False, "not available yet: " + ", ".join(missing)
    return True, ""


class GradkitMLP:
    def __init__(self, np: Any, params: list[tuple[Any, Any]], x: Any, y: Any) -> None:
        import gradkit as gk

        self.gk = gk
        layers: list[Any] = []
        for i, (w, _) in enumerate(params):
            if i:
                layers.append(gk.nn.ReLU())
            layers.append(gk.nn.Linear(w.shape[1], w.shape[0]))
        self.model = gk.nn.Sequential(*layers)
        sd = {}
        for i, (w, b) in enumerate(params):
            sd[f"{2 * i}.weight"] = gk.tensor(w.copy())
            sd[f"{2 * i}.bias"] = gk.tensor(b.copy())
        self.model.load_state_dict(sd)
        self.opt = gk.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = gk.tensor(x), gk.tensor(y)
        self.F = gk.nn.functional

    def step(self) -> Any:
        self.opt.zero_grad()
        loss = self.F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def phases(self) -> list[tuple[str, float]]:
        """One step with the time of each phase (zero_grad, forward, loss, backward, update)."""
        t0 = perf_counter()
        self.opt.zero_grad()
        t1 = perf_counter()
        out = self.model(self.x)
        t2 = perf_counter()
        loss = self.F.cross_entropy(out, self.y)
        t3 = perf_counter()
        loss.backward()
        t4 = perf_counter()
        self.opt.step()
        t5 = perf_counter()
        return [
            ("zero_grad", t1 - t0),
            ("forward", t2 - t1),
            ("loss", t3 - t2),
            ("backward", t4 - t3),
            ("update", t5 - t4),
        ]

    def weights(self) -> list[Any]:
        sd = self.model.state_dict()
        return [sd[k].numpy() for k in sd]


# --------------------------------------------------------------------------- PyTorch
class TorchMLP:
    def __init__(self, torch: Any, params: list[tuple[Any, Any]], x: Any, y: Any) -> None:
        nn = torch.nn
        layers: list[Any] = []
        for i, (w, _) in enumerate(params):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(w.shape[1], w.shape[0]))
        self.model = nn.Sequential(*layers)
        with torch.no_grad():
            for i, (w, b) in enumerate(params):
                self.model[2 * i].weight.copy_(torch.from_numpy(w))
                self.model[2 * i].bias.copy_(torch.from_numpy(b))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.ce = torch.nn.functional.cross_entropy

    def step(self) -> Any:
        self.opt.zero_grad()
        loss = self.ce(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def weights(self) -> list[Any]:
        return [p.detach().numpy().copy() for p in self.model.parameters()]


# --------------------------------------------------------------------------- correctness
def _to_float(np: Any, loss: Any) -> float:
    if hasattr(loss, "item"):
        return float(loss.item())
    return float(np.asarray(loss))


def verify(np: Any, key: str, params: list, x: Any, y: Any, impls: dict[str, Any], steps: int = 2) -> dict:
    """Run ``steps`` steps of every implementation from the same weights; compare with the floor.

    Loss: relative difference < 1e-4. Weights: the change from the initial weights (the update,
    which carries the gradient) must agree within 1e-3 of its largest magnitude, per tensor.
    gradkit must keep float32 (loss and weights). Raises SystemExit on a mismatch: a wrong step is
    never timed.
    """
    floor = FloorMLP(np, params)
    init = floor.weights()
    init = [w.copy() for w in init]
    report: dict[str, Any] = {}
    results = {name: [] for name in impls}
    floor_losses = []
    for _ in range(steps):
        floor_losses.append(_to_float(np, floor.step(x, y)))
        for name, impl in impls.items():
            loss = impl.step()
            if name == "gradkit" and str(loss.dtype) != "float32":
                raise SystemExit(f"[verify {key}] gradkit loss is {loss.dtype}, expected float32")
            results[name].append(_to_float(np, loss))
    floor_w = floor.weights()
    for name, impl in impls.items():
        worst_loss = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(results[name], floor_losses, strict=True))
        worst_upd = 0.0
        for w0, wf, wi in zip(init, floor_w, impl.weights(), strict=True):
            if wi.shape != wf.shape:
                raise SystemExit(f"[verify {key}] {name}: weight shape {wi.shape} != floor's {wf.shape}")
            if name == "gradkit" and wi.dtype != np.float32:
                raise SystemExit(f"[verify {key}] gradkit weight became {wi.dtype}, expected float32")
            du_f, du_i = wf.astype(np.float64) - w0, wi.astype(np.float64) - w0
            scale = max(float(np.abs(du_f).max()), 1e-12)
            worst_upd = max(worst_upd, float(np.abs(du_i - du_f).max()) / scale)
        ok = worst_loss < 1e-4 and worst_upd < 1e-3
        report[name] = {"loss_rel_err": worst_loss, "update_rel_err": worst_upd, "ok": ok}
        status = "ok" if ok else "MISMATCH"
        print(
            f"[verify {key}] {name:8s} vs floor over {steps} steps: loss rel err {worst_loss:.1e}, "
            f"update rel err {worst_upd:.1e} -> {status}",
            flush=True,
        )
        if not ok:
            raise SystemExit(f"[verify {key}] {name} does not compute the floor's step; refusing to time it")
    return report


def page_faults_per_step(fn: Any, steps: int) -> float | None:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps


# --------------------------------------------------------------------------- one workload
def run_workload(np: Any, torch: Any, key: str, args: argparse.Namespace, with_gradkit: bool) -> dict:
    from _common import interleaved, peak_alloc, wait_for_quiet

    sizes, batch, goals = WORKLOADS[key]
    params = init_params(np, sizes, seed=0)
    x, y = make_batch(np, sizes, batch, seed=0)
    name = "-".join(map(str, sizes)) + f" @ batch {batch}"
    print(f"[{key}] {name}", flush=True)

    def fresh() -> dict[str, Any]:
        impls: dict[str, Any] = {}
        if with_gradkit:
            impls["gradkit"] = GradkitMLP(np, params, x, y)
        if torch is not None:
            impls["pytorch"] = TorchMLP(torch, params, x, y)
        return impls

    check = verify(np, key, params, x, y, fresh())

    floor = FloorMLP(np, params)
    impls = fresh()
    cases: dict[str, Any] = {"floor": lambda: floor.step(x, y)}
    for n, impl in impls.items():
        cases[n] = impl.step
    if key == "c":
        a = np.random.default_rng(2).standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
        b = np.random.default_rng(3).standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
        out = np.empty_like(a)
        cases["numpy matmul 2048^3"] = lambda: np.matmul(a, b, out=out)

    rounds = args.rounds or (5 if args.quick else 21)
    chunk = 0.05 if args.quick else 0.1
    wait_for_quiet(args.max_wait)
    stats = interleaved(cases, rounds=rounds, chunk_s=chunk, warmup=2 if args.quick else 5)

    # Memory: traced from construction on, so that whatever an implementation keeps between
    # steps (momentum buffers, gradients, scratch) counts; the weights themselves are left out.
    param_bytes = sum(w.nbytes + b.nbytes for w, b in params)

    def make_floor() -> Any:
        f = FloorMLP(np, params)
        return lambda: f.step(x, y)

    traced = {"floor": peak_alloc(setup=make_floor, warmup=2)}
    if "gradkit" in impls:
        traced["gradkit"] = peak_alloc(setup=lambda: GradkitMLP(np, params, x, y).step, warmup=2)
    peaks: dict[str, int] = {n: p.peak - param_bytes for n, p in traced.items()}

    # Minor page faults per step: a deterministic sign of fresh large allocations (noise-free, unlike time).
    faults = {n: page_faults_per_step(fn, 3 if key == "c" else 20) for n, fn in cases.items()}

    flops = step_flops(sizes, batch)
    floor_t = stats["floor"].median
    mm_rate = None
    if key == "c":
        mm_rate = 2.0 * MATMUL_N**3 / stats["numpy matmul 2048^3"].median
    rows = {}
    for n, st in stats.items():
        t = st.median
        f = 2.0 * MATMUL_N**3 if n.startswith("numpy matmul") else flops
        rows[n] = {
            **st.summary(),
            "ratio_to_floor": None if n.startswith("numpy matmul") else t / floor_t,
            "gflops": f / t / 1e9,
            "fraction_of_matmul": (f / t) / mm_rate if mm_rate else None,
            "minor_faults_per_step": faults.get(n),
            "peak_bytes": peaks.get(n),
            "held_bytes": traced[n].held - param_bytes if n in traced else None,
            "transient_bytes": traced[n].transient if n in traced else None,
            "peak_ratio_to_floor": peaks[n] / peaks["floor"] if peaks.get(n) is not None else None,
        }
    verdicts = {}
    g = rows.get("gradkit")
    if g is not None:
        if "time_ratio" in goals:
            verdicts["time"] = {
                "goal": f"<= {goals['time_ratio']}x floor",
                "ok": g["ratio_to_floor"] <= goals["time_ratio"],
            }
        if "mem_ratio" in goals:
            verdicts["memory"] = {
                "goal": f"peak <= {goals['mem_ratio']}x floor",
                "ok": g["peak_ratio_to_floor"] <= goals["mem_ratio"],
            }
        if "matmul_fraction" in goals:
            verdicts["rate"] = {
                "goal": f">= {goals['matmul_fraction']:.0%} of matmul",
                "ok": g["fraction_of_matmul"] >= goals["matmul_fraction"],
            }
    return {
        "name": name,
        "sizes": sizes,
        "batch": batch,
        "step_flops": flops,
        "param_bytes": param_bytes,
        "matmul_gflops": mm_rate / 1e9 if mm_rate else None,
        "verify": check,
        "results": rows,
        "goals": verdicts,
    }


def render(results: dict[str, dict], info: dict) -> str:
    from _common import fmt_bytes, fmt_time, markdown_table

    headers = ["workload", "impl", "median/step", "vs floor", "GFLOP/s", "% matmul", "peak mem*", "mem vs floor"]
    rows = []
    for key, wl in results.items():
        for n, r in wl["results"].items():
            rows.append(
                [
                    f"({key}) {wl['name']}",
                    n,
                    fmt_time(r["median_s"]),
                    "" if r["ratio_to_floor"] is None else f"{r['ratio_to_floor']:.2f}x",
                    f"{r['gflops']:.1f}",
                    "" if r["fraction_of_matmul"] is None else f"{r['fraction_of_matmul']:.1%}",
                    fmt_bytes(r["peak_bytes"]) if r["peak_bytes"] is not None else "n/a",
                    "" if r["peak_ratio_to_floor"] is None else f"{r['peak_ratio_to_floor']:.2f}x",
                ]
            )
    lines = [
        f"MLP training step, CPU — {info['date_utc']} — {info['cpu']}, {info['threads']} threads, "
        f"NumPy {info['numpy']} ({info['blas'].get('name')} {info['blas'].get('version')}), "
        f"PyTorch {info.get('torch', 'not installed')}, gradkit {info.get('gradkit_commit')}",
        "",
        markdown_table(headers, rows),
        "",
    ]
    goals = []
    for key, wl in results.items():
        for what, v in wl["goals"].items():
            goals.append(f"({key}) gradkit {what}: {v['goal']} -> {'MET' if v['ok'] else 'MISSED'}")
    if goals:
        lines += ["Goals (issue 4): " + "; ".join(goals), ""]
    noisy = [
        f"({key}) {n}: {r['disturbed_chunks_rerun']} rerun, {r['contended_chunks_kept']} kept"
        for key, wl in results.items()
        for n, r in wl["results"].items()
        if r["disturbed_chunks_rerun"] or r["contended_chunks_kept"]
    ]
    if noisy:
        lines += ["Chunks disturbed by other processes: " + "; ".join(noisy), ""]
    lines.append(
        "median of per-step times over interleaved rounds; GFLOP/s = 3 x forward matmul flops / time; "
        "*peak mem = tracemalloc high-water mark during one steady-state step of everything the implementation "
        "holds beyond the weights themselves (momentum buffers, gradients kept between steps, scratch, activations, "
        "temporaries; NumPy + Python allocations; n/a for PyTorch, whose allocator tracemalloc does not see)."
    )
    return "\n".join(lines)


def profile_gradkit(np: Any, keys: list[str]) -> None:
    import cProfile
    import pstats

    for key in keys:
        sizes, batch, _ = WORKLOADS[key]
        params = init_params(np, sizes, seed=0)
        x, y = make_batch(np, sizes, batch, seed=0)
        m = GradkitMLP(np, params, x, y)
        for _ in range(5):
            m.step()
        n = 200 if key != "c" else 5
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            m.step()
        prof.disable()
        print(f"\n[profile {key}] gradkit, {n} steps, sorted by own time")
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


def floor_phases(floor: FloorMLP, x: Any, y: Any) -> list[tuple[str, float]]:
    """One floor step with the time of each phase, named as gradkit's."""
    t0 = perf_counter()
    acts = floor.forward(x)
    t1 = perf_counter()
    _, g = floor.loss_and_grad(acts[-1], y)
    t2 = perf_counter()
    grads = floor.backward(acts, g)
    t3 = perf_counter()
    floor.update(grads)
    t4 = perf_counter()
    return [("zero_grad", 0.0), ("forward", t1 - t0), ("loss", t2 - t1), ("backward", t3 - t2), ("update", t4 - t3)]


def breakdown(np: Any, keys: list[str], quick: bool) -> None:
    """Median time of each phase of the step, floor beside gradkit (steps alternate between the two)."""
    import statistics

    from _common import fmt_time, markdown_table, wait_for_quiet

    for key in keys:
        sizes, batch, _ = WORKLOADS[key]
        params = init_params(np, sizes, seed=0)
        x, y = make_batch(np, sizes, batch, seed=0)
        floor, gk_mlp = FloorMLP(np, params), GradkitMLP(np, params, x, y)
        for _ in range(5):
            floor_phases(floor, x, y)
            gk_mlp.phases()
        n = {"a": 300, "b": 3000, "c": 10}[key] // (5 if quick else 1)
        wait_for_quiet(30)
        samples: dict[str, dict[str, list[float]]] = {"floor": {}, "gradkit": {}}
        for _ in range(n):
            for impl, fn in (("floor", lambda: floor_phases(floor, x, y)), ("gradkit", gk_mlp.phases)):
                for phase, t in fn():
                    samples[impl].setdefault(phase, []).append(t)
        rows = []
        tot = {"floor": 0.0, "gradkit": 0.0}
        for phase in samples["floor"]:
            f, g = statistics.median(samples["floor"][phase]), statistics.median(samples["gradkit"][phase])
            tot["floor"] += f
            tot["gradkit"] += g
            rows.append([phase, fmt_time(f), fmt_time(g), fmt_time(g - f), f"{g / f:.2f}x" if f else ""])
        d = tot["gradkit"] - tot["floor"]
        rows.append(
            [
                "sum",
                fmt_time(tot["floor"]),
                fmt_time(tot["gradkit"]),
                fmt_time(d),
                f"{tot['gradkit'] / tot['floor']:.2f}x",
            ]
        )
        print(f"\n[breakdown {key}] {'-'.join(map(str, sizes))} @ batch {batch}: median per phase over {n} steps each")
        print(markdown_table(["phase", "floor", "gradkit", "gradkit - floor", "ratio"], rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = configure_threads(args.threads)
    import numpy as np
    from _common import import_torch, machine_info, publish

    ok, why = gradkit_ready()
    if not ok:
        print(f"[bench] gradkit is left out: {why}", flush=True)
    if args.profile or args.breakdown:
        if not ok:
            return 1
        if args.breakdown:
            breakdown(np, args.keys, args.quick)
        if args.profile:
            profile_gradkit(np, args.keys)
        return 0
    torch = None if args.no_torch else import_torch(args.threads)
    if torch is None:
        print("[bench] PyTorch left out (not installed or --no-torch)", flush=True)
    info = machine_info({**env, "quick": args.quick})
    results = {key: run_workload(np, torch, key, args, ok) for key in args.keys}
    publish("cpu-mlp", info, {"workloads": results}, render(results, info), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
