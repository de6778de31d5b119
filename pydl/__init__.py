"""pydl: dense feed-forward neural networks on the CPU, trained in compiled code.

The course's material -- logistic regression, shallow and deep networks, cross-entropy,
vectorized forward and backward propagation, initialization, regularization, mini-batch
gradient descent, momentum, RMSprop, Adam, learning-rate decay -- with the hot loops in C
(OpenMP, scipy's BLAS) behind a small NumPy API.
"""
from pydl import blocks, datasets, distributed, search
from pydl._core import openmp_enabled
from pydl._version import __version__
from pydl.config import get_include, product_paths, show_config
from pydl.augmentation import Augmentation
from pydl.checkpoint import Checkpoint
from pydl.diagnostics import Diagnosis, diagnose, diagnose_network
from pydl.early_stopping import EarlyStopping
from pydl.gradcheck import GradientCheck, gradient_check
from pydl.history import History
from pydl.minibatches import random_mini_batches
from pydl.model_file import ModelFileError, load
from pydl.network import Network
from pydl.optimizers import Adam, GradientDescent, Momentum, Optimizer, RMSprop
from pydl.preprocessing import Normalizer, NotFittedError, Split, train_dev_test_split
from pydl.schedules import (Constant, ExponentialDecay, InverseDecay, Schedule, SqrtEpochDecay,
                            SqrtStepDecay, StaircaseDecay, ewa)

__all__ = [
    "Adam", "Augmentation", "Checkpoint", "Constant", "Diagnosis", "EarlyStopping", "ExponentialDecay",
    "GradientCheck", "GradientDescent", "History", "InverseDecay", "ModelFileError", "Momentum", "Network",
    "Normalizer", "NotFittedError", "Optimizer", "RMSprop", "Schedule", "Split", "SqrtEpochDecay",
    "SqrtStepDecay", "StaircaseDecay", "__version__", "datasets", "diagnose", "diagnose_network",
    "blocks", "distributed", "ewa", "get_include", "gradient_check", "load", "openmp_enabled", "product_paths",
    "random_mini_batches", "search", "show_config", "train_dev_test_split",
]
