"""Optimiser hooks as PyTorch 2.x has them (step, state_dict and load_state_dict hooks, per optimiser and global
step hooks), and Adagrad's state for groups added by ``add_param_group``, with state dict round trips.

The expectations are written out here (one SGD step is ``p - lr * G``; Adagrad's steps are its formula); where
PyTorch is installed, Adagrad with an added group is also run against it.
"""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim
from gradkit.nn import HookError, RemovableHandle
from gradkit.optim import optimizer as optimizer_module

P = np.array([1.0, -2.0, 0.5])
G = np.array([0.5, -1.0, 2.0])
for _a in (P, G):
    _a.setflags(write=False)


def _param(device: str | None = None, values: np.ndarray = P, grad: np.ndarray | None = G) -> gk.Tensor:
    p = gk.tensor(values.copy(), device=device, requires_grad=True)
    if grad is not None:
        p.grad = gk.tensor(grad.copy(), device=device)
    return p


def _close(t: gk.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-13, atol=1e-15)


@pytest.fixture
def global_hooks():
    """Registers global step hooks for a test and removes them afterwards, even when it fails."""
    handles = []

    def register(kind: str, hook):
        register_hook = getattr(optimizer_module, f"register_optimizer_step_{kind}_hook")
        handles.append(register_hook(hook))
        return handles[-1]

    yield register
    for handle in handles:
        handle.remove()


# ------------------------------------------------------------------ step hooks
def test_step_hooks_run_in_pytorchs_order(device, global_hooks):
    """Global pre-hooks, the optimiser's pre-hooks, the step, its post-hooks, the global post-hooks; each gets
    (optimizer, args, kwargs) with the optimiser first in args."""
    p = _param(device)
    opt = optim.SGD([p], lr=0.1)
    calls = []

    def hook(name):
        def run(optimizer, args, kwargs):
            assert optimizer is opt and args[0] is opt and kwargs == {}
            calls.append((name, p.numpy().tolist()))
        return run

    opt.register_step_post_hook(hook("post 1"))
    global_hooks("post", hook("global post"))
    opt.register_step_pre_hook(hook("pre 1"))
    opt.register_step_pre_hook(hook("pre 2"))
    global_hooks("pre", hook("global pre"))
    opt.register_step_post_hook(hook("post 2"))
    assert opt.step() is None
    before, after = P.tolist(), (P - 0.1 * G).tolist()
    assert calls == [("global pre", before), ("pre 1", before), ("pre 2", before),
                     ("post 1", after), ("post 2", after), ("global post", after)]  # fmt: skip
    _close(p, P - 0.1 * G)


def test_removed_hooks_do_not_run():
    opt = optim.SGD([_param()], lr=0.1)
    calls = []
    first = opt.register_step_pre_hook(lambda *_: calls.append("first"))
    second = opt.register_step_post_hook(lambda *_: calls.append("second"))
    assert isinstance(first, RemovableHandle) and first.id != second.id
    first.remove()
    first.remove()  # a second time does nothing
    opt.step()
    assert calls == ["second"]
    with opt.register_step_pre_hook(lambda *_: calls.append("in the block")):
        opt.step()
    second.remove()
    opt.step()
    assert calls == ["second", "in the block", "second"]
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_a_hook_that_removes_another_does_not_stop_it_this_time():
    """The hooks registered when the step starts all run once, as the module hooks do."""
    opt = optim.SGD([_param()], lr=0.1)
    calls = []
    handles = {}

    def a(*_):
        calls.append("a")
        handles["b"].remove()

    handles["a"] = opt.register_step_pre_hook(a)
    handles["b"] = opt.register_step_pre_hook(lambda *_: calls.append("b"))
    opt.step()
    opt.step()
    assert calls == ["a", "b", "a"]


def test_a_pre_hook_replaces_the_arguments():
    p = _param()
    opt = optim.SGD([p], lr=0.1)
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": lambda: 7.0}))
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", kwargs["closure"]())))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", len(args), kwargs["closure"]())))
    assert opt.step() == 7.0  # the step ran with the closure the first hook put in
    assert seen == [("pre", 7.0), ("post", 1, 7.0)]
    _close(p, P - 0.1 * G)


