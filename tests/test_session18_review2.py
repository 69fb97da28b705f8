"""Review of session 18's second wave: Muon's float16 arithmetic (PyTorch's float32 opmath), the DataLoader
reading a TensorDataset or Subset subclass through its own ``__getitems__``, and gradcheck of a function
whose output is (a view of) its input."""

import numpy as np
import pytest

import gradkit as gk
import gradkit.data as gd


# ------------------------------------------------------------------ Muon, float16
def _lerp16(start, end, w):
    """PyTorch's float16 lerp: in float32 (its opmath type), rounded to float16 once."""
    s, e, w = start.astype(np.float32), end.astype(np.float32), np.float32(w)
    out = s + w * (e - s) if abs(w) < 0.5 else e + (w - np.float32(1)) * (e - s)
    return out.astype(np.float16)


def _muon16_reference(p, grads, lr, weight_decay, momentum):
    """torch.optim.Muon's steps on a float16 (rows <= cols) parameter with ns_steps=0 (O = u / ||u||), its
    float16 arithmetic done as PyTorch's: in float32, rounded to float16 after each operation."""
    buf = np.zeros_like(p)
    for g in grads:
        buf = _lerp16(buf, g, 1 - momentum)
        u = _lerp16(g, buf, momentum).astype(np.float32)
        ortho = u / max(np.sqrt(np.sum(u * u)), np.float32(1e-7))
        p = (p.astype(np.float32) * np.float32(1 - lr * weight_decay)).astype(np.float16)
        p = (ortho * np.float32(-lr) + p.astype(np.float32)).astype(np.float16)
    return p, buf


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_float16_steps_in_float32_as_pytorch(device, nesterov):
    """The momentum lerp and the weight decay factor of a float16 parameter are computed in float32 and
    rounded once (before: the lerp ran in float16 with its weight rounded to float16, and the factor
    1 - lr * weight_decay was rounded to float16)."""
    rng = np.random.default_rng(3)
    start = rng.standard_normal((6, 40)).astype(np.float16)
    grads = [rng.standard_normal((6, 40)).astype(np.float16) for _ in range(3)]
    lr, wd, mu = 0.1, 0.3, 0.95
    p = gk.tensor(start.copy(), device=device, requires_grad=True)
    opt = gk.optim.Muon([p], lr=lr, weight_decay=wd, momentum=mu, nesterov=nesterov, ns_steps=0)
    for g in grads:
        p.grad = gk.tensor(g, device=device)
        opt.step()
    if nesterov:
        expected, buf = _muon16_reference(start, grads, lr, wd, mu)
        np.testing.assert_array_equal(p.numpy(), expected)
    else:
        buf = np.zeros_like(start)
        for g in grads:
            buf = _lerp16(buf, g, 1 - mu)
    got = opt.state[p]["momentum_buffer"]
    assert got.dtype == gk.float16
    np.testing.assert_array_equal(got.numpy(), buf)


def test_muon_float16_lerp_matches_float32_rounded_once():
    from gradkit.optim.muon import _lerp

    rng = np.random.default_rng(0)
    start = rng.standard_normal(5000).astype(np.float16)
    end = rng.standard_normal(5000).astype(np.float16)
    for w in (0.05, 0.3, 0.7, 0.95):
        out, tmp = np.empty_like(start), np.empty_like(start)
        _lerp(np, start, end, w, out, tmp)
        np.testing.assert_array_equal(out, _lerp16(start, end, w))
        inplace = start.copy()
        _lerp(np, inplace, end, w, inplace, tmp)  # out is start, as Muon's buf.lerp_(grad, 1 - momentum)
        np.testing.assert_array_equal(inplace, out)


# ------------------------------------------------------------------ DataLoader and __getitems__
def test_loader_reads_a_tensor_dataset_subclass_through_its_getitems(device):
    """PyTorch's DataLoader reads a batch through the dataset's ``__getitems__``; gradkit's gathered the rows
    of a TensorDataset (or a Subset of one) from its tensors even when a subclass defined its own."""

    class Scaled(gd.TensorDataset):
        def __getitems__(self, indices):
            return [(self.tensors[0][i] * 10,) for i in indices]

    class Shifted(gd.Subset):
        def __getitems__(self, indices):
            return [self.dataset[self.indices[i]][0] + 100 for i in indices]

    x = gk.arange(6.0, device=device)
    batches = [b[0].tolist() for b in gd.DataLoader(Scaled(x), batch_size=4)]
    assert batches == [[0.0, 10.0, 20.0, 30.0], [40.0, 50.0]]
    batches = [b.tolist() for b in gd.DataLoader(Shifted(gd.TensorDataset(x), [1, 2, 3]), batch_size=2)]
    assert batches == [[101.0, 102.0], [103.0]]
    batches = [b[0].tolist() for b in gd.DataLoader(gd.Subset(Scaled(x), [5, 4]), batch_size=2)]
    assert batches == [[50.0, 40.0]]
    batches = [b[0].tolist() for b in gd.DataLoader(Scaled(x), batch_sampler=[[3, 1], [0]])]
    assert batches == [[30.0, 10.0], [0.0]]
    batches = [b[0].tolist() for b in gd.DataLoader(Scaled(x), batch_size=3, num_workers=2)]
    assert batches == [[0.0, 10.0, 20.0], [30.0, 40.0, 50.0]]
    # batch_size=None reads sample by sample (dataset[i]), as PyTorch
    assert [s[0].item() for s in gd.DataLoader(Scaled(x), batch_size=None)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # plain TensorDatasets and Subsets keep their gathered batches
    plain = [b[0].tolist() for b in gd.DataLoader(gd.Subset(gd.TensorDataset(x), [5, 0, 2]), batch_size=2)]
    assert plain == [[5.0, 0.0], [2.0]]


# ------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradcheck_of_an_output_that_is_its_input(device, fast_mode):
    """An output that is the input itself (or a view of it) changed with the perturbed input, so both
    differences were taken of the restored values: a zero numerical Jacobian and a false failure."""
    x = gk.tensor(np.arange(1.0, 7.0).reshape(2, 3), device=device, requires_grad=True)
    assert gk.autograd.gradcheck(lambda a: a, (x,), fast_mode=fast_mode)
    assert gk.autograd.gradcheck(lambda a: a[1], (x,), fast_mode=fast_mode)
    assert gk.autograd.gradcheck(lambda a: (a.reshape(3, 2), a.exp()), (x,), fast_mode=fast_mode)
    assert gk.autograd.gradgradcheck(lambda a: a * a, (x,), fast_mode=fast_mode)
    assert not gk.autograd.gradcheck(lambda a: a.detach()[0], (x,), fast_mode=fast_mode, raise_exception=False)
