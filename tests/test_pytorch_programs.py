"""Whole PyTorch programs, as a user meets the library, run on gradkit and on PyTorch and compared.

Each program is written once against a library namespace ``lib`` (``torch`` or ``gradkit``) where the two
spell it the same, and as two versions where they differ (gradkit's reductions take NumPy's ``axis``, its data
module is ``gk.data``, its generators are NumPy's). Both start from the same weights (copied through NumPy)
and the same data; the tests compare losses per step, gradients, final parameters, state-dict keys and
shapes, and printed reprs where users read them: to float64 rounding for float64 programs, float32's for
float32 ones. Random draws (initialisation, dropout masks, shuffles) differ between the libraries, so the
programs either copy weights or compare what does not depend on the draws.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest

import gradkit as gk

torch = pytest.importorskip("torch")

F32 = {"rtol": 2e-5, "atol": 2e-6}
F64 = {"rtol": 1e-10, "atol": 1e-12}
LIBS = (torch, gk)


def _numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _same_weights(torch_model, gk_model):
    """Load the PyTorch model's weights into the gradkit one (through NumPy) and return both."""
    gk_model.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()})
    return torch_model, gk_model


def _data(lib):
    return torch.utils.data if lib is torch else gk.data


# ------------------------------------------------------------------ 1-5: "learning PyTorch with examples"
def test_polynomial_fit_with_tensors_and_manual_updates():
    """Tensors with requires_grad, the loss built by hand, updates under no_grad, grads cleared with None."""
    x = np.linspace(-math.pi, math.pi, 200)
    start = np.random.default_rng(0).standard_normal(4)

    def program(lib):
        X, Y = lib.tensor(x), lib.tensor(np.sin(x))
        params = [lib.tensor(w, requires_grad=True) for w in start]
        losses = []
        for _ in range(40):
            a, b, c, d = params
            loss = (a + b * X + c * X**2 + d * X**3 - Y).pow(2).sum()
            losses.append(loss.item())
            loss.backward()
            with lib.no_grad():
                for p in params:
                    p -= 1e-6 * p.grad
                    p.grad = None
        return losses, [p.item() for p in params]

    (lt, pt), (lg, pg) = program(torch), program(gk)
    np.testing.assert_allclose(lg, lt, **F64)
    np.testing.assert_allclose(pg, pt, **F64)


def _legendre(lib):
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x**3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x**2 - 1)

    return LegendrePolynomial3


def test_custom_autograd_function_legendre_polynomial():
    x = np.linspace(-math.pi, math.pi, 200)

    def program(lib):
        P3 = _legendre(lib)
        X, Y = lib.tensor(x), lib.tensor(np.sin(x))
        a, b, c, d = (lib.full((), v, dtype=lib.float64, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
        losses = []
        for _ in range(30):
            loss = (a + b * P3.apply(c + d * X) - Y).pow(2).sum()
            losses.append(loss.item())
            loss.backward()
            with lib.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
        return losses, [p.item() for p in (b, d)]

    (lt, pt), (lg, pg) = program(torch), program(gk)
    np.testing.assert_allclose(lg, lt, **F64)
    np.testing.assert_allclose(pg, pt, **F64)


def _poly_features(lib, x):
    # float64 throughout: gradkit promotes float32 ** int64 to float64 as NumPy does (PyTorch keeps float32)
    return lib.tensor(x).unsqueeze(-1).pow(lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64))


def test_sequential_mse_sum_with_parameter_updates_by_hand():
    x = np.linspace(-math.pi, math.pi, 200)
    torch.manual_seed(0)
    models = _same_weights(
        torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1)).double(),
        gk.nn.Sequential(gk.nn.Linear(3, 1), gk.nn.Flatten(0, 1)).double(),
    )
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        xx, y = _poly_features(lib, x), lib.tensor(np.sin(x))
        loss_fn = lib.nn.MSELoss(reduction="sum")
        losses = []
        for _ in range(25):
            loss = loss_fn(model(xx), y)
            losses.append(loss.item())
            model.zero_grad()
            loss.backward()
            with lib.no_grad():
                for param in model.parameters():
                    param -= 1e-6 * param.grad
        layer = model[0]
        results.append((losses, layer.bias.item(), [layer.weight[:, i].item() for i in range(3)]))
    (lt, bt, wt), (lg, bg, wg) = results
    np.testing.assert_allclose(lg, lt, **F64)
    np.testing.assert_allclose([bg, *wg], [bt, *wt], **F64)


def test_sequential_with_rmsprop():
    x = np.linspace(-math.pi, math.pi, 200)
    torch.manual_seed(1)
    models = _same_weights(
        torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1)).double(),
        gk.nn.Sequential(gk.nn.Linear(3, 1), gk.nn.Flatten(0, 1)).double(),
    )
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        xx, y = _poly_features(lib, x), lib.tensor(np.sin(x))
        loss_fn = lib.nn.MSELoss(reduction="sum")
        optimizer = lib.optim.RMSprop(model.parameters(), lr=1e-3)
        losses = []
        for _ in range(30):
            loss = loss_fn(model(xx), y)
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        results.append((losses, _numpy(model[0].weight)))
    np.testing.assert_allclose(results[1][0], results[0][0], **F64)
    np.testing.assert_allclose(results[1][1], results[0][1], **F64)


