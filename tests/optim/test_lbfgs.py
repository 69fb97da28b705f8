"""gk.optim.LBFGS: convergence (Rosenbrock, a quadratic, logistic regression against SciPy), PyTorch parity
step by step, the state dict (resuming gives the same iterates), host reads on CuPy, and argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F

X_START = np.array([-1.2, 1.0] * 5)  # Rosenbrock's usual start, repeated


def _rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _closure(opt, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    return closure


def _rosenbrock_run(device, n, dtype="float64", **kwargs):
    x = gk.tensor(X_START[:n].astype(dtype), device=device, requires_grad=True)
    opt = gk.optim.LBFGS([x], **kwargs)
    return x, opt, _closure(opt, lambda: _rosenbrock(x))


# ------------------------------------------------------------------ convergence
@pytest.mark.parametrize("n", [2, 10])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_converges_to_ones(device, n, line_search_fn):
    x, opt, closure = _rosenbrock_run(device, n, max_iter=100, line_search_fn=line_search_fn,
                                      tolerance_grad=1e-10, tolerance_change=1e-14)
    for _ in range(10 if line_search_fn is None else 2):
        loss = opt.step(closure)
    np.testing.assert_allclose(x.numpy(), np.ones(n), atol=1e-6)
    assert float(loss) < 1e-10
    state = opt.state[x]
    assert state["func_evals"] >= state["n_iter"] > 30


def test_rosenbrock_float32_stays_float32(device):
    x, opt, closure = _rosenbrock_run(device, 2, dtype="float32", max_iter=100, line_search_fn="strong_wolfe")
    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-3)
    state = opt.state[x]
    assert x.dtype == np.float32
    for key in ("d", "prev_flat_grad", "H_diag"):
        assert state[key].dtype == np.float32 and state[key].device == x.device, key
    assert all(v.dtype == np.float32 for key in ("old_dirs", "old_stps", "ro") for v in state[key])


def test_quadratic_with_exact_line_searches_terminates_in_n_iterations(device):
    """On a quadratic the cubic through two points is exact, so a line search that must zoom (the trial
    step ``lr = 100`` overshoots) finds the exact minimiser along the line, and L-BFGS with exact line
    searches ends at the minimum after n iterations; each iteration costs two evaluations."""
    n = 6
    rng = np.random.default_rng(3)
    m = rng.standard_normal((n, n))
    a_np, b_np = m @ m.T + 0.5 * np.eye(n), rng.standard_normal(n)
    a, b = gk.tensor(a_np, device=device), gk.tensor(b_np, device=device)
    x = gk.tensor(np.zeros(n), device=device, requires_grad=True)
    opt = gk.optim.LBFGS([x], lr=100, max_iter=n, max_eval=10 * n, line_search_fn="strong_wolfe",
                         tolerance_grad=1e-12, tolerance_change=1e-14)
    losses = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (a @ x)).sum() - (b * x).sum()
        loss.backward()
        losses.append(loss.item())
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a_np, b_np), atol=1e-10)
    assert opt.state[x]["n_iter"] == n
    assert opt.state[x]["func_evals"] == 2 * n + 1 == len(losses)


def test_logistic_regression_matches_scipy(device):
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 5))
    labels = (features @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.3 + rng.standard_normal(200) > 0).astype(float)
    lam = 0.05

    def scipy_loss(theta):
        z = features @ theta[:5] + theta[5]
        loss = np.mean(np.logaddexp(0, z) - labels * z) + 0.5 * lam * theta[:5] @ theta[:5]
        r = (1 / (1 + np.exp(-z)) - labels) / len(z)
        return loss, np.concatenate([features.T @ r + lam * theta[:5], [r.sum()]])

    ref = optimize.minimize(scipy_loss, np.zeros(6), jac=True, method="L-BFGS-B",
                            options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000}).x

    w = gk.tensor(np.zeros(5), device=device, requires_grad=True)
    bias = gk.tensor(np.zeros(1), device=device, requires_grad=True)
    x, y = gk.tensor(features, device=device), gk.tensor(labels, device=device)
    opt = gk.optim.LBFGS([w, bias], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                         tolerance_change=1e-15)

    def loss_fn():
        return F.binary_cross_entropy_with_logits(x @ w + bias, y) + 0.5 * lam * (w * w).sum()

    opt.step(_closure(opt, loss_fn))
    np.testing.assert_allclose(np.concatenate([w.numpy(), bias.numpy()]), ref, atol=1e-6)


def test_step_returns_the_first_loss_and_stops_at_a_stationary_point(device):
    x = gk.tensor(np.ones(3), device=device, requires_grad=True)
    opt = gk.optim.LBFGS([x])
    returned = []

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        returned.append(loss)
        return loss

    assert opt.step(closure) is returned[0]
    assert len(returned) == 1  # the gradient is 0: no iteration
    assert opt.state[x] == {"func_evals": 1, "n_iter": 0}
    np.testing.assert_array_equal(x.numpy(), np.ones(3))


# ------------------------------------------------------------------ PyTorch parity
def _torch_rosenbrock(torch):
    x = torch.tensor(X_START[:2].copy(), requires_grad=True)
    return [x], lambda: _rosenbrock(x)


def _gk_rosenbrock(device):
    x = gk.tensor(X_START[:2].copy(), device=device, requires_grad=True)
    return [x], lambda: _rosenbrock(x)


def _mlp_data():
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((40, 3))
    targets = np.sin(inputs @ np.array([1.0, -2.0, 0.5]))[:, None]
    return inputs, targets


def _torch_mlp(torch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    inputs, targets = (torch.tensor(a) for a in _mlp_data())
    return list(model.parameters()), lambda: torch.nn.functional.mse_loss(model(inputs), targets)


def _gk_mlp(device, torch):
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    model = gk.nn.Sequential(gk.nn.Linear(3, 8), gk.nn.Tanh(), gk.nn.Linear(8, 1)).to(device, "float64")
    model.load_state_dict(reference.state_dict())
    inputs, targets = (gk.tensor(a, device=device) for a in _mlp_data())
    return list(model.parameters()), lambda: F.mse_loss(model(inputs), targets)


@pytest.mark.parametrize("problem", ["rosenbrock", "mlp"])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_iterates_match_pytorch(device, problem, line_search_fn):
    """Ten steps of four iterations: the parameters after each step, the returned losses, func_evals and
    n_iter as PyTorch's (float64; the two differ in rounding only: dot products, fused multiply-adds)."""
    torch = pytest.importorskip("torch")
    if problem == "rosenbrock":
        gk_params, gk_loss = _gk_rosenbrock(device)
        t_params, t_loss = _torch_rosenbrock(torch)
    else:
        gk_params, gk_loss = _gk_mlp(device, torch)
        t_params, t_loss = _torch_mlp(torch)
    kwargs = {"max_iter": 4, "line_search_fn": line_search_fn}
    opt, t_opt = gk.optim.LBFGS(gk_params, **kwargs), torch.optim.LBFGS(t_params, **kwargs)
    closure, t_closure = _closure(opt, gk_loss), _closure(t_opt, t_loss)
    # a GPU's dot products add in another order: ten steps of rounding differences grow to ~1e-9 there
    rel = 1e-7 if device == "cuda" else 1e-9
    for step in range(10):
        loss, t_loss_value = opt.step(closure).item(), t_opt.step(t_closure).item()
        assert loss == pytest.approx(t_loss_value, rel=rel, abs=1e-12), step
        for p, tp in zip(gk_params, t_params, strict=True):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=rel, atol=1e-11, err_msg=f"step {step}")
        state, t_state = opt.state[gk_params[0]], t_opt.state[t_params[0]]
        assert (state["func_evals"], state["n_iter"]) == (t_state["func_evals"], t_state["n_iter"]), step
        assert len(state["old_dirs"]) == len(t_state["old_dirs"])
    np.testing.assert_allclose(state["d"].numpy(), t_state["d"].numpy(), rtol=1e-7, atol=1e-9)
    assert state["t"] == pytest.approx(float(t_state["t"]), rel=rel)


