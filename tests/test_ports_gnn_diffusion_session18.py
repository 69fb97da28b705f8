"""A graph neural network and a DDPM training step ported to gradkit (session 18), checked against numbers
computed once with PyTorch 2.14 (float64, CPU). Nothing here imports torch.

Each program is written once against a library namespace ``lib`` (``torch`` or ``gradkit``), starts from weights
drawn with NumPy (``_init``, loaded through ``load_state_dict``) and runs in float64 on fixed data; the expected
numbers come from running the same function with ``lib=torch`` (``_gnn(torch, "cpu")``, ...: rerun that to
regenerate them). They are the losses, a fingerprint of the first step's gradients and of the parameters after the
last step (dot products with fixed random vectors, and squared norms), the clipped gradient norms, the EMA model's
parameters and one reverse-diffusion step of it.

- GNN (plain torch, no PyG): a GCN layer with symmetric normalisation through ``index_add``, GAT-style attention
  with a segment softmax (``scatter_reduce`` "amax", exp, ``scatter_add``, ``gather`` back), GraphSAGE mean and
  max aggregation (``scatter_reduce(include_self=False)``, an isolated node), a global mean/max pool per graph
  from a batch vector, trained with Adam.
- DDPM: a UNet-ish model (Conv2d, GroupNorm, SiLU, a sinusoidal timestep embedding, self-attention on feature maps
  through ``F.scaled_dot_product_attention``, skip connections, ``interpolate``), the noise schedule (cumprod,
  ``gather`` by timestep), MSE on the noise, AdamW, ``clip_grad_norm_``, an EMA through
  ``swa_utils.AveragedModel(multi_avg_fn=get_ema_multi_avg_fn(...))`` or a manual ``lerp_``; and a second model
  with BatchNorm (``use_buffers=True``), reflect/circular padding, ConvTranspose2d, bilinear and bicubic upsampling,
  a bool attention mask, min-SNR loss weights, AMSGrad AdamW with a cosine schedule and ``clip_grad_value_``.

Two differences from PyTorch that the ports had to work around are documented ones and are checked at the end:
an in-place ``index_add_`` (and the like) of a source that requires grad is refused (``AutogradError``), where
PyTorch records it; ``Tensor.transpose(-1, -2)`` permutes like NumPy's (``swapaxes`` is PyTorch's swap).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from _reference import to_numpy as _np

import gradkit as gk

TOL = {"rtol": 1e-9, "atol": 1e-11}


# ------------------------------------------------------------------ helpers (library-agnostic)
def _is_gk(lib) -> bool:
    return lib is gk


def _t(lib, a, device: str):
    return gk.tensor(a, device=device) if _is_gk(lib) else lib.tensor(a)


def _init(lib, model, device: str, seed: int = 0, scale: float = 0.3):
    """The model in float64 with its float parameters drawn from NumPy (BatchNorm's statistics kept)."""
    model = model.double()
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        v = _np(value)
        if v.dtype.kind == "f" and not name.endswith(("running_mean", "running_var")):
            fan_in = int(np.prod(v.shape[1:])) if v.ndim > 1 else v.shape[0]
            v = rng.uniform(-1, 1, v.shape) * scale / math.sqrt(max(fan_in, 1)) * 2.0
        state[name] = v
    if _is_gk(lib):
        model.load_state_dict(state)
        return model.to(device)
    model.load_state_dict({k: lib.tensor(np.asarray(v)) for k, v in state.items()})
    return model


def _fingerprint(arrays: dict, seed: int = 12345) -> list[float]:
    """sum(a * v) over the arrays (v fixed random, drawn in sorted name order) and sum(a^2)."""
    rng = np.random.default_rng(seed)
    dot = sq = 0.0
    for name in sorted(arrays):
        a = np.asarray(arrays[name], dtype=np.float64)
        dot += float((a * rng.standard_normal(a.shape)).sum())
        sq += float((a * a).sum())
    return [dot, sq]


def _check(result: dict, expected: dict) -> None:
    assert set(result) == set(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(np.asarray(result[key], dtype=np.float64), np.asarray(want, dtype=np.float64),
                                   **TOL, err_msg=key)


# ------------------------------------------------------------------ 1: GNN (GCN, GAT, GraphSAGE, global pooling)
def _graph_data(seed: int = 3):
    """Three random undirected graphs of 5, 7 and 4 nodes in one batch; the last node isolated."""
    rng = np.random.default_rng(seed)
    sizes = [5, 7, 4]
    src, dst, batch = [], [], []
    off = 0
    for g, n in enumerate(sizes):
        batch += [g] * n
        for _ in range(2 * n):
            a, b = rng.integers(0, n, 2)
            if a != b:
                src += [off + a, off + b]
                dst += [off + b, off + a]
        off += n
    x = rng.standard_normal((off, 6))
    y = rng.standard_normal((len(sizes), 2))
    keep = [i for i in range(len(src)) if dst[i] != off - 1 and src[i] != off - 1]
    edges = np.stack([np.array(src)[keep], np.array(dst)[keep]]).astype(np.int64)
    return x, edges, np.array(batch, dtype=np.int64), y, len(sizes)


def _gnn(lib, device: str, steps: int = 3) -> dict:
    nn, F = lib.nn, lib.nn.functional
    xa, ea, ba, ya, n_graphs = _graph_data()
    x, ei, batch, y = (_t(lib, a, device) for a in (xa, ea, ba, ya))
    n_nodes = x.shape[0]

    class GCN(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.lin = nn.Linear(i, o, bias=False)
            self.bias = nn.Parameter(lib.zeros(o))

        def forward(self, h, ei):
            n = h.shape[0]
            loops = lib.arange(n, device=h.device)
            src, dst = lib.cat([ei[0], loops]), lib.cat([ei[1], loops])
            deg = lib.zeros(n, dtype=h.dtype, device=h.device).index_add_(0, dst, lib.ones_like(dst, dtype=h.dtype))
            dinv = deg.pow(-0.5)
            dinv = dinv.masked_fill(lib.isinf(dinv), 0.0)
            norm = dinv[src] * dinv[dst]
            h = self.lin(h)
            msg = h.index_select(0, src) * norm.unsqueeze(-1)
            return lib.zeros_like(h).index_add(0, dst, msg) + self.bias  # index_add_ here: see the last tests

    class GAT(nn.Module):
        def __init__(self, i, o, heads):
            super().__init__()
            self.heads, self.o = heads, o
            self.lin = nn.Linear(i, heads * o, bias=False)
            self.att_src = nn.Parameter(lib.zeros(1, heads, o))
            self.att_dst = nn.Parameter(lib.zeros(1, heads, o))

        def forward(self, h, ei):
            n = h.shape[0]
            loops = lib.arange(n, device=h.device)
            src, dst = lib.cat([ei[0], loops]), lib.cat([ei[1], loops])
            z = self.lin(h).view(n, self.heads, self.o)
            e = F.leaky_relu((z * self.att_src).sum(-1)[src] + (z * self.att_dst).sum(-1)[dst], 0.2)  # (E, H)
            idx = dst.unsqueeze(-1).expand_as(e)
            emax = lib.full((n, self.heads), -math.inf, dtype=e.dtype, device=e.device).scatter_reduce(
                0, idx, e, reduce="amax", include_self=True)
            ex = (e - emax.gather(0, idx)).exp()
            den = lib.zeros(n, self.heads, dtype=e.dtype, device=e.device).scatter_add(0, idx, ex)
            alpha = ex / (den.gather(0, idx) + 1e-16)
            msg = z[src] * alpha.unsqueeze(-1)
            return lib.zeros(n, self.heads, self.o, dtype=e.dtype, device=e.device).index_add(0, dst, msg).mean(1)

    class SAGE(nn.Module):
        def __init__(self, i, o, aggr):
            super().__init__()
            self.aggr = aggr
            self.lin_l = nn.Linear(i, o)
            self.lin_r = nn.Linear(i, o, bias=False)

        def forward(self, h, ei):
            n, d = h.shape
            idx = ei[1].unsqueeze(-1).expand(-1, d)
            agg = lib.zeros(n, d, dtype=h.dtype, device=h.device).scatter_reduce(
                0, idx, h[ei[0]], reduce=self.aggr, include_self=False)
            return self.lin_l(agg) + self.lin_r(h)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gcn = GCN(6, 8)
            self.gat = GAT(8, 8, 2)
            self.sage_mean = SAGE(8, 8, "mean")
            self.sage_max = SAGE(8, 8, "amax")
            self.norm = nn.LayerNorm(16)
            self.head = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 2))

        def forward(self, x, ei, batch):
            h = F.relu(self.gcn(x, ei))
            h = F.elu(self.gat(h, ei)) + h
            h = F.gelu(self.norm(lib.cat([self.sage_mean(h, ei), self.sage_max(h, ei)], -1)))
            d = h.shape[1]
            ones = lib.ones(n_nodes, dtype=h.dtype, device=h.device)
            count = lib.zeros(n_graphs, dtype=h.dtype, device=h.device).scatter_add_(0, batch, ones)
            mean = lib.zeros(n_graphs, d, dtype=h.dtype, device=h.device).index_add(0, batch, h)
            mean = mean / count.clamp(min=1).unsqueeze(-1)
            mx = lib.zeros(n_graphs, d, dtype=h.dtype, device=h.device).scatter_reduce(
                0, batch.unsqueeze(-1).expand(-1, d), h, reduce="amax", include_self=False)
            return self.head(lib.cat([mean, mx], -1))

    model = _init(lib, Net(), device)
    opt = lib.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    losses = []
    for step in range(steps):
        out = model(x, ei, batch)
        loss = F.mse_loss(out, y) + 0.05 * F.smooth_l1_loss(out, y, beta=0.5)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad = _fingerprint({k: _np(p.grad) for k, p in model.named_parameters()}, 54321)
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "grad0": grad,
            "params": _fingerprint({k: _np(p) for k, p in model.named_parameters()})}


