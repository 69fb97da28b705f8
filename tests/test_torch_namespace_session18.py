"""PyTorch's top-level functions (torch.mul, torch.std_mean, torch.block_diag, torch.embedding, the windows ...)
of gradkit/ops/torch_namespace.py. Reference numbers were computed once with PyTorch 2.14 (CPU, float64) and are
written in (rounded to 14 decimals); torch is not imported."""

# ruff: noqa: F405 - the names come from the star import, as gradkit/__init__.py will import them

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import torch_namespace as tn
from gradkit.ops.torch_namespace import *  # noqa: F403

nan, inf = math.nan, math.inf

REF = {'div_floor': [0.0, -1.0, -5.0, 7.0, -1.0, -1.0],
       'div_trunc': [0.0, -0.0, -5.0, 7.0, -0.0, -0.0],
       'sub_alpha': [-2.7, -5.2, 3.5, 1.25, 6.4, -2.6],
       'rsub': [0.6, 5.6, -8.0, -5.0, -4.2, 2.8],
       'rsub_num': [4.7, 6.2, 2.5, 3.25, 4.6, 5.6],
       'mul_num': [0.6, -2.4, 5.0, 3.5, 0.8, -1.2],
       'sub_num': [1.7, 3.2, -0.5, 0.25, 1.6, 2.6],
       'std_mean': [[1.39346689949923], [0.525]],
       'std_mean_dim': [[1.86100331362771, 1.17933597135563], [0.53333333333333, 0.51666666666667]],
       'var_mean_corr0': [[0.525625, 0.64, 2.4025], [1.025, -0.4, 0.95]],
       'var_mean_unb': [[1.618125], [0.525]],
       'var_mean_dims': [[1.94175], [0.525]],
       'block_diag': [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3,
                      -1.2, 2.5, 0.0, 0.0, 0.0, 1.75, 0.4, -0.6],
       'cartesian': [1.0, 3.0, 6.0, 1.0, 3.0, 7.0, 1.0, 4.0, 6.0, 1.0, 4.0, 7.0, 1.0, 5.0, 6.0, 1.0, 5.0,
                     7.0, 2.0, 3.0, 6.0, 2.0, 3.0, 7.0, 2.0, 4.0, 6.0, 2.0, 4.0, 7.0, 2.0, 5.0, 6.0, 2.0,
                     5.0, 7.0],
       'comb': [0.5, -1.0, 0.5, 2.0, 0.5, 3.0, -1.0, 2.0, -1.0, 3.0, 2.0, 3.0],
       'comb3r': [0.5, 0.5, 0.5, 0.5, 0.5, -1.0, 0.5, 0.5, 2.0, 0.5, 0.5, 3.0, 0.5, -1.0, -1.0, 0.5, -1.0,
                  2.0, 0.5, -1.0, 3.0, 0.5, 2.0, 2.0, 0.5, 2.0, 3.0, 0.5, 3.0, 3.0, -1.0, -1.0, -1.0,
                  -1.0, -1.0, 2.0, -1.0, -1.0, 3.0, -1.0, 2.0, 2.0, -1.0, 2.0, 3.0, -1.0, 3.0, 3.0, 2.0,
                  2.0, 2.0, 2.0, 2.0, 3.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0],
       'bucket_l': [0.0, 0.0, 1.0, 2.0, 4.0, 0.0],
       'bucket_r': [0.0, 1.0, 2.0, 3.0, 4.0, 0.0],
       'hann': [0.0, 0.18825509907063, 0.61126046697816, 0.95048443395121, 0.95048443395121,
                0.61126046697816, 0.18825509907063],
       'hann_sym': [0.0, 0.34549150281253, 0.90450849718747, 0.90450849718747, 0.34549150281253, 0.0],
       'hamming': [0.08, 0.25319469114498, 0.6423596296199, 0.95444567923511, 0.95444567923511,
                   0.6423596296199, 0.25319469114498],
       'hamming_sym': [0.08, 0.39785218258752, 0.91214781741248, 0.91214781741248, 0.39785218258752,
                       0.08],
       'blackman': [0.0, 0.09045342435413, 0.45918295754596, 0.92036361809991, 0.92036361809991,
                    0.45918295754596, 0.09045342435413],
       'blackman_sym': [0.0, 0.20077014326253, 0.84922985673747, 0.84922985673747, 0.20077014326253, 0.0],
       'bartlett': [0.0, 0.28571428571429, 0.57142857142857, 0.85714285714286, 0.85714285714286,
                    0.57142857142857, 0.28571428571429],
       'bartlett_sym': [0.0, 0.4, 0.8, 0.8, 0.4, 0.0],
       'kaiser': [5.277344132e-05, 0.03276828844175, 0.33089863665707, 0.88886766404666, 0.88886766404666,
                  0.33089863665707, 0.03276828844175],
       'kaiser_sym': [5.277344132e-05, 0.10171968770956, 0.79293983410146, 0.79293983410146,
                      0.10171968770956, 5.277344132e-05],
       'hamming_ab': [0.2, 0.35, 0.65, 0.8, 0.65, 0.35],
       'kaiser_b': [0.03671089227129, 0.41490363924337, 0.9138124838692, 0.9138124838692,
                    0.41490363924337, 0.03671089227129],
       'range': [1.0, 1.3, 1.6, 1.9],
       'range_i': [-2.0, -1.0, 0.0, 1.0, 2.0],
       'lu_P': [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
       'lu_L': [1.0, 0.0, 0.0, 0.5, 1.0, 0.0, -0.5, 1.0, 1.0],
       'lu_U': [4.0, -6.0, 0.5, 0.0, 4.0, -1.25, 0.0, 0.0, 3.5],
       'lu_P_r': [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
       'lu_L_r': [1.0, 0.0, 0.2, 1.0, 0.6, 0.14285714285714],
       'lu_U_r': [5.0, 6.5, 0.0, 0.7],
       'lu_P_w': [0.0, 1.0, 1.0, 0.0],
       'lu_L_w': [1.0, 0.0, 0.5, 1.0],
       'lu_U_w': [2.0, 4.0, 6.5, 0.0, 1.0, 1.75],
       'ctrap': [1.5, 4.5, 10.0, -0.25, 0.75, 3.25],
       'ctrap_x': [0.75, 5.25, 6.625, -0.125, 1.375, 2.0],
       'ctrap_dx': [0.375, 0.25, 1.75, 2.25],
       'ctrap_x2': [3.0, 15.0, 53.5, 0.25, 3.25, 8.25],
       'trapz': [6.625, 2.0],
       'trapz_dx': [1.5, 1.0, 7.0, 9.0],
       'frob': [3.37083075813664],
       'nuc': [4.63813996805917],
       'nuc_dim': [4.63813996805917],
       'chain': [18.3, -40.25, 2.0, 11.9],
       'aminmax': [[-1.2, -0.6], [2.5, 1.75]],
       'kth': [[1.75, 0.4, 2.5], [1.0, 1.0, 0.0]],
       'msort': [0.3, -1.2, -0.6, 1.75, 0.4, 2.5],
       'histc': [1.0, 3.0, 0.0, 2.0],
       'addmv': [0.6, 5.275],
       'det': [-56.0],
       'logdet': [8.0507033814703],
       'slogdet': [[-1.0], [4.02535169073515]],
       'inverse': [0.27678571428571, 0.16071428571429, 0.09821428571429, 0.16071428571429,
                   -0.03571428571429, 0.08928571428571, -0.28571428571429, 0.28571428571429,
                   0.28571428571429],
       'matrix_power': [-17.0, 51.5, -22.5, 152.0, -320.0, 26.75, -99.0, 266.5, -16.0],
       'mv': [5.4, 0.75],
       'diag_embed': [0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0],
       'embedding': [0.1, 0.2, 1.5, 2.5, -1.0, 0.0, 0.1, 0.2],
       'bn_eval': [0.42659754371443, -2.02288403414377, 4.01917052457311, 0.1, 1.07884443493836,
                   0.12425982613488, -0.58283988408992, 0.54851965226976, -0.06329877185721,
                   1.56968894671492, 3.20267666528704, 4.83566438385917, -0.86567976817984,
                   -1.57277947840464, 0.19496979715736, 0.01819486960116],
       'bn_train': [-0.88832344363246, -3.12603690091352, 2.39365629371308, -1.1866852379366,
                    0.47034087846023, -0.13693514251572, -0.58676923212753, 0.13296531125137,
                    -1.33586613508867, 0.15594283643203, 1.64775180795273, 3.13956077947343,
                    -0.76670286797226, -1.21653695758407, -0.09195173355454, -0.20441025595749],
       'bn_rm': [0.2725, -0.1525],
       'bn_rv': [1.61082142857143, 0.68239285714286],
       'in': [-0.08807707708095, -2.34500200205237, 3.2220794795438, -0.38900040041047, 0.34696472133673,
              -0.43811606410559, -1.01965738665546, -0.08919127057567, -2.58327083993785,
              -0.79442361331262, 0.99442361331262, 2.78327083993785, -0.51747834330663, -1.01457169943607,
              0.22816169088753, 0.10388835185517],
       'ln': [0.0, -1.22250100102619, 3.1220794795438, -0.73350060061571, 0.0, -0.27623212821119,
              -2.87862954662186, 1.26485237654597, 0.0, -0.44721180665631, 0.89442361331262,
              4.02490625990678, 0.0, -1.42914339887214, 2.11264676355012, 2.42333011113102],
       'gn': [-0.3113190066988, -2.97933418528562, 3.6017699218952, -0.66705436384371, 0.24194058315045,
              -0.35836283203159, -0.80303202846272, -0.0915613141729, -0.53287614909513, 0.81725963564115,
              2.16739542037744, 3.51753120511373, -0.79575298345786, -1.13328692964193, -0.28945206418175,
              -0.37383555072777],
       'kl1': [0.14353173407328, 0.78693713354236, -0.28302529887973, -0.19990719290248, 0.68561252412195,
               0.43486210789299],
       'kl2': [1.56801100784838],
       'kl0_lt': [0.14353173407328, 0.78693713354237, -0.28302529887973, -0.19990719290248,
                  0.68561252412195, 0.43486210789299],
       'bcel': [6.20497974451424],
       'pnll': [3.10936011759617],
       'pnll0': [1.26317821679408, 0.98121412184725, 0.66741852825169, 1.52615368254012, 2.59909769649797,
                 1.21299072851919],
       'mrl': [1.95],
       'hel': [0.83333333333333],
       'cel': [0.447487626493, 0.08306100693816],
       'tml': [2.23739760776036],
       'cos': [0.55251237350776, 0.18306100693838],
       'pd': [2.80472785045798, 2.10897588759567],
       'pdist': [3.77789623997272, 2.50199920063936, 2.849561369755, 1.90328663106743, 1.89010581714358,
                 0.37416573867739],
       'mp1v': [0.3, 2.5],
       'mp1i': [0.0, 2.0],
       'mp1': [0.3, 2.5, 2.5, 2.5, 0.7],
       'ap1': [0.3, -0.45, 0.65, 1.3, 0.4, 0.7],
       'amp1v': [2.5, 2.5],
       'amp1i': [2.0, 2.0],
       'aap1': [-0.45, 0.46666666666667, 0.4],
       'conv1d': [-0.7, 2.95, -3.45, 2.95, -0.4],
       'celu': [0.3, -0.45464102335529, 2.5, 1.75, 0.4, -0.3494028940439],
       'selu': [0.31521029620664, -1.22856999541749, 2.6267524683887, 1.83872672787209, 0.42028039494219,
                -0.7932339651811],
       'threshold': [-9.0, -9.0, 2.5, 1.75, 0.4, -9.0],
       'rrelu': [0.3, -0.275, 2.5, 1.75, 0.4, -0.1375],
       'prelu': [0.3, -0.3, 2.5, 1.75, 0.4, -0.15],
       'hardshrink': [0.0, -1.2, 2.5, 1.75, 0.0, -0.6],
       'bilinear': [1.848, 2.288, 0.446, 0.841],
       'pshuf': [0.0, 4.0, 1.0, 5.0, 8.0, 12.0, 9.0, 13.0, 2.0, 6.0, 3.0, 7.0, 10.0, 14.0, 11.0, 15.0],
       'punshuf': [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
       'cshuf': [0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0, 4.0, 5.0, 6.0, 7.0, 12.0, 13.0, 14.0, 15.0],
       'cpad': [2.5, 0.3, -1.2, 2.5, 2.5, 1.75, 0.4, -0.6, 2.5, 2.5, 2.5, 2.5]}

X = [[0.3, -1.2, 2.5], [1.75, 0.4, -0.6]]
Y = [[1.5, 2.0, -0.5], [0.25, -3.0, 1.0]]
A3 = [[2.0, 1.0, -1.0], [4.0, -6.0, 0.5], [-2.0, 7.0, 2.0]]


def t64(data, device, requires_grad=False):
    return gk.tensor(np.asarray(data, dtype=np.float64), device=device, requires_grad=requires_grad)


def close(got, want, tol=1e-10):
    got = np.asarray(got.numpy() if isinstance(got, gk.Tensor) else got, dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64).reshape(-1), rtol=tol, atol=tol)


def test_all_names_are_new_and_defined():
    assert len(tn.__all__) == len(set(tn.__all__))
    clash = [n for n in tn.__all__ if n in vars(gk) and getattr(gk, n) is not getattr(tn, n)]
    assert clash == []  # nothing gk already has is redefined
    for n in tn.__all__:
        assert callable(getattr(tn, n)), n


# ------------------------------------------------------------------------------------------------ arithmetic
def test_arithmetic(device):
    x, y = t64(X, device), t64(Y, device)
    close(div(x, y, rounding_mode="floor"), REF["div_floor"])
    close(div(x, y, rounding_mode="trunc"), REF["div_trunc"])
    close(sub(x, y, alpha=2), REF["sub_alpha"])
    close(rsub(x, y, alpha=3), REF["rsub"])
    close(rsub(x, 5), REF["rsub_num"])
    close(mul(2, x), REF["mul_num"])
    close(sub(2, x), REF["sub_num"])
    close(neg(x), -np.asarray(X))
    assert mul(2.0, gk.ones(2, device=device)).dtype == gk.float32  # a Python number is a weak scalar
    assert div(gk.tensor([7, -7], device=device), 2, rounding_mode="floor").tolist() == [3, -4]
    assert numel(x) == 6 and t(x).shape == (3, 2) and swapdims(x, 0, 1).shape == (3, 2)
    assert narrow(x, 1, 1, 2).tolist() == [[-1.2, 2.5], [0.4, -0.6]]
    with pytest.raises(gk.ArgumentTypeError, match="mul"):
        mul(2, 3)


def test_arithmetic_gradients(device):
    x, y = t64(X, device, True), t64(Y, device, True)
    assert gk.gradcheck(lambda a, b: sub(a, b, alpha=1.5), (x, y))
    assert gk.gradcheck(lambda a, b: rsub(a, b, alpha=2), (x, y))
    assert gk.gradcheck(lambda a, b: div(a, b), (x, y))


# ------------------------------------------------------------------------------------------- reductions
def test_std_mean_var_mean(device):
    x = t64(X, device)
    for got, key in [(std_mean(x), "std_mean"), (std_mean(x, 1, keepdim=True), "std_mean_dim"),
                     (var_mean(x, dim=0, correction=0), "var_mean_corr0"), (var_mean(x, False), "var_mean_unb"),
                     (var_mean(x, (0, 1), True), "var_mean_dims")]:
        assert type(got) is tuple and len(got) == 2
        close(got[0], REF[key][0])
        close(got[1], REF[key][1])
    assert std_mean(x, 1, keepdim=True)[0].shape == (2, 1)
    xg = t64(X, device, True)
    assert gk.gradcheck(lambda a: std_mean(a, 1)[0] + var_mean(a, 1, correction=0)[1], (xg,))
    with pytest.raises(gk.GradkitError, match="std_mean"):
        std_mean(x, 0, True, correction=1)


def test_order_statistics_and_linear_algebra_delegates(device):
    x, a = t64(X, device), t64(A3, device)
    mn, mx = aminmax(x, dim=1)
    close(mn, REF["aminmax"][0])
    close(mx, REF["aminmax"][1])
    vals, idx = kthvalue(x, 2, 0)
    close(vals, REF["kth"][0])
    close(idx, REF["kth"][1])
    close(msort(x), REF["msort"])
    close(histc(x, 4, -2, 3), REF["histc"])
    close(addmv(t64([1.0, 2.0], device), x, t64([1.0, 0.5, -1.0], device), beta=2, alpha=0.5), REF["addmv"])
    close(det(a), REF["det"])
    close(logdet(a @ a.T), REF["logdet"])
    close(slogdet(a)[0], REF["slogdet"][0])
    close(slogdet(a)[1], REF["slogdet"][1])
    close(inverse(a), REF["inverse"])
    close(matrix_power(a, 3), REF["matrix_power"])
    close(mv(x, t64([1.0, 2.0, 3.0], device)), REF["mv"])
    close(diag_embed(t64([1.0, 2.0], device), 1), REF["diag_embed"])
    u, s, v = svd(a)
    close(u @ gk.diag(s) @ v.T, np.asarray(A3).reshape(-1))
    ag = t64(A3, device, True)
    assert gk.gradcheck(lambda m: det(m) + inverse(m).sum(), (ag,))
    assert det(input=a).item() == pytest.approx(REF["det"][0])  # input= by keyword, as torch


def test_in_place_top_level(device):
    x = t64([0.5, -1.0, 2.0], device)
    assert exp_(x) is x
    close(x, np.exp([0.5, -1.0, 2.0]))
    clamp_(x, 1.0, 3.0)
    close(x, [1.648721270700128, 1.0, 3.0])
    zero_(x)
    assert x.tolist() == [0.0, 0.0, 0.0]
    r = t64([-1.0, 2.0], device)
    relu_(r)
    assert r.tolist() == [0.0, 2.0]
    s = t64([-1.0, 2.0], device)
    celu_(s, 0.5)
    close(s, [0.5 * (math.exp(-2.0) - 1), 2.0])
    th = t64([0.1, 0.5], device)
    threshold_(th, 0.35, -9.0)
    assert th.tolist() == [-9.0, 0.5]
    leaf = t64([1.0], device, True)
    with pytest.raises(gk.GradkitError):
        sigmoid_(leaf)
    assert clamp_min(t64([1.0, -2.0], device), 0.0).tolist() == [1.0, 0.0]
    assert clamp_max(t64([1.0, -2.0], device), 0.0).tolist() == [0.0, -2.0]


def test_fill_and_copies(device):
    x = t64(X, device, True)
    f = fill(x, 3.0)
    assert f.shape == (2, 3) and f.tolist() == [[3.0] * 3] * 2 and f.dtype == gk.float64
    v = t64(2.0, device, True)
    fill(x, v).sum().backward()
    assert v.grad.item() == 6.0
    c = t_copy(x)
    assert c.shape == (3, 2)
    c2 = transpose_copy(x.detach(), 0, 1)
    assert c2.shape == (3, 2)  # torch's swap, not NumPy's transpose(axes)
    c2[0, 0] = 99.0
    assert x[0, 0].item() == 0.3  # a copy, not a view
    assert [p.shape for p in split_copy(x, 2, 1)] == [(2, 2), (2, 1)]
    assert unsqueeze_copy(x, 0).shape == (1, 2, 3)
    assert gk.gradcheck(lambda a: permute_copy(a, (1, 0)) * 2, (x,))


# ------------------------------------------------------------------------------------------- constructions
def test_block_diag_cartesian_combinations(device):
    x = t64(X, device, True)
    bd = block_diag(gk.tensor(2.0, device=device), t64([1.0, 2.0], device), x)
    assert bd.shape == (4, 6)
    close(bd, REF["block_diag"])
    assert gk.gradcheck(lambda a: block_diag(a, a[:1]), (x,))
    assert block_diag().shape == (1, 0)
    assert block_diag(gk.tensor([1, 2], device=device), gk.tensor(3, device=device)).dtype == gk.int64
    cp = cartesian_prod(t64([1.0, 2.0], device), t64([3.0, 4.0, 5.0], device), t64([6.0, 7.0], device))
    assert cp.shape == (12, 3)
    close(cp, REF["cartesian"])
    v = t64([0.5, -1.0, 2.0, 3.0], device, True)
    close(combinations(v), REF["comb"])
    close(combinations(v, 3, True), REF["comb3r"])
    assert combinations(v, 3, True).shape == (20, 3)
    assert combinations(v, 0).shape == (0,)
    assert combinations(v[:1]).shape == (0, 2)
    assert gk.gradcheck(lambda a: combinations(a, 2) ** 2, (v,))
    with pytest.raises(gk.ShapeError, match="block_diag"):
        block_diag(gk.ones(1, 1, 1, device=device))
    with pytest.raises(gk.ShapeError, match="cartesian_prod"):
        cartesian_prod(gk.ones(2, 2, device=device))


def test_broadcast_tensors(device):
    a, b = t64([[1.0], [2.0]], device, True), t64([3.0, 4.0, 5.0], device, True)
    ba, bb = broadcast_tensors(a, b)
    assert ba.shape == bb.shape == (2, 3)
    (ba * bb).sum().backward()
    assert a.grad.tolist() == [[12.0], [12.0]] and b.grad.tolist() == [3.0, 3.0, 3.0]
    with pytest.raises(gk.ShapeError, match="broadcast_tensors"):
        broadcast_tensors(gk.ones(2, device=device), gk.ones(3, device=device))


def test_bucketize(device):
    x = t64([[0.5, 1.0, 3.0], [5.0, 7.5, -2.0]], device)
    b = t64([1.0, 3.0, 5.0, 7.0], device)
    out = bucketize(x, b)
    assert out.dtype == gk.int64
    close(out, REF["bucket_l"])
    out = bucketize(x, b, right=True, out_int32=True)
    assert out.dtype == gk.int32
    close(out, REF["bucket_r"])
    assert bucketize(3, b).item() == 1 and bucketize(3, b).ndim == 0
    with pytest.raises(gk.ShapeError, match="bucketize"):
        bucketize(x, x)


def test_as_tensor_and_scalar_tensor_and_range(device):
    a = np.arange(3.0)
    t_ = as_tensor(a, device="cpu")
    a[0] = 7.0
    assert t_[0].item() == 7.0  # no copy of a NumPy array on the CPU
    x = t64(X, device, True)
    assert as_tensor(x) is x
    y = as_tensor(x, dtype=gk.float32)
    assert y.dtype == gk.float32 and y.requires_grad
    assert as_tensor([1.0, 2.0]).dtype == gk.float32 and as_tensor([1, 2]).dtype == gk.int64
    assert as_tensor([1.0], device=device).device.startswith(device.split(":")[0])
    s = scalar_tensor(3, device=device)
    assert s.ndim == 0 and s.dtype == gk.float32 and s.item() == 3.0
    assert scalar_tensor(True, dtype=gk.float64).dtype == gk.float64
    close(gk.range(1, 2, 0.3, dtype=gk.float64), REF["range"])
    r = gk.range(-2, 2, device=device)
    assert r.dtype == gk.float32
    close(r, REF["range_i"])
    with pytest.raises(gk.InvalidArgumentError, match="range"):
        gk.range(0, 1, -1)
    namespace: dict = {}
    exec("from gradkit import *", namespace)  # gk.range is not star-exported: it would hide the builtin
    assert "range" not in namespace


def test_windows(device):
    for name in ["hann", "hamming", "blackman", "bartlett", "kaiser"]:
        fn = getattr(tn, f"{name}_window")
        w = fn(7, device=device)
        assert w.dtype == gk.float32 and w.shape == (7,)
        close(fn(7, dtype=gk.float64, device=device), REF[name], 1e-12)
        close(fn(6, False, dtype=gk.float64), REF[f"{name}_sym"], 1e-12)
        assert fn(1).tolist() == [1.0] and fn(0).shape == (0,)
    close(hamming_window(6, True, 0.5, 0.3, dtype=gk.float64), REF["hamming_ab"], 1e-12)
    close(kaiser_window(6, False, 5.0, dtype=gk.float64), REF["kaiser_b"], 1e-12)
    with pytest.raises(gk.DTypeError, match="hann_window"):
        hann_window(4, dtype=gk.int64)


# ------------------------------------------------------------------------------------------------ integration
def test_trapz_and_cumulative_trapezoid(device):
    y = t64([[1.0, 2.0, 4.0, 7.0], [0.5, -1.0, 3.0, 2.0]], device, True)
    x = t64([0.0, 0.5, 2.0, 2.25], device)
    close(cumulative_trapezoid(y), REF["ctrap"])
    close(cumulative_trapezoid(y, x), REF["ctrap_x"])
    close(cumulative_trapezoid(y, dx=0.5, dim=0), REF["ctrap_dx"])
    close(cumulative_trapezoid(y, gk.cumsum(y.detach(), 1)), REF["ctrap_x2"])
    close(trapz(y, x), REF["trapz"])
    close(trapz(y, dx=2.0, dim=0), REF["trapz_dx"])
    assert cumulative_trapezoid(y).shape == (2, 3)
    assert gk.gradcheck(lambda a: cumulative_trapezoid(a, x), (y,))


def test_norms_and_chain_matmul(device):
    x, a = t64(X, device, True), t64(A3, device)
    close(frobenius_norm(x, (0, 1)), REF["frob"])
    close(nuclear_norm(x), REF["nuc"])
    nd = nuclear_norm(x.reshape(1, 2, 3), (1, 2), True)
    assert nd.shape == (1, 1, 1)
    close(nd, REF["nuc_dim"])
    close(chain_matmul(x, t64(Y, device).T, a[:2, :2]), REF["chain"])
    assert gk.gradcheck(lambda m: frobenius_norm(m, (0, 1)) + nuclear_norm(m), (x,))


def test_lu_unpack(device):
    for key, data in [("", A3), ("_r", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]]),
                      ("_w", [[1.0, 3.0, 5.0], [2.0, 4.0, 6.5]])]:
        a = t64(data, device)
        res = lu_unpack(*gk.linalg.lu_factor(a))
        assert isinstance(res, gk.return_types.lu_unpack)
        close(res.P, REF[f"lu_P{key}"])
        close(res.L, REF[f"lu_L{key}"])
        close(res.U, REF[f"lu_U{key}"])
        close(res.P @ res.L @ res.U, np.asarray(data).reshape(-1))
    batch = t64([A3, np.eye(3) + 0.5], device)
    P, L, U = lu_unpack(*gk.linalg.lu_factor(batch))
    close(P @ L @ U, batch.numpy().reshape(-1))
    LU, piv = gk.linalg.lu_factor(t64(A3, device))
    lu_g = LU.detach().requires_grad_(True)
    assert gk.gradcheck(lambda m: lu_unpack(m, piv)[1] * 2 + lu_unpack(m, piv)[2], (lu_g,))
    P, L, U = lu_unpack(LU, piv, unpack_data=False)
    assert L.numel() == 0 and U.numel() == 0 and P.shape == (3, 3)
    with pytest.raises(gk.DTypeError, match="lu_unpack"):
        lu_unpack(LU, piv.astype(gk.float64))


