"""Module hooks, get_submodule/get_parameter/get_buffer, zero_grad/requires_grad_, and the
ModuleDict, ParameterList and ParameterDict containers (PyTorch's semantics and state-dict keys)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn


def _x(device: str, *shape: int, seed: int = 0, grad: bool = False) -> gk.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return gk.tensor(data, device=device, requires_grad=grad)


class Scale(nn.Module):
    def forward(self, x, *, factor=1.0):
        return x * factor


# ------------------------------------------------------------------ forward hooks
def test_pre_hooks_and_hooks_run_in_order_and_may_replace_args_and_output(device):
    m = Scale()
    log = []

    def pre_a(mod, args):
        log.append(("pre_a", mod is m, len(args)))
        return args[0] + 1  # not a tuple: wrapped in one

    def pre_b(mod, args):
        log.append(("pre_b", float(args[0].sum().item())))
        return (args[0] * 2,)

    def hook_a(mod, args, out):
        log.append(("hook_a", float(args[0].sum().item()), float(out.sum().item())))
        return out + 100

    def hook_b(mod, args, out):
        log.append(("hook_b", float(out.sum().item())))  # sees hook_a's replacement

    m.register_forward_pre_hook(pre_a)
    m.register_forward_pre_hook(pre_b)
    m.register_forward_hook(hook_a)
    m.register_forward_hook(hook_b)
    out = m(gk.zeros(2, device=device), factor=3.0)
    np.testing.assert_array_equal(out.numpy(), [106.0, 106.0])  # ((0 + 1) * 2) * 3 + 100
    assert log == [("pre_a", True, 1), ("pre_b", 2.0), ("hook_a", 4.0, 12.0), ("hook_b", 212.0)]


def test_prepend_puts_a_hook_first():
    m = Scale()
    log = []
    m.register_forward_pre_hook(lambda mod, args: log.append("pre 1"))
    m.register_forward_pre_hook(lambda mod, args: log.append("pre 0"), prepend=True)
    m.register_forward_hook(lambda mod, args, out: log.append("hook 1"))
    m.register_forward_hook(lambda mod, args, out: log.append("hook 0"), prepend=True)
    m(gk.ones(1))
    assert log == ["pre 0", "pre 1", "hook 0", "hook 1"]


def test_hooks_with_kwargs_see_and_replace_kwargs():
    m = Scale()
    seen = []

    def pre(mod, args, kwargs):
        return (args[0] + 1,), {**kwargs, "factor": 10.0}

    def hook(mod, args, kwargs, out):
        seen.append((float(args[0].item()), kwargs, float(out.item())))

    m.register_forward_pre_hook(pre, with_kwargs=True)
    m.register_forward_hook(hook, with_kwargs=True)
    assert m(gk.tensor(1.0), factor=2.0).item() == 20.0
    assert seen == [(2.0, {"factor": 10.0}, 20.0)]


def test_a_with_kwargs_pre_hook_must_return_args_and_kwargs():
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(nn.HookError, match=r"Scale.*with_kwargs=True.*\(new_args, new_kwargs\)") as info:
        m(gk.ones(1))
    assert isinstance(info.value, gk.GradkitError) and isinstance(info.value, RuntimeError)


def test_handles_remove_hooks_once_and_as_context_managers():
    m = Scale()
    calls = []
    h1 = m.register_forward_hook(lambda mod, args, out: calls.append(1))
    h2 = m.register_forward_pre_hook(lambda mod, args: calls.append(2))
    assert isinstance(h1, nn.RemovableHandle) and h2.id > h1.id
    m(gk.ones(1))
    assert calls == [2, 1]
    h1.remove()
    h1.remove()  # a second remove does nothing
    m(gk.ones(1))
    assert calls == [2, 1, 2]
    h2.remove()
    assert not m._forward_hooks and not m._forward_pre_hooks
    with m.register_forward_hook(lambda mod, args, out: out * 0):
        assert m(gk.ones(1)).item() == 0.0
    assert m(gk.ones(1)).item() == 1.0


def test_a_hook_may_remove_itself_while_the_hooks_run():
    m = Scale()
    calls = []
    handles = {}

    def once(mod, args, out):
        calls.append("once")
        handles["once"].remove()

    handles["once"] = m.register_forward_hook(once)
    m.register_forward_hook(lambda mod, args, out: calls.append("always"))
    m(gk.ones(1))
    m(gk.ones(1))
    assert calls == ["once", "always", "always"]


def test_always_call_hooks_run_when_forward_raises():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("broken forward")

    m = Broken()
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(("plain", out)))
    m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
    with pytest.raises(ValueError, match="broken forward"):
        m(gk.ones(1))
    assert seen == [("always", None)]

    def failing(mod, args, out):
        raise KeyError("hook")

    m.register_forward_hook(failing, always_call=True)
    with pytest.warns(UserWarning, match="always_call=True"), pytest.raises(ValueError, match="broken forward"):
        m(gk.ones(1))


def test_hook_registration_errors_name_the_call_and_the_argument():
    m = Scale()
    with pytest.raises(gk.ArgumentTypeError, match=r"register_forward_hook: hook must be callable, got int"):
        m.register_forward_hook(3)
    with pytest.raises(gk.ArgumentTypeError, match=r"register_forward_pre_hook: prepend must be True or False"):
        m.register_forward_pre_hook(lambda mod, args: None, prepend="yes")
    with pytest.raises(gk.ArgumentTypeError, match=r"register_forward_hook: always_call"):
        m.register_forward_hook(lambda mod, args, out: None, always_call=None)
    with pytest.raises(TypeError):
        m.register_forward_hook(lambda mod, args, out: None, True)  # keywords only, as PyTorch
    assert not m._forward_hooks and not m._forward_pre_hooks  # nothing was registered


def test_a_copy_keeps_its_hooks_and_the_handle_acts_on_the_original():
    m = Scale()
    h = m.register_forward_hook(lambda mod, args, out: out + 1)
    c = copy.deepcopy(m)
    h.remove()
    assert m(gk.ones(1)).item() == 1.0 and c(gk.ones(1)).item() == 2.0


def _add_one(mod, args, out):
    return out + 1


def test_a_module_unpickled_in_a_fresh_process_keeps_its_hooks(tmp_path):
    m = nn.Identity()
    m.register_forward_hook(_add_one)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(m))
    code = (
        "import pickle, sys, gradkit as gk; sys.path.insert(0, sys.argv[2]);"
        "m = pickle.loads(open(sys.argv[1], 'rb').read()); print(m(gk.tensor(1.0)).item())"
    )
    here = str(Path(__file__).parent)  # where pickle finds _add_one
    out = subprocess.run([sys.executable, "-c", code, str(path), here], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2.0"


def test_hooks_match_pytorch_order_and_return_values():
    torch = pytest.importorskip("torch")

    def run(make, to_tensor):
        m = make()
        log = []
        m.register_forward_pre_hook(lambda mod, args: log.append("pre a") or (args[0] + 1))
        m.register_forward_pre_hook(lambda mod, args: log.append("pre b"), prepend=True)
        m.register_forward_hook(lambda mod, args, out: log.append("hook a") or out * 3)
        h = m.register_forward_hook(lambda mod, args, out: log.append("hook gone"))
        m.register_forward_hook(lambda mod, args, out: log.append("hook b"), prepend=True)
        h.remove()
        out = m(to_tensor(np.arange(3.0, dtype=np.float32)))
        return log, np.asarray(out.detach().numpy())

    log_gk, out_gk = run(nn.ReLU, gk.tensor)
    log_t, out_t = run(torch.nn.ReLU, torch.from_numpy)
    assert log_gk == log_t
    np.testing.assert_array_equal(out_gk, out_t)


# ------------------------------------------------------------------ hooks inside Sequential (Linear+ReLU fusion)
def _pair_model(device: str) -> nn.Sequential:
    gk.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).to(device)


def _unfused_reference(model: nn.Sequential, x: gk.Tensor, relu_scale: float = 1.0) -> gk.Tensor:
    """The model's result computed layer by layer with the functional forms (never fused)."""
    lin0, lin2 = model[0], model[2]
    h = nn.functional.relu(nn.functional.linear(x, lin0.weight, lin0.bias)) * relu_scale
    return nn.functional.linear(h, lin2.weight, lin2.bias)


