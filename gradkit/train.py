"""``gradkit-train``: train an MLP classifier on the bundled 8x8 digits or on MNIST.

    gradkit-train                                   # digits, ~98% test accuracy in seconds on a CPU
    gradkit-train --dataset mnist --data-dir DIR    # the four MNIST IDX files in DIR
    gradkit-train --checkpoint run.safetensors --resume --epochs 40

Every epoch ends with a summary line (train loss, test accuracy,
samples/s, device) and an atomic checkpoint (model, optimiser, epoch,
position in the epoch, RNG state, history). Ctrl-C finishes the batch in
flight, saves the checkpoint and exits with status 130; ``--resume`` goes on
from exactly that point: the same batches and dropout masks (the generator
states of the CPU and of the training device are saved) and, on the CPU, the
same results as an uninterrupted run. At
the end: the test accuracy, the checkpoint path and, when matplotlib is
installed, a PNG of the loss and accuracy curves.

Defaults (Adam, lr 3e-3 with cosine decay, batch 32, dropout 0.2, inputs
standardised per feature, 30 epochs, one BLAS thread) reach about 98% on the
digits in a few seconds on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import gradkit as gk
from gradkit import nn, optim
from gradkit.backends import NUMPY, get_backend
from gradkit.io.optional import available, require
from gradkit.nn import functional as F

CHECKPOINT_FORMAT = "gradkit-train/1"
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3}
SCHEDULES = ("cosine", "constant")
# The settings a checkpoint fixes: --resume takes them from the file, and passing a different one is an error.
RUN_SETTINGS = ("dataset", "hidden", "dropout", "optimizer", "lr", "schedule", "batch_size", "seed")
DEFAULTS = {"dataset": "digits", "hidden": "256,128", "dropout": 0.2, "optimizer": "adam", "lr": None,
            "schedule": "cosine", "batch_size": 32, "seed": 0}
DEFAULT_EPOCHS = 30
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command line or a checkpoint that does not fit it (printed without a traceback)."""


# ----------------------------------------------------------------- options
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gradkit-train",
        description="Train an MLP classifier with gradkit on the 8x8 digits (default) or MNIST.",
    )
    p.add_argument("--dataset", choices=("digits", "mnist"), help="digits (bundled with scikit-learn) or mnist")
    p.add_argument("--data-dir", help="folder with the four MNIST IDX files (plain or .gz), for --dataset mnist")
    p.add_argument("--backend", choices=("auto", "numpy", "cupy"),
                   help="auto: CuPy when a GPU is usable, else NumPy (default: GRADKIT_BACKEND, or auto)")
    p.add_argument("--hidden", help=f"hidden layer sizes, comma-separated (default {DEFAULTS['hidden']})")
    p.add_argument("--dropout", type=float, help=f"dropout after each hidden layer (default {DEFAULTS['dropout']})")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"total number of epochs, counting those of a resumed run (default {DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=int, help=f"samples per step (default {DEFAULTS['batch_size']})")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 0.05 for sgd, 3e-3 for adam and adamw, "
                   "1e-3 for rmsprop)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="learning rate schedule: cosine decay over --epochs (default) or constant")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {DEFAULTS['optimizer']}")
    p.add_argument("--seed", type=int, help=f"seed for initialisation and shuffling (default {DEFAULTS['seed']})")
    p.add_argument("--checkpoint", help="checkpoint file (default checkpoints/mlp-<dataset>.safetensors)")
    p.add_argument("--resume", action="store_true", help="go on from --checkpoint")
    p.add_argument("--plot", help="where to write the curves PNG (default: the checkpoint path with .png)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (summary lines only)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads on the CPU (default 1, the fastest for an MLP's small matrices, above all "
                   "on a busy machine; 0 keeps the BLAS default); needs threadpoolctl, which comes with scikit-learn")
    return p


