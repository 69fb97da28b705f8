"""gradkit-train's edge cases: --epochs 0, a resume with nothing left to train, safetensors missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradkit as gk

pytest.importorskip("safetensors", reason="the trainer's checkpoints need the optional safetensors package")
T = pytest.importorskip("gradkit.train", reason="gradkit.train needs gk.nn and gk.optim")


def _run(capsys, *argv):
    rc = T.main(["--no-progress", "--backend", "numpy", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def tiny_data(monkeypatch):
    """A 12-sample dataset in place of the digits (no scikit-learn needed, a few milliseconds per epoch)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12)

    def load_data(dataset, data_dir, device):
        return gk.data.DataSplit(gk.tensor(x[:8], device=device), gk.tensor(y[:8], device=device),
                                 gk.tensor(x[8:], device=device), gk.tensor(y[8:], device=device), 3, "tiny")

    monkeypatch.setattr(T, "load_data", load_data)


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_epochs_below_one_is_refused_before_anything_is_written(capsys, tmp_path, tiny_data, epochs):
    ckpt = tmp_path / "c.safetensors"
    rc, out, err = _run(capsys, "--epochs", epochs, "--checkpoint", str(ckpt))
    assert rc == 2 and f"--epochs must be at least 1 (the total number of epochs), got {epochs}" in err
    assert not ckpt.exists() and out == ""


def test_epochs_zero_does_not_overwrite_a_trained_checkpoint(capsys, tmp_path, tiny_data):
    ckpt = tmp_path / "c.safetensors"
    assert _run(capsys, "--epochs", "1", "--hidden", "4", "--checkpoint", str(ckpt))[0] == 0
    before = ckpt.read_bytes()
    rc, _, err = _run(capsys, "--epochs", "0", "--hidden", "4", "--checkpoint", str(ckpt))
    assert rc == 2 and "--epochs must be at least 1" in err
    assert ckpt.read_bytes() == before


@pytest.mark.parametrize("epochs", ["1", "2"])
def test_resume_with_nothing_left_says_so_and_leaves_the_checkpoint(capsys, tmp_path, tiny_data, epochs):
    ckpt = tmp_path / "c.safetensors"
    assert _run(capsys, "--epochs", "2", "--hidden", "4", "--checkpoint", str(ckpt))[0] == 0
    before, mtime = ckpt.read_bytes(), ckpt.stat().st_mtime_ns
    rc, out, err = _run(capsys, "--epochs", epochs, "--checkpoint", str(ckpt), "--resume")
    assert rc == 0, err
    assert f"nothing to train: the checkpoint has 2 epoch(s) and --epochs is {epochs}" in out
    assert "--epochs 3 or more" in out
    assert "test accuracy" in out and "\nepoch" not in out
    assert ckpt.read_bytes() == before and ckpt.stat().st_mtime_ns == mtime


def test_resume_with_epochs_left_still_trains(capsys, tmp_path, tiny_data):
    ckpt = tmp_path / "c.safetensors"
    assert _run(capsys, "--epochs", "1", "--hidden", "4", "--checkpoint", str(ckpt))[0] == 0
    rc, out, err = _run(capsys, "--epochs", "2", "--checkpoint", str(ckpt), "--resume")
    assert rc == 0, err
    assert "nothing to train" not in out and gk.load(ckpt, device="cpu")["epoch"] == 2


def test_missing_safetensors_is_reported_before_training(capsys, tmp_path, tiny_data, monkeypatch):
    calls = []
    monkeypatch.setattr(T, "load_data", lambda *a: calls.append(a))  # must not be reached
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors -> ImportError
    ckpt = tmp_path / "c.safetensors"
    rc, out, err = _run(capsys, "--epochs", "1", "--checkpoint", str(ckpt))
    assert rc == 2 and not calls and not ckpt.exists()
    assert "safetensors" in err and "python -m pip install safetensors" in err
