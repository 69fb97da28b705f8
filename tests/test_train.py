"""gradkit-train (gradkit/train.py): accuracy on digits, checkpoints, resume, Ctrl-C, errors."""

from __future__ import annotations

import gzip
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk

pytest.importorskip("safetensors", reason="the trainer's checkpoints need the optional safetensors package")
T = pytest.importorskip("gradkit.train", reason="gradkit.train needs gk.nn and gk.optim")

ROOT = Path(__file__).resolve().parents[1]
try:
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False
needs_sklearn = pytest.mark.skipif(
    not HAVE_SKLEARN,
    reason="scikit-learn is not installed (the digits come with it: python -m pip install -e '.[dev]')",
)
# The subprocesses run with ENV: GRADKIT_BACKEND=numpy, and a PYTHONPATH without the CuPy emulation's site folder
# (tests/emulated_cupy): the same run whatever the pass's backend, so the ``script`` marker has ci/run run them
# once (in its first pass).
ENV = {**os.environ, "GRADKIT_BACKEND": "numpy", "PYTHONPATH": str(ROOT)}
ONCE = pytest.mark.script


def _run(capsys, *argv):
    rc = T.main(["--no-progress", "--backend", "numpy", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _accuracy(out: str) -> float:
    match = re.search(r"test accuracy: ([\d.]+)%", out)
    assert match, out
    return float(match.group(1))


def _weights(path) -> dict:
    return {k: v.numpy() for k, v in gk.load(path, device="cpu")["model"].items()}


# -------------------------------------------------------------- training
@needs_sklearn
def test_digits_reaches_95_percent(capsys, tmp_path):
    ckpt = tmp_path / "run.safetensors"
    start = time.perf_counter()
    rc, out, err = _run(capsys, "--epochs", "8", "--checkpoint", str(ckpt))
    elapsed = time.perf_counter() - start
    assert rc == 0, err
    assert _accuracy(out) >= 95.0
    assert elapsed < 60  # ~2 s on an idle 2-core CPU; generous for loaded CI machines
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 8
    assert re.search(r"epoch\s+8/8\s+train loss [\d.]+\s+test acc\s+[\d.]+%\s+[\d,]+ samples/s\s+cpu", lines[-1])
    assert f"checkpoint: {ckpt}" in out

    state = gk.load(ckpt, device="cpu")
    assert state["format"] == T.CHECKPOINT_FORMAT
    assert state["epoch"] == 8 and state["step"] == 0
    assert state["settings"]["hidden"] == "256,128" and state["settings"]["optimizer"] == "adam"
    assert set(state["model"]) == {"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"}
    assert state["model"]["0.weight"].shape == (256, 64)
    assert state["normalize"]["mean"].shape == (64,)
    assert len(state["history"]["test_acc"]) == 8
    assert state["optimizer"]["state"]  # Adam moments are in the checkpoint
    if T.available("matplotlib"):
        png = ckpt.with_suffix(".png")
        assert f"curves: {png}" in out
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_sklearn
@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rmsprop"])
def test_every_optimizer_learns(capsys, tmp_path, optimizer):
    rc, out, err = _run(capsys, "--epochs", "3", "--hidden", "64", "--optimizer", optimizer,
                        "--checkpoint", str(tmp_path / "c.safetensors"))
    assert rc == 0, err
    assert _accuracy(out) >= 85.0


@needs_sklearn
def test_training_is_deterministic(capsys, tmp_path):
    args = ["--epochs", "2", "--hidden", "32", "--seed", "3"]
    assert _run(capsys, *args, "--checkpoint", str(tmp_path / "a.safetensors"))[0] == 0
    assert _run(capsys, *args, "--checkpoint", str(tmp_path / "b.safetensors"))[0] == 0
    a, b = _weights(tmp_path / "a.safetensors"), _weights(tmp_path / "b.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- resume
@needs_sklearn
def test_resume_continues(capsys, tmp_path):
    ckpt = str(tmp_path / "c.safetensors")
    assert _run(capsys, "--epochs", "2", "--hidden", "32", "--checkpoint", ckpt)[0] == 0
    rc, out, err = _run(capsys, "--epochs", "4", "--checkpoint", ckpt, "--resume")
    assert rc == 0, err
    assert "resuming from" in out and "2 epoch(s) done" in out
    epochs = re.findall(r"^epoch\s+(\d+)/4", out, flags=re.M)
    assert epochs == ["3", "4"]
    state = gk.load(ckpt, device="cpu")
    assert state["epoch"] == 4 and len(state["history"]["train_loss"]) == 4
    assert state["settings"]["hidden"] == "32"  # taken from the checkpoint


@needs_sklearn
def test_resume_when_already_done_just_reports(capsys, tmp_path):
    ckpt = str(tmp_path / "c.safetensors")
    assert _run(capsys, "--epochs", "1", "--hidden", "16", "--checkpoint", ckpt)[0] == 0
    before = _weights(ckpt)
    rc, out, _ = _run(capsys, "--epochs", "1", "--checkpoint", ckpt, "--resume")
    assert rc == 0 and "test accuracy" in out and not re.search(r"^epoch", out, flags=re.M)
    after = _weights(ckpt)
    assert all(np.array_equal(before[k], after[k]) for k in before)


class _InterruptAt:
    """Stands in for gradkit.nn.functional inside the trainer and delivers SIGINT at the n-th loss."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def cross_entropy(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does: handled by the trainer, not raised
        return gk.nn.functional.cross_entropy(*args, **kwargs)


@needs_sklearn
def test_ctrl_c_saves_and_resume_matches_an_uninterrupted_run(capsys, tmp_path, monkeypatch):
    args = ["--epochs", "3", "--hidden", "32", "--batch-size", "64"]  # 23 batches per epoch
    full = str(tmp_path / "full.safetensors")
    assert _run(capsys, *args, "--checkpoint", full)[0] == 0
    _, full_out, _ = _run(capsys, *args, "--checkpoint", full, "--resume")

    part = str(tmp_path / "part.safetensors")
    monkeypatch.setattr(T, "F", _InterruptAt(23 + 10))  # in epoch 2, batch 10
    rc, out, err = _run(capsys, *args, "--checkpoint", part)
    assert rc == T.EXIT_INTERRUPTED
    assert "Ctrl-C" in err and "checkpoint saved to" in out and "--resume" in out
    state = gk.load(part, device="cpu")
    assert state["epoch"] == 1 and state["step"] == 10  # the batch in flight was finished, then it stopped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back

    monkeypatch.undo()
    rc, out, err = _run(capsys, *args, "--checkpoint", part, "--resume")
    assert rc == 0, err
    assert "resuming from" in out and "(batch 10 of it)" in out
    a, b = _weights(full), _weights(part)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # bit for bit the same run
    assert gk.load(full)["history"]["train_loss"] == gk.load(part)["history"]["train_loss"]
    assert _accuracy(out) == _accuracy(full_out)


@needs_sklearn
def test_keyboard_interrupt_raised_anywhere_still_saves(capsys, tmp_path, monkeypatch):
    class Raising(_InterruptAt):
        def cross_entropy(self, *args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
            return gk.nn.functional.cross_entropy(*args, **kwargs)

    ckpt = str(tmp_path / "c.safetensors")
    monkeypatch.setattr(T, "F", Raising(5))
    rc, out, _ = _run(capsys, "--epochs", "2", "--hidden", "16", "--checkpoint", ckpt)
    assert rc == T.EXIT_INTERRUPTED and "checkpoint saved" in out
    state = gk.load(ckpt, device="cpu")
    assert state["epoch"] == 0 and state["step"] == 4  # four steps were complete
    monkeypatch.undo()
    rc, out, _ = _run(capsys, "--epochs", "2", "--checkpoint", ckpt, "--resume")
    assert rc == 0 and gk.load(ckpt, device="cpu")["epoch"] == 2


@needs_sklearn
@ONCE
def test_real_sigint_in_a_subprocess(tmp_path):
    ckpt = tmp_path / "c.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradkit.train", "--epochs", "1000", "--hidden", "16", "--no-progress",
         "--checkpoint", str(ckpt)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path,
    )
    try:
        for line in proc.stdout:
            if line.startswith("epoch"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == T.EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "checkpoint saved to" in out
    assert gk.load(ckpt, device="cpu")["epoch"] >= 1


# ---------------------------------------------------------------- errors
@needs_sklearn
def test_resume_with_a_conflicting_setting(capsys, tmp_path):
    ckpt = str(tmp_path / "c.safetensors")
    assert _run(capsys, "--epochs", "1", "--hidden", "16", "--checkpoint", ckpt)[0] == 0
    rc, _, err = _run(capsys, "--epochs", "2", "--hidden", "32", "--checkpoint", ckpt, "--resume")
    assert rc == 2 and "--hidden 32 conflicts with the checkpoint" in err


@needs_sklearn
@pytest.mark.parametrize("damage", ["shape", "missing", "truncated", "foreign"])
def test_resume_from_a_bad_checkpoint(capsys, tmp_path, damage):
    ckpt = tmp_path / "c.safetensors"
    assert _run(capsys, "--epochs", "1", "--hidden", "16", "--checkpoint", str(ckpt))[0] == 0
    state = gk.load(ckpt, device="cpu")
    if damage == "shape":
        state["settings"]["hidden"] = "17"  # the tensors are for 16 units
        gk.save(state, ckpt)
    elif damage == "missing":
        del state["model"]["3.bias"]
        gk.save(state, ckpt)
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:-100])
    else:
        gk.save({"weights": gk.ones(3)}, ckpt)
    rc, _, err = _run(capsys, "--epochs", "2", "--checkpoint", str(ckpt), "--resume")
    assert rc == 2
    assert str(ckpt) in err
    expected = {"shape": "size mismatch", "missing": "3.bias", "truncated": "truncated",
                "foreign": "not a gradkit-train checkpoint"}[damage]
    assert expected in err


def test_ctrl_c_before_training_exits_cleanly(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "load_data", interrupted)
    rc, _, err = _run(capsys, "--checkpoint", str(tmp_path / "c.safetensors"))
    assert rc == T.EXIT_INTERRUPTED and "nothing saved" in err
    assert not (tmp_path / "c.safetensors").exists()


def test_resume_without_a_checkpoint(capsys, tmp_path):
    rc, _, err = _run(capsys, "--checkpoint", str(tmp_path / "none.safetensors"), "--resume")
    assert rc == 2 and "no checkpoint at" in err


def test_mnist_needs_data_dir(capsys, tmp_path):
    rc, _, err = _run(capsys, "--dataset", "mnist", "--checkpoint", str(tmp_path / "c.safetensors"))
    assert rc == 2 and "--data-dir" in err


def test_mnist_missing_files(capsys, tmp_path):
    rc, _, err = _run(capsys, "--dataset", "mnist", "--data-dir", str(tmp_path),
                      "--checkpoint", str(tmp_path / "c.safetensors"))
    assert rc == 2 and "train images file is missing" in err


@pytest.mark.parametrize("argv,message", [
    (["--hidden", "12,x"], "--hidden"),
    (["--hidden", "0"], "positive"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--dropout", "1.5"], "--dropout"),
    (["--epochs", "-1"], "--epochs"),
    (["--threads", "-3"], "--threads"),
])
def test_bad_arguments(capsys, tmp_path, argv, message):
    rc, _, err = _run(capsys, *argv, "--checkpoint", str(tmp_path / "c.safetensors"))
    assert rc == 2 and message in err


def test_unwritable_output_paths_are_refused_before_training(capsys, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the data was loaded: the path should have been refused first")

    monkeypatch.setattr(T, "load_data", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc, _, err = _run(capsys, "--checkpoint", str(blocker / "c.safetensors"))
    assert rc == 2 and "is a file, not a folder" in err
    rc, _, err = _run(capsys, "--checkpoint", str(tmp_path))
    assert rc == 2 and "is a folder; give a file name" in err
    rc, _, err = _run(capsys, "--checkpoint", str(tmp_path / "c.safetensors"), "--plot", str(blocker / "x.png"))
    assert rc == 2 and "--plot" in err


@needs_sklearn
def test_ctrl_c_after_training_says_the_checkpoint_is_complete(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "plot_curves", interrupted)
    path = tmp_path / "c.safetensors"
    rc, out, err = _run(capsys, "--epochs", "1", "--checkpoint", str(path))
    assert rc == T.EXIT_INTERRUPTED and "interrupted after training" in out and "nothing saved" not in err
    assert gk.load(path)["epoch"] == 1


def test_cupy_backend_without_a_gpu(capsys, tmp_path):
    if gk.cuda_available():
        import emulated_cupy

        pytest.skip("CuPy is emulated by NumPy in this run (it reports a GPU)" if emulated_cupy.enabled()
                    else "a GPU is available here")
    rc = T.main(["--backend", "cupy", "--checkpoint", str(tmp_path / "c.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2 and "cupy" in err.lower()


# --------------------------------------------------------------- MNIST
def _write_fake_mnist(folder: Path) -> None:
    """Full-size MNIST files (60000 + 10000 images) whose class is drawn as a bright row."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60000), ("t10k", 10000)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        images[np.arange(n), 2 + 2 * labels, :] = 255
        header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes(), 1))
        header = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big")
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())


