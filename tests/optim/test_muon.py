"""Muon (``torch.optim.Muon``): twenty steps against PyTorch's trajectories (hard-coded below, from PyTorch
2.14), one step against its formula in NumPy, the learning rate adjustments, state dicts (PyTorch's layout,
a PyTorch-format dict loaded, round trips), argument checks, host reads and capture.

PyTorch runs the Newton-Schulz iteration in bfloat16, gradkit in float32. ``TORCH`` was made by PyTorch's
Muon with that one cast made float32 instead (``grad.bfloat16()`` in ``_zeropower_via_newtonschulz``
patched to ``grad.to(torch.float32, copy=True)``), so the two run the same arithmetic and agree to a few
float32 roundings; ``TORCH_BF16`` is PyTorch's Muon as it is, which gradkit matches to bfloat16's precision.
Both: two parameter groups (a wide 3x5 and a tall 5x3 matrix, the second group with its own
hyperparameters), the gradient ``grad(p, t)`` of each step computed from the parameter (below), 20 steps.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from nn._host_reads import count_host_reads
from training_steps import replays_match_eager_steps

import gradkit as gk
from gradkit import optim
from gradkit.cuda import graphs as C

WIDE, TALL = (3, 5), (5, 3)


def start(shape: tuple) -> np.ndarray:
    i, j = np.indices(shape)
    return np.cos(0.9 * i + 1.3 * j + 0.2) * 1.5


def target(shape: tuple) -> np.ndarray:
    i, j = np.indices(shape)
    return np.sin(0.5 * i - 0.8 * j)


def grad(p: np.ndarray, t: int) -> np.ndarray:
    """The gradient of step ``t`` at ``p`` (in float64, returned in p's dtype): a pull to ``target`` and a drift."""
    i, j = np.indices(p.shape)
    p64 = p.astype(np.float64)
    return ((p64 - target(p.shape)) * (1 + 0.3 * np.cos(i + 2 * j)) + 0.4 * np.sin(1.7 * t + i - 0.6 * j)).astype(
        p.dtype
    )


#: name: (the optimiser's keywords, the second group's own)
CONFIGS = {
    "nesterov": ({"lr": 0.02}, {"lr": 0.01}),
    "plain_rms": ({"lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 0.01,
                   "adjust_lr_fn": "match_rms_adamw"}, {"weight_decay": 0.2}),
    "spectral": ({"lr": 0.03, "momentum": 0.3, "weight_decay": 0.0, "adjust_lr_fn": "spectral_unclamped", "ns_steps": 3,
                  "ns_coefficients": (3.0, -3.2, 1.2), "eps": 1e-5}, {"adjust_lr_fn": "original"}),
    "no_ns": ({"lr": 0.01, "momentum": 0.0, "weight_decay": 0.5, "ns_steps": 0, "adjust_lr_fn": "original"},
              {"nesterov": False}),
}

#: PyTorch's Muon, its Newton-Schulz iteration run in float32: (wide, its momentum buffer, tall, its momentum
#: buffer) after 20 steps, for float32 and float64 parameters
TORCH = {
    ("nesterov", "float32"): (
        [[1.185732722, 0.01178210787, -1.460417628, -0.7749757171, 0.7832102776],
         [0.6448273659, -0.9902023673, -0.9715300202, 0.1896577328, 1.348911285],
         [-0.4794250727, -1.291968346, -0.377120018, 1.116771936, 0.691730082]],
        [[1.097240925, 0.4284542501, -0.2404199094, -0.1290804595, 0.474999696],
         [0.1526591182, -0.3251410723, -0.1452072859, 0.964989841, 0.843747437],
         [-0.7647141218, -0.7933527231, 0.2453015149, 1.372010231, 0.7648257017]],
        [[1.266114235, 0.1010845304, -1.504126549],
         [0.6444907784, -0.9804840684, -1.159000635],
         [-0.5694106817, -1.3354671, -0.1491140872],
         [-1.420199037, -0.6246707439, 0.88164711],
         [-1.069082856, 0.5192700624, 1.376073241]],
        [[1.137706876, 0.4552500844, -0.2524055243],
         [0.1516958475, -0.3212941885, -0.2187418044],
         [-0.7931141257, -0.8064272404, 0.3518258929],
         [-1.100595236, -0.9104845524, 0.8506254554],
         [-1.063242555, -0.3335964084, 0.6369056106]],
    ),
    ("nesterov", "float64"): (
        [[1.185731946, 0.01178208059, -1.460416824, -0.7749752513, 0.7832098222],
         [0.6448270271, -0.990201854, -0.9715295583, 0.189657592, 1.348910369],
         [-0.4794249405, -1.291967672, -0.3771198018, 1.116771704, 0.6917295805]],
        [[1.097240732, 0.4284542095, -0.240419692, -0.1290802169, 0.4749995425],
         [0.1526589779, -0.3251408976, -0.145207171, 0.9649897787, 0.8437471502],
         [-0.7647140641, -0.793352619, 0.2453015942, 1.372010156, 0.7648255703]],
        [[1.266113827, 0.1010844829, -1.504126353],
         [0.644490523, -0.9804835926, -1.159000249],
         [-0.5694103741, -1.335466532, -0.1491140305],
         [-1.420198639, -0.6246706742, 0.8816467618],
         [-1.069082568, 0.5192698753, 1.376072908]],
        [[1.137706581, 0.4552500975, -0.2524054367],
         [0.1516957485, -0.3212940948, -0.2187416764],
         [-0.7931140546, -0.8064270457, 0.351825923],
         [-1.100595058, -0.9104844613, 0.8506252965],
         [-1.063242611, -0.3335964501, 0.6369054571]],
    ),
    ("plain_rms", "float32"): (
        [[1.198526621, 0.001597892726, -1.51482892, -0.7926002145, 0.7931546569],
         [0.6631828547, -1.009344935, -0.9740448594, 0.1750420034, 1.380871296],
         [-0.4813047945, -1.318763614, -0.4103388786, 1.125362396, 0.6923154593]],
        [[1.486574173, 0.5731633902, -0.3601613939, -0.188369289, 0.6412848234],
         [0.2237283587, -0.4454472959, -0.1837489754, 1.287283063, 1.153835773],
         [-1.033725381, -1.081235051, 0.3016193211, 1.866559982, 1.034614563]],
        [[0.9410275221, 0.07934854925, -1.331195712],
         [0.5017865896, -0.7183670998, -0.9114010334],
         [-0.4560189247, -1.016105294, -0.1207127571],
         [-1.168840528, -0.4485411942, 0.6368870139],
         [-0.8071305752, 0.3907160759, 1.08634603]],
        [[1.28844738, 0.6063736677, -0.2827922404],
         [0.1217708066, -0.3287947178, -0.1317246109],
         [-1.01559782, -0.9437010884, 0.5124645829],
         [-1.403892398, -1.12528801, 0.9710580707],
         [-1.335793614, -0.5514463186, 0.704965651]],
    ),
    ("plain_rms", "float64"): (
        [[1.198527352, 0.001597965374, -1.514829614, -0.7926005515, 0.7931550332],
         [0.6631832494, -1.009345298, -0.9740450477, 0.1750422132, 1.380872058],
         [-0.4813050607, -1.318764496, -0.4103390778, 1.125363323, 0.6923158624]],
        [[1.486574845, 0.5731633686, -0.3601616831, -0.1883694957, 0.6412850294],
         [0.2237285936, -0.4454474805, -0.1837490865, 1.287283121, 1.153836106],
         [-1.033725389, -1.08123545, 0.3016192496, 1.866560279, 1.034614779]],
        [[0.9410272499, 0.07934854236, -1.331195382],
         [0.5017864013, -0.7183668017, -0.9114006989],
         [-0.4560188305, -1.016104792, -0.120712737],
         [-1.168840492, -0.4485410796, 0.6368870616],
         [-0.8071301273, 0.3907159526, 1.086345614]],
        [[1.288447195, 0.6063736061, -0.2827921595],
         [0.1217706932, -0.3287946047, -0.1317243836],
         [-1.015597808, -0.9437009381, 0.512464597],
         [-1.403892209, -1.125287896, 0.9710581126],
         [-1.335793213, -0.551446434, 0.7049653892]],
    ),
    ("spectral", "float32"): (
        [[1.12204051, -0.02131251805, -1.47820282, -0.8327316046, 0.7236128449],
         [0.6131690145, -1.031235933, -1.006389141, 0.1826010495, 1.361851931],
         [-0.4824063778, -1.331042409, -0.3819746673, 1.137230515, 0.7092840075]],
        [[1.637173533, 0.6178716421, -0.5351982713, -0.4476783872, 0.3964035809],
         [0.4264899194, -0.300691396, -0.02737534046, 1.35421586, 1.122335315],
         [-1.035350919, -1.00208807, 0.4985694289, 2.23634243, 1.199741602]],
        [[0.9177278876, 0.09421168268, -1.662677288],
         [0.5448386669, -0.6772978306, -1.054665804],
         [-0.4821914136, -1.052760243, -0.2349635661],
         [-1.348336101, -0.3532811403, 0.574604094],
         [-0.7391680479, 0.4604694843, 1.245686054]],
        [[1.375867605, 0.712105155, -0.6829223633],
         [0.3583066761, -0.06755810231, -0.0693571344],
         [-1.02834034, -0.7863015532, 0.7175419331],
         [-1.77726984, -1.068296909, 1.032800674],
         [-1.609511018, -0.8215917349, 0.7435765266]],
    ),
    ("spectral", "float64"): (
        [[1.122040321, -0.02131256559, -1.478202738, -0.8327315835, 0.7236129609],
         [0.613169091, -1.031235904, -1.006389015, 0.1826010588, 1.361851973],
         [-0.48240638, -1.331042425, -0.381974613, 1.137230808, 0.7092840838]],
        [[1.637173285, 0.6178715833, -0.5351982826, -0.4476783911, 0.3964036776],
         [0.4264900453, -0.3006913697, -0.02737521041, 1.354215856, 1.122335291],
         [-1.035350881, -1.002088005, 0.4985694791, 2.236342727, 1.199741664]],
        [[0.9177278986, 0.0942116942, -1.662677242],
         [0.544838731, -0.6772977939, -1.054665712],
         [-0.4821914347, -1.052760439, -0.2349634998],
         [-1.348336118, -0.3532810723, 0.5746040769],
         [-0.7391682263, 0.4604694978, 1.245685957]],
        [[1.375867665, 0.712105143, -0.6829223498],
         [0.3583067135, -0.06755806819, -0.06935703704],
         [-1.02834033, -0.7863017006, 0.7175419983],
         [-1.777269843, -1.068296829, 1.032800663],
         [-1.609511224, -0.8215917191, 0.743576418]],
    ),
    ("no_ns", "float32"): (
        [[1.253262639, 0.06688407063, -1.264598846, -0.770377934, 0.827327013],
         [0.6059451103, -0.977814734, -1.135001898, 0.3162094653, 1.300735593],
         [-0.5128056407, -1.286164165, -0.1752112955, 1.164264202, 0.7728793025]],
        [[1.952554226, 0.800332725, -0.3430727422, -0.445803076, 0.3407097757],
         [0.5325098634, -0.09959836304, -0.01799247228, 1.588035345, 1.064933896],
         [-1.08775866, -0.8980230093, 0.9005574584, 2.420305967, 1.374719262]],
        [[1.230172992, 0.0573085174, -1.261454105],
         [0.6038763523, -0.9706509113, -1.1306566],
         [-0.4960469902, -1.26883328, -0.1814796031],
         [-1.224324346, -0.5856875181, 0.8847739697],
         [-0.9809653759, 0.5405236483, 1.291803598]],
        [[1.923913479, 0.7923414111, -0.340704143],
         [0.53048563, -0.09457165003, -0.01325126551],
         [-1.073595643, -0.8844538927, 0.8931626678],
         [-1.840503693, -1.399005294, 1.394442916],
         [-1.922200799, -0.8679323792, 0.6645597816]],
    ),
    ("no_ns", "float64"): (
        [[1.253262534, 0.06688407181, -1.264598498, -0.7703777872, 0.8273269657],
         [0.6059449823, -0.9778148839, -1.135001739, 0.3162094801, 1.300735594],
         [-0.5128054996, -1.286164077, -0.1752112903, 1.164264182, 0.7728794209]],
        [[1.952553949, 0.8003327289, -0.343072479, -0.4458029147, 0.3407097691],
         [0.5325096945, -0.09959849634, -0.01799232306, 1.58803535, 1.064933801],
         [-1.087758474, -0.8980229192, 0.9005574947, 2.420306039, 1.374719368]],
        [[1.230172742, 0.05730852382, -1.261453852],
         [0.6038764988, -0.9706507697, -1.130656327],
         [-0.496046816, -1.268833191, -0.1814795667],
         [-1.224324275, -0.5856874741, 0.8847736826],
         [-0.980965407, 0.540523688, 1.291803369]],
        [[1.923913143, 0.7923414121, -0.3407039301],
         [0.5304857494, -0.09457157611, -0.01325095025],
         [-1.073595493, -0.8844537825, 0.8931626878],
         [-1.840503623, -1.399005361, 1.394442507],
         [-1.92220083, -0.8679323081, 0.6645595148]],
    ),
}
#: PyTorch's Muon as it is (its Newton-Schulz iteration in bfloat16), float32 parameters: (wide, tall) after
#: 20 steps
TORCH_BF16 = {
    "nesterov": (
        [[1.186937928, 0.0122316489, -1.46026361, -0.775518477, 0.7832638025],
         [0.6439712048, -0.9903110266, -0.9701962471, 0.1898467541, 1.348845005],
         [-0.4792781174, -1.291834831, -0.3783234358, 1.116648197, 0.6908850074]],
        [[1.265854359, 0.1013383269, -1.504622221],
         [0.6444668174, -0.9807265997, -1.158807635],
         [-0.5693394542, -1.335386872, -0.1490651369],
         [-1.420110583, -0.6245738268, 0.8808938265],
         [-1.068974495, 0.5193645954, 1.37608552]],
    ),
    "plain_rms": (
        [[1.197729945, 0.001209745998, -1.515878558, -0.7925325632, 0.7930556536],
         [0.6638845801, -1.008547187, -0.9716781974, 0.1736936867, 1.379468083],
         [-0.4813764989, -1.318260193, -0.4103799164, 1.12388742, 0.6921100616]],
        [[0.9406692386, 0.08008342981, -1.331173778],
         [0.5014574528, -0.7181446552, -0.9115501642],
         [-0.4563939273, -1.01583159, -0.1204511225],
         [-1.168962955, -0.4484435022, 0.6370689273],
         [-0.8071353436, 0.3903781474, 1.08673954]],
    ),
}

TOL = {"float32": 1e-6, "float64": 2e-7}  # observed: 2.4e-7 (two float32 ulps at 2) and 6.3e-8
PYTORCH_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
                    "ns_coefficients": (3.4445, -4.775, 2.0315), "eps": 1e-7, "ns_steps": 5, "adjust_lr_fn": None}


