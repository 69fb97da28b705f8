"""Review of gk.optim.swa_utils: the n_averaged count after writes of every kind, copies and state dicts;
integer buffers under an EMA truncating as PyTorch's; the default average's in-place arithmetic giving
PyTorch's numbers; averaged copies on another device, tied weights, non-persistent buffers, backward through
the copy; update_bn over a sequence-protocol loader; SWALR after CosineAnnealingLR (PyTorch 2.14's numbers)
and an older PyTorch SWALR state dict (with ``anneal_func``)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn, optim
from gradkit.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_multi_avg_fn,
    update_bn,
)


def _linear(device: str) -> nn.Linear:
    return nn.Linear(2, 1, device=device, dtype="float64")


def _set(model: nn.Linear, value: float) -> None:
    model.weight._data[...] = value
    model.weight._version[0] += 1


def _three(device: str) -> tuple[nn.Linear, AveragedModel]:
    """A model and its SWA copy after averaging weights 1, 2 and 3."""
    model = _linear(device)
    swa = AveragedModel(model)
    for value in (1.0, 2.0, 3.0):
        _set(model, value)
        swa.update_parameters(model)
    return model, swa


def _next(swa: AveragedModel, model: nn.Linear) -> tuple[int, float]:
    """Average weight 10 in; the count and the averaged weight after."""
    _set(model, 10.0)
    swa.update_parameters(model)
    return int(swa.n_averaged.item()), float(swa.module.weight.numpy().ravel()[0])


# ------------------------------------------------------------------ the count
@pytest.mark.parametrize("write", ["fill_", "zero_", "setitem", "copy_", "state_dict_view", "load", "load_assign",
                                   "setattr", "data_setter"])
def test_a_count_written_to_zero_makes_the_next_update_copy(device, write):
    model, swa = _three(device)
    zero = gk.tensor(0, dtype=gk.int64, device=device)
    if write == "fill_":
        swa.n_averaged.fill_(0)
    elif write == "zero_":
        swa.n_averaged.zero_()
    elif write == "setitem":
        swa.n_averaged[...] = 0
    elif write == "copy_":
        swa.n_averaged.copy_(zero)
    elif write == "state_dict_view":
        swa.state_dict()["n_averaged"].fill_(0)
    elif write in ("load", "load_assign"):
        swa.load_state_dict({**swa.state_dict(), "n_averaged": zero}, assign=write == "load_assign")
    elif write == "setattr":
        swa.n_averaged = zero
    else:
        swa.n_averaged.data = swa.n_averaged.data * 0
    assert _next(swa, model) == (1, 10.0)


def test_a_host_count_written_through_its_array_is_seen():
    model, swa = _three("cpu")
    swa.n_averaged.data[...] = 0  # no version counter records this; a host buffer is read at every update
    assert _next(swa, model) == (1, 10.0)
    model, swa = _three("cpu")
    np.asarray(swa.n_averaged)[...] = 1
    assert _next(swa, model) == (2, 6.0)  # (2 + 10) / 2


def test_the_count_survives_copies_moves_and_state_dicts(device):
    expected = (4, (1.0 + 2.0 + 3.0 + 10.0) / 4)
    for make in (copy.deepcopy, copy.copy, lambda s: pickle.loads(pickle.dumps(s)),
                 lambda s: s.to("cpu"), lambda s: s.to(device), lambda s: s.double()):
        model, swa = _three(device)
        other = make(swa)
        if other.module.weight.device != model.weight.device:
            model.to(other.module.weight.device)
        assert _next(other, model) == expected
    model, swa = _three(device)
    state = {k: v.clone() for k, v in swa.state_dict().items()}
    fresh = AveragedModel(_linear(device))
    fresh.load_state_dict(state)
    fresh.load_state_dict(state)  # twice: still three
    assert _next(fresh, model) == expected
    with gk.no_grad():
        model, swa = _three(device)
        assert _next(swa, model) == expected


def test_as_a_submodule_keys_and_count(device):
    class Holder(nn.Module):
        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.swa = AveragedModel(model)
            self.head = nn.Linear(1, 1, device=device, dtype="float64")

    model = _linear(device)
    holder = Holder(model)
    assert list(holder.state_dict()) == ["swa.n_averaged", "swa.module.weight", "swa.module.bias",
                                         "head.weight", "head.bias"]
    for value in (1.0, 2.0, 3.0):
        _set(model, value)
        holder.swa.update_parameters(model)
    other = Holder(_linear(device))
    other.load_state_dict({k: v.clone() for k, v in holder.state_dict().items()})
    assert _next(other.swa, model) == (4, 4.0)


# ------------------------------------------------------------------ the arithmetic
def test_the_default_average_is_pytorchs_formula_bit_for_bit(device):
    rng = np.random.default_rng(0)
    model = nn.Linear(64, 32, device=device)
    swa = AveragedModel(model)
    expected = None
    for n in range(5):
        values = rng.standard_normal((32, 64)).astype(np.float32)
        model.weight._data[...] = model.weight._backend.asarray(values)
        swa.update_parameters(model)
        expected = values.copy() if expected is None else expected + (values - expected) / (n + 1)
        np.testing.assert_array_equal(swa.module.weight.numpy(), expected)


def test_integer_emas_truncate_as_pytorch(device):
    # PyTorch computes int * decay in float32 (its default dtype), then truncates: PyTorch 2.14's numbers
    a = [gk.tensor(np.array([10, 0, 7, 3]), device=device)]
    get_ema_multi_avg_fn(0.9)(a, [gk.tensor(np.array([10, 10, 7, 3]), device=device)], None)
    np.testing.assert_array_equal(a[0].numpy(), [10, 1, 6, 2])  # float64 would give [10, 0, 7, 3]
    assert a[0].dtype == gk.int64
    out = get_ema_avg_fn(0.9)(gk.tensor(np.array([10, 0, 7, 3]), device=device),
                              gk.tensor(np.array([10, 10, 7, 3]), device=device))
    assert out.dtype == gk.float32
    np.testing.assert_array_equal(out.numpy(), np.array([10.0, 1.0, 6.9999995, 2.9999998], dtype=np.float32))
    # an EMA of a BatchNorm's count, with use_buffers: PyTorch's 3, 2, 2, 2 for a count that stays 3
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, device=device), nn.BatchNorm1d(4, device=device))
    for _ in range(3):
        model(gk.randn(5, 3, device=device))
    for kw in ({"multi_avg_fn": get_ema_multi_avg_fn(0.9)}, {"avg_fn": get_ema_avg_fn(0.9)}):
        ema = AveragedModel(model, use_buffers=True, **kw)
        counts = []
        for _ in range(4):
            ema.update_parameters(model)
            counts.append(int(ema.module[1].num_batches_tracked.item()))
        assert counts == [3, 2, 2, 2]


def test_swa_multi_avg_fn_in_place_matches_the_lerp(device):
    a = [gk.tensor(np.array([1.0, -2.0, 4.0]), device=device)]
    b = [gk.tensor(np.array([3.0, 5.0, -1.0]), device=device)]
    get_swa_multi_avg_fn()(a, b, gk.tensor(3, dtype=gk.int64, device=device))
    np.testing.assert_allclose(a[0].numpy(), np.array([1.0, -2.0, 4.0]) + 0.25 * np.array([2.0, 7.0, -5.0]),
                               rtol=1e-15)


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("where", ["to_cpu", "from_cpu"])
def test_an_averaged_copy_on_another_device(device, where):
    source, target = (device, "cpu") if where == "to_cpu" else ("cpu", device)
    gk.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4, device=source), nn.BatchNorm1d(4, device=source))
    reference = copy.deepcopy(model).to("cpu")
    kw = {"multi_avg_fn": get_ema_multi_avg_fn(0.8), "use_buffers": True}
    averaged, expected = AveragedModel(model, device=target, **kw), AveragedModel(reference, **kw)
    assert {str(t.device) for t in averaged.state_dict().values()} == {str(gk.zeros(1, device=target).device)}
    rng = np.random.default_rng(2)
    for _ in range(3):
        batch = rng.standard_normal((5, 3)).astype(np.float32)
        model(gk.tensor(batch, device=source))
        reference(gk.tensor(batch, device="cpu"))
        averaged.update_parameters(model)
        expected.update_parameters(reference)
    for key, value in expected.state_dict().items():
        np.testing.assert_allclose(averaged.state_dict()[key].numpy(), value.numpy(), rtol=1e-6, err_msg=key)


def test_tied_weights_and_non_persistent_buffers(device):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 3, device=device, dtype="float64")
            self.out = nn.Linear(3, 5, device=device, dtype="float64")
            self.out.weight = self.emb.weight
            self.register_buffer("scratch", gk.zeros(2, device=device), persistent=False)

    model = Tied()
    swa = AveragedModel(model)
    assert swa.module.out.weight is swa.module.emb.weight
    assert "module.scratch" not in swa.state_dict()
    snapshots = []
    for k in range(3):
        model.emb.weight._data[...] = float(k)
        model.emb.weight._version[0] += 1
        model.scratch._data[...] = float(k)
        snapshots.append(float(k))
        swa.update_parameters(model)
    np.testing.assert_array_equal(swa.module.out.weight.numpy(), np.full((5, 3), np.mean(snapshots)))
    np.testing.assert_array_equal(swa.module.scratch.numpy(), [2.0, 2.0])  # copied, as the other buffers


def test_backward_through_the_averaged_copy(device):
    gk.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4, device=device), nn.Tanh(), nn.Linear(4, 1, device=device))
    swa = AveragedModel(model)
    swa.update_parameters(model)
    x = gk.randn(5, 3, device=device)
    swa(x).sum().backward()
    assert all(p.grad is not None for p in swa.parameters())
    grad = swa.module[0].weight.grad.numpy().copy()
    swa.update_parameters(model)  # keeps the gradients
    np.testing.assert_array_equal(swa.module[0].weight.grad.numpy(), grad)
    loss = swa(x).sum()
    swa.update_parameters(model)  # an in-place change of saved values, as in PyTorch
    with pytest.raises(gk.AutogradError, match="modified in place"):
        loss.backward()


# ------------------------------------------------------------------ update_bn
def test_update_bn_takes_a_loader_with_only_getitem(device):
    class Batches:  # iter() walks __getitem__ until IndexError
        def __init__(self, items: list) -> None:
            self.items = items

        def __getitem__(self, i: int) -> gk.Tensor:
            return self.items[i]

    data = np.arange(12, dtype=np.float32).reshape(6, 2)
    bn = nn.BatchNorm1d(2, device=device)
    update_bn(Batches([gk.tensor(data[:3], device=device), gk.tensor(data[3:], device=device)]), bn)
    np.testing.assert_allclose(bn.running_mean.numpy(), data.mean(axis=0))
    with pytest.raises(gk.ArgumentTypeError, match="update_bn: loader"):
        update_bn(3, bn)


# ------------------------------------------------------------------ SWALR
# PyTorch 2.14: CosineAnnealingLR(T_max=10) for 5 epochs, then SWALR(swa_lr=[0.02, 0.004], anneal_epochs=3)
TORCH_RECIPE = {
    "cos": [[0.1, 0.03], [0.09755282581475769, 0.029265847744427302], [0.09045084971874738, 0.02713525491562421],
            [0.07938926261462367, 0.023816778784387097], [0.06545084971874739, 0.01963525491562421],
            [0.05408813728906054, 0.01572644118671816], [0.03136271242968685, 0.007908813728906056],
            [0.02, 0.004], [0.02, 0.004], [0.02, 0.004]],
    "linear": [[0.1, 0.03], [0.09755282581475769, 0.029265847744427302], [0.09045084971874738, 0.02713525491562421],
               [0.07938926261462367, 0.023816778784387097], [0.06545084971874739, 0.01963525491562421],
               [0.05030056647916493, 0.014423503277082809], [0.03515028323958246, 0.009211751638541404],
               [0.02, 0.004], [0.02, 0.004], [0.02, 0.004]],
}


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_after_cosine_annealing_as_pytorch(strategy):
    opt = optim.SGD([{"params": [gk.ones(1, requires_grad=True)], "lr": 0.1},
                     {"params": [gk.ones(1, requires_grad=True)], "lr": 0.03}], lr=0.1)
    cosine = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    swa = SWALR(opt, swa_lr=[0.02, 0.004], anneal_epochs=3, anneal_strategy=strategy)
    seen = []
    for epoch in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        (swa if epoch >= 4 else cosine).step()
    np.testing.assert_allclose(seen, TORCH_RECIPE[strategy], rtol=1e-15)
    assert swa.get_last_lr() == [0.02, 0.004]


def test_swalr_loads_an_older_pytorch_state_dict():
    def _linear_anneal(t):  # what an older PyTorch SWALR saved: its static method, no _anneal_strategy
        return t

    opt = optim.SGD([gk.ones(1, requires_grad=True)], lr=0.1)
    sched = SWALR(opt, swa_lr=0.02, anneal_epochs=4)
    old = {k: v for k, v in sched.state_dict().items() if k != "_anneal_strategy"}
    old["anneal_func"] = _linear_anneal
    other = SWALR(optim.SGD([gk.ones(1, requires_grad=True)], lr=0.1), swa_lr=0.02, anneal_epochs=4)
    other.load_state_dict(old)
    assert other._anneal_strategy == "linear" and other.anneal_func(0.5) == 0.5
    state = other.state_dict()
    assert "anneal_func" not in state and state["_anneal_strategy"] == "linear"
    pickle.dumps(state)
