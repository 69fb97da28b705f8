"""nanoGPT's model and training loop (Karpathy's ``model.py``/``train.py``, written as they are, on a tiny config)
and a "speedrun"-style optimiser split (Muon for the hidden matrices, AdamW for the embeddings, head and gains,
with a checkpoint save/resume mid-run) run on gradkit and checked against numbers computed once with
PyTorch 2.14 (CPU).

Everything is written once against a library namespace ``lib`` (``torch`` or ``gradkit``); the expected numbers
come from running the same functions with ``lib=torch`` (``_adamw_run(torch, "cpu", ...)``, ``_speedrun(torch,
"cpu")`` with PyTorch's Muon patched to run its Newton-Schulz iteration in float32, as in
``tests/optim/test_muon.py``; ``_greedy(torch, "cpu")``). Nothing here imports torch. The models start from
weights drawn with NumPy (``_set_weights``) and run in float64 on fixed batches. The port changes nanoGPT's code
only where gradkit follows NumPy on purpose (docs/API.md): ``x.shape`` for ``x.size()`` (``.size`` is NumPy's
element count), ``swapaxes`` for PyTorch's two-axis ``transpose`` (gradkit's is NumPy's permutation) and
``int64`` for ``torch.long``. Sampling (``multinomial``) and dropout draw from different generators, so those
paths are checked by what must hold whatever the draw.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np
import pytest
from _reference import to_numpy as _np

import gradkit as gk

TOL = {"rtol": 1e-9, "atol": 1e-11}


def _is_gk(lib) -> bool:
    return lib is gk


def _t(lib, a, device: str):
    return lib.tensor(a, device=device) if _is_gk(lib) else lib.tensor(a)


@dataclass
class GPTConfig:
    block_size: int = 8
    vocab_size: int = 11
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 8
    dropout: float = 0.0
    bias: bool = True
    tied: bool = True  # nanoGPT ties lm_head to wte; the speedrun unties them
    flash: bool = True  # F.scaled_dot_product_attention, or the masked softmax with the "bias" buffer
    own_ln: bool = True  # nanoGPT's LayerNorm(ndim, bias) class, or nn.LayerNorm(ndim, bias=...)


def _build(lib, config: GPTConfig):  # noqa: C901 - nanoGPT's model.py, as written
    torch = lib
    nn = lib.nn
    F = lib.nn.functional

    class LayerNorm(nn.Module):
        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, input):  # noqa: A002
            return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)

    def make_ln(ndim, bias):
        return LayerNorm(ndim, bias) if config.own_ln else nn.LayerNorm(ndim, bias=bias)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout
            self.flash = hasattr(torch.nn.functional, "scaled_dot_product_attention") and config.flash
            if not self.flash:
                self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                     .view(1, 1, config.block_size, config.block_size))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).swapaxes(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).swapaxes(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).swapaxes(1, 2)
            if self.flash:
                y = torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
            else:
                att = (q @ k.swapaxes(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                att = self.attn_dropout(att)
                y = att @ v
            y = y.swapaxes(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU(approximate="tanh")
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.ln_1 = make_ln(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config)
            self.ln_2 = make_ln(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=make_ln(config.n_embd, bias=config.bias),
            ))
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            if config.tied:
                self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        def get_num_params(self, non_embedding=True):
            n_params = sum(p.numel() for p in self.parameters())
            if non_embedding:
                n_params -= self.transformer.wpe.weight.numel()
            return n_params

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            device = idx.device
            b, t = idx.shape
            assert t <= self.config.block_size
            pos = torch.arange(0, t, dtype=torch.int64, device=device)
            x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is not None:
                logits = self.lm_head(x)
                loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)
            else:
                logits = self.lm_head(x[:, [-1], :])
                loss = None
            return logits, loss

        def crop_block_size(self, block_size):
            assert block_size <= self.config.block_size
            self.config.block_size = block_size
            self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])
            for block in self.transformer.h:
                if hasattr(block.attn, "bias"):
                    block.attn.bias = block.attn.bias[:, :, :block_size, :block_size]

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            param_dict = {pn: p for pn, p in self.named_parameters()}
            param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            self.counts = [len(decay_params), sum(p.numel() for p in decay_params),
                           len(nodecay_params), sum(p.numel() for p in nodecay_params)]
            fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
            use_fused = fused_available and device_type == "cuda"
            extra_args = dict(fused=True) if use_fused else dict()
            return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
            for _ in range(max_new_tokens):
                idx_cond = idx if idx.shape[1] <= self.config.block_size else idx[:, -self.config.block_size:]
                logits, _ = self(idx_cond)
                logits = logits[:, -1, :] / temperature
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.shape[-1]))
                    logits[logits < v[:, [-1]]] = -float("Inf")
                probs = F.softmax(logits, dim=-1)
                idx_next = torch.multinomial(probs, num_samples=1)
                idx = torch.cat((idx, idx_next), dim=1)
            return idx

    return GPT(config)


def _set_weights(lib, model, device: str, seed: int):
    """The model in float64, every parameter drawn with NumPy (tied ones once), buffers kept."""
    rng = np.random.default_rng(seed)
    drawn = {}
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if name.endswith("c_proj.weight"):
            drawn[id(p)] = rng.normal(0, 0.2 / math.sqrt(2 * model.config.n_layer), shape)
        elif p.dim() >= 2:
            drawn[id(p)] = rng.normal(0, 0.2, shape)
        elif "ln" in name and name.endswith("weight"):
            drawn[id(p)] = 1 + 0.1 * rng.normal(size=shape)
        else:
            drawn[id(p)] = 0.05 * rng.normal(size=shape)
    state = {}
    for name, value in model.state_dict().items():
        owner, _, attr = name.rpartition(".")
        p = getattr(model.get_submodule(owner) if owner else model, attr)
        state[name] = drawn[id(p)] if id(p) in drawn else _np(value).astype(np.float64)
    model = model.double()
    if _is_gk(lib):
        model.load_state_dict(state)
        return model.to(device)
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return model


def _fingerprint(model) -> list[float]:
    rng = np.random.default_rng(12345)
    dot = sq = 0.0
    for _, p in model.named_parameters():
        a = _np(p).astype(np.float64)
        dot += float((a * rng.standard_normal(a.shape)).sum())
        sq += float((a * a).sum())
    return [dot, sq]


def _text(n: int = 400, vocab: int = 11) -> np.ndarray:
    """A token stream to learn: mostly ``t -> 3 t + 1 (mod vocab)``, a fifth of the tokens random."""
    rng = np.random.default_rng(5)
    d = np.zeros(n, np.int64)
    for i in range(1, n):
        d[i] = (d[i - 1] * 3 + 1) % vocab if rng.random() < 0.8 else rng.integers(vocab)
    return d


def _batches(data: np.ndarray, block: int, batch: int, count: int, seed: int) -> list:
    """nanoGPT's get_batch, its offsets drawn with NumPy."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ix = rng.integers(0, len(data) - block, batch)
        out.append((np.stack([data[i:i + block] for i in ix]), np.stack([data[i + 1:i + 1 + block] for i in ix])))
    return out


