"""Session 18: the tooling around a training loop, step by step against PyTorch 2.14 (numbers computed once
with torch and written here; no torch import): LR schedulers over 110 steps (learning rates and momenta, a
state-dict round trip through ``gk.save`` half-way), gradient accumulation with ``clip_grad_norm_`` and a
parameter group added mid-training, exact resume from a checkpoint (model, optimiser, scheduler, RNG), failed
saves and damaged checkpoints, and the data pipeline (nested collation, TensorDataset subclasses, sharded
iterable datasets with workers)."""

from __future__ import annotations

import errno
import math
import os
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.io import checkpoint as ckpt

GD = gk.data
LR = gk.optim.lr_scheduler

# ----------------------------------------------------------------- LR schedulers against PyTorch
# Rows: the steps in SAMPLE; columns: both groups' lr, then both groups' momentum (SGD's) or beta1 (Adam's).
SAMPLE = [0, 4, 9, 17, 29, 44, 60, 77, 95, 109]
_rng = np.random.default_rng(0)
METRICS = [float(x) for x in np.concatenate(
    [np.linspace(5, 1, 30), 1 + 1e-5 * _rng.standard_normal(40), np.linspace(1, 0.5, 40)])]

EXPECTED = {
    'onecycle_cos_adam': [
        [0.042268629336545516, 0.021134314668272758, 0.9497636844441097, 0.9497636844441097],
        [0.09565058420032735, 0.047825292100163674, 0.9442030641457992, 0.9442030641457992],
        [0.24969822212698534, 0.12484911106349267, 0.9281564351951057, 0.9281564351951057],
        [0.6059041703661268, 0.3029520851830634, 0.8910516489201951, 0.8910516489201951],
        [0.9880394896100554, 0.4940197448050277, 0.8512458864989525, 0.8512458864989525],
        [0.9355178169120618, 0.4677589084560309, 0.8564482441017702, 0.8564482441017702],
        [0.6994838777270055, 0.34974193886350274, 0.8800517324342292, 0.8800517324342292],
        [0.3632854346995801, 0.18164271734979004, 0.9136717112168868, 0.9136717112168868],
        [0.0779914460339929, 0.03899572301699645, 0.9422012242014974, 0.9422012242014974],
        [4e-06, 2e-06, 0.95, 0.95],
    ],
    'onecycle_linear_three_phase': [
        [0.07622641509433961, 0.07622641509433961, 0.9462264150943396, 0.9462264150943396],
        [0.22113207547169814, 0.22113207547169814, 0.9311320754716981, 0.9311320754716981],
        [0.40226415094339624, 0.40226415094339624, 0.9122641509433962, 0.9122641509433962],
        [0.6920754716981132, 0.6920754716981132, 0.8820754716981132, 0.8820754716981132],
        [0.8732075471698113, 0.8732075471698113, 0.8632075471698113, 0.8632075471698113],
        [0.3298113207547171, 0.3298113207547171, 0.9198113207547169, 0.9198113207547169],
        [0.034286285714285714, 0.034286285714285714, 0.95, 0.95],
        [0.022144642857142856, 0.022144642857142856, 0.95, 0.95],
        [0.009288785714285711, 0.009288785714285711, 0.95, 0.95],
        [-0.0007102142857142862, -0.0007102142857142862, 0.95, 0.95],
    ],
    'cawr_tmult2': [
        [0.0905463412215599, 0.045320916362186214, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.0505, 0.025500000000000002, 0.9, 0.9],
        [0.09460482294732421, 0.047329659842615016, 0.9, 0.9],
        [0.0154982143312659, 0.008175883860929586, 0.9, 0.9],
        [0.0855017856687341, 0.04282411613907042, 0.9, 0.9],
        [0.02802747026289244, 0.014377232756381104, 0.9, 0.9],
        [0.09965688861926886, 0.0498301771953957, 0.9, 0.9],
        [0.08410063690388063, 0.04213061826555708, 0.9, 0.9],
        [0.06015697093979836, 0.030279712889395148, 0.9, 0.9],
    ],
    'plateau_max_abs_cooldown': [
        [0.1, 0.05, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.05, 0.025, 0.9, 0.9],
        [0.025, 0.0125, 0.9, 0.9],
        [0.00625, 0.003125, 0.9, 0.9],
        [0.003125, 0.002, 0.9, 0.9],
        [0.001, 0.002, 0.9, 0.9],
        [0.001, 0.002, 0.9, 0.9],
        [0.001, 0.002, 0.9, 0.9],
        [0.001, 0.002, 0.9, 0.9],
    ],
    'plateau_min_rel': [
        [0.1, 0.05, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.001, 0.001, 0.9, 0.9],
        [0.001, 0.001, 0.9, 0.9],
        [0.001, 0.001, 0.9, 0.9],
        [0.001, 0.001, 0.9, 0.9],
        [0.001, 0.001, 0.9, 0.9],
    ],
    'sequential': [
        [0.019000000000000003, 0.009500000000000001, 0.9, 0.9],
        [0.055000000000000014, 0.027500000000000007, 0.9, 0.9],
        [0.1, 0.05, 0.9, 0.9],
        [0.0783743359437696, 0.0391871679718848, 0.9, 0.9],
        [0.05437943429267468, 0.02718971714633734, 0.9, 0.9],
        [0.034435841430422144, 0.017217920715211072, 0.9, 0.9],
        [0.04217827674798848, 0.02108913837399424, 0.9, 0.9],
        [0.03454915028125261, 0.017274575140626306, 0.9, 0.9],
        [0.07938926261462363, 0.039694631307311816, 0.9, 0.9],
        [0.0, 0.0, 0.9, 0.9],
    ],
    'chained': [
        [0.009800000000000001, 0.004900000000000001, 0.9, 0.9],
        [0.009039207968, 0.004519603984, 0.9, 0.9],
        [0.040853640344377336, 0.020426820172188668, 0.9, 0.9],
        [0.03475676654285164, 0.01737838327142582, 0.9, 0.9],
        [0.006818553992280461, 0.0034092769961402303, 0.9, 0.9],
        [0.0025179866517089076, 0.0012589933258544538, 0.9, 0.9],
        [0.00045562824974730934, 0.00022781412487365467, 0.9, 0.9],
        [0.0001615935174162789, 8.079675870813945e-05, 0.9, 0.9],
        [2.808234079837918e-05, 1.404117039918959e-05, 0.9, 0.9],
        [5.291007460112583e-06, 2.6455037300562914e-06, 0.9, 0.9],
    ],
    'cyclic_triangular2': [
        [0.02285714285714286, 0.06000000000000001, 0.8857142857142858, 0.8857142857142858],
        [0.07428571428571426, 0.2199999999999999, 0.8285714285714286, 0.8285714285714286],
        [0.07545454545454545, 0.22363636363636358, 0.8272727272727274, 0.8272727272727274],
        [0.01, 0.02, 0.9, 0.9],
        [0.034545454545454525, 0.09636363636363629, 0.8727272727272728, 0.8727272727272728],
        [0.02840909090909091, 0.07727272727272726, 0.8795454545454546, 0.8795454545454546],
        [0.02124999999999999, 0.054999999999999966, 0.8875000000000001, 0.8875000000000001],
        [0.014821428571428569, 0.03499999999999998, 0.8946428571428572, 0.8946428571428572],
        [0.012410714285714284, 0.027499999999999993, 0.8973214285714286, 0.8973214285714286],
        [0.010401785714285712, 0.021249999999999995, 0.8995535714285715, 0.8995535714285715],
    ],
    'cyclic_exp_range_adam': [
        [0.02764000000000002, 0.02764000000000002, 0.8804, 0.8804],
        [0.091352871712, 0.091352871712, 0.8096079203200001, 0.8096079203200001],
        [0.01, 0.01, 0.9, 0.9],
        [0.035024871910853204, 0.035024871910853204, 0.8721945867657187, 0.8721945867657187],
        [0.01, 0.01, 0.9, 0.9],
        [0.04625900778460827, 0.04625900778460827, 0.8597122135726575, 0.8597122135726575],
        [0.015248837437088988, 0.015248837437088988, 0.8941679584032345, 0.8941679584032345],
        [0.01744622928254211, 0.01744622928254211, 0.8917264119082866, 0.8917264119082866],
        [0.020352274111914512, 0.020352274111914512, 0.8884974732089839, 0.8884974732089839],
        [0.01, 0.01, 0.9, 0.9],
    ],
    'polynomial': [
        [0.09751562500000001, 0.048757812500000004, 0.9, 0.9],
        [0.087890625, 0.0439453125, 0.9, 0.9],
        [0.0765625, 0.03828125, 0.9, 0.9],
        [0.060062500000000005, 0.030031250000000002, 0.9, 0.9],
        [0.03906250000000003, 0.019531250000000014, 0.9, 0.9],
        [0.019140625000000005, 0.009570312500000002, 0.9, 0.9],
        [0.005640625000000005, 0.0028203125000000025, 0.9, 0.9],
        [6.250000000000014e-05, 3.125000000000007e-05, 0.9, 0.9],
        [0.0, 0.0, 0.9, 0.9],
        [0.0, 0.0, 0.9, 0.9],
    ],
    'multiplicative': [
        [0.097, 0.0485, 0.9, 0.9],
        [0.07967635290000001, 0.039838176450000005, 0.9, 0.9],
        [0.05890194938454439, 0.029450974692272196, 0.9, 0.9],
        [0.036873627816977665, 0.018436813908488833, 0.9, 0.9],
        [0.018960936322690268, 0.009480468161345134, 0.9, 0.9],
        [0.008256379932030726, 0.004128189966015363, 0.9, 0.9],
        [0.003487315930461217, 0.0017436579652306086, 0.9, 0.9],
        [0.0013256699969076704, 0.0006628349984538352, 0.9, 0.9],
        [0.0004888226207410734, 0.0002444113103705367, 0.9, 0.9],
        [0.00023650410082447934, 0.00011825205041223967, 0.9, 0.9],
    ],
}


