"""PyTorch's ``torch.backends.cuda`` switches: ``gk.backends.cuda.matmul.allow_tf32`` is gradkit's TF32 switch
(``gk.cuda.set_tf32`` / ``gk.cuda.tf32_enabled``), read and written; off by default, as PyTorch's. Imports no
CuPy (setting the switch does where CuPy is installed, as ``gk.cuda.set_tf32``)."""

from __future__ import annotations

from typing import Any

from gradkit.backends.torch_flags import Flag


class _Matmul:
    """``gk.backends.cuda.matmul``: ``allow_tf32`` (float32 matmuls on a GPU may use TF32: gradkit's switch);
    ``allow_fp16_reduced_precision_reduction`` and ``allow_bf16_reduced_precision_reduction`` (True, kept:
    they change nothing in gradkit)."""

    _flags_of = "backends.cuda.matmul"
    allow_fp16_reduced_precision_reduction = Flag(True, "Kept (PyTorch's cuBLAS setting); changes nothing here.")
    allow_bf16_reduced_precision_reduction = Flag(True, "Kept (PyTorch's cuBLAS setting); changes nothing here.")

    @property
    def allow_tf32(self) -> bool:
        """True when float32 matmuls on a GPU may use TF32 tensor cores (``gk.cuda.tf32_enabled()``)."""
        from gradkit.cuda.cublas import tf32_enabled

        return tf32_enabled()

    @allow_tf32.setter
    def allow_tf32(self, value: Any) -> None:
        from gradkit._args import flag
        from gradkit.backends import torch_flags
        from gradkit.cuda.cublas import set_tf32

        set_tf32(flag(value, "backends.cuda.matmul", "allow_tf32"))
        torch_flags._state["precision"] = "high"  # PyTorch: allow_tf32 = True is precision "high"

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or not hasattr(type(self), name):  # a misspelt switch would be set and do nothing
            from gradkit.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"backends.cuda.matmul has no switch {name!r}; gradkit's are allow_tf32, "
                "allow_fp16_reduced_precision_reduction and allow_bf16_reduced_precision_reduction"
            )
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<gk.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = _Matmul()


def is_built() -> bool:
    """True: gradkit runs on CUDA GPUs through CuPy where it is installed (``gk.cuda.is_available()`` says
    whether this machine can)."""
    return True
