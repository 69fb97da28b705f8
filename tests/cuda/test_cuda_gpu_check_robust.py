"""ci/gpu-check and benchmarks/gpu_bench.py: what survives a timeout, a hang, a crash or an interruption.

All on the CPU. ci/gpu-check runs in this process (its ROOT pointed at a small fake project under
tmp_path: a tests/ folder, a fake benchmarks/gpu_bench.py), so the two pytest runs, the time limits
and the report written in ``finally`` are checked without a GPU and in seconds. ci/gpu-check itself
deselects this file (its name starts with test_cuda_gpu_check) when it runs the suite.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _scripts import load_script

pytestmark = pytest.mark.script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "gpu-check"
FAST_INFO = (
    "import json\n"
    "print('GPUCHECK-INFO ' + json.dumps({'device': {'available': False, 'reason': 'fake probe'}, 'torch': None}))\n"
)


@pytest.fixture
def gc(monkeypatch):
    module = load_script("gpu_check_under_test", SCRIPT)
    monkeypatch.setattr(module, "INFO_SNIPPET", FAST_INFO)
    monkeypatch.delenv("OUT", raising=False)
    return module


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


CONFTEST = """
    import pytest

    def pytest_configure(config):
        config.addinivalue_line("markers", "cuda: needs a GPU")
        config.addinivalue_line("markers", "slow: slow")

    @pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
    def device(request):
        return request.param
"""

FAKE_BENCH_OK = """
    import json, sys
    out = sys.argv[sys.argv.index("--json") + 1]
    budget = float(sys.argv[sys.argv.index("--budget") + 1])
    res = {"budget_arg": budget, "errors": {}, "targets": [],
           "matmul": {"cases": {"numpy": {"median_s": 0.002, "tflops": 1.5}}, "errors": {}}}
    open(out, "w").write(json.dumps(res))
