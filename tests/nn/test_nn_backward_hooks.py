"""Module backward hooks: register_full_backward_pre_hook and register_full_backward_hook (PyTorch's
semantics, checked against torch where it is installed)."""

from __future__ import annotations

import numpy as np
import pytest
from training_steps import cross_entropy_step

import gradkit as gk
from gradkit import nn


def _x(device: str, *shape: int, seed: int = 0, grad: bool = False) -> gk.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return gk.tensor(data, device=device, requires_grad=grad)


def _np(t: gk.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.numpy()


class TwoIn(nn.Module):
    """Two tensor inputs, a number, two outputs (the second gets no gradient below)."""

    def forward(self, a, b, scale, flag=None):
        return a * b * scale, a + 1


class Cube(nn.Module):
    def forward(self, x):
        return x**3


# ------------------------------------------------------------------ what the hooks receive
def test_pre_hook_then_hook_get_grad_output_and_grad_input(device):
    m = TwoIn()
    log = []
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", mod is m, go)))
    m.register_full_backward_hook(lambda mod, gi, go: log.append(("hook", gi, go)))
    a = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gk.tensor([3.0, 4.0], device=device)  # a tensor that does not require grad: zeros, as PyTorch
    y, _ = m(a, b, 2.0, flag="x")
    assert log == []
    y.sum().backward()
    assert [entry[0] for entry in log] == ["pre", "hook"] and log[0][1]
    go = log[0][2]
    assert len(go) == 2 and go[1] is None  # the second output got no gradient
    np.testing.assert_array_equal(_np(go[0]), [1.0, 1.0])
    _, gi, go_seen = log[1]
    assert len(gi) == 3 and gi[2] is None and go_seen is go
    np.testing.assert_array_equal(_np(gi[0]), [6.0, 8.0])
    np.testing.assert_array_equal(_np(gi[1]), [0.0, 0.0])
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 8.0])


def test_hooks_that_scale_gradients(device):
    gk.manual_seed(0)
    lin = nn.Linear(3, 2).to(device)
    x = _x(device, 4, 3, grad=True)
    lin(x).sum().backward()
    ref_x, ref_w = x.grad.numpy(), lin.weight.grad.numpy()
    x.grad = None
    lin.zero_grad()
    lin.register_full_backward_pre_hook(lambda mod, go: (go[0] * 10,))
    lin.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 2,))
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ref_x * 20, rtol=1e-6)
    np.testing.assert_allclose(lin.weight.grad.numpy(), ref_w * 10, rtol=1e-6)  # parameters: not in grad_input


def test_hooks_run_once_per_pass_per_call_in_order():
    lin = nn.Linear(2, 2)
    log = []
    lin.register_full_backward_hook(lambda mod, gi, go: log.append("hook b"))
    lin.register_full_backward_hook(lambda mod, gi, go: log.append("hook a"), prepend=True)
    lin.register_full_backward_pre_hook(lambda mod, go: log.append("pre"))
    x = gk.ones(1, 2, requires_grad=True)
    y = lin(lin(x)).sum()  # called twice in one graph: twice per pass
    y.backward(retain_graph=True)
    assert log == ["pre", "hook a", "hook b"] * 2
    y.backward()
    assert len(log) == 12


def test_the_handle_removes_a_hook_and_a_recorded_call_keeps_its_hooks():
    m = Cube()
    calls = []
    handle = m.register_full_backward_hook(lambda mod, gi, go: calls.append(1))
    assert isinstance(handle, nn.RemovableHandle)
    x = gk.ones(2, requires_grad=True)
    y = m(x).sum()
    handle.remove()
    y.backward()
    assert calls == [1]  # as PyTorch: the hooks of a call are those registered when it ran
    m(x).sum().backward()
    assert calls == [1] and not m._has_hooks
    with m.register_full_backward_pre_hook(lambda mod, go: calls.append(2)):
        m(x).sum().backward()
    m(x).sum().backward()
    assert calls == [1, 2]