# ------------------------------------------------------------------------------------------- random draws
def test_normal_overloads(device):
    gk.manual_seed(0)
    z = normal(2.0, 3.0, (4000,), device=device)
    assert z.dtype == gk.float32 and z.shape == (4000,)
    assert abs(z.mean().item() - 2.0) < 0.2 and abs(z.std().item() - 3.0) < 0.2
    m = gk.zeros(2, 1, dtype=gk.float64, device=device, requires_grad=True)
    s = gk.ones(3, dtype=gk.float64, device=device, requires_grad=True)
    out = normal(m, s)
    assert out.shape == (2, 3) and out.dtype == gk.float64 and out.requires_grad
    out.sum().backward()
    assert m.grad.tolist() == [[0.0], [0.0]] and s.grad.tolist() == [0.0, 0.0, 0.0]  # torch's zero gradients
    assert normal(t64([1.0, 2.0], device), 0.0).tolist() == [1.0, 2.0]
    assert normal(5.0, t64([0.0], device)).tolist() == [5.0]
    gk.manual_seed(3)
    first = normal(t64([0.0, 0.0], device)).tolist()
    gk.manual_seed(3)
    assert normal(t64([0.0, 0.0], device)).tolist() == first
    with pytest.raises(gk.ArgumentTypeError, match="normal"):
        normal(0.0, 1.0)
    with pytest.raises(gk.InvalidArgumentError, match="normal"):
        normal(t64([0.0], device), t64([-1.0], device))
    with pytest.raises(gk.ShapeError, match="normal"):
        normal(gk.zeros(2, 1, device=device), gk.ones(3, 2, device=device))