def test_a_forward_hook_on_the_relu_of_a_fused_pair_sees_its_own_input_and_output(device):
    model = _pair_model(device)
    x = _x(device, 4, 3)
    fused_out = model(x)
    assert fused_out.grad_fn.next[0].name == "linear_relu"  # fused without hooks
    seen = {}

    def hook(mod, args, out):
        seen["in"], seen["out"] = args[0].numpy(), out.numpy()

    handle = model[1].register_forward_hook(hook)
    out = model(x)
    assert out.grad_fn.next[0].name == "relu"  # the pair runs unfused while the hook is on
    lin0 = model[0]
    pre = x.numpy() @ lin0.weight.numpy().T + lin0.bias.numpy()
    np.testing.assert_allclose(seen["in"], pre, rtol=1e-6, atol=1e-6)  # the Linear's output, negatives included
    assert (seen["in"] < 0).any()
    np.testing.assert_array_equal(seen["out"], np.maximum(seen["in"], 0))
    np.testing.assert_allclose(out.numpy(), fused_out.numpy(), rtol=1e-6, atol=1e-6)
    handle.remove()
    assert model(x).grad_fn.next[0].name == "linear_relu"  # fused again once the hook is gone


def test_a_hook_that_replaces_the_relu_output_changes_the_result_and_its_gradients(device):
    model = _pair_model(device)
    x = _x(device, 4, 3)
    model[1].register_forward_hook(lambda mod, args, out: out * 2.0)
    out = model(x)
    expected = _unfused_reference(model, x, relu_scale=2.0)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)
    assert not np.allclose(out.numpy(), _unfused_reference(model, x).numpy())
    (out ** 2).sum().backward()
    grads = [p.grad.numpy() for p in model.parameters()]
    model.zero_grad()
    (expected ** 2).sum().backward()
    for g, p in zip(grads, model.parameters(), strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_hooks_on_the_linear_of_a_fused_pair(device):
    model = _pair_model(device)
    x = _x(device, 4, 3)
    seen = []
    model[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0]) or (args[0] * 0.5,))
    out = model(x)
    assert seen[0] is x
    np.testing.assert_allclose(out.numpy(), _unfused_reference(model, x * 0.5).numpy(), rtol=1e-6, atol=1e-6)
    lin_out = []
    model[0].register_forward_hook(lambda mod, args, o: lin_out.append(o.numpy()))
    model(x)
    lin0 = model[0]
    np.testing.assert_allclose(lin_out[0], (x.numpy() * 0.5) @ lin0.weight.numpy().T + lin0.bias.numpy(),
                               rtol=1e-6, atol=1e-6)