CASES = {
    "onecycle_cos_adam": ("adam", lambda o: LR.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=111)),
    "onecycle_linear_three_phase": ("sgd", lambda o: LR.OneCycleLR(
        o, max_lr=1.0, epochs=11, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear", three_phase=True)),
    "cawr_tmult2": ("sgd", lambda o: LR.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001)),
    "plateau_max_abs_cooldown": ("sgd", lambda o: LR.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=4, threshold=1e-3, threshold_mode="abs", cooldown=3, min_lr=[1e-3, 2e-3])),
    "plateau_min_rel": ("sgd", lambda o: LR.ReduceLROnPlateau(o, factor=0.3, patience=2, threshold=1e-2, min_lr=1e-3)),
    "sequential": ("sgd", lambda o: LR.SequentialLR(o, [LR.LinearLR(o, start_factor=0.1, total_iters=10),
                                                        LR.ExponentialLR(o, gamma=0.97),
                                                        LR.CosineAnnealingLR(o, T_max=20)], milestones=[10, 50])),
    "chained": ("sgd", lambda o: LR.ChainedScheduler([LR.ConstantLR(o, factor=0.1, total_iters=7),
                                                      LR.ExponentialLR(o, gamma=0.98), LR.StepLR(o, 10, 0.5)])),
    "cyclic_triangular2": ("sgd", lambda o: LR.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=7,
                                                        step_size_down=11, mode="triangular2")),
    "cyclic_exp_range_adam": ("adam", lambda o: LR.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                                            mode="exp_range", gamma=0.98)),
    "polynomial": ("sgd", lambda o: LR.PolynomialLR(o, total_iters=80, power=2.0)),
    "multiplicative": ("sgd", lambda o: LR.MultiplicativeLR(o, lambda e: 0.97 if e % 3 else 0.9)),
}


