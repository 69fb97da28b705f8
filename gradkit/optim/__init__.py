"""Optimisers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``) and ``lr_scheduler``, with PyTorch's update rules."""

from gradkit.optim import lr_scheduler
from gradkit.optim.adam import Adam, AdamW
from gradkit.optim.optimizer import Optimizer
from gradkit.optim.rmsprop import RMSprop
from gradkit.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