def _dynamic_net(lib):
    class DynamicNet(lib.nn.Module):
        """Control flow in forward and one parameter reused for every higher power (weight sharing)."""

        def __init__(self):
            super().__init__()
            for name, v in zip("abcde", (0.1, -0.2, 0.3, 0.05, 0.01), strict=True):
                setattr(self, name, lib.nn.Parameter(lib.tensor(v)))

        def forward(self, x, order):
            y = self.a + self.b * x + self.c * x**2 + self.d * x**3
            for exp in range(4, order):
                y = y + self.e * x**exp
            return y

    return DynamicNet()


def test_custom_module_with_control_flow_and_weight_sharing():
    x = np.linspace(-math.pi, math.pi, 100, dtype=np.float32)
    results = []
    for lib in LIBS:
        model = _dynamic_net(lib)
        criterion = lib.nn.MSELoss(reduction="sum")
        optimizer = lib.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
        losses = []
        for t in range(30):
            loss = criterion(model(lib.tensor(x), 4 + t % 3), lib.tensor(np.sin(x)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        results.append((losses, [n for n, _ in model.named_parameters()], [p.item() for p in model.parameters()]))
    (lt, nt, pt), (lg, ng, pg) = results
    assert ng == nt == list("abcde")
    np.testing.assert_allclose(lg, lt, **F32)
    np.testing.assert_allclose(pg, pt, **F32)


# ------------------------------------------------------------------ 6-9: a classifier's training loop
def _classifier(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(10, 16)
            self.bn = nn.BatchNorm1d(16, momentum=None)  # a cumulative average of the batch statistics
            self.drop = nn.Dropout(0.5)
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc2(self.drop(nn.functional.relu(self.bn(self.fc1(x)))))

    return Net()


def test_classifier_sgd_nesterov_weight_decay_steplr_clipping_batchnorm():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 10)).astype(np.float32), rng.integers(0, 3, 64)
    torch.manual_seed(0)
    models = _same_weights(_classifier(torch), _classifier(gk))
    assert list(models[0].state_dict()) == list(models[1].state_dict())
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
        scheduler = lib.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        criterion = lib.nn.CrossEntropyLoss()
        losses, norms = [], []
        for _ in range(4):
            model.train()
            model.drop.eval()  # the masks are drawn differently by the two libraries
            for i in range(0, 64, 16):
                optimizer.zero_grad()
                loss = criterion(model(lib.tensor(X[i : i + 16])), lib.tensor(y[i : i + 16]))
                loss.backward()
                norms.append(float(lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
        model.eval()
        with lib.no_grad():
            logits = _numpy(model(lib.tensor(X)))
        bn = model.bn
        results.append((losses, norms, scheduler.get_last_lr(), logits, _numpy(bn.running_mean),
                        _numpy(bn.running_var), int(bn.num_batches_tracked.item())))
    t, g = results
    np.testing.assert_allclose(g[0], t[0], **F32)
    np.testing.assert_allclose(g[1], t[1], **F32)
    assert g[2] == t[2] == [0.025]
    for a, b in zip(g[3:6], t[3:6], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert g[6] == t[6] == 16


def test_quickstart_train_and_test_loops_on_the_digits():
    """PyTorch's quickstart loops (train, then test with accuracy) on gradkit's 8x8 digits."""
    pytest.importorskip("sklearn")
    X_train, y_train, X_test, y_test = (t.numpy() for t in gk.data.load_digits())
    torch.manual_seed(0)
    build = [lambda lib=lib: lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(64, 32), lib.nn.ReLU(),
                                               lib.nn.Linear(32, 10)) for lib in LIBS]
    models = _same_weights(build[0](), build[1]())
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        data = _data(lib)
        train = data.DataLoader(data.TensorDataset(lib.tensor(X_train), lib.tensor(y_train)), batch_size=128)
        test = data.DataLoader(data.TensorDataset(lib.tensor(X_test), lib.tensor(y_test)), batch_size=128)
        loss_fn = lib.nn.CrossEntropyLoss()
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)
        train_losses, tests = [], []
        for _ in range(2):
            model.train()
            for X, y in train:
                loss = loss_fn(model(X), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                train_losses.append(loss.item())
            model.eval()
            test_loss, correct = 0.0, 0
            with lib.no_grad():
                for X, y in test:
                    pred = model(X)
                    test_loss += loss_fn(pred, y).item()
                    correct += (pred.argmax(1) == y).float().sum().item()
            tests.append((test_loss / len(test), correct / len(test.dataset)))
        results.append((train_losses, tests))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4)
    assert results[1][1][-1][1] > 0.8


def test_dropout_in_training_and_evaluation():
    """Masks differ between the libraries; what a program relies on does not."""
    gk.manual_seed(0)
    torch.manual_seed(0)
    for lib in LIBS:
        drop = lib.nn.Dropout(0.25)
        x = lib.ones(4000, requires_grad=True)
        y = drop(x)
        y.sum().backward()
        values = _numpy(y)
        assert set(np.unique(values).tolist()) <= {0.0, np.float32(1 / 0.75)}
        assert 0.2 < (values == 0).mean() < 0.3
        np.testing.assert_array_equal(_numpy(x.grad), values)  # the same mask scales the gradient
        drop.eval()
        np.testing.assert_array_equal(_numpy(drop(x)), np.ones(4000, np.float32))
        assert repr(drop) == "Dropout(p=0.25, inplace=False)"


def test_onecycle_schedule_cycles_lr_and_momentum():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)).astype(np.float32), rng.integers(0, 3, 40)
    torch.manual_seed(0)
    build = [lambda lib=lib: lib.nn.Sequential(lib.nn.Linear(5, 7), lib.nn.BatchNorm1d(7), lib.nn.ReLU(),
                                               lib.nn.Linear(7, 3)) for lib in LIBS]
    models = _same_weights(build[0](), build[1]())
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        optimizer = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        scheduler = lib.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, epochs=3, steps_per_epoch=4)
        trace = []
        for _ in range(3):
            for i in range(4):
                optimizer.zero_grad(set_to_none=False)
                loss = lib.nn.functional.cross_entropy(model(lib.tensor(X[i * 10 : i * 10 + 10])),
                                                       lib.tensor(y[i * 10 : i * 10 + 10]))
                loss.backward()
                optimizer.step()
                scheduler.step()
                group = optimizer.param_groups[0]
                trace.append((loss.item(), group["lr"], group["momentum"]))
        results.append(np.array(trace))
    np.testing.assert_allclose(results[1], results[0], **F32)


