"""GRADKIT_BACKEND and the devices, each in a fresh interpreter (the variable is read once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk


def cuda_available() -> bool:
    return gk.cuda_available()

REPORT = """
import json, sys
import gradkit as gk
out = {"cupy_after_import": "cupy" in sys.modules}
try:
    t = gk.zeros(2)
    out["device"] = t.device
    out["default_device"] = gk.default_device()
except gk.GradkitError as exc:
    out["error"] = type(exc).__name__
    out["message"] = str(exc)
    out["is_runtime_error"] = isinstance(exc, RuntimeError)
out["cpu_device"] = gk.zeros(2, device="cpu").device
out["cupy_at_end"] = "cupy" in sys.modules
print(json.dumps(out))
"""

# A stand-in for CuPy that imports but sees no GPU (whatever this machine has).
FAKE_CUPY_NO_GPU = """
class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 0

class cuda:
    runtime = _Runtime()
"""


def run_python(code: str, backend: str | None, prelude: str = "", pythonpath: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "GRADKIT_BACKEND"}
    if backend is not None:
        env["GRADKIT_BACKEND"] = backend
    if pythonpath is not None:  # a stand-in CuPy of the test's own: no emulated one (tests/emulated_cupy)
        env.pop(emulated_cupy.ENV_VAR, None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc


# A child that blocks CuPy (sys.modules['cupy'] = None), uses a stand-in CuPy of the test's own (no emulation) or
# fails on GRADKIT_BACKEND before any CuPy is looked for runs the same on every pass, whatever the pass's backend
# and CuPy emulation: the ``script`` marker has ci/run run it once (in its first pass). The others look for a
# CuPy, which the emulated pass's children find (tests/emulated_cupy/site).
ONCE = pytest.mark.script


def report(backend: str | None, prelude: str = "", pythonpath: str | None = None) -> dict:
    proc = run_python(REPORT, backend, prelude, pythonpath)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("value", [None, "auto", "AUTO", " auto "])
def test_auto_picks_the_gpu_when_there_is_one(value):
    out = report(value)
    expected = "cuda:0" if cuda_available() else "cpu"
    assert out["device"] == expected and out["default_device"] == expected
    assert out["cpu_device"] == "cpu"
    assert not out["cupy_after_import"]


@pytest.mark.parametrize("value", ["numpy", "NumPy"])
def test_numpy_backend_never_imports_cupy(value):
    out = report(value)
    assert out["device"] == "cpu" and out["default_device"] == "cpu"
    assert not out["cupy_after_import"]
    assert not out["cupy_at_end"]


def test_importing_gradkit_does_not_import_cupy():
    # with GRADKIT_BACKEND unset, auto or numpy, the report's cupy_after_import says the same (the tests above)
    proc = run_python("import sys, gradkit\nprint('cupy' in sys.modules)", "cupy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@ONCE
def test_auto_without_cupy_falls_back_to_cpu():
    out = report("auto", prelude="import sys\nsys.modules['cupy'] = None  # CuPy not installed\n")
    assert out["device"] == "cpu"


@ONCE
def test_auto_with_cupy_but_no_gpu_falls_back_to_cpu(tmp_path):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY_NO_GPU)
    out = report("auto", pythonpath=str(tmp_path))
    assert out["device"] == "cpu"


@ONCE
def test_unknown_value_fails_at_import_naming_value_and_choices():
    proc = run_python("import gradkit", "tensorflow")
    assert proc.returncode != 0
    assert "BackendError" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "GRADKIT_BACKEND" in last and "'tensorflow'" in last
    for choice in ("auto", "numpy", "cupy"):
        assert choice in last


@ONCE
def test_unknown_value_error_class():
    code = """
    try:
        import gradkit
    except Exception as exc:
        from gradkit.errors import BackendError, GradkitError
        print(type(exc).__name__, isinstance(exc, GradkitError), isinstance(exc, RuntimeError))
    """
    proc = run_python(code, "gpu2")
    assert proc.stdout.split() == ["BackendError", "True", "True"], proc.stderr


def _assert_cupy_error(out: dict, missing: str) -> None:
    assert out["error"] == "BackendError" and out["is_runtime_error"]
    msg = out["message"]
    assert "GRADKIT_BACKEND" in msg and "cupy" in msg
    assert missing in msg
    for choice in ("auto", "numpy"):
        assert choice in msg
    # the CPU stays usable when asked for explicitly
    assert out["cpu_device"] == "cpu"


@ONCE
def test_cupy_without_cupy_installed_says_cupy_is_missing():
    out = report("cupy", prelude="import sys\nsys.modules['cupy'] = None  # CuPy not installed\n")
    _assert_cupy_error(out, "CuPy")
    assert "install" in out["message"]


@ONCE
def test_cupy_without_a_gpu_says_the_gpu_is_missing(tmp_path):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY_NO_GPU)
    out = report("cupy", pythonpath=str(tmp_path))
    _assert_cupy_error(out, "GPU")


def test_cupy_backend_on_this_machine():
    """GRADKIT_BACKEND=cupy: the GPU where there is one, else a BackendError saying what is missing."""
    out = report("cupy")
    if cuda_available():
        assert out["device"] == "cuda:0" and out["default_device"] == "cuda:0"
    else:
        assert out["error"] == "BackendError"
        assert "CuPy" in out["message"] or "GPU" in out["message"]
    assert out["cpu_device"] == "cpu"


# ------------------------------------------------------------------ in process
def test_device_context_and_names(device):
    with gk.device(device) as name:
        assert name.split(":")[0] == device
        assert gk.zeros(2).device == name
        assert gk.default_device() == name
        with gk.device("cpu"):
            assert gk.ones(1).device == "cpu"
        assert gk.tensor([1.0]).device == name
    for alias in ("cpu", "CPU", "numpy"):
        assert gk.zeros(1, device=alias).device == "cpu"


def test_unknown_device_names_the_value():
    for bad in ("tpu", "cuda:x", 3):
        with pytest.raises(gk.DeviceError) as info:
            gk.zeros(2, device=bad)
        assert repr(bad) in str(info.value) and "cpu" in str(info.value)


def test_cuda_device_follows_availability():
    """Asking for "cuda" works where gk.cuda_available() says so, and is a BackendError elsewhere."""
    if cuda_available():
        assert gk.zeros(2, device="cuda").device == "cuda:0"
        with gk.device("cuda"):
            assert gk.ones(1).device == "cuda:0"
        assert gk.zeros(2).cuda().device == "cuda:0"
        return
    with pytest.raises(gk.BackendError):
        gk.zeros(2, device="cuda")
    with pytest.raises(gk.BackendError):
        with gk.device("cuda"):
            pass
    with pytest.raises(gk.BackendError):
        gk.zeros(2).cuda()


@pytest.mark.cuda
def test_cuda_device_index_out_of_range():
    with pytest.raises(gk.BackendError, match="cuda:99"):
        gk.zeros(2, device="cuda:99")


def test_manual_seed_reproduces_random_tensors(device):
    gk.manual_seed(123)
    a = [gk.rand(3, device=device).numpy(), gk.randn(2, 2, device=device).numpy(),
         gk.randint(0, 10, (5,), device=device).numpy()]
    gk.manual_seed(123)
    b = [gk.rand(3, device=device).numpy(), gk.randn(2, 2, device=device).numpy(),
         gk.randint(0, 10, (5,), device=device).numpy()]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    gk.manual_seed(124)
    assert not np.array_equal(gk.rand(3, device=device).numpy(), a[0])
    with pytest.raises(gk.InvalidArgumentError, match="manual_seed"):
        gk.manual_seed(-1)
