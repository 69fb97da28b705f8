"""Optional dependencies (safetensors, scikit-learn, tqdm, matplotlib), imported only when used."""

from __future__ import annotations

import importlib
from types import ModuleType

from gradkit.errors import GradkitError


class MissingDependencyError(GradkitError, ImportError):
    """An optional package that a feature needs is not installed."""


def require(module: str, feature: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an error that says which feature needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = package or module
        raise MissingDependencyError(
            f"{feature} needs the optional package {package!r}, which is not installed ({exc}); "
            f"install it with `python -m pip install {package}` (or, from a gradkit checkout, all the "
            "training extras: `python -m pip install \".[train]\"`)"
        ) from None


def available(module: str) -> bool:
    """True when ``module`` imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