def test_cosine_annealing_with_warmup_and_plateau():
    results = []
    for lib in LIBS:
        w = lib.zeros(1, requires_grad=True)
        optimizer = lib.optim.AdamW([w], lr=1e-3)
        warmup = lib.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=3)
        cosine = lib.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=7, eta_min=1e-5)
        schedule = lib.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[3])
        lrs = []
        for _ in range(10):
            optimizer.step()
            schedule.step()
            lrs.append(optimizer.param_groups[0]["lr"])
        plateau = lib.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
        for metric in (1.0, 0.9, 0.95, 0.96, 0.97, 0.2):
            plateau.step(metric)
            lrs.append(optimizer.param_groups[0]["lr"])
        results.append(lrs)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_zero_grad_set_to_none_and_in_place_zeroing():
    for lib in LIBS:
        model = lib.nn.Linear(3, 2)
        optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
        model(lib.ones(1, 3)).sum().backward()
        grad = model.weight.grad
        optimizer.zero_grad(set_to_none=False)
        assert model.weight.grad is grad and not _numpy(grad).any()
        optimizer.zero_grad()
        assert model.weight.grad is None and model.bias.grad is None
        before = _numpy(model.weight).copy()
        optimizer.step()  # parameters without gradients are left alone
        np.testing.assert_array_equal(_numpy(model.weight), before)


# ------------------------------------------------------------------ 10-13: saving and loading
def _resumable(seed_weights):
    model = gk.nn.Sequential(gk.nn.Linear(6, 16), gk.nn.BatchNorm1d(16), gk.nn.ReLU(), gk.nn.Dropout(0.2),
                             gk.nn.Linear(16, 3))
    model.load_state_dict(seed_weights)
    optimizer = gk.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    scheduler = gk.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=8)
    return model, optimizer, scheduler


def test_checkpoint_mid_training_then_resume_matches_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    ds = gk.data.TensorDataset(gk.tensor(rng.standard_normal((48, 6)).astype(np.float32)),
                               gk.tensor(rng.integers(0, 3, 48)))
    gk.manual_seed(1)
    weights = _resumable(gk.nn.Sequential(gk.nn.Linear(6, 16), gk.nn.BatchNorm1d(16), gk.nn.ReLU(),
                                          gk.nn.Dropout(0.2), gk.nn.Linear(16, 3)).state_dict())[0].state_dict()
    weights = {k: v.clone() for k, v in weights.items()}
    loader = gk.data.DataLoader(ds, batch_size=12, shuffle=True, seed=7, drop_last=True)

    def epochs(model, optimizer, scheduler, first, last):
        losses = []
        for epoch in range(first, last):
            loader.set_epoch(epoch)
            model.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = gk.nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
        return losses

    gk.manual_seed(5)
    full = epochs(*_resumable(weights), 0, 4)
    gk.manual_seed(5)
    model, optimizer, scheduler = _resumable(weights)
    first = epochs(model, optimizer, scheduler, 0, 2)
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "scheduler": scheduler.state_dict(), "rng": gk.get_rng_state(), "epoch": 2}
    if _has_safetensors():
        gk.save(checkpoint, os.fspath(tmp_path / "checkpoint.safetensors"))
        checkpoint = gk.load(os.fspath(tmp_path / "checkpoint.safetensors"))
    else:
        checkpoint = copy.deepcopy(checkpoint)
    model, optimizer, scheduler = _resumable(weights)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    gk.set_rng_state(checkpoint["rng"])  # the dropout masks of the remaining epochs
    rest = epochs(model, optimizer, scheduler, checkpoint["epoch"], 4)
    np.testing.assert_array_equal(first + rest, full)