def _optimizer(kind, device):
    ps = [gk.zeros(2, device=device, requires_grad=True) for _ in range(2)]
    groups = [{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "lr": 0.05}]
    if kind == "sgd":
        return gk.optim.SGD(groups, lr=0.1, momentum=0.9)
    return gk.optim.Adam(groups, lr=0.1)


def _row(opt):
    lrs = [g["lr"] for g in opt.param_groups]
    return lrs + [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("name", sorted(CASES))
def test_scheduler_matches_torch_and_resumes_through_a_checkpoint(name, device, tmp_path):
    kind, make = CASES[name]
    plateau = name.startswith("plateau")
    opt = _optimizer(kind, device)
    sched = make(opt)
    rows = []
    for i in range(110):
        if i == 55:  # resume half-way into fresh objects, through a file
            path = str(tmp_path / "sched.safetensors")
            gk.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)
            saved = gk.load(path)
            opt = _optimizer(kind, device)
            sched = make(opt)
            opt.load_state_dict(saved["optimizer"])
            sched.load_state_dict(saved["scheduler"])
        opt.step()
        sched.step(METRICS[i]) if plateau else sched.step()
        if not plateau:
            assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        if i in SAMPLE:
            rows.append(_row(opt))
    np.testing.assert_allclose(np.array(rows), np.array(EXPECTED[name]), rtol=1e-12, atol=0)