def test_hooks_when_no_input_requires_grad():
    lin = nn.Linear(2, 3)
    seen = []
    lin.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go[0].shape)))
    lin(gk.ones(4, 2)).sum().backward()
    assert seen == [((None,), (4, 3))]  # run once grad_output is known, with grad_input all None
    lin.register_full_backward_hook(lambda mod, gi, go: (gk.ones(4, 2),))
    with pytest.raises(nn.HookError, match=r"Linear: no input of this call requires grad.*only None"):
        lin(gk.ones(4, 2)).sum().backward()


def test_no_hooks_without_grad_and_a_warning_for_other_outputs():
    class DictOut(nn.Module):
        def forward(self, x):
            return {"y": x * 2}

    calls = []
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda mod, gi, go: calls.append(1))
    with gk.no_grad():
        assert lin(gk.ones(1, 2, requires_grad=True)).grad_fn is None
    m = DictOut()
    m.register_full_backward_hook(lambda mod, gi, go: calls.append(2))
    with pytest.warns(UserWarning, match="DictOut: backward hooks are called only .* got dict"):
        out = m(gk.ones(2, requires_grad=True))
    out["y"].sum().backward()
    assert calls == []


# ------------------------------------------------------------------ what the hooks return
def test_bad_hook_results_are_gradkit_errors():
    x = gk.ones(1, 2, requires_grad=True)
    cases = [
        ("hook", lambda mod, gi, go: (gi[0], gi[0]), nn.HookError,
         r"Linear: a backward hook returned an invalid number of grad_input, got 2, but expected 1"),
        ("pre", lambda mod, go: (go[0], go[0]), nn.HookError,
         r"backward pre-hook returned an invalid number of grad_output, got 2, but expected 1"),
        ("hook", lambda mod, gi, go: gi[0] * 2, nn.HookError, r"must return None or a tuple of 1 grad_input"),
        ("hook", lambda mod, gi, go: (gk.ones(3),), gk.ShapeError,
         r"grad_input\[0\] of shape \(3,\), expected \(1, 2\)"),
        ("pre", lambda mod, go: (go[0].astype("float64"),), gk.DTypeError, r"grad_output\[0\] of dtype float64"),
        ("pre", lambda mod, go: ("x",), nn.HookError, r"grad_output\[0\] = str 'x'; expected a Tensor or None"),
    ]
    for kind, hook, error, message in cases:
        lin = nn.Linear(2, 2)
        if kind == "hook":
            lin.register_full_backward_hook(hook)
        else:
            lin.register_full_backward_pre_hook(hook)
        with pytest.raises(error, match=message):
            lin(x).sum().backward()
    with pytest.raises(gk.ArgumentTypeError, match=r"register_full_backward_hook: hook must be callable"):
        lin.register_full_backward_hook(None)
    with pytest.raises(gk.ArgumentTypeError, match=r"register_full_backward_pre_hook: prepend must be True or False"):
        lin.register_full_backward_pre_hook(lambda mod, go: None, "first")


def test_none_in_a_returned_grad_input_drops_that_gradient():
    m = TwoIn()
    m.register_full_backward_hook(lambda mod, gi, go: (None, gi[1], None))
    a, b = gk.ones(2, requires_grad=True), gk.ones(2, requires_grad=True)
    m(a, b, 3.0)[0].sum().backward()
    assert a.grad is None
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])


def test_gradients_a_hook_keeps_are_not_changed_by_later_passes():
    """A kept gradient may also become a .grad (here through an identity module or an add), which a later
    pass adds into in place: the stored .grad must be a copy."""

    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(gk.zeros(3))

        def forward(self, x):
            return x + self.b

    for m in (nn.Identity(), Shift()):
        kept = []
        m.register_full_backward_hook(lambda mod, gi, go, kept=kept: kept.append((gi[0], go[0])))
        x = gk.ones(3, requires_grad=True)
        for _ in range(2):
            (m(x) * 2).sum().backward()
        for g in (g for pair in kept for g in pair):
            np.testing.assert_array_equal(g.numpy(), [2.0, 2.0, 2.0])
        np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