def test_a_hook_on_another_pair_leaves_the_unhooked_pair_fused(device):
    gk.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)).to(device)
    x = _x(device, 2, 3)
    calls = []
    model[3].register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    out = model(x)
    assert calls == [(2, 4)]
    assert out.grad_fn.next[0].name == "relu"  # the hooked pair
    assert out.grad_fn.next[0].next[0].next[0].name == "linear_relu"  # the other pair stays fused


def test_hooks_on_the_sequential_itself_see_its_input_and_output(device):
    model = _pair_model(device)
    x = _x(device, 4, 3)
    seen = []
    model.register_forward_hook(lambda mod, args, out: seen.append((args[0], out)))
    out = model(x)
    assert seen[0][0] is x and seen[0][1] is out
    assert out.grad_fn.next[0].name == "linear_relu"  # a hook on the container does not unfuse its children


# ------------------------------------------------------------------ get_submodule / get_parameter / get_buffer
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.BatchNorm1d(3))
        self.heads = nn.ModuleDict({"cls": nn.Linear(3, 2)})
        self.scale = nn.Parameter(gk.ones(1))
        self.register_buffer("cache", gk.zeros(1), persistent=False)
        self.name = "net"


def test_get_submodule_parameter_and_buffer_follow_dotted_paths():
    net = Net()
    assert net.get_submodule("") is net
    assert net.get_submodule("encoder.0") is net.encoder[0]
    assert net.get_submodule("heads.cls") is net.heads["cls"]
    assert net.get_parameter("encoder.0.weight") is net.encoder[0].weight
    assert net.get_parameter("scale") is net.scale
    assert net.get_buffer("encoder.2.running_mean") is net.encoder[2].running_mean
    assert net.get_buffer("cache") is net.cache  # non-persistent buffers too
    assert nn.BatchNorm1d(2, track_running_stats=False).get_buffer("running_mean") is None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda n: n.get_submodule("encoder.5"), r"get_submodule: Sequential has no attribute `5` \(target 'encoder"),
        (lambda n: n.get_submodule("name"), r"get_submodule: `name` is not an nn.Module \(target 'name', got str\)"),
        (lambda n: n.get_submodule("scale.x"), r"`scale` is not an nn.Module"),
        (lambda n: n.get_parameter("encoder.0.nope"), r"get_parameter: Linear has no attribute `nope`"),
        (lambda n: n.get_parameter("encoder.2.running_mean"), r"`running_mean` is not an nn.Parameter.*got Tensor"),
        (lambda n: n.get_parameter("encoder.9.weight"), r"get_parameter: Sequential has no attribute `9`"),
        (lambda n: n.get_buffer("encoder.0.weight"), r"get_buffer: `weight` is not a buffer.*got Parameter"),
        (lambda n: n.get_buffer("missing"), r"get_buffer: Net has no attribute `missing`"),
    ],
)
def test_get_errors_are_attribute_errors_naming_the_target(call, message):
    with pytest.raises(nn.ModuleAttributeError, match=message) as info:
        call(Net())
    assert isinstance(info.value, AttributeError) and isinstance(info.value, gk.GradkitError)


