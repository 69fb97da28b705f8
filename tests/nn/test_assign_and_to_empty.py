"""Module.load_state_dict(assign=True) and Module.to_empty (PyTorch's rules)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn


class Tied(nn.Module):
    """Two Linears sharing one weight, and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(2, 3)
        self.b.weight = self.a.weight
        self.register_buffer("count", gk.zeros(3))


def _values(device: str, dtype: str = "float32") -> dict:
    return {
        "weight": gk.tensor(np.arange(6.0).reshape(3, 2), dtype=dtype, device=device),
        "bias": gk.tensor([1.0, 2.0, 3.0], dtype=dtype, device=device),
    }


# ------------------------------------------------------------------ load_state_dict(assign=True)

def test_assign_takes_the_tensors_themselves(device):
    m = nn.Linear(2, 3, device=device)
    old = m.weight
    sd = _values(device)
    assert repr(m.load_state_dict(sd, assign=True)) == "<All keys matched successfully>"
    assert m.weight is not old and isinstance(m.weight, nn.Parameter) and isinstance(m.bias, nn.Parameter)
    assert m.weight._data is sd["weight"]._data  # the same memory: no copy
    assert m.weight.requires_grad and m.weight.is_leaf
    assert m._parameters["weight"] is m.weight and dict(m.named_parameters())["weight"] is m.weight
    np.testing.assert_array_equal(m(gk.ones(1, 2, device=device)).numpy(), [[2.0, 7.0, 12.0]])
    m(gk.ones(1, 2, device=device)).sum().backward()
    np.testing.assert_array_equal(m.weight.grad.numpy(), np.ones((3, 2)))
    assert sd["weight"].grad is None  # the value itself stays a plain tensor outside the graph


def test_assign_keeps_the_values_dtype_and_device(device):
    m = nn.Linear(2, 3)  # on the CPU
    m.load_state_dict(_values(device, "float64"), assign=True)
    assert m.weight.dtype == np.float64 and m.weight.device == gk.tensor(0.0, device=device).device


def test_assign_keeps_the_modules_requires_grad(device):
    m = nn.Linear(2, 3, device=device)
    m.bias.requires_grad_(False)
    m.load_state_dict(_values(device), assign=True)
    assert m.weight.requires_grad and not m.bias.requires_grad
    # a value that is a Parameter is used itself, its requires_grad set to the module's (as PyTorch)
    p = nn.Parameter(gk.ones(3, device=device))
    sd = _values(device)
    sd["bias"] = p
    m.load_state_dict(sd, assign=True)
    assert m.bias is p and not p.requires_grad


def test_assign_buffers_are_the_values_themselves(device):
    bn = nn.BatchNorm1d(2, device=device)
    sd = bn.state_dict()
    mean = gk.tensor([5.0, 6.0], device=device)
    sd["running_mean"] = mean
    bn.load_state_dict(sd, assign=True)
    assert bn.running_mean is mean and bn._buffers["running_mean"] is mean
    assert "running_mean" not in bn._parameters
    bn.eval()
    out = bn(gk.tensor([[5.0, 6.0]], device=device))
    np.testing.assert_allclose(out.numpy(), [[0.0, 0.0]], atol=1e-6)


def test_assign_keeps_tied_parameters_tied_when_the_values_share_memory():
    src, dst = Tied(), Tied()
    dst.load_state_dict(src.state_dict(), assign=True)
    assert dst.a.weight is dst.b.weight and dst.a.weight._data is src.a.weight._data
    again = Tied()
    again.load_state_dict(pickle.loads(pickle.dumps(src.state_dict())), assign=True)
    assert again.a.weight is again.b.weight
    # values that are separate arrays make separate parameters, as PyTorch
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    dst.load_state_dict(sd, assign=True)
    assert dst.a.weight is not dst.b.weight


def test_assign_arrays_and_numbers_become_tensors_on_the_modules_device(device):
    m = nn.Linear(2, 3, device=device)
    weight = np.full((3, 2), 2.0, dtype=np.float64)
    m.load_state_dict({"weight": weight, "bias": [1.0, 2.0, 3.0]}, assign=True)
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float32  # the array's, and gk.tensor's
    assert m.weight.device == m.bias.device == gk.tensor(0.0, device=device).device
    if device == "cpu":
        assert np.shares_memory(m.weight._data, weight)  # a NumPy array on the CPU is not copied
    np.testing.assert_array_equal(m.bias.numpy(), [1.0, 2.0, 3.0])


