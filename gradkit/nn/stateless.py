"""``gk.nn.utils.stateless`` (PyTorch's ``torch.nn.utils.stateless``): ``functional_call``.

PyTorch deprecated this module in 2.0 for ``torch.func.functional_call``, its drop-in replacement; as there,
``functional_call`` here warns with a FutureWarning and calls ``gk.func.functional_call``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["functional_call"]


def functional_call(module: Any, parameters_and_buffers: Any, args: Any = None,
                    kwargs: Mapping[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``gk.func.functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights,
    strict=strict)``: ``module`` called with the given tensors in place of its parameters and buffers (see
    there). Deprecated, as PyTorch's ``torch.nn.utils.stateless.functional_call``: warns with a FutureWarning."""
    from gradkit.func import functional_call as call

    warnings.warn(
        "`gk.nn.utils.stateless.functional_call` is deprecated (as PyTorch's since 2.0); use "
        "`gk.func.functional_call`, which is a drop-in replacement", FutureWarning, stacklevel=2,
    )
    return call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
