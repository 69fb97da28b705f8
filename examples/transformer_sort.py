"""A small decoder-only Transformer learns to sort digits: "3 1 4 1 5 9 |" -> "1 1 3 4 5 9".

Each training sequence is a list of random digits, a separator, then the same digits sorted, made fresh for every
batch. A causal Transformer (like a tiny GPT: token and learned position embeddings, two
nn.TransformerEncoderLayer blocks under the mask of nn.Transformer.generate_square_subsequent_mask) learns to
predict each next token; only the sorted half is scored. AdamW with a linear warm-up then cosine decay, and
gradient clipping. To test it, the model writes the answer itself, one greedy token at a time, and an answer
counts only if every digit is right. The trivial baseline returns the digits unchanged (right only when they
were already sorted).

    python examples/transformer_sort.py [--length 6] [--steps 300] [--lr 5e-3] [--threads 1] [--device cpu|cuda]

About 5 seconds on a 2-core CPU: ~99% of 1000 new lists sorted exactly (98.9% with the seed used), against
0.5% for the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time

import numpy as np

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk

from gradkit import nn
from gradkit.nn import functional as F

SEP = 10    # the separator token; tokens 0..9 are the digits
VOCAB = 11


def sorting_task(n: int, length: int, rng: np.random.Generator, device: str | None = None) -> gk.Tensor:
    """``n`` token sequences (n, 2 * length + 1): ``length`` random digits, SEP, the same digits sorted."""
    digits = rng.integers(0, 10, (n, length))
    seq = np.concatenate([digits, np.full((n, 1), SEP), np.sort(digits, axis=1)], axis=1)
    return gk.tensor(seq, dtype=gk.int64, device=device)


class TinyGPT(nn.Module):
    """Token + position embeddings, causal self-attention blocks, a final LayerNorm and a Linear to the logits."""

    def __init__(self, max_len: int, d_model: int = 32, nhead: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(max_len, d_model)   # learned: one vector per position
        # Pre-norm blocks (norm_first) train more easily; no dropout: every batch is new, nothing to overfit.
        block = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, VOCAB)

    def forward(self, tokens: gk.Tensor) -> gk.Tensor:
        """(N, T) tokens -> (N, T, VOCAB) logits; position t sees tokens 0..t only."""
        T = tokens.shape[1]
        x = self.tok(tokens) + self.pos(gk.arange(T, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=tokens.device)  # -inf above the diagonal
        return self.head(self.blocks(x, mask=mask, is_causal=True))


def sort_greedy(model: TinyGPT, digits: gk.Tensor) -> gk.Tensor:
    """The model's answer for (N, length) digits: append SEP, then its most likely next token, ``length`` times."""
    model.eval()
    seq = gk.cat([digits, gk.full((digits.shape[0], 1), SEP, dtype=gk.int64, device=digits.device)], 1)
    with gk.no_grad():
        for _ in range(digits.shape[1]):
            next_token = model(seq)[:, -1].argmax(-1)   # only the last position's prediction is new
            seq = gk.cat([seq, next_token.reshape(-1, 1)], 1)
    return seq[:, digits.shape[1] + 1:]


def train(length: int = 6, steps: int = 300, batch_size: int = 64, lr: float = 5e-3, warmup: int = 30,
          device: str | None = None, seed: int = 0) -> tuple[list[float], float, float]:
    """Train on fresh batches; returns the training loss every 50 steps (and the last), and the fraction of 1000
    new lists sorted exactly by the model and by the baseline (the digits unchanged)."""
    gk.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TinyGPT(max_len=2 * length)  # the longest input: the digits, SEP and all but the last answer
    model = model.to(device) if device else model
    opt = gk.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedules = gk.optim.lr_scheduler   # warm up linearly from lr / 100 for ``warmup`` steps, then cosine decay
    sched = schedules.SequentialLR(opt, [schedules.LinearLR(opt, start_factor=0.01, total_iters=warmup),
                                         schedules.CosineAnnealingLR(opt, T_max=max(steps - warmup, 1))],
                                   milestones=[warmup])
    losses = []
    for step in range(steps):
        seq = sorting_task(batch_size, length, rng, device)
        logits = model(seq[:, :-1])    # predict token t + 1 from tokens 0..t
        # Score only the answer: the predictions made at SEP and after it, against the sorted digits.
        loss = F.cross_entropy(logits[:, length:].reshape(-1, VOCAB), seq[:, length + 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            losses.append(loss.item())
            print(f"step {step:4d}: training loss {losses[-1]:.4f}")
    test = sorting_task(1000, length, rng, device)
    digits, answer = test[:, :length], test[:, length + 1:]
    guess = sort_greedy(model, digits)
    accuracy = (guess == answer).all(axis=1).float().mean().item()
    baseline = (digits == answer).all(axis=1).float().mean().item()
    for row in range(3):  # a few of the model's answers
        print("  " + " ".join(map(str, digits[row].tolist())) + " -> " + " ".join(map(str, guess[row].tolist())))
    return losses, accuracy, baseline


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=6, help="digits per list (at least 2)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: the matrices are small, and more threads only wait on each "
                        "other, above all on a busy CPU; 0 keeps the BLAS default); needs threadpoolctl")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    if args.length < 2 or args.steps < 1:
        parser.error("--length must be at least 2 and --steps at least 1")
    limit = contextlib.nullcontext()
    if args.threads > 0 and importlib.util.find_spec("threadpoolctl") is not None:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(limits=args.threads, user_api="blas")
    start = time.perf_counter()
    with limit:
        _, accuracy, baseline = train(args.length, args.steps, lr=args.lr, device=args.device)
    print(f"sorted exactly: {100 * accuracy:.1f}% of 1000 new lists; digits unchanged: {100 * baseline:.1f}% "
          f"({time.perf_counter() - start:.1f} s)")
    return accuracy, baseline


if __name__ == "__main__":
    main()