GNN_EXPECTED = {
    'losses': [1.5030775265724634, 1.452031311365964, 1.4032544789987782],
    'grad0': [-0.8530882956958099, 1.902452698375341],
    'params': [-3.5470862413123934, 9.73847584574574],
}


def test_gnn_gcn_gat_sage_pool_adam(device):
    _check(_gnn(gk, device), GNN_EXPECTED)


# ------------------------------------------------------------------ 2: DDPM (UNet-ish, EMA, clipping)
def _ddpm(lib, device: str, ema_kind: str = "swa", steps: int = 3) -> dict:
    nn, F = lib.nn, lib.nn.functional
    T = 50
    betas = lib.linspace(1e-4, 0.02, T, dtype=lib.float64, device=device)
    alphas = 1.0 - betas
    abar = lib.cumprod(alphas, dim=0)
    sqrt_ab, sqrt_1mab = abar.sqrt(), (1.0 - abar).sqrt()

    def timestep_embedding(t, dim):
        half = dim // 2
        freqs = lib.exp(-math.log(10000.0) * lib.arange(half, dtype=lib.float64, device=t.device) / half)
        args = t.to(lib.float64)[:, None] * freqs[None]
        return lib.cat([lib.sin(args), lib.cos(args)], dim=-1)

    class ResBlock(nn.Module):
        def __init__(self, i, o, tdim):
            super().__init__()
            self.n1, self.c1 = nn.GroupNorm(2, i), nn.Conv2d(i, o, 3, padding=1)
            self.t = nn.Linear(tdim, o)
            self.n2, self.c2 = nn.GroupNorm(2, o), nn.Conv2d(o, o, 3, padding=1)
            self.skip = nn.Conv2d(i, o, 1) if i != o else nn.Identity()

        def forward(self, x, te):
            h = self.c1(F.silu(self.n1(x)))
            h = h + self.t(F.silu(te))[:, :, None, None]
            return self.c2(F.silu(self.n2(h))) + self.skip(x)

    class Attn(nn.Module):
        def __init__(self, c, heads=2):
            super().__init__()
            self.heads = heads
            self.norm, self.qkv, self.proj = nn.GroupNorm(2, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

        def forward(self, x):
            b, c, hh, ww = x.shape
            q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)

            def heads(z):  # PyTorch code writes transpose(-1, -2), which works too (see the test below)
                return z.reshape(b, self.heads, c // self.heads, hh * ww).swapaxes(-1, -2)

            o = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
            return x + self.proj(o.swapaxes(-1, -2).reshape(b, c, hh, ww))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.tmlp = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 32))
            self.inc = nn.Conv2d(2, 8, 3, padding=1)
            self.d1, self.down = ResBlock(8, 8, 32), nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.d2, self.attn = ResBlock(8, 16, 32), Attn(16)
            self.mid = ResBlock(16, 16, 32)
            self.u1, self.u2 = ResBlock(32, 8, 32), ResBlock(16, 8, 32)
            self.out_norm, self.out = nn.GroupNorm(2, 8), nn.Conv2d(8, 2, 3, padding=1)

        def forward(self, x, t):
            te = self.tmlp(timestep_embedding(t, 16))
            h1 = self.d1(self.inc(x), te)
            h2 = self.attn(self.d2(self.down(h1), te))
            u = self.u1(lib.cat([self.mid(h2, te), h2], 1), te)
            u = F.interpolate(u, scale_factor=2, mode="nearest")
            u = self.u2(lib.cat([u, h1], 1), te)
            return self.out(F.silu(self.out_norm(u)))

    model = _init(lib, UNet(), device)
    if ema_kind == "swa":
        su = lib.optim.swa_utils
        ema = su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.9))
    else:
        ema = copy.deepcopy(model)
        for p in ema.parameters():
            p.requires_grad_(False)
    opt = lib.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    rng = np.random.default_rng(7)
    x0s = [_t(lib, rng.standard_normal((3, 2, 8, 8)), device) for _ in range(steps)]
    ts = [_t(lib, rng.integers(0, T, 3).astype(np.int64), device) for _ in range(steps)]
    noises = [_t(lib, rng.standard_normal((3, 2, 8, 8)), device) for _ in range(steps)]
    losses, norms = [], []
    for step in range(steps):
        x0, t, noise = x0s[step], ts[step], noises[step]
        xt = sqrt_ab.gather(0, t).view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * noise
        loss = F.mse_loss(model(xt, t), noise)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad = _fingerprint({k: _np(p.grad) for k, p in model.named_parameters()}, 54321)
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.2)))
        opt.step()
        if ema_kind == "swa":
            ema.update_parameters(model)
        else:
            with lib.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                    pe.lerp_(pm, 0.1)
        losses.append(loss.item())
    with lib.no_grad():  # one reverse step (its mean) with the EMA model
        xT = _t(lib, rng.standard_normal((2, 2, 8, 8)), device)
        tt = _t(lib, np.array([T - 1, T // 2], dtype=np.int64), device)
        eps = ema(xT, tt)
        ab, al = abar[tt].view(-1, 1, 1, 1), alphas[tt].view(-1, 1, 1, 1)
        mean = (xT - (1 - al) / (1 - ab).sqrt() * eps) / al.sqrt()
    return {"losses": losses, "grad0": grad, "norms": norms,
            "params": _fingerprint({k: _np(p) for k, p in model.named_parameters()}),
            "ema": _fingerprint({k: _np(p) for k, p in ema.named_parameters()}),
            "sample": _fingerprint({"mean": _np(mean)})}


DDPM_EXPECTED = {
    'losses': [1.1827321823904868, 0.9961225903527137, 1.0433322391084625],
    'grad0': [-0.015823063036374936, 0.10326926270947984],
    'norms': [0.32135535270083776, 0.3252526004112668, 0.35193637348893075],
    'params': [0.6222599817086238, 47.467388905390564],
    'ema': [0.49827350306621176, 47.04242582021854],
    'sample': [-7.9334247422411615, 257.3328278275792],
}
DDPM_LERP_EXPECTED = {
    'losses': [1.0182523878988075, 1.2078404813293402],
    'grad0': [-0.028728386316509202, 0.13461858665246754],
    'norms': [0.3669040564677195, 0.34283716792546926],
    'params': [0.04380293819415826, 47.19998419579037],
    'ema': [0.06783689476245747, 46.916577986662396],
    'sample': [8.69656743040186, 249.6248368968227],
}


def test_ddpm_unet_adamw_clip_ema(device):
    _check(_ddpm(gk, device), DDPM_EXPECTED)


def test_ddpm_manual_lerp_ema(device):
    _check(_ddpm(gk, device, ema_kind="lerp", steps=2), DDPM_LERP_EXPECTED)


# ------------------------------------------------------------------ 3: DDPM, second model (BatchNorm EMA buffers, ...)
def _ddpm2(lib, device: str, steps: int = 3) -> dict:
    nn, F = lib.nn, lib.nn.functional
    T = 40
    betas = lib.linspace(1e-4 ** 0.5, 0.02 ** 0.5, T, dtype=lib.float64, device=device) ** 2
    abar = lib.cumprod(1 - betas, 0)
    snr = abar / (1 - abar)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_in = nn.Conv2d(1, 8, 3, padding=1, padding_mode="reflect")
            self.bn = nn.BatchNorm2d(8)
            self.gn = nn.GroupNorm(4, 8, affine=False)
            self.down = nn.Conv2d(8, 8, 4, stride=2, padding=1)
            self.q, self.kv = nn.Linear(8, 8), nn.Linear(8, 16)
            self.up_t = nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)
            self.up_b = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.t_emb = nn.Embedding(T, 8)
            self.c_out = nn.Conv2d(16, 1, 3, padding=1, padding_mode="circular")

        def forward(self, x, t):
            h = self.gn(F.silu(self.bn(self.c_in(x)) + self.t_emb(t)[:, :, None, None]))
            d = F.silu(self.down(h))
            b, c, hh, ww = d.shape
            seq = d.flatten(2).swapaxes(1, 2)
            k, v = self.kv(seq).chunk(2, -1)
            mask = lib.ones(hh * ww, hh * ww, dtype=lib.bool, device=x.device).tril()
            a = F.scaled_dot_product_attention(self.q(seq).unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                                               attn_mask=mask)
            d = d + a.squeeze(1).swapaxes(1, 2).reshape(b, c, hh, ww)
            u = self.up_t(d) + self.up_b(d)
            u = u + F.interpolate(d, size=(hh * 2, ww * 2), mode="bicubic", align_corners=True)
            return self.c_out(lib.cat([u, h], 1))

    model = _init(lib, Block(), device)
    su = lib.optim.swa_utils
    ema = su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.8), use_buffers=True)
    opt = lib.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.05, amsgrad=True)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    rng = np.random.default_rng(11)
    losses, norms = [], []
    for step in range(steps):
        x0 = _t(lib, rng.standard_normal((4, 1, 8, 8)), device)
        t = _t(lib, rng.integers(0, T, 4).astype(np.int64), device)
        noise = _t(lib, rng.standard_normal((4, 1, 8, 8)), device)
        ab = abar.gather(0, t)[:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        weight = lib.clamp(snr[t], max=5.0) / snr[t]  # min-SNR weighting
        loss = (weight * F.mse_loss(model(xt, t), noise, reduction="none").mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            grad = _fingerprint({k: _np(p.grad) for k, p in model.named_parameters()}, 54321)
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), 0.3)))
        nn.utils.clip_grad_value_(model.parameters(), 0.05)
        opt.step()
        sched.step()
        ema.update_parameters(model)
        losses.append(loss.item())
    ema.eval()
    with lib.no_grad():
        out = ema(_t(lib, rng.standard_normal((2, 1, 8, 8)), device), _t(lib, np.array([3, 30]), device))
    return {"losses": losses, "grad0": grad, "norms": norms,
            "params": _fingerprint({k: _np(p) for k, p in model.named_parameters()}),
            "ema": _fingerprint({k: _np(p) for k, p in ema.state_dict().items()}),
            "sample": _fingerprint({"out": _np(out)})}


