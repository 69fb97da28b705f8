"""Shared helpers for gradkit's benchmarks: thread pinning, interleaved timing, peak memory, machine info.

Import this module and call :func:`configure_threads` BEFORE NumPy (or gradkit, or torch) is
imported: the BLAS libraries read their thread count and core type from the environment when
they load. Everything else here imports NumPy lazily, so the order stays easy to get right::

    from _common import configure_threads
    configure_threads(2)          # sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ...
    import numpy as np            # now pinned
    from _common import interleaved, peak_alloc, machine_info

Timing is *interleaved*: every round runs each case once (a chunk of ``inner`` calls, timed as one
block), in an order that rotates from round to round, so slow drifts of the machine (frequency,
a noisy neighbour, the page cache) hit every case alike. The figure reported is the median of the
per-call times over the rounds.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Environment variables that fix the thread count of the usual BLAS / OpenMP runtimes.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: Variables that make this machine's OpenBLAS pick slower kernels; benchmarks unset them.
SLOW_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_REEXEC_MARK = "GRADKIT_BENCH_REEXEC"

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def configure_threads(threads: int = 2, *, unset_slow_openblas: bool = True) -> dict[str, Any]:
    """Pin BLAS/OpenMP to ``threads`` threads and unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.

    Must run before NumPy is imported. If NumPy (or torch) is already loaded with a different
    environment, the process re-executes itself once with the cleaned environment (the only way
    to change what an already-loaded OpenBLAS has read). Prints one line saying what it changed.
    Returns a record of the settings for the results file.
    """
    wanted = {name: str(threads) for name in THREAD_VARS}
    removed = {}
    if unset_slow_openblas:
        removed = {name: os.environ[name] for name in SLOW_OPENBLAS_VARS if name in os.environ}
    changed = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    loaded = [m for m in ("numpy", "torch", "cupy") if m in sys.modules]
    if (changed or removed) and loaded and not os.environ.get(_REEXEC_MARK):
        env = dict(os.environ)
        env.update(wanted)
        for name in removed:
            env.pop(name)
        env[_REEXEC_MARK] = "1"
        print(
            f"[bench] {', '.join(loaded)} already imported: re-executing with {threads} threads"
            + (f" and without {', '.join(removed)}" if removed else ""),
            flush=True,
        )
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    os.environ.update(wanted)
    for name in removed:
        del os.environ[name]
    msg = f"[bench] threads pinned to {threads} ({', '.join(THREAD_VARS[:2])}, ...)"
    if removed:
        msg += "; unset " + ", ".join(f"{k}={v}" for k, v in removed.items()) + " for this process"
        msg += " (they make this CPU's OpenBLAS slower)"
    elif unset_slow_openblas:
        msg += f"; {' and '.join(SLOW_OPENBLAS_VARS)} are unset for this process"
    print(msg, flush=True)
    return {"threads": threads, "thread_env": wanted, "unset_env": removed}


# --------------------------------------------------------------------------- timing
@dataclass
class Stats:
    """Per-call times (seconds) of one case over the rounds of an interleaved run."""

    name: str
    samples: list[float] = field(default_factory=list)
    inner: int = 1
    disturbed: int = 0
    contended: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def iqr(self) -> tuple[float, float]:
        if len(self.samples) < 4:
            return (min(self.samples), max(self.samples))
        q = statistics.quantiles(self.samples, n=4)
        return (q[0], q[2])

    def summary(self) -> dict[str, Any]:
        q1, q3 = self.iqr
        return {
            "median_s": self.median,
            "min_s": self.minimum,
            "q1_s": q1,
            "q3_s": q3,
            "rounds": len(self.samples),
            "calls_per_round": self.inner,
            "disturbed_chunks_rerun": self.disturbed,
            "contended_chunks_kept": self.contended,
        }


def _cpu_busy_s() -> float | None:
    """Seconds of CPU time every CPU of the machine has spent busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / _CLK_TCK


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _time_chunk(fn: Callable[[], Any], inner: int, sync: Callable[[], Any] | None) -> tuple[float, float]:
    """Per-call seconds over ``inner`` calls, and CPU seconds other processes took meanwhile."""
    busy0, own0 = _cpu_busy_s(), _own_cpu_s()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    if sync is not None:
        sync()
    wall = time.perf_counter() - t0
    busy1, own1 = _cpu_busy_s(), _own_cpu_s()
    others = 0.0 if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - (own1 - own0))
    return wall / inner, others


def other_load(seconds: float = 0.5) -> float:
    """How many CPUs other processes kept busy, on average, over the next ``seconds`` (0 if unknown)."""
    busy0, own0 = _cpu_busy_s(), _own_cpu_s()
    time.sleep(seconds)
    busy1, own1 = _cpu_busy_s(), _own_cpu_s()
    if busy0 is None or busy1 is None:
        return 0.0
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds


def wait_for_quiet(max_wait_s: float = 60.0, threshold: float = 0.3, verbose: bool = True) -> float:
    """Wait (at most ``max_wait_s``) until other processes use less than ``threshold`` CPUs; returns the load."""
    deadline = time.perf_counter() + max_wait_s
    load = other_load()
    told = False
    while load > threshold and time.perf_counter() < deadline:
        if verbose and not told:
            print(f"[bench] other processes keep {load:.1f} CPUs busy; waiting up to {max_wait_s:.0f} s", flush=True)
            told = True
        time.sleep(1.0)
        load = other_load()
    return load


