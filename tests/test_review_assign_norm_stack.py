"""Review of load_state_dict(assign=True), Module.to_empty, get_total_norm / clip_grads_with_norm_ and StackDataset:
layers with many weights, shared and broadcast values, atomicity, the norms against a NumPy reference, DataLoader."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from nn._host_reads import refuse_host_reads

import gradkit as gk
from gradkit import nn
from gradkit.data import ConcatDataset, DataLoader, StackDataset, Subset, TensorDataset, random_split
from gradkit.func import functional_call
from gradkit.nn.utils import clip_grad_norm_, clip_grads_with_norm_, get_total_norm


def _pair(make, device: str):
    """A module loaded with assign=True and one loaded by copying, from one source's state dict."""
    gk.manual_seed(0)
    src = make(device)
    assigned, copied = make(device), make(device)
    sd = src.state_dict()
    assigned.load_state_dict(sd, assign=True)
    copied.load_state_dict(sd)
    return src, assigned, copied


# ------------------------------------------------------------------ load_state_dict(assign=True)

@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_assign_recurrent_layers_run_on_the_new_weights(device, layer):
    def make(dev):
        return getattr(nn, layer)(3, 4, num_layers=2, bidirectional=True, batch_first=True, device=dev)

    src, assigned, copied = _pair(make, device)
    assert assigned.weight_ih_l1_reverse._data is src.weight_ih_l1_reverse._data
    assert assigned.all_weights[1][0] is assigned.weight_ih_l0_reverse
    x = gk.tensor(np.random.default_rng(1).standard_normal((2, 5, 3)), dtype="float32", device=device)
    out, _ = assigned(x)
    np.testing.assert_allclose(out.numpy(), copied(x)[0].numpy(), rtol=1e-6, atol=1e-7)
    out.sum().backward()
    assert all(p.grad is not None for p in assigned.parameters()) and src.weight_hh_l0.grad is None


def test_assign_attention_and_transformer_layers(device):
    x = gk.tensor(np.random.default_rng(2).standard_normal((2, 5, 8)), dtype="float32", device=device)
    kv = gk.tensor(np.random.default_rng(3).standard_normal((2, 4, 4)), dtype="float32", device=device)
    vv = gk.tensor(np.random.default_rng(4).standard_normal((2, 4, 6)), dtype="float32", device=device)
    _, a, c = _pair(lambda dev: nn.MultiheadAttention(8, 2, batch_first=True, kdim=4, vdim=6, device=dev), device)
    np.testing.assert_allclose(a(x, kv, vv)[0].numpy(), c(x, kv, vv)[0].numpy(), rtol=1e-5, atol=1e-6)
    _, a, c = _pair(lambda dev: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, device=dev),
                    device)
    assert a.self_attn.in_proj_weight is a._modules["self_attn"]._parameters["in_proj_weight"]
    np.testing.assert_allclose(a(x).numpy(), c(x).numpy(), rtol=1e-5, atol=1e-6)


def test_assign_batchnorm_statistics_are_the_given_tensors(device):
    bn = nn.BatchNorm1d(2, device=device)
    sd = {k: v.clone() for k, v in nn.BatchNorm1d(2, device=device).state_dict().items()}
    bn.load_state_dict(sd, assign=True)
    assert bn.running_mean is sd["running_mean"] and bn.num_batches_tracked is sd["num_batches_tracked"]
    bn(gk.tensor([[1.0, 2.0], [3.0, 6.0]], device=device))
    assert sd["num_batches_tracked"].item() == 1  # the training step updated the given tensors themselves
    np.testing.assert_allclose(sd["running_mean"].numpy(), [0.2, 0.4], rtol=1e-6)
    # a state dict without num_batches_tracked (optional, as PyTorch's) keeps the counter
    counter = bn.num_batches_tracked
    del sd["num_batches_tracked"]
    assert bn.load_state_dict(sd, assign=True).missing_keys == []
    assert bn.num_batches_tracked is counter


def test_assign_leaves_non_persistent_buffers_alone(device):
    m = nn.Linear(2, 2, device=device)
    scratch = gk.ones(2, device=device)
    m.register_buffer("scratch", scratch, persistent=False)
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    m.load_state_dict(sd, assign=True)
    assert m.scratch is scratch
    with pytest.raises(nn.StateDictError, match='unexpected key.*"scratch"'):
        m.load_state_dict({**sd, "scratch": gk.zeros(2, device=device)}, assign=True)


def test_assign_one_dict_into_two_modules_shares_memory(device):
    sd = nn.Linear(2, 3, device=device).state_dict()
    a, b = nn.Linear(2, 3, device=device), nn.Linear(2, 3, device=device)
    a.load_state_dict(sd, assign=True)
    b.load_state_dict(sd, assign=True)
    assert a.weight is not b.weight and a.weight._data is b.weight._data  # as PyTorch: two parameters, one memory
    with gk.no_grad():
        a.weight.add_(1.0)
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())


