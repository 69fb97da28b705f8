"""Scientists' programs ported to gradkit (session 18), checked against numbers computed once with PyTorch 2.14
(float64, CPU; /tmp generator, not kept) or against closed forms. Nothing here imports torch.

Gaussian-process regression (RBF hyperparameters by the log marginal likelihood through cholesky and
solve_triangular, fitted by L-BFGS and Adam; predictive mean and variance), a Lennard-Jones particle system with
``gk.func`` (forces, Hessian, Hessian-vector products, vmap, gradients through velocity-Verlet steps), a
Lotka-Volterra RK4 integration differentiated in its parameters (plain and checkpointed), least squares and
eigenvalue gradients, a two-qubit evolution written with real 8x8 blocks (``matrix_exp``; gradkit has no complex
dtypes), Rosenbrock by L-BFGS step by step, and ``gk.trace`` of a stack with a constant component.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk

TOL = {"rtol": 1e-9, "atol": 1e-11}
F64 = gk.float64


def _np(t):
    return np.asarray(t.numpy() if isinstance(t, gk.Tensor) else t)


# ------------------------------------------------------------------ Gaussian-process regression
GP_X = np.linspace(-2, 2, 9)[:, None]
GP_Y = np.sin(1.5 * GP_X[:, 0]) + 0.1 * np.cos(7 * GP_X[:, 0])
GP_P0 = np.array([0.2, -0.1, -2.0])  # log lengthscale, log signal variance, log noise variance
GP_NLML = 6.503144216904608
GP_GRAD = [1.946945402586921, 0.3370195389148149, 1.8641960493515735]
GP_HESS = [[15.259410195115164, -2.816090612011013, -1.5199522916385153],
 [-2.8160906120110134, 1.0875626158133986, 0.4360226427441394],
 [-1.5199522916385155, 0.43602264274413893, 0.33917651043193836]]
GP_LBFGS_NONE = [[0.04025726635537355, -0.47600417310916976, -4.25536395124011],
 [0.0485886353922821, -0.42581508981298954, -4.258478611745238],
 [0.04859327465728804, -0.4257877724790569, -4.258480243037404]]
GP_LBFGS_WOLFE = [[0.048596189906718386, -0.4257718251066445, -4.2584785193950445],
 [0.048596189906718386, -0.4257718251066445, -4.2584785193950445],
 [0.048596189906718386, -0.4257718251066445, -4.2584785193950445]]
GP_ADAM = [-0.12930142385543963, -0.8820061362893431, -3.201850254725613]
GP_MU = [0.03977444354288123, 0.3621684652433703, 0.5590785356969501]
GP_VAR = [0.21911015557036795, 0.04685345731494117, 0.05526180922232449]
GP_PRED_GRAD = [-0.6687537936942406, 0.3774731465008667, -0.05624772439323296]


def _rbf(x1, x2, ls, sv):
    return sv * gk.exp(-0.5 * gk.cdist(x1, x2) ** 2 / ls**2)


def _nlml(p, x, y):
    ls, sv, nv = gk.exp(p[0]), gk.exp(p[1]), gk.exp(p[2])
    n = y.shape[0]
    k = _rbf(x, x, ls, sv) + nv * gk.eye(n, dtype=F64, device=x.device)
    lower = gk.linalg.cholesky(k)
    z = gk.linalg.solve_triangular(lower, y, lower=True)
    alpha = gk.linalg.solve_triangular(lower, z, lower=True, trans=1)  # cholesky_solve
    return 0.5 * y @ alpha + gk.log(gk.diagonal(lower)).sum() + 0.5 * n * math.log(2 * math.pi)


def _nlml_slogdet(p, x, y):
    ls, sv, nv = gk.exp(p[0]), gk.exp(p[1]), gk.exp(p[2])
    diff = x[:, None, :] - x[None, :, :]
    k = sv * gk.exp(-0.5 * (diff**2).sum(-1) / ls**2) + nv * gk.eye(y.shape[0], dtype=F64, device=x.device)
    return 0.5 * y @ gk.linalg.solve(k, y) + 0.5 * gk.linalg.slogdet(k)[1] + 0.5 * y.shape[0] * math.log(2 * math.pi)


def _gp_data(device):
    return gk.tensor(GP_X, device=device), gk.tensor(GP_Y, device=device)


def test_gp_marginal_likelihood_gradient_and_hessian(device):
    x, y = _gp_data(device)
    for f in (_nlml, _nlml_slogdet):
        p = gk.tensor(GP_P0.copy(), device=device, requires_grad=True)  # gk.tensor shares a NumPy array
        value = f(p, x, y)
        value.backward()
        np.testing.assert_allclose(value.item(), GP_NLML, **TOL)
        np.testing.assert_allclose(_np(p.grad), GP_GRAD, **TOL)
        hess = gk.func.hessian(lambda q, f=f: f(q, x, y))(gk.tensor(GP_P0, device=device))
        np.testing.assert_allclose(_np(hess), GP_HESS, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_gp_fit_lbfgs_iterates_match_pytorch(device, line_search_fn):
    x, y = _gp_data(device)
    p = gk.tensor(GP_P0.copy(), device=device, requires_grad=True)  # gk.tensor shares a NumPy array
    opt = gk.optim.LBFGS([p], lr=0.5 if line_search_fn is None else 1, max_iter=10, line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = _nlml(p, x, y)
        loss.backward()
        return loss

    iterates = []
    for _ in range(3):
        opt.step(closure)
        iterates.append(_np(p).copy())
    want = GP_LBFGS_NONE if line_search_fn is None else GP_LBFGS_WOLFE
    np.testing.assert_allclose(np.array(iterates), want, rtol=1e-8, atol=1e-10)
    assert opt.state[p]["func_evals"] == (22 if line_search_fn is None else 14)


def test_gp_fit_adam_and_predictive_distribution(device):
    x, y = _gp_data(device)
    p = gk.tensor(GP_P0.copy(), device=device, requires_grad=True)  # gk.tensor shares a NumPy array
    opt = gk.optim.Adam([p], lr=0.05)
    for _ in range(25):
        opt.zero_grad()
        _nlml(p, x, y).backward()
        opt.step()
    np.testing.assert_allclose(_np(p), GP_ADAM, rtol=1e-9, atol=1e-11)

    p = gk.tensor(GP_P0.copy(), device=device, requires_grad=True)  # gk.tensor shares a NumPy array
    ls, sv, nv = gk.exp(p[0]), gk.exp(p[1]), gk.exp(p[2])
    xs = gk.tensor([[-2.5], [0.3], [1.7]], dtype=F64, device=device)
    lower = gk.linalg.cholesky(_rbf(x, x, ls, sv) + nv * gk.eye(9, dtype=F64, device=device))
    ks = _rbf(xs, x, ls, sv)
    alpha = gk.linalg.solve_triangular(lower.T, gk.linalg.solve_triangular(lower, y, lower=True), upper=True)
    mu = ks @ alpha
    v = gk.linalg.solve_triangular(lower, ks.T, upper=False)
    var = sv - (v**2).sum(0)
    (mu.sum() + var.sum()).backward()
    np.testing.assert_allclose(_np(mu), GP_MU, **TOL)
    np.testing.assert_allclose(_np(var), GP_VAR, **TOL)
    np.testing.assert_allclose(_np(p.grad), GP_PRED_GRAD, **TOL)


# ------------------------------------------------------------------ particles: Lennard-Jones with gk.func
LJ_X0 = np.array([[0.0, 0, 0], [1.1, 0.1, 0], [0.05, 1.15, 0.0], [0.0, 0.0, 1.2], [1.1, 1.2, 0.1]])
LJ_IU = np.triu_indices(5, 1)
LJ_E = -5.644050820546045
LJ_F = [[-0.6826573729435721, 1.6599658604641008, 2.2545377431515456],
 [-0.12989844383222815, -0.27436696230174634, 0.40426540613396106],
 [-6.42551819741514, -2.894163883964774, -0.24145505992128258],
 [0.6046610334232254, 0.5955907510380708, -3.2867256752127227],
 [6.633412980767715, 0.9129742347643488, 0.8693775858484989]]
LJ_H00 = [[80.62798301889015, 7.062488051019282, -0.12910131164229893],
 [7.062488051019283, 32.60707390074441, -0.14083779451887155],
 [-0.12910131164229896, -0.14083779451887155, 9.9397333755013]]
VERLET_VAL = 2.4401984215831356
VERLET_GRAD = [[0.00226082010109768, 0.0002521881622142058, -1.2453986644777327e-06],
 [0.10615104187903947, -0.00042306524136628376, -7.391028861474425e-05],
 [0.010678177206959395, 0.00046904014940269496, 0.0006740482921963666],
 [0.00030979618283107817, -1.806466071373848e-05, 8.087114277224378e-05],
 [0.10488587891578674, -0.00028009840953687853, -0.0006797637476893885]]


def _lj_cdist(x):
    s6 = (1 / gk.cdist(x, x)[LJ_IU]) ** 6
    return (4 * (s6**2 - s6)).sum()


def _lj_broadcast(x):
    r2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)[LJ_IU]
    s6 = (1 / r2) ** 3
    return (4 * (s6**2 - s6)).sum()


def test_lennard_jones_forces_hessian_hvp_vmap(device):
    x = gk.tensor(LJ_X0, device=device)
    for energy in (_lj_cdist, _lj_broadcast):
        np.testing.assert_allclose(energy(x).item(), LJ_E, **TOL)
        forces = -gk.func.grad(energy)(x)
        np.testing.assert_allclose(_np(forces), LJ_F, **TOL)
        np.testing.assert_allclose(_np(forces).sum(0), 0.0, atol=1e-12)  # Newton's third law
        hess = _np(gk.func.hessian(energy)(x)).reshape(15, 15)
        np.testing.assert_allclose(hess[:3, :3], LJ_H00, **TOL)
        np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-10)
        v = np.linspace(-1, 1, 15).reshape(5, 3)
        _, hvp = gk.func.jvp(gk.func.grad(energy), (x,), (gk.tensor(v, device=device),))
        np.testing.assert_allclose(_np(hvp).reshape(-1), hess @ v.reshape(-1), rtol=1e-10, atol=1e-9)
        xr = gk.tensor(LJ_X0, device=device, requires_grad=True)
        (g,) = gk.autograd.grad(energy(xr), xr, create_graph=True)
        (hv,) = gk.autograd.grad((g * gk.tensor(v, device=device)).sum(), xr)
        np.testing.assert_allclose(_np(hv).reshape(-1), hess @ v.reshape(-1), rtol=1e-10, atol=1e-9)
    batch = gk.tensor(np.stack([LJ_X0, LJ_X0 * 1.01, LJ_X0 * 0.99]), device=device)
    per_config = gk.func.vmap(gk.func.grad(_lj_cdist))(batch)
    np.testing.assert_allclose(_np(per_config[0]), -np.array(LJ_F), **TOL)


def test_gradient_through_velocity_verlet(device):
    def final_spread(v0):
        x, v, grad = gk.tensor(LJ_X0, device=device), v0, gk.func.grad(_lj_broadcast)
        for _ in range(10):
            v = v - 0.5 * 0.005 * grad(x)
            x = x + 0.005 * v
            v = v - 0.5 * 0.005 * grad(x)
        return (x[:, 0] ** 2).sum()

    v0 = gk.tensor(np.linspace(-0.2, 0.2, 15).reshape(5, 3), device=device)
    np.testing.assert_allclose(final_spread(v0).item(), VERLET_VAL, **TOL)
    np.testing.assert_allclose(_np(gk.func.grad(final_spread)(v0)), VERLET_GRAD, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------ ODE: RK4 over 100 steps
RK4_VAL = 229.91659692367992
RK4_GTH = [401.40851093019245, -806.5556654421682, 422.03261389372005, -1381.5138152022687]
RK4_GZ0 = [-31.59303717895422, -177.60699891970893]


def _lotka_volterra(z, th):
    return gk.stack([th[0] * z[0] - th[1] * z[0] * z[1], -th[2] * z[1] + th[3] * z[0] * z[1]])


def _rk4_block(z, th):
    for _ in range(10):
        k1 = _lotka_volterra(z, th)
        k2 = _lotka_volterra(z + 0.05 * k1, th)
        k3 = _lotka_volterra(z + 0.05 * k2, th)
        k4 = _lotka_volterra(z + 0.1 * k3, th)
        z = z + 0.1 / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


@pytest.mark.parametrize("checkpointed", [False, True])
def test_rk4_parameter_gradients(device, checkpointed):
    th = gk.tensor([1.1, 0.4, 0.9, 0.3], dtype=F64, device=device, requires_grad=True)
    z = z0 = gk.tensor([1.5, 0.8], dtype=F64, device=device, requires_grad=True)
    target = gk.tensor([1.0, 0.9], dtype=F64, device=device)
    loss = 0
    for _ in range(10):
        z = gk.utils.checkpoint.checkpoint(_rk4_block, z, th) if checkpointed else _rk4_block(z, th)
        loss = loss + ((z - target) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(loss.item(), RK4_VAL, **TOL)
    np.testing.assert_allclose(_np(th.grad), RK4_GTH, rtol=1e-9)
    np.testing.assert_allclose(_np(z0.grad), RK4_GZ0, rtol=1e-9)


# ------------------------------------------------------------------ least squares, eigenvalues, cholesky
LSTSQ_GA = [[-3.7112090803495397, 2.910622959005769, -0.6616949014712512],
 [-2.009371749217373, 1.6961784774682829, -0.42607570562721486],
 [-0.5888705426091128, 0.6018969182474669, -0.18396238550503652],
 [0.5324740960714204, -0.32138438325491253, 0.04068434140735139],
 [1.3398043201349115, -1.031279650300483, 0.22788715698522322],
 [1.8207323565478204, -1.49244961784873, 0.36098991394676894],
 [1.9649298633949823, -1.6754300705494982, 0.4261055008918859],
 [1.7637855554657556, -1.5556551328758035, 0.411655498167109],
 [1.210119748587382, -1.1126429344219408, 0.30798636459966033],
 [0.29794636012996917, -0.3293166559695225, 0.10704943206697526],
 [-0.977725523766988, 0.8085615503362196, -0.19786589996474874],
 [-2.6210570920985563, 2.312862531691319, -0.6123546142726095]]
LSTSQ_GB = [3.8784340659340675,
 2.039148351648354,
 0.5446428571428563,
 -0.6050824175824172,
 -1.4100274725274733,
 -1.8701923076923084,
 -1.985576923076923,
 -1.7561813186813193,
 -1.1820054945054947,
 -0.26304945054944856,
 1.0006868131868134,
 2.609203296703296]
CHOL_GRAD = [[0.09954350363060235, 0.56549876698692, 0.07265443698134118],
 [0.56549876698692, -0.30379112976796074, 0.08359212364056143],
 [0.07265443698134119, 0.08359212364056143, 0.25158025686814756]]


def test_lstsq_gradients_and_pinv_agree(device):
    t = np.linspace(0, 2, 12)
    a = gk.tensor(np.stack([np.ones_like(t), t, t**2], 1), device=device, requires_grad=True)
    b = gk.tensor(np.exp(-t), device=device, requires_grad=True)
    w = gk.tensor([1.0, -2, 3], dtype=F64, device=device)
    (gk.linalg.lstsq(a, b)[0] @ w).backward()
    np.testing.assert_allclose(_np(a.grad), LSTSQ_GA, **TOL)
    np.testing.assert_allclose(_np(b.grad), LSTSQ_GB, **TOL)
    a2 = gk.tensor(_np(a), device=device, requires_grad=True)
    (gk.linalg.pinv(a2) @ gk.tensor(np.exp(-t), device=device) @ w).backward()
    np.testing.assert_allclose(_np(a2.grad), LSTSQ_GA, **TOL)
    q, r = gk.linalg.qr(a2)
    x = gk.linalg.solve_triangular(r, q.T @ gk.tensor(np.exp(-t), device=device))
    a2.grad = None
    (x @ w).backward()
    np.testing.assert_allclose(_np(a2.grad), LSTSQ_GA, **TOL)


def test_top_eigenvalue_gradient_is_hellmann_feynman(device):
    rng = np.random.default_rng(18)
    mats = rng.standard_normal((3, 5, 5))
    mats = mats + mats.transpose(0, 2, 1)
    th = gk.tensor([0.7, -0.2, 1.3], dtype=F64, device=device, requires_grad=True)
    ms = gk.tensor(mats, device=device)
    h = (th[:, None, None] * ms).sum(0)
    w, v = gk.linalg.eigh(h)
    w[-1].backward()
    top = _np(v)[:, -1]
    np.testing.assert_allclose(_np(th.grad), [top @ m @ top for m in mats], rtol=1e-10, atol=1e-12)


def test_cholesky_gradient_first_and_second_order(device):
    a = gk.tensor([[4.0, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 2]], dtype=F64, device=device, requires_grad=True)
    weights = gk.tensor([[1.0, 0, 0], [2, -1, 0], [0.5, 0.3, 0.7]], dtype=F64, device=device)
    (gk.linalg.cholesky(a) * weights).sum().backward()
    np.testing.assert_allclose(_np(a.grad), CHOL_GRAD, **TOL)
    rng = np.random.default_rng(5)
    b = rng.standard_normal((2, 4, 4))
    spd = gk.tensor(b @ b.transpose(0, 2, 1) + 4 * np.eye(4), device=device, requires_grad=True)
    assert gk.gradcheck(lambda m: (gk.linalg.cholesky((m + m.mT) / 2) ** 3).sum(), (spd,))
    hess = _np(gk.func.hessian(lambda m: (gk.linalg.cholesky((m + m.mT) / 2) ** 3).sum())(spd[0].detach()))
    eps = 1e-6
    m0 = _np(spd)[0]
    e = np.zeros((4, 4))
    e[1, 2] = eps

    def g(m):
        return _np(gk.func.grad(lambda q: (gk.linalg.cholesky((q + q.mT) / 2) ** 3).sum())(gk.tensor(m, device=device)))

    np.testing.assert_allclose(hess[:, :, 1, 2], (g(m0 + e) - g(m0 - e)) / (2 * eps), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ a two-qubit evolution, in real blocks
Q_VAL = 0.7554376321136378
Q_GRAD = [0.03299316495666739, 1.0555768452371561]


def _realify(m):
    m = np.asarray(m, dtype=complex)
    return np.block([[m.real, -m.imag], [m.imag, m.real]])


def test_expectation_after_matrix_exp_of_hermitian_generator(device):
    px, py, pz, i2 = np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1]), np.eye(2)
    h0 = np.kron(pz, pz)
    h1 = np.kron(px, i2) + np.kron(i2, px) + 0.5 * np.kron(py, py) + 0.3 * np.kron(py, px)
    minus_i = gk.tensor(_realify(-1j * np.eye(4)), device=device)
    psi0 = gk.tensor(np.eye(8)[0], device=device)  # |00>, real part first
    obs = gk.tensor(_realify(np.kron(pz, i2)), device=device)

    def expectation(th):
        h = th[0] * gk.tensor(_realify(h0), device=device) + th[1] * gk.tensor(_realify(h1), device=device)
        psi = gk.linalg.matrix_exp(0.7 * (minus_i @ h)) @ psi0
        return psi @ obs @ psi

    th = gk.tensor([0.8, -0.45], dtype=F64, device=device, requires_grad=True)
    value = expectation(th)
    value.backward()
    np.testing.assert_allclose(value.item(), Q_VAL, **TOL)
    np.testing.assert_allclose(_np(th.grad), Q_GRAD, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ Rosenbrock by L-BFGS, step by step
ROSEN_WOLFE = [[-0.4484974032139017, 0.20149187085709366, 0.0443036936340636, 0.01689559116247196],
 [-0.417593084105243, 0.1936401489367338, 0.044638157757355974, 0.0006998110701368768],
 [-0.2252112323965599, 0.06876551263746952, -0.01931512810593601, 0.0041272096685943515],
 [-0.04943092036582476, -0.019672592993157743, -0.0019019622385085405, -0.00032602414480995147]]
ROSEN_PLAIN = [[-1.057096140071252, 0.8134326358538753, -0.3725204690342754, 0.648312360368387],
 [-0.9260577279965753, 0.7304177833487964, 0.06304711188553805, 0.2306452726512952],
 [-0.894860375400765, 0.735836616622474, 0.3024769051483105, 0.15888796195217397],
 [-0.8759488376889751, 0.7325006311086915, 0.3992602239593546, 0.18304022401361075]]


@pytest.mark.parametrize("line_search_fn", ["strong_wolfe", None])
def test_rosenbrock_lbfgs_iterates(device, line_search_fn):
    x = gk.tensor([-1.2, 1.0, -0.5, 0.8], dtype=F64, device=device, requires_grad=True)
    opt = gk.optim.LBFGS([x], lr=1 if line_search_fn else 0.1, max_iter=5,
                         history_size=100 if line_search_fn else 3, line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss

    iterates = []
    for _ in range(4):
        opt.step(closure)
        iterates.append(_np(x).copy())
    want = ROSEN_WOLFE if line_search_fn else ROSEN_PLAIN
    np.testing.assert_allclose(np.array(iterates), want, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------ gk.trace: a constant stacked beside variables
def test_trace_shows_constant_components_of_stack_and_concatenate():
    tr = gk.trace(lambda a: gk.stack([a * 2, gk.tensor(1.0, dtype=F64)]).sum(), 0.7)
    text = str(tr)
    assert "concatenate([v2, c1], axis=0)" in text
    assert "v~2 = v~3[0:1]" in text and "dv3/dv2" not in text
    np.testing.assert_allclose(tr.constants["c1"], [1.0])
    tr = gk.trace(lambda a: (gk.concatenate([gk.tensor(np.ones(2)), a * 2]) ** 2).sum(), np.array([0.5, 1.0]))
    text = str(tr)
    assert "concatenate([c1, v1], axis=0)" in text and "v~1 = v~2[2:4]" in text
    assert "gradient ((2,) [4, 8])" in text
