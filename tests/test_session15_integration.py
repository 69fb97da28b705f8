"""Session 15's additions together, in realistic training scripts.

1. An MLP on `StackDataset` dict samples: weight_norm on every Linear, AdamW, `get_total_norm` +
   `clip_grads_with_norm_`, an optimizer step post-hook logging the lr, an EMA `AveragedModel`, CosineAnnealingLR
   then SWALR, SWA with `update_bn`; a checkpoint (`gk.save`) resumed into fresh objects built with
   `Module.to_empty` + `load_state_dict(assign=True)` continues exactly as an uninterrupted run.
2. A GAN-style discriminator with spectral_norm (Conv2d and Linear), two optimizers, module/tensor/backward hooks
   removed mid-run, one spectral norm removed mid-run.
3. A NumPy analysis script ported by replacing `np` with `gk` (polyfit/polyval, pad reflect/mean, cumulative_sum,
   isin/logical_and/where masks, tril_indices, unwrap), differentiated with `gk.grad`, checked against NumPy's
   values and finite differences.
4. `gk.trace` of a two-layer network with a parametrized weight.

The reference numbers below were produced by the same scripts in PyTorch 2.14 (from gradkit's initial weights and
batches); where PyTorch is installed the CPU runs also compare against it directly.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

nn, F = gk.nn, gk.nn.functional
swa = gk.optim.swa_utils
parametrizations = gk.nn.utils.parametrizations


def on_device(module, device):
    return all(str(p.device).startswith(device) for p in module.parameters())


# ------------------------------------------------------------------ 1. MLP, weight_norm, SWA/EMA, resume
EPOCHS, SWA_START, CKPT_EPOCH = 8, 5, 6


def _mlp_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 4)).astype(np.float32)
    Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, Y


def _mlp(device):
    gk.manual_seed(0)
    # BatchNorm after the ReLU: a Linear bias (and weight_norm's g) right before a BatchNorm has no gradient but
    # rounding noise, which Adam magnifies into steps that no two libraries share.
    # Made on the CPU, then moved: every device starts from the same weights (a GPU's generator draws others).
    with gk.device("cpu"):
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 3))
        for m in model:
            if isinstance(m, nn.Linear):
                parametrizations.weight_norm(m)
    return model.to(device)


def _mlp_loaders(device):
    X, Y = _mlp_data()
    ds = gk.data.StackDataset(x=gk.tensor(X, device=device), y=gk.tensor(Y, device=device))
    train = gk.data.DataLoader(ds, batch_size=16, shuffle=True, seed=1)
    bn_loader = gk.data.DataLoader(gk.data.TensorDataset(gk.tensor(X, device=device)), batch_size=16)
    return train, bn_loader


class _MLPRun:
    def __init__(self, device, model=None):
        self.model = model if model is not None else _mlp(device)
        self.opt = gk.optim.AdamW(self.model.parameters(), lr=1e-2, weight_decay=1e-2)
        self.ema = swa.AveragedModel(self.model, multi_avg_fn=swa.get_ema_multi_avg_fn(0.9))
        self.swa_model = swa.AveragedModel(self.model)
        self.cos = gk.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=SWA_START)
        self.swalr = swa.SWALR(self.opt, swa_lr=5e-3, anneal_epochs=2)
        self.train, self.bn_loader = _mlp_loaders(device)
        self.log = {"loss": [], "norm": [], "lr": []}
        self.opt.register_step_post_hook(lambda o, args, kwargs: self.log["lr"].append(o.param_groups[0]["lr"]))

    def epochs(self, first, last):
        for epoch in range(first, last):
            self.train.set_epoch(epoch)
            for batch in self.train:
                assert isinstance(batch, dict) and set(batch) == {"x", "y"}
                self.opt.zero_grad()
                loss = F.cross_entropy(self.model(batch["x"]), batch["y"])
                loss.backward()
                total = gk.nn.utils.get_total_norm([p.grad for p in self.model.parameters()])
                gk.nn.utils.clip_grads_with_norm_(self.model.parameters(), 0.5, total)
                self.opt.step()
                self.ema.update_parameters(self.model)
                self.log["loss"].append(loss.item())
                self.log["norm"].append(total.item())
            if epoch >= SWA_START:
                self.swa_model.update_parameters(self.model)
                self.swalr.step()
            else:
                self.cos.step()

    def finish(self):
        swa.update_bn(self.bn_loader, self.swa_model)

    def state(self):
        out = {k: v.numpy().copy() for k, v in self.model.state_dict().items()}
        out.update({"ema." + k: v.numpy().copy() for k, v in self.ema.state_dict().items()})
        out.update({"swa." + k: v.numpy().copy() for k, v in self.swa_model.state_dict().items()})
        return out

    def checkpoint(self):
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "ema": self.ema.state_dict(),
            "swa": self.swa_model.state_dict(),
            "cos": self.cos.state_dict(),
            "swalr": self.swalr.state_dict(),
        }

    @classmethod
    def resume(cls, ck, device):
        model = _mlp("cpu").to_empty(device=device)
        assert all(float(abs(p).sum().item()) == 0 for p in model.parameters())
        model.load_state_dict(ck["model"], assign=True)
        run = cls(device, model)
        run.opt.load_state_dict(ck["opt"])
        run.ema.load_state_dict(ck["ema"])
        run.swa_model.load_state_dict(ck["swa"])
        run.cos.load_state_dict(ck["cos"])
        run.swalr.load_state_dict(ck["swalr"])
        return run


def _mlp_uninterrupted(device):
    run = _MLPRun(device)
    run.epochs(0, EPOCHS)
    run.finish()
    return run


def test_mlp_weight_norm_ema_swa_checkpoint_resumes_exactly(device, tmp_path):
    pytest.importorskip("safetensors")
    whole = _mlp_uninterrupted(device)
    assert on_device(whole.model, device) and on_device(whole.swa_model, device)
    # PyTorch's losses (every 5th step of 24) and lrs: cosine to 0 over 5 epochs, then SWALR up to 5e-3
    np.testing.assert_allclose(
        whole.log["loss"][::5], [1.23917091, 0.87809086, 0.87227547, 0.76886106, 0.73089844], rtol=1e-4
    )
    lrs = whole.log["lr"][::3]
    np.testing.assert_allclose(
        lrs, [0.01, 0.009045085, 0.006545085, 0.003454915, 0.000954915, 0.0, 0.0025, 0.005], atol=1e-12
    )
    assert int(whole.ema.n_averaged.item()) == 24 and int(whole.swa_model.n_averaged.item()) == EPOCHS - SWA_START

    first = _MLPRun(device)
    first.epochs(0, CKPT_EPOCH)
    path = tmp_path / "ck.safetensors"
    gk.save(first.checkpoint(), path)
    log = first.log
    del first
    second = _MLPRun.resume(gk.load(path, device=device), device)
    assert on_device(second.model, device)
    second.log = {k: log[k] + second.log[k] for k in log}
    second.epochs(CKPT_EPOCH, EPOCHS)
    second.finish()
    assert second.log == whole.log
    a, b = whole.state(), second.state()
    assert a.keys() == b.keys() and "0.parametrizations.weight.original0" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # update_bn recomputed the SWA model's statistics from the data, not the training run's EMA of them
    assert not np.allclose(a["swa.module.2.running_mean"], a["2.running_mean"])


def test_mlp_script_matches_pytorch(device):
    if device != "cpu":
        pytest.skip("PyTorch on the CPU only")
    torch = pytest.importorskip("torch")
    ours = _mlp_uninterrupted("cpu")
    tnn = torch.nn
    model = tnn.Sequential(tnn.Linear(4, 16), tnn.ReLU(), tnn.BatchNorm1d(16), tnn.Linear(16, 3))
    for m in model:
        if isinstance(m, tnn.Linear):
            tnn.utils.parametrizations.weight_norm(m)
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in _mlp("cpu").state_dict().items()})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=SWA_START)
    swalr = torch.optim.swa_utils.SWALR(opt, swa_lr=5e-3, anneal_epochs=2)
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.9))
    swa_model = torch.optim.swa_utils.AveragedModel(model)
    log = {"loss": [], "norm": [], "lr": []}
    opt.register_step_post_hook(lambda o, a, k: log["lr"].append(o.param_groups[0]["lr"]))
    train, _ = _mlp_loaders("cpu")  # gradkit's batches, in gradkit's order
    for epoch in range(EPOCHS):
        train.set_epoch(epoch)
        for batch in train:
            x, y = (torch.from_numpy(batch[k].numpy().copy()) for k in ("x", "y"))
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            total = tnn.utils.get_total_norm([p.grad for p in model.parameters()])
            tnn.utils.clip_grads_with_norm_(model.parameters(), 0.5, total)
            opt.step()
            ema.update_parameters(model)
            log["loss"].append(loss.item())
            log["norm"].append(total.item())
        if epoch >= SWA_START:
            swa_model.update_parameters(model)
            swalr.step()
        else:
            cos.step()
    X, _ = _mlp_data()
    torch.optim.swa_utils.update_bn(
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X)), batch_size=16), swa_model
    )
    np.testing.assert_allclose(ours.log["loss"], log["loss"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(ours.log["norm"], log["norm"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(ours.log["lr"], log["lr"], rtol=1e-12)
    theirs = {k: v.numpy() for k, v in model.state_dict().items()}
    theirs.update({"ema." + k: v.numpy() for k, v in ema.state_dict().items()})
    theirs.update({"swa." + k: v.numpy() for k, v in swa_model.state_dict().items()})
    mine = ours.state()
    assert sorted(mine) == sorted(theirs)
    for k, v in theirs.items():
        np.testing.assert_allclose(mine[k], v, rtol=1e-5, atol=1e-5, err_msg=k)


# ------------------------------------------------------------------ 2. spectral-norm GAN
GAN_STEPS, REMOVE_AT = 6, 3


def _gan(device):
    gk.manual_seed(0)
    sn = parametrizations.spectral_norm
    with gk.device("cpu"):  # the same weights and power-iteration vectors on every device
        D = nn.Sequential(
            sn(nn.Conv2d(1, 4, 3, stride=2, padding=1)), nn.LeakyReLU(0.2), nn.Flatten(), sn(nn.Linear(4 * 4 * 4, 1))
        )
        G = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    return D.to(device), G.to(device)


def _gan_batches():
    rng = np.random.default_rng(1)
    for _ in range(GAN_STEPS):
        real = np.tanh(rng.standard_normal((6, 1, 8, 8))).astype(np.float32)
        z = rng.standard_normal((6, 8)).astype(np.float32)
        yield real, z


def _gan_train(D, G, lib, as_tensor):
    """The training loop, written once for gradkit and PyTorch (`lib`)."""
    Fl = lib.nn.functional
    optD = lib.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optG = lib.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    log = {"d": [], "g": [], "fwd": 0, "bwd": [], "sigma": []}

    def fwd_hook(module, args, out):
        log["fwd"] += 1

    def bwd_hook(module, grad_input, grad_output):
        log["bwd"].append(grad_output[0].abs().sum().item())
        return (grad_input[0] * 0.5,)  # halves what reaches the generator through D's head

    handles = [D[0].register_forward_hook(fwd_hook), D[3].register_full_backward_hook(bwd_hook)]
    for step, (real, z) in enumerate(_gan_batches()):
        if step == REMOVE_AT:
            for h in handles:
                h.remove()
        if step == REMOVE_AT + 1:  # drop D[0]'s spectral norm; the optimizer keeps the same parameter object
            kept = D[0].parametrizations.weight.original
            lib.nn.utils.parametrize.remove_parametrizations(D[0], "weight")
            assert D[0].weight is kept
        real, z = as_tensor(real), as_tensor(z)
        fake = G(z)
        optD.zero_grad()
        d_loss = Fl.relu(1 - D(real)).mean() + Fl.relu(1 + D(fake.detach())).mean()  # hinge loss
        d_loss.backward()
        optD.step()
        optG.zero_grad()
        out = D(fake)
        if step < REMOVE_AT:
            h = fake.register_hook(lambda g: g * 2.0)
        g_loss = -out.mean()
        g_loss.backward()
        if step < REMOVE_AT:
            h.remove()
        optG.step()
        log["d"].append(d_loss.item())
        log["g"].append(g_loss.item())
        with lib.no_grad():
            log["sigma"].append(lib.linalg.matrix_norm(D[3].weight, ord=2).item())
    D.eval()
    with lib.no_grad():
        log["eval"] = D(as_tensor(next(_gan_batches())[0])).detach().cpu().numpy().ravel().tolist()
    return log


def test_spectral_norm_gan_two_optimizers_hooks_removed_mid_run(device):
    D, G = _gan(device)
    log = _gan_train(D, G, gk, lambda a: gk.tensor(a, device=device))
    assert on_device(D, device) and on_device(G, device)
    assert log["fwd"] == 3 * REMOVE_AT and len(log["bwd"]) == 3 * REMOVE_AT  # real, fake.detach(), fake
    np.testing.assert_allclose(log["sigma"], 1.0, rtol=2e-2)  # one power step per access keeps it near 1
    assert [n for n, _ in D[0].named_parameters()] == ["bias", "weight"]
    assert "parametrizations.weight.0._u" in D[3].state_dict()
    # PyTorch's numbers for the same run
    np.testing.assert_allclose(
        log["d"], [1.89477074, 1.8112154, 1.82824492, 1.63579822, 2.26503158, 1.89441776], rtol=1e-4
    )
    np.testing.assert_allclose(
        log["g"], [0.16318844, 0.20319496, 0.12447644, 0.12017902, -0.01385951, 0.18412656], rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        log["eval"], [0.17737246, -0.08651033, 0.02536332, 0.36933175, -0.3698183, -0.07004889], rtol=1e-4, atol=1e-6
    )


def test_spectral_norm_gan_matches_pytorch(device):
    if device != "cpu":
        pytest.skip("PyTorch on the CPU only")
    torch = pytest.importorskip("torch")
    gD, gG = _gan("cpu")
    tsn = torch.nn.utils.parametrizations.spectral_norm
    D = torch.nn.Sequential(
        tsn(torch.nn.Conv2d(1, 4, 3, stride=2, padding=1)),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(),
        tsn(torch.nn.Linear(4 * 4 * 4, 1)),
    )
    G = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))
    for theirs, ours in ((D, gD), (G, gG)):
        theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    tlog = _gan_train(D, G, torch, torch.from_numpy)
    glog = _gan_train(gD, gG, gk, lambda a: gk.tensor(a, device="cpu"))
    for k in ("d", "g", "sigma", "bwd", "eval"):
        np.testing.assert_allclose(glog[k], tlog[k], rtol=1e-4, atol=1e-5, err_msg=k)
    for theirs, ours in ((D, gD), (G, gG)):
        mine = ours.state_dict()
        assert sorted(mine) == sorted(theirs.state_dict())
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(mine[k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


# ------------------------------------------------------------------ 3. a NumPy script ported to gk
N = 12


def _analysis(xp, y, x, idx, omega):
    """Written against NumPy's API; xp is numpy or gradkit."""
    p = xp.polyfit(x, y, 3)  # cubic trend
    resid = y - xp.polyval(p, x)
    cs = xp.cumulative_sum(xp.pad(resid, 2, mode="reflect"), include_initial=True)
    smooth = (cs[5:] - cs[:-5]) / 5.0  # a centred moving average
    edge = xp.pad(resid[:4], (1, 2), mode="mean")
    mask = xp.logical_and(xp.abs(resid) < 0.5, ~xp.isin(idx, [3, 7]))
    robust = xp.where(mask, resid**2, 0.0).sum()
    i, j = xp.tril_indices(N, k=-1)  # pairwise smoothness penalty
    pair = ((smooth[i] - smooth[j]) ** 2 * xp.exp(-((x[i] - x[j]) ** 2))).sum()
    wrapped = xp.arctan2(xp.sin(omega * x + 0.3 * y), xp.cos(omega * x + 0.3 * y))
    slope = xp.polyfit(x, xp.unwrap(wrapped), 1)[0]
    return robust + 0.1 * pair + slope + 0.01 * (edge**2).sum()


