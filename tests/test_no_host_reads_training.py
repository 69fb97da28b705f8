"""Whole training steps on the emulated CuPy with every host read refused.

The model, optimiser, scheduler and batch are made first; then any ``bool()``, ``int()``, ``float()``,
``item()``, ``get()`` or ``tolist()`` of a device array (``cupy.asnumpy`` included, NumPy functions of
device arrays refuse anyway) fails the test. Each step is forward, loss, backward, ``clip_grad_norm_``,
``optimizer.step()``, ``zero_grad()`` and a scheduler step, as a CUDA-graph capture would replay it.
The "as-captured" runs make the range checks of class targets and embedding indices skip themselves, as
inside ``gk.cuda.capture``: what still reads the host there would break a capture. Runs only with
GRADKIT_TEST_EMULATED_CUPY=1 (skips elsewhere, a real GPU included); the fused CUDA kernels do not run there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import emulated_cupy
import numpy as np
import pytest
from nn._host_reads import refuse_host_reads

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F
from gradkit.optim import lr_scheduler as sched

DEV = "cuda"
ROWS, FEATURES, CLASSES = 6, 5, 4


@pytest.fixture
def dev() -> str:
    """The emulated "cuda" device (skips before anything is put on it when CuPy is not emulated)."""
    if not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    return DEV


def _t(a: Any, **kw: Any) -> gk.Tensor:
    return gk.tensor(np.asarray(a), device=DEV, **kw)


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _labels(n: int = ROWS, classes: int = CLASSES, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n)


def _train(model: nn.Module, loss_of: Callable[[], Any], opt: Any, scheduler: Any = None, steps: int = 2,
           clip: bool = True) -> None:
    """``steps`` whole training steps; nothing here may read the device."""
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if scheduler is not None:
            scheduler.step()


def _one_hot(labels: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def _xent(logits: gk.Tensor, one_hot: gk.Tensor) -> gk.Tensor:
    """Cross-entropy against one-hot float targets: class-index targets are range-checked on the host here
    (the GPU's fused kernel, which checks them on the device, does not run on the emulated CuPy)."""
    return F.cross_entropy(logits, one_hot)


def _skip_range_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make gradkit's range checks of class targets and embedding indices skip themselves, as they do
    inside ``gk.cuda.capture`` (``host_read_allowed`` is False): what still reads the host would break a
    capture."""
    import gradkit.cuda

    monkeypatch.setattr(gradkit.cuda, "is_capturing", lambda: True)


EMBEDDING_READ = ("Embedding checks its indices in range: one host read per forward on a GPU, skipped inside "
                  "gk.cuda.capture (necessary for the IndexOutOfRangeError; CuPy would wrap a bad index)")
CHECKS = ["as-captured", pytest.param("eager", marks=pytest.mark.skip(reason=EMBEDDING_READ))]


def _mlp(act: nn.Module, out: int = CLASSES) -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 8), act, nn.Linear(8, out)).to(DEV)


# -- activations ---------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "ReLU": nn.ReLU, "LeakyReLU": lambda: nn.LeakyReLU(0.1), "GELU": nn.GELU, "GELU-tanh": lambda: nn.GELU("tanh"),
    "SiLU": nn.SiLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ELU": nn.ELU, "CELU": nn.CELU, "SELU": nn.SELU,
    "Softplus": nn.Softplus, "Mish": nn.Mish, "Hardswish": nn.Hardswish, "Hardsigmoid": nn.Hardsigmoid,
    "Hardtanh": nn.Hardtanh, "ReLU6": nn.ReLU6, "Softsign": nn.Softsign, "LogSigmoid": nn.LogSigmoid,
    "Tanhshrink": nn.Tanhshrink, "Softshrink": nn.Softshrink, "Hardshrink": nn.Hardshrink,
    "Threshold": lambda: nn.Threshold(0.1, -1.0), "RReLU": nn.RReLU, "PReLU": lambda: nn.PReLU(8),
    "GLU": lambda: nn.Sequential(nn.Linear(8, 16), nn.GLU()), "Softmax": lambda: nn.Softmax(-1),
    "LogSoftmax": lambda: nn.LogSoftmax(-1), "Softmin": lambda: nn.Softmin(-1),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_mlp_with_each_activation(dev, monkeypatch, name):
    gk.manual_seed(0)
    model = _mlp(ACTIVATIONS[name]())
    opt = gk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt)


# -- losses --------------------------------------------------------------------------------------------------

def _loss_cases() -> dict[str, Any]:
    """name -> (make the loss module, make its targets from the batch, call it on the model output)."""
    p = np.random.default_rng(3).uniform(0.05, 0.95, (ROWS, CLASSES)).astype(np.float32)
    pm = np.where(np.arange(ROWS) % 2, 1.0, -1.0).astype(np.float32)
    soft = np.full((ROWS, CLASSES), 1 / CLASSES, np.float32)
    w = np.linspace(0.5, 2.0, CLASSES).astype(np.float32)
    ignored = _labels()
    ignored[2] = -100
    reg = _rand(ROWS, CLASSES, seed=4)
    return {
        "CrossEntropyLoss": (nn.CrossEntropyLoss, lambda: _t(_labels()), lambda f, o, t: f(o, t)),
        "CrossEntropyLoss-weight-ignore-smoothing": (
            lambda: nn.CrossEntropyLoss(weight=_t(w), ignore_index=-100, label_smoothing=0.1),
            lambda: _t(ignored), lambda f, o, t: f(o, t)),
        "CrossEntropyLoss-ignore_index-1": (lambda: nn.CrossEntropyLoss(ignore_index=1), lambda: _t(_labels()),
                                            lambda f, o, t: f(o, t)),
        "CrossEntropyLoss-soft-targets": (lambda: nn.CrossEntropyLoss(label_smoothing=0.2), lambda: _t(soft),
                                          lambda f, o, t: f(o, t)),
        "CrossEntropyLoss-sum": (lambda: nn.CrossEntropyLoss(reduction="sum"), lambda: _t(_labels()),
                                 lambda f, o, t: f(o, t)),
        "NLLLoss": (lambda: nn.NLLLoss(weight=_t(w)), lambda: _t(ignored), lambda f, o, t: f(F.log_softmax(o, -1), t)),
        "MSELoss": (nn.MSELoss, lambda: _t(reg), lambda f, o, t: f(o, t)),
        "L1Loss": (nn.L1Loss, lambda: _t(reg), lambda f, o, t: f(o, t)),
        "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), lambda: _t(reg), lambda f, o, t: f(o, t)),
        "HuberLoss": (lambda: nn.HuberLoss(delta=0.5), lambda: _t(reg), lambda f, o, t: f(o, t)),
        "BCELoss": (lambda: nn.BCELoss(weight=_t(w)), lambda: _t(p), lambda f, o, t: f(F.sigmoid(o), t)),
        "BCEWithLogitsLoss-pos_weight": (lambda: nn.BCEWithLogitsLoss(weight=_t(w), pos_weight=_t(w[::-1].copy())),
                                         lambda: _t(p), lambda f, o, t: f(o, t)),
        "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean"), lambda: _t(p / p.sum(1, keepdims=True)),
                      lambda f, o, t: f(F.log_softmax(o, -1), t)),
        "KLDivLoss-log_target": (lambda: nn.KLDivLoss(reduction="batchmean", log_target=True),
                                 lambda: _t(np.log(p / p.sum(1, keepdims=True))),
                                 lambda f, o, t: f(F.log_softmax(o, -1), t)),
        "CosineEmbeddingLoss": (lambda: nn.CosineEmbeddingLoss(0.1), lambda: _t(pm),
                                lambda f, o, t: f(o[:, :2], o[:, 2:], t)),
        "MarginRankingLoss": (lambda: nn.MarginRankingLoss(0.1), lambda: _t(pm),
                              lambda f, o, t: f(o[:, 0], o[:, 1], t)),
        "HingeEmbeddingLoss": (nn.HingeEmbeddingLoss, lambda: _t(pm), lambda f, o, t: f(o[:, 0], t)),
        "SoftMarginLoss": (nn.SoftMarginLoss, lambda: _t(pm), lambda f, o, t: f(o[:, 0], t)),
        "TripletMarginLoss": (nn.TripletMarginLoss, lambda: None,
                              lambda f, o, t: f(o[:, :1], o[:, 1:2], o[:, 2:3])),
        "MultiLabelSoftMarginLoss": (lambda: nn.MultiLabelSoftMarginLoss(weight=_t(w)),
                                     lambda: _t((p > 0.5).astype(np.float32)), lambda f, o, t: f(o, t)),
        "MultiMarginLoss": (nn.MultiMarginLoss, lambda: _t(_labels()), lambda f, o, t: f(o, t)),
        "PoissonNLLLoss": (nn.PoissonNLLLoss, lambda: _t(np.abs(reg)), lambda f, o, t: f(o, t)),
        "GaussianNLLLoss": (nn.GaussianNLLLoss, lambda: _t(reg),
                            lambda f, o, t: f(o[:, :2], t[:, :2], F.softplus(o[:, 2:]))),
    }


LOSS_CASES = _loss_cases()
DOCUMENTED_LOSS_READS = {
    "BCELoss": "BCELoss checks its input in [0, 1]: one host read on a GPU (docs/API.md)",
    "MultiMarginLoss": "MultiMarginLoss checks its class targets in range: one host read on a GPU (docs/API.md)",
    "GaussianNLLLoss": "GaussianNLLLoss checks every variance >= 0: one host read on a GPU (docs/API.md)",
}
KERNEL_ONLY = ("class-index targets: on a GPU the fused cross-entropy kernel checks them on the device (docs/API.md); "
               "the emulated CuPy runs the host-checked fallback")
CLASS_TARGET_READ = ("class-index targets with weight, label_smoothing or an ignore_index, and nll_loss: checked in "
                     "range on the host (one read), skipped inside gk.cuda.capture")
EAGER_SKIPS = {"CrossEntropyLoss": KERNEL_ONLY, "CrossEntropyLoss-sum": KERNEL_ONLY,
               "CrossEntropyLoss-weight-ignore-smoothing": CLASS_TARGET_READ,
               "CrossEntropyLoss-ignore_index-1": CLASS_TARGET_READ, "NLLLoss": CLASS_TARGET_READ}
IGNORED_TARGET_LOSSES = ("CrossEntropyLoss-weight-ignore-smoothing", "NLLLoss")


@pytest.mark.parametrize("checks", ["eager", "as-captured"])
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_each_loss(dev, monkeypatch, name, checks):
    if name in DOCUMENTED_LOSS_READS:
        pytest.skip(DOCUMENTED_LOSS_READS[name])
    if checks == "eager" and name in EAGER_SKIPS:
        pytest.skip(EAGER_SKIPS[name])
    make, target, call = LOSS_CASES[name]
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    loss_fn = make().to(DEV)
    x, t = _t(_rand(ROWS, FEATURES)), target()
    opt = gk.optim.Adam(model.parameters(), lr=1e-2)
    refuse_host_reads(dev, monkeypatch)
    if checks == "as-captured":
        _skip_range_checks(monkeypatch)
    _train(model, lambda: call(loss_fn, model(x), t), opt)


@pytest.mark.parametrize("name", IGNORED_TARGET_LOSSES)
def test_ignored_targets_masked_without_host_reads_give_the_checked_loss(dev, monkeypatch, name):
    make, target, call = LOSS_CASES[name]
    gk.manual_seed(0)
    model, loss_fn = _mlp(nn.ReLU()), make().to(DEV)
    x, t = _t(_rand(ROWS, FEATURES)), target()
    expected = call(loss_fn, model(x), t).item()
    refuse_host_reads(dev, monkeypatch)
    _skip_range_checks(monkeypatch)
    loss = call(loss_fn, model(x), t)
    monkeypatch.undo()
    assert loss.item() == pytest.approx(expected, rel=1e-6)


# -- optimisers and schedulers ------------------------------------------------------------------------------

OPTIMISERS = {
    "SGD": lambda p: gk.optim.SGD(p, lr=0.1),
    "SGD-momentum-dampening": lambda p: gk.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
    "SGD-nesterov-wd-maximize": lambda p: gk.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2,
                                                       maximize=True),
    "SGD-fused": lambda p: gk.optim.SGD(p, lr=0.1, momentum=0.9, fused=True),
    "Adam": lambda p: gk.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
    "Adam-fused": lambda p: gk.optim.Adam(p, lr=1e-2, fused=True),
    "Adam-amsgrad": lambda p: gk.optim.Adam(p, lr=1e-2, amsgrad=True),
    "Adam-capturable": lambda p: gk.optim.Adam(p, lr=1e-2, capturable=True),
    "AdamW": lambda p: gk.optim.AdamW(p, lr=1e-2),
    "AdamW-amsgrad-maximize": lambda p: gk.optim.AdamW(p, lr=1e-2, amsgrad=True, maximize=True),
    "AdamW-fused": lambda p: gk.optim.AdamW(p, lr=1e-2, fused=True),
    "RMSprop": lambda p: gk.optim.RMSprop(p, lr=1e-2),
    "RMSprop-centered-momentum-wd": lambda p: gk.optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True,
                                                               weight_decay=1e-2),
    "Adagrad": lambda p: gk.optim.Adagrad(p, lr=1e-2, weight_decay=1e-2, initial_accumulator_value=0.1),
    "Adagrad-lr_decay": lambda p: gk.optim.Adagrad(p, lr=1e-2, lr_decay=1e-3),
    "Adadelta": lambda p: gk.optim.Adadelta(p, weight_decay=1e-2),
    "Adamax": lambda p: gk.optim.Adamax(p, weight_decay=1e-2),
    "Adamax-capturable": lambda p: gk.optim.Adamax(p, capturable=True),
    "NAdam": lambda p: gk.optim.NAdam(p, weight_decay=1e-2),
    "NAdam-decoupled-capturable": lambda p: gk.optim.NAdam(p, weight_decay=1e-2, decoupled_weight_decay=True,
                                                           capturable=True),
    "RAdam": lambda p: gk.optim.RAdam(p, weight_decay=1e-2),
    "RAdam-decoupled-capturable": lambda p: gk.optim.RAdam(p, weight_decay=1e-2, decoupled_weight_decay=True,
                                                           capturable=True),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_each_optimiser(dev, monkeypatch, name):
    gk.manual_seed(0)
    model = _mlp(nn.Tanh())
    opt = OPTIMISERS[name](model.parameters())
    scheduler = sched.StepLR(opt, step_size=1, gamma=0.5)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    # RAdam's rectification switches on after step 5, so run past it
    _train(model, lambda: _xent(model(x), y), opt, scheduler, steps=7 if "RAdam" in name else 2)


def test_optimiser_with_two_parameter_groups_and_set_to_zero(dev, monkeypatch):
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    opt = gk.optim.Adam([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 1e-3}], lr=1e-2)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        _xent(model(x), y).backward()
        opt.step()


SCHEDULERS = {
    "StepLR": lambda o: sched.StepLR(o, 1),
    "MultiStepLR": lambda o: sched.MultiStepLR(o, [1, 2]),
    "ExponentialLR": lambda o: sched.ExponentialLR(o, 0.9),
    "LinearLR": lambda o: sched.LinearLR(o, total_iters=3),
    "CosineAnnealingLR": lambda o: sched.CosineAnnealingLR(o, 3),
    "LambdaLR": lambda o: sched.LambdaLR(o, lambda e: 0.9 ** e),
    "MultiplicativeLR": lambda o: sched.MultiplicativeLR(o, lambda e: 0.9),
    "ConstantLR": lambda o: sched.ConstantLR(o, total_iters=2),
    "PolynomialLR": lambda o: sched.PolynomialLR(o, total_iters=3),
    "CosineAnnealingWarmRestarts": lambda o: sched.CosineAnnealingWarmRestarts(o, 2),
    "OneCycleLR": lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=10),
    "CyclicLR": lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=2),
    "SequentialLR": lambda o: sched.SequentialLR(o, [sched.ConstantLR(o, total_iters=1), sched.ExponentialLR(o, 0.9)],
                                                 [1]),
    "ChainedScheduler": lambda o: sched.ChainedScheduler([sched.StepLR(o, 1), sched.ExponentialLR(o, 0.9)]),
}


@pytest.mark.parametrize("optimiser", ["SGD", "Adam-capturable"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_each_step_scheduler(dev, monkeypatch, name, optimiser):
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    opt = (gk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimiser == "SGD"
           else gk.optim.Adam(model.parameters(), lr=0.1, capturable=True))
    scheduler = SCHEDULERS[name](opt)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt, scheduler, steps=3)


# -- layers --------------------------------------------------------------------------------------------------

class _Convnet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.max = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2, stride=1, padding=1)
        self.adapt = nn.AdaptiveAvgPool2d((2, 2))
        self.drop = nn.Dropout2d(0.25)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x: gk.Tensor) -> gk.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.drop(self.gn(self.bn(self.conv(x))).relu())
        x = self.adapt(self.avg(self.max(x)))
        x = F.interpolate(x, size=(3, 3), mode="nearest")
        x = F.interpolate(x, size=(2, 2), mode="area")
        return self.head(x.reshape(x.shape[0], -1))


class _Sequence(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6, padding_idx=0)
        rnn = nn.LSTM if kind == "LSTM" else nn.GRU
        self.rnn = rnn(6, 5, num_layers=2, batch_first=True, dropout=0.2, bidirectional=True)
        self.norm = nn.LayerNorm(10)
        self.head = nn.Linear(10, CLASSES)

    def forward(self, tokens: gk.Tensor) -> gk.Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(self.norm(out[:, -1]))


class _Encoder(nn.Module):
    def __init__(self, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True,
                                                norm_first=norm_first, activation="gelu")
        self.mha = nn.MultiheadAttention(8, 2, dropout=0.1, batch_first=True)
        self.head = nn.Linear(8, 10, bias=False)
        self.head.weight = self.embed.weight  # tied

    def forward(self, tokens: gk.Tensor, mask: gk.Tensor, padding: gk.Tensor) -> gk.Tensor:
        h = self.layer(self.embed(tokens), src_mask=mask, src_key_padding_mask=padding)
        h, _ = self.mha(h, h, h, key_padding_mask=padding, attn_mask=mask)
        return self.head(h)


def _tokens(rows: int = 3, length: int = 5, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 10, (rows, length))


def test_conv_pool_norm_interpolate_net(dev, monkeypatch):
    gk.manual_seed(0)
    model = _Convnet().to(DEV)
    opt = gk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _t(_rand(ROWS, 2, 4, 4)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt)
    model.eval()
    with gk.no_grad():
        F.cross_entropy(model(x), y)


@pytest.mark.parametrize("checks", CHECKS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_embedding_recurrent_layernorm(dev, monkeypatch, kind, checks):
    gk.manual_seed(0)
    model = _Sequence(kind).to(DEV)
    opt = gk.optim.AdamW(model.parameters(), lr=1e-2)
    tokens = _tokens()
    tokens[0, :2] = 0  # padding rows
    x, y = _t(tokens), _t(_one_hot(_labels(3)))
    refuse_host_reads(dev, monkeypatch)
    _skip_range_checks(monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt)


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("checks", CHECKS)
def test_transformer_encoder_with_masks_and_tied_weights(dev, monkeypatch, mask_kind, norm_first, checks):
    gk.manual_seed(0)
    model = _Encoder(norm_first).to(DEV)
    opt = gk.optim.Adam(model.parameters(), lr=1e-2)
    causal = np.triu(np.ones((5, 5), bool), 1)
    mask = _t(causal) if mask_kind == "bool" else _t(np.where(causal, -np.inf, 0.0).astype(np.float32))
    padding = np.zeros((3, 5), bool)
    padding[1, 3:] = True
    tokens = _tokens()
    x, y, pad = _t(tokens), _t(_one_hot(np.roll(tokens, -1, axis=1).reshape(-1), 10)), _t(padding)
    refuse_host_reads(dev, monkeypatch)
    _skip_range_checks(monkeypatch)
    _train(model, lambda: _xent(model(x, mask, pad).reshape(-1, 10), y), opt)
    model.eval()
    with gk.no_grad():
        model(x, mask, pad)


def test_batchnorm1d_layernorm_dropout_train_and_eval(dev, monkeypatch):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.LayerNorm(8),
                          nn.Linear(8, CLASSES)).to(DEV)
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt)
    model.eval()  # running statistics, no dropout; still differentiable
    _xent(model(x), y).backward()
    opt.step()


@pytest.mark.parametrize("checks", CHECKS)
def test_embedding_max_norm(dev, monkeypatch, checks):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4, max_norm=1.0), nn.Flatten(), nn.Linear(20, CLASSES)).to(DEV)
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x, y = _t(_tokens(ROWS)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    _skip_range_checks(monkeypatch)
    _train(model, lambda: _xent(model(x), y), opt)


# -- gradient utilities, accumulation, evaluation -------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
def test_clip_grad_norm(dev, monkeypatch, norm_type):
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    for _ in range(2):
        opt.zero_grad()
        _xent(model(x), y).backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), 0.01, norm_type=norm_type)
        opt.step()
    assert total.device == model[0].weight.device


def test_clip_grad_norm_error_if_nonfinite_reads_the_host(dev, monkeypatch):
    # PyTorch's error_if_nonfinite=True needs the total on the host to decide whether to raise
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    F.cross_entropy(model(_t(_rand(ROWS, FEATURES))), _t(_one_hot(_labels()))).backward()
    refuse_host_reads(dev, monkeypatch)
    with pytest.raises(AssertionError, match="a host read"):
        nn.utils.clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)


def test_clip_grad_value(dev, monkeypatch):
    gk.manual_seed(0)
    model = _mlp(nn.ReLU())
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x, y = _t(_rand(ROWS, FEATURES)), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    for _ in range(2):
        opt.zero_grad()
        _xent(model(x), y).backward()
        nn.utils.clip_grad_value_(model.parameters(), 0.01)
        opt.step()


def test_gradient_accumulation_over_two_micro_batches(dev, monkeypatch):
    gk.manual_seed(0)
    model = _mlp(nn.GELU())
    opt = gk.optim.AdamW(model.parameters(), lr=1e-2)
    xs, ys = _t(_rand(2 * ROWS, FEATURES)), _t(_one_hot(_labels(2 * ROWS)))
    refuse_host_reads(dev, monkeypatch)
    for _ in range(2):
        opt.zero_grad()
        for i in range(2):
            part = slice(i * ROWS, (i + 1) * ROWS)
            (F.cross_entropy(model(xs[part]), ys[part]) / 2).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()


def test_no_grad_evaluation_accuracy_stays_on_the_device(dev, monkeypatch):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(8, CLASSES)).to(DEV)
    x, y, hot = _t(_rand(ROWS, FEATURES)), _t(_labels()), _t(_one_hot(_labels()))
    refuse_host_reads(dev, monkeypatch)
    model.eval()
    with gk.no_grad():
        logits = model(x)
        accuracy = (logits.argmax(-1) == y).float().mean()
        loss = _xent(logits, hot)
    assert accuracy.device == x.device and loss.device == x.device
    monkeypatch.undo()
    assert 0.0 <= accuracy.item() <= 1.0
