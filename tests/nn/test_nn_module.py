"""Module: registration, traversal, modes, devices and dtypes, state dicts (PyTorch's keys and rules)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn


class Block(nn.Module):
    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4, device=device)
        self.bn = nn.BatchNorm1d(4, device=device)
        self.scale = nn.Parameter(gk.ones(4, device=device))
        self.register_buffer("steps", gk.zeros((), device=device))
        self.register_buffer("cache", gk.zeros(2, device=device), persistent=False)
        self.label = "not registered"

    def forward(self, x: gk.Tensor) -> gk.Tensor:
        return self.bn(self.fc(x)) * self.scale


def test_parameters_and_submodules_are_registered_in_order(device):
    m = Block(device)
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias"]
    assert [n for n, _ in m.named_children()] == ["fc", "bn"]
    assert [type(x).__name__ for x in m.modules()] == ["Block", "Linear", "BatchNorm1d"]
    assert [n for n, _ in m.named_buffers()] == [
        "steps", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"
    ]
    assert all(p.requires_grad and p.is_leaf for p in m.parameters())
    assert m.fc.weight is m.fc._parameters["weight"]
    assert m.label == "not registered" and "label" not in m.state_dict()


def test_state_dict_keys_follow_pytorch(device):
    m = Block(device)
    assert list(m.state_dict()) == [
        "scale", "steps", "fc.weight", "fc.bias",
        "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
    ]
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.BatchNorm1d(1))
    assert list(seq.state_dict()) == [
        "0.weight", "0.bias", "2.weight", "2.bias",
        "3.weight", "3.bias", "3.running_mean", "3.running_var", "3.num_batches_tracked",
    ]
    sd = seq.state_dict()
    assert sd["3.num_batches_tracked"].dtype == np.int64 and sd["3.num_batches_tracked"].shape == ()
    assert not sd["0.weight"].requires_grad  # detached, as PyTorch


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_state_dict_round_trip_copies_values_in_place(device):
    gk.manual_seed(0)
    src, dst = Block(device), Block(device)
    src.bn.running_mean.data[...] = 3.0
    weight = dst.fc.weight
    out = dst.load_state_dict(src.state_dict())
    assert out.missing_keys == [] and out.unexpected_keys == []
    assert dst.fc.weight is weight  # the same Parameter object, values copied into it
    for key, value in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[key].numpy(), value.numpy())
    # values from NumPy arrays (and float64) are cast to the target's dtype
    sd = {k: v.numpy().astype(np.float64) if v.dtype == np.float32 else v.numpy() for k, v in src.state_dict().items()}
    dst.load_state_dict(sd)
    assert dst.fc.weight.dtype == np.float32


def test_load_state_dict_strict_errors_name_the_keys():
    m = nn.Sequential(nn.Linear(2, 3))
    sd = m.state_dict()
    del sd["0.bias"]
    sd["0.extra"] = gk.zeros(1)
    with pytest.raises(nn.StateDictError, match=r'"0\.bias"') as info:
        m.load_state_dict(sd)
    assert '"0.extra"' in str(info.value)
    assert isinstance(info.value, gk.GradkitError) and isinstance(info.value, RuntimeError)
    before = m[0].weight.numpy()
    sd["0.weight"] = gk.ones(3, 2)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["0.extra"]
    np.testing.assert_array_equal(m[0].weight.numpy(), np.ones((3, 2)))
    assert not np.array_equal(before, m[0].weight.numpy())


def test_load_state_dict_shape_mismatch_names_the_key_and_changes_nothing():
    m = nn.Sequential(nn.Linear(2, 3))
    before = m[0].bias.numpy()
    sd = {"0.weight": gk.zeros(3, 2), "0.bias": gk.zeros(4)}
    with pytest.raises(gk.ShapeError, match=r'"0\.bias".*\(4,\).*\(3,\)'):
        m.load_state_dict(sd, strict=False)
    np.testing.assert_array_equal(m[0].bias.numpy(), before)
    assert np.any(m[0].weight.numpy() != 0)  # nothing was copied before the error


def test_load_state_dict_rejects_non_mapping():
    with pytest.raises(gk.ArgumentTypeError):
        nn.Linear(1, 1).load_state_dict([1, 2])


def test_train_eval_return_module_and_recurse():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert m.training and m[1][0].training
    assert m.eval() is m
    assert not m.training and not m[1][0].training
    assert m.train() is m and m[1][0].training


def test_to_dtype_keeps_parameter_identity_and_moves_grads():
    m = nn.Linear(2, 3)
    w = m.weight
    m(gk.ones(1, 2)).sum().backward()
    assert m.to(gk.float64) is m
    assert m.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert m.bias.dtype == np.float64
    bn = nn.BatchNorm1d(2).double()
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert m.to("cpu") is m and m.float().weight.dtype == np.float32


def test_to_rejects_integer_dtype():
    with pytest.raises(gk.DTypeError):
        nn.Linear(1, 1).to(dtype="int64")


def test_zero_grad_sets_none_by_default():
    m = nn.Linear(2, 1)
    m(gk.ones(3, 2)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_assignment_rules():
    m = nn.Linear(2, 2)
    with pytest.raises(gk.ArgumentTypeError, match="weight"):
        m.weight = gk.ones(2, 2)  # a plain tensor cannot replace a parameter
    m.bias = None
    assert m.bias is None and "bias" not in dict(m.named_parameters())
    assert list(m.state_dict()) == ["weight"]
    m.extra = nn.ReLU()
    assert [n for n, _ in m.named_children()] == ["extra"]
    del m.extra
    assert list(m.children()) == []

    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(gk.ones(1))

    with pytest.raises(AttributeError, match="Module.__init__"):
        Early()
    with pytest.raises(gk.GradkitError):
        m.register_buffer("a.b", gk.zeros(1))


def test_parameter_is_a_leaf_tensor_that_shares_data():
    t = gk.ones(3)
    p = nn.Parameter(t)
    assert isinstance(p, gk.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data
    assert type(p * 2) is gk.Tensor
    assert repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(gk.ones(1), requires_grad=False).requires_grad


def test_call_runs_forward_and_repr_lists_children():
    m = nn.Sequential(nn.Linear(4, 2), nn.ReLU())
    out = m(gk.ones(5, 4))
    assert out.shape == (5, 2)
    text = repr(m)
    assert "(0): Linear(in_features=4, out_features=2, bias=True)" in text and "(1): ReLU()" in text
    with pytest.raises(NotImplementedError):
        nn.Module()(1)


def test_deepcopy_keeps_backend_and_copies_values():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight and c[0].weight.backend is m[0].weight.backend
    np.testing.assert_array_equal(c[0].weight.numpy(), m[0].weight.numpy())
    c[0].weight.data[...] = 0
    assert np.any(m[0].weight.numpy() != 0)
    c(gk.ones(3, 2)).sum().backward()  # the copy is usable: same device, registered parameters
    assert c[0].weight.grad is not None and m[0].weight.grad is None


def test_sequential_indexing_and_apply():
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert isinstance(m[-1], nn.Linear) and len(m) == 3
    assert [type(x).__name__ for x in m[1:]] == ["Tanh", "Linear"]
    with pytest.raises(IndexError):
        m[3]
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Tanh", "Linear", "Sequential"]
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    assert len(ml) == 2 and [n for n, _ in ml.named_children()] == ["0", "1"]


def test_load_state_dict_with_an_unconvertible_value_changes_nothing():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    for key, bad in (("1.bias", np.array(["x", "y"])), ("1.num_batches_tracked", 2**70),
                     ("1.num_batches_tracked", 2.5), ("1.num_batches_tracked", float("nan")),
                     ("0.weight", np.ones((2, 3), dtype=np.complex64))):
        sd = {k: v + 1 for k, v in m.state_dict().items()}
        sd[key] = bad
        with pytest.raises(gk.GradkitError, match=key.replace(".", r"\.")):
            m.load_state_dict(sd)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), before[k])
    sd = dict(m.state_dict())
    sd["1.num_batches_tracked"] = 3.0  # a whole float still loads into the int64 buffer
    m.load_state_dict(sd)
    assert int(m.state_dict()["1.num_batches_tracked"].item()) == 3


def test_a_parameter_assigned_again_keeps_its_place():
    layer = nn.Linear(2, 3)
    layer.weight = nn.Parameter(gk.zeros(3, 2))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.state_dict()) == ["weight", "bias"]
