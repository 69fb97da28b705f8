"""Review of the optimiser hooks (2b9ac33) and of nanargmax/nanargmin and pad's new modes (987f8c1).

Hooks: every optimiser class with step, global and state dict hooks; a subclass whose ``__init__`` skips
``Optimizer.__init__`` (as PyTorch's and gradkit's before the hooks allow); hooks that raise, that swap
LBFGS's closure, that change the learning rate next to a scheduler; old pickles without hook tables;
state dict hooks through gk.save/gk.load; on the emulated CuPy, a step "inside a capture" reads nothing
back with hooks on. nanarg*/pad: random sweeps against NumPy with NaN and infinities, odd reflections far
wider than the axis, and their gradients against central differences.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim
from gradkit.optim import optimizer as optimizer_module

P = np.array([1.0, -2.0, 0.5])
G = np.array([0.5, -1.0, 2.0])


def _param(device, values=P, grad=G):
    p = gk.tensor(np.array(values, dtype=np.float64), device=device, requires_grad=True)
    if grad is not None:
        p.grad = gk.tensor(np.array(grad, dtype=np.float64), device=device)
    return p


@pytest.fixture
def global_hooks():
    handles = []
    yield lambda kind, hook: handles.append(
        getattr(optimizer_module, f"register_optimizer_step_{kind}_hook")(hook)
    )
    for handle in handles:
        handle.remove()


# ------------------------------------------------------------------ step hooks on every class
CLASSES = [
    (optim.SGD, {"momentum": 0.9}), (optim.Adam, {}), (optim.AdamW, {}), (optim.RMSprop, {}),
    (optim.Adagrad, {}), (optim.Adadelta, {}), (optim.Adamax, {}), (optim.NAdam, {}), (optim.RAdam, {}),
    (optim.LBFGS, {"max_iter": 2}),
]  # fmt: skip


@pytest.mark.parametrize("cls,kw", CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_every_class_runs_its_hooks_around_a_closure_step(device, global_hooks, cls, kw):
    p = _param(device)
    opt = cls([p], lr=0.1, **kw)
    log = []
    global_hooks("pre", lambda o, a, k: log.append("global pre"))
    global_hooks("post", lambda o, a, k: log.append("global post"))
    opt.register_step_pre_hook(lambda o, a, k: log.append(("pre", len(a), a[0] is o)))
    opt.register_step_post_hook(lambda o, a, k: log.append("post"))

    def closure():
        log.append("closure")
        p.grad = gk.tensor(G.copy(), device=device)
        return gk.tensor(1.0, device=device)

    opt.step(closure)
    assert log[:3] == ["global pre", ("pre", 2, True), "closure"]
    assert log[-2:] == ["post", "global post"] and set(log[3:-2]) <= {"closure"}
    assert "_in_hooked_step" not in opt.__dict__
    assert not np.array_equal(p.numpy(), P)


class _NoInit(optim.Optimizer):
    """A subclass that sets its groups itself, never calling Optimizer.__init__ (PyTorch allows it)."""

    def __init__(self, params):
        self.param_groups = [{"params": list(params), "lr": 0.5}]
        self.state = {}
        self.defaults = {"lr": 0.5}

    def step(self, closure=None):
        for group in self.param_groups:
            for q in group["params"]:
                q._data -= group["lr"] * q.grad._data
        return None


def test_a_subclass_that_skips_optimizer_init_steps_and_takes_hooks(device, global_hooks):
    p = _param(device)
    opt = _NoInit([p])
    opt.step()  # was AttributeError: no _optimizer_step_pre_hooks
    np.testing.assert_allclose(p.numpy(), P - 0.5 * G)
    assert opt.state_dict()["param_groups"][0]["params"] == [0]
    log = []
    global_hooks("pre", lambda o, a, k: log.append("global"))
    handle = opt.register_step_pre_hook(lambda o, a, k: log.append("own"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.step()
    assert log == ["global", "own"] and opt.state_dict()["extra"] == 1
    handle.remove()
    opt.step()
    assert log == ["global", "own", "global"]
    assert not optim.Optimizer._optimizer_step_pre_hooks  # the class's empty table was not written to


def test_hooks_registered_before_optimizer_init_are_kept(device):
    class Late(optim.SGD):
        def __init__(self, params, log):
            self.register_step_post_hook(lambda o, a, k: log.append("post"))
            super().__init__(params, lr=0.1)

    log = []
    opt = Late([_param(device)], log)
    opt.step()
    assert log == ["post"]


def test_raising_hooks_and_steps_leave_the_optimiser_usable(device):
    p = _param(device)
    opt = optim.SGD([p], lr=0.1)
    log = []

    def pre(o, a, k):
        if not log:
            log.append("pre raised")
            raise KeyError("pre")

    opt.register_step_pre_hook(pre)
    opt.register_step_post_hook(lambda o, a, k: log.append("post"))
    with pytest.raises(KeyError):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), P)  # the step did not run
    with pytest.raises(ValueError, match="closure"):
        opt.step(lambda: (_ for _ in ()).throw(ValueError("closure")))
    assert "_in_hooked_step" not in opt.__dict__ and log == ["pre raised"]  # no post-hook after a failed step
    opt.step()
    assert log == ["pre raised", "post"]
    np.testing.assert_allclose(p.numpy(), P - 0.1 * G)


def test_a_pre_hook_gives_lbfgs_its_closure(device):
    p = gk.tensor(np.array([3.0, -2.0]), device=device, requires_grad=True)
    opt = optim.LBFGS([p], lr=1, max_iter=20)

    def closure():
        opt.zero_grad()
        loss = ((p - 1.0) ** 2).sum()
        loss.backward()
        return loss

    opt.register_step_pre_hook(lambda o, a, k: ((a[0],), {"closure": closure}))
    assert opt.step().item() == pytest.approx(13.0)
    np.testing.assert_allclose(p.numpy(), [1.0, 1.0], atol=1e-6)


def test_hooks_see_the_schedulers_learning_rates_as_pytorchs(device):
    p = _param(device)
    opt = optim.SGD([p], lr=1.0)
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    sched = optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    assert seen == [1.0, 0.5, 0.25]  # torch.optim.SGD with the same hook and StepLR


def test_an_old_pickle_without_hook_tables_loads_and_takes_hooks(device):
    p = _param(device)
    opt = optim.Adam([p], lr=0.1)
    opt.step()
    for table in optimizer_module._HOOK_TABLES:  # as pickled by the code before the hooks
        del opt.__dict__[table]
    back = pickle.loads(pickle.dumps(opt))
    log = []
    back.register_step_pre_hook(lambda o, a, k: log.append("pre"))
    back.step()
    assert log == ["pre"] and back.state_dict()["state"][0]["step"] == 2


def test_state_dict_hooks_through_save_and_load(device, tmp_path):
    p = _param(device)
    opt = optim.Adam([p], lr=0.1)
    opt.step()
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "hi"})
    gk.save(opt, str(tmp_path / "opt.gk"))  # save calls state_dict(): the hook runs
    loaded = gk.load(str(tmp_path / "opt.gk"))
    assert loaded["note"] == "hi"
    q = _param(device, grad=None)
    other = optim.Adam([q], lr=0.5)
    seen = []
    other.register_load_state_dict_pre_hook(lambda o, sd: seen.append(sd.pop("note")))
    other.register_load_state_dict_post_hook(lambda o: seen.append(o.param_groups[0]["lr"]))
    other.load_state_dict(loaded)
    assert seen == ["hi", 0.1] and "note" in loaded  # the hook edited a shallow copy
    np.testing.assert_allclose(other.state[q]["exp_avg"].numpy(), opt.state[p]["exp_avg"].numpy())


def test_a_step_with_hooks_reads_nothing_back_while_captured(device, monkeypatch, global_hooks):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    model = gk.nn.Sequential(gk.nn.Linear(4, 8), gk.nn.ReLU(), gk.nn.Linear(8, 3)).to(device)
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.standard_normal((5, 4)).astype(np.float32), device=device)
    y = gk.tensor(rng.integers(0, 3, 5), device=device)
    opts = [optim.SGD(model.parameters(), lr=0.1, momentum=0.9), optim.Adam(model.parameters(), capturable=True)]
    log = []
    global_hooks("pre", lambda o, a, k: log.append("global"))
    for opt in opts:
        opt.register_step_pre_hook(lambda o, a, k: log.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: log.append("post"))

    def train_step():
        for opt in opts:
            opt.zero_grad()
        gk.nn.functional.cross_entropy(model(x), y).backward()
        for opt in opts:
            opt.step()

    train_step()  # the state is made outside the "capture"

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    monkeypatch.setattr(gk.cuda, "is_capturing", lambda: True)
    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    train_step()
    monkeypatch.undo()
    assert log == ["global", "pre", "post"] * 4


# ------------------------------------------------------------------ nanargmax, nanargmin
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int64, bool])
def test_nanarg_sweep_against_numpy(device, dtype):
    rng = np.random.default_rng(7)
    for shape in [(), (5,), (3, 4), (2, 3, 4), (3, 0), (1, 1)]:
        a = rng.standard_normal(shape) * 3
        if np.dtype(dtype).kind == "f":
            m = rng.random(shape)
            a = np.where(m < 0.25, np.nan, np.where(m < 0.35, np.inf, np.where(m < 0.42, -np.inf, a)))
        a = a > 0 if dtype is bool else a.astype(dtype)
        x = gk.tensor(a, device=device)
        for op in ("nanargmax", "nanargmin"):
            for axis in [None, *range(-len(shape), len(shape))]:
                for keepdims in (False, True):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            expected = getattr(np, op)(a, axis=axis, keepdims=keepdims)
                    except ValueError:
                        with pytest.raises(ValueError):
                            getattr(gk, op)(x, axis=axis, keepdims=keepdims)
                        continue
                    got = getattr(gk, op)(x, axis=axis, keepdims=keepdims).numpy()
                    assert got.dtype == np.int64 and got.shape == np.shape(expected), (op, shape, axis)
                    np.testing.assert_array_equal(got, expected, err_msg=f"{op} {shape} axis={axis}")


# ------------------------------------------------------------------ pad
MODES = ["constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric", "wrap"]


def test_pad_random_sweep_against_numpy(device):
    rng = np.random.default_rng(12)
    dtypes = [np.float32, np.float64, np.int8, np.int64, np.uint8, bool]
    for _ in range(150):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(rng.integers(1, 5)) for _ in range(ndim))
        dtype = dtypes[rng.integers(len(dtypes))]
        a = rng.standard_normal(shape) * 10
        a = a > 0 if dtype is bool else (np.abs(a) if np.dtype(dtype).kind == "u" else a).astype(dtype)
        mode = MODES[rng.integers(len(MODES))]
        kw = {}
        if mode in ("maximum", "minimum", "mean", "median") and rng.random() < 0.7:
            kw["stat_length"] = [tuple(int(v) for v in rng.integers(1, 6, 2)) for _ in range(ndim)]
        if mode == "linear_ramp" and rng.random() < 0.7:
            kw["end_values"] = (float(rng.standard_normal() * 10), int(rng.integers(-9, 10)))
        if mode in ("reflect", "symmetric") and rng.random() < 0.6:
            kw["reflect_type"] = "odd"
        widths = [tuple(int(v) for v in rng.integers(0, 9, 2)) for _ in range(ndim)]
        expected = np.pad(a, widths, mode=mode, **kw)
        got = gk.pad(gk.tensor(a, device=device), widths, mode=mode, **kw).numpy()
        what = f"{mode} {kw} {a.dtype} {shape} {widths}"
        assert got.shape == expected.shape and got.dtype == expected.dtype, what
        if expected.dtype.kind == "f":
            scale = max(1.0, float(np.abs(expected).max()))
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=what)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=what)


def test_pad_with_nan_and_infinities_as_numpy(device):
    a = np.array([[np.nan, 1.0, np.inf], [2.0, -np.inf, 3.0]])
    x = gk.tensor(a, device=device)
    for mode, kw in [("maximum", {}), ("minimum", {"stat_length": 1}), ("mean", {}), ("median", {"stat_length": 2}),
                     ("linear_ramp", {"end_values": (np.inf, 1.0)}), ("reflect", {"reflect_type": "odd"}),
                     ("symmetric", {"reflect_type": "odd"})]:  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = np.pad(a, 2, mode=mode, **kw)
            got = gk.pad(x, 2, mode=mode, **kw).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=mode)


@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (2, 1)])
def test_pad_gradients_for_widths_far_beyond_the_axis(device, shape):
    rng = np.random.default_rng(sum(shape))
    x = gk.tensor(rng.standard_normal(shape), device=device, requires_grad=True)
    widths = [(7, 11)] + [(3, 0)] * (len(shape) - 1)
    weight = gk.tensor(rng.standard_normal(np.pad(np.zeros(shape), widths).shape), device=device)
    for mode, kw in [("reflect", {"reflect_type": "odd"}), ("symmetric", {"reflect_type": "odd"}),
                     ("median", {"stat_length": 2}), ("linear_ramp", {"end_values": (0.5, -1.0)}),
                     ("mean", {"stat_length": (1, 3)})]:  # fmt: skip
        assert gk.gradcheck(lambda t, m=mode, k=kw: (gk.pad(t, widths, mode=m, **k) * weight).sum(), (x,)), mode