def test_a_pre_hook_that_returns_something_else_raises_before_the_step():
    p = _param()
    opt = optim.SGD([p], lr=0.1)
    opt.register_step_pre_hook(lambda o, args, kwargs: args)  # a tuple of one, not (args, kwargs)
    with pytest.raises(HookError, match=r"SGD.step: a step pre-hook must return None or a tuple \(new_args, new_"):
        opt.step()
    assert issubclass(HookError, RuntimeError)  # PyTorch raises RuntimeError
    _close(p, P)


def test_global_hooks_run_for_every_optimiser_lbfgs_included(global_hooks):
    """Once per step, before and after the optimiser's own; LBFGS (which has its own step) runs them once per
    step, not once per evaluation of its closure."""
    calls = []
    global_hooks("pre", lambda o, args, kwargs: calls.append(("pre", type(o).__name__)))
    global_hooks("post", lambda o, args, kwargs: calls.append(("post", type(o).__name__)))
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"):
        getattr(optim, name)([_param()], lr=0.01).step()
    p = _param(grad=None)
    lbfgs = optim.LBFGS([p], max_iter=5)
    evaluations = []

    def closure():
        lbfgs.zero_grad()
        loss = ((p - 1.0) ** 2).sum()
        loss.backward()
        evaluations.append(1)
        return loss

    lbfgs.step(closure)
    assert len(evaluations) > 1
    names = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS"]
    assert calls == [(when, name) for name in names for when in ("pre", "post")]


def test_a_global_hook_removed_runs_no_more(global_hooks):
    calls = []
    handle = global_hooks("pre", lambda *_: calls.append(1))
    opt = optim.SGD([_param()], lr=0.1)
    opt.step()
    handle.remove()
    opt.step()
    assert calls == [1]


def test_subclasses_run_their_hooks_once():
    """An optimiser of one's own (an ``_update_group``, or a ``step`` that calls ``super().step()``) and one
    defined after hooks were first registered: each step runs each hook once."""

    class Halving(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {})

        def _update_group(self, group):
            for p in group["params"]:
                p._data *= 0.5

    class Counting(optim.SGD):
        def step(self, closure=None):
            self.steps = getattr(self, "steps", 0) + 1
            return super().step(closure)

    optim.SGD([_param()], lr=0.1).register_step_pre_hook(lambda *_: None)  # step hooks seen, whatever ran before

    class Later(Counting):
        def step(self, closure=None):
            return super().step(closure)

    for cls in (Halving, Counting, Later):
        opt = cls([_param()]) if cls is Halving else cls([_param()], lr=0.1)
        calls = []
        opt.register_step_pre_hook(lambda *_, calls=calls: calls.append("pre"))
        opt.register_step_post_hook(lambda *_, calls=calls: calls.append("post"))
        opt.step()
        assert calls == ["pre", "post"], cls.__name__
    assert list(inspect.signature(Later.step).parameters) == ["self", "closure"]  # the wrapper shows the step's