def _run(name: str, dtype: str, device: str, steps: int = 20) -> tuple:
    """CONFIGS[name]'s optimiser over the wide and the tall matrix, after ``steps`` steps."""
    kw, group = CONFIGS[name]
    w = gk.tensor(start(WIDE).astype(dtype), device=device, requires_grad=True)
    t = gk.tensor(start(TALL).astype(dtype), device=device, requires_grad=True)
    opt = optim.Muon([{"params": [w]}, {"params": [t], **group}], **kw)
    for s in range(steps):
        for p in (w, t):
            p.grad = gk.tensor(grad(p.numpy(), s), device=device)
        opt.step()
    return w, t, opt


# ------------------------------------------------------------------ PyTorch's trajectories
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_twenty_steps_match_pytorch(device, name, dtype):
    w, t, opt = _run(name, dtype, device)
    expected = TORCH[(name, dtype)]
    got = (w, opt.state[w]["momentum_buffer"], t, opt.state[t]["momentum_buffer"])
    for what, mine, theirs in zip(("wide", "wide buffer", "tall", "tall buffer"), got, expected, strict=True):
        assert mine.dtype == dtype and mine.device == w.device
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=0, atol=TOL[dtype], err_msg=what)


@pytest.mark.parametrize("name", list(TORCH_BF16))
def test_pytorch_bfloat16_iteration_is_matched_to_its_precision(device, name):
    """PyTorch's own Muon rounds the Newton-Schulz iteration to bfloat16 (8 significant bits): after 20 steps of
    lr 0.02 to 0.05 its parameters are up to 2.4e-3 from gradkit's float32 iteration."""
    w, t, _ = _run(name, "float32", device)
    for mine, theirs in zip((w, t), TORCH_BF16[name], strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=0, atol=5e-3)