def test_other_draws(device):
    gk.manual_seed(1)
    p = poisson(gk.full((2000,), 3.0, device=device))
    assert p.dtype == gk.float32 and abs(p.mean().item() - 3.0) < 0.2
    assert (p.numpy() == np.round(p.numpy())).all()
    b = binomial(gk.full((2000,), 10.0, device=device), gk.full((2000,), 0.25, device=device))
    assert b.dtype == gk.float32 and abs(b.mean().item() - 2.5) < 0.2 and b.max().item() <= 10
    be = bernoulli(gk.full((2000,), 0.3, device=device))
    assert set(np.unique(be.numpy()).tolist()) <= {0.0, 1.0} and abs(be.mean().item() - 0.3) < 0.05
    ri = randint_like(gk.zeros(500, dtype=gk.float64, device=device), 3, 6)
    assert ri.dtype == gk.float64 and ri.min().item() >= 3 and ri.max().item() <= 5
    assert randint_like(gk.zeros(3, dtype=gk.int32, device=device), 5).dtype == gk.int32
    with pytest.raises(gk.InvalidArgumentError, match="poisson"):
        poisson(gk.tensor([-1.0], device=device))
    with pytest.raises(gk.ArgumentTypeError, match="generator"):
        bernoulli(gk.full((2,), 0.5), generator=object())


