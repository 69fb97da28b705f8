"""Where a training step's time goes on a GPU: kernels per step and host overhead, gradkit beside PyTorch.

For the MLPs of ``gpu_bench.py`` (784-512-512-10 at batch 128, 4096-4096-4096-10 at batch 1024), each
framework's eager step is run under ``torch.profiler`` (CUPTI sees every kernel of the process,
CuPy's included), and the kernels of one step are listed with their count and device time. Then:

- host time per phase (zero_grad, forward + loss, backward, optimiser step) of the small MLP, each
  phase timed on the host clock without a synchronisation inside the step (the device runs behind);
- cProfile of gradkit's small eager step, the 30 functions with the most own time.

Usage::

    python benchmarks/gpu_profile_step.py OUTDIR [--cpu] [--steps 200]

It writes OUTDIR/profile.json and OUTDIR/profile.md and prints the Markdown. ``--cpu`` runs the
gradkit parts on NumPy (a smoke test; no kernels to list).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpu_bench import Env, batch, gk_mlp, torch_mlp  # noqa: E402

import gradkit as gk  # noqa: E402

SMALL = ([784, 512, 512, 10], 128)
LARGE = ([4096, 4096, 4096, 10], 1024)


def kernels_of(env: Env, fn: Any, steps: int) -> dict[str, Any]:
    """The device activity of ``steps`` calls of ``fn`` under torch.profiler, per kernel name."""
    from torch.profiler import ProfilerActivity, profile

    env.sync()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        env.sync()
    kernels: dict[str, dict[str, float]] = {}
    launches: dict[str, int] = {}
    for e in prof.events():
        kind = str(getattr(e, "device_type", ""))
        if kind.endswith("CUDA"):
            k = kernels.setdefault(e.name[:90], {"count": 0, "device_us": 0.0})
            k["count"] += 1
            k["device_us"] += float(getattr(e, "device_time", None) or getattr(e, "cuda_time", 0.0) or 0.0)
        elif "Launch" in e.name or e.name.startswith(("cudaMemcpy", "cudaMemset", "cuMemcpy", "cuMemset")):
            launches[e.name] = launches.get(e.name, 0) + 1
    per_step = {
        name: {"count": v["count"] / steps, "device_us": v["device_us"] / steps}
        for name, v in sorted(kernels.items(), key=lambda kv: -kv[1]["device_us"])
    }
    return {
        "kernels_per_step": sum(v["count"] for v in per_step.values()),
        "device_us_per_step": sum(v["device_us"] for v in per_step.values()),
        "launch_calls_per_step": {k: v / steps for k, v in launches.items()},
        "kernels": per_step,
    }


def phases(env: Env, model: Any, opt: Any, x: Any, y: Any, steps: int, torch_like: bool) -> dict[str, float]:
    """Host microseconds per phase of a step, no synchronisation inside (the device runs behind)."""
    if torch_like:
        import torch

        ce = torch.nn.functional.cross_entropy
    else:
        ce = gk.nn.functional.cross_entropy
    totals = {"zero_grad": 0.0, "forward+loss": 0.0, "backward": 0.0, "opt.step": 0.0}
    env.sync()
    t_all = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        if torch_like:
            opt.zero_grad(set_to_none=True)
        else:
            opt.zero_grad()
        t1 = time.perf_counter()
        loss = ce(model(x), y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        totals["zero_grad"] += t1 - t0
        totals["forward+loss"] += t2 - t1
        totals["backward"] += t3 - t2
        totals["opt.step"] += t4 - t3
    host = time.perf_counter() - t_all
    env.sync()
    wall = time.perf_counter() - t_all
    out = {k: v / steps * 1e6 for k, v in totals.items()}
    out["host_total"] = host / steps * 1e6
    out["wall_with_final_sync"] = wall / steps * 1e6
    return out


def cprofile_step(step: Any, x: Any, y: Any, steps: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step(x, y)
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    return text.getvalue()


def render(report: dict[str, Any]) -> str:
    lines = ["# Where a training step's time goes", ""]
    for key, res in report.get("kernels", {}).items():
        if "error" in res:
            lines.append(f"- {key}: {res['error']}")
            continue
        head = f"## {key}: {res['kernels_per_step']:.1f} kernels, {res['device_us_per_step']:.1f} µs of device time"
        lines += ["", head + " per step", "", "| kernel | per step | µs per step |", "|---|---|---|"]
        for name, v in list(res["kernels"].items())[:25]:
            lines.append(f"| `{name}` | {v['count']:.1f} | {v['device_us']:.1f} |")
        lines.append(f"\nlaunch calls per step: {json.dumps(res['launch_calls_per_step'])}")
    for key, ph in report.get("phases", {}).items():
        lines += ["", f"## host µs per phase, {key}", "", json.dumps({k: round(v, 1) for k, v in ph.items()})]
    for key, err in report.get("errors", {}).items():
        lines.append(f"\nERROR {key}: {err}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    env = Env(args.cpu)
    report: dict[str, Any] = {"device": env.info(), "kernels": {}, "phases": {}, "errors": {}}

    def attempt(name: str, fn: Any) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - each part reports on its own
            report["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
            return None

    for label, (layers, bs) in (("small", SMALL), ("large", LARGE)):
        if args.cpu and label == "large":
            continue
        x, y, tx, ty = batch(env, bs, layers[0], layers[-1])
        model, opt, step = gk_mlp(layers, env)
        for _ in range(5):
            step(x, y)
        if env.torch is not None and not args.cpu:
            report["kernels"][f"gradkit {label}"] = attempt(f"kernels gradkit {label}", lambda: kernels_of(env, lambda: step(x, y), 10)) or {"error": "failed"}  # noqa: E501
            tmodel, tstep = torch_mlp(layers, env, like=model)
            for _ in range(5):
                tstep(tx, ty)
            report["kernels"][f"torch {label}"] = attempt(f"kernels torch {label}", lambda: kernels_of(env, lambda: tstep(tx, ty), 10)) or {"error": "failed"}  # noqa: E501
        if label == "small":
            report["phases"]["gradkit small"] = attempt("phases gradkit", lambda: phases(env, model, opt, x, y, args.steps, False))  # noqa: E501
            if env.torch is not None:
                tmodel, tstep = torch_mlp(layers, env, like=model)
                topt = env.torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
                report["phases"]["torch small"] = attempt("phases torch", lambda: phases(env, tmodel, topt, tx, ty, args.steps, True))  # noqa: E501
            report["cprofile_small"] = attempt("cprofile", lambda: cprofile_step(step, x, y, args.steps))
    md = render(report)
    (args.outdir / "profile.json").write_text(json.dumps(report, indent=1, default=str))
    (args.outdir / "profile.md").write_text(md + "\n## cProfile, gradkit small eager step\n\n```\n"
                                            + str(report.get("cprofile_small")) + "\n```\n")  # fmt: skip
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
