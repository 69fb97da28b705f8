"""PyTorch users' programs, session 14: module tables written directly, clipping errors, optimisers whose
groups change mid-run and resume from a state dict, chained schedulers resumed mid-run.

The comparisons with PyTorch itself are skipped where it is not installed; the rest runs without it.
"""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import gradkit as gk

nn = gk.nn


# ------------------------------------------------------------------ module tables written directly
def test_layer_swap_through_the_modules_table(device):
    # The tutorial idiom "replace every activation": module._modules[name] = new_layer
    def swap(module):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):
                module._modules[name] = nn.Tanh()
            else:
                swap(child)

    net = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.ReLU()).to(device)
    with gk.no_grad():
        net[0][0].weight.copy_(gk.tensor([[1.0, 0.0], [0.0, 1.0]], device=device))
        net[0][0].bias.zero_()
    x = gk.tensor([[0.5, -2.0]], device=device)
    np.testing.assert_allclose(net(x).numpy(), [[0.5, 0.0]])  # plans its fused Linear+ReLU
    swap(net)
    assert isinstance(net[0][1], nn.Tanh) and isinstance(getattr(net, "1"), nn.Tanh)
    assert isinstance(net[0]._modules["1"], nn.Tanh)
    assert [type(m).__name__ for _, m in net.named_modules()] == ["Sequential", "Sequential", "Linear", "Tanh", "Tanh"]
    np.testing.assert_allclose(net(x).numpy(), np.tanh(np.tanh([[0.5, -2.0]])), rtol=1e-6)


def test_parameter_table_writes_as_in_maml_and_pruning(device):
    lin = nn.Linear(2, 1).to(device)
    w = lin.weight
    with gk.no_grad():
        w.copy_(gk.tensor([[1.0, 2.0]], device=device))
        lin.bias.fill_(0.5)
    x = gk.tensor([[1.0, 1.0]], device=device)

    # pruning's way: take the parameter out of the table, then set a plain tensor computed from it
    del lin._parameters["weight"]
    assert not hasattr(lin, "weight")
    assert [n for n, _ in lin.named_parameters()] == ["bias"] and list(lin.state_dict()) == ["bias"]
    lin.weight = w * gk.tensor([[1.0, 0.0]], device=device)  # a plain attribute now
    y = lin(x)
    np.testing.assert_allclose(y.numpy(), [[1.5]])
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[1.0, 0.0]])

    # putting a parameter back through the table makes it the attribute again
    del lin.weight
    lin._parameters["weight"] = w
    assert lin.weight is w and list(lin.state_dict()) == ["bias", "weight"]
    fast = nn.Parameter(gk.tensor([[3.0, 3.0]], device=device))
    lin._parameters["weight"] = fast  # a fast weight, as MAML code swaps them in
    assert lin.weight is fast
    np.testing.assert_allclose(lin(x).numpy(), [[6.5]])
    assert lin._parameters.pop("weight") is fast and not hasattr(lin, "weight")
    lin._parameters.update(weight=w)
    assert lin.weight is w


def test_buffer_table_writes_and_a_plain_attribute_of_the_same_name(device):
    bn = nn.BatchNorm1d(2).to(device).eval()
    mean = gk.tensor([1.0, -1.0], device=device)
    bn._buffers["running_mean"] = mean
    assert bn.running_mean is mean
    np.testing.assert_allclose(bn(gk.tensor([[1.0, 1.0]], device=device)).numpy(), [[0.0, 2.0]], atol=1e-4)
    bn._buffers.setdefault("extra", gk.ones(1, device=device))
    assert "extra" in bn.state_dict() and bn.extra is bn._buffers["extra"]
    bn._buffers.clear()
    assert not hasattr(bn, "running_mean") and not hasattr(bn, "extra")

    # as PyTorch: an ordinary attribute of the same name keeps winning over a table entry
    m = nn.Module()
    m.scale = 3
    m._parameters["scale"] = nn.Parameter(gk.ones(1, device=device))
    assert m.scale == 3
    del m._parameters["scale"]
    assert m.scale == 3


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "copy"])
def test_a_copys_tables_keep_its_own_attributes_in_step(device, how):
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU()).to(device)
    copier = {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m)), "copy": copy.copy}[how]
    clone = copier(model)
    lin = clone[0]
    new = nn.Parameter(gk.zeros(2, 2, device=device))
    lin._parameters["weight"] = new
    clone._modules["1"] = nn.Tanh()
    assert lin.weight is new and isinstance(clone[1], nn.Tanh) and isinstance(getattr(clone, "1"), nn.Tanh)
    assert isinstance(model[1], nn.ReLU) and isinstance(getattr(model, "1"), nn.ReLU)
    if how != "copy":  # a shallow copy shares its children with the original, as PyTorch's
        assert model[0].weight is not new and model[0]._parameters["weight"] is model[0].weight