def test_get_rejects_a_target_that_is_not_a_str():
    for name in ("get_submodule", "get_parameter", "get_buffer"):
        with pytest.raises(gk.ArgumentTypeError, match=rf"{name}: target must be a str, got int"):
            getattr(Net(), name)(0)


def test_get_matches_pytorch_on_the_same_paths():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    gm = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    for target in ("0", "1", "0.weight", "1.running_var", "1.num_batches_tracked", "2", "0.in_features"):
        for getter in ("get_submodule", "get_parameter", "get_buffer"):
            try:
                t = type(getattr(tm, getter)(target)).__name__
            except AttributeError:
                t = "AttributeError"
            try:
                g = type(getattr(gm, getter)(target)).__name__
            except AttributeError:
                g = "AttributeError"
            assert g == t, (getter, target)


# ------------------------------------------------------------------ zero_grad and requires_grad_
def test_zero_grad_keeps_the_grad_objects_when_not_setting_to_none(device):
    m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).to(device)
    m(_x(device, 4, 2)).sum().backward()
    grads = [p.grad for p in m.parameters()]
    m.zero_grad(set_to_none=False)
    for p, g in zip(m.parameters(), grads, strict=True):
        assert p.grad is g  # as PyTorch: zeroed in place
        np.testing.assert_array_equal(g.numpy(), 0)
    m(_x(device, 4, 2)).sum().backward()
    assert m[0].weight.grad is grads[0] and np.any(grads[0].numpy() != 0)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.zero_grad(set_to_none=False)  # no gradients: nothing to do
    with pytest.raises(gk.ArgumentTypeError, match="zero_grad: set_to_none"):
        m.zero_grad(set_to_none="no")


def test_zero_grad_replaces_a_gradient_that_is_part_of_a_graph():
    m = nn.Linear(2, 1)
    x = gk.ones(3, 2)
    (m(x) ** 2).sum().backward(create_graph=True)
    g = m.weight.grad
    assert g.requires_grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not g and not m.weight.grad.requires_grad
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0)
    assert np.any(g.numpy() != 0)  # the graph's tensor is left alone


def test_zero_grad_matches_pytorch():
    torch = pytest.importorskip("torch")
    tm, gm = torch.nn.Linear(2, 2), nn.Linear(2, 2)
    tm(torch.ones(1, 2)).sum().backward()
    gm(gk.ones(1, 2)).sum().backward()
    tg, gg = tm.weight.grad, gm.weight.grad
    tm.zero_grad(set_to_none=False)
    gm.zero_grad(set_to_none=False)
    assert (tm.weight.grad is tg) == (gm.weight.grad is gg)
    assert float(tg.abs().sum()) == float(np.abs(gg.numpy()).sum()) == 0.0


