"""Small PyTorch programs built from the newer layers, run on gradkit and on PyTorch from the same weights.

Each program is written once against a library namespace ``lib`` (``torch`` or ``gradkit``); where the two spell
something differently (gradkit's ``transpose`` is NumPy's, so the programs use ``permute``) the program says so.
PyTorch runs on the CPU, gradkit on the ``device`` fixture's device; both in float64, dropout off. The tests
compare the losses of every step, the final parameters (and buffers) by name, and continue a run from a
mid-training checkpoint (``gk.save``/``gk.load`` or a state-dict round trip) to the same end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),  # PyTorch's, for norm_first stacks
    pytest.mark.filterwarnings("ignore:Support for mismatched"),
]

F64 = {"rtol": 1e-9, "atol": 1e-11}
# parameters after a few Adam steps: a gradient that is zero up to rounding (the key projection's bias, which
# softmax ignores) moves its entry by ~lr * 1e-17 / eps, rounding noise of ~1e-11
STATE = {"rtol": 1e-9, "atol": 1e-10}


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().cpu().numpy())


def _tensor(lib, a, device: str):
    return torch.tensor(a) if lib is torch else gk.tensor(a, device=device)


def _pair(make, device: str, seed: int = 0):
    """PyTorch's model (float64, seeded) and gradkit's built by the same factory, with PyTorch's weights."""
    torch.manual_seed(seed)
    tm = make(torch).double()
    gm = make(gk).double()
    gm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, gm.to(device)


def _same_state(gm, tm, tol=STATE) -> None:
    ts = tm.state_dict()
    gs = gm.state_dict()
    assert list(gs) == list(ts)
    for name, value in gs.items():
        np.testing.assert_allclose(_np(value), _np(ts[name]), **tol, err_msg=name)
    # and gradkit's state dict loads back into PyTorch (dtypes included)
    tm.load_state_dict({k: torch.from_numpy(_np(v).copy()) for k, v in gs.items()})
    for name, value in tm.state_dict().items():
        assert value.dtype == ts[name].dtype, name


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ 1: a small ViT
def _vit(lib, patch_by_unfold: bool):
    nn, F = lib.nn, lib.nn.functional
    D, P, C = 16, 4, 3

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            if patch_by_unfold:
                self.patch = nn.Linear(C * P * P, D)
            else:
                self.patch = nn.Conv2d(C, D, kernel_size=P, stride=P)
            self.cls_token = nn.Parameter(lib.zeros(1, 1, D))
            self.pos = nn.Parameter(0.02 * lib.randn(1, 1 + 4, D))
            layer = nn.TransformerEncoderLayer(D, 2, 32, dropout=0.0, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D))
            self.head = nn.Linear(D, 5)

        def forward(self, x):
            if patch_by_unfold:
                x = self.patch(F.unfold(x, P, stride=P).permute(0, 2, 1))
            else:
                x = self.patch(x).flatten(2).permute(0, 2, 1)
            x = lib.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            return self.head(self.encoder(x)[:, 0])

    return ViT()


def _vit_training(lib, model, images, labels, steps, resume_at=None, path=None, device="cpu"):
    nn = lib.nn

    def fresh(model):
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
        other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
        opt = lib.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                              lr=3e-3, betas=(0.9, 0.98))
        return opt, lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-4)

    opt, sched = fresh(model)
    x, y = _tensor(lib, images, device), _tensor(lib, labels, device)
    losses, norms, lrs = [], [], []
    for step in range(steps):
        if step == resume_at:  # gradkit only: save everything, rebuild, load, go on
            gk.save(model, path / "vit.safetensors")
            gk.save(opt, path / "vit_opt.safetensors")
            sched_state = sched.state_dict()
            model = _vit(gk, model.patch.__class__ is gk.nn.Linear).double().to(device)
            model.load_state_dict(gk.load(path / "vit.safetensors"))
            opt, sched = fresh(model)
            opt.load_state_dict(gk.load(path / "vit_opt.safetensors"))
            sched.load_state_dict(sched_state)
        model.train()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), 0.5)))
        opt.step()
        sched.step()
        losses.append(loss.item())
        lrs.append(sched.get_last_lr())
    model.eval()
    with lib.no_grad():
        eval_logits = _np(model(x))
    return model, losses, norms, lrs, eval_logits