def _newton_schulz(u: np.ndarray, a: float, b: float, c: float, steps: int, eps: float) -> np.ndarray:
    """The iteration as the docstring writes it, in float64."""
    x = u.T if u.shape[0] > u.shape[1] else u
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(steps):
        g = x @ x.T
        x = a * x + (b * g + c * g @ g) @ x
    return x.T if u.shape[0] > u.shape[1] else x


@pytest.mark.parametrize("shape", [WIDE, TALL, (4, 4)])
@pytest.mark.parametrize("nesterov", [True, False])
def test_two_steps_by_hand(device, shape, nesterov):
    lr, wd, mu = 0.1, 0.2, 0.8
    p0 = start(shape)
    p = gk.tensor(p0.copy(), device=device, requires_grad=True)
    opt = optim.Muon([p], lr=lr, weight_decay=wd, momentum=mu, nesterov=nesterov)
    ratio = np.sqrt(max(1, shape[0] / shape[1]))
    expected, buf = p0, np.zeros(shape)
    for s in range(2):
        g = grad(expected, s)
        p.grad = gk.tensor(g, device=device)
        opt.step()
        buf = buf + (1 - mu) * (g - buf)
        u = g + mu * (buf - g) if nesterov else buf
        expected = expected * (1 - lr * wd) - lr * ratio * _newton_schulz(u, 3.4445, -4.775, 2.0315, 5, 1e-7)
        np.testing.assert_allclose(p.numpy(), expected, rtol=0, atol=2e-7)  # the iteration in float32
        np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), buf, rtol=1e-14, atol=1e-15)
    o = _newton_schulz(grad(p0, 0), 3.4445, -4.775, 2.0315, 5, 1e-7)
    singular = np.linalg.svd(o, compute_uv=False)
    assert 0.6 < singular.min() and singular.max() < 1.3  # nearly orthogonal (PyTorch's docstring: ~U(0.5, 1.5))