def test_assign_keeps_a_frozen_embedding_frozen(device):
    emb = nn.Embedding.from_pretrained(gk.ones(4, 2, device=device))
    emb.load_state_dict({"weight": gk.full((4, 2), 3.0, device=device)}, assign=True)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(gk.tensor([1, 2], device=device)).numpy(), np.full((2, 2), 3.0))


def test_assign_a_bad_later_value_changes_nothing(device):
    m = nn.Linear(2, 3, device=device)
    m.weight.requires_grad_(False)
    before = dict(m.named_parameters())
    p = nn.Parameter(gk.ones(3, 2, device=device))  # would get the module's requires_grad=False
    for bad in ("text", [[1.0, 2.0], [3.0]], {"a": 1}):
        with pytest.raises(gk.GradkitError):
            m.load_state_dict({"weight": p, "bias": bad}, assign=True)
        assert dict(m.named_parameters()) == before and p.requires_grad


def test_assign_a_read_only_array_gets_memory_of_its_own():
    m = nn.Linear(2, 3)
    weight = np.zeros((3, 2), np.float32)
    weight.setflags(write=False)  # as np.load(..., mmap_mode="r") gives
    m.load_state_dict({"weight": weight, "bias": np.zeros(3, np.float32)}, assign=True)
    opt = gk.optim.SGD(m.parameters(), lr=1.0)
    m(gk.ones(1, 2)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(m.weight.numpy(), -np.ones((3, 2)))
    np.testing.assert_array_equal(weight, 0)


def test_assign_a_broadcast_value_gets_memory_of_its_own(device):
    m = nn.Linear(2, 3, device=device)
    bias = gk.zeros(1, device=device).expand(3)
    m.load_state_dict({"weight": gk.zeros(3, 2, device=device), "bias": bias}, assign=True)
    assert m.bias._data.strides != bias._data.strides
    opt = gk.optim.SGD(m.parameters(), lr=1.0)
    (m(gk.ones(1, 2, device=device)) * gk.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(m.bias.numpy(), [-1.0, -2.0, -3.0])  # not one shared element stepped thrice
    np.testing.assert_array_equal(bias.numpy(), [0.0, 0.0, 0.0])
    # NumPy's broadcast views too, for a buffer; a tied parameter given one broadcast value stays tied
    bn = nn.BatchNorm1d(3, device=device)
    bn.load_state_dict({**bn.state_dict(), "running_mean": np.broadcast_to(np.float32(1.0), (3,))}, assign=True)
    bn(gk.tensor([[0.0, 3.0, 6.0], [0.0, 3.0, 6.0]], device=device))
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.9, 1.2, 1.5], rtol=1e-6)

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 1, bias=False, device=device)
            self.b = nn.Linear(3, 1, bias=False, device=device)
            self.b.weight = self.a.weight

    tied = Tied()
    w = gk.ones(1, 1, device=device).expand(1, 3)
    tied.load_state_dict({"a.weight": w, "b.weight": w}, assign=True)
    assert tied.a.weight is tied.b.weight


def test_functional_call_after_assign(device):
    m = nn.Linear(2, 1, device=device)
    m.load_state_dict({"weight": gk.ones(1, 2, device=device), "bias": gk.zeros(1, device=device)}, assign=True)
    weight = m.weight
    x = gk.ones(1, 2, device=device)
    out = functional_call(m, {"weight": gk.full((1, 2), 2.0, device=device)}, (x,))
    assert out.item() == 4.0 and m.weight is weight and m(x).item() == 2.0


def test_assign_then_a_training_step_reads_nothing_on_the_host(device, monkeypatch):
    m = nn.Sequential(nn.Linear(3, 4, device=device), nn.ReLU(), nn.Linear(4, 1, device=device))
    m.load_state_dict({k: v.clone() for k, v in m.state_dict().items()}, assign=True)
    opt = gk.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = gk.ones(5, 3, device=device)
    refuse_host_reads(device, monkeypatch)
    for _ in range(2):
        opt.zero_grad()
        (m(x) ** 2).mean().backward()
        clip_grad_norm_(m.parameters(), 0.5)
        opt.step()


# ------------------------------------------------------------------ to_empty

def test_to_empty_keeps_shared_tensors_shared_and_then_trains(device):
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.b.weight = self.a.weight
            self.a.register_buffer("scale", gk.ones(2))
            self.b.register_buffer("scale", self.a.scale)

    src, m = Shared(), Shared()
    version = m.a.weight._version[0]
    m.to_empty(device=device)
    assert m.a.weight is m.b.weight and m.a.scale is m.b.scale
    assert m.a.weight._version[0] == version + 1  # once, though registered twice
    m.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(m.a.weight.numpy(), src.a.weight.numpy())
    opt = gk.optim.Adam(m.parameters(), lr=0.1)
    x = gk.ones(1, 2, device=device)
    (m.a(x) * m.a.scale + m.b(x) * m.b.scale).sum().backward()
    opt.step()
    assert m.a.weight.grad.device == x.device
    assert not np.array_equal(m.a.weight.numpy(), src.a.weight.numpy())


