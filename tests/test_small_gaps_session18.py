"""Session 18: small torch API gaps: nn.init's deprecated names, nn.utils.clip_grad_norm,
autograd.gradcheck / gradgradcheck / Variable, func.linearize / stack_module_state /
replace_all_batch_norm_modules_ / functionalize, data.DistributedSampler."""

import math
import warnings

import numpy as np
import pytest

import gradkit as gk

DEPRECATED_INIT = [
    ("uniform", (), {"a": -1.0, "b": 1.0}),
    ("normal", (), {"mean": 0.5, "std": 2.0}),
    ("constant", (0.25,), {}),
    ("eye", (), {}),
    ("xavier_uniform", (), {"gain": 2.0}),
    ("xavier_normal", (), {}),
    ("kaiming_uniform", (), {"a": 0.1}),
    ("kaiming_normal", (), {"mode": "fan_out"}),
    ("orthogonal", (), {}),
    ("sparse", (0.5,), {}),
]


# ------------------------------------------------------------------ nn.init
@pytest.mark.parametrize(("name", "args", "kwargs"), DEPRECATED_INIT)
def test_deprecated_init_names_warn_and_give_the_underscore_functions_result(device, name, args, kwargs):
    old = getattr(gk.nn.init, name)
    new = getattr(gk.nn.init, name + "_")
    a = gk.zeros(4, 6, device=device, dtype="float64")
    b = gk.zeros(4, 6, device=device, dtype="float64")
    gk.manual_seed(3)
    with pytest.warns(FutureWarning, match=rf"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`"):
        out = old(a, *args, **kwargs)
    gk.manual_seed(3)
    new(b, *args, **kwargs)
    assert out is a
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert old.__name__ == name
    assert name in gk.nn.init.__all__


def test_deprecated_dirac_and_sparse_exist(device):
    w = gk.zeros(2, 2, 3, device=device)
    with pytest.warns(FutureWarning):
        gk.nn.init.dirac(w)
    assert float(w.numpy()[0, 0, 1]) == 1.0 and float(w.numpy().sum()) == 2.0
    s = gk.zeros(10, 3, device=device)
    gk.manual_seed(0)
    gk.nn.init.sparse_(s, 0.3)
    assert ((s.numpy() == 0).sum(axis=0) >= 3).all()


def test_deprecated_init_alias_reports_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gk.nn.init.constant(gk.zeros(2), 1.0)
    assert caught[0].filename == __file__


# ------------------------------------------------------------------ clip_grad_norm
def test_clip_grad_norm_is_deprecated_alias_of_clip_grad_norm_(device):
    p = gk.tensor([3.0, 4.0], device=device, requires_grad=True)
    q = gk.tensor([3.0, 4.0], device=device, requires_grad=True)
    (p * p).sum().backward()
    (q * q).sum().backward()
    with pytest.warns(FutureWarning, match="`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                                           "`torch.nn.utils.clip_grad_norm_`"):
        total = gk.nn.utils.clip_grad_norm(p, 1.0, norm_type=2.0)
    expected = gk.nn.utils.clip_grad_norm_(q, 1.0)
    assert float(total) == pytest.approx(10.0)
    assert float(total) == pytest.approx(float(expected))
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy())
    assert "clip_grad_norm" in gk.nn.utils.__all__


# ------------------------------------------------------------------ autograd.gradcheck
class _Square(gk.autograd.Function):
    """x**2 with a wrong backward (x instead of 2x) when ``bad``."""

    bad = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x if _Square.bad else g * 2 * x