@pytest.mark.parametrize(("fn", "scale"), [
    (None, lambda a, b: np.sqrt(max(1, a / b))),
    ("original", lambda a, b: np.sqrt(max(1, a / b))),
    ("match_rms_adamw", lambda a, b: 0.2 * np.sqrt(max(a, b))),
    ("spectral_unclamped", lambda a, b: np.sqrt(a / b)),
])
def test_adjust_lr_fn_scales_the_step(device, fn, scale):
    """The same first step (no weight decay) with each adjustment: the step over lr is the orthogonalised
    update times the adjustment, for a wide, a tall and a square matrix."""
    for shape in (WIDE, TALL, (4, 4), (8, 2)):
        p = gk.tensor(start(shape), device=device, requires_grad=True)
        plain = gk.tensor(start(shape), device=device, requires_grad=True)
        a = optim.Muon([p], lr=0.1, weight_decay=0.0, adjust_lr_fn=fn)
        b = optim.Muon([plain], lr=0.1, weight_decay=0.0, adjust_lr_fn="spectral_unclamped")
        g = grad(start(shape), 0)
        p.grad, plain.grad = gk.tensor(g, device=device), gk.tensor(g, device=device)
        a.step()
        b.step()
        ratio = (p.numpy() - start(shape)) / (plain.numpy() - start(shape))
        np.testing.assert_allclose(ratio, scale(*shape) / np.sqrt(shape[0] / shape[1]), rtol=1e-9)