def test_assign_errors_change_nothing(device):
    m = nn.Linear(2, 3, device=device)
    before = dict(m.named_parameters())
    sd = _values(device)
    sd["weight"] = gk.ones(4, 2, device=device)
    with pytest.raises(nn.StateDictShapeError, match='size mismatch for "weight"'):
        m.load_state_dict(sd, assign=True)
    sd = _values(device)
    sd["bias"] = gk.ones(3, dtype="int64", device=device)  # a parameter that requires grad needs floats
    with pytest.raises(gk.DTypeError, match='"bias".*floating-point'):
        m.load_state_dict(sd, assign=True)
    with pytest.raises(nn.StateDictError, match='missing key.*"bias"'):
        m.load_state_dict({"weight": _values(device)["weight"]}, assign=True)
    with pytest.raises(nn.StateDictError, match='unexpected key.*"extra"'):
        m.load_state_dict({**_values(device), "extra": gk.ones(1)}, assign=True)
    with pytest.raises(gk.ArgumentTypeError, match="assign"):
        m.load_state_dict(_values(device), assign="yes")
    assert dict(m.named_parameters()) == before
    # an integer value is fine for a parameter that does not require grad (it keeps its dtype)
    m.bias.requires_grad_(False)
    m.load_state_dict(sd, assign=True)
    assert m.bias.dtype == np.int64


def test_assign_non_strict_returns_the_keys_and_keeps_the_rest(device):
    m = nn.Linear(2, 3, device=device)
    bias = m.bias
    result = m.load_state_dict({"weight": _values(device)["weight"], "extra": gk.ones(1)}, strict=False, assign=True)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    assert m.bias is bias
    np.testing.assert_array_equal(m.weight.numpy(), np.arange(6.0).reshape(3, 2))


def test_assign_in_nested_modules_and_a_plain_attribute_stays():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    sd = {k: gk.full(tuple(v.shape), 0.5) for k, v in model.state_dict().items()}
    model.load_state_dict(sd, assign=True)
    assert model[0].weight._data is sd["0.weight"]._data and model[2].bias._data is sd["2.bias"]._data
    np.testing.assert_allclose(model(gk.ones(1, 2)).numpy(), [[0.5 * 3 * 1.5 + 0.5]])


def test_assign_into_a_fresh_module_then_an_optimizer_trains_it(device):
    m = nn.Linear(2, 1, device=device)
    m.load_state_dict({"weight": gk.tensor([[1.0, 1.0]], device=device), "bias": gk.tensor([0.0], device=device)},
                      assign=True)
    opt = gk.optim.SGD(m.parameters(), lr=0.5)
    m(gk.ones(1, 2, device=device)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.weight.numpy(), [[0.5, 0.5]])
    np.testing.assert_allclose(m.bias.numpy(), [-0.5])


# ------------------------------------------------------------------ to_empty

def test_to_empty_gives_zeros_of_the_same_shape_and_dtype(device):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    m[1].running_var.fill_(4.0)
    params = list(m.parameters())
    m[0].weight.grad = gk.ones(3, 2, dtype="float32")
    assert m.to_empty(device=device) is m
    assert list(m.parameters()) == params  # the same objects, as Module.to keeps them
    on = gk.tensor(0.0, device=device).device
    for name, t in [*m.named_parameters(), *m.named_buffers()]:
        assert t.device == on, name
        np.testing.assert_array_equal(t.numpy(), np.zeros(t.shape), err_msg=name)
    assert m[1].num_batches_tracked.dtype == np.int64 and m[0].weight.dtype == np.float32
    assert m[0].weight.shape == (3, 2) and m[0].weight.requires_grad
    assert m[0].weight.grad.device == on and m[0].weight.grad.shape == (3, 2)
    np.testing.assert_array_equal(m[0].weight.grad.numpy(), np.zeros((3, 2)))


def test_to_empty_then_load_state_dict(device):
    src = nn.Linear(2, 3)
    m = nn.Linear(2, 3).to_empty(device=device)
    m.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(m.weight.numpy(), src.weight.numpy())
    assert m.weight.device == gk.tensor(0.0, device=device).device


def test_to_empty_recurse_false_and_tied_parameters():
    m = Tied()
    with gk.no_grad():
        m.a.bias.fill_(1.0)
    m.count.fill_(2.0)
    m.to_empty(device="cpu", recurse=False)
    np.testing.assert_array_equal(m.count.numpy(), np.zeros(3))  # its own buffer
    np.testing.assert_array_equal(m.a.bias.numpy(), np.ones(3))  # a submodule's: left
    m.to_empty(device=None)  # each tensor on its own device
    np.testing.assert_array_equal(m.a.bias.numpy(), np.zeros(3))
    assert m.a.weight is m.b.weight


def test_to_empty_argument_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError):
        m.to_empty("cpu")  # keyword-only, as PyTorch
    with pytest.raises(TypeError):
        m.to_empty()  # device is required
    with pytest.raises(gk.GradkitError, match="to_empty"):
        m.to_empty(device="tpu")
    with pytest.raises(gk.ArgumentTypeError, match="recurse"):
        m.to_empty(device="cpu", recurse="no")
