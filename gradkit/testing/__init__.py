"""Tools for testing gradients: ``gradcheck`` compares reverse mode with finite differences."""

from gradkit.testing.gradcheck import gradcheck

__all__ = ["gradcheck"]