def test_a_zero_gradient_only_decays_the_weights(device):
    """The norm's floor ``eps`` keeps a zero update zero: the step is the weight decay alone."""
    for dtype in ("float32", "float64"):
        p0 = start(TALL).astype(dtype)
        p = gk.tensor(p0.copy(), device=device, requires_grad=True)
        opt = optim.Muon([p], lr=0.1, weight_decay=0.3)
        p.grad = gk.zeros(TALL, dtype=dtype, device=device)
        opt.step()
        np.testing.assert_array_equal(p.numpy(), p0 * np.asarray(1 - 0.1 * 0.3, dtype=dtype))
        assert not np.isnan(opt.state[p]["momentum_buffer"].numpy()).any()


def test_float16_parameters_step_in_their_dtype(device):
    """A float16 parameter: state in float16, its trajectory that of float32's to float16's precision."""
    w16, t16, opt16 = _run("nesterov", "float16", device, steps=5)
    w32, t32, _ = _run("nesterov", "float32", device, steps=5)
    assert w16.dtype == "float16" and opt16.state[w16]["momentum_buffer"].dtype == "float16"
    for a, b in ((w16, w32), (t16, t32)):
        np.testing.assert_allclose(a.numpy().astype(np.float32), b.numpy(), rtol=0, atol=1e-2)


def test_parameters_without_gradients_and_empty_matrices(device):
    w = gk.tensor(start(WIDE), device=device, requires_grad=True)
    idle = gk.tensor(start(TALL), device=device, requires_grad=True)
    empty = gk.zeros((0, 3), device=device, requires_grad=True)
    opt = optim.Muon([w, idle, empty], lr=0.1)
    w.grad, empty.grad = gk.tensor(grad(start(WIDE), 0), device=device), gk.zeros((0, 3), device=device)
    opt.step()
    assert idle not in opt.state and sorted(opt.state[empty]) == ["momentum_buffer"]
    np.testing.assert_array_equal(idle.numpy(), start(TALL))
    assert empty.shape == (0, 3) and not np.allclose(w.numpy(), start(WIDE))


def test_the_iteration_runs_on_the_smaller_gram_matrix(device, monkeypatch):
    """A tall matrix is transposed first, as PyTorch's: its products are 3x3 Gram matrices, not 5x5 (the result
    is the same either way, up to rounding), all in float32 through the backend's matmul."""
    t = gk.tensor(start(TALL), device=device, requires_grad=True)
    opt = optim.Muon([t], ns_steps=1)
    backend, calls = t._backend, []
    plain = backend.matmul

    def matmul(a, b):
        calls.append((a.shape, b.shape, a.dtype.name, b.dtype.name))
        return plain(a, b)

    monkeypatch.setattr(backend, "matmul", matmul)
    t.grad = gk.tensor(grad(start(TALL), 0), device=device)
    opt.step()
    assert calls == [((3, 5), (5, 3), "float32", "float32"), ((3, 3), (3, 3), "float32", "float32"),
                     ((3, 3), (3, 5), "float32", "float32")]


