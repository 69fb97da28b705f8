"""Optimisers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``NAdam``,
``RAdam``, ``ASGD``, ``Rprop``, ``Adafactor``, ``LBFGS``), ``lr_scheduler`` and ``swa_utils`` (weight averaging,
SWALR, update_bn), with PyTorch's update rules."""

from gradkit.optim import lr_scheduler, swa_utils
from gradkit.optim.adadelta import Adadelta
from gradkit.optim.adafactor import Adafactor
from gradkit.optim.adagrad import Adagrad
from gradkit.optim.adam import Adam, AdamW
from gradkit.optim.adamax import Adamax
from gradkit.optim.asgd import ASGD
from gradkit.optim.lbfgs import LBFGS
from gradkit.optim.muon import Muon
from gradkit.optim.nadam import NAdam
from gradkit.optim.optimizer import Optimizer
from gradkit.optim.radam import RAdam
from gradkit.optim.rmsprop import RMSprop
from gradkit.optim.rprop import Rprop
from gradkit.optim.sgd import SGD

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "LBFGS",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "lr_scheduler",
    "swa_utils",
]