@pytest.mark.parametrize("patch_by_unfold", [False, True], ids=["conv_patches", "unfold_patches"])
def test_vit_adamw_cosine_clipping_and_checkpoint(device, patch_by_unfold, tmp_path):
    pytest.importorskip("safetensors")
    rng = _rng(1)
    images, labels = rng.standard_normal((6, 3, 8, 8)), rng.integers(0, 5, 6)
    tm, gm = _pair(lambda lib: _vit(lib, patch_by_unfold), device)
    tm, tl, tn, tlr, te = _vit_training(torch, tm, images, labels, 6)
    gm, gl, gn, glr, ge = _vit_training(gk, gm, images, labels, 6, resume_at=3, path=tmp_path, device=device)
    np.testing.assert_allclose(gl, tl, **F64)
    np.testing.assert_allclose(gn, tn, **F64)
    assert max(tn) > 0.5  # the clipping was active
    np.testing.assert_allclose(glr, tlr, rtol=1e-14)
    np.testing.assert_allclose(ge, te, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 2: a ResNet-style CNN
def _resnet(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.gn1 = nn.GroupNorm(2, c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.gn2 = nn.GroupNorm(2, c)
            self.act = nn.SiLU()

        def forward(self, x):
            h = self.act(self.gn1(self.conv1(x)))
            return self.act(x + self.gn2(self.conv2(h)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.GroupNorm(4, 8), nn.SiLU())
            self.blocks = nn.Sequential(Block(8), Block(8))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    return Net()


def test_resnet_groupnorm_silu_sgd_nesterov_with_state_dict_round_trip(device):
    rng = _rng(2)
    images, labels = rng.standard_normal((4, 3, 10, 10)), rng.integers(0, 4, 4)
    tm, gm = _pair(_resnet, device)
    with torch.no_grad():  # non-trivial GroupNorm affine parameters
        for p in tm.parameters():
            if p.ndim == 1:
                p.add_(0.2 * torch.randn(p.shape, dtype=p.dtype))
    gm.load_state_dict(tm.state_dict())
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        x, y = _tensor(lib, images, device), _tensor(lib, labels, device)
        losses = []
        for step in range(6):
            if step == 3 and lib is gk:  # round trip through plain NumPy state dicts into fresh objects
                model_state = {k: _np(v).copy() for k, v in model.state_dict().items()}
                opt_state = opt.state_dict()
                model = _resnet(gk).double().to(device)
                model.load_state_dict(model_state)
                opt = gk.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
                opt.load_state_dict(opt_state)
            loss = lib.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((model, losses))
    (tm, tl), (gm, gl) = results
    np.testing.assert_allclose(gl, tl, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 3: seq2seq nn.Transformer
V, PAD, BOS = 11, 0, 1


def _seq2seq(lib):
    nn = lib.nn
    D = 16

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb = nn.Embedding(V, D, padding_idx=PAD)
            self.tgt_emb = nn.Embedding(V, D, padding_idx=PAD)
            self.pos = nn.Parameter(0.1 * lib.randn(8, 1, D))
            self.transformer = nn.Transformer(D, 2, 2, 2, 24, dropout=0.0)
            self.out = nn.Linear(D, V)

        def forward(self, src, tgt, src_pad, tgt_pad, tgt_mask):
            s = self.src_emb(src) * math.sqrt(D) + self.pos[: src.shape[0]]
            t = self.tgt_emb(tgt) * math.sqrt(D) + self.pos[: tgt.shape[0]]
            h = self.transformer(s, t, tgt_mask=tgt_mask, src_key_padding_mask=src_pad,
                                 tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
                                 tgt_is_causal=True)
            return self.out(h)

    return Seq2Seq()


def test_seq2seq_transformer_with_padding_masks_causal_mask_and_label_smoothing(device, tmp_path):
    pytest.importorskip("safetensors")
    rng = _rng(3)
    S, T, N = 7, 6, 3
    src_lens, tgt_lens = [7, 5, 3], [6, 4, 2]
    src = np.zeros((S, N), np.int64)
    tgt = np.zeros((T + 1, N), np.int64)
    for i, (ls, lt) in enumerate(zip(src_lens, tgt_lens, strict=True)):
        src[:ls, i] = rng.integers(2, V, ls)
        tgt[0, i] = BOS
        tgt[1 : lt + 1, i] = np.sort(src[:ls, i])[:lt]
    tgt_in, tgt_out = tgt[:-1], tgt[1:]
    src_pad, tgt_pad = (src == PAD).T, (tgt_in == PAD).T
    tgt_pad[:, 0] = False  # the BOS column
    tm, gm = _pair(_seq2seq, device)
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        tgt_mask = lib.nn.Transformer.generate_square_subsequent_mask(
            T, **({"dtype": torch.float64} if lib is torch else {"device": device, "dtype": "float64"}))
        opt = lib.optim.Adam(model.parameters(), lr=2e-3)
        args = [_tensor(lib, a, device) for a in (src, tgt_in, src_pad, tgt_pad)] + [tgt_mask]
        target = _tensor(lib, tgt_out.reshape(-1), device)
        losses = []
        for step in range(5):
            if step == 2 and lib is gk:
                gk.save(model, tmp_path / "s2s.safetensors")
                model = _seq2seq(gk).double().to(device)
                model.load_state_dict(gk.load(tmp_path / "s2s.safetensors", device=device))
                state = opt.state_dict()
                opt = gk.optim.Adam(model.parameters(), lr=2e-3)
                opt.load_state_dict(state)
            logits = model(*args)
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, V), target, ignore_index=PAD,
                                                   label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with lib.no_grad():
            final = _np(model(*args))
        results.append((model, losses, final))
    (tm, tl, tf), (gm, gl, gf) = results
    np.testing.assert_allclose(gl, tl, **F64)
    np.testing.assert_allclose(gf, tf, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 4: super-resolution
def _super_resolution(lib):
    nn = lib.nn

    class SR(nn.Module):
        def __init__(self, r=2):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, r * r, 3, padding=1),
                                      nn.PixelShuffle(r))
            self.skip = nn.Upsample(scale_factor=r, mode="bilinear", align_corners=False)

        def forward(self, x):
            return self.body(x) + self.skip(x)

    return SR()


def test_super_resolution_pixel_shuffle_with_bilinear_skip(device):
    rng = _rng(4)
    hi = rng.standard_normal((3, 1, 12, 12))
    lo = hi.reshape(3, 1, 6, 2, 6, 2).mean(axis=(3, 5))
    tm, gm = _pair(_super_resolution, device)
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        opt = lib.optim.Adam(model.parameters(), lr=1e-2)
        x, y = _tensor(lib, lo, device), _tensor(lib, hi, device)
        losses = []
        for _ in range(6):
            loss = lib.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        # the bilinear skip alone, and align_corners=True through F.interpolate
        up = _np(lib.nn.functional.interpolate(x, size=(11, 13), mode="bilinear", align_corners=True))
        results.append((model, losses, up))
    (tm, tl, tu), (gm, gl, gu) = results
    np.testing.assert_allclose(gl, tl, **F64)
    np.testing.assert_allclose(gu, tu, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 5: DCGAN-like pair
NZ = 6


def _generator(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.ConvTranspose2d(NZ, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(True),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
        nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False), nn.Tanh(),
    )


def _discriminator(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(8, 16, 4, 2, 1, bias=False), nn.InstanceNorm2d(16, affine=True), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(16, 1, 4, 1, 0, bias=False), nn.Flatten(),
    )


def test_dcgan_alternating_steps_with_detach_batchnorm_and_instancenorm(device):
    rng = _rng(5)
    steps = 3
    real = np.tanh(rng.standard_normal((4, 1, 16, 16)))
    noise = rng.standard_normal((steps, 4, NZ, 1, 1))
    tg, gg = _pair(_generator, device, seed=0)
    td, gd = _pair(_discriminator, device, seed=1)
    results = []
    for lib, G, D in ((torch, tg, td), (gk, gg, gd)):
        F = lib.nn.functional
        opt_g = lib.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
        opt_d = lib.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
        x = _tensor(lib, real, device)
        ones = _tensor(lib, np.ones((4, 1)), device)
        zeros = _tensor(lib, np.zeros((4, 1)), device)
        losses = []
        for step in range(steps):
            fake = G(_tensor(lib, noise[step], device))
            # discriminator: real up, fake (detached) down
            opt_d.zero_grad()
            loss_d = F.binary_cross_entropy_with_logits(D(x), ones) + \
                F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            # generator: through the updated discriminator
            opt_g.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            loss_g.backward()
            opt_g.step()
            losses.append((loss_d.item(), loss_g.item()))
        G.eval()
        with lib.no_grad():
            sample = _np(G(_tensor(lib, noise[0], device)))
        results.append((G, D, losses, sample))
    (tg, td, tl, ts), (gg, gd, gl, gs) = results
    np.testing.assert_allclose(gl, tl, **F64)
    np.testing.assert_allclose(gs, ts, **F64)
    _same_state(gg, tg)  # BatchNorm's running statistics and num_batches_tracked too
    _same_state(gd, td)


# ------------------------------------------------------------------ 6: GRU + Bilinear attention, LSTM with proj_size
def _recurrent(lib):
    nn, F = lib.nn, lib.nn.functional
    E, H = 5, 8

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(E, H, batch_first=True, bidirectional=True)
            self.score = nn.Bilinear(2 * H, 2 * H, 1)
            self.lstm = nn.LSTM(E, H, num_layers=2, proj_size=3, batch_first=True)
            self.fc = nn.Linear(2 * H + 3, 3)

        def forward(self, x, pad, last):
            out, h = self.gru(x)  # (N, T, 2H), (2, N, H)
            query = lib.cat([h[0], h[1]], dim=-1)  # (N, 2H)
            scores = self.score(out, query.unsqueeze(1).expand(-1, out.shape[1], -1)).squeeze(-1)
            weights = F.softmax(scores.masked_fill(pad, float("-inf")), dim=1)
            context = (weights.unsqueeze(-1) * out).sum(dim=1)
            lstm_out, (hn, cn) = self.lstm(x)  # (N, T, 3)
            final = (lstm_out * last.unsqueeze(-1)).sum(dim=1)  # each sequence's last real step
            return self.fc(lib.cat([context, final], dim=-1))

    return Net()


def test_gru_bilinear_attention_and_lstm_proj_over_padded_sequences(device, tmp_path):
    pytest.importorskip("safetensors")
    rng = _rng(6)
    lengths = [5, 2, 4, 3]
    seqs = [rng.standard_normal((n, 5)) for n in lengths]
    labels = rng.integers(0, 3, len(lengths))
    T = max(lengths)
    pad = np.arange(T)[None, :] >= np.array(lengths)[:, None]
    last = (np.arange(T)[None, :] == np.array(lengths)[:, None] - 1).astype(np.float64)
    tm, gm = _pair(_recurrent, device)
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        opt = lib.optim.RMSprop(model.parameters(), lr=5e-3, momentum=0.5)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        x = lib.nn.utils.rnn.pad_sequence([_tensor(lib, s, device) for s in seqs], batch_first=True)
        args = (x, _tensor(lib, pad, device), _tensor(lib, last, device))
        y = _tensor(lib, labels, device)
        losses = []
        for step in range(5):
            if step == 3 and lib is gk:
                gk.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()},
                        tmp_path / "rnn.safetensors")
                ckpt = gk.load(tmp_path / "rnn.safetensors")
                model = _recurrent(gk).double().to(device)
                model.load_state_dict(ckpt["model"])
                opt = gk.optim.RMSprop(model.parameters(), lr=5e-3, momentum=0.5)
                opt.load_state_dict(ckpt["opt"])
                sched = gk.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
                sched.load_state_dict(ckpt["sched"])
            loss = lib.nn.functional.cross_entropy(model(*args), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        results.append((model, losses))
    (tm, tl), (gm, gl) = results
    np.testing.assert_allclose(gl, tl, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 7: SELU + AlphaDropout MLP, reflection padding
def _selu_net(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.ReflectionPad2d((1, 2, 2, 1)), nn.Conv2d(2, 4, 3), nn.CELU(0.5), nn.LocalResponseNorm(3),
        nn.ZeroPad2d(1), nn.Conv2d(4, 4, 3, stride=2), nn.InstanceNorm2d(4, track_running_stats=True),
        nn.Flatten(), nn.Linear(4 * 5 * 5, 12), nn.SELU(), nn.AlphaDropout(0.2),
        nn.Linear(12, 12), nn.SELU(), nn.AlphaDropout(0.2), nn.Linear(12, 2),
    )


def test_selu_alpha_dropout_mlp_in_eval_mode_with_reflection_padding(device):
    rng = _rng(7)
    images, targets = rng.standard_normal((5, 2, 8, 8)), rng.standard_normal((5, 2))
    tm, gm = _pair(_selu_net, device)
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        model.train()
        x, y = _tensor(lib, images, device), _tensor(lib, targets, device)
        with lib.no_grad():  # one training-mode pass (dropout differs): only InstanceNorm's running stats move
            model[:7](x)
        model.eval()  # AlphaDropout is the identity, InstanceNorm uses the running statistics
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.8)
        losses = []
        for _ in range(5):
            loss = lib.nn.functional.smooth_l1_loss(model(x), y, beta=0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((model, losses))
    (tm, tl), (gm, gl) = results
    np.testing.assert_allclose(gl, tl, **F64)
    _same_state(gm, tm)


# ------------------------------------------------------------------ 8: LSTM language model, truncated BPTT
def _language_model(lib):
    nn = lib.nn
    V_LM, E = 13, 6

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V_LM, E)
            self.lstm = nn.LSTM(E, 8, num_layers=2, proj_size=E)
            self.decoder = nn.Linear(E, V_LM)
            self.decoder.weight = self.embed.weight  # tied weights

        def forward(self, tokens, hidden=None):
            out, hidden = self.lstm(self.embed(tokens), hidden)
            return self.decoder(out), hidden

    return LM()


def test_lstm_language_model_with_tied_weights_and_detached_hidden_state(device):
    rng = _rng(8)
    stream = rng.integers(0, 13, (16, 2))  # (time, batch), cut into windows of 4 steps
    tm, gm = _pair(_language_model, device)
    results = []
    for lib, model in ((torch, tm), (gk, gm)):
        opt = lib.optim.SGD(model.parameters(), lr=0.5)
        hidden, losses = None, []
        for start in range(0, 12, 4):
            x = _tensor(lib, stream[start : start + 4], device)
            y = _tensor(lib, stream[start + 1 : start + 5].reshape(-1), device)
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            logits, hidden = model(x, hidden)
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, 13), y)
            opt.zero_grad()
            loss.backward()
            lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
        assert model.decoder.weight is model.embed.weight
        results.append((model, losses, [_np(h) for h in hidden]))
    (tm, tl, th), (gm, gl, gh) = results
    np.testing.assert_allclose(gl, tl, **F64)
    for a, b in zip(gh, th, strict=True):
        np.testing.assert_allclose(a, b, **F64)
    _same_state(gm, tm)