# ------------------------------------------------------------------ state dicts
def test_state_dict_has_pytorchs_layout():
    """As ``torch.optim.Muon([p]).state_dict()`` after one step (keys in PyTorch's order)."""
    w = gk.tensor(start(WIDE), requires_grad=True)
    opt = optim.Muon([w])
    w.grad = gk.tensor(grad(start(WIDE), 0))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [{**PYTORCH_DEFAULTS, "params": [0]}]
    assert list(sd["param_groups"][0]) == [*PYTORCH_DEFAULTS, "params"]
    assert list(sd["state"]) == [0] and list(sd["state"][0]) == ["momentum_buffer"]
    buf = sd["state"][0]["momentum_buffer"]
    assert isinstance(buf, gk.Tensor) and buf.shape == WIDE and buf.dtype == "float64"
    np.testing.assert_allclose(buf.numpy(), 0.05 * grad(start(WIDE), 0), rtol=1e-15)


class _TorchLike:
    """A stand-in for a PyTorch tensor in a state dict: another library's array, read through ``__array__``."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = np.array(array)

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)


def _pair(device: str, dtype: str = "float64", **kw) -> tuple:
    w = gk.tensor(start(WIDE).astype(dtype), device=device, requires_grad=True)
    t = gk.tensor(start(TALL).astype(dtype), device=device, requires_grad=True)
    return w, t, optim.Muon([{"params": [w]}, {"params": [t], "lr": 0.01}], **kw)


def _steps(w, t, opt, device, first, last):
    for s in range(first, last):
        for p in (w, t):
            p.grad = gk.tensor(grad(p.numpy(), s), device=device)
        opt.step()


def test_a_pytorch_state_dict_loads_and_goes_on_alike(device):
    """A dict laid out as PyTorch's (its tensors another library's arrays, in float32 for float64 parameters; its
    ns_coefficients a list, as after a JSON trip) loads, and the steps after it are those of the optimiser it
    came from; gradkit's own state dict, its tensors as arrays, loads back the same way."""
    w, t, opt = _pair(device, lr=0.03)
    _steps(w, t, opt, device, 0, 5)
    bufs = [opt.state[p]["momentum_buffer"].numpy() for p in (w, t)]
    torch_sd = {
        "state": {0: {"momentum_buffer": _TorchLike(bufs[0])}, 1: {"momentum_buffer": _TorchLike(bufs[1])}},
        "param_groups": [
            {**PYTORCH_DEFAULTS, "lr": 0.03, "ns_coefficients": [3.4445, -4.775, 2.0315], "params": [0]},
            {**PYTORCH_DEFAULTS, "lr": 0.01, "params": [1]},
        ],
    }
    w2, t2, fresh = _pair(device, lr=0.5, momentum=0.5, nesterov=False)
    w2.data, t2.data = w.detach().clone(), t.detach().clone()
    fresh.load_state_dict(torch_sd)
    assert [g["lr"] for g in fresh.param_groups] == [0.03, 0.01]
    assert all(g["ns_coefficients"] == (3.4445, -4.775, 2.0315) and g["nesterov"] is True
               for g in fresh.param_groups)
    for p in (w2, t2):
        buf = fresh.state[p]["momentum_buffer"]
        assert isinstance(buf, gk.Tensor) and buf.device == p.device and buf.dtype == "float64"
    # and back: gradkit's state dict with numpy arrays for its tensors (what PyTorch's load would take)
    sd = fresh.state_dict()
    back = {"state": {k: {key: v.numpy() for key, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": [dict(g) for g in sd["param_groups"]]}
    assert back["param_groups"] == [{k: v for k, v in g.items() if k != "ns_coefficients"} | {
        "ns_coefficients": (3.4445, -4.775, 2.0315)} for g in torch_sd["param_groups"]]
    w3, t3, third = _pair(device)
    w3.data, t3.data = w.detach().clone(), t.detach().clone()
    third.load_state_dict(back)
    for args in ((w, t, opt), (w2, t2, fresh), (w3, t3, third)):
        _steps(*args, device, 5, 10)
    for a, b, c in ((w, w2, w3), (t, t2, t3)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())


def test_state_dict_round_trip_in_another_dtype(device):
    """Float32 state (PyTorch's of float32 parameters) loads onto float64 parameters cast to their dtype."""
    w, t, opt = _pair(device, "float32")
    _steps(w, t, opt, device, 0, 3)
    w2, t2, fresh = _pair(device, "float64")
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[w2]["momentum_buffer"].dtype == "float64"
    assert fresh.state[w2]["momentum_buffer"].data is not opt.state[w]["momentum_buffer"].data
    np.testing.assert_array_equal(fresh.state[t2]["momentum_buffer"].numpy(),
                                  opt.state[t]["momentum_buffer"].numpy().astype(np.float64))


def test_bad_state_dicts_are_refused_and_change_nothing():
    w, t, opt = _pair("cpu")
    _steps(w, t, opt, "cpu", 0, 2)
    before = repr(opt.state_dict())
    sgd = optim.SGD([{"params": [w]}, {"params": [t]}], lr=0.1, momentum=0.9)
    _steps(w, t, sgd, "cpu", 0, 1)
    with pytest.raises(gk.InvalidArgumentError, match="has no 'ns_coefficients'.*another optimiser"):
        opt.load_state_dict(sgd.state_dict())
    adam = optim.Adam([{"params": [w]}, {"params": [t]}])
    with pytest.raises(gk.InvalidArgumentError, match="another optimiser"):
        opt.load_state_dict(adam.state_dict())
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = np.zeros(TALL)
    with pytest.raises(gk.InvalidArgumentError, match=r"'momentum_buffer' has shape \(5, 3\), its parameter \(3, 5\)"):
        opt.load_state_dict(sd)
    sd = opt.state_dict()
    # (an entry that is left empty is what reading the defaultdict ``state[p]`` makes: loaded as no state, as PyTorch)
    sd["state"][1] = {"old_p": sd["state"][1].pop("momentum_buffer")}
    with pytest.raises(gk.InvalidArgumentError, match="parameter 1 has no 'momentum_buffer'"):
        opt.load_state_dict(sd)
    for key, value, match in (("ns_steps", 100, "less than 100"), ("adjust_lr_fn", "cosine", "not supported"),
                              ("ns_coefficients", (1.0, 2.0), "exactly 3 values")):
        sd = opt.state_dict()
        sd["param_groups"][1][key] = value
        with pytest.raises(gk.InvalidArgumentError, match=match):
            opt.load_state_dict(sd)
    assert repr(opt.state_dict()) == before


# ------------------------------------------------------------------ arguments
def test_signature_and_defaults_follow_pytorch():
    sig = inspect.signature(optim.Muon)
    assert list(sig.parameters) == ["params", *PYTORCH_DEFAULTS]
    assert {k: v.default for k, v in sig.parameters.items() if k != "params"} == PYTORCH_DEFAULTS
    w = gk.tensor(start(WIDE), requires_grad=True)
    group = optim.Muon([w], 0.1, 0.2, 0.3, False, (1.0, -1.0, 0.5), 1e-6, 4, "match_rms_adamw").param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {
        "lr": 0.1, "weight_decay": 0.2, "momentum": 0.3, "nesterov": False, "ns_coefficients": (1.0, -1.0, 0.5),
        "eps": 1e-6, "ns_steps": 4, "adjust_lr_fn": "match_rms_adamw"}
    assert optim.Muon([w], ns_coefficients=[1, 2, 3]).param_groups[0]["ns_coefficients"] == (1, 2, 3)
    for keyword in ("foreach", "maximize", "fused", "differentiable"):  # PyTorch's Muon has none of them
        with pytest.raises(TypeError):
            optim.Muon([w], **{keyword: False})
    assert "Muon" in optim.__all__ and optim.Muon.__module__ == "gradkit.optim.muon"


@pytest.mark.parametrize("shape", [(4,), (), (2, 3, 4), (1, 1, 1, 1)])
def test_only_matrices(shape):
    w = gk.tensor(start(WIDE), requires_grad=True)
    other = gk.zeros(shape, requires_grad=True)
    match = rf"Muon: only 2-D parameters are supported, but parameter 1 of a group has shape {tuple(shape)!r}"
    with pytest.raises(gk.InvalidArgumentError, match=match.replace("(", r"\(").replace(")", r"\)")):
        optim.Muon([w, other])
    opt = optim.Muon([w])
    with pytest.raises(gk.InvalidArgumentError, match="only 2-D parameters"):
        opt.add_param_group({"params": [other]})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [gk.zeros((1, 1), requires_grad=True)], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.95


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"lr": -0.1}, gk.InvalidArgumentError, "lr"),
    ({"momentum": -0.5}, gk.InvalidArgumentError, "momentum"),
    ({"weight_decay": -1e-3}, gk.InvalidArgumentError, "weight_decay"),
    ({"eps": -1e-7}, gk.InvalidArgumentError, "eps"),
    ({"lr": "0.1"}, gk.ArgumentTypeError, "lr must be a number"),
    ({"adjust_lr_fn": "cosine"}, gk.InvalidArgumentError, "adjust learning rate function 'cosine' is not supported"),
    ({"adjust_lr_fn": "Original"}, gk.InvalidArgumentError, "not supported"),
    ({"ns_steps": 100}, gk.InvalidArgumentError, "less than 100"),
    ({"ns_steps": -1}, gk.InvalidArgumentError, ">= 0"),
    ({"ns_steps": 2.0}, gk.ArgumentTypeError, "whole number"),
    ({"ns_steps": True}, gk.ArgumentTypeError, "whole number"),
    ({"ns_coefficients": (3.4445, -4.775)}, gk.InvalidArgumentError, "exactly 3 values"),
    ({"ns_coefficients": 3.4445}, gk.InvalidArgumentError, "exactly 3 values"),
    ({"ns_coefficients": (3.4, None, 2.0)}, gk.ArgumentTypeError, "b must be a finite number"),
    ({"ns_coefficients": (3.4, -4.7, float("nan"))}, gk.ArgumentTypeError, "c must be a finite number"),
    ({"nesterov": "yes"}, gk.ArgumentTypeError, "nesterov must be True or False"),
])
def test_bad_hyperparameters(kwargs, error, match):
    w = gk.tensor(start(WIDE), requires_grad=True)
    with pytest.raises(error, match=match):
        optim.Muon([w], **kwargs)
    with pytest.raises(error, match=match):
        optim.Muon([{"params": [w], **kwargs}])