def _has_safetensors() -> bool:
    try:
        import safetensors  # noqa: F401
    except ImportError:
        return False
    return True


OPTIMISERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adadelta", {"lr": 1.0}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), OPTIMISERS, ids=[n for n, _ in OPTIMISERS])
def test_optimizer_state_dict_layout_and_a_pytorch_state_dict_continues_training(name, kwargs):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    torch.manual_seed(0)
    tm, gm = _same_weights(torch.nn.Linear(4, 2).double(), gk.nn.Linear(4, 2).double())
    t_opt = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    g_opt = getattr(gk.optim, name)(gm.parameters(), **kwargs)

    def step(lib, model, optimizer):
        optimizer.zero_grad()
        loss = ((model(lib.tensor(X)) - lib.tensor(Y)) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(3):
        step(torch, tm, t_opt)
        step(gk, gm, g_opt)
    t_sd, g_sd = t_opt.state_dict(), g_opt.state_dict()
    assert list(g_sd) == ["state", "param_groups"] and list(g_sd["state"]) == list(t_sd["state"]) == [0, 1]
    for index, entry in t_sd["state"].items():
        assert set(g_sd["state"][index]) == set(entry)
        for key, value in entry.items():
            if value.ndim:  # moments of the parameter's shape; PyTorch's step counts are 0-d tensors
                assert g_sd["state"][index][key].shape == tuple(value.shape)
    switches = {"foreach", "fused", "differentiable", "capturable", "decoupled_weight_decay"}
    for tg, gg in zip(t_sd["param_groups"], g_sd["param_groups"], strict=True):
        assert {k: v for k, v in tg.items() if k not in switches} == {k: v for k, v in gg.items() if k not in switches}

    # A PyTorch optimiser's state dict, loaded into a fresh gradkit one, continues PyTorch's run.
    gm.load_state_dict(tm.state_dict())
    g_opt = getattr(gk.optim, name)(gm.parameters(), **kwargs)
    g_opt.load_state_dict(t_opt.state_dict())
    assert not switches.intersection(g_opt.param_groups[0]) - set(g_opt.defaults)
    losses = np.array([(step(gk, gm, g_opt), step(torch, tm, t_opt)) for _ in range(4)])
    tol = F32 if name == "NAdam" else F64  # PyTorch keeps NAdam's mu_product in float32
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], **tol)
    np.testing.assert_allclose(_numpy(gm.weight), _numpy(tm.weight), **tol)


