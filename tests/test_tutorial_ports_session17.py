"""Tutorial-sized programs (VAE, normalizing flow, actor-critic, MDN, Bayesian regression, char-RNN, GPT, seq2seq
with attention, WGAN-GP, U-Net, lazy model, spatial transformer, CTC, EmbeddingBag classifier) run on gradkit and
checked against numbers computed once with PyTorch 2.14.

Each program is written once against a library namespace ``lib`` (``torch`` or ``gradkit``), starts from weights
drawn with NumPy (``_init``) and runs in float64 on fixed data; the expected losses, and a fingerprint of the
parameters after the last step (``_fingerprint``: the parameters' dot product with fixed random vectors, and their
squared norm), come from running the same function with ``lib=torch`` on the CPU (``_vae(torch, "cpu")``, ...:
rerun that to regenerate them). Nothing here imports torch. Randomness (``rsample``, ``sample``) is kept out of
the compared numbers: the reparameterised noise is fixed, and the sampled paths are checked by what must hold
whatever the draw. The last tests check the EmbeddingBag paths made faster for the text classifier (a large
table's gradient from few entries; "max" bags reduced run by run on the CPU) against written-out references.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _reference import to_numpy as _np

import gradkit as gk
import gradkit.distributions as GD

pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:.*align_corners"),
]

TOL = {"rtol": 1e-8, "atol": 1e-10}


# ------------------------------------------------------------------ helpers (library-agnostic)
def _is_gk(lib) -> bool:
    return lib is gk


def _t(lib, a, device: str):
    return gk.tensor(a, device=device) if _is_gk(lib) else lib.tensor(a)


def _dist(lib):
    return GD if _is_gk(lib) else lib.distributions


def _init(lib, model, device: str, seed: int = 0, scale: float = 0.3):
    """The model in float64 with parameters drawn from NumPy (buffers kept), on ``device``."""
    model = model.double()
    rng = np.random.default_rng(seed)
    drawn = {}
    for _, p in model.named_parameters():
        shape = tuple(p.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        drawn[id(p)] = rng.uniform(-1.0, 1.0, shape) * scale / math.sqrt(max(fan_in, 1)) * 2.0
    state = {}
    for name, value in model.state_dict().items():
        owner, _, attr = name.rpartition(".")
        p = getattr(model.get_submodule(owner) if owner else model, attr)
        state[name] = drawn[id(p)] if id(p) in drawn else _np(value)  # tied parameters: one draw under each name
    if _is_gk(lib):
        model.load_state_dict(state)
        return model.to(device)
    model.load_state_dict({k: lib.tensor(np.asarray(v)) for k, v in state.items()})
    return model


def _fingerprint(model) -> list[float]:
    """Two numbers that move with every parameter: sum(p * v) over the parameters (v fixed random) and sum(p^2)."""
    rng = np.random.default_rng(12345)
    dot = 0.0
    sq = 0.0
    for _, p in model.named_parameters():
        a = _np(p).astype(np.float64)
        dot += float((a * rng.standard_normal(a.shape)).sum())
        sq += float((a * a).sum())
    return [dot, sq]


def _grad_fingerprint(model) -> float:
    rng = np.random.default_rng(54321)
    return float(sum((_np(p.grad) * rng.standard_normal(tuple(p.shape))).sum() for _, p in model.named_parameters()
                     if p.grad is not None))


def _check(result: dict, expected: dict) -> None:
    assert set(result) == set(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(np.asarray(result[key], dtype=np.float64), np.asarray(want, dtype=np.float64),
                                   **TOL, err_msg=key)


# ------------------------------------------------------------------ 1: VAE (Independent Normal / Bernoulli, KL)
def _vae(lib, device: str) -> dict:
    nn, D = lib.nn, _dist(lib)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(12, 16), nn.Tanh())
            self.mu = nn.Linear(16, 3)
            self.logvar = nn.Linear(16, 3)
            self.dec = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 12))

    model = _init(lib, VAE(), device)
    rng = np.random.default_rng(1)
    x = _t(lib, (rng.random((8, 12)) > 0.5).astype(np.float64), device)
    eps = [_t(lib, rng.standard_normal((8, 3)), device) for _ in range(3)]
    opt = lib.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(3):
        h = model.enc(x)
        mu, logvar = model.mu(h), model.logvar(h)
        std = (0.5 * logvar).exp()
        q = D.Independent(D.Normal(mu, std), 1)
        z = mu + std * eps[step]  # the reparameterisation, with fixed noise
        prior = D.Independent(D.Normal(lib.zeros_like(mu), lib.ones_like(std)), 1)
        lik = D.Independent(D.Bernoulli(logits=model.dec(z)), 1)
        loss = (D.kl_divergence(q, prior) - lik.log_prob(x)).mean() + 0.1 * q.log_prob(z).mean() \
            - 0.01 * q.entropy().mean() + 0.01 * lik.entropy().mean()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad = _grad_fingerprint(model)
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "grad0": grad, "params": _fingerprint(model),
            "shapes": [*q.batch_shape, *q.event_shape, *lik.batch_shape, *lik.event_shape]}


VAE_EXPECTED = {
    'losses': [8.059732975555246, 7.9525417272127745, 7.944590285848953],
    'grad0': 0.6779547410143554,
    'params': [3.330937735057054, 6.793574008584756],
    'shapes': [8.0, 3.0, 8.0, 12.0],
}


def test_vae_with_independent_normal_bernoulli_and_kl_divergence(device):
    _check(_vae(gk, device), VAE_EXPECTED)


def test_rsample_of_a_vae_posterior_is_the_reparameterised_path(device):
    """Whatever the draw: z = mu + std * eps, with gradients mu: dL/dz and log-variance: dL/dz * eps * std / 2."""
    gk.manual_seed(0)
    rng = np.random.default_rng(2)
    mu = gk.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
    logvar = gk.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
    std = (0.5 * logvar).exp()
    q = GD.Independent(GD.Normal(mu, std), 1)
    z = q.rsample((5,))
    assert z.shape == (5, 4, 3) and z.device == mu.device
    eps = ((z - mu) / std).detach()
    loss = (z ** 3).sum() - q.log_prob(z).sum()
    loss.backward()
    # d/dz of z^3 - log q(z) along the path: log q(z) = sum(-eps^2 / 2 - log std) + const, whose path derivative
    # in mu is zero and in log-variance is -1/2 per coordinate (the eps terms cancel)
    dz = 3 * _np(z) ** 2
    np.testing.assert_allclose(_np(mu.grad), dz.sum(0), rtol=1e-12, atol=1e-12)
    expected = (dz * _np(eps) * _np(std) / 2).sum(0) + 5 * 0.5
    np.testing.assert_allclose(_np(logvar.grad), expected, rtol=1e-12, atol=1e-12)



def test_rsample_of_a_multivariate_normal_is_loc_plus_scale_tril_times_noise(device):
    """Whatever the draw: z = loc + L eps, so dL/dloc sums dL/dz and dL/dL is dL/dz times eps (the whole matrix,
    as PyTorch's product with the factor)."""
    gk.manual_seed(1)
    rng = np.random.default_rng(3)
    loc0 = rng.standard_normal((2, 3))
    tril0 = np.tril(rng.standard_normal((2, 3, 3)), -1) + np.eye(3) * (1 + rng.random((2, 1, 3)))
    loc = gk.tensor(loc0, device=device, requires_grad=True)
    tril = gk.tensor(tril0, device=device, requires_grad=True)
    z = GD.MultivariateNormal(loc, scale_tril=tril).rsample((4,))
    assert z.shape == (4, 2, 3)
    eps = np.linalg.solve(tril0[None], (_np(z) - loc0)[..., None])[..., 0]
    w = rng.standard_normal((4, 2, 3))
    (z * gk.tensor(w, device=device)).sum().backward()
    np.testing.assert_allclose(_np(loc.grad), w.sum(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(tril.grad), np.einsum("sbi,sbj->bij", w, eps), rtol=1e-10, atol=1e-12)

# ------------------------------------------------------------------ 2: a RealNVP-style flow (own Transform subclass)
def _coupling_class(lib, dim: int):
    D = _dist(lib)
    half = dim // 2

    class Coupling(D.transforms.Transform):
        """y_b = x_b * exp(tanh s(x_a)) + t(x_a), x_a passed through; the halves swapped when ``flip``."""

        domain = D.constraints.independent(D.constraints.real, 1)
        codomain = D.constraints.independent(D.constraints.real, 1)
        bijective = True

        def __init__(self, net, flip):
            super().__init__(cache_size=1)
            self.net = net
            self.flip = flip

        def _split(self, x):
            a, b = x[..., :half], x[..., half:]
            return (b, a) if self.flip else (a, b)

        def _join(self, a, b):
            return lib.cat([b, a], dim=-1) if self.flip else lib.cat([a, b], dim=-1)

        def _st(self, a):
            st = self.net(a)
            return lib.tanh(st[..., :half]), st[..., half:]

        def _call(self, x):
            a, b = self._split(x)
            s, t = self._st(a)
            return self._join(a, b * lib.exp(s) + t)

        def _inverse(self, y):
            a, b = self._split(y)
            s, t = self._st(a)
            return self._join(a, (b - t) * lib.exp(-s))

        def log_abs_det_jacobian(self, x, y):
            s, _ = self._st(self._split(x)[0])
            return s.sum(-1)

    return Coupling


def _flow(lib, device: str) -> dict:
    nn, D = lib.nn, _dist(lib)
    dim = 4
    Coupling = _coupling_class(lib, dim)
    nets = _init(lib, nn.ModuleList([nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 4)) for _ in range(2)]),
                 device, seed=3)
    shift = nn.Parameter(_t(lib, np.zeros(dim), device))
    log_scale = nn.Parameter(_t(lib, np.zeros(dim), device))
    rng = np.random.default_rng(4)
    mixing = np.array([[1, .5, 0, 0], [0, 1, .3, 0], [0, 0, 1, .2], [.1, 0, 0, 1.]])
    data = rng.standard_normal((32, dim)) @ mixing + 1.0
    x = _t(lib, data, device)
    opt = lib.optim.Adam([*nets.parameters(), shift, log_scale], lr=2e-2)

    def flow():
        base = D.Independent(D.Normal(_t(lib, np.zeros(dim), device), _t(lib, np.ones(dim), device)), 1)
        transform = D.ComposeTransform([Coupling(nets[0], False), Coupling(nets[1], True),
                                        D.AffineTransform(shift, log_scale.exp(), event_dim=1)])
        return D.TransformedDistribution(base, transform)

    losses = []
    for _ in range(4):
        loss = -flow().log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    d = flow()
    z = _t(lib, rng.standard_normal((5, dim)), device)
    y = d.transforms[0](z)
    coupling = d.transforms[0].parts[0]
    back = coupling.inv(coupling(z))  # cache_size=1: the input itself
    return {"losses": losses, "params": _fingerprint(nets) + [_np(shift).sum(), _np(log_scale).sum()],
            "y": _np(y).sum(), "log_prob": _np(d.log_prob(y)), "inverse_is_cached": float(back is z),
            "shapes": [len(d.batch_shape), *d.event_shape]}


