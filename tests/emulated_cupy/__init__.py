"""Run the ``cuda`` half of the test suite on a machine without a GPU, with CuPy emulated by NumPy.

``GRADKIT_TEST_EMULATED_CUPY=1 python -m pytest`` (add ``GRADKIT_BACKEND=cupy`` to make CuPy the
default device, as ``ci/gpu-check`` does) installs an import hook: from then on ``import cupy``
gives the emulation in ``core.py``, in the test process and, through ``site/sitecustomize.py`` on
``PYTHONPATH``, in the Python subprocesses that tests start. The ``device="cuda"`` parameter of
every device test then runs against it, with the CPU as the default device (tests/conftest.py), so
that anything made on the default device instead of the inputs' fails; tests that need real CUDA
(kernels, graphs, cuBLAS) stay skipped, and gradkit's fused kernels take their reference path.

This finds host/device mix-ups (a NumPy array where a CuPy array must be, ``numpy.asarray`` of a
device array, NumPy scalars where CuPy gives 0-d arrays, methods or keywords CuPy lacks, writes
through broadcast views, which CuPy does not refuse). It does not stand in for a GPU run: numbers,
kernels, streams and memory are NumPy's.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

ENV_VAR = "GRADKIT_TEST_EMULATED_CUPY"
SKIP_REASON = "needs a real CUDA GPU (this run emulates CuPy with NumPy)"
SITE = Path(__file__).resolve().parent / "site"


def enabled() -> bool:
    return os.environ.get(ENV_VAR) == "1"


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.modules: dict[str, Any] | None = None

    def _table(self) -> dict[str, Any]:
        if self.modules is None:
            from emulated_cupy import core

            cp, cupyx = core.MODULE, core.CUPYX
            self.modules = {
                "cupy": cp, "cupy.cuda": cp.cuda, "cupy.cuda.runtime": cp.cuda.runtime, "cupy.random": cp.random,
                "cupy.linalg": cp.linalg, "cupyx": cupyx, "cupyx.scipy": cupyx.scipy,
                "cupyx.scipy.special": cupyx.scipy.special, "cupy._core": cp._core,
                "cupy._core._routines_linalg": cp._core._routines_linalg,
            }
            for module in self.modules.values():
                module.__path__ = []  # packages, so that submodule imports reach this finder
        return self.modules

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name.split(".")[0] not in ("cupy", "cupyx", "cupy_backends"):
            return None
        if name not in self._table():
            raise ModuleNotFoundError(f"No module named {name!r} (emulated CuPy)", name=name)
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec: Any) -> Any:
        return self._table()[spec.name]

    def exec_module(self, module: Any) -> None:
        return None


def install() -> None:
    """From now on, ``import cupy``/``cupyx`` gives the emulation (in this process and its Python children)."""
    if "cupy" in sys.modules and not getattr(sys.modules["cupy"], "EMULATED", False):
        raise RuntimeError("the real CuPy is already imported; install the emulation first")
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    import gradkit.kernels

    gradkit.kernels._gpu_module = False  # CUDA kernels cannot run here: the reference path does (it imports no CuPy)
    paths = [str(SITE), str(SITE.parent.parent)]
    current = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([current] if current else []))