def test_pytorch_model_state_dict_loads_into_gradkit_and_back():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    tm.train()
    tm(torch.randn(5, 3))  # running statistics and num_batches_tracked away from their defaults
    gm = gk.nn.Sequential(gk.nn.Linear(3, 4), gk.nn.BatchNorm1d(4), gk.nn.Tanh(), gk.nn.Linear(4, 2))
    result = gm.load_state_dict(tm.state_dict())
    assert repr(result) == repr(tm.load_state_dict(tm.state_dict())) == "<All keys matched successfully>"
    assert {k: tuple(v.shape) for k, v in gm.state_dict().items()} == {
        k: tuple(v.shape) for k, v in tm.state_dict().items()
    }
    assert gm[1].num_batches_tracked.item() == 1 and gm[1].num_batches_tracked.dtype == np.int64
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    tm.eval()
    gm.eval()
    np.testing.assert_allclose(gm(gk.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), **F32)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in gm.state_dict().items()})
    # (a PyTorch Parameter itself, which requires grad, is refused: pass .detach(), as state_dict() does)
    partial = gm.load_state_dict({"0.weight": tm[0].weight.detach()}, strict=False)
    expected = tm.load_state_dict({"0.weight": tm[0].weight}, strict=False)
    assert partial.missing_keys == expected.missing_keys and partial.unexpected_keys == expected.unexpected_keys
    # A checkpoint from before PyTorch 0.4.1 has no num_batches_tracked; BatchNorm keeps its count.
    old = {k: v for k, v in tm.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert repr(gm.load_state_dict(old)) == repr(tm.load_state_dict(old)) == "<All keys matched successfully>"
    assert gm[1].num_batches_tracked.item() == tm[1].num_batches_tracked.item() == 1


def test_best_model_copy_with_deepcopy_of_the_state_dict():
    """``state_dict()`` shares the parameters' memory; ``copy.deepcopy`` of it is a snapshot (both libraries)."""
    for lib in LIBS:
        model = lib.nn.Linear(3, 2)
        live, best = model.state_dict(), copy.deepcopy(model.state_dict())
        before = _numpy(model.weight).copy()
        optimizer = lib.optim.SGD(model.parameters(), lr=1.0)
        model(lib.ones(1, 3)).sum().backward()
        optimizer.step()
        np.testing.assert_array_equal(_numpy(live["weight"]), _numpy(model.weight))
        np.testing.assert_array_equal(_numpy(best["weight"]), before)
        model.load_state_dict(best)
        np.testing.assert_array_equal(_numpy(model.weight), before)
        assert not live["weight"].requires_grad and model.state_dict(keep_vars=True)["weight"].requires_grad


# ------------------------------------------------------------------ 14-15: parameter groups and modules
def test_parameter_groups_add_param_group_and_frozen_layers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    torch.manual_seed(0)
    build = [lambda lib=lib: lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), lib.nn.Linear(8, 3),
                                               lib.nn.Linear(3, 1)) for lib in LIBS]
    models = _same_weights(build[0](), build[1]())
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        model[0].requires_grad_(False)
        optimizer = lib.optim.SGD([{"params": model[2].parameters(), "lr": 0.1}], lr=0.01, momentum=0.9)
        optimizer.add_param_group({"params": model[3].parameters(), "momentum": 0.0})
        groups = [{k: v for k, v in g.items() if k in ("lr", "momentum", "dampening", "nesterov")}
                  for g in optimizer.param_groups]
        losses = []
        for _ in range(3):
            optimizer.zero_grad()
            loss = model(lib.tensor(X)).pow(2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            assert model[0].weight.grad is None
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        results.append((groups, losses, _numpy(model[2].weight), _numpy(model[3].weight), trainable))
    t, g = results
    assert g[0] == t[0] and g[4] == t[4] == 31
    np.testing.assert_allclose(g[1], t[1], **F32)
    np.testing.assert_allclose(g[2], t[2], **F32)
    np.testing.assert_allclose(g[3], t[3], **F32)


def _nested(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.act = nn.Tanh()
            self.register_buffer("scale", lib.ones(3), persistent=False)
            self.register_buffer("count", lib.zeros(1))

        def forward(self, x):
            return self.act(self.lin(x)) * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(Block(), nn.ReLU(), Block())
            self.head = nn.Linear(3, 2)
            self.extra = nn.ModuleDict({"b": nn.Linear(2, 2), "a": nn.Identity()})

        def forward(self, x):
            return self.extra["b"](self.head(self.body(x)))

    return Net()


def test_module_traversal_order_buffers_apply_and_repr():
    tm, gm = _nested(torch), _nested(gk)
    for method in ("named_parameters", "named_modules", "named_buffers", "named_children"):
        assert [n for n, _ in getattr(gm, method)()] == [n for n, _ in getattr(tm, method)()], method
    assert list(gm.state_dict()) == list(tm.state_dict())
    assert "body.0.scale" not in gm.state_dict() and "body.0.count" in gm.state_dict()
    visited = {lib: [] for lib in LIBS}
    tm.apply(lambda m: visited[torch].append(type(m).__name__))
    gm.apply(lambda m: visited[gk].append(type(m).__name__))
    assert visited[gk] == visited[torch]
    assert repr(gm) == repr(tm)
    _same_weights(tm, gm)  # the non-persistent buffers are not in the state dict, and not expected
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(gm(gk.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), **F32)


def test_shared_submodule_is_registered_once_and_saved_under_every_name():
    for lib in LIBS:
        shared = lib.nn.Linear(2, 2)
        seq = lib.nn.Sequential(shared, lib.nn.ReLU(), shared)
        assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
        assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
        assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
        twin = copy.deepcopy(seq)
        assert twin[0] is twin[2] and twin[0].weight is not seq[0].weight


# ------------------------------------------------------------------ 16-20: autograd idioms
def test_retain_graph_accumulation_gradient_argument_and_grad_zero():
    results = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()  # accumulates into .grad
        accumulated = _numpy(x.grad).copy()
        with pytest.raises(RuntimeError):
            y.backward()  # the graph was freed
        x.grad.zero_()
        z = x * 2
        z.backward(gradient=lib.tensor([0.1, 1.0, 1e-4]))  # a non-scalar output needs its gradient
        with pytest.raises(RuntimeError):
            (x * 2).backward()
        results.append((accumulated, _numpy(x.grad).copy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_allclose(results[1][1], results[0][1], **F32)


def test_backward_with_inputs_only_fills_those():
    for lib in LIBS:
        p, q = lib.tensor([1.0, 2.0], requires_grad=True), lib.tensor([3.0, 4.0], requires_grad=True)
        (p * q).sum().backward(inputs=[p])
        assert q.grad is None
        np.testing.assert_array_equal(_numpy(p.grad), [3.0, 4.0])


def test_gradient_penalty_with_create_graph():
    """A WGAN-GP critic step: autograd.grad with create_graph, through Linear+ReLU pairs and a LayerNorm."""
    rng = np.random.default_rng(0)
    real, fake, alpha = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.random((6, 1))
    torch.manual_seed(0)

    def critic(lib):
        nn = lib.nn
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.LayerNorm(8),
                             nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)).double()

    models = _same_weights(critic(torch), critic(gk))
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.9))
        trace = []
        for _ in range(3):
            optimizer.zero_grad()
            a = lib.tensor(alpha)
            mixed = (a * lib.tensor(real) + (1 - a) * lib.tensor(fake)).requires_grad_(True)
            out = model(mixed)
            (g,) = lib.autograd.grad(out, mixed, grad_outputs=lib.ones_like(out), create_graph=True)
            penalty = (((g**2).sum(1).sqrt() - 1) ** 2).mean()
            loss = model(lib.tensor(fake)).mean() - model(lib.tensor(real)).mean() + 10 * penalty
            loss.backward()
            optimizer.step()
            trace.append(loss.item())
        results.append((trace, _numpy(model[0].weight.grad), _numpy(model[7].weight)))
    for a, b in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(a, b, **F64)