class _NoSecond(gk.autograd.Function):
    """x**2 with a right first derivative that is not differentiable (its second derivative is lost)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x.detach()


def _inputs(device):
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.random((3, 2)), device=device, requires_grad=True)
    w = gk.tensor(rng.random((2, 4)), device=device, requires_grad=True)
    return x, w


@pytest.mark.parametrize("kwargs", [{}, {"fast_mode": True}, {"check_forward_ad": True},
                                    {"check_batched_grad": True, "check_grad_dtypes": True, "nondet_tol": 1e-12}])
def test_autograd_gradcheck_passes_correct_gradients(device, kwargs):
    x, w = _inputs(device)
    before = x.numpy().copy()
    assert gk.autograd.gradcheck(lambda x, w: gk.tanh(x @ w), (x, w), **kwargs) is True
    np.testing.assert_array_equal(x.numpy(), before)  # the caller's tensor is not perturbed
    assert x.grad is None


@pytest.mark.parametrize("fast_mode", [False, True])
def test_autograd_gradcheck_finds_a_wrong_backward(device, fast_mode):
    x, _ = _inputs(device)
    with pytest.raises(gk.GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        gk.autograd.gradcheck(_Square.apply, (x,), fast_mode=fast_mode)
    assert gk.autograd.gradcheck(_Square.apply, (x,), raise_exception=False, fast_mode=fast_mode) is False


def test_autograd_gradcheck_checks_only_inputs_that_require_grad(device):
    x, w = _inputs(device)
    w2 = w.detach()  # not checked: its (wrong) gradient is never asked for
    assert gk.autograd.gradcheck(lambda x, w: _Square.apply(w) + x.sum(), (x.detach().requires_grad_(), w2))
    with pytest.raises(gk.InvalidArgumentError, match="at least one input tensor to require gradient"):
        gk.autograd.gradcheck(lambda x: x * 2, (x.detach(),))
    with pytest.raises(ValueError):  # PyTorch's exception type
        gk.autograd.gradcheck(lambda x: x * 2, x.detach())


def test_autograd_gradcheck_arguments_as_torch(device):
    x = gk.tensor([1.0, 2.0], device=device, dtype="float32", requires_grad=True)
    with pytest.warns(UserWarning, match="not a double precision"):
        assert gk.autograd.gradcheck(lambda x: x * 3, x, eps=1e-3, atol=1e-3, rtol=1e-2)
    x64 = gk.tensor([1.0, 2.0], device=device, dtype="float64", requires_grad=True)
    with pytest.raises(gk.InvalidArgumentError, match="check_forward_ad or check_backward_ad"):
        gk.autograd.gradcheck(lambda x: x, x64, check_backward_ad=False)
    with pytest.raises(TypeError):
        gk.autograd.gradcheck(lambda x: x, x64, 1e-6)  # eps and the rest are keyword-only, as torch's
    assert gk.autograd.gradcheck(lambda x: x.sin(), x64, check_forward_ad=True, check_backward_ad=False)


def test_autograd_gradcheck_output_that_does_not_require_grad(device):
    x = gk.tensor([1.0, 2.0], device=device, dtype="float64", requires_grad=True)
    assert gk.autograd.gradcheck(lambda x: x.detach() * 0 + 1, x)  # constant: zero numerical Jacobian
    with pytest.raises(gk.GradcheckError, match="expected to be zero"):
        gk.autograd.gradcheck(lambda x: x.detach() * 2, x)


def test_gradgradcheck_checks_second_derivatives(device):
    x, w = _inputs(device)
    assert gk.autograd.gradgradcheck(lambda x, w: gk.tanh(x @ w), (x, w))
    assert gk.autograd.gradgradcheck(lambda x, w: gk.tanh(x @ w), (x, w), check_fwd_over_rev=True)
    go = gk.tensor(np.ones((3, 4)), device=device, requires_grad=True)
    assert gk.autograd.gradgradcheck(lambda x, w: gk.tanh(x @ w), (x, w), go)
    y = gk.tensor([0.5, -1.5], device=device, dtype="float64", requires_grad=True)
    assert gk.autograd.gradcheck(_NoSecond.apply, y)  # the first derivative is right
    with pytest.raises(gk.GradcheckError, match="Jacobian mismatch"):
        gk.autograd.gradgradcheck(_NoSecond.apply, y)
    assert gk.autograd.gradgradcheck(_NoSecond.apply, y, raise_exception=False) is False
    with pytest.raises(gk.InvalidArgumentError, match="check_fwd_over_rev or check_rev_over_rev"):
        gk.autograd.gradgradcheck(lambda y: y, y, check_rev_over_rev=False)


def test_autograd_variable_returns_a_detached_tensor_sharing_data(device):
    t = gk.tensor([1.0, 2.0], device=device)
    y = t * 2
    v = gk.autograd.Variable(y)
    assert isinstance(v, gk.Tensor) and not v.requires_grad and v.grad_fn is None
    v2 = gk.autograd.Variable(y, requires_grad=True)
    assert v2.requires_grad and v2.is_leaf
    v3 = gk.autograd.Variable(t)
    v3.add_(1)
    np.testing.assert_array_equal(t.numpy(), [2.0, 3.0])  # shares t's data
    assert isinstance(t, gk.autograd.Variable)
    assert gk.autograd.Variable().shape == (0,)
    with pytest.raises(TypeError, match="Variable data has to be a tensor"):
        gk.autograd.Variable([1.0, 2.0])
    with pytest.warns(UserWarning, match="volatile was removed"):
        gk.autograd.Variable(t, volatile=True)


# ------------------------------------------------------------------ func
def test_linearize_gives_output_and_reusable_jvp_fn(device):
    x = gk.tensor(np.arange(4.0), device=device)
    calls = []

    def f(x):
        calls.append(1)
        return gk.sin(x) * x

    out, jvp_fn = gk.func.linearize(f, x)
    np.testing.assert_allclose(out.numpy(), np.sin(np.arange(4.0)) * np.arange(4.0))
    t = gk.tensor(np.array([1.0, -1.0, 0.5, 2.0]), device=device)
    expected = gk.func.jvp(f, (x,), (t,))[1]
    for _ in range(2):
        np.testing.assert_allclose(jvp_fn(t).numpy(), expected.numpy(), rtol=1e-12)
    assert len(calls) == 2  # once by linearize, once by the reference jvp: jvp_fn does not call f
    assert not out.requires_grad and not jvp_fn(t).requires_grad


def test_linearize_pytrees_and_checks(device):
    a = gk.tensor([1.0, 2.0], device=device, dtype="float64")
    b = gk.tensor([3.0], device=device, dtype="float64")
    out, jvp_fn = gk.func.linearize(lambda p, c: {"s": p["a"] * c, "k": c * 0 + 1}, {"a": a}, b)
    ta, tb = gk.tensor([1.0, 0.0], device=device, dtype="float64"), gk.tensor([1.0], device=device, dtype="float64")
    res = jvp_fn({"a": ta}, tb)
    np.testing.assert_allclose(res["s"].numpy(), [3.0 + 1.0, 2.0])  # d(a*c) = ta*c + a*tb
    np.testing.assert_allclose(out["s"].numpy(), [3.0, 6.0])
    with pytest.raises(gk.ShapeError):
        jvp_fn({"a": tb}, tb)
    with pytest.raises(gk.ArgumentTypeError):
        jvp_fn(ta, tb)
    with pytest.raises(gk.InvalidArgumentError, match="dtype"):
        jvp_fn({"a": ta.astype("float32")}, tb)


def test_stack_module_state_for_ensembling_with_vmap(device):
    gk.manual_seed(0)
    models = [gk.nn.Sequential(gk.nn.Linear(3, 4), gk.nn.BatchNorm1d(4), gk.nn.Linear(4, 2)).to(device)
              for _ in range(3)]
    for m in models:
        m.eval()
    params, buffers = gk.func.stack_module_state(models)
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert params["0.weight"].shape == (3, 4, 3) and params["0.weight"].is_leaf and params["0.weight"].requires_grad
    assert set(buffers) == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert not buffers["1.running_mean"].requires_grad
    data = gk.tensor(np.random.default_rng(1).random((5, 3)), device=device, dtype="float32")

    def wrapper(p, b, x):
        return gk.func.functional_call(models[0], (p, b), (x,))

    out = gk.func.vmap(wrapper, (0, 0, None))(params, buffers, data)
    assert out.shape == (3, 5, 2)
    for k, m in enumerate(models):
        np.testing.assert_allclose(out.numpy()[k], m(data).numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert params["0.weight"].grad is not None and models[0][0].weight.grad is None  # new leaves


def test_stack_module_state_refusals():
    with pytest.raises(gk.InvalidArgumentError, match="at least one model"):
        gk.func.stack_module_state([])
    a, b = gk.nn.Linear(2, 2), gk.nn.Linear(2, 2)
    b.eval()
    with pytest.raises(gk.InvalidArgumentError, match="same training/eval mode"):
        gk.func.stack_module_state([a, b])
    with pytest.raises(gk.InvalidArgumentError, match="same class"):
        gk.func.stack_module_state([a, gk.nn.Tanh()])
    b.train()
    b.weight.requires_grad_(False)
    with pytest.raises(gk.InvalidArgumentError, match="same .requires_grad"):
        gk.func.stack_module_state([a, b])


def test_replace_all_batch_norm_modules_(device):
    m = gk.nn.Sequential(gk.nn.Linear(2, 3), gk.nn.BatchNorm1d(3), gk.nn.Sequential(gk.nn.BatchNorm1d(3))).to(device)
    assert gk.func.replace_all_batch_norm_modules_(m) is m
    for bn in (m[1], m[2][0]):
        assert bn.track_running_stats is False
        assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert dict(m.named_buffers()) == {}
    m.eval()
    x = gk.tensor(np.random.default_rng(0).random((4, 2)), device=device, dtype="float32")
    y = m(x).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)  # batch statistics, also in eval mode


def test_functionalize_is_an_identity_wrapper(device):
    def f(x):
        y = x * 1
        y.add_(1)
        return y

    g = gk.func.functionalize(f)
    x = gk.tensor([1.0, 2.0], device=device)
    np.testing.assert_array_equal(g(x).numpy(), f(x).numpy())
    assert gk.func.functionalize(f, remove="mutations_and_views")(x).shape == (2,)
    with pytest.raises(gk.InvalidArgumentError):
        gk.func.functionalize(f, remove="views")


# ------------------------------------------------------------------ DistributedSampler
def _torch_like(n, replicas, rank, drop_last, order):
    """PyTorch's DistributedSampler.__iter__ structure for a given order."""
    if drop_last and n % replicas:
        num = math.ceil((n - replicas) / replicas)
    else:
        num = math.ceil(n / replicas)
    total = num * replicas
    idx = list(order)
    if not drop_last:
        pad = total - len(idx)
        idx += (idx * math.ceil(pad / len(idx)))[:pad] if pad > len(idx) else idx[:pad]
    else:
        idx = idx[:total]
    return idx[rank:total:replicas]


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_structure_as_torch(n, replicas, drop_last):
    data = list(range(n))
    shares = []
    for rank in range(replicas):
        s = gk.data.DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        got = list(s)
        assert got == _torch_like(n, replicas, rank, drop_last, range(n))
        assert len(s) == len(got) == s.num_samples
        assert s.total_size == s.num_samples * replicas
        shares.append(got)
        shuffled = gk.data.DistributedSampler(data, replicas, rank, seed=5, drop_last=drop_last)
        order = np.random.default_rng([5, 0]).permutation(n).tolist()
        assert list(shuffled) == _torch_like(n, replicas, rank, drop_last, order)
    if n >= replicas:  # every sample is served (drop_last: all but the tail)
        served = {i for share in shares for i in share}
        assert len(served) == (n - n % replicas if drop_last else n)