def test_feature_dropout(device):
    gk.manual_seed(2)
    x = gk.ones(400, 3, 5, device=device, dtype=gk.float64)
    out = feature_dropout(x, 0.25, True)
    per_channel = out.numpy()
    assert ((per_channel == 0) | np.isclose(per_channel, 1 / 0.75)).all()
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # whole channels
    assert abs((per_channel[:, :, 0] == 0).mean() - 0.25) < 0.05
    assert feature_dropout(x, 0.25, False) is x
    assert dropout(x, 0.5, False) is x or np.array_equal(dropout(x, 0.5, False).numpy(), x.numpy())


# ----------------------------------------------------------------------------------- F's torch.* aliases
def test_embedding_and_norms(device):
    w = t64([[0.1, 0.2], [0.3, -0.4], [1.5, 2.5], [-1.0, 0.0]], device, True)
    idx = gk.tensor([[0, 2], [3, 0]], device=device)
    close(embedding(w, idx), REF["embedding"])
    embedding(w, idx, 0).sum().backward()
    assert w.grad.tolist()[0] == [0.0, 0.0]  # padding_idx's row gets no gradient
    inp = t64([[[0.3, -1.2, 2.5, 0.1], [1.75, 0.4, -0.6, 1.0]], [[0.0, 1.0, 2.0, 3.0], [-1.0, -2.0, 0.5, 0.25]]],
              device)
    rm, rv = t64([0.1, -0.2], device), t64([1.5, 0.5], device)
    w2, b2 = t64([2.0, 0.5], device), t64([0.1, -0.3], device)
    close(batch_norm(inp, w2, b2, rm, rv, False, 0.1, 1e-5, False), REF["bn_eval"])
    close(batch_norm(inp, w2, b2, rm, rv, True, 0.2, 1e-5, False), REF["bn_train"])
    close(rm, REF["bn_rm"])
    close(rv, REF["bn_rv"])
    close(instance_norm(inp, w2, b2, None, None, True, 0.1, 1e-5, False), REF["in"])
    close(layer_norm(inp, (4,), gk.arange(4.0, dtype=gk.float64, device=device), None, 1e-5), REF["ln"])
    close(group_norm(inp, 1, w2, b2), REF["gn"])