def test_tensor_hooks_retain_grad_and_allow_unused():
    def program(lib):
        out = {}
        w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        handle = w.register_hook(lambda g: g.clamp(-1, 1))  # clips each backward's gradient before it is added
        (w * 5).sum().backward()
        (w * w).sum().backward()
        out["clipped"] = _numpy(w.grad).copy()
        handle.remove()
        w.grad = None
        (w * 5).sum().backward()
        out["removed"] = _numpy(w.grad).copy()
        order = []
        x = lib.tensor([1.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: order.append(1) or g * 2)
        y.register_hook(lambda g: order.append(2) or g + 1)
        y.retain_grad()
        y.sum().backward()
        out["chained"] = (order, _numpy(x.grad).copy(), _numpy(y.grad).copy())
        a, b = lib.tensor(2.0, requires_grad=True), lib.tensor(3.0, requires_grad=True)
        ga, gb = lib.autograd.grad(a * a, [a, b], allow_unused=True)
        out["unused"] = (ga.item(), gb)
        x = lib.tensor(1.5, requires_grad=True)
        (d1,) = lib.autograd.grad(x**3, x, create_graph=True)
        (d2,) = lib.autograd.grad(d1, x, create_graph=True)
        (d3,) = lib.autograd.grad(d2, x)
        out["derivatives"] = (d1.item(), d2.item(), d3.item())
        u = lib.tensor([1.0, 2.0], requires_grad=True)
        ((u * 2).detach() * u).sum().backward()
        out["detached"] = _numpy(u.grad).copy()
        return out

    t, g = program(torch), program(gk)
    assert t.keys() == g.keys()
    for key in t:
        np.testing.assert_equal(g[key], t[key], err_msg=key)


def test_in_place_changes_that_would_break_autograd_raise():
    for lib in LIBS:
        leaf = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            leaf += 1  # a leaf that requires grad, outside no_grad
        saved = lib.exp(lib.tensor([1.0, 2.0], requires_grad=True))
        with pytest.raises(RuntimeError):
            saved.mul_(2)  # exp saved its output; PyTorch raises at backward, gradkit at once
            saved.sum().backward()
        with lib.no_grad():
            leaf += 1  # allowed: the optimiser's way
        np.testing.assert_array_equal(_numpy(leaf), [2.0, 3.0])


def test_no_grad_inference_detach_clone_and_fgsm():
    """Evaluation under no_grad, a detached copy, and the FGSM tutorial's attack on DataLoader batches."""
    rng = np.random.default_rng(0)
    X, y = rng.random((10, 8)).astype(np.float32), rng.integers(0, 4, 10)
    torch.manual_seed(0)
    build = [lambda lib=lib: lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.ReLU(), lib.nn.Linear(16, 4),
                                               lib.nn.LogSoftmax(dim=1)) for lib in LIBS]
    models = _same_weights(build[0](), build[1]())
    results = []
    for lib, model in zip(LIBS, models, strict=True):
        model.eval()
        with lib.no_grad():
            out = model(lib.tensor(X))
        assert not out.requires_grad and out.grad_fn is None
        snapshot = model[0].weight.detach().clone()
        snapshot += 1
        assert not snapshot.requires_grad and not np.array_equal(_numpy(snapshot), _numpy(model[0].weight))
        data = _data(lib)
        loader = data.DataLoader(data.TensorDataset(lib.tensor(X), lib.tensor(y)), batch_size=5)
        attacked = []
        for inputs, target in loader:
            inputs.requires_grad = True
            loss = lib.nn.functional.nll_loss(model(inputs), target)
            model.zero_grad()
            loss.backward()
            perturbed = lib.clamp(inputs + 0.1 * inputs.grad.sign(), 0, 1)
            prediction = model(perturbed).argmax(1)
            attacked.append((_numpy(perturbed), _numpy(prediction), (prediction == target).sum().item()))
        results.append((_numpy(out), attacked))
    np.testing.assert_allclose(results[1][0], results[0][0], **F32)
    for (pg, cg, ng), (pt, ct, nt) in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(pg, pt, **F32)
        np.testing.assert_array_equal(cg, ct)
        assert ng == nt