# ------------------------------------------------------------------ clip_grad_norm_ errors
def test_a_non_finite_norm_with_error_if_nonfinite_is_a_runtime_error(device):
    # PyTorch raises RuntimeError; a loop catching it to skip the step must work here too
    p = nn.Parameter(gk.zeros(2, device=device))
    p.grad = gk.tensor([1.0, float("inf")], device=device)
    skipped = 0
    try:
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    except RuntimeError as e:
        assert isinstance(e, gk.InvalidArgumentError) and "non-finite" in str(e)
        skipped += 1
    assert skipped == 1
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, np.inf])  # left as it was


@pytest.mark.parametrize("norm_type", [1, 2.0, math.inf, "inf", 3])
def test_clip_grad_norm_norm_types_closed_form(device, norm_type):
    a = nn.Parameter(gk.zeros(2, device=device))
    b = nn.Parameter(gk.zeros(1, device=device))
    a.grad = gk.tensor([3.0, -4.0], device=device)
    b.grad = gk.tensor([12.0], device=device)
    p = math.inf if norm_type == "inf" else norm_type
    flat = np.array([3.0, -4.0, 12.0])
    expected = np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    total = nn.utils.clip_grad_norm_([a, b], 2.0, norm_type=norm_type)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-6)
    coef = 2.0 / (expected + 1e-6)
    np.testing.assert_allclose(np.concatenate([a.grad.numpy(), b.grad.numpy()]), flat * coef, rtol=1e-5)


# ------------------------------------------------------------------ optimisers: groups changed mid-run, resumed
_GRADS = np.random.default_rng(14).standard_normal((8, 7))
_START = np.random.default_rng(15).standard_normal(7)
_SLICES = (slice(0, 3), slice(3, 4), slice(4, 6), slice(6, 7))  # four parameters

_RUNS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"nesterov": True, "lr": 0.02, "maximize": True}),
    ("Adam", {"lr": 0.01}, {"betas": (0.8, 0.9), "maximize": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}, {"weight_decay": 0.5, "eps": 1e-3}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}, {"momentum": 0.9, "alpha": 0.5, "maximize": True}),
    ("Adagrad", {"lr": 0.1}, {"lr_decay": 0.1, "weight_decay": 0.01}),
    ("NAdam", {"lr": 0.01}, {"momentum_decay": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01}, {"decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01}, {"betas": (0.5, 0.6), "maximize": True}),
]


def _group_run(lib, name, kwargs, changes, device=None, resume_at=None):
    """Eight steps over four tensors: a group added after step 2, the first group's options changed after
    step 4, a parameter without a gradient every third step, a group added after step 6; optionally the
    optimiser replaced by a fresh one loaded from a deep copy of its state dict after step ``resume_at``."""
    if lib == "torch":
        import torch

        def make(a):
            return torch.tensor(a)
        params = [torch.nn.Parameter(make(_START[s])) for s in _SLICES]
        cls = getattr(torch.optim, name)
    else:
        def make(a):  # gk.tensor shares a NumPy array's memory where it can (API.md), torch.tensor copies
            return gk.tensor(np.array(a), dtype="float64", device=device)
        params = [nn.Parameter(make(_START[s])) for s in _SLICES]
        cls = getattr(gk.optim, name)
    opt = cls([{"params": params[:2]}], **kwargs)
    for i, g in enumerate(_GRADS):
        for j, (p, s) in enumerate(zip(params, _SLICES, strict=True)):
            p.grad = None if (j == 1 and i % 3 == 0) else make(g[s])
        opt.step()
        if i == 2:
            opt.add_param_group({"params": [params[2]], **changes})
        if i == 4:
            opt.param_groups[0].update(changes)
        if i == resume_at:
            saved = copy.deepcopy(opt.state_dict())
            opt = cls([{"params": params[:2]}, {"params": [params[2]]}], **kwargs)
            opt.load_state_dict(saved)
        if i == 6:
            opt.add_param_group({"params": [params[3]]})
    return np.concatenate([p.detach().cpu().numpy() if lib == "torch" else p.numpy() for p in params]), opt


@pytest.mark.parametrize(("name", "kwargs", "changes"), _RUNS, ids=[r[0] for r in _RUNS])
def test_groups_changed_mid_run_then_resumed_from_a_state_dict(device, name, kwargs, changes):
    uninterrupted, opt = _group_run("gk", name, kwargs, changes, device)
    resumed, opt2 = _group_run("gk", name, kwargs, changes, device, resume_at=5)
    np.testing.assert_array_equal(resumed, uninterrupted)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt2.param_groups]
    # the saved state holds plain step counts and goes through gk.save / gk.load unchanged
    state = opt.state_dict()
    assert all(isinstance(entry.get("step", 0), int) for entry in state["state"].values())


