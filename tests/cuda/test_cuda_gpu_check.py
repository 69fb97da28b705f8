"""ci/gpu-check and benchmarks/gpu_bench.py on the CPU: arguments, time-boxing, the report's format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _scripts import load_script

pytestmark = pytest.mark.script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "gpu-check"


def _run(*args: str, out_env: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("OUT", None)
    if out_env is not None:
        env["OUT"] = out_env
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def test_script_is_executable_python():
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3")


def test_a_results_folder_is_required():
    proc = _run()
    assert proc.returncode == 2
    assert "set $OUT or pass OUTDIR" in proc.stderr


def test_bad_budget_is_refused(tmp_path):
    proc = _run(str(tmp_path), "--budget", "5")
    assert proc.returncode == 2 and "--budget" in proc.stderr


def test_dry_run_writes_the_report(tmp_path):
    proc = _run(str(tmp_path / "ignored"), "--dry-run", out_env=str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"  # $OUT wins over the folder argument
    assert not (tmp_path / "ignored").exists()
    report = json.loads((out / "gpu-check.json").read_text())
    assert report["schema"] == 1 and report["dry_run"] is True and report["mode"] == "gpu"
    assert report["tests"] == {"ran": False, "backend": "cupy", "reason": "dry run"}
    assert report["benchmarks"]["ran"] is False
    assert "device" in report["environment"] and "torch" in report["environment"]
    md = (out / "gpu-check.md").read_text()
    assert md.startswith("# gradkit GPU check (gpu, dry run)") and "## Tests: not run (dry run)" in md
    assert list((out / "results").glob("*_dry-run.json")) and list((out / "results").glob("*_dry-run.md"))
    assert proc.stdout.rstrip().splitlines()[-1].startswith("gpu-check: wrote")  # the table, then where it went


def test_gpu_mode_without_a_gpu_says_so(tmp_path):
    gk = pytest.importorskip("gradkit")
    if gk.cuda_available():
        pytest.skip("this machine has a GPU")
    proc = _run(str(tmp_path))
    assert proc.returncode == 1
    assert "no usable GPU" in proc.stderr
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["tests"]["ran"] is False and "no usable GPU" in report["tests"]["reason"]


def test_cpu_run_counts_failures_and_time_boxes_pytest(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_some.py").write_text(
        "import time, pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2, 'one is not two'\n"
        "@pytest.mark.skip(reason='no')\n"
        "def test_skipped(): pass\n"
        "def test_slow(): time.sleep(60)\n"
    )
    (suite / "test_missing_module.py").write_text("import a_module_that_is_not_installed\n")
    proc = _run(str(tmp_path / "out"), "--cpu", "--skip-bench", "--test-timeout", "8", "--pytest-args", str(suite))
    assert proc.returncode == 1
    report = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    t = report["tests"]
    assert t["ran"] and t["timed_out"] and t["backend"] == "numpy"
    assert (t["passed"], t["failed"], t["errors"], t["skipped"], t["incomplete"]) == (1, 1, 1, 1, 1)
    messages = " ".join(f["message"] for f in t["failures"])
    assert "one is not two" in messages and "a_module_that_is_not_installed" in messages
    md = (tmp_path / "out" / "gpu-check.md").read_text()
    assert "TIMED OUT" in md and "1 interrupted" in md
    assert (tmp_path / "out" / "junit-selected.xml").exists() and (tmp_path / "out" / "pytest-selected.txt").exists()
    assert [r["name"] for r in t["runs"]] == ["selected"]  # test paths given: one run of those


def test_render_shows_benchmarks_and_targets():
    gc = load_script("gpu_check", SCRIPT)
    report = {
        "mode": "gpu", "dry_run": False, "date_utc": "2030-01-01T00:00:00+00:00", "git_commit": "abc1234",
        "budget_s": 470, "elapsed_s": 300.0,
        "environment": {"device": {"available": True, "name": "NVIDIA H100 80GB HBM3", "driver_version": "550.54",
                                   "compute_capability": "9.0", "cuda_runtime": "12.4", "cupy": "13.3.0"},
                        "torch": {"version": "2.5.0", "cuda": "12.4"}},
        "tests": {"ran": True, "ok": True, "backend": "cupy", "summary": "10 passed", "cuda_ran": 4, "seconds": 12.0},
        "benchmarks": {"ran": True, "results": {
            "mlp_small": {"cases": {"gradkit eager": {"median_s": 3e-4, "tflops": 1.5}}, "errors": {}},
            "errors": {"mnist_epoch": "skipped: the 100 s budget was used up"},
            "targets": [{"name": "mlp_small eager", "goal": "<= torch", "met": False, "detail": "ratio 1.2"},
                        {"name": "mlp_large rate", "goal": ">= 85%", "met": True, "detail": "90%"}]}},
    }  # fmt: skip
    md = gc.render(report)
    assert "NVIDIA H100 80GB HBM3" in md and "driver 550.54" in md and "CuPy 13.3.0" in md
    assert "| mlp_small" in md and "300.0 µs" in md and "MISSED" in md and "| met" in md
    assert "budget was used up" in md
    assert gc.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


# ------------------------------------------------------------------ the benchmark module
def test_bench_targets_and_flops():
    gb = load_script("gpu_bench", ROOT / "benchmarks" / "gpu_bench.py")
    nominal, computed = gb.step_flops([784, 512, 512, 10], 128)
    fwd = 2 * 128 * (784 * 512 + 512 * 512 + 512 * 10)
    assert nominal == 3 * fwd and computed == 3 * fwd - 2 * 128 * 784 * 512
    results = {
        "matmul": {"cases": {"cupy (cuBLAS)": {"median_s": 1.0, "tflops": 50.0}}},
        "mlp_small": {"cases": {"torch eager": {"median_s": 4e-4}, "gradkit eager": {"median_s": 3e-4},
                                "gradkit graph": {"median_s": 2.5e-4}}, "errors": {}},
        "mlp_large": {"cases": {"gradkit eager": {"median_s": 1.0, "tflops": 44.0, "tflops_computed": 40.0}}},
        "mnist_epoch": {"cases": {"gradkit eager": {"median_s": 1.4}, "gradkit graph": {"median_s": 0.6}}},
    }  # fmt: skip
    rows = {r["name"]: r for r in gb.targets(results, cpu=False)}
    assert rows["mlp_small eager"]["met"] is True and rows["mlp_small eager"]["value"] == pytest.approx(0.75)
    assert rows["mlp_small graph"]["met"] is False  # 0.625 > 0.5
    assert rows["mlp_large rate"]["met"] is True and rows["mlp_large rate"]["value"] == pytest.approx(0.88)
    assert rows["mnist epoch"]["met"] is True and "gradkit graph: 600 ms" in rows["mnist epoch"]["detail"]
    assert all(r["met"] is None for r in gb.targets(results, cpu=True))  # CPU figures never meet GPU targets
    results["step_memory"] = {"peak_bytes": {"gradkit": 900 * 2**20, "torch": 1000 * 2**20}}
    rows = {r["name"]: r for r in gb.targets(results, cpu=False)}
    assert rows["step peak memory"]["met"] is True and rows["step peak memory"]["detail"].startswith("900 MiB vs 1000")
    missing = {r["name"]: r for r in gb.targets({}, cpu=False)}
    assert missing["step peak memory"]["met"] is False and missing["step peak memory"]["detail"] == "not measured"
    assert missing["mlp_small graph"]["met"] is False and missing["mlp_small graph"]["detail"] == "not measured"


@pytest.mark.slow
def test_bench_cpu_smoke_run(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_bench.py"), "--json", str(out), "--cpu", "--rounds", "2",
         "-w", "mlp_small"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert res["mode"] == "cpu" and res["errors"] == {} and res["complete"] is True
    small = res["mlp_small"]
    assert small["timing"]["rounds_done"] == 2 and not small["timing"]["cut_short"]
    assert small["check"]["ok"] is True  # gradkit's and PyTorch's first steps agree
    assert set(small["cases"]) == {"torch eager", "gradkit eager", "gradkit capture (plain)"}
    assert all(c["median_s"] > 0 for c in small["cases"].values())
    lines = proc.stdout.splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("| target"))
    assert len(lines) - header == 2 + 5  # the targets table (five targets) is printed last


@pytest.mark.parametrize(("status", "expected"), [("", "abc1234"), (" M gradkit/tensor.py\n", "abc1234-dirty")])
def test_the_reported_commit_says_when_the_tree_differs_from_it(monkeypatch, status, expected):
    """A copied working tree can carry an older HEAD than its code (seen on the device machine): say so."""
    gc = load_script("gpu_check", SCRIPT)

    def fake_run(cmd, **kwargs):
        out = "abc1234\n" if cmd[:2] == ["git", "rev-parse"] else status
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(gc.subprocess, "run", fake_run)
    assert gc.git_commit() == expected