def test_numpy_script_ported_to_gradkit_gradients_match_finite_differences(device):
    if not hasattr(np, "cumulative_sum"):
        pytest.skip("the NumPy reference uses cumulative_sum (NumPy 2.1+)")
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 3.0, N)
    y = np.sin(2 * x) + 0.3 * rng.standard_normal(N)
    idx, omega = np.arange(N), 4.0
    wrapped = np.arctan2(np.sin(omega * x + 0.3 * y), np.cos(omega * x + 0.3 * y))
    assert np.ptp(np.unwrap(wrapped)) > 2 * np.pi  # the phase does wrap
    ref = _analysis(np, y, x, idx, omega)
    xt, yt, it = (gk.tensor(a, device=device) for a in (x, y, idx))
    # tril_indices (as NumPy's, no device argument) makes its indices on the default device: the port runs
    # inside `with gk.device(...)` (indexing a tensor with indices from another device is a DeviceError)
    with gk.device(device):
        val = _analysis(gk, yt, xt, it, omega)
        gy, gx = gk.grad(lambda yy, xx: _analysis(gk, yy, xx, it, omega), argnums=(0, 1))(yt, xt)
    assert val.dtype == gk.float64 and str(val.device).startswith(device)
    assert str(gy.device).startswith(device) and str(gx.device).startswith(device)
    np.testing.assert_allclose(val.item(), ref, rtol=1e-10)
    h = 1e-6  # the masks do not change within h of this point
    for grad, shift in ((gy, lambda e: (y + h * e, x)), (gx, lambda e: (y, x + h * e))):
        fd = [
            (_analysis(np, *shift(e), idx, omega) - _analysis(np, *shift(-e), idx, omega)) / (2 * h) for e in np.eye(N)
        ]
        np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 4. gk.trace with a parametrized weight