def test_pytorch_state_dict_loads_and_continues_as_pytorch(device):
    torch = pytest.importorskip("torch")
    t_params, t_loss = _torch_mlp(torch)
    t_opt = torch.optim.LBFGS(t_params, max_iter=3, line_search_fn="strong_wolfe")
    t_closure = _closure(t_opt, t_loss)
    for _ in range(3):
        t_opt.step(t_closure)
    gk_params, gk_loss = _gk_mlp(device, torch)
    for p, tp in zip(gk_params, t_params, strict=True):
        p.data = gk.tensor(tp.detach().numpy(), device=device)
    opt = gk.optim.LBFGS(gk_params, max_iter=1)
    opt.load_state_dict(t_opt.state_dict())
    assert opt.param_groups[0]["max_iter"] == 3 and opt.param_groups[0]["line_search_fn"] == "strong_wolfe"
    closure = _closure(opt, gk_loss)
    for _ in range(3):
        opt.step(closure)
        t_opt.step(t_closure)
    for p, tp in zip(gk_params, t_params, strict=True):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-11)
    assert opt.state[gk_params[0]]["func_evals"] == t_opt.state[t_params[0]]["func_evals"]


# ------------------------------------------------------------------ state dict
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_round_trip_resumes_the_same_iterates(device, line_search_fn, tmp_path):
    kwargs = {"max_iter": 3, "history_size": 4, "line_search_fn": line_search_fn}
    x, opt, closure = _rosenbrock_run(device, 4, **kwargs)
    for _ in range(4):
        opt.step(closure)
    saved = opt.state_dict()
    path = tmp_path / "lbfgs.safetensors"
    gk.save({"x": x, "opt": saved}, path)
    uninterrupted = []
    for _ in range(4):
        uninterrupted.append((opt.step(closure).item(), x.numpy()))
    for key in ("d", "prev_flat_grad"):  # a step replaces its state, it does not change it in place
        assert saved["state"][0][key] is not opt.state[x][key]

    loaded = gk.load(path)
    x2 = gk.tensor(loaded["x"].numpy(), device=device, requires_grad=True)
    opt2 = gk.optim.LBFGS([x2])
    opt2.load_state_dict(loaded["opt"])
    assert opt2.param_groups[0]["history_size"] == 4
    closure2 = _closure(opt2, lambda: _rosenbrock(x2))
    for loss, values in uninterrupted:
        assert opt2.step(closure2).item() == loss
        np.testing.assert_array_equal(x2.numpy(), values)
    assert opt2.state[x2]["func_evals"] == opt.state[x]["func_evals"]
    assert opt2.state[x2]["n_iter"] == opt.state[x]["n_iter"]
    assert len(opt2.state[x2]["old_dirs"]) == 4