def test_every_class_step_is_wrapped_once():
    """Optimizer's step, LBFGS's and a user's subclass's run the hooks; a subclass that inherits step shares it."""

    class Mine(optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    for cls in (optim.Optimizer, optim.LBFGS, Mine):
        assert getattr(cls.__dict__["step"], "_runs_step_hooks", False), cls.__name__
        assert not getattr(cls.step.__wrapped__, "_runs_step_hooks", False), cls.__name__
    assert optim.SGD.step is optim.Optimizer.step


def test_hooks_must_be_callable():
    opt = optim.SGD([_param()], lr=0.1)
    with pytest.raises(gk.errors.ArgumentTypeError, match="register_step_pre_hook: hook must be callable"):
        opt.register_step_pre_hook(None)
    with pytest.raises(gk.errors.ArgumentTypeError, match="register_optimizer_step_post_hook: hook must be"):
        optimizer_module.register_optimizer_step_post_hook("print")
    with pytest.raises(gk.errors.ArgumentTypeError, match="prepend must be True or False"):
        opt.register_state_dict_pre_hook(lambda o: None, prepend="yes")
    assert not opt._optimizer_state_dict_pre_hooks


# ------------------------------------------------------------------ state dict hooks
def test_state_dict_hooks_run_in_order_and_may_change_the_dict(device):
    p = _param(device)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre 1"))
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre 0"), prepend=True)

    def add_note(o, state_dict):
        calls.append("post: add a note")
        state_dict["note"] = "in place"

    def replace(o, state_dict):
        calls.append("post: replace")
        return {**state_dict, "param_groups": [{**g, "lr": 0.5} for g in state_dict["param_groups"]]}

    opt.register_state_dict_post_hook(replace)
    opt.register_state_dict_post_hook(add_note, prepend=True)
    opt.register_state_dict_post_hook(lambda o, state_dict: calls.append(("post: sees", state_dict["note"])))
    state_dict = opt.state_dict()
    assert calls == ["pre 0", "pre 1", "post: add a note", "post: replace", ("post: sees", "in place")]
    assert state_dict["note"] == "in place" and state_dict["param_groups"][0]["lr"] == 0.5
    assert opt.param_groups[0]["lr"] == 0.1
    _close(state_dict["state"][0]["momentum_buffer"], G)


def test_load_state_dict_hooks(device):
    """The pre-hooks get a shallow copy of the dict given (edited in place or replaced) before anything is
    checked; the post-hooks run once it is loaded, not when loading fails."""
    p = _param(device)
    source = optim.SGD([p], lr=0.1, momentum=0.9)
    source.step()
    given = source.state_dict()
    opt = optim.SGD([_param(device)], lr=0.3, momentum=0.9)
    calls = []

    def set_lr(o, state_dict):
        calls.append("pre: set lr")
        state_dict["param_groups"] = [{**g, "lr": 0.2} for g in state_dict["param_groups"]]

    def check(o, state_dict):
        assert state_dict["param_groups"][0]["lr"] == 0.2
        calls.append(("pre: check, lr before", o.param_groups[0]["lr"]))

    opt.register_load_state_dict_pre_hook(check)
    opt.register_load_state_dict_pre_hook(set_lr, prepend=True)
    opt.register_load_state_dict_post_hook(lambda o: calls.append(("post", o.param_groups[0]["lr"])))
    opt.load_state_dict(given)
    assert calls == ["pre: set lr", ("pre: check, lr before", 0.3), ("post", 0.2)]
    assert given["param_groups"][0]["lr"] == 0.1  # the caller's dict is not edited
    _close(opt.state[opt.param_groups[0]["params"][0]]["momentum_buffer"], G)

    calls.clear()
    opt.register_load_state_dict_pre_hook(lambda o, state_dict: {"state": {}, "param_groups": given["param_groups"]},
                                          prepend=True)  # fmt: skip
    opt.load_state_dict({"not": "a state dict"})  # the first pre-hook made it one
    assert calls == ["pre: set lr", ("pre: check, lr before", 0.2), ("post", 0.2)]
    assert opt.state == {}

    other = optim.SGD([_param(device)], lr=0.3)
    other.register_load_state_dict_pre_hook(lambda o, state_dict: {"state": {}})
    other.register_load_state_dict_post_hook(lambda o: calls.append("post"))
    with pytest.raises(gk.errors.InvalidArgumentError, match="expected a dict with 'state' and 'param_groups'"):
        other.load_state_dict(given)
    assert "post" not in calls and other.param_groups[0]["lr"] == 0.3


def test_copies_and_pickles_have_no_hooks(global_hooks):
    """As PyTorch's optimisers (their ``__getstate__`` leaves the hooks out): the copy runs none of them, and
    hooks that cannot be pickled (lambdas) do not stop the optimiser from being pickled."""
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    calls = []
    opt.register_step_pre_hook(lambda *_: calls.append("step"))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append("state_dict"))
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load"))
    opt.step()
    deep = copy.deepcopy(opt)
    _close(deep.state[deep.param_groups[0]["params"][0]]["momentum_buffer"], G)
    for other in (deep, pickle.loads(pickle.dumps(opt)), copy.copy(opt)):
        assert all(not getattr(other, table) for table in optimizer_module._HOOK_TABLES)
        other.step()
        other.load_state_dict(other.state_dict())
        handle = other.register_step_post_hook(lambda *_: calls.append("copy's own"))
        other.step()
        handle.remove()
    assert calls == ["step"] + ["copy's own"] * 3 and len(opt._optimizer_step_pre_hooks) == 1


# ------------------------------------------------------------------ Adagrad and add_param_group
def _adagrad_step(p, s, lr, lr_decay, t, g=G, eps=1e-10):
    """One Adagrad step (the t-th of this parameter) by hand: the new parameter and sum."""
    s = s + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps), s


