"""docs/API.md names every public function, class and method (the contract and what was added to it).

The contract lives outside the repository (shared/API.md); docs/API.md is that page with every
addition written in, so a name exported without being documented fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import gradkit as gk
import gradkit.nn.functional as F

DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"


def _public(obj: object, defined_in: tuple[str, ...] | None = None) -> list[str]:
    """Public names of a module (its ``__all__`` when it has one) or a class, without submodules."""
    names = getattr(obj, "__all__", None) if inspect.ismodule(obj) else None
    if names is None:
        names = [n for n in dir(obj) if not n.startswith("_")]
    out = []
    for name in names:
        value = getattr(obj, name)
        if inspect.ismodule(value):
            continue
        if defined_in and getattr(value, "__module__", None) not in defined_in:
            continue  # a module's own imports (typing helpers, error classes) are not its API
        out.append(name)
    return out


NAMESPACES = {
    "gk": (gk, None),
    "gk.Tensor": (gk.Tensor, None),
    "gk.nn": (gk.nn, None),
    "gk.nn.Module": (gk.nn.Module, None),
    "gk.nn.functional": (F, ("gradkit.nn.functional", "gradkit.nn.activation", "gradkit.nn.attention",
                                   "gradkit.nn.bilinear", "gradkit.nn.dropout", "gradkit.nn.normalization",
                                   "gradkit.nn.resample", "gradkit.nn.sampling", "gradkit.nn.loss_extra",
                                   "gradkit.nn.embedding_bag", "gradkit.nn.functional_extra", "gradkit.ops.conv")),
    "gk.nn.init": (gk.nn.init, ("gradkit.nn.init",)),
    "gk.nn.utils": (gk.nn.utils, ("gradkit.nn.utils",)),
    "gk.nn.utils.rnn": (gk.nn.utils.rnn, ("gradkit.nn.utils_rnn",)),
    "gk.nn.utils.parametrize": (gk.nn.utils.parametrize, ("gradkit.nn.parametrize",)),
    "gk.nn.utils.parametrizations": (gk.nn.utils.parametrizations, ("gradkit.nn.parametrizations",)),
    "gk.optim": (gk.optim, None),
    "gk.optim.lr_scheduler": (gk.optim.lr_scheduler, ("gradkit.optim.lr_scheduler",)),
    "gk.optim.swa_utils": (gk.optim.swa_utils, ("gradkit.optim.swa_utils",)),
    "gk.data": (gk.data, None),
    "gk.cuda": (gk.cuda, None),
    "gk.linalg": (gk.linalg, None),
    "gk.special": (gk.special, None),
    "gk.distributions": (gk.distributions, None),
    "gk.autograd": (gk.autograd, None),
    "gk.autograd.functional": (gk.autograd.functional, ("gradkit.autograd.functional",)),
    "gk.func": (gk.func, ("gradkit.func",)),
}


@pytest.mark.parametrize("namespace", list(NAMESPACES))
def test_every_public_name_is_documented(namespace):
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", DOC.read_text(encoding="utf-8")))
    obj, defined_in = NAMESPACES[namespace]
    missing = [n for n in _public(obj, defined_in) if n not in words]
    assert not missing, f"{namespace}: not in docs/API.md: {missing}"