def test_losses_with_int_reductions(device):
    a, t_ = t64(X, device, True), t64([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]], device)
    tg = t64([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], device)
    lsm = gk.log_softmax(a, 1)
    close(kl_div(lsm, t_), REF["kl1"])  # unreduced without reduction=, as torch.kl_div(a, b)
    assert hinge_embedding_loss(a, tg).shape == (2, 3) and triplet_margin_loss(a, t_, tg).shape == (2,)
    assert binary_cross_entropy_with_logits(a, tg).shape == (2, 3)
    assert kl_div(lsm, t_, 1).shape == ()
    close(kl_div(lsm, t_, 2), REF["kl2"])
    close(kl_div(lsm, gk.log(t_), 0, log_target=True), REF["kl0_lt"])
    close(binary_cross_entropy_with_logits(a, tg, t64([1.0, 2.0, 0.5], device), t64([3.0, 1.0, 0.5], device), 2),
          REF["bcel"])
    close(poisson_nll_loss(a, t_ * 4, True, True, 1e-8, 1), REF["pnll"])
    close(poisson_nll_loss(gk.abs(a), t_ * 4, False, False, 1e-8, 0), REF["pnll0"])
    close(margin_ranking_loss(a[0], a[1], t64([1.0, -1.0, 1.0], device), 0.5, 2), REF["mrl"])
    close(hinge_embedding_loss(a, tg * 2 - 1, 1.0, 1), REF["hel"])
    close(cosine_embedding_loss(a, t_, t64([1.0, -1.0], device), 0.1, 0), REF["cel"])
    close(triplet_margin_loss(a, t_, tg, 1.0, 2.0, 1e-6, True, 1), REF["tml"])
    close(kl_div(lsm, t_, "sum"), REF["kl2"])  # the names work too
    assert gk.gradcheck(lambda m: kl_div(gk.log_softmax(m, 1), t_) + binary_cross_entropy_with_logits(m, tg), (a,))
    with pytest.raises(gk.InvalidArgumentError, match="kl_div"):
        kl_div(lsm, t_, 3)