def parse_hidden(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--hidden: expected comma-separated positive integers like 256,128, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise UsageError(f"--hidden: layer sizes must be positive, got {text!r}")
    return sizes


def resolve_settings(args: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings: from the command line, else from the checkpoint being resumed, else the defaults."""
    settings = {}
    for name in RUN_SETTINGS:
        given = getattr(args, name)
        if name == "hidden" and given is not None:
            given = ",".join(map(str, parse_hidden(given)))
        if saved is not None:
            if given is not None and given != saved[name]:
                raise UsageError(
                    f"--{name.replace('_', '-')} {given} conflicts with the checkpoint being resumed, "
                    f"which was trained with {saved[name]}; leave it out or start a new run"
                )
            settings[name] = saved[name]
        else:
            settings[name] = DEFAULTS[name] if given is None else given
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    if settings["lr"] <= 0 or not math.isfinite(settings["lr"]):
        raise UsageError(f"--lr must be a positive number, got {settings['lr']}")
    if not 0.0 <= settings["dropout"] < 1.0:
        raise UsageError(f"--dropout must be in [0, 1), got {settings['dropout']}")
    if settings["batch_size"] < 1:
        raise UsageError(f"--batch-size must be at least 1, got {settings['batch_size']}")
    if settings["seed"] < 0:
        raise UsageError(f"--seed must be non-negative, got {settings['seed']}")
    return settings


def check_output_path(path: str, flag: str) -> None:
    """Fail before training, not after it, when ``path`` cannot be written."""
    target = os.path.realpath(path)  # where gk.save will write (through a symbolic link)
    if os.path.isdir(target) or path.endswith(("/", os.sep)):
        raise UsageError(f"{flag}: {path!r} is a folder; give a file name")
    parent = os.path.dirname(target)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{flag}: cannot create {path!r}: {parent!r} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag}: cannot write {path!r}: no permission to write in {parent!r}")


def blas_threads(n: int, device: str) -> Any:
    """A context that limits the BLAS thread pool to ``n`` threads (a no-op for 0, a GPU or no threadpoolctl)."""
    if n <= 0 or device != "cpu" or not available("threadpoolctl"):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def pick_device(choice: str | None) -> str:
    if choice is None:
        return gk.default_device()
    if choice == "numpy":
        return "cpu"
    if choice == "cupy":
        return get_backend("cuda:0").device  # raises BackendError naming what is missing
    return "cuda:0" if gk.cuda_available() else "cpu"


# ------------------------------------------------------------ model, data
def load_data(dataset: str, data_dir: str | None, device: str) -> gk.data.DataSplit:
    if dataset == "mnist":
        if not data_dir:
            raise UsageError("--dataset mnist needs --data-dir, the folder holding the four MNIST IDX files")
        return gk.data.load_mnist(data_dir, device=device)
    return gk.data.load_digits(device=device)


def make_model(in_features: int, hidden: Sequence[int], num_classes: int, dropout: float = 0.0) -> Any:
    layers: list[Any] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def make_optimizer(name: str, params: Any, lr: float) -> Any:
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "adamw":
        return optim.AdamW(params, lr=lr)
    return optim.RMSprop(params, lr=lr)


def evaluate(model: Any, X: gk.Tensor, y: gk.Tensor, batch_size: int = 2048) -> float:
    """Accuracy of ``model`` on (X, y), in [0, 1]."""
    model.eval()
    correct = 0
    with gk.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(X[start : start + batch_size])
            correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum().item())
    model.train()
    return correct / max(len(y), 1)


# ---------------------------------------------------------------- progress
class PlainProgress:
    """A one-line progress display on a terminal (used when tqdm is not installed)."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.n += n
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.1 or self.n >= self.total):
            self.last = now
            width = 24
            filled = int(width * self.n / max(self.total, 1))
            rate = self.n / max(now - self.start, 1e-9)
            sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.n}/{self.total} {rate:,.0f} samples/s {self.postfix}")
            sys.stderr.flush()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


_PENDING_LOSSES = 256  # step losses kept on the device before they are read (and summed on the host)
_LOSS_SHOWN_EVERY = 20  # steps between updates of the progress bar's running loss (each one reads the device)


def _visible(bar: Any) -> bool:
    """Whether a progress bar draws: tqdm's and PlainProgress's are off when stderr is not a terminal."""
    return not bar.disable if hasattr(bar, "disable") else bool(getattr(bar, "enabled", False))


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    if available("tqdm"):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="sample", unit_scale=True, leave=False, dynamic_ncols=True,
                    file=sys.stderr, disable=None if enabled else True)
    return PlainProgress(total, desc, enabled)