@pytest.mark.parametrize(("name", "kwargs", "changes"), _RUNS, ids=[r[0] for r in _RUNS])
def test_groups_changed_mid_run_match_pytorch(name, kwargs, changes):
    torch = pytest.importorskip("torch")
    del torch
    ours, _ = _group_run("gk", name, kwargs, changes, "cpu", resume_at=5)
    theirs, _ = _group_run("torch", name, kwargs, changes, resume_at=5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ schedulers chained and resumed
def _schedule(lib, device=None, resume_at=None, tmp_path=None):
    mod = pytest.importorskip("torch") if lib == "torch" else gk
    params = [mod.nn.Parameter(mod.zeros(2, device=device) if lib == "gk" else mod.zeros(2)) for _ in range(2)]

    def make():
        opt = mod.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], lr=0.1,
                            momentum=0.9)
        S = mod.optim.lr_scheduler
        chained = S.ChainedScheduler([S.ConstantLR(opt, 0.5, 3), S.ExponentialLR(opt, 0.9)])
        sched = S.SequentialLR(opt, [chained, S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01),
                                     S.MultiStepLR(opt, [2, 4, 4], 0.5)], milestones=[4, 12])
        return opt, sched

    opt, sched = make()
    lrs = []
    for i in range(18):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        if i == resume_at:
            path = tmp_path / "ck.safetensors"
            gk.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)
            back = gk.load(path)
            opt, sched = make()
            opt.load_state_dict(back["optimizer"])
            sched.load_state_dict(back["scheduler"])
    return np.array(lrs)


def test_sequential_of_chained_schedulers_resumed_from_a_checkpoint(device, tmp_path):
    uninterrupted = _schedule("gk", device)
    for resume_at in (2, 9):
        np.testing.assert_array_equal(_schedule("gk", device, resume_at, tmp_path), uninterrupted)
    # the first phase, ConstantLR(0.5, 3 steps) times ExponentialLR(0.9), one factor 0.9 ahead: SequentialLR's
    # initial step of its first scheduler steps the chained ExponentialLR once more (PyTorch 2.14's numbers);
    # then CosineAnnealingWarmRestarts from the base rate
    np.testing.assert_allclose(uninterrupted[:4, 0], [0.1 * 0.5 * 0.81, 0.1 * 0.5 * 0.729, 0.1 * 0.6561, 0.1])


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # PyTorch's, spurious here
def test_sequential_of_chained_schedulers_matches_pytorch():
    pytest.importorskip("torch")
    np.testing.assert_allclose(_schedule("gk", "cpu"), _schedule("torch"), rtol=1e-12, atol=1e-15)