def test_valid_edges_are_accepted():
    """What PyTorch accepts: lr, momentum, weight_decay and eps of 0, momentum above 1, ns_steps 0 and 99."""
    w = gk.tensor(start(WIDE), requires_grad=True)
    for kwargs in ({"lr": 0.0}, {"momentum": 0.0}, {"momentum": 1.5}, {"weight_decay": 0.0}, {"eps": 0.0},
                   {"ns_steps": 0}, {"ns_steps": np.int64(99)}, {"adjust_lr_fn": None}):
        optim.Muon([w], **kwargs)


def test_a_group_edited_into_a_bad_state_is_explained():
    w = gk.tensor(start(WIDE), requires_grad=True)
    opt = optim.Muon([w])
    w.grad = gk.tensor(grad(start(WIDE), 0))
    opt.param_groups[0]["adjust_lr_fn"] = "cosine"
    with pytest.raises(gk.InvalidArgumentError, match="not supported"):
        opt.step()


# ------------------------------------------------------------------ the device
def test_steps_read_nothing_on_the_host(device, monkeypatch):
    w, t, opt = _pair(device, "float32")
    grads = [gk.tensor(grad(start(shape).astype(np.float32), s), device=device) for s in range(3)
             for shape in (WIDE, TALL)]
    reads = count_host_reads(device, monkeypatch)
    for s in range(3):
        w.grad, t.grad = grads[2 * s], grads[2 * s + 1]
        opt.step()
    assert reads == []