# ----------------------------------------------------------------- accumulation, clipping, add_param_group
W0 = np.array([[0.5, -0.3, 0.8], [0.1, 0.9, -0.4]], np.float32)
B0 = np.array([0.05, -0.1], np.float32)
E0 = np.array([1.0, -2.0, 0.5], np.float32)
XS = np.array([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-2.0, 0.3, 0.7], [1.2, 1.1, -0.6]], np.float32)
YS = np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.5], [-1.0, 1.0]], np.float32)

# (norms at each step, final w, b, e, final lrs) from PyTorch
CLIP_EXPECTED = {
    ("sgd", 2.0): ([5.018573760986328, 4.726568698883057, 4.313009738922119, 4.078732490539551, 3.7740228176116943,
                    3.6014413833618164],
                   [[0.4293481409549713, -0.12035699933767319, 0.6546953916549683],
                    [0.026430269703269005, 0.5588605999946594, -0.06730974465608597]],
                   [0.038376957178115845, -0.05178752541542053],
                   [0.9746066331863403, -1.9492132663726807, 0.48730331659317017], [0.0125, 0.05]),
    ("sgd", math.inf): ([3.182999849319458, 2.8729002475738525, 2.4313793182373047, 2.152005434036255,
                         1.8466402292251587, 1.6745332479476929],
                        [[0.37535160779953003, -0.010821276344358921, 0.5670774579048157],
                         [-0.006832950748503208, 0.35845497250556946, 0.1317269206047058]],
                        [0.028858289122581482, -0.014733023010194302],
                        [0.9497857689857483, -1.8995715379714966, 0.47489288449287415], [0.0125, 0.05]),
    ("adamw", 2.0): ([5.018573760986328, 4.688448429107666, 4.362894058227539, 4.22689151763916, 4.060801982879639,
                      3.9786531925201416],
                     [[0.3176139295101166, -0.12112908810377121, 0.6128284335136414],
                      [-0.07299987226724625, 0.7104511260986328, -0.21922114491462708]],
                     [-0.0727522000670433, 0.07536759972572327],
                     [0.5686664581298828, -1.5269310474395752, 0.09839532524347305], [0.00625, 0.05]),
    ("adamw", math.inf): ([3.182999849319458, 3.008397340774536, 2.834804058074951, 2.748589515686035,
                           2.662738800048828, 2.6200129985809326],
                          [[0.31773969531059265, -0.12125660479068756, 0.612985372543335],
                           [-0.07275352627038956, 0.7105569243431091, -0.21933461725711823]],
                          [-0.07305999100208282, 0.07523715496063232],
                          [0.5688471794128418, -1.527046799659729, 0.09869061410427094], [0.00625, 0.05]),
}