# ------------------------------------------------------------------ host reads (CuPy)
def test_host_reads_per_step_on_cupy(device, monkeypatch):
    """One copy to the host per closure call, at most two more per iteration (counted on the emulated CuPy)."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    reads = [0]

    def counted(real):
        def read(*args, **kwargs):
            reads[0] += 1
            return real(*args, **kwargs)

        return read

    for line_search_fn in (None, "strong_wolfe"):
        x, opt, closure = _rosenbrock_run(device, 4, max_iter=6, max_eval=100, line_search_fn=line_search_fn)
        opt.step(closure)  # the first step's first iteration is steepest descent
        reads[0] = 0
        with monkeypatch.context() as patch:
            for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
                patch.setattr(core.ndarray, name, counted(getattr(core.ndarray, name)))
            evals, iters = opt.state[x]["func_evals"], opt.state[x]["n_iter"]
            opt.step(closure)
        evals, iters = opt.state[x]["func_evals"] - evals, opt.state[x]["n_iter"] - iters
        assert iters == 6
        assert reads[0] <= evals + 2 * iters, (line_search_fn, reads[0], evals, iters)


# ------------------------------------------------------------------ errors
def test_argument_errors_name_lbfgs(device):
    x = gk.tensor(np.zeros(2), device=device, requires_grad=True)
    y = gk.tensor(np.zeros(2), device=device, requires_grad=True)
    bad = [
        ({"lr": -1.0}, gk.InvalidArgumentError, "lr"),
        ({"lr": "1"}, gk.ArgumentTypeError, "lr"),
        ({"max_iter": 0}, gk.InvalidArgumentError, "max_iter"),
        ({"max_iter": 2.5}, gk.ArgumentTypeError, "max_iter"),
        ({"max_eval": 0}, gk.InvalidArgumentError, "max_eval"),
        ({"tolerance_grad": -1e-7}, gk.InvalidArgumentError, "tolerance_grad"),
        ({"tolerance_change": float("nan")}, gk.InvalidArgumentError, "tolerance_change"),
        ({"history_size": 0}, gk.InvalidArgumentError, "history_size"),
        ({"history_size": True}, gk.ArgumentTypeError, "history_size"),
        ({"line_search_fn": "wolfe"}, gk.InvalidArgumentError, "line_search_fn must be None or 'strong_wolfe'"),
    ]
    for kwargs, error, words in bad:
        with pytest.raises(error, match=f"LBFGS.*{words}"):
            gk.optim.LBFGS([x], **kwargs)

    with pytest.raises(gk.InvalidArgumentError, match="LBFGS: supports one parameter group only"):
        gk.optim.LBFGS([{"params": [x]}, {"params": [y]}])
    opt = gk.optim.LBFGS([x])
    with pytest.raises(gk.InvalidArgumentError, match="LBFGS: supports one parameter group only"):
        opt.add_param_group({"params": [y]})
    assert len(opt.param_groups) == 1
    with pytest.raises(gk.DTypeError, match="LBFGS: every parameter must have one dtype"):
        gk.optim.LBFGS([x, gk.tensor(np.zeros(2, np.float32), device=device, requires_grad=True)])

    with pytest.raises(gk.ArgumentTypeError, match=r"LBFGS.step: needs a closure"):
        opt.step()
    with pytest.raises(gk.ArgumentTypeError, match=r"LBFGS.step: closure must be a function"):
        opt.step(1.0)

    def vector_loss():
        opt.zero_grad()
        loss = x * 2
        loss.sum().backward()
        return loss

    with pytest.raises(gk.ShapeError, match=r"LBFGS.step: the closure must return the loss"):
        opt.step(vector_loss)
    opt.param_groups[0]["line_search_fn"] = "armijo"
    with pytest.raises(gk.InvalidArgumentError, match="LBFGS: line_search_fn"):
        opt.step(_closure(opt, lambda: (x * x).sum()))


def test_load_state_dict_errors(device):
    x = gk.tensor(X_START[:2].copy(), device=device, requires_grad=True)
    adam = gk.optim.Adam([x])
    opt = gk.optim.LBFGS([x], max_iter=3)
    opt.step(_closure(opt, lambda: _rosenbrock(x)))
    good = opt.state_dict()
    assert len(good["state"][0]["ro"]) >= 1
    with pytest.raises(gk.InvalidArgumentError, match="LBFGS.load_state_dict: .*'max_iter'"):
        opt.load_state_dict(adam.state_dict())
    other = gk.optim.LBFGS([gk.tensor(np.zeros(3), device=device, requires_grad=True)])
    with pytest.raises(gk.InvalidArgumentError, match=r"LBFGS.load_state_dict: state 'd' has shape \(2,\)"):
        other.load_state_dict(good)
    broken = {"state": {0: {**good["state"][0], "ro": good["state"][0]["ro"][:0]}},
              "param_groups": good["param_groups"]}
    with pytest.raises(gk.InvalidArgumentError, match="LBFGS.load_state_dict: the history lists"):
        opt.load_state_dict(broken)
    assert len(opt.state[x]["ro"]) == len(good["state"][0]["ro"])  # left as it was
