"""Saving and loading: safetensors checkpoints (``gk.save``, ``gk.load``)."""

from gradkit.io.checkpoint import load, save
from gradkit.io.optional import MissingDependencyError

__all__ = ["MissingDependencyError", "load", "save"]