FLOW_EXPECTED = {
    'losses': [8.472132477509984, 7.592032211757825, 7.113155743731496, 6.834111924429974],
    'params': [0.21878870009426188, 3.2476302541281963, 0.3023787495310014, 0.18852549075456781],
    'y': 5.467435818482265,
    'log_prob': [-7.056032813836904, -5.658385261631737, -8.813856769674961, -6.486962666812129, -4.800985218542818],
    'inverse_is_cached': 1.0,
    'shapes': [0.0, 4.0],
}


def test_realnvp_flow_of_own_coupling_transforms_trained_by_log_prob(device):
    _check(_flow(gk, device), FLOW_EXPECTED)


# ------------------------------------------------------------------ 3: actor-critic with Categorical
def _actor_critic(lib, device: str) -> dict:
    nn, D, F = lib.nn, _dist(lib), lib.nn.functional

    class AC(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
            self.pi = nn.Linear(16, 3)
            self.v = nn.Linear(16, 1)

    model = _init(lib, AC(), device, seed=5)
    opt = lib.optim.RMSprop(model.parameters(), lr=3e-3, alpha=0.9)
    rng = np.random.default_rng(6)
    actions = rng.integers(0, 3, (3, 6))  # what the policy "sampled", fixed
    losses, norms = [], []
    for episode in range(3):
        s = np.array([0.3, -0.2, 0.1, 0.5])
        log_probs, values, entropies, rewards = [], [], [], []
        for t in range(6):
            h = model.body(_t(lib, s, device))
            dist = D.Categorical(logits=model.pi(h))
            a = int(actions[episode, t])
            log_probs.append(dist.log_prob(_t(lib, np.array(a), device)))
            entropies.append(dist.entropy())
            values.append(model.v(h).squeeze(-1))
            s = s.copy()
            s[a] += 0.5
            s[3] -= 0.2 * a
            rewards.append(-float(np.abs(s).sum()))
        ret, returns = 0.0, []
        for r in reversed(rewards):
            ret = r + 0.9 * ret
            returns.insert(0, ret)
        returns = np.array(returns)
        returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        lp, v, ent = lib.stack(log_probs), lib.stack(values), lib.stack(entropies)
        target = _t(lib, returns, device)
        advantage = target - v.detach()
        loss = -(lp * advantage).sum() + F.smooth_l1_loss(v, target) - 0.01 * ent.sum()
        opt.zero_grad()
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), 0.5)))
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "norms": norms, "params": _fingerprint(model)}