def test_distributed_sampler_defaults_epochs_and_loader():
    data = list(range(10))
    s = gk.data.DistributedSampler(data)
    assert (s.num_replicas, s.rank, s.shuffle, s.seed, s.drop_last) == (1, 0, True, 0, False)
    first = list(s)
    assert sorted(first) == data
    assert list(s) == first  # no set_epoch: the same order again, as PyTorch's
    s.set_epoch(1)
    second = list(s)
    assert sorted(second) == data and second != first
    s.set_epoch(0)
    assert list(s) == first
    # ranks with the same seed and epoch split one permutation
    ranks = [gk.data.DistributedSampler(data, 2, r, seed=3) for r in range(2)]
    for r in ranks:
        r.set_epoch(4)
    assert sorted(list(ranks[0]) + list(ranks[1])) == data
    # in a DataLoader: loader.set_epoch sets the sampler's epoch
    ds = gk.data.TensorDataset(gk.arange(10))
    sampler = gk.data.DistributedSampler(ds, num_replicas=2, rank=1, seed=7)
    loader = gk.data.DataLoader(ds, batch_size=2, sampler=sampler)
    got = [int(v) for (b,) in loader for v in b.numpy()]
    assert got == list(sampler)
    loader.set_epoch(3)
    assert sampler.epoch == 3
    assert [int(v) for (b,) in loader for v in b.numpy()] == list(sampler)


def test_distributed_sampler_refusals():
    with pytest.raises(gk.InvalidArgumentError, match="Invalid rank 2"):
        gk.data.DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError):
        gk.data.DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(gk.InvalidArgumentError):
        gk.data.DistributedSampler(range(4), num_replicas=0)
    with pytest.raises(gk.ArgumentTypeError):
        gk.data.DistributedSampler(iter(range(4)))
    data = [1, 2, 3]
    s = gk.data.DistributedSampler(data)
    data.append(4)
    with pytest.raises(gk.InvalidArgumentError, match="length changed"):
        list(s)
