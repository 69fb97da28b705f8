"""examples/quickstart.py trains, evaluates and round-trips its model; the examples run from a checkout; the CNN,
recurrent, Transformer and Gaussian-process examples reach their results with small settings."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _site_dir(module: str) -> str:
    """The folder a top-level module is imported from (its package's parent)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).resolve().parents[1 if spec.submodule_search_locations else 0])


# The subprocess tests below start Python with GRADKIT_BACKEND=numpy, without the CuPy emulation and with a
# PYTHONPATH of their own: the same run whatever the pass's backend, so the ``script`` marker has ci/run run
# them once (in its first pass).
ONCE = pytest.mark.script


def _without_install(*modules: str) -> tuple[list[str], dict[str, str]]:
    """A Python command line and environment in which gradkit is not installed (``-S``: no site-packages)
    and only ``modules`` can be imported, as on a fresh checkout with its dependencies installed."""
    env = {**os.environ, "GRADKIT_BACKEND": "numpy"}
    env.pop("GRADKIT_TEST_EMULATED_CUPY", None)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_site_dir(m) for m in modules))
    return [sys.executable, "-S"], env


@ONCE
def test_quickstart_trains_and_reloads(tmp_path):
    pytest.importorskip("safetensors", reason="the quickstart saves its model with gk.save (safetensors)")
    command, env = _without_install("numpy", "safetensors")
    out = tmp_path / "q.safetensors"
    proc = subprocess.run([*command, str(EXAMPLES / "quickstart.py"), "--epochs", "3", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"^epoch \d+: last batch loss [\d.]+$", proc.stdout, flags=re.M)) == 3
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", proc.stdout).group(1))
    assert accuracy >= 90.0
    assert "same outputs: True" in proc.stdout and out.exists()


def _example(name: str):
    """The module examples/<name>.py, imported from its file."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_in_process(tmp_path, capsys):
    pytest.importorskip("safetensors", reason="the quickstart saves its model with gk.save (safetensors)")
    accuracy = _example("quickstart").main(["--epochs", "2", "--out", str(tmp_path / "q.safetensors")])
    assert accuracy >= 0.85 and "same outputs: True" in capsys.readouterr().out


@ONCE
@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_starts_from_a_checkout(script, tmp_path):
    command, env = _without_install("numpy")
    args = [] if script == "custom_function.py" else ["--help"]  # it takes no options (and runs in a second)
    proc = subprocess.run([*command, str(EXAMPLES / script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ModuleNotFoundError" not in proc.stderr and proc.stdout


def _one_blas_thread():
    """One BLAS thread where threadpoolctl is installed: the CNN's matrices are small, and a second thread
    spinning on a core that other work keeps busy made this test several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@pytest.mark.parametrize("data", ["digits", "synthetic"])
def test_cnn_digits_learns(data, device, capsys):
    if data == "digits":
        pytest.importorskip("sklearn", reason="scikit-learn's digits need scikit-learn")
    with _one_blas_thread():
        accuracy = _example("cnn_digits").main(["--epochs", "4", "--data", data, "--device", device])
    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"^epoch \d+: mean training loss ([\d.]+)$", out, flags=re.M)]
    assert len(losses) == 4 and losses[-1] < losses[0] / 3
    assert accuracy >= 0.8 and f"test accuracy: {100 * accuracy:.1f}%" in out


@pytest.mark.parametrize(("cell", "length", "steps"), [("lstm", 6, 300), ("gru", 8, 200)])
def test_lstm_sequence_beats_the_baseline(cell, length, steps, device):
    losses, error, baseline = _example("lstm_sequence").train(cell, steps=steps, length=length, device=device)
    assert 0.12 < baseline < 0.22  # the variance of a sum of two uniform values: 1/6
    assert error < baseline / 3 and losses[-1] < losses[0]


def test_transformer_sort_beats_the_baseline(device):
    with _one_blas_thread():
        losses, accuracy, baseline = _example("transformer_sort").train(length=5, steps=150, device=device)
    assert baseline < 0.06  # a list of 5 digits comes already sorted with probability C(14, 5) / 10**5 = 0.02
    assert accuracy > 0.8 and losses[-1] < losses[0] / 10


def test_gaussian_process_fits_its_hyperparameters(device, capsys):
    r = _example("gaussian_process").main(["--train", "40", "--check", "--device", device])
    assert "gradcheck of the NLL's gradient: passed" in capsys.readouterr().out
    assert r["nll"] < r["nll_start"] - 10 and r["evaluations"] > 3
    assert 0.05 < r["noise variance"] ** 0.5 < 0.2  # the data's noise: 0.1
    assert 0.2 < r["lengthscale"] < 1.0
    assert r["rmse"] < min(r["rmse_start"], r["baseline"] / 4) and r["rmse_truth"] < 0.1