def test_adagrad_add_param_group_makes_the_groups_state(device):
    """A group added later: state made at once, ``sum`` filled with the group's initial_accumulator_value (the
    default's where it sets none), its own lr_decay, and its own step count from 0."""
    p = _param(device)
    opt = optim.Adagrad([p], lr=0.1, lr_decay=0.5, initial_accumulator_value=0.25)
    opt.step()
    opt.step()
    q, r = _param(device), _param(device, grad=None)
    opt.add_param_group({"params": [q], "lr_decay": 1.0, "initial_accumulator_value": 2.0})
    opt.add_param_group({"params": [r], "lr": 0.2})
    assert opt.param_groups[2]["lr_decay"] == 0.5 and opt.param_groups[2]["initial_accumulator_value"] == 0.25
    assert opt.state[q]["step"] == 0 and opt.state[r]["step"] == 0
    _close(opt.state[q]["sum"], np.full(3, 2.0))
    _close(opt.state[r]["sum"], np.full(3, 0.25))
    assert opt.state[q]["sum"].device == q.device
    assert sorted(opt.state_dict()["state"]) == [0, 1, 2]
    opt.step()
    opt.step()  # r has no gradient: not stepped, its count stays 0

    want_p, s_p = P, np.full(3, 0.25)
    for t in (1, 2, 3, 4):
        want_p, s_p = _adagrad_step(want_p, s_p, 0.1, 0.5, t)
    want_q, s_q = P, np.full(3, 2.0)
    for t in (1, 2):
        want_q, s_q = _adagrad_step(want_q, s_q, 0.1, 1.0, t)
    _close(p, want_p)
    _close(q, want_q)
    _close(r, P)
    assert [opt.state[x]["step"] for x in (p, q, r)] == [4, 2, 0]
    _close(opt.state[q]["sum"], s_q)


def test_adagrad_state_dict_round_trip_with_an_added_group(device):
    """A state dict of an Adagrad with a group added (one parameter not yet stepped) loads into another built
    the same way with other hyperparameters: groups and state follow the dict, and the two go on alike."""

    def build(lr_decay, init):
        p, q, r = _param(device), _param(device), _param(device, grad=None)
        opt = optim.Adagrad([p], lr=0.1, lr_decay=lr_decay, initial_accumulator_value=init)
        return opt, (p, q, r)

    a, (p, q, r) = build(0.5, 0.25)
    a.step()
    a.add_param_group({"params": [q, r], "lr_decay": 1.0, "initial_accumulator_value": 2.0})
    a.step()
    saved = a.state_dict()
    assert saved["state"][2]["step"] == 0
    assert saved["param_groups"][1]["initial_accumulator_value"] == 2.0

    b, (p2, q2, r2) = build(0.0, 0.0)
    b.add_param_group({"params": [q2, r2]})
    for mine, theirs in ((p2, p), (q2, q)):
        mine._data[...] = theirs._data
    b.load_state_dict(saved)
    assert [g["lr_decay"] for g in b.param_groups] == [0.5, 1.0]
    assert [g["initial_accumulator_value"] for g in b.param_groups] == [0.25, 2.0]
    assert [b.state[x]["step"] for x in (p2, q2, r2)] == [2, 1, 0]
    for opt, params in ((a, (p, q, r)), (b, (p2, q2, r2))):
        params[2].grad = gk.tensor(G, device=device)
        opt.step()
    for mine, theirs in ((p2, p), (q2, q), (r2, r)):
        _close(mine, theirs.numpy())
        _close(b.state[mine]["sum"], a.state[theirs]["sum"].numpy())
    _close(r2, _adagrad_step(P, np.full(3, 2.0), 0.1, 1.0, 1)[0])


def test_adagrad_loads_a_state_dict_without_state_for_an_added_group(device):
    """PyTorch's Adagrad makes the state of an added group's parameter at its first step, so its state dict
    has none before: loaded here, the parameter's state is made at its first step, from its group."""
    p, q = _param(device), _param(device)
    opt = optim.Adagrad([p], lr=0.1, initial_accumulator_value=0.25)
    opt.add_param_group({"params": [q], "lr_decay": 1.0})
    saved = opt.state_dict()
    del saved["state"][1]
    saved["param_groups"][1]["initial_accumulator_value"] = 0.5
    opt.load_state_dict(saved)
    assert q not in opt.state
    opt.step()
    opt.step()
    want, s = P, np.full(3, 0.5)
    for t in (1, 2):
        want, s = _adagrad_step(want, s, 0.1, 1.0, t)
    _close(q, want)
    assert opt.state[q]["step"] == 2