@pytest.mark.parametrize("optname, norm_type", sorted(CLIP_EXPECTED, key=str))
def test_accumulation_clipping_and_a_group_added_mid_training_match_torch(optname, norm_type, device):
    # copies: gk.tensor shares a NumPy array's memory where it can (unlike torch.tensor), and steps are in place
    w = gk.tensor(W0.copy(), device=device, requires_grad=True)
    b = gk.tensor(B0.copy(), device=device, requires_grad=True)
    e = gk.tensor(E0.copy(), device=device, requires_grad=True)
    if optname == "adamw":
        opt = gk.optim.AdamW([w, b], lr=0.05, amsgrad=True, weight_decay=0.1)
    else:
        opt = gk.optim.SGD([w, b], lr=0.1, momentum=0.9, nesterov=True)
    sched = LR.StepLR(opt, 2, 0.5)
    norms = []
    for step in range(6):
        for k in range(2):  # two micro-batches per step
            x = gk.tensor(XS[2 * k : 2 * k + 2], device=device)
            y = gk.tensor(YS[2 * k : 2 * k + 2], device=device)
            loss = ((x @ w.T + b - y) ** 2).mean() / 2
            if step >= 3:
                loss = loss + (e**2).sum() * 0.05
            loss.backward()
        params = [w, b] + ([e] if step >= 3 else [])
        norms.append(float(gk.nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type, foreach=True)))
        opt.step()
        opt.zero_grad(set_to_none=(step % 2 == 0))
        sched.step()
        if step == 2:
            opt.add_param_group({"params": [e], "lr": 0.2})
    exp_norms, exp_w, exp_b, exp_e, exp_lrs = CLIP_EXPECTED[(optname, norm_type)]
    np.testing.assert_allclose(norms, exp_norms, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), exp_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), exp_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.numpy(), exp_e, rtol=1e-5, atol=1e-6)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(exp_lrs, rel=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy's inf * 0
def test_clip_grad_norm_error_if_nonfinite(device):
    p = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    p.grad = gk.tensor([float("nan"), 1.0], device=device)
    with pytest.raises(gk.nn.utils.NonFiniteNormError) as info:
        gk.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True, foreach=True)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, gk.InvalidArgumentError)
    p.grad = gk.tensor([float("inf"), 0.0], device=device)
    total = gk.nn.utils.clip_grad_norm_([p], 1.0)  # as PyTorch: inf, and the gradient becomes [nan, 0]
    assert math.isinf(float(total))
    assert np.isnan(p.grad.numpy()[0]) and p.grad.numpy()[1] == 0


# ----------------------------------------------------------------- checkpoint and exact resume
def _regression_data(device):
    rng = np.random.default_rng(1)
    X = gk.tensor(rng.standard_normal((16, 4)).astype(np.float32), device=device)
    Y = gk.tensor(rng.standard_normal((16, 2)).astype(np.float32), device=device)
    return X, Y


def _model(device, dropout):
    gk.manual_seed(0)
    nn = gk.nn
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 2)).to(device)


def _train_objects(kind, model):
    if kind == "sgd":
        opt = gk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
        return opt, LR.OneCycleLR(opt, max_lr=0.5, total_steps=20, three_phase=True)
    opt = gk.optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
    return opt, LR.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)


def _step(model, opt, sched, X, Y):
    opt.zero_grad()
    loss = ((model(X) - Y) ** 2).mean()
    loss.backward()
    opt.step()
    sched.step()
    return float(loss)


