"""Fixes found by running PyTorch users' whole programs on gradkit (tests/test_pytorch_programs.py).

These run without PyTorch: closed forms and gradkit's own uninterrupted runs stand in for it, and a small
``Foreign`` array class stands in for another library's tensors.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


class Foreign:
    """Another library's array, read through ``__array__``; not readable while it requires grad (as a PyTorch
    tensor)."""

    def __init__(self, array, requires_grad=False):
        self.array = np.array(array)
        self.requires_grad = requires_grad

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")
        return self.array if dtype is None else self.array.astype(dtype)


# ------------------------------------------------------------------ Tensor.backward: gradient= and inputs=
def test_backward_takes_pytorchs_gradient_keyword(device):
    x = gk.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (x * x).backward(gradient=gk.tensor([1.0, 0.5, 0.0], device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 0.0])  # 2x * gradient
    (x * 3).backward(gk.ones(3, device=device))  # grad=, positionally, as before
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0, 3.0])
    with pytest.raises(gk.InvalidArgumentError, match=r"backward: pass grad or gradient .* not both"):
        (x * 2).backward(gk.ones(3, device=device), gradient=gk.ones(3, device=device))


def test_backward_with_inputs_adds_only_to_those(device):
    p = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    q = gk.tensor([3.0, 4.0], device=device, requires_grad=True)
    (p * q).sum().backward(inputs=[p])
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, 4.0])
    assert q.grad is None
    (p * q).sum().backward(None, None, False, p)  # PyTorch's fourth positional argument; accumulates
    np.testing.assert_array_equal(p.grad.numpy(), [6.0, 8.0])
    hidden = p * q
    (hidden * hidden).sum().backward(inputs=hidden)  # a non-leaf input gets its .grad too
    np.testing.assert_array_equal(hidden.grad.numpy(), 2 * (p * q).numpy())
    assert q.grad is None
    with pytest.raises(gk.AutogradError, match=r"backward: inputs\[0\] .* does not require grad"):
        (p * 2).sum().backward(inputs=[gk.ones(2, device=device)])


# ------------------------------------------------------------------ an optimiser state dict of PyTorch's layout
def _train(optimizer_cls, steps, state=None, **kwargs):
    """A few steps of a fixed least-squares problem; returns the optimiser and the parameter."""
    start = [[0.5, -1.0], [2.0, 0.25]] if state is None else state[0]
    w = gk.tensor(start, dtype="float64", requires_grad=True)
    x = gk.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0]], dtype="float64")
    optimizer = optimizer_cls([w], **kwargs)
    if state is not None:
        optimizer.load_state_dict(state[1])
    for _ in range(steps):
        optimizer.zero_grad()
        ((x @ w) ** 2).sum().backward()
        optimizer.step()
    return optimizer, w


def _as_pytorchs(state_dict, decoupled=False):
    """``state_dict`` as PyTorch's optimisers save it: state tensors of another library (step counts 0-d
    float32 ones) and the implementation switches in every group."""
    state = {k: {key: Foreign(np.float32(v) if key == "step" else v.numpy() if isinstance(v, gk.Tensor) else v)
                 for key, v in entry.items()} for k, entry in state_dict["state"].items()}
    switches = {"foreach": None, "fused": None, "differentiable": False, "capturable": False,
                "decoupled_weight_decay": decoupled}
    groups = [{**switches, **group} for group in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}), ("Adam", {"lr": 0.1, "amsgrad": True}),
     ("AdamW", {"lr": 0.1}), ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
     ("NAdam", {"lr": 0.1}), ("Adagrad", {"lr": 0.1})],
)
def test_an_optimizer_loads_pytorchs_state_dict_and_continues_the_run(name, kwargs):
    cls = getattr(gk.optim, name)
    uninterrupted = _train(cls, 5, **kwargs)[1].numpy()
    first, w = _train(cls, 2, **kwargs)
    saved = _as_pytorchs(first.state_dict(), decoupled=name == "AdamW")
    resumed, w2 = _train(cls, 3, state=(w.numpy(), saved), **kwargs)
    np.testing.assert_array_equal(w2.numpy(), uninterrupted)
    group = resumed.param_groups[0]
    switches = {"foreach", "fused", "differentiable", "capturable", "decoupled_weight_decay"}
    assert switches & set(group) == switches & set(resumed.defaults)  # only those the optimiser has
    for entry in resumed.state_dict()["state"].values():
        assert "step" not in entry or isinstance(entry["step"], int)
        assert all(isinstance(v, (gk.Tensor, int, float)) for v in entry.values())


def test_a_state_dict_of_the_other_weight_decay_rule_is_refused():
    first, w = _train(gk.optim.Adam, 1, lr=0.1, weight_decay=0.1)
    saved = _as_pytorchs(first.state_dict(), decoupled=True)
    with pytest.raises(gk.InvalidArgumentError, match=r"Adam.load_state_dict: .*decoupled_weight_decay=True"):
        _train(gk.optim.Adam, 0, state=(w.numpy(), saved), lr=0.1)
    with pytest.raises(gk.InvalidArgumentError, match=r"AdamW.load_state_dict: .*decoupled_weight_decay=False"):
        _train(gk.optim.AdamW, 0, state=(w.numpy(), _as_pytorchs(first.state_dict())), lr=0.1)


def test_an_unreadable_foreign_state_names_the_optimizer():
    first, w = _train(gk.optim.Adam, 1, lr=0.1)
    saved = _as_pytorchs(first.state_dict())
    saved["state"][0]["exp_avg"] = Foreign(saved["state"][0]["exp_avg"].array, requires_grad=True)
    with pytest.raises(gk.ArgumentTypeError, match=r'Adam.load_state_dict: the value for "exp_avg" .*cannot read'):
        _train(gk.optim.Adam, 0, state=(w.numpy(), saved), lr=0.1)


# ------------------------------------------------------------------ Module.load_state_dict
def test_batchnorm_state_dict_without_num_batches_tracked_loads(device):
    model = gk.nn.Sequential(gk.nn.Linear(3, 4), gk.nn.BatchNorm1d(4), gk.nn.Linear(4, 2), gk.nn.BatchNorm1d(2))
    model.to(device)
    model(gk.ones(5, 3, device=device) * gk.arange(5, dtype="float32", device=device).reshape(5, 1))
    old = {k: v.numpy() + 1 for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    result = model.load_state_dict(old)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert model[1].num_batches_tracked.item() == model[3].num_batches_tracked.item() == 1  # kept
    np.testing.assert_array_equal(model[1].running_mean.numpy(), old["1.running_mean"])
    del old["1.running_var"]
    with pytest.raises(gk.nn.StateDictError, match=r'missing key\(s\) in state_dict: "1.running_var"$'):
        model.load_state_dict(old)
    assert model.load_state_dict(old, strict=False).missing_keys == ["1.running_var"]


def test_load_state_dict_reprs_as_pytorch():
    layer = gk.nn.Linear(2, 2)
    assert repr(layer.load_state_dict(layer.state_dict())) == "<All keys matched successfully>"
    partial = layer.load_state_dict({"weight": layer.weight}, strict=False)
    assert repr(partial) == "IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])"
    assert partial == (["bias"], [])


def test_dropout_repr_as_pytorch():
    assert repr(gk.nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(gk.nn.Sequential(gk.nn.Dropout(0.1, inplace=True))) == (
        "Sequential(\n  (0): Dropout(p=0.1, inplace=True)\n)"
    )


# ------------------------------------------------------------------ DataLoader(generator=...)
@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_generator_draws_each_epochs_order(workers):
    ds = gk.data.TensorDataset(gk.arange(10))
    loader = gk.data.DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(3),
                                num_workers=workers)
    expected = np.random.default_rng(3)
    for _ in range(3):
        order = expected.permutation(10)
        batches = [b[0].tolist() for b in loader]
        assert batches == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]
    assert loader.generator is not None and loader.seed is None
    with pytest.raises(gk.InvalidArgumentError, match="DataLoader.order: .* not known ahead with generator="):
        loader.order(0)
    plain = gk.data.DataLoader(ds, batch_size=4, generator=np.random.default_rng(0))  # no shuffle: unused
    assert [b[0].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_dataloader_generator_is_checked():
    ds = gk.data.TensorDataset(gk.arange(4))
    with pytest.raises(gk.ArgumentTypeError, match=r"DataLoader: generator must be None or a numpy.random.Generator"):
        gk.data.DataLoader(ds, shuffle=True, generator=0)
    with pytest.raises(gk.InvalidArgumentError, match=r"DataLoader: pass seed=1 or generator, not both"):
        gk.data.DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(0))