@pytest.mark.slow
def test_mnist_training(capsys, tmp_path):
    _write_fake_mnist(tmp_path)
    rc, out, err = _run(capsys, "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                        "--hidden", "16", "--batch-size", "500", "--checkpoint", str(tmp_path / "m.safetensors"))
    assert rc == 0, err
    assert "mnist: 60000 train / 10000 test samples, 784 features" in out
    assert _accuracy(out) > 90.0  # the fake classes are trivially separable


# --------------------------------------------------- progress and extras
def test_progress_bar_uses_tqdm_or_the_plain_fallback(monkeypatch):
    if T.available("tqdm"):
        assert not isinstance(T.progress_bar(10, "x", True), T.PlainProgress)
    monkeypatch.setattr(T, "available", lambda name: False)
    bar = T.progress_bar(100, "epoch 1/2", True)
    assert isinstance(bar, T.PlainProgress)


def test_plain_progress_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = T.PlainProgress(100, "epoch 1/2", True)
    bar.update(50)
    bar.set_postfix_str("loss 0.5")
    bar.update(50)
    bar.close()
    text = stream.getvalue()
    assert "epoch 1/2" in text and "100/100" in text and "samples/s" in text and "loss 0.5" in text


def test_plain_progress_is_silent_off_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = T.PlainProgress(10, "x", True)
    bar.update(10)
    bar.close()
    assert stream.getvalue() == ""


@needs_sklearn
def test_no_matplotlib_no_png(capsys, tmp_path, monkeypatch):
    real = T.available
    monkeypatch.setattr(T, "available", lambda name: name != "matplotlib" and real(name))
    ckpt = tmp_path / "c.safetensors"
    rc, out, _ = _run(capsys, "--epochs", "1", "--hidden", "16", "--checkpoint", str(ckpt))
    assert rc == 0 and "curves:" not in out and not ckpt.with_suffix(".png").exists()


def test_blas_threads_is_a_no_op_where_it_should_be():
    import contextlib

    assert isinstance(T.blas_threads(0, "cpu"), contextlib.nullcontext)
    assert isinstance(T.blas_threads(1, "cuda:0"), contextlib.nullcontext)
    if T.available("threadpoolctl"):
        with T.blas_threads(1, "cpu"):
            from threadpoolctl import threadpool_info

            assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


@ONCE
def test_example_script_and_help():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "train_mlp.py"), "--help"],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0
    for option in ("--dataset", "--data-dir", "--backend", "--hidden", "--epochs", "--batch-size", "--lr",
                   "--optimizer", "--seed", "--checkpoint", "--resume"):
        assert option in result.stdout