class _RecordingGemm:
    """A capture's GEMM that records the products it is asked for and leaves them to the backend."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def matmul(self, a, b):
        self.calls.append((a.shape, b.shape))


def test_steps_inside_a_capture(device):
    """While a step is captured: the products go through the capture's GEMM, nothing is read on the host or
    turned into a device array, the state changes in place, and the steps are the eager ones."""
    w, t, opt = _pair(device, "float32", ns_steps=2)
    w2, t2, eager = _pair(device, "float32", ns_steps=2)
    _steps(w, t, opt, device, 0, 1)  # the warm-up: the state is made outside the capture
    _steps(w2, t2, eager, device, 0, 1)
    state = {p: opt.state[p]["momentum_buffer"] for p in (w, t)}
    grads = [[gk.tensor(grad(p.numpy(), s), device=device) for p in (w, t)] for s in (1, 2)]
    gemm = _RecordingGemm()
    with C._Routing(w._backend, gemm, None):
        for gw, gt in grads:
            w.grad, t.grad = gw, gt
            opt.step()
    for gw, gt in grads:
        w2.grad, t2.grad = gw, gt
        eager.step()
    assert all(opt.state[p]["momentum_buffer"] is buf for p, buf in state.items())
    if device == "cuda":  # the CuPy backend routes its products; NumPy's needs no capture-safe GEMM
        assert gemm.calls[:3] == gemm.calls[6:9] == [((3, 5), (5, 3)), ((3, 3), (3, 3)), ((3, 3), (3, 5))]
        assert len(gemm.calls) == 2 * 2 * 3 * 2  # steps x parameters x products x ns_steps
    for a, b in ((w, w2), (t, t2)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.cuda
def test_captured_steps_replay_as_eager_steps_on_the_gpu():
    """A real CUDA graph: a model of matrices only (no biases), cross_entropy and Muon in one graph."""
    from gradkit import nn

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 3, bias=False)).to("cuda")
        return model, optim.Muon(model.parameters(), lr=0.02)

    replays_match_eager_steps(make, 8)