def _resume_run(kind, device, dropout, tmp_path, with_rng):
    X, Y = _regression_data(device)
    model = _model(device, dropout)
    opt, sched = _train_objects(kind, model)
    full = [_step(model, opt, sched, X, Y) for _ in range(12)]
    final = [p.numpy().copy() for p in model.parameters()]

    model = _model(device, dropout)
    opt, sched = _train_objects(kind, model)
    losses = [_step(model, opt, sched, X, Y) for _ in range(5)]
    path = str(tmp_path / "run.safetensors")
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    if with_rng:
        state["rng"] = gk.get_rng_state()
    gk.save(state, path)
    for _ in range(3):  # the interrupted run goes on a little: the checkpoint must not depend on it
        _step(model, opt, sched, X, Y)
    saved = gk.load(path)
    model = _model(device, dropout)
    opt, sched = _train_objects(kind, model)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    if with_rng:
        gk.set_rng_state(saved["rng"])
    losses += [_step(model, opt, sched, X, Y) for _ in range(7)]
    assert losses == full
    for a, p in zip(final, model.parameters(), strict=True):
        np.testing.assert_array_equal(a, p.numpy())


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_resume_from_a_checkpoint_is_exact(kind, device, tmp_path):
    _resume_run(kind, device, 0.0, tmp_path, with_rng=False)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_resume_with_dropout_and_the_rng_state_is_exact(kind, device, tmp_path):
    try:
        gk.get_rng_state()
        with gk.device(device):
            gk.rand(1)
        gk.get_rng_state()
    except gk.BackendError:
        pytest.skip("this device's generator state cannot be read (emulated CuPy)")
    _resume_run(kind, device, 0.3, tmp_path, with_rng=True)


