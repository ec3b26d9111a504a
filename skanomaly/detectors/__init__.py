"""The detectors, one subpackage each: the estimator and its PyTorch module."""

from .conv_autoencoder import ConvAutoEncoder
from .self_supervised_ae import SelfSupervisedAE

__all__ = ["ConvAutoEncoder", "SelfSupervisedAE"]
