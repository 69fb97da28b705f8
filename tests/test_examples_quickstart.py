"""examples/quickstart.py trains, evaluates and round-trips its model; the examples run from a checkout."""

from __future__ import annotations

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


def _without_install(*modules: str) -> tuple[list[str], dict[str, str]]:
    """A Python command line and environment in which gradkit is not installed (``-S``: no site-packages)
    and only ``modules`` can be imported, as on a fresh checkout with its dependencies installed."""
    env = {**os.environ, "GRADKIT_BACKEND": "numpy"}
    env.pop("GRADKIT_TEST_EMULATED_CUPY", None)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_site_dir(m) for m in modules))
    return [sys.executable, "-S"], env


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


def test_quickstart_in_process(tmp_path, capsys):
    pytest.importorskip("safetensors", reason="the quickstart saves its model with gk.save (safetensors)")
    spec = importlib.util.spec_from_file_location("quickstart", EXAMPLES / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accuracy = module.main(["--epochs", "2", "--out", str(tmp_path / "q.safetensors")])
    assert accuracy >= 0.85 and "same outputs: True" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["train_mlp.py", "backprop_table.py", "physics_informed.py", "custom_function.py"])
def test_every_example_starts_from_a_checkout(script, tmp_path):
    command, env = _without_install("numpy")
    args = [] if script == "custom_function.py" else ["--help"]  # it takes no options (and runs in a second)
    proc = subprocess.run([*command, str(EXAMPLES / script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ModuleNotFoundError" not in proc.stderr and proc.stdout