@ONCE
def test_importing_gradkit_imports_no_optional_package():
    code = ("import sys, gradkit, gradkit.train, gradkit.data, gradkit.io; "
            "print(sorted(m for m in ('safetensors', 'sklearn', 'tqdm', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@needs_sklearn
def test_an_epoch_does_not_read_each_steps_loss(capsys, tmp_path, monkeypatch):
    """On a GPU each loss.item() makes the host wait for the device: the losses stay on the device and are
    read together when the epoch ends (or a checkpoint is written), with the same arithmetic (the resume
    test above compares the histories bit for bit)."""
    reads = {"item": 0, "numpy": 0, "in_epoch": False}
    item, numpy_ = gk.Tensor.item, gk.Tensor.numpy

    def counted(name, real):
        def call(self, *args, **kwargs):
            if reads["in_epoch"]:
                reads[name] += 1
            return real(self, *args, **kwargs)

        return call

    epoch = T.Run.train_epoch

    def train_epoch(self, *args, **kwargs):
        reads["in_epoch"] = True
        try:
            return epoch(self, *args, **kwargs)
        finally:
            reads["in_epoch"] = False

    monkeypatch.setattr(gk.Tensor, "item", counted("item", item))
    monkeypatch.setattr(gk.Tensor, "numpy", counted("numpy", numpy_))
    monkeypatch.setattr(T.Run, "train_epoch", train_epoch)
    assert _run(capsys, "--epochs", "1", "--hidden", "16", "--checkpoint", str(tmp_path / "c.safetensors"))[0] == 0
    assert reads["item"] == reads["numpy"] == 0


def test_pending_losses_survive_an_interrupted_read(monkeypatch):
    """A Ctrl-C (or a device error) during the read keeps the pending losses: a checkpoint written then
    still counts them."""
    run = T.Run.__new__(T.Run)  # only the loss bookkeeping is exercised
    run.loss_sum, run._pending_losses = 5.0, [(gk.tensor(1.0), 10), (gk.tensor(2.0), 10)]
    real_stack = gk.stack

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gk, "stack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run._flush_losses()
    assert run.loss_sum == 5.0 and len(run._pending_losses) == 2
    monkeypatch.setattr(gk, "stack", real_stack)
    run._flush_losses()
    assert run.loss_sum == 35.0 and run._pending_losses == []