def test_requires_grad_sets_every_parameter_and_returns_the_module():
    net = Net()
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    assert net.requires_grad_() is net and all(p.requires_grad for p in net.parameters())
    assert not net.encoder[2].running_mean.requires_grad  # buffers are not parameters
    with pytest.raises(gk.ArgumentTypeError, match=r"requires_grad_: requires_grad must be True or False"):
        nn.Module().requires_grad_("yes")  # checked even with no parameters


# ------------------------------------------------------------------ ModuleDict
def test_module_dict_registers_its_modules_under_their_keys(device):
    md = nn.ModuleDict({"enc": nn.Linear(2, 3), "act": nn.ReLU()}).to(device)
    assert len(md) == 2 and list(md) == ["enc", "act"] and "enc" in md and "dec" not in md and 3 not in md
    assert list(md.keys()) == ["enc", "act"] and list(md.values()) == [md["enc"], md["act"]]
    assert [k for k, _ in md.items()] == ["enc", "act"]
    assert [n for n, _ in md.named_children()] == ["enc", "act"]
    assert list(md.state_dict()) == ["enc.weight", "enc.bias"]
    assert md.enc is md["enc"]
    md["dec"] = nn.Linear(3, 1)
    md["enc"] = nn.Linear(2, 3)  # replaced in its place
    assert list(md) == ["enc", "act", "dec"]
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    del md["act"]
    assert list(md) == ["enc", "dec"] and not hasattr(md, "act")
    dec = md.pop("dec")
    assert isinstance(dec, nn.Linear) and list(md) == ["enc"]
    md.update([("b", nn.Tanh()), ("a", nn.Sigmoid())])  # pairs keep their order
    md.update(OrderedDict(z=nn.Identity()))
    md.update({"y": nn.Identity(), "x": nn.Identity()})  # a plain dict keeps its order too (PyTorch's ModuleDict)
    assert list(md) == ["enc", "b", "a", "z", "y", "x"]
    md.update(nn.ModuleDict({"w": nn.Identity()}))
    assert list(md)[-1] == "w"
    md.clear()
    assert len(md) == 0 and list(md.state_dict()) == []


def test_module_dict_in_a_model_trains(device):
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2)})

        def forward(self, x):
            return self.heads["a"](x).sum() + self.heads["b"](x).sum()

    m = TwoHeads().to(device)
    assert [n for n, _ in m.named_parameters()] == ["heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias"]
    opt = gk.optim.SGD(m.parameters(), lr=0.1)
    before = m.heads["b"].weight.numpy()
    m(_x(device, 4, 3)).backward()
    opt.step()
    assert not np.array_equal(before, m.heads["b"].weight.numpy())


def test_module_dict_errors():
    md = nn.ModuleDict({"a": nn.ReLU()})
    with pytest.raises(nn.ContainerKeyError, match=r"ModuleDict.__getitem__: no module named 'b' \(keys: 'a'") as info:
        md["b"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, gk.GradkitError)
    with pytest.raises(nn.ContainerKeyError, match="ModuleDict.__delitem__"):
        del md["b"]
    with pytest.raises(nn.ContainerKeyError, match="ModuleDict.pop"):
        md.pop("b")
    with pytest.raises(gk.ArgumentTypeError, match="ModuleDict.__getitem__: keys are str, got int"):
        md[0]
    with pytest.raises(gk.ArgumentTypeError, match=r"ModuleDict.__setitem__: expected a Module or None, got Tensor"):
        md["t"] = gk.ones(1)
    with pytest.raises(nn.ModuleAttributeError, match="contain no '.'"):
        md["a.b"] = nn.ReLU()
    with pytest.raises(nn.ModuleAttributeError, match="attribute 'keys' already exists"):
        md["keys"] = nn.ReLU()  # would hide the method
    with pytest.raises(gk.ArgumentTypeError, match=r"ModuleDict.update: expected an iterable of \(key, value\) pairs"):
        md.update(3)
    with pytest.raises(gk.ArgumentTypeError, match="ModuleDict.update: element 0 must be a"):
        md.update([nn.ReLU()])
    with pytest.raises(gk.InvalidArgumentError, match="ModuleDict.update: element 1 has length 3"):
        md.update([("x", nn.ReLU()), ("y", nn.ReLU(), 1)])
    with pytest.raises(gk.ArgumentTypeError, match="ModuleDict.update: expected an iterable"):
        nn.ModuleDict("ab")
    assert list(md) == ["a"]  # a malformed pair is found before anything is added (PyTorch adds those before it)