def test_clip_grad_norm_and_value():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5), None]
    for norm_type in (2.0, 1.0, math.inf, 0.5):
        for max_norm in (0.1, 100.0):
            results = []
            for lib in LIBS:
                params = [lib.zeros(*shape, dtype=lib.float64, requires_grad=True) for shape in ((3, 4), (5,), (2,))]
                for p, g in zip(params, grads, strict=True):
                    if g is not None:
                        p.grad = lib.tensor(g)
                total = lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
                lib.nn.utils.clip_grad_value_(params[1:], 0.05)
                results.append((float(total), _numpy(params[0].grad), _numpy(params[1].grad), params[2].grad))
            for a, b in zip(results[1][:3], results[0][:3], strict=True):
                np.testing.assert_allclose(a, b, **F64)
            assert results[1][3] is None and results[0][3] is None


# ------------------------------------------------------------------ 21-22: data
def test_tensor_dataset_loader_random_split_and_subset():
    X, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    for lib in LIBS:
        data = _data(lib)
        ds = data.TensorDataset(lib.tensor(X), lib.tensor(y))
        sample = ds[3]
        assert isinstance(sample, tuple) and tuple(sample[0].shape) == (2,) and tuple(sample[1].shape) == ()
        if lib is torch:
            a, b = data.random_split(ds, [0.7, 0.3], generator=torch.Generator().manual_seed(0))
            loader = data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True,
                                     generator=torch.Generator().manual_seed(0))
        else:
            a, b = data.random_split(ds, [0.7, 0.3], generator=np.random.default_rng(0))
            loader = data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True,
                                     generator=np.random.default_rng(0))
        assert (len(a), len(b), type(a).__name__, len(loader)) == (7, 3, "Subset", 2)
        assert sorted(int(i) for i in a.indices + b.indices) == list(range(10))
        seen = []
        for xb, yb in loader:
            assert tuple(xb.shape) == (4, 2) and tuple(yb.shape) == (4,) and str(yb.dtype).endswith("int64")
            np.testing.assert_array_equal(_numpy(xb)[:, 0], 2 * _numpy(yb))  # rows stay together
            seen += _numpy(yb).tolist()
        assert len(set(seen)) == 8
        sub = data.Subset(ds, [0, 2, -1])
        assert len(sub) == 3 and sub[2][1].item() == 9
        assert len(data.ConcatDataset([a, b])) == 10


def test_collate_of_dict_samples():
    def program(lib):
        data = _data(lib)

        class Records(data.Dataset):
            def __len__(self):
                return 5

            def __getitem__(self, i):
                return {"x": lib.tensor([float(i), 1.0]), "y": i, "name": f"s{i}",
                        "pixels": np.full(3, i, dtype=np.uint8), "w": np.float64(0.5)}

        batches = list(data.DataLoader(Records(), batch_size=2))
        first = batches[0]
        return [len(batches), first["name"], _numpy(first["x"]), _numpy(first["y"]), _numpy(first["pixels"]),
                _numpy(first["w"]), {k: str(v.dtype) for k, v in first.items() if k != "name"}]

    t, g = program(torch), program(gk)
    assert g[:2] == t[:2]
    for a, b in zip(g[2:6], t[2:6], strict=True):
        np.testing.assert_array_equal(a, b)
    assert g[6] == {k: v.removeprefix("torch.") for k, v in t[6].items()}