DDPM2_EXPECTED = {
    'losses': [0.557277285185895, 0.6361158240111903, 0.1973098900216949],
    'grad0': [1.9114739905428935, 2.2602442889656063],
    'norms': [1.5034108849431698, 1.1586299236428677, 0.2665365139261044],
    'params': [8.144823386213238, 11.853560300553461],
    'ema': [-3.0172412250046503, 27.862780350782884],
    'sample': [-1.0686429803062751, 7.072606584867238],
}


def test_ddpm_batchnorm_ema_buffers_upsampling_min_snr(device):
    _check(_ddpm2(gk, device), DDPM2_EXPECTED)


# ------------------------------------------------------------------ 4: scatter_reduce as message passing uses it
# ties (two sources equal to the maximum, a source equal to self), a zero in a product, a place no index reaches
SR_SELF = [[1.0, 0.0], [2.0, -1.0], [0.5, 3.0]]
SR_SRC = [[2.0, 0.0], [2.0, 5.0], [-1.0, 0.0], [1.0, 5.0], [0.0, 3.0]]
SR_INDEX = [[0, 0], [0, 1], [1, 0], [0, 1], [1, 2]]
SR_EXPECTED = {  # (reduce, include_self): (result, self's gradient, src's gradient), weights 1 + 0.5 * arange
    ("amax", True): ([[2.0, 0.0], [2.0, 5.0], [0.5, 3.0]], [[0.0, 0.5], [2.0, 0.0], [3.0, 1.75]],
                     [[0.5, 0.5], [0.5, 1.25], [0.0, 0.5], [0.0, 1.25], [0.0, 1.75]]),
    ("amax", False): ([[2.0, 0.0], [0.0, 5.0], [0.5, 3.0]], [[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]],
                      [[0.5, 0.5], [0.5, 1.25], [0.0, 0.5], [0.0, 1.25], [2.0, 1.75]]),
    ("amin", True): ([[1.0, 0.0], [-1.0, -1.0], [0.5, 3.0]], [[0.5, 0.5], [0.0, 2.5], [3.0, 1.75]],
                     [[0.0, 0.5], [0.0, 0.0], [2.0, 0.5], [0.5, 0.0], [0.0, 1.75]]),
    ("amin", False): ([[1.0, 0.0], [-1.0, 5.0], [0.5, 3.0]], [[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]],
                      [[0.0, 0.5], [0.0, 1.25], [2.0, 0.5], [0.5, 1.25], [0.0, 1.75]]),
    ("mean", True): ([[1.5, 0.0], [1 / 3, 3.0], [0.5, 3.0]], [[0.25, 0.5], [2 / 3, 5 / 6], [3.0, 1.75]],
                     [[0.25, 0.5], [0.25, 5 / 6], [2 / 3, 0.5], [0.25, 5 / 6], [2 / 3, 1.75]]),
    ("mean", False): ([[5 / 3, 0.0], [-0.5, 5.0], [0.5, 3.0]], [[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]],
                      [[1 / 3, 0.75], [1 / 3, 1.25], [1.0, 0.75], [1 / 3, 1.25], [1.0, 3.5]]),
    ("prod", True): ([[4.0, 0.0], [0.0, -25.0], [0.5, 9.0]], [[4.0, 0.0], [0.0, 62.5], [3.0, 10.5]],
                     [[2.0, 0.0], [2.0, -12.5], [0.0, 0.0], [4.0, -12.5], [-4.0, 10.5]]),
    ("prod", False): ([[4.0, 0.0], [0.0, 25.0], [0.5, 3.0]], [[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]],
                      [[2.0, 0.0], [2.0, 12.5], [0.0, 0.0], [4.0, 12.5], [-2.0, 3.5]]),
}