def test_create_graph_gives_second_derivatives_through_a_scaling_hook(device):
    m = Cube()
    calls = []
    m.register_full_backward_hook(lambda mod, gi, go: calls.append("hook") or (gi[0] * 2,))
    x = gk.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    m(x).sum().backward(create_graph=True)
    dx = x.grad
    np.testing.assert_allclose(dx.numpy(), 6 * np.array([1.0, 4.0, 9.0]))  # 2 * 3x^2
    x.grad = None
    dx.sum().backward()  # reaches the input node without passing the output node: no hook, as PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 24.0, 36.0])
    assert calls == ["hook"]


# ------------------------------------------------------------------ gradients that reach only some outputs
class WeightAndCube(nn.Module):
    """The first output uses only a parameter; the second uses the input (and another parameter)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(gk.ones(2))
        self.v = nn.Parameter(gk.ones(2))

    def forward(self, x):
        return self.w * 1, self.v * x**3


class IgnoresInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(gk.ones(2))

    def forward(self, x):
        return self.w * 1


def _l(g):
    return None if g is None else g.numpy().tolist()


def _logging(m):
    log = []
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", [_l(g) for g in go])))
    m.register_full_backward_hook(lambda mod, gi, go: log.append(("hook", [_l(g) for g in gi], [_l(g) for g in go])))
    return log


def test_a_pass_through_outputs_that_do_not_depend_on_the_inputs_runs_the_hooks_with_zeros(device):
    """As PyTorch: grad_input is zeros and the input's .grad becomes zeros; no gradient goes into the module
    along the output that got none (its parameter keeps no .grad)."""
    m = WeightAndCube().to(device)
    log = _logging(m)
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    w, _ = m(x)
    (w * 3).sum().backward()
    assert log == [("pre", [[3.0, 3.0], None]), ("hook", [[0.0, 0.0]], [[3.0, 3.0], None])]
    assert x.grad.device == x.device and x.grad.numpy().tolist() == [0.0, 0.0]
    assert m.v.grad is None and m.w.grad.numpy().tolist() == [3.0, 3.0]
    del log[:]
    with m.register_full_backward_pre_hook(lambda mod, go: (None, None)):  # drops both gradients
        w, y = m(x)
        (w + y).sum().backward()
    assert log[1:] == [("hook", [[0.0, 0.0]], [None, None])] and x.grad.numpy().tolist() == [0.0, 0.0]


def test_an_output_without_gradient_sends_none_into_the_module():
    class CopyAndRoot(nn.Module):
        def forward(self, x):
            return x * 1, x**0.5

    m = CopyAndRoot()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(_l(gi[0])))
    x = gk.tensor([0.0, 4.0], requires_grad=True)
    (m(x)[0] * 3).sum().backward()
    assert seen == [[3.0, 3.0]]  # zeros sent through the root (slope inf at 0) would give a nan


def test_no_full_hook_when_no_output_depends_on_the_inputs():
    """As PyTorch, also for an outer module whose only path to its inputs is through such a module."""

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = IgnoresInput()

        def forward(self, x):
            return self.inner(x)

    outer = Outer()
    inner_log = _logging(outer.inner)
    for m in (IgnoresInput(), outer):
        log = _logging(m)
        x = gk.tensor([1.0, 2.0], requires_grad=True)
        m(x).sum().backward()
        assert log == [("pre", [[1.0, 1.0]])] and x.grad is None
    assert inner_log == log


def test_a_double_backward_after_an_output_only_pass_runs_no_hook():
    """The pass through the outputs alone runs the hooks itself and leaves nothing for a later double
    backward that reaches the inputs without passing the outputs."""
    m = WeightAndCube()
    log = _logging(m)
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    w, y = m(x)
    y.sum().backward(create_graph=True, retain_graph=True)
    g, x.grad = x.grad, None  # 3 x^2
    (w * 7).sum().backward(retain_graph=True)
    assert log[-1] == ("hook", [[0.0, 0.0]], [[7.0, 7.0], None])
    del log[:]
    x.grad = None
    g.sum().backward()
    assert log == [] and x.grad.numpy().tolist() == [6.0, 12.0]


# ------------------------------------------------------------------ Sequential fusion, capture
def test_backward_hooks_turn_off_the_linear_relu_fusion(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)
    x = _x(device, 4, 3)
    assert model(x).grad_fn.next[0].name == "linear_relu"
    seen = []
    handle = model[1].register_full_backward_hook(lambda mod, gi, go: seen.append(go[0].shape))
    out = model(x)
    assert out.grad_fn.next[0].name == "BackwardHookFunction"  # the ReLU's output node
    out.sum().backward()
    assert seen == [(4, 5)]
    handle.remove()
    assert model(x).grad_fn.next[0].name == "linear_relu"


def test_a_training_step_with_hooks_makes_no_host_read_inside_a_capture():
    """Under the capture routing on the NumPy backend, a forward and backward with hooks reads no array on
    the host (the read guard). It does not test the host-data guard: NumPy arrays are this backend's device
    arrays, so that guard lets them through."""
    from gradkit.backends import NUMPY
    from gradkit.cuda import graphs as C
    from gradkit.cuda.rng import CounterRNG

    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to("cpu")
    model[1].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0.5,))
    model[2].register_full_backward_pre_hook(lambda mod, go: None)
    x = _x("cpu", 5, 3, grad=True)
    with C._Routing(NUMPY, None, CounterRNG(1)):
        model(x).sum().backward()
    assert x.grad.shape == (5, 3) and model[0].weight.grad is not None


@pytest.mark.cuda
def test_a_captured_step_with_backward_hooks_replays_like_eager_steps():
    """The hooks run while the step is captured; their kernels (the scaling) are replayed."""
    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to("cuda")
        model[1].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0.5,))
        model[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 2,))
        opt = gk.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return model, cross_entropy_step(model, opt)

    def batch(seed):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((16, 8)).astype(np.float32)
        return gk.tensor(x, device="cuda"), gk.tensor(rng.integers(0, 3, 16), device="cuda")

    (m1, step1), (m2, eager) = make(), make()
    x0, y0 = batch(0)
    captured = gk.cuda.capture(step1, x0, y0, warmup=2)
    assert captured.graphed
    eager(x0, y0)
    eager(x0, y0)  # what the warm-up did to m1
    for seed in range(1, 4):
        xb, yb = batch(seed)
        assert captured(xb, yb).item() == pytest.approx(eager(xb, yb).item(), rel=1e-4, abs=1e-6)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)

# ------------------------------------------------------------------ against PyTorch
def _hook_log(model, log):
    for name, mod in model.named_modules():
        mod.register_full_backward_pre_hook(lambda m, go, name=name: log.append(("pre", name, [_arr(g) for g in go])))
        mod.register_full_backward_hook(
            lambda m, gi, go, name=name: log.append(("hook", name, [_arr(g) for g in gi]))
        )


def _arr(g):
    return None if g is None else np.array(g.detach().numpy() if hasattr(g, "detach") else g.numpy())


def _same_log(a, b):
    assert [e[:2] for e in a] == [e[:2] for e in b]
    for (*_, ga), (*_, gb) in zip(a, b, strict=True):
        assert len(ga) == len(gb)
        for u, v in zip(ga, gb, strict=True):
            assert (u is None) == (v is None)
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # PyTorch's, for input_grad=False
@pytest.mark.parametrize("input_grad", [True, False])
def test_sequential_hooks_match_pytorch(input_grad):
    torch = pytest.importorskip("torch")
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.numpy()))
    model[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
    tmodel[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
    log, tlog = [], []
    _hook_log(model, log)
    _hook_log(tmodel, tlog)
    data = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    x = gk.tensor(data, requires_grad=input_grad)
    tx = torch.tensor(data, requires_grad=input_grad)
    (model(x) ** 2).sum().backward()
    (tmodel(tx) ** 2).sum().backward()
    _same_log(log, tlog)
    for p, q in zip(model.parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)
    if input_grad:
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_two_input_module_matches_pytorch():
    torch = pytest.importorskip("torch")

    class TorchTwoIn(torch.nn.Module):
        def forward(self, a, b, scale, flag=None):
            return a * b * scale, a + 1

    results = []
    for module, make in ((TwoIn(), gk.tensor), (TorchTwoIn(), torch.tensor)):
        log = []
        module.register_full_backward_pre_hook(lambda m, go, log=log: log.append(("pre", "", [_arr(g) for g in go])))
        module.register_full_backward_hook(
            lambda m, gi, go, log=log: log.append(("hook", "", [_arr(g) for g in gi])) or (gi[0] * 2, gi[1], None)
        )
        a = make([1.0, -2.0], requires_grad=True)
        b = make([3.0, 0.5], requires_grad=True)
        c = make([0.25, 4.0])
        y1, _ = module(a, b, 2.0)
        y2, z2 = module(a, c, -1.0, flag=True)
        (y1 * y2).sum().backward(retain_graph=True)
        z2.sum().backward()
        results.append((log, _arr(a.grad), _arr(b.grad)))
    (log, ga, gb), (tlog, ta, tb) = results
    _same_log(log, tlog)
    np.testing.assert_allclose(ga, ta, rtol=1e-6)
    np.testing.assert_allclose(gb, tb, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's
def test_a_double_backward_through_the_outputs_runs_the_hooks_as_pytorch():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, -2.0, 0.5]], dtype=np.float32)
    results = []
    for lin, make in ((nn.Linear(3, 1), gk.tensor), (torch.nn.Linear(3, 1), torch.tensor)):
        with gk.no_grad(), torch.no_grad():
            lin.weight.copy_(make([[0.5, -1.0, 2.0]]))
            lin.bias.copy_(make([0.25]))
        calls = []
        lin.register_full_backward_hook(lambda m, gi, go, calls=calls: calls.append(_arr(gi[0])) or (gi[0] * 2,))
        x = make(data, requires_grad=True)
        (lin(x) ** 2).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        (g**2).sum().backward()  # passes through the Linear's output node again: the hook runs again
        results.append((calls, _arr(g), _arr(x.grad), _arr(lin.weight.grad)))
    for ours, theirs in zip(*results, strict=True):
        if isinstance(ours, list):
            assert len(ours) == len(theirs) == 2
            for u, v in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(u, v, rtol=1e-5)
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-5)



def _listed(g):
    return None if g is None else _arr(g).tolist()


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's
def test_passes_that_reach_only_some_outputs_match_pytorch():
    """A gradient for an output that does not depend on the input, the same after a create_graph pass (then
    a double backward through the input alone), and a module that ignores its input inside one that does not."""
    torch = pytest.importorskip("torch")

    def run(lib, ones):
        class Two(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = lib.nn.Parameter(ones(2))
                self.v = lib.nn.Parameter(ones(2))

            def forward(self, x):
                return self.w * 1, self.v * x**3

        class Ignores(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = lib.nn.Parameter(ones(2))

            def forward(self, x):
                return self.w * 1

        class Outer(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Ignores()

            def forward(self, x):
                return self.inner(x), x**3

        two, outer, log = Two(), Outer(), []
        for name, m in (("two", two), ("outer", outer), ("inner", outer.inner)):
            m.register_full_backward_pre_hook(lambda mod, go, n=name: log.append((n, "pre", [_listed(g) for g in go])))
            m.register_full_backward_hook(lambda mod, gi, go, n=name: log.append((n, "hook", [_listed(g) for g in gi])))
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w, y = two(x)
        (w * 3).sum().backward(retain_graph=True)
        grads = [_listed(x.grad), _listed(two.v.grad)]
        x.grad = None
        y.sum().backward(create_graph=True, retain_graph=True)
        g, x.grad = x.grad, None
        (w * 7).sum().backward(retain_graph=True)
        grads.append(_listed(x.grad))
        x.grad = None
        log.append("double backward")
        g.sum().backward()
        grads.append(_listed(x.grad))
        x.grad = None
        outer(x)[0].sum().backward()
        return log, [*grads, _listed(x.grad)]

    assert run(gk, gk.ones) == run(torch, torch.ones)