def test_adagrad_loads_groups_without_maximize_or_initial_accumulator_value():
    """PyTorch's state dicts from before 1.12 have no "maximize" (PyTorch loads them, with False); gradkit keeps
    the optimiser's own value for it and for "initial_accumulator_value"."""
    opt = optim.Adagrad([_param()], lr=0.1, initial_accumulator_value=0.25, maximize=True)
    saved = opt.state_dict()
    for key in ("maximize", "initial_accumulator_value"):
        del saved["param_groups"][0][key]
    saved["param_groups"][0]["lr"] = 0.3
    opt.load_state_dict(saved)
    group = opt.param_groups[0]
    assert (group["lr"], group["maximize"], group["initial_accumulator_value"]) == (0.3, True, 0.25)
    del saved["param_groups"][0]["lr_decay"]
    with pytest.raises(gk.errors.InvalidArgumentError, match="has no 'lr_decay'"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize(
    ("cls", "keys"),
    [(optim.Adadelta, ("maximize",)), (optim.Adamax, ("maximize",)),
     (optim.NAdam, ("maximize", "decoupled_weight_decay")), (optim.RAdam, ("maximize", "decoupled_weight_decay"))],
)
def test_older_pytorch_group_keys_may_be_absent(cls, keys):
    """As Adagrad's: a group without the keys PyTorch added later loads, keeping the optimiser's values."""
    opt = cls([_param()], maximize=True)
    saved = opt.state_dict()
    for key in keys:
        del saved["param_groups"][0][key]
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["maximize"] is True


def test_adagrad_add_param_group_matches_pytorch():
    """Steps before and after groups are added (with their own lr_decay and lr); PyTorch's state dict, taken
    while an added group has no state yet, loads into a gradkit Adagrad, which then goes on as PyTorch's."""
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        values = (P, np.array([0.4, -0.9]), np.array([1.0, 2.0, 0.5, -1.5]))
        t_params = [torch.nn.Parameter(torch.tensor(v.copy())) for v in values]
        g_params = [_param(values=v, grad=None) for v in values]
        t_opt = torch.optim.Adagrad(t_params[:1], lr=0.1, lr_decay=0.2, initial_accumulator_value=0.5)
        g_opt = optim.Adagrad(g_params[:1], lr=0.1, lr_decay=0.2, initial_accumulator_value=0.5)
        runs = [(t_opt, t_params), (g_opt, g_params)]

        def step(k, which):
            grads = [np.cos(t.detach().numpy() * (k + 1)) + 0.1 * k for t in t_params]
            for opt, params in runs:
                for i in which:
                    params[i].grad = (torch.tensor if opt is t_opt else gk.tensor)(grads[i])
                opt.step()
            for _, params in runs[1:]:
                for t, g in zip(t_params, params, strict=True):
                    np.testing.assert_allclose(g.numpy(), t.detach().numpy(), rtol=1e-14, atol=1e-15)

        step(0, [0])
        for opt, params in runs:
            opt.add_param_group({"params": [params[1]], "lr_decay": 0.6})
        step(1, [1])
        step(2, [0, 1])
        for opt, params in runs:
            opt.add_param_group({"params": [params[2]], "lr": 0.3})
        saved = t_opt.state_dict()
        assert sorted(saved["state"]) == [0, 1]  # PyTorch has no state for the last group's parameter yet
        loaded = [_param(values=t.detach().numpy(), grad=None) for t in t_params]
        g_loaded = optim.Adagrad([loaded[0]], lr=0.1)
        g_loaded.add_param_group({"params": [loaded[1]]})
        g_loaded.add_param_group({"params": [loaded[2]]})
        g_loaded.load_state_dict(saved)
        assert [g["lr_decay"] for g in g_loaded.param_groups] == [0.2, 0.6, 0.2]
        assert [g["lr"] for g in g_loaded.param_groups] == [0.1, 0.1, 0.3]
        runs.append((g_loaded, loaded))
        step(3, [0, 1, 2])
        step(4, [0, 2])
        for opt, params in runs[1:]:
            assert [opt.state[p]["step"] for p in params] == [int(t_opt.state[t]["step"]) for t in t_params]
            assert [opt.state[p]["step"] for p in params] == [5, 4, 2]
    finally:
        torch.set_default_dtype(default)
