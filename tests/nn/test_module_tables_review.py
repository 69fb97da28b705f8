"""Review of the module tables (``_parameters``, ``_buffers``, ``_modules``) that keep the attributes in step
when PyTorch code writes them directly: the attribute follows the tables only where PyTorch's lookup would
reach them (a plain attribute and a class attribute come first), copies and pickles, and the patterns that
write tables (layer swaps, pruning, functional_call)."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.utils.checkpoint import _replace


def _param(device: str, *shape: int) -> nn.Parameter:
    return nn.Parameter(gk.zeros(*shape, device=device))


def _in_step(model: nn.Module) -> bool:
    """Whether every table entry of every submodule is what its attribute gives."""
    return all(getattr(m, name) is value
               for m in model.modules() for table in ("_parameters", "_buffers", "_modules")
               for name, value in m.__dict__[table].items())


def test_a_plain_attribute_stays_after_repeated_table_writes(device: str) -> None:
    # PyTorch: the instance dict comes before __getattr__'s tables, whatever the tables hold
    m = nn.Module()
    m.foo = 1
    m._parameters["foo"] = _param(device, 2)
    m._parameters["foo"] = _param(device, 3)
    m._buffers["foo"] = gk.zeros(1, device=device)
    assert m.foo == 1
    del m._parameters["foo"]
    assert m.foo == 1


def test_a_table_write_does_not_hide_a_method_of_the_class(device: str) -> None:
    md = nn.ModuleDict()
    md._modules["keys"] = nn.Linear(2, 2, device=device)
    assert list(md.keys()) == ["keys"]  # still the method, as PyTorch's
    lin = nn.Linear(2, 2, device=device)
    lin._buffers["forward"] = gk.zeros(1, device=device)
    assert lin(gk.ones(1, 2, device=device)).shape == (1, 2)
    del lin._buffers["forward"]
    assert callable(lin.forward)


def test_a_key_that_is_not_a_str_stays_out_of_the_instance_dict(device: str) -> None:
    m = nn.Module()
    m._modules[0] = nn.Linear(2, 2, device=device)
    assert 0 not in m.__dict__
    dir(m)  # sorts the instance dict's keys
    del m._modules[0]
    assert not m._modules


def test_writes_follow_pytorchs_lookup_order(device: str) -> None:
    lin = nn.Linear(2, 2, device=device)
    t = gk.ones(2, 2, device=device)
    lin._buffers["weight"] = t
    assert isinstance(lin.weight, nn.Parameter)  # _parameters first
    del lin._parameters["weight"]
    assert lin.weight is t
    lin._parameters["weight"] = None
    assert lin.weight is None
    np.testing.assert_array_equal(lin.state_dict()["weight"].tolist(), np.ones((2, 2)))  # the buffer's
    del lin._parameters["bias"]
    assert not hasattr(lin, "bias")


def test_a_tensor_written_into_parameters_shows(device: str) -> None:
    lin = nn.Linear(2, 2, device=device)
    t = gk.zeros(2, 2, device=device)
    lin._parameters["weight"] = t  # PyTorch allows it (fast weights)
    assert lin.weight is t
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError):
        lin.weight = gk.ones(2, 2, device=device)


def test_dict_methods_of_a_table(device: str) -> None:
    m = nn.Linear(2, 2, device=device)
    m._parameters |= {"extra": _param(device, 1)}
    assert m.extra is m._parameters["extra"]
    assert m._parameters.setdefault("none", None) is None and m.none is None
    assert m._parameters.popitem()[0] == "none" and not hasattr(m, "none")
    assert m._parameters.pop("missing", 5) == 5
    m._parameters.update(extra=None)
    assert m.extra is None
    m._parameters.clear()
    assert not hasattr(m, "weight") and not hasattr(m, "bias") and list(m.parameters()) == []


def test_copies_and_pickles_give_each_module_its_own_tables(device: str) -> None:
    model = nn.Sequential(nn.Linear(2, 3, device=device), nn.ReLU(),
                          nn.ModuleDict({"a": nn.Linear(3, 1, device=device)}),
                          nn.ParameterList([gk.zeros(2, device=device)]), nn.LSTM(3, 4, device=device))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert _in_step(clone)
        for m in clone.modules():
            for table in ("_parameters", "_buffers", "_modules"):
                assert m.__dict__[table]._owner() is m
        clone._modules["0"] = nn.Linear(2, 3, device=device)
        assert clone[0] is getattr(clone, "0") and model[0] is not clone[0]
    shallow = copy.copy(model[0])
    new = _param(device, 3, 2)
    shallow._parameters["weight"] = new
    assert shallow.weight is new and model[0].weight is not new and _in_step(model)


def test_a_module_pickled_with_plain_dict_tables(device: str) -> None:
    lin = nn.Linear(3, 2, device=device)
    state = {k: dict(v) if k in ("_parameters", "_buffers", "_modules") else v for k, v in lin.__dict__.items()}
    old = nn.Linear.__new__(nn.Linear)
    old.__setstate__(state)
    new = _param(device, 2, 3)
    old._parameters["weight"] = new
    assert old.weight is new and lin.weight is not new


def test_a_table_made_without_a_module(device: str) -> None:
    lin = nn.Linear(2, 2, device=device)
    # checkpoint's _replace makes type(d)(items)
    made = _replace(lin._parameters, iter([gk.zeros(2, 2, device=device), gk.zeros(2, device=device)]))
    made["weight"] = 1
    del made["bias"]
    assert made == {"weight": 1}
    assert isinstance(lin.weight, nn.Parameter)


def test_tables_do_not_keep_their_module_alive(device: str) -> None:
    m = nn.Linear(2, 2, device=device)
    ref, table = weakref.ref(m), m._parameters
    del m
    gc.collect()
    assert ref() is None
    table["weight"] = 1  # a plain dict now
    assert table["weight"] == 1


def test_prune_and_remove(device: str) -> None:
    lin = nn.Linear(3, 2, device=device)
    orig = lin.weight
    lin.register_parameter("weight_orig", orig)
    del lin._parameters["weight"]
    lin.register_buffer("weight_mask", gk.ones(2, 3, device=device))
    lin.weight = lin.weight_orig * lin.weight_mask
    assert [n for n, _ in lin.named_parameters()] == ["bias", "weight_orig"]
    assert lin(gk.ones(1, 3, device=device)).shape == (1, 2)
    del lin.weight
    kept = lin._parameters["weight_orig"]
    del lin._parameters["weight_orig"]
    del lin._buffers["weight_mask"]
    lin.weight = kept
    assert [n for n, _ in lin.named_parameters()] == ["bias", "weight"]
    assert not hasattr(lin, "weight_orig") and not hasattr(lin, "weight_mask") and _in_step(lin)


def test_functional_call_restores_tables_and_attributes(device: str) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2, device=device)
            self.b = nn.Linear(2, 2, device=device)
            self.b.weight = self.a.weight

        def forward(self, x: gk.Tensor) -> gk.Tensor:
            return self.b(self.a(x))

    model = Tied()
    w = gk.ones(2, 2, device=device)
    out = gk.func.functional_call(model, {"a.weight": w, "a.bias": gk.zeros(2, device=device),
                                          "b.bias": gk.zeros(2, device=device)}, (gk.ones(1, 2, device=device),))
    np.testing.assert_allclose(out.tolist(), [[4.0, 4.0]])
    assert model.a.weight is model.b.weight and isinstance(model.a.weight, nn.Parameter) and _in_step(model)


def test_an_rnn_uses_a_weight_written_into_its_table(device: str) -> None:
    lstm = nn.LSTM(3, 4, device=device)
    lstm._parameters["weight_ih_l0"] = nn.Parameter(gk.zeros(16, 3, device=device))
    assert lstm.weight_ih_l0 is lstm.all_weights[0][0]
    out, _ = lstm(gk.ones(5, 1, 3, device=device))
    assert out.shape == (5, 1, 4)
