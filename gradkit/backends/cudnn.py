"""PyTorch's ``torch.backends.cudnn`` switches, for scripts that set them (``import gradkit.backends.cudnn as
cudnn; cudnn.benchmark = True``).

``benchmark`` (False), ``deterministic`` (False), ``allow_tf32`` (True, as PyTorch's) and ``enabled`` (True)
hold True or False and change nothing: gradkit calls no cuDNN (its convolutions are matmuls, whose TF32
switch is ``gk.backends.cuda.matmul.allow_tf32``). ``is_available()`` is False and ``version()`` None, as
PyTorch's without cuDNN.
"""

from __future__ import annotations

import sys
import types

from gradkit.backends.torch_flags import Flag


def is_available() -> bool:
    """False: gradkit uses no cuDNN."""
    return False


def version() -> None:
    """None: gradkit uses no cuDNN (PyTorch's value where cuDNN is missing)."""
    return None


class _CudnnModule(types.ModuleType):
    _flags_of = "backends.cudnn"
    enabled = Flag(True, "Kept (PyTorch's switch for cuDNN); gradkit calls no cuDNN, so it changes nothing.")
    benchmark = Flag(False, "Kept (PyTorch's cuDNN autotuning); changes nothing in gradkit.")
    deterministic = Flag(False, "Kept (PyTorch's deterministic cuDNN kernels); changes nothing in gradkit.")
    allow_tf32 = Flag(True, "Kept (PyTorch's TF32 in cuDNN convolutions); changes nothing in gradkit: its "
                      "matmuls' TF32 switch is gk.backends.cuda.matmul.allow_tf32.")


sys.modules[__name__].__class__ = _CudnnModule