# ------------------------------------------------------------------ get_total_norm / clip_grads_with_norm_

def _reference_norm(arrays: list, norm_type: float) -> float:
    flat = np.concatenate([np.abs(a.astype(np.float64)).ravel() for a in arrays])
    return float(flat.max()) if norm_type == math.inf else float((flat ** norm_type).sum() ** (1 / norm_type))


@pytest.mark.parametrize("norm_type", [0.5, 1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_against_a_numpy_reference(device, norm_type):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in [(3, 4), (5,), (2, 2, 2), ()]]
    expected = _reference_norm(arrays, norm_type)
    for max_norm in (expected / 3, expected * 2):
        params = []
        for a in arrays:
            p = gk.zeros(*a.shape, device=device, requires_grad=True)
            p.grad = gk.tensor(a, device=device)
            params.append(p)
        total = clip_grad_norm_(iter(params), max_norm, norm_type)  # an iterator: read once
        assert total.item() == pytest.approx(expected, rel=1e-5)
        coef = min(1.0, max_norm / (expected + 1e-6))
        for p, a in zip(params, arrays, strict=True):
            np.testing.assert_allclose(p.grad.numpy(), a * coef, rtol=1e-5, atol=1e-7)
        grads = (p.grad for p in params)
        assert get_total_norm(grads, norm_type).item() == pytest.approx(min(expected, max_norm), rel=1e-4)


def test_get_total_norm_inputs_and_dtypes(device):
    assert get_total_norm(gk.tensor([[3.0, 4.0]], device=device)).item() == pytest.approx(5.0)
    assert get_total_norm([gk.zeros(0, device=device), gk.zeros(0, 2, device=device)], math.inf).item() == 0.0
    mixed = get_total_norm([gk.tensor([3.0], dtype="float16", device=device),
                            gk.tensor([4.0], dtype="float64", device=device)], 1)
    assert mixed.dtype == np.float64 and mixed.item() == 7.0 and mixed.device == gk.zeros(1, device=device).device
    with pytest.raises(gk.ArgumentTypeError, match="Tensors"):
        get_total_norm([gk.ones(2, device=device), None])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_clip_grad_norm_of_float16_gradients_whose_total_overflows_float16(device):
    p = gk.zeros(4, dtype="float16", device=device, requires_grad=True)
    p.grad = gk.full((4,), 60000.0, dtype="float16", device=device)  # total 120000: inf as a float16
    total = clip_grad_norm_([p], 1.0)
    assert total.dtype == np.float16 and math.isinf(total.item())  # returned in the gradients' dtype, as PyTorch
    np.testing.assert_allclose(p.grad.numpy(), np.full(4, 0.5), rtol=1e-3)  # scaled by the float32 total
    q = gk.zeros(2, device=device, requires_grad=True)
    q.grad = gk.tensor([3.0, 4.0], device=device)
    clip_grads_with_norm_([q], 1.0, gk.tensor(5.0, dtype="float64", device=device))
    assert q.grad.dtype == np.float32
    np.testing.assert_allclose(q.grad.numpy(), [0.6, 0.8], rtol=1e-6)


# ------------------------------------------------------------------ StackDataset

def _stacked(device: str, **named: bool) -> StackDataset:
    x = gk.tensor(np.arange(20.0).reshape(10, 2), device=device)
    y = gk.tensor(np.arange(10), device=device)
    if named:
        return StackDataset(x=TensorDataset(x), y=TensorDataset(y))
    return StackDataset(TensorDataset(x), TensorDataset(y))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_stack_dataset_in_a_shuffling_dataloader(device, num_workers):
    seen = []
    for (xb,), (yb,) in DataLoader(_stacked(device), batch_size=3, shuffle=True, seed=0, num_workers=num_workers):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())  # the pairs stay together
        seen += yb.numpy().tolist()
    assert sorted(seen) == list(range(10))
    for batch in DataLoader(_stacked(device, named=True), batch_size=4, num_workers=num_workers):
        assert list(batch) == ["x", "y"]
        np.testing.assert_array_equal(batch["x"][0].numpy()[:, 1], 2 * batch["y"][0].numpy() + 1)


def test_stack_dataset_pickles_and_nests(device):
    ds = pickle.loads(pickle.dumps(_stacked(device, named=True)))
    assert len(ds) == 10 and ds[3]["y"][0].item() == 3
    sub = Subset(_stacked(device), [7, 2])
    assert len(sub) == 2 and sub[1][1][0].item() == 2
    both = ConcatDataset([_stacked(device), _stacked(device)])
    assert len(both) == 20 and both[13][1][0].item() == 3
    parts = random_split(_stacked(device), [6, 4], seed=0)
    assert sorted(int(p[i][1][0].item()) for p in parts for i in range(len(p))) == list(range(10))