class _Symmetric(nn.Module):
    def forward(self, w):
        return (w + w.T) / 2


def test_trace_of_a_two_layer_net_with_a_parametrized_weight(device):
    gk.manual_seed(0)
    with gk.device("cpu"):  # the same weights on every device
        net = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
    gk.nn.utils.parametrize.register_parametrization(net[0], "weight", _Symmetric())
    net.to(device)
    x = gk.tensor([[0.5, -1.0], [2.0, 0.25]], device=device)
    t = gk.tensor([[1.0], [0.0]], device=device)
    tr = gk.trace(lambda xx: F.mse_loss(net(xx), t), x)
    text = str(tr)
    rows = [line.split("|")[0].strip() for line in text.splitlines()]
    assert rows[2:6] == [
        "v0 = x1 = (2, 2) [0.5, -1, 2, ...]",
        "v1 = w1^T = (2, 2) [0.4959, 0.0157, 0.1937, ...]",
        "v2 = w1 + v1 = (2, 2) [0.9917, 0.2094, 0.2094, ...]",
        "v3 = v2 / 2 = (2, 2) [0.4959, 0.1047, 0.1047, ...]",
    ]
    assert "v4 = v0 @ v3^T + w2" in text and "v5 = tanh v4" in text
    assert "x~1 = v~0 = v~4 @ v3" in text and "v~4 = v~5 * (1 - v5^2)" in text
    for k in (1, 2, 3):  # the symmetrised weight is made from parameters only
        assert f"v~{k}: not computed (made from no input)" in text
    assert "c1 = (2, 1) [1, 0]: a constant" in text
    xg = x.detach().clone().requires_grad_(True)
    loss = F.mse_loss(net(xg), t)
    loss.backward()
    np.testing.assert_allclose(float(np.asarray(tr.value)), loss.item(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(tr.grads[0]), xg.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(np.asarray(tr.value)), 0.8529, atol=1e-4)

    # the original weight passed in as an argument (functional_call) gets its own adjoint row
    W = net[0].parametrizations.weight.original.detach().clone()
    tr2 = gk.trace(
        lambda xx, w: gk.func.functional_call(net, {"0.parametrizations.weight.original": w}, (xx,)).sum(), x, W
    )
    assert "x~2 = v~0 = v~1^T + v~2" in str(tr2)
    Wg = W.clone().requires_grad_(True)
    gk.func.functional_call(net, {"0.parametrizations.weight.original": Wg}, (x,)).sum().backward()
    np.testing.assert_allclose(np.asarray(tr2.grads[1]), Wg.grad.numpy(), rtol=1e-5, atol=1e-7)