ACTOR_CRITIC_EXPECTED = {
    'losses': [-2.491097232669977, -2.543012402634348, -1.824848454129667],
    'norms': [2.771723018966814, 2.418568954680973, 2.182980630358492],
    'params': [0.42516472434594954, 3.0114501678310592],
}


def test_actor_critic_with_categorical_log_prob_entropy_and_clipping(device):
    _check(_actor_critic(gk, device), ACTOR_CRITIC_EXPECTED)


def test_categorical_sampling_for_a_policy(device):
    gk.manual_seed(0)
    logits = gk.tensor(np.log([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]), device=device)
    dist = GD.Categorical(logits=logits)
    a = dist.sample((4000,))
    assert a.dtype == gk.int64 and a.shape == (4000, 2) and a.device == logits.device
    assert dist.log_prob(a).shape == (4000, 2)
    freq = np.stack([np.bincount(_np(a)[:, i], minlength=3) / 4000 for i in range(2)])
    np.testing.assert_allclose(freq, [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], atol=0.04)


# ------------------------------------------------------------------ 4: mixture density network
def _mdn(lib, device: str) -> dict:
    nn, D = lib.nn, _dist(lib)
    K = 3

    class MDN(nn.Module):
        def __init__(self):
            super().__init__()
            self.h = nn.Sequential(nn.Linear(1, 16), nn.Tanh())
            self.pi = nn.Linear(16, K)
            self.mu = nn.Linear(16, 2 * K)
            self.ls = nn.Linear(16, 2 * K)

    model = _init(lib, MDN(), device, seed=7)
    rng = np.random.default_rng(8)
    xn = rng.uniform(-1, 1, (24, 1))
    yn = np.concatenate([np.sin(3 * xn), np.cos(2 * xn)], 1) + 0.1 * rng.standard_normal((24, 2))
    x, y = _t(lib, xn, device), _t(lib, yn, device)
    off = _t(lib, np.array([[0.0, 0.0], [0.3, 0.0]]), device)
    eye = _t(lib, np.eye(2), device)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-2)

    def mixtures():
        h = model.h(x)
        logits, mu, ls = model.pi(h), model.mu(h).reshape(-1, K, 2), model.ls(h).reshape(-1, K, 2)
        scale_tril = ls.exp().unsqueeze(-1) * eye + off
        full = D.MixtureSameFamily(D.Categorical(logits=logits), D.MultivariateNormal(mu, scale_tril=scale_tril))
        diag = D.MixtureSameFamily(D.Categorical(logits=logits), D.Independent(D.Normal(mu, ls.exp()), 1))
        one = D.MixtureSameFamily(D.Categorical(logits=logits), D.Normal(mu[..., 0], ls[..., 0].exp()))
        return full, diag, one

    losses = []
    for _ in range(3):
        full, diag, one = mixtures()
        loss = -full.log_prob(y).mean() - 0.5 * diag.log_prob(y).mean() + one.cdf(y[:, 0]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    full, diag, _ = mixtures()
    return {"losses": losses, "params": _fingerprint(model), "mean": _np(full.mean).sum(),
            "variance": _np(full.variance).sum(), "diag_variance": _np(diag.variance).sum(),
            "shapes": [*full.batch_shape, *full.event_shape]}


MDN_EXPECTED = {
    'losses': [3.78269334024151, 3.675063800558901, 3.5631200392157307],
    'params': [2.715197667472214, 4.47317046034821],
    'mean': 4.753937142775196,
    'variance': 40.51807087583605,
    'diag_variance': 38.35807087583605,
    'shapes': [24.0, 2.0],
}


def test_mixture_density_network_of_mvn_and_normal_components(device):
    _check(_mdn(gk, device), MDN_EXPECTED)


# ------------------------------------------------------------------ 5: Bayesian linear regression (evidence)
def _bayes_regression(lib, device: str) -> dict:
    D = _dist(lib)
    rng = np.random.default_rng(9)
    n, p = 20, 3
    phi_n = rng.standard_normal((n, p))
    y_n = phi_n @ rng.standard_normal(p) + 0.3 * rng.standard_normal(n)
    phi, y = _t(lib, phi_n, device), _t(lib, y_n, device)
    log_a = _t(lib, np.array(0.0), device).requires_grad_(True)
    log_s = _t(lib, np.array(-1.0), device).requires_grad_(True)
    eye_n, eye_p = _t(lib, np.eye(n), device), _t(lib, np.eye(p), device)
    opt = lib.optim.LBFGS([log_a, log_s], lr=0.5, max_iter=4, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        cov = log_a.exp() * (phi @ phi.permute(1, 0)) + (2 * log_s).exp() * eye_n
        loss = -D.MultivariateNormal(_t(lib, np.zeros(n), device), covariance_matrix=cov).log_prob(y)
        loss.backward()
        return loss

    losses = [float(opt.step(closure)) for _ in range(2)]
    a, s2 = log_a.exp(), (2 * log_s).exp()
    precision = phi.permute(1, 0) @ phi / s2 + eye_p / a
    post = D.MultivariateNormal(lib.linalg.solve(precision, phi.permute(1, 0) @ y / s2), precision_matrix=precision)
    prior = D.MultivariateNormal(_t(lib, np.zeros(p), device), scale_tril=a.sqrt() * eye_p)
    low_rank = D.LowRankMultivariateNormal(post.mean, phi[:p, :2], _t(lib, np.ones(p), device) * s2)
    total = D.kl_divergence(post, prior) + post.entropy() + D.kl_divergence(low_rank, post) + low_rank.entropy()
    log_a.grad = None
    log_s.grad = None
    total.backward()
    return {"losses": losses, "log_a": log_a.item(), "log_s": log_s.item(), "total": total.item(),
            "grads": [log_a.grad.item(), log_s.grad.item()], "scale_tril": _np(post.scale_tril).sum()}


BAYES_REGRESSION_EXPECTED = {
    'losses': [12.159656117037704, 11.351642003022732],
    'log_a': -0.16895568180259615,
    'log_s': -1.2331716736059823,
    'total': 291.04901015446416,
    'grads': [-1.7117298581863418, -519.2658086587487],
    'scale_tril': 0.23174889414161173,
}


def test_bayesian_linear_regression_with_multivariate_normals_and_lbfgs(device):
    _check(_bayes_regression(gk, device), BAYES_REGRESSION_EXPECTED)


# ------------------------------------------------------------------ 6: char-level LSTM / GRU over packed sequences
def _char_rnn(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional
    V = 9

    class CharRNN(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell
            self.emb = nn.Embedding(V, 6, padding_idx=0)
            bidirectional = cell == "GRU"
            self.rnn = getattr(nn, cell)(6, 8, num_layers=2, batch_first=True, bidirectional=bidirectional)
            self.out = nn.Linear(16 if bidirectional else 8, V)

        def forward(self, x, lengths, hx):
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
            out, h = self.rnn(packed, hx)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return self.out(out), h

    rng = np.random.default_rng(10)
    lengths = np.array([7, 3, 5, 2, 7])
    x = np.zeros((5, 7), np.int64)
    y = np.full((5, 7), -100, np.int64)
    for i, n in enumerate(lengths):
        seq = rng.integers(1, V, n + 1)
        x[i, :n], y[i, :n] = seq[:-1], seq[1:]
    result = {}
    for cell in ("LSTM", "GRU"):
        model = _init(lib, CharRNN(cell), device, seed=11)
        layers = 4 if cell == "GRU" else 2
        h0 = _t(lib, rng.standard_normal((layers, 5, 8)) * 0.5, device)
        hx = (h0, _t(lib, rng.standard_normal((2, 5, 8)) * 0.5, device)) if cell == "LSTM" else h0
        opt = lib.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        losses, norms = [], []
        for _ in range(3):
            logits, h = model(_t(lib, x, device), _t(lib, lengths, device), hx)
            loss = F.cross_entropy(logits.reshape(-1, V), _t(lib, y.reshape(-1), device), label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), 0.1)))
            opt.step()
            losses.append(loss.item())
        h_last = h[0] * 2 + h[1].sum() if cell == "LSTM" else h
        result[cell] = losses + norms + _fingerprint(model) + [_np(h_last).sum()]
    return result


CHAR_RNN_EXPECTED = {
    'LSTM': [
        2.2113948802801673, 2.202747761624753, 2.1871543216428444, 0.17601015448709725, 0.1698953052699223,
        0.1584883293519268, 2.6197098299568897, 17.746088483232704, 42.795360524247826,
    ],
    'GRU': [
        2.2134385419326006, 2.202974860773215, 2.183812005617314, 0.21189420266713394, 0.20669393142888498,
        0.1969992615783431, 8.067660014702435, 26.086127310640997, -4.19088601398539,
    ],
}


def test_char_level_lstm_and_gru_over_packed_sequences_with_clipping(device):
    _check(_char_rnn(gk, device), CHAR_RNN_EXPECTED)


# ------------------------------------------------------------------ 7: a small GPT (SDPA, MHA, encoder with masks)
def _gpt(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional
    V, E, T = 9, 8, 6

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(E, 3 * E)
            self.proj = nn.Linear(E, E)

        def forward(self, x, allowed):
            n, length, _ = x.shape
            q, k, v = lib.split(self.qkv(x), E, dim=-1)

            def heads(t):
                return t.reshape(n, length, 2, E // 2).permute(0, 2, 1, 3)

            y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=allowed)
            return self.proj(y.permute(0, 2, 1, 3).reshape(n, length, E))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(V, E)
            self.pos = nn.Parameter(lib.zeros(1, T, E))
            layer = nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)
            self.mha = nn.MultiheadAttention(E, 2, batch_first=True)
            self.attn = Attention()
            self.head = nn.Linear(E, V, bias=False)
            self.head.weight = self.tok.weight  # tied

        def forward(self, x, pad, causal, allowed):
            h = self.tok(x) + self.pos[:, : x.shape[1]]
            h = self.blocks(h, mask=causal, src_key_padding_mask=pad, is_causal=True)
            a, w = self.mha(h, h, h, key_padding_mask=pad, attn_mask=causal, average_attn_weights=False)
            return self.head(h + a + self.attn(h, allowed)), w

    model = _init(lib, GPT(), device, seed=12)
    rng = np.random.default_rng(13)
    x = rng.integers(1, V, (3, T))
    pad = np.zeros((3, T), bool)
    for i, n in enumerate([6, 4, 2]):
        pad[i, n:] = True
        x[i, n:] = 0
    y = np.roll(x, -1, 1)
    y[pad] = 0
    y[:, -1] = 0
    causal = np.triu(np.full((T, T), -np.inf), 1)
    allowed = np.tril(np.ones((T, T), bool))[None, None] & ~pad[:, None, None, :]
    args = [_t(lib, a, device) for a in (x, pad, causal, allowed)]
    opt = lib.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=6)
    losses = []
    for _ in range(3):
        logits, w = model(*args)
        loss = F.cross_entropy(logits.reshape(-1, V), _t(lib, y.reshape(-1), device), ignore_index=0,
                               label_smoothing=0.1) + 0.1 * (w * w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return {"losses": losses, "params": _fingerprint(model), "weights": _np(w * w).sum(-1).ravel(),
            "lr": sched.get_last_lr()}


GPT_EXPECTED = {
    'losses': [3.9209739212349266, 3.9186518510627337, 3.8824906752918453],
    'params': [-0.05837209034409041, 25.648188766811305],
    'weights': [
        1.0, 0.5000001692532419, 0.3333334869578916, 0.25000007030022675, 0.20000004555404252, 0.1666667417096845,
        1.0, 0.5000002429972459, 0.3333336700512871, 0.2500001242261516, 0.20000002316615875, 0.16666684153067862,
        1.0, 0.5000000112896685, 0.3333333845557913, 0.2500000223686744, 0.2500000316033628, 0.250000034765206, 1.0,
        0.5000000000695044, 0.333333334190061, 0.2500000744954669, 0.2500000459464356, 0.2500000590263315, 1.0,
        0.5000000024698192, 0.5000000088854792, 0.5000000111571921, 0.500000010571465, 0.5000000146429071, 1.0,
        0.5000000053468809, 0.500000005208151, 0.50000000429092, 0.5000000065141823, 0.5000000067650638,
    ],
    'lr': [0.00462637102666975],
}


def test_small_gpt_with_sdpa_multihead_attention_masks_and_tied_head(device):
    _check(_gpt(gk, device), GPT_EXPECTED)


# ------------------------------------------------------------------ 8: seq2seq with additive attention
def _seq2seq(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional
    V, E, H = 8, 6, 8

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, E, padding_idx=0)
            self.enc = nn.GRU(E, H, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * H, H)
            self.wa = nn.Linear(2 * H, H, bias=False)
            self.ua = nn.Linear(H, H)
            self.va = nn.Linear(H, 1, bias=False)
            self.dec = nn.LSTMCell(E + 2 * H, H)
            self.out = nn.Linear(3 * H, V)

        def forward(self, src, lengths, tgt_in):
            s = src.shape[1]
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(src), lengths, batch_first=True, enforce_sorted=False)
            enc, h_n = self.enc(packed)
            enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=s)
            h = lib.tanh(self.bridge(lib.cat([h_n[0], h_n[1]], dim=-1)))
            c = lib.zeros_like(h)
            keys = self.wa(enc)
            mask = src == 0
            outs, attns = [], []
            for t in range(tgt_in.shape[1]):
                score = self.va(lib.tanh(keys + self.ua(h).unsqueeze(1))).squeeze(-1)
                a = F.softmax(score.masked_fill(mask, float("-inf")), dim=-1)
                ctx = a.unsqueeze(1).bmm(enc).squeeze(1)
                h, c = self.dec(lib.cat([self.emb(tgt_in[:, t]), ctx], dim=-1), (h, c))
                outs.append(self.out(lib.cat([h, ctx], dim=-1)))
                attns.append(a)
            return lib.stack(outs, dim=1), lib.stack(attns, dim=1)

    model = _init(lib, Seq2Seq(), device, seed=14)
    rng = np.random.default_rng(15)
    lengths = np.array([5, 2, 4, 3])
    src = np.zeros((4, 5), np.int64)
    for i, n in enumerate(lengths):
        src[i, :n] = rng.integers(1, V, n)
    tgt = rng.integers(1, V, (4, 5))
    tgt[:, 0] = 1
    args = [_t(lib, a, device) for a in (src, lengths, tgt[:, :-1])]
    target = _t(lib, tgt[:, 1:].reshape(-1), device)
    opt = lib.optim.NAdam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        out, attn = model(*args)
        loss = F.nll_loss(F.log_softmax(out, dim=-1).reshape(-1, V), target) \
            - 0.01 * (attn * attn.clamp_min(1e-12).log()).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "params": _fingerprint(model), "attention": _np(attn).sum((0, 1))}