def test_distances_activations_and_shuffles(device):
    a, t_ = t64(X, device, True), t64([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]], device)
    close(cosine_similarity(a, t_), REF["cos"])
    close(pairwise_distance(a, t_, 1.5), REF["pd"])
    close(pdist(gk.cat([a, t_])), REF["pdist"])
    close(celu(a, 0.5), REF["celu"])
    close(selu(a), REF["selu"])
    close(threshold(a, 0.35, -9.0), REF["threshold"])
    close(rrelu(a), REF["rrelu"])
    close(prelu(a, t64([0.25], device)), REF["prelu"])
    close(hardshrink(a, 0.5), REF["hardshrink"])
    weight = gk.arange(18.0, dtype=gk.float64, device=device).reshape(2, 3, 3) / 10
    close(bilinear(a, t_, weight, t64([0.5, -0.5], device)), REF["bilinear"])
    ps = gk.arange(16.0, dtype=gk.float64, device=device).reshape(1, 4, 2, 2)
    close(pixel_shuffle(ps, 2), REF["pshuf"])
    close(pixel_unshuffle(pixel_shuffle(ps, 2), 2), REF["punshuf"])
    close(channel_shuffle(ps, 2), REF["cshuf"])
    close(constant_pad_nd(a, (1, 0, 0, 1), 2.5), REF["cpad"])
    assert gk.gradcheck(lambda m: cosine_similarity(m, t_) + celu(m, 0.5).sum(1) + selu(m).sum(1), (a,))


