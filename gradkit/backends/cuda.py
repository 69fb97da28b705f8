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


# ------------------------------------------------------------------ scaled_dot_product_attention's backends
#: PyTorch's SDPA kernel switches (``enable_flash_sdp`` ...). gradkit has one implementation of
#: ``F.scaled_dot_product_attention`` (matmuls and a softmax, PyTorch's "math" backend) on every device, so they
#: are recorded, read back, and change nothing.
_sdp: dict[str, bool] = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def _sdp_flag(name: str, enabled: Any) -> None:
    from gradkit._args import flag

    _sdp[name] = flag(enabled, f"backends.cuda.enable_{name}_sdp", "enabled")


def enable_flash_sdp(enabled: bool) -> None:
    """Recorded (``flash_sdp_enabled()``); gradkit has no flash-attention kernel, so it changes nothing."""
    _sdp_flag("flash", enabled)


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Recorded (``mem_efficient_sdp_enabled()``); changes nothing in gradkit."""
    _sdp_flag("mem_efficient", enabled)


def enable_math_sdp(enabled: bool) -> None:
    """Recorded (``math_sdp_enabled()``); gradkit's attention is always the math one."""
    _sdp_flag("math", enabled)


def enable_cudnn_sdp(enabled: bool) -> None:
    """Recorded (``cudnn_sdp_enabled()``); gradkit calls no cuDNN."""
    _sdp_flag("cudnn", enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def math_sdp_enabled() -> bool:
    return _sdp["math"]


def cudnn_sdp_enabled() -> bool:
    return _sdp["cudnn"]


class sdp_kernel:  # noqa: N801 - PyTorch's name (a context manager)
    """PyTorch's deprecated ``torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=True,
    enable_mem_efficient=True, enable_cudnn=True)``: sets the switches above for a ``with`` block and puts the
    previous ones back after it (use ``gk.nn.attention.sdpa_kernel``). Changes no result."""

    def __init__(self, enable_flash: bool = True, enable_math: bool = True, enable_mem_efficient: bool = True,
                 enable_cudnn: bool = True) -> None:
        from gradkit._args import flag

        op = "backends.cuda.sdp_kernel"
        self._wanted = {"flash": flag(enable_flash, op, "enable_flash"), "math": flag(enable_math, op, "enable_math"),
                        "mem_efficient": flag(enable_mem_efficient, op, "enable_mem_efficient"),
                        "cudnn": flag(enable_cudnn, op, "enable_cudnn")}
        self._saved: list[dict[str, bool]] = []

    def __enter__(self) -> sdp_kernel:
        self._saved.append(dict(_sdp))
        _sdp.update(self._wanted)
        return self

    def __exit__(self, *exc: object) -> None:
        _sdp.update(self._saved.pop())