SEQ2SEQ_EXPECTED = {
    'losses': [2.2480957670263644, 2.23334865484993, 2.222021642727569],
    'params': [-11.614609791062025, 26.838921436100375],
    'attention': [5.116364950018745, 5.13059453213801, 3.147941190047758, 1.8040676388362042, 0.8010316889592834],
}


def test_seq2seq_with_additive_attention_over_a_packed_bidirectional_encoder(device):
    _check(_seq2seq(gk, device), SEQ2SEQ_EXPECTED)


# ------------------------------------------------------------------ 9: WGAN-GP (ConvTranspose2d, BatchNorm2d, penalty)
def _wgan_gp(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional
    nz = 4
    gen = _init(lib, nn.Sequential(
        nn.ConvTranspose2d(nz, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),           # 4x4
        nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(True),  # 8x8
        nn.ConvTranspose2d(4, 1, 4, 2, 1), nn.Tanh()), device, seed=16, scale=0.6)                  # 16x16
    critic = _init(lib, nn.Sequential(
        nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(4, 8, 4, 2, 1, bias=False), nn.GroupNorm(2, 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 1)), device, seed=17, scale=0.6)
    rng = np.random.default_rng(18)
    real = _t(lib, np.tanh(rng.standard_normal((4, 1, 16, 16))), device)
    opt_g = lib.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_c = lib.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    ones = _t(lib, np.ones((4, 1)), device)
    history = []
    for _ in range(2):
        z = _t(lib, rng.standard_normal((4, nz, 1, 1)), device)
        alpha = _t(lib, rng.random((4, 1, 1, 1)), device)
        fake = gen(z).detach()
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (g,) = lib.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        penalty = ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        loss_c = critic(fake).mean() - critic(real).mean() + 10 * penalty
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
        out = critic(gen(z))
        loss_g = -out.mean() + 0.1 * F.binary_cross_entropy_with_logits(out, ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        history += [loss_c.item(), loss_g.item(), penalty.item()]
    bn = gen[1]
    return {"history": history, "gen": _fingerprint(gen), "critic": _fingerprint(critic),
            "running": [_np(bn.running_mean).sum(), _np(bn.running_var).sum(), float(bn.num_batches_tracked)]}


WGAN_GP_EXPECTED = {
    'history': [
        4.890196941512321, -0.47582821242556694, 0.5003689547036395, 4.917714662113046, -0.4719960695859967,
        0.5035179007804718,
    ],
    'gen': [1.560344033620067, 9.817549218970367],
    'critic': [-0.5497811652024721, 7.498913919487072],
    'running': [-0.003741741861587309, 5.2929008854414095, 4.0],
}


def test_wgan_gp_with_transposed_convolutions_batchnorm_and_a_gradient_penalty(device):
    _check(_wgan_gp(gk, device), WGAN_GP_EXPECTED)


# ------------------------------------------------------------------ 10: a U-Net on odd sizes
def _unet(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                             nn.Conv2d(o, o, 3, padding="same", padding_mode="reflect"), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1, self.d2, self.mid = block(2, 4), block(4, 6), block(6, 8)
            self.pool = nn.MaxPool2d(2)
            self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.u2 = block(8 + 6, 6)
            self.up1 = nn.ConvTranspose2d(6, 6, 2, stride=2)
            self.u1 = block(6 + 4, 4)
            self.head = nn.Conv2d(4, 3, 1)

        def forward(self, x):
            s1 = self.d1(x)
            s2 = self.d2(self.pool(s1))
            y = self.u2(lib.cat([self.up2(self.mid(self.pool(s2))), s2], dim=1))
            y = F.interpolate(self.up1(y), size=tuple(s1.shape[-2:]), mode="bilinear", align_corners=True)
            return self.head(self.u1(lib.cat([y, s1], dim=1)))

    model = _init(lib, UNet(), device, seed=19, scale=0.8)
    rng = np.random.default_rng(20)
    x = _t(lib, rng.standard_normal((2, 2, 13, 13)), device)  # 13 -> 6 -> 3 -> 6 -> 12 -> 13
    labels = rng.integers(0, 3, (2, 13, 13))
    labels[0, :2, :2] = 255
    target = _t(lib, labels, device)
    weight = _t(lib, np.array([1.0, 2.0, 0.5]), device)
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(x), target, weight=weight, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with lib.no_grad():
        out = model(x)
    return {"losses": losses, "params": _fingerprint(model), "eval": _np(out).sum((0, 2, 3)),
            "running_var": _np(model.d1[1].running_var)}


UNET_EXPECTED = {
    'losses': [1.0530218323127436, 1.0486486377766242, 1.0426859181255552],
    'params': [1.3502776978712496, 71.72079250039118],
    'eval': [-53.58769276474063, 261.3430220918565, -15.136626052287912],
    'running_var': [0.9096587439933845, 0.9529727862369171, 0.9347895930226752, 1.0023628512248062],
}


def test_unet_with_skip_connections_upsampling_and_odd_sizes(device):
    _check(_unet(gk, device), UNET_EXPECTED)


# ------------------------------------------------------------------ 11: lazy modules in a real model
def _lazy_net(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.LazyConv2d(4, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.MaxPool2d(2),
        nn.LazyConv2d(6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(),
        nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(3))


def _lazy(lib, device: str) -> dict:
    rng = np.random.default_rng(21)
    images = _t(lib, rng.standard_normal((6, 2, 8, 8)), device)
    labels = _t(lib, rng.integers(0, 3, 6), device)
    model = _lazy_net(lib).double()
    if _is_gk(lib):
        model = model.to(device)
    with lib.no_grad():
        model(images[:2])  # the dry run makes the parameters (and counts one batch in the BatchNorm)
    model = _init(lib, model, device, seed=22)
    model[1].reset_running_stats()  # the dry run's statistics came from each library's own initial weights
    opt = lib.optim.Adam(model.parameters(), lr=1e-2)  # made after the dry run, as PyTorch's docs advise
    losses = []
    for _ in range(3):
        loss = lib.nn.functional.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # a fresh lazy model takes the trained state dict (shapes from the values) and the optimiser's state
    again = _lazy_net(lib).double()
    if _is_gk(lib):
        again = again.to(device)
    again.load_state_dict(model.state_dict())
    opt2 = lib.optim.Adam(again.parameters(), lr=1e-2)
    opt2.load_state_dict(opt.state_dict())
    loss = lib.nn.functional.cross_entropy(again(images), labels)
    opt2.zero_grad()
    loss.backward()
    opt2.step()
    losses.append(loss.item())
    again.eval()
    with lib.no_grad():
        out = again(images)
    return {"losses": losses, "params": _fingerprint(again), "eval": _np(out).sum(0),
            "batches": float(again[1].num_batches_tracked)}


LAZY_EXPECTED = {
    'losses': [1.0776701677067761, 1.0589032251127477, 1.04033399734276, 1.0202135934764816],
    'params': [1.926768216556066, 3.649779053451184],
    'eval': [0.8615625043839521, 0.6178313911335411, 2.6956798803070408],
    'batches': 4.0,
}


def test_lazy_model_dry_run_then_optimiser_then_state_dict_round_trip(device):
    _check(_lazy(gk, device), LAZY_EXPECTED)
    # the sizes the layers became, from the loaded shapes (PyTorch 2.14 leaves a loaded LazyConv2d's
    # in_channels and LazyBatchNorm2d's num_features at 0; its LazyLinear takes in_features from the input)
    model = _lazy_net(gk).double().to(device)
    with gk.no_grad():
        model(gk.zeros((1, 2, 8, 8), dtype=gk.float64, device=device))
    again = _lazy_net(gk).to(device)
    again.load_state_dict(model.state_dict())
    again(gk.zeros((1, 2, 8, 8), device=device))
    kinds = [type(again[i]).__name__ for i in (0, 1, 4, 8, 10)]
    assert kinds == ["Conv2d", "BatchNorm2d", "Conv2d", "Linear", "Linear"]
    assert [again[0].in_channels, again[1].num_features, again[4].in_channels, again[8].in_features,
            again[10].in_features] == [2, 4, 4, 24, 8]
    assert again[0].weight.dtype == gk.float32 and again[0].weight.device == model[0].weight.device  # its own dtype


# ------------------------------------------------------------------ 12: spatial transformer network
def _spatial_transformer(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional

    class STN(nn.Module):
        def __init__(self, mode, padding_mode, align):
            super().__init__()
            self.mode, self.padding_mode, self.align = mode, padding_mode, align
            self.loc = nn.Sequential(nn.Conv2d(1, 3, 5), nn.MaxPool2d(2, stride=2), nn.ReLU(True), nn.Flatten(),
                                     nn.Linear(3 * 4 * 4, 8), nn.ReLU(True), nn.Linear(8, 6))
            self.conv = nn.Conv2d(1, 4, 5)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            theta = self.loc(x).reshape(-1, 2, 3) + _t(lib, np.array([[1.0, 0, 0], [0, 1, 0]]), device)
            grid = F.affine_grid(theta, tuple(x.shape), align_corners=self.align)
            x = F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=self.align)
            x = F.relu(F.max_pool2d(self.conv(x), 2))
            return F.log_softmax(self.fc(x.flatten(1)), dim=1)

    rng = np.random.default_rng(23)
    x = _t(lib, rng.random((4, 1, 12, 12)), device)
    y = _t(lib, rng.integers(0, 5, 4), device)
    result = {}
    for mode, padding_mode, align in [("bilinear", "zeros", False), ("bicubic", "reflection", True),
                                      ("nearest", "border", False), ("bilinear", "reflection", False)]:
        model = _init(lib, STN(mode, padding_mode, align), device, seed=24, scale=1.0)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(3):
            loss = F.nll_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        result[f"{mode}-{padding_mode}-{align}"] = losses + _fingerprint(model)
    return result


SPATIAL_TRANSFORMER_EXPECTED = {
    'bilinear-zeros-False': [
        1.4828627666149008, 1.459727139950659, 1.3001933013165712, 0.8877791788169234, 40.27527198234858,
    ],
    'bicubic-reflection-True': [
        1.4641925808569884, 1.377472360607599, 1.3510523382528188, 0.24531289577994952, 40.459343312152406,
    ],
    'nearest-border-False': [
        1.550717672995652, 1.3558425598335664, 1.2366989100831591, 0.7304361967778823, 40.372682256317184,
    ],
    'bilinear-reflection-False': [
        1.5069704640133972, 1.3636285356107365, 1.2871704351187563, 0.5329009374216533, 40.281601527867124,
    ],
}


def test_spatial_transformer_with_affine_grid_and_grid_sample(device):
    _check(_spatial_transformer(gk, device), SPATIAL_TRANSFORMER_EXPECTED)


# ------------------------------------------------------------------ 13: CTC speech model
def _ctc(lib, device: str) -> dict:
    nn, F = lib.nn, lib.nn.functional
    C = 5

    class ASR(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(6, 8, 3, padding=1)
            self.rnn = nn.LSTM(8, 6, bidirectional=True)
            self.fc = nn.Linear(12, C)

        def forward(self, x, lengths):
            h = F.relu(self.conv(x)).permute(2, 0, 1)  # (T, N, 8)
            out, _ = self.rnn(nn.utils.rnn.pack_padded_sequence(h, lengths, enforce_sorted=False))
            out, _ = nn.utils.rnn.pad_packed_sequence(out)
            return F.log_softmax(self.fc(out), dim=-1)

    rng = np.random.default_rng(25)
    x = _t(lib, rng.standard_normal((4, 6, 10)), device)
    input_lengths = np.array([10, 7, 10, 4])
    target_lengths = np.array([3, 2, 5, 2])
    padded = rng.integers(1, C, (4, 5))
    padded[0, 1] = padded[0, 2]  # a repeated label needs a blank between
    flat = np.concatenate([padded[i, :n] for i, n in enumerate(target_lengths)])
    result = {}
    for name, targets, reduction, frames in [("mean-padded", padded, "mean", input_lengths),
                                             ("sum-flat", flat, "sum", input_lengths),
                                             ("none-zero-infinity", padded, "none", np.array([10, 7, 10, 1]))]:
        model = _init(lib, ASR(), device, seed=26, scale=1.0)
        opt = lib.optim.Adadelta(model.parameters(), lr=1.0)
        losses = []
        for _ in range(3):
            log_probs = model(x, _t(lib, input_lengths, device))
            loss = F.ctc_loss(log_probs, _t(lib, targets, device), _t(lib, frames, device),
                              _t(lib, target_lengths, device), reduction=reduction, zero_infinity=True)
            if reduction == "none":
                loss = (loss * _t(lib, np.array([1.0, 2.0, 3.0, 4.0]), device)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        result[name] = losses + _fingerprint(model)
    return result


CTC_EXPECTED = {
    'mean-padded': [3.5013425598386485, 3.4345766258755805, 3.3687572652393296, 23.63936011845017, 154.5710550633038],
    'sum-flat': [40.48840769292636, 39.689017849345696, 38.89811012986682, 23.592329819462535, 154.2213845188728],
    'none-zero-infinity': [
        63.53403631164084, 62.312255255282224, 61.0995747244814, 23.64116445742934, 154.1473659299519,
    ],
}


def test_ctc_speech_model_over_packed_sequences(device):
    _check(_ctc(gk, device), CTC_EXPECTED)


# ------------------------------------------------------------------ 14: text classification with EmbeddingBag
def _text_classifier(lib, device: str) -> dict:
    nn = lib.nn
    V, E, classes = 20, 6, 4

    class TextClassificationModel(nn.Module):
        def __init__(self, mode):
            super().__init__()
            self.embedding = nn.EmbeddingBag(V, E, mode=mode, padding_idx=None if mode == "max" else 1)
            self.fc = nn.Linear(E, classes)

        def forward(self, text, offsets, weights):
            return self.fc(self.embedding(text, offsets, per_sample_weights=weights))

    rng = np.random.default_rng(27)
    batches = []
    for _ in range(3):
        lengths = rng.integers(0, 5, 5)
        lengths[0] = max(lengths[0], 1)
        text = rng.integers(0, V, int(lengths.sum()))
        batches.append((text, np.concatenate([[0], np.cumsum(lengths)[:-1]]), rng.integers(0, classes, 5),
                        rng.random(int(lengths.sum()))))
    result = {}
    for mode in ("mean", "sum", "max"):
        model = _init(lib, TextClassificationModel(mode), device, seed=28, scale=1.5)
        opt = lib.optim.SGD(model.parameters(), lr=5.0)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1, gamma=0.1)
        losses = []
        for _ in range(2):
            for text, offsets, label, weights in batches:
                w = _t(lib, weights, device) if mode == "sum" else None
                out = model(_t(lib, text, device), _t(lib, offsets, device), w)
                loss = nn.CrossEntropyLoss()(out, _t(lib, label, device))
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 0.1)
                opt.step()
                losses.append(loss.item())
            sched.step()
        result[mode] = losses + _fingerprint(model)
    return result


TEXT_CLASSIFIER_EXPECTED = {
    'mean': [
        1.9338556659959767, 1.7117513421241946, 1.9856823636909091, 1.4497085102307785, 1.3855786347532941,
        1.5177674042156744, -3.4941984818491316, 80.8372758464637,
    ],
    'sum': [
        1.7423188314808744, 1.9795986387810856, 1.7043720364270567, 1.2337790288870258, 1.4911413511127334,
        1.3149426638240285, -3.989833797094952, 81.7754913627707,
    ],
    'max': [
        2.2030358277355195, 2.321289873058304, 1.953785289883888, 1.5886335040567607, 1.8363463293598223,
        1.4157741943182616, -3.784833814597169, 79.81953997772293,
    ],
}


def test_text_classifier_with_embedding_bag_offsets_and_step_lr(device):
    _check(_text_classifier(gk, device), TEXT_CLASSIFIER_EXPECTED)


# ------------------------------------------------------------------ the bag paths made faster for these programs
@pytest.mark.parametrize("dim", [3, 20])  # a few columns (one bincount each) and many (one bincount in all)
def test_embedding_bag_gradient_into_a_large_table_from_few_entries(device, dim):
    """The torchtext tutorial's shape: a large vocabulary, few indices per batch (the rows hit are summed alone,
    then placed in the zeros); repeated rows accumulate in the order of the entries."""
    rng = np.random.default_rng(29)
    vocab = 5000
    text = np.concatenate([rng.integers(0, vocab, 25), [7, 7, 7, vocab - 1, 0]])
    offsets = np.array([0, 4, 4, 13, 22])  # an empty bag among them
    w0 = rng.standard_normal((vocab, dim))
    psw = rng.random(text.shape[0])
    g_out = rng.standard_normal((5, dim))
    for mode in ("sum", "mean"):
        weight = gk.tensor(w0, device=device, requires_grad=True)
        out = gk.nn.functional.embedding_bag(gk.tensor(text, device=device), weight, gk.tensor(offsets, device=device),
                                             mode=mode, per_sample_weights=gk.tensor(psw, device=device)
                                             if mode == "sum" else None)
        (out * gk.tensor(g_out, device=device)).sum().backward()
        bag = np.searchsorted(offsets, np.arange(text.shape[0]), side="right") - 1
        counts = np.bincount(bag, minlength=5)
        scale = psw if mode == "sum" else 1.0 / np.maximum(counts, 1)[bag]
        expected_out = np.zeros((5, dim))
        np.add.at(expected_out, bag, w0[text] * scale[:, None])
        expected_grad = np.zeros((vocab, dim))
        np.add.at(expected_grad, text, g_out[bag] * scale[:, None])
        np.testing.assert_allclose(_np(out), expected_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_np(weight.grad), expected_grad, rtol=1e-12, atol=1e-12)
        assert not _np(weight.grad)[np.setdiff1d(np.arange(vocab), text)].any()


def _bag_max_reference(w, text, bags_of, n_bags, padding_idx, g_out):
    out = np.zeros((n_bags, w.shape[1]))
    grad = np.zeros_like(w)
    for b in range(n_bags):
        rows = [i for i in range(len(text)) if bags_of[i] == b and text[i] != padding_idx]
        for j in range(w.shape[1]):
            if not rows:
                continue
            values = [w[text[i], j] for i in rows]
            first = rows[int(np.argmax(values))]  # the first maximum
            out[b, j] = w[text[first], j]
            grad[text[first], j] += g_out[b, j]
    return out, grad


@pytest.mark.parametrize("case", ["offsets", "last_offset", "padding", "rows"])
def test_embedding_bag_max_with_ties_empty_bags_and_padding(device, case):
    rng = np.random.default_rng(30)
    w0 = np.round(rng.standard_normal((9, 4)) * 2) / 2  # ties
    padding_idx = 3 if case == "padding" else None
    if case == "rows":
        text = rng.integers(0, 9, (4, 3))
        offsets, n_bags = None, 4
        bags_of = np.repeat(np.arange(4), 3)
    else:
        text = rng.integers(0, 9, 12)
        text[[2, 5]] = 3
        offsets = np.array([0, 3, 3, 7, 12]) if case == "last_offset" else np.array([0, 3, 3, 7])
        n_bags = 4
        bags_of = np.searchsorted(offsets, np.arange(12), side="right") - 1
        if case == "last_offset":
            bags_of = np.where(np.arange(12) < offsets[-1], np.minimum(bags_of, 3), -1)
    g_out = rng.standard_normal((n_bags, 4))
    weight = gk.tensor(w0, device=device, requires_grad=True)
    out = gk.nn.functional.embedding_bag(gk.tensor(text, device=device), weight,
                                         None if offsets is None else gk.tensor(offsets, device=device), mode="max",
                                         include_last_offset=case == "last_offset", padding_idx=padding_idx)
    (out * gk.tensor(g_out, device=device)).sum().backward()
    expected_out, expected_grad = _bag_max_reference(w0, text.reshape(-1), bags_of, n_bags, padding_idx, g_out)
    np.testing.assert_array_equal(_np(out), expected_out)
    np.testing.assert_allclose(_np(weight.grad), expected_grad, rtol=1e-15, atol=0)