def _check(result: dict, expected: dict, **tol) -> None:
    assert set(result) == set(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(np.asarray(result[key], dtype=np.float64), np.asarray(want, dtype=np.float64),
                                   **(tol or TOL), err_msg=key)


# ------------------------------------------------------------------ nanoGPT's train.py
def _adamw_run(lib, device: str, flash: bool = True, own_ln: bool = True) -> dict:
    """train.py: AdamW with decay / no-decay groups, warmup + cosine LR set on param_groups each iteration,
    gradient accumulation, clip_grad_norm_, estimate_loss (no_grad, eval) with ignore_index=-1 targets."""
    torch = lib
    cfg = GPTConfig(flash=flash, own_ln=own_ln)
    model = _set_weights(lib, _build(lib, cfg), device, seed=1)
    learning_rate, min_lr, warmup_iters, lr_decay_iters, iters, grad_accum = 6e-3, 6e-4, 2, 5, 6, 2

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    optimizer = model.configure_optimizers(0.1, learning_rate, (0.9, 0.95), "cpu" if device == "cpu" else "cuda")
    data = _text()
    train = _batches(data, cfg.block_size, 3, iters * grad_accum + 1, seed=2)
    val = _batches(data, cfg.block_size, 3, 3, seed=3)

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        losses = torch.zeros(len(val), dtype=torch.float64) if not _is_gk(lib) else \
            torch.zeros(len(val), dtype=torch.float64, device=device)
        for k, (x, y) in enumerate(val):
            y = y.copy()
            y[0, :2] = -1  # ignored targets
            _, loss = model(_t(lib, x, device), _t(lib, y, device))
            losses[k] = loss.item()
        model.train()
        return float(losses.mean())

    out = {"losses": [], "norms": [], "eval": []}
    b = 0
    X, Y = (_t(lib, a, device) for a in train[b])
    for it in range(iters):
        lr = get_lr(it)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        if it % 3 == 0:
            out["eval"].append(estimate_loss())
        for _ in range(grad_accum):
            _, loss = model(X, Y)
            loss = loss / grad_accum
            b += 1
            X, Y = (_t(lib, a, device) for a in train[b])  # prefetch the next batch, as train.py
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        out["losses"].append(loss.item() * grad_accum)
        out["norms"].append(float(norm))
    out["params"] = _fingerprint(model)
    out["counts"] = model.counts + [model.get_num_params(), model.get_num_params(False)]
    return out


def _greedy(lib, device: str) -> dict:
    """generate() with top_k=1 (the argmax whatever the generator), past block_size, then after crop_block_size."""
    model = _set_weights(lib, _build(lib, GPTConfig()), device, seed=6)
    model.eval()
    idx = _t(lib, np.array([[1, 2, 3], [4, 0, 7]]), device)
    first = model.generate(idx, 7, temperature=0.7, top_k=1)
    model.crop_block_size(4)
    second = model.generate(idx, 4, top_k=1)
    logits, loss = model(idx)
    return {"first": _np(first).ravel(), "second": _np(second).ravel(), "logits": _np(logits).ravel(),
            "loss": [loss is None]}


# ------------------------------------------------------------------ the speedrun's Muon + AdamW split
def _speedrun_make(lib, device: str):
    model = _set_weights(lib, _build(lib, GPTConfig(tied=False, bias=False)), device, seed=4)
    hidden = [p for n, p in model.transformer.h.named_parameters() if p.ndim >= 2]
    embed = [model.transformer.wte.weight, model.transformer.wpe.weight]
    scalars = [p for p in model.parameters() if p.ndim < 2]
    head = [model.lm_head.weight]
    adam = lib.optim.AdamW([dict(params=head, lr=0.008), dict(params=embed, lr=0.06), dict(params=scalars, lr=0.004)],
                           betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0)
    muon = lib.optim.Muon(hidden, lr=0.05, momentum=0.95, weight_decay=0.01, adjust_lr_fn="match_rms_adamw")
    optimizers = [adam, muon]
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return model, optimizers


def _speedrun(lib, device: str, stop_at: int | None = None, resume: str | None = None, path=None) -> dict:
    """Eight steps: LR held then cooled down (``initial_lr`` kept in the groups), Muon's momentum warmed up; with
    ``stop_at`` a checkpoint (model and both optimisers' state dicts) is saved there and the run stops, with
    ``resume`` a fresh model and optimisers load it and run on."""
    steps = 8
    model, optimizers = _speedrun_make(lib, device)
    start = 0
    if resume is not None:
        ck = lib.load(path)
        model.load_state_dict(ck["model"])
        for opt, state in zip(optimizers, ck["optimizers"], strict=True):
            opt.load_state_dict(state)
        start = ck["step"]
    train = _batches(_text(), model.config.block_size, 4, steps, seed=7)

    def get_lr(step):
        x = step / steps
        return 1.0 if x < 0.5 else (1 - x) / 0.5

    losses = []
    for step in range(start, steps):
        if step == stop_at:
            lib.save(dict(step=step, model=model.state_dict(), optimizers=[o.state_dict() for o in optimizers]), path)
            break
        x, y = train[step]
        _, loss = model(_t(lib, x, device), _t(lib, y, device))
        loss.backward()
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * get_lr(step)
        for group in optimizers[1].param_groups:
            frac = min(step / 5, 1)
            group["momentum"] = (1 - frac) * 0.85 + frac * 0.95
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return {"losses": losses, "params": _fingerprint(model)}


ADAMW_FLASH = {'losses': [2.5398814702242003, 2.439620909610769, 2.3674560600832137, 2.3501971874966263,
                          2.320747316097774, 2.322519408458333],
               'norms': [1.6024092027819565, 1.6849524223320276, 1.1553687774831445, 1.1376372607610312,
                         1.1325881128899993, 1.27937404671071],
               'eval': [2.5232565770491373, 2.3227398035454763],
               'params': [-9.606417953597768, 91.51855202156807],
               'counts': [10, 1688, 18, 224, 1848, 1912]}
ADAMW_MASKED = {'losses': [2.5398814702242003, 2.439620909610769, 2.3674560600832137, 2.3501971874966263,
                           2.3207473160977736, 2.322519408458333],
                'norms': [1.6024092027819565, 1.6849524223320278, 1.1553687774831447, 1.1376372607610314,
                          1.1325881128899993, 1.2793740467107104],
                'eval': [2.523256577049137, 2.3227398035454763],
                'params': [-9.60641795359909, 91.51855202156818],
                'counts': [10, 1688, 18, 224, 1848, 1912]}
GREEDY = {'first': [1, 2, 3, 3, 3, 3, 3, 3, 6, 6, 4, 0, 7, 0, 0, 0, 0, 0, 0, 0],
          'second': [1, 2, 3, 3, 3, 3, 3, 4, 0, 7, 0, 0, 0, 0],
          'logits': [-0.0304058410170977, -0.13122918426954866, -1.211188141684635, 1.038066404273993,
                     -0.47589355202440903, 0.31513173298441544, 0.3996794711581766, -0.06589424729199475,
                     -0.13286434709148962, -0.11828733868729935, 0.4107483570324551, 1.4717475550439998,
                     0.5757863562797618, -0.358192672628201, 0.15184186752268647, -0.5836545005608288,
                     1.0657580301580827, -0.6437198376612098, 0.4411204549595107, 0.4751624498445272,
                     0.4511918178523931,
                     0.1796479752257953],
          'loss': [True]}
SPEEDRUN = {'losses': [2.405106938146105, 2.352811461468988, 2.3881410131255403, 2.0049643843664593, 2.02391672556258,
                       1.8209350271142581, 1.948880666405894, 1.8599845039893699],
            'params': [-9.471010864999421, 99.1043786591217]}
GELU = {'y': [-8.43964897967453e-11, -2.2917961972623857e-07, -7.024594819227126e-05, -0.0036373920817729943,
              -0.04540230591222494, -0.15880800939172324, 0.0, 0.8411919906082768, 1.954597694087775, 2.996362607918227,
              3.9999297540518075, 4.999999770820381, 5.9999999999156035],
        'g': [1.3013898238009846e-19, 7.087893047193933e-13, 4.708209348614689e-08, 8.427231195485589e-05,
              0.007818209576081354, 0.02635072201311349, 0.0, 1.821961426895005, 4.245774205093942, 6.062145943310316,
              8.002540446598498, 10.000015005259932, 12.000000009083179],
        'h': [2.340759611448414e-18, 9.335872086835503e-12, 4.317085520452087e-07, 0.0004994886948454901,
              0.024621718742768535, -0.06314406818245169, 0.5, 2.7530086631682247, 1.937518425432928,
              1.8562302019022743,
              1.9895484471869138, 1.999906844135039, 1.999999921193025]}


@pytest.mark.parametrize("variant", ["flash", "masked"])
def test_nanogpt_training_loop_matches_pytorch(device, variant):
    """sdpa(is_causal) with nanoGPT's LayerNorm class, or the masked softmax over the registered tril buffer with
    nn.LayerNorm(bias=...): losses, clipped norms, estimate_loss, parameters and the optimizer groups' sizes."""
    if variant == "flash":
        _check(_adamw_run(gk, device), ADAMW_FLASH)
    else:
        _check(_adamw_run(gk, device, flash=False, own_ln=False), ADAMW_MASKED)


def test_nanogpt_generate_greedy_and_crop_block_size_match_pytorch(device):
    _check(_greedy(gk, device), GREEDY)


def test_nanogpt_top_k_sampling_is_seeded_and_stays_in_the_top_k(device):
    """multinomial draws from gradkit's generator: the same seed gives the same tokens, each one among the
    top_k logits of its step, and the result is int64 of shape (batch, prompt + new)."""
    model = _set_weights(gk, _build(gk, GPTConfig()), device, seed=6)
    model.eval()
    idx = gk.tensor(np.array([[1, 2, 3], [4, 0, 7]]), device=device)
    gk.manual_seed(0)
    a = model.generate(idx, 9, temperature=0.8, top_k=3)
    gk.manual_seed(0)
    b = model.generate(idx, 9, temperature=0.8, top_k=3)
    assert a.shape == (2, 12) and a.dtype == gk.int64 and a.device == idx.device
    np.testing.assert_array_equal(_np(a), _np(b))
    seq = _np(a)
    with gk.no_grad():
        for t in range(3, 12):
            cond = seq[:, max(0, t - 8):t]
            logits, _ = model(gk.tensor(cond, device=device))
            top = np.argsort(-_np(logits)[:, -1], axis=-1)[:, :3]
            assert all(seq[i, t] in top[i] for i in range(2))


def test_nanogpt_init_apply_named_parameters_and_weight_tying(device):
    """apply(_init_weights) + the scaled c_proj init on gradkit's generator: the draws' spreads, zero biases,
    the tie kept (one parameter under two names, listed once), dropout only in training mode."""
    gk.manual_seed(1337)
    cfg = GPTConfig(n_embd=64, n_layer=3, n_head=4, vocab_size=50, block_size=16, dropout=0.2)
    model = _build(gk, cfg).to(device)
    sd = {k: _np(v) for k, v in model.state_dict().items()}
    assert model.lm_head.weight is model.transformer.wte.weight
    assert "lm_head.weight" in sd and "transformer.wte.weight" in sd
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and len(names) == len(set(id(p) for p in model.parameters()))
    proj = np.concatenate([v.ravel() for k, v in sd.items() if k.endswith("c_proj.weight")])
    other = np.concatenate([v.ravel() for k, v in sd.items() if k.endswith(("c_attn.weight", "c_fc.weight"))])
    assert abs(proj.std() / (0.02 / math.sqrt(6)) - 1) < 0.05 and abs(other.std() / 0.02 - 1) < 0.05
    assert all(not v.any() for k, v in sd.items() if k.endswith(".bias") and "ln" not in k)
    assert model.get_num_params() == sum(v.size for k, v in sd.items() if k != "lm_head.weight") - 16 * 64
    model = model.double()
    idx = gk.tensor(np.array([[1, 2, 3, 4]]), device=device)
    model.train()
    assert not np.array_equal(_np(model(idx)[0]), _np(model(idx)[0]))
    model.eval()
    np.testing.assert_array_equal(_np(model(idx)[0]), _np(model(idx)[0]))


def test_speedrun_muon_and_adamw_split_matches_pytorch(device):
    """PyTorch's Muon with its Newton-Schulz iteration run in float32 (gradkit's precision): the float64
    parameters agree to float32's rounding of the orthogonalised updates."""
    _check(_speedrun(gk, device), SPEEDRUN, rtol=2e-6, atol=1e-8)


def test_speedrun_resumed_from_a_checkpoint_equals_the_uninterrupted_run(device, tmp_path):
    """gk.save of the model's and both optimisers' state dicts mid-run (momentum buffers, Adam moments, the
    groups' own ``initial_lr`` and changed ``momentum``), gk.load into fresh ones: the same run, bit for bit."""
    path = tmp_path / "ckpt.gk"
    full = _speedrun(gk, device)
    first = _speedrun(gk, device, stop_at=5, path=path)
    second = _speedrun(gk, device, resume="yes", path=path)
    assert first["losses"] + second["losses"] == full["losses"]
    assert second["params"] == full["params"]


def test_tanh_gelu_is_one_node_matching_pytorch_with_its_second_derivative(device):
    """GELU(approximate="tanh"), one node with a fused backward (it was eight ops, 4x PyTorch's time in this
    program): values, gradients and second derivatives as PyTorch's; float32 stays float32."""
    x = gk.tensor(np.linspace(-6, 6, 13), device=device, requires_grad=True)
    y = gk.nn.GELU(approximate="tanh")(x)
    (g,) = gk.autograd.grad((y * y).sum(), x, create_graph=True)
    (h,) = gk.autograd.grad(g.sum(), x)
    _check({"y": _np(y), "g": _np(g), "h": _np(h)}, GELU, rtol=1e-12, atol=1e-15)
    x32 = gk.tensor(np.linspace(-6, 6, 13, dtype=np.float32), device=device, requires_grad=True)
    y32 = gk.nn.functional.gelu(x32, approximate="tanh")
    y32.sum().backward()
    assert y32.dtype == np.float32 and x32.grad.dtype == np.float32
    np.testing.assert_allclose(_np(y32), GELU["y"], rtol=1e-6, atol=1e-6)