"""


def _fake_project(root: Path) -> None:
    _write(root, {
        "tests/conftest.py": CONFTEST,
        "tests/cuda/test_gpu_things.py": """
            def test_a(): pass
            def test_b(): assert 1 == 2, "b is broken"
        """,
        "tests/kernels/test_k.py": "def test_k(): pass\n",
        "tests/cuda/test_cuda_gpu_check_nested.py": """
            def test_nested(): assert False, "a nested gpu-check test must be deselected"
        """,
        "tests/test_plain.py": """
            import pytest

            def test_plain(): pass

            @pytest.mark.cuda
            def test_marked(): pass

            @pytest.mark.slow
            def test_slow(): assert False, "a slow test must be deselected"

            def test_on(device): pass
        """,
        "benchmarks/gpu_bench.py": FAKE_BENCH_OK,
    })  # fmt: skip


# ------------------------------------------------------------------ time limits
def test_stop_times_add_up_to_the_limit(gc):
    for limit in (1.0, 3.0, 8.0, 60.0, 300.0):
        soft, grace, kill_wait = gc.stop_times(limit)
        assert soft > 0 and grace > 0 and kill_wait > 0
        assert soft + grace + kill_wait == pytest.approx(limit)
    assert gc.stop_times(300.0) == (275.0, 20.0, 5.0)


def test_the_worst_case_fits_eight_minutes(gc):
    # every step ends by t0 + budget - REPORT_RESERVE_S; the rest is the interpreter's start (< 1 s)
    assert gc.DEFAULT_BUDGET_S + 1.0 <= 480 - 20
    assert gc.parse_args(["x"]).budget == gc.DEFAULT_BUDGET_S
    assert gc.INFO_TIMEOUT_S + gc.BENCH_RESERVE_S + 2 * gc.MIN_STEP_S < gc.DEFAULT_BUDGET_S - gc.REPORT_RESERVE_S


def test_run_timeboxed_keeps_its_limit_when_sigint_is_ignored(gc, tmp_path):
    cmd = [sys.executable, "-c",
           "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('up', flush=True); "
           "time.sleep(60)"]  # fmt: skip
    start = time.monotonic()
    code, timed_out, seconds = gc.run_timeboxed(cmd, {"PATH": "/usr/bin:/bin"}, 3.0, tmp_path / "log")
    wall = time.monotonic() - start
    assert timed_out and code == -9  # SIGINT ignored: killed
    assert wall <= 3.0 + 2 and seconds <= 3.0 + 2  # slack for a loaded 2-core CI machine
    assert "up" in (tmp_path / "log").read_text()


def test_run_timeboxed_interrupts_first(gc, tmp_path):
    code = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('stopped cleanly')\n"
    cmd = [sys.executable, "-c", code]
    code, timed_out, seconds = gc.run_timeboxed(cmd, {"PATH": "/usr/bin:/bin"}, 4.0, tmp_path / "log")
    soft, _, _ = gc.stop_times(4.0)
    assert timed_out and code == 0 and soft <= seconds < 4.0
    assert "stopped cleanly" in (tmp_path / "log").read_text()


def test_run_timeboxed_many_shares_one_limit(gc, tmp_path):
    quick = [sys.executable, "-c", "print('done')"]
    deaf = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                                  "print('up', flush=True); time.sleep(60)"]  # fmt: skip
    polite = [sys.executable, "-c",
              "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('bye')"]
    env = {"PATH": "/usr/bin:/bin"}
    start = time.monotonic()
    jobs = [(c, env, tmp_path / f"log{i}") for i, c in enumerate((quick, deaf, polite, deaf, deaf))]
    results = gc.run_timeboxed_many(jobs, 4.0)
    assert time.monotonic() - start <= 4.0 + 2  # one grace for all the deaf ones; slack for a loaded 2-core CI
    (c0, t0, _), (c1, t1, _), (c2, t2, _) = results[:3]
    assert (c0, t0) == (0, False) and (c1, t1) == (-9, True) and (c2, t2) == (0, True)
    assert [r[:2] for r in results[3:]] == [(-9, True), (-9, True)]
    assert [(tmp_path / f"log{i}").read_text().strip() for i in range(3)] == ["done", "up", "bye"]


def test_test_runs_split_over_several_processes(gc, tmp_path, monkeypatch):
    """--test-workers 3: every selected test runs in exactly one of the three processes; the report adds them up."""
    root = tmp_path / "root"
    _fake_project(root)
    monkeypatch.setattr(gc, "ROOT", root)
    code = gc.main([str(tmp_path / "out"), "--cpu", "--skip-bench", "--test-workers", "3"])
    assert code == 1  # test_b fails
    out = tmp_path / "out"
    t = json.loads((out / "gpu-check.json").read_text())["tests"]
    assert (t["passed"], t["failed"], t["total"], t["cuda_ran"]) == (6, 1, 7, 2)
    runs = {r["name"]: r for r in t["runs"]}
    assert runs["cuda"]["workers"] == 3 and runs["cuda"]["selected"] == 5 and runs["rest"]["selected"] == 2
    seen = []
    for name in ("cuda", "rest"):
        for shard in range(3):
            seen += json.loads((out / f"pytest-outcomes-{name}-{shard}.json").read_text())["records"]
    assert len(seen) == len(set(seen)) == 7
    assert "in 3 processes" in (out / "gpu-check.md").read_text()
    assert gc.parse_args(["x", "--cpu"]).test_workers == 1 and gc.parse_args(["x"]).test_workers >= 1


def test_the_whole_check_keeps_its_budget_when_every_step_hangs(gc, tmp_path, monkeypatch):
    # the info probe hangs (as CUDA initialisation can), the tests and the benchmark ignore SIGINT,
    # and the benchmark leaves a half-written bench.json: the report still comes, within the budget
    root = tmp_path / "root"
    hang = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    _write(root, {
        "tests/test_hang.py": "import signal, time\n\ndef test_ok(): pass\n\ndef test_hang():\n"
                              "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    time.sleep(100)\n",
        "benchmarks/gpu_bench.py": hang + "import sys\n"
                                   "open(sys.argv[sys.argv.index('--json') + 1], 'w').write('{\"matmul\": {\"ca')\n"
                                   "time.sleep(100)\n",
    })  # fmt: skip
    for name, value in {"ROOT": root, "INFO_SNIPPET": hang + "time.sleep(100)\n", "MIN_BUDGET_S": 5.0,
                        "INFO_TIMEOUT_S": 2.0, "REPORT_RESERVE_S": 1.0, "BENCH_RESERVE_S": 6.0, "BENCH_TAIL_S": 1.0,
                        "MIN_STEP_S": 1.0, "SECOND_RUN_MIN_S": 2.0}.items():  # fmt: skip
        monkeypatch.setattr(gc, name, value)
    monkeypatch.setenv("GPUCHECK_FLUSH_S", "0.5")  # the plugin's outcomes reach the disk before the SIGKILL
    budget = 16.0
    start = time.monotonic()
    code = gc.main([str(tmp_path / "out"), "--cpu", "--budget", str(budget)])
    wall = time.monotonic() - start
    assert wall <= budget + 2, wall  # slack for a loaded 2-core CI machine
    assert code == 1
    report = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    assert "the info probe timed out" in report["environment"]["device"]["reason"]
    t = report["tests"]
    assert t["ran"] and t["timed_out"] and not t["ok"]
    assert t["passed"] == 1 and t["incomplete"] == 1  # test_ok, then test_hang: killed (SIGINT ignored)
    assert t["runs"][-1]["killed_during"] == "tests/test_hang.py::test_hang"
    b = report["benchmarks"]
    assert b["ran"] and b["timed_out"] and "bench.json unreadable" in b["reason"] and not b["ok"]
    assert report["elapsed_s"] <= budget
    md = (tmp_path / "out" / "gpu-check.md").read_text()
    assert "TIMED OUT" in md and "bench.json unreadable" in md


# ------------------------------------------------------------------ two test runs
def test_two_runs_cuda_first_nested_and_slow_deselected(gc, tmp_path, monkeypatch):
    root = tmp_path / "root"
    _fake_project(root)
    monkeypatch.setattr(gc, "ROOT", root)
    code = gc.main([str(tmp_path / "out"), "--cpu"])
    assert code == 1  # test_b fails
    out = tmp_path / "out"
    report = json.loads((out / "gpu-check.json").read_text())
    t = report["tests"]
    assert [r["name"] for r in t["runs"]] == ["cuda", "rest"]
    first, rest = (json.loads((out / f"pytest-outcomes-{n}.json").read_text())["records"] for n in ("cuda", "rest"))
    assert set(first) == {
        "tests/cuda/test_gpu_things.py::test_a", "tests/cuda/test_gpu_things.py::test_b",
        "tests/kernels/test_k.py::test_k", "tests/test_plain.py::test_marked", "tests/test_plain.py::test_on[cuda]",
    }  # fmt: skip
    assert set(rest) == {"tests/test_plain.py::test_plain", "tests/test_plain.py::test_on[cpu]"}
    assert first["tests/test_plain.py::test_on[cuda]"]["cuda"] is True
    assert (t["passed"], t["failed"], t["errors"], t["total"], t["cuda_ran"]) == (6, 1, 0, 7, 2)
    assert t["failures"] == [{"test": "tests/cuda/test_gpu_things.py::test_b", "outcome": "failed",
                              "message": "AssertionError: b is broken / assert 1 == 2", "run": "cuda"}]  # fmt: skip
    runs = {r["name"]: r for r in t["runs"]}
    assert runs["cuda"]["deselected_nested_or_slow"] == 2 and runs["rest"]["deselected_nested_or_slow"] == 2
    assert runs["cuda"]["failed"] == 1 and not runs["cuda"]["ok"] and runs["rest"]["ok"]
    b = report["benchmarks"]
    assert b["ok"] and b["results"]["budget_arg"] > 0
    md = (out / "gpu-check.md").read_text()
    assert "- run cuda (cuda-marked tests, tests/cuda, tests/kernels): FAILED" in md
    assert "- run rest (the rest of the suite): passed" in md
    assert "- failed [cuda]: tests/cuda/test_gpu_things.py::test_b: AssertionError: b is broken" in md
    assert "| matmul" in md


def _fake_runs(gc, monkeypatch, second):
    """run_timeboxed replaced: the probe answers at once, the first pytest run leaves its records,
    the second does ``second(env)``."""
    calls = []

    def fake(cmd, env, limit, log, grace=20.0, kill_wait=5.0):
        if cmd[1] == "-c":
            Path(log).write_text("GPUCHECK-INFO " + json.dumps({"device": {"available": False, "reason": "fake"}}))
            return 0, False, 0.1
        calls.append(env["GPUCHECK_SELECT"])
        Path(log).write_text("== 1 failed, 1 passed in 1.00s ==\n")
        if len(calls) == 1:
            records = {"tests/cuda/test_x.py::test_ok": {"outcome": "passed", "cuda": True},
                       "tests/cuda/test_x.py::test_bad": {"outcome": "failed", "cuda": True,
                                                          "message": "E   AssertionError: bad"}}  # fmt: skip
            Path(env["GPUCHECK_RESULTS"]).write_text(json.dumps({"records": records, "complete": True}))
            return 1, False, 1.0
        return second(env)

    monkeypatch.setattr(gc, "run_timeboxed", fake)
    return calls


def test_a_killed_second_run_keeps_the_first_runs_results(gc, tmp_path, monkeypatch):
    def second(env):  # killed mid-write: half a records file, half a junit file
        Path(env["GPUCHECK_RESULTS"]).write_text('{"records": {"tests/test_y.py::test_')
        junit = Path(env["GPUCHECK_RESULTS"]).parent / "junit-rest.xml"
        junit.write_text("<testsuites><testsuite><testcase classname='a' name='b'>")
        return -9, True, 50.0

    calls = _fake_runs(gc, monkeypatch, second)
    code = gc.main([str(tmp_path), "--cpu", "--skip-bench"])
    assert calls == ["first", "rest"] and code == 1
    t = json.loads((tmp_path / "gpu-check.json").read_text())["tests"]
    runs = {r["name"]: r for r in t["runs"]}
    assert runs["cuda"]["passed"] == 1 and runs["cuda"]["failed"] == 1
    assert runs["rest"]["timed_out"] and runs["rest"]["total"] == 0
    notes = " ".join(runs["rest"]["notes"])
    assert "pytest-outcomes-rest.json unreadable" in notes and "junit-rest.xml unreadable" in notes
    assert t["timed_out"] and t["failures"][0]["test"] == "tests/cuda/test_x.py::test_bad"
    assert t["failures"][0]["run"] == "cuda" and t["failures"][0]["message"] == "AssertionError: bad"


def test_an_interruption_still_writes_the_report(gc, tmp_path, monkeypatch):
    def second(env):
        raise KeyboardInterrupt("SIGTERM")

    _fake_runs(gc, monkeypatch, second)
    code = gc.main([str(tmp_path), "--cpu"])
    assert code == 130
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["interrupted"].startswith("SIGTERM")
    t = report["tests"]
    assert t["runs"][0]["failed"] == 1 and t["failures"][0]["test"] == "tests/cuda/test_x.py::test_bad"
    assert report["benchmarks"] == {"ran": False, "reason": "not reached"}
    assert "INTERRUPTED: SIGTERM" in (tmp_path / "gpu-check.md").read_text()
    assert list((tmp_path / "results").glob("cpu_*.json"))


def test_a_failing_step_is_reported_and_the_others_still_run(gc, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the test step broke")

    ran = []
    monkeypatch.setattr(gc, "run_tests", broken)
    monkeypatch.setattr(gc, "run_bench", lambda *a, **k: ran.append("bench"))
    code = gc.main([str(tmp_path), "--cpu"])
    assert code == 1 and ran == ["bench"]
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["errors"] == {"tests": "RuntimeError: the test step broke"}
    assert "step tests FAILED: RuntimeError: the test step broke" in (tmp_path / "gpu-check.md").read_text()


def test_read_outcomes_falls_back_and_never_raises(gc, tmp_path):
    records, junit = tmp_path / "r.json", tmp_path / "j.xml"
    recs, meta = gc.read_outcomes(records, junit)
    assert recs == {} and meta["source"] is None and len(meta["notes"]) == 2
    junit.write_text(
        '<testsuites><testsuite><testcase classname="tests.t" name="test_a[cuda]"/>'
        '<testcase classname="tests.t" name="test_b"><failure message="boom"/></testcase></testsuite></testsuites>'
    )
    records.write_text('{"records": {"x": ')
    recs, meta = gc.read_outcomes(records, junit)
    assert meta["source"] == "junit" and "r.json unreadable" in meta["notes"][0]
    counts = gc.summarize_outcomes(recs)
    assert (counts["passed"], counts["failed"], counts["cuda_ran"]) == (1, 1, 1)
    records.write_text(json.dumps({"records": {"x": {"outcome": "passed"}}, "complete": False}))
    recs, meta = gc.read_outcomes(records, junit)
    assert recs == {"x": {"outcome": "passed"}} and meta["source"].startswith("plugin (partial")


# ------------------------------------------------------------------ the benchmark
@pytest.fixture
def gb(monkeypatch):
    module = load_script("gpu_bench_under_test", ROOT / "benchmarks" / "gpu_bench.py")

    class FakeEnv:
        def __init__(self, cpu):
            self.cpu, self.device = cpu, "cpu"

        def info(self):
            return {"device": "cpu"}

    monkeypatch.setattr(module, "Env", FakeEnv)
    monkeypatch.setattr(module, "machine_info", lambda: {})
    return module


def _figures(median: float) -> dict:
    return {"cases": {"gradkit eager": {"median_s": median, "q1_s": median, "q3_s": median}}, "errors": {}}


def test_bench_keeps_finished_workloads_when_interrupted(gb, tmp_path):
    out = tmp_path / "bench.json"
    seen = []

    def workload(w, env, sz, rounds, quick, deadline):
        if w == "mlp_small":
            seen.append(json.loads(out.read_text()))  # matmul is already on disk
            raise KeyboardInterrupt
        return _figures(0.001)

    gb.run_workload = workload
    code = gb.main(["--json", str(out), "--cpu", "-w", "matmul,mlp_small,mlp_large"])
    assert code == 1
    assert "matmul" in seen[0] and seen[0]["complete"] is False
    res = json.loads(out.read_text())
    assert res["matmul"]["cases"]["gradkit eager"]["median_s"] == 0.001 and "mlp_small" not in res
    assert res["interrupted"] == {"during": "mlp_small", "not_finished": ["mlp_small", "mlp_large"]}
    assert "interrupted" in res["errors"]["mlp_small"] and "not run" in res["errors"]["mlp_large"]
    assert res["complete"] is False and "targets" in res
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temporary file left behind


def test_bench_results_survive_failing_targets_and_memory_stats(gb, tmp_path, monkeypatch):
    out = tmp_path / "bench.json"
    gb.run_workload = lambda w, *a: _figures(0.002)

    def broken(*args, **kwargs):
        raise RuntimeError("no device")

    monkeypatch.setattr(gb, "targets", broken)
    monkeypatch.setattr(gb.gk.cuda, "memory_stats", broken)
    assert gb.main(["--json", str(out), "--cpu", "-w", "matmul"]) == 0
    res = json.loads(out.read_text())
    assert res["matmul"]["cases"]["gradkit eager"]["median_s"] == 0.002 and res["complete"] is True
    assert res["targets"] == [] and "no device" in res["targets_error"] and "no device" in res["memory"]["error"]


def test_bench_skips_a_workload_it_has_no_time_to_start(gb, tmp_path):
    out = tmp_path / "bench.json"
    gb.run_workload = lambda w, *a: _figures(0.002)
    gb.MIN_START_S = {**gb.MIN_START_S, "mnist_epoch": 1e6}
    assert gb.main(["--json", str(out), "--cpu", "-w", "matmul,mnist_epoch"]) == 1
    res = json.loads(out.read_text())
    assert "matmul" in res and "mnist_epoch" not in res and res["errors"]["mnist_epoch"].startswith("skipped")


def test_timed_rounds_stops_reruns_and_rounds_near_the_deadline(gb, monkeypatch):
    def disturbed_chunk(fn, inner, sync):  # every chunk looks disturbed: the reruns would never end
        time.sleep(0.02)
        return 0.02, 1.0

    monkeypatch.setattr(gb, "_time_chunk", disturbed_chunk)
    cases = {"a": lambda: None, "b": lambda: None}
    start = time.perf_counter()
    # so many reruns allowed that only the deadline can end them
    stats, note = gb.timed_rounds(cases, rounds=1000, chunk_s=0.0, warmup=1, retries=1000, settle_s=0.0,
                                  deadline=start + 0.5)  # fmt: skip
    # Without the deadline this would run for minutes; the slack allows a gc.collect in a big test process.
    assert time.perf_counter() - start < 0.5 + 5
    assert note["cut_short"] and note["rounds_done"] < 1000 and note["reruns_skipped"] >= 1
    # (whether "a" was rerun before the deadline came near depends on the machine's load: not asserted)
    assert "a" in stats and stats["a"].samples and stats["a"].contended >= 1
    stats, note = gb.timed_rounds(cases, rounds=2, chunk_s=0.0, warmup=1, retries=2, settle_s=0.0)
    assert not note["cut_short"] and note["rounds_done"] == 2 and stats["a"].disturbed == 4  # no deadline: reruns
    with pytest.raises(gb.OutOfTime):
        gb.timed_rounds(cases, rounds=2, chunk_s=0.0, deadline=time.perf_counter() - 1)