def test_a_failed_save_leaves_the_old_checkpoint_and_no_temp_file(device, tmp_path, monkeypatch):
    path = str(tmp_path / "ck.safetensors")
    gk.save(gk.nn.Linear(40, 40).to(device), path)
    with open(path, "rb") as f:
        old = f.read()

    def disk_full(f, data):
        f.write(data[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "_write_data", disk_full)
    with pytest.raises(gk.CheckpointError, match="No space left"):
        gk.save({"x": gk.ones(5, device=device)}, path)
    monkeypatch.undo()
    with open(path, "rb") as f:
        assert f.read() == old
    assert os.listdir(tmp_path) == ["ck.safetensors"]
    with pytest.raises(gk.CheckpointError):
        gk.save({"x": gk.ones(2, device=device)}, str(tmp_path / "missing" / "x.safetensors"))
    with pytest.raises(gk.CheckpointError, match="folder"):
        gk.save({"x": gk.ones(2, device=device)}, str(tmp_path))
    assert os.listdir(tmp_path) == ["ck.safetensors"]


@pytest.mark.parametrize("cut", [0, 5, 8, 60, "half", "last"])
def test_a_truncated_checkpoint_raises_checkpoint_error(cut, tmp_path):
    path = str(tmp_path / "ck.safetensors")
    gk.save(gk.nn.Linear(30, 30).state_dict(), path)
    with open(path, "rb") as f:
        data = f.read()
    n = {"half": len(data) // 2, "last": len(data) - 1}.get(cut, cut)
    bad = str(tmp_path / "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(data[:n])
    with pytest.raises(gk.CheckpointError, match="bad.safetensors"):
        gk.load(bad)


def test_a_corrupted_header_raises_checkpoint_error(tmp_path):
    path = str(tmp_path / "ck.safetensors")
    gk.save({"model": gk.nn.Linear(3, 3).state_dict(), "epoch": 3, "lrs": [0.1, 0.2]}, path)
    with open(path, "rb") as f:
        data = f.read()
    header_len = int.from_bytes(data[:8], "little")
    rng = np.random.default_rng(0)
    bad = str(tmp_path / "bad.safetensors")
    for _ in range(60):
        b = bytearray(data)
        b[int(rng.integers(8, 8 + header_len))] = int(rng.integers(256))
        with open(bad, "wb") as f:
            f.write(bytes(b))
        try:
            gk.load(bad)
        except gk.CheckpointError:
            pass  # anything else (a KeyError, a JSON error, ...) fails the test
    b = bytearray(data)
    b[:8] = (2**62).to_bytes(8, "little")
    with open(bad, "wb") as f:
        f.write(bytes(b))
    with pytest.raises(gk.CheckpointError, match="header length"):
        gk.load(bad)


# ----------------------------------------------------------------- data pipeline
class _Nested(GD.Dataset):
    def __init__(self, device):
        self.device = device

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return {"x": gk.full((3,), float(i), device=self.device), "meta": (i, f"s{i}"),
                "nest": {"a": [np.int64(i)], "b": np.arange(2) + i}}


def test_nested_collation_drop_last_and_batch_sampler(device):
    ds = _Nested(device)
    batches = list(GD.DataLoader(ds, batch_size=4, drop_last=True))
    assert len(batches) == 2
    b = batches[1]
    assert b["x"].shape == (4, 3) and b["x"].dtype == gk.float32 and b["x"].device == gk.tensor(0, device=device).device
    assert b["meta"][0].tolist() == [4, 5, 6, 7] and b["meta"][0].dtype == gk.int64
    assert b["meta"][1] == ["s4", "s5", "s6", "s7"]  # strings stay a list (PyTorch: the tuple of them)
    assert b["nest"]["a"][0].tolist() == [4, 5, 6, 7]
    assert b["nest"]["b"].tolist() == [[4, 5], [5, 6], [6, 7], [7, 8]]
    got = [b["meta"][0].tolist() for b in GD.DataLoader(ds, batch_sampler=GD.BatchSampler(range(11), 4, False))]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    got = [b["meta"][0].tolist() for b in GD.DataLoader(ds, batch_sampler=[[0, 3], [5, 1, 2], [10]])]
    assert got == [[0, 3], [5, 1, 2], [10]]


def test_tensor_dataset_subclass_and_subset_use_the_overridden_getitem(device):
    X = gk.tensor(np.arange(20, dtype=np.float32).reshape(10, 2), device=device)
    Y = gk.arange(10, device=device)

    class Scaled(GD.TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 100, y

    ds = Scaled(X, Y)
    assert next(iter(GD.DataLoader(ds, batch_size=3)))[0].tolist() == [[0, 100], [200, 300], [400, 500]]
    assert next(iter(GD.DataLoader(GD.Subset(ds, [4, 2]), batch_size=3)))[0].tolist() == [[800, 900], [400, 500]]
    cat = GD.ConcatDataset([GD.Subset(GD.TensorDataset(X, Y), [9, 1, 5, 3]), GD.TensorDataset(X, Y)])
    first = [b[1].tolist() for b in GD.DataLoader(cat, batch_size=3)][:2]
    assert first == [[9, 1, 5], [3, 0, 1]]


def test_sharded_iterable_dataset_with_workers_matches_torch():
    class Range(GD.IterableDataset):
        def __init__(self, start, end):
            self.start, self.end = start, end

        def __iter__(self):
            return iter(range(self.start, self.end))

    def shard(worker_id):
        info = GD.get_worker_info()
        ds = info.dataset
        per = int(math.ceil((ds.end - ds.start) / float(info.num_workers)))
        ds.start, ds.end = ds.start + worker_id * per, min(ds.start + worker_id * per + per, ds.end)

    def batches(**kw):
        return [b.tolist() for b in GD.DataLoader(Range(3, 20), worker_init_fn=shard, **kw)]

    # PyTorch 2.14's batches for the same loaders
    assert batches(batch_size=4, num_workers=2) == [
        [3, 4, 5, 6], [12, 13, 14, 15], [7, 8, 9, 10], [16, 17, 18, 19], [11]]
    assert batches(batch_size=4, num_workers=3, drop_last=True) == [
        [3, 4, 5, 6], [9, 10, 11, 12], [15, 16, 17, 18]]


def test_random_split_fraction_lengths_match_torch():
    # PyTorch 2.14's lengths: floors, then the remainder one by one from the first split
    for fractions, n, lengths in [([0.3, 0.3, 0.4], 11, [4, 3, 4]), ([0.1] * 10, 7, [1] * 7 + [0] * 3),
                                  ([1 / 3] * 3, 10, [4, 3, 3]), ([0.7, 0.2, 0.1], 101, [71, 20, 10])]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty split warns, as in PyTorch
            parts = GD.random_split(range(n), fractions, seed=0)
        assert [len(p) for p in parts] == lengths
        assert sorted(i for p in parts for i in p) == list(range(n))