@pytest.mark.parametrize("key", list(SR_EXPECTED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_scatter_reduce_ties_and_untouched_places(device, key):
    reduce, include_self = key
    s = gk.tensor(SR_SELF, dtype=gk.float64, device=device, requires_grad=True)
    x = gk.tensor(SR_SRC, dtype=gk.float64, device=device, requires_grad=True)
    out = s.scatter_reduce(0, gk.tensor(SR_INDEX, device=device), x, reduce, include_self=include_self)
    weights = gk.tensor(np.arange(6.0).reshape(3, 2) * 0.5 + 1, device=device)
    (out * weights).sum().backward()
    for got, want in zip((out, s.grad, x.grad), SR_EXPECTED[key], strict=True):
        np.testing.assert_allclose(_np(got), want, **TOL)


# ------------------------------------------------------------------ 5: the documented differences the ports met
def test_inplace_index_add_of_a_grad_source_is_recorded(device):
    """PyTorch records ``zeros(n, d).index_add_(0, dst, msg)`` (msg requiring grad) in the graph; so does gradkit
    (docs/API.md), with the out-of-place spelling's values and gradients."""
    msg = gk.tensor(np.arange(6.0).reshape(3, 2), device=device, requires_grad=True)
    dst = gk.tensor([0, 2, 0], device=device)
    weights = gk.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device)
    for write in (lambda z: z.index_add_(0, dst, msg),
                  lambda z: z.index_add(0, dst, msg),
                  lambda z: z.scatter_add_(0, dst[:, None].expand(-1, 2), msg)):
        msg.grad = None
        out = write(gk.zeros(3, 2, dtype=gk.float64, device=device))
        (out * weights).sum().backward()
        np.testing.assert_array_equal(_np(out), [[4.0, 6.0], [0.0, 0.0], [2.0, 3.0]])
        np.testing.assert_array_equal(_np(msg.grad), [[1.0, 2.0], [5.0, 6.0], [1.0, 2.0]])
    msg.grad = None
    out = gk.zeros(3, 2, dtype=gk.float64, device=device)
    out.scatter_reduce_(0, dst[:, None].expand(-1, 2), msg, "amax", include_self=False)
    (out * weights).sum().backward()
    np.testing.assert_array_equal(_np(out), [[4.0, 5.0], [0.0, 0.0], [2.0, 3.0]])
    np.testing.assert_array_equal(_np(msg.grad), [[0.0, 0.0], [5.0, 6.0], [1.0, 2.0]])
    with gk.no_grad():  # without a graph the in-place form works, as the GCN's degree count uses it
        deg = gk.zeros(3, dtype=gk.float64, device=device).index_add_(0, dst, gk.ones(3, dtype=gk.float64,
                                                                                       device=device))
    np.testing.assert_array_equal(_np(deg), [2.0, 0.0, 1.0])


def test_transpose_of_two_axes_swaps_them_beyond_2d(device):
    """``Tensor.transpose(-1, -2)`` on a 4-d tensor is PyTorch's swap (NumPy's transpose takes no two axes there),
    as the attention block's ``k.transpose(-1, -2)`` needs; ``swapaxes(-1, -2)`` is the same."""
    z = gk.zeros(2, 3, 4, 5, device=device)
    assert z.transpose(-1, -2).shape == (2, 3, 5, 4)
    assert z.swapaxes(-1, -2).shape == (2, 3, 5, 4)