# ------------------------------------------------------------ interruption
class StopRequest:
    """Turns the first Ctrl-C into a request to stop at the end of the current batch.

    The training state is then consistent (no half-applied optimiser step)
    when the checkpoint is written. A second Ctrl-C raises KeyboardInterrupt
    at once (the checkpoint is still written, but may hold a step half
    applied). Outside the main thread, signals are left alone.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this batch and saving a checkpoint (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._previous = signal.signal(signal.SIGINT, self._handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, self._previous)


class Interrupted(Exception):
    """Raised inside the loop when a stop was requested (caught by ``main``)."""


# -------------------------------------------------------------- the run
class Run:
    """The state of a training run, and how it goes into and out of a checkpoint."""

    def __init__(self, settings: dict[str, Any], split: gk.data.DataSplit, device: str) -> None:
        self.settings, self.split, self.device = settings, split, device
        gk.manual_seed(settings["seed"])
        # Inputs are standardised per feature with the training set's statistics (kept in the checkpoint);
        # the floor on the deviation keeps near-constant pixels (image borders) from being blown up.
        self.mean = split.X_train.mean(axis=0)
        self.std = gk.maximum(split.X_train.std(axis=0), 0.1)
        self.X_train = (split.X_train - self.mean) / self.std
        self.X_test = (split.X_test - self.mean) / self.std
        hidden = parse_hidden(settings["hidden"])
        self.model = make_model(split.num_features, hidden, split.num_classes, settings["dropout"]).to(device)
        self.optimizer = make_optimizer(settings["optimizer"], self.model.parameters(), settings["lr"])
        self.loader = gk.data.DataLoader(gk.data.TensorDataset(self.X_train, split.y_train),
                                         batch_size=settings["batch_size"], shuffle=True, seed=settings["seed"])
        self.epoch = 0  # epochs completed
        self.step = 0  # batches done in the current epoch
        self.loss_sum = 0.0  # of the current epoch, over the samples seen so far
        self.samples = 0
        # The losses of the steps since loss_sum was last brought up to date, with their batch sizes, left
        # on the device: reading each step's loss would make the host wait for the GPU at every step.
        self._pending_losses: list[tuple[gk.Tensor, int]] = []
        self.history: dict[str, list[float]] = {"train_loss": [], "test_acc": [], "samples_per_s": []}

    def describe(self) -> str:
        s, split = self.settings, self.split
        sizes = [split.num_features, *parse_hidden(s["hidden"]), split.num_classes]
        n_params = sum(p.size for p in self.model.parameters())
        return (f"{split.name}: {len(split.y_train)} train / {len(split.y_test)} test samples, "
                f"{split.num_features} features, {split.num_classes} classes; "
                f"MLP {'-'.join(map(str, sizes))} ({n_params:,} parameters, dropout {s['dropout']:g}), "
                f"{s['optimizer']} lr={s['lr']:g} ({s['schedule']}), batch {s['batch_size']}, seed {s['seed']}, "
                f"device {self.device}")

    def _add_loss(self, loss: gk.Tensor, n: int) -> None:
        self._pending_losses.append((loss.detach(), n))
        if len(self._pending_losses) >= _PENDING_LOSSES:
            self._flush_losses()

    def _flush_losses(self) -> None:
        """Add the pending losses to loss_sum: one read of the device, then the same float arithmetic,
        in the same order, as reading each loss at its step."""
        if not self._pending_losses:
            return
        values = gk.stack([loss for loss, _ in self._pending_losses]).numpy()
        total = self.loss_sum
        for value, (_, n) in zip(values, self._pending_losses, strict=True):
            total += float(value) * n
        # only now: an interruption or an error above leaves the pending losses to be read again
        self.loss_sum, self._pending_losses = total, []

    def state_dict(self) -> dict[str, Any]:
        self._flush_losses()
        return {
            "format": CHECKPOINT_FORMAT,
            "settings": dict(self.settings),
            "model": self.model.state_dict(),
            "normalize": {"mean": self.mean, "std": self.std},
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "loss_sum": self.loss_sum,
            "samples": self.samples,
            "rng": {"seed": self.settings["seed"], "numpy": NUMPY.rng.bit_generator.state, **self._device_rng()},
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.loss_sum, self.samples = float(state["loss_sum"]), int(state["samples"])
        self._pending_losses = []
        NUMPY.rng.bit_generator.state = state["rng"]["numpy"]
        self._set_device_rng(state["rng"])
        self.history = {key: list(values) for key, values in state["history"].items()}

    def _device_rng(self) -> dict[str, Any]:
        """``{"cupy": the cuRAND states}`` of the training device's generator (dropout draws from it), as
        ``gk.get_rng_state`` copies them to the host; ``{}`` on the CPU (the NumPy state is saved anyway) or
        when the generator's state cannot be read (the emulated CuPy's: its draws follow the seed)."""
        backend = get_backend(self.device)
        if backend is NUMPY:
            return {}
        try:
            return {"cupy": gk.get_rng_state()[backend.device]}
        except gk.BackendError:
            return {}

    def _set_device_rng(self, saved: dict[str, Any]) -> None:
        """Put the saved cuRAND states back into the training device's generator, when the checkpoint has them
        (checkpoints written on the CPU, or before they were saved, have not: the generator stays seeded)."""
        states = saved.get("cupy")
        backend = get_backend(self.device)
        if states is None or backend is NUMPY:
            return  # a GPU checkpoint resumed on the CPU: dropout draws from the NumPy generator
        try:
            gk.set_rng_state({backend.device: states})
        except gk.GradkitError as exc:
            found = f"{getattr(states, 'dtype', type(states).__name__)}{tuple(getattr(states, 'shape', ()))}"
            print(f"gradkit-train: warning: the checkpoint's GPU generator state ({found}) was not restored "
                  f"({exc}); dropout continues from the seed instead", file=sys.stderr)

    def save(self, path: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        gk.save(self.state_dict(), path)

    def learning_rate(self, total_epochs: int) -> float:
        """The learning rate of the next step: cosine decay from ``lr`` over all steps of ``total_epochs``."""
        lr = self.settings["lr"]
        if self.settings["schedule"] == "constant":
            return lr
        per_epoch = len(self.loader)
        t = self.epoch * per_epoch + self.step
        return lr * 0.5 * (1.0 + math.cos(math.pi * min(t / max(total_epochs * per_epoch, 1), 1.0)))

    def train_epoch(self, total_epochs: int, stop: StopRequest, show_progress: bool) -> float:
        """One epoch (or the rest of one, when resumed mid-epoch); returns samples/s."""
        backend = get_backend(self.device)
        self.loader.set_epoch(self.epoch)
        n_total = len(self.split.y_train)
        bar = progress_bar(n_total, f"epoch {self.epoch + 1}/{total_epochs}", show_progress)
        shown = show_progress and _visible(bar)  # the running loss is read only for a bar that draws
        bar.update(self.samples)
        start, seen = time.perf_counter(), 0
        try:
            for i, (xb, yb) in enumerate(self.loader):
                if i < self.step:  # resumed mid-epoch: these batches are done
                    continue
                lr = self.learning_rate(total_epochs)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                loss = F.cross_entropy(self.model(xb), yb)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                n = len(yb)
                self._add_loss(loss, n)
                self.samples += n
                self.step += 1
                seen += n
                bar.update(n)
                if shown and self.step % _LOSS_SHOWN_EVERY == 0:
                    self._flush_losses()
                    bar.set_postfix_str(f"loss {self.loss_sum / self.samples:.4f}", refresh=False)
                if stop.requested:
                    raise Interrupted
            backend.synchronize()
        finally:
            bar.close()
        return seen / max(time.perf_counter() - start, 1e-9)

    def accuracy(self) -> float:
        return evaluate(self.model, self.X_test, self.split.y_test)

    def finish_epoch(self, rate: float) -> None:
        accuracy = self.accuracy()  # first: an interruption here leaves the history as it was
        self._flush_losses()
        self.history["train_loss"].append(self.loss_sum / max(self.samples, 1))
        self.history["test_acc"].append(accuracy)
        self.history["samples_per_s"].append(rate)
        self.epoch += 1
        self.step, self.loss_sum, self.samples = 0, 0.0, 0


def plot_curves(history: dict[str, list[float]], path: str, title: str) -> str | None:
    """Loss and accuracy per epoch as a PNG (None when matplotlib is not installed)."""
    if not available("matplotlib") or not history["train_loss"]:
        return None
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    epochs = list(range(1, len(history["train_loss"]) + 1))
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, history["train_loss"], marker="o", markersize=3)
    ax_loss.set(xlabel="epoch", ylabel="train loss", yscale="log", title="training loss")
    ax_acc.plot(epochs, [100 * a for a in history["test_acc"]], marker="o", markersize=3, color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    except OSError as exc:  # the run is done and saved: say so, do not fail it
        print(f"gradkit-train: warning: could not write the curves to {path!r}: {exc.strerror or exc}",
              file=sys.stderr)
        return None
    return path


def _read_checkpoint(path: str, device: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise UsageError(f"--resume: there is no checkpoint at {path!r}")
    state = gk.load(path, device=device)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise gk.CheckpointError(f"--resume: {path!r} is not a gradkit-train checkpoint ({CHECKPOINT_FORMAT})")
    return state


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer with ``argv`` (``sys.argv[1:]`` when None); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except (UsageError, gk.GradkitError, ImportError) as exc:
        print(f"gradkit-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before training started (loading data, a checkpoint): nothing to save
        print("\ngradkit-train: interrupted before training started; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1 (the total number of epochs), got {args.epochs}")
    if args.threads < 0:
        raise UsageError(f"--threads must be 0 (the BLAS default) or more, got {args.threads}")
    # Checked here, not at the first save an epoch later: checkpoints are safetensors files.
    require("safetensors", "gradkit-train (its checkpoints are safetensors files)")
    device = pick_device(args.backend)
    dataset = args.dataset or DEFAULTS["dataset"]
    path = args.checkpoint or os.path.join("checkpoints", f"mlp-{dataset}.safetensors")
    check_output_path(path, "--checkpoint")
    if args.plot:
        check_output_path(args.plot, "--plot")
    state = _read_checkpoint(path, device) if args.resume else None
    settings = resolve_settings(args, state["settings"] if state else None)
    split = load_data(settings["dataset"], args.data_dir, device)
    run = Run(settings, split, device)
    if state is not None:
        try:
            run.load_state_dict(state)
        except (gk.GradkitError, KeyError, TypeError, ValueError) as exc:
            raise gk.CheckpointError(f"--resume: {path!r} does not fit this run: {exc}") from None
        where = f" (batch {run.step} of it)" if run.step else ""
        print(f"resuming from {path}: {run.epoch} epoch(s) done{where}")
    print(run.describe(), flush=True)

    if run.epoch >= args.epochs:  # only when resuming: a new run starts at epoch 0 and --epochs >= 1
        where = f" and {run.step} batch(es) of the next" if run.step else ""
        print(f"nothing to train: the checkpoint has {run.epoch} epoch(s){where} and --epochs is {args.epochs}; "
              f"the checkpoint is left as it was (pass --epochs {run.epoch + 1} or more to train on)", flush=True)
    stop = StopRequest()
    try:
        with stop.installed(), blas_threads(args.threads, device):
            while run.epoch < args.epochs:
                rate = run.train_epoch(args.epochs, stop, not args.no_progress)
                run.finish_epoch(rate)
                h = run.history
                print(f"epoch {run.epoch:3d}/{args.epochs}  train loss {h['train_loss'][-1]:.4f}  "
                      f"test acc {100 * h['test_acc'][-1]:6.2f}%  {rate:9,.0f} samples/s  {device}", flush=True)
                run.save(path)
                if stop.requested:
                    raise Interrupted
    except (Interrupted, KeyboardInterrupt):
        run.save(path)
        data = f" --data-dir {args.data_dir}" if settings["dataset"] == "mnist" else ""
        print(f"\ninterrupted at epoch {run.epoch + 1}, batch {run.step}; checkpoint saved to {path}\n"
              f"resume with: gradkit-train --checkpoint {path}{data} --resume --epochs {args.epochs}", flush=True)
        return EXIT_INTERRUPTED

    try:
        accuracy = run.accuracy()
        print(f"test accuracy: {100 * accuracy:.2f}%")
        print(f"checkpoint: {path}")
        plot = args.plot or os.path.splitext(path)[0] + ".png"
        title = f"gradkit MLP on {split.name} ({settings['optimizer']}, lr {settings['lr']:g})"
        if plot_curves(run.history, plot, title):
            print(f"curves: {plot}")
    except KeyboardInterrupt:
        print(f"\ninterrupted after training; the checkpoint {path} is complete", flush=True)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