def interleaved(
    cases: Mapping[str, Callable[[], Any]],
    rounds: int = 21,
    chunk_s: float = 0.1,
    warmup: int = 3,
    sync: Callable[[], Any] | None = None,
    max_inner: int = 10_000,
    settle_s: float = 0.05,
    retries: int = 4,
    disturbed_frac: float = 0.25,
) -> dict[str, Stats]:
    """Time every case in one interleaved run; returns ``{name: Stats}`` with per-call seconds.

    Each case is first called ``warmup`` times; its number of calls per round (``inner``) is then
    chosen so that a round's chunk takes about ``chunk_s`` seconds. Every round runs all cases,
    starting from a different case each round. ``sync`` (e.g. a device synchronise) runs at the
    end of every chunk, inside the clock.

    Between chunks, outside the clock: a full garbage collection (the collector stays on while
    timing: it is part of the cost) and ``settle_s`` of sleep, a precaution: OpenBLAS's worker
    threads and PyTorch's OpenMP threads spin for a while after a call, and the pause lets them
    sleep before the next case's threads want the cores.

    A chunk during which other processes used more than ``disturbed_frac`` of a CPU (read from
    /proc/stat) is run again, up to ``retries`` times; ``Stats.disturbed`` counts the chunks that
    were thrown away and ``Stats.contended`` the ones kept although still disturbed.
    """
    names = list(cases)
    inner = {}
    for name in names:
        fn = cases[name]
        for _ in range(max(warmup, 1)):
            fn()
        if sync is not None:
            sync()
        est = min(_time_chunk(fn, 1, sync)[0], _time_chunk(fn, 1, sync)[0])
        inner[name] = int(max(1, min(max_inner, round(chunk_s / max(est, 1e-9)))))
    stats = {name: Stats(name, inner=inner[name]) for name in names}
    slack = 2.0 / _CLK_TCK  # /proc/stat counts in clock ticks
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            st = stats[name]
            for attempt in range(retries + 1):
                gc.collect()
                if settle_s:
                    time.sleep(settle_s)
                per_call, others = _time_chunk(cases[name], inner[name], sync)
                if others <= disturbed_frac * per_call * inner[name] + slack:
                    break
                if attempt < retries:
                    st.disturbed += 1
                else:
                    st.contended += 1
            st.samples.append(per_call)
    return stats


# --------------------------------------------------------------------------- memory
@dataclass
class Peak:
    """tracemalloc figures for one traced call, in bytes.

    ``held`` is what was traced as live just before the call (what ``setup`` and the warm-up
    calls left behind: parameters, optimiser state, gradients kept between steps, caches);
    ``peak`` the high-water mark during the call, counted from the same origin (so it includes
    ``held``); ``transient = peak - held``.
    """

    held: int
    peak: int

    @property
    def transient(self) -> int:
        return self.peak - self.held


def peak_alloc(fn: Callable[[], Any] | None = None, warmup: int = 1, setup: Callable[[], Any] | None = None) -> Peak:
    """Trace one call of ``fn()`` with tracemalloc after ``warmup`` traced calls; see :class:`Peak`.

    With ``setup``, tracing starts before ``setup()`` runs and the call traced is the one it
    returns, so everything the implementation allocates (parameters, buffers) is counted; without
    it only what the warm-up calls leave behind is. NumPy reports its array buffers to
    tracemalloc, so this counts NumPy arrays and Python objects (not memory that other libraries,
    e.g. torch or CuPy, allocate themselves).
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.stop()
    tracemalloc.start()
    try:
        if setup is not None:
            fn = setup()
        if fn is None:
            raise TypeError("peak_alloc: give fn, or a setup that returns it")
        for _ in range(warmup):
            fn()
        gc.collect()
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if was_tracing:
            tracemalloc.start()
    return Peak(held, peak)


# --------------------------------------------------------------------------- formatting
def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-style table with columns padded for reading in a terminal too."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- machine info
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: name, version, configuration (as ``numpy.show_config`` reports it)."""
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    except Exception as exc:  # noqa: BLE001 - old NumPy or an odd build: record why
        return {"error": repr(exc)}


def machine_info(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a reader needs to compare two results files: host, CPU, libraries, threads, commit, date."""
    import numpy as np

    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "blas": blas_info(),
        "env": {k: os.environ.get(k) for k in (*THREAD_VARS, *SLOW_OPENBLAS_VARS)},
        "gradkit_commit": _git_commit(Path(__file__).resolve().parent.parent),
    }
    try:
        import gradkit

        info["gradkit"] = getattr(gradkit, "__version__", "unknown")
    except ImportError:
        info["gradkit"] = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    if extra:
        info.update(extra)
    return info


def import_torch(threads: int) -> Any:
    """``torch`` pinned to ``threads`` threads, or None when it does not import (it is optional)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def write_results(stem: str, data: Mapping[str, Any], markdown: str, outdir: Path | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` under ``benchmarks/results`` (or ``outdir``)."""
    outdir = Path(outdir) if outdir is not None else RESULTS_DIR
    outdir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = outdir / f"{stem}.json", outdir / f"{stem}.md"
    jpath.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    mpath.write_text(markdown.rstrip() + "\n")
    return jpath, mpath


def publish(kind: str, info: Mapping[str, Any], payload: Mapping[str, Any], text: str, args: Any) -> None:
    """Print ``text`` and, unless ``args.no_save``, write it with ``payload`` as ``<kind>-<UTC stamp>[-quick]``
    (``write_results`` under ``args.out_dir``)."""
    if not args.no_save:
        stamp = info["date_utc"].replace(":", "").replace("-", "").replace("+0000", "")
        stem = f"{kind}-{stamp}" + ("-quick" if args.quick else "")
        jpath, mpath = write_results(stem, {"machine": info, **payload}, text, args.out_dir)
        print(f"[bench] wrote {jpath} and {mpath}", flush=True)
    print()
    print(text)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Stats):
        return asdict(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
