"""Adam and AdamW (PyTorch's rules, with bias correction)."""

from __future__ import annotations

from typing import Any

from gradkit import kernels
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.errors import InvalidArgumentError
from gradkit.optim.optimizer import Optimizer


class Adam(Optimizer):
    """``torch.optim.Adam``'s update; see ``gradkit.kernels.reference.adam_update``.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2), as PyTorch's Adam.

    Its bias corrections depend on the step count, a Python number, so a step
    that calls it cannot be captured by ``gk.cuda.capture`` (every replay would
    repeat the captured step's corrections): the capture raises ``CaptureError``,
    as PyTorch's Adam does without ``capturable=True``.
    """

    _decoupled = False

    _state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        name = type(self).__name__
        self._check("lr", group["lr"], 0)
        self._check("eps", group["eps"], 0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise InvalidArgumentError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        self._check("betas[0]", betas[0], 0, 1, high_open=True)
        self._check("betas[1]", betas[1], 0, 1, high_open=True)
        self._check("weight_decay", group["weight_decay"], 0)

    def _update_group(self, group: dict) -> None:
        if is_capturing():
            raise CaptureError(
                f"{type(self).__name__}.step: its bias corrections depend on the step count, which a CUDA graph "
                "would freeze at its capture-time value (every replay would repeat that step's update); "
                "capture a step that uses SGD or RMSprop, or run this optimiser without gk.cuda.capture"
            )
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        decoupled = self._decoupled
        update = kernels.adam_update
        state = self.state
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            data = p._data
            st = state.get(p)
            if st is None:
                st = state[p] = {"step": 0, "exp_avg": self._zeros(p), "exp_avg_sq": self._zeros(p)}
            step = st["step"] = st["step"] + 1
            update(data, g._data, st["exp_avg"]._data, st["exp_avg_sq"]._data, lr, beta1, beta2, eps, weight_decay,
                   step, decoupled, self._scratch(p))
            p._version[0] += 1


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` first)."""

    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