# ------------------------------------------------------------------ ParameterList
def test_parameter_list_registers_and_renumbers(device):
    t = gk.ones(2, device=device)
    p1 = nn.Parameter(gk.zeros(3, device=device))
    pl = nn.ParameterList([t, p1])
    assert isinstance(pl[0], nn.Parameter) and pl[0].requires_grad and pl[1] is p1
    assert pl[0].data is t.data  # wrapped without a copy
    assert len(pl) == 2 and list(pl) == [pl[0], p1] and pl[-1] is p1
    assert list(pl.state_dict()) == ["0", "1"] and [n for n, _ in pl.named_parameters()] == ["0", "1"]
    p2 = nn.Parameter(gk.full((4,), 2.0, device=device))
    assert pl.append(p2) is pl
    pl.extend([gk.ones(1, device=device)])
    pl += [gk.ones(5, device=device)]
    assert [tuple(p.shape) for p in pl] == [(2,), (3,), (4,), (1,), (5,)]
    first = pl[0]
    pl.insert(0, nn.Parameter(gk.ones(6, device=device)))
    assert list(pl.state_dict()) == ["0", "1", "2", "3", "4", "5"] and pl[1] is first  # same objects, renumbered
    del pl[1]
    assert pl[0].shape == (6,) and pl[1] is p1 and len(pl) == 5
    assert pl.pop().shape == (5,) and len(pl) == 4
    pl[0] = gk.zeros(7, device=device)
    assert isinstance(pl[0], nn.Parameter) and pl[0].shape == (7,)
    sliced = pl[1:3]
    assert isinstance(sliced, nn.ParameterList) and sliced[0] is p1 and sliced[1] is p2
    assert pl.get_parameter("1") is p1