def test_pools_and_conv(device):
    sig = t64([[[0.3, -1.2, 2.5, 0.1, 0.7]]], device, True)
    v, i = max_pool1d_with_indices(sig, 2)
    close(v, REF["mp1v"])
    close(i, REF["mp1i"])
    close(max_pool1d(sig, 3, 1, 1), REF["mp1"])
    close(avg_pool1d(sig, 2, 1, 1, False, False), REF["ap1"])
    out = adaptive_max_pool1d(sig, 2)
    assert type(out) is tuple
    close(out[0], REF["amp1v"])
    close(out[1], REF["amp1i"])
    close(adaptive_avg_pool1d(sig, 3), REF["aap1"])
    close(conv1d(sig, t64([[[1.0, -1.0, 0.5]]], device), t64([0.2], device), 1, 1), REF["conv1d"])
    assert max_pool2d(gk.ones(1, 1, 4, 4, device=device), 2).shape == (1, 1, 2, 2)
    assert gk.gradcheck(lambda s: conv1d(s, t64([[[1.0, -1.0, 0.5]]], device), None, 1, 1) + avg_pool1d(s, 1), (sig,))


# ------------------------------------------------------------------------------------------------ the library
def test_library_switches():
    assert is_conj(gk.ones(2)) is False and is_neg(gk.ones(2)) is False
    assert is_floating_point(gk.ones(2)) and not is_floating_point(gk.ones(2, dtype=gk.int64))
    assert not is_complex(gk.ones(2)) and is_signed(gk.ones(2)) and is_nonzero(gk.ones(1))
    assert is_same_size(gk.ones(2), gk.zeros(2))
    assert get_default_dtype() == gk.float32
    assert get_default_device() == gk.default_device()
    assert is_anomaly_enabled() is False
    set_anomaly_enabled(True, False)
    try:
        assert is_anomaly_enabled() is True and is_anomaly_check_nan_enabled() is False
    finally:
        set_anomaly_enabled(False)
    assert is_anomaly_enabled() is False
    gk.manual_seed(1234)
    assert initial_seed() == 1234
    s = seed()
    assert initial_seed() == s and 0 <= s < 2**64
    gk.manual_seed(0)
    batched = vmap(lambda v: (v * v).sum())(gk.arange(6.0).reshape(2, 3))
    assert batched.tolist() == [5.0, 50.0]


def test_num_threads():
    pytest.importorskip("threadpoolctl")
    before = get_num_threads()
    assert before >= 1
    set_num_threads(1)
    try:
        assert get_num_threads() == 1
    finally:
        set_num_threads(before)
    with pytest.raises(gk.InvalidArgumentError, match="set_num_threads"):
        set_num_threads(0)