# ------------------------------------------------------------------ 23-24: losses on edge inputs
def _loss_pair(make, *arrays, grad_of=(0,)):
    """The loss made by ``make(lib)`` on ``arrays`` in both libraries: values and input gradients."""
    out = []
    for lib in LIBS:
        tensors = [lib.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
        loss = make(lib)(*tensors)
        loss.sum().backward()
        out.append((_numpy(loss), [_numpy(tensors[i].grad) for i in grad_of]))
    (vt, gt), (vg, gg) = out
    np.testing.assert_allclose(vg, vt, equal_nan=True, **F64)
    for a, b in zip(gg, gt, strict=True):
        np.testing.assert_allclose(a, b, **F64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_pos_weight_and_nll_weight_ignore_index(reduction):
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((6, 4)), (rng.random((6, 4)) > 0.5).astype(np.float64)
    pos_weight, weight = np.array([1.0, 2.0, 0.5, 3.0]), np.array([1.0, 0.5, 2.0, 0.1])
    _loss_pair(lambda lib: lambda a, b: lib.nn.BCEWithLogitsLoss(weight=lib.tensor(weight), pos_weight=lib.tensor(
        pos_weight), reduction=reduction)(a, b), x, target)
    _loss_pair(lambda lib: lambda a, b: lib.nn.functional.binary_cross_entropy_with_logits(
        a, b, pos_weight=lib.tensor(pos_weight), reduction=reduction), rng.standard_normal((2, 3, 4)),
        (rng.random((2, 3, 4)) > 0.5) * 1.0)
    log_probs = x - np.log(np.exp(x).sum(1, keepdims=True))
    labels = np.array([0, 3, -100, 2, 1, 3])
    _loss_pair(lambda lib: lambda a, b: lib.nn.NLLLoss(weight=lib.tensor(weight), reduction=reduction)(a, b),
               log_probs, labels)
    _loss_pair(lambda lib: lambda a, b: lib.nn.NLLLoss(weight=lib.tensor(weight), ignore_index=3,
                                                       reduction=reduction)(a, b), log_probs, np.abs(labels) % 4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_kl_div_log_target_huber_and_smooth_l1(reduction):
    rng = np.random.default_rng(1)
    x, weight = rng.standard_normal((6, 4)), np.array([1.0, 0.5, 2.0, 0.1])
    labels = np.array([0, 3, -100, 2, 1, 3])
    _loss_pair(lambda lib: lambda a, b: lib.nn.CrossEntropyLoss(weight=lib.tensor(weight), label_smoothing=0.1,
                                                                reduction=reduction)(a, b), x, labels)
    soft = np.exp(x[::-1]) / np.exp(x[::-1]).sum(1, keepdims=True)
    _loss_pair(lambda lib: lambda a, b: lib.nn.CrossEntropyLoss(label_smoothing=0.2, reduction=reduction)(a, b),
               x, soft)
    x3, l3 = rng.standard_normal((2, 4, 5)), rng.integers(0, 4, (2, 5))
    l3[0, 1] = -100
    _loss_pair(lambda lib: lambda a, b: lib.nn.CrossEntropyLoss(weight=lib.tensor(weight), label_smoothing=0.05,
                                                                reduction=reduction)(a, b), x3, l3)
    log_p = x - np.log(np.exp(x).sum(1, keepdims=True))
    log_q = log_p[::-1].copy()
    kl = "batchmean" if reduction == "mean" else reduction
    for log_target in (False, True):
        _loss_pair(lambda lib, lt=log_target: lambda a, b: lib.nn.KLDivLoss(reduction=kl, log_target=lt)(a, b),
                   log_p, log_q if log_target else np.exp(log_q))
    y = rng.standard_normal((6, 4)) * 2
    for threshold in (0.5, 1.0, 2.5):
        _loss_pair(lambda lib, d=threshold: lambda a, b: lib.nn.HuberLoss(reduction=reduction, delta=d)(a, b), x, y)
        _loss_pair(lambda lib, b_=threshold: lambda a, b: lib.nn.SmoothL1Loss(reduction=reduction, beta=b_)(a, b),
                   x, y)


def test_every_target_ignored_gives_nan_mean():
    for lib in LIBS:
        logits = lib.zeros(3, 4, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(logits, lib.tensor([-100, -100, -100]))
        assert math.isnan(loss.item())


# ------------------------------------------------------------------ 25: embeddings and a tied language model
def _language_model(lib):
    nn = lib.nn

    class TinyLM(nn.Module):
        def __init__(self, vocab=11, dim=6):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim, padding_idx=0)
            self.norm = nn.LayerNorm(dim)
            self.proj = nn.Linear(dim, dim)
            self.dec = nn.Linear(dim, vocab)
            self.dec.weight = self.emb.weight  # weight tying

        def forward(self, idx):
            return self.dec(lib.tanh(self.proj(self.norm(self.emb(idx)))))

    return TinyLM()


def test_embedding_padding_idx_layernorm_and_weight_tying():
    idx = np.array([[1, 2, 0, 5], [0, 0, 3, 10]])
    target = np.array([[2, 0, 5, 1], [0, 3, 10, 4]])
    torch.manual_seed(0)
    tm, gm = _language_model(torch), _language_model(gk)
    assert list(gm.state_dict()) == list(tm.state_dict())  # both names of the tied weight are saved
    assert [n for n, _ in gm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    _same_weights(tm, gm)
    assert gm.dec.weight is gm.emb.weight and repr(gm.emb) == repr(tm.emb) == "Embedding(11, 6, padding_idx=0)"
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        optimizer = lib.optim.Adam(model.parameters(), lr=0.05)
        losses, first_grad = [], None
        for _ in range(5):
            optimizer.zero_grad()
            logits = model(lib.tensor(idx))
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, 11), lib.tensor(target).reshape(-1),
                                                   ignore_index=0)
            loss.backward()
            if first_grad is None:  # padding row: only the decoder's share (the embedding's is dropped)
                first_grad = _numpy(model.emb.weight.grad).copy()
            optimizer.step()
            losses.append(loss.item())
        results.append((losses, first_grad, _numpy(model.emb.weight)))
    for a, b in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