def test_parameter_list_gradients_and_optimiser(device):
    class Weights(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ws = nn.ParameterList([gk.ones(2, device=device), gk.ones(3, device=device)])

        def forward(self):
            return sum((w * (i + 1)).sum() for i, w in enumerate(self.ws))

    m = Weights()
    assert [n for n, _ in m.named_parameters()] == ["ws.0", "ws.1"]
    m().backward()
    np.testing.assert_array_equal(m.ws[1].grad.numpy(), [2, 2, 2])
    gk.optim.SGD(m.parameters(), lr=0.5).step()
    np.testing.assert_array_equal(m.ws[0].numpy(), [0.5, 0.5])


def test_parameter_list_errors():
    pl = nn.ParameterList([gk.ones(1)])
    with pytest.raises(gk.ArgumentTypeError, match=r"ParameterList.append: expected a gk.nn.Parameter, a Tensor"):
        pl.append(3.0)
    with pytest.raises(gk.ArgumentTypeError, match=r"ParameterList.extend: expected an iterable of .*, got Tensor"):
        pl.extend(gk.ones(3))  # a Tensor iterates its rows: refused, as PyTorch
    with pytest.raises(gk.ArgumentTypeError, match="ParameterList.extend: expected an iterable"):
        nn.ParameterList(5)
    with pytest.raises(gk.IndexOutOfRangeError, match="ParameterList: index 3 is out of range for 1 parameters"):
        pl[3]
    with pytest.raises(gk.IndexOutOfRangeError):
        pl[-2] = gk.ones(1)
    with pytest.raises(gk.ArgumentTypeError, match="ParameterList: an index must be an int, got str"):
        pl["0"]
    with pytest.raises(gk.DTypeError):
        pl.append(gk.tensor([1, 2]))  # an integer tensor cannot require grad
    assert len(pl) == 1


# ------------------------------------------------------------------ ParameterDict
def test_parameter_dict_registers_under_its_keys(device):
    pd = nn.ParameterDict({"b": gk.ones(1, device=device), "a": gk.zeros(2, device=device)})
    assert list(pd) == ["a", "b"]  # PyTorch sorts a plain dict's keys
    assert list(nn.ParameterDict(OrderedDict(b=gk.ones(1), a=gk.ones(1)))) == ["b", "a"]  # an ordered one is kept
    assert list(nn.ParameterDict([("b", gk.ones(1)), ("a", gk.ones(1))])) == ["b", "a"]
    assert isinstance(pd["a"], nn.Parameter) and pd["a"].requires_grad and pd.a is pd["a"]
    assert list(pd.state_dict()) == ["a", "b"] and len(pd) == 2 and "a" in pd and "c" not in pd
    pd["c"] = nn.Parameter(gk.ones(3, device=device))
    pd["a"] = gk.ones(2, device=device)  # replaced in its place
    assert list(pd.keys()) == ["a", "b", "c"] and pd["a"].numpy().tolist() == [1, 1]
    assert [k for k, _ in pd.items()] == ["a", "b", "c"] and list(pd.values())[2] is pd["c"]
    c = pd.pop("c")
    assert c.shape == (3,) and "c" not in pd and not hasattr(pd, "c")
    del pd["b"]
    assert list(pd) == ["a"]
    assert pd.get("a") is pd["a"] and pd.get("zz") is None and pd.get("zz", 1) == 1
    z = pd.setdefault("z", gk.ones(4, device=device))
    assert pd["z"] is z and pd.setdefault("z", gk.ones(1)) is z
    assert pd.popitem()[0] == "z" and list(pd) == ["a"]
    cp = pd.copy()
    assert isinstance(cp, nn.ParameterDict) and cp["a"] is pd["a"] and cp is not pd
    pd.update({"n": None})
    assert pd["n"] is None and list(pd.state_dict()) == ["a"]
    pd.clear()
    assert len(pd) == 0


def test_parameter_dict_errors():
    pd = nn.ParameterDict({"a": gk.ones(1)})
    with pytest.raises(nn.ContainerKeyError, match=r"ParameterDict.__getitem__: no parameter named 'b'"):
        pd["b"]
    with pytest.raises(gk.ArgumentTypeError, match=r"ParameterDict.__setitem__: expected a gk.nn.Parameter"):
        pd["b"] = [1.0]
    with pytest.raises(gk.ArgumentTypeError, match="parameter name must be a str"):
        pd[1] = gk.ones(1)
    with pytest.raises(nn.ModuleAttributeError, match="attribute 'update' already exists"):
        pd["update"] = gk.ones(1)
    with pytest.raises(nn.ContainerKeyError, match="ParameterDict.popitem: the ParameterDict is empty"):
        nn.ParameterDict().popitem()


def test_container_reprs():
    pl = nn.ParameterList([gk.ones(2, 3, device="cpu"), None])
    assert repr(pl) == (
        "ParameterList(\n    (0): Parameter containing: [float32 of size 2x3]\n    (1): None\n)"
    )
    assert repr(nn.ParameterDict({"w": gk.ones(4, device="cpu")})) == (  # one line: inline, as PyTorch prints it
        "ParameterDict(  (w): Parameter containing: [float32 of size 4])"
    )
    assert repr(nn.ParameterList()) == "ParameterList()"
    md = nn.ModuleDict({"lin": nn.Linear(1, 2)})
    assert repr(md) == "ModuleDict(\n  (lin): Linear(in_features=1, out_features=2, bias=True)\n)"


def test_containers_move_and_load_state_dicts(device):
    gk.manual_seed(0)

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pl = nn.ParameterList([gk.randn(2), gk.randn(3)])
            self.pd = nn.ParameterDict({"w": gk.randn(2, 2)})
            self.md = nn.ModuleDict({"bn": nn.BatchNorm1d(2)})

    src, dst = Holder(), Holder().to(device)
    src.to(device)
    assert all(p.device == src.pl[0].device for p in src.parameters())
    suffix = "" if device == "cpu" else f" ({src.pl[0].device})"
    assert repr(src.pd) == f"ParameterDict(  (w): Parameter containing: [float32 of size 2x2{suffix}])"
    assert dst.load_state_dict(src.state_dict()) == ([], [])
    for key, value in src.state_dict().items():
        np.testing.assert_array_equal(dst.state_dict()[key].numpy(), value.numpy())
    assert list(src.state_dict()) == [
        "pl.0", "pl.1", "pd.w", "md.bn.weight", "md.bn.bias",
        "md.bn.running_mean", "md.bn.running_var", "md.bn.num_batches_tracked",
    ]


# ------------------------------------------------------------------ PyTorch's state-dict keys
def _build(lib, ones):
    """The same model in gradkit or torch, changed by the container operations both have."""
    net = lib.Module()
    net.heads = lib.ModuleDict({"cls": lib.Linear(4, 3), "reg": lib.Sequential(lib.Linear(4, 2), lib.ReLU())})
    net.heads["aux"] = lib.Linear(4, 1)
    net.heads.update([("zz", lib.Linear(1, 1)), ("mid", lib.BatchNorm1d(2))])
    del net.heads["cls"]
    net.heads.pop("zz")
    net.heads["reg"] = lib.Linear(4, 5)
    net.extra = lib.ParameterList([ones(2), ones(3)])
    net.extra.append(ones(1))
    net.extra.extend([ones(4)])
    net.extra[0] = ones(6)
    net.table = lib.ParameterDict({"b": ones(1), "a": ones(2)})
    net.table["c"] = ones(3)
    net.table.update({"e": ones(1), "d": ones(2)})
    del net.table["b"]
    net.blocks = lib.ModuleList([lib.ModuleDict({"x": lib.Linear(1, 1)}), lib.ParameterList([ones(2)])])
    return net


def test_state_dict_keys_and_names_match_pytorch():
    torch = pytest.importorskip("torch")
    g = _build(nn, lambda n: gk.ones(n, device="cpu"))
    t = _build(torch.nn, lambda n: torch.ones(n))
    gsd, tsd = g.state_dict(), t.state_dict()
    assert list(gsd) == list(tsd)
    assert [tuple(v.shape) for v in gsd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [type(m).__name__ for m in g.modules()] == [type(m).__name__ for m in t.modules()]
    # torch's values load into the gradkit model with strict=True
    g.load_state_dict({k: v.detach().numpy() for k, v in tsd.items()})
    assert repr(g.extra) == repr(t.extra).replace("torch.float32", "float32")
    assert repr(g.blocks[1]) == repr(t.blocks[1]).replace("torch.float32", "float32")  # one line: inline
    md = {lib: lib.ModuleDict({"a": lib.Linear(1, 2), "s": lib.Sequential(lib.ReLU())}) for lib in (nn, torch.nn)}
    assert repr(md[nn]) == repr(md[torch.nn])


def test_a_pickled_sequential_runs_its_hooks_in_a_fresh_process(tmp_path):
    """The cached fused plan is not pickled: its hook epoch means nothing in another process, where a stale
    plan would run a hooked Linear+ReLU pair fused and skip the hook."""
    import pickle
    import subprocess
    import sys
    import textwrap

    (tmp_path / "hookmod.py").write_text("def hook(m, args, out):\n    return out * 0 + 123\n")
    sys.path.insert(0, str(tmp_path))
    try:
        from hookmod import hook

        m = gk.nn.Sequential(gk.nn.Linear(3, 4, device="cpu"), gk.nn.ReLU())
        m(gk.ones((1, 3), device="cpu"))  # the plan is made (fused) before the hook exists
        m[1].register_forward_hook(hook)
        (tmp_path / "m.pkl").write_bytes(pickle.dumps(m))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("hookmod", None)
    code = textwrap.dedent(f"""
        import pickle, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import gradkit as gk
        m = pickle.loads(open({str(tmp_path / "m.pkl")!r}, "rb").read())
        print(m(gk.ones((1, 3), device="cpu")).tolist())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[[123.0, 123.0, 123.0, 123.0]]"


def test_a_ragged_state_dict_value_is_a_shape_error_naming_the_key():
    m = gk.nn.Sequential(gk.nn.Linear(2, 2))
    with pytest.raises(gk.ShapeError, match='"0.weight" is a ragged'):
        m.load_state_dict({"0.weight": [[1], [1, 2]], "0.bias": gk.zeros(2)})
