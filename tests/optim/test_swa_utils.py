"""gk.optim.swa_utils: AveragedModel (SWA and EMA averages in closed form, buffers, state dicts with PyTorch's
keys, no graph and no host reads per update), the averaging functions, SWALR's learning rates worked out by
hand, update_bn against the batch statistics computed here, a short SWA training run, argument errors, and
(where torch is installed) PyTorch's own swa_utils, number for number."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from nn._host_reads import refuse_host_reads

import gradkit as gk
from gradkit import nn, optim
from gradkit.data import DataLoader, TensorDataset
from gradkit.optim import swa_utils
from gradkit.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    get_swa_multi_avg_fn,
    update_bn,
)

# The values a 2 -> 1 Linear's weight and bias take before each update (float64, so sums are exact enough).
SNAPSHOTS = [np.array([[1.0, -2.0]]), np.array([[3.0, 0.5]]), np.array([[-1.0, 4.0]]), np.array([[2.5, 2.5]])]
BIASES = [np.array([0.5]), np.array([-1.5]), np.array([2.0]), np.array([0.0])]


def _linear(device: str) -> nn.Linear:
    return nn.Linear(2, 1, device=device, dtype="float64")


def _set(model: nn.Linear, i: int) -> None:
    model.weight._data[...] = model.weight._backend.asarray(SNAPSHOTS[i])
    model.bias._data[...] = model.bias._backend.asarray(BIASES[i])
    model.weight._version[0] += 1
    model.bias._version[0] += 1


def _np(t: gk.Tensor) -> np.ndarray:
    return t.numpy()


def _bn_model(device: str) -> nn.Sequential:
    gk.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4, device=device), nn.BatchNorm1d(4, device=device), nn.ReLU(),
                         nn.Linear(4, 2, device=device))


# ------------------------------------------------------------------ AveragedModel: the averages
def test_swa_is_the_equal_average_of_the_snapshots(device):
    model = _linear(device)
    swa = AveragedModel(model)
    assert swa.module is not model and swa.module.weight is not model.weight
    assert swa.n_averaged.device == model.weight.device and swa.n_averaged.dtype == gk.int64
    for k in range(len(SNAPSHOTS)):
        _set(model, k)
        swa.update_parameters(model)
        np.testing.assert_allclose(_np(swa.module.weight), np.mean(SNAPSHOTS[: k + 1], axis=0), rtol=1e-14)
        np.testing.assert_allclose(_np(swa.module.bias), np.mean(BIASES[: k + 1], axis=0), rtol=1e-14, atol=1e-15)
        assert int(swa.n_averaged.item()) == k + 1
    x = gk.tensor(np.array([[1.0, 2.0]]), device=device)
    np.testing.assert_allclose(_np(swa(x)), _np(swa.module(x)))  # forward calls the copy


@pytest.mark.parametrize("how", ["avg_fn", "multi_avg_fn"])
def test_the_swa_functions_give_the_default_average(device, how):
    model = _linear(device)
    swa = AveragedModel(model, **{how: get_swa_avg_fn() if how == "avg_fn" else get_swa_multi_avg_fn()})
    for k in range(len(SNAPSHOTS)):
        _set(model, k)
        swa.update_parameters(model)
    np.testing.assert_allclose(_np(swa.module.weight), np.mean(SNAPSHOTS, axis=0), rtol=1e-14)
    np.testing.assert_allclose(_np(swa.module.bias), np.mean(BIASES, axis=0), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("how", ["avg_fn", "multi_avg_fn"])
def test_ema_with_decay(device, how):
    decay = 0.75
    fn = get_ema_avg_fn(decay) if how == "avg_fn" else get_ema_multi_avg_fn(decay)
    model = _linear(device)
    ema = AveragedModel(model, **{how: fn})
    expected_w, expected_b = SNAPSHOTS[0], BIASES[0]  # the first update copies
    for k in range(len(SNAPSHOTS)):
        _set(model, k)
        ema.update_parameters(model)
        if k:
            expected_w = decay * expected_w + (1 - decay) * SNAPSHOTS[k]
            expected_b = decay * expected_b + (1 - decay) * BIASES[k]
        np.testing.assert_allclose(_np(ema.module.weight), expected_w, rtol=1e-14)
        np.testing.assert_allclose(_np(ema.module.bias), expected_b, rtol=1e-14, atol=1e-15)
    # closed form: decay^(k-1) * v0 + sum_{i>=1} (1 - decay) decay^(k-1-i) v_i
    k = len(SNAPSHOTS)
    closed = decay ** (k - 1) * SNAPSHOTS[0] + sum(
        (1 - decay) * decay ** (k - 1 - i) * SNAPSHOTS[i] for i in range(1, k))
    np.testing.assert_allclose(_np(ema.module.weight), closed, rtol=1e-14)


def test_custom_avg_fns_get_the_count_as_a_device_tensor(device):
    seen = []

    def avg_fn(averaged, current, n):
        seen.append((type(n), n.device, n.dtype, averaged.requires_grad, gk.is_grad_enabled()))
        return current * 2.0

    def multi_avg_fn(averaged, current, n):
        seen.append(("multi", len(averaged), n.device))
        for a, c in zip(averaged, current, strict=True):
            a._data[...] = c._data * 3.0

    model = _linear(device)
    swa = AveragedModel(model, avg_fn=avg_fn)
    swa.update_parameters(model)
    assert seen == []  # the first update only copies
    swa.update_parameters(model)
    assert seen == [(gk.Tensor, model.weight.device, gk.int64, False, False)] * 2
    np.testing.assert_allclose(_np(swa.module.weight), 2 * _np(model.weight))
    seen.clear()
    multi = AveragedModel(model, multi_avg_fn=multi_avg_fn)
    multi.update_parameters(model)
    multi.update_parameters(model)
    assert seen == [("multi", 2, model.weight.device)]  # one group: one device, one dtype
    np.testing.assert_allclose(_np(multi.module.bias), 3 * _np(model.bias))


def test_multi_avg_fns_on_tensors_and_arrays(device):
    a = [gk.tensor(np.array([1.0, 2.0]), device=device), gk.tensor(np.array([10, 20]), device=device)]
    b = [gk.tensor(np.array([3.0, -2.0]), device=device), gk.tensor(np.array([13, 27]), device=device)]
    versions = [t._version[0] for t in a]
    get_swa_multi_avg_fn()(a, b, 2)  # a + (b - a) / 3, integers truncated back
    np.testing.assert_allclose(_np(a[0]), [1 + 2 / 3, 2 - 4 / 3], rtol=1e-15)
    np.testing.assert_array_equal(_np(a[1]), [11, 22])
    assert [t._version[0] for t in a] == [v + 1 for v in versions]
    get_swa_multi_avg_fn()(a, b, gk.tensor(1, dtype=gk.int64, device=device))  # a device count: halfway
    np.testing.assert_allclose(_np(a[0]), [(1 + 2 / 3 + 3) / 2, (2 - 4 / 3 - 2) / 2], rtol=1e-15)
    np.testing.assert_array_equal(_np(a[1]), [12, 24])
    get_ema_multi_avg_fn(0.25)(a, b, None)
    np.testing.assert_allclose(_np(a[0]), 0.25 * np.array([(1 + 2 / 3 + 3) / 2, (2 - 4 / 3 - 2) / 2]) + 0.75 * np.array(
        [3.0, -2.0]), rtol=1e-15)
    np.testing.assert_array_equal(_np(a[1]), [12, 26])  # 0.25 * 12 + 0.75 * 13 = 12.75 -> 12
    arrays = [np.array([0.0, 4.0], dtype=np.float32)]
    get_ema_multi_avg_fn(0.5)(arrays, [np.array([2.0, 0.0], dtype=np.float32)], 0)
    np.testing.assert_array_equal(arrays[0], [1.0, 2.0])
    assert arrays[0].dtype == np.float32
    assert get_swa_avg_fn()(1.0, 4.0, 2) == 2.0
    assert get_ema_avg_fn(0.5)(1.0, 4.0, 7) == 2.5
    x = gk.tensor(np.array([1.0, 2.0], dtype=np.float32), device=device)
    y = get_swa_avg_fn()(x, x * 3, gk.tensor(1, dtype=gk.int64, device=device))
    assert y.dtype == gk.float32 and y.grad_fn is None  # a float32 average stays float32
    np.testing.assert_allclose(_np(y), [2.0, 4.0])


def test_parameters_only_copy_the_buffers_by_default(device):
    model = _bn_model(device)
    swa = AveragedModel(model)
    bn = swa.module[1]
    rng = np.random.default_rng(0)
    for _ in range(3):
        model(gk.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device))
        swa.update_parameters(model)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_array_equal(_np(getattr(bn, name)), _np(getattr(model[1], name)))
    assert int(bn.num_batches_tracked.item()) == 3


def test_use_buffers_averages_the_buffers_too(device):
    model = _bn_model(device)
    swa = AveragedModel(model, use_buffers=True)
    rng = np.random.default_rng(1)
    means, counts = [], []
    for _ in range(3):
        model(gk.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device))
        means.append(_np(model[1].running_mean).astype(np.float64))
        counts.append(int(model[1].num_batches_tracked.item()))
        swa.update_parameters(model)
    np.testing.assert_allclose(_np(swa.module[1].running_mean), np.mean(means, axis=0), rtol=1e-5, atol=1e-7)
    # an integer buffer is averaged and truncated back at each update, as PyTorch: 1, 1 + 1/2 -> 1, 1 + 2/3 -> 1
    assert counts == [1, 2, 3] and int(swa.module[1].num_batches_tracked.item()) == 1


def test_the_copy_is_independent_and_nothing_is_recorded(device):
    model = _linear(device)
    _set(model, 0)
    swa = AveragedModel(model)
    _set(model, 1)
    np.testing.assert_array_equal(_np(swa.module.weight), SNAPSHOTS[0])  # a deep copy, made at construction
    loss = (model(gk.tensor(np.ones((1, 2)), device=device)) ** 2).sum()
    loss.backward()
    grad = _np(model.weight.grad).copy()
    with gk.enable_grad():
        swa.update_parameters(model)
        swa.update_parameters(model)
    for p in swa.parameters():
        assert p.grad_fn is None and p.requires_grad and p.grad is None
    np.testing.assert_array_equal(_np(model.weight.grad), grad)
    np.testing.assert_array_equal(_np(model.weight), SNAPSHOTS[1])


def test_updates_read_nothing_from_the_device(device, monkeypatch):
    models = {}
    for name, kw in [("swa", {}), ("ema", {"multi_avg_fn": get_ema_multi_avg_fn(0.9)}),
                     ("swa_multi", {"multi_avg_fn": get_swa_multi_avg_fn()}),
                     ("swa_fn", {"avg_fn": get_swa_avg_fn()}), ("buffers", {"use_buffers": True})]:
        model = _bn_model(device)
        models[name] = (model, AveragedModel(model, **kw))
    x = gk.tensor(np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32), device=device)
    refuse_host_reads(device, monkeypatch)
    for model, averaged in models.values():
        for _ in range(3):
            model(x)
            averaged.update_parameters(model)
    monkeypatch.undo()
    for _, averaged in models.values():
        assert int(averaged.n_averaged.item()) == 3


# ------------------------------------------------------------------ AveragedModel: state dicts
def test_state_dict_keys_and_round_trip(device):
    model = _linear(device)
    swa = AveragedModel(model)
    assert list(swa.state_dict()) == ["n_averaged", "module.weight", "module.bias"]
    for k in range(3):
        _set(model, k)
        swa.update_parameters(model)
    state = swa.state_dict()
    other = AveragedModel(_linear(device))
    other.load_state_dict(state)
    assert int(other.n_averaged.item()) == 3
    _set(model, 3)
    other.update_parameters(model)  # the count came with the state dict: an average of four
    np.testing.assert_allclose(_np(other.module.weight), np.mean(SNAPSHOTS, axis=0), rtol=1e-14)
    assert int(other.n_averaged.item()) == 4
    fresh = AveragedModel(model)
    fresh.load_state_dict({**other.state_dict(), "n_averaged": gk.tensor(0, dtype=gk.int64)})
    _set(model, 2)
    fresh.update_parameters(model)  # n_averaged 0 again: the next update copies
    np.testing.assert_array_equal(_np(fresh.module.weight), SNAPSHOTS[2])
    clone = copy.deepcopy(other)
    _set(model, 0)
    clone.update_parameters(model)
    expected = (np.sum(SNAPSHOTS, axis=0) + SNAPSHOTS[0]) / 5
    np.testing.assert_allclose(_np(clone.module.weight), expected, rtol=1e-14)


# ------------------------------------------------------------------ SWALR
def _opt(lrs=(0.1, 0.03)) -> optim.SGD:
    return optim.SGD([{"params": [gk.ones(1, requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])


def _lr_run(sched: SWALR, opt: optim.SGD, epochs: int) -> list[list[float]]:
    seen = []
    for _ in range(epochs):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return seen


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_anneals_to_swa_lr(strategy):
    opt = _opt()
    sched = SWALR(opt, swa_lr=[0.05, 0.01], anneal_epochs=4, anneal_strategy=strategy)
    assert [g["swa_lr"] for g in opt.param_groups] == [0.05, 0.01]
    curve = (lambda t: (1 - math.cos(math.pi * t)) / 2) if strategy == "cos" else (lambda t: t)
    expected = [[swa + (base - swa) * (1 - curve(min(e, 4) / 4)) for base, swa in ((0.1, 0.05), (0.03, 0.01))]
                for e in range(8)]
    np.testing.assert_allclose(_lr_run(sched, opt, 8), expected, rtol=1e-12)
    assert sched.get_last_lr() == [0.05, 0.01]
    if strategy == "linear":
        np.testing.assert_allclose(expected[1], [0.0875, 0.025])  # a quarter of the way


def test_swalr_without_anneal_epochs_sets_swa_lr_at_once():
    opt = _opt()
    sched = SWALR(opt, swa_lr=0.05, anneal_epochs=0)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.05]
    assert _lr_run(sched, opt, 3) == [[0.05, 0.05]] * 3


def test_swalr_state_dict_round_trip():
    opt = _opt()
    sched = SWALR(opt, swa_lr=0.02, anneal_epochs=6, anneal_strategy="linear")
    _lr_run(sched, opt, 2)
    state = sched.state_dict()
    assert state["_anneal_strategy"] == "linear" and state["anneal_epochs"] == 6 and "optimizer" not in state
    rest = _lr_run(sched, opt, 6)
    opt2 = _opt(lrs=(0.7, 0.7))
    sched2 = SWALR(opt2, swa_lr=0.5, anneal_epochs=1, anneal_strategy="cos")
    for g, lr in zip(opt2.param_groups, (0.1, 0.03), strict=True):
        g["lr"] = 0.02 + (lr - 0.02) * (1 - 2 / 6)  # the lrs when the state was taken
        g["swa_lr"] = 0.02
    sched2.load_state_dict(state)
    assert sched2.anneal_func(0.5) == 0.5  # linear again
    np.testing.assert_allclose(_lr_run(sched2, opt2, 6), rest, rtol=1e-12)


# ------------------------------------------------------------------ update_bn
def test_update_bn_recomputes_the_statistics(device):
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((12, 3)) * [1.0, 2.0, 0.5] + [0.0, -1.0, 3.0]).astype(np.float32)
    bn = nn.BatchNorm1d(3, momentum=0.3, device=device)
    model = nn.Sequential(nn.Identity(), bn)
    model.eval()
    bn.running_mean._data[...] = 7.0  # stale statistics, which update_bn resets
    loader = DataLoader(TensorDataset(gk.tensor(data, device=device), gk.tensor(np.zeros(12), device=device)),
                        batch_size=4)
    update_bn(loader, model)
    batches = data.reshape(3, 4, 3).astype(np.float64)
    np.testing.assert_allclose(_np(bn.running_mean), batches.mean(axis=1).mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(bn.running_mean), data.mean(axis=0), rtol=1e-5, atol=1e-6)  # equal batches
    np.testing.assert_allclose(_np(bn.running_var), batches.var(axis=1, ddof=1).mean(axis=0), rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3
    assert bn.momentum == 0.3 and not model.training and not bn.training


def test_update_bn_takes_plain_batches_moves_them_and_restores_on_error(device):
    data = np.arange(12, dtype=np.float32).reshape(6, 2)
    bn = nn.BatchNorm1d(2, device=device)
    update_bn([gk.tensor(data[:3]), gk.tensor(data[3:])], bn, device=device)  # CPU batches moved to the device
    np.testing.assert_allclose(_np(bn.running_mean), data.mean(axis=0))
    assert bn.training and bn.momentum == 0.1

    def failing():
        yield gk.tensor(data, device=device)
        raise RuntimeError("loader failed")

    bn.eval()
    with pytest.raises(RuntimeError, match="loader failed"):
        update_bn(failing(), bn)
    assert bn.momentum == 0.1 and not bn.training
    plain = _linear(device)
    before = _np(plain.weight).copy()
    update_bn(iter([]), plain)  # no BatchNorm: nothing to do
    np.testing.assert_array_equal(_np(plain.weight), before)


# ------------------------------------------------------------------ a short SWA run
def test_swa_training_loop_on_a_small_mlp(device):
    gk.manual_seed(0)
    rng = np.random.default_rng(4)
    x = gk.tensor(rng.standard_normal((32, 4)).astype(np.float32), device=device)
    y = gk.tensor((rng.standard_normal((32, 1)) > 0).astype(np.float32), device=device)
    model = nn.Sequential(nn.Linear(4, 8, device=device), nn.BatchNorm1d(8, device=device), nn.Tanh(),
                          nn.Linear(8, 1, device=device))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    swa_model = AveragedModel(model)
    swa_sched = SWALR(opt, swa_lr=0.05, anneal_epochs=2)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    snapshots = []
    for epoch in range(6):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
        if epoch >= 2:
            swa_model.update_parameters(model)
            snapshots.append([_np(p).astype(np.float64) for p in model.parameters()])
            swa_sched.step()
    assert int(swa_model.n_averaged.item()) == 4
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    for i, p in enumerate(swa_model.module.parameters()):
        np.testing.assert_allclose(_np(p), np.mean([s[i] for s in snapshots], axis=0), rtol=1e-5, atol=1e-6)
    update_bn(loader, swa_model)
    swa_model.eval()
    loss = nn.functional.mse_loss(swa_model(x), y)
    assert np.isfinite(loss.item()) and loss.grad_fn is not None


# ------------------------------------------------------------------ argument errors
def test_argument_errors():
    model = _linear("cpu")
    with pytest.raises(gk.InvalidArgumentError, match="AveragedModel.*not both"):
        AveragedModel(model, avg_fn=get_swa_avg_fn(), multi_avg_fn=get_swa_multi_avg_fn())
    with pytest.raises(gk.ArgumentTypeError, match="AveragedModel: model"):
        AveragedModel(object())
    with pytest.raises(gk.ArgumentTypeError, match="avg_fn"):
        AveragedModel(model, avg_fn=3)
    for getter in (get_ema_avg_fn, get_ema_multi_avg_fn):
        with pytest.raises(gk.InvalidArgumentError, match=f"{getter.__name__}: decay"):
            getter(-0.1)
        with pytest.raises(gk.InvalidArgumentError, match=f"{getter.__name__}: decay"):
            getter(1.5)
    swa = AveragedModel(model)
    with pytest.raises(gk.InvalidArgumentError, match="the averaged model has 2 parameters but the model has 1"):
        swa.update_parameters(nn.Linear(2, 1, bias=False))
    with pytest.raises(gk.ShapeError, match="update_parameters"):
        swa.update_parameters(nn.Linear(3, 1))
    with pytest.raises(gk.InvalidArgumentError, match="swa_update"):
        get_swa_multi_avg_fn()([gk.ones(2)], [], 1)
    with pytest.raises(gk.ShapeError, match="ema_update"):
        get_ema_multi_avg_fn()([gk.ones(2)], [gk.ones(3)], 1)
    opt = _opt()
    with pytest.raises(gk.InvalidArgumentError, match="SWALR: anneal_strategy"):
        SWALR(opt, swa_lr=0.1, anneal_strategy="cosine")
    with pytest.raises(gk.InvalidArgumentError, match="SWALR: expected one swa_lr per parameter group"):
        SWALR(opt, swa_lr=[0.1])
    with pytest.raises(gk.InvalidArgumentError, match="SWALR: anneal_epochs"):
        SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
    with pytest.raises(gk.InvalidArgumentError, match="SWALR: swa_lr"):
        SWALR(opt, swa_lr=-0.1)
    with pytest.raises(gk.ArgumentTypeError, match="SWALR: expected an optimiser"):
        SWALR(model, swa_lr=0.1)
    with pytest.raises(gk.InvalidArgumentError, match="SWALR: last_epoch=3"):
        SWALR(opt, swa_lr=0.1, last_epoch=3)
    assert all("swa_lr" not in g for g in opt.param_groups)  # a failed constructor leaves the groups alone
    with pytest.raises(gk.InvalidArgumentError, match="load_state_dict: _anneal_strategy"):
        SWALR(opt, swa_lr=0.1).load_state_dict({"_anneal_strategy": "step"})
    with pytest.raises(gk.ArgumentTypeError, match="update_bn: model"):
        update_bn([], object())
    assert gk.optim.swa_utils is swa_utils and "swa_utils" in gk.optim.__all__


# ------------------------------------------------------------------ PyTorch itself
def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    tsu = pytest.importorskip("torch.optim.swa_utils")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    gm = _bn_model("cpu")
    gm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(5)
    for kind in ("swa", "ema"):
        for use_buffers in (False, True):
            tkw = {"multi_avg_fn": tsu.get_ema_multi_avg_fn(0.8)} if kind == "ema" else {}
            gkw = {"multi_avg_fn": get_ema_multi_avg_fn(0.8)} if kind == "ema" else {}
            ta = tsu.AveragedModel(tm, use_buffers=use_buffers, **tkw)
            ga = AveragedModel(gm, use_buffers=use_buffers, **gkw)
            for _ in range(4):
                batch = rng.standard_normal((5, 3)).astype(np.float32)
                tm(torch.tensor(batch))
                gm(gk.tensor(batch, device="cpu"))
                for tp, gp in zip(tm.parameters(), gm.parameters(), strict=True):  # the same new weights
                    noise = rng.standard_normal(tuple(tp.shape)).astype(np.float32)
                    with torch.no_grad():
                        tp.add_(torch.tensor(noise))
                    gp._data += noise
                ta.update_parameters(tm)
                ga.update_parameters(gm)
            tsd, gsd = ta.state_dict(), ga.state_dict()
            assert list(tsd) == list(gsd)
            for key in tsd:
                np.testing.assert_allclose(_np(gsd[key]), tsd[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
            loaded = AveragedModel(_bn_model("cpu"), use_buffers=use_buffers, **gkw)
            loaded.load_state_dict(tsd)  # a PyTorch AveragedModel's state dict
            ta.update_parameters(tm)
            loaded.update_parameters(gm)
            for key, value in ta.state_dict().items():
                np.testing.assert_allclose(_np(loaded.state_dict()[key]), value.numpy(), rtol=1e-5, atol=1e-6)
    for strategy in ("cos", "linear"):
        topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        gopt = optim.SGD([gk.ones(1, requires_grad=True)], lr=0.1)
        ts = tsu.SWALR(topt, swa_lr=0.01, anneal_epochs=3, anneal_strategy=strategy)
        gs = SWALR(gopt, swa_lr=0.01, anneal_epochs=3, anneal_strategy=strategy)
        for _ in range(5):
            assert gopt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
            topt.step()
            ts.step()
            gopt.step()
            gs.step()
        gs.load_state_dict(ts.state_dict())  # PyTorch's SWALR state dict loads
        assert gs.state_dict()["_step_count"] == ts.state_dict()["_step_count"]
