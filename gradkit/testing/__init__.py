"""Tools for testing: ``gradcheck`` compares reverse mode with finite differences; ``assert_close`` is PyTorch's
``torch.testing.assert_close``."""

from gradkit.testing.compare import assert_close
from gradkit.testing.gradcheck import gradcheck

__all__ = ["assert_close", "gradcheck"]
